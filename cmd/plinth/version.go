package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/blueprints/catalog"
	"github.com/plinth-dev/plinth/blueprints/versions"
)

// version is set at build time with -ldflags "-X main.version=v0.1.0".
var version = ""

// buildVersion returns the version stamped at build time, else the module
// version, else "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

// versionInfo is the JSON shape of `plinth version`.
type versionInfo struct {
	Version        string        `json:"version"`
	Go             string        `json:"go"`
	Platform       string        `json:"platform"`
	APIVersion     string        `json:"blueprintApiVersion"`
	CatalogUpdated string        `json:"catalogUpdated"`
	Pins           versions.Pins `json:"pins"`
}

func newCmdVersion(ios *IOStreams, g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the plinth version, the blueprint API version and the pinned versions",
		Example: `  plinth version
  plinth version --output json`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			info := versionInfo{
				Version:    buildVersion(),
				Go:         runtime.Version(),
				Platform:   runtime.GOOS + "/" + runtime.GOARCH,
				APIVersion: blueprints.APIVersion,
				Pins:       versions.Get(),
			}
			cat, err := catalog.Default()
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			info.CatalogUpdated = cat.Updated
			if g.json() {
				return writeJSON(ios.Out, info)
			}
			w := ios.Out
			fmt.Fprintf(w, "plinth %s (%s, %s)\n", info.Version, info.Go, info.Platform)
			fmt.Fprintf(w, "blueprint API:      %s\n", info.APIVersion)
			fmt.Fprintf(w, "region catalogue:   updated %s\n", info.CatalogUpdated)
			fmt.Fprintf(w, "kubernetes (EKS):   %s by default; supported %v\n", info.Pins.Kubernetes.Default, info.Pins.Kubernetes.Supported)
			fmt.Fprintf(w, "mlflow:             %s by default\n", info.Pins.MLflow.Default)
			return nil
		},
	}
}
