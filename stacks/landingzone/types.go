package landingzone

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Terraform describes an output's type in JSON the way its type system
// (cty) does: a primitive is a string ("string", "number", "bool",
// "dynamic"); a collection is [kind, element] with kind "list", "set" or
// "map"; a tuple is ["tuple", [types...]] (what a list literal such as
// ["a", "b"] has); an object is ["object", {attribute: type}].

// ctyType is a decoded type: a primitive name, or a kind with its parts.
type ctyType struct {
	name      string             // primitive name, or the kind (list, set, map, tuple, object)
	elem      *ctyType           // list, set, map
	elems     []ctyType          // tuple
	attrs     map[string]ctyType // object
	malformed bool
}

func parseType(raw json.RawMessage) ctyType {
	var name string
	if json.Unmarshal(raw, &name) == nil {
		return ctyType{name: name}
	}
	var parts []json.RawMessage
	if json.Unmarshal(raw, &parts) != nil || len(parts) != 2 || json.Unmarshal(parts[0], &name) != nil {
		return ctyType{malformed: true}
	}
	t := ctyType{name: name}
	switch name {
	case "list", "set", "map":
		e := parseType(parts[1])
		t.elem = &e
	case "tuple":
		var elems []json.RawMessage
		if json.Unmarshal(parts[1], &elems) != nil {
			return ctyType{malformed: true}
		}
		for _, e := range elems {
			t.elems = append(t.elems, parseType(e))
		}
	case "object":
		var attrs map[string]json.RawMessage
		if json.Unmarshal(parts[1], &attrs) != nil {
			return ctyType{malformed: true}
		}
		t.attrs = map[string]ctyType{}
		for k, a := range attrs {
			t.attrs[k] = parseType(a)
		}
	default:
		t.malformed = true
	}
	return t
}

// typeName is the primitive name or kind of a type ("" when malformed).
func typeName(raw json.RawMessage) string {
	t := parseType(raw)
	if t.malformed {
		return ""
	}
	return t.name
}

// stringList reports whether a type is a list, set or tuple of strings
// (an empty tuple counts: its value is an empty list).
func stringList(raw json.RawMessage) bool {
	t := parseType(raw)
	switch t.name {
	case "list", "set":
		return t.elem != nil && t.elem.name == "string"
	case "tuple":
		for _, e := range t.elems {
			if e.name != "string" {
				return false
			}
		}
		return !t.malformed
	}
	return false
}

// describeType renders a type in words: "a string", "a list of numbers",
// "a map of strings", "an object with attributes a, b".
func describeType(raw json.RawMessage) string {
	return parseType(raw).describe()
}

func (t ctyType) describe() string {
	if t.malformed {
		return "of a type Plinth does not know"
	}
	switch t.name {
	case "string", "number", "bool":
		return "a " + t.name
	case "dynamic":
		return "of no fixed type (dynamic)"
	case "list", "set", "map":
		return fmt.Sprintf("a %s of %s", t.name, t.elem.plural())
	case "tuple":
		if len(t.elems) == 0 {
			return "an empty list"
		}
		first := t.elems[0].plural()
		for _, e := range t.elems[1:] {
			if e.plural() != first {
				return "a list of mixed types"
			}
		}
		return "a list of " + first
	case "object":
		names := make([]string, 0, len(t.attrs))
		for k := range t.attrs {
			names = append(names, k)
		}
		sort.Strings(names)
		if len(names) == 0 {
			return "an empty object"
		}
		return "an object with attributes " + strings.Join(names, ", ")
	}
	return "of type " + t.name
}

// plural names values of a type in the plural: "strings", "lists of numbers".
func (t ctyType) plural() string {
	switch t.name {
	case "string", "number", "bool":
		return t.name + "s"
	case "list", "set", "map":
		if t.elem != nil {
			return fmt.Sprintf("%ss of %s", t.name, t.elem.plural())
		}
	case "tuple":
		return "lists"
	case "object":
		return "objects"
	}
	return "values"
}
