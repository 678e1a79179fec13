package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/policies"
	"github.com/plinth-dev/plinth/policies/rego"
	"github.com/plinth-dev/plinth/policies/report"
	"github.com/plinth-dev/plinth/stacks"
)

// Output formats of policy check.
const (
	outputSARIF = "sarif"
	outputJUnit = "junit"
)

// ConfigPolicies is the stack config key holding a policy Config.
const ConfigPolicies = "plinth:policies"

func newCmdPolicy(ios *IOStreams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check an environment against the policy packs, or list the policies",
		Example: `  plinth policy check blueprints/production.yaml
  plinth policy list`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError("unknown command %q for %s", args[0], cmd.CommandPath())
			}
			return usageError("%s needs a subcommand: check or list", cmd.CommandPath())
		},
		RunE: func(cmd *cobra.Command, args []string) error { return nil },
	}
	cmd.AddCommand(newCmdPolicyCheck(ios, g, nil), newCmdPolicyList(ios, g))
	return cmd
}

// policyCheckOptions are the inputs of `plinth policy check`.
type policyCheckOptions struct {
	IO          *IOStreams
	Global      *globalOptions
	Blueprint   string
	Stack       string
	ConfigFile  string
	RulesDir    string
	CatalogPath string
}

func newCmdPolicyCheck(ios *IOStreams, g *globalOptions, runF func(*policyCheckOptions) error) *cobra.Command {
	opts := &policyCheckOptions{IO: ios, Global: g}
	cmd := &cobra.Command{
		Use:   "check [BLUEPRINT | --stack NAME]",
		Short: "Plan an environment offline and check it against every policy",
		Long: `Plan the environment offline (as plinth plan does) and evaluate the policy
packs (security, cost, tagging, reliability) on every resource, plus custom
Rego rules from --rules DIR. Enforcement per policy is mandatory, advisory or
disabled, by environment class, adjusted by --config FILE or the stack config
key plinth:policies.

Output: text, json, sarif (SARIF 2.1.0 for GitHub code scanning, pointing at
the blueprint line behind each resource) or junit (for CI dashboards).

Exit status: 0 no mandatory violation, 1 a mandatory violation (or the plan
failed), 2 usage error.`,
		Example: `  plinth policy check blueprints/production.yaml
  plinth policy check --stack production --output sarif > plinth.sarif
  plinth policy check gpu-training --rules policies/rego/examples --output junit > policy.xml
  plinth policy check gpu-training --config my-policies.yaml`,
		Annotations: map[string]string{outputsAnnotation: "text,json,sarif,junit"},
		Args:        planArgs(&opts.Stack),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Blueprint = args[0]
			}
			if runF != nil {
				return runF(opts)
			}
			return runPolicyCheck(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Stack, "stack", "", "check the stack config stacks/Pulumi.<NAME>.yaml")
	cmd.Flags().StringVar(&opts.ConfigFile, "config", "", "policy config file (YAML: packs, policies) adjusting enforcement and settings")
	cmd.Flags().StringVar(&opts.RulesDir, "rules", "", "directory of custom Rego rules (data.plinth.deny) to evaluate too")
	cmd.Flags().StringVar(&opts.CatalogPath, "catalog", "", "region catalogue file to use instead of the embedded one")
	return cmd
}

// policyOutcome is a checked plan.
type policyOutcome struct {
	plan   *offlinePlan
	report *policies.Report
}

func runPolicyCheck(ctx context.Context, opts *policyCheckOptions) error {
	p, err := loadOfflinePlan(opts.IO, opts.Blueprint, opts.Stack, opts.CatalogPath)
	if err != nil {
		return err
	}
	out, err := checkPolicies(ctx, p, opts.ConfigFile, opts.RulesDir)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	ropts := report.Options{
		Blueprint:   p.blueprintDisplay,
		ToolVersion: buildVersion(),
		Locate: func(path string) (int, int) {
			pos := p.plan.Env.Position(path)
			return pos.Line, pos.Column
		},
	}
	w := opts.IO.Out
	all := policies.All()
	switch opts.Global.Output {
	case outputJSON:
		err = report.JSON(w, out.report, ropts)
	case outputSARIF:
		err = report.SARIF(w, out.report, all, ropts)
	case outputJUnit:
		err = report.JUnit(w, out.report, all, ropts)
	default:
		err = report.Text(w, out.report, all, ropts)
	}
	if err != nil {
		return err
	}
	if n := out.report.Mandatory(); n > 0 {
		return failed(fmt.Errorf("%d mandatory policy violation(s)", n))
	}
	return nil
}

// checkPolicies evaluates the packs and any custom rules on a plan.
func checkPolicies(ctx context.Context, p *offlinePlan, configFile, rulesDir string) (*policyOutcome, error) {
	cfg, err := policyConfig(p, configFile)
	if err != nil {
		return nil, err
	}
	in := stacks.PolicyInput(p.plan, p.stack)
	rep, err := policies.Evaluate(policies.All(), in, cfg)
	if err != nil {
		return nil, err
	}
	if rulesDir != "" {
		rules, err := rego.Load(rulesDir)
		if err != nil {
			return nil, err
		}
		vs, err := rules.Evaluate(ctx, in)
		if err != nil {
			return nil, err
		}
		rep.Merge(vs)
	}
	return &policyOutcome{plan: p, report: rep}, nil
}

// policyConfig reads the policy config from a file, else from the stack
// config key plinth:policies, else none.
func policyConfig(p *offlinePlan, file string) (*policies.Config, error) {
	var cfg policies.Config
	switch {
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("policy config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && err != io.EOF {
			return nil, fmt.Errorf("policy config %s: %w", file, err)
		}
	case p.values[ConfigPolicies] != "":
		if err := json.Unmarshal([]byte(p.values[ConfigPolicies]), &cfg); err != nil {
			return nil, fmt.Errorf("stack config %s: %w", ConfigPolicies, err)
		}
	default:
		return nil, nil
	}
	if err := cfg.Check(policies.All()); err != nil {
		return nil, fmt.Errorf("policy config: %w", err)
	}
	return &cfg, nil
}

func newCmdPolicyList(ios *IOStreams, g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List every policy: pack, severity, what it checks, default enforcement per environment class",
		Example: `  plinth policy list
  plinth policy list --output json`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			all := policies.All()
			if g.json() {
				return writeJSON(ios.Out, all)
			}
			tw := tabwriter.NewWriter(ios.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "POLICY\tSEVERITY\tDEV\tSTAGING\tPROD\tCHECKS")
			for _, p := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID(), p.Severity, p.Defaults[policies.ClassDev], p.Defaults[policies.ClassStaging], p.Defaults[policies.ClassProd], p.Description)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(ios.Out, "\n%d policies. Adjust with --config FILE or the stack config key %s (packs: {cost: advisory}, policies: {cost.max-gpus: {enforcement: mandatory, settings: {maxGPUs: 32}}}).\n", len(all), ConfigPolicies)
			return nil
		},
	}
}
