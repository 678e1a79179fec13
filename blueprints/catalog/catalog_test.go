package catalog

import (
	"strings"
	"testing"
)

func TestEmbeddedCatalogIsConsistent(t *testing.T) {
	c, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if c.Source == "" || c.Updated == "" {
		t.Error("catalogue does not say its source and date")
	}
	if n := len(c.Regions); n < 30 {
		t.Errorf("only %d regions", n)
	}
	// Facts the documentation and the demo rely on.
	facts := []struct {
		region, instanceType string
		offered              bool
	}{
		{"us-east-1", "p4d.24xlarge", true},
		{"eu-west-1", "p4d.24xlarge", true},
		{"af-south-1", "p4d.24xlarge", false},
		{"us-west-2", "p5.48xlarge", true},
		{"us-west-2", "g6.xlarge", true},
	}
	for _, f := range facts {
		r, ok := c.Region(f.region)
		if !ok {
			t.Fatalf("no region %s", f.region)
		}
		if r.Offers(f.instanceType) != f.offered {
			t.Errorf("%s offers %s = %v, want %v", f.region, f.instanceType, !f.offered, f.offered)
		}
	}
	for _, code := range c.RegionCodes() {
		if n := len(c.Regions[code].AvailabilityZones); n < 2 {
			t.Errorf("%s has %d AZs", code, n)
		}
	}
	for name, spec := range c.GPUInstanceTypes {
		mig := spec.GPUModel == "A100" || spec.GPUModel == "H100" || spec.GPUModel == "H200" || spec.GPUModel == "B200"
		if spec.MIG != mig {
			t.Errorf("%s (%s): mig = %v", name, spec.GPUModel, spec.MIG)
		}
	}
}

func TestParseRejectsInconsistentCatalogues(t *testing.T) {
	tests := map[string]struct{ yaml, want string }{
		"unknown field":        {"source: s\nupdated: d\nregion: {}\n", "field region not found"},
		"no source":            {"regions: {x-1: {availabilityZones: [x-1a]}}\n", "must say its source"},
		"no regions":           {"source: s\nupdated: d\n", "lists no region"},
		"foreign AZ":           {"source: s\nupdated: d\nregions: {eu-west-1: {availabilityZones: [us-east-1a]}}\n", "does not belong to the region"},
		"type not in table":    {"source: s\nupdated: d\nregions: {eu-west-1: {availabilityZones: [eu-west-1a], gpuInstanceTypes: [g9.xlarge]}}\n", `offers "g9.xlarge"`},
		"type without GPUs":    {"source: s\nupdated: d\ngpuInstanceTypes: {g9.xlarge: {gpuModel: X, gpus: 0}}\nregions: {eu-west-1: {availabilityZones: [eu-west-1a]}}\n", "gpus ≥ 1"},
		"region without zones": {"source: s\nupdated: d\nregions: {eu-west-1: {name: Ireland}}\n", "lists no availability zone"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error containing %q, got %v", tt.want, err)
			}
		})
	}
}

func TestMarshalRoundTrips(t *testing.T) {
	c, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data)
	if err != nil {
		t.Fatalf("marshalled catalogue does not parse: %v", err)
	}
	if len(back.Regions) != len(c.Regions) || len(back.GPUInstanceTypes) != len(c.GPUInstanceTypes) {
		t.Errorf("round trip lost data: %d/%d regions, %d/%d types", len(back.Regions), len(c.Regions), len(back.GPUInstanceTypes), len(c.GPUInstanceTypes))
	}
	if got, want := back.Regions["af-south-1"].GPUInstanceTypes, c.Regions["af-south-1"].GPUInstanceTypes; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("af-south-1 types changed: %v vs %v", got, want)
	}
}

func TestFamilies(t *testing.T) {
	got := Families([]string{"p5.48xlarge", "g5.xlarge", "g5.2xlarge", "g4dn.metal"})
	if strings.Join(got, " ") != "g4dn g5 p5" {
		t.Errorf("Families = %v", got)
	}
}
