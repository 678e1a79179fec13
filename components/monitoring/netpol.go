package monitoring

import (
	"fmt"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Pod labels the policies select by (set by the Prometheus operator and
// the Grafana chart).
const (
	appNameLabel   = "app.kubernetes.io/name"
	prometheusName = "prometheus"
	grafanaName    = "grafana"
)

// Ports the policies open.
const (
	grafanaPort = 3000
	// webhookPort is the Prometheus operator's admission webhook, called
	// by the API server.
	webhookPort = 10250
)

// hostScrapePorts are scrape targets on node addresses, outside any pod
// network: node-exporter (host network), kubelet and cAdvisor.
var hostScrapePorts = []int{9100, 10250}

// apiServerPorts are the Kubernetes API server's ports (443 on EKS and
// behind the kubernetes Service, 6443 on most other clusters); 443 also
// serves Alertmanager's HTTPS receivers.
var apiServerPorts = []int{443, 6443}

// anywhere is every IPv4 address.
const anywhere = "0.0.0.0/0"

func tcpPorts(ports ...int) networkingv1.NetworkPolicyPortArray {
	out := networkingv1.NetworkPolicyPortArray{}
	for _, p := range ports {
		out = append(out, &networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(p)})
	}
	return out
}

func podsLabelled(name string) *metav1.LabelSelectorArgs {
	return &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{appNameLabel: pulumi.String(name)}}
}

// everyPodEverywhere is a peer matching every pod of every namespace.
func everyPodEverywhere() *networkingv1.NetworkPolicyPeerArgs {
	return &networkingv1.NetworkPolicyPeerArgs{NamespaceSelector: &metav1.LabelSelectorArgs{}}
}

func ipBlock(cidr string) *networkingv1.NetworkPolicyPeerArgs {
	return &networkingv1.NetworkPolicyPeerArgs{IpBlock: &networkingv1.IPBlockArgs{Cidr: pulumi.String(cidr)}}
}

// networkPolicies opens, on top of the namespace's default deny, what the
// stack needs: traffic inside the namespace, Prometheus scraping every
// namespace and the nodes, the API server, the operator's webhook, Grafana
// from any namespace and, with OpenTelemetry, OTLP from any namespace.
func networkPolicies(ctx *pulumi.Context, name string, s *settings, opts []pulumi.ResourceOption) error {
	both := pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")}
	ingress := pulumi.StringArray{pulumi.String("Ingress")}
	egress := pulumi.StringArray{pulumi.String("Egress")}
	samePods := &networkingv1.NetworkPolicyPeerArgs{PodSelector: &metav1.LabelSelectorArgs{}}
	type policy struct {
		name string
		spec *networkingv1.NetworkPolicySpecArgs
	}
	policies := []policy{
		{"allow-same-namespace", &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: both,
			Ingress:     networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{From: networkingv1.NetworkPolicyPeerArray{samePods}}},
			Egress:      networkingv1.NetworkPolicyEgressRuleArray{&networkingv1.NetworkPolicyEgressRuleArgs{To: networkingv1.NetworkPolicyPeerArray{samePods}}},
		}},
		{"allow-prometheus-scrape", &networkingv1.NetworkPolicySpecArgs{
			PodSelector: podsLabelled(prometheusName),
			PolicyTypes: egress,
			Egress: networkingv1.NetworkPolicyEgressRuleArray{
				&networkingv1.NetworkPolicyEgressRuleArgs{To: networkingv1.NetworkPolicyPeerArray{everyPodEverywhere()}},
				&networkingv1.NetworkPolicyEgressRuleArgs{To: networkingv1.NetworkPolicyPeerArray{ipBlock(anywhere)}, Ports: tcpPorts(hostScrapePorts...)},
			},
		}},
		{"allow-kube-apiserver", &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: egress,
			Egress:      networkingv1.NetworkPolicyEgressRuleArray{&networkingv1.NetworkPolicyEgressRuleArgs{To: networkingv1.NetworkPolicyPeerArray{ipBlock(anywhere)}, Ports: tcpPorts(apiServerPorts...)}},
		}},
		{"allow-operator-webhook", &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: ingress,
			Ingress:     networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{Ports: tcpPorts(webhookPort)}},
		}},
		{"allow-grafana", &networkingv1.NetworkPolicySpecArgs{
			PodSelector: podsLabelled(grafanaName),
			PolicyTypes: ingress,
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{
				From: networkingv1.NetworkPolicyPeerArray{everyPodEverywhere()}, Ports: tcpPorts(grafanaPort),
			}},
		}},
	}
	if s.OpenTelemetry {
		policies = append(policies, policy{"allow-otlp", &networkingv1.NetworkPolicySpecArgs{
			PodSelector: podsLabelled(collectorName),
			PolicyTypes: ingress,
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{
				From: networkingv1.NetworkPolicyPeerArray{everyPodEverywhere()}, Ports: tcpPorts(otlpGRPCPort, otlpHTTPPort),
			}},
		}})
	}
	for _, p := range policies {
		_, err := networkingv1.NewNetworkPolicy(ctx, name+"-"+p.name, &networkingv1.NetworkPolicyArgs{
			Metadata: s.meta(p.name, nil),
			Spec:     p.spec,
		}, opts...)
		if err != nil {
			return fmt.Errorf("network policy %s: %w", p.name, err)
		}
	}
	return nil
}
