package stacks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadStackConfig(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "stacks"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(stack, body string) {
		t.Helper()
		if err := os.WriteFile(StackConfigPath(root, stack), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("eu", `config:
  plinth:blueprint: blueprints/gpu-training.yaml
  aws:region: eu-west-1
  ciRunnerToken:
    secure: v1:abc
  plinth:overrides:
    spec.gpuNodePools[0].maxSize: 1
`)
	sc, err := ReadStackConfig(root, "eu")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Values[ConfigAWSRegion] != "eu-west-1" || sc.Values["plinth:ciRunnerToken"] != SecretPlaceholder {
		t.Errorf("values = %v", sc.Values)
	}
	if len(sc.SecretKeys) != 1 || sc.SecretKeys[0] != "plinth:ciRunnerToken" {
		t.Errorf("secret keys = %v", sc.SecretKeys)
	}
	if got := sc.Values[ConfigOverrides]; got != `{"spec.gpuNodePools[0].maxSize":1}` {
		t.Errorf("overrides passed as %q", got)
	}
	cfg, err := sc.Blueprint(root)
	if err != nil {
		t.Fatal(err)
	}
	env, err := cfg.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if env.Spec.Region != "eu-west-1" || *env.Spec.GPUNodePools[0].MaxSize != 1 {
		t.Errorf("stack config not applied: region %s maxSize %d", env.Spec.Region, *env.Spec.GPUNodePools[0].MaxSize)
	}

	write("empty", "config: {}\n")
	sc, err = ReadStackConfig(root, "empty")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Blueprint(root); err == nil || !strings.Contains(err.Error(), "plinth:blueprint is not set") {
		t.Errorf("missing blueprint: %v", err)
	}
	if _, err := ReadStackConfig(root, "nope"); err == nil || !strings.Contains(err.Error(), "stacks here: empty, eu") {
		t.Errorf("missing stack: %v", err)
	}
}

// The shipped stack configs all load.
func TestShippedStackConfigs(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, stack := range []string{"gpu-training", "production", "local"} {
		sc, err := ReadStackConfig(root, stack)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := sc.Blueprint(root)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cfg.Load(nil); err != nil {
			t.Errorf("stack %s: %v", stack, err)
		}
	}
}
