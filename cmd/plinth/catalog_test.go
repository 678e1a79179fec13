package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/blueprints/catalog"
	"github.com/plinth-dev/plinth/test/moto"
)

func embeddedCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func TestCatalogShow(t *testing.T) {
	cat := embeddedCatalog(t)

	t.Run("every region", func(t *testing.T) {
		r := plinth(t, "catalog", "show")
		r.wantExit(t, exitOK)
		if !strings.HasPrefix(r.stdout, "region catalogue, updated "+cat.Updated+"\n") {
			t.Errorf("no header with the date\n%v", r)
		}
		lines := strings.Split(r.stdout, "\n")
		for _, code := range cat.RegionCodes() {
			reg := cat.Regions[code]
			if !slices.ContainsFunc(lines, func(l string) bool {
				f := strings.Fields(l)
				return len(f) > 0 && f[0] == code && strings.Contains(l, reg.Name)
			}) {
				t.Errorf("no line for %s (%s)", code, reg.Name)
			}
		}
		if len(cat.Regions) < 30 {
			t.Errorf("the embedded catalogue has only %d regions", len(cat.Regions))
		}
	})

	t.Run("every region json", func(t *testing.T) {
		r := plinth(t, "catalog", "show", "-o", "json")
		r.wantExit(t, exitOK)
		var got struct {
			Source           string `json:"source"`
			Updated          string `json:"updated"`
			GPUInstanceTypes map[string]struct {
				GPUModel string `json:"gpuModel"`
				GPUs     int    `json:"gpus"`
			} `json:"gpuInstanceTypes"`
			Regions map[string]struct {
				Name              string   `json:"name"`
				AvailabilityZones []string `json:"availabilityZones"`
				GPUInstanceTypes  []string `json:"gpuInstanceTypes"`
			} `json:"regions"`
		}
		r.decodeJSON(t, &got)
		if got.Updated != cat.Updated || got.Source != cat.Source || len(got.Regions) != len(cat.Regions) || len(got.GPUInstanceTypes) != len(cat.GPUInstanceTypes) {
			t.Fatalf("JSON does not carry the catalogue (camelCase keys as in the file): updated %q, %d regions, %d types",
				got.Updated, len(got.Regions), len(got.GPUInstanceTypes))
		}
		// encoding/json matches keys case-insensitively: check the exact
		// names too (the catalogue file's, not the Go field names).
		var raw struct {
			Top     map[string]json.RawMessage
			Region  map[string]json.RawMessage
			GPUType map[string]json.RawMessage
		}
		r.decodeJSON(t, &raw.Top)
		if keys := slices.Sorted(maps.Keys(raw.Top)); !slices.Equal(keys, []string{"gpuInstanceTypes", "regions", "source", "updated"}) {
			t.Errorf("top-level keys = %v", keys)
		}
		var regions, types map[string]json.RawMessage
		_ = json.Unmarshal(raw.Top["regions"], &regions)
		_ = json.Unmarshal(regions["af-south-1"], &raw.Region)
		_ = json.Unmarshal(raw.Top["gpuInstanceTypes"], &types)
		_ = json.Unmarshal(types["p4d.24xlarge"], &raw.GPUType)
		if keys := slices.Sorted(maps.Keys(raw.Region)); !slices.Equal(keys, []string{"availabilityZones", "gpuInstanceTypes", "name"}) {
			t.Errorf("region keys = %v", keys)
		}
		if keys := slices.Sorted(maps.Keys(raw.GPUType)); !slices.Equal(keys, []string{"arch", "gpuMemoryGiB", "gpuModel", "gpus", "mig"}) {
			t.Errorf("GPU type keys = %v", keys)
		}
		if p4d := got.GPUInstanceTypes["p4d.24xlarge"]; p4d.GPUModel != "A100" || p4d.GPUs != 8 {
			t.Errorf("p4d.24xlarge = %+v", p4d)
		}
		for code, want := range cat.Regions {
			g := got.Regions[code]
			if g.Name != want.Name || !slices.Equal(g.AvailabilityZones, want.AvailabilityZones) || len(g.GPUInstanceTypes) != len(want.GPUInstanceTypes) {
				t.Errorf("%s = %+v, want %+v", code, g, want)
			}
		}
	})

	t.Run("one region", func(t *testing.T) {
		r := plinth(t, "catalog", "show", "eu-west-1")
		r.wantExit(t, exitOK)
		reg := cat.Regions["eu-west-1"]
		for _, s := range []string{"eu-west-1 (" + reg.Name + ")", "availability zones: " + strings.Join(reg.AvailabilityZones, ", "), "TYPE", "p4d.24xlarge"} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("stdout lacks %q\n%v", s, r)
			}
		}
	})

	t.Run("af-south-1 json", func(t *testing.T) {
		r := plinth(t, "catalog", "show", "af-south-1", "-o", "json")
		r.wantExit(t, exitOK)
		var got struct {
			Region            string   `json:"region"`
			Name              string   `json:"name"`
			AvailabilityZones []string `json:"availabilityZones"`
			GPUInstanceTypes  []string `json:"gpuInstanceTypes"`
		}
		r.decodeJSON(t, &got)
		if got.Region != "af-south-1" || got.Name != "Africa (Cape Town)" {
			t.Errorf("region %q name %q", got.Region, got.Name)
		}
		if want := []string{"af-south-1a", "af-south-1b", "af-south-1c"}; !slices.Equal(got.AvailabilityZones, want) {
			t.Errorf("AZs = %v, want %v", got.AvailabilityZones, want)
		}
		if len(got.GPUInstanceTypes) == 0 || slices.Contains(got.GPUInstanceTypes, "p4d.24xlarge") {
			t.Errorf("GPU types = %v: want some, and no p4d.24xlarge", got.GPUInstanceTypes)
		}
	})

	t.Run("unknown region", func(t *testing.T) {
		r := plinth(t, "catalog", "show", "mars-north-1")
		r.wantExit(t, exitFailure)
		if !strings.Contains(r.stderr, `error: "mars-north-1" is not in the catalogue; known regions: af-south-1,`) {
			t.Errorf("stderr does not explain\n%v", r)
		}
	})

	t.Run("two regions", func(t *testing.T) {
		plinth(t, "catalog", "show", "eu-west-1", "us-east-1").wantExit(t, exitUsage)
	})

	t.Run("catalogue file", func(t *testing.T) {
		path := writeFile(t, t.TempDir(), "small.yaml", []byte(`source: test
updated: "2030-01-02"
gpuInstanceTypes:
  g5.xlarge: {gpuModel: A10G, gpus: 1, gpuMemoryGiB: 24, mig: false, arch: x86_64}
regions:
  xx-test-1:
    name: Test
    availabilityZones: [xx-test-1a, xx-test-1b]
    gpuInstanceTypes: [g5.xlarge]
`))
		r := plinth(t, "catalog", "show", "--catalog", path)
		r.wantExit(t, exitOK)
		if !strings.Contains(r.stdout, "updated 2030-01-02") || !strings.Contains(r.stdout, "xx-test-1") || strings.Contains(r.stdout, "us-east-1") {
			t.Errorf("--catalog was not used\n%v", r)
		}
	})
}

func TestCatalogUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"no subcommand", []string{"catalog"}, "plinth catalog needs a subcommand: show or refresh"},
		{"unknown subcommand", []string{"catalog", "list"}, `unknown command "list" for plinth catalog`},
		{"refresh without --out", []string{"catalog", "refresh"}, "--out is required"},
		{"refresh with an argument", []string{"catalog", "refresh", "us-east-1", "--out", "x.yaml"}, "takes 0 argument(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := plinth(t, tt.args...)
			r.wantExit(t, exitUsage)
			if !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("stderr lacks %q\n%v", tt.msg, r)
			}
		})
	}
}

// isolateAWS points the AWS SDK at nothing a developer or CI machine may
// have: no credentials, no config files, no instance metadata.
func isolateAWS(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":                      "",
		"AWS_SECRET_ACCESS_KEY":                  "",
		"AWS_SESSION_TOKEN":                      "",
		"AWS_PROFILE":                            "",
		"AWS_DEFAULT_PROFILE":                    "",
		"AWS_ROLE_ARN":                           "",
		"AWS_WEB_IDENTITY_TOKEN_FILE":            "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_ENDPOINT_URL":                       "",
		"AWS_REGION":                             "",
		"AWS_DEFAULT_REGION":                     "",
		"AWS_CONFIG_FILE":                        writeFile(t, dir, "config", nil),
		"AWS_SHARED_CREDENTIALS_FILE":            writeFile(t, dir, "credentials", nil),
		"AWS_EC2_METADATA_DISABLED":              "true",
	} {
		t.Setenv(k, v)
	}
}

func TestCatalogRefreshNoCredentials(t *testing.T) {
	isolateAWS(t)
	out := filepath.Join(t.TempDir(), "catalog.yaml")
	r := plinth(t, "catalog", "refresh", "--out", out)
	r.wantExit(t, exitFailure)
	if !strings.Contains(r.stderr, "error: no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") {
		t.Errorf("stderr lacks the 'no AWS credentials' message\n%v", r)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("%s was written without credentials", out)
	}
}

// End to end against moto: refresh two regions into a file, then use the
// file to validate and to copy.
func TestCatalogRefreshMoto(t *testing.T) {
	isolateAWS(t)
	endpoint := moto.Start(t)
	t.Setenv("AWS_ENDPOINT_URL", endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")
	dir := inTempDir(t)
	out := filepath.Join(dir, "catalog.yaml")

	r := plinth(t, "catalog", "refresh", "--regions", "us-east-1,af-south-1", "--out", out)
	r.wantExit(t, exitOK)
	if !strings.Contains(r.stdout, "wrote "+out+": 2 regions,") {
		t.Errorf("stdout does not report the file\n%v", r)
	}
	for _, code := range []string{"us-east-1", "af-south-1"} {
		if !strings.Contains(r.stderr, code+": ") {
			t.Errorf("no progress line for %s\n%v", code, r)
		}
	}
	cat, err := catalog.Load(out)
	if err != nil {
		t.Fatalf("the written catalogue does not load: %v", err)
	}
	if codes := cat.RegionCodes(); !slices.Equal(codes, []string{"af-south-1", "us-east-1"}) {
		t.Fatalf("regions = %v", codes)
	}
	t.Logf("moto: us-east-1 offers %d GPU types, af-south-1 %d", len(cat.Regions["us-east-1"].GPUInstanceTypes), len(cat.Regions["af-south-1"].GPUInstanceTypes))

	t.Run("again needs --force", func(t *testing.T) {
		r := plinth(t, "catalog", "refresh", "--regions", "af-south-1", "--out", out)
		r.wantExit(t, exitFailure)
		if !strings.Contains(r.stderr, "already exists") {
			t.Errorf("stderr lacks 'already exists'\n%v", r)
		}
		r = plinth(t, "catalog", "refresh", "--regions", "us-east-1,af-south-1", "--out", out, "--force", "-o", "json")
		r.wantExit(t, exitOK)
		var got struct {
			File    string `json:"file"`
			Regions int    `json:"regions"`
			Updated string `json:"updated"`
		}
		r.decodeJSON(t, &got)
		if got.File != out || got.Regions != 2 || got.Updated == "" {
			t.Errorf("got %+v", got)
		}
	})

	t.Run("validate with it", func(t *testing.T) {
		r := plinth(t, "validate", "--catalog", out, "gpu-training")
		r.wantExit(t, exitOK)
		// A region the refreshed file does not hold is unknown with it.
		r = plinth(t, "validate", "--catalog", out, "production")
		r.wantExit(t, exitFailure)
		if !strings.Contains(r.stdout, `"us-west-2" is not an AWS region in the catalogue (updated `+cat.Updated+`)`) {
			t.Errorf("production (us-west-2) should be refused by a two-region catalogue\n%v", r)
		}
	})

	t.Run("copy refused with it", func(t *testing.T) {
		r := plinth(t, "blueprint", "copy", "gpu-training", "--region", "af-south-1", "--catalog", out)
		r.wantExit(t, exitFailure)
		if !strings.Contains(r.stderr, `"p4d.24xlarge"`) || !strings.Contains(r.stderr, "is not offered in af-south-1") {
			t.Errorf("stderr does not name p4d.24xlarge in af-south-1\n%v", r)
		}
		if _, err := os.Stat("stacks"); err == nil {
			t.Errorf("a refused copy wrote stacks/")
		}
	})
}
