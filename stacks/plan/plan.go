// Package plan runs a Pulumi program offline, under the Pulumi SDK's mock
// resource monitor, and records the resource graph it would create: every
// resource's type, name, parent and inputs. No cloud and no Pulumi CLI are
// involved.
//
// The run is a preview (dry run): a value the program only learns from the
// cloud (an id, an ARN, an endpoint) stays unknown and is shown as such;
// nothing is invented. Secrets stay masked.
package plan

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Unknown is how a value that is only known after apply is rendered.
const Unknown = "(known after apply)"

// Secret is how a secret value is rendered.
const Secret = "(secret)"

// Resource is one resource the program registered.
type Resource struct {
	// URN is the resource's URN.
	URN string `json:"urn"`
	// Type is the type token, e.g. aws:s3/bucketV2:BucketV2 or plinth:storage:Storage.
	Type string `json:"type"`
	// Name is the logical name.
	Name string `json:"name"`
	// Parent is the URN of the parent resource (the stack for top-level resources).
	Parent string `json:"parent,omitempty"`
	// Custom is true for provider resources, false for components.
	Custom bool `json:"custom"`
	// Inputs are the resource's inputs, rendered as plain values: unknowns
	// as Unknown, secrets as Secret.
	Inputs map[string]any `json:"inputs,omitempty"`
	// IgnoreChanges lists input paths the engine ignores on update.
	IgnoreChanges []string `json:"ignoreChanges,omitempty"`
	// Protect is true when the resource is protected from deletion.
	Protect bool `json:"protect,omitempty"`

	// Raw holds the inputs as the engine saw them (with secret and unknown
	// markers), for tests.
	Raw resource.PropertyMap `json:"-"`
}

// Input returns a rendered input by top-level name (nil when absent).
func (r *Resource) Input(name string) any { return r.Inputs[name] }

// Graph is every resource of one run, in registration order.
type Graph struct {
	Resources []*Resource `json:"resources"`
	// Invokes lists the data-source calls the program made (token → count).
	Invokes map[string]int `json:"invokes,omitempty"`
}

// ByType returns the resources of a type token, in registration order.
func (g *Graph) ByType(token string) []*Resource {
	var out []*Resource
	for _, r := range g.Resources {
		if r.Type == token {
			out = append(out, r)
		}
	}
	return out
}

// Find returns the resource of a type and logical name, or nil.
func (g *Graph) Find(token, name string) *Resource {
	for _, r := range g.Resources {
		if r.Type == token && r.Name == name {
			return r
		}
	}
	return nil
}

// Children returns the resources whose parent is urn.
func (g *Graph) Children(urn string) []*Resource {
	var out []*Resource
	for _, r := range g.Resources {
		if r.Parent == urn {
			out = append(out, r)
		}
	}
	return out
}

// CountByType returns how many resources there are of each type.
func (g *Graph) CountByType() map[string]int {
	counts := map[string]int{}
	for _, r := range g.Resources {
		counts[r.Type]++
	}
	return counts
}

// InvokeFunc answers a data-source call (an invoke) during the run. It
// returns ErrNoAnswer for calls it does not know.
type InvokeFunc func(token string, args resource.PropertyMap) (resource.PropertyMap, error)

// ErrNoAnswer is returned by an InvokeFunc for calls it cannot answer.
var ErrNoAnswer = errors.New("no offline answer for this call")

// Options configure a run.
type Options struct {
	// Project and Stack name the run (default "plinth" and "plan").
	Project, Stack string
	// RootDirectory is the project root (where Pulumi.yaml is).
	RootDirectory string
	// Config is the stack config, by full key (plinth:blueprint, aws:region, ...).
	Config map[string]string
	// SecretKeys lists the config keys that are secrets.
	SecretKeys []string
	// Invoke answers data-source calls; nil answers none.
	Invoke InvokeFunc
}

// Run runs program under mocks as a preview and returns the graph it
// registered. An error from the program (or an unanswered invoke) is
// returned with the graph recorded so far.
func Run(program pulumi.RunFunc, opts Options) (*Graph, error) {
	if opts.Project == "" {
		opts.Project = "plinth"
	}
	if opts.Stack == "" {
		opts.Stack = "plan"
	}
	rec := &recorder{project: opts.Project, stack: opts.Stack, invoke: opts.Invoke, graph: &Graph{Invokes: map[string]int{}}}
	err := pulumi.RunErr(program,
		pulumi.WithMocks(opts.Project, opts.Stack, rec),
		func(info *pulumi.RunInfo) {
			info.DryRun = true
			info.RootDirectory = opts.RootDirectory
			info.Config = opts.Config
			info.ConfigSecretKeys = opts.SecretKeys
		},
	)
	if len(rec.graph.Invokes) == 0 {
		rec.graph.Invokes = nil
	}
	return rec.graph, err
}

// recorder is a pulumi.MockResourceMonitor that records every resource.
type recorder struct {
	project, stack string
	mu             sync.Mutex
	invoke         InvokeFunc
	graph          *Graph
}

// NewResource records the resource and returns no id and its inputs as
// state: in a preview, the SDK then treats the id and every output that is
// not an input as unknown.
func (r *recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	inputs := args.Inputs
	if rpc := args.RegisterRPC; rpc != nil {
		// The mock monitor drops unknown inputs; read them again, keeping
		// unknowns, so the plan shows them instead of leaving them out.
		all, err := plugin.UnmarshalProperties(rpc.GetObject(), plugin.MarshalOptions{
			KeepUnknowns: true, KeepSecrets: true, KeepResources: true, KeepOutputValues: true,
		})
		if err != nil {
			return "", nil, fmt.Errorf("read inputs of %s: %w", args.Name, err)
		}
		inputs = all
	}
	res := &Resource{
		Type:   args.TypeToken,
		Name:   args.Name,
		Custom: args.Custom,
		Inputs: Render(inputs),
		Raw:    inputs,
	}
	if rpc := args.RegisterRPC; rpc != nil {
		res.Parent = rpc.GetParent()
		res.IgnoreChanges = rpc.GetIgnoreChanges()
		res.Protect = rpc.GetProtect()
	}
	r.mu.Lock()
	res.URN = r.urn(res)
	r.graph.Resources = append(r.graph.Resources, res)
	r.mu.Unlock()
	state := args.Inputs
	if extra, ok := generatedSecrets[args.TypeToken]; ok {
		state = state.Copy()
		for _, k := range extra {
			state[resource.PropertyKey(k)] = resource.MakeSecret(resource.NewStringProperty(GeneratedSecret))
		}
	}
	if extra, ok := secretFeeds[args.TypeToken]; ok {
		state = state.Copy()
		for _, k := range extra {
			state[resource.PropertyKey(k)] = resource.NewStringProperty(Unknown)
		}
	}
	return "", state, nil
}

// secretFeeds lists, per type, computed outputs that programs combine with
// secrets (a database address in a connection string). The SDK's mock
// monitor cannot carry a value that is both secret and unknown, so these
// outputs are given as the text Unknown: they render exactly as unknowns do.
var secretFeeds = map[string][]string{
	"aws:rds/instance:Instance": {"address", "endpoint"},
}

// GeneratedSecret stands in for a secret a provider generates at apply (a
// random password): the plan knows it is a secret, not its value.
const GeneratedSecret = "(generated at apply)"

// generatedSecrets lists, per type, the outputs that are generated secrets.
// The SDK's mock monitor fails a run on any input that is both secret and
// unknown, so these outputs are given as known secrets holding
// GeneratedSecret instead of unknowns; rendered, they show as Secret.
var generatedSecrets = map[string][]string{
	"random:index/randomPassword:RandomPassword": {"result", "bcryptHash"},
}

// urn builds the resource's URN as the mock monitor does (it does not
// hand it to NewResource), so Parent fields match URNs.
func (r *recorder) urn(res *Resource) string {
	parentType := tokens.Type("")
	if p := resource.URN(res.Parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(r.stack), tokens.PackageName(r.project), parentType, tokens.Type(res.Type), res.Name))
}

// Call answers an invoke through the InvokeFunc.
func (r *recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	r.mu.Lock()
	r.graph.Invokes[args.Token]++
	r.mu.Unlock()
	if r.invoke == nil {
		return nil, fmt.Errorf("%s: %w", args.Token, ErrNoAnswer)
	}
	out, err := r.invoke(args.Token, args.Args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", args.Token, err)
	}
	return out, nil
}

// Render turns a property map into plain values for display and JSON:
// unknowns become Unknown, secrets Secret, maps keep sorted keys.
func Render(m resource.PropertyMap) map[string]any {
	out := make(map[string]any, len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, "__") {
			continue // engine-internal properties
		}
		out[k] = renderValue(m[resource.PropertyKey(k)])
	}
	return out
}

func renderValue(v resource.PropertyValue) any {
	switch {
	case v.IsComputed() || v.IsOutput() && !v.OutputValue().Known:
		return Unknown
	case v.IsSecret() || v.IsOutput() && v.OutputValue().Secret:
		return Secret
	case v.IsOutput():
		return renderValue(v.OutputValue().Element)
	case v.IsNull():
		return nil
	case v.IsBool():
		return v.BoolValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsString():
		return v.StringValue()
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = renderValue(e)
		}
		return out
	case v.IsObject():
		return Render(v.ObjectValue())
	case v.IsResourceReference():
		return v.ResourceReferenceValue().URN.Name()
	case v.IsAsset(), v.IsArchive():
		return "(asset)"
	default:
		return fmt.Sprintf("%v", v)
	}
}
