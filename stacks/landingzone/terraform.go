package landingzone

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/blang/semver"
)

// EnvTerraform names the terraform binary to use; it wins over PATH and the
// toolchain cache.
const EnvTerraform = "PLINTH_TERRAFORM"

// ErrNoTerraform is matched (errors.Is) by the error FindTerraform returns
// when no terraform binary is found anywhere it looks.
var ErrNoTerraform = errors.New("no terraform binary found")

// FindTerraform returns the terraform binary to run: $PLINTH_TERRAFORM when
// set (it must then be an executable file), else `terraform` on PATH, else
// the newest one in the toolchain cache that `make tools` builds. It never
// downloads anything.
func FindTerraform() (string, error) {
	if p := os.Getenv(EnvTerraform); p != "" {
		if err := executable(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvTerraform, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("terraform"); err == nil {
		return p, nil
	}
	if p, ok := cachedTerraform(toolsCacheDir()); ok {
		return p, nil
	}
	return "", fmt.Errorf("%w: set %s to one, put terraform on PATH, or build the pinned one with `make tools` (looked in %s)",
		ErrNoTerraform, EnvTerraform, filepath.Join(toolsCacheDir(), "terraform"))
}

// toolsCacheDir is where `make tools` builds the pinned toolchain:
// $PLINTH_TOOLS_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/plinth/tools. It
// is the layout test/toolchain documents (<dir>/<tool>/<version>/bin/<tool>);
// a test checks that both agree.
func toolsCacheDir() string {
	if d := os.Getenv("PLINTH_TOOLS_DIR"); d != "" {
		return d
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "plinth", "tools")
}

// cachedTerraform returns the terraform binary of the highest version
// under <cache>/terraform/<version>/bin.
func cachedTerraform(cache string) (string, bool) {
	if cache == "" {
		return "", false
	}
	dirs, err := filepath.Glob(filepath.Join(cache, "terraform", "*", "bin", "terraform"))
	if err != nil || len(dirs) == 0 {
		return "", false
	}
	type found struct {
		path    string
		version semver.Version
	}
	var bins []found
	for _, p := range dirs {
		v, err := semver.ParseTolerant(strings.TrimPrefix(filepath.Base(filepath.Dir(filepath.Dir(p))), "v"))
		if err != nil || executable(p) != nil {
			continue
		}
		bins = append(bins, found{p, v})
	}
	if len(bins) == 0 {
		return "", false
	}
	sort.Slice(bins, func(i, j int) bool { return bins[i].version.GT(bins[j].version) })
	return bins[0].path, true
}

// executable checks that p is a regular file with an execute bit.
func executable(p string) error {
	info, err := os.Stat(p)
	if err != nil {
		return err
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}
