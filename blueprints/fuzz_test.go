package blueprints

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the whole pipeline (load, defaults,
// validation). It must never panic; it returns either a valid environment
// or an ErrorList whose every entry names the file and a line inside it.
// Run it with `make fuzz` (FUZZTIME=5m by default).
func FuzzLoad(f *testing.F) {
	for _, name := range ShippedNames() {
		data, _ := Shipped(name)
		f.Add(data)
	}
	inputs, _ := filepath.Glob("testdata/invalid/*.yaml")
	for _, p := range inputs {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	cat := testCatalog(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := CheckBytes("fuzz.yaml", data, LoadOptions{}, cat)
		if err == nil {
			if env == nil {
				t.Fatal("no error and no environment")
			}
			// Defaults are idempotent and keep a valid blueprint valid.
			env.Defaults(cat)
			if err := env.Validate(cat); err != nil {
				t.Fatalf("valid blueprint became invalid after a second Defaults: %v", err)
			}
			return
		}
		if env != nil {
			t.Fatal("an environment came back with an error")
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error is not a non-empty ErrorList: %T %v", err, err)
		}
		// YAML breaks lines at \n, \r and (YAML 1.1) NEL, LS and PS: count
		// them all for an upper bound.
		lines := 1
		for _, sep := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
			lines += bytes.Count(data, []byte(sep))
		}
		for _, e := range list {
			if e.File != "fuzz.yaml" {
				t.Fatalf("error names file %q: %v", e.File, e)
			}
			if e.Line < 0 || e.Line > lines {
				t.Fatalf("error line %d outside the %d-line input: %v", e.Line, lines, e)
			}
			if e.Message == "" {
				t.Fatalf("error without a message: %+v", e)
			}
		}
	})
}
