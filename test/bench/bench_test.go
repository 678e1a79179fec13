package bench

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/blueprints/catalog"
)

// TestBlueprintValid: every generated size loads, defaults and validates
// against the embedded catalogue, with the counts asked for.
func TestBlueprintValid(t *testing.T) {
	cat, err := catalog.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	sizes := append([]Size{{Pools: 3, Buckets: 2, Repositories: 7}}, ScalingSizes...)
	for _, s := range sizes {
		t.Run(s.Name(), func(t *testing.T) {
			data, err := Blueprint("gen-"+s.Name(), s)
			if err != nil {
				t.Fatal(err)
			}
			env, err := blueprints.LoadBytes(s.Name()+".yaml", data, blueprints.LoadOptions{})
			if err != nil {
				t.Fatalf("load: %v\n%s", err, data)
			}
			env.Defaults(cat)
			if err := env.Validate(cat); err != nil {
				t.Fatalf("validate: %v", err)
			}
			if got := len(env.Spec.GPUNodePools); got != s.Pools {
				t.Errorf("%d pools, want %d", got, s.Pools)
			}
			if got := len(env.Spec.Storage.Buckets); got != s.Buckets {
				t.Errorf("%d buckets, want %d", got, s.Buckets)
			}
			if got := len(env.Spec.Registry.Repositories); got != s.Repositories {
				t.Errorf("%d repositories, want %d", got, s.Repositories)
			}
			if env.Spec.Storage.Buckets[0].Purpose != blueprints.PurposeTracking {
				t.Errorf("first bucket serves %q, want tracking", env.Spec.Storage.Buckets[0].Purpose)
			}
		})
	}
}

func TestBlueprintRefusesEmptySizes(t *testing.T) {
	for _, s := range []Size{{}, {Pools: 1, Buckets: 1}, {Pools: 0, Buckets: 1, Repositories: 1}} {
		if _, err := Blueprint("x", s); err == nil || !strings.Contains(err.Error(), "at least 1") {
			t.Errorf("%+v: got %v, want an error saying at least 1", s, err)
		}
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		in                 []float64
		n                  int
		median, minV, maxV float64
	}{
		{nil, 0, 0, 0, 0},
		{[]float64{5}, 1, 5, 5, 5},
		{[]float64{3, 1, 2}, 3, 2, 1, 3},
		{[]float64{4, 1, 3, 2}, 4, 2.5, 1, 4},
		{[]float64{10, 10, 1000, 10, 9}, 5, 10, 9, 1000},
	}
	for _, tt := range tests {
		s := Summarize(tt.in)
		if s.N != tt.n || s.Median != tt.median || s.Min != tt.minV || s.Max != tt.maxV {
			t.Errorf("Summarize(%v) = %+v, want n=%d median=%v min=%v max=%v", tt.in, s, tt.n, tt.median, tt.minV, tt.maxV)
		}
	}
	in := []float64{3, 1, 2}
	Summarize(in)
	if in[0] != 3 || in[1] != 1 {
		t.Errorf("Summarize reordered its input: %v", in)
	}
}

func TestPairRatios(t *testing.T) {
	got, err := PairRatios([]float64{2, 9, 4}, []float64{1, 3, 8})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{2, 3, 0.5}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("PairRatios = %v, want %v", got, want)
		}
	}
	// The median of the pairwise ratios, not the ratio of medians: a slow
	// spell that hits one pair hits both sides of it.
	if m := Summarize(got).Median; m != 2 {
		t.Errorf("median ratio %v, want 2", m)
	}
	for _, tt := range []struct{ a, b []float64 }{
		{[]float64{1}, []float64{1, 2}},
		{nil, nil},
		{[]float64{1, 2}, []float64{1, 0}},
	} {
		if _, err := PairRatios(tt.a, tt.b); err == nil {
			t.Errorf("PairRatios(%v, %v): no error", tt.a, tt.b)
		}
	}
}

func TestLinearFit(t *testing.T) {
	f, err := LinearFit([]float64{50, 200, 1000}, []float64{0.1 + 50*0.002, 0.1 + 200*0.002, 0.1 + 1000*0.002})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(f.Slope-0.002) > 1e-12 || math.Abs(f.Intercept-0.1) > 1e-9 || math.Abs(f.R2-1) > 1e-9 {
		t.Errorf("exact line: got %+v", f)
	}
	// A quadratic is not a line: R² drops below 1.
	x := []float64{1, 2, 3, 4, 5, 6}
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = v * v * v
	}
	if f, _ := LinearFit(x, y); f.R2 > 0.95 {
		t.Errorf("cubic fits a line with R² %v", f.R2)
	}
	if _, err := LinearFit([]float64{1, 1}, []float64{1, 2}); err == nil {
		t.Error("equal x: no error")
	}
	if _, err := LinearFit([]float64{1}, []float64{1}); err == nil {
		t.Error("one point: no error")
	}
}

func TestCellString(t *testing.T) {
	tests := []struct {
		cell Cell
		want string
	}{
		{Figure("wall", "s", []float64{1.234, 1.5, 1.1}), "1.23 (1.1–1.5) s"},
		{Figure("speed", "×", []float64{61.7, 58.2, 64.9}), "×61.7 (58.2–64.9)"},
		{Figure("rss", "MiB", []float64{3456.7}), "3460 MiB"},
		{Figure("checks/s", "", []float64{1234567, 1300000}), "1.27M (1.23M–1.3M)"},
		{Figure("allocs", "", []float64{123456}), "123,000"},
		{Figure("wall", "ms", nil), "–"},
		{Int("resources", 1151), "1151"},
		{Text("note", "skipped"), "skipped"},
	}
	for _, tt := range tests {
		if got := tt.cell.String(); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.cell, got, tt.want)
		}
	}
}

// TestReportWrite: the Markdown table has a column per cell name (in the
// order first seen, gaps left empty) and the JSON reads back.
func TestReportWrite(t *testing.T) {
	r := &Report{Date: "2026-11-27T10:00:00Z", Commit: "abc1234", Runs: 3, Duration: 75, Complete: true,
		Machine: Machine{CPU: "Test CPU", Cores: 2, MemoryGiB: 24, OS: "linux/amd64", Go: "go1.26.8"}}
	s := &Section{ID: "plan", Title: "Plan", About: "What a plan costs.", Notes: []string{"grows linearly"}}
	s.Add("small", Int("resources", 50), Figure("wall", "s", []float64{1, 2, 3}))
	s.Add("large", Int("resources", 1000), Figure("wall", "s", []float64{4, 5, 6}), Figure("vs small", "×", []float64{4, 2.5, 2}))
	r.Sections = append(r.Sections, s)
	dir := t.TempDir()
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "bench-results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"commit `abc1234` on Test CPU, 2 cores, 24 GiB",
		"| case | resources | wall | vs small |",
		"| small | 50 | 2 (1–3) s |  |",
		"| large | 1000 | 5 (4–6) s | ×2.5 (2–4) |",
		"- grows linearly",
		"took 75 s",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "bench-results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if got := back.Sections[0].Rows[1].Cells[1].Summary.Median; got != 5 {
		t.Errorf("JSON median %v, want 5", got)
	}
}

func TestCommandRun(t *testing.T) {
	sh := "/bin/sh"
	if _, err := os.Stat(sh); err != nil {
		t.Skip("no /bin/sh")
	}
	p, err := Command{Args: []string{sh, "-c", "exit 0"}}.Run(t.Context())
	if err != nil || p.Wall <= 0 {
		t.Fatalf("got %+v, %v", p, err)
	}
	if _, err := (Command{Args: []string{sh, "-c", "echo boom; exit 3"}}).Run(t.Context()); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("exit 3: got %v, want an error showing the output", err)
	}
	if p, err := (Command{Args: []string{sh, "-c", "exit 1"}, OKCodes: []int{1}}).Run(t.Context()); err != nil || p.ExitCode != 1 {
		t.Errorf("exit 1 allowed: got %+v, %v", p, err)
	}
}

// TestLauncher: through benchrun, a small command's peak RSS is its own
// (a few MiB), not this test binary's, and its exit code comes through.
func TestLauncher(t *testing.T) {
	sh := "/bin/sh"
	if _, err := os.Stat(sh); err != nil {
		t.Skip("no /bin/sh")
	}
	launcher := buildLauncher(t, t.TempDir())
	p, err := Command{Args: []string{sh, "-c", "exit 1"}, OKCodes: []int{1}, Launcher: launcher}.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if p.ExitCode != 1 || p.Wall <= 0 {
		t.Errorf("got %+v, want exit 1 and a wall time", p)
	}
	if p.MaxRSSMiB <= 0 || p.MaxRSSMiB > 32 {
		t.Errorf("peak RSS of sh: %.1f MiB, want a few MiB", p.MaxRSSMiB)
	}
	if _, err := (Command{Args: []string{sh, "-c", "echo boom; exit 3"}, Launcher: launcher}).Run(t.Context()); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("exit 3: got %v, want an error showing the output", err)
	}
}

// TestProgramsSkipUnusedKubernetesGroups: neither binary imports the
// Kubernetes SDK's yaml package (which the SDK's helm/v3 package imports):
// it pulls in every API group of the SDK, 66 packages, and made most of a
// cold build (see docs/performance.md).
func TestProgramsSkipUnusedKubernetesGroups(t *testing.T) {
	out, err := exec.Command(goBinary(), "list", "-deps", "../../cmd/environment", "../../cmd/plinth").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range []string{
		"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/yaml",
		"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3",
	} {
		if slices.Contains(strings.Fields(string(out)), pkg) {
			t.Errorf("cmd/environment or cmd/plinth imports %s: every Kubernetes API group comes with it", pkg)
		}
	}
}
