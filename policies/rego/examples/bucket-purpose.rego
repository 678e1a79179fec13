# Every S3 bucket says what it holds.
#
# Plinth tags the buckets it creates from spec.storage.buckets with
# plinth:purpose (tracking, datasets, models, ...); lifecycle rules, cost
# reports and access reviews rely on it. A bucket without it was added by
# hand, or by a component that forgot it.
#
# Violations: custom.bucket-purpose, mandatory, medium. The rule reads one
# bucket at a time (scope resource), so inside the Pulumi engine the policy
# pack stops such a bucket before it is created.
package plinth

bucket_types := {"aws:s3/bucketV2:BucketV2", "aws:s3/bucket:Bucket"}

deny contains {
	"msg": sprintf("bucket %s has no plinth:purpose tag", [r.name]),
	"urn": r.urn,
	"remediation": "Declare the bucket under spec.storage.buckets with a purpose, or tag it plinth:purpose.",
	"scope": "resource",
} if {
	some r in input.resources
	r.type in bucket_types
	not has_purpose(r)
}

has_purpose(r) if {
	purpose := r.inputs.tags["plinth:purpose"]
	is_string(purpose)
	purpose != ""
}
