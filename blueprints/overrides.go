package blueprints

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// pathStep is one step of a field path: a mapping key or a list index.
type pathStep struct {
	key   string
	index int // -1 for a key
}

// parsePath splits a field path such as spec.gpuNodePools[0].labels["a.b/c"]
// into steps.
func parsePath(path string) ([]pathStep, error) {
	var steps []pathStep
	rest := path
	if rest == "" {
		return nil, errors.New("empty field path")
	}
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, "["):
			end := strings.Index(rest, "]")
			if end < 0 {
				return nil, fmt.Errorf("field path %q: unclosed [", path)
			}
			inner := rest[1:end]
			if strings.HasPrefix(inner, `"`) {
				key, err := strconv.Unquote(inner)
				if err != nil {
					return nil, fmt.Errorf("field path %q: bad quoted key %s", path, inner)
				}
				steps = append(steps, pathStep{key: key, index: -1})
			} else {
				i, err := strconv.Atoi(inner)
				if err != nil || i < 0 {
					return nil, fmt.Errorf("field path %q: list index must be a number ≥ 0, found %q", path, inner)
				}
				steps = append(steps, pathStep{index: i})
			}
			rest = rest[end+1:]
			rest = strings.TrimPrefix(rest, ".")
		default:
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			if end == 0 {
				return nil, fmt.Errorf("field path %q: empty field name", path)
			}
			steps = append(steps, pathStep{key: rest[:end], index: -1})
			rest = rest[end:]
			rest = strings.TrimPrefix(rest, ".")
		}
	}
	return steps, nil
}

// applyOverride sets the node at path to value, creating mapping entries on
// the way. List elements must already exist.
func applyOverride(root *yaml.Node, path string, value any) error {
	steps, err := parsePath(path)
	if err != nil {
		return err
	}
	var valueNode yaml.Node
	if err := valueNode.Encode(value); err != nil {
		return fmt.Errorf("cannot use value %v: %w", value, err)
	}
	clearPositions(&valueNode)

	n := root
	for i, step := range steps {
		last := i == len(steps)-1
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		if step.index >= 0 {
			if n.Kind != yaml.SequenceNode {
				return fmt.Errorf("%s is not a list", joinSteps(steps[:i]))
			}
			if step.index >= len(n.Content) {
				return fmt.Errorf("%s has %d element(s); index %d does not exist", joinSteps(steps[:i]), len(n.Content), step.index)
			}
			if last {
				n.Content[step.index] = &valueNode
				return nil
			}
			n = n.Content[step.index]
			continue
		}
		if isNull(n) {
			*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s is not a mapping", joinSteps(steps[:i]))
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == step.key {
				next = n.Content[j+1]
				if last {
					n.Content[j+1] = &valueNode
					return nil
				}
			}
		}
		if next == nil {
			key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: step.key}
			if last {
				n.Content = append(n.Content, key, &valueNode)
				return nil
			}
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			n.Content = append(n.Content, key, next)
		}
		n = next
	}
	return nil
}

func clearPositions(n *yaml.Node) {
	n.Line, n.Column = 0, 0
	for _, c := range n.Content {
		clearPositions(c)
	}
}

func joinSteps(steps []pathStep) string {
	p := ""
	for _, s := range steps {
		if s.index >= 0 {
			p = fmt.Sprintf("%s[%d]", p, s.index)
		} else {
			p = mapPath(p, s.key)
		}
	}
	if p == "" {
		return "the blueprint"
	}
	return p
}
