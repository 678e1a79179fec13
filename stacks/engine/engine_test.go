package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/stacks"
	"github.com/plinth-dev/plinth/stacks/engine/enginetest"
)

func TestGeneratePassword(t *testing.T) {
	urlSafe := regexp.MustCompile(`^[A-Za-z0-9_-]{32}$`)
	seen := map[string]bool{}
	for range 100 {
		p, err := generatePassword()
		if err != nil {
			t.Fatal(err)
		}
		if !urlSafe.MatchString(p) {
			t.Fatalf("password %q is not 32 URL-safe characters", p)
		}
		if seen[p] {
			t.Fatalf("password %q generated twice", p)
		}
		seen[p] = true
	}
}

func TestConfigChanges(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "blueprints"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "blueprints", "mine.yaml"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	sc := &stacks.StackConfig{
		Stack: "dev",
		Values: map[string]string{
			stacks.ConfigBlueprint: "blueprints/mine.yaml",
			stacks.ConfigOverrides: `{"spec.tracking.replicas":2}`,
			"aws:region":           "us-east-1",
			"plinth:token":         stacks.SecretPlaceholder,
		},
		SecretKeys: []string{"plinth:token"},
	}
	current := auto.ConfigMap{
		"aws:region":                      {Value: "us-east-1"},
		"plinth:old":                      {Value: "gone from the file"},
		stacks.SecretGrafanaAdminPassword: {Value: "s3cret-value", Secret: true},
	}
	set, remove := configChanges(root, sc, current)
	want := auto.ConfigMap{
		stacks.ConfigBlueprint: {Value: filepath.Join(root, "blueprints", "mine.yaml")},
		stacks.ConfigOverrides: {Value: `{"spec.tracking.replicas":2}`},
	}
	if len(set) != len(want) {
		t.Errorf("set = %v, want %v", set, want)
	}
	for k, v := range want {
		if set[k] != v {
			t.Errorf("set[%s] = %+v, want %+v", k, set[k], v)
		}
	}
	if _, ok := set["plinth:token"]; ok {
		t.Error("a secure: value of the file was copied")
	}
	if strings.Join(remove, ",") != "plinth:old" {
		t.Errorf("remove = %v, want [plinth:old] (secrets are kept)", remove)
	}

	// A shipped blueprint named by its repository path stays as it is.
	sc.Values[stacks.ConfigBlueprint] = "blueprints/local.yaml"
	set, _ = configChanges(root, sc, current)
	if got := set[stacks.ConfigBlueprint].Value; got != "blueprints/local.yaml" {
		t.Errorf("blueprint = %q, want it unchanged (not under the root)", got)
	}
}

func TestParseDeploymentWithoutPending(t *testing.T) {
	data := []byte(`{"version":3,"deployment":{"manifest":{"time":"x"},"secrets_providers":{"type":"passphrase"},
		"resources":[{"urn":"urn:pulumi:dev::plinth::pulumi:pulumi:Stack::plinth-dev","type":"pulumi:pulumi:Stack"}],
		"pending_operations":[{"resource":{"urn":"urn:pulumi:dev::plinth::kubernetes:core/v1:Namespace::ns","type":"kubernetes:core/v1:Namespace"},"type":"creating"}]}}`)
	d, err := parseDeployment(data)
	if err != nil {
		t.Fatal(err)
	}
	if !d.deployed() || len(d.pending) != 1 || d.pending[0].Type != "creating" || d.pending[0].Resource.URN != "urn:pulumi:dev::plinth::kubernetes:core/v1:Namespace::ns" {
		t.Fatalf("parsed %+v", d)
	}
	u := d.withoutPending()
	if u.Version != 3 {
		t.Errorf("version %d", u.Version)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(u.Deployment, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["pending_operations"]; ok {
		t.Error("pending_operations kept")
	}
	for _, k := range []string{"manifest", "secrets_providers", "resources"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("%s dropped", k)
		}
	}
	empty, err := parseDeployment([]byte(`{"version":3,"deployment":{"manifest":{}}}`))
	if err != nil || empty.deployed() {
		t.Errorf("empty deployment: %+v, %v", empty, err)
	}
}

func TestStackLocks(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string, l lockContent) {
		p := filepath.Join(dir, ".pulumi", "locks", rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(l)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("organization/plinth/dev/a.json", lockContent{Pid: 42, Hostname: "h"})
	write("organization/plinth/prod/b.json", lockContent{Pid: 43, Hostname: "h"})
	write("organization/other/dev/c.json", lockContent{Pid: 44, Hostname: "h"})
	locks, err := stackLocks(dir, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 1 || locks[0].Pid != 42 || filepath.Base(locks[0].path) != "a.json" {
		t.Errorf("locks of dev = %+v, want only pid 42", locks)
	}
	if locks, err := stackLocks(t.TempDir(), "dev"); err != nil || len(locks) != 0 {
		t.Errorf("no lock directory: %v, %v", locks, err)
	}
	if !alive(os.Getpid()) {
		t.Error("this process is not alive?")
	}
}

func TestRedactor(t *testing.T) {
	var buf bytes.Buffer
	r := newRedactor(&buf)
	r.add("abc") // too short to mask
	r.add("hunter2-long-password")
	r.add("hunter2")
	r.printf("pw=%s short=abc other=%s\n", "hunter2-long-password", "hunter2")
	if got, want := buf.String(), "pw=[secret] short=abc other=[secret]\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	var nilOut *redactor = newRedactor(nil)
	if n, err := nilOut.Write([]byte("x")); n != 1 || err != nil {
		t.Errorf("write to no progress: %d, %v", n, err)
	}
}

func event(e apitype.EngineEvent) events.EngineEvent { return events.EngineEvent{EngineEvent: e} }

func step(op apitype.OpType, urn string, diff map[string]apitype.PropertyDiff) apitype.StepEventMetadata {
	typ := strings.Split(urn, "::")[2]
	return apitype.StepEventMetadata{Op: op, URN: urn, Type: typ, DetailedDiff: diff}
}

const (
	nsURN  = "urn:pulumi:dev::plinth::kubernetes:core/v1:Namespace::ns"
	depURN = "urn:pulumi:dev::plinth::kubernetes:apps/v1:Deployment::web"
)

func TestTrackerUp(t *testing.T) {
	var buf bytes.Buffer
	tr := newTracker(&buf, false, false)
	now := time.Unix(0, 0)
	tr.now = func() time.Time { now = now.Add(time.Second); return now }
	replicas := map[string]apitype.PropertyDiff{"spec.replicas": {Kind: apitype.DiffUpdate}}
	ch := make(chan events.EngineEvent)
	tr.consume(ch)
	for _, e := range []apitype.EngineEvent{
		{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: step(apitype.OpRefresh, depURN, nil)}},
		{ResOutputsEvent: &apitype.ResOutputsEvent{Metadata: step(apitype.OpRefresh, nsURN, map[string]apitype.PropertyDiff{})}},
		{ResOutputsEvent: &apitype.ResOutputsEvent{Metadata: step(apitype.OpRefresh, depURN, replicas)}},
		{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: step(apitype.OpSame, nsURN, nil)}},
		{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: step(apitype.OpUpdate, depURN, replicas)}},
		{DiagnosticEvent: &apitype.DiagnosticEvent{URN: depURN, Message: "waiting\n", Severity: "info", Ephemeral: true}},
		{DiagnosticEvent: &apitype.DiagnosticEvent{URN: depURN, Message: "scaled\n", Severity: "debug"}},
		{DiagnosticEvent: &apitype.DiagnosticEvent{URN: depURN, Message: "slow rollout\nsecond line\n", Severity: "warning"}},
		{ResOutputsEvent: &apitype.ResOutputsEvent{Metadata: step(apitype.OpUpdate, depURN, replicas)}},
		{DiagnosticEvent: &apitype.DiagnosticEvent{Message: "update failed", Severity: "error"}},
		{DiagnosticEvent: &apitype.DiagnosticEvent{URN: nsURN, Message: "quota exceeded", Severity: "error"}},
		{SummaryEvent: &apitype.SummaryEvent{ResourceChanges: map[apitype.OpType]int{"update": 1, "same": 3}}},
	} {
		ch <- event(e)
	}
	tr.finish()
	want := "" +
		"  ~ kubernetes:apps/v1:Deployment web: drifted [diff: spec.replicas]\n" +
		"  ~ kubernetes:apps/v1:Deployment web: updating [diff: spec.replicas]\n" +
		"    warning: web: slow rollout\n      second line\n" +
		"  ~ kubernetes:apps/v1:Deployment web: updated (1s)\n" +
		"    error: update failed\n" +
		"    error: ns: quota exceeded\n"
	if buf.String() != want {
		t.Errorf("progress:\n%s\nwant:\n%s", buf.String(), want)
	}
	if strings.Join(tr.drifted, ",") != depURN {
		t.Errorf("drifted = %v", tr.drifted)
	}
	if d := tr.diagnostics(); len(d) != 1 || d[0] != "quota exceeded" {
		t.Errorf("diagnostics = %v", d)
	}
	if got := changes(tr.summary.ResourceChanges); got["update"] != 1 || got["same"] != 3 || got["create"] != 0 || len(got) != 5 {
		t.Errorf("changes = %v", got)
	}
}

func TestTrackerDriftPreview(t *testing.T) {
	var buf bytes.Buffer
	tr := newTracker(&buf, true, true)
	ch := make(chan events.EngineEvent)
	tr.consume(ch)
	for _, e := range []apitype.EngineEvent{
		{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: step(apitype.OpRefresh, depURN, nil)}},
		{ResOutputsEvent: &apitype.ResOutputsEvent{Metadata: step(apitype.OpSame, nsURN, map[string]apitype.PropertyDiff{})}},
		{ResOutputsEvent: &apitype.ResOutputsEvent{Metadata: step(apitype.OpUpdate, depURN, map[string]apitype.PropertyDiff{"spec.replicas": {}})}},
		{ResOutputsEvent: &apitype.ResOutputsEvent{Metadata: step(apitype.OpDelete, nsURN, nil)}},
	} {
		ch <- event(e)
	}
	// The channel is never closed (as when the CLI did not connect): finish still returns.
	tr.finish()
	if strings.Join(tr.drifted, " ") != depURN+" "+nsURN {
		t.Errorf("drifted = %v", tr.drifted)
	}
	want := "  ~ kubernetes:apps/v1:Deployment web: drifted [diff: spec.replicas]\n  ~ kubernetes:core/v1:Namespace ns: drifted: gone\n"
	if buf.String() != want {
		t.Errorf("progress:\n%s\nwant:\n%s", buf.String(), want)
	}
	r := &Result{Changes: changes(map[string]int{"update": 1, "delete": 1, "same": 2}), Drifted: tr.drifted, Duration: 1500 * time.Millisecond}
	if got := driftLine("drift", "dev", r); got != "drift of stack dev: 2 of 4 resource(s) drifted: web, ns (1.5s)\n" {
		t.Errorf("drift line %q", got)
	}
}

func TestSummaryLine(t *testing.T) {
	r := &Result{Changes: changes(map[string]int{"create": 3, "same": 1}), Duration: 2 * time.Second}
	if got := summaryLine("up", "dev", r, false); got != "up of stack dev: 3 created, 1 unchanged (2s)\n" {
		t.Errorf("%q", got)
	}
	if got := summaryLine("preview", "dev", r, true); got != "preview of stack dev: 3 to create, 1 unchanged (2s)\n" {
		t.Errorf("%q", got)
	}
}

func TestOptionBuilders(t *testing.T) {
	o := Options{PolicyPacks: []string{"/packs/a", "/packs/b"}}
	ch := make(chan events.EngineEvent)

	var up optup.Options
	for _, opt := range upOptions(o, ch) {
		opt.ApplyOption(&up)
	}
	if !up.Refresh || len(up.EventStreams) != 1 || strings.Join(up.PolicyPacks, ",") != "/packs/a,/packs/b" || up.UserAgent != userAgent {
		t.Errorf("up options %+v", up)
	}
	var pre optpreview.Options
	for _, opt := range previewOptions(o, ch) {
		opt.ApplyOption(&pre)
	}
	if !pre.Refresh || len(pre.EventStreams) != 1 || strings.Join(pre.PolicyPacks, ",") != "/packs/a,/packs/b" {
		t.Errorf("preview options %+v", pre)
	}
	var des optdestroy.Options
	for _, opt := range destroyOptions(o, ch) {
		opt.ApplyOption(&des)
	}
	if !des.Refresh || len(des.EventStreams) != 1 || des.Remove {
		t.Errorf("destroy options %+v (the stack must be kept)", des)
	}
	var ref optrefresh.Options
	for _, opt := range refreshOptions(o, ch) {
		opt.ApplyOption(&ref)
	}
	if len(ref.EventStreams) != 1 || ref.ExpectNoChanges {
		t.Errorf("refresh options %+v", ref)
	}
}

func TestNonInteractive(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"up --yes", "--non-interactive up --yes"},
		{"version", "version"},
		{"config set k --secret -- --non-interactive", "--non-interactive config set k --secret -- --non-interactive"},
		{"--non-interactive stack ls", "--non-interactive stack ls"},
	} {
		if got := strings.Join(nonInteractive(strings.Fields(tt.in)), " "); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWorkspaceDirs(t *testing.T) {
	root := "/p"
	if got := DefaultBackend(root); got != "file:///p/.plinth/state" {
		t.Errorf("default backend %s", got)
	}
	if got := WorkspaceDir(root, ""); got != "/p/.plinth/workspace" {
		t.Errorf("default workspace %s", got)
	}
	if WorkspaceDir(root, DefaultBackend(root)) != WorkspaceDir(root, "") {
		t.Error("the default backend has two workspaces")
	}
	a, b := WorkspaceDir(root, "s3://bucket/a"), WorkspaceDir(root, "s3://bucket/b")
	if a == b || !strings.HasPrefix(a, "/p/.plinth/workspaces/") {
		t.Errorf("workspaces %s, %s", a, b)
	}
	if got := StackConfigFile(root, "", "dev"); got != "/p/.plinth/workspace/Pulumi.dev.yaml" {
		t.Errorf("stack config %s", got)
	}
	if !selfManaged("file:///x") || !selfManaged("s3://b") || selfManaged("https://api.pulumi.com") {
		t.Error("selfManaged")
	}
}

func TestPassphrase(t *testing.T) {
	t.Setenv(EnvPassphrase, "")
	t.Setenv(EnvPulumiPassphrase, "")
	session := func(class string, o Options) (*session, *bytes.Buffer) {
		var buf bytes.Buffer
		o.Stack, o.Backend = "s", "file:///tmp/state"
		env := &blueprints.Environment{}
		env.Spec.Tags = map[string]string{"environment": class}
		return &session{opts: o, env: env, out: newRedactor(&buf)}, &buf
	}
	for _, class := range []string{"prod", "staging", "dev", "qa"} {
		s, _ := session(class, Options{})
		_, err := s.passphrase()
		var pe *PassphraseError
		if !errors.As(err, &pe) || !errors.Is(err, ErrPassphraseRequired) || !strings.Contains(err.Error(), EnvPassphrase) {
			t.Errorf("%s without a passphrase: %v", class, err)
		}
	}
	s, buf := session("dev", Options{AllowInsecurePassphrase: true})
	if p, err := s.passphrase(); err != nil || p != InsecurePassphrase || !strings.Contains(buf.String(), "warning: ") {
		t.Errorf("dev, insecure allowed: %q, %v, printed %q", p, err, buf.String())
	}
	for _, class := range []string{"prod", "qa"} {
		s, _ = session(class, Options{AllowInsecurePassphrase: true})
		if _, err := s.passphrase(); !errors.Is(err, ErrPassphraseRequired) || !strings.Contains(err.Error(), "never gets a default") {
			t.Errorf("%s with --insecure-passphrase: %v", class, err)
		}
	}
	t.Setenv(EnvPulumiPassphrase, "from-pulumi")
	s, _ = session("prod", Options{})
	if p, err := s.passphrase(); p != "from-pulumi" || err != nil {
		t.Errorf("PULUMI_CONFIG_PASSPHRASE: %q, %v", p, err)
	}
	t.Setenv(EnvPassphrase, "from-plinth")
	if p, _ := s.passphrase(); p != "from-plinth" {
		t.Errorf("PLINTH_PASSPHRASE first: %q", p)
	}
	s, _ = session("prod", Options{Passphrase: "given"})
	if p, _ := s.passphrase(); p != "given" {
		t.Errorf("Options.Passphrase first: %q", p)
	}
	s.opts.Backend = "https://api.pulumi.com"
	s.opts.Passphrase = ""
	if p, err := s.passphrase(); p != "" || err != nil {
		t.Errorf("Pulumi Cloud needs no passphrase: %q, %v", p, err)
	}
}

// A prod-class stack without a passphrase is refused before anything runs
// (the pulumi binary given does not even exist).
func TestProdWithoutPassphraseRefused(t *testing.T) {
	t.Setenv(EnvPassphrase, "")
	t.Setenv(EnvPulumiPassphrase, "")
	root := enginetest.Root(t, t.TempDir(), "production", "blueprints/production.yaml")
	var progress bytes.Buffer
	opts := Options{Root: root, Stack: "production", PulumiBinary: filepath.Join(root, "no-pulumi"), Progress: &progress, AllowInsecurePassphrase: true}
	for name, op := range map[string]func(context.Context, Options) (*Result, error){
		"up": Up, "preview": Preview, "destroy": Destroy, "refresh": Refresh, "drift": Drift,
	} {
		_, err := op(context.Background(), opts)
		var pe *PassphraseError
		if !errors.As(err, &pe) || pe.Class != blueprints.ClassProd {
			t.Errorf("%s: err = %v, want a PassphraseError for a prod environment", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "never gets a default passphrase") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, ".plinth")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused operation wrote %s/.plinth", root)
	}
}

func TestCLIMessage(t *testing.T) {
	err := errors.New("failed to create stack: exit status 1\ncode: 1\nstdout: \nstderr: error: could not create stack: locked\n  more\n")
	if got := cliMessage(err); got != "could not create stack: locked" {
		t.Errorf("%q", got)
	}
	if got := cliMessage(errors.New("plain\nsecond")); got != "plain" {
		t.Errorf("%q", got)
	}
}

func TestMissingSecretError(t *testing.T) {
	e := &MissingSecretError{Stack: "dev", Keys: []string{"plinth:gitlabToken"}, WorkDir: "/p/.plinth/workspace", Backend: "file:///p/.plinth/state"}
	want := "pulumi config set --secret --cwd /p/.plinth/workspace --stack dev plinth:gitlabToken <value>"
	if !strings.Contains(e.Error(), want) || !strings.Contains(e.Error(), "plinth:gitlabToken not set") {
		t.Errorf("%v", e)
	}
	e.Lost = true
	if !strings.Contains(e.Error(), "generated afresh") {
		t.Errorf("%v", e)
	}
}
