package blueprints

import (
	"embed"
	"path"
	"strings"
)

// shipped holds the blueprints that come with Plinth, so `plinth validate
// local` works by name from any directory.
//
//go:embed local.yaml gpu-training.yaml production.yaml
var shipped embed.FS

// ShippedDir is where the shipped blueprints live in the repository; errors
// in a shipped blueprint name this path.
const ShippedDir = "blueprints"

// ShippedNames returns the names of the shipped blueprints (without .yaml).
func ShippedNames() []string {
	entries, _ := shipped.ReadDir(".")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return names
}

// Shipped returns the text of a shipped blueprint by name ("local" or
// "local.yaml").
func Shipped(name string) ([]byte, bool) {
	return shippedByName(name)
}

// shippedPath is the repository path of a shipped blueprint, used in errors.
func shippedPath(name string) string {
	base := path.Base(name)
	if !strings.HasSuffix(base, ".yaml") {
		base += ".yaml"
	}
	return ShippedDir + "/" + base
}

func shippedByName(name string) ([]byte, bool) {
	base := path.Base(name)
	if strings.Contains(name, "/") && path.Dir(name) != ShippedDir {
		return nil, false
	}
	if !strings.HasSuffix(base, ".yaml") {
		base += ".yaml"
	}
	data, err := shipped.ReadFile(base)
	return data, err == nil
}
