package iampolicy

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const (
	providerArn = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
	issuer      = "oidc.eks.eu-west-1.amazonaws.com/id/ABC"
)

func TestDocumentJSON(t *testing.T) {
	tests := []struct {
		name string
		doc  Document
		want string
	}{
		{"no statements", New(), `{"Version":"2012-10-17","Statement":null}`},
		{"service trust shape", New(Statement{
			Effect:    "Allow",
			Principal: map[string]string{"Service": "eks.amazonaws.com"},
			Action:    "sts:AssumeRole",
		}), `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`},
		{"identity policy, lists kept as lists", New(Statement{
			Effect:   "Allow",
			Action:   []string{"logs:PutLogEvents"},
			Resource: []string{"arn:aws:logs:us-east-1:1:log-group:g"},
		}), `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:PutLogEvents"],"Resource":["arn:aws:logs:us-east-1:1:log-group:g"]}]}`},
		{"every field, in IAM order", New(Statement{
			Sid:       "DenyInsecureTransport",
			Effect:    "Deny",
			Principal: "*",
			Action:    "s3:*",
			Resource:  []string{"arn:aws:s3:::b", "arn:aws:s3:::b/*"},
			Condition: map[string]map[string]string{"Bool": {"aws:SecureTransport": "false"}},
		}), `{"Version":"2012-10-17","Statement":[{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`},
		{"several statements, condition keys sorted", New(
			Statement{Sid: "A", Effect: "Allow", Action: "s3:ListBucket", Resource: "arn:aws:s3:::b"},
			Statement{Sid: "B", Effect: "Allow", Action: "kms:Decrypt", Resource: "k", Condition: map[string]map[string]string{
				"StringEquals": {"z": "1", "a": "2"},
			}},
		), `{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"},{"Sid":"B","Effect":"Allow","Action":"kms:Decrypt","Resource":"k","Condition":{"StringEquals":{"a":"2","z":"1"}}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.doc.JSON()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("JSON() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	t.Run("unmarshalable", func(t *testing.T) {
		if _, err := New(Statement{Effect: "Allow", Action: make(chan int)}).JSON(); err == nil || !strings.Contains(err.Error(), "marshal IAM policy") {
			t.Errorf("want a marshal error, got %v", err)
		}
	})
}

func TestServiceTrust(t *testing.T) {
	tests := []struct {
		service string
		want    string
		wantErr bool
	}{
		{"eks.amazonaws.com", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`, false},
		{"ec2.amazonaws.com", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`, false},
		{"", "", true},
	}
	for _, tt := range tests {
		t.Run("service="+tt.service, func(t *testing.T) {
			got, err := ServiceTrust(tt.service)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ServiceTrust(%q) =\n%s\nwant\n%s", tt.service, got, tt.want)
			}
		})
	}
}

func TestIRSATrust(t *testing.T) {
	const want = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + providerArn +
		`"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"` + issuer + `:aud":"sts.amazonaws.com","` +
		issuer + `:sub":"system:serviceaccount:kube-system:aws-node"}}}]}`
	for _, url := range []string{issuer, "https://" + issuer, issuer + "/", "https://" + issuer + "/"} {
		t.Run("issuer="+url, func(t *testing.T) {
			got, err := IRSATrust(providerArn, url, "kube-system", "aws-node")
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("IRSATrust =\n%s\nwant\n%s", got, want)
			}
			var doc Document
			if err := json.Unmarshal([]byte(got), &doc); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
		})
	}
}

func TestIRSAStatement(t *testing.T) {
	t.Run("valid", func(t *testing.T) {
		got, err := IRSAStatement(providerArn, "https://"+issuer+"/", "plinth-tracking", "mlflow")
		if err != nil {
			t.Fatal(err)
		}
		want := Statement{
			Effect:    "Allow",
			Principal: map[string]string{"Federated": providerArn},
			Action:    "sts:AssumeRoleWithWebIdentity",
			Condition: map[string]map[string]string{"StringEquals": {
				issuer + ":sub": "system:serviceaccount:plinth-tracking:mlflow",
				issuer + ":aud": "sts.amazonaws.com",
			}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("IRSAStatement =\n%+v\nwant\n%+v", got, want)
		}
	})
	bad := []struct {
		name                                 string
		providerArn, url, namespace, account string
		wantErr                              string
	}{
		{"empty provider", "", issuer, "ns", "sa", "empty OIDC provider ARN"},
		{"empty issuer", providerArn, "", "ns", "sa", "empty OIDC issuer URL"},
		{"scheme-only issuer", providerArn, "https://", "ns", "sa", "empty OIDC issuer URL"},
		{"slash-only issuer", providerArn, "https:///", "ns", "sa", "empty OIDC issuer URL"},
		{"empty namespace", providerArn, issuer, "", "sa", "empty service account namespace"},
		{"empty name", providerArn, issuer, "ns", "", "empty service account name"},
		{"wildcard provider", "arn:aws:iam::1:oidc-provider/*", issuer, "ns", "sa", "OIDC provider ARN"},
		{"wildcard issuer", providerArn, "oidc.eks.*.amazonaws.com/id/ABC", "ns", "sa", "OIDC issuer URL"},
		{"wildcard namespace", providerArn, issuer, "*", "sa", "service account namespace"},
		{"wildcard name", providerArn, issuer, "ns", "*", "service account name"},
		{"single-character wildcard name", providerArn, issuer, "ns", "s?", "service account name"},
		{"colon in namespace", providerArn, issuer, "ns:sa", "x", "service account namespace"},
		{"colon in name", providerArn, issuer, "ns", "sa:x", "service account name"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := IRSAStatement(tt.providerArn, tt.url, tt.namespace, tt.account); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one about %q", err, tt.wantErr)
			}
			if out, err := IRSATrust(tt.providerArn, tt.url, tt.namespace, tt.account); err == nil {
				t.Errorf("IRSATrust accepted it: %s", out)
			}
		})
	}
}
