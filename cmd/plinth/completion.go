package main

import (
	"github.com/spf13/cobra"
)

func newCmdCompletion(ios *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a completion script for your shell. Load it in the current shell, or
install it once so every new shell has it.`,
		Example: `  # bash, this shell
  source <(plinth completion bash)
  # bash, every shell (Linux)
  plinth completion bash > /etc/bash_completion.d/plinth
  # zsh
  plinth completion zsh > "${fpath[1]}/_plinth"
  # fish
  plinth completion fish > ~/.config/fish/completions/plinth.fish`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("completion takes one shell: bash, zsh, fish or powershell")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(ios.Out, true)
			case "zsh":
				return root.GenZshCompletion(ios.Out)
			case "fish":
				return root.GenFishCompletion(ios.Out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(ios.Out)
			default:
				return usageError("shell %q is not supported; allowed: bash, zsh, fish, powershell", args[0])
			}
		},
	}
}
