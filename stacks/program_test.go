package stacks

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/blueprints/catalog"
)

type mocks struct{}

func (mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	return args.Name + "-id", args.Inputs, nil
}

// Call answers the one data source the program reads, the region's AZs.
func (mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	if args.Token == getAvailabilityZones {
		return resource.NewPropertyMapFromMap(map[string]any{
			"names": []any{"zone-a", "zone-b", "zone-c", "zone-d"},
			"state": "available",
		}), nil
	}
	return resource.PropertyMap{}, nil
}

// runWithConfig runs fn as a Pulumi program under mocks with the given
// stack config.
func runWithConfig(t *testing.T, cfg map[string]string, fn pulumi.RunFunc) error {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PULUMI_CONFIG", string(raw))
	return pulumi.RunErr(fn, pulumi.WithMocks("plinth", "test", mocks{}))
}

func TestLoadBlueprintFromStackConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     map[string]string
		wantErr string
		check   func(t *testing.T, env *blueprints.Environment)
	}{
		{
			name: "shipped blueprint by repository path",
			cfg:  map[string]string{ConfigBlueprint: "blueprints/gpu-training.yaml"},
			check: func(t *testing.T, env *blueprints.Environment) {
				if env.Metadata.Name != "gpu-training" || env.Spec.Region != "us-east-1" {
					t.Errorf("got %s in %s", env.Metadata.Name, env.Spec.Region)
				}
			},
		},
		{
			name: "aws:region replaces spec.region",
			cfg:  map[string]string{ConfigBlueprint: "blueprints/gpu-training.yaml", ConfigAWSRegion: "eu-west-1"},
			check: func(t *testing.T, env *blueprints.Environment) {
				if env.Spec.Region != "eu-west-1" {
					t.Errorf("region = %s, want eu-west-1", env.Spec.Region)
				}
			},
		},
		{
			name: "overrides apply",
			cfg:  map[string]string{ConfigBlueprint: "blueprints/production.yaml", ConfigOverrides: `{"spec.gpuNodePools[0].maxSize": 1}`},
			check: func(t *testing.T, env *blueprints.Environment) {
				if got := *env.Spec.GPUNodePools[0].MaxSize; got != 1 {
					t.Errorf("maxSize = %d, want 1", got)
				}
			},
		},
		{
			name:    "blueprint not set",
			cfg:     map[string]string{},
			wantErr: "config plinth:blueprint is not set",
		},
		{
			name:    "region that cannot serve the blueprint",
			cfg:     map[string]string{ConfigBlueprint: "blueprints/gpu-training.yaml", ConfigAWSRegion: "af-south-1"},
			wantErr: `"p4d.24xlarge" (8× A100) is not offered in af-south-1`,
		},
		{
			name:    "bad override names the stack config",
			cfg:     map[string]string{ConfigBlueprint: "blueprints/gpu-training.yaml", ConfigOverrides: `{"spec.gpuNodePools[0].maxSize": "two"}`},
			wantErr: "stacks/Pulumi.test.yaml (plinth:overrides): spec.gpuNodePools[0].maxSize: expected a whole number",
		},
		{
			name:    "overrides that are not a mapping",
			cfg:     map[string]string{ConfigBlueprint: "blueprints/gpu-training.yaml", ConfigOverrides: `[1, 2]`},
			wantErr: "must be a mapping of field paths to values",
		},
		{
			name:    "missing blueprint file",
			cfg:     map[string]string{ConfigBlueprint: "blueprints/nope.yaml"},
			wantErr: "no such file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var env *blueprints.Environment
			err := runWithConfig(t, tt.cfg, func(ctx *pulumi.Context) error {
				var err error
				env, err = LoadBlueprint(ctx)
				return err
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want error containing %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, env)
		})
	}
}

func TestProgramPlansEveryShippedStack(t *testing.T) {
	for _, name := range blueprints.ShippedNames() {
		t.Run(name, func(t *testing.T) {
			p := planVariant(t, name, nil)
			aws := p.Env.Spec.Provider == blueprints.ProviderAWS
			if n := len(p.Graph.Resources); aws && n < 50 {
				t.Errorf("%s plans only %d resources", name, n)
			}
			for _, token := range []string{"plinth:network:Network", "plinth:cluster:Cluster", "plinth:storage:Storage", "plinth:tracking:TrackingStore"} {
				if got := len(p.Graph.ByType(token)); aws && got != 1 {
					t.Errorf("%s: %d %s components, want 1", name, got, token)
				}
			}
			if got, want := len(p.Graph.ByType("plinth:compute:GpuNodePool")), len(p.Env.Spec.GPUNodePools); aws && got != want {
				t.Errorf("%s: %d GPU pools, want %d", name, got, want)
			}
		})
	}
	cat, _ := catalog.Embedded()
	_, err := PlanOffline(BlueprintConfig{Stack: "test", Blueprint: "blueprints/gpu-training.yaml", Region: "af-south-1"},
		map[string]string{ConfigBlueprint: "blueprints/gpu-training.yaml", ConfigAWSRegion: "af-south-1"}, nil, cat)
	if err == nil || !strings.Contains(err.Error(), "not offered in af-south-1") {
		t.Fatalf("a region that cannot serve the blueprint was planned: %v", err)
	}
}
