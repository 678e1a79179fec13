package tracking

import (
	"fmt"
	"slices"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// namespaceNameLabel is the label Kubernetes puts on every namespace with
// its name.
const namespaceNameLabel = "kubernetes.io/metadata.name"

// HTTPSPort is the egress port to S3 and STS (IRSA).
const HTTPSPort = 443

// networkPolicies opens, on top of the namespace's default deny (which
// allows DNS), only what the server and its database need:
//   - into MLflow on its port: from the client namespaces (every namespace
//     when none are given) and the ingress controller, and from the
//     monitoring namespace for /metrics;
//   - out of MLflow: PostgreSQL (the in-cluster pod, or any address for an
//     external database) and, with S3 artifacts, HTTPS;
//   - into PostgreSQL: from the MLflow pods only.
func (b *builder) networkPolicies(db *DatabaseArgs) error {
	a := b.a
	tcp := pulumi.String("TCP")
	port := func(p pulumi.Input) networkingv1.NetworkPolicyPortArray {
		return networkingv1.NetworkPolicyPortArray{&networkingv1.NetworkPolicyPortArgs{Protocol: tcp, Port: p}}
	}
	inNamespace := func(ns string) *networkingv1.NetworkPolicyPeerArgs {
		return &networkingv1.NetworkPolicyPeerArgs{NamespaceSelector: &metav1.LabelSelectorArgs{
			MatchLabels: pulumi.StringMap{namespaceNameLabel: pulumi.String(ns)},
		}}
	}
	pods := func(labels map[string]string) *networkingv1.NetworkPolicyPeerArgs {
		return &networkingv1.NetworkPolicyPeerArgs{PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(labels)}}
	}
	labels := withLabels(serverSelector(), map[string]string{PartOfLabel: partOf})
	server := &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(serverSelector())}

	var clients networkingv1.NetworkPolicyPeerArray
	if len(a.ClientNamespaces) == 0 {
		// Every pod of every namespace.
		clients = networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{NamespaceSelector: &metav1.LabelSelectorArgs{}}}
	} else {
		allowed := slices.Clone(a.ClientNamespaces)
		if in := a.Ingress; in != nil && in.ControllerNamespace != "" && !slices.Contains(allowed, in.ControllerNamespace) {
			allowed = append(allowed, in.ControllerNamespace)
		}
		for _, ns := range allowed {
			clients = append(clients, inNamespace(ns))
		}
	}
	if _, err := networkingv1.NewNetworkPolicy(b.ctx, b.name+"-server-ingress", &networkingv1.NetworkPolicyArgs{
		Metadata: b.meta("mlflow-ingress", labels),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: server,
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{
				&networkingv1.NetworkPolicyIngressRuleArgs{From: clients, Ports: port(pulumi.Int(Port))},
				&networkingv1.NetworkPolicyIngressRuleArgs{
					From:  networkingv1.NetworkPolicyPeerArray{inNamespace(a.MonitoringNamespace)},
					Ports: port(pulumi.Int(Port)),
				},
			},
		},
	}, b.opts()...); err != nil {
		return fmt.Errorf("server ingress policy: %w", err)
	}

	database := &networkingv1.NetworkPolicyEgressRuleArgs{Ports: port(db.Port)}
	if b.inClusterDB {
		database.To = networkingv1.NetworkPolicyPeerArray{pods(databaseSelector())}
	}
	egress := networkingv1.NetworkPolicyEgressRuleArray{database}
	if a.Artifacts != nil {
		egress = append(egress, &networkingv1.NetworkPolicyEgressRuleArgs{Ports: port(pulumi.Int(HTTPSPort))})
	}
	if _, err := networkingv1.NewNetworkPolicy(b.ctx, b.name+"-server-egress", &networkingv1.NetworkPolicyArgs{
		Metadata: b.meta("mlflow-egress", labels),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: server,
			PolicyTypes: pulumi.StringArray{pulumi.String("Egress")},
			Egress:      egress,
		},
	}, b.opts()...); err != nil {
		return fmt.Errorf("server egress policy: %w", err)
	}

	if b.inClusterDB {
		if _, err := networkingv1.NewNetworkPolicy(b.ctx, b.name+"-postgres-ingress", &networkingv1.NetworkPolicyArgs{
			Metadata: b.meta("mlflow-postgres-ingress", databaseSelector()),
			Spec: &networkingv1.NetworkPolicySpecArgs{
				PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(databaseSelector())},
				PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
				Ingress: networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{
					From:  networkingv1.NetworkPolicyPeerArray{pods(serverSelector())},
					Ports: port(pulumi.Int(PostgresPort)),
				}},
			},
		}, b.opts()...); err != nil {
			return fmt.Errorf("database ingress policy: %w", err)
		}
	}
	return nil
}
