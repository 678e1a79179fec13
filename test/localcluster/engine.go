package localcluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/plinth-dev/plinth/test/toolchain"
)

// SkipT is what RequireEngine needs of a test.
type SkipT interface {
	Helper()
	Skipf(format string, args ...any)
	Fatal(args ...any)
}

// RequireEngine returns the pulumi binary and a PULUMI_HOME holding the
// pinned kubernetes provider plugin, or skips the test saying what is
// missing (the pulumi CLI, the plugin, or the control-plane binaries). It is
// for tests that run the real Pulumi engine against a local control plane.
func RequireEngine(t SkipT) (pulumiBin, home string) {
	t.Helper()
	const why = "toolchain not built: run `make tools`"
	pulumiBin, err := toolchain.Path(toolchain.Pulumi)
	if err != nil {
		if pulumiBin, err = exec.LookPath("pulumi"); err != nil {
			t.Skipf("%s (pulumi not found in %s or on PATH)", why, toolchain.CacheDir())
		}
	}
	home = os.Getenv("PULUMI_HOME")
	if home == "" {
		home = toolchain.PulumiHome()
	}
	v, err := toolchain.Version(toolchain.PulumiResourceKubernetes)
	if err != nil {
		t.Fatal(err)
	}
	plugin := filepath.Join(home, "plugins", "resource-kubernetes-v"+strings.TrimPrefix(v, "v"))
	if _, err := os.Stat(plugin); err != nil {
		t.Skipf("%s (the kubernetes provider plugin %s is not installed in PULUMI_HOME %s)", why, v, home)
	}
	if missing := MissingTools("", ""); len(missing) > 0 {
		t.Skipf("%s (%s missing for the local control plane)", why, strings.Join(missing, ", "))
	}
	return pulumiBin, home
}
