package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/plinth-dev/plinth/stacks/engine"
)

// exitDrift is the exit status of plinth drift when something drifted.
const exitDrift = 3

// driftOptions are the inputs of `plinth drift`.
type driftOptions struct{ engineOptions }

func newCmdDrift(ios *IOStreams, g *globalOptions, runF func(context.Context, *driftOptions) error) *cobra.Command {
	opts := &driftOptions{engineOptions{IO: ios, Global: g}}
	cmd := &cobra.Command{
		Use:   "drift --stack NAME",
		Short: "Check whether a stack's resources still match its state (exit 3 on drift)",
		Long: `Read every resource of a stack from the cloud (or cluster) and compare it
with the stack's state, changing neither (a refresh in preview mode). The
resources that differ, changed or gone behind Plinth's back, are listed.
plinth up puts them back.

Exit status: 0 no drift, 3 drift found, 1 failed or interrupted, 2 usage
error. Scheduled CI jobs can branch on 3.`,
		Example: `  plinth drift --stack production
  plinth drift --stack production --output json | jq -r '.drifted[]'
  plinth drift --stack local || [ $? -eq 3 ] && plinth up --stack local --yes`,
		Args: engineArgs(&opts.Stack),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := interruptible(ios, "drift")
			defer stop()
			if runF != nil {
				return runF(ctx, opts)
			}
			return runDrift(ctx, opts)
		},
	}
	addEngineFlags(cmd, &opts.engineOptions, false, false)
	return cmd
}

func runDrift(ctx context.Context, opts *driftOptions) error {
	eo, err := opts.engine()
	if err != nil {
		return err
	}
	r, err := engine.Drift(ctx, eo)
	if err != nil {
		return engineError(err)
	}
	if err := writeEngineResult(&opts.engineOptions, eo, "drift", r); err != nil {
		return err
	}
	if n := len(r.Drifted); n > 0 {
		return &exitError{code: exitDrift, err: fmt.Errorf("%d resource(s) of stack %s drifted", n, opts.Stack), silent: true}
	}
	return nil
}
