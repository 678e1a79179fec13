// Package statebackend prepares an S3 bucket as a team's Pulumi state
// backend (Pulumi's self-managed "DIY" backend, s3://BUCKET): versioning
// on (every state write can be rolled back), default encryption (SSE-KMS or
// SSE-S3), the public access block, ACLs disabled, and a bucket policy that
// refuses any request not made over TLS. Bootstrap is idempotent: it reads
// what is set, changes only what differs, and keeps a bucket policy that is
// already there (adding its TLS-only statement to it).
//
// The backend URL is the one Pulumi takes (`pulumi login s3://...`,
// PULUMI_BACKEND_URL, `plinth up --backend`), with the same query
// parameters: region, endpoint, s3ForcePathStyle (or use_path_style),
// disableSSL (or disable_https) and profile; Bootstrap talks to the bucket
// the way Pulumi will.
package statebackend

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// S3 is an s3:// backend URL, taken apart.
type S3 struct {
	// Bucket is the bucket name.
	Bucket string
	// Prefix is the path inside the bucket Pulumi keeps its state under
	// ("" for the bucket's root).
	Prefix string
	// Query holds the URL's query parameters (region, endpoint, ...).
	Query url.Values
}

// bucketName is an S3 bucket name Pulumi and AWS both accept: 3 to 63
// lowercase letters, digits, dots and hyphens, starting and ending with a
// letter or digit.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// ParseS3 parses an s3:// backend URL: s3://BUCKET[/PREFIX][?region=R&...].
func ParseS3(raw string) (*S3, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("backend URL %q: %w", raw, err)
	}
	if u.Scheme != "s3" {
		return nil, fmt.Errorf("backend URL %q: want an s3:// URL (s3://BUCKET?region=REGION); other backends (file://, gs://, azblob://, Pulumi Cloud) need no bootstrap from Plinth", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("backend URL %q: credentials do not belong in the URL; use the usual AWS settings (AWS_PROFILE, ...)", redact(u))
	}
	if !bucketName.MatchString(u.Host) || strings.Contains(u.Host, "..") {
		return nil, fmt.Errorf("backend URL %q: %q is not an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens)", raw, u.Host)
	}
	return &S3{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"), Query: u.Query()}, nil
}

// redact hides the user information of a URL.
func redact(u *url.URL) string {
	c := *u
	c.User = url.User("****")
	return c.String()
}

// Region is the region parameter ("" when absent).
func (b *S3) Region() string { return b.Query.Get("region") }

// SetRegion sets the region parameter; a URL naming another region is an error.
func (b *S3) SetRegion(region string) error {
	if cur := b.Region(); cur != "" && region != "" && cur != region {
		return fmt.Errorf("the backend URL says region=%s, but region %s was asked for", cur, region)
	}
	if region != "" {
		b.Query.Set("region", region)
	}
	return nil
}

// Endpoint is the S3 endpoint to use instead of AWS's ("" for AWS), with
// its scheme: an endpoint given without one gets https://, or http://
// with disableSSL=true (or disable_https=true), as Pulumi does.
func (b *S3) Endpoint() string {
	e := b.Query.Get("endpoint")
	if e == "" || strings.Contains(e, "://") {
		return e
	}
	if truthy(b.Query.Get("disableSSL")) || truthy(b.Query.Get("disable_https")) {
		return "http://" + e
	}
	return "https://" + e
}

// PathStyle reports whether requests address the bucket in the path
// (s3ForcePathStyle=true or use_path_style=true), as S3-compatible stores
// and emulators need.
func (b *S3) PathStyle() bool {
	return truthy(b.Query.Get("s3ForcePathStyle")) || truthy(b.Query.Get("use_path_style"))
}

// Profile is the AWS shared-config profile the URL names ("" for the default).
func (b *S3) Profile() string { return b.Query.Get("profile") }

func truthy(s string) bool {
	switch strings.ToLower(s) {
	case "1", "true", "yes":
		return true
	}
	return false
}

// URL is the backend URL to give Pulumi and Plinth.
func (b *S3) URL() string {
	u := url.URL{Scheme: "s3", Host: b.Bucket, RawQuery: b.Query.Encode()}
	if b.Prefix != "" {
		u.Path = "/" + b.Prefix
	}
	return u.String()
}

// Partition is the AWS partition of the bucket's region (aws, aws-cn,
// aws-us-gov), for ARNs.
func (b *S3) Partition() string {
	switch r := b.Region(); {
	case strings.HasPrefix(r, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(r, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// BucketARN is the bucket's ARN.
func (b *S3) BucketARN() string { return fmt.Sprintf("arn:%s:s3:::%s", b.Partition(), b.Bucket) }
