// Package storage is the Plinth object storage component: private,
// encrypted, TLS-only S3 buckets for experiment tracking artifacts, data
// sets and models.
//
// Every bucket the component creates is private by construction: all four
// public access block flags are on, object ownership is BucketOwnerEnforced
// (ACLs are disabled) and a bucket policy denies any request that does not
// use TLS. Buckets are encrypted with SSE-S3 (AES256) or with SSE-KMS under
// one customer managed key (with rotation) shared by the component's KMS
// buckets.
package storage

import (
	"errors"
	"fmt"
	"maps"
	"regexp"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/components/iampolicy"
)

// TypeToken is the Pulumi type token of the Storage component.
const TypeToken = "plinth:storage:Storage"

// Bucket purposes, tagged as plinth:purpose.
const (
	// PurposeTracking holds experiment tracking artifacts (MLflow).
	PurposeTracking = "tracking"
	// PurposeDatasets holds training and evaluation data sets.
	PurposeDatasets = "datasets"
	// PurposeModels holds trained model artifacts.
	PurposeModels = "models"
	// PurposeGeneral is any other use.
	PurposeGeneral = "general"
)

// Bucket encryption modes.
const (
	// EncryptionKMS is SSE-KMS with the component's customer managed key.
	EncryptionKMS = "kms"
	// EncryptionS3 is SSE-S3 (AES256, keys managed by S3).
	EncryptionS3 = "s3"
)

// PurposeTag is the tag key that records a bucket's purpose.
const PurposeTag = "plinth:purpose"

// AbortIncompleteMultipartUploadDays is how long an incomplete multipart
// upload is kept before S3 aborts it and frees its parts.
const AbortIncompleteMultipartUploadDays = 7

// maxLogicalNameLength keeps <component>-<bucket> plus the suffix Pulumi
// appends to physical names (a dash and 7 characters) within S3's 63.
const maxLogicalNameLength = 63 - 8

// bucketNameRE is what S3 accepts in a bucket name (without dots: they
// break virtual-hosted TLS).
var bucketNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// BucketArgs describes one bucket.
type BucketArgs struct {
	// Name is the bucket's short name, unique within the component. The
	// bucket's logical name is <component name>-<Name>; its physical name
	// is that plus a random suffix Pulumi adds. Lowercase letters, digits
	// and dashes.
	Name string
	// Purpose is what the bucket holds: tracking, datasets, models or
	// general. It is tagged as plinth:purpose.
	Purpose string
	// Versioning keeps every version of every object (Enabled); false
	// suspends versioning.
	Versioning bool
	// ExpireNoncurrentAfterDays deletes an object version that many days
	// after it stops being the current one. 0 keeps noncurrent versions.
	// Only valid with Versioning.
	ExpireNoncurrentAfterDays int
	// Encryption is the default server-side encryption: "kms" (SSE-KMS with
	// the component's shared key, S3 bucket keys on) or "s3" (SSE-S3, AES256).
	Encryption string
}

// StorageArgs are the inputs of a Storage component.
type StorageArgs struct {
	// Buckets are the buckets to create; at least one.
	Buckets []BucketArgs
	// Tags are applied to every taggable resource (already merged by the
	// caller: blueprint tags, labels and plinth:environment).
	Tags map[string]string
}

// Storage is a set of private, encrypted, TLS-only S3 buckets.
type Storage struct {
	pulumi.ResourceState

	// BucketNames maps each bucket's short name to its physical bucket name.
	BucketNames pulumi.StringMapOutput `pulumi:"bucketNames"`
	// BucketArns maps each bucket's short name to its ARN.
	BucketArns pulumi.StringMapOutput `pulumi:"bucketArns"`
	// KMSKeyArn is the ARN of the shared KMS key, "" when no bucket uses kms.
	KMSKeyArn pulumi.StringOutput `pulumi:"kmsKeyArn"`
}

// NewStorage creates the buckets described by args, each with versioning,
// default encryption, a public access block, BucketOwnerEnforced ownership,
// a lifecycle configuration and a TLS-only bucket policy.
func NewStorage(ctx *pulumi.Context, name string, args *StorageArgs, opts ...pulumi.ResourceOption) (*Storage, error) {
	if err := validate(name, args); err != nil {
		return nil, fmt.Errorf("storage %q: %w", name, err)
	}
	c := &Storage{}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("storage %q: register component: %w", name, err)
	}
	parent := pulumi.Parent(c)

	kmsKeyArn := pulumi.String("").ToStringOutput()
	var key *kms.Key
	for _, b := range args.Buckets {
		if b.Encryption == EncryptionKMS {
			var err error
			key, err = kms.NewKey(ctx, name+"-kms", &kms.KeyArgs{
				Description:          pulumi.Sprintf("Plinth storage %s: S3 bucket encryption", name),
				EnableKeyRotation:    pulumi.Bool(true),
				DeletionWindowInDays: pulumi.Int(30),
				Tags:                 pulumi.ToStringMap(args.Tags),
			}, parent)
			if err != nil {
				return nil, fmt.Errorf("storage %q: kms key: %w", name, err)
			}
			kmsKeyArn = key.Arn
			break
		}
	}

	names := pulumi.StringMap{}
	arns := pulumi.StringMap{}
	for _, b := range args.Buckets {
		bucket, err := newBucket(ctx, name, b, args.Tags, key, parent)
		if err != nil {
			return nil, fmt.Errorf("storage %q: bucket %q: %w", name, b.Name, err)
		}
		names[b.Name] = bucket.Bucket
		arns[b.Name] = bucket.Arn
	}

	c.BucketNames = names.ToStringMapOutput()
	c.BucketArns = arns.ToStringMapOutput()
	c.KMSKeyArn = kmsKeyArn
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"bucketNames": c.BucketNames,
		"bucketArns":  c.BucketArns,
		"kmsKeyArn":   c.KMSKeyArn,
	}); err != nil {
		return nil, fmt.Errorf("storage %q: register outputs: %w", name, err)
	}
	return c, nil
}

// newBucket creates one bucket and the resources that configure it.
func newBucket(ctx *pulumi.Context, component string, b BucketArgs, tags map[string]string, key *kms.Key, parent pulumi.ResourceOption) (*s3.BucketV2, error) {
	ln := component + "-" + b.Name
	bucketTags := maps.Clone(tags)
	if bucketTags == nil {
		bucketTags = map[string]string{}
	}
	bucketTags[PurposeTag] = b.Purpose

	bucket, err := s3.NewBucketV2(ctx, ln, &s3.BucketV2Args{
		Tags: pulumi.ToStringMap(bucketTags),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("bucket: %w", err)
	}

	// Private by construction: no public ACLs or policies, and ACLs are
	// disabled altogether.
	pab, err := s3.NewBucketPublicAccessBlock(ctx, ln+"-public-access", &s3.BucketPublicAccessBlockArgs{
		Bucket:                bucket.ID(),
		BlockPublicAcls:       pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		RestrictPublicBuckets: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("public access block: %w", err)
	}
	ownership, err := s3.NewBucketOwnershipControls(ctx, ln+"-ownership", &s3.BucketOwnershipControlsArgs{
		Bucket: bucket.ID(),
		Rule: &s3.BucketOwnershipControlsRuleArgs{
			ObjectOwnership: pulumi.String("BucketOwnerEnforced"),
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("ownership controls: %w", err)
	}

	status := "Suspended"
	if b.Versioning {
		status = "Enabled"
	}
	versioning, err := s3.NewBucketVersioningV2(ctx, ln+"-versioning", &s3.BucketVersioningV2Args{
		Bucket: bucket.ID(),
		VersioningConfiguration: &s3.BucketVersioningV2VersioningConfigurationArgs{
			Status: pulumi.String(status),
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("versioning: %w", err)
	}

	rule := &s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
		ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
			SseAlgorithm: pulumi.String("AES256"),
		},
	}
	if b.Encryption == EncryptionKMS {
		rule = &s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
				SseAlgorithm:   pulumi.String("aws:kms"),
				KmsMasterKeyId: key.Arn,
			},
			BucketKeyEnabled: pulumi.Bool(true),
		}
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, ln+"-sse", &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules:  s3.BucketServerSideEncryptionConfigurationV2RuleArray{rule},
	}, parent); err != nil {
		return nil, fmt.Errorf("encryption: %w", err)
	}

	rules := s3.BucketLifecycleConfigurationV2RuleArray{
		&s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:     pulumi.String("abort-incomplete-multipart-uploads"),
			Status: pulumi.String("Enabled"),
			Filter: &s3.BucketLifecycleConfigurationV2RuleFilterArgs{},
			AbortIncompleteMultipartUpload: &s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{
				DaysAfterInitiation: pulumi.Int(AbortIncompleteMultipartUploadDays),
			},
		},
	}
	if b.ExpireNoncurrentAfterDays > 0 {
		rules = append(rules, &s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:     pulumi.String("expire-noncurrent-versions"),
			Status: pulumi.String("Enabled"),
			Filter: &s3.BucketLifecycleConfigurationV2RuleFilterArgs{},
			NoncurrentVersionExpiration: &s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{
				NoncurrentDays: pulumi.Int(b.ExpireNoncurrentAfterDays),
			},
		})
	}
	// Noncurrent-version rules need versioning configured first.
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, ln+"-lifecycle", &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules:  rules,
	}, parent, pulumi.DependsOn([]pulumi.Resource{versioning})); err != nil {
		return nil, fmt.Errorf("lifecycle: %w", err)
	}

	policy := bucket.Arn.ApplyT(func(arn string) (string, error) {
		return tlsOnlyPolicy(arn)
	}).(pulumi.StringOutput)
	if _, err := s3.NewBucketPolicy(ctx, ln+"-policy", &s3.BucketPolicyArgs{
		Bucket: bucket.ID(),
		Policy: policy,
	}, parent, pulumi.DependsOn([]pulumi.Resource{pab, ownership})); err != nil {
		return nil, fmt.Errorf("bucket policy: %w", err)
	}
	return bucket, nil
}

// tlsOnlyPolicy returns the bucket policy that denies every S3 action on
// the bucket and its objects to anyone when the request is not made over
// TLS.
func tlsOnlyPolicy(bucketArn string) (string, error) {
	if bucketArn == "" {
		return "", errors.New("tls-only policy: empty bucket ARN")
	}
	out, err := iampolicy.New(iampolicy.Statement{
		Sid:       "DenyInsecureTransport",
		Effect:    "Deny",
		Principal: "*",
		Action:    "s3:*",
		Resource:  []string{bucketArn, bucketArn + "/*"},
		Condition: map[string]map[string]string{
			"Bool": {"aws:SecureTransport": "false"},
		},
	}).JSON()
	if err != nil {
		return "", fmt.Errorf("tls-only policy: %w", err)
	}
	return out, nil
}

// validate checks args before any resource is registered.
func validate(name string, args *StorageArgs) error {
	if args == nil {
		return errors.New("args are required")
	}
	if len(args.Buckets) == 0 {
		return errors.New("at least one bucket is required")
	}
	seen := map[string]bool{}
	var errs []error
	for i, b := range args.Buckets {
		if b.Name == "" {
			errs = append(errs, fmt.Errorf("buckets[%d]: name is required", i))
			continue
		}
		at := fmt.Sprintf("buckets[%d] (%s)", i, b.Name)
		if seen[b.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate bucket name", at))
		}
		seen[b.Name] = true
		ln := name + "-" + b.Name
		if !bucketNameRE.MatchString(ln) || len(ln) > maxLogicalNameLength {
			errs = append(errs, fmt.Errorf("%s: %q is not a valid bucket name prefix: lowercase letters, digits and dashes, at most %d characters with the component name", at, ln, maxLogicalNameLength))
		}
		switch b.Purpose {
		case PurposeTracking, PurposeDatasets, PurposeModels, PurposeGeneral:
		default:
			errs = append(errs, fmt.Errorf("%s: purpose %q is not one of tracking, datasets, models, general", at, b.Purpose))
		}
		switch b.Encryption {
		case EncryptionKMS, EncryptionS3:
		default:
			errs = append(errs, fmt.Errorf("%s: encryption %q is not one of kms, s3", at, b.Encryption))
		}
		if b.ExpireNoncurrentAfterDays < 0 {
			errs = append(errs, fmt.Errorf("%s: expireNoncurrentAfterDays must not be negative, got %d", at, b.ExpireNoncurrentAfterDays))
		}
		if b.ExpireNoncurrentAfterDays > 0 && !b.Versioning {
			errs = append(errs, fmt.Errorf("%s: expireNoncurrentAfterDays needs versioning (there are no noncurrent versions without it)", at))
		}
	}
	return errors.Join(errs...)
}
