// Package gpunodepool is the Plinth GPU node pool component: an EKS managed
// node group of GPU instances on the pinned AL2023 NVIDIA AMI, launched from
// a launch template that enforces IMDSv2 and an encrypted gp3 root volume,
// tagged so the cluster autoscaler finds it and can scale it from zero.
package gpunodepool

import (
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/blueprints/versions"
)

// Token is the Pulumi type token of the component.
const Token = "plinth:compute:GpuNodePool"

// Capacity types (GpuNodePoolArgs.CapacityType).
const (
	// CapacityOnDemand runs the pool on on-demand instances.
	CapacityOnDemand = "onDemand"
	// CapacitySpot runs the pool on spot instances.
	CapacitySpot = "spot"
)

// Limits the arguments are checked against.
const (
	// MinDiskSizeGiB is the smallest root volume accepted.
	MinDiskSizeGiB = 20
	// MaxDiskSizeGiB is the largest gp3 volume.
	MaxDiskSizeGiB = 16384
	// maxTags is the most tags an AWS resource takes.
	maxTags = 50
	// maxTagKey is the longest AWS tag key.
	maxTagKey = 128
)

// Cluster autoscaler tag keys.
const (
	autoscalerEnabled = "k8s.io/cluster-autoscaler/enabled"
	autoscalerPrefix  = "k8s.io/cluster-autoscaler/"
	nodeTemplate      = "k8s.io/cluster-autoscaler/node-template/"
)

// capacityTypes maps the blueprint capacity types to EKS's.
var capacityTypes = map[string]string{CapacityOnDemand: "ON_DEMAND", CapacitySpot: "SPOT"}

// taintEffects maps the Kubernetes taint effects to EKS's.
var taintEffects = map[string]string{
	"NoSchedule":       "NO_SCHEDULE",
	"PreferNoSchedule": "PREFER_NO_SCHEDULE",
	"NoExecute":        "NO_EXECUTE",
}

// Taint is a Kubernetes node taint.
type Taint struct {
	// Key is the taint key, e.g. nvidia.com/gpu.
	Key string
	// Value is the taint value (may be empty).
	Value string
	// Effect is the Kubernetes form: NoSchedule, PreferNoSchedule or NoExecute.
	Effect string
}

// GpuNodePoolArgs configure a GpuNodePool.
type GpuNodePoolArgs struct {
	// ClusterName is the EKS cluster the node group joins.
	ClusterName pulumi.StringInput
	// NodeRoleArn is the IAM role of the nodes.
	NodeRoleArn pulumi.StringInput
	// SubnetIDs are the (private) subnets the nodes run in.
	SubnetIDs pulumi.StringArrayInput
	// InstanceTypes are the GPU instance types, at least one.
	InstanceTypes []string
	// AMIType is the EKS AMI type, e.g. AL2023_x86_64_NVIDIA; use AMITypeFor.
	// The retired AL2 types are rejected.
	AMIType string
	// CapacityType is CapacityOnDemand or CapacitySpot.
	CapacityType string
	// MinSize is the fewest nodes (0 lets the autoscaler scale to zero);
	// the node group starts at this size.
	MinSize int
	// MaxSize is the most nodes, at least 1 and at least MinSize.
	MaxSize int
	// DiskSizeGiB is the size of each node's gp3 root volume (20 to 16384).
	DiskSizeGiB int
	// GPUsPerNode is the number of GPUs of one node (at least 1), told to
	// the cluster autoscaler so it can scale up from zero nodes.
	GPUsPerNode int
	// Labels are Kubernetes node labels.
	Labels map[string]string
	// Taints are Kubernetes node taints.
	Taints []Taint
	// Tags go on the node group, the launch template, and the instances and
	// volumes launched from it (already merged by the caller).
	Tags map[string]string
}

// GpuNodePool is an EKS managed node group of GPU instances.
type GpuNodePool struct {
	pulumi.ResourceState

	// NodeGroupName is the EKS node group name.
	NodeGroupName pulumi.StringOutput `pulumi:"nodeGroupName"`
	// NodeGroupArn is the EKS node group ARN.
	NodeGroupArn pulumi.StringOutput `pulumi:"nodeGroupArn"`
}

// AMITypeFor returns the AL2023 NVIDIA AMI type for the CPU architecture
// ("x86_64" or "arm64"), from the pinned versions; never the retired AL2
// types.
func AMITypeFor(arch string) (string, error) {
	t := versions.Get().EKS.AMITypes
	switch arch {
	case "x86_64":
		return t.GPU, nil
	case "arm64":
		return t.GPUArm, nil
	}
	return "", fmt.Errorf("no GPU AMI type for CPU architecture %q: want x86_64 or arm64", arch)
}

// NewGpuNodePool creates the launch template and the EKS managed node group
// described by args, as children of a plinth:compute:GpuNodePool component
// named name.
func NewGpuNodePool(ctx *pulumi.Context, name string, args *GpuNodePoolArgs, opts ...pulumi.ResourceOption) (*GpuNodePool, error) {
	if args == nil {
		return nil, fmt.Errorf("gpu node pool %s: args are required", name)
	}
	if err := validate(args); err != nil {
		return nil, fmt.Errorf("gpu node pool %s: %w", name, err)
	}

	c := &GpuNodePool{}
	if err := ctx.RegisterComponentResource(Token, name, c, opts...); err != nil {
		return nil, fmt.Errorf("gpu node pool %s: register component: %w", name, err)
	}
	parent := pulumi.Parent(c)

	instanceTags := tags(args.Tags, map[string]string{"Name": name})
	lt, err := ec2.NewLaunchTemplate(ctx, name+"-lt", &ec2.LaunchTemplateArgs{
		Description: pulumi.String("GPU node pool " + name),
		// IMDSv2 only; hop limit 2 so pods on the node network can reach it.
		MetadataOptions: &ec2.LaunchTemplateMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String("enabled"),
			HttpTokens:              pulumi.String("required"),
			HttpPutResponseHopLimit: pulumi.Int(2),
		},
		BlockDeviceMappings: ec2.LaunchTemplateBlockDeviceMappingArray{
			&ec2.LaunchTemplateBlockDeviceMappingArgs{
				// The root device of the AL2023 EKS AMIs.
				DeviceName: pulumi.String("/dev/xvda"),
				Ebs: &ec2.LaunchTemplateBlockDeviceMappingEbsArgs{
					VolumeType:          pulumi.String("gp3"),
					VolumeSize:          pulumi.Int(args.DiskSizeGiB),
					Encrypted:           pulumi.String("true"),
					DeleteOnTermination: pulumi.String("true"),
				},
			},
		},
		TagSpecifications: ec2.LaunchTemplateTagSpecificationArray{
			&ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String("instance"), Tags: instanceTags},
			&ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String("volume"), Tags: instanceTags},
		},
		UpdateDefaultVersion: pulumi.Bool(true),
		Tags:                 tags(args.Tags, map[string]string{"Name": name}),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("gpu node pool %s: create launch template: %w", name, err)
	}

	taints := eks.NodeGroupTaintArray{}
	for _, t := range args.Taints {
		taint := &eks.NodeGroupTaintArgs{Key: pulumi.String(t.Key), Effect: pulumi.String(taintEffects[t.Effect])}
		if t.Value != "" {
			taint.Value = pulumi.String(t.Value)
		}
		taints = append(taints, taint)
	}

	static := nodeGroupTags(args)
	groupTags := args.ClusterName.ToStringOutput().ApplyT(func(cluster string) map[string]string {
		m := maps.Clone(static)
		m[autoscalerPrefix+cluster] = "owned"
		return m
	}).(pulumi.StringMapOutput)

	ng, err := eks.NewNodeGroup(ctx, name, &eks.NodeGroupArgs{
		ClusterName:   args.ClusterName,
		NodeRoleArn:   args.NodeRoleArn,
		SubnetIds:     args.SubnetIDs,
		AmiType:       pulumi.String(args.AMIType),
		InstanceTypes: pulumi.ToStringArray(args.InstanceTypes),
		CapacityType:  pulumi.String(capacityTypes[args.CapacityType]),
		LaunchTemplate: &eks.NodeGroupLaunchTemplateArgs{
			Id:      lt.ID(),
			Version: lt.LatestVersion.ApplyT(strconv.Itoa).(pulumi.StringOutput),
		},
		ScalingConfig: &eks.NodeGroupScalingConfigArgs{
			MinSize:     pulumi.Int(args.MinSize),
			MaxSize:     pulumi.Int(args.MaxSize),
			DesiredSize: pulumi.Int(args.MinSize),
		},
		UpdateConfig: &eks.NodeGroupUpdateConfigArgs{MaxUnavailable: pulumi.Int(1)},
		Labels:       pulumi.ToStringMap(args.Labels),
		Taints:       taints,
		Tags:         groupTags,
	}, parent, pulumi.IgnoreChanges([]string{"scalingConfig.desiredSize"}))
	if err != nil {
		return nil, fmt.Errorf("gpu node pool %s: create node group: %w", name, err)
	}

	c.NodeGroupName = ng.NodeGroupName
	c.NodeGroupArn = ng.Arn
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"nodeGroupName": c.NodeGroupName,
		"nodeGroupArn":  c.NodeGroupArn,
	}); err != nil {
		return nil, fmt.Errorf("gpu node pool %s: register outputs: %w", name, err)
	}
	return c, nil
}

// nodeGroupTags are the node group's tags but the one naming the cluster:
// the caller's, a Name, and the cluster autoscaler's discovery and
// scale-from-zero node-template tags.
func nodeGroupTags(args *GpuNodePoolArgs) map[string]string {
	m := maps.Clone(args.Tags)
	if m == nil {
		m = map[string]string{}
	}
	m[autoscalerEnabled] = "true"
	for k, v := range args.Labels {
		m[nodeTemplate+"label/"+k] = v
	}
	for _, t := range args.Taints {
		m[nodeTemplate+"taint/"+t.Key] = t.Value + ":" + t.Effect
	}
	m[nodeTemplate+"resources/nvidia.com/gpu"] = strconv.Itoa(args.GPUsPerNode)
	return m
}

// validate checks args, so a mistake is reported before anything is created.
func validate(args *GpuNodePoolArgs) error {
	if args.ClusterName == nil || args.NodeRoleArn == nil || args.SubnetIDs == nil {
		return fmt.Errorf("ClusterName, NodeRoleArn and SubnetIDs are required")
	}
	if len(args.InstanceTypes) == 0 {
		return fmt.Errorf("at least one instance type is required")
	}
	for _, it := range args.InstanceTypes {
		if strings.TrimSpace(it) == "" {
			return fmt.Errorf("instance types must not be empty")
		}
	}
	switch {
	case args.AMIType == "":
		return fmt.Errorf("AMIType is required; use AMITypeFor")
	case strings.HasPrefix(args.AMIType, "AL2_"):
		gpu, _ := AMITypeFor("x86_64")
		return fmt.Errorf("AMI type %s is Amazon Linux 2, which EKS has retired; use an AL2023 type such as %s (AMITypeFor)", args.AMIType, gpu)
	}
	if _, ok := capacityTypes[args.CapacityType]; !ok {
		return fmt.Errorf("capacity type %q is not %s or %s", args.CapacityType, CapacityOnDemand, CapacitySpot)
	}
	if args.MinSize < 0 {
		return fmt.Errorf("MinSize %d is negative", args.MinSize)
	}
	if args.MaxSize < max(1, args.MinSize) {
		return fmt.Errorf("MaxSize %d must be at least 1 and at least MinSize (%d)", args.MaxSize, args.MinSize)
	}
	if args.DiskSizeGiB < MinDiskSizeGiB || args.DiskSizeGiB > MaxDiskSizeGiB {
		return fmt.Errorf("DiskSizeGiB %d must be %d to %d", args.DiskSizeGiB, MinDiskSizeGiB, MaxDiskSizeGiB)
	}
	if args.GPUsPerNode < 1 {
		return fmt.Errorf("GPUsPerNode %d must be at least 1 (the cluster autoscaler needs it to scale up from zero)", args.GPUsPerNode)
	}
	for k := range args.Labels {
		if k == "" {
			return fmt.Errorf("node label keys must not be empty")
		}
	}
	seen := map[string]bool{}
	for _, t := range args.Taints {
		if t.Key == "" {
			return fmt.Errorf("taint keys must not be empty")
		}
		if _, ok := taintEffects[t.Effect]; !ok {
			return fmt.Errorf("taint %s: effect %q is not NoSchedule, PreferNoSchedule or NoExecute", t.Key, t.Effect)
		}
		// One key, one taint: the autoscaler's node-template tag holds one
		// value:effect per key.
		if seen[t.Key] {
			return fmt.Errorf("taint %s is listed twice", t.Key)
		}
		seen[t.Key] = true
	}
	// The node group's tags: those known now plus the one naming the cluster.
	m := nodeGroupTags(args)
	if n := len(m) + 1; n > maxTags {
		return fmt.Errorf("the node group would carry %d tags (caller's, cluster autoscaler's for each label and taint), more than the %d AWS allows", n, maxTags)
	}
	for k := range m {
		if len(k) > maxTagKey {
			return fmt.Errorf("tag key %q is longer than the %d characters AWS allows (shorten the label or taint key)", k, maxTagKey)
		}
	}
	return nil
}

// tags merges tag maps, later ones winning, into a Pulumi input.
func tags(ms ...map[string]string) pulumi.StringMap {
	out := pulumi.StringMap{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = pulumi.String(v)
		}
	}
	return out
}
