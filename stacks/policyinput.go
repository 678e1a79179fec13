package stacks

import (
	"fmt"
	"strings"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/policies"
	"github.com/plinth-dev/plinth/stacks/plan"
)

// PolicyInput turns an offline plan into the neutral view policies read,
// with each resource traced back to the blueprint field it comes from.
func PolicyInput(p *OfflinePlan, stack string) *policies.Input {
	env := p.Env
	in := &policies.Input{Environment: policies.Environment{
		Name:     env.Metadata.Name,
		Class:    env.Class(),
		Provider: env.Spec.Provider,
		Region:   env.Spec.Region,
		Stack:    stack,
	}}
	byURN := map[string]*plan.Resource{}
	for _, r := range p.Graph.Resources {
		byURN[r.URN] = r
	}
	for _, r := range p.Graph.Resources {
		in.Resources = append(in.Resources, &policies.Resource{
			URN:           r.URN,
			Type:          r.Type,
			Name:          r.Name,
			Parent:        r.Parent,
			Inputs:        r.Inputs,
			Protect:       r.Protect,
			BlueprintPath: blueprintPath(env, r, byURN),
		})
	}
	return in
}

// blueprintPath names the blueprint field a resource comes from, through
// the Plinth component it belongs to.
func blueprintPath(env *blueprints.Environment, r *plan.Resource, byURN map[string]*plan.Resource) string {
	comp := r
	for comp != nil && !strings.HasPrefix(comp.Type, "plinth:") {
		comp = byURN[comp.Parent]
	}
	if comp == nil {
		return ""
	}
	name := env.Metadata.Name
	switch comp.Type {
	case "plinth:network:Network":
		return "spec.network"
	case "plinth:cluster:Cluster":
		if strings.HasPrefix(r.Name, name+"-system") {
			return "spec.cluster.systemPool"
		}
		return "spec.cluster"
	case "plinth:compute:GpuNodePool":
		for i, p := range env.Spec.GPUNodePools {
			if comp.Name == name+"-"+p.Name {
				return indexPath("spec.gpuNodePools", i)
			}
		}
		return "spec.gpuNodePools"
	case "plinth:storage:Storage":
		if env.Spec.Storage != nil {
			for i, b := range env.Spec.Storage.Buckets {
				prefix := name + "-" + b.Name
				if r.Name == prefix || strings.HasPrefix(r.Name, prefix+"-") {
					return indexPath("spec.storage.buckets", i)
				}
			}
		}
		return "spec.storage"
	case "plinth:registry:Registry":
		if env.Spec.Registry != nil {
			for i, repo := range env.Spec.Registry.Repositories {
				prefix := name + "-" + strings.ReplaceAll(repo, "/", "-")
				if r.Name == prefix || strings.HasPrefix(r.Name, prefix+"-") {
					return indexPath("spec.registry.repositories", i)
				}
			}
		}
		return "spec.registry"
	case "plinth:tracking:TrackingStore":
		return "spec.tracking.database"
	}
	return ""
}

func indexPath(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}
