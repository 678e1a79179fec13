package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/plinth-dev/plinth/stacks/engine"
)

// destroyOptions are the inputs of `plinth destroy`.
type destroyOptions struct{ engineOptions }

func newCmdDestroy(ios *IOStreams, g *globalOptions, runF func(context.Context, *destroyOptions) error) *cobra.Command {
	opts := &destroyOptions{engineOptions{IO: ios, Global: g}}
	cmd := &cobra.Command{
		Use:   "destroy --stack NAME",
		Short: "Delete every resource of a stack",
		Long: `Delete every resource of a stack with the Pulumi engine, dependents first.
The stack itself stays, with its history and its config (generated secrets
included), so a later plinth up brings the same environment back.

destroy asks for confirmation (type yes) unless --yes; without a terminal,
--yes is required. Ctrl-C stops it once the steps in flight finish; running
it again finishes the job.

Exit status: 0 destroyed, 1 failed or interrupted, 2 usage error (missing
--stack, no --yes without a terminal, no passphrase).`,
		Example: `  plinth destroy --stack local
  plinth destroy --stack gpu-training --yes --output json`,
		Args: engineArgs(&opts.Stack),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := interruptible(ios, "destroy")
			defer stop()
			if runF != nil {
				return runF(ctx, opts)
			}
			return runDestroy(ctx, opts)
		},
	}
	addEngineFlags(cmd, &opts.engineOptions, true, false)
	return cmd
}

func runDestroy(ctx context.Context, opts *destroyOptions) error {
	if err := needConfirmation(&opts.engineOptions, "plinth destroy deletes every resource of"); err != nil {
		return err
	}
	eo, err := opts.engine()
	if err != nil {
		return err
	}
	if !opts.Yes {
		backend := eo.Backend
		if backend == "" {
			backend = engine.DefaultBackend(eo.Root)
		}
		if !confirm(opts.IO, fmt.Sprintf("Delete every resource of stack %s (backend %s)?", opts.Stack, backend)) {
			return &exitError{code: exitFailure, err: fmt.Errorf("destroy of stack %s not confirmed: nothing deleted", opts.Stack)}
		}
	}
	r, err := engine.Destroy(ctx, eo)
	if err != nil {
		return engineError(err)
	}
	return writeEngineResult(&opts.engineOptions, eo, "destroy", r)
}
