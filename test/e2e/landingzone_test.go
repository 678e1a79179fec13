package e2e

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/blueprints/catalog"
	"github.com/plinth-dev/plinth/stacks"
	"github.com/plinth-dev/plinth/stacks/landingzone/landingzonetest"
	"github.com/plinth-dev/plinth/stacks/plan"
)

// TestTerraformLandingZone stands up the landing zone of
// examples/terraform-landing-zone with Terratest (a temporary copy, the
// pinned terraform), plans the example's blueprint on it as `plinth plan`
// does, and follows the landing zone through a change and its destruction:
// Plinth uses exactly the ids Terraform outputs, picks up a changed output
// on the next run, and refuses to plan on a destroyed landing zone.
func TestTerraformLandingZone(t *testing.T) {
	bin := landingzonetest.Terraform(t)
	work := t.TempDir()
	blueprint := landingzonetest.CopyExample(t, work)
	opts := &terraform.Options{
		TerraformDir:    filepath.Join(work, landingzonetest.ExampleModule),
		TerraformBinary: bin,
		NoColor:         true,
	}
	defer terraform.Destroy(t, opts)
	start := time.Now()
	terraform.InitAndApply(t, opts)
	t.Logf("landing zone up (terraform init+apply via Terratest): %s", time.Since(start).Round(time.Millisecond))

	vpc := terraform.Output(t, opts, "vpc_id")
	private := terraform.OutputList(t, opts, "private_subnets")
	public := terraform.OutputList(t, opts, "public_subnets")
	if vpc == "" || len(private) != 3 || len(public) != 3 {
		t.Fatalf("landing zone outputs: vpc %q, private %v, public %v", vpc, private, public)
	}

	p := planOn(t, blueprint)
	lz := p.LandingZone
	if lz == nil || lz.VPCID != vpc || !reflect.DeepEqual(lz.PrivateSubnetIDs, private) || !reflect.DeepEqual(lz.PublicSubnetIDs, public) {
		t.Fatalf("Plinth read %+v; Terraform says vpc %s, private %v, public %v", lz, vpc, private, public)
	}
	if n := len(p.Graph.ByType("aws:ec2/vpc:Vpc")) + len(p.Graph.ByType("aws:ec2/subnet:Subnet")); n != 0 {
		t.Errorf("%d VPCs and subnets planned on an existing network", n)
	}
	assertClusterOn(t, p.Graph, private)
	assertSecurityGroupsIn(t, p.Graph, vpc)

	// The landing zone changes (another VPC): the next plan follows it.
	opts.Vars = map[string]any{"vpc_id": "vpc-0fedcba9876543210"}
	terraform.Apply(t, opts)
	if got := terraform.Output(t, opts, "vpc_id"); got != "vpc-0fedcba9876543210" {
		t.Fatalf("vpc_id after the change = %s", got)
	}
	p = planOn(t, blueprint)
	if p.LandingZone.VPCID != "vpc-0fedcba9876543210" {
		t.Errorf("after the change Plinth read vpc %s", p.LandingZone.VPCID)
	}
	assertSecurityGroupsIn(t, p.Graph, "vpc-0fedcba9876543210")

	// Destroyed: Plinth refuses, saying the state is empty and what to do.
	terraform.Destroy(t, opts)
	_, err := plannedE(blueprint)
	var list blueprints.ErrorList
	if !errors.As(err, &list) || len(list) != 1 ||
		!strings.Contains(list[0].Error(), "spec.network.existing.fromTerraform.dir: the Terraform state of "+opts.TerraformDir+" is empty (no outputs): run `terraform apply` there first") {
		t.Errorf("plan on a destroyed landing zone: %v", err)
	}
}

// planOn plans a blueprint file offline, as `plinth plan FILE` does.
func planOn(t *testing.T, blueprint string) *stacks.OfflinePlan {
	t.Helper()
	start := time.Now()
	p, err := plannedE(blueprint)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plan on the landing zone (reads its outputs twice: for the plan, and in the program): %s", time.Since(start).Round(time.Millisecond))
	return p
}

func plannedE(blueprint string) (*stacks.OfflinePlan, error) {
	cat, err := catalog.Embedded()
	if err != nil {
		return nil, err
	}
	return stacks.PlanOffline(stacks.BlueprintConfig{Stack: "e2e", Blueprint: blueprint},
		map[string]string{stacks.ConfigBlueprint: blueprint}, nil, cat)
}

// assertClusterOn checks that the EKS cluster and every node group sit in
// the given private subnets.
func assertClusterOn(t *testing.T, g *plan.Graph, subnets []string) {
	t.Helper()
	want := make([]any, len(subnets))
	for i, s := range subnets {
		want[i] = s
	}
	clusters := g.ByType("aws:eks/cluster:Cluster")
	if len(clusters) != 1 {
		t.Fatalf("%d EKS clusters planned", len(clusters))
	}
	vpcConfig, _ := clusters[0].Inputs["vpcConfig"].(map[string]any)
	if got := vpcConfig["subnetIds"]; !reflect.DeepEqual(got, want) {
		t.Errorf("cluster subnets %v, want %v", got, want)
	}
	for _, ng := range g.ByType("aws:eks/nodeGroup:NodeGroup") {
		if got := ng.Inputs["subnetIds"]; !reflect.DeepEqual(got, want) {
			t.Errorf("node group %s subnets %v, want %v", ng.Name, got, want)
		}
	}
}

// assertSecurityGroupsIn checks that every planned security group is in vpc.
func assertSecurityGroupsIn(t *testing.T, g *plan.Graph, vpc string) {
	t.Helper()
	sgs := g.ByType("aws:ec2/securityGroup:SecurityGroup")
	if len(sgs) == 0 {
		t.Fatal("no security group planned")
	}
	for _, sg := range sgs {
		if got := sg.Inputs["vpcId"]; got != vpc {
			t.Errorf("security group %s in %v, want %s", sg.Name, got, vpc)
		}
	}
}
