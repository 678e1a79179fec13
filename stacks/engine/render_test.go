package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/stacks"
	"github.com/plinth-dev/plinth/test/chartrepo"
	"github.com/plinth-dev/plinth/test/localcluster"
)

// TestRenderRefuses covers what Render refuses before the engine runs.
func TestRenderRefuses(t *testing.T) {
	used := t.TempDir()
	if err := os.WriteFile(filepath.Join(used, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts RenderOptions
		want string
	}{
		{"no out dir", RenderOptions{Blueprint: "local"}, "no output directory"},
		{"someone else's dir", RenderOptions{Blueprint: "local", OutDir: used}, "not written by plinth render"},
		{"aws blueprint", RenderOptions{Blueprint: "gpu-training", OutDir: t.TempDir()}, "only provider kubernetes can be rendered"},
		{"nothing to render", RenderOptions{OutDir: t.TempDir()}, "give a blueprint"},
		{"both", RenderOptions{Blueprint: "local", Stack: "local", OutDir: t.TempDir()}, "not both"},
		{"unknown stack", RenderOptions{Root: t.TempDir(), Stack: "nope", OutDir: t.TempDir()}, "no stack config"},
		{"invalid blueprint", RenderOptions{Blueprint: writeFile(t, "apiVersion: plinth.dev/v1alpha1\nkind: Environment\nmetadata: {name: x}\nspec: {provider: moon}\n"), OutDir: t.TempDir()}, "spec.provider"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Render: got error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(used, "notes.txt")); err != nil {
		t.Errorf("a refused render touched the directory: %v", err)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "blueprint.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRenderStackConfigRoundTrip: the throwaway stack's config file reads
// back as the values written, structured values included.
func TestRenderStackConfigRoundTrip(t *testing.T) {
	root := t.TempDir()
	values := map[string]string{
		stacks.ConfigBlueprint:       "/abs/blueprint.yaml",
		stacks.ConfigOverrides:       `{"spec.tracking.replicas":2}`,
		stacks.ConfigRenderDirectory: "/tmp/out",
		"plinth:note":                "{not json",
	}
	if err := writeStackConfig(stacks.StackConfigPath(root, "s"), values); err != nil {
		t.Fatal(err)
	}
	sc, err := stacks.ReadStackConfig(root, "s")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range values {
		if sc.Values[k] != v {
			t.Errorf("%s: read back %q, wrote %q", k, sc.Values[k], v)
		}
	}
}

// TestRenderLocal renders blueprints/local.yaml through the real engine,
// with the pinned charts templated from a loopback chart repository, then
// validates every manifest with a server-side dry run against a local
// control plane: the CRDs and namespaces are applied for real (a dry run of
// a custom resource needs its CRD, of a namespaced object its namespace),
// everything else with --dry-run=server.
func TestRenderLocal(t *testing.T) {
	pulumiBin, _ := localcluster.RequireEngine(t)
	repo := chartrepo.Start(t, chartrepo.Pinned(t)...)
	out := filepath.Join(t.TempDir(), "deploy")
	progress := &syncBuffer{}
	res, err := Render(context.Background(), RenderOptions{
		Blueprint:        "local",
		ChartsRepository: repo.URL,
		OutDir:           out,
		PulumiBinary:     pulumiBin,
		Progress:         progress,
	})
	if err != nil {
		t.Fatalf("render: %v\n%s", err, progress)
	}
	t.Logf("rendered %d manifests in %s: %v", len(res.Files), res.Duration, res.Kinds)

	// What a GitOps user needs is there: the CRDs of the chart, the
	// workloads, the monitors and rules; and no Secret in plaintext.
	for kind, min := range map[string]int{
		"CustomResourceDefinition": 2, "Namespace": 4, "Deployment": 2, "DaemonSet": 2, "StatefulSet": 1,
		"Service": 3, "ServiceMonitor": 2, "PrometheusRule": 1, "NetworkPolicy": 4, "ConfigMap": 4,
	} {
		if res.Kinds[kind] < min {
			t.Errorf("rendered %d %s, want at least %d (kinds: %v)", res.Kinds[kind], kind, min, res.Kinds)
		}
	}
	if res.Kinds["Secret"] != 0 {
		t.Errorf("rendered %d Secrets without --include-secrets", res.Kinds["Secret"])
	}
	if len(res.OmittedSecrets) == 0 {
		t.Error("no Secret reported as left out; the local blueprint has passwords")
	}
	for _, f := range res.Files {
		if strings.HasPrefix(f, RenderCRDDir+"/") != strings.Contains(f, "customresourcedefinition") {
			t.Errorf("%s: CRDs belong in %s/ and nothing else does", f, RenderCRDDir)
		}
	}
	if strings.Contains(progress.String(), "plaintext") {
		t.Logf("engine warned of plaintext secrets in rendered files (expected; they are left out)")
	}
	assertNoClusterReached(t, out)

	// A second render replaces the first, byte for byte the same files.
	first := readTree(t, out)
	res2, err := Render(context.Background(), RenderOptions{Blueprint: "local", ChartsRepository: repo.URL, OutDir: out, PulumiBinary: pulumiBin, IncludeSecrets: true})
	if err != nil {
		t.Fatalf("second render into the same directory: %v", err)
	}
	second := readTree(t, out)
	for f, data := range first {
		if second[f] != data {
			t.Errorf("%s differs between two renders of the same blueprint", f)
		}
	}
	var secrets []string
	for _, f := range res2.Files {
		if strings.HasPrefix(f, RenderSecretDir+"/") {
			secrets = append(secrets, f)
			info, err := os.Stat(filepath.Join(out, f))
			if err != nil || info.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600 (%v)", f, info.Mode().Perm(), err)
			}
		}
	}
	if len(secrets) != len(res.OmittedSecrets) {
		t.Errorf("--include-secrets wrote %d Secrets, the first render left out %d", len(secrets), len(res.OmittedSecrets))
	}

	// Server-side dry run of every manifest on a real API server.
	c := localcluster.Start(t, localcluster.Options{})
	defer c.Stop()
	c.Kubectl(t, "apply", "--server-side", "-f", filepath.Join(out, RenderCRDDir))
	c.Kubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
	var namespaces []string
	for _, f := range res2.Files {
		if strings.HasPrefix(filepath.Base(f), "v1-namespace-") {
			namespaces = append(namespaces, "-f", filepath.Join(out, f))
		}
	}
	if len(namespaces) == 0 {
		t.Fatalf("no Namespace manifest among %v", res2.Files)
	}
	c.Kubectl(t, append([]string{"apply", "--server-side"}, namespaces...)...)
	dry := c.Kubectl(t, "apply", "--server-side", "--dry-run=server", "-R", "-f", filepath.Join(out, RenderManifestDir), "-f", filepath.Join(out, RenderSecretDir))
	validated := strings.Count(dry, "(server dry run)")
	want := 0
	for _, f := range res2.Files {
		if !strings.HasPrefix(f, RenderCRDDir+"/") {
			want++
		}
	}
	if validated != want {
		t.Errorf("server-side dry run validated %d objects, rendered %d:\n%s", validated, want, dry)
	}
	t.Logf("server-side dry run accepted %d manifests (+ %d CRDs applied)", validated, res.Kinds["CustomResourceDefinition"])
}

// assertNoClusterReached: every rendered manifest is a plain object, with
// no server-set fields (render must not have read a live cluster).
func assertNoClusterReached(t *testing.T, dir string) {
	t.Helper()
	for f, data := range readTree(t, dir) {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(data), &obj); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		meta, _ := obj["metadata"].(map[string]any)
		for _, server := range []string{"uid", "resourceVersion", "creationTimestamp", "managedFields"} {
			if _, ok := meta[server]; ok {
				t.Errorf("%s: has server-set metadata.%s", f, server)
			}
		}
	}
}

// readTree reads the manifests under dir by relative path.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
