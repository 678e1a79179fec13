package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// binaries are the plinth CLI and the policy pack, built once per test run.
type binaries struct {
	plinth     string
	policyPack string
}

var (
	buildOnce sync.Once
	built     binaries
	buildErr  error
	buildDir  string
)

// TestMain removes the binaries the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildBinaries builds cmd/plinth and cmd/plinth-policy-pack with the Go
// toolchain running the tests, once, failing the test on error.
func buildBinaries(t *testing.T) binaries {
	t.Helper()
	buildOnce.Do(func() {
		start := time.Now()
		buildDir, buildErr = os.MkdirTemp("", "plinth-e2e-bin-")
		if buildErr != nil {
			return
		}
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			goBin = "go"
		}
		built = binaries{plinth: filepath.Join(buildDir, "plinth"), policyPack: filepath.Join(buildDir, "plinth-policy-pack")}
		for out, pkg := range map[string]string{built.plinth: "./cmd/plinth", built.policyPack: "./cmd/plinth-policy-pack"} {
			cmd := exec.Command(goBin, "build", "-o", out, pkg)
			cmd.Dir = filepath.Join("..", "..")
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = &buildError{pkg: pkg, err: err, output: string(b)}
				return
			}
		}
		t.Logf("built plinth and plinth-policy-pack in %s", time.Since(start).Round(100*time.Millisecond))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

type buildError struct {
	pkg, output string
	err         error
}

func (e *buildError) Error() string {
	return "go build " + e.pkg + ": " + e.err.Error() + "\n" + e.output
}
