package blueprints

import (
	"errors"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/blueprints/catalog"
)

func testCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// checkVariant loads a shipped blueprint with overrides applied, then
// defaults and validates it.
func checkVariant(t *testing.T, base string, overrides map[string]any) error {
	t.Helper()
	data, ok := Shipped(base)
	if !ok {
		t.Fatalf("no shipped blueprint %q", base)
	}
	_, err := CheckBytes("blueprints/"+base+".yaml", data, LoadOptions{Overrides: overrides, OverridesOrigin: "test overrides"}, testCatalog(t))
	return err
}

// TestValidationRules has, for every rule, a variant that breaks it (and
// must fail at the given path with the given words) and one that keeps it
// (and must pass).
func TestValidationRules(t *testing.T) {
	type variant = map[string]any
	tests := []struct {
		rule     string
		base     string
		bad      variant
		wantPath string
		wantMsg  string
		good     variant
	}{
		{"apiVersion is v1alpha1", "gpu-training", variant{"apiVersion": "plinth.dev/v1"}, "apiVersion", `allowed: "plinth.dev/v1alpha1"`, variant{"apiVersion": "plinth.dev/v1alpha1"}},
		{"kind is Environment", "gpu-training", variant{"kind": "Cluster"}, "kind", `allowed: "Environment"`, variant{"kind": "Environment"}},
		{"name is required", "gpu-training", variant{"metadata.name": ""}, "metadata.name", "is required", variant{"metadata.name": "x"}},
		{"name is a DNS label", "gpu-training", variant{"metadata.name": "GPU_Training"}, "metadata.name", "DNS-1123", variant{"metadata.name": "gpu-training-2"}},
		{"name is at most 40 chars", "gpu-training", variant{"metadata.name": strings.Repeat("a", 41)}, "metadata.name", "at most 40", variant{"metadata.name": strings.Repeat("a", 30)}},
		{"label keys are Kubernetes names", "gpu-training", variant{"metadata.labels": variant{"bad key": "x"}}, `metadata.labels["bad key"]`, "qualified name", variant{"metadata.labels": variant{"example.com/team": "x"}}},
		{"label values are Kubernetes values", "gpu-training", variant{"metadata.labels.team": "-bad-"}, "metadata.labels.team", "label value", variant{"metadata.labels.team": "good_1"}},
		{"provider is aws or kubernetes", "gpu-training", variant{"spec.provider": "gcp"}, "spec.provider", `allowed: "aws" or "kubernetes"`, variant{"spec.provider": "aws"}},
		{"provider is required", "gpu-training", variant{"spec.provider": nil}, "spec.provider", "is required", variant{}},
		{"aws needs a region", "gpu-training", variant{"spec.region": nil}, "spec.region", "is required for provider aws", variant{"spec.region": "eu-west-1"}},
		{"region is in the catalogue", "gpu-training", variant{"spec.region": "us-east-9"}, "spec.region", "known regions: af-south-1", variant{"spec.region": "us-east-2"}},
		{"region typo gets a suggestion", "gpu-training", variant{"spec.region": "eu-west1"}, "spec.region", `did you mean "eu-west-1"`, variant{"spec.region": "eu-west-1"}},
		{"kubernetes has no region", "local", variant{"spec.region": "us-east-1"}, "spec.region", "provider aws only", variant{}},
		{"owner tag required", "gpu-training", variant{"spec.tags.owner": nil}, "spec.tags.owner", `tag "owner" is required`, variant{"spec.tags.owner": "someone"}},
		{"cost-center tag required", "gpu-training", variant{"spec.tags.cost-center": ""}, "spec.tags.cost-center", `tag "cost-center" is required`, variant{"spec.tags.cost-center": "1"}},
		{"environment class", "gpu-training", variant{"spec.tags.environment": "production"}, "spec.tags.environment", `allowed: "dev", "staging" or "prod"`, variant{"spec.tags.environment": "staging"}},
		{"aws: tag prefix reserved", "gpu-training", variant{"spec.tags[\"aws:x\"]": "y"}, `spec.tags["aws:x"]`, "AWS reserves", variant{"spec.tags[\"x:y\"]": "y"}},
		{"plinth: tag prefix reserved", "gpu-training", variant{"spec.tags[\"plinth:environment\"]": "y"}, `spec.tags["plinth:environment"]`, "Plinth reserves", variant{}},
		{"tag value characters", "gpu-training", variant{"spec.tags.owner": "a;b"}, "spec.tags.owner", "AWS tag value", variant{"spec.tags.owner": "a b@c"}},
		{"cidr is IPv4 CIDR", "gpu-training", variant{"spec.network.cidr": "10.0.0.0"}, "spec.network.cidr", "not an IPv4 CIDR", variant{"spec.network.cidr": "10.1.0.0/16"}},
		{"cidr is /16 to /24", "gpu-training", variant{"spec.network.cidr": "10.0.0.0/12"}, "spec.network.cidr", "allowed: /16 to /24", variant{"spec.network.cidr": "10.0.0.0/24"}},
		{"cidr has no host bits", "gpu-training", variant{"spec.network.cidr": "10.0.1.0/16"}, "spec.network.cidr", `did you mean "10.0.0.0/16"`, variant{"spec.network.cidr": "10.0.0.0/16"}},
		{"az count at least 2", "gpu-training", variant{"spec.network.availabilityZones": 1}, "spec.network.availabilityZones", "allowed: 2 to 6", variant{"spec.network.availabilityZones": 2}},
		{"az count at most 6", "gpu-training", variant{"spec.network.availabilityZones": 7}, "spec.network.availabilityZones", "allowed: 2 to 6", variant{"spec.network.availabilityZones": 6}},
		{"az count within region", "gpu-training", variant{"spec.region": "us-west-1", "spec.gpuNodePools[0].instanceTypes": []string{"g4dn.xlarge"}}, "spec.network.availabilityZones", "us-west-1 has 2 (us-west-1b, us-west-1c)", variant{"spec.region": "us-west-1", "spec.gpuNodePools[0].instanceTypes": []string{"g4dn.xlarge"}, "spec.network.availabilityZones": 2}},
		{"az names belong to region", "gpu-training", variant{"spec.network.availabilityZones": []string{"us-east-1a", "eu-west-1b"}}, "spec.network.availabilityZones[1]", "not an availability zone of us-east-1", variant{"spec.network.availabilityZones": []string{"us-east-1a", "us-east-1f"}}},
		{"az names unique", "gpu-training", variant{"spec.network.availabilityZones": []string{"us-east-1a", "us-east-1a"}}, "spec.network.availabilityZones[1]", "listed twice", variant{"spec.network.availabilityZones": []string{"us-east-1a", "us-east-1b"}}},
		{"az list 2 to 6", "gpu-training", variant{"spec.network.availabilityZones": []string{"us-east-1a"}}, "spec.network.availabilityZones", "1 AZs listed", variant{"spec.network.availabilityZones": []string{"us-east-1a", "us-east-1b", "us-east-1c"}}},
		{"nat mode", "gpu-training", variant{"spec.network.natGateways": "perAZ"}, "spec.network.natGateways", `did you mean "perAz"`, variant{"spec.network.natGateways": "perAz"}},
		{"kubernetes has no network", "local", variant{"spec.network.cidr": "10.0.0.0/16"}, "spec.network", "provider aws only", variant{}},
		{"existing network: ids or terraform", "gpu-training", variant{"spec.network": variant{"existing": variant{}}}, "spec.network.existing", "needs either vpcId", variant{"spec.network": variant{"existing": variant{"vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": []string{"subnet-01234567", "subnet-89abcdef"}}}}},
		{"existing network: not both", "gpu-training", variant{"spec.network": variant{"existing": variant{"vpcId": "vpc-01234567", "fromTerraform": variant{"dir": "lz", "vpcId": "vpc_id", "privateSubnetIds": "private"}}}}, "spec.network.existing", "not both", variant{"spec.network": variant{"existing": variant{"fromTerraform": variant{"dir": "lz", "vpcId": "vpc_id", "privateSubnetIds": "private"}}}}},
		{"existing network: vpc id format", "gpu-training", variant{"spec.network": variant{"existing": variant{"vpcId": "vpc-xyz", "privateSubnetIds": []string{"subnet-01234567", "subnet-89abcdef"}}}}, "spec.network.existing.vpcId", "not a VPC id", variant{}},
		{"existing network: subnet id format", "gpu-training", variant{"spec.network": variant{"existing": variant{"vpcId": "vpc-01234567", "privateSubnetIds": []string{"subnet-01234567", "sub-1"}}}}, "spec.network.existing.privateSubnetIds[1]", "not a subnet id", variant{}},
		{"existing network: two private subnets", "gpu-training", variant{"spec.network": variant{"existing": variant{"vpcId": "vpc-01234567", "privateSubnetIds": []string{"subnet-01234567"}}}}, "spec.network.existing.privateSubnetIds", "at least 2 private subnets", variant{}},
		{"existing network: terraform dir", "gpu-training", variant{"spec.network": variant{"existing": variant{"fromTerraform": variant{"vpcId": "vpc_id", "privateSubnetIds": "private"}}}}, "spec.network.existing.fromTerraform.dir", "is required", variant{}},
		{"existing network: terraform output names", "gpu-training", variant{"spec.network": variant{"existing": variant{"fromTerraform": variant{"dir": "lz", "vpcId": "vpc id", "privateSubnetIds": "private"}}}}, "spec.network.existing.fromTerraform.vpcId", "not a Terraform output name", variant{}},
		{"existing network: no cidr", "gpu-training", variant{"spec.network.existing": variant{"vpcId": "vpc-01234567", "privateSubnetIds": []string{"subnet-01234567", "subnet-89abcdef"}}}, "spec.network.cidr", "cannot be set with spec.network.existing", variant{}},
		{"kubernetes version supported", "gpu-training", variant{"spec.cluster.kubernetesVersion": "1.20"}, "spec.cluster.kubernetesVersion", "is not supported", variant{"spec.cluster.kubernetesVersion": "1.33"}},
		{"kubernetes version major.minor", "gpu-training", variant{"spec.cluster.kubernetesVersion": "1.33.1"}, "spec.cluster.kubernetesVersion", "not a major.minor", variant{}},
		{"endpoint access values", "gpu-training", variant{"spec.cluster.endpointAccess": "open"}, "spec.cluster.endpointAccess", `allowed: "private", "public" or "both"`, variant{"spec.cluster.endpointAccess": "public"}},
		{"prod forbids public endpoint", "production", variant{"spec.cluster.endpointAccess": "public"}, "spec.cluster.endpointAccess", "prod forbids", variant{"spec.cluster.endpointAccess": "private"}},
		{"prod forbids both endpoint", "production", variant{"spec.cluster.endpointAccess": "both"}, "spec.cluster.endpointAccess", "prod forbids", variant{}},
		{"kubeconfig only on kubernetes", "gpu-training", variant{"spec.cluster.kubeconfig": "~/.kube/config"}, "spec.cluster.kubeconfig", "provider kubernetes only", variant{}},
		{"no kubernetes version on kubernetes", "local", variant{"spec.cluster.kubernetesVersion": "1.33"}, "spec.cluster.kubernetesVersion", "provider aws only", variant{}},
		{"system pool max >= min", "gpu-training", variant{"spec.cluster.systemPool.max": 1}, "spec.cluster.systemPool.max", "less than min (2)", variant{"spec.cluster.systemPool.max": 2}},
		{"system pool instance type", "gpu-training", variant{"spec.cluster.systemPool.instanceType": "large"}, "spec.cluster.systemPool.instanceType", "not an EC2 instance type", variant{"spec.cluster.systemPool.instanceType": "m7i.xlarge"}},
		{"pool names unique", "production", variant{"spec.gpuNodePools[1].name": "train"}, "spec.gpuNodePools[1].name", "must be unique", variant{"spec.gpuNodePools[1].name": "serve"}},
		{"pool name is a DNS label", "gpu-training", variant{"spec.gpuNodePools[0].name": "Train"}, "spec.gpuNodePools[0].name", "DNS-1123", variant{"spec.gpuNodePools[0].name": "train-2"}},
		{"pool needs instance types", "gpu-training", variant{"spec.gpuNodePools[0].instanceTypes": []string{}}, "spec.gpuNodePools[0].instanceTypes", "at least one GPU instance type", variant{}},
		{"pool types are GPU types", "gpu-training", variant{"spec.gpuNodePools[0].instanceTypes": []string{"m5.large"}}, "spec.gpuNodePools[0].instanceTypes[0]", "not an NVIDIA GPU instance type", variant{"spec.gpuNodePools[0].instanceTypes": []string{"g5.xlarge"}}},
		{"pool types offered in region", "gpu-training", variant{"spec.region": "af-south-1"}, "spec.gpuNodePools[0].instanceTypes[0]", "not offered in af-south-1; GPU families offered there: g4dn", variant{"spec.region": "eu-west-1"}},
		{"pool types unique", "gpu-training", variant{"spec.gpuNodePools[0].instanceTypes": []string{"p4d.24xlarge", "p4d.24xlarge"}}, "spec.gpuNodePools[0].instanceTypes[1]", "listed twice", variant{}},
		{"capacity type", "gpu-training", variant{"spec.gpuNodePools[0].capacityType": "Spot"}, "spec.gpuNodePools[0].capacityType", `did you mean "spot"`, variant{"spec.gpuNodePools[0].capacityType": "onDemand"}},
		{"max size required", "gpu-training", variant{"spec.gpuNodePools[0].maxSize": nil}, "spec.gpuNodePools[0].maxSize", "is required", variant{"spec.gpuNodePools[0].maxSize": 1}},
		{"max size >= min size", "gpu-training", variant{"spec.gpuNodePools[0].minSize": 3}, "spec.gpuNodePools[0].maxSize", "less than minSize (3)", variant{"spec.gpuNodePools[0].minSize": 2}},
		{"min size not negative", "gpu-training", variant{"spec.gpuNodePools[0].minSize": -1}, "spec.gpuNodePools[0].minSize", "out of range", variant{}},
		{"disk size range", "gpu-training", variant{"spec.gpuNodePools[0].diskSizeGiB": 10}, "spec.gpuNodePools[0].diskSizeGiB", "allowed: 20 to 16384", variant{"spec.gpuNodePools[0].diskSizeGiB": 20}},
		{"sharing modes", "gpu-training", variant{"spec.gpuNodePools[0].gpu.sharing": "mps"}, "spec.gpuNodePools[0].gpu.sharing", `allowed: "none", "timeSlicing" or "mig"`, variant{"spec.gpuNodePools[0].gpu.sharing": "mig"}},
		{"mig needs MIG GPUs", "gpu-training", variant{"spec.gpuNodePools[0].instanceTypes": []string{"g5.xlarge"}, "spec.gpuNodePools[0].gpu.sharing": "mig"}, "spec.gpuNodePools[0].instanceTypes[0]", "cannot be partitioned with MIG", variant{"spec.gpuNodePools[0].instanceTypes": []string{"p5.48xlarge"}, "spec.gpuNodePools[0].gpu.sharing": "mig"}},
		{"replicas only with time slicing", "gpu-training", variant{"spec.gpuNodePools[0].gpu.replicas": 4}, "spec.gpuNodePools[0].gpu.replicas", "timeSlicing only", variant{"spec.gpuNodePools[0].gpu": variant{"sharing": "timeSlicing", "replicas": 4}}},
		{"replicas range", "gpu-training", variant{"spec.gpuNodePools[0].gpu": variant{"sharing": "timeSlicing", "replicas": 1}}, "spec.gpuNodePools[0].gpu.replicas", "allowed: 2 to 48", variant{}},
		{"taint effect", "gpu-training", variant{"spec.gpuNodePools[0].taints[0].effect": "NoSchedul"}, "spec.gpuNodePools[0].taints[0].effect", `did you mean "NoSchedule"`, variant{"spec.gpuNodePools[0].taints[0].effect": "NoExecute"}},
		{"taint key", "gpu-training", variant{"spec.gpuNodePools[0].taints[0].key": "nvidia.com/"}, "spec.gpuNodePools[0].taints[0].key", "qualified name", variant{"spec.gpuNodePools[0].taints[0].key": "example.com/gpu"}},
		{"taints unique", "gpu-training", variant{"spec.gpuNodePools[0].taints": []map[string]string{{"key": "a", "effect": "NoSchedule"}, {"key": "a", "value": "b", "effect": "NoSchedule"}}}, "spec.gpuNodePools[0].taints[1]", "given twice", variant{"spec.gpuNodePools[0].taints": []map[string]string{{"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "NoExecute"}}}},
		{"spot only on aws", "local", variant{"spec.gpuNodePools[0].capacityType": "spot"}, "spec.gpuNodePools[0].capacityType", "provider aws only", variant{}},
		{"bucket name characters", "gpu-training", variant{"spec.storage.buckets[0].name": "Artifacts"}, "spec.storage.buckets[0].name", "lowercase letters", variant{"spec.storage.buckets[0].name": "artifacts-2"}},
		{"bucket name fits S3 length", "gpu-training", variant{"spec.storage.buckets[0].name": strings.Repeat("a", 50)}, "spec.storage.buckets[0].name", "S3 allows 63: shorten it to at most 42", variant{"spec.storage.buckets[0].name": strings.Repeat("a", 42)}},
		{"bucket names unique", "gpu-training", variant{"spec.storage.buckets[1].name": "artifacts"}, "spec.storage.buckets[1].name", "must be unique", variant{}},
		{"bucket purpose", "gpu-training", variant{"spec.storage.buckets[1].purpose": "data"}, "spec.storage.buckets[1].purpose", `allowed: "tracking", "datasets", "models" or "general"`, variant{"spec.storage.buckets[1].purpose": "general"}},
		{"expiry needs versioning", "gpu-training", variant{"spec.storage.buckets[0].versioning": false}, "spec.storage.buckets[0].expireNoncurrentAfterDays", "needs versioning: true", variant{"spec.storage.buckets[0].versioning": false, "spec.storage.buckets[0].expireNoncurrentAfterDays": nil}},
		{"prod requires kms", "production", variant{"spec.storage.buckets[0].encryption": "s3"}, "spec.storage.buckets[0].encryption", `prod requires "kms"`, variant{}},
		{"tracking needs a tracking bucket", "gpu-training", variant{"spec.storage.buckets[0].purpose": "general"}, "spec.storage", "one bucket must have purpose: tracking", variant{"spec.storage.buckets[0].purpose": "general", "spec.tracking.enabled": false, "spec.monitoring.grafana.dashboards": []string{"gpu", "cluster"}}},
		{"one tracking bucket", "gpu-training", variant{"spec.storage.buckets[1].purpose": "tracking"}, "spec.storage.buckets[1].purpose", "only one bucket", variant{}},
		{"no kms on kubernetes", "local", variant{"spec.storage.buckets[0].encryption": "kms"}, "spec.storage.buckets[0].encryption", "provider aws only", variant{}},
		{"repository names", "gpu-training", variant{"spec.registry.repositories[0]": "Training"}, "spec.registry.repositories[0]", "not an ECR repository name", variant{"spec.registry.repositories[0]": "team/training"}},
		{"repositories unique", "gpu-training", variant{"spec.registry.repositories[1]": "training"}, "spec.registry.repositories[1]", "listed twice", variant{}},
		{"keep last images range", "gpu-training", variant{"spec.registry.keepLastImages": 0}, "spec.registry.keepLastImages", "allowed: 1 to 10000", variant{"spec.registry.keepLastImages": 1}},
		{"no registry on kubernetes", "local", variant{"spec.registry.repositories": []string{"x"}}, "spec.registry", "provider aws only", variant{}},
		{"tracking server", "gpu-training", variant{"spec.tracking.server": "wandb"}, "spec.tracking.server", `allowed: "mlflow"`, variant{}},
		{"tracking version pinned", "gpu-training", variant{"spec.tracking.version": "latest"}, "spec.tracking.version", "not a pinned x.y.z", variant{"spec.tracking.version": "2.21.3"}},
		{"no auth only in dev", "gpu-training", variant{"spec.tags.environment": "staging", "spec.tracking.auth": "none"}, "spec.tracking.auth", "allowed in dev only", variant{"spec.tracking.auth": "none"}},
		{"prod requires deletion protection", "production", variant{"spec.tracking.database.deletionProtection": false}, "spec.tracking.database.deletionProtection", "prod requires true", variant{}},
		{"database instance class", "gpu-training", variant{"spec.tracking.database.instanceClass": "t4g.medium"}, "spec.tracking.database.instanceClass", "not an RDS instance class", variant{"spec.tracking.database.instanceClass": "db.r7g.large"}},
		{"database storage range", "gpu-training", variant{"spec.tracking.database.storageGiB": 5}, "spec.tracking.database.storageGiB", "allowed: 20 to 65536", variant{}},
		{"no multi-AZ database on kubernetes", "local", variant{"spec.tracking.database.multiAz": true}, "spec.tracking.database.multiAz", "provider aws only", variant{}},
		{"ingress host", "gpu-training", variant{"spec.tracking.ingress": variant{"host": "not a host"}}, "spec.tracking.ingress.host", "not a DNS name", variant{"spec.tracking.ingress": variant{"host": "mlflow.example.com"}}},
		{"retention is a duration", "gpu-training", variant{"spec.monitoring.prometheus.retention": "15 days"}, "spec.monitoring.prometheus.retention", "not a Prometheus duration", variant{"spec.monitoring.prometheus.retention": "2w3d"}},
		{"gpu dashboard needs dcgm", "gpu-training", variant{"spec.monitoring.gpuMetrics": "none"}, "spec.monitoring.grafana.dashboards[0]", "needs gpuMetrics: dcgm", variant{"spec.monitoring.gpuMetrics": "none", "spec.monitoring.grafana.dashboards": []string{"cluster"}}},
		{"dcgm needs a gpu pool", "gpu-training", variant{"spec.gpuNodePools": []string{}, "spec.ciRunners": []string{}}, "spec.monitoring.gpuMetrics", "needs at least one GPU node pool", variant{"spec.gpuNodePools": []string{}, "spec.ciRunners": []string{}, "spec.monitoring.gpuMetrics": "none", "spec.monitoring.grafana.dashboards": nil}},
		{"dashboard names", "gpu-training", variant{"spec.monitoring.grafana.dashboards[0]": "gpus"}, "spec.monitoring.grafana.dashboards[0]", `did you mean "gpu"`, variant{}},
		{"drift score range", "gpu-training", variant{"spec.monitoring.alerts.modelDriftScore": 1.5}, "spec.monitoring.alerts.modelDriftScore", "above 0, up to 1", variant{"spec.monitoring.alerts.modelDriftScore": 1}},
		{"idle percent range", "gpu-training", variant{"spec.monitoring.alerts.gpuIdlePercent": 101}, "spec.monitoring.alerts.gpuIdlePercent", "allowed: 0 to 100", variant{"spec.monitoring.alerts.gpuIdlePercent": 0}},
		{"runner kind", "gpu-training", variant{"spec.ciRunners[0].kind": "jenkins"}, "spec.ciRunners[0].kind", `allowed: "githubActions" or "gitlab"`, variant{"spec.ciRunners[0].kind": "gitlab"}},
		{"runner url https", "gpu-training", variant{"spec.ciRunners[0].url": "http://github.com/x"}, "spec.ciRunners[0].url", "must use https", variant{"spec.ciRunners[0].url": "https://gitlab.example.com"}},
		{"runner url without credentials", "gpu-training", variant{"spec.ciRunners[0].url": "https://user:ghp_secret@github.com/x"}, "spec.ciRunners[0].url", "never holds a secret", variant{}},
		{"runner token secret name", "gpu-training", variant{"spec.ciRunners[0].tokenSecret": "ghp_abc/def"}, "spec.ciRunners[0].tokenSecret", "names the secret", variant{"spec.ciRunners[0].tokenSecret": "runnerToken"}},
		{"runner token secret required", "gpu-training", variant{"spec.ciRunners[0].tokenSecret": ""}, "spec.ciRunners[0].tokenSecret", "is required", variant{}},
		{"runner max >= min", "gpu-training", variant{"spec.ciRunners[0].minRunners": 6}, "spec.ciRunners[0].maxRunners", "less than minRunners (6)", variant{"spec.ciRunners[0].minRunners": 5}},
		{"gpu runners need a gpu pool", "gpu-training", variant{"spec.gpuNodePools": []string{}, "spec.monitoring.gpuMetrics": "none", "spec.monitoring.grafana.dashboards": []string{"cluster"}, "spec.ciRunners[0].gpu": true}, "spec.ciRunners[0].gpu", "need a GPU node pool", variant{"spec.ciRunners[0].gpu": true}},
		{"runner names unique", "production", variant{"spec.ciRunners[1].name": "gh"}, "spec.ciRunners[1].name", "must be unique", variant{}},
		{"chart repository scheme", "gpu-training", variant{"spec.charts.repository": "ftp://charts.example.com"}, "spec.charts.repository", `allowed: "oci", "https" or "http"`, variant{"spec.charts.repository": "oci://registry.example.internal/charts"}},
		{"chart repository without credentials", "gpu-training", variant{"spec.charts.repository": "https://u:p@charts.example.com"}, "spec.charts.repository", "never holds a secret", variant{"spec.charts.repository": "https://charts.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			err := checkVariant(t, tt.base, tt.bad)
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("breaking the rule gave no error list: %v", err)
			}
			found := false
			for _, e := range list {
				if e.Path == tt.wantPath && strings.Contains(e.Message, tt.wantMsg) {
					found = true
					if e.File == "" {
						t.Errorf("error has no file: %v", e)
					}
				}
			}
			if !found {
				t.Errorf("want an error at %s containing %q, got:\n%v", tt.wantPath, tt.wantMsg, err)
			}
			if err := checkVariant(t, tt.base, tt.good); err != nil {
				t.Errorf("keeping the rule should pass, got:\n%v", err)
			}
		})
	}
}

func TestShippedBlueprintsAreValid(t *testing.T) {
	for _, name := range []string{"local", "gpu-training", "production"} {
		t.Run(name, func(t *testing.T) {
			env, err := Check(name, LoadOptions{}, testCatalog(t))
			if err != nil {
				t.Fatalf("shipped blueprint %s is invalid:\n%v", name, err)
			}
			if env.File() != "blueprints/"+name+".yaml" {
				t.Errorf("File() = %q, want blueprints/%s.yaml", env.File(), name)
			}
		})
	}
}

func TestErrorsCarryPositions(t *testing.T) {
	err := checkVariant(t, "gpu-training", map[string]any{"spec.region": "af-south-1"})
	var list ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		t.Fatalf("want errors, got %v", err)
	}
	// gpu-training.yaml lists the pool's instance types on its line 29,
	// column 22 (the flow sequence's first element).
	e := list[0]
	if e.File != "blueprints/gpu-training.yaml" || e.Line == 0 || e.Column == 0 {
		t.Fatalf("error lacks a position: %+v", e)
	}
	data, _ := Shipped("gpu-training")
	line := strings.Split(string(data), "\n")[e.Line-1]
	if !strings.HasPrefix(line[e.Column-1:], "p4d.24xlarge") {
		t.Errorf("position %d:%d points at %q, want the instance type", e.Line, e.Column, line[e.Column-1:])
	}
}
