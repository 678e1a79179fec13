# Dev environments keep GPU node groups small.
#
# A dev GPU pool that can scale to dozens of p4d/p5 nodes is a budget
# accident waiting for a runaway job. This rule caps the maxSize of every
# GPU node group (NVIDIA or Neuron AMI, or a nvidia.com/gpu taint) in
# environments of class dev; staging and prod are left to cost.max-gpus.
#
# Change max_dev_gpu_nodes to your budget.
#
# Violations: custom.dev-gpu-pool-size, mandatory, high; scope resource
# (one node group at a time: the engine stops it before it is created).
package plinth

max_dev_gpu_nodes := 4

deny contains {
	"policy": "dev-gpu-pool-size",
	"severity": "high",
	"msg": sprintf("GPU node group %s can grow to %d nodes in dev environment %s; the dev limit is %d", [r.name, size, input.environment.name, max_dev_gpu_nodes]),
	"urn": r.urn,
	"remediation": sprintf("Lower maxSize of the pool in spec.gpuNodePools to %d or less, or run the workload in staging.", [max_dev_gpu_nodes]),
	"scope": "resource",
} if {
	input.environment.class == "dev"
	some r in input.resources
	r.type == "aws:eks/nodeGroup:NodeGroup"
	gpu_node_group(r)
	size := r.inputs.scalingConfig.maxSize
	is_number(size)
	size > max_dev_gpu_nodes
}

gpu_node_group(r) if contains(r.inputs.amiType, "NVIDIA")

gpu_node_group(r) if contains(r.inputs.amiType, "NEURON")

gpu_node_group(r) if {
	some taint in r.inputs.taints
	taint.key == "nvidia.com/gpu"
}
