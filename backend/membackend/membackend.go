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
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/secretstore/secretstore/backend"
)

var (
	_ backend.Backend          = (*Backend)(nil)
	_ backend.BlobViewer       = (*Backend)(nil)
	_ backend.RecordBlobPutter = (*Backend)(nil)
)

// Backend is an in-memory [backend.Backend]. It is safe for concurrent use.
// The zero value is not usable; call [New].
//
// Keys are spread over independently locked shards, so that calls on
// different secrets from different goroutines do not contend. Revisions come
// from one counter shared by every record of the backend, so a revision is
// never given twice, not even to a key that was deleted and created again.
// Listing sorts the matching keys on each call and costs O(n log n); every
// other operation is a map lookup.
type Backend struct {
	seed    maphash.Seed
	lastRev atomic.Uint64 // the last revision handed out
	shards  [shardCount]shard
}

const shardCount = 64

type shard struct {
	mu      sync.RWMutex
	closed  bool
	records map[string]record
	blobs   map[string][]byte
	_       [64]byte // keep shards on separate cache lines
}

// record is the stored content of a record. data is never nil, so that an
// empty record is told apart from the nil Data of a current known revision.
type record struct {
	rev  uint64
	data []byte
}

// New returns a new, empty in-memory backend.
func New() *Backend {
	b := &Backend{seed: maphash.MakeSeed()}
	for i := range b.shards {
		b.shards[i].records = make(map[string]record)
		b.shards[i].blobs = make(map[string][]byte)
	}
	return b
}

func (b *Backend) shard(key string) *shard {
	return &b.shards[b.shardIndex(key)]
}

// shardIndex returns the index of the shard that holds key.
func (b *Backend) shardIndex(key string) uint64 {
	return maphash.String(b.seed, key) % shardCount
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
	sh := b.shard(key)
	sh.mu.RLock()
	r, ok := sh.records[key]
	closed := sh.closed
	sh.mu.RUnlock()
	switch {
	case closed:
		return backend.Record{}, backend.ErrClosed
	case !ok:
		return backend.Record{}, backend.ErrNotFound
	case knownRevision != 0 && knownRevision == r.rev:
		return backend.Record{Key: key, Revision: r.rev}, nil
	}
	// Stored data is never modified in place (writes replace it), so the
	// copy can be made unlocked.
	return backend.Record{Key: key, Revision: r.rev, Data: clone(r.data)}, nil
}

// ListRecords implements [backend.Backend.ListRecords]. A limit below 1
// returns no records. The listing is not a snapshot: a record changed while
// it runs may be listed with its old or its new content.
func (b *Backend) ListRecords(ctx context.Context, prefix, after string, limit int) ([]backend.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []backend.Record
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.RLock()
		if sh.closed {
			sh.mu.RUnlock()
			return nil, backend.ErrClosed
		}
		for k, r := range sh.records {
			if strings.HasPrefix(k, prefix) && (after == "" || k > after) {
				out = append(out, backend.Record{Key: k, Revision: r.rev, Data: r.data})
			}
		}
		sh.mu.RUnlock()
	}
	slices.SortFunc(out, func(x, y backend.Record) int { return strings.Compare(x.Key, y.Key) })
	if limit < 0 {
		limit = 0
	}
	if len(out) > limit {
		out = out[:limit]
	}
	for i := range out {
		// Stored data is never modified in place (writes replace it), so
		// copying outside the lock is safe.
		out[i].Data = clone(out[i].Data)
	}
	return out, nil
}

// CreateRecord implements [backend.Backend.CreateRecord].
func (b *Backend) CreateRecord(ctx context.Context, key string, data []byte) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c := clone(data)
	sh := b.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return 0, backend.ErrClosed
	}
	if _, ok := sh.records[key]; ok {
		return 0, backend.ErrExists
	}
	rev := b.lastRev.Add(1)
	sh.records[key] = record{rev: rev, data: c}
	return rev, nil
}

// UpdateRecord implements [backend.Backend.UpdateRecord].
func (b *Backend) UpdateRecord(ctx context.Context, key string, revision uint64, data []byte) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c := clone(data)
	sh := b.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return 0, backend.ErrClosed
	}
	r, ok := sh.records[key]
	if !ok {
		return 0, backend.ErrNotFound
	}
	if r.rev != revision {
		return 0, backend.ErrConflict
	}
	rev := b.lastRev.Add(1)
	sh.records[key] = record{rev: rev, data: c}
	return rev, nil
}

// DeleteRecord implements [backend.Backend.DeleteRecord].
func (b *Backend) DeleteRecord(ctx context.Context, key string, revision uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sh := b.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return backend.ErrClosed
	}
	r, ok := sh.records[key]
	if !ok {
		return backend.ErrNotFound
	}
	if r.rev != revision {
		return backend.ErrConflict
	}
	delete(sh.records, key)
	return nil
}

// PutBlob implements [backend.Backend.PutBlob].
func (b *Backend) PutBlob(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := clone(data)
	sh := b.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return backend.ErrClosed
	}
	if _, ok := sh.blobs[key]; ok {
		return backend.ErrExists
	}
	sh.blobs[key] = c
	return nil
}

// PutRecordBlob implements [backend.RecordBlobPutter]: PutBlob and
// CreateRecord (revision 0) or UpdateRecord as one write. It holds the locks
// of the blob's and the record's shards, taken in shard order (once when
// they are the same shard) so that two calls cannot deadlock, while it
// checks both keys and stores both, so that either both are stored or,
// with an error, neither is.
func (b *Backend) PutRecordBlob(ctx context.Context, key string, revision uint64, data []byte, blobKey string, blob []byte) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c, cb := clone(data), clone(blob)
	ri, bi := b.shardIndex(key), b.shardIndex(blobKey)
	lo, hi := min(ri, bi), max(ri, bi)
	b.shards[lo].mu.Lock()
	defer b.shards[lo].mu.Unlock()
	if hi != lo {
		b.shards[hi].mu.Lock()
		defer b.shards[hi].mu.Unlock()
	}
	rs, bs := &b.shards[ri], &b.shards[bi]
	if rs.closed || bs.closed {
		return 0, backend.ErrClosed
	}
	if _, ok := bs.blobs[blobKey]; ok {
		return 0, backend.ErrExists
	}
	r, ok := rs.records[key]
	switch {
	case revision == 0 && ok:
		return 0, backend.ErrExists
	case revision != 0 && !ok:
		return 0, backend.ErrNotFound
	case revision != 0 && r.rev != revision:
		return 0, backend.ErrConflict
	}
	rev := b.lastRev.Add(1)
	rs.records[key] = record{rev: rev, data: c}
	bs.blobs[blobKey] = cb
	return rev, nil
}

// GetBlob implements [backend.Backend.GetBlob]. The result is a fresh copy.
func (b *Backend) GetBlob(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh := b.shard(key)
	sh.mu.RLock()
	if sh.closed {
		sh.mu.RUnlock()
		return nil, backend.ErrClosed
	}
	data, ok := sh.blobs[key]
	sh.mu.RUnlock()
	if !ok {
		return nil, backend.ErrNotFound
	}
	// Stored blobs are never modified, so the copy can be made unlocked.
	return clone(data), nil
}

// ViewBlob implements [backend.BlobViewer]: it returns the stored blob
// itself, which the caller must not modify. Stored blobs are never modified
// (DeleteBlob and Close only drop them), so the result stays valid.
func (b *Backend) ViewBlob(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh := b.shard(key)
	sh.mu.RLock()
	data, ok := sh.blobs[key]
	closed := sh.closed
	sh.mu.RUnlock()
	switch {
	case closed:
		return nil, backend.ErrClosed
	case !ok:
		return nil, backend.ErrNotFound
	}
	return data, nil
}

// DeleteBlob implements [backend.Backend.DeleteBlob].
func (b *Backend) DeleteBlob(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sh := b.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return backend.ErrClosed
	}
	delete(sh.blobs, key)
	return nil
}

// ListBlobs implements [backend.Backend.ListBlobs]. A limit below 1 returns
// no keys.
func (b *Backend) ListBlobs(ctx context.Context, after string, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var keys []string
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.RLock()
		if sh.closed {
			sh.mu.RUnlock()
			return nil, backend.ErrClosed
		}
		for k := range sh.blobs {
			if after == "" || k > after {
				keys = append(keys, k)
			}
		}
		sh.mu.RUnlock()
	}
	return firstSorted(keys, limit), nil
}

// Close implements [backend.Backend.Close]. It drops the stored data. Calling
// it again returns nil.
func (b *Backend) Close() error {
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		sh.closed = true
		sh.records = nil
		sh.blobs = nil
		sh.mu.Unlock()
	}
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
