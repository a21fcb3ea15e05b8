//go:build unix

package filebackend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore/backend"
)

// TestLogSealAndCheckpoint writes through logs sealed every few entries,
// with a second Backend reading along, and checks that every record and
// blob reads back through both and through a store opened afresh, while
// logs are checkpointed in the background, and after Close.
func TestLogSealAndCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	a := fbOpen(t, dir, withSealSize(4<<10))
	r := fbOpen(t, dir, withSealSize(4<<10))
	revs := map[string]uint64{}
	blobs := map[string][]byte{}
	value := func(i, j int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("%d/%d ", i, j)), 30+i%50) }
	check := func(b *Backend, what string) {
		t.Helper()
		for k, rev := range revs {
			rec, err := b.GetRecord(ctx, k, 0)
			if !assert.NoError(t, err, "%s: GetRecord(%s)", what, k) {
				continue
			}
			assert.Equal(t, rev, rec.Revision, "%s: GetRecord(%s)", what, k)
		}
		for k, v := range blobs {
			got, err := b.GetBlob(ctx, k)
			if v == nil {
				assert.ErrorIs(t, err, backend.ErrNotFound, "%s: GetBlob(%s) of a deleted blob", what, k)
				continue
			}
			if assert.NoError(t, err, "%s: GetBlob(%s)", what, k) {
				assert.Equal(t, v, got, "%s: GetBlob(%s)", what, k)
			}
		}
	}
	var err error
	for i := range 300 {
		// As the engine does, the blob a write prunes is deleted after
		// it; the deletion is held, and the next record write appends it.
		if i%3 == 1 && i > 1 {
			old := fmt.Sprintf("blob/%d", i-2)
			require.NoError(t, a.DeleteBlob(ctx, old))
			blobs[old] = nil
		}
		k := fmt.Sprintf("rec/%d", i%17)
		if rev, ok := revs[k]; ok {
			revs[k], err = a.UpdateRecord(ctx, k, rev, value(i, 0))
		} else {
			revs[k], err = a.CreateRecord(ctx, k, value(i, 0))
		}
		require.NoError(t, err, "write %d", i)
		bk := fmt.Sprintf("blob/%d", i)
		require.NoError(t, a.PutBlob(ctx, bk, value(i, 1)))
		blobs[bk] = value(i, 1)
		if i%37 == 0 {
			check(a, fmt.Sprintf("writer after %d", i))
			check(r, fmt.Sprintf("reader after %d", i))
			// The reader writes too, after what it read.
			k := fmt.Sprintf("rec/r%d", i)
			revs[k], err = r.CreateRecord(ctx, k, value(i, 2))
			require.NoError(t, err)
		}
	}
	a.wal.mu.RLock()
	gen := a.wal.current().gen
	a.wal.mu.RUnlock()
	require.Greater(t, gen, uint64(3), "logs sealed while writing")
	check(a, "writer")
	check(r, "reader")
	n := fbOpen(t, dir)
	check(n, "new Backend")
	// A Backend that opened a store with entries in its log appends
	// after them.
	revs["rec/n"], err = n.CreateRecord(ctx, "rec/n", value(1, 3))
	require.NoError(t, err)
	require.NoError(t, n.PutBlob(ctx, "blob/n", value(1, 4)))
	blobs["blob/n"] = value(1, 4)
	check(a, "writer after a write of a new Backend")
	check(n, "new Backend after its write")
	require.NoError(t, a.Close())
	require.NoError(t, r.Close())
	check(fbOpen(t, dir), "new Backend after Close")
}

// TestCheckpointLargeEntries checkpoints a log whose entries are smaller
// and larger than the window the checkpoint reads them through, and
// straddle its edges, then reads every blob back from its file.
func TestCheckpointLargeEntries(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	a := fbOpen(t, dir)
	sizes := []int{1, entryWindow - 100, 3, entryWindow + 1, 1000, maxDataLen, 70 << 10, maxDataLen - 1, 5}
	blobs := map[string][]byte{}
	for i, n := range sizes {
		k := fmt.Sprintf("blob/%d", i)
		blobs[k] = bytes.Repeat([]byte{byte('a' + i)}, n)
		require.NoError(t, a.PutBlob(ctx, k, blobs[k]))
	}
	require.NoError(t, a.Close()) // seals the log and checkpoints it
	n := fbOpen(t, dir)
	gens, err := n.wal.listGens()
	require.NoError(t, err)
	assert.Len(t, gens, 1, "the checkpointed log is gone: every blob is read from its file")
	for k, want := range blobs {
		assert.FileExists(t, n.blobPath(k))
		got, err := n.GetBlob(ctx, k)
		if assert.NoError(t, err, "GetBlob(%s)", k) {
			assert.True(t, bytes.Equal(want, got), "GetBlob(%s): %d bytes back, want %d", k, len(got), len(want))
		}
	}
}

// TestCorruptionLog damages the logs of a store of format version 2 and
// checks that damage is reported with the log's name, never served, except
// in the last entry of the newest log, which is taken for an append cut
// short by a crash and dropped, as its documentation says.
func TestCorruptionLog(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	b := fbOpen(t, dir)
	revA, err := b.CreateRecord(ctx, "rec/a", []byte("first"))
	require.NoError(t, err)
	require.NoError(t, b.PutBlob(ctx, "blob/a", []byte("sealed value")))
	revA, err = b.UpdateRecord(ctx, "rec/a", revA, []byte("second"))
	require.NoError(t, err)
	_, err = b.CreateRecord(ctx, "rec/last", []byte("last"))
	require.NoError(t, err)
	require.NoError(t, CloseWithoutCheckpoint(b))

	logs, err := filepath.Glob(filepath.Join(dir, walName, "*"+logSuffix))
	require.NoError(t, err)
	require.Len(t, logs, 1)
	path := logs[0]
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	// The offsets of the entries, from the log itself.
	var offs []int
	for off := logHeaderSize; ; {
		_, n, err := decodeEntry(orig[off:])
		if err != nil {
			break
		}
		offs = append(offs, off)
		off += n
	}
	require.Len(t, offs, 4)
	end := offs[3] + len(appendEntry(nil, logEntry{kind: kindRecordPut, rev: 1, key: "rec/last", data: []byte("last")}))
	restore := func() { require.NoError(t, os.WriteFile(path, orig, 0o600)) }
	// store returns a new store whose log holds data, and the log's path.
	store := func(t *testing.T, data []byte) (string, string) {
		dir := t.TempDir()
		require.NoError(t, CloseWithoutCheckpoint(fbOpen(t, dir)))
		path := filepath.Join(dir, walName, logName(1))
		require.NoError(t, os.WriteFile(path, data, 0o600))
		return dir, path
	}

	// Damage in the header or in an entry followed by others: Open
	// reports it, naming the log, and so does a Backend that had already
	// read the log, when it reads the damaged entry again.
	reader := fbOpen(t, dir)
	for _, at := range []int{0, 5, 13, offs[0], offs[0] + 4, offs[0] + 9, offs[1] + 20, offs[2] + entryHeaderSize + 2} {
		t.Run(fmt.Sprintf("byte%d", at), func(t *testing.T) {
			defer restore()
			damaged := bytes.Clone(orig)
			damaged[at] ^= 0x10
			require.NoError(t, os.WriteFile(path, damaged, 0o600))
			_, err := Open(dir)
			fbCheckCorrupt(t, err, path, fmt.Sprintf("Open with byte %d of the log flipped", at))
		})
	}
	t.Run("ReadAgain", func(t *testing.T) {
		defer restore()
		damaged := bytes.Clone(orig)
		damaged[offs[2]+entryHeaderSize+entryFixedSize+2] ^= 0x01 // in rec/a's second content
		require.NoError(t, os.WriteFile(path, damaged, 0o600))
		_, err := reader.GetRecord(ctx, "rec/a", 0)
		fbCheckCorrupt(t, err, path, "GetRecord of a damaged entry already indexed")
	})

	// Damage confined to the last entry, or the log cut inside it: taken
	// for an append a crash cut short, dropped, and cleared by the next
	// writer; everything before it is intact.
	for name, damage := range map[string]func([]byte) []byte{
		"LastEntryFlipped": func(d []byte) []byte { d[end-3] ^= 0x01; return d },
		"LastEntryCut":     func(d []byte) []byte { return d[:end-5] },
	} {
		t.Run(name, func(t *testing.T) {
			dir, _ := store(t, damage(bytes.Clone(orig)))
			b := fbOpen(t, dir)
			_, err := b.GetRecord(ctx, "rec/last", 0)
			assert.ErrorIs(t, err, backend.ErrNotFound, "the damaged last entry was served")
			rec, err := b.GetRecord(ctx, "rec/a", 0)
			require.NoError(t, err)
			assert.Equal(t, revA, rec.Revision)
			assert.Equal(t, []byte("second"), rec.Data)
			_, err = b.CreateRecord(ctx, "rec/new", []byte("after"))
			require.NoError(t, err)
			b2 := fbOpen(t, dir)
			rec, err = b2.GetRecord(ctx, "rec/new", 0)
			require.NoError(t, err, "a write after a cleared entry")
			assert.Equal(t, []byte("after"), rec.Data)
		})
	}

	// Stray bytes after the end of the log, which no durable entry
	// vouches for, are a torn tail too: cleared, the log intact.
	t.Run("DataAfterEnd", func(t *testing.T) {
		damaged := append(bytes.Clone(orig[:end]), make([]byte, 100)...)
		dir, path := store(t, append(damaged, 0x42))
		b := fbOpen(t, dir)
		rec, err := b.GetRecord(ctx, "rec/last", 0)
		require.NoError(t, err)
		assert.Equal(t, []byte("last"), rec.Data)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, end, len(bytes.TrimRight(data, "\x00")), "the stray byte is still there")
	})

	// A crash during the fdatasync of a record write can persist a later
	// page of what was not yet durable (the record's entry) and lose an
	// earlier one (inside the blob entry appended before it): a torn tail
	// of several entries, none acknowledged. Open drops and clears it.
	t.Run("TornAcrossEntries", func(t *testing.T) {
		dir := t.TempDir()
		b := fbOpen(t, dir)
		_, err := b.CreateRecord(ctx, "acked", []byte("v"))
		require.NoError(t, err)
		start := b.wal.current().end
		require.NoError(t, b.PutBlob(ctx, "blob", bytes.Repeat([]byte{7}, 64<<10)))
		_, err = b.CreateRecord(ctx, "pending", []byte("v"))
		require.NoError(t, err)
		require.NoError(t, CloseWithoutCheckpoint(b))
		path := filepath.Join(dir, walName, logName(1))
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteAt(make([]byte, 4096), (start+8192)&^4095) // a page lost
		require.NoError(t, err)
		require.NoError(t, f.Close())
		b = fbOpen(t, dir)
		_, err = b.GetRecord(ctx, "acked", 0)
		require.NoError(t, err, "an acknowledged write after a torn tail")
		_, err = b.GetRecord(ctx, "pending", 0)
		assert.ErrorIs(t, err, backend.ErrNotFound, "an entry after the torn one survived")
		_, err = b.CreateRecord(ctx, "after", []byte("v"))
		require.NoError(t, err)
		_, err = fbOpen(t, dir).GetRecord(ctx, "after", 0)
		require.NoError(t, err, "a write after the torn tail was cleared")
	})
}

// TestLogReloadFailureKeepsIndex checks that a Backend idle while two
// logs came and went, which reloads its index, reports damage found while
// reloading as corruption, twice, and does not lose its index (a reload
// that failed used to leave none, and the next call panicked).
func TestLogReloadFailureKeepsIndex(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	a := fbOpen(t, dir)
	b := fbOpen(t, dir)
	_, err := a.CreateRecord(ctx, "k", []byte("v"))
	require.NoError(t, err)
	fbTwoCheckpoints(t, a, "x")
	// Damage in the first entry of the current log, which the second
	// entry says was durable when it was appended.
	for _, k := range []string{"y0", "y1"} {
		_, err := a.CreateRecord(ctx, k, []byte("v"))
		require.NoError(t, err)
	}
	gens, err := a.wal.listGens()
	require.NoError(t, err)
	cur := filepath.Join(dir, walName, logName(gens[len(gens)-1]))
	f, err := os.OpenFile(cur, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{0xff}, logHeaderSize+entryHeaderSize+entryFixedSize)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	for i := range 2 {
		_, err = b.GetRecord(ctx, "k", 0)
		fbCheckCorrupt(t, err, cur, fmt.Sprintf("GetRecord %d after damage in a log the index reloads", i+1))
	}
}

// TestLogReadersDuringCheckpoints checks that readers in one Backend never
// see a file that a checkpoint of another Backend is rewriting in place
// (their index may be behind the logs when they decide to read a file):
// GetRecord and ListRecords run while the other Backend updates records
// of changing sizes and checkpoints after every few updates.
func TestLogReadersDuringCheckpoints(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	a := fbOpen(t, dir)
	const n = 200
	revs := make([]uint64, n)
	key := func(i int) string { return fmt.Sprintf("k%04d", i) }
	value := func(i int) []byte { return bytes.Repeat([]byte{'v'}, 10+(i%3)*3000) }
	var err error
	for i := range revs {
		revs[i], err = a.CreateRecord(ctx, key(i), value(i))
		require.NoError(t, err)
	}
	require.NoError(t, Checkpoint(a))
	b := fbOpen(t, dir)
	stop := make(chan struct{})
	errs := make(chan error, 5)
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if r == 0 {
					_, err = b.ListRecords(ctx, "", "", n+1)
				} else {
					_, err = b.GetRecord(ctx, key((i*7+r)%n), 0)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	deadline := time.Now().Add(2 * time.Second)
	for cycle := 0; time.Now().Before(deadline) && len(errs) == 0; cycle++ {
		for j := range 5 {
			i := (cycle*5 + j) % n
			revs[i], err = a.UpdateRecord(ctx, key(i), revs[i], value(cycle+j))
			require.NoError(t, err)
		}
		require.NoError(t, Checkpoint(a))
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a reader during checkpoints: %v", err)
	}
}

// TestBlobExistsAfterLogDropped checks the decision PutBlob and DeleteBlob
// make under the append lock from a look at the blob's file taken before:
// when the blob was in a log then, and checkpoints have since moved it into
// its file and dropped that log from the index, the file is looked at
// again rather than trusted absent.
func TestBlobExistsAfterLogDropped(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	a := fbOpen(t, dir)
	b := fbOpen(t, dir)
	require.NoError(t, a.PutBlob(ctx, "blob/k", []byte("sealed")))
	st, err := b.wal.statBlob("blob/k")
	require.NoError(t, err)
	require.False(t, st.inFile, "the blob has a file before any checkpoint")
	fbTwoCheckpoints(t, a, "r")
	release, err := b.wal.lockFresh(context.Background())
	require.NoError(t, err)
	_, _, inIndex := b.wal.lookup("blob/k", true)
	require.False(t, inIndex, "the test needs the blob's log dropped from the index")
	ok, err := b.wal.blobExists("blob/k", st)
	require.NoError(t, err)
	assert.True(t, ok, "a blob moved into its file since the look was taken for absent")
	release()

	// And the other way: a file seen, then removed by a checkpoint.
	st, err = b.wal.statBlob("blob/k")
	require.NoError(t, err)
	require.True(t, st.inFile, "the blob's file after the checkpoints")
	require.NoError(t, a.DeleteBlob(ctx, "blob/k"))
	fbTwoCheckpoints(t, a, "s")
	release, err = b.wal.lockFresh(context.Background())
	require.NoError(t, err)
	defer release()
	_, _, inIndex = b.wal.lookup("blob/k", true)
	require.False(t, inIndex, "the test needs the deletion's log dropped from the index")
	ok, err = b.wal.blobExists("blob/k", st)
	require.NoError(t, err)
	assert.False(t, ok, "a blob whose file a checkpoint removed since the look was taken for present")
}

// TestOpenDuringAppend checks that Open, when another Backend holds the
// append lock past openLockWait with an entry half written, waits for the
// lock and opens the store instead of failing on what it took for an
// append in progress.
func TestOpenDuringAppend(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	a := fbOpen(t, dir)
	_, err := a.CreateRecord(ctx, "k", []byte("v"))
	require.NoError(t, err)
	locked, err := a.wal.lockFresh(context.Background())
	require.NoError(t, err)
	release := sync.OnceFunc(locked)
	defer release() // before a's Close, which would wait for the lock
	g := a.wal.current()
	half := appendEntry(nil, logEntry{kind: kindRecordPut, rev: 7, key: "k2", data: []byte("half written")})[:20]
	_, err = g.f.WriteAt(half, g.end)
	require.NoError(t, err)
	opened := make(chan error, 1)
	go func() {
		b, err := Open(dir)
		if err == nil {
			err = b.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		t.Fatalf("Open returned while the append lock was held: %v", err)
	case <-time.After(3 * openLockWait):
	}
	// The append fails and is cleared, as a writer does.
	require.NoError(t, writeZeros(g.f, g.end, g.end+int64(len(half))))
	release()
	select {
	case err := <-opened:
		require.NoError(t, err, "Open once the lock is free")
	case <-time.After(10 * time.Second):
		t.Fatal("Open never returned")
	}
}

// TestHeldBlobDeletions checks how a Backend of format version 2 holds
// blob deletions for its next append: the Backend that deleted a blob no
// longer finds or lists it at once; other Backends see the deletion once
// the next append, a full hold or Close writes it; and a blob deleted and
// put again under the same key reads as the new one everywhere.
func TestHeldBlobDeletions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	a := fbOpen(t, dir)
	b := fbOpen(t, dir)
	listed := func(be *Backend) []string {
		t.Helper()
		keys, err := be.ListBlobs(ctx, "", 1000)
		require.NoError(t, err)
		return keys
	}
	for _, k := range []string{"blob/1", "blob/2", "blob/3"} {
		require.NoError(t, a.PutBlob(ctx, k, []byte(k)))
	}
	_, err := a.CreateRecord(ctx, "rec", []byte("refers to blob/3"))
	require.NoError(t, err)

	require.NoError(t, a.DeleteBlob(ctx, "blob/1"))
	require.NoError(t, a.DeleteBlob(ctx, "blob/1"), "DeleteBlob again")
	_, err = a.GetBlob(ctx, "blob/1")
	assert.ErrorIs(t, err, backend.ErrNotFound, "GetBlob in the Backend that deleted it")
	assert.Equal(t, []string{"blob/2", "blob/3"}, listed(a), "ListBlobs in the Backend that deleted it")
	got, err := b.GetBlob(ctx, "blob/1")
	require.NoError(t, err, "GetBlob in another Backend before the deletion is appended")
	assert.Equal(t, []byte("blob/1"), got)

	// Put again: the deletion is appended first.
	require.NoError(t, a.PutBlob(ctx, "blob/1", []byte("again")))
	for _, be := range []*Backend{a, b} {
		got, err := be.GetBlob(ctx, "blob/1")
		require.NoError(t, err)
		assert.Equal(t, []byte("again"), got)
	}

	// A record write appends what is held.
	require.NoError(t, a.DeleteBlob(ctx, "blob/2"))
	_, err = a.CreateRecord(ctx, "rec2", []byte("x"))
	require.NoError(t, err)
	_, err = b.GetBlob(ctx, "blob/2")
	assert.ErrorIs(t, err, backend.ErrNotFound, "GetBlob in another Backend after a record write")
	assert.Equal(t, []string{"blob/1", "blob/3"}, listed(b))

	// A cancelled DeleteBlob holds nothing.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, a.DeleteBlob(cancelled, "blob/3"), context.Canceled)
	got, err = a.GetBlob(ctx, "blob/3")
	require.NoError(t, err, "GetBlob after a cancelled DeleteBlob")
	assert.Equal(t, []byte("blob/3"), got)

	// At maxHeldDeletions, DeleteBlob appends them.
	var many []string
	for i := range maxHeldDeletions {
		k := fmt.Sprintf("many/%03d", i)
		many = append(many, k)
		require.NoError(t, a.PutBlob(ctx, k, []byte(k)))
	}
	for _, k := range many {
		require.NoError(t, a.DeleteBlob(ctx, k))
	}
	assert.Equal(t, []string{"blob/1", "blob/3"}, listed(b), "another Backend after maxHeldDeletions deletions")

	// Close appends what is held.
	require.NoError(t, a.DeleteBlob(ctx, "blob/3"))
	require.NoError(t, a.Close())
	_, err = b.GetBlob(ctx, "blob/3")
	assert.ErrorIs(t, err, backend.ErrNotFound, "GetBlob in another Backend after Close")
	assert.Equal(t, []string{"blob/1"}, listed(fbOpen(t, dir)), "a new Backend")
}

// TestSpareFiles checks that a checkpoint keeps the files of deleted blobs
// it has no use for as spare files in tmp/, and that a later checkpoint
// takes them over for new keys instead of creating files, with the new
// content read back through a new Backend.
func TestSpareFiles(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	b := fbOpen(t, dir)
	spares := func() []string {
		t.Helper()
		dirs, err := b.openDirs()
		require.NoError(t, err)
		defer dirs.close()
		paths, err := dirs.spares()
		require.NoError(t, err)
		return paths
	}
	rev, err := b.CreateRecord(ctx, "rec", []byte("v1"))
	require.NoError(t, err)
	for _, k := range []string{"old/1", "old/2", "old/3"} {
		require.NoError(t, b.PutBlob(ctx, k, []byte(k)))
	}
	fbCheckpoint(t, b)
	require.FileExists(t, b.blobPath("old/1"))
	assert.Empty(t, spares())

	for _, k := range []string{"old/1", "old/2", "old/3"} {
		require.NoError(t, b.DeleteBlob(ctx, k))
	}
	rev, err = b.UpdateRecord(ctx, "rec", rev, []byte("v2"))
	require.NoError(t, err)
	fbCheckpoint(t, b)
	assert.Len(t, spares(), 3, "spare files after deleting three checkpointed blobs")
	for _, k := range []string{"old/1", "old/2", "old/3"} {
		assert.NoFileExists(t, b.blobPath(k))
	}

	require.NoError(t, b.PutBlob(ctx, "new/1", []byte("new blob 1")))
	require.NoError(t, b.PutBlob(ctx, "new/2", bytes.Repeat([]byte("new blob 2 "), 500)))
	_, err = b.UpdateRecord(ctx, "rec", rev, []byte("v3"))
	require.NoError(t, err)
	fbCheckpoint(t, b)
	assert.Len(t, spares(), 1, "spare files after two new blobs")

	n := fbOpen(t, dir)
	for k, want := range map[string][]byte{
		"new/1": []byte("new blob 1"),
		"new/2": bytes.Repeat([]byte("new blob 2 "), 500),
	} {
		got, err := n.GetBlob(ctx, k)
		require.NoError(t, err, "GetBlob(%s)", k)
		assert.Equal(t, want, got, "GetBlob(%s)", k)
	}
	keys, err := n.ListBlobs(ctx, "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"new/1", "new/2"}, keys)

	// A blob with a file, deleted, put again and deleted again within one
	// log: its file goes, although its last deletion follows a put.
	require.NoError(t, b.DeleteBlob(ctx, "new/1"))
	require.NoError(t, b.PutBlob(ctx, "new/1", []byte("again")))
	require.NoError(t, b.DeleteBlob(ctx, "new/1"))
	fbCheckpoint(t, b)
	assert.NoFileExists(t, b.blobPath("new/1"))
	_, err = fbOpen(t, dir).GetBlob(ctx, "new/1")
	assert.ErrorIs(t, err, backend.ErrNotFound, "GetBlob of the blob deleted twice, in a new Backend")
}

// TestGroupAppend checks the appends that one leader does for the others
// of a Backend: compare-and-swap holds among them, a call whose context
// ends while it waits takes no effect, and a leader whose context ends
// while another Backend holds the append lock hands the lead over, so
// that the appends queued behind it are done once the lock is free.
func TestGroupAppend(t *testing.T) {
	t.Parallel()
	t.Run("CompareAndSwap", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		b := fbOpen(t, t.TempDir())
		keys := []string{"k0", "k1", "k2", "k3"}
		for _, k := range keys {
			_, err := b.CreateRecord(ctx, k, []byte("0"))
			require.NoError(t, err)
		}
		var wins [4]atomic.Int64
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Go(func() {
				for i := range 40 {
					k := g % len(keys)
					rec, err := b.GetRecord(ctx, keys[k], 0)
					if !assert.NoError(t, err) {
						return
					}
					n, err := strconv.Atoi(string(rec.Data))
					if !assert.NoError(t, err) {
						return
					}
					// Every third call's context ends at about the
					// time it waits for the leader.
					cctx, cancel := context.WithCancel(ctx)
					if i%3 == 0 {
						go cancel()
					}
					_, err = b.UpdateRecord(cctx, keys[k], rec.Revision, []byte(strconv.Itoa(n+1)))
					cancel()
					switch {
					case err == nil:
						wins[k].Add(1)
					case errors.Is(err, backend.ErrConflict), errors.Is(err, context.Canceled):
					default:
						t.Errorf("UpdateRecord: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		for i, k := range keys {
			rec, err := fbOpen(t, b.Dir()).GetRecord(ctx, k, 0)
			require.NoError(t, err)
			assert.Equal(t, strconv.FormatInt(wins[i].Load(), 10), string(rec.Data),
				"%s counts the updates that succeeded, no more (none that was cancelled took effect), no fewer", k)
		}
	})

	t.Run("HandOver", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		dir := t.TempDir()
		a := fbOpen(t, dir)
		other := fbOpen(t, dir)
		release, err := other.wal.lockFresh(context.Background()) // the append lock, held by another Backend
		require.NoError(t, err)
		leaderCtx, cancelLeader := context.WithCancel(ctx)
		leaderErr := make(chan error, 1)
		go func() {
			_, err := a.CreateRecord(leaderCtx, "leader", []byte("x"))
			leaderErr <- err
		}()
		require.Eventually(t, func() bool {
			a.wal.queueMu.Lock()
			defer a.wal.queueMu.Unlock()
			return a.wal.leading
		}, 5*time.Second, time.Millisecond, "a leader waits for the lock")
		const followers = 5
		errs := make(chan error, followers)
		for i := range followers {
			go func() {
				_, err := a.CreateRecord(ctx, fmt.Sprintf("follower/%d", i), []byte("y"))
				errs <- err
			}()
		}
		require.Eventually(t, func() bool {
			a.wal.queueMu.Lock()
			defer a.wal.queueMu.Unlock()
			return len(a.wal.queue) == followers
		}, 5*time.Second, time.Millisecond, "the followers queue up")
		cancelLeader()
		require.ErrorIs(t, <-leaderErr, context.Canceled)
		release()
		for range followers {
			select {
			case err := <-errs:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("the appends queued behind a cancelled leader are never done")
			}
		}
		n := fbOpen(t, dir)
		_, err = n.GetRecord(ctx, "leader", 0)
		assert.ErrorIs(t, err, backend.ErrNotFound, "the cancelled leader's record")
		for i := range followers {
			_, err := n.GetRecord(ctx, fmt.Sprintf("follower/%d", i), 0)
			assert.NoError(t, err, "follower %d", i)
		}
	})
}

// TestReadWaitHonoursContext checks that a read that must look again
// holding the append lock (it found an append in progress) stops waiting
// for the lock when its context ends, rather than waiting for a holder
// that may be stopped.
func TestReadWaitHonoursContext(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	a := fbOpen(t, dir)
	_, err := a.CreateRecord(ctx, "k", []byte("v"))
	require.NoError(t, err)
	b := fbOpen(t, dir)
	locked, err := a.wal.lockFresh(context.Background())
	require.NoError(t, err)
	release := sync.OnceFunc(locked)
	defer release()
	g := a.wal.current()
	half := appendEntry(nil, logEntry{kind: kindRecordPut, rev: 7, key: "k2", data: []byte("half written")})[:20]
	_, err = g.f.WriteAt(half, g.end)
	require.NoError(t, err)

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := b.GetRecord(short, "k", 0)
		done <- err
	}()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(10 * time.Second):
		t.Fatal("GetRecord waited for the append lock past its context")
	}
	require.NoError(t, writeZeros(g.f, g.end, g.end+int64(len(half))))
	release()
	rec, err := b.GetRecord(ctx, "k", 0)
	require.NoError(t, err, "GetRecord once the lock is free")
	assert.Equal(t, []byte("v"), rec.Data)
}

// fxHeldSync is a log flush for withLogSync that holds the first flush
// until n writers wait for one, then lets it end with err (nil: it
// flushes), and counts the flushes.
type fxHeldSync struct {
	n     int
	err   error
	w     func() *wal
	calls atomic.Int64
}

func (h *fxHeldSync) sync(f *os.File) error {
	if h.calls.Add(1) == 1 {
		w := h.w()
		for {
			w.syncMu.Lock()
			waiting := len(w.waiters)
			w.syncMu.Unlock()
			if waiting >= h.n {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if h.err != nil {
			return h.err
		}
	}
	return datasync(f)
}

// TestLogGroupCommit checks that record writes that wait while a flush of
// the log runs share the next one, each acknowledged only once it is
// durable: 16 writers, the first flush held until all wait, cost two
// flushes, and a store opened afresh has every write.
func TestLogGroupCommit(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const writers = 16
	var b *Backend
	h := &fxHeldSync{n: writers, w: func() *wal { return b.wal }}
	b = fbOpen(t, t.TempDir(), withLogSync(h.sync))
	errs := make([]error, writers)
	var wg sync.WaitGroup
	wg.Go(func() { _, errs[0] = b.CreateRecord(ctx, "k0", []byte("v0")) })
	for h.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for i := 1; i < writers; i++ {
		wg.Go(func() { _, errs[i] = b.CreateRecord(ctx, "k"+strconv.Itoa(i), []byte("v"+strconv.Itoa(i))) })
	}
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "writer %d", i)
	}
	assert.Equal(t, int64(2), h.calls.Load(), "flushes: the one held and one for the 15 writers that waited")

	fresh := fbOpen(t, b.Dir())
	for i := range writers {
		rec, err := fresh.GetRecord(ctx, "k"+strconv.Itoa(i), 0)
		if assert.NoError(t, err, "k%d", i) {
			assert.Equal(t, []byte("v"+strconv.Itoa(i)), rec.Data, "k%d", i)
		}
	}
}

// TestLogSyncFailure checks that a failed flush of the log fails every
// write waiting for it, and every later write, until the store is opened
// again: a failed fdatasync may have dropped what it could not write.
func TestLogSyncFailure(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const writers = 8
	errFlush := errors.New("injected flush failure")
	var b *Backend
	h := &fxHeldSync{n: writers, err: errFlush, w: func() *wal { return b.wal }}
	dir := t.TempDir()
	b = fbOpen(t, dir, withLogSync(h.sync))
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() { _, errs[i] = b.CreateRecord(ctx, "k"+strconv.Itoa(i), []byte("v")) })
	}
	wg.Wait()
	for i, err := range errs {
		assert.ErrorIs(t, err, errFlush, "writer %d, waiting for the flush that failed", i)
	}
	_, err := b.CreateRecord(ctx, "later", []byte("v"))
	assert.ErrorIs(t, err, errFlush, "a write after the failure")
	require.ErrorIs(t, b.PutBlob(ctx, "blob", []byte("v")), errFlush, "a blob write after the failure")

	again := fbOpen(t, dir)
	_, err = again.CreateRecord(ctx, "after reopening", []byte("v"))
	assert.NoError(t, err, "a write once the store is opened again")
}

// TestSlowLogStepsLeaveReadsFree checks that reads go on during the slow
// steps of writing a log: its flushes (those a seal waits for among them),
// the creation of a log's successor and the other fsyncs of wal/, the
// zero fills ahead of a log's end, and the closing of a checkpointed log's
// file (which frees its blocks). At each, the hook reads a record from
// another goroutine and fails the test if the read has to wait for the
// step to end, as it would if the step held the lock that reads take.
func TestSlowLogStepsLeaveReadsFree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var (
		b        *Backend
		mu       sync.Mutex
		armed    bool
		inFlight sync.WaitGroup // hooks between their armed check and their end
		seen     = map[string]int{}
		stuck    int
	)
	readFree := func() bool {
		done := make(chan error, 1)
		go func() {
			_, err := b.GetRecord(context.Background(), "secret/r", 0)
			done <- err
		}()
		select {
		case err := <-done:
			assert.NoError(t, err, "GetRecord during a slow step")
			return true
		case <-time.After(5 * time.Second):
			return false
		}
	}
	probe := func(step, path string) {
		mu.Lock()
		if !armed {
			mu.Unlock()
			return
		}
		inFlight.Add(1)
		mu.Unlock()
		defer inFlight.Done()
		free := readFree()
		mu.Lock()
		defer mu.Unlock()
		seen[step]++
		if !free {
			stuck++
			t.Errorf("a read waited for %s of %s", step, path)
		}
	}
	hook := func(op, path string) {
		switch {
		case op == "dirsync" && path == filepath.Join(dir, walName),
			op == "link" && filepath.Dir(path) == filepath.Join(dir, walName),
			op == "sync" && filepath.Dir(path) == filepath.Join(dir, tmpName),
			op == "zero", op == "close":
			probe(op, path)
		}
	}
	logSync := func(f *os.File) error {
		probe("flush", f.Name())
		return datasync(f)
	}
	b = fbOpen(t, dir, withSealSize(2048), withFileHook(hook), withLogSync(logSync))
	_, err := b.CreateRecord(t.Context(), "secret/r", []byte("read me"))
	require.NoError(t, err)
	mu.Lock()
	armed = true
	mu.Unlock()
	value := bytes.Repeat([]byte("v"), 500)
	for i := 0; ; i++ {
		_, err := b.CreateRecord(t.Context(), fmt.Sprintf("secret/%d", i), value)
		require.NoError(t, err)
		mu.Lock()
		enough := seen["dirsync"] >= 3 && seen["link"] >= 3 && seen["sync"] >= 3 &&
			seen["zero"] >= 3 && seen["close"] >= 2
		mu.Unlock()
		if enough {
			break
		}
		require.Less(t, i, 10000, "too few slow steps after %d writes: %v", i, seen)
	}
	mu.Lock()
	armed = false
	mu.Unlock()
	inFlight.Wait()
	mu.Lock()
	defer mu.Unlock()
	assert.Zero(t, stuck, "reads that waited, of these steps: %v", seen)
}

// TestRefreshFindsSuccessorLinkedMeanwhile checks that a read that finds
// the current log sealed, does not find its successor, and then lists
// wal/ just as the sealer links the successor, opens the successor rather
// than read every log again from the start: a sealer in the same process
// no longer holds the lock that reads take while it links, so this is no
// longer only another process's race.
func TestRefreshFindsSuccessorLinkedMeanwhile(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	var linkNow atomic.Pointer[func()]
	hook := func(op, path string) {
		if op == "readdir" && path == filepath.Join(dir, walName) {
			if link := linkNow.Swap(nil); link != nil {
				(*link)()
			}
		}
	}
	b := fbOpen(t, dir, withFileHook(hook))
	_, err := b.CreateRecord(ctx, "secret/r", []byte("read me"))
	require.NoError(t, err)

	// Seal the current log as sealIf does, up to the link of its successor.
	w := b.wal
	cur, unlock := fbSealOnly(t, w)
	tmp, err := b.writeTemp(encodeLogHeader(cur.gen + 1))
	require.NoError(t, err)
	link := func() { require.NoError(t, w.linkGen(tmp, cur.gen+1)) }
	linkNow.Store(&link)

	rec, err := b.GetRecord(ctx, "secret/r", 0)
	unlock()
	require.NoError(t, err)
	assert.Equal(t, []byte("read me"), rec.Data)
	assert.Nil(t, linkNow.Load(), "the read did not list wal/")
	w.mu.RLock()
	defer w.mu.RUnlock()
	require.Len(t, w.gens, 2)
	assert.Same(t, cur, w.gens[0], "the sealed log was read again from the start")
	assert.Equal(t, cur.gen+1, w.current().gen)
}

// TestLogNameThatDoesNotOpen checks that a name in wal/ that lists as a
// log but never opens (a dangling link) is reported as corruption, naming
// it, by Open and by a read of a Backend that finds its log sealed,
// rather than make them list wal/ again for ever.
func TestLogNameThatDoesNotOpen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	b := fbOpen(t, dir)
	_, err := b.CreateRecord(ctx, "secret/r", []byte("read me"))
	require.NoError(t, err)
	w := b.wal
	w.mu.RLock()
	cur := w.current()
	w.mu.RUnlock()
	bad := filepath.Join(dir, walName, logName(cur.gen+1))
	require.NoError(t, os.Symlink(filepath.Join(dir, "nowhere"), bad))

	within := func(what string, fn func() error) error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- fn() }()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not return", what)
			return nil
		}
	}
	err = within("Open", func() error {
		b2, err := Open(dir)
		if err == nil {
			_ = b2.Close()
		}
		return err
	})
	require.ErrorIs(t, err, ErrCorrupt, "Open")
	assert.ErrorContains(t, err, bad)

	// Seal the current log as a sealer that died before linking its
	// successor would have; a read then looks for the successor.
	_, unlock := fbSealOnly(t, w)
	unlock()
	err = within("GetRecord", func() error {
		_, err := b.GetRecord(ctx, "secret/r", 0)
		return err
	})
	require.ErrorIs(t, err, ErrCorrupt, "GetRecord")
	assert.ErrorContains(t, err, bad)
	require.NoError(t, os.Remove(bad))
}

// fbSealOnly appends a seal to the current log of w, holding the append
// lock as sealIf does, without creating the log's successor, and returns
// the log and the function that releases the append lock.
func fbSealOnly(t *testing.T, w *wal) (*logGen, func()) {
	t.Helper()
	unlock, err := lockDir(t.Context(), &w.appendLock)
	require.NoError(t, err)
	sealed := false
	defer func() {
		if !sealed {
			unlock() // the test fails: let its Close have the lock
		}
	}()
	w.mu.Lock()
	defer w.mu.Unlock()
	cur := w.current()
	seal := logEntry{kind: kindSeal}
	require.NoError(t, w.prepare(cur, encodedSize(seal)))
	require.NoError(t, w.write(cur, encodedSize(seal), seal))
	sealed = true
	return cur, unlock
}

// fbTwoCheckpoints writes a record (keys prefix0, prefix1) and checkpoints
// b, twice: a Backend that refreshes its index then finds the log that was
// current checkpointed and out of the index, as after a long idle time.
func fbTwoCheckpoints(t *testing.T, b *Backend, prefix string) {
	t.Helper()
	for i := range 2 {
		_, err := b.CreateRecord(t.Context(), fmt.Sprintf("%s%d", prefix, i), []byte("v"))
		require.NoError(t, err)
		require.NoError(t, Checkpoint(b))
	}
}
