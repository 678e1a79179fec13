package charts

import (
	"errors"
	"reflect"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/utilities"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ReleaseType is the type token of a Helm release in the Kubernetes provider.
const ReleaseType = "kubernetes:helm.sh/v3:Release"

// Release is the Kubernetes provider's helm.sh/v3 Release, registered here
// instead of through the SDK's helm/v3 package: that package's Chart
// imports kubernetes/yaml and with it every Kubernetes API group of the SDK
// (66 packages where Plinth uses about ten), which made most of a cold
// build of cmd/environment and cmd/plinth and a good part of their
// start-up. The engine and the provider see the same resource as
// helmv3.NewRelease makes.
type Release struct {
	pulumi.CustomResourceState
}

// ReleaseArgs are the inputs of a Release that Plinth sets; the names and
// shapes are the provider's (helmv3.ReleaseArgs).
type ReleaseArgs struct {
	// Chart is the chart name in the repository, or an oci:// reference.
	Chart pulumi.StringInput
	// Version is the exact chart version.
	Version pulumi.StringPtrInput
	// Name is the release name.
	Name pulumi.StringPtrInput
	// Namespace is where the release goes.
	Namespace pulumi.StringPtrInput
	// Values are the chart values.
	Values pulumi.MapInput
	// RepositoryOpts holds "repo", the chart repository URL (absent for OCI).
	RepositoryOpts pulumi.StringMapInput
	// CreateNamespace creates the namespace when missing.
	CreateNamespace pulumi.BoolPtrInput
	// CleanupOnFail deletes what a failed upgrade created.
	CleanupOnFail pulumi.BoolPtrInput
	// Timeout bounds an install or upgrade, in seconds.
	Timeout pulumi.IntPtrInput
	// MaxHistory is how many release revisions Helm keeps.
	MaxHistory pulumi.IntPtrInput
}

// releaseArgs is the plain shape of ReleaseArgs as the provider reads it.
type releaseArgs struct {
	Chart           string            `pulumi:"chart"`
	CleanupOnFail   *bool             `pulumi:"cleanupOnFail"`
	Compat          *string           `pulumi:"compat"`
	CreateNamespace *bool             `pulumi:"createNamespace"`
	MaxHistory      *int              `pulumi:"maxHistory"`
	Name            *string           `pulumi:"name"`
	Namespace       *string           `pulumi:"namespace"`
	RepositoryOpts  map[string]string `pulumi:"repositoryOpts"`
	Timeout         *int              `pulumi:"timeout"`
	Values          map[string]any    `pulumi:"values"`
	Version         *string           `pulumi:"version"`
}

// releaseInputs is ReleaseArgs with the field the provider wants set
// always (compat, as helmv3.NewRelease sets it).
type releaseInputs struct {
	Chart           pulumi.StringInput
	CleanupOnFail   pulumi.BoolPtrInput
	Compat          pulumi.StringPtrInput
	CreateNamespace pulumi.BoolPtrInput
	MaxHistory      pulumi.IntPtrInput
	Name            pulumi.StringPtrInput
	Namespace       pulumi.StringPtrInput
	RepositoryOpts  pulumi.StringMapInput
	Timeout         pulumi.IntPtrInput
	Values          pulumi.MapInput
	Version         pulumi.StringPtrInput
}

// ElementType is the plain shape of the inputs, as the Pulumi SDK requires.
func (releaseInputs) ElementType() reflect.Type {
	return reflect.TypeOf((*releaseArgs)(nil)).Elem()
}

// NewRelease registers a helm.sh/v3 Release, as helmv3.NewRelease does.
func NewRelease(ctx *pulumi.Context, name string, args *ReleaseArgs, opts ...pulumi.ResourceOption) (*Release, error) {
	if args == nil || args.Chart == nil {
		return nil, errors.New("helm release " + name + ": a chart is required")
	}
	in := releaseInputs{
		Chart:           args.Chart,
		CleanupOnFail:   args.CleanupOnFail,
		Compat:          pulumi.StringPtr("true"),
		CreateNamespace: args.CreateNamespace,
		MaxHistory:      args.MaxHistory,
		Name:            args.Name,
		Namespace:       args.Namespace,
		RepositoryOpts:  args.RepositoryOpts,
		Timeout:         args.Timeout,
		Values:          args.Values,
		Version:         args.Version,
	}
	var r Release
	if err := ctx.RegisterResource(ReleaseType, name, in, &r, utilities.PkgResourceDefaultOpts(opts)...); err != nil {
		return nil, err
	}
	return &r, nil
}
