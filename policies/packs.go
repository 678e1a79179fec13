package policies

// Pack names.
const (
	PackSecurity    = "security"
	PackCost        = "cost"
	PackTagging     = "tagging"
	PackReliability = "reliability"
)

// Packs returns Plinth's policy packs.
func Packs() []Pack {
	return []Pack{
		{Name: PackSecurity, Description: "no public data, encryption at rest, private endpoints, IMDSv2, safe containers, no exposed servers without auth, no plain secrets", Policies: securityPolicies()},
		{Name: PackCost, Description: "GPU instance types allowed, GPU count capped, spot per environment class, idle-GPU alerting", Policies: costPolicies()},
		{Name: PackTagging, Description: "required tags on every taggable resource", Policies: taggingPolicies()},
		{Name: PackReliability, Description: "multi-AZ and protected databases in prod, versioned tracking and model buckets, disruption budgets, at least two AZs", Policies: reliabilityPolicies()},
	}
}

// All returns every policy of every pack, ordered by ID.
func All() []*Policy {
	var all []*Policy
	for _, p := range Packs() {
		all = append(all, p.Policies...)
	}
	return Sorted(all)
}

// ofType returns the resources of any of the given type tokens.
func ofType(in *Input, types ...string) []*Resource {
	var out []*Resource
	for _, r := range in.Resources {
		for _, t := range types {
			if r.Type == t {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// each runs check on every resource of the given types and collects a
// finding for every non-empty message.
func each(in *Input, check func(r *Resource) string, types ...string) []Finding {
	var out []Finding
	for _, r := range ofType(in, types...) {
		if msg := check(r); msg != "" {
			out = append(out, Finding{Resource: r, Message: msg})
		}
	}
	return out
}
