# A ConfigMap labelled plinth.dev/forbidden: "true" is refused.
#
# The engine test (engine_test.go) uses this rule to show a custom rule
# stopping a Kubernetes resource in `pulumi up` before it is created: it
# reads one resource at a time, so its scope is resource.
#
# Violations: custom.forbidden-configmap, mandatory, high.
package plinth

deny contains {
	"msg": sprintf("ConfigMap %s is labelled plinth.dev/forbidden", [r.name]),
	"urn": r.urn,
	"severity": "high",
	"remediation": "Remove the label plinth.dev/forbidden, or do not create the ConfigMap.",
	"scope": "resource",
} if {
	some r in input.resources
	r.type == "kubernetes:core/v1:ConfigMap"
	r.inputs.metadata.labels["plinth.dev/forbidden"] == "true"
}
