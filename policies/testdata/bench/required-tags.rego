# tagging.required-tags: taggable AWS resources carry owner, cost-center and
# environment (the setting's default in every class).
package plinth

import data.plinth.lib

required_tags := ["owner", "cost-center", "environment"]

taggable_types := {
	"aws:ec2/vpc:Vpc",
	"aws:ec2/subnet:Subnet",
	"aws:ec2/natGateway:NatGateway",
	"aws:ec2/eip:Eip",
	"aws:ec2/internetGateway:InternetGateway",
	"aws:ec2/routeTable:RouteTable",
	"aws:ec2/securityGroup:SecurityGroup",
	"aws:ec2/launchTemplate:LaunchTemplate",
	"aws:eks/cluster:Cluster",
	"aws:eks/nodeGroup:NodeGroup",
	"aws:eks/addon:Addon",
	"aws:iam/role:Role",
	"aws:kms/key:Key",
	"aws:cloudwatch/logGroup:LogGroup",
	"aws:s3/bucketV2:BucketV2",
	"aws:s3/bucket:Bucket",
	"aws:ecr/repository:Repository",
	"aws:rds/instance:Instance",
	"aws:rds/subnetGroup:SubnetGroup",
}

deny contains {
	"policy": "tagging.required-tags",
	"urn": r.urn,
	"msg": sprintf("%s %s lacks the tags %s", [lib.short_type(r.type), r.name, concat(", ", missing)]),
} if {
	some r in input.resources
	taggable(r)
	not r.inputs.tags == lib.unknown
	tags := tags_object(r)
	missing := [k | some k in required_tags; tag_missing(tags, k)]
	count(missing) > 0
}

taggable(r) if r.type in taggable_types

taggable(r) if {
	lib.has_key(r.inputs, "tags")
	startswith(r.type, "aws:")
}

tags_object(r) := t if {
	t := r.inputs.tags
	is_object(t)
} else := {}

tag_missing(tags, key) if not lib.has_key(tags, key)

tag_missing(tags, key) if tags[key] == null

tag_missing(tags, key) if {
	v := tags[key]
	is_string(v)
	trim_space(v) == ""
}
