package registry

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/stacks/plan"
)

const (
	tRepository = "aws:ecr/repository:Repository"
	tLifecycle  = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
)

func base(mod ...func(*RegistryArgs)) *RegistryArgs {
	a := &RegistryArgs{
		NamePrefix:     "plinth-dev",
		Repositories:   []string{"trainer", "serving/api"},
		ScanOnPush:     true,
		ImmutableTags:  true,
		KeepLastImages: 30,
		KMS:            true,
		Tags:           map[string]string{"team": "ml", "plinth:environment": "dev"},
	}
	for _, m := range mod {
		m(a)
	}
	return a
}

func run(t *testing.T, args *RegistryArgs) *plan.Graph {
	t.Helper()
	g, err := plan.Run(func(ctx *pulumi.Context) error {
		_, err := NewRegistry(ctx, "t", args)
		return err
	}, plan.Options{})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if len(g.Invokes) != 0 {
		t.Errorf("component made invokes: %v", g.Invokes)
	}
	return g
}

func TestRepositories(t *testing.T) {
	cases := []struct {
		name       string
		args       *RegistryArgs
		scan       bool
		mutability string
		encryption string
		keep       float64
	}{
		{"hardened", base(), true, "IMMUTABLE", "KMS", 30},
		{"no scan", base(func(a *RegistryArgs) { a.ScanOnPush = false }), false, "IMMUTABLE", "KMS", 30},
		{"mutable tags", base(func(a *RegistryArgs) { a.ImmutableTags = false }), true, "MUTABLE", "KMS", 30},
		{"AES256", base(func(a *RegistryArgs) { a.KMS = false }), true, "IMMUTABLE", "AES256", 30},
		{"keep 1", base(func(a *RegistryArgs) { a.KeepLastImages = 1 }), true, "IMMUTABLE", "KMS", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := run(t, tc.args)
			c := g.Find(TypeToken, "t")
			if c == nil {
				t.Fatal("no Registry component")
			}
			repos := g.ByType(tRepository)
			policies := g.ByType(tLifecycle)
			if len(repos) != 2 || len(policies) != 2 {
				t.Fatalf("%d repositories, %d lifecycle policies, want 2 and 2", len(repos), len(policies))
			}
			for _, r := range append(repos, policies...) {
				if r.Parent != c.URN {
					t.Errorf("%s: parent %q, want the component", r.Name, r.Parent)
				}
			}
			for _, r := range repos {
				if got := r.Inputs["imageScanningConfiguration"].(map[string]any)["scanOnPush"]; got != tc.scan {
					t.Errorf("%s: scanOnPush = %v, want %v", r.Name, got, tc.scan)
				}
				if got := r.Inputs["imageTagMutability"]; got != tc.mutability {
					t.Errorf("%s: imageTagMutability = %v, want %s", r.Name, got, tc.mutability)
				}
				enc := r.Inputs["encryptionConfigurations"].([]any)
				if len(enc) != 1 {
					t.Fatalf("%s: %d encryption configurations", r.Name, len(enc))
				}
				e := enc[0].(map[string]any)
				if e["encryptionType"] != tc.encryption {
					t.Errorf("%s: encryptionType = %v, want %s", r.Name, e["encryptionType"], tc.encryption)
				}
				if k, ok := e["kmsKey"]; ok && k != nil {
					t.Errorf("%s: kmsKey = %v, want the AWS managed key", r.Name, k)
				}
				if r.Inputs["forceDelete"] != false {
					t.Errorf("%s: forceDelete = %v, want false", r.Name, r.Inputs["forceDelete"])
				}
				if got, want := r.Inputs["tags"], map[string]any{"team": "ml", "plinth:environment": "dev"}; !reflect.DeepEqual(got, want) {
					t.Errorf("%s: tags = %v, want %v", r.Name, got, want)
				}
			}
			for _, p := range policies {
				var doc struct {
					Rules []struct {
						Selection struct{ CountNumber float64 }
					}
				}
				s, ok := p.Inputs["policy"].(string)
				if !ok {
					t.Fatalf("%s: policy = %v", p.Name, p.Inputs["policy"])
				}
				if err := json.Unmarshal([]byte(s), &doc); err != nil || len(doc.Rules) != 1 {
					t.Fatalf("%s: policy %s: %v", p.Name, s, err)
				}
				if doc.Rules[0].Selection.CountNumber != tc.keep {
					t.Errorf("%s: keeps %v images, want %v", p.Name, doc.Rules[0].Selection.CountNumber, tc.keep)
				}
			}
		})
	}
}

func TestRepositoryNames(t *testing.T) {
	cases := []struct {
		name   string
		prefix string
		want   map[string]string // logical name → repository name
	}{
		{"prefixed", "plinth-dev", map[string]string{"t-trainer": "plinth-dev/trainer", "t-serving-api": "plinth-dev/serving/api"}},
		{"no prefix", "", map[string]string{"t-trainer": "trainer", "t-serving-api": "serving/api"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := run(t, base(func(a *RegistryArgs) { a.NamePrefix = tc.prefix }))
			for ln, want := range tc.want {
				r := g.Find(tRepository, ln)
				if r == nil {
					t.Fatalf("no repository %s", ln)
				}
				if got := r.Inputs["name"]; got != want {
					t.Errorf("%s: name = %v, want %s", ln, got, want)
				}
				lp := g.Find(tLifecycle, ln+"-lifecycle")
				if lp == nil {
					t.Fatalf("no lifecycle policy for %s", ln)
				}
				if got := lp.Inputs["repository"]; got != want {
					t.Errorf("%s lifecycle: repository = %v, want %s", ln, got, want)
				}
			}
		})
	}
}

func TestLifecyclePolicy(t *testing.T) {
	for _, keep := range []int{1, 10, 500} {
		out, err := lifecyclePolicy(keep)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		want := map[string]any{"rules": []any{map[string]any{
			"rulePriority": 1.0,
			"description":  doc["rules"].([]any)[0].(map[string]any)["description"],
			"selection":    map[string]any{"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": float64(keep)},
			"action":       map[string]any{"type": "expire"},
		}}}
		if !reflect.DeepEqual(doc, want) {
			t.Errorf("keep %d: policy = %s", keep, out)
		}
	}
	for _, keep := range []int{0, -1} {
		if _, err := lifecyclePolicy(keep); err == nil {
			t.Errorf("keep %d accepted", keep)
		}
	}
}

func TestBadArgs(t *testing.T) {
	cases := []struct {
		name string
		args *RegistryArgs
		want string
	}{
		{"nil args", nil, "args are required"},
		{"no repositories", base(func(a *RegistryArgs) { a.Repositories = nil }), "at least one repository"},
		{"empty name", base(func(a *RegistryArgs) { a.Repositories = []string{"a", ""} }), "name is required"},
		{"duplicate", base(func(a *RegistryArgs) { a.Repositories = []string{"a", "a"} }), `duplicate repository "a"`},
		{"logical name clash", base(func(a *RegistryArgs) { a.Repositories = []string{"a/b", "a-b"} }), "would share the logical name"},
		{"uppercase", base(func(a *RegistryArgs) { a.Repositories = []string{"Trainer"} }), "not a valid repository name"},
		{"bad prefix", base(func(a *RegistryArgs) { a.NamePrefix = "-x" }), "namePrefix"},
		{"too long", base(func(a *RegistryArgs) { a.Repositories = []string{strings.Repeat("a", 250)} }), "not a valid repository name"},
		{"keep 0", base(func(a *RegistryArgs) { a.KeepLastImages = 0 }), "keepLastImages must be at least 1"},
		{"keep negative", base(func(a *RegistryArgs) { a.KeepLastImages = -3 }), "keepLastImages must be at least 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := plan.Run(func(ctx *pulumi.Context) error {
				_, err := NewRegistry(ctx, "t", tc.args)
				return err
			}, plan.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if len(g.Resources) != 0 {
				t.Errorf("%d resources registered before the error", len(g.Resources))
			}
		})
	}
}
