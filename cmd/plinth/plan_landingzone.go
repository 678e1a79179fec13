package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/plinth-dev/plinth/stacks"
)

// planLandingZone is, in a plan, the network read from a Terraform landing
// zone (spec.network.existing.fromTerraform): which value came from which
// output of which root module.
type planLandingZone struct {
	// Dir is the root module directory (relative to the project root when
	// inside it); DirAsWritten is the blueprint's fromTerraform.dir.
	Dir          string `json:"dir"`
	DirAsWritten string `json:"dirAsWritten"`
	// Terraform is the binary that read the outputs, and its version.
	Terraform        string                 `json:"terraform"`
	TerraformVersion string                 `json:"terraformVersion,omitempty"`
	Values           []planLandingZoneValue `json:"values"`
}

// planLandingZoneValue is one field of spec.network.existing read from a
// Terraform output.
type planLandingZoneValue struct {
	// Field is the blueprint field it fills (spec.network.existing.vpcId).
	Field string `json:"field"`
	// Output is the Terraform output it was read from.
	Output string `json:"output"`
	// Value is a string or a list of strings; "(sensitive)" for an output
	// Terraform marks sensitive.
	Value     any  `json:"value"`
	Sensitive bool `json:"sensitive,omitempty"`
	// Source says where it came from, for people:
	// "terraform output vpc_id in ../landing-zone".
	Source string `json:"source"`
}

// landingZoneJSON is the landing zone of a plan (nil when it has none).
func landingZoneJSON(root string, p *stacks.OfflinePlan) *planLandingZone {
	lz := p.LandingZone
	if lz == nil {
		return nil
	}
	written := p.Env.Spec.Network.Existing.FromTerraform.Dir
	out := &planLandingZone{
		Dir:              displayPath(root, lz.Dir),
		DirAsWritten:     written,
		Terraform:        lz.Terraform,
		TerraformVersion: lz.TerraformVersion,
	}
	for _, v := range lz.Values {
		out.Values = append(out.Values, planLandingZoneValue{
			Field:     "spec.network.existing." + v.Field,
			Output:    v.Output,
			Value:     v.Value,
			Sensitive: v.Sensitive,
			Source:    fmt.Sprintf("terraform output %s in %s", v.Output, written),
		})
	}
	return out
}

// printLandingZone prints where the network's ids came from:
//
//	network from Terraform (terraform 1.5.7, `terraform output -json` in examples/x/landing-zone)
//	  vpcId = vpc-123 (terraform output vpc_id in landing-zone)
func printLandingZone(w io.Writer, lz *planLandingZone) {
	if lz == nil {
		return
	}
	version := ""
	if lz.TerraformVersion != "" {
		version = "terraform " + lz.TerraformVersion + ", "
	}
	fmt.Fprintf(w, "\nnetwork from Terraform (%s`terraform output -json` in %s; nothing there is changed)\n", version, lz.Dir)
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for _, v := range lz.Values {
		shown := fmt.Sprint(v.Value)
		if list, ok := v.Value.([]string); ok {
			shown = "[" + strings.Join(list, ", ") + "]"
		}
		fmt.Fprintf(tw, "  %s\t= %s (%s)\n", strings.TrimPrefix(v.Field, "spec.network.existing."), shown, v.Source)
	}
	tw.Flush()
}
