package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/blueprints/catalog"
	"github.com/plinth-dev/plinth/blueprints/catalog/refresh"
)

func newCmdCatalog(ios *IOStreams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "Show or rebuild the AWS region catalogue (AZs and GPU instance types per region)",
		Example: `  plinth catalog show
  plinth catalog show af-south-1
  plinth catalog refresh --out ~/.config/plinth/catalog.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError("unknown command %q for %s", args[0], cmd.CommandPath())
			}
			return usageError("%s needs a subcommand: show or refresh", cmd.CommandPath())
		},
		RunE: func(cmd *cobra.Command, args []string) error { return nil },
	}
	cmd.AddCommand(newCmdCatalogShow(ios, g), newCmdCatalogRefresh(ios, g, nil))
	return cmd
}

func newCmdCatalogShow(ios *IOStreams, g *globalOptions) *cobra.Command {
	var catalogPath string
	cmd := &cobra.Command{
		Use:   "show [REGION]",
		Short: "List the regions, or what one region offers",
		Example: `  plinth catalog show
  plinth catalog show eu-west-1 --output json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError("catalog show takes at most one REGION")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := loadCatalog(catalogPath)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			if len(args) == 1 {
				r, ok := cat.Region(args[0])
				if !ok {
					return &exitError{code: exitFailure, err: fmt.Errorf("%q is not in the catalogue; known regions: %s", args[0], strings.Join(cat.RegionCodes(), ", "))}
				}
				if g.json() {
					return writeJSON(ios.Out, map[string]any{"region": args[0], "name": r.Name, "availabilityZones": r.AvailabilityZones, "gpuInstanceTypes": r.GPUInstanceTypes})
				}
				fmt.Fprintf(ios.Out, "%s (%s)\navailability zones: %s\n", args[0], r.Name, strings.Join(r.AvailabilityZones, ", "))
				tw := tabwriter.NewWriter(ios.Out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TYPE\tGPUS\tGPU\tGPU MEMORY\tMIG")
				for _, t := range r.GPUInstanceTypes {
					spec, _ := cat.GPUType(t)
					fmt.Fprintf(tw, "%s\t%d\t%s\t%d GiB\t%v\n", t, spec.GPUs, spec.GPUModel, spec.GPUMemoryGiB, spec.MIG)
				}
				return tw.Flush()
			}
			if g.json() {
				doc, err := catalogJSON(cat)
				if err != nil {
					return err
				}
				return writeJSON(ios.Out, doc)
			}
			fmt.Fprintf(ios.Out, "region catalogue, updated %s\nsource: %s\n\n", cat.Updated, cat.Source)
			tw := tabwriter.NewWriter(ios.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REGION\tNAME\tAZS\tGPU FAMILIES")
			for _, code := range cat.RegionCodes() {
				r := cat.Regions[code]
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", code, r.Name, len(r.AvailabilityZones), strings.Join(r.GPUFamilies(), " "))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&catalogPath, "catalog", "", "region catalogue file to use instead of the embedded one")
	return cmd
}

// catalogJSON returns the catalogue with the keys of the catalogue file
// (source, updated, gpuInstanceTypes, regions, availabilityZones, ...).
// catalog.Catalog has yaml tags only, so encoding it as JSON directly would
// use the Go field names (Source, GPUModel, ...).
func catalogJSON(cat *catalog.Catalog) (map[string]any, error) {
	data, err := yaml.Marshal(cat)
	if err != nil {
		return nil, fmt.Errorf("encode catalogue: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("encode catalogue: %w", err)
	}
	return doc, nil
}

// refreshOptions are the inputs of `plinth catalog refresh`.
type refreshOptions struct {
	IO          *IOStreams
	Global      *globalOptions
	Regions     []string
	Out         string
	Force       bool
	CatalogPath string
}

func newCmdCatalogRefresh(ios *IOStreams, g *globalOptions, runF func(*refreshOptions) error) *cobra.Command {
	opts := &refreshOptions{IO: ios, Global: g}
	cmd := &cobra.Command{
		Use:   "refresh",
		Short: "Rebuild the region catalogue from EC2 (needs AWS credentials)",
		Long: `Rebuild the region catalogue from the EC2 API of your account:
DescribeRegions, then per region DescribeAvailabilityZones and
DescribeInstanceTypeOfferings for the GPU instance types Plinth knows.
Credentials and endpoint come from the usual AWS settings (AWS_PROFILE,
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, ...). Read-only:
it only calls Describe APIs.

Use the result with --catalog FILE or by setting $` + catalog.EnvVar + `=FILE.`,
		Example: `  plinth catalog refresh --out ~/.config/plinth/catalog.yaml
  export PLINTH_CATALOG=~/.config/plinth/catalog.yaml
  plinth catalog refresh --regions us-east-1,eu-west-1 --out /tmp/catalog.yaml`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Out == "" {
				return usageError("--out is required: the catalogue file to write")
			}
			if runF != nil {
				return runF(opts)
			}
			return runCatalogRefresh(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringSliceVar(&opts.Regions, "regions", nil, "only these regions (default: every region enabled for the account)")
	cmd.Flags().StringVar(&opts.Out, "out", "", "catalogue file to write (required)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "overwrite the file if it exists")
	cmd.Flags().StringVar(&opts.CatalogPath, "catalog", "", "catalogue whose GPU type table to keep (default: the embedded one)")
	return cmd
}

func runCatalogRefresh(ctx context.Context, opts *refreshOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	if _, err := os.Stat(opts.Out); err == nil && !opts.Force {
		return &exitError{code: exitFailure, err: fmt.Errorf("%s already exists; use --force to overwrite it", opts.Out)}
	}
	base, err := loadCatalog(opts.CatalogPath)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("load AWS configuration: %w", err)}
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1" // DescribeRegions answers from any region
	}
	if err := refresh.CheckCredentials(ctx, cfg); err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	progress := opts.IO.ErrOut
	cat, err := refresh.Refresh(ctx, cfg, base, refresh.Options{Regions: opts.Regions, Progress: progress})
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	data, err := cat.Marshal()
	if err != nil {
		return err
	}
	if err := writeNewFile(opts.Out, data, opts.Force); err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	types := 0
	for _, r := range cat.Regions {
		types += len(r.GPUInstanceTypes)
	}
	if opts.Global.json() {
		return writeJSON(opts.IO.Out, map[string]any{"file": opts.Out, "regions": len(cat.Regions), "offerings": types, "updated": cat.Updated})
	}
	fmt.Fprintf(opts.IO.Out, "wrote %s: %d regions, %d GPU instance type offerings (updated %s)\n", opts.Out, len(cat.Regions), types, cat.Updated)
	return nil
}
