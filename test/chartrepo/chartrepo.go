// Package chartrepo serves a Helm chart repository (index.yaml and .tgz
// archives) on 127.0.0.1 for tests. No machine that runs Plinth's tests
// reaches the public chart repositories, so the tests install small TEST
// charts, written for them under charts/, that carry the names and versions
// of the upstream charts pinned in blueprints/versions/versions.yaml and
// install what Plinth's own resources need (the Prometheus Operator's CRDs,
// the actions-runner-controller CRDs) plus a ConfigMap recording the values
// that reached the chart.
//
// It follows Terratest's style: Start fails the test, StartE returns the
// error. The server stops when the test ends.
//
//	repo := chartrepo.Start(t, chartrepo.Pinned(t)...)
//	// helm/v3 Release: RepositoryOpts.Repo = repo.URL, Chart and Version the pinned ones
//
// # Test charts
//
// Every test chart renders a ConfigMap named ValuesConfigMap(release, chart)
// in the release namespace, labelled plinth.dev/test-chart=<chart>, whose
// data holds the values that matter under their dotted value path
// ("prometheus.prometheusSpec.retention") and every value as JSON under
// "values.json" (credential values left out). A string value is recorded
// as is, any other value as JSON (0, true, {"a":"b"}), a missing one as "".
// The templates take every value as optional. Pods run no real software
// (image registry.invalid/plinth-test/...: KWOK marks them Running without
// pulling) and meet the restricted Pod Security Standard.
//
//   - kube-prometheus-stack: crds/ with ServiceMonitor, PodMonitor and
//     PrometheusRule (monitoring.coreos.com/v1, minimal schemas keeping
//     unknown fields); Deployment and Service <release>-grafana (upstream
//     naming, unless grafana.enabled is false), Service <fullname>-prometheus.
//   - gha-runner-scale-set-controller: crds/ with AutoscalingRunnerSet,
//     AutoscalingListener, EphemeralRunnerSet and EphemeralRunner
//     (actions.github.com/v1alpha1); ServiceAccount and Deployment
//     <release>-gha-rs-controller.
//   - gha-runner-scale-set: the values ConfigMap (githubConfigUrl,
//     githubConfigSecret, minRunners, maxRunners, template.spec.nodeSelector,
//     template.spec.tolerations, ...) and, when the cluster serves
//     actions.github.com/v1alpha1 (the controller chart is installed), an
//     AutoscalingRunnerSet named runnerScaleSetName or the release name.
//   - gitlab-runner: the values ConfigMap (gitlabUrl, concurrent,
//     runners.secret, runners.config, ...) and Deployment <fullname>
//     (<release>-gitlab-runner, or the release name when it contains
//     "gitlab-runner").
package chartrepo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestingT is what the helpers need from a test: the method set of
// terratest's modules/testing.TestingT plus Cleanup, so a *testing.T or
// *testing.B can be passed. When it also has Logf and Helper (as
// *testing.T does), they are used.
type TestingT interface {
	Fail()
	FailNow()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Error(args ...any)
	Errorf(format string, args ...any)
	Name() string
	Cleanup(func())
}

// Chart is a chart to serve.
type Chart struct {
	// Name and Version are the chart's name and version (SemVer 2, as Helm
	// requires).
	Name, Version string
	// AppVersion is Chart.yaml's appVersion; empty: Version.
	AppVersion string
	// Files maps a path in the chart (values.yaml, templates/x.yaml,
	// templates/_helpers.tpl, crds/x.yaml, ...) to its content. Chart.yaml is
	// generated from Name, Version and AppVersion and must not be given.
	Files map[string]string
}

// ChartAPIVersion is the Chart.yaml (and index entry) apiVersion of the
// served charts: v2, Helm 3's.
const ChartAPIVersion = "v2"

// Server is a Helm chart repository (index.yaml + .tgz archives) on
// 127.0.0.1. Helm fetches <URL>/index.yaml, then the archive at the
// absolute URL the index gives: <URL>/charts/<name>-<version>.tgz.
type Server struct {
	// URL is the repository URL, http://127.0.0.1:<port> (no trailing
	// slash): what helm repo add or RepositoryOpts.Repo take.
	URL string
	// Charts are the served charts, in the order given.
	Charts []Chart
	// Index is the served index.yaml.
	Index []byte

	srv       *httptest.Server
	archives  map[string][]byte // URL path → .tgz
	mu        sync.Mutex
	requests  []string
	closeOnce sync.Once
}

// Start serves charts on a free loopback port until the test ends, failing
// the test on error.
func Start(t TestingT, charts ...Chart) *Server {
	helper(t)
	s, err := StartE(t, charts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// StartE serves charts on a free loopback port and returns the error
// instead of failing the test. The server is closed when the test ends
// (t.Cleanup); t may be nil, then call Close.
func StartE(t TestingT, charts ...Chart) (*Server, error) {
	if len(charts) == 0 {
		return nil, errors.New("chartrepo: no charts to serve")
	}
	s := &Server{Charts: slices.Clone(charts), archives: map[string][]byte{}}
	type entry struct {
		chart  Chart
		digest string
		path   string
	}
	var entries []entry
	seen := map[string]bool{}
	for _, c := range charts {
		if err := c.validate(); err != nil {
			return nil, err
		}
		id := c.Name + "-" + c.Version
		if seen[id] {
			return nil, fmt.Errorf("chartrepo: chart %s %s given twice", c.Name, c.Version)
		}
		seen[id] = true
		tgz, err := c.Archive()
		if err != nil {
			return nil, err
		}
		p := "/charts/" + id + ".tgz"
		s.archives[p] = tgz
		sum := sha256.Sum256(tgz)
		entries = append(entries, entry{chart: c, digest: hex.EncodeToString(sum[:]), path: p})
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/", s.serve)
	// httptest listens on 127.0.0.1:0; the index needs the address before
	// the server starts serving it.
	s.srv = httptest.NewUnstartedServer(mux)
	s.srv.Config.ReadHeaderTimeout = 10 * time.Second
	s.URL = "http://" + s.srv.Listener.Addr().String()

	now := time.Now().UTC()
	idx := indexFile{APIVersion: "v1", Entries: map[string][]indexEntry{}, Generated: now.Format(time.RFC3339Nano)}
	for _, e := range entries {
		idx.Entries[e.chart.Name] = append(idx.Entries[e.chart.Name], indexEntry{
			APIVersion:  ChartAPIVersion,
			Name:        e.chart.Name,
			Version:     e.chart.Version,
			AppVersion:  e.chart.appVersion(),
			Description: e.chart.description(),
			Type:        "application",
			URLs:        []string{s.URL + e.path},
			Digest:      e.digest,
			Created:     now.Format(time.RFC3339Nano),
		})
	}
	b, err := yaml.Marshal(idx)
	if err != nil {
		s.srv.Listener.Close()
		return nil, fmt.Errorf("chartrepo: index.yaml: %w", err)
	}
	s.Index = b
	s.srv.Start()

	if t != nil {
		t.Cleanup(s.Close)
		names := make([]string, len(entries))
		for i, e := range entries {
			names[i] = e.chart.Name + " " + e.chart.Version
		}
		logger(t)("chartrepo: serving %s at %s", strings.Join(names, ", "), s.URL)
	}
	return s, nil
}

// Close stops the server, waiting for requests in flight. Calling it again
// does nothing.
func (s *Server) Close() {
	s.closeOnce.Do(s.srv.Close)
}

// ArchiveURL returns the absolute URL of a chart's archive, as index.yaml
// gives it, or "" when the chart is not served.
func (s *Server) ArchiveURL(name, version string) string {
	p := "/charts/" + name + "-" + version + ".tgz"
	if _, ok := s.archives[p]; !ok {
		return ""
	}
	return s.URL + p
}

// Archive returns a served chart's .tgz.
func (s *Server) Archive(name, version string) ([]byte, bool) {
	b, ok := s.archives["/charts/"+name+"-"+version+".tgz"]
	return b, ok
}

// Requests returns the requests served so far, as "GET /index.yaml".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var body []byte
	switch p := r.URL.Path; {
	case p == "/index.yaml" || p == "/":
		w.Header().Set("Content-Type", "application/x-yaml")
		body = s.Index
	case s.archives[p] != nil:
		w.Header().Set("Content-Type", "application/gzip")
		body = s.archives[p]
	default:
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// indexFile is index.yaml as Helm 3 reads it (helm.sh/helm/v3/pkg/repo).
type indexFile struct {
	APIVersion string                  `yaml:"apiVersion"`
	Entries    map[string][]indexEntry `yaml:"entries"`
	Generated  string                  `yaml:"generated"`
}

type indexEntry struct {
	APIVersion  string   `yaml:"apiVersion"`
	Name        string   `yaml:"name"`
	Version     string   `yaml:"version"`
	AppVersion  string   `yaml:"appVersion,omitempty"`
	Description string   `yaml:"description,omitempty"`
	Type        string   `yaml:"type,omitempty"`
	URLs        []string `yaml:"urls"`
	// Digest is the hex SHA-256 of the archive, as `helm repo index` writes it.
	Digest  string `yaml:"digest"`
	Created string `yaml:"created"`
}

// chartYAML is the generated Chart.yaml.
type chartYAML struct {
	APIVersion  string `yaml:"apiVersion"`
	Name        string `yaml:"name"`
	Version     string `yaml:"version"`
	AppVersion  string `yaml:"appVersion,omitempty"`
	Description string `yaml:"description"`
	Type        string `yaml:"type"`
}

// semverRE is the version syntax Helm accepts (Masterminds/semver's
// NewVersion: SemVer 2, an optional v, minor and patch optional).
var semverRE = regexp.MustCompile(`^v?(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))?(\.(0|[1-9][0-9]*))?` +
	`(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)

// nameRE is a chart name that is also a valid path element and URL segment.
var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$`)

func (c Chart) validate() error {
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("chartrepo: chart name %q is not a valid chart name", c.Name)
	}
	if !semverRE.MatchString(c.Version) {
		return fmt.Errorf("chartrepo: chart %s: version %q is not a semantic version, which Helm requires", c.Name, c.Version)
	}
	for p := range c.Files {
		if p == "" || path.IsAbs(p) || path.Clean(p) != p || strings.HasPrefix(p, "../") || p == ".." || strings.Contains(p, `\`) {
			return fmt.Errorf("chartrepo: chart %s: file path %q is not a clean relative path", c.Name, p)
		}
		if p == "Chart.yaml" {
			return fmt.Errorf("chartrepo: chart %s: Chart.yaml is generated, do not give it in Files", c.Name)
		}
	}
	return nil
}

func (c Chart) appVersion() string {
	if c.AppVersion != "" {
		return c.AppVersion
	}
	return c.Version
}

func (c Chart) description() string {
	return "Plinth test chart standing in for " + c.Name + " " + c.Version + " (not the upstream chart)"
}

// ChartYAML returns the generated Chart.yaml.
func (c Chart) ChartYAML() ([]byte, error) {
	return yaml.Marshal(chartYAML{
		APIVersion:  ChartAPIVersion,
		Name:        c.Name,
		Version:     c.Version,
		AppVersion:  c.appVersion(),
		Description: c.description(),
		Type:        "application",
	})
}

// archiveTime is the modification time of every archived file, so that an
// archive (and its digest) depends only on the chart.
var archiveTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Archive returns the chart packaged as `helm package` does: a gzip'd tar
// with every file under <name>/ (Chart.yaml first, then Files by path).
func (c Chart) Archive() ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	chartYAML, err := c.ChartYAML()
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"Chart.yaml": chartYAML}
	for p, content := range c.Files {
		files[p] = []byte(content)
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Slice(paths, func(i, j int) bool {
		if (paths[i] == "Chart.yaml") != (paths[j] == "Chart.yaml") {
			return paths[i] == "Chart.yaml"
		}
		return paths[i] < paths[j]
	})

	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, p := range paths {
		b := files[p]
		hdr := &tar.Header{
			Name:     c.Name + "/" + p,
			Mode:     0o644,
			Size:     int64(len(b)),
			ModTime:  archiveTime,
			Typeflag: tar.TypeReg,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("chartrepo: chart %s: %s: %w", c.Name, p, err)
		}
		if _, err := tw.Write(b); err != nil {
			return nil, fmt.Errorf("chartrepo: chart %s: %s: %w", c.Name, p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("chartrepo: chart %s: %w", c.Name, err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("chartrepo: chart %s: %w", c.Name, err)
	}
	return buf.Bytes(), nil
}

// ValuesConfigMap returns the name of the ConfigMap in which a test chart
// records its values: <release>-<chart>-values.
func ValuesConfigMap(release, chart string) string {
	return release + "-" + chart + "-values"
}

// helper marks the caller as a test helper when t supports it.
func helper(t TestingT) {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
}

// logger returns t.Logf when t has it, else a no-op.
func logger(t TestingT) func(string, ...any) {
	if l, ok := t.(interface{ Logf(string, ...any) }); ok && t != nil {
		return l.Logf
	}
	return func(string, ...any) {}
}
