package versions

import (
	"strings"
	"testing"
)

func TestPinsParse(t *testing.T) {
	p := Get()
	if p.Kubernetes.Default == "" || len(p.Kubernetes.Supported) == 0 || p.MLflow.Default == "" {
		t.Fatalf("pins incomplete: %+v", p)
	}
}

func TestParseRejectsBadPins(t *testing.T) {
	tests := map[string]struct{ yaml, want string }{
		"default not supported": {"kubernetes: {default: \"1.99\", supported: [\"1.33\"]}\nmlflow: {default: 2.0.0}\n", "not in kubernetes.supported"},
		"unknown field":         {"kubernetes: {default: \"1.33\", supported: [\"1.33\"]}\nmlflow: {default: 2.0.0}\nhelm: {}\n", "field helm not found"},
		"no mlflow":             {"kubernetes: {default: \"1.33\", supported: [\"1.33\"]}\n", "mlflow.default is empty"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error containing %q, got %v", tt.want, err)
			}
		})
	}
}
