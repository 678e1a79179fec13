package charts

import (
	"reflect"
	"testing"

	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/stacks/plan"
)

// TestReleaseSameAsSDK: NewRelease registers what the SDK's
// helmv3.NewRelease registers for the same arguments: type, inputs (compat
// included) and the provider version. The SDK package is imported here
// only, so that the programs do not compile every Kubernetes API group.
func TestReleaseSameAsSDK(t *testing.T) {
	for _, ref := range []Ref{
		{Chart: "web", Repository: "https://charts.example.com", Version: "1.2.3"},
		{Chart: "oci://ghcr.io/example/charts/oci", Version: "0.4.0"},
	} {
		t.Run(ref.String(), func(t *testing.T) {
			values := pulumi.Map{"a": pulumi.String("b"), "nested": pulumi.Map{"n": pulumi.Int(1)}}
			g, err := plan.Run(func(ctx *pulumi.Context) error {
				if _, err := NewRelease(ctx, "ours", ref.ReleaseArgs("rel", "ns", values)); err != nil {
					return err
				}
				sdk := &helmv3.ReleaseArgs{
					Name: pulumi.String("rel"), Namespace: pulumi.String("ns"), Chart: pulumi.String(ref.Chart),
					Version: pulumi.String(ref.Version), Values: values, CreateNamespace: pulumi.Bool(false),
					CleanupOnFail: pulumi.Bool(true), Timeout: pulumi.Int(releaseTimeoutSeconds), MaxHistory: pulumi.Int(releaseMaxHistory),
				}
				if ref.Repository != "" {
					sdk.RepositoryOpts = &helmv3.RepositoryOptsArgs{Repo: pulumi.String(ref.Repository)}
				}
				_, err := helmv3.NewRelease(ctx, "sdk", sdk)
				return err
			}, plan.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ours, sdk := g.Find(ReleaseType, "ours"), g.Find(ReleaseType, "sdk")
			if ours == nil || sdk == nil {
				t.Fatalf("registered: ours %v, SDK %v", ours != nil, sdk != nil)
			}
			if !reflect.DeepEqual(ours.Inputs, sdk.Inputs) {
				t.Errorf("inputs differ:\n  ours: %v\n  SDK:  %v", ours.Inputs, sdk.Inputs)
			}
			if ours.Inputs["compat"] != "true" {
				t.Errorf("compat = %v, want true", ours.Inputs["compat"])
			}
		})
	}
	if _, err := plan.Run(func(ctx *pulumi.Context) error {
		_, err := NewRelease(ctx, "r", &ReleaseArgs{})
		return err
	}, plan.Options{}); err == nil {
		t.Error("a release without a chart: no error")
	}
}
