package chartrepo_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/blueprints/versions"
	"github.com/plinth-dev/plinth/test/chartrepo"
	"github.com/plinth-dev/plinth/test/localcluster"
)

// index is index.yaml as a client reads it, decoded independently of the
// package's own types.
type index struct {
	APIVersion string `yaml:"apiVersion"`
	Generated  string `yaml:"generated"`
	Entries    map[string][]struct {
		APIVersion string   `yaml:"apiVersion"`
		Name       string   `yaml:"name"`
		Version    string   `yaml:"version"`
		AppVersion string   `yaml:"appVersion"`
		Type       string   `yaml:"type"`
		URLs       []string `yaml:"urls"`
		Digest     string   `yaml:"digest"`
		Created    string   `yaml:"created"`
	} `yaml:"entries"`
}

// TestRepository serves the pinned charts and reads the repository as Helm
// does: index.yaml, then each archive at the URL the index gives, checked
// against its digest and opened as a chart.
func TestRepository(t *testing.T) {
	pins := versions.Get().Charts
	repo := chartrepo.Start(t, chartrepo.Pinned(t)...)
	if !strings.HasPrefix(repo.URL, "http://127.0.0.1:") {
		t.Errorf("URL %s is not on 127.0.0.1", repo.URL)
	}

	var idx index
	if err := yaml.Unmarshal(get(t, repo.URL+"/index.yaml"), &idx); err != nil {
		t.Fatalf("index.yaml: %v", err)
	}
	if idx.APIVersion != "v1" {
		t.Errorf("index apiVersion %q, want v1", idx.APIVersion)
	}
	if _, err := time.Parse(time.RFC3339Nano, idx.Generated); err != nil {
		t.Errorf("generated: %v", err)
	}
	if got, want := slices.Sorted(maps.Keys(idx.Entries)), pinnedNames(pins); !slices.Equal(got, want) {
		t.Errorf("index entries %v, want %v", got, want)
	}

	for key, pin := range pins {
		t.Run(key, func(t *testing.T) {
			entries := idx.Entries[pin.Chart]
			if len(entries) != 1 {
				t.Fatalf("%d index entries for %s, want 1", len(entries), pin.Chart)
			}
			e := entries[0]
			if e.Name != pin.Chart || e.Version != pin.Version || e.APIVersion != "v2" || e.Type != "application" || e.AppVersion == "" {
				t.Errorf("entry name %q version %q apiVersion %q type %q appVersion %q, want %s %s v2 application",
					e.Name, e.Version, e.APIVersion, e.Type, e.AppVersion, pin.Chart, pin.Version)
			}
			if _, err := time.Parse(time.RFC3339Nano, e.Created); err != nil {
				t.Errorf("created: %v", err)
			}
			wantURL := repo.URL + "/charts/" + pin.Chart + "-" + pin.Version + ".tgz"
			if len(e.URLs) != 1 || e.URLs[0] != wantURL || repo.ArchiveURL(pin.Chart, pin.Version) != wantURL {
				t.Fatalf("urls %v, want [%s]", e.URLs, wantURL)
			}

			tgz := get(t, e.URLs[0])
			sum := sha256.Sum256(tgz)
			if e.Digest != hex.EncodeToString(sum[:]) {
				t.Errorf("digest %s, archive sha256 %x", e.Digest, sum)
			}
			files := untar(t, tgz)
			for name := range files {
				if !strings.HasPrefix(name, pin.Chart+"/") {
					t.Errorf("archive member %s is not under %s/", name, pin.Chart)
				}
			}
			var meta struct {
				APIVersion string `yaml:"apiVersion"`
				Name       string `yaml:"name"`
				Version    string `yaml:"version"`
				AppVersion string `yaml:"appVersion"`
				Type       string `yaml:"type"`
			}
			if err := yaml.Unmarshal(files[pin.Chart+"/Chart.yaml"], &meta); err != nil {
				t.Fatalf("Chart.yaml: %v", err)
			}
			if meta.APIVersion != "v2" || meta.Name != pin.Chart || meta.Version != pin.Version || meta.AppVersion != e.AppVersion || meta.Type != "application" {
				t.Errorf("Chart.yaml %+v, want apiVersion v2 name %s version %s appVersion %s", meta, pin.Chart, pin.Version, e.AppVersion)
			}
			var values map[string]any
			if err := yaml.Unmarshal(files[pin.Chart+"/values.yaml"], &values); err != nil || values == nil {
				t.Errorf("values.yaml: %v (%d keys)", err, len(values))
			}
			if len(files[pin.Chart+"/templates/values-configmap.yaml"]) == 0 {
				t.Error("templates/values-configmap.yaml is missing")
			}
			var crds []string
			for name, b := range files {
				if !strings.HasPrefix(name, pin.Chart+"/crds/") {
					continue
				}
				var crd struct {
					APIVersion string `yaml:"apiVersion"`
					Kind       string `yaml:"kind"`
					Metadata   struct{ Name string }
				}
				if err := yaml.Unmarshal(b, &crd); err != nil || crd.APIVersion != "apiextensions.k8s.io/v1" || crd.Kind != "CustomResourceDefinition" {
					t.Errorf("%s: %v, apiVersion %q kind %q", name, err, crd.APIVersion, crd.Kind)
				}
				crds = append(crds, crd.Metadata.Name)
			}
			for _, want := range wantCRDs[key] {
				if !slices.Contains(crds, want) {
					t.Errorf("crds/ lacks %s (has %v)", want, crds)
				}
			}
		})
	}

	resp, err := http.Get(repo.URL + "/charts/nothing-1.0.0.tgz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown archive: HTTP %d, want 404", resp.StatusCode)
	}
	if reqs := repo.Requests(); !slices.Contains(reqs, "GET /index.yaml") {
		t.Errorf("requests %v lack GET /index.yaml", reqs)
	}
}

// wantCRDs are the CRDs each test chart must install, by versions.yaml key.
var wantCRDs = map[string][]string{
	"kube-prometheus-stack": {
		"servicemonitors.monitoring.coreos.com", "podmonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com",
	},
	"gha-runner-scale-set-controller": {"autoscalingrunnersets.actions.github.com"},
}

func pinnedNames(pins map[string]versions.Chart) []string {
	var names []string
	for _, p := range pins {
		names = append(names, p.Chart)
	}
	slices.Sort(names)
	return names
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d: %s", url, resp.StatusCode, b)
	}
	return b
}

// untar reads a .tgz into member name → content.
func untar(t *testing.T, tgz []byte) map[string][]byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = b
	}
	return files
}

// TestPulumiHelmInstall installs the pinned test charts through the real
// Pulumi engine (the pinned CLI and kubernetes provider, Automation API,
// inline program, local file backend): helm/v3 Releases fetched from the
// loopback repository into a local control plane, then a ServiceMonitor and
// a PrometheusRule on the CRDs kube-prometheus-stack installed. It checks
// the CRDs, the values each chart recorded, and the custom resources.
func TestPulumiHelmInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts pulumi and a Kubernetes control plane")
	}
	pulumiBin, home := requireToolchain(t)
	var timings []string
	timed := func(step string, f func()) {
		t.Helper()
		start := time.Now()
		f()
		d := time.Since(start).Round(10 * time.Millisecond)
		timings = append(timings, fmt.Sprintf("%-52s %8s", step, d))
		t.Logf("%s: %s", step, d)
	}
	defer func() { t.Logf("timings:\n  %s", strings.Join(timings, "\n  ")) }()

	pins := versions.Get().Charts
	var repo *chartrepo.Server
	timed("chart repository (pinned test charts)", func() { repo = chartrepo.Start(t, chartrepo.Pinned(t)...) })

	dir := t.TempDir()
	var cluster *localcluster.Cluster
	timed("local control plane (1 fake node)", func() {
		cluster = localcluster.Start(t, localcluster.Options{Dir: filepath.Join(dir, "cluster"), Nodes: []localcluster.Node{
			{Name: "cpu-0", CPU: "8", Memory: "32Gi", InstanceType: "m6i.2xlarge"},
		}})
	})
	t.Cleanup(cluster.Stop)

	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: filepath.Dir(filepath.Dir(pulumiBin))})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"state", "work"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"PULUMI_HOME":                   home,
		"PULUMI_BACKEND_URL":            "file://" + filepath.Join(dir, "state"),
		"PULUMI_CONFIG_PASSPHRASE":      "test",
		"PULUMI_SKIP_UPDATE_CHECK":      "1",
		"PULUMI_IGNORE_AMBIENT_PLUGINS": "1",
		// Helm's caches and config: the test's, not the user's.
		"HELM_CACHE_HOME":  filepath.Join(dir, "helm", "cache"),
		"HELM_CONFIG_HOME": filepath.Join(dir, "helm", "config"),
		"HELM_DATA_HOME":   filepath.Join(dir, "helm", "data"),
	}
	ctx := context.Background()
	var stack auto.Stack
	timed("upsert stack", func() {
		stack, err = auto.UpsertStackInlineSource(ctx, "chartrepo", "plinth-chartrepo-test", installProgram(cluster.Kubeconfig, repo.URL, pins),
			auto.Pulumi(cmd), auto.PulumiHome(home), auto.WorkDir(filepath.Join(dir, "work")), auto.EnvVars(env))
	})
	if err != nil {
		t.Fatal(err)
	}
	var res auto.UpResult
	timed("up: 6 helm releases + ServiceMonitor + PrometheusRule", func() { res, err = stack.Up(ctx, optup.ProgressStreams(io.Discard)) })
	if err != nil {
		t.Fatalf("up: %v", err) // carries the engine's output
	}
	t.Logf("up: %s; engine output:\n%s", res.Summary.Result, res.StdOut)

	timed("assertions (kubectl)", func() {
		// The engine fetched every chart from the loopback repository.
		reqs := repo.Requests()
		if !slices.Contains(reqs, "GET /index.yaml") {
			t.Errorf("the repository never served index.yaml: %v", reqs)
		}
		for _, pin := range pins {
			if want := "GET /charts/" + pin.Chart + "-" + pin.Version + ".tgz"; !slices.Contains(reqs, want) {
				t.Errorf("the repository never served %s: %v", want, reqs)
			}
		}

		for _, crds := range wantCRDs {
			for _, crd := range crds {
				if _, err := cluster.KubectlE("get", "crd", crd, "-o", "name"); err != nil {
					t.Errorf("CRD %s: %v", crd, err)
				}
			}
		}

		kps := configMap(t, cluster, "monitoring", chartrepo.ValuesConfigMap("kps", pins["kube-prometheus-stack"].Chart))
		expect(t, "kube-prometheus-stack", kps, map[string]string{
			"prometheus.prometheusSpec.retention":    "2d",
			"grafana.admin.existingSecret":           "grafana-admin",
			"grafana.sidecar.dashboards.label":       "grafana_dashboard", // chart default
			"prometheus.prometheusSpec.nodeSelector": `{"plinth.dev/pool":"system"}`,
		})
		if got := cluster.Kubectl(t, "get", "deployment", "kps-grafana", "-n", "monitoring", "-o", "jsonpath={.status.readyReplicas}"); got != "1" {
			t.Errorf("deployment kps-grafana: %q ready replicas, want 1", got)
		}
		for _, obj := range []string{"servicemonitors.monitoring.coreos.com/plinth-test", "prometheusrules.monitoring.coreos.com/plinth-test"} {
			if _, err := cluster.KubectlE("get", obj, "-n", "monitoring", "-o", "name"); err != nil {
				t.Errorf("%s: %v", obj, err)
			}
		}

		arc := configMap(t, cluster, "arc-systems", chartrepo.ValuesConfigMap("arc", pins["gha-runner-scale-set-controller"].Chart))
		expect(t, "gha-runner-scale-set-controller", arc, map[string]string{"serviceAccountName": "arc-gha-rs-controller", "replicaCount": "1"})

		gpu := configMap(t, cluster, "arc-runners", chartrepo.ValuesConfigMap("gpu-runners", pins["gha-runner-scale-set"].Chart))
		expect(t, "gha-runner-scale-set", gpu, map[string]string{
			"githubConfigUrl":            "https://github.com/plinth-dev",
			"githubConfigSecret":         "gh-app",
			"minRunners":                 "0",
			"maxRunners":                 "4",
			"template.spec.nodeSelector": `{"nvidia.com/gpu.present":"true"}`,
			"template.spec.tolerations":  `[{"effect":"NoSchedule","key":"nvidia.com/gpu","operator":"Exists"}]`,
		})
		if got := cluster.Kubectl(t, "get", "autoscalingrunnersets.actions.github.com", "gpu-runners", "-n", "arc-runners",
			"-o", "jsonpath={.spec.template.spec.nodeSelector}"); got != `{"nvidia.com/gpu.present":"true"}` {
			t.Errorf("AutoscalingRunnerSet gpu-runners nodeSelector %s", got)
		}

		gl := configMap(t, cluster, "gitlab-runner", chartrepo.ValuesConfigMap("gitlab-runner", pins["gitlab-runner"].Chart))
		expect(t, "gitlab-runner", gl, map[string]string{
			"gitlabUrl":      "https://gitlab.example.com/",
			"concurrent":     "4",
			"runners.secret": "gitlab-runner-token",
			"fullname":       "gitlab-runner",
		})
		if got := cluster.Kubectl(t, "get", "deployment", "gitlab-runner", "-n", "gitlab-runner", "-o", "jsonpath={.status.readyReplicas}"); got != "1" {
			t.Errorf("deployment gitlab-runner: %q ready replicas, want 1", got)
		}

		// Releases with no values at all: the chart defaults.
		bareKPS := configMap(t, cluster, "bare", chartrepo.ValuesConfigMap("bare-kps", pins["kube-prometheus-stack"].Chart))
		expect(t, "kube-prometheus-stack (no values)", bareKPS, map[string]string{"prometheus.prometheusSpec.retention": "10d", "grafana.admin.existingSecret": ""})
		bareRunners := configMap(t, cluster, "bare", chartrepo.ValuesConfigMap("bare-runners", pins["gha-runner-scale-set"].Chart))
		expect(t, "gha-runner-scale-set (no values)", bareRunners, map[string]string{"minRunners": "", "maxRunners": "", "githubConfigSecret": `{"inline":["github_token"]}`})
		bareGL := configMap(t, cluster, "bare", chartrepo.ValuesConfigMap("bare-gl", pins["gitlab-runner"].Chart))
		expect(t, "gitlab-runner (no values)", bareGL, map[string]string{"concurrent": "10", "gitlabUrl": "", "runners.secret": ""})
	})
}

// installProgram is the inline Pulumi program: a kubernetes provider on the
// local cluster, namespaces enforcing the restricted Pod Security Standard,
// and a helm/v3 Release of each pinned test chart from the repository.
func installProgram(kubeconfig, repoURL string, pins map[string]versions.Chart) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		provider, err := kubernetes.NewProvider(ctx, "local", &kubernetes.ProviderArgs{Kubeconfig: pulumi.String(kubeconfig)})
		if err != nil {
			return err
		}
		opts := []pulumi.ResourceOption{pulumi.Provider(provider)}
		namespaces := map[string]pulumi.StringOutput{}
		for _, name := range []string{"monitoring", "arc-systems", "arc-runners", "gitlab-runner", "bare"} {
			ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{
				Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name), Labels: pulumi.StringMap{
					"pod-security.kubernetes.io/enforce": pulumi.String("restricted"),
				}},
			}, opts...)
			if err != nil {
				return err
			}
			namespaces[name] = ns.Metadata.Name().Elem()
		}
		release := func(name, namespace, key string, values pulumi.Map, extra ...pulumi.ResourceOption) (*helmv3.Release, error) {
			pin := pins[key]
			return helmv3.NewRelease(ctx, name, &helmv3.ReleaseArgs{
				Name:           pulumi.String(name),
				Namespace:      namespaces[namespace],
				Chart:          pulumi.String(pin.Chart),
				Version:        pulumi.String(pin.Version),
				RepositoryOpts: &helmv3.RepositoryOptsArgs{Repo: pulumi.String(repoURL)},
				Values:         values,
				Timeout:        pulumi.Int(120),
			}, append(slices.Clone(opts), extra...)...)
		}

		kps, err := release("kps", "monitoring", "kube-prometheus-stack", pulumi.Map{
			"prometheus": pulumi.Map{"prometheusSpec": pulumi.Map{
				"retention":    pulumi.String("2d"),
				"nodeSelector": pulumi.Map{"plinth.dev/pool": pulumi.String("system")},
			}},
			"grafana": pulumi.Map{"admin": pulumi.Map{"existingSecret": pulumi.String("grafana-admin")}},
		})
		if err != nil {
			return err
		}
		after := pulumi.DependsOn([]pulumi.Resource{kps})
		meta := &metav1.ObjectMetaArgs{Name: pulumi.String("plinth-test"), Namespace: namespaces["monitoring"],
			Labels: pulumi.StringMap{"release": pulumi.String("kps")}}
		if _, err := apiextensions.NewCustomResource(ctx, "service-monitor", &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String("monitoring.coreos.com/v1"),
			Kind:       pulumi.String("ServiceMonitor"),
			Metadata:   meta,
			OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{
				"selector":  map[string]any{"matchLabels": map[string]any{"app": "plinth-test"}},
				"endpoints": []any{map[string]any{"port": "metrics", "interval": "30s"}},
			}},
		}, append(slices.Clone(opts), after)...); err != nil {
			return err
		}
		if _, err := apiextensions.NewCustomResource(ctx, "prometheus-rule", &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String("monitoring.coreos.com/v1"),
			Kind:       pulumi.String("PrometheusRule"),
			Metadata:   meta,
			OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{
				"groups": []any{map[string]any{"name": "plinth-test", "rules": []any{map[string]any{
					"alert": "PlinthTest", "expr": "vector(1) > 2", "for": "5m",
				}}}},
			}},
		}, append(slices.Clone(opts), after)...); err != nil {
			return err
		}

		arc, err := release("arc", "arc-systems", "gha-runner-scale-set-controller", nil)
		if err != nil {
			return err
		}
		afterARC := pulumi.DependsOn([]pulumi.Resource{arc})
		if _, err := release("gpu-runners", "arc-runners", "gha-runner-scale-set", pulumi.Map{
			"githubConfigUrl":    pulumi.String("https://github.com/plinth-dev"),
			"githubConfigSecret": pulumi.String("gh-app"),
			"minRunners":         pulumi.Int(0),
			"maxRunners":         pulumi.Int(4),
			"controllerServiceAccount": pulumi.Map{
				"namespace": pulumi.String("arc-systems"), "name": pulumi.String("arc-gha-rs-controller"),
			},
			"template": pulumi.Map{"spec": pulumi.Map{
				"nodeSelector": pulumi.Map{"nvidia.com/gpu.present": pulumi.String("true")},
				"tolerations": pulumi.Array{pulumi.Map{
					"key": pulumi.String("nvidia.com/gpu"), "operator": pulumi.String("Exists"), "effect": pulumi.String("NoSchedule"),
				}},
				"containers": pulumi.Array{pulumi.Map{
					"name": pulumi.String("runner"), "image": pulumi.String("ghcr.io/actions/actions-runner:latest"),
					"resources": pulumi.Map{"limits": pulumi.Map{"nvidia.com/gpu": pulumi.Int(1)}},
				}},
			}},
		}, afterARC); err != nil {
			return err
		}
		if _, err := release("gitlab-runner", "gitlab-runner", "gitlab-runner", pulumi.Map{
			"gitlabUrl":  pulumi.String("https://gitlab.example.com/"),
			"concurrent": pulumi.Int(4),
			"runners":    pulumi.Map{"secret": pulumi.String("gitlab-runner-token")},
		}); err != nil {
			return err
		}

		// The same charts with no values: the templates take every value as optional.
		if _, err := release("bare-kps", "bare", "kube-prometheus-stack", nil, after); err != nil {
			return err
		}
		if _, err := release("bare-runners", "bare", "gha-runner-scale-set", nil, afterARC); err != nil {
			return err
		}
		_, err = release("bare-gl", "bare", "gitlab-runner", nil)
		return err
	}
}

// configMap returns a ConfigMap's data.
func configMap(t *testing.T, c *localcluster.Cluster, namespace, name string) map[string]string {
	t.Helper()
	out, err := c.KubectlE("get", "configmap", name, "-n", namespace, "-o", "json")
	if err != nil {
		t.Errorf("configmap %s/%s: %v", namespace, name, err)
		return nil
	}
	var cm struct{ Data map[string]string }
	if err := json.Unmarshal([]byte(out), &cm); err != nil {
		t.Fatal(err)
	}
	return cm.Data
}

// expect checks recorded values.
func expect(t *testing.T, chart string, data, want map[string]string) {
	t.Helper()
	if data == nil {
		return
	}
	for k, v := range want {
		got, ok := data[k]
		if !ok || got != v {
			t.Errorf("%s: recorded %s = %q (present %v), want %q", chart, k, got, ok, v)
		}
	}
}

// requireToolchain skips the test unless the real engine can run here.
func requireToolchain(t *testing.T) (pulumiBin, home string) {
	t.Helper()
	return localcluster.RequireEngine(t)
}
