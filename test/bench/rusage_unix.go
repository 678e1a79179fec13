//go:build unix

package bench

import (
	"os"
	"runtime"
	"syscall"
)

// maxRSSMiB is the peak resident set of the process (and its waited-for
// children) in MiB: Linux reports ru_maxrss in KiB, Darwin in bytes.
func maxRSSMiB(st *os.ProcessState) float64 {
	ru, ok := st.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return float64(ru.Maxrss) / (1 << 20)
	}
	return float64(ru.Maxrss) / 1024
}
