// Package tracking is the Plinth MLflow tracking server on Kubernetes: a
// hardened namespace, the MLflow server (Deployment, Service, disruption
// budget, ServiceMonitor, optional Ingress) with PostgreSQL as its backend
// store and S3 (through IRSA) or a volume for artifacts, MLflow's basic-auth
// app in front of it, and NetworkPolicies that let through only what it
// needs.
//
// On aws the database is the RDS instance and the bucket the S3 bucket of
// components/trackingstore and components/storage; on a bare cluster
// (Database nil) a single-replica PostgreSQL StatefulSet with its own volume
// is created in the same namespace, and artifacts (Artifacts nil) go to a
// volume served by MLflow itself (--serve-artifacts).
//
// Credentials reach the pods only through Kubernetes Secrets whose values
// are Pulumi secrets: the backend store URI (user and password included),
// the basic-auth configuration file and the Flask secret key.
package tracking

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/blueprints/versions"
	"github.com/plinth-dev/plinth/components/k8snamespace"
)

// TypeToken is the component's type token.
const TypeToken = "plinth:kubernetes:Tracking"

// Auth modes.
const (
	// AuthBasic runs MLflow's basic-auth app (--app-name basic-auth).
	AuthBasic = "basic"
	// AuthNone runs MLflow without authentication.
	AuthNone = "none"
)

// Defaults and fixed names.
const (
	// DefaultNamespace is the namespace when Namespace is empty.
	DefaultNamespace = "plinth-tracking"
	// DefaultMonitoringNamespace is the namespace whose Prometheus may
	// scrape MLflow when MonitoringNamespace is empty.
	DefaultMonitoringNamespace = "plinth-monitoring"
	// DefaultAdminUsername is the basic-auth admin user when AdminUsername
	// is empty.
	DefaultAdminUsername = "admin"
	// DefaultDatabaseStorageGiB is the in-cluster database volume size
	// when DatabaseStorageGiB is 0.
	DefaultDatabaseStorageGiB = 20
	// DefaultArtifactStorageGiB is the artifact volume size when
	// ArtifactStorageGiB is 0.
	DefaultArtifactStorageGiB = 50
	// DefaultTLSSecretName holds the Ingress certificate when
	// Ingress.TLSSecretName is empty.
	DefaultTLSSecretName = "mlflow-tls"

	// ServerName names the MLflow Deployment, Service and ServiceAccount.
	// The service account name is the one the IRSA role of
	// components/trackingstore trusts (its DefaultServiceAccountName).
	ServerName = "mlflow"
	// ServiceAccountName is the MLflow pods' service account.
	ServiceAccountName = ServerName
	// Port is the MLflow HTTP port (UI, REST API, artifacts, /metrics).
	Port = 5000
	// PostgresPort is the PostgreSQL port.
	PostgresPort = 5432
	// DatabaseName and DatabaseUser are the in-cluster database and its
	// owner (the same as the RDS ones of components/trackingstore).
	DatabaseName = "mlflow"
	DatabaseUser = "mlflow"
	// ArtifactsPath is where the artifact volume is mounted and MLflow
	// stores artifacts when Artifacts is nil.
	ArtifactsPath = "/mlflow/artifacts"
	// ArtifactPrefix is the key prefix of artifacts in the bucket.
	ArtifactPrefix = "mlflow"
	// MetricsPath is the Prometheus endpoint of --expose-prometheus.
	MetricsPath = "/metrics"
	// HealthPath is MLflow's health endpoint (never behind basic auth).
	HealthPath = "/health"
)

// Labels Plinth reads on the tracking objects.
const (
	// AppLabel is the recommended application name label; the policies
	// find the MLflow server by AppLabel=mlflow.
	AppLabel = "app.kubernetes.io/name"
	// ComponentLabel tells the server and database pods apart.
	ComponentLabel = "app.kubernetes.io/component"
	// PartOfLabel groups the server and its database.
	PartOfLabel = "app.kubernetes.io/part-of"
	// AuthLabel names the authentication in front of the server
	// (policy security.server-auth).
	AuthLabel = "plinth.dev/auth"
)

var (
	versionRE   = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
	dnsLabelRE  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	hostRE      = regexp.MustCompile(`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	subdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	usernameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]*$`)
)

// DatabaseArgs is an external PostgreSQL database (the RDS instance on aws).
type DatabaseArgs struct {
	// Host is the database host name.
	Host pulumi.StringInput
	// Port is the database port; nil means 5432.
	Port pulumi.IntInput
	// Name is the database MLflow's tracking tables live in. With basic
	// auth, the user must be allowed to create the database <Name>_auth
	// for the users and permissions (the RDS master user is).
	Name pulumi.StringInput
	// User is the PostgreSQL user MLflow connects as.
	User pulumi.StringInput
	// Password is that user's password (a Pulumi secret).
	Password pulumi.StringInput
}

// ArtifactsArgs is the S3 bucket artifacts go to, reached through IRSA.
type ArtifactsArgs struct {
	// Bucket is the bucket name; artifacts go to s3://<Bucket>/mlflow.
	Bucket pulumi.StringInput
	// RoleArn is the IRSA role of the MLflow service account (annotation
	// eks.amazonaws.com/role-arn); nil leaves the service account bare
	// (node role, or credentials the cluster injects otherwise).
	RoleArn pulumi.StringInput
	// Region is the bucket's AWS region (AWS_REGION); empty leaves it to
	// the SDK's defaults.
	Region string
}

// IngressArgs exposes the server under a host name.
type IngressArgs struct {
	// Host is the DNS name.
	Host string
	// TLS serves HTTPS with the certificate in TLSSecretName.
	TLS bool
	// TLSSecretName is the Secret holding the certificate (created by the
	// user or cert-manager); empty means DefaultTLSSecretName.
	TLSSecretName string
	// ClassName is the IngressClass; empty uses the cluster default.
	ClassName string
	// ControllerNamespace is the ingress controller's namespace; when set
	// it is allowed to reach the server even if ClientNamespaces is set.
	ControllerNamespace string
	// Annotations are added to the Ingress (cert-manager issuer, body size).
	Annotations map[string]string
}

// Resources are a container's requests and limits.
type Resources struct {
	// Requests are the resource requests (cpu: 250m, memory: 512Mi).
	Requests map[string]string
	// Limits are the resource limits (cpu: "1", memory: 2Gi).
	Limits map[string]string
}

// TrackingArgs are the inputs of a Tracking component.
type TrackingArgs struct {
	// Namespace is created for the server; empty means DefaultNamespace.
	Namespace string
	// Environment is the Plinth environment (label plinth.dev/environment).
	Environment string
	// Version is the MLflow version x.y.z (image tag v<Version>); empty
	// means the pinned versions.Get().MLflow.Default.
	Version string
	// Image replaces the whole server image reference (repository:tag),
	// e.g. an image built FROM the pinned one with psycopg2, boto3 and
	// mlflow[auth]; empty means versions.Get().MLflowImage(Version).
	Image string
	// Replicas is the number of server pods; 0 means 1.
	Replicas int
	// Auth is basic (default) or none.
	Auth string
	// AdminUsername is the basic-auth admin; empty means DefaultAdminUsername.
	AdminUsername string
	// AdminPassword is the basic-auth admin's initial password (a Pulumi
	// secret); required for basic auth. MLflow creates the admin on first
	// start only: later changes go through its users API.
	AdminPassword pulumi.StringInput
	// Database is an external PostgreSQL database; nil runs PostgreSQL in
	// the namespace (a StatefulSet with a DatabaseStorageGiB volume).
	Database *DatabaseArgs
	// DatabaseStorageGiB is the in-cluster database volume; 0 means
	// DefaultDatabaseStorageGiB.
	DatabaseStorageGiB int
	// DatabasePassword is the in-cluster database's password (a Pulumi
	// secret); required when Database is nil.
	DatabasePassword pulumi.StringInput
	// Artifacts is the S3 bucket for artifacts; nil stores them on a
	// volume MLflow serves (ReadWriteOnce with one replica, ReadWriteMany
	// with more, which the storage class must support).
	Artifacts *ArtifactsArgs
	// ArtifactStorageGiB is the artifact volume; 0 means
	// DefaultArtifactStorageGiB.
	ArtifactStorageGiB int
	// StorageClass is the storage class of the volumes; empty uses the
	// cluster default.
	StorageClass string
	// Ingress exposes the server under a host name; nil keeps it
	// in-cluster (ClusterIP).
	Ingress *IngressArgs
	// ClientNamespaces may reach the server on its port; empty means every
	// namespace of the cluster.
	ClientNamespaces []string
	// MonitoringNamespace is where Prometheus scrapes from; empty means
	// DefaultMonitoringNamespace.
	MonitoringNamespace string
	// ServiceMonitorLabels are put on the ServiceMonitor so that the
	// Prometheus of the monitoring stack selects it (e.g. release:
	// kube-prometheus-stack). The ServiceMonitor is always created.
	ServiceMonitorLabels map[string]string
	// ServerResources and DatabaseResources replace the default requests
	// and limits of the MLflow and PostgreSQL containers.
	ServerResources   *Resources
	DatabaseResources *Resources
}

// Tracking is an MLflow tracking server.
type Tracking struct {
	pulumi.ResourceState

	// Namespace is the namespace the server runs in.
	Namespace pulumi.StringOutput `pulumi:"namespace"`
	// URL is where clients reach the server: http://mlflow.<ns>.svc:5000
	// in the cluster, or http(s)://<host> with an Ingress.
	URL pulumi.StringOutput `pulumi:"url"`
	// ServiceName is the MLflow Service's name.
	ServiceName pulumi.StringOutput `pulumi:"serviceName"`
}

// NewTracking creates the namespace, the MLflow server and, when Database
// is nil, its PostgreSQL database.
func NewTracking(ctx *pulumi.Context, name string, args *TrackingArgs, opts ...pulumi.ResourceOption) (*Tracking, error) {
	a, err := withDefaults(args)
	if err != nil {
		return nil, fmt.Errorf("tracking %q: %w", name, err)
	}
	c := &Tracking{}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("tracking %q: register component: %w", name, err)
	}
	b := &builder{ctx: ctx, name: name, a: a, parent: c}

	ns, err := k8snamespace.NewNamespace(ctx, name+"-ns", &k8snamespace.NamespaceArgs{
		Name:            a.Namespace,
		PodSecurity:     k8snamespace.Restricted,
		Environment:     a.Environment,
		DefaultDeny:     true,
		DefaultRequests: map[string]string{"cpu": "100m", "memory": "128Mi"},
		DefaultLimits:   map[string]string{"cpu": "500m", "memory": "512Mi"},
	}, pulumi.Parent(c))
	if err != nil {
		return nil, fmt.Errorf("tracking %q: %w", name, err)
	}
	b.ns = ns

	db := a.Database
	if db == nil {
		if db, err = b.database(); err != nil {
			return nil, fmt.Errorf("tracking %q: %w", name, err)
		}
	}
	svc, err := b.server(db)
	if err != nil {
		return nil, fmt.Errorf("tracking %q: %w", name, err)
	}
	if err := b.networkPolicies(db); err != nil {
		return nil, fmt.Errorf("tracking %q: %w", name, err)
	}

	c.Namespace = ns.NameOutput
	c.ServiceName = svc.Metadata.Name().Elem()
	c.URL = pulumi.String(serverURL(a)).ToStringOutput()
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"namespace":   c.Namespace,
		"url":         c.URL,
		"serviceName": c.ServiceName,
	}); err != nil {
		return nil, fmt.Errorf("tracking %q: register outputs: %w", name, err)
	}
	return c, nil
}

// serverURL is where clients reach the server.
func serverURL(a *TrackingArgs) string {
	if in := a.Ingress; in != nil {
		if in.TLS {
			return "https://" + in.Host
		}
		return "http://" + in.Host
	}
	return fmt.Sprintf("http://%s.%s.svc:%d", ServerName, a.Namespace, Port)
}

// withDefaults validates args and returns a copy with the defaults filled in.
func withDefaults(args *TrackingArgs) (*TrackingArgs, error) {
	if args == nil {
		return nil, errors.New("args are required")
	}
	a := *args
	if a.Namespace == "" {
		a.Namespace = DefaultNamespace
	}
	if a.Version == "" {
		a.Version = versions.Get().MLflow.Default
	}
	if a.Replicas == 0 {
		a.Replicas = 1
	}
	if a.Auth == "" {
		a.Auth = AuthBasic
	}
	if a.AdminUsername == "" {
		a.AdminUsername = DefaultAdminUsername
	}
	if a.DatabaseStorageGiB == 0 {
		a.DatabaseStorageGiB = DefaultDatabaseStorageGiB
	}
	if a.ArtifactStorageGiB == 0 {
		a.ArtifactStorageGiB = DefaultArtifactStorageGiB
	}
	if a.MonitoringNamespace == "" {
		a.MonitoringNamespace = DefaultMonitoringNamespace
	}
	if a.Database != nil {
		db := *a.Database
		if db.Port == nil {
			db.Port = pulumi.Int(PostgresPort)
		}
		a.Database = &db
	}
	if a.Ingress != nil {
		in := *a.Ingress
		if in.TLS && in.TLSSecretName == "" {
			in.TLSSecretName = DefaultTLSSecretName
		}
		a.Ingress = &in
	}

	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf(format, v...)) }
	namespaceName := func(field, ns string) {
		if !dnsLabelRE.MatchString(ns) || len(ns) > 63 {
			bad("%s %q is not a Kubernetes namespace name", field, ns)
		}
	}
	namespaceName("namespace", a.Namespace)
	namespaceName("monitoringNamespace", a.MonitoringNamespace)
	for i, ns := range a.ClientNamespaces {
		namespaceName(fmt.Sprintf("clientNamespaces[%d]", i), ns)
	}
	if !versionRE.MatchString(a.Version) {
		bad("version %q is not x.y.z", a.Version)
	}
	if a.Image != "" && strings.ContainsAny(a.Image, " \t\n") {
		bad("image %q is not an image reference", a.Image)
	}
	if a.Replicas < 1 {
		bad("replicas must be at least 1, got %d", a.Replicas)
	}
	switch a.Auth {
	case AuthBasic:
		if a.AdminPassword == nil {
			bad("adminPassword is required with auth %q", AuthBasic)
		}
		if !usernameRE.MatchString(a.AdminUsername) {
			bad("adminUsername %q must be letters, digits, '.', '_', '@' or '-'", a.AdminUsername)
		}
	case AuthNone:
	default:
		bad("auth %q is not %s or %s", a.Auth, AuthBasic, AuthNone)
	}
	if db := a.Database; db != nil {
		for _, f := range []struct {
			field   string
			missing bool
		}{
			{"database.host", db.Host == nil}, {"database.name", db.Name == nil},
			{"database.user", db.User == nil}, {"database.password", db.Password == nil},
		} {
			if f.missing {
				bad("%s is required", f.field)
			}
		}
	} else {
		if a.DatabasePassword == nil {
			bad("databasePassword is required for the in-cluster database (database is not set)")
		}
		if a.DatabaseStorageGiB < 1 {
			bad("databaseStorageGiB must be at least 1, got %d", a.DatabaseStorageGiB)
		}
	}
	if a.Artifacts != nil {
		if a.Artifacts.Bucket == nil {
			bad("artifacts.bucket is required")
		}
	} else if a.ArtifactStorageGiB < 1 {
		bad("artifactStorageGiB must be at least 1, got %d", a.ArtifactStorageGiB)
	}
	if in := a.Ingress; in != nil {
		if !hostRE.MatchString(in.Host) || len(in.Host) > 253 {
			bad("ingress.host %q is not a DNS name", in.Host)
		}
		if in.TLS && (!subdomainRE.MatchString(in.TLSSecretName) || len(in.TLSSecretName) > 253) {
			bad("ingress.tlsSecretName %q is not a Secret name", in.TLSSecretName)
		}
		if in.ControllerNamespace != "" {
			namespaceName("ingress.controllerNamespace", in.ControllerNamespace)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &a, nil
}
