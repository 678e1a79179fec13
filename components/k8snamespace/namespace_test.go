package k8snamespace

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/stacks/plan"
)

func TestNamespace(t *testing.T) {
	tests := []struct {
		name                string
		args                NamespaceArgs
		level               string
		deny, limits, quota bool
		wantErr             bool
	}{
		{"restricted with everything", NamespaceArgs{Name: "plinth-tracking", Environment: "dev", DefaultDeny: true, DefaultRequests: map[string]string{"cpu": "100m"}, DefaultLimits: map[string]string{"memory": "512Mi"}, Quota: map[string]string{"requests.cpu": "8"}}, Restricted, true, true, true, false},
		{"privileged, bare", NamespaceArgs{Name: "plinth-gpu", PodSecurity: Privileged}, Privileged, false, false, false, false},
		{"unknown level", NamespaceArgs{Name: "x", PodSecurity: "open"}, "", false, false, false, true},
		{"no name", NamespaceArgs{}, "", false, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := plan.Run(func(ctx *pulumi.Context) error {
				_, err := NewNamespace(ctx, "ns", &tt.args)
				return err
			}, plan.Options{})
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ns := g.ByType("kubernetes:core/v1:Namespace")
			if len(ns) != 1 {
				t.Fatalf("%d namespaces", len(ns))
			}
			labels, _ := ns[0].Inputs["metadata"].(map[string]any)["labels"].(map[string]any)
			for _, mode := range []string{"enforce", "audit", "warn"} {
				if labels["pod-security.kubernetes.io/"+mode] != tt.level {
					t.Errorf("pod-security %s = %v, want %s", mode, labels["pod-security.kubernetes.io/"+mode], tt.level)
				}
			}
			if labels[ManagedByLabel] != ManagedBy {
				t.Errorf("labels = %v", labels)
			}
			if got := len(g.ByType("kubernetes:networking.k8s.io/v1:NetworkPolicy")) == 1; got != tt.deny {
				t.Errorf("default deny = %v, want %v", got, tt.deny)
			}
			if tt.deny {
				np := g.ByType("kubernetes:networking.k8s.io/v1:NetworkPolicy")[0]
				spec := np.Inputs["spec"].(map[string]any)
				if types, _ := spec["policyTypes"].([]any); len(types) != 2 {
					t.Errorf("policyTypes = %v", spec["policyTypes"])
				}
				if sel, _ := spec["podSelector"].(map[string]any); len(sel) != 0 {
					t.Errorf("default deny must select every pod, got %v", sel)
				}
			}
			if got := len(g.ByType("kubernetes:core/v1:LimitRange")) == 1; got != tt.limits {
				t.Errorf("limit range = %v, want %v", got, tt.limits)
			}
			if got := len(g.ByType("kubernetes:core/v1:ResourceQuota")) == 1; got != tt.quota {
				t.Errorf("quota = %v, want %v", got, tt.quota)
			}
		})
	}
}
