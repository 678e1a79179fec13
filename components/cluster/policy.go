package cluster

import (
	"encoding/json"
	"fmt"
)

// policyVersion is the IAM policy language version.
const policyVersion = "2012-10-17"

// policyDocument is an IAM policy (or trust policy) document.
type policyDocument struct {
	Version   string            `json:"Version"`
	Statement []policyStatement `json:"Statement"`
}

// policyStatement is one statement of a policyDocument.
type policyStatement struct {
	Effect    string                       `json:"Effect"`
	Principal map[string]string            `json:"Principal,omitempty"`
	Action    any                          `json:"Action"`
	Resource  any                          `json:"Resource,omitempty"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// policyJSON renders a policy document.
func policyJSON(doc policyDocument) (string, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("marshal IAM policy: %w", err)
	}
	return string(b), nil
}

// servicePrincipalTrust is a trust policy letting an AWS service assume a role.
func servicePrincipalTrust(service string) (string, error) {
	return policyJSON(policyDocument{Version: policyVersion, Statement: []policyStatement{{
		Effect:    "Allow",
		Principal: map[string]string{"Service": service},
		Action:    "sts:AssumeRole",
	}}})
}

// irsaTrust is a trust policy letting exactly one Kubernetes service account
// ("system:serviceaccount:<namespace>:<name>") of the cluster whose OIDC
// issuer is oidcURL (without https://) assume a role through the IAM OIDC
// provider oidcArn.
func irsaTrust(oidcArn, oidcURL, serviceAccount string) (string, error) {
	return policyJSON(policyDocument{Version: policyVersion, Statement: []policyStatement{{
		Effect:    "Allow",
		Principal: map[string]string{"Federated": oidcArn},
		Action:    "sts:AssumeRoleWithWebIdentity",
		Condition: map[string]map[string]string{"StringEquals": {
			oidcURL + ":sub": serviceAccount,
			oidcURL + ":aud": stsAudience,
		}},
	}}})
}
