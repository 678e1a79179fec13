package policies

import (
	"maps"
	"slices"
	"testing"
)

// TestPolicyList pins the policies and checks each is complete.
func TestPolicyList(t *testing.T) {
	want := []string{
		"cost.gpu-instance-allowlist", "cost.idle-gpu-alert", "cost.max-gpus", "cost.spot-policy",
		"reliability.bucket-versioning", "reliability.min-two-azs", "reliability.prod-db-deletion-protection", "reliability.prod-db-multi-az", "reliability.tracking-pdb",
		"security.ecr-encryption", "security.ecr-scan-on-push", "security.eks-endpoint-private-in-prod", "security.eks-secrets-encryption",
		"security.imdsv2-required", "security.k8s-no-hostpath", "security.k8s-no-privileged", "security.k8s-run-as-non-root",
		"security.no-plain-secrets", "security.rds-encryption", "security.rds-not-public",
		"security.s3-encryption", "security.s3-no-public-acl", "security.s3-public-access-block", "security.server-auth",
		"tagging.required-tags",
	}
	var got []string
	for _, p := range All() {
		got = append(got, p.ID())
		if p.Description == "" || p.Remediation == "" || p.Check == nil {
			t.Errorf("%s is incomplete", p.ID())
		}
		switch p.Severity {
		case Low, Medium, High, Critical:
		default:
			t.Errorf("%s: severity %q", p.ID(), p.Severity)
		}
		for _, class := range Classes {
			if _, err := ParseEnforcement(string(p.Defaults[class])); err != nil {
				t.Errorf("%s: %s default: %v", p.ID(), class, err)
			}
			for name, d := range p.Settings {
				if _, ok := d[class]; !ok {
					t.Errorf("%s: setting %s has no %s default", p.ID(), name, class)
				}
			}
		}
		// Every setting can be set by configuration.
		cfg := &Config{Policies: map[string]PolicyConfig{p.ID(): {Enforcement: Advisory, Settings: map[string]any{}}}}
		for name, d := range p.Settings {
			cfg.Policies[p.ID()].Settings[name] = d[ClassProd]
		}
		if err := cfg.Check(All()); err != nil {
			t.Errorf("%s: %v", p.ID(), err)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("policies %q, want %q", got, want)
	}
}

// TestDefaultsByClass checks prod is never looser than dev, and pins where
// the defaults differ.
func TestDefaultsByClass(t *testing.T) {
	rank := map[Enforcement]int{Disabled: 0, Advisory: 1, Mandatory: 2}
	var differ []string
	for _, p := range All() {
		d, s, pr := rank[p.Defaults[ClassDev]], rank[p.Defaults[ClassStaging]], rank[p.Defaults[ClassProd]]
		if d > s || s > pr {
			t.Errorf("%s: defaults %v get looser towards prod", p.ID(), p.Defaults)
		}
		if d != pr {
			differ = append(differ, p.ID())
		}
	}
	wantDiffer := []string{
		idAllowlist, idDeletion, idMultiAZ, idTrackingPDB,
		idECREncryption, idECRScan, idEKSEndpoint, idEKSSecrets, idHostPath, idNonRoot, idS3Encryption,
	}
	slices.Sort(wantDiffer)
	if !slices.Equal(differ, wantDiffer) {
		t.Errorf("policies whose dev and prod defaults differ: %q, want %q", differ, wantDiffer)
	}
	mandatoryEverywhere := []string{idPublicACL, idPublicBlock, idRDSPublic, idPlainSecrets, idRequiredTags, idMaxGPUs, idVersioning, idTwoAZs, idPrivileged, idServerAuth}
	for _, id := range mandatoryEverywhere {
		if p := byID(t, id); !maps.Equal(p.Defaults, Everywhere(Mandatory)) {
			t.Errorf("%s defaults %v, want mandatory everywhere", id, p.Defaults)
		}
	}
	for _, id := range []string{idIdleGPU, idSpot} {
		if p := byID(t, id); !maps.Equal(p.Defaults, Everywhere(Advisory)) {
			t.Errorf("%s defaults %v, want advisory everywhere", id, p.Defaults)
		}
	}

	// Settings grow stricter towards prod too.
	caps := byID(t, idMaxGPUs).Settings["maxGPUs"]
	if caps[ClassDev] != 16 || caps[ClassStaging] != 32 || caps[ClassProd] != 64 {
		t.Errorf("maxGPUs defaults %v", caps)
	}
	spot := byID(t, idSpot).Settings["spot"]
	if spot[ClassDev] != spotAllowed || spot[ClassStaging] != spotAllowed || spot[ClassProd] != spotForbidden {
		t.Errorf("spot defaults %v", spot)
	}
	fams := byID(t, idAllowlist).Settings["allowedFamilies"]
	dev, staging := fams[ClassDev].([]string), fams[ClassStaging].([]string)
	if !slices.Equal(dev, []string{"g4dn", "g5", "g6", "g6e", "gr6", "p4d"}) || !slices.Equal(staging, []string{"g4dn", "g5", "g6", "g6e", "gr6", "p4d", "p4de", "p5"}) {
		t.Errorf("allowedFamilies dev %v staging %v", dev, staging)
	}
}

// TestClassDefaultsToDev checks an input without a class is checked as dev.
func TestClassDefaultsToDev(t *testing.T) {
	in := input("", eksCluster("eks", true, true))
	if vs := violationsOf(evaluate(t, in, nil), idEKSEndpoint); len(vs) != 1 || vs[0].Enforcement != Advisory {
		t.Errorf("no class:%s", dump(vs))
	}
}

// TestDisabledByConfig checks a disabled pack reports nothing.
func TestDisabledByConfig(t *testing.T) {
	in := input(ClassProd, rdsInstance("db", map[string]any{"publiclyAccessible": true}))
	rep := evaluate(t, in, &Config{Packs: map[string]Enforcement{PackSecurity: Disabled}})
	for _, v := range rep.Violations {
		if v.Pack == PackSecurity {
			t.Errorf("disabled pack reports %s", v.Policy)
		}
	}
}
