package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/blueprints/catalog"
	"github.com/plinth-dev/plinth/test/chartrepo"
	"github.com/plinth-dev/plinth/test/localcluster"
)

// stackName is the stack the test creates in its own state backend.
const stackName = "local"

// blueprintFile is where the test project keeps its copy of
// blueprints/local.yaml. The name is not a shipped blueprint's on purpose:
// stacks.Program falls back to a shipped blueprint when the file is
// missing, which would hide a program run without PULUMI_ROOT_DIRECTORY.
const blueprintFile = "blueprints/pulumi-up-local.yaml"

// stackSecrets are the stack secrets the Kubernetes layer of
// blueprints/local.yaml needs (stacks.SecretTrackingAdminPassword,
// SecretTrackingDBPassword, SecretGrafanaAdminPassword). They are spelt
// out because importing package stacks would link pulumi-aws into this
// test; a key missing here makes the program fail, naming it.
var stackSecrets = []string{"plinth:trackingAdminPassword", "plinth:trackingDbPassword", "plinth:grafanaAdminPassword"}

// plinthNamespaces are the namespaces blueprints/local.yaml gets.
var plinthNamespaces = []string{"plinth-tracking", "plinth-monitoring", "plinth-gpu"}

// cliTimeout bounds one pulumi command.
const cliTimeout = 10 * time.Minute

// TestPlainPulumiUp proves that plain `pulumi up` on the repository's
// Pulumi.yaml works: the real pulumi CLI (v3.274.1 from `make tools`), its
// local file backend and the kubernetes provider run cmd/environment
// through a Go language host (the stand-in in this directory; see main.go)
// on a local control plane, as a user with a normal Pulumi install would
// (`pulumi login`, `pulumi stack init`, `pulumi config set --secret`,
// `pulumi preview`, `pulumi up`, `pulumi destroy`), for blueprints/local.yaml
// with the pinned charts from a loopback chart repository.
//
// It checks: preview plans only creates; up creates MLflow and the rest;
// the secrets set with `pulumi config set --secret` reach the cluster and
// stay encrypted in the state; a second preview and a second up (this one
// with the host building the program itself) change nothing; destroy
// empties the stack and removes the namespaces; no secret is ever printed.
func TestPlainPulumiUp(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short mode: builds cmd/environment and runs pulumi up on a local control plane")
	}
	pulumiBin, pulumiHome := localcluster.RequireEngine(t)
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	goBin := goCommand(t)
	var timings []string
	timed := func(what string, d time.Duration) {
		timings = append(timings, fmt.Sprintf("%s %.1fs", what, d.Seconds()))
	}

	// The stand-in host next to a pulumi binary, as a Pulumi install lays
	// them out: with PULUMI_IGNORE_AMBIENT_PLUGINS set, the CLI looks for a
	// language host beside itself, not on PATH.
	binDir := t.TempDir()
	start := time.Now()
	buildGo(t, goBin, filepath.Join(repo, "test", "languagehost"), filepath.Join(binDir, "pulumi-language-go"), ".")
	timed("host build", time.Since(start))
	pulumiCmd := filepath.Join(binDir, "pulumi")
	if err := linkOrCopy(pulumiBin, pulumiCmd); err != nil {
		t.Fatal(err)
	}

	// The program, built once; the project runs it through
	// runtime.options.binary.
	programBin := filepath.Join(t.TempDir(), "environment")
	start = time.Now()
	buildGo(t, goBin, repo, programBin, "./cmd/environment")
	timed("program build", time.Since(start))

	// A control plane with the blueprint's nodes and the pinned charts.
	env := loadBlueprint(t, filepath.Join(repo, "blueprints", "local.yaml"))
	nodes, err := localcluster.NodesFromPools(env.Spec.Cluster.SystemPool, env.Spec.GPUNodePools, nil)
	if err != nil {
		t.Fatal(err)
	}
	charts := chartrepo.Start(t, chartrepo.Pinned(t)...)
	c := localcluster.Start(t, localcluster.Options{Nodes: nodes})
	defer c.Stop()
	c.AddVolumes(t, 4, "100Gi") // claims bind to volumes made in advance: the plane has no provisioner

	// The project: the repository's Pulumi.yaml, the blueprint and a stack config.
	root := t.TempDir()
	stackConfigDir := writeProject(t, repo, root, programBin)
	writeFile(t, filepath.Join(root, stackConfigDir, "Pulumi."+stackName+".yaml"),
		fmt.Sprintf("config:\n  plinth:blueprint: %s\n  plinth:chartsRepository: %s\n", blueprintFile, charts.URL))
	blueprint, err := os.ReadFile(filepath.Join(repo, "blueprints", "local.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, blueprintFile), string(blueprint))

	state := t.TempDir()
	p := &pulumiCLI{
		t:   t,
		bin: pulumiCmd,
		dir: root,
		env: pulumiEnv(c.Env(), privateHome(t, pulumiHome), state,
			binDir+string(os.PathListSeparator)+filepath.Dir(goBin)),
	}
	p.must("login", "file://"+state)
	p.must("stack", "init", stackName)
	values := map[string]string{}
	for _, key := range stackSecrets {
		values[key] = randomSecret(t)
		p.secrets = append(p.secrets, values[key])
		if r := p.run(values[key], "config", "set", "--secret", key); r.code != 0 {
			t.Fatalf("pulumi config set --secret %s exited %d:\n%s", key, r.code, p.redact(r.stdout+r.stderr))
		}
	}

	// preview: only creates.
	r := p.must("preview", "--non-interactive", "--json")
	timed("preview", r.took)
	summary := changeSummary(t, r.stdout)
	if summary["create"] < 50 || len(summary) != 1 {
		t.Errorf("preview plans %v, want only creates, 50+ (the whole environment)", summary)
	}
	t.Logf("preview: %v", summary)

	// up.
	r = p.must("up", "--non-interactive", "--yes", "--skip-preview")
	timed("up", r.took)
	if got := strings.TrimSpace(c.Kubectl(t, "-n", "plinth-tracking", "get", "deployment", "mlflow", "-o", "name")); got != "deployment.apps/mlflow" {
		t.Errorf("after up, kubectl get deployment mlflow -n plinth-tracking says %q", got)
	}
	for _, ns := range plinthNamespaces {
		if _, err := c.KubectlE("get", "namespace", ns); err != nil {
			t.Errorf("after up: %v", err)
		}
	}
	var outputs map[string]any
	if err := json.Unmarshal([]byte(p.must("stack", "output", "--json").stdout), &outputs); err != nil {
		t.Fatalf("pulumi stack output --json: %v", err)
	}
	if outputs["environment"] != env.Metadata.Name || outputs["provider"] != "kubernetes" {
		t.Errorf("stack outputs %v, want environment %s and provider kubernetes", outputs, env.Metadata.Name)
	}
	checkSecretsInCluster(t, c, values)
	exported := p.must("stack", "export").stdout
	n := stateResources(t, exported)
	if n < 50 {
		t.Errorf("the state holds %d resources after up, want 50+", n)
	}
	t.Logf("up: %d resources in the state, outputs %v", n, outputs)
	for key, v := range values {
		if strings.Contains(exported, v) {
			t.Errorf("the state holds the value of %s in clear", key)
		}
	}

	// A second preview and a second up change nothing; the second up lets
	// the host build the program from Pulumi.yaml's main itself.
	r = p.must("preview", "--non-interactive", "--expect-no-changes")
	timed("no-op preview", r.took)
	writeProject(t, repo, root, "")
	r = p.must("up", "--non-interactive", "--yes", "--skip-preview", "--expect-no-changes")
	timed("no-op up (host runs go build)", r.took)
	if want := fmt.Sprintf("%d unchanged", n); !strings.Contains(r.stdout, want) {
		t.Errorf("the second up does not say %q:\n%s", want, p.redact(r.stdout))
	}
	writeProject(t, repo, root, programBin)

	// destroy: nothing left, in the state or in the cluster.
	r = p.must("destroy", "--non-interactive", "--yes", "--skip-preview")
	timed("destroy", r.took)
	if n := stateResources(t, p.must("stack", "export").stdout); n != 0 {
		t.Errorf("the state holds %d resources after destroy, want 0", n)
	}
	for _, ns := range plinthNamespaces {
		waitNamespaceGone(t, c, ns, 30*time.Second)
	}

	for key, v := range values {
		if strings.Contains(p.printed.String(), v) {
			t.Errorf("the pulumi CLI printed the value of %s", key)
		}
	}
	t.Logf("timings: %s", strings.Join(timings, ", "))
}

// pulumiCLI runs the real pulumi CLI in a project directory.
type pulumiCLI struct {
	t   *testing.T
	bin string
	dir string
	env []string
	// secrets are values that must never appear in the test log.
	secrets []string
	// printed is everything the CLI printed, for the check that no secret was.
	printed strings.Builder
}

// cliResult is how one pulumi command ended.
type cliResult struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// run runs pulumi with args and stdin, failing the test when it cannot
// be started or times out.
func (p *pulumiCLI) run(stdin string, args ...string) cliResult {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin, args...)
	cmd.Dir, cmd.Env = p.dir, p.env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := cliResult{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	p.printed.WriteString(r.stdout)
	p.printed.WriteString(r.stderr)
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		p.t.Fatalf("pulumi %s: no answer after %s:\n%s", strings.Join(args, " "), cliTimeout, p.redact(r.stdout+r.stderr))
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		p.t.Fatalf("pulumi %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// must runs pulumi with args and fails the test unless it exits 0.
func (p *pulumiCLI) must(args ...string) cliResult {
	p.t.Helper()
	r := p.run("", args...)
	if r.code != 0 {
		p.t.Fatalf("pulumi %s exited %d:\n%s", strings.Join(args, " "), r.code, p.redact(r.stdout+r.stderr))
	}
	return r
}

// redact replaces every secret value in s.
func (p *pulumiCLI) redact(s string) string {
	for _, v := range p.secrets {
		s = strings.ReplaceAll(s, v, "[secret]")
	}
	return s
}

// pulumiEnv returns env with the pulumi CLI's environment for the test:
// its own PULUMI_HOME and file backend, a passphrase, no update check, no
// plugins from PATH, and path first on PATH. Other PULUMI_* settings of
// the caller are dropped.
func pulumiEnv(env []string, home, state, path string) []string {
	out := []string{
		"PULUMI_HOME=" + home,
		"PULUMI_BACKEND_URL=file://" + state,
		"PULUMI_CONFIG_PASSPHRASE=plinth-pulumi-up-test",
		"PULUMI_SKIP_UPDATE_CHECK=1",
		"PULUMI_IGNORE_AMBIENT_PLUGINS=true",
	}
	oldPath := ""
	for _, kv := range env {
		key, value, _ := strings.Cut(kv, "=")
		switch {
		case key == "PATH":
			oldPath = value
		case !strings.HasPrefix(key, "PULUMI_"):
			out = append(out, kv)
		}
	}
	return append(out, "PATH="+path+string(os.PathListSeparator)+oldPath)
}

// privateHome returns a PULUMI_HOME for the test whose plugins directory
// is shared's (the kubernetes provider `make tools` installed): `pulumi
// login` writes its credentials into PULUMI_HOME, which must not change
// the toolchain's.
func privateHome(t *testing.T, shared string) string {
	t.Helper()
	home := t.TempDir()
	if err := os.Symlink(filepath.Join(shared, "plugins"), filepath.Join(home, "plugins")); err != nil {
		t.Fatal(err)
	}
	return home
}

// writeProject writes the repository's Pulumi.yaml into root with main
// made absolute (the project lives in a temporary directory) and
// runtime.options.binary set to binary, or removed when binary is "".
// It returns the project's stackConfigDir.
func writeProject(t *testing.T, repo, root, binary string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var project map[string]any
	if err := yaml.Unmarshal(data, &project); err != nil {
		t.Fatalf("Pulumi.yaml: %v", err)
	}
	rt := map[string]any{}
	switch v := project["runtime"].(type) {
	case string:
		rt["name"] = v
	case map[string]any:
		rt = v
	}
	if rt["name"] != "go" {
		t.Fatalf("Pulumi.yaml: runtime %v, want go", project["runtime"])
	}
	options, _ := rt["options"].(map[string]any)
	if options == nil {
		options = map[string]any{}
	}
	delete(options, "binary")
	if binary != "" {
		options["binary"] = binary
	}
	rt["options"] = options
	project["runtime"] = rt
	main, _ := project["main"].(string)
	project["main"] = filepath.Join(repo, main)
	out, err := yaml.Marshal(project)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "Pulumi.yaml"), string(out))
	dir, _ := project["stackConfigDir"].(string)
	return dir
}

// changeSummary reads the change summary of `pulumi preview --json`.
func changeSummary(t *testing.T, previewJSON string) map[string]int {
	t.Helper()
	var preview struct {
		ChangeSummary map[string]int `json:"changeSummary"`
	}
	if err := json.Unmarshal([]byte(previewJSON), &preview); err != nil {
		t.Fatalf("pulumi preview --json: %v", err)
	}
	return preview.ChangeSummary
}

// stateResources counts the resources of `pulumi stack export`.
func stateResources(t *testing.T, export string) int {
	t.Helper()
	var state struct {
		Deployment struct {
			Resources []json.RawMessage `json:"resources"`
		} `json:"deployment"`
	}
	if err := json.Unmarshal([]byte(export), &state); err != nil {
		t.Fatalf("pulumi stack export: %v", err)
	}
	return len(state.Deployment.Resources)
}

// checkSecretsInCluster checks that each value set with `pulumi config set
// --secret` is in some Secret of the cluster (the program got it),
// without printing any.
func checkSecretsInCluster(t *testing.T, c *localcluster.Cluster, values map[string]string) {
	t.Helper()
	var list struct {
		Items []struct {
			Data map[string]string `json:"data"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(c.Kubectl(t, "get", "secrets", "-A", "-o", "json")), &list); err != nil {
		t.Fatalf("kubectl get secrets: %v", err)
	}
	var all strings.Builder
	for _, s := range list.Items {
		for _, v := range s.Data {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				t.Fatalf("kubectl get secrets: %v", err)
			}
			all.Write(b)
			all.WriteByte('\n')
		}
	}
	for key, v := range values {
		if !strings.Contains(all.String(), v) {
			t.Errorf("no Secret in the cluster holds the value set with `pulumi config set --secret %s`", key)
		}
	}
}

// waitNamespaceGone waits up to limit for a namespace to be gone.
func waitNamespaceGone(t *testing.T, c *localcluster.Cluster, ns string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		out, err := c.KubectlE("get", "namespace", ns, "--ignore-not-found", "-o", "name")
		if err == nil && strings.TrimSpace(out) == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("namespace %s still there %s after destroy (%q, %v)", ns, limit, strings.TrimSpace(out), err)
			return
		}
		time.Sleep(time.Second)
	}
}

// loadBlueprint loads, defaults and validates a blueprint file.
func loadBlueprint(t *testing.T, path string) *blueprints.Environment {
	t.Helper()
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	env, err := blueprints.Check(path, blueprints.LoadOptions{}, cat)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// goCommand returns the go command of the toolchain running the test.
func goCommand(t *testing.T) string {
	t.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err == nil {
		return goBin
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the host and the program: %v", err)
	}
	return goBin
}

// buildGo runs `go build -o out pkg` in dir, failing the test on error.
func buildGo(t *testing.T, goBin, dir, out, pkg string) {
	t.Helper()
	cmd := exec.Command(goBin, "build", "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s in %s: %v\n%s", pkg, dir, err, b)
	}
}

// linkOrCopy makes dst the same file as src: a hard link, else a copy.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return out.Close()
}

// writeFile writes a file, creating its directory.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// randomSecret returns a fresh 32-character password.
func randomSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
