//go:build !linux

package filebackend

import (
	"os"
	"syscall"
)

// renameAt renames the file at oldPath to newPath.
func renameAt(_ *openDirs, oldPath, newPath string) error {
	if err := syscall.Rename(oldPath, newPath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldPath, New: newPath, Err: err}
	}
	return nil
}

// openAt opens the file at path as os.OpenFile does.
func openAt(_ *openDirs, path string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag, perm)
}
