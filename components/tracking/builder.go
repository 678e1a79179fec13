package tracking

import (
	"maps"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/components/k8snamespace"
)

// Label values of the server and database pods.
const (
	serverApp       = "mlflow"
	serverComponent = "server"
	databaseApp     = "postgresql"
	databaseComp    = "database"
	partOf          = "mlflow"
)

// Object names in the namespace.
const (
	serverSecretName      = "mlflow"
	metricsAuthSecretName = "mlflow-metrics-auth"
	artifactsClaimName    = "mlflow-artifacts"
	databaseServiceName   = "mlflow-postgres"
	databaseHeadlessName  = "mlflow-postgres-headless"
	databaseSecretName    = "mlflow-postgres"
	databaseSetName       = "mlflow-postgres"
)

// builder creates the component's children.
type builder struct {
	ctx    *pulumi.Context
	name   string
	a      *TrackingArgs
	parent pulumi.Resource
	ns     *k8snamespace.Namespace
	// inClusterDB is true when the database is the component's StatefulSet.
	inClusterDB bool
}

// opts parents a child to the component and makes it wait for the
// namespace (and its guardrails) and deps.
func (b *builder) opts(deps ...pulumi.Resource) []pulumi.ResourceOption {
	return []pulumi.ResourceOption{
		pulumi.Parent(b.parent),
		pulumi.DependsOn(append([]pulumi.Resource{b.ns}, deps...)),
	}
}

// meta is an object's metadata in the namespace, with Plinth's labels.
func (b *builder) meta(name string, labels map[string]string) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{
		Name:      pulumi.String(name),
		Namespace: pulumi.String(b.a.Namespace),
		Labels:    k8snamespace.Labels(b.a.Environment, labels),
	}
}

// serverSelector selects the MLflow pods.
func serverSelector() map[string]string {
	return map[string]string{AppLabel: serverApp, ComponentLabel: serverComponent}
}

// serverLabels are the labels of the MLflow workload, pods, Service and
// Ingress: the selector, part-of, and the authentication in front.
func (b *builder) serverLabels() map[string]string {
	l := serverSelector()
	l[PartOfLabel] = partOf
	l[AuthLabel] = b.a.Auth
	return l
}

// databaseSelector selects the in-cluster PostgreSQL pod.
func databaseSelector() map[string]string {
	return map[string]string{AppLabel: databaseApp, ComponentLabel: databaseComp, PartOfLabel: partOf}
}

// withLabels returns a copy of m with extra added.
func withLabels(m, extra map[string]string) map[string]string {
	out := maps.Clone(m)
	maps.Copy(out, extra)
	return out
}

// podSecurity is the pod security context: a fixed non-root user and
// group, fsGroup so volumes are writable, the runtime's seccomp profile.
func podSecurity(uid int) *corev1.PodSecurityContextArgs {
	return &corev1.PodSecurityContextArgs{
		RunAsNonRoot:        pulumi.Bool(true),
		RunAsUser:           pulumi.Int(uid),
		RunAsGroup:          pulumi.Int(uid),
		FsGroup:             pulumi.Int(uid),
		FsGroupChangePolicy: pulumi.String("OnRootMismatch"),
		SeccompProfile:      &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

// containerSecurity is the container security context of every container
// here: non-root, no privilege escalation, no capabilities, read-only root
// filesystem (writable paths are volumes), RuntimeDefault seccomp.
func containerSecurity(uid int) *corev1.SecurityContextArgs {
	return &corev1.SecurityContextArgs{
		RunAsNonRoot:             pulumi.Bool(true),
		RunAsUser:                pulumi.Int(uid),
		RunAsGroup:               pulumi.Int(uid),
		AllowPrivilegeEscalation: pulumi.Bool(false),
		Privileged:               pulumi.Bool(false),
		ReadOnlyRootFilesystem:   pulumi.Bool(true),
		Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
		SeccompProfile:           &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

// resources returns r, or def when r is nil.
func resources(r, def *Resources) *corev1.ResourceRequirementsArgs {
	if r == nil {
		r = def
	}
	return &corev1.ResourceRequirementsArgs{
		Requests: pulumi.ToStringMap(r.Requests),
		Limits:   pulumi.ToStringMap(r.Limits),
	}
}

// emptyDir is a scratch volume on the node, capped at sizeLimit.
func emptyDir(name, sizeLimit string) *corev1.VolumeArgs {
	return &corev1.VolumeArgs{
		Name:     pulumi.String(name),
		EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(sizeLimit)},
	}
}

// secretEnv is an environment variable read from a Secret's key.
func secretEnv(name, secret, key string) *corev1.EnvVarArgs {
	return &corev1.EnvVarArgs{
		Name: pulumi.String(name),
		ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
			Name: pulumi.String(secret),
			Key:  pulumi.String(key),
		}},
	}
}

// env is a plain environment variable.
func env(name string, value pulumi.StringInput) *corev1.EnvVarArgs {
	return &corev1.EnvVarArgs{Name: pulumi.String(name), Value: value}
}

// claim is a PersistentVolumeClaim spec of sizeGiB with the storage class
// ("" for the cluster default).
func claim(accessMode string, sizeGiB int, storageClass string) *corev1.PersistentVolumeClaimSpecArgs {
	spec := &corev1.PersistentVolumeClaimSpecArgs{
		AccessModes: pulumi.StringArray{pulumi.String(accessMode)},
		Resources: &corev1.VolumeResourceRequirementsArgs{
			Requests: pulumi.StringMap{"storage": pulumi.Sprintf("%dGi", sizeGiB)},
		},
	}
	if storageClass != "" {
		spec.StorageClassName = pulumi.String(storageClass)
	}
	return spec
}
