package tracking

import (
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/blueprints/versions"
	"github.com/plinth-dev/plinth/components/k8snamespace"
)

// PostgresUID is the user and group the in-cluster PostgreSQL runs as:
// the postgres user of the pinned Alpine-based image (70:70), so initdb
// finds itself in /etc/passwd.
const PostgresUID = 70

// postgresImageKey is the key of the PostgreSQL image in versions.yaml.
const postgresImageKey = "postgres"

// Paths of the in-cluster PostgreSQL.
const (
	// postgresDataMount is where the volume is mounted; PGDATA is a
	// subdirectory, so the volume's lost+found does not upset initdb.
	postgresDataMount = "/var/lib/postgresql/data"
	postgresData      = postgresDataMount + "/pgdata"
	postgresRunDir    = "/var/run/postgresql"
)

// defaultDatabaseResources are the in-cluster PostgreSQL's requests and limits.
var defaultDatabaseResources = &Resources{
	Requests: map[string]string{"cpu": "250m", "memory": "256Mi"},
	Limits:   map[string]string{"cpu": "1", "memory": "1Gi"},
}

// postgresImage is the pinned PostgreSQL image reference.
func postgresImage() (string, error) {
	img, ok := versions.Get().Images[postgresImageKey]
	if !ok || img.Repository == "" || img.Tag == "" || img.Tag == "TODO" {
		return "", fmt.Errorf("versions.yaml: images.%s is not pinned", postgresImageKey)
	}
	return img.Ref(), nil
}

// database creates the in-cluster PostgreSQL (Secret, Services,
// StatefulSet with its volume) and returns how MLflow reaches it.
func (b *builder) database() (*DatabaseArgs, error) {
	a := b.a
	image, err := postgresImage()
	if err != nil {
		return nil, err
	}
	b.inClusterDB = true
	labels := databaseSelector()

	secret, err := corev1.NewSecret(b.ctx, b.name+"-postgres-secret", &corev1.SecretArgs{
		Metadata: b.meta(databaseSecretName, labels),
		Type:     pulumi.String("Opaque"),
		StringData: pulumi.StringMap{
			"POSTGRES_PASSWORD": pulumi.ToSecret(a.DatabasePassword).(pulumi.StringOutput),
		},
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("database secret: %w", err)
	}

	port := corev1.ServicePortArray{&corev1.ServicePortArgs{
		Name: pulumi.String("postgres"), Port: pulumi.Int(PostgresPort), TargetPort: pulumi.String("postgres"), Protocol: pulumi.String("TCP"),
	}}
	// The StatefulSet's governing Service (stable pod DNS) and the one
	// MLflow connects to.
	headless, err := corev1.NewService(b.ctx, b.name+"-postgres-headless", &corev1.ServiceArgs{
		Metadata: b.meta(databaseHeadlessName, labels),
		Spec: &corev1.ServiceSpecArgs{
			ClusterIP: pulumi.String("None"),
			Selector:  pulumi.ToStringMap(labels),
			Ports:     port,
		},
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("database headless service: %w", err)
	}
	if _, err := corev1.NewService(b.ctx, b.name+"-postgres-service", &corev1.ServiceArgs{
		Metadata: b.meta(databaseServiceName, labels),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: pulumi.ToStringMap(labels),
			Ports:    port,
		},
	}, b.opts()...); err != nil {
		return nil, fmt.Errorf("database service: %w", err)
	}

	// pg_isready against the pod's own TCP listener, so "ready" means
	// MLflow can connect, not only that the socket answers.
	isReady := pulumi.StringArray{
		pulumi.String("sh"), pulumi.String("-c"),
		pulumi.Sprintf(`exec pg_isready -q -h 127.0.0.1 -p %d -U "$POSTGRES_USER" -d "$POSTGRES_DB"`, PostgresPort),
	}
	probe := func(period, failures int) *corev1.ProbeArgs {
		return &corev1.ProbeArgs{
			Exec:             &corev1.ExecActionArgs{Command: isReady},
			PeriodSeconds:    pulumi.Int(period),
			TimeoutSeconds:   pulumi.Int(5),
			FailureThreshold: pulumi.Int(failures),
		}
	}
	startup := probe(5, 60) // initdb on a new volume, recovery after a crash
	sc := containerSecurity(PostgresUID)
	_, err = appsv1.NewStatefulSet(b.ctx, b.name+"-postgres", &appsv1.StatefulSetArgs{
		Metadata: b.meta(databaseSetName, labels),
		Spec: &appsv1.StatefulSetSpecArgs{
			Replicas:    pulumi.Int(1),
			ServiceName: pulumi.String(databaseHeadlessName),
			Selector:    &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(labels)},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: k8snamespace.Labels(a.Environment, labels)},
				Spec: &corev1.PodSpecArgs{
					AutomountServiceAccountToken:  pulumi.Bool(false),
					EnableServiceLinks:            pulumi.Bool(false),
					SecurityContext:               podSecurity(PostgresUID),
					TerminationGracePeriodSeconds: pulumi.Int(60),
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name:            pulumi.String("postgres"),
						Image:           pulumi.String(image),
						ImagePullPolicy: pulumi.String("IfNotPresent"),
						Ports: corev1.ContainerPortArray{&corev1.ContainerPortArgs{
							Name: pulumi.String("postgres"), ContainerPort: pulumi.Int(PostgresPort), Protocol: pulumi.String("TCP"),
						}},
						Env: corev1.EnvVarArray{
							env("POSTGRES_USER", pulumi.String(DatabaseUser)),
							env("POSTGRES_DB", pulumi.String(DatabaseName)),
							secretEnv("POSTGRES_PASSWORD", databaseSecretName, "POSTGRES_PASSWORD"),
							env("PGDATA", pulumi.String(postgresData)),
						},
						Resources:       resources(a.DatabaseResources, defaultDatabaseResources),
						SecurityContext: sc,
						StartupProbe:    startup,
						ReadinessProbe:  probe(10, 3),
						LivenessProbe:   probe(20, 6),
						VolumeMounts: corev1.VolumeMountArray{
							&corev1.VolumeMountArgs{Name: pulumi.String("data"), MountPath: pulumi.String(postgresDataMount)},
							&corev1.VolumeMountArgs{Name: pulumi.String("run"), MountPath: pulumi.String(postgresRunDir)},
							&corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
						},
					}},
					Volumes: corev1.VolumeArray{emptyDir("run", "16Mi"), emptyDir("tmp", "256Mi")},
				},
			},
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{&corev1.PersistentVolumeClaimTypeArgs{
				Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("data"), Labels: pulumi.ToStringMap(labels)},
				Spec:     claim("ReadWriteOnce", a.DatabaseStorageGiB, a.StorageClass),
			}},
		},
	}, b.opts(secret, headless)...)
	if err != nil {
		return nil, fmt.Errorf("database statefulset: %w", err)
	}

	return &DatabaseArgs{
		Host:     pulumi.String(fmt.Sprintf("%s.%s.svc", databaseServiceName, a.Namespace)),
		Port:     pulumi.Int(PostgresPort),
		Name:     pulumi.String(DatabaseName),
		User:     pulumi.String(DatabaseUser),
		Password: a.DatabasePassword,
	}, nil
}
