package cirunners

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/components/charts"
)

// Keys of the gitlab-runner chart's runners.secret Secret. The chart
// wants both; the registration token is empty with runner authentication
// tokens (glrt-…).
const (
	gitlabTokenKey        = "runner-token"
	gitlabRegistrationKey = "runner-registration-token"
)

// gitlabManagerUID is the gitlab-runner image's user (the chart's default).
const gitlabManagerUID = 100

// gitlab installs a GitLab runner: the runner manager, authenticated by
// a Secret holding the token, starting one pod per job in the namespace.
func (b *builder) gitlab(r Runner, ref charts.Ref) error {
	secretName := r.Name + "-gitlab-token"
	secret, err := b.tokenSecret(r, secretName, pulumi.StringMap{
		gitlabTokenKey:        secretToken(r),
		gitlabRegistrationKey: pulumi.String(""),
	})
	if err != nil {
		return err
	}
	values := pulumi.Map{
		"gitlabUrl":  pulumi.String(r.URL),
		"concurrent": pulumi.Int(r.MaxRunners),
		"rbac":       pulumi.Map{"create": pulumi.Bool(true)},
		"serviceAccount": pulumi.Map{
			"create": pulumi.Bool(true),
		},
		"runners": pulumi.Map{
			"secret": pulumi.String(secretName),
			"config": pulumi.String(gitlabConfig(r, b.args.Namespace)),
		},
		"podSecurityContext": pulumi.Map{
			"runAsNonRoot":   pulumi.Bool(true),
			"runAsUser":      pulumi.Int(gitlabManagerUID),
			"fsGroup":        pulumi.Int(65533),
			"seccompProfile": pulumi.Map{"type": pulumi.String("RuntimeDefault")},
		},
		"securityContext": containerSecurityContext(false),
		"resources":       resources("100m", "128Mi", "500m", "512Mi"),
	}
	_, err = b.release("gitlab-"+r.Name, r.Name, ref, values, secret)
	return err
}

// gitlabConfig is the runner's config.toml section: the Kubernetes
// executor in the namespace, unprivileged jobs and, with GPU, the GPU
// node selector, tolerations and a one-GPU limit on the build container
// (a pod spec patch, which needs FF_USE_ADVANCED_POD_SPEC_CONFIGURATION).
func gitlabConfig(r Runner, namespace string) string {
	var b strings.Builder
	b.WriteString("[[runners]]\n")
	if r.GPU {
		b.WriteString("  environment = [\"FF_USE_ADVANCED_POD_SPEC_CONFIGURATION=true\"]\n")
	}
	b.WriteString("  [runners.kubernetes]\n")
	fmt.Fprintf(&b, "    namespace = %q\n", namespace)
	fmt.Fprintf(&b, "    image = %q\n", r.Image)
	b.WriteString("    privileged = false\n")
	b.WriteString("    allow_privilege_escalation = false\n")
	b.WriteString("    cpu_request = \"500m\"\n")
	b.WriteString("    memory_request = \"1Gi\"\n")
	if r.GPU {
		if len(r.GPUNodeSelector) > 0 {
			b.WriteString("    [runners.kubernetes.node_selector]\n")
			for _, k := range slices.Sorted(maps.Keys(r.GPUNodeSelector)) {
				fmt.Fprintf(&b, "      %q = %q\n", k, r.GPUNodeSelector[k])
			}
		}
		b.WriteString("    [runners.kubernetes.node_tolerations]\n")
		for _, t := range r.GPUTolerations {
			key := t.Key
			if t.Operator == "Equal" {
				key += "=" + t.Value
			}
			fmt.Fprintf(&b, "      %q = %q\n", key, t.Effect)
		}
		b.WriteString("    [[runners.kubernetes.pod_spec]]\n")
		b.WriteString("      name = \"gpu\"\n")
		b.WriteString("      patch_type = \"strategic\"\n")
		b.WriteString("      patch = '''\n")
		b.WriteString("containers:\n")
		b.WriteString("  - name: build\n")
		b.WriteString("    resources:\n")
		b.WriteString("      limits:\n")
		fmt.Fprintf(&b, "        %s: \"1\"\n", GPUResource)
		b.WriteString("'''\n")
	}
	return b.String()
}
