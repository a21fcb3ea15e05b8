package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
)

// demoValues are the values the tour stores or tries to store.
var demoValues = []string{"demo-password-1", "demo-password-2", "demo-password-3", "demo-password-other"}

func TestRun(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	cfg := config{
		Dir:     filepath.Join(root, "store"),
		KeyFile: filepath.Join(root, "config", "secretstore", "quickstart.key"),
	}

	var buf1, buf2 bytes.Buffer
	require.NoError(t, run(context.Background(), &buf1, cfg))
	key1, err := os.ReadFile(cfg.KeyFile)
	require.NoError(t, err)
	require.NoError(t, run(context.Background(), &buf2, cfg))
	out1, out2 := buf1.String(), buf2.String()

	// Both runs give the whole tour and name both paths.
	for i, out := range []string{out1, out2} {
		assertTour(t, out)
		assert.Contains(t, out, "store directory: "+cfg.Dir+" (", "run %d", i+1)
		assert.Contains(t, out, "master key file: "+cfg.KeyFile+" (", "run %d", i+1)
	}

	// The first run creates the key and finds no secret; the second reads
	// the key and finds the secret of the first, whose AWSCURRENT is the
	// version of the retried write.
	assert.Contains(t, out1, "master key file: "+cfg.KeyFile+" (created: 32 random bytes, mode 0600;")
	assert.Contains(t, out1, "not in the store: this is the first run on it")
	assert.NotContains(t, out1, "found from your last run")
	assert.Contains(t, out2, "master key file: "+cfg.KeyFile+" (read;")
	assert.NotContains(t, out2, "WARNING")
	last := regexp.MustCompile(`first call: version (\w{8}),`).FindStringSubmatch(out1)
	require.Len(t, last, 2, "no retry line in the first run's output:\n%s", out1)
	found := regexp.MustCompile(`found from your last run: 3 versions, AWSCURRENT on version (\S+)\n`).FindStringSubmatch(out2)
	require.Len(t, found, 2, "the second run does not report the first run's secret:\n%s", out2)
	assert.Regexp(t, `^`+last[1]+`[0-9a-f-]{28}$`, found[1], "the reported AWSCURRENT is not the first run's last version")
	assert.Contains(t, out2, "DeleteSecret with ForceDeleteWithoutRecovery: deleted at once")

	// The key file is private, 32 bytes, and read again rather than
	// replaced by the second run.
	fi, err := os.Stat(cfg.KeyFile)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
	assert.Len(t, key1, secretstore.MasterKeySize)
	key2, err := os.ReadFile(cfg.KeyFile)
	require.NoError(t, err)
	assert.Equal(t, key1, key2, "the second run replaced the key")
	di, err := os.Stat(filepath.Dir(cfg.KeyFile))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o700), di.Mode().Perm())

	// No file of the store holds a demo value or the master key.
	files := 0
	require.NoError(t, filepath.WalkDir(cfg.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, v := range demoValues {
			assert.NotContains(t, string(data), v, "plaintext in %s", path)
		}
		assert.False(t, bytes.Contains(data, key1), "master key in %s", path)
		return nil
	}))
	blobs, err := os.ReadDir(filepath.Join(cfg.Dir, "blobs"))
	require.NoError(t, err)
	assert.NotEmpty(t, blobs, "the store holds no value: the plaintext check proves nothing")
	assert.Greater(t, files, len(blobs))
}

// assertTour checks the narration of one run of the tour.
func assertTour(t *testing.T, out string) {
	t.Helper()
	for _, want := range []string{
		"every value shown is a demo value",
		`GetSecretValue (default AWSCURRENT) -> "demo-password-1"`,
		`GetSecretValue VersionStage=AWSPENDING -> "demo-password-2"`,
		`GetSecretValue (default AWSCURRENT) -> "demo-password-2"`,
		`GetSecretValue VersionStage=AWSPREVIOUS -> "demo-password-1"`,
		"2 versions before, 3 after both calls",
		"same token with a different value: ResourceExistsException",
		"errors.Is(err, secretstore.ErrResourceNotFound) = true",
		"secretstore.ErrorCode(err) = ResourceNotFoundException",
		"Done.",
	} {
		assert.Contains(t, out, want)
	}

	// The pending value is staged without moving AWSCURRENT, then promoted.
	pending := regexp.MustCompile(`staged version (\w{8})`).FindStringSubmatch(out)
	require.Len(t, pending, 2, "no staged version in output:\n%s", out)
	assert.Contains(t, out, "version "+pending[1]+": AWSCURRENT, AWSPENDING")
	assert.Contains(t, out, "version "+pending[1]+": AWSCURRENT\n")

	// The retry returned the version of the first call.
	retry := regexp.MustCompile(`first call: version (\w{8}), retry: version (\w{8})`).FindStringSubmatch(out)
	require.Len(t, retry, 3, "no retry line in output:\n%s", out)
	assert.Equal(t, retry[1], retry[2])
}

func TestRunRefusesKeyInStore(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "store")
	err := run(context.Background(), &bytes.Buffer{}, config{Dir: dir, KeyFile: filepath.Join(dir, "quickstart.key")})
	require.ErrorContains(t, err, "inside the store directory")
	_, err = os.Stat(dir)
	assert.ErrorIs(t, err, fs.ErrNotExist, "the refused run made the store")
}

func TestRunRefusesBadKey(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 31, 33, 64} {
		root := t.TempDir()
		cfg := config{Dir: filepath.Join(root, "store"), KeyFile: filepath.Join(root, "quickstart.key")}
		bad := bytes.Repeat([]byte{'k'}, size)
		require.NoError(t, os.WriteFile(cfg.KeyFile, bad, 0o600))
		var buf bytes.Buffer
		err := run(context.Background(), &buf, cfg)
		require.Error(t, err, "key of %d bytes", size)
		assert.Contains(t, err.Error(), "want exactly 32", "key of %d bytes", size)
		assert.Empty(t, buf.String())
		got, err := os.ReadFile(cfg.KeyFile)
		require.NoError(t, err)
		assert.Equal(t, bad, got, "the key file was changed")
	}
}

// TestConfigFrom checks the precedence: the -dir flag, then the
// environment, then the user's cache and config directories. It sets
// environment variables, so it does not run in parallel.
func TestConfigFrom(t *testing.T) {
	t.Setenv("SECRETSTORE_DIR", "")
	t.Setenv("SECRETSTORE_MASTER_KEY_FILE", "")
	t.Setenv("HOME", t.TempDir()) // so that the user directories are known
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("XDG_CONFIG_HOME", "")
	cache, err := os.UserCacheDir()
	require.NoError(t, err)
	conf, err := os.UserConfigDir()
	require.NoError(t, err)

	cfg, err := configFrom("")
	require.NoError(t, err)
	assert.Equal(t, config{
		Dir:     filepath.Join(cache, "secretstore", "quickstart"),
		KeyFile: filepath.Join(conf, "secretstore", "quickstart.key"),
	}, cfg)

	t.Setenv("SECRETSTORE_DIR", "/env/store")
	t.Setenv("SECRETSTORE_MASTER_KEY_FILE", "/env/key")
	cfg, err = configFrom("")
	require.NoError(t, err)
	assert.Equal(t, config{Dir: "/env/store", KeyFile: "/env/key"}, cfg)

	cfg, err = configFrom("/flag/store")
	require.NoError(t, err)
	assert.Equal(t, config{Dir: "/flag/store", KeyFile: "/env/key"}, cfg)
}
