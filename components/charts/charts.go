// Package charts resolves the upstream Helm charts Plinth installs: the
// pinned chart of versions.yaml, optionally pulled from one mirror instead
// of its upstream repository (for air-gapped clusters), in the shape the
// Kubernetes provider's helm.sh/v3 Release wants it. It is a plain package, not a
// component.
package charts

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/blueprints/versions"
)

// Repository schemes a chart can come from.
const (
	schemeOCI   = "oci://"
	schemeHTTPS = "https://"
	schemeHTTP  = "http://"
)

// Ref is where to install a pinned chart from. For an OCI registry Chart
// is the full reference (oci://registry/path/<chart>) and Repository is
// empty; for an http(s) chart repository Chart is the chart's name in
// Repository.
type Ref struct {
	// Chart is the chart name in Repository, or an oci:// reference.
	Chart string
	// Repository is the http(s) chart repository URL ("" for OCI).
	Repository string
	// Version is the exact chart version.
	Version string
}

// String renders the reference as shown in plans: repository/chart@version
// or oci://…/chart@version.
func (r Ref) String() string {
	if r.Repository == "" {
		return r.Chart + "@" + r.Version
	}
	return strings.TrimRight(r.Repository, "/") + "/" + r.Chart + "@" + r.Version
}

// Resolve returns the pinned chart key of versions.yaml. When mirror is
// set it replaces the repository of the chart: an oci:// mirror gives
// Chart = mirror/<chart>, an http(s) mirror gives Repository = mirror. An
// unknown key or a mirror of another scheme is an error.
func Resolve(key, mirror string) (Ref, error) {
	return resolve(versions.Get().Charts, key, mirror)
}

func resolve(pins map[string]versions.Chart, key, mirror string) (Ref, error) {
	pin, ok := pins[key]
	if !ok {
		return Ref{}, fmt.Errorf("chart %q is not pinned in versions.yaml; pinned: %s", key, strings.Join(slices.Sorted(maps.Keys(pins)), ", "))
	}
	if pin.Chart == "" || pin.Version == "" {
		return Ref{}, fmt.Errorf("chart %q: versions.yaml gives no chart name or version", key)
	}
	repo := pin.Repository
	if mirror != "" {
		if err := ValidateMirror(mirror); err != nil {
			return Ref{}, err
		}
		repo = mirror
	}
	repo = strings.TrimRight(repo, "/")
	switch {
	case strings.HasPrefix(repo, schemeOCI):
		return Ref{Chart: repo + "/" + pin.Chart, Version: pin.Version}, nil
	case strings.HasPrefix(repo, schemeHTTPS), strings.HasPrefix(repo, schemeHTTP):
		return Ref{Chart: pin.Chart, Repository: repo, Version: pin.Version}, nil
	}
	return Ref{}, fmt.Errorf("chart %q: repository %q is neither oci:// nor http(s)://", key, pin.Repository)
}

// ValidateMirror checks a charts mirror: an oci:// registry path or an
// http(s):// chart repository, with a host.
func ValidateMirror(mirror string) error {
	for _, scheme := range []string{schemeOCI, schemeHTTPS, schemeHTTP} {
		if rest, ok := strings.CutPrefix(mirror, scheme); ok {
			if host, _, _ := strings.Cut(rest, "/"); host == "" {
				return fmt.Errorf("charts mirror %q has no host", mirror)
			}
			return nil
		}
	}
	return fmt.Errorf("charts mirror %q must start with oci://, https:// or http://", mirror)
}

// Release timeouts and history.
const (
	// releaseTimeoutSeconds bounds an install or upgrade: monitoring waits
	// for volumes and several deployments.
	releaseTimeoutSeconds = 900
	// releaseMaxHistory keeps this many release revisions for rollbacks.
	releaseMaxHistory = 10
)

// ReleaseArgs returns the helm.sh/v3 Release arguments installing r as release
// name in namespace with values. The release name is fixed (no random
// suffix), so object names are known in advance; the namespace must exist.
func (r Ref) ReleaseArgs(name, namespace string, values pulumi.Map) *ReleaseArgs {
	args := &ReleaseArgs{
		Name:            pulumi.String(name),
		Namespace:       pulumi.String(namespace),
		Chart:           pulumi.String(r.Chart),
		Version:         pulumi.String(r.Version),
		Values:          values,
		CreateNamespace: pulumi.Bool(false),
		CleanupOnFail:   pulumi.Bool(true),
		Timeout:         pulumi.Int(releaseTimeoutSeconds),
		MaxHistory:      pulumi.Int(releaseMaxHistory),
	}
	if r.Repository != "" {
		args.RepositoryOpts = pulumi.StringMap{"repo": pulumi.String(r.Repository)}
	}
	return args
}
