package secretstore_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
)

// TestLoadKeyFile checks what a service relies on to reopen a persistent
// store: the key file is made once, private, and read back unchanged.
func TestLoadKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "new", "dir", "master.key")

	_, _, err := secretstore.LoadKeyFile(path, false)
	require.ErrorIs(t, err, os.ErrNotExist, "a missing file without create")

	key, created, err := secretstore.LoadKeyFile(path, true)
	require.NoError(t, err)
	assert.True(t, created)
	assert.Len(t, key, secretstore.MasterKeySize)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "key file mode")
	di, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm(), "key directory mode")

	again, created, err := secretstore.LoadKeyFile(path, true)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, key, again, "the key read back")
	_, err = secretstore.NewLocalKeys(again)
	require.NoError(t, err)
}

// TestLoadKeyFileRefuses checks that a file that is not a private 32-byte
// key is refused, changed nothing, and never quoted.
func TestLoadKeyFileRefuses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"empty", []byte{}, 0o600},
		{"31 bytes", bytes.Repeat([]byte{'k'}, 31), 0o600},
		{"33 bytes", bytes.Repeat([]byte{'k'}, 33), 0o600},
		{"readable by others", bytes.Repeat([]byte{'k'}, 32), 0o644},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "master.key")
			require.NoError(t, os.WriteFile(path, tt.data, tt.mode))
			require.NoError(t, os.Chmod(path, tt.mode))
			_, _, err := secretstore.LoadKeyFile(path, true)
			require.Error(t, err)
			assert.Contains(t, err.Error(), path)
			if len(tt.data) > 0 {
				assert.NotContains(t, err.Error(), string(tt.data[:8]), "the error quotes the file")
			}
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, tt.data, got, "the file was changed")
		})
	}
}

// TestLoadKeyFileConcurrentSafe checks that processes starting at once on a
// new store end up with the same key.
func TestLoadKeyFileConcurrentSafe(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "master.key")
	const n = 16
	keys := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, _, err := secretstore.LoadKeyFile(path, true)
			assert.NoError(t, err)
			keys[i] = k
		})
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		assert.Equal(t, keys[0], keys[i], "caller %d got another key", i)
	}
}
