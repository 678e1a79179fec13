package network

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/stacks/plan"
)

// Type tokens of the resources the component creates.
const (
	tVpc      = "aws:ec2/vpc:Vpc"
	tSubnet   = "aws:ec2/subnet:Subnet"
	tIGW      = "aws:ec2/internetGateway:InternetGateway"
	tRT       = "aws:ec2/routeTable:RouteTable"
	tRoute    = "aws:ec2/route:Route"
	tRTA      = "aws:ec2/routeTableAssociation:RouteTableAssociation"
	tEIP      = "aws:ec2/eip:Eip"
	tNAT      = "aws:ec2/natGateway:NatGateway"
	tFlowLog  = "aws:ec2/flowLog:FlowLog"
	tLogGroup = "aws:cloudwatch/logGroup:LogGroup"
	tRole     = "aws:iam/role:Role"
	tPolicy   = "aws:iam/rolePolicy:RolePolicy"
	tProbe    = "test:index:Probe"
	azToken   = "aws:index/getAvailabilityZones:getAvailabilityZones"
)

// regionAZs are the AZs the offline region has, deliberately not in name order.
var regionAZs = []string{"us-east-1c", "us-east-1a", "us-east-1f", "us-east-1b", "us-east-1e", "us-east-1d"}

// answerAZs answers getAvailabilityZones with regionAZs, and only when asked
// for available AZs that need no opt-in.
func answerAZs(token string, args resource.PropertyMap) (resource.PropertyMap, error) {
	if token != azToken {
		return nil, plan.ErrNoAnswer
	}
	if s := args["state"]; !s.IsString() || s.StringValue() != "available" {
		return nil, fmt.Errorf("want state available, got %v", args["state"])
	}
	f := args["filters"]
	if !f.IsArray() || len(f.ArrayValue()) != 1 {
		return nil, fmt.Errorf("want one filter, got %v", f)
	}
	filter := f.ArrayValue()[0].ObjectValue()
	values := filter["values"].ArrayValue()
	if filter["name"].StringValue() != "opt-in-status" || len(values) != 1 || values[0].StringValue() != "opt-in-not-required" {
		return nil, fmt.Errorf("want filter opt-in-status=opt-in-not-required, got %v", filter)
	}
	names := make([]any, len(regionAZs))
	for i, n := range regionAZs {
		names[i] = n
	}
	return resource.NewPropertyMapFromMap(map[string]any{"names": names}), nil
}

// probe is a stand-in resource whose inputs are the component's outputs, so
// the plan shows them.
type probe struct{ pulumi.CustomResourceState }

// program builds a Network and a probe of its outputs.
func program(args *NetworkArgs) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		n, err := NewNetwork(ctx, "t", args)
		if err != nil {
			return err
		}
		return ctx.RegisterResource(tProbe, "probe", pulumi.Map{
			"vpcId":             n.VpcID,
			"privateSubnetIds":  n.PrivateSubnetIDs,
			"publicSubnetIds":   n.PublicSubnetIDs,
			"availabilityZones": n.AvailabilityZones,
		}, &probe{})
	}
}

func run(t *testing.T, args *NetworkArgs) *plan.Graph {
	t.Helper()
	g, err := plan.Run(program(args), plan.Options{Invoke: answerAZs})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return g
}

func base() *NetworkArgs {
	return &NetworkArgs{
		CIDR:        "10.0.0.0/16",
		AZCount:     3,
		NATGateways: NATSingle,
		ClusterName: "demo",
		Tags:        map[string]string{"plinth:environment": "test", "team": "ml"},
	}
}

func with(f func(*NetworkArgs)) *NetworkArgs {
	a := base()
	f(a)
	return a
}

func strs(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, len(arr))
	for i, e := range arr {
		out[i], _ = e.(string)
	}
	return out
}

func tagsOf(r *plan.Resource) map[string]any {
	m, _ := r.Inputs["tags"].(map[string]any)
	return m
}

// subnets returns the private and public subnets of a plan.
func subnets(g *plan.Graph) (private, public []*plan.Resource) {
	for _, s := range g.ByType(tSubnet) {
		if strings.Contains(s.Name, "-private-") {
			private = append(private, s)
		} else {
			public = append(public, s)
		}
	}
	return private, public
}

// checkLayout asserts the subnets are exactly one private and one public
// per AZ of azs, each pair in its AZ with the CIDRs Carve gives that AZ's
// position.
func checkLayout(t *testing.T, g *plan.Graph, cidr string, azs []string) {
	t.Helper()
	wantPriv, wantPub, err := Carve(cidr, len(azs))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(g.ByType(tSubnet)); n != 2*len(azs) {
		t.Errorf("%d subnets, want %d", n, 2*len(azs))
	}
	for i, az := range azs {
		for kind, want := range map[string]string{"private": wantPriv[i].String(), "public": wantPub[i].String()} {
			s := g.Find(tSubnet, "t-"+kind+"-"+az)
			if s == nil {
				t.Errorf("no %s subnet in %s", kind, az)
				continue
			}
			if s.Inputs["availabilityZone"] != az || s.Inputs["cidrBlock"] != want {
				t.Errorf("%s: in %v with %v, want %s with %s", s.Name, s.Inputs["availabilityZone"], s.Inputs["cidrBlock"], az, want)
			}
		}
	}
}

func TestAZsFromTheRegionInNameOrder(t *testing.T) {
	sorted := slices.Sorted(slices.Values(regionAZs))
	for count := MinAZs; count <= MaxAZs; count++ {
		t.Run(fmt.Sprint(count), func(t *testing.T) {
			g := run(t, with(func(a *NetworkArgs) { a.AZCount = count }))
			if g.Invokes[azToken] != 1 {
				t.Errorf("invokes = %v, want one %s", g.Invokes, azToken)
			}
			want := sorted[:count]
			checkLayout(t, g, "10.0.0.0/16", want)
			if got := strs(g.Find(tProbe, "probe").Inputs["availabilityZones"]); !slices.Equal(got, want) {
				t.Errorf("availabilityZones output = %v, want %v", got, want)
			}
		})
	}
}

func TestExplicitAZsSkipTheLookup(t *testing.T) {
	azs := []string{"eu-west-1b", "eu-west-1a"}
	args := with(func(a *NetworkArgs) { a.AZCount, a.AvailabilityZones = 0, azs })
	// No invoke answers at all: a lookup would fail the run.
	g, err := plan.Run(program(args), plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Invokes) != 0 {
		t.Errorf("invokes = %v, want none", g.Invokes)
	}
	checkLayout(t, g, "10.0.0.0/16", azs)
	if got := strs(g.Find(tProbe, "probe").Inputs["availabilityZones"]); !slices.Equal(got, azs) {
		t.Errorf("availabilityZones output = %v, want %v", got, azs)
	}
}

func TestVPCAndSubnets(t *testing.T) {
	g := run(t, base())
	comp := g.Find(Token, "t")
	if comp == nil {
		t.Fatal("no component")
	}
	for _, r := range g.Resources {
		if r.Custom && r.Type != tProbe && r.Parent != comp.URN {
			t.Errorf("%s %s is not parented to the component", r.Type, r.Name)
		}
	}
	vpcs := g.ByType(tVpc)
	if len(vpcs) != 1 {
		t.Fatalf("%d VPCs", len(vpcs))
	}
	vpc := vpcs[0]
	if vpc.Inputs["cidrBlock"] != "10.0.0.0/16" || vpc.Inputs["enableDnsSupport"] != true || vpc.Inputs["enableDnsHostnames"] != true {
		t.Errorf("VPC inputs = %v", vpc.Inputs)
	}
	if tagsOf(vpc)["Name"] != "t" || tagsOf(vpc)["team"] != "ml" {
		t.Errorf("VPC tags = %v", tagsOf(vpc))
	}
	if n := len(g.ByType(tIGW)); n != 1 {
		t.Errorf("%d internet gateways, want 1", n)
	}
	checkLayout(t, g, "10.0.0.0/16", []string{"us-east-1a", "us-east-1b", "us-east-1c"})
	// Ids come from the cloud: unknown in a preview, never made up.
	probe := g.Find(tProbe, "probe")
	for _, k := range []string{"vpcId", "privateSubnetIds", "publicSubnetIds"} {
		if probe.Inputs[k] != plan.Unknown {
			t.Errorf("output %s = %v, want unknown", k, probe.Inputs[k])
		}
	}
}

func TestSubnetTagsAndNoPublicIPs(t *testing.T) {
	tests := map[string]struct {
		cluster    string
		clusterTag string
	}{
		"with cluster":    {"demo", "kubernetes.io/cluster/demo"},
		"without cluster": {"", ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g := run(t, with(func(a *NetworkArgs) { a.ClusterName = tt.cluster }))
			private, public := subnets(g)
			if len(private) != 3 || len(public) != 3 {
				t.Fatalf("%d private and %d public subnets", len(private), len(public))
			}
			check := func(s *plan.Resource, role string, other string) {
				tags := tagsOf(s)
				if s.Inputs["mapPublicIpOnLaunch"] != false {
					t.Errorf("%s: mapPublicIpOnLaunch = %v, want false", s.Name, s.Inputs["mapPublicIpOnLaunch"])
				}
				if tags[role] != "1" || tags[other] != nil {
					t.Errorf("%s: tags %v, want %s=1 and no %s", s.Name, tags, role, other)
				}
				if tags["Name"] != s.Name || tags["plinth:environment"] != "test" {
					t.Errorf("%s: tags %v lack Name or caller tags", s.Name, tags)
				}
				var clusterTags []string
				for k := range tags {
					if strings.HasPrefix(k, "kubernetes.io/cluster/") {
						clusterTags = append(clusterTags, k)
					}
				}
				switch {
				case tt.clusterTag == "" && len(clusterTags) != 0:
					t.Errorf("%s: unexpected cluster tags %v", s.Name, clusterTags)
				case tt.clusterTag != "" && tags[tt.clusterTag] != "shared":
					t.Errorf("%s: %s = %v, want shared", s.Name, tt.clusterTag, tags[tt.clusterTag])
				}
			}
			for _, s := range public {
				check(s, "kubernetes.io/role/elb", "kubernetes.io/role/internal-elb")
			}
			for _, s := range private {
				check(s, "kubernetes.io/role/internal-elb", "kubernetes.io/role/elb")
			}
		})
	}
}

func TestNATModes(t *testing.T) {
	tests := []struct {
		mode string
		nats int
		// privateDefaults is how many private route tables route 0.0.0.0/0.
		privateDefaults int
	}{
		{NATNone, 0, 0},
		{NATSingle, 1, 3},
		{NATPerAZ, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			g := run(t, with(func(a *NetworkArgs) { a.NATGateways = tt.mode }))
			if n := len(g.ByType(tNAT)); n != tt.nats {
				t.Errorf("%d NAT gateways, want %d", n, tt.nats)
			}
			if n := len(g.ByType(tEIP)); n != tt.nats {
				t.Errorf("%d Elastic IPs, want %d", n, tt.nats)
			}
			for _, e := range g.ByType(tEIP) {
				if e.Inputs["domain"] != "vpc" {
					t.Errorf("EIP %s domain = %v", e.Name, e.Inputs["domain"])
				}
			}
			// One public route table and one private per AZ in every mode.
			if n := len(g.ByType(tRT)); n != 4 {
				t.Errorf("%d route tables, want 4", n)
			}
			if n := len(g.ByType(tRTA)); n != 6 {
				t.Errorf("%d route table associations, want 6", n)
			}
			var igwRoutes, natRoutes int
			for _, r := range g.ByType(tRoute) {
				if r.Inputs["destinationCidrBlock"] != "0.0.0.0/0" {
					t.Errorf("route %s to %v", r.Name, r.Inputs["destinationCidrBlock"])
				}
				switch {
				case r.Inputs["gatewayId"] != nil:
					igwRoutes++
				case r.Inputs["natGatewayId"] != nil:
					natRoutes++
				}
			}
			if igwRoutes != 1 || natRoutes != tt.privateDefaults {
				t.Errorf("%d internet and %d NAT default routes, want 1 and %d", igwRoutes, natRoutes, tt.privateDefaults)
			}
		})
	}
}

// deployMocks runs a program as an update (not a preview), with ids and
// ARNs made up from the names, so references between resources can be
// followed.
type deployMocks struct {
	mu  sync.Mutex
	res map[string]resource.PropertyMap // "type name" → inputs
}

func (m *deployMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	state := args.Inputs.Copy()
	set := func(k, v string) { state[resource.PropertyKey(k)] = resource.NewStringProperty(v) }
	switch args.TypeToken {
	case tLogGroup:
		set("arn", "arn:aws:logs:us-east-1:123456789012:log-group:"+args.Name)
	case tRole:
		set("arn", "arn:aws:iam::123456789012:role/"+args.Name)
		set("name", args.Name)
	case tEIP:
		set("allocationId", "eipalloc-"+args.Name)
	}
	m.mu.Lock()
	m.res[args.TypeToken+" "+args.Name] = args.Inputs
	m.mu.Unlock()
	return args.Name + "-id", state, nil
}

func (m *deployMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return answerAZs(args.Token, args.Args)
}

func deploy(t *testing.T, args *NetworkArgs) map[string]resource.PropertyMap {
	t.Helper()
	m := &deployMocks{res: map[string]resource.PropertyMap{}}
	if err := pulumi.RunErr(program(args), pulumi.WithMocks("plinth", "deploy", m)); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	return m.res
}

func str(m resource.PropertyMap, k string) string {
	v := m[resource.PropertyKey(k)]
	if !v.IsString() {
		return ""
	}
	return v.StringValue()
}

func TestNATWiring(t *testing.T) {
	azs := []string{"us-east-1a", "us-east-1b", "us-east-1c"}
	tests := map[string]struct {
		mode string
		// natFor is the NAT gateway AZ each private AZ routes through ("" for none).
		natFor []string
	}{
		NATNone:   {NATNone, []string{"", "", ""}},
		NATSingle: {NATSingle, []string{"us-east-1a", "us-east-1a", "us-east-1a"}},
		NATPerAZ:  {NATPerAZ, azs},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			res := deploy(t, with(func(a *NetworkArgs) { a.NATGateways = tt.mode }))
			for i, az := range azs {
				route, ok := res[tRoute+" t-private-default-"+az]
				if tt.natFor[i] == "" {
					if ok {
						t.Errorf("%s: private default route without NAT", az)
					}
					continue
				}
				if want := "t-nat-" + tt.natFor[i] + "-id"; str(route, "natGatewayId") != want || str(route, "routeTableId") != "t-private-"+az+"-id" {
					t.Errorf("%s: private route %v, want via %s in its own table", az, route, want)
				}
				nat := res[tNAT+" t-nat-"+tt.natFor[i]]
				if str(nat, "subnetId") != "t-public-"+tt.natFor[i]+"-id" || str(nat, "allocationId") != "eipalloc-t-nat-"+tt.natFor[i] {
					t.Errorf("NAT %s: %v, want in the public subnet of its AZ with its EIP", tt.natFor[i], nat)
				}
			}
			for _, az := range azs {
				pub := res[tRTA+" t-public-"+az]
				priv := res[tRTA+" t-private-"+az]
				if str(pub, "subnetId") != "t-public-"+az+"-id" || str(pub, "routeTableId") != "t-public-id" {
					t.Errorf("%s: public association %v", az, pub)
				}
				if str(priv, "subnetId") != "t-private-"+az+"-id" || str(priv, "routeTableId") != "t-private-"+az+"-id" {
					t.Errorf("%s: private association %v", az, priv)
				}
			}
			if r := res[tRoute+" t-public-default"]; str(r, "gatewayId") != "t-igw-id" || str(r, "routeTableId") != "t-public-id" {
				t.Errorf("public default route %v", r)
			}
		})
	}
}

func TestFlowLogs(t *testing.T) {
	tests := map[string]struct {
		on            bool
		retention     int
		wantRetention float64
	}{
		"off":            {false, 0, 0},
		"on, default":    {true, 0, 90},
		"on, a year":     {true, 365, 365},
		"off, retention": {false, 30, 0},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g := run(t, with(func(a *NetworkArgs) { a.FlowLogs, a.FlowLogRetentionDays = tt.on, tt.retention }))
			want := 0
			if tt.on {
				want = 1
			}
			for _, typ := range []string{tFlowLog, tLogGroup, tRole, tPolicy} {
				if n := len(g.ByType(typ)); n != want {
					t.Errorf("%d %s, want %d", n, typ, want)
				}
			}
			if !tt.on {
				return
			}
			lg := g.ByType(tLogGroup)[0]
			if lg.Inputs["retentionInDays"] != tt.wantRetention {
				t.Errorf("retention = %v, want %v", lg.Inputs["retentionInDays"], tt.wantRetention)
			}
			fl := g.ByType(tFlowLog)[0]
			if fl.Inputs["trafficType"] != "ALL" || fl.Inputs["logDestinationType"] != "cloud-watch-logs" ||
				fl.Inputs["vpcId"] != plan.Unknown || fl.Inputs["iamRoleArn"] != plan.Unknown || fl.Inputs["logDestination"] != plan.Unknown {
				t.Errorf("flow log inputs = %v", fl.Inputs)
			}
		})
	}
}

// decodedPolicy decodes the IAM policies the component renders.
type decodedPolicy struct {
	Version   string
	Statement []struct {
		Effect    string
		Principal map[string]string
		Action    []string
		Resource  []string
		Condition map[string]map[string]string
	}
}

func TestFlowLogPolicies(t *testing.T) {
	res := deploy(t, with(func(a *NetworkArgs) { a.FlowLogs = true }))
	groupArn := "arn:aws:logs:us-east-1:123456789012:log-group:t-flow-logs"
	fl := res[tFlowLog+" t-flow-logs"]
	if str(fl, "logDestination") != groupArn || str(fl, "vpcId") != "t-vpc-id" || str(fl, "iamRoleArn") != "arn:aws:iam::123456789012:role/t-flow-logs" {
		t.Errorf("flow log = %v", fl)
	}

	var trust decodedPolicy
	if err := json.Unmarshal([]byte(str(res[tRole+" t-flow-logs"], "assumeRolePolicy")), &trust); err != nil {
		t.Fatal(err)
	}
	st := trust.Statement
	if len(st) != 1 || st[0].Principal["Service"] != "vpc-flow-logs.amazonaws.com" || !slices.Equal(st[0].Action, []string{"sts:AssumeRole"}) ||
		st[0].Condition["StringEquals"]["aws:SourceAccount"] != "123456789012" ||
		st[0].Condition["ArnLike"]["aws:SourceArn"] != "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/*" {
		t.Errorf("trust policy = %+v", trust)
	}

	var perms decodedPolicy
	policy := res[tPolicy+" t-flow-logs"]
	if str(policy, "role") != "t-flow-logs" {
		t.Errorf("policy attached to role %q", str(policy, "role"))
	}
	if err := json.Unmarshal([]byte(str(policy, "policy")), &perms); err != nil {
		t.Fatal(err)
	}
	for _, s := range perms.Statement {
		if s.Effect != "Allow" || !slices.Equal(s.Resource, []string{groupArn, groupArn + ":*"}) {
			t.Errorf("statement not scoped to the log group: %+v", s)
		}
		if !slices.Contains(s.Action, "logs:PutLogEvents") || slices.ContainsFunc(s.Action, func(a string) bool { return strings.Contains(a, "*") }) {
			t.Errorf("actions = %v", s.Action)
		}
	}
	if _, err := flowLogTrustPolicy("arn:aws:s3:::bucket"); err == nil {
		t.Error("trust policy built from a non-log-group ARN")
	}
}

func TestExistingNetworkCreatesNothing(t *testing.T) {
	tests := map[string]struct {
		existing *ExistingNetwork
		azs      []string
	}{
		"private and public": {&ExistingNetwork{VpcID: "vpc-1", PrivateSubnetIDs: []string{"subnet-a", "subnet-b"}, PublicSubnetIDs: []string{"subnet-c"}}, []string{"eu-west-1a", "eu-west-1b"}},
		"private only":       {&ExistingNetwork{VpcID: "vpc-2", PrivateSubnetIDs: []string{"subnet-x"}}, nil},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			// The other fields are ignored, even when they would be invalid.
			args := &NetworkArgs{Existing: tt.existing, AvailabilityZones: tt.azs, NATGateways: "bogus", FlowLogs: true}
			g, err := plan.Run(program(args), plan.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Invokes) != 0 {
				t.Errorf("invokes = %v", g.Invokes)
			}
			for _, r := range g.Resources {
				if r.Custom && r.Type != tProbe {
					t.Errorf("created %s %s", r.Type, r.Name)
				}
			}
			if g.Find(Token, "t") == nil {
				t.Error("no component registered")
			}
			out := g.Find(tProbe, "probe").Inputs
			if out["vpcId"] != tt.existing.VpcID ||
				!slices.Equal(strs(out["privateSubnetIds"]), tt.existing.PrivateSubnetIDs) ||
				!slices.Equal(strs(out["publicSubnetIds"]), orEmpty(tt.existing.PublicSubnetIDs)) ||
				!slices.Equal(strs(out["availabilityZones"]), orEmpty(tt.azs)) {
				t.Errorf("outputs = %v", out)
			}
		})
	}
}

func TestBadArgs(t *testing.T) {
	tests := map[string]struct {
		args *NetworkArgs
		want string
	}{
		"nil args":            {nil, "args are required"},
		"CIDR not parseable":  {with(func(a *NetworkArgs) { a.CIDR = "10.0.0/16" }), "not an IPv4 range"},
		"CIDR empty":          {with(func(a *NetworkArgs) { a.CIDR = "" }), "not an IPv4 range"},
		"CIDR too large":      {with(func(a *NetworkArgs) { a.CIDR = "10.0.0.0/8" }), "/16 to /24"},
		"CIDR host bits":      {with(func(a *NetworkArgs) { a.CIDR = "10.0.0.1/16" }), "host bits"},
		"AZCount 1":           {with(func(a *NetworkArgs) { a.AZCount = 1 }), "2 to 6 availability zones, not 1"},
		"AZCount 7":           {with(func(a *NetworkArgs) { a.AZCount = 7 }), "2 to 6 availability zones, not 7"},
		"one explicit AZ":     {with(func(a *NetworkArgs) { a.AZCount, a.AvailabilityZones = 0, []string{"us-east-1a"} }), "not 1"},
		"duplicate AZ":        {with(func(a *NetworkArgs) { a.AZCount, a.AvailabilityZones = 0, []string{"us-east-1a", "us-east-1a"} }), "listed twice"},
		"AZ count mismatch":   {with(func(a *NetworkArgs) { a.AZCount, a.AvailabilityZones = 3, []string{"us-east-1a", "us-east-1b"} }), "does not match"},
		"unknown NAT mode":    {with(func(a *NetworkArgs) { a.NATGateways = "perAZ" }), `NATGateways "perAZ" is not one of none, single, perAz`},
		"no NAT mode":         {with(func(a *NetworkArgs) { a.NATGateways = "" }), "NATGateways"},
		"bad cluster name":    {with(func(a *NetworkArgs) { a.ClusterName = "my cluster" }), "not a valid EKS cluster name"},
		"bad retention":       {with(func(a *NetworkArgs) { a.FlowLogs, a.FlowLogRetentionDays = true, 45 }), "not a CloudWatch Logs retention period"},
		"existing no vpc":     {&NetworkArgs{Existing: &ExistingNetwork{PrivateSubnetIDs: []string{"subnet-a"}}}, "not a VPC id"},
		"existing no subnets": {&NetworkArgs{Existing: &ExistingNetwork{VpcID: "vpc-1"}}, "at least one private subnet"},
		"existing swapped":    {&NetworkArgs{Existing: &ExistingNetwork{VpcID: "vpc-1", PrivateSubnetIDs: []string{"vpc-1"}}}, "not a subnet id"},
		"existing duplicate":  {&NetworkArgs{Existing: &ExistingNetwork{VpcID: "vpc-1", PrivateSubnetIDs: []string{"subnet-a"}, PublicSubnetIDs: []string{"subnet-a"}}}, "listed twice"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g, err := plan.Run(program(tt.args), plan.Options{Invoke: answerAZs})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error containing %q, got %v", tt.want, err)
			}
			if !strings.Contains(err.Error(), "network t") {
				t.Errorf("error %q does not name the network", err)
			}
			if n := len(g.Resources); n != 0 {
				t.Errorf("%d resources registered before the args were rejected", n)
			}
		})
	}
}

func TestRegionWithTooFewAZs(t *testing.T) {
	small := func(token string, args resource.PropertyMap) (resource.PropertyMap, error) {
		if token != azToken {
			return nil, plan.ErrNoAnswer
		}
		return resource.NewPropertyMapFromMap(map[string]any{"names": []any{"ap-x-1a", "ap-x-1b"}}), nil
	}
	for count, wantErr := range map[int]bool{2: false, 3: true} {
		_, err := plan.Run(program(with(func(a *NetworkArgs) { a.AZCount = count })), plan.Options{Invoke: small})
		if gotErr := err != nil; gotErr != wantErr {
			t.Errorf("AZCount %d: err = %v, want error %v", count, err, wantErr)
		}
		if wantErr && (err == nil || !strings.Contains(err.Error(), "only 2 available")) {
			t.Errorf("AZCount %d: error %v does not say how many AZs there are", count, err)
		}
	}
	_, err := plan.Run(program(base()), plan.Options{})
	if err == nil || !strings.Contains(err.Error(), "network t: look up availability zones") {
		t.Errorf("unanswered lookup: %v", err)
	}
}

func TestOutputsInAZOrder(t *testing.T) {
	res := deploy(t, base())
	out := res[tProbe+" probe"]
	ids := func(k string) []string {
		var s []string
		for _, v := range out[resource.PropertyKey(k)].ArrayValue() {
			s = append(s, v.StringValue())
		}
		return s
	}
	azs := []string{"us-east-1a", "us-east-1b", "us-east-1c"}
	var wantPriv, wantPub []string
	for _, az := range azs {
		wantPriv = append(wantPriv, "t-private-"+az+"-id")
		wantPub = append(wantPub, "t-public-"+az+"-id")
	}
	if str(out, "vpcId") != "t-vpc-id" || !slices.Equal(ids("privateSubnetIds"), wantPriv) ||
		!slices.Equal(ids("publicSubnetIds"), wantPub) || !slices.Equal(ids("availabilityZones"), azs) {
		t.Errorf("outputs = %v", out)
	}
}
