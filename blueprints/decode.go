package blueprints

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds how many YAML nodes one blueprint may expand to (aliases
// included), so an alias bomb is refused instead of eating memory.
const maxNodes = 100_000

// decoder walks a YAML node tree alongside a Go value, strictly: unknown
// fields, wrong types and duplicate keys are errors. It collects every error
// instead of stopping at the first, and records the position of every field
// path it sets.
type decoder struct {
	file      string
	origin    string // where nodes without a line come from (stack config overrides)
	errs      ErrorList
	positions map[string]Position
	nodes     int
}

func (d *decoder) position(n *yaml.Node) Position {
	if n.Line == 0 && d.origin != "" {
		return Position{File: d.origin}
	}
	return Position{File: d.file, Line: n.Line, Column: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Position: d.position(n), Path: path, Message: fmt.Sprintf(format, args...)})
}

var (
	typeAvailabilityZones = reflect.TypeFor[AvailabilityZones]()
	typeAddons            = reflect.TypeFor[Addons]()
)

// decode sets v from n. It returns false when the budget of nodes is spent,
// so the caller stops walking.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) bool {
	d.nodes++
	if d.nodes > maxNodes {
		d.errorf(n, path, "the blueprint expands to more than %d YAML nodes (aliases included); refusing to read it", maxNodes)
		return false
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.errorf(n, path, "alias *%s refers to no anchor", n.Value)
			return true
		}
		return d.decode(n.Alias, v, path)
	}
	d.positions[path] = d.position(n)
	if isNull(n) {
		return true // leave the zero value; Validate reports what is required
	}

	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.decode(n, v.Elem(), path)
	}

	switch v.Type() {
	case typeAvailabilityZones:
		return d.decodeAvailabilityZones(n, v.Addr().Interface().(*AvailabilityZones), path)
	}

	switch v.Kind() {
	case reflect.Struct:
		return d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected a list, found %s", describe(n))
			return true
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if !d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i)) {
				return false
			}
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.errorf(n, path, "expected a mapping of key: value pairs, found %s", describe(n))
			return true
		}
		m := reflect.MakeMap(v.Type())
		for _, p := range d.pairs(n, path) {
			key := p.key.Value
			if p.key.Kind != yaml.ScalarNode {
				d.errorf(p.key, path, "keys must be strings, found %s", describe(p.key))
				continue
			}
			elem := reflect.New(v.Type().Elem()).Elem()
			if !d.decode(p.value, elem, mapPath(path, key)) {
				return false
			}
			m.SetMapIndex(reflect.ValueOf(key), elem)
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			hint := ""
			if n.Kind == yaml.ScalarNode {
				hint = fmt.Sprintf("; quote it if you mean the text: %q", n.Value)
			}
			d.errorf(n, path, "expected a string, found %s%s", describe(n), hint)
			return true
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
			d.errorf(n, path, "expected true or false, found %s", describe(n))
			return true
		}
		v.SetBool(b)
	case reflect.Int:
		i, err := strconv.ParseInt(n.Value, 0, 32)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil {
			d.errorf(n, path, "expected a whole number, found %s", describe(n))
			return true
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!float" && n.Tag != "!!int") || err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.errorf(n, path, "expected a number, found %s", describe(n))
			return true
		}
		v.SetFloat(f)
	default:
		d.errorf(n, path, "internal error: cannot decode into %s", v.Type())
	}
	return true
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) bool {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of key: value pairs, found %s", describe(n))
		return true
	}
	fields := structFields(v.Type())
	for _, p := range d.pairs(n, path) {
		name := p.key.Value
		i, ok := fields.index[name]
		if p.key.Kind != yaml.ScalarNode || !ok {
			d.unknownField(p.key, v.Type(), fields, path)
			continue
		}
		if !d.decode(p.value, v.Field(i), fieldPath(path, name)) {
			return false
		}
	}
	return true
}

func (d *decoder) unknownField(key *yaml.Node, t reflect.Type, fields *fieldSet, path string) {
	if t == typeAddons {
		d.errorf(key, fieldPath(path, key.Value), "no add-on is available in %s yet (pipelines, serving, featureStore and notebooks are planned); leave addons empty", APIVersion)
		return
	}
	if key.Kind != yaml.ScalarNode {
		d.errorf(key, path, "keys must be field names, found %s; allowed fields: %s", describe(key), strings.Join(fields.names, ", "))
		return
	}
	msg := fmt.Sprintf("unknown field %q", key.Value)
	if s := suggest(key.Value, fields.names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	d.errorf(key, fieldPath(path, key.Value), "%s; allowed fields: %s", msg, strings.Join(fields.names, ", "))
}

func (d *decoder) decodeAvailabilityZones(n *yaml.Node, az *AvailabilityZones, path string) bool {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!int":
		var count int
		if !d.decode(n, reflect.ValueOf(&count).Elem(), path) {
			return false
		}
		az.Count = count
	case n.Kind == yaml.SequenceNode:
		var names []string
		if !d.decode(n, reflect.ValueOf(&names).Elem(), path) {
			return false
		}
		az.Names = names
	default:
		d.errorf(n, path, "expected a number of AZs (2 to 6) or a list of AZ names, found %s", describe(n))
	}
	return true
}

type pair struct{ key, value *yaml.Node }

// pairs lists the key/value pairs of a mapping, expanding YAML merge keys
// (<<: *anchor), with explicit keys winning over merged ones. A key given
// twice explicitly is an error.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var merged, own []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merged = append(merged, d.mergePairs(val, path)...)
			continue
		}
		if k.Kind == yaml.ScalarNode {
			if prev, dup := seen[k.Value]; dup {
				d.errorf(k, mapPath(path, k.Value), "key %q is given twice (first at line %d, column %d)", k.Value, prev.Line, prev.Column)
				continue
			}
			seen[k.Value] = k
		}
		own = append(own, pair{k, val})
	}
	out := make([]pair, 0, len(merged)+len(own))
	for _, p := range merged {
		if _, overridden := seen[p.key.Value]; !overridden {
			seen[p.key.Value] = p.key
			out = append(out, p)
		}
	}
	return append(out, own...)
}

func (d *decoder) mergePairs(n *yaml.Node, path string) []pair {
	d.nodes++
	if d.nodes > maxNodes {
		return nil // decode reports the budget on its next node
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return d.mergePairs(n.Alias, path)
	}
	switch n.Kind {
	case yaml.MappingNode:
		return d.pairs(n, path)
	case yaml.SequenceNode:
		var out []pair
		for _, item := range n.Content {
			out = append(out, d.mergePairs(item, path)...)
		}
		return out
	default:
		d.errorf(n, path, "a merge key (<<) needs a mapping or a list of mappings, found %s", describe(n))
		return nil
	}
}

// fieldSet maps the YAML names of a struct's fields to their index.
type fieldSet struct {
	index map[string]int
	names []string
}

var fieldSets = map[reflect.Type]*fieldSet{}

func structFields(t reflect.Type) *fieldSet {
	if fs, ok := fieldSets[t]; ok {
		return fs
	}
	fs := &fieldSet{index: map[string]int{}}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		fs.index[name] = i
		fs.names = append(fs.names, name)
	}
	fieldSets[t] = fs
	return fs
}

func init() {
	// Fill the field cache up front so concurrent loads only read it.
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == typeAvailabilityZones {
			return
		}
		if _, done := fieldSets[t]; done {
			return
		}
		structFields(t)
		for i := range t.NumField() {
			walk(t.Field(i).Type)
		}
	}
	walk(reflect.TypeFor[Environment]())
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// describe names what a node holds, for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	switch n.Tag {
	case "!!str":
		return fmt.Sprintf("the string %q", v)
	case "!!int", "!!float":
		return "the number " + v
	case "!!bool":
		return "the boolean " + v
	case "!!null":
		return "null"
	default:
		return fmt.Sprintf("%s %q", n.Tag, v)
	}
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

func fieldPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func mapPath(parent, key string) string {
	if identifier.MatchString(key) {
		return fieldPath(parent, key)
	}
	return fmt.Sprintf("%s[%q]", parent, key)
}

// suggest returns the allowed name closest to got, if it is close enough to
// be a likely typo.
func suggest(got string, allowed []string) string {
	best, bestDist := "", 3
	for _, a := range allowed {
		if strings.EqualFold(a, got) {
			return a
		}
		if dist := levenshtein(strings.ToLower(got), strings.ToLower(a)); dist < bestDist {
			best, bestDist = a, dist
		}
	}
	return best
}

func levenshtein(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
