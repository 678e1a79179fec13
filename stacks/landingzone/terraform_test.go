package landingzone

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/test/toolchain"
)

// fakeBinary writes an executable file at path.
func fakeBinary(t *testing.T, path string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFindTerraform(t *testing.T) {
	dir := t.TempDir()
	onPath := fakeBinary(t, filepath.Join(dir, "path", "terraform"))
	explicit := fakeBinary(t, filepath.Join(dir, "explicit", "tf"))
	cache := filepath.Join(dir, "cache")
	fakeBinary(t, filepath.Join(cache, "terraform", "v1.5.7", "bin", "terraform"))
	newest := fakeBinary(t, filepath.Join(cache, "terraform", "v1.10.0", "bin", "terraform"))
	fakeBinary(t, filepath.Join(cache, "terraform", "not-a-version", "bin", "terraform"))
	notExec := filepath.Join(dir, "explicit", "not-exec")
	if err := os.WriteFile(notExec, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name            string
		env, path, tool string
		want            string
		wantErr         string
	}{
		{name: "PLINTH_TERRAFORM first", env: explicit, path: filepath.Dir(onPath), tool: cache, want: explicit},
		{name: "PLINTH_TERRAFORM missing is an error", env: filepath.Join(dir, "nope"), path: filepath.Dir(onPath), wantErr: EnvTerraform + "=" + filepath.Join(dir, "nope")},
		{name: "PLINTH_TERRAFORM not executable", env: notExec, path: filepath.Dir(onPath), wantErr: "is not an executable file"},
		{name: "then PATH", path: filepath.Dir(onPath), tool: cache, want: onPath},
		{name: "then the newest in the toolchain cache", path: filepath.Join(dir, "empty"), tool: cache, want: newest},
		{name: "nothing", path: filepath.Join(dir, "empty"), tool: filepath.Join(dir, "empty-cache"), wantErr: "no terraform binary found: set PLINTH_TERRAFORM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvTerraform, tt.env)
			t.Setenv("PATH", tt.path)
			t.Setenv("PLINTH_TOOLS_DIR", tt.tool)
			got, err := FindTerraform()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FindTerraform() = %q, %v; want error containing %q", got, err, tt.wantErr)
				}
				if tt.env == "" && !errors.Is(err, ErrNoTerraform) {
					t.Errorf("error %v is not ErrNoTerraform", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FindTerraform() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// The product code reads the toolchain cache without importing the test
// package: both must agree on where `make tools` puts terraform.
func TestToolchainLayoutAgrees(t *testing.T) {
	for _, env := range []map[string]string{
		{"PLINTH_TOOLS_DIR": "/x/tools"},
		{"PLINTH_TOOLS_DIR": "", "XDG_CACHE_HOME": "/x/cache"},
		{"PLINTH_TOOLS_DIR": "", "XDG_CACHE_HOME": "", "HOME": "/x/home"},
	} {
		for k, v := range env {
			t.Setenv(k, v)
		}
		if got, want := toolsCacheDir(), toolchain.CacheDir(); got != want {
			t.Errorf("%v: toolsCacheDir() = %q, toolchain.CacheDir() = %q", env, got, want)
		}
	}
}

func TestToolchainTerraformFound(t *testing.T) {
	want, err := toolchain.Path(toolchain.Terraform)
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	got, ok := cachedTerraform(toolchain.CacheDir())
	if !ok || got != want {
		t.Errorf("cachedTerraform = %q, %v; the pinned toolchain has %s", got, ok, want)
	}
}
