// Package enginetest holds what tests of Plinth's engine operations
// (stacks/engine, and the plinth up/preview/destroy/refresh/drift commands)
// share: a check that the pinned toolchain is built, a project root with a
// stack config, and a small Kubernetes program standing in for
// stacks.Program. Helpers follow Terratest's style: Foo fails the test,
// FooE returns the error.
package enginetest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/plinth-dev/plinth/stacks"
	"github.com/plinth-dev/plinth/test/localcluster"
	"github.com/plinth-dev/plinth/test/toolchain"
)

// TestingT is what the helpers need from a test (*testing.T has it).
type TestingT interface {
	Helper()
	Fatal(args ...any)
	Skipf(format string, args ...any)
}

// Passphrase is the passphrase tests encrypt their stacks with.
const Passphrase = "plinth-test-passphrase"

// ManagedBy is the app.kubernetes.io/managed-by label of every object the
// test program creates.
const ManagedBy = "plinth"

// Deployment is the name of the Deployment the test program creates.
const Deployment = "web"

// SecretKey is the generated secret (stacks.RequiredSecrets of the local
// blueprint) the test program stores in a Kubernetes Secret, so tests can
// check where the generated value goes.
const SecretKey = stacks.SecretTrackingAdminPassword

// ObjectKey is a structured config value the test stack config sets and
// the program exports (as "object"), to check objects reach the program.
const ObjectKey = "plinth:testObject"

// ToolchainE returns the pinned pulumi CLI, or why it is not usable: the
// CLI, the kubernetes provider plugin in the toolchain's PULUMI_HOME, and
// the control plane binaries must be built (`make tools`).
func ToolchainE() (string, error) {
	pulumi, err := toolchain.Path(toolchain.Pulumi)
	if err != nil {
		return "", err
	}
	v, err := toolchain.Version(toolchain.PulumiResourceKubernetes)
	if err != nil {
		return "", err
	}
	plugin := filepath.Join(toolchain.PulumiHome(), "plugins", "resource-kubernetes-v"+strings.TrimPrefix(v, "v"))
	if _, err := os.Stat(plugin); err != nil {
		return "", fmt.Errorf("toolchain: kubernetes provider plugin not installed at %s: run `make tools`", plugin)
	}
	if missing := localcluster.MissingTools("", ""); len(missing) > 0 {
		return "", fmt.Errorf("toolchain: %s not built: run `make tools`", strings.Join(missing, ", "))
	}
	return pulumi, nil
}

// Toolchain returns the pinned pulumi CLI, skipping the test (with the
// reason) when the toolchain is not built.
func Toolchain(t TestingT) string {
	t.Helper()
	p, err := ToolchainE()
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	return p
}

// Root writes a project root under dir with stacks/Pulumi.<stack>.yaml
// naming blueprint (a shipped one, e.g. blueprints/local.yaml) and the
// structured value ObjectKey, and returns dir.
func Root(t TestingT, dir, stack, blueprint string) string {
	t.Helper()
	if err := RootE(dir, stack, blueprint); err != nil {
		t.Fatal(err)
	}
	return dir
}

// RootE is Root returning the error.
func RootE(dir, stack, blueprint string) error {
	if err := os.MkdirAll(filepath.Join(dir, "stacks"), 0o755); err != nil {
		return err
	}
	cfg := fmt.Sprintf("config:\n  %s: %s\n  %s:\n    replicas: 1\n    labels: [a, b]\n", stacks.ConfigBlueprint, blueprint, ObjectKey)
	return os.WriteFile(stacks.StackConfigPath(dir, stack), []byte(cfg), 0o644)
}

// Program is a small stand-in for stacks.Program: a kubernetes.Provider on
// kubeconfig, a Namespace, a Deployment of one replica and a Secret holding
// the generated SecretKey, all labelled app.kubernetes.io/managed-by:
// plinth. It exports "namespace", "object" (ObjectKey as read with
// config.TryObject) and the secret "adminPassword".
func Program(kubeconfig, namespace string) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		var object map[string]any
		if err := config.TryObject(ctx, ObjectKey, &object); err != nil {
			return fmt.Errorf("config %s: %w", ObjectKey, err)
		}
		password := config.RequireSecret(ctx, SecretKey)
		p, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{Kubeconfig: pulumi.String(kubeconfig)})
		if err != nil {
			return err
		}
		labels := pulumi.StringMap{"app.kubernetes.io/managed-by": pulumi.String(ManagedBy), "app": pulumi.String(Deployment)}
		ns, err := corev1.NewNamespace(ctx, "ns", &corev1.NamespaceArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(namespace), Labels: labels},
		}, pulumi.Provider(p))
		if err != nil {
			return err
		}
		if _, err := corev1.NewSecret(ctx, "admin", &corev1.SecretArgs{
			Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String("admin"), Namespace: ns.Metadata.Name(), Labels: labels},
			StringData: pulumi.StringMap{"password": password},
		}, pulumi.Provider(p)); err != nil {
			return err
		}
		if _, err := appsv1.NewDeployment(ctx, Deployment, &appsv1.DeploymentArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(Deployment), Namespace: ns.Metadata.Name(), Labels: labels},
			Spec: &appsv1.DeploymentSpecArgs{
				Replicas: pulumi.Int(1),
				Selector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"app": pulumi.String(Deployment)}},
				Template: &corev1.PodTemplateSpecArgs{
					Metadata: &metav1.ObjectMetaArgs{Labels: labels},
					Spec: &corev1.PodSpecArgs{Containers: corev1.ContainerArray{corev1.ContainerArgs{
						Name: pulumi.String(Deployment), Image: pulumi.String("registry.invalid/web:1"),
					}}},
				},
			},
		}, pulumi.Provider(p)); err != nil {
			return err
		}
		ctx.Export("namespace", ns.Metadata.Name())
		ctx.Export("object", pulumi.Any(object))
		ctx.Export("adminPassword", password)
		return nil
	}
}

// Nodes are the fake nodes a test cluster needs for the Deployment's pods.
var Nodes = []localcluster.Node{{Name: "cpu-0", CPU: "4", Memory: "16Gi", InstanceType: "m6i.xlarge"}}
