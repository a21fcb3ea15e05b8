//go:build unix

package filebackend

import (
	"errors"
	"hash/maphash"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore/backend"
)

// fxLookups records the lookups of blob files ("open" of a path in
// blobs/) that a Backend makes, and counts its listings of blobs/.
type fxLookups struct {
	mu       sync.Mutex
	names    []string
	listings int
}

func (l *fxLookups) hook(op, path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case op == "open" && filepath.Base(filepath.Dir(path)) == "blobs":
		l.names = append(l.names, filepath.Base(path))
	case op == "readdir" && filepath.Base(path) == "blobs":
		l.listings++
	}
}

// builds returns the listings of blobs/ (filter builds) since the last
// call.
func (l *fxLookups) builds() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.listings
	l.listings = 0
	return n
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
	require.False(t, fbBlobInIndex(b, "v1/new"), "v1/new is still in the index: the test would not reach the filter")
	l.builds()
	assert.ErrorIs(t, b.PutBlob(ctx, "v1/new", []byte("again")), backend.ErrExists, "a blob this Backend checkpointed")
	assert.Zero(t, l.builds(), "filter builds after checkpoints of this Backend alone")
	l.take()
	require.NoError(t, b.PutBlob(ctx, "v1/newer", []byte("sealed")))
	assert.Empty(t, l.take(), "lookups of a new blob's file after a checkpoint of this Backend")

	// Another Backend's checkpoint: while its log is in this Backend's
	// index, its blobs are found there; once the index drops it (below,
	// after a checkpoint of this Backend's), by their files.
	other := fbOpen(t, dir)
	require.NoError(t, other.PutBlob(ctx, "v1/other", []byte("sealed")))
	_, err = other.CreateRecord(ctx, "secret/e", []byte("five"))
	require.NoError(t, err)
	require.NoError(t, other.Close())
	assert.ErrorIs(t, b.PutBlob(ctx, "v1/other", []byte("again")), backend.ErrExists, "a blob another Backend checkpointed")

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
	require.False(t, fbBlobInIndex(b, "v1/other"), "v1/other is still in the index: the test would not reach the filter")
	assert.ErrorIs(t, b.PutBlob(ctx, "v1/other", []byte("again")), backend.ErrExists, "a blob another Backend checkpointed, after a checkpoint of this one")
	fxFilterReady(t, b)
	assert.ErrorIs(t, b.PutBlob(ctx, "v1/other", []byte("again")), backend.ErrExists, "a blob another Backend checkpointed, filter built again")
	assert.ErrorIs(t, b.PutBlob(ctx, long, []byte("again")), backend.ErrExists, "a blob with a hashed file name")
	l.take()
	require.NoError(t, b.PutBlob(ctx, "v1/newest", []byte("sealed")))
	assert.Empty(t, l.take(), "lookups of a new blob's file once the filter is built again")
}

// TestFileFilterAnswers checks the filter itself: no name added is ever
// said to be absent, and few names not added are said to be maybe there.
func TestFileFilterAnswers(t *testing.T) {
	t.Parallel()
	f := &fileFilter{seed: maphash.MakeSeed(), valid: true}
	f.words, f.capacity = make([]uint64, 1024), 4096 // 16 bits a name
	name := func(prefix string, i int) string { return fileStem("v1/"+prefix+strconv.Itoa(i)) + blobSuffix }
	var names []string
	for i := range 4096 {
		names = append(names, name("in-", i))
	}
	f.checkpointed(0, names)
	maybes := 0
	for i := range 4096 {
		require.True(t, f.maybe(nil, name("in-", i), 0), "name %d added, said absent", i)
		if f.maybe(nil, name("out-", i), 0) {
			maybes++
		}
	}
	assert.Less(t, maybes, 20, "names never added that the filter says may be there, of 4096")
}

// TestBlobAcceptedOnce checks the promise the filter must keep under load:
// several Backends over one directory, with small logs checkpointed all the
// time, spare files made and taken, Backends closed and opened again, put
// the same blob keys (some with hashed file names) in random orders, and
// each key is accepted exactly once.
func TestBlobAcceptedOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	const backends, keys = 4, 1500
	var mu sync.Mutex
	bs := make([]*Backend, backends)
	for i := range bs {
		bs[i] = fbOpen(t, dir, withSealSize(2048))
	}
	key := func(i int) string {
		if i%7 == 0 {
			return "v1/" + strings.Repeat("L", 200) + strconv.Itoa(i)
		}
		return "v1/k" + strconv.Itoa(i)
	}
	wins := make([]atomic.Int32, keys)
	// A Backend picked may be closed (reopened) by goroutine 0 meanwhile.
	openOrClosed := func(err error) {
		if err != nil && !errors.Is(err, backend.ErrClosed) {
			t.Error(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 2 * backends {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for n, i := range r.Perm(keys) {
				mu.Lock()
				b := bs[r.IntN(backends)]
				mu.Unlock()
				if r.IntN(4) == 0 { // a deleted blob's file becomes a spare
					tmp := "v1/tmp-" + strconv.Itoa(g) + "-" + strconv.Itoa(i)
					if b.PutBlob(ctx, tmp, []byte("x")) == nil {
						openOrClosed(b.DeleteBlob(ctx, tmp))
					}
				}
				if r.IntN(10) == 0 {
					_, err := b.CreateRecord(ctx, "secret/"+strconv.Itoa(g)+"-"+strconv.Itoa(i), []byte("r"))
					openOrClosed(err)
				}
				switch err := b.PutBlob(ctx, key(i), []byte("data")); {
				case err == nil:
					wins[i].Add(1)
				case errors.Is(err, backend.ErrExists), errors.Is(err, backend.ErrClosed):
				default:
					t.Errorf("PutBlob(%d): %v", i, err)
				}
				if g == 0 && n%250 == 0 {
					mu.Lock()
					j := r.IntN(backends)
					old := bs[j]
					bs[j] = fbOpen(t, dir, withSealSize(2048))
					mu.Unlock()
					assert.NoError(t, old.Close())
				}
			}
		})
	}
	wg.Wait()
	for i := range wins {
		assert.Equal(t, int32(1), wins[i].Load(), "times key %d was accepted", i)
	}
}

// fbBlobInIndex reports whether b's index of the live logs holds the blob
// under key, so that a lookup of it does not reach the filter of blob
// files.
func fbBlobInIndex(b *Backend, key string) bool {
	b.wal.mu.RLock()
	defer b.wal.mu.RUnlock()
	_, _, ok := b.wal.lookup(key, true)
	return ok
}
