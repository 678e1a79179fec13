package cluster

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/blueprints/versions"
	"github.com/plinth-dev/plinth/stacks/plan"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"go.yaml.in/yaml/v3"
)

// Type tokens, from the SDK sources.
const (
	tCluster    = "aws:eks/cluster:Cluster"
	tNodeGroup  = "aws:eks/nodeGroup:NodeGroup"
	tAddon      = "aws:eks/addon:Addon"
	tKey        = "aws:kms/key:Key"
	tAlias      = "aws:kms/alias:Alias"
	tRole       = "aws:iam/role:Role"
	tAttachment = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
	tRolePolicy = "aws:iam/rolePolicy:RolePolicy"
	tOIDC       = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
	tLogGroup   = "aws:cloudwatch/logGroup:LogGroup"
	tLaunchTmpl = "aws:ec2/launchTemplate:LaunchTemplate"
	tK8sProv    = "pulumi:providers:kubernetes"
)

// validArgs returns a valid ClusterArgs; tests change what they need.
func validArgs() *ClusterArgs {
	return &ClusterArgs{
		KubernetesVersion: "1.34",
		EndpointAccess:    EndpointPrivate,
		VpcID:             pulumi.String("vpc-0123"),
		SubnetIDs:         pulumi.ToStringArray([]string{"subnet-a", "subnet-b", "subnet-c"}),
		SystemPool:        NodePoolArgs{InstanceType: "m6i.large", Min: 2, Max: 4},
		SystemAMIType:     "AL2023_x86_64_STANDARD",
		AddonVersions: map[string]string{
			AddonVPCCNI:    "v1.22.4-eksbuild.3",
			AddonKubeProxy: "v1.34.6-eksbuild.13",
			AddonCoreDNS:   "v1.13.2-eksbuild.11",
			AddonEBSCSI:    "v1.66.0-eksbuild.1",
		},
		Tags: map[string]string{"owner": "ml-platform", "cost-center": "4711"},
	}
}

// planCluster plans a cluster named "t" offline and fails the test on error.
func planCluster(t *testing.T, args *ClusterArgs) *plan.Graph {
	t.Helper()
	g, err := plan.Run(func(ctx *pulumi.Context) error {
		_, err := NewCluster(ctx, "t", args)
		return err
	}, plan.Options{Config: map[string]string{"aws:region": "eu-west-1"}})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return g
}

// one returns the single resource of a type, failing otherwise.
func one(t *testing.T, g *plan.Graph, token string) *plan.Resource {
	t.Helper()
	rs := g.ByType(token)
	if len(rs) != 1 {
		t.Fatalf("want 1 %s, got %d", token, len(rs))
	}
	return rs[0]
}

// find returns the resource of a type and name, failing when absent.
func find(t *testing.T, g *plan.Graph, token, name string) *plan.Resource {
	t.Helper()
	r := g.Find(token, name)
	if r == nil {
		t.Fatalf("no %s named %s", token, name)
	}
	return r
}

// at walks rendered inputs along a path of map keys and slice indexes.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func strs(v any) []string {
	s, _ := v.([]any)
	out := make([]string, 0, len(s))
	for _, e := range s {
		str, _ := e.(string)
		out = append(out, str)
	}
	return out
}

func TestComponentShape(t *testing.T) {
	g := planCluster(t, validArgs())
	comp := one(t, g, TypeToken)
	if comp.Custom {
		t.Fatalf("%s must be a component", TypeToken)
	}
	for _, r := range g.Resources {
		if r == comp {
			continue
		}
		if r.Parent != comp.URN {
			t.Errorf("%s %s: parent %q, want the component", r.Type, r.Name, r.Parent)
		}
		if !strings.HasPrefix(r.Name, "t-") {
			t.Errorf("%s %s: child names must start with the component name", r.Type, r.Name)
		}
	}
	if n := len(g.Invokes); n != 0 {
		t.Errorf("the component must make no invokes, made %v", g.Invokes)
	}
	if c := find(t, g, tCluster, "t-eks"); c.Inputs["name"] != "t" {
		t.Errorf("EKS cluster name = %v, want the component name", c.Inputs["name"])
	}
}

func TestEndpointAccess(t *testing.T) {
	tests := []struct {
		mode            string
		private, public bool
	}{
		{EndpointPrivate, true, false},
		{EndpointPublic, false, true},
		{EndpointBoth, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			args := validArgs()
			args.EndpointAccess = tt.mode
			vpc := one(t, planCluster(t, args), tCluster).Inputs["vpcConfig"]
			if got := at(vpc, "endpointPrivateAccess"); got != tt.private {
				t.Errorf("endpointPrivateAccess = %v, want %v", got, tt.private)
			}
			if got := at(vpc, "endpointPublicAccess"); got != tt.public {
				t.Errorf("endpointPublicAccess = %v, want %v", got, tt.public)
			}
			if got := strs(at(vpc, "subnetIds")); !slices.Equal(got, []string{"subnet-a", "subnet-b", "subnet-c"}) {
				t.Errorf("subnetIds = %v", got)
			}
		})
	}
}

func TestSecretsEncryptionAndAccess(t *testing.T) {
	g := planCluster(t, validArgs())
	key := one(t, g, tKey)
	if key.Inputs["enableKeyRotation"] != true {
		t.Errorf("KMS key rotation = %v, want true", key.Inputs["enableKeyRotation"])
	}
	if key.Inputs["deletionWindowInDays"] != float64(KMSDeletionWindowDays) {
		t.Errorf("deletion window = %v", key.Inputs["deletionWindowInDays"])
	}
	if alias := one(t, g, tAlias); alias.Inputs["name"] != "alias/t-eks-secrets" {
		t.Errorf("alias = %v", alias.Inputs["name"])
	}
	c := one(t, g, tCluster)
	enc := c.Inputs["encryptionConfig"]
	if got := strs(at(enc, "resources")); !slices.Equal(got, []string{"secrets"}) {
		t.Errorf("encryptionConfig.resources = %v, want [secrets]", got)
	}
	// The key ARN is only known after apply; TestUpdateWiring checks it is
	// this key's ARN.
	if got := at(enc, "provider", "keyArn"); got != plan.Unknown {
		t.Errorf("encryptionConfig.provider.keyArn = %v, want the key's (unknown) ARN", got)
	}
	if got := at(c.Inputs["accessConfig"], "authenticationMode"); got != "API_AND_CONFIG_MAP" {
		t.Errorf("authenticationMode = %v", got)
	}
	if got := at(c.Inputs["accessConfig"], "bootstrapClusterCreatorAdminPermissions"); got != true {
		t.Errorf("bootstrapClusterCreatorAdminPermissions = %v", got)
	}
	if c.Inputs["version"] != "1.34" {
		t.Errorf("version = %v", c.Inputs["version"])
	}
}

func TestLogTypes(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"default: all five", nil, DefaultLogTypes},
		{"explicit subset", []string{"api", "audit"}, []string{"api", "audit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := validArgs()
			args.LogTypes = tt.in
			g := planCluster(t, args)
			if got := strs(one(t, g, tCluster).Inputs["enabledClusterLogTypes"]); !slices.Equal(got, tt.want) {
				t.Errorf("enabledClusterLogTypes = %v, want %v", got, tt.want)
			}
			lg := one(t, g, tLogGroup)
			if lg.Inputs["name"] != "/aws/eks/t/cluster" || lg.Inputs["retentionInDays"] != float64(LogRetentionDays) {
				t.Errorf("log group = %v, retention %v", lg.Inputs["name"], lg.Inputs["retentionInDays"])
			}
		})
	}
}

func TestOIDCProvider(t *testing.T) {
	oidc := one(t, planCluster(t, validArgs()), tOIDC)
	if got := strs(oidc.Inputs["clientIdLists"]); !slices.Equal(got, []string{"sts.amazonaws.com"}) {
		t.Errorf("clientIdLists = %v", got)
	}
	if _, ok := oidc.Inputs["thumbprintLists"]; ok {
		t.Errorf("thumbprintLists set; it is left to IAM")
	}
	if oidc.Inputs["url"] != plan.Unknown {
		t.Errorf("url = %v, want the cluster's (unknown) issuer", oidc.Inputs["url"])
	}
}

func TestAddonVersionsPinned(t *testing.T) {
	other := validArgs()
	other.AddonVersions = map[string]string{
		AddonVPCCNI: "v1.20.4-eksbuild.1", AddonKubeProxy: "v1.33.10-eksbuild.13",
		AddonCoreDNS: "v1.12.4-eksbuild.18", AddonEBSCSI: "v1.60.0-eksbuild.1",
	}
	for name, args := range map[string]*ClusterArgs{"pins A": validArgs(), "pins B": other} {
		t.Run(name, func(t *testing.T) {
			g := planCluster(t, args)
			addons := g.ByType(tAddon)
			if len(addons) != len(CoreAddons) {
				t.Fatalf("want %d add-ons, got %d", len(CoreAddons), len(addons))
			}
			for _, a := range addons {
				n, _ := a.Inputs["addonName"].(string)
				if a.Inputs["addonVersion"] != args.AddonVersions[n] {
					t.Errorf("%s version = %v, want %s", n, a.Inputs["addonVersion"], args.AddonVersions[n])
				}
				if a.Inputs["resolveConflictsOnCreate"] != "OVERWRITE" {
					t.Errorf("%s resolveConflictsOnCreate = %v", n, a.Inputs["resolveConflictsOnCreate"])
				}
				if a.Inputs["clusterName"] != "t" {
					t.Errorf("%s clusterName = %v", n, a.Inputs["clusterName"])
				}
				_, hasRole := a.Inputs["serviceAccountRoleArn"]
				if wantRole := n == AddonVPCCNI || n == AddonEBSCSI; hasRole != wantRole {
					t.Errorf("%s serviceAccountRoleArn set = %v, want %v", n, hasRole, wantRole)
				}
			}
		})
	}
}

func TestSystemNodeGroup(t *testing.T) {
	tests := []struct {
		name               string
		pool               NodePoolArgs
		ami                string
		wantDisk, min, max float64
	}{
		{"default disk", NodePoolArgs{InstanceType: "m6i.large", Min: 2, Max: 4}, "AL2023_x86_64_STANDARD", DefaultDiskSizeGiB, 2, 4},
		{"sized disk, arm", NodePoolArgs{InstanceType: "m7g.xlarge", Min: 1, Max: 1, DiskSizeGiB: 120}, "AL2023_ARM_64_STANDARD", 120, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := validArgs()
			args.SystemPool, args.SystemAMIType = tt.pool, tt.ami
			g := planCluster(t, args)
			lt := one(t, g, tLaunchTmpl)
			md := lt.Inputs["metadataOptions"]
			if at(md, "httpTokens") != "required" || at(md, "httpPutResponseHopLimit") != float64(2) || at(md, "httpEndpoint") != "enabled" {
				t.Errorf("metadataOptions = %v, want IMDSv2 required with hop limit 2", md)
			}
			ebs := at(lt.Inputs["blockDeviceMappings"], 0, "ebs")
			if at(ebs, "encrypted") != "true" || at(ebs, "volumeType") != "gp3" || at(ebs, "volumeSize") != tt.wantDisk {
				t.Errorf("root volume = %v, want encrypted gp3 of %v GiB", ebs, tt.wantDisk)
			}
			if _, ok := lt.Inputs["imageId"]; ok {
				t.Errorf("launch template sets an AMI; the node group's amiType must choose it")
			}
			ng := one(t, g, tNodeGroup)
			if !slices.Contains(ng.IgnoreChanges, "scalingConfig.desiredSize") {
				t.Errorf("ignoreChanges = %v, want scalingConfig.desiredSize", ng.IgnoreChanges)
			}
			sc := ng.Inputs["scalingConfig"]
			if at(sc, "minSize") != tt.min || at(sc, "maxSize") != tt.max || at(sc, "desiredSize") != tt.min {
				t.Errorf("scalingConfig = %v", sc)
			}
			if ng.Inputs["amiType"] != tt.ami {
				t.Errorf("amiType = %v, want %s", ng.Inputs["amiType"], tt.ami)
			}
			if got := strs(ng.Inputs["instanceTypes"]); !slices.Equal(got, []string{tt.pool.InstanceType}) {
				t.Errorf("instanceTypes = %v", got)
			}
			if at(ng.Inputs["labels"], PoolLabel) != "system" {
				t.Errorf("labels = %v", ng.Inputs["labels"])
			}
			if _, ok := ng.Inputs["diskSize"]; ok {
				t.Errorf("diskSize set on the node group; it conflicts with the launch template")
			}
		})
	}
}

// nonTaggable are the resource types that take no tags.
var nonTaggable = map[string]bool{
	TypeToken: true, tAlias: true, tAttachment: true, tRolePolicy: true, tK8sProv: true,
}

func TestEveryTaggableResourceIsTagged(t *testing.T) {
	other := validArgs()
	other.Tags = map[string]string{"owner": "search", "environment": "prod"}
	for name, args := range map[string]*ClusterArgs{"tags A": validArgs(), "tags B": other} {
		t.Run(name, func(t *testing.T) {
			g := planCluster(t, args)
			seen := map[string]bool{}
			for _, r := range g.Resources {
				if nonTaggable[r.Type] {
					continue
				}
				seen[r.Type] = true
				tags, ok := r.Inputs["tags"].(map[string]any)
				if !ok {
					t.Errorf("%s %s has no tags", r.Type, r.Name)
					continue
				}
				for k, v := range args.Tags {
					if tags[k] != v {
						t.Errorf("%s %s: tag %s = %v, want %s", r.Type, r.Name, k, tags[k], v)
					}
				}
			}
			for _, want := range []string{tKey, tRole, tLogGroup, tCluster, tOIDC, tLaunchTmpl, tNodeGroup, tAddon} {
				if !seen[want] {
					t.Errorf("no %s checked", want)
				}
			}
			// Instances and volumes launched from the template carry them too.
			specs, _ := at(one(t, g, tLaunchTmpl).Inputs, "tagSpecifications").([]any)
			if len(specs) != 2 {
				t.Errorf("launch template tagSpecifications = %v, want instance and volume", specs)
			}
			for _, spec := range specs {
				for k, v := range args.Tags {
					if at(spec, "tags", k) != v {
						t.Errorf("tagSpecification %v: tag %s missing", at(spec, "resourceType"), k)
					}
				}
			}
		})
	}
}

func TestKubeconfigNeverPlainInPreview(t *testing.T) {
	g := planCluster(t, validArgs())
	p := one(t, g, tK8sProv)
	// Before the cluster exists the kubeconfig has no value yet (and so
	// nothing to hide); TestUpdateWiring checks it is a secret once known.
	if got := p.Inputs["kubeconfig"]; got != plan.Unknown && got != plan.Secret {
		t.Errorf("provider kubeconfig = %v, want it unknown or secret", got)
	}
}

func TestBadArgs(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(a *ClusterArgs)
		want   string
	}{
		{"unknown endpoint access", func(a *ClusterArgs) { a.EndpointAccess = "internal" }, `endpointAccess "internal"`},
		{"empty endpoint access", func(a *ClusterArgs) { a.EndpointAccess = "" }, "endpointAccess"},
		{"patch version", func(a *ClusterArgs) { a.KubernetesVersion = "1.34.2" }, "major.minor"},
		{"v prefix", func(a *ClusterArgs) { a.KubernetesVersion = "v1.34" }, "major.minor"},
		{"missing coredns", func(a *ClusterArgs) { delete(a.AddonVersions, AddonCoreDNS) }, "no version for coredns"},
		{"empty ebs csi", func(a *ClusterArgs) { a.AddonVersions[AddonEBSCSI] = "" }, "no version for aws-ebs-csi-driver"},
		{"no add-ons", func(a *ClusterArgs) { a.AddonVersions = nil }, "no version for vpc-cni"},
		{"min zero", func(a *ClusterArgs) { a.SystemPool.Min = 0 }, "at least 1 node"},
		{"max below min", func(a *ClusterArgs) { a.SystemPool.Max = 1 }, "less than systemPool.min"},
		{"negative disk", func(a *ClusterArgs) { a.SystemPool.DiskSizeGiB = -1 }, "diskSizeGiB"},
		{"no instance type", func(a *ClusterArgs) { a.SystemPool.InstanceType = "" }, "instanceType is required"},
		{"AL2 AMI", func(a *ClusterArgs) { a.SystemAMIType = "AL2_x86_64" }, "Amazon Linux 2"},
		{"AL2 GPU AMI", func(a *ClusterArgs) { a.SystemAMIType = "AL2_x86_64_GPU" }, "Amazon Linux 2"},
		{"no AMI", func(a *ClusterArgs) { a.SystemAMIType = "" }, "systemAMIType is required"},
		{"unknown log type", func(a *ClusterArgs) { a.LogTypes = []string{"api", "kubelet"} }, `unknown control-plane log type "kubelet"`},
		{"no VPC", func(a *ClusterArgs) { a.VpcID = nil }, "vpcID is required"},
		{"no subnets", func(a *ClusterArgs) { a.SubnetIDs = nil }, "subnetIDs are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := validArgs()
			tt.mutate(args)
			g, err := plan.Run(func(ctx *pulumi.Context) error {
				_, err := NewCluster(ctx, "t", args)
				return err
			}, plan.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error containing %q, got %v", tt.want, err)
			}
			if len(g.Resources) != 0 {
				t.Errorf("invalid args registered %d resources", len(g.Resources))
			}
		})
	}
	t.Run("nil args", func(t *testing.T) {
		_, err := plan.Run(func(ctx *pulumi.Context) error {
			_, err := NewCluster(ctx, "t", nil)
			return err
		}, plan.Options{})
		if err == nil || !strings.Contains(err.Error(), "args are required") {
			t.Fatalf("want an args error, got %v", err)
		}
	})
	t.Run("bad cluster name", func(t *testing.T) {
		_, err := plan.Run(func(ctx *pulumi.Context) error {
			_, err := NewCluster(ctx, "-bad.name", validArgs())
			return err
		}, plan.Options{})
		if err == nil || !strings.Contains(err.Error(), "not a valid EKS cluster name") {
			t.Fatalf("want a name error, got %v", err)
		}
	})
	t.Run("all problems at once", func(t *testing.T) {
		args := validArgs()
		args.EndpointAccess, args.KubernetesVersion = "x", "latest"
		err := validate("t", args)
		if err == nil || !strings.Contains(err.Error(), "endpointAccess") || !strings.Contains(err.Error(), "major.minor") {
			t.Fatalf("want both problems reported, got %v", err)
		}
	})
}

// trustDocument decodes the trust policies the component renders.
type trustDocument struct {
	Statement []struct {
		Effect    string
		Principal map[string]string
		Action    any
		Condition map[string]map[string]string
	}
}

func TestIRSATrust(t *testing.T) {
	const arn = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
	const url = "oidc.eks.eu-west-1.amazonaws.com/id/ABC"
	for _, sa := range []string{vpcCNIServiceAcct, ebsCSIServiceAcct} {
		t.Run(sa, func(t *testing.T) {
			doc, err := irsaTrust(arn, url, sa)
			if err != nil {
				t.Fatal(err)
			}
			var p trustDocument
			if err := json.Unmarshal([]byte(doc), &p); err != nil {
				t.Fatal(err)
			}
			if len(p.Statement) != 1 {
				t.Fatalf("want one statement, got %d", len(p.Statement))
			}
			s := p.Statement[0]
			if s.Principal["Federated"] != arn || s.Action != "sts:AssumeRoleWithWebIdentity" {
				t.Errorf("statement = %+v", s)
			}
			want := map[string]string{url + ":sub": sa, url + ":aud": "sts.amazonaws.com"}
			if !maps.Equal(s.Condition["StringEquals"], want) || len(s.Condition) != 1 {
				t.Errorf("condition = %v, want StringEquals %v", s.Condition, want)
			}
		})
	}
}

func TestKubeconfigYAML(t *testing.T) {
	tests := []struct {
		region   string
		wantArgs []string
	}{
		{"", []string{"eks", "get-token", "--cluster-name", "prod", "--output", "json"}},
		{"eu-west-1", []string{"eks", "get-token", "--cluster-name", "prod", "--output", "json", "--region", "eu-west-1"}},
	}
	for _, tt := range tests {
		t.Run("region="+tt.region, func(t *testing.T) {
			out, err := kubeconfigYAML("prod", "https://ABC.gr7.eu-west-1.eks.amazonaws.com", "Q0E=", tt.region)
			if err != nil {
				t.Fatal(err)
			}
			var kc kubeconfig
			if err := yaml.Unmarshal([]byte(out), &kc); err != nil {
				t.Fatalf("kubeconfig is not YAML: %v\n%s", err, out)
			}
			if kc.CurrentContext != "prod" || len(kc.Clusters) != 1 || kc.Clusters[0].Cluster.Server != "https://ABC.gr7.eu-west-1.eks.amazonaws.com" ||
				kc.Clusters[0].Cluster.CertificateAuthorityData != "Q0E=" {
				t.Errorf("kubeconfig = %+v", kc)
			}
			ex := kc.Users[0].User.Exec
			if ex.Command != "aws" || !reflect.DeepEqual(ex.Args, tt.wantArgs) || ex.APIVersion != "client.authentication.k8s.io/v1beta1" {
				t.Errorf("exec = %+v, want aws %v", ex, tt.wantArgs)
			}
		})
	}
}

// The pins shipped in blueprints/versions must satisfy the component for
// every supported Kubernetes version.
func TestShippedPinsPlan(t *testing.T) {
	pins := versions.Get()
	for _, k := range pins.Kubernetes.Supported {
		t.Run(k, func(t *testing.T) {
			args := validArgs()
			args.KubernetesVersion = k
			args.SystemAMIType = pins.EKS.AMITypes.System
			args.AddonVersions = pins.EKS.Addons[k]
			g := planCluster(t, args)
			for _, a := range g.ByType(tAddon) {
				v, _ := a.Inputs["addonVersion"].(string)
				if !strings.HasPrefix(v, "v") || !strings.Contains(v, "-eksbuild.") {
					t.Errorf("%v: pinned version %q is not an EKS add-on version", a.Inputs["addonName"], v)
				}
				if a.Inputs["addonName"] == AddonKubeProxy && !strings.HasPrefix(v, "v"+k+".") {
					t.Errorf("kube-proxy %s does not match Kubernetes %s", v, k)
				}
			}
		})
	}
}
