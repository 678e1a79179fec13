package statebackend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Default encryption of the state bucket.
const (
	// EncryptionKMS is SSE-KMS: with Options.KMSKeyID, or the AWS managed key aws/s3.
	EncryptionKMS = "kms"
	// EncryptionS3 is SSE-S3 (AES256, keys managed by S3).
	EncryptionS3 = "s3"
)

// TLSOnlySid is the Sid of the bucket policy statement that denies requests
// not made over TLS.
const TLSOnlySid = "PlinthDenyInsecureTransport"

// Options say how the bucket is to be set up.
type Options struct {
	// Encryption is EncryptionKMS (default) or EncryptionS3.
	Encryption string
	// KMSKeyID is the KMS key (id, ARN or alias ARN) for EncryptionKMS;
	// empty: the AWS managed key aws/s3.
	KMSKeyID string
}

func (o Options) withDefaults() (Options, error) {
	if o.Encryption == "" {
		o.Encryption = EncryptionKMS
	}
	switch o.Encryption {
	case EncryptionKMS:
	case EncryptionS3:
		if o.KMSKeyID != "" {
			return o, fmt.Errorf("a KMS key is given, but encryption is %s (SSE-S3); use encryption %s", EncryptionS3, EncryptionKMS)
		}
	default:
		return o, fmt.Errorf("encryption %q is not one of %s (SSE-KMS), %s (SSE-S3)", o.Encryption, EncryptionKMS, EncryptionS3)
	}
	return o, nil
}

// Settings are the state-relevant settings of a bucket, as read back.
type Settings struct {
	// Exists is false when there is no such bucket (the rest is then empty).
	Exists bool `json:"exists"`
	// Versioning is Enabled, Suspended or "" (never enabled).
	Versioning string `json:"versioning"`
	// Encryption is the default encryption algorithm (aws:kms, AES256, ...),
	// KMSKeyID its key ("" for the AWS managed key), BucketKey whether S3
	// Bucket Keys are on.
	Encryption string `json:"encryption"`
	KMSKeyID   string `json:"kmsKeyId,omitempty"`
	BucketKey  bool   `json:"bucketKey"`
	// PublicAccessBlocked is set when all four public access block settings are on.
	PublicAccessBlocked bool `json:"publicAccessBlocked"`
	// ObjectOwnership is the object ownership setting (BucketOwnerEnforced: ACLs disabled).
	ObjectOwnership string `json:"objectOwnership"`
	// TLSOnly is set when the bucket policy denies requests not made over TLS.
	TLSOnly bool `json:"tlsOnly"`
	// Policy is the bucket policy document ("" when none).
	Policy string `json:"-"`
}

// Step is one setting Bootstrap checked.
type Step struct {
	// Name is the setting (bucket, versioning, encryption, ...).
	Name string `json:"name"`
	// Changed is set when Bootstrap created or changed it.
	Changed bool `json:"changed"`
	// Detail says what it is now (and what it was when changed).
	Detail string `json:"detail"`
}

// Result is what Bootstrap did.
type Result struct {
	// URL is the backend URL to use.
	URL string `json:"url"`
	// Steps are the settings, in the order Bootstrap checked them.
	Steps []Step `json:"steps"`
	// Settings are the bucket's settings read back at the end.
	Settings Settings `json:"settings"`
}

// Changed reports whether Bootstrap changed anything.
func (r *Result) Changed() bool {
	return slices.ContainsFunc(r.Steps, func(s Step) bool { return s.Changed })
}

// NewClient returns an S3 client for the backend: the usual AWS settings
// (environment, shared config, AWS_PROFILE), with the URL's region,
// profile, endpoint and path style on top.
func NewClient(ctx context.Context, b *S3) (*s3.Client, error) {
	var opts []func(*config.LoadOptions) error
	if b.Region() != "" {
		opts = append(opts, config.WithRegion(b.Region()))
	}
	if b.Profile() != "" {
		opts = append(opts, config.WithSharedConfigProfile(b.Profile()))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("no region for bucket %s: give --region (or region= in the URL, or AWS_REGION)", b.Bucket)
	}
	if err := b.SetRegion(cfg.Region); err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if e := b.Endpoint(); e != "" {
			o.BaseEndpoint = aws.String(e)
		}
		o.UsePathStyle = b.PathStyle()
	}), nil
}

// Bootstrap makes the bucket of b ready for Pulumi state: it creates it
// when missing, then makes sure of versioning, default encryption, the
// public access block, BucketOwnerEnforced and a TLS-only bucket policy,
// changing only what differs. It fails when the bucket exists but belongs
// to someone else.
func Bootstrap(ctx context.Context, client *s3.Client, b *S3, opts Options) (*Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	res := &Result{URL: b.URL()}
	before, err := Inspect(ctx, client, b)
	if err != nil {
		return nil, err
	}

	// The bucket.
	if before.Exists {
		res.Steps = append(res.Steps, Step{Name: "bucket", Detail: "exists in " + b.Region()})
	} else {
		in := &s3.CreateBucketInput{Bucket: aws.String(b.Bucket)}
		if b.Region() != "us-east-1" {
			in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(b.Region())}
		}
		if _, err := client.CreateBucket(ctx, in); err != nil {
			var owned *types.BucketAlreadyOwnedByYou
			if !errors.As(err, &owned) {
				return nil, fmt.Errorf("create bucket %s: %w", b.Bucket, err)
			}
		}
		res.Steps = append(res.Steps, Step{Name: "bucket", Changed: true, Detail: "created in " + b.Region()})
	}

	// ACLs disabled: every object belongs to the bucket owner.
	if before.ObjectOwnership == string(types.ObjectOwnershipBucketOwnerEnforced) {
		res.Steps = append(res.Steps, Step{Name: "object ownership", Detail: "BucketOwnerEnforced (ACLs disabled)"})
	} else {
		if _, err := client.PutBucketOwnershipControls(ctx, &s3.PutBucketOwnershipControlsInput{
			Bucket: aws.String(b.Bucket),
			OwnershipControls: &types.OwnershipControls{Rules: []types.OwnershipControlsRule{
				{ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced},
			}},
		}); err != nil {
			return nil, fmt.Errorf("bucket %s: disable ACLs (object ownership): %w", b.Bucket, err)
		}
		res.Steps = append(res.Steps, Step{Name: "object ownership", Changed: true, Detail: "BucketOwnerEnforced (ACLs disabled)" + was(before.ObjectOwnership)})
	}

	// Never public.
	if before.PublicAccessBlocked {
		res.Steps = append(res.Steps, Step{Name: "public access block", Detail: "all four settings on"})
	} else {
		if _, err := client.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
			Bucket: aws.String(b.Bucket),
			PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{
				BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true),
				BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true),
			},
		}); err != nil {
			return nil, fmt.Errorf("bucket %s: block public access: %w", b.Bucket, err)
		}
		res.Steps = append(res.Steps, Step{Name: "public access block", Changed: true, Detail: "all four settings on"})
	}

	// Every state write can be rolled back.
	if before.Versioning == string(types.BucketVersioningStatusEnabled) {
		res.Steps = append(res.Steps, Step{Name: "versioning", Detail: "enabled"})
	} else {
		if _, err := client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
			Bucket:                  aws.String(b.Bucket),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
		}); err != nil {
			return nil, fmt.Errorf("bucket %s: enable versioning: %w", b.Bucket, err)
		}
		res.Steps = append(res.Steps, Step{Name: "versioning", Changed: true, Detail: "enabled" + was(before.Versioning)})
	}

	// Encrypted at rest.
	algo, key := types.ServerSideEncryptionAes256, ""
	if opts.Encryption == EncryptionKMS {
		algo, key = types.ServerSideEncryptionAwsKms, opts.KMSKeyID
	}
	want := describeEncryption(string(algo), key)
	if before.Encryption == string(algo) && before.KMSKeyID == key && (algo != types.ServerSideEncryptionAwsKms || before.BucketKey) {
		res.Steps = append(res.Steps, Step{Name: "default encryption", Detail: want})
	} else {
		rule := types.ServerSideEncryptionRule{ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: algo}}
		if algo == types.ServerSideEncryptionAwsKms {
			rule.BucketKeyEnabled = aws.Bool(true) // fewer KMS calls, lower cost
			if key != "" {
				rule.ApplyServerSideEncryptionByDefault.KMSMasterKeyID = aws.String(key)
			}
		}
		if _, err := client.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
			Bucket:                            aws.String(b.Bucket),
			ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{rule}},
		}); err != nil {
			return nil, fmt.Errorf("bucket %s: set default encryption: %w", b.Bucket, err)
		}
		prev := ""
		if before.Encryption != "" {
			prev = describeEncryption(before.Encryption, before.KMSKeyID)
		}
		res.Steps = append(res.Steps, Step{Name: "default encryption", Changed: true, Detail: want + was(prev)})
	}

	// TLS only.
	if before.TLSOnly {
		res.Steps = append(res.Steps, Step{Name: "bucket policy", Detail: "denies requests not made over TLS"})
	} else {
		policy, err := withTLSOnly(before.Policy, b)
		if err != nil {
			return nil, fmt.Errorf("bucket %s: %w", b.Bucket, err)
		}
		if _, err := client.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(b.Bucket), Policy: aws.String(policy)}); err != nil {
			return nil, fmt.Errorf("bucket %s: set the TLS-only bucket policy: %w", b.Bucket, err)
		}
		detail := "denies requests not made over TLS"
		if before.Policy != "" {
			detail += " (statement " + TLSOnlySid + " added to the existing policy)"
		}
		res.Steps = append(res.Steps, Step{Name: "bucket policy", Changed: true, Detail: detail})
	}

	after, err := Inspect(ctx, client, b)
	if err != nil {
		return nil, err
	}
	res.Settings = *after
	if problems := after.problems(opts); len(problems) > 0 {
		return res, fmt.Errorf("bucket %s: read back after bootstrap: %v", b.Bucket, problems)
	}
	return res, nil
}

// problems lists what differs from a ready state bucket.
func (s *Settings) problems(opts Options) []string {
	var out []string
	if !s.Exists {
		out = append(out, "no bucket")
	}
	if s.Versioning != string(types.BucketVersioningStatusEnabled) {
		out = append(out, "versioning "+s.Versioning)
	}
	wantAlgo := string(types.ServerSideEncryptionAes256)
	if opts.Encryption == EncryptionKMS {
		wantAlgo = string(types.ServerSideEncryptionAwsKms)
	}
	if s.Encryption != wantAlgo || s.KMSKeyID != opts.KMSKeyID {
		out = append(out, "encryption "+describeEncryption(s.Encryption, s.KMSKeyID))
	}
	if !s.PublicAccessBlocked {
		out = append(out, "public access not blocked")
	}
	if s.ObjectOwnership != string(types.ObjectOwnershipBucketOwnerEnforced) {
		out = append(out, "object ownership "+s.ObjectOwnership)
	}
	if !s.TLSOnly {
		out = append(out, "no TLS-only policy")
	}
	return out
}

func was(prev string) string {
	if prev == "" {
		return ""
	}
	return " (was " + prev + ")"
}

func describeEncryption(algo, key string) string {
	switch {
	case algo == string(types.ServerSideEncryptionAes256):
		return "SSE-S3 (AES256)"
	case algo == string(types.ServerSideEncryptionAwsKms) && key == "":
		return "SSE-KMS with the AWS managed key aws/s3"
	case algo == string(types.ServerSideEncryptionAwsKms):
		return "SSE-KMS with key " + key
	case algo == "":
		return "none"
	}
	return algo
}

// Inspect reads the state-relevant settings of the backend's bucket. A
// missing bucket is not an error (Settings.Exists is false); a bucket that
// exists but cannot be read (another account's) is.
func Inspect(ctx context.Context, client *s3.Client, b *S3) (*Settings, error) {
	s := &Settings{}
	bucket := aws.String(b.Bucket)
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bucket}); err != nil {
		switch httpStatus(err) {
		case http.StatusNotFound:
			return s, nil
		case http.StatusForbidden:
			return nil, fmt.Errorf("bucket %s exists but these credentials may not use it (403): it may belong to another account (bucket names are global), so pick another name, or use credentials of its owner", b.Bucket)
		case http.StatusMovedPermanently:
			return nil, fmt.Errorf("bucket %s exists in another region than %s (301): give its region", b.Bucket, b.Region())
		}
		return nil, fmt.Errorf("bucket %s: %w", b.Bucket, err)
	}
	s.Exists = true

	v, err := client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: bucket})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: read versioning: %w", b.Bucket, err)
	}
	s.Versioning = string(v.Status)

	enc, err := client.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: bucket})
	switch {
	case err != nil && errorCode(err) != "ServerSideEncryptionConfigurationNotFoundError":
		return nil, fmt.Errorf("bucket %s: read default encryption: %w", b.Bucket, err)
	case err == nil && enc.ServerSideEncryptionConfiguration != nil && len(enc.ServerSideEncryptionConfiguration.Rules) > 0:
		r := enc.ServerSideEncryptionConfiguration.Rules[0]
		if d := r.ApplyServerSideEncryptionByDefault; d != nil {
			s.Encryption = string(d.SSEAlgorithm)
			s.KMSKeyID = aws.ToString(d.KMSMasterKeyID)
		}
		s.BucketKey = aws.ToBool(r.BucketKeyEnabled)
	}

	pab, err := client.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: bucket})
	switch {
	case err != nil && errorCode(err) != "NoSuchPublicAccessBlockConfiguration":
		return nil, fmt.Errorf("bucket %s: read public access block: %w", b.Bucket, err)
	case err == nil && pab.PublicAccessBlockConfiguration != nil:
		c := pab.PublicAccessBlockConfiguration
		s.PublicAccessBlocked = aws.ToBool(c.BlockPublicAcls) && aws.ToBool(c.IgnorePublicAcls) &&
			aws.ToBool(c.BlockPublicPolicy) && aws.ToBool(c.RestrictPublicBuckets)
	}

	own, err := client.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: bucket})
	switch {
	case err != nil && errorCode(err) != "OwnershipControlsNotFoundError":
		return nil, fmt.Errorf("bucket %s: read object ownership: %w", b.Bucket, err)
	case err == nil && own.OwnershipControls != nil && len(own.OwnershipControls.Rules) > 0:
		s.ObjectOwnership = string(own.OwnershipControls.Rules[0].ObjectOwnership)
	}

	pol, err := client.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: bucket})
	switch {
	case err != nil && errorCode(err) != "NoSuchBucketPolicy":
		return nil, fmt.Errorf("bucket %s: read bucket policy: %w", b.Bucket, err)
	case err == nil:
		s.Policy = aws.ToString(pol.Policy)
		s.TLSOnly = hasTLSOnly(s.Policy, b)
	}
	return s, nil
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// policyDocument is an IAM policy document; statements are kept as parsed
// so that a policy Plinth adds to loses nothing.
type policyDocument struct {
	Version   string           `json:"Version"`
	ID        string           `json:"Id,omitempty"`
	Statement []map[string]any `json:"Statement"`
}

// parsePolicy reads a policy; Statement may be one object or a list.
func parsePolicy(doc string) (*policyDocument, error) {
	var raw struct {
		Version   string          `json:"Version"`
		ID        string          `json:"Id,omitempty"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		return nil, fmt.Errorf("the existing bucket policy is not JSON: %w", err)
	}
	p := &policyDocument{Version: raw.Version, ID: raw.ID}
	if len(raw.Statement) == 0 {
		return p, nil
	}
	if err := json.Unmarshal(raw.Statement, &p.Statement); err != nil {
		var one map[string]any
		if err := json.Unmarshal(raw.Statement, &one); err != nil {
			return nil, fmt.Errorf("the existing bucket policy's Statement is neither an object nor a list")
		}
		p.Statement = []map[string]any{one}
	}
	return p, nil
}

// tlsOnlyStatement denies every request to the bucket and its objects not
// made over TLS.
func tlsOnlyStatement(b *S3) map[string]any {
	return map[string]any{
		"Sid":       TLSOnlySid,
		"Effect":    "Deny",
		"Principal": "*",
		"Action":    "s3:*",
		"Resource":  []any{b.BucketARN(), b.BucketARN() + "/*"},
		"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
	}
}

// hasTLSOnly reports whether a policy denies, to everyone, every request
// over plain HTTP to the bucket and its objects.
func hasTLSOnly(doc string, b *S3) bool {
	p, err := parsePolicy(doc)
	if err != nil {
		return false
	}
	for _, st := range p.Statement {
		if st["Effect"] != "Deny" || !everyone(st["Principal"]) || !anyOf(st["Action"], "s3:*", "*") {
			continue
		}
		cond, _ := st["Condition"].(map[string]any)
		boolCond, _ := cond["Bool"].(map[string]any)
		if v := fmt.Sprint(boolCond["aws:SecureTransport"]); v != "false" {
			continue
		}
		if anyOf(st["Resource"], b.BucketARN()) && anyOf(st["Resource"], b.BucketARN()+"/*") {
			return true
		}
	}
	return false
}

func everyone(principal any) bool {
	if principal == "*" {
		return true
	}
	m, ok := principal.(map[string]any)
	return ok && anyOf(m["AWS"], "*")
}

// anyOf reports whether v (a string or a list of strings) holds one of want.
func anyOf(v any, want ...string) bool {
	switch x := v.(type) {
	case string:
		return slices.Contains(want, x)
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok && slices.Contains(want, s) {
				return true
			}
		}
	}
	return false
}

// withTLSOnly returns the bucket policy with the TLS-only statement: a new
// policy, or the existing one with the statement added.
func withTLSOnly(existing string, b *S3) (string, error) {
	p := &policyDocument{Version: "2012-10-17"}
	if existing != "" {
		var err error
		if p, err = parsePolicy(existing); err != nil {
			return "", err
		}
		// A statement of Plinth's that no longer fits (the bucket was
		// renamed in the policy, say) is replaced.
		p.Statement = slices.DeleteFunc(p.Statement, func(st map[string]any) bool { return st["Sid"] == TLSOnlySid })
	}
	p.Statement = append(p.Statement, tlsOnlyStatement(b))
	data, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	return string(data), nil
}
