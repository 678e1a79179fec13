package engine

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/stacks/engine/enginetest"
	"github.com/plinth-dev/plinth/stacks/statebackend"
	"github.com/plinth-dev/plinth/test/moto"
	"github.com/plinth-dev/plinth/test/toolchain"
)

// holder is the one component of holderProgram.
type holder struct{ pulumi.ResourceState }

// holderProgram registers a component and exports "value"; it needs no
// provider plugin. With entered and release, the update waits inside the
// program (and so holds the stack's lock) from closing entered until
// release is closed.
func holderProgram(value string, entered chan<- struct{}, release <-chan struct{}) pulumi.RunFunc {
	var once sync.Once
	return func(ctx *pulumi.Context) error {
		h := &holder{}
		if err := ctx.RegisterComponentResource("plinth:test:Holder", "holder", h); err != nil {
			return err
		}
		out := pulumi.String(value).ToStringOutput()
		if entered != nil && !ctx.DryRun() {
			out = out.ApplyT(func(v string) string {
				once.Do(func() { close(entered) })
				<-release
				return v
			}).(pulumi.StringOutput)
		}
		if err := ctx.RegisterResourceOutputs(h, pulumi.Map{"value": out}); err != nil {
			return err
		}
		ctx.Export("value", out)
		return nil
	}
}

// TestS3BackendTeamState runs the real pulumi CLI against an S3 backend on
// moto (loopback), as a team would use it: the state is written to the
// bucket, a teammate's checkout (a second project root sharing the stack's
// workspace config) sees it, two concurrent ups of one stack are refused
// by the backend's lock with a clear message, neither corrupts the state,
// and a separate process (the pulumi CLI alone, from an empty directory)
// reads it back.
func TestS3BackendTeamState(t *testing.T) {
	pulumiBin, err := toolchain.Path(toolchain.Pulumi)
	if err != nil {
		t.Skipf("skipping: the pinned pulumi CLI is needed: %v", err)
	}
	endpoint := moto.Start(t)
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
		"PULUMI_BACKEND_URL": "", EnvPassphrase: "", EnvPulumiPassphrase: "",
	} {
		t.Setenv(k, v)
	}
	ctx := context.Background()

	// The bucket, as `plinth bootstrap-backend` makes it.
	b, err := statebackend.ParseS3("s3://plinth-state?" + url.Values{"endpoint": {endpoint}, "s3ForcePathStyle": {"true"}, "region": {"us-east-1"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	client, err := statebackend.NewClient(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := statebackend.Bootstrap(ctx, client, b, statebackend.Options{}); err != nil {
		t.Fatal(err)
	}
	// moto enforces the TLS-only statement but treats every request as
	// plain HTTP (aws:SecureTransport is false even over TLS), so it would
	// refuse Pulumi's object reads and writes: drop the policy here. On AWS
	// requests over TLS, which Pulumi makes, are allowed.
	if _, err := client.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(b.Bucket)}); err != nil {
		t.Fatal(err)
	}
	backend := b.URL()
	keys := func(prefix string) []string {
		t.Helper()
		out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(b.Bucket), Prefix: aws.String(prefix)})
		if err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, o := range out.Contents {
			ks = append(ks, aws.ToString(o.Key))
		}
		return ks
	}

	const stack = "team"
	options := func(root string, program pulumi.RunFunc, progress *syncBuffer) Options {
		return Options{Root: root, Stack: stack, Backend: backend, Passphrase: enginetest.Passphrase,
			PulumiBinary: pulumiBin, Program: program, Progress: progress}
	}

	// 1. The first up, from one checkout: the state goes to the bucket.
	rootA := enginetest.Root(t, t.TempDir(), stack, "blueprints/local.yaml")
	start := time.Now()
	r, err := Up(ctx, options(rootA, holderProgram("v1", nil, nil), &syncBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first up on the S3 backend: %s", time.Since(start).Round(time.Millisecond))
	if r.Changes["create"] != 2 || r.Outputs["value"] != "v1" {
		t.Fatalf("first up: changes %v, outputs %v", r.Changes, r.Outputs)
	}
	if ks := keys(".pulumi/stacks/"); !slices.Contains(ks, ".pulumi/stacks/plinth/team.json") {
		t.Errorf("stack state objects in the bucket: %v", ks)
	}
	if _, err := os.Stat(filepath.Join(rootA, ".plinth", "state")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a local state directory was made: %v", err)
	}

	// 2. A teammate's checkout shares the stack's workspace config (its
	// generated secrets are encrypted there).
	rootB := enginetest.Root(t, t.TempDir(), stack, "blueprints/local.yaml")
	cfg, err := os.ReadFile(StackConfigFile(rootA, backend, stack))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(WorkspaceDir(rootB, backend), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(StackConfigFile(rootB, backend, stack), cfg, 0o600); err != nil {
		t.Fatal(err)
	}

	// 3. An up from A holds the lock while B's up is tried.
	entered, release := make(chan struct{}), make(chan struct{})
	type outcome struct {
		r   *Result
		err error
	}
	done := make(chan outcome, 1)
	progressA := &syncBuffer{}
	go func() {
		r, err := Up(ctx, options(rootA, holderProgram("v2", entered, release), progressA))
		done <- outcome{r, err}
	}()
	released := false
	defer func() {
		if !released {
			close(release)
			<-done
		}
	}()
	select {
	case <-entered:
	case o := <-done:
		t.Fatalf("the holding up ended before holding: %v\n%s", o.err, progressA)
	case <-time.After(3 * time.Minute):
		t.Fatalf("the holding up did not reach its program within 3m:\n%s", progressA)
	}
	locks := keys(".pulumi/locks/")
	if len(locks) != 1 {
		t.Fatalf("locks in the bucket while A runs: %v", locks)
	}

	start = time.Now()
	_, err = Up(ctx, options(rootB, holderProgram("vB", nil, nil), &syncBuffer{}))
	t.Logf("second up refused after %s: %v", time.Since(start).Round(time.Millisecond), err)
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("the second up was not refused by the lock: %T %v", err, err)
	}
	host, _ := os.Hostname()
	msg := err.Error()
	for _, want := range []string{
		"stack team is locked by another operation (pid ",
		" on " + host + " at ",
		"wait for it to end; if it is known to be gone, remove the lock with:",
		"PULUMI_BACKEND_URL='" + backend + "' pulumi cancel --yes --cwd " + WorkspaceDir(rootB, backend) + " --stack team",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal lacks %q:\n%s", want, msg)
		}
	}
	if len(le.Locks) != 1 || strings.Contains(le.Locks[0], "not reported") {
		t.Errorf("lock holders %v", le.Locks)
	}
	if got := keys(".pulumi/locks/"); len(got) != 1 || got[0] != locks[0] {
		t.Errorf("the refused up touched the lock: %v, was %v", got, locks)
	}

	close(release)
	released = true
	o := <-done
	if o.err != nil {
		t.Fatalf("the holding up failed: %v\n%s", o.err, progressA)
	}
	if o.r.Outputs["value"] != "v2" || o.r.Changes["same"] != 2 {
		t.Errorf("holding up: changes %v, outputs %v", o.r.Changes, o.r.Outputs)
	}
	if ks := keys(".pulumi/locks/"); len(ks) != 0 {
		t.Errorf("locks left after the update: %v", ks)
	}

	// 4. Read back by another process: the pulumi CLI alone, in an empty
	// directory, knowing only the backend URL.
	export := exec.Command(pulumiBin, "stack", "export", "--stack", "organization/plinth/"+stack, "--non-interactive")
	export.Dir = t.TempDir()
	export.Env = append(os.Environ(), "PULUMI_BACKEND_URL="+backend, "PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_HOME="+t.TempDir(), EnvPulumiPassphrase+"="+enginetest.Passphrase)
	var stderr strings.Builder
	export.Stderr = &stderr
	data, err := export.Output()
	if err != nil {
		t.Fatalf("pulumi stack export: %v\n%s", err, stderr.String())
	}
	d, err := parseDeployment(data)
	if err != nil {
		t.Fatalf("the exported state does not parse: %v", err)
	}
	var types []string
	for _, res := range d.resources {
		types = append(types, res.Type)
	}
	if strings.Join(types, ",") != "pulumi:pulumi:Stack,plinth:test:Holder" || len(d.pending) != 0 {
		t.Errorf("state read back: resources %v, pending %v", types, d.pending)
	}
	var state struct {
		Resources []struct {
			Type    string         `json:"type"`
			Outputs map[string]any `json:"outputs"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(d.raw["resources"], &state.Resources); err != nil {
		t.Fatal(err)
	}
	if got := state.Resources[0].Outputs["value"]; got != "v2" {
		t.Errorf("stack output value in the state = %v, want v2 (the holding up's)", got)
	}
	// Versioning keeps every write of the state.
	versions, err := client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(b.Bucket), Prefix: aws.String(".pulumi/stacks/plinth/team.json")})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(versions.Versions); n < 2 {
		t.Errorf("%d versions of the state object, want one per write", n)
	} else {
		t.Logf("%d versions of the state object kept by bucket versioning", n)
	}

	// 5. B, run again now that A is done, finds the state whole.
	r, err = Up(ctx, options(rootB, holderProgram("v2", nil, nil), &syncBuffer{}))
	if err != nil {
		t.Fatalf("B after A: %v", err)
	}
	if r.Changes["same"] != 2 || r.Changes["create"] != 0 || r.Outputs["value"] != "v2" {
		t.Errorf("B after A: changes %v, outputs %v", r.Changes, r.Outputs)
	}

	// 6. A lock left by a process that died on another machine is refused
	// too, and the command the refusal gives clears it.
	stale := `{"pid":999999,"username":"ci","hostname":"gone-runner","timestamp":"2026-11-26T01:00:00Z"}`
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.Bucket),
		Key: aws.String(".pulumi/locks/organization/plinth/team/stale.json"), Body: strings.NewReader(stale)}); err != nil {
		t.Fatal(err)
	}
	_, err = Up(ctx, options(rootB, holderProgram("v2", nil, nil), &syncBuffer{}))
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "(pid 999999 of ci on gone-runner at 2026-11-26T01:00:00Z)") {
		t.Fatalf("up with a stale lock: %v", err)
	}
	_, command, _ := strings.Cut(err.Error(), "remove the lock with:\n")
	cancel := exec.Command("sh", "-c", strings.TrimSpace(command))
	cancel.Env = append(os.Environ(), "PATH="+filepath.Dir(pulumiBin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PULUMI_SKIP_UPDATE_CHECK=true", "PULUMI_HOME="+t.TempDir(), EnvPulumiPassphrase+"="+enginetest.Passphrase)
	if out, err := cancel.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out)
	}
	if ks := keys(".pulumi/locks/"); len(ks) != 0 {
		t.Errorf("locks left after pulumi cancel: %v", ks)
	}
	if _, err := Up(ctx, options(rootB, holderProgram("v2", nil, nil), &syncBuffer{})); err != nil {
		t.Errorf("up after clearing the stale lock: %v", err)
	}
}

func TestLockHolders(t *testing.T) {
	msg := "error: the stack is currently locked by 2 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n" +
		"  s3://b/.pulumi/locks/organization/plinth/team/1.json: created by ci@runner-7 (pid 4242) at 2026-11-26T02:00:00Z\n" +
		"  s3://b/.pulumi/locks/organization/plinth/team/2.json: created by dom\\ann@ws.example (pid 7) at 2026-11-26T02:01:00+01:00\n"
	got := lockHolders(msg)
	want := []string{"pid 4242 of ci on runner-7 at 2026-11-26T02:00:00Z", "pid 7 of dom\\ann on ws.example at 2026-11-26T02:01:00+01:00"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lockHolders = %q, want %q", got, want)
	}
	s := &session{opts: Options{Stack: "team", Backend: "s3://b"}, workDir: "/w"}
	if le := s.lockedError(errors.New(msg)); le == nil || len(le.Locks) != 2 || !strings.Contains(le.Error(), "pulumi cancel --yes --cwd /w --stack team") {
		t.Errorf("lockedError = %v", le)
	}
	if le := s.lockedError(errors.New("error: something else")); le != nil {
		t.Errorf("lockedError of another error = %v", le)
	}
	if le := s.lockedError(errors.New("the stack is currently locked by 1 lock(s).")); le == nil || le.Locks[0] != "holder not reported" {
		t.Errorf("lockedError without holders = %v", le)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"file:///tmp/state":                    "file:///tmp/state",
		"/tmp/w/.plinth/workspaces/36e2705f4d": "/tmp/w/.plinth/workspaces/36e2705f4d",
		"s3://b?region=us-east-1&x=y":          "'s3://b?region=us-east-1&x=y'",
		"/tmp/it's here":                       `'/tmp/it'\''s here'`,
		"":                                     "''",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
