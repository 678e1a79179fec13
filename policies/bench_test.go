package policies_test

// Go policies against the same rules written in Rego and run by OPA
// (policies/rego), on a synthetic environment of 1,000+ resources shaped
// like those `plinth plan` records. Run with
//
//	go test ./policies/ -run '^$' -bench . -benchtime 2s -count 3
//
// checks/s is resources × policies evaluated per second. The Rego twins of
// the Go rules are in testdata/bench; TestBenchEnginesAgree keeps the
// comparison fair by requiring both engines to report the same violations.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/policies"
	"github.com/plinth-dev/plinth/policies/rego"
)

// benchPolicies are the Go policies that testdata/bench/*.rego mirror.
var benchPolicies = []string{
	"security.imdsv2-required",
	"security.s3-no-public-acl",
	"security.rds-not-public",
	"tagging.required-tags",
	"reliability.prod-db-multi-az",
}

// benchUnits is how many copies of a GPU pool, a storage bucket and their
// neighbours the synthetic environment has (about 24 resources each).
const benchUnits = 48

func goBenchPolicies(tb testing.TB) []*policies.Policy {
	tb.Helper()
	byID := map[string]*policies.Policy{}
	for _, p := range policies.All() {
		byID[p.ID()] = p
	}
	var out []*policies.Policy
	for _, id := range benchPolicies {
		p, ok := byID[id]
		if !ok {
			tb.Fatalf("policy %s is gone: update benchPolicies and testdata/bench", id)
		}
		out = append(out, p)
	}
	return out
}

func regoBenchRules(tb testing.TB) *rego.Rules {
	tb.Helper()
	rules, err := rego.Load("testdata/bench")
	if err != nil {
		tb.Fatal(err)
	}
	return rules
}

// benchTags are the tags Plinth gives every taggable resource.
func benchTags(name string, extra ...string) map[string]any {
	tags := map[string]any{
		"Name": name, "cost-center": "4711", "environment": "prod", "owner": "ml-platform",
		"plinth:environment": "ml-prod", "team": "ml-platform", "tier": "production",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		tags[extra[i]] = extra[i+1]
	}
	return tags
}

// benchInput builds a prod environment of units × (GPU pool, bucket, IAM,
// network pieces, and every fourth unit a tracking database), with
// violations sprinkled at fixed strides: weak IMDS settings, public ACLs
// and grants, public and single-AZ databases, missing or empty tags.
func benchInput(units int) *policies.Input {
	const env = "ml-prod"
	urn := func(component, typ, name string) string {
		return "urn:pulumi:prod::plinth::plinth:" + component + "$" + typ + "::" + name
	}
	var rs []*policies.Resource
	add := func(component, typ, name, path string, inputs map[string]any) *policies.Resource {
		r := &policies.Resource{
			URN: urn(component, typ, name), Type: typ, Name: name,
			Parent: "urn:pulumi:prod::plinth::plinth:" + component + "::" + env, Inputs: inputs, BlueprintPath: path,
		}
		rs = append(rs, r)
		return r
	}
	tagged := 0
	// tags returns the standard tags, and every 5th time without
	// cost-center, every 17th with an empty owner, every 23rd unknown.
	tags := func(name string) any {
		tagged++
		t := benchTags(name)
		switch {
		case tagged%23 == 0:
			return policies.Unknown
		case tagged%17 == 0:
			t["owner"] = " "
		case tagged%5 == 0:
			delete(t, "cost-center")
		}
		return t
	}
	for i := range units {
		pool := fmt.Sprintf("%s-pool%03d", env, i)
		poolPath := fmt.Sprintf("spec.gpuNodePools[%d]", i)
		tokens := "required"
		switch {
		case i%13 == 0:
			tokens = policies.Unknown
		case i%11 == 0:
			tokens = ""
		case i%7 == 0:
			tokens = "optional"
		}
		meta := map[string]any{"httpEndpoint": "enabled", "httpPutResponseHopLimit": 2.0}
		if tokens != "" {
			meta["httpTokens"] = tokens
		}
		add("compute:GpuNodePool", "aws:ec2/launchTemplate:LaunchTemplate", pool+"-lt", poolPath, map[string]any{
			"blockDeviceMappings": []any{map[string]any{"deviceName": "/dev/xvda", "ebs": map[string]any{"encrypted": "true", "volumeSize": 200.0, "volumeType": "gp3"}}},
			"metadataOptions":     meta,
			"tagSpecifications":   []any{map[string]any{"resourceType": "instance", "tags": benchTags(pool)}},
			"tags":                tags(pool + "-lt"),
		})
		add("compute:GpuNodePool", "aws:eks/nodeGroup:NodeGroup", pool, poolPath, map[string]any{
			"amiType": "AL2023_x86_64_NVIDIA", "capacityType": "ON_DEMAND", "clusterName": env,
			"instanceTypes": []any{"p4d.24xlarge"}, "labels": map[string]any{"workload": "training"},
			"launchTemplate": map[string]any{"id": policies.Unknown, "version": policies.Unknown},
			"scalingConfig":  map[string]any{"desiredSize": 0.0, "maxSize": 2.0, "minSize": 0.0},
			"taints":         []any{map[string]any{"effect": "NO_SCHEDULE", "key": "nvidia.com/gpu", "value": "present"}},
			"tags":           tags(pool),
		})
		add("compute:GpuNodePool", "aws:iam/role:Role", pool+"-role", poolPath, map[string]any{
			"assumeRolePolicy": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
			"tags":             tags(pool + "-role"),
		})
		for _, p := range []string{"AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKS_CNI_Policy"} {
			add("compute:GpuNodePool", "aws:iam/rolePolicyAttachment:RolePolicyAttachment", pool+"-"+p, poolPath, map[string]any{
				"policyArn": "arn:aws:iam::aws:policy/" + p, "role": policies.Unknown,
			})
		}

		bucket := fmt.Sprintf("%s-bucket%03d", env, i)
		bucketPath := fmt.Sprintf("spec.storage.buckets[%d]", i)
		bucketInputs := map[string]any{"tags": tags(bucket)}
		if bt, ok := bucketInputs["tags"].(map[string]any); ok {
			bt["plinth:purpose"] = []string{"tracking", "datasets", "models", "general"}[i%4]
		}
		if i%9 == 4 {
			bucketInputs["acl"] = "public-read"
		}
		add("storage:Storage", "aws:s3/bucketV2:BucketV2", bucket, bucketPath, bucketInputs)
		add("storage:Storage", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket+"-public-access", bucketPath, map[string]any{
			"blockPublicAcls": true, "blockPublicPolicy": true, "bucket": policies.Unknown, "ignorePublicAcls": true, "restrictPublicBuckets": true,
		})
		add("storage:Storage", "aws:s3/bucketOwnershipControls:BucketOwnershipControls", bucket+"-ownership", bucketPath, map[string]any{
			"bucket": policies.Unknown, "rule": map[string]any{"objectOwnership": "BucketOwnerEnforced"},
		})
		add("storage:Storage", "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", bucket+"-sse", bucketPath, map[string]any{
			"bucket": policies.Unknown,
			"rules":  []any{map[string]any{"applyServerSideEncryptionByDefault": map[string]any{"kmsMasterKeyId": policies.Unknown, "sseAlgorithm": "aws:kms"}, "bucketKeyEnabled": true}},
		})
		add("storage:Storage", "aws:s3/bucketVersioningV2:BucketVersioningV2", bucket+"-versioning", bucketPath, map[string]any{
			"bucket": policies.Unknown, "versioningConfiguration": map[string]any{"status": "Enabled"},
		})
		add("storage:Storage", "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2", bucket+"-lifecycle", bucketPath, map[string]any{
			"bucket": policies.Unknown,
			"rules":  []any{map[string]any{"abortIncompleteMultipartUpload": map[string]any{"daysAfterInitiation": 7.0}, "filter": map[string]any{}, "id": "abort-incomplete-multipart-uploads", "status": "Enabled"}},
		})
		add("storage:Storage", "aws:s3/bucketPolicy:BucketPolicy", bucket+"-policy", bucketPath, map[string]any{
			"bucket": policies.Unknown, "policy": policies.Unknown,
		})
		if i%10 == 3 {
			grantee := []string{"http://acs.amazonaws.com/groups/global/AllUsers", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"}[i%2]
			add("storage:Storage", "aws:s3/bucketAclV2:BucketAclV2", bucket+"-acl", bucketPath, map[string]any{
				"bucket": policies.Unknown,
				"accessControlPolicy": map[string]any{
					"owner":  map[string]any{"id": "owner-id"},
					"grants": []any{map[string]any{"permission": "READ", "grantee": map[string]any{"type": "Group", "uri": grantee}}},
				},
			})
		}

		az := []string{"us-west-2a", "us-west-2b", "us-west-2c"}[i%3]
		subnet := fmt.Sprintf("%s-private-%s-%03d", env, az, i)
		add("network:Network", "aws:ec2/subnet:Subnet", subnet, "spec.network", map[string]any{
			"availabilityZone": az, "cidrBlock": fmt.Sprintf("10.%d.%d.0/24", 50+i/250, i%250), "mapPublicIpOnLaunch": false,
			"tags": tags(subnet), "vpcId": policies.Unknown,
		})
		add("network:Network", "aws:ec2/routeTable:RouteTable", subnet+"-rt", "spec.network", map[string]any{"tags": tags(subnet + "-rt"), "vpcId": policies.Unknown})
		add("network:Network", "aws:ec2/routeTableAssociation:RouteTableAssociation", subnet+"-rta", "spec.network", map[string]any{"routeTableId": policies.Unknown, "subnetId": policies.Unknown})
		add("network:Network", "aws:ec2/route:Route", subnet+"-default", "spec.network", map[string]any{"destinationCidrBlock": "0.0.0.0/0", "natGatewayId": policies.Unknown, "routeTableId": policies.Unknown})
		add("network:Network", "aws:ec2/natGateway:NatGateway", subnet+"-nat", "spec.network", map[string]any{"allocationId": policies.Unknown, "subnetId": policies.Unknown, "tags": tags(subnet + "-nat")})
		add("network:Network", "aws:ec2/eip:Eip", subnet+"-eip", "spec.network", map[string]any{"domain": "vpc", "tags": tags(subnet + "-eip")})
		add("cluster:Cluster", "aws:cloudwatch/logGroup:LogGroup", fmt.Sprintf("%s-logs-%03d", env, i), "spec.cluster", map[string]any{
			"name": fmt.Sprintf("/aws/eks/%s/%03d", env, i), "retentionInDays": 90.0, "tags": tags(fmt.Sprintf("%s-logs-%03d", env, i)),
		})
		add("cluster:Cluster", "aws:eks/addon:Addon", fmt.Sprintf("%s-addon-%03d", env, i), "spec.cluster", map[string]any{
			"addonName": "vpc-cni", "addonVersion": "v1.23.2-eksbuild.1", "clusterName": env, "tags": tags(fmt.Sprintf("%s-addon-%03d", env, i)),
		})
		add("cluster:Cluster", "aws:kms/alias:Alias", fmt.Sprintf("%s-key-%03d-alias", env, i), "spec.cluster", map[string]any{
			"name": fmt.Sprintf("alias/%s-%03d", env, i), "targetKeyId": policies.Unknown,
		})
		add("cluster:Cluster", "aws:kms/key:Key", fmt.Sprintf("%s-key-%03d", env, i), "spec.cluster", map[string]any{
			"deletionWindowInDays": 30.0, "enableKeyRotation": true, "tags": tags(fmt.Sprintf("%s-key-%03d", env, i)),
		})
		// A resource with no tags at all, of a known-taggable type.
		if i%8 == 5 {
			add("tracking:TrackingStore", "aws:ec2/securityGroup:SecurityGroup", fmt.Sprintf("%s-sg-%03d", env, i), "spec.tracking", map[string]any{
				"description": "untagged", "vpcId": policies.Unknown,
			})
		}

		if i%4 == 0 {
			db := fmt.Sprintf("%s-db%03d", env, i)
			inputs := map[string]any{
				"allocatedStorage": 100.0, "backupRetentionPeriod": 14.0, "deletionProtection": true, "engine": "postgres",
				"engineVersion": "16", "instanceClass": "db.m7g.large", "multiAz": true, "password": policies.Secret,
				"publiclyAccessible": false, "storageEncrypted": true, "tags": tags(db),
			}
			switch (i / 4) % 6 {
			case 1:
				inputs["publiclyAccessible"] = true
			case 2:
				inputs["publiclyAccessible"] = "TRUE"
				inputs["multiAz"] = false
			case 3:
				delete(inputs, "multiAz")
			case 4:
				inputs["multiAz"] = policies.Unknown
			case 5:
				inputs["multiAz"] = "false"
			}
			r := add("tracking:TrackingStore", "aws:rds/instance:Instance", db, "spec.tracking", inputs)
			r.Protect = true
			add("tracking:TrackingStore", "aws:rds/subnetGroup:SubnetGroup", db+"-subnets", "spec.tracking", map[string]any{
				"subnetIds": policies.Unknown, "tags": tags(db + "-subnets"),
			})
			add("tracking:TrackingStore", "random:index/randomPassword:RandomPassword", db+"-password", "spec.tracking", map[string]any{
				"length": 32.0, "special": true,
			})
		}
	}
	return &policies.Input{
		Environment: policies.Environment{Name: env, Class: policies.ClassProd, Provider: "aws", Region: "us-west-2", Stack: "prod"},
		Resources:   rs,
	}
}

// finding is what both engines must agree on.
type finding struct{ policy, urn, message string }

func goFindings(tb testing.TB, ps []*policies.Policy, in *policies.Input) []finding {
	rep, err := policies.Evaluate(ps, in, nil)
	if err != nil {
		tb.Fatal(err)
	}
	var out []finding
	for _, v := range rep.Violations {
		out = append(out, finding{v.Policy, v.URN, v.Message})
	}
	return out
}

func regoFindings(tb testing.TB, rules *rego.Rules, in *policies.Input) []finding {
	vs, err := rules.Evaluate(context.Background(), in)
	if err != nil {
		tb.Fatal(err)
	}
	var out []finding
	for _, v := range vs {
		out = append(out, finding{strings.TrimPrefix(v.Policy, rego.Pack+"."), v.URN, v.Message})
	}
	return out
}

// TestBenchEnginesAgree: on the benchmark input, the Go policies and their
// Rego twins find the same violations (same count per rule, same
// resources, same messages), and each rule finds some but not all.
func TestBenchEnginesAgree(t *testing.T) {
	in := benchInput(benchUnits)
	if len(in.Resources) < 1000 {
		t.Fatalf("benchmark input has %d resources, want 1,000+", len(in.Resources))
	}
	goF := goFindings(t, goBenchPolicies(t), in)
	regoF := regoFindings(t, regoBenchRules(t), in)
	count := func(fs []finding) map[string]int {
		m := map[string]int{}
		for _, f := range fs {
			m[f.policy]++
		}
		return m
	}
	goCount, regoCount := count(goF), count(regoF)
	for _, id := range benchPolicies {
		if goCount[id] != regoCount[id] {
			t.Errorf("%s: Go finds %d violations, Rego %d", id, goCount[id], regoCount[id])
		}
		if goCount[id] == 0 {
			t.Errorf("%s finds nothing on the benchmark input: the comparison would not exercise it", id)
		}
		t.Logf("%-30s %4d violations", id, goCount[id])
	}
	if len(regoCount) != len(benchPolicies) {
		t.Errorf("Rego reports rules %v, want %v", regoCount, benchPolicies)
	}
	sortFindings := func(fs []finding) {
		slices.SortFunc(fs, func(a, b finding) int {
			return strings.Compare(a.policy+"\x00"+a.urn+"\x00"+a.message, b.policy+"\x00"+b.urn+"\x00"+b.message)
		})
	}
	sortFindings(goF)
	sortFindings(regoF)
	for i := range min(len(goF), len(regoF)) {
		if goF[i] != regoF[i] {
			t.Errorf("first difference:\n  Go:   %+v\n  Rego: %+v", goF[i], regoF[i])
			break
		}
	}
	t.Logf("%d resources, %d violations", len(in.Resources), len(goF))
}

// reportChecks reports resource×policy checks per second.
func reportChecks(b *testing.B, iterations, resources, rules int) {
	b.ReportMetric(float64(resources*rules*iterations)/b.Elapsed().Seconds(), "checks/s")
}

func BenchmarkGoPolicies(b *testing.B) {
	in := benchInput(benchUnits)
	ps := goBenchPolicies(b)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		if _, err := policies.Evaluate(ps, in, nil); err != nil {
			b.Fatal(err)
		}
	}
	reportChecks(b, n, len(in.Resources), len(ps))
}

func BenchmarkRegoPolicies(b *testing.B) {
	in := benchInput(benchUnits)
	rules := regoBenchRules(b)
	ctx := context.Background()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		if _, err := rules.Evaluate(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	reportChecks(b, n, len(in.Resources), len(benchPolicies))
}

func BenchmarkGoAllPolicies(b *testing.B) {
	in := benchInput(benchUnits)
	all := policies.All()
	if _, err := policies.Evaluate(all, in, nil); err != nil { // warm caches (GPU catalogue)
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		if _, err := policies.Evaluate(all, in, nil); err != nil {
			b.Fatal(err)
		}
	}
	reportChecks(b, n, len(in.Resources), len(all))
}

// BenchmarkRegoInput is the part of BenchmarkRegoPolicies spent turning
// the input into a Rego value, which the Go policies do not need.
func BenchmarkRegoInput(b *testing.B) {
	in := benchInput(benchUnits)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rego.InputValue(in); err != nil {
			b.Fatal(err)
		}
	}
}
