// Package network is the Plinth network component: a VPC spread over two
// to six availability zones, with one public and one private subnet per AZ
// carved deterministically from the VPC range, an internet gateway, NAT
// gateways (none, one, or one per AZ) and, optionally, VPC flow logs to
// CloudWatch Logs. It can also sit on an existing network instead, creating
// nothing.
package network

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/components/iampolicy"
)

// Token is the Pulumi type token of the component.
const Token = "plinth:network:Network"

// NAT gateway modes (NetworkArgs.NATGateways).
const (
	// NATNone creates no NAT gateway: private subnets have no route to the internet.
	NATNone = "none"
	// NATSingle creates one NAT gateway, in the first AZ, shared by every private subnet.
	NATSingle = "single"
	// NATPerAZ creates one NAT gateway per AZ, each private subnet using its own AZ's.
	NATPerAZ = "perAz"
)

// DefaultFlowLogRetentionDays is the flow log retention when FlowLogRetentionDays is 0.
const DefaultFlowLogRetentionDays = 90

// flowLogRetentions are the retention periods CloudWatch Logs accepts.
var flowLogRetentions = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// NetworkArgs configure a Network.
type NetworkArgs struct {
	// CIDR is the VPC IPv4 range, a /16 to /24 network address (10.0.0.0/16);
	// the subnets are carved from it with Carve.
	CIDR string
	// AvailabilityZones are explicit AZ names (2 to 6, no duplicates). When
	// empty, AZCount AZs are taken from the region's available AZs that need
	// no opt-in, in name order.
	AvailabilityZones []string
	// AZCount is the number of AZs (2 to 6), used when AvailabilityZones is
	// empty; when both are set they must agree.
	AZCount int
	// NATGateways is NATNone, NATSingle or NATPerAZ.
	NATGateways string
	// FlowLogs turns on VPC flow logs (all traffic) to a CloudWatch Logs
	// group, delivered through an IAM role that may write to that group only.
	FlowLogs bool
	// FlowLogRetentionDays is how long flow logs are kept, one of the
	// periods CloudWatch Logs accepts (default DefaultFlowLogRetentionDays).
	FlowLogRetentionDays int
	// ClusterName is the EKS cluster that uses the subnets: they get the
	// tag kubernetes.io/cluster/<ClusterName>=shared. Empty adds no such tag.
	ClusterName string
	// Tags go on every resource that takes tags (already merged by the
	// caller: blueprint tags, labels, plinth:environment).
	Tags map[string]string
	// Existing, when set, makes the Network sit on an existing network: it
	// creates no resource and its outputs are these ids. Every other field
	// but AvailabilityZones (passed through to the output) is then ignored.
	Existing *ExistingNetwork
}

// ExistingNetwork is a network Plinth does not create (ids given in the
// blueprint or read from Terraform outputs).
type ExistingNetwork struct {
	// VpcID is the VPC id (vpc-...).
	VpcID string
	// PrivateSubnetIDs are the private subnets (subnet-...), at least one.
	PrivateSubnetIDs []string
	// PublicSubnetIDs are the public subnets (subnet-...), possibly none.
	PublicSubnetIDs []string
}

// Network is a VPC with public and private subnets per AZ, or an existing
// network.
type Network struct {
	pulumi.ResourceState

	// VpcID is the VPC id.
	VpcID pulumi.StringOutput `pulumi:"vpcId"`
	// PrivateSubnetIDs are the private subnet ids, one per AZ in AZ order.
	PrivateSubnetIDs pulumi.StringArrayOutput `pulumi:"privateSubnetIds"`
	// PublicSubnetIDs are the public subnet ids, one per AZ in AZ order.
	PublicSubnetIDs pulumi.StringArrayOutput `pulumi:"publicSubnetIds"`
	// AvailabilityZones are the AZ names the subnets are in (for an existing
	// network: NetworkArgs.AvailabilityZones as given, possibly empty).
	AvailabilityZones pulumi.StringArrayOutput `pulumi:"availabilityZones"`
}

// NewNetwork creates the network described by args (or adopts the existing
// one), as children of a plinth:network:Network component named name.
func NewNetwork(ctx *pulumi.Context, name string, args *NetworkArgs, opts ...pulumi.ResourceOption) (*Network, error) {
	if args == nil {
		return nil, fmt.Errorf("network %s: args are required", name)
	}
	if args.Existing != nil {
		if err := validateExisting(args.Existing); err != nil {
			return nil, fmt.Errorf("network %s: %w", name, err)
		}
	} else if err := validate(args); err != nil {
		return nil, fmt.Errorf("network %s: %w", name, err)
	}

	c := &Network{}
	if err := ctx.RegisterComponentResource(Token, name, c, opts...); err != nil {
		return nil, fmt.Errorf("network %s: register component: %w", name, err)
	}

	if ex := args.Existing; ex != nil {
		c.VpcID = pulumi.String(ex.VpcID).ToStringOutput()
		c.PrivateSubnetIDs = pulumi.ToStringArray(ex.PrivateSubnetIDs).ToStringArrayOutput()
		c.PublicSubnetIDs = pulumi.ToStringArray(orEmpty(ex.PublicSubnetIDs)).ToStringArrayOutput()
		c.AvailabilityZones = pulumi.ToStringArray(orEmpty(args.AvailabilityZones)).ToStringArrayOutput()
		return c, registerOutputs(ctx, name, c)
	}

	azs, err := availabilityZones(ctx, c, args)
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", name, err)
	}
	private, public, err := Carve(args.CIDR, len(azs))
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", name, err)
	}
	parent := pulumi.Parent(c)

	vpc, err := ec2.NewVpc(ctx, name+"-vpc", &ec2.VpcArgs{
		CidrBlock:          pulumi.String(args.CIDR),
		EnableDnsSupport:   pulumi.Bool(true),
		EnableDnsHostnames: pulumi.Bool(true),
		Tags:               tags(args.Tags, map[string]string{"Name": name}),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("network %s: create VPC: %w", name, err)
	}

	igw, err := ec2.NewInternetGateway(ctx, name+"-igw", &ec2.InternetGatewayArgs{
		VpcId: vpc.ID(),
		Tags:  tags(args.Tags, map[string]string{"Name": name}),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("network %s: create internet gateway: %w", name, err)
	}

	// Subnets, one public and one private per AZ.
	var clusterTag map[string]string
	if args.ClusterName != "" {
		clusterTag = map[string]string{"kubernetes.io/cluster/" + args.ClusterName: "shared"}
	}
	publicSubnets := make([]*ec2.Subnet, len(azs))
	privateSubnets := make([]*ec2.Subnet, len(azs))
	publicIDs := make(pulumi.StringArray, len(azs))
	privateIDs := make(pulumi.StringArray, len(azs))
	for i, az := range azs {
		pub, err := ec2.NewSubnet(ctx, name+"-public-"+az, &ec2.SubnetArgs{
			VpcId:               vpc.ID(),
			AvailabilityZone:    pulumi.String(az),
			CidrBlock:           pulumi.String(public[i].String()),
			MapPublicIpOnLaunch: pulumi.Bool(false),
			Tags: tags(args.Tags, clusterTag, map[string]string{
				"Name":                   name + "-public-" + az,
				"kubernetes.io/role/elb": "1",
			}),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("network %s: create public subnet in %s: %w", name, az, err)
		}
		priv, err := ec2.NewSubnet(ctx, name+"-private-"+az, &ec2.SubnetArgs{
			VpcId:               vpc.ID(),
			AvailabilityZone:    pulumi.String(az),
			CidrBlock:           pulumi.String(private[i].String()),
			MapPublicIpOnLaunch: pulumi.Bool(false),
			Tags: tags(args.Tags, clusterTag, map[string]string{
				"Name":                            name + "-private-" + az,
				"kubernetes.io/role/internal-elb": "1",
			}),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("network %s: create private subnet in %s: %w", name, az, err)
		}
		publicSubnets[i], privateSubnets[i] = pub, priv
		publicIDs[i], privateIDs[i] = pub.ID().ToStringOutput(), priv.ID().ToStringOutput()
	}

	// Public routing: one route table, default route to the internet gateway.
	publicRT, err := ec2.NewRouteTable(ctx, name+"-public", &ec2.RouteTableArgs{
		VpcId: vpc.ID(),
		Tags:  tags(args.Tags, map[string]string{"Name": name + "-public"}),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("network %s: create public route table: %w", name, err)
	}
	if _, err := ec2.NewRoute(ctx, name+"-public-default", &ec2.RouteArgs{
		RouteTableId:         publicRT.ID(),
		DestinationCidrBlock: pulumi.String("0.0.0.0/0"),
		GatewayId:            igw.ID(),
	}, parent); err != nil {
		return nil, fmt.Errorf("network %s: create public default route: %w", name, err)
	}
	for i, az := range azs {
		if _, err := ec2.NewRouteTableAssociation(ctx, name+"-public-"+az, &ec2.RouteTableAssociationArgs{
			RouteTableId: publicRT.ID(),
			SubnetId:     publicSubnets[i].ID(),
		}, parent); err != nil {
			return nil, fmt.Errorf("network %s: associate public subnet in %s: %w", name, az, err)
		}
	}

	// NAT gateways, each with an Elastic IP, in public subnets.
	var nats []*ec2.NatGateway
	natCount := map[string]int{NATNone: 0, NATSingle: 1, NATPerAZ: len(azs)}[args.NATGateways]
	for i, az := range azs[:natCount] {
		eip, err := ec2.NewEip(ctx, name+"-nat-"+az, &ec2.EipArgs{
			Domain: pulumi.String("vpc"),
			Tags:   tags(args.Tags, map[string]string{"Name": name + "-nat-" + az}),
		}, parent, pulumi.DependsOn([]pulumi.Resource{igw}))
		if err != nil {
			return nil, fmt.Errorf("network %s: create NAT Elastic IP in %s: %w", name, az, err)
		}
		nat, err := ec2.NewNatGateway(ctx, name+"-nat-"+az, &ec2.NatGatewayArgs{
			AllocationId: eip.AllocationId,
			SubnetId:     publicSubnets[i].ID(),
			Tags:         tags(args.Tags, map[string]string{"Name": name + "-nat-" + az}),
		}, parent, pulumi.DependsOn([]pulumi.Resource{igw}))
		if err != nil {
			return nil, fmt.Errorf("network %s: create NAT gateway in %s: %w", name, az, err)
		}
		nats = append(nats, nat)
	}

	// Private routing: one route table per AZ, default route to a NAT gateway
	// (its own AZ's with perAz, the only one with single, none without NAT).
	for i, az := range azs {
		rt, err := ec2.NewRouteTable(ctx, name+"-private-"+az, &ec2.RouteTableArgs{
			VpcId: vpc.ID(),
			Tags:  tags(args.Tags, map[string]string{"Name": name + "-private-" + az}),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("network %s: create private route table in %s: %w", name, az, err)
		}
		if len(nats) > 0 {
			nat := nats[min(i, len(nats)-1)]
			if _, err := ec2.NewRoute(ctx, name+"-private-default-"+az, &ec2.RouteArgs{
				RouteTableId:         rt.ID(),
				DestinationCidrBlock: pulumi.String("0.0.0.0/0"),
				NatGatewayId:         nat.ID(),
			}, parent); err != nil {
				return nil, fmt.Errorf("network %s: create private default route in %s: %w", name, az, err)
			}
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, name+"-private-"+az, &ec2.RouteTableAssociationArgs{
			RouteTableId: rt.ID(),
			SubnetId:     privateSubnets[i].ID(),
		}, parent); err != nil {
			return nil, fmt.Errorf("network %s: associate private subnet in %s: %w", name, az, err)
		}
	}

	if args.FlowLogs {
		if err := flowLogs(ctx, name, vpc, args, parent); err != nil {
			return nil, fmt.Errorf("network %s: %w", name, err)
		}
	}

	c.VpcID = vpc.ID().ToStringOutput()
	c.PrivateSubnetIDs = privateIDs.ToStringArrayOutput()
	c.PublicSubnetIDs = publicIDs.ToStringArrayOutput()
	c.AvailabilityZones = pulumi.ToStringArray(azs).ToStringArrayOutput()
	return c, registerOutputs(ctx, name, c)
}

func registerOutputs(ctx *pulumi.Context, name string, c *Network) error {
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"vpcId":             c.VpcID,
		"privateSubnetIds":  c.PrivateSubnetIDs,
		"publicSubnetIds":   c.PublicSubnetIDs,
		"availabilityZones": c.AvailabilityZones,
	}); err != nil {
		return fmt.Errorf("network %s: register outputs: %w", name, err)
	}
	return nil
}

// validate checks the args of a network Plinth creates.
func validate(args *NetworkArgs) error {
	n := args.AZCount
	if len(args.AvailabilityZones) > 0 {
		if args.AZCount != 0 && args.AZCount != len(args.AvailabilityZones) {
			return fmt.Errorf("AZCount %d does not match the %d availability zones listed", args.AZCount, len(args.AvailabilityZones))
		}
		seen := map[string]bool{}
		for _, az := range args.AvailabilityZones {
			if strings.TrimSpace(az) == "" {
				return fmt.Errorf("availability zone names must not be empty")
			}
			if seen[az] {
				return fmt.Errorf("availability zone %s is listed twice", az)
			}
			seen[az] = true
		}
		n = len(args.AvailabilityZones)
	}
	if n < MinAZs || n > MaxAZs {
		return fmt.Errorf("a network spans %d to %d availability zones, not %d", MinAZs, MaxAZs, n)
	}
	// Carve validates the CIDR against the AZ count.
	if _, _, err := Carve(args.CIDR, n); err != nil {
		return err
	}
	switch args.NATGateways {
	case NATNone, NATSingle, NATPerAZ:
	default:
		return fmt.Errorf("NATGateways %q is not one of %s, %s, %s", args.NATGateways, NATNone, NATSingle, NATPerAZ)
	}
	if args.FlowLogRetentionDays != 0 && !slices.Contains(flowLogRetentions, args.FlowLogRetentionDays) {
		return fmt.Errorf("FlowLogRetentionDays %d is not a CloudWatch Logs retention period (one of %v)", args.FlowLogRetentionDays, flowLogRetentions)
	}
	if strings.ContainsAny(args.ClusterName, " /") {
		return fmt.Errorf("ClusterName %q is not a valid EKS cluster name", args.ClusterName)
	}
	return nil
}

// validateExisting checks the ids of an existing network.
func validateExisting(ex *ExistingNetwork) error {
	if !strings.HasPrefix(ex.VpcID, "vpc-") {
		return fmt.Errorf("existing network: VpcID %q is not a VPC id (vpc-...)", ex.VpcID)
	}
	if len(ex.PrivateSubnetIDs) == 0 {
		return fmt.Errorf("existing network: at least one private subnet id is required")
	}
	seen := map[string]bool{}
	for _, id := range slices.Concat(ex.PrivateSubnetIDs, ex.PublicSubnetIDs) {
		if !strings.HasPrefix(id, "subnet-") {
			return fmt.Errorf("existing network: %q is not a subnet id (subnet-...)", id)
		}
		if seen[id] {
			return fmt.Errorf("existing network: subnet %s is listed twice", id)
		}
		seen[id] = true
	}
	return nil
}

// availabilityZones returns the AZs to use: the explicit ones, or the first
// AZCount available AZs of the region that need no opt-in, in name order.
func availabilityZones(ctx *pulumi.Context, c *Network, args *NetworkArgs) ([]string, error) {
	if len(args.AvailabilityZones) > 0 {
		return slices.Clone(args.AvailabilityZones), nil
	}
	res, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{
		State: pulumi.StringRef("available"),
		Filters: []aws.GetAvailabilityZonesFilter{
			{Name: "opt-in-status", Values: []string{"opt-in-not-required"}},
		},
	}, pulumi.Parent(c))
	if err != nil {
		return nil, fmt.Errorf("look up availability zones: %w", err)
	}
	names := slices.Clone(res.Names)
	sort.Strings(names)
	if len(names) < args.AZCount {
		return nil, fmt.Errorf("%d availability zones asked for, but the region has only %d available without opt-in (%s)", args.AZCount, len(names), strings.Join(names, ", "))
	}
	return names[:args.AZCount], nil
}

// flowLogs sends the VPC's flow logs to a new log group, through a role the
// flow logs service assumes and that may write to that group only.
func flowLogs(ctx *pulumi.Context, name string, vpc *ec2.Vpc, args *NetworkArgs, parent pulumi.ResourceOption) error {
	retention := args.FlowLogRetentionDays
	if retention == 0 {
		retention = DefaultFlowLogRetentionDays
	}
	group, err := cloudwatch.NewLogGroup(ctx, name+"-flow-logs", &cloudwatch.LogGroupArgs{
		RetentionInDays: pulumi.Int(retention),
		Tags:            tags(args.Tags, map[string]string{"Name": name + "-flow-logs"}),
	}, parent)
	if err != nil {
		return fmt.Errorf("create flow log group: %w", err)
	}
	role, err := iam.NewRole(ctx, name+"-flow-logs", &iam.RoleArgs{
		Description:      pulumi.String("Delivers the VPC flow logs of network " + name + " to CloudWatch Logs"),
		AssumeRolePolicy: group.Arn.ApplyT(flowLogTrustPolicy).(pulumi.StringOutput),
		Tags:             tags(args.Tags, map[string]string{"Name": name + "-flow-logs"}),
	}, parent)
	if err != nil {
		return fmt.Errorf("create flow log role: %w", err)
	}
	policy, err := iam.NewRolePolicy(ctx, name+"-flow-logs", &iam.RolePolicyArgs{
		Role:   role.Name,
		Policy: group.Arn.ApplyT(flowLogWritePolicy).(pulumi.StringOutput),
	}, parent)
	if err != nil {
		return fmt.Errorf("create flow log role policy: %w", err)
	}
	if _, err := ec2.NewFlowLog(ctx, name+"-flow-logs", &ec2.FlowLogArgs{
		VpcId:              vpc.ID(),
		TrafficType:        pulumi.String("ALL"),
		LogDestinationType: pulumi.String("cloud-watch-logs"),
		LogDestination:     group.Arn,
		IamRoleArn:         role.Arn,
		Tags:               tags(args.Tags, map[string]string{"Name": name + "-flow-logs"}),
	}, parent, pulumi.DependsOn([]pulumi.Resource{policy})); err != nil {
		return fmt.Errorf("create flow log: %w", err)
	}
	return nil
}

// logGroupARN splits a log group ARN (arn:aws:logs:region:account:log-group:name).
func logGroupARN(arn string) (partition, region, account string, err error) {
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "logs" || parts[5] != "log-group" {
		return "", "", "", fmt.Errorf("%q is not a CloudWatch Logs log group ARN", arn)
	}
	return parts[1], parts[3], parts[4], nil
}

// flowLogTrustPolicy lets the VPC flow logs service assume the role, only
// for flow logs of the log group's own account and region (no confused
// deputy).
func flowLogTrustPolicy(logGroupArn string) (string, error) {
	partition, region, account, err := logGroupARN(logGroupArn)
	if err != nil {
		return "", err
	}
	return iampolicy.New(iampolicy.Statement{
		Effect:    "Allow",
		Principal: map[string]string{"Service": "vpc-flow-logs.amazonaws.com"},
		Action:    []string{"sts:AssumeRole"},
		Condition: map[string]map[string]string{
			"StringEquals": {"aws:SourceAccount": account},
			"ArnLike":      {"aws:SourceArn": fmt.Sprintf("arn:%s:ec2:%s:%s:vpc-flow-log/*", partition, region, account)},
		},
	}).JSON()
}

// flowLogWritePolicy allows writing flow logs to that one log group.
func flowLogWritePolicy(logGroupArn string) (string, error) {
	if _, _, _, err := logGroupARN(logGroupArn); err != nil {
		return "", err
	}
	arn := strings.TrimSuffix(logGroupArn, ":*")
	return iampolicy.New(iampolicy.Statement{
		Effect: "Allow",
		Action: []string{
			"logs:CreateLogStream",
			"logs:PutLogEvents",
			"logs:DescribeLogGroups",
			"logs:DescribeLogStreams",
		},
		Resource: []string{arn, arn + ":*"},
	}).JSON()
}

// tags merges tag maps, later ones winning, into a Pulumi input.
func tags(maps ...map[string]string) pulumi.StringMap {
	out := pulumi.StringMap{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = pulumi.String(v)
		}
	}
	return out
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
