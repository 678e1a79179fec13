package monitoring

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Grafana dashboard sidecar discovery: ConfigMaps with this label, in any
// namespace, are loaded as dashboards into the folder named by the
// folder annotation.
const (
	DashboardLabel            = "grafana_dashboard"
	DashboardLabelValue       = "1"
	DashboardFolderAnnotation = "grafana_folder"
	dashboardFolder           = "Plinth"
)

// retentionSizeShare is the share of the volume Prometheus may fill
// before it drops the oldest blocks, whatever the time retention: a full
// volume stops ingestion, an early deletion only shortens history.
const retentionSizeShare = 0.85

// labelSelector is a Kubernetes label selector matching labels.
func labelSelector(labels map[string]string) pulumi.Map {
	return pulumi.Map{"matchLabels": pulumi.ToStringMap(labels)}
}

// stackValues are the kube-prometheus-stack values.
func stackValues(s *settings) pulumi.Map {
	selector := labelSelector(ServiceMonitorLabels())
	allNamespaces := pulumi.Map{}
	volume := pulumi.Map{
		"accessModes": pulumi.ToStringArray([]string{"ReadWriteOnce"}),
		"resources": pulumi.Map{"requests": pulumi.Map{
			"storage": pulumi.Sprintf("%dGi", s.StorageGiB),
		}},
	}
	if s.StorageClass != "" {
		volume["storageClassName"] = pulumi.String(s.StorageClass)
	}
	return pulumi.Map{
		"prometheus": pulumi.Map{"prometheusSpec": pulumi.Map{
			"retention":     pulumi.String(s.Retention),
			"retentionSize": pulumi.Sprintf("%dGB", int(float64(s.StorageGiB)*retentionSizeShare)),
			"storageSpec": pulumi.Map{"volumeClaimTemplate": pulumi.Map{
				"spec": volume,
			}},
			// Select monitors and rules by the release label in every
			// namespace, not only the chart's own.
			"serviceMonitorSelectorNilUsesHelmValues": pulumi.Bool(false),
			"serviceMonitorSelector":                  selector,
			"serviceMonitorNamespaceSelector":         allNamespaces,
			"podMonitorSelectorNilUsesHelmValues":     pulumi.Bool(false),
			"podMonitorSelector":                      selector,
			"podMonitorNamespaceSelector":             allNamespaces,
			"ruleSelectorNilUsesHelmValues":           pulumi.Bool(false),
			"ruleSelector":                            selector,
			"ruleNamespaceSelector":                   allNamespaces,
		}},
		"grafana": pulumi.Map{
			// The admin credentials come from the Secret Plinth creates;
			// the chart's built-in default password is never used.
			"admin": pulumi.Map{"existingSecret": pulumi.String(grafanaAdminSecret)},
			"sidecar": pulumi.Map{"dashboards": pulumi.Map{
				"enabled":          pulumi.Bool(true),
				"label":            pulumi.String(DashboardLabel),
				"labelValue":       pulumi.String(DashboardLabelValue),
				"searchNamespace":  pulumi.String("ALL"),
				"folderAnnotation": pulumi.String(DashboardFolderAnnotation),
				"provider":         pulumi.Map{"foldersFromFilesStructure": pulumi.Bool(true)},
			}},
		},
		// Managed control planes (EKS, GKE, AKS) do not expose these
		// components' metrics, and kube-proxy serves them on localhost:
		// scraping them would only fire their "down" alerts.
		"kubeControllerManager": pulumi.Map{"enabled": pulumi.Bool(false)},
		"kubeScheduler":         pulumi.Map{"enabled": pulumi.Bool(false)},
		"kubeEtcd":              pulumi.Map{"enabled": pulumi.Bool(false)},
		"kubeProxy":             pulumi.Map{"enabled": pulumi.Bool(false)},
		// node-exporter needs host access: it runs in its own privileged
		// namespace.
		"prometheus-node-exporter": pulumi.Map{
			"namespaceOverride": pulumi.String(s.nodeExporterNamespace()),
		},
	}
}
