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
		// Image is the server image repository.
		Image string `yaml:"image" json:"image"`
		// TagSuffix follows v<version> in the image tag.
		TagSuffix string `yaml:"tagSuffix" json:"tagSuffix"`
	} `yaml:"mlflow" json:"mlflow"`
	// EKS holds the node AMI types and core add-on versions.
	EKS struct {
		// AMITypes are the managed node group AMI types.
		AMITypes struct {
			// System is the AMI type of the CPU system pool.
			System string `yaml:"system" json:"system"`
			// GPU is the AMI type of x86_64 GPU pools.
			GPU string `yaml:"gpu" json:"gpu"`
			// GPUArm is the AMI type of arm64 GPU pools.
			GPUArm string `yaml:"gpuArm" json:"gpuArm"`
		} `yaml:"amiTypes" json:"amiTypes"`
		// Addons maps a Kubernetes version to add-on name → version.
		Addons map[string]map[string]string `yaml:"addons" json:"addons"`
	} `yaml:"eks" json:"eks"`
	// Charts are the upstream Helm charts, by key.
	Charts map[string]Chart `yaml:"charts" json:"charts"`
	// Images are the container images Plinth deploys itself, by key.
	Images map[string]Image `yaml:"images" json:"images"`
	// Postgres is the tracking database engine pin.
	Postgres struct {
		// EngineVersion is the RDS PostgreSQL engine version.
		EngineVersion string `yaml:"engineVersion" json:"engineVersion"`
	} `yaml:"postgres" json:"postgres"`
}

// Chart is a pinned Helm chart.
type Chart struct {
	// Repository is the chart repository (https:// or oci://).
	Repository string `yaml:"repository" json:"repository"`
	// Chart is the chart's name in the repository.
	Chart string `yaml:"chart" json:"chart"`
	// Version is the exact chart version.
	Version string `yaml:"version" json:"version"`
}

// Image is a pinned container image.
type Image struct {
	// Repository is the image repository (registry/path).
	Repository string `yaml:"repository" json:"repository"`
	// Tag is the exact image tag.
	Tag string `yaml:"tag" json:"tag"`
}

// MLflowImage is the pinned MLflow server image for a version.
func (p Pins) MLflowImage(version string) string {
	return p.MLflow.Image + ":v" + version + p.MLflow.TagSuffix
}

// Ref is repository:tag.
func (i Image) Ref() string { return i.Repository + ":" + i.Tag }

// CoreAddons are the EKS add-ons every cluster gets, in install order.
var CoreAddons = []string{"vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver"}

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
	for _, k := range p.Kubernetes.Supported {
		for _, addon := range CoreAddons {
			if p.EKS.Addons[k][addon] == "" {
				return Pins{}, fmt.Errorf("versions.yaml: eks.addons[%q] has no version for %s", k, addon)
			}
		}
	}
	if p.EKS.AMITypes.System == "" || p.EKS.AMITypes.GPU == "" || p.EKS.AMITypes.GPUArm == "" {
		return Pins{}, fmt.Errorf("versions.yaml: eks.amiTypes needs system, gpu and gpuArm")
	}
	for k, c := range p.Charts {
		if c.Repository == "" || c.Chart == "" || c.Version == "" {
			return Pins{}, fmt.Errorf("versions.yaml: charts.%s needs repository, chart and version", k)
		}
	}
	for k, i := range p.Images {
		if i.Repository == "" || i.Tag == "" {
			return Pins{}, fmt.Errorf("versions.yaml: images.%s needs repository and tag", k)
		}
	}
	if p.Postgres.EngineVersion == "" {
		return Pins{}, fmt.Errorf("versions.yaml: postgres.engineVersion is empty")
	}
	return p, nil
}
