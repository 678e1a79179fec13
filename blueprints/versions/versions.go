// Package versions holds every version that decides what gets deployed
// (Kubernetes, server images; later charts and add-ons), pinned in one
// embedded file, versions.yaml.
package versions

import (
	"bytes"
	_ "embed"
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

//go:embed versions.yaml
var data []byte

// Pins is the content of versions.yaml.
type Pins struct {
	// Kubernetes is the EKS Kubernetes version pin.
	Kubernetes struct {
		// Default is used when a blueprint does not set cluster.kubernetesVersion.
		Default string `yaml:"default" json:"default"`
		// Supported are the versions a blueprint may ask for.
		Supported []string `yaml:"supported" json:"supported"`
	} `yaml:"kubernetes" json:"kubernetes"`
	// MLflow is the tracking server image pin.
	MLflow struct {
		// Default is used when a blueprint does not set tracking.version.
		Default string `yaml:"default" json:"default"`
	} `yaml:"mlflow" json:"mlflow"`
}

var pins = mustParse(data)

// Get returns the pinned versions.
func Get() Pins { return pins }

func mustParse(b []byte) Pins {
	p, err := parse(b)
	if err != nil {
		// versions.yaml is embedded and checked by the tests; a broken one
		// is a build defect, not user input.
		panic(err)
	}
	return p
}

func parse(b []byte) (Pins, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var p Pins
	if err := dec.Decode(&p); err != nil {
		return Pins{}, fmt.Errorf("versions.yaml: %w", err)
	}
	if !slices.Contains(p.Kubernetes.Supported, p.Kubernetes.Default) {
		return Pins{}, fmt.Errorf("versions.yaml: kubernetes.default %q is not in kubernetes.supported", p.Kubernetes.Default)
	}
	if p.MLflow.Default == "" {
		return Pins{}, fmt.Errorf("versions.yaml: mlflow.default is empty")
	}
	return p, nil
}
