package cluster

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The offline planner runs a preview, where every cloud-computed value
// (ARNs, the OIDC issuer, the endpoint) is unknown. The tests here run the
// program as an update under mocks that answer those values, so that the
// wiring between resources (which role, which key, which issuer) and the
// secrecy of the kubeconfig can be checked on concrete values.

const (
	fakeIssuer   = "https://oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF"
	fakeIssuerNo = "oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF"
	fakeEndpoint = "https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com"
	fakeCA       = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"
	fakeAccount  = "111122223333"
)

// recorded is one resource registered during an update run.
type recorded struct {
	typ, name string
	inputs    resource.PropertyMap
	deps      []string // URNs
}

// upMocks answers resources with their inputs plus fake cloud outputs.
type upMocks struct {
	mu  sync.Mutex
	res []*recorded
}

func (m *upMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	rec := &recorded{typ: args.TypeToken, name: args.Name, inputs: args.Inputs}
	if rpc := args.RegisterRPC; rpc != nil {
		rec.deps = rpc.GetDependencies()
	}
	m.mu.Lock()
	m.res = append(m.res, rec)
	m.mu.Unlock()

	state := args.Inputs.Copy()
	set := func(k string, v any) { state[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	id := args.Name + "-id"
	switch args.TypeToken {
	case tKey:
		set("arn", "arn:aws:kms:eu-west-1:"+fakeAccount+":key/"+id)
		set("keyId", id)
	case tRole:
		set("name", args.Name+"-name")
		set("arn", "arn:aws:iam::"+fakeAccount+":role/"+args.Name+"-name")
	case tOIDC:
		set("arn", "arn:aws:iam::"+fakeAccount+":oidc-provider/"+fakeIssuerNo)
	case tLaunchTmpl:
		set("latestVersion", 3)
	case tCluster:
		set("arn", "arn:aws:eks:eu-west-1:"+fakeAccount+":cluster/"+args.Name)
		set("endpoint", fakeEndpoint)
		set("certificateAuthority", map[string]any{"data": fakeCA})
		set("identities", []any{map[string]any{"oidcs": []any{map[string]any{"issuer": fakeIssuer}}}})
		vpc := args.Inputs["vpcConfig"].ObjectValue().Copy()
		vpc["clusterSecurityGroupId"] = resource.NewPropertyValue("sg-cluster")
		state["vpcConfig"] = resource.NewObjectProperty(vpc)
	}
	return id, state, nil
}

func (m *upMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, nil
}

func (m *upMocks) find(t *testing.T, typ, name string) *recorded {
	t.Helper()
	for _, r := range m.res {
		if r.typ == typ && r.name == name {
			return r
		}
	}
	t.Fatalf("no %s named %s", typ, name)
	return nil
}

// dependsOn reports whether r lists the resource named name among its dependencies.
func (r *recorded) dependsOn(name string) bool {
	return slices.ContainsFunc(r.deps, func(urn string) bool { return strings.HasSuffix(urn, "::"+name) })
}

// str returns a string input (unwrapping a secret).
func (r *recorded) str(key string) string {
	v := r.inputs[resource.PropertyKey(key)]
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsString() {
		return ""
	}
	return v.StringValue()
}

// outputs are the component outputs resolved in an update run.
type outputs struct {
	mu     sync.Mutex
	values map[string]string
	secret map[string]bool
}

// runUpdate runs NewCluster as an update under upMocks.
func runUpdate(t *testing.T, args *ClusterArgs) (*upMocks, *outputs) {
	t.Helper()
	m := &upMocks{}
	out := &outputs{values: map[string]string{}, secret: map[string]bool{}}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		c, err := NewCluster(ctx, "t", args)
		if err != nil {
			return err
		}
		for k, o := range map[string]pulumi.StringOutput{
			"clusterName": c.ClusterName, "endpoint": c.Endpoint, "certificateAuthority": c.CertificateAuthority,
			"kubeconfig": c.Kubeconfig, "oidcProviderArn": c.OIDCProviderArn, "oidcProviderUrl": c.OIDCProviderURL,
			"nodeRoleArn": c.NodeRoleArn, "clusterSecurityGroupId": c.ClusterSecurityGroupID,
		} {
			out.mu.Lock()
			out.secret[k] = pulumi.IsSecret(o)
			out.mu.Unlock()
			o.ApplyT(func(s string) string {
				out.mu.Lock()
				out.values[k] = s
				out.mu.Unlock()
				return s
			})
		}
		return nil
	}, pulumi.WithMocks("plinth", "up", m), func(info *pulumi.RunInfo) {
		info.Config = map[string]string{"aws:region": "eu-west-1"}
	})
	if err != nil {
		t.Fatalf("update run: %v", err)
	}
	return m, out
}

func TestUpdateWiring(t *testing.T) {
	m, out := runUpdate(t, validArgs())

	t.Run("secrets encrypted with the component's key", func(t *testing.T) {
		c := m.find(t, tCluster, "t-eks")
		enc := c.inputs["encryptionConfig"].ObjectValue()
		arn := enc["provider"].ObjectValue()["keyArn"].StringValue()
		if want := "arn:aws:kms:eu-west-1:" + fakeAccount + ":key/t-secrets-key-id"; arn != want {
			t.Errorf("keyArn = %s, want %s", arn, want)
		}
		if !c.dependsOn("t-logs") {
			t.Errorf("the cluster must be created after its log group")
		}
		kms := m.find(t, tRolePolicy, "t-cluster-role-kms")
		if kms.str("role") != "t-cluster-role-name" || !strings.Contains(kms.str("policy"), "t-secrets-key-id") {
			t.Errorf("cluster role KMS policy = %s on %s", kms.str("policy"), kms.str("role"))
		}
	})

	t.Run("OIDC provider from the cluster issuer", func(t *testing.T) {
		if got := m.find(t, tOIDC, "t-oidc").str("url"); got != fakeIssuer {
			t.Errorf("OIDC url = %s", got)
		}
		if out.values["oidcProviderUrl"] != fakeIssuerNo {
			t.Errorf("oidcProviderUrl = %s, want the issuer without https://", out.values["oidcProviderUrl"])
		}
	})

	t.Run("node role without the CNI policy; vpc-cni IRSA with it", func(t *testing.T) {
		policies := map[string][]string{} // role name → policy ARNs
		for _, r := range m.res {
			if r.typ == tAttachment {
				policies[r.str("role")] = append(policies[r.str("role")], r.str("policyArn"))
			}
		}
		node := policies["t-node-role-name"]
		for _, want := range []string{policyWorkerNode, policyECRReadOnly, policySSMCore} {
			if !slices.Contains(node, want) {
				t.Errorf("node role lacks %s (has %v)", want, node)
			}
		}
		if slices.Contains(node, policyCNI) {
			t.Errorf("node role has the CNI policy; vpc-cni must use IRSA")
		}
		if cni := policies["t-vpc-cni-irsa-name"]; !slices.Equal(cni, []string{policyCNI}) {
			t.Errorf("vpc-cni IRSA role policies = %v, want only %s", cni, policyCNI)
		}
		if ebs := policies["t-ebs-csi-irsa-name"]; !slices.Equal(ebs, []string{policyEBSCSIDriver}) {
			t.Errorf("EBS CSI IRSA role policies = %v", ebs)
		}
		if out.values["nodeRoleArn"] != "arn:aws:iam::"+fakeAccount+":role/t-node-role-name" {
			t.Errorf("nodeRoleArn = %s", out.values["nodeRoleArn"])
		}
	})

	t.Run("IRSA trust: one service account each", func(t *testing.T) {
		for role, sa := range map[string]string{"t-vpc-cni-irsa": "system:serviceaccount:kube-system:aws-node", "t-ebs-csi-irsa": "system:serviceaccount:kube-system:ebs-csi-controller-sa"} {
			var p trustDocument
			if err := json.Unmarshal([]byte(m.find(t, tRole, role).str("assumeRolePolicy")), &p); err != nil {
				t.Fatalf("%s trust policy: %v", role, err)
			}
			if len(p.Statement) != 1 {
				t.Fatalf("%s: want one statement", role)
			}
			s := p.Statement[0]
			cond := s.Condition["StringEquals"]
			if s.Principal["Federated"] != "arn:aws:iam::"+fakeAccount+":oidc-provider/"+fakeIssuerNo ||
				cond[fakeIssuerNo+":sub"] != sa || cond[fakeIssuerNo+":aud"] != "sts.amazonaws.com" || len(cond) != 2 {
				t.Errorf("%s trust = %+v, want only %s", role, s, sa)
			}
		}
		addonRole := func(name string) string { return m.find(t, tAddon, name).str("serviceAccountRoleArn") }
		if got := addonRole("t-vpc-cni"); !strings.HasSuffix(got, ":role/t-vpc-cni-irsa-name") {
			t.Errorf("vpc-cni serviceAccountRoleArn = %s", got)
		}
		if got := addonRole("t-aws-ebs-csi-driver"); !strings.HasSuffix(got, ":role/t-ebs-csi-irsa-name") {
			t.Errorf("ebs-csi serviceAccountRoleArn = %s", got)
		}
	})

	t.Run("ordering of node group and add-ons", func(t *testing.T) {
		ng := m.find(t, tNodeGroup, "t-system")
		for _, dep := range []string{"t-vpc-cni", "t-kube-proxy", "t-node-role-worker"} {
			if !ng.dependsOn(dep) {
				t.Errorf("node group does not wait for %s", dep)
			}
		}
		for _, a := range []string{"t-coredns", "t-aws-ebs-csi-driver"} {
			if !m.find(t, tAddon, a).dependsOn("t-system") {
				t.Errorf("%s is not created after the node group", a)
			}
		}
		for _, a := range []string{"t-vpc-cni", "t-kube-proxy"} {
			if m.find(t, tAddon, a).dependsOn("t-system") {
				t.Errorf("%s must not wait for the node group", a)
			}
		}
		lt := ng.inputs["launchTemplate"].ObjectValue()
		if lt["id"].StringValue() != "t-system-lt-id" || lt["version"].StringValue() != "3" {
			t.Errorf("node group launch template = %v", lt)
		}
	})

	t.Run("kubeconfig is a secret", func(t *testing.T) {
		p := m.find(t, tK8sProv, "t-k8s")
		if !p.inputs["kubeconfig"].IsSecret() {
			t.Fatalf("provider kubeconfig is not a secret")
		}
		kc := p.str("kubeconfig")
		for _, want := range []string{fakeEndpoint, fakeCA, "get-token", "--cluster-name\n", "- t\n", "--region"} {
			if !strings.Contains(kc, want) {
				t.Errorf("kubeconfig lacks %q:\n%s", want, kc)
			}
		}
		if !out.secret["kubeconfig"] || out.values["kubeconfig"] != kc {
			t.Errorf("Kubeconfig output: secret %v, same as the provider's %v", out.secret["kubeconfig"], out.values["kubeconfig"] == kc)
		}
		for _, dep := range []string{"t-system", "t-coredns", "t-aws-ebs-csi-driver"} {
			if !p.dependsOn(dep) {
				t.Errorf("provider does not wait for %s", dep)
			}
		}
	})

	t.Run("outputs", func(t *testing.T) {
		want := map[string]string{
			"clusterName": "t", "endpoint": fakeEndpoint, "certificateAuthority": fakeCA,
			"clusterSecurityGroupId": "sg-cluster", "oidcProviderArn": "arn:aws:iam::" + fakeAccount + ":oidc-provider/" + fakeIssuerNo,
		}
		for k, v := range want {
			if out.values[k] != v {
				t.Errorf("%s = %q, want %q", k, out.values[k], v)
			}
		}
	})
}
