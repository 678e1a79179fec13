package monitoring

import (
	"embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/components/k8snamespace"
)

// dashboardFiles are the Grafana dashboards, one <name>.json per
// dashboard. Their PromQL may hold placeholders for the alert thresholds
// (see dashboardPlaceholders), so a dashboard draws the line its alert
// fires at.
//
//go:embed dashboards/*.json
var dashboardFiles embed.FS

// dashboardPlaceholders returns the placeholders of the dashboard files
// and their values for s.
func dashboardPlaceholders(s *settings) map[string]string {
	return map[string]string{
		"__PLINTH_MODEL_DRIFT_SCORE__":             number(s.Alerts.ModelDriftScore),
		"__PLINTH_INFERENCE_LATENCY_P99_SECONDS__": number(float64(s.Alerts.InferenceLatencyP99Ms) / 1000),
		"__PLINTH_GPU_IDLE_PERCENT__":              strconv.Itoa(s.Alerts.GPUIdlePercent),
	}
}

// renderDashboard returns dashboard name as shipped for s: the file with
// its placeholders replaced, checked to be a JSON object with a uid.
func renderDashboard(name string, s *settings) (string, error) {
	raw, err := dashboardFiles.ReadFile("dashboards/" + name + ".json")
	if err != nil {
		return "", fmt.Errorf("dashboard %s: %w", name, err)
	}
	out := string(raw)
	for placeholder, value := range dashboardPlaceholders(s) {
		out = strings.ReplaceAll(out, placeholder, value)
	}
	var d struct {
		UID   string `json:"uid"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		return "", fmt.Errorf("dashboard %s: %w", name, err)
	}
	if d.UID == "" || d.Title == "" {
		return "", fmt.Errorf("dashboard %s: no uid or title", name)
	}
	return out, nil
}

// dashboards creates one ConfigMap per dashboard, labelled for Grafana's
// sidecar.
func dashboards(ctx *pulumi.Context, name string, s *settings, opts []pulumi.ResourceOption) error {
	for _, d := range s.dashboards {
		body, err := renderDashboard(d, s)
		if err != nil {
			return err
		}
		_, err = corev1.NewConfigMap(ctx, name+"-dashboard-"+d, &corev1.ConfigMapArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Name:        pulumi.String("plinth-dashboard-" + d),
				Namespace:   pulumi.String(s.Namespace),
				Labels:      k8snamespace.Labels(s.Environment, map[string]string{DashboardLabel: DashboardLabelValue}),
				Annotations: pulumi.StringMap{DashboardFolderAnnotation: pulumi.String(dashboardFolder)},
			},
			Data: pulumi.StringMap{d + ".json": pulumi.String(body)},
		}, opts...)
		if err != nil {
			return fmt.Errorf("dashboard %s: %w", d, err)
		}
	}
	return nil
}
