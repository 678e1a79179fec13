//go:build !linux && !windows

package localcluster

import "syscall"

// sysProcAttr puts each component in its own process group, so a Ctrl-C in
// the terminal reaches only the harness, which then stops the components.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
