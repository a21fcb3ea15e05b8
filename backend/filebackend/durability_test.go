//go:build unix

package filebackend

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore/backend"
)

// fbTrace records the file system operations a backend makes.
type fbTrace struct {
	mu  sync.Mutex
	ops []string
}

func (tr *fbTrace) hook(op, path string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.ops = append(tr.ops, op+" "+filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path))
}

func (tr *fbTrace) take() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := tr.ops
	tr.ops = nil
	return out
}

// fbOps keeps the operations that matter for durability, with paths
// reduced to their directory (a temp file's name is random).
func fbOps(ops []string) []string {
	var out []string
	for _, o := range ops {
		op, path, _ := strings.Cut(o, " ")
		dir, name, _ := strings.Cut(path, "/")
		if op == "dirsync" { // the path is the directory itself
			dir = name
		}
		switch op {
		case "sync", "rename", "link", "remove", "dirsync", "append", "truncate", "write", "flush":
			out = append(out, op+" "+dir)
		}
	}
	return out
}

// TestWriteOrder checks the order that makes every write durable before it
// is acknowledged and never leaves a record pointing at nothing: a new file
// is synced before it is renamed into place, the blobs written before a
// record write (whose flush PutBlob leaves to it) are synced with their
// directory before the record is renamed into place, and the directory of
// the record is synced after that and before the call returns.
func TestWriteOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := &fbTrace{}
	b, err := Open(t.TempDir(), withFileHook(tr.hook), withFormatVersion(1))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	tr.take()

	// A blob appears whole (a link of a complete temp file) and is left
	// for the next record write to flush.
	require.NoError(t, b.PutBlob(ctx, "v1/blob", []byte("sealed")))
	assert.Equal(t, []string{"link blobs"}, fbOps(tr.take()), "PutBlob")

	// The record write syncs its temp file, the pending blob and the blobs
	// directory at once (in any order), and renames only after all three.
	rev, err := b.CreateRecord(ctx, "secret/a", []byte("one"))
	require.NoError(t, err)
	ops := fbOps(tr.take())
	require.Len(t, ops, 5, "CreateRecord after PutBlob: %v", ops)
	assert.ElementsMatch(t, []string{"sync tmp", "sync blobs", "dirsync blobs"}, ops[:3], "CreateRecord after PutBlob")
	assert.Equal(t, []string{"rename records", "dirsync records"}, ops[3:], "CreateRecord after PutBlob")

	// With no blob written since, a record write syncs no blob.
	rev, err = b.UpdateRecord(ctx, "secret/a", rev, []byte("two"))
	require.NoError(t, err)
	assert.Equal(t, []string{"sync tmp", "rename records", "dirsync records"}, fbOps(tr.take()), "UpdateRecord")

	require.NoError(t, b.DeleteRecord(ctx, "secret/a", rev))
	assert.Equal(t, []string{"remove records", "dirsync records"}, fbOps(tr.take()), "DeleteRecord")

	// Deleting a blob need not be durable: no record refers to it.
	require.NoError(t, b.DeleteBlob(ctx, "v1/blob"))
	assert.Equal(t, []string{"remove blobs"}, fbOps(tr.take()), "DeleteBlob")

	// A blob with a hashed name, whose key a listing reads from the file,
	// is synced before it is linked and flushed before PutBlob returns.
	long := "v1/" + strings.Repeat("k", 200)
	require.NoError(t, b.PutBlob(ctx, long, []byte("sealed")))
	assert.Equal(t, []string{"sync tmp", "link blobs", "dirsync blobs"}, fbOps(tr.take()), "PutBlob with a hashed name")

	// Close flushes the blobs still pending.
	require.NoError(t, b.PutBlob(ctx, "v1/pending", []byte("sealed")))
	tr.take()
	require.NoError(t, b.Close())
	assert.ElementsMatch(t, []string{"sync blobs", "dirsync blobs"}, fbOps(tr.take()), "Close with a pending blob")
}

// TestWriteOrderListAndConflict checks that a listing makes what it returns
// durable, so that a caller acting on it (Sweep) never acts on a change a
// power loss could undo, and that a failed compare-and-swap renames
// nothing.
func TestWriteOrderListAndConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := &fbTrace{}
	b, err := Open(t.TempDir(), withFileHook(tr.hook), withFormatVersion(1))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })

	_, err = b.CreateRecord(ctx, "secret/b", []byte("x"))
	require.NoError(t, err)
	tr.take()
	_, err = b.ListRecords(ctx, "", "", 10)
	require.NoError(t, err)
	assert.Contains(t, fbOps(tr.take()), "dirsync records", "ListRecords")

	_, err = b.UpdateRecord(ctx, "secret/b", 12345, []byte("y"))
	require.ErrorIs(t, err, backend.ErrConflict)
	assert.NotContains(t, fbOps(tr.take()), "rename records", "UpdateRecord that lost")
}

// TestWriteOrderLog checks the order that makes every write to a store of
// format version 2 durable before it is acknowledged: a blob is appended
// to the log and left for the next record write, whose append is followed
// by one fdatasync of the log, which covers both; a listing syncs the log;
// a failed compare-and-swap appends nothing; and a checkpoint flushes
// every file it writes, and the directories, before it removes the log.
func TestWriteOrderLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := &fbTrace{}
	b, err := Open(t.TempDir(), withFileHook(tr.hook))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	tr.take()

	require.NoError(t, b.PutBlob(ctx, "v1/blob", []byte("sealed")))
	assert.Equal(t, []string{"append wal"}, fbOps(tr.take()), "PutBlob")
	rev, err := b.CreateRecord(ctx, "secret/a", []byte("one"))
	require.NoError(t, err)
	assert.Equal(t, []string{"append wal", "sync wal"}, fbOps(tr.take()), "CreateRecord after PutBlob")
	_, err = b.UpdateRecord(ctx, "secret/a", rev+1, []byte("lost"))
	require.ErrorIs(t, err, backend.ErrConflict)
	assert.Empty(t, fbOps(tr.take()), "UpdateRecord that lost")
	rev, err = b.UpdateRecord(ctx, "secret/a", rev, []byte("two"))
	require.NoError(t, err)
	assert.Equal(t, []string{"append wal", "sync wal"}, fbOps(tr.take()), "UpdateRecord")
	// A blob and the record that refers to it: one append, one fdatasync.
	rev, err = b.PutRecordBlob(ctx, "secret/a", rev, []byte("three"), "v1/with-record", []byte("sealed"))
	require.NoError(t, err)
	assert.Equal(t, []string{"append wal", "sync wal"}, fbOps(tr.take()), "PutRecordBlob")
	_, err = b.PutRecordBlob(ctx, "secret/a", rev+1, []byte("lost"), "v1/lost", []byte("sealed"))
	require.ErrorIs(t, err, backend.ErrConflict)
	assert.Empty(t, fbOps(tr.take()), "PutRecordBlob that lost")
	_, err = b.GetBlob(ctx, "v1/lost")
	require.ErrorIs(t, err, backend.ErrNotFound, "the blob of a PutRecordBlob that lost")
	_, err = b.ListRecords(ctx, "", "", 10)
	require.NoError(t, err)
	assert.Empty(t, fbOps(tr.take()), "ListRecords with the log synced")
	// What is in the log unsynced (appended by another process, say) is
	// synced before a listing returns it.
	require.NoError(t, b.PutBlob(ctx, "v1/other", []byte("sealed")))
	assert.Equal(t, []string{"append wal"}, fbOps(tr.take()), "PutBlob")
	_, err = b.ListRecords(ctx, "", "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"sync wal"}, fbOps(tr.take()), "ListRecords")
	// A deletion is held, and written by the next append, in the same
	// write as that append's own entry.
	require.NoError(t, b.DeleteBlob(ctx, "v1/blob"))
	require.NoError(t, b.DeleteBlob(ctx, "v1/other"))
	require.NoError(t, b.DeleteBlob(ctx, "v1/with-record"))
	assert.Empty(t, fbOps(tr.take()), "DeleteBlob")
	_, err = b.UpdateRecord(ctx, "secret/a", rev+1, []byte("lost"))
	require.ErrorIs(t, err, backend.ErrConflict)
	assert.Empty(t, fbOps(tr.take()), "UpdateRecord that lost, with deletions held")
	_, err = b.UpdateRecord(ctx, "secret/a", rev, []byte("three"))
	require.NoError(t, err)
	assert.Equal(t, []string{"append wal", "sync wal"}, fbOps(tr.take()), "UpdateRecord with deletions held")

	// Close checkpoints the log: every file written, then flushed, before
	// the log is removed.
	require.NoError(t, b.PutBlob(ctx, "v1/kept", []byte("sealed")))
	_, err = b.CreateRecord(ctx, "secret/b", []byte("three"))
	require.NoError(t, err)
	tr.take()
	require.NoError(t, b.Close())
	ops := fbOps(tr.take())
	want := []string{
		"sync tmp",                // the next log, written ahead
		"append wal",              // the seal (the log is synced already)
		"link wal", "dirsync wal", // the next log in place
	}
	require.GreaterOrEqual(t, len(ops), len(want))
	assert.Equal(t, want, ops[:len(want)], "Close: sealing")
	ops = ops[len(want):]
	// secret/a, secret/b, v1/kept: three files written; v1/blob,
	// v1/other and v1/with-record, put and deleted in the same log, have
	// no file. Then one
	// flush of them all (syncfs on Linux) before the log is removed.
	assert.Equal(t, []string{"write records", "write blobs", "write records",
		"flush wal", "remove wal", "dirsync wal"}, ops, "Close: checkpoint")

	// The file of a blob deleted in a later log is a spare: secret/c, a
	// new key, takes it over (renamed, then overwritten) instead of
	// creating a file, which costs the file system far more.
	b, err = Open(b.Dir(), withFileHook(tr.hook))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	require.NoError(t, b.DeleteBlob(ctx, "v1/kept"))
	_, err = b.CreateRecord(ctx, "secret/c", []byte("four"))
	require.NoError(t, err)
	tr.take()
	require.NoError(t, b.Close())
	ops = fbOps(tr.take())
	require.GreaterOrEqual(t, len(ops), len(want))
	assert.Equal(t, []string{"write records", "rename records",
		"flush wal", "remove wal", "dirsync wal"}, ops[len(want):], "Close: checkpoint with a spare")
}

// TestReadSyncsLog checks that a read in one Backend that finds its answer
// in an entry another Backend appended and has not flushed yet flushes the
// log before answering, once: a read never answers with what a crash could
// still undo.
func TestReadSyncsLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	a, err := Open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	tr := &fbTrace{}
	b, err := Open(dir, withFileHook(tr.hook))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	require.NoError(t, a.PutBlob(ctx, "v1/blob", []byte("sealed"))) // not flushed
	tr.take()
	_, err = b.GetBlob(ctx, "v1/blob")
	require.NoError(t, err)
	assert.Equal(t, []string{"sync wal"}, fbOps(tr.take()), "GetBlob of an entry not flushed yet")
	_, err = b.GetBlob(ctx, "v1/blob")
	require.NoError(t, err)
	assert.Empty(t, fbOps(tr.take()), "GetBlob of an entry flushed already")
	// An entry that a later one says was flushed (its writer appended it
	// after a flush covering the first) is read without a flush.
	_, err = a.CreateRecord(ctx, "rec/1", []byte("one"))
	require.NoError(t, err)
	_, err = a.CreateRecord(ctx, "rec/2", []byte("two"))
	require.NoError(t, err)
	tr.take()
	_, err = b.GetRecord(ctx, "rec/1", 0)
	require.NoError(t, err)
	assert.Empty(t, fbOps(tr.take()), "GetRecord of an entry a later entry says is flushed")
	require.NoError(t, a.DeleteBlob(ctx, "v1/blob"))
	require.NoError(t, a.PutBlob(ctx, "v1/next", []byte("sealed"))) // appends the deletion, not flushed either
	_, err = b.GetBlob(ctx, "v1/blob")
	require.ErrorIs(t, err, backend.ErrNotFound)
	assert.Equal(t, []string{"sync wal"}, fbOps(tr.take()), "GetBlob of a deletion not flushed yet")
}

// TestOpenRefusesLostDirectories checks that a complete store that lost
// records/ or blobs/ is reported as damaged instead of opening as an empty
// store, whose Sweep would then delete every blob.
func TestOpenRefusesLostDirectories(t *testing.T) {
	t.Parallel()
	for _, lost := range []string{"records", "blobs"} {
		t.Run(lost, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir := t.TempDir()
			b, err := Open(dir)
			require.NoError(t, err)
			require.NoError(t, b.PutBlob(ctx, "v1/x", []byte("x")))
			_, err = b.CreateRecord(ctx, "secret/x", []byte("x"))
			require.NoError(t, err)
			require.NoError(t, b.Close())
			require.NoError(t, os.RemoveAll(filepath.Join(dir, lost)))

			_, err = Open(dir)
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrCorrupt), "got %v, want ErrCorrupt", err)
			assert.Contains(t, err.Error(), filepath.Join(dir, lost))
		})
	}
	t.Run("tmp and locks are recreated", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		b, err := Open(dir)
		require.NoError(t, err)
		_, err = b.CreateRecord(context.Background(), "secret/x", []byte("x"))
		require.NoError(t, err)
		require.NoError(t, b.Close())
		require.NoError(t, os.RemoveAll(filepath.Join(dir, "tmp")))
		require.NoError(t, os.RemoveAll(filepath.Join(dir, "locks")))
		b, err = Open(dir)
		require.NoError(t, err)
		defer b.Close()
		r, err := b.GetRecord(context.Background(), "secret/x", 0)
		require.NoError(t, err)
		assert.Equal(t, []byte("x"), r.Data)
	})
}

// TestLockFileReplaced checks that removing locks/ while a Backend runs
// cannot let two writers hold one stripe: a lock on a file that is no
// longer at its path is taken again on the file that is.
func TestLockFileReplaced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	a, err := Open(dir)
	require.NoError(t, err)
	defer a.Close()
	rev, err := a.CreateRecord(ctx, "secret/k", []byte("0"))
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "locks")))
	rev, err = a.UpdateRecord(ctx, "secret/k", rev, []byte("1"))
	require.NoError(t, err, "update after locks/ was removed")
	b, err := Open(dir)
	require.NoError(t, err)
	defer b.Close()

	// Both handles now lock the same file: a held stripe in one blocks
	// the other.
	unlock, err := a.lockRecord(ctx, "secret/k")
	require.NoError(t, err)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = b.lockRecord(cctx, "secret/k")
	assert.ErrorIs(t, err, context.Canceled, "the second handle got a stripe the first holds")
	unlock()
	_, err = b.UpdateRecord(ctx, "secret/k", rev, []byte("2"))
	assert.NoError(t, err)
}
