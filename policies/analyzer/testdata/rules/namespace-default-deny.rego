# Every Namespace has a NetworkPolicy named default-deny.
#
# The rule pairs resources (a Namespace and a NetworkPolicy in it, which
# may be registered later), so it keeps the default scope, stack: inside
# the engine it is evaluated once every resource is known.
#
# Violations: custom.namespace-default-deny, advisory, medium.
package plinth

deny contains {
	"msg": sprintf("Namespace %s has no NetworkPolicy default-deny", [ns.inputs.metadata.name]),
	"urn": ns.urn,
	"enforcement": "advisory",
} if {
	some ns in input.resources
	ns.type == "kubernetes:core/v1:Namespace"
	not has_default_deny(ns.inputs.metadata.name)
}

has_default_deny(namespace) if {
	some np in input.resources
	np.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	np.inputs.metadata.name == "default-deny"
	np.inputs.metadata.namespace == namespace
}
