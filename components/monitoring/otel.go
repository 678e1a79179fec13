package monitoring

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/blueprints/versions"
	"github.com/plinth-dev/plinth/components/k8snamespace"
)

// ImageKey is the key of the collector image in versions.yaml.
const ImageKey = "opentelemetry-collector"

// collectorName names the collector's Deployment, Service, ConfigMap and
// ServiceMonitor, and is its app.kubernetes.io/name.
const collectorName = "otel-collector"

// Collector ports.
const (
	otlpGRPCPort    = 4317
	otlpHTTPPort    = 4318
	promExportPort  = 8889
	healthCheckPort = 13133
)

// collectorUID is the user the contrib image runs as.
const collectorUID = 10001

// collectorConfig is the collector configuration: OTLP in (gRPC and
// HTTP), metrics out to a Prometheus endpoint that the ServiceMonitor
// scrapes, with a memory limiter and batching in between. Only metrics
// are kept: traces and logs need a backend Plinth does not run.
var collectorConfig = fmt.Sprintf(`extensions:
  health_check:
    endpoint: 0.0.0.0:%[4]d
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:%[1]d
      http:
        endpoint: 0.0.0.0:%[2]d
processors:
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80
    spike_limit_percentage: 20
  batch: {}
exporters:
  prometheus:
    endpoint: 0.0.0.0:%[3]d
    send_timestamps: false
    metric_expiration: 5m
service:
  extensions: [health_check]
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [prometheus]
`, otlpGRPCPort, otlpHTTPPort, promExportPort, healthCheckPort)

// collector creates the OpenTelemetry collector: ConfigMap, Deployment,
// Service and a ServiceMonitor for its Prometheus exporter.
func collector(ctx *pulumi.Context, name string, s *settings, inNS, afterRelease []pulumi.ResourceOption) error {
	image, ok := versions.Get().Images[ImageKey]
	if !ok {
		return fmt.Errorf("opentelemetry collector: image %q is not pinned in versions.yaml", ImageKey)
	}
	labels := map[string]string{appNameLabel: collectorName, "app.kubernetes.io/component": "opentelemetry-collector"}
	selector := pulumi.StringMap{appNameLabel: pulumi.String(collectorName)}

	cm, err := corev1.NewConfigMap(ctx, name+"-otel-collector-config", &corev1.ConfigMapArgs{
		Metadata: s.meta(collectorName, labels),
		Data:     pulumi.StringMap{"config.yaml": pulumi.String(collectorConfig)},
	}, inNS...)
	if err != nil {
		return fmt.Errorf("opentelemetry collector config: %w", err)
	}
	sum := sha256.Sum256([]byte(collectorConfig))

	_, err = appsv1.NewDeployment(ctx, name+"-otel-collector", &appsv1.DeploymentArgs{
		Metadata: s.meta(collectorName, labels),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(1),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: selector},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{
					Labels: k8snamespace.Labels(s.Environment, labels),
					// A config change rolls the pods.
					Annotations: pulumi.StringMap{"plinth.dev/config-sha256": pulumi.String(hex.EncodeToString(sum[:]))},
				},
				Spec: &corev1.PodSpecArgs{
					AutomountServiceAccountToken: pulumi.Bool(false),
					SecurityContext: &corev1.PodSecurityContextArgs{
						RunAsNonRoot:   pulumi.Bool(true),
						RunAsUser:      pulumi.Int(collectorUID),
						RunAsGroup:     pulumi.Int(collectorUID),
						SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
					},
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name:  pulumi.String("collector"),
						Image: pulumi.String(image.Ref()),
						Args:  pulumi.StringArray{pulumi.String("--config=/conf/config.yaml")},
						Ports: corev1.ContainerPortArray{
							&corev1.ContainerPortArgs{Name: pulumi.String("otlp-grpc"), ContainerPort: pulumi.Int(otlpGRPCPort)},
							&corev1.ContainerPortArgs{Name: pulumi.String("otlp-http"), ContainerPort: pulumi.Int(otlpHTTPPort)},
							&corev1.ContainerPortArgs{Name: pulumi.String("metrics"), ContainerPort: pulumi.Int(promExportPort)},
							&corev1.ContainerPortArgs{Name: pulumi.String("health"), ContainerPort: pulumi.Int(healthCheckPort)},
						},
						Env: corev1.EnvVarArray{
							// Keep the Go heap under the memory limit.
							&corev1.EnvVarArgs{Name: pulumi.String("GOMEMLIMIT"), Value: pulumi.String("400MiB")},
						},
						Resources: &corev1.ResourceRequirementsArgs{
							Requests: pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": pulumi.String("256Mi")},
							Limits:   pulumi.StringMap{"cpu": pulumi.String("1"), "memory": pulumi.String("512Mi")},
						},
						ReadinessProbe: httpProbe("/", "health"),
						LivenessProbe:  httpProbe("/", "health"),
						SecurityContext: &corev1.SecurityContextArgs{
							RunAsNonRoot:             pulumi.Bool(true),
							AllowPrivilegeEscalation: pulumi.Bool(false),
							Privileged:               pulumi.Bool(false),
							ReadOnlyRootFilesystem:   pulumi.Bool(true),
							Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
							SeccompProfile:           &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
						},
						VolumeMounts: corev1.VolumeMountArray{&corev1.VolumeMountArgs{
							Name: pulumi.String("config"), MountPath: pulumi.String("/conf"), ReadOnly: pulumi.Bool(true),
						}},
					}},
					Volumes: corev1.VolumeArray{&corev1.VolumeArgs{
						Name:      pulumi.String("config"),
						ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: pulumi.String(collectorName)},
					}},
				},
			},
		},
	}, append(inNS, pulumi.DependsOn([]pulumi.Resource{cm}))...)
	if err != nil {
		return fmt.Errorf("opentelemetry collector: %w", err)
	}

	_, err = corev1.NewService(ctx, name+"-otel-collector-service", &corev1.ServiceArgs{
		Metadata: s.meta(collectorName, labels),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: selector,
			Ports: corev1.ServicePortArray{
				servicePort("otlp-grpc", otlpGRPCPort),
				servicePort("otlp-http", otlpHTTPPort),
				servicePort("metrics", promExportPort),
			},
		},
	}, inNS...)
	if err != nil {
		return fmt.Errorf("opentelemetry collector service: %w", err)
	}

	_, err = apiextensions.NewCustomResource(ctx, name+"-otel-collector-monitor", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("monitoring.coreos.com/v1"),
		Kind:       pulumi.String("ServiceMonitor"),
		Metadata:   s.meta(collectorName, mergeLabels(labels, ServiceMonitorLabels())),
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
			"selector":  pulumi.Map{"matchLabels": selector},
			"endpoints": pulumi.Array{pulumi.Map{"port": pulumi.String("metrics"), "interval": pulumi.String("30s")}},
		}},
	}, afterRelease...)
	if err != nil {
		return fmt.Errorf("opentelemetry collector service monitor: %w", err)
	}
	return nil
}

func httpProbe(path, port string) *corev1.ProbeArgs {
	return &corev1.ProbeArgs{
		HttpGet:          &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.String(port)},
		PeriodSeconds:    pulumi.Int(10),
		FailureThreshold: pulumi.Int(3),
	}
}

func servicePort(name string, port int) *corev1.ServicePortArgs {
	return &corev1.ServicePortArgs{
		Name: pulumi.String(name), Port: pulumi.Int(port), TargetPort: pulumi.String(name), Protocol: pulumi.String("TCP"),
	}
}

func mergeLabels(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
