package stacks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/blueprints/catalog"
	"github.com/plinth-dev/plinth/stacks/landingzone/landingzonetest"
)

// planBlueprint plans a blueprint file offline.
func planBlueprint(t *testing.T, path string) (*OfflinePlan, error) {
	t.Helper()
	cat, err := catalog.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	return PlanOffline(BlueprintConfig{Stack: "test", Blueprint: path}, map[string]string{ConfigBlueprint: path}, nil, cat)
}

var (
	lzVPC     = "vpc-0a1b2c3d4e5f67890"
	lzPrivate = []string{"subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"}
	lzPublic  = []string{"subnet-0a1b2c3d4e5f60101", "subnet-0a1b2c3d4e5f60102", "subnet-0a1b2c3d4e5f60103"}
)

// The example's blueprint plans on the network its Terraform landing zone
// outputs: no VPC or subnet is created, and the cluster, node groups and
// database use the ids Terraform gave.
func TestPlanOnATerraformLandingZone(t *testing.T) {
	blueprint := landingzonetest.AppliedExample(t)
	p, err := planBlueprint(t, blueprint)
	if err != nil {
		t.Fatal(err)
	}
	lz := p.LandingZone
	if lz == nil {
		t.Fatal("no landing zone in the plan")
	}
	if lz.Dir != filepath.Join(filepath.Dir(blueprint), "landing-zone") || lz.VPCID != lzVPC ||
		!reflect.DeepEqual(lz.PrivateSubnetIDs, lzPrivate) || !reflect.DeepEqual(lz.PublicSubnetIDs, lzPublic) {
		t.Errorf("landing zone = %+v", lz)
	}
	if len(lz.Values) != 3 || lz.Values[0].Output != "vpc_id" || lz.Values[2].Field != "publicSubnetIds" {
		t.Errorf("values = %+v", lz.Values)
	}
	for _, typ := range []string{"aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/natGateway:NatGateway", "aws:ec2/internetGateway:InternetGateway"} {
		if n := len(p.Graph.ByType(typ)); n != 0 {
			t.Errorf("%d %s created on an existing network", n, typ)
		}
	}
	clusters := p.Graph.ByType("aws:eks/cluster:Cluster")
	if len(clusters) != 1 {
		t.Fatalf("%d clusters", len(clusters))
	}
	if got := get(clusters[0].Inputs, "vpcConfig", "subnetIds"); !reflect.DeepEqual(got, toAny(lzPrivate)) {
		t.Errorf("cluster subnets = %v, want the landing zone's private subnets", got)
	}
	for _, ng := range p.Graph.ByType("aws:eks/nodeGroup:NodeGroup") {
		if got := ng.Inputs["subnetIds"]; !reflect.DeepEqual(got, toAny(lzPrivate)) {
			t.Errorf("node group %s subnets = %v", ng.Name, got)
		}
	}
	sawVPC := false
	for _, sg := range p.Graph.ByType("aws:ec2/securityGroup:SecurityGroup") {
		if sg.Inputs["vpcId"] == lzVPC {
			sawVPC = true
		}
	}
	if !sawVPC {
		t.Error("no security group in the landing zone's VPC")
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// Problems with the landing zone are blueprint errors: file, line and
// field path of the fromTerraform field, the directory and the output.
func TestLandingZoneErrorsArePositioned(t *testing.T) {
	landingzonetest.Terraform(t)
	tests := []struct {
		name string
		// edit changes the copied example; apply applies its landing zone first.
		edit  func(t *testing.T, blueprint string)
		apply bool
		want  []string
	}{
		{
			name: "not applied",
			want: []string{"blueprint.yaml:23:14: spec.network.existing.fromTerraform.dir: ", "landing-zone has not been initialised or applied", "run `terraform init` and `terraform apply` there first"},
		},
		{
			name: "missing dir",
			edit: func(t *testing.T, b string) {
				landingzonetest.ReplaceInFile(t, b, "dir: landing-zone ", "dir: ../elsewhere ")
			},
			want: []string{"blueprint.yaml:23:14: spec.network.existing.fromTerraform.dir: ", "elsewhere does not exist"},
		},
		{
			name:  "wrong type",
			apply: true,
			edit: func(t *testing.T, b string) {
				landingzonetest.ReplaceInFile(t, b, "privateSubnetIds: private_subnets", "privateSubnetIds: vpc_id")
			},
			want: []string{"blueprint.yaml:25:27: spec.network.existing.fromTerraform.privateSubnetIds: output \"vpc_id\" of ", " is a string, want a list of strings"},
		},
		{
			name:  "missing output",
			apply: true,
			edit: func(t *testing.T, b string) {
				landingzonetest.ReplaceInFile(t, b, "publicSubnetIds: public_subnets", "publicSubnetIds: public_subnet_ids")
			},
			want: []string{"blueprint.yaml:26:26: spec.network.existing.fromTerraform.publicSubnetIds: output \"public_subnet_ids\" is not in the state of ", "its outputs are: availability_zones, private_subnets, public_subnets, vpc_id"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blueprint := landingzonetest.CopyExample(t, t.TempDir())
			if tt.apply {
				landingzonetest.Apply(t, os.Getenv("PLINTH_TERRAFORM"), filepath.Join(filepath.Dir(blueprint), "landing-zone"))
			}
			if tt.edit != nil {
				tt.edit(t, blueprint)
			}
			_, err := planBlueprint(t, blueprint)
			var list blueprints.ErrorList
			if !errors.As(err, &list) || len(list) != 1 {
				t.Fatalf("err = %v (%T), want one blueprint error", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(list[0].Error(), w) {
					t.Errorf("error\n  %v\nlacks %q", list[0], w)
				}
			}
			if !strings.HasPrefix(list[0].File, filepath.Dir(blueprint)) {
				t.Errorf("error names file %q", list[0].File)
			}
		})
	}
}

func TestLandingZoneDir(t *testing.T) {
	blueprint := landingzonetest.CopyExample(t, t.TempDir())
	cat, err := catalog.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	env, err := blueprints.Check(blueprint, blueprints.LoadOptions{}, cat)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := LandingZoneDir(env), filepath.Join(filepath.Dir(blueprint), "landing-zone"); got != want {
		t.Errorf("LandingZoneDir = %q, want %q", got, want)
	}
	abs := t.TempDir()
	env.Spec.Network.Existing.FromTerraform.Dir = abs
	if got := LandingZoneDir(env); got != abs {
		t.Errorf("absolute dir: LandingZoneDir = %q", got)
	}
	// No landing zone: nothing to read, no terraform run.
	t.Setenv("PLINTH_TERRAFORM", "/nonexistent")
	shipped, err := blueprints.Check("gpu-training", blueprints.LoadOptions{}, cat)
	if err != nil {
		t.Fatal(err)
	}
	if LandingZoneDir(shipped) != "" {
		t.Error("a blueprint without fromTerraform has a landing zone dir")
	}
	if lz, err := LandingZone(context.Background(), shipped); lz != nil || err != nil {
		t.Errorf("LandingZone = %v, %v", lz, err)
	}
}
