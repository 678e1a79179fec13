package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/blueprints/catalog"
	"github.com/plinth-dev/plinth/stacks"
)

// session is one stack opened for one operation.
type session struct {
	opts    Options
	env     *blueprints.Environment
	config  *stacks.StackConfig
	cli     *pulumiCLI
	stack   auto.Stack
	workDir string
	envVars map[string]string
	// fresh is set when the workspace stack config did not exist before.
	fresh bool
	// out is Progress with known secret values masked.
	out *redactor
	// state is the deployment as read at opening (after recovery).
	state *deployment
	// current is the workspace stack config (secrets in clear, never printed).
	current auto.ConfigMap
}

// open reads the stack config and blueprint, checks the passphrase,
// prepares the workspace, clears what an interrupted operation left (a
// stale lock, pending operations), selects the stack (creating it when
// create) and copies the stack config into it.
func open(ctx context.Context, opts Options, create bool) (*session, error) {
	s, err := prepare(ctx, opts, create)
	if err != nil {
		return nil, err
	}
	if err := s.recover(ctx); err != nil {
		return nil, interrupted(ctx, "open", s.opts.Stack, err)
	}
	if err := s.syncConfig(ctx); err != nil {
		return nil, interrupted(ctx, "open", s.opts.Stack, err)
	}
	return s, nil
}

// prepare is open up to selecting the stack: stale locks are cleared, but
// no pending operation, and no config is copied.
func prepare(ctx context.Context, opts Options, create bool) (*session, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &session{opts: o, out: newRedactor(o.Progress)}

	if s.config, err = stacks.ReadStackConfig(o.Root, o.Stack); err != nil {
		return nil, err
	}
	bc, err := s.config.Blueprint(o.Root)
	if err != nil {
		return nil, err
	}
	cat, err := catalog.Default()
	if err != nil {
		return nil, err
	}
	if s.env, err = bc.Load(cat); err != nil {
		return nil, err
	}
	// A Terraform landing zone that cannot be read fails here, with the
	// blueprint position, before the engine starts (the program reads it
	// again when it runs).
	if _, err := stacks.LandingZone(ctx, s.env); err != nil {
		return nil, err
	}
	passphrase, err := s.passphrase()
	if err != nil {
		return nil, err
	}
	if s.opts.PulumiBinary == "" {
		if s.opts.PulumiBinary, err = findPulumi(); err != nil {
			return nil, err
		}
	}
	if s.cli, err = newPulumiCLI(ctx, s.opts.PulumiBinary); err != nil {
		return nil, err
	}
	if dir := localPath(o.Backend); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("backend %s: %w", o.Backend, err)
		}
	}
	s.workDir = WorkspaceDir(o.Root, o.Backend)
	if err := os.MkdirAll(s.workDir, 0o700); err != nil {
		return nil, err
	}
	_, statErr := os.Stat(StackConfigFile(o.Root, o.Backend, o.Stack))
	s.fresh = errors.Is(statErr, os.ErrNotExist)

	// The file backend refuses even to create or select a locked stack:
	// stale locks go first.
	if err := s.clearStaleLocks(); err != nil {
		return nil, err
	}
	s.envVars = workspaceEnv(o.Backend, passphrase)
	maps.Copy(s.envVars, o.env)
	wsOpts := []auto.LocalWorkspaceOption{
		auto.WorkDir(s.workDir),
		auto.Pulumi(s.cli),
		auto.Project(projectSettings(o.Backend)),
		auto.EnvVars(s.envVars),
	}
	if selfManaged(o.Backend) {
		wsOpts = append(wsOpts, auto.SecretsProvider("passphrase"))
	}
	if create {
		s.stack, err = auto.UpsertStackInlineSource(ctx, o.Stack, stacks.Project, o.Program, wsOpts...)
	} else {
		s.stack, err = auto.SelectStackInlineSource(ctx, o.Stack, stacks.Project, o.Program, wsOpts...)
		if err != nil && auto.IsSelectStack404Error(err) {
			return nil, &NotDeployedError{Stack: o.Stack, Backend: o.Backend}
		}
	}
	if err != nil {
		if le := s.lockedError(err); le != nil {
			return nil, le
		}
		return nil, interrupted(ctx, "open", o.Stack, fmt.Errorf("stack %s in %s: %s", o.Stack, o.Backend, cliMessage(err)))
	}
	return s, nil
}

// passphrase resolves the passphrase: Options, then the environment, then
// (dev and staging, when allowed) InsecurePassphrase with a warning.
func (s *session) passphrase() (string, error) {
	if !selfManaged(s.opts.Backend) {
		return "", nil
	}
	if p := s.opts.Passphrase; p != "" {
		return p, nil
	}
	for _, k := range []string{EnvPassphrase, EnvPulumiPassphrase} {
		if p := os.Getenv(k); p != "" {
			return p, nil
		}
	}
	class := s.env.Class()
	if s.opts.AllowInsecurePassphrase && !prodClass(class) {
		s.out.printf("warning: stack %s uses the insecure passphrase %q (--insecure-passphrase): its secrets are encrypted with a key anyone can derive; set %s for real use\n",
			s.opts.Stack, InsecurePassphrase, EnvPassphrase)
		return InsecurePassphrase, nil
	}
	return "", &PassphraseError{Stack: s.opts.Stack, Class: class, Backend: s.opts.Backend}
}

// prodClass: anything but dev and staging is treated as production.
func prodClass(class string) bool {
	return class != blueprints.ClassDev && class != blueprints.ClassStaging
}

// projectSettings is the workspace's Pulumi.yaml: the project and its backend.
func projectSettings(backend string) workspace.Project {
	desc := "Plinth environment (Automation API workspace written by plinth; the project is the repository's Pulumi.yaml)"
	return workspace.Project{
		Name:        tokens.PackageName(stacks.Project),
		Runtime:     workspace.NewProjectRuntimeInfo("go", nil),
		Description: &desc,
		Backend:     &workspace.ProjectBackend{URL: backend},
	}
}

// workspaceEnv is the environment of every CLI run of the workspace. An
// ambient PULUMI_BACKEND_URL must not win over Options.Backend.
func workspaceEnv(backend, passphrase string) map[string]string {
	env := map[string]string{
		"PULUMI_BACKEND_URL":       backend,
		"PULUMI_SKIP_UPDATE_CHECK": "true",
	}
	if passphrase != "" {
		env[EnvPulumiPassphrase] = passphrase
	}
	if selfManaged(backend) {
		env[EnvStateLocking] = "1" // see lock.go
	}
	// Plinth owns the fields it sets: repairing drift takes them back from
	// whoever changed them (kubectl scale, edit) instead of failing on a
	// Server-Side Apply conflict.
	if _, ok := os.LookupEnv("PULUMI_K8S_ENABLE_PATCH_FORCE"); !ok {
		env["PULUMI_K8S_ENABLE_PATCH_FORCE"] = "true"
	}
	return env
}

// envList is envVars as KEY=VALUE, for direct CLI runs.
func (s *session) envList() []string {
	var out []string
	for k, v := range s.envVars {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// cliRun runs the CLI in the workspace, for what the Automation API
// does not offer (an export that keeps secrets encrypted).
func (s *session) cliRun(ctx context.Context, args ...string) (string, error) {
	stdout, stderr, _, err := s.cli.Run(ctx, s.workDir, nil, nil, nil, s.envList(), args...)
	if err != nil {
		return stdout, fmt.Errorf("pulumi %s: %w: %s", strings.Join(args[:min(2, len(args))], " "), err, cliMessage(errors.New(stderr)))
	}
	return stdout, nil
}

// progress returns the Progress writer (masked); io.Discard when none.
func (s *session) progress() io.Writer {
	if s.out == nil {
		return io.Discard
	}
	return s.out
}

// absBlueprint makes a relative plinth:blueprint absolute under the root
// when the file is there: the inline program runs with no project root
// (ctx.RootDirectory() is empty), so a relative path would be read from
// the working directory.
func absBlueprint(root, ref string) string {
	if ref == "" || filepath.IsAbs(ref) {
		return ref
	}
	p := filepath.Join(root, ref)
	if info, err := os.Stat(p); err == nil && !info.IsDir() {
		return p
	}
	return ref
}
