package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/stacks/engine"
	"github.com/plinth-dev/plinth/stacks/engine/enginetest"
)

// exitCode maps a command's error to its exit status, as run does.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitUsage
}

// runEngineCmd runs one engine command line through run, with stdin in.
func runEngineCmd(t *testing.T, in *os.File, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &IOStreams{In: in, Out: &out, ErrOut: &errOut})
	return result{args: args, code: code, stdout: out.String(), stderr: errOut.String()}
}

// pipeIn is a standard input that is not a terminal.
func pipeIn(t *testing.T) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { r.Close() })
	return r
}

func TestUpFlags(t *testing.T) {
	var got *upOptions
	ios := &IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}
	cmd := newCmdUp(ios, &globalOptions{Output: outputText}, func(_ context.Context, o *upOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--stack", "dev", "--yes", "--backend", "s3://b/p", "--policy-pack", "a", "--policy-pack", "b", "--insecure-passphrase"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Stack != "dev" || !got.Yes || got.Backend != "s3://b/p" || strings.Join(got.PolicyPacks, ",") != "a,b" || !got.InsecurePassphrase {
		t.Errorf("options %+v", got.engineOptions)
	}
	eo, err := got.engine()
	if err != nil {
		t.Fatal(err)
	}
	if eo.Stack != "dev" || eo.Backend != "s3://b/p" || !eo.AllowInsecurePassphrase || eo.Progress != ios.ErrOut || len(eo.PolicyPacks) != 2 || eo.Root == "" {
		t.Errorf("engine options %+v", eo)
	}
}

func TestEngineCommandsUsage(t *testing.T) {
	for _, cmd := range []string{"up", "preview", "destroy", "refresh", "drift"} {
		t.Run(cmd, func(t *testing.T) {
			r := plinth(t, cmd)
			r.wantExit(t, exitUsage)
			if !strings.Contains(r.stderr, "needs --stack NAME") {
				t.Errorf("no --stack:\n%v", r)
			}
			r = plinth(t, cmd, "--stack", "dev", "extra")
			r.wantExit(t, exitUsage)
			if !strings.Contains(r.stderr, "takes no arguments") {
				t.Errorf("argument:\n%v", r)
			}
		})
	}
	// Only up and preview run policy packs; only up and destroy ask.
	plinth(t, "drift", "--stack", "dev", "--policy-pack", "x").wantExit(t, exitUsage)
	plinth(t, "refresh", "--stack", "dev", "--yes").wantExit(t, exitUsage)
}

// Without a terminal, up and destroy refuse to run unconfirmed (exit 2),
// before anything else happens.
func TestUpDestroyNeedYesWithoutTerminal(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, cmd := range []string{"up", "destroy"} {
		r := runEngineCmd(t, pipeIn(t), cmd, "--stack", "dev")
		r.wantExit(t, exitUsage)
		if !strings.Contains(r.stderr, "standard input is not a terminal, so pass --yes") {
			t.Errorf("%s:\n%v", cmd, r)
		}
		if _, err := os.Stat(".plinth"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s wrote .plinth before refusing", cmd)
		}
	}
}

// A prod-class stack without a passphrase is refused, even with
// --insecure-passphrase (exit 2, saying how to set one).
func TestProdStackWithoutPassphrase(t *testing.T) {
	t.Setenv(engine.EnvPassphrase, "")
	t.Setenv(engine.EnvPulumiPassphrase, "")
	root := enginetest.Root(t, t.TempDir(), "production", "blueprints/production.yaml")
	t.Chdir(root)
	for _, args := range [][]string{
		{"up", "--stack", "production", "--yes"},
		{"preview", "--stack", "production", "--insecure-passphrase"},
		{"drift", "--stack", "production", "-o", "json"},
	} {
		r := runEngineCmd(t, pipeIn(t), args...)
		r.wantExit(t, exitUsage)
		if !strings.Contains(r.stderr, "needs a passphrase") || !strings.Contains(r.stderr, "PLINTH_PASSPHRASE") || !strings.Contains(r.stderr, "never gets a default passphrase") {
			t.Errorf("%v", r)
		}
		if r.stdout != "" {
			t.Errorf("stdout: %q", r.stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(root, ".plinth")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused command wrote .plinth")
	}
}

func TestUnknownStack(t *testing.T) {
	t.Chdir(t.TempDir())
	r := runEngineCmd(t, pipeIn(t), "drift", "--stack", "nope", "--insecure-passphrase")
	r.wantExit(t, exitFailure)
	if !strings.Contains(r.stderr, "stack nope: no stack config") {
		t.Errorf("%v", r)
	}
}

func TestOutputValueText(t *testing.T) {
	for v, want := range map[any]string{"plain": "plain", 3.0: "3", true: "true"} {
		if got := outputValueText(v); got != want {
			t.Errorf("%v: %q, want %q", v, got, want)
		}
	}
	if got := outputValueText(map[string]any{"a": []any{"x  y", "<b>"}}); got != `{"a":["x  y","<b>"]}` {
		t.Errorf("object: %s", got)
	}
}

// The first Ctrl-C cancels the engine's context (the engine then stops the
// Pulumi CLI gracefully) and says so; it does not kill plinth.
func TestInterruptibleCancelsOnSignal(t *testing.T) {
	var errOut bytes.Buffer
	ctx, stop := interruptible(&IOStreams{ErrOut: &errOut}, "up")
	defer stop()
	p, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(os.Interrupt); err != nil {
		t.Skipf("cannot send SIGINT here: %v", err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("context not cancelled by SIGINT")
	}
	stop()
	if !strings.Contains(errOut.String(), "interrupt: stopping up once the steps in flight finish") {
		t.Errorf("stderr: %q", errOut.String())
	}
}
