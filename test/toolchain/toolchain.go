// Package toolchain knows the pinned test toolchain that `make tools`
// (test/toolchain/build.sh) builds from the Go module proxy: which versions
// (versions.env, embedded here) and where the binaries are cached, so Go tests
// can find them without sourcing the shell environment file.
//
// The layout, shared with build.sh:
//
//	<CacheDir>/<tool>/<version>/bin/<tool>   one directory per pinned tool
//	<CacheDir>/kwok/<version>/stages/        KWOK node-fast and pod-fast stages
//	<CacheDir>/pulumi-home/                  PULUMI_HOME with the kubernetes plugin
//	<CacheDir>/env.sh                        exports PATH, PULUMI_HOME, ...
//
// CacheDir is $PLINTH_TOOLS_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/plinth/tools.
package toolchain

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

//go:embed versions.env
var versionsEnv string

// Tool names, as binaries and as cache directories.
const (
	Etcd                     = "etcd"
	Kwok                     = "kwok"
	KubeAPIServer            = "kube-apiserver"
	KubeControllerManager    = "kube-controller-manager"
	KubeScheduler            = "kube-scheduler"
	Kubectl                  = "kubectl"
	Terraform                = "terraform"
	Pulumi                   = "pulumi"
	PulumiResourceKubernetes = "pulumi-resource-kubernetes"
)

// Tools lists every tool build.sh builds, in its build order.
var Tools = []string{
	Etcd, Kwok, KubeAPIServer, KubeControllerManager, KubeScheduler, Kubectl,
	Terraform, Pulumi, PulumiResourceKubernetes,
}

// versionKey maps a tool to the versions.env key that pins it.
var versionKey = map[string]string{
	Etcd:                     "ETCD_VERSION",
	Kwok:                     "KWOK_VERSION",
	KubeAPIServer:            "KUBERNETES_VERSION",
	KubeControllerManager:    "KUBERNETES_VERSION",
	KubeScheduler:            "KUBERNETES_VERSION",
	Kubectl:                  "KUBERNETES_VERSION",
	Terraform:                "TERRAFORM_VERSION",
	Pulumi:                   "PULUMI_VERSION",
	PulumiResourceKubernetes: "PULUMI_KUBERNETES_VERSION",
}

// Pins returns every KEY=VALUE of versions.env.
func Pins() map[string]string {
	pins := map[string]string{}
	for _, line := range strings.Split(versionsEnv, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			pins[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return pins
}

// Version returns the pinned version of a tool (e.g. "v1.36.3" for
// kube-apiserver), or an error for a tool build.sh does not build.
func Version(tool string) (string, error) {
	key, ok := versionKey[tool]
	if !ok {
		return "", fmt.Errorf("toolchain: unknown tool %q (known: %s)", tool, strings.Join(Tools, ", "))
	}
	v := Pins()[key]
	if v == "" {
		return "", fmt.Errorf("toolchain: versions.env has no %s", key)
	}
	return v, nil
}

// CacheDir returns the directory build.sh builds into.
func CacheDir() string {
	if d := os.Getenv("PLINTH_TOOLS_DIR"); d != "" {
		return d
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "plinth", "tools")
}

// BinDir returns the directory holding a tool's pinned binary (whether or
// not it has been built).
func BinDir(tool string) (string, error) {
	v, err := Version(tool)
	if err != nil {
		return "", err
	}
	return filepath.Join(CacheDir(), tool, v, "bin"), nil
}

// BinDirs returns the bin directory of every tool, in build order: what
// env.sh puts first on PATH.
func BinDirs() []string {
	dirs := make([]string, 0, len(Tools))
	for _, t := range Tools {
		if d, err := BinDir(t); err == nil {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// Path returns the path of a tool's pinned binary if it has been built, or
// an error saying to run `make tools`.
func Path(tool string) (string, error) {
	d, err := BinDir(tool)
	if err != nil {
		return "", err
	}
	p := filepath.Join(d, tool)
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("toolchain: %s not built at %s: run `make tools`", tool, p)
	}
	return p, nil
}

// KwokStagesDir returns where build.sh copies KWOK's stage configs.
func KwokStagesDir() string {
	v, _ := Version(Kwok)
	return filepath.Join(CacheDir(), Kwok, v, "stages")
}

// PulumiHome returns the PULUMI_HOME holding the kubernetes provider plugin.
func PulumiHome() string { return filepath.Join(CacheDir(), "pulumi-home") }

// EnvFile returns the path of the env.sh build.sh writes.
func EnvFile() string { return filepath.Join(CacheDir(), "env.sh") }

// Environ returns env (typically os.Environ()) with the toolchain set up as
// env.sh does it: the tool bin directories first on PATH, and PULUMI_HOME,
// PULUMI_SKIP_UPDATE_CHECK=1, PULUMI_IGNORE_AMBIENT_PLUGINS=1,
// KUBEBUILDER_ASSETS and PLINTH_KWOK_STAGES set.
func Environ(env []string) []string {
	kv, _ := Version(KubeAPIServer)
	set := map[string]string{
		"PULUMI_HOME":                   PulumiHome(),
		"PULUMI_SKIP_UPDATE_CHECK":      "1",
		"PULUMI_IGNORE_AMBIENT_PLUGINS": "1",
		"KUBEBUILDER_ASSETS":            filepath.Join(CacheDir(), "kubebuilder-assets", kv),
		"PLINTH_KWOK_STAGES":            KwokStagesDir(),
		"PLINTH_TOOLS_DIR":              CacheDir(),
	}
	out := make([]string, 0, len(env)+len(set)+1)
	path := ""
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		if k == "PATH" {
			path = v
			continue
		}
		if _, ok := set[k]; ok {
			continue
		}
		out = append(out, e)
	}
	dirs := strings.Join(BinDirs(), string(os.PathListSeparator))
	if path != "" {
		dirs += string(os.PathListSeparator) + path
	}
	out = append(out, "PATH="+dirs)
	for _, k := range []string{"PULUMI_HOME", "PULUMI_SKIP_UPDATE_CHECK", "PULUMI_IGNORE_AMBIENT_PLUGINS", "KUBEBUILDER_ASSETS", "PLINTH_KWOK_STAGES", "PLINTH_TOOLS_DIR"} {
		out = append(out, k+"="+set[k])
	}
	return out
}
