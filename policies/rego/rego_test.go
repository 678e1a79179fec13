package rego

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/plinth-dev/plinth/policies"
)

func readInput(t *testing.T, name string) *policies.Input {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var in policies.Input
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	return &in
}

// writeRules writes rule files into a temporary directory.
func writeRules(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func evaluate(t *testing.T, r *Rules, in *policies.Input) []policies.Violation {
	t.Helper()
	vs, err := r.Evaluate(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// byPolicy maps policy to the names of the resources it flagged.
func byPolicy(vs []policies.Violation) map[string][]string {
	out := map[string][]string{}
	for _, v := range vs {
		out[v.Policy] = append(out[v.Policy], v.Name)
	}
	return out
}

func TestExamplesViolating(t *testing.T) {
	rules, err := Load("examples")
	if err != nil {
		t.Fatal(err)
	}
	if got := rules.Files(); len(got) != 2 {
		t.Errorf("loaded %v, want the 2 example files", got)
	}
	in := readInput(t, "violating.json")
	vs := evaluate(t, rules, in)
	got := byPolicy(vs)
	want := map[string][]string{
		"custom.bucket-purpose":    {"legacy-logs", "gpu-training-scratch"},
		"custom.dev-gpu-pool-size": {"gpu-training-infer", "gpu-training-train"},
	}
	if len(got) != len(want) {
		t.Errorf("violations %v, want %v", got, want)
	}
	for policy, names := range want {
		if strings.Join(got[policy], ",") != strings.Join(names, ",") {
			t.Errorf("%s flagged %v, want %v", policy, got[policy], names)
		}
	}
	for _, v := range vs {
		if v.Pack != "custom" || v.Enforcement != policies.Mandatory || v.Remediation == "" || v.URN == "" || v.Type == "" {
			t.Errorf("violation %+v", v)
		}
		switch v.Policy {
		case "custom.bucket-purpose":
			if v.Severity != policies.Medium {
				t.Errorf("%s: severity %s, want the default medium", v.Policy, v.Severity)
			}
			if v.Name == "gpu-training-scratch" && (v.BlueprintPath != "spec.storage.buckets[1]" || v.Message != "bucket gpu-training-scratch has no plinth:purpose tag") {
				t.Errorf("scratch bucket: %+v", v)
			}
		case "custom.dev-gpu-pool-size":
			if v.Severity != policies.High {
				t.Errorf("%s: severity %s, want high", v.Policy, v.Severity)
			}
			if v.Name == "gpu-training-train" && v.Message != "GPU node group gpu-training-train can grow to 16 nodes in dev environment gpu-training; the dev limit is 4" {
				t.Errorf("message %q", v.Message)
			}
		}
	}

	// The GPU limit is for dev only.
	in.Environment.Class = policies.ClassProd
	got = byPolicy(evaluate(t, rules, in))
	if len(got["custom.dev-gpu-pool-size"]) != 0 || len(got["custom.bucket-purpose"]) != 2 {
		t.Errorf("prod: %v", got)
	}
}

func TestExamplesPassing(t *testing.T) {
	rules, err := Load("examples")
	if err != nil {
		t.Fatal(err)
	}
	if vs := evaluate(t, rules, readInput(t, "passing.json")); len(vs) != 0 {
		t.Errorf("passing input has violations: %+v", vs)
	}
	if vs := evaluate(t, rules, &policies.Input{}); len(vs) != 0 {
		t.Errorf("empty input has violations: %+v", vs)
	}
}

func TestBadRegoNamesFileAndLine(t *testing.T) {
	for name, tc := range map[string]struct {
		files map[string]string
		want  []string
	}{
		"syntax": {
			files: map[string]string{"ok.rego": "package plinth\n\ndeny contains \"x\" if false\n", "sub/bad.rego": "package plinth\n\ndeny contains msg if {\n\tmsg := \n}\n"},
			want:  []string{filepath.Join("sub", "bad.rego") + ":5:1: unexpected } token"},
		},
		"unsafe variable": {
			files: map[string]string{"unsafe.rego": "package plinth\n\ndeny contains msg if {\n\tsome r in input.resources\n\tr.name == other\n\tmsg := \"x\"\n}\n"},
			want:  []string{"unsafe.rego:5:", "other"},
		},
		"unknown function": {
			files: map[string]string{"fn.rego": "package plinth\n\ndeny contains msg if {\n\tmsg := no_such_function(input)\n}\n"},
			want:  []string{"fn.rego:4:", "no_such_function"},
		},
		"rego v0 syntax": {
			files: map[string]string{"old.rego": "package plinth\n\ndeny[msg] {\n\tmsg := \"x\"\n}\n"},
			want:  []string{"old.rego:3:"},
		},
		"deny in another package": {
			files: map[string]string{"lib.rego": "package plinth.storage\n\ndeny contains \"x\" if true\n"},
			want:  []string{"lib.rego:3:", "package plinth.storage", "package plinth"},
		},
		"no deny": {
			files: map[string]string{"lib.rego": "package plinth.lib\n\nbucket(r) if r.type == \"x\"\n"},
			want:  []string{"no file", "defines deny"},
		},
		"no files": {
			files: map[string]string{"README.md": "nothing"},
			want:  []string{"no .rego files"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := writeRules(t, tc.files)
			_, err := Load(dir)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			t.Logf("%v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Load of a missing directory succeeded")
	}
}

func TestEntries(t *testing.T) {
	dir := writeRules(t, map[string]string{
		"strings.rego": `package plinth

deny contains sprintf("%s is unprotected", [r.name]) if {
	some r in input.resources
	not r.protect
}
`,
		"levels.rego": `package plinth

deny contains {"msg": "advisory one", "enforcement": "advisory", "severity": "low", "policy": "levels"} if true
deny contains {"msg": "dropped", "enforcement": "disabled"} if true
deny contains {"msg": "unknown urn", "urn": "urn:nowhere", "severity": "critical"} if true
`,
		"scoped.rego": `package plinth

deny contains {"msg": sprintf("%s is a bucket", [r.name]), "urn": r.urn, "scope": "resource"} if {
	some r in input.resources
	r.type == "aws:s3/bucketV2:BucketV2"
}
`,
		"lib/helpers.rego": `package plinth.lib

db(r) if r.type == "aws:rds/instance:Instance"
`,
		"nested/array.rego": `package plinth

import data.plinth.lib

deny := [{"msg": sprintf("database %s", [r.name]), "urn": r.urn} |
	some r in input.resources
	lib.db(r)
]

# deny stays readable as a whole.
how_many := count(deny)
`,
		"ignored_test.rego": "this is not even Rego",
	})
	rules, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := &policies.Input{Resources: []*policies.Resource{
		{URN: "urn:db", Type: "aws:rds/instance:Instance", Name: "db", Protect: true, BlueprintPath: "spec.tracking"},
		{URN: "urn:bucket", Type: "aws:s3/bucketV2:BucketV2", Name: "bucket"},
	}}
	vs := evaluate(t, rules, in)
	type key struct{ policy, msg string }
	got := map[key]policies.Violation{}
	for _, v := range vs {
		got[key{v.Policy, v.Message}] = v
	}
	want := map[key]struct {
		sev  policies.Severity
		enf  policies.Enforcement
		name string
	}{
		{"custom.strings", "bucket is unprotected"}: {policies.Medium, policies.Mandatory, ""},
		{"custom.levels", "advisory one"}:           {policies.Low, policies.Advisory, ""},
		{"custom.levels", "unknown urn"}:            {policies.Critical, policies.Mandatory, ""},
		{"custom.array", "database db"}:             {policies.Medium, policies.Mandatory, "db"},
		{"custom.scoped", "bucket is a bucket"}:     {policies.Medium, policies.Mandatory, "bucket"},
	}
	if len(vs) != len(want) {
		t.Errorf("got %d violations, want %d: %+v", len(vs), len(want), vs)
	}
	for k, w := range want {
		v, ok := got[k]
		if !ok {
			t.Errorf("missing %v", k)
			continue
		}
		if v.Severity != w.sev || v.Enforcement != w.enf || v.Name != w.name || v.Pack != Pack {
			t.Errorf("%v: %+v", k, v)
		}
	}
	if v := got[key{"custom.array", "database db"}]; v.BlueprintPath != "spec.tracking" || v.Type != "aws:rds/instance:Instance" {
		t.Errorf("resource fields not filled in: %+v", v)
	}
	// Report order: mandatory first, then by policy.
	if vs[len(vs)-1].Enforcement != policies.Advisory || vs[0].Policy != "custom.array" {
		t.Errorf("order: %+v", vs)
	}
	// The violations merge into a report.
	rep := &policies.Report{Violations: []policies.Violation{{Policy: "security.x", Enforcement: policies.Advisory}}}
	rep.Merge(vs)
	if rep.Mandatory() != 4 || rep.Advisory() != 2 {
		t.Errorf("merged report: %d mandatory, %d advisory", rep.Mandatory(), rep.Advisory())
	}

	// Findings are the same violations, in the same order, with the scope
	// each entry declares (stack when it declares none).
	fs, err := rules.Findings(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != len(vs) {
		t.Fatalf("%d findings, %d violations", len(fs), len(vs))
	}
	for i, f := range fs {
		want := ScopeStack
		if f.Policy == "custom.scoped" {
			want = ScopeResource
		}
		if f.Violation != vs[i] || f.Scope != want {
			t.Errorf("finding %d: %+v, scope %s; want %+v, scope %s", i, f.Violation, f.Scope, vs[i], want)
		}
	}
}

func TestBadEntries(t *testing.T) {
	for name, tc := range map[string]struct{ rule, want string }{
		"severity":    {`deny contains {"msg": "m", "severity": "urgent"} if true`, `severity "urgent" is not known`},
		"enforcement": {`deny contains {"msg": "m", "enforcement": "maybe"} if true`, `enforcement "maybe" is not known`},
		"no msg":      {`deny contains {"urn": "u"} if true`, "has no msg"},
		"not string":  {`deny contains {"msg": 3} if true`, "msg is"},
		"number":      {`deny contains 42 if true`, "is not an object"},
		"object deny": {`deny := {"a": 1}`, "not a set or an array"},
		"scope":       {`deny contains {"msg": "m", "scope": "early"} if true`, `scope "early" is not known; allowed: stack, resource`},
	} {
		t.Run(name, func(t *testing.T) {
			rules, err := Load(writeRules(t, map[string]string{"rule.rego": "package plinth\n\n" + tc.rule + "\n"}))
			if err != nil {
				t.Fatal(err)
			}
			_, err = rules.Evaluate(context.Background(), &policies.Input{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "rule.rego") {
				t.Errorf("error %v, want one naming rule.rego and saying %q", err, tc.want)
			}
		})
	}
}

// TestInputShape checks the documented input document: every key present,
// "" and false for what is unknown.
func TestInputShape(t *testing.T) {
	dir := writeRules(t, map[string]string{"shape.rego": `package plinth

env_keys := {"name", "class", "provider", "region", "stack"}
resource_keys := {"urn", "type", "name", "parent", "inputs", "protect", "blueprintPath"}

deny contains "environment keys" if {
	{k | some k, _ in input.environment} != env_keys
}

deny contains sprintf("resource keys of %s", [r.name]) if {
	some r in input.resources
	{k | some k, _ in r} != resource_keys
}

deny contains sprintf("%s: parent %q protect %v inputs %v path %q", [r.name, r.parent, r.protect, r.inputs, r.blueprintPath]) if {
	some r in input.resources
	r.name == "bare"
	not r.parent == ""
}

deny contains "values" if {
	r := input.resources[1]
	r.inputs.tags.owner != "me"
	r.inputs.scalingConfig.maxSize != 16
	r.inputs.list[1] != "b"
	r.protect != true
	input.environment.class != "prod"
}
`})
	rules, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := &policies.Input{
		Environment: policies.Environment{Name: "e", Class: policies.ClassProd},
		Resources: []*policies.Resource{
			{URN: "urn:bare", Type: "t", Name: "bare"},
			{URN: "urn:full", Type: "t", Name: "full", Parent: "urn:bare", Protect: true, BlueprintPath: "spec.x",
				Inputs: map[string]any{"tags": map[string]any{"owner": "me"}, "scalingConfig": map[string]any{"maxSize": 16}, "list": []string{"a", "b"}}},
		},
	}
	if vs := evaluate(t, rules, in); len(vs) != 0 {
		t.Errorf("input shape: %+v", vs)
	}
}

func TestConcurrentEvaluate(t *testing.T) {
	rules, err := Load("examples")
	if err != nil {
		t.Fatal(err)
	}
	in := readInput(t, "violating.json")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vs, err := rules.Evaluate(context.Background(), in)
			if err == nil && len(vs) != 4 {
				err = fmt.Errorf("got %d violations, want 4", len(vs))
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
