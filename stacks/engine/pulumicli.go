package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/plinth-dev/plinth/test/toolchain"
)

// cancelGrace is how long the CLI may take to stop after SIGINT (it lets
// in-flight steps finish and writes the state) before it is killed.
const cancelGrace = 60 * time.Second

// pulumiCLI is the pulumi CLI as the Automation API runs it (it implements
// auto.PulumiCommand), for any binary path, not only <root>/bin/pulumi. It
// starts the CLI in a process group of its own, so that a terminal's Ctrl-C
// reaches only Plinth, which cancels the CLI once (a second SIGINT would
// make the CLI quit at once, leaving pending operations behind).
type pulumiCLI struct {
	path    string
	version semver.Version
	// home, when set, is PULUMI_HOME for every run (the toolchain's plugins).
	home string
}

var _ auto.PulumiCommand = (*pulumiCLI)(nil)

// findPulumi returns `pulumi` on PATH, else the pinned toolchain's.
func findPulumi() (string, error) {
	if p, err := exec.LookPath("pulumi"); err == nil {
		return p, nil
	}
	p, err := toolchain.Path(toolchain.Pulumi)
	if err != nil {
		return "", fmt.Errorf("the pulumi CLI is not on PATH, and %w", err)
	}
	return p, nil
}

// newPulumiCLI checks the binary's version (`pulumi version`).
func newPulumiCLI(ctx context.Context, path string) (*pulumiCLI, error) {
	c := &pulumiCLI{path: path}
	if tp, err := toolchain.Path(toolchain.Pulumi); err == nil && sameFile(tp, path) && os.Getenv("PULUMI_HOME") == "" {
		c.home = toolchain.PulumiHome() // the pinned CLI's plugins are there
	}
	cmd := c.command(ctx, "", nil, "version")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s version: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	v, err := semver.ParseTolerant(strings.TrimSpace(out.String()))
	if err != nil {
		return nil, fmt.Errorf("%s version printed %q, not a version (a CLI built without its version ldflags?)", path, strings.TrimSpace(out.String()))
	}
	c.version = v
	return c, nil
}

func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// command builds the exec.Cmd for one CLI run: non-interactive, in its
// own process group, cancelled with SIGINT then killed after cancelGrace.
func (c *pulumiCLI) command(ctx context.Context, workdir string, additionalEnv []string, args ...string) *exec.Cmd {
	args = nonInteractive(args)
	cmd := exec.CommandContext(ctx, c.path, args...)
	cmd.Dir = workdir
	env := append(os.Environ(), "PULUMI_SKIP_UPDATE_CHECK=true")
	if c.home != "" {
		env = append(env, "PULUMI_HOME="+c.home, "PULUMI_IGNORE_AMBIENT_PLUGINS=true")
	}
	env = append(env, additionalEnv...)
	env = append(env, "PULUMI_AUTOMATION_API=true")
	cmd.Env = prependPath(env, filepath.Dir(c.path))
	setProcessGroup(cmd)
	cmd.Cancel = func() error {
		if err := interrupt(cmd.Process); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = cancelGrace
	return cmd
}

// Run runs the CLI as auto.PulumiCommand does.
func (c *pulumiCLI) Run(ctx context.Context, workdir string, stdin io.Reader,
	additionalOutput, additionalErrorOutput []io.Writer, additionalEnv []string, args ...string,
) (string, string, int, error) {
	cmd := c.command(ctx, workdir, additionalEnv, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = io.MultiWriter(append(additionalOutput, &stdout)...)
	cmd.Stderr = io.MultiWriter(append(additionalErrorOutput, &stderr)...)
	cmd.Stdin = stdin
	err := cmd.Run()
	code := -2
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		code = 0
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	}
	return stdout.String(), stderr.String(), code, err
}

// Version is the CLI's version.
func (c *pulumiCLI) Version() semver.Version { return c.version }

// nonInteractive adds --non-interactive before any "--".
func nonInteractive(args []string) []string {
	head := args
	if i := slices.Index(args, "--"); i >= 0 {
		head = args[:i]
	}
	if slices.Contains(head, "--non-interactive") || (len(args) == 1 && args[0] == "version") {
		return args
	}
	return append([]string{"--non-interactive"}, args...)
}

// prependPath puts dir first on PATH (plugins beside the CLI are found).
func prependPath(env []string, dir string) []string {
	out := slices.Clone(env)
	for i, e := range out {
		if len(e) >= 5 && strings.EqualFold(e[:5], "PATH=") {
			out[i] = "PATH=" + dir + string(os.PathListSeparator) + e[5:]
			return out
		}
	}
	return append(out, "PATH="+dir)
}
