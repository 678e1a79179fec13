package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files instead of comparing")

// TestPlanGolden compares `plinth plan --output json` of every shipped
// blueprint with testdata/plan/<name>.json (run with -update to rewrite).
// The JSON is ordered by URN, so it is stable from run to run.
func TestPlanGolden(t *testing.T) {
	for _, name := range []string{"local", "gpu-training", "production"} {
		t.Run(name, func(t *testing.T) {
			r := plinth(t, "plan", name, "-o", "json")
			r.wantExit(t, exitOK)
			golden := filepath.Join("testdata", "plan", name+".json")
			if *updateGolden {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(r.stdout), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if r.stdout != string(want) {
				t.Errorf("plan of %s differs from %s; if the change is intended, run go test ./cmd/plinth -run TestPlanGolden -update and review the diff", name, golden)
			}
			// The same run twice gives the same bytes.
			if again := plinth(t, "plan", name, "-o", "json"); again.stdout != r.stdout {
				t.Errorf("plan of %s is not stable between runs", name)
			}
		})
	}
}

func TestPlanJSONMasksSecretsAndMarksUnknowns(t *testing.T) {
	r := plinth(t, "plan", "production", "-o", "json")
	r.wantExit(t, exitOK)
	var p struct {
		ResourceCount int            `json:"resourceCount"`
		CountsByType  map[string]int `json:"countsByType"`
		Resources     []struct {
			Type   string         `json:"type"`
			Name   string         `json:"name"`
			Parent string         `json:"parent"`
			Inputs map[string]any `json:"inputs"`
		} `json:"resources"`
	}
	r.decodeJSON(t, &p)
	if p.ResourceCount != len(p.Resources) || p.ResourceCount < 80 {
		t.Fatalf("resourceCount %d, %d resources", p.ResourceCount, len(p.Resources))
	}
	var sawSecret, sawUnknown bool
	for _, res := range p.Resources {
		if res.Type == "aws:rds/instance:Instance" {
			sawSecret = res.Inputs["password"] == "(secret)"
		}
		if res.Type == "aws:ec2/subnet:Subnet" {
			sawUnknown = res.Inputs["vpcId"] == "(known after apply)"
		}
		if res.Parent == "" && !strings.HasPrefix(res.Type, "plinth:") {
			t.Errorf("%s %s has no parent component", res.Type, res.Name)
		}
	}
	if !sawSecret || !sawUnknown {
		t.Errorf("secret masked %v, unknown vpc id marked %v", sawSecret, sawUnknown)
	}
	if bytes.Contains([]byte(r.stdout), []byte("generated at apply")) {
		t.Error("a generated secret's placeholder leaked into the plan")
	}
	if p.CountsByType["plinth:compute:GpuNodePool"] != 2 {
		t.Errorf("counts = %v", p.CountsByType)
	}
}

func TestPlanStackAndErrors(t *testing.T) {
	// --stack reads stacks/Pulumi.<name>.yaml from the project root.
	t.Chdir("../..")
	r := plinth(t, "plan", "--stack", "production")
	r.wantExit(t, exitOK)
	if !strings.Contains(r.stdout, "plan: ml-prod (aws, us-west-2, prod) from blueprints/production.yaml") {
		t.Errorf("stack plan header:\n%v", r)
	}
	var out struct {
		Stack string `json:"stack"`
	}
	j := plinth(t, "plan", "--stack", "gpu-training", "-o", "json")
	j.wantExit(t, exitOK)
	j.decodeJSON(t, &out)
	if out.Stack != "gpu-training" {
		t.Errorf("stack = %q", out.Stack)
	}

	plinth(t, "plan").wantExit(t, exitUsage)
	plinth(t, "plan", "local", "--stack", "local").wantExit(t, exitUsage)
	plinth(t, "plan", "a", "b").wantExit(t, exitUsage)
	miss := plinth(t, "plan", "--stack", "nope")
	miss.wantExit(t, exitFailure)
	if !strings.Contains(miss.stderr, "no stack config") {
		t.Errorf("missing stack:\n%v", miss)
	}
	bad := plinth(t, "plan", "blueprints/testdata/invalid/region-mismatch.yaml")
	bad.wantExit(t, exitFailure)
	if !strings.Contains(bad.stderr, "region-mismatch.yaml:13:23: spec.gpuNodePools[0].instanceTypes[0]") {
		t.Errorf("invalid blueprint errors:\n%v", bad)
	}
}

func TestPlanText(t *testing.T) {
	r := plinth(t, "plan", "gpu-training")
	r.wantExit(t, exitOK)
	for _, want := range []string{
		"pinned versions",
		"add-on vpc-cni ",
		"gpu-training-train  plinth:compute:GpuNodePool",
		"httpTokens=required",
		"capacityType=SPOT amiType=AL2023_x86_64_NVIDIA",
		"counts by type",
		"aws:ec2/subnet:Subnet",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan text lacks %q", want)
		}
	}
	var v map[string]any
	if json.Unmarshal([]byte(r.stdout), &v) == nil {
		t.Error("text output is JSON")
	}
}
