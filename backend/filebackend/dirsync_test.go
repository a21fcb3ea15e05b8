package filebackend

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fbFakeDir stands for a directory: Sync takes a while, records when each
// fsync started and finished, and can be told to fail.
type fbFakeDir struct {
	mu      sync.Mutex
	calls   int
	spans   [][2]time.Time
	failOn  int // the 1-based fsync that fails, 0 for none
	running atomic.Int32
	overlap atomic.Bool
}

var errFbSync = errors.New("injected fsync failure")

func (d *fbFakeDir) Sync() error {
	if d.running.Add(1) > 1 {
		d.overlap.Store(true)
	}
	defer d.running.Add(-1)
	d.mu.Lock()
	d.calls++
	n := d.calls
	d.mu.Unlock()
	start := time.Now()
	time.Sleep(2 * time.Millisecond)
	d.mu.Lock()
	d.spans = append(d.spans, [2]time.Time{start, time.Now()})
	d.mu.Unlock()
	if n == d.failOn {
		return errFbSync
	}
	return nil
}

// TestDirSyncerGroupCommit checks the promise writers rely on: every caller
// returns only after an fsync that started after it called, and concurrent
// callers share fsyncs instead of paying one each.
func TestDirSyncerGroupCommit(t *testing.T) {
	t.Parallel()
	d := &fbFakeDir{}
	var s dirSyncer
	s.init(d)
	const callers = 64
	var wg sync.WaitGroup
	type call struct{ at, done time.Time }
	calls := make([]call, callers)
	for i := range callers {
		wg.Go(func() {
			calls[i].at = time.Now()
			assert.NoError(t, s.sync())
			calls[i].done = time.Now()
		})
	}
	wg.Wait()
	assert.False(t, d.overlap.Load(), "two fsyncs of one directory ran at once")
	assert.Less(t, d.calls, callers, "concurrent callers did not share fsyncs")
	for i, c := range calls {
		covered := false
		for _, sp := range d.spans {
			if !sp[0].Before(c.at) && !sp[1].After(c.done) {
				covered = true
				break
			}
		}
		assert.True(t, covered, "caller %d returned without an fsync that started after its call", i)
	}
}

// TestDirSyncerError checks that a failed fsync fails exactly the callers
// that depended on it, and that later callers get a fresh fsync.
func TestDirSyncerError(t *testing.T) {
	t.Parallel()
	d := &fbFakeDir{failOn: 2}
	var s dirSyncer
	s.init(d)
	require.NoError(t, s.sync(), "first fsync")
	err := s.sync()
	require.ErrorIs(t, err, errFbSync, "second fsync fails")
	assert.NoError(t, s.sync(), "a later caller gets a new fsync")
	assert.Equal(t, 3, d.calls)
}

// fbNewBlobFile returns an open file in a test directory, standing for a
// blob file handed to a blobSyncer.
func fbNewBlobFile(t *testing.T, dir string, i int) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("blob-%d", i)))
	require.NoError(t, err)
	return f
}

// TestBlobSyncerGroupCommit checks the promise record writes rely on: sync
// returns only after a flush of the directory that started after every
// blob handed over before the call, and concurrent callers share flushes.
func TestBlobSyncerGroupCommit(t *testing.T) {
	t.Parallel()
	d := &fbFakeDir{}
	var s blobSyncer
	s.init(d, "blobs", func(string, string) {})
	dir := t.TempDir()
	const callers = 64
	var wg sync.WaitGroup
	type call struct{ at, done time.Time }
	calls := make([]call, callers)
	for i := range callers {
		f := fbNewBlobFile(t, dir, i)
		wg.Go(func() {
			calls[i].at = time.Now()
			s.add(f, f.Name())
			assert.NoError(t, s.sync())
			calls[i].done = time.Now()
		})
	}
	wg.Wait()
	assert.False(t, d.overlap.Load(), "two flushes ran at once")
	assert.Less(t, d.calls, callers, "concurrent callers did not share flushes")
	for i, c := range calls {
		covered := false
		for _, sp := range d.spans {
			if !sp[0].Before(c.at) && !sp[1].After(c.done) {
				covered = true
				break
			}
		}
		assert.True(t, covered, "caller %d returned without a flush that started after its blob was handed over", i)
	}
	assert.False(t, s.needed(), "blobs left pending")
	calls0 := d.calls
	assert.NoError(t, s.sync(), "sync with nothing pending")
	assert.Equal(t, calls0, d.calls, "sync with nothing pending flushed")
}

// TestBlobSyncerError checks that a failed flush fails the sync of every
// blob handed over since, for good: a later flush would prove nothing about
// the blobs of the failed one, and no record may come to refer to them.
func TestBlobSyncerError(t *testing.T) {
	t.Parallel()
	d := &fbFakeDir{failOn: 2}
	var s blobSyncer
	s.init(d, "blobs", func(string, string) {})
	dir := t.TempDir()
	f := fbNewBlobFile(t, dir, 1)
	s.add(f, f.Name())
	require.NoError(t, s.sync(), "first flush")
	f = fbNewBlobFile(t, dir, 2)
	s.add(f, f.Name())
	require.ErrorIs(t, s.sync(), errFbSync, "second flush fails")
	f = fbNewBlobFile(t, dir, 3)
	s.add(f, f.Name())
	require.ErrorIs(t, s.sync(), errFbSync, "a blob handed over after the failure")
	assert.Equal(t, 2, d.calls, "flushed again after a failure")
	assert.NoError(t, s.close())
}
