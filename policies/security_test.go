package policies

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	idIMDS          = "security.imdsv2-required"
	idPublicACL     = "security.s3-no-public-acl"
	idPublicBlock   = "security.s3-public-access-block"
	idS3Encryption  = "security.s3-encryption"
	idECRScan       = "security.ecr-scan-on-push"
	idECREncryption = "security.ecr-encryption"
	idRDSEncryption = "security.rds-encryption"
	idRDSPublic     = "security.rds-not-public"
	idEKSSecrets    = "security.eks-secrets-encryption"
	idEKSEndpoint   = "security.eks-endpoint-private-in-prod"
	idPrivileged    = "security.k8s-no-privileged"
	idHostPath      = "security.k8s-no-hostpath"
	idNonRoot       = "security.k8s-run-as-non-root"
	idServerAuth    = "security.server-auth"
	idPlainSecrets  = "security.no-plain-secrets"
)

// Fixture builders.

func bucket(name string, tags map[string]any) *Resource {
	return res(typeBucketV2, name, map[string]any{"tags": tags})
}

func publicAccess(name string, allTrue bool) *Resource {
	return res(typePublicAccess, name, map[string]any{
		"bucket": Unknown, "blockPublicAcls": true, "blockPublicPolicy": allTrue, "ignorePublicAcls": true, "restrictPublicBuckets": true,
	})
}

func sse(name, alg string) *Resource {
	def := map[string]any{"sseAlgorithm": alg}
	if alg == "aws:kms" {
		def["kmsMasterKeyId"] = Unknown
	}
	return res(typeBucketSSE, name, map[string]any{"bucket": Unknown, "rules": []any{map[string]any{"applyServerSideEncryptionByDefault": def}}})
}

func ecrRepo(name string, scan bool, encryption string) *Resource {
	in := map[string]any{"name": name, "imageScanningConfiguration": map[string]any{"scanOnPush": scan}}
	if encryption != "" {
		in["encryptionConfigurations"] = []any{map[string]any{"encryptionType": encryption}}
	}
	return res(typeECRRepository, name, in)
}

func rdsInstance(name string, set map[string]any) *Resource {
	in := map[string]any{
		"engine": "postgres", "instanceClass": "db.t4g.medium", "username": "mlflow", "password": Secret,
		"storageEncrypted": true, "publiclyAccessible": false, "multiAz": false, "deletionProtection": false,
	}
	for k, v := range set {
		if v == nil {
			delete(in, k)
		} else {
			in[k] = v
		}
	}
	return res(typeRDSInstance, name, in)
}

func eksCluster(name string, public any, encrypt bool) *Resource {
	vpc := map[string]any{"endpointPrivateAccess": true, "subnetIds": Unknown}
	if public != nil {
		vpc["endpointPublicAccess"] = public
	}
	in := map[string]any{"name": name, "version": "1.34", "vpcConfig": vpc}
	if encrypt {
		in["encryptionConfig"] = map[string]any{"provider": map[string]any{"keyArn": Unknown}, "resources": []any{"secrets"}}
	}
	return res(typeEKSCluster, name, in)
}

// podTemplate is a pod template with the given pod spec and labels.
func podTemplate(labels map[string]any, spec map[string]any) map[string]any {
	return map[string]any{"metadata": map[string]any{"labels": labels}, "spec": spec}
}

// workloadRes is a Deployment, DaemonSet, StatefulSet or Job fixture.
func workloadRes(typ, name string, meta map[string]any, labels map[string]any, spec map[string]any) *Resource {
	if meta == nil {
		meta = map[string]any{}
	}
	meta["name"] = name
	if _, ok := meta["namespace"]; !ok {
		meta["namespace"] = "ml"
	}
	return res(typ, name, map[string]any{
		"metadata": meta,
		"spec":     map[string]any{"selector": map[string]any{"matchLabels": labels}, "template": podTemplate(labels, spec)},
	})
}

func containerSpec(name string, sc map[string]any) map[string]any {
	c := map[string]any{"name": name, "image": "registry.example/" + name + ":1.0"}
	if sc != nil {
		c["securityContext"] = sc
	}
	return c
}

func podSpec(containers ...map[string]any) map[string]any {
	list := make([]any, len(containers))
	for i, c := range containers {
		list[i] = c
	}
	return map[string]any{"containers": list}
}

var nonRoot = map[string]any{"runAsNonRoot": true, "runAsUser": 1000}

func privilegedReason(text string) map[string]any {
	return map[string]any{"annotations": map[string]any{labelPrivilegedReason: text}}
}

func service(name, typ string, selector map[string]any, meta map[string]any) *Resource {
	if meta == nil {
		meta = map[string]any{}
	}
	meta["name"] = name
	meta["namespace"] = "ml"
	return res(typeK8sService, name, map[string]any{
		"metadata": meta,
		"spec":     map[string]any{"type": typ, "selector": selector, "ports": []any{map[string]any{"port": 80, "targetPort": 5000}}},
	})
}

func ingress(name, backend string, meta map[string]any) *Resource {
	if meta == nil {
		meta = map[string]any{}
	}
	meta["name"] = name
	meta["namespace"] = "ml"
	return res(typeK8sIngress, name, map[string]any{
		"metadata": meta,
		"spec": map[string]any{"rules": []any{map[string]any{
			"host": "mlflow.example.com",
			"http": map[string]any{"paths": []any{map[string]any{"path": "/", "pathType": "Prefix", "backend": map[string]any{"service": map[string]any{"name": backend, "port": map[string]any{"number": 80}}}}}},
		}}},
	})
}

var mlflowLabels = map[string]any{labelAppName: "mlflow", "app.kubernetes.io/instance": "tracking"}

func mlflowDeployment(meta map[string]any) *Resource {
	return workloadRes(typeK8sDeployment, "mlflow", meta, mlflowLabels, podSpec(containerSpec("mlflow", nonRoot)))
}

func TestSecurityPolicies(t *testing.T) {
	tags := map[string]any{"owner": "ml", "cost-center": "1", "environment": "dev"}
	runCases(t, []policyCase{
		// imdsv2-required
		{name: "optional tokens", policy: idIMDS, rs: []*Resource{res(typeLaunchTemplate, "lt", map[string]any{"metadataOptions": map[string]any{"httpTokens": "optional"}})}, want: []string{"lt"}, enf: Mandatory},
		{name: "no metadata options", policy: idIMDS, class: ClassProd, rs: []*Resource{res(typeLaunchTemplate, "lt", nil)}, want: []string{"lt"}, enf: Mandatory, contains: "IMDSv1"},
		{name: "required", policy: idIMDS, rs: []*Resource{res(typeLaunchTemplate, "lt", map[string]any{"metadataOptions": map[string]any{"httpTokens": "required"}})}},

		// s3-no-public-acl
		{name: "v1 bucket public-read", policy: idPublicACL, rs: []*Resource{res(typeBucketV1, "b", map[string]any{"acl": "public-read"})}, want: []string{"b"}, enf: Mandatory},
		{name: "acl resource public-read-write", policy: idPublicACL, class: ClassProd, rs: []*Resource{res(typeBucketACL, "b-acl", map[string]any{"bucket": Unknown, "acl": "public-read-write"})}, want: []string{"b-acl"}, enf: Mandatory},
		{name: "grant to AuthenticatedUsers", policy: idPublicACL, rs: []*Resource{res(typeBucketACL, "b-acl", map[string]any{"accessControlPolicy": map[string]any{"grants": []any{map[string]any{"grantee": map[string]any{"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"}, "permission": "READ"}}}})}, want: []string{"b-acl"}, enf: Mandatory, contains: "AuthenticatedUsers"},
		{name: "private acl", policy: idPublicACL, rs: []*Resource{res(typeBucketACL, "b-acl", map[string]any{"acl": "private"}), res(typeBucketV1, "b", map[string]any{"acl": "log-delivery-write"})}},

		// s3-public-access-block
		{name: "named block", policy: idPublicBlock, rs: []*Resource{bucket("data", tags), publicAccess("data-public-access", true)}},
		{name: "no block", policy: idPublicBlock, rs: []*Resource{bucket("data", tags), bucket("models", tags), publicAccess("models-public-access", true)}, want: []string{"data"}, enf: Mandatory},
		{name: "flag false", policy: idPublicBlock, class: ClassProd, rs: []*Resource{bucket("data", tags), publicAccess("data-public-access", false)}, want: []string{"data-public-access"}, enf: Mandatory, contains: "blockPublicPolicy"},
		{name: "flag missing", policy: idPublicBlock, rs: []*Resource{bucket("data", tags), res(typePublicAccess, "data-public-access", map[string]any{"bucket": Unknown, "blockPublicAcls": true})}, want: []string{"data-public-access"}, enf: Mandatory, contains: "restrictPublicBuckets"},
		{name: "unknown flag passes", policy: idPublicBlock, rs: []*Resource{bucket("data", tags), res(typePublicAccess, "data-public-access", map[string]any{"bucket": Unknown, "blockPublicAcls": Unknown, "blockPublicPolicy": true, "ignorePublicAcls": true, "restrictPublicBuckets": true})}},
		{name: "counted when names differ", policy: idPublicBlock, rs: []*Resource{bucket("data", tags), bucket("models", tags), publicAccess("pab-1", true), publicAccess("pab-2", true)}},
		{name: "too few to count", policy: idPublicBlock, rs: []*Resource{bucket("data", tags), bucket("models", tags), publicAccess("pab-1", true)}, want: []string{"data", "models"}, enf: Mandatory, contains: "1 unpaired for 2"},
		{name: "paired by bucket input", policy: idPublicBlock, rs: []*Resource{
			res(typeBucketV2, "data", map[string]any{"bucket": "acme-data"}),
			res(typePublicAccess, "pab", map[string]any{"bucket": "acme-data", "blockPublicAcls": true, "blockPublicPolicy": true, "ignorePublicAcls": true, "restrictPublicBuckets": true}),
		}},
		{name: "block of another bucket does not count", policy: idPublicBlock, rs: []*Resource{
			res(typeBucketV2, "data", map[string]any{"bucket": "acme-data"}),
			res(typePublicAccess, "pab", map[string]any{"bucket": "someone-else", "blockPublicAcls": true, "blockPublicPolicy": true, "ignorePublicAcls": true, "restrictPublicBuckets": true}),
		}, want: []string{"data"}, enf: Mandatory},
		{name: "account-wide block", policy: idPublicBlock, rs: []*Resource{bucket("data", tags), res(typeAccountPublic, "account", map[string]any{"blockPublicAcls": true, "blockPublicPolicy": true, "ignorePublicAcls": true, "restrictPublicBuckets": true})}},

		// s3-encryption
		{name: "dev AES256", policy: idS3Encryption, rs: []*Resource{bucket("data", tags), sse("data-sse", "AES256")}},
		{name: "dev missing", policy: idS3Encryption, rs: []*Resource{bucket("data", tags)}, want: []string{"data"}, enf: Advisory},
		{name: "prod missing", policy: idS3Encryption, class: ClassProd, rs: []*Resource{bucket("data", tags)}, want: []string{"data"}, enf: Mandatory},
		{name: "prod AES256", policy: idS3Encryption, class: ClassProd, rs: []*Resource{bucket("data", tags), sse("data-sse", "AES256")}, want: []string{"data-sse"}, enf: Mandatory, contains: "AES256"},
		{name: "prod KMS", policy: idS3Encryption, class: ClassProd, rs: []*Resource{bucket("data", tags), sse("data-sse", "aws:kms")}},
		{name: "prod v1 inline AES256", policy: idS3Encryption, class: ClassProd, rs: []*Resource{res(typeBucketV1, "old", map[string]any{"serverSideEncryptionConfiguration": map[string]any{"rule": map[string]any{"applyServerSideEncryptionByDefault": map[string]any{"sseAlgorithm": "AES256"}}}})}, want: []string{"old"}, enf: Mandatory},
		{name: "dev KMS required by config", policy: idS3Encryption, cfg: &Config{Policies: map[string]PolicyConfig{idS3Encryption: {Enforcement: Mandatory, Settings: map[string]any{"requireKMS": true}}}},
			rs: []*Resource{bucket("data", tags), sse("data-sse", "AES256")}, want: []string{"data-sse"}, enf: Mandatory},

		// ecr-scan-on-push
		{name: "dev no scan", policy: idECRScan, rs: []*Resource{ecrRepo("train", false, "")}, want: []string{"train"}, enf: Advisory},
		{name: "prod no scan", policy: idECRScan, class: ClassProd, rs: []*Resource{res(typeECRRepository, "train", map[string]any{"name": "train"})}, want: []string{"train"}, enf: Mandatory},
		{name: "scan", policy: idECRScan, class: ClassProd, rs: []*Resource{ecrRepo("train", true, "KMS")}},
		{name: "registry enhanced scanning", policy: idECRScan, class: ClassProd, rs: []*Resource{ecrRepo("train", false, "KMS"), res(typeECRScanning, "scanning", map[string]any{"scanType": "ENHANCED"})}},

		// ecr-encryption
		{name: "prod AES256", policy: idECREncryption, class: ClassProd, rs: []*Resource{ecrRepo("serve", true, "AES256")}, want: []string{"serve"}, enf: Mandatory},
		{name: "prod default", policy: idECREncryption, class: ClassProd, rs: []*Resource{ecrRepo("serve", true, "")}, want: []string{"serve"}, enf: Mandatory},
		{name: "prod KMS", policy: idECREncryption, class: ClassProd, rs: []*Resource{ecrRepo("serve", true, "KMS")}},
		{name: "dev AES256", policy: idECREncryption, rs: []*Resource{ecrRepo("serve", true, "AES256")}},

		// rds-encryption
		{name: "unencrypted", policy: idRDSEncryption, rs: []*Resource{rdsInstance("db", map[string]any{"storageEncrypted": false})}, want: []string{"db"}, enf: Mandatory},
		{name: "unset", policy: idRDSEncryption, class: ClassProd, rs: []*Resource{rdsInstance("db", map[string]any{"storageEncrypted": nil})}, want: []string{"db"}, enf: Mandatory},
		{name: "aurora cluster", policy: idRDSEncryption, rs: []*Resource{res(typeRDSCluster, "aurora", map[string]any{"engine": "aurora-postgresql"})}, want: []string{"aurora"}, enf: Mandatory},
		{name: "encrypted", policy: idRDSEncryption, rs: []*Resource{rdsInstance("db", nil)}},

		// rds-not-public
		{name: "dev public", policy: idRDSPublic, rs: []*Resource{rdsInstance("db", map[string]any{"publiclyAccessible": true})}, want: []string{"db"}, enf: Mandatory},
		{name: "prod public", policy: idRDSPublic, class: ClassProd, rs: []*Resource{rdsInstance("db", map[string]any{"publiclyAccessible": "true"})}, want: []string{"db"}, enf: Mandatory},
		{name: "private", policy: idRDSPublic, rs: []*Resource{rdsInstance("db", nil), rdsInstance("db2", map[string]any{"publiclyAccessible": nil})}},

		// eks-secrets-encryption
		{name: "dev no encryption", policy: idEKSSecrets, rs: []*Resource{eksCluster("eks", false, false)}, want: []string{"eks"}, enf: Advisory},
		{name: "prod no encryption", policy: idEKSSecrets, class: ClassProd, rs: []*Resource{eksCluster("eks", false, false)}, want: []string{"eks"}, enf: Mandatory},
		{name: "encryption of other resources only", policy: idEKSSecrets, class: ClassStaging, rs: []*Resource{res(typeEKSCluster, "eks", map[string]any{"encryptionConfig": []any{map[string]any{"resources": []any{"configmaps"}}}})}, want: []string{"eks"}, enf: Mandatory},
		{name: "secrets encrypted", policy: idEKSSecrets, class: ClassProd, rs: []*Resource{eksCluster("eks", false, true)}},

		// eks-endpoint-private-in-prod
		{name: "dev public", policy: idEKSEndpoint, rs: []*Resource{eksCluster("eks", true, true)}, want: []string{"eks"}, enf: Advisory},
		{name: "staging public", policy: idEKSEndpoint, class: ClassStaging, rs: []*Resource{eksCluster("eks", true, true)}, want: []string{"eks"}, enf: Advisory},
		{name: "prod public", policy: idEKSEndpoint, class: ClassProd, rs: []*Resource{eksCluster("eks", true, true)}, want: []string{"eks"}, enf: Mandatory},
		{name: "prod unset is public", policy: idEKSEndpoint, class: ClassProd, rs: []*Resource{eksCluster("eks", nil, true)}, want: []string{"eks"}, enf: Mandatory},
		{name: "prod private", policy: idEKSEndpoint, class: ClassProd, rs: []*Resource{eksCluster("eks", false, true)}},

		// k8s-no-privileged
		{name: "privileged", policy: idPrivileged, rs: []*Resource{workloadRes(typeK8sDeployment, "trainer", nil, map[string]any{"app": "t"}, podSpec(containerSpec("main", map[string]any{"privileged": true})))}, want: []string{"trainer"}, enf: Mandatory, contains: "main: privileged"},
		{name: "escalation in init container", policy: idPrivileged, class: ClassProd, rs: []*Resource{workloadRes(typeK8sStatefulSet, "db", nil, map[string]any{"app": "db"}, map[string]any{
			"initContainers": []any{containerSpec("init", map[string]any{"allowPrivilegeEscalation": true})},
			"containers":     []any{containerSpec("main", nonRoot)},
		})}, want: []string{"db"}, enf: Mandatory, contains: "init: allowPrivilegeEscalation"},
		{name: "SYS_ADMIN", policy: idPrivileged, rs: []*Resource{workloadRes(typeK8sDaemonSet, "agent", nil, map[string]any{"app": "a"}, podSpec(containerSpec("agent", map[string]any{"capabilities": map[string]any{"add": []any{"NET_BIND_SERVICE", "CAP_SYS_ADMIN"}}})))}, want: []string{"agent"}, enf: Mandatory, contains: "CAP_SYS_ADMIN"},
		{name: "bare pod NET_ADMIN", policy: idPrivileged, rs: []*Resource{res(typeK8sPod, "debug", map[string]any{"metadata": map[string]any{"name": "debug"}, "spec": podSpec(containerSpec("sh", map[string]any{"capabilities": map[string]any{"add": []any{"NET_ADMIN"}}}))})}, want: []string{"debug"}, enf: Mandatory},
		{name: "hardened", policy: idPrivileged, rs: []*Resource{workloadRes(typeK8sDeployment, "api", nil, map[string]any{"app": "api"}, podSpec(containerSpec("api", map[string]any{"allowPrivilegeEscalation": false, "privileged": false, "capabilities": map[string]any{"drop": []any{"ALL"}, "add": []any{"NET_BIND_SERVICE"}}})))}},
		{name: "exempt by annotation", policy: idPrivileged, rs: []*Resource{workloadRes(typeK8sDaemonSet, "agent", privilegedReason("node agent"), map[string]any{"app": "a"}, podSpec(containerSpec("agent", map[string]any{"privileged": true})))}},
		{name: "exempt by label", policy: idPrivileged, rs: []*Resource{workloadRes(typeK8sDaemonSet, "agent", map[string]any{"labels": map[string]any{labelPrivilegedReason: "node-agent"}}, map[string]any{"app": "a"}, podSpec(containerSpec("agent", map[string]any{"privileged": true})))}},
		{name: "empty reason is no exemption", policy: idPrivileged, rs: []*Resource{workloadRes(typeK8sDaemonSet, "agent", privilegedReason(" "), map[string]any{"app": "a"}, podSpec(containerSpec("agent", map[string]any{"privileged": true})))}, want: []string{"agent"}, enf: Mandatory},

		// k8s-no-hostpath
		{name: "dev hostPath", policy: idHostPath, rs: []*Resource{workloadRes(typeK8sDaemonSet, "logs", nil, map[string]any{"app": "l"}, map[string]any{"containers": []any{containerSpec("c", nonRoot)}, "volumes": []any{map[string]any{"name": "varlog", "hostPath": map[string]any{"path": "/var/log"}}}})}, want: []string{"logs"}, enf: Advisory, contains: "/var/log"},
		{name: "prod hostPath in a job", policy: idHostPath, class: ClassProd, rs: []*Resource{res(typeK8sJob, "etl", map[string]any{"metadata": map[string]any{"name": "etl"}, "spec": map[string]any{"template": podTemplate(nil, map[string]any{"containers": []any{containerSpec("c", nonRoot)}, "volumes": []any{map[string]any{"name": "root", "hostPath": map[string]any{"path": "/"}}}})}})}, want: []string{"etl"}, enf: Mandatory},
		{name: "emptyDir and PVC", policy: idHostPath, class: ClassProd, rs: []*Resource{workloadRes(typeK8sDeployment, "api", nil, map[string]any{"app": "api"}, map[string]any{"containers": []any{containerSpec("c", nonRoot)}, "volumes": []any{map[string]any{"name": "tmp", "emptyDir": map[string]any{}}, map[string]any{"name": "data", "persistentVolumeClaim": map[string]any{"claimName": "data"}}}})}},
		{name: "exempt", policy: idHostPath, class: ClassProd, rs: []*Resource{workloadRes(typeK8sDaemonSet, "logs", privilegedReason("ships node logs"), map[string]any{"app": "l"}, map[string]any{"containers": []any{containerSpec("c", nonRoot)}, "volumes": []any{map[string]any{"name": "varlog", "hostPath": map[string]any{"path": "/var/log"}}}})}},

		// k8s-run-as-non-root
		{name: "dev unset", policy: idNonRoot, rs: []*Resource{workloadRes(typeK8sDeployment, "api", nil, map[string]any{"app": "api"}, podSpec(containerSpec("api", nil)))}, want: []string{"api"}, enf: Advisory},
		{name: "prod unset", policy: idNonRoot, class: ClassProd, rs: []*Resource{workloadRes(typeK8sDeployment, "api", nil, map[string]any{"app": "api"}, podSpec(containerSpec("api", nil)))}, want: []string{"api"}, enf: Mandatory, contains: "neither runAsNonRoot nor runAsUser"},
		{name: "prod runAsUser 0", policy: idNonRoot, class: ClassProd, rs: []*Resource{workloadRes(typeK8sDeployment, "api", nil, map[string]any{"app": "api"}, podSpec(containerSpec("api", map[string]any{"runAsUser": 0})))}, want: []string{"api"}, enf: Mandatory, contains: "runAsUser 0"},
		{name: "container overrides pod", policy: idNonRoot, class: ClassProd, rs: []*Resource{workloadRes(typeK8sDeployment, "api", nil, map[string]any{"app": "api"}, map[string]any{
			"securityContext": map[string]any{"runAsNonRoot": true},
			"containers":      []any{containerSpec("ok", nil), containerSpec("root", map[string]any{"runAsNonRoot": false})},
		})}, want: []string{"api"}, enf: Mandatory, contains: "root: runAsNonRoot false"},
		{name: "cronjob", policy: idNonRoot, class: ClassProd, rs: []*Resource{res(typeK8sCronJob, "nightly", map[string]any{"metadata": map[string]any{"name": "nightly"}, "spec": map[string]any{"schedule": "0 2 * * *", "jobTemplate": map[string]any{"spec": map[string]any{"template": podTemplate(nil, podSpec(containerSpec("job", nil)))}}}})}, want: []string{"nightly"}, enf: Mandatory},
		{name: "pod securityContext", policy: idNonRoot, class: ClassProd, rs: []*Resource{workloadRes(typeK8sDeployment, "api", nil, map[string]any{"app": "api"}, map[string]any{"securityContext": map[string]any{"runAsNonRoot": true, "runAsUser": 10001}, "containers": []any{containerSpec("api", nil)}})}},
		{name: "container runAsUser", policy: idNonRoot, class: ClassProd, rs: []*Resource{workloadRes(typeK8sDeployment, "api", nil, map[string]any{"app": "api"}, podSpec(containerSpec("api", map[string]any{"runAsUser": 1000})))}},
		{name: "unknown user", policy: idNonRoot, class: ClassProd, rs: []*Resource{workloadRes(typeK8sDeployment, "api", nil, map[string]any{"app": "api"}, podSpec(containerSpec("api", map[string]any{"runAsUser": Unknown})))}},
		{name: "exempt", policy: idNonRoot, class: ClassProd, rs: []*Resource{workloadRes(typeK8sDaemonSet, "dcgm", privilegedReason("reads GPU counters"), map[string]any{"app": "dcgm"}, podSpec(containerSpec("dcgm", map[string]any{"runAsUser": 0})))}},

		// server-auth
		{name: "mlflow LoadBalancer", policy: idServerAuth, rs: []*Resource{mlflowDeployment(nil), service("mlflow-lb", "LoadBalancer", mlflowLabels, nil)}, want: []string{"mlflow-lb"}, enf: Mandatory, contains: "LoadBalancer"},
		{name: "mlflow NodePort in prod", policy: idServerAuth, class: ClassProd, rs: []*Resource{mlflowDeployment(nil), service("mlflow-np", "NodePort", map[string]any{labelAppName: "mlflow"}, nil)}, want: []string{"mlflow-np"}, enf: Mandatory},
		{name: "mlflow Ingress", policy: idServerAuth, rs: []*Resource{mlflowDeployment(nil), service("mlflow-svc", "ClusterIP", mlflowLabels, nil), ingress("mlflow-ing", "mlflow-svc", nil)}, want: []string{"mlflow-ing"}, enf: Mandatory, contains: "Deployment mlflow"},
		{name: "grafana by selector only", policy: idServerAuth, rs: []*Resource{service("grafana", "LoadBalancer", map[string]any{labelAppName: "grafana"}, nil)}, want: []string{"grafana"}, enf: Mandatory, contains: "grafana"},
		{name: "auth none is no auth", policy: idServerAuth, rs: []*Resource{mlflowDeployment(map[string]any{"annotations": map[string]any{labelAuth: "none"}}), service("mlflow-lb", "LoadBalancer", mlflowLabels, nil)}, want: []string{"mlflow-lb"}, enf: Mandatory},
		{name: "ClusterIP only", policy: idServerAuth, rs: []*Resource{mlflowDeployment(nil), service("mlflow", "ClusterIP", mlflowLabels, nil)}},
		{name: "auth on workload", policy: idServerAuth, rs: []*Resource{mlflowDeployment(map[string]any{"labels": map[string]any{labelAuth: "basic"}}), service("mlflow-svc", "ClusterIP", mlflowLabels, nil), ingress("mlflow-ing", "mlflow-svc", nil)}},
		{name: "auth on ingress", policy: idServerAuth, rs: []*Resource{mlflowDeployment(nil), service("mlflow-svc", "ClusterIP", mlflowLabels, nil), ingress("mlflow-ing", "mlflow-svc", map[string]any{"annotations": map[string]any{labelAuth: "oidc"}})}},
		{name: "other namespace", policy: idServerAuth, rs: []*Resource{mlflowDeployment(map[string]any{"namespace": "tracking"}), service("web", "LoadBalancer", map[string]any{"app.kubernetes.io/instance": "tracking"}, nil)}},
		{name: "other app exposed", policy: idServerAuth, rs: []*Resource{mlflowDeployment(nil), service("web", "LoadBalancer", map[string]any{labelAppName: "web"}, nil), ingress("web-ing", "web", nil)}},

		// no-plain-secrets
		{name: "plain RDS password", policy: idPlainSecrets, rs: []*Resource{rdsInstance("db", map[string]any{"password": "hunter22"})}, want: []string{"db"}, enf: Mandatory, contains: "input password"},
		{name: "prod plain env var", policy: idPlainSecrets, class: ClassProd, rs: []*Resource{workloadRes(typeK8sDeployment, "mlflow", nil, mlflowLabels, podSpec(map[string]any{"name": "mlflow", "env": []any{map[string]any{"name": "MLFLOW_TRACKING_PASSWORD", "value": "s3cr3t"}}}))}, want: []string{"mlflow"}, enf: Mandatory, contains: "MLFLOW_TRACKING_PASSWORD"},
		{name: "nested api key", policy: idPlainSecrets, rs: []*Resource{res("kubernetes:helm.sh/v3:Release", "wandb", map[string]any{"values": map[string]any{"auth": map[string]any{"APIKey": "abc123"}}})}, want: []string{"wandb"}, enf: Mandatory, contains: "values.auth.APIKey"},
		{name: "kubeconfig with token", policy: idPlainSecrets, rs: []*Resource{res("pulumi:providers:kubernetes", "k8s", map[string]any{"kubeconfig": "apiVersion: v1\nusers:\n- name: admin\n  user:\n    token: eyJhbGciOi\n"})}, want: []string{"k8s"}, enf: Mandatory, contains: "kubeconfig"},
		{name: "secrets, references and look-alikes", policy: idPlainSecrets, rs: []*Resource{
			rdsInstance("db", map[string]any{"password": Secret, "manageMasterUserPassword": "true", "masterUserSecretKmsKeyId": "alias/db"}),
			res("random:index/randomPassword:RandomPassword", "pw", map[string]any{"length": 32, "overrideSpecial": "-_.~", "special": true}),
			res(typeLaunchTemplate, "lt", map[string]any{"metadataOptions": map[string]any{"httpTokens": "required"}}),
			res("pulumi:providers:kubernetes", "k8s", map[string]any{"kubeconfig": "apiVersion: v1\nusers:\n- name: eks\n  user:\n    exec:\n      command: aws\n      args: [eks, get-token]\n"}),
			workloadRes(typeK8sDeployment, "app", nil, map[string]any{"app": "x"}, map[string]any{
				"containers": []any{map[string]any{"name": "app", "env": []any{
					map[string]any{"name": "DB_PASSWORD", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": "db", "key": "password"}}},
					map[string]any{"name": "TOKEN_FILE", "value": "/var/run/secrets/token"},
					map[string]any{"name": "API_TOKEN", "value": Secret},
				}}},
				"volumes": []any{map[string]any{"name": "creds", "secret": map[string]any{"secretName": "db-credentials"}}},
			}),
			res("aws:secretsmanager/secretVersion:SecretVersion", "sv", map[string]any{"secretId": Unknown, "secretString": Unknown}),
			res("aws:iam/user:User", "u", map[string]any{"passwordLength": "20", "passwordResetRequired": true, "tokenEndpoint": "https://example.com/token"}),
		}},
		// Secret names, not secrets: the chart conventions of secretReferences.
		{name: "chart values naming Secrets", policy: idPlainSecrets, rs: []*Resource{
			helmRelease("monitoring", map[string]any{"grafana": map[string]any{"admin": map[string]any{"existingSecret": "grafana-admin", "userKey": "admin-user", "passwordKey": Secret}}}),
			helmRelease("db", map[string]any{"auth": map[string]any{"existingSecret": "mlflow-postgres", "adminExistingSecret": "pg.admin", "secretKeys": map[string]any{"userPasswordKey": Secret}}}),
			helmRelease("arc", map[string]any{"githubConfigSecret": "gpu-runners-github-config", "githubConfigUrl": "https://github.com/acme"}),
			helmRelease("gitlab", map[string]any{"runners": map[string]any{"secret": "gitlab-runner-token", "cache": map[string]any{"secretName": "s3-access"}}}),
			helmRelease("ingress", map[string]any{"tls": []any{map[string]any{"secretName": "mlflow-tls"}}, "oidc": map[string]any{"clientSecretRef": map[string]any{"name": "oidc", "key": "client-secret"}, "tokenSecretName": "oidc-token"}}),
			workloadRes(typeK8sDeployment, "refs", nil, map[string]any{"app": "x"}, map[string]any{
				"containers": []any{map[string]any{"name": "app", "envFrom": []any{map[string]any{"secretRef": map[string]any{"name": "app-env"}}}}},
			}),
		}},
		{name: "secrets under reference-like keys", policy: idPlainSecrets, rs: []*Resource{
			// Not an object name: a password where a Secret name belongs.
			helmRelease("grafana", map[string]any{"admin": map[string]any{"existingSecret": "Tr0ub4dor&3"}}),
			// The map form holds the token itself.
			helmRelease("arc", map[string]any{"githubConfigSecret": map[string]any{"github_token": "ghp_0123456789abcdef"}}),
			// secret alone, outside runners, is a secret.
			helmRelease("app", map[string]any{"auth": map[string]any{"secret": "grafana-admin"}}),
			// clientSecret is no convention of naming.
			helmRelease("oidc", map[string]any{"oidc": map[string]any{"clientSecret": "abc123def"}}),
		}, want: []string{"app", "arc", "grafana", "oidc"}, enf: Mandatory},
	})
}

// helmRelease is a Helm release with these values.
func helmRelease(name string, values map[string]any) *Resource {
	return res("kubernetes:helm.sh/v3:Release", name, map[string]any{"chart": name, "values": values})
}

func TestSecretReference(t *testing.T) {
	for _, tc := range []struct {
		path  string
		value any
		want  bool
	}{
		{"values.grafana.admin.existingSecret", "grafana-admin", true},
		{"values.auth.adminExistingSecret", "pg-admin", true},
		{"values.existing_secret", "pg-admin", true},
		{"values.githubConfigSecret", "runners-github-config", true},
		{"values.runners.secret", "gitlab-runner-token", true},
		{"values.runners[0].secret", "gitlab-runner-token", true},
		{"values.existingSecret", "a.b-c.d1", true},
		// Not object names: secrets where a name belongs.
		{"values.existingSecret", "Hunter2", false},
		{"values.existingSecret", "pass word", false},
		{"values.existingSecret", "-leading-dash", false},
		{"values.existingSecret", strings.Repeat("a", 254), false},
		{"values.existingSecret", 42, false},
		// Not one of the conventions.
		{"values.secret", "grafana-admin", false},
		{"values.auth.secret", "grafana-admin", false},
		{"values.tokenSecret", "runner-token", false},
		{"values.existingSecretPassword", "grafana-admin", false},
		{"values.notRunners.secret", "x", false},
	} {
		if got := secretReference(tc.path, tc.value); got != tc.want {
			t.Errorf("secretReference(%q, %v) = %v, want %v", tc.path, tc.value, got, tc.want)
		}
	}
	for _, ref := range secretReferences {
		if ref.Convention == "" {
			t.Errorf("%s: say whose convention it is", ref.Path)
		}
	}
}

func TestKnownBadPublicBuckets(t *testing.T) {
	for _, class := range Classes {
		t.Run(class, func(t *testing.T) {
			in := loadPlan(t, filepath.Join("testdata", "public-buckets.json"))
			in.Environment.Class = class
			rep := evaluate(t, in, nil)
			if rep.Mandatory() == 0 {
				t.Fatalf("a world-writable artifact store passes in %s%s", class, dump(rep.Violations))
			}
			want := map[string][]string{
				idPublicACL:   {"mlflow-artifacts", "mlflow-datasets-acl", "mlflow-models-acl"},
				idPublicBlock: {"mlflow-artifacts", "mlflow-datasets", "mlflow-models-public-access"},
			}
			for id, names := range want {
				var got []string
				for _, v := range violationsOf(rep, id) {
					if v.Enforcement != Mandatory {
						t.Errorf("%s on %s is %s, want mandatory", id, v.Name, v.Enforcement)
					}
					got = append(got, v.Name)
				}
				slices.Sort(got)
				if !slices.Equal(got, names) {
					t.Errorf("%s flags %q, want %q", id, got, names)
				}
			}
			for _, v := range violationsOf(rep, idPublicACL) {
				if v.Name == "mlflow-artifacts" && (v.Type != typeBucketV1 || !strings.Contains(v.Message, "public-read-write")) {
					t.Errorf("bucket violation: %+v", v)
				}
				if v.Name == "mlflow-models-acl" && (v.Type != typeBucketACL || !strings.Contains(v.Message, "public-read-write")) {
					t.Errorf("ACL violation: %+v", v)
				}
			}
			logReport(t, "known-bad public buckets ("+class+")", rep)
		})
	}
}

// TestGPUDaemonsExempt checks NVIDIA's own DaemonSets: exempted with
// plinth.dev/privileged-reason they are reported nowhere; without it each
// hardening policy flags them.
func TestGPUDaemonsExempt(t *testing.T) {
	in := loadPlan(t, filepath.Join("testdata", "gpu-daemons.json"))
	rep := evaluate(t, in, nil)
	if len(rep.Violations) != 0 {
		t.Fatalf("exempt GPU daemons are reported:%s", dump(rep.Violations))
	}

	for _, r := range in.Resources {
		delete(r.Inputs["metadata"].(map[string]any), "annotations")
	}
	rep = evaluate(t, in, nil)
	want := map[string][]string{
		idPrivileged: {"dcgm-exporter"},
		idHostPath:   {"dcgm-exporter", "nvidia-device-plugin"},
		idNonRoot:    {"dcgm-exporter", "nvidia-device-plugin"},
	}
	for id, names := range want {
		var got []string
		for _, v := range violationsOf(rep, id) {
			if v.Enforcement != Mandatory {
				t.Errorf("%s on %s in prod is %s, want mandatory", id, v.Name, v.Enforcement)
			}
			got = append(got, v.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, names) {
			t.Errorf("%s flags %q, want %q%s", id, got, names, dump(rep.Violations))
		}
	}
	if len(rep.Violations) != 5 {
		t.Errorf("want 5 violations without the exemption, got%s", dump(rep.Violations))
	}
}

func TestSecretKey(t *testing.T) {
	secret := []string{"password", "masterPassword", "DB_PASSWORD", "clientSecret", "secretString", "secret_access_key", "authToken", "apiKey", "APIKey", "api-key", "privateKey", "sshPrivateKeyPem", "x-api-token", "passphrase"}
	notSecret := []string{"httpTokens", "secretName", "secretArn", "secretKeyRef", "tokenRef", "passwordLength", "keyRotation", "secretRotation", "manageMasterUserPassword", "enableSecretsEncryption", "masterUserSecretKmsKeyId", "kmsKeyId", "publicKey", "name", "tokenEndpoint", "clientId", "overrideSpecial", "imagePullSecrets", "TOKEN_FILE"}
	for _, k := range secret {
		if !secretKey(k) {
			t.Errorf("secretKey(%q) = false (words %q)", k, keyWords(k))
		}
	}
	for _, k := range notSecret {
		if secretKey(k) {
			t.Errorf("secretKey(%q) = true (words %q)", k, keyWords(k))
		}
	}
}

// TestNoPlainSecretsNeverPrintsTheValue checks messages name the input, not
// its value.
func TestNoPlainSecretsNeverPrintsTheValue(t *testing.T) {
	rep := evaluate(t, input(ClassDev, rdsInstance("db", map[string]any{"password": "correct-horse-battery"})), nil)
	vs := violationsOf(rep, idPlainSecrets)
	if len(vs) != 1 {
		t.Fatalf("want one violation, got%s", dump(vs))
	}
	if strings.Contains(vs[0].Message, "correct-horse") {
		t.Errorf("message leaks the secret: %s", vs[0].Message)
	}
}
