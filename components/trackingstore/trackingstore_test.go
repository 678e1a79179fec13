package trackingstore

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/blueprints/versions"
	"github.com/plinth-dev/plinth/stacks/plan"
)

const (
	tPassword    = "random:index/randomPassword:RandomPassword"
	tSG          = "aws:ec2/securityGroup:SecurityGroup"
	tSubnetGroup = "aws:rds/subnetGroup:SubnetGroup"
	tInstance    = "aws:rds/instance:Instance"
	tRole        = "aws:iam/role:Role"
	tRolePolicy  = "aws:iam/rolePolicy:RolePolicy"

	bucketArn   = "arn:aws:s3:::plinth-dev-tracking-1a2b3c4"
	keyArn      = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	providerArn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC123"
	issuer      = "oidc.eks.eu-west-1.amazonaws.com/id/ABC123"
)

var tags = map[string]string{"team": "ml", "plinth:environment": "dev"}

func base(mod ...func(*TrackingStoreArgs)) *TrackingStoreArgs {
	a := &TrackingStoreArgs{
		VpcID:                   pulumi.String("vpc-1"),
		SubnetIDs:               pulumi.StringArray{pulumi.String("subnet-a"), pulumi.String("subnet-b")},
		AllowedSecurityGroupIDs: pulumi.StringArray{pulumi.String("sg-cluster"), pulumi.String("sg-nodes")},
		InstanceClass:           "db.t4g.medium",
		StorageGiB:              50,
		MultiAZ:                 true,
		DeletionProtection:      true,
		EngineVersion:           "16",
		ArtifactBucketArn:       pulumi.String(bucketArn),
		OIDCProviderArn:         pulumi.String(providerArn),
		OIDCProviderURL:         pulumi.String(issuer),
		Tags:                    tags,
	}
	for _, m := range mod {
		m(a)
	}
	return a
}

func run(t *testing.T, args *TrackingStoreArgs) *plan.Graph {
	t.Helper()
	g, err := plan.Run(func(ctx *pulumi.Context) error {
		_, err := NewTrackingStore(ctx, "t", args)
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

func one(t *testing.T, g *plan.Graph, token string) *plan.Resource {
	t.Helper()
	rs := g.ByType(token)
	if len(rs) != 1 {
		t.Fatalf("%d %s, want 1", len(rs), token)
	}
	return rs[0]
}

func TestDatabase(t *testing.T) {
	cases := []struct {
		name       string
		args       *TrackingStoreArgs
		multiAZ    bool
		protected  bool
		retention  float64
		engine     string
		storageGiB float64
	}{
		{"production", base(), true, true, 7, "16", 50},
		{"single AZ", base(func(a *TrackingStoreArgs) { a.MultiAZ = false }), false, true, 7, "16", 50},
		{"unprotected", base(func(a *TrackingStoreArgs) {
			a.DeletionProtection = false
			a.BackupRetentionDays = 14
			a.StorageGiB = 20
		}), true, false, 14, "16", 20},
		{"pinned engine", base(func(a *TrackingStoreArgs) { a.EngineVersion = "" }), true, true, 7, versions.Get().Postgres.EngineVersion, 50},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := run(t, tc.args)
			c := g.Find(TypeToken, "t")
			if c == nil {
				t.Fatal("no TrackingStore component")
			}
			for _, r := range g.Resources {
				if r != c && r.Parent != c.URN {
					t.Errorf("%s %s: parent %q, want the component", r.Type, r.Name, r.Parent)
				}
			}
			db := one(t, g, tInstance)
			want := map[string]any{
				"engine":                  "postgres",
				"engineVersion":           tc.engine,
				"autoMinorVersionUpgrade": true,
				"instanceClass":           "db.t4g.medium",
				"allocatedStorage":        tc.storageGiB,
				"storageType":             "gp3",
				"storageEncrypted":        true,
				"publiclyAccessible":      false,
				"multiAz":                 tc.multiAZ,
				"deletionProtection":      tc.protected,
				"backupRetentionPeriod":   tc.retention,
				"copyTagsToSnapshot":      true,
				"skipFinalSnapshot":       false,
				"finalSnapshotIdentifier": "t-db-final",
				"dbName":                  "mlflow",
				"username":                "mlflow",
				"port":                    5432.0,
				"tags":                    map[string]any{"team": "ml", "plinth:environment": "dev"},
			}
			for k, v := range want {
				if got := db.Inputs[k]; !reflect.DeepEqual(got, v) {
					t.Errorf("db %s = %#v, want %#v", k, got, v)
				}
			}
			if db.Protect != tc.protected {
				t.Errorf("db protect = %v, want %v", db.Protect, tc.protected)
			}
			for _, r := range g.Resources {
				if r != db && r.Protect {
					t.Errorf("%s is protected too", r.Name)
				}
			}
			if got := db.Inputs["vpcSecurityGroupIds"]; !reflect.DeepEqual(got, []any{plan.Unknown}) {
				t.Errorf("vpcSecurityGroupIds = %v, want the component's security group only", got)
			}
			sn := one(t, g, tSubnetGroup)
			if got := sn.Inputs["subnetIds"]; !reflect.DeepEqual(got, []any{"subnet-a", "subnet-b"}) {
				t.Errorf("subnet group subnets = %v", got)
			}
		})
	}
}

func TestPasswordIsSecret(t *testing.T) {
	g := run(t, base())
	pw := one(t, g, tPassword)
	if pw.Inputs["length"] != 32.0 || pw.Inputs["special"] != true {
		t.Errorf("password inputs = %v", pw.Inputs)
	}
	specials, _ := pw.Inputs["overrideSpecial"].(string)
	if specials == "" || strings.ContainsAny(specials, `/@" `) {
		t.Errorf("overrideSpecial = %q: must be set and exclude / @ \" and space", specials)
	}
	db := one(t, g, tInstance)
	if got := db.Inputs["password"]; got != plan.Secret {
		t.Errorf("db password renders as %v, want %s", got, plan.Secret)
	}
	raw := db.Raw[resource.PropertyKey("password")]
	if !raw.IsSecret() && !(raw.IsOutput() && raw.OutputValue().Secret) {
		t.Errorf("db password %v is not marked secret", raw)
	}
}

func TestPasswordOutputIsSecret(t *testing.T) {
	secret := make(chan bool, 1)
	_, err := plan.Run(func(ctx *pulumi.Context) error {
		ts, err := NewTrackingStore(ctx, "t", base())
		if err != nil {
			return err
		}
		go func() { secret <- pulumi.IsSecret(ts.DatabasePassword) }()
		return nil
	}, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-secret:
		if !s {
			t.Error("databasePassword output is not secret")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("databasePassword never resolved")
	}
}

// deployMocks answers a (mocked) deployment: the generated password is
// known, as it is after apply.
type deployMocks struct{ dbPassword chan resource.PropertyValue }

func (m deployMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	state := args.Inputs.Copy()
	switch args.TypeToken {
	case tPassword:
		state["result"] = resource.NewProperty("generated-pw")
	case tInstance:
		m.dbPassword <- args.Inputs["password"]
	}
	return args.Name + "-id", state, nil
}

func (deployMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("unexpected invoke %s", args.Token)
}

func TestDeploymentUsesTheGeneratedPassword(t *testing.T) {
	m := deployMocks{dbPassword: make(chan resource.PropertyValue, 1)}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := NewTrackingStore(ctx, "t", base())
		return err
	}, pulumi.WithMocks("plinth", "deploy", m))
	if err != nil {
		t.Fatal(err)
	}
	got := <-m.dbPassword
	if !got.IsSecret() {
		t.Fatalf("db password %v is not secret", got)
	}
	if v := got.SecretValue().Element; !v.IsString() || v.StringValue() != "generated-pw" {
		t.Errorf("db password = %v, want the generated one", v)
	}
}

func TestSecurityGroupIngress(t *testing.T) {
	cases := []struct {
		name    string
		allowed pulumi.StringArray
	}{
		{"one group", pulumi.StringArray{pulumi.String("sg-cluster")}},
		{"two groups", pulumi.StringArray{pulumi.String("sg-cluster"), pulumi.String("sg-nodes")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := run(t, base(func(a *TrackingStoreArgs) { a.AllowedSecurityGroupIDs = tc.allowed }))
			sg := one(t, g, tSG)
			if sg.Inputs["vpcId"] != "vpc-1" {
				t.Errorf("vpcId = %v", sg.Inputs["vpcId"])
			}
			if e, ok := sg.Inputs["egress"]; ok && e != nil && len(e.([]any)) != 0 {
				t.Errorf("egress = %v, want none", e)
			}
			ingress, _ := sg.Inputs["ingress"].([]any)
			if len(ingress) != 1 {
				t.Fatalf("ingress = %v, want one 5432/tcp rule", sg.Inputs["ingress"])
			}
			rule := ingress[0].(map[string]any)
			if rule["fromPort"] != 5432.0 || rule["toPort"] != 5432.0 || rule["protocol"] != "tcp" {
				t.Errorf("ingress rule = %v, want 5432/tcp", rule)
			}
			var want []any
			for _, id := range tc.allowed {
				want = append(want, string(id.(pulumi.String)))
			}
			if got := rule["securityGroups"]; !reflect.DeepEqual(got, want) {
				t.Errorf("ingress sources = %v, want %v", got, want)
			}
			for _, k := range []string{"cidrBlocks", "ipv6CidrBlocks", "prefixListIds", "self"} {
				if v, ok := rule[k]; ok && v != nil && v != false && !reflect.DeepEqual(v, []any{}) {
					t.Errorf("ingress %s = %v, want none", k, v)
				}
			}
			if strings.Contains(toJSON(t, sg.Inputs), "0.0.0.0/0") {
				t.Error("security group is open to 0.0.0.0/0")
			}
		})
	}
}

func TestRole(t *testing.T) {
	cases := []struct {
		name     string
		args     *TrackingStoreArgs
		sub      string
		kmsGrant bool
	}{
		{"defaults, no key", base(), "system:serviceaccount:plinth-tracking:mlflow", false},
		{"custom account, key", base(func(a *TrackingStoreArgs) {
			a.ServiceAccountNamespace, a.ServiceAccountName = "mlops", "tracker"
			a.ArtifactKMSKeyArn = pulumi.String(keyArn)
		}), "system:serviceaccount:mlops:tracker", true},
		{"empty key", base(func(a *TrackingStoreArgs) { a.ArtifactKMSKeyArn = pulumi.String("") }), "system:serviceaccount:plinth-tracking:mlflow", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := run(t, tc.args)
			role := one(t, g, tRole)
			trust, ok := role.Inputs["assumeRolePolicy"].(string)
			if !ok {
				t.Fatalf("assumeRolePolicy = %v", role.Inputs["assumeRolePolicy"])
			}
			if !strings.Contains(trust, `"`+issuer+`:sub":"`+tc.sub+`"`) {
				t.Errorf("trust policy %s does not pin the subject to %s", trust, tc.sub)
			}
			if !reflect.DeepEqual(role.Inputs["tags"], map[string]any{"team": "ml", "plinth:environment": "dev"}) {
				t.Errorf("role tags = %v", role.Inputs["tags"])
			}
			rp := one(t, g, tRolePolicy)
			policy, ok := rp.Inputs["policy"].(string)
			if !ok {
				t.Fatalf("policy = %v", rp.Inputs["policy"])
			}
			if got := strings.Contains(policy, keyArn); got != tc.kmsGrant {
				t.Errorf("policy grants the KMS key: %v, want %v\n%s", got, tc.kmsGrant, policy)
			}
			if got := strings.Contains(policy, "kms:"); got != tc.kmsGrant {
				t.Errorf("policy has KMS actions: %v, want %v", got, tc.kmsGrant)
			}
		})
	}
}

// statement is a decoded policy statement.
type statement struct {
	Effect    string
	Principal map[string]string
	Action    []string
	Resource  []string
	Condition map[string]map[string]string
}

func decode(t *testing.T, s string) []statement {
	t.Helper()
	var doc struct {
		Version   string
		Statement []statement
	}
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	if doc.Version != "2012-10-17" {
		t.Errorf("version %q", doc.Version)
	}
	return doc.Statement
}

func TestTrustPolicy(t *testing.T) {
	for _, url := range []string{issuer, "https://" + issuer} {
		out, err := trustPolicy(providerArn, url, "plinth-tracking", "mlflow")
		if err != nil {
			t.Fatal(err)
		}
		st := decode(t, out)
		if len(st) != 1 {
			t.Fatalf("%d statements", len(st))
		}
		s := st[0]
		if s.Effect != "Allow" || !reflect.DeepEqual(s.Principal, map[string]string{"Federated": providerArn}) ||
			!reflect.DeepEqual(s.Action, []string{"sts:AssumeRoleWithWebIdentity"}) {
			t.Errorf("statement = %+v", s)
		}
		want := map[string]map[string]string{"StringEquals": {
			issuer + ":sub": "system:serviceaccount:plinth-tracking:mlflow",
			issuer + ":aud": "sts.amazonaws.com",
		}}
		if !reflect.DeepEqual(s.Condition, want) {
			t.Errorf("condition = %v, want exactly %v", s.Condition, want)
		}
		if strings.Contains(out, "*") {
			t.Errorf("trust policy has a wildcard: %s", out)
		}
	}
	for _, bad := range [][4]string{{"", issuer, "n", "s"}, {providerArn, "", "n", "s"}, {providerArn, issuer, "", "s"}, {providerArn, issuer, "n", ""}} {
		if _, err := trustPolicy(bad[0], bad[1], bad[2], bad[3]); err == nil {
			t.Errorf("trustPolicy%v accepted", bad)
		}
	}
}

func TestArtifactPolicy(t *testing.T) {
	cases := []struct {
		name string
		key  string
		want []statement
	}{
		{"no key", "", []statement{
			{Effect: "Allow", Action: []string{"s3:ListBucket", "s3:GetBucketLocation"}, Resource: []string{bucketArn}},
			{Effect: "Allow", Action: []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, Resource: []string{bucketArn + "/*"}},
		}},
		{"key", keyArn, []statement{
			{Effect: "Allow", Action: []string{"s3:ListBucket", "s3:GetBucketLocation"}, Resource: []string{bucketArn}},
			{Effect: "Allow", Action: []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, Resource: []string{bucketArn + "/*"}},
			{Effect: "Allow", Action: []string{"kms:Decrypt", "kms:GenerateDataKey"}, Resource: []string{keyArn}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := artifactPolicy(bucketArn, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			got := decode(t, out)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("statements = %+v\nwant %+v", got, tc.want)
			}
			for _, s := range got {
				for _, r := range s.Resource {
					if r != bucketArn && r != bucketArn+"/*" && r != keyArn {
						t.Errorf("resource %q is not the tracking bucket or its key", r)
					}
				}
				for _, a := range s.Action {
					if strings.Contains(a, "*") {
						t.Errorf("wildcard action %q", a)
					}
				}
			}
		})
	}
	for _, bad := range [][2]string{{"", ""}, {"*", ""}, {"arn:aws:s3:::*", ""}, {bucketArn, "*"}} {
		if _, err := artifactPolicy(bad[0], bad[1]); err == nil {
			t.Errorf("artifactPolicy%v accepted", bad)
		}
	}
}

func TestFinalSnapshotIdentifier(t *testing.T) {
	for in, want := range map[string]string{
		"t":              "t-db-final",
		"prod-tracking":  "prod-tracking-db-final",
		"Prod_Tracking.": "prod-tracking-db-final",
		"1st--store":     "plinth-1st-store-db-final",
		"--":             "plinth-db-final",
	} {
		if got := finalSnapshotIdentifier(in); got != want {
			t.Errorf("finalSnapshotIdentifier(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBadArgs(t *testing.T) {
	cases := []struct {
		name string
		args *TrackingStoreArgs
		want string
	}{
		{"nil args", nil, "args are required"},
		{"no vpc", base(func(a *TrackingStoreArgs) { a.VpcID = nil }), "vpcId is required"},
		{"no subnets", base(func(a *TrackingStoreArgs) { a.SubnetIDs = nil }), "subnetIds is required"},
		{"one subnet", base(func(a *TrackingStoreArgs) { a.SubnetIDs = pulumi.StringArray{pulumi.String("subnet-a")} }), "at least two subnets"},
		{"no allowed SGs", base(func(a *TrackingStoreArgs) { a.AllowedSecurityGroupIDs = nil }), "allowedSecurityGroupIds is required"},
		{"empty allowed SGs", base(func(a *TrackingStoreArgs) { a.AllowedSecurityGroupIDs = pulumi.StringArray{} }), "at least one security group"},
		{"no bucket", base(func(a *TrackingStoreArgs) { a.ArtifactBucketArn = nil }), "artifactBucketArn is required"},
		{"no provider", base(func(a *TrackingStoreArgs) { a.OIDCProviderArn = nil }), "oidcProviderArn is required"},
		{"no issuer", base(func(a *TrackingStoreArgs) { a.OIDCProviderURL = nil }), "oidcProviderUrl is required"},
		{"instance class", base(func(a *TrackingStoreArgs) { a.InstanceClass = "t4g.medium" }), "not an RDS instance class"},
		{"small storage", base(func(a *TrackingStoreArgs) { a.StorageGiB = 10 }), "storageGiB must be between"},
		{"no storage", base(func(a *TrackingStoreArgs) { a.StorageGiB = 0 }), "storageGiB must be between"},
		{"negative retention", base(func(a *TrackingStoreArgs) { a.BackupRetentionDays = -1 }), "backupRetentionDays"},
		{"long retention", base(func(a *TrackingStoreArgs) { a.BackupRetentionDays = 36 }), "backupRetentionDays"},
		{"bad namespace", base(func(a *TrackingStoreArgs) { a.ServiceAccountNamespace = "Tracking" }), "serviceAccountNamespace"},
		{"bad account", base(func(a *TrackingStoreArgs) { a.ServiceAccountName = "ml:flow" }), "serviceAccountName"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := plan.Run(func(ctx *pulumi.Context) error {
				_, err := NewTrackingStore(ctx, "t", tc.args)
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

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
