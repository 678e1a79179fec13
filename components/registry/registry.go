// Package registry is the Plinth container registry component: private
// Amazon ECR repositories for training and serving images, with scanning
// on push, tag immutability, encryption at rest and a lifecycle policy
// that keeps the last N images.
package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the Pulumi type token of the Registry component.
const TypeToken = "plinth:registry:Registry"

// repositoryNameRE is the repository name syntax ECR accepts.
var repositoryNameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$`)

// maxRepositoryNameLength is ECR's limit on a repository name.
const maxRepositoryNameLength = 256

// RegistryArgs are the inputs of a Registry component.
type RegistryArgs struct {
	// NamePrefix namespaces the repositories: each is named
	// <NamePrefix>/<repository>. Empty names them <repository>.
	NamePrefix string
	// Repositories are the repository names under the prefix; at least
	// one, unique. Lowercase letters, digits, '.', '_', '-' and '/'.
	Repositories []string
	// ScanOnPush scans every pushed image for vulnerabilities.
	ScanOnPush bool
	// ImmutableTags makes tags IMMUTABLE: a pushed tag can never be moved
	// to another image. False makes them MUTABLE.
	ImmutableTags bool
	// KeepLastImages is how many images the lifecycle policy keeps per
	// repository (tagged or not); older ones expire. At least 1.
	KeepLastImages int
	// KMS encrypts images with KMS (the AWS managed key for ECR) instead of
	// AES256.
	KMS bool
	// Tags are applied to every taggable resource (already merged by the
	// caller: blueprint tags, labels and plinth:environment).
	Tags map[string]string
}

// Registry is a set of ECR repositories.
type Registry struct {
	pulumi.ResourceState

	// RepositoryURLs maps each repository (as given in Repositories) to its
	// URL (<account>.dkr.ecr.<region>.amazonaws.com/<prefix>/<repository>).
	RepositoryURLs pulumi.StringMapOutput `pulumi:"repositoryUrls"`
	// RepositoryArns maps each repository (as given in Repositories) to its ARN.
	RepositoryArns pulumi.StringMapOutput `pulumi:"repositoryArns"`
}

// NewRegistry creates one ECR repository per entry of args.Repositories,
// each with its lifecycle policy.
func NewRegistry(ctx *pulumi.Context, name string, args *RegistryArgs, opts ...pulumi.ResourceOption) (*Registry, error) {
	if err := validate(name, args); err != nil {
		return nil, fmt.Errorf("registry %q: %w", name, err)
	}
	policy, err := lifecyclePolicy(args.KeepLastImages)
	if err != nil {
		return nil, fmt.Errorf("registry %q: %w", name, err)
	}
	c := &Registry{}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registry %q: register component: %w", name, err)
	}
	parent := pulumi.Parent(c)

	mutability := "MUTABLE"
	if args.ImmutableTags {
		mutability = "IMMUTABLE"
	}
	encryption := "AES256"
	if args.KMS {
		encryption = "KMS" // without a key: the AWS managed key for ECR
	}

	urls := pulumi.StringMap{}
	arns := pulumi.StringMap{}
	for _, r := range args.Repositories {
		ln := logicalName(name, r)
		repo, err := ecr.NewRepository(ctx, ln, &ecr.RepositoryArgs{
			Name:               pulumi.String(fullName(args.NamePrefix, r)),
			ImageTagMutability: pulumi.String(mutability),
			ImageScanningConfiguration: &ecr.RepositoryImageScanningConfigurationArgs{
				ScanOnPush: pulumi.Bool(args.ScanOnPush),
			},
			EncryptionConfigurations: ecr.RepositoryEncryptionConfigurationArray{
				&ecr.RepositoryEncryptionConfigurationArgs{
					EncryptionType: pulumi.String(encryption),
				},
			},
			ForceDelete: pulumi.Bool(false),
			Tags:        pulumi.ToStringMap(args.Tags),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("registry %q: repository %q: %w", name, r, err)
		}
		if _, err := ecr.NewLifecyclePolicy(ctx, ln+"-lifecycle", &ecr.LifecyclePolicyArgs{
			Repository: repo.Name,
			Policy:     pulumi.String(policy),
		}, parent); err != nil {
			return nil, fmt.Errorf("registry %q: repository %q: lifecycle policy: %w", name, r, err)
		}
		urls[r] = repo.RepositoryUrl
		arns[r] = repo.Arn
	}

	c.RepositoryURLs = urls.ToStringMapOutput()
	c.RepositoryArns = arns.ToStringMapOutput()
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"repositoryUrls": c.RepositoryURLs,
		"repositoryArns": c.RepositoryArns,
	}); err != nil {
		return nil, fmt.Errorf("registry %q: register outputs: %w", name, err)
	}
	return c, nil
}

// fullName is a repository's ECR name.
func fullName(prefix, repository string) string {
	if prefix == "" {
		return repository
	}
	return prefix + "/" + repository
}

// logicalName is a repository's Pulumi logical name: the component name
// and the repository, with '/' as '-'.
func logicalName(component, repository string) string {
	return component + "-" + strings.ReplaceAll(repository, "/", "-")
}

// lifecycleRule is one rule of an ECR lifecycle policy.
type lifecycleRule struct {
	RulePriority int    `json:"rulePriority"`
	Description  string `json:"description"`
	Selection    struct {
		TagStatus   string `json:"tagStatus"`
		CountType   string `json:"countType"`
		CountNumber int    `json:"countNumber"`
	} `json:"selection"`
	Action struct {
		Type string `json:"type"`
	} `json:"action"`
}

// lifecyclePolicy returns the ECR lifecycle policy that expires every image
// but the newest keep (tagged or untagged).
func lifecyclePolicy(keep int) (string, error) {
	if keep < 1 {
		return "", fmt.Errorf("lifecycle policy: must keep at least 1 image, got %d", keep)
	}
	rule := lifecycleRule{RulePriority: 1, Description: fmt.Sprintf("Keep the last %d images", keep)}
	rule.Selection.TagStatus = "any"
	rule.Selection.CountType = "imageCountMoreThan"
	rule.Selection.CountNumber = keep
	rule.Action.Type = "expire"
	out, err := json.Marshal(struct {
		Rules []lifecycleRule `json:"rules"`
	}{[]lifecycleRule{rule}})
	if err != nil {
		return "", fmt.Errorf("lifecycle policy: %w", err)
	}
	return string(out), nil
}

// validate checks args before any resource is registered.
func validate(name string, args *RegistryArgs) error {
	if args == nil {
		return errors.New("args are required")
	}
	var errs []error
	if args.NamePrefix != "" && !repositoryNameRE.MatchString(args.NamePrefix) {
		errs = append(errs, fmt.Errorf("namePrefix %q is not a valid repository name prefix: lowercase letters and digits separated by '.', '_', '-' or '/'", args.NamePrefix))
	}
	if len(args.Repositories) == 0 {
		errs = append(errs, errors.New("at least one repository is required"))
	}
	seen := map[string]string{} // logical name → repository
	for i, r := range args.Repositories {
		if r == "" {
			errs = append(errs, fmt.Errorf("repositories[%d]: name is required", i))
			continue
		}
		full := fullName(args.NamePrefix, r)
		if !repositoryNameRE.MatchString(r) || len(full) > maxRepositoryNameLength {
			errs = append(errs, fmt.Errorf("repositories[%d]: %q is not a valid repository name: lowercase letters and digits separated by '.', '_', '-' or '/', at most %d characters with the prefix", i, full, maxRepositoryNameLength))
			continue
		}
		ln := logicalName(name, r)
		if prev, ok := seen[ln]; ok {
			if prev == r {
				errs = append(errs, fmt.Errorf("repositories[%d]: duplicate repository %q", i, r))
			} else {
				errs = append(errs, fmt.Errorf("repositories[%d]: %q and %q would share the logical name %q", i, prev, r, ln))
			}
			continue
		}
		seen[ln] = r
	}
	if args.KeepLastImages < 1 {
		errs = append(errs, fmt.Errorf("keepLastImages must be at least 1, got %d", args.KeepLastImages))
	}
	return errors.Join(errs...)
}
