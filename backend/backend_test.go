package backend_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore/backend"
	"github.com/secretstore/secretstore/backend/membackend"
)

// failing is a backend whose UpdateRecord and DeleteBlob return the errors
// set, without calling the backend under it.
type failing struct {
	backend.Backend
	updateErr, deleteErr error
}

func (f *failing) UpdateRecord(ctx context.Context, key string, revision uint64, data []byte) (uint64, error) {
	if f.updateErr != nil {
		return 0, f.updateErr
	}
	return f.Backend.UpdateRecord(ctx, key, revision, data)
}

func (f *failing) DeleteBlob(ctx context.Context, key string) error {
	if f.deleteErr != nil {
		return f.deleteErr
	}
	return f.Backend.DeleteBlob(ctx, key)
}

func isSentinel(err error) bool {
	for _, s := range []error{backend.ErrNotFound, backend.ErrExists, backend.ErrConflict, backend.ErrClosed} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// TestPutRecordBlobInTurn checks the promise a caller of PutRecordBlob relies
// on when the backend writes in turn: a sentinel error means that neither the
// blob nor the record changed, so that the caller may retry under the same
// blob key; when the blob could not be taken back, the error is no sentinel.
func TestPutRecordBlobInTurn(t *testing.T) {
	ctx := t.Context()
	errDisk := errors.New("disk failure")
	cases := []struct {
		name                 string
		updateErr, deleteErr error
		wantSentinel         error // nil: the error must be no sentinel
		blobStays            bool
	}{
		{"ConflictTakenBack", backend.ErrConflict, nil, backend.ErrConflict, false},
		{"NotFoundTakenBack", backend.ErrNotFound, nil, backend.ErrNotFound, false},
		{"ConflictNotTakenBack", backend.ErrConflict, errDisk, nil, true},
		{"ConflictTakenBackAfterClose", backend.ErrConflict, backend.ErrClosed, nil, true},
		{"ClosedAfterTheBlob", backend.ErrClosed, nil, nil, true},
		{"StorageFailure", errDisk, nil, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := membackend.New()
			t.Cleanup(func() { _ = mem.Close() })
			rev, err := mem.CreateRecord(ctx, "rec", []byte("old"))
			require.NoError(t, err)
			f := &failing{Backend: mem, updateErr: tc.updateErr, deleteErr: tc.deleteErr}
			_, err = backend.PutRecordBlobInTurn(ctx, f, "rec", rev, []byte("new"), "blob", []byte("sealed"))
			require.Error(t, err)
			if tc.wantSentinel != nil {
				assert.ErrorIs(t, err, tc.wantSentinel)
			} else {
				assert.False(t, isSentinel(err), "a sentinel although the blob may stay stored: %v", err)
			}
			_, gerr := mem.GetBlob(ctx, "blob")
			if tc.blobStays {
				assert.NoError(t, gerr, "the blob that could not be taken back")
			} else {
				assert.ErrorIs(t, gerr, backend.ErrNotFound, "the blob of a write that changed nothing")
			}
			got, err := mem.GetRecord(ctx, "rec", 0)
			require.NoError(t, err)
			assert.Equal(t, []byte("old"), got.Data, "the record")
		})
	}

	t.Run("Success", func(t *testing.T) {
		mem := membackend.New()
		t.Cleanup(func() { _ = mem.Close() })
		rev, err := backend.PutRecordBlobInTurn(ctx, mem, "rec", 0, []byte("one"), "b1", []byte("s1"))
		require.NoError(t, err)
		rev2, err := backend.PutRecordBlobInTurn(ctx, mem, "rec", rev, []byte("two"), "b2", []byte("s2"))
		require.NoError(t, err)
		got, err := mem.GetRecord(ctx, "rec", 0)
		require.NoError(t, err)
		assert.Equal(t, rev2, got.Revision)
		assert.Equal(t, []byte("two"), got.Data)
		keys, err := mem.ListBlobs(ctx, "", 10)
		require.NoError(t, err)
		assert.Equal(t, []string{"b1", "b2"}, keys)
		_, err = backend.PutRecordBlobInTurn(ctx, mem, "rec", 0, []byte("three"), "b3", []byte("s3"))
		assert.ErrorIs(t, err, backend.ErrExists, "a create where the record exists")
		_, err = backend.PutRecordBlobInTurn(ctx, mem, "rec", rev2, []byte("three"), "b1", []byte("s3"))
		assert.ErrorIs(t, err, backend.ErrExists, "a blob key taken")
		keys, err = mem.ListBlobs(ctx, "", 10)
		require.NoError(t, err)
		assert.Equal(t, []string{"b1", "b2"}, keys, "blobs after the failed writes")
	})
}
