package policies

import (
	"slices"
	"testing"
)

const (
	idAllowlist = "cost.gpu-instance-allowlist"
	idMaxGPUs   = "cost.max-gpus"
	idSpot      = "cost.spot-policy"
	idIdleGPU   = "cost.idle-gpu-alert"
)

// nodeGroup is an EKS node group fixture; GPU groups get the NVIDIA AMI.
func nodeGroup(name string, maxSize int, capacity string, types ...string) *Resource {
	ami := "AL2023_x86_64_STANDARD"
	for _, t := range types {
		if isGPUType(t) {
			ami = "AL2023_x86_64_NVIDIA"
		}
	}
	return res(typeNodeGroup, name, map[string]any{
		"amiType": ami, "capacityType": capacity, "instanceTypes": types,
		"scalingConfig": map[string]any{"minSize": 0, "desiredSize": 0, "maxSize": maxSize},
	})
}

func prometheusRule(name, alert, expr string) *Resource {
	return res(typePrometheusRule, name, map[string]any{
		"metadata": map[string]any{"name": name, "namespace": "monitoring"},
		"spec": map[string]any{"groups": []any{map[string]any{"name": "gpu", "rules": []any{
			map[string]any{"alert": alert, "expr": expr, "for": "30m", "labels": map[string]any{"severity": "warning"}},
		}}}},
	})
}

func settingsOverride(id string, settings map[string]any) *Config {
	return &Config{Policies: map[string]PolicyConfig{id: {Settings: settings}}}
}

func TestCostPolicies(t *testing.T) {
	system := nodeGroup("system", 6, "ON_DEMAND", "m6i.xlarge")
	runCases(t, []policyCase{
		// gpu-instance-allowlist
		{name: "dev p5", policy: idAllowlist, rs: []*Resource{nodeGroup("train", 1, "SPOT", "p5.48xlarge")}, want: []string{"train"}, enf: Advisory, contains: "p5.48xlarge"},
		{name: "dev p4d and g6", policy: idAllowlist, rs: []*Resource{nodeGroup("train", 2, "SPOT", "p4d.24xlarge"), nodeGroup("infer", 2, "ON_DEMAND", "g6.xlarge", "g6.2xlarge"), system}},
		{name: "staging p5 allowed, p5en not", policy: idAllowlist, class: ClassStaging, rs: []*Resource{nodeGroup("a", 1, "ON_DEMAND", "p5.48xlarge"), nodeGroup("b", 1, "ON_DEMAND", "p5en.48xlarge")}, want: []string{"b"}, enf: Advisory},
		{name: "prod catalogue family", policy: idAllowlist, class: ClassProd, rs: []*Resource{nodeGroup("train", 1, "ON_DEMAND", "p6-b200.48xlarge"), nodeGroup("old", 1, "ON_DEMAND", "p3.16xlarge")}},
		{name: "prod family outside the catalogue", policy: idAllowlist, class: ClassProd, rs: []*Resource{nodeGroup("train", 1, "ON_DEMAND", "p9.48xlarge")}, want: []string{"train"}, enf: Mandatory},
		{name: "dev narrowed by config", policy: idAllowlist, cfg: settingsOverride(idAllowlist, map[string]any{"allowedFamilies": []any{"g5"}}), rs: []*Resource{nodeGroup("train", 2, "SPOT", "p4d.24xlarge"), nodeGroup("infer", 2, "ON_DEMAND", "g5.xlarge"), system}, want: []string{"train"}, enf: Advisory},

		// max-gpus: p4d.24xlarge has 8 GPUs.
		{name: "dev at the cap", policy: idMaxGPUs, rs: []*Resource{nodeGroup("train", 2, "SPOT", "p4d.24xlarge"), system}},
		{name: "dev over the cap", policy: idMaxGPUs, rs: []*Resource{nodeGroup("train", 2, "SPOT", "p4d.24xlarge"), nodeGroup("infer", 1, "ON_DEMAND", "g6.xlarge")}, want: []string{""}, enf: Mandatory, contains: "17 GPUs"},
		{name: "largest type counts", policy: idMaxGPUs, class: ClassStaging, rs: []*Resource{nodeGroup("infer", 5, "ON_DEMAND", "g5.xlarge", "g5.48xlarge")}, want: []string{""}, enf: Mandatory, contains: "40 GPUs"},
		{name: "prod 64", policy: idMaxGPUs, class: ClassProd, rs: []*Resource{nodeGroup("train", 8, "ON_DEMAND", "p5.48xlarge")}},
		{name: "prod 72", policy: idMaxGPUs, class: ClassProd, rs: []*Resource{nodeGroup("train", 9, "ON_DEMAND", "p5.48xlarge")}, want: []string{""}, enf: Mandatory},
		{name: "cap lowered by config", policy: idMaxGPUs, cfg: settingsOverride(idMaxGPUs, map[string]any{"maxGPUs": 8}), rs: []*Resource{nodeGroup("train", 2, "SPOT", "p4d.24xlarge")}, want: []string{""}, enf: Mandatory, contains: "maxGPUs 8"},
		{name: "uncountable GPU type", policy: idMaxGPUs, rs: []*Resource{nodeGroup("train", 2, "SPOT", "p9.48xlarge")}, want: []string{"train"}, enf: Mandatory, contains: "not in the region catalogue"},

		// spot-policy
		{name: "dev spot", policy: idSpot, rs: []*Resource{nodeGroup("train", 2, "SPOT", "p4d.24xlarge")}},
		{name: "prod spot", policy: idSpot, class: ClassProd, rs: []*Resource{nodeGroup("train", 2, "SPOT", "p4d.24xlarge"), nodeGroup("infer", 2, "ON_DEMAND", "g6.xlarge")}, want: []string{"train"}, enf: Advisory},
		{name: "prod spot made mandatory", policy: idSpot, class: ClassProd, cfg: &Config{Policies: map[string]PolicyConfig{idSpot: {Enforcement: Mandatory}}}, rs: []*Resource{nodeGroup("train", 2, "SPOT", "p4d.24xlarge")}, want: []string{"train"}, enf: Mandatory},
		{name: "prod on demand", policy: idSpot, class: ClassProd, rs: []*Resource{nodeGroup("infer", 2, "ON_DEMAND", "g6.xlarge"), res(typeNodeGroup, "default", map[string]any{"instanceTypes": []any{"m6i.large"}})}},
		{name: "dev spot required", policy: idSpot, cfg: settingsOverride(idSpot, map[string]any{"spot": "required"}), rs: []*Resource{nodeGroup("train", 2, "ON_DEMAND", "p4d.24xlarge"), nodeGroup("cheap", 2, "SPOT", "g5.xlarge"), system}, want: []string{"train"}, enf: Advisory},
		{name: "bad setting", policy: idSpot, cfg: settingsOverride(idSpot, map[string]any{"spot": "sometimes"}), rs: []*Resource{system}, want: []string{""}, enf: Advisory, contains: "sometimes"},

		// idle-gpu-alert
		{name: "no rule", policy: idIdleGPU, rs: []*Resource{nodeGroup("train", 2, "SPOT", "p4d.24xlarge"), system}, want: []string{"train"}, enf: Advisory},
		{name: "prod no rule", policy: idIdleGPU, class: ClassProd, rs: []*Resource{nodeGroup("train", 2, "ON_DEMAND", "p5.48xlarge"), prometheusRule("node", "NodeDown", "up == 0")}, want: []string{"train"}, enf: Advisory},
		{name: "alert name", policy: idIdleGPU, class: ClassProd, rs: []*Resource{nodeGroup("train", 2, "ON_DEMAND", "p5.48xlarge"), prometheusRule("gpu", "GPUIdle", "avg_over_time(gpu_busy[30m]) < 0.05")}},
		{name: "dcgm expression", policy: idIdleGPU, rs: []*Resource{nodeGroup("train", 2, "SPOT", "p4d.24xlarge"), prometheusRule("gpu", "UnderusedNode", "avg by (Hostname) (avg_over_time(DCGM_FI_DEV_GPU_UTIL[1h])) < 5")}},
		{name: "no GPU node groups", policy: idIdleGPU, rs: []*Resource{system}},
	})
}

func TestGPUNodeGroupDetection(t *testing.T) {
	for _, tc := range []struct {
		r    *Resource
		want bool
	}{
		{nodeGroup("a", 1, "", "g6e.xlarge"), true},
		{nodeGroup("b", 1, "", "m7i.large"), false},
		{res(typeNodeGroup, "c", map[string]any{"amiType": "BOTTLEROCKET_x86_64_NVIDIA"}), true},
		{res(typeNodeGroup, "d", map[string]any{"taints": []any{map[string]any{"key": "nvidia.com/gpu", "effect": "NO_SCHEDULE"}}}), true},
		{nodeGroup("e", 1, "", "g7.xlarge"), true}, // not in the catalogue yet
		{nodeGroup("f", 1, "", "inf2.xlarge"), false},
	} {
		if got := isGPUNodeGroup(tc.r); got != tc.want {
			t.Errorf("isGPUNodeGroup(%s %v) = %v", tc.r.Name, tc.r.Strings("instanceTypes"), got)
		}
	}
	prod := byID(t, idAllowlist).Settings["allowedFamilies"][ClassProd].([]string)
	for _, f := range []string{"g4dn", "p4d", "p5", "p5en", "p6-b200"} {
		if !slices.Contains(prod, f) {
			t.Errorf("prod allow-list %v lacks catalogue family %s", prod, f)
		}
	}
}
