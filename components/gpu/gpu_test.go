package gpu

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/blueprints/versions"
	"github.com/plinth-dev/plinth/components/k8snamespace"
	"github.com/plinth-dev/plinth/policies"
	"github.com/plinth-dev/plinth/stacks/plan"
)

// Type tokens the tests look for.
const (
	typeDaemonSet      = "kubernetes:apps/v1:DaemonSet"
	typeConfigMap      = "kubernetes:core/v1:ConfigMap"
	typeService        = "kubernetes:core/v1:Service"
	typeServiceAccount = "kubernetes:core/v1:ServiceAccount"
	typeNamespace      = "kubernetes:core/v1:Namespace"
	typeNetworkPolicy  = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	typeServiceMonitor = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
)

const poolLabel = "plinth.dev/pool"

// Nodes the scheduling tests place daemons on.
var (
	gpuTaint = taint{"nvidia.com/gpu", "present", "NoSchedule"}
	// cpuNode is a system node: no pool selects it.
	cpuNode = node{name: "system", labels: map[string]string{poolLabel: "system", "kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": "m7i.xlarge"}}
	// unlabelledNode carries no pool label at all.
	unlabelledNode = node{name: "bare", labels: map[string]string{"kubernetes.io/os": "linux"}}
)

type node struct {
	name   string
	labels map[string]string
	taints []taint
}

type taint struct{ key, value, effect string }

func gpuNode(pool string, extra map[string]string, taints ...taint) node {
	labels := map[string]string{poolLabel: pool, "kubernetes.io/os": "linux", "nvidia.com/gpu.present": "true"}
	maps.Copy(labels, extra)
	if len(taints) == 0 {
		taints = []taint{gpuTaint}
	}
	return node{name: pool, labels: labels, taints: taints}
}

func pool(name string, mods ...func(*Pool)) Pool {
	p := Pool{Name: name, NodeSelector: map[string]string{poolLabel: name}}
	for _, m := range mods {
		m(&p)
	}
	return p
}

func timeSlicing(n int) func(*Pool) {
	return func(p *Pool) { p.Sharing, p.Replicas = SharingTimeSlicing, n }
}

func mig(p *Pool) { p.Sharing = SharingMIG }

func run(t *testing.T, args GPUArgs) *plan.Graph {
	t.Helper()
	g, err := plan.Run(func(ctx *pulumi.Context) error {
		_, err := NewGPU(ctx, "dev", &args)
		return err
	}, plan.Options{})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return g
}

// byName returns the object of a type with a Kubernetes name, or nil.
func byName(g *plan.Graph, typ, name string) *plan.Resource {
	for _, r := range g.ByType(typ) {
		if str(r.Inputs, "metadata", "name") == name {
			return r
		}
	}
	return nil
}

func mustByName(t *testing.T, g *plan.Graph, typ, name string) *plan.Resource {
	t.Helper()
	r := byName(g, typ, name)
	if r == nil {
		t.Fatalf("no %s named %s", typ, name)
	}
	return r
}

// at walks nested maps.
func at(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

func str(v any, keys ...string) string { s, _ := at(v, keys...).(string); return s }

func list(v any, keys ...string) []any { l, _ := at(v, keys...).([]any); return l }

func podSpec(ds *plan.Resource) any { return at(ds.Inputs, "spec", "template", "spec") }

func container(ds *plan.Resource) any { return list(podSpec(ds), "containers")[0] }

func env(ds *plan.Resource) map[string]string {
	out := map[string]string{}
	for _, e := range list(container(ds), "env") {
		out[str(e, "name")] = str(e, "value")
	}
	return out
}

// schedulable reports whether the kube-scheduler would place a pod of ds
// on n: the required node affinity matches n's labels and every NoSchedule
// or NoExecute taint of n is tolerated.
func schedulable(t *testing.T, ds *plan.Resource, n node) bool {
	t.Helper()
	return matchesAffinity(t, nodeSelectorTerms(ds), n.labels) && tolerated(list(podSpec(ds), "tolerations"), n.taints)
}

func nodeSelectorTerms(ds *plan.Resource) []any {
	return list(podSpec(ds), "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
}

// matchesAffinity is the scheduler's nodeSelectorTerms rule: terms are
// OR-ed, a term's expressions AND-ed; no terms matches no node.
func matchesAffinity(t *testing.T, terms []any, labels map[string]string) bool {
	t.Helper()
	for _, term := range terms {
		if list(term, "matchFields") != nil {
			t.Fatalf("unexpected matchFields in %v", term)
		}
		exprs := list(term, "matchExpressions")
		ok := len(exprs) > 0
		for _, e := range exprs {
			v, has := labels[str(e, "key")]
			var values []string
			for _, x := range list(e, "values") {
				values = append(values, x.(string))
			}
			switch op := str(e, "operator"); op {
			case "In":
				ok = ok && has && slices.Contains(values, v)
			case "NotIn":
				ok = ok && !(has && slices.Contains(values, v))
			case "Exists":
				ok = ok && has
			case "DoesNotExist":
				ok = ok && !has
			default:
				t.Fatalf("operator %s not simulated", op)
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// tolerated is the scheduler's taint rule for NoSchedule and NoExecute.
func tolerated(tolerations []any, taints []taint) bool {
	for _, tn := range taints {
		if tn.effect == "PreferNoSchedule" {
			continue
		}
		ok := false
		for _, tol := range tolerations {
			effect := str(tol, "effect")
			if str(tol, "key") != tn.key || effect != "" && effect != tn.effect {
				continue
			}
			switch str(tol, "operator") {
			case "Exists":
				ok = true
			case "Equal", "":
				ok = ok || str(tol, "value") == tn.value
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// selectorsOf returns each node selector term as a label map (In with one value).
func selectorsOf(t *testing.T, terms []any) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, term := range terms {
		m := map[string]string{}
		for _, e := range list(term, "matchExpressions") {
			if vals := list(e, "values"); str(e, "operator") != "In" || len(vals) != 1 {
				t.Fatalf("term expression %v is not key In [value]", e)
			}
			m[str(e, "key")] = list(e, "values")[0].(string)
		}
		out = append(out, m)
	}
	return out
}

func TestScheduling(t *testing.T) {
	train := pool("train")
	infer := pool("infer", timeSlicing(4))
	twoLabels := Pool{Name: "a100", NodeSelector: map[string]string{poolLabel: "a100", "eks.amazonaws.com/nodegroup": "dev-a100"}, Sharing: SharingMIG}
	dedicated := pool("dedicated", func(p *Pool) { p.Tolerations = []Toleration{{Key: "dedicated", Value: "ml", Effect: "NoSchedule"}} })
	anyValue := pool("spot", func(p *Pool) { p.Tolerations = []Toleration{{Key: "spot"}} })

	tests := []struct {
		name  string
		pools []Pool
		// on maps a device plugin DaemonSet to the nodes it must run on;
		// off to nodes it must never run on.
		on, off map[string][]node
		// dcgmOn and dcgmOff are the same for the DCGM exporter.
		dcgmOn, dcgmOff []node
	}{
		{
			name:    "one pool with the default GPU taint",
			pools:   []Pool{train},
			on:      map[string][]node{"train": {gpuNode("train", nil)}},
			off:     map[string][]node{"train": {cpuNode, unlabelledNode, gpuNode("other", nil)}},
			dcgmOn:  []node{gpuNode("train", nil)},
			dcgmOff: []node{cpuNode, unlabelledNode},
		},
		{
			name:    "two pools: each plugin on its own pool, DCGM on both",
			pools:   []Pool{train, infer},
			on:      map[string][]node{"train": {gpuNode("train", nil)}, "infer": {gpuNode("infer", nil)}},
			off:     map[string][]node{"train": {gpuNode("infer", nil), cpuNode}, "infer": {gpuNode("train", nil), cpuNode}},
			dcgmOn:  []node{gpuNode("train", nil), gpuNode("infer", nil)},
			dcgmOff: []node{cpuNode, unlabelledNode},
		},
		{
			name:  "a selector of two labels needs both",
			pools: []Pool{twoLabels},
			on:    map[string][]node{"a100": {gpuNode("a100", map[string]string{"eks.amazonaws.com/nodegroup": "dev-a100"})}},
			off: map[string][]node{"a100": {
				gpuNode("a100", nil), // pool label only
				{name: "nodegroup-only", labels: map[string]string{"eks.amazonaws.com/nodegroup": "dev-a100"}, taints: []taint{gpuTaint}},
				cpuNode,
			}},
			dcgmOn:  []node{gpuNode("a100", map[string]string{"eks.amazonaws.com/nodegroup": "dev-a100"})},
			dcgmOff: []node{gpuNode("a100", nil), cpuNode},
		},
		{
			name:    "a pool's own tolerations replace the default",
			pools:   []Pool{dedicated},
			on:      map[string][]node{"dedicated": {gpuNode("dedicated", nil, taint{"dedicated", "ml", "NoSchedule"})}},
			off:     map[string][]node{"dedicated": {gpuNode("dedicated", nil, gpuTaint), gpuNode("dedicated", nil, taint{"dedicated", "batch", "NoSchedule"})}},
			dcgmOn:  []node{gpuNode("dedicated", nil, taint{"dedicated", "ml", "NoSchedule"})},
			dcgmOff: []node{gpuNode("dedicated", nil, gpuTaint), cpuNode},
		},
		{
			name:   "a toleration without a value tolerates any value",
			pools:  []Pool{anyValue},
			on:     map[string][]node{"spot": {gpuNode("spot", nil, taint{"spot", "true", "NoSchedule"}), gpuNode("spot", nil, taint{"spot", "x", "NoExecute"})}},
			off:    map[string][]node{"spot": {gpuNode("spot", nil, gpuTaint)}},
			dcgmOn: []node{gpuNode("spot", nil, taint{"spot", "true", "NoSchedule"})},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := run(t, GPUArgs{Environment: "dev", Pools: tt.pools, DCGM: true})
			if got, want := len(g.ByType(typeDaemonSet)), len(tt.pools)+1; got != want {
				t.Errorf("%d DaemonSets, want one per pool and DCGM's (%d)", got, want)
			}
			for _, p := range tt.pools {
				ds := mustByName(t, g, typeDaemonSet, "nvidia-device-plugin-"+p.Name)
				// The affinity requires exactly this pool's selector.
				sels := selectorsOf(t, nodeSelectorTerms(ds))
				if len(sels) != 1 || !maps.Equal(sels[0], p.NodeSelector) {
					t.Errorf("%s: node selector terms %v, want exactly %v", p.Name, sels, p.NodeSelector)
				}
				if len(list(podSpec(ds), "tolerations")) == 0 {
					t.Errorf("%s: no tolerations", p.Name)
				}
				for _, n := range tt.on[p.Name] {
					if !schedulable(t, ds, n) {
						t.Errorf("%s: device plugin does not run on node %s %v %v", p.Name, n.name, n.labels, n.taints)
					}
				}
				for _, n := range tt.off[p.Name] {
					if schedulable(t, ds, n) {
						t.Errorf("%s: device plugin runs on node %s %v %v", p.Name, n.name, n.labels, n.taints)
					}
				}
			}
			dcgm := mustByName(t, g, typeDaemonSet, dcgmExporterName)
			var want []map[string]string
			for _, p := range tt.pools {
				want = append(want, p.NodeSelector)
			}
			if got := selectorsOf(t, nodeSelectorTerms(dcgm)); !slices.EqualFunc(got, want, maps.Equal) {
				t.Errorf("DCGM node selector terms %v, want the pools' %v", got, want)
			}
			for _, n := range tt.dcgmOn {
				if !schedulable(t, dcgm, n) {
					t.Errorf("DCGM does not run on node %s %v %v", n.name, n.labels, n.taints)
				}
			}
			for _, n := range tt.dcgmOff {
				if schedulable(t, dcgm, n) {
					t.Errorf("DCGM runs on node %s %v %v", n.name, n.labels, n.taints)
				}
			}
		})
	}
}

// TestSimulator checks the scheduling simulation itself, so a test above
// cannot pass because the simulation matches nothing (or everything).
func TestSimulator(t *testing.T) {
	term := map[string]any{"matchExpressions": []any{
		map[string]any{"key": poolLabel, "operator": "In", "values": []any{"train"}},
	}}
	if !matchesAffinity(t, []any{term}, map[string]string{poolLabel: "train"}) {
		t.Error("a matching node does not match")
	}
	if matchesAffinity(t, []any{term}, cpuNode.labels) {
		t.Error("a CPU node matches")
	}
	if matchesAffinity(t, nil, cpuNode.labels) {
		t.Error("no terms match a node")
	}
	tol := []any{map[string]any{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}}
	if !tolerated(tol, []taint{gpuTaint}) || tolerated(tol, []taint{{"nvidia.com/gpu", "absent", "NoSchedule"}}) || tolerated(nil, []taint{gpuTaint}) {
		t.Error("toleration simulation is wrong")
	}
}

func TestDevicePluginConfig(t *testing.T) {
	tests := []struct {
		name     string
		pool     Pool
		replicas int    // time-slicing replicas expected in the config; 0 for none
		strategy string // MIG strategy expected in the config
		sysAdmin bool
	}{
		{name: "whole GPUs: no config", pool: pool("train")},
		{name: "sharing \"\" is whole GPUs", pool: pool("train", func(p *Pool) { p.Sharing = "" })},
		{name: "time-slicing 4", pool: pool("infer", timeSlicing(4)), replicas: 4},
		{name: "time-slicing 48", pool: pool("infer", timeSlicing(48)), replicas: 48},
		{name: "mig", pool: pool("a100", mig), strategy: "single", sysAdmin: true},
	}
	hashes := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := run(t, GPUArgs{Pools: []Pool{tt.pool}})
			dsName := "nvidia-device-plugin-" + tt.pool.Name
			ds := mustByName(t, g, typeDaemonSet, dsName)
			cm := byName(g, typeConfigMap, dsName)
			e := env(ds)
			hash := str(ds.Inputs, "spec", "template", "metadata", "annotations", configHashKey)
			mounted := false
			for _, v := range list(podSpec(ds), "volumes") {
				mounted = mounted || str(v, "configMap", "name") == dsName
			}

			if tt.replicas == 0 && tt.strategy == "" {
				if cm != nil || e["CONFIG_FILE"] != "" || mounted || hash != "" {
					t.Fatalf("whole GPUs need no config: config map %v, CONFIG_FILE %q, mounted %v, hash %q", cm != nil, e["CONFIG_FILE"], mounted, hash)
				}
			} else {
				if cm == nil {
					t.Fatal("no config map")
				}
				if !mounted || e["CONFIG_FILE"] != configDir+"/"+configFile || hash == "" {
					t.Errorf("config not wired: mounted %v, CONFIG_FILE %q, hash %q", mounted, e["CONFIG_FILE"], hash)
				}
				var cfg struct {
					Version string `yaml:"version"`
					Flags   struct {
						MigStrategy string `yaml:"migStrategy"`
					} `yaml:"flags"`
					Sharing struct {
						TimeSlicing struct {
							Resources []struct {
								Name     string `yaml:"name"`
								Replicas int    `yaml:"replicas"`
							} `yaml:"resources"`
						} `yaml:"timeSlicing"`
					} `yaml:"sharing"`
				}
				dec := yaml.NewDecoder(strings.NewReader(str(cm.Inputs, "data", configFile)))
				dec.KnownFields(true)
				if err := dec.Decode(&cfg); err != nil {
					t.Fatalf("config: %v", err)
				}
				if cfg.Version != "v1" {
					t.Errorf("config version %q", cfg.Version)
				}
				res := cfg.Sharing.TimeSlicing.Resources
				if tt.replicas > 0 && (len(res) != 1 || res[0].Name != GPUResource || res[0].Replicas != tt.replicas) {
					t.Errorf("time-slicing resources %+v, want %s x%d", res, GPUResource, tt.replicas)
				}
				if tt.replicas == 0 && len(res) != 0 {
					t.Errorf("time-slicing resources %+v without time-slicing", res)
				}
				if cfg.Flags.MigStrategy != tt.strategy {
					t.Errorf("migStrategy %q, want %q", cfg.Flags.MigStrategy, tt.strategy)
				}
				for other, h := range hashes {
					if h == hash {
						t.Errorf("config hash equals that of %s", other)
					}
				}
				hashes[tt.name] = hash
			}

			var added []string
			for _, c := range list(container(ds), "securityContext", "capabilities", "add") {
				added = append(added, c.(string))
			}
			if got := slices.Equal(added, []string{"SYS_ADMIN"}); got != tt.sysAdmin {
				t.Errorf("capabilities added %v, SYS_ADMIN wanted: %v", added, tt.sysAdmin)
			}
			if got := e["NVIDIA_MIG_MONITOR_DEVICES"] == "all"; got != (tt.strategy != "") {
				t.Errorf("NVIDIA_MIG_MONITOR_DEVICES = %q", e["NVIDIA_MIG_MONITOR_DEVICES"])
			}
		})
	}
}

func TestDevicePluginPod(t *testing.T) {
	g := run(t, GPUArgs{Environment: "dev", Pools: []Pool{pool("train")}})
	ds := mustByName(t, g, typeDaemonSet, "nvidia-device-plugin-train")
	spec := podSpec(ds)
	if got := str(spec, "priorityClassName"); got != "system-node-critical" {
		t.Errorf("priorityClassName %q", got)
	}
	if got, want := str(container(ds), "image"), versions.Get().Images["nvidia-device-plugin"].Ref(); got != want {
		t.Errorf("image %q, want the pin %q", got, want)
	}
	hostPaths := map[string]string{}
	for _, v := range list(spec, "volumes") {
		if p := str(v, "hostPath", "path"); p != "" {
			hostPaths[str(v, "name")] = p
		}
	}
	if !maps.Equal(hostPaths, map[string]string{"device-plugins": devicePluginsDir}) {
		t.Errorf("host paths %v, want only the device plugin socket directory", hostPaths)
	}
	mounted := false
	for _, m := range list(container(ds), "volumeMounts") {
		mounted = mounted || str(m, "name") == "device-plugins" && str(m, "mountPath") == devicePluginsDir
	}
	if !mounted {
		t.Error("device plugin directory not mounted")
	}
	for _, kind := range []string{"requests", "limits"} {
		r := at(container(ds), "resources", kind)
		if str(r, "cpu") == "" || str(r, "memory") == "" {
			t.Errorf("resources.%s = %v", kind, r)
		}
	}
	sc := at(container(ds), "securityContext")
	if at(sc, "allowPrivilegeEscalation") != false || !slices.Equal(list(sc, "capabilities", "drop"), []any{"ALL"}) || at(sc, "privileged") != nil {
		t.Errorf("security context %v", sc)
	}
	if at(spec, "automountServiceAccountToken") != false || str(spec, "serviceAccountName") != devicePluginName {
		t.Errorf("service account: %v, automount %v", at(spec, "serviceAccountName"), at(spec, "automountServiceAccountToken"))
	}
	sa := mustByName(t, g, typeServiceAccount, devicePluginName)
	if at(sa.Inputs, "automountServiceAccountToken") != false {
		t.Error("service account mounts its token")
	}
}

func TestDCGM(t *testing.T) {
	tests := []struct {
		name   string
		dcgm   bool
		labels map[string]string
	}{
		{name: "on, with the monitoring release label", dcgm: true, labels: map[string]string{"release": "plinth-monitoring"}},
		{name: "on, no extra labels", dcgm: true},
		{name: "off", dcgm: false, labels: map[string]string{"release": "plinth-monitoring"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := run(t, GPUArgs{Environment: "dev", Pools: []Pool{pool("train"), pool("infer", timeSlicing(4))}, DCGM: tt.dcgm, ServiceMonitorLabels: tt.labels})
			ds := byName(g, typeDaemonSet, dcgmExporterName)
			svc := byName(g, typeService, dcgmExporterName)
			sm := byName(g, typeServiceMonitor, dcgmExporterName)
			if !tt.dcgm {
				if ds != nil || svc != nil || sm != nil || len(g.ByType(typeServiceMonitor)) != 0 || byName(g, typeServiceAccount, dcgmExporterName) != nil {
					t.Fatalf("DCGM off, yet DaemonSet %v, Service %v, ServiceMonitor %v", ds != nil, svc != nil, sm != nil)
				}
				if got := len(g.ByType(typeDaemonSet)); got != 2 {
					t.Errorf("%d DaemonSets, want the 2 device plugins", got)
				}
				return
			}
			if ds == nil || svc == nil || sm == nil {
				t.Fatalf("DCGM on, yet DaemonSet %v, Service %v, ServiceMonitor %v", ds != nil, svc != nil, sm != nil)
			}

			// The exporter.
			c := container(ds)
			if got, want := str(c, "image"), versions.Get().Images["dcgm-exporter"].Ref(); got != want {
				t.Errorf("image %q, want the pin %q", got, want)
			}
			ports := list(c, "ports")
			if len(ports) != 1 || str(ports[0], "name") != MetricsPortName || at(ports[0], "containerPort") != float64(MetricsPort) {
				t.Errorf("ports %v", ports)
			}
			if e := env(ds); e["DCGM_EXPORTER_KUBERNETES"] != "true" {
				t.Errorf("DCGM_EXPORTER_KUBERNETES = %q", e["DCGM_EXPORTER_KUBERNETES"])
			}
			for _, kind := range []string{"requests", "limits"} {
				if r := at(c, "resources", kind); str(r, "cpu") == "" || str(r, "memory") == "" {
					t.Errorf("resources.%s = %v", kind, r)
				}
			}
			if at(podSpec(ds), "automountServiceAccountToken") != false {
				t.Error("DCGM pods mount a service account token")
			}
			if at(podSpec(ds), "priorityClassName") != nil {
				t.Error("DCGM is not node-critical")
			}

			// The Service sends port 9400 to the exporter's pods.
			if got := str(svc.Inputs, "spec", "type"); got != "ClusterIP" {
				t.Errorf("service type %q", got)
			}
			sp := list(svc.Inputs, "spec", "ports")
			if len(sp) != 1 || at(sp[0], "port") != float64(MetricsPort) || str(sp[0], "name") != MetricsPortName {
				t.Errorf("service ports %v", sp)
			}
			podLabels, _ := at(ds.Inputs, "spec", "template", "metadata", "labels").(map[string]any)
			for k, v := range at(svc.Inputs, "spec", "selector").(map[string]any) {
				if podLabels[k] != v {
					t.Errorf("service selector %s=%v does not select the exporter's pods %v", k, v, podLabels)
				}
			}

			// The ServiceMonitor scrapes the Service and carries the labels.
			eps := list(sm.Inputs, "spec", "endpoints")
			if len(eps) != 1 || str(eps[0], "port") != MetricsPortName || str(eps[0], "interval") != "30s" {
				t.Errorf("endpoints %v", eps)
			}
			svcLabels, _ := at(svc.Inputs, "metadata", "labels").(map[string]any)
			for k, v := range at(sm.Inputs, "spec", "selector", "matchLabels").(map[string]any) {
				if svcLabels[k] != v {
					t.Errorf("ServiceMonitor selector %s=%v does not select the Service %v", k, v, svcLabels)
				}
			}
			if got := str(sm.Inputs, "apiVersion"); got != "monitoring.coreos.com/v1" {
				t.Errorf("apiVersion %q", got)
			}
			smLabels, _ := at(sm.Inputs, "metadata", "labels").(map[string]any)
			want := map[string]any{k8snamespace.ManagedByLabel: k8snamespace.ManagedBy, k8snamespace.EnvironmentLabel: "dev", labelName: dcgmExporterName, labelComponent: "gpu-metrics"}
			for k, v := range tt.labels {
				want[k] = v
			}
			if !maps.Equal(smLabels, want) {
				t.Errorf("ServiceMonitor labels %v, want %v", smLabels, want)
			}
		})
	}
}

func TestNamespace(t *testing.T) {
	tests := []struct {
		name                 string
		args                 GPUArgs
		namespace, promNS    string
		wantAllowFromMonitor bool
	}{
		{name: "defaults, DCGM on", args: GPUArgs{DCGM: true}, namespace: DefaultNamespace, promNS: DefaultMonitoringNamespace, wantAllowFromMonitor: true},
		{name: "own namespaces", args: GPUArgs{Namespace: "gpu", MonitoringNamespace: "prometheus", DCGM: true}, namespace: "gpu", promNS: "prometheus", wantAllowFromMonitor: true},
		{name: "DCGM off: deny all, allow nothing", args: GPUArgs{}, namespace: DefaultNamespace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.args.Environment = "dev"
			tt.args.Pools = []Pool{pool("train")}
			g := run(t, tt.args)
			ns := g.ByType(typeNamespace)
			if len(ns) != 1 || str(ns[0].Inputs, "metadata", "name") != tt.namespace {
				t.Fatalf("namespaces %v", ns)
			}
			for _, mode := range []string{"enforce", "audit", "warn"} {
				if got := str(ns[0].Inputs, "metadata", "labels", "pod-security.kubernetes.io/"+mode); got != k8snamespace.Privileged {
					t.Errorf("pod-security %s = %q, want privileged", mode, got)
				}
			}
			deny := byName(g, typeNetworkPolicy, "default-deny")
			if deny == nil || len(at(deny.Inputs, "spec", "podSelector").(map[string]any)) != 0 || len(list(deny.Inputs, "spec", "ingress")) != 0 {
				t.Fatalf("no default-deny policy over every pod: %v", deny)
			}
			for _, r := range g.Resources {
				if r.Custom && r.Type != typeNamespace && str(r.Inputs, "metadata", "namespace") != tt.namespace {
					t.Errorf("%s %s is in namespace %q, not %s", r.Type, r.Name, str(r.Inputs, "metadata", "namespace"), tt.namespace)
				}
			}

			allow := byName(g, typeNetworkPolicy, dcgmExporterName+"-metrics")
			if !tt.wantAllowFromMonitor {
				if allow != nil || len(g.ByType(typeNetworkPolicy)) != 1 {
					t.Fatalf("network policies %d, want only default-deny", len(g.ByType(typeNetworkPolicy)))
				}
				return
			}
			if allow == nil {
				t.Fatal("no network policy admitting Prometheus")
			}
			spec := at(allow.Inputs, "spec")
			if got := str(spec, "podSelector", "matchLabels", labelName); got != dcgmExporterName {
				t.Errorf("policy selects %q", got)
			}
			rules := list(spec, "ingress")
			if len(rules) != 1 || len(list(spec, "egress")) != 0 {
				t.Fatalf("rules %v", spec)
			}
			from := list(rules[0], "from")
			if len(from) != 1 || str(from[0], "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name") != tt.promNS || at(from[0], "podSelector") != nil {
				t.Errorf("from %v, want namespace %s", from, tt.promNS)
			}
			ports := list(rules[0], "ports")
			if len(ports) != 1 || at(ports[0], "port") != float64(MetricsPort) || str(ports[0], "protocol") != "TCP" {
				t.Errorf("ports %v", ports)
			}
		})
	}
}

func TestLabelsAndExemptions(t *testing.T) {
	g := run(t, GPUArgs{Environment: "prod", Pools: []Pool{pool("train"), pool("infer", timeSlicing(8)), pool("a100", mig)}, DCGM: true})
	workloads := g.ByType(typeDaemonSet)
	if len(workloads) != 4 {
		t.Fatalf("%d DaemonSets", len(workloads))
	}
	for _, ds := range workloads {
		want := DevicePluginReason
		if str(ds.Inputs, "metadata", "name") == dcgmExporterName {
			want = DCGMExporterReason
		}
		for _, meta := range []any{at(ds.Inputs, "metadata"), at(ds.Inputs, "spec", "template", "metadata")} {
			if got := str(meta, "annotations", PrivilegedReasonKey); got != want {
				t.Errorf("%s: %s = %q, want %q", ds.Name, PrivilegedReasonKey, got, want)
			}
		}
		// The selector is part of the pod labels, and no two DaemonSets
		// select the same pods.
		sel, _ := at(ds.Inputs, "spec", "selector", "matchLabels").(map[string]any)
		pods, _ := at(ds.Inputs, "spec", "template", "metadata", "labels").(map[string]any)
		for k, v := range sel {
			if pods[k] != v {
				t.Errorf("%s: selector %s=%v not on its pods", ds.Name, k, v)
			}
		}
		for _, other := range workloads {
			otherPods, _ := at(other.Inputs, "spec", "template", "metadata", "labels").(map[string]any)
			if other != ds && selects(sel, otherPods) {
				t.Errorf("%s's selector %v selects %s's pods", ds.Name, sel, other.Name)
			}
		}
	}
	for _, r := range g.Resources {
		if !r.Custom {
			continue
		}
		labels, _ := at(r.Inputs, "metadata", "labels").(map[string]any)
		if labels[k8snamespace.ManagedByLabel] != k8snamespace.ManagedBy || labels[k8snamespace.EnvironmentLabel] != "prod" {
			t.Errorf("%s %s labels %v lack Plinth's", r.Type, r.Name, labels)
		}
		if r.Type != typeNamespace && !strings.HasSuffix(r.Name, "default-deny") && (labels[labelName] == nil || labels[labelComponent] == nil) {
			t.Errorf("%s %s labels %v lack app.kubernetes.io/name and component", r.Type, r.Name, labels)
		}
	}
}

func selects(sel, labels map[string]any) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// policyInput is the neutral view of a plan that Plinth's policies read.
func policyInput(g *plan.Graph, class string) *policies.Input {
	in := &policies.Input{Environment: policies.Environment{Name: "ml-prod", Class: class, Provider: "kubernetes", Stack: "prod"}}
	for _, r := range g.Resources {
		in.Resources = append(in.Resources, &policies.Resource{URN: r.URN, Type: r.Type, Name: r.Name, Parent: r.Parent, Inputs: r.Inputs, Protect: r.Protect})
	}
	return in
}

func TestPolicies(t *testing.T) {
	args := GPUArgs{Environment: "ml-prod", Pools: []Pool{pool("train"), pool("infer", timeSlicing(4)), pool("a100", mig)}, DCGM: true, ServiceMonitorLabels: map[string]string{"release": "mon"}}
	tests := []struct {
		name string
		// strip removes the privileged-reason exemption from the workloads.
		strip bool
		// want are the mandatory violations expected, by policy and
		// DaemonSet (nil: none).
		want map[string][]string
	}{
		{name: "as built: no mandatory violation"},
		{name: "without the exemption the daemons fail", strip: true, want: map[string][]string{
			"security.k8s-no-hostpath":     {"dev-dcgm-exporter", "dev-device-plugin-a100", "dev-device-plugin-infer", "dev-device-plugin-train"},
			"security.k8s-run-as-non-root": {"dev-dcgm-exporter", "dev-device-plugin-a100", "dev-device-plugin-infer", "dev-device-plugin-train"},
			"security.k8s-no-privileged":   {"dev-dcgm-exporter", "dev-device-plugin-a100"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := run(t, args)
			if tt.strip {
				for _, ds := range g.ByType(typeDaemonSet) {
					for _, meta := range []any{at(ds.Inputs, "metadata"), at(ds.Inputs, "spec", "template", "metadata")} {
						delete(at(meta, "annotations").(map[string]any), PrivilegedReasonKey)
					}
				}
			}
			report, err := policies.Evaluate(policies.All(), policyInput(g, policies.ClassProd), nil)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, v := range report.Violations {
				if v.Enforcement == policies.Mandatory {
					got[v.Policy] = append(got[v.Policy], v.Name)
				}
			}
			for k := range got {
				slices.Sort(got[k])
			}
			if len(got) != len(tt.want) || !maps.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("mandatory violations %v, want %v", got, tt.want)
				for _, v := range report.Violations {
					t.Logf("%s (%s): %s", v.Policy, v.Enforcement, v.Message)
				}
			}
		})
	}
}

func TestValidation(t *testing.T) {
	valid := func(mod func(*GPUArgs)) GPUArgs {
		a := GPUArgs{Pools: []Pool{pool("train")}, DCGM: true}
		mod(&a)
		return a
	}
	tests := []struct {
		name    string
		args    GPUArgs
		wantErr string // "" when valid
	}{
		{"one pool", valid(func(*GPUArgs) {}), ""},
		{"no pools", valid(func(a *GPUArgs) { a.Pools = nil }), "at least one GPU pool"},
		{"empty node selector", valid(func(a *GPUArgs) { a.Pools[0].NodeSelector = nil }), "NodeSelector is empty"},
		{"empty node selector key", valid(func(a *GPUArgs) { a.Pools[0].NodeSelector = map[string]string{"": "x"} }), "keys must not be empty"},
		{"unknown sharing", valid(func(a *GPUArgs) { a.Pools[0].Sharing = "mps" }), `sharing "mps"`},
		{"mig", valid(func(a *GPUArgs) { a.Pools[0].Sharing = SharingMIG }), ""},
		{"time-slicing 1 replica", valid(func(a *GPUArgs) { timeSlicing(1)(&a.Pools[0]) }), "replicas 1 must be 2 to 48"},
		{"time-slicing 2 replicas", valid(func(a *GPUArgs) { timeSlicing(2)(&a.Pools[0]) }), ""},
		{"time-slicing 48 replicas", valid(func(a *GPUArgs) { timeSlicing(48)(&a.Pools[0]) }), ""},
		{"time-slicing 49 replicas", valid(func(a *GPUArgs) { timeSlicing(49)(&a.Pools[0]) }), "replicas 49 must be 2 to 48"},
		{"replicas without time-slicing", valid(func(a *GPUArgs) { a.Pools[0].Replicas = 4 }), "only for sharing timeSlicing"},
		{"bad pool name", valid(func(a *GPUArgs) { a.Pools[0].Name = "Train" }), "not a DNS label"},
		{"pool name too long", valid(func(a *GPUArgs) { a.Pools[0].Name = strings.Repeat("a", maxPoolName+1) }), "not a DNS label"},
		{"pool name at the limit", valid(func(a *GPUArgs) { a.Pools[0].Name = strings.Repeat("a", maxPoolName) }), ""},
		{"two pools", valid(func(a *GPUArgs) { a.Pools = append(a.Pools, pool("infer")) }), ""},
		{"duplicate pool names", valid(func(a *GPUArgs) {
			a.Pools = append(a.Pools, Pool{Name: "train", NodeSelector: map[string]string{poolLabel: "other"}})
		}), "already the name of pools[0]"},
		{"same selector twice", valid(func(a *GPUArgs) {
			a.Pools = append(a.Pools, Pool{Name: "infer", NodeSelector: map[string]string{poolLabel: "train"}})
		}), "can pick the same nodes"},
		{"selectors on different keys may overlap", valid(func(a *GPUArgs) {
			a.Pools = append(a.Pools, Pool{Name: "infer", NodeSelector: map[string]string{"eks.amazonaws.com/nodegroup": "infer"}})
		}), "can pick the same nodes"},
		{"a narrower selector of the same pool", valid(func(a *GPUArgs) {
			a.Pools = append(a.Pools, Pool{Name: "infer", NodeSelector: map[string]string{poolLabel: "train", "x": "y"}})
		}), "can pick the same nodes"},
		{"toleration without key", valid(func(a *GPUArgs) { a.Pools[0].Tolerations = []Toleration{{Value: "x"}} }), "toleration keys must not be empty"},
		{"toleration with a bad effect", valid(func(a *GPUArgs) { a.Pools[0].Tolerations = []Toleration{{Key: "k", Effect: "NoRun"}} }), `effect "NoRun"`},
		{"toleration of every effect", valid(func(a *GPUArgs) { a.Pools[0].Tolerations = []Toleration{{Key: "k"}} }), ""},
		{"bad namespace", valid(func(a *GPUArgs) { a.Namespace = "GPU" }), "not a DNS label"},
		{"service monitor label", valid(func(a *GPUArgs) { a.ServiceMonitorLabels = map[string]string{"release": "x"} }), ""},
		{"service monitor label overriding Plinth's", valid(func(a *GPUArgs) { a.ServiceMonitorLabels = map[string]string{labelName: "x"} }), "set by Plinth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := plan.Run(func(ctx *pulumi.Context) error {
				_, err := NewGPU(ctx, "dev", &tt.args)
				return err
			}, plan.Options{})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if len(g.Resources) != 0 {
				t.Errorf("%d resources registered before the error", len(g.Resources))
			}
		})
	}
	t.Run("nil args", func(t *testing.T) {
		_, err := plan.Run(func(ctx *pulumi.Context) error {
			_, err := NewGPU(ctx, "dev", nil)
			return err
		}, plan.Options{})
		if err == nil {
			t.Fatal("want an error")
		}
	})
}

func TestDevicePluginConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		sharing  string
		replicas int
	}{{SharingTimeSlicing, 1}, {SharingTimeSlicing, 49}, {"mps", 0}} {
		if _, err := DevicePluginConfig(tc.sharing, tc.replicas); err == nil {
			t.Errorf("DevicePluginConfig(%q, %d): want an error", tc.sharing, tc.replicas)
		}
	}
}
