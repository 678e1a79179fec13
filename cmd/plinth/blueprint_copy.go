package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/blueprints"
)

func newCmdBlueprint(ios *IOStreams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "blueprint",
		Short:   "Work with blueprints: copy one to another region",
		Example: `  plinth blueprint copy blueprints/gpu-training.yaml --region eu-west-1`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError("unknown command %q for %s", args[0], cmd.CommandPath())
			}
			return usageError("%s needs a subcommand: copy", cmd.CommandPath())
		},
		RunE: func(cmd *cobra.Command, args []string) error { return nil },
	}
	cmd.AddCommand(newCmdBlueprintCopy(ios, g, nil))
	return cmd
}

// copyOptions are the inputs of `plinth blueprint copy`.
type copyOptions struct {
	IO          *IOStreams
	Global      *globalOptions
	File        string
	Region      string
	Out         string
	Stack       string
	Force       bool
	CatalogPath string
	Now         func() time.Time
}

func newCmdBlueprintCopy(ios *IOStreams, g *globalOptions, runF func(*copyOptions) error) *cobra.Command {
	opts := &copyOptions{IO: ios, Global: g, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "copy FILE --region REGION",
		Short: "Write a stack config that runs a blueprint in another region",
		Long: `Check that a region can serve a blueprint (region known, enough AZs, every
GPU instance type offered there) and write a stack config for it:
stacks/Pulumi.<name>-<region>.yaml, picking the blueprint and setting
aws:region (and overrides where the blueprint names AZs of its own region).

If the region cannot serve the blueprint, nothing is written and every
reason is listed. An existing file is never overwritten without --force.

Exit status: 0 written, 1 refused (or the file exists), 2 usage error.`,
		Example: `  # A copy of the dev training environment in Ireland
  plinth blueprint copy blueprints/gpu-training.yaml --region eu-west-1

  # Refused: Cape Town offers no p4d.24xlarge
  plinth blueprint copy blueprints/gpu-training.yaml --region af-south-1

  # Name the stack and the file yourself
  plinth blueprint copy production --region us-east-1 --stack ml-prod-use1 --out stacks/Pulumi.ml-prod-use1.yaml`,
		Args: exactArgs(1, "the blueprint FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if opts.Region == "" {
				return usageError("--region is required")
			}
			if runF != nil {
				return runF(opts)
			}
			return runBlueprintCopy(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Region, "region", "", "target AWS region (required)")
	cmd.Flags().StringVar(&opts.Out, "out", "", "stack config file to write (default stacks/Pulumi.<stack>.yaml)")
	cmd.Flags().StringVar(&opts.Stack, "stack", "", "stack name (default <metadata.name>-<region>)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "overwrite the file if it exists")
	cmd.Flags().StringVar(&opts.CatalogPath, "catalog", "", "region catalogue file to use instead of the embedded one")
	return cmd
}

// copyResult is the JSON shape of the outcome.
type copyResult struct {
	Written   bool                     `json:"written"`
	Blueprint string                   `json:"blueprint"`
	Region    string                   `json:"region"`
	Stack     string                   `json:"stack,omitempty"`
	File      string                   `json:"file,omitempty"`
	Overrides map[string]any           `json:"overrides,omitempty"`
	Reasons   []*blueprints.FieldError `json:"reasons,omitempty"`
}

func runBlueprintCopy(opts *copyOptions) error {
	cat, err := loadCatalog(opts.CatalogPath)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	res := copyResult{Blueprint: opts.File, Region: opts.Region}

	// Read the blueprint as written, to see what it is and what is
	// region-specific in it.
	env, err := blueprints.Load(opts.File)
	if err != nil {
		return refuse(opts, res, err, "the blueprint does not load")
	}
	if env.Spec.Provider != blueprints.ProviderAWS {
		return refuse(opts, res, &blueprints.FieldError{
			Position: env.Position("spec.provider"), Path: "spec.provider",
			Message: fmt.Sprintf("provider is %q; only provider aws blueprints have a region to copy to", env.Spec.Provider),
		}, "nothing to copy")
	}
	if n := env.Spec.Network; n != nil && n.Existing != nil {
		return refuse(opts, res, &blueprints.FieldError{
			Position: env.Position("spec.network.existing"), Path: "spec.network.existing",
			Message: "the blueprint sits on an existing network, which belongs to its own region; copy the blueprint and name the target region's network in it",
		}, "its network cannot move")
	}
	overrides := map[string]any{}
	if n := env.Spec.Network; n != nil && n.AvailabilityZones != nil && len(n.AvailabilityZones.Names) > 0 {
		// AZ names belong to one region: ask for the same number instead.
		overrides["spec.network.availabilityZones"] = len(n.AvailabilityZones.Names)
	}

	// Check the blueprint as it would run in the target region.
	checked, err := blueprints.Check(opts.File, blueprints.LoadOptions{
		Region:          opts.Region,
		Overrides:       overrides,
		OverridesOrigin: "plinth blueprint copy --region " + opts.Region,
	}, cat)
	if err != nil {
		return refuse(opts, res, err, fmt.Sprintf("%s cannot serve it", opts.Region))
	}

	stack := opts.Stack
	if stack == "" {
		stack = checked.Metadata.Name + "-" + opts.Region
	}
	out := opts.Out
	if out == "" {
		out = filepath.Join("stacks", "Pulumi."+stack+".yaml")
	}
	ref := blueprintRef(opts.File, checked.File())
	data, err := stackConfig(stackConfigInput{
		Blueprint: ref, Region: opts.Region, Overrides: overrides,
		Name: checked.Metadata.Name, CatalogUpdated: cat.Updated, Date: opts.Now().UTC().Format("2006-01-02"),
	})
	if err != nil {
		return err
	}
	if err := writeNewFile(out, data, opts.Force); err != nil {
		return &exitError{code: exitFailure, err: err}
	}

	res.Written, res.Stack, res.File, res.Blueprint = true, stack, out, ref
	if len(overrides) > 0 {
		res.Overrides = overrides
	}
	if opts.Global.json() {
		return writeJSON(opts.IO.Out, res)
	}
	w := opts.IO.Out
	fmt.Fprintf(w, "%s fits %s: wrote %s (stack %s)\n", checked.Metadata.Name, opts.Region, out, stack)
	for _, k := range sortedKeys(overrides) {
		fmt.Fprintf(w, "  override %s: %v (AZ names belong to the source region)\n", k, overrides[k])
	}
	fmt.Fprintf(w, "next: pulumi stack select --create %s && pulumi up\n", stack)
	return nil
}

// refuse reports why a copy cannot be made, and fails with exit 1.
func refuse(opts *copyOptions, res copyResult, err error, why string) error {
	var list blueprints.ErrorList
	var fe *blueprints.FieldError
	switch {
	case errors.As(err, &list):
		res.Reasons = list
	case errors.As(err, &fe):
		res.Reasons = []*blueprints.FieldError{fe}
	default:
		res.Reasons = []*blueprints.FieldError{{Position: blueprints.Position{File: opts.File}, Message: err.Error()}}
	}
	if opts.Global.json() {
		if err := writeJSON(opts.IO.Out, res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(opts.IO.ErrOut, "refused: cannot copy %s to %s: %s (%s):\n", opts.File, opts.Region, why, plural(len(res.Reasons), "reason"))
		for _, r := range res.Reasons {
			fmt.Fprintf(opts.IO.ErrOut, "  %s\n", r.Error())
		}
		fmt.Fprintln(opts.IO.ErrOut, "nothing was written")
	}
	return failed(fmt.Errorf("copy refused"))
}

// blueprintRef is how the stack config names the blueprint: the path as
// given (relative to the project root, where Pulumi.yaml is), or the
// repository path of a shipped blueprint.
func blueprintRef(arg, loadedFrom string) string {
	if _, err := os.Stat(arg); err == nil {
		return filepath.ToSlash(filepath.Clean(arg))
	}
	return loadedFrom
}

type stackConfigInput struct {
	Blueprint, Region, Name, CatalogUpdated, Date string
	Overrides                                     map[string]any
}

// stackConfig renders stacks/Pulumi.<stack>.yaml.
func stackConfig(in stackConfigInput) ([]byte, error) {
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }
	config := &yaml.Node{Kind: yaml.MappingNode}
	config.Content = append(config.Content,
		str("plinth:blueprint"), str(in.Blueprint),
		str("aws:region"), str(in.Region),
	)
	if len(in.Overrides) > 0 {
		ov := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range sortedKeys(in.Overrides) {
			var v yaml.Node
			if err := v.Encode(in.Overrides[k]); err != nil {
				return nil, fmt.Errorf("encode override %s: %w", k, err)
			}
			ov.Content = append(ov.Content, str(k), &v)
		}
		config.Content = append(config.Content, str("plinth:overrides"), ov)
	}
	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{str("config"), config}}
	doc.HeadComment = fmt.Sprintf("Stack config: blueprint %s in %s.\nWritten by `plinth blueprint copy` on %s, after checking the region\nagainst the region catalogue (updated %s). aws:region replaces spec.region.", in.Name, in.Region, in.Date, in.CatalogUpdated)
	var body bytes.Buffer
	enc := yaml.NewEncoder(&body)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("render stack config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render stack config: %w", err)
	}
	return body.Bytes(), nil
}

// writeNewFile writes data to path through a temporary file and a rename,
// creating the directory if needed; it refuses to replace an existing file
// unless force is set.
func writeNewFile(path string, data []byte, force bool) error {
	if _, err := os.Stat(path); err == nil && !force {
		return fmt.Errorf("%s already exists; use --force to overwrite it", path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("check %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".plinth-*.yaml")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
