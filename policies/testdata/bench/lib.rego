# Helpers shared by the benchmark rules: Rego twins of the Go helpers in
# policies/security.go (shortType, boolish, trueOrUnknown).
package plinth.lib

unknown := "(known after apply)"

# short_type is the last part of a type token (Bucket from aws:s3/bucket:Bucket).
short_type(t) := parts[count(parts) - 1] if parts := split(t, ":")

has_key(obj, key) if _ = obj[key]

# known_bool: a bool, or the string true or false in any case.
known_bool(v) if is_boolean(v)

known_bool(v) if {
	is_string(v)
	lower(v) in {"true", "false"}
}

truthy(v) if v == true

truthy(v) if {
	is_string(v)
	lower(v) == "true"
}

# true_or_unknown: obj[key] is set and true, or set to something that is not
# a known bool (unknown until apply).
true_or_unknown(obj, key) if {
	v := obj[key]
	v != null
	truthy(v)
}

true_or_unknown(obj, key) if {
	v := obj[key]
	v != null
	not known_bool(v)
}
