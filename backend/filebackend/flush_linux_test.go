//go:build linux && (amd64 || arm64)

package filebackend

import "testing"

// TestKernelAtLeast checks the kernel version test that decides whether a
// checkpoint may trust syncfs to report write-back errors.
func TestKernelAtLeast(t *testing.T) {
	if !kernelAtLeast(2, 6) {
		t.Error("kernelAtLeast(2, 6) = false on a kernel that runs Go")
	}
	if kernelAtLeast(9999, 0) {
		t.Error("kernelAtLeast(9999, 0) = true")
	}
}
