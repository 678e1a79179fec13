// Package gpu is Plinth's GPU enablement on Kubernetes: the NVIDIA device
// plugin, which advertises each GPU node's nvidia.com/gpu to the kubelet
// (whole GPUs, time-sliced replicas or MIG slices, per pool), and the DCGM
// exporter, which gives Prometheus the GPUs' utilisation, memory, power and
// errors per pod. Both run only on the GPU pools' nodes, in a namespace of
// their own with a default-deny network policy.
//
// The daemons need the host (the kubelet's device-plugin and pod-resources
// sockets, the driver), so the namespace is Pod Security "privileged" and
// each workload carries plinth.dev/privileged-reason, the exemption
// Plinth's security policies read; nothing else runs there.
package gpu

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/blueprints/versions"
	"github.com/plinth-dev/plinth/components/k8snamespace"
)

// TypeToken is the component's type token.
const TypeToken = "plinth:kubernetes:GPU"

// Sharing modes (Pool.Sharing).
const (
	// SharingNone gives each pod whole GPUs (also what "" means).
	SharingNone = "none"
	// SharingTimeSlicing advertises each GPU Replicas times; the pods
	// sharing a GPU take turns on it, with no memory isolation.
	SharingTimeSlicing = "timeSlicing"
	// SharingMIG advertises the MIG slices the GPUs are partitioned into
	// (strategy single: every GPU of a node cut the same way, each slice
	// an nvidia.com/gpu).
	SharingMIG = "mig"
)

// Time-slicing replica bounds (Pool.Replicas).
const (
	MinReplicas = 2
	MaxReplicas = 48
)

// Defaults and fixed names.
const (
	// DefaultNamespace is the namespace when GPUArgs.Namespace is empty.
	DefaultNamespace = "plinth-gpu"
	// DefaultMonitoringNamespace is where Prometheus runs when
	// GPUArgs.MonitoringNamespace is empty; the DCGM exporter's network
	// policy admits scrapes from it.
	DefaultMonitoringNamespace = "plinth-monitoring"
	// GPUResource is the extended resource the device plugin advertises.
	GPUResource = "nvidia.com/gpu"
	// PrivilegedReasonKey is the annotation that exempts a workload from
	// Plinth's container hardening policies; its value says why.
	PrivilegedReasonKey = "plinth.dev/privileged-reason"
	// DevicePluginReason is the device plugin's PrivilegedReasonKey.
	DevicePluginReason = "NVIDIA device plugin registers GPUs with the kubelet through its host socket"
	// DCGMExporterReason is the DCGM exporter's PrivilegedReasonKey.
	DCGMExporterReason = "DCGM exporter reads GPU telemetry as root (CAP_SYS_ADMIN for profiling metrics) and maps GPUs to pods through the kubelet's pod-resources host socket"
	// MetricsPort is the DCGM exporter's Prometheus port.
	MetricsPort = 9400
	// MetricsPortName names MetricsPort on the pod, Service and ServiceMonitor.
	MetricsPortName = "metrics"
	// ScrapeInterval is how often Prometheus scrapes the DCGM exporter.
	ScrapeInterval = "30s"
)

// Image keys in versions.yaml.
const (
	imageDevicePlugin = "nvidia-device-plugin"
	imageDCGMExporter = "dcgm-exporter"
)

// DefaultToleration is what a pool's daemons tolerate when the pool lists
// no tolerations: Plinth's default GPU taint.
var DefaultToleration = Toleration{Key: GPUResource, Value: "present", Effect: "NoSchedule"}

// Toleration is a Kubernetes toleration of a GPU pool's taint.
type Toleration struct {
	// Key is the taint key, e.g. nvidia.com/gpu.
	Key string
	// Value is the taint value; empty tolerates any value (operator Exists).
	Value string
	// Effect is NoSchedule, PreferNoSchedule or NoExecute; empty tolerates
	// every effect.
	Effect string
}

// Pool is a GPU node pool the daemons run on.
type Pool struct {
	// Name names the pool (a DNS label of at most 42 characters); the
	// pool's device plugin is nvidia-device-plugin-<Name>.
	Name string
	// NodeSelector are the node labels that pick the pool's nodes (e.g.
	// plinth.dev/pool: train, or eks.amazonaws.com/nodegroup: ...); at
	// least one. Two pools' selectors must differ in the value of a common
	// key, so no node belongs to two pools.
	NodeSelector map[string]string
	// Tolerations tolerate the pool's taints (DefaultToleration when empty).
	Tolerations []Toleration
	// Sharing is SharingNone (or ""), SharingTimeSlicing or SharingMIG.
	Sharing string
	// Replicas is how many pods share one GPU, MinReplicas to MaxReplicas;
	// set only with SharingTimeSlicing.
	Replicas int
}

// GPUArgs are the inputs of a GPU component.
type GPUArgs struct {
	// Namespace is where the daemons run (DefaultNamespace when empty).
	Namespace string
	// Environment is the Plinth environment name (label plinth.dev/environment).
	Environment string
	// Pools are the GPU pools, at least one.
	Pools []Pool
	// DCGM adds the DCGM exporter DaemonSet, its Service and a
	// ServiceMonitor (which needs the Prometheus Operator's CRDs).
	DCGM bool
	// ServiceMonitorLabels are added to the ServiceMonitor: the labels
	// Prometheus selects ServiceMonitors by (e.g. release: <monitoring
	// release>). They may not replace Plinth's own labels.
	ServiceMonitorLabels map[string]string
	// MonitoringNamespace is the namespace Prometheus scrapes from
	// (DefaultMonitoringNamespace when empty).
	MonitoringNamespace string
}

// GPU is the GPU enablement of a cluster.
type GPU struct {
	pulumi.ResourceState

	// Namespace is the namespace the daemons run in.
	Namespace pulumi.StringOutput `pulumi:"namespace"`
}

// NewGPU creates the namespace, a device plugin per pool and, with DCGM,
// the DCGM exporter, as children of a plinth:kubernetes:GPU component
// named name.
func NewGPU(ctx *pulumi.Context, name string, args *GPUArgs, opts ...pulumi.ResourceOption) (*GPU, error) {
	if args == nil {
		return nil, fmt.Errorf("gpu %s: args are required", name)
	}
	a := withDefaults(*args)
	if err := validate(&a); err != nil {
		return nil, fmt.Errorf("gpu %s: %w", name, err)
	}
	images, err := pinnedImages()
	if err != nil {
		return nil, fmt.Errorf("gpu %s: %w", name, err)
	}

	c := &GPU{}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("gpu %s: register component: %w", name, err)
	}
	parent := pulumi.Parent(c)

	ns, err := k8snamespace.NewNamespace(ctx, name+"-gpu", &k8snamespace.NamespaceArgs{
		Name:        a.Namespace,
		PodSecurity: k8snamespace.Privileged,
		Environment: a.Environment,
		DefaultDeny: true,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("gpu %s: %w", name, err)
	}
	b := &builder{ctx: ctx, name: name, args: &a, images: images,
		opts: []pulumi.ResourceOption{parent, pulumi.DependsOn([]pulumi.Resource{ns.Namespace})}}

	if err := b.devicePlugins(); err != nil {
		return nil, fmt.Errorf("gpu %s: %w", name, err)
	}
	if a.DCGM {
		if err := b.dcgmExporter(); err != nil {
			return nil, fmt.Errorf("gpu %s: %w", name, err)
		}
	}

	c.Namespace = ns.NameOutput
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"namespace": c.Namespace}); err != nil {
		return nil, fmt.Errorf("gpu %s: register outputs: %w", name, err)
	}
	return c, nil
}

// withDefaults fills the empty fields of a copy of args.
func withDefaults(a GPUArgs) GPUArgs {
	if a.Namespace == "" {
		a.Namespace = DefaultNamespace
	}
	if a.MonitoringNamespace == "" {
		a.MonitoringNamespace = DefaultMonitoringNamespace
	}
	pools := make([]Pool, len(a.Pools))
	for i, p := range a.Pools {
		if p.Sharing == "" {
			p.Sharing = SharingNone
		}
		if len(p.Tolerations) == 0 {
			p.Tolerations = []Toleration{DefaultToleration}
		}
		pools[i] = p
	}
	a.Pools = pools
	return a
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// maxPoolName keeps nvidia-device-plugin-<pool> within 63 characters.
const maxPoolName = 63 - len(devicePluginName+"-")

// taintEffects are the effects a toleration may name ("" is every effect).
var taintEffects = []string{"", "NoSchedule", "PreferNoSchedule", "NoExecute"}

// reservedLabels are the labels Plinth sets on the ServiceMonitor itself.
var reservedLabels = []string{k8snamespace.ManagedByLabel, k8snamespace.EnvironmentLabel, labelName, labelComponent, labelInstance}

// validate checks args (defaults applied), so a mistake is reported before
// anything is created.
func validate(a *GPUArgs) error {
	if !dnsLabel.MatchString(a.Namespace) || len(a.Namespace) > 63 {
		return fmt.Errorf("namespace %q is not a DNS label", a.Namespace)
	}
	if !dnsLabel.MatchString(a.MonitoringNamespace) || len(a.MonitoringNamespace) > 63 {
		return fmt.Errorf("monitoring namespace %q is not a DNS label", a.MonitoringNamespace)
	}
	if len(a.Pools) == 0 {
		return fmt.Errorf("at least one GPU pool is required")
	}
	seen := map[string]int{}
	for i, p := range a.Pools {
		path := fmt.Sprintf("pools[%d]", i)
		if err := validatePool(p); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if j, dup := seen[p.Name]; dup {
			return fmt.Errorf("%s: name %q is already the name of pools[%d]", path, p.Name, j)
		}
		seen[p.Name] = i
		// Every pool has its own device plugin; two on one node would
		// both register nvidia.com/gpu with the kubelet.
		for j, q := range a.Pools[:i] {
			if !disjoint(p.NodeSelector, q.NodeSelector) {
				return fmt.Errorf("%s (%s): node selector %v can pick the same nodes as pools[%d] (%s) %v; give each pool a common label key with its own value (e.g. plinth.dev/pool)",
					path, p.Name, p.NodeSelector, j, q.Name, q.NodeSelector)
			}
		}
	}
	for k := range a.ServiceMonitorLabels {
		if k == "" {
			return fmt.Errorf("ServiceMonitorLabels: keys must not be empty")
		}
		for _, r := range reservedLabels {
			if k == r {
				return fmt.Errorf("ServiceMonitorLabels: %s is set by Plinth", k)
			}
		}
	}
	return nil
}

// validatePool checks one pool (defaults applied).
func validatePool(p Pool) error {
	if !dnsLabel.MatchString(p.Name) || len(p.Name) > maxPoolName {
		return fmt.Errorf("name %q is not a DNS label of at most %d characters", p.Name, maxPoolName)
	}
	if len(p.NodeSelector) == 0 {
		return fmt.Errorf("pool %s: NodeSelector is empty; the GPU daemons would run on every node, CPU nodes included", p.Name)
	}
	for k, v := range p.NodeSelector {
		if strings.TrimSpace(k) == "" {
			return fmt.Errorf("pool %s: NodeSelector keys must not be empty", p.Name)
		}
		if len(v) > 63 {
			return fmt.Errorf("pool %s: NodeSelector %s value %q is longer than a label value may be", p.Name, k, v)
		}
	}
	switch p.Sharing {
	case SharingTimeSlicing:
		if p.Replicas < MinReplicas || p.Replicas > MaxReplicas {
			return fmt.Errorf("pool %s: time-slicing replicas %d must be %d to %d", p.Name, p.Replicas, MinReplicas, MaxReplicas)
		}
	case SharingNone, SharingMIG:
		if p.Replicas != 0 {
			return fmt.Errorf("pool %s: replicas %d is only for sharing %s, not %s", p.Name, p.Replicas, SharingTimeSlicing, p.Sharing)
		}
	default:
		return fmt.Errorf("pool %s: sharing %q is not %s, %s or %s", p.Name, p.Sharing, SharingNone, SharingTimeSlicing, SharingMIG)
	}
	for _, t := range p.Tolerations {
		if t.Key == "" {
			// An empty key with operator Exists tolerates every taint.
			return fmt.Errorf("pool %s: toleration keys must not be empty", p.Name)
		}
		valid := false
		for _, e := range taintEffects {
			valid = valid || t.Effect == e
		}
		if !valid {
			return fmt.Errorf("pool %s: toleration %s: effect %q is not NoSchedule, PreferNoSchedule or NoExecute", p.Name, t.Key, t.Effect)
		}
	}
	return nil
}

// disjoint reports whether no node can match both selectors: they set a
// common key to different values.
func disjoint(a, b map[string]string) bool {
	for k, v := range a {
		if w, ok := b[k]; ok && w != v {
			return true
		}
	}
	return false
}

// images are the pinned image references.
type images struct{ devicePlugin, dcgmExporter string }

// pinnedImages reads the image pins from versions.yaml.
func pinnedImages() (images, error) {
	pins := versions.Get().Images
	var out images
	for key, ref := range map[string]*string{imageDevicePlugin: &out.devicePlugin, imageDCGMExporter: &out.dcgmExporter} {
		img, ok := pins[key]
		if !ok || img.Repository == "" || img.Tag == "" {
			return images{}, fmt.Errorf("versions.yaml pins no image %s", key)
		}
		*ref = img.Ref()
	}
	return out, nil
}

// tolerationArgs renders tolerations: Equal with a value, Exists without.
func tolerationArgs(ts []Toleration) corev1.TolerationArray {
	out := corev1.TolerationArray{}
	for _, t := range ts {
		arg := &corev1.TolerationArgs{Key: pulumi.String(t.Key), Operator: pulumi.String("Exists")}
		if t.Value != "" {
			arg.Operator = pulumi.String("Equal")
			arg.Value = pulumi.String(t.Value)
		}
		if t.Effect != "" {
			arg.Effect = pulumi.String(t.Effect)
		}
		out = append(out, arg)
	}
	return out
}
