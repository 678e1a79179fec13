package stacks

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/components/charts"
	"github.com/plinth-dev/plinth/components/cirunners"
	"github.com/plinth-dev/plinth/components/gpu"
	"github.com/plinth-dev/plinth/components/monitoring"
	"github.com/plinth-dev/plinth/components/tracking"
)

// PoolLabel is the node label naming the GPU pool a node belongs to; GPU
// daemons and GPU workloads select pools by it.
const PoolLabel = "plinth.dev/pool"

// Stack config keys of the secrets the Kubernetes layer needs. They are
// Pulumi secrets (`pulumi config set --secret KEY VALUE`); `plinth up`
// generates the ones that are missing.
const (
	SecretTrackingAdminPassword = "plinth:trackingAdminPassword"
	SecretTrackingDBPassword    = "plinth:trackingDbPassword"
	SecretGrafanaAdminPassword  = "plinth:grafanaAdminPassword"
)

// ConfigChartsRepository overrides spec.charts.repository per stack.
const ConfigChartsRepository = "plinth:chartsRepository"

// ConfigRenderDirectory, when set, makes the Kubernetes layer render to
// YAML files under that directory instead of reaching a cluster (the
// provider's renderYamlToDirectory; charts are templated into plain
// resources). `plinth render` sets it on a throwaway stack; provider
// kubernetes only.
const ConfigRenderDirectory = "plinth:renderDirectory"

// renderDirectory is the ConfigRenderDirectory of the running stack ("" when unset).
func renderDirectory(ctx *pulumi.Context) string {
	v, _ := ctx.GetConfig(ConfigRenderDirectory)
	return v
}

// RequiredSecrets lists the stack config secrets env needs: generated ones
// (passwords) and given ones (CI runner tokens).
func RequiredSecrets(env *blueprints.Environment) (generated, given []string) {
	s := env.Spec
	if t := s.Tracking; t.IsEnabled() {
		if t.Auth == blueprints.AuthBasic {
			generated = append(generated, SecretTrackingAdminPassword)
		}
		if s.Provider == blueprints.ProviderKubernetes {
			generated = append(generated, SecretTrackingDBPassword)
		}
	}
	if s.Monitoring.IsEnabled() {
		generated = append(generated, SecretGrafanaAdminPassword)
	}
	for _, r := range s.CIRunners {
		given = append(given, configKey(r.TokenSecret))
	}
	return generated, given
}

// configKey qualifies a bare key with the project namespace.
func configKey(key string) string {
	if strings.Contains(key, ":") {
		return key
	}
	return Project + ":" + key
}

// secret reads a secret stack config value, failing with how to set it.
func secret(ctx *pulumi.Context, key string) (pulumi.StringOutput, error) {
	full := configKey(key)
	ns, k, _ := strings.Cut(full, ":")
	if _, ok := ctx.GetConfig(full); !ok {
		return pulumi.StringOutput{}, fmt.Errorf("stack %s: secret %s is not set; set it with `pulumi config set --secret %s <value>` (plinth up generates passwords it can)", ctx.Stack(), full, strings.TrimPrefix(full, Project+":"))
	}
	return config.RequireSecret(ctx, ns+":"+k), nil
}

// KubernetesProvider returns the provider for an existing cluster
// (provider kubernetes): the blueprint's kubeconfig and context, else the
// usual KUBECONFIG / ~/.kube/config.
func KubernetesProvider(ctx *pulumi.Context, env *blueprints.Environment) (*kubernetes.Provider, error) {
	args := &kubernetes.ProviderArgs{}
	if dir := renderDirectory(ctx); dir != "" {
		// The provider refuses a kubeconfig with renderYamlToDirectory;
		// plinth render points KUBECONFIG at no cluster, so that the
		// output depends only on the blueprint.
		args.RenderYamlToDirectory = pulumi.String(dir)
		return kubernetes.NewProvider(ctx, env.Metadata.Name+"-k8s", args)
	}
	if c := env.Spec.Cluster; c != nil {
		if c.Kubeconfig != "" {
			path := c.Kubeconfig
			if strings.HasPrefix(path, "~/") {
				home, err := os.UserHomeDir()
				if err != nil {
					return nil, fmt.Errorf("spec.cluster.kubeconfig: %w", err)
				}
				path = filepath.Join(home, path[2:])
			}
			if env := os.Getenv("KUBECONFIG"); env != "" && c.Kubeconfig == "~/.kube/config" {
				path = env // the default path yields to an explicit KUBECONFIG
			}
			args.Kubeconfig = pulumi.String(path)
		}
		if c.Context != "" {
			args.Context = pulumi.String(c.Context)
		}
	}
	return kubernetes.NewProvider(ctx, env.Metadata.Name+"-k8s", args)
}

// ComposeKubernetes builds the Kubernetes layer of env on a cluster: GPU
// enablement, the tracking server, monitoring and CI runners. aws is the
// AWS layer when the cluster is the EKS cluster Plinth made (nil on
// provider kubernetes).
func ComposeKubernetes(ctx *pulumi.Context, env *blueprints.Environment, provider *kubernetes.Provider, aws *AWS) error {
	name := env.Metadata.Name
	s := env.Spec
	opts := []pulumi.ResourceOption{pulumi.Provider(provider)}
	mirror := ""
	if s.Charts != nil {
		mirror = s.Charts.Repository
	}
	if v, ok := ctx.GetConfig(ConfigChartsRepository); ok && v != "" {
		mirror = v
	}
	chartMode := charts.ModeRelease
	if renderDirectory(ctx) != "" {
		chartMode = charts.ModeTemplate
	}

	var monitoringLabels map[string]string
	if m := s.Monitoring; m.IsEnabled() {
		password, err := secret(ctx, SecretGrafanaAdminPassword)
		if err != nil {
			return err
		}
		args := &monitoring.MonitoringArgs{
			Environment:          name,
			ChartsMirror:         mirror,
			ChartMode:            chartMode,
			Retention:            m.Prometheus.Retention,
			StorageGiB:           *m.Prometheus.StorageGiB,
			Dashboards:           m.Grafana.Dashboards,
			GPU:                  len(s.GPUNodePools) > 0 && m.GPUMetrics == blueprints.GPUMetricsDCGM,
			Tracking:             s.Tracking.IsEnabled(),
			OpenTelemetry:        m.OpenTelemetry.Collector != nil && *m.OpenTelemetry.Collector,
			GrafanaAdminPassword: password,
		}
		args.Alerts.ModelDriftScore = *m.Alerts.ModelDriftScore
		args.Alerts.InferenceLatencyP99Ms = *m.Alerts.InferenceLatencyP99Ms
		args.Alerts.GPUIdlePercent = *m.Alerts.GPUIdlePercent
		mon, err := monitoring.NewMonitoring(ctx, name, args, opts...)
		if err != nil {
			return err
		}
		monitoringLabels = mon.ServiceMonitorLabels
	}

	if len(s.GPUNodePools) > 0 {
		pools := make([]gpu.Pool, len(s.GPUNodePools))
		for i, p := range s.GPUNodePools {
			pools[i] = gpu.Pool{
				Name:         p.Name,
				NodeSelector: map[string]string{PoolLabel: p.Name},
				Tolerations:  gpuTolerations(p.Taints),
				Sharing:      p.GPU.Sharing,
				Replicas:     deref(p.GPU.Replicas),
			}
		}
		_, err := gpu.NewGPU(ctx, name, &gpu.GPUArgs{
			Environment:          name,
			Pools:                pools,
			DCGM:                 s.Monitoring.IsEnabled() && s.Monitoring.GPUMetrics == blueprints.GPUMetricsDCGM,
			ServiceMonitorLabels: monitoringLabels,
		}, opts...)
		if err != nil {
			return err
		}
	}

	if t := s.Tracking; t.IsEnabled() {
		args := &tracking.TrackingArgs{
			Environment:          name,
			Version:              t.Version,
			Replicas:             *t.Replicas,
			Auth:                 t.Auth,
			DatabaseStorageGiB:   *t.Database.StorageGiB,
			ArtifactStorageGiB:   artifactStorageGiB,
			ServiceMonitorLabels: monitoringLabels,
		}
		if t.Auth == blueprints.AuthBasic {
			pw, err := secret(ctx, SecretTrackingAdminPassword)
			if err != nil {
				return err
			}
			args.AdminPassword = pw
		}
		if aws != nil && aws.TrackingStore != nil {
			ts := aws.TrackingStore
			args.Database = &tracking.DatabaseArgs{Host: ts.DatabaseAddress, Port: ts.DatabasePort, Name: ts.DatabaseName, User: ts.DatabaseUser, Password: ts.DatabasePassword}
			args.Artifacts = &tracking.ArtifactsArgs{Bucket: aws.Storage.BucketNames.MapIndex(pulumi.String(trackingBucketName(env))), RoleArn: ts.RoleArn, Region: s.Region}
		} else {
			pw, err := secret(ctx, SecretTrackingDBPassword)
			if err != nil {
				return err
			}
			args.DatabasePassword = pw
		}
		if in := t.Ingress; in != nil {
			args.Ingress = &tracking.IngressArgs{Host: in.Host, TLS: in.TLS != nil && *in.TLS}
		}
		tr, err := tracking.NewTracking(ctx, name, args, opts...)
		if err != nil {
			return err
		}
		ctx.Export("trackingUrl", tr.URL)
	}

	if len(s.CIRunners) > 0 {
		runners := make([]cirunners.Runner, len(s.CIRunners))
		for i, r := range s.CIRunners {
			token, err := secret(ctx, r.TokenSecret)
			if err != nil {
				return err
			}
			runners[i] = cirunners.Runner{
				Name: r.Name, Kind: r.Kind, URL: r.URL, Token: token,
				MinRunners: *r.MinRunners, MaxRunners: *r.MaxRunners, GPU: *r.GPU,
			}
			if *r.GPU && len(s.GPUNodePools) > 0 {
				p := s.GPUNodePools[0]
				runners[i].GPUNodeSelector = map[string]string{PoolLabel: p.Name}
				runners[i].GPUTolerations = runnerTolerations(p.Taints)
			}
		}
		if _, err := cirunners.NewCIRunners(ctx, name, &cirunners.CIRunnersArgs{Environment: name, ChartsMirror: mirror, ChartMode: chartMode, Runners: runners}, opts...); err != nil {
			return err
		}
	}
	return nil
}

// artifactStorageGiB is the size of the artifact volume when artifacts stay
// in the cluster (provider kubernetes).
const artifactStorageGiB = 20

func trackingBucketName(env *blueprints.Environment) string {
	if env.Spec.Storage != nil {
		for _, b := range env.Spec.Storage.Buckets {
			if b.Purpose == blueprints.PurposeTracking {
				return b.Name
			}
		}
	}
	return ""
}

func gpuTolerations(taints []blueprints.Taint) []gpu.Toleration {
	out := make([]gpu.Toleration, len(taints))
	for i, t := range taints {
		out[i] = gpu.Toleration{Key: t.Key, Value: t.Value, Effect: t.Effect}
	}
	return out
}

func runnerTolerations(taints []blueprints.Taint) []cirunners.Toleration {
	out := make([]cirunners.Toleration, len(taints))
	for i, t := range taints {
		out[i] = cirunners.Toleration{Key: t.Key, Value: t.Value, Effect: t.Effect}
	}
	return out
}
