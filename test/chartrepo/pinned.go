package chartrepo

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"

	"github.com/plinth-dev/plinth/blueprints/versions"
)

// charts holds the test charts, one directory per key of versions.yaml's
// charts (all: keeps templates/_helpers.tpl).
//
//go:embed all:charts
var charts embed.FS

// Pinned returns a test chart for every chart pinned in versions.yaml
// (versions.Get().Charts), each with the pinned chart name and version, in
// the order of their keys. It fails the test when a pin has no test chart
// or a version Helm would refuse.
func Pinned(t TestingT) []Chart {
	helper(t)
	cs, err := PinnedE()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// PinnedE is Pinned returning the error.
func PinnedE() ([]Chart, error) {
	return pinned(versions.Get().Charts)
}

func pinned(pins map[string]versions.Chart) ([]Chart, error) {
	if len(pins) == 0 {
		return nil, errors.New("chartrepo: versions.yaml pins no charts")
	}
	var out []Chart
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(pins)) {
		pin := pins[key]
		files, err := TestChartFiles(key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c := Chart{Name: pin.Chart, Version: pin.Version, Files: files}
		if err := c.validate(); err != nil {
			errs = append(errs, fmt.Errorf("versions.yaml charts.%s: %w", key, err))
			continue
		}
		out = append(out, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// TestChartFiles returns the files of the test chart standing in for the
// chart pinned under key in versions.yaml (charts/<key>/ in this package),
// Chart.yaml excepted.
func TestChartFiles(key string) (map[string]string, error) {
	root := path.Join("charts", key)
	if fi, err := fs.Stat(charts, root); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("chartrepo: no test chart for versions.yaml charts.%s: add test/chartrepo/charts/%s/", key, key)
	}
	files := map[string]string{}
	err := fs.WalkDir(charts, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(charts, p)
		if err != nil {
			return err
		}
		files[p[len(root)+1:]] = string(b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("chartrepo: test chart %s: %w", key, err)
	}
	return files, nil
}
