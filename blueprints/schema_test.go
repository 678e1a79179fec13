package blueprints

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/invopop/jsonschema"
	sjs "github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite generated files (schema.json, golden files) instead of comparing")

func generateSchemaFromSource(t *testing.T) []byte {
	t.Helper()
	r := &jsonschema.Reflector{}
	if err := r.AddGoComments("github.com/plinth-dev/plinth/blueprints", "./"); err != nil {
		t.Fatalf("read doc comments: %v", err)
	}
	out, err := GenerateSchema(r.CommentMap)
	if err != nil {
		t.Fatalf("generate schema: %v", err)
	}
	return out
}

// TestSchemaUpToDate fails when schema.json no longer matches the Go types;
// run `go test ./blueprints -run TestSchemaUpToDate -update` to regenerate.
func TestSchemaUpToDate(t *testing.T) {
	got := generateSchemaFromSource(t)
	if *update {
		if err := os.WriteFile("schema.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, Schema()) {
		t.Fatalf("schema.json is out of date with the Go types; run: go test ./blueprints -run TestSchemaUpToDate -update")
	}
}

func compileSchema(t *testing.T) *sjs.Schema {
	t.Helper()
	doc, err := sjs.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatalf("schema.json is not JSON: %v", err)
	}
	c := sjs.NewCompiler()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatalf("schema.json does not compile as JSON Schema: %v", err)
	}
	return s
}

// yamlToJSONValue decodes YAML into the generic values the JSON Schema
// validator expects.
func yamlToJSONValue(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return normalize(v)
}

func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	case int:
		return float64(x)
	default:
		return x
	}
}

func TestSchemaAcceptsShippedBlueprints(t *testing.T) {
	s := compileSchema(t)
	for _, name := range ShippedNames() {
		data, _ := Shipped(name)
		if err := s.Validate(yamlToJSONValue(t, data)); err != nil {
			t.Errorf("%s: schema rejects a shipped blueprint: %v", name, err)
		}
	}
}

func TestSchemaRejects(t *testing.T) {
	s := compileSchema(t)
	base, _ := Shipped("gpu-training")
	cases := map[string]map[string]any{
		"unknown field":        {"spec.network.natGateway": "single"},
		"bad provider":         {"spec.provider": "gcp"},
		"azs out of range":     {"spec.network.availabilityZones": 9},
		"pool without maxSize": {"spec.gpuNodePools[0].maxSize": nil},
		"unknown addon":        {"spec.addons.serving": map[string]any{"enabled": true}},
		"missing owner tag":    {"spec.tags.owner": nil},
		"bad dashboard":        {"spec.monitoring.grafana.dashboards[0]": "gpus"},
	}
	for name, overrides := range cases {
		t.Run(name, func(t *testing.T) {
			doc := yamlToJSONValue(t, base)
			for path, value := range overrides {
				setJSONPath(t, doc, path, value)
			}
			if err := s.Validate(doc); err == nil {
				t.Errorf("schema accepted a blueprint with %s", name)
			}
		})
	}
}

// setJSONPath sets (or, for nil, deletes) a value in a decoded document.
func setJSONPath(t *testing.T, doc any, path string, value any) {
	t.Helper()
	steps, err := parsePath(path)
	if err != nil {
		t.Fatal(err)
	}
	cur := doc
	for i, s := range steps {
		last := i == len(steps)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if value == nil {
					delete(c, s.key)
				} else {
					c[s.key] = normalize(value)
				}
				return
			}
			if _, ok := c[s.key]; !ok {
				c[s.key] = map[string]any{}
			}
			cur = c[s.key]
		case []any:
			if last {
				c[s.index] = normalize(value)
				return
			}
			cur = c[s.index]
		default:
			t.Fatalf("path %s: cannot step into %T", path, cur)
		}
	}
}
