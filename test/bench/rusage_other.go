//go:build !unix

package bench

import "os"

// maxRSSMiB is not known on this platform.
func maxRSSMiB(*os.ProcessState) float64 { return 0 }
