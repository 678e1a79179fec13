package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/policies"
	"github.com/plinth-dev/plinth/policies/rego"
)

// regoTwins loads the Rego rules of policies/testdata/bench (the ones
// policies/bench_test.go compares with) and the Go policies they mirror,
// matched by name: file imdsv2-required.rego is policy
// security.imdsv2-required.
func regoTwins(t testing.TB, root string) (*rego.Rules, []*policies.Policy) {
	t.Helper()
	rules, err := rego.Load(filepath.Join(root, "policies", "testdata", "bench"))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*policies.Policy{}
	for _, p := range policies.All() {
		byName[p.Name] = p
	}
	var gos []*policies.Policy
	for _, f := range rules.Files() {
		name := strings.TrimSuffix(filepath.Base(f), ".rego")
		if name == "lib" {
			continue
		}
		p, ok := byName[name]
		if !ok {
			t.Fatalf("%s has no Go twin among policies.All()", f)
		}
		gos = append(gos, p)
	}
	if len(gos) == 0 {
		t.Fatal("no Rego bench rules found")
	}
	return rules, gos
}

// timeLoop runs f iters times and returns the elapsed time.
func timeLoop(t *testing.T, iters int, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for range iters {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	return time.Since(start)
}

// iterationsFor is how many calls of f fill about target.
func iterationsFor(t *testing.T, target time.Duration, f func() error) int {
	t.Helper()
	once := timeLoop(t, 1, f)
	if once <= 0 {
		return 1000
	}
	return max(1, int(target/once))
}

// policySection measures policy evaluation throughput (resource × policy
// checks per second) on each plan's graph: the Go policies mirrored in
// Rego, the same rules in Rego via OPA (the input conversion included),
// and all the Go policies. Go and Rego alternate run by run.
func policySection(t *testing.T, s settings, cases []planCase) *Section {
	cat := embeddedCatalog(t)
	rules, twins := regoTwins(t, s.root)
	all := policies.All()
	ctx := context.Background()
	sec := &Section{
		ID:    "policy",
		Title: "2. Policy evaluation: Go policies against the same rules in Rego (OPA)",
		About: fmt.Sprintf("Checks/s = resources × policies evaluated per second, on each plan's resource graph. "+
			"Go %d and Rego %d are the same %d rules (`policies/testdata/bench`, kept equal by `policies.TestBenchEnginesAgree`); "+
			"Rego includes turning the input into a Rego value. Go all = the %d policies of the four packs. "+
			"Each run is a loop of about 0.2 s; Go and Rego alternate run by run.", len(twins), len(twins), len(twins), len(all)),
	}
	var disagree []string
	for _, c := range cases {
		_, in, err := planAndCheck(s.root, c.file, cat)
		if err != nil {
			t.Fatal(err)
		}
		evalGo := func() error { _, err := policies.Evaluate(twins, in, nil); return err }
		evalRego := func() error { _, err := rules.Evaluate(ctx, in); return err }
		evalAll := func() error { _, err := policies.Evaluate(all, in, nil); return err }
		target := 200 * time.Millisecond
		nGo, nRego, nAll := iterationsFor(t, target, evalGo), iterationsFor(t, target, evalRego), iterationsFor(t, target, evalAll)
		res := float64(len(in.Resources))
		var goRate, regoRate, allRate []float64
		for range s.runs {
			goRate = append(goRate, res*float64(len(twins)*nGo)/timeLoop(t, nGo, evalGo).Seconds())
			regoRate = append(regoRate, res*float64(len(twins)*nRego)/timeLoop(t, nRego, evalRego).Seconds())
			allRate = append(allRate, res*float64(len(all)*nAll)/timeLoop(t, nAll, evalAll).Seconds())
		}
		goV, err := policies.Evaluate(twins, in, nil)
		if err != nil {
			t.Fatal(err)
		}
		regoV, err := rules.Evaluate(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(goV.Violations) != len(regoV) {
			disagree = append(disagree, fmt.Sprintf("%s (Go %d, Rego %d)", c.name, len(goV.Violations), len(regoV)))
		}
		sec.Add(c.name,
			Int("resources", len(in.Resources)),
			Figure(fmt.Sprintf("Go %d checks/s", len(twins)), "", goRate),
			Figure(fmt.Sprintf("Rego %d checks/s", len(twins)), "", regoRate),
			ratioCell(t, "Go ÷ Rego", goRate, regoRate),
			Figure(fmt.Sprintf("Go all %d checks/s", len(all)), "", allRate),
			Figure("Go all, ms per plan", "ms", scale(invert(allRate), res*float64(len(all))*1000)),
			Int("violations (Go = Rego)", len(goV.Violations)),
		)
		t.Logf("policy: %s done", c.name)
	}
	if len(disagree) > 0 {
		sec.Notes = append(sec.Notes, "Go and Rego found different numbers of violations on: "+strings.Join(disagree, ", ")+".")
	} else {
		sec.Notes = append(sec.Notes, "Go and Rego found the same number of violations on every graph.")
	}
	return sec
}

// invert returns 1/x for each sample.
func invert(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		if x != 0 {
			out[i] = 1 / x
		}
	}
	return out
}
