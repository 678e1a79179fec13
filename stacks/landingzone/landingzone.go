// Package landingzone reads the network of an existing Terraform landing
// zone: the VPC and subnet ids a blueprint's
// spec.network.existing.fromTerraform names as outputs of a Terraform root
// module. It runs `terraform output -json` there through terraform-exec and
// never plans, applies or initialises anything; the terraform binary comes
// from FindTerraform (never downloaded).
//
//	net, err := landingzone.Read(ctx, "/abs/path/landing-zone", *env.Spec.Network.Existing.FromTerraform)
//
// Every problem is an *Error naming the blueprint field, the directory, the
// output and what was expected, e.g.
//
//	spec.network.existing.fromTerraform.privateSubnetIds: output "private_subnets" of /x/landing-zone is a string, want a list of strings
package landingzone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/plinth-dev/plinth/blueprints"
)

// FieldPath is the blueprint field holding the output names; errors name
// FieldPath + "." + the field they concern (dir, vpcId, privateSubnetIds,
// publicSubnetIds).
const FieldPath = "spec.network.existing.fromTerraform"

// Sensitive replaces the value of a sensitive output wherever Plinth shows
// where a value came from.
const Sensitive = "(sensitive)"

// MinPrivateSubnets is the fewest private subnets an EKS cluster can use
// (two AZs), as for ids given directly in the blueprint.
const MinPrivateSubnets = 2

// Network is the network read from a landing zone, with where each value
// came from.
type Network struct {
	// Dir is the root module directory that was read.
	Dir string `json:"dir"`
	// Terraform is the binary that read it, and TerraformVersion its version.
	Terraform        string `json:"terraform"`
	TerraformVersion string `json:"terraformVersion,omitempty"`
	// VPCID, PrivateSubnetIDs and PublicSubnetIDs are the ids read (PublicSubnetIDs
	// only when the blueprint names an output for them).
	VPCID            string   `json:"vpcId"`
	PrivateSubnetIDs []string `json:"privateSubnetIds"`
	PublicSubnetIDs  []string `json:"publicSubnetIds,omitempty"`
	// Values says, for each field, which output it came from.
	Values []Value `json:"values"`
}

// Value is one field of spec.network.existing filled from a Terraform output.
type Value struct {
	// Field is the field of spec.network.existing it fills: vpcId,
	// privateSubnetIds or publicSubnetIds.
	Field string `json:"field"`
	// Output is the Terraform output it was read from.
	Output string `json:"output"`
	// Value is a string or a list of strings; Sensitive (the string
	// "(sensitive)") for an output Terraform marks sensitive.
	Value any `json:"value"`
	// Sensitive is set when Terraform marks the output sensitive.
	Sensitive bool `json:"sensitive,omitempty"`
}

// Describe renders v as "vpcId = vpc-123 (terraform output vpc_id in DIR)",
// with dir as the caller wants it shown.
func (v Value) Describe(dir string) string {
	var shown string
	switch x := v.Value.(type) {
	case []string:
		shown = "[" + strings.Join(x, ", ") + "]"
	default:
		shown = fmt.Sprint(x)
	}
	return fmt.Sprintf("%s = %s (terraform output %s in %s)", v.Field, shown, v.Output, dir)
}

// Kind tells what went wrong reading a landing zone.
type Kind string

// Kinds of Error.
const (
	// KindNoDir: the directory does not exist or is not a directory.
	KindNoDir Kind = "no-dir"
	// KindNotRootModule: the directory holds no Terraform configuration.
	KindNotRootModule Kind = "not-root-module"
	// KindNoTerraform: no terraform binary was found.
	KindNoTerraform Kind = "no-terraform"
	// KindNotInitialised: terraform init (and apply) has not been run there.
	KindNotInitialised Kind = "not-initialised"
	// KindEmptyState: the state holds no outputs (never applied, or destroyed).
	KindEmptyState Kind = "empty-state"
	// KindMissingOutput: the named output is not in the state.
	KindMissingOutput Kind = "missing-output"
	// KindWrongType: the output's type is not the one the field needs.
	KindWrongType Kind = "wrong-type"
	// KindBadValue: the output has the right type but not a usable value
	// (not a VPC or subnet id, too few subnets, a duplicate).
	KindBadValue Kind = "bad-value"
	// KindTerraform: terraform itself failed.
	KindTerraform Kind = "terraform"
)

// Error is one problem reading a landing zone.
type Error struct {
	// Kind tells what went wrong.
	Kind Kind
	// Field is the blueprint field path it concerns
	// (spec.network.existing.fromTerraform.privateSubnetIds).
	Field string
	// Dir is the root module directory; Output the output name ("" when
	// the problem is with the directory as a whole).
	Dir, Output string
	// Message says what is wrong and how to fix it (without the field path).
	Message string
	// Err is the underlying error (terraform's), if any.
	Err error
}

// Error renders "field: message".
func (e *Error) Error() string { return e.Field + ": " + e.Message }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Errors are every problem found with the outputs at once.
type Errors []*Error

// Error renders one problem per line.
func (l Errors) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Read runs `terraform output -json` in dir (an existing, applied
// Terraform root module) and returns the outputs that outputs names: the
// VPC id (a string), the private subnet ids and, when named, the public
// subnet ids (lists of strings). It fails with an *Error when dir is not a
// readable root module, is not initialised or has an empty state, and with
// Errors (one per field) when outputs are missing, of the wrong type, or
// not VPC/subnet ids.
func Read(ctx context.Context, dir string, outputs blueprints.TerraformOutputs) (*Network, error) {
	dirField := FieldPath + ".dir"
	info, err := os.Stat(dir)
	switch {
	case err != nil && errors.Is(err, os.ErrNotExist):
		return nil, &Error{Kind: KindNoDir, Field: dirField, Dir: dir, Err: err,
			Message: fmt.Sprintf("%s does not exist (a relative dir is taken from the blueprint file's directory)", dir)}
	case err != nil:
		return nil, &Error{Kind: KindNoDir, Field: dirField, Dir: dir, Err: err, Message: err.Error()}
	case !info.IsDir():
		return nil, &Error{Kind: KindNoDir, Field: dirField, Dir: dir, Message: fmt.Sprintf("%s is not a directory; name the Terraform root module's directory", dir)}
	}
	if ok, err := hasConfiguration(dir); err != nil {
		return nil, &Error{Kind: KindNoDir, Field: dirField, Dir: dir, Err: err, Message: err.Error()}
	} else if !ok {
		return nil, &Error{Kind: KindNotRootModule, Field: dirField, Dir: dir,
			Message: fmt.Sprintf("%s holds no Terraform configuration (no *.tf or *.tf.json files); name the landing zone's root module directory", dir)}
	}

	bin, err := FindTerraform()
	if err != nil {
		return nil, &Error{Kind: KindNoTerraform, Field: dirField, Dir: dir, Err: err, Message: "cannot read the landing zone: " + err.Error()}
	}
	tf, err := tfexec.NewTerraform(dir, bin)
	if err != nil {
		return nil, &Error{Kind: KindTerraform, Field: dirField, Dir: dir, Err: err, Message: err.Error()}
	}
	net := &Network{Dir: dir, Terraform: bin}
	if v, _, err := tf.Version(ctx, true); err == nil && v != nil {
		net.TerraformVersion = v.String()
	}

	outs, err := tf.Output(ctx)
	if err != nil {
		return nil, outputError(dir, bin, err)
	}
	if len(outs) == 0 {
		return nil, emptyStateError(dir)
	}

	var problems Errors
	if id, v, err := readString(dir, outs, "vpcId", outputs.VPCID); err != nil {
		problems = append(problems, err)
	} else {
		if !strings.HasPrefix(id, "vpc-") {
			problems = append(problems, badValue(dir, "vpcId", outputs.VPCID, "is %q, not a VPC id (vpc-...)", id))
		}
		net.VPCID = id
		net.Values = append(net.Values, v)
	}
	if ids, v, err := readIDs(dir, outs, "privateSubnetIds", outputs.PrivateSubnetIDs, MinPrivateSubnets); err != nil {
		problems = append(problems, err...)
	} else {
		net.PrivateSubnetIDs = ids
		net.Values = append(net.Values, v)
	}
	if outputs.PublicSubnetIDs != "" {
		if ids, v, err := readIDs(dir, outs, "publicSubnetIds", outputs.PublicSubnetIDs, 0); err != nil {
			problems = append(problems, err...)
		} else {
			net.PublicSubnetIDs = ids
			net.Values = append(net.Values, v)
		}
	}
	if dup := firstDuplicate(slices.Concat(net.PrivateSubnetIDs, net.PublicSubnetIDs)); dup != "" && len(problems) == 0 {
		problems = append(problems, badValue(dir, "publicSubnetIds", outputs.PublicSubnetIDs,
			"lists subnet %s, which output %q lists as private too; a subnet is either private or public", dup, outputs.PrivateSubnetIDs))
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return net, nil
}

// hasConfiguration reports whether dir holds Terraform configuration files.
func hasConfiguration(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if !e.IsDir() && (strings.HasSuffix(e.Name(), ".tf") || strings.HasSuffix(e.Name(), ".tf.json")) {
			return true, nil
		}
	}
	return false, nil
}

// outputError explains a failed `terraform output`.
func outputError(dir, bin string, err error) *Error {
	msg := terraformMessage(err)
	e := &Error{Kind: KindTerraform, Field: FieldPath + ".dir", Dir: dir, Err: err}
	if strings.Contains(msg, "terraform init") || strings.Contains(strings.ToLower(msg), "initialization required") {
		e.Kind = KindNotInitialised
		e.Message = fmt.Sprintf("%s is not initialised (terraform: %s): run `terraform init` there, then `terraform apply` if it was never applied", dir, msg)
		return e
	}
	e.Message = fmt.Sprintf("`%s output -json` failed in %s: %s", filepath.Base(bin), dir, msg)
	return e
}

// terraformMessage is the telling line of a terraform error: its "Error:"
// line (terraform-exec puts the CLI's stderr after the exit status).
func terraformMessage(err error) string {
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(strings.TrimLeft(line, "│╷╵ "))
		if m, ok := strings.CutPrefix(line, "Error: "); ok {
			return strings.TrimSpace(m)
		}
	}
	first, _, _ := strings.Cut(strings.TrimSpace(err.Error()), "\n")
	return first
}

// emptyStateError explains a state with no outputs: never initialised and
// applied, or applied and destroyed since.
func emptyStateError(dir string) *Error {
	e := &Error{Field: FieldPath + ".dir", Dir: dir}
	if !exists(filepath.Join(dir, ".terraform")) && !exists(filepath.Join(dir, "terraform.tfstate")) {
		e.Kind = KindNotInitialised
		e.Message = fmt.Sprintf("%s has not been initialised or applied (no .terraform directory, no terraform.tfstate, no outputs): run `terraform init` and `terraform apply` there first", dir)
		return e
	}
	e.Kind = KindEmptyState
	e.Message = fmt.Sprintf("the Terraform state of %s is empty (no outputs): run `terraform apply` there first (was it never applied, or destroyed?)", dir)
	return e
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// readString reads a string output for field.
func readString(dir string, outs map[string]tfexec.OutputMeta, field, name string) (string, Value, *Error) {
	meta, err := lookupOutput(dir, outs, field, name)
	if err != nil {
		return "", Value{}, err
	}
	var s string
	if typeName(meta.Type) != "string" || json.Unmarshal(meta.Value, &s) != nil {
		return "", Value{}, wrongType(dir, field, name, meta.Type, "a string")
	}
	v := Value{Field: field, Output: name, Value: s, Sensitive: meta.Sensitive}
	if meta.Sensitive {
		v.Value = Sensitive
	}
	return s, v, nil
}

// readIDs reads a list of subnet ids for field: a list, set or tuple of
// strings, at least min of them, each a subnet id, none twice.
func readIDs(dir string, outs map[string]tfexec.OutputMeta, field, name string, min int) ([]string, Value, Errors) {
	meta, err := lookupOutput(dir, outs, field, name)
	if err != nil {
		return nil, Value{}, Errors{err}
	}
	var ids []string
	if !stringList(meta.Type) || json.Unmarshal(meta.Value, &ids) != nil {
		return nil, Value{}, Errors{wrongType(dir, field, name, meta.Type, "a list of strings")}
	}
	var problems Errors
	if len(ids) < min {
		problems = append(problems, badValue(dir, field, name, "has %d subnet id(s), want at least %d (EKS needs private subnets in two AZs)", len(ids), min))
	}
	for i, id := range ids {
		if !strings.HasPrefix(id, "subnet-") {
			problems = append(problems, badValue(dir, field, name, "element %d is %q, not a subnet id (subnet-...)", i, id))
		}
	}
	if dup := firstDuplicate(ids); dup != "" {
		problems = append(problems, badValue(dir, field, name, "lists subnet %s twice", dup))
	}
	if len(problems) > 0 {
		return nil, Value{}, problems
	}
	v := Value{Field: field, Output: name, Value: ids, Sensitive: meta.Sensitive}
	if meta.Sensitive {
		v.Value = Sensitive
	}
	return ids, v, nil
}

// lookupOutput finds an output, or says which outputs there are.
func lookupOutput(dir string, outs map[string]tfexec.OutputMeta, field, name string) (tfexec.OutputMeta, *Error) {
	if meta, ok := outs[name]; ok {
		return meta, nil
	}
	names := make([]string, 0, len(outs))
	for n := range outs {
		names = append(names, n)
	}
	sort.Strings(names)
	return tfexec.OutputMeta{}, &Error{Kind: KindMissingOutput, Field: FieldPath + "." + field, Dir: dir, Output: name,
		Message: fmt.Sprintf("output %q is not in the state of %s; its outputs are: %s (an output whose value is null is not listed)",
			name, dir, strings.Join(names, ", "))}
}

func wrongType(dir, field, name string, typ json.RawMessage, want string) *Error {
	return &Error{Kind: KindWrongType, Field: FieldPath + "." + field, Dir: dir, Output: name,
		Message: fmt.Sprintf("output %q of %s is %s, want %s", name, dir, describeType(typ), want)}
}

func badValue(dir, field, name, format string, args ...any) *Error {
	return &Error{Kind: KindBadValue, Field: FieldPath + "." + field, Dir: dir, Output: name,
		Message: fmt.Sprintf("output %q of %s ", name, dir) + fmt.Sprintf(format, args...)}
}

func firstDuplicate(ids []string) string {
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			return id
		}
		seen[id] = true
	}
	return ""
}
