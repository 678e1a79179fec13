// Package blueprints is the Plinth blueprint model: the plinth.dev/v1alpha1
// Environment types, strict loading with file positions, defaults that depend
// on the environment class, and validation against the AWS region catalogue.
//
// A blueprint is loaded in visible steps:
//
//	env, err := blueprints.Load(path)  // strict YAML decoding, positions kept
//	env.Defaults(cat)                  // fill what the user left out
//	err = env.Validate(cat)            // every problem, with file:line:col and field path
package blueprints

import "encoding/json"

// APIVersion is the only blueprint API version this release reads.
const APIVersion = "plinth.dev/v1alpha1"

// KindEnvironment is the only blueprint kind.
const KindEnvironment = "Environment"

// Environment is one complete MLOps environment: network, cluster, GPU pools,
// storage, registry, tracking, monitoring and CI runners.
type Environment struct {
	// APIVersion must be plinth.dev/v1alpha1.
	APIVersion string `json:"apiVersion"`
	// Kind must be Environment.
	Kind string `json:"kind"`
	// Metadata names the environment.
	Metadata Metadata `json:"metadata"`
	// Spec describes what the environment holds.
	Spec Spec `json:"spec"`

	source source
}

// Metadata names the environment.
type Metadata struct {
	// Name is a DNS-1123 label of at most 40 characters; it prefixes every resource name.
	Name string `json:"name"`
	// Labels are copied to every resource's tags and Kubernetes labels.
	Labels map[string]string `json:"labels,omitempty"`
}

// Provider values.
const (
	ProviderAWS        = "aws"
	ProviderKubernetes = "kubernetes"
)

// Environment classes (the value of spec.tags.environment).
const (
	ClassDev     = "dev"
	ClassStaging = "staging"
	ClassProd    = "prod"
)

// Spec describes what the environment holds.
type Spec struct {
	// Provider is aws (Plinth creates network and EKS) or kubernetes (an existing cluster from a kubeconfig).
	Provider string `json:"provider"`
	// Region is the AWS region; required for provider aws, checked against the region catalogue.
	Region string `json:"region,omitempty"`
	// Tags are put on every taggable resource. owner and cost-center are required; environment (dev, staging or prod, default dev) drives defaults and policy strictness.
	Tags map[string]string `json:"tags"`
	// Network is the VPC (provider aws only).
	Network *Network `json:"network,omitempty"`
	// Cluster is the Kubernetes cluster: EKS on aws, an existing cluster on kubernetes.
	Cluster *Cluster `json:"cluster,omitempty"`
	// GPUNodePools are the GPU node groups.
	GPUNodePools []GPUNodePool `json:"gpuNodePools,omitempty"`
	// Storage holds the object storage buckets.
	Storage *Storage `json:"storage,omitempty"`
	// Registry holds the container image repositories (provider aws only).
	Registry *Registry `json:"registry,omitempty"`
	// Tracking is the experiment tracking server.
	Tracking *Tracking `json:"tracking,omitempty"`
	// Monitoring is metrics, dashboards, GPU metrics, OpenTelemetry and alerts.
	Monitoring *Monitoring `json:"monitoring,omitempty"`
	// CIRunners are self-hosted CI runners in the cluster.
	CIRunners []CIRunner `json:"ciRunners,omitempty"`
	// Charts configures where upstream Helm charts come from.
	Charts *Charts `json:"charts,omitempty"`
	// Addons is reserved for later add-ons (pipelines, serving, featureStore, notebooks); none is available in v1alpha1, so it must be empty.
	Addons *Addons `json:"addons,omitempty"`
}

// Class returns the environment class from spec.tags.environment (dev when unset).
func (e *Environment) Class() string {
	if c := e.Spec.Tags["environment"]; c != "" {
		return c
	}
	return ClassDev
}

// NAT gateway modes.
const (
	NATNone   = "none"
	NATSingle = "single"
	NATPerAZ  = "perAz"
)

// Network is the VPC Plinth creates, or an existing one it sits on.
type Network struct {
	// CIDR is the VPC IPv4 range, a /16 to /24; private and public subnets are carved from it per AZ.
	CIDR string `json:"cidr,omitempty"`
	// AvailabilityZones is a count (2 to 6) or a list of AZ names; it must not exceed what the region has.
	AvailabilityZones *AvailabilityZones `json:"availabilityZones,omitempty"`
	// NATGateways is none, single or perAz (default perAz in prod, single otherwise).
	NATGateways string `json:"natGateways,omitempty"`
	// Existing puts the environment on a network you already have instead of creating one.
	Existing *ExistingNetwork `json:"existing,omitempty"`
}

// AvailabilityZones is either a count or a list of AZ names.
type AvailabilityZones struct {
	// Count is the number of AZs to spread over (set when the blueprint gives a number).
	Count int
	// Names are explicit AZ names (set when the blueprint gives a list).
	Names []string
}

// N returns how many AZs are meant, whichever form was given.
func (a *AvailabilityZones) N() int {
	if a == nil {
		return 0
	}
	if len(a.Names) > 0 {
		return len(a.Names)
	}
	return a.Count
}

// ExistingNetwork is a network Plinth does not create: ids given directly, or
// read from the outputs of a Terraform root module.
type ExistingNetwork struct {
	// VPCID is the id of the existing VPC (vpc-...).
	VPCID string `json:"vpcId,omitempty"`
	// PrivateSubnetIDs are the private subnets nodes and databases go in (subnet-...).
	PrivateSubnetIDs []string `json:"privateSubnetIds,omitempty"`
	// PublicSubnetIDs are the public subnets for internet-facing load balancers (optional).
	PublicSubnetIDs []string `json:"publicSubnetIds,omitempty"`
	// FromTerraform reads the ids from a Terraform root module's outputs instead.
	FromTerraform *TerraformOutputs `json:"fromTerraform,omitempty"`
}

// TerraformOutputs names the outputs of an existing Terraform root module
// (read with `terraform output -json`, never applied).
type TerraformOutputs struct {
	// Dir is the Terraform root module directory, relative to the blueprint file.
	Dir string `json:"dir"`
	// VPCID is the name of the output holding the VPC id.
	VPCID string `json:"vpcId"`
	// PrivateSubnetIDs is the name of the output holding the private subnet ids.
	PrivateSubnetIDs string `json:"privateSubnetIds"`
	// PublicSubnetIDs is the name of the output holding the public subnet ids (optional).
	PublicSubnetIDs string `json:"publicSubnetIds,omitempty"`
}

// Endpoint access modes of the EKS API server.
const (
	EndpointPrivate = "private"
	EndpointPublic  = "public"
	EndpointBoth    = "both"
)

// Cluster is the Kubernetes cluster.
type Cluster struct {
	// KubernetesVersion is the EKS Kubernetes version, a quoted "major.minor" (provider aws only).
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	// EndpointAccess is private, public or both (provider aws only; prod forbids public access).
	EndpointAccess string `json:"endpointAccess,omitempty"`
	// SystemPool is the CPU node group for system workloads.
	SystemPool *NodePool `json:"systemPool,omitempty"`
	// Kubeconfig is the path of the kubeconfig of the existing cluster (provider kubernetes only).
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// Context is the kubeconfig context to use (provider kubernetes only; default: the current context).
	Context string `json:"context,omitempty"`
}

// NodePool is a CPU node group.
type NodePool struct {
	// InstanceType is the EC2 instance type, e.g. m6i.large.
	InstanceType string `json:"instanceType,omitempty"`
	// Min is the minimum node count (at least 1).
	Min *int `json:"min,omitempty"`
	// Max is the maximum node count (at least min).
	Max *int `json:"max,omitempty"`
}

// Capacity types of a GPU node pool.
const (
	CapacityOnDemand = "onDemand"
	CapacitySpot     = "spot"
)

// GPU sharing modes.
const (
	SharingNone        = "none"
	SharingTimeSlicing = "timeSlicing"
	SharingMIG         = "mig"
)

// GPUNodePool is a node group of GPU instances.
type GPUNodePool struct {
	// Name is unique among the pools; a DNS-1123 label.
	Name string `json:"name"`
	// InstanceTypes are GPU instance types offered in the region (on provider kubernetes: the node.kubernetes.io/instance-type label values of the existing nodes).
	InstanceTypes []string `json:"instanceTypes"`
	// CapacityType is onDemand or spot (default onDemand).
	CapacityType string `json:"capacityType,omitempty"`
	// MinSize is the minimum node count (default 0).
	MinSize *int `json:"minSize,omitempty"`
	// MaxSize is the maximum node count, at least minSize and at least 1.
	MaxSize *int `json:"maxSize,omitempty"`
	// DiskSizeGiB is the root volume size of each node (default 200).
	DiskSizeGiB *int `json:"diskSizeGiB,omitempty"`
	// GPU is how the GPUs are shared between pods.
	GPU *GPUSharing `json:"gpu,omitempty"`
	// Labels are Kubernetes node labels.
	Labels map[string]string `json:"labels,omitempty"`
	// Taints are Kubernetes node taints (default nvidia.com/gpu=present:NoSchedule).
	Taints []Taint `json:"taints,omitempty"`
}

// GPUSharing is how the GPUs of a pool are shared between pods.
type GPUSharing struct {
	// Sharing is none, timeSlicing or mig (mig needs A100, H100, H200 or B200 instances).
	Sharing string `json:"sharing,omitempty"`
	// Replicas is how many pods share one GPU (timeSlicing only; 2 to 48, default 4).
	Replicas *int `json:"replicas,omitempty"`
}

// Taint effects.
const (
	EffectNoSchedule       = "NoSchedule"
	EffectPreferNoSchedule = "PreferNoSchedule"
	EffectNoExecute        = "NoExecute"
)

// Taint is a Kubernetes node taint.
type Taint struct {
	// Key is a Kubernetes qualified name, e.g. nvidia.com/gpu.
	Key string `json:"key"`
	// Value is a Kubernetes label value (may be empty).
	Value string `json:"value,omitempty"`
	// Effect is NoSchedule, PreferNoSchedule or NoExecute.
	Effect string `json:"effect"`
}

// Storage holds the object storage buckets.
type Storage struct {
	// Buckets are S3 buckets on aws, buckets of the in-cluster object store on kubernetes.
	Buckets []Bucket `json:"buckets,omitempty"`
}

// Bucket purposes.
const (
	PurposeTracking = "tracking"
	PurposeDatasets = "datasets"
	PurposeModels   = "models"
	PurposeGeneral  = "general"
)

// Bucket encryption modes.
const (
	EncryptionKMS = "kms"
	EncryptionS3  = "s3"
)

// Bucket is one object storage bucket.
type Bucket struct {
	// Name is unique among the buckets: lowercase letters, digits and hyphens; the full bucket name is <metadata.name>-<name> plus a random suffix.
	Name string `json:"name"`
	// Purpose is tracking, datasets, models or general; when tracking is enabled exactly one bucket serves it.
	Purpose string `json:"purpose,omitempty"`
	// Versioning keeps old object versions (default true).
	Versioning *bool `json:"versioning,omitempty"`
	// ExpireNoncurrentAfterDays deletes old versions after this many days (needs versioning; default 30).
	ExpireNoncurrentAfterDays *int `json:"expireNoncurrentAfterDays,omitempty"`
	// Encryption is kms or s3 (provider aws; default kms in prod, s3 otherwise; prod requires kms).
	Encryption string `json:"encryption,omitempty"`
}

// Registry holds the container image repositories (ECR).
type Registry struct {
	// Repositories are the repository names (unique).
	Repositories []string `json:"repositories,omitempty"`
	// ScanOnPush scans every pushed image for vulnerabilities (default true).
	ScanOnPush *bool `json:"scanOnPush,omitempty"`
	// ImmutableTags forbids overwriting a tag (default true).
	ImmutableTags *bool `json:"immutableTags,omitempty"`
	// KeepLastImages is how many images a lifecycle rule keeps (1 to 10000, default 50).
	KeepLastImages *int `json:"keepLastImages,omitempty"`
}

// Tracking auth modes.
const (
	AuthBasic = "basic"
	AuthNone  = "none"
)

// TrackingServerMLflow is the only tracking server.
const TrackingServerMLflow = "mlflow"

// Tracking is the experiment tracking server.
type Tracking struct {
	// Enabled turns the tracking server on (default true when the block is present).
	Enabled *bool `json:"enabled,omitempty"`
	// Server is the tracking server; mlflow is the only one.
	Server string `json:"server,omitempty"`
	// Version is the pinned server image tag, x.y.z (default: the pinned MLflow version).
	Version string `json:"version,omitempty"`
	// Replicas is the number of server pods (default 2 in prod, 1 otherwise).
	Replicas *int `json:"replicas,omitempty"`
	// Database is the backend store: RDS PostgreSQL on aws, in-cluster PostgreSQL on kubernetes.
	Database *Database `json:"database,omitempty"`
	// Auth is basic or none (default basic; none is allowed in dev only).
	Auth string `json:"auth,omitempty"`
	// Ingress exposes the server under a host name (optional).
	Ingress *Ingress `json:"ingress,omitempty"`
}

// IsEnabled reports whether the tracking server is on.
func (t *Tracking) IsEnabled() bool { return t != nil && (t.Enabled == nil || *t.Enabled) }

// Database is the tracking backend store.
type Database struct {
	// InstanceClass is the RDS instance class, e.g. db.t4g.medium (provider aws only).
	InstanceClass string `json:"instanceClass,omitempty"`
	// StorageGiB is the allocated storage (20 to 65536, default 20).
	StorageGiB *int `json:"storageGiB,omitempty"`
	// MultiAZ runs a standby in another AZ (provider aws only; default true in prod).
	MultiAZ *bool `json:"multiAz,omitempty"`
	// DeletionProtection refuses deletion of the database (default true in prod; prod requires it).
	DeletionProtection *bool `json:"deletionProtection,omitempty"`
}

// Ingress exposes a server under a host name.
type Ingress struct {
	// Host is the DNS name.
	Host string `json:"host"`
	// TLS serves HTTPS (default true).
	TLS *bool `json:"tls,omitempty"`
}

// Monitoring is metrics, dashboards, GPU metrics, OpenTelemetry and alerts.
type Monitoring struct {
	// Enabled turns monitoring on (default true when the block is present).
	Enabled *bool `json:"enabled,omitempty"`
	// Prometheus configures metric storage.
	Prometheus *Prometheus `json:"prometheus,omitempty"`
	// Grafana configures dashboards.
	Grafana *Grafana `json:"grafana,omitempty"`
	// GPUMetrics is dcgm (DCGM exporter with its ServiceMonitor) or none (default dcgm when there are GPU pools).
	GPUMetrics string `json:"gpuMetrics,omitempty"`
	// OpenTelemetry configures the OpenTelemetry collector.
	OpenTelemetry *OpenTelemetry `json:"openTelemetry,omitempty"`
	// Alerts sets alert thresholds.
	Alerts *Alerts `json:"alerts,omitempty"`
}

// IsEnabled reports whether monitoring is on.
func (m *Monitoring) IsEnabled() bool { return m != nil && (m.Enabled == nil || *m.Enabled) }

// Prometheus configures metric storage.
type Prometheus struct {
	// Retention is how long metrics are kept, a Prometheus duration such as 15d (default 15d).
	Retention string `json:"retention,omitempty"`
	// StorageGiB is the volume size (default 50).
	StorageGiB *int `json:"storageGiB,omitempty"`
}

// Dashboard names.
const (
	DashboardGPU        = "gpu"
	DashboardTracking   = "tracking"
	DashboardModelDrift = "model-drift"
	DashboardCluster    = "cluster"
)

// Grafana configures dashboards.
type Grafana struct {
	// Dashboards to ship: gpu, tracking, model-drift, cluster (default all).
	Dashboards []string `json:"dashboards,omitempty"`
}

// GPU metrics modes.
const (
	GPUMetricsDCGM = "dcgm"
	GPUMetricsNone = "none"
)

// OpenTelemetry configures the OpenTelemetry collector.
type OpenTelemetry struct {
	// Collector runs an OpenTelemetry collector receiving OTLP (default true).
	Collector *bool `json:"collector,omitempty"`
}

// Alerts sets alert thresholds.
type Alerts struct {
	// ModelDriftScore alerts when a served model's drift score exceeds it (0 to 1, default 0.2).
	ModelDriftScore *float64 `json:"modelDriftScore,omitempty"`
	// InferenceLatencyP99Ms alerts when a model's p99 inference latency exceeds it (default 500).
	InferenceLatencyP99Ms *int `json:"inferenceLatencyP99Ms,omitempty"`
	// GPUIdlePercent alerts on GPUs busy less than this percent for 1h (0 to 100, default 10).
	GPUIdlePercent *int `json:"gpuIdlePercent,omitempty"`
}

// CI runner kinds.
const (
	RunnerGitHubActions = "githubActions"
	RunnerGitLab        = "gitlab"
)

// CIRunner is a set of self-hosted CI runners.
type CIRunner struct {
	// Name is unique among the runners; a DNS-1123 label.
	Name string `json:"name"`
	// Kind is githubActions (Actions Runner Controller scale set) or gitlab.
	Kind string `json:"kind"`
	// URL is the GitHub organisation or repository URL, or the GitLab instance URL (https, no credentials).
	URL string `json:"url"`
	// TokenSecret is the name of the stack secret holding the runner token (pulumi config set --secret).
	TokenSecret string `json:"tokenSecret"`
	// MinRunners is the minimum runner count (default 0).
	MinRunners *int `json:"minRunners,omitempty"`
	// MaxRunners is the maximum runner count (default 5).
	MaxRunners *int `json:"maxRunners,omitempty"`
	// GPU schedules the runners on a GPU pool (toleration and GPU request).
	GPU *bool `json:"gpu,omitempty"`
}

// Charts configures where upstream Helm charts come from.
type Charts struct {
	// Repository is one mirror (oci:// registry or http(s):// chart repository) for every upstream chart, for air-gapped use.
	Repository string `json:"repository,omitempty"`
}

// Addons is reserved for later add-ons. No add-on is available in
// v1alpha1, so the block must be empty.
type Addons struct{}

// MarshalJSON renders the AZs as the blueprint gave them: a number or a list.
func (a AvailabilityZones) MarshalJSON() ([]byte, error) {
	if len(a.Names) > 0 {
		return json.Marshal(a.Names)
	}
	return json.Marshal(a.Count)
}
