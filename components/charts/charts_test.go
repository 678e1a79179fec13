package charts

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/blueprints/versions"
	"github.com/plinth-dev/plinth/stacks/plan"
)

var testPins = map[string]versions.Chart{
	"web":    {Repository: "https://charts.example.com/stable/", Chart: "web", Version: "1.2.3"},
	"oci":    {Repository: "oci://ghcr.io/example/charts", Chart: "oci", Version: "0.4.0"},
	"noname": {Repository: "https://charts.example.com", Version: "1.0.0"},
	"ftp":    {Repository: "ftp://charts.example.com", Chart: "ftp", Version: "1.0.0"},
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name, key, mirror string
		want              Ref
		wantErr           string
	}{
		{name: "https upstream", key: "web", want: Ref{Chart: "web", Repository: "https://charts.example.com/stable", Version: "1.2.3"}},
		{name: "https upstream, https mirror", key: "web", mirror: "https://mirror.internal/helm", want: Ref{Chart: "web", Repository: "https://mirror.internal/helm", Version: "1.2.3"}},
		{name: "https upstream, http mirror", key: "web", mirror: "http://mirror.internal:8080/", want: Ref{Chart: "web", Repository: "http://mirror.internal:8080", Version: "1.2.3"}},
		{name: "https upstream, oci mirror", key: "web", mirror: "oci://registry.internal/charts/", want: Ref{Chart: "oci://registry.internal/charts/web", Version: "1.2.3"}},
		{name: "oci upstream", key: "oci", want: Ref{Chart: "oci://ghcr.io/example/charts/oci", Version: "0.4.0"}},
		{name: "oci upstream, https mirror", key: "oci", mirror: "https://mirror.internal/helm", want: Ref{Chart: "oci", Repository: "https://mirror.internal/helm", Version: "0.4.0"}},
		{name: "oci upstream, oci mirror", key: "oci", mirror: "oci://registry.internal/charts", want: Ref{Chart: "oci://registry.internal/charts/oci", Version: "0.4.0"}},
		{name: "unknown key", key: "nope", wantErr: `chart "nope" is not pinned in versions.yaml; pinned: ftp, noname, oci, web`},
		{name: "pin without chart name", key: "noname", wantErr: "no chart name or version"},
		{name: "upstream of another scheme", key: "ftp", wantErr: "neither oci:// nor http(s)://"},
		{name: "mirror of another scheme", key: "web", mirror: "s3://bucket/charts", wantErr: "must start with oci://, https:// or http://"},
		{name: "mirror without host", key: "web", mirror: "oci:///charts", wantErr: "has no host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolve(testPins, tt.key, tt.mirror)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestResolvePinned checks the charts Plinth installs are pinned to real
// versions in versions.yaml and resolve from their upstream.
func TestResolvePinned(t *testing.T) {
	for _, key := range []string{"kube-prometheus-stack", "gha-runner-scale-set-controller", "gha-runner-scale-set", "gitlab-runner"} {
		ref, err := Resolve(key, "")
		if err != nil {
			t.Fatal(err)
		}
		pin := versions.Get().Charts[key]
		if ref.Version != pin.Version || ref.Version == "" || strings.EqualFold(ref.Version, "TODO") {
			t.Errorf("%s: version %q is not a pin", key, ref.Version)
		}
		if !strings.HasSuffix(ref.Chart, pin.Chart) {
			t.Errorf("%s: chart %q", key, ref.Chart)
		}
	}
}

func TestRefString(t *testing.T) {
	if got := (Ref{Chart: "web", Repository: "https://charts.example.com/", Version: "1.0.0"}).String(); got != "https://charts.example.com/web@1.0.0" {
		t.Errorf("got %s", got)
	}
	if got := (Ref{Chart: "oci://r.example.com/c/oci", Version: "0.1.0"}).String(); got != "oci://r.example.com/c/oci@0.1.0" {
		t.Errorf("got %s", got)
	}
}

func TestReleaseArgs(t *testing.T) {
	for _, ref := range []Ref{
		{Chart: "web", Repository: "https://charts.example.com", Version: "1.2.3"},
		{Chart: "oci://ghcr.io/example/charts/oci", Version: "0.4.0"},
	} {
		t.Run(ref.String(), func(t *testing.T) {
			g, err := plan.Run(func(ctx *pulumi.Context) error {
				_, err := helmRelease(ctx, ref)
				return err
			}, plan.Options{})
			if err != nil {
				t.Fatal(err)
			}
			rel := g.Find("kubernetes:helm.sh/v3:Release", "r")
			if rel == nil {
				t.Fatal("no release")
			}
			in := rel.Inputs
			if in["chart"] != ref.Chart || in["version"] != ref.Version || in["name"] != "rel" || in["namespace"] != "ns" {
				t.Errorf("inputs = %v", in)
			}
			opts, _ := in["repositoryOpts"].(map[string]any)
			if ref.Repository == "" && opts != nil && opts["repo"] != nil {
				t.Errorf("oci chart has a repository: %v", opts)
			}
			if ref.Repository != "" && (opts == nil || opts["repo"] != ref.Repository) {
				t.Errorf("repositoryOpts = %v", opts)
			}
			if v, _ := in["values"].(map[string]any); v["a"] != "b" {
				t.Errorf("values = %v", in["values"])
			}
			if in["createNamespace"] != false {
				t.Errorf("createNamespace = %v", in["createNamespace"])
			}
		})
	}
}

func helmRelease(ctx *pulumi.Context, ref Ref, extra ...pulumi.Map) (pulumi.Resource, error) {
	values := pulumi.Map{"a": pulumi.String("b")}
	for _, m := range extra {
		for k, v := range m {
			values[k] = v
		}
	}
	return NewRelease(ctx, "r", ref.ReleaseArgs("rel", "ns", values))
}
