package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/blueprints"
)

// The shipped blueprints pass every mandatory policy.
func TestPolicyCheckShippedBlueprints(t *testing.T) {
	for _, name := range []string{"local", "gpu-training", "production"} {
		r := plinth(t, "policy", "check", name)
		r.wantExit(t, exitOK)
		if !strings.Contains(r.stdout, "0 mandatory") {
			t.Errorf("%s:\n%v", name, r)
		}
	}
}

// A blueprint that breaks a mandatory policy fails the check (exit 1), in
// every output format, and the failure points at the blueprint line.
func TestPolicyCheckViolation(t *testing.T) {
	dir := t.TempDir()
	src, _ := blueprints.Shipped("production")
	// Six p5.48xlarge nodes is 48 GPUs, plus 6 L4: within prod's 64 — so
	// also make the pool larger than the cap.
	bad := strings.Replace(string(src), "      maxSize: 2\n      diskSizeGiB: 1000", "      maxSize: 8\n      diskSizeGiB: 1000", 1)
	if bad == string(src) {
		t.Fatal("fixture edit did not apply")
	}
	path := writeFile(t, dir, "too-many-gpus.yaml", []byte(bad))

	r := plinth(t, "policy", "check", path)
	r.wantExit(t, exitFailure)
	if !strings.Contains(r.stdout, "cost.max-gpus") {
		t.Errorf("max-gpus not reported:\n%v", r)
	}

	s := plinth(t, "policy", "check", path, "-o", "sarif")
	s.wantExit(t, exitFailure)
	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID string `json:"ruleId"`
				Level  string `json:"level"`
			} `json:"results"`
		} `json:"runs"`
	}
	s.decodeJSON(t, &sarif)
	found := false
	for _, res := range sarif.Runs[0].Results {
		if res.RuleID == "cost.max-gpus" && res.Level == "error" {
			found = true
		}
	}
	if sarif.Version != "2.1.0" || !found {
		t.Errorf("SARIF lacks an error result for cost.max-gpus: %+v", sarif)
	}

	j := plinth(t, "policy", "check", path, "-o", "junit")
	j.wantExit(t, exitFailure)
	var suites struct {
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal([]byte(j.stdout), &suites); err != nil {
		t.Fatalf("JUnit is not XML: %v", err)
	}
	if suites.Failures == 0 && !strings.Contains(j.stdout, `type="mandatory"`) {
		t.Errorf("JUnit reports no failure:\n%s", j.stdout)
	}

	// plan fails on the same violation.
	plinth(t, "plan", path).wantExit(t, exitFailure)

	// A config that makes the pack advisory lets it pass.
	cfg := writeFile(t, dir, "advisory.yaml", []byte("packs:\n  cost: advisory\n"))
	plinth(t, "policy", "check", path, "--config", cfg).wantExit(t, exitOK)
	// A config that names no such policy is an error.
	badCfg := writeFile(t, dir, "bad.yaml", []byte("policies:\n  cost.max-gpu: {enforcement: advisory}\n"))
	e := plinth(t, "policy", "check", path, "--config", badCfg)
	e.wantExit(t, exitFailure)
	if !strings.Contains(e.stderr, "policies.cost.max-gpu: no such policy") {
		t.Errorf("bad config:\n%v", e)
	}
}

func TestPolicyCheckCustomRegoRules(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "no-datasets.rego", []byte(`package plinth

deny contains {"msg": sprintf("bucket %s: no datasets buckets here", [r.name]), "policy": "no-datasets", "urn": r.urn} if {
	some r in input.resources
	r.type == "aws:s3/bucketV2:BucketV2"
	r.inputs.tags["plinth:purpose"] == "datasets"
}
`))
	r := plinth(t, "policy", "check", "gpu-training", "--rules", dir)
	r.wantExit(t, exitFailure)
	if !strings.Contains(r.stdout, "custom.no-datasets") || !strings.Contains(r.stdout, "gpu-training-datasets") {
		t.Errorf("custom rule not applied:\n%v", r)
	}
	writeFile(t, dir, "broken.rego", []byte("package plinth\ndeny contains x if {\n"))
	b := plinth(t, "policy", "check", "gpu-training", "--rules", dir)
	b.wantExit(t, exitFailure)
	if !strings.Contains(b.stderr, "broken.rego:") {
		t.Errorf("bad Rego not located:\n%v", b)
	}
	// The shipped examples load and run.
	ex, _ := filepath.Abs("../../policies/rego/examples")
	if _, err := os.Stat(ex); err != nil {
		t.Fatal(err)
	}
	plinth(t, "policy", "check", "gpu-training", "--rules", ex).wantExit(t, exitOK)
}

func TestPolicyListAndUsage(t *testing.T) {
	r := plinth(t, "policy", "list")
	r.wantExit(t, exitOK)
	for _, want := range []string{"security.s3-no-public-acl", "cost.max-gpus", "tagging.required-tags", "reliability.prod-db-multi-az", "mandatory"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("policy list lacks %q", want)
		}
	}
	var list []map[string]any
	j := plinth(t, "policy", "list", "-o", "json")
	j.wantExit(t, exitOK)
	j.decodeJSON(t, &list)
	if len(list) < 20 {
		t.Errorf("%d policies listed", len(list))
	}
	plinth(t, "policy", "check").wantExit(t, exitUsage)
	plinth(t, "policy", "check", "gpu-training", "-o", "xml").wantExit(t, exitUsage)
	plinth(t, "plan", "gpu-training", "-o", "sarif").wantExit(t, exitUsage)
}
