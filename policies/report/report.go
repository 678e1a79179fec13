// Package report writes the outcome of a policy check in four formats: Text
// for people, JSON for programs, SARIF 2.1.0 for GitHub code scanning (and
// any other SARIF viewer) and JUnit XML for CI dashboards.
//
// Every writer takes the report and, except JSON, the policies that were
// evaluated, so that policies without violations still show up (as SARIF
// rules, as passing JUnit test cases). Violations of policies that are not in
// that list, such as custom Rego rules merged into the report, get an entry
// of their own built from the violations.
package report

import (
	"cmp"
	"slices"
	"strings"

	"github.com/plinth-dev/plinth/policies"
)

// Options says how to present a report.
type Options struct {
	// Blueprint is the blueprint file as users see it, relative to the
	// repository root (blueprints/production.yaml); SARIF results point at it.
	Blueprint string
	// Locate maps a violation's BlueprintPath (spec.gpuNodePools[0]) to a
	// position in the blueprint file (1-based); it returns 0, 0 when the path
	// is not found. Nil means positions are not known.
	Locate func(blueprintPath string) (line, column int)
	// ToolVersion is Plinth's version (0.4.1), when known.
	ToolVersion string
}

// locate returns the position of a blueprint path, or 0, 0.
func (o Options) locate(path string) (line, column int) {
	if o.Locate == nil || path == "" {
		return 0, 0
	}
	line, column = o.Locate(path)
	if line < 1 {
		return 0, 0
	}
	return line, max(column, 0)
}

// entry is one policy of the report: a policy that was evaluated, or a rule
// known only from its violations (custom Rego rules).
type entry struct {
	id          string
	pack        string
	name        string
	policy      *policies.Policy // nil for rules known only from violations
	severity    policies.Severity
	enforcement policies.Enforcement
	violations  []policies.Violation
}

// description returns the policy's description, or a generic one.
func (e *entry) description() string {
	if e.policy != nil && e.policy.Description != "" {
		return e.policy.Description
	}
	return "Custom rule " + e.id + "."
}

// remediation returns the policy's remediation, or the first violation's.
func (e *entry) remediation() string {
	if e.policy != nil && e.policy.Remediation != "" {
		return e.policy.Remediation
	}
	for _, v := range e.violations {
		if v.Remediation != "" {
			return v.Remediation
		}
	}
	return ""
}

// mandatory and advisory split the entry's violations by enforcement.
func (e *entry) mandatory() []policies.Violation {
	return slices.DeleteFunc(slices.Clone(e.violations), func(v policies.Violation) bool {
		return v.Enforcement != policies.Mandatory
	})
}

func (e *entry) advisory() []policies.Violation {
	return slices.DeleteFunc(slices.Clone(e.violations), func(v policies.Violation) bool {
		return v.Enforcement == policies.Mandatory
	})
}

// entries lists every policy of the report, ordered by ID: the report's
// results first (their enforcement is the one in effect), then policies of
// all that have no result (at their default enforcement for the class), then
// rules known only from violations.
func entries(rep *policies.Report, all []*policies.Policy) []*entry {
	byID := map[string]*entry{}
	var out []*entry
	add := func(e *entry) {
		byID[e.id] = e
		out = append(out, e)
	}
	known := map[string]*policies.Policy{}
	for _, p := range all {
		known[p.ID()] = p
	}
	fromPolicy := func(id string, p *policies.Policy, enf policies.Enforcement) *entry {
		e := &entry{id: id, policy: p, enforcement: enf}
		if p != nil {
			e.pack, e.name, e.severity = p.Pack, p.Name, p.Severity
		} else {
			e.pack, e.name, _ = strings.Cut(id, ".")
		}
		return e
	}
	for _, r := range rep.Results {
		if _, dup := byID[r.ID]; dup {
			continue
		}
		p := r.Policy
		if p == nil {
			p = known[r.ID]
		}
		add(fromPolicy(r.ID, p, r.Enforcement))
	}
	class := cmp.Or(rep.Environment.Class, policies.ClassDev)
	for _, p := range all {
		if _, ok := byID[p.ID()]; !ok {
			add(fromPolicy(p.ID(), p, (*policies.Config)(nil).EnforcementFor(p, class)))
		}
	}
	for _, v := range rep.Violations {
		e, ok := byID[v.Policy]
		if !ok {
			e = &entry{id: v.Policy, pack: v.Pack, severity: v.Severity, enforcement: v.Enforcement}
			e.name = strings.TrimPrefix(v.Policy, v.Pack+".")
			add(e)
		}
		if e.severity == "" {
			e.severity = v.Severity
		}
		if v.Enforcement == policies.Mandatory && e.policy == nil {
			e.enforcement = policies.Mandatory
		}
		e.violations = append(e.violations, v)
	}
	slices.SortStableFunc(out, func(a, b *entry) int { return strings.Compare(a.id, b.id) })
	return out
}

// counts are a report's totals.
type counts struct {
	Mandatory int `json:"mandatory"`
	Advisory  int `json:"advisory"`
	Checked   int `json:"checked"`
	Disabled  int `json:"disabled"`
}

func countsOf(rep *policies.Report, es []*entry) counts {
	c := counts{Mandatory: rep.Mandatory(), Advisory: rep.Advisory()}
	for _, e := range es {
		if e.enforcement == policies.Disabled {
			c.Disabled++
		} else {
			c.Checked++
		}
	}
	return c
}

// shortType is the last part of a type token (BucketV2 from aws:s3/bucketV2:BucketV2).
func shortType(t string) string {
	if i := strings.LastIndexByte(t, ':'); i >= 0 {
		return t[i+1:]
	}
	return t
}

// artifactURI is the blueprint path as a relative URI with forward slashes.
func artifactURI(path string) string {
	path = strings.ReplaceAll(path, `\`, "/")
	for strings.HasPrefix(path, "./") {
		path = path[2:]
	}
	return path
}
