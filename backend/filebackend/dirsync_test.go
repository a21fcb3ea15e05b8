package filebackend

import (
	"errors"
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
