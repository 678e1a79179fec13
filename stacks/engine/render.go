package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/blueprints/catalog"
	"github.com/plinth-dev/plinth/stacks"
)

// RenderOptions says what Render renders and where.
type RenderOptions struct {
	// Root is the project root; with Stack, the stack config is read from
	// stacks/Pulumi.<Stack>.yaml under it. Empty: the working directory.
	Root string
	// Stack, when set, renders that stack's blueprint with its config
	// (overrides, charts repository). Its state is not touched.
	Stack string
	// Blueprint is the blueprint file or shipped blueprint name, when
	// Stack is empty.
	Blueprint string
	// ChartsRepository replaces the chart repository (stack config
	// plinth:chartsRepository): a mirror the charts are templated from.
	ChartsRepository string
	// OutDir receives the manifests. It must be empty, missing, or a
	// directory an earlier Render wrote (it is then replaced).
	OutDir string
	// IncludeSecrets writes the Secret manifests too, under OutDir/secrets
	// (mode 0600), with freshly generated passwords and placeholder tokens.
	// Without it they are left out and listed in RenderResult.OmittedSecrets.
	IncludeSecrets bool
	// PulumiBinary is the pulumi CLI (see Options).
	PulumiBinary string
	// Progress receives the engine's progress (see Options).
	Progress io.Writer
}

// RenderResult is what Render wrote.
type RenderResult struct {
	// OutDir is the output directory, absolute.
	OutDir string `json:"outDir"`
	// Files are the manifests written, relative to OutDir, sorted:
	// 0-crd/... (CustomResourceDefinitions, to apply first), 1-manifest/...
	// and, with IncludeSecrets, secrets/....
	Files []string `json:"files"`
	// OmittedSecrets are the Secrets left out (namespace/name), which the
	// cluster must get from elsewhere (a secret manager, sealed secrets).
	OmittedSecrets []string `json:"omittedSecrets"`
	// Kinds counts the manifests written by kind.
	Kinds map[string]int `json:"kinds"`
	// Duration is how long rendering took.
	Duration time.Duration `json:"duration"`
}

// Directories of a rendered output. CRDs and other manifests are the
// provider's own layout (renderYamlToDirectory).
const (
	RenderCRDDir      = "0-crd"
	RenderManifestDir = "1-manifest"
	RenderSecretDir   = "secrets"
	// RenderMarker marks a directory Render wrote, so a later Render may
	// replace it and never a directory of someone else's files.
	RenderMarker = ".plinth-render"
)

// renderStack is the throwaway stack a render runs as, when no stack is given.
const renderStack = "render"

// PlaceholderSecret is the value of the secrets Plinth cannot generate (CI
// runner tokens) in a render; a Secret holding it must be replaced.
const PlaceholderSecret = "REPLACE-ME"

// Render writes the Kubernetes layer of a provider-kubernetes blueprint as
// YAML manifests, for GitOps: the program runs through the real engine on a
// throwaway stack (temporary backend and passphrase, deleted afterwards)
// whose Kubernetes provider renders to files instead of reaching a cluster
// (renderYamlToDirectory; charts are templated into plain resources). No
// cluster is contacted. Secret manifests hold secret values in plaintext:
// they are left out unless IncludeSecrets.
func Render(ctx context.Context, ro RenderOptions) (*RenderResult, error) {
	start := time.Now()
	if ro.OutDir == "" {
		return nil, errors.New("render: no output directory given")
	}
	out, err := filepath.Abs(ro.OutDir)
	if err != nil {
		return nil, err
	}
	if err := checkRenderDir(out); err != nil {
		return nil, err
	}
	root := ro.Root
	if root == "" {
		if root, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	if root, err = filepath.Abs(root); err != nil {
		return nil, err
	}

	tmp, err := os.MkdirTemp("", "plinth-render-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	staging := filepath.Join(tmp, "out")
	values, stack, err := renderConfig(root, ro, staging)
	if err != nil {
		return nil, err
	}
	if err := writeStackConfig(stacks.StackConfigPath(tmp, stack), values); err != nil {
		return nil, err
	}
	if err := checkRenderable(tmp, stack); err != nil {
		return nil, err
	}
	passphrase, err := randomHex(32)
	if err != nil {
		return nil, err
	}
	opts := Options{
		Root:               tmp,
		Stack:              stack,
		Backend:            "file://" + filepath.ToSlash(filepath.Join(tmp, "state")),
		Passphrase:         passphrase,
		PulumiBinary:       ro.PulumiBinary,
		Progress:           ro.Progress,
		placeholderSecrets: true,
		// No cluster: KUBECONFIG names a file that does not exist, so the
		// provider neither reads ~/.kube/config nor contacts a cluster.
		env: map[string]string{"KUBECONFIG": filepath.Join(tmp, "no-cluster", "kubeconfig")},
	}
	if _, err := Up(ctx, opts); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	res, err := publishRender(staging, out, ro.IncludeSecrets)
	if err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

// renderConfig is the throwaway stack's config: the blueprint (and with a
// stack, its plain config values), the charts repository, the render
// directory.
func renderConfig(root string, ro RenderOptions, staging string) (map[string]string, string, error) {
	values := map[string]string{}
	stack := renderStack
	switch {
	case ro.Stack != "" && ro.Blueprint != "":
		return nil, "", errors.New("render: give a blueprint or a stack, not both")
	case ro.Stack != "":
		sc, err := stacks.ReadStackConfig(root, ro.Stack)
		if err != nil {
			return nil, "", err
		}
		for k, v := range sc.Values {
			if !slices.Contains(sc.SecretKeys, k) {
				values[k] = v
			}
		}
		values[stacks.ConfigBlueprint] = absBlueprint(root, values[stacks.ConfigBlueprint])
		stack = ro.Stack
	case ro.Blueprint != "":
		ref := ro.Blueprint
		if info, err := os.Stat(ref); err == nil && !info.IsDir() {
			if ref, err = filepath.Abs(ref); err != nil {
				return nil, "", err
			}
		}
		values[stacks.ConfigBlueprint] = ref
	default:
		return nil, "", errors.New("render: give a blueprint file, a shipped blueprint name, or --stack")
	}
	if ro.ChartsRepository != "" {
		values[stacks.ConfigChartsRepository] = ro.ChartsRepository
	}
	values[stacks.ConfigRenderDirectory] = staging
	return values, stack, nil
}

// checkRenderable loads the blueprint of the throwaway stack and refuses
// what cannot be rendered before the engine starts: an invalid blueprint,
// or one on provider aws.
func checkRenderable(root, stack string) error {
	sc, err := stacks.ReadStackConfig(root, stack)
	if err != nil {
		return err
	}
	bc, err := sc.Blueprint(root)
	if err != nil {
		return err
	}
	cat, err := catalog.Default()
	if err != nil {
		return err
	}
	env, err := bc.Load(cat)
	if err != nil {
		return err
	}
	if env.Spec.Provider != blueprints.ProviderKubernetes {
		return fmt.Errorf("render: %s is on provider %s; only provider kubernetes can be rendered (on aws the Kubernetes layer needs the outputs of the AWS layer: deploy it with plinth up)", bc.Blueprint, env.Spec.Provider)
	}
	return nil
}

// writeStackConfig writes a stack config file (config: key: value);
// values holding a JSON object or list are written as YAML structures, the
// way ReadStackConfig reads them back.
func writeStackConfig(path string, values map[string]string) error {
	cfg := map[string]any{}
	for k, v := range values {
		var structured any
		if (strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[")) && json.Unmarshal([]byte(v), &structured) == nil {
			cfg[k] = structured
			continue
		}
		cfg[k] = v
	}
	data, err := yaml.Marshal(map[string]any{"config": cfg})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// checkRenderDir refuses an output directory that holds anything but an
// earlier render.
func checkRenderDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("render: output directory %s: %w", dir, err)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, RenderMarker)); err == nil {
		return nil
	}
	return fmt.Errorf("render: output directory %s is not empty and was not written by plinth render (no %s file); give an empty or new directory", dir, RenderMarker)
}

// publishRender moves the rendered manifests from staging to out (replacing
// an earlier render there), Secrets to out/secrets or left out.
func publishRender(staging, out string, includeSecrets bool) (*RenderResult, error) {
	res := &RenderResult{OutDir: out, Files: []string{}, OmittedSecrets: []string{}, Kinds: map[string]int{}}
	type file struct {
		rel  string
		data []byte
		mode fs.FileMode
	}
	var files []file
	err := filepath.WalkDir(staging, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(staging, path)
		if err != nil {
			return err
		}
		var meta struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name      string `yaml:"name"`
				Namespace string `yaml:"namespace"`
			} `yaml:"metadata"`
		}
		if err := yaml.Unmarshal(data, &meta); err != nil {
			return fmt.Errorf("render: %s: %w", rel, err)
		}
		if meta.Kind == "Secret" {
			if !includeSecrets {
				res.OmittedSecrets = append(res.OmittedSecrets, meta.Metadata.Namespace+"/"+meta.Metadata.Name)
				return nil
			}
			files = append(files, file{filepath.Join(RenderSecretDir, filepath.Base(rel)), data, 0o600})
			res.Kinds[meta.Kind]++
			return nil
		}
		files = append(files, file{rel, data, 0o644})
		res.Kinds[meta.Kind]++
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("render: the engine wrote no manifests (is the Kubernetes layer empty?)")
	}
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{RenderCRDDir, RenderManifestDir, RenderSecretDir} {
		if err := os.RemoveAll(filepath.Join(out, sub)); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	marker := "Written by plinth render; the next render replaces " + RenderCRDDir + "/, " + RenderManifestDir + "/ and " + RenderSecretDir + "/.\n"
	if err := os.WriteFile(filepath.Join(out, RenderMarker), []byte(marker), 0o644); err != nil {
		return nil, err
	}
	for _, f := range files {
		p := filepath.Join(out, f.rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return nil, err
		}
		res.Files = append(res.Files, filepath.ToSlash(f.rel))
	}
	slices.Sort(res.Files)
	slices.Sort(res.OmittedSecrets)
	return res, nil
}

// randomHex returns n random bytes as hex.
func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
