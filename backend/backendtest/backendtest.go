// Package backendtest is the conformance suite for implementations of
// [backend.Backend].
//
// Every backend, including one written outside this module, should pass it,
// called from a TestConformance function in the backend's package:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, backendtest.Harness{
//			New: func(t *testing.T) backend.Backend {
//				b, err := mybackend.Open(t.TempDir())
//				require.NoError(t, err)
//				return b
//			},
//			// Reopen is optional: set it when the backend can open a second
//			// handle on the same storage, so that the suite also checks
//			// compare-and-swap across handles and persistence.
//			Reopen: func(t *testing.T, b backend.Backend) backend.Backend {
//				b2, err := mybackend.Open(b.(*mybackend.Backend).Dir())
//				require.NoError(t, err)
//				return b2
//			},
//		})
//	}
//
// The suite checks what the engine relies on: compare-and-swap on revisions
// and unique revisions, copy isolation, ordered and paged listing, immutable
// blobs with idempotent delete, large values, races run under -race,
// context cancellation and use after Close. It then runs the real engine
// over the backend, and with Reopen a second engine over a second handle, so
// a backend that passes is known to work under package secretstore. A
// backend that needs more unit tests for these semantics has found a case
// the suite is missing.
//
// Subtests run one after another, never in parallel, so a harness may hand
// out one external resource (a database) again, provided New returns it
// empty each time.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend"
)

// Harness makes backends for the suite.
type Harness struct {
	// New returns a new, empty backend. Required. The suite closes it.
	New func(t *testing.T) backend.Backend
	// Reopen, if not nil, returns a second, independent handle on the same
	// storage as b (for a file or database backend: another Open of the same
	// directory or database). The suite uses it to check that
	// compare-and-swap holds across handles and that data persists. The
	// suite closes the handle it returns.
	Reopen func(t *testing.T, b backend.Backend) backend.Backend
}

// Run runs the conformance suite against the backends that h makes.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("backendtest: Harness.New is nil")
	}
	t.Run("Records", func(t *testing.T) { testRecords(t, h) })
	t.Run("CopyIsolation", func(t *testing.T) { testCopyIsolation(t, h) })
	t.Run("Listing", func(t *testing.T) { testListing(t, h) })
	t.Run("Blobs", func(t *testing.T) { testBlobs(t, h) })
	t.Run("LargeValues", func(t *testing.T) { testLargeValues(t, h) })
	t.Run("CompareAndSwapConcurrentSafe", func(t *testing.T) { testCompareAndSwapRace(t, h, false) })
	t.Run("CompareAndSwapAcrossHandlesConcurrentSafe", func(t *testing.T) {
		if h.Reopen == nil {
			t.Skip("Harness.Reopen is nil")
		}
		testCompareAndSwapRace(t, h, true)
	})
	t.Run("CreateConcurrentSafe", func(t *testing.T) { testConcurrentCreates(t, h) })
	t.Run("ContextCancellation", func(t *testing.T) { testContextCancellation(t, h) })
	t.Run("UseAfterClose", func(t *testing.T) { testUseAfterClose(t, h) })
	t.Run("Persistence", func(t *testing.T) {
		if h.Reopen == nil {
			t.Skip("Harness.Reopen is nil")
		}
		testPersistence(t, h)
	})
	t.Run("BlobViewer", func(t *testing.T) {
		if _, ok := newBackend(t, h).(backend.BlobViewer); !ok {
			t.Skip("the backend is not a backend.BlobViewer")
		}
		testBlobViewer(t, h)
	})
	t.Run("RecordBlobGetter", func(t *testing.T) {
		if _, ok := newBackend(t, h).(backend.RecordBlobGetter); !ok {
			t.Skip("the backend is not a backend.RecordBlobGetter")
		}
		testRecordBlobGetter(t, h)
	})
	t.Run("RecordBlobPutter", func(t *testing.T) {
		if _, ok := newBackend(t, h).(backend.RecordBlobPutter); !ok {
			t.Skip("the backend is not a backend.RecordBlobPutter")
		}
		testRecordBlobPutter(t, h)
	})
	t.Run("OrphanSweep", func(t *testing.T) { testOrphanSweep(t, h) })
	t.Run("EngineRoundTrip", func(t *testing.T) { testEngineRoundTrip(t, h) })
}

// newBackend returns a fresh backend from h, closed when t ends.
func newBackend(t *testing.T, h Harness) backend.Backend {
	t.Helper()
	b := h.New(t)
	require.NotNil(t, b, "Harness.New returned nil")
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// reopen returns a second handle on the storage of b, closed when t ends.
func reopen(t *testing.T, h Harness, b backend.Backend) backend.Backend {
	t.Helper()
	b2 := h.Reopen(t, b)
	require.NotNil(t, b2, "Harness.Reopen returned nil")
	t.Cleanup(func() { _ = b2.Close() })
	return b2
}

// mustCreate creates a record and fails the test unless it succeeds with a
// nonzero revision.
func mustCreate(t *testing.T, b backend.Backend, key string, data []byte) uint64 {
	t.Helper()
	rev, err := b.CreateRecord(t.Context(), key, data)
	require.NoError(t, err, "CreateRecord(%q)", key)
	require.NotZero(t, rev, "CreateRecord(%q) returned revision 0", key)
	return rev
}

// mustUpdate updates a record and fails the test unless it succeeds with a
// nonzero revision.
func mustUpdate(t *testing.T, b backend.Backend, key string, rev uint64, data []byte) uint64 {
	t.Helper()
	newRev, err := b.UpdateRecord(t.Context(), key, rev, data)
	require.NoError(t, err, "UpdateRecord(%q, %d)", key, rev)
	require.NotZero(t, newRev, "UpdateRecord(%q) returned revision 0", key)
	return newRev
}

// assertRecord checks that GetRecord(key, 0) returns data under rev.
func assertRecord(t *testing.T, b backend.Backend, key string, rev uint64, data []byte) {
	t.Helper()
	got, err := b.GetRecord(t.Context(), key, 0)
	if !assert.NoError(t, err, "GetRecord(%q)", key) {
		return
	}
	assert.Equal(t, key, got.Key, "GetRecord(%q).Key", key)
	assert.Equal(t, rev, got.Revision, "GetRecord(%q).Revision", key)
	assert.Equal(t, data, got.Data, "GetRecord(%q).Data", key)
}

// assertBlob checks that GetBlob(key) returns data.
func assertBlob(t *testing.T, b backend.Backend, key string, data []byte) {
	t.Helper()
	got, err := b.GetBlob(t.Context(), key)
	if !assert.NoError(t, err, "GetBlob(%q)", key) {
		return
	}
	assert.Equal(t, data, got, "GetBlob(%q)", key)
}

// assertNoRecord checks that GetRecord(key, 0) returns ErrNotFound.
func assertNoRecord(t *testing.T, b backend.Backend, key string) {
	t.Helper()
	_, err := b.GetRecord(t.Context(), key, 0)
	assert.ErrorIs(t, err, backend.ErrNotFound, "GetRecord(%q)", key)
}

// assertNoBlob checks that GetBlob(key) returns ErrNotFound.
func assertNoBlob(t *testing.T, b backend.Backend, key string) {
	t.Helper()
	_, err := b.GetBlob(t.Context(), key)
	assert.ErrorIs(t, err, backend.ErrNotFound, "GetBlob(%q)", key)
}

func testRecords(t *testing.T, h Harness) {
	t.Run("RoundTrip", func(t *testing.T) {
		b := newBackend(t, h)
		ctx := t.Context()
		rev1 := mustCreate(t, b, "k", []byte("v1"))
		assertRecord(t, b, "k", rev1, []byte("v1"))

		rev2 := mustUpdate(t, b, "k", rev1, []byte("v2"))
		assert.NotEqual(t, rev1, rev2, "UpdateRecord kept the revision")
		assertRecord(t, b, "k", rev2, []byte("v2"))

		require.NoError(t, b.DeleteRecord(ctx, "k", rev2))
		assertNoRecord(t, b, "k")
	})

	t.Run("CreateExisting", func(t *testing.T) {
		b := newBackend(t, h)
		rev := mustCreate(t, b, "k", []byte("first"))
		_, err := b.CreateRecord(t.Context(), "k", []byte("second"))
		assert.ErrorIs(t, err, backend.ErrExists)
		assertRecord(t, b, "k", rev, []byte("first"))
	})

	t.Run("StaleRevision", func(t *testing.T) {
		b := newBackend(t, h)
		ctx := t.Context()
		rev1 := mustCreate(t, b, "k", []byte("v1"))
		rev2 := mustUpdate(t, b, "k", rev1, []byte("v2"))
		for _, stale := range []uint64{0, rev1, rev2 + 1000} {
			_, err := b.UpdateRecord(ctx, "k", stale, []byte("lost"))
			assert.ErrorIs(t, err, backend.ErrConflict, "UpdateRecord with revision %d, current %d", stale, rev2)
			err = b.DeleteRecord(ctx, "k", stale)
			assert.ErrorIs(t, err, backend.ErrConflict, "DeleteRecord with revision %d, current %d", stale, rev2)
		}
		assertRecord(t, b, "k", rev2, []byte("v2"))
	})

	t.Run("Missing", func(t *testing.T) {
		b := newBackend(t, h)
		ctx := t.Context()
		mustCreate(t, b, "other", []byte("x"))

		// A key that never existed, and one that was deleted: neither is a
		// conflict, both are not found.
		rev := mustCreate(t, b, "deleted", []byte("x"))
		require.NoError(t, b.DeleteRecord(ctx, "deleted", rev))

		for _, key := range []string{"missing", "deleted", "othe", "other/"} {
			_, err := b.GetRecord(ctx, key, 0)
			assert.ErrorIs(t, err, backend.ErrNotFound, "GetRecord(%q)", key)
			_, err = b.GetRecord(ctx, key, rev)
			assert.ErrorIs(t, err, backend.ErrNotFound, "GetRecord(%q, %d)", key, rev)
			_, err = b.UpdateRecord(ctx, key, rev, []byte("y"))
			assert.ErrorIs(t, err, backend.ErrNotFound, "UpdateRecord(%q)", key)
			err = b.DeleteRecord(ctx, key, rev)
			assert.ErrorIs(t, err, backend.ErrNotFound, "DeleteRecord(%q)", key)
		}
		assertNoRecord(t, b, "missing")
	})

	t.Run("RevisionsNeverReused", func(t *testing.T) {
		b := newBackend(t, h)
		ctx := t.Context()
		seen := map[uint64]string{}
		note := func(rev uint64, what string) {
			t.Helper()
			require.NotZero(t, rev, "%s: revision 0", what)
			if prev, ok := seen[rev]; ok {
				t.Fatalf("%s: got revision %d, already given to %s", what, rev, prev)
			}
			seen[rev] = what
		}
		var oldRevs []uint64
		for life := range 3 {
			rev := mustCreate(t, b, "k", []byte("created"))
			note(rev, fmt.Sprintf("create #%d", life))
			for i := range 3 {
				// A revision from an earlier life of the key must not
				// match the current one.
				for _, old := range oldRevs {
					_, err := b.UpdateRecord(ctx, "k", old, []byte("stale"))
					assert.ErrorIs(t, err, backend.ErrConflict, "UpdateRecord with revision %d from an earlier life", old)
					got, err := b.GetRecord(ctx, "k", old)
					require.NoError(t, err)
					assert.Equal(t, rev, got.Revision, "GetRecord with old known revision %d", old)
					assert.NotNil(t, got.Data, "GetRecord with old known revision %d returned nil Data", old)
				}
				data := fmt.Appendf(nil, "life %d update %d", life, i)
				newRev := mustUpdate(t, b, "k", rev, data)
				note(newRev, fmt.Sprintf("life %d update %d", life, i))
				oldRevs = append(oldRevs, rev)
				rev = newRev
				assertRecord(t, b, "k", rev, data)
			}
			require.NoError(t, b.DeleteRecord(ctx, "k", rev))
			oldRevs = append(oldRevs, rev)
		}
	})

	t.Run("KnownRevision", func(t *testing.T) {
		b := newBackend(t, h)
		ctx := t.Context()
		rev1 := mustCreate(t, b, "k", []byte("v1"))

		got, err := b.GetRecord(ctx, "k", rev1)
		require.NoError(t, err)
		assert.Equal(t, "k", got.Key)
		assert.Equal(t, rev1, got.Revision)
		if got.Data != nil {
			assert.Equal(t, []byte("v1"), got.Data, "GetRecord with the current known revision returned other data")
		}

		rev2 := mustUpdate(t, b, "k", rev1, []byte("v2"))
		got, err = b.GetRecord(ctx, "k", rev1)
		require.NoError(t, err)
		assert.Equal(t, rev2, got.Revision, "GetRecord with a stale known revision")
		assert.Equal(t, []byte("v2"), got.Data, "GetRecord with a stale known revision must return the current data")

		got, err = b.GetRecord(ctx, "k", rev2)
		require.NoError(t, err)
		assert.Equal(t, rev2, got.Revision)
		if got.Data != nil {
			assert.Equal(t, []byte("v2"), got.Data, "GetRecord with the current known revision returned other data")
		}
	})

	t.Run("EmptyData", func(t *testing.T) {
		// A nil Data means "your copy is current", so an empty record read
		// with a revision that is not current must come back as a non-nil
		// empty slice.
		b := newBackend(t, h)
		ctx := t.Context()
		rev1 := mustCreate(t, b, "k", []byte{})
		got, err := b.GetRecord(ctx, "k", 0)
		require.NoError(t, err)
		assert.Equal(t, rev1, got.Revision)
		assert.Empty(t, got.Data)

		rev2 := mustUpdate(t, b, "k", rev1, []byte("full"))
		rev3 := mustUpdate(t, b, "k", rev2, []byte{})
		got, err = b.GetRecord(ctx, "k", rev2)
		require.NoError(t, err)
		assert.Equal(t, rev3, got.Revision)
		assert.NotNil(t, got.Data, "empty record read with a stale known revision returned nil Data")
		assert.Empty(t, got.Data)
	})
}

func testCopyIsolation(t *testing.T, h Harness) {
	t.Run("CreateRecordArgument", func(t *testing.T) {
		b := newBackend(t, h)
		data := []byte("original")
		rev := mustCreate(t, b, "k", data)
		copy(data, "MUTATED!")
		assertRecord(t, b, "k", rev, []byte("original"))
	})

	t.Run("UpdateRecordArgument", func(t *testing.T) {
		b := newBackend(t, h)
		rev := mustCreate(t, b, "k", []byte("created"))
		data := []byte("original")
		rev = mustUpdate(t, b, "k", rev, data)
		copy(data, "MUTATED!")
		assertRecord(t, b, "k", rev, []byte("original"))
	})

	t.Run("PutBlobArgument", func(t *testing.T) {
		b := newBackend(t, h)
		data := []byte("original")
		require.NoError(t, b.PutBlob(t.Context(), "k", data))
		copy(data, "MUTATED!")
		assertBlob(t, b, "k", []byte("original"))
	})

	t.Run("GetRecordResult", func(t *testing.T) {
		b := newBackend(t, h)
		rev := mustCreate(t, b, "k", []byte("original"))
		got, err := b.GetRecord(t.Context(), "k", 0)
		require.NoError(t, err)
		require.Equal(t, []byte("original"), got.Data)
		copy(got.Data, "MUTATED!")
		assertRecord(t, b, "k", rev, []byte("original"))
	})

	t.Run("ListRecordsResult", func(t *testing.T) {
		b := newBackend(t, h)
		rev := mustCreate(t, b, "k", []byte("original"))
		got, err := b.ListRecords(t.Context(), "", "", 10)
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, []byte("original"), got[0].Data)
		copy(got[0].Data, "MUTATED!")
		assertRecord(t, b, "k", rev, []byte("original"))
	})

	t.Run("GetBlobResult", func(t *testing.T) {
		b := newBackend(t, h)
		require.NoError(t, b.PutBlob(t.Context(), "k", []byte("original")))
		got, err := b.GetBlob(t.Context(), "k")
		require.NoError(t, err)
		require.Equal(t, []byte("original"), got)
		copy(got, "MUTATED!")
		assertBlob(t, b, "k", []byte("original"))
	})
}

// listKeys are keys that share prefixes, contain separators and sort
// differently in byte order than in most human collations (upper case
// before lower case, punctuation between letters, non-ASCII last). "a/b"
// and "a%2Fb" must stay distinct for a backend that escapes keys.
var listKeys = []string{
	"a", "a/b", "a/b/c", "a-b", "a.b", "a:b", "a_b", "a+b", "a=b", "a@b",
	"a%2Fb", "a b", "ab", "aB", "b", "B", "A", "Z", "é", "z~",
}

// sortedWhere returns the keys of listKeys that satisfy keep, in ascending
// byte order.
func sortedWhere(keep func(string) bool) []string {
	var out []string
	for _, k := range listKeys {
		if keep(k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// pageRecords lists every record under prefix in pages of limit records,
// checking each page, and returns the keys in the order visited.
func pageRecords(t *testing.T, b backend.Backend, prefix string, limit int) []string {
	t.Helper()
	var keys []string
	after := ""
	for range len(listKeys) + 2 {
		page, err := b.ListRecords(t.Context(), prefix, after, limit)
		require.NoError(t, err, "ListRecords(%q, %q, %d)", prefix, after, limit)
		require.LessOrEqual(t, len(page), limit, "ListRecords(%q, %q, %d) returned more than limit", prefix, after, limit)
		for _, r := range page {
			keys = append(keys, r.Key)
		}
		if len(page) < limit {
			return keys
		}
		after = page[len(page)-1].Key
	}
	t.Fatalf("ListRecords(%q, _, %d) did not stop after %d pages; visited %q", prefix, limit, len(listKeys)+2, keys)
	return nil
}

// pageBlobs lists every blob in pages of limit keys, checking each page, and
// returns the keys in the order visited.
func pageBlobs(t *testing.T, b backend.Backend, limit, maxPages int) []string {
	t.Helper()
	var keys []string
	after := ""
	for range maxPages {
		page, err := b.ListBlobs(t.Context(), after, limit)
		require.NoError(t, err, "ListBlobs(%q, %d)", after, limit)
		require.LessOrEqual(t, len(page), limit, "ListBlobs(%q, %d) returned more than limit", after, limit)
		keys = append(keys, page...)
		if len(page) < limit {
			return keys
		}
		after = page[len(page)-1]
	}
	t.Fatalf("ListBlobs(_, %d) did not stop after %d pages; visited %q", limit, maxPages, keys)
	return nil
}

func testListing(t *testing.T, h Harness) {
	t.Run("Empty", func(t *testing.T) {
		b := newBackend(t, h)
		ctx := t.Context()
		recs, err := b.ListRecords(ctx, "", "", 10)
		require.NoError(t, err)
		assert.Empty(t, recs)
		recs, err = b.ListRecords(ctx, "a", "a", 1)
		require.NoError(t, err)
		assert.Empty(t, recs)
		keys, err := b.ListBlobs(ctx, "", 10)
		require.NoError(t, err)
		assert.Empty(t, keys)
		keys, err = b.ListBlobs(ctx, "a", 1)
		require.NoError(t, err)
		assert.Empty(t, keys)
	})

	t.Run("Records", func(t *testing.T) {
		b := newBackend(t, h)
		ctx := t.Context()
		revs := map[string]uint64{}
		for _, k := range listKeys {
			revs[k] = mustCreate(t, b, k, []byte("data:"+k))
		}
		all := sortedWhere(func(string) bool { return true })

		t.Run("All", func(t *testing.T) {
			recs, err := b.ListRecords(ctx, "", "", len(listKeys)+1)
			require.NoError(t, err)
			var got []string
			for _, r := range recs {
				got = append(got, r.Key)
				assert.Equal(t, revs[r.Key], r.Revision, "Revision of %q", r.Key)
				assert.Equal(t, []byte("data:"+r.Key), r.Data, "Data of %q", r.Key)
			}
			assert.Equal(t, all, got)
		})

		t.Run("Prefix", func(t *testing.T) {
			for _, prefix := range []string{"", "a", "a/", "a/b", "a/b/", "ab", "b", "B", "é", "nomatch", "a/b/c/d"} {
				want := sortedWhere(func(k string) bool { return strings.HasPrefix(k, prefix) })
				recs, err := b.ListRecords(ctx, prefix, "", len(listKeys)+1)
				require.NoError(t, err)
				var got []string
				for _, r := range recs {
					got = append(got, r.Key)
				}
				assert.Equal(t, want, got, "ListRecords(prefix %q)", prefix)
			}
		})

		t.Run("After", func(t *testing.T) {
			// Every stored key, plus cursors that are not stored keys.
			cursors := append(slices.Clone(listKeys), "0", "a0", "a/a", "a/c", "aa", "zz", "ÿ")
			for _, prefix := range []string{"", "a", "a/"} {
				for _, after := range cursors {
					want := sortedWhere(func(k string) bool { return strings.HasPrefix(k, prefix) && k > after })
					recs, err := b.ListRecords(ctx, prefix, after, len(listKeys)+1)
					require.NoError(t, err)
					var got []string
					for _, r := range recs {
						got = append(got, r.Key)
					}
					assert.Equal(t, want, got, "ListRecords(prefix %q, after %q)", prefix, after)
				}
			}
		})

		t.Run("Paging", func(t *testing.T) {
			for _, prefix := range []string{"", "a", "a/", "b"} {
				want := sortedWhere(func(k string) bool { return strings.HasPrefix(k, prefix) })
				for _, limit := range []int{1, 2, 3} {
					got := pageRecords(t, b, prefix, limit)
					assert.Equal(t, want, got, "paging prefix %q with limit %d", prefix, limit)
				}
			}
		})

		t.Run("NoBlobs", func(t *testing.T) {
			keys, err := b.ListBlobs(ctx, "", 10)
			require.NoError(t, err)
			assert.Empty(t, keys, "ListBlobs lists records")
		})
	})

	t.Run("Blobs", func(t *testing.T) {
		b := newBackend(t, h)
		ctx := t.Context()
		for _, k := range listKeys {
			require.NoError(t, b.PutBlob(ctx, k, []byte("data:"+k)), "PutBlob(%q)", k)
		}
		all := sortedWhere(func(string) bool { return true })

		keys, err := b.ListBlobs(ctx, "", len(listKeys)+1)
		require.NoError(t, err)
		assert.Equal(t, all, keys)

		for _, after := range append(slices.Clone(listKeys), "0", "a0", "a/a", "aa", "zz", "ÿ") {
			want := sortedWhere(func(k string) bool { return k > after })
			got, err := b.ListBlobs(ctx, after, len(listKeys)+1)
			require.NoError(t, err)
			if len(want) == 0 {
				assert.Empty(t, got, "ListBlobs(after %q)", after)
			} else {
				assert.Equal(t, want, got, "ListBlobs(after %q)", after)
			}
		}

		for _, limit := range []int{1, 2, 3} {
			got := pageBlobs(t, b, limit, len(listKeys)+2)
			assert.Equal(t, all, got, "paging blobs with limit %d", limit)
		}

		recs, err := b.ListRecords(ctx, "", "", 10)
		require.NoError(t, err)
		assert.Empty(t, recs, "ListRecords lists blobs")
	})
}

func testBlobs(t *testing.T, h Harness) {
	t.Run("RoundTrip", func(t *testing.T) {
		b := newBackend(t, h)
		ctx := t.Context()
		require.NoError(t, b.PutBlob(ctx, "k", []byte("value")))
		assertBlob(t, b, "k", []byte("value"))
		require.NoError(t, b.DeleteBlob(ctx, "k"))
		assertNoBlob(t, b, "k")
	})

	t.Run("PutExisting", func(t *testing.T) {
		b := newBackend(t, h)
		ctx := t.Context()
		require.NoError(t, b.PutBlob(ctx, "k", []byte("first")))
		err := b.PutBlob(ctx, "k", []byte("second"))
		assert.ErrorIs(t, err, backend.ErrExists)
		assertBlob(t, b, "k", []byte("first"))
	})

	t.Run("DeleteMissing", func(t *testing.T) {
		b := newBackend(t, h)
		ctx := t.Context()
		assert.NoError(t, b.DeleteBlob(ctx, "missing"))
		require.NoError(t, b.PutBlob(ctx, "k", []byte("value")))
		require.NoError(t, b.DeleteBlob(ctx, "k"))
		assert.NoError(t, b.DeleteBlob(ctx, "k"), "second DeleteBlob")
		assertNoBlob(t, b, "k")
	})

	t.Run("GetMissing", func(t *testing.T) {
		b := newBackend(t, h)
		require.NoError(t, b.PutBlob(t.Context(), "other", []byte("value")))
		for _, key := range []string{"missing", "othe", "other/", "Other"} {
			assertNoBlob(t, b, key)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		b := newBackend(t, h)
		require.NoError(t, b.PutBlob(t.Context(), "k", []byte{}))
		got, err := b.GetBlob(t.Context(), "k")
		require.NoError(t, err)
		assert.Empty(t, got)
	})

	t.Run("EveryByte", func(t *testing.T) {
		b := newBackend(t, h)
		data := make([]byte, 512)
		for i := range data {
			data[i] = byte(i)
		}
		require.NoError(t, b.PutBlob(t.Context(), "k", data))
		assertBlob(t, b, "k", data)
		rev := mustCreate(t, b, "r", data)
		assertRecord(t, b, "r", rev, data)
	})

	t.Run("IndependentOfRecords", func(t *testing.T) {
		b := newBackend(t, h)
		ctx := t.Context()
		require.NoError(t, b.PutBlob(ctx, "blob", []byte("b")))
		mustCreate(t, b, "record", []byte("r"))
		assertNoRecord(t, b, "blob")
		assertNoBlob(t, b, "record")
	})
}

// testBlobViewer checks the optional backend.BlobViewer: the same blobs
// and errors as GetBlob, and results that stay valid after the blob is
// deleted or the backend closed.
func testBlobViewer(t *testing.T, h Harness) {
	b := newBackend(t, h)
	v := b.(backend.BlobViewer)
	ctx := t.Context()
	data := randomBytes(1500, 7)
	require.NoError(t, b.PutBlob(ctx, "k", data))
	require.NoError(t, b.PutBlob(ctx, "empty", []byte{}))
	got, err := v.ViewBlob(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, data, got, "ViewBlob")
	empty, err := v.ViewBlob(ctx, "empty")
	require.NoError(t, err)
	assert.NotNil(t, empty, "ViewBlob of an empty blob")
	assert.Empty(t, empty, "ViewBlob of an empty blob")
	_, err = v.ViewBlob(ctx, "missing")
	assert.ErrorIs(t, err, backend.ErrNotFound, "ViewBlob of a missing blob")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = v.ViewBlob(cancelled, "k")
	assert.ErrorIs(t, err, context.Canceled, "ViewBlob with a cancelled context")

	require.NoError(t, b.DeleteBlob(ctx, "k"))
	_, err = v.ViewBlob(ctx, "k")
	assert.ErrorIs(t, err, backend.ErrNotFound, "ViewBlob after DeleteBlob")
	require.NoError(t, b.Close())
	_, err = v.ViewBlob(ctx, "empty")
	assert.ErrorIs(t, err, backend.ErrClosed, "ViewBlob after Close")
	assert.Equal(t, data, got, "a viewed blob changed after DeleteBlob and Close")
}

// testRecordBlobGetter checks GetRecordBlob against GetRecord and GetBlob:
// the blob comes only with a current known revision, and is the caller's.
func testRecordBlobGetter(t *testing.T, h Harness) {
	b := newBackend(t, h)
	g := b.(backend.RecordBlobGetter)
	ctx := t.Context()
	data := randomBytes(1500, 9)
	require.NoError(t, b.PutBlob(ctx, "blob", data))
	rev, err := b.CreateRecord(ctx, "rec", []byte("v1"))
	require.NoError(t, err)

	rec, blob, err := g.GetRecordBlob(ctx, "rec", rev, "blob")
	require.NoError(t, err)
	assert.Equal(t, rev, rec.Revision)
	assert.Nil(t, rec.Data, "the record's data with a current known revision")
	assert.Equal(t, data, blob, "the blob with a current known revision")
	blob[0] ^= 0xff // the caller's to modify
	again, err := b.GetBlob(ctx, "blob")
	require.NoError(t, err)
	assert.Equal(t, data, again, "the stored blob after the caller modified what GetRecordBlob returned")

	rec, blob, err = g.GetRecordBlob(ctx, "rec", 0, "blob")
	require.NoError(t, err)
	assert.Equal(t, []byte("v1"), rec.Data, "no known revision: the record's data")
	assert.Nil(t, blob, "no known revision: no blob")

	rec, blob, err = g.GetRecordBlob(ctx, "rec", rev, "missing")
	require.NoError(t, err)
	assert.Nil(t, rec.Data)
	assert.Nil(t, blob, "a missing blob")

	rev2, err := b.UpdateRecord(ctx, "rec", rev, []byte("v2"))
	require.NoError(t, err)
	rec, blob, err = g.GetRecordBlob(ctx, "rec", rev, "blob")
	require.NoError(t, err)
	assert.Equal(t, rev2, rec.Revision)
	assert.Equal(t, []byte("v2"), rec.Data, "a changed record's data")
	assert.Nil(t, blob, "a changed record: no blob")

	_, _, err = g.GetRecordBlob(ctx, "none", 1, "blob")
	assert.ErrorIs(t, err, backend.ErrNotFound, "a missing record")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err = g.GetRecordBlob(cancelled, "rec", rev2, "blob")
	assert.ErrorIs(t, err, context.Canceled, "a cancelled context")
	require.NoError(t, b.Close())
	_, _, err = g.GetRecordBlob(ctx, "rec", rev2, "blob")
	assert.ErrorIs(t, err, backend.ErrClosed, "after Close")
}

// putter returns b as a backend.RecordBlobPutter, failing the test if it is
// not one (a handle from Harness.Reopen must be one when the first is).
func putter(t *testing.T, b backend.Backend) backend.RecordBlobPutter {
	t.Helper()
	p, ok := b.(backend.RecordBlobPutter)
	require.True(t, ok, "%T is not a backend.RecordBlobPutter", b)
	return p
}

// mustPut calls PutRecordBlob and fails the test unless it succeeds with a
// nonzero revision.
func mustPut(t *testing.T, p backend.RecordBlobPutter, key string, rev uint64, data []byte, blobKey string, blob []byte) uint64 {
	t.Helper()
	newRev, err := p.PutRecordBlob(t.Context(), key, rev, data, blobKey, blob)
	require.NoError(t, err, "PutRecordBlob(%q, %d, blob %q)", key, rev, blobKey)
	require.NotZero(t, newRev, "PutRecordBlob(%q, %d, blob %q) returned revision 0", key, rev, blobKey)
	return newRev
}

// assertBlobKeys checks that ListBlobs lists exactly want (in ascending
// order), so that a blob a failed call stored shows up however it is named.
func assertBlobKeys(t *testing.T, b backend.Backend, what string, want ...string) {
	t.Helper()
	got, err := b.ListBlobs(t.Context(), "", 1000)
	if !assert.NoError(t, err, "ListBlobs %s", what) {
		return
	}
	if len(want) == 0 {
		assert.Empty(t, got, "ListBlobs %s", what)
	} else {
		assert.Equal(t, want, got, "ListBlobs %s", what)
	}
}

// testRecordBlobPutter checks PutRecordBlob against PutBlob, CreateRecord
// and UpdateRecord: when it succeeds both writes happened, and when it
// returns a sentinel error (or the context is done, or the backend closed)
// neither did.
func testRecordBlobPutter(t *testing.T, h Harness) {
	newPutter := func(t *testing.T) (backend.Backend, backend.RecordBlobPutter) {
		b := newBackend(t, h)
		return b, putter(t, b)
	}

	t.Run("Create", func(t *testing.T) {
		b, p := newPutter(t)
		data, blob := []byte("record v1"), randomBytes(1500, 11)
		rev := mustPut(t, p, "rec", 0, data, "blob/1", blob)
		assertRecord(t, b, "rec", rev, data)
		assertBlob(t, b, "blob/1", blob)
		assertBlobKeys(t, b, "after a create with a blob", "blob/1")
		recs, err := b.ListRecords(t.Context(), "", "", 10)
		require.NoError(t, err)
		assert.Equal(t, []backend.Record{{Key: "rec", Revision: rev, Data: data}}, recs, "ListRecords after a create with a blob")

		// The revision returned is the record's: UpdateRecord takes it.
		rev2 := mustUpdate(t, b, "rec", rev, []byte("record v2"))
		assert.NotEqual(t, rev, rev2, "UpdateRecord after PutRecordBlob kept the revision")
	})

	t.Run("Update", func(t *testing.T) {
		b, p := newPutter(t)
		rev1 := mustCreate(t, b, "rec", []byte("v1"))
		blob1, blob2 := randomBytes(700, 12), randomBytes(900, 13)
		rev2 := mustPut(t, p, "rec", rev1, []byte("v2"), "blob/1", blob1)
		assert.NotEqual(t, rev1, rev2, "PutRecordBlob update kept the revision")
		assertRecord(t, b, "rec", rev2, []byte("v2"))
		assertBlob(t, b, "blob/1", blob1)

		rev3 := mustPut(t, p, "rec", rev2, []byte("v3"), "blob/2", blob2)
		assert.NotContains(t, []uint64{rev1, rev2}, rev3, "second PutRecordBlob update reuses a revision")
		assertRecord(t, b, "rec", rev3, []byte("v3"))
		assertBlob(t, b, "blob/2", blob2)
		assertBlob(t, b, "blob/1", blob1) // the record's old blob stays
		assertBlobKeys(t, b, "after two updates with a blob", "blob/1", "blob/2")

		got, err := b.GetRecord(t.Context(), "rec", rev2)
		require.NoError(t, err)
		assert.Equal(t, rev3, got.Revision, "GetRecord with the revision PutRecordBlob replaced")
		assert.Equal(t, []byte("v3"), got.Data, "GetRecord with the revision PutRecordBlob replaced")
		rev4 := mustUpdate(t, b, "rec", rev3, []byte("v4"))
		assertRecord(t, b, "rec", rev4, []byte("v4"))
	})

	t.Run("SameKey", func(t *testing.T) {
		// Records and blobs are apart: a record and its blob may share a
		// key (and a backend's shard, or lock, or file).
		b, p := newPutter(t)
		rev := mustPut(t, p, "k", 0, []byte("record"), "k", []byte("blob"))
		assertRecord(t, b, "k", rev, []byte("record"))
		assertBlob(t, b, "k", []byte("blob"))
		_, err := p.PutRecordBlob(t.Context(), "k", rev, []byte("changed"), "k", []byte("overwrite"))
		assert.ErrorIs(t, err, backend.ErrExists, "PutRecordBlob with the key of its record's existing blob")
		rev2 := mustPut(t, p, "k2", 0, []byte("record 2"), "k2", []byte("blob 2"))
		rev3 := mustPut(t, p, "k", rev, []byte("v2"), "k3", []byte("blob 3"))
		assertRecord(t, b, "k", rev3, []byte("v2"))
		assertRecord(t, b, "k2", rev2, []byte("record 2"))
		assertBlob(t, b, "k", []byte("blob"))
		assertBlobKeys(t, b, "after puts with shared keys", "k", "k2", "k3")
	})

	t.Run("CreateExisting", func(t *testing.T) {
		b, p := newPutter(t)
		ctx := t.Context()
		rev := mustCreate(t, b, "rec", []byte("first"))
		_, err := p.PutRecordBlob(ctx, "rec", 0, []byte("second"), "blob/1", []byte("lost"))
		assert.ErrorIs(t, err, backend.ErrExists, "PutRecordBlob creating a record that CreateRecord made")
		assertRecord(t, b, "rec", rev, []byte("first"))
		assertNoBlob(t, b, "blob/1")

		rev2 := mustPut(t, p, "rec2", 0, []byte("first"), "blob/2", []byte("kept"))
		_, err = p.PutRecordBlob(ctx, "rec2", 0, []byte("second"), "blob/3", []byte("lost"))
		assert.ErrorIs(t, err, backend.ErrExists, "PutRecordBlob creating a record that PutRecordBlob made")
		assertRecord(t, b, "rec2", rev2, []byte("first"))
		assertNoBlob(t, b, "blob/3")
		assertBlobKeys(t, b, "after creates of existing records", "blob/2")
	})

	t.Run("UpdateMissing", func(t *testing.T) {
		b, p := newPutter(t)
		ctx := t.Context()
		mustCreate(t, b, "other", []byte("x"))
		_, err := p.PutRecordBlob(ctx, "missing", 1, []byte("data"), "blob/1", []byte("lost"))
		assert.ErrorIs(t, err, backend.ErrNotFound, "PutRecordBlob updating a record that never existed")
		assertNoRecord(t, b, "missing")
		assertNoBlob(t, b, "blob/1")

		rev := mustPut(t, p, "deleted", 0, []byte("x"), "blob/2", []byte("kept"))
		require.NoError(t, b.DeleteRecord(ctx, "deleted", rev))
		_, err = p.PutRecordBlob(ctx, "deleted", rev, []byte("data"), "blob/3", []byte("lost"))
		assert.ErrorIs(t, err, backend.ErrNotFound, "PutRecordBlob updating a deleted record with its last revision")
		assertNoRecord(t, b, "deleted")
		assertNoBlob(t, b, "blob/3")
		assertBlobKeys(t, b, "after updates of missing records", "blob/2")
	})

	t.Run("StaleRevision", func(t *testing.T) {
		b, p := newPutter(t)
		ctx := t.Context()
		rev1 := mustPut(t, p, "rec", 0, []byte("v1"), "blob/1", []byte("b1"))
		rev2 := mustUpdate(t, b, "rec", rev1, []byte("v2"))
		for i, stale := range []uint64{rev1, rev2 + 1000} {
			blobKey := fmt.Sprintf("blob/lost%d", i)
			_, err := p.PutRecordBlob(ctx, "rec", stale, []byte("lost"), blobKey, []byte("lost"))
			assert.ErrorIs(t, err, backend.ErrConflict, "PutRecordBlob with revision %d, current %d", stale, rev2)
			assertNoBlob(t, b, blobKey)
		}
		assertRecord(t, b, "rec", rev2, []byte("v2"))
		assertBlobKeys(t, b, "after updates with stale revisions", "blob/1")
	})

	t.Run("BlobExists", func(t *testing.T) {
		b, p := newPutter(t)
		ctx := t.Context()
		require.NoError(t, b.PutBlob(ctx, "blob", []byte("existing")))
		rev := mustCreate(t, b, "rec", []byte("v1"))

		_, err := p.PutRecordBlob(ctx, "new", 0, []byte("new"), "blob", []byte("overwrite"))
		assert.ErrorIs(t, err, backend.ErrExists, "PutRecordBlob creating a record with an existing blob's key")
		assertNoRecord(t, b, "new")
		_, err = p.PutRecordBlob(ctx, "rec", rev, []byte("v2"), "blob", []byte("overwrite"))
		assert.ErrorIs(t, err, backend.ErrExists, "PutRecordBlob updating a record with an existing blob's key")
		assertRecord(t, b, "rec", rev, []byte("v1"))
		assertBlob(t, b, "blob", []byte("existing"))

		// A blob that PutRecordBlob stored is as immutable.
		rev2 := mustPut(t, p, "rec", rev, []byte("v2"), "blob/2", []byte("second"))
		_, err = p.PutRecordBlob(ctx, "rec", rev2, []byte("v3"), "blob/2", []byte("overwrite"))
		assert.ErrorIs(t, err, backend.ErrExists, "PutRecordBlob with the key of a blob PutRecordBlob stored")
		_, err = p.PutRecordBlob(ctx, "new", 0, []byte("new"), "blob/2", []byte("overwrite"))
		assert.ErrorIs(t, err, backend.ErrExists, "PutRecordBlob creating a record with the key of a blob PutRecordBlob stored")
		assertNoRecord(t, b, "new")
		assertRecord(t, b, "rec", rev2, []byte("v2"))
		assertBlob(t, b, "blob/2", []byte("second"))

		// The revision the failed calls named is still the record's.
		rev3 := mustPut(t, p, "rec", rev2, []byte("v3"), "blob/3", []byte("third"))
		assertRecord(t, b, "rec", rev3, []byte("v3"))
		assertBlobKeys(t, b, "after puts with existing blob keys", "blob", "blob/2", "blob/3")
	})

	t.Run("EmptyData", func(t *testing.T) {
		b, p := newPutter(t)
		ctx := t.Context()
		// checkEmpty checks that the record and the blob read back as
		// non-nil empty slices: a nil record Data means "your copy is
		// current".
		checkEmpty := func(t *testing.T, rev, known uint64, blobKey string) {
			t.Helper()
			got, err := b.GetRecord(ctx, "rec", known)
			if assert.NoError(t, err, "GetRecord of an empty record") {
				assert.Equal(t, rev, got.Revision, "GetRecord of an empty record")
				assert.NotNil(t, got.Data, "empty record read with known revision %d returned nil Data", known)
				assert.Empty(t, got.Data, "GetRecord of an empty record")
			}
			blob, err := b.GetBlob(ctx, blobKey)
			if assert.NoError(t, err, "GetBlob(%q) of an empty blob", blobKey) {
				assert.NotNil(t, blob, "GetBlob(%q) of an empty blob returned nil", blobKey)
				assert.Empty(t, blob, "GetBlob(%q) of an empty blob", blobKey)
			}
			if v, ok := b.(backend.BlobViewer); ok {
				blob, err := v.ViewBlob(ctx, blobKey)
				if assert.NoError(t, err, "ViewBlob(%q) of an empty blob", blobKey) {
					assert.NotNil(t, blob, "ViewBlob(%q) of an empty blob returned nil", blobKey)
					assert.Empty(t, blob, "ViewBlob(%q) of an empty blob", blobKey)
				}
			}
		}
		rev1 := mustPut(t, p, "rec", 0, []byte{}, "blob/1", []byte{})
		checkEmpty(t, rev1, 0, "blob/1")
		rev2 := mustPut(t, p, "rec", rev1, []byte{}, "blob/2", []byte{})
		checkEmpty(t, rev2, 0, "blob/2")
		checkEmpty(t, rev2, rev1, "blob/2")
		assertBlobKeys(t, b, "after puts of empty blobs", "blob/1", "blob/2")
	})

	t.Run("CopyIsolation", func(t *testing.T) {
		b, p := newPutter(t)
		data, blob := []byte("original"), []byte("original blob")
		rev := mustPut(t, p, "rec", 0, data, "blob/1", blob)
		copy(data, "MUTATED!")
		copy(blob, "MUTATED!")
		assertRecord(t, b, "rec", rev, []byte("original"))
		assertBlob(t, b, "blob/1", []byte("original blob"))

		data, blob = []byte("updated"), []byte("updated blob")
		rev = mustPut(t, p, "rec", rev, data, "blob/2", blob)
		copy(data, "MUTATED")
		copy(blob, "MUTATED!")
		assertRecord(t, b, "rec", rev, []byte("updated"))
		assertBlob(t, b, "blob/2", []byte("updated blob"))
	})

	t.Run("LargeValues", func(t *testing.T) {
		const size = 1 << 20
		b, p := newPutter(t)
		data, blob := randomBytes(size, 14), randomBytes(size, 15)
		rev := mustPut(t, p, "rec", 0, data, "blob", blob)
		got, err := b.GetRecord(t.Context(), "rec", 0)
		require.NoError(t, err)
		assert.Equal(t, rev, got.Revision)
		assert.True(t, bytes.Equal(data, got.Data), "1 MiB record differs after PutRecordBlob: got %d bytes", len(got.Data))
		gotBlob, err := b.GetBlob(t.Context(), "blob")
		require.NoError(t, err)
		assert.True(t, bytes.Equal(blob, gotBlob), "1 MiB blob differs after PutRecordBlob: got %d bytes", len(gotBlob))
	})

	t.Run("RevisionsNeverReused", func(t *testing.T) {
		b, p := newPutter(t)
		ctx := t.Context()
		seen := map[uint64]string{}
		note := func(rev uint64, what string) {
			t.Helper()
			if prev, ok := seen[rev]; ok {
				t.Fatalf("%s: got revision %d, already given to %s", what, rev, prev)
			}
			seen[rev] = what
		}
		n := 0
		freshBlob := func() string { n++; return fmt.Sprintf("blob/%03d", n) }
		var (
			oldRevs []uint64 // the revisions the record had
			stored  []string // the blobs stored
			lost    []string // the blobs of puts that failed
		)
		for life := range 3 {
			blobKey := freshBlob()
			rev := mustPut(t, p, "k", 0, []byte("created"), blobKey, []byte(blobKey))
			stored = append(stored, blobKey)
			note(rev, fmt.Sprintf("PutRecordBlob create #%d", life))
			for i := range 3 {
				// A revision from an earlier content of the key, in this
				// life or an earlier one, must not match the current one.
				for _, old := range oldRevs {
					blobKey := freshBlob()
					_, err := p.PutRecordBlob(ctx, "k", old, []byte("stale"), blobKey, []byte("stale"))
					assert.ErrorIs(t, err, backend.ErrConflict, "PutRecordBlob with old revision %d, current %d", old, rev)
					lost = append(lost, blobKey)
				}
				data := fmt.Appendf(nil, "life %d update %d", life, i)
				var newRev uint64
				if i == 1 {
					newRev = mustUpdate(t, b, "k", rev, data)
					note(newRev, fmt.Sprintf("life %d UpdateRecord %d", life, i))
				} else {
					blobKey := freshBlob()
					newRev = mustPut(t, p, "k", rev, data, blobKey, []byte(blobKey))
					stored = append(stored, blobKey)
					note(newRev, fmt.Sprintf("life %d PutRecordBlob update %d", life, i))
				}
				oldRevs = append(oldRevs, rev)
				rev = newRev
				assertRecord(t, b, "k", rev, data)
			}
			require.NoError(t, b.DeleteRecord(ctx, "k", rev))
			oldRevs = append(oldRevs, rev)
		}
		for _, k := range lost {
			assertNoBlob(t, b, k)
		}
		assertBlobKeys(t, b, "after puts with old revisions", stored...)
	})

	t.Run("ContextCancellation", func(t *testing.T) {
		for _, tc := range doneContexts {
			t.Run(tc.name, func(t *testing.T) {
				b, p := newPutter(t)
				rev := mustCreate(t, b, "rec", []byte("original"))
				done := tc.ctx(t)
				_, err := p.PutRecordBlob(done, "new", 0, []byte("new"), "blob/new", []byte("new"))
				assert.ErrorIs(t, err, tc.want, "PutRecordBlob creating")
				_, err = p.PutRecordBlob(done, "rec", rev, []byte("changed"), "blob/changed", []byte("changed"))
				assert.ErrorIs(t, err, tc.want, "PutRecordBlob updating")

				// Neither call wrote anything.
				assertNoRecord(t, b, "new")
				assertRecord(t, b, "rec", rev, []byte("original"))
				assertNoBlob(t, b, "blob/new")
				assertNoBlob(t, b, "blob/changed")
				assertBlobKeys(t, b, "after PutRecordBlob with a done context")
			})
		}
	})

	t.Run("UseAfterClose", func(t *testing.T) {
		b, p := newPutter(t)
		ctx := t.Context()
		rev := mustCreate(t, b, "rec", []byte("data"))
		var b2 backend.Backend
		if h.Reopen != nil {
			b2 = reopen(t, h, b)
		}
		require.NoError(t, b.Close())
		_, err := p.PutRecordBlob(ctx, "new", 0, []byte("new"), "blob/new", []byte("new"))
		assert.ErrorIs(t, err, backend.ErrClosed, "PutRecordBlob creating after Close")
		_, err = p.PutRecordBlob(ctx, "rec", rev, []byte("changed"), "blob/changed", []byte("changed"))
		assert.ErrorIs(t, err, backend.ErrClosed, "PutRecordBlob updating after Close")
		if b2 != nil {
			// The storage, seen through another handle, did not change.
			assertNoRecord(t, b2, "new")
			assertRecord(t, b2, "rec", rev, []byte("data"))
			assertBlobKeys(t, b2, "through a second handle after PutRecordBlob on a closed one")
		}
	})

	t.Run("AcrossHandles", func(t *testing.T) {
		if h.Reopen == nil {
			t.Skip("Harness.Reopen is nil")
		}
		b1, p1 := newPutter(t)
		ctx := t.Context()
		b2 := reopen(t, h, b1)
		p2 := putter(t, b2)
		blob1, blob2, blob3 := randomBytes(600, 16), randomBytes(700, 17), randomBytes(800, 18)

		// Each handle sees the other's writes as soon as the call returns.
		rev1 := mustPut(t, p1, "rec", 0, []byte("from b1"), "blob/1", blob1)
		assertRecord(t, b2, "rec", rev1, []byte("from b1"))
		assertBlob(t, b2, "blob/1", blob1)
		rev2 := mustPut(t, p2, "rec", rev1, []byte("from b2"), "blob/2", blob2)
		assertRecord(t, b1, "rec", rev2, []byte("from b2"))
		assertBlob(t, b1, "blob/2", blob2)

		// Compare-and-swap holds across handles.
		_, err := p1.PutRecordBlob(ctx, "rec", rev1, []byte("lost"), "blob/lost1", []byte("lost"))
		assert.ErrorIs(t, err, backend.ErrConflict, "b1 puts with the revision b2 replaced")
		_, err = p1.PutRecordBlob(ctx, "rec", 0, []byte("lost"), "blob/lost2", []byte("lost"))
		assert.ErrorIs(t, err, backend.ErrExists, "b1 creates the record b2 updated")
		_, err = p1.PutRecordBlob(ctx, "rec", rev2, []byte("lost"), "blob/2", []byte("overwrite"))
		assert.ErrorIs(t, err, backend.ErrExists, "b1 puts the blob b2 stored")
		for _, hb := range []backend.Backend{b1, b2} {
			assertRecord(t, hb, "rec", rev2, []byte("from b2"))
			assertBlob(t, hb, "blob/2", blob2)
			assertNoBlob(t, hb, "blob/lost1")
			assertNoBlob(t, hb, "blob/lost2")
		}

		// What PutRecordBlob stored survives the handle's Close.
		rev3 := mustPut(t, p1, "rec", rev2, []byte("before close"), "blob/3", blob3)
		require.NoError(t, b1.Close())
		assertRecord(t, b2, "rec", rev3, []byte("before close"))
		assertBlob(t, b2, "blob/3", blob3)
		assertBlobKeys(t, b2, "after puts through two handles", "blob/1", "blob/2", "blob/3")
	})

	t.Run("ConcurrentSafe", func(t *testing.T) { testRecordBlobPutterRace(t, h) })
}

// testRecordBlobPutterRace races goroutines that each put their own fresh
// blob with the same record: a create, or an update from the same revision.
// Exactly one may win each round, and the losers' blobs must not exist. With
// Harness.Reopen, half the goroutines use a second handle. Then pairs of
// goroutines put records and blobs with each other's keys, to catch a
// backend that locks a record's and a blob's storage in an order that can
// deadlock (it hangs until go test's -timeout).
func testRecordBlobPutterRace(t *testing.T, h Harness) {
	const (
		goroutines = 8
		rounds     = 10
	)
	handles := func(t *testing.T) []backend.Backend {
		b := newBackend(t, h)
		if h.Reopen == nil {
			return []backend.Backend{b}
		}
		return []backend.Backend{b, reopen(t, h, b)}
	}
	// race has every goroutine put key with revision rev and a blob of
	// its own, and checks that exactly one succeeded, that the others got
	// loserErr and that only the winner's blob exists. It returns the
	// winner's blob key.
	race := func(t *testing.T, hs []backend.Backend, round int, key string, rev uint64, loserErr error) string {
		t.Helper()
		var (
			wg   sync.WaitGroup
			errs [goroutines]error
			revs [goroutines]uint64
		)
		blobKey := func(g int) string { return fmt.Sprintf("blob/%s/%d/%d", key, round, g) }
		data := func(g int) []byte { return fmt.Appendf(nil, "round %d goroutine %d", round, g) }
		start := make(chan struct{})
		for g := range goroutines {
			p := putter(t, hs[g%len(hs)])
			wg.Go(func() {
				<-start
				revs[g], errs[g] = p.PutRecordBlob(t.Context(), key, rev, data(g), blobKey(g), data(g))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for g, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Errorf("round %d: PutRecordBlob(%q, %d) of goroutines %d and %d both succeeded", round, key, rev, winner, g)
				}
				winner = g
			case !errors.Is(err, loserErr):
				t.Errorf("round %d: goroutine %d: PutRecordBlob(%q, %d) got %v, want %v", round, g, key, rev, err, loserErr)
			}
		}
		require.GreaterOrEqual(t, winner, 0, "round %d: no PutRecordBlob(%q, %d) succeeded", round, key, rev)
		for _, hb := range hs {
			assertRecord(t, hb, key, revs[winner], data(winner))
			for g := range goroutines {
				if g == winner {
					assertBlob(t, hb, blobKey(g), data(g))
				} else {
					_, err := hb.GetBlob(t.Context(), blobKey(g))
					assert.ErrorIs(t, err, backend.ErrNotFound, "round %d: the blob of goroutine %d, which lost with %v", round, g, errs[g])
				}
			}
		}
		return blobKey(winner)
	}

	t.Run("Create", func(t *testing.T) {
		hs := handles(t)
		var winners []string
		for round := range rounds {
			winners = append(winners, race(t, hs, round, fmt.Sprintf("k%d", round), 0, backend.ErrExists))
		}
		slices.Sort(winners)
		assertBlobKeys(t, hs[0], "after the races", winners...)
	})

	t.Run("Update", func(t *testing.T) {
		hs := handles(t)
		var winners []string
		for round := range rounds {
			key := fmt.Sprintf("k%d", round%2)
			var rev uint64
			if round < 2 {
				rev = mustCreate(t, hs[0], key, []byte("created"))
			} else {
				rec, err := hs[0].GetRecord(t.Context(), key, 0)
				require.NoError(t, err)
				rev = rec.Revision
			}
			winners = append(winners, race(t, hs, round, key, rev, backend.ErrConflict))
		}
		slices.Sort(winners)
		assertBlobKeys(t, hs[0], "after the races", winners...)
	})

	t.Run("CrossedKeys", func(t *testing.T) {
		const (
			rounds = 1000
			pairs  = 4
		)
		b := newBackend(t, h)
		p := putter(t, b)
		// In each round, the goroutines of a pair start together and put
		// record x<round>/<pair> with blob y<round>/<pair>, and record
		// y<round>/<pair> with blob x<round>/<pair>.
		keys := func(round, g int) (record, blob string) {
			x, y := fmt.Sprintf("x%d/%d", round, g/2), fmt.Sprintf("y%d/%d", round, g/2)
			if g%2 == 1 {
				return y, x
			}
			return x, y
		}
		for round := range rounds {
			var (
				wg   sync.WaitGroup
				errs [2 * pairs]error
			)
			start := make(chan struct{})
			for g := range 2 * pairs {
				rk, bk := keys(round, g)
				wg.Go(func() {
					<-start
					_, errs[g] = p.PutRecordBlob(t.Context(), rk, 0, []byte(rk), bk, []byte(bk))
				})
			}
			close(start)
			wg.Wait()
			for g, err := range errs {
				rk, bk := keys(round, g)
				if !assert.NoError(t, err, "PutRecordBlob(%q, blob %q)", rk, bk) {
					continue
				}
				got, err := b.GetRecord(t.Context(), rk, 0)
				if assert.NoError(t, err, "GetRecord(%q)", rk) {
					assert.Equal(t, []byte(rk), got.Data, "GetRecord(%q)", rk)
				}
				assertBlob(t, b, bk, []byte(bk))
			}
		}
	})
}

// randomBytes returns n bytes from a fixed-seed generator.
func randomBytes(n int, seed uint64) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	data := make([]byte, n)
	_, _ = r.Read(data)
	return data
}

func testLargeValues(t *testing.T, h Harness) {
	const size = 1 << 20
	b := newBackend(t, h)
	ctx := t.Context()

	t.Run("Record", func(t *testing.T) {
		data1 := randomBytes(size, 1)
		rev := mustCreate(t, b, "record", data1)
		got, err := b.GetRecord(ctx, "record", 0)
		require.NoError(t, err)
		assert.Equal(t, rev, got.Revision)
		assert.True(t, bytes.Equal(data1, got.Data), "1 MiB record differs after create: got %d bytes", len(got.Data))

		data2 := randomBytes(size, 2)
		rev = mustUpdate(t, b, "record", rev, data2)
		got, err = b.GetRecord(ctx, "record", 0)
		require.NoError(t, err)
		assert.Equal(t, rev, got.Revision)
		assert.True(t, bytes.Equal(data2, got.Data), "1 MiB record differs after update: got %d bytes", len(got.Data))

		recs, err := b.ListRecords(ctx, "", "", 10)
		require.NoError(t, err)
		require.Len(t, recs, 1)
		assert.True(t, bytes.Equal(data2, recs[0].Data), "1 MiB record differs in ListRecords: got %d bytes", len(recs[0].Data))
	})

	t.Run("Blob", func(t *testing.T) {
		data := randomBytes(size, 3)
		require.NoError(t, b.PutBlob(ctx, "blob", data))
		got, err := b.GetBlob(ctx, "blob")
		require.NoError(t, err)
		assert.True(t, bytes.Equal(data, got), "1 MiB blob differs: got %d bytes", len(got))
	})
}

// testCompareAndSwapRace has 16 goroutines each add 1 to a counter record 50
// times by read-modify-write, retrying on ErrConflict. A lost update leaves
// the counter short of 800. With acrossHandles, half the goroutines use a
// second handle from Harness.Reopen.
func testCompareAndSwapRace(t *testing.T, h Harness, acrossHandles bool) {
	const (
		goroutines = 16
		increments = 50
		maxRetries = 100 * goroutines * increments
		key        = "counter"
	)
	b := newBackend(t, h)
	handles := []backend.Backend{b}
	if acrossHandles {
		handles = append(handles, reopen(t, h, b))
	}
	mustCreate(t, b, key, []byte("0"))

	var (
		mu   sync.Mutex
		revs = map[uint64]int{} // revision returned by a successful update → new counter value
		wg   sync.WaitGroup
	)
	start := make(chan struct{})
	for g := range goroutines {
		hb := handles[g%len(handles)]
		wg.Go(func() {
			ctx := t.Context()
			<-start
			// Cache the last content seen, as the engine does, to exercise
			// GetRecord with a known revision under contention.
			var cachedRev uint64
			var cachedN int
			retries := 0
			for range increments {
				for {
					rec, err := hb.GetRecord(ctx, key, cachedRev)
					if err != nil {
						t.Errorf("goroutine %d: GetRecord: %v", g, err)
						return
					}
					n := cachedN
					if rec.Data != nil || rec.Revision != cachedRev {
						if n, err = strconv.Atoi(string(rec.Data)); err != nil {
							t.Errorf("goroutine %d: GetRecord(%q, %d) returned revision %d with data %q: %v",
								g, key, cachedRev, rec.Revision, rec.Data, err)
							return
						}
					}
					cachedRev, cachedN = rec.Revision, n
					rev, err := hb.UpdateRecord(ctx, key, rec.Revision, []byte(strconv.Itoa(n+1)))
					if errors.Is(err, backend.ErrConflict) {
						if retries++; retries > maxRetries {
							t.Errorf("goroutine %d: more than %d conflicts", g, maxRetries)
							return
						}
						continue
					}
					if err != nil {
						t.Errorf("goroutine %d: UpdateRecord: %v", g, err)
						return
					}
					mu.Lock()
					if prev, dup := revs[rev]; dup {
						t.Errorf("goroutine %d: UpdateRecord returned revision %d, already returned for value %d", g, rev, prev)
					}
					revs[rev] = n + 1
					mu.Unlock()
					break
				}
			}
		})
	}
	close(start)
	wg.Wait()
	require.False(t, t.Failed(), "a goroutine failed")

	for i, hb := range handles {
		rec, err := hb.GetRecord(t.Context(), key, 0)
		require.NoError(t, err, "handle %d", i)
		assert.Equal(t, strconv.Itoa(goroutines*increments), string(rec.Data), "handle %d: final counter", i)
		stored, ok := revs[rec.Revision]
		assert.True(t, ok, "handle %d: final revision %d was never returned by UpdateRecord", i, rec.Revision)
		assert.Equal(t, strconv.Itoa(stored), string(rec.Data), "handle %d: final revision %d holds other data than its update stored", i, rec.Revision)
	}
	assert.Len(t, revs, goroutines*increments, "successful updates")
}

// testConcurrentCreates races 16 writers to create one record, and one blob,
// in each of several rounds: exactly one may win each round.
func testConcurrentCreates(t *testing.T, h Harness) {
	const (
		goroutines = 16
		rounds     = 10
	)
	// race runs op concurrently for every goroutine and returns the
	// goroutine that succeeded, failing the test unless exactly one did and
	// the others got ErrExists.
	race := func(t *testing.T, op func(g int) error) int {
		t.Helper()
		var (
			wg   sync.WaitGroup
			errs [goroutines]error
		)
		start := make(chan struct{})
		for g := range goroutines {
			wg.Go(func() {
				<-start
				errs[g] = op(g)
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for g, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Errorf("goroutines %d and %d both succeeded", winner, g)
				}
				winner = g
			case !errors.Is(err, backend.ErrExists):
				t.Errorf("goroutine %d: got %v, want ErrExists", g, err)
			}
		}
		require.GreaterOrEqual(t, winner, 0, "no goroutine succeeded")
		return winner
	}
	handles := func(t *testing.T) []backend.Backend {
		b := newBackend(t, h)
		if h.Reopen == nil {
			return []backend.Backend{b}
		}
		return []backend.Backend{b, reopen(t, h, b)}
	}

	t.Run("CreateRecord", func(t *testing.T) {
		hs := handles(t)
		for round := range rounds {
			key := fmt.Sprintf("k%d", round)
			var revs [goroutines]uint64
			winner := race(t, func(g int) error {
				var err error
				revs[g], err = hs[g%len(hs)].CreateRecord(t.Context(), key, []byte(strconv.Itoa(g)))
				return err
			})
			for _, hb := range hs {
				assertRecord(t, hb, key, revs[winner], []byte(strconv.Itoa(winner)))
			}
		}
	})

	t.Run("PutBlob", func(t *testing.T) {
		hs := handles(t)
		for round := range rounds {
			key := fmt.Sprintf("k%d", round)
			winner := race(t, func(g int) error {
				return hs[g%len(hs)].PutBlob(t.Context(), key, []byte(strconv.Itoa(g)))
			})
			for _, hb := range hs {
				assertBlob(t, hb, key, []byte(strconv.Itoa(winner)))
			}
		}
	})
}

// doneContexts are the ways a context can be done before a call starts,
// with the error the call must return.
var doneContexts = []struct {
	name string
	ctx  func(t *testing.T) context.Context
	want error
}{
	{"Canceled", func(t *testing.T) context.Context {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		return ctx
	}, context.Canceled},
	{"DeadlineExceeded", func(t *testing.T) context.Context {
		ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
		t.Cleanup(cancel)
		return ctx
	}, context.DeadlineExceeded},
}

func testContextCancellation(t *testing.T, h Harness) {
	for _, tc := range doneContexts {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, h)
			rev := mustCreate(t, b, "record", []byte("original"))
			require.NoError(t, b.PutBlob(t.Context(), "blob", []byte("original")))
			done := tc.ctx(t)

			_, err := b.GetRecord(done, "record", 0)
			assert.ErrorIs(t, err, tc.want, "GetRecord")
			_, err = b.GetRecord(done, "record", rev)
			assert.ErrorIs(t, err, tc.want, "GetRecord with the current known revision")
			_, err = b.ListRecords(done, "", "", 10)
			assert.ErrorIs(t, err, tc.want, "ListRecords")
			_, err = b.CreateRecord(done, "new", []byte("new"))
			assert.ErrorIs(t, err, tc.want, "CreateRecord")
			_, err = b.UpdateRecord(done, "record", rev, []byte("changed"))
			assert.ErrorIs(t, err, tc.want, "UpdateRecord")
			err = b.DeleteRecord(done, "record", rev)
			assert.ErrorIs(t, err, tc.want, "DeleteRecord")
			err = b.PutBlob(done, "new", []byte("new"))
			assert.ErrorIs(t, err, tc.want, "PutBlob")
			_, err = b.GetBlob(done, "blob")
			assert.ErrorIs(t, err, tc.want, "GetBlob")
			err = b.DeleteBlob(done, "blob")
			assert.ErrorIs(t, err, tc.want, "DeleteBlob")
			_, err = b.ListBlobs(done, "", 10)
			assert.ErrorIs(t, err, tc.want, "ListBlobs")

			// None of the writes happened.
			assertNoRecord(t, b, "new")
			assertRecord(t, b, "record", rev, []byte("original"))
			assertNoBlob(t, b, "new")
			assertBlob(t, b, "blob", []byte("original"))
		})
	}
}

func testUseAfterClose(t *testing.T, h Harness) {
	b := newBackend(t, h)
	ctx := t.Context()
	rev := mustCreate(t, b, "record", []byte("data"))
	require.NoError(t, b.PutBlob(ctx, "blob", []byte("data")))
	require.NoError(t, b.Close())

	_, err := b.GetRecord(ctx, "record", 0)
	assert.ErrorIs(t, err, backend.ErrClosed, "GetRecord")
	_, err = b.GetRecord(ctx, "record", rev)
	assert.ErrorIs(t, err, backend.ErrClosed, "GetRecord with the current known revision")
	_, err = b.ListRecords(ctx, "", "", 10)
	assert.ErrorIs(t, err, backend.ErrClosed, "ListRecords")
	_, err = b.CreateRecord(ctx, "new", []byte("new"))
	assert.ErrorIs(t, err, backend.ErrClosed, "CreateRecord")
	_, err = b.UpdateRecord(ctx, "record", rev, []byte("changed"))
	assert.ErrorIs(t, err, backend.ErrClosed, "UpdateRecord")
	err = b.DeleteRecord(ctx, "record", rev)
	assert.ErrorIs(t, err, backend.ErrClosed, "DeleteRecord")
	err = b.PutBlob(ctx, "new", []byte("new"))
	assert.ErrorIs(t, err, backend.ErrClosed, "PutBlob")
	_, err = b.GetBlob(ctx, "blob")
	assert.ErrorIs(t, err, backend.ErrClosed, "GetBlob")
	err = b.DeleteBlob(ctx, "blob")
	assert.ErrorIs(t, err, backend.ErrClosed, "DeleteBlob")
	_, err = b.ListBlobs(ctx, "", 10)
	assert.ErrorIs(t, err, backend.ErrClosed, "ListBlobs")

	if err := b.Close(); err != nil {
		assert.ErrorIs(t, err, backend.ErrClosed, "second Close")
	}
}

func testPersistence(t *testing.T, h Harness) {
	b1 := newBackend(t, h)
	ctx := t.Context()
	rev1 := mustCreate(t, b1, "k", []byte("from b1"))
	require.NoError(t, b1.PutBlob(ctx, "blob1", []byte("blob from b1")))
	b2 := reopen(t, h, b1)

	t.Run("ReadOtherHandle", func(t *testing.T) {
		assertRecord(t, b2, "k", rev1, []byte("from b1"))
		assertBlob(t, b2, "blob1", []byte("blob from b1"))
		require.NoError(t, b2.PutBlob(ctx, "blob2", []byte("blob from b2")))
		assertBlob(t, b1, "blob2", []byte("blob from b2"))
	})

	t.Run("CompareAndSwapAcrossHandles", func(t *testing.T) {
		rev2 := mustUpdate(t, b2, "k", rev1, []byte("from b2"))
		got, err := b1.GetRecord(ctx, "k", rev1)
		require.NoError(t, err)
		assert.Equal(t, rev2, got.Revision, "b1 sees b2's revision")
		assert.Equal(t, []byte("from b2"), got.Data, "b1 with a stale known revision sees b2's data")

		_, err = b1.UpdateRecord(ctx, "k", rev1, []byte("lost"))
		assert.ErrorIs(t, err, backend.ErrConflict, "b1 updates with the revision b2 replaced")
		err = b1.DeleteRecord(ctx, "k", rev1)
		assert.ErrorIs(t, err, backend.ErrConflict, "b1 deletes with the revision b2 replaced")
		_, err = b1.CreateRecord(ctx, "k", []byte("again"))
		assert.ErrorIs(t, err, backend.ErrExists, "b1 creates the record b2 holds")
		err = b1.PutBlob(ctx, "blob2", []byte("overwrite"))
		assert.ErrorIs(t, err, backend.ErrExists, "b1 puts the blob b2 wrote")
		assertRecord(t, b2, "k", rev2, []byte("from b2"))
		assertBlob(t, b2, "blob2", []byte("blob from b2"))

		// A revision is never reused, whichever handle gives it.
		require.NoError(t, b2.DeleteRecord(ctx, "k", rev2))
		assertNoRecord(t, b1, "k")
		rev3 := mustCreate(t, b1, "k", []byte("recreated"))
		assert.NotContains(t, []uint64{rev1, rev2}, rev3, "recreated record reuses a revision")
		_, err = b2.UpdateRecord(ctx, "k", rev2, []byte("lost"))
		assert.ErrorIs(t, err, backend.ErrConflict, "b2 updates with a revision from before the delete")
		assertRecord(t, b2, "k", rev3, []byte("recreated"))

		recs, err := b2.ListRecords(ctx, "", "", 10)
		require.NoError(t, err)
		require.Len(t, recs, 1)
		assert.Equal(t, rev3, recs[0].Revision)
		keys, err := b1.ListBlobs(ctx, "", 10)
		require.NoError(t, err)
		assert.Equal(t, []string{"blob1", "blob2"}, keys)
	})

	t.Run("SurvivesClose", func(t *testing.T) {
		rec, err := b1.GetRecord(ctx, "k", 0)
		require.NoError(t, err)
		require.NoError(t, b1.Close())
		assertRecord(t, b2, "k", rec.Revision, rec.Data)
		assertBlob(t, b2, "blob1", []byte("blob from b1"))
		rev := mustUpdate(t, b2, "k", rec.Revision, []byte("after close"))
		assertRecord(t, b2, "k", rev, []byte("after close"))
	})
}

func testOrphanSweep(t *testing.T, h Harness) {
	b := newBackend(t, h)
	ctx := t.Context()
	blobs := []string{"blob/1", "blob/2", "blob/3", "blob/4", "blob/5"}
	for _, k := range blobs {
		require.NoError(t, b.PutBlob(ctx, k, []byte(k)))
	}
	mustCreate(t, b, "record", []byte("refers to blob/1"))

	got := pageBlobs(t, b, 2, len(blobs)+2)
	require.Equal(t, blobs, got, "ListBlobs paging")

	// Delete while paging, as a sweeper does: the cursor may name a deleted
	// blob.
	var visited []string
	after := ""
	for range len(blobs) + 2 {
		page, err := b.ListBlobs(ctx, after, 2)
		require.NoError(t, err)
		visited = append(visited, page...)
		for _, k := range page {
			if k == "blob/2" || k == "blob/4" {
				require.NoError(t, b.DeleteBlob(ctx, k), "DeleteBlob(%q)", k)
			}
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1]
	}
	assert.Equal(t, blobs, visited, "blobs visited while deleting")

	want := []string{"blob/1", "blob/3", "blob/5"}
	got = pageBlobs(t, b, 2, len(blobs)+2)
	assert.Equal(t, want, got, "ListBlobs after deleting 2")
	assertNoBlob(t, b, "blob/2")
	assertNoBlob(t, b, "blob/4")

	for _, k := range []string{"blob/2", "blob/4"} {
		assert.NoError(t, b.DeleteBlob(ctx, k), "DeleteBlob(%q) again", k)
	}
	got = pageBlobs(t, b, 2, len(blobs)+2)
	assert.Equal(t, want, got, "ListBlobs after deleting again")
	for _, k := range want {
		assertBlob(t, b, k, []byte(k))
	}
}

// testEngineRoundTrip runs the real engine over the backend: writes, reads,
// a staging-label move, a forced delete, ListSecrets and Sweep, then, with
// Reopen, a second engine with the same master key over a second handle,
// as a persistent store is reopened.
func testEngineRoundTrip(t *testing.T, h Harness) {
	b := newBackend(t, h)
	ctx := t.Context()
	clock := secretstore.NewFakeClock(time.Date(2026, time.January, 2, 3, 4, 5, 0, time.UTC))
	master := randomBytes(32, 100)
	newEngine := func(t *testing.T, b backend.Backend) *secretstore.Engine {
		t.Helper()
		keys, err := secretstore.NewLocalKeys(master)
		require.NoError(t, err, "NewLocalKeys")
		e, err := secretstore.New(b, secretstore.WithClock(clock), secretstore.WithKeys(keys))
		require.NoError(t, err, "secretstore.New")
		return e
	}
	tok := func(i int) string { return fmt.Sprintf("backendtest-token-%014d", i) }
	const (
		db   = "app/db"
		bin  = "app/bin"
		gone = "app/gone"
	)
	v1, v2, v3 := "db-password-1", "db-password-2", "db-password-3"
	binVal := randomBytes(300, 101)

	// get reads a version (by VersionId if id is not empty, else by stage)
	// and checks its VersionId and value.
	get := func(t *testing.T, e *secretstore.Engine, name, id, stage, wantID string, want []byte, wantBinary bool) {
		t.Helper()
		out, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: name, VersionId: id, VersionStage: stage})
		if !assert.NoError(t, err, "GetSecretValue(%s, id %q, stage %q)", name, id, stage) {
			return
		}
		assert.Equal(t, wantID, out.VersionId, "GetSecretValue(%s, id %q, stage %q).VersionId", name, id, stage)
		if wantBinary {
			assert.Equal(t, want, out.SecretBinary, "GetSecretValue(%s, id %q, stage %q).SecretBinary", name, id, stage)
		} else {
			assert.Equal(t, string(want), out.SecretString, "GetSecretValue(%s, id %q, stage %q).SecretString", name, id, stage)
		}
	}

	e := newEngine(t, b)
	_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: db, ClientRequestToken: tok(1), SecretString: &v1,
		Description: "database", Tags: []secretstore.Tag{{Key: "team", Value: "storage"}}})
	require.NoError(t, err, "CreateSecret(%s)", db)
	_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: bin, ClientRequestToken: tok(10), SecretBinary: binVal})
	require.NoError(t, err, "CreateSecret(%s)", bin)
	goneVal := "short-lived"
	_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: gone, ClientRequestToken: tok(20), SecretString: &goneVal})
	require.NoError(t, err, "CreateSecret(%s)", gone)
	clock.Advance(time.Minute)

	put, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: db, ClientRequestToken: tok(2), SecretString: &v2})
	require.NoError(t, err, "PutSecretValue(%s, %s)", db, tok(2))
	assert.Equal(t, []string{secretstore.LabelCurrent}, put.VersionStages, "PutSecretValue(%s, %s).VersionStages", db, tok(2))
	_, err = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: db, ClientRequestToken: tok(3), SecretString: &v3,
		VersionStages: []string{secretstore.LabelPending}})
	require.NoError(t, err, "PutSecretValue(%s, %s)", db, tok(3))
	get(t, e, db, "", "", tok(2), []byte(v2), false)
	get(t, e, db, "", secretstore.LabelPrevious, tok(1), []byte(v1), false)
	get(t, e, db, "", secretstore.LabelPending, tok(3), []byte(v3), false)
	get(t, e, bin, "", "", tok(10), binVal, true)

	// Promote the pending version: it keeps AWSPENDING, the old current
	// becomes AWSPREVIOUS and the first version loses its label.
	_, err = e.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{SecretId: db,
		VersionStage: secretstore.LabelCurrent, RemoveFromVersionId: tok(2), MoveToVersionId: tok(3)})
	require.NoError(t, err, "UpdateSecretVersionStage")
	wantStages := map[string]map[string][]string{
		db:  {tok(2): {secretstore.LabelPrevious}, tok(3): {secretstore.LabelCurrent, secretstore.LabelPending}},
		bin: {tok(10): {secretstore.LabelCurrent}},
	}

	_, err = e.DeleteSecret(ctx, &secretstore.DeleteSecretInput{SecretId: gone, ForceDeleteWithoutRecovery: true})
	require.NoError(t, err, "DeleteSecret(%s, force)", gone)

	// checkAll reads every value through e and lists the secrets.
	checkAll := func(t *testing.T, e *secretstore.Engine) {
		t.Helper()
		get(t, e, db, "", "", tok(3), []byte(v3), false)
		get(t, e, db, "", secretstore.LabelPrevious, tok(2), []byte(v2), false)
		get(t, e, db, tok(1), "", tok(1), []byte(v1), false)
		get(t, e, bin, "", "", tok(10), binVal, true)
		_, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: gone})
		assert.ErrorIs(t, err, secretstore.ErrResourceNotFound, "GetSecretValue(%s) after a forced delete", gone)

		list, err := e.ListSecrets(ctx, &secretstore.ListSecretsInput{SortBy: "name"})
		if !assert.NoError(t, err, "ListSecrets") {
			return
		}
		var names []string
		for _, s := range list.SecretList {
			names = append(names, s.Name)
			want, ok := wantStages[s.Name]
			if !ok {
				continue
			}
			assert.Len(t, s.SecretVersionsToStages, len(want), "ListSecrets: versions with labels of %s", s.Name)
			for id, stages := range want {
				assert.ElementsMatch(t, stages, s.SecretVersionsToStages[id], "ListSecrets: labels of version %s of %s", id, s.Name)
			}
		}
		assert.Equal(t, []string{bin, db}, names, "ListSecrets names")
		if i := slices.IndexFunc(list.SecretList, func(s secretstore.SecretListEntry) bool { return s.Name == db }); i >= 0 {
			assert.Equal(t, "database", list.SecretList[i].Description, "ListSecrets: description of %s", db)
			assert.Equal(t, []secretstore.Tag{{Key: "team", Value: "storage"}}, list.SecretList[i].Tags, "ListSecrets: tags of %s", db)
		}
	}
	checkAll(t, e)

	// Every blob left is referenced by a secret, and a blob the engine
	// did not write is not its to delete: Sweep deletes nothing.
	require.NoError(t, b.PutBlob(ctx, "backendtest/foreign", []byte("not the engine's")))
	blobs := pageBlobs(t, b, 100, 100)
	clock.Advance(time.Hour)
	n, err := e.Sweep(ctx, time.Minute)
	require.NoError(t, err, "Sweep")
	assert.Zero(t, n, "Sweep deleted blobs, but none is an orphan")
	assert.Equal(t, blobs, pageBlobs(t, b, 100, 100), "blobs after Sweep")
	checkAll(t, e)

	if h.Reopen == nil {
		return
	}
	// A second engine over a second handle, with the same master key,
	// reads what the first wrote; each sees the other's writes.
	e2 := newEngine(t, reopen(t, h, b))
	checkAll(t, e2)
	v4 := "db-password-4"
	_, err = e2.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: db, ClientRequestToken: tok(4), SecretString: &v4})
	require.NoError(t, err, "PutSecretValue(%s, %s) through the second handle", db, tok(4))
	get(t, e, db, "", "", tok(4), []byte(v4), false)
	get(t, e, db, "", secretstore.LabelPrevious, tok(3), []byte(v3), false)
	v5 := "db-password-5"
	_, err = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: db, ClientRequestToken: tok(5), SecretString: &v5})
	require.NoError(t, err, "PutSecretValue(%s, %s) through the first handle", db, tok(5))
	get(t, e2, db, "", "", tok(5), []byte(v5), false)
	get(t, e2, db, tok(1), "", tok(1), []byte(v1), false)
	get(t, e2, bin, "", "", tok(10), binVal, true)
	clock.Advance(time.Hour)
	n, err = e2.Sweep(ctx, time.Minute)
	require.NoError(t, err, "Sweep through the second handle")
	assert.Zero(t, n, "Sweep through the second handle deleted blobs, but none is an orphan")
	for _, id := range []string{tok(1), tok(2), tok(3), tok(4), tok(5)} {
		_, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: db, VersionId: id})
		assert.NoError(t, err, "GetSecretValue(%s, %s) after Sweep", db, id)
	}
}
