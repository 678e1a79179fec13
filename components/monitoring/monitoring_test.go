package monitoring

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/blueprints/versions"
	"github.com/plinth-dev/plinth/components/k8snamespace"
	"github.com/plinth-dev/plinth/policies"
	"github.com/plinth-dev/plinth/stacks/plan"
)

// Resource types the tests read.
const (
	typeRelease        = "kubernetes:helm.sh/v3:Release"
	typePrometheusRule = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
	typeServiceMonitor = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
	typeConfigMap      = "kubernetes:core/v1:ConfigMap"
	typeSecret         = "kubernetes:core/v1:Secret"
	typeNamespace      = "kubernetes:core/v1:Namespace"
	typeNetworkPolicy  = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	typeDeployment     = "kubernetes:apps/v1:Deployment"
	typeService        = "kubernetes:core/v1:Service"
)

// password is the Grafana admin password the tests pass; it must never
// show in a plan.
const password = "correct-horse-battery-staple"

func fullArgs() MonitoringArgs {
	return MonitoringArgs{
		Environment:          "prod-eu",
		Retention:            "30d",
		StorageGiB:           200,
		StorageClass:         "gp3",
		GPU:                  true,
		Tracking:             true,
		OpenTelemetry:        true,
		Alerts:               Alerts{ModelDriftScore: 0.35, InferenceLatencyP99Ms: 750, GPUIdlePercent: 7},
		GrafanaAdminPassword: pulumi.ToSecret(pulumi.String(password)).(pulumi.StringOutput),
	}
}

func run(t *testing.T, args MonitoringArgs) (*plan.Graph, *Monitoring) {
	t.Helper()
	var mon *Monitoring
	g, err := plan.Run(func(ctx *pulumi.Context) error {
		var err error
		mon, err = NewMonitoring(ctx, "prod", &args)
		return err
	}, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return g, mon
}

func mapAt(v any, path ...string) map[string]any {
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	m, _ := v.(map[string]any)
	return m
}

func listAt(v any, path ...string) []any {
	last := path[len(path)-1]
	l, _ := mapAt(v, path[:len(path)-1]...)[last].([]any)
	return l
}

// promql parses PromQL the way Prometheus does.
var promql = parser.NewParser(parser.Options{})

// grafanaVars are Grafana's built-in interval variables and what Grafana
// puts in their place before sending a query.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// labelValuesQuery is a Grafana variable query label_values(<selector>, label).
var labelValuesQuery = regexp.MustCompile(`^label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\)$`)

func parsePromQL(t *testing.T, where, expr string) {
	t.Helper()
	if strings.TrimSpace(expr) == "" {
		t.Errorf("%s: empty expression", where)
		return
	}
	if _, err := promql.ParseExpr(grafanaVars.Replace(expr)); err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
	}
}

// dashboard is the part of a Grafana dashboard the tests check.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Definition string          `json:"definition"`
			Query      json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int                       `json:"id"`
	Type    string                    `json:"type"`
	Title   string                    `json:"title"`
	GridPos *struct{ H, W, X, Y int } `json:"gridPos"`
	Panels  []panel                   `json:"panels"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

func (d *dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

func (d *dashboard) exprs() []string {
	var out []string
	for _, p := range d.allPanels() {
		for _, t := range p.Targets {
			out = append(out, t.Expr)
		}
	}
	return out
}

func mustSettings(t *testing.T, args MonitoringArgs) *settings {
	t.Helper()
	s, err := withDefaults("t", &args)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDashboards checks every shipped dashboard: valid JSON with a uid,
// a title and panels, every panel target's expr (and every variable
// query's selector) valid PromQL, no placeholder left, and the metrics
// each dashboard is about.
func TestDashboards(t *testing.T) {
	s := mustSettings(t, fullArgs())
	wantMetrics := map[string][]string{
		DashboardGPU:        {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_TEMP", "Hostname", "< 7"},
		DashboardTracking:   {"mlflow_http_request_total", "mlflow_http_request_duration_seconds_bucket", "kube_pod_container_status_restarts_total"},
		DashboardCluster:    {"kube_node_status_condition", "kube_pod_status_phase", "node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "container_memory_working_set_bytes"},
		DashboardModelDrift: {"plinth_model_drift_score", "plinth_prediction_bucket", "plinth_predictions_total", "plinth_inference_latency_seconds_bucket", "histogram_quantile(0.5", "histogram_quantile(0.99", "vector(0.35)", "vector(0.75)"},
	}
	uids := map[string]string{}
	for _, name := range AllDashboards {
		t.Run(name, func(t *testing.T) {
			body, err := renderDashboard(name, s)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(body, "__PLINTH_") {
				t.Errorf("placeholder left in %s", name)
			}
			var d dashboard
			if err := json.Unmarshal([]byte(body), &d); err != nil {
				t.Fatal(err)
			}
			if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 || len(d.Panels) == 0 {
				t.Fatalf("uid %q title %q schemaVersion %d panels %d", d.UID, d.Title, d.SchemaVersion, len(d.Panels))
			}
			if other, dup := uids[d.UID]; dup {
				t.Errorf("uid %s also used by %s", d.UID, other)
			}
			uids[d.UID] = name
			ids := map[int]bool{}
			targets := 0
			for _, p := range d.allPanels() {
				if ids[p.ID] {
					t.Errorf("panel id %d repeated", p.ID)
				}
				ids[p.ID] = true
				if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 || p.GridPos.X+p.GridPos.W > 24 {
					t.Errorf("panel %q: bad gridPos %+v", p.Title, p.GridPos)
				}
				if p.Type == "row" {
					continue
				}
				if p.Title == "" || len(p.Targets) == 0 {
					t.Errorf("panel %d (%s): no title or no targets", p.ID, p.Type)
				}
				refs := map[string]bool{}
				for _, tg := range p.Targets {
					if tg.RefID == "" || refs[tg.RefID] {
						t.Errorf("panel %q: refId %q missing or repeated", p.Title, tg.RefID)
					}
					refs[tg.RefID] = true
					parsePromQL(t, fmt.Sprintf("panel %q", p.Title), tg.Expr)
					targets++
				}
			}
			for _, v := range d.Templating.List {
				if v.Type != "query" {
					continue
				}
				m := labelValuesQuery.FindStringSubmatch(v.Definition)
				if m == nil {
					t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, v.Definition)
					continue
				}
				parsePromQL(t, "variable "+v.Name, m[1])
			}
			all := strings.Join(d.exprs(), "\n")
			for _, want := range wantMetrics[name] {
				if !strings.Contains(all, want) {
					t.Errorf("no panel queries %s", want)
				}
			}
			t.Logf("%s: %d panels, %d queries", d.UID, len(d.allPanels()), targets)
		})
	}
}

func TestDashboardFilesAreValidJSON(t *testing.T) {
	entries, err := dashboardFiles.ReadDir("dashboards")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		raw, _ := dashboardFiles.ReadFile("dashboards/" + e.Name())
		if !json.Valid(raw) {
			t.Errorf("%s is not valid JSON", e.Name())
		}
		names = append(names, strings.TrimSuffix(e.Name(), ".json"))
	}
	slices.Sort(names)
	want := slices.Sorted(slices.Values(AllDashboards))
	if !slices.Equal(names, want) {
		t.Errorf("dashboard files %v, want %v", names, want)
	}
}

// rules reads the alerting rules of every planned PrometheusRule.
func rules(t *testing.T, g *plan.Graph) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, r := range g.ByType(typePrometheusRule) {
		if labels := mapAt(r.Inputs, "metadata", "labels"); labels["release"] != ReleaseName {
			t.Errorf("PrometheusRule %s lacks release=%s: %v", r.Name, ReleaseName, labels)
		}
		for _, grp := range listAt(r.Inputs, "spec", "groups") {
			for _, rule := range listAt(grp, "rules") {
				m := rule.(map[string]any)
				out[m["alert"].(string)] = m
			}
		}
	}
	return out
}

func TestAlerts(t *testing.T) {
	tests := []struct {
		name          string
		gpu, tracking bool
		want          []string
	}{
		{"everything", true, true, []string{AlertModelDriftHigh, AlertInferenceLatencyP99High, AlertGPUIdle, AlertGPUNodePoolNotReady, AlertTrackingServerDown}},
		{"no GPU", false, true, []string{AlertModelDriftHigh, AlertInferenceLatencyP99High, AlertTrackingServerDown}},
		{"no tracking", true, false, []string{AlertModelDriftHigh, AlertInferenceLatencyP99High, AlertGPUIdle, AlertGPUNodePoolNotReady}},
		{"models only", false, false, []string{AlertModelDriftHigh, AlertInferenceLatencyP99High}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := fullArgs()
			args.GPU, args.Tracking = tt.gpu, tt.tracking
			g, _ := run(t, args)
			got := rules(t, g)
			names := slices.Sorted(func(yield func(string) bool) {
				for k := range got {
					if !yield(k) {
						return
					}
				}
			})
			if want := slices.Sorted(slices.Values(tt.want)); !slices.Equal(names, want) {
				t.Fatalf("alerts %v, want %v", names, want)
			}
			for name, r := range got {
				expr, _ := r["expr"].(string)
				parsePromQL(t, name, expr)
				if d, err := model.ParseDuration(r["for"].(string)); err != nil || d <= 0 {
					t.Errorf("%s: for %v", name, r["for"])
				}
				if sev := mapAt(r, "labels")["severity"]; sev == nil || sev == "" {
					t.Errorf("%s: no severity", name)
				}
				if ann := mapAt(r, "annotations"); ann["summary"] == nil || ann["description"] == nil {
					t.Errorf("%s: annotations %v", name, ann)
				}
			}
			// Thresholds from the args.
			for name, want := range map[string]string{
				AlertModelDriftHigh:          "max by (model) (plinth_model_drift_score) > 0.35",
				AlertInferenceLatencyP99High: "histogram_quantile(0.99, sum by (model, le) (rate(plinth_inference_latency_seconds_bucket[5m]))) * 1000 > 750",
				AlertGPUIdle:                 "avg by (Hostname, gpu) (avg_over_time(DCGM_FI_DEV_GPU_UTIL[1h])) < 7",
				AlertTrackingServerDown:      `up{job=~".*mlflow.*"} == 0`,
				AlertGPUNodePoolNotReady:     `nvidia_com_gpu`,
			} {
				if r, ok := got[name]; ok && !strings.Contains(r["expr"].(string), want) {
					t.Errorf("%s expr %q lacks %q", name, r["expr"], want)
				}
			}
			if r, ok := got[AlertModelDriftHigh]; ok && r["for"] != "15m" {
				t.Errorf("ModelDriftHigh for %v", r["for"])
			}
		})
	}
}

func TestAlertDefaults(t *testing.T) {
	args := fullArgs()
	args.Alerts = Alerts{}
	s := mustSettings(t, args)
	exprs := map[string]string{}
	for _, g := range alertGroups(s) {
		for _, r := range g.Rules {
			exprs[r.Alert] = r.Expr
		}
	}
	for alert, want := range map[string]string{AlertModelDriftHigh: "> 0.2", AlertInferenceLatencyP99High: "> 500", AlertGPUIdle: "< 10"} {
		if !strings.HasSuffix(exprs[alert], want) {
			t.Errorf("%s = %q, want suffix %q", alert, exprs[alert], want)
		}
	}
}

func TestChart(t *testing.T) {
	pin := versions.Get().Charts[ChartKey]
	tests := []struct {
		name, mirror, chart, repo string
	}{
		{"upstream", "", "kube-prometheus-stack", pin.Repository},
		{"https mirror", "https://charts.mirror.internal/helm", "kube-prometheus-stack", "https://charts.mirror.internal/helm"},
		{"oci mirror", "oci://registry.internal/charts", "oci://registry.internal/charts/kube-prometheus-stack", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := fullArgs()
			args.ChartsMirror = tt.mirror
			g, mon := run(t, args)
			rels := g.ByType(typeRelease)
			if len(rels) != 1 {
				t.Fatalf("%d releases", len(rels))
			}
			in := rels[0].Inputs
			if in["chart"] != tt.chart || in["version"] != pin.Version || in["name"] != ReleaseName || in["namespace"] != DefaultNamespace {
				t.Errorf("chart %v version %v name %v namespace %v", in["chart"], in["version"], in["name"], in["namespace"])
			}
			if repo, _ := mapAt(in, "repositoryOpts")["repo"].(string); repo != tt.repo {
				t.Errorf("repo %q, want %q", repo, tt.repo)
			}
			if mon.Release == nil {
				t.Error("no Release output")
			}
			if mon.Chart.Version != pin.Version {
				t.Errorf("Chart output %+v", mon.Chart)
			}
		})
	}
	args := fullArgs()
	args.ChartsMirror = "ftp://mirror"
	if _, err := plan.Run(func(ctx *pulumi.Context) error {
		_, err := NewMonitoring(ctx, "prod", &args)
		return err
	}, plan.Options{}); err == nil || !strings.Contains(err.Error(), "oci://, https://") {
		t.Errorf("bad mirror: err = %v", err)
	}
}

func TestValues(t *testing.T) {
	g, mon := run(t, fullArgs())
	values := mapAt(g.ByType(typeRelease)[0].Inputs, "values")
	spec := mapAt(values, "prometheus", "prometheusSpec")
	if spec["retention"] != "30d" || spec["retentionSize"] != "170GB" {
		t.Errorf("retention %v size %v", spec["retention"], spec["retentionSize"])
	}
	vol := mapAt(spec, "storageSpec", "volumeClaimTemplate", "spec")
	if vol["storageClassName"] != "gp3" || mapAt(vol, "resources", "requests")["storage"] != "200Gi" {
		t.Errorf("volume %v", vol)
	}
	for _, kind := range []string{"serviceMonitor", "podMonitor", "rule"} {
		if spec[kind+"SelectorNilUsesHelmValues"] != false {
			t.Errorf("%sSelectorNilUsesHelmValues = %v", kind, spec[kind+"SelectorNilUsesHelmValues"])
		}
		if sel := mapAt(spec, kind+"Selector", "matchLabels"); sel["release"] != ReleaseName {
			t.Errorf("%sSelector = %v", kind, sel)
		}
		if ns, ok := spec[kind+"NamespaceSelector"].(map[string]any); !ok || len(ns) != 0 {
			t.Errorf("%sNamespaceSelector = %v, want {} (every namespace)", kind, spec[kind+"NamespaceSelector"])
		}
	}
	if mon.ServiceMonitorLabels["release"] != ReleaseName || len(mon.ServiceMonitorLabels) != 1 {
		t.Errorf("ServiceMonitorLabels = %v", mon.ServiceMonitorLabels)
	}
	dash := mapAt(values, "grafana", "sidecar", "dashboards")
	if dash["enabled"] != true || dash["label"] != DashboardLabel || dash["labelValue"] != DashboardLabelValue || dash["searchNamespace"] != "ALL" {
		t.Errorf("sidecar dashboards %v", dash)
	}
	for _, c := range []string{"kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"} {
		if mapAt(values, c)["enabled"] != false {
			t.Errorf("%s scraped: %v", c, mapAt(values, c))
		}
	}
	if got := mapAt(values, "prometheus-node-exporter")["namespaceOverride"]; got != DefaultNamespace+"-node-exporter" {
		t.Errorf("node-exporter namespace %v", got)
	}

	args := fullArgs()
	args.StorageClass = ""
	g, _ = run(t, args)
	vol = mapAt(g.ByType(typeRelease)[0].Inputs, "values", "prometheus", "prometheusSpec", "storageSpec", "volumeClaimTemplate", "spec")
	if _, ok := vol["storageClassName"]; ok {
		t.Errorf("storageClassName set without StorageClass: %v", vol)
	}
}

// TestGrafanaPassword checks the admin password reaches Grafana only
// through a Secret, stays a Pulumi secret (even when given plain), never
// shows in the plan, and the chart's values only name the Secret.
func TestGrafanaPassword(t *testing.T) {
	for _, tt := range []struct {
		name string
		pw   pulumi.StringInput
	}{
		{"secret", pulumi.ToSecret(pulumi.String(password)).(pulumi.StringOutput)},
		{"plain", pulumi.String(password)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := fullArgs()
			args.GrafanaAdminPassword = tt.pw
			g, _ := run(t, args)
			dump, _ := json.Marshal(g)
			if strings.Contains(string(dump), password) {
				t.Fatal("the password shows in the plan")
			}
			secret := g.Find(typeSecret, "prod-grafana-admin")
			if secret == nil {
				t.Fatal("no grafana admin secret")
			}
			// The whole stringData is a Pulumi secret; inside it, the keys
			// the Grafana chart reads.
			if secret.Inputs["stringData"] != plan.Secret {
				t.Errorf("stringData = %v, want it secret", secret.Inputs["stringData"])
			}
			raw := secret.Raw["stringData"]
			if !raw.IsSecret() {
				t.Fatal("stringData is not a Pulumi secret")
			}
			data := raw.SecretValue().Element.ObjectValue()
			if _, ok := data[grafanaPasswordKey]; !ok || data[grafanaUserKey].StringValue() != grafanaAdminUser {
				t.Errorf("stringData keys %v", data)
			}
			values := mapAt(g.ByType(typeRelease)[0].Inputs, "values", "grafana")
			if mapAt(values, "admin")["existingSecret"] != grafanaAdminSecret {
				t.Errorf("grafana.admin = %v", mapAt(values, "admin"))
			}
			for _, key := range []string{"adminPassword", "adminUser"} {
				if _, ok := values[key]; ok {
					t.Errorf("grafana.%s is set", key)
				}
			}
			rep := evaluate(t, g, nil)
			for _, v := range rep.Violations {
				if v.Policy == "security.no-plain-secrets" {
					t.Errorf("no-plain-secrets: %s", v.Message)
				}
			}
		})
	}
}

// evaluate runs every policy, class prod, on the planned resources plus extra.
func evaluate(t *testing.T, g *plan.Graph, extra []*policies.Resource) *policies.Report {
	t.Helper()
	in := &policies.Input{Environment: policies.Environment{Name: "prod-eu", Class: policies.ClassProd, Provider: "kubernetes"}}
	for _, r := range g.Resources {
		in.Resources = append(in.Resources, &policies.Resource{URN: r.URN, Type: r.Type, Name: r.Name, Parent: r.Parent, Inputs: r.Inputs, Protect: r.Protect})
	}
	in.Resources = append(in.Resources, extra...)
	rep, err := policies.Evaluate(policies.All(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestPolicies(t *testing.T) {
	for _, otel := range []bool{true, false} {
		args := fullArgs()
		args.OpenTelemetry = otel
		g, _ := run(t, args)
		rep := evaluate(t, g, nil)
		for _, v := range rep.Violations {
			t.Logf("%s %s: %s", v.Enforcement, v.Policy, v.Message)
		}
		if n := rep.Mandatory(); n > 0 {
			t.Errorf("otel=%v: %d mandatory violations", otel, n)
		}
	}
}

// TestIdleGPUPolicy checks the GPUIdle rule is what satisfies the cost
// policy idle-gpu-alert when GPU node groups exist.
func TestIdleGPUPolicy(t *testing.T) {
	nodeGroup := &policies.Resource{URN: "urn:ng", Type: "aws:eks/nodeGroup:NodeGroup", Name: "gpu", Inputs: map[string]any{
		"instanceTypes": []any{"g5.xlarge"}, "amiType": "AL2023_x86_64_NVIDIA",
	}}
	for _, gpu := range []bool{true, false} {
		args := fullArgs()
		args.GPU = gpu
		g, _ := run(t, args)
		rep := evaluate(t, g, []*policies.Resource{nodeGroup})
		found := false
		for _, v := range rep.Violations {
			found = found || v.Policy == "cost.idle-gpu-alert"
		}
		if found == gpu {
			t.Errorf("GPU=%v: idle-gpu-alert violated = %v", gpu, found)
		}
	}
}

func TestNamespaces(t *testing.T) {
	g, mon := run(t, fullArgs())
	levels := map[string]string{}
	for _, ns := range g.ByType(typeNamespace) {
		meta := mapAt(ns.Inputs, "metadata")
		levels[meta["name"].(string)], _ = mapAt(meta, "labels")["pod-security.kubernetes.io/enforce"].(string)
	}
	want := map[string]string{DefaultNamespace: k8snamespace.Baseline, DefaultNamespace + "-node-exporter": k8snamespace.Privileged}
	if fmt.Sprint(levels) != fmt.Sprint(want) {
		t.Errorf("namespaces %v, want %v", levels, want)
	}
	var policyNames []string
	for _, np := range g.ByType(typeNetworkPolicy) {
		policyNames = append(policyNames, mapAt(np.Inputs, "metadata")["name"].(string))
	}
	for _, want := range []string{"default-deny", "allow-same-namespace", "allow-prometheus-scrape", "allow-kube-apiserver", "allow-grafana", "allow-otlp"} {
		if !slices.Contains(policyNames, want) {
			t.Errorf("no NetworkPolicy %s in %v", want, policyNames)
		}
	}
	scrape := g.Find(typeNetworkPolicy, "prod-allow-prometheus-scrape")
	if sel := mapAt(scrape.Inputs, "spec", "podSelector", "matchLabels"); sel[appNameLabel] != prometheusName {
		t.Errorf("scrape policy selects %v", sel)
	}
	if to := listAt(scrape.Inputs, "spec", "egress"); len(to) != 2 {
		t.Errorf("scrape egress %v", to)
	}
	if mon.ServiceMonitorLabels == nil {
		t.Error("no ServiceMonitorLabels")
	}
}

func TestDashboardConfigMaps(t *testing.T) {
	tests := []struct {
		name          string
		dashboards    []string
		gpu, tracking bool
		want          []string
		wantErr       string
	}{
		{"all by default", nil, true, true, []string{"cluster", "gpu", "tracking", "model-drift"}, ""},
		{"no GPU, no tracking", nil, false, false, []string{"cluster", "model-drift"}, ""},
		{"chosen", []string{"gpu", "model-drift"}, true, true, []string{"gpu", "model-drift"}, ""},
		{"gpu without GPU", []string{"gpu"}, false, true, nil, ""},
		{"unknown", []string{"gpu", "costs"}, true, true, nil, `dashboard "costs" is not one of`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := fullArgs()
			args.Dashboards, args.GPU, args.Tracking = tt.dashboards, tt.gpu, tt.tracking
			var g *plan.Graph
			g, err := plan.Run(func(ctx *pulumi.Context) error {
				_, err := NewMonitoring(ctx, "prod", &args)
				return err
			}, plan.Options{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, cm := range g.ByType(typeConfigMap) {
				meta := mapAt(cm.Inputs, "metadata")
				if mapAt(meta, "labels")[DashboardLabel] != DashboardLabelValue {
					continue
				}
				if mapAt(meta, "annotations")[DashboardFolderAnnotation] != dashboardFolder {
					t.Errorf("%s: annotations %v", cm.Name, mapAt(meta, "annotations"))
				}
				name := strings.TrimPrefix(meta["name"].(string), "plinth-dashboard-")
				got = append(got, name)
				if body, _ := mapAt(cm.Inputs, "data")[name+".json"].(string); !json.Valid([]byte(body)) {
					t.Errorf("%s: data is not the dashboard JSON", cm.Name)
				}
			}
			slices.Sort(got)
			if want := slices.Sorted(slices.Values(tt.want)); !slices.Equal(got, want) {
				t.Errorf("dashboards %v, want %v", got, want)
			}
		})
	}
}

func TestOpenTelemetry(t *testing.T) {
	g, mon := run(t, fullArgs())
	dep := g.Find(typeDeployment, "prod-otel-collector")
	if dep == nil {
		t.Fatal("no collector deployment")
	}
	pod := mapAt(dep.Inputs, "spec", "template", "spec")
	c := listAt(pod, "containers")[0].(map[string]any)
	img := versions.Get().Images[ImageKey]
	if c["image"] != img.Ref() {
		t.Errorf("image %v, want %s", c["image"], img.Ref())
	}
	sc := mapAt(c, "securityContext")
	if sc["runAsNonRoot"] != true || sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false ||
		fmt.Sprint(mapAt(sc, "capabilities")["drop"]) != "[ALL]" || mapAt(sc, "seccompProfile")["type"] != "RuntimeDefault" {
		t.Errorf("container securityContext %v", sc)
	}
	if mapAt(pod, "securityContext")["runAsNonRoot"] != true {
		t.Errorf("pod securityContext %v", mapAt(pod, "securityContext"))
	}

	cm := g.Find(typeConfigMap, "prod-otel-collector-config")
	var cfg struct {
		Receivers struct {
			OTLP struct {
				Protocols map[string]struct {
					Endpoint string `yaml:"endpoint"`
				} `yaml:"protocols"`
			} `yaml:"otlp"`
		} `yaml:"receivers"`
		Processors map[string]any `yaml:"processors"`
		Exporters  map[string]struct {
			Endpoint string `yaml:"endpoint"`
		} `yaml:"exporters"`
		Service struct {
			Pipelines map[string]struct {
				Receivers, Processors, Exporters []string
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	if err := yaml.Unmarshal([]byte(mapAt(cm.Inputs, "data")["config.yaml"].(string)), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Receivers.OTLP.Protocols["grpc"].Endpoint != "0.0.0.0:4317" || cfg.Receivers.OTLP.Protocols["http"].Endpoint != "0.0.0.0:4318" {
		t.Errorf("receivers %+v", cfg.Receivers)
	}
	if cfg.Exporters["prometheus"].Endpoint != "0.0.0.0:8889" {
		t.Errorf("exporters %+v", cfg.Exporters)
	}
	m := cfg.Service.Pipelines["metrics"]
	if !slices.Equal(m.Receivers, []string{"otlp"}) || !slices.Contains(m.Processors, "batch") || !slices.Equal(m.Exporters, []string{"prometheus"}) {
		t.Errorf("metrics pipeline %+v", m)
	}
	if _, ok := cfg.Processors["batch"]; !ok {
		t.Error("no batch processor")
	}

	svc := g.Find(typeService, "prod-otel-collector-service")
	var ports []float64
	for _, p := range listAt(svc.Inputs, "spec", "ports") {
		ports = append(ports, p.(map[string]any)["port"].(float64))
	}
	if !slices.Equal(ports, []float64{4317, 4318, 8889}) {
		t.Errorf("service ports %v", ports)
	}
	sm := g.Find(typeServiceMonitor, "prod-otel-collector-monitor")
	if sm == nil {
		t.Fatal("no ServiceMonitor")
	}
	if mapAt(sm.Inputs, "metadata", "labels")["release"] != ReleaseName {
		t.Errorf("ServiceMonitor labels %v", mapAt(sm.Inputs, "metadata", "labels"))
	}
	if ep := listAt(sm.Inputs, "spec", "endpoints")[0].(map[string]any); ep["port"] != "metrics" {
		t.Errorf("endpoint %v", ep)
	}
	_ = mon

	args := fullArgs()
	args.OpenTelemetry = false
	g, _ = run(t, args)
	if len(g.ByType(typeDeployment)) != 0 || len(g.ByType(typeServiceMonitor)) != 0 {
		t.Error("collector created without OpenTelemetry")
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*MonitoringArgs)
		wantErr string
	}{
		{"bad retention", func(a *MonitoringArgs) { a.Retention = "15 days" }, `Retention "15 days"`},
		{"drift over 1", func(a *MonitoringArgs) { a.Alerts.ModelDriftScore = 1.5 }, "ModelDriftScore 1.5"},
		{"idle over 100", func(a *MonitoringArgs) { a.Alerts.GPUIdlePercent = 120 }, "GPUIdlePercent 120"},
		{"no password", func(a *MonitoringArgs) { a.GrafanaAdminPassword = nil }, "GrafanaAdminPassword is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := fullArgs()
			tt.mutate(&args)
			if _, err := withDefaults("prod", &args); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	s := mustSettings(t, MonitoringArgs{GrafanaAdminPassword: pulumi.String("x")})
	if s.Namespace != DefaultNamespace || s.Retention != DefaultRetention || s.StorageGiB != DefaultStorageGiB {
		t.Errorf("defaults %+v", s.MonitoringArgs)
	}
}
