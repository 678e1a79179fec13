package charts

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/stacks/plan"
)

func TestInstall(t *testing.T) {
	ref := Ref{Chart: "web", Repository: "https://charts.example.com", Version: "1.2.3"}
	tests := []struct {
		mode     Mode
		wantType string
		// releaseOnly are inputs a Release has and a Chart has not.
		releaseOnly bool
	}{
		{ModeRelease, "kubernetes:helm.sh/v3:Release", true},
		{ModeTemplate, "kubernetes:helm.sh/v4:Chart", false},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			g, err := plan.Run(func(ctx *pulumi.Context) error {
				_, err := Install(ctx, "r", ref, "rel", "ns", pulumi.Map{"a": pulumi.String("b")}, tt.mode)
				return err
			}, plan.Options{})
			if err != nil {
				t.Fatal(err)
			}
			r := g.Find(tt.wantType, "r")
			if r == nil {
				t.Fatalf("no %s registered", tt.wantType)
			}
			in := r.Inputs
			if in["chart"] != "web" || in["version"] != "1.2.3" || in["name"] != "rel" || in["namespace"] != "ns" {
				t.Errorf("inputs = %v", in)
			}
			if opts, _ := in["repositoryOpts"].(map[string]any); opts["repo"] != ref.Repository {
				t.Errorf("repositoryOpts = %v", in["repositoryOpts"])
			}
			if v, _ := in["values"].(map[string]any); v["a"] != "b" {
				t.Errorf("values = %v", in["values"])
			}
			if _, ok := in["cleanupOnFail"]; ok != tt.releaseOnly {
				t.Errorf("cleanupOnFail present = %v, want %v", ok, tt.releaseOnly)
			}
		})
	}
	_, err := plan.Run(func(ctx *pulumi.Context) error {
		_, err := Install(ctx, "r", ref, "rel", "ns", nil, Mode(7))
		return err
	}, plan.Options{})
	if err == nil || !strings.Contains(err.Error(), "unknown install mode Mode(7)") {
		t.Errorf("unknown mode: got %v", err)
	}
}
