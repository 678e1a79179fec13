package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/blueprints"
)

// brokenBlueprint has four problems of different kinds, each on a known line:
// an unknown field (line 5), an AZ of another region (line 12), a GPU type
// the region does not offer (line 15) and a wrong type (line 17).
const brokenBlueprint = `apiVersion: plinth.dev/v1alpha1
kind: Environment
metadata:
  name: broken
  colour: blue
spec:
  provider: aws
  region: af-south-1
  tags: {owner: ml-platform, cost-center: "4711"}
  network:
    cidr: 10.40.0.0/16
    availabilityZones: [af-south-1a, eu-west-1b]
  gpuNodePools:
    - name: train
      instanceTypes: [g4dn.xlarge, p4d.24xlarge]
      minSize: 0
      maxSize: two
`

// badRegionBlueprint names a region that does not exist (line 7) and has a
// string where a number belongs (line 10).
const badRegionBlueprint = `apiVersion: plinth.dev/v1alpha1
kind: Environment
metadata:
  name: badregion
spec:
  provider: aws
  region: eu-wst-1
  tags: {owner: ml-platform, cost-center: "4711"}
  cluster:
    systemPool: {instanceType: m6i.large, min: "two", max: 4}
`

// problem is one expected error: where, which field, the text found there
// and the start of the message.
type problem struct {
	line, col int
	path      string
	value     string // the text at line:col in the file
	msg       string // a prefix of the message
}

var brokenProblems = []problem{
	{5, 3, "metadata.colour", "colour", `unknown field "colour"; allowed fields: name, labels`},
	{12, 38, "spec.network.availabilityZones[1]", "eu-west-1b", `"eu-west-1b" is not an availability zone of af-south-1; it has: af-south-1a, af-south-1b, af-south-1c`},
	{15, 36, "spec.gpuNodePools[0].instanceTypes[1]", "p4d.24xlarge", `"p4d.24xlarge" (8× A100) is not offered in af-south-1`},
	{17, 16, "spec.gpuNodePools[0].maxSize", "two", `expected a whole number, found the string "two"`},
}

var badRegionProblems = []problem{
	{7, 11, "spec.region", "eu-wst-1", `"eu-wst-1" is not an AWS region in the catalogue`},
	{10, 48, "spec.cluster.systemPool.min", `"two"`, `expected a whole number, found the string "two"`},
}

// checkProblemPositions makes sure the expected positions really point at
// the bad values in the text, so the tables cannot drift from the files.
func checkProblemPositions(t *testing.T, text string, problems []problem) {
	t.Helper()
	lines := strings.Split(text, "\n")
	for _, p := range problems {
		if p.line > len(lines) || p.col-1 > len(lines[p.line-1]) || !strings.HasPrefix(lines[p.line-1][p.col-1:], p.value) {
			t.Fatalf("test table is wrong: %d:%d does not hold %q", p.line, p.col, p.value)
		}
	}
}

// wantProblemLines checks that stdout has one line per problem, each
// "file:line:col: path: message...".
func wantProblemLines(t *testing.T, r result, file string, problems []problem) {
	t.Helper()
	lines := strings.Split(r.stdout, "\n")
	for _, p := range problems {
		prefix := fmt.Sprintf("%s:%d:%d: %s: %s", file, p.line, p.col, p.path, p.msg)
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, prefix) }) {
			t.Errorf("no line starts with %q\n%v", prefix, r)
		}
	}
	fail := fmt.Sprintf("FAIL  %s: %d problems", file, len(problems))
	if !slices.Contains(lines, fail) {
		t.Errorf("no line %q\n%v", fail, r)
	}
}

func TestValidateShipped(t *testing.T) {
	names := blueprints.ShippedNames()
	if !slices.Equal(names, []string{"gpu-training", "local", "production"}) {
		t.Fatalf("shipped blueprints = %v", names)
	}
	want := map[string]string{
		"local":        "ok    blueprints/local.yaml (local: provider kubernetes, dev)",
		"gpu-training": "ok    blueprints/gpu-training.yaml (gpu-training: provider aws, dev)",
		"production":   "ok    blueprints/production.yaml (ml-prod: provider aws, prod)",
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			r := plinth(t, "validate", name)
			r.wantExit(t, exitOK)
			if r.stdout != want[name]+"\n" || r.stderr != "" {
				t.Errorf("want exactly the line %q\n%v", want[name], r)
			}
		})
	}
	t.Run("all at once", func(t *testing.T) {
		r := plinth(t, "validate", "local", "gpu-training.yaml", "blueprints/production")
		r.wantExit(t, exitOK)
		wantOut := want["local"] + "\n" + want["gpu-training"] + "\n" + want["production"] + "\n" +
			"3 blueprints checked: 3 valid, 0 invalid\n"
		if r.stdout != wantOut {
			t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, wantOut)
		}
	})
}

func TestValidateInvalid(t *testing.T) {
	checkProblemPositions(t, brokenBlueprint, brokenProblems)
	checkProblemPositions(t, badRegionBlueprint, badRegionProblems)
	dir := t.TempDir()
	broken := writeFile(t, dir, "broken.yaml", []byte(brokenBlueprint))
	badRegion := writeFile(t, dir, "bad-region.yaml", []byte(badRegionBlueprint))

	tests := []struct {
		name     string
		args     []string
		files    map[string][]problem // file → every problem expected in it
		okLines  []string
		summary  string
		problems int // total problem lines
	}{
		{
			name:     "unknown field, wrong type, AZ of another region, GPU type not offered",
			args:     []string{broken},
			files:    map[string][]problem{broken: brokenProblems},
			problems: 4,
		},
		{
			name:     "unknown region",
			args:     []string{badRegion},
			files:    map[string][]problem{badRegion: badRegionProblems},
			problems: 2,
		},
		{
			name:     "valid and invalid mixed",
			args:     []string{"local", broken, "gpu-training"},
			files:    map[string][]problem{broken: brokenProblems},
			okLines:  []string{"ok    blueprints/local.yaml ", "ok    blueprints/gpu-training.yaml "},
			summary:  "3 blueprints checked: 2 valid, 1 invalid",
			problems: 4,
		},
		{
			name:     "two invalid files",
			args:     []string{broken, badRegion},
			files:    map[string][]problem{broken: brokenProblems, badRegion: badRegionProblems},
			summary:  "2 blueprints checked: 0 valid, 2 invalid",
			problems: 6,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := plinth(t, append([]string{"validate"}, tt.args...)...)
			r.wantExit(t, exitFailure)
			if r.stderr != "" {
				t.Errorf("stderr should be empty: the problems go to stdout\n%v", r)
			}
			for file, problems := range tt.files {
				wantProblemLines(t, r, file, problems)
			}
			for _, ok := range tt.okLines {
				if !strings.Contains(r.stdout, "\n"+ok) && !strings.HasPrefix(r.stdout, ok) {
					t.Errorf("no line starting %q\n%v", ok, r)
				}
			}
			if tt.summary != "" && !strings.HasSuffix(r.stdout, "\n"+tt.summary+"\n") {
				t.Errorf("stdout does not end with %q\n%v", tt.summary, r)
			}
			n := 0
			for _, l := range strings.Split(r.stdout, "\n") {
				if strings.HasPrefix(l, dir) {
					n++
				}
			}
			if n != tt.problems {
				t.Errorf("%d problem lines, want %d\n%v", n, tt.problems, r)
			}
		})
	}
}

func TestValidateJSON(t *testing.T) {
	dir := t.TempDir()
	broken := writeFile(t, dir, "broken.yaml", []byte(brokenBlueprint))

	type fieldError struct {
		File    string `json:"file"`
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Path    string `json:"path"`
		Message string `json:"message"`
	}
	type fileResult struct {
		File     string        `json:"file"`
		Valid    bool          `json:"valid"`
		Name     string        `json:"name"`
		Provider string        `json:"provider"`
		Class    string        `json:"environmentClass"`
		Errors   []*fieldError `json:"errors"`
	}
	var got struct {
		Valid      *bool        `json:"valid"`
		Blueprints []fileResult `json:"blueprints"`
	}

	r := plinth(t, "validate", "--output", "json", broken, "local")
	r.wantExit(t, exitFailure)
	r.decodeJSON(t, &got)
	if got.Valid == nil || *got.Valid {
		t.Errorf("valid = %v, want false\n%v", got.Valid, r)
	}
	if len(got.Blueprints) != 2 {
		t.Fatalf("%d blueprints, want 2\n%v", len(got.Blueprints), r)
	}

	b := got.Blueprints[0]
	if b.File != broken || b.Valid {
		t.Errorf("blueprints[0]: file %q valid %v, want %q false", b.File, b.Valid, broken)
	}
	if len(b.Errors) != len(brokenProblems) {
		t.Fatalf("blueprints[0]: %d errors, want %d\n%v", len(b.Errors), len(brokenProblems), r)
	}
	for i, p := range brokenProblems {
		e := b.Errors[i]
		if e.File != broken || e.Line != p.line || e.Column != p.col || e.Path != p.path || !strings.HasPrefix(e.Message, p.msg) {
			t.Errorf("errors[%d] = %+v\nwant file %s line %d column %d path %s message %q...", i, *e, broken, p.line, p.col, p.path, p.msg)
		}
	}

	ok := got.Blueprints[1]
	if ok.File != "blueprints/local.yaml" || !ok.Valid || ok.Name != "local" || ok.Provider != "kubernetes" || ok.Class != "dev" {
		t.Errorf("blueprints[1] = %+v, want the valid shipped local blueprint", ok)
	}
	if ok.Errors == nil || len(ok.Errors) != 0 {
		t.Errorf("blueprints[1].errors = %v, want [] (an empty list, not null)", ok.Errors)
	}

	t.Run("all valid", func(t *testing.T) {
		r := plinth(t, "validate", "-o", "json", "gpu-training")
		r.wantExit(t, exitOK)
		var got struct {
			Valid      bool         `json:"valid"`
			Blueprints []fileResult `json:"blueprints"`
		}
		r.decodeJSON(t, &got)
		if !got.Valid || len(got.Blueprints) != 1 || !got.Blueprints[0].Valid || got.Blueprints[0].File != "blueprints/gpu-training.yaml" {
			t.Errorf("got %+v\n%v", got, r)
		}
	})

	t.Run("file problem", func(t *testing.T) {
		missing := filepath.Join(dir, "missing.yaml")
		r := plinth(t, "validate", "-o", "json", missing)
		r.wantExit(t, exitFailure)
		var got struct {
			Valid      bool         `json:"valid"`
			Blueprints []fileResult `json:"blueprints"`
		}
		r.decodeJSON(t, &got)
		if got.Valid || len(got.Blueprints) != 1 || len(got.Blueprints[0].Errors) != 1 {
			t.Fatalf("got %+v\n%v", got, r)
		}
		e := got.Blueprints[0].Errors[0]
		if e.File != missing || e.Line != 0 || e.Path != "" || !strings.HasPrefix(e.Message, "no such file") {
			t.Errorf("error = %+v, want file %s and a 'no such file' message", *e, missing)
		}
	})
}

// Problems with the file as a whole: one clear message each, exit 1, no
// panic.
func TestValidateFileProblems(t *testing.T) {
	dir := t.TempDir()
	local, ok := blueprints.Shipped("local")
	if !ok {
		t.Fatal("no shipped blueprint local")
	}

	tests := []struct {
		name string
		file func() string // makes the file and returns the argument
		pos  string        // position printed after the argument; "any" for some file:line
		msg  string
	}{
		{
			name: "directory",
			file: func() string { return t.TempDir() },
			msg:  "is a directory, not a blueprint file",
		},
		{
			name: "missing file",
			file: func() string { return filepath.Join(dir, "nope.yaml") },
			msg:  "no such file (shipped blueprints, usable by name: gpu-training, local, production)",
		},
		{
			name: "not UTF-8",
			file: func() string {
				return writeFile(t, dir, "latin1.yaml", []byte("apiVersion: plinth.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: caf\xe9\n"))
			},
			pos: ":4:12",
			msg: "is not valid UTF-8 text",
		},
		{
			name: "larger than 1 MiB",
			file: func() string {
				data := append([]byte("# padding\n"), bytes.Repeat([]byte("#"), blueprints.MaxFileSize)...)
				return writeFile(t, dir, "big.yaml", data)
			},
			msg: fmt.Sprintf("is %d bytes; a blueprint may be at most 1048576 bytes (1 MiB)", blueprints.MaxFileSize+10),
		},
		{
			name: "empty",
			file: func() string { return writeFile(t, dir, "empty.yaml", nil) },
			msg:  "is empty; a blueprint starts with apiVersion: plinth.dev/v1alpha1 and kind: Environment",
		},
		{
			name: "only blank lines",
			file: func() string { return writeFile(t, dir, "blank.yaml", []byte("\n  \n\t\n")) },
			msg:  "is empty",
		},
		{
			name: "two YAML documents",
			file: func() string {
				return writeFile(t, dir, "two.yaml", slices.Concat(local, []byte("---\n"), local))
			},
			pos: fmt.Sprintf(":%d", bytes.Count(local, []byte("\n"))+1), // the extra ---
			msg: "invalid YAML: holds 2 YAML documents; a blueprint is one document (remove the extra ---)",
		},
		{
			name: "YAML syntax error",
			file: func() string {
				return writeFile(t, dir, "syntax.yaml", []byte("apiVersion: plinth.dev/v1alpha1\nkind: [Environment\n"))
			},
			// go-yaml reports parser errors at the line of the enclosing
			// construct, not always the exact one: only ask for a line.
			pos: "any",
			msg: "invalid YAML: did not find expected ',' or ']'",
		},
		{
			name: "a list, not a mapping",
			file: func() string { return writeFile(t, dir, "list.yaml", []byte("- a\n- b\n")) },
			pos:  ":1:1",
			msg:  "expected a mapping of key: value pairs, found a list",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := tt.file()
			r := plinth(t, "validate", file)
			r.wantExit(t, exitFailure)
			want := file + tt.pos + ": " + tt.msg
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			match := func(l string) bool { return strings.HasPrefix(l, want) }
			if tt.pos == "any" {
				lineNo := regexp.MustCompile("^" + regexp.QuoteMeta(file) + `:[1-9][0-9]*: ` + regexp.QuoteMeta(tt.msg))
				want, match = lineNo.String(), lineNo.MatchString
			}
			if len(lines) != 2 || !match(lines[0]) || lines[1] != "FAIL  "+file+": 1 problem" {
				t.Errorf("want one problem line starting %q and the FAIL line\n%v", want, r)
			}
			if r.stderr != "" {
				t.Errorf("stderr should be empty\n%v", r)
			}
		})
	}
}

func TestValidateUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"no file", []string{"validate"}, "plinth validate needs at least one FILE"},
		{"unknown flag", []string{"validate", "--frobnicate", "local"}, "unknown flag: --frobnicate"},
		{"unknown shorthand", []string{"validate", "-z", "local"}, "unknown shorthand flag: 'z'"},
		{"output yaml", []string{"validate", "--output", "yaml", "local"}, `--output "yaml" is not supported by plinth validate; allowed: text, json`},
		{"output yaml short", []string{"-o", "yaml", "validate", "local"}, `--output "yaml" is not supported`},
		{"catalog without value", []string{"validate", "local", "--catalog"}, "flag needs an argument: --catalog"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := plinth(t, tt.args...)
			r.wantExit(t, exitUsage)
			if !strings.Contains(r.stderr, "error: "+tt.msg) {
				t.Errorf("stderr lacks %q\n%v", tt.msg, r)
			}
			if !strings.Contains(r.stderr, "Run 'plinth validate --help' for usage.") {
				t.Errorf("stderr does not point at the help\n%v", r)
			}
			if r.stdout != "" {
				t.Errorf("stdout should be empty on a usage error\n%v", r)
			}
		})
	}
}

func TestValidateCatalogFile(t *testing.T) {
	dir := t.TempDir()
	t.Run("missing catalogue", func(t *testing.T) {
		r := plinth(t, "validate", "--catalog", filepath.Join(dir, "nope.yaml"), "local")
		r.wantExit(t, exitFailure)
		if !strings.Contains(r.stderr, "error: read catalogue:") {
			t.Errorf("stderr lacks the catalogue error\n%v", r)
		}
	})
	t.Run("broken catalogue", func(t *testing.T) {
		bad := writeFile(t, dir, "bad-catalog.yaml", []byte("source: x\nupdated: 2027-01-01\nregions: {}\nbogus: 1\n"))
		r := plinth(t, "validate", "--catalog", bad, "local")
		r.wantExit(t, exitFailure)
		if !strings.Contains(r.stderr, bad) {
			t.Errorf("stderr does not name the catalogue file\n%v", r)
		}
	})
}
