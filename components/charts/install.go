package charts

import (
	"fmt"

	helmv4 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v4"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Mode says how a chart reaches the cluster.
type Mode int

const (
	// ModeRelease installs the chart as a Helm release (helm.sh/v3 Release):
	// Helm owns the objects, `helm list` shows the release, and upgrades
	// and rollbacks go through Helm. The default.
	ModeRelease Mode = iota
	// ModeTemplate templates the chart in the provider (helm/v4 Chart)
	// into ordinary Kubernetes resources, each one in the Pulumi state.
	// This is what rendering to YAML needs (a provider with
	// renderYamlToDirectory writes resources, and cannot install a
	// release).
	ModeTemplate
)

// String names the mode as plans and errors show it.
func (m Mode) String() string {
	switch m {
	case ModeRelease:
		return "release"
	case ModeTemplate:
		return "template"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Install installs r as release name in namespace with values, the way
// mode says: a helm.sh/v3 Release (ModeRelease) or a helm/v4 Chart
// (ModeTemplate). The logical name is the Pulumi resource name. Objects of
// the chart's CRDs made elsewhere should DependsOn the returned resource.
func Install(ctx *pulumi.Context, logical string, r Ref, name, namespace string, values pulumi.Map, mode Mode, opts ...pulumi.ResourceOption) (pulumi.Resource, error) {
	switch mode {
	case ModeRelease:
		return NewRelease(ctx, logical, r.ReleaseArgs(name, namespace, values), opts...)
	case ModeTemplate:
		return helmv4.NewChart(ctx, logical, r.ChartArgs(name, namespace, values), opts...)
	}
	return nil, fmt.Errorf("chart %s: unknown install mode %s", r, mode)
}

// ChartArgs returns the helm/v4 Chart arguments templating r as release
// name in namespace with values: the chart's CRDs included, and Pulumi
// awaiting each object as it does for any resource.
func (r Ref) ChartArgs(name, namespace string, values pulumi.Map) *helmv4.ChartArgs {
	args := &helmv4.ChartArgs{
		Name:      pulumi.String(name),
		Namespace: pulumi.String(namespace),
		Chart:     pulumi.String(r.Chart),
		Version:   pulumi.String(r.Version),
		Values:    values,
	}
	if r.Repository != "" {
		args.RepositoryOpts = &helmv4.RepositoryOptsArgs{Repo: pulumi.String(r.Repository)}
	}
	return args
}
