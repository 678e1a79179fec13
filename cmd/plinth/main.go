// Command plinth validates, plans and copies Plinth blueprints, and drives
// the work around `pulumi up`. Run `plinth --help` for the commands.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}))
}
