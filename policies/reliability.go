package policies

import (
	"fmt"
	"slices"
	"strings"
)

// Type tokens the reliability pack reads.
const (
	typeBucketVersioning   = "aws:s3/bucketVersioningV2:BucketVersioningV2"
	typeBucketVersioningV7 = "aws:s3/bucketVersioning:BucketVersioning"
	typeSubnet             = "aws:ec2/subnet:Subnet"
	typeK8sPDB             = "kubernetes:policy/v1:PodDisruptionBudget"
)

// purposeTag is the tag Plinth's storage component records a bucket's
// purpose in (tracking, datasets, models, general).
const purposeTag = "plinth:purpose"

// versionedPurposes are the bucket purposes that must keep old versions.
var versionedPurposes = []string{"tracking", "models"}

func reliabilityPolicies() []*Policy {
	return []*Policy{
		{
			Pack: PackReliability, Name: "prod-db-multi-az",
			Description: "RDS instances run Multi-AZ (multiAz: true), so a zone outage or maintenance fails over instead of stopping tracking. Mandatory in prod, advisory elsewhere.",
			Severity:    High,
			Remediation: "Set spec.tracking.database.multiAz: true in the blueprint (doubles the database cost).",
			Defaults:    Defaults{ClassDev: Advisory, ClassStaging: Advisory, ClassProd: Mandatory},
			Check: func(in *Input, _ Settings) []Finding {
				return each(in, func(r *Resource) string {
					if trueOrUnknown(r.Input("multiAz")) {
						return ""
					}
					return fmt.Sprintf("RDS instance %s is single-AZ (multiAz is not true)", r.Name)
				}, typeRDSInstance)
			},
		},
		{
			Pack: PackReliability, Name: "prod-db-deletion-protection",
			Description: "RDS instances and clusters have deletionProtection: true and are protected in Pulumi (protect), so neither the console nor `pulumi destroy` can drop the tracking database. Mandatory in prod, advisory in staging, off in dev (where teardown is the point).",
			Severity:    High,
			Remediation: "Set spec.tracking.database.deletionProtection: true in the blueprint (Plinth then sets deletionProtection and protect).",
			Defaults:    Defaults{ClassDev: Disabled, ClassStaging: Advisory, ClassProd: Mandatory},
			Check: func(in *Input, _ Settings) []Finding {
				return each(in, func(r *Resource) string {
					var missing []string
					if !trueOrUnknown(r.Input("deletionProtection")) {
						missing = append(missing, "deletionProtection is not true")
					}
					if !r.Protect {
						missing = append(missing, "the resource is not protected (protect)")
					}
					if len(missing) == 0 {
						return ""
					}
					return fmt.Sprintf("%s %s: %s", shortType(r.Type), r.Name, strings.Join(missing, "; "))
				}, typeRDSInstance, typeRDSCluster)
			},
		},
		{
			Pack: PackReliability, Name: "bucket-versioning",
			Description: "Buckets tagged plinth:purpose tracking or models have versioning enabled (a <bucket>-versioning configuration with status Enabled), so an overwritten or deleted run artefact or model can be recovered.",
			Severity:    High,
			Remediation: "Set versioning: true on the tracking and models buckets in spec.storage.buckets (the default), with expireNoncurrentAfterDays to bound the cost.",
			Defaults:    Everywhere(Mandatory),
			Check:       checkBucketVersioning,
		},
		{
			Pack: PackReliability, Name: "tracking-pdb",
			Description: "An MLflow Deployment (label app.kubernetes.io/name: mlflow) has a PodDisruptionBudget selecting its pods, so node drains and upgrades do not take every tracking server down at once.",
			Severity:    Medium,
			Remediation: "Add a policy/v1 PodDisruptionBudget (maxUnavailable: 1) whose selector matches the MLflow pods, and run at least two replicas (spec.tracking.replicas).",
			Defaults:    Defaults{ClassDev: Advisory, ClassStaging: Mandatory, ClassProd: Mandatory},
			Check: func(in *Input, _ Settings) []Finding {
				pdbs := ofType(in, typeK8sPDB)
				var out []Finding
				for _, w := range workloads(in) {
					if w.r.Type != typeK8sDeployment || guardedApp(w) != "mlflow" {
						continue
					}
					covered := slices.ContainsFunc(pdbs, func(pdb *Resource) bool {
						sel := mapAt(pdb.Inputs, "spec")["selector"]
						if sel == Unknown {
							return sameNamespace(pdb, w.r)
						}
						m, _ := sel.(map[string]any)
						return sameNamespace(pdb, w.r) && selectorMatches(m, w.podLabels())
					})
					if !covered {
						out = append(out, Finding{Resource: w.r, Message: fmt.Sprintf("MLflow Deployment %s has no PodDisruptionBudget selecting its pods", w.r.Name)})
					}
				}
				return out
			},
		},
		{
			Pack: PackReliability, Name: "min-two-azs",
			Description: "Subnets span at least two availability zones (when there are subnets), so the cluster, the database subnet group and the load balancers survive the loss of one zone.",
			Severity:    High,
			Remediation: "Set spec.network.availabilityZones to at least two zones of the region (Plinth defaults to three).",
			Defaults:    Everywhere(Mandatory),
			Check: func(in *Input, _ Settings) []Finding {
				subnets := ofType(in, typeSubnet)
				if len(subnets) == 0 {
					return nil
				}
				var zones []string
				for _, s := range subnets {
					az := s.String("availabilityZone")
					if az == "" {
						az = s.String("availabilityZoneId")
					}
					if az == "" || az == Unknown {
						return nil // cannot tell before apply
					}
					if !slices.Contains(zones, az) {
						zones = append(zones, az)
					}
				}
				if len(zones) >= 2 {
					return nil
				}
				return []Finding{{Resource: subnets[0], Message: fmt.Sprintf("all %d subnets are in one availability zone (%s)", len(subnets), strings.Join(zones, ", "))}}
			},
		},
	}
}

// checkBucketVersioning is bucket-versioning.
func checkBucketVersioning(in *Input, _ Settings) []Finding {
	enabled := func(r *Resource) bool {
		st, ok := r.Input("versioningConfiguration.status")
		return ok && (st == "Enabled" || st == Unknown)
	}
	var out []Finding
	var buckets []*Resource
	all := ofType(in, bucketTypes...)
	for _, b := range all {
		purpose, _ := b.Tags()[purposeTag].(string)
		if !slices.Contains(versionedPurposes, purpose) {
			continue
		}
		if inline, ok := b.Input("versioning"); ok && inline != nil {
			// A v1 bucket with versioning inline.
			if v, ok := inline.(map[string]any); ok && trueOrUnknown(v["enabled"], true) || inline == Unknown {
				continue
			}
			out = append(out, Finding{Resource: b, Message: fmt.Sprintf("%s bucket %s does not enable versioning", purpose, b.Name)})
			continue
		}
		buckets = append(buckets, b)
	}
	// Pair with every bucket, so another bucket's configuration is not
	// counted for a tracking or models bucket.
	p := pairCompanions(in, all, func(b *Resource) bool { return slices.Contains(buckets, b) }, "versioning", enabled, typeBucketVersioning, typeBucketVersioningV7)
	for _, b := range buckets {
		purpose, _ := b.Tags()[purposeTag].(string)
		cs := p.of[b]
		if len(cs) == 0 {
			if slices.Contains(p.missing, b) {
				out = append(out, Finding{Resource: b, Message: fmt.Sprintf("%s bucket %s has no versioning configuration (%s-versioning)%s", purpose, b.Name, b.Name, p.countNote())})
			}
			continue
		}
		if !slices.ContainsFunc(cs, enabled) {
			status := cs[0].String("versioningConfiguration.status")
			if status == "" {
				status = "unset"
			}
			out = append(out, Finding{Resource: b, Message: fmt.Sprintf("%s bucket %s has versioning %s (%s), not Enabled", purpose, b.Name, status, cs[0].Name)})
		}
	}
	return out
}

// selectorMatches reports whether a label selector (matchLabels and
// matchExpressions) selects pods with the given labels. A missing selector
// selects nothing, an empty one every pod (policy/v1); unknown values match
// anything.
func selectorMatches(sel map[string]any, labels map[string]string) bool {
	if sel == nil {
		return false
	}
	if !labelsMatch(stringMap(mapAt(sel, "matchLabels")), labels) {
		return false
	}
	for _, e := range listAt(sel, "matchExpressions") {
		em, _ := e.(map[string]any)
		key, _ := em["key"].(string)
		op, _ := em["operator"].(string)
		values := stringList(em["values"])
		got, has := labels[key]
		unknown := key == Unknown || op == Unknown || got == Unknown || slices.Contains(values, Unknown)
		var ok bool
		switch op {
		case "In":
			ok = has && slices.Contains(values, got)
		case "NotIn":
			ok = !has || !slices.Contains(values, got)
		case "Exists":
			ok = has
		case "DoesNotExist":
			ok = !has
		}
		if !ok && !unknown {
			return false
		}
	}
	return true
}
