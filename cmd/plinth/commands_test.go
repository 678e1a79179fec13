package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/blueprints/versions"
)

func TestSchema(t *testing.T) {
	for _, args := range [][]string{{"schema"}, {"schema", "-o", "json"}, {"schema", "-o", "text"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := plinth(t, args...)
			r.wantExit(t, exitOK)
			var got struct {
				ID     string `json:"$id"`
				Schema string `json:"$schema"`
			}
			r.decodeJSON(t, &got)
			if got.ID != blueprints.SchemaID {
				t.Errorf("$id = %q, want %q", got.ID, blueprints.SchemaID)
			}
			if !strings.Contains(got.Schema, "2020-12") {
				t.Errorf("$schema = %q, want draft 2020-12", got.Schema)
			}
			if !bytes.Equal([]byte(r.stdout), blueprints.Schema()) {
				t.Errorf("output differs from blueprints.Schema()")
			}
		})
	}
	t.Run("argument", func(t *testing.T) {
		plinth(t, "schema", "extra").wantExit(t, exitUsage)
	})
}

func TestVersion(t *testing.T) {
	pins := versions.Get()
	if pins.Kubernetes.Default == "" {
		t.Fatal("no pinned Kubernetes default")
	}
	t.Run("text", func(t *testing.T) {
		r := plinth(t, "version")
		r.wantExit(t, exitOK)
		for _, s := range []string{
			"plinth ",
			"blueprint API:      " + blueprints.APIVersion,
			"kubernetes (EKS):   " + pins.Kubernetes.Default + " by default",
			"mlflow:             " + pins.MLflow.Default,
		} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("stdout lacks %q\n%v", s, r)
			}
		}
	})
	t.Run("json", func(t *testing.T) {
		r := plinth(t, "version", "--output", "json")
		r.wantExit(t, exitOK)
		var got struct {
			Version        string `json:"version"`
			Go             string `json:"go"`
			APIVersion     string `json:"blueprintApiVersion"`
			CatalogUpdated string `json:"catalogUpdated"`
			Pins           struct {
				Kubernetes struct {
					Default   string   `json:"default"`
					Supported []string `json:"supported"`
				} `json:"kubernetes"`
				MLflow struct {
					Default string `json:"default"`
				} `json:"mlflow"`
			} `json:"pins"`
		}
		r.decodeJSON(t, &got)
		if got.Version == "" || got.Version != buildVersion() {
			t.Errorf("version = %q, want %q", got.Version, buildVersion())
		}
		if got.Pins.Kubernetes.Default != pins.Kubernetes.Default || len(got.Pins.Kubernetes.Supported) != len(pins.Kubernetes.Supported) {
			t.Errorf("pins.kubernetes = %+v, want %+v", got.Pins.Kubernetes, pins.Kubernetes)
		}
		if got.Pins.MLflow.Default != pins.MLflow.Default || got.APIVersion != blueprints.APIVersion || got.Go == "" {
			t.Errorf("got %+v", got)
		}
		if got.CatalogUpdated != embeddedCatalog(t).Updated {
			t.Errorf("catalogUpdated = %q", got.CatalogUpdated)
		}
	})
	t.Run("stamped", func(t *testing.T) {
		old := version
		version = "v9.8.7"
		t.Cleanup(func() { version = old })
		r := plinth(t, "version")
		r.wantExit(t, exitOK)
		if !strings.HasPrefix(r.stdout, "plinth v9.8.7 (") {
			t.Errorf("stdout does not start with the stamped version\n%v", r)
		}
	})
	t.Run("argument", func(t *testing.T) {
		plinth(t, "version", "extra").wantExit(t, exitUsage)
	})
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		t.Run(shell, func(t *testing.T) {
			r := plinth(t, "completion", shell)
			r.wantExit(t, exitOK)
			if len(r.stdout) < 200 || !strings.Contains(r.stdout, "plinth") {
				t.Errorf("%s: %d bytes of script, not naming plinth\n%s", shell, len(r.stdout), r.stdout)
			}
			if r.stderr != "" {
				t.Errorf("stderr: %s", r.stderr)
			}
		})
	}
	for _, tt := range []struct {
		name string
		args []string
		msg  string
	}{
		{"no shell", []string{"completion"}, "completion takes one shell: bash, zsh, fish or powershell"},
		{"tcsh", []string{"completion", "tcsh"}, `shell "tcsh" is not supported; allowed: bash, zsh, fish, powershell`},
		{"two shells", []string{"completion", "bash", "zsh"}, "completion takes one shell"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := plinth(t, tt.args...)
			r.wantExit(t, exitUsage)
			if !strings.Contains(r.stderr, tt.msg) || r.stdout != "" {
				t.Errorf("want only the usage error %q\n%v", tt.msg, r)
			}
		})
	}
}

func TestRootUsage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no command", nil, exitOK, "Usage:"},
		{"unknown command", []string{"deploy"}, exitUsage, `unknown command "deploy" for "plinth"`},
		{"unknown flag", []string{"--frobnicate"}, exitUsage, "unknown flag: --frobnicate"},
		{"output yaml", []string{"version", "--output=yaml"}, exitUsage, `--output "yaml" is not supported`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := plinth(t, tt.args...)
			r.wantExit(t, tt.code)
			if !strings.Contains(r.stdout+r.stderr, tt.msg) {
				t.Errorf("output lacks %q\n%v", tt.msg, r)
			}
		})
	}
}

// allCommands walks the command tree.
func allCommands(c *cobra.Command) []*cobra.Command {
	cmds := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		cmds = append(cmds, allCommands(sub)...)
	}
	return cmds
}

// Every command has an example and its --help works.
func TestEveryCommandHelp(t *testing.T) {
	root := newRootCmd(&IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
	cmds := allCommands(root)
	want := []string{
		"plinth", "plinth blueprint", "plinth blueprint copy", "plinth catalog", "plinth catalog refresh",
		"plinth catalog show", "plinth completion", "plinth schema", "plinth validate", "plinth version",
	}
	var paths []string
	for _, c := range cmds {
		paths = append(paths, c.CommandPath())
	}
	for _, p := range want {
		if !strings.Contains(strings.Join(paths, "\n")+"\n", p+"\n") {
			t.Errorf("command %q is missing; the tree has %v", p, paths)
		}
	}

	for _, c := range cmds {
		path := c.CommandPath()
		t.Run(path, func(t *testing.T) {
			if strings.TrimSpace(c.Example) == "" {
				t.Errorf("%s has no Example", path)
			}
			if strings.TrimSpace(c.Short) == "" {
				t.Errorf("%s has no Short", path)
			}
			args := append(strings.Fields(path)[1:], "--help")
			r := plinth(t, args...)
			r.wantExit(t, exitOK)
			if !strings.Contains(r.stdout, "Usage:") || !strings.Contains(r.stdout, "Examples:") {
				t.Errorf("help lacks Usage or Examples\n%v", r)
			}
			if r.stderr != "" {
				t.Errorf("stderr: %s", r.stderr)
			}
		})
	}
}

// The JSON outputs are plain JSON objects, not HTML-escaped.
func TestJSONNotHTMLEscaped(t *testing.T) {
	r := plinth(t, "validate", "-o", "json", "production")
	r.wantExit(t, exitOK)
	if strings.Contains(r.stdout, `\u003c`) || strings.Contains(r.stdout, `\u0026`) {
		t.Errorf("JSON is HTML-escaped:\n%s", r.stdout)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatal(err)
	}
}
