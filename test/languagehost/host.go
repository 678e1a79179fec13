package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/constant"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
)

// sdkModule is the Go SDK module whose version GetPluginInfo reports.
const sdkModule = "github.com/pulumi/pulumi/sdk/v3"

// host is the language host: Run, GetRequiredPackages and GetPluginInfo;
// every other method answers Unimplemented.
type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	// engineAddress is the engine's gRPC address, given to programs as PULUMI_ENGINE.
	engineAddress string
}

// GetPluginInfo returns the version of the Pulumi Go SDK the host was built with.
func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	info := &pulumirpc.PluginInfo{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == sdkModule {
				info.Version = strings.TrimPrefix(dep.Version, "v")
			}
		}
	}
	return info, nil
}

// GetRequiredPackages returns no packages (see the package documentation).
func (h *host) GetRequiredPackages(context.Context, *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

// Run runs the program, prebuilt (runtime.options.binary) or built now,
// and reports how it ended. A program that cannot be found or built is an
// error of the run, shown by the CLI.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	programDir := info.GetProgramDirectory()
	if programDir == "" {
		programDir = req.GetPwd()
	}
	bin, err := prebuiltBinary(info.GetRootDirectory(), info.GetOptions().AsMap())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	if bin == "" {
		dir, err := os.MkdirTemp("", "pulumi-go-program-")
		if err != nil {
			return nil, fmt.Errorf("creating a directory for the program binary: %w", err)
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "program")
		if err := goBuild(ctx, programDir, bin); err != nil {
			return &pulumirpc.RunResponse{Error: err.Error()}, nil
		}
	}

	cmd := exec.Command(bin)
	cmd.Dir = req.GetPwd()
	cmd.Env, err = programEnv(os.Environ(), h.engineAddress, req)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return runResponse(bin, cmd.Run()), nil
}

// prebuiltBinary returns the program runtime.options.binary names: an
// absolute path, a path relative to the project root, or a name on PATH.
// It returns "" when the option is not set.
func prebuiltBinary(root string, options map[string]any) (string, error) {
	opt, ok := options["binary"]
	if !ok {
		return "", nil
	}
	name, ok := opt.(string)
	if !ok || name == "" {
		return "", fmt.Errorf("Pulumi.yaml runtime.options.binary must be a non-empty string, found %v", opt)
	}
	if filepath.IsAbs(name) {
		return name, nil
	}
	if p := filepath.Join(root, name); root != "" && isFile(p) {
		return p, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("Pulumi.yaml runtime.options.binary %q: not in the project root %s nor on PATH: %w", name, root, err)
	}
	return p, nil
}

// goBuild builds the main package in dir into out with the go command on PATH.
func goBuild(ctx context.Context, dir, out string) error {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("building the program in %s: the go command is not on PATH: %w", dir, err)
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", out, ".")
	cmd.Dir = dir
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build in %s: %w\n%s", dir, err, output)
	}
	return nil
}

// programEnv returns base with the PULUMI_* variables the Go SDK's
// pulumi.Run reads set from req (any earlier values of them removed).
// Empty values are left out, as the real host does.
func programEnv(base []string, engineAddress string, req *pulumirpc.RunRequest) ([]string, error) {
	cfg := req.GetConfig()
	if cfg == nil {
		cfg = map[string]string{}
	}
	config, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding the stack config: %w", err)
	}
	keys := req.GetConfigSecretKeys()
	if keys == nil {
		keys = []string{}
	}
	secretKeys, err := json.Marshal(keys)
	if err != nil {
		return nil, fmt.Errorf("encoding the secret config keys: %w", err)
	}
	vars := [][2]string{
		{pulumi.EnvOrganization, req.GetOrganization()},
		{pulumi.EnvProject, req.GetProject()},
		{pulumi.EnvPulumiRootDirectory, req.GetInfo().GetRootDirectory()},
		{pulumi.EnvStack, req.GetStack()},
		{pulumi.EnvConfig, string(config)},
		{pulumi.EnvConfigSecretKeys, string(secretKeys)},
		{pulumi.EnvDryRun, strconv.FormatBool(req.GetDryRun())},
		{pulumi.EnvParallel, strconv.Itoa(int(req.GetParallel()))},
		{pulumi.EnvMonitor, req.GetMonitorAddress()},
		{pulumi.EnvEngine, engineAddress},
	}
	env := make([]string, 0, len(base)+len(vars))
	for _, kv := range base {
		if !setsAny(kv, vars) {
			env = append(env, kv)
		}
	}
	for _, v := range vars {
		if v[1] != "" {
			env = append(env, v[0]+"="+v[1])
		}
	}
	return env, nil
}

// setsAny reports whether kv ("KEY=value") sets one of vars' keys.
func setsAny(kv string, vars [][2]string) bool {
	key, _, _ := strings.Cut(kv, "=")
	for _, v := range vars {
		if key == v[0] {
			return true
		}
	}
	return false
}

// runResponse turns how the program ended into the answer to the engine:
// success, a bail (exit status 32: the SDK has reported the error to the
// engine already) or an error naming the exit status or signal.
func runResponse(bin string, err error) *pulumirpc.RunResponse {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}
	case errors.As(err, &exit) && exit.ExitCode() == constant.ExitStatusLoggedError:
		return &pulumirpc.RunResponse{Bail: true}
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program %s: %v", bin, err)}
	}
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}
