package membackend_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"

	"github.com/secretstore/secretstore/backend"
	"github.com/secretstore/secretstore/backend/backendtest"
	"github.com/secretstore/secretstore/backend/membackend"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, backendtest.Harness{
		New: func(t *testing.T) backend.Backend { return membackend.New() },
	})
}

func BenchmarkGetRecordKnownRevision(b *testing.B) {
	be := membackend.New()
	defer be.Close()
	ctx := b.Context()
	rev, err := be.CreateRecord(ctx, "secret/prod/db", bytes.Repeat([]byte("m"), 1024))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec, err := be.GetRecord(ctx, "secret/prod/db", rev)
		if err != nil || rec.Data != nil {
			b.Fatalf("GetRecord = %v, %v; want nil Data", rec, err)
		}
	}
}

func BenchmarkGetBlob1KiB(b *testing.B) {
	be := membackend.New()
	defer be.Close()
	ctx := b.Context()
	if err := be.PutBlob(ctx, "blob/1", bytes.Repeat([]byte("v"), 1024)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(1024)
	for b.Loop() {
		if _, err := be.GetBlob(ctx, "blob/1"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConformanceSharedHandles runs the suite's checks across handles, which
// a single membackend cannot answer, over handles that share one Backend and
// close independently. It exercises the suite's Reopen paths as much as the
// backend.
func TestConformanceSharedHandles(t *testing.T) {
	backendtest.Run(t, backendtest.Harness{
		New: func(t *testing.T) backend.Backend { return &handle{shared: membackend.New()} },
		Reopen: func(t *testing.T, b backend.Backend) backend.Backend {
			return &handle{shared: b.(*handle).shared}
		},
	})
}

// handle is one handle on a shared Backend. Close stops the handle and
// leaves the shared Backend open for the other handles.
type handle struct {
	shared *membackend.Backend
	closed atomic.Bool
}

func (h *handle) open(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if h.closed.Load() {
		return backend.ErrClosed
	}
	return nil
}

func (h *handle) GetRecord(ctx context.Context, key string, knownRevision uint64) (backend.Record, error) {
	if err := h.open(ctx); err != nil {
		return backend.Record{}, err
	}
	return h.shared.GetRecord(ctx, key, knownRevision)
}

func (h *handle) ListRecords(ctx context.Context, prefix, after string, limit int) ([]backend.Record, error) {
	if err := h.open(ctx); err != nil {
		return nil, err
	}
	return h.shared.ListRecords(ctx, prefix, after, limit)
}

func (h *handle) CreateRecord(ctx context.Context, key string, data []byte) (uint64, error) {
	if err := h.open(ctx); err != nil {
		return 0, err
	}
	return h.shared.CreateRecord(ctx, key, data)
}

func (h *handle) UpdateRecord(ctx context.Context, key string, revision uint64, data []byte) (uint64, error) {
	if err := h.open(ctx); err != nil {
		return 0, err
	}
	return h.shared.UpdateRecord(ctx, key, revision, data)
}

func (h *handle) DeleteRecord(ctx context.Context, key string, revision uint64) error {
	if err := h.open(ctx); err != nil {
		return err
	}
	return h.shared.DeleteRecord(ctx, key, revision)
}

func (h *handle) PutBlob(ctx context.Context, key string, data []byte) error {
	if err := h.open(ctx); err != nil {
		return err
	}
	return h.shared.PutBlob(ctx, key, data)
}

// PutRecordBlob keeps the handle a backend.RecordBlobPutter, so that the
// suite's RecordBlobPutter part runs across handles too.
func (h *handle) PutRecordBlob(ctx context.Context, key string, revision uint64, data []byte, blobKey string, blob []byte) (uint64, error) {
	if err := h.open(ctx); err != nil {
		return 0, err
	}
	return h.shared.PutRecordBlob(ctx, key, revision, data, blobKey, blob)
}

func (h *handle) GetBlob(ctx context.Context, key string) ([]byte, error) {
	if err := h.open(ctx); err != nil {
		return nil, err
	}
	return h.shared.GetBlob(ctx, key)
}

func (h *handle) DeleteBlob(ctx context.Context, key string) error {
	if err := h.open(ctx); err != nil {
		return err
	}
	return h.shared.DeleteBlob(ctx, key)
}

func (h *handle) ListBlobs(ctx context.Context, after string, limit int) ([]string, error) {
	if err := h.open(ctx); err != nil {
		return nil, err
	}
	return h.shared.ListBlobs(ctx, after, limit)
}

func (h *handle) Close() error {
	h.closed.Store(true)
	return nil
}
