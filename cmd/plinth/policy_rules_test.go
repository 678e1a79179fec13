package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --rules of up and preview: passed to the engine for the policy packs,
// refused without a pack, and compiled before the engine starts.
func TestEngineRulesFlag(t *testing.T) {
	examples := filepath.Join("..", "..", "policies", "rego", "examples")
	var got *previewOptions
	ios := &IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}
	cmd := newCmdPreview(ios, &globalOptions{Output: outputText}, func(_ context.Context, o *previewOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--stack", "dev", "--policy-pack", "pack", "--rules", examples})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	eo, err := got.engine()
	if err != nil {
		t.Fatal(err)
	}
	if eo.PolicyRules != examples || len(eo.PolicyPacks) != 1 {
		t.Errorf("engine options: rules %q, packs %v", eo.PolicyRules, eo.PolicyPacks)
	}

	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "broken.rego"), []byte("package plinth\n\ndeny contains msg if {\n\tmsg := \n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"preview", "--stack", "dev", "--rules", examples}, exitUsage, "--rules needs --policy-pack"},
		{[]string{"up", "--stack", "dev", "--yes", "--rules", examples}, exitUsage, "--rules needs --policy-pack"},
		{[]string{"preview", "--stack", "dev", "--policy-pack", "pack", "--rules", broken}, exitFailure, filepath.Join(broken, "broken.rego") + ":5:1: unexpected } token"},
		{[]string{"up", "--stack", "dev", "--yes", "--policy-pack", "pack", "--rules", filepath.Join(broken, "missing")}, exitFailure, "no such file or directory"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := plinth(t, tc.args...)
			r.wantExit(t, tc.code)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%v", tc.want, r)
			}
		})
	}
}
