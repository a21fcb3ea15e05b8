package secretstore

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// MasterKeySize is the size of the master key that NewLocalKeys takes and
// that a key file holds.
const MasterKeySize = 32

// LoadKeyFile reads the master key held in the file at path: exactly
// MasterKeySize bytes, in a regular file that other users cannot read (mode
// 0600 or stricter, as ssh requires of private keys). With create true, a
// missing file is first made, holding MasterKeySize random bytes: written
// whole to a temp file of mode 0600 whatever the umask, synced, and linked
// into place (in a directory created with mode 0700 if missing), so that no
// one ever reads a partial key and two processes starting at once end up
// with the same key. created reports whether this call made the file.
//
// Keep the key file apart from the store it protects: a key next to its
// ciphertext protects nothing. The caller should clear the key after
// passing it to NewLocalKeys, which copies it. Errors never contain key
// material.
func LoadKeyFile(path string, create bool) (key []byte, created bool, err error) {
	key, err = readKeyFile(path)
	if !create || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	dir := filepath.Dir(path)
	if err := makePrivateDir(dir); err != nil {
		return nil, false, fmt.Errorf("secretstore: key file directory: %w", err)
	}
	key = make([]byte, MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	f, err := os.CreateTemp(dir, ".master-key-*.tmp")
	if err != nil {
		clear(key)
		return nil, false, fmt.Errorf("secretstore: key file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(key)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp, path)
	}
	if errors.Is(err, fs.ErrExist) {
		clear(key)
		key, err = readKeyFile(path) // another process made it first
		return key, false, err
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		clear(key)
		return nil, false, fmt.Errorf("secretstore: key file: %w", err)
	}
	return key, true, nil
}

// readKeyFile reads a key file; a missing file is an error wrapping
// fs.ErrNotExist.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secretstore: key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secretstore: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secretstore: key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("secretstore: key file %s has mode %04o, which lets other users read it: chmod 600 it", path, perm)
	}
	key, err := io.ReadAll(io.LimitReader(f, MasterKeySize+1))
	if err != nil {
		return nil, fmt.Errorf("secretstore: key file: %w", err)
	}
	if len(key) != MasterKeySize {
		size := fmt.Sprint(len(key))
		if len(key) > MasterKeySize {
			size = fmt.Sprintf("more than %d", MasterKeySize)
		}
		clear(key)
		return nil, fmt.Errorf("secretstore: key file %s holds %s bytes, want exactly %d", path, size, MasterKeySize)
	}
	return key, nil
}

// makePrivateDir creates dir and its missing parents with mode 0700, set
// explicitly whatever the umask, syncing the parent of each directory it
// creates. Directories that exist are left alone.
func makePrivateDir(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := makePrivateDir(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // made by another process meanwhile
		}
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	return syncDir(parent)
}

// syncDir fsyncs the directory dir, making the names it holds durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
