package policies

import "testing"

const (
	idMultiAZ     = "reliability.prod-db-multi-az"
	idDeletion    = "reliability.prod-db-deletion-protection"
	idVersioning  = "reliability.bucket-versioning"
	idTrackingPDB = "reliability.tracking-pdb"
	idTwoAZs      = "reliability.min-two-azs"
)

func versioning(name, status string) *Resource {
	return res(typeBucketVersioning, name, map[string]any{"bucket": Unknown, "versioningConfiguration": map[string]any{"status": status}})
}

func purposeBucket(name, purpose string) *Resource {
	return bucket(name, map[string]any{"owner": "ml", "cost-center": "1", "environment": "dev", purposeTag: purpose})
}

func pdb(name, namespace string, selector map[string]any) *Resource {
	return res(typeK8sPDB, name, map[string]any{
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"spec":     map[string]any{"maxUnavailable": 1, "selector": selector},
	})
}

func subnet(name, az string) *Resource {
	return res(typeSubnet, name, map[string]any{"availabilityZone": az, "cidrBlock": "10.0.0.0/20", "vpcId": Unknown})
}

func TestReliabilityPolicies(t *testing.T) {
	runCases(t, []policyCase{
		// prod-db-multi-az
		{name: "dev single-AZ", policy: idMultiAZ, rs: []*Resource{rdsInstance("db", nil)}, want: []string{"db"}, enf: Advisory},
		{name: "prod single-AZ", policy: idMultiAZ, class: ClassProd, rs: []*Resource{rdsInstance("db", nil)}, want: []string{"db"}, enf: Mandatory},
		{name: "prod multi-AZ", policy: idMultiAZ, class: ClassProd, rs: []*Resource{rdsInstance("db", map[string]any{"multiAz": true})}},

		// prod-db-deletion-protection
		{name: "prod unprotected", policy: idDeletion, class: ClassProd, rs: []*Resource{rdsInstance("db", nil)}, want: []string{"db"}, enf: Mandatory, contains: "deletionProtection is not true; the resource is not protected"},
		{name: "prod deletionProtection without protect", policy: idDeletion, class: ClassProd, rs: []*Resource{rdsInstance("db", map[string]any{"deletionProtection": true})}, want: []string{"db"}, enf: Mandatory, contains: "protect"},
		{name: "staging unprotected", policy: idDeletion, class: ClassStaging, rs: []*Resource{protected(rdsInstance("db", nil))}, want: []string{"db"}, enf: Advisory},
		{name: "dev is not checked", policy: idDeletion, rs: []*Resource{rdsInstance("db", nil)}},
		{name: "prod protected", policy: idDeletion, class: ClassProd, rs: []*Resource{protected(rdsInstance("db", map[string]any{"deletionProtection": true}))}},

		// bucket-versioning
		{name: "tracking and models enabled, datasets suspended", policy: idVersioning, rs: []*Resource{
			purposeBucket("artifacts", "tracking"), versioning("artifacts-versioning", "Enabled"),
			purposeBucket("models", "models"), versioning("models-versioning", "Enabled"),
			purposeBucket("datasets", "datasets"), versioning("datasets-versioning", "Suspended"),
		}},
		{name: "models suspended", policy: idVersioning, class: ClassProd, rs: []*Resource{purposeBucket("models", "models"), versioning("models-versioning", "Suspended")}, want: []string{"models"}, enf: Mandatory, contains: "Suspended"},
		{name: "tracking without versioning", policy: idVersioning, rs: []*Resource{purposeBucket("artifacts", "tracking"), purposeBucket("datasets", "datasets"), versioning("datasets-versioning", "Enabled")}, want: []string{"artifacts"}, enf: Mandatory},
		{name: "counted when names differ", policy: idVersioning, rs: []*Resource{purposeBucket("artifacts", "tracking"), versioning("v1", "Enabled")}},
		{name: "suspended ones do not count", policy: idVersioning, rs: []*Resource{purposeBucket("artifacts", "tracking"), versioning("v1", "Suspended")}, want: []string{"artifacts"}, enf: Mandatory},
		{name: "v1 bucket inline", policy: idVersioning, rs: []*Resource{res(typeBucketV1, "old", map[string]any{"tags": map[string]any{purposeTag: "models"}, "versioning": map[string]any{"enabled": false}}), res(typeBucketV1, "new", map[string]any{"tags": map[string]any{purposeTag: "models"}, "versioning": map[string]any{"enabled": true}})}, want: []string{"old"}, enf: Mandatory},

		// tracking-pdb
		{name: "dev no PDB", policy: idTrackingPDB, rs: []*Resource{mlflowDeployment(nil)}, want: []string{"mlflow"}, enf: Advisory},
		{name: "prod no PDB", policy: idTrackingPDB, class: ClassProd, rs: []*Resource{mlflowDeployment(nil), pdb("other", "ml", map[string]any{"matchLabels": map[string]any{labelAppName: "grafana"}})}, want: []string{"mlflow"}, enf: Mandatory},
		{name: "prod PDB in another namespace", policy: idTrackingPDB, class: ClassProd, rs: []*Resource{mlflowDeployment(nil), pdb("mlflow", "default", map[string]any{"matchLabels": map[string]any{labelAppName: "mlflow"}})}, want: []string{"mlflow"}, enf: Mandatory},
		{name: "prod PDB", policy: idTrackingPDB, class: ClassProd, rs: []*Resource{mlflowDeployment(nil), pdb("mlflow", "ml", map[string]any{"matchLabels": map[string]any{labelAppName: "mlflow"}})}},
		{name: "prod PDB by expression", policy: idTrackingPDB, class: ClassProd, rs: []*Resource{mlflowDeployment(nil), pdb("mlflow", "ml", map[string]any{"matchExpressions": []any{map[string]any{"key": "app.kubernetes.io/instance", "operator": "In", "values": []any{"tracking", "tracking-canary"}}}})}},
		{name: "not MLflow", policy: idTrackingPDB, class: ClassProd, rs: []*Resource{workloadRes(typeK8sDeployment, "api", nil, map[string]any{"app": "api"}, podSpec(containerSpec("api", nonRoot)))}},

		// min-two-azs
		{name: "one zone", policy: idTwoAZs, rs: []*Resource{subnet("private-a", "us-east-1a"), subnet("public-a", "us-east-1a")}, want: []string{"private-a"}, enf: Mandatory, contains: "us-east-1a"},
		{name: "prod one zone", policy: idTwoAZs, class: ClassProd, rs: []*Resource{subnet("private-a", "us-west-2a")}, want: []string{"private-a"}, enf: Mandatory},
		{name: "two zones", policy: idTwoAZs, rs: []*Resource{subnet("private-a", "us-east-1a"), subnet("private-b", "us-east-1b")}},
		{name: "no subnets", policy: idTwoAZs, rs: []*Resource{rdsInstance("db", nil)}},
	})
}
