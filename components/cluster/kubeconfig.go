package cluster

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// kubeconfig is the subset of the kubeconfig format the component writes.
type kubeconfig struct {
	APIVersion     string         `yaml:"apiVersion"`
	Kind           string         `yaml:"kind"`
	Clusters       []namedCluster `yaml:"clusters"`
	Contexts       []namedContext `yaml:"contexts"`
	CurrentContext string         `yaml:"current-context"`
	Users          []namedUser    `yaml:"users"`
}

// namedCluster is a kubeconfig clusters entry.
type namedCluster struct {
	Name    string `yaml:"name"`
	Cluster struct {
		Server                   string `yaml:"server"`
		CertificateAuthorityData string `yaml:"certificate-authority-data"`
	} `yaml:"cluster"`
}

// namedContext is a kubeconfig contexts entry.
type namedContext struct {
	Name    string `yaml:"name"`
	Context struct {
		Cluster string `yaml:"cluster"`
		User    string `yaml:"user"`
	} `yaml:"context"`
}

// namedUser is a kubeconfig users entry.
type namedUser struct {
	Name string `yaml:"name"`
	User struct {
		Exec execConfig `yaml:"exec"`
	} `yaml:"user"`
}

// execConfig is a client-go exec credential plugin.
type execConfig struct {
	APIVersion      string   `yaml:"apiVersion"`
	Command         string   `yaml:"command"`
	Args            []string `yaml:"args"`
	InteractiveMode string   `yaml:"interactiveMode"`
}

// kubeconfigYAML renders a kubeconfig for an EKS cluster that gets its
// token from `aws eks get-token` (AWS CLI v2, the caller's credentials).
// region, when set, is passed to the CLI so the token does not depend on
// the environment's default region.
func kubeconfigYAML(clusterName, endpoint, caData, region string) (string, error) {
	var kc kubeconfig
	kc.APIVersion, kc.Kind, kc.CurrentContext = "v1", "Config", clusterName

	var cl namedCluster
	cl.Name = clusterName
	cl.Cluster.Server = endpoint
	cl.Cluster.CertificateAuthorityData = caData
	kc.Clusters = []namedCluster{cl}

	var cx namedContext
	cx.Name = clusterName
	cx.Context.Cluster, cx.Context.User = clusterName, clusterName
	kc.Contexts = []namedContext{cx}

	args := []string{"eks", "get-token", "--cluster-name", clusterName, "--output", "json"}
	if region != "" {
		args = append(args, "--region", region)
	}
	var u namedUser
	u.Name = clusterName
	u.User.Exec = execConfig{
		APIVersion:      "client.authentication.k8s.io/v1beta1",
		Command:         "aws",
		Args:            args,
		InteractiveMode: "Never",
	}
	kc.Users = []namedUser{u}

	out, err := yaml.Marshal(kc)
	if err != nil {
		return "", fmt.Errorf("render kubeconfig: %w", err)
	}
	return string(out), nil
}
