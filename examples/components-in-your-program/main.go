// Command components-in-your-program shows Plinth components used from an
// ordinary Pulumi Go program, without a blueprint: a versioned, encrypted,
// never-public bucket for model artifacts and an ECR repository for serving
// images, tagged the way your organisation wants.
//
//	cd examples/components-in-your-program
//	pulumi stack init dev && pulumi config set aws:region eu-west-1
//	pulumi up
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/components/registry"
	"github.com/plinth-dev/plinth/components/storage"
)

// Program is the example's Pulumi program (main runs it; the test runs it
// offline).
func Program(ctx *pulumi.Context) error {
	tags := map[string]string{"owner": "ml-platform", "cost-center": "4711", "environment": "dev"}

	models, err := storage.NewStorage(ctx, "models", &storage.StorageArgs{
		Buckets: []storage.BucketArgs{{
			Name:                      "artifacts",
			Purpose:                   "models",
			Versioning:                true,
			ExpireNoncurrentAfterDays: 30,
			Encryption:                "kms",
		}},
		Tags: tags,
	})
	if err != nil {
		return err
	}

	images, err := registry.NewRegistry(ctx, "serving", &registry.RegistryArgs{
		NamePrefix:     "ml",
		Repositories:   []string{"serving"},
		ScanOnPush:     true,
		ImmutableTags:  true,
		KeepLastImages: 20,
		Tags:           tags,
	})
	if err != nil {
		return err
	}

	ctx.Export("bucket", models.BucketNames.MapIndex(pulumi.String("artifacts")))
	ctx.Export("repository", images.RepositoryURLs.MapIndex(pulumi.String("serving")))
	return nil
}

func main() {
	pulumi.Run(Program)
}
