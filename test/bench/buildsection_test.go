package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// editedFile is the source file a warm build sees edited: every package
// that imports stacks (both binaries do) is compiled again, then linked.
const editedFile = "stacks/program.go"

// buildTarget is a binary whose build is measured, in one source tree.
type buildTarget struct {
	name, pkg string
	tree      string // the source tree: the work tree, or the baseline's
	cache     string // its own build cache, empty before the cold build
	cold      Proc
	warm      []Proc
	size      int64 // bytes of the binary
}

// buildSection measures `go build` of cmd/environment and cmd/plinth:
// cold (an empty build cache of its own, once per binary: it takes
// minutes) and warm (the same cache, after an edit to one source file,
// made through -overlay so the work tree is not touched). The shared build
// cache is never used nor cleared. The module cache is warm: downloads are
// not measured. With a baseline tree, the same builds of the baseline run
// alternately with the current ones; they are returned for the
// before/after table.
func buildSection(t *testing.T, s settings, baseline string) (*Section, []*buildTarget, []*buildTarget) {
	ctx := context.Background()
	var current, before []*buildTarget
	for _, pkg := range []string{"cmd/environment", "cmd/plinth"} {
		current = append(current, &buildTarget{name: pkg, pkg: "./" + pkg, tree: s.root})
		if baseline != "" {
			before = append(before, &buildTarget{name: pkg, pkg: "./" + pkg, tree: baseline})
		}
	}
	sec := &Section{
		ID:    "build",
		Title: "5. Builds: `go build` of the Pulumi program and the CLI",
		About: fmt.Sprintf("Cold: an empty `GOCACHE` of its own (1 run each: minutes). Warm: the same cache after one source file (%s) changed, %d runs, alternating with the baseline's when there is one. "+
			"CPU = user+sys of `go build` and every compiler and linker it ran; peak RSS = the largest single process. Module downloads are not included (the module cache is warm).", editedFile, s.buildRuns),
	}
	// One binary at a time (with its baseline twin), each with a build
	// cache of its own, removed before the next: four cold caches at once
	// filled the disk.
	for i := range current {
		group := []*buildTarget{current[i]}
		if baseline != "" {
			group = append(group, before[i])
		}
		for j, tg := range group {
			dir, err := os.MkdirTemp("", "plinth-bench-gocache-")
			if err != nil {
				t.Fatal(err)
			}
			tg.cache = dir
			t.Cleanup(func() { os.RemoveAll(dir) })
			if tg.cold, err = goBuild(ctx, s, tg, "", 2*i+j); err != nil {
				t.Fatal(err)
			}
			t.Logf("build: cold %s (%s): %.0f s wall, %.0f CPU-s, %.0f MiB", tg.name, tg.tree, tg.cold.Wall, tg.cold.CPU(), tg.cold.MaxRSSMiB)
		}
		for run := range s.buildRuns {
			for j, tg := range group {
				overlay, err := editOverlay(s, tg.tree, fmt.Sprintf("%d-%d-%d", i, j, run))
				if err != nil {
					t.Fatal(err)
				}
				p, err := goBuild(ctx, s, tg, overlay, 2*i+j)
				if err != nil {
					t.Fatal(err)
				}
				tg.warm = append(tg.warm, p)
			}
		}
		for _, tg := range group {
			if err := os.RemoveAll(tg.cache); err != nil {
				t.Logf("build: remove %s: %v", tg.cache, err)
			}
		}
	}
	for _, tg := range current {
		sec.Add(tg.name+", cold", buildCells(tg, true)...)
		sec.Add(tg.name+", warm (one file edited)", buildCells(tg, false)...)
	}
	return sec, current, before
}

// buildCells are a target's figures, cold or warm.
func buildCells(tg *buildTarget, cold bool) []Cell {
	ps := tg.warm
	if cold {
		ps = []Proc{tg.cold}
	}
	var wall, cpu, rss []float64
	for _, p := range ps {
		wall, cpu, rss = append(wall, p.Wall), append(cpu, p.CPU()), append(rss, p.MaxRSSMiB)
	}
	cells := []Cell{Figure("wall", "s", wall), Figure("CPU", "s", cpu), Figure("peak RSS", "MiB", rss)}
	if cold {
		cells = append(cells, Figure("binary", "MiB", []float64{float64(tg.size) / (1 << 20)}))
	}
	return cells
}

// goBuild runs go build of the target in its tree with its own build
// cache, and an -overlay when given.
func goBuild(ctx context.Context, s settings, tg *buildTarget, overlay string, i int) (Proc, error) {
	args := []string{goBinary(), "build"}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	out := filepath.Join(s.tmp, fmt.Sprintf("build-%d-%s", i, filepath.Base(tg.pkg)))
	args = append(args, "-o", out, tg.pkg)
	p, err := Command{Dir: tg.tree, Env: []string{"GOCACHE=" + tg.cache, "GOFLAGS=-buildvcs=false"}, Args: args, Launcher: s.launcher}.Run(ctx)
	if err == nil {
		if info, serr := os.Stat(out); serr == nil {
			tg.size = info.Size()
		}
	}
	return p, err
}

// editOverlay writes an -overlay file replacing editedFile of tree with
// itself plus a package-level variable holding nonce: its package compiles
// again and the binary is linked again.
func editOverlay(s settings, tree, nonce string) (string, error) {
	src := filepath.Join(tree, editedFile)
	data, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("overlay: %w", err)
	}
	edited := filepath.Join(s.tmp, "overlay-"+nonce+".go")
	// A new package-level value, not a comment: a comment-only edit
	// compiles to the same object, and go build then reuses the cached
	// link, which is not what an edit costs.
	edit := fmt.Sprintf("\n// warmBuildEdit is added by the benchmark's warm build.\nvar warmBuildEdit = %q\n", nonce)
	if err := os.WriteFile(edited, append(data, []byte(edit)...), 0o644); err != nil {
		return "", fmt.Errorf("overlay: %w", err)
	}
	spec, err := json.Marshal(map[string]map[string]string{"Replace": {src: edited}})
	if err != nil {
		return "", err
	}
	file := filepath.Join(s.tmp, "overlay-"+nonce+".json")
	return file, os.WriteFile(file, spec, 0o644)
}
