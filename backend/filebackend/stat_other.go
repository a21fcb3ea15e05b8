//go:build !(linux && amd64)

package filebackend

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// existsIn reports whether dir, open as the directory at dirPath, holds an
// entry named name.
func existsIn(_ *os.File, dirPath, name string) (bool, error) {
	_, err := os.Lstat(filepath.Join(dirPath, name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return err == nil, nil
}
