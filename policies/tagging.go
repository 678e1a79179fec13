package policies

import (
	"fmt"
	"slices"
	"strings"
)

// taggableTypes are AWS resources that take tags, checked even when they
// have no tags input at all.
var taggableTypes = []string{
	"aws:ec2/vpc:Vpc",
	"aws:ec2/subnet:Subnet",
	"aws:ec2/natGateway:NatGateway",
	"aws:ec2/eip:Eip",
	"aws:ec2/internetGateway:InternetGateway",
	"aws:ec2/routeTable:RouteTable",
	"aws:ec2/securityGroup:SecurityGroup",
	typeLaunchTemplate,
	typeEKSCluster,
	typeNodeGroup,
	"aws:eks/addon:Addon",
	"aws:iam/role:Role",
	"aws:kms/key:Key",
	"aws:cloudwatch/logGroup:LogGroup",
	typeBucketV2,
	typeBucketV1,
	typeECRRepository,
	typeRDSInstance,
	"aws:rds/subnetGroup:SubnetGroup",
}

// defaultRequiredTags are the tags every taggable resource carries.
var defaultRequiredTags = []string{"owner", "cost-center", "environment"}

// taggable reports whether a resource takes tags.
func taggable(r *Resource) bool {
	if slices.Contains(taggableTypes, r.Type) {
		return true
	}
	_, hasTags := r.Input("tags")
	return hasTags && strings.HasPrefix(r.Type, "aws:")
}

func taggingPolicies() []*Policy {
	return []*Policy{
		{
			Pack: PackTagging, Name: "required-tags",
			Description: "Every taggable AWS resource (any aws: resource with a tags input, and the known-taggable types even without one) carries the tags of the setting required (default owner, cost-center, environment) with non-empty values, so costs can be allocated and owners found. Tags unknown until apply are not counted as missing.",
			Severity:    Medium,
			Remediation: "Set spec.tags (owner, cost-center) in the blueprint — Plinth adds environment and passes them to every resource — or add the missing tags to the resource.",
			Defaults:    Everywhere(Mandatory),
			Settings:    map[string]Defaultable{"required": {ClassDev: slices.Clone(defaultRequiredTags), ClassStaging: slices.Clone(defaultRequiredTags), ClassProd: slices.Clone(defaultRequiredTags)}},
			Check: func(in *Input, s Settings) []Finding {
				required := s.StringList("required")
				var out []Finding
				for _, r := range in.Resources {
					if !taggable(r) {
						continue
					}
					raw, _ := r.Input("tags")
					if raw == Unknown {
						continue
					}
					tags := tagMap(raw)
					var missing []string
					for _, key := range required {
						v, ok := tags[key]
						if str, isStr := v.(string); !ok || v == nil || isStr && strings.TrimSpace(str) == "" {
							missing = append(missing, key)
						}
					}
					if len(missing) > 0 {
						out = append(out, Finding{Resource: r, Message: fmt.Sprintf("%s %s lacks the tags %s", shortType(r.Type), r.Name, strings.Join(missing, ", "))})
					}
				}
				return out
			},
		},
	}
}

// tagMap reads tags given as a map, or as a list of {key, value} (the
// shape of an autoscaling group's tags).
func tagMap(raw any) map[string]any {
	switch t := raw.(type) {
	case map[string]any:
		return t
	case []any:
		out := map[string]any{}
		for _, e := range t {
			m, _ := e.(map[string]any)
			if k, ok := m["key"].(string); ok {
				out[k] = m["value"]
			}
		}
		return out
	}
	return nil
}
