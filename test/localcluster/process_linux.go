package localcluster

import "syscall"

// sysProcAttr puts each component in its own process group, so a Ctrl-C in
// the terminal reaches only the harness (which then stops the components in
// order), and has the kernel kill the component if the harness dies without
// calling Stop.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
