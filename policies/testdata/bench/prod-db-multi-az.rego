# reliability.prod-db-multi-az: RDS instances run Multi-AZ.
package plinth

import data.plinth.lib

deny contains {
	"policy": "reliability.prod-db-multi-az",
	"urn": r.urn,
	"msg": sprintf("RDS instance %s is single-AZ (multiAz is not true)", [r.name]),
} if {
	some r in input.resources
	r.type == "aws:rds/instance:Instance"
	not lib.true_or_unknown(r.inputs, "multiAz")
}
