package analyzer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"github.com/plinth-dev/plinth/components/k8snamespace"
	"github.com/plinth-dev/plinth/policies"
)

// testRules are the custom rules of testdata/rules (see each file):
// forbidden-configmap and image-digest of scope resource, namespace-default-deny
// and secret-count of scope stack.
var testRules = filepath.Join("testdata", "rules")

func configMap(name string, labels map[string]any) res {
	return res{typ: "kubernetes:core/v1:ConfigMap", name: name, inputs: map[string]any{
		"metadata": map[string]any{"name": name, "namespace": "default", "labels": labels},
		"data":     map[string]any{"key": "value"},
	}}
}

func namespace(name string) res {
	return res{typ: "kubernetes:core/v1:Namespace", name: name, inputs: map[string]any{"metadata": map[string]any{"name": name}}}
}

func defaultDeny(ns string) res {
	return res{typ: "kubernetes:networking.k8s.io/v1:NetworkPolicy", name: ns + "-default-deny", inputs: map[string]any{
		"metadata": map[string]any{"name": "default-deny", "namespace": ns},
		"spec":     map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Ingress", "Egress"}},
	}}
}

var forbidden = map[string]any{"plinth.dev/forbidden": "true"}

func TestCustomRuleStopsAResource(t *testing.T) {
	h := mustHarness(t, setup{rulesDir: testRules})
	ok := configMap("allowed", map[string]any{"plinth.dev/forbidden": "false"})
	if ds := h.analyze(ok); len(ds) != 0 {
		t.Fatalf("allowed ConfigMap:%s", describe(ds))
	}
	bad := configMap("refused", forbidden)
	d := expectOne(t, h.analyze(bad), "custom.forbidden-configmap", pulumirpc.EnforcementLevel_MANDATORY, bad.urn())
	if d.GetSeverity() != pulumirpc.PolicySeverity_POLICY_SEVERITY_HIGH || d.GetPolicyPackName() != DefaultName ||
		d.GetMessage() != "ConfigMap refused is labelled plinth.dev/forbidden\nRemediation: Remove the label plinth.dev/forbidden, or do not create the ConfigMap." ||
		!strings.Contains(d.GetDescription(), testRules) {
		t.Errorf("diagnostic: %v", d)
	}
	// Not repeated at the end.
	if ds := h.analyzeStack(ok, bad); len(ds) != 0 {
		t.Errorf("AnalyzeStack repeated Analyze's findings:%s", describe(ds))
	}
}

// The shipped examples: a bucket without plinth:purpose and a dev GPU pool
// that can grow to 16 nodes are stopped in Analyze (scope resource), with
// the rules' severity and the environment's name from the tags.
func TestExampleRulesInAnalyze(t *testing.T) {
	h := mustHarness(t, setup{rulesDir: filepath.Join("..", "rego", "examples")})
	tags := map[string]any{"environment": "dev", NameTag: "ml-dev"}
	bucket := res{typ: "aws:s3/bucketV2:BucketV2", name: "scratch", inputs: map[string]any{"bucket": "scratch", "tags": tags}}
	d := expectOne(t, h.analyze(bucket), "custom.bucket-purpose", pulumirpc.EnforcementLevel_MANDATORY, bucket.urn())
	if d.GetSeverity() != pulumirpc.PolicySeverity_POLICY_SEVERITY_MEDIUM || !strings.HasPrefix(d.GetMessage(), "bucket scratch has no plinth:purpose tag\nRemediation: ") {
		t.Errorf("diagnostic: %v", d)
	}
	pool := res{typ: "aws:eks/nodeGroup:NodeGroup", name: "train", inputs: map[string]any{
		"amiType": "AL2023_x86_64_NVIDIA", "scalingConfig": map[string]any{"minSize": 0, "maxSize": 16}, "tags": tags,
	}}
	d = expectOne(t, h.analyze(pool), "custom.dev-gpu-pool-size", pulumirpc.EnforcementLevel_MANDATORY, pool.urn())
	if d.GetSeverity() != pulumirpc.PolicySeverity_POLICY_SEVERITY_HIGH || !strings.HasPrefix(d.GetMessage(), "GPU node group train can grow to 16 nodes in dev environment ml-dev; the dev limit is 4") {
		t.Errorf("diagnostic: %v", d)
	}
	if ds := h.analyzeStack(bucket, pool); len(find(ds, "custom.bucket-purpose"))+len(find(ds, "custom.dev-gpu-pool-size")) > 0 {
		t.Errorf("reported again at the end:%s", describe(ds))
	}
}

// The rule gives the enforcement (image-digest: mandatory in prod only),
// and follows the class as the built-in policies do: a later, stricter
// resource makes the earlier finding mandatory, on the resource that does.
func TestCustomRuleEnforcementFollowsTheClass(t *testing.T) {
	dev := deployment("web", podOpts{labels: map[string]any{"environment": "dev"}})
	h := mustHarness(t, setup{rulesDir: testRules})
	d := expectOne(t, h.analyze(dev), "custom.image-digest", pulumirpc.EnforcementLevel_ADVISORY, dev.urn())
	if d.GetSeverity() != pulumirpc.PolicySeverity_POLICY_SEVERITY_LOW || !strings.HasPrefix(d.GetMessage(), "Deployment web: container app runs image registry.local/app:1, not pinned by digest") {
		t.Errorf("diagnostic: %v", d)
	}

	prod := deployment("web", podOpts{labels: map[string]any{"environment": "prod"}})
	h = mustHarness(t, setup{rulesDir: testRules})
	expectOne(t, h.analyze(prod), "custom.image-digest", pulumirpc.EnforcementLevel_MANDATORY, prod.urn())

	h = mustHarness(t, setup{rulesDir: testRules, stackTags: map[string]string{TagKey: "prod"}})
	expectOne(t, h.analyze(dev), "custom.image-digest", pulumirpc.EnforcementLevel_MANDATORY, dev.urn())

	h = mustHarness(t, setup{rulesDir: testRules})
	untagged := deployment("web", podOpts{})
	expectOne(t, h.analyze(untagged), "custom.image-digest", pulumirpc.EnforcementLevel_ADVISORY, untagged.urn())
	tipping := configMap("settings", map[string]any{"environment": "prod"})
	expectOne(t, h.analyze(tipping), "custom.image-digest", pulumirpc.EnforcementLevel_MANDATORY, untagged.urn())
	if ds := find(h.analyzeStack(untagged, tipping), "custom.image-digest"); len(ds) > 0 {
		t.Errorf("reported again at the end:%s", describe(ds))
	}
}

// Entries of scope stack wait for every resource: a Namespace whose
// NetworkPolicy comes later is fine; one without is reported at the end.
// A stack-wide entry (no urn) is reported once, on the stack.
func TestCustomStackRulesWaitForTheStack(t *testing.T) {
	h := mustHarness(t, setup{rulesDir: testRules})
	rs := []res{namespace("team-a"), namespace("team-b"), defaultDeny("team-a")}
	for i := range 4 {
		rs = append(rs, res{typ: "kubernetes:core/v1:Secret", name: "s" + string(rune('0'+i)), inputs: map[string]any{
			"metadata": map[string]any{"name": "s", "labels": map[string]any{k8snamespace.EnvironmentLabel: "ml-dev"}},
		}})
	}
	early, stack := h.run(rs...)
	if len(early) != 0 {
		t.Errorf("stack-scoped rules ran in Analyze:%s", describe(early))
	}
	d := expectOne(t, stack, "custom.namespace-default-deny", pulumirpc.EnforcementLevel_ADVISORY, rs[1].urn())
	if d.GetMessage() != "Namespace team-b has no NetworkPolicy default-deny" || d.GetSeverity() != pulumirpc.PolicySeverity_POLICY_SEVERITY_MEDIUM {
		t.Errorf("diagnostic: %v", d)
	}
	// The environment's name comes from the resources' label.
	d = expectOne(t, stack, "custom.secret-count", pulumirpc.EnforcementLevel_ADVISORY, "")
	if d.GetMessage() != "environment ml-dev creates 4 Kubernetes Secrets; keep it to 3" {
		t.Errorf("message %q", d.GetMessage())
	}
}

func TestCustomRulesConfig(t *testing.T) {
	bad := configMap("refused", forbidden)
	examples := filepath.Join("..", "rego", "examples")
	for _, tc := range []struct {
		name string
		st   setup
		want bool // the forbidden ConfigMap is refused
	}{
		{"no rules", setup{}, false},
		{"from the environment", setup{rulesDir: testRules}, true},
		{"from the pack config", setup{packConfig: map[string]packEntry{RulesPolicy: {keep: true, props: map[string]any{"dir": testRules}}}}, true},
		{"the pack config replaces the environment's", setup{rulesDir: testRules, packConfig: map[string]packEntry{RulesPolicy: {keep: true, props: map[string]any{"dir": examples}}}}, false},
		{"disabled", setup{rulesDir: testRules, packConfig: map[string]packEntry{RulesPolicy: {level: pulumirpc.EnforcementLevel_DISABLED}}}, false},
		{"disabled with a dir", setup{packConfig: map[string]packEntry{RulesPolicy: {level: pulumirpc.EnforcementLevel_DISABLED, props: map[string]any{"dir": testRules}}}}, false},
		{"all advisory leaves the rule's enforcement", setup{rulesDir: testRules, packConfig: map[string]packEntry{RulesPolicy: {level: pulumirpc.EnforcementLevel_ADVISORY}}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := mustHarness(t, tc.st)
			got := find(h.analyze(bad), "custom.forbidden-configmap")
			if refused := len(got) == 1 && got[0].GetEnforcementLevel() == pulumirpc.EnforcementLevel_MANDATORY; refused != tc.want || len(got) > 1 {
				t.Errorf("refused %v, want %v:%s", refused, tc.want, describe(got))
			}
		})
	}
}

// A rule that does not compile fails the pack when it starts (the
// directory from the environment) or when it is configured (the directory
// from the pack config), naming the file, line and problem.
func TestCustomRulesThatDoNotCompile(t *testing.T) {
	dir := t.TempDir()
	src := "package plinth\n\ndeny contains msg if {\n\tsome r in input.resources\n\tr.type == undefined_thing\n\tmsg := \"x\"\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "broken.rego"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	wantAll := []string{"custom rules in " + dir, filepath.Join(dir, "broken.rego") + ":5:", "undefined_thing"}
	for _, tc := range []struct {
		name string
		st   setup
		want []string
	}{
		{"at start", setup{rulesDir: dir}, wantAll},
		{"in the pack config", setup{packConfig: map[string]packEntry{RulesPolicy: {keep: true, props: map[string]any{"dir": dir}}}}, append([]string{"policy pack config: plinth.rules: "}, wantAll...)},
		{"missing directory", setup{rulesDir: filepath.Join(dir, "missing")}, []string{"custom rules in " + filepath.Join(dir, "missing"), "no such file or directory"}},
		{"no rules in it", setup{packConfig: map[string]packEntry{RulesPolicy: {keep: true, props: map[string]any{"dir": t.TempDir()}}}}, []string{"no .rego files"}},
		{"dir not a string", setup{packConfig: map[string]packEntry{RulesPolicy: {keep: true, props: map[string]any{"dir": 3}}}}, []string{"plinth.rules: dir must name a directory"}},
		{"unknown setting", setup{packConfig: map[string]packEntry{RulesPolicy: {keep: true, props: map[string]any{"directory": dir}}}}, []string{`plinth.rules: no such setting "directory"; settings: dir`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newHarness(t, tc.st)
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// A rule that fails while evaluating (an entry with an unknown severity)
// fails the Analyze call: the engine stops, nothing passes silently.
func TestCustomRuleThatFailsFailsTheCall(t *testing.T) {
	dir := t.TempDir()
	src := "package plinth\n\ndeny contains {\"msg\": \"m\", \"severity\": \"urgent\", \"scope\": \"resource\"} if true\n"
	if err := os.WriteFile(filepath.Join(dir, "odd.rego"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	h := mustHarness(t, setup{rulesDir: dir})
	cm := configMap("any", nil)
	_, err := h.s.Analyze(context.Background(), &pulumirpc.AnalyzeRequest{Urn: cm.urn(), Type: cm.typ, Name: cm.name, Properties: wire(t, cm.props())})
	if err == nil || !strings.Contains(err.Error(), "odd.rego") || !strings.Contains(err.Error(), `severity "urgent" is not known`) {
		t.Errorf("Analyze: %v", err)
	}
	_, err = h.s.AnalyzeStack(context.Background(), &pulumirpc.AnalyzeStackRequest{})
	if err == nil || !strings.Contains(err.Error(), "odd.rego") {
		t.Errorf("AnalyzeStack: %v", err)
	}
}

func TestResourceEnvironmentName(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inputs map[string]any
		want   string
	}{
		{"aws tag", map[string]any{"tags": map[string]any{NameTag: "ml-prod"}}, "ml-prod"},
		{"autoscaling tag list", map[string]any{"tags": []any{map[string]any{"key": NameTag, "value": "ml-prod"}}}, "ml-prod"},
		{"kubernetes label", map[string]any{"metadata": map[string]any{"labels": map[string]any{NameLabel: "local"}}}, "local"},
		{"provider default tags", map[string]any{"defaultTags": map[string]any{"tags": map[string]any{NameTag: "ml-dev"}}}, "ml-dev"},
		{"unknown", map[string]any{"tags": map[string]any{NameTag: policies.Unknown}}, ""},
		{"none", map[string]any{"tags": map[string]any{"environment": "prod"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ResourceEnvironmentName(&policies.Resource{Inputs: tc.inputs}); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	// Plinth's own names for them.
	if NameLabel != k8snamespace.EnvironmentLabel {
		t.Errorf("NameLabel %q, k8snamespace.EnvironmentLabel %q", NameLabel, k8snamespace.EnvironmentLabel)
	}
}
