package stacks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Project is the Pulumi project name (Pulumi.yaml); config keys without a
// namespace belong to it.
const Project = "plinth"

// StackConfig is a stack config file, stacks/Pulumi.<stack>.yaml, read the
// way the Pulumi engine hands config to a program.
type StackConfig struct {
	// Stack is the stack name.
	Stack string
	// File is the path the config was read from.
	File string
	// Values are the config values by full key (plinth:blueprint); objects
	// and lists are JSON, as the engine passes them.
	Values map[string]string
	// SecretKeys are the keys whose values are encrypted (`secure:`). Their
	// values cannot be read offline and are replaced by a placeholder.
	SecretKeys []string
}

// SecretPlaceholder stands for an encrypted config value offline.
const SecretPlaceholder = "(secret)"

// StackConfigPath is where a stack's config file lives under root.
func StackConfigPath(root, stack string) string {
	return filepath.Join(root, "stacks", "Pulumi."+stack+".yaml")
}

// ReadStackConfig reads stacks/Pulumi.<stack>.yaml under root.
func ReadStackConfig(root, stack string) (*StackConfig, error) {
	path := StackConfigPath(root, stack)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("stack %s: no stack config at %s (stacks here: %s)", stack, path, strings.Join(listStacks(root), ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", stack, err)
	}
	var doc struct {
		Config map[string]yaml.Node `yaml:"config"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sc := &StackConfig{Stack: stack, File: path, Values: map[string]string{}}
	for key, node := range doc.Config {
		full := key
		if !strings.Contains(key, ":") {
			full = Project + ":" + key
		}
		if node.Kind == yaml.MappingNode && len(node.Content) == 2 && node.Content[0].Value == "secure" {
			sc.Values[full] = SecretPlaceholder
			sc.SecretKeys = append(sc.SecretKeys, full)
			continue
		}
		if node.Kind == yaml.ScalarNode {
			sc.Values[full] = node.Value
			continue
		}
		var v any
		if err := node.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s:%d: config %s: %w", path, node.Line, key, err)
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: config %s: %w", path, node.Line, key, err)
		}
		sc.Values[full] = string(raw)
	}
	sort.Strings(sc.SecretKeys)
	return sc, nil
}

// Blueprint returns the blueprint settings of the stack config.
func (sc *StackConfig) Blueprint(root string) (BlueprintConfig, error) {
	c := BlueprintConfig{Stack: sc.Stack, RootDirectory: root, Blueprint: sc.Values[ConfigBlueprint], Region: sc.Values[ConfigAWSRegion]}
	if c.Blueprint == "" {
		return c, fmt.Errorf("%s: config %s is not set", sc.File, ConfigBlueprint)
	}
	if raw, ok := sc.Values[ConfigOverrides]; ok {
		if err := json.Unmarshal([]byte(raw), &c.Overrides); err != nil {
			return c, fmt.Errorf("%s: config %s must be a mapping of field paths to values", sc.File, ConfigOverrides)
		}
	}
	return c, nil
}

func listStacks(root string) []string {
	matches, _ := filepath.Glob(filepath.Join(root, "stacks", "Pulumi.*.yaml"))
	names := make([]string, 0, len(matches))
	for _, m := range matches {
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m), "Pulumi."), ".yaml"))
	}
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}
