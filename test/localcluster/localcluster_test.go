package localcluster_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/test/localcluster"
)

// requireTools skips the test when the pinned control plane binaries have
// not been built.
func requireTools(t *testing.T) {
	t.Helper()
	if missing := localcluster.MissingTools("", ""); len(missing) > 0 {
		t.Skipf("toolchain not built (%s missing): run `make tools`", strings.Join(missing, ", "))
	}
}

var (
	cpuNode = localcluster.Node{Name: "cpu-0", CPU: "4", Memory: "16Gi", InstanceType: "m6i.xlarge"}
	gpuNode = localcluster.Node{
		Name: "gpu-0", GPUs: 8, InstanceType: "p4d.24xlarge",
		Taints: []localcluster.Taint{localcluster.GPUTaint},
		Labels: map[string]string{localcluster.PoolLabel: "gpu"},
	}
)

func TestGPUPodScheduling(t *testing.T) {
	requireTools(t)
	c := localcluster.Start(t, localcluster.Options{Dir: t.TempDir(), Nodes: []localcluster.Node{cpuNode, gpuNode}})
	defer c.Stop()
	reportResources(t, c)

	// The GPU node carries its capacity, labels and taint, and is Ready.
	var node struct {
		Metadata struct{ Labels map[string]string }
		Spec     struct {
			Taints []struct{ Key, Value, Effect string }
		}
		Status struct{ Allocatable map[string]string }
	}
	if err := c.GetJSONE("/api/v1/nodes/gpu-0", &node); err != nil {
		t.Fatal(err)
	}
	if got := node.Status.Allocatable[localcluster.GPUResource]; got != "8" {
		t.Errorf("gpu-0 allocatable %s = %q, want 8", localcluster.GPUResource, got)
	}
	if got := node.Metadata.Labels[localcluster.InstanceTypeLabel]; got != "p4d.24xlarge" {
		t.Errorf("gpu-0 label %s = %q, want p4d.24xlarge", localcluster.InstanceTypeLabel, got)
	}
	if len(node.Spec.Taints) != 1 || node.Spec.Taints[0].Key != "nvidia.com/gpu" || node.Spec.Taints[0].Value != "present" || node.Spec.Taints[0].Effect != "NoSchedule" {
		t.Errorf("gpu-0 taints = %+v, want only nvidia.com/gpu=present:NoSchedule", node.Spec.Taints)
	}

	// A pod asking for a GPU and tolerating the taint runs on the GPU node.
	c.KubectlInput(t, gpuPod("trainer", true), "apply", "-f", "-")
	p := waitForPod(t, c, "trainer", 30*time.Second, func(p pod) bool { return p.Status.Phase == "Running" })
	if p.Spec.NodeName != "gpu-0" {
		t.Errorf("pod trainer runs on %q, want gpu-0", p.Spec.NodeName)
	}

	// A pod with no GPU request and no toleration lands on the CPU node.
	c.KubectlInput(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},
		"spec":{"containers":[{"name":"web","image":"registry.invalid/web:1"}]}}`, "apply", "-f", "-")
	p = waitForPod(t, c, "web", 30*time.Second, func(p pod) bool { return p.Status.Phase == "Running" })
	if p.Spec.NodeName != "cpu-0" {
		t.Errorf("pod web runs on %q, want cpu-0 (gpu-0 is tainted)", p.Spec.NodeName)
	}

	// The same GPU pod without the toleration cannot be scheduled anywhere.
	c.KubectlInput(t, gpuPod("intolerant", false), "apply", "-f", "-")
	p = waitForPod(t, c, "intolerant", 30*time.Second, func(p pod) bool {
		return p.condition("PodScheduled").Reason == "Unschedulable"
	})
	msg := p.condition("PodScheduled").Message
	t.Logf("intolerant: PodScheduled=False, Unschedulable: %s", msg)
	if !strings.Contains(msg, "untolerated taint") || !strings.Contains(msg, "nvidia.com/gpu") {
		t.Errorf("unschedulable message %q does not name the untolerated taint or the GPU shortage", msg)
	}
	var events string
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		events = c.Kubectl(t, "get", "events", "--field-selector", "involvedObject.name=intolerant,reason=FailedScheduling",
			"-o", "jsonpath={.items[*].reason}")
		if strings.Contains(events, "FailedScheduling") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(events, "FailedScheduling") {
		t.Errorf("no FailedScheduling event for pod intolerant")
	}
	time.Sleep(2 * time.Second) // still Pending a while later
	if err := c.GetJSONE("/api/v1/namespaces/default/pods/intolerant", &p); err != nil {
		t.Fatal(err)
	}
	if p.Status.Phase != "Pending" || p.Spec.NodeName != "" {
		t.Errorf("pod intolerant is %s on %q, want Pending and unbound", p.Status.Phase, p.Spec.NodeName)
	}
}

func TestStopLeavesNoProcess(t *testing.T) {
	requireTools(t)
	dir := t.TempDir()
	c := localcluster.Start(t, localcluster.Options{Dir: dir})
	pids := c.PIDs()
	if len(pids) != 5 {
		t.Fatalf("PIDs() = %v, want the 5 components", pids)
	}
	for name, pid := range pids {
		if !alive(pid) {
			t.Fatalf("%s (pid %d) is not running before Stop", name, pid)
		}
	}
	start := time.Now()
	c.Stop()
	t.Logf("Stop took %s", time.Since(start).Round(time.Millisecond))
	c.Stop() // a second Stop is harmless
	for name, pid := range pids {
		if alive(pid) {
			t.Errorf("%s (pid %d) still running after Stop", name, pid)
		}
	}
	// A Dir the caller gave is left in place, logs included.
	for name := range pids {
		if _, err := os.Stat(filepath.Join(dir, "logs", name+".log")); err != nil {
			t.Errorf("log of %s: %v", name, err)
		}
	}
	// and a second plane is not started over the first one's data.
	if _, err := localcluster.StartE(t, localcluster.Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "already holds a control plane") {
		t.Errorf("StartE over an old plane's Dir: err = %v", err)
	}
}

func TestStopRemovesOnlyItsOwnTempDir(t *testing.T) {
	requireTools(t)
	c := localcluster.Start(t, localcluster.Options{})
	dir := c.Dir
	if _, err := os.Stat(c.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	c.Stop()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary Dir %s left behind after Stop (stat: %v)", dir, err)
	}
}

func TestStartFailureNamesComponentAndShowsLog(t *testing.T) {
	requireTools(t)
	// A tools directory whose kube-apiserver fails at once, the others real.
	bins, err := localcluster.FindBinaries("")
	if err != nil {
		t.Fatal(err)
	}
	tools := t.TempDir()
	for name, path := range bins {
		if name == localcluster.KubeAPIServer {
			continue
		}
		if err := os.Symlink(path, filepath.Join(tools, name)); err != nil {
			t.Fatal(err)
		}
	}
	script := "#!/bin/sh\necho 'E0101 fake failure: bad flag --etcd-servers' >&2\nexit 3\n"
	if err := os.WriteFile(filepath.Join(tools, localcluster.KubeAPIServer), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err = localcluster.StartE(t, localcluster.Options{Dir: dir, Tools: tools})
	if err == nil {
		t.Fatal("StartE succeeded with a failing kube-apiserver")
	}
	t.Logf("StartE error:\n%v", err)
	for _, want := range []string{"kube-apiserver exited during start-up", "exit status 3", "fake failure: bad flag", filepath.Join(dir, "logs", "kube-apiserver.log")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q", want)
		}
	}
	// etcd, started before it, was stopped again.
	if out, _ := os.ReadFile(filepath.Join(dir, "logs", "etcd.log")); len(out) == 0 {
		t.Errorf("etcd log is empty: was etcd started?")
	}
}

func TestMissingToolsSaysWhat(t *testing.T) {
	missing := localcluster.MissingTools(t.TempDir(), "")
	if len(missing) != 5 {
		t.Errorf("MissingTools(empty dir) = %v, want the 5 components", missing)
	}
	_, err := localcluster.StartE(nil, localcluster.Options{Dir: t.TempDir(), Tools: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "run `make tools`") {
		t.Errorf("StartE with no binaries: error %v, want one saying to run `make tools`", err)
	}
}

func TestNodesFromPoolsLocalBlueprint(t *testing.T) {
	env, err := blueprints.Load("../../blueprints/local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env.Defaults(nil)
	nodes, err := localcluster.NodesFromPools(env.Spec.Cluster.SystemPool, env.Spec.GPUNodePools, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 {
		t.Fatalf("got %d nodes, want system-0 and gpu-0: %+v", len(nodes), nodes)
	}
	sys, gpu := nodes[0], nodes[1]
	if sys.Name != "system-0" || sys.InstanceType != "m6i.large" || sys.CPU != "2" || sys.Memory != "8Gi" || sys.GPUs != 0 ||
		sys.Labels[localcluster.PoolLabel] != "system" || len(sys.Taints) != 0 {
		t.Errorf("system node = %+v", sys)
	}
	if gpu.Name != "gpu-0" || gpu.InstanceType != "p4d.24xlarge" || gpu.GPUs != 8 || gpu.CPU != "96" ||
		gpu.Labels[localcluster.PoolLabel] != "gpu" || gpu.Labels["workload"] != "training" || gpu.Labels["nvidia.com/gpu.product"] != "A100" {
		t.Errorf("GPU node = %+v", gpu)
	}
	if len(gpu.Taints) != 1 || gpu.Taints[0] != localcluster.GPUTaint {
		t.Errorf("GPU node taints = %+v, want [%+v]", gpu.Taints, localcluster.GPUTaint)
	}
}

func TestNodesFromPoolsCyclesInstanceTypesAndKeepsTaints(t *testing.T) {
	three := 3
	pools := []blueprints.GPUNodePool{{
		Name: "infer", InstanceTypes: []string{"g6.xlarge", "g6.12xlarge"}, MinSize: &three,
		Taints: []blueprints.Taint{{Key: "dedicated", Value: "inference", Effect: "NoExecute"}},
	}}
	nodes, err := localcluster.NodesFromPools(nil, pools, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range nodes {
		got = append(got, fmt.Sprintf("%s:%s:%d:%v", n.Name, n.InstanceType, n.GPUs, n.Taints))
	}
	want := []string{
		"infer-0:g6.xlarge:1:[{dedicated inference NoExecute}]",
		"infer-1:g6.12xlarge:4:[{dedicated inference NoExecute}]",
		"infer-2:g6.xlarge:1:[{dedicated inference NoExecute}]",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("nodes:\n got %v\nwant %v", got, want)
	}
	if _, err := localcluster.NodesFromPools(nil, []blueprints.GPUNodePool{{Name: "x", InstanceTypes: []string{"z9.huge"}}}, nil); err == nil ||
		!strings.Contains(err.Error(), `"z9.huge" is not in the catalogue`) {
		t.Errorf("unknown instance type: err = %v", err)
	}
}

// pod is the part of a Pod the tests read.
type pod struct {
	Spec struct {
		NodeName string `json:"nodeName"`
	} `json:"spec"`
	Status struct {
		Phase      string `json:"phase"`
		Conditions []condition
	} `json:"status"`
}

type condition struct{ Type, Status, Reason, Message string }

func (p pod) condition(typ string) condition {
	for _, c := range p.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return condition{}
}

func waitForPod(t *testing.T, c *localcluster.Cluster, name string, timeout time.Duration, ok func(pod) bool) pod {
	t.Helper()
	start := time.Now()
	var p pod
	for {
		err := c.GetJSONE("/api/v1/namespaces/default/pods/"+name, &p)
		if err == nil && ok(p) {
			t.Logf("pod %s: phase %s on %q after %s", name, p.Status.Phase, p.Spec.NodeName, time.Since(start).Round(time.Millisecond))
			return p
		}
		if time.Since(start) > timeout {
			t.Fatalf("pod %s: condition not met after %s (last: %+v, err %v)", name, timeout, p, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gpuPod is a pod asking for one GPU, tolerating the GPU taint or not.
func gpuPod(name string, tolerate bool) string {
	tol := ""
	if tolerate {
		tol = `,"tolerations":[{"key":"nvidia.com/gpu","operator":"Equal","value":"present","effect":"NoSchedule"}]`
	}
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},
		"spec":{"containers":[{"name":"train","image":"registry.invalid/train:1",
		"resources":{"limits":{"nvidia.com/gpu":"1"}}}]%s}}`, name, tol)
}

// reportResources logs the start-up time and each component's resident memory.
func reportResources(t *testing.T, c *localcluster.Cluster) {
	t.Helper()
	total := 0
	var parts []string
	for name, pid := range c.PIDs() {
		kb := rssKB(pid)
		total += kb
		parts = append(parts, fmt.Sprintf("%s %d MiB", name, kb/1024))
	}
	t.Logf("start-up %s (plus nodes Ready); RSS total %d MiB: %s", c.StartupTime.Round(time.Millisecond), total/1024, strings.Join(parts, ", "))
}

func rssKB(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// alive reports whether a process with this pid exists (zombies included,
// so a component Stop forgot to reap would count as alive).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
