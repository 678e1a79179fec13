package analyzer

import "github.com/plinth-dev/plinth/policies"

// Scope says at which of the engine's two hooks a policy runs.
//
// The engine offers an analyzer two calls: Analyze, once per resource with
// its inputs, before the resource is created or updated (a mandatory
// violation there stops the update before the resource exists), and
// AnalyzeStack, once at the end of a preview or update with every resource
// (a mandatory violation there fails the update, but only after its steps
// ran). Plinth's policies look at the whole input, so a policy can run in
// Analyze only if what it finds on the resources registered so far is never
// undone by a resource registered later.
type Scope int

const (
	// PerResource policies read each resource on its own: in Analyze they
	// run on the analyzed resource alone, so a mandatory violation stops it
	// before it is created.
	PerResource Scope = iota
	// Cumulative policies add resources up (max-gpus): a finding on the
	// resources registered so far stays a finding whatever comes next. In
	// Analyze they run on every resource registered so far, so the resource
	// that tips the total over is stopped.
	Cumulative
	// Stack policies pair resources (a bucket and its public access block,
	// a Service and the workload it exposes, a node group and an alert
	// rule): a finding can be settled by a resource registered later. They
	// run in AnalyzeStack, on every resource, at the end of the preview or
	// update. A mandatory violation fails a preview; in an update run with
	// --skip-preview (as the Automation API's Up runs it) it fails the
	// update only after its steps ran, so preview first to stop it before
	// anything is created.
	Stack
)

func (s Scope) String() string {
	switch s {
	case PerResource:
		return "per-resource"
	case Cumulative:
		return "cumulative"
	}
	return "stack"
}

// Early reports whether the scope runs in Analyze.
func (s Scope) Early() bool { return s != Stack }

// scopes assigns every Plinth policy its scope. A policy missing here runs
// as Stack (no false positives from a partial view); TestEveryPolicyHasAScope
// makes adding a policy a decision; TestEngineViewMatchesPolicyCheck checks
// the choices on the recorded plans.
var scopes = map[string]Scope{
	"security.imdsv2-required":                PerResource,
	"security.s3-no-public-acl":               PerResource,
	"security.s3-public-access-block":         Stack, // pairs buckets and blocks
	"security.s3-encryption":                  Stack, // pairs buckets and encryption configurations
	"security.ecr-scan-on-push":               Stack, // a registry-wide scanning configuration settles it
	"security.ecr-encryption":                 PerResource,
	"security.rds-encryption":                 PerResource,
	"security.rds-not-public":                 PerResource,
	"security.eks-secrets-encryption":         PerResource,
	"security.eks-endpoint-private-in-prod":   PerResource,
	"security.k8s-no-privileged":              PerResource,
	"security.k8s-no-hostpath":                PerResource,
	"security.k8s-run-as-non-root":            PerResource,
	"security.server-auth":                    Stack, // Services, Ingresses and workloads together
	"security.no-plain-secrets":               PerResource,
	"cost.gpu-instance-allowlist":             PerResource,
	"cost.max-gpus":                           Cumulative, // a sum: it only grows
	"cost.spot-policy":                        PerResource,
	"cost.idle-gpu-alert":                     Stack, // a PrometheusRule settles it
	"tagging.required-tags":                   PerResource,
	"reliability.prod-db-multi-az":            PerResource,
	"reliability.prod-db-deletion-protection": PerResource,
	"reliability.bucket-versioning":           Stack, // pairs buckets and versioning configurations
	"reliability.tracking-pdb":                Stack, // a PodDisruptionBudget settles it
	"reliability.min-two-azs":                 Stack, // another subnet settles it
}

// ScopeOf returns the scope a policy runs in.
func ScopeOf(p *policies.Policy) Scope {
	if s, ok := scopes[p.ID()]; ok {
		return s
	}
	return Stack
}
