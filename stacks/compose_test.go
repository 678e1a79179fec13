package stacks

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/plinth-dev/plinth/blueprints/catalog"
	"github.com/plinth-dev/plinth/stacks/plan"
)

// planVariant plans a shipped blueprint offline with overrides applied.
func planVariant(t *testing.T, blueprint string, overrides map[string]any) *OfflinePlan {
	t.Helper()
	cat, err := catalog.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{ConfigBlueprint: "blueprints/" + blueprint + ".yaml"}
	if len(overrides) > 0 {
		raw, err := json.Marshal(overrides)
		if err != nil {
			t.Fatal(err)
		}
		values[ConfigOverrides] = string(raw)
	}
	cfg := BlueprintConfig{Stack: "test", Blueprint: values[ConfigBlueprint], Overrides: overrides}
	p, err := PlanOffline(cfg, values, nil, cat)
	if err != nil {
		t.Fatalf("plan %s %v: %v", blueprint, overrides, err)
	}
	return p
}

func get(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[p]
	}
	return cur
}

func TestSubnetsSpreadAcrossEveryAZ(t *testing.T) {
	tests := []struct {
		name      string
		overrides map[string]any
		want      []string
	}{
		{"dev default count", map[string]any{"spec.network.availabilityZones": 2}, []string{"us-east-1a", "us-east-1b"}},
		{"three", nil, []string{"us-east-1a", "us-east-1b", "us-east-1c"}},
		{"six", map[string]any{"spec.network.availabilityZones": 6}, []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"}},
		{"named", map[string]any{"spec.network.availabilityZones": []string{"us-east-1d", "us-east-1f"}}, []string{"us-east-1d", "us-east-1f"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planVariant(t, "gpu-training", tt.overrides)
			subnets := p.Graph.ByType("aws:ec2/subnet:Subnet")
			if len(subnets) != 2*len(tt.want) {
				t.Fatalf("%d subnets, want %d (one public and one private per AZ)", len(subnets), 2*len(tt.want))
			}
			perAZ := map[string]int{}
			for _, s := range subnets {
				perAZ[fmt.Sprint(s.Inputs["availabilityZone"])]++
			}
			for _, az := range tt.want {
				if perAZ[az] != 2 {
					t.Errorf("AZ %s has %d subnets, want 2 (got %v)", az, perAZ[az], perAZ)
				}
			}
		})
	}
}

func TestNATGatewaysFollowTheBlueprint(t *testing.T) {
	for mode, want := range map[string]int{"none": 0, "single": 1, "perAz": 3} {
		t.Run(mode, func(t *testing.T) {
			p := planVariant(t, "gpu-training", map[string]any{"spec.network.natGateways": mode})
			if n := len(p.Graph.ByType("aws:ec2/natGateway:NatGateway")); n != want {
				t.Errorf("%d NAT gateways, want %d", n, want)
			}
		})
	}
}

func TestIMDSv2RequiredOnEveryNode(t *testing.T) {
	for _, bp := range []string{"gpu-training", "production"} {
		p := planVariant(t, bp, nil)
		lts := p.Graph.ByType("aws:ec2/launchTemplate:LaunchTemplate")
		// One for the system pool and one per GPU pool.
		if want := 1 + len(p.Env.Spec.GPUNodePools); len(lts) != want {
			t.Fatalf("%s: %d launch templates, want %d", bp, len(lts), want)
		}
		for _, lt := range lts {
			if got := get(lt.Inputs, "metadataOptions", "httpTokens"); got != "required" {
				t.Errorf("%s: launch template %s httpTokens = %v, want required", bp, lt.Name, got)
			}
		}
	}
}

func TestGPUPoolTaints(t *testing.T) {
	tests := []struct {
		name      string
		overrides map[string]any
		want      int
	}{
		{"default taint", map[string]any{"spec.gpuNodePools[0].taints": nil}, 1},
		{"explicit no taints", map[string]any{"spec.gpuNodePools[0].taints": []any{}}, 0},
		{"two taints", map[string]any{"spec.gpuNodePools[0].taints": []any{
			map[string]any{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
			map[string]any{"key": "team", "value": "ml", "effect": "NoExecute"},
		}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planVariant(t, "gpu-training", tt.overrides)
			ng := p.Graph.Find("aws:eks/nodeGroup:NodeGroup", "gpu-training-train")
			if ng == nil {
				t.Fatal("no node group for pool train")
			}
			taints, _ := ng.Inputs["taints"].([]any)
			if len(taints) != tt.want {
				t.Fatalf("%d taints, want %d: %v", len(taints), tt.want, ng.Inputs["taints"])
			}
			if tt.want > 0 {
				first := taints[0].(map[string]any)
				if first["key"] != "nvidia.com/gpu" || first["effect"] != "NO_SCHEDULE" {
					t.Errorf("first taint = %v", first)
				}
			}
		})
	}
}

func TestCapacityTypeAndAMI(t *testing.T) {
	for capacity, want := range map[string]string{"spot": "SPOT", "onDemand": "ON_DEMAND"} {
		p := planVariant(t, "gpu-training", map[string]any{"spec.gpuNodePools[0].capacityType": capacity})
		ng := p.Graph.Find("aws:eks/nodeGroup:NodeGroup", "gpu-training-train")
		if ng.Inputs["capacityType"] != want {
			t.Errorf("capacityType %s → %v, want %s", capacity, ng.Inputs["capacityType"], want)
		}
		if ng.Inputs["amiType"] != "AL2023_x86_64_NVIDIA" {
			t.Errorf("amiType = %v", ng.Inputs["amiType"])
		}
	}
}

func TestBucketsAreNeverPublic(t *testing.T) {
	for _, bp := range []string{"gpu-training", "production"} {
		p := planVariant(t, bp, nil)
		buckets := p.Graph.ByType("aws:s3/bucketV2:BucketV2")
		blocks := p.Graph.ByType("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
		if len(buckets) != len(p.Env.Spec.Storage.Buckets) || len(blocks) != len(buckets) {
			t.Fatalf("%s: %d buckets, %d public access blocks, want %d each", bp, len(buckets), len(blocks), len(p.Env.Spec.Storage.Buckets))
		}
		for _, b := range blocks {
			for _, flag := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
				if b.Inputs[flag] != true {
					t.Errorf("%s: %s %s = %v", bp, b.Name, flag, b.Inputs[flag])
				}
			}
		}
		if n := len(p.Graph.ByType("aws:s3/bucketAclV2:BucketAclV2")); n != 0 {
			t.Errorf("%s: %d bucket ACLs; buckets must not have ACLs", bp, n)
		}
	}
}

func TestDatabase(t *testing.T) {
	tests := []struct {
		name                       string
		blueprint                  string
		overrides                  map[string]any
		multiAZ, deletionProtected bool
	}{
		{"dev", "gpu-training", nil, false, false},
		{"dev with protection", "gpu-training", map[string]any{"spec.tracking.database.deletionProtection": true, "spec.tracking.database.multiAz": true}, true, true},
		{"prod", "production", nil, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planVariant(t, tt.blueprint, tt.overrides)
			dbs := p.Graph.ByType("aws:rds/instance:Instance")
			if len(dbs) != 1 {
				t.Fatalf("%d databases, want 1", len(dbs))
			}
			db := dbs[0]
			if db.Inputs["publiclyAccessible"] != false {
				t.Errorf("publiclyAccessible = %v, want false", db.Inputs["publiclyAccessible"])
			}
			if db.Inputs["storageEncrypted"] != true {
				t.Errorf("storageEncrypted = %v", db.Inputs["storageEncrypted"])
			}
			if db.Inputs["multiAz"] != tt.multiAZ || db.Inputs["deletionProtection"] != tt.deletionProtected || db.Protect != tt.deletionProtected {
				t.Errorf("multiAz %v deletionProtection %v protect %v, want %v %v %v", db.Inputs["multiAz"], db.Inputs["deletionProtection"], db.Protect, tt.multiAZ, tt.deletionProtected, tt.deletionProtected)
			}
			if db.Inputs["password"] != plan.Secret {
				t.Errorf("password = %v, want it secret", db.Inputs["password"])
			}
		})
	}
}

func TestTrackingDisabledMeansNoDatabase(t *testing.T) {
	p := planVariant(t, "gpu-training", map[string]any{"spec.tracking.enabled": false, "spec.monitoring.grafana.dashboards": []string{"gpu", "cluster"}})
	if n := len(p.Graph.ByType("aws:rds/instance:Instance")); n != 0 {
		t.Errorf("%d databases with tracking off", n)
	}
}

func TestEndpointAccess(t *testing.T) {
	for access, want := range map[string][2]bool{"private": {true, false}, "public": {false, true}, "both": {true, true}} {
		p := planVariant(t, "gpu-training", map[string]any{"spec.cluster.endpointAccess": access})
		c := p.Graph.ByType("aws:eks/cluster:Cluster")[0]
		got := [2]any{get(c.Inputs, "vpcConfig", "endpointPrivateAccess"), get(c.Inputs, "vpcConfig", "endpointPublicAccess")}
		if got[0] != want[0] || got[1] != want[1] {
			t.Errorf("%s: private/public = %v, want %v", access, got, want)
		}
	}
}

func TestEveryTaggableResourceIsTagged(t *testing.T) {
	p := planVariant(t, "production", nil)
	tagged := 0
	for _, r := range p.Graph.Resources {
		tags, ok := r.Inputs["tags"].(map[string]any)
		if !ok {
			continue
		}
		tagged++
		for _, k := range []string{"owner", "cost-center", "environment", EnvironmentTag} {
			if _, ok := tags[k]; !ok {
				t.Errorf("%s %s lacks tag %s", r.Type, r.Name, k)
			}
		}
	}
	if tagged < 20 {
		t.Errorf("only %d resources carry tags", tagged)
	}
}

func TestRegistryUsesKMSInProd(t *testing.T) {
	for bp, want := range map[string]string{"gpu-training": "AES256", "production": "KMS"} {
		p := planVariant(t, bp, nil)
		for _, r := range p.Graph.ByType("aws:ecr/repository:Repository") {
			enc, _ := r.Inputs["encryptionConfigurations"].([]any)
			if len(enc) != 1 || enc[0].(map[string]any)["encryptionType"] != want {
				t.Errorf("%s: %s encryption = %v, want %s", bp, r.Name, r.Inputs["encryptionConfigurations"], want)
			}
		}
	}
}

func TestKubernetesLayer(t *testing.T) {
	tests := []struct {
		blueprint    string
		statefulSets int  // in-cluster PostgreSQL only without the AWS layer
		irsa         bool // MLflow's service account assumes the IRSA role on aws
	}{
		{"local", 1, false},
		{"gpu-training", 0, true},
		{"production", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.blueprint, func(t *testing.T) {
			p := planVariant(t, tt.blueprint, nil)
			namespaces := map[string]bool{}
			for _, ns := range p.Graph.ByType("kubernetes:core/v1:Namespace") {
				namespaces[fmt.Sprint(get(ns.Inputs, "metadata", "name"))] = true
			}
			for _, want := range []string{"plinth-gpu", "plinth-tracking", "plinth-monitoring"} {
				if !namespaces[want] {
					t.Errorf("namespace %s missing (have %v)", want, namespaces)
				}
			}
			if n := len(p.Graph.ByType("kubernetes:apps/v1:StatefulSet")); n != tt.statefulSets {
				t.Errorf("%d StatefulSets, want %d", n, tt.statefulSets)
			}
			// The device plugin runs only on the blueprint's GPU pools.
			pools := map[string]bool{}
			for _, pool := range p.Env.Spec.GPUNodePools {
				pools[pool.Name] = true
			}
			plugins := 0
			for _, ds := range p.Graph.ByType("kubernetes:apps/v1:DaemonSet") {
				name := fmt.Sprint(get(ds.Inputs, "metadata", "name"))
				if len(name) < len("nvidia-device-plugin") || name[:len("nvidia-device-plugin")] != "nvidia-device-plugin" {
					continue
				}
				plugins++
				terms, _ := get(ds.Inputs, "spec", "template", "spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms").([]any)
				if len(terms) == 0 {
					t.Fatalf("%s has no required node affinity", name)
				}
				for _, term := range terms {
					for _, e := range term.(map[string]any)["matchExpressions"].([]any) {
						expr := e.(map[string]any)
						if expr["key"] != PoolLabel {
							continue
						}
						for _, v := range expr["values"].([]any) {
							if !pools[fmt.Sprint(v)] {
								t.Errorf("%s selects pool %v, not in the blueprint", name, v)
							}
						}
					}
				}
			}
			if plugins != len(pools) {
				t.Errorf("%d device plugin DaemonSets for %d pools", plugins, len(pools))
			}
			var mlflow *plan.Resource
			for _, d := range p.Graph.ByType("kubernetes:apps/v1:Deployment") {
				if get(d.Inputs, "metadata", "name") == "mlflow" {
					mlflow = d
				}
			}
			if mlflow == nil {
				t.Fatal("no MLflow Deployment")
			}
			if got := get(mlflow.Inputs, "metadata", "labels", "plinth.dev/auth"); got != "basic" {
				t.Errorf("MLflow auth label = %v, want basic", got)
			}
			irsa := false
			for _, sa := range p.Graph.ByType("kubernetes:core/v1:ServiceAccount") {
				if get(sa.Inputs, "metadata", "annotations", "eks.amazonaws.com/role-arn") != nil {
					irsa = true
				}
			}
			if irsa != tt.irsa {
				t.Errorf("IRSA annotation present = %v, want %v", irsa, tt.irsa)
			}
			releases := p.Graph.ByType("kubernetes:helm.sh/v3:Release")
			if len(releases) == 0 {
				t.Error("no Helm releases (monitoring)")
			}
			for _, r := range releases {
				if v, _ := r.Inputs["version"].(string); v == "" || v == "TODO" {
					t.Errorf("release %s is not pinned: version %v", r.Name, r.Inputs["version"])
				}
			}
		})
	}
}

func TestChartsMirror(t *testing.T) {
	p := planVariant(t, "gpu-training", map[string]any{"spec.charts.repository": "https://charts.mirror.example.internal"})
	for _, r := range p.Graph.ByType("kubernetes:helm.sh/v3:Release") {
		repo := get(r.Inputs, "repositoryOpts", "repo")
		chart := fmt.Sprint(r.Inputs["chart"])
		if repo != "https://charts.mirror.example.internal" {
			t.Errorf("release %s: repository %v, chart %s; want the mirror", r.Name, repo, chart)
		}
	}
}
