package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/blueprints/versions"
	"github.com/plinth-dev/plinth/policies"
	"github.com/plinth-dev/plinth/stacks"
	"github.com/plinth-dev/plinth/stacks/plan"
)

// planOptions are the inputs of `plinth plan`.
type planOptions struct {
	IO          *IOStreams
	Global      *globalOptions
	Blueprint   string
	Stack       string
	CatalogPath string
}

func newCmdPlan(ios *IOStreams, g *globalOptions, runF func(*planOptions) error) *cobra.Command {
	opts := &planOptions{IO: ios, Global: g}
	cmd := &cobra.Command{
		Use:   "plan [BLUEPRINT | --stack NAME]",
		Short: "Show every resource an environment would create, offline",
		Long: `Run the environment's Pulumi program offline, under Pulumi mocks (no cloud
account, no Pulumi CLI), and print the resource graph: a tree by component,
counts by type, key properties and the pinned versions. Values only the
cloud can know (ids, ARNs, endpoints) are shown as "(known after apply)";
secrets as "(secret)". Nothing is created.

Plan a blueprint (a file or a shipped name) with its own region, or a stack
config (stacks/Pulumi.<NAME>.yaml) with its region and overrides.

The plan is checked against the policy packs (see plinth policy check); a
summary of violations follows the resources.

Exit status: 0 planned, 1 the blueprint or program failed or a mandatory
policy is violated, 2 usage error.`,
		Example: `  plinth plan blueprints/gpu-training.yaml
  plinth plan --stack production
  plinth plan gpu-training --output json > plan.json`,
		Args: planArgs(&opts.Stack),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Blueprint = args[0]
			}
			if runF != nil {
				return runF(opts)
			}
			return runPlan(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Stack, "stack", "", "plan the stack config stacks/Pulumi.<NAME>.yaml")
	cmd.Flags().StringVar(&opts.CatalogPath, "catalog", "", "region catalogue file to use instead of the embedded one")
	return cmd
}

// planJSON is the JSON shape of a plan.
type planJSON struct {
	Environment   string           `json:"environment"`
	Provider      string           `json:"provider"`
	Region        string           `json:"region,omitempty"`
	Class         string           `json:"environmentClass"`
	Stack         string           `json:"stack"`
	Blueprint     string           `json:"blueprint"`
	LandingZone   *planLandingZone `json:"landingZone,omitempty"`
	Versions      versions.Pins    `json:"versions"`
	ResourceCount int              `json:"resourceCount"`
	CountsByType  map[string]int   `json:"countsByType"`
	Resources     []*plan.Resource `json:"resources"`
	Invokes       map[string]int   `json:"invokes,omitempty"`
	Policy        *planPolicy      `json:"policy"`
	Notes         []string         `json:"notes,omitempty"`
}

// planPolicy is the policy summary of a plan.
type planPolicy struct {
	Mandatory  int                  `json:"mandatory"`
	Advisory   int                  `json:"advisory"`
	Violations []policies.Violation `json:"violations"`
}

// projectRoot is the nearest directory at or above the working directory
// holding Pulumi.yaml, else the working directory.
func projectRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "Pulumi.yaml")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return wd, nil
		}
	}
}

// planArgs checks that a command got one BLUEPRINT or --stack, not both.
func planArgs(stack *string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) > 1:
			return usageError("%s takes one BLUEPRINT, got %d", cmd.CommandPath(), len(args))
		case len(args) == 1 && *stack != "":
			return usageError("give a BLUEPRINT or --stack, not both")
		case len(args) == 0 && *stack == "":
			return usageError("%s needs a BLUEPRINT or --stack NAME", cmd.CommandPath())
		}
		return nil
	}
}

// offlinePlan is a plan with what was needed to make it.
type offlinePlan struct {
	plan             *stacks.OfflinePlan
	stack            string
	values           map[string]string
	root             string
	blueprintDisplay string
}

// loadOfflinePlan plans a blueprint or a stack config offline. Blueprint
// errors are printed, one per line, and fail with exit 1.
func loadOfflinePlan(ios *IOStreams, blueprint, stack, catalogPath string) (*offlinePlan, error) {
	cat, err := loadCatalog(catalogPath)
	if err != nil {
		return nil, &exitError{code: exitFailure, err: err}
	}
	root, err := projectRoot()
	if err != nil {
		return nil, &exitError{code: exitFailure, err: err}
	}

	var cfg stacks.BlueprintConfig
	var values map[string]string
	var secretKeys []string
	if stack != "" {
		sc, err := stacks.ReadStackConfig(root, stack)
		if err != nil {
			return nil, &exitError{code: exitFailure, err: err}
		}
		if cfg, err = sc.Blueprint(root); err != nil {
			return nil, &exitError{code: exitFailure, err: err}
		}
		values, secretKeys = sc.Values, sc.SecretKeys
	} else {
		// A blueprint path is taken as given (relative to the working
		// directory); the program resolves it from the project root.
		ref := blueprint
		if _, err := os.Stat(ref); err == nil {
			if abs, err := filepath.Abs(ref); err == nil {
				ref = abs
			}
		}
		stack = "plan"
		cfg = stacks.BlueprintConfig{Stack: stack, RootDirectory: root, Blueprint: ref}
		values = map[string]string{stacks.ConfigBlueprint: ref}
	}

	p, err := stacks.PlanOffline(cfg, values, secretKeys, cat)
	if err != nil {
		var list blueprints.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				fmt.Fprintln(ios.ErrOut, e.Error())
			}
			return nil, failed(err)
		}
		return nil, &exitError{code: exitFailure, err: err}
	}
	return &offlinePlan{plan: p, stack: stack, values: values, root: root, blueprintDisplay: displayPath(root, p.Env.File())}, nil
}

func runPlan(opts *planOptions) error {
	op, err := loadOfflinePlan(opts.IO, opts.Blueprint, opts.Stack, opts.CatalogPath)
	if err != nil {
		return err
	}
	p := op.plan
	checked, err := checkPolicies(context.Background(), op, "", "")
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}

	res := append([]*plan.Resource(nil), p.Graph.Resources...)
	sort.Slice(res, func(i, j int) bool { return res[i].URN < res[j].URN })
	out := planJSON{
		Environment:   p.Env.Metadata.Name,
		Provider:      p.Env.Spec.Provider,
		Region:        p.Env.Spec.Region,
		Class:         p.Env.Class(),
		Stack:         op.stack,
		Blueprint:     op.blueprintDisplay,
		Versions:      versions.Get(),
		ResourceCount: len(res),
		CountsByType:  p.Graph.CountByType(),
		Resources:     res,
		Invokes:       p.Graph.Invokes,
		LandingZone:   landingZoneJSON(op.root, p),
		Policy: &planPolicy{
			Mandatory:  checked.report.Mandatory(),
			Advisory:   checked.report.Advisory(),
			Violations: checked.report.Violations,
		},
	}
	if p.Env.Spec.Provider == blueprints.ProviderAWS {
		out.Notes = append(out.Notes, "availability zones come from the region catalogue offline; at deploy time EC2 answers")
	}
	if opts.Global.json() {
		if err := writeJSON(opts.IO.Out, out); err != nil {
			return err
		}
	} else {
		printPlan(opts.IO.Out, out)
	}
	if n := out.Policy.Mandatory; n > 0 {
		return failed(fmt.Errorf("%d mandatory policy violation(s)", n))
	}
	return nil
}

// displayPath shows a file relative to the project root when it is inside it.
func displayPath(root, file string) string {
	if rel, err := filepath.Rel(root, file); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return file
}

func printPlan(w io.Writer, p planJSON) {
	where := p.Provider
	if p.Region != "" {
		where += ", " + p.Region
	}
	fmt.Fprintf(w, "plan: %s (%s, %s) from %s: %s, offline (Pulumi mocks; nothing is created)\n\n",
		p.Environment, where, p.Class, p.Blueprint, plural(p.ResourceCount, "resource"))

	v := p.Versions
	fmt.Fprintln(w, "pinned versions")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if p.Provider == blueprints.ProviderAWS {
		fmt.Fprintf(tw, "  kubernetes (EKS)\t%s\n", v.Kubernetes.Default)
		fmt.Fprintf(tw, "  node AMI types\tsystem %s, gpu %s\n", v.EKS.AMITypes.System, v.EKS.AMITypes.GPU)
		fmt.Fprintf(tw, "  postgres (RDS)\t%s\n", v.Postgres.EngineVersion)
	}
	fmt.Fprintf(tw, "  mlflow\t%s\n", v.MLflow.Default)
	tw.Flush()
	if k8s := resourceInput(p.Resources, "aws:eks/cluster:Cluster", "version"); k8s != "" {
		fmt.Fprintf(w, "  cluster version in this plan: %s\n", k8s)
	}
	for _, r := range p.Resources {
		if r.Type == "aws:eks/addon:Addon" {
			fmt.Fprintf(w, "  add-on %v %v\n", r.Inputs["addonName"], r.Inputs["addonVersion"])
		}
	}

	printLandingZone(w, p.LandingZone)

	if len(p.Resources) > 0 {
		fmt.Fprintln(w, "\nresources, by component")
		printTree(w, p.Resources)

		fmt.Fprintln(w, "\ncounts by type")
		types := make([]string, 0, len(p.CountsByType))
		for t := range p.CountsByType {
			types = append(types, t)
		}
		sort.Strings(types)
		for _, t := range types {
			fmt.Fprintf(w, "  %4d  %s\n", p.CountsByType[t], t)
		}
	}
	if pol := p.Policy; pol != nil {
		fmt.Fprintf(w, "\npolicy: %d mandatory, %d advisory violation(s)\n", pol.Mandatory, pol.Advisory)
		for _, v := range pol.Violations {
			fmt.Fprintf(w, "  %-9s %s: %s\n", v.Enforcement, v.Policy, v.Message)
		}
		if len(pol.Violations) > 0 {
			fmt.Fprintln(w, "  (details and remediation: plinth policy check)")
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "\nnote: %s\n", n)
	}
}

func resourceInput(res []*plan.Resource, typ, key string) string {
	for _, r := range res {
		if r.Type == typ {
			if v, ok := r.Inputs[key]; ok {
				return fmt.Sprint(v)
			}
		}
	}
	return ""
}

// printTree prints resources under their parents, components first.
func printTree(w io.Writer, res []*plan.Resource) {
	byURN := map[string]*plan.Resource{}
	children := map[string][]*plan.Resource{}
	for _, r := range res {
		byURN[r.URN] = r
	}
	var roots []*plan.Resource
	for _, r := range res {
		if _, ok := byURN[r.Parent]; ok {
			children[r.Parent] = append(children[r.Parent], r)
		} else {
			roots = append(roots, r)
		}
	}
	var walk func(r *plan.Resource, prefix, branch string)
	walk = func(r *plan.Resource, prefix, branch string) {
		line := fmt.Sprintf("%s%s%s  %s", prefix, branch, r.Name, r.Type)
		if props := keyProperties(r); props != "" {
			line += "  " + props
		}
		fmt.Fprintln(w, line)
		kids := children[r.URN]
		next := prefix
		switch branch {
		case "├─ ":
			next += "│  "
		case "└─ ":
			next += "   "
		}
		for i, k := range kids {
			b := "├─ "
			if i == len(kids)-1 {
				b = "└─ "
			}
			walk(k, next, b)
		}
	}
	for _, r := range roots {
		walk(r, "  ", "")
	}
}

// keyInputs are the inputs worth a glance, per resource type.
var keyInputs = map[string][]string{
	"aws:ec2/vpc:Vpc":                              {"cidrBlock"},
	"aws:ec2/subnet:Subnet":                        {"availabilityZone", "cidrBlock"},
	"aws:ec2/launchTemplate:LaunchTemplate":        {"metadataOptions.httpTokens"},
	"aws:eks/cluster:Cluster":                      {"version", "vpcConfig.endpointPublicAccess", "vpcConfig.endpointPrivateAccess"},
	"aws:eks/nodeGroup:NodeGroup":                  {"instanceTypes", "capacityType", "amiType", "scalingConfig.minSize", "scalingConfig.maxSize"},
	"aws:eks/addon:Addon":                          {"addonName", "addonVersion"},
	"aws:kms/key:Key":                              {"enableKeyRotation"},
	"aws:rds/instance:Instance":                    {"engine", "engineVersion", "instanceClass", "multiAz", "deletionProtection", "publiclyAccessible"},
	"aws:ecr/repository:Repository":                {"name", "imageTagMutability"},
	"aws:s3/bucketVersioningV2:BucketVersioningV2": {"versioningConfiguration.status"},
}

func keyProperties(r *plan.Resource) string {
	var parts []string
	for _, k := range keyInputs[r.Type] {
		if v, ok := lookup(r.Inputs, k); ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k[strings.LastIndex(k, ".")+1:], v))
		}
	}
	return strings.Join(parts, " ")
}

func lookup(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, step := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[step]; !ok {
			return nil, false
		}
	}
	return cur, true
}
