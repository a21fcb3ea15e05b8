//go:build unix

package filebackend

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// lockSupported reports whether this platform has the advisory file locks
// that the backend relies on to share a directory between processes.
const lockSupported = true

// lockFile takes an exclusive flock on f, waiting while another open file
// description (another process, or another Backend in this one) holds it,
// until ctx is done. The operating system releases the lock when the holder
// closes f or dies, so a crashed holder never blocks others.
func lockFile(ctx context.Context, f *os.File) error {
	const (
		minWait = 20 * time.Microsecond
		maxWait = 2 * time.Millisecond
	)
	wait := minWait
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case !errors.Is(err, syscall.EWOULDBLOCK):
			return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
		}
		// Poll rather than block, so that a cancelled ctx ends the wait.
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, maxWait)
	}
}

// unlockFile releases the flock taken by lockFile.
func unlockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		if !errors.Is(err, syscall.EINTR) {
			if err != nil {
				return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
