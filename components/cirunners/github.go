package cirunners

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/components/charts"
)

// githubTokenKey is the key of the PAT in a scale set's config Secret.
const githubTokenKey = "github_token"

// Users the ARC images run as: the controller and listener image
// (distroless nonroot) and the runner image's runner user.
const (
	controllerUID = 65532
	runnerUID     = 1001
)

// podSecurityContext is a restricted pod security context for uid.
func podSecurityContext(uid int) pulumi.Map {
	return pulumi.Map{
		"runAsNonRoot":   pulumi.Bool(true),
		"runAsUser":      pulumi.Int(uid),
		"runAsGroup":     pulumi.Int(uid),
		"fsGroup":        pulumi.Int(uid),
		"seccompProfile": pulumi.Map{"type": pulumi.String("RuntimeDefault")},
	}
}

// containerSecurityContext is a restricted container security context.
func containerSecurityContext(readOnlyRoot bool) pulumi.Map {
	return pulumi.Map{
		"runAsNonRoot":             pulumi.Bool(true),
		"allowPrivilegeEscalation": pulumi.Bool(false),
		"privileged":               pulumi.Bool(false),
		"readOnlyRootFilesystem":   pulumi.Bool(readOnlyRoot),
		"capabilities":             pulumi.Map{"drop": pulumi.ToStringArray([]string{"ALL"})},
		"seccompProfile":           pulumi.Map{"type": pulumi.String("RuntimeDefault")},
	}
}

func resources(reqCPU, reqMem, limCPU, limMem string) pulumi.Map {
	return pulumi.Map{
		"requests": pulumi.StringMap{"cpu": pulumi.String(reqCPU), "memory": pulumi.String(reqMem)},
		"limits":   pulumi.StringMap{"cpu": pulumi.String(limCPU), "memory": pulumi.String(limMem)},
	}
}

// controller installs the Actions Runner Controller, watching only the
// runners' namespace.
func (b *builder) controller(ref charts.Ref) (pulumi.Resource, error) {
	values := pulumi.Map{
		"serviceAccount":     pulumi.Map{"create": pulumi.Bool(true), "name": pulumi.String(controllerServiceAccount)},
		"podSecurityContext": podSecurityContext(controllerUID),
		"securityContext":    containerSecurityContext(true),
		"resources":          resources("100m", "128Mi", "500m", "512Mi"),
		"flags": pulumi.Map{
			"logLevel":             pulumi.String("info"),
			"logFormat":            pulumi.String("json"),
			"watchSingleNamespace": pulumi.String(b.args.Namespace),
		},
	}
	return b.release("arc-controller", ControllerRelease, ref, values)
}

// scaleSet installs one runner scale set, authenticated by a Secret
// holding the token.
func (b *builder) scaleSet(r Runner, ref charts.Ref, controller pulumi.Resource) error {
	secretName := r.Name + "-github-config"
	secret, err := b.tokenSecret(r, secretName, pulumi.StringMap{githubTokenKey: secretToken(r)})
	if err != nil {
		return err
	}
	values := pulumi.Map{
		"githubConfigUrl":    pulumi.String(r.URL),
		"githubConfigSecret": pulumi.String(secretName),
		"runnerScaleSetName": pulumi.String(r.Name),
		"minRunners":         pulumi.Int(r.MinRunners),
		"maxRunners":         pulumi.Int(r.MaxRunners),
		// Named, so the chart does not look the controller up in the cluster.
		"controllerServiceAccount": pulumi.Map{
			"namespace": pulumi.String(b.args.Namespace),
			"name":      pulumi.String(controllerServiceAccount),
		},
		"listenerTemplate": pulumi.Map{"spec": pulumi.Map{
			"securityContext": podSecurityContext(controllerUID),
			"containers": pulumi.Array{pulumi.Map{
				"name":            pulumi.String("listener"),
				"securityContext": containerSecurityContext(true),
				"resources":       resources("50m", "64Mi", "250m", "256Mi"),
			}},
		}},
		"template": pulumi.Map{"spec": runnerPodSpec(r)},
	}
	_, err = b.release("github-"+r.Name, r.Name, ref, values, controller, secret)
	return err
}

// runnerPodSpec is the pod spec of a GitHub runner: the runner image as
// its own non-root user, and with GPU, one GPU on a GPU node.
func runnerPodSpec(r Runner) pulumi.Map {
	container := pulumi.Map{
		"name":            pulumi.String("runner"),
		"image":           pulumi.String(r.Image),
		"command":         pulumi.ToStringArray([]string{"/home/runner/run.sh"}),
		"securityContext": containerSecurityContext(false),
		"resources": pulumi.Map{
			"requests": pulumi.StringMap{"cpu": pulumi.String("500m"), "memory": pulumi.String("1Gi")},
		},
	}
	spec := pulumi.Map{
		"securityContext": podSecurityContext(runnerUID),
		"containers":      pulumi.Array{container},
	}
	if r.GPU {
		container["resources"] = pulumi.Map{
			"requests": pulumi.StringMap{"cpu": pulumi.String("500m"), "memory": pulumi.String("1Gi")},
			"limits":   pulumi.StringMap{GPUResource: pulumi.String("1")},
		}
		if len(r.GPUNodeSelector) > 0 {
			spec["nodeSelector"] = pulumi.ToStringMap(r.GPUNodeSelector)
		}
		tolerations := pulumi.Array{}
		for _, t := range r.GPUTolerations {
			m := pulumi.Map{"key": pulumi.String(t.Key), "operator": pulumi.String(t.Operator)}
			if t.Value != "" {
				m["value"] = pulumi.String(t.Value)
			}
			if t.Effect != "" {
				m["effect"] = pulumi.String(t.Effect)
			}
			tolerations = append(tolerations, m)
		}
		spec["tolerations"] = tolerations
	}
	return spec
}
