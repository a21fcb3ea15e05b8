//go:build unix

package filebackend

import (
	"bytes"
	"fmt"
	"testing"

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
		if i%3 == 0 && i > 0 {
			old := fmt.Sprintf("blob/%d", i-1)
			require.NoError(t, a.DeleteBlob(ctx, old))
			blobs[old] = nil
		}
		if i%37 == 0 {
			check(a, fmt.Sprintf("writer after %d", i))
			check(r, fmt.Sprintf("reader after %d", i))
			// The reader writes too, after what it read.
			k := fmt.Sprintf("rec/r%d", i)
			revs[k], err = r.CreateRecord(ctx, k, value(i, 2))
			require.NoError(t, err)
		}
	}
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
