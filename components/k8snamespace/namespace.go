// Package k8snamespace is the namespace every Plinth Kubernetes component
// runs in: a Namespace with Pod Security Standards labels, a default-deny
// NetworkPolicy (with DNS egress allowed), a LimitRange giving containers
// default requests and limits, and an optional ResourceQuota. Components
// add the NetworkPolicies that allow their own traffic.
package k8snamespace

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type token.
const TypeToken = "plinth:kubernetes:Namespace"

// Pod Security Standards levels.
const (
	Restricted = "restricted"
	Baseline   = "baseline"
	Privileged = "privileged"
)

// ManagedByLabel marks every Kubernetes object Plinth creates.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// ManagedBy is the value of ManagedByLabel.
const ManagedBy = "plinth"

// EnvironmentLabel names the environment an object belongs to.
const EnvironmentLabel = "plinth.dev/environment"

// NamespaceArgs are the inputs of a Namespace.
type NamespaceArgs struct {
	// Name is the namespace name, e.g. plinth-tracking.
	Name string
	// PodSecurity is the Pod Security Standards level enforced: restricted
	// (default), baseline or privileged (GPU daemons need host access).
	PodSecurity string
	// Labels are added to the namespace (the environment label is added too).
	Labels map[string]string
	// Environment is the Plinth environment name (label plinth.dev/environment).
	Environment string
	// DefaultDeny adds a NetworkPolicy denying all ingress and egress except
	// DNS; the component then allows what it needs.
	DefaultDeny bool
	// Quota, when set, is a ResourceQuota's hard limits (requests.cpu: "8", ...).
	Quota map[string]string
	// DefaultRequests and DefaultLimits are the LimitRange container
	// defaults (cpu, memory); empty means no LimitRange.
	DefaultRequests, DefaultLimits map[string]string
}

// Namespace is a namespace with its guardrails.
type Namespace struct {
	pulumi.ResourceState

	// Name is the namespace name (known before apply).
	Name string
	// Namespace is the namespace resource, for DependsOn.
	Namespace *corev1.Namespace
	// NameOutput is the namespace name as an output that waits for it.
	NameOutput pulumi.StringOutput `pulumi:"name"`
}

// Labels returns the labels Plinth puts on every object of an environment.
func Labels(environment string, extra map[string]string) pulumi.StringMap {
	m := pulumi.StringMap{ManagedByLabel: pulumi.String(ManagedBy)}
	if environment != "" {
		m[EnvironmentLabel] = pulumi.String(environment)
	}
	for k, v := range extra {
		m[k] = pulumi.String(v)
	}
	return m
}

// NewNamespace creates the namespace and its guardrails.
func NewNamespace(ctx *pulumi.Context, name string, args *NamespaceArgs, opts ...pulumi.ResourceOption) (*Namespace, error) {
	if args == nil || args.Name == "" {
		return nil, fmt.Errorf("namespace %s: Name is required", name)
	}
	level := args.PodSecurity
	if level == "" {
		level = Restricted
	}
	switch level {
	case Restricted, Baseline, Privileged:
	default:
		return nil, fmt.Errorf("namespace %s: PodSecurity %q is not restricted, baseline or privileged", name, level)
	}
	c := &Namespace{Name: args.Name}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)

	labels := Labels(args.Environment, args.Labels)
	for _, mode := range []string{"enforce", "audit", "warn"} {
		labels["pod-security.kubernetes.io/"+mode] = pulumi.String(level)
	}
	ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(args.Name), Labels: labels},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", name, err)
	}
	c.Namespace = ns
	c.NameOutput = ns.Metadata.Name().Elem()
	inNS := []pulumi.ResourceOption{parent, pulumi.DependsOn([]pulumi.Resource{ns})}
	meta := func(objName string) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{Name: pulumi.String(objName), Namespace: pulumi.String(args.Name), Labels: Labels(args.Environment, nil)}
	}

	if args.DefaultDeny {
		udp, tcp := pulumi.String("UDP"), pulumi.String("TCP")
		_, err := networkingv1.NewNetworkPolicy(ctx, name+"-default-deny", &networkingv1.NetworkPolicyArgs{
			Metadata: meta("default-deny"),
			Spec: &networkingv1.NetworkPolicySpecArgs{
				PodSelector: &metav1.LabelSelectorArgs{},
				PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
				// DNS is the one egress every pod needs.
				Egress: networkingv1.NetworkPolicyEgressRuleArray{&networkingv1.NetworkPolicyEgressRuleArgs{
					Ports: networkingv1.NetworkPolicyPortArray{
						&networkingv1.NetworkPolicyPortArgs{Protocol: udp, Port: pulumi.Int(53)},
						&networkingv1.NetworkPolicyPortArgs{Protocol: tcp, Port: pulumi.Int(53)},
					},
				}},
			},
		}, inNS...)
		if err != nil {
			return nil, fmt.Errorf("namespace %s: default-deny policy: %w", name, err)
		}
	}

	if len(args.DefaultRequests) > 0 || len(args.DefaultLimits) > 0 {
		_, err := corev1.NewLimitRange(ctx, name+"-limits", &corev1.LimitRangeArgs{
			Metadata: meta("defaults"),
			Spec: &corev1.LimitRangeSpecArgs{Limits: corev1.LimitRangeItemArray{&corev1.LimitRangeItemArgs{
				Type:           pulumi.String("Container"),
				DefaultRequest: pulumi.ToStringMap(args.DefaultRequests),
				Default:        pulumi.ToStringMap(args.DefaultLimits),
			}}},
		}, inNS...)
		if err != nil {
			return nil, fmt.Errorf("namespace %s: limit range: %w", name, err)
		}
	}

	if len(args.Quota) > 0 {
		_, err := corev1.NewResourceQuota(ctx, name+"-quota", &corev1.ResourceQuotaArgs{
			Metadata: meta("quota"),
			Spec:     &corev1.ResourceQuotaSpecArgs{Hard: pulumi.ToStringMap(args.Quota)},
		}, inNS...)
		if err != nil {
			return nil, fmt.Errorf("namespace %s: quota: %w", name, err)
		}
	}

	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"name": c.NameOutput}); err != nil {
		return nil, err
	}
	return c, nil
}
