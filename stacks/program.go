// Package stacks composes a Plinth environment from a blueprint: Program
// reads the stack config (plinth:blueprint, aws:region, plinth:overrides),
// loads and validates the blueprint, and builds the components.
//
// The same Program runs under `plinth plan` (Pulumi mocks), under
// `pulumi preview/up` (cmd/environment) and under the Automation API.
package stacks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/blueprints/catalog"
)

// Stack config keys Plinth reads.
const (
	// ConfigBlueprint names the blueprint file (relative to the project
	// root, where Pulumi.yaml is) or a shipped blueprint by name.
	ConfigBlueprint = "plinth:blueprint"
	// ConfigOverrides maps field paths to values that replace the
	// blueprint's (spec.gpuNodePools[0].maxSize: 2).
	ConfigOverrides = "plinth:overrides"
	// ConfigAWSRegion, when set, replaces spec.region.
	ConfigAWSRegion = "aws:region"
)

// LoadBlueprint reads the stack's blueprint as the stack config says:
// the file, the region and the overrides, then defaults and validation.
func LoadBlueprint(ctx *pulumi.Context) (*blueprints.Environment, error) {
	ref, err := config.Try(ctx, ConfigBlueprint)
	if err != nil {
		return nil, fmt.Errorf("stack %s: config %s is not set; set it to a blueprint file, e.g. `pulumi config set %s blueprints/gpu-training.yaml`", ctx.Stack(), ConfigBlueprint, ConfigBlueprint)
	}
	path := ref
	if !filepath.IsAbs(path) && ctx.RootDirectory() != "" {
		path = filepath.Join(ctx.RootDirectory(), path)
	}
	var overrides map[string]any
	if err := config.TryObject(ctx, ConfigOverrides, &overrides); err != nil && !errors.Is(err, config.ErrMissingVar) {
		return nil, fmt.Errorf("stack %s: config %s must be a mapping of field paths to values: %w", ctx.Stack(), ConfigOverrides, err)
	}
	cat, err := catalog.Default()
	if err != nil {
		return nil, err
	}
	opts := blueprints.LoadOptions{
		Overrides:       overrides,
		OverridesOrigin: fmt.Sprintf("stacks/Pulumi.%s.yaml (%s)", ctx.Stack(), ConfigOverrides),
		Region:          config.Get(ctx, ConfigAWSRegion),
	}
	env, err := blueprints.Check(path, opts, cat)
	if err != nil {
		// A shipped blueprint named by its repository path also works
		// outside the repository.
		if _, ok := blueprints.Shipped(ref); ok && !fileExists(path) {
			env, err = blueprints.Check(ref, opts, cat)
		}
		if err != nil {
			return nil, fmt.Errorf("blueprint %s:\n%w", ref, err)
		}
	}
	return env, nil
}

// Program is the Pulumi program of a Plinth environment. It loads the
// blueprint from the stack config, validates it, and exports what the
// environment is. The components are composed here as they land (AWS
// layer, Kubernetes layer).
func Program(ctx *pulumi.Context) error {
	env, err := LoadBlueprint(ctx)
	if err != nil {
		return err
	}
	ctx.Export("environment", pulumi.String(env.Metadata.Name))
	ctx.Export("provider", pulumi.String(env.Spec.Provider))
	ctx.Export("environmentClass", pulumi.String(env.Class()))
	if env.Spec.Region != "" {
		ctx.Export("region", pulumi.String(env.Spec.Region))
	}
	return nil
}

func fileExists(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir()
}
