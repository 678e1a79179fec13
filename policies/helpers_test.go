package policies

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// planFile is the part of a `plinth plan` JSON (and of the fixtures in
// testdata) the tests read.
type planFile struct {
	Environment      string `json:"environment"`
	Provider         string `json:"provider"`
	Region           string `json:"region"`
	EnvironmentClass string `json:"environmentClass"`
	Stack            string `json:"stack"`
	Resources        []struct {
		URN     string         `json:"urn"`
		Type    string         `json:"type"`
		Name    string         `json:"name"`
		Parent  string         `json:"parent"`
		Inputs  map[string]any `json:"inputs"`
		Protect bool           `json:"protect"`
	} `json:"resources"`
}

// loadPlan reads a plan JSON into a policy input.
func loadPlan(t *testing.T, path string) *Input {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p planFile
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	in := &Input{Environment: Environment{Name: p.Environment, Class: p.EnvironmentClass, Provider: p.Provider, Region: p.Region, Stack: p.Stack}}
	for _, r := range p.Resources {
		in.Resources = append(in.Resources, &Resource{URN: r.URN, Type: r.Type, Name: r.Name, Parent: r.Parent, Inputs: r.Inputs, Protect: r.Protect})
	}
	return in
}

// goldenPlan loads one of the golden plans of the CLI tests.
func goldenPlan(t *testing.T, name string) *Input {
	t.Helper()
	return loadPlan(t, filepath.Join("..", "cmd", "plinth", "testdata", "plan", name+".json"))
}

// res builds a resource fixture; inputs are normalised through JSON so they
// look like decoded plan inputs (numbers float64, lists []any).
func res(typ, name string, inputs map[string]any) *Resource {
	data, err := json.Marshal(inputs)
	if err != nil {
		panic(err)
	}
	var norm map[string]any
	if err := json.Unmarshal(data, &norm); err != nil {
		panic(err)
	}
	if norm == nil {
		norm = map[string]any{}
	}
	return &Resource{URN: "urn:pulumi:test::plinth::" + typ + "::" + name, Type: typ, Name: name, Inputs: norm}
}

// protected marks a fixture as protected.
func protected(r *Resource) *Resource {
	r.Protect = true
	return r
}

// input builds an input of a class.
func input(class string, rs ...*Resource) *Input {
	return &Input{Environment: Environment{Name: "test", Class: class, Provider: "aws", Region: "us-east-1"}, Resources: rs}
}

// evaluate runs every policy.
func evaluate(t *testing.T, in *Input, cfg *Config) *Report {
	t.Helper()
	rep, err := Evaluate(All(), in, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// violationsOf returns a report's violations of one policy.
func violationsOf(rep *Report, id string) []Violation {
	var out []Violation
	for _, v := range rep.Violations {
		if v.Policy == id {
			out = append(out, v)
		}
	}
	return out
}

// byID returns a policy by ID.
func byID(t *testing.T, id string) *Policy {
	t.Helper()
	for _, p := range All() {
		if p.ID() == id {
			return p
		}
	}
	t.Fatalf("no policy %s", id)
	return nil
}

// policyCase is one fixture evaluated through Evaluate(All(), ...).
type policyCase struct {
	name   string
	policy string
	class  string
	cfg    *Config
	rs     []*Resource
	// want are the names of the resources the policy must flag ("" for a
	// stack-wide finding), exactly; none means the fixture passes.
	want []string
	// enf is the enforcement the violations must carry.
	enf Enforcement
	// contains, when set, must be in every violation message.
	contains string
}

func runCases(t *testing.T, cases []policyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.policy+"/"+tc.name, func(t *testing.T) {
			byID(t, tc.policy)
			class := tc.class
			if class == "" {
				class = ClassDev
			}
			rep := evaluate(t, input(class, tc.rs...), tc.cfg)
			got := violationsOf(rep, tc.policy)
			var names []string
			for _, v := range got {
				names = append(names, v.Name)
			}
			slices.Sort(names)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(names, want) {
				t.Fatalf("%s flags %q, want %q\nviolations: %s", tc.policy, names, want, dump(got))
			}
			for _, v := range got {
				if v.Enforcement != tc.enf {
					t.Errorf("%s on %s: enforcement %s, want %s", tc.policy, v.Name, v.Enforcement, tc.enf)
				}
				if v.Name != "" {
					r := findResource(tc.rs, v.Name)
					if v.URN != r.URN || v.Type != r.Type {
						t.Errorf("%s: violation names %s %s, want %s %s", tc.policy, v.URN, v.Type, r.URN, r.Type)
					}
				} else if v.URN != "" {
					t.Errorf("%s: stack-wide violation has URN %s", tc.policy, v.URN)
				}
				if tc.contains != "" && !strings.Contains(v.Message, tc.contains) {
					t.Errorf("%s: message %q lacks %q", tc.policy, v.Message, tc.contains)
				}
				if v.Message == "" || v.Remediation == "" || v.Severity == "" {
					t.Errorf("%s: incomplete violation %+v", tc.policy, v)
				}
			}
		})
	}
}

func findResource(rs []*Resource, name string) *Resource {
	for _, r := range rs {
		if r.Name == name {
			return r
		}
	}
	panic("no fixture " + name)
}

func dump(vs []Violation) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "\n  %s [%s] %s: %s", v.Policy, v.Enforcement, v.Name, v.Message)
	}
	return b.String()
}

// logReport logs every violation of a report.
func logReport(t *testing.T, label string, rep *Report) {
	t.Helper()
	t.Logf("%s: %d mandatory, %d advisory%s", label, rep.Mandatory(), rep.Advisory(), dump(rep.Violations))
}
