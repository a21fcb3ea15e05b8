//go:build !(linux && (amd64 || arm64))

package filebackend

import (
	"errors"
	"os"
)

// flushNeedsFiles reports whether flushFiles needs the files written, open:
// it syncs each.
const flushNeedsFiles = true

// startWriteback does nothing where sync_file_range is not available.
func startWriteback(*os.File) {}

// flushFiles makes durable the files and the directories given: an fsync
// of each.
func flushFiles(_ *os.File, files []*os.File, dirs ...*os.File) error {
	var errs []error
	for _, f := range append(files, dirs...) {
		errs = append(errs, f.Sync())
	}
	return errors.Join(errs...)
}
