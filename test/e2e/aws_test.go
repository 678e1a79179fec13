package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/gruntwork-io/terratest/modules/aws"

	"github.com/plinth-dev/plinth/test/localcluster"
)

// Environment variables of the AWS suite.
const (
	// envAWSOptIn must be 1: the suite deploys billable resources (an EKS
	// cluster, a GPU instance, a database) for about 40 minutes.
	envAWSOptIn = "PLINTH_E2E_AWS"
	// envAWSRegion is the region (default us-east-1).
	envAWSRegion = "PLINTH_E2E_AWS_REGION"
	// envAWSGPUType is the GPU instance type of the training pool
	// (default g4dn.xlarge, the least expensive NVIDIA type).
	envAWSGPUType = "PLINTH_E2E_AWS_GPU_TYPE"
)

// TestAWSEnvironment deploys blueprints/gpu-training.yaml to a real AWS
// account with the plinth CLI and checks, with Terratest's aws module, what
// the policies and mocks can only promise: buckets encrypted and
// versioned, ECR scanning on push with immutable tags, the GPU nodes on the
// AL2023 NVIDIA AMI; then a no-op up, and destroy. The GPU pool is scaled
// to one node of envAWSGPUType so an AMI can be checked.
//
// It runs only with AWS credentials and PLINTH_E2E_AWS=1, and says which
// is missing otherwise.
func TestAWSEnvironment(t *testing.T) {
	region := envOr(envAWSRegion, "us-east-1")
	requireAWS(t, region)
	localcluster.RequireEngine(t)
	bins := buildBinaries(t)

	name := fmt.Sprintf("e2e-%d", time.Now().Unix()%100000)
	stackConfig := fmt.Sprintf(`config:
  plinth:blueprint: gpu-training
  aws:region: %s
  plinth:overrides:
    metadata.name: %s
    spec.gpuNodePools[0].instanceTypes: [%s]
    spec.gpuNodePools[0].capacityType: onDemand
    spec.gpuNodePools[0].minSize: 1
`, region, name, envOr(envAWSGPUType, "g4dn.xlarge"))
	root := projectRoot(t, map[string]string{name: stackConfig})
	p := &plinthCLI{t: t, bin: bins.plinth, dir: root, env: append(os.Environ(), "PLINTH_PASSPHRASE=e2e-"+name)}

	// Whatever happens, the account is left clean.
	defer func() {
		if code, out := p.run("destroy", "--stack", name, "--yes"); code != 0 {
			t.Errorf("destroy of %s failed (exit %d): delete its resources by hand (tag plinth.dev/environment=%s):\n%s", name, code, name, out)
		}
	}()

	r := p.mustJSON(0, "up", "--stack", name, "--yes", "--output", "json")
	t.Logf("up: %v in %.0fs", r.Changes, r.DurationSeconds)
	outputs := p.outputs(name)

	t.Run("buckets encrypted and versioned", func(t *testing.T) {
		client := aws.NewS3Client(t, region)
		for logical, bucket := range stringMap(t, outputs["bucketNames"]) {
			enc, err := client.GetBucketEncryption(context.Background(), &s3.GetBucketEncryptionInput{Bucket: awssdk.String(bucket)})
			if err != nil {
				t.Errorf("bucket %s (%s): %v", logical, bucket, err)
				continue
			}
			rules := enc.ServerSideEncryptionConfiguration.Rules
			if len(rules) == 0 || rules[0].ApplyServerSideEncryptionByDefault == nil {
				t.Errorf("bucket %s: no default encryption", bucket)
			}
			if v := aws.GetS3BucketVersioning(t, region, bucket); logical != "scratch" && v != "Enabled" {
				t.Errorf("bucket %s: versioning %q", bucket, v)
			}
		}
	})

	t.Run("ECR scans on push, tags immutable", func(t *testing.T) {
		for logical, url := range stringMap(t, outputs["repositoryUrls"]) {
			repoName := url[strings.Index(url, "/")+1:]
			repo := aws.GetECRRepo(t, region, repoName)
			if repo.ImageScanningConfiguration == nil || !repo.ImageScanningConfiguration.ScanOnPush {
				t.Errorf("repository %s (%s): scan on push is off", logical, repoName)
			}
			if string(repo.ImageTagMutability) != "IMMUTABLE" {
				t.Errorf("repository %s: tag mutability %s", logical, repo.ImageTagMutability)
			}
		}
	})

	t.Run("GPU nodes on the AL2023 NVIDIA AMI", func(t *testing.T) {
		client := aws.NewEc2Client(t, region)
		for _, group := range stringList(t, outputs["gpuNodeGroups"]) {
			ids := aws.GetEc2InstanceIdsByTag(t, region, "eks:nodegroup-name", group)
			if len(ids) == 0 {
				t.Errorf("node group %s has no instance", group)
				continue
			}
			inst, err := client.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: ids[:1]})
			if err != nil {
				t.Fatal(err)
			}
			image := *inst.Reservations[0].Instances[0].ImageId
			imgs, err := client.DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{image}})
			if err != nil || len(imgs.Images) == 0 {
				t.Fatalf("describe image %s: %v", image, err)
			}
			amiName := strings.ToLower(awssdk.ToString(imgs.Images[0].Name))
			if !strings.Contains(amiName, "al2023") || !strings.Contains(amiName, "nvidia") {
				t.Errorf("node group %s runs AMI %s (%s), want the AL2023 NVIDIA AMI", group, image, amiName)
			}
		}
	})

	t.Run("second up changes nothing", func(t *testing.T) {
		r := p.mustJSON(0, "up", "--stack", name, "--yes", "--output", "json")
		if n := changedCount(r.Changes); n != 0 {
			t.Errorf("second up changed %d resources: %v", n, r.Changes)
		}
	})
}

// requireAWS skips the test, saying why, unless AWS credentials resolve and
// the suite was asked for.
func requireAWS(t *testing.T, region string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err == nil {
		_, err = cfg.Credentials.Retrieve(ctx)
	}
	if err != nil {
		t.Skipf("skipping the AWS suite: no AWS credentials (%v); set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and %s=1 to run it", firstLine(err.Error()), envAWSOptIn)
	}
	if os.Getenv(envAWSOptIn) != "1" {
		t.Skipf("skipping the AWS suite: AWS credentials found, but %s=1 is not set; it deploys billable resources (EKS, one %s GPU node, RDS) for about 40 minutes in %s",
			envAWSOptIn, envOr(envAWSGPUType, "g4dn.xlarge"), region)
	}
}

// outputs reads the stack's outputs (secrets masked) with a refresh.
func (p *plinthCLI) outputs(stack string) map[string]any {
	p.t.Helper()
	return p.mustJSON(0, "refresh", "--stack", stack, "--output", "json").Outputs
}

func stringMap(t *testing.T, v any) map[string]string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("output %v is not a map", v)
	}
	out := map[string]string{}
	for k, x := range m {
		out[k] = fmt.Sprint(x)
	}
	return out
}

func stringList(t *testing.T, v any) []string {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("output %v is not a list", v)
	}
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = fmt.Sprint(x)
	}
	return out
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
