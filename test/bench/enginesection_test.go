package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/stacks/engine"
	"github.com/plinth-dev/plinth/stacks/engine/enginetest"
	"github.com/plinth-dev/plinth/test/chartrepo"
	"github.com/plinth-dev/plinth/test/localcluster"
)

// benchPassphrase encrypts the bench stacks' secrets.
const benchPassphrase = "plinth-bench-passphrase"

// engineSections measures the real engine against the local control plane
// (the pinned pulumi CLI and Kubernetes provider, built by `make tools`):
// `plinth up --stack local` of blueprints/local.yaml (first apply and a
// no-op re-apply) against `kubectl apply --server-side` of the manifests
// `plinth render` makes of it; and `plinth preview --stack local` against
// `plinth plan --stack local`. Every run has fresh control planes (one per
// side) and a fresh project root (state), and the sides alternate.
func engineSections(t *testing.T, s settings) []*Section {
	apply := &Section{
		ID:    "apply",
		Title: "3. Apply on the local control plane: `plinth up` against `kubectl apply --server-side`",
		About: "blueprints/local.yaml on a fresh local control plane (etcd, kube-apiserver, scheduler, controller-manager, KWOK nodes for its pools, PersistentVolumes for its claims), charts from the loopback chart repository. " +
			"`plinth up --stack local --yes`: the real pulumi CLI and Kubernetes provider through the Automation API, with refresh, and waiting for workloads to be ready (the provider's await). " +
			"kubectl: `kubectl apply --server-side` of the same objects rendered by `plinth render --include-secrets` (CRDs, wait for them to be established, namespaces, the rest), no waiting. " +
			"Wall and CPU are the whole process tree's (plinth, pulumi, the provider; kubectl); each side has its own control plane, fresh for each run, sides alternating.",
	}
	preview := &Section{
		ID:    "preview",
		Title: "4. `plinth preview` (the real pulumi CLI and engine) against `plinth plan` (offline, Pulumi mocks)",
		About: "The same stack config (blueprints/local.yaml, loopback chart repository), on a fresh stack against a running local control plane; run in turn.",
	}
	pulumiBin, err := enginetest.ToolchainE()
	if err != nil {
		note := fmt.Sprintf("Not measured: %v.", err)
		apply.Notes, preview.Notes = []string{note}, []string{note}
		return []*Section{apply, preview}
	}
	runs := envInt(t, "BENCH_ENGINE_RUNS", min(s.runs, 3))
	bin := buildPlinth(t, s)
	ctx := context.Background()
	repo := chartrepo.Start(t, chartrepo.Pinned(t)...)
	local := filepath.Join(s.root, "blueprints", "local.yaml")
	env, err := blueprints.Load(local)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := localcluster.NodesFromPools(env.Spec.Cluster.SystemPool, env.Spec.GPUNodePools, nil)
	if err != nil {
		t.Fatal(err)
	}

	// The manifests kubectl applies: plinth render, Secrets included so
	// that both sides create the same objects.
	rendered := filepath.Join(s.tmp, "rendered")
	rres, err := engine.Render(ctx, engine.RenderOptions{Blueprint: local, ChartsRepository: repo.URL, OutDir: rendered, PulumiBinary: pulumiBin, IncludeSecrets: true})
	if err != nil {
		t.Fatalf("render local: %v", err)
	}
	var namespaces, others []string
	for _, f := range rres.Files {
		switch {
		case strings.HasPrefix(f, engine.RenderCRDDir+"/"):
		case strings.HasPrefix(filepath.Base(f), "v1-namespace-"):
			namespaces = append(namespaces, "-f", filepath.Join(rendered, f))
		default:
			others = append(others, "-f", filepath.Join(rendered, f))
		}
	}
	t.Logf("engine: rendered %d objects: %v", len(rres.Files), rres.Kinds)

	var upFirst, upNoop, kubectlFirst, kubectlNoop, previewRuns, planRuns []Proc
	var upChanges string
	for i := range runs {
		// Engine side: preview and plan, then up twice, on a fresh plane.
		root := benchRoot(t, s, fmt.Sprintf("engine-%d", i), local, repo.URL)
		c := startPlane(t, nodes)
		envv := append(c.Env(), "PLINTH_PASSPHRASE="+benchPassphrase)
		plinth := func(args ...string) Proc {
			p, err := Command{Dir: root, Env: envv, Args: append([]string{bin}, args...), Launcher: s.launcher}.Run(ctx)
			if err != nil {
				c.Stop()
				t.Fatalf("plinth %s: %v", strings.Join(args, " "), err)
			}
			return p
		}
		previewRuns = append(previewRuns, plinth("preview", "--stack", "local"))
		planRuns = append(planRuns, plinth("plan", "--stack", "local"))
		upFirst = append(upFirst, plinth("up", "--stack", "local", "--yes"))
		upNoop = append(upNoop, plinth("up", "--stack", "local", "--yes"))
		upChanges = stackResourceCount(t, c)
		c.Stop()

		// kubectl side, on a plane of its own.
		k := startPlane(t, nodes)
		kubectl := func(args ...string) Proc {
			p, err := Command{Env: k.Env(), Args: append([]string{k.Binaries[localcluster.Kubectl]}, args...), Launcher: s.launcher}.Run(ctx)
			if err != nil {
				k.Stop()
				t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
			}
			return p
		}
		applyAll := func() Proc {
			steps := []Proc{
				kubectl("apply", "--server-side", "-f", filepath.Join(rendered, engine.RenderCRDDir)),
				kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"),
				kubectl(append([]string{"apply", "--server-side"}, namespaces...)...),
				kubectl(append([]string{"apply", "--server-side"}, others...)...),
			}
			var sum Proc
			for _, p := range steps {
				sum.Wall += p.Wall
				sum.User += p.User
				sum.Sys += p.Sys
				sum.MaxRSSMiB = max(sum.MaxRSSMiB, p.MaxRSSMiB)
			}
			return sum
		}
		kubectlFirst = append(kubectlFirst, applyAll())
		kubectlNoop = append(kubectlNoop, applyAll())
		k.Stop()
		t.Logf("engine: run %d of %d: up %.1fs, no-op up %.1fs, kubectl %.1fs / %.1fs, preview %.1fs, plan %.2fs", i+1, runs,
			upFirst[i].Wall, upNoop[i].Wall, kubectlFirst[i].Wall, kubectlNoop[i].Wall, previewRuns[i].Wall, planRuns[i].Wall)
	}

	wall := func(ps []Proc) []float64 {
		out := make([]float64, len(ps))
		for i, p := range ps {
			out[i] = p.Wall
		}
		return out
	}
	cpu := func(ps []Proc) []float64 {
		out := make([]float64, len(ps))
		for i, p := range ps {
			out[i] = p.CPU()
		}
		return out
	}
	rss := func(ps []Proc) []float64 {
		out := make([]float64, len(ps))
		for i, p := range ps {
			out[i] = p.MaxRSSMiB
		}
		return out
	}
	row := func(sec *Section, name string, ps, vs []Proc, vsName string) {
		cells := []Cell{Figure("wall", "s", wall(ps)), Figure("CPU", "s", cpu(ps)), Figure("peak RSS", "MiB", rss(ps))}
		if vs != nil {
			cells = append(cells, ratioCell(t, "wall ÷ "+vsName, wall(ps), wall(vs)), ratioCell(t, "CPU ÷ "+vsName, cpu(ps), cpu(vs)))
		}
		sec.Add(name, cells...)
	}
	row(apply, "plinth up, first apply", upFirst, kubectlFirst, "kubectl")
	row(apply, "kubectl apply --server-side, first apply", kubectlFirst, nil, "")
	row(apply, "plinth up, no-op", upNoop, kubectlNoop, "kubectl")
	row(apply, "kubectl apply --server-side, no-op", kubectlNoop, nil, "")
	apply.Notes = append(apply.Notes,
		fmt.Sprintf("%d runs (BENCH_ENGINE_RUNS). Objects applied: %d rendered manifests (%s); %s.", runs, len(rres.Files), kindsSummary(rres.Kinds), upChanges),
		"The ratio is the engine's overhead over the API server's own floor: state, refresh, diffing, the provider's await for readiness, and the CLI's start-up.")
	row(preview, "plinth preview --stack local", previewRuns, planRuns, "plan")
	row(preview, "plinth plan --stack local", planRuns, nil, "")
	preview.Notes = append(preview.Notes, fmt.Sprintf("%d runs (BENCH_ENGINE_RUNS); preview of a stack that has nothing deployed yet, as before a first up.", runs))
	return []*Section{apply, preview}
}

// benchRoot writes a project root with stacks/Pulumi.local.yaml naming the
// local blueprint and the chart repository.
func benchRoot(t *testing.T, s settings, name, blueprint, charts string) string {
	t.Helper()
	root := filepath.Join(s.tmp, name)
	files := map[string]string{
		"Pulumi.yaml": "name: plinth\nruntime: go\nstackConfigDir: stacks\n",
		filepath.Join("stacks", "Pulumi.local.yaml"): fmt.Sprintf("config:\n  plinth:blueprint: %s\n  plinth:chartsRepository: %s\n", blueprint, charts),
	}
	for f, content := range files {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// startPlane starts a local control plane with the blueprint's nodes and
// volumes for its claims (the plane has no storage provisioner).
func startPlane(t *testing.T, nodes []localcluster.Node) *localcluster.Cluster {
	t.Helper()
	start := time.Now()
	c := localcluster.Start(t, localcluster.Options{Nodes: nodes})
	c.AddVolumes(t, 4, "100Gi")
	t.Logf("engine: control plane ready in %s", time.Since(start).Round(100*time.Millisecond))
	return c
}

// stackResourceCount says how many objects the engine side left in the
// cluster's Plinth namespaces, for the notes.
func stackResourceCount(t *testing.T, c *localcluster.Cluster) string {
	t.Helper()
	out, err := c.KubectlE("get", "all,configmaps,secrets,servicemonitors,prometheusrules,networkpolicies", "-A", "-l", "app.kubernetes.io/managed-by", "-o", "name")
	if err != nil {
		return "object count unavailable"
	}
	return fmt.Sprintf("after plinth up the cluster holds %d objects labelled app.kubernetes.io/managed-by", len(strings.Fields(out)))
}

// kindsSummary is "3 Deployment, 2 Service, ..." by count, largest first.
func kindsSummary(kinds map[string]int) string {
	type kc struct {
		kind string
		n    int
	}
	var list []kc
	for k, n := range kinds {
		list = append(list, kc{k, n})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].n != list[j].n {
			return list[i].n > list[j].n
		}
		return list[i].kind < list[j].kind
	})
	var parts []string
	for _, e := range list {
		parts = append(parts, fmt.Sprintf("%d %s", e.n, e.kind))
	}
	return strings.Join(parts, ", ")
}
