package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes CI can branch on.
const (
	exitOK      = 0 // success; for validate: every blueprint is valid
	exitFailure = 1 // the work failed or found problems (invalid blueprint, refused copy)
	exitUsage   = 2 // the command line was wrong
)

// IOStreams are the standard streams a command reads and writes; tests
// pass buffers.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// exitError carries an exit code with an error. silent means the command
// already reported the problem on its own.
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks a command-line mistake (exit 2).
func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// failed marks a failure that the command has already printed (exit 1).
func failed(err error) error {
	return &exitError{code: exitFailure, err: err, silent: true}
}

// Output formats.
const (
	outputText = "text"
	outputJSON = "json"
)

// outputsAnnotation lists, on a command, the output formats it supports
// when they are not just text and json.
const outputsAnnotation = "plinth.dev/outputs"

// globalOptions are the flags every command shares.
type globalOptions struct {
	Output string
}

func (g *globalOptions) json() bool { return g.Output == outputJSON }

// run builds the command tree, runs it and maps the outcome to an exit code.
func run(args []string, ios *IOStreams) int {
	root := newRootCmd(ios)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if !ee.silent {
			fmt.Fprintf(ios.ErrOut, "error: %v\n", ee.err)
		}
		if ee.code == exitUsage {
			fmt.Fprintf(ios.ErrOut, "Run '%s --help' for usage.\n", commandPathFor(root, args))
		}
		return ee.code
	}
	// Errors cobra raises itself (unknown command, bad flag, wrong number
	// of arguments) are usage errors.
	fmt.Fprintf(ios.ErrOut, "error: %v\n", err)
	fmt.Fprintf(ios.ErrOut, "Run '%s --help' for usage.\n", commandPathFor(root, args))
	return exitUsage
}

func commandPathFor(root *cobra.Command, args []string) string {
	if cmd, _, err := root.Find(args); err == nil && cmd != nil {
		return cmd.CommandPath()
	}
	return root.Name()
}

func newRootCmd(ios *IOStreams) *cobra.Command {
	g := &globalOptions{Output: outputText}
	root := &cobra.Command{
		Use:   "plinth",
		Short: "Turn one blueprint file into a complete, reproducible MLOps environment",
		Long: `Plinth turns one blueprint file into a complete MLOps environment: network,
Kubernetes cluster, GPU node pools, object storage, container registry, MLflow
tracking, monitoring and CI runners, built from Pulumi components.

plinth validates blueprints, copies them to new regions, prints their JSON
Schema, and (with later releases) plans, checks policy and applies them.`,
		Example: `  # Check a blueprint (or a shipped one by name)
  plinth validate blueprints/gpu-training.yaml
  plinth validate local

  # Copy a blueprint to another region as a new stack config
  plinth blueprint copy blueprints/gpu-training.yaml --region eu-west-1`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			allowed := []string{outputText, outputJSON}
			if list, ok := cmd.Annotations[outputsAnnotation]; ok {
				allowed = strings.Split(list, ",")
			}
			if !slices.Contains(allowed, g.Output) {
				return usageError("--output %q is not supported by %s; allowed: %s", g.Output, cmd.CommandPath(), strings.Join(allowed, ", "))
			}
			return nil
		},
	}
	root.SetIn(ios.In)
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	root.CompletionOptions.DisableDefaultCmd = true
	root.PersistentFlags().StringVarP(&g.Output, "output", "o", outputText, "output format: text or json (policy check also: sarif, junit)")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError("%v", err)
	})

	root.AddCommand(
		newCmdValidate(ios, g, nil),
		newCmdPlan(ios, g, nil),
		newCmdPolicy(ios, g),
		newCmdPreview(ios, g, nil),
		newCmdUp(ios, g, nil),
		newCmdDrift(ios, g, nil),
		newCmdRefresh(ios, g, nil),
		newCmdDestroy(ios, g, nil),
		newCmdRender(ios, g, nil),
		newCmdBootstrapBackend(ios, g, nil),
		newCmdBlueprint(ios, g),
		newCmdSchema(ios, g),
		newCmdCatalog(ios, g),
		newCmdVersion(ios, g),
		newCmdCompletion(ios),
	)
	return root
}

// exactArgs is cobra.ExactArgs with a usage error (exit 2) and a clearer message.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s takes %d argument(s) (%s), got %d", cmd.CommandPath(), n, what, len(args))
		}
		return nil
	}
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// plural returns "1 thing" or "2 things".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	if strings.HasSuffix(word, "s") {
		return fmt.Sprintf("%d %ses", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
