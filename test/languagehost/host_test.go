package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// probeSource is a program that records the PULUMI_* environment and its
// working directory in $PROBE_OUT, then exits with status $PROBE_EXIT.
const probeSource = `package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
)

func main() {
	seen := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "PULUMI_") {
			seen[k] = v
		}
	}
	seen["cwd"], _ = os.Getwd()
	b, _ := json.Marshal(seen)
	if err := os.WriteFile(os.Getenv("PROBE_OUT"), b, 0o600); err != nil {
		os.Exit(99)
	}
	code, _ := strconv.Atoi(os.Getenv("PROBE_EXIT"))
	os.Exit(code)
}
`

// probeProject writes the probe program as a project: root/prog holds its
// main package (a module of its own), root/bin/probe the prebuilt binary.
func probeProject(t *testing.T) (root, progDir string) {
	t.Helper()
	root = t.TempDir()
	progDir = filepath.Join(root, "prog")
	writeFile(t, filepath.Join(progDir, "go.mod"), "module probe\n\ngo 1.22\n")
	writeFile(t, filepath.Join(progDir, "main.go"), probeSource)
	buildGo(t, goCommand(t), progDir, filepath.Join(root, "bin", "probe"), ".")
	return root, progDir
}

// runRequest is what the CLI sends for `pulumi preview` of the probe
// project, with binary as runtime.options.binary ("" for none).
func runRequest(t *testing.T, root, progDir, binary string) *pulumirpc.RunRequest {
	t.Helper()
	options := map[string]any{}
	if binary != "" {
		options["binary"] = binary
	}
	opts, err := structpb.NewStruct(options)
	if err != nil {
		t.Fatal(err)
	}
	return &pulumirpc.RunRequest{
		MonitorAddress:   "127.0.0.1:40001",
		Pwd:              progDir,
		Project:          "plinth",
		Stack:            "dev",
		Organization:     "organization",
		Config:           map[string]string{"plinth:blueprint": "blueprints/local.yaml", "plinth:password": "s3cret"},
		ConfigSecretKeys: []string{"plinth:password"},
		DryRun:           true,
		Parallel:         16,
		Info:             &pulumirpc.ProgramInfo{RootDirectory: root, ProgramDirectory: progDir, EntryPoint: ".", Options: opts},
	}
}

// runProbe runs the probe through the host and returns the host's answer
// and what the probe recorded (nil when it did not run).
func runProbe(t *testing.T, req *pulumirpc.RunRequest, exit string) (*pulumirpc.RunResponse, map[string]string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "probe.json")
	t.Setenv("PROBE_OUT", out)
	t.Setenv("PROBE_EXIT", exit)
	t.Setenv("PULUMI_STACK", "stale") // the host replaces it
	h := &host{engineAddress: "127.0.0.1:40002"}
	resp, err := h.Run(context.Background(), req)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return resp, nil
	}
	var seen map[string]string
	if err := json.Unmarshal(data, &seen); err != nil {
		t.Fatal(err)
	}
	return resp, seen
}

func TestRun(t *testing.T) {
	root, progDir := probeProject(t)
	want := map[string]string{
		"PULUMI_MONITOR":            "127.0.0.1:40001",
		"PULUMI_ENGINE":             "127.0.0.1:40002",
		"PULUMI_PROJECT":            "plinth",
		"PULUMI_STACK":              "dev",
		"PULUMI_ORGANIZATION":       "organization",
		"PULUMI_ROOT_DIRECTORY":     root,
		"PULUMI_CONFIG":             `{"plinth:blueprint":"blueprints/local.yaml","plinth:password":"s3cret"}`,
		"PULUMI_CONFIG_SECRET_KEYS": `["plinth:password"]`,
		"PULUMI_DRY_RUN":            "true",
		"PULUMI_PARALLEL":           "16",
		"cwd":                       progDir,
	}

	for _, tc := range []struct{ name, binary string }{
		{"binary relative to the project root", "bin/probe"},
		{"absolute binary", filepath.Join(root, "bin", "probe")},
		{"built from main", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, seen := runProbe(t, runRequest(t, root, progDir, tc.binary), "0")
			if resp.GetError() != "" || resp.GetBail() {
				t.Fatalf("Run answered %v", resp)
			}
			if seen == nil {
				t.Fatal("the program did not run")
			}
			for k, v := range want {
				if seen[k] != v {
					t.Errorf("%s = %q, want %q", k, seen[k], v)
				}
			}
		})
	}

	t.Run("exit status 32 is a bail", func(t *testing.T) {
		resp, _ := runProbe(t, runRequest(t, root, progDir, "bin/probe"), "32")
		if !resp.GetBail() || resp.GetError() != "" {
			t.Errorf("Run answered %v, want a bail", resp)
		}
	})
	t.Run("other exit status is an error", func(t *testing.T) {
		resp, _ := runProbe(t, runRequest(t, root, progDir, "bin/probe"), "3")
		if resp.GetBail() || !strings.Contains(resp.GetError(), "exit status 3") {
			t.Errorf("Run answered %v, want an error naming exit status 3", resp)
		}
	})
	t.Run("missing binary", func(t *testing.T) {
		resp, seen := runProbe(t, runRequest(t, root, progDir, "bin/missing"), "0")
		if seen != nil || !strings.Contains(resp.GetError(), `runtime.options.binary "bin/missing"`) {
			t.Errorf("Run answered %v, want an error naming the option", resp)
		}
	})
	t.Run("program that does not build", func(t *testing.T) {
		broken := filepath.Join(root, "broken")
		writeFile(t, filepath.Join(broken, "go.mod"), "module broken\n\ngo 1.22\n")
		writeFile(t, filepath.Join(broken, "main.go"), "package main\n\nfunc main() { undefined() }\n")
		req := runRequest(t, root, broken, "")
		resp, seen := runProbe(t, req, "0")
		if seen != nil || !strings.Contains(resp.GetError(), "go build") || !strings.Contains(resp.GetError(), "undefined") {
			t.Errorf("Run answered %v, want the go build error", resp)
		}
	})
}

func TestGetPluginInfo(t *testing.T) {
	info, err := (&host{}).GetPluginInfo(context.Background(), &emptypb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info.GetVersion(), "3.") {
		t.Errorf("version %q, want the Pulumi Go SDK's (3.x)", info.GetVersion())
	}
}

func TestServeNeedsEngineAddress(t *testing.T) {
	if err := serve(nil); err == nil || !strings.Contains(err.Error(), "engine address") {
		t.Errorf("serve without arguments: %v, want an error about the engine address", err)
	}
}
