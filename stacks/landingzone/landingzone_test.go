package landingzone

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/test/toolchain"
)

// These tests run the real terraform (the pinned v1.5.7 that `make tools`
// builds) on provider-less root modules (locals, outputs, terraform_data)
// in temporary directories, then read them as Plinth does.

// exampleModule is the landing zone of examples/terraform-landing-zone.
const exampleModule = "../../examples/terraform-landing-zone/landing-zone"

// requireTerraform points PLINTH_TERRAFORM at the pinned terraform and
// gives terraform an empty CLI config, or skips the test saying why.
func requireTerraform(t *testing.T) string {
	t.Helper()
	bin, err := toolchain.Path(toolchain.Terraform)
	if err != nil {
		t.Skipf("skipping: the pinned terraform is needed: %v", err)
	}
	t.Setenv(EnvTerraform, bin)
	cfg := filepath.Join(t.TempDir(), "terraformrc")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TF_CLI_CONFIG_FILE", cfg) // the environment may name a file that does not exist
	t.Setenv("CHECKPOINT_DISABLE", "1")
	return bin
}

// module writes a root module (file name → content) into a new directory.
func module(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// apply runs terraform init and apply in dir.
func apply(t *testing.T, bin, dir string) {
	t.Helper()
	tf, err := tfexec.NewTerraform(dir, bin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := tf.Init(ctx); err != nil {
		t.Fatalf("terraform init in %s: %v", dir, err)
	}
	if err := tf.Apply(ctx); err != nil {
		t.Fatalf("terraform apply in %s: %v", dir, err)
	}
}

// copyModule copies the .tf files of src into a new directory.
func copyModule(t *testing.T, src string) string {
	t.Helper()
	files := map[string]string{}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tf") {
			data, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			files[e.Name()] = string(data)
		}
	}
	return module(t, files)
}

var exampleOutputs = blueprints.TerraformOutputs{
	Dir: "landing-zone", VPCID: "vpc_id", PrivateSubnetIDs: "private_subnets", PublicSubnetIDs: "public_subnets",
}

func TestReadExampleLandingZone(t *testing.T) {
	bin := requireTerraform(t)
	dir := copyModule(t, exampleModule)
	start := time.Now()
	apply(t, bin, dir)
	t.Logf("terraform init+apply of the example: %s", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	net, err := Read(context.Background(), dir, exampleOutputs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Read (terraform version + output -json): %s", time.Since(start).Round(time.Millisecond))

	want := &Network{
		Dir: dir, Terraform: bin, TerraformVersion: "1.5.7",
		VPCID:            "vpc-0a1b2c3d4e5f67890",
		PrivateSubnetIDs: []string{"subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"},
		PublicSubnetIDs:  []string{"subnet-0a1b2c3d4e5f60101", "subnet-0a1b2c3d4e5f60102", "subnet-0a1b2c3d4e5f60103"},
	}
	want.Values = []Value{
		{Field: "vpcId", Output: "vpc_id", Value: want.VPCID},
		{Field: "privateSubnetIds", Output: "private_subnets", Value: want.PrivateSubnetIDs},
		{Field: "publicSubnetIds", Output: "public_subnets", Value: want.PublicSubnetIDs},
	}
	if !reflect.DeepEqual(net, want) {
		t.Errorf("Read =\n%+v\nwant\n%+v", net, want)
	}
	if got := net.Values[0].Describe("../landing-zone"); got != "vpcId = vpc-0a1b2c3d4e5f67890 (terraform output vpc_id in ../landing-zone)" {
		t.Errorf("Describe = %q", got)
	}
	if got := net.Values[1].Describe("lz"); !strings.HasPrefix(got, "privateSubnetIds = [subnet-0a1b2c3d4e5f60001, subnet-") {
		t.Errorf("Describe = %q", got)
	}

	// Without publicSubnetIds, the public subnets are not read.
	only := exampleOutputs
	only.PublicSubnetIDs = ""
	net, err = Read(context.Background(), dir, only)
	if err != nil {
		t.Fatal(err)
	}
	if net.PublicSubnetIDs != nil || len(net.Values) != 2 {
		t.Errorf("public subnets read though not asked for: %+v", net)
	}
}

// outputsModule is a root module whose outputs have every shape the error
// cases need, applied so they are in the state.
const outputsModule = `
resource "terraform_data" "x" { input = "vpc-0a1b2c3d4e5f67890" }
output "vpc_id"        { value = terraform_data.x.output }
output "subnets"       { value = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"] }
output "subnet_set"    { value = toset(["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]) }
output "one_subnet"    { value = ["subnet-0a1b2c3d4e5f60001"] }
output "a_string"      { value = "subnet-0a1b2c3d4e5f60001" }
output "numbers"       { value = [1, 2] }
output "subnet_map"    { value = { a = "subnet-0a1b2c3d4e5f60001" } }
output "object"        { value = { id = "vpc-1", cidr = "10.0.0.0/16" } }
output "not_vpc"       { value = "sg-0123456789abcdef0" }
output "not_subnets"   { value = ["subnet-0a1b2c3d4e5f60001", "sg-1"] }
output "dup_subnets"   { value = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60001"] }
output "public"        { value = ["subnet-0a1b2c3d4e5f60002"] }
output "null_output"   { value = null }
output "secret_vpc" {
  value     = "vpc-0a1b2c3d4e5f67890"
  sensitive = true
}
`

func TestReadErrors(t *testing.T) {
	bin := requireTerraform(t)
	applied := module(t, map[string]string{"main.tf": outputsModule})
	apply(t, bin, applied)

	// Never initialised or applied: no state at all.
	fresh := module(t, map[string]string{"main.tf": outputsModule})
	// A backend block terraform refuses to use before `terraform init`.
	backend := module(t, map[string]string{"main.tf": `terraform {
  backend "local" { path = "lz.tfstate" }
}
output "vpc_id" { value = "vpc-0a1b2c3d4e5f67890" }
`})
	// Applied, then destroyed: a state with no outputs.
	destroyed := module(t, map[string]string{"main.tf": `resource "terraform_data" "x" { input = "vpc-0a1b2c3d4e5f67890" }
output "vpc_id" { value = terraform_data.x.output }
`})
	apply(t, bin, destroyed)
	tf, err := tfexec.NewTerraform(destroyed, bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := tf.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	noConfig := module(t, map[string]string{"README.md": "not terraform"})
	aFile := filepath.Join(noConfig, "README.md")

	good := blueprints.TerraformOutputs{VPCID: "vpc_id", PrivateSubnetIDs: "subnets"}
	with := func(f func(*blueprints.TerraformOutputs)) blueprints.TerraformOutputs {
		o := good
		f(&o)
		return o
	}
	const field = FieldPath + "."
	tests := []struct {
		name    string
		dir     string
		outputs blueprints.TerraformOutputs
		// want is, per error, its kind, field and a part of its message.
		want []struct {
			kind  Kind
			field string
			text  string
		}
	}{
		{"missing dir", filepath.Join(noConfig, "nope"), good, wants(KindNoDir, field+"dir", "nope does not exist")},
		{"dir is a file", aFile, good, wants(KindNoDir, field+"dir", "README.md is not a directory")},
		{"no configuration", noConfig, good, wants(KindNotRootModule, field+"dir", "holds no Terraform configuration")},
		{"uninitialised", fresh, good, wants(KindNotInitialised, field+"dir", "has not been initialised or applied (no .terraform directory, no terraform.tfstate, no outputs): run `terraform init` and `terraform apply` there first")},
		{"uninitialised backend", backend, good, wants(KindNotInitialised, field+"dir", `is not initialised (terraform: Backend initialization required, please run "terraform init"): run `+"`terraform init`")},
		{"destroyed", destroyed, good, wants(KindEmptyState, field+"dir", "is empty (no outputs): run `terraform apply` there first")},
		{"missing output", applied, with(func(o *blueprints.TerraformOutputs) { o.VPCID = "vpc" }),
			wants(KindMissingOutput, field+"vpcId", `output "vpc" is not in the state of `+applied+"; its outputs are: a_string, dup_subnets, not_subnets")},
		{"null output", applied, with(func(o *blueprints.TerraformOutputs) { o.PublicSubnetIDs = "null_output" }),
			wants(KindMissingOutput, field+"publicSubnetIds", `output "null_output" is not in the state`)},
		{"string for a list", applied, with(func(o *blueprints.TerraformOutputs) { o.PrivateSubnetIDs = "a_string" }),
			wants(KindWrongType, field+"privateSubnetIds", `output "a_string" of `+applied+" is a string, want a list of strings")},
		{"list for a string", applied, with(func(o *blueprints.TerraformOutputs) { o.VPCID = "subnets" }),
			wants(KindWrongType, field+"vpcId", `output "subnets" of `+applied+" is a list of strings, want a string")},
		{"numbers", applied, with(func(o *blueprints.TerraformOutputs) { o.PrivateSubnetIDs = "numbers" }),
			wants(KindWrongType, field+"privateSubnetIds", "is a list of numbers, want a list of strings")},
		{"map", applied, with(func(o *blueprints.TerraformOutputs) { o.PrivateSubnetIDs = "subnet_map" }),
			wants(KindWrongType, field+"privateSubnetIds", "is an object with attributes a, want a list of strings")},
		{"object", applied, with(func(o *blueprints.TerraformOutputs) { o.VPCID = "object" }),
			wants(KindWrongType, field+"vpcId", "is an object with attributes cidr, id, want a string")},
		{"not a vpc id", applied, with(func(o *blueprints.TerraformOutputs) { o.VPCID = "not_vpc" }),
			wants(KindBadValue, field+"vpcId", `is "sg-0123456789abcdef0", not a VPC id (vpc-...)`)},
		{"one private subnet", applied, with(func(o *blueprints.TerraformOutputs) { o.PrivateSubnetIDs = "one_subnet" }),
			wants(KindBadValue, field+"privateSubnetIds", "has 1 subnet id(s), want at least 2")},
		{"not subnet ids", applied, with(func(o *blueprints.TerraformOutputs) { o.PrivateSubnetIDs = "not_subnets" }),
			wants(KindBadValue, field+"privateSubnetIds", `element 1 is "sg-1", not a subnet id`)},
		{"duplicate subnet", applied, with(func(o *blueprints.TerraformOutputs) { o.PrivateSubnetIDs = "dup_subnets" }),
			wants(KindBadValue, field+"privateSubnetIds", "lists subnet subnet-0a1b2c3d4e5f60001 twice")},
		{"public is private too", applied, with(func(o *blueprints.TerraformOutputs) { o.PublicSubnetIDs = "public" }),
			wants(KindBadValue, field+"publicSubnetIds", "lists subnet subnet-0a1b2c3d4e5f60002, which output \"subnets\" lists as private too")},
		{"every problem at once", applied, blueprints.TerraformOutputs{VPCID: "subnets", PrivateSubnetIDs: "a_string", PublicSubnetIDs: "nope"},
			append(append(wants(KindWrongType, field+"vpcId", "want a string"),
				wants(KindWrongType, field+"privateSubnetIds", "want a list of strings")...),
				wants(KindMissingOutput, field+"publicSubnetIds", `output "nope"`)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			net, err := Read(context.Background(), tt.dir, tt.outputs)
			if err == nil {
				t.Fatalf("Read succeeded: %+v", net)
			}
			var got []*Error
			var list Errors
			var one *Error
			switch {
			case errors.As(err, &list):
				got = list
			case errors.As(err, &one):
				got = []*Error{one}
			default:
				t.Fatalf("error %T is not an *Error or Errors: %v", err, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d errors, want %d:\n%v", len(got), len(tt.want), err)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Kind != w.kind || g.Field != w.field || !strings.Contains(g.Message, w.text) {
					t.Errorf("error %d = [%s] %v\nwant   [%s] %s: ...%s...", i, g.Kind, g, w.kind, w.field, w.text)
				}
				if !strings.HasPrefix(g.Error(), g.Field+": ") {
					t.Errorf("error %q does not start with its field path", g)
				}
				if g.Dir != tt.dir {
					t.Errorf("error %d names dir %q, want %q", i, g.Dir, tt.dir)
				}
			}
		})
	}
}

func wants(kind Kind, field, text string) []struct {
	kind  Kind
	field string
	text  string
} {
	return []struct {
		kind  Kind
		field string
		text  string
	}{{kind, field, text}}
}

func TestReadSetsAndSensitiveOutputs(t *testing.T) {
	bin := requireTerraform(t)
	dir := module(t, map[string]string{"main.tf": outputsModule})
	apply(t, bin, dir)
	net, err := Read(context.Background(), dir, blueprints.TerraformOutputs{VPCID: "secret_vpc", PrivateSubnetIDs: "subnet_set"})
	if err != nil {
		t.Fatal(err)
	}
	if net.VPCID != "vpc-0a1b2c3d4e5f67890" || len(net.PrivateSubnetIDs) != 2 {
		t.Errorf("ids = %q %q", net.VPCID, net.PrivateSubnetIDs)
	}
	// A sensitive output is used, but never shown.
	if v := net.Values[0]; !v.Sensitive || v.Value != Sensitive || strings.Contains(v.Describe("d"), "vpc-0a1b") {
		t.Errorf("sensitive output shown: %+v / %s", v, v.Describe("d"))
	}
	data, err := json.Marshal(net.Values)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "vpc-0a1b") {
		t.Errorf("sensitive value in JSON: %s", data)
	}
}

func TestReadWithoutTerraform(t *testing.T) {
	dir := module(t, map[string]string{"main.tf": `output "vpc_id" { value = "vpc-1" }`})
	t.Setenv(EnvTerraform, filepath.Join(dir, "no-such-terraform"))
	_, err := Read(context.Background(), dir, blueprints.TerraformOutputs{VPCID: "vpc_id", PrivateSubnetIDs: "s"})
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindNoTerraform || !strings.Contains(err.Error(), EnvTerraform+"=") {
		t.Errorf("err = %v", err)
	}
}

func TestTerraformMessage(t *testing.T) {
	err := errors.New("exit status 1\n\n╷\n│ Error: Backend initialization required, please run \"terraform init\"\n│ \n│ Reason: ...\n╵\n")
	if got := terraformMessage(err); got != `Backend initialization required, please run "terraform init"` {
		t.Errorf("got %q", got)
	}
	if got := terraformMessage(errors.New("signal: killed")); got != "signal: killed" {
		t.Errorf("got %q", got)
	}
}

func TestDescribeType(t *testing.T) {
	for _, tt := range []struct{ typ, want string }{
		{`"string"`, "a string"},
		{`"number"`, "a number"},
		{`"bool"`, "a bool"},
		{`"dynamic"`, "of no fixed type (dynamic)"},
		{`["list","string"]`, "a list of strings"},
		{`["set","number"]`, "a set of numbers"},
		{`["map","string"]`, "a map of strings"},
		{`["list",["list","string"]]`, "a list of lists of strings"},
		{`["tuple",["string","string"]]`, "a list of strings"},
		{`["tuple",["string","number"]]`, "a list of mixed types"},
		{`["tuple",[]]`, "an empty list"},
		{`["object",{"b":"string","a":"number"}]`, "an object with attributes a, b"},
		{`["object",{}]`, "an empty object"},
		{`["list"]`, "of a type Plinth does not know"},
		{`42`, "of a type Plinth does not know"},
	} {
		if got := describeType(json.RawMessage(tt.typ)); got != tt.want {
			t.Errorf("describeType(%s) = %q, want %q", tt.typ, got, tt.want)
		}
	}
	for _, tt := range []struct {
		typ  string
		want bool
	}{
		{`["list","string"]`, true}, {`["set","string"]`, true}, {`["tuple",["string"]]`, true}, {`["tuple",[]]`, true},
		{`["list","number"]`, false}, {`["map","string"]`, false}, {`"string"`, false}, {`["tuple",["string","bool"]]`, false},
	} {
		if got := stringList(json.RawMessage(tt.typ)); got != tt.want {
			t.Errorf("stringList(%s) = %v", tt.typ, got)
		}
	}
}
