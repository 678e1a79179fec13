package storage

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/stacks/plan"
)

// Type tokens of the resources the component creates.
const (
	tBucket     = "aws:s3/bucketV2:BucketV2"
	tVersioning = "aws:s3/bucketVersioningV2:BucketVersioningV2"
	tSSE        = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
	tLifecycle  = "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2"
	tPAB        = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	tOwnership  = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
	tPolicy     = "aws:s3/bucketPolicy:BucketPolicy"
	tKey        = "aws:kms/key:Key"
)

var tags = map[string]string{"team": "ml", "plinth:environment": "dev"}

func run(t *testing.T, args *StorageArgs) *plan.Graph {
	t.Helper()
	g, err := plan.Run(func(ctx *pulumi.Context) error {
		_, err := NewStorage(ctx, "t", args)
		return err
	}, plan.Options{})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if len(g.Invokes) != 0 {
		t.Errorf("component made invokes: %v", g.Invokes)
	}
	return g
}

func component(t *testing.T, g *plan.Graph) *plan.Resource {
	t.Helper()
	c := g.Find(TypeToken, "t")
	if c == nil {
		t.Fatal("no Storage component registered")
	}
	return c
}

func bucket(name string, mod ...func(*BucketArgs)) BucketArgs {
	b := BucketArgs{Name: name, Purpose: PurposeGeneral, Versioning: true, Encryption: EncryptionS3}
	for _, m := range mod {
		m(&b)
	}
	return b
}

func obj(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%v (%T) is not an object", v, v)
	}
	return m
}

func list(t *testing.T, v any) []any {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("%v (%T) is not a list", v, v)
	}
	return l
}

func TestBucketsAreNeverPublic(t *testing.T) {
	cases := []struct {
		name string
		args *StorageArgs
	}{
		{"s3 unversioned", &StorageArgs{Buckets: []BucketArgs{bucket("a", func(b *BucketArgs) { b.Versioning = false })}}},
		{"kms versioned, several", &StorageArgs{Buckets: []BucketArgs{
			bucket("a", func(b *BucketArgs) { b.Encryption = EncryptionKMS; b.Purpose = PurposeTracking }),
			bucket("b", func(b *BucketArgs) { b.Purpose = PurposeDatasets }),
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := run(t, tc.args)
			c := component(t, g)
			n := len(tc.args.Buckets)
			for token, want := range map[string]int{tBucket: n, tPAB: n, tOwnership: n, tPolicy: n, tVersioning: n, tSSE: n, tLifecycle: n} {
				if got := len(g.ByType(token)); got != want {
					t.Errorf("%d %s, want %d", got, token, want)
				}
			}
			for _, r := range g.Resources {
				if r.Type == TypeToken {
					continue
				}
				if r.Parent != c.URN {
					t.Errorf("%s %s: parent %q, want the component", r.Type, r.Name, r.Parent)
				}
				if strings.Contains(strings.ToLower(r.Type), "acl") {
					t.Errorf("ACL resource %s %s", r.Type, r.Name)
				}
			}
			for _, b := range g.ByType(tBucket) {
				for _, k := range []string{"acl", "grants", "policy", "forceDestroy"} {
					if v, ok := b.Inputs[k]; ok && v != nil {
						t.Errorf("bucket %s sets %s = %v", b.Name, k, v)
					}
				}
			}
			for _, r := range g.ByType(tPAB) {
				for _, flag := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
					if r.Inputs[flag] != true {
						t.Errorf("%s: %s = %v, want true", r.Name, flag, r.Inputs[flag])
					}
				}
			}
			for _, r := range g.ByType(tOwnership) {
				if got := obj(t, r.Inputs["rule"])["objectOwnership"]; got != "BucketOwnerEnforced" {
					t.Errorf("%s: objectOwnership = %v", r.Name, got)
				}
			}
		})
	}
}

func TestBucketNamesAndTags(t *testing.T) {
	g := run(t, &StorageArgs{Tags: tags, Buckets: []BucketArgs{
		bucket("tracking", func(b *BucketArgs) { b.Purpose = PurposeTracking }),
		bucket("models", func(b *BucketArgs) { b.Purpose = PurposeModels; b.Encryption = EncryptionKMS }),
	}})
	for name, purpose := range map[string]string{"t-tracking": PurposeTracking, "t-models": PurposeModels} {
		b := g.Find(tBucket, name)
		if b == nil {
			t.Fatalf("no bucket %s", name)
		}
		if v, ok := b.Inputs["bucket"]; ok && v != nil {
			t.Errorf("%s: physical name set to %v, want auto-named", name, v)
		}
		got := obj(t, b.Inputs["tags"])
		want := map[string]any{"team": "ml", "plinth:environment": "dev", PurposeTag: purpose}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s tags = %v, want %v", name, got, want)
		}
	}
	key := g.ByType(tKey)
	if len(key) != 1 {
		t.Fatalf("%d keys", len(key))
	}
	if got := obj(t, key[0].Inputs["tags"]); !reflect.DeepEqual(got, map[string]any{"team": "ml", "plinth:environment": "dev"}) {
		t.Errorf("key tags = %v", got)
	}
	if _, ok := tags[PurposeTag]; ok {
		t.Error("caller's tags map was modified")
	}
}

func TestEncryption(t *testing.T) {
	kms := func(b *BucketArgs) { b.Encryption = EncryptionKMS }
	cases := []struct {
		name    string
		buckets []BucketArgs
		keys    int
		algo    map[string]string // bucket → sseAlgorithm
	}{
		{"all s3: no key", []BucketArgs{bucket("a"), bucket("b")}, 0, map[string]string{"a": "AES256", "b": "AES256"}},
		{"one kms: one key", []BucketArgs{bucket("a", kms), bucket("b")}, 1, map[string]string{"a": "aws:kms", "b": "AES256"}},
		{"all kms: still one key", []BucketArgs{bucket("a", kms), bucket("b", kms), bucket("c", kms)}, 1, map[string]string{"a": "aws:kms", "b": "aws:kms", "c": "aws:kms"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := run(t, &StorageArgs{Buckets: tc.buckets})
			keys := g.ByType(tKey)
			if len(keys) != tc.keys {
				t.Fatalf("%d KMS keys, want %d", len(keys), tc.keys)
			}
			for _, k := range keys {
				if k.Inputs["enableKeyRotation"] != true {
					t.Errorf("key rotation = %v", k.Inputs["enableKeyRotation"])
				}
			}
			for b, algo := range tc.algo {
				sse := g.Find(tSSE, "t-"+b+"-sse")
				if sse == nil {
					t.Fatalf("no SSE for %s", b)
				}
				rules := list(t, sse.Inputs["rules"])
				if len(rules) != 1 {
					t.Fatalf("%d SSE rules", len(rules))
				}
				rule := obj(t, rules[0])
				def := obj(t, rule["applyServerSideEncryptionByDefault"])
				if def["sseAlgorithm"] != algo {
					t.Errorf("%s: sseAlgorithm = %v, want %s", b, def["sseAlgorithm"], algo)
				}
				if algo == "aws:kms" {
					// The key's ARN is only known after apply.
					if def["kmsMasterKeyId"] != plan.Unknown {
						t.Errorf("%s: kmsMasterKeyId = %v, want the shared key's ARN", b, def["kmsMasterKeyId"])
					}
					if rule["bucketKeyEnabled"] != true {
						t.Errorf("%s: bucketKeyEnabled = %v", b, rule["bucketKeyEnabled"])
					}
				} else if v, ok := def["kmsMasterKeyId"]; ok && v != nil {
					t.Errorf("%s: kmsMasterKeyId = %v on an s3 bucket", b, v)
				}
			}
		})
	}
}

func TestKMSKeyArnOutputIsEmptyWithoutKMS(t *testing.T) {
	got := make(chan string, 1)
	_, err := plan.Run(func(ctx *pulumi.Context) error {
		s, err := NewStorage(ctx, "t", &StorageArgs{Buckets: []BucketArgs{bucket("a")}})
		if err != nil {
			return err
		}
		s.KMSKeyArn.ApplyT(func(v string) string { got <- v; return v })
		return nil
	}, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		if v != "" {
			t.Errorf("kmsKeyArn = %q, want empty", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("kmsKeyArn never resolved")
	}
}

func TestVersioningAndLifecycle(t *testing.T) {
	cases := []struct {
		name       string
		b          BucketArgs
		status     string
		noncurrent any // noncurrentDays, nil when there is no rule
	}{
		{"versioned, keep noncurrent", bucket("a"), "Enabled", nil},
		{"versioned, expire after 30", bucket("a", func(b *BucketArgs) { b.ExpireNoncurrentAfterDays = 30 }), "Enabled", 30.0},
		{"unversioned", bucket("a", func(b *BucketArgs) { b.Versioning = false }), "Suspended", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := run(t, &StorageArgs{Buckets: []BucketArgs{tc.b}})
			v := g.Find(tVersioning, "t-a-versioning")
			if v == nil {
				t.Fatal("no versioning resource")
			}
			if got := obj(t, v.Inputs["versioningConfiguration"])["status"]; got != tc.status {
				t.Errorf("versioning status = %v, want %s", got, tc.status)
			}
			lc := g.Find(tLifecycle, "t-a-lifecycle")
			if lc == nil {
				t.Fatal("no lifecycle configuration")
			}
			var abort, noncurrent any
			for _, r := range list(t, lc.Inputs["rules"]) {
				rule := obj(t, r)
				if rule["status"] != "Enabled" {
					t.Errorf("rule %v is not enabled", rule["id"])
				}
				if a, ok := rule["abortIncompleteMultipartUpload"].(map[string]any); ok {
					abort = a["daysAfterInitiation"]
				}
				if n, ok := rule["noncurrentVersionExpiration"].(map[string]any); ok {
					noncurrent = n["noncurrentDays"]
				}
			}
			if abort != 7.0 {
				t.Errorf("abort incomplete multipart uploads after %v days, want 7", abort)
			}
			if noncurrent != tc.noncurrent {
				t.Errorf("noncurrent version expiration = %v, want %v", noncurrent, tc.noncurrent)
			}
		})
	}
}

func TestBucketPolicyIsTLSOnly(t *testing.T) {
	g := run(t, &StorageArgs{Buckets: []BucketArgs{bucket("a")}})
	p := g.Find(tPolicy, "t-a-policy")
	if p == nil {
		t.Fatal("no bucket policy")
	}
	// The policy is built from the bucket's ARN, known only after apply.
	if p.Inputs["policy"] != plan.Unknown {
		t.Errorf("policy = %v", p.Inputs["policy"])
	}
}

func TestTLSOnlyPolicy(t *testing.T) {
	const arn = "arn:aws:s3:::plinth-dev-tracking-1a2b3c4"
	out, err := tlsOnlyPolicy(arn)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version   string
		Statement []struct {
			Effect    string
			Principal any
			Action    any
			Resource  []string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("policy is not JSON: %v\n%s", err, out)
	}
	if doc.Version != "2012-10-17" || len(doc.Statement) != 1 {
		t.Fatalf("policy = %s", out)
	}
	s := doc.Statement[0]
	if s.Effect != "Deny" || s.Principal != "*" || s.Action != "s3:*" {
		t.Errorf("statement = %+v, want Deny * s3:*", s)
	}
	if want := []string{arn, arn + "/*"}; !reflect.DeepEqual(s.Resource, want) {
		t.Errorf("resources = %v, want %v", s.Resource, want)
	}
	if got := s.Condition["Bool"]["aws:SecureTransport"]; got != "false" || len(s.Condition) != 1 {
		t.Errorf("condition = %v, want Bool aws:SecureTransport false", s.Condition)
	}
	if _, err := tlsOnlyPolicy(""); err == nil {
		t.Error("empty ARN accepted")
	}
}

func TestBadArgs(t *testing.T) {
	cases := []struct {
		name string
		args *StorageArgs
		want string
	}{
		{"nil args", nil, "args are required"},
		{"no buckets", &StorageArgs{}, "at least one bucket"},
		{"empty name", &StorageArgs{Buckets: []BucketArgs{bucket("")}}, "name is required"},
		{"duplicate", &StorageArgs{Buckets: []BucketArgs{bucket("a"), bucket("a")}}, "duplicate bucket name"},
		{"uppercase", &StorageArgs{Buckets: []BucketArgs{bucket("Data")}}, "not a valid bucket name"},
		{"too long", &StorageArgs{Buckets: []BucketArgs{bucket(strings.Repeat("x", 60))}}, "not a valid bucket name"},
		{"purpose", &StorageArgs{Buckets: []BucketArgs{bucket("a", func(b *BucketArgs) { b.Purpose = "logs" })}}, `purpose "logs"`},
		{"no purpose", &StorageArgs{Buckets: []BucketArgs{bucket("a", func(b *BucketArgs) { b.Purpose = "" })}}, `purpose ""`},
		{"encryption", &StorageArgs{Buckets: []BucketArgs{bucket("a", func(b *BucketArgs) { b.Encryption = "none" })}}, `encryption "none"`},
		{"expiry without versioning", &StorageArgs{Buckets: []BucketArgs{bucket("a", func(b *BucketArgs) { b.Versioning = false; b.ExpireNoncurrentAfterDays = 30 })}}, "needs versioning"},
		{"negative expiry", &StorageArgs{Buckets: []BucketArgs{bucket("a", func(b *BucketArgs) { b.ExpireNoncurrentAfterDays = -1 })}}, "must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := plan.Run(func(ctx *pulumi.Context) error {
				_, err := NewStorage(ctx, "t", tc.args)
				return err
			}, plan.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if len(g.Resources) != 0 {
				t.Errorf("%d resources registered before the error", len(g.Resources))
			}
		})
	}
}
