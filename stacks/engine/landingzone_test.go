package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/stacks/engine/enginetest"
	"github.com/plinth-dev/plinth/stacks/landingzone/landingzonetest"
)

// A stack whose Terraform landing zone cannot be read fails before the
// engine starts (no pulumi CLI is even looked for), with the blueprint
// error naming file, line, field and what to do.
func TestLandingZoneErrorBeforeTheEngine(t *testing.T) {
	landingzonetest.Terraform(t)
	blueprint := landingzonetest.CopyExample(t, t.TempDir()) // not applied
	root := enginetest.Root(t, t.TempDir(), "lz", blueprint)
	_, err := Preview(context.Background(), Options{Root: root, Stack: "lz", Passphrase: enginetest.Passphrase, PulumiBinary: "/nonexistent/pulumi"})
	var list blueprints.ErrorList
	if !errors.As(err, &list) || len(list) != 1 {
		t.Fatalf("err = %v (%T), want one blueprint error", err, err)
	}
	if want := blueprint + ":23:14: spec.network.existing.fromTerraform.dir: "; !strings.HasPrefix(list[0].Error(), want) ||
		!strings.Contains(list[0].Error(), "run `terraform init` and `terraform apply` there first") {
		t.Errorf("error = %v\nwant it to start with %q and say how to fix it", list[0], want)
	}
}
