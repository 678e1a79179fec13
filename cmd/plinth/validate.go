package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/blueprints/catalog"
)

// validateOptions are the inputs of `plinth validate`.
type validateOptions struct {
	IO          *IOStreams
	Global      *globalOptions
	Files       []string
	CatalogPath string
}

func newCmdValidate(ios *IOStreams, g *globalOptions, runF func(*validateOptions) error) *cobra.Command {
	opts := &validateOptions{IO: ios, Global: g}
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check blueprints: format, defaults and the region catalogue",
		Long: `Check one or more blueprints strictly: unknown fields, wrong types, every
validation rule, and the region catalogue (regions, AZ counts, GPU instance
types offered). Every problem of every file is reported at once, with
file:line:column and the field path.

FILE is a path, or the name of a shipped blueprint (local, gpu-training,
production).

Exit status: 0 every blueprint is valid, 1 at least one is invalid,
2 the command line was wrong.`,
		Example: `  plinth validate blueprints/gpu-training.yaml
  plinth validate local gpu-training production
  plinth validate --output json stacks/*.yaml blueprints/*.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("plinth validate needs at least one FILE (a path, or a shipped blueprint: %v)", blueprints.ShippedNames())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			if runF != nil {
				return runF(opts)
			}
			return runValidate(opts)
		},
	}
	cmd.Flags().StringVar(&opts.CatalogPath, "catalog", "", "region catalogue file to use instead of the embedded one (also $"+catalog.EnvVar+")")
	return cmd
}

// validateResult is the JSON shape of one file's result.
type validateResult struct {
	File     string                   `json:"file"`
	Valid    bool                     `json:"valid"`
	Name     string                   `json:"name,omitempty"`
	Provider string                   `json:"provider,omitempty"`
	Class    string                   `json:"environmentClass,omitempty"`
	Errors   []*blueprints.FieldError `json:"errors"`
}

func loadCatalog(path string) (*catalog.Catalog, error) {
	if path != "" {
		return catalog.Load(path)
	}
	return catalog.Default()
}

func runValidate(opts *validateOptions) error {
	cat, err := loadCatalog(opts.CatalogPath)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	results := make([]validateResult, 0, len(opts.Files))
	invalid := 0
	for _, file := range opts.Files {
		res := validateResult{File: file, Errors: []*blueprints.FieldError{}}
		env, err := blueprints.Check(file, blueprints.LoadOptions{}, cat)
		var list blueprints.ErrorList
		switch {
		case err == nil:
			res.Valid = true
			res.File = env.File()
			res.Name, res.Provider, res.Class = env.Metadata.Name, env.Spec.Provider, env.Class()
		case errors.As(err, &list):
			res.Errors = list
			if len(list) > 0 {
				res.File = list[0].File
			}
		default:
			res.Errors = []*blueprints.FieldError{{Position: blueprints.Position{File: file}, Message: err.Error()}}
		}
		if !res.Valid {
			invalid++
		}
		results = append(results, res)
	}

	out := opts.IO.Out
	if opts.Global.json() {
		if err := writeJSON(out, map[string]any{"valid": invalid == 0, "blueprints": results}); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			if r.Valid {
				fmt.Fprintf(out, "ok    %s (%s: provider %s, %s)\n", r.File, r.Name, r.Provider, r.Class)
				continue
			}
			for _, e := range r.Errors {
				fmt.Fprintln(out, e.Error())
			}
			fmt.Fprintf(out, "FAIL  %s: %s\n", r.File, plural(len(r.Errors), "problem"))
		}
		if len(results) > 1 {
			fmt.Fprintf(out, "%s checked: %d valid, %d invalid\n", plural(len(results), "blueprint"), len(results)-invalid, invalid)
		}
	}
	if invalid > 0 {
		return failed(fmt.Errorf("%d invalid blueprint(s)", invalid))
	}
	return nil
}
