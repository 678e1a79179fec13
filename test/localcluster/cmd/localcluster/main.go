// Command localcluster starts a local Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, KWOK) with fake
// nodes for a blueprint's pools, prints how to reach it, and runs until
// interrupted. `make cluster` runs it for blueprints/local.yaml.
//
//	go run ./test/localcluster/cmd/localcluster [-blueprint blueprints/local.yaml] [-dir DIR] [-tools DIRS]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/plinth-dev/plinth/blueprints"
	"github.com/plinth-dev/plinth/test/localcluster"
)

func main() {
	blueprint := flag.String("blueprint", "blueprints/local.yaml", "blueprint whose systemPool and gpuNodePools become fake nodes")
	dir := flag.String("dir", "", "directory for the plane's files, kept on exit (default: a temporary directory, removed on exit)")
	tools := flag.String("tools", "", "directories holding the binaries (default: the `make tools` cache, then $PATH)")
	flag.Parse()
	if err := run(*blueprint, *dir, *tools); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		os.Exit(1)
	}
}

func run(blueprint, dir, tools string) error {
	env, err := blueprints.Load(blueprint)
	if err != nil {
		return err
	}
	env.Defaults(nil)
	var system *blueprints.NodePool
	if env.Spec.Cluster != nil {
		system = env.Spec.Cluster.SystemPool
	}
	nodes, err := localcluster.NodesFromPools(system, env.Spec.GPUNodePools, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", blueprint, err)
	}

	// Interrupts during start-up stop the plane too.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)

	c, err := localcluster.StartE(stderrLog{}, localcluster.Options{Dir: dir, Tools: tools, Nodes: nodes})
	if err != nil {
		return err
	}
	defer c.Stop()

	names := make([]string, 0, len(nodes))
	for _, n := range nodes {
		desc := n.Name + " (" + n.InstanceType
		if n.GPUs > 0 {
			desc += fmt.Sprintf(", %d GPUs", n.GPUs)
		}
		names = append(names, desc+")")
	}
	comps := make([]string, 0, len(c.PIDs()))
	for name, pid := range c.PIDs() {
		comps = append(comps, fmt.Sprintf("%s=%d", name, pid))
	}
	sort.Strings(comps)
	fmt.Printf(`
Local control plane for %s is up (%s).
  API server:  %s
  nodes:       %s
  processes:   %s
  logs:        %s/logs/
  kubeconfig:  %s   (context %s)

    export KUBECONFIG=%s

Press Ctrl-C to stop.
`, blueprint, c.StartupTime.Round(1e6), c.Server, strings.Join(names, ", "), strings.Join(comps, " "),
		c.Dir, c.Kubeconfig, localcluster.ContextName, c.Kubeconfig)

	s := <-sig
	fmt.Printf("\n%s: stopping the control plane...\n", s)
	return nil
}

// stderrLog is the localcluster.TestingT of a command: logs go to stderr,
// and nothing calls the failing methods (only StartE is used).
type stderrLog struct{}

func (stderrLog) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (stderrLog) Fail()                           {}
func (stderrLog) FailNow()                        { os.Exit(1) }
func (stderrLog) Fatal(args ...any)               { fmt.Fprintln(os.Stderr, args...); os.Exit(1) }
func (stderrLog) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}
func (stderrLog) Error(args ...any)                 { fmt.Fprintln(os.Stderr, args...) }
func (stderrLog) Errorf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (stderrLog) Name() string                      { return "localcluster" }
