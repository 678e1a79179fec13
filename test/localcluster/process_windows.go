package localcluster

import "syscall"

// sysProcAttr: the control plane binaries are built for Linux; on Windows the
// harness compiles but nothing special is set.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
