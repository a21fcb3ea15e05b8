package filebackend

import (
	"os"
	"runtime"
	"syscall"
)

// renameAt renames the file at oldPath to newPath: renameat(2) relative to
// the open directories of d where it knows them, which on Linux costs a
// fraction of rename(2) of full paths (no walk of every directory above).
func renameAt(d *openDirs, oldPath, newPath string) error {
	od, oname := d.at(oldPath)
	nd, nname := d.at(newPath)
	var err error
	if od != nil && nd != nil {
		err = syscall.Renameat(int(od.Fd()), oname, int(nd.Fd()), nname)
		runtime.KeepAlive(od)
		runtime.KeepAlive(nd)
	} else {
		// rename(2) itself: os.Rename first looks whether newPath is
		// a directory, a system call more.
		err = syscall.Rename(oldPath, newPath)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldPath, New: newPath, Err: err}
	}
	return nil
}

// openAt opens the file at path as os.OpenFile does, with openat(2)
// relative to the open directory of d that holds it, if d knows it.
func openAt(d *openDirs, path string, flag int, perm os.FileMode) (*os.File, error) {
	dir, name := d.at(path)
	if dir == nil {
		return os.OpenFile(path, flag, perm)
	}
	for {
		fd, err := syscall.Openat(int(dir.Fd()), name, flag|syscall.O_CLOEXEC, uint32(perm))
		runtime.KeepAlive(dir)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}
