package policies

import (
	"maps"
	"slices"
	"testing"
)

// TestGoldenPlansPassMandatory checks the plans of the three shipped
// blueprints pass every mandatory policy with the defaults, and pins the
// advisory findings they raise.
func TestGoldenPlansPassMandatory(t *testing.T) {
	for _, tc := range []struct {
		plan, class string
		// advisory maps policy ID to the resources it flags.
		advisory map[string][]string
	}{
		// The monitoring layer's GPUIdle rule satisfies cost.idle-gpu-alert.
		{plan: "gpu-training", class: ClassDev, advisory: map[string][]string{
			idMultiAZ:     {"gpu-training-db"},
			idEKSEndpoint: {"gpu-training-eks"},
		}},
		{plan: "production", class: ClassProd},
		{plan: "local", class: ClassDev},
	} {
		t.Run(tc.plan, func(t *testing.T) {
			in := goldenPlan(t, tc.plan)
			if in.Environment.Class != tc.class {
				t.Fatalf("class %q, want %q", in.Environment.Class, tc.class)
			}
			if len(in.Resources) < 50 {
				t.Fatalf("%s: only %d resources", tc.plan, len(in.Resources))
			}
			rep := evaluate(t, in, nil)
			logReport(t, tc.plan+" ("+tc.class+")", rep)
			if n := rep.Mandatory(); n != 0 {
				t.Fatalf("%d mandatory violations:%s", n, dump(rep.Violations))
			}
			if len(rep.Results) != len(All()) {
				t.Errorf("%d results for %d policies", len(rep.Results), len(All()))
			}
			got := map[string][]string{}
			for _, v := range rep.Violations {
				got[v.Policy] = append(got[v.Policy], v.Name)
			}
			for _, id := range slices.Sorted(maps.Keys(got)) {
				slices.Sort(got[id])
			}
			want := tc.advisory
			if want == nil {
				want = map[string][]string{}
			}
			if !maps.EqualFunc(got, want, slices.Equal[[]string]) {
				t.Errorf("advisory findings %v, want %v", got, want)
			}
		})
	}
}

// TestGoldenPlansPassNoPlainSecrets checks the RDS password (a Pulumi
// secret), the kubeconfig (unknown until apply) and the random password's
// settings pass no-plain-secrets, which holds in every class.
func TestGoldenPlansPassNoPlainSecrets(t *testing.T) {
	for _, plan := range []string{"gpu-training", "production"} {
		in := goldenPlan(t, plan)
		var seen []string
		for _, r := range in.Resources {
			switch r.Type {
			case typeRDSInstance:
				if r.String("password") != Secret {
					t.Fatalf("%s: the golden RDS password is %q, not a secret", plan, r.String("password"))
				}
				seen = append(seen, "password")
			case "pulumi:providers:kubernetes":
				if r.String("kubeconfig") != Unknown {
					t.Fatalf("%s: the golden kubeconfig is not unknown", plan)
				}
				seen = append(seen, "kubeconfig")
			}
		}
		if len(seen) != 2 {
			t.Fatalf("%s: want an RDS password and a kubeconfig, saw %v", plan, seen)
		}
		for _, class := range Classes {
			in.Environment.Class = class
			if vs := violationsOf(evaluate(t, in, nil), idPlainSecrets); len(vs) != 0 {
				t.Errorf("%s as %s:%s", plan, class, dump(vs))
			}
		}
	}
}

// TestGoldenDevPlanAsProd checks enforcement differs between classes: the
// dev plan of gpu-training, checked as prod, fails on what prod requires.
func TestGoldenDevPlanAsProd(t *testing.T) {
	in := goldenPlan(t, "gpu-training")
	in.Environment.Class = ClassProd
	rep := evaluate(t, in, nil)
	logReport(t, "gpu-training as prod", rep)
	mandatory := map[string][]string{}
	advisory := map[string][]string{}
	for _, v := range rep.Violations {
		m := advisory
		if v.Enforcement == Mandatory {
			m = mandatory
		}
		m[v.Policy] = append(m[v.Policy], v.Name)
	}
	wantMandatory := map[string][]string{
		idEKSEndpoint:   {"gpu-training-eks"},
		idMultiAZ:       {"gpu-training-db"},
		idDeletion:      {"gpu-training-db"},
		idS3Encryption:  {"gpu-training-artifacts-sse", "gpu-training-datasets-sse"},
		idECREncryption: {"gpu-training-serving", "gpu-training-training"},
	}
	wantAdvisory := map[string][]string{
		idSpot: {"gpu-training-train"},
	}
	for _, m := range []map[string][]string{mandatory, advisory} {
		for _, id := range slices.Sorted(maps.Keys(m)) {
			slices.Sort(m[id])
		}
	}
	if !maps.EqualFunc(mandatory, wantMandatory, slices.Equal[[]string]) {
		t.Errorf("mandatory %v, want %v", mandatory, wantMandatory)
	}
	if !maps.EqualFunc(advisory, wantAdvisory, slices.Equal[[]string]) {
		t.Errorf("advisory %v, want %v", advisory, wantAdvisory)
	}

	// And the production plan checked as dev exceeds dev's GPU cap (22 > 16)
	// and uses p5, outside dev's allow-list (advisory there).
	in = goldenPlan(t, "production")
	in.Environment.Class = ClassDev
	rep = evaluate(t, in, nil)
	if vs := violationsOf(rep, idMaxGPUs); len(vs) != 1 || vs[0].Enforcement != Mandatory || vs[0].URN != "" {
		t.Errorf("max-gpus on production as dev:%s", dump(vs))
	}
	if vs := violationsOf(rep, idAllowlist); len(vs) != 1 || vs[0].Name != "ml-prod-train" || vs[0].Enforcement != Advisory {
		t.Errorf("gpu-instance-allowlist on production as dev:%s", dump(vs))
	}
}
