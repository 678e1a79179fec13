package engine

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/policies/analyzer"
	"github.com/plinth-dev/plinth/stacks/engine/enginetest"
	"github.com/plinth-dev/plinth/test/localcluster"
)

// Options.PolicyRules reaches the policy packs as $PLINTH_POLICY_RULES, an
// absolute path (the CLI runs in the workspace directory), without
// changing the caller's options.
func TestPolicyRulesReachThePacks(t *testing.T) {
	root := t.TempDir()
	abs, err := filepath.Abs("rules")
	if err != nil {
		t.Fatal(err)
	}
	callerEnv := map[string]string{"OTHER": "1"}
	for _, tc := range []struct {
		name  string
		rules string
		env   map[string]string
		want  string
	}{
		{"none", "", nil, ""},
		{"relative", "rules", nil, abs},
		{"absolute", "/srv/rules", nil, "/srv/rules"},
		{"with other variables", "rules", callerEnv, abs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := Options{Root: root, Stack: "dev", PolicyRules: tc.rules, env: tc.env}.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			got, set := o.env[analyzer.EnvRules]
			if got != tc.want || set != (tc.want != "") {
				t.Errorf("%s = %q (set %v), want %q", analyzer.EnvRules, got, set, tc.want)
			}
			if tc.env != nil && o.env["OTHER"] != "1" {
				t.Errorf("other variables lost: %v", o.env)
			}
		})
	}
	if _, ok := callerEnv[analyzer.EnvRules]; ok {
		t.Error("the caller's environment map was changed")
	}
}

// Custom rules given in Options.PolicyRules are evaluated by Plinth's
// policy pack inside the engine (`plinth preview --policy-pack ... --rules
// DIR`): a rule naming the test program's Deployment shows in Preview's
// progress.
func TestPreviewRunsCustomRules(t *testing.T) {
	pulumi := enginetest.Toolchain(t)
	dir := t.TempDir()
	pack := filepath.Join(dir, "plinth-policy-pack")
	build := exec.Command("go", "build", "-o", pack, "github.com/plinth-dev/plinth/cmd/plinth-policy-pack")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cannot build the policy pack: %v: %s", err, out)
	}
	rules := filepath.Join(dir, "rules")
	rule := `package plinth

deny contains {"msg": sprintf("custom rule saw Deployment %s", [r.name]), "urn": r.urn, "enforcement": "advisory", "scope": "resource"} if {
	some r in input.resources
	r.type == "kubernetes:apps/v1:Deployment"
}
`
	if err := os.MkdirAll(rules, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rules, "seen.rego"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	c := localcluster.Start(t, localcluster.Options{Dir: t.TempDir(), Nodes: enginetest.Nodes})
	defer c.Stop()
	opts, progress := testStack(t, c, pulumi, "rules")
	opts.PolicyPacks = []string{pack}
	opts.PolicyRules = rules
	if _, err := Preview(context.Background(), opts); err != nil {
		t.Fatalf("preview: %v\n%s", err, progress)
	}
	want := "custom rule saw Deployment " + enginetest.Deployment
	found := false
	for _, line := range strings.Split(progress.String(), "\n") {
		if strings.HasPrefix(line, "  policy ") && strings.Contains(line, "custom.seen") && strings.Contains(line, want) {
			found = true
		}
	}
	if !found {
		t.Errorf("no custom.seen violation %q in the progress:\n%s", want, progress)
	}
}
