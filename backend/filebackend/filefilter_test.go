//go:build unix

package filebackend

import (
	"hash/maphash"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore/backend"
)

// fxLookups counts the lookups of blob files ("open" of a path in blobs/)
// that a Backend makes.
type fxLookups struct {
	mu    sync.Mutex
	names []string
}

func (l *fxLookups) hook(op, path string) {
	if op == "open" && filepath.Base(filepath.Dir(path)) == "blobs" {
		l.mu.Lock()
		l.names = append(l.names, filepath.Base(path))
		l.mu.Unlock()
	}
}

func (l *fxLookups) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.names
	l.names = nil
	return out
}

// fxFilterReady waits until the blob file filter of b covers its index,
// asking it (which starts a build when one is due) while it does not.
func fxFilterReady(t *testing.T, b *Backend) {
	t.Helper()
	require.Eventually(t, func() bool {
		b.wal.mu.RLock()
		oldest := b.wal.gens[0].gen
		b.wal.mu.RUnlock()
		f := &b.wal.files
		f.maybe(b.wal, "probe", oldest)
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.valid && f.covers >= oldest
	}, 10*time.Second, time.Millisecond, "the blob file filter is not built")
}

// TestBlobFileFilter checks the filter that spares a write the lookup of a
// new blob's file: a blob whose file exists is still found (ErrExists),
// whether a checkpoint of this Backend wrote the file, one before it was
// opened, or another Backend's; and a new key is written without a lookup.
func TestBlobFileFilter(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()

	// A blob checkpointed to its file before the Backend is opened.
	first := fbOpen(t, dir)
	require.NoError(t, first.PutBlob(ctx, "v1/before", []byte("sealed")))
	_, err := first.CreateRecord(ctx, "secret/a", []byte("one"))
	require.NoError(t, err)
	require.NoError(t, first.Close())

	l := &fxLookups{}
	b := fbOpen(t, dir, withFileHook(l.hook))
	require.NoError(t, b.PutBlob(ctx, "v1/start", []byte("sealed"))) // starts the build
	fxFilterReady(t, b)
	l.take()
	require.NoError(t, b.PutBlob(ctx, "v1/new", []byte("sealed")))
	_, err = b.PutRecordBlob(ctx, "secret/b", 0, []byte("two"), "v1/new-with-record", []byte("sealed"))
	require.NoError(t, err)
	assert.Empty(t, l.take(), "lookups of new blobs' files")
	assert.ErrorIs(t, b.PutBlob(ctx, "v1/before", []byte("again")), backend.ErrExists, "a blob whose file was there before Open")
	_, err = b.PutRecordBlob(ctx, "secret/c", 0, []byte("three"), "v1/before", []byte("again"))
	assert.ErrorIs(t, err, backend.ErrExists, "PutRecordBlob of a blob whose file was there before Open")

	// This Backend's own checkpoints: the filter keeps covering. (The
	// index drops a log once it learns of its successor's successor.)
	require.NoError(t, b.wal.checkpointAll())
	_, err = b.CreateRecord(ctx, "secret/d", []byte("four"))
	require.NoError(t, err)
	require.NoError(t, b.wal.checkpointAll())
	_, err = b.CreateRecord(ctx, "secret/d2", []byte("four"))
	require.NoError(t, err)
	b.wal.mu.RLock()
	_, _, inIndex := b.wal.lookup("v1/new", true)
	b.wal.mu.RUnlock()
	require.False(t, inIndex, "v1/new is still in the index: the test would not reach the filter")
	fxFilterReady(t, b)
	assert.ErrorIs(t, b.PutBlob(ctx, "v1/new", []byte("again")), backend.ErrExists, "a blob this Backend checkpointed")
	l.take()
	require.NoError(t, b.PutBlob(ctx, "v1/newer", []byte("sealed")))
	assert.Empty(t, l.take(), "lookups of a new blob's file after a checkpoint of this Backend")

	// Another Backend's checkpoint: its files are found, with lookups,
	// until the filter is built again.
	other := fbOpen(t, dir)
	require.NoError(t, other.PutBlob(ctx, "v1/other", []byte("sealed")))
	_, err = other.CreateRecord(ctx, "secret/e", []byte("five"))
	require.NoError(t, err)
	require.NoError(t, other.Close())
	assert.ErrorIs(t, b.PutBlob(ctx, "v1/other", []byte("again")), backend.ErrExists, "a blob another Backend checkpointed")
	fxFilterReady(t, b)
	assert.ErrorIs(t, b.PutBlob(ctx, "v1/other", []byte("again")), backend.ErrExists, "a blob another Backend checkpointed, filter built again")
	l.take()
	require.NoError(t, b.PutBlob(ctx, "v1/newest", []byte("sealed")))
	assert.Empty(t, l.take(), "lookups of a new blob's file once the filter is built again")

	// Long keys have hashed file names; the filter holds those.
	long := "v1/" + strings.Repeat("k", 200)
	require.NoError(t, b.PutBlob(ctx, long, []byte("sealed")))
	_, err = b.CreateRecord(ctx, "secret/f", []byte("six"))
	require.NoError(t, err)
	require.NoError(t, b.wal.checkpointAll())
	_, err = b.CreateRecord(ctx, "secret/g", []byte("seven"))
	require.NoError(t, err)
	// The filter did not cover the log the other Backend checkpointed:
	// this checkpoint cannot extend it, and the next write looks at the
	// file, and builds the filter again.
	b.wal.mu.RLock()
	_, _, inIndex = b.wal.lookup("v1/other", true)
	b.wal.mu.RUnlock()
	require.False(t, inIndex, "v1/other is still in the index: the test would not reach the filter")
	assert.ErrorIs(t, b.PutBlob(ctx, "v1/other", []byte("again")), backend.ErrExists, "a blob another Backend checkpointed, after a checkpoint of this one")
	fxFilterReady(t, b)
	assert.ErrorIs(t, b.PutBlob(ctx, long, []byte("again")), backend.ErrExists, "a blob with a hashed file name")
}

// TestFileFilterAnswers checks the filter itself: no name added is ever
// said to be absent, and few names not added are said to be maybe there.
func TestFileFilterAnswers(t *testing.T) {
	t.Parallel()
	f := &fileFilter{seed: maphash.MakeSeed()}
	f.words, f.capacity, f.valid = make([]uint64, 1024), 4096, true // 16 bits a name
	name := func(prefix string, i int) string { return fileStem("v1/"+prefix+strconv.Itoa(i)) + blobSuffix }
	for i := range 4096 {
		f.add([]string{name("in-", i)})
	}
	maybes := 0
	for i := range 4096 {
		require.True(t, f.maybe(nil, name("in-", i), 0), "name %d added, said absent", i)
		if f.maybe(nil, name("out-", i), 0) {
			maybes++
		}
	}
	assert.Less(t, maybes, 20, "names never added that the filter says may be there, of 4096")
}
