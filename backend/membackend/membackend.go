// Package membackend provides an in-memory [backend.Backend].
//
// It is meant for tests and ephemeral use: everything lives in the memory of
// the process and nothing survives it. Two values returned by [New] never
// share data, so there is no way to open a second handle on the same storage.
//
// Application code should use package secretstore; construct a backend with
// [New] and hand it to the store.
package membackend

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/secretstore/secretstore/backend"
)

var _ backend.Backend = (*Backend)(nil)

// Backend is an in-memory [backend.Backend]. It is safe for concurrent use.
// The zero value is not usable; call [New].
//
// Revisions come from one counter shared by every record of the backend, so a
// revision is never given twice, not even to a key that was deleted and
// created again. Listing sorts the matching keys on each call and costs
// O(n log n); every other operation is a map lookup.
type Backend struct {
	mu      sync.RWMutex
	closed  bool
	lastRev uint64 // the last revision handed out; guarded by mu
	records map[string]record
	blobs   map[string][]byte
}

// record is the stored content of a record. data is never nil, so that an
// empty record is told apart from the nil Data of a current known revision.
type record struct {
	rev  uint64
	data []byte
}

// New returns a new, empty in-memory backend.
func New() *Backend {
	return &Backend{
		records: make(map[string]record),
		blobs:   make(map[string][]byte),
	}
}

// clone returns a copy of b that is never nil: an empty b gives an empty,
// non-nil slice without allocating.
func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

// GetRecord implements [backend.Backend.GetRecord]. When knownRevision is the
// current revision it returns the Record with a nil Data and copies nothing.
func (b *Backend) GetRecord(ctx context.Context, key string, knownRevision uint64) (backend.Record, error) {
	if err := ctx.Err(); err != nil {
		return backend.Record{}, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return backend.Record{}, backend.ErrClosed
	}
	r, ok := b.records[key]
	if !ok {
		return backend.Record{}, backend.ErrNotFound
	}
	if knownRevision != 0 && knownRevision == r.rev {
		return backend.Record{Key: key, Revision: r.rev}, nil
	}
	return backend.Record{Key: key, Revision: r.rev, Data: clone(r.data)}, nil
}

// ListRecords implements [backend.Backend.ListRecords]. A limit below 1
// returns no records.
func (b *Backend) ListRecords(ctx context.Context, prefix, after string, limit int) ([]backend.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, backend.ErrClosed
	}
	var keys []string
	for k := range b.records {
		if strings.HasPrefix(k, prefix) && (after == "" || k > after) {
			keys = append(keys, k)
		}
	}
	keys = firstSorted(keys, limit)
	out := make([]backend.Record, len(keys))
	for i, k := range keys {
		r := b.records[k]
		out[i] = backend.Record{Key: k, Revision: r.rev, Data: clone(r.data)}
	}
	return out, nil
}

// CreateRecord implements [backend.Backend.CreateRecord].
func (b *Backend) CreateRecord(ctx context.Context, key string, data []byte) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, backend.ErrClosed
	}
	if _, ok := b.records[key]; ok {
		return 0, backend.ErrExists
	}
	b.lastRev++
	b.records[key] = record{rev: b.lastRev, data: clone(data)}
	return b.lastRev, nil
}

// UpdateRecord implements [backend.Backend.UpdateRecord].
func (b *Backend) UpdateRecord(ctx context.Context, key string, revision uint64, data []byte) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, backend.ErrClosed
	}
	r, ok := b.records[key]
	if !ok {
		return 0, backend.ErrNotFound
	}
	if r.rev != revision {
		return 0, backend.ErrConflict
	}
	b.lastRev++
	b.records[key] = record{rev: b.lastRev, data: clone(data)}
	return b.lastRev, nil
}

// DeleteRecord implements [backend.Backend.DeleteRecord].
func (b *Backend) DeleteRecord(ctx context.Context, key string, revision uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return backend.ErrClosed
	}
	r, ok := b.records[key]
	if !ok {
		return backend.ErrNotFound
	}
	if r.rev != revision {
		return backend.ErrConflict
	}
	delete(b.records, key)
	return nil
}

// PutBlob implements [backend.Backend.PutBlob].
func (b *Backend) PutBlob(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return backend.ErrClosed
	}
	if _, ok := b.blobs[key]; ok {
		return backend.ErrExists
	}
	b.blobs[key] = clone(data)
	return nil
}

// GetBlob implements [backend.Backend.GetBlob]. The result is a fresh copy.
func (b *Backend) GetBlob(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, backend.ErrClosed
	}
	data, ok := b.blobs[key]
	if !ok {
		return nil, backend.ErrNotFound
	}
	return clone(data), nil
}

// DeleteBlob implements [backend.Backend.DeleteBlob].
func (b *Backend) DeleteBlob(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return backend.ErrClosed
	}
	delete(b.blobs, key)
	return nil
}

// ListBlobs implements [backend.Backend.ListBlobs]. A limit below 1 returns
// no keys.
func (b *Backend) ListBlobs(ctx context.Context, after string, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, backend.ErrClosed
	}
	var keys []string
	for k := range b.blobs {
		if after == "" || k > after {
			keys = append(keys, k)
		}
	}
	return firstSorted(keys, limit), nil
}

// Close implements [backend.Backend.Close]. It drops the stored data. Calling
// it again returns nil.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.records = nil
	b.blobs = nil
	return nil
}

// firstSorted sorts keys in ascending byte order and returns at most the
// first limit of them.
func firstSorted(keys []string, limit int) []string {
	slices.Sort(keys)
	if limit < 0 {
		limit = 0
	}
	if len(keys) > limit {
		keys = keys[:limit]
	}
	return keys
}
