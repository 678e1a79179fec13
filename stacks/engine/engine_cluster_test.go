package engine

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/stacks"
	"github.com/plinth-dev/plinth/stacks/engine/enginetest"
	"github.com/plinth-dev/plinth/test/localcluster"
	"github.com/plinth-dev/plinth/test/toolchain"
)

// These tests run the real pulumi CLI and kubernetes provider (the pinned
// toolchain) against a local control plane, with enginetest.Program
// standing in for stacks.Program. They skip, saying why, when `make tools`
// has not built the toolchain.

// syncBuffer is a bytes.Buffer safe for the progress goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// onWrite, when set, sees every write.
	onWrite func(string)
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.onWrite != nil {
		b.onWrite(string(p))
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testStack is a stack of enginetest.Program on a local cluster.
func testStack(t *testing.T, c *localcluster.Cluster, pulumi, stack string) (Options, *syncBuffer) {
	t.Helper()
	root := enginetest.Root(t, t.TempDir(), stack, "blueprints/local.yaml")
	progress := &syncBuffer{}
	return Options{
		Root:         root,
		Stack:        stack,
		Passphrase:   enginetest.Passphrase,
		PulumiBinary: pulumi,
		Program:      enginetest.Program(c.Kubeconfig, "plinth-"+stack),
		Progress:     progress,
	}, progress
}

// rawStack selects the stack without clearing or copying anything.
func rawStack(t *testing.T, opts Options) *session {
	t.Helper()
	s, err := prepare(context.Background(), Options{Root: opts.Root, Stack: opts.Stack, Passphrase: opts.Passphrase, PulumiBinary: opts.PulumiBinary, Program: opts.Program}, false)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// state reads the stack's exported state as it is (secrets encrypted).
func state(t *testing.T, opts Options) *deployment {
	t.Helper()
	d, err := rawStack(t, opts).export(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// stackConfig opens the stack as an operation does; s.current is the
// workspace stack config, secrets in clear.
func stackConfig(t *testing.T, opts Options) *session {
	t.Helper()
	s, err := open(context.Background(), Options{Root: opts.Root, Stack: opts.Stack, Passphrase: opts.Passphrase, PulumiBinary: opts.PulumiBinary, Program: opts.Program}, false)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func replicas(t *testing.T, c *localcluster.Cluster, ns string) string {
	t.Helper()
	return strings.TrimSpace(c.Kubectl(t, "-n", ns, "get", "deployment", enginetest.Deployment, "-o", "jsonpath={.spec.replicas}"))
}

func onlySame(ch map[string]int) bool {
	for k, n := range ch {
		if k != "same" && n != 0 {
			return false
		}
	}
	return ch["same"] > 0
}

func TestLifecycleOnLocalCluster(t *testing.T) {
	pulumi := enginetest.Toolchain(t)
	c := localcluster.Start(t, localcluster.Options{Dir: t.TempDir(), Nodes: enginetest.Nodes})
	defer c.Stop()
	ctx := context.Background()
	opts, progress := testStack(t, c, pulumi, "lifecycle")
	ns := "plinth-lifecycle"
	timing := map[string]time.Duration{}

	// Up creates everything.
	r, err := Up(ctx, opts)
	if err != nil {
		t.Fatalf("up: %v\nprogress:\n%s", err, progress)
	}
	timing["up"] = r.Duration
	if r.Changes["create"] < 5 {
		t.Errorf("up changes %v, want 5 creates (stack, provider, namespace, secret, deployment)", r.Changes)
	}
	if got := replicas(t, c, ns); got != "1" {
		t.Errorf("replicas = %s, want 1", got)
	}
	if got := c.Kubectl(t, "-n", ns, "get", "deployment", enginetest.Deployment, "-o", "jsonpath={.metadata.labels.app\\.kubernetes\\.io/managed-by}"); got != enginetest.ManagedBy {
		t.Errorf("managed-by label %q", got)
	}
	if r.Outputs["namespace"] != ns || r.Outputs["adminPassword"] != stacks.SecretPlaceholder {
		t.Errorf("outputs %v: want namespace %s and adminPassword masked", r.Outputs, ns)
	}
	if obj, _ := json.Marshal(r.Outputs["object"]); string(obj) != `{"labels":["a","b"],"replicas":1}` {
		t.Errorf("structured config reached the program as %s", obj)
	}
	for _, want := range []string{"+ kubernetes:apps/v1:Deployment web: creating", "+ kubernetes:apps/v1:Deployment web: created", "up of stack lifecycle: 5 created"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress)
		}
	}

	t.Run("generated secrets", func(t *testing.T) {
		s := stackConfig(t, opts)
		generated, _ := stacks.RequiredSecrets(s.env)
		if len(generated) != 3 {
			t.Fatalf("the local blueprint needs %v", generated)
		}
		file, err := os.ReadFile(StackConfigFile(opts.Root, "", opts.Stack))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Config map[string]yaml.Node `yaml:"config"`
		}
		if err := yaml.Unmarshal(file, &doc); err != nil {
			t.Fatal(err)
		}
		stateFile, err := os.ReadFile(filepath.Join(opts.Root, ".plinth", "state", ".pulumi", "stacks", "plinth", opts.Stack+".json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range generated {
			v := s.current[k]
			if !v.Secret || len(v.Value) != 32 {
				t.Errorf("%s: secret %v, %d characters", k, v.Secret, len(v.Value))
			}
			node, ok := doc.Config[k]
			if !ok || node.Kind != yaml.MappingNode || node.Content[0].Value != "secure" {
				t.Errorf("%s is not a secure: value in %s", k, StackConfigFile(opts.Root, "", opts.Stack))
			}
			for where, text := range map[string]string{"progress": progress.String(), "state file": string(stateFile), "stack config file": string(file)} {
				if strings.Contains(text, v.Value) {
					t.Errorf("the value of %s appears in clear in the %s", k, where)
				}
			}
		}
		// The program got the generated value.
		data := c.Kubectl(t, "-n", ns, "get", "secret", "admin", "-o", "jsonpath={.data.password}")
		got, _ := base64.StdEncoding.DecodeString(data)
		if string(got) != s.current[enginetest.SecretKey].Value {
			t.Error("the Kubernetes Secret does not hold the generated password")
		}
		if !strings.Contains(progress.String(), "generated secret "+enginetest.SecretKey) {
			t.Errorf("progress does not say the secret was generated:\n%s", progress)
		}
	})

	// A second Up changes nothing.
	r, err = Up(ctx, opts)
	if err != nil {
		t.Fatalf("second up: %v\n%s", err, progress)
	}
	timing["no-op up"] = r.Duration
	if !onlySame(r.Changes) || len(r.Drifted) != 0 {
		t.Errorf("second up: changes %v, drifted %v; want only same", r.Changes, r.Drifted)
	}
	if strings.Count(progress.String(), "generated secret") != 3 {
		t.Errorf("secrets generated again on the second up:\n%s", progress)
	}

	// Drift behind Plinth's back.
	d, err := Drift(ctx, opts)
	if err != nil || len(d.Drifted) != 0 {
		t.Fatalf("drift before any change: %v, %v", d, err)
	}
	c.Kubectl(t, "-n", ns, "scale", "deployment", enginetest.Deployment, "--replicas=3")
	for range 2 { // Drift changes nothing: the second run sees the same.
		d, err = Drift(ctx, opts)
		if err != nil {
			t.Fatalf("drift: %v\n%s", err, progress)
		}
		timing["drift"] = d.Duration
		if len(d.Drifted) != 1 || !strings.HasSuffix(d.Drifted[0], "kubernetes:apps/v1:Deployment::"+enginetest.Deployment) {
			t.Fatalf("drifted %v, want the Deployment", d.Drifted)
		}
	}
	if !strings.Contains(progress.String(), "web: drifted [diff: spec.replicas]") {
		t.Errorf("progress does not show the drift:\n%s", progress)
	}

	// Up repairs it.
	r, err = Up(ctx, opts)
	if err != nil {
		t.Fatalf("repairing up: %v\n%s", err, progress)
	}
	timing["repairing up"] = r.Duration
	if r.Changes["update"] != 1 || len(r.Drifted) != 1 {
		t.Errorf("repairing up: changes %v, drifted %v", r.Changes, r.Drifted)
	}
	if got := replicas(t, c, ns); got != "1" {
		t.Errorf("replicas after up = %s, want 1", got)
	}
	if d, err = Drift(ctx, opts); err != nil || len(d.Drifted) != 0 {
		t.Errorf("drift after repair: %v, %v", d, err)
	}

	// Refresh reads the live state; nothing drifted.
	rf, err := Refresh(ctx, opts)
	if err != nil || len(rf.Drifted) != 0 || rf.Outputs["namespace"] != ns {
		t.Errorf("refresh: %+v, %v", rf, err)
	}

	// Preview plans nothing.
	pv, err := Preview(ctx, opts)
	if err != nil || !onlySame(pv.Changes) {
		t.Errorf("preview: %+v, %v", pv, err)
	}

	// A deployed stack whose workspace config is gone (another machine)
	// does not get new passwords behind the ones in use.
	cfgFile := StackConfigFile(opts.Root, "", opts.Stack)
	if err := os.Rename(cfgFile, cfgFile+".away"); err != nil {
		t.Fatal(err)
	}
	_, err = Up(ctx, opts)
	var me *MissingSecretError
	if !errors.As(err, &me) || !me.Lost || len(me.Keys) != 3 {
		t.Errorf("up without the workspace config: %v, want a MissingSecretError (lost)", err)
	}
	if err := os.Rename(cfgFile+".away", cfgFile); err != nil {
		t.Fatal(err)
	}

	// Destroy removes everything.
	r, err = Destroy(ctx, opts)
	if err != nil {
		t.Fatalf("destroy: %v\n%s", err, progress)
	}
	timing["destroy"] = r.Duration
	if r.Changes["delete"] < 5 {
		t.Errorf("destroy changes %v", r.Changes)
	}
	if st := state(t, opts); len(st.resources) != 0 {
		t.Errorf("%d resources left in the stack", len(st.resources))
	}
	if out, err := c.KubectlE("get", "namespace", ns); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("namespace %s still there: %s %v", ns, out, err)
	}
	if testing.Verbose() {
		t.Logf("progress:\n%s", progress)
	}
	t.Logf("timings: up %s, no-op up %s, drift %s, repairing up %s, destroy %s",
		timing["up"].Round(time.Millisecond), timing["no-op up"].Round(time.Millisecond), timing["drift"].Round(time.Millisecond),
		timing["repairing up"].Round(time.Millisecond), timing["destroy"].Round(time.Millisecond))
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	return cmd.Process.Pid
}

func TestInterruptedUpConverges(t *testing.T) {
	pulumi := enginetest.Toolchain(t)
	c := localcluster.Start(t, localcluster.Options{Dir: t.TempDir(), Nodes: enginetest.Nodes})
	defer c.Stop()
	opts, progress := testStack(t, c, pulumi, "interrupt")
	ns := "plinth-interrupt"

	// Cancel (as Ctrl-C does) once the first Kubernetes resource event shows.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	var cancelledAt time.Time
	progress.onWrite = func(line string) {
		if strings.Contains(line, "kubernetes") && strings.HasPrefix(line, "  ") {
			once.Do(func() { cancelledAt = time.Now(); cancel() })
		}
	}
	start := time.Now()
	_, err := Up(ctx, opts)
	var ie *InterruptedError
	if !errors.As(err, &ie) {
		t.Fatalf("interrupted up: err = %v, want InterruptedError\n%s", err, progress)
	}
	t.Logf("interrupted up returned %s after the cancel (%s in all): %v", time.Since(cancelledAt).Round(time.Millisecond), time.Since(start).Round(time.Millisecond), err)
	progress.onWrite = nil

	// Leave what a harder stop leaves too: a pending operation in the
	// state and a lock of a process that is gone.
	// (`pulumi stack import` drops pending operations, so they go straight
	// into the file backend's checkpoint, as the engine writes them.)
	depURN := fmt.Sprintf("urn:pulumi:%s::plinth::kubernetes:apps/v1:Deployment::%s", opts.Stack, enginetest.Deployment)
	checkpointFile := filepath.Join(opts.Root, ".plinth", "state", ".pulumi", "stacks", "plinth", opts.Stack+".json")
	data, err := os.ReadFile(checkpointFile)
	if err != nil {
		t.Fatal(err)
	}
	var checkpoint map[string]any
	if err := json.Unmarshal(data, &checkpoint); err != nil {
		t.Fatal(err)
	}
	latest := checkpoint["checkpoint"].(map[string]any)["latest"].(map[string]any)
	latest["pending_operations"] = []map[string]any{{
		"resource": map[string]any{"urn": depURN, "type": "kubernetes:apps/v1:Deployment", "custom": true},
		"type":     "creating",
	}}
	if data, err = json.Marshal(checkpoint); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(checkpointFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if n := len(state(t, opts).pending); n != 1 {
		t.Fatalf("%d pending operations in the state, want the one put there", n)
	}
	lockDir := filepath.Join(opts.Root, ".plinth", "state", ".pulumi", "locks", "organization", "plinth", opts.Stack)
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	lock, _ := json.Marshal(lockContent{Pid: deadPID(t), Username: "test", Hostname: host, Timestamp: time.Now()})
	if err := os.WriteFile(filepath.Join(lockDir, "00000000-dead.json"), lock, 0o644); err != nil {
		t.Fatal(err)
	}

	// The pending create reached the API server before the stop: the
	// objects exist in the cluster, unknown to the state.
	c.KubectlInput(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  replicas: 2
  selector: {matchLabels: {app: %[2]s}}
  template:
    metadata: {labels: {app: %[2]s}}
    spec: {containers: [{name: %[2]s, image: registry.invalid/web:1}]}
`, ns, enginetest.Deployment), "apply", "-f", "-")

	// The re-run converges.
	r, err := Up(context.Background(), opts)
	if err != nil {
		t.Fatalf("up after the interruption: %v\n%s", err, progress)
	}
	t.Logf("converging up: %s, changes %v", r.Duration.Round(time.Millisecond), r.Changes)
	if testing.Verbose() {
		t.Logf("progress:\n%s", progress)
	}
	for _, want := range []string{"cleared stale lock of an interrupted update", "clearing pending operation from an interrupted update: creating " + depURN} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress)
		}
	}
	final := state(t, opts)
	if len(final.pending) != 0 {
		t.Errorf("pending operations left: %v", final.pending)
	}
	if len(final.resources) < 5 {
		t.Errorf("%d resources in the stack, want 5", len(final.resources))
	}
	if got := replicas(t, c, ns); got != "1" {
		t.Errorf("replicas = %q, want 1", got)
	}
	if r, err := Up(context.Background(), opts); err != nil || !onlySame(r.Changes) {
		t.Errorf("up after convergence: %v, %v", r, err)
	}
}

// Secrets Plinth cannot generate (CI runner tokens) stop Preview and Up,
// naming the key and the command that sets it; once set that way, they pass.
func TestGivenSecretMissing(t *testing.T) {
	pulumi := enginetest.Toolchain(t)
	root := enginetest.Root(t, t.TempDir(), "gpu-training", "blueprints/gpu-training.yaml")
	opts := Options{Root: root, Stack: "gpu-training", Passphrase: enginetest.Passphrase, PulumiBinary: pulumi}
	_, err := Preview(context.Background(), opts)
	var me *MissingSecretError
	if !errors.As(err, &me) || strings.Join(me.Keys, ",") != "plinth:ciRunnerToken" || me.Lost {
		t.Fatalf("preview: err = %v, want a MissingSecretError for plinth:ciRunnerToken", err)
	}
	want := "pulumi config set --secret --cwd " + WorkspaceDir(root, "") + " --stack gpu-training plinth:ciRunnerToken <value>"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error does not say how to set it (%q):\n%v", want, err)
	}

	// The command the error gives works.
	cmd := exec.Command(pulumi, "config", "set", "--secret", "--cwd", me.WorkDir, "--stack", "gpu-training", "plinth:ciRunnerToken", "ghp-test-token")
	cmd.Env = append(os.Environ(), "PULUMI_BACKEND_URL="+me.Backend, "PULUMI_CONFIG_PASSPHRASE="+enginetest.Passphrase,
		"PULUMI_HOME="+toolchain.PulumiHome(), "PULUMI_SKIP_UPDATE_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var progress bytes.Buffer
	opts.Progress = &progress
	s, err := open(context.Background(), opts, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ensureSecrets(context.Background()); err != nil {
		t.Fatalf("with the token set: %v", err)
	}
	if strings.Contains(progress.String(), "ghp-test-token") || !strings.Contains(progress.String(), "generated secret") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

// Policy packs given in Options run during Preview, and their violations
// show on Progress (the pack is Plinth's own, cmd/plinth-policy-pack, an
// executable the engine runs as an analyzer).
func TestPreviewRunsPolicyPacks(t *testing.T) {
	pulumi := enginetest.Toolchain(t)
	pack := filepath.Join(t.TempDir(), "plinth-policy-pack")
	build := exec.Command("go", "build", "-o", pack, "github.com/plinth-dev/plinth/cmd/plinth-policy-pack")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("cannot build the policy pack: %v: %s", err, out)
	}
	c := localcluster.Start(t, localcluster.Options{Dir: t.TempDir(), Nodes: enginetest.Nodes})
	defer c.Stop()
	opts, progress := testStack(t, c, pulumi, "policy")
	opts.PolicyPacks = []string{pack}
	r, err := Preview(context.Background(), opts)
	if err != nil {
		t.Fatalf("preview: %v\n%s", err, progress)
	}
	if r.Changes["create"] != 5 {
		t.Errorf("changes %v", r.Changes)
	}
	found := false
	for _, line := range strings.Split(progress.String(), "\n") {
		if strings.HasPrefix(line, "  policy ") && strings.Contains(line, "(web)") {
			found = true
		}
	}
	if !found {
		t.Errorf("no policy violation reported for the Deployment (it sets no securityContext):\n%s", progress)
	}
}

// A lock held by a running process (or one on another host) is left
// alone: the operation fails, saying who holds it.
func TestLiveLockRefused(t *testing.T) {
	pulumi := enginetest.Toolchain(t)
	root := enginetest.Root(t, t.TempDir(), "locked", "blueprints/local.yaml")
	opts := Options{Root: root, Stack: "locked", Passphrase: enginetest.Passphrase, PulumiBinary: pulumi, Program: enginetest.Program("/nonexistent", "locked")}
	lockDir := filepath.Join(root, ".plinth", "state", ".pulumi", "locks", "organization", "plinth", "locked")
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	for _, l := range []lockContent{
		{Pid: os.Getpid(), Username: "test", Hostname: host, Timestamp: time.Now()},
		{Pid: deadPID(t), Username: "test", Hostname: "elsewhere", Timestamp: time.Now()},
	} {
		data, _ := json.Marshal(l)
		lockFile := filepath.Join(lockDir, "live.json")
		if err := os.WriteFile(lockFile, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Preview(context.Background(), opts)
		var le *LockedError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d of test on %s", l.Pid, l.Hostname)) || !strings.Contains(err.Error(), "pulumi cancel --yes") {
			t.Errorf("lock of pid %d on %s: %v", l.Pid, l.Hostname, err)
		}
		if _, err := os.Stat(lockFile); err != nil {
			t.Errorf("the lock was removed: %v", err)
		}
	}
}
