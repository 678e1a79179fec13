package toolchain

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// build.sh and this package must agree on the tools and their pins.
func TestBuildScriptAgrees(t *testing.T) {
	script, err := os.ReadFile("build.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ALL_TOOLS=\(([^)]*)\)`).FindSubmatch(script)
	if m == nil {
		t.Fatal("build.sh: no ALL_TOOLS=(...) line")
	}
	if got := strings.Fields(string(m[1])); !slices.Equal(got, Tools) {
		t.Errorf("build.sh ALL_TOOLS = %v, toolchain.Tools = %v", got, Tools)
	}
	for _, tool := range Tools {
		key := versionKey[tool]
		if !strings.Contains(string(script), "echo \"$"+key+"\"") {
			t.Errorf("build.sh version_of does not map %s to $%s", tool, key)
		}
	}
}

func TestPins(t *testing.T) {
	pins := Pins()
	for _, tool := range Tools {
		v, err := Version(tool)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^v?\d+\.\d+\.\d+$`).MatchString(v) {
			t.Errorf("%s: version %q is not x.y.z", tool, v)
		}
	}
	if pins["PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION"] == "" || pins["GO_MIN_VERSION"] == "" {
		t.Errorf("versions.env lacks the provider module version or the Go minimum: %v", pins)
	}
	if _, err := Version("kubelet"); err == nil {
		t.Error("Version(kubelet) did not fail")
	}
}

func TestLayout(t *testing.T) {
	t.Setenv("PLINTH_TOOLS_DIR", "/cache/tools")
	d, err := BinDir(KubeAPIServer)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := Version(KubeAPIServer)
	if want := filepath.Join("/cache/tools", "kube-apiserver", v, "bin"); d != want {
		t.Errorf("BinDir = %s, want %s", d, want)
	}
	if _, err := Path(Etcd); err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Errorf("Path of an unbuilt tool: err = %v", err)
	}
	env := Environ([]string{"PATH=/usr/bin", "PULUMI_HOME=/elsewhere", "HOME=/root"})
	var path, home string
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
		if v, ok := strings.CutPrefix(e, "PULUMI_HOME="); ok {
			home = v
		}
	}
	if !strings.HasPrefix(path, filepath.Join("/cache/tools", "etcd")) || !strings.HasSuffix(path, ":/usr/bin") {
		t.Errorf("PATH = %s: want the tool dirs first, then the old PATH", path)
	}
	if home != "/cache/tools/pulumi-home" {
		t.Errorf("PULUMI_HOME = %s", home)
	}
	t.Setenv("PLINTH_TOOLS_DIR", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if got := CacheDir(); got != "/xdg/plinth/tools" {
		t.Errorf("CacheDir with XDG_CACHE_HOME = %s", got)
	}
}
