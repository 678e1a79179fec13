package stacks

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/blueprints/catalog"
	"github.com/plinth-dev/plinth/stacks/landingzone"
	"github.com/plinth-dev/plinth/stacks/plan"
)

// getAvailabilityZones is the one data source the program reads.
const getAvailabilityZones = "aws:index/getAvailabilityZones:getAvailabilityZones"

// OfflinePlan is the result of running Program offline.
type OfflinePlan struct {
	// Env is the blueprint as validated and defaulted.
	Env *blueprints.Environment
	// Graph is every resource the program would create.
	Graph *plan.Graph
	// LandingZone is the network read from a Terraform landing zone, with
	// where each value came from (nil when the blueprint names none).
	LandingZone *landingzone.Network
}

// PlanOffline runs Program under Pulumi mocks for a stack config: no cloud,
// no CLI. values are the stack config values by full key (at least
// plinth:blueprint). The one data source the program reads, the region's
// availability zones, is answered from the region catalogue (at deploy time
// EC2 answers it).
func PlanOffline(cfg BlueprintConfig, values map[string]string, secretKeys []string, cat *catalog.Catalog) (*OfflinePlan, error) {
	env, err := cfg.Load(cat)
	if err != nil {
		return nil, err
	}
	// Read here too, so that errors come out positioned and the plan can
	// show where the network's ids came from.
	lz, err := LandingZone(context.Background(), env)
	if err != nil {
		return nil, err
	}
	// Secrets cannot be read offline: every secret the program needs that
	// the stack config does not hold is a placeholder, marked secret.
	values = maps.Clone(values)
	if values == nil {
		values = map[string]string{}
	}
	secretKeys = slices.Clone(secretKeys)
	generated, given := RequiredSecrets(env)
	for _, key := range append(generated, given...) {
		if _, ok := values[key]; !ok {
			values[key] = SecretPlaceholder
			secretKeys = append(secretKeys, key)
		}
	}
	invoke := func(token string, args resource.PropertyMap) (resource.PropertyMap, error) {
		if token != getAvailabilityZones {
			return nil, plan.ErrNoAnswer
		}
		region, ok := cat.Region(env.Spec.Region)
		if !ok {
			return nil, fmt.Errorf("region %q is not in the catalogue", env.Spec.Region)
		}
		names := make([]any, len(region.AvailabilityZones))
		for i, n := range region.AvailabilityZones {
			names[i] = n
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id":    env.Spec.Region,
			"names": names,
			"state": "available",
		}), nil
	}
	g, err := plan.Run(Program, plan.Options{
		Project:       Project,
		Stack:         cfg.Stack,
		RootDirectory: cfg.RootDirectory,
		Config:        values,
		SecretKeys:    secretKeys,
		Invoke:        invoke,
	})
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", env.Metadata.Name, err)
	}
	return &OfflinePlan{Env: env, Graph: g, LandingZone: lz}, nil
}
