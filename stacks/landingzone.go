package stacks

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/stacks/landingzone"
)

// LandingZoneTimeout bounds one read of a Terraform landing zone's outputs
// (a remote Terraform backend may be slow to answer).
const LandingZoneTimeout = 2 * time.Minute

// LandingZoneDir returns the directory of env's Terraform landing zone
// (spec.network.existing.fromTerraform.dir) as an absolute path: a relative
// dir is taken from the blueprint file's directory. It returns "" when the
// blueprint does not read its network from Terraform.
func LandingZoneDir(env *blueprints.Environment) string {
	tf := fromTerraform(env)
	if tf == nil {
		return ""
	}
	dir := tf.Dir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(filepath.Dir(env.File()), dir)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return dir
}

// LandingZone reads the network of env's Terraform landing zone: the
// outputs spec.network.existing.fromTerraform names, from the root module
// in LandingZoneDir, with `terraform output -json` (never applied). It
// returns nil and no error when the blueprint does not read its network
// from Terraform. Problems come back as a blueprints.ErrorList, each naming
// the blueprint file and line, the field, the directory and the output.
func LandingZone(ctx context.Context, env *blueprints.Environment) (*landingzone.Network, error) {
	tf := fromTerraform(env)
	if tf == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, LandingZoneTimeout)
	defer cancel()
	net, err := landingzone.Read(ctx, LandingZoneDir(env), *tf)
	if err != nil {
		return nil, landingZoneErrors(env, err)
	}
	return net, nil
}

func fromTerraform(env *blueprints.Environment) *blueprints.TerraformOutputs {
	if env == nil || env.Spec.Network == nil || env.Spec.Network.Existing == nil {
		return nil
	}
	return env.Spec.Network.Existing.FromTerraform
}

// landingZoneErrors turns landingzone errors into blueprint errors at the
// position of the field they concern.
func landingZoneErrors(env *blueprints.Environment, err error) error {
	var all []*landingzone.Error
	var list landingzone.Errors
	var one *landingzone.Error
	switch {
	case errors.As(err, &list):
		all = list
	case errors.As(err, &one):
		all = []*landingzone.Error{one}
	default:
		return fmt.Errorf("%s: %w", landingzone.FieldPath, err)
	}
	out := make(blueprints.ErrorList, len(all))
	for i, e := range all {
		out[i] = &blueprints.FieldError{Position: env.Position(e.Field), Path: e.Field, Message: e.Message}
	}
	return out
}
