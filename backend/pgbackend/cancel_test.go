package pgbackend_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore/backend"
)

// TestCancelWhileBlocked cancels calls that wait on the server, behind a
// row lock or an uncommitted insert of another transaction: each must
// return the context's error promptly, change nothing, and leave the
// backend usable.
func TestCancelWhileBlocked(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := openFresh(t)
	rev, err := b.CreateRecord(ctx, "k", []byte("original"))
	require.NoError(t, err)

	admin := adminPool(t)
	tx, err := admin.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(context.Background())
	s := pgx.Identifier{b.Schema()}.Sanitize()
	_, err = tx.Exec(ctx, "SELECT 1 FROM "+s+".records WHERE key = 'k' FOR UPDATE")
	require.NoError(t, err)
	// An insert not yet committed makes a create of the same key wait.
	_, err = tx.Exec(ctx, "INSERT INTO "+s+".records (key, data) VALUES ('new', '')")
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO "+s+".blobs (key, data) VALUES ('new', '')")
	require.NoError(t, err)

	calls := map[string]func(context.Context) error{
		"UpdateRecord": func(ctx context.Context) error {
			_, err := b.UpdateRecord(ctx, "k", rev, []byte("changed"))
			return err
		},
		"DeleteRecord": func(ctx context.Context) error { return b.DeleteRecord(ctx, "k", rev) },
		"CreateRecord": func(ctx context.Context) error {
			_, err := b.CreateRecord(ctx, "new", []byte("new"))
			return err
		},
		"PutBlob": func(ctx context.Context) error { return b.PutBlob(ctx, "new", []byte("new")) },
	}
	for name, call := range calls {
		start := time.Now()
		callCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := call(callCtx)
		cancel()
		elapsed := time.Since(start)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "%s behind a row lock", name)
		assert.Less(t, elapsed, 5*time.Second, "%s returned %v after its deadline", name, elapsed)
	}
	require.NoError(t, tx.Rollback(ctx))

	got, err := b.GetRecord(ctx, "k", 0)
	require.NoError(t, err)
	assert.Equal(t, backend.Record{Key: "k", Revision: rev, Data: []byte("original")}, got, "after the cancelled calls")
	_, err = b.GetRecord(ctx, "new", 0)
	assert.ErrorIs(t, err, backend.ErrNotFound, "the cancelled CreateRecord")
	_, err = b.GetBlob(ctx, "new")
	assert.ErrorIs(t, err, backend.ErrNotFound, "the cancelled PutBlob")
	_, err = b.UpdateRecord(ctx, "k", rev, []byte("changed"))
	assert.NoError(t, err, "UpdateRecord after the cancelled calls")
}
