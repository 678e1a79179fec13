package main

import (
	"github.com/spf13/cobra"

	"github.com/plinth-dev/plinth/blueprints"
)

func newCmdSchema(ios *IOStreams, g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the blueprint format",
		Long: `Print the JSON Schema (draft 2020-12) of the blueprint format, for editors
and CI. With yaml-language-server (VS Code YAML extension, Neovim, ...), put
this first line in a blueprint to get completion and checks as you type:

  # yaml-language-server: $schema=./schema.json

The schema is JSON whatever --output says. It checks the shape of a
blueprint; plinth validate also checks the rules that span fields and the
region catalogue.`,
		Example: `  plinth schema > blueprints/schema.json
  plinth schema | jq '.["$defs"].GPUNodePool.properties | keys'`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := ios.Out.Write(blueprints.Schema())
			return err
		},
	}
}
