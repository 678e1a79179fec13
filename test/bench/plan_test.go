package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/blueprints/catalog"
	"github.com/plinth-dev/plinth/policies"
	"github.com/plinth-dev/plinth/stacks"
)

// repoRoot is the project root (where Pulumi.yaml is), two levels up.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "Pulumi.yaml")); err != nil {
		tb.Fatalf("project root: %v", err)
	}
	return root
}

// planCase is a blueprint to plan: a shipped one or a generated one.
type planCase struct {
	name string
	file string // absolute path
	size *Size  // nil for a shipped blueprint
}

// planCases writes the generated blueprints under dir and returns the
// shipped ones then the generated ones.
func planCases(tb testing.TB, dir string) []planCase {
	tb.Helper()
	root := repoRoot(tb)
	var cases []planCase
	for _, name := range []string{"local", "gpu-training", "production"} {
		cases = append(cases, planCase{name: name, file: filepath.Join(root, "blueprints", name+".yaml")})
	}
	for _, s := range ScalingSizes {
		data, err := Blueprint("gen-"+s.Name(), s)
		if err != nil {
			tb.Fatal(err)
		}
		file := filepath.Join(dir, s.Name()+".yaml")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			tb.Fatal(err)
		}
		cases = append(cases, planCase{name: s.Name(), file: file, size: &s})
	}
	return cases
}

var (
	catOnce sync.Once
	cat     *catalog.Catalog
	catErr  error
)

func embeddedCatalog(tb testing.TB) *catalog.Catalog {
	tb.Helper()
	catOnce.Do(func() { cat, catErr = catalog.Embedded() })
	if catErr != nil {
		tb.Fatal(catErr)
	}
	return cat
}

// planAndCheck does what `plinth plan FILE` does before printing: the
// offline plan under Pulumi mocks, then every policy pack on its graph.
func planAndCheck(root, file string, cat *catalog.Catalog) (*stacks.OfflinePlan, *policies.Input, error) {
	cfg := stacks.BlueprintConfig{Stack: "plan", RootDirectory: root, Blueprint: file}
	p, err := stacks.PlanOffline(cfg, map[string]string{stacks.ConfigBlueprint: file}, nil, cat)
	if err != nil {
		return nil, nil, fmt.Errorf("plan %s: %w", file, err)
	}
	in := stacks.PolicyInput(p, "plan")
	if _, err := policies.Evaluate(policies.All(), in, nil); err != nil {
		return nil, nil, fmt.Errorf("policies on %s: %w", file, err)
	}
	return p, in, nil
}

// allocRun is one in-process plan: elapsed time and what it allocated.
type allocRun struct {
	wall   time.Duration
	allocs uint64
	bytes  uint64
}

// measurePlan plans file once in this process and reports time and
// allocations (runtime.MemStats before and after; the process must not be
// doing other work).
func measurePlan(root, file string, cat *catalog.Catalog) (allocRun, int, error) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	p, _, err := planAndCheck(root, file, cat)
	wall := time.Since(start)
	runtime.ReadMemStats(&after)
	if err != nil {
		return allocRun{}, 0, err
	}
	return allocRun{wall: wall, allocs: after.Mallocs - before.Mallocs, bytes: after.TotalAlloc - before.TotalAlloc}, len(p.Graph.Resources), nil
}

// BenchmarkPlan is `plinth plan` (offline plan and policy check) per
// shipped and generated blueprint, for profiling:
//
//	go test ./test/bench -run '^$' -bench Plan -benchmem -cpuprofile cpu.out
func BenchmarkPlan(b *testing.B) {
	root := repoRoot(b)
	cat := embeddedCatalog(b)
	for _, c := range planCases(b, b.TempDir()) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				p, _, err := planAndCheck(root, c.file, cat)
				if err != nil {
					b.Fatal(err)
				}
				n = len(p.Graph.Resources)
			}
			b.ReportMetric(float64(n), "resources")
		})
	}
}
