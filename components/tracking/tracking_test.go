package tracking

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/blueprints/versions"
	"github.com/plinth-dev/plinth/policies"
	"github.com/plinth-dev/plinth/stacks/plan"
)

const (
	tNamespace      = "kubernetes:core/v1:Namespace"
	tSecret         = "kubernetes:core/v1:Secret"
	tService        = "kubernetes:core/v1:Service"
	tServiceAccount = "kubernetes:core/v1:ServiceAccount"
	tPVC            = "kubernetes:core/v1:PersistentVolumeClaim"
	tDeployment     = "kubernetes:apps/v1:Deployment"
	tStatefulSet    = "kubernetes:apps/v1:StatefulSet"
	tPDB            = "kubernetes:policy/v1:PodDisruptionBudget"
	tNetworkPolicy  = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	tIngress        = "kubernetes:networking.k8s.io/v1:Ingress"
	tServiceMonitor = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"

	adminPassword = "admin-Pa55word-2026"
	// rdsPassword needs percent-encoding in a URI and %-doubling in the ini.
	rdsPassword   = "rds-p@ss/w%rd:x"
	localPassword = "local-db-pass-123"
	roleArn       = "arn:aws:iam::123456789012:role/plinth-prod-tracking"
	bucket        = "plinth-prod-tracking-1a2b3c4"
	rdsHost       = "plinth-prod-db.abc123.eu-west-1.rds.amazonaws.com"
)

// secret is a known Pulumi secret (the offline planner cannot take inputs
// that are secret and unknown).
func secret(s string) pulumi.StringInput {
	return pulumi.ToSecret(pulumi.String(s)).(pulumi.StringOutput)
}

// awsArgs are the arguments stacks passes on aws: the RDS database, the
// S3 bucket through IRSA, basic auth, two replicas behind a TLS Ingress.
func awsArgs(mod ...func(*TrackingArgs)) *TrackingArgs {
	a := &TrackingArgs{
		Environment:   "prod-eu",
		Replicas:      2,
		Auth:          AuthBasic,
		AdminPassword: secret(adminPassword),
		Database: &DatabaseArgs{
			Host: pulumi.String(rdsHost), Port: pulumi.Int(5432),
			Name: pulumi.String("mlflow"), User: pulumi.String("mlflow"), Password: secret(rdsPassword),
		},
		Artifacts:            &ArtifactsArgs{Bucket: pulumi.String(bucket), RoleArn: pulumi.String(roleArn), Region: "eu-west-1"},
		Ingress:              &IngressArgs{Host: "mlflow.example.com", TLS: true, ClassName: "nginx"},
		ServiceMonitorLabels: map[string]string{"release": "kube-prometheus-stack"},
	}
	for _, m := range mod {
		m(a)
	}
	return a
}

// localArgs are the arguments on a bare cluster: in-cluster PostgreSQL,
// artifacts on a volume, one replica, no Ingress.
func localArgs(mod ...func(*TrackingArgs)) *TrackingArgs {
	a := &TrackingArgs{
		Environment:        "local",
		Auth:               AuthBasic,
		AdminPassword:      secret(adminPassword),
		DatabasePassword:   secret(localPassword),
		DatabaseStorageGiB: 30,
		ArtifactStorageGiB: 80,
		StorageClass:       "standard",
	}
	for _, m := range mod {
		m(a)
	}
	return a
}

// result is a planned Tracking component and its outputs.
type result struct {
	g       *plan.Graph
	outputs map[string]string
}

func run(t *testing.T, args *TrackingArgs) *result {
	t.Helper()
	var mu sync.Mutex
	outputs := map[string]string{}
	g, err := plan.Run(func(ctx *pulumi.Context) error {
		tr, err := NewTracking(ctx, "t", args)
		if err != nil {
			return err
		}
		for k, o := range map[string]pulumi.StringOutput{"url": tr.URL, "namespace": tr.Namespace, "serviceName": tr.ServiceName} {
			// Exported, so that the run waits for the apply (an output not
			// made by a resource is not tracked by the context otherwise).
			ctx.Export(k, o.ApplyT(func(s string) string {
				mu.Lock()
				defer mu.Unlock()
				outputs[k] = s
				return s
			}))
		}
		return nil
	}, plan.Options{})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if len(g.Invokes) != 0 {
		t.Errorf("component made invokes: %v", g.Invokes)
	}
	mu.Lock()
	defer mu.Unlock()
	return &result{g: g, outputs: outputs}
}

func one(t *testing.T, g *plan.Graph, token string) *plan.Resource {
	t.Helper()
	rs := g.ByType(token)
	if len(rs) != 1 {
		t.Fatalf("%d %s, want 1", len(rs), token)
	}
	return rs[0]
}

// byName is the resource of a type whose metadata.name is name, or nil.
func byName(g *plan.Graph, token, name string) *plan.Resource {
	for _, r := range g.ByType(token) {
		if at(r.Inputs, "metadata", "name") == name {
			return r
		}
	}
	return nil
}

// at walks rendered inputs by map keys and list indices (nil when absent).
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// strs reads a rendered list of strings.
func strs(v any) []string {
	var out []string
	for _, e := range asList(v) {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

func asList(v any) []any { l, _ := v.([]any); return l }

// podSpec is a workload's pod spec.
func podSpec(r *plan.Resource) map[string]any {
	m, _ := at(r.Inputs, "spec", "template", "spec").(map[string]any)
	return m
}

// containers are a workload's init containers and containers.
func containers(r *plan.Resource) []map[string]any {
	var out []map[string]any
	for _, key := range []string{"initContainers", "containers"} {
		for _, c := range asList(podSpec(r)[key]) {
			out = append(out, c.(map[string]any))
		}
	}
	return out
}

// container is the workload's container called name.
func container(t *testing.T, r *plan.Resource, name string) map[string]any {
	t.Helper()
	for _, c := range containers(r) {
		if c["name"] == name {
			return c
		}
	}
	t.Fatalf("%s has no container %s", r.Name, name)
	return nil
}

// envOf maps a container's environment: plain values, or "secret:<name>/<key>".
func envOf(c map[string]any) map[string]string {
	out := map[string]string{}
	for _, e := range asList(c["env"]) {
		name, _ := at(e, "name").(string)
		if v, ok := at(e, "value").(string); ok {
			out[name] = v
		} else if ref := at(e, "valueFrom", "secretKeyRef"); ref != nil {
			out[name] = fmt.Sprintf("secret:%v/%v", at(ref, "name"), at(ref, "key"))
		}
	}
	return out
}

// stringData reads a Secret's stringData from the raw inputs: every value
// must be a Pulumi secret (the whole map or each value); it returns them
// in clear for the test to check.
func stringData(t *testing.T, r *plan.Resource) map[string]string {
	t.Helper()
	if got := r.Inputs["stringData"]; got != plan.Secret {
		t.Errorf("%s stringData renders as %v, want %s", r.Name, got, plan.Secret)
	}
	v := r.Raw["stringData"]
	wholeSecret := v.IsSecret()
	if wholeSecret {
		v = v.SecretValue().Element
	}
	out := map[string]string{}
	for k, e := range v.ObjectValue() {
		if !wholeSecret && !e.IsSecret() {
			t.Errorf("%s stringData.%s is not a secret", r.Name, k)
		}
		if e.IsSecret() {
			e = e.SecretValue().Element
		}
		out[string(k)] = e.StringValue()
	}
	return out
}

// inputsJSON is every rendered input of the plan, for searching.
func inputsJSON(t *testing.T, g *plan.Graph) string {
	t.Helper()
	var b strings.Builder
	for _, r := range g.Resources {
		j, err := json.Marshal(r.Inputs)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
	}
	return b.String()
}

func TestBackends(t *testing.T) {
	cases := []struct {
		name          string
		args          *TrackingArgs
		inCluster     bool
		backendURI    string
		artifacts     string
		roleAnnotated bool
	}{
		{"aws: RDS and S3 through IRSA", awsArgs(), false,
			"postgresql://mlflow:rds-p%40ss%2Fw%25rd%3Ax@" + rdsHost + ":5432/mlflow", "s3://" + bucket + "/mlflow", true},
		{"aws without a role", awsArgs(func(a *TrackingArgs) { a.Artifacts.RoleArn = nil }), false,
			"postgresql://mlflow:rds-p%40ss%2Fw%25rd%3Ax@" + rdsHost + ":5432/mlflow", "s3://" + bucket + "/mlflow", false},
		{"in-cluster PostgreSQL and a volume", localArgs(), true,
			"postgresql://mlflow:" + localPassword + "@mlflow-postgres.plinth-tracking.svc:5432/mlflow", ArtifactsPath, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.args)
			g := r.g
			c := g.Find(TypeToken, "t")
			if c == nil {
				t.Fatal("no Tracking component")
			}
			ns := g.Find("plinth:kubernetes:Namespace", "t-ns")
			for _, res := range g.Resources {
				if res != c && res.Parent != c.URN && (ns == nil || res.Parent != ns.URN) {
					t.Errorf("%s %s: parent %q, want the component", res.Type, res.Name, res.Parent)
				}
				if ns := at(res.Inputs, "metadata", "namespace"); res.Custom && res.Type != tNamespace && ns != DefaultNamespace {
					t.Errorf("%s %s in namespace %v", res.Type, res.Name, ns)
				}
			}

			// The backend URI is in a Secret, as a Pulumi secret.
			data := stringData(t, byName(g, tSecret, serverSecretName))
			if data[keyBackendURI] != tc.backendURI {
				t.Errorf("backend URI = %q, want %q", data[keyBackendURI], tc.backendURI)
			}
			// No password anywhere in clear.
			all := inputsJSON(t, g)
			for _, pw := range []string{adminPassword, rdsPassword, localPassword, "rds-p%40ss", "mlflow:rds", "mlflow:" + localPassword} {
				if strings.Contains(all, pw) {
					t.Errorf("the plan shows %q in clear", pw)
				}
			}

			server := one(t, g, tDeployment)
			mlflow := container(t, server, "mlflow")
			args := strs(mlflow["args"])
			if i := slices.Index(args, "--artifacts-destination"); i < 0 || args[i+1] != tc.artifacts {
				t.Errorf("args = %v, want --artifacts-destination %s", args, tc.artifacts)
			}
			if slices.Contains(args, "--backend-store-uri") || strings.Contains(strings.Join(args, " "), "postgresql://") {
				t.Errorf("the backend URI is on the command line: %v", args)
			}
			if got := envOf(mlflow)["MLFLOW_BACKEND_STORE_URI"]; got != "secret:mlflow/"+keyBackendURI {
				t.Errorf("MLFLOW_BACKEND_STORE_URI = %q, want it from the Secret", got)
			}
			wantImage := versions.Get().MLflowImage(versions.Get().MLflow.Default)
			if mlflow["image"] != wantImage {
				t.Errorf("image = %v, want %s", mlflow["image"], wantImage)
			}

			sa := one(t, g, tServiceAccount)
			if at(sa.Inputs, "metadata", "name") != ServiceAccountName || podSpec(server)["serviceAccountName"] != ServiceAccountName {
				t.Errorf("service account %v, pods use %v", at(sa.Inputs, "metadata", "name"), podSpec(server)["serviceAccountName"])
			}
			gotRole := at(sa.Inputs, "metadata", "annotations", IRSAAnnotation)
			if tc.roleAnnotated && gotRole != roleArn || !tc.roleAnnotated && gotRole != nil {
				t.Errorf("IRSA annotation = %v, want annotated %v", gotRole, tc.roleAnnotated)
			}

			sets := g.ByType(tStatefulSet)
			pgSecret := byName(g, tSecret, databaseSecretName)
			pvcs := g.ByType(tPVC)
			if !tc.inCluster {
				if len(sets) != 0 || pgSecret != nil || len(pvcs) != 0 {
					t.Errorf("external database and bucket, yet %d StatefulSets, postgres secret %v, %d volumes", len(sets), pgSecret != nil, len(pvcs))
				}
				env := envOf(mlflow)
				if env["AWS_REGION"] != "eu-west-1" {
					t.Errorf("AWS_REGION = %q", env["AWS_REGION"])
				}
				return
			}

			if len(sets) != 1 {
				t.Fatalf("%d StatefulSets, want the database", len(sets))
			}
			pg := sets[0]
			if got := stringData(t, pgSecret)["POSTGRES_PASSWORD"]; got != localPassword {
				t.Errorf("postgres password = %q", got)
			}
			if at(pg.Inputs, "spec", "replicas") != 1.0 || at(pg.Inputs, "spec", "serviceName") != databaseHeadlessName {
				t.Errorf("statefulset spec = %v", at(pg.Inputs, "spec"))
			}
			tmpl := at(pg.Inputs, "spec", "volumeClaimTemplates", 0, "spec")
			if at(tmpl, "resources", "requests", "storage") != "30Gi" || at(tmpl, "storageClassName") != "standard" || !reflect.DeepEqual(strs(at(tmpl, "accessModes")), []string{"ReadWriteOnce"}) {
				t.Errorf("database volume = %v", tmpl)
			}
			postgres := container(t, pg, "postgres")
			img := versions.Get().Images["postgres"]
			if postgres["image"] != img.Ref() || !strings.HasPrefix(img.Tag, versions.Get().Postgres.EngineVersion+".") {
				t.Errorf("postgres image %v (pin %s) does not match engine %s", postgres["image"], img.Ref(), versions.Get().Postgres.EngineVersion)
			}
			penv := envOf(postgres)
			if penv["POSTGRES_PASSWORD"] != "secret:"+databaseSecretName+"/POSTGRES_PASSWORD" || penv["PGDATA"] != postgresData || !strings.HasPrefix(penv["PGDATA"], postgresDataMount+"/") {
				t.Errorf("postgres env = %v", penv)
			}
			if fs := at(podSpec(pg), "securityContext", "fsGroup"); fs != float64(PostgresUID) {
				t.Errorf("postgres fsGroup = %v", fs)
			}
			for _, name := range []string{databaseServiceName, databaseHeadlessName} {
				if byName(g, tService, name) == nil {
					t.Errorf("no Service %s", name)
				}
			}
			if at(byName(g, tService, databaseHeadlessName).Inputs, "spec", "clusterIP") != "None" {
				t.Error("the governing Service is not headless")
			}
			if len(pvcs) != 1 || at(pvcs[0].Inputs, "spec", "resources", "requests", "storage") != "80Gi" {
				t.Errorf("artifact volumes = %d", len(pvcs))
			}
		})
	}
}

func TestAuth(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  *TrackingArgs
		basic bool
	}{
		{"basic", localArgs(), true},
		{"none", localArgs(func(a *TrackingArgs) { a.Auth = AuthNone; a.AdminPassword = nil }), false},
		{"default is basic", localArgs(func(a *TrackingArgs) { a.Auth = "" }), true},
		{"basic on aws", awsArgs(), true},
		{"none on aws", awsArgs(func(a *TrackingArgs) { a.Auth = AuthNone }), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := run(t, tc.args).g
			want := AuthNone
			if tc.basic {
				want = AuthBasic
			}
			server := one(t, g, tDeployment)
			for what, labels := range map[string]any{
				"deployment":   at(server.Inputs, "metadata", "labels"),
				"pod template": at(server.Inputs, "spec", "template", "metadata", "labels"),
				"service":      at(byName(g, tService, ServerName).Inputs, "metadata", "labels"),
			} {
				if got := at(labels, AuthLabel); got != want {
					t.Errorf("%s %s = %v, want %s", what, AuthLabel, got, want)
				}
				if got := at(labels, AppLabel); got != "mlflow" {
					t.Errorf("%s %s = %v", what, AppLabel, got)
				}
			}
			mlflow := container(t, server, "mlflow")
			args := strings.Join(strs(mlflow["args"]), " ")
			if got := strings.Contains(args, "--app-name basic-auth"); got != tc.basic {
				t.Errorf("args %q: basic-auth app %v, want %v", args, got, tc.basic)
			}
			env := envOf(mlflow)
			data := stringData(t, byName(g, tSecret, serverSecretName))
			initCount := len(asList(podSpec(server)["initContainers"]))
			metricsAuth := byName(g, tSecret, metricsAuthSecretName)
			basicAuth := at(one(t, g, tServiceMonitor).Inputs, "spec", "endpoints", 0, "basicAuth")
			if !tc.basic {
				if env["MLFLOW_AUTH_CONFIG_PATH"] != "" || data[keyAuthConfig] != "" || initCount != 0 || metricsAuth != nil || basicAuth != nil {
					t.Errorf("no auth, yet auth config %q, ini %v, %d init containers, metrics secret %v, scrape auth %v",
						env["MLFLOW_AUTH_CONFIG_PATH"], data[keyAuthConfig] != "", initCount, metricsAuth != nil, basicAuth)
				}
				return
			}
			if env["MLFLOW_AUTH_CONFIG_PATH"] != authConfigDir+"/"+authConfigFile || env["MLFLOW_FLASK_SERVER_SECRET_KEY"] != "secret:mlflow/"+keyFlaskKey {
				t.Errorf("auth env = %v", env)
			}
			ini := data[keyAuthConfig]
			for _, line := range []string{"[mlflow]", "default_permission = READ", "admin_username = admin", "admin_password = " + adminPassword, "/mlflow_auth\n"} {
				if !strings.Contains(ini, line) {
					t.Errorf("auth config lacks %q:\n%s", line, ini)
				}
			}
			if data[keyFlaskKey] != flaskSecretKey(adminPassword) {
				t.Errorf("flask key = %q", data[keyFlaskKey])
			}
			init := container(t, server, "create-auth-database")
			if ienv := envOf(init); ienv["AUTH_DATABASE"] != "mlflow_auth" || ienv["MLFLOW_BACKEND_STORE_URI"] != "secret:mlflow/"+keyBackendURI {
				t.Errorf("init env = %v", ienv)
			}
			if init["image"] != versions.Get().Images["postgres"].Ref() {
				t.Errorf("init image = %v", init["image"])
			}
			creds := stringData(t, metricsAuth)
			if creds["username"] != DefaultAdminUsername || creds["password"] != adminPassword || at(metricsAuth.Inputs, "type") != "kubernetes.io/basic-auth" {
				t.Errorf("metrics credentials = %v", creds)
			}
			if at(basicAuth, "password", "name") != metricsAuthSecretName {
				t.Errorf("ServiceMonitor basicAuth = %v", basicAuth)
			}
		})
	}
}

func TestIngress(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ingress *IngressArgs
		url     string
		tls     string
	}{
		{"TLS", &IngressArgs{Host: "mlflow.example.com", TLS: true, ClassName: "nginx", Annotations: map[string]string{"cert-manager.io/cluster-issuer": "letsencrypt"}}, "https://mlflow.example.com", DefaultTLSSecretName},
		{"TLS with a named certificate", &IngressArgs{Host: "mlflow.example.com", TLS: true, TLSSecretName: "wildcard-example-com"}, "https://mlflow.example.com", "wildcard-example-com"},
		{"plain HTTP", &IngressArgs{Host: "mlflow.internal"}, "http://mlflow.internal", ""},
		{"none", nil, "http://mlflow.plinth-tracking.svc:5000", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, awsArgs(func(a *TrackingArgs) { a.Ingress = tc.ingress }))
			g := r.g
			if r.outputs["url"] != tc.url || r.outputs["namespace"] != DefaultNamespace || r.outputs["serviceName"] != ServerName {
				t.Errorf("outputs = %v, want url %s", r.outputs, tc.url)
			}
			if at(byName(g, tService, ServerName).Inputs, "spec", "type") != "ClusterIP" {
				t.Error("the MLflow Service is not ClusterIP")
			}
			ings := g.ByType(tIngress)
			if tc.ingress == nil {
				if len(ings) != 0 {
					t.Errorf("%d Ingresses, want none", len(ings))
				}
				return
			}
			if len(ings) != 1 {
				t.Fatalf("%d Ingresses, want 1", len(ings))
			}
			ing := ings[0]
			rule := at(ing.Inputs, "spec", "rules", 0)
			if at(rule, "host") != tc.ingress.Host || at(rule, "http", "paths", 0, "backend", "service", "name") != ServerName {
				t.Errorf("rule = %v", rule)
			}
			if got := at(ing.Inputs, "spec", "ingressClassName"); tc.ingress.ClassName != "" && got != tc.ingress.ClassName || tc.ingress.ClassName == "" && got != nil {
				t.Errorf("ingressClassName = %v", got)
			}
			tls := at(ing.Inputs, "spec", "tls")
			if tc.tls == "" {
				if tls != nil {
					t.Errorf("tls = %v, want none", tls)
				}
			} else if at(tls, 0, "secretName") != tc.tls || !reflect.DeepEqual(strs(at(tls, 0, "hosts")), []string{tc.ingress.Host}) {
				t.Errorf("tls = %v, want secret %s", tls, tc.tls)
			}
			if at(ing.Inputs, "metadata", "labels", AuthLabel) != AuthBasic {
				t.Errorf("ingress labels = %v", at(ing.Inputs, "metadata", "labels"))
			}
			for k, v := range tc.ingress.Annotations {
				if at(ing.Inputs, "metadata", "annotations", k) != v {
					t.Errorf("annotation %s = %v", k, at(ing.Inputs, "metadata", "annotations", k))
				}
			}
		})
	}
}

func TestServerShape(t *testing.T) {
	for _, tc := range []struct {
		name         string
		args         *TrackingArgs
		replicas     float64
		antiAffinity bool
		strategy     string
		accessMode   string
	}{
		{"one replica, volume", localArgs(), 1, false, "Recreate", "ReadWriteOnce"},
		{"two replicas, volume", localArgs(func(a *TrackingArgs) { a.Replicas = 2 }), 2, true, "RollingUpdate", "ReadWriteMany"},
		{"two replicas, S3", awsArgs(), 2, true, "RollingUpdate", ""},
		{"one replica, S3", awsArgs(func(a *TrackingArgs) { a.Replicas = 1 }), 1, false, "RollingUpdate", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := run(t, tc.args).g
			server := one(t, g, tDeployment)
			spec := at(server.Inputs, "spec")
			if at(spec, "replicas") != tc.replicas || at(spec, "strategy", "type") != tc.strategy {
				t.Errorf("replicas %v strategy %v, want %v %s", at(spec, "replicas"), at(spec, "strategy", "type"), tc.replicas, tc.strategy)
			}
			anti := at(podSpec(server), "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", 0, "podAffinityTerm")
			if (anti != nil) != tc.antiAffinity || tc.antiAffinity && at(anti, "topologyKey") != "kubernetes.io/hostname" {
				t.Errorf("anti-affinity = %v, want %v", anti, tc.antiAffinity)
			}
			if pvc := byName(g, tPVC, artifactsClaimName); tc.accessMode != "" && (pvc == nil || strs(at(pvc.Inputs, "spec", "accessModes"))[0] != tc.accessMode) {
				t.Errorf("artifact volume = %v, want %s", pvc, tc.accessMode)
			}

			// The disruption budget selects the server pods and lets a
			// drain evict one at a time.
			pdb := one(t, g, tPDB)
			if at(pdb.Inputs, "spec", "maxUnavailable") != 1.0 || at(pdb.Inputs, "spec", "minAvailable") != nil {
				t.Errorf("pdb spec = %v", at(pdb.Inputs, "spec"))
			}
			podLabels, _ := at(server.Inputs, "spec", "template", "metadata", "labels").(map[string]any)
			for k, v := range at(pdb.Inputs, "spec", "selector", "matchLabels").(map[string]any) {
				if podLabels[k] != v {
					t.Errorf("pdb selects %s=%v, pods have %v", k, v, podLabels[k])
				}
			}

			// Probes on every long-running container.
			mlflow := container(t, server, "mlflow")
			for _, p := range []string{"startupProbe", "readinessProbe", "livenessProbe"} {
				if at(mlflow, p, "httpGet", "path") != HealthPath || at(mlflow, p, "httpGet", "port") != "http" {
					t.Errorf("mlflow %s = %v", p, mlflow[p])
				}
			}
			for _, set := range g.ByType(tStatefulSet) {
				pg := container(t, set, "postgres")
				for _, p := range []string{"startupProbe", "readinessProbe", "livenessProbe"} {
					if cmd := strings.Join(strs(at(pg, p, "exec", "command")), " "); !strings.Contains(cmd, "pg_isready") {
						t.Errorf("postgres %s = %q", p, cmd)
					}
				}
			}
			for _, c := range append(containers(server), containersOf(g.ByType(tStatefulSet))...) {
				if at(c, "resources", "requests", "memory") == nil || at(c, "resources", "limits", "memory") == nil {
					t.Errorf("container %v has no memory request or limit", c["name"])
				}
			}
		})
	}
}

func containersOf(rs []*plan.Resource) []map[string]any {
	var out []map[string]any
	for _, r := range rs {
		out = append(out, containers(r)...)
	}
	return out
}

func TestContainersHardened(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       *TrackingArgs
		containers int
	}{
		{"in-cluster, basic auth", localArgs(), 3},
		{"aws, basic auth", awsArgs(), 2},
		{"in-cluster, no auth", localArgs(func(a *TrackingArgs) { a.Auth = AuthNone }), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := run(t, tc.args).g
			n := 0
			for _, w := range append(g.ByType(tDeployment), g.ByType(tStatefulSet)...) {
				pod := podSpec(w)
				if at(pod, "securityContext", "seccompProfile", "type") != "RuntimeDefault" || at(pod, "securityContext", "runAsNonRoot") != true {
					t.Errorf("%s pod securityContext = %v", w.Name, pod["securityContext"])
				}
				if pod["automountServiceAccountToken"] != false || pod["enableServiceLinks"] != false {
					t.Errorf("%s mounts a token or service links", w.Name)
				}
				for _, c := range containers(w) {
					n++
					sc, _ := c["securityContext"].(map[string]any)
					uid, _ := sc["runAsUser"].(float64)
					if sc["runAsNonRoot"] != true || uid <= 0 {
						t.Errorf("%s/%v may run as root: %v", w.Name, c["name"], sc)
					}
					if sc["allowPrivilegeEscalation"] != false || sc["privileged"] != false || sc["readOnlyRootFilesystem"] != true {
						t.Errorf("%s/%v securityContext = %v", w.Name, c["name"], sc)
					}
					if !reflect.DeepEqual(strs(at(sc, "capabilities", "drop")), []string{"ALL"}) || at(sc, "capabilities", "add") != nil {
						t.Errorf("%s/%v capabilities = %v", w.Name, c["name"], sc["capabilities"])
					}
				}
				if w.Type == tDeployment {
					mounts := map[string]bool{}
					for _, m := range asList(container(t, w, "mlflow")["volumeMounts"]) {
						mounts[at(m, "mountPath").(string)] = true
					}
					if !mounts["/tmp"] || !mounts[metricsDir] {
						t.Errorf("mlflow has no writable /tmp and %s: %v", metricsDir, mounts)
					}
				}
			}
			if n != tc.containers {
				t.Errorf("%d containers, want %d", n, tc.containers)
			}
			ns := one(t, g, tNamespace)
			if at(ns.Inputs, "metadata", "labels", "pod-security.kubernetes.io/enforce") != "restricted" {
				t.Errorf("namespace labels = %v", at(ns.Inputs, "metadata", "labels"))
			}
			if len(g.ByType("kubernetes:core/v1:LimitRange")) != 1 {
				t.Error("no LimitRange")
			}
		})
	}
}

func TestNetworkPolicies(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      *TrackingArgs
		policies  []string
		clients   []string // allowed client namespaces; nil = every namespace
		dbPods    bool     // egress to PostgreSQL pods (else any address)
		https     bool
		dbIngress bool
	}{
		{"in-cluster", localArgs(), []string{"default-deny", "mlflow-ingress", "mlflow-egress", "mlflow-postgres-ingress"}, nil, true, false, true},
		{"aws", awsArgs(), []string{"default-deny", "mlflow-ingress", "mlflow-egress"}, nil, false, true, false},
		{"aws, clients listed, ingress controller", awsArgs(func(a *TrackingArgs) {
			a.ClientNamespaces = []string{"ml-jobs", "notebooks"}
			a.Ingress.ControllerNamespace = "ingress-nginx"
		}), []string{"default-deny", "mlflow-ingress", "mlflow-egress"}, []string{"ml-jobs", "notebooks", "ingress-nginx"}, false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := run(t, tc.args).g
			var names []string
			for _, np := range g.ByType(tNetworkPolicy) {
				names = append(names, at(np.Inputs, "metadata", "name").(string))
			}
			slices.Sort(names)
			want := slices.Sorted(slices.Values(tc.policies))
			if !reflect.DeepEqual(names, want) {
				t.Fatalf("network policies = %v, want %v", names, want)
			}

			in := byName(g, tNetworkPolicy, "mlflow-ingress")
			if at(in.Inputs, "spec", "podSelector", "matchLabels", AppLabel) != "mlflow" {
				t.Errorf("mlflow-ingress selects %v", at(in.Inputs, "spec", "podSelector"))
			}
			rules := asList(at(in.Inputs, "spec", "ingress"))
			if len(rules) != 2 {
				t.Fatalf("mlflow-ingress rules = %v", rules)
			}
			var clients []string
			for _, peer := range asList(at(rules[0], "from")) {
				if sel := at(peer, "namespaceSelector"); sel != nil && len(sel.(map[string]any)) == 0 {
					clients = nil
					break
				}
				clients = append(clients, at(peer, "namespaceSelector", "matchLabels", namespaceNameLabel).(string))
			}
			if !reflect.DeepEqual(clients, tc.clients) || at(rules[0], "ports", 0, "port") != float64(Port) {
				t.Errorf("clients = %v on %v, want %v", clients, at(rules[0], "ports"), tc.clients)
			}
			if at(rules[1], "from", 0, "namespaceSelector", "matchLabels", namespaceNameLabel) != DefaultMonitoringNamespace {
				t.Errorf("metrics rule = %v", rules[1])
			}

			eg := asList(at(byName(g, tNetworkPolicy, "mlflow-egress").Inputs, "spec", "egress"))
			if at(eg, 0, "ports", 0, "port") != float64(PostgresPort) {
				t.Errorf("database egress = %v", eg[0])
			}
			if got := at(eg, 0, "to", 0, "podSelector", "matchLabels", AppLabel) == databaseApp; got != tc.dbPods {
				t.Errorf("database egress to %v, want the database pods %v", at(eg, 0, "to"), tc.dbPods)
			}
			if got := len(eg) == 2 && at(eg, 1, "ports", 0, "port") == float64(HTTPSPort); got != tc.https {
				t.Errorf("egress %v, want HTTPS %v", eg, tc.https)
			}
			if tc.dbIngress {
				pg := byName(g, tNetworkPolicy, "mlflow-postgres-ingress")
				from := at(pg.Inputs, "spec", "ingress", 0, "from")
				if len(asList(from)) != 1 || at(from, 0, "podSelector", "matchLabels", AppLabel) != "mlflow" || at(from, 0, "namespaceSelector") != nil {
					t.Errorf("postgres ingress from %v, want the MLflow pods only", from)
				}
			}
		})
	}
}

func TestServiceMonitor(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
	}{
		{"selected by the monitoring stack", map[string]string{"release": "kube-prometheus-stack"}},
		{"no extra labels", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := run(t, awsArgs(func(a *TrackingArgs) { a.ServiceMonitorLabels = tc.labels })).g
			sm := one(t, g, tServiceMonitor)
			for k, v := range tc.labels {
				if at(sm.Inputs, "metadata", "labels", k) != v {
					t.Errorf("label %s = %v", k, at(sm.Inputs, "metadata", "labels", k))
				}
			}
			ep := at(sm.Inputs, "spec", "endpoints", 0)
			if at(ep, "path") != MetricsPath || at(ep, "port") != "http" {
				t.Errorf("endpoint = %v", ep)
			}
			svcLabels := at(byName(g, tService, ServerName).Inputs, "metadata", "labels").(map[string]any)
			for k, v := range at(sm.Inputs, "spec", "selector", "matchLabels").(map[string]any) {
				if svcLabels[k] != v {
					t.Errorf("ServiceMonitor selects %s=%v, the Service has %v", k, v, svcLabels[k])
				}
			}
			args := strings.Join(strs(container(t, one(t, g, tDeployment), "mlflow")["args"]), " ")
			if !strings.Contains(args, "--expose-prometheus "+metricsDir) {
				t.Errorf("args = %q", args)
			}
		})
	}
}

// policyInput is the neutral view of the plan the policies read, as
// stacks.PolicyInput builds it.
func policyInput(g *plan.Graph, class string) *policies.Input {
	in := &policies.Input{Environment: policies.Environment{Name: "t", Class: class, Provider: "kubernetes"}}
	for _, r := range g.Resources {
		in.Resources = append(in.Resources, &policies.Resource{
			URN: r.URN, Type: r.Type, Name: r.Name, Parent: r.Parent, Inputs: r.Inputs, Protect: r.Protect,
		})
	}
	return in
}

func TestPolicies(t *testing.T) {
	for _, tc := range []struct {
		name string
		args *TrackingArgs
		// violations are the policies expected to fail (mandatory in prod).
		violations []string
	}{
		{"aws, basic auth, Ingress", awsArgs(), nil},
		{"in-cluster, basic auth", localArgs(), nil},
		{"in-cluster, basic auth, Ingress", localArgs(func(a *TrackingArgs) { a.Ingress = &IngressArgs{Host: "mlflow.example.com", TLS: true} }), nil},
		{"no auth, not exposed", localArgs(func(a *TrackingArgs) { a.Auth = AuthNone }), nil},
		{"no auth behind an Ingress", awsArgs(func(a *TrackingArgs) { a.Auth = AuthNone }), []string{"security.server-auth"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := run(t, tc.args).g
			rep, err := policies.Evaluate(policies.All(), policyInput(g, policies.ClassProd), nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range rep.Violations {
				if v.Enforcement == policies.Mandatory {
					got = append(got, v.Policy)
				}
				if !slices.Contains(tc.violations, v.Policy) {
					t.Errorf("%s (%s): %s", v.Policy, v.Enforcement, v.Message)
				}
			}
			slices.Sort(got)
			got = slices.Compact(got)
			if !reflect.DeepEqual(got, tc.violations) {
				t.Errorf("mandatory violations of %v, want %v", got, tc.violations)
			}
			// The checks that matter ran on these resources.
			ran := map[string]bool{}
			for _, r := range rep.Results {
				ran[r.ID] = r.Enforcement == policies.Mandatory
			}
			for _, id := range []string{"security.server-auth", "security.no-plain-secrets", "security.k8s-run-as-non-root", "security.k8s-no-privileged", "reliability.tracking-pdb"} {
				if !ran[id] {
					t.Errorf("%s is not mandatory in prod", id)
				}
			}
		})
	}
}

func TestVersionAndImage(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*TrackingArgs)
		want string
	}{
		{"pinned", func(*TrackingArgs) {}, versions.Get().MLflowImage(versions.Get().MLflow.Default)},
		{"version", func(a *TrackingArgs) { a.Version = "2.21.3" }, versions.Get().MLflowImage("2.21.3")},
		{"image", func(a *TrackingArgs) { a.Image = "registry.example.com/mlflow:2.22.0-pg" }, "registry.example.com/mlflow:2.22.0-pg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := run(t, localArgs(tc.mod)).g
			if got := container(t, one(t, g, tDeployment), "mlflow")["image"]; got != tc.want {
				t.Errorf("image = %v, want %s", got, tc.want)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		args *TrackingArgs
		want string
	}{
		{"no args", nil, "args are required"},
		{"version", localArgs(func(a *TrackingArgs) { a.Version = "2.22" }), `version "2.22" is not x.y.z`},
		{"replicas", localArgs(func(a *TrackingArgs) { a.Replicas = -1 }), "replicas must be at least 1"},
		{"auth", localArgs(func(a *TrackingArgs) { a.Auth = "oidc" }), `auth "oidc" is not basic or none`},
		{"basic without a password", localArgs(func(a *TrackingArgs) { a.AdminPassword = nil }), "adminPassword is required"},
		{"admin user", localArgs(func(a *TrackingArgs) { a.AdminUsername = "ad min" }), "adminUsername"},
		{"in-cluster without a password", localArgs(func(a *TrackingArgs) { a.DatabasePassword = nil }), "databasePassword is required"},
		{"in-cluster storage", localArgs(func(a *TrackingArgs) { a.DatabaseStorageGiB = -5 }), "databaseStorageGiB must be at least 1"},
		{"external without host and password", awsArgs(func(a *TrackingArgs) { a.Database.Host, a.Database.Password = nil, nil }), "database.host is required\ndatabase.password is required"},
		{"bucket", awsArgs(func(a *TrackingArgs) { a.Artifacts.Bucket = nil }), "artifacts.bucket is required"},
		{"artifact storage", localArgs(func(a *TrackingArgs) { a.ArtifactStorageGiB = -1 }), "artifactStorageGiB must be at least 1"},
		{"namespace", localArgs(func(a *TrackingArgs) { a.Namespace = "Plinth_Tracking" }), `namespace "Plinth_Tracking" is not a Kubernetes namespace name`},
		{"client namespace", awsArgs(func(a *TrackingArgs) { a.ClientNamespaces = []string{"ok", "-bad"} }), "clientNamespaces[1]"},
		{"ingress host", awsArgs(func(a *TrackingArgs) { a.Ingress.Host = "https://mlflow.example.com" }), "ingress.host"},
		{"image", localArgs(func(a *TrackingArgs) { a.Image = "mlflow latest" }), "is not an image reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := plan.Run(func(ctx *pulumi.Context) error {
				_, err := NewTracking(ctx, "t", tc.args)
				return err
			}, plan.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if len(g.Resources) != 0 {
				t.Errorf("%d resources registered before the error", len(g.Resources))
			}
		})
	}

	// Values only known at apply are checked there.
	for _, tc := range []struct {
		name string
		args *TrackingArgs
		want string
	}{
		{"database name", awsArgs(func(a *TrackingArgs) { a.Database.Name = pulumi.String("ml-flow") }), `database name "ml-flow"`},
		{"admin password with a line break", awsArgs(func(a *TrackingArgs) { a.AdminPassword = secret("two\nlines") }), "line break"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := plan.Run(func(ctx *pulumi.Context) error {
				_, err := NewTracking(ctx, "t", tc.args)
				return err
			}, plan.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestNoAuthNeedsNoPassword(t *testing.T) {
	g := run(t, awsArgs(func(a *TrackingArgs) { a.Auth = AuthNone; a.AdminPassword = nil })).g
	if keys := stringData(t, byName(g, tSecret, serverSecretName)); len(keys) != 1 {
		t.Errorf("server secret keys = %v, want the backend URI only", keys)
	}
}
