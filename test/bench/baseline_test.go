package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// baselineTree extracts commit (git archive) into the scratch directory
// and returns the tree and the commit's short id. The work tree and the
// repository are not touched.
func baselineTree(t *testing.T, s settings, commit string) (string, string) {
	t.Helper()
	id, err := exec.Command("git", "-C", s.root, "rev-parse", "--short=10", commit+"^{commit}").Output()
	if err != nil {
		t.Fatalf("BENCH_BASELINE=%s: not a commit: %v", commit, err)
	}
	dir := filepath.Join(s.tmp, "baseline")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	archive := exec.Command("git", "-C", s.root, "archive", "--format=tar", commit)
	extract := exec.Command("tar", "-x", "-C", dir)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	extract.Stdin = pipe
	if err := extract.Start(); err != nil {
		t.Fatalf("tar: %v", err)
	}
	var stderr strings.Builder
	archive.Stderr = &stderr
	if err := archive.Run(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", commit, err, stderr.String())
	}
	if err := extract.Wait(); err != nil {
		t.Fatalf("tar: %v", err)
	}
	return dir, strings.TrimSpace(string(id))
}

// buildPlinthIn builds cmd/plinth of a source tree with the shared build
// cache into the scratch directory as name.
func buildPlinthIn(t *testing.T, s settings, tree, name string) string {
	t.Helper()
	bin := filepath.Join(s.tmp, name)
	cmd := Command{Dir: tree, Env: []string{"GOFLAGS=-buildvcs=false"}, Args: []string{goBinary(), "build", "-o", bin, "./cmd/plinth"}}
	if _, err := cmd.Run(context.Background()); err != nil {
		t.Fatalf("build plinth in %s: %v", tree, err)
	}
	return bin
}

// comparisonCells are before, after and the paired ratio after ÷ before
// of wall, CPU and peak RSS.
func comparisonCells(t *testing.T, before, after []Proc) []Cell {
	pick := func(ps []Proc, f func(Proc) float64) []float64 {
		out := make([]float64, len(ps))
		for i, p := range ps {
			out[i] = f(p)
		}
		return out
	}
	wall := func(p Proc) float64 { return p.Wall }
	cpu := func(p Proc) float64 { return p.CPU() }
	rss := func(p Proc) float64 { return p.MaxRSSMiB }
	return []Cell{
		Figure("wall before", "s", pick(before, wall)),
		Figure("wall after", "s", pick(after, wall)),
		ratioCell(t, "wall after ÷ before", pick(after, wall), pick(before, wall)),
		Figure("CPU before", "s", pick(before, cpu)),
		Figure("CPU after", "s", pick(after, cpu)),
		ratioCell(t, "CPU after ÷ before", pick(after, cpu), pick(before, cpu)),
		Figure("peak RSS before", "MiB", pick(before, rss)),
		Figure("peak RSS after", "MiB", pick(after, rss)),
	}
}

// beforeAfterSection compares the work tree with a baseline commit: the
// plinth process (start-up, and plans of a small and the largest
// blueprint), run alternately, and the builds measured by buildSection.
func beforeAfterSection(t *testing.T, s settings, tree, id string, cases []planCase, now, before []*buildTarget) *Section {
	ctx := context.Background()
	sec := &Section{
		ID:    "before-after",
		Title: fmt.Sprintf("6. Before and after the fix: `%s` (before) against `%s` (after)", id, gitCommit(s.root)),
		About: "Processes run alternately, before then after, and the ratio is taken pair by pair. Builds: as in table 5, the two commits alternating; cold builds are one run each, so their ratio is one pair.",
	}
	binAfter := buildPlinth(t, s)
	binBefore := buildPlinthIn(t, s, tree, "plinth-before")
	type procCase struct {
		name string
		args []string
	}
	pcs := []procCase{{"`plinth version` (start-up)", []string{"version"}}}
	for _, c := range cases {
		if c.name == "local" || c.name == "production" || (c.size != nil && *c.size == ScalingSizes[len(ScalingSizes)-1]) {
			pcs = append(pcs, procCase{"`plinth plan` " + c.name, []string{"plan", c.file}})
		}
	}
	for _, pc := range pcs {
		var b, a []Proc
		for run := -1; run < s.runs; run++ {
			pb, err := Command{Dir: s.root, Args: append([]string{binBefore}, pc.args...), OKCodes: []int{1}, Launcher: s.launcher}.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pa, err := Command{Dir: s.root, Args: append([]string{binAfter}, pc.args...), OKCodes: []int{1}, Launcher: s.launcher}.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if run >= 0 {
				b, a = append(b, pb), append(a, pa)
			}
		}
		sec.Add(pc.name, comparisonCells(t, b, a)...)
	}
	for i := range now {
		if i >= len(before) {
			break
		}
		sec.Add("`go build "+now[i].name+"`, cold", comparisonCells(t, []Proc{before[i].cold}, []Proc{now[i].cold})...)
		sec.Add("`go build "+now[i].name+"`, warm", comparisonCells(t, before[i].warm, now[i].warm)...)
	}
	for i := range now {
		if i < len(before) {
			sec.Notes = append(sec.Notes, fmt.Sprintf("%s: binary %s MiB before, %s MiB after; packages built: %d before, %d after.",
				now[i].name, num(float64(before[i].size)/(1<<20)), num(float64(now[i].size)/(1<<20)),
				countDeps(tree, before[i].pkg), countDeps(s.root, now[i].pkg)))
		}
	}
	return sec
}

// countDeps is how many packages go list -deps names for pkg in tree.
func countDeps(tree, pkg string) int {
	cmd := exec.Command(goBinary(), "list", "-deps", pkg)
	cmd.Dir = tree
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	out, err := cmd.Output()
	if err != nil {
		return 0
	}
	return len(strings.Fields(string(out)))
}
