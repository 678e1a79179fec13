package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReport is `make bench`: it measures everything and writes
// bench-results.json and bench-results.md to $BENCH_OUT (default
// test/bench/out). It runs only with PLINTH_BENCH=1, so `go test ./...`
// and `make test` skip it.
//
// Settings (environment):
//
//	BENCH_RUNS=5          counted runs of each timed figure (after one warm-up)
//	BENCH_PARTS=plan,policy,engine,build   which tables to measure
//	BENCH_BUILD_RUNS=3    warm builds per binary (a cold build is run once)
//	BENCH_ENGINE_RUNS=3   runs of the engine tables (each starts two control planes)
//	BENCH_BASELINE=COMMIT also measure that commit (git archive) and compare: table 6
//	BENCH_OUT=DIR         where the results go
func TestReport(t *testing.T) {
	if os.Getenv("PLINTH_BENCH") != "1" {
		t.Skip("the benchmark report runs with `make bench` (PLINTH_BENCH=1)")
	}
	start := time.Now()
	s := settings{
		runs:      envInt(t, "BENCH_RUNS", 5),
		buildRuns: envInt(t, "BENCH_BUILD_RUNS", 3),
		parts:     map[string]bool{},
		root:      repoRoot(t),
		tmp:       t.TempDir(),
	}
	for _, p := range strings.Split(envOr("BENCH_PARTS", "plan,policy,engine,build"), ",") {
		s.parts[strings.TrimSpace(p)] = true
	}
	s.launcher = buildLauncher(t, s.tmp)
	out := envOr("BENCH_OUT", "out")
	r := &Report{
		Date:    start.UTC().Format(time.RFC3339),
		Commit:  gitCommit(s.root),
		Machine: DescribeMachine(),
		Runs:    s.runs,
	}
	t.Logf("bench: %d runs each; parts %v; machine %+v", s.runs, s.parts, r.Machine)
	defer writeReport(t, r, out, start)
	blueprintDir := filepath.Join(s.tmp, "blueprints")
	if err := os.MkdirAll(blueprintDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := planCases(t, blueprintDir)
	if s.parts["plan"] {
		r.Sections = append(r.Sections, planSection(t, s, cases))
	}
	if s.parts["policy"] {
		r.Sections = append(r.Sections, policySection(t, s, cases))
	}
	if s.parts["engine"] {
		r.Sections = append(r.Sections, engineSections(t, s)...)
	}
	// BENCH_BASELINE=COMMIT adds table 6: this tree against that commit.
	var baseline, baselineID string
	if commit := os.Getenv("BENCH_BASELINE"); commit != "" {
		baseline, baselineID = baselineTree(t, s, commit)
	}
	var now, before []*buildTarget
	if s.parts["build"] {
		var sec *Section
		sec, now, before = buildSection(t, s, baseline)
		r.Sections = append(r.Sections, sec)
	}
	if baseline != "" {
		r.Sections = append(r.Sections, beforeAfterSection(t, s, baseline, baselineID, cases, now, before))
	}
}

// writeReport writes the report, also when a part failed (t.Fatal runs
// the deferred call): the tables measured so far are kept, and the report
// says it is incomplete.
func writeReport(t *testing.T, r *Report, out string, start time.Time) {
	r.Duration = time.Since(start).Seconds()
	r.Complete = !t.Failed()
	if err := r.Write(out); err != nil {
		t.Error(err)
		return
	}
	abs, _ := filepath.Abs(out)
	t.Logf("bench: wrote %s/bench-results.{md,json} in %s (complete: %v)", abs, time.Since(start).Round(time.Second), r.Complete)
}

// settings are what TestReport was asked to do.
type settings struct {
	runs, buildRuns int
	parts           map[string]bool
	root            string // project root
	tmp             string // scratch directory
	launcher        string // the benchrun binary
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(t *testing.T, key string, def int) int {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive whole number", key, v)
	}
	return n
}

// gitCommit names the commit measured, with -dirty for local changes.
func gitCommit(root string) string {
	out, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty", "--abbrev=10").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// buildPlinth builds cmd/plinth into the scratch directory (with the
// normal, shared build cache) and returns its path.
func buildPlinth(t *testing.T, s settings) string {
	t.Helper()
	bin := filepath.Join(s.tmp, "plinth")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if _, err := (Command{Dir: s.root, Args: []string{goBinary(), "build", "-o", bin, "./cmd/plinth"}}).Run(context.Background()); err != nil {
		t.Fatalf("build plinth: %v", err)
	}
	return bin
}

// buildLauncher builds test/bench/cmd/benchrun into dir.
func buildLauncher(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "benchrun")
	if _, err := (Command{Args: []string{goBinary(), "build", "-o", bin, "./cmd/benchrun"}}).Run(context.Background()); err != nil {
		t.Fatalf("build benchrun: %v", err)
	}
	return bin
}

// goBinary is the go command running these tests.
func goBinary() string {
	if goroot := os.Getenv("GOROOT"); goroot != "" {
		if p := filepath.Join(goroot, "bin", "go"); fileExists(p) {
			return p
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// seconds turns durations into seconds.
func seconds(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

// scale multiplies every sample by f.
func scale(xs []float64, f float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x * f
	}
	return out
}

// ratioCell is the paired ratio a/b as a cell, or a dash with the reason.
func ratioCell(t *testing.T, name string, a, b []float64) Cell {
	t.Helper()
	r, err := PairRatios(a, b)
	if err != nil {
		t.Logf("%s: %v", name, err)
		return Text(name, "–")
	}
	return Figure(name, "×", r)
}

// fitNote describes how a figure grows with the resource count.
func fitNote(what, unit string, resources, medians []float64) string {
	f, err := LinearFit(resources, medians)
	if err != nil {
		return fmt.Sprintf("%s: no fit (%v)", what, err)
	}
	return fmt.Sprintf("%s against resources: %s %s per resource + %s %s fixed, R² = %.3f (1 = a straight line).",
		what, num(f.Slope), unit, num(f.Intercept), unit, f.R2)
}
