// Package analyzer runs Plinth's policies inside the Pulumi engine: it
// serves the engine's Analyzer gRPC service (proto/pulumi/analyzer.proto),
// so that `pulumi preview --policy-pack <binary>` and `pulumi up
// --policy-pack <binary>` evaluate them and `pulumi up` refuses a stack that
// violates a mandatory policy. cmd/plinth-policy-pack is the executable; the
// engine (v3.274.1 and later) launches an executable given to --policy-pack
// directly, as it launches a provider plugin, with no language host.
//
// Each Plinth policy is one Pulumi policy, named by its ID
// (security.k8s-no-privileged), so the engine's output names the policy of
// each violation; each violation is reported with its own enforcement,
// which depends on the environment class (see Classify), its severity, its
// message and the policy's remediation, attached to the offending
// resource's URN (to the stack for stack-wide findings). A pseudo-policy,
// plinth.environment, carries the class and pack settings in the policy
// pack config and reports resources whose environment tags disagree.
//
// Policies run at the engine hook their Scope allows: PerResource and
// Cumulative ones in Analyze, before a resource is created (a mandatory
// violation stops it), Stack ones in AnalyzeStack, at the end.
//
// The engine hands the analyzer each resource's inputs in Analyze and its
// outputs in AnalyzeStack; the analyzer keeps the inputs it saw in Analyze
// and evaluates Stack policies on those, so every policy reads inputs, as in
// `plinth plan` and `plinth policy check`.
//
// Configuration, weakest first: Options.Config; the stack config key
// plinth:policies (a policies.Config as JSON, as `plinth policy check`
// reads it); the policy pack config (--policy-pack-config): per policy an
// enforcementLevel and the policy's settings by name, and for
// plinth.environment a class and a packs map (pack → enforcement). The
// engine sends every policy's enforcement in Configure, the advertised one
// (the default in the class known before any resource is seen) unless the
// config file sets another; only a level different from the advertised one
// overrides the class default, so a file that repeats the advertised level
// does not pin it when the resources later turn out to be of another class.
//
// Custom rules. Rego rules (package policies/rego, the rules `plinth policy
// check --rules DIR` evaluates offline) run in the pack too, from the
// directory in Options.RulesDir (cmd/plinth-policy-pack reads
// $PLINTH_POLICY_RULES) or the one the policy pack config names:
// {"plinth.rules": {"dir": "policies/rego/examples"}} (relative to the
// directory the engine runs in, the project's). The pseudo-policy
// plinth.rules carries that setting; its enforcement only switches the
// rules off (disabled): each violation keeps the enforcement and severity
// its rule gives it, as offline. A rule that does not compile fails the
// pack at start or at Configure, naming the file and line; a rule that
// fails to evaluate fails the Analyze call: never a silent pass. Rules
// evaluate on the same neutral view as the built-in policies, with the
// environment learnt from the stack and the resources (class as above,
// name from the resources' plinth:environment tag or plinth.dev/environment
// label, region from aws:region), so for the same resources they report
// what `plinth policy check --rules` reports. Entries of scope resource are
// evaluated in Analyze on the analyzed resource alone (a mandatory one stops
// it before it is created); every entry is evaluated in AnalyzeStack on
// every resource, and what Analyze reported is not repeated.
package analyzer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/plinth-dev/plinth/policies"
	"github.com/plinth-dev/plinth/policies/rego"
)

// Defaults of Options.
const (
	// DefaultName is the policy pack's name.
	DefaultName = "plinth"
	// DefaultVersion is the pack's version when none (or no semantic
	// version) is given.
	DefaultVersion = "0.0.0-dev"
)

// MetaPolicy is the pseudo-policy whose config carries the environment
// class and pack settings, and which reports resources whose environment
// tags disagree (advisory by default).
const MetaPolicy = "plinth.environment"

// RulesPolicy is the pseudo-policy whose config names a directory of custom
// Rego rules (dir) and whose enforcement, disabled, switches them off.
const RulesPolicy = "plinth.rules"

// EnvRules is the environment variable from which cmd/plinth-policy-pack
// reads the directory of custom Rego rules (Options.RulesDir).
const EnvRules = "PLINTH_POLICY_RULES"

// ConfigPolicies is the stack config key holding a policies.Config as JSON
// (the key `plinth policy check` reads).
const ConfigPolicies = "plinth:policies"

// ConfigRegion is the stack config key of the AWS region.
const ConfigRegion = "aws:region"

// Options configure a policy pack.
type Options struct {
	// Name is the policy pack's name (DefaultName when empty).
	Name string
	// Version is the pack's version, a semantic version (DefaultVersion
	// when empty or not one).
	Version string
	// Policies are the policies to run (policies.All() when nil).
	Policies []*policies.Policy
	// Config is the base configuration, under the stack's and the pack
	// config's.
	Config *policies.Config
	// RulesDir is a directory of custom Rego rules to evaluate too (none
	// when empty); the policy pack config of RulesPolicy can name another.
	RulesDir string
}

var packNameRE = regexp.MustCompile(`^[a-zA-Z0-9-_.]{1,100}$`)

// Server is a Plinth policy pack as an Analyzer gRPC service.
type Server struct {
	pulumirpc.UnimplementedAnalyzerServer

	name, version string
	all           []*policies.Policy
	byID          map[string]*policies.Policy
	base          *policies.Config

	mu sync.Mutex
	// Set by ConfigureStack.
	stack, project string
	region         string
	stackTagClass  string
	stackCfg       *policies.Config
	// advertised is each policy's enforcement as GetAnalyzerInfo reports
	// it: the engine always echoes it back in Configure, so only a
	// different level there is an override.
	advertised map[string]policies.Enforcement
	// baseRules are the custom rules of Options.RulesDir (nil without).
	baseRules *rego.Rules
	baseDir   string
	// Set by Configure.
	configuredClass string
	metaEnforcement policies.Enforcement
	// rules are the custom rules in effect, from rulesDir (nil: none, or
	// switched off).
	rules    *rego.Rules
	rulesDir string
	// cfg is the configuration in effect; perResource, cumulative and
	// early are cfg with the policies of other scopes disabled.
	cfg, perResource, cumulative, early *policies.Config
	// The deployment under analysis: the resources Analyze saw, in order,
	// the URNs tagged with each class, the provider, the environment name
	// (from the first resource tagged with one), the class of the last
	// Analyze, and the findings reported.
	seen      []*policies.Resource
	index     map[string]int
	tagged    map[string][]string
	provider  string
	envName   string
	lastClass string
	reported  map[string]bool
}

// New returns a policy pack server.
func New(opts Options) (*Server, error) {
	s := &Server{name: opts.Name, version: opts.Version, all: opts.Policies, base: opts.Config}
	if s.name == "" {
		s.name = DefaultName
	}
	if !packNameRE.MatchString(s.name) {
		return nil, fmt.Errorf("policy pack name %q: use letters, digits, '-', '_' and '.' (at most 100)", s.name)
	}
	if _, err := semver.ParseTolerant(s.version); err != nil {
		s.version = DefaultVersion
	}
	if s.all == nil {
		s.all = policies.All()
	}
	s.all = policies.Sorted(s.all)
	s.byID = map[string]*policies.Policy{}
	for _, p := range s.all {
		if p.ID() == MetaPolicy || p.ID() == RulesPolicy || p.ID() == "all" {
			return nil, fmt.Errorf("policy %s: the name is reserved", p.ID())
		}
		s.byID[p.ID()] = p
	}
	if err := s.base.Check(s.all); err != nil {
		return nil, fmt.Errorf("policy config: %w", err)
	}
	if opts.RulesDir != "" {
		rules, err := loadRules(opts.RulesDir)
		if err != nil {
			return nil, err
		}
		s.baseRules, s.baseDir = rules, opts.RulesDir
	}
	s.rules, s.rulesDir = s.baseRules, s.baseDir
	s.metaEnforcement = policies.Advisory
	s.stackCfg = s.base
	s.setConfig(s.base)
	s.advertise()
	s.reset()
	return s, nil
}

// Main serves the pack as an analyzer plugin: it listens on a free port of
// 127.0.0.1, prints the port on standard output (the plugin protocol) and
// serves until the engine stops it.
func Main(opts Options) error {
	srv, err := New(opts)
	if err != nil {
		return err
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(g *grpc.Server) error {
			pulumirpc.RegisterAnalyzerServer(g, srv)
			return nil
		},
	})
	if err != nil {
		return fmt.Errorf("serve the analyzer: %w", err)
	}
	fmt.Printf("%d\n", handle.Port)
	return <-handle.Done
}

// reset forgets the resources of the previous deployment.
func (s *Server) reset() {
	s.seen, s.index, s.tagged, s.reported = nil, map[string]int{}, map[string][]string{}, map[string]bool{}
	s.provider, s.envName, s.lastClass = "", "", ""
}

// loadRules compiles the custom rules of dir; the error names the
// directory, and the file and line of each compile error.
func loadRules(dir string) (*rego.Rules, error) {
	rules, err := rego.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("custom rules in %s: %w", dir, err)
	}
	return rules, nil
}

// setConfig puts cfg in effect.
func (s *Server) setConfig(cfg *policies.Config) {
	s.cfg = cfg
	s.perResource = s.only(PerResource)
	s.cumulative = s.only(Cumulative)
	s.early = s.only(PerResource, Cumulative)
}

// only returns the config in effect with every policy outside scopes disabled.
func (s *Server) only(scopes ...Scope) *policies.Config {
	over := &policies.Config{Policies: map[string]policies.PolicyConfig{}}
	for _, p := range s.all {
		if !slices.Contains(scopes, ScopeOf(p)) {
			over.Policies[p.ID()] = policies.PolicyConfig{Enforcement: policies.Disabled}
		}
	}
	return merge(s.cfg, over)
}

// advertise computes the enforcement GetAnalyzerInfo reports: each policy's
// default in the class known before any resource is seen.
func (s *Server) advertise() {
	class := s.stackTagClass
	if class == "" {
		class = policies.ClassDev
	}
	s.advertised = map[string]policies.Enforcement{MetaPolicy: policies.Advisory}
	for _, p := range s.all {
		s.advertised[p.ID()] = s.stackCfg.EnforcementFor(p, class)
	}
}

// Handshake accepts the engine's handshake.
func (s *Server) Handshake(context.Context, *pulumirpc.AnalyzerHandshakeRequest) (*pulumirpc.AnalyzerHandshakeResponse, error) {
	return &pulumirpc.AnalyzerHandshakeResponse{}, nil
}

// GetPluginInfo returns the pack's version.
func (s *Server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: s.version}, nil
}

// ConfigureStack records the stack: its name, its config (plinth:policies,
// aws:region) and its tags (environment); it starts a new deployment.
func (s *Server) ConfigureStack(_ context.Context, req *pulumirpc.AnalyzerStackConfigureRequest) (*pulumirpc.AnalyzerStackConfigureResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stack, s.project = req.GetStack(), req.GetProject()
	s.region = req.GetConfig()[ConfigRegion]
	s.stackTagClass = ""
	if class := strings.TrimSpace(req.GetTags()[TagKey]); class != "" {
		if !validClass(class) {
			return nil, fmt.Errorf("stack tag %s is %q; allowed: %s", TagKey, class, strings.Join(policies.Classes, ", "))
		}
		s.stackTagClass = class
	}
	s.stackCfg = s.base
	if raw := req.GetConfig()[ConfigPolicies]; raw != "" {
		var c policies.Config
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return nil, fmt.Errorf("stack config %s: %w", ConfigPolicies, err)
		}
		if err := c.Check(s.all); err != nil {
			return nil, fmt.Errorf("stack config %s: %w", ConfigPolicies, err)
		}
		s.stackCfg = merge(s.base, &c)
	}
	s.setConfig(s.stackCfg)
	s.configuredClass = ""
	s.metaEnforcement = policies.Advisory
	s.advertise()
	s.reset()
	return &pulumirpc.AnalyzerStackConfigureResponse{}, nil
}

// GetAnalyzerInfo describes the pack: one policy per Plinth policy, named by
// its ID, with its description, severity, remediation, settings and
// enforcement in the class known so far, and MetaPolicy.
func (s *Server) GetAnalyzerInfo(context.Context, *emptypb.Empty) (*pulumirpc.AnalyzerInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := &pulumirpc.AnalyzerInfo{
		Name:           s.name,
		DisplayName:    "Plinth guardrails",
		Version:        s.version,
		SupportsConfig: true,
		Description:    "Plinth's policy packs (security, cost, tagging, reliability), enforced per environment class (dev, staging, prod).",
		Tags:           []string{"plinth", "mlops"},
	}
	meta, err := metaSchema()
	if err != nil {
		return nil, err
	}
	info.Policies = append(info.Policies, &pulumirpc.PolicyInfo{
		Name:        MetaPolicy,
		DisplayName: "environment class",
		Description: "Resources agree on their environment tag (tags.environment, or the Kubernetes label environment), and with the class set in the policy config (class) or the stack tag environment. Its config sets the class the policies run as, and packs (pack → enforcement).",
		Message:     "Tag every resource with the environment class it belongs to (Plinth does, from spec.tags.environment), or set the class in the policy pack config.",
		// Enforcement of MetaPolicy's own findings; advisory by default.
		EnforcementLevel: pulumirpc.EnforcementLevel_ADVISORY,
		ConfigSchema:     meta,
		PolicyType:       pulumirpc.PolicyType_POLICY_TYPE_STACK,
		Severity:         pulumirpc.PolicySeverity_POLICY_SEVERITY_LOW,
	})
	rules, err := rulesSchema()
	if err != nil {
		return nil, err
	}
	info.Policies = append(info.Policies, &pulumirpc.PolicyInfo{
		Name:        RulesPolicy,
		DisplayName: "custom Rego rules",
		Description: "Custom rules in Rego (data.plinth.deny), as `plinth policy check --rules DIR` evaluates them; each violation is reported as custom.<rule>, with the enforcement and severity its rule gives it. Its config names the directory (dir; default $" + EnvRules + " when the pack started); disabled switches the rules off.",
		Message:     "See the rule's remediation.",
		// Only disabled matters: violations carry their rule's enforcement.
		EnforcementLevel: pulumirpc.EnforcementLevel_ADVISORY,
		ConfigSchema:     rules,
		PolicyType:       pulumirpc.PolicyType_POLICY_TYPE_STACK,
		Severity:         pulumirpc.PolicySeverity_POLICY_SEVERITY_MEDIUM,
		Tags:             []string{rego.Pack},
	})
	for _, p := range s.all {
		schema, err := settingsSchema(p)
		if err != nil {
			return nil, err
		}
		typ := pulumirpc.PolicyType_POLICY_TYPE_RESOURCE
		if ScopeOf(p) == Stack {
			typ = pulumirpc.PolicyType_POLICY_TYPE_STACK
		}
		info.Policies = append(info.Policies, &pulumirpc.PolicyInfo{
			Name:             p.ID(),
			Description:      p.Description,
			Message:          p.Remediation,
			EnforcementLevel: rpcEnforcement(s.advertised[p.ID()]),
			ConfigSchema:     schema,
			PolicyType:       typ,
			Severity:         rpcSeverity(p.Severity),
			Tags:             []string{p.Pack},
			RemediationSteps: p.Remediation,
		})
	}
	return info, nil
}

// Configure applies the policy pack config. The engine sends every policy
// with the enforcement GetAnalyzerInfo advertised unless the config file
// changes it: a different level overrides the class default, the same level
// leaves the class default in force. Properties are the policy's settings.
func (s *Server) Configure(_ context.Context, req *pulumirpc.ConfigureAnalyzerRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	over := &policies.Config{Policies: map[string]policies.PolicyConfig{}}
	class, meta := "", policies.Advisory
	rules, rulesDir := s.baseRules, s.baseDir
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(req.GetPolicyConfig())) {
		pc := req.GetPolicyConfig()[name]
		level, err := fromRPCEnforcement(pc.GetEnforcementLevel())
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		props := pc.GetProperties().AsMap()
		switch _, known := s.byID[name]; {
		case name == "all":
			// The engine has applied it to every policy already.
		case name == MetaPolicy:
			meta = level
			c, packs, err := metaConfig(props)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				continue
			}
			class, over.Packs = c, packs
		case name == RulesPolicy:
			dir, err := rulesConfig(props)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			case level == policies.Disabled:
				rules, rulesDir = nil, ""
			case dir != "":
				r, err := loadRules(dir)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", name, err))
					continue
				}
				rules, rulesDir = r, dir
			}
		case known:
			var e policies.Enforcement
			if level != s.advertised[name] {
				e = level
			}
			if e != "" || len(props) > 0 {
				over.Policies[name] = policies.PolicyConfig{Enforcement: e, Settings: props}
			}
		default:
			errs = append(errs, fmt.Errorf("%s: no such policy in pack %s (see `plinth policy list`)", name, s.name))
		}
	}
	cfg := merge(s.stackCfg, over)
	if err := cfg.Check(s.all); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("policy pack config: %w", err)
	}
	s.setConfig(cfg)
	s.configuredClass, s.metaEnforcement = class, meta
	s.rules, s.rulesDir = rules, rulesDir
	return &emptypb.Empty{}, nil
}

// Analyze runs the PerResource policies on the analyzed resource and the
// Cumulative ones on the resources registered so far, and reports the
// findings on it (and stack-wide findings not reported yet), before the
// engine creates or updates it. When the resource changes the environment
// class (a stricter environment tag), the PerResource policies run again on
// every resource so far, and what now weighs more is reported too.
func (s *Server) Analyze(ctx context.Context, req *pulumirpc.AnalyzeRequest) (*pulumirpc.AnalyzeResponse, error) {
	r, err := fromAnalyzeRequest(req)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pr := PolicyResource(r)
	if i, ok := s.index[pr.URN]; ok {
		s.seen[i] = pr
		s.tagged = Classify("", "", s.seen).Tagged
	} else {
		s.index[pr.URN] = len(s.seen)
		s.seen = append(s.seen, pr)
		if class := ResourceClass(pr); class != "" {
			s.tagged[class] = append(s.tagged[class], pr.URN)
		}
	}
	s.provider = environmentProvider(s.provider, pr.Type)
	if s.envName == "" {
		s.envName = ResourceEnvironmentName(pr)
	}
	cl := classify(s.configuredClass, s.stackTagClass, s.tagged)
	env := s.environment(cl, s.provider, s.envName)
	var vs []policies.Violation
	if s.lastClass != "" && cl.Class != s.lastClass {
		rep, err := policies.Evaluate(s.all, &policies.Input{Environment: env, Resources: s.seen}, s.early)
		if err != nil {
			return nil, err
		}
		vs = rep.Violations
		custom, err := s.customFindings(ctx, env, s.seen, rego.ScopeResource)
		if err != nil {
			return nil, err
		}
		vs = append(vs, custom...)
	} else {
		one, err := policies.Evaluate(s.all, &policies.Input{Environment: env, Resources: []*policies.Resource{pr}}, s.perResource)
		if err != nil {
			return nil, err
		}
		sum, err := policies.Evaluate(s.all, &policies.Input{Environment: env, Resources: s.seen}, s.cumulative)
		if err != nil {
			return nil, err
		}
		vs = append(one.Violations, sum.Violations...)
		custom, err := s.customFindings(ctx, env, []*policies.Resource{pr}, rego.ScopeResource)
		if err != nil {
			return nil, err
		}
		vs = append(vs, custom...)
	}
	s.lastClass = cl.Class
	var ds []*pulumirpc.AnalyzeDiagnostic
	for _, v := range vs {
		k := key(v)
		if v.URN != pr.URN && s.reported[k] {
			// Reported already (on the resource it names, or for a
			// stack-wide finding on the resource that tipped it). A finding
			// on the analyzed resource is always reported: the engine
			// decides from this answer whether to create it.
			continue
		}
		s.reported[k] = true
		urn := v.URN
		if urn == "" {
			urn = pr.URN // a stack-wide finding this resource tipped over
		}
		ds = append(ds, s.diagnostic(v, urn))
	}
	return &pulumirpc.AnalyzeResponse{Diagnostics: ds}, nil
}

// AnalyzeStack runs every policy on every resource of the stack (with the
// inputs seen in Analyze; outputs for a resource Analyze never saw) and
// reports the Stack policies' findings, the other policies' findings that
// Analyze did not report (a stricter class known only now, a resource
// Analyze never saw), and MetaPolicy's.
func (s *Server) AnalyzeStack(ctx context.Context, req *pulumirpc.AnalyzeStackRequest) (*pulumirpc.AnalyzeResponse, error) {
	var rs []*policies.Resource
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ar := range req.GetResources() {
		if i, ok := s.index[ar.GetUrn()]; ok {
			rs = append(rs, s.seen[i])
			continue
		}
		r, err := fromStackResource(ar)
		if err != nil {
			return nil, err
		}
		rs = append(rs, PolicyResource(r))
	}
	cl := Classify(s.configuredClass, s.stackTagClass, rs)
	provider, name := "", s.envName
	for _, r := range rs {
		provider = environmentProvider(provider, r.Type)
		if name == "" {
			name = ResourceEnvironmentName(r)
		}
	}
	env := s.environment(cl, provider, name)
	rep, err := policies.Evaluate(s.all, &policies.Input{Environment: env, Resources: rs}, s.cfg)
	if err != nil {
		return nil, err
	}
	var ds []*pulumirpc.AnalyzeDiagnostic
	for _, v := range rep.Violations {
		if ScopeOf(s.byID[v.Policy]).Early() && s.reported[key(v)] {
			continue
		}
		s.reported[key(v)] = true
		ds = append(ds, s.diagnostic(v, v.URN))
	}
	// Custom rules: every entry, less what Analyze reported.
	custom, err := s.customFindings(ctx, env, rs, "")
	if err != nil {
		return nil, err
	}
	for _, v := range custom {
		if s.reported[key(v)] {
			continue
		}
		s.reported[key(v)] = true
		ds = append(ds, s.diagnostic(v, v.URN))
	}
	ds = append(ds, s.classDiagnostics(cl, rs)...)
	return &pulumirpc.AnalyzeResponse{Diagnostics: ds}, nil
}

// Remediate changes nothing: Plinth's policies report, they do not rewrite.
func (s *Server) Remediate(context.Context, *pulumirpc.AnalyzeRequest) (*pulumirpc.RemediateResponse, error) {
	return &pulumirpc.RemediateResponse{}, nil
}

// Cancel acknowledges the engine's shutdown.
func (s *Server) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// environment is what the policies know of the environment: its name is
// the one the resources are tagged with, else the project's.
func (s *Server) environment(cl Classification, provider, name string) policies.Environment {
	class := cl.Class
	if !validClass(class) {
		class = policies.ClassProd // cannot happen: Configure and ConfigureStack check
	}
	if name == "" {
		name = s.project
	}
	return policies.Environment{Name: name, Class: class, Provider: provider, Region: s.region, Stack: s.stack}
}

// customFindings evaluates the custom rules in effect (none: nothing) on
// rs and returns the violations of the given scope ("": every scope).
func (s *Server) customFindings(ctx context.Context, env policies.Environment, rs []*policies.Resource, scope string) ([]policies.Violation, error) {
	if s.rules == nil {
		return nil, nil
	}
	fs, err := s.rules.Findings(ctx, &policies.Input{Environment: env, Resources: rs})
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", RulesPolicy, s.rulesDir, err)
	}
	var out []policies.Violation
	for _, f := range fs {
		if scope == "" || f.Scope == scope {
			out = append(out, f.Violation)
		}
	}
	return out, nil
}

// key identifies a finding across Analyze and AnalyzeStack: by policy,
// resource, message and enforcement; a stack-wide finding of a built-in
// policy by policy and enforcement only (its message may count resources).
func key(v policies.Violation) string {
	if v.URN == "" && v.Pack != rego.Pack {
		return v.Policy + "\x00\x00" + string(v.Enforcement)
	}
	return v.Policy + "\x00" + v.URN + "\x00" + v.Message + "\x00" + string(v.Enforcement)
}

// diagnostic turns a violation into the engine's diagnostic.
func (s *Server) diagnostic(v policies.Violation, urn string) *pulumirpc.AnalyzeDiagnostic {
	msg := v.Message
	if v.Remediation != "" {
		msg += "\nRemediation: " + v.Remediation
	}
	desc := ""
	if p := s.byID[v.Policy]; p != nil {
		desc = p.Description
	} else if v.Pack == rego.Pack {
		desc = "Custom Rego rule (" + s.rulesDir + ")."
	}
	return &pulumirpc.AnalyzeDiagnostic{
		PolicyName:        v.Policy,
		PolicyPackName:    s.name,
		PolicyPackVersion: s.version,
		Description:       desc,
		Message:           msg,
		EnforcementLevel:  rpcEnforcement(v.Enforcement),
		Urn:               urn,
		Severity:          rpcSeverity(v.Severity),
	}
}

// classDiagnostics are MetaPolicy's findings: environment tags that are no
// class, that disagree with each other, or with an explicit class.
func (s *Server) classDiagnostics(cl Classification, rs []*policies.Resource) []*pulumirpc.AnalyzeDiagnostic {
	if s.metaEnforcement == policies.Disabled {
		return nil
	}
	names := map[string]string{}
	for _, r := range rs {
		names[r.URN] = r.Name
	}
	list := func(urns []string) string {
		var out []string
		for i, u := range urns {
			if i == 3 {
				out = append(out, fmt.Sprintf("and %d more", len(urns)-3))
				break
			}
			out = append(out, names[u])
		}
		return strings.Join(out, ", ")
	}
	var msgs []string
	var tagged []string
	for _, class := range slices.Sorted(maps.Keys(cl.Tagged)) {
		urns := cl.Tagged[class]
		if !validClass(class) {
			msgs = append(msgs, fmt.Sprintf("%s tagged %s=%q, which is not a class (%s): %s", resources(len(urns)), TagKey, class, strings.Join(policies.Classes, ", "), list(urns)))
			continue
		}
		tagged = append(tagged, fmt.Sprintf("%s (%d: %s)", class, len(urns), list(urns)))
		if cl.Source != SourceTags && class != cl.Class {
			msgs = append(msgs, fmt.Sprintf("the class is %s (from the %s), but %s tagged %s=%s: %s", cl.Class, cl.Source, resources(len(urns)), TagKey, class, list(urns)))
		}
	}
	if cl.Source == SourceTags && len(tagged) > 1 {
		msgs = append(msgs, fmt.Sprintf("resources are tagged with several classes: %s; the policies ran as %s, the strictest", strings.Join(tagged, "; "), cl.Class))
	}
	ds := make([]*pulumirpc.AnalyzeDiagnostic, 0, len(msgs))
	for _, m := range msgs {
		ds = append(ds, &pulumirpc.AnalyzeDiagnostic{
			PolicyName:        MetaPolicy,
			PolicyPackName:    s.name,
			PolicyPackVersion: s.version,
			Description:       "Resources agree on their environment class.",
			Message:           m + "\nRemediation: tag every resource with one class (Plinth does, from spec.tags.environment), or set it: policy pack config {\"" + MetaPolicy + "\": {\"class\": \"prod\"}}.",
			EnforcementLevel:  rpcEnforcement(s.metaEnforcement),
			Severity:          pulumirpc.PolicySeverity_POLICY_SEVERITY_LOW,
		})
	}
	return ds
}

// resources is "1 resource is" or "n resources are".
func resources(n int) string {
	if n == 1 {
		return "1 resource is"
	}
	return fmt.Sprintf("%d resources are", n)
}

// merge returns base with over's entries on top (settings merged key by key).
func merge(base, over *policies.Config) *policies.Config {
	out := &policies.Config{Packs: map[string]policies.Enforcement{}, Policies: map[string]policies.PolicyConfig{}}
	for _, c := range []*policies.Config{base, over} {
		if c == nil {
			continue
		}
		maps.Copy(out.Packs, c.Packs)
		for id, pc := range c.Policies {
			cur := out.Policies[id]
			if pc.Enforcement != "" {
				cur.Enforcement = pc.Enforcement
			}
			if len(pc.Settings) > 0 {
				settings := maps.Clone(cur.Settings)
				if settings == nil {
					settings = map[string]any{}
				}
				maps.Copy(settings, pc.Settings)
				cur.Settings = settings
			}
			out.Policies[id] = cur
		}
	}
	return out
}

// metaConfig reads MetaPolicy's properties: class and packs.
func metaConfig(props map[string]any) (class string, packs map[string]policies.Enforcement, err error) {
	for _, k := range slices.Sorted(maps.Keys(props)) {
		switch v := props[k]; k {
		case "class":
			s, _ := v.(string)
			if !validClass(s) {
				return "", nil, fmt.Errorf("class is %v; allowed: %s", v, strings.Join(policies.Classes, ", "))
			}
			class = s
		case "packs":
			m, ok := v.(map[string]any)
			if !ok {
				return "", nil, fmt.Errorf("packs must map pack names to enforcement levels, not %T", v)
			}
			packs = map[string]policies.Enforcement{}
			for pack, e := range m {
				s, _ := e.(string)
				packs[pack] = policies.Enforcement(s)
			}
		default:
			return "", nil, fmt.Errorf("no such setting %q; settings: class, packs", k)
		}
	}
	return class, packs, nil
}

// rulesConfig reads RulesPolicy's properties: dir.
func rulesConfig(props map[string]any) (dir string, err error) {
	for _, k := range slices.Sorted(maps.Keys(props)) {
		switch v := props[k]; k {
		case "dir":
			s, ok := v.(string)
			if !ok || strings.TrimSpace(s) == "" {
				return "", fmt.Errorf("dir must name a directory of .rego files, not %v", v)
			}
			dir = s
		default:
			return "", fmt.Errorf("no such setting %q; settings: dir", k)
		}
	}
	return dir, nil
}

// rulesSchema is RulesPolicy's config schema.
func rulesSchema() (*pulumirpc.PolicyConfigSchema, error) {
	props, err := structpb.NewStruct(map[string]any{
		"dir": map[string]any{
			"type":        "string",
			"description": "Directory of custom Rego rules (every *.rego file under it but *_test.rego), relative to the directory the engine runs in; default: $" + EnvRules + " of the engine's environment.",
		},
	})
	if err != nil {
		return nil, err
	}
	return &pulumirpc.PolicyConfigSchema{Properties: props}, nil
}

// metaSchema is MetaPolicy's config schema.
func metaSchema() (*pulumirpc.PolicyConfigSchema, error) {
	levels := []any{string(policies.Mandatory), string(policies.Advisory), string(policies.Disabled)}
	classes := make([]any, len(policies.Classes))
	for i, c := range policies.Classes {
		classes[i] = c
	}
	props, err := structpb.NewStruct(map[string]any{
		"class": map[string]any{
			"type": "string", "enum": classes,
			"description": "The environment class the policies run as; default: the strictest class the resources are tagged with (tags.environment, label environment), else the stack tag environment, else dev.",
		},
		"packs": map[string]any{
			"type": "object", "additionalProperties": map[string]any{"type": "string", "enum": levels},
			"description": "Enforcement of every policy of a pack (security, cost, tagging, reliability); a policy's own enforcementLevel wins.",
		},
	})
	if err != nil {
		return nil, err
	}
	return &pulumirpc.PolicyConfigSchema{Properties: props}, nil
}

// settingsSchema is a policy's config schema: its settings, typed after
// their dev default. No default goes in the schema (defaults depend on the
// class), so the engine sends only the settings the config file sets.
func settingsSchema(p *policies.Policy) (*pulumirpc.PolicyConfigSchema, error) {
	if len(p.Settings) == 0 {
		return nil, nil
	}
	props := map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(p.Settings)) {
		d := p.Settings[k]
		var schema map[string]any
		switch d[policies.ClassDev].(type) {
		case bool:
			schema = map[string]any{"type": "boolean"}
		case int, int64:
			schema = map[string]any{"type": "integer"}
		case float64:
			schema = map[string]any{"type": "number"}
		case string:
			schema = map[string]any{"type": "string"}
		case []string, []any:
			schema = map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
		default:
			schema = map[string]any{}
		}
		var defaults []string
		for _, class := range policies.Classes {
			if v, ok := d[class]; ok {
				defaults = append(defaults, fmt.Sprintf("%s %v", class, v))
			}
		}
		schema["description"] = "Default per class: " + strings.Join(defaults, "; ")
		props[k] = schema
	}
	s, err := structpb.NewStruct(props)
	if err != nil {
		return nil, fmt.Errorf("policy %s: settings schema: %w", p.ID(), err)
	}
	return &pulumirpc.PolicyConfigSchema{Properties: s}, nil
}

func rpcEnforcement(e policies.Enforcement) pulumirpc.EnforcementLevel {
	switch e {
	case policies.Mandatory:
		return pulumirpc.EnforcementLevel_MANDATORY
	case policies.Disabled:
		return pulumirpc.EnforcementLevel_DISABLED
	}
	return pulumirpc.EnforcementLevel_ADVISORY
}

// fromRPCEnforcement reads an engine enforcement level; remediate, which
// Plinth's policies do not do, counts as mandatory (as the engine counts a
// violation that remediation did not fix).
func fromRPCEnforcement(l pulumirpc.EnforcementLevel) (policies.Enforcement, error) {
	switch l {
	case pulumirpc.EnforcementLevel_ADVISORY:
		return policies.Advisory, nil
	case pulumirpc.EnforcementLevel_MANDATORY, pulumirpc.EnforcementLevel_REMEDIATE:
		return policies.Mandatory, nil
	case pulumirpc.EnforcementLevel_DISABLED:
		return policies.Disabled, nil
	}
	return "", fmt.Errorf("enforcement level %v is not known", l)
}

func rpcSeverity(s policies.Severity) pulumirpc.PolicySeverity {
	switch s {
	case policies.Low:
		return pulumirpc.PolicySeverity_POLICY_SEVERITY_LOW
	case policies.Medium:
		return pulumirpc.PolicySeverity_POLICY_SEVERITY_MEDIUM
	case policies.High:
		return pulumirpc.PolicySeverity_POLICY_SEVERITY_HIGH
	case policies.Critical:
		return pulumirpc.PolicySeverity_POLICY_SEVERITY_CRITICAL
	}
	return pulumirpc.PolicySeverity_POLICY_SEVERITY_UNSPECIFIED
}
