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

// buildTarget is a binary whose build is measured.
type buildTarget struct {
	name, pkg string
	cache     string // its own build cache, empty before the cold build
}

// buildSection measures `go build` of cmd/environment and cmd/plinth:
// cold (an empty build cache of its own, once per binary: it takes
// minutes) and warm (the same cache, after an edit to one source file,
// made through -overlay so the work tree is not touched). The shared build
// cache is never used nor cleared. The module cache is warm: downloads are
// not measured.
func buildSection(t *testing.T, s settings) *Section {
	ctx := context.Background()
	targets := []*buildTarget{{name: "cmd/environment", pkg: "./cmd/environment"}, {name: "cmd/plinth", pkg: "./cmd/plinth"}}
	sec := &Section{
		ID:    "build",
		Title: "5. Builds: `go build` of the Pulumi program and the CLI",
		About: fmt.Sprintf("Cold: an empty `GOCACHE` of its own (1 run each: minutes). Warm: the same cache after one source file (%s) changed, %d runs, the two binaries alternating. "+
			"CPU = user+sys of `go build` and every compiler and linker it ran; peak RSS = the largest single process. Module downloads are not included (the module cache is warm).", editedFile, s.buildRuns),
	}
	cold := map[string]Proc{}
	for _, tg := range targets {
		dir, err := os.MkdirTemp("", "plinth-bench-gocache-")
		if err != nil {
			t.Fatal(err)
		}
		tg.cache = dir
		t.Cleanup(func() { os.RemoveAll(dir) })
		p, err := goBuild(ctx, s, tg, "")
		if err != nil {
			t.Fatal(err)
		}
		cold[tg.name] = p
		t.Logf("build: cold %s: %.0f s wall, %.0f CPU-s, %.0f MiB", tg.name, p.Wall, p.CPU(), p.MaxRSSMiB)
	}
	warm := map[string][]Proc{}
	for i := range s.buildRuns {
		for _, tg := range targets {
			overlay, err := editOverlay(s, fmt.Sprintf("%s-%d", filepath.Base(tg.pkg), i))
			if err != nil {
				t.Fatal(err)
			}
			p, err := goBuild(ctx, s, tg, overlay)
			if err != nil {
				t.Fatal(err)
			}
			warm[tg.name] = append(warm[tg.name], p)
		}
	}
	for _, tg := range targets {
		c := cold[tg.name]
		sec.Add(tg.name+", cold",
			Figure("wall", "s", []float64{c.Wall}),
			Figure("CPU", "s", []float64{c.CPU()}),
			Figure("peak RSS", "MiB", []float64{c.MaxRSSMiB}),
		)
		var wall, cpu, rss []float64
		for _, p := range warm[tg.name] {
			wall, cpu, rss = append(wall, p.Wall), append(cpu, p.CPU()), append(rss, p.MaxRSSMiB)
		}
		sec.Add(tg.name+", warm (one file edited)",
			Figure("wall", "s", wall),
			Figure("CPU", "s", cpu),
			Figure("peak RSS", "MiB", rss),
		)
	}
	return sec
}

// goBuild runs go build of the target into the scratch directory with its
// own build cache, and an -overlay when given.
func goBuild(ctx context.Context, s settings, tg *buildTarget, overlay string) (Proc, error) {
	args := []string{goBinary(), "build"}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	args = append(args, "-o", filepath.Join(s.tmp, "build-"+filepath.Base(tg.pkg)), tg.pkg)
	return Command{Dir: s.root, Env: []string{"GOCACHE=" + tg.cache}, Args: args, Launcher: s.launcher}.Run(ctx)
}

// editOverlay writes an -overlay file replacing editedFile with itself plus
// a comment naming nonce: new content, so its package and dependents
// compile again.
func editOverlay(s settings, nonce string) (string, error) {
	src := filepath.Join(s.root, editedFile)
	data, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("overlay: %w", err)
	}
	edited := filepath.Join(s.tmp, "overlay-"+nonce+".go")
	if err := os.WriteFile(edited, append(data, []byte("\n// edited for a warm build: "+nonce+"\n")...), 0o644); err != nil {
		return "", fmt.Errorf("overlay: %w", err)
	}
	spec, err := json.Marshal(map[string]map[string]string{"Replace": {src: edited}})
	if err != nil {
		return "", err
	}
	file := filepath.Join(s.tmp, "overlay-"+nonce+".json")
	return file, os.WriteFile(file, spec, 0o644)
}
