# Few Kubernetes Secrets: a stack-wide finding (no urn).
#
# Violations: custom.secret-count, advisory, low; stack-wide.
package plinth

max_secrets := 3

deny contains {
	"msg": sprintf("environment %s creates %d Kubernetes Secrets; keep it to %d", [input.environment.name, n, max_secrets]),
	"severity": "low",
	"enforcement": "advisory",
} if {
	n := count([r | some r in input.resources; r.type == "kubernetes:core/v1:Secret"])
	n > max_secrets
}
