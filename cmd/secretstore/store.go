package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend"
	"github.com/secretstore/secretstore/backend/filebackend"
	"github.com/secretstore/secretstore/backend/membackend"
)

// storeConfig names the store a command works on. serve and the
// Secrets Manager subcommands share it, and openStore is the one place that
// turns it into a backend: a new kind of store is a new field here and a new
// case there.
type storeConfig struct {
	memory  bool   // an in-memory store; dir and keyFile are unused
	dir     string // directory of a file store
	keyFile string // file of the master key that seals a file store's values
}

// Help texts of the store flags, shared by serve and the subcommands.
const (
	dirUsage     = "`directory` of the store (default secretstore/store in the user cache directory)"
	keyFileUsage = "`file` of the 32-byte master key, created on first use; must be outside the store directory (default secretstore/master.key in the user config directory)"
)

// resolve fills in the default directory and key file of a file store,
// makes both absolute, and refuses a key file inside the store directory.
func (c *storeConfig) resolve() error {
	if c.memory {
		return nil
	}
	if c.dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return usagef("no default directory for the store: use --dir (%v)", err)
		}
		c.dir = filepath.Join(cache, "secretstore", "store")
	}
	if c.keyFile == "" {
		conf, err := os.UserConfigDir()
		if err != nil {
			return usagef("no default place for the master key: use --master-key-file (%v)", err)
		}
		c.keyFile = filepath.Join(conf, "secretstore", "master.key")
	}
	var err error
	if c.dir, err = filepath.Abs(c.dir); err != nil {
		return err
	}
	if c.keyFile, err = filepath.Abs(c.keyFile); err != nil {
		return err
	}
	if within(c.dir, c.keyFile) || within(resolve(c.dir), resolve(c.keyFile)) {
		return usagef("master key file %s is inside the store directory %s: keep the key apart from the data it protects", c.keyFile, c.dir)
	}
	return nil
}

// keyPolicy says when openStore may create a missing master key file.
type keyPolicy int

const (
	// createKey creates a missing key file, as serve always has.
	createKey keyPolicy = iota
	// createKeyWithStore creates a missing key file only together with a
	// new store: a key made for a store that already holds values would
	// open none of them, so a missing key there is an error.
	createKeyWithStore
)

// openStore opens the store that c (resolved) names. It returns the backend,
// which the caller closes, the engine options its values need, and a
// description of the store for messages.
func openStore(c storeConfig, policy keyPolicy) (b backend.Backend, opts []secretstore.Option, where string, err error) {
	if c.memory {
		return membackend.New(), nil, "in memory", nil
	}
	if policy == createKeyWithStore {
		if _, err := os.Stat(c.keyFile); errors.Is(err, fs.ErrNotExist) {
			empty, err := emptyOrMissing(c.dir)
			if err != nil {
				return nil, nil, "", err
			}
			if !empty {
				return nil, nil, "", fmt.Errorf("master key file %s does not exist, but the store %s does: give the --master-key-file it was created with", c.keyFile, c.dir)
			}
		}
	}
	master, _, err := secretstore.LoadKeyFile(c.keyFile, true)
	if err != nil {
		return nil, nil, "", err
	}
	keys, err := secretstore.NewLocalKeys(master)
	clear(master)
	if err != nil {
		return nil, nil, "", err
	}
	fb, err := filebackend.Open(c.dir)
	if err != nil {
		return nil, nil, "", err
	}
	return fb, []secretstore.Option{secretstore.WithKeys(keys)}, "store " + fb.Dir(), nil
}

// emptyOrMissing reports whether dir does not exist or holds nothing.
func emptyOrMissing(dir string) (bool, error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if len(names) > 0 {
		return false, nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return true, nil
}

// within reports whether path is dir or lies under it. Both are absolute
// and clean.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// resolve returns path with the symbolic links of its longest existing
// prefix resolved, so that within sees through links.
func resolve(path string) string {
	rest := ""
	for p := path; ; {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return path
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}
