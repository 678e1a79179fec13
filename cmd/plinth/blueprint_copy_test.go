package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/blueprints"
)

// stackFile is the part of a Pulumi stack config that plinth writes.
type stackFile struct {
	Config map[string]any `yaml:"config"`
}

func readStack(t *testing.T, path string) stackFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the stack config: %v", err)
	}
	var s stackFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("%s is not a stack config: %v\n%s", path, err, data)
	}
	return s
}

// shippedPosition returns the line and column of the first occurrence of
// needle in a shipped blueprint.
func shippedPosition(t *testing.T, name, needle string) (int, int) {
	t.Helper()
	data, ok := blueprints.Shipped(name)
	if !ok {
		t.Fatalf("no shipped blueprint %s", name)
	}
	for i, line := range strings.Split(string(data), "\n") {
		if col := strings.Index(line, needle); col >= 0 {
			return i + 1, col + 1
		}
	}
	t.Fatalf("shipped %s does not contain %q", name, needle)
	return 0, 0
}

// inTempDir runs the test in a fresh working directory and returns it.
func inTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	return dir
}

func TestBlueprintCopy(t *testing.T) {
	inTempDir(t)
	const out = "stacks/Pulumi.gpu-training-eu-west-1.yaml"

	r := plinth(t, "blueprint", "copy", "gpu-training", "--region", "eu-west-1")
	r.wantExit(t, exitOK)
	if !strings.Contains(r.stdout, "gpu-training fits eu-west-1: wrote "+out+" (stack gpu-training-eu-west-1)") ||
		!strings.Contains(r.stdout, "pulumi stack select --create gpu-training-eu-west-1") {
		t.Errorf("stdout does not say what was written\n%v", r)
	}
	s := readStack(t, out)
	want := map[string]any{"plinth:blueprint": "blueprints/gpu-training.yaml", "aws:region": "eu-west-1"}
	if len(s.Config) != len(want) {
		t.Errorf("config = %v, want exactly %v", s.Config, want)
	}
	for k, v := range want {
		if s.Config[k] != v {
			t.Errorf("config[%q] = %v, want %v", k, s.Config[k], v)
		}
	}
	first, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(first, []byte("# Stack config: blueprint gpu-training in eu-west-1.\n")) {
		t.Errorf("the stack config lacks its header comment:\n%s", first)
	}

	t.Run("second run refuses to overwrite", func(t *testing.T) {
		// Make the file distinguishable, so "unchanged" means something.
		marked := append(append([]byte{}, first...), []byte("# edited by hand\n")...)
		if err := os.WriteFile(out, marked, 0o644); err != nil {
			t.Fatal(err)
		}
		r := plinth(t, "blueprint", "copy", "gpu-training", "--region", "eu-west-1")
		r.wantExit(t, exitFailure)
		if !strings.Contains(r.stderr, "error: "+out+" already exists; use --force to overwrite it") {
			t.Errorf("stderr lacks the 'already exists' error\n%v", r)
		}
		if got, _ := os.ReadFile(out); !bytes.Equal(got, marked) {
			t.Errorf("the existing file was changed:\n%s", got)
		}
		leftovers, _ := filepath.Glob("stacks/.plinth-*")
		if len(leftovers) > 0 {
			t.Errorf("temporary files left behind: %v", leftovers)
		}

		r = plinth(t, "blueprint", "copy", "gpu-training", "--region", "eu-west-1", "--force")
		r.wantExit(t, exitOK)
		if got, _ := os.ReadFile(out); bytes.Contains(got, []byte("edited by hand")) {
			t.Errorf("--force did not overwrite the file:\n%s", got)
		}
		if s := readStack(t, out); s.Config["aws:region"] != "eu-west-1" {
			t.Errorf("after --force: config = %v", s.Config)
		}
	})
}

func TestBlueprintCopyRefused(t *testing.T) {
	dir := inTempDir(t)
	line, col := shippedPosition(t, "gpu-training", "p4d.24xlarge]")

	r := plinth(t, "blueprint", "copy", "gpu-training", "--region", "af-south-1")
	r.wantExit(t, exitFailure)
	for _, s := range []string{
		"refused: cannot copy gpu-training to af-south-1: af-south-1 cannot serve it (1 reason):",
		"blueprints/gpu-training.yaml:" + strconv.Itoa(line) + ":" + strconv.Itoa(col) + ": spec.gpuNodePools[0].instanceTypes[0]: \"p4d.24xlarge\"",
		"is not offered in af-south-1",
		"nothing was written",
	} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q\n%v", s, r)
		}
	}
	if r.stdout != "" {
		t.Errorf("stdout should be empty\n%v", r)
	}
	emptyDir(t, dir)

	t.Run("json", func(t *testing.T) {
		r := plinth(t, "blueprint", "copy", "gpu-training", "--region", "af-south-1", "--output", "json")
		r.wantExit(t, exitFailure)
		var got struct {
			Written   *bool  `json:"written"`
			Blueprint string `json:"blueprint"`
			Region    string `json:"region"`
			File      string `json:"file"`
			Reasons   []struct {
				File    string `json:"file"`
				Line    int    `json:"line"`
				Column  int    `json:"column"`
				Path    string `json:"path"`
				Message string `json:"message"`
			} `json:"reasons"`
		}
		r.decodeJSON(t, &got)
		if got.Written == nil || *got.Written || got.Region != "af-south-1" || got.Blueprint != "gpu-training" || got.File != "" {
			t.Errorf("got %+v, want written false, region af-south-1, no file", got)
		}
		if len(got.Reasons) != 1 {
			t.Fatalf("%d reasons, want 1\n%v", len(got.Reasons), r)
		}
		re := got.Reasons[0]
		if re.File != "blueprints/gpu-training.yaml" || re.Line != line || re.Column != col || re.Path != "spec.gpuNodePools[0].instanceTypes[0]" ||
			!strings.Contains(re.Message, "p4d.24xlarge") || !strings.Contains(re.Message, "af-south-1") {
			t.Errorf("reason = %+v, want the p4d.24xlarge at %d:%d", re, line, col)
		}
		emptyDir(t, dir)
	})
}

func TestBlueprintCopyKubernetesRefused(t *testing.T) {
	dir := inTempDir(t)
	line, col := shippedPosition(t, "local", "kubernetes")
	for _, output := range []string{"text", "json"} {
		t.Run(output, func(t *testing.T) {
			r := plinth(t, "blueprint", "copy", "local", "--region", "eu-west-1", "-o", output)
			r.wantExit(t, exitFailure)
			want := "blueprints/local.yaml:" + strconv.Itoa(line) + ":" + strconv.Itoa(col) + ": spec.provider: provider is \"kubernetes\"; only provider aws blueprints have a region to copy to"
			if output == "text" && !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q\n%v", want, r)
			}
			if output == "json" {
				var got struct {
					Written bool `json:"written"`
					Reasons []struct {
						Line    int    `json:"line"`
						Path    string `json:"path"`
						Message string `json:"message"`
					} `json:"reasons"`
				}
				r.decodeJSON(t, &got)
				if got.Written || len(got.Reasons) != 1 || got.Reasons[0].Path != "spec.provider" || got.Reasons[0].Line != line ||
					!strings.Contains(got.Reasons[0].Message, "only provider aws") {
					t.Errorf("got %+v\n%v", got, r)
				}
			}
			emptyDir(t, dir)
		})
	}
}

// A blueprint naming the AZs of its own region is copied with a count of
// AZs instead, and the written stack config checks in the new region.
func TestBlueprintCopyAZNames(t *testing.T) {
	dir := inTempDir(t)
	src, _ := blueprints.Shipped("gpu-training")
	const from = "    availabilityZones: 3\n"
	if !bytes.Contains(src, []byte(from)) {
		t.Fatalf("shipped gpu-training has no %q", from)
	}
	withNames := bytes.Replace(src, []byte(from), []byte("    availabilityZones: [us-east-1a, us-east-1b]\n"), 1)
	writeFile(t, dir, "named-azs.yaml", withNames)

	// It is valid where it was written for.
	plinth(t, "validate", "named-azs.yaml").wantExit(t, exitOK)

	r := plinth(t, "blueprint", "copy", "named-azs.yaml", "--region", "eu-west-1")
	r.wantExit(t, exitOK)
	if !strings.Contains(r.stdout, "override spec.network.availabilityZones: 2 (AZ names belong to the source region)") {
		t.Errorf("stdout does not mention the override\n%v", r)
	}
	out := filepath.Join("stacks", "Pulumi.gpu-training-eu-west-1.yaml")
	s := readStack(t, out)
	if s.Config["plinth:blueprint"] != "named-azs.yaml" || s.Config["aws:region"] != "eu-west-1" {
		t.Errorf("config = %v", s.Config)
	}
	overrides, ok := s.Config["plinth:overrides"].(map[string]any)
	if !ok || len(overrides) != 1 || overrides["spec.network.availabilityZones"] != 2 {
		t.Fatalf("plinth:overrides = %#v, want {spec.network.availabilityZones: 2}", s.Config["plinth:overrides"])
	}

	// The stack config's intent, read back from the file, checks.
	blueprint := s.Config["plinth:blueprint"].(string)
	region := s.Config["aws:region"].(string)
	env, err := blueprints.Check(blueprint, blueprints.LoadOptions{Region: region, Overrides: overrides}, nil)
	if err != nil {
		t.Fatalf("the written stack config does not check: %v", err)
	}
	if env.Spec.Region != "eu-west-1" || env.Spec.Network.AvailabilityZones.N() != 2 || len(env.Spec.Network.AvailabilityZones.Names) != 0 {
		t.Errorf("checked: region %s, AZs %+v; want eu-west-1 and a count of 2", env.Spec.Region, env.Spec.Network.AvailabilityZones)
	}
	// Without the override, the us-east-1 AZ names do not fit eu-west-1.
	if _, err := blueprints.Check(blueprint, blueprints.LoadOptions{Region: region}, nil); err == nil ||
		!strings.Contains(err.Error(), `"us-east-1a" is not an availability zone of eu-west-1`) {
		t.Errorf("without the override: err = %v, want the AZ names refused", err)
	}

	t.Run("json", func(t *testing.T) {
		r := plinth(t, "blueprint", "copy", "named-azs.yaml", "--region", "eu-west-2", "--output", "json")
		r.wantExit(t, exitOK)
		var got struct {
			Written   bool           `json:"written"`
			Blueprint string         `json:"blueprint"`
			Region    string         `json:"region"`
			Stack     string         `json:"stack"`
			File      string         `json:"file"`
			Overrides map[string]int `json:"overrides"`
			Reasons   []any          `json:"reasons"`
		}
		r.decodeJSON(t, &got)
		wantFile := filepath.Join("stacks", "Pulumi.gpu-training-eu-west-2.yaml")
		if !got.Written || got.Blueprint != "named-azs.yaml" || got.Region != "eu-west-2" || got.Stack != "gpu-training-eu-west-2" ||
			got.File != wantFile || got.Overrides["spec.network.availabilityZones"] != 2 || len(got.Overrides) != 1 || got.Reasons != nil {
			t.Errorf("got %+v\n%v", got, r)
		}
		if _, err := os.Stat(wantFile); err != nil {
			t.Errorf("JSON says %s was written: %v", wantFile, err)
		}
	})
}

func TestBlueprintCopyStackAndOut(t *testing.T) {
	dir := inTempDir(t)
	tests := []struct {
		name      string
		args      []string
		wantFile  string
		wantStack string
	}{
		{"--stack names the stack and the file", []string{"--stack", "ml-prod-use1"}, "stacks/Pulumi.ml-prod-use1.yaml", "ml-prod-use1"},
		{"--out names the file", []string{"--out", "deploy/prod.yaml"}, "deploy/prod.yaml", "ml-prod-us-east-1"},
		{"both", []string{"--stack", "edge", "--out", "deep/er/Pulumi.edge.yaml"}, "deep/er/Pulumi.edge.yaml", "edge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"blueprint", "copy", "production", "--region", "us-east-1", "-o", "json"}, tt.args...)
			r := plinth(t, args...)
			r.wantExit(t, exitOK)
			var got struct {
				Stack string `json:"stack"`
				File  string `json:"file"`
			}
			r.decodeJSON(t, &got)
			if got.Stack != tt.wantStack || got.File != tt.wantFile {
				t.Errorf("stack %q file %q, want %q %q", got.Stack, got.File, tt.wantStack, tt.wantFile)
			}
			s := readStack(t, filepath.Join(dir, tt.wantFile))
			if s.Config["plinth:blueprint"] != "blueprints/production.yaml" || s.Config["aws:region"] != "us-east-1" {
				t.Errorf("config = %v", s.Config)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "stacks", "Pulumi.ml-prod-us-east-1.yaml")); err == nil {
		t.Errorf("--out was ignored: the default file was written too")
	}
}

func TestBlueprintCopyUsage(t *testing.T) {
	dir := inTempDir(t)
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"no --region", []string{"blueprint", "copy", "gpu-training"}, "--region is required"},
		{"no file", []string{"blueprint", "copy", "--region", "eu-west-1"}, "plinth blueprint copy takes 1 argument(s)"},
		{"two files", []string{"blueprint", "copy", "local", "production", "--region", "eu-west-1"}, "takes 1 argument(s)"},
		{"--region without value", []string{"blueprint", "copy", "gpu-training", "--region"}, "flag needs an argument: --region"},
		{"unknown flag", []string{"blueprint", "copy", "gpu-training", "--region", "eu-west-1", "--dry"}, "unknown flag: --dry"},
		{"no subcommand", []string{"blueprint"}, "plinth blueprint needs a subcommand: copy"},
		{"unknown subcommand", []string{"blueprint", "move", "x"}, `unknown command "move" for plinth blueprint`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := plinth(t, tt.args...)
			r.wantExit(t, exitUsage)
			if !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("stderr lacks %q\n%v", tt.msg, r)
			}
			emptyDir(t, dir)
		})
	}
}

func TestBlueprintCopyUnknownRegionAndBlueprint(t *testing.T) {
	dir := inTempDir(t)
	t.Run("unknown region", func(t *testing.T) {
		r := plinth(t, "blueprint", "copy", "gpu-training", "--region", "mars-north-1")
		r.wantExit(t, exitFailure)
		if !strings.Contains(r.stderr, `spec.region: "mars-north-1" is not an AWS region in the catalogue`) {
			t.Errorf("stderr does not explain\n%v", r)
		}
		emptyDir(t, dir)
	})
	t.Run("missing blueprint", func(t *testing.T) {
		r := plinth(t, "blueprint", "copy", "nope.yaml", "--region", "eu-west-1")
		r.wantExit(t, exitFailure)
		if !strings.Contains(r.stderr, "nope.yaml: no such file") || !strings.Contains(r.stderr, "the blueprint does not load") {
			t.Errorf("stderr does not explain\n%v", r)
		}
		emptyDir(t, dir)
	})
}

// A blueprint on an existing network cannot be copied: the VPC belongs to
// the source region.
func TestBlueprintCopyExistingNetworkRefused(t *testing.T) {
	dir := inTempDir(t)
	src, _ := blueprints.Shipped("gpu-training")
	const from = "  network:\n    cidr: 10.40.0.0/16\n    availabilityZones: 3\n    natGateways: single\n"
	if !bytes.Contains(src, []byte(from)) {
		t.Fatalf("shipped gpu-training has no %q", from)
	}
	existing := bytes.Replace(src, []byte(from), []byte("  network:\n    existing:\n      vpcId: vpc-0123456789abcdef0\n      privateSubnetIds: [subnet-01234567, subnet-89abcdef]\n"), 1)
	writeFile(t, dir, "existing.yaml", existing)
	plinth(t, "validate", "existing.yaml").wantExit(t, exitOK)

	r := plinth(t, "blueprint", "copy", "existing.yaml", "--region", "eu-west-1")
	r.wantExit(t, exitFailure)
	if !strings.Contains(r.stderr, "existing.yaml:21:7: spec.network.existing: the blueprint sits on an existing network") {
		t.Errorf("refusal does not point at the existing network\n%v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "stacks")); err == nil {
		t.Errorf("a refused copy wrote files")
	}
}
