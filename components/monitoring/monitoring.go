// Package monitoring is the monitoring stack of a Plinth environment:
// kube-prometheus-stack (Prometheus operator, Prometheus, Alertmanager,
// Grafana, kube-state-metrics, node-exporter) from its pinned chart, the
// Plinth dashboards (GPUs, tracking server, cluster, model drift) as
// Grafana sidecar ConfigMaps, PrometheusRules for model drift, inference
// latency, idle and unready GPUs and the tracking server, and an optional
// OpenTelemetry collector whose metrics Prometheus scrapes.
//
// Other components make Prometheus scrape them by labelling their
// ServiceMonitors (and PrometheusRules) with ServiceMonitorLabels, in any
// namespace.
package monitoring

import (
	"fmt"
	"slices"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/prometheus/common/model"

	"github.com/plinth-dev/plinth/components/charts"
	"github.com/plinth-dev/plinth/components/k8snamespace"
)

// TypeToken is the component's type token.
const TypeToken = "plinth:kubernetes:Monitoring"

// ChartKey is the key of kube-prometheus-stack in versions.yaml.
const ChartKey = "kube-prometheus-stack"

// ReleaseName is the Helm release name. Prometheus selects
// ServiceMonitors, PodMonitors and PrometheusRules labelled
// release=ReleaseName (ServiceMonitorLabels).
const ReleaseName = "kube-prometheus-stack"

// Defaults.
const (
	// DefaultNamespace is where the stack runs.
	DefaultNamespace = "plinth-monitoring"
	// DefaultRetention is how long Prometheus keeps metrics.
	DefaultRetention = "15d"
	// DefaultStorageGiB is the Prometheus volume size.
	DefaultStorageGiB = 50
	// DefaultModelDriftScore is the ModelDriftHigh threshold.
	DefaultModelDriftScore = 0.2
	// DefaultInferenceLatencyP99Ms is the InferenceLatencyP99High threshold.
	DefaultInferenceLatencyP99Ms = 500
	// DefaultGPUIdlePercent is the GPUIdle threshold.
	DefaultGPUIdlePercent = 10
)

// Dashboard names.
const (
	DashboardGPU        = "gpu"
	DashboardTracking   = "tracking"
	DashboardModelDrift = "model-drift"
	DashboardCluster    = "cluster"
)

// AllDashboards lists every dashboard, in the order they are created.
var AllDashboards = []string{DashboardCluster, DashboardGPU, DashboardTracking, DashboardModelDrift}

// Alerts are the alert thresholds; zero values take the defaults.
type Alerts struct {
	// ModelDriftScore: ModelDriftHigh fires when a model's drift score
	// stays above it for 15 minutes (0 to 1, default 0.2).
	ModelDriftScore float64
	// InferenceLatencyP99Ms: InferenceLatencyP99High fires when a model's
	// p99 inference latency stays above it for 10 minutes (default 500).
	InferenceLatencyP99Ms int
	// GPUIdlePercent: GPUIdle fires on a GPU busy less than this percent
	// on average over an hour (1 to 100, default 10).
	GPUIdlePercent int
}

// MonitoringArgs are the inputs of the monitoring stack.
type MonitoringArgs struct {
	// Namespace is where the stack runs (default plinth-monitoring).
	// node-exporter, which needs host access, runs in <Namespace>-node-exporter.
	Namespace string
	// Environment is the Plinth environment name (labels).
	Environment string
	// ChartsMirror replaces the chart repository (oci:// or http(s)://).
	ChartsMirror string
	// ChartMode is how kube-prometheus-stack is installed: a Helm release
	// (the default) or templated into plain resources (for rendering).
	ChartMode charts.Mode
	// Retention is how long Prometheus keeps metrics, a Prometheus
	// duration such as 15d (default 15d).
	Retention string
	// StorageGiB is the Prometheus volume size (default 50).
	StorageGiB int
	// StorageClass is the Prometheus volume's storage class ("" for the
	// cluster default).
	StorageClass string
	// Dashboards to ship: gpu, tracking, model-drift, cluster (empty means
	// all). gpu needs GPU and tracking needs Tracking; they are skipped
	// otherwise.
	Dashboards []string
	// GPU says GPU pools with DCGM metrics exist: GPU alerts and dashboard.
	GPU bool
	// Tracking says a tracking server exists: its health alert and dashboard.
	Tracking bool
	// Alerts are the alert thresholds.
	Alerts Alerts
	// OpenTelemetry runs an OpenTelemetry collector receiving OTLP.
	OpenTelemetry bool
	// GrafanaAdminPassword is the Grafana admin password (a secret); it
	// reaches Grafana only through a Kubernetes Secret.
	GrafanaAdminPassword pulumi.StringInput
}

// Monitoring is the monitoring stack.
type Monitoring struct {
	pulumi.ResourceState

	// Namespace is the namespace of the stack, once it exists.
	Namespace pulumi.StringOutput `pulumi:"namespace"`
	// PrometheusURL is Prometheus' in-cluster URL.
	PrometheusURL pulumi.StringOutput `pulumi:"prometheusUrl"`
	// GrafanaService is the Grafana Service (namespace/name), for
	// kubectl port-forward.
	GrafanaService pulumi.StringOutput `pulumi:"grafanaService"`
	// OTLPGRPCEndpoint and OTLPHTTPEndpoint are the collector's OTLP
	// endpoints ("" without OpenTelemetry).
	OTLPGRPCEndpoint pulumi.StringOutput `pulumi:"otlpGrpcEndpoint"`
	OTLPHTTPEndpoint pulumi.StringOutput `pulumi:"otlpHttpEndpoint"`
	// ServiceMonitorLabels are the labels Prometheus selects
	// ServiceMonitors, PodMonitors and PrometheusRules by, in every
	// namespace; other components put them on theirs.
	ServiceMonitorLabels map[string]string
	// Chart is the kube-prometheus-stack chart installed.
	Chart charts.Ref
	// Release is the kube-prometheus-stack release (a helm/v3 Release, or
	// a helm/v4 Chart in charts.ModeTemplate), which installs the
	// Prometheus operator's CRDs: objects of those kinds made elsewhere
	// (ServiceMonitors, PrometheusRules) should DependsOn it.
	Release pulumi.Resource
}

// ServiceMonitorLabels are the labels Prometheus selects monitors and
// rules by.
func ServiceMonitorLabels() map[string]string {
	return map[string]string{"release": ReleaseName}
}

// settings are the arguments with defaults applied and checked.
type settings struct {
	MonitoringArgs
	dashboards []string
}

// withDefaults applies the defaults and validates the arguments.
func withDefaults(name string, in *MonitoringArgs) (*settings, error) {
	if in == nil {
		return nil, fmt.Errorf("monitoring %s: args are required", name)
	}
	s := &settings{MonitoringArgs: *in}
	if s.Namespace == "" {
		s.Namespace = DefaultNamespace
	}
	if s.Retention == "" {
		s.Retention = DefaultRetention
	}
	if s.StorageGiB == 0 {
		s.StorageGiB = DefaultStorageGiB
	}
	a := &s.Alerts
	if a.ModelDriftScore == 0 {
		a.ModelDriftScore = DefaultModelDriftScore
	}
	if a.InferenceLatencyP99Ms == 0 {
		a.InferenceLatencyP99Ms = DefaultInferenceLatencyP99Ms
	}
	if a.GPUIdlePercent == 0 {
		a.GPUIdlePercent = DefaultGPUIdlePercent
	}
	var errs []string
	if d, err := model.ParseDuration(s.Retention); err != nil || d <= 0 {
		errs = append(errs, fmt.Sprintf("Retention %q is not a Prometheus duration such as 15d", s.Retention))
	}
	if s.StorageGiB < 0 {
		errs = append(errs, fmt.Sprintf("StorageGiB %d is negative", s.StorageGiB))
	}
	if a.ModelDriftScore < 0 || a.ModelDriftScore > 1 {
		errs = append(errs, fmt.Sprintf("Alerts.ModelDriftScore %g is not between 0 and 1", a.ModelDriftScore))
	}
	if a.InferenceLatencyP99Ms < 0 {
		errs = append(errs, fmt.Sprintf("Alerts.InferenceLatencyP99Ms %d is negative", a.InferenceLatencyP99Ms))
	}
	if a.GPUIdlePercent < 0 || a.GPUIdlePercent > 100 {
		errs = append(errs, fmt.Sprintf("Alerts.GPUIdlePercent %d is not between 0 and 100", a.GPUIdlePercent))
	}
	if s.GrafanaAdminPassword == nil {
		errs = append(errs, "GrafanaAdminPassword is required")
	}
	wanted := s.MonitoringArgs.Dashboards
	if len(wanted) == 0 {
		wanted = AllDashboards
	}
	for _, d := range wanted {
		if !slices.Contains(AllDashboards, d) {
			errs = append(errs, fmt.Sprintf("dashboard %q is not one of %s", d, strings.Join(AllDashboards, ", ")))
		}
	}
	for _, d := range AllDashboards {
		switch {
		case !slices.Contains(wanted, d):
		case d == DashboardGPU && !s.GPU, d == DashboardTracking && !s.Tracking:
		default:
			s.dashboards = append(s.dashboards, d)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("monitoring %s: %s", name, strings.Join(errs, "; "))
	}
	return s, nil
}

// nodeExporterNamespace is where node-exporter runs: it needs the host's
// network, PID namespace and filesystem, which only the privileged Pod
// Security level allows, so it gets a namespace of its own.
func (s *settings) nodeExporterNamespace() string { return s.Namespace + "-node-exporter" }

// grafanaAdminSecret is the Secret holding the Grafana admin credentials,
// under the keys the Grafana chart reads by default.
const grafanaAdminSecret = "grafana-admin"

// Grafana admin Secret keys (the Grafana chart's admin.userKey and
// admin.passwordKey defaults).
const (
	grafanaUserKey     = "admin-user"
	grafanaPasswordKey = "admin-password"
	grafanaAdminUser   = "admin"
)

// NewMonitoring creates the monitoring stack.
func NewMonitoring(ctx *pulumi.Context, name string, args *MonitoringArgs, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	s, err := withDefaults(name, args)
	if err != nil {
		return nil, err
	}
	ref, err := charts.Resolve(ChartKey, s.ChartsMirror)
	if err != nil {
		return nil, fmt.Errorf("monitoring %s: %w", name, err)
	}
	c := &Monitoring{ServiceMonitorLabels: ServiceMonitorLabels(), Chart: ref}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)

	ns, err := k8snamespace.NewNamespace(ctx, name+"-monitoring", &k8snamespace.NamespaceArgs{
		Name: s.Namespace,
		// Baseline: the chart's workloads run as non-root but not all of
		// them meet restricted (admission webhook job, Grafana init).
		PodSecurity: k8snamespace.Baseline,
		Environment: s.Environment,
		DefaultDeny: true,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("monitoring %s: %w", name, err)
	}
	nodeNS, err := k8snamespace.NewNamespace(ctx, name+"-node-exporter", &k8snamespace.NamespaceArgs{
		Name:        s.nodeExporterNamespace(),
		PodSecurity: k8snamespace.Privileged,
		Environment: s.Environment,
		// node-exporter uses the host network, where NetworkPolicies do
		// not apply.
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("monitoring %s: %w", name, err)
	}
	inNS := []pulumi.ResourceOption{parent, pulumi.DependsOn([]pulumi.Resource{ns})}

	if err := networkPolicies(ctx, name, s, inNS); err != nil {
		return nil, fmt.Errorf("monitoring %s: %w", name, err)
	}

	adminSecret, err := corev1.NewSecret(ctx, name+"-grafana-admin", &corev1.SecretArgs{
		Metadata: s.meta(grafanaAdminSecret, nil),
		Type:     pulumi.String("Opaque"),
		StringData: pulumi.StringMap{
			grafanaUserKey:     pulumi.String(grafanaAdminUser),
			grafanaPasswordKey: pulumi.ToSecret(s.GrafanaAdminPassword).(pulumi.StringOutput),
		},
	}, inNS...)
	if err != nil {
		return nil, fmt.Errorf("monitoring %s: grafana admin secret: %w", name, err)
	}

	release, err := charts.Install(ctx, name+"-kube-prometheus-stack", ref, ReleaseName, s.Namespace, stackValues(s), s.ChartMode,
		parent, pulumi.DependsOn([]pulumi.Resource{ns, nodeNS, adminSecret}))
	if err != nil {
		return nil, fmt.Errorf("monitoring %s: kube-prometheus-stack: %w", name, err)
	}
	c.Release = release
	// Objects of the chart's CRDs wait for the release that installs them.
	afterRelease := []pulumi.ResourceOption{parent, pulumi.DependsOn([]pulumi.Resource{ns, release})}

	if err := dashboards(ctx, name, s, inNS); err != nil {
		return nil, fmt.Errorf("monitoring %s: %w", name, err)
	}
	if err := prometheusRules(ctx, name, s, afterRelease); err != nil {
		return nil, fmt.Errorf("monitoring %s: %w", name, err)
	}
	c.OTLPGRPCEndpoint = pulumi.String("").ToStringOutput()
	c.OTLPHTTPEndpoint = pulumi.String("").ToStringOutput()
	if s.OpenTelemetry {
		if err := collector(ctx, name, s, inNS, afterRelease); err != nil {
			return nil, fmt.Errorf("monitoring %s: %w", name, err)
		}
		c.OTLPGRPCEndpoint = pulumi.Sprintf("http://%s.%s.svc:%d", collectorName, ns.NameOutput, otlpGRPCPort)
		c.OTLPHTTPEndpoint = pulumi.Sprintf("http://%s.%s.svc:%d", collectorName, ns.NameOutput, otlpHTTPPort)
	}

	c.Namespace = ns.NameOutput
	c.PrometheusURL = pulumi.Sprintf("http://%s-prometheus.%s.svc:9090", ReleaseName, ns.NameOutput)
	c.GrafanaService = pulumi.Sprintf("%s/%s-grafana", ns.NameOutput, ReleaseName)
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"namespace":        c.Namespace,
		"prometheusUrl":    c.PrometheusURL,
		"grafanaService":   c.GrafanaService,
		"otlpGrpcEndpoint": c.OTLPGRPCEndpoint,
		"otlpHttpEndpoint": c.OTLPHTTPEndpoint,
		"chart":            pulumi.String(ref.String()),
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// meta is the metadata of an object in the monitoring namespace.
func (s *settings) meta(name string, labels map[string]string) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{
		Name:      pulumi.String(name),
		Namespace: pulumi.String(s.Namespace),
		Labels:    k8snamespace.Labels(s.Environment, labels),
	}
}
