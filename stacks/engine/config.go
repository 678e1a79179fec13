package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/plinth-dev/plinth/stacks"
)

// syncConfig copies the values of stacks/Pulumi.<stack>.yaml into the
// workspace stack config and removes plain values the file no longer has.
// Secrets in the workspace config are kept; `secure:` values of the file
// cannot be copied (another secrets provider encrypted them) and are
// reported when the workspace config lacks them.
//
// Objects and lists (plinth:overrides) are copied as their JSON text: that
// is how the engine hands structured config to a program, which reads them
// with config.TryObject.
func (s *session) syncConfig(ctx context.Context) error {
	current, err := s.stack.GetAllConfig(ctx)
	if err != nil {
		return fmt.Errorf("stack %s: read config: %s", s.opts.Stack, cliMessage(err))
	}
	for _, v := range current {
		if v.Secret {
			s.out.add(v.Value)
		}
	}
	set, remove := configChanges(s.opts.Root, s.config, current)
	if len(set) > 0 {
		if err := s.stack.SetAllConfig(ctx, set); err != nil {
			return fmt.Errorf("stack %s: copy config from %s: %s", s.opts.Stack, s.config.File, cliMessage(err))
		}
	}
	if len(remove) > 0 {
		if err := s.stack.RemoveAllConfig(ctx, remove); err != nil {
			return fmt.Errorf("stack %s: remove config: %s", s.opts.Stack, cliMessage(err))
		}
	}
	for _, k := range s.config.SecretKeys {
		if _, ok := current[k]; !ok {
			s.out.printf("note: %s in %s is encrypted for another secrets provider and is not copied; set it in the stack's own config (%s)\n",
				k, s.config.File, StackConfigFile(s.opts.Root, s.opts.Backend, s.opts.Stack))
		}
	}
	s.current = current
	return nil
}

// configChanges returns the values to set so that the workspace config
// (current) holds every plain value of the stack config file, and the plain
// keys to remove because the file no longer has them.
func configChanges(root string, sc *stacks.StackConfig, current auto.ConfigMap) (set auto.ConfigMap, remove []string) {
	set = auto.ConfigMap{}
	for k, v := range sc.Values {
		if slices.Contains(sc.SecretKeys, k) {
			continue
		}
		if k == stacks.ConfigBlueprint {
			v = absBlueprint(root, v)
		}
		if cur, ok := current[k]; ok && !cur.Secret && cur.Value == v {
			continue
		}
		set[k] = auto.ConfigValue{Value: v}
	}
	for k, v := range current {
		if _, ok := sc.Values[k]; !ok && !v.Secret {
			remove = append(remove, k)
		}
	}
	sort.Strings(remove)
	return set, remove
}

// ensureSecrets generates the passwords the environment needs and the
// stack lacks, stored encrypted in the stack config and never printed, and
// fails naming the secrets Plinth cannot generate.
func (s *session) ensureSecrets(ctx context.Context) error {
	generated, given := stacks.RequiredSecrets(s.env)
	var missingGiven, toGenerate []string
	for _, k := range given {
		if _, ok := s.current[k]; !ok && !slices.Contains(missingGiven, k) {
			missingGiven = append(missingGiven, k)
		}
	}
	for _, k := range generated {
		if _, ok := s.current[k]; !ok && !slices.Contains(toGenerate, k) {
			toGenerate = append(toGenerate, k)
		}
	}
	if len(missingGiven) > 0 && s.opts.placeholderSecrets {
		for _, k := range missingGiven {
			if err := s.setSecret(ctx, k, PlaceholderSecret); err != nil {
				return err
			}
			s.current[k] = auto.ConfigValue{Value: PlaceholderSecret, Secret: true}
		}
		missingGiven = nil
	}
	if len(missingGiven) > 0 {
		return &MissingSecretError{Stack: s.opts.Stack, Keys: missingGiven, WorkDir: s.workDir, Backend: s.opts.Backend}
	}
	if len(toGenerate) > 0 && s.fresh && s.state.deployed() {
		return &MissingSecretError{Stack: s.opts.Stack, Keys: toGenerate, WorkDir: s.workDir, Backend: s.opts.Backend, Lost: true}
	}
	for _, k := range toGenerate {
		v, err := generatePassword()
		if err != nil {
			return err
		}
		s.out.add(v)
		if err := s.setSecret(ctx, k, v); err != nil {
			return err
		}
		s.current[k] = auto.ConfigValue{Value: v, Secret: true}
		s.out.printf("generated secret %s (stored encrypted in %s)\n", k, StackConfigFile(s.opts.Root, s.opts.Backend, s.opts.Stack))
	}
	return nil
}

// setSecret stores a secret in the stack config. The value goes to the
// CLI on standard input, not on its command line (which other local users
// can read while it runs), as the Automation API's SetConfig would pass it.
func (s *session) setSecret(ctx context.Context, key, value string) error {
	_, stderr, _, err := s.cli.Run(ctx, s.workDir, strings.NewReader(value), nil, nil, s.envList(),
		"config", "set", "--stack", s.opts.Stack, "--secret", key)
	if err != nil {
		return fmt.Errorf("stack %s: store secret %s: %w: %s", s.opts.Stack, key, err, firstLine(stderr))
	}
	return nil
}

// passwordBytes of randomness make a 32-character URL-safe password.
const passwordBytes = 24

// generatePassword returns 32 URL-safe characters from crypto/rand.
func generatePassword() (string, error) {
	b := make([]byte, passwordBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
