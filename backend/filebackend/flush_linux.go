//go:build linux && (amd64 || arm64)

package filebackend

import (
	"os"
	"runtime"
	"syscall"
)

// flushNeedsFiles reports whether flushFiles needs the files written, open:
// syncfs does not.
const flushNeedsFiles = false

// sysSyncfs is the number of syncfs(2), which package syscall lacks.
var sysSyncfs = map[string]uintptr{"amd64": 306, "arm64": 267}[runtime.GOARCH]

// startWriteback asks the kernel to start writing f's dirty pages to the
// device, without waiting (sync_file_range with SYNC_FILE_RANGE_WRITE). It
// makes nothing durable by itself. Errors are ignored: flushFiles reports
// them.
func startWriteback(f *os.File) {
	const syncFileRangeWrite = 2
	_, _, _ = syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, f.Fd(), 0, 0, syncFileRangeWrite, 0, 0)
}

// flushFiles makes durable the files written (and the directory entries
// created, renamed or removed) in the store's file system, of which any is
// an open file: with one syncfs(2), which writes the file system's
// metadata once, where an fsync of each file would write it once per file
// (and flush the device's cache as often).
// Since Linux 5.8 syncfs reports a write-back error of the file system.
func flushFiles(anyFile *os.File, _ []*os.File, _ ...*os.File) error {
	for {
		_, _, errno := syscall.Syscall(sysSyncfs, anyFile.Fd(), 0, 0)
		switch errno {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		}
		return &os.PathError{Op: "syncfs", Path: anyFile.Name(), Err: errno}
	}
}
