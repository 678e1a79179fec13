package analyzer_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/policies/analyzer"
	"github.com/plinth-dev/plinth/test/localcluster"
)

// TestPulumiEngine runs the policy pack binary inside the real Pulumi engine
// (the pinned CLI, through the Automation API with inline programs and a
// local file backend) against a local Kubernetes control plane:
//
//   - up of a compliant Deployment succeeds and it exists in the cluster;
//   - up of a Deployment with a privileged container is refused by
//     security.k8s-no-privileged (mandatory in every class) and the
//     Deployment is never created;
//   - preview of a Deployment running as root reports
//     security.k8s-run-as-non-root as an advisory warning and succeeds in
//     dev; labelled prod, or in a stack tagged prod, the same preview fails;
//   - a policy pack config file lowers a policy to advisory;
//   - a Stack policy (security.server-auth) fails preview, and fails up
//     only after its steps ran;
//   - a custom Rego rule (testdata/rules/forbidden-configmap.rego), given
//     in $PLINTH_POLICY_RULES, refuses a labelled ConfigMap in up and it is
//     never created; given in the policy pack config, it fails preview; a
//     rule that does not compile stops the preview, naming file and line.
func TestPulumiEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the engine test starts pulumi and a Kubernetes control plane")
	}
	pulumiBin, home := requireToolchain(t)
	var timings []string
	timed := func(step string, f func()) {
		t.Helper()
		start := time.Now()
		f()
		d := time.Since(start).Round(10 * time.Millisecond)
		timings = append(timings, fmt.Sprintf("%-58s %8s", step, d))
		t.Logf("%s: %s", step, d)
	}
	defer func() { t.Logf("timings:\n  %s", strings.Join(timings, "\n  ")) }()

	dir := t.TempDir()
	pack := filepath.Join(dir, "bin", "plinth-policy-pack")
	timed("go build ./cmd/plinth-policy-pack", func() { buildPack(t, pack) })

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
	ctx := context.Background()
	env := map[string]string{
		"PULUMI_HOME":                   home,
		"PULUMI_BACKEND_URL":            "file://" + filepath.Join(dir, "state"),
		"PULUMI_CONFIG_PASSPHRASE":      "plinth-policy-pack-test",
		"PULUMI_SKIP_UPDATE_CHECK":      "1",
		"PULUMI_IGNORE_AMBIENT_PLUGINS": "1",
	}
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	// stack opens a stack of the program; extra adds to the environment of
	// the CLI (and so of the policy pack it starts).
	stack := func(name string, program pulumi.RunFunc, extra ...map[string]string) auto.Stack {
		t.Helper()
		stackEnv := maps.Clone(env)
		for _, e := range extra {
			maps.Copy(stackEnv, e)
		}
		var s auto.Stack
		timed("upsert stack "+name, func() {
			var err error
			s, err = auto.UpsertStackInlineSource(ctx, name, "plinth-policy-pack-test", program,
				auto.Pulumi(cmd), auto.PulumiHome(home), auto.WorkDir(filepath.Join(dir, "work")), auto.EnvVars(stackEnv))
			if err != nil {
				t.Fatal(err)
			}
		})
		return s
	}
	if err := os.MkdirAll(filepath.Join(dir, "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	kubeconfig := cluster.Kubeconfig
	exists := func(kind, name string) bool {
		t.Helper()
		out, err := cluster.KubectlE("get", kind, name, "-n", "default", "-o", "name")
		switch {
		case err == nil:
			return strings.TrimSpace(out) != ""
		case strings.Contains(err.Error(), "NotFound"):
			return false
		}
		t.Fatal(err)
		return false
	}

	// show logs what the engine printed (with -v, or on failure).
	show := func(t *testing.T, stdout string, err error) {
		t.Helper()
		if err != nil {
			t.Logf("engine output (error):\n%v", err) // carries stdout and stderr
			return
		}
		t.Logf("engine output:\n%s", stdout)
	}

	t.Run("compliant deployment: up succeeds", func(t *testing.T) {
		s := stack("compliant", program(kubeconfig, workload{name: "compliant", class: "dev"}))
		var res auto.UpResult
		var err error
		timed("up compliant (policy pack, awaits the rollout)", func() { res, err = s.Up(ctx, optup.PolicyPacks(pack)) })
		show(t, res.StdOut, err)
		if err != nil {
			t.Fatalf("up: %v", err)
		}
		if strings.Contains(res.StdOut, "[mandatory]") || strings.Contains(res.StdOut, "[advisory]") {
			t.Errorf("violations reported:\n%s", res.StdOut)
		}
		if !strings.Contains(res.StdOut, "plinth@v") {
			t.Errorf("the policy pack is not in the output:\n%s", res.StdOut)
		}
		if !exists("deployment", "compliant") {
			t.Error("deployment compliant is not in the cluster")
		}
	})

	t.Run("privileged container: up refused, nothing created", func(t *testing.T) {
		s := stack("privileged", program(kubeconfig, workload{name: "privileged", class: "dev", privileged: true}))
		var res auto.UpResult
		var err error
		timed("up privileged (refused)", func() { res, err = s.Up(ctx, optup.PolicyPacks(pack)) })
		show(t, res.StdOut, err)
		if err == nil {
			t.Fatalf("up succeeded:\n%s", res.StdOut)
		}
		out := res.StdOut + "\n" + err.Error()
		for _, want := range []string{"[mandatory]", "security.k8s-no-privileged", "Deployment privileged: app: privileged", "Remediation: Drop privileged"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if exists("deployment", "privileged") {
			t.Error("deployment privileged was created although the policy refused it")
		}
	})

	t.Run("running as root: preview warns in dev, fails in prod", func(t *testing.T) {
		s := stack("root-dev", program(kubeconfig, workload{name: "root", class: "dev", root: true}))
		var res auto.PreviewResult
		var err error
		timed("preview root in dev (advisory)", func() { res, err = s.Preview(ctx, optpreview.PolicyPacks(pack)) })
		show(t, res.StdOut, err)
		if err != nil {
			t.Fatalf("preview failed on an advisory violation: %v", err)
		}
		for _, want := range []string{"[advisory]", "security.k8s-run-as-non-root", "Deployment root: app: neither runAsNonRoot nor runAsUser set"} {
			if !strings.Contains(res.StdOut, want) {
				t.Errorf("preview output lacks %q:\n%s", want, res.StdOut)
			}
		}
		if strings.Contains(res.StdOut, "[mandatory]") {
			t.Errorf("mandatory violation in dev:\n%s", res.StdOut)
		}

		s = stack("root-prod", program(kubeconfig, workload{name: "root", class: "prod", root: true}))
		timed("preview root labelled prod (mandatory, fails)", func() { res, err = s.Preview(ctx, optpreview.PolicyPacks(pack)) })
		show(t, res.StdOut, err)
		if err == nil {
			t.Fatalf("preview of a prod stack running as root succeeded:\n%s", res.StdOut)
		}
		if out := res.StdOut + err.Error(); !strings.Contains(out, "[mandatory]") || !strings.Contains(out, "security.k8s-run-as-non-root") {
			t.Errorf("output:\n%s", out)
		}
		if exists("deployment", "root") {
			t.Error("a preview created deployment root")
		}

		// The class can also come from the stack tag environment.
		s = stack("root-tagged", program(kubeconfig, workload{name: "root", class: "dev", root: true}))
		if err := s.SetTag(ctx, "environment", "prod"); err != nil {
			t.Fatal(err)
		}
		timed("preview root in a stack tagged prod (mandatory, fails)", func() { res, err = s.Preview(ctx, optpreview.PolicyPacks(pack)) })
		show(t, res.StdOut, err)
		if err == nil {
			t.Fatalf("preview of a stack tagged prod running as root succeeded:\n%s", res.StdOut)
		}
		for _, want := range []string{"[mandatory]", "security.k8s-run-as-non-root", "plinth.environment", "the class is prod (from the stack tag), but 1 resource is tagged environment=dev: root"} {
			if out := res.StdOut + err.Error(); !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("policy pack config lowers a policy", func(t *testing.T) {
		cfg := filepath.Join(dir, "policy-config.json")
		if err := os.WriteFile(cfg, []byte(`{"security.k8s-no-privileged": "advisory"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		s := stack("privileged-config", program(kubeconfig, workload{name: "privileged", class: "dev", privileged: true}))
		var res auto.PreviewResult
		var err error
		timed("preview privileged with --policy-pack-config (advisory)", func() {
			res, err = s.Preview(ctx, optpreview.PolicyPacks(pack), optpreview.PolicyPackConfigs(cfg))
		})
		show(t, res.StdOut, err)
		if err != nil {
			t.Fatalf("preview failed although the config made the policy advisory: %v", err)
		}
		if !strings.Contains(res.StdOut, "[advisory]") || !strings.Contains(res.StdOut, "security.k8s-no-privileged") {
			t.Errorf("output:\n%s", res.StdOut)
		}
	})

	t.Run("stack policy: preview fails, up fails after its steps", func(t *testing.T) {
		s := stack("exposed", program(kubeconfig, workload{name: "mlflow", class: "dev", exposeAs: "NodePort"}))
		var pre auto.PreviewResult
		var err error
		timed("preview exposed MLflow (server-auth, AnalyzeStack)", func() { pre, err = s.Preview(ctx, optpreview.PolicyPacks(pack)) })
		show(t, pre.StdOut, err)
		if err == nil {
			t.Fatalf("preview succeeded:\n%s", pre.StdOut)
		}
		if out := pre.StdOut + err.Error(); !strings.Contains(out, "security.server-auth") {
			t.Errorf("preview output lacks security.server-auth:\n%s", out)
		}
		var res auto.UpResult
		timed("up exposed MLflow (refused at the end)", func() { res, err = s.Up(ctx, optup.PolicyPacks(pack)) })
		show(t, res.StdOut, err)
		if err == nil {
			t.Fatalf("up succeeded:\n%s", res.StdOut)
		}
		if out := res.StdOut + err.Error(); !strings.Contains(out, "security.server-auth") {
			t.Errorf("up output lacks security.server-auth:\n%s", out)
		}
		// The engine runs AnalyzeStack after the update's steps: the
		// Service exists although the update failed.
		t.Logf("after the refused up, service mlflow exists: %v (Stack policies stop preview, and fail up only at its end)", exists("service", "mlflow"))
	})

	rules, err := filepath.Abs(filepath.Join("testdata", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("custom Rego rule: up refused, nothing created", func(t *testing.T) {
		s := stack("rego-up", configMaps(kubeconfig, "rego-allowed", "rego-refused"), map[string]string{analyzer.EnvRules: rules})
		var res auto.UpResult
		var err error
		timed("up forbidden ConfigMap, rules from $PLINTH_POLICY_RULES (refused)", func() { res, err = s.Up(ctx, optup.PolicyPacks(pack)) })
		show(t, res.StdOut, err)
		if err == nil {
			t.Fatalf("up succeeded:\n%s", res.StdOut)
		}
		out := res.StdOut + "\n" + err.Error()
		for _, want := range []string{"[mandatory]", "custom.forbidden-configmap", "ConfigMap rego-refused is labelled plinth.dev/forbidden", "Remediation: Remove the label"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if exists("configmap", "rego-refused") {
			t.Error("configmap rego-refused was created although the custom rule refused it")
		}
	})

	t.Run("custom Rego rule from the policy pack config: preview fails", func(t *testing.T) {
		cfg := filepath.Join(dir, "rules-config.json")
		if err := os.WriteFile(cfg, []byte(`{"`+analyzer.RulesPolicy+`": {"dir": "`+rules+`"}}`), 0o644); err != nil {
			t.Fatal(err)
		}
		s := stack("rego-config", configMaps(kubeconfig, "rego-config-allowed", "rego-config-refused"))
		var res auto.PreviewResult
		var err error
		timed("preview forbidden ConfigMap, rules from --policy-pack-config (fails)", func() {
			res, err = s.Preview(ctx, optpreview.PolicyPacks(pack), optpreview.PolicyPackConfigs(cfg))
		})
		show(t, res.StdOut, err)
		if err == nil {
			t.Fatalf("preview succeeded:\n%s", res.StdOut)
		}
		if out := res.StdOut + err.Error(); !strings.Contains(out, "custom.forbidden-configmap") || !strings.Contains(out, "rego-config-refused") {
			t.Errorf("output:\n%s", out)
		}
		// Without the rules, the same preview passes.
		timed("preview forbidden ConfigMap without rules (passes)", func() { res, err = s.Preview(ctx, optpreview.PolicyPacks(pack)) })
		show(t, res.StdOut, err)
		if err != nil {
			t.Errorf("preview without custom rules failed: %v", err)
		}
	})

	t.Run("custom Rego rule that does not compile: preview stops", func(t *testing.T) {
		broken := filepath.Join(dir, "broken-rules")
		if err := os.MkdirAll(broken, 0o755); err != nil {
			t.Fatal(err)
		}
		src := "package plinth\n\ndeny contains msg if {\n\tmsg := \n}\n"
		if err := os.WriteFile(filepath.Join(broken, "broken.rego"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		s := stack("rego-broken", configMaps(kubeconfig, "rego-broken-allowed"), map[string]string{analyzer.EnvRules: broken})
		var res auto.PreviewResult
		var err error
		timed("preview with a rule that does not compile (fails)", func() { res, err = s.Preview(ctx, optpreview.PolicyPacks(pack)) })
		show(t, res.StdOut, err)
		if err == nil {
			t.Fatalf("preview succeeded with a broken rule:\n%s", res.StdOut)
		}
		if out := res.StdOut + err.Error(); !strings.Contains(out, filepath.Join(broken, "broken.rego")+":5:1: unexpected } token") {
			t.Errorf("output does not name the file, line and problem:\n%s", out)
		}
	})
}

// configMaps is an inline Pulumi program: a kubernetes provider on the
// local cluster and a ConfigMap per name in namespace default; the second
// is labelled plinth.dev/forbidden=true (testdata/rules refuses it).
func configMaps(kubeconfig string, names ...string) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		provider, err := kubernetes.NewProvider(ctx, "local", &kubernetes.ProviderArgs{Kubeconfig: pulumi.String(kubeconfig)})
		if err != nil {
			return err
		}
		for i, name := range names {
			labels := pulumi.StringMap{"environment": pulumi.String("dev")}
			if i == 1 {
				labels["plinth.dev/forbidden"] = pulumi.String("true")
			}
			_, err := corev1.NewConfigMap(ctx, name, &corev1.ConfigMapArgs{
				Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: pulumi.String("default"), Labels: labels},
				Data:     pulumi.StringMap{"key": pulumi.String("value")},
			}, pulumi.Provider(provider))
			if err != nil {
				return err
			}
		}
		return nil
	}
}

// requireToolchain skips the test unless the real engine can run here.
func requireToolchain(t *testing.T) (pulumiBin, home string) {
	t.Helper()
	return localcluster.RequireEngine(t)
}

// buildPack builds cmd/plinth-policy-pack.
func buildPack(t *testing.T, out string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "build", "-o", out, "github.com/plinth-dev/plinth/cmd/plinth-policy-pack")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
}

// workload describes the Deployment a test program creates.
type workload struct {
	name, class string
	// privileged makes the container privileged (the API server accepts it).
	privileged bool
	// root leaves out runAsNonRoot and runAsUser.
	root bool
	// exposeAs adds a Service of that type selecting the pods (no
	// plinth.dev/auth).
	exposeAs string
}

// program is an inline Pulumi program: a kubernetes provider on the local
// cluster and the Deployment w (and its Service).
func program(kubeconfig string, w workload) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		provider, err := kubernetes.NewProvider(ctx, "local", &kubernetes.ProviderArgs{Kubeconfig: pulumi.String(kubeconfig)})
		if err != nil {
			return err
		}
		selector := pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(w.name)}
		labels := pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(w.name), "environment": pulumi.String(w.class)}
		var podSC corev1.PodSecurityContextPtrInput
		if !w.root {
			podSC = &corev1.PodSecurityContextArgs{RunAsNonRoot: pulumi.Bool(true), RunAsUser: pulumi.Int(1000)}
		}
		sc := &corev1.SecurityContextArgs{AllowPrivilegeEscalation: pulumi.Bool(false)}
		if w.privileged {
			// allowPrivilegeEscalation: false with privileged is refused by
			// the API server; leave it out so that only the policy refuses.
			sc = &corev1.SecurityContextArgs{Privileged: pulumi.Bool(true)}
		}
		annotations := pulumi.StringMap{}
		if w.exposeAs != "" {
			annotations["pulumi.com/skipAwait"] = pulumi.String("true")
		}
		_, err = appsv1.NewDeployment(ctx, w.name, &appsv1.DeploymentArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(w.name), Namespace: pulumi.String("default"), Labels: labels, Annotations: annotations},
			Spec: &appsv1.DeploymentSpecArgs{
				Replicas: pulumi.Int(1),
				Selector: &metav1.LabelSelectorArgs{MatchLabels: selector},
				Template: &corev1.PodTemplateSpecArgs{
					Metadata: &metav1.ObjectMetaArgs{Labels: labels},
					Spec: &corev1.PodSpecArgs{
						SecurityContext: podSC,
						Containers: corev1.ContainerArray{&corev1.ContainerArgs{
							Name: pulumi.String("app"), Image: pulumi.String("registry.invalid/plinth/app:1"),
							SecurityContext: sc,
						}},
					},
				},
			},
		}, pulumi.Provider(provider))
		if err != nil {
			return err
		}
		if w.exposeAs == "" {
			return nil
		}
		_, err = corev1.NewService(ctx, w.name, &corev1.ServiceArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(w.name), Namespace: pulumi.String("default"), Labels: labels,
				Annotations: pulumi.StringMap{"pulumi.com/skipAwait": pulumi.String("true")}},
			Spec: &corev1.ServiceSpecArgs{
				Type:     pulumi.String(w.exposeAs),
				Selector: selector,
				Ports:    corev1.ServicePortArray{&corev1.ServicePortArgs{Port: pulumi.Int(5000)}},
			},
		}, pulumi.Provider(provider))
		return err
	}
}
