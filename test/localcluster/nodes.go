package localcluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/blueprints/catalog"
)

// FakeNodeAnnotation=FakeNodeValue marks the nodes KWOK manages; KWOK is
// started to manage only those, so real nodes (if any) are left alone.
const (
	FakeNodeAnnotation = "kwok.x-k8s.io/node"
	FakeNodeValue      = "fake"
)

// Node labels and resources the harness sets.
const (
	InstanceTypeLabel = "node.kubernetes.io/instance-type"
	// PoolLabel names a node's pool, as Plinth's EKS node groups do (components/cluster.PoolLabel).
	PoolLabel = "plinth.dev/pool"
	// GPUResource is the extended resource the NVIDIA device plugin advertises.
	GPUResource = "nvidia.com/gpu"
)

// GPUTaint is the taint Plinth puts on GPU pools by default
// (blueprints.DefaultGPUTaint): nvidia.com/gpu=present:NoSchedule.
var GPUTaint = Taint{Key: blueprints.DefaultGPUTaint.Key, Value: blueprints.DefaultGPUTaint.Value, Effect: blueprints.DefaultGPUTaint.Effect}

// Node is a fake node, managed by KWOK: it becomes Ready, and pods bound to
// it are marked Running without running anything.
type Node struct {
	// Name is the node name (required).
	Name string
	// Labels are added to the standard ones (kubernetes.io/hostname,
	// kubernetes.io/os, kubernetes.io/arch, type=kwok, the instance type, and
	// for GPU nodes nvidia.com/gpu.present and nvidia.com/gpu.count); a label
	// given here wins.
	Labels map[string]string
	// Taints are the node's taints.
	Taints []Taint
	// CPU and Memory are the capacity (and allocatable) quantities, e.g. "8"
	// and "32Gi" (the defaults).
	CPU, Memory string
	// GPUs is the nvidia.com/gpu capacity (and allocatable); 0 for a CPU node.
	GPUs int
	// InstanceType is the node.kubernetes.io/instance-type label (optional).
	InstanceType string
}

// Taint is a node taint.
type Taint struct {
	Key, Value string
	// Effect is NoSchedule, PreferNoSchedule or NoExecute.
	Effect string
}

// Default node capacity.
const (
	DefaultCPU    = "8"
	DefaultMemory = "32Gi"
	DefaultPods   = "110"
)

// AddNodes creates fake nodes and waits until KWOK has made each Ready,
// failing the test on error.
func (c *Cluster) AddNodes(t TestingT, nodes ...Node) {
	helper(t)
	if err := c.AddNodesE(nodes...); err != nil {
		t.Fatal(err)
	}
}

// AddNodesE creates fake nodes and waits (up to 60s) until KWOK has made
// each Ready. Capacity is set when the node is created, so nvidia.com/gpu is
// schedulable at once.
func (c *Cluster) AddNodesE(nodes ...Node) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.addNodes(ctx, nodes); err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	return nil
}

func (c *Cluster) addNodes(ctx context.Context, nodes []Node) error {
	for _, n := range nodes {
		obj, err := nodeObject(n)
		if err != nil {
			return err
		}
		var created nodeStatus
		if err := c.request(ctx, http.MethodPost, "/api/v1/nodes", obj, &created); err != nil {
			return fmt.Errorf("create node %s: %w", n.Name, err)
		}
		if n.GPUs > 0 && created.Status.Capacity[GPUResource] != strconv.Itoa(n.GPUs) {
			return fmt.Errorf("create node %s: the API server dropped its %s capacity", n.Name, GPUResource)
		}
	}
	for _, n := range nodes {
		path := "/api/v1/nodes/" + n.Name
		if err := c.waitFor(ctx, Kwok, "to make node "+n.Name+" Ready", func() bool {
			var got nodeStatus
			return c.request(ctx, http.MethodGet, path, nil, &got) == nil && got.ready()
		}); err != nil {
			return err
		}
	}
	c.logf("localcluster: %d node(s) Ready", len(nodes))
	return nil
}

// nodeObject renders a Node as a core/v1 Node with its status: KWOK keeps
// the capacity and allocatable it finds, and sets the conditions.
func nodeObject(n Node) (map[string]any, error) {
	if n.Name == "" {
		return nil, errors.New("node name is required")
	}
	labels := map[string]string{
		"kubernetes.io/hostname": n.Name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
		"type":                   "kwok",
	}
	if n.InstanceType != "" {
		labels[InstanceTypeLabel] = n.InstanceType
	}
	cpu, mem := n.CPU, n.Memory
	if cpu == "" {
		cpu = DefaultCPU
	}
	if mem == "" {
		mem = DefaultMemory
	}
	resources := map[string]string{"cpu": cpu, "memory": mem, "pods": DefaultPods}
	if n.GPUs < 0 {
		return nil, fmt.Errorf("node %s: GPUs must not be negative", n.Name)
	}
	if n.GPUs > 0 {
		resources[GPUResource] = strconv.Itoa(n.GPUs)
		labels["nvidia.com/gpu.present"] = "true"
		labels["nvidia.com/gpu.count"] = strconv.Itoa(n.GPUs)
	}
	maps.Copy(labels, n.Labels)
	taints := make([]map[string]string, 0, len(n.Taints))
	for _, t := range n.Taints {
		if t.Key == "" || t.Effect == "" {
			return nil, fmt.Errorf("node %s: a taint needs a key and an effect", n.Name)
		}
		taints = append(taints, map[string]string{"key": t.Key, "value": t.Value, "effect": t.Effect})
	}
	return map[string]any{
		"apiVersion": "v1",
		"kind":       "Node",
		"metadata": map[string]any{
			"name":        n.Name,
			"labels":      labels,
			"annotations": map[string]string{FakeNodeAnnotation: FakeNodeValue, "node.alpha.kubernetes.io/ttl": "0"},
		},
		"spec":   map[string]any{"taints": taints},
		"status": map[string]any{"capacity": resources, "allocatable": resources},
	}, nil
}

// nodeStatus is the part of a Node the harness reads.
type nodeStatus struct {
	Status struct {
		Capacity   map[string]string `json:"capacity"`
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
	} `json:"status"`
}

func (n nodeStatus) ready() bool {
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

// instanceSizes gives fake nodes the vCPUs and memory of common instance
// types; others get DefaultCPU/DefaultMemory.
var instanceSizes = map[string][2]string{
	"m6i.large": {"2", "8Gi"}, "m6i.xlarge": {"4", "16Gi"}, "m6i.2xlarge": {"8", "32Gi"}, "m6i.4xlarge": {"16", "64Gi"},
	"m7i.large": {"2", "8Gi"}, "m7i.xlarge": {"4", "16Gi"}, "m7i.2xlarge": {"8", "32Gi"},
	"g4dn.xlarge": {"4", "16Gi"}, "g5.xlarge": {"4", "16Gi"}, "g5.2xlarge": {"8", "32Gi"}, "g5.12xlarge": {"48", "192Gi"}, "g5.48xlarge": {"192", "768Gi"},
	"g6.xlarge": {"4", "16Gi"}, "g6.2xlarge": {"8", "32Gi"}, "g6.12xlarge": {"48", "192Gi"}, "g6.48xlarge": {"192", "768Gi"},
	"g6e.xlarge": {"4", "32Gi"}, "g6e.48xlarge": {"192", "1536Gi"},
	"p4d.24xlarge": {"96", "1152Gi"}, "p4de.24xlarge": {"96", "1152Gi"},
	"p5.4xlarge": {"16", "256Gi"}, "p5.48xlarge": {"192", "2048Gi"}, "p5e.48xlarge": {"192", "2048Gi"}, "p5en.48xlarge": {"192", "2048Gi"},
	"p6-b200.48xlarge": {"192", "2048Gi"},
}

// NodesFromPools returns fake nodes for a blueprint's pools (after
// Environment.Defaults):
//   - system pool: max(min, 1) CPU nodes system-0, system-1, ... of its
//     instance type, labelled plinth.dev/pool=system;
//   - each GPU pool: max(minSize, 1) nodes <pool>-0, ... cycling through its
//     instance types, with the GPU count of the type from the catalogue
//     (nil: catalog.Default()), the pool's labels plus plinth.dev/pool=<pool>
//     and nvidia.com/gpu.product=<model>, and its taints (none given: GPUTaint).
//
// system may be nil (no system nodes). An instance type the catalogue does
// not know is an error, since its GPU count would be a guess.
func NodesFromPools(system *blueprints.NodePool, gpuPools []blueprints.GPUNodePool, cat *catalog.Catalog) ([]Node, error) {
	if cat == nil {
		var err error
		if cat, err = catalog.Default(); err != nil {
			return nil, err
		}
	}
	var nodes []Node
	if system != nil {
		count := 1
		if system.Min != nil && *system.Min > 1 {
			count = *system.Min
		}
		for i := range count {
			n := Node{
				Name:         fmt.Sprintf("system-%d", i),
				InstanceType: system.InstanceType,
				Labels:       map[string]string{PoolLabel: "system"},
			}
			if s, ok := instanceSizes[system.InstanceType]; ok {
				n.CPU, n.Memory = s[0], s[1]
			}
			nodes = append(nodes, n)
		}
	}
	for _, p := range gpuPools {
		if len(p.InstanceTypes) == 0 {
			return nil, fmt.Errorf("GPU pool %q has no instance types", p.Name)
		}
		count := 1
		if p.MinSize != nil && *p.MinSize > 1 {
			count = *p.MinSize
		}
		taints := make([]Taint, 0, len(p.Taints))
		for _, t := range p.Taints {
			taints = append(taints, Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
		}
		if len(taints) == 0 {
			taints = []Taint{GPUTaint}
		}
		for i := range count {
			it := p.InstanceTypes[i%len(p.InstanceTypes)]
			gt, ok := cat.GPUType(it)
			if !ok {
				return nil, fmt.Errorf("GPU pool %q: instance type %q is not in the catalogue", p.Name, it)
			}
			labels := map[string]string{PoolLabel: p.Name, "nvidia.com/gpu.product": gt.GPUModel}
			if gt.Arch == "arm64" {
				labels["kubernetes.io/arch"] = "arm64"
			}
			maps.Copy(labels, p.Labels)
			n := Node{
				Name:         fmt.Sprintf("%s-%d", p.Name, i),
				InstanceType: it,
				GPUs:         gt.GPUs,
				Labels:       labels,
				Taints:       taints,
			}
			if s, ok := instanceSizes[it]; ok {
				n.CPU, n.Memory = s[0], s[1]
			}
			nodes = append(nodes, n)
		}
	}
	return nodes, nil
}
