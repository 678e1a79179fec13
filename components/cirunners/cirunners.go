// Package cirunners runs self-hosted CI runners in the cluster: GitHub
// Actions runner scale sets (Actions Runner Controller, one controller and
// one scale set per runner) and GitLab runners (the gitlab-runner chart
// with the Kubernetes executor), each from its pinned chart. Runner tokens
// reach the charts only as Kubernetes Secrets; GPU runners are scheduled
// on GPU nodes with a GPU request.
package cirunners

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/components/charts"
	"github.com/plinth-dev/plinth/components/k8snamespace"
)

// TypeToken is the component's type token.
const TypeToken = "plinth:kubernetes:CIRunners"

// DefaultNamespace is where the runners run.
const DefaultNamespace = "plinth-ci"

// Runner kinds.
const (
	KindGitHubActions = "githubActions"
	KindGitLab        = "gitlab"
)

// Chart keys in versions.yaml.
const (
	ControllerChartKey = "gha-runner-scale-set-controller"
	ScaleSetChartKey   = "gha-runner-scale-set"
	GitLabChartKey     = "gitlab-runner"
)

// ControllerRelease is the release name of the Actions Runner Controller;
// no runner may take it.
const ControllerRelease = "arc"

// controllerServiceAccount is the controller's service account, named
// here so that scale sets bind to it without looking it up.
const controllerServiceAccount = "arc-gha-rs-controller"

// GPUResource is the extended resource a GPU runner requests, one per runner.
const GPUResource = "nvidia.com/gpu"

// Default images. The GitHub runner image is the one a scale set's pods
// run; the GitLab job image is what a job without `image:` runs in.
const (
	DefaultGitHubRunnerImage = "ghcr.io/actions/actions-runner:2.338.0"
	DefaultGitLabJobImage    = "docker.io/library/ubuntu:24.04"
)

// Toleration lets GPU runners onto tainted GPU nodes.
type Toleration struct {
	// Key is the taint key, e.g. nvidia.com/gpu.
	Key string
	// Operator is Equal or Exists (default Equal with a Value, else Exists).
	Operator string
	// Value is the taint value ("" with Exists).
	Value string
	// Effect is NoSchedule, PreferNoSchedule or NoExecute ("" for all).
	Effect string
}

// Runner is one set of runners.
type Runner struct {
	// Name is unique among the runners, a DNS-1123 label. For GitHub
	// Actions it is the scale set name workflows use in runs-on.
	Name string
	// Kind is githubActions or gitlab.
	Kind string
	// URL is the GitHub organisation or repository URL, or the GitLab
	// instance URL (https, no credentials).
	URL string
	// Token is the runner token (a secret): a GitHub PAT or the GitLab
	// runner authentication token (glrt-…). It reaches the chart only
	// through a Kubernetes Secret.
	Token pulumi.StringInput
	// MinRunners is the number of idle GitHub runners kept ready (GitHub
	// only; GitLab starts a pod per job).
	MinRunners int
	// MaxRunners is the most runners (GitHub) or concurrent jobs (GitLab)
	// at once; at least 1.
	MaxRunners int
	// GPU runs each runner (GitHub) or job (GitLab) on a GPU node with
	// one nvidia.com/gpu.
	GPU bool
	// GPUTolerations tolerate the GPU nodes' taints (default: the
	// nvidia.com/gpu taint, any value, NoSchedule).
	GPUTolerations []Toleration
	// GPUNodeSelector selects the GPU nodes (e.g. the pool label).
	GPUNodeSelector map[string]string
	// Image replaces the default GitHub runner image or GitLab job image.
	Image string
}

// CIRunnersArgs are the inputs of the runners.
type CIRunnersArgs struct {
	// Namespace is where the runners run (default plinth-ci).
	Namespace string
	// Environment is the Plinth environment name (labels).
	Environment string
	// ChartsMirror replaces the chart repositories (oci:// or http(s)://).
	ChartsMirror string
	// ChartMode is how the charts are installed: Helm releases (the
	// default) or templated into plain resources (for rendering).
	ChartMode charts.Mode
	// Runners are the runner sets; at least one.
	Runners []Runner
}

// CIRunners is the CI runners of an environment.
type CIRunners struct {
	pulumi.ResourceState

	// Namespace is the runners' namespace, once it exists.
	Namespace pulumi.StringOutput `pulumi:"namespace"`
	// ScaleSets maps each GitHub Actions runner to the runs-on label of
	// its scale set.
	ScaleSets map[string]string
	// Charts are the charts installed, by versions.yaml key.
	Charts map[string]charts.Ref
}

var dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// Label keys and values allowed in node selectors and tolerations (the
// Kubernetes syntax); they are also written into the GitLab runner's TOML.
var (
	labelKey   = regexp.MustCompile(`^([a-zA-Z0-9]([-a-zA-Z0-9.]*[a-zA-Z0-9])?/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$`)
	labelValue = regexp.MustCompile(`^([a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?)?$`)
)

var taintEffects = []string{"", "NoSchedule", "PreferNoSchedule", "NoExecute"}

// validate checks the arguments and applies defaults, in a copy.
func validate(name string, in *CIRunnersArgs) (*CIRunnersArgs, error) {
	if in == nil {
		return nil, fmt.Errorf("ci runners %s: args are required", name)
	}
	args := *in
	if args.Namespace == "" {
		args.Namespace = DefaultNamespace
	}
	var errs []string
	if args.ChartsMirror != "" {
		if err := charts.ValidateMirror(args.ChartsMirror); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(args.Runners) == 0 {
		errs = append(errs, "no runners")
	}
	seen := map[string]bool{}
	args.Runners = slices.Clone(args.Runners)
	for i := range args.Runners {
		r := &args.Runners[i]
		where := fmt.Sprintf("runners[%d] (%s)", i, r.Name)
		switch {
		case !dns1123Label.MatchString(r.Name):
			errs = append(errs, fmt.Sprintf("%s: name %q is not a DNS-1123 label", where, r.Name))
		case seen[r.Name]:
			errs = append(errs, fmt.Sprintf("%s: name %q is used twice", where, r.Name))
		case r.Name == ControllerRelease:
			errs = append(errs, fmt.Sprintf("%s: name %q is the controller's release name", where, r.Name))
		}
		seen[r.Name] = true
		if r.Kind != KindGitHubActions && r.Kind != KindGitLab {
			errs = append(errs, fmt.Sprintf("%s: kind %q is not %s or %s", where, r.Kind, KindGitHubActions, KindGitLab))
		}
		if u, err := url.Parse(r.URL); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			errs = append(errs, fmt.Sprintf("%s: URL %q is not an https URL without credentials", where, r.URL))
		}
		if r.Token == nil {
			errs = append(errs, where+": Token is required")
		}
		if r.MaxRunners < 1 {
			errs = append(errs, fmt.Sprintf("%s: MaxRunners %d is under 1", where, r.MaxRunners))
		}
		if r.MinRunners < 0 || r.MinRunners > r.MaxRunners {
			errs = append(errs, fmt.Sprintf("%s: MinRunners %d is not between 0 and MaxRunners %d", where, r.MinRunners, r.MaxRunners))
		}
		for k, v := range r.GPUNodeSelector {
			if !labelKey.MatchString(k) || !labelValue.MatchString(v) {
				errs = append(errs, fmt.Sprintf("%s: GPU node selector %s=%s is not a valid label", where, k, v))
			}
		}
		if r.GPU && len(r.GPUTolerations) == 0 {
			r.GPUTolerations = []Toleration{{Key: GPUResource, Operator: "Exists", Effect: "NoSchedule"}}
		}
		r.GPUTolerations = slices.Clone(r.GPUTolerations)
		for j := range r.GPUTolerations {
			t := &r.GPUTolerations[j]
			if t.Operator == "" {
				t.Operator = "Equal"
				if t.Value == "" {
					t.Operator = "Exists"
				}
			}
			switch {
			case !labelKey.MatchString(t.Key), !labelValue.MatchString(t.Value):
				errs = append(errs, fmt.Sprintf("%s: toleration %s=%s is not a valid key and value", where, t.Key, t.Value))
			case t.Operator != "Equal" && t.Operator != "Exists", t.Operator == "Exists" && t.Value != "":
				errs = append(errs, fmt.Sprintf("%s: toleration %s: operator %q with value %q", where, t.Key, t.Operator, t.Value))
			case !slices.Contains(taintEffects, t.Effect):
				errs = append(errs, fmt.Sprintf("%s: toleration %s: effect %q is not NoSchedule, PreferNoSchedule or NoExecute", where, t.Key, t.Effect))
			}
		}
		if r.Image == "" {
			r.Image = DefaultGitHubRunnerImage
			if r.Kind == KindGitLab {
				r.Image = DefaultGitLabJobImage
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("ci runners %s: %s", name, strings.Join(errs, "; "))
	}
	return &args, nil
}

// podSecurity is the namespace's Pod Security level: restricted, unless a
// GitLab runner is there, whose jobs run arbitrary images, most of them as
// root, which baseline allows (privileged containers and host access
// stay forbidden).
func podSecurity(runners []Runner) string {
	for _, r := range runners {
		if r.Kind == KindGitLab {
			return k8snamespace.Baseline
		}
	}
	return k8snamespace.Restricted
}

// egressPorts are what runners reach: GitHub, GitLab and registries over
// HTTPS (443), and the Kubernetes API server (443 or 6443), which the
// controller, the listeners and the GitLab runner manager talk to.
var egressPorts = []int{443, 6443}

// NewCIRunners creates the runners.
func NewCIRunners(ctx *pulumi.Context, name string, in *CIRunnersArgs, opts ...pulumi.ResourceOption) (*CIRunners, error) {
	args, err := validate(name, in)
	if err != nil {
		return nil, err
	}
	c := &CIRunners{ScaleSets: map[string]string{}, Charts: map[string]charts.Ref{}}
	keys := []string{}
	for _, r := range args.Runners {
		if r.Kind == KindGitHubActions {
			keys = append(keys, ControllerChartKey, ScaleSetChartKey)
		} else {
			keys = append(keys, GitLabChartKey)
		}
	}
	for _, k := range keys {
		if _, done := c.Charts[k]; done {
			continue
		}
		ref, err := charts.Resolve(k, args.ChartsMirror)
		if err != nil {
			return nil, fmt.Errorf("ci runners %s: %w", name, err)
		}
		c.Charts[k] = ref
	}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)

	ns, err := k8snamespace.NewNamespace(ctx, name+"-ci", &k8snamespace.NamespaceArgs{
		Name:        args.Namespace,
		PodSecurity: podSecurity(args.Runners),
		Environment: args.Environment,
		DefaultDeny: true,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("ci runners %s: %w", name, err)
	}
	inNS := []pulumi.ResourceOption{parent, pulumi.DependsOn([]pulumi.Resource{ns})}
	b := &builder{ctx: ctx, name: name, args: args, comp: c, inNS: inNS, ns: ns}

	if err := b.egressPolicy(); err != nil {
		return nil, err
	}
	var controller pulumi.Resource
	for _, r := range args.Runners {
		switch r.Kind {
		case KindGitHubActions:
			if controller == nil {
				if controller, err = b.controller(c.Charts[ControllerChartKey]); err != nil {
					return nil, err
				}
			}
			if err := b.scaleSet(r, c.Charts[ScaleSetChartKey], controller); err != nil {
				return nil, err
			}
			c.ScaleSets[r.Name] = r.Name
		case KindGitLab:
			if err := b.gitlab(r, c.Charts[GitLabChartKey]); err != nil {
				return nil, err
			}
		}
	}

	c.Namespace = ns.NameOutput
	chartNames := pulumi.StringMap{}
	for k, ref := range c.Charts {
		chartNames[k] = pulumi.String(ref.String())
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"namespace": c.Namespace,
		"scaleSets": pulumi.ToStringMap(c.ScaleSets),
		"charts":    chartNames,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// builder creates the children of one CIRunners.
type builder struct {
	ctx  *pulumi.Context
	name string
	args *CIRunnersArgs
	comp *CIRunners
	inNS []pulumi.ResourceOption
	ns   *k8snamespace.Namespace
}

func (b *builder) meta(name string) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{
		Name:      pulumi.String(name),
		Namespace: pulumi.String(b.args.Namespace),
		Labels:    k8snamespace.Labels(b.args.Environment, nil),
	}
}

// egressPolicy lets every pod of the namespace reach HTTPS and the API
// server; the namespace's default deny blocks everything else but DNS.
func (b *builder) egressPolicy() error {
	ports := networkingv1.NetworkPolicyPortArray{}
	for _, p := range egressPorts {
		ports = append(ports, &networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(p)})
	}
	_, err := networkingv1.NewNetworkPolicy(b.ctx, b.name+"-allow-egress-https", &networkingv1.NetworkPolicyArgs{
		Metadata: b.meta("allow-egress-https"),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String("Egress")},
			Egress: networkingv1.NetworkPolicyEgressRuleArray{&networkingv1.NetworkPolicyEgressRuleArgs{
				To:    networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{IpBlock: &networkingv1.IPBlockArgs{Cidr: pulumi.String("0.0.0.0/0")}}},
				Ports: ports,
			}},
		},
	}, b.inNS...)
	if err != nil {
		return fmt.Errorf("ci runners %s: egress policy: %w", b.name, err)
	}
	return nil
}

// tokenSecret creates the Secret holding a runner's token under the keys
// its chart reads; the token stays a Pulumi secret even if given plain.
func (b *builder) tokenSecret(r Runner, secretName string, data pulumi.StringMap) (*corev1.Secret, error) {
	s, err := corev1.NewSecret(b.ctx, b.name+"-"+r.Name+"-token", &corev1.SecretArgs{
		Metadata:   b.meta(secretName),
		Type:       pulumi.String("Opaque"),
		StringData: data,
	}, b.inNS...)
	if err != nil {
		return nil, fmt.Errorf("ci runners %s: runner %s: token secret: %w", b.name, r.Name, err)
	}
	return s, nil
}

// secretToken is r's token as a Pulumi secret.
func secretToken(r Runner) pulumi.StringOutput {
	return pulumi.ToSecret(r.Token).(pulumi.StringOutput)
}

// release installs ref as release in the namespace, after it and deps.
func (b *builder) release(logical, release string, ref charts.Ref, values pulumi.Map, deps ...pulumi.Resource) (pulumi.Resource, error) {
	deps = append([]pulumi.Resource{b.ns}, deps...)
	rel, err := charts.Install(b.ctx, b.name+"-"+logical, ref, release, b.args.Namespace, values, b.args.ChartMode,
		pulumi.Parent(b.comp), pulumi.DependsOn(deps))
	if err != nil {
		return nil, fmt.Errorf("ci runners %s: %s: %w", b.name, logical, err)
	}
	return rel, nil
}
