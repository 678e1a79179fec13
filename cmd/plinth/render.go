package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plinth-dev/plinth/stacks/engine"
)

// renderOptions are the inputs of `plinth render`.
type renderOptions struct {
	IO     *IOStreams
	Global *globalOptions
	// Blueprint is the BLUEPRINT argument (a file or a shipped name).
	Blueprint string
	// Stack is --stack: render that stack's blueprint with its config.
	Stack string
	// Out is --out.
	Out string
	// ChartsRepository is --charts-repository.
	ChartsRepository string
	// IncludeSecrets is --include-secrets.
	IncludeSecrets bool

	// Root and PulumiBinary replace the project root and the pulumi CLI; tests set them.
	Root         string
	PulumiBinary string
}

func newCmdRender(ios *IOStreams, g *globalOptions, runF func(context.Context, *renderOptions) error) *cobra.Command {
	opts := &renderOptions{IO: ios, Global: g}
	cmd := &cobra.Command{
		Use:   "render BLUEPRINT|--stack NAME --out DIR",
		Short: "Render the Kubernetes layer of a blueprint to YAML manifests, for GitOps",
		Long: `Render the Kubernetes layer of a provider-kubernetes blueprint (namespaces,
GPU enablement, MLflow, monitoring, CI runners) as plain YAML manifests, for
GitOps tools (Argo CD, Flux) or kubectl apply.

The blueprint's program runs through the real Pulumi engine on a throwaway
stack (temporary state and passphrase, deleted afterwards) whose Kubernetes
provider writes each resource to a file instead of reaching a cluster
(renderYamlToDirectory). Helm charts are templated into plain manifests, from
their pinned repository or --charts-repository (a mirror). No cluster is
contacted; the pulumi CLI and the Kubernetes provider plugin are needed.

DIR gets 0-crd/ (CustomResourceDefinitions: apply them first) and
1-manifest/ (everything else). Secrets hold their values in plaintext, so
they are left out and listed: give the cluster those Secrets from your secret
manager. --include-secrets writes them under DIR/secrets (mode 0600) with
freshly generated passwords and the placeholder ` + engine.PlaceholderSecret + ` for tokens; for a test
cluster, never for a Git repository.

DIR must be new, empty, or an earlier render (which is replaced). A blueprint
on provider aws cannot be rendered: its Kubernetes layer needs the outputs of
the AWS layer; deploy it with plinth up.

Exit status: 0 rendered, 1 failed, 2 usage error.`,
		Example: `  plinth render local --out deploy/local
  plinth render --stack local --out deploy/local --charts-repository https://charts.internal/helm
  kubectl apply --server-side -f deploy/local/0-crd && kubectl apply --server-side -R -f deploy/local/1-manifest`,
		Args: planArgs(&opts.Stack),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Blueprint = args[0]
			}
			if opts.Out == "" {
				return usageError("%s needs --out DIR", cmd.CommandPath())
			}
			ctx, stop := interruptible(ios, "render")
			defer stop()
			if runF != nil {
				return runF(ctx, opts)
			}
			return runRender(ctx, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Stack, "stack", "", "render this stack's blueprint with its config (stacks/Pulumi.<NAME>.yaml)")
	cmd.Flags().StringVar(&opts.Out, "out", "", "output directory (required): new, empty, or an earlier render")
	cmd.Flags().StringVar(&opts.ChartsRepository, "charts-repository", "", "template the charts from this mirror (oci:// or http(s)://) instead of their pinned repository")
	cmd.Flags().BoolVar(&opts.IncludeSecrets, "include-secrets", false, "also write the Secrets, in plaintext, under DIR/secrets (for test clusters)")
	return cmd
}

func runRender(ctx context.Context, opts *renderOptions) error {
	root := opts.Root
	if root == "" {
		var err error
		if root, err = projectRoot(); err != nil {
			return &exitError{code: exitFailure, err: err}
		}
	}
	res, err := engine.Render(ctx, engine.RenderOptions{
		Root:             root,
		Stack:            opts.Stack,
		Blueprint:        opts.Blueprint,
		ChartsRepository: opts.ChartsRepository,
		OutDir:           opts.Out,
		IncludeSecrets:   opts.IncludeSecrets,
		PulumiBinary:     opts.PulumiBinary,
		Progress:         opts.IO.ErrOut,
	})
	if err != nil {
		return engineError(err)
	}
	if opts.Global.json() {
		return writeJSON(opts.IO.Out, struct {
			*engine.RenderResult
			DurationSeconds float64 `json:"durationSeconds"`
		}{res, res.Duration.Round(time.Millisecond).Seconds()})
	}
	w := opts.IO.Out
	var kinds []string
	for _, k := range sortedKeys(res.Kinds) {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, res.Kinds[k]))
	}
	fmt.Fprintf(w, "rendered %s to %s in %s\n", plural(len(res.Files), "manifest"), res.OutDir, res.Duration.Round(100*time.Millisecond))
	if len(kinds) > 0 {
		fmt.Fprintf(w, "  %s\n", strings.Join(kinds, ", "))
	}
	if len(res.OmittedSecrets) > 0 {
		fmt.Fprintf(w, "left out %s (their values would be plaintext; create them from your secret manager, or render with --include-secrets for a test cluster):\n", plural(len(res.OmittedSecrets), "Secret"))
		for _, s := range res.OmittedSecrets {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
	if opts.IncludeSecrets {
		fmt.Fprintf(w, "warning: %s/%s holds Secrets in plaintext: never commit it\n", res.OutDir, engine.RenderSecretDir)
	}
	fmt.Fprintf(w, "apply: kubectl apply --server-side -R -f %s/%s, then -R -f %s/%s\n", res.OutDir, engine.RenderCRDDir, res.OutDir, engine.RenderManifestDir)
	return nil
}
