# security.rds-not-public: RDS instances are not publicly accessible.
package plinth

import data.plinth.lib

deny contains {
	"policy": "security.rds-not-public",
	"urn": r.urn,
	"msg": sprintf("%s %s is publicly accessible", [lib.short_type(r.type), r.name]),
} if {
	some r in input.resources
	r.type in {"aws:rds/instance:Instance", "aws:rds/clusterInstance:ClusterInstance"}
	lib.truthy(r.inputs.publiclyAccessible)
}
