package blueprints

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestGoldenErrors checks the complete error output for broken blueprints
// against testdata/invalid/*.golden; run with -update to rewrite them.
func TestGoldenErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			_, err := Check(file, LoadOptions{}, testCatalog(t))
			if err == nil {
				t.Fatalf("%s is meant to be invalid but passed", file)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("error output differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// TestBadInput feeds input that is not a blueprint at all: each must give
// one clear error, never a panic.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := make([]byte, MaxFileSize+1)
	for i := range big {
		big[i] = '#'
	}
	tests := []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(dir, "nope.yaml"), "no such file"},
		{"directory", dir, "is a directory"},
		{"empty file", write("empty.yaml", []byte("  \n\n")), "is empty"},
		{"comment only", write("comment.yaml", []byte("# nothing\n")), "has no content"},
		{"not UTF-8", write("latin1.yaml", []byte("apiVersion: caf\xe9\n")), "not valid UTF-8"},
		{"huge file", write("huge.yaml", big), "at most 1048576 bytes"},
		{"malformed YAML", write("bad.yaml", []byte("spec: [unclosed\n")), "invalid YAML"},
		{"tab indentation", write("tabs.yaml", []byte("spec:\n\tprovider: aws\n")), "invalid YAML"},
		{"scalar document", write("scalar.yaml", []byte("just a string\n")), "expected a mapping"},
		{"list document", write("list.yaml", []byte("- a\n- b\n")), "expected a mapping"},
		{"two documents", write("two.yaml", []byte("kind: Environment\n---\nkind: Environment\n")), "holds 2 YAML documents"},
		{"unknown anchor", write("alias.yaml", []byte("spec: *nowhere\n")), "invalid YAML"},
		{"binary junk", write("junk.yaml", []byte{0x00, 0x01, 0x02}), "invalid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Check(tt.path, LoadOptions{}, testCatalog(t))
			if env != nil || err == nil {
				t.Fatalf("want an error, got none")
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) != 1 {
				t.Fatalf("want exactly one error, got %T: %v", err, err)
			}
			if !strings.Contains(list[0].Message, tt.want) {
				t.Errorf("error %q does not say %q", list[0].Error(), tt.want)
			}
			if list[0].File == "" {
				t.Errorf("error does not name the file: %v", list[0])
			}
		})
	}
}

func TestAliasBombIsRefused(t *testing.T) {
	// Each level merges the previous one twice: 2^30 mappings if expanded
	// naively. The loader must stop at its node budget, with a clear error.
	var b strings.Builder
	b.WriteString("x0: &a0 {owner: me}\n")
	for i := 1; i <= 30; i++ {
		p := strconv.Itoa(i - 1)
		b.WriteString("x" + strconv.Itoa(i) + ": &a" + strconv.Itoa(i) + " {<<: [*a" + p + ", *a" + p + "]}\n")
	}
	b.WriteString("apiVersion: plinth.dev/v1alpha1\nkind: Environment\nmetadata: {name: bomb}\nspec:\n  provider: kubernetes\n  tags: {<<: *a30, cost-center: \"1\"}\n")
	_, err := CheckBytes("bomb.yaml", []byte(b.String()), LoadOptions{}, testCatalog(t))
	if err == nil || !strings.Contains(err.Error(), "more than 100000 YAML nodes") {
		t.Fatalf("alias bomb not refused clearly: %v", err)
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	data := []byte(`apiVersion: plinth.dev/v1alpha1
kind: Environment
metadata: {name: anchors}
spec:
  provider: aws
  region: us-east-1
  tags: {owner: me, cost-center: "1"}
  gpuNodePools:
    - &pool
      name: a
      instanceTypes: [g5.xlarge]
      maxSize: 2
      labels: {workload: training}
    - <<: *pool
      name: b
      maxSize: 3
`)
	env, err := CheckBytes("anchors.yaml", data, LoadOptions{}, testCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	b := env.Spec.GPUNodePools[1]
	if b.Name != "b" || *b.MaxSize != 3 || b.InstanceTypes[0] != "g5.xlarge" || b.Labels["workload"] != "training" {
		t.Errorf("merge key not applied: %+v", b)
	}
}

func TestDuplicateKeysAreErrors(t *testing.T) {
	_, err := Check("testdata/invalid/duplicate-keys.yaml", LoadOptions{}, testCatalog(t))
	if err == nil || !strings.Contains(err.Error(), `key "name" is given twice (first at line 4, column 3)`) {
		t.Fatalf("duplicate key not reported: %v", err)
	}
}

func TestOverrides(t *testing.T) {
	tests := []struct {
		name      string
		overrides map[string]any
		check     func(*Environment) bool
		wantErr   string
	}{
		{"set a pool size", map[string]any{"spec.gpuNodePools[0].maxSize": 1}, func(e *Environment) bool { return *e.Spec.GPUNodePools[0].MaxSize == 1 }, ""},
		{"set a quoted map key", map[string]any{`spec.gpuNodePools[0].labels["example.com/x"]`: "y"}, func(e *Environment) bool { return e.Spec.GPUNodePools[0].Labels["example.com/x"] == "y" }, ""},
		{"create a missing block", map[string]any{"spec.charts.repository": "oci://mirror.example.internal/charts"}, func(e *Environment) bool { return e.Spec.Charts.Repository == "oci://mirror.example.internal/charts" }, ""},
		{"replace a list", map[string]any{"spec.registry.repositories": []string{"only"}}, func(e *Environment) bool { return len(e.Spec.Registry.Repositories) == 1 }, ""},
		{"index out of range", map[string]any{"spec.gpuNodePools[5].maxSize": 1}, nil, "index 5 does not exist"},
		{"step into a scalar", map[string]any{"spec.region.x": 1}, nil, "spec.region is not a mapping"},
		{"bad path", map[string]any{"spec.gpuNodePools[x]": 1}, nil, "list index must be a number"},
		{"wrong type via override", map[string]any{"spec.gpuNodePools[0].maxSize": "two"}, nil, `stack.yaml: spec.gpuNodePools[0].maxSize: expected a whole number`},
		{"unknown field via override", map[string]any{"spec.gpuNodePools[0].maxsize": 2}, nil, `did you mean "maxSize"`},
	}
	data, _ := Shipped("gpu-training")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := CheckBytes("gpu-training.yaml", data, LoadOptions{Overrides: tt.overrides, OverridesOrigin: "stack.yaml"}, testCatalog(t))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want error containing %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(env) {
				t.Errorf("override not applied")
			}
		})
	}
}

func TestRegionOption(t *testing.T) {
	env, err := Check("gpu-training", LoadOptions{Region: "eu-west-1"}, testCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	if env.Spec.Region != "eu-west-1" {
		t.Errorf("region = %s, want eu-west-1", env.Spec.Region)
	}
	_, err = Check("gpu-training", LoadOptions{Region: "af-south-1", OverridesOrigin: "aws:region"}, testCatalog(t))
	if err == nil || !strings.Contains(err.Error(), `"p4d.24xlarge" (8× A100) is not offered in af-south-1`) {
		t.Errorf("want refusal for af-south-1, got %v", err)
	}
}

func TestDefaultsByEnvironmentClass(t *testing.T) {
	minimal := func(class string) []byte {
		return []byte(`apiVersion: plinth.dev/v1alpha1
kind: Environment
metadata: {name: minimal}
spec:
  provider: aws
  region: us-west-1
  tags: {owner: me, cost-center: "1", environment: ` + class + `}
  gpuNodePools: [{name: g, instanceTypes: [g4dn.xlarge], maxSize: 1}]
  storage: {buckets: [{name: artifacts, purpose: tracking}]}
  tracking: {}
  monitoring: {}
`)
	}
	tests := []struct {
		class                       string
		nat, endpoint, encryption   string
		azs, replicas, systemMin    int
		multiAZ, deletionProtection bool
	}{
		// us-west-1 has only 2 AZs: the default never asks for more than the region has.
		{ClassDev, NATSingle, EndpointBoth, EncryptionS3, 2, 1, 2, false, false},
		{ClassStaging, NATSingle, EndpointBoth, EncryptionS3, 2, 1, 2, false, false},
		{ClassProd, NATPerAZ, EndpointPrivate, EncryptionKMS, 2, 2, 3, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.class, func(t *testing.T) {
			env, err := CheckBytes("minimal.yaml", minimal(tt.class), LoadOptions{}, testCatalog(t))
			if err != nil {
				t.Fatal(err)
			}
			s := env.Spec
			got := []any{s.Network.NATGateways, s.Cluster.EndpointAccess, s.Storage.Buckets[0].Encryption, s.Network.AvailabilityZones.N(), *s.Tracking.Replicas, *s.Cluster.SystemPool.Min, *s.Tracking.Database.MultiAZ, *s.Tracking.Database.DeletionProtection}
			want := []any{tt.nat, tt.endpoint, tt.encryption, tt.azs, tt.replicas, tt.systemMin, tt.multiAZ, tt.deletionProtection}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("default %d = %v, want %v", i, got[i], want[i])
				}
			}
			p := s.GPUNodePools[0]
			if len(p.Taints) != 1 || p.Taints[0] != DefaultGPUTaint {
				t.Errorf("GPU pool taints = %v, want the default nvidia.com/gpu taint", p.Taints)
			}
			if s.Monitoring.GPUMetrics != GPUMetricsDCGM || len(s.Monitoring.Grafana.Dashboards) != 4 {
				t.Errorf("monitoring defaults: gpuMetrics %q dashboards %v", s.Monitoring.GPUMetrics, s.Monitoring.Grafana.Dashboards)
			}
		})
	}
}

func TestExplicitEmptyTaintsStayEmpty(t *testing.T) {
	env, err := Check("gpu-training", LoadOptions{Overrides: map[string]any{"spec.gpuNodePools[0].taints": []string{}}}, testCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(env.Spec.GPUNodePools[0].Taints); n != 0 {
		t.Errorf("taints: [] became %d taints", n)
	}
}
