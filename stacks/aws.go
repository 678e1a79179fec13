package stacks

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/blueprints/catalog"
	"github.com/plinth-dev/plinth/blueprints/versions"
	"github.com/plinth-dev/plinth/components/cluster"
	"github.com/plinth-dev/plinth/components/gpunodepool"
	"github.com/plinth-dev/plinth/components/network"
	"github.com/plinth-dev/plinth/components/registry"
	"github.com/plinth-dev/plinth/components/storage"
	"github.com/plinth-dev/plinth/components/trackingstore"
)

// Tracking service account the MLflow server runs as (the Kubernetes layer
// creates it; its IRSA role is created here).
const (
	TrackingNamespace      = "plinth-tracking"
	TrackingServiceAccount = "mlflow"
)

// EnvironmentTag is the tag Plinth puts on every taggable resource, naming
// the environment it belongs to.
const EnvironmentTag = "plinth:environment"

// ResourceTags returns the tags every taggable resource of env carries: the
// metadata labels, then the blueprint tags (which win), then
// plinth:environment.
func ResourceTags(env *blueprints.Environment) map[string]string {
	tags := map[string]string{}
	for k, v := range env.Metadata.Labels {
		tags[k] = v
	}
	for k, v := range env.Spec.Tags {
		tags[k] = v
	}
	tags[EnvironmentTag] = env.Metadata.Name
	return tags
}

// AWS is what the AWS layer created, for the Kubernetes layer and exports.
type AWS struct {
	Network       *network.Network
	Cluster       *cluster.Cluster
	GPUNodePools  []*gpunodepool.GpuNodePool
	Storage       *storage.Storage
	Registry      *registry.Registry
	TrackingStore *trackingstore.TrackingStore
}

// ComposeAWS builds the AWS layer of env: network, EKS cluster, GPU node
// pools, buckets, registry and the tracking database, wired through each
// other's outputs. On an existing network named by a Terraform landing zone
// (spec.network.existing.fromTerraform) the ids are read from its outputs
// (LandingZone) when the program runs.
func ComposeAWS(ctx *pulumi.Context, env *blueprints.Environment, cat *catalog.Catalog) (*AWS, error) {
	name := env.Metadata.Name
	s := env.Spec
	tags := ResourceTags(env)
	pins := versions.Get()
	prod := env.Class() == blueprints.ClassProd
	out := &AWS{}

	netArgs := &network.NetworkArgs{ClusterName: name, Tags: tags}
	if x := s.Network.Existing; x != nil {
		netArgs.Existing = &network.ExistingNetwork{VpcID: x.VPCID, PrivateSubnetIDs: x.PrivateSubnetIDs, PublicSubnetIDs: x.PublicSubnetIDs}
		if x.FromTerraform != nil {
			// The ids are the landing zone's Terraform outputs, read now.
			lz, err := LandingZone(ctx.Context(), env)
			if err != nil {
				return nil, err
			}
			netArgs.Existing = &network.ExistingNetwork{VpcID: lz.VPCID, PrivateSubnetIDs: lz.PrivateSubnetIDs, PublicSubnetIDs: lz.PublicSubnetIDs}
		}
	} else {
		netArgs.CIDR = s.Network.CIDR
		netArgs.AvailabilityZones = s.Network.AvailabilityZones.Names
		netArgs.AZCount = s.Network.AvailabilityZones.Count
		netArgs.NATGateways = s.Network.NATGateways
		netArgs.FlowLogs = prod
	}
	net, err := network.NewNetwork(ctx, name, netArgs)
	if err != nil {
		return nil, err
	}
	out.Network = net

	c := s.Cluster
	addons, ok := pins.EKS.Addons[c.KubernetesVersion]
	if !ok {
		return nil, fmt.Errorf("no pinned EKS add-on versions for Kubernetes %s", c.KubernetesVersion)
	}
	cl, err := cluster.NewCluster(ctx, name, &cluster.ClusterArgs{
		KubernetesVersion: c.KubernetesVersion,
		EndpointAccess:    c.EndpointAccess,
		VpcID:             net.VpcID,
		SubnetIDs:         net.PrivateSubnetIDs,
		SystemPool: cluster.NodePoolArgs{
			InstanceType: c.SystemPool.InstanceType,
			Min:          *c.SystemPool.Min,
			Max:          *c.SystemPool.Max,
			DiskSizeGiB:  blueprints.DefaultSystemDiskSizeGiB,
		},
		SystemAMIType: pins.EKS.AMITypes.System,
		AddonVersions: addons,
		Tags:          tags,
	})
	if err != nil {
		return nil, err
	}
	out.Cluster = cl

	for _, p := range s.GPUNodePools {
		arch, gpus, err := poolHardware(cat, p.InstanceTypes)
		if err != nil {
			return nil, fmt.Errorf("GPU pool %s: %w", p.Name, err)
		}
		amiType, err := gpunodepool.AMITypeFor(arch)
		if err != nil {
			return nil, fmt.Errorf("GPU pool %s: %w", p.Name, err)
		}
		labels := map[string]string{PoolLabel: p.Name}
		for k, v := range p.Labels {
			labels[k] = v
		}
		taints := make([]gpunodepool.Taint, len(p.Taints))
		for i, t := range p.Taints {
			taints[i] = gpunodepool.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect}
		}
		pool, err := gpunodepool.NewGpuNodePool(ctx, name+"-"+p.Name, &gpunodepool.GpuNodePoolArgs{
			ClusterName:   cl.ClusterName,
			NodeRoleArn:   cl.NodeRoleArn,
			SubnetIDs:     net.PrivateSubnetIDs,
			InstanceTypes: p.InstanceTypes,
			AMIType:       amiType,
			CapacityType:  p.CapacityType,
			MinSize:       *p.MinSize,
			MaxSize:       *p.MaxSize,
			DiskSizeGiB:   *p.DiskSizeGiB,
			GPUsPerNode:   gpus,
			Labels:        labels,
			Taints:        taints,
			Tags:          tags,
		})
		if err != nil {
			return nil, err
		}
		out.GPUNodePools = append(out.GPUNodePools, pool)
	}

	var trackingBucket string
	var kmsBuckets bool
	if s.Storage != nil && len(s.Storage.Buckets) > 0 {
		buckets := make([]storage.BucketArgs, len(s.Storage.Buckets))
		for i, b := range s.Storage.Buckets {
			buckets[i] = storage.BucketArgs{
				Name:                      b.Name,
				Purpose:                   b.Purpose,
				Versioning:                *b.Versioning,
				ExpireNoncurrentAfterDays: deref(b.ExpireNoncurrentAfterDays),
				Encryption:                b.Encryption,
			}
			if b.Purpose == blueprints.PurposeTracking {
				trackingBucket = b.Name
				kmsBuckets = kmsBuckets || b.Encryption == blueprints.EncryptionKMS
			}
		}
		st, err := storage.NewStorage(ctx, name, &storage.StorageArgs{Buckets: buckets, Tags: tags})
		if err != nil {
			return nil, err
		}
		out.Storage = st
	}

	if r := s.Registry; r != nil && len(r.Repositories) > 0 {
		reg, err := registry.NewRegistry(ctx, name, &registry.RegistryArgs{
			NamePrefix:     name,
			Repositories:   r.Repositories,
			ScanOnPush:     *r.ScanOnPush,
			ImmutableTags:  *r.ImmutableTags,
			KeepLastImages: *r.KeepLastImages,
			KMS:            prod,
			Tags:           tags,
		})
		if err != nil {
			return nil, err
		}
		out.Registry = reg
	}

	if t := s.Tracking; t.IsEnabled() {
		if out.Storage == nil || trackingBucket == "" {
			return nil, errors.New("tracking is enabled but no bucket has purpose: tracking")
		}
		db := t.Database
		args := &trackingstore.TrackingStoreArgs{
			VpcID:                   net.VpcID,
			SubnetIDs:               net.PrivateSubnetIDs,
			AllowedSecurityGroupIDs: pulumi.StringArray{cl.ClusterSecurityGroupID},
			InstanceClass:           db.InstanceClass,
			StorageGiB:              *db.StorageGiB,
			MultiAZ:                 *db.MultiAZ,
			DeletionProtection:      *db.DeletionProtection,
			EngineVersion:           pins.Postgres.EngineVersion,
			BackupRetentionDays:     backupRetentionDays(prod),
			ArtifactBucketArn:       out.Storage.BucketArns.MapIndex(pulumi.String(trackingBucket)),
			OIDCProviderArn:         cl.OIDCProviderArn,
			OIDCProviderURL:         cl.OIDCProviderURL,
			ServiceAccountNamespace: TrackingNamespace,
			ServiceAccountName:      TrackingServiceAccount,
			Tags:                    tags,
		}
		if kmsBuckets {
			args.ArtifactKMSKeyArn = out.Storage.KMSKeyArn
		}
		ts, err := trackingstore.NewTrackingStore(ctx, name, args)
		if err != nil {
			return nil, err
		}
		out.TrackingStore = ts
	}
	return out, nil
}

// Export publishes the AWS layer's useful outputs as stack outputs.
func (a *AWS) Export(ctx *pulumi.Context) {
	ctx.Export("vpcId", a.Network.VpcID)
	ctx.Export("privateSubnetIds", a.Network.PrivateSubnetIDs)
	ctx.Export("clusterName", a.Cluster.ClusterName)
	ctx.Export("clusterEndpoint", a.Cluster.Endpoint)
	ctx.Export("kubeconfig", pulumi.ToSecret(a.Cluster.Kubeconfig))
	names := pulumi.StringArray{}
	for _, p := range a.GPUNodePools {
		names = append(names, p.NodeGroupName)
	}
	ctx.Export("gpuNodeGroups", names)
	if a.Storage != nil {
		ctx.Export("bucketNames", a.Storage.BucketNames)
	}
	if a.Registry != nil {
		ctx.Export("repositoryUrls", a.Registry.RepositoryURLs)
	}
	if a.TrackingStore != nil {
		ctx.Export("trackingDatabaseAddress", a.TrackingStore.DatabaseAddress)
		ctx.Export("trackingRoleArn", a.TrackingStore.RoleArn)
	}
}

// poolHardware returns the CPU architecture shared by a pool's instance
// types and the smallest GPU count among them (what a new node is sure to
// have, for the autoscaler's scale-from-zero hint).
func poolHardware(cat *catalog.Catalog, types []string) (arch string, gpus int, err error) {
	for _, t := range types {
		spec, ok := cat.GPUType(t)
		if !ok {
			return "", 0, fmt.Errorf("%s is not a GPU instance type in the catalogue", t)
		}
		switch {
		case arch == "":
			arch, gpus = spec.Arch, spec.GPUs
		case arch != spec.Arch:
			return "", 0, fmt.Errorf("instance types mix CPU architectures (%s and %s); a node group has one AMI", arch, spec.Arch)
		default:
			gpus = min(gpus, spec.GPUs)
		}
	}
	return arch, gpus, nil
}

func backupRetentionDays(prod bool) int {
	if prod {
		return 14
	}
	return 7
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
