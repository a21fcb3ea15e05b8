//go:build linux && (amd64 || arm64)

package filebackend

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// canSyncfs reports whether syncfs is available and reports write-back
// errors, which it does from Linux 5.8: before, a checkpoint could remove
// a log whose files failed to reach the disk without knowing.
var canSyncfs = kernelAtLeast(5, 8)

// kernelAtLeast reports whether the running Linux kernel's version is at
// least major.minor.
func kernelAtLeast(major, minor int) bool {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return false
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	parts := strings.SplitN(b.String(), ".", 3)
	if len(parts) < 2 {
		return false
	}
	maj, err1 := strconv.Atoi(parts[0])
	mnr, err2 := strconv.Atoi(strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return false
	}
	return maj > major || maj == major && mnr >= minor
}

// sysSyncfs is the number of syncfs(2), which package syscall lacks.
var sysSyncfs = map[string]uintptr{"amd64": 306, "arm64": 267}[runtime.GOARCH]

// startWriteback asks the kernel to start writing f's dirty pages to the
// device, without waiting (sync_file_range with SYNC_FILE_RANGE_WRITE). It
// makes nothing durable by itself. Errors are ignored: the flush that
// follows reports them.
func startWriteback(f *os.File) {
	const syncFileRangeWrite = 2
	_, _, _ = syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, f.Fd(), 0, 0, syncFileRangeWrite, 0, 0)
}

// syncfs makes durable everything written to the file system that f is
// on: syncfs(2), which writes the file system's metadata once, where an
// fsync of each of many files would write it once per file (and flush the
// device's cache as often). Since Linux 5.8 it reports a write-back error
// of the file system.
func syncfs(f *os.File) error {
	for {
		_, _, errno := syscall.Syscall(sysSyncfs, f.Fd(), 0, 0)
		switch errno {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		}
		return &os.PathError{Op: "syncfs", Path: f.Name(), Err: errno}
	}
}
