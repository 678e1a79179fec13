// Package iampolicy builds AWS IAM policy documents, as the JSON strings
// that IAM roles, role policies and bucket policies take, and the two trust
// policies more than one Plinth component needs: an AWS service assuming a
// role, and one Kubernetes service account assuming a role through IRSA.
//
// Component-specific policies stay in their components, built from
// Document and Statement.
package iampolicy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Version is the IAM policy language version of every Document.
const Version = "2012-10-17"

// Document is an IAM policy (or trust policy) document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Document. Fields left empty (nil) are
// omitted from the JSON, except Effect and Action.
type Statement struct {
	// Sid optionally names the statement.
	Sid string `json:"Sid,omitempty"`
	// Effect is "Allow" or "Deny".
	Effect string `json:"Effect"`
	// Principal is "*" or a map such as {"Service": "eks.amazonaws.com"}
	// or {"Federated": providerArn}; nil in identity policies.
	Principal any `json:"Principal,omitempty"`
	// Action is one action (string) or a list of them ([]string); the JSON
	// keeps the form given.
	Action any `json:"Action"`
	// Resource is one ARN (string) or a list of them ([]string); nil in
	// trust policies.
	Resource any `json:"Resource,omitempty"`
	// Condition maps a condition operator to its key/value pairs, e.g.
	// {"Bool": {"aws:SecureTransport": "false"}}.
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// New returns a Document of the current policy language Version with the
// given statements.
func New(statements ...Statement) Document {
	return Document{Version: Version, Statement: statements}
}

// JSON renders the document as the compact JSON string IAM takes.
func (d Document) JSON() (string, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("marshal IAM policy: %w", err)
	}
	return string(b), nil
}

// ServiceTrust is the trust policy letting the AWS service principal
// service (e.g. "eks.amazonaws.com") assume a role.
func ServiceTrust(service string) (string, error) {
	if service == "" {
		return "", errors.New("service trust: empty service principal")
	}
	return New(Statement{
		Effect:    "Allow",
		Principal: map[string]string{"Service": service},
		Action:    "sts:AssumeRole",
	}).JSON()
}

// IRSATrust is the trust policy letting exactly one Kubernetes service
// account, namespace/serviceAccount, of the cluster behind the IAM OIDC
// provider providerArn assume a role (IAM roles for service accounts): a
// single IRSAStatement.
func IRSATrust(providerArn, issuerURL, namespace, serviceAccount string) (string, error) {
	s, err := IRSAStatement(providerArn, issuerURL, namespace, serviceAccount)
	if err != nil {
		return "", err
	}
	return New(s).JSON()
}

// IRSAStatement is the statement of IRSATrust, for a component that must
// name it or otherwise shape its trust policy: the federated principal
// providerArn may call sts:AssumeRoleWithWebIdentity when the token's
// <issuer>:sub is system:serviceaccount:<namespace>:<serviceAccount> and
// its <issuer>:aud is sts.amazonaws.com (StringEquals). issuerURL is the
// cluster's OIDC issuer, with or without https:// and a trailing slash.
// Empty inputs, IAM wildcards (* and ?) and a colon in namespace or
// serviceAccount are errors.
func IRSAStatement(providerArn, issuerURL, namespace, serviceAccount string) (Statement, error) {
	issuer := strings.TrimSuffix(strings.TrimPrefix(issuerURL, "https://"), "/")
	for _, in := range []struct{ what, value, bad string }{
		{"OIDC provider ARN", providerArn, "*?"},
		{"OIDC issuer URL", issuer, "*?"},
		{"service account namespace", namespace, "*?:"},
		{"service account name", serviceAccount, "*?:"},
	} {
		switch {
		case in.value == "":
			return Statement{}, fmt.Errorf("IRSA trust: empty %s", in.what)
		case strings.ContainsAny(in.value, in.bad):
			return Statement{}, fmt.Errorf("IRSA trust: %s %q contains one of %q", in.what, in.value, in.bad)
		}
	}
	return Statement{
		Effect:    "Allow",
		Principal: map[string]string{"Federated": providerArn},
		Action:    "sts:AssumeRoleWithWebIdentity",
		Condition: map[string]map[string]string{"StringEquals": {
			issuer + ":sub": "system:serviceaccount:" + namespace + ":" + serviceAccount,
			issuer + ":aud": "sts.amazonaws.com",
		}},
	}, nil
}
