package bench

import (
	"context"
	"fmt"
	"testing"
)

// planSection measures `plinth plan FILE` per shipped and generated
// blueprint: as a process (what a user waits for: start-up, plan, policy
// check, printing) and in this process (the plan and the policy check
// alone, with allocations). Runs go round the cases in turn, so a slow
// spell of the machine spreads over all of them.
func planSection(t *testing.T, s settings, cases []planCase) *Section {
	bin := buildPlinth(t, s)
	cat := embeddedCatalog(t)
	ctx := context.Background()
	n := len(cases)
	procWall, procCPU, procRSS := make([][]float64, n), make([][]float64, n), make([][]float64, n)
	inWall, inAllocs, inBytes := make([][]float64, n), make([][]float64, n), make([][]float64, n)
	resources := make([]int, n)
	for run := -1; run < s.runs; run++ { // run -1 is the warm-up
		for i, c := range cases {
			p, err := Command{Dir: s.root, Args: []string{bin, "plan", c.file}, OKCodes: []int{1}, Launcher: s.launcher}.Run(ctx)
			if err != nil {
				t.Fatalf("plinth plan %s: %v", c.name, err)
			}
			a, res, err := measurePlan(s.root, c.file, cat)
			if err != nil {
				t.Fatal(err)
			}
			resources[i] = res
			if run < 0 {
				continue
			}
			procWall[i] = append(procWall[i], p.Wall)
			procCPU[i] = append(procCPU[i], p.CPU())
			procRSS[i] = append(procRSS[i], p.MaxRSSMiB)
			inWall[i] = append(inWall[i], a.wall.Seconds()*1000)
			inAllocs[i] = append(inAllocs[i], float64(a.allocs))
			inBytes[i] = append(inBytes[i], float64(a.bytes)/(1<<20))
		}
		t.Logf("plan: run %d of %d done", run+1, s.runs)
	}
	sec := &Section{
		ID:    "plan",
		Title: "1. `plinth plan`: shipped blueprints and generated ones of growing size",
		About: "Process: `plinth plan FILE` as a user runs it (start-up, offline plan under Pulumi mocks, every policy pack, printing): wall, CPU (user+sys) and peak RSS from the OS. " +
			"In-process: the same plan and policy check called from Go (`stacks.PlanOffline` + `policies.Evaluate`), wall and heap allocations (runtime.MemStats). " +
			"Generated blueprints (`test/bench/generate.go`): prod-class, us-east-1, pN GPU pools, bN buckets, rN repositories.",
	}
	var xs, wallMed, allocMed []float64
	for i, c := range cases {
		perRes := make([]float64, len(inWall[i]))
		for j, w := range inWall[i] {
			perRes[j] = w * 1000 / float64(resources[i])
		}
		sec.Add(c.name,
			Int("resources", resources[i]),
			Figure("process wall", "s", procWall[i]),
			Figure("process CPU", "s", procCPU[i]),
			Figure("peak RSS", "MiB", procRSS[i]),
			Figure("in-process wall", "ms", inWall[i]),
			Figure("µs/resource", "", perRes),
			Figure("allocs", "", inAllocs[i]),
			Figure("allocated", "MiB", inBytes[i]),
		)
		if c.size != nil {
			xs = append(xs, float64(resources[i]))
			wallMed = append(wallMed, Summarize(inWall[i]).Median)
			allocMed = append(allocMed, Summarize(inAllocs[i]).Median)
		}
	}
	sec.Notes = append(sec.Notes,
		"Generated blueprints, "+fitNote("in-process wall (median)", "ms", xs, wallMed),
		"Generated blueprints, "+fitNote("allocations (median)", "allocs", xs, allocMed),
	)
	if len(cases) > 0 {
		sec.Notes = append(sec.Notes, fmt.Sprintf("Process start-up and printing: `plinth plan` of %s takes %s s as a process against %s ms in-process.",
			cases[0].name, num(Summarize(procWall[0]).Median), num(Summarize(inWall[0]).Median)))
	}
	return sec
}
