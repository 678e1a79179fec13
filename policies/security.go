package policies

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
)

// Type tokens the security pack reads.
const (
	typeLaunchTemplate = "aws:ec2/launchTemplate:LaunchTemplate"
	typeBucketV2       = "aws:s3/bucketV2:BucketV2"
	typeBucketV1       = "aws:s3/bucket:Bucket"
	typeBucketACL      = "aws:s3/bucketAclV2:BucketAclV2"
	typeBucketACLV7    = "aws:s3/bucketAcl:BucketAcl"
	typePublicAccess   = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	typeAccountPublic  = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
	typeBucketSSE      = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
	typeBucketSSEV7    = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
	typeECRRepository  = "aws:ecr/repository:Repository"
	typeECRScanning    = "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration"
	typeRDSInstance    = "aws:rds/instance:Instance"
	typeRDSCluster     = "aws:rds/cluster:Cluster"
	typeRDSClusterInst = "aws:rds/clusterInstance:ClusterInstance"
	typeEKSCluster     = "aws:eks/cluster:Cluster"

	typeK8sDeployment  = "kubernetes:apps/v1:Deployment"
	typeK8sDaemonSet   = "kubernetes:apps/v1:DaemonSet"
	typeK8sStatefulSet = "kubernetes:apps/v1:StatefulSet"
	typeK8sReplicaSet  = "kubernetes:apps/v1:ReplicaSet"
	typeK8sJob         = "kubernetes:batch/v1:Job"
	typeK8sCronJob     = "kubernetes:batch/v1:CronJob"
	typeK8sPod         = "kubernetes:core/v1:Pod"
	typeK8sService     = "kubernetes:core/v1:Service"
	typeK8sIngress     = "kubernetes:networking.k8s.io/v1:Ingress"
)

// Labels and annotations Plinth reads on Kubernetes objects.
const (
	// labelPrivilegedReason on a workload's metadata (label or annotation)
	// exempts it from the container hardening policies; the value says why
	// (the NVIDIA device plugin and DCGM exporter need host access).
	labelPrivilegedReason = "plinth.dev/privileged-reason"
	// labelAuth on a tracking or dashboard workload, or on the Service or
	// Ingress exposing it, names the authentication in front of it.
	labelAuth = "plinth.dev/auth"
	// labelAppName is the recommended Kubernetes application name label.
	labelAppName = "app.kubernetes.io/name"
)

// bucketTypes are the S3 bucket resources.
var bucketTypes = []string{typeBucketV2, typeBucketV1}

// workloadTypes are the Kubernetes resources that carry a pod spec.
var workloadTypes = []string{typeK8sDeployment, typeK8sDaemonSet, typeK8sStatefulSet, typeK8sReplicaSet, typeK8sJob, typeK8sCronJob, typeK8sPod}

func securityPolicies() []*Policy {
	return []*Policy{
		{
			Pack: PackSecurity, Name: "imdsv2-required",
			Description: "EC2 launch templates require IMDSv2 (httpTokens: required), so pods cannot steal node credentials through IMDSv1.",
			Severity:    High,
			Remediation: "Set metadataOptions.httpTokens to \"required\" on the launch template (Plinth's node pools do this).",
			Defaults:    Everywhere(Mandatory),
			Check: func(in *Input, _ Settings) []Finding {
				return each(in, func(r *Resource) string {
					if got := r.String("metadataOptions.httpTokens"); got != "required" && got != Unknown {
						if got == "" {
							got = "unset (IMDSv1 allowed)"
						}
						return fmt.Sprintf("launch template %s: metadataOptions.httpTokens is %s, not required", r.Name, got)
					}
					return ""
				}, typeLaunchTemplate)
			},
		},
		{
			Pack: PackSecurity, Name: "s3-no-public-acl",
			Description: "No S3 bucket is given a public canned ACL or grant (public-read, public-read-write, authenticated-read, or a grant to AllUsers or AuthenticatedUsers).",
			Severity:    Critical,
			Remediation: "Remove the ACL; keep buckets private with BucketOwnerEnforced ownership and a public access block, and share data through IAM or presigned URLs.",
			Defaults:    Everywhere(Mandatory),
			Check: func(in *Input, _ Settings) []Finding {
				return each(in, func(r *Resource) string {
					switch acl := r.String("acl"); acl {
					case "public-read", "public-read-write", "authenticated-read":
						return fmt.Sprintf("%s %s has the public ACL %q", shortType(r.Type), r.Name, acl)
					}
					for _, uri := range stringsUnder(r.Inputs, "uri") {
						if strings.HasSuffix(uri, "/global/AllUsers") || strings.HasSuffix(uri, "/global/AuthenticatedUsers") {
							return fmt.Sprintf("%s %s grants access to %s", shortType(r.Type), r.Name, uri[strings.LastIndex(uri, "/")+1:])
						}
					}
					return ""
				}, typeBucketV1, typeBucketACL, typeBucketACLV7, typeBucketV2)
			},
		},
		{
			Pack: PackSecurity, Name: "s3-public-access-block",
			Description: "Every S3 bucket has a public access block with blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets all true (or the account-wide block does). Blocks are paired to buckets by their bucket input, else by Plinth's naming <bucket>-public-access, else by counting unpaired blocks against unpaired buckets.",
			Severity:    High,
			Remediation: "Give every bucket an aws.s3.BucketPublicAccessBlock with all four flags true (Plinth's storage component creates <bucket>-public-access for each bucket).",
			Defaults:    Everywhere(Mandatory),
			Check:       checkPublicAccessBlock,
		},
		{
			Pack: PackSecurity, Name: "s3-encryption",
			Description: "Every S3 bucket has a server-side encryption configuration (<bucket>-sse); where the setting requireKMS is true (prod) it uses aws:kms, so access to the data also needs the KMS key.",
			Severity:    High,
			Remediation: "Add an aws.s3.BucketServerSideEncryptionConfigurationV2 per bucket; in prod use aws:kms with a customer-managed key (blueprint spec.storage.buckets[].encryption: kms).",
			Defaults:    Defaults{ClassDev: Advisory, ClassStaging: Advisory, ClassProd: Mandatory},
			Settings:    map[string]Defaultable{"requireKMS": {ClassDev: false, ClassStaging: false, ClassProd: true}},
			Check:       checkS3Encryption,
		},
		{
			Pack: PackSecurity, Name: "ecr-scan-on-push",
			Description: "ECR repositories scan images on push (or the registry scanning configuration does), so known CVEs in training and serving images show up before they run.",
			Severity:    Medium,
			Remediation: "Set imageScanningConfiguration.scanOnPush: true on the repository (Plinth's registry does), or configure registry-wide enhanced scanning.",
			Defaults:    Defaults{ClassDev: Advisory, ClassStaging: Mandatory, ClassProd: Mandatory},
			Check: func(in *Input, _ Settings) []Finding {
				if registryScansOnPush(in) {
					return nil
				}
				return each(in, func(r *Resource) string {
					if trueOrUnknown(r.Input("imageScanningConfiguration.scanOnPush")) {
						return ""
					}
					return fmt.Sprintf("ECR repository %s does not scan images on push", r.Name)
				}, typeECRRepository)
			},
		},
		{
			Pack: PackSecurity, Name: "ecr-encryption",
			Description: "ECR repositories are encrypted with KMS where the setting requireKMS is true (prod); elsewhere ECR's default AES256 is accepted.",
			Severity:    Medium,
			Remediation: "Set encryptionConfigurations: [{encryptionType: KMS}] on the repository (Plinth's registry does in prod); it only takes effect on a new repository.",
			Defaults:    Defaults{ClassDev: Advisory, ClassStaging: Advisory, ClassProd: Mandatory},
			Settings:    map[string]Defaultable{"requireKMS": {ClassDev: false, ClassStaging: false, ClassProd: true}},
			Check: func(in *Input, s Settings) []Finding {
				if !settingBool(s, "requireKMS") {
					return nil
				}
				return each(in, func(r *Resource) string {
					types := stringsUnder(r.Inputs["encryptionConfigurations"], "encryptionType")
					if len(types) == 0 {
						types = stringsUnder(r.Inputs["encryptionConfiguration"], "encryptionType")
					}
					if len(types) == 0 {
						return fmt.Sprintf("ECR repository %s uses the default AES256 encryption, not KMS", r.Name)
					}
					for _, t := range types {
						if t != Unknown && !strings.HasPrefix(strings.ToUpper(t), "KMS") {
							return fmt.Sprintf("ECR repository %s is encrypted with %s, not KMS", r.Name, t)
						}
					}
					return ""
				}, typeECRRepository)
			},
		},
		{
			Pack: PackSecurity, Name: "rds-encryption",
			Description: "RDS instances and clusters encrypt their storage (storageEncrypted: true); it cannot be turned on later without a snapshot and restore.",
			Severity:    High,
			Remediation: "Set storageEncrypted: true (Plinth's tracking store does); for an existing database, restore an encrypted copy of a snapshot.",
			Defaults:    Everywhere(Mandatory),
			Check: func(in *Input, _ Settings) []Finding {
				return each(in, func(r *Resource) string {
					if src := r.String("replicateSourceDb"); src != "" {
						return "" // a read replica inherits its source's encryption
					}
					if trueOrUnknown(r.Input("storageEncrypted")) {
						return ""
					}
					return fmt.Sprintf("%s %s does not encrypt its storage (storageEncrypted is not true)", shortType(r.Type), r.Name)
				}, typeRDSInstance, typeRDSCluster)
			},
		},
		{
			Pack: PackSecurity, Name: "rds-not-public",
			Description: "RDS instances are not publicly accessible (publiclyAccessible: false): the tracking database is reached from the cluster only.",
			Severity:    Critical,
			Remediation: "Set publiclyAccessible: false and keep the database in private subnets, reachable from the cluster's security group only.",
			Defaults:    Everywhere(Mandatory),
			Check: func(in *Input, _ Settings) []Finding {
				return each(in, func(r *Resource) string {
					v, _ := r.Input("publiclyAccessible")
					if b, _ := boolish(v); b {
						return fmt.Sprintf("%s %s is publicly accessible", shortType(r.Type), r.Name)
					}
					return ""
				}, typeRDSInstance, typeRDSClusterInst)
			},
		},
		{
			Pack: PackSecurity, Name: "eks-secrets-encryption",
			Description: "EKS clusters envelope-encrypt Kubernetes secrets with a KMS key (encryptionConfig.resources includes \"secrets\").",
			Severity:    High,
			Remediation: "Set encryptionConfig {provider: {keyArn}, resources: [\"secrets\"]} on the cluster (Plinth's cluster component does).",
			Defaults:    Defaults{ClassDev: Advisory, ClassStaging: Mandatory, ClassProd: Mandatory},
			Check: func(in *Input, _ Settings) []Finding {
				return each(in, func(r *Resource) string {
					v, ok := r.Input("encryptionConfig")
					if ok && v == Unknown {
						return ""
					}
					for _, res := range stringsUnder(v, "resources") {
						if res == "secrets" || res == Unknown {
							return ""
						}
					}
					return fmt.Sprintf("EKS cluster %s does not encrypt Kubernetes secrets with KMS", r.Name)
				}, typeEKSCluster)
			},
		},
		{
			Pack: PackSecurity, Name: "eks-endpoint-private-in-prod",
			Description: "In prod the EKS API endpoint is private (vpcConfig.endpointPublicAccess: false; AWS defaults it to public). Advisory in dev and staging, where a public endpoint limited by publicAccessCidrs is common.",
			Severity:    High,
			Remediation: "Set spec.cluster.endpointAccess: private in the blueprint and reach the API through a VPN, bastion or SSM; in dev, at least restrict publicAccessCidrs.",
			Defaults:    Defaults{ClassDev: Advisory, ClassStaging: Advisory, ClassProd: Mandatory},
			Check: func(in *Input, _ Settings) []Finding {
				return each(in, func(r *Resource) string {
					v, ok := r.Input("vpcConfig.endpointPublicAccess")
					b, known := boolish(v)
					if ok && !known || known && !b {
						return ""
					}
					cidrs := r.Strings("vpcConfig.publicAccessCidrs")
					if len(cidrs) == 0 || slices.Contains(cidrs, "0.0.0.0/0") {
						return fmt.Sprintf("EKS cluster %s has a public API endpoint open to the internet", r.Name)
					}
					return fmt.Sprintf("EKS cluster %s has a public API endpoint (limited to %s)", r.Name, strings.Join(cidrs, ", "))
				}, typeEKSCluster)
			},
		},
		{
			Pack: PackSecurity, Name: "k8s-no-privileged",
			Description: "Containers (and init and ephemeral containers) are not privileged, do not allow privilege escalation and add none of the capabilities SYS_ADMIN, NET_ADMIN or ALL. A workload whose metadata carries the label or annotation plinth.dev/privileged-reason (e.g. the NVIDIA device plugin, DCGM exporter) is exempt.",
			Severity:    Critical,
			Remediation: "Drop privileged, set allowPrivilegeEscalation: false and add only the capabilities needed; if the workload truly needs host access, annotate it with plinth.dev/privileged-reason: <why>.",
			Defaults:    Everywhere(Mandatory),
			Check: func(in *Input, _ Settings) []Finding {
				return eachWorkload(in, func(w workload) []string {
					var bad []string
					for _, c := range w.containers() {
						sc := mapAt(c.spec, "securityContext")
						if b, _ := boolish(sc["privileged"]); b {
							bad = append(bad, c.name+": privileged")
						}
						if b, _ := boolish(sc["allowPrivilegeEscalation"]); b {
							bad = append(bad, c.name+": allowPrivilegeEscalation")
						}
						for _, capability := range stringList(mapAt(sc, "capabilities")["add"]) {
							switch strings.TrimPrefix(strings.ToUpper(capability), "CAP_") {
							case "SYS_ADMIN", "NET_ADMIN", "ALL":
								bad = append(bad, c.name+": adds capability "+capability)
							}
						}
					}
					return bad
				})
			},
		},
		{
			Pack: PackSecurity, Name: "k8s-no-hostpath",
			Description: "Pods mount no hostPath volumes (a hostPath mount reads or writes the node's filesystem). Workloads with plinth.dev/privileged-reason are exempt.",
			Severity:    High,
			Remediation: "Use a persistent volume claim, emptyDir, configMap or projected volume instead; if host access is the point, annotate the workload with plinth.dev/privileged-reason: <why>.",
			Defaults:    Defaults{ClassDev: Advisory, ClassStaging: Mandatory, ClassProd: Mandatory},
			Check: func(in *Input, _ Settings) []Finding {
				return eachWorkload(in, func(w workload) []string {
					var bad []string
					for _, v := range listAt(w.pod, "volumes") {
						vol, _ := v.(map[string]any)
						if hp, ok := vol["hostPath"]; ok && hp != nil {
							path, _ := mapAt(vol, "hostPath")["path"].(string)
							bad = append(bad, fmt.Sprintf("volume %v mounts hostPath %s", vol["name"], path))
						}
					}
					return bad
				})
			},
		},
		{
			Pack: PackSecurity, Name: "k8s-run-as-non-root",
			Description: "Every container runs as a non-root user: runAsNonRoot: true or runAsUser > 0, on the container or the pod securityContext. Workloads with plinth.dev/privileged-reason are exempt.",
			Severity:    Medium,
			Remediation: "Set securityContext.runAsNonRoot: true and a non-zero runAsUser on the pod (and build images with a USER); annotate truly root-only system daemons with plinth.dev/privileged-reason: <why>.",
			Defaults:    Defaults{ClassDev: Advisory, ClassStaging: Advisory, ClassProd: Mandatory},
			Check: func(in *Input, _ Settings) []Finding {
				return eachWorkload(in, func(w workload) []string {
					if w.pod["securityContext"] == Unknown {
						return nil
					}
					podSC := mapAt(w.pod, "securityContext")
					var bad []string
					for _, c := range w.containers() {
						if c.spec["securityContext"] == Unknown {
							continue
						}
						if why := runsAsRoot(mapAt(c.spec, "securityContext"), podSC); why != "" {
							bad = append(bad, c.name+": "+why)
						}
					}
					return bad
				})
			},
		},
		{
			Pack: PackSecurity, Name: "server-auth",
			Description: "An MLflow or Grafana workload (label app.kubernetes.io/name: mlflow or grafana) is not exposed by an Ingress or a LoadBalancer/NodePort Service unless plinth.dev/auth (label or annotation on the workload, Service or Ingress) names the authentication in front of it and is not \"none\". MLflow has no authentication by default.",
			Severity:    Critical,
			Remediation: "Keep the Service ClusterIP and reach it with kubectl port-forward, or put authentication in front (MLflow basic-auth app, OIDC proxy, ALB with Cognito/OIDC) and record it with plinth.dev/auth: <method>.",
			Defaults:    Everywhere(Mandatory),
			Check:       checkServerAuth,
		},
		{
			Pack: PackSecurity, Name: "no-plain-secrets",
			Description: "No input, at any depth, whose key looks like a secret (password, secret, token, apiKey, privateKey; not …Name, …Ref, …Arn, …Id, …Length, …Rotation or manage…/enable… switches) or an environment variable whose name does holds a plain string: it must be a Pulumi secret, a reference or unknown until apply. Plain values end up readable in the state and in plans. Keys that by their chart's convention name a Kubernetes Secret (…existingSecret, githubConfigSecret, runners.secret) are references when the value is a Kubernetes object name.",
			Severity:    Critical,
			Remediation: "Pass the value as a Pulumi secret (config --secret, pulumi.ToSecret, random.RandomPassword), or reference it (secretKeyRef, AWS Secrets Manager ARN, manageMasterUserPassword); never write it in code or a blueprint.",
			Defaults:    Everywhere(Mandatory),
			Check: func(in *Input, _ Settings) []Finding {
				var out []Finding
				for _, r := range in.Resources {
					var paths []string
					walkPlainSecrets(r.Inputs, "", &paths)
					for _, p := range paths {
						out = append(out, Finding{Resource: r, Message: fmt.Sprintf("%s %s: input %s holds a plain-text secret", shortType(r.Type), r.Name, p)})
					}
				}
				return out
			},
		},
	}
}

// checkPublicAccessBlock is s3-public-access-block.
func checkPublicAccessBlock(in *Input, _ Settings) []Finding {
	flags := []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"}
	offFlags := func(r *Resource) []string {
		var off []string
		for _, f := range flags {
			if trueOrUnknown(r.Input(f)) {
				continue
			}
			off = append(off, f)
		}
		return off
	}
	var out []Finding
	for _, r := range ofType(in, typePublicAccess, typeAccountPublic) {
		if off := offFlags(r); len(off) > 0 {
			out = append(out, Finding{Resource: r, Message: fmt.Sprintf("%s %s does not set %s to true", shortType(r.Type), r.Name, strings.Join(off, ", "))})
		}
	}
	for _, r := range ofType(in, typeAccountPublic) {
		if len(offFlags(r)) == 0 {
			return out // the account-wide block covers every bucket
		}
	}
	buckets := ofType(in, bucketTypes...)
	p := pairCompanions(in, buckets, nil, "public-access", nil, typePublicAccess)
	for _, b := range p.missing {
		out = append(out, Finding{Resource: b, Message: fmt.Sprintf("bucket %s has no public access block (%s-public-access)%s", b.Name, b.Name, p.countNote())})
	}
	return out
}

// checkS3Encryption is s3-encryption.
func checkS3Encryption(in *Input, s Settings) []Finding {
	requireKMS := settingBool(s, "requireKMS")
	isKMS := func(algs []string) (bool, string) {
		for _, a := range algs {
			if a != Unknown && !strings.HasPrefix(a, "aws:kms") {
				return false, a
			}
		}
		return true, ""
	}
	var out []Finding
	buckets := ofType(in, bucketTypes...)
	inlined := map[*Resource]bool{}
	for _, b := range buckets {
		inline, ok := b.Input("serverSideEncryptionConfiguration")
		if !ok || inline == nil {
			continue
		}
		inlined[b] = true
		// A v1 bucket with its configuration inline.
		if algs := stringsUnder(inline, "sseAlgorithm"); requireKMS {
			if ok, alg := isKMS(algs); !ok {
				out = append(out, Finding{Resource: b, Message: fmt.Sprintf("bucket %s is encrypted with %s, not aws:kms", b.Name, alg)})
			}
		}
	}
	p := pairCompanions(in, buckets, func(b *Resource) bool { return !inlined[b] }, "sse", nil, typeBucketSSE, typeBucketSSEV7)
	for _, b := range p.missing {
		out = append(out, Finding{Resource: b, Message: fmt.Sprintf("bucket %s has no server-side encryption configuration (%s-sse)%s", b.Name, b.Name, p.countNote())})
	}
	if requireKMS {
		for _, r := range ofType(in, typeBucketSSE, typeBucketSSEV7) {
			algs := stringsUnder(r.Inputs, "sseAlgorithm")
			if len(algs) == 0 {
				out = append(out, Finding{Resource: r, Message: fmt.Sprintf("S3 encryption configuration %s sets no sseAlgorithm, not aws:kms", r.Name)})
			} else if ok, alg := isKMS(algs); !ok {
				out = append(out, Finding{Resource: r, Message: fmt.Sprintf("S3 encryption configuration %s uses %s, not aws:kms", r.Name, alg)})
			}
		}
	}
	return out
}

// registryScansOnPush reports whether a registry-wide scanning configuration
// scans every push (enhanced scanning, or a scan-on-push or continuous rule).
func registryScansOnPush(in *Input) bool {
	for _, r := range ofType(in, typeECRScanning) {
		if strings.EqualFold(r.String("scanType"), "ENHANCED") {
			return true
		}
		for _, f := range stringsUnder(r.Inputs, "scanFrequency") {
			if f == "SCAN_ON_PUSH" || f == "CONTINUOUS_SCAN" {
				return true
			}
		}
	}
	return false
}

// pairing is how companions (public access blocks, encryption and
// versioning configurations) pair with buckets.
type pairing struct {
	// of holds each bucket's companions.
	of map[*Resource][]*Resource
	// missing are buckets without a companion, after the count fallback.
	missing []*Resource
	// unpaired and spare count buckets and companions that could not be
	// paired one to one (their bucket input unknown until apply).
	unpaired, spare int
}

// countNote explains a missing companion when counting was the fallback.
func (p pairing) countNote() string {
	if p.spare == 0 {
		return ""
	}
	return fmt.Sprintf("; %d unpaired for %d unpaired buckets", p.spare, p.unpaired)
}

// pairCompanions pairs companion resources of the given types with
// buckets: by the companion's bucket input when it is known and names a
// bucket, else by Plinth's naming <bucket logical name>-<suffix>. Buckets
// left over are covered if at least as many companions are left over whose
// bucket is unknown (and that satisfy ok, when given). Only buckets for
// which need is true (all, when nil) need a companion; the others still
// claim theirs by name.
func pairCompanions(in *Input, buckets []*Resource, need func(*Resource) bool, suffix string, ok func(*Resource) bool, types ...string) pairing {
	p := pairing{of: map[*Resource][]*Resource{}}
	byName := map[string]*Resource{}
	byPhysical := map[string]*Resource{}
	for _, b := range buckets {
		byName[b.Name] = b
		if phys := b.String("bucket"); phys != "" && phys != Unknown {
			byPhysical[phys] = b
		}
	}
	for _, c := range ofType(in, types...) {
		target := c.String("bucket")
		if b, found := byPhysical[target]; found {
			p.of[b] = append(p.of[b], c)
			continue
		}
		if b, found := byName[strings.TrimSuffix(c.Name, "-"+suffix)]; found && strings.HasSuffix(c.Name, "-"+suffix) {
			p.of[b] = append(p.of[b], c)
			continue
		}
		if (target == "" || target == Unknown) && (ok == nil || ok(c)) {
			p.spare++
		}
	}
	var left []*Resource
	for _, b := range buckets {
		if len(p.of[b]) == 0 && (need == nil || need(b)) {
			left = append(left, b)
		}
	}
	p.unpaired = len(left)
	if p.spare < len(left) {
		p.missing = left
	}
	return p
}

// workload is a Kubernetes resource with a pod spec.
type workload struct {
	r *Resource
	// pod is the pod spec; podMeta the pod template's metadata.
	pod, podMeta map[string]any
}

// container is one container of a pod spec.
type container struct {
	name string
	spec map[string]any
}

// workloads returns every Kubernetes resource with a pod spec.
func workloads(in *Input) []workload {
	var out []workload
	for _, r := range ofType(in, workloadTypes...) {
		w := workload{r: r}
		switch r.Type {
		case typeK8sPod:
			w.pod, w.podMeta = mapAt(r.Inputs, "spec"), mapAt(r.Inputs, "metadata")
		case typeK8sCronJob:
			tmpl := mapAt(r.Inputs, "spec", "jobTemplate", "spec", "template")
			w.pod, w.podMeta = mapAt(tmpl, "spec"), mapAt(tmpl, "metadata")
		default:
			tmpl := mapAt(r.Inputs, "spec", "template")
			w.pod, w.podMeta = mapAt(tmpl, "spec"), mapAt(tmpl, "metadata")
		}
		out = append(out, w)
	}
	return out
}

// containers returns the pod's containers, init and ephemeral containers.
func (w workload) containers() []container {
	var out []container
	for _, key := range []string{"initContainers", "containers", "ephemeralContainers"} {
		for i, c := range listAt(w.pod, key) {
			spec, _ := c.(map[string]any)
			name, _ := spec["name"].(string)
			if name == "" || name == Unknown {
				name = fmt.Sprintf("%s[%d]", key, i)
			}
			out = append(out, container{name: name, spec: spec})
		}
	}
	return out
}

// exempt reports whether the workload's metadata (or its pod template's)
// carries a non-empty plinth.dev/privileged-reason label or annotation.
func (w workload) exempt() bool {
	return metaValue(mapAt(w.r.Inputs, "metadata"), labelPrivilegedReason) != "" ||
		metaValue(w.podMeta, labelPrivilegedReason) != ""
}

// podLabels are the labels of the pods the workload runs.
func (w workload) podLabels() map[string]string {
	return stringMap(mapAt(w.podMeta, "labels"))
}

// eachWorkload runs check on every workload not exempt by
// plinth.dev/privileged-reason, with one finding per workload listing what
// is wrong.
func eachWorkload(in *Input, check func(w workload) []string) []Finding {
	var out []Finding
	for _, w := range workloads(in) {
		if w.exempt() {
			continue
		}
		if bad := check(w); len(bad) > 0 {
			out = append(out, Finding{Resource: w.r, Message: fmt.Sprintf("%s %s: %s", shortType(w.r.Type), w.r.Name, strings.Join(bad, "; "))})
		}
	}
	return out
}

// runsAsRoot says why a container may run as root ("" when it does not),
// from its own securityContext and the pod's.
func runsAsRoot(sc, podSC map[string]any) string {
	pick := func(key string) (any, bool) {
		if v, ok := sc[key]; ok && v != nil {
			return v, true
		}
		v, ok := podSC[key]
		return v, ok && v != nil
	}
	nonRootV, hasNonRoot := pick("runAsNonRoot")
	userV, hasUser := pick("runAsUser")
	if userV == Unknown || nonRootV == Unknown {
		return ""
	}
	user, userKnown := number(userV)
	nonRoot, _ := boolish(nonRootV)
	switch {
	case nonRoot && userKnown && user == 0:
		return "runAsNonRoot with runAsUser 0"
	case nonRoot:
		return ""
	case userKnown && user > 0:
		return ""
	case hasUser && userKnown:
		return "runAsUser 0"
	case hasNonRoot:
		return "runAsNonRoot false and no runAsUser"
	}
	return "neither runAsNonRoot nor runAsUser set (runs as the image's user, often root)"
}

// exposedApps are the workloads server-auth guards, by app.kubernetes.io/name.
var exposedApps = []string{"mlflow", "grafana"}

// checkServerAuth is server-auth.
func checkServerAuth(in *Input, _ Settings) []Finding {
	type target struct {
		app, what string
		authed    bool
	}
	// Guarded workloads.
	var guarded []workload
	for _, w := range workloads(in) {
		if guardedApp(w) != "" {
			guarded = append(guarded, w)
		}
	}
	// targetsOf returns the guarded apps a Service sends traffic to.
	targetsOf := func(svc *Resource) []target {
		sel := stringMap(mapAt(svc.Inputs, "spec", "selector"))
		if len(sel) == 0 {
			return nil
		}
		var out []target
		matched := false
		for _, w := range guarded {
			if !sameNamespace(svc, w.r) || !labelsMatch(sel, w.podLabels()) {
				continue
			}
			matched = true
			out = append(out, target{
				app: guardedApp(w), what: fmt.Sprintf("%s %s", shortType(w.r.Type), w.r.Name),
				authed: authSet(mapAt(w.r.Inputs, "metadata")) || authSet(w.podMeta),
			})
		}
		if app := strings.ToLower(sel[labelAppName]); !matched && slices.Contains(exposedApps, app) {
			out = append(out, target{app: app, what: "pods labelled " + labelAppName + "=" + app})
		}
		return out
	}
	services := ofType(in, typeK8sService)
	var out []Finding
	report := func(r *Resource, how string, ts []target) {
		if authSet(mapAt(r.Inputs, "metadata")) {
			return
		}
		seen := map[string]bool{}
		for _, t := range ts {
			if !t.authed && !seen[t.what] {
				seen[t.what] = true
				out = append(out, Finding{Resource: r, Message: fmt.Sprintf("%s %s %s %s (%s) without authentication (no %s)", shortType(r.Type), r.Name, how, t.app, t.what, labelAuth)})
			}
		}
	}
	for _, svc := range services {
		switch typ := svc.String("spec.type"); typ {
		case "LoadBalancer", "NodePort":
			report(svc, "exposes as "+typ, targetsOf(svc))
		}
	}
	for _, ing := range ofType(in, typeK8sIngress) {
		var ts []target
		for _, name := range ingressBackends(ing) {
			for _, svc := range services {
				if !sameNamespace(ing, svc) {
					continue
				}
				svcName := svc.String("metadata.name")
				if name == Unknown || svcName == name || svcName == "" && svc.Name == name {
					if authSet(mapAt(svc.Inputs, "metadata")) {
						continue
					}
					ts = append(ts, targetsOf(svc)...)
				}
			}
		}
		report(ing, "exposes", ts)
	}
	return out
}

// guardedApp is the workload's app name when server-auth guards it.
func guardedApp(w workload) string {
	for _, labels := range []map[string]string{stringMap(mapAt(w.r.Inputs, "metadata", "labels")), w.podLabels()} {
		if app := strings.ToLower(labels[labelAppName]); slices.Contains(exposedApps, app) {
			return app
		}
	}
	return ""
}

// authSet reports whether metadata names an authentication: plinth.dev/auth
// set and not "none".
func authSet(meta map[string]any) bool {
	v := strings.TrimSpace(metaValue(meta, labelAuth))
	return v != "" && !strings.EqualFold(v, "none")
}

// ingressBackends are the Service names an Ingress routes to.
func ingressBackends(ing *Resource) []string {
	var names []string
	add := func(backend map[string]any) {
		if n, ok := mapAt(backend, "service")["name"].(string); ok && n != "" {
			names = append(names, n)
		} else if n, ok := backend["serviceName"].(string); ok && n != "" {
			names = append(names, n)
		}
	}
	add(mapAt(ing.Inputs, "spec", "defaultBackend"))
	for _, rule := range listAt(mapAt(ing.Inputs, "spec"), "rules") {
		rm, _ := rule.(map[string]any)
		for _, path := range listAt(mapAt(rm, "http"), "paths") {
			pm, _ := path.(map[string]any)
			add(mapAt(pm, "backend"))
		}
	}
	return names
}

// namespace is a Kubernetes object's namespace ("default" when unset).
func namespace(r *Resource) string {
	if ns := r.String("metadata.namespace"); ns != "" {
		return ns
	}
	return "default"
}

// sameNamespace reports whether two objects may share a namespace (an
// unknown namespace may be any).
func sameNamespace(a, b *Resource) bool {
	na, nb := namespace(a), namespace(b)
	return na == nb || na == Unknown || nb == Unknown
}

// labelsMatch reports whether every selector entry is in labels (an
// unknown value matches anything).
func labelsMatch(sel, labels map[string]string) bool {
	for k, v := range sel {
		got, ok := labels[k]
		if !ok || got != v && got != Unknown && v != Unknown {
			return false
		}
	}
	return true
}

// metaValue is a label or annotation of Kubernetes metadata.
func metaValue(meta map[string]any, key string) string {
	for _, part := range []string{"annotations", "labels"} {
		if v, ok := mapAt(meta, part)[key].(string); ok && strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// secretWords mark a key as holding a secret.
var secretWords = []string{"password", "passwd", "passphrase", "secret", "token"}

// secretPairs are two-word secret markers (apiKey, privateKey).
var secretPairs = [][2]string{{"api", "key"}, {"private", "key"}}

// notSecretLast are last words of keys that name, reference, size or
// describe a secret instead of holding it.
var notSecretLast = []string{
	"name", "names", "ref", "refs", "arn", "arns", "id", "ids", "length", "rotation",
	"type", "path", "file", "version", "policy", "mode", "enabled", "description",
	"endpoint", "url", "uri", "audience", "issuer", "header", "format", "ttl", "seconds", "expiration",
}

// notSecretFirst are first words of switches (manageMasterUserPassword).
var notSecretFirst = []string{"manage", "enable", "disable", "skip", "use", "require", "rotate"}

// notSecretKeys are keys that look like secrets and are not.
var notSecretKeys = []string{
	"httpTokens", // the IMDS mode: required or optional
}

// secretReferences are inputs whose key reads like a secret although, by the
// convention of the API or Helm chart that defines them, their value only
// names a Kubernetes Secret object; no-plain-secrets lets such a value be
// plain when it is a Kubernetes object name (a DNS subdomain: hunter2!
// never is one, so it is still reported). Keys that end in Name or Ref
// (secretName, tlsSecretName, secretRef, secretKeyRef with its name and
// key, valueFrom.secretKeyRef, envFrom[].secretRef) are references
// whatever the value, by notSecretLast.
var secretReferences = []struct {
	// Path is the end of the input path, dotted keys without list indexes;
	// an element *xyz matches any key whose words end with xyz's
	// (*existingSecret: existingSecret, adminExistingSecret, existing_secret).
	Path string
	// Convention says whose convention it is.
	Convention string
}{
	{"*existingSecret", "Bitnami charts, Grafana (admin.existingSecret) and most Helm charts: the Secret to read credentials from"},
	{"githubConfigSecret", "actions-runner-controller gha-runner-scale-set: the Secret holding the GitHub App or token (a map instead holds them itself, and is checked)"},
	{"runners.secret", "GitLab Runner chart: the Secret holding the runner token"},
}

// objectNameRE is a Kubernetes object name (DNS-1123 subdomain).
var objectNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// secretReference reports whether the input at path (keys joined by
// joinPath) is one of secretReferences, and v names a Kubernetes object.
func secretReference(path string, v any) bool {
	name, ok := v.(string)
	if !ok || len(name) > 253 || !objectNameRE.MatchString(name) {
		return false
	}
	var keys []string
	for _, k := range strings.Split(path, ".") {
		if i := strings.IndexByte(k, '['); i >= 0 {
			k = k[:i]
		}
		keys = append(keys, k)
	}
	for _, ref := range secretReferences {
		if pathEndsWith(keys, strings.Split(ref.Path, ".")) {
			return true
		}
	}
	return false
}

// pathEndsWith reports whether keys end with pattern (see secretReferences).
func pathEndsWith(keys, pattern []string) bool {
	if len(keys) < len(pattern) {
		return false
	}
	keys = keys[len(keys)-len(pattern):]
	for i, p := range pattern {
		if suffix, ok := strings.CutPrefix(p, "*"); ok {
			words, want := keyWords(keys[i]), keyWords(suffix)
			if len(words) < len(want) || !slices.Equal(words[len(words)-len(want):], want) {
				return false
			}
			continue
		}
		if keys[i] != p {
			return false
		}
	}
	return true
}

// secretKey reports whether an input key looks like it holds a secret.
func secretKey(key string) bool {
	if slices.Contains(notSecretKeys, key) {
		return false
	}
	words := keyWords(key)
	if len(words) == 0 || slices.Contains(notSecretLast, words[len(words)-1]) || slices.Contains(notSecretFirst, words[0]) {
		return false
	}
	for i, w := range words {
		if slices.Contains(secretWords, w) || w == "apikey" || w == "privatekey" {
			return true
		}
		if i+1 < len(words) && slices.Contains(secretPairs, [2]string{w, words[i+1]}) {
			return true
		}
	}
	return false
}

// keyWords splits a key into lower-case words at camelCase, _, -, ., /.
func keyWords(key string) []string {
	var words []string
	var cur []rune
	runes := []rune(key)
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	for i, c := range runes {
		switch {
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			flush()
			continue
		case unicode.IsUpper(c) && i > 0:
			prev := runes[i-1]
			nextLower := i+1 < len(runes) && unicode.IsLower(runes[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || unicode.IsUpper(prev) && nextLower {
				flush()
			}
		}
		cur = append(cur, c)
	}
	flush()
	return words
}

// plainValue reports whether v is a plain, non-empty string a secret could
// be in (not a Pulumi secret, not unknown, not a rendered bool).
func plainValue(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	s = strings.TrimSpace(s)
	return s != "" && s != Secret && s != Unknown && s != "true" && s != "false"
}

// walkPlainSecrets collects the paths of plain secrets under v.
func walkPlainSecrets(v any, path string, out *[]string) {
	switch t := v.(type) {
	case map[string]any:
		keys := sortedKeys(t)
		// An environment variable: {name: DB_PASSWORD, value: ...}.
		if name, ok := t["name"].(string); ok && secretKey(name) && plainValue(t["value"]) {
			*out = append(*out, joinPath(path, "value")+" ("+name+")")
		}
		for _, k := range keys {
			child := joinPath(path, k)
			switch {
			case secretKey(k) && plainValue(t[k]) && !secretReference(child, t[k]):
				*out = append(*out, child)
			case strings.EqualFold(k, "kubeconfig") && plainValue(t[k]) && kubeconfigHasCredentials(t[k].(string)):
				*out = append(*out, child+" (embedded credentials)")
			default:
				walkPlainSecrets(t[k], child, out)
			}
		}
	case []any:
		for i, e := range t {
			walkPlainSecrets(e, fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}

// kubeconfigHasCredentials reports whether a kubeconfig embeds a token,
// password or client key (an exec plugin such as aws eks get-token does not).
func kubeconfigHasCredentials(s string) bool {
	for _, marker := range []string{"token:", "password:", "client-key-data:", `"token"`, `"password"`, `"client-key-data"`} {
		if strings.Contains(s, marker) {
			return true
		}
	}
	return false
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// boolish reads a bool that may be rendered as a string ("true").
func boolish(v any) (value, known bool) {
	switch b := v.(type) {
	case bool:
		return b, true
	case string:
		switch strings.ToLower(b) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// trueOrUnknown reports whether an input is true, or set to something
// that is not a known bool (unknown until apply).
func trueOrUnknown(v any, present bool) bool {
	if !present || v == nil {
		return false
	}
	b, known := boolish(v)
	return b || !known
}

// number reads a number that may be rendered as a string.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case string:
		var f float64
		if _, err := fmt.Sscan(n, &f); err == nil {
			return f, true
		}
	}
	return 0, false
}

// settingBool reads a boolean setting.
func settingBool(s Settings, key string) bool {
	b, _ := boolish(s[key])
	return b
}

// mapAt walks nested maps; it returns nil when a step is missing.
func mapAt(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			return nil
		}
		m = next
	}
	return m
}

// listAt is the list under key, or nil.
func listAt(m map[string]any, key string) []any {
	l, _ := m[key].([]any)
	return l
}

// stringList reads a list of strings (non-strings skipped).
func stringList(v any) []string {
	var out []string
	switch l := v.(type) {
	case []any:
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	case []string:
		out = append(out, l...)
	}
	return out
}

// stringMap reads a map of strings (non-strings skipped).
func stringMap(m map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// stringsUnder collects every string held under key at any depth of v (the
// key's value itself, or the strings of a list under it).
func stringsUnder(v any, key string) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(t) {
				if k == key {
					switch val := t[k].(type) {
					case string:
						out = append(out, val)
						continue
					case []any:
						if s := stringList(val); len(s) > 0 {
							out = append(out, s...)
							continue
						}
					}
				}
				walk(t[k])
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// shortType is the last part of a type token (Bucket from aws:s3/bucket:Bucket).
func shortType(t string) string {
	for i := len(t) - 1; i >= 0; i-- {
		if t[i] == ':' {
			return t[i+1:]
		}
	}
	return t
}
