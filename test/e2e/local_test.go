package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/k8s"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/blueprints/catalog"
	"github.com/plinth-dev/plinth/components/k8snamespace"
	"github.com/plinth-dev/plinth/test/chartrepo"
	"github.com/plinth-dev/plinth/test/localcluster"
)

// TestLocalEnvironment deploys blueprints/local.yaml with the plinth CLI
// (the real pulumi CLI, engine and Kubernetes provider) on a local control
// plane whose fake nodes are the blueprint's pools, with the pinned charts
// served by a loopback chart repository, and walks the life of an
// environment: an up interrupted mid-way then re-run; what exists in the
// cluster; GPU scheduling; a no-op up; drift found and repaired; a policy
// pack refusing a violating variant before anything changes; destroy
// leaving nothing behind.
//
// The steps share one cluster and one stack and run in order; a failed
// step stops the test (later steps would only report its consequences).
func TestLocalEnvironment(t *testing.T) {
	localcluster.RequireEngine(t)
	bins := buildBinaries(t)

	env := loadLocalBlueprint(t)
	nodes, err := localcluster.NodesFromPools(env.Spec.Cluster.SystemPool, env.Spec.GPUNodePools, nil)
	if err != nil {
		t.Fatal(err)
	}
	repo := chartrepo.Start(t, chartrepo.Pinned(t)...)
	c := localcluster.Start(t, localcluster.Options{Nodes: nodes})
	defer c.Stop()
	// Claims bind to volumes made in advance: the plane has no provisioner.
	c.AddVolumes(t, 4, "100Gi")
	// Terratest's kubectl helpers run kubectl from PATH.
	t.Setenv("PATH", filepath.Dir(c.Binaries[localcluster.Kubectl])+string(os.PathListSeparator)+os.Getenv("PATH"))

	root := projectRoot(t, map[string]string{
		"local": fmt.Sprintf("config:\n  plinth:blueprint: local\n  plinth:chartsRepository: %s\n", repo.URL),
		// A variant that exposes MLflow through an Ingress without
		// authentication: security.server-auth (mandatory) refuses it.
		"local-exposed": fmt.Sprintf("config:\n  plinth:blueprint: local\n  plinth:chartsRepository: %s\n  plinth:overrides:\n    spec.tracking.auth: none\n    spec.tracking.ingress.host: mlflow.example.internal\n", repo.URL),
	})
	p := &plinthCLI{t: t, bin: bins.plinth, dir: root, env: append(c.Env(), "PLINTH_PASSPHRASE=e2e-"+t.Name())}
	label := k8snamespace.EnvironmentLabel + "=" + env.Metadata.Name

	// 5 (first, on a fresh stack where there is the most to do): an up
	// interrupted at its first resource, then re-run, converges.
	t.Run("interrupted up converges", func(t *testing.T) {
		code, out := p.runInterrupted("up", "--stack", "local", "--yes")
		if code == 0 {
			t.Fatalf("interrupted up exited 0:\n%s", out)
		}
		if !strings.Contains(out, "interrupt") {
			t.Errorf("the interrupted up did not say it was interrupted:\n%s", out)
		}
		t.Logf("up interrupted (exit %d)", code)
		r := p.mustJSON(0, "up", "--stack", "local", "--yes", "--output", "json")
		if r.Changes["create"] == 0 {
			t.Errorf("re-run after the interruption created nothing: %v", r.Changes)
		}
		t.Logf("re-run up: %v in %.1fs", r.Changes, r.DurationSeconds)
	})
	if t.Failed() {
		t.FailNow()
	}

	// 1: what exists in the cluster.
	t.Run("environment is up", func(t *testing.T) {
		for _, ns := range []string{"plinth-tracking", "plinth-monitoring", "plinth-gpu"} {
			o := k8s.NewKubectlOptions(localcluster.ContextName, c.Kubeconfig, ns)
			got := k8s.GetNamespace(t, o, ns)
			if got.Labels[k8snamespace.EnvironmentLabel] != env.Metadata.Name {
				t.Errorf("namespace %s labels %v, want %s", ns, got.Labels, label)
			}
			for _, d := range k8s.ListDeployments(t, o, metav1.ListOptions{}) {
				k8s.WaitUntilDeploymentAvailable(t, o, d.Name, 30, 2*time.Second)
			}
			if svcs := k8s.ListServices(t, o, metav1.ListOptions{}); len(svcs) == 0 {
				t.Errorf("namespace %s has no Service", ns)
			}
		}
		tracking := k8s.NewKubectlOptions(localcluster.ContextName, c.Kubeconfig, "plinth-tracking")
		k8s.WaitUntilDeploymentAvailable(t, tracking, "mlflow", 30, 2*time.Second)
		k8s.WaitUntilServiceAvailable(t, tracking, "mlflow", 10, time.Second)

		// GPU daemons run on the GPU nodes and nowhere else.
		gpuNodes := map[string]bool{}
		for _, n := range nodes {
			if n.GPUs > 0 {
				gpuNodes[n.Name] = true
			}
		}
		gpuNS := k8s.NewKubectlOptions(localcluster.ContextName, c.Kubeconfig, "plinth-gpu")
		daemonSets := k8s.ListDaemonSets(t, gpuNS, metav1.ListOptions{})
		if len(daemonSets) < 2 {
			t.Fatalf("plinth-gpu has %d DaemonSets, want the device plugin and the DCGM exporter", len(daemonSets))
		}
		for _, ds := range daemonSets {
			if int(ds.Status.DesiredNumberScheduled) != len(gpuNodes) {
				t.Errorf("DaemonSet %s wants %d pods, there are %d GPU nodes", ds.Name, ds.Status.DesiredNumberScheduled, len(gpuNodes))
			}
		}
		pods := waitPodsScheduled(t, gpuNS, len(daemonSets)*len(gpuNodes))
		for _, pod := range pods {
			if !gpuNodes[pod.Spec.NodeName] {
				t.Errorf("GPU daemon pod %s runs on %s, not a GPU node", pod.Name, pod.Spec.NodeName)
			}
		}

		// Monitors and rules for the Prometheus operator.
		monitors := strings.Fields(c.Kubectl(t, "get", "servicemonitors", "-A", "-l", label, "-o", "name"))
		rules := strings.Fields(c.Kubectl(t, "get", "prometheusrules", "-A", "-l", label, "-o", "name"))
		if len(monitors) < 3 || len(rules) < 1 {
			t.Errorf("ServiceMonitors %v, PrometheusRules %v: want the tracking, DCGM and collector monitors and the alert rules", monitors, rules)
		}

		// Secrets exist with values, and no value was ever printed.
		for _, ns := range []string{"plinth-tracking", "plinth-monitoring"} {
			o := k8s.NewKubectlOptions(localcluster.ContextName, c.Kubeconfig, ns)
			secrets, err := k8s.RunKubectlAndGetOutputE(t, o, "get", "secrets", "-l", label, "-o", "name")
			if err != nil {
				t.Fatal(err)
			}
			names := strings.Fields(secrets)
			if len(names) == 0 {
				t.Errorf("no Plinth Secret in %s", ns)
			}
			for _, n := range names {
				s := k8s.GetSecret(t, o, strings.TrimPrefix(n, "secret/"))
				for k, v := range s.Data {
					if len(v) == 0 {
						t.Errorf("secret %s/%s key %s is empty", ns, s.Name, k)
					}
					if len(v) >= 8 && strings.Contains(p.allOutput(), string(v)) {
						t.Errorf("the value of secret %s/%s key %s was printed by plinth", ns, s.Name, k)
					}
				}
			}
		}
	})

	// 2: GPU scheduling.
	t.Run("GPU job lands on the GPU pool", func(t *testing.T) {
		o := k8s.NewKubectlOptions(localcluster.ContextName, c.Kubeconfig, "e2e-training")
		k8s.CreateNamespace(t, o, "e2e-training")
		defer k8s.DeleteNamespace(t, o, "e2e-training")
		k8s.KubectlApplyFromString(t, o, trainingJob("train-gpu", true)+"---\n"+trainingJob("train-untolerated", false))
		pods := waitJobPods(t, o, "train-gpu", func(p corev1.Pod) bool { return p.Spec.NodeName != "" })
		for _, pod := range pods {
			if !strings.HasPrefix(pod.Spec.NodeName, env.Spec.GPUNodePools[0].Name+"-") {
				t.Errorf("GPU job pod %s ran on %s, not in pool %s", pod.Name, pod.Spec.NodeName, env.Spec.GPUNodePools[0].Name)
			}
		}
		pods = waitJobPods(t, o, "train-untolerated", func(p corev1.Pod) bool { return unschedulable(p) })
		for _, pod := range pods {
			if pod.Spec.NodeName != "" {
				t.Errorf("untolerated GPU job pod %s was scheduled on %s", pod.Name, pod.Spec.NodeName)
			}
		}
	})

	// 3: idempotency.
	t.Run("second up changes nothing", func(t *testing.T) {
		r := p.mustJSON(0, "up", "--stack", "local", "--yes", "--output", "json")
		if changed := changedCount(r.Changes); changed != 0 {
			t.Errorf("second up changed %d resources: %v", changed, r.Changes)
		}
		// Nothing was lost to the interruption: every resource of the
		// program is in the state.
		if n := stackResources(t, root, "local"); r.Changes["same"] != n || n < 50 {
			t.Errorf("no-op up saw %d resources, the state holds %d (want the whole environment, 50+)", r.Changes["same"], n)
		}
		t.Logf("no-op up: %v in %.1fs", r.Changes, r.DurationSeconds)
	})

	// 4: drift behind Plinth's back is found and repaired.
	t.Run("drift found and repaired", func(t *testing.T) {
		tracking := k8s.NewKubectlOptions(localcluster.ContextName, c.Kubeconfig, "plinth-tracking")
		k8s.RunKubectl(t, tracking, "scale", "deployment/mlflow", "--replicas=3")
		r := p.mustJSON(3, "drift", "--stack", "local", "--output", "json")
		if !slices.ContainsFunc(r.Drifted, func(u string) bool { return strings.HasSuffix(u, "kubernetes:apps/v1:Deployment::local-server") }) {
			t.Errorf("drift did not report the scaled MLflow Deployment: %v", r.Drifted)
		}
		p.mustJSON(0, "up", "--stack", "local", "--yes", "--output", "json")
		if got := *k8s.GetDeployment(t, tracking, "mlflow").Spec.Replicas; got != int32(*env.Spec.Tracking.Replicas) {
			t.Errorf("after up, mlflow has %d replicas, want %d", got, *env.Spec.Tracking.Replicas)
		}
		p.mustJSON(0, "drift", "--stack", "local", "--output", "json")
	})

	// 6: destroy leaves nothing.
	t.Run("destroy leaves nothing", func(t *testing.T) {
		r := p.mustJSON(0, "destroy", "--stack", "local", "--yes", "--output", "json")
		if r.Changes["delete"] == 0 {
			t.Errorf("destroy deleted nothing: %v", r.Changes)
		}
		if n := stackResources(t, root, "local"); n != 0 {
			t.Errorf("the stack still has %d resources after destroy", n)
		}
		if left := labelled(t, c, label); len(left) > 0 {
			t.Errorf("%d Plinth objects left in the cluster: %v", len(left), left)
		}
	})

	// 7: a policy-violating variant is refused by the policy pack in the
	// engine before anything is created.
	t.Run("policy pack refuses a violating variant", func(t *testing.T) {
		code, out := p.run("up", "--stack", "local-exposed", "--yes", "--policy-pack", bins.policyPack)
		if code != 1 || !strings.Contains(out, "security.server-auth") {
			t.Fatalf("up of the exposed variant: exit %d, want 1 naming security.server-auth:\n%s", code, out)
		}
		if left := labelled(t, c, label); len(left) > 0 {
			t.Errorf("the refused up created %d objects: %v", len(left), left)
		}
	})
}

// loadLocalBlueprint is blueprints/local.yaml with defaults, as the program sees it.
func loadLocalBlueprint(t *testing.T) *blueprints.Environment {
	t.Helper()
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	env, err := blueprints.Check("local", blueprints.LoadOptions{}, cat)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// projectRoot writes a project (Pulumi.yaml and stacks/Pulumi.<stack>.yaml
// per entry of stackConfigs) in a temporary directory.
func projectRoot(t *testing.T, stackConfigs map[string]string) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{"Pulumi.yaml": "name: plinth\nruntime: go\nstackConfigDir: stacks\n"}
	for stack, cfg := range stackConfigs {
		files[filepath.Join("stacks", "Pulumi."+stack+".yaml")] = cfg
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// plinthCLI runs the plinth binary in a project, keeping everything it printed.
type plinthCLI struct {
	t   *testing.T
	bin string
	dir string
	env []string
	out strings.Builder
}

// result is the --output json of an engine command.
type result struct {
	Changes         map[string]int `json:"changes"`
	Drifted         []string       `json:"drifted"`
	Outputs         map[string]any `json:"outputs"`
	DurationSeconds float64        `json:"durationSeconds"`
}

func (p *plinthCLI) command(args ...string) *exec.Cmd {
	cmd := exec.Command(p.bin, args...)
	cmd.Dir = p.dir
	cmd.Env = p.env
	return cmd
}

// run runs plinth and returns its exit code and combined output.
func (p *plinthCLI) run(args ...string) (int, string) {
	p.t.Helper()
	cmd := p.command(args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	code := exitCode(p.t, err)
	out := stdout.String() + stderr.String()
	p.out.WriteString(out)
	p.t.Logf("plinth %s: exit %d in %s", strings.Join(args, " "), code, time.Since(start).Round(100*time.Millisecond))
	return code, stdout.String() + "\n" + stderr.String()
}

// mustJSON runs an engine command with --output json, fails unless it
// exits with want, and decodes its result.
func (p *plinthCLI) mustJSON(want int, args ...string) result {
	p.t.Helper()
	cmd := p.command(args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	code := exitCode(p.t, cmd.Run())
	p.out.WriteString(stdout.String() + stderr.String())
	p.t.Logf("plinth %s: exit %d in %s", strings.Join(args, " "), code, time.Since(start).Round(100*time.Millisecond))
	if code != want {
		p.t.Fatalf("plinth %s: exit %d, want %d:\n%s\n%s", strings.Join(args, " "), code, want, stdout.String(), stderr.String())
	}
	var r result
	if err := json.Unmarshal([]byte(stdout.String()), &r); err != nil {
		p.t.Fatalf("plinth %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, stdout.String())
	}
	return r
}

// runInterrupted starts plinth, sends it SIGINT (as Ctrl-C does) when its
// progress shows the first Kubernetes resource being created, and returns
// its exit code and output.
func (p *plinthCLI) runInterrupted(args ...string) (int, string) {
	p.t.Helper()
	cmd := p.command(args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stderr)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if !sent && strings.Contains(line, "kubernetes:") && strings.Contains(line, "creating") {
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				p.t.Fatal(err)
			}
			sent = true
		}
	}
	code := exitCode(p.t, cmd.Wait())
	p.out.WriteString(stdout.String() + out.String())
	if !sent {
		p.t.Fatalf("plinth %s never showed a resource being created:\n%s", strings.Join(args, " "), out.String())
	}
	return code, stdout.String() + out.String()
}

// allOutput is everything plinth printed so far.
func (p *plinthCLI) allOutput() string { return p.out.String() }

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// changedCount counts the resources a result changed (anything but same).
func changedCount(changes map[string]int) int {
	n := 0
	for op, c := range changes {
		if op != "same" {
			n += c
		}
	}
	return n
}

// waitPodsScheduled waits until the namespace has want pods, all bound to a node.
func waitPodsScheduled(t *testing.T, o *k8s.KubectlOptions, want int) []corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		pods := k8s.ListPods(t, o, metav1.ListOptions{})
		bound := 0
		for _, p := range pods {
			if p.Spec.NodeName != "" {
				bound++
			}
		}
		if len(pods) >= want && bound == len(pods) {
			return pods
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s: %d pods, %d scheduled, want %d scheduled", o.Namespace, len(pods), bound, want)
		}
		time.Sleep(time.Second)
	}
}

// waitJobPods waits until a job has pods and every one satisfies done.
func waitJobPods(t *testing.T, o *k8s.KubectlOptions, job string, done func(corev1.Pod) bool) []corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		pods := k8s.ListPods(t, o, metav1.ListOptions{LabelSelector: "job-name=" + job})
		if len(pods) > 0 && !slices.ContainsFunc(pods, func(p corev1.Pod) bool { return !done(p) }) {
			return pods
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: pods did not reach the expected state in 60s: %d pods", job, len(pods))
		}
		time.Sleep(time.Second)
	}
}

// unschedulable reports whether the scheduler refused a pod.
func unschedulable(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return true
		}
	}
	return false
}

// trainingJob is a Job asking for one GPU, with or without the toleration
// of the GPU pools' taint.
func trainingJob(name string, tolerate bool) string {
	tol := ""
	if tolerate {
		tol = "      tolerations: [{key: " + localcluster.GPUTaint.Key + ", operator: Exists, effect: NoSchedule}]\n"
	}
	return `apiVersion: batch/v1
kind: Job
metadata: {name: ` + name + `}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
` + tol + `      containers:
        - name: train
          image: registry.example.internal/train:1
          resources: {limits: {nvidia.com/gpu: 1}}
`
}

// stackResources counts the resources in a stack's state (local backend).
func stackResources(t *testing.T, root, stack string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, ".plinth", "state", ".pulumi", "stacks", "plinth", stack+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var cp struct {
		Checkpoint struct {
			Latest struct {
				Resources []json.RawMessage `json:"resources"`
			} `json:"latest"`
		} `json:"checkpoint"`
	}
	if err := json.Unmarshal(data, &cp); err != nil {
		t.Fatal(err)
	}
	return len(cp.Checkpoint.Latest.Resources)
}

// labelled lists every object in the cluster, of every listable kind, that
// carries the selector's label.
func labelled(t *testing.T, c *localcluster.Cluster, selector string) []string {
	t.Helper()
	kinds := strings.Fields(c.Kubectl(t, "api-resources", "--verbs=list", "-o", "name"))
	var found []string
	for _, kind := range kinds {
		if kind == "events" || kind == "events.events.k8s.io" {
			continue
		}
		out, err := c.KubectlE("get", kind, "-A", "-l", selector, "-o", "name", "--ignore-not-found")
		if err != nil {
			t.Fatalf("list %s: %v", kind, err)
		}
		found = append(found, strings.Fields(out)...)
	}
	return found
}
