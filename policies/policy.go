// Package policies holds Plinth's guardrails: policies grouped in packs
// (security, cost, tagging, reliability) over a neutral view of the
// resources an environment would create. The same policies run offline, on
// the graph `plinth plan` records, and inside the Pulumi engine as a policy
// pack.
//
// A policy has a name, a description, a severity, a remediation hint and a
// default enforcement per environment class (dev, staging, prod); packs and
// single policies can be made stricter or looser by configuration.
package policies

import (
	"fmt"
	"sort"
	"strings"
)

// Severity says how bad a violation is.
type Severity string

// Severities, from least to most severe.
const (
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Enforcement says what a violation does.
type Enforcement string

// Enforcement levels.
const (
	// Mandatory violations fail the check (exit 1) and stop `pulumi up`.
	Mandatory Enforcement = "mandatory"
	// Advisory violations are reported but do not fail anything.
	Advisory Enforcement = "advisory"
	// Disabled policies are not evaluated.
	Disabled Enforcement = "disabled"
)

// ParseEnforcement reads an enforcement level.
func ParseEnforcement(s string) (Enforcement, error) {
	switch e := Enforcement(s); e {
	case Mandatory, Advisory, Disabled:
		return e, nil
	}
	return "", fmt.Errorf("enforcement %q is not known; allowed: mandatory, advisory, disabled", s)
}

// Environment classes, as in the blueprint's spec.tags.environment.
const (
	ClassDev     = "dev"
	ClassStaging = "staging"
	ClassProd    = "prod"
)

// Classes lists the environment classes in order of strictness.
var Classes = []string{ClassDev, ClassStaging, ClassProd}

// Defaults is a policy's enforcement per environment class.
type Defaults map[string]Enforcement

// Everywhere gives the same enforcement in every class.
func Everywhere(e Enforcement) Defaults {
	return Defaults{ClassDev: e, ClassStaging: e, ClassProd: e}
}

// Resource is the neutral view of one resource that policies read.
type Resource struct {
	// URN identifies the resource.
	URN string `json:"urn"`
	// Type is the Pulumi type token (aws:s3/bucketV2:BucketV2).
	Type string `json:"type"`
	// Name is the logical name.
	Name string `json:"name"`
	// Parent is the parent's URN ("" at the top).
	Parent string `json:"parent,omitempty"`
	// Inputs are the resource's inputs as plain values. Values only known
	// after apply are the string Unknown; secrets are the string Secret.
	Inputs map[string]any `json:"inputs"`
	// Protect is true when the resource is protected from deletion.
	Protect bool `json:"protect,omitempty"`
	// BlueprintPath is the blueprint field the resource comes from
	// (spec.gpuNodePools[0]), when known.
	BlueprintPath string `json:"blueprintPath,omitempty"`
}

// Markers for values the policies cannot see.
const (
	Unknown = "(known after apply)"
	Secret  = "(secret)"
)

// Input returns the input at a dotted path (metadataOptions.httpTokens), and
// whether it is there.
func (r *Resource) Input(path string) (any, bool) {
	var cur any = r.Inputs
	for _, step := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[step]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// String returns the input at path as a string ("" when absent or not a string).
func (r *Resource) String(path string) string {
	v, _ := r.Input(path)
	s, _ := v.(string)
	return s
}

// Bool returns the input at path as a bool, and whether it is a known bool.
func (r *Resource) Bool(path string) (value, known bool) {
	v, ok := r.Input(path)
	if !ok {
		return false, false
	}
	b, isBool := v.(bool)
	return b, isBool
}

// Number returns the input at path as a number, and whether it is a known number.
func (r *Resource) Number(path string) (float64, bool) {
	v, ok := r.Input(path)
	if !ok {
		return 0, false
	}
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	}
	return 0, false
}

// Strings returns the input at path as a list of strings (non-strings are skipped).
func (r *Resource) Strings(path string) []string {
	v, _ := r.Input(path)
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Tags returns the resource's tags (the "tags" input), or nil.
func (r *Resource) Tags() map[string]any {
	v, _ := r.Input("tags")
	m, _ := v.(map[string]any)
	return m
}

// Environment is what policies know of the environment as a whole.
type Environment struct {
	// Name is the environment's name (metadata.name).
	Name string `json:"name"`
	// Class is dev, staging or prod.
	Class string `json:"class"`
	// Provider is aws or kubernetes.
	Provider string `json:"provider"`
	// Region is the AWS region, if any.
	Region string `json:"region,omitempty"`
	// Stack is the stack name.
	Stack string `json:"stack,omitempty"`
}

// Input is everything a policy evaluation looks at.
type Input struct {
	Environment Environment `json:"environment"`
	Resources   []*Resource `json:"resources"`
}

// Violation is one policy finding.
type Violation struct {
	// Policy is the policy's full name (pack.name).
	Policy string `json:"policy"`
	// Pack is the policy's pack.
	Pack string `json:"pack"`
	// Severity is the policy's severity.
	Severity Severity `json:"severity"`
	// Enforcement is the enforcement in effect.
	Enforcement Enforcement `json:"enforcement"`
	// Message says what is wrong with this resource.
	Message string `json:"message"`
	// Remediation says how to fix it.
	Remediation string `json:"remediation,omitempty"`
	// URN, Type and Name identify the resource ("" for stack-wide findings).
	URN  string `json:"urn,omitempty"`
	Type string `json:"type,omitempty"`
	Name string `json:"name,omitempty"`
	// BlueprintPath is the blueprint field behind the resource, when known.
	BlueprintPath string `json:"blueprintPath,omitempty"`
}

// Finding is what a check reports; Evaluate turns it into a Violation.
type Finding struct {
	// Resource is the resource at fault (nil for stack-wide findings).
	Resource *Resource
	// Message says what is wrong.
	Message string
}

// Policy is one guardrail.
type Policy struct {
	// Pack is the pack the policy belongs to: security, cost, tagging, reliability.
	Pack string `json:"pack"`
	// Name is unique within the pack (s3-no-public-access).
	Name string `json:"name"`
	// Description says what the policy checks.
	Description string `json:"description"`
	// Severity says how bad a violation is.
	Severity Severity `json:"severity"`
	// Remediation says how to fix a violation.
	Remediation string `json:"remediation"`
	// Defaults is the enforcement per environment class.
	Defaults Defaults `json:"defaults"`
	// Check looks at the whole input and reports findings. cfg holds the
	// policy's settings (defaults merged with configuration).
	Check func(in *Input, cfg Settings) []Finding `json:"-"`
	// Settings are the policy's configurable values and their defaults
	// per class (e.g. maxGPUs).
	Settings map[string]Defaultable `json:"settings,omitempty"`
}

// ID is the policy's full name: pack.name.
func (p *Policy) ID() string { return p.Pack + "." + p.Name }

// Defaultable is a setting's default value per environment class.
type Defaultable map[string]any

// Settings are a policy's values for one evaluation.
type Settings map[string]any

// Int returns an integer setting.
func (s Settings) Int(key string) int {
	switch v := s[key].(type) {
	case int:
		return v
	case float64:
		return int(v)
	}
	return 0
}

// StringList returns a list-of-strings setting.
func (s Settings) StringList(key string) []string {
	switch v := s[key].(type) {
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

// String returns a string setting.
func (s Settings) String(key string) string {
	v, _ := s[key].(string)
	return v
}

// Pack is a named group of policies.
type Pack struct {
	// Name is the pack's name.
	Name string
	// Description says what the pack guards.
	Description string
	// Policies are the pack's policies.
	Policies []*Policy
}

// Sorted returns policies ordered by ID.
func Sorted(ps []*Policy) []*Policy {
	out := append([]*Policy(nil), ps...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out
}
