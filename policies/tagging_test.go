package policies

import "testing"

const idRequiredTags = "tagging.required-tags"

func TestTaggingPolicies(t *testing.T) {
	full := map[string]any{"owner": "ml", "cost-center": "4711", "environment": "dev", "team": "ml"}
	runCases(t, []policyCase{
		{name: "tagged", policy: idRequiredTags, rs: []*Resource{
			res("aws:ec2/vpc:Vpc", "vpc", map[string]any{"cidrBlock": "10.0.0.0/16", "tags": full}),
			res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "attach", map[string]any{"role": Unknown, "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
			res("random:index/randomPassword:RandomPassword", "pw", map[string]any{"length": 32}),
		}},
		{name: "known taggable type without tags", policy: idRequiredTags, rs: []*Resource{res("aws:ec2/vpc:Vpc", "vpc", map[string]any{"cidrBlock": "10.0.0.0/16"})}, want: []string{"vpc"}, enf: Mandatory, contains: "owner, cost-center, environment"},
		{name: "missing cost-center", policy: idRequiredTags, class: ClassProd, rs: []*Resource{bucket("models", map[string]any{"owner": "ml", "environment": "prod", "plinth:purpose": "models"})}, want: []string{"models"}, enf: Mandatory, contains: "cost-center"},
		{name: "empty owner", policy: idRequiredTags, class: ClassStaging, rs: []*Resource{res("aws:kms/key:Key", "key", map[string]any{"tags": map[string]any{"owner": "", "cost-center": "1", "environment": "staging"}})}, want: []string{"key"}, enf: Mandatory, contains: "owner"},
		{name: "any aws type with tags", policy: idRequiredTags, rs: []*Resource{res("aws:sqs/queue:Queue", "jobs", map[string]any{"tags": map[string]any{"owner": "ml"}})}, want: []string{"jobs"}, enf: Mandatory},
		{name: "list-shaped tags", policy: idRequiredTags, rs: []*Resource{res("aws:autoscaling/group:Group", "asg", map[string]any{"tags": []any{
			map[string]any{"key": "owner", "value": "ml", "propagateAtLaunch": true},
			map[string]any{"key": "cost-center", "value": "1", "propagateAtLaunch": true},
		}})}, want: []string{"asg"}, enf: Mandatory, contains: "environment"},
		{name: "tags unknown until apply", policy: idRequiredTags, rs: []*Resource{res("aws:eks/nodeGroup:NodeGroup", "ng", map[string]any{"tags": Unknown}), res("aws:iam/role:Role", "role", map[string]any{"tags": map[string]any{"owner": Unknown, "cost-center": "1", "environment": "dev"}})}},
		{name: "required list from config", policy: idRequiredTags, cfg: settingsOverride(idRequiredTags, map[string]any{"required": []any{"owner", "data-classification"}}), rs: []*Resource{res("aws:ec2/subnet:Subnet", "subnet", map[string]any{"tags": full})}, want: []string{"subnet"}, enf: Mandatory, contains: "data-classification"},
	})
}
