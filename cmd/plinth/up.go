package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/spf13/cobra"

	"github.com/plinth-dev/plinth/policies/analyzer"
	"github.com/plinth-dev/plinth/policies/rego"
	"github.com/plinth-dev/plinth/stacks/engine"
)

// This file holds `plinth up` and what the engine commands (up, preview,
// destroy, refresh, drift) share: flags, engine options, confirmation,
// Ctrl-C, output and exit codes.

// engineOptions are the inputs every engine command shares.
type engineOptions struct {
	IO     *IOStreams
	Global *globalOptions
	// Stack is --stack: the stack config stacks/Pulumi.<Stack>.yaml.
	Stack string
	// Backend is --backend ("" : file://<root>/.plinth/state).
	Backend string
	// InsecurePassphrase is --insecure-passphrase.
	InsecurePassphrase bool
	// PolicyPacks is --policy-pack (up and preview).
	PolicyPacks []string
	// PolicyRules is --rules (up and preview): custom Rego rules for the
	// policy packs.
	PolicyRules string
	// Yes is --yes (up and destroy): no confirmation.
	Yes bool

	// Root, Program and PulumiBinary replace the project root (found from
	// the working directory), stacks.Program and the pulumi CLI; tests set them.
	Root         string
	Program      pulumi.RunFunc
	PulumiBinary string
}

// addEngineFlags adds the flags of an engine command.
func addEngineFlags(cmd *cobra.Command, opts *engineOptions, confirm, policy bool) {
	cmd.Flags().StringVar(&opts.Stack, "stack", "", "the stack: its config is stacks/Pulumi.<NAME>.yaml (required)")
	cmd.Flags().StringVar(&opts.Backend, "backend", "", "Pulumi backend URL (default file://<project root>/.plinth/state)")
	cmd.Flags().BoolVar(&opts.InsecurePassphrase, "insecure-passphrase", false,
		"without PLINTH_PASSPHRASE, encrypt secrets with the well-known passphrase "+fmt.Sprintf("%q", engine.InsecurePassphrase)+" (dev and staging only)")
	if confirm {
		cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation (needed when not run from a terminal)")
	}
	if policy {
		cmd.Flags().StringArrayVar(&opts.PolicyPacks, "policy-pack", nil, "run this policy pack (a directory or an executable); repeatable")
		cmd.Flags().StringVar(&opts.PolicyRules, "rules", "", "directory of custom Rego rules (data.plinth.deny) the Plinth policy pack evaluates too (passed as $"+analyzer.EnvRules+"); needs --policy-pack")
	}
}

// engineArgs checks that an engine command got --stack and no argument.
func engineArgs(stack *string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError("%s takes no arguments, got %q (name the stack with --stack)", cmd.CommandPath(), strings.Join(args, " "))
		}
		if *stack == "" {
			return usageError("%s needs --stack NAME (a stack config stacks/Pulumi.<NAME>.yaml)", cmd.CommandPath())
		}
		return nil
	}
}

// engine returns the engine options: progress goes to standard error.
// Custom rules are compiled first, so that a broken rule fails before the
// engine starts (the pack would refuse it too).
func (o *engineOptions) engine() (engine.Options, error) {
	if o.PolicyRules != "" {
		if len(o.PolicyPacks) == 0 {
			return engine.Options{}, usageError("--rules needs --policy-pack: the Plinth policy pack (go build -o bin/plinth-policy-pack ./cmd/plinth-policy-pack) evaluates the rules")
		}
		if _, err := rego.Load(o.PolicyRules); err != nil {
			return engine.Options{}, &exitError{code: exitFailure, err: err}
		}
	}
	root := o.Root
	if root == "" {
		var err error
		if root, err = projectRoot(); err != nil {
			return engine.Options{}, &exitError{code: exitFailure, err: err}
		}
	}
	return engine.Options{
		Root:                    root,
		Stack:                   o.Stack,
		Backend:                 o.Backend,
		AllowInsecurePassphrase: o.InsecurePassphrase,
		PulumiBinary:            o.PulumiBinary,
		Program:                 o.Program,
		Progress:                o.IO.ErrOut,
		PolicyPacks:             o.PolicyPacks,
		PolicyRules:             o.PolicyRules,
	}, nil
}

// interruptible returns a context cancelled on the first Ctrl-C (or
// SIGTERM): the engine then asks the Pulumi CLI to stop once in-flight
// steps finish. Later signals are swallowed while it winds down.
func interruptible(ios *IOStreams, op string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sig:
			fmt.Fprintf(ios.ErrOut, "\ninterrupt: stopping %s once the steps in flight finish (run it again to converge)\n", op)
			cancel()
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			close(done)
			signal.Stop(sig)
			cancel()
		})
	}
}

// interactive reports whether in is a terminal a person can answer at.
// Readers that are not files (tests) count as interactive.
func interactive(in io.Reader) bool {
	f, ok := in.(*os.File)
	if !ok {
		return true
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// confirm asks a yes/no question on standard error and reads the answer.
func confirm(ios *IOStreams, question string) bool {
	fmt.Fprintf(ios.ErrOut, "%s Type yes to continue: ", question)
	line, _ := bufio.NewReader(ios.In).ReadString('\n')
	return strings.TrimSpace(line) == "yes"
}

// needConfirmation refuses a command that changes resources when it runs
// without --yes and without a terminal to ask at (exit 2).
func needConfirmation(o *engineOptions, what string) error {
	if o.Yes || interactive(o.IO.In) {
		return nil
	}
	return usageError("%s stack %s and needs confirmation: standard input is not a terminal, so pass --yes", what, o.Stack)
}

// engineError maps an engine error to an exit code: a missing passphrase
// is a usage error (2), everything else a failure (1).
func engineError(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	if errors.Is(err, engine.ErrPassphraseRequired) {
		return &exitError{code: exitUsage, err: err}
	}
	return &exitError{code: exitFailure, err: err}
}

// engineResultJSON is the --output json shape of every engine command.
type engineResultJSON struct {
	Operation       string         `json:"operation"`
	Stack           string         `json:"stack"`
	Backend         string         `json:"backend"`
	Changes         map[string]int `json:"changes"`
	Outputs         map[string]any `json:"outputs,omitempty"`
	Drifted         []string       `json:"drifted"`
	DurationSeconds float64        `json:"durationSeconds"`
}

// writeEngineResult prints a result: JSON, or the changes, outputs and
// drifted resources as text (the live progress went to standard error).
func writeEngineResult(o *engineOptions, eo engine.Options, op string, r *engine.Result) error {
	backend := eo.Backend
	if backend == "" {
		backend = engine.DefaultBackend(eo.Root)
	}
	out := engineResultJSON{
		Operation: op, Stack: o.Stack, Backend: backend,
		Changes: r.Changes, Outputs: r.Outputs, Drifted: r.Drifted,
		DurationSeconds: r.Duration.Round(time.Millisecond).Seconds(),
	}
	if out.Drifted == nil {
		out.Drifted = []string{}
	}
	if o.Global.json() {
		return writeJSON(o.IO.Out, out)
	}
	w := o.IO.Out
	var parts []string
	always := []string{"create", "update", "replace", "delete", "same"}
	for _, k := range always {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.Changes[k]))
	}
	for _, k := range sortedKeys(r.Changes) {
		if !slices.Contains(always, k) && r.Changes[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.Changes[k]))
		}
	}
	fmt.Fprintf(w, "changes: %s\n", strings.Join(parts, ", "))
	if len(r.Outputs) > 0 {
		fmt.Fprintln(w, "outputs:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, k := range sortedKeys(r.Outputs) {
			fmt.Fprintf(tw, "  %s\t%s\n", k, outputValueText(r.Outputs[k]))
		}
		tw.Flush()
	}
	if len(r.Drifted) > 0 {
		fmt.Fprintf(w, "drifted (%d):\n", len(r.Drifted))
		drifted := append([]string(nil), r.Drifted...)
		sort.Strings(drifted)
		for _, u := range drifted {
			fmt.Fprintf(w, "  %s\n", u)
		}
	}
	return nil
}

// outputValueText shows an output value on one line (objects as JSON).
func outputValueText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(b.String())
}

// upOptions are the inputs of `plinth up`.
type upOptions struct{ engineOptions }

func newCmdUp(ios *IOStreams, g *globalOptions, runF func(context.Context, *upOptions) error) *cobra.Command {
	opts := &upOptions{engineOptions{IO: ios, Global: g}}
	cmd := &cobra.Command{
		Use:   "up --stack NAME",
		Short: "Deploy a stack: create or update its resources to match its blueprint",
		Long: `Deploy the environment of a stack with the Pulumi engine (Automation API,
inline program; only the pulumi CLI and the provider plugins are needed).

The stack config is stacks/Pulumi.<NAME>.yaml; its values are copied into the
stack's own config under .plinth/workspace before every run. State goes to
--backend (default file://<project root>/.plinth/state).

Secrets are encrypted with the passphrase in PLINTH_PASSPHRASE (or
PULUMI_CONFIG_PASSPHRASE). Without one, up refuses; --insecure-passphrase
uses a well-known passphrase instead, for dev and staging environments only.
Passwords the environment needs (tracking, Grafana) are generated on the
first run and stored encrypted in the stack's config; CI runner tokens must
be set by you (the error says how).

up refreshes first, so whatever drifted since the last run is put back. It
shows a preview and asks for confirmation (type yes) unless --yes; without a
terminal, --yes is required. Ctrl-C stops it once the steps in flight finish;
running it again converges (it clears what an interruption left behind).

Exit status: 0 deployed, 1 failed or interrupted, 2 usage error (missing
--stack, no --yes without a terminal, no passphrase).`,
		Example: `  export PLINTH_PASSPHRASE=...      # encrypts the stack's secrets
  plinth up --stack local
  plinth up --stack production --yes --policy-pack ./bin/plinth-policy-pack
  plinth up --stack production --policy-pack ./bin/plinth-policy-pack --rules policies/rego/examples
  plinth up --stack local --insecure-passphrase --yes --output json`,
		Args: engineArgs(&opts.Stack),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := interruptible(ios, "up")
			defer stop()
			if runF != nil {
				return runF(ctx, opts)
			}
			return runUp(ctx, opts)
		},
	}
	addEngineFlags(cmd, &opts.engineOptions, true, true)
	return cmd
}

func runUp(ctx context.Context, opts *upOptions) error {
	if err := needConfirmation(&opts.engineOptions, "plinth up changes the resources of"); err != nil {
		return err
	}
	eo, err := opts.engine()
	if err != nil {
		return err
	}
	if !opts.Yes {
		pr, err := engine.Preview(ctx, eo)
		if err != nil {
			return engineError(err)
		}
		if onlyUnchanged(pr) {
			fmt.Fprintf(opts.IO.ErrOut, "stack %s is up to date: nothing to change\n", opts.Stack)
			return writeEngineResult(&opts.engineOptions, eo, "up", pr)
		}
		if !confirm(opts.IO, fmt.Sprintf("Apply these changes to stack %s?", opts.Stack)) {
			return &exitError{code: exitFailure, err: fmt.Errorf("up of stack %s not confirmed: nothing changed", opts.Stack)}
		}
	}
	r, err := engine.Up(ctx, eo)
	if err != nil {
		return engineError(err)
	}
	return writeEngineResult(&opts.engineOptions, eo, "up", r)
}

// onlyUnchanged reports whether a preview plans no change.
func onlyUnchanged(r *engine.Result) bool {
	for k, n := range r.Changes {
		if k != "same" && n > 0 {
			return false
		}
	}
	return len(r.Drifted) == 0
}
