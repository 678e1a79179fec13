// Package rego runs custom policy rules written in Rego, evaluated with OPA
// as a Go library, next to Plinth's built-in policy packs.
//
// # Writing rules
//
// A rule file is a Rego v1 module in package plinth that adds entries to the
// set (or array) deny:
//
//	package plinth
//
//	deny contains {"msg": msg, "urn": r.urn, "severity": "high"} if {
//		some r in input.resources
//		r.type == "aws:s3/bucketV2:BucketV2"
//		not r.inputs.tags["plinth:purpose"]
//		msg := sprintf("bucket %s has no plinth:purpose tag", [r.name])
//	}
//
// An entry is an object with these keys (a bare string is taken as msg):
//
//	msg          what is wrong (required)
//	policy       the rule's name; the violation's policy is custom.<policy>,
//	             custom.<file name without .rego> when absent
//	severity     low, medium (default), high or critical
//	enforcement  mandatory (default), advisory, or disabled (entry dropped)
//	urn          the resource at fault; its type, name and blueprint path are
//	             filled in from the input
//	remediation  how to fix it
//	scope        stack (default) or resource: when the policy pack may
//	             evaluate the rule inside the Pulumi engine (see Scopes)
//
// Offline (`plinth policy check --rules DIR`, `plinth plan`) and inside the
// Pulumi engine (the policy pack, package policies/analyzer) the entries are
// read the same way, with the same input, so both report the same
// violations with the same severity and enforcement. A rule that should be
// mandatory only in prod says so itself:
//
//	deny contains {"msg": msg, "urn": r.urn, "enforcement": level} if {
//		...
//	}
//
//	level := "mandatory" if input.environment.class == "prod"
//	else := "advisory"
//
// # Scopes
//
// Offline every rule sees every resource at once. Inside the engine the
// policy pack sees resources one by one, before each is created, and all of
// them only at the end. An entry's scope says which view the rule needs:
//
//	stack     (default) the rule may pair or count resources (a bucket and
//	          its public access block): it is evaluated once every resource
//	          is known, at the end of the preview or update. A mandatory
//	          violation fails a preview, and fails an update only after its
//	          steps ran.
//	resource  the entry depends only on the resource it names (and on
//	          input.environment): the rule is evaluated on each resource,
//	          with input.resources holding that resource alone, before the
//	          engine creates it, so a mandatory violation stops that
//	          resource. A rule that pairs resources must not claim it:
//	          evaluated on one resource, it would find its companion missing.
//
// Every rule is evaluated at the end too, on every resource; what was
// reported already is not reported again.
//
// Files in other packages (package plinth.lib) are libraries the rules can
// import; only package plinth may define deny. Files ending in _test.rego are
// OPA unit tests (run them with `opa test`) and are not loaded.
//
// # Input
//
// input is the neutral view the built-in policies read (policies.Input),
// with every key present:
//
//	{
//	  "environment": {"name": "ml-prod", "class": "prod", "provider": "aws",
//	                  "region": "us-west-2", "stack": "prod"},
//	  "resources": [{
//	    "urn":           "urn:pulumi:prod::plinth::...::ml-prod-artifacts",
//	    "type":          "aws:s3/bucketV2:BucketV2",
//	    "name":          "ml-prod-artifacts",
//	    "parent":        "urn:pulumi:prod::plinth::plinth:storage:Storage::ml-prod",
//	    "inputs":        {"tags": {"plinth:purpose": "tracking"}},
//	    "protect":       false,
//	    "blueprintPath": "spec.storage.buckets[0]"
//	  }]
//	}
//
// environment.class is dev, staging or prod. inputs are the resource's
// inputs as JSON values; a value known only after apply is the string
// "(known after apply)", a secret is "(secret)". parent and blueprintPath
// are "" when unknown. Inside the engine blueprintPath is always "", and the
// environment is what the policy pack learns from the stack and the
// resources (see package policies/analyzer): for a Plinth environment, the
// same name, class, provider and region.
package rego

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/plinth-dev/plinth/policies"
)

// Pack is the pack of custom-rule violations.
const Pack = "custom"

// Scopes of a deny entry (see the package documentation).
const (
	// ScopeStack entries need every resource: inside the engine they are
	// evaluated at the end of a preview or update. The default.
	ScopeStack = "stack"
	// ScopeResource entries depend only on the resource they name: inside
	// the engine they are evaluated on each resource before it is created.
	ScopeResource = "resource"
)

// Finding is a custom-rule violation with the scope its entry declares.
type Finding struct {
	policies.Violation
	// Scope is ScopeStack or ScopeResource.
	Scope string
}

// Rules are compiled custom rules, ready to evaluate. They are safe for
// concurrent use.
type Rules struct {
	files []string // the rule files, as found under dir
	// labels maps each file's renamed deny rule to the file's label (its
	// name without .rego), the default policy name of its entries.
	labels map[string]string
	keys   []string // the renamed deny rules, in file order
	query  rego.PreparedEvalQuery
}

// denyPrefix names the rule each file's deny rules are renamed to, so that
// entries can be traced to their file; deny itself is kept as their union.
const denyPrefix = "__plinth_deny_"

// Load compiles every *.rego file under dir (recursively, but not
// *_test.rego). Parse and compile errors name the file and line.
func Load(dir string) (*Rules, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".rego") && !strings.HasSuffix(path, "_test.rego") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("custom rules: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("custom rules: no .rego files in %s", dir)
	}
	sort.Strings(files)

	r := &Rules{files: files, labels: map[string]string{}}
	var (
		modules []*ast.Module
		errs    []error
	)
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m, err := ast.ParseModuleWithOpts(path, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			errs = append(errs, regoError(err))
			continue
		}
		key := fmt.Sprintf("%s%d", denyPrefix, len(r.keys))
		renamed, err := renameDeny(m, key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if renamed {
			r.keys = append(r.keys, key)
			r.labels[key] = strings.TrimSuffix(filepath.Base(path), ".rego")
		}
		modules = append(modules, m)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(r.keys) == 0 {
		return nil, fmt.Errorf("custom rules: no file in %s defines deny in package plinth", dir)
	}

	// deny stays defined, as the union of every file's entries, for rules
	// and tests that read it.
	var union strings.Builder
	union.WriteString("package plinth\n")
	for _, key := range r.keys {
		fmt.Fprintf(&union, "deny contains entry if { some entry in %s }\n", key)
	}
	unionModule, err := ast.ParseModuleWithOpts("<plinth deny>", union.String(), ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, fmt.Errorf("custom rules: %w", err)
	}
	modules = append(modules, unionModule)

	// One query for every file's entries, keyed by renamed rule; a file
	// whose deny is undefined (a complete rule whose body fails) is absent.
	quoted := make([]string, len(r.keys))
	for i, k := range r.keys {
		quoted[i] = `"` + k + `"`
	}
	query := fmt.Sprintf("entries := {k: v | some k in [%s]; v := data.plinth[k]}", strings.Join(quoted, ", "))
	opts := []func(*rego.Rego){rego.Query(query), rego.SetRegoVersion(ast.RegoV1)}
	for _, m := range modules {
		opts = append(opts, rego.ParsedModule(m))
	}
	r.query, err = rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		return nil, regoError(err)
	}
	return r, nil
}

// renameDeny renames the deny rules of a module in package plinth to key,
// and says whether it had any. A deny rule in another package is an error:
// Plinth would never read it.
func renameDeny(m *ast.Module, key string) (bool, error) {
	inPlinth := m.Package.Path.Equal(ast.MustParseRef("data.plinth"))
	renamed := false
	for _, rule := range m.Rules {
		for r := rule; r != nil; r = r.Else {
			ref := r.Head.Ref()
			if len(ref) == 0 || !ref[0].Equal(ast.VarTerm("deny")) || len(r.Head.Args) > 0 {
				continue
			}
			if !inPlinth {
				return false, fmt.Errorf("%s: deny is defined in package %s, which Plinth does not read: custom rules go in package plinth",
					position(r.Location), strings.TrimPrefix(m.Package.Path.String(), "data."))
			}
			r.Head.Name = ast.Var(key)
			r.Head.SetRef(append(ast.Ref{ast.VarTerm(key)}, ref[1:]...))
			renamed = true
		}
	}
	return renamed, nil
}

// Files lists the rule files loaded.
func (r *Rules) Files() []string { return slices.Clone(r.files) }

// Evaluate runs the rules on the input and returns their violations, in
// report order (mandatory first, then by policy, URN and message).
// Entries whose enforcement is disabled are dropped.
func (r *Rules) Evaluate(ctx context.Context, in *policies.Input) ([]policies.Violation, error) {
	fs, err := r.Findings(ctx, in)
	if err != nil {
		return nil, err
	}
	out := make([]policies.Violation, len(fs))
	for i, f := range fs {
		out[i] = f.Violation
	}
	return out, nil
}

// Findings is Evaluate keeping each entry's scope, in the same order.
func (r *Rules) Findings(ctx context.Context, in *policies.Input) ([]Finding, error) {
	if in == nil {
		in = &policies.Input{}
	}
	value, err := InputValue(in)
	if err != nil {
		return nil, err
	}
	rs, err := r.query.Eval(ctx, rego.EvalParsedInput(value))
	if err != nil {
		return nil, fmt.Errorf("custom rules: %w", regoError(err))
	}
	if len(rs) == 0 {
		return []Finding{}, nil
	}
	byKey, _ := rs[0].Bindings["entries"].(map[string]any)
	byURN := make(map[string]*policies.Resource, len(in.Resources))
	for _, res := range in.Resources {
		byURN[res.URN] = res
	}
	out := []Finding{}
	var errs []error
	for _, key := range r.keys {
		entries, ok := byKey[key].([]any)
		if !ok && byKey[key] != nil {
			errs = append(errs, fmt.Errorf("custom rules %s.rego: deny is %T, not a set or an array of objects", r.labels[key], byKey[key]))
			continue
		}
		for _, e := range entries {
			f, keep, err := finding(e, r.labels[key], byURN)
			if err != nil {
				errs = append(errs, fmt.Errorf("custom rules %s.rego: %w", r.labels[key], err))
				continue
			}
			if keep {
				out = append(out, f)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sortFindings(out)
	return out, nil
}

// finding reads one deny entry; keep is false for a disabled one.
func finding(e any, label string, byURN map[string]*policies.Resource) (f Finding, keep bool, err error) {
	obj, ok := e.(map[string]any)
	if s, isString := e.(string); isString {
		obj, ok = map[string]any{"msg": s}, true
	}
	if !ok {
		return f, false, fmt.Errorf("deny entry %v is not an object {msg, policy?, severity?, enforcement?, urn?, remediation?, scope?}", e)
	}
	str := func(key string) (string, error) {
		switch v := obj[key].(type) {
		case nil:
			return "", nil
		case string:
			return v, nil
		default:
			return "", fmt.Errorf("deny entry %v: %s is %T, not a string", obj, key, v)
		}
	}
	var fields [7]string
	for i, key := range []string{"msg", "policy", "severity", "enforcement", "urn", "remediation", "scope"} {
		s, err := str(key)
		if err != nil {
			return f, false, err
		}
		fields[i] = s
	}
	msg, name, sev, enf, urn, rem, scope := fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6]
	if msg == "" {
		return f, false, fmt.Errorf("deny entry %v has no msg", obj)
	}
	f = Finding{
		Violation: policies.Violation{
			Policy:      Pack + "." + cmp.Or(name, label),
			Pack:        Pack,
			Severity:    policies.Severity(cmp.Or(sev, string(policies.Medium))),
			Enforcement: policies.Enforcement(cmp.Or(enf, string(policies.Mandatory))),
			Message:     msg,
			Remediation: rem,
			URN:         urn,
		},
		Scope: cmp.Or(scope, ScopeStack),
	}
	switch f.Severity {
	case policies.Low, policies.Medium, policies.High, policies.Critical:
	default:
		return f, false, fmt.Errorf("deny entry %q: severity %q is not known; allowed: low, medium, high, critical", msg, sev)
	}
	if _, err := policies.ParseEnforcement(string(f.Enforcement)); err != nil {
		return f, false, fmt.Errorf("deny entry %q: %w", msg, err)
	}
	if f.Scope != ScopeStack && f.Scope != ScopeResource {
		return f, false, fmt.Errorf("deny entry %q: scope %q is not known; allowed: %s, %s", msg, scope, ScopeStack, ScopeResource)
	}
	if res := byURN[urn]; res != nil {
		f.Type, f.Name, f.BlueprintPath = res.Type, res.Name, res.BlueprintPath
	}
	return f, f.Enforcement != policies.Disabled, nil
}

// InputValue is the Rego input document of a policies.Input (see the
// package documentation for its shape).
func InputValue(in *policies.Input) (ast.Value, error) {
	env := in.Environment
	resources := make([]*ast.Term, 0, len(in.Resources))
	for _, r := range in.Resources {
		var inputs ast.Value = ast.NewObject()
		if r.Inputs != nil {
			v, err := ast.InterfaceToValue(r.Inputs)
			if err != nil {
				return nil, fmt.Errorf("custom rules: inputs of %s: %w", r.URN, err)
			}
			inputs = v
		}
		resources = append(resources, ast.ObjectTerm(
			ast.Item(ast.StringTerm("urn"), ast.StringTerm(r.URN)),
			ast.Item(ast.StringTerm("type"), ast.StringTerm(r.Type)),
			ast.Item(ast.StringTerm("name"), ast.StringTerm(r.Name)),
			ast.Item(ast.StringTerm("parent"), ast.StringTerm(r.Parent)),
			ast.Item(ast.StringTerm("inputs"), ast.NewTerm(inputs)),
			ast.Item(ast.StringTerm("protect"), ast.BooleanTerm(r.Protect)),
			ast.Item(ast.StringTerm("blueprintPath"), ast.StringTerm(r.BlueprintPath)),
		))
	}
	return ast.NewObject(
		ast.Item(ast.StringTerm("environment"), ast.ObjectTerm(
			ast.Item(ast.StringTerm("name"), ast.StringTerm(env.Name)),
			ast.Item(ast.StringTerm("class"), ast.StringTerm(env.Class)),
			ast.Item(ast.StringTerm("provider"), ast.StringTerm(env.Provider)),
			ast.Item(ast.StringTerm("region"), ast.StringTerm(env.Region)),
			ast.Item(ast.StringTerm("stack"), ast.StringTerm(env.Stack)),
		)),
		ast.Item(ast.StringTerm("resources"), ast.ArrayTerm(resources...)),
	), nil
}

// regoError rewrites OPA's parse and compile errors as file:line:column:
// message, one per line.
func regoError(err error) error {
	var astErrs ast.Errors
	if !errors.As(err, &astErrs) {
		return err
	}
	lines := make([]string, 0, len(astErrs))
	for _, e := range astErrs {
		line := position(e.Location) + ": " + e.Message
		if e.Location == nil {
			line = e.Message
		}
		if e.Details != nil {
			for _, d := range e.Details.Lines() {
				line += "\n\t" + d
			}
		}
		lines = append(lines, line)
	}
	return errors.New(strings.Join(lines, "\n"))
}

// position is file:line:column of a location.
func position(loc *ast.Location) string {
	if loc == nil {
		return "?"
	}
	return fmt.Sprintf("%s:%d:%d", cmp.Or(loc.File, "?"), loc.Row, loc.Col)
}

// sortFindings orders findings as policies.Report orders violations.
func sortFindings(fs []Finding) {
	rank := map[policies.Enforcement]int{policies.Mandatory: 0, policies.Advisory: 1}
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if rank[a.Enforcement] != rank[b.Enforcement] {
			return rank[a.Enforcement] < rank[b.Enforcement]
		}
		if a.Policy != b.Policy {
			return a.Policy < b.Policy
		}
		if a.URN != b.URN {
			return a.URN < b.URN
		}
		return a.Message < b.Message
	})
}
