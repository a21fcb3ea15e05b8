//go:build !(linux && (amd64 || arm64))

package filebackend

import (
	"errors"
	"os"
)

// canSyncfs reports whether syncfs is available.
const canSyncfs = false

// startWriteback does nothing where sync_file_range is not available.
func startWriteback(*os.File) {}

// syncfs is not available: see canSyncfs.
func syncfs(*os.File) error { return errors.ErrUnsupported }
