//go:build !windows

package engine

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcessGroup starts the CLI in a process group of its own.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// interrupt asks the CLI to cancel gracefully.
func interrupt(p *os.Process) error { return p.Signal(os.Interrupt) }

// alive reports whether a process of this host is running.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
