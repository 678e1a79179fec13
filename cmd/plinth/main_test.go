package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/blueprints/catalog"
)

func TestMain(m *testing.M) {
	// catalog.Default reads $PLINTH_CATALOG once per process: keep a
	// developer's own catalogue out of the tests, which expect the embedded one.
	os.Unsetenv(catalog.EnvVar)
	os.Exit(m.Run())
}

// result is what one plinth invocation did.
type result struct {
	args   []string
	code   int
	stdout string
	stderr string
}

func (r result) String() string {
	return fmt.Sprintf("plinth %s → exit %d\n--- stdout:\n%s--- stderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// plinth runs the command line through run with buffers for the streams,
// as main does with the real ones. A panic, or a Go stack trace in the
// output, fails the test.
func plinth(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	ios := &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	code := func() int {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("plinth %s panicked: %v\n%s", strings.Join(args, " "), r, debug.Stack())
			}
		}()
		return run(args, ios)
	}()
	res := result{args: args, code: code, stdout: out.String(), stderr: errOut.String()}
	for _, s := range []string{"goroutine ", "panic:", "runtime error"} {
		if strings.Contains(res.stdout, s) || strings.Contains(res.stderr, s) {
			t.Errorf("output holds %q (a Go panic or stack trace):\n%v", s, res)
		}
	}
	return res
}

// wantExit fails the test unless the run ended with code.
func (r result) wantExit(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\n%v", r.code, code, r)
	}
}

// decodeJSON parses the run's stdout as one JSON document.
func (r result) decodeJSON(t *testing.T, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%v", err, r)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON document\n%v", r)
	}
}

// writeFile writes data to name in dir and returns the path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// emptyDir fails the test if dir holds anything.
func emptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("%s should be empty, holds %v", dir, names)
	}
}
