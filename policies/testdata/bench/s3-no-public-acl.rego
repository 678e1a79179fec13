# security.s3-no-public-acl: no public canned ACL or grant on a bucket.
package plinth

import data.plinth.lib

s3_acl_types := {
	"aws:s3/bucket:Bucket",
	"aws:s3/bucketAclV2:BucketAclV2",
	"aws:s3/bucketAcl:BucketAcl",
	"aws:s3/bucketV2:BucketV2",
}

s3_public_acls := {"public-read", "public-read-write", "authenticated-read"}

deny contains {"policy": "security.s3-no-public-acl", "urn": r.urn, "msg": msg} if {
	some r in input.resources
	r.type in s3_acl_types
	msg := s3_public_message(r)
}

s3_public_message(r) := sprintf("%s %s has the public ACL %q", [lib.short_type(r.type), r.name, r.inputs.acl]) if {
	r.inputs.acl in s3_public_acls
} else := sprintf("%s %s grants access to %s", [lib.short_type(r.type), r.name, grantee]) if {
	uris := [u |
		walk(r.inputs, [path, v])
		count(path) > 0
		path[count(path) - 1] == "uri"
		some u in s3_strings(v)
		s3_public_grantee(u)
	]
	count(uris) > 0
	parts := split(uris[0], "/")
	grantee := parts[count(parts) - 1]
}

s3_strings(v) := [v] if is_string(v)

s3_strings(v) := [s | some s in v; is_string(s)] if is_array(v)

s3_public_grantee(u) if endswith(u, "/global/AllUsers")

s3_public_grantee(u) if endswith(u, "/global/AuthenticatedUsers")
