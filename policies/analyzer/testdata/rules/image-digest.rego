# Container images are pinned by digest in prod; elsewhere it is advice.
#
# The rule decides its enforcement from the environment class, as the
# built-in policies do: mandatory in prod, advisory in dev and staging.
#
# Violations: custom.image-digest, low; scope resource.
package plinth

workload_types := {
	"kubernetes:apps/v1:Deployment",
	"kubernetes:apps/v1:StatefulSet",
	"kubernetes:apps/v1:DaemonSet",
}

deny contains {
	"policy": "image-digest",
	"msg": sprintf("%s %s: container %s runs image %s, not pinned by digest", [kind(r), r.name, c.name, c.image]),
	"urn": r.urn,
	"severity": "low",
	"enforcement": digest_enforcement,
	"scope": "resource",
} if {
	some r in input.resources
	r.type in workload_types
	some c in r.inputs.spec.template.spec.containers
	is_string(c.image)
	not contains(c.image, "@sha256:")
}

digest_enforcement := "mandatory" if input.environment.class == "prod"
else := "advisory"

kind(r) := split(r.type, ":")[2]
