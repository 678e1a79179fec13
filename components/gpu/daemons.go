package gpu

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/components/k8snamespace"
)

// Object names and labels.
const (
	devicePluginName = "nvidia-device-plugin"
	dcgmExporterName = "dcgm-exporter"

	labelName      = "app.kubernetes.io/name"
	labelComponent = "app.kubernetes.io/component"
	labelInstance  = "app.kubernetes.io/instance"

	// configHashKey on a device plugin's pod template changes with its
	// config file, so a new config rolls the pods (the plugin reads the
	// file once, at start).
	configHashKey = "plinth.dev/config-sha256"
)

// Host paths, in-container paths and the device plugin config file.
const (
	devicePluginsDir = "/var/lib/kubelet/device-plugins"
	podResourcesDir  = "/var/lib/kubelet/pod-resources"
	configDir        = "/config"
	configFile       = "config.yaml"
)

// Pod resources of the daemons.
var (
	devicePluginRequests = map[string]string{"cpu": "50m", "memory": "64Mi"}
	devicePluginLimits   = map[string]string{"cpu": "200m", "memory": "256Mi"}
	dcgmRequests         = map[string]string{"cpu": "100m", "memory": "256Mi"}
	dcgmLimits           = map[string]string{"cpu": "500m", "memory": "1Gi"}
)

// builder creates the component's children.
type builder struct {
	ctx    *pulumi.Context
	name   string
	args   *GPUArgs
	images images
	// opts parent a child to the component and order it after the namespace.
	opts []pulumi.ResourceOption
}

// labels are the labels of an object of app (and its pods).
func (b *builder) labels(app, component, instance string) pulumi.StringMap {
	extra := map[string]string{labelName: app, labelComponent: component}
	if instance != "" {
		extra[labelInstance] = instance
	}
	return k8snamespace.Labels(b.args.Environment, extra)
}

// meta is the metadata of a namespaced object.
func (b *builder) meta(name string, labels pulumi.StringMap, annotations map[string]string) *metav1.ObjectMetaArgs {
	m := &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: pulumi.String(b.args.Namespace), Labels: labels}
	if len(annotations) > 0 {
		m.Annotations = pulumi.ToStringMap(annotations)
	}
	return m
}

// serviceAccount creates a service account whose token is not mounted:
// neither daemon talks to the API server.
func (b *builder) serviceAccount(logical, name string, labels pulumi.StringMap) error {
	_, err := corev1.NewServiceAccount(b.ctx, logical, &corev1.ServiceAccountArgs{
		Metadata:                     b.meta(name, labels, nil),
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("service account %s: %w", name, err)
	}
	return nil
}

// devicePlugins creates the device plugin's service account and, per
// pool, its config (when the pool shares GPUs) and DaemonSet.
//
// One DaemonSet per pool, not one per cluster: each pool's config is a
// plain ConfigMap file read at start, so no config-manager sidecar, node
// label or API access is needed, and a changed config rolls that pool's
// plugin in place (one pod at a time) instead of moving nodes between
// DaemonSets, which would briefly run two plugins on a node.
func (b *builder) devicePlugins() error {
	if err := b.serviceAccount(b.name+"-device-plugin", devicePluginName, b.labels(devicePluginName, "device-plugin", "")); err != nil {
		return fmt.Errorf("device plugin: %w", err)
	}
	for _, p := range b.args.Pools {
		if err := b.devicePlugin(p); err != nil {
			return fmt.Errorf("pool %s: device plugin: %w", p.Name, err)
		}
	}
	return nil
}

// devicePlugin creates one pool's config and DaemonSet.
func (b *builder) devicePlugin(p Pool) error {
	dsName := devicePluginName + "-" + p.Name
	logical := b.name + "-device-plugin-" + p.Name
	labels := b.labels(devicePluginName, "device-plugin", dsName)
	reason := map[string]string{PrivilegedReasonKey: DevicePluginReason}

	config, err := DevicePluginConfig(p.Sharing, p.Replicas)
	if err != nil {
		return err
	}
	env := corev1.EnvVarArray{
		// The NVIDIA container runtime gives the plugin every GPU and the
		// driver's compute and management libraries.
		envVar("NVIDIA_VISIBLE_DEVICES", "all"),
		envVar("NVIDIA_DRIVER_CAPABILITIES", "compute,utility"),
	}
	mounts := corev1.VolumeMountArray{&corev1.VolumeMountArgs{Name: pulumi.String("device-plugins"), MountPath: pulumi.String(devicePluginsDir)}}
	volumes := corev1.VolumeArray{&corev1.VolumeArgs{
		Name:     pulumi.String("device-plugins"),
		HostPath: &corev1.HostPathVolumeSourceArgs{Path: pulumi.String(devicePluginsDir), Type: pulumi.String("Directory")},
	}}
	podAnnotations := map[string]string{PrivilegedReasonKey: DevicePluginReason}
	if config != "" {
		_, err := corev1.NewConfigMap(b.ctx, logical+"-config", &corev1.ConfigMapArgs{
			Metadata: b.meta(dsName, labels, nil),
			Data:     pulumi.StringMap{configFile: pulumi.String(config)},
		}, b.opts...)
		if err != nil {
			return fmt.Errorf("config map: %w", err)
		}
		env = append(env, envVar("CONFIG_FILE", configDir+"/"+configFile))
		mounts = append(mounts, &corev1.VolumeMountArgs{Name: pulumi.String("config"), MountPath: pulumi.String(configDir), ReadOnly: pulumi.Bool(true)})
		volumes = append(volumes, &corev1.VolumeArgs{Name: pulumi.String("config"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: pulumi.String(dsName)}})
		sum := sha256.Sum256([]byte(config))
		podAnnotations[configHashKey] = hex.EncodeToString(sum[:])
	}

	// The plugin runs as root (it owns a socket in the kubelet's
	// directory) with no capabilities; MIG also needs CAP_SYS_ADMIN to
	// watch the MIG devices' health, as NVIDIA's chart grants.
	security := &corev1.SecurityContextArgs{
		AllowPrivilegeEscalation: pulumi.Bool(false),
		Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
	}
	if p.Sharing == SharingMIG {
		security.Capabilities = &corev1.CapabilitiesArgs{
			Add:  pulumi.StringArray{pulumi.String("SYS_ADMIN")},
			Drop: pulumi.StringArray{pulumi.String("ALL")},
		}
		env = append(env, envVar("NVIDIA_MIG_MONITOR_DEVICES", "all"))
	}

	_, err = appsv1.NewDaemonSet(b.ctx, logical, &appsv1.DaemonSetArgs{
		Metadata: b.meta(dsName, labels, reason),
		Spec: &appsv1.DaemonSetSpecArgs{
			Selector:       selector(devicePluginName, dsName),
			UpdateStrategy: rollingUpdate(),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels, Annotations: pulumi.ToStringMap(podAnnotations)},
				Spec: &corev1.PodSpecArgs{
					ServiceAccountName:           pulumi.String(devicePluginName),
					AutomountServiceAccountToken: pulumi.Bool(false),
					// Without the plugin a node's GPUs cannot be scheduled.
					PriorityClassName: pulumi.String("system-node-critical"),
					Affinity:          affinity([]Pool{p}),
					Tolerations:       tolerationArgs(p.Tolerations),
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name:            pulumi.String(devicePluginName),
						Image:           pulumi.String(b.images.devicePlugin),
						Command:         pulumi.StringArray{pulumi.String("nvidia-device-plugin")},
						Env:             env,
						SecurityContext: security,
						Resources:       resources(devicePluginRequests, devicePluginLimits),
						VolumeMounts:    mounts,
					}},
					Volumes: volumes,
				},
			},
		},
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("daemon set: %w", err)
	}
	return nil
}

// dcgmExporter creates the DCGM exporter: service account, DaemonSet on
// every pool, Service, ServiceMonitor, and the network policy that lets
// Prometheus in.
func (b *builder) dcgmExporter() error {
	const component = "gpu-metrics"
	logical := b.name + "-dcgm-exporter"
	labels := b.labels(dcgmExporterName, component, "")
	if err := b.serviceAccount(logical, dcgmExporterName, labels); err != nil {
		return fmt.Errorf("dcgm exporter: %w", err)
	}

	var tolerations []Toleration
	for _, p := range b.args.Pools {
		for _, t := range p.Tolerations {
			if !slices.Contains(tolerations, t) {
				tolerations = append(tolerations, t)
			}
		}
	}
	health := &corev1.ProbeArgs{
		HttpGet:             &corev1.HTTPGetActionArgs{Path: pulumi.String("/health"), Port: pulumi.String(MetricsPortName)},
		InitialDelaySeconds: pulumi.Int(45), // DCGM takes a while to attach to the GPUs
		PeriodSeconds:       pulumi.Int(10),
	}
	reason := map[string]string{PrivilegedReasonKey: DCGMExporterReason}
	_, err := appsv1.NewDaemonSet(b.ctx, logical, &appsv1.DaemonSetArgs{
		Metadata: b.meta(dcgmExporterName, labels, reason),
		Spec: &appsv1.DaemonSetSpecArgs{
			Selector:       selector(dcgmExporterName, ""),
			UpdateStrategy: rollingUpdate(),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels, Annotations: pulumi.ToStringMap(reason)},
				Spec: &corev1.PodSpecArgs{
					ServiceAccountName:           pulumi.String(dcgmExporterName),
					AutomountServiceAccountToken: pulumi.Bool(false),
					Affinity:                     affinity(b.args.Pools),
					Tolerations:                  tolerationArgs(tolerations),
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name:  pulumi.String(dcgmExporterName),
						Image: pulumi.String(b.images.dcgmExporter),
						Env: corev1.EnvVarArray{
							envVar("NVIDIA_VISIBLE_DEVICES", "all"),
							envVar("DCGM_EXPORTER_LISTEN", fmt.Sprintf(":%d", MetricsPort)),
							// Label each GPU's metrics with the pod using it.
							envVar("DCGM_EXPORTER_KUBERNETES", "true"),
							&corev1.EnvVarArgs{Name: pulumi.String("NODE_NAME"), ValueFrom: &corev1.EnvVarSourceArgs{
								FieldRef: &corev1.ObjectFieldSelectorArgs{FieldPath: pulumi.String("spec.nodeName")},
							}},
						},
						Ports: corev1.ContainerPortArray{&corev1.ContainerPortArgs{
							Name: pulumi.String(MetricsPortName), ContainerPort: pulumi.Int(MetricsPort), Protocol: pulumi.String("TCP"),
						}},
						// As NVIDIA ships it: root, and only CAP_SYS_ADMIN,
						// which the profiling (DCGM_FI_PROF_*) metrics need.
						SecurityContext: &corev1.SecurityContextArgs{
							RunAsNonRoot:             pulumi.Bool(false),
							RunAsUser:                pulumi.Int(0),
							AllowPrivilegeEscalation: pulumi.Bool(false),
							Capabilities: &corev1.CapabilitiesArgs{
								Add:  pulumi.StringArray{pulumi.String("SYS_ADMIN")},
								Drop: pulumi.StringArray{pulumi.String("ALL")},
							},
						},
						Resources:      resources(dcgmRequests, dcgmLimits),
						LivenessProbe:  health,
						ReadinessProbe: health,
						VolumeMounts: corev1.VolumeMountArray{&corev1.VolumeMountArgs{
							Name: pulumi.String("pod-resources"), MountPath: pulumi.String(podResourcesDir), ReadOnly: pulumi.Bool(true),
						}},
					}},
					Volumes: corev1.VolumeArray{&corev1.VolumeArgs{
						Name:     pulumi.String("pod-resources"),
						HostPath: &corev1.HostPathVolumeSourceArgs{Path: pulumi.String(podResourcesDir), Type: pulumi.String("Directory")},
					}},
				},
			},
		},
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("dcgm exporter: daemon set: %w", err)
	}

	podSelector := pulumi.StringMap{labelName: pulumi.String(dcgmExporterName)}
	_, err = corev1.NewService(b.ctx, logical, &corev1.ServiceArgs{
		Metadata: b.meta(dcgmExporterName, labels, nil),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: podSelector,
			Ports: corev1.ServicePortArray{&corev1.ServicePortArgs{
				Name: pulumi.String(MetricsPortName), Port: pulumi.Int(MetricsPort),
				TargetPort: pulumi.String(MetricsPortName), Protocol: pulumi.String("TCP"),
			}},
		},
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("dcgm exporter: service: %w", err)
	}

	smLabels := b.labels(dcgmExporterName, component, "")
	for k, v := range b.args.ServiceMonitorLabels {
		smLabels[k] = pulumi.String(v)
	}
	_, err = apiextensions.NewCustomResource(b.ctx, logical, &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("monitoring.coreos.com/v1"),
		Kind:       pulumi.String("ServiceMonitor"),
		Metadata:   b.meta(dcgmExporterName, smLabels, nil),
		OtherFields: map[string]any{
			"spec": map[string]any{
				"selector":          map[string]any{"matchLabels": map[string]any{labelName: dcgmExporterName}},
				"namespaceSelector": map[string]any{"matchNames": []any{b.args.Namespace}},
				"endpoints": []any{map[string]any{
					"port":     MetricsPortName,
					"path":     "/metrics",
					"interval": ScrapeInterval,
					// The node a GPU is in, to join with node metrics.
					"relabelings": []any{map[string]any{
						"sourceLabels": []any{"__meta_kubernetes_pod_node_name"},
						"targetLabel":  "node",
					}},
				}},
			},
		},
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("dcgm exporter: service monitor: %w", err)
	}

	_, err = networkingv1.NewNetworkPolicy(b.ctx, logical+"-allow-metrics", &networkingv1.NetworkPolicyArgs{
		Metadata: b.meta(dcgmExporterName+"-metrics", labels, nil),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: podSelector},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{
				From: networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{
					NamespaceSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{
						"kubernetes.io/metadata.name": pulumi.String(b.args.MonitoringNamespace),
					}},
				}},
				Ports: networkingv1.NetworkPolicyPortArray{&networkingv1.NetworkPolicyPortArgs{
					Protocol: pulumi.String("TCP"), Port: pulumi.Int(MetricsPort),
				}},
			}},
		},
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("dcgm exporter: network policy: %w", err)
	}
	return nil
}

// affinity requires a node of one of the pools: one node selector term per
// distinct pool selector (terms are OR-ed), each requiring every label of
// the selector (expressions are AND-ed). A node no pool selects, a CPU
// node, never matches.
func affinity(pools []Pool) *corev1.AffinityArgs {
	terms := corev1.NodeSelectorTermArray{}
	var seen []string
	for _, p := range pools {
		keys := slices.Sorted(maps.Keys(p.NodeSelector))
		var id strings.Builder
		exprs := corev1.NodeSelectorRequirementArray{}
		for _, k := range keys {
			fmt.Fprintf(&id, "%s=%s\x00", k, p.NodeSelector[k])
			exprs = append(exprs, &corev1.NodeSelectorRequirementArgs{
				Key: pulumi.String(k), Operator: pulumi.String("In"), Values: pulumi.StringArray{pulumi.String(p.NodeSelector[k])},
			})
		}
		if slices.Contains(seen, id.String()) {
			continue
		}
		seen = append(seen, id.String())
		terms = append(terms, &corev1.NodeSelectorTermArgs{MatchExpressions: exprs})
	}
	return &corev1.AffinityArgs{NodeAffinity: &corev1.NodeAffinityArgs{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelectorArgs{NodeSelectorTerms: terms},
	}}
}

// selector selects a DaemonSet's pods; it never changes once created.
func selector(app, instance string) *metav1.LabelSelectorArgs {
	m := pulumi.StringMap{labelName: pulumi.String(app)}
	if instance != "" {
		m[labelInstance] = pulumi.String(instance)
	}
	return &metav1.LabelSelectorArgs{MatchLabels: m}
}

// rollingUpdate replaces a daemon one node at a time.
func rollingUpdate() *appsv1.DaemonSetUpdateStrategyArgs {
	return &appsv1.DaemonSetUpdateStrategyArgs{
		Type:          pulumi.String("RollingUpdate"),
		RollingUpdate: &appsv1.RollingUpdateDaemonSetArgs{MaxUnavailable: pulumi.Int(1)},
	}
}

func resources(requests, limits map[string]string) *corev1.ResourceRequirementsArgs {
	return &corev1.ResourceRequirementsArgs{Requests: pulumi.ToStringMap(requests), Limits: pulumi.ToStringMap(limits)}
}

func envVar(name, value string) *corev1.EnvVarArgs {
	return &corev1.EnvVarArgs{Name: pulumi.String(name), Value: pulumi.String(value)}
}

// pluginConfig is the device plugin's config file (version v1).
type pluginConfig struct {
	Version string         `yaml:"version"`
	Flags   *pluginFlags   `yaml:"flags,omitempty"`
	Sharing *pluginSharing `yaml:"sharing,omitempty"`
}

type pluginFlags struct {
	MigStrategy string `yaml:"migStrategy"`
}

type pluginSharing struct {
	TimeSlicing pluginTimeSlicing `yaml:"timeSlicing"`
}

type pluginTimeSlicing struct {
	Resources []pluginResource `yaml:"resources"`
}

type pluginResource struct {
	Name     string `yaml:"name"`
	Replicas int    `yaml:"replicas"`
}

// DevicePluginConfig returns the NVIDIA device plugin config file for a
// sharing mode: time-slicing of nvidia.com/gpu into replicas, the MIG
// strategy single, or "" for whole GPUs (the plugin's defaults).
func DevicePluginConfig(sharing string, replicas int) (string, error) {
	cfg := pluginConfig{Version: "v1"}
	switch sharing {
	case SharingNone, "":
		return "", nil
	case SharingTimeSlicing:
		if replicas < MinReplicas || replicas > MaxReplicas {
			return "", fmt.Errorf("time-slicing replicas %d must be %d to %d", replicas, MinReplicas, MaxReplicas)
		}
		cfg.Sharing = &pluginSharing{TimeSlicing: pluginTimeSlicing{Resources: []pluginResource{{Name: GPUResource, Replicas: replicas}}}}
	case SharingMIG:
		cfg.Flags = &pluginFlags{MigStrategy: "single"}
	default:
		return "", fmt.Errorf("sharing %q is not %s, %s or %s", sharing, SharingNone, SharingTimeSlicing, SharingMIG)
	}
	var out strings.Builder
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return "", fmt.Errorf("render device plugin config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("render device plugin config: %w", err)
	}
	return out.String(), nil
}
