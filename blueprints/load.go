package blueprints

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize is the largest blueprint file Plinth reads.
const MaxFileSize = 1 << 20

// source remembers where an environment was read from.
type source struct {
	file      string
	positions map[string]Position
	// failed holds the field paths that could not be decoded, so validation
	// does not report them a second time as missing.
	failed map[string]bool
}

// File returns the file the environment was loaded from.
func (e *Environment) File() string { return e.source.file }

// Position returns where a field path was set in the blueprint. For a field
// that was not written (a default), it returns the position of the nearest
// enclosing field that was, and at least the file.
func (e *Environment) Position(path string) Position {
	for p := path; ; p = parentPath(p) {
		if pos, ok := e.source.positions[p]; ok {
			return pos
		}
		if p == "" {
			return Position{File: e.source.file}
		}
	}
}

// parentPath drops the last element of a field path:
// spec.gpuNodePools[1].maxSize → spec.gpuNodePools[1] → spec.gpuNodePools → spec → "".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndex(p, "["); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return ""
}

// LoadOptions change how a blueprint is read.
type LoadOptions struct {
	// Overrides set field paths to values before decoding, as a stack
	// config's plinth:overrides does (e.g. "spec.gpuNodePools[0].maxSize": 2).
	Overrides map[string]any
	// OverridesOrigin names where the overrides come from, for error
	// positions (e.g. "stacks/Pulumi.prod.yaml (plinth:overrides)").
	OverridesOrigin string
	// Region, when set, replaces spec.region, as a stack config's
	// aws:region does.
	Region string
}

// Load reads a blueprint file strictly. It returns every decoding problem
// (syntax, unknown fields, wrong types, duplicate keys) at once. Call
// Defaults and Validate next, or use Check to do all three.
func Load(path string) (*Environment, error) {
	return LoadWithOptions(path, LoadOptions{})
}

// LoadWithOptions is Load with overrides.
func LoadWithOptions(path string, opts LoadOptions) (*Environment, error) {
	env, errs := load(path, opts)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return env, nil
}

// LoadBytes reads a blueprint from memory; file names it in errors.
func LoadBytes(file string, data []byte, opts LoadOptions) (*Environment, error) {
	env, errs := decodeBytes(file, data, opts)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return env, nil
}

func load(path string, opts LoadOptions) (*Environment, ErrorList) {
	data, file, err := readFile(path)
	if err != nil {
		return nil, ErrorList{{Position: Position{File: path}, Message: err.Error()}}
	}
	return decodeBytes(file, data, opts)
}

// readFile reads a blueprint from disk, or a shipped blueprint by name
// (when no such file exists). It returns the text and the name to use for
// the file in errors.
func readFile(path string) ([]byte, string, error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if data, ok := shippedByName(path); ok {
			return data, shippedPath(path), nil
		}
		return nil, "", fmt.Errorf("no such file (shipped blueprints, usable by name: %s)", strings.Join(ShippedNames(), ", "))
	case err != nil:
		return nil, "", fmt.Errorf("cannot read: %w", unwrapPathError(err))
	case info.IsDir():
		return nil, "", errors.New("is a directory, not a blueprint file")
	case !info.Mode().IsRegular():
		return nil, "", errors.New("is not a regular file")
	case info.Size() > MaxFileSize:
		return nil, "", fmt.Errorf("is %d bytes; a blueprint may be at most %d bytes (1 MiB)", info.Size(), MaxFileSize)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("cannot read: %w", unwrapPathError(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("cannot read: %w", unwrapPathError(err))
	}
	if len(data) > MaxFileSize {
		return nil, "", fmt.Errorf("is larger than %d bytes (1 MiB), the most a blueprint may be", MaxFileSize)
	}
	return data, path, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func decodeBytes(file string, data []byte, opts LoadOptions) (env *Environment, errs ErrorList) {
	fileErr := func(line, col int, format string, args ...any) ErrorList {
		return ErrorList{{Position: Position{File: file, Line: line, Column: col}, Message: fmt.Sprintf(format, args...)}}
	}
	if len(data) > MaxFileSize {
		return nil, fileErr(0, 0, "is %d bytes; a blueprint may be at most %d bytes (1 MiB)", len(data), MaxFileSize)
	}
	if !utf8.Valid(data) {
		line, col := firstInvalidUTF8(data)
		return nil, fileErr(line, col, "is not valid UTF-8 text (first bad byte here); save the file as UTF-8")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fileErr(0, 0, "is empty; a blueprint starts with apiVersion: %s and kind: %s", APIVersion, KindEnvironment)
	}

	root, err := parseOneDocument(data)
	if errors.Is(err, errNoContent) {
		return nil, fileErr(0, 0, "has no content (only comments or blank lines); a blueprint starts with apiVersion: %s and kind: %s", APIVersion, KindEnvironment)
	}
	if err != nil {
		line, msg := yamlErrorLine(err)
		return nil, fileErr(line, 0, "%s", msg)
	}

	overrides := opts.Overrides
	if opts.Region != "" {
		overrides = maps.Clone(overrides)
		if overrides == nil {
			overrides = map[string]any{}
		}
		overrides["spec.region"] = opts.Region
	}
	if len(overrides) > 0 {
		origin := opts.OverridesOrigin
		if origin == "" {
			origin = "overrides"
		}
		for _, path := range sortedKeys(overrides) {
			if err := applyOverride(root, path, overrides[path]); err != nil {
				errs = append(errs, &FieldError{Position: Position{File: origin}, Path: path, Message: err.Error()})
			}
		}
		if len(errs) > 0 {
			return nil, errs
		}
	}

	d := &decoder{file: file, origin: opts.OverridesOrigin, positions: map[string]Position{}}
	env = &Environment{}
	d.decode(root, reflect.ValueOf(env).Elem(), "")
	failed := map[string]bool{}
	for _, e := range d.errs {
		failed[e.Path] = true
	}
	env.source = source{file: file, positions: d.positions, failed: failed}
	return env, d.errs
}

// errNoContent is returned for YAML text with no document in it.
var errNoContent = errors.New("no YAML content")

// parseOneDocument parses YAML text that must hold exactly one document,
// and returns its root node. yaml errors (and, defensively, panics) become
// errors.
func parseOneDocument(data []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("yaml: cannot parse: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, &doc)
	}
	switch {
	case len(docs) == 0:
		return nil, errNoContent
	case len(docs) > 1:
		return nil, fmt.Errorf("yaml: line %d: holds %d YAML documents; a blueprint is one document (remove the extra ---)", docs[1].Line, len(docs))
	}
	doc := docs[0]
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 || isNull(doc.Content[0]) {
			return nil, errNoContent
		}
		return doc.Content[0], nil
	}
	return doc, nil
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// yamlErrorLine pulls the line number out of a yaml error message.
func yamlErrorLine(err error) (int, string) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, "invalid YAML: " + m[2]
	}
	return 0, "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")
}

func firstInvalidUTF8(data []byte) (line, col int) {
	line, col = 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			return line, col
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		data = data[size:]
	}
	return line, col
}
