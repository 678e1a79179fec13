// Command pulumi-language-go is a TEST-ONLY stand-in for Pulumi's Go
// language host. The official pulumi-language-go cannot be built or
// downloaded on the machines that run Plinth's tests; this small host lets
// the real pulumi CLI run plain `pulumi preview`, `pulumi up` and
// `pulumi destroy` on the repository's Pulumi.yaml (runtime: go) all the
// same, so that pulumi_up_test.go can prove that path keeps working. Users
// never run it: every Pulumi install ships the real host.
//
// It serves the SDK's public gRPC interface, pulumirpc.LanguageRuntimeServer
// (github.com/pulumi/pulumi/sdk/v3/proto/go), and implements only what those
// commands need:
//
//   - Run runs the program named by Pulumi.yaml's runtime.options.binary
//     (relative to the project root), or else `go build`s the main package
//     in the program directory (Pulumi.yaml's main) into a temporary file
//     and runs that. The program gets the PULUMI_* environment that the Go
//     SDK's pulumi.Run reads (engine and monitor addresses, organization,
//     project, stack, root directory, config and which keys are secret,
//     dry run, parallelism). Exit status 32 (the SDK has already reported
//     the error to the engine) becomes a bail, as with the real host.
//   - GetRequiredPackages answers none. The real host lists the provider
//     SDKs in go.mod (aws, kubernetes, random) so that the engine installs
//     their plugins up front, which here would send it to download plugins
//     it cannot reach; the plugins a program uses are still loaded when it
//     registers its resources.
//   - GetPluginInfo answers the version of the Pulumi Go SDK it was built with.
//
// Every other method answers Unimplemented (runtime.options.buildTarget,
// debugging, `pulumi new`/`convert`/`install` are not supported).
//
// The CLI starts it as it starts the real host: it looks for
// pulumi-language-go next to the pulumi binary, and on PATH unless
// PULUMI_IGNORE_AMBIENT_PLUGINS is set; passes the engine's address as the
// last argument; and reads the port the host listens on from the first line
// of its standard output. The host stops when the engine stops answering.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
)

// engineCheckInterval is how often the host checks that the engine is
// still there.
const engineCheckInterval = 5 * time.Second

func main() {
	if err := serve(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-go (Plinth test stand-in): %v\n", err)
		os.Exit(1)
	}
}

// serve listens on a loopback port, prints it and serves the language host
// until the engine whose address is the last of args goes away.
func serve(args []string) error {
	if len(args) == 0 {
		return errors.New("no engine address: this host is started by the pulumi CLI, which passes it as the last argument")
	}
	engine := args[len(args)-1] // the CLI may put logging flags before it
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listening on a loopback port: %w", err)
	}
	srv := grpc.NewServer()
	pulumirpc.RegisterLanguageRuntimeServer(srv, &host{engineAddress: engine})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := rpcutil.Healthcheck(ctx, engine, engineCheckInterval, cancel); err != nil {
		return fmt.Errorf("watching the engine at %s: %w", engine, err)
	}
	go func() {
		<-ctx.Done()
		srv.Stop()
	}()

	fmt.Printf("%d\n", lis.Addr().(*net.TCPAddr).Port)
	if err := srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}
