package tracking

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/blueprints/versions"
	"github.com/plinth-dev/plinth/components/k8snamespace"
)

// ServerUID is the user and group MLflow runs as.
const ServerUID = 1000

// IRSAAnnotation is the service account annotation naming its IAM role.
const IRSAAnnotation = "eks.amazonaws.com/role-arn"

// Paths in the MLflow container.
const (
	authConfigDir  = "/etc/mlflow/auth"
	authConfigFile = "basic_auth.ini"
	metricsDir     = "/tmp/metrics"
)

// Keys of the server Secret.
const (
	keyBackendURI = "backend-store-uri"
	keyAuthConfig = authConfigFile
	keyFlaskKey   = "flask-secret-key"
)

// defaultServerResources are the MLflow container's requests and limits.
var defaultServerResources = &Resources{
	Requests: map[string]string{"cpu": "250m", "memory": "512Mi"},
	Limits:   map[string]string{"cpu": "1", "memory": "2Gi"},
}

// initResources are the auth-database init container's.
var initResources = &Resources{
	Requests: map[string]string{"cpu": "50m", "memory": "64Mi"},
	Limits:   map[string]string{"cpu": "200m", "memory": "128Mi"},
}

// serverImage is the MLflow image reference.
func serverImage(a *TrackingArgs) string {
	if a.Image != "" {
		return a.Image
	}
	return versions.Get().MLflowImage(a.Version)
}

// server creates the MLflow server: its Secrets, service account,
// artifact volume, Deployment, Service, disruption budget, ServiceMonitor
// and Ingress. It returns the Service.
func (b *builder) server(db *DatabaseArgs) (*corev1.Service, error) {
	a := b.a
	basic := a.Auth == AuthBasic
	labels := b.serverLabels()
	selector := serverSelector()

	// Credentials: built from the secret inputs inside an apply, so the
	// results stay Pulumi secrets, and kept in a Kubernetes Secret.
	conn := pulumi.All(db.User, db.Password, db.Host, db.Port, db.Name).ApplyT(func(v []any) (map[string]string, error) {
		user, password, host, port, name := v[0].(string), v[1].(string), v[2].(string), v[3].(int), v[4].(string)
		backend, err := backendURI(user, password, host, port, name)
		if err != nil {
			return nil, err
		}
		out := map[string]string{keyBackendURI: backend}
		if basic {
			authDB, err := authDatabaseName(name)
			if err != nil {
				return nil, err
			}
			if out["authURI"], err = backendURI(user, password, host, port, authDB); err != nil {
				return nil, err
			}
		}
		return out, nil
	}).(pulumi.StringMapOutput)
	stringData := pulumi.StringMap{keyBackendURI: pulumi.ToSecret(conn.MapIndex(pulumi.String(keyBackendURI))).(pulumi.StringOutput)}
	var authDatabase pulumi.StringOutput
	if basic {
		// The name alone, not derived from the password: not a secret.
		authDatabase = db.Name.ToStringOutput().ApplyT(authDatabaseName).(pulumi.StringOutput)
		authURI := conn.MapIndex(pulumi.String("authURI"))
		ini := pulumi.All(authURI, a.AdminPassword).ApplyT(func(v []any) (string, error) {
			return authConfig(v[0].(string), a.AdminUsername, v[1].(string))
		}).(pulumi.StringOutput)
		key := a.AdminPassword.ToStringOutput().ApplyT(flaskSecretKey).(pulumi.StringOutput)
		stringData[keyAuthConfig] = pulumi.ToSecret(ini).(pulumi.StringOutput)
		stringData[keyFlaskKey] = pulumi.ToSecret(key).(pulumi.StringOutput)
	}
	secret, err := corev1.NewSecret(b.ctx, b.name+"-secret", &corev1.SecretArgs{
		Metadata:   b.meta(serverSecretName, withLabels(selector, map[string]string{PartOfLabel: partOf})),
		Type:       pulumi.String("Opaque"),
		StringData: stringData,
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("server secret: %w", err)
	}

	saMeta := b.meta(ServiceAccountName, withLabels(selector, map[string]string{PartOfLabel: partOf}))
	if a.Artifacts != nil && a.Artifacts.RoleArn != nil {
		saMeta.Annotations = pulumi.StringMap{IRSAAnnotation: a.Artifacts.RoleArn}
	}
	sa, err := corev1.NewServiceAccount(b.ctx, b.name+"-sa", &corev1.ServiceAccountArgs{
		Metadata: saMeta,
		// MLflow does not talk to the Kubernetes API; the IRSA webhook
		// mounts its own web identity token.
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("service account: %w", err)
	}

	deps := []pulumi.Resource{secret, sa}
	var artifacts pulumi.StringInput = pulumi.String(ArtifactsPath)
	volumes := corev1.VolumeArray{emptyDir("tmp", "1Gi"), emptyDir("metrics", "256Mi")}
	mounts := corev1.VolumeMountArray{
		&corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
		&corev1.VolumeMountArgs{Name: pulumi.String("metrics"), MountPath: pulumi.String(metricsDir)},
	}
	envs := corev1.EnvVarArray{
		// Read by `mlflow server` for --backend-store-uri: the URI stays
		// out of the command line.
		secretEnv("MLFLOW_BACKEND_STORE_URI", serverSecretName, keyBackendURI),
		env("HOME", pulumi.String("/tmp")),
	}
	// A ReadWriteOnce artifact volume cannot be attached to a new pod on
	// another node while the old one runs: recreate instead of rolling.
	strategy := "RollingUpdate"
	if a.Artifacts == nil {
		mode := "ReadWriteMany"
		if a.Replicas == 1 {
			mode, strategy = "ReadWriteOnce", "Recreate"
		}
		pvc, err := corev1.NewPersistentVolumeClaim(b.ctx, b.name+"-artifacts", &corev1.PersistentVolumeClaimArgs{
			Metadata: b.meta(artifactsClaimName, withLabels(selector, map[string]string{PartOfLabel: partOf})),
			Spec:     claim(mode, a.ArtifactStorageGiB, a.StorageClass),
		}, b.opts()...)
		if err != nil {
			return nil, fmt.Errorf("artifact volume: %w", err)
		}
		deps = append(deps, pvc)
		volumes = append(volumes, &corev1.VolumeArgs{
			Name:                  pulumi.String("artifacts"),
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{ClaimName: pulumi.String(artifactsClaimName)},
		})
		mounts = append(mounts, &corev1.VolumeMountArgs{Name: pulumi.String("artifacts"), MountPath: pulumi.String(ArtifactsPath)})
	} else {
		artifacts = pulumi.Sprintf("s3://%s/%s", a.Artifacts.Bucket, ArtifactPrefix)
		if r := a.Artifacts.Region; r != "" {
			envs = append(envs, env("AWS_REGION", pulumi.String(r)), env("AWS_DEFAULT_REGION", pulumi.String(r)))
		}
	}

	args := pulumi.StringArray{
		pulumi.String("server"),
		pulumi.String("--host"), pulumi.String("0.0.0.0"),
		pulumi.String("--port"), pulumi.Sprintf("%d", Port),
		pulumi.String("--serve-artifacts"),
		pulumi.String("--artifacts-destination"), artifacts,
		pulumi.String("--expose-prometheus"), pulumi.String(metricsDir),
	}
	var initContainers corev1.ContainerArray
	if basic {
		args = append(args, pulumi.String("--app-name"), pulumi.String("basic-auth"))
		envs = append(envs,
			env("MLFLOW_AUTH_CONFIG_PATH", pulumi.String(authConfigDir+"/"+authConfigFile)),
			secretEnv("MLFLOW_FLASK_SERVER_SECRET_KEY", serverSecretName, keyFlaskKey),
		)
		volumes = append(volumes, &corev1.VolumeArgs{
			Name: pulumi.String("auth-config"),
			Secret: &corev1.SecretVolumeSourceArgs{
				SecretName:  pulumi.String(serverSecretName),
				DefaultMode: pulumi.Int(0o440),
				Items: corev1.KeyToPathArray{&corev1.KeyToPathArgs{
					Key: pulumi.String(keyAuthConfig), Path: pulumi.String(authConfigFile),
				}},
			},
		})
		mounts = append(mounts, &corev1.VolumeMountArgs{Name: pulumi.String("auth-config"), MountPath: pulumi.String(authConfigDir), ReadOnly: pulumi.Bool(true)})
		init, err := authDatabaseInit(authDatabase)
		if err != nil {
			return nil, err
		}
		initContainers = corev1.ContainerArray{init}
	}

	httpProbe := func(period, failures int) *corev1.ProbeArgs {
		return &corev1.ProbeArgs{
			HttpGet:          &corev1.HTTPGetActionArgs{Path: pulumi.String(HealthPath), Port: pulumi.String("http")},
			PeriodSeconds:    pulumi.Int(period),
			TimeoutSeconds:   pulumi.Int(5),
			FailureThreshold: pulumi.Int(failures),
		}
	}
	pod := &corev1.PodSpecArgs{
		ServiceAccountName:           pulumi.String(ServiceAccountName),
		AutomountServiceAccountToken: pulumi.Bool(false),
		// A Service named mlflow would otherwise put MLFLOW_PORT=tcp://...
		// into the environment, which MLflow's CLI reads as an option.
		EnableServiceLinks: pulumi.Bool(false),
		SecurityContext:    podSecurity(ServerUID),
		InitContainers:     initContainers,
		Containers: corev1.ContainerArray{&corev1.ContainerArgs{
			Name:            pulumi.String("mlflow"),
			Image:           pulumi.String(serverImage(a)),
			ImagePullPolicy: pulumi.String("IfNotPresent"),
			Command:         pulumi.StringArray{pulumi.String("mlflow")},
			Args:            args,
			Ports: corev1.ContainerPortArray{&corev1.ContainerPortArgs{
				Name: pulumi.String("http"), ContainerPort: pulumi.Int(Port), Protocol: pulumi.String("TCP"),
			}},
			Env:             envs,
			Resources:       resources(a.ServerResources, defaultServerResources),
			SecurityContext: containerSecurity(ServerUID),
			// Database migrations run before the server listens.
			StartupProbe:   httpProbe(10, 30),
			ReadinessProbe: httpProbe(10, 3),
			LivenessProbe:  httpProbe(20, 5),
			VolumeMounts:   mounts,
		}},
		Volumes: volumes,
	}
	if a.Replicas > 1 {
		pod.Affinity = &corev1.AffinityArgs{PodAntiAffinity: &corev1.PodAntiAffinityArgs{
			PreferredDuringSchedulingIgnoredDuringExecution: corev1.WeightedPodAffinityTermArray{&corev1.WeightedPodAffinityTermArgs{
				Weight: pulumi.Int(100),
				PodAffinityTerm: &corev1.PodAffinityTermArgs{
					TopologyKey:   pulumi.String("kubernetes.io/hostname"),
					LabelSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selector)},
				},
			}},
		}}
	}
	if _, err := appsv1.NewDeployment(b.ctx, b.name+"-server", &appsv1.DeploymentArgs{
		Metadata: b.meta(ServerName, labels),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(a.Replicas),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selector)},
			Strategy: &appsv1.DeploymentStrategyArgs{Type: pulumi.String(strategy)},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: k8snamespace.Labels(a.Environment, labels)},
				Spec:     pod,
			},
		},
	}, b.opts(deps...)...); err != nil {
		return nil, fmt.Errorf("server deployment: %w", err)
	}

	svc, err := corev1.NewService(b.ctx, b.name+"-service", &corev1.ServiceArgs{
		Metadata: b.meta(ServerName, labels),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: pulumi.ToStringMap(selector),
			Ports: corev1.ServicePortArray{&corev1.ServicePortArgs{
				Name: pulumi.String("http"), Port: pulumi.Int(Port), TargetPort: pulumi.String("http"), Protocol: pulumi.String("TCP"),
			}},
		},
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("server service: %w", err)
	}

	// maxUnavailable 1: with one replica a drain may still evict it (a
	// budget of zero would block every node drain and upgrade); with two
	// it keeps one serving, like minAvailable 1; with more it keeps all
	// but one.
	if _, err := policyv1.NewPodDisruptionBudget(b.ctx, b.name+"-pdb", &policyv1.PodDisruptionBudgetArgs{
		Metadata: b.meta(ServerName, labels),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(1),
			Selector:       &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selector)},
		},
	}, b.opts()...); err != nil {
		return nil, fmt.Errorf("server disruption budget: %w", err)
	}

	if err := b.serviceMonitor(labels); err != nil {
		return nil, err
	}
	if a.Ingress != nil {
		if err := b.ingress(labels, svc); err != nil {
			return nil, err
		}
	}
	return svc, nil
}

// authDatabaseInit is the init container that creates the basic-auth
// database, with psql from the pinned PostgreSQL image.
func authDatabaseInit(authDatabase pulumi.StringOutput) (*corev1.ContainerArgs, error) {
	image, err := postgresImage()
	if err != nil {
		return nil, err
	}
	return &corev1.ContainerArgs{
		Name:            pulumi.String("create-auth-database"),
		Image:           pulumi.String(image),
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Command:         pulumi.StringArray{pulumi.String("sh"), pulumi.String("-c"), pulumi.String(createAuthDatabaseScript)},
		Env: corev1.EnvVarArray{
			secretEnv("MLFLOW_BACKEND_STORE_URI", serverSecretName, keyBackendURI),
			env("AUTH_DATABASE", authDatabase),
			env("HOME", pulumi.String("/tmp")),
		},
		Resources:       resources(nil, initResources),
		SecurityContext: containerSecurity(PostgresUID),
		VolumeMounts: corev1.VolumeMountArray{
			&corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
		},
	}, nil
}

// serviceMonitor lets the Prometheus Operator scrape /metrics. Behind
// basic auth, /metrics needs credentials too: the admin's, from a
// kubernetes.io/basic-auth Secret in the namespace.
func (b *builder) serviceMonitor(labels map[string]string) error {
	a := b.a
	endpoint := map[string]any{"port": "http", "path": MetricsPath, "interval": "30s", "scheme": "http"}
	var deps []pulumi.Resource
	if a.Auth == AuthBasic {
		auth, err := corev1.NewSecret(b.ctx, b.name+"-metrics-auth", &corev1.SecretArgs{
			Metadata: b.meta(metricsAuthSecretName, withLabels(serverSelector(), map[string]string{PartOfLabel: partOf})),
			Type:     pulumi.String("kubernetes.io/basic-auth"),
			StringData: pulumi.StringMap{
				"username": pulumi.String(a.AdminUsername),
				"password": pulumi.ToSecret(a.AdminPassword).(pulumi.StringOutput),
			},
		}, b.opts()...)
		if err != nil {
			return fmt.Errorf("metrics credentials: %w", err)
		}
		deps = append(deps, auth)
		endpoint["basicAuth"] = map[string]any{
			"username": map[string]any{"name": metricsAuthSecretName, "key": "username"},
			"password": map[string]any{"name": metricsAuthSecretName, "key": "password"},
		}
	}
	meta := b.meta(ServerName, withLabels(labels, a.ServiceMonitorLabels))
	if _, err := apiextensions.NewCustomResource(b.ctx, b.name+"-servicemonitor", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("monitoring.coreos.com/v1"),
		Kind:       pulumi.String("ServiceMonitor"),
		Metadata:   meta,
		OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{
			"selector":          map[string]any{"matchLabels": serverSelector()},
			"namespaceSelector": map[string]any{"matchNames": []string{a.Namespace}},
			"endpoints":         []any{endpoint},
		}},
	}, b.opts(deps...)...); err != nil {
		return fmt.Errorf("service monitor: %w", err)
	}
	return nil
}

// ingress exposes the Service under the host name.
func (b *builder) ingress(labels map[string]string, svc *corev1.Service) error {
	in := b.a.Ingress
	meta := b.meta(ServerName, labels)
	if len(in.Annotations) > 0 {
		meta.Annotations = pulumi.ToStringMap(in.Annotations)
	}
	spec := &networkingv1.IngressSpecArgs{
		Rules: networkingv1.IngressRuleArray{&networkingv1.IngressRuleArgs{
			Host: pulumi.String(in.Host),
			Http: &networkingv1.HTTPIngressRuleValueArgs{Paths: networkingv1.HTTPIngressPathArray{&networkingv1.HTTPIngressPathArgs{
				Path:     pulumi.String("/"),
				PathType: pulumi.String("Prefix"),
				Backend: &networkingv1.IngressBackendArgs{Service: &networkingv1.IngressServiceBackendArgs{
					Name: pulumi.String(ServerName),
					Port: &networkingv1.ServiceBackendPortArgs{Name: pulumi.String("http")},
				}},
			}}},
		}},
	}
	if in.ClassName != "" {
		spec.IngressClassName = pulumi.String(in.ClassName)
	}
	if in.TLS {
		spec.Tls = networkingv1.IngressTLSArray{&networkingv1.IngressTLSArgs{
			Hosts:      pulumi.StringArray{pulumi.String(in.Host)},
			SecretName: pulumi.String(in.TLSSecretName),
		}}
	}
	if _, err := networkingv1.NewIngress(b.ctx, b.name+"-ingress", &networkingv1.IngressArgs{
		Metadata: meta,
		Spec:     spec,
	}, b.opts(svc)...); err != nil {
		return fmt.Errorf("ingress: %w", err)
	}
	return nil
}
