package main

import (
	"bytes"
	"context"
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
	"github.com/secretstore/secretstore/backend/pgbackend"
)

// storeConfig names the store a command works on. serve and the
// Secrets Manager subcommands share it, and openStore is the one place that
// turns it into a backend: a new kind of store is a new field here and a new
// case there.
//
// A file store keeps its keys in a keyring inside the store, sealed under a
// master key from exactly one of: a key file (the default), an environment
// variable holding the key in base64, or a passphrase (from a file or an
// environment variable) stretched with argon2id.
type storeConfig struct {
	memory         bool   // an in-memory store; the rest is unused
	postgres       string // DSN of a PostgreSQL store; dir is unused
	pgSchema       string // its schema ("" for pgbackend's default)
	dir            string // directory of a file store
	keyFile        string // file of the 32-byte master key
	keyEnv         string // environment variable holding the master key in base64
	passphraseFile string // file whose content is the passphrase
	passphraseEnv  string // environment variable holding the passphrase
}

// Help texts of the store flags, shared by serve and the subcommands.
const (
	postgresUsage       = "`DSN` of a PostgreSQL database holding the store (postgres://user@host:5432/db; give the password with PGPASSWORD or ~/.pgpass, not here), instead of --dir"
	pgSchemaUsage       = "`schema` of the PostgreSQL store (default " + pgbackend.DefaultSchema + ")"
	dirUsage            = "`directory` of the store (default secretstore/store in the user cache directory)"
	keyFileUsage        = "`file` of the 32-byte master key, created on first use; must be outside the store directory (default secretstore/master.key in the user config directory)"
	keyEnvUsage         = "`name` of an environment variable holding the master key in base64 (head -c 32 /dev/urandom | base64), instead of a key file"
	passphraseFileUsage = "`file` holding a passphrase (less one trailing newline) that argon2id stretches into the master key, instead of a key file"
	passphraseEnvUsage  = "`name` of an environment variable holding a passphrase, instead of a key file"
)

// masterSources returns the flags of the master key sources c names.
func (c *storeConfig) masterSources() []string {
	var set []string
	for _, f := range []struct{ flag, v string }{
		{"--master-key-file", c.keyFile}, {"--master-key-env", c.keyEnv},
		{"--passphrase-file", c.passphraseFile}, {"--passphrase-env", c.passphraseEnv},
	} {
		if f.v != "" {
			set = append(set, f.flag)
		}
	}
	return set
}

// resolve fills in the default directory and key file of a file store,
// makes both absolute, and refuses a key file inside the store directory.
func (c *storeConfig) resolve() error {
	if c.memory {
		if src := c.masterSources(); len(src) > 0 {
			return usagef("%s has no use with --memory: an in-memory store uses a key that lives as long as the process", src[0])
		}
		return nil
	}
	if src := c.masterSources(); len(src) > 1 {
		return usagef("%s and %s cannot be used together: give one source of the master key", src[0], src[1])
	}
	if c.postgres != "" && c.dir != "" {
		return usagef("--postgres and --dir cannot be used together")
	}
	if c.postgres == "" && c.pgSchema != "" {
		return usagef("--postgres-schema has no use without --postgres")
	}
	if c.postgres == "" && c.dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return usagef("no default directory for the store: use --dir (%v)", err)
		}
		c.dir = filepath.Join(cache, "secretstore", "store")
	}
	if len(c.masterSources()) == 0 {
		conf, err := os.UserConfigDir()
		if err != nil {
			return usagef("no default place for the master key: use --master-key-file (%v)", err)
		}
		c.keyFile = filepath.Join(conf, "secretstore", "master.key")
	}
	var err error
	if c.dir != "" {
		if c.dir, err = filepath.Abs(c.dir); err != nil {
			return err
		}
	}
	for _, f := range []*string{&c.keyFile, &c.passphraseFile} {
		if *f == "" {
			continue
		}
		if *f, err = filepath.Abs(*f); err != nil {
			return err
		}
		if c.dir != "" && (within(c.dir, *f) || within(resolve(c.dir), resolve(*f))) {
			return usagef("master key file %s is inside the store directory %s: keep the key apart from the data it protects", *f, c.dir)
		}
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

// openedStore is a store that openStore opened.
type openedStore struct {
	b       backend.Backend
	keyring *secretstore.Keyring // nil for an in-memory store
	opts    []secretstore.Option // what an engine over b needs
	where   string               // a description of the store for messages
}

// Close closes the keyring and the backend.
func (o *openedStore) Close() error {
	if o.keyring != nil {
		o.keyring.Close()
	}
	return o.b.Close()
}

// openStore opens the store that c (resolved) names, with its keyring; the
// caller closes it.
func openStore(ctx context.Context, c storeConfig, policy keyPolicy) (*openedStore, error) {
	if c.memory {
		return &openedStore{b: membackend.New(), where: "in memory"}, nil
	}
	var b backend.Backend
	var where string
	var isNew func() (bool, error) // whether the store holds nothing yet
	if c.postgres != "" {
		var opts []pgbackend.Option
		if c.pgSchema != "" {
			opts = append(opts, pgbackend.WithSchema(c.pgSchema))
		}
		pb, err := pgbackend.Open(ctx, c.postgres, opts...)
		if err != nil {
			return nil, err
		}
		schema := c.pgSchema
		if schema == "" {
			schema = pgbackend.DefaultSchema
		}
		b, where = pb, "PostgreSQL store, schema "+schema
		isNew = func() (bool, error) {
			recs, err := pb.ListRecords(ctx, "", "", 1)
			return len(recs) == 0, err
		}
	} else {
		isNew = func() (bool, error) { return emptyOrMissing(c.dir) }
	}
	master, err := c.masterKey(policy, isNew)
	if err != nil {
		if b != nil {
			b.Close()
		}
		return nil, err
	}
	defer master.Clear()
	if b == nil {
		fb, err := filebackend.Open(c.dir)
		if err != nil {
			return nil, err
		}
		b, where = fb, "store "+fb.Dir()
	}
	kr, err := secretstore.OpenKeyring(ctx, b, master)
	if err != nil {
		b.Close()
		if errors.Is(err, secretstore.ErrWrongMasterKey) {
			return nil, fmt.Errorf("the %s does not open with this master key (%s)", where, c.masterSources()[0])
		}
		return nil, err
	}
	return &openedStore{b: b, keyring: kr, opts: []secretstore.Option{secretstore.WithKeys(kr)}, where: where}, nil
}

// masterKey reads the master key from the source c names.
func (c *storeConfig) masterKey(policy keyPolicy, isNew func() (bool, error)) (secretstore.MasterKey, error) {
	switch {
	case c.keyEnv != "":
		return secretstore.MasterKeyFromEnv(c.keyEnv)
	case c.passphraseEnv != "":
		p, ok := os.LookupEnv(c.passphraseEnv)
		if !ok || p == "" {
			return secretstore.MasterKey{}, fmt.Errorf("environment variable %s (--passphrase-env) is not set", c.passphraseEnv)
		}
		return secretstore.MasterKeyFromPassphrase([]byte(p), secretstore.DefaultArgon2Params)
	case c.passphraseFile != "":
		p, err := os.ReadFile(c.passphraseFile)
		if err != nil {
			return secretstore.MasterKey{}, fmt.Errorf("--passphrase-file: %w", err)
		}
		defer clear(p)
		p = bytes.TrimSuffix(bytes.TrimSuffix(p, []byte("\n")), []byte("\r"))
		return secretstore.MasterKeyFromPassphrase(p, secretstore.DefaultArgon2Params)
	}
	if policy == createKeyWithStore {
		if _, err := os.Stat(c.keyFile); errors.Is(err, fs.ErrNotExist) {
			empty, err := isNew()
			if err != nil {
				return secretstore.MasterKey{}, err
			}
			if !empty {
				return secretstore.MasterKey{}, fmt.Errorf("master key file %s does not exist, but the store does: give the --master-key-file it was created with", c.keyFile)
			}
		}
	}
	key, _, err := secretstore.LoadKeyFile(c.keyFile, true)
	if err != nil {
		return secretstore.MasterKey{}, err
	}
	defer clear(key)
	return secretstore.MasterKeyFromBytes(key)
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
