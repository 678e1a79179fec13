package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/plinth-dev/plinth/stacks/engine"
)

// stackRefreshOptions are the inputs of `plinth refresh`.
type stackRefreshOptions struct{ engineOptions }

func newCmdRefresh(ios *IOStreams, g *globalOptions, runF func(context.Context, *stackRefreshOptions) error) *cobra.Command {
	opts := &stackRefreshOptions{engineOptions{IO: ios, Global: g}}
	cmd := &cobra.Command{
		Use:   "refresh --stack NAME",
		Short: "Read the live state of a stack's resources into its state",
		Long: `Read every resource of a stack from the cloud (or cluster) and record what
is there in the stack's state. No resource changes; the resources whose
state changed are listed as drifted. To only look, use plinth drift; to put
drifted resources back as the blueprint says, use plinth up.

Exit status: 0 refreshed (whether or not something drifted), 1 failed or
interrupted, 2 usage error.`,
		Example: `  plinth refresh --stack local
  plinth refresh --stack production --output json | jq .drifted`,
		Args: engineArgs(&opts.Stack),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := interruptible(ios, "refresh")
			defer stop()
			if runF != nil {
				return runF(ctx, opts)
			}
			return runStackRefresh(ctx, opts)
		},
	}
	addEngineFlags(cmd, &opts.engineOptions, false, false)
	return cmd
}

func runStackRefresh(ctx context.Context, opts *stackRefreshOptions) error {
	eo, err := opts.engine()
	if err != nil {
		return err
	}
	r, err := engine.Refresh(ctx, eo)
	if err != nil {
		return engineError(err)
	}
	return writeEngineResult(&opts.engineOptions, eo, "refresh", r)
}
