// Command benchrun runs a command and writes what it cost, as the kernel
// accounted it, to the JSON file named by $BENCHRUN_OUT: wall seconds, user
// and system CPU seconds, and peak resident set (KiB on Linux) of the
// command and the children it waited for. It exits with the command's
// exit status.
//
// It exists because Linux carries a process's peak RSS across exec: a
// command started straight from a large process (the benchmark's test
// binary, hundreds of MiB) reports at least that parent's RSS. Started
// from this small launcher, the floor is the launcher's few MiB.
//
//	BENCHRUN_OUT=cost.json benchrun go build ./cmd/plinth
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// cost is what benchrun writes.
type cost struct {
	Wall     float64 `json:"wall"`
	User     float64 `json:"user"`
	Sys      float64 `json:"sys"`
	MaxRSSKB int64   `json:"maxRSSKB"`
	ExitCode int     `json:"exitCode"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(125)
	}
}

func run() error {
	out := os.Getenv("BENCHRUN_OUT")
	if out == "" || len(os.Args) < 2 {
		return errors.New("usage: BENCHRUN_OUT=FILE benchrun COMMAND [ARG...]")
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = os.Environ()
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start).Seconds()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return fmt.Errorf("run %s: %w", os.Args[1], err)
	}
	st := cmd.ProcessState
	c := cost{Wall: wall, User: st.UserTime().Seconds(), Sys: st.SystemTime().Seconds(), MaxRSSKB: maxRSSKB(st), ExitCode: st.ExitCode()}
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	os.Exit(c.ExitCode)
	return nil
}
