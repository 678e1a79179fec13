package blueprints

import (
	"github.com/plinth-dev/plinth/blueprints/catalog"
	"github.com/plinth-dev/plinth/blueprints/versions"
)

// Default values. Those that differ by environment class are chosen in
// Defaults.
const (
	DefaultCIDR                  = "10.0.0.0/16"
	DefaultSystemInstanceType    = "m6i.large"
	DefaultSystemDiskSizeGiB     = 50
	DefaultGPUDiskSizeGiB        = 200
	DefaultTimeSlicingReplicas   = 4
	DefaultExpireNoncurrentDays  = 30
	DefaultKeepLastImages        = 50
	DefaultDatabaseInstanceClass = "db.t4g.medium"
	DefaultProdDatabaseClass     = "db.m7g.large"
	DefaultDatabaseStorageGiB    = 20
	DefaultPrometheusRetention   = "15d"
	DefaultPrometheusStorageGiB  = 50
	DefaultModelDriftScore       = 0.2
	DefaultInferenceLatencyP99Ms = 500
	DefaultGPUIdlePercent        = 10
	DefaultMaxRunners            = 5
)

// DefaultGPUTaint is put on GPU pools that do not list taints, so only pods
// that tolerate it (and ask for GPUs) land there.
var DefaultGPUTaint = Taint{Key: "nvidia.com/gpu", Value: "present", Effect: EffectNoSchedule}

// Defaults fills in every field the blueprint left out. Defaults depend on
// the environment class (spec.tags.environment): prod gets a NAT gateway per
// AZ, three AZs, a private API endpoint, a multi-AZ database with deletion
// protection, KMS encryption and two tracking replicas. It never overwrites
// a value the blueprint set, so Validate still sees what the user wrote.
// cat supplies the region's AZ count (nil: the default catalogue, if it loads).
func (e *Environment) Defaults(cat *catalog.Catalog) {
	if cat == nil {
		cat, _ = catalog.Default()
	}
	pins := versions.Get()
	prod := e.Class() == ClassProd
	aws := e.Spec.Provider == ProviderAWS
	s := &e.Spec

	if s.Tags == nil {
		s.Tags = map[string]string{}
	}
	if s.Tags["environment"] == "" {
		s.Tags["environment"] = ClassDev
	}

	if aws {
		if s.Network == nil {
			s.Network = &Network{}
		}
		n := s.Network
		if n.Existing == nil {
			setString(&n.CIDR, DefaultCIDR)
			if n.AvailabilityZones == nil {
				want := 2
				if e.Class() != ClassDev {
					want = 3
				}
				if cat != nil {
					if r, ok := cat.Region(s.Region); ok {
						want = min(want, len(r.AvailabilityZones))
					}
				}
				n.AvailabilityZones = &AvailabilityZones{Count: want}
			}
			if prod {
				setString(&n.NATGateways, NATPerAZ)
			} else {
				setString(&n.NATGateways, NATSingle)
			}
		}
	}

	if s.Cluster == nil {
		s.Cluster = &Cluster{}
	}
	if aws {
		c := s.Cluster
		setString(&c.KubernetesVersion, pins.Kubernetes.Default)
		if prod {
			setString(&c.EndpointAccess, EndpointPrivate)
		} else {
			setString(&c.EndpointAccess, EndpointBoth)
		}
		if c.SystemPool == nil {
			c.SystemPool = &NodePool{}
		}
		setString(&c.SystemPool.InstanceType, DefaultSystemInstanceType)
		if prod {
			setInt(&c.SystemPool.Min, 3)
			setInt(&c.SystemPool.Max, 6)
		} else {
			setInt(&c.SystemPool.Min, 2)
			setInt(&c.SystemPool.Max, 4)
		}
	}

	for i := range s.GPUNodePools {
		p := &s.GPUNodePools[i]
		setString(&p.CapacityType, CapacityOnDemand)
		setInt(&p.MinSize, 0)
		if aws {
			setInt(&p.DiskSizeGiB, DefaultGPUDiskSizeGiB)
		}
		if p.GPU == nil {
			p.GPU = &GPUSharing{}
		}
		setString(&p.GPU.Sharing, SharingNone)
		if p.GPU.Sharing == SharingTimeSlicing {
			setInt(&p.GPU.Replicas, DefaultTimeSlicingReplicas)
		}
		if p.Taints == nil { // an explicit empty list means no taints
			p.Taints = []Taint{DefaultGPUTaint}
		}
	}

	if s.Storage != nil {
		for i := range s.Storage.Buckets {
			b := &s.Storage.Buckets[i]
			setString(&b.Purpose, PurposeGeneral)
			setBool(&b.Versioning, true)
			if *b.Versioning {
				setInt(&b.ExpireNoncurrentAfterDays, DefaultExpireNoncurrentDays)
			}
			if aws {
				if prod {
					setString(&b.Encryption, EncryptionKMS)
				} else {
					setString(&b.Encryption, EncryptionS3)
				}
			}
		}
	}

	if r := s.Registry; r != nil {
		setBool(&r.ScanOnPush, true)
		setBool(&r.ImmutableTags, true)
		setInt(&r.KeepLastImages, DefaultKeepLastImages)
	}

	if t := s.Tracking; t != nil {
		setBool(&t.Enabled, true)
		setString(&t.Server, TrackingServerMLflow)
		setString(&t.Version, pins.MLflow.Default)
		if prod {
			setInt(&t.Replicas, 2)
		} else {
			setInt(&t.Replicas, 1)
		}
		setString(&t.Auth, AuthBasic)
		if t.Database == nil {
			t.Database = &Database{}
		}
		db := t.Database
		setInt(&db.StorageGiB, DefaultDatabaseStorageGiB)
		if aws {
			if prod {
				setString(&db.InstanceClass, DefaultProdDatabaseClass)
			} else {
				setString(&db.InstanceClass, DefaultDatabaseInstanceClass)
			}
			setBool(&db.MultiAZ, prod)
			setBool(&db.DeletionProtection, prod)
		}
		if t.Ingress != nil {
			setBool(&t.Ingress.TLS, true)
		}
	}

	if m := s.Monitoring; m != nil {
		setBool(&m.Enabled, true)
		if m.Prometheus == nil {
			m.Prometheus = &Prometheus{}
		}
		setString(&m.Prometheus.Retention, DefaultPrometheusRetention)
		setInt(&m.Prometheus.StorageGiB, DefaultPrometheusStorageGiB)
		if len(s.GPUNodePools) > 0 {
			setString(&m.GPUMetrics, GPUMetricsDCGM)
		} else {
			setString(&m.GPUMetrics, GPUMetricsNone)
		}
		if m.Grafana == nil {
			m.Grafana = &Grafana{}
		}
		if m.Grafana.Dashboards == nil {
			m.Grafana.Dashboards = []string{DashboardCluster, DashboardModelDrift}
			if s.Tracking.IsEnabled() {
				m.Grafana.Dashboards = append(m.Grafana.Dashboards, DashboardTracking)
			}
			if m.GPUMetrics == GPUMetricsDCGM {
				m.Grafana.Dashboards = append(m.Grafana.Dashboards, DashboardGPU)
			}
		}
		if m.OpenTelemetry == nil {
			m.OpenTelemetry = &OpenTelemetry{}
		}
		setBool(&m.OpenTelemetry.Collector, true)
		if m.Alerts == nil {
			m.Alerts = &Alerts{}
		}
		if m.Alerts.ModelDriftScore == nil {
			v := DefaultModelDriftScore
			m.Alerts.ModelDriftScore = &v
		}
		setInt(&m.Alerts.InferenceLatencyP99Ms, DefaultInferenceLatencyP99Ms)
		setInt(&m.Alerts.GPUIdlePercent, DefaultGPUIdlePercent)
	}

	for i := range s.CIRunners {
		r := &s.CIRunners[i]
		setInt(&r.MinRunners, 0)
		setInt(&r.MaxRunners, max(DefaultMaxRunners, deref(r.MinRunners)))
		setBool(&r.GPU, false)
	}
}

func setString(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setInt(p **int, v int) {
	if *p == nil {
		*p = &v
	}
}

func setBool(p **bool, v bool) {
	if *p == nil {
		*p = &v
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
