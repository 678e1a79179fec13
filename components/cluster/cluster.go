// Package cluster is the Plinth EKS cluster component: an Amazon EKS control
// plane (private, public or both API endpoints) with envelope encryption of
// Kubernetes secrets, control-plane logging, an IAM OIDC provider for IAM
// roles for service accounts (IRSA), a system managed node group, the four
// core EKS add-ons at pinned versions, and a Kubernetes provider on the new
// cluster for the layer above.
//
// The component makes no data-source calls (invokes): every IAM policy is
// built in Go, so the whole graph can be planned offline.
package cluster

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/plinth-dev/plinth/components/iampolicy"
)

// TypeToken is the Pulumi type token of the component.
const TypeToken = "plinth:cluster:Cluster"

// Endpoint access modes accepted in ClusterArgs.EndpointAccess.
const (
	// EndpointPrivate serves the Kubernetes API only inside the VPC.
	EndpointPrivate = "private"
	// EndpointPublic serves the Kubernetes API only on the public endpoint.
	EndpointPublic = "public"
	// EndpointBoth serves the Kubernetes API inside the VPC and publicly.
	EndpointBoth = "both"
)

// Names of the core EKS add-ons the component installs.
const (
	// AddonVPCCNI is the Amazon VPC CNI plugin (pod networking), with its own IRSA role.
	AddonVPCCNI = "vpc-cni"
	// AddonKubeProxy is kube-proxy (Service networking on each node).
	AddonKubeProxy = "kube-proxy"
	// AddonCoreDNS is CoreDNS (cluster DNS).
	AddonCoreDNS = "coredns"
	// AddonEBSCSI is the Amazon EBS CSI driver (persistent volumes), with its own IRSA role.
	AddonEBSCSI = "aws-ebs-csi-driver"
)

// CoreAddons are the add-ons every cluster gets, in creation order; each
// needs a version in ClusterArgs.AddonVersions.
var CoreAddons = []string{AddonVPCCNI, AddonKubeProxy, AddonCoreDNS, AddonEBSCSI}

// DefaultLogTypes are the control-plane log types enabled when
// ClusterArgs.LogTypes is empty: all of them.
var DefaultLogTypes = []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}

// DefaultDiskSizeGiB is the system node root volume size when
// NodePoolArgs.DiskSizeGiB is 0.
const DefaultDiskSizeGiB = 50

// LogRetentionDays is how long control-plane logs are kept.
const LogRetentionDays = 90

// KMSDeletionWindowDays is the waiting period before the secrets key is
// deleted once scheduled for deletion (the KMS maximum).
const KMSDeletionWindowDays = 30

// PoolLabel is the Kubernetes node label naming a node's pool; the system
// pool's nodes carry PoolLabel=system.
const PoolLabel = "plinth.dev/pool"

// IAM audiences, AWS-managed policies, service accounts and fixed settings.
const (
	stsAudience = "sts.amazonaws.com"

	policyEKSCluster    = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
	policyWorkerNode    = "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"
	policyECRReadOnly   = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
	policySSMCore       = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
	policyCNI           = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
	policyEBSCSIDriver  = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
	serviceAcctPrefix   = "system:serviceaccount:"
	vpcCNIServiceAcct   = serviceAcctPrefix + "kube-system:aws-node"
	ebsCSIServiceAcct   = serviceAcctPrefix + "kube-system:ebs-csi-controller-sa"
	resolveOverwrite    = "OVERWRITE"
	authModeAPIAndCMap  = "API_AND_CONFIG_MAP"
	encryptedResources  = "secrets"
	rootDeviceName      = "/dev/xvda"
	rootVolumeType      = "gp3"
	imdsHopLimit        = 2
	nodeMaxUnavailable  = 1
	capacityOnDemand    = "ON_DEMAND"
	ignoreDesiredSize   = "scalingConfig.desiredSize"
	instanceTagResource = "instance"
	volumeTagResource   = "volume"
)

// NodePoolArgs sizes a managed node group.
type NodePoolArgs struct {
	// InstanceType is the EC2 instance type of the nodes, e.g. m6i.large.
	InstanceType string
	// Min is the minimum number of nodes (at least 1 for the system pool);
	// the node group starts at Min.
	Min int
	// Max is the maximum number of nodes (at least Min).
	Max int
	// DiskSizeGiB is the size of each node's encrypted gp3 root volume in
	// GiB; 0 means DefaultDiskSizeGiB.
	DiskSizeGiB int
}

// ClusterArgs configure a Cluster.
type ClusterArgs struct {
	// KubernetesVersion is the EKS Kubernetes version, "major.minor" (e.g. "1.34").
	KubernetesVersion string
	// EndpointAccess says where the Kubernetes API endpoint is reachable:
	// "private" (inside the VPC only), "public" (public only) or "both".
	EndpointAccess string
	// VpcID is the VPC that SubnetIDs belong to. It is required so that
	// callers hand over the network as a unit, but it is not sent to EKS:
	// EKS derives the VPC from the subnets and vpcConfig.vpcId is read-only.
	VpcID pulumi.StringInput
	// SubnetIDs are the private subnets (at least two Availability Zones)
	// that hold the control-plane network interfaces and the system nodes.
	SubnetIDs pulumi.StringArrayInput
	// SystemPool sizes the system managed node group.
	SystemPool NodePoolArgs
	// SystemAMIType is the EKS AMI type of the system node group, e.g.
	// AL2023_x86_64_STANDARD (from versions.Get().EKS.AMITypes.System).
	// The retired Amazon Linux 2 types (AL2_*) are rejected.
	SystemAMIType string
	// AddonVersions maps each core add-on name (vpc-cni, kube-proxy,
	// coredns, aws-ebs-csi-driver) to its pinned EKS add-on version (from
	// versions.Get().EKS.Addons[KubernetesVersion]). Every one is required.
	AddonVersions map[string]string
	// LogTypes are the control-plane log types sent to CloudWatch Logs; empty
	// means DefaultLogTypes (all five).
	LogTypes []string
	// Tags are applied to every taggable AWS resource (already merged by the
	// caller); the component adds a Name tag where useful.
	Tags map[string]string
}

// Cluster is an EKS cluster with its IAM, encryption, logging, OIDC
// provider, system node group and core add-ons.
type Cluster struct {
	pulumi.ResourceState

	// ClusterName is the EKS cluster name (the component's name).
	ClusterName pulumi.StringOutput `pulumi:"clusterName"`
	// Endpoint is the Kubernetes API server URL.
	Endpoint pulumi.StringOutput `pulumi:"endpoint"`
	// CertificateAuthority is the base64-encoded cluster CA certificate.
	CertificateAuthority pulumi.StringOutput `pulumi:"certificateAuthority"`
	// Kubeconfig is a kubeconfig (YAML) that authenticates with
	// `aws eks get-token`; it is a Pulumi secret whenever it has a value
	// (it is unknown, and unmarked, only in a preview before the cluster
	// exists).
	Kubeconfig pulumi.StringOutput `pulumi:"kubeconfig"`
	// OIDCProviderArn is the ARN of the cluster's IAM OIDC provider, the
	// federated principal of IRSA trust policies.
	OIDCProviderArn pulumi.StringOutput `pulumi:"oidcProviderArn"`
	// OIDCProviderURL is the cluster's OIDC issuer without https://, the
	// prefix of IRSA trust-policy condition keys (<url>:sub, <url>:aud).
	OIDCProviderURL pulumi.StringOutput `pulumi:"oidcProviderUrl"`
	// NodeRoleArn is the node IAM role, for other node groups (GPU pools) to reuse.
	NodeRoleArn pulumi.StringOutput `pulumi:"nodeRoleArn"`
	// ClusterSecurityGroupID is the security group EKS created for the
	// cluster (control plane to nodes).
	ClusterSecurityGroupID pulumi.StringOutput `pulumi:"clusterSecurityGroupId"`
	// Provider is a Kubernetes provider on this cluster, for the layer above;
	// it waits for the system nodes, CoreDNS and the EBS CSI driver.
	Provider *kubernetes.Provider
}

// clusterNameRE is the EKS cluster name rule: 1-100 characters, starting
// with a letter or digit, then letters, digits, hyphens and underscores.
var clusterNameRE = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$`)

// versionRE is a Kubernetes "major.minor" version.
var versionRE = regexp.MustCompile(`^[1-9][0-9]*\.(0|[1-9][0-9]*)$`)

// validate checks args and returns every problem at once.
func validate(name string, args *ClusterArgs) error {
	if args == nil {
		return errors.New("args are required")
	}
	var errs []error
	if !clusterNameRE.MatchString(name) {
		errs = append(errs, fmt.Errorf("name %q is not a valid EKS cluster name (1-100 letters, digits, '-' or '_', starting with a letter or digit)", name))
	}
	if !versionRE.MatchString(args.KubernetesVersion) {
		errs = append(errs, fmt.Errorf("kubernetesVersion %q is not of the form major.minor (e.g. 1.34)", args.KubernetesVersion))
	}
	if _, _, err := endpointFlags(args.EndpointAccess); err != nil {
		errs = append(errs, err)
	}
	if args.VpcID == nil {
		errs = append(errs, errors.New("vpcID is required"))
	}
	if args.SubnetIDs == nil {
		errs = append(errs, errors.New("subnetIDs are required"))
	}
	p := args.SystemPool
	if strings.TrimSpace(p.InstanceType) == "" {
		errs = append(errs, errors.New("systemPool.instanceType is required"))
	}
	if p.Min < 1 {
		errs = append(errs, fmt.Errorf("systemPool.min is %d; the system pool needs at least 1 node", p.Min))
	}
	if p.Max < p.Min {
		errs = append(errs, fmt.Errorf("systemPool.max (%d) is less than systemPool.min (%d)", p.Max, p.Min))
	}
	if p.DiskSizeGiB < 0 {
		errs = append(errs, fmt.Errorf("systemPool.diskSizeGiB is %d; it must be positive (or 0 for the default %d)", p.DiskSizeGiB, DefaultDiskSizeGiB))
	}
	switch ami := args.SystemAMIType; {
	case ami == "":
		errs = append(errs, errors.New("systemAMIType is required (e.g. AL2023_x86_64_STANDARD)"))
	case ami == "AL2" || strings.HasPrefix(ami, "AL2_"):
		errs = append(errs, fmt.Errorf("systemAMIType %q is an Amazon Linux 2 type, which EKS no longer supports; use an AL2023 or Bottlerocket type", ami))
	}
	for _, addon := range CoreAddons {
		if strings.TrimSpace(args.AddonVersions[addon]) == "" {
			errs = append(errs, fmt.Errorf("addonVersions has no version for %s", addon))
		}
	}
	for _, lt := range args.LogTypes {
		if !slices.Contains(DefaultLogTypes, lt) {
			errs = append(errs, fmt.Errorf("logTypes: unknown control-plane log type %q (known: %s)", lt, strings.Join(DefaultLogTypes, ", ")))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// endpointFlags maps an EndpointAccess mode to the private and public
// endpoint switches.
func endpointFlags(mode string) (private, public bool, err error) {
	switch mode {
	case EndpointPrivate:
		return true, false, nil
	case EndpointPublic:
		return false, true, nil
	case EndpointBoth:
		return true, true, nil
	}
	return false, false, fmt.Errorf("endpointAccess %q is not one of %s, %s, %s", mode, EndpointPrivate, EndpointPublic, EndpointBoth)
}

// NewCluster creates the EKS cluster and everything around it. The
// component's name is the EKS cluster name.
func NewCluster(ctx *pulumi.Context, name string, args *ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	if err := validate(name, args); err != nil {
		return nil, fmt.Errorf("cluster %q: invalid args: %w", name, err)
	}
	c := &Cluster{}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("cluster %q: register component: %w", name, err)
	}
	b := &builder{ctx: ctx, name: name, args: args, c: c}
	if err := b.build(); err != nil {
		return nil, fmt.Errorf("cluster %q: %w", name, err)
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"clusterName":            c.ClusterName,
		"endpoint":               c.Endpoint,
		"certificateAuthority":   c.CertificateAuthority,
		"kubeconfig":             c.Kubeconfig,
		"oidcProviderArn":        c.OIDCProviderArn,
		"oidcProviderUrl":        c.OIDCProviderURL,
		"nodeRoleArn":            c.NodeRoleArn,
		"clusterSecurityGroupId": c.ClusterSecurityGroupID,
	}); err != nil {
		return nil, fmt.Errorf("cluster %q: register outputs: %w", name, err)
	}
	return c, nil
}

// builder carries what the build steps share.
type builder struct {
	ctx  *pulumi.Context
	name string
	args *ClusterArgs
	c    *Cluster
}

// tags returns the caller's tags plus, when name is set, a Name tag.
func (b *builder) tags(name string) pulumi.StringMap {
	m := pulumi.StringMap{}
	for k, v := range b.args.Tags {
		m[k] = pulumi.String(v)
	}
	if name != "" {
		m["Name"] = pulumi.String(name)
	}
	return m
}

// opts returns the child resource options: parented to the component, plus extra.
func (b *builder) opts(extra ...pulumi.ResourceOption) []pulumi.ResourceOption {
	return append([]pulumi.ResourceOption{pulumi.Parent(b.c)}, extra...)
}

func (b *builder) build() error {
	args := b.args
	key, err := b.secretsKey()
	if err != nil {
		return err
	}
	clusterRole, clusterRoleDeps, err := b.clusterRole(key)
	if err != nil {
		return err
	}
	logGroup, err := cloudwatch.NewLogGroup(b.ctx, b.name+"-logs", &cloudwatch.LogGroupArgs{
		// EKS writes to this exact name; creating it first keeps it tagged,
		// retained for LogRetentionDays and owned by the stack.
		Name:            pulumi.String("/aws/eks/" + b.name + "/cluster"),
		RetentionInDays: pulumi.Int(LogRetentionDays),
		Tags:            b.tags(""),
	}, b.opts()...)
	if err != nil {
		return fmt.Errorf("control-plane log group: %w", err)
	}

	private, public, _ := endpointFlags(args.EndpointAccess) // validated
	logTypes := args.LogTypes
	if len(logTypes) == 0 {
		logTypes = DefaultLogTypes
	}
	cluster, err := eks.NewCluster(b.ctx, b.name+"-eks", &eks.ClusterArgs{
		Name:    pulumi.String(b.name),
		Version: pulumi.String(args.KubernetesVersion),
		RoleArn: clusterRole.Arn,
		VpcConfig: &eks.ClusterVpcConfigArgs{
			SubnetIds:             args.SubnetIDs,
			EndpointPrivateAccess: pulumi.Bool(private),
			EndpointPublicAccess:  pulumi.Bool(public),
		},
		EncryptionConfig: &eks.ClusterEncryptionConfigArgs{
			Provider:  &eks.ClusterEncryptionConfigProviderArgs{KeyArn: key.Arn},
			Resources: pulumi.StringArray{pulumi.String(encryptedResources)},
		},
		EnabledClusterLogTypes: pulumi.ToStringArray(logTypes),
		AccessConfig: &eks.ClusterAccessConfigArgs{
			AuthenticationMode:                      pulumi.String(authModeAPIAndCMap),
			BootstrapClusterCreatorAdminPermissions: pulumi.Bool(true),
		},
		Tags: b.tags(b.name),
	}, b.opts(pulumi.DependsOn(append([]pulumi.Resource{logGroup}, clusterRoleDeps...)))...)
	if err != nil {
		return fmt.Errorf("EKS cluster: %w", err)
	}

	issuer := cluster.Identities.ApplyT(func(ids []eks.ClusterIdentity) (string, error) {
		for _, id := range ids {
			for _, o := range id.Oidcs {
				if o.Issuer != nil && *o.Issuer != "" {
					return *o.Issuer, nil
				}
			}
		}
		return "", errors.New("the EKS cluster reports no OIDC issuer")
	}).(pulumi.StringOutput)
	oidcURL := issuer.ApplyT(func(s string) string { return strings.TrimPrefix(s, "https://") }).(pulumi.StringOutput)
	oidc, err := iam.NewOpenIdConnectProvider(b.ctx, b.name+"-oidc", &iam.OpenIdConnectProviderArgs{
		Url:           issuer,
		ClientIdLists: pulumi.StringArray{pulumi.String(stsAudience)},
		// No thumbprintLists: the thumbprint list is optional in IAM, which
		// fetches the issuer's CA thumbprint itself and verifies public
		// issuers such as EKS through its library of trusted root CAs; a
		// hard-coded thumbprint would only go stale.
		Tags: b.tags(b.name + "-oidc"),
	}, b.opts()...)
	if err != nil {
		return fmt.Errorf("OIDC provider: %w", err)
	}

	nodeRole, nodeRoleDeps, err := b.nodeRole()
	if err != nil {
		return err
	}
	cniRole, err := b.irsaRole("vpc-cni", vpcCNIServiceAcct, policyCNI, oidc.Arn, oidcURL)
	if err != nil {
		return err
	}
	ebsRole, err := b.irsaRole("ebs-csi", ebsCSIServiceAcct, policyEBSCSIDriver, oidc.Arn, oidcURL)
	if err != nil {
		return err
	}

	// The network add-ons are DaemonSets that go active without nodes; the
	// node group waits for them, so nodes join with the IRSA-backed CNI
	// (the node role deliberately lacks the CNI policy).
	cni, err := b.addon(AddonVPCCNI, cluster, cniRole.Arn)
	if err != nil {
		return err
	}
	kubeProxy, err := b.addon(AddonKubeProxy, cluster, nil)
	if err != nil {
		return err
	}
	nodeGroup, err := b.systemNodeGroup(cluster, nodeRole, append(nodeRoleDeps, cni, kubeProxy))
	if err != nil {
		return err
	}
	// CoreDNS and the EBS CSI controller are Deployments: they need nodes.
	coreDNS, err := b.addon(AddonCoreDNS, cluster, nil, pulumi.DependsOn([]pulumi.Resource{nodeGroup}))
	if err != nil {
		return err
	}
	ebsCSI, err := b.addon(AddonEBSCSI, cluster, ebsRole.Arn, pulumi.DependsOn([]pulumi.Resource{nodeGroup}))
	if err != nil {
		return err
	}

	region := config.Get(b.ctx, "aws:region")
	ca := cluster.CertificateAuthority.Data().Elem()
	// The kubeconfig is made secret inside the apply, i.e. as soon as it has
	// a value. While it is unknown (a preview before the cluster exists)
	// there is nothing to protect, and an unknown secret input cannot be
	// recorded by the SDK's mock monitor, which the offline planner runs on.
	kubeconfig := pulumi.All(cluster.Name, cluster.Endpoint, ca).ApplyT(func(v []any) (pulumi.StringOutput, error) {
		kc, err := kubeconfigYAML(v[0].(string), v[1].(string), v[2].(string), region)
		if err != nil {
			return pulumi.StringOutput{}, err
		}
		return pulumi.ToSecret(pulumi.String(kc)).(pulumi.StringOutput), nil
	}).(pulumi.StringOutput)
	// Whatever the layer above deploys through the provider waits for a
	// working cluster: nodes, DNS and storage.
	provider, err := kubernetes.NewProvider(b.ctx, b.name+"-k8s", &kubernetes.ProviderArgs{
		Kubeconfig: kubeconfig,
	}, b.opts(pulumi.DependsOn([]pulumi.Resource{nodeGroup, coreDNS, ebsCSI}))...)
	if err != nil {
		return fmt.Errorf("Kubernetes provider: %w", err)
	}

	c := b.c
	c.ClusterName = cluster.Name
	c.Endpoint = cluster.Endpoint
	c.CertificateAuthority = ca
	c.Kubeconfig = kubeconfig
	c.OIDCProviderArn = oidc.Arn
	c.OIDCProviderURL = oidcURL
	c.NodeRoleArn = nodeRole.Arn
	c.ClusterSecurityGroupID = cluster.VpcConfig.ClusterSecurityGroupId().Elem()
	c.Provider = provider
	return nil
}

// secretsKey creates the customer-managed KMS key (and its alias) for
// envelope encryption of Kubernetes secrets.
func (b *builder) secretsKey() (*kms.Key, error) {
	key, err := kms.NewKey(b.ctx, b.name+"-secrets-key", &kms.KeyArgs{
		Description:          pulumi.String("EKS envelope encryption of Kubernetes secrets for cluster " + b.name),
		EnableKeyRotation:    pulumi.Bool(true),
		DeletionWindowInDays: pulumi.Int(KMSDeletionWindowDays),
		Tags:                 b.tags(b.name + "-secrets"),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("secrets KMS key: %w", err)
	}
	if _, err := kms.NewAlias(b.ctx, b.name+"-secrets-key-alias", &kms.AliasArgs{
		Name:        pulumi.String("alias/" + b.name + "-eks-secrets"),
		TargetKeyId: key.KeyId,
	}, b.opts()...); err != nil {
		return nil, fmt.Errorf("secrets KMS key alias: %w", err)
	}
	return key, nil
}

// clusterRole creates the EKS cluster IAM role with AmazonEKSClusterPolicy
// and use of the secrets key. It returns the role and the attachments the
// cluster must wait for.
func (b *builder) clusterRole(key *kms.Key) (*iam.Role, []pulumi.Resource, error) {
	trust, err := iampolicy.ServiceTrust("eks.amazonaws.com")
	if err != nil {
		return nil, nil, fmt.Errorf("cluster role trust policy: %w", err)
	}
	role, err := iam.NewRole(b.ctx, b.name+"-cluster-role", &iam.RoleArgs{
		Description:      pulumi.String("EKS control plane of cluster " + b.name),
		AssumeRolePolicy: pulumi.String(trust),
		Tags:             b.tags(""),
	}, b.opts()...)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster role: %w", err)
	}
	attach, err := iam.NewRolePolicyAttachment(b.ctx, b.name+"-cluster-role-eks", &iam.RolePolicyAttachmentArgs{
		Role:      role.Name,
		PolicyArn: pulumi.String(policyEKSCluster),
	}, b.opts()...)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster role policy: %w", err)
	}
	kmsPolicy := key.Arn.ApplyT(func(arn string) (string, error) {
		return iampolicy.New(iampolicy.Statement{
			Effect:   "Allow",
			Action:   []string{"kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"},
			Resource: arn,
		}).JSON()
	}).(pulumi.StringOutput)
	inline, err := iam.NewRolePolicy(b.ctx, b.name+"-cluster-role-kms", &iam.RolePolicyArgs{
		Role:   role.Name,
		Policy: kmsPolicy,
	}, b.opts()...)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster role KMS policy: %w", err)
	}
	return role, []pulumi.Resource{attach, inline}, nil
}

// nodeRole creates the node IAM role. It has no CNI policy: vpc-cni gets
// its own IRSA role. It returns the role and its policy attachments.
func (b *builder) nodeRole() (*iam.Role, []pulumi.Resource, error) {
	trust, err := iampolicy.ServiceTrust("ec2.amazonaws.com")
	if err != nil {
		return nil, nil, fmt.Errorf("node role trust policy: %w", err)
	}
	role, err := iam.NewRole(b.ctx, b.name+"-node-role", &iam.RoleArgs{
		Description:      pulumi.String("EKS nodes of cluster " + b.name),
		AssumeRolePolicy: pulumi.String(trust),
		Tags:             b.tags(""),
	}, b.opts()...)
	if err != nil {
		return nil, nil, fmt.Errorf("node role: %w", err)
	}
	var deps []pulumi.Resource
	for _, p := range []struct{ suffix, arn string }{
		{"worker", policyWorkerNode},
		{"ecr", policyECRReadOnly},
		{"ssm", policySSMCore},
	} {
		suffix, arn := p.suffix, p.arn
		a, err := iam.NewRolePolicyAttachment(b.ctx, b.name+"-node-role-"+suffix, &iam.RolePolicyAttachmentArgs{
			Role:      role.Name,
			PolicyArn: pulumi.String(arn),
		}, b.opts()...)
		if err != nil {
			return nil, nil, fmt.Errorf("node role policy %s: %w", arn, err)
		}
		deps = append(deps, a)
	}
	return role, deps, nil
}

// irsaTrust is the trust policy letting exactly serviceAccount
// ("system:serviceaccount:<namespace>:<name>") of the cluster whose OIDC
// issuer is oidcURL assume a role through the IAM OIDC provider oidcArn.
func irsaTrust(oidcArn, oidcURL, serviceAccount string) (string, error) {
	namespace, name, ok := strings.Cut(strings.TrimPrefix(serviceAccount, serviceAcctPrefix), ":")
	if !ok || !strings.HasPrefix(serviceAccount, serviceAcctPrefix) {
		return "", fmt.Errorf("%q is not a %s<namespace>:<name> service account", serviceAccount, serviceAcctPrefix)
	}
	return iampolicy.IRSATrust(oidcArn, oidcURL, namespace, name)
}

// irsaRole creates an IAM role that only the given Kubernetes service
// account of this cluster can assume (IRSA), with one managed policy.
func (b *builder) irsaRole(short, serviceAccount, policyArn string, oidcArn, oidcURL pulumi.StringOutput) (*iam.Role, error) {
	trust := pulumi.All(oidcArn, oidcURL).ApplyT(func(v []any) (string, error) {
		return irsaTrust(v[0].(string), v[1].(string), serviceAccount)
	}).(pulumi.StringOutput)
	role, err := iam.NewRole(b.ctx, b.name+"-"+short+"-irsa", &iam.RoleArgs{
		Description:      pulumi.String("IRSA role of " + serviceAccount + " in cluster " + b.name),
		AssumeRolePolicy: trust,
		Tags:             b.tags(""),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("%s IRSA role: %w", short, err)
	}
	if _, err := iam.NewRolePolicyAttachment(b.ctx, b.name+"-"+short+"-irsa-policy", &iam.RolePolicyAttachmentArgs{
		Role:      role.Name,
		PolicyArn: pulumi.String(policyArn),
	}, b.opts()...); err != nil {
		return nil, fmt.Errorf("%s IRSA role policy: %w", short, err)
	}
	return role, nil
}

// systemNodeGroup creates the system managed node group and its launch
// template (IMDSv2 only, hop limit 2, encrypted gp3 root volume).
func (b *builder) systemNodeGroup(cluster *eks.Cluster, nodeRole *iam.Role, deps []pulumi.Resource) (*eks.NodeGroup, error) {
	pool := b.args.SystemPool
	disk := pool.DiskSizeGiB
	if disk == 0 {
		disk = DefaultDiskSizeGiB
	}
	nodeName := b.name + "-system"
	lt, err := ec2.NewLaunchTemplate(b.ctx, b.name+"-system-lt", &ec2.LaunchTemplateArgs{
		Description:          pulumi.String("System nodes of EKS cluster " + b.name),
		UpdateDefaultVersion: pulumi.Bool(true),
		MetadataOptions: &ec2.LaunchTemplateMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String("enabled"),
			HttpTokens:              pulumi.String("required"),
			HttpPutResponseHopLimit: pulumi.Int(imdsHopLimit),
		},
		BlockDeviceMappings: ec2.LaunchTemplateBlockDeviceMappingArray{
			&ec2.LaunchTemplateBlockDeviceMappingArgs{
				DeviceName: pulumi.String(rootDeviceName),
				Ebs: &ec2.LaunchTemplateBlockDeviceMappingEbsArgs{
					VolumeSize:          pulumi.Int(disk),
					VolumeType:          pulumi.String(rootVolumeType),
					Encrypted:           pulumi.String("true"),
					DeleteOnTermination: pulumi.String("true"),
				},
			},
		},
		TagSpecifications: ec2.LaunchTemplateTagSpecificationArray{
			&ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String(instanceTagResource), Tags: b.tags(nodeName)},
			&ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String(volumeTagResource), Tags: b.tags(nodeName)},
		},
		Tags: b.tags(nodeName),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("system launch template: %w", err)
	}
	ng, err := eks.NewNodeGroup(b.ctx, b.name+"-system", &eks.NodeGroupArgs{
		ClusterName:   cluster.Name,
		NodeRoleArn:   nodeRole.Arn,
		SubnetIds:     b.args.SubnetIDs,
		AmiType:       pulumi.String(b.args.SystemAMIType),
		CapacityType:  pulumi.String(capacityOnDemand),
		InstanceTypes: pulumi.StringArray{pulumi.String(pool.InstanceType)},
		ScalingConfig: &eks.NodeGroupScalingConfigArgs{
			DesiredSize: pulumi.Int(pool.Min),
			MinSize:     pulumi.Int(pool.Min),
			MaxSize:     pulumi.Int(pool.Max),
		},
		UpdateConfig: &eks.NodeGroupUpdateConfigArgs{MaxUnavailable: pulumi.Int(nodeMaxUnavailable)},
		LaunchTemplate: &eks.NodeGroupLaunchTemplateArgs{
			Id:      lt.ID(),
			Version: lt.LatestVersion.ApplyT(func(v int) string { return fmt.Sprint(v) }).(pulumi.StringOutput),
		},
		Labels: pulumi.StringMap{PoolLabel: pulumi.String("system")},
		Tags:   b.tags(nodeName),
	}, b.opts(
		// An autoscaler owns the node count between min and max.
		pulumi.IgnoreChanges([]string{ignoreDesiredSize}),
		pulumi.DependsOn(deps),
	)...)
	if err != nil {
		return nil, fmt.Errorf("system node group: %w", err)
	}
	return ng, nil
}

// addon installs one core EKS add-on at its pinned version; roleArn, when
// not nil, is the IRSA role of its service account.
func (b *builder) addon(name string, cluster *eks.Cluster, roleArn pulumi.StringInput, extra ...pulumi.ResourceOption) (*eks.Addon, error) {
	a := &eks.AddonArgs{
		ClusterName:              cluster.Name,
		AddonName:                pulumi.String(name),
		AddonVersion:             pulumi.String(b.args.AddonVersions[name]),
		ResolveConflictsOnCreate: pulumi.String(resolveOverwrite),
		ResolveConflictsOnUpdate: pulumi.String(resolveOverwrite),
		Tags:                     b.tags(""),
	}
	if roleArn != nil {
		a.ServiceAccountRoleArn = roleArn
	}
	addon, err := eks.NewAddon(b.ctx, b.name+"-"+name, a, b.opts(extra...)...)
	if err != nil {
		return nil, fmt.Errorf("add-on %s: %w", name, err)
	}
	return addon, nil
}
