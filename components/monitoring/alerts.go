package monitoring

import (
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Alert names.
const (
	AlertModelDriftHigh          = "ModelDriftHigh"
	AlertInferenceLatencyP99High = "InferenceLatencyP99High"
	AlertGPUIdle                 = "GPUIdle"
	AlertGPUNodePoolNotReady     = "GPUNodePoolNotReady"
	AlertTrackingServerDown      = "TrackingServerDown"
)

// Alert severities (the label Alertmanager routes by).
const (
	severityCritical = "critical"
	severityWarning  = "warning"
	severityInfo     = "info"
)

// Rule is one alerting rule of a PrometheusRule.
type Rule struct {
	Alert       string
	Expr        string
	For         string
	Severity    string
	Summary     string
	Description string
}

// RuleGroup is a named group of rules.
type RuleGroup struct {
	Name  string
	Rules []Rule
}

// trackingJobRegex matches the scrape job of the tracking server (the
// Service name of its ServiceMonitor).
const trackingJobRegex = `.*mlflow.*`

// alertGroups are the alerting rules that apply to s: model alerts
// always, GPU alerts with GPU, the tracking server alert with Tracking.
func alertGroups(s *settings) []RuleGroup {
	a := s.Alerts
	groups := []RuleGroup{{
		Name: "plinth.models",
		Rules: []Rule{{
			Alert:       AlertModelDriftHigh,
			Expr:        fmt.Sprintf(`max by (model) (plinth_model_drift_score) > %s`, number(a.ModelDriftScore)),
			For:         "15m",
			Severity:    severityWarning,
			Summary:     "Model {{ $labels.model }} is drifting",
			Description: fmt.Sprintf("The drift score of model {{ $labels.model }} is {{ $value | printf \"%%.3f\" }}, above %s for 15 minutes: its live inputs no longer look like its training data. Check the model-drift dashboard and consider retraining.", number(a.ModelDriftScore)),
		}, {
			Alert:       AlertInferenceLatencyP99High,
			Expr:        fmt.Sprintf(`histogram_quantile(0.99, sum by (model, le) (rate(plinth_inference_latency_seconds_bucket[5m]))) * 1000 > %d`, a.InferenceLatencyP99Ms),
			For:         "10m",
			Severity:    severityWarning,
			Summary:     "Model {{ $labels.model }} answers slowly",
			Description: fmt.Sprintf("The p99 inference latency of model {{ $labels.model }} is {{ $value | printf \"%%.0f\" }} ms, above %d ms for 10 minutes.", a.InferenceLatencyP99Ms),
		}},
	}}
	if s.GPU {
		groups = append(groups, RuleGroup{
			Name: "plinth.gpu",
			Rules: []Rule{{
				Alert:       AlertGPUIdle,
				Expr:        fmt.Sprintf(`avg by (Hostname, gpu) (avg_over_time(DCGM_FI_DEV_GPU_UTIL[1h])) < %d`, a.GPUIdlePercent),
				For:         "15m",
				Severity:    severityInfo,
				Summary:     "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is idle",
				Description: fmt.Sprintf("GPU {{ $labels.gpu }} on node {{ $labels.Hostname }} was busy {{ $value | printf \"%%.1f\" }}%% of the time over the last hour, under %d%%: it costs money without working. Scale the GPU pool down or schedule work on it.", a.GPUIdlePercent),
			}, {
				Alert: AlertGPUNodePoolNotReady,
				// Nodes that have GPUs and are not Ready.
				Expr:        `(max by (node) (kube_node_status_condition{condition="Ready", status="true"}) == 0) and on (node) (max by (node) (kube_node_status_capacity{resource="nvidia_com_gpu"}) > 0)`,
				For:         "10m",
				Severity:    severityCritical,
				Summary:     "GPU node {{ $labels.node }} is not Ready",
				Description: "Node {{ $labels.node }} has nvidia.com/gpu capacity and has not been Ready for 10 minutes: GPU workloads cannot run on it. Check the node's conditions, the NVIDIA device plugin and the driver.",
			}},
		})
	}
	if s.Tracking {
		groups = append(groups, RuleGroup{
			Name: "plinth.tracking",
			Rules: []Rule{{
				Alert:       AlertTrackingServerDown,
				Expr:        fmt.Sprintf(`up{job=~%q} == 0 or absent(up{job=~%q})`, trackingJobRegex, trackingJobRegex),
				For:         "5m",
				Severity:    severityCritical,
				Summary:     "The tracking server is down",
				Description: "Prometheus has not scraped the MLflow tracking server for 5 minutes (its target is down or gone): experiments cannot log runs. Check the tracking pods and their database.",
			}},
		})
	}
	return groups
}

// number renders a threshold the way PromQL reads it (0.2, not 2e-01).
func number(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// prometheusRules creates the PrometheusRule holding the alert groups,
// labelled so that Prometheus loads it.
func prometheusRules(ctx *pulumi.Context, name string, s *settings, opts []pulumi.ResourceOption) error {
	groups := pulumi.Array{}
	for _, g := range alertGroups(s) {
		rules := pulumi.Array{}
		for _, r := range g.Rules {
			rules = append(rules, pulumi.Map{
				"alert":       pulumi.String(r.Alert),
				"expr":        pulumi.String(r.Expr),
				"for":         pulumi.String(r.For),
				"labels":      pulumi.StringMap{"severity": pulumi.String(r.Severity)},
				"annotations": pulumi.StringMap{"summary": pulumi.String(r.Summary), "description": pulumi.String(r.Description)},
			})
		}
		groups = append(groups, pulumi.Map{"name": pulumi.String(g.Name), "rules": rules})
	}
	_, err := apiextensions.NewCustomResource(ctx, name+"-alerts", &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String("monitoring.coreos.com/v1"),
		Kind:        pulumi.String("PrometheusRule"),
		Metadata:    s.meta("plinth-alerts", ServiceMonitorLabels()),
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{"groups": groups}},
	}, opts...)
	if err != nil {
		return fmt.Errorf("prometheus rules: %w", err)
	}
	return nil
}
