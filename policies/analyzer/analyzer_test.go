package analyzer

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/propertyrpc"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/plinth-dev/plinth/policies"
	"github.com/plinth-dev/plinth/policies/rego"
)

// The tests drive Server as the engine does, in its order: ConfigureStack,
// GetAnalyzerInfo, Configure (every policy, at the advertised level unless
// the config file changes it), Analyze per resource, AnalyzeStack. The
// properties travel as the engine marshals them (propertyrpc).

const (
	testStack   = "dev"
	testProject = "plinth-test"
)

func urn(typ, name string) string {
	return fmt.Sprintf("urn:pulumi:%s::%s::%s::%s", testStack, testProject, typ, name)
}

// wire marshals inputs as the engine does.
func wire(t testing.TB, props resource.PropertyMap) *structpb.Struct {
	t.Helper()
	return propertyrpc.Marshal(resource.FromResourcePropertyMap(props))
}

// res is a resource as a program registers it.
type res struct {
	typ, name string
	inputs    map[string]any
	protect   bool
}

func (r res) urn() string { return urn(r.typ, r.name) }

func (r res) props() resource.PropertyMap { return resource.NewPropertyMapFromMap(r.inputs) }

// harness is a Server under test, configured like the engine configures it.
type harness struct {
	t    testing.TB
	s    *Server
	info *pulumirpc.AnalyzerInfo
}

// setup is what a stack and a policy pack config file set.
type setup struct {
	stackConfig map[string]string
	stackTags   map[string]string
	// packConfig is the config file: policy → enforcement ("" keeps the
	// advertised one) and properties.
	packConfig map[string]packEntry
	// rulesDir is Options.RulesDir ($PLINTH_POLICY_RULES).
	rulesDir string
}

type packEntry struct {
	level pulumirpc.EnforcementLevel // 0 (advisory) is a level too: use keep
	keep  bool
	props map[string]any
}

func newHarness(t testing.TB, st setup) (*harness, error) {
	t.Helper()
	s, err := New(Options{RulesDir: st.rulesDir})
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if _, err := s.Handshake(ctx, &pulumirpc.AnalyzerHandshakeRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConfigureStack(ctx, &pulumirpc.AnalyzerStackConfigureRequest{
		Stack: testStack, Project: testProject, Config: st.stackConfig, Tags: st.stackTags,
	}); err != nil {
		return nil, err
	}
	info, err := s.GetAnalyzerInfo(ctx, &emptypb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	// The engine's ReconcilePolicyPackConfig: every policy at its advertised
	// level, then the file's entries on top.
	req := &pulumirpc.ConfigureAnalyzerRequest{PolicyConfig: map[string]*pulumirpc.PolicyConfig{}}
	for _, p := range info.GetPolicies() {
		req.PolicyConfig[p.GetName()] = &pulumirpc.PolicyConfig{EnforcementLevel: p.GetEnforcementLevel()}
	}
	for name, e := range st.packConfig {
		pc := req.PolicyConfig[name]
		if pc == nil {
			pc = &pulumirpc.PolicyConfig{EnforcementLevel: e.level}
			req.PolicyConfig[name] = pc
		}
		if !e.keep {
			pc.EnforcementLevel = e.level
		}
		if e.props != nil {
			props, err := structpb.NewStruct(e.props)
			if err != nil {
				t.Fatal(err)
			}
			pc.Properties = props
		}
	}
	if _, err := s.Configure(ctx, req); err != nil {
		return nil, err
	}
	return &harness{t: t, s: s, info: info}, nil
}

func mustHarness(t testing.TB, st setup) *harness {
	t.Helper()
	h, err := newHarness(t, st)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) analyze(r res) []*pulumirpc.AnalyzeDiagnostic {
	h.t.Helper()
	resp, err := h.s.Analyze(context.Background(), &pulumirpc.AnalyzeRequest{
		Urn: r.urn(), Type: r.typ, Name: r.name, Properties: wire(h.t, r.props()),
		Options: &pulumirpc.AnalyzerResourceOptions{Protect: r.protect},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.GetDiagnostics()
}

// analyzeStack sends rs with the given properties (outputs, in the engine).
func (h *harness) analyzeStack(rs ...res) []*pulumirpc.AnalyzeDiagnostic {
	h.t.Helper()
	req := &pulumirpc.AnalyzeStackRequest{}
	for _, r := range rs {
		req.Resources = append(req.Resources, &pulumirpc.AnalyzerResource{
			Urn: r.urn(), Type: r.typ, Name: r.name, Properties: wire(h.t, r.props()),
			Options: &pulumirpc.AnalyzerResourceOptions{Protect: r.protect},
		})
	}
	resp, err := h.s.AnalyzeStack(context.Background(), req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.GetDiagnostics()
}

// run analyzes every resource in order, then the stack, and returns every
// diagnostic.
func (h *harness) run(rs ...res) (early, stack []*pulumirpc.AnalyzeDiagnostic) {
	h.t.Helper()
	for _, r := range rs {
		early = append(early, h.analyze(r)...)
	}
	return early, h.analyzeStack(rs...)
}

func find(ds []*pulumirpc.AnalyzeDiagnostic, policy string) []*pulumirpc.AnalyzeDiagnostic {
	var out []*pulumirpc.AnalyzeDiagnostic
	for _, d := range ds {
		if d.GetPolicyName() == policy {
			out = append(out, d)
		}
	}
	return out
}

func describe(ds []*pulumirpc.AnalyzeDiagnostic) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "\n  [%s] %s %s: %s", d.GetEnforcementLevel(), d.GetPolicyName(), d.GetUrn(), strings.SplitN(d.GetMessage(), "\n", 2)[0])
	}
	return b.String()
}

// expectOne checks that ds holds exactly one diagnostic of policy, at level
// on urn, and returns it.
func expectOne(t *testing.T, ds []*pulumirpc.AnalyzeDiagnostic, policy string, level pulumirpc.EnforcementLevel, urn string) *pulumirpc.AnalyzeDiagnostic {
	t.Helper()
	got := find(ds, policy)
	if len(got) != 1 {
		t.Fatalf("want one %s diagnostic, got %d:%s", policy, len(got), describe(ds))
	}
	if d := got[0]; d.GetEnforcementLevel() != level || d.GetUrn() != urn {
		t.Fatalf("%s: got [%s] on %s, want [%s] on %s", policy, d.GetEnforcementLevel(), d.GetUrn(), level, urn)
	}
	return got[0]
}

// Kubernetes fixtures.

const typeDeployment = "kubernetes:apps/v1:Deployment"

type podOpts struct {
	labels     map[string]any
	privileged bool
	root       bool
}

func deployment(name string, o podOpts) res {
	labels := map[string]any{"app.kubernetes.io/name": name}
	for k, v := range o.labels {
		labels[k] = v
	}
	podSC := map[string]any{"runAsNonRoot": true, "runAsUser": 1000}
	if o.root {
		podSC = map[string]any{}
	}
	return res{typ: typeDeployment, name: name, inputs: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name, "labels": labels},
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": name}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app.kubernetes.io/name": name}},
				"spec": map[string]any{
					"securityContext": podSC,
					"containers": []any{map[string]any{
						"name": "app", "image": "registry.local/app:1",
						"securityContext": map[string]any{"privileged": o.privileged, "allowPrivilegeEscalation": false},
					}},
				},
			},
		},
	}}
}

func TestEveryPolicyHasAScope(t *testing.T) {
	known := map[string]bool{}
	for _, p := range policies.All() {
		known[p.ID()] = true
		if _, ok := scopes[p.ID()]; !ok {
			t.Errorf("policy %s has no scope: decide whether it is Early (monotone: a finding on the resources registered so far stays one) or Stack, in scope.go", p.ID())
		}
	}
	for id := range scopes {
		if !known[id] {
			t.Errorf("scope.go names %s, which is no policy", id)
		}
	}
}

func TestPolicyResourceRendersUnknownsAndSecrets(t *testing.T) {
	props := resource.PropertyMap{
		"plain":    resource.NewStringProperty("x"),
		"computed": resource.MakeComputed(resource.NewStringProperty("")),
		"secret":   resource.MakeSecret(resource.NewStringProperty("hunter2")),
		"nested": resource.NewObjectProperty(resource.PropertyMap{
			"n":    resource.NewNumberProperty(3),
			"list": resource.NewArrayProperty([]resource.PropertyValue{resource.NewBoolProperty(true), resource.MakeComputed(resource.NewStringProperty(""))}),
			"out":  resource.NewOutputProperty(resource.Output{Known: false}),
			"sec":  resource.NewOutputProperty(resource.Output{Element: resource.NewStringProperty("k"), Known: true, Secret: true}),
		}),
		"__internal": resource.NewStringProperty("hidden"),
	}
	// Through the wire, as the engine sends them.
	got, err := fromAnalyzeRequest(&pulumirpc.AnalyzeRequest{
		Urn: urn("t:m:R", "r"), Type: "t:m:R", Name: "r", Properties: wire(t, props),
		Options: &pulumirpc.AnalyzerResourceOptions{Parent: urn("pulumi:pulumi:Stack", "s"), Protect: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := PolicyResource(got)
	want := map[string]any{
		"plain":    "x",
		"computed": policies.Unknown,
		"secret":   policies.Secret,
		"nested": map[string]any{
			"n":    3.0,
			"list": []any{true, policies.Unknown},
			"out":  policies.Unknown,
			"sec":  policies.Secret,
		},
	}
	gotJSON, _ := json.Marshal(r.Inputs)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("inputs:\n got %s\nwant %s", gotJSON, wantJSON)
	}
	if r.Parent != urn("pulumi:pulumi:Stack", "s") || !r.Protect || r.Type != "t:m:R" || r.Name != "r" {
		t.Errorf("resource: %+v", r)
	}
}

func TestClassify(t *testing.T) {
	tagged := func(name string, inputs map[string]any) *policies.Resource {
		return &policies.Resource{URN: urn("t:m:R", name), Name: name, Inputs: inputs}
	}
	awsDev := tagged("a", map[string]any{"tags": map[string]any{"environment": "dev"}})
	asgProd := tagged("b", map[string]any{"tags": []any{map[string]any{"key": "environment", "value": "prod"}}})
	k8sStaging := tagged("c", map[string]any{"metadata": map[string]any{"labels": map[string]any{"environment": "staging"}}})
	unknown := tagged("d", map[string]any{"tags": map[string]any{"environment": policies.Unknown}})
	awsProvider := tagged("f", map[string]any{"defaultTags": map[string]any{"tags": map[string]any{"environment": "staging"}}})
	none := tagged("e", map[string]any{})
	for _, tc := range []struct {
		name               string
		configured, tag    string
		rs                 []*policies.Resource
		wantClass, wantSrc string
	}{
		{"nothing", "", "", []*policies.Resource{none, unknown}, "dev", SourceDefault},
		{"aws tag", "", "", []*policies.Resource{none, awsDev}, "dev", SourceTags},
		{"kubernetes label", "", "", []*policies.Resource{k8sStaging}, "staging", SourceTags},
		{"aws provider default tags", "", "", []*policies.Resource{none, awsProvider}, "staging", SourceTags},
		{"strictest wins", "", "", []*policies.Resource{awsDev, asgProd, k8sStaging}, "prod", SourceTags},
		{"stack tag over resource tags", "", "staging", []*policies.Resource{asgProd}, "staging", SourceStackTag},
		{"config over everything", "dev", "staging", []*policies.Resource{asgProd}, "dev", SourceConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Classify(tc.configured, tc.tag, tc.rs)
			if c.Class != tc.wantClass || c.Source != tc.wantSrc {
				t.Errorf("got %s from %s, want %s from %s", c.Class, c.Source, tc.wantClass, tc.wantSrc)
			}
		})
	}
}

func TestAnalyzerInfo(t *testing.T) {
	h := mustHarness(t, setup{})
	var names []string
	byName := map[string]*pulumirpc.PolicyInfo{}
	for _, p := range h.info.GetPolicies() {
		names = append(names, p.GetName())
		byName[p.GetName()] = p
	}
	want := []string{MetaPolicy, RulesPolicy}
	for _, p := range policies.All() {
		want = append(want, p.ID())
	}
	if !slices.Equal(names, want) {
		t.Fatalf("policies:\n got %v\nwant %v", names, want)
	}
	if h.info.GetName() != DefaultName || !h.info.GetSupportsConfig() {
		t.Errorf("pack %s, supports config %v", h.info.GetName(), h.info.GetSupportsConfig())
	}
	// Advertised: the dev defaults.
	for id, level := range map[string]pulumirpc.EnforcementLevel{
		"security.k8s-no-privileged":              pulumirpc.EnforcementLevel_MANDATORY,
		"security.k8s-run-as-non-root":            pulumirpc.EnforcementLevel_ADVISORY,
		"reliability.prod-db-deletion-protection": pulumirpc.EnforcementLevel_DISABLED,
	} {
		if got := byName[id].GetEnforcementLevel(); got != level {
			t.Errorf("%s advertised %s, want %s", id, got, level)
		}
	}
	p := byName["cost.max-gpus"]
	if p.GetSeverity() != pulumirpc.PolicySeverity_POLICY_SEVERITY_HIGH || p.GetRemediationSteps() == "" || p.GetPolicyType() != pulumirpc.PolicyType_POLICY_TYPE_RESOURCE {
		t.Errorf("cost.max-gpus: %v", p)
	}
	if typ := p.GetConfigSchema().GetProperties().AsMap()["maxGPUs"].(map[string]any)["type"]; typ != "integer" {
		t.Errorf("maxGPUs schema type %v", typ)
	}
	if byName["security.server-auth"].GetPolicyType() != pulumirpc.PolicyType_POLICY_TYPE_STACK {
		t.Error("server-auth should be a stack policy")
	}
	// plinth.rules takes a directory, and is not disabled by default (the
	// engine echoes the advertised level back, which would switch the
	// rules off).
	rules := byName[RulesPolicy]
	if typ := rules.GetConfigSchema().GetProperties().AsMap()["dir"].(map[string]any)["type"]; typ != "string" {
		t.Errorf("%s: dir schema type %v", RulesPolicy, typ)
	}
	if rules.GetEnforcementLevel() == pulumirpc.EnforcementLevel_DISABLED {
		t.Errorf("%s advertised disabled", RulesPolicy)
	}

	// A stack tagged prod advertises the prod defaults.
	h = mustHarness(t, setup{stackTags: map[string]string{"environment": "prod"}})
	for _, p := range h.info.GetPolicies() {
		if p.GetName() == "security.k8s-run-as-non-root" && p.GetEnforcementLevel() != pulumirpc.EnforcementLevel_MANDATORY {
			t.Errorf("prod stack: run-as-non-root advertised %s", p.GetEnforcementLevel())
		}
	}
}

func TestAnalyzeStopsAPrivilegedContainer(t *testing.T) {
	h := mustHarness(t, setup{})
	good := deployment("good", podOpts{labels: map[string]any{"environment": "dev"}})
	if ds := h.analyze(good); len(ds) != 0 {
		t.Fatalf("compliant deployment:%s", describe(ds))
	}
	bad := deployment("bad", podOpts{privileged: true})
	d := expectOne(t, h.analyze(bad), "security.k8s-no-privileged", pulumirpc.EnforcementLevel_MANDATORY, bad.urn())
	if d.GetSeverity() != pulumirpc.PolicySeverity_POLICY_SEVERITY_CRITICAL || d.GetPolicyPackName() != DefaultName ||
		!strings.Contains(d.GetMessage(), "Deployment bad: app: privileged") || !strings.Contains(d.GetMessage(), "\nRemediation: Drop privileged") {
		t.Errorf("diagnostic: %v", d)
	}
	// Not repeated at the end.
	if ds := h.analyzeStack(good, bad); len(ds) != 0 {
		t.Errorf("AnalyzeStack repeated Analyze's findings:%s", describe(ds))
	}
}

func TestEnforcementFollowsTheClass(t *testing.T) {
	root := func(class string) res {
		return deployment("root", podOpts{root: true, labels: map[string]any{"environment": class}})
	}
	h := mustHarness(t, setup{})
	expectOne(t, h.analyze(root("dev")), "security.k8s-run-as-non-root", pulumirpc.EnforcementLevel_ADVISORY, root("dev").urn())
	h = mustHarness(t, setup{})
	expectOne(t, h.analyze(root("prod")), "security.k8s-run-as-non-root", pulumirpc.EnforcementLevel_MANDATORY, root("prod").urn())

	// The class from the policy pack config wins over the tags, and
	// plinth.environment says they disagree.
	h = mustHarness(t, setup{packConfig: map[string]packEntry{MetaPolicy: {keep: true, props: map[string]any{"class": "prod"}}}})
	early, stack := h.run(root("dev"))
	expectOne(t, early, "security.k8s-run-as-non-root", pulumirpc.EnforcementLevel_MANDATORY, root("dev").urn())
	d := expectOne(t, stack, MetaPolicy, pulumirpc.EnforcementLevel_ADVISORY, "")
	if !strings.Contains(d.GetMessage(), "the class is prod (from the policy config), but 1 resource is tagged environment=dev: root") {
		t.Errorf("message: %s", d.GetMessage())
	}

	// A later, stricter tag: the earlier finding is reported again, now
	// mandatory, when the resource that makes the stack prod is analyzed
	// (so that resource is stopped), and not again at the end.
	h = mustHarness(t, setup{})
	untagged := deployment("root", podOpts{root: true})
	expectOne(t, h.analyze(untagged), "security.k8s-run-as-non-root", pulumirpc.EnforcementLevel_ADVISORY, untagged.urn())
	other := deployment("other", podOpts{labels: map[string]any{"environment": "prod"}})
	expectOne(t, h.analyze(other), "security.k8s-run-as-non-root", pulumirpc.EnforcementLevel_MANDATORY, untagged.urn())
	if ds := find(h.analyzeStack(untagged, other), "security.k8s-run-as-non-root"); len(ds) > 0 {
		t.Errorf("reported again at the end:%s", describe(ds))
	}
}

func TestEnvironmentTagsThatDisagree(t *testing.T) {
	h := mustHarness(t, setup{})
	_, stack := h.run(
		deployment("a", podOpts{labels: map[string]any{"environment": "dev"}}),
		deployment("b", podOpts{labels: map[string]any{"environment": "prod"}}),
		deployment("c", podOpts{labels: map[string]any{"environment": "production"}}),
	)
	got := find(stack, MetaPolicy)
	if len(got) != 2 {
		t.Fatalf("want two %s diagnostics:%s", MetaPolicy, describe(stack))
	}
	for i, want := range []string{
		`1 resource is tagged environment="production", which is not a class (dev, staging, prod): c`,
		"resources are tagged with several classes: dev (1: a); prod (1: b); the policies ran as prod, the strictest",
	} {
		if d := got[i]; !strings.HasPrefix(d.GetMessage(), want) || d.GetEnforcementLevel() != pulumirpc.EnforcementLevel_ADVISORY || d.GetUrn() != "" {
			t.Errorf("diagnostic %d: [%s] %s\nwant %s", i, d.GetEnforcementLevel(), d.GetMessage(), want)
		}
	}
	// Made mandatory in the config, it fails the stack; disabled, it is silent.
	h = mustHarness(t, setup{packConfig: map[string]packEntry{MetaPolicy: {level: pulumirpc.EnforcementLevel_MANDATORY}}})
	_, stack = h.run(deployment("a", podOpts{labels: map[string]any{"environment": "dev"}}), deployment("b", podOpts{labels: map[string]any{"environment": "prod"}}))
	expectOne(t, stack, MetaPolicy, pulumirpc.EnforcementLevel_MANDATORY, "")
	h = mustHarness(t, setup{packConfig: map[string]packEntry{MetaPolicy: {level: pulumirpc.EnforcementLevel_DISABLED}}})
	if _, stack = h.run(deployment("c", podOpts{labels: map[string]any{"environment": "production"}})); len(find(stack, MetaPolicy)) > 0 {
		t.Errorf("disabled:%s", describe(stack))
	}
}

func TestStackPoliciesWaitForTheStack(t *testing.T) {
	h := mustHarness(t, setup{})
	// A LoadBalancer exposing MLflow, registered before the workload.
	svc := res{typ: "kubernetes:core/v1:Service", name: "mlflow", inputs: map[string]any{
		"metadata": map[string]any{"name": "mlflow"},
		"spec":     map[string]any{"type": "LoadBalancer", "selector": map[string]any{"app.kubernetes.io/name": "mlflow"}},
	}}
	mlflow := deployment("mlflow", podOpts{})
	// A bucket whose public access block comes after it.
	bucket := res{typ: "aws:s3/bucketV2:BucketV2", name: "data", inputs: map[string]any{"bucket": "data", "tags": map[string]any{"owner": "a", "cost-center": "b", "environment": "dev"}}}
	block := res{typ: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", name: "data-public-access", inputs: map[string]any{
		"bucket": "data", "blockPublicAcls": true, "blockPublicPolicy": true, "ignorePublicAcls": true, "restrictPublicBuckets": true,
	}}
	early, stack := h.run(svc, bucket, block, mlflow)
	for _, id := range []string{"security.server-auth", "security.s3-public-access-block"} {
		if got := find(early, id); len(got) > 0 {
			t.Errorf("%s ran before the stack was complete:%s", id, describe(got))
		}
	}
	expectOne(t, stack, "security.server-auth", pulumirpc.EnforcementLevel_MANDATORY, svc.urn())
	if got := find(stack, "security.s3-public-access-block"); len(got) > 0 {
		t.Errorf("bucket has its block:%s", describe(got))
	}
	// Without the block, the end reports it.
	h = mustHarness(t, setup{})
	_, stack = h.run(bucket)
	expectOne(t, stack, "security.s3-public-access-block", pulumirpc.EnforcementLevel_MANDATORY, bucket.urn())
}

func nodeGroup(name string, maxSize int) res {
	return res{typ: "aws:eks/nodeGroup:NodeGroup", name: name, inputs: map[string]any{
		"instanceTypes": []any{"p4d.24xlarge"},
		"scalingConfig": map[string]any{"minSize": 0, "desiredSize": 0, "maxSize": maxSize},
		"tags":          map[string]any{"owner": "a", "cost-center": "b", "environment": "dev"},
	}}
}

func TestStackWideFindingStopsTheResourceThatTipsIt(t *testing.T) {
	h := mustHarness(t, setup{})
	a, b, c := nodeGroup("gpu-a", 1), nodeGroup("gpu-b", 2), nodeGroup("gpu-c", 1)
	if ds := find(h.analyze(a), "cost.max-gpus"); len(ds) > 0 {
		t.Fatalf("8 GPUs of 16:%s", describe(ds))
	}
	d := expectOne(t, h.analyze(b), "cost.max-gpus", pulumirpc.EnforcementLevel_MANDATORY, b.urn())
	if !strings.Contains(d.GetMessage(), "can scale to 24 GPUs") {
		t.Errorf("message: %s", d.GetMessage())
	}
	if ds := find(h.analyze(c), "cost.max-gpus"); len(ds) > 0 {
		t.Errorf("reported twice:%s", describe(ds))
	}
	if ds := find(h.analyzeStack(a, b, c), "cost.max-gpus"); len(ds) > 0 {
		t.Errorf("reported again at the end:%s", describe(ds))
	}

	// Settings from the policy pack config.
	h = mustHarness(t, setup{packConfig: map[string]packEntry{"cost.max-gpus": {keep: true, props: map[string]any{"maxGPUs": 32}}}})
	early, stack := h.run(a, b, c)
	if ds := append(find(early, "cost.max-gpus"), find(stack, "cost.max-gpus")...); len(ds) > 0 {
		t.Errorf("32 GPUs allowed:%s", describe(ds))
	}
}

func TestConfig(t *testing.T) {
	bad := deployment("bad", podOpts{privileged: true})
	t.Run("pack config lowers a policy", func(t *testing.T) {
		h := mustHarness(t, setup{packConfig: map[string]packEntry{"security.k8s-no-privileged": {level: pulumirpc.EnforcementLevel_ADVISORY}}})
		expectOne(t, h.analyze(bad), "security.k8s-no-privileged", pulumirpc.EnforcementLevel_ADVISORY, bad.urn())
	})
	t.Run("pack config disables a policy", func(t *testing.T) {
		h := mustHarness(t, setup{packConfig: map[string]packEntry{"security.k8s-no-privileged": {level: pulumirpc.EnforcementLevel_DISABLED}}})
		if ds := h.analyze(bad); len(ds) > 0 {
			t.Errorf("disabled:%s", describe(ds))
		}
	})
	t.Run("packs in plinth.environment", func(t *testing.T) {
		h := mustHarness(t, setup{packConfig: map[string]packEntry{MetaPolicy: {keep: true, props: map[string]any{"packs": map[string]any{"security": "advisory"}}}}})
		expectOne(t, h.analyze(bad), "security.k8s-no-privileged", pulumirpc.EnforcementLevel_ADVISORY, bad.urn())
	})
	t.Run("stack config plinth:policies", func(t *testing.T) {
		h := mustHarness(t, setup{stackConfig: map[string]string{ConfigPolicies: `{"policies": {"security.k8s-no-privileged": {"enforcement": "advisory"}}}`}})
		expectOne(t, h.analyze(bad), "security.k8s-no-privileged", pulumirpc.EnforcementLevel_ADVISORY, bad.urn())
		// The advertised level is the stack config's, so echoing it back is no override.
		h = mustHarness(t, setup{
			stackConfig: map[string]string{ConfigPolicies: `{"packs": {"security": "advisory"}}`},
			packConfig:  map[string]packEntry{"security.k8s-no-privileged": {level: pulumirpc.EnforcementLevel_MANDATORY}},
		})
		expectOne(t, h.analyze(bad), "security.k8s-no-privileged", pulumirpc.EnforcementLevel_MANDATORY, bad.urn())
	})
	t.Run("stack tag", func(t *testing.T) {
		h := mustHarness(t, setup{stackTags: map[string]string{"environment": "prod"}})
		root := deployment("root", podOpts{root: true})
		expectOne(t, h.analyze(root), "security.k8s-run-as-non-root", pulumirpc.EnforcementLevel_MANDATORY, root.urn())
	})
	for _, tc := range []struct {
		name string
		st   setup
		want string
	}{
		{"unknown policy", setup{packConfig: map[string]packEntry{"security.nope": {level: pulumirpc.EnforcementLevel_ADVISORY}}}, "security.nope: no such policy in pack plinth"},
		{"unknown setting", setup{packConfig: map[string]packEntry{"cost.max-gpus": {keep: true, props: map[string]any{"maxGpus": 4}}}}, "policies.cost.max-gpus.settings.maxGpus: no such setting"},
		{"bad class", setup{packConfig: map[string]packEntry{MetaPolicy: {keep: true, props: map[string]any{"class": "production"}}}}, "class is production; allowed: dev, staging, prod"},
		{"bad pack", setup{packConfig: map[string]packEntry{MetaPolicy: {keep: true, props: map[string]any{"packs": map[string]any{"secrity": "advisory"}}}}}, "packs.secrity: no such pack"},
		{"bad stack config", setup{stackConfig: map[string]string{ConfigPolicies: `{"packs": {"cost": "sometimes"}}`}}, `stack config plinth:policies: packs.cost: enforcement "sometimes" is not known`},
		{"bad stack tag", setup{stackTags: map[string]string{"environment": "qa"}}, `stack tag environment is "qa"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newHarness(t, tc.st)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// planFixture is the part of a `plinth plan` JSON the test reads.
type planFixture struct {
	Environment      string            `json:"environment"`
	EnvironmentClass string            `json:"environmentClass"`
	Provider         string            `json:"provider"`
	Region           string            `json:"region"`
	Resources        []fixtureResource `json:"resources"`
}

type fixtureResource struct {
	URN     string         `json:"urn"`
	Type    string         `json:"type"`
	Name    string         `json:"name"`
	Parent  string         `json:"parent"`
	Inputs  map[string]any `json:"inputs"`
	Protect bool           `json:"protect"`
}

// ruleSets are the custom rules TestEngineViewMatchesPolicyCheck runs in
// both places, and the custom policies each must find something with (so
// that the comparison compares something).
var ruleSets = []struct {
	name, dir string
	find      []string
}{
	{"no rules", "", nil},
	{"examples", filepath.Join("..", "rego", "examples"), []string{"custom.bucket-purpose"}},
	{"test rules", filepath.Join("testdata", "rules"), []string{"custom.image-digest", "custom.namespace-default-deny", "custom.secret-count"}},
}

// TestEngineViewMatchesPolicyCheck runs plans through the analyzer,
// resource by resource as the engine registers them, and checks that it
// reports what `plinth policy check` reports on the whole plan: the same
// violations with the same enforcement and severity, each exactly once (a
// stack-wide finding on the resource that tipped it), and that the class
// comes out of the resources' tags. It does so without custom rules, and
// with custom Rego rules evaluated in both places (offline as `plinth policy
// check --rules` evaluates them: rego.Load, Evaluate, Report.Merge). The
// plans are the recorded plans of the shipped blueprints and the policy
// fixtures, each as registered, in reverse order (companions before what
// they complete) and with every other resource dropped (missing companions,
// so the Stack policies and the stack-scoped rules find something).
func TestEngineViewMatchesPolicyCheck(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "cmd", "plinth", "testdata", "plan", "*.json"))
	shipped := len(files)
	more, _ := filepath.Glob(filepath.Join("..", "testdata", "*.json"))
	files = append(files, more...)
	if shipped == 0 || len(more) == 0 {
		t.Fatal("no plan fixtures")
	}
	variants := []struct {
		name string
		pick func([]fixtureResource) []fixtureResource
	}{
		{"registered", func(rs []fixtureResource) []fixtureResource { return rs }},
		{"reversed", func(rs []fixtureResource) []fixtureResource {
			out := slices.Clone(rs)
			slices.Reverse(out)
			return out
		}},
		{"halved", func(rs []fixtureResource) []fixtureResource {
			var out []fixtureResource
			for i, r := range rs {
				if i%2 == 0 {
					out = append(out, r)
				}
			}
			return out
		}},
	}
	for _, set := range ruleSets {
		t.Run(set.name, func(t *testing.T) {
			var rules *rego.Rules
			if set.dir != "" {
				var err error
				if rules, err = rego.Load(set.dir); err != nil {
					t.Fatal(err)
				}
			}
			total, custom := 0, map[string]int{}
			for i, file := range files {
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				var p planFixture
				if err := json.Unmarshal(data, &p); err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				for _, variant := range variants {
					t.Run(filepath.Base(file)+"/"+variant.name, func(t *testing.T) {
						n := compareWithPolicyCheck(t, p, variant.pick(p.Resources), rules, set.dir, i < shipped)
						for policy, k := range n {
							total += k
							if strings.HasPrefix(policy, rego.Pack+".") {
								custom[policy] += k
							}
						}
					})
				}
			}
			if total == 0 && !t.Failed() {
				t.Error("no fixture has violations: the test compares nothing")
			}
			for _, policy := range set.find {
				if custom[policy] == 0 {
					t.Errorf("%s found nothing in any fixture: the test compares nothing for it", policy)
				}
			}
			t.Logf("custom rule violations compared: %v", custom)
		})
	}
}

// compareWithPolicyCheck checks one fixture (see
// TestEngineViewMatchesPolicyCheck) and returns the violations compared,
// by policy. A shipped plan is a Plinth environment: its resources carry the
// environment's name, which the analyzer must find.
func compareWithPolicyCheck(t *testing.T, p planFixture, fixture []fixtureResource, rules *rego.Rules, rulesDir string, shipped bool) map[string]int {
	t.Helper()
	in := &policies.Input{Environment: policies.Environment{Class: p.EnvironmentClass, Provider: p.Provider, Region: p.Region, Stack: testStack}}
	var rs []res
	for _, r := range fixture {
		in.Resources = append(in.Resources, &policies.Resource{URN: r.URN, Type: r.Type, Name: r.Name, Parent: r.Parent, Inputs: r.Inputs, Protect: r.Protect})
		rs = append(rs, res{typ: r.Type, name: r.Name, inputs: r.Inputs, protect: r.Protect})
	}
	// The environment's name: what the resources are tagged with, as
	// `plinth plan` takes it from the blueprint; else the project's.
	in.Environment.Name = testProject
	for _, r := range in.Resources {
		if name := ResourceEnvironmentName(r); name != "" {
			in.Environment.Name = name
			break
		}
	}
	if shipped && in.Environment.Name != p.Environment {
		t.Errorf("environment name %q from the tags, the plan says %q", in.Environment.Name, p.Environment)
	}
	if in.Environment.Provider == "" {
		for _, r := range in.Resources {
			in.Environment.Provider = environmentProvider(in.Environment.Provider, r.Type)
		}
	}
	want, err := policies.Evaluate(policies.All(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rules != nil {
		vs, err := rules.Evaluate(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		want.Merge(vs)
	}

	// The class comes from the resources' tags; a fixture whose resources
	// carry none gets it from the stack tag.
	st := setup{rulesDir: rulesDir}
	if p.Region != "" {
		st.stackConfig = map[string]string{ConfigRegion: p.Region}
	}
	if cl := Classify("", "", in.Resources); cl.Source == SourceDefault {
		st.stackTags = map[string]string{TagKey: p.EnvironmentClass}
	} else if cl.Class != p.EnvironmentClass {
		t.Errorf("class %s from %s, fixture says %s", cl.Class, cl.Source, p.EnvironmentClass)
	}
	// Fixture URNs are the mock's; the analyzer sees the harness's.
	h := mustHarness(t, st)
	toFixture := map[string]string{}
	for i, r := range rs {
		toFixture[r.urn()] = fixture[i].URN
	}
	var got []*pulumirpc.AnalyzeDiagnostic
	for _, r := range rs {
		got = append(got, h.analyze(r)...)
	}
	got = append(got, h.analyzeStack(rs...)...)

	// Every diagnostic is a violation policy check reports, once.
	matched := map[int]bool{}
	for _, d := range got {
		if d.GetPolicyName() == MetaPolicy {
			t.Errorf("plinth.environment: %s", d.GetMessage())
			continue
		}
		msg, _, _ := strings.Cut(d.GetMessage(), "\nRemediation: ")
		idx := slices.IndexFunc(want.Violations, func(v policies.Violation) bool {
			if v.Policy != d.GetPolicyName() || rpcEnforcement(v.Enforcement) != d.GetEnforcementLevel() || rpcSeverity(v.Severity) != d.GetSeverity() {
				return false
			}
			if v.URN == "" { // stack-wide: on the stack, or on the resource that tipped it
				return v.Pack != rego.Pack || v.Message == msg
			}
			return v.URN == toFixture[d.GetUrn()] && v.Message == msg
		})
		switch {
		case idx < 0:
			t.Errorf("reported but not by policy check: [%s] %s on %s: %s", d.GetEnforcementLevel(), d.GetPolicyName(), d.GetUrn(), msg)
		case matched[idx]:
			t.Errorf("reported twice: [%s] %s on %s: %s", d.GetEnforcementLevel(), d.GetPolicyName(), d.GetUrn(), msg)
		}
		matched[idx] = true
	}
	n := map[string]int{}
	for i, v := range want.Violations {
		n[v.Policy]++
		if !matched[i] {
			t.Errorf("policy check reports [%s] %s on %s: %s; the analyzer did not", v.Enforcement, v.Policy, v.URN, v.Message)
		}
	}
	t.Logf("%d resources, %d violations (%d mandatory)", len(rs), len(want.Violations), want.Mandatory())
	return n
}

// BenchmarkDeployment measures one deployment as the engine drives it:
// Analyze per resource (Early policies on the resources so far: quadratic
// in the stack's size) and AnalyzeStack, on the production plan copied to
// about 1,000 resources.
//
//	go test ./policies/analyzer -run '^$' -bench Deployment
func BenchmarkDeployment(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("..", "..", "cmd", "plinth", "testdata", "plan", "production.json"))
	if err != nil {
		b.Fatal(err)
	}
	var p planFixture
	if err := json.Unmarshal(data, &p); err != nil {
		b.Fatal(err)
	}
	var rs []res
	for copy := 0; len(rs) < 1000; copy++ {
		for _, r := range p.Resources {
			rs = append(rs, res{typ: r.Type, name: fmt.Sprintf("%s-%d", r.Name, copy), inputs: r.Inputs, protect: r.Protect})
		}
	}
	b.ReportMetric(float64(len(rs)), "resources")
	for b.Loop() {
		h := mustHarness(b, setup{})
		h.run(rs...)
	}
}
