package policies

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
)

// Config adjusts enforcement and settings, per pack and per policy. It is
// read from the stack config key plinth:policies, or from a file given to
// `plinth policy check --config`:
//
//	packs:
//	  cost: advisory
//	policies:
//	  cost.max-gpus:
//	    enforcement: mandatory
//	    settings: {maxGPUs: 32}
type Config struct {
	// Packs sets the enforcement of every policy of a pack.
	Packs map[string]Enforcement `json:"packs,omitempty" yaml:"packs,omitempty"`
	// Policies sets one policy's enforcement and settings (by pack.name);
	// it wins over Packs.
	Policies map[string]PolicyConfig `json:"policies,omitempty" yaml:"policies,omitempty"`
}

// PolicyConfig adjusts one policy.
type PolicyConfig struct {
	// Enforcement replaces the policy's default.
	Enforcement Enforcement `json:"enforcement,omitempty" yaml:"enforcement,omitempty"`
	// Settings replace the policy's default settings, key by key.
	Settings map[string]any `json:"settings,omitempty" yaml:"settings,omitempty"`
}

// Check reports every entry of the config that names no known pack,
// policy or setting, or an unknown enforcement level.
func (c *Config) Check(all []*Policy) error {
	if c == nil {
		return nil
	}
	packs := map[string]bool{}
	byID := map[string]*Policy{}
	for _, p := range all {
		packs[p.Pack] = true
		byID[p.ID()] = p
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(c.Packs)) {
		if !packs[name] {
			errs = append(errs, fmt.Errorf("packs.%s: no such pack; packs: %v", name, slices.Sorted(maps.Keys(packs))))
		}
		if _, err := ParseEnforcement(string(c.Packs[name])); err != nil {
			errs = append(errs, fmt.Errorf("packs.%s: %w", name, err))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(c.Policies)) {
		pc := c.Policies[id]
		p, ok := byID[id]
		if !ok {
			errs = append(errs, fmt.Errorf("policies.%s: no such policy (see `plinth policy list`)", id))
			continue
		}
		if pc.Enforcement != "" {
			if _, err := ParseEnforcement(string(pc.Enforcement)); err != nil {
				errs = append(errs, fmt.Errorf("policies.%s.enforcement: %w", id, err))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(pc.Settings)) {
			if _, ok := p.Settings[k]; !ok {
				errs = append(errs, fmt.Errorf("policies.%s.settings.%s: no such setting; settings: %v", id, k, slices.Sorted(maps.Keys(p.Settings))))
			}
		}
	}
	return errors.Join(errs...)
}

// EnforcementFor returns the enforcement of a policy in a class under c.
func (c *Config) EnforcementFor(p *Policy, class string) Enforcement {
	e, ok := p.Defaults[class]
	if !ok {
		e = p.Defaults[ClassDev]
	}
	if c == nil {
		return e
	}
	if pe, ok := c.Packs[p.Pack]; ok {
		e = pe
	}
	if pc, ok := c.Policies[p.ID()]; ok && pc.Enforcement != "" {
		e = pc.Enforcement
	}
	return e
}

// SettingsFor returns a policy's settings in a class under c.
func (c *Config) SettingsFor(p *Policy, class string) Settings {
	s := Settings{}
	for k, d := range p.Settings {
		if v, ok := d[class]; ok {
			s[k] = v
		} else {
			s[k] = d[ClassDev]
		}
	}
	if c != nil {
		if pc, ok := c.Policies[p.ID()]; ok {
			maps.Copy(s, pc.Settings)
		}
	}
	return s
}

// Result is one policy's outcome in a report.
type Result struct {
	// Policy is the policy evaluated.
	Policy *Policy `json:"-"`
	// ID is the policy's full name.
	ID string `json:"policy"`
	// Enforcement is the enforcement in effect.
	Enforcement Enforcement `json:"enforcement"`
	// Violations is how many violations it found.
	Violations int `json:"violations"`
}

// Report is the outcome of evaluating policies on one input.
type Report struct {
	// Environment is what was checked.
	Environment Environment `json:"environment"`
	// Results has one entry per policy, disabled ones included, by ID.
	Results []Result `json:"results"`
	// Violations are every finding, mandatory first, then by policy and URN.
	Violations []Violation `json:"violations"`
}

// Mandatory counts mandatory violations: any makes the check fail.
func (r *Report) Mandatory() int {
	n := 0
	for _, v := range r.Violations {
		if v.Enforcement == Mandatory {
			n++
		}
	}
	return n
}

// Advisory counts advisory violations.
func (r *Report) Advisory() int { return len(r.Violations) - r.Mandatory() }

// Evaluate runs every policy that is not disabled on the input.
func Evaluate(all []*Policy, in *Input, cfg *Config) (*Report, error) {
	if err := cfg.Check(all); err != nil {
		return nil, fmt.Errorf("policy config: %w", err)
	}
	class := in.Environment.Class
	if class == "" {
		class = ClassDev
	}
	rep := &Report{Environment: in.Environment, Violations: []Violation{}}
	for _, p := range Sorted(all) {
		enf := cfg.EnforcementFor(p, class)
		res := Result{Policy: p, ID: p.ID(), Enforcement: enf}
		if enf != Disabled {
			for _, f := range p.Check(in, cfg.SettingsFor(p, class)) {
				v := Violation{
					Policy: p.ID(), Pack: p.Pack, Severity: p.Severity, Enforcement: enf,
					Message: f.Message, Remediation: p.Remediation,
				}
				if r := f.Resource; r != nil {
					v.URN, v.Type, v.Name, v.BlueprintPath = r.URN, r.Type, r.Name, r.BlueprintPath
				}
				rep.Violations = append(rep.Violations, v)
				res.Violations++
			}
		}
		rep.Results = append(rep.Results, res)
	}
	sortViolations(rep.Violations)
	return rep, nil
}

// Merge adds violations found elsewhere (custom Rego rules) to the report.
func (r *Report) Merge(vs []Violation) {
	r.Violations = append(r.Violations, vs...)
	sortViolations(r.Violations)
}

func sortViolations(vs []Violation) {
	rank := map[Enforcement]int{Mandatory: 0, Advisory: 1}
	sort.SliceStable(vs, func(i, j int) bool {
		a, b := vs[i], vs[j]
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
