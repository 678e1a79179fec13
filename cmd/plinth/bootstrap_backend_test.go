package main

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/stacks/statebackend"
	"github.com/plinth-dev/plinth/test/moto"
)

func TestBootstrapBackendUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"bootstrap-backend"}, "takes 1 argument(s)"},
		{[]string{"bootstrap-backend", "file:///tmp/x"}, "want an s3:// URL"},
		{[]string{"bootstrap-backend", "s3://NoCaps"}, "is not an S3 bucket name"},
		{[]string{"bootstrap-backend", "s3://state", "--encryption", "aes"}, `--encryption "aes": want kms (SSE-KMS) or s3 (SSE-S3)`},
		{[]string{"bootstrap-backend", "s3://state", "--encryption", "s3", "--kms-key", "k"}, "--kms-key needs --encryption kms"},
		{[]string{"bootstrap-backend", "s3://state?region=eu-west-1", "--region", "us-east-1"}, "the backend URL says region=eu-west-1"},
	} {
		r := plinth(t, tt.args...)
		r.wantExit(t, exitUsage)
		if !strings.Contains(r.stderr, tt.want) {
			t.Errorf("stderr lacks %q\n%v", tt.want, r)
		}
	}
}

// bootstrap-backend against moto: the bucket is created and set up, the
// settings read back, a second run changes nothing.
func TestBootstrapBackendAgainstMoto(t *testing.T) {
	endpoint := moto.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	raw := "s3://acme-plinth-state?" + url.Values{"endpoint": {endpoint}, "s3ForcePathStyle": {"true"}}.Encode()

	r := plinth(t, "bootstrap-backend", raw)
	r.wantExit(t, exitFailure)
	if !strings.Contains(r.stderr, "no region for bucket acme-plinth-state: give --region") {
		t.Errorf("no region:\n%v", r)
	}

	r = plinth(t, "bootstrap-backend", raw, "--region", "eu-west-1")
	r.wantExit(t, exitOK)
	wantURL := "s3://acme-plinth-state?" + url.Values{"endpoint": {endpoint}, "region": {"eu-west-1"}, "s3ForcePathStyle": {"true"}}.Encode()
	for _, want := range []string{
		"bucket acme-plinth-state\n",
		"  bucket               set  created in eu-west-1\n",
		"  versioning           set  enabled\n",
		"  default encryption   set  SSE-KMS with the AWS managed key aws/s3",
		"  public access block  set  all four settings on\n",
		"  bucket policy        set  denies requests not made over TLS\n",
		"\nbackend: " + wantURL + "\n",
		"plinth up --stack NAME --backend '" + wantURL + "'\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q\n%v", want, r)
		}
	}

	// Read back independently of the command.
	b, err := statebackend.ParseS3(wantURL)
	if err != nil {
		t.Fatal(err)
	}
	client, err := statebackend.NewClient(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := statebackend.Inspect(context.Background(), client, b)
	if err != nil {
		t.Fatal(err)
	}
	if s.Versioning != "Enabled" || s.Encryption != "aws:kms" || !s.PublicAccessBlocked || !s.TLSOnly || s.ObjectOwnership != "BucketOwnerEnforced" {
		t.Errorf("bucket settings: %+v", s)
	}

	// Idempotent, and JSON for scripts.
	j := plinth(t, "bootstrap-backend", wantURL, "-o", "json")
	j.wantExit(t, exitOK)
	var out struct {
		URL   string `json:"url"`
		Steps []struct {
			Name    string `json:"name"`
			Changed bool   `json:"changed"`
		} `json:"steps"`
		Settings struct {
			Versioning string `json:"versioning"`
			TLSOnly    bool   `json:"tlsOnly"`
		} `json:"settings"`
	}
	j.decodeJSON(t, &out)
	if out.URL != wantURL || len(out.Steps) != 6 || out.Settings.Versioning != "Enabled" || !out.Settings.TLSOnly {
		t.Errorf("json: %+v", out)
	}
	for _, st := range out.Steps {
		if st.Changed {
			t.Errorf("second run changed %s", st.Name)
		}
	}
	again := plinth(t, "bootstrap-backend", wantURL)
	again.wantExit(t, exitOK)
	if !strings.Contains(again.stdout, "nothing to change: the bucket was ready") {
		t.Errorf("third run:\n%v", again)
	}
}
