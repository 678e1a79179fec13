//go:build windows

package engine

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcessGroup starts the CLI in a process group of its own.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// interrupt cannot send SIGINT on Windows; the CLI is killed.
func interrupt(p *os.Process) error { return p.Kill() }

// alive cannot be told cheaply on Windows: a lock is never taken for stale.
func alive(pid int) bool { return true }
