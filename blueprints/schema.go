package blueprints

import (
	_ "embed"
	"encoding/json"
	"strconv"

	"github.com/invopop/jsonschema"
)

// SchemaID is the $id of the blueprint JSON Schema.
const SchemaID = "https://plinth.dev/schemas/v1alpha1/environment.json"

//go:embed schema.json
var schemaJSON []byte

// Schema returns the JSON Schema (draft 2020-12) of the blueprint format,
// for editors (yaml-language-server) and other tools. It is generated from
// the Go types and their doc comments by GenerateSchema and kept in
// schema.json; a test fails when the two drift apart.
func Schema() []byte { return schemaJSON }

// GenerateSchema builds the JSON Schema from the Go types. comments maps
// fully qualified type and field names to their doc comments (see
// jsonschema.Reflector.AddGoComments); it may be nil.
func GenerateSchema(comments map[string]string) ([]byte, error) {
	r := &jsonschema.Reflector{
		CommentMap: comments,
		// Optional fields are marked omitempty; the rest are required.
		RequiredFromJSONSchemaTags: false,
	}
	s := r.Reflect(&Environment{})
	s.ID = SchemaID
	s.Title = "Plinth blueprint (" + APIVersion + ", kind " + KindEnvironment + ")"
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Allowed values, shared by validation and the schema.
var (
	providers      = []string{ProviderAWS, ProviderKubernetes}
	classes        = []string{ClassDev, ClassStaging, ClassProd}
	natModes       = []string{NATNone, NATSingle, NATPerAZ}
	endpointModes  = []string{EndpointPrivate, EndpointPublic, EndpointBoth}
	capacityTypes  = []string{CapacityOnDemand, CapacitySpot}
	sharingModes   = []string{SharingNone, SharingTimeSlicing, SharingMIG}
	taintEffects   = []string{EffectNoSchedule, EffectPreferNoSchedule, EffectNoExecute}
	purposes       = []string{PurposeTracking, PurposeDatasets, PurposeModels, PurposeGeneral}
	encryptions    = []string{EncryptionKMS, EncryptionS3}
	authModes      = []string{AuthBasic, AuthNone}
	dashboards     = []string{DashboardGPU, DashboardTracking, DashboardModelDrift, DashboardCluster}
	gpuMetricModes = []string{GPUMetricsDCGM, GPUMetricsNone}
	runnerKinds    = []string{RunnerGitHubActions, RunnerGitLab}
)

func prop(s *jsonschema.Schema, name string) *jsonschema.Schema {
	if p, ok := s.Properties.Get(name); ok {
		return p
	}
	return &jsonschema.Schema{} // a field that does not exist: changes go nowhere
}

func enum(s *jsonschema.Schema, values []string) {
	s.Enum = make([]any, len(values))
	for i, v := range values {
		s.Enum[i] = v
	}
}

func between(s *jsonschema.Schema, lo, hi int) {
	s.Minimum = json.Number(strconv.Itoa(lo))
	s.Maximum = json.Number(strconv.Itoa(hi))
}

// JSONSchemaExtend adds constraints to the schema of Environment.
func (Environment) JSONSchemaExtend(s *jsonschema.Schema) {
	prop(s, "apiVersion").Const = APIVersion
	prop(s, "kind").Const = KindEnvironment
}

// JSONSchemaExtend adds constraints to the schema of Metadata.
func (Metadata) JSONSchemaExtend(s *jsonschema.Schema) {
	n := prop(s, "name")
	n.Pattern = dns1123Label.String()
	n.MaxLength = ptr(uint64(maxNameLength))
}

// JSONSchemaExtend adds constraints to the schema of Spec.
func (Spec) JSONSchemaExtend(s *jsonschema.Schema) {
	enum(prop(s, "provider"), providers)
	tags := prop(s, "tags")
	tags.Required = []string{"owner", "cost-center"}
	tags.Properties = jsonschema.NewProperties()
	env := &jsonschema.Schema{Type: "string"}
	enum(env, classes)
	tags.Properties.Set("environment", env)
}

// JSONSchemaExtend adds constraints to the schema of Network.
func (Network) JSONSchemaExtend(s *jsonschema.Schema) {
	prop(s, "cidr").Pattern = `^\d{1,3}(\.\d{1,3}){3}/(1[6-9]|2[0-4])$`
	enum(prop(s, "natGateways"), natModes)
}

// JSONSchema describes AvailabilityZones: a count or a list of names.
func (AvailabilityZones) JSONSchema() *jsonschema.Schema {
	count := &jsonschema.Schema{Type: "integer"}
	between(count, 2, 6)
	names := &jsonschema.Schema{Type: "array", Items: &jsonschema.Schema{Type: "string"}, MinItems: ptr(uint64(2)), MaxItems: ptr(uint64(6)), UniqueItems: true}
	return &jsonschema.Schema{
		Description: "A count (2 to 6) or a list of AZ names; it must not exceed what the region has.",
		OneOf:       []*jsonschema.Schema{count, names},
	}
}

// JSONSchemaExtend adds constraints to the schema of Cluster.
func (Cluster) JSONSchemaExtend(s *jsonschema.Schema) {
	prop(s, "kubernetesVersion").Pattern = k8sVersion.String()
	enum(prop(s, "endpointAccess"), endpointModes)
}

// JSONSchemaExtend adds constraints to the schema of NodePool.
func (NodePool) JSONSchemaExtend(s *jsonschema.Schema) {
	prop(s, "instanceType").Pattern = instanceType.String()
	between(prop(s, "min"), 1, 100)
	between(prop(s, "max"), 1, 100)
}

// JSONSchemaExtend adds constraints to the schema of GPUNodePool.
func (GPUNodePool) JSONSchemaExtend(s *jsonschema.Schema) {
	n := prop(s, "name")
	n.Pattern = dns1123Label.String()
	n.MaxLength = ptr(uint64(20))
	prop(s, "instanceTypes").MinItems = ptr(uint64(1))
	prop(s, "instanceTypes").UniqueItems = true
	enum(prop(s, "capacityType"), capacityTypes)
	between(prop(s, "minSize"), 0, 1000)
	between(prop(s, "maxSize"), 1, 1000)
	between(prop(s, "diskSizeGiB"), 20, 16384)
	s.Required = append(s.Required, "maxSize")
}

// JSONSchemaExtend adds constraints to the schema of GPUSharing.
func (GPUSharing) JSONSchemaExtend(s *jsonschema.Schema) {
	enum(prop(s, "sharing"), sharingModes)
	between(prop(s, "replicas"), 2, 48)
}

// JSONSchemaExtend adds constraints to the schema of Taint.
func (Taint) JSONSchemaExtend(s *jsonschema.Schema) {
	enum(prop(s, "effect"), taintEffects)
}

// JSONSchemaExtend adds constraints to the schema of Bucket.
func (Bucket) JSONSchemaExtend(s *jsonschema.Schema) {
	prop(s, "name").Pattern = bucketName.String()
	enum(prop(s, "purpose"), purposes)
	enum(prop(s, "encryption"), encryptions)
	between(prop(s, "expireNoncurrentAfterDays"), 1, 3650)
}

// JSONSchemaExtend adds constraints to the schema of Registry.
func (Registry) JSONSchemaExtend(s *jsonschema.Schema) {
	r := prop(s, "repositories")
	r.UniqueItems = true
	if r.Items != nil {
		r.Items.Pattern = ecrRepository.String()
	}
	between(prop(s, "keepLastImages"), 1, 10000)
}

// JSONSchemaExtend adds constraints to the schema of Tracking.
func (Tracking) JSONSchemaExtend(s *jsonschema.Schema) {
	enum(prop(s, "server"), []string{TrackingServerMLflow})
	prop(s, "version").Pattern = semver.String()
	between(prop(s, "replicas"), 1, 20)
	enum(prop(s, "auth"), authModes)
}

// JSONSchemaExtend adds constraints to the schema of Database.
func (Database) JSONSchemaExtend(s *jsonschema.Schema) {
	prop(s, "instanceClass").Pattern = dbClass.String()
	between(prop(s, "storageGiB"), 20, 65536)
}

// JSONSchemaExtend adds constraints to the schema of Monitoring.
func (Monitoring) JSONSchemaExtend(s *jsonschema.Schema) {
	enum(prop(s, "gpuMetrics"), gpuMetricModes)
}

// JSONSchemaExtend adds constraints to the schema of Prometheus.
func (Prometheus) JSONSchemaExtend(s *jsonschema.Schema) {
	prop(s, "retention").Pattern = promDuration.String()
	between(prop(s, "storageGiB"), 1, 65536)
}

// JSONSchemaExtend adds constraints to the schema of Grafana.
func (Grafana) JSONSchemaExtend(s *jsonschema.Schema) {
	d := prop(s, "dashboards")
	d.UniqueItems = true
	if d.Items != nil {
		enum(d.Items, dashboards)
	}
}

// JSONSchemaExtend adds constraints to the schema of Alerts.
func (Alerts) JSONSchemaExtend(s *jsonschema.Schema) {
	d := prop(s, "modelDriftScore")
	d.ExclusiveMinimum = json.Number("0")
	d.Maximum = json.Number("1")
	between(prop(s, "inferenceLatencyP99Ms"), 1, 600000)
	between(prop(s, "gpuIdlePercent"), 0, 100)
}

// JSONSchemaExtend adds constraints to the schema of CIRunner.
func (CIRunner) JSONSchemaExtend(s *jsonschema.Schema) {
	prop(s, "name").Pattern = dns1123Label.String()
	enum(prop(s, "kind"), runnerKinds)
	prop(s, "url").Pattern = `^https://[^@/]+(/.*)?$`
	prop(s, "tokenSecret").Pattern = configKey.String()
	between(prop(s, "minRunners"), 0, 1000)
	between(prop(s, "maxRunners"), 1, 1000)
}

// JSONSchemaExtend adds constraints to the schema of Charts.
func (Charts) JSONSchemaExtend(s *jsonschema.Schema) {
	prop(s, "repository").Pattern = `^((oci|https?)://[^@]+)?$`
}

func ptr[T any](v T) *T { return &v }
