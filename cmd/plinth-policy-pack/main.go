// Command plinth-policy-pack is Plinth's policies as a Pulumi policy pack:
// an analyzer plugin the engine launches itself.
//
//	go build -o bin/plinth-policy-pack ./cmd/plinth-policy-pack
//	pulumi preview --policy-pack ./bin/plinth-policy-pack
//	pulumi up --policy-pack ./bin/plinth-policy-pack [--policy-pack-config policy.json]
//
// The engine (pulumi v3.274.1 and later) runs an executable given to
// --policy-pack directly, as it runs a provider plugin: no PulumiPolicy.yaml,
// language host or policy host is needed. The Automation API passes it with
// optup.PolicyPacks / optpreview.PolicyPacks. See package
// github.com/plinth-dev/plinth/policies/analyzer for what it reports and how
// it is configured.
//
// Custom Rego rules (as `plinth policy check --rules DIR` runs them offline)
// are evaluated too when the engine's environment has PLINTH_POLICY_RULES
// set to their directory, or when the policy pack config names it:
//
//	PLINTH_POLICY_RULES=policies/rego/examples pulumi up --policy-pack ./bin/plinth-policy-pack
//	pulumi up --policy-pack ./bin/plinth-policy-pack --policy-pack-config policy.json
//	    # policy.json: {"plinth.rules": {"dir": "policies/rego/examples"}}
//
// A rule that does not compile stops the pack before the engine does
// anything, with the file and line.
package main

import (
	"fmt"
	"os"

	"github.com/plinth-dev/plinth/policies/analyzer"
)

// version is set at build time (-ldflags "-X main.version=1.2.3"); it must be
// a semantic version to be shown.
var version = analyzer.DefaultVersion

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "-h", "-help", "--help":
			fmt.Printf("%s is a Pulumi policy pack, started by the engine:\n\n  pulumi preview --policy-pack %s\n  pulumi up --policy-pack %s [--policy-pack-config policy.json]\n\nCustom Rego rules: %s=DIR in the engine's environment, or {\"%s\": {\"dir\": \"DIR\"}} in policy.json.\n",
				os.Args[0], os.Args[0], os.Args[0], analyzer.EnvRules, analyzer.RulesPolicy)
			return
		case "-version", "--version":
			fmt.Println(version)
			return
		}
	}
	// Any other argument is the engine's address, which the pack does not need.
	opts := analyzer.Options{Version: version, RulesDir: os.Getenv(analyzer.EnvRules)}
	if err := analyzer.Main(opts); err != nil {
		fmt.Fprintf(os.Stderr, "plinth-policy-pack: %v\n", err)
		os.Exit(1)
	}
}
