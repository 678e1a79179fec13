package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/stacks/landingzone/landingzonetest"
)

// plinth plan on a blueprint whose network comes from a Terraform landing
// zone shows each id with the output and directory it came from, in text
// and in JSON.
func TestPlanShowsLandingZoneProvenance(t *testing.T) {
	blueprint := landingzonetest.AppliedExample(t)
	dir := filepath.Join(filepath.Dir(blueprint), "landing-zone")

	r := plinth(t, "plan", blueprint)
	r.wantExit(t, exitOK)
	for _, want := range []string{
		"network from Terraform (terraform 1.5.7, `terraform output -json` in " + dir + "; nothing there is changed)\n",
		"  vpcId            = vpc-0a1b2c3d4e5f67890 (terraform output vpc_id in landing-zone)\n",
		"  privateSubnetIds = [subnet-0a1b2c3d4e5f60001, subnet-0a1b2c3d4e5f60002, subnet-0a1b2c3d4e5f60003] (terraform output private_subnets in landing-zone)\n",
		"  publicSubnetIds  = [subnet-0a1b2c3d4e5f60101, subnet-0a1b2c3d4e5f60102, subnet-0a1b2c3d4e5f60103] (terraform output public_subnets in landing-zone)\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q\n%v", want, r)
		}
	}
	if strings.Contains(r.stdout, "aws:ec2/vpc:Vpc") {
		t.Errorf("plan creates a VPC on an existing network:\n%s", r.stdout)
	}

	j := plinth(t, "plan", blueprint, "-o", "json")
	j.wantExit(t, exitOK)
	var out struct {
		LandingZone struct {
			Dir              string `json:"dir"`
			DirAsWritten     string `json:"dirAsWritten"`
			TerraformVersion string `json:"terraformVersion"`
			Values           []struct {
				Field  string `json:"field"`
				Output string `json:"output"`
				Value  any    `json:"value"`
				Source string `json:"source"`
			} `json:"values"`
		} `json:"landingZone"`
	}
	j.decodeJSON(t, &out)
	lz := out.LandingZone
	if lz.Dir != dir || lz.DirAsWritten != "landing-zone" || lz.TerraformVersion != "1.5.7" || len(lz.Values) != 3 {
		t.Fatalf("landingZone = %+v", lz)
	}
	if v := lz.Values[0]; v.Field != "spec.network.existing.vpcId" || v.Output != "vpc_id" || v.Value != "vpc-0a1b2c3d4e5f67890" ||
		v.Source != "terraform output vpc_id in landing-zone" {
		t.Errorf("vpcId value = %+v", v)
	}
	if v := lz.Values[1]; v.Field != "spec.network.existing.privateSubnetIds" || len(v.Value.([]any)) != 3 {
		t.Errorf("privateSubnetIds value = %+v", v)
	}
}

// A landing zone that cannot be read fails the plan with a blueprint error
// (exit 1), saying what to do.
func TestPlanLandingZoneErrors(t *testing.T) {
	landingzonetest.Terraform(t)
	blueprint := landingzonetest.CopyExample(t, t.TempDir())
	r := plinth(t, "plan", blueprint)
	r.wantExit(t, exitFailure)
	want := blueprint + ":23:14: spec.network.existing.fromTerraform.dir: " + filepath.Join(filepath.Dir(blueprint), "landing-zone") +
		" has not been initialised or applied"
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "run `terraform init` and `terraform apply` there first") {
		t.Errorf("stderr lacks %q\n%v", want, r)
	}
	if r.stdout != "" {
		t.Errorf("a failed plan printed on stdout:\n%v", r)
	}
	// Shipped blueprints never run terraform: a broken PLINTH_TERRAFORM
	// does not matter to them.
	t.Setenv("PLINTH_TERRAFORM", "/nonexistent/terraform")
	plinth(t, "plan", "gpu-training").wantExit(t, exitOK)
}
