//go:build !unix

package filebackend

import (
	"context"
	"errors"
	"os"
)

// lockSupported reports whether this platform has the advisory file locks
// that the backend relies on to share a directory between processes. On
// this platform it has not, and Open fails.
const lockSupported = false

func lockFile(context.Context, *os.File) error { return errors.ErrUnsupported }

func unlockFile(*os.File) error { return errors.ErrUnsupported }
