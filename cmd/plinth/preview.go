package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/plinth-dev/plinth/stacks/engine"
)

// previewOptions are the inputs of `plinth preview`.
type previewOptions struct{ engineOptions }

func newCmdPreview(ios *IOStreams, g *globalOptions, runF func(context.Context, *previewOptions) error) *cobra.Command {
	opts := &previewOptions{engineOptions{IO: ios, Global: g}}
	cmd := &cobra.Command{
		Use:   "preview --stack NAME",
		Short: "Show what plinth up would change in a stack, changing no resource",
		Long: `Run the environment's program with the Pulumi engine and show, resource by
resource, what plinth up would create, update, replace or delete. The live
state is read first (in memory), so drift shows as updates.

preview creates the stack when it is new and generates the passwords the
environment needs (both only touch the stack's config); no resource changes.
Passphrase, backend and stack config work as for plinth up. Policy packs
given with --policy-pack are run, and their violations shown; --rules DIR
gives Plinth's pack custom Rego rules to evaluate too, as plinth policy
check --rules does offline.

Exit status: 0 previewed, 1 failed (program error, mandatory policy
violation), 2 usage error.`,
		Example: `  plinth preview --stack local
  plinth preview --stack production --policy-pack ./bin/plinth-policy-pack
  plinth preview --stack production --policy-pack ./bin/plinth-policy-pack --rules policies/rego/examples
  plinth preview --stack local --output json | jq .changes`,
		Args: engineArgs(&opts.Stack),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := interruptible(ios, "preview")
			defer stop()
			if runF != nil {
				return runF(ctx, opts)
			}
			return runPreview(ctx, opts)
		},
	}
	addEngineFlags(cmd, &opts.engineOptions, false, true)
	return cmd
}

func runPreview(ctx context.Context, opts *previewOptions) error {
	eo, err := opts.engine()
	if err != nil {
		return err
	}
	r, err := engine.Preview(ctx, eo)
	if err != nil {
		return engineError(err)
	}
	return writeEngineResult(&opts.engineOptions, eo, "preview", r)
}
