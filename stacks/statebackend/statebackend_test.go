package statebackend

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/plinth-dev/plinth/test/moto"
)

func TestParseS3(t *testing.T) {
	tests := []struct {
		raw                     string
		bucket, prefix, region  string
		endpoint                string
		pathStyle               bool
		url, partition, wantErr string
	}{
		{raw: "s3://plinth-state", bucket: "plinth-state", url: "s3://plinth-state", partition: "aws"},
		{raw: "s3://plinth-state/team-a/?region=eu-west-1", bucket: "plinth-state", prefix: "team-a", region: "eu-west-1",
			url: "s3://plinth-state/team-a?region=eu-west-1", partition: "aws"},
		{raw: "s3://b.with.dots?region=cn-north-1", bucket: "b.with.dots", region: "cn-north-1", url: "s3://b.with.dots?region=cn-north-1", partition: "aws-cn"},
		{raw: "s3://state?region=us-gov-west-1", bucket: "state", region: "us-gov-west-1", url: "s3://state?region=us-gov-west-1", partition: "aws-us-gov"},
		{raw: "s3://state?endpoint=127.0.0.1:9000&disableSSL=true&s3ForcePathStyle=true", bucket: "state",
			endpoint: "http://127.0.0.1:9000", pathStyle: true, partition: "aws",
			url: "s3://state?disableSSL=true&endpoint=127.0.0.1%3A9000&s3ForcePathStyle=true"},
		{raw: "s3://state?endpoint=minio:9000&use_path_style=true", bucket: "state", endpoint: "https://minio:9000", pathStyle: true, partition: "aws",
			url: "s3://state?endpoint=minio%3A9000&use_path_style=true"},
		{raw: "s3://state?endpoint=http://127.0.0.1:5000", bucket: "state", endpoint: "http://127.0.0.1:5000", partition: "aws",
			url: "s3://state?endpoint=http%3A%2F%2F127.0.0.1%3A5000"},
		{raw: "file:///tmp/state", wantErr: "want an s3:// URL"},
		{raw: "s3://Upper_Case", wantErr: `"Upper_Case" is not an S3 bucket name`},
		{raw: "s3://ab", wantErr: "is not an S3 bucket name"},
		{raw: "s3://a..b", wantErr: "is not an S3 bucket name"},
		{raw: "s3://key:secret@bucket", wantErr: "credentials do not belong in the URL"},
		{raw: "s3://bucket\x7f", wantErr: "invalid control character"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			b, err := ParseS3(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseS3 = %+v, %v; want error with %q", b, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error shows the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Bucket != tt.bucket || b.Prefix != tt.prefix || b.Region() != tt.region || b.Endpoint() != tt.endpoint ||
				b.PathStyle() != tt.pathStyle || b.URL() != tt.url || b.Partition() != tt.partition {
				t.Errorf("ParseS3 = bucket %q prefix %q region %q endpoint %q pathStyle %v url %q partition %q",
					b.Bucket, b.Prefix, b.Region(), b.Endpoint(), b.PathStyle(), b.URL(), b.Partition())
			}
			// What URL() prints parses back to the same backend.
			again, err := ParseS3(b.URL())
			if err != nil || again.URL() != b.URL() {
				t.Errorf("round trip: %v, %v", again, err)
			}
		})
	}
}

func TestSetRegion(t *testing.T) {
	b, _ := ParseS3("s3://state?region=eu-west-1")
	if err := b.SetRegion("eu-west-1"); err != nil {
		t.Error(err)
	}
	if err := b.SetRegion("us-east-1"); err == nil || !strings.Contains(err.Error(), "region=eu-west-1") {
		t.Errorf("conflicting region: %v", err)
	}
	b, _ = ParseS3("s3://state")
	if err := b.SetRegion("us-west-2"); err != nil || b.URL() != "s3://state?region=us-west-2" {
		t.Errorf("SetRegion: %v, %s", err, b.URL())
	}
}

func TestTLSOnlyPolicy(t *testing.T) {
	b, _ := ParseS3("s3://state?region=us-east-1")
	fresh, err := withTLSOnly("", b)
	if err != nil || !hasTLSOnly(fresh, b) {
		t.Fatalf("new policy %s: %v", fresh, err)
	}
	other, _ := ParseS3("s3://other?region=us-east-1")
	if hasTLSOnly(fresh, other) {
		t.Error("a policy for another bucket counts")
	}
	// An existing policy keeps its statements; a single-object Statement works.
	existing := `{"Version":"2012-10-17","Statement":{"Sid":"ReadOnly","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::state/*"}}`
	if hasTLSOnly(existing, b) {
		t.Error("an allow statement counts as TLS-only")
	}
	merged, err := withTLSOnly(existing, b)
	if err != nil {
		t.Fatal(err)
	}
	var doc policyDocument
	if err := json.Unmarshal([]byte(merged), &doc); err != nil || len(doc.Statement) != 2 || doc.Statement[0]["Sid"] != "ReadOnly" || !hasTLSOnly(merged, b) {
		t.Errorf("merged policy %s: %v", merged, err)
	}
	// Merging again does not duplicate Plinth's statement.
	twice, _ := withTLSOnly(merged, b)
	if strings.Count(twice, TLSOnlySid) != 1 {
		t.Errorf("statement duplicated: %s", twice)
	}
	// Someone else's equivalent statement counts.
	theirs := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"*","Resource":["arn:aws:s3:::state/*","arn:aws:s3:::state"],"Condition":{"Bool":{"aws:SecureTransport":false}}}]}`
	if !hasTLSOnly(theirs, b) {
		t.Error("an equivalent statement is not recognised")
	}
	if _, err := withTLSOnly("{not json", b); err == nil {
		t.Error("a broken policy is overwritten")
	}
}

func TestOptions(t *testing.T) {
	if o, err := (Options{}).withDefaults(); err != nil || o.Encryption != EncryptionKMS {
		t.Errorf("default: %+v %v", o, err)
	}
	if _, err := (Options{Encryption: "aes"}).withDefaults(); err == nil || !strings.Contains(err.Error(), `"aes" is not one of kms`) {
		t.Errorf("bad encryption: %v", err)
	}
	if _, err := (Options{Encryption: EncryptionS3, KMSKeyID: "k"}).withDefaults(); err == nil {
		t.Error("a KMS key with SSE-S3 is accepted")
	}
}

// motoBackend starts moto and returns a backend URL for bucket on it, with
// dummy credentials in the environment.
func motoBackend(t *testing.T, bucket, region string) *S3 {
	t.Helper()
	endpoint := moto.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	q := url.Values{"endpoint": {endpoint}, "s3ForcePathStyle": {"true"}, "region": {region}}
	b, err := ParseS3("s3://" + bucket + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBootstrapAgainstMoto(t *testing.T) {
	for _, tt := range []struct {
		name, region string
		opts         Options
		algo, key    string
	}{
		{"kms with the AWS managed key in us-east-1", "us-east-1", Options{}, "aws:kms", ""},
		{"kms with a key in eu-west-1", "eu-west-1", Options{KMSKeyID: "arn:aws:kms:eu-west-1:123456789012:alias/plinth-state"}, "aws:kms", "arn:aws:kms:eu-west-1:123456789012:alias/plinth-state"},
		{"sse-s3", "us-west-2", Options{Encryption: EncryptionS3}, "AES256", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := motoBackend(t, "plinth-state", tt.region)
			ctx := context.Background()
			client, err := NewClient(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Bootstrap(ctx, client, b, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Changed() || len(res.Steps) != 6 || res.Steps[0].Detail != "created in "+tt.region {
				t.Errorf("first run steps: %+v", res.Steps)
			}
			if res.URL != b.URL() || !strings.Contains(res.URL, "region="+tt.region) {
				t.Errorf("URL = %s", res.URL)
			}
			// Read back with a separate look, not Bootstrap's own.
			s, err := Inspect(ctx, client, b)
			if err != nil {
				t.Fatal(err)
			}
			if !s.Exists || s.Versioning != "Enabled" || s.Encryption != tt.algo || s.KMSKeyID != tt.key ||
				!s.PublicAccessBlocked || s.ObjectOwnership != "BucketOwnerEnforced" || !s.TLSOnly {
				t.Errorf("settings read back: %+v", s)
			}
			if tt.algo == "aws:kms" && !s.BucketKey {
				t.Error("bucket key not enabled with SSE-KMS")
			}
			loc, err := client.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(b.Bucket)})
			if err != nil {
				t.Fatal(err)
			}
			if got := string(loc.LocationConstraint); got != tt.region && !(tt.region == "us-east-1" && got == "") {
				t.Errorf("bucket in %q, want %s", got, tt.region)
			}

			// Idempotent: a second run changes nothing.
			again, err := Bootstrap(ctx, client, b, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if again.Changed() {
				t.Errorf("second run changed: %+v", again.Steps)
			}
		})
	}
}

// An existing bucket keeps its policy statements and gets only what it lacks.
func TestBootstrapExistingBucket(t *testing.T) {
	b := motoBackend(t, "team-state", "us-east-1")
	ctx := context.Background()
	client, err := NewClient(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b.Bucket)}); err != nil {
		t.Fatal(err)
	}
	theirs := `{"Version":"2012-10-17","Statement":[{"Sid":"CIReads","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::team-state/*"}]}`
	if _, err := client.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(b.Bucket), Policy: aws.String(theirs)}); err != nil {
		t.Fatal(err)
	}
	res, err := Bootstrap(ctx, client, b, Options{Encryption: EncryptionS3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps[0].Changed || res.Steps[0].Detail != "exists in us-east-1" {
		t.Errorf("bucket step: %+v", res.Steps[0])
	}
	if last := res.Steps[len(res.Steps)-1]; !last.Changed || !strings.Contains(last.Detail, "added to the existing policy") {
		t.Errorf("policy step: %+v", last)
	}
	s, err := Inspect(ctx, client, b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Policy, "CIReads") || !s.TLSOnly {
		t.Errorf("policy after bootstrap: %s", s.Policy)
	}
	// Switching to SSE-KMS is a change, and says what it was.
	res, err = Bootstrap(ctx, client, b, Options{Encryption: EncryptionKMS})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range res.Steps {
		if st.Name == "default encryption" && (!st.Changed || st.Detail != "SSE-KMS with the AWS managed key aws/s3 (was SSE-S3 (AES256))") {
			t.Errorf("encryption step: %+v", st)
		}
		if st.Name != "default encryption" && st.Changed {
			t.Errorf("step %s changed again: %+v", st.Name, st)
		}
	}
}
