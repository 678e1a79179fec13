package main

import (
	"testing"

	"github.com/plinth-dev/plinth/stacks/plan"
)

// TestProgramPlansOffline runs the example offline and checks it creates
// what it says: one never-public KMS-encrypted bucket and one scanned,
// immutable repository.
func TestProgramPlansOffline(t *testing.T) {
	g, err := plan.Run(Program, plan.Options{Project: "plinth-components-example", Stack: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(g.ByType("aws:s3/bucketV2:BucketV2")); n != 1 {
		t.Errorf("%d buckets, want 1", n)
	}
	blocks := g.ByType("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
	if len(blocks) != 1 || blocks[0].Inputs["blockPublicAcls"] != true || blocks[0].Inputs["restrictPublicBuckets"] != true {
		t.Errorf("bucket is not locked against public access: %+v", blocks)
	}
	repos := g.ByType("aws:ecr/repository:Repository")
	if len(repos) != 1 || repos[0].Inputs["name"] != "ml/serving" || repos[0].Inputs["imageTagMutability"] != "IMMUTABLE" {
		t.Errorf("repository: %+v", repos)
	}
	if len(g.ByType("aws:kms/key:Key")) != 1 {
		t.Errorf("want one KMS key for the kms bucket")
	}
}
