package cirunners

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/blueprints/versions"
	"github.com/plinth-dev/plinth/components/k8snamespace"
	"github.com/plinth-dev/plinth/policies"
	"github.com/plinth-dev/plinth/stacks/plan"
)

const (
	typeRelease       = "kubernetes:helm.sh/v3:Release"
	typeSecret        = "kubernetes:core/v1:Secret"
	typeNamespace     = "kubernetes:core/v1:Namespace"
	typeNetworkPolicy = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
)

// Tokens the tests pass; they must never show in a plan.
const (
	githubToken = "ghp_notARealTokenButLongEnough0123456789"
	gitlabToken = "glrt-notARealTokenEither-0123456789"
)

func github(name string, gpu bool) Runner {
	r := Runner{
		Name: name, Kind: KindGitHubActions, URL: "https://github.com/plinth-dev",
		Token: pulumi.ToSecret(pulumi.String(githubToken)).(pulumi.StringOutput), MinRunners: 1, MaxRunners: 6,
	}
	if gpu {
		r.GPU = true
		r.GPUNodeSelector = map[string]string{"plinth.dev/pool": "a100"}
		r.GPUTolerations = []Toleration{{Key: "nvidia.com/gpu", Value: "true", Effect: "NoSchedule"}}
	}
	return r
}

func gitlab(name string, gpu bool) Runner {
	r := Runner{
		Name: name, Kind: KindGitLab, URL: "https://gitlab.example.com",
		Token: pulumi.ToSecret(pulumi.String(gitlabToken)).(pulumi.StringOutput), MaxRunners: 4,
	}
	if gpu {
		r.GPU = true
		r.GPUNodeSelector = map[string]string{"plinth.dev/pool": "a100"}
		r.GPUTolerations = []Toleration{{Key: "nvidia.com/gpu", Value: "true", Effect: "NoSchedule"}, {Key: "spot", Effect: "NoExecute"}}
	}
	return r
}

func run(t *testing.T, args CIRunnersArgs) (*plan.Graph, *CIRunners) {
	t.Helper()
	var c *CIRunners
	g, err := plan.Run(func(ctx *pulumi.Context) error {
		var err error
		c, err = NewCIRunners(ctx, "prod", &args)
		return err
	}, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return g, c
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
	l, _ := mapAt(v, path[:len(path)-1]...)[path[len(path)-1]].([]any)
	return l
}

// releases returns the planned releases by release name.
func releases(g *plan.Graph) map[string]*plan.Resource {
	out := map[string]*plan.Resource{}
	for _, r := range g.ByType(typeRelease) {
		out[r.Inputs["name"].(string)] = r
	}
	return out
}

func checkPin(t *testing.T, rel *plan.Resource, key string) {
	t.Helper()
	pin := versions.Get().Charts[key]
	want := pin.Repository + "/" + pin.Chart
	if rel.Inputs["chart"] != want && rel.Inputs["chart"] != pin.Chart {
		t.Errorf("%s: chart %v, want %s", rel.Name, rel.Inputs["chart"], want)
	}
	if rel.Inputs["version"] != pin.Version {
		t.Errorf("%s: version %v, want %s", rel.Name, rel.Inputs["version"], pin.Version)
	}
	if strings.HasPrefix(pin.Repository, "https://") && mapAt(rel.Inputs, "repositoryOpts")["repo"] != pin.Repository {
		t.Errorf("%s: repository %v, want %s", rel.Name, mapAt(rel.Inputs, "repositoryOpts"), pin.Repository)
	}
	if rel.Inputs["namespace"] != DefaultNamespace {
		t.Errorf("%s: namespace %v", rel.Name, rel.Inputs["namespace"])
	}
}

func TestGitHubActions(t *testing.T) {
	g, c := run(t, CIRunnersArgs{Environment: "prod-eu", Runners: []Runner{github("cpu", false), github("gpu", true)}})
	rels := releases(g)
	if len(rels) != 3 {
		t.Fatalf("releases %v, want the controller and two scale sets", slices.Collect(func(y func(string) bool) {
			for k := range rels {
				y(k)
			}
		}))
	}
	ctrl := rels[ControllerRelease]
	checkPin(t, ctrl, ControllerChartKey)
	cv := mapAt(ctrl.Inputs, "values")
	if mapAt(cv, "flags")["watchSingleNamespace"] != DefaultNamespace || mapAt(cv, "serviceAccount")["name"] != controllerServiceAccount {
		t.Errorf("controller values %v", cv)
	}
	checkSecurity(t, "controller", mapAt(cv, "podSecurityContext"), mapAt(cv, "securityContext"))

	for _, name := range []string{"cpu", "gpu"} {
		rel := rels[name]
		if rel == nil {
			t.Fatalf("no scale set %s", name)
		}
		checkPin(t, rel, ScaleSetChartKey)
		v := mapAt(rel.Inputs, "values")
		if v["githubConfigUrl"] != "https://github.com/plinth-dev" || v["runnerScaleSetName"] != name {
			t.Errorf("%s: url %v name %v", name, v["githubConfigUrl"], v["runnerScaleSetName"])
		}
		if v["minRunners"] != 1.0 || v["maxRunners"] != 6.0 {
			t.Errorf("%s: min %v max %v", name, v["minRunners"], v["maxRunners"])
		}
		// The Secret's name, plain: no-plain-secrets knows the key names one.
		if v["githubConfigSecret"] != name+"-github-config" {
			t.Errorf("%s: githubConfigSecret %v, want the Secret's name", name, v["githubConfigSecret"])
		}
		if sa := mapAt(v, "controllerServiceAccount"); sa["name"] != controllerServiceAccount || sa["namespace"] != DefaultNamespace {
			t.Errorf("%s: controllerServiceAccount %v", name, sa)
		}
		spec := mapAt(v, "template", "spec")
		runner := listAt(spec, "containers")[0].(map[string]any)
		if runner["name"] != "runner" || runner["image"] != DefaultGitHubRunnerImage {
			t.Errorf("%s: runner container %v", name, runner)
		}
		checkSecurity(t, name+" runner", mapAt(spec, "securityContext"), mapAt(runner, "securityContext"))
		listener := mapAt(v, "listenerTemplate", "spec")
		checkSecurity(t, name+" listener", mapAt(listener, "securityContext"), mapAt(listAt(listener, "containers")[0], "securityContext"))

		gpuLimit := mapAt(runner, "resources", "limits")[GPUResource]
		if name == "gpu" {
			if gpuLimit != "1" {
				t.Errorf("gpu: limit %v", mapAt(runner, "resources"))
			}
			if mapAt(spec, "nodeSelector")["plinth.dev/pool"] != "a100" {
				t.Errorf("gpu: nodeSelector %v", spec["nodeSelector"])
			}
			tol := listAt(spec, "tolerations")
			if len(tol) != 1 || fmt.Sprint(tol[0]) != "map[effect:NoSchedule key:nvidia.com/gpu operator:Equal value:true]" {
				t.Errorf("gpu: tolerations %v", tol)
			}
		} else if gpuLimit != nil || spec["nodeSelector"] != nil || spec["tolerations"] != nil {
			t.Errorf("cpu runner has GPU scheduling: %v", spec)
		}
	}
	if c.ScaleSets["cpu"] != "cpu" || c.ScaleSets["gpu"] != "gpu" {
		t.Errorf("ScaleSets %v", c.ScaleSets)
	}
	if c.Charts[ControllerChartKey].Version != versions.Get().Charts[ControllerChartKey].Version {
		t.Errorf("Charts %v", c.Charts)
	}
}

func checkSecurity(t *testing.T, what string, pod, container map[string]any) {
	t.Helper()
	if pod["runAsNonRoot"] != true || mapAt(pod, "seccompProfile")["type"] != "RuntimeDefault" {
		t.Errorf("%s: pod securityContext %v", what, pod)
	}
	if container["allowPrivilegeEscalation"] != false || container["privileged"] != false || fmt.Sprint(mapAt(container, "capabilities")["drop"]) != "[ALL]" {
		t.Errorf("%s: container securityContext %v", what, container)
	}
}

// gitlabConfigTOML is the part of the runner config the tests read.
type gitlabConfigTOML struct {
	Runners []struct {
		Environment []string `toml:"environment"`
		Kubernetes  struct {
			Namespace       string            `toml:"namespace"`
			Image           string            `toml:"image"`
			Privileged      bool              `toml:"privileged"`
			NodeSelector    map[string]string `toml:"node_selector"`
			NodeTolerations map[string]string `toml:"node_tolerations"`
			PodSpec         []struct {
				Name, Patch string
				PatchType   string `toml:"patch_type"`
			} `toml:"pod_spec"`
		} `toml:"kubernetes"`
	} `toml:"runners"`
}

func TestGitLab(t *testing.T) {
	g, c := run(t, CIRunnersArgs{Runners: []Runner{gitlab("build", false), gitlab("train", true)}})
	rels := releases(g)
	if len(rels) != 2 || rels[ControllerRelease] != nil {
		t.Fatalf("%d releases", len(rels))
	}
	for _, name := range []string{"build", "train"} {
		rel := rels[name]
		checkPin(t, rel, GitLabChartKey)
		v := mapAt(rel.Inputs, "values")
		if v["gitlabUrl"] != "https://gitlab.example.com" || v["concurrent"] != 4.0 {
			t.Errorf("%s: gitlabUrl %v concurrent %v", name, v["gitlabUrl"], v["concurrent"])
		}
		if _, ok := v["runnerToken"]; ok {
			t.Errorf("%s: runnerToken set in values", name)
		}
		runners := mapAt(v, "runners")
		if runners["secret"] != name+"-gitlab-token" {
			t.Errorf("%s: runners.secret %v, want the Secret's name", name, runners["secret"])
		}
		checkSecurity(t, name+" manager", mapAt(v, "podSecurityContext"), mapAt(v, "securityContext"))
		var cfg gitlabConfigTOML
		if _, err := toml.Decode(runners["config"].(string), &cfg); err != nil {
			t.Fatalf("%s: config does not parse: %v\n%s", name, err, runners["config"])
		}
		if len(cfg.Runners) != 1 {
			t.Fatalf("%s: %d runners in config", name, len(cfg.Runners))
		}
		k := cfg.Runners[0].Kubernetes
		if k.Namespace != DefaultNamespace || k.Image != DefaultGitLabJobImage || k.Privileged {
			t.Errorf("%s: kubernetes %+v", name, k)
		}
		if name == "build" {
			if len(k.NodeSelector) != 0 || len(k.NodeTolerations) != 0 || len(k.PodSpec) != 0 || len(cfg.Runners[0].Environment) != 0 {
				t.Errorf("build runner has GPU scheduling: %+v", cfg.Runners[0])
			}
			continue
		}
		if k.NodeSelector["plinth.dev/pool"] != "a100" {
			t.Errorf("train: node_selector %v", k.NodeSelector)
		}
		if want := map[string]string{"nvidia.com/gpu=true": "NoSchedule", "spot": "NoExecute"}; fmt.Sprint(k.NodeTolerations) != fmt.Sprint(want) {
			t.Errorf("train: node_tolerations %v, want %v", k.NodeTolerations, want)
		}
		if len(k.PodSpec) != 1 || k.PodSpec[0].PatchType != "strategic" || !strings.Contains(k.PodSpec[0].Patch, "nvidia.com/gpu: \"1\"") || !strings.Contains(k.PodSpec[0].Patch, "name: build") {
			t.Errorf("train: pod_spec %+v", k.PodSpec)
		}
		if !slices.Contains(cfg.Runners[0].Environment, "FF_USE_ADVANCED_POD_SPEC_CONFIGURATION=true") {
			t.Errorf("train: environment %v", cfg.Runners[0].Environment)
		}
	}
	if len(c.ScaleSets) != 0 {
		t.Errorf("ScaleSets %v", c.ScaleSets)
	}
}

func TestDefaultGPUToleration(t *testing.T) {
	r := github("gpu", true)
	r.GPUTolerations = nil
	g, _ := run(t, CIRunnersArgs{Runners: []Runner{r}})
	tol := listAt(mapAt(releases(g)["gpu"].Inputs, "values", "template", "spec"), "tolerations")
	if len(tol) != 1 || fmt.Sprint(tol[0]) != "map[effect:NoSchedule key:nvidia.com/gpu operator:Exists]" {
		t.Errorf("tolerations %v", tol)
	}
}

// TestTokens checks runner tokens are only in Secrets, stay Pulumi
// secrets even when given plain, never show in the plan, and every
// policy passes (class prod).
func TestTokens(t *testing.T) {
	plainGitHub, plainGitLab := github("plain-gh", false), gitlab("plain-gl", false)
	plainGitHub.Token, plainGitLab.Token = pulumi.String(githubToken), pulumi.String(gitlabToken)
	g, _ := run(t, CIRunnersArgs{Environment: "prod-eu", Runners: []Runner{github("gh", true), gitlab("gl", true), plainGitHub, plainGitLab}})
	dump, _ := json.Marshal(g)
	for _, tok := range []string{githubToken, gitlabToken} {
		if strings.Contains(string(dump), tok) {
			t.Fatalf("token %s… shows in the plan", tok[:6])
		}
	}
	secrets := g.ByType(typeSecret)
	if len(secrets) != 4 {
		t.Fatalf("%d secrets, want one per runner", len(secrets))
	}
	for _, s := range secrets {
		raw := s.Raw["stringData"]
		if !raw.ContainsSecrets() {
			t.Errorf("%s: stringData is not secret", s.Name)
		}
		if s.Inputs["stringData"] != plan.Secret {
			t.Errorf("%s: stringData %v", s.Name, s.Inputs["stringData"])
		}
	}
	in := &policies.Input{Environment: policies.Environment{Name: "prod-eu", Class: policies.ClassProd, Provider: "kubernetes"}}
	for _, r := range g.Resources {
		in.Resources = append(in.Resources, &policies.Resource{URN: r.URN, Type: r.Type, Name: r.Name, Parent: r.Parent, Inputs: r.Inputs})
	}
	rep, err := policies.Evaluate(policies.All(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range rep.Violations {
		t.Errorf("%s %s: %s", v.Enforcement, v.Policy, v.Message)
	}
}

func TestMirror(t *testing.T) {
	for _, tt := range []struct {
		mirror string
		// chart and repo per release name
		want map[string][2]string
	}{
		{"oci://registry.internal/charts", map[string][2]string{
			ControllerRelease: {"oci://registry.internal/charts/gha-runner-scale-set-controller", ""},
			"gh":              {"oci://registry.internal/charts/gha-runner-scale-set", ""},
			"gl":              {"oci://registry.internal/charts/gitlab-runner", ""},
		}},
		{"https://charts.mirror.internal", map[string][2]string{
			ControllerRelease: {"gha-runner-scale-set-controller", "https://charts.mirror.internal"},
			"gh":              {"gha-runner-scale-set", "https://charts.mirror.internal"},
			"gl":              {"gitlab-runner", "https://charts.mirror.internal"},
		}},
	} {
		t.Run(tt.mirror, func(t *testing.T) {
			g, _ := run(t, CIRunnersArgs{ChartsMirror: tt.mirror, Runners: []Runner{github("gh", false), gitlab("gl", false)}})
			rels := releases(g)
			for name, want := range tt.want {
				rel := rels[name]
				repo, _ := mapAt(rel.Inputs, "repositoryOpts")["repo"].(string)
				if rel.Inputs["chart"] != want[0] || repo != want[1] {
					t.Errorf("%s: chart %v repo %q, want %v", name, rel.Inputs["chart"], repo, want)
				}
			}
		})
	}
}

func TestNamespace(t *testing.T) {
	for _, tt := range []struct {
		name    string
		runners []Runner
		level   string
	}{
		{"github only", []Runner{github("gh", false)}, k8snamespace.Restricted},
		{"with gitlab", []Runner{github("gh", false), gitlab("gl", false)}, k8snamespace.Baseline},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := run(t, CIRunnersArgs{Runners: tt.runners})
			ns := g.ByType(typeNamespace)
			if len(ns) != 1 {
				t.Fatalf("%d namespaces", len(ns))
			}
			meta := mapAt(ns[0].Inputs, "metadata")
			if meta["name"] != DefaultNamespace || mapAt(meta, "labels")["pod-security.kubernetes.io/enforce"] != tt.level {
				t.Errorf("namespace %v", meta)
			}
			var egress *plan.Resource
			names := []string{}
			for _, np := range g.ByType(typeNetworkPolicy) {
				names = append(names, mapAt(np.Inputs, "metadata")["name"].(string))
				if np.Name == "prod-allow-egress-https" {
					egress = np
				}
			}
			if !slices.Contains(names, "default-deny") || egress == nil {
				t.Fatalf("network policies %v", names)
			}
			var ports []float64
			for _, rule := range listAt(egress.Inputs, "spec", "egress") {
				for _, p := range listAt(rule, "ports") {
					ports = append(ports, p.(map[string]any)["port"].(float64))
				}
			}
			if !slices.Equal(ports, []float64{443, 6443}) {
				t.Errorf("egress ports %v", ports)
			}
		})
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Runner)
		wantErr string
	}{
		{"bad name", func(r *Runner) { r.Name = "GPU_Runners" }, "is not a DNS-1123 label"},
		{"controller name", func(r *Runner) { r.Name = ControllerRelease }, "controller's release name"},
		{"bad kind", func(r *Runner) { r.Kind = "jenkins" }, `kind "jenkins"`},
		{"http url", func(r *Runner) { r.URL = "http://github.com/x" }, "not an https URL"},
		{"credentials in url", func(r *Runner) { r.URL = "https://user:pw@github.com/x" }, "without credentials"},
		{"no token", func(r *Runner) { r.Token = nil }, "Token is required"},
		{"max 0", func(r *Runner) { r.MaxRunners = 0 }, "MaxRunners 0"},
		{"min over max", func(r *Runner) { r.MinRunners = 9 }, "MinRunners 9"},
		{"bad selector", func(r *Runner) { r.GPU, r.GPUNodeSelector = true, map[string]string{"pool": "a b"} }, "not a valid label"},
		{"bad effect", func(r *Runner) { r.GPU, r.GPUTolerations = true, []Toleration{{Key: "k", Effect: "Never"}} }, `effect "Never"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := github("gh", false)
			tt.mutate(&r)
			if _, err := validate("prod", &CIRunnersArgs{Runners: []Runner{r}}); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if _, err := validate("prod", &CIRunnersArgs{Runners: []Runner{github("a", false), gitlab("a", false)}}); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Errorf("duplicate names: err = %v", err)
	}
	if _, err := validate("prod", &CIRunnersArgs{}); err == nil || !strings.Contains(err.Error(), "no runners") {
		t.Errorf("no runners: err = %v", err)
	}
	if _, err := validate("prod", &CIRunnersArgs{ChartsMirror: "s3://x", Runners: []Runner{github("a", false)}}); err == nil {
		t.Error("bad mirror accepted")
	}
}
