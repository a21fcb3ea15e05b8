package filebackend

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTempPool checks that the pool hands out empty, private temp files
// that it made ahead of need, and that Close removes those it still holds.
func TestTempPool(t *testing.T) {
	t.Parallel()
	// A store of version 1 makes no temp file when it opens.
	b := fbOpen(t, t.TempDir(), withFormatVersion(1))
	var p tempPool
	_, ok := p.get()
	assert.False(t, ok, "a pool that was not started handed out a file")

	p.start(b.newTemp)
	_, ok = p.get() // empty: starts filling
	assert.False(t, ok, "a new pool handed out a file")
	assert.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.files) == tempPoolSize && !p.filling
	}, 10*time.Second, time.Millisecond, "the pool did not fill up")
	var got []tempFile
	for range tempPoolSize {
		tf, ok := p.get()
		require.True(t, ok, "a full pool handed out no file")
		got = append(got, tf)
	}
	for _, tf := range got {
		fi, err := tf.f.Stat()
		require.NoError(t, err)
		assert.Zero(t, fi.Size(), "%s is not empty", tf.path)
		assert.Equal(t, fileMode, fi.Mode().Perm(), "%s", tf.path)
		require.NoError(t, tf.f.Close())
		require.NoError(t, os.Remove(tf.path))
	}
	p.close()
	entries, err := os.ReadDir(b.tmp)
	require.NoError(t, err)
	assert.Empty(t, entries, "files left in tmp/ after close")
	_, ok = p.get()
	assert.False(t, ok, "a closed pool handed out a file")
}
