// Package trackingstore is the AWS side of the Plinth MLflow tracking
// server: a private, encrypted PostgreSQL database (Amazon RDS) for the
// tracking metadata, reachable only from the given security groups, and an
// IRSA role that lets the MLflow service account read and write the
// tracking artifact bucket, and nothing else.
package trackingstore

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/blueprints/versions"
	"github.com/plinth-dev/plinth/components/iampolicy"
)

// TypeToken is the Pulumi type token of the TrackingStore component.
const TypeToken = "plinth:tracking:TrackingStore"

// Defaults and fixed settings.
const (
	// DefaultBackupRetentionDays is used when BackupRetentionDays is 0.
	DefaultBackupRetentionDays = 7
	// DefaultServiceAccountNamespace is the MLflow service account's
	// namespace when ServiceAccountNamespace is empty.
	DefaultServiceAccountNamespace = "plinth-tracking"
	// DefaultServiceAccountName is the MLflow service account's name when
	// ServiceAccountName is empty.
	DefaultServiceAccountName = "mlflow"
	// DatabaseName is the PostgreSQL database MLflow uses.
	DatabaseName = "mlflow"
	// DatabaseUser is the PostgreSQL master user MLflow connects as.
	DatabaseUser = "mlflow"
	// DatabasePort is the PostgreSQL port.
	DatabasePort = 5432
	// PasswordLength is the length of the generated database password.
	PasswordLength = 32
	// PasswordSpecials are the special characters the generated password
	// may contain: URL-unreserved ones, so the password needs no escaping
	// in a connection URI, and none of those RDS forbids ('/', '@', '"', ' ').
	PasswordSpecials = "-_.~"
)

// Limits RDS for PostgreSQL puts on the arguments.
const (
	minStorageGiB          = 20
	maxStorageGiB          = 65536
	maxBackupRetentionDays = 35
)

var (
	// namespaceRE is a Kubernetes namespace name (DNS-1123 label).
	namespaceRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// serviceAccountRE is a Kubernetes service account name (DNS-1123 subdomain).
	serviceAccountRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	// notIdentifierRE matches what an RDS snapshot identifier cannot hold.
	notIdentifierRE = regexp.MustCompile(`[^a-z0-9]+`)
)

// TrackingStoreArgs are the inputs of a TrackingStore component.
type TrackingStoreArgs struct {
	// VpcID is the VPC the database and its security group live in.
	VpcID pulumi.StringInput
	// SubnetIDs are the private subnets of the DB subnet group (at least
	// two, in different availability zones).
	SubnetIDs pulumi.StringArrayInput
	// AllowedSecurityGroupIDs are the only security groups (the EKS cluster
	// security group) allowed to reach PostgreSQL on 5432/tcp.
	AllowedSecurityGroupIDs pulumi.StringArrayInput
	// InstanceClass is the RDS instance class, e.g. db.t4g.medium.
	InstanceClass string
	// StorageGiB is the allocated gp3 storage in GiB (20 to 65536).
	StorageGiB int
	// MultiAZ runs a standby replica in a second availability zone.
	MultiAZ bool
	// DeletionProtection makes RDS refuse to delete the database, and
	// protects the instance in the Pulumi state.
	DeletionProtection bool
	// EngineVersion is the PostgreSQL engine version, e.g. "16"; empty
	// uses the pinned versions.Get().Postgres.EngineVersion.
	EngineVersion string
	// BackupRetentionDays is how many days automated backups are kept
	// (1 to 35); 0 uses DefaultBackupRetentionDays.
	BackupRetentionDays int
	// ArtifactBucketArn is the ARN of the tracking artifact bucket, the
	// only bucket the MLflow role may use.
	ArtifactBucketArn pulumi.StringInput
	// ArtifactKMSKeyArn is the ARN of the bucket's KMS key, if it uses
	// SSE-KMS: the role may then use it to encrypt and decrypt. Optional;
	// nil or "" grants no KMS access.
	ArtifactKMSKeyArn pulumi.StringInput
	// OIDCProviderArn is the ARN of the cluster's IAM OIDC (IRSA) provider.
	OIDCProviderArn pulumi.StringInput
	// OIDCProviderURL is the cluster's OIDC issuer without https://,
	// e.g. oidc.eks.eu-west-1.amazonaws.com/id/ABC.
	OIDCProviderURL pulumi.StringInput
	// ServiceAccountNamespace is the namespace of the MLflow service
	// account; empty means DefaultServiceAccountNamespace.
	ServiceAccountNamespace string
	// ServiceAccountName is the MLflow service account that may assume the
	// role; empty means DefaultServiceAccountName.
	ServiceAccountName string
	// Tags are applied to every taggable resource (already merged by the
	// caller: blueprint tags, labels and plinth:environment).
	Tags map[string]string
}

// TrackingStore is the database and the IAM role of an MLflow tracking
// server.
type TrackingStore struct {
	pulumi.ResourceState

	// DatabaseAddress is the database's host name.
	DatabaseAddress pulumi.StringOutput `pulumi:"databaseAddress"`
	// DatabasePort is the database's port.
	DatabasePort pulumi.IntOutput `pulumi:"databasePort"`
	// DatabaseName is the PostgreSQL database MLflow uses.
	DatabaseName pulumi.StringOutput `pulumi:"databaseName"`
	// DatabaseUser is the PostgreSQL user MLflow connects as.
	DatabaseUser pulumi.StringOutput `pulumi:"databaseUser"`
	// DatabasePassword is that user's generated password (a secret).
	DatabasePassword pulumi.StringOutput `pulumi:"databasePassword"`
	// RoleArn is the IRSA role for the MLflow service account.
	RoleArn pulumi.StringOutput `pulumi:"roleArn"`
}

// NewTrackingStore creates the tracking database (password, security
// group, subnet group, RDS instance) and the MLflow IRSA role.
func NewTrackingStore(ctx *pulumi.Context, name string, args *TrackingStoreArgs, opts ...pulumi.ResourceOption) (*TrackingStore, error) {
	a, err := withDefaults(args)
	if err != nil {
		return nil, fmt.Errorf("tracking store %q: %w", name, err)
	}
	c := &TrackingStore{}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("tracking store %q: register component: %w", name, err)
	}
	parent := pulumi.Parent(c)
	tags := pulumi.ToStringMap(a.Tags)

	password, err := random.NewRandomPassword(ctx, name+"-db-password", &random.RandomPasswordArgs{
		Length:          pulumi.Int(PasswordLength),
		Special:         pulumi.Bool(true),
		OverrideSpecial: pulumi.String(PasswordSpecials),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("tracking store %q: database password: %w", name, err)
	}

	dbPassword := password.Result

	// PostgreSQL from the allowed security groups only: no CIDR ingress,
	// and no egress (the database initiates no connections).
	sg, err := ec2.NewSecurityGroup(ctx, name+"-db-sg", &ec2.SecurityGroupArgs{
		Description: pulumi.String("Plinth tracking database: PostgreSQL from the cluster only"),
		VpcId:       a.VpcID,
		Ingress: ec2.SecurityGroupIngressArray{
			&ec2.SecurityGroupIngressArgs{
				Description:    pulumi.String("PostgreSQL from the allowed security groups"),
				Protocol:       pulumi.String("tcp"),
				FromPort:       pulumi.Int(DatabasePort),
				ToPort:         pulumi.Int(DatabasePort),
				SecurityGroups: a.AllowedSecurityGroupIDs,
			},
		},
		Tags: tags,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("tracking store %q: security group: %w", name, err)
	}

	subnets, err := rds.NewSubnetGroup(ctx, name+"-db-subnets", &rds.SubnetGroupArgs{
		Description: pulumi.String("Plinth tracking database: private subnets"),
		SubnetIds:   a.SubnetIDs,
		Tags:        tags,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("tracking store %q: subnet group: %w", name, err)
	}

	dbOpts := []pulumi.ResourceOption{parent}
	if a.DeletionProtection {
		dbOpts = append(dbOpts, pulumi.Protect(true))
	}
	db, err := rds.NewInstance(ctx, name+"-db", &rds.InstanceArgs{
		Engine:                  pulumi.String("postgres"),
		EngineVersion:           pulumi.String(a.EngineVersion),
		AutoMinorVersionUpgrade: pulumi.Bool(true),
		InstanceClass:           pulumi.String(a.InstanceClass),
		AllocatedStorage:        pulumi.Int(a.StorageGiB),
		StorageType:             pulumi.String("gp3"),
		StorageEncrypted:        pulumi.Bool(true),
		PubliclyAccessible:      pulumi.Bool(false),
		MultiAz:                 pulumi.Bool(a.MultiAZ),
		DeletionProtection:      pulumi.Bool(a.DeletionProtection),
		BackupRetentionPeriod:   pulumi.Int(a.BackupRetentionDays),
		CopyTagsToSnapshot:      pulumi.Bool(true),
		SkipFinalSnapshot:       pulumi.Bool(false),
		FinalSnapshotIdentifier: pulumi.String(finalSnapshotIdentifier(name)),
		DbName:                  pulumi.String(DatabaseName),
		Username:                pulumi.String(DatabaseUser),
		Password:                dbPassword,
		Port:                    pulumi.Int(DatabasePort),
		DbSubnetGroupName:       subnets.Name,
		VpcSecurityGroupIds:     pulumi.StringArray{sg.ID()},
		Tags:                    tags,
	}, dbOpts...)
	if err != nil {
		return nil, fmt.Errorf("tracking store %q: database: %w", name, err)
	}

	trust := pulumi.All(a.OIDCProviderArn, a.OIDCProviderURL).ApplyT(func(v []any) (string, error) {
		return trustPolicy(v[0].(string), v[1].(string), a.ServiceAccountNamespace, a.ServiceAccountName)
	}).(pulumi.StringOutput)
	role, err := iam.NewRole(ctx, name+"-role", &iam.RoleArgs{
		Description:      pulumi.Sprintf("Plinth tracking: MLflow service account %s/%s (IRSA)", a.ServiceAccountNamespace, a.ServiceAccountName),
		AssumeRolePolicy: trust,
		Tags:             tags,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("tracking store %q: role: %w", name, err)
	}
	access := pulumi.All(a.ArtifactBucketArn, a.ArtifactKMSKeyArn).ApplyT(func(v []any) (string, error) {
		return artifactPolicy(v[0].(string), v[1].(string))
	}).(pulumi.StringOutput)
	if _, err := iam.NewRolePolicy(ctx, name+"-artifacts", &iam.RolePolicyArgs{
		Role:   role.Name,
		Policy: access,
	}, parent); err != nil {
		return nil, fmt.Errorf("tracking store %q: artifact policy: %w", name, err)
	}

	c.DatabaseAddress = db.Address
	c.DatabasePort = db.Port
	c.DatabaseName = db.DbName
	c.DatabaseUser = db.Username
	c.DatabasePassword = pulumi.ToSecret(dbPassword).(pulumi.StringOutput)
	c.RoleArn = role.Arn
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"databaseAddress":  c.DatabaseAddress,
		"databasePort":     c.DatabasePort,
		"databaseName":     c.DatabaseName,
		"databaseUser":     c.DatabaseUser,
		"databasePassword": c.DatabasePassword,
		"roleArn":          c.RoleArn,
	}); err != nil {
		return nil, fmt.Errorf("tracking store %q: register outputs: %w", name, err)
	}
	return c, nil
}

// finalSnapshotIdentifier is the name of the snapshot RDS takes when the
// database is deleted: letters, digits and single dashes, starting with a
// letter.
func finalSnapshotIdentifier(component string) string {
	id := strings.Trim(notIdentifierRE.ReplaceAllString(strings.ToLower(component), "-"), "-")
	if id == "" || id[0] < 'a' || id[0] > 'z' {
		id = "plinth-" + id
	}
	id = strings.TrimSuffix(id, "-") + "-db-final"
	if len(id) > 255 {
		id = id[len(id)-255:]
	}
	return id
}

// trustPolicy returns the role's trust policy: only the Kubernetes service
// account namespace/serviceAccount of the cluster behind the OIDC provider
// may assume the role, through IRSA.
func trustPolicy(providerArn, issuerURL, namespace, serviceAccount string) (string, error) {
	s, err := iampolicy.IRSAStatement(providerArn, issuerURL, namespace, serviceAccount)
	if err != nil {
		return "", fmt.Errorf("trust policy: %w", err)
	}
	// Named, with the action as a list, as this trust policy has always
	// been rendered: deployed roles see no change.
	s.Sid = "MLflowServiceAccount"
	s.Action = []string{"sts:AssumeRoleWithWebIdentity"}
	return iampolicy.New(s).JSON()
}

// artifactPolicy returns the role's permissions: list and locate the
// artifact bucket, read, write and delete its objects, and, when
// kmsKeyArn is not empty, use that key to encrypt and decrypt them.
func artifactPolicy(bucketArn, kmsKeyArn string) (string, error) {
	if bucketArn == "" {
		return "", errors.New("artifact policy: empty bucket ARN")
	}
	if strings.Contains(bucketArn, "*") || strings.Contains(kmsKeyArn, "*") {
		return "", fmt.Errorf("artifact policy: wildcard in ARN %q / %q", bucketArn, kmsKeyArn)
	}
	doc := iampolicy.New(
		iampolicy.Statement{
			Sid:      "ArtifactBucket",
			Effect:   "Allow",
			Action:   []string{"s3:ListBucket", "s3:GetBucketLocation"},
			Resource: []string{bucketArn},
		},
		iampolicy.Statement{
			Sid:      "ArtifactObjects",
			Effect:   "Allow",
			Action:   []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
			Resource: []string{bucketArn + "/*"},
		},
	)
	if kmsKeyArn != "" {
		doc.Statement = append(doc.Statement, iampolicy.Statement{
			Sid:      "ArtifactKey",
			Effect:   "Allow",
			Action:   []string{"kms:Decrypt", "kms:GenerateDataKey"},
			Resource: []string{kmsKeyArn},
		})
	}
	return doc.JSON()
}

// withDefaults validates args and returns a copy with the defaults filled in.
func withDefaults(args *TrackingStoreArgs) (*TrackingStoreArgs, error) {
	if args == nil {
		return nil, errors.New("args are required")
	}
	a := *args
	if a.EngineVersion == "" {
		a.EngineVersion = versions.Get().Postgres.EngineVersion
	}
	if a.BackupRetentionDays == 0 {
		a.BackupRetentionDays = DefaultBackupRetentionDays
	}
	if a.ServiceAccountNamespace == "" {
		a.ServiceAccountNamespace = DefaultServiceAccountNamespace
	}
	if a.ServiceAccountName == "" {
		a.ServiceAccountName = DefaultServiceAccountName
	}
	if a.ArtifactKMSKeyArn == nil {
		a.ArtifactKMSKeyArn = pulumi.String("")
	}

	var errs []error
	required := func(field string, missing bool) {
		if missing {
			errs = append(errs, fmt.Errorf("%s is required", field))
		}
	}
	required("vpcId", a.VpcID == nil)
	required("subnetIds", a.SubnetIDs == nil)
	required("allowedSecurityGroupIds", a.AllowedSecurityGroupIDs == nil)
	required("artifactBucketArn", a.ArtifactBucketArn == nil)
	required("oidcProviderArn", a.OIDCProviderArn == nil)
	required("oidcProviderUrl", a.OIDCProviderURL == nil)
	// Plain lists can be checked now; outputs are checked by AWS.
	if ids, ok := a.AllowedSecurityGroupIDs.(pulumi.StringArray); ok && len(ids) == 0 {
		errs = append(errs, errors.New("allowedSecurityGroupIds must name at least one security group: nothing could reach the database"))
	}
	if ids, ok := a.SubnetIDs.(pulumi.StringArray); ok && len(ids) < 2 {
		errs = append(errs, fmt.Errorf("subnetIds needs at least two subnets in different availability zones, got %d", len(ids)))
	}
	if !strings.HasPrefix(a.InstanceClass, "db.") {
		errs = append(errs, fmt.Errorf("instanceClass %q is not an RDS instance class (db.*)", a.InstanceClass))
	}
	if a.StorageGiB < minStorageGiB || a.StorageGiB > maxStorageGiB {
		errs = append(errs, fmt.Errorf("storageGiB must be between %d and %d, got %d", minStorageGiB, maxStorageGiB, a.StorageGiB))
	}
	if a.BackupRetentionDays < 1 || a.BackupRetentionDays > maxBackupRetentionDays {
		errs = append(errs, fmt.Errorf("backupRetentionDays must be between 1 and %d (0 for %d), got %d", maxBackupRetentionDays, DefaultBackupRetentionDays, args.BackupRetentionDays))
	}
	if !namespaceRE.MatchString(a.ServiceAccountNamespace) || len(a.ServiceAccountNamespace) > 63 {
		errs = append(errs, fmt.Errorf("serviceAccountNamespace %q is not a Kubernetes namespace name", a.ServiceAccountNamespace))
	}
	if !serviceAccountRE.MatchString(a.ServiceAccountName) || len(a.ServiceAccountName) > 253 {
		errs = append(errs, fmt.Errorf("serviceAccountName %q is not a Kubernetes service account name", a.ServiceAccountName))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &a, nil
}
