//go:build !linux

package filebackend

import "os"

// datasync flushes f to stable storage: fsync(2), or F_FULLFSYNC on macOS,
// where fdatasync is not available.
func datasync(f *os.File) error { return f.Sync() }
