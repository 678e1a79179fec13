package chartrepo

import (
	"bytes"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/blueprints/versions"
)

// TestChartValidation: what Helm would refuse is refused before serving.
func TestChartValidation(t *testing.T) {
	files := map[string]string{"values.yaml": "a: 1\n"}
	for _, tc := range []struct {
		name  string
		chart Chart
		want  string
	}{
		{"TODO version", Chart{Name: "x", Version: "TODO", Files: files}, "not a semantic version"},
		{"empty version", Chart{Name: "x", Files: files}, "not a semantic version"},
		{"bad name", Chart{Name: "a/b", Version: "1.0.0"}, "not a valid chart name"},
		{"Chart.yaml given", Chart{Name: "x", Version: "1.0.0", Files: map[string]string{"Chart.yaml": ""}}, "generated"},
		{"parent path", Chart{Name: "x", Version: "1.0.0", Files: map[string]string{"../x": ""}}, "clean relative path"},
		{"absolute path", Chart{Name: "x", Version: "1.0.0", Files: map[string]string{"/x": ""}}, "clean relative path"},
		{"unclean path", Chart{Name: "x", Version: "1.0.0", Files: map[string]string{"templates//x.yaml": ""}}, "clean relative path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.chart.validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	for _, v := range []string{"1.0.0", "0.12.1", "v1.2.3", "1.2", "77.6.0-rc.1", "1.0.0+build.5"} {
		if err := (Chart{Name: "x", Version: v}).validate(); err != nil {
			t.Errorf("version %q: %v", v, err)
		}
	}
}

// TestStartRefuses: duplicates and empty repositories are mistakes.
func TestStartRefuses(t *testing.T) {
	if _, err := StartE(t); err == nil {
		t.Error("StartE with no charts succeeded")
	}
	c := Chart{Name: "x", Version: "1.0.0"}
	if _, err := StartE(t, c, c); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("StartE with a duplicate chart: %v", err)
	}
}

// TestArchiveDeterministic: the same chart gives the same bytes (and digest).
func TestArchiveDeterministic(t *testing.T) {
	files, err := TestChartFiles("kube-prometheus-stack")
	if err != nil {
		t.Fatal(err)
	}
	c := Chart{Name: "kube-prometheus-stack", Version: "1.0.0", Files: files}
	a, err := c.Archive()
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Archive()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two archives of the same chart differ")
	}
}

// TestPinnedMapping: every pin gets its test chart with the pinned name and
// version; a pin without a test chart, or with a version Helm refuses, is an
// error naming the key.
func TestPinnedMapping(t *testing.T) {
	pins := map[string]versions.Chart{}
	for key, pin := range versions.Get().Charts {
		pin.Version = "9.8.7"
		pins[key] = pin
	}
	cs, err := pinned(pins)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != len(pins) {
		t.Fatalf("%d charts for %d pins", len(cs), len(pins))
	}
	for _, c := range cs {
		if c.Version != "9.8.7" || c.Files["values.yaml"] == "" || c.Files["templates/values-configmap.yaml"] == "" {
			t.Errorf("chart %s %s: files %d, values.yaml or the values ConfigMap missing", c.Name, c.Version, len(c.Files))
		}
		if _, err := c.Archive(); err != nil {
			t.Error(err)
		}
	}

	_, err = pinned(map[string]versions.Chart{"no-such-chart": {Chart: "no-such-chart", Version: "1.0.0"}})
	if err == nil || !strings.Contains(err.Error(), "charts.no-such-chart") {
		t.Errorf("pin without a test chart: %v", err)
	}
	_, err = pinned(map[string]versions.Chart{"gitlab-runner": {Chart: "gitlab-runner", Version: "TODO"}})
	if err == nil || !strings.Contains(err.Error(), "charts.gitlab-runner") || !strings.Contains(err.Error(), `"TODO"`) {
		t.Errorf("pin with version TODO: %v", err)
	}
}
