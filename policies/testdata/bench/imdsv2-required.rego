# security.imdsv2-required: launch templates require IMDSv2.
package plinth

import data.plinth.lib

deny contains {
	"policy": "security.imdsv2-required",
	"urn": r.urn,
	"msg": sprintf("launch template %s: metadataOptions.httpTokens is %s, not required", [r.name, imds_shown(tokens)]),
} if {
	some r in input.resources
	r.type == "aws:ec2/launchTemplate:LaunchTemplate"
	tokens := imds_tokens(r)
	not tokens in {"required", lib.unknown}
}

imds_tokens(r) := t if {
	t := r.inputs.metadataOptions.httpTokens
	is_string(t)
} else := ""

imds_shown(t) := "unset (IMDSv1 allowed)" if t == ""

imds_shown(t) := t if t != ""
