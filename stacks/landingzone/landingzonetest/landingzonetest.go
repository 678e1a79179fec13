// Package landingzonetest holds what tests of Plinth's Terraform landing
// zone interop share: the pinned terraform binary, and a copy of
// examples/terraform-landing-zone (the blueprint and its provider-less root
// module) applied in a temporary directory. Helpers follow Terratest's
// style: Foo fails (or skips) the test, FooE returns the error.
package landingzonetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/plinth-dev/plinth/stacks/landingzone"
	"github.com/plinth-dev/plinth/test/toolchain"
)

// ExampleBlueprint and ExampleModule are the example's blueprint file and
// root module directory, relative to the example's directory.
const (
	ExampleBlueprint = "blueprint.yaml"
	ExampleModule    = "landing-zone"
)

// Terraform returns the pinned terraform (built by `make tools`) and
// makes it the one Plinth uses (PLINTH_TERRAFORM), with an empty CLI config
// (the environment may name a file that does not exist) and no version
// check. It skips the test, saying why, when terraform is not built.
func Terraform(t testing.TB) string {
	t.Helper()
	bin, err := toolchain.Path(toolchain.Terraform)
	if err != nil {
		t.Skipf("skipping: the pinned terraform is needed: %v", err)
	}
	cfg := filepath.Join(t.TempDir(), "terraformrc")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(landingzone.EnvTerraform, bin)
	t.Setenv("TF_CLI_CONFIG_FILE", cfg)
	t.Setenv("CHECKPOINT_DISABLE", "1")
	return bin
}

// ExampleDir returns the directory of examples/terraform-landing-zone in
// this checkout.
func ExampleDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("landingzonetest: cannot locate the source tree")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "examples", "terraform-landing-zone")
	if _, err := os.Stat(filepath.Join(dir, ExampleBlueprint)); err != nil {
		return "", fmt.Errorf("landingzonetest: example not found: %w", err)
	}
	return filepath.Clean(dir), nil
}

// CopyExample copies the example (blueprint and the root module's .tf
// files, no state) into dir and returns the blueprint's path there.
func CopyExample(t testing.TB, dir string) string {
	t.Helper()
	p, err := CopyExampleE(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// CopyExampleE is CopyExample returning the error.
func CopyExampleE(dir string) (string, error) {
	src, err := ExampleDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(dir, ExampleModule), 0o755); err != nil {
		return "", err
	}
	files := []string{ExampleBlueprint}
	tf, err := filepath.Glob(filepath.Join(src, ExampleModule, "*.tf"))
	if err != nil {
		return "", err
	}
	for _, f := range tf {
		files = append(files, filepath.Join(ExampleModule, filepath.Base(f)))
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, ExampleBlueprint), nil
}

// Apply runs `terraform init` and `terraform apply` with bin in dir.
func Apply(t testing.TB, bin, dir string) {
	t.Helper()
	if err := ApplyE(bin, dir); err != nil {
		t.Fatal(err)
	}
}

// ApplyE is Apply returning the error.
func ApplyE(bin, dir string) error {
	tf, err := tfexec.NewTerraform(dir, bin)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := tf.Init(ctx); err != nil {
		return fmt.Errorf("terraform init in %s: %w", dir, err)
	}
	if err := tf.Apply(ctx); err != nil {
		return fmt.Errorf("terraform apply in %s: %w", dir, err)
	}
	return nil
}

// AppliedExample copies the example into a new temporary directory,
// applies its landing zone with the pinned terraform and returns the
// blueprint's path. It skips the test when terraform is not built.
func AppliedExample(t testing.TB) string {
	t.Helper()
	bin := Terraform(t)
	blueprint := CopyExample(t, t.TempDir())
	Apply(t, bin, filepath.Join(filepath.Dir(blueprint), ExampleModule))
	return blueprint
}

// ReplaceInFile replaces old with new in a file (exactly once), to make a
// variant of the example blueprint.
func ReplaceInFile(t testing.TB, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(data), old) != 1 {
		t.Fatalf("%s: %q occurs %d times, want once", path, old, strings.Count(string(data), old))
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}
