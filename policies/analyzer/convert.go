package analyzer

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/plinth-dev/plinth/policies"
	"github.com/plinth-dev/plinth/stacks/plan"
)

// Resource is the engine's view of one resource: what an AnalyzeRequest or
// an AnalyzerResource of an AnalyzeStackRequest carries.
type Resource struct {
	URN, Type, Name, Parent string
	// Properties are the inputs (Analyze) or outputs (AnalyzeStack), with
	// unknowns and secrets as the engine marks them.
	Properties resource.PropertyMap
	Protect    bool
}

// PolicyResource turns the engine's view of a resource into the neutral view
// Plinth's policies read: inputs rendered by plan.Render, exactly as
// `plinth plan` renders them (unknowns as policies.Unknown, secrets as
// policies.Secret).
func PolicyResource(r Resource) *policies.Resource {
	return &policies.Resource{
		URN:     r.URN,
		Type:    r.Type,
		Name:    r.Name,
		Parent:  r.Parent,
		Inputs:  plan.Render(r.Properties),
		Protect: r.Protect,
	}
}

// unmarshalOptions keep everything the engine sends: unknowns, secrets,
// resource references and output values.
func unmarshalOptions(label string) plugin.MarshalOptions {
	return plugin.MarshalOptions{Label: label, KeepUnknowns: true, KeepSecrets: true, KeepResources: true, KeepOutputValues: true}
}

// fromAnalyzeRequest reads the resource of an Analyze call.
func fromAnalyzeRequest(req *pulumirpc.AnalyzeRequest) (Resource, error) {
	props, err := unmarshal(req.GetProperties(), "analyze", req.GetUrn())
	if err != nil {
		return Resource{}, err
	}
	return Resource{
		URN: req.GetUrn(), Type: req.GetType(), Name: req.GetName(),
		Parent:     req.GetOptions().GetParent(),
		Properties: props,
		Protect:    req.GetOptions().GetProtect(),
	}, nil
}

// fromStackResource reads one resource of an AnalyzeStack call.
func fromStackResource(r *pulumirpc.AnalyzerResource) (Resource, error) {
	props, err := unmarshal(r.GetProperties(), "analyzeStack", r.GetUrn())
	if err != nil {
		return Resource{}, err
	}
	parent := r.GetParent()
	if parent == "" {
		parent = r.GetOptions().GetParent()
	}
	return Resource{
		URN: r.GetUrn(), Type: r.GetType(), Name: r.GetName(),
		Parent:     parent,
		Properties: props,
		Protect:    r.GetOptions().GetProtect(),
	}, nil
}

func unmarshal(s *structpb.Struct, label, urn string) (resource.PropertyMap, error) {
	props, err := plugin.UnmarshalProperties(s, unmarshalOptions(label))
	if err != nil {
		return nil, fmt.Errorf("read the properties of %s: %w", urn, err)
	}
	return props, nil
}

// TagKey is the tag (AWS tags, Kubernetes labels) naming a resource's
// environment class, as Plinth's blueprints set it (spec.tags.environment).
const TagKey = "environment"

// The tag and label naming the Plinth environment a resource belongs to (its
// metadata.name), as Plinth sets them: stacks.EnvironmentTag on AWS
// resources, k8snamespace.EnvironmentLabel on Kubernetes ones.
const (
	NameTag   = "plinth:environment"
	NameLabel = "plinth.dev/environment"
)

// ResourceClass returns the environment class a resource is tagged with:
// its tags.environment (a map, or a list of {key, value} as an autoscaling
// group has), else its Kubernetes label metadata.labels.environment, else
// (an AWS provider) its defaultTags.tags.environment; "" when it has none or
// the value is unknown until apply. A value that is not a class is returned
// as is (plinth.environment reports it).
func ResourceClass(r *policies.Resource) string {
	return tagValue(r, TagKey, TagKey)
}

// ResourceEnvironmentName returns the name of the Plinth environment a
// resource is tagged with (tag NameTag, label NameLabel, read as
// ResourceClass reads the class); "" when it has none.
func ResourceEnvironmentName(r *policies.Resource) string {
	return tagValue(r, NameTag, NameLabel)
}

// tagValue reads the AWS tag tag (tags as a map or a list of {key, value},
// then defaultTags.tags) or the Kubernetes label label of a resource,
// trimmed; "" when absent or unknown until apply.
func tagValue(r *policies.Resource, tag, label string) string {
	var v any
	switch tags, _ := r.Input("tags"); t := tags.(type) {
	case map[string]any:
		v = t[tag]
	case []any:
		for _, e := range t {
			if m, ok := e.(map[string]any); ok && m["key"] == tag {
				v = m["value"]
			}
		}
	}
	if v == nil {
		if labels, ok := mapInput(r, "metadata", "labels"); ok {
			v = labels[label]
		}
	}
	if v == nil {
		if tags, ok := mapInput(r, "defaultTags", "tags"); ok {
			v = tags[tag]
		}
	}
	s, _ := v.(string)
	if s == policies.Unknown || s == policies.Secret {
		return ""
	}
	return strings.TrimSpace(s)
}

// mapInput is the map at the nested input keys, if there is one.
func mapInput(r *policies.Resource, keys ...string) (map[string]any, bool) {
	var cur any = r.Inputs
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur = m[k]
	}
	m, ok := cur.(map[string]any)
	return m, ok
}

// Class sources, as Classify reports them.
const (
	SourceConfig   = "policy config"
	SourceStackTag = "stack tag"
	SourceTags     = "resource tags"
	SourceDefault  = "default"
)

// Classification is the environment class in effect and where it came from.
type Classification struct {
	// Class is dev, staging or prod.
	Class string
	// Source is SourceConfig, SourceStackTag, SourceTags or SourceDefault.
	Source string
	// Tagged maps each class found on resources (valid or not) to the URNs
	// of the resources tagged with it.
	Tagged map[string][]string
}

// Classify picks the environment class: explicit (the policy config's
// class, then the stack tag environment) wins; otherwise the strictest class
// any resource is tagged with; otherwise dev.
func Classify(configured, stackTag string, rs []*policies.Resource) Classification {
	tagged := map[string][]string{}
	for _, r := range rs {
		if class := ResourceClass(r); class != "" {
			tagged[class] = append(tagged[class], r.URN)
		}
	}
	return classify(configured, stackTag, tagged)
}

// classify is Classify over the URNs tagged with each class.
func classify(configured, stackTag string, tagged map[string][]string) Classification {
	c := Classification{Tagged: tagged}
	switch {
	case configured != "":
		c.Class, c.Source = configured, SourceConfig
	case stackTag != "":
		c.Class, c.Source = stackTag, SourceStackTag
	default:
		for i := len(policies.Classes) - 1; i >= 0; i-- {
			if len(tagged[policies.Classes[i]]) > 0 {
				c.Class, c.Source = policies.Classes[i], SourceTags
				break
			}
		}
	}
	if c.Class == "" {
		c.Class, c.Source = policies.ClassDev, SourceDefault
	}
	return c
}

// validClass reports whether s is dev, staging or prod.
func validClass(s string) bool { return slices.Contains(policies.Classes, s) }

// providerOf is the provider a resource type belongs to, as an
// environment's provider: aws, kubernetes, or "".
func providerOf(typ string) string {
	switch {
	case strings.HasPrefix(typ, "aws:"):
		return "aws"
	case strings.HasPrefix(typ, "kubernetes:"):
		return "kubernetes"
	}
	return ""
}

// environmentProvider guesses the environment's provider: aws if any
// resource is an AWS one, else kubernetes if any is a Kubernetes one.
func environmentProvider(current, typ string) string {
	if p := providerOf(typ); p == "aws" || current == "" {
		return p
	}
	return current
}
