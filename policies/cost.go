package policies

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/plinth-dev/plinth/blueprints/catalog"
)

// Type tokens the cost pack reads.
const (
	typeNodeGroup      = "aws:eks/nodeGroup:NodeGroup"
	typePrometheusRule = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
)

// Spot settings of cost.spot-policy.
const (
	spotAllowed   = "allowed"
	spotRequired  = "required"
	spotForbidden = "forbidden"
)

// Default GPU instance families per class (cost.gpu-instance-allowlist).
var (
	devGPUFamilies     = []string{"g4dn", "g5", "g6", "g6e", "gr6", "p4d"}
	stagingGPUFamilies = append(slices.Clone(devGPUFamilies), "p4de", "p5")
)

var (
	catalogOnce sync.Once
	gpuCatalog  *catalog.Catalog
)

// gpuTypes returns the GPU instance types the catalogue knows: the one in
// effect ($PLINTH_CATALOG), else the embedded one.
func gpuTypes() map[string]catalog.GPUInstanceType {
	catalogOnce.Do(func() {
		c, err := catalog.Default()
		if err != nil {
			c, err = catalog.Embedded()
		}
		if err == nil {
			gpuCatalog = c
		}
	})
	if gpuCatalog == nil {
		return nil
	}
	return gpuCatalog.GPUInstanceTypes
}

// catalogueFamilies lists every GPU instance family in the catalogue.
func catalogueFamilies() []string {
	types := make([]string, 0, len(gpuTypes()))
	for t := range gpuTypes() {
		types = append(types, t)
	}
	return catalog.Families(types)
}

// gpuFamilyPattern matches the EC2 families that carry NVIDIA GPUs (g4dn,
// g5, gr6, p4d, p6-b200 ...), for types the catalogue does not know yet.
var gpuFamilyPattern = regexp.MustCompile(`^(g|gr|p)[0-9]`)

// family is an instance type's family (p4d from p4d.24xlarge).
func family(instanceType string) string {
	f, _, _ := strings.Cut(instanceType, ".")
	return f
}

// isGPUType reports whether an instance type carries GPUs.
func isGPUType(t string) bool {
	if _, ok := gpuTypes()[t]; ok {
		return true
	}
	return gpuFamilyPattern.MatchString(family(t))
}

// isGPUNodeGroup reports whether a node group runs GPU nodes: a GPU
// instance type, a GPU AMI, or the nvidia.com/gpu taint.
func isGPUNodeGroup(r *Resource) bool {
	for _, t := range r.Strings("instanceTypes") {
		if isGPUType(t) {
			return true
		}
	}
	ami := strings.ToUpper(r.String("amiType"))
	if strings.Contains(ami, "NVIDIA") || strings.Contains(ami, "GPU") {
		return true
	}
	for _, t := range listAt(r.Inputs, "taints") {
		if m, _ := t.(map[string]any); m["key"] == "nvidia.com/gpu" {
			return true
		}
	}
	return false
}

// gpuNodeGroups returns the GPU node groups.
func gpuNodeGroups(in *Input) []*Resource {
	var out []*Resource
	for _, r := range ofType(in, typeNodeGroup) {
		if isGPUNodeGroup(r) {
			out = append(out, r)
		}
	}
	return out
}

// gpusPerNode is the most GPUs one node of the group can carry, from the
// catalogue; unknown lists instance types the catalogue does not know.
func gpusPerNode(r *Resource) (n int, unknown []string) {
	for _, t := range r.Strings("instanceTypes") {
		if t == Unknown {
			unknown = append(unknown, t)
			continue
		}
		g, ok := gpuTypes()[t]
		if !ok {
			if isGPUType(t) {
				unknown = append(unknown, t)
			}
			continue
		}
		n = max(n, g.GPUs)
	}
	return n, unknown
}

func costPolicies() []*Policy {
	return []*Policy{
		{
			Pack: PackCost, Name: "gpu-instance-allowlist",
			Description: "GPU node groups use only instance families on the allow-list (setting allowedFamilies): in dev the inexpensive and A100 families, staging adds p4de and p5, prod every family in the region catalogue.",
			Severity:    Medium,
			Remediation: "Pick an instance type of an allowed family in spec.gpuNodePools[].instanceTypes, or widen the allow-list with policies.cost.gpu-instance-allowlist.settings.allowedFamilies.",
			Defaults:    Defaults{ClassDev: Advisory, ClassStaging: Advisory, ClassProd: Mandatory},
			Settings: map[string]Defaultable{"allowedFamilies": {
				ClassDev: slices.Clone(devGPUFamilies), ClassStaging: slices.Clone(stagingGPUFamilies), ClassProd: catalogueFamilies(),
			}},
			Check: func(in *Input, s Settings) []Finding {
				allowed := s.StringList("allowedFamilies")
				return each(in, func(r *Resource) string {
					if !isGPUNodeGroup(r) {
						return ""
					}
					var bad []string
					for _, t := range r.Strings("instanceTypes") {
						if t != Unknown && !slices.Contains(allowed, family(t)) {
							bad = append(bad, t)
						}
					}
					if len(bad) == 0 {
						return ""
					}
					return fmt.Sprintf("GPU node group %s uses %s, outside the allowed families %s", r.Name, strings.Join(bad, ", "), strings.Join(allowed, " "))
				}, typeNodeGroup)
			},
		},
		{
			Pack: PackCost, Name: "max-gpus",
			Description: "The GPUs the environment can scale to — the sum over GPU node groups of scalingConfig.maxSize × GPUs per node (the most of its instance types, from the catalogue) — stay within the setting maxGPUs (dev 16, staging 32, prod 64).",
			Severity:    High,
			Remediation: "Lower spec.gpuNodePools[].maxSize or pick smaller instance types, or raise the cap with policies.cost.max-gpus.settings.maxGPUs once the budget allows.",
			Defaults:    Everywhere(Mandatory),
			Settings:    map[string]Defaultable{"maxGPUs": {ClassDev: 16, ClassStaging: 32, ClassProd: 64}},
			Check: func(in *Input, s Settings) []Finding {
				limit := s.Int("maxGPUs")
				var out []Finding
				total := 0
				var parts []string
				for _, r := range gpuNodeGroups(in) {
					perNode, unknown := gpusPerNode(r)
					if len(unknown) > 0 && perNode == 0 {
						if !slices.Contains(unknown, Unknown) {
							out = append(out, Finding{Resource: r, Message: fmt.Sprintf("GPU node group %s: instance types %s are not in the region catalogue, so its GPUs cannot be counted against the cap", r.Name, strings.Join(unknown, ", "))})
						}
						continue
					}
					maxSize, ok := number(mapAt(r.Inputs, "scalingConfig")["maxSize"])
					if !ok || perNode == 0 {
						continue
					}
					n := int(maxSize) * perNode
					total += n
					parts = append(parts, fmt.Sprintf("%s %d×%d", r.Name, int(maxSize), perNode))
				}
				if total > limit {
					out = append(out, Finding{Message: fmt.Sprintf("GPU node groups can scale to %d GPUs (%s), more than maxGPUs %d", total, strings.Join(parts, " + "), limit)})
				}
				return out
			},
		},
		{
			Pack: PackCost, Name: "spot-policy",
			Description: "Node groups follow the spot setting of the class: allowed (dev, staging), required (every GPU node group is spot) or forbidden (no node group is spot: prod, for on-call safety, since spot GPUs are reclaimed with two minutes' notice). Advisory everywhere by default.",
			Severity:    Low,
			Remediation: "Set spec.gpuNodePools[].capacityType to onDemand where spot is forbidden, or spot where it is required; or change policies.cost.spot-policy.settings.spot.",
			Defaults:    Everywhere(Advisory),
			Settings:    map[string]Defaultable{"spot": {ClassDev: spotAllowed, ClassStaging: spotAllowed, ClassProd: spotForbidden}},
			Check: func(in *Input, s Settings) []Finding {
				mode := s.String("spot")
				switch mode {
				case spotAllowed:
					return nil
				case spotRequired, spotForbidden:
				default:
					return []Finding{{Message: fmt.Sprintf("setting spot is %q; allowed: %s, %s, %s", mode, spotAllowed, spotRequired, spotForbidden)}}
				}
				return each(in, func(r *Resource) string {
					capacity := strings.ToUpper(r.String("capacityType"))
					if capacity == strings.ToUpper(Unknown) {
						return ""
					}
					if capacity == "" {
						capacity = "ON_DEMAND"
					}
					switch {
					case mode == spotForbidden && capacity == "SPOT":
						return fmt.Sprintf("node group %s runs on spot capacity, which is forbidden in this environment", r.Name)
					case mode == spotRequired && capacity != "SPOT" && isGPUNodeGroup(r):
						return fmt.Sprintf("GPU node group %s runs on %s capacity; spot is required in this environment", r.Name, capacity)
					}
					return ""
				}, typeNodeGroup)
			},
		},
		{
			Pack: PackCost, Name: "idle-gpu-alert",
			Description: "When GPU node groups exist, a PrometheusRule has an alert on idle GPUs (alert name mentioning GPU and idle, or an expression on DCGM_FI_DEV_GPU_UTIL), so forgotten GPU nodes do not burn money. Advisory everywhere by default: Plinth's monitoring layer, which will ship this rule, is not built yet.",
			Severity:    Low,
			Remediation: "Deploy the DCGM exporter and a PrometheusRule such as `alert: GPUIdle, expr: avg_over_time(DCGM_FI_DEV_GPU_UTIL[30m]) < 5` (spec.monitoring.gpuMetrics: dcgm once the monitoring layer lands).",
			Defaults:    Everywhere(Advisory),
			Check: func(in *Input, _ Settings) []Finding {
				groups := gpuNodeGroups(in)
				if len(groups) == 0 || hasIdleGPUAlert(in) {
					return nil
				}
				var out []Finding
				for _, r := range groups {
					out = append(out, Finding{Resource: r, Message: fmt.Sprintf("GPU node group %s: no PrometheusRule alerts on idle GPUs", r.Name)})
				}
				return out
			},
		},
	}
}

// hasIdleGPUAlert reports whether a PrometheusRule alerts on idle GPUs.
func hasIdleGPUAlert(in *Input) bool {
	for _, r := range ofType(in, typePrometheusRule) {
		for _, g := range listAt(mapAt(r.Inputs, "spec"), "groups") {
			gm, _ := g.(map[string]any)
			for _, rule := range listAt(gm, "rules") {
				rm, _ := rule.(map[string]any)
				alert, _ := rm["alert"].(string)
				expr, _ := rm["expr"].(string)
				name := strings.ToLower(alert)
				if alert == Unknown || strings.Contains(name, "gpu") && strings.Contains(name, "idle") ||
					strings.Contains(expr, "DCGM_FI_DEV_GPU_UTIL") || strings.Contains(expr, "DCGM_FI_PROF_GR_ENGINE_ACTIVE") {
					return true
				}
			}
		}
	}
	return false
}
