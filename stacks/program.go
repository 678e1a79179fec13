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

// BlueprintConfig is what a stack config says about its blueprint.
type BlueprintConfig struct {
	// Stack is the stack name (for error positions).
	Stack string
	// RootDirectory is the project root; a relative Blueprint is read from there.
	RootDirectory string
	// Blueprint is the value of plinth:blueprint: a file or a shipped blueprint.
	Blueprint string
	// Region is the value of aws:region ("" when unset).
	Region string
	// Overrides is the value of plinth:overrides.
	Overrides map[string]any
}

// ConfigFromContext reads the blueprint settings of the running stack.
func ConfigFromContext(ctx *pulumi.Context) (BlueprintConfig, error) {
	c := BlueprintConfig{Stack: ctx.Stack(), RootDirectory: ctx.RootDirectory()}
	ref, err := config.Try(ctx, ConfigBlueprint)
	if err != nil {
		return c, fmt.Errorf("stack %s: config %s is not set; set it to a blueprint file, e.g. `pulumi config set %s blueprints/gpu-training.yaml`", ctx.Stack(), ConfigBlueprint, ConfigBlueprint)
	}
	c.Blueprint = ref
	c.Region = config.Get(ctx, ConfigAWSRegion)
	if err := config.TryObject(ctx, ConfigOverrides, &c.Overrides); err != nil && !errors.Is(err, config.ErrMissingVar) {
		return c, fmt.Errorf("stack %s: config %s must be a mapping of field paths to values: %w", ctx.Stack(), ConfigOverrides, err)
	}
	return c, nil
}

// Load reads, defaults and validates the blueprint as the stack config
// says: the file, the region and the overrides.
func (c BlueprintConfig) Load(cat *catalog.Catalog) (*blueprints.Environment, error) {
	path := c.Blueprint
	if !filepath.IsAbs(path) && c.RootDirectory != "" {
		path = filepath.Join(c.RootDirectory, path)
	}
	opts := blueprints.LoadOptions{
		Overrides:       c.Overrides,
		OverridesOrigin: fmt.Sprintf("stacks/Pulumi.%s.yaml (%s)", c.Stack, ConfigOverrides),
		Region:          c.Region,
	}
	env, err := blueprints.Check(path, opts, cat)
	if err != nil {
		// A shipped blueprint named by its repository path also works
		// outside the repository.
		if _, ok := blueprints.Shipped(c.Blueprint); ok && !fileExists(path) {
			env, err = blueprints.Check(c.Blueprint, opts, cat)
		}
		if err != nil {
			return nil, fmt.Errorf("blueprint %s:\n%w", c.Blueprint, err)
		}
	}
	return env, nil
}

// LoadBlueprint reads the stack's blueprint as the stack config says:
// the file, the region and the overrides, then defaults and validation.
func LoadBlueprint(ctx *pulumi.Context) (*blueprints.Environment, error) {
	c, err := ConfigFromContext(ctx)
	if err != nil {
		return nil, err
	}
	cat, err := catalog.Default()
	if err != nil {
		return nil, err
	}
	return c.Load(cat)
}

// Program is the Pulumi program of a Plinth environment. It loads the
// blueprint from the stack config, validates it, composes the layers the
// provider calls for, and exports what was built: on provider aws the AWS
// layer (network, EKS, GPU pools, buckets, registry, tracking database) and
// then the Kubernetes layer on the new cluster; on provider kubernetes the
// Kubernetes layer (GPU enablement, MLflow, monitoring, CI runners) on the
// existing cluster.
func Program(ctx *pulumi.Context) error {
	env, err := LoadBlueprint(ctx)
	if err != nil {
		return err
	}
	ctx.Export("environment", pulumi.String(env.Metadata.Name))
	ctx.Export("provider", pulumi.String(env.Spec.Provider))
	ctx.Export("environmentClass", pulumi.String(env.Class()))
	if env.Spec.Provider == blueprints.ProviderKubernetes {
		provider, err := KubernetesProvider(ctx, env)
		if err != nil {
			return err
		}
		if err := ComposeKubernetes(ctx, env, provider, nil); err != nil {
			return fmt.Errorf("environment %s: %w", env.Metadata.Name, err)
		}
		return nil
	}
	if dir := renderDirectory(ctx); dir != "" {
		return fmt.Errorf("environment %s: %s is set, but only provider kubernetes can be rendered: on provider aws the Kubernetes layer needs the AWS layer's outputs (cluster, roles, database); deploy with plinth up instead", env.Metadata.Name, ConfigRenderDirectory)
	}
	ctx.Export("region", pulumi.String(env.Spec.Region))
	cat, err := catalog.Default()
	if err != nil {
		return err
	}
	layer, err := ComposeAWS(ctx, env, cat)
	if err != nil {
		return fmt.Errorf("environment %s: %w", env.Metadata.Name, err)
	}
	layer.Export(ctx)
	if err := ComposeKubernetes(ctx, env, layer.Cluster.Provider, layer); err != nil {
		return fmt.Errorf("environment %s: %w", env.Metadata.Name, err)
	}
	return nil
}

func fileExists(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir()
}
