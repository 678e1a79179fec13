// Command environment is the Pulumi program of a Plinth environment
// (Pulumi.yaml points here): `pulumi stack select gpu-training && pulumi up`.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinth-dev/plinth/stacks"
)

func main() {
	pulumi.Run(stacks.Program)
}
