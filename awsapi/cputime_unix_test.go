//go:build unix

package awsapi_test

import "syscall"

// processCPU returns the user plus system CPU time the process has used,
// in seconds, or 0 where it is not available.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
