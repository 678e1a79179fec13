package gpunodepool

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/blueprints/versions"
	"github.com/plinth-dev/plinth/stacks/plan"
)

const (
	tLT = "aws:ec2/launchTemplate:LaunchTemplate"
	tNG = "aws:eks/nodeGroup:NodeGroup"
)

func base() *GpuNodePoolArgs {
	return &GpuNodePoolArgs{
		ClusterName:   pulumi.String("demo"),
		NodeRoleArn:   pulumi.String("arn:aws:iam::123456789012:role/nodes"),
		SubnetIDs:     pulumi.StringArray{pulumi.String("subnet-a"), pulumi.String("subnet-b")},
		InstanceTypes: []string{"g5.xlarge", "g5.2xlarge"},
		AMIType:       "AL2023_x86_64_NVIDIA",
		CapacityType:  CapacityOnDemand,
		MinSize:       0,
		MaxSize:       4,
		DiskSizeGiB:   200,
		GPUsPerNode:   1,
		Labels:        map[string]string{"plinth.dev/pool": "train"},
		Taints:        []Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: "NoSchedule"}},
		Tags:          map[string]string{"plinth:environment": "test"},
	}
}

func with(f func(*GpuNodePoolArgs)) *GpuNodePoolArgs {
	a := base()
	f(a)
	return a
}

// run plans a pool and returns its launch template and node group.
func run(t *testing.T, args *GpuNodePoolArgs) (g *plan.Graph, lt, ng *plan.Resource) {
	t.Helper()
	g, err := plan.Run(func(ctx *pulumi.Context) error {
		_, err := NewGpuNodePool(ctx, "gpu", args)
		return err
	}, plan.Options{})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	lts, ngs := g.ByType(tLT), g.ByType(tNG)
	if len(lts) != 1 || len(ngs) != 1 {
		t.Fatalf("%d launch templates and %d node groups, want 1 each", len(lts), len(ngs))
	}
	return g, lts[0], ngs[0]
}

// get follows a path of map keys and slice indexes through rendered inputs.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func TestStructure(t *testing.T) {
	g, lt, ng := run(t, base())
	comp := g.Find(Token, "gpu")
	if comp == nil {
		t.Fatal("no component")
	}
	if lt.Parent != comp.URN || ng.Parent != comp.URN {
		t.Errorf("children not parented to the component: %q %q", lt.Parent, ng.Parent)
	}
	in := ng.Inputs
	if in["clusterName"] != "demo" || in["nodeRoleArn"] != "arn:aws:iam::123456789012:role/nodes" ||
		!slices.Equal(get(in, "subnetIds").([]any), []any{"subnet-a", "subnet-b"}) ||
		!slices.Equal(get(in, "instanceTypes").([]any), []any{"g5.xlarge", "g5.2xlarge"}) ||
		in["amiType"] != "AL2023_x86_64_NVIDIA" {
		t.Errorf("node group inputs = %v", in)
	}
	// The launch template is used at its latest version; the disk size is
	// the launch template's (EKS rejects diskSize alongside one).
	if get(in, "launchTemplate", "id") != plan.Unknown || get(in, "launchTemplate", "version") != plan.Unknown || in["diskSize"] != nil {
		t.Errorf("launch template reference = %v, diskSize = %v", in["launchTemplate"], in["diskSize"])
	}
	if get(in, "updateConfig", "maxUnavailable") != 1.0 {
		t.Errorf("updateConfig = %v", in["updateConfig"])
	}
	if get(in, "labels", "plinth.dev/pool") != "train" {
		t.Errorf("labels = %v", in["labels"])
	}
	// No AMI or instance type in the template: EKS picks them from the node group.
	if lt.Inputs["imageId"] != nil || lt.Inputs["instanceType"] != nil {
		t.Errorf("launch template pins an AMI or instance type: %v", lt.Inputs)
	}
}

func TestIMDSv2Required(t *testing.T) {
	_, lt, _ := run(t, base())
	md := get(lt.Inputs, "metadataOptions")
	if get(md, "httpTokens") != "required" || get(md, "httpEndpoint") != "enabled" || get(md, "httpPutResponseHopLimit") != 2.0 {
		t.Errorf("metadataOptions = %v, want IMDSv2 required, endpoint enabled, hop limit 2", md)
	}
}

func TestRootVolume(t *testing.T) {
	for _, size := range []int{20, 200, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			_, lt, _ := run(t, with(func(a *GpuNodePoolArgs) { a.DiskSizeGiB = size }))
			bdms, _ := lt.Inputs["blockDeviceMappings"].([]any)
			if len(bdms) != 1 {
				t.Fatalf("block device mappings = %v, want one", bdms)
			}
			ebs := get(bdms[0], "ebs")
			if get(bdms[0], "deviceName") != "/dev/xvda" || get(ebs, "volumeSize") != float64(size) ||
				get(ebs, "volumeType") != "gp3" || get(ebs, "encrypted") != "true" || get(ebs, "deleteOnTermination") != "true" {
				t.Errorf("root volume = %v, want encrypted gp3 of %d GiB deleted on termination", bdms[0], size)
			}
		})
	}
}

func TestInstanceAndVolumeTags(t *testing.T) {
	_, lt, _ := run(t, base())
	specs, _ := lt.Inputs["tagSpecifications"].([]any)
	var types []string
	for _, s := range specs {
		types = append(types, get(s, "resourceType").(string))
		if get(s, "tags", "plinth:environment") != "test" || get(s, "tags", "Name") != "gpu" {
			t.Errorf("tag specification %v lacks the tags", s)
		}
	}
	if !slices.Equal(types, []string{"instance", "volume"}) {
		t.Errorf("tag specifications for %v, want instance and volume", types)
	}
}

func TestCapacityType(t *testing.T) {
	for capacity, want := range map[string]string{CapacityOnDemand: "ON_DEMAND", CapacitySpot: "SPOT"} {
		t.Run(capacity, func(t *testing.T) {
			_, _, ng := run(t, with(func(a *GpuNodePoolArgs) { a.CapacityType = capacity }))
			if ng.Inputs["capacityType"] != want {
				t.Errorf("capacityType = %v, want %s", ng.Inputs["capacityType"], want)
			}
		})
	}
}

func TestTaints(t *testing.T) {
	tests := map[string]struct {
		taints []Taint
		want   []any
	}{
		"none": {nil, []any{}},
		"NoSchedule": {[]Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: "NoSchedule"}},
			[]any{map[string]any{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}}},
		"PreferNoSchedule and NoExecute, no value": {
			[]Taint{{Key: "a", Value: "1", Effect: "PreferNoSchedule"}, {Key: "b", Effect: "NoExecute"}},
			[]any{
				map[string]any{"key": "a", "value": "1", "effect": "PREFER_NO_SCHEDULE"},
				map[string]any{"key": "b", "effect": "NO_EXECUTE"},
			}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, ng := run(t, with(func(a *GpuNodePoolArgs) { a.Taints = tt.taints }))
			got := fmt.Sprint(ng.Inputs["taints"])
			if want := fmt.Sprint(tt.want); got != want {
				t.Errorf("taints = %s, want %s", got, want)
			}
		})
	}
}

func TestDesiredSizeLeftToTheAutoscaler(t *testing.T) {
	for _, minSize := range []int{0, 2} {
		t.Run(fmt.Sprint(minSize), func(t *testing.T) {
			_, _, ng := run(t, with(func(a *GpuNodePoolArgs) { a.MinSize = minSize }))
			sc := ng.Inputs["scalingConfig"]
			if get(sc, "minSize") != float64(minSize) || get(sc, "maxSize") != 4.0 || get(sc, "desiredSize") != float64(minSize) {
				t.Errorf("scalingConfig = %v, want min %d max 4 desired %d", sc, minSize, minSize)
			}
			if !slices.Equal(ng.IgnoreChanges, []string{"scalingConfig.desiredSize"}) {
				t.Errorf("ignoreChanges = %v, want scalingConfig.desiredSize", ng.IgnoreChanges)
			}
		})
	}
}

func TestAutoscalerTags(t *testing.T) {
	tests := map[string]struct {
		args     *GpuNodePoolArgs
		want     map[string]string
		wantNone []string
	}{
		"one GPU, one taint, one label": {
			args: base(),
			want: map[string]string{
				"plinth:environment":                                               "test",
				"k8s.io/cluster-autoscaler/enabled":                                "true",
				"k8s.io/cluster-autoscaler/demo":                                   "owned",
				"k8s.io/cluster-autoscaler/node-template/label/plinth.dev/pool":    "train",
				"k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu":     "present:NoSchedule",
				"k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu": "1",
			},
		},
		"eight GPUs, other cluster, no taints or labels": {
			args: with(func(a *GpuNodePoolArgs) {
				a.ClusterName, a.GPUsPerNode, a.Taints, a.Labels = pulumi.String("prod"), 8, nil, nil
			}),
			want: map[string]string{
				"k8s.io/cluster-autoscaler/enabled":                                "true",
				"k8s.io/cluster-autoscaler/prod":                                   "owned",
				"k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu": "8",
			},
			wantNone: []string{
				"k8s.io/cluster-autoscaler/demo",
				"k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu",
				"k8s.io/cluster-autoscaler/node-template/label/plinth.dev/pool",
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, ng := run(t, tt.args)
			tags, _ := ng.Inputs["tags"].(map[string]any)
			for k, v := range tt.want {
				if tags[k] != v {
					t.Errorf("tag %s = %v, want %s", k, tags[k], v)
				}
			}
			for _, k := range tt.wantNone {
				if _, ok := tags[k]; ok {
					t.Errorf("unexpected tag %s", k)
				}
			}
		})
	}
}

func TestAMITypeFor(t *testing.T) {
	pins := versions.Get().EKS.AMITypes
	tests := []struct {
		arch, want, err string
	}{
		{"x86_64", pins.GPU, ""},
		{"arm64", pins.GPUArm, ""},
		{"amd64x", "", "want x86_64 or arm64"},
		{"", "", "want x86_64 or arm64"},
	}
	for _, tt := range tests {
		t.Run(tt.arch, func(t *testing.T) {
			got, err := AMITypeFor(tt.arch)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want error containing %q, got %q, %v", tt.err, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("AMITypeFor(%s) = %q, %v, want %q", tt.arch, got, err, tt.want)
			}
			if !strings.HasPrefix(got, "AL2023_") || !strings.HasSuffix(got, "_NVIDIA") {
				t.Errorf("AMITypeFor(%s) = %s, not an AL2023 NVIDIA type", tt.arch, got)
			}
			// The pinned type is accepted by the component.
			if _, _, ng := run(t, with(func(a *GpuNodePoolArgs) { a.AMIType = got })); ng.Inputs["amiType"] != got {
				t.Errorf("amiType = %v, want %s", ng.Inputs["amiType"], got)
			}
		})
	}
}

func TestBadArgs(t *testing.T) {
	manyLabels := map[string]string{}
	for i := range 48 {
		manyLabels[fmt.Sprintf("l%d", i)] = "x"
	}
	tests := map[string]struct {
		args *GpuNodePoolArgs
		want string
	}{
		"nil args":            {nil, "args are required"},
		"no cluster":          {with(func(a *GpuNodePoolArgs) { a.ClusterName = nil }), "ClusterName, NodeRoleArn and SubnetIDs are required"},
		"no instance types":   {with(func(a *GpuNodePoolArgs) { a.InstanceTypes = nil }), "at least one instance type"},
		"empty instance type": {with(func(a *GpuNodePoolArgs) { a.InstanceTypes = []string{""} }), "must not be empty"},
		"no AMI type":         {with(func(a *GpuNodePoolArgs) { a.AMIType = "" }), "AMIType is required; use AMITypeFor"},
		"AL2 GPU AMI":         {with(func(a *GpuNodePoolArgs) { a.AMIType = "AL2_x86_64_GPU" }), "AL2_x86_64_GPU is Amazon Linux 2, which EKS has retired; use an AL2023 type such as AL2023_x86_64_NVIDIA"},
		"AL2 arm AMI":         {with(func(a *GpuNodePoolArgs) { a.AMIType = "AL2_ARM_64" }), "Amazon Linux 2"},
		"unknown capacity":    {with(func(a *GpuNodePoolArgs) { a.CapacityType = "SPOT" }), `capacity type "SPOT" is not onDemand or spot`},
		"max 0":               {with(func(a *GpuNodePoolArgs) { a.MinSize, a.MaxSize = 0, 0 }), "MaxSize 0 must be at least 1"},
		"max below min":       {with(func(a *GpuNodePoolArgs) { a.MinSize, a.MaxSize = 3, 2 }), "at least MinSize (3)"},
		"negative min":        {with(func(a *GpuNodePoolArgs) { a.MinSize = -1 }), "negative"},
		"disk 19":             {with(func(a *GpuNodePoolArgs) { a.DiskSizeGiB = 19 }), "DiskSizeGiB 19 must be 20 to 16384"},
		"no GPUs":             {with(func(a *GpuNodePoolArgs) { a.GPUsPerNode = 0 }), "GPUsPerNode 0 must be at least 1"},
		"taint effect":        {with(func(a *GpuNodePoolArgs) { a.Taints = []Taint{{Key: "k", Effect: "NO_SCHEDULE"}} }), `effect "NO_SCHEDULE" is not NoSchedule`},
		"taint no key":        {with(func(a *GpuNodePoolArgs) { a.Taints = []Taint{{Effect: "NoSchedule"}} }), "taint keys must not be empty"},
		"taint twice": {with(func(a *GpuNodePoolArgs) {
			a.Taints = []Taint{{Key: "k", Effect: "NoSchedule"}, {Key: "k", Effect: "NoExecute"}}
		}), "taint k is listed twice"},
		"too many tags":    {with(func(a *GpuNodePoolArgs) { a.Labels = manyLabels }), "more than the 50 AWS allows"},
		"tag key too long": {with(func(a *GpuNodePoolArgs) { a.Labels = map[string]string{strings.Repeat("x", 90): "y"} }), "longer than the 128 characters"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g, err := plan.Run(func(ctx *pulumi.Context) error {
				_, err := NewGpuNodePool(ctx, "gpu", tt.args)
				return err
			}, plan.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error containing %q, got %v", tt.want, err)
			}
			if !strings.Contains(err.Error(), "gpu node pool gpu") {
				t.Errorf("error %q does not name the pool", err)
			}
			if len(g.Resources) != 0 {
				t.Errorf("%d resources registered before the args were rejected", len(g.Resources))
			}
		})
	}
}
