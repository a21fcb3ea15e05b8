package secretstore

import (
	"cmp"
	"context"
	cryptorand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/google/uuid"

	"github.com/secretstore/secretstore/backend"
)

// Store is the AWS Secrets Manager API for versioned secrets. Application
// code depends on Store; New returns the engine that implements it over a
// backend, and tests may substitute their own implementation.
//
// Every method is safe for concurrent use, takes a context first, and
// returns either a complete response or an error that changed nothing. The
// errors of Secrets Manager conditions are *Error values matching the
// sentinels of errors.go.
type Store interface {
	// CreateSecret creates a secret, with a first version labelled
	// AWSCURRENT if the input has a value.
	CreateSecret(ctx context.Context, in *CreateSecretInput) (*CreateSecretOutput, error)
	// PutSecretValue stores a new version and moves the requested labels
	// (AWSCURRENT by default) to it.
	PutSecretValue(ctx context.Context, in *PutSecretValueInput) (*PutSecretValueOutput, error)
	// UpdateSecret changes a secret's description or key, and with a value
	// stores a new AWSCURRENT version.
	UpdateSecret(ctx context.Context, in *UpdateSecretInput) (*UpdateSecretOutput, error)
	// GetSecretValue returns the value of the AWSCURRENT version, or of the
	// version a VersionId or VersionStage names.
	GetSecretValue(ctx context.Context, in *GetSecretValueInput) (*GetSecretValueOutput, error)
	// BatchGetSecretValue returns the AWSCURRENT values of several secrets.
	BatchGetSecretValue(ctx context.Context, in *BatchGetSecretValueInput) (*BatchGetSecretValueOutput, error)
	// DescribeSecret returns a secret's metadata and labelled versions.
	DescribeSecret(ctx context.Context, in *DescribeSecretInput) (*DescribeSecretOutput, error)
	// ListSecretVersionIds lists a secret's versions, a page at a time.
	ListSecretVersionIds(ctx context.Context, in *ListSecretVersionIdsInput) (*ListSecretVersionIdsOutput, error)
	// ListSecrets lists secrets matching filters, a page at a time.
	ListSecrets(ctx context.Context, in *ListSecretsInput) (*ListSecretsOutput, error)
	// UpdateSecretVersionStage moves a staging label between versions.
	UpdateSecretVersionStage(ctx context.Context, in *UpdateSecretVersionStageInput) (*UpdateSecretVersionStageOutput, error)
	// DeleteSecret schedules a secret for deletion, or deletes it at once.
	DeleteSecret(ctx context.Context, in *DeleteSecretInput) (*DeleteSecretOutput, error)
	// RestoreSecret cancels a scheduled deletion.
	RestoreSecret(ctx context.Context, in *RestoreSecretInput) (*RestoreSecretOutput, error)
	// TagResource adds or replaces tags.
	TagResource(ctx context.Context, in *TagResourceInput) (*TagResourceOutput, error)
	// UntagResource removes tags.
	UntagResource(ctx context.Context, in *UntagResourceInput) (*UntagResourceOutput, error)
	// RotateSecret configures rotation and runs the rotation function.
	RotateSecret(ctx context.Context, in *RotateSecretInput) (*RotateSecretOutput, error)
	// CancelRotateSecret turns rotation off.
	CancelRotateSecret(ctx context.Context, in *CancelRotateSecretInput) (*CancelRotateSecretOutput, error)
	// GetRandomPassword generates a random password.
	GetRandomPassword(ctx context.Context, in *GetRandomPasswordInput) (*GetRandomPasswordOutput, error)
}

// Engine is the Store that enforces every Secrets Manager rule over a
// backend, sealing each value before it reaches the backend. Create one with
// New. An Engine is safe for concurrent use: operations on one secret are
// serialized, operations on different secrets run in parallel, and several
// engines (in one process or many) may share a backend, whose
// compare-and-swap keeps them from losing each other's updates.
type Engine struct {
	b         backend.Backend
	viewer    backend.BlobViewer       // b, if it is one
	pair      backend.RecordBlobGetter // b, if it is one
	putter    backend.RecordBlobPutter // b, if it is one
	cfg       config
	keys      Keys
	keyPrefix string // backend record key prefix of this region's secrets
	arnPrefix string

	randMu sync.Mutex // guards cfg.rand
	locks  [256]sync.Mutex
	seed   maphash.Seed
	cache  sync.Map // secret name (record key without keyPrefix) -> *cacheSlot
}

// cacheSlot holds the latest decoded record of one key. Slots are created
// once per key and then updated atomically, which is cheaper than storing a
// new map entry on every write.
type cacheSlot struct {
	key string      // the record key, kept so that reads need not build it
	mu  *sync.Mutex // e.lock(key), kept so that writes need not hash the key
	p   atomic.Pointer[cached]
}

var _ Store = (*Engine)(nil)

// cached is a decoded record; meta is never modified once cached.
type cached struct {
	rev  uint64
	meta *secretMeta
	slot *cacheSlot // the slot that holds it
}

// New returns an Engine over b. The engine does not own b: closing b is the
// caller's job, after the last call.
func New(b backend.Backend, opts ...Option) (*Engine, error) {
	if b == nil {
		return nil, errors.New("secretstore: New: nil backend")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	switch {
	case cfg.clock == nil:
		return nil, errors.New("secretstore: New: nil clock")
	case cfg.rand == nil:
		return nil, errors.New("secretstore: New: nil random source")
	case !validRegion(cfg.region):
		return nil, fmt.Errorf("secretstore: New: invalid region %q", cfg.region)
	case !validAccount(cfg.account):
		return nil, fmt.Errorf("secretstore: New: invalid account ID %q: want 12 digits", cfg.account)
	case cfg.maxVersions < 1:
		return nil, fmt.Errorf("secretstore: New: max versions %d is less than 1", cfg.maxVersions)
	case cfg.chunkSize < 1 || cfg.chunkSize > 64:
		return nil, fmt.Errorf("secretstore: New: chunk size %d is not between 1 and 64", cfg.chunkSize)
	case cfg.pruneAge < 0:
		return nil, fmt.Errorf("secretstore: New: negative prune age %v", cfg.pruneAge)
	}
	e := &Engine{
		b:         b,
		cfg:       cfg,
		keys:      cfg.keys,
		keyPrefix: "secret/" + cfg.region + "/",
		arnPrefix: arnPrefix(cfg.region, cfg.account),
		seed:      maphash.MakeSeed(),
	}
	e.viewer, _ = b.(backend.BlobViewer)
	e.pair, _ = b.(backend.RecordBlobGetter)
	e.putter, _ = b.(backend.RecordBlobPutter)
	if e.keys == nil {
		k, err := newRandomLocalKeys(cryptoRand)
		if err != nil {
			return nil, err
		}
		e.keys = k
	}
	return e, nil
}

func validRegion(r string) bool {
	if r == "" || len(r) > 64 {
		return false
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validAccount(a string) bool {
	if len(a) != 12 {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] < '0' || a[i] > '9' {
			return false
		}
	}
	return true
}

// Region returns the region the engine's ARNs name.
func (e *Engine) Region() string { return e.cfg.region }

func (e *Engine) now() time.Time { return e.cfg.clock.Now().UTC() }

func (e *Engine) recordKey(name string) string { return e.keyPrefix + name }

// cacheName returns the cache's name for the record key key: the secret's
// name for a key of this engine's region, and otherwise (the engine also
// loads other regions' records, to rewrap or count keys) the key after a
// ':', which no secret name contains.
func (e *Engine) cacheName(key string) string {
	if name, ok := strings.CutPrefix(key, e.keyPrefix); ok {
		return name
	}
	return ":" + key
}

func (e *Engine) lock(key string) *sync.Mutex {
	return &e.locks[maphash.String(e.seed, key)%uint64(len(e.locks))]
}

// readRand fills p from the configured random source.
func (e *Engine) readRand(p []byte) error {
	if e.cfg.rand == cryptorand.Reader {
		_, err := cryptorand.Read(p) // safe for concurrent use; no lock needed
		return err
	}
	// Reading into a buffer of our own keeps p from escaping to the heap
	// on the default path above.
	b := make([]byte, len(p))
	e.randMu.Lock()
	_, err := io.ReadFull(e.cfg.rand, b)
	e.randMu.Unlock()
	copy(p, b)
	return err
}

// freshToken reports whether a write given the ClientRequestToken given
// uses a VersionId this engine drew from crypto/rand (122 random bits of a
// UUID), which no existing version can have. With WithIDGenerator or
// WithRand the IDs may repeat, so they are never taken as fresh.
func (e *Engine) freshToken(given string) bool {
	return given == "" && e.cfg.idGen == nil && e.cfg.rand == cryptorand.Reader
}

// newVersionID returns a VersionId for a write without a ClientRequestToken.
func (e *Engine) newVersionID() (string, error) {
	if e.cfg.idGen != nil {
		id := e.cfg.idGen()
		if !validToken(id) {
			return "", fmt.Errorf("secretstore: ID generator returned %d characters, want 32 to 64", len(id))
		}
		return id, nil
	}
	var u uuid.UUID
	if err := e.readRand(u[:]); err != nil {
		return "", err
	}
	return versionIDFrom(u), nil
}

// versionIDFrom returns the UUIDv4 made of the random bytes u, formatted
// as uuid.UUID.String does.
func versionIDFrom(u uuid.UUID) string {
	var b [versionIDLen]byte
	versionIDTo(&b, u)
	return string(b[:])
}

// versionIDLen is the length of the VersionIds the engine makes.
const versionIDLen = 36

// versionIDTo writes to b the VersionId versionIDFrom returns for u.
func versionIDTo(b *[versionIDLen]byte, u uuid.UUID) {
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	encodeHex(b[0:8], u[0:4])
	b[8] = '-'
	encodeHex(b[9:13], u[4:6])
	b[13] = '-'
	encodeHex(b[14:18], u[6:8])
	b[18] = '-'
	encodeHex(b[19:23], u[8:10])
	b[23] = '-'
	encodeHex(b[24:], u[10:])
}

// hexPairs holds the two lowercase hex digits of every byte value.
var hexPairs = func() (t [256][2]byte) {
	const digits = "0123456789abcdef"
	for i := range t {
		t[i] = [2]byte{digits[i>>4], digits[i&15]}
	}
	return t
}()

// encodeHex is hex.Encode with a table of digit pairs, which takes half
// the instructions: dst must hold 2*len(src) bytes.
func encodeHex(dst, src []byte) {
	_ = dst[2*len(src)-1]
	for i, c := range src {
		p := hexPairs[c]
		dst[2*i], dst[2*i+1] = p[0], p[1]
	}
}

const suffixChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newARN returns a fresh ARN for a secret named name: the name, "-", and six
// random alphanumeric characters.
func (e *Engine) newARN(name string) (string, error) {
	var b [arnSuffixLen]byte
	if err := e.readRand(b[:]); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = suffixChars[int(b[i])%len(suffixChars)]
	}
	return e.arnPrefix + name + "-" + string(b[:]), nil
}

// newBlobKey returns a fresh, unique blob key: "v1/", the creation time in
// Unix nanoseconds as 16 hex digits (so that Sweep can tell a blob still
// being committed from an orphan), "-", and 128 random bits in hex.
func (e *Engine) newBlobKey() (string, error) {
	var r [16]byte
	if _, err := cryptorand.Read(r[:]); err != nil {
		return "", err
	}
	var k [blobKeyLen]byte
	e.blobKeyTo(&k, r[:], e.now())
	return string(k[:]), nil
}

// blobKeyLen is the length of the blob keys the engine makes.
const blobKeyLen = 3 + 16 + 1 + 32

// blobKeyTo writes to k a blob key (see newBlobKey) made of now, the
// current time (of the write that stores the blob), and the 16 random bytes
// r.
func (e *Engine) blobKeyTo(k *[blobKeyLen]byte, r []byte, now time.Time) {
	copy(k[:], "v1/")
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(now.UnixNano()))
	encodeHex(k[3:19], t[:])
	k[19] = '-'
	encodeHex(k[20:], r[:16])
}

// blobOlderThan reports whether the blob key k was made at least age before
// now. Keys this engine did not make are never old enough.
func blobOlderThan(k string, now time.Time, age time.Duration) bool {
	rest, ok := strings.CutPrefix(k, "v1/")
	if !ok || len(rest) < 17 || rest[16] != '-' {
		return false
	}
	ns, err := strconv.ParseUint(rest[:16], 16, 64)
	if err != nil {
		return false
	}
	return now.Sub(time.Unix(0, int64(ns))) >= age
}

// errNoSecret is load's signal that no record exists.
var errNoSecret = errors.New("no such secret")

// load returns the current record of key, decoded, using the cache when the
// backend confirms it is current. It returns errNoSecret if there is none.
func (e *Engine) load(ctx context.Context, key string) (*cached, error) {
	return e.loadName(ctx, e.cacheName(key), key)
}

// loadName is load for the secret name, whose record key is key or, if key
// is "", is made only if the cache does not hold it.
func (e *Engine) loadName(ctx context.Context, name, key string) (*cached, error) {
	var slot *cacheSlot
	var cc *cached
	if s, ok := e.cache.Load(name); ok {
		slot = s.(*cacheSlot)
		cc = slot.p.Load()
		key = slot.key
	}
	if key == "" {
		key = e.recordKey(name)
	}
	var known uint64
	if cc != nil {
		known = cc.rev
	}
	var prev *secretMeta
	if cc != nil {
		prev = cc.meta
	}
	var rec backend.Record
	var meta *secretMeta
	for attempt := 0; ; attempt++ {
		var err error
		rec, err = e.b.GetRecord(ctx, key, known)
		if err != nil {
			if errors.Is(err, backend.ErrNotFound) {
				// Dropping the slot keeps lookups of names that do not
				// exist from growing the cache.
				e.cache.Delete(name)
				return nil, errNoSecret
			}
			return nil, err
		}
		if rec.Data == nil && cc != nil && rec.Revision == cc.rev {
			return cc, nil
		}
		meta, err = decodeRecord(rec.Data)
		if err == nil {
			err = e.resolveChunks(ctx, meta, prev)
		}
		if err == nil {
			break
		}
		// A chunk may have been deleted by a writer that committed after
		// this record was read: read the record again, and fail only if it
		// has not changed.
		if !errors.Is(err, backend.ErrNotFound) || attempt+1 >= maxAttempts {
			return nil, fmt.Errorf("secretstore: record %q: %w", key, err)
		}
		again, gerr := e.b.GetRecord(ctx, key, rec.Revision)
		if gerr == nil && again.Revision == rec.Revision {
			return nil, fmt.Errorf("secretstore: record %q: %w", key, err)
		}
		known = 0
	}
	if slot == nil {
		slot = e.slot(key)
	}
	nc := &cached{rev: rec.Revision, meta: meta, slot: slot}
	slot.p.Store(nc)
	return nc, nil
}

// slot returns the cache slot of key, creating it if needed.
func (e *Engine) slot(key string) *cacheSlot {
	name := e.cacheName(key)
	if s, ok := e.cache.Load(name); ok {
		return s.(*cacheSlot)
	}
	s, _ := e.cache.LoadOrStore(name, &cacheSlot{key: key, mu: e.lock(key)})
	return s.(*cacheSlot)
}

// slotOf returns the cache slot of key, which holds cur if cur is not nil.
func (e *Engine) slotOf(key string, cur *cached) *cacheSlot {
	if cur != nil && cur.slot != nil {
		return cur.slot
	}
	return e.slot(key)
}

// forget drops what the cache holds for key.
func (e *Engine) forget(key string) {
	if s, ok := e.cache.Load(e.cacheName(key)); ok {
		s.(*cacheSlot).p.Store(nil)
	}
}

// commit writes next as the new content of key: a create when cur is nil,
// otherwise a compare-and-swap against cur's revision. It moves old tail
// entries to a new chunk first if the tail has grown past the chunk size, and
// deletes the chunks next no longer refers to once the head is written.
//
// fresh are the versions whose blobs were written for this change. If the
// change certainly did not happen, commit deletes those blobs; if the record
// write failed in a way that leaves its effect unknown (see
// backend.Backend), it leaves them for Sweep, since the record may refer to
// them.
func (e *Engine) commit(ctx context.Context, key string, cur *cached, next *secretMeta, fresh ...*versionMeta) error {
	return e.commitWith(ctx, key, cur, next, nil, fresh...)
}

// commitWith is commit that also stores the blob that once holds sealed
// and not yet stored, if any, in the same backend write as the record
// (backend.RecordBlobPutter). If the write certainly did not happen, that
// blob was not stored either, and once keeps it for another attempt.
func (e *Engine) commitWith(ctx context.Context, key string, cur *cached, next *secretMeta, once *sealedOnce, fresh ...*versionMeta) error {
	var tailBuf [40]*versionMeta
	var chunks []chunkState
	var tail []*versionMeta
	n, known := next.knownLayout()
	if known {
		chunks, tail = next.chunks, next.Versions[len(next.Versions)-n:]
	} else {
		chunks, tail = layoutOf(next.Versions, tailBuf[:0])
	}
	var chunk string
	if len(tail) > e.cfg.chunkSize {
		var err error
		if chunk, err = e.layout(ctx, next); err != nil {
			e.deleteBlobs(ctx, fresh)
			return err
		}
		chunks, tail = layoutOf(next.Versions, tailBuf[:0])
		known = false
	}
	if !known {
		// Keep the layout for the next write when the head's entries
		// are the last versions, as they are unless an old version's
		// entry changed. (A known layout is kept as it is.)
		next.chunks = chunks
		next.hint = layoutHint{}
		if t, vs := len(tail), next.Versions; len(vs) > 0 && (t == 0 || tail[0] == vs[len(vs)-t]) {
			next.hint = layoutHint{first: &vs[0], n: len(vs), tailN: t}
		}
	}
	buf := getBuf()
	data := encodeHead(*buf, next, chunks, tail)
	var rev uint64
	var err error
	switch {
	case once.pending():
		var old uint64 // zero: create
		if cur != nil {
			old = cur.rev
		}
		rev, err = e.putter.PutRecordBlob(ctx, key, old, data, once.v.Blob, once.sealed.buf)
	case cur == nil:
		rev, err = e.b.CreateRecord(ctx, key, data)
	default:
		rev, err = e.b.UpdateRecord(ctx, key, cur.rev, data)
	}
	*buf = data
	putBuf(buf)
	if err != nil {
		if once.pending() && errors.Is(err, backend.ErrExists) {
			// Perhaps the blob key is taken (if not the record's, on a
			// create): the next attempt seals under a new one.
			once.discard(ctx, e)
		}
		e.forget(key)
		if definitelyFailed(err) {
			e.deleteBlobs(ctx, fresh)
			if chunk != "" {
				e.deleteKeys(ctx, []string{chunk})
			}
		}
		return err
	}
	slot := e.slotOf(key, cur)
	var c *cached
	if next.box != nil {
		c = &next.box.entry
		next.box = nil // used once
	} else {
		c = &cached{}
	}
	*c = cached{rev: rev, meta: next, slot: slot}
	slot.p.Store(c)
	if cur != nil {
		e.deleteKeys(ctx, droppedChunks(cur.meta.chunks, next.chunks))
	}
	return nil
}

// definitelyFailed reports whether a failed record write certainly changed
// nothing: the backend rejected it for a reason it reports with a sentinel.
func definitelyFailed(err error) bool {
	return errors.Is(err, backend.ErrConflict) || errors.Is(err, backend.ErrExists) ||
		errors.Is(err, backend.ErrNotFound) || errors.Is(err, backend.ErrClosed)
}

// layout moves the oldest tail versions of next into a new chunk blob, for
// a tail that holds more than the chunk size, and returns the new blob's
// key. It replaces next.Versions, never modifying the old slice.
func (e *Engine) layout(ctx context.Context, next *secretMeta) (string, error) {
	size := e.cfg.chunkSize
	key, err := e.newBlobKey()
	if err != nil {
		return "", err
	}
	ref := &chunkRef{Key: key, Count: size}
	versions := slices.Clone(next.Versions)
	moved := make([]*versionMeta, 0, size)
	// The copies of the versions moved share one allocation: they are
	// made together and mostly pruned together (oldest first), and one
	// allocation costs far less than size of them. The price: a version
	// that outlives the others of its chunk (one that keeps a label while
	// they are pruned) keeps the whole array alive, and through the copies
	// the allocations of the versions copied (their IDs and entries live
	// there), about 10 KiB for a chunk of 16 instead of about 0.6 KiB;
	// with at most one such array per chunk, and chunks only in secrets of
	// more than 16 versions.
	copies := make([]versionMeta, size)
	for i, v := range versions {
		if v.chunk != nil {
			continue
		}
		c := v.copyInChunk(&copies[len(moved)], ref, len(moved))
		versions[i] = c
		if moved = append(moved, c); len(moved) == size {
			break
		}
	}
	buf := getBuf()
	defer putBuf(buf)
	*buf = encodeChunk(*buf, moved)
	if err := e.b.PutBlob(ctx, key, *buf); err != nil {
		return "", err
	}
	next.Versions = versions
	return key, nil
}

// droppedChunks returns the keys of chunks that before refers to and after
// does not.
func droppedChunks(before, after []chunkState) []string {
	var out []string
	for _, c := range before {
		if !hasChunk(after, c.ref) {
			out = append(out, c.ref.Key)
		}
	}
	return out
}

// hasChunk reports whether chunks holds the chunk ref names.
func hasChunk(chunks []chunkState, ref *chunkRef) bool {
	// Versions of one chunk share one chunkRef, so the identity of refs
	// usually answers without comparing keys.
	for _, c := range chunks {
		if c.ref == ref {
			return true
		}
	}
	for _, c := range chunks {
		if c.ref.Key == ref.Key {
			return true
		}
	}
	return false
}

// resolveChunks completes a decoded head: it reads the chunks the head
// refers to (reusing what prev, an earlier decoding of the same secret,
// already holds, since chunks never change) and sets meta.Versions to every
// live version in creation order.
func (e *Engine) resolveChunks(ctx context.Context, meta, prev *secretMeta) error {
	if len(meta.chunks) == 0 {
		return nil
	}
	known := map[string][]*versionMeta{}
	if prev != nil {
		for _, v := range prev.Versions {
			if v.chunk != nil {
				known[v.chunk.Key] = append(known[v.chunk.Key], v)
			}
		}
	}
	var all []*versionMeta
	for _, c := range meta.chunks {
		bySlot := make([]*versionMeta, c.ref.Count)
		have := uint64(0)
		for _, v := range known[c.ref.Key] {
			if int(v.slot) < len(bySlot) {
				bySlot[v.slot] = v
				have |= 1 << v.slot
			}
		}
		if c.live&^have != 0 {
			data, err := e.b.GetBlob(ctx, c.ref.Key)
			if err != nil {
				return fmt.Errorf("chunk %s: %w", c.ref.Key, err)
			}
			ref := c.ref
			if len(known[c.ref.Key]) > 0 {
				ref = known[c.ref.Key][0].chunk // keep one chunkRef per chunk
			}
			vs, err := decodeChunk(data, ref)
			if err != nil {
				return fmt.Errorf("chunk %s: %w", c.ref.Key, err)
			}
			for i, v := range vs {
				if have&(1<<i) == 0 {
					bySlot[i] = v
				}
			}
		}
		for i, v := range bySlot {
			if c.live&(1<<i) != 0 {
				all = append(all, v)
			}
		}
	}
	all = append(all, meta.Versions...)
	slices.SortStableFunc(all, func(a, b *versionMeta) int { return cmp.Compare(a.Seq, b.Seq) })
	meta.Versions = all
	meta.chunks = chunkStates(all)
	return nil
}

// deleteKeys deletes blobs by key that no record refers to any more. It is
// best effort: a blob it fails to delete is an orphan that Sweep removes
// later.
func (e *Engine) deleteKeys(ctx context.Context, keys []string) {
	if len(keys) == 0 {
		return
	}
	if ctx.Done() != nil {
		// The metadata no longer refers to these blobs: delete them even
		// if the caller gives up now.
		ctx = context.WithoutCancel(ctx)
	}
	for _, k := range keys {
		_ = e.b.DeleteBlob(ctx, k)
	}
}

// deleteBlobs deletes the value blobs of versions, as deleteKeys does.
func (e *Engine) deleteBlobs(ctx context.Context, vs []*versionMeta) {
	var keys []string
	for _, v := range vs {
		if v.Blob != "" {
			keys = append(keys, v.Blob)
		}
	}
	e.deleteKeys(ctx, keys)
}

// errRetry tells update that the attempt lost a race and must start again.
var errRetry = errors.New("retry")

// A write that keeps losing compare-and-swap races to other writers gives
// up only after both maxAttempts attempts and retryBudget of wall time, so
// that slow backends shared by several processes do not fail writes that
// merely waited their turn.
const (
	maxAttempts = 32
	retryBudget = 10 * time.Second
)

// update runs one read-modify-write of the secret stored under key, holding
// the secret's lock and retrying when another writer (another engine or
// process) changes the record first. fn receives the current record (nil if
// there is none) and does the work, calling commit itself; it returns
// errRetry when its compare-and-swap lost.
func (e *Engine) update(ctx context.Context, key string, fn func(cur *cached) error) error {
	mu := e.lock(key)
	mu.Lock()
	defer mu.Unlock()
	return e.updateLocked(ctx, key, fn)
}

// updateOptimistic is update for a change that reports whether it committed.
// Its first attempt works on the engine's cached copy of the record without
// reading the record again: if the copy is stale, the commit's
// compare-and-swap fails and the change is made again from a fresh read. An
// attempt that committed nothing (an error answer, an idempotent retry) may
// rest on a stale copy, so it too is made again from a fresh read, which
// gives the answer. A write thus costs one backend call less when the cache
// is current.
//
// slot, if not nil, is the cache slot of key (see cachedSlot), which saves
// looking it up again.
func (e *Engine) updateOptimistic(ctx context.Context, key string, slot *cacheSlot, fn func(cur *cached) (committed bool, err error)) error {
	var mu *sync.Mutex
	var cc *cached
	if slot != nil {
		mu = slot.mu
		mu.Lock()
		cc = slot.p.Load()
	} else {
		mu = e.lock(key)
		mu.Lock()
		cc = e.cachedRecord(key)
	}
	defer mu.Unlock()
	if cc != nil {
		committed, err := fn(cc)
		_, answer := errors.AsType[*Error](err)
		switch {
		case committed && err == nil:
			return nil
		case err == nil, answer, lostRace(err, true):
			// Confirm from a fresh read, below.
		default:
			return wrapInternal(err)
		}
	}
	return e.updateLocked(ctx, key, func(cur *cached) error {
		_, err := fn(cur)
		return err
	})
}

// cachedSlot returns the record key of the secret name and its cache slot,
// taken from the cache when it holds the secret (so that the key need not be
// made), and otherwise the key alone and a nil slot.
func (e *Engine) cachedSlot(name string) (string, *cacheSlot) {
	if s, ok := e.cache.Load(name); ok {
		slot := s.(*cacheSlot)
		return slot.key, slot
	}
	return e.recordKey(name), nil
}

// cachedRecord returns the engine's cached copy of the record under key, or
// nil.
func (e *Engine) cachedRecord(key string) *cached {
	if s, ok := e.cache.Load(e.cacheName(key)); ok {
		if slot := s.(*cacheSlot); slot.key == key {
			return slot.p.Load()
		}
	}
	return nil
}

// updateLocked is update's loop, with key's lock held.
func (e *Engine) updateLocked(ctx context.Context, key string, fn func(cur *cached) error) error {
	start := time.Now()
	for attempt := 0; ; attempt++ {
		cur, err := e.load(ctx, key)
		if err == errNoSecret {
			cur, err = nil, nil
		}
		if err != nil {
			return wrapInternal(err)
		}
		err = fn(cur)
		if !lostRace(err, cur != nil) && !(cur != nil && blobGone(err) && e.changedSince(ctx, key, cur.rev)) {
			return wrapInternal(err)
		}
		if attempt+1 >= maxAttempts && time.Since(start) >= retryBudget {
			return wrapInternal(fmt.Errorf("secretstore: gave up after %d conflicting writes in %v: %w", attempt+1, time.Since(start).Round(time.Millisecond), backend.ErrConflict))
		}
		backoff(ctx, attempt)
	}
}

// lostRace reports whether err says that another writer got in first, so
// that the attempt should start again from a fresh read: a compare-and-swap
// that failed, a record created or deleted meanwhile. An *Error is the
// engine's answer and never a lost race, whatever its cause.
func lostRace(err error, hadRecord bool) bool {
	if err == nil {
		return false
	}
	var ae *Error
	switch {
	case errors.As(err, &ae):
		return false
	case errors.Is(err, errRetry), errors.Is(err, backend.ErrConflict), errors.Is(err, backend.ErrExists):
		return true
	}
	return hadRecord && errors.Is(err, backend.ErrNotFound)
}

func backoff(ctx context.Context, attempt int) {
	if attempt == 0 {
		return
	}
	d := time.Duration(rand.Int64N(int64(50*time.Microsecond) << min(attempt, 7)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// active returns the secret in cur if it exists for the caller: E1 if
// there is none, its recovery window has passed, or ref names another
// secret; E8 if it is scheduled for deletion and the operation refuses that.
func (e *Engine) active(cur *cached, ref secretRef, allowScheduled bool) (*secretMeta, error) {
	if cur == nil || (cur.meta.scheduled() && cur.meta.purgeDue(e.now())) || !ref.matches(cur.meta) {
		return nil, errSecretNotFound()
	}
	if !allowScheduled && cur.meta.scheduled() {
		return nil, errMarkedForDeletion()
	}
	return cur.meta, nil
}

// purgeIfDue deletes, best effort, a secret whose recovery window has
// passed, so that its name is free and its blobs go away.
func (e *Engine) purgeIfDue(ctx context.Context, key string, cur *cached) {
	if cur == nil || !cur.meta.purgeDue(e.now()) {
		return
	}
	_ = e.update(ctx, key, func(c *cached) error {
		if c == nil || !c.meta.purgeDue(e.now()) {
			return nil
		}
		return e.purge(ctx, key, c)
	})
}

// purge deletes the record and then the blobs of its versions.
func (e *Engine) purge(ctx context.Context, key string, cur *cached) error {
	if err := e.b.DeleteRecord(ctx, key, cur.rev); err != nil {
		e.forget(key)
		return err
	}
	e.cache.Delete(e.cacheName(key))
	e.deleteBlobs(ctx, cur.meta.Versions)
	e.deleteKeys(ctx, droppedChunks(cur.meta.chunks, nil))
	return nil
}

// resolve validates a SecretId and returns its record key and reference.
func (e *Engine) resolve(id string) (string, secretRef, error) {
	if err := validateSecretID("secretId", id); err != nil {
		return "", secretRef{}, err
	}
	return e.resolveValid(id)
}

// resolveValid is resolve for a SecretId that validateSecretID accepted.
func (e *Engine) resolveValid(id string) (string, secretRef, error) {
	ref, err := e.resolveRef(id)
	if err != nil {
		return "", secretRef{}, err
	}
	return e.recordKey(ref.Name), ref, nil
}

// resolveRef is resolveValid without making the record key.
func (e *Engine) resolveRef(id string) (secretRef, error) {
	ref, ok := resolveSecretID(id, e.arnPrefix)
	if !ok {
		return secretRef{}, errSecretNotFound()
	}
	if ref.Name != id && !validName(ref.Name) { // a name was validated above
		return secretRef{}, errSecretNotFound()
	}
	return ref, nil
}

// readLatest loads the secret a SecretId names for a read-only operation,
// purging it first if its recovery window has passed.
func (e *Engine) readLatest(ctx context.Context, id string, allowScheduled bool) (*secretMeta, error) {
	key, ref, err := e.resolve(id)
	if err != nil {
		return nil, err
	}
	return e.readResolved(ctx, key, ref, allowScheduled)
}

// readResolved is readLatest for a SecretId that resolve has resolved to
// ref and key, or that resolveRef has resolved to ref (key "").
func (e *Engine) readResolved(ctx context.Context, key string, ref secretRef, allowScheduled bool) (*secretMeta, error) {
	cur, err := e.loadName(ctx, ref.Name, key)
	if err != nil {
		if err != errNoSecret {
			return nil, wrapInternal(err)
		}
		cur = nil
	}
	s, err := e.active(cur, ref, allowScheduled)
	if err != nil {
		if key == "" {
			key = e.recordKey(ref.Name)
		}
		e.purgeIfDue(ctx, key, cur)
		return nil, err
	}
	return s, nil
}

// blobGone reports whether err is readValue's answer for a blob the
// backend does not have.
func blobGone(err error) bool {
	ae, ok := errors.AsType[*Error](err)
	return ok && ae.Code == CodeDecryptionFailure && errors.Is(err, backend.ErrNotFound)
}

// changedSince reports whether the record under key is no longer at
// revision rev: a writer changed or deleted it.
func (e *Engine) changedSince(ctx context.Context, key string, rev uint64) bool {
	rec, err := e.b.GetRecord(ctx, key, rev)
	if errors.Is(err, backend.ErrNotFound) {
		return true
	}
	return err == nil && rec.Revision != rev
}

// readValue reads and opens the value of version v.
func (e *Engine) readValue(ctx context.Context, s *secretMeta, v *versionMeta) ([]byte, error) {
	return e.readValueTo(ctx, s, v, nil)
}

// readValueTo is readValue unwrapping the data key into dekBuf (see openTo).
func (e *Engine) readValueTo(ctx context.Context, s *secretMeta, v *versionMeta, dekBuf []byte) ([]byte, error) {
	var blob []byte
	var err error
	if e.viewer != nil {
		blob, err = e.viewer.ViewBlob(ctx, v.Blob) // read only: open into a new slice
	} else {
		blob, err = e.b.GetBlob(ctx, v.Blob) // ours: open in place
	}
	if err != nil {
		if errors.Is(err, backend.ErrNotFound) {
			// The record names a value the backend does not have.
			return nil, &Error{Code: CodeDecryptionFailure, Message: msgDecryptionFailure, Err: err}
		}
		return nil, wrapInternal(err) // a storage failure, which callers retry
	}
	return e.openValue(ctx, s, v, blob, e.viewer == nil, dekBuf)
}

// openValue opens blob, the sealed value of version v, in place if inPlace,
// unwrapping the data key into dekBuf (see openTo).
func (e *Engine) openValue(ctx context.Context, s *secretMeta, v *versionMeta, blob []byte, inPlace bool, dekBuf []byte) ([]byte, error) {
	plain, err := openTo(ctx, e.keys, v.aad(s.ARN), blob, v.wrap, inPlace, dekBuf)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		if _, ok := errors.AsType[*keyringIOError](err); ok {
			return nil, wrapInternal(err)
		}
		return nil, &Error{Code: CodeDecryptionFailure, Message: msgDecryptionFailure, Err: fmt.Errorf("secretstore: sealed value does not open: %w", err)}
	}
	return plain, nil
}

// writeValue seals value for version v of s under the secret's key and
// stores the blob or keeps it in once for the commit (see stash),
// returning v with its Blob and KeyID set.
func (e *Engine) writeValue(ctx context.Context, s *secretMeta, v *versionMeta, value []byte, once *sealedOnce) (*versionMeta, error) {
	var rnd [storeRandLen]byte
	defer clear(rnd[:])
	if _, err := cryptorand.Read(rnd[:]); err != nil {
		return nil, err
	}
	var key [blobKeyLen]byte
	e.blobKeyTo(&key, rnd[:16], e.now())
	nv := newVersionMeta(v.ID, v.Created, v.Kind, s.KmsKeyID, string(key[:]), v.LastAccessed, v.Seq, nil)
	sc, err := e.seal(ctx, s, sealAAD(s.ARN, v.ID, v.Kind), value, rnd[16:])
	if err != nil {
		return nil, err
	}
	if err := e.stash(ctx, once, s.ARN, nv, sc); err != nil {
		return nil, err
	}
	return nv, nil
}

// stash takes sc, the sealed blob of the new version nv of the secret arn.
// If once is not nil and the backend is a RecordBlobPutter, once keeps it
// for the commit to store with the record; otherwise it is stored now, and
// once (if not nil) remembers nv, whose blob no record refers to yet.
func (e *Engine) stash(ctx context.Context, once *sealedOnce, arn string, nv *versionMeta, sc *sealScratch) error {
	if once != nil && e.putter != nil {
		once.keep(ctx, e, arn, nv, sc)
		return nil
	}
	err := e.b.PutBlob(ctx, nv.Blob, sc.buf)
	putSealScratch(sc)
	if err != nil {
		return err
	}
	once.keep(ctx, e, arn, nv, nil)
	return nil
}

// storeRandLen is the number of random bytes a write of a value uses: 16
// for the blob key and sealRandLen for the seal.
const storeRandLen = 16 + sealRandLen

// seal seals value, with associated data aad, under the key of s, into
// the buffer of the sealScratch it returns, whose key material is already
// cleared; the caller returns it with putSealScratch. rnd holds the
// sealRandLen random bytes of the seal, drawn for this call alone; seal
// copies them to pooled memory (they go through interface calls, so could
// not stay on the caller's stack) and clears that copy, and the caller
// clears rnd.
func (e *Engine) seal(ctx context.Context, s *secretMeta, aad, value []byte, rnd []byte) (*sealScratch, error) {
	if len(rnd) != sealRandLen {
		return nil, errors.New("secretstore: wrong number of random bytes for a seal")
	}
	sc := sealPool.Get().(*sealScratch)
	r := sc.key[:sealRandLen]
	copy(r, rnd)
	sealedValue, err := sealWith(ctx, e.keys, s.KmsKeyID, aad, value, sc.buf, r, sc.key[sealRandLen:sealRandLen])
	clear(sc.key[:])
	if err != nil {
		putSealScratch(sc)
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		if _, ok := errors.AsType[*keyringIOError](err); ok {
			return nil, wrapInternal(err)
		}
		return nil, &Error{Code: CodeEncryptionFailure, Message: msgEncryptionFailure, Err: err}
	}
	sc.buf = sealedValue
	return sc, nil
}

// bufPool holds buffers for the encodings the engine hands to the backend
// (sealed values, records, chunks). The Backend contract forbids keeping a
// slice passed to it, so a buffer is free again once the call returns.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuf bounds the buffers kept in bufPool: one sealed value of the
// largest size fits.
const maxPooledBuf = 72 << 10

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

// sealScratch is seal's pooled memory: key material and the wrapped
// data key (key), and the buffer the sealed value is built in (buf), which
// is free again once the backend call that stores it returns (a sealedOnce
// holds it until the commit, see stash), as in bufPool. One pool
// serves both, which costs one Get and Put fewer than two pools.
type sealScratch struct {
	key keyScratch
	buf []byte
}

var sealPool = sync.Pool{New: func() any { return new(sealScratch) }}

// putSealScratch clears sc's key material and returns sc to sealPool. The
// caller must not use sc afterwards.
func putSealScratch(sc *sealScratch) {
	clear(sc.key[:])
	if cap(sc.buf) > maxPooledBuf {
		sc.buf = nil
	}
	sc.buf = sc.buf[:0]
	sealPool.Put(sc)
}

// putBuf returns b to bufPool. The caller must not use *b afterwards.
func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// newVersionMeta builds a versionMeta with its lookup hash and encoding.
func newVersionMeta(id string, created time.Time, kind byte, keyID, blob string, lastAccessed time.Time, seq uint64, wrap *WrappedKey) *versionMeta {
	v := &versionMeta{ID: id, Created: created, Kind: kind, KeyID: keyID, Blob: blob, LastAccessed: lastAccessed, Seq: seq, hash: idHash(id), wrap: wrap}
	encodeVersion(v)
	return v
}

// value is a validated secret value.
type value struct {
	kind  byte
	bytes []byte
}

// valueAndToken validates the value and ClientRequestToken of a write in
// AWS's order: model validation (value lengths, a missing token in strict
// mode) before parameter combinations (both value kinds). The token is
// required when a value is given, or always if tokenAlways.
func (e *Engine) valueAndToken(s *string, b []byte, token string, tokenAlways bool) (string, value, bool, error) {
	if err := checkValueLengths(s, b); err != nil {
		return "", value{}, false, err
	}
	tok, err := e.token(token, tokenAlways || s != nil || b != nil, CodeInvalidRequest)
	if err != nil {
		return "", value{}, false, err
	}
	val, present, err := valueOf(s, b)
	return tok, val, present, err
}

// checkValueLengths applies the service model's length limits to the
// value fields that are set.
func checkValueLengths(s *string, b []byte) error {
	if s != nil && (len(*s) == 0 || len(*s) > maxValueLen) {
		return errValidation("secretString", "Member must have length between 1 and 65536")
	}
	if b != nil && (len(b) == 0 || len(b) > maxValueLen) {
		return errValidation("secretBinary", "Member must have length between 1 and 65536")
	}
	return nil
}

// valueOf validates the SecretString/SecretBinary pair of a request. present
// is false when neither is set.
func valueOf(s *string, b []byte) (v value, present bool, err error) {
	if err := checkValueLengths(s, b); err != nil {
		return value{}, false, err
	}
	switch {
	case s != nil && b != nil:
		return value{}, false, errInvalidParameter(msgBothValues)
	case s != nil:
		// The engine only reads a value (to seal or compare it), so it can
		// use the string's bytes without copying them.
		return value{kind: kindString, bytes: unsafe.Slice(unsafe.StringData(*s), len(*s))}, true, nil
	case b != nil:
		return value{kind: kindBinary, bytes: b}, true, nil
	}
	return value{}, false, nil
}

// token validates a ClientRequestToken and, when it is empty and a value is
// being written, generates one (or, under WithStrictTokens, refuses).
// missing is the code of the error for a missing token (it differs between
// operations).
func (e *Engine) token(tok string, needed bool, missing Code) (string, error) {
	if tok != "" {
		if !validToken(tok) {
			return "", errValidation("clientRequestToken", "Member must have length between 32 and 64")
		}
		return tok, nil
	}
	if !needed {
		return "", nil
	}
	if e.cfg.strict {
		return "", newError(missing, msgTokenRequired)
	}
	id, err := e.newVersionID()
	if err != nil {
		return "", wrapInternal(err)
	}
	return id, nil
}

func validateSecretID(field, id string) error {
	if len(id) == 0 || len(id) > maxSecretIDLen {
		return errValidation(field, "Member must have length between 1 and 2048")
	}
	if !strings.HasPrefix(id, "arn:") && !validName(id) {
		return newError(CodeValidation, msgInvalidName)
	}
	return nil
}

func validateStages(stages []string) error {
	if stages == nil {
		return nil
	}
	if len(stages) == 0 || len(stages) > maxLabels {
		return errValidation("versionStages", "Member must have length between 1 and 20")
	}
	for _, l := range stages {
		if len(l) == 0 || len(l) > maxStageLen {
			return errValidation("versionStages", "Member must have length between 1 and 256")
		}
	}
	return nil
}

func validateVersionID(field, id string) error {
	if id != "" && !validToken(id) {
		return errValidation(field, "Member must have length between 32 and 64")
	}
	return nil
}

func validateTags(tags []Tag) error {
	if len(tags) > maxTags {
		return errValidation("tags", "Member must have length less than or equal to 50")
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if len(t.Key) == 0 || len(t.Key) > maxTagKeyLen {
			return errValidation("tags.member.key", "Member must have length between 1 and 128")
		}
		if len(t.Value) > maxTagValueLen {
			return errValidation("tags.member.value", "Member must have length less than or equal to 256")
		}
		if seen[t.Key] {
			return errInvalidParameter("The tag key " + t.Key + " appears more than once in the request.")
		}
		seen[t.Key] = true
	}
	return nil
}

// CreateSecret creates a secret, with a first version if a value is given
// (SPEC §2.1). Repeating a call with the same ClientRequestToken and value
// returns the first call's response and changes nothing.
func (e *Engine) CreateSecret(ctx context.Context, in *CreateSecretInput) (*CreateSecretOutput, error) {
	out, err := e.createSecret(ctx, in)
	return out, annotate(err, "CreateSecret", in.Name)
}

func (e *Engine) createSecret(ctx context.Context, in *CreateSecretInput) (*CreateSecretOutput, error) {
	if len(in.Name) == 0 || len(in.Name) > maxNameLen || !validName(in.Name) {
		if len(in.Name) > maxNameLen {
			return nil, errValidation("name", "Member must have length less than or equal to 512")
		}
		return nil, newError(CodeValidation, msgInvalidName)
	}
	if len(in.Description) > maxDescriptionLen {
		return nil, errValidation("description", "Member must have length less than or equal to 2048")
	}
	if len(in.KmsKeyId) > maxKeyIDLen {
		return nil, errValidation("kmsKeyId", "Member must have length less than or equal to 2048")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	tok, val, hasVal, err := e.valueAndToken(in.SecretString, in.SecretBinary, in.ClientRequestToken, false)
	if err != nil {
		return nil, err
	}
	key := e.recordKey(in.Name)
	var out *CreateSecretOutput
	once := &sealedOnce{}
	err = e.update(ctx, key, func(cur *cached) error {
		now := e.now()
		if cur != nil && cur.meta.purgeDue(now) {
			if err := e.purge(ctx, key, cur); err != nil {
				return err
			}
			return errRetry
		}
		if cur != nil {
			s := cur.meta
			if s.scheduled() {
				return errInvalidRequest(msgScheduledForDelete)
			}
			if in.ClientRequestToken != "" && hasVal {
				if v, _ := findVersion(s.Versions, tok); v != nil {
					r, err := classifyReplay(v, val.kind, func() (bool, error) { return e.sameValue(ctx, s, v, val.bytes) })
					if err != nil {
						return err
					}
					if r == replaySame {
						out = &CreateSecretOutput{ARN: s.ARN, Name: s.Name, VersionId: v.ID}
						return nil
					}
					return errTokenInUse(tok, s.ARN)
				}
			}
			return errSecretExists(in.Name)
		}
		arn, err := e.newARN(in.Name)
		if err != nil {
			return err
		}
		s := &secretMeta{
			secretInfo: &secretInfo{
				Name:        in.Name,
				ARN:         arn,
				Description: in.Description,
				KmsKeyID:    in.KmsKeyId,
				Created:     now,
			},
			LastChanged: now,
		}
		if in.Tags != nil {
			s.TagsSet = true
			s.Tags = slices.Clone(in.Tags)
		}
		var written *versionMeta
		if hasVal {
			v, err := e.writeValue(ctx, s, &versionMeta{ID: tok, Created: now, Kind: val.kind}, val.bytes, once)
			if err != nil {
				return err
			}
			written = v
			s.Versions = []*versionMeta{v}
			s.NextSeq = 1
			s.Labels = labelSet{{LabelCurrent, v.ID}}
		}
		// once holds the value's blob, stored or not: it deletes one no
		// record refers to.
		if err := e.commitWith(ctx, key, nil, s, once); err != nil {
			if !definitelyFailed(err) {
				once.settled()
			}
			return err
		}
		once.settled()
		out = &CreateSecretOutput{ARN: s.ARN, Name: s.Name}
		if written != nil {
			out.VersionId = written.ID
		}
		return nil
	})
	once.discard(ctx, e)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sameValue reports whether version v of s holds exactly plaintext.
func (e *Engine) sameValue(ctx context.Context, s *secretMeta, v *versionMeta, plaintext []byte) (bool, error) {
	stored, err := e.readValue(ctx, s, v)
	if err != nil {
		return false, err
	}
	defer clear(stored)
	return equalValues(stored, plaintext), nil
}

// putResult is what storeValue did.
type putResult struct {
	meta    *secretMeta
	version *versionMeta
	replay  bool
}

// storeValue is the common core of PutSecretValue and UpdateSecret (SPEC
// §2.2): idempotency, the new or filled version, label moves, quotas and
// pruning, all applied to a copy of s. It writes the value's blob; the
// caller commits the returned metadata (and deletes the blob if that fails).
// stages nil means AWSCURRENT.
//
// fresh says that tok was generated for this call (see freshToken), so that
// no version can have it as its ID and there is no need to look.
//
// The versions pruned are appended to removedBuf, which may be nil.
func (e *Engine) storeValue(ctx context.Context, s *secretMeta, tok string, fresh bool, val value, stages []string, now time.Time, once *sealedOnce, removedBuf []*versionMeta) (putResult, []*versionMeta, error) {
	v, idx := (*versionMeta)(nil), -1
	if !fresh {
		v, idx = findVersion(s.Versions, tok)
	}
	r, err := classifyReplay(v, val.kind, func() (bool, error) { return e.sameValue(ctx, s, v, val.bytes) })
	if err != nil {
		return putResult{}, nil, err
	}
	switch r {
	case replaySame:
		// A blob kept from an earlier attempt is of no use now; the
		// commit of a change made with the replay must not store it.
		once.discard(ctx, e)
		return putResult{meta: s, version: v, replay: true}, nil, nil
	case replayDifferent:
		return putResult{}, nil, errTokenInUse(tok, s.ARN)
	}
	next := s.cloneForWrite()
	firstValue := s.Labels.holder(LabelCurrent) == "" && !hasValue(s.Versions)
	next.Labels = putLabelsTo(next.box.labels[:0], s.Labels, tok, stages, firstValue)
	if err := next.Labels.checkQuota(); err != nil {
		return putResult{}, nil, err
	}
	// nv is the new version; this call owns it until commit publishes it,
	// and sets its key and blob once the value is stored.
	box := once.takeBox()
	nv := &box.v
	nv.ID, nv.Created, nv.Kind, nv.Seq, nv.hash = tok, now, val.kind, s.NextSeq, idHash(tok)
	if r == replayPlaceholder {
		nv.Created, nv.Seq = v.Created, v.Seq
	} else {
		idx = -1
		next.NextSeq++
	}
	var pruned []*versionMeta
	var over bool
	if idx < 0 {
		pruned, over = appendPruned(next, nv, now, e.cfg.maxVersions, e.cfg.pruneAge, removedBuf)
	} else {
		next.Versions, pruned, over = pruneWith(s.Versions, idx, nv, next.Labels, now, e.cfg.maxVersions, e.cfg.pruneAge)
		next.varr, next.varrEnd = nil, 0
	}
	if over && r == replayNew {
		return putResult{}, nil, newError(CodeLimitExceeded, msgTooManyVersions)
	}
	if once.reuse(next, nv) {
		box.encode()
	} else {
		// One read of the random source serves the blob key, the data
		// key and the nonces, unless the write drew them already.
		var drawn [storeRandLen]byte
		rnd := once.takeRand()
		if len(rnd) != storeRandLen {
			if _, err := cryptorand.Read(drawn[:]); err != nil {
				return putResult{}, nil, err
			}
			rnd = drawn[:]
		}
		var key [blobKeyLen]byte
		e.blobKeyTo(&key, rnd[:16], now)
		nv.KeyID = next.KmsKeyID
		box.encodeNew(unsafe.String(&key[0], len(key))) // nv.Blob is in the box
		sc, err := e.seal(ctx, next, box.sealAAD(next.ARN), val.bytes, rnd[16:])
		clear(rnd)
		if err != nil {
			return putResult{}, nil, err
		}
		if err := e.stash(ctx, once, next.ARN, nv, sc); err != nil {
			return putResult{}, nil, err
		}
	}
	next.LastChanged = now
	return putResult{meta: next, version: nv}, pruned, nil
}

// sealedOnce keeps the value a write sealed in an attempt that lost a
// compare-and-swap race, so that the next attempt commits the same blob
// instead of sealing and writing the value again. A sealed value is bound
// only to the ARN, VersionId and kind and to its key, which a retry keeps.
// Without it a writer whose attempts are slow (a file backend's fsyncs) can
// lose every race to a faster one. The zero value is ready; a nil
// *sealedOnce keeps nothing.
//
// It also carries random bytes drawn for the write's first seal, together
// with those of its VersionId (see drawWithID), so that a write reads the
// random source once.
type sealedOnce struct {
	arn string
	v   *versionMeta // the blob no record refers to yet, or nil

	// sealed, if not nil, holds v's blob, sealed and not stored yet: the
	// engine's backend is a RecordBlobPutter, and the commit stores it
	// with the record (commitWith).
	sealed *sealScratch

	rnd     [16 + storeRandLen]byte // a VersionId's bytes, then the blob key's and the seal's
	haveRnd bool                    // rnd[16:] is unused

	// box, if not nil, is the versionBox of the first attempt, which holds
	// the VersionId drawn by drawWithID.
	box *versionBox
}

// drawWithID draws the random bytes of a new VersionId and of the first
// seal in one read, and returns the VersionId, whose bytes are in the box
// that the first attempt's new version takes (see takeBox).
func (c *sealedOnce) drawWithID() (string, error) {
	if _, err := cryptorand.Read(c.rnd[:]); err != nil {
		return "", err
	}
	c.haveRnd = true
	c.box = new(versionBox)
	id := c.box.idRoom()
	versionIDTo(id, uuid.UUID(c.rnd[:16]))
	return unsafe.String(&id[0], len(id)), nil
}

// takeBox returns a new versionBox for a new version: the one drawWithID
// allocated, once, and otherwise a fresh one.
func (c *sealedOnce) takeBox() *versionBox {
	if c == nil || c.box == nil {
		return new(versionBox)
	}
	b := c.box
	c.box = nil
	return b
}

// takeRand returns the random bytes drawn for the first seal, once, or nil.
func (c *sealedOnce) takeRand() []byte {
	if c == nil || !c.haveRnd {
		return nil
	}
	c.haveRnd = false
	return c.rnd[16:]
}

// reuse gives the new version nv of s (not yet encoded) the key and blob
// kept from an earlier attempt, and reports whether there was one that fits.
func (c *sealedOnce) reuse(s *secretMeta, nv *versionMeta) bool {
	if c == nil || c.v == nil || c.arn != s.ARN || c.v.ID != nv.ID || c.v.Kind != nv.Kind || c.v.KeyID != s.KmsKeyID {
		return false
	}
	nv.KeyID, nv.Blob = c.v.KeyID, c.v.Blob
	return true
}

// keep remembers v, whose blob was sealed for the secret arn, and either
// stored already (sealed nil) or held in sealed for the commit to store;
// it discards a kept blob that no longer fits. A nil c keeps nothing, and
// then sealed must be nil.
func (c *sealedOnce) keep(ctx context.Context, e *Engine, arn string, v *versionMeta, sealed *sealScratch) {
	if c == nil {
		return
	}
	c.discard(ctx, e)
	c.arn, c.v, c.sealed = arn, v, sealed
}

// pending reports whether c holds a sealed blob that is not stored yet.
func (c *sealedOnce) pending() bool { return c != nil && c.v != nil && c.sealed != nil }

// settled records that the kept blob is now referenced, or may be (a
// commit that failed without saying whether it happened): it must not be
// deleted.
func (c *sealedOnce) settled() {
	if c != nil {
		c.v = nil
		c.release()
	}
}

// discard deletes the kept blob, which no record refers to, if it was
// stored, and forgets it.
func (c *sealedOnce) discard(ctx context.Context, e *Engine) {
	if c != nil && c.v != nil {
		if c.sealed == nil {
			e.deleteBlobs(ctx, []*versionMeta{c.v})
		}
		c.v = nil
		c.release()
	}
}

// release returns the buffer of a sealed blob not stored.
func (c *sealedOnce) release() {
	if c.sealed != nil {
		putSealScratch(c.sealed)
		c.sealed = nil
	}
}

// PutSecretValue stores a new version of a secret's value (SPEC §2.2). With
// no VersionStages the new version takes AWSCURRENT, the version that held
// it takes AWSPREVIOUS and loses AWSPENDING. A retry with the same
// ClientRequestToken and value succeeds without change.
func (e *Engine) PutSecretValue(ctx context.Context, in *PutSecretValueInput) (*PutSecretValueOutput, error) {
	out, err := e.putSecretValue(ctx, in)
	return out, annotate(err, "PutSecretValue", in.SecretId)
}

func (e *Engine) putSecretValue(ctx context.Context, in *PutSecretValueInput) (*PutSecretValueOutput, error) {
	if err := validateSecretID("secretId", in.SecretId); err != nil {
		return nil, err
	}
	if err := validateStages(in.VersionStages); err != nil {
		return nil, err
	}
	once := &sealedOnce{}
	defer clear(once.rnd[:])
	given := in.ClientRequestToken
	if e.freshToken(given) && !e.cfg.strict {
		// The token is generated (token would do it): draw it together
		// with the randomness of the seal.
		var err error
		if given, err = once.drawWithID(); err != nil {
			return nil, wrapInternal(err)
		}
	}
	tok, val, hasVal, err := e.valueAndToken(in.SecretString, in.SecretBinary, given, true)
	if err != nil {
		return nil, err
	}
	if !hasVal {
		return nil, errInvalidRequest(msgValueRequired)
	}
	ref, err := e.resolveRef(in.SecretId)
	if err != nil {
		return nil, err
	}
	key, slot := e.cachedSlot(ref.Name)
	var out *PutSecretValueOutput
	err = e.updateOptimistic(ctx, key, slot, func(cur *cached) (bool, error) {
		s, err := e.active(cur, ref, false)
		if err != nil {
			return false, err
		}
		var prunedBuf [2]*versionMeta
		res, pruned, err := e.storeValue(ctx, s, tok, e.freshToken(in.ClientRequestToken), val, in.VersionStages, e.now(), once, prunedBuf[:0])
		if err != nil {
			return false, err
		}
		if !res.replay {
			if err := e.commitWith(ctx, key, cur, res.meta, once); err != nil {
				if !definitelyFailed(err) {
					once.settled()
				}
				return false, err
			}
			once.settled()
			e.deleteBlobs(ctx, pruned)
		}
		// One allocation holds the output and its (usually one) stages.
		o := &struct {
			out    PutSecretValueOutput
			stages [2]string
		}{}
		// Field by field: a struct literal would be copied whole, with a
		// bulk write barrier while the collector marks.
		o.out.ARN, o.out.Name, o.out.VersionId = res.meta.ARN, res.meta.Name, res.version.ID
		o.out.VersionStages = res.meta.Labels.stagesInto(o.stages[:], res.version.ID)
		out = &o.out
		return !res.replay, nil
	})
	once.discard(ctx, e)
	if err != nil {
		e.purgeIfDueKey(ctx, key)
		return nil, err
	}
	return out, nil
}

// purgeIfDueKey purges the secret under key if its window has passed.
func (e *Engine) purgeIfDueKey(ctx context.Context, key string) {
	if s, ok := e.cache.Load(e.cacheName(key)); ok {
		e.purgeIfDue(ctx, key, s.(*cacheSlot).p.Load())
	}
}

// UpdateSecret changes a secret's description, key or value (SPEC §2.3). A
// value becomes a new version that always takes AWSCURRENT.
func (e *Engine) UpdateSecret(ctx context.Context, in *UpdateSecretInput) (*UpdateSecretOutput, error) {
	out, err := e.updateSecret(ctx, in)
	return out, annotate(err, "UpdateSecret", in.SecretId)
}

func (e *Engine) updateSecret(ctx context.Context, in *UpdateSecretInput) (*UpdateSecretOutput, error) {
	if err := validateSecretID("secretId", in.SecretId); err != nil {
		return nil, err
	}
	if in.Description != nil && len(*in.Description) > maxDescriptionLen {
		return nil, errValidation("description", "Member must have length less than or equal to 2048")
	}
	if in.KmsKeyId != nil && len(*in.KmsKeyId) > maxKeyIDLen {
		return nil, errValidation("kmsKeyId", "Member must have length less than or equal to 2048")
	}
	tok, val, hasVal, err := e.valueAndToken(in.SecretString, in.SecretBinary, in.ClientRequestToken, false)
	if err != nil {
		return nil, err
	}
	key, ref, err := e.resolveValid(in.SecretId)
	if err != nil {
		return nil, err
	}
	var out *UpdateSecretOutput
	once := &sealedOnce{}
	err = e.update(ctx, key, func(cur *cached) error {
		s, err := e.active(cur, ref, false)
		if err != nil {
			return err
		}
		now := e.now()
		next := s.clone()
		if in.Description != nil {
			next.Description = *in.Description
		}
		var written, obsolete []*versionMeta
		if in.KmsKeyId != nil && *in.KmsKeyId != s.KmsKeyID {
			next.KmsKeyID = *in.KmsKeyId
			written, obsolete, err = e.reencrypt(ctx, next)
			if err != nil {
				e.deleteBlobs(ctx, written)
				return err
			}
		}
		var res putResult
		var pruned []*versionMeta
		if hasVal {
			res, pruned, err = e.storeValue(ctx, next, tok, e.freshToken(in.ClientRequestToken), val, nil, now, once, nil)
			if err != nil {
				e.deleteBlobs(ctx, written)
				return err
			}
			next = res.meta
		}
		if res.replay && in.Description == nil && in.KmsKeyId == nil {
			// A retry of a call that already succeeded: nothing to do.
			out = &UpdateSecretOutput{ARN: s.ARN, Name: s.Name, VersionId: res.version.ID}
			return nil
		}
		next.LastChanged = now
		if err := e.commitWith(ctx, key, cur, next, once, written...); err != nil {
			if !definitelyFailed(err) {
				once.settled()
			}
			return err
		}
		once.settled()
		e.deleteBlobs(ctx, append(obsolete, pruned...))
		out = &UpdateSecretOutput{ARN: next.ARN, Name: next.Name}
		if hasVal {
			out.VersionId = res.version.ID
		}
		return nil
	})
	once.discard(ctx, e)
	if err != nil {
		e.purgeIfDueKey(ctx, key)
		return nil, err
	}
	return out, nil
}

// reencrypt seals the values of the versions labelled AWSCURRENT,
// AWSPREVIOUS or AWSPENDING again under s.KmsKeyID, replacing them in
// s.Versions (SPEC §2.3 step 4). It returns the new blobs and the old ones.
func (e *Engine) reencrypt(ctx context.Context, s *secretMeta) (written, obsolete []*versionMeta, err error) {
	versions := slices.Clone(s.Versions)
	for i, v := range versions {
		if v.Kind == kindNone || v.KeyID == s.KmsKeyID ||
			!(s.Labels.has(v.ID, LabelCurrent) || s.Labels.has(v.ID, LabelPrevious) || s.Labels.has(v.ID, LabelPending)) {
			continue
		}
		plain, err := e.readValue(ctx, s, v)
		if err != nil {
			return written, nil, err
		}
		nv, err := e.writeValue(ctx, s, v, plain, nil)
		clear(plain)
		if err != nil {
			return written, nil, err
		}
		written = append(written, nv)
		obsolete = append(obsolete, v)
		versions[i] = nv
	}
	s.Versions = versions
	return written, obsolete, nil
}

// GetSecretValue returns a version's value: the AWSCURRENT version by
// default, or the one VersionId or VersionStage names (SPEC §2.4).
func (e *Engine) GetSecretValue(ctx context.Context, in *GetSecretValueInput) (*GetSecretValueOutput, error) {
	out, err := e.getSecretValue(ctx, in)
	if err != nil {
		return nil, annotate(err, "GetSecretValue", in.SecretId)
	}
	return out, nil
}

func (e *Engine) getSecretValue(ctx context.Context, in *GetSecretValueInput) (*GetSecretValueOutput, error) {
	if err := validateSecretID("secretId", in.SecretId); err != nil {
		return nil, err
	}
	if err := validateVersionID("versionId", in.VersionId); err != nil {
		return nil, err
	}
	if len(in.VersionStage) > maxStageLen {
		return nil, errValidation("versionStage", "Member must have length between 1 and 256")
	}
	// The record key is made only if the cache does not hold it.
	ref, err := e.resolveRef(in.SecretId)
	if err != nil {
		return nil, err
	}
	// One allocation holds the output, its (usually one or two) stages, and
	// room for the value's data key while it is in use, which the data key
	// would otherwise need for itself (it goes through interface calls).
	// The caller only ever sees o.out.
	o := &struct {
		out    GetSecretValueOutput
		stages [2]string
		dek    [32]byte // cleared by openTo
	}{}
	var s *secretMeta
	var v *versionMeta
	var plain []byte
	if e.pair != nil {
		s, v, plain, err = e.readCached(ctx, ref, in, o.dek[:])
	}
	if s == nil && err == nil {
		gone := ""
		for {
			if s, err = e.readResolved(ctx, "", ref, false); err != nil {
				return nil, err
			}
			if v, err = selectVersion(s, in.VersionId, in.VersionStage); err != nil {
				return nil, err
			}
			plain, err = e.readValueTo(ctx, s, v, o.dek[:])
			if err == nil || !blobGone(err) || v.Blob == gone {
				break
			}
			// A writer replaced the record and deleted the blob since
			// it was read (a new key, a prune): read the record again,
			// unless it still names the blob that is not there.
			gone = v.Blob
		}
	}
	if err != nil {
		return nil, err
	}
	// o is new and zeroed: set the fields one by one rather than assign a
	// whole struct, which copies its zeros too (behind a bulk write barrier
	// while the collector marks).
	out := &o.out
	out.ARN, out.Name, out.VersionId = s.ARN, s.Name, v.ID
	out.VersionStages = s.Labels.stagesInto(o.stages[:], v.ID)
	out.CreatedDate = v.Created
	if v.Kind == kindString {
		// plain is a buffer this call owns and nothing else references, so
		// the string can take it over without a copy.
		out.SecretString = unsafe.String(unsafe.SliceData(plain), len(plain))
	} else {
		out.SecretBinary = plain
	}
	e.touch(ctx, s, v)
	e.pruneIfOver(ctx, s)
	return out, nil
}

// readCached is GetSecretValue's read in one backend call, for a backend
// that is a RecordBlobGetter (e.pair, which the caller checks): when the cache holds the secret and names the
// requested version's blob, it asks the backend to confirm the cached
// revision and return the blob together. It returns a nil s (and no error)
// when that does not apply or the record changed, for the caller to read
// the usual way.
func (e *Engine) readCached(ctx context.Context, ref secretRef, in *GetSecretValueInput, dekBuf []byte) (*secretMeta, *versionMeta, []byte, error) {
	sl, ok := e.cache.Load(ref.Name)
	if !ok {
		return nil, nil, nil, nil
	}
	slot := sl.(*cacheSlot)
	cc := slot.p.Load()
	if cc == nil {
		return nil, nil, nil, nil
	}
	s, err := e.active(cc, ref, false)
	if err != nil {
		return nil, nil, nil, nil // the usual path gives the answer (and purges)
	}
	v, err := selectVersion(s, in.VersionId, in.VersionStage)
	if err != nil || v.Blob == "" {
		return nil, nil, nil, nil
	}
	rec, blob, err := e.pair.GetRecordBlob(ctx, slot.key, cc.rev, v.Blob)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return nil, nil, nil, nil
	case err != nil:
		return nil, nil, nil, wrapInternal(err)
	case rec.Revision != cc.rev || rec.Data != nil || blob == nil:
		return nil, nil, nil, nil // changed, or no such blob: read afresh
	}
	plain, err := e.openValue(ctx, s, v, blob, true, dekBuf)
	if err != nil {
		return nil, nil, nil, err
	}
	return s, v, plain, nil
}

// pruneIfOver prunes a secret that holds more versions than the quota
// allows, as reads do lazily (SPEC §3 rule 4). Writes never leave a secret
// over the quota, so this only happens after the engine is configured with
// a lower WithMaxVersions than the versions were written under. It is best
// effort, like touch, and does not change LastChangedDate.
func (e *Engine) pruneIfOver(ctx context.Context, s *secretMeta) {
	if len(s.Versions) <= e.cfg.maxVersions {
		return
	}
	key := e.recordKey(s.Name)
	_ = e.update(ctx, key, func(cur *cached) error {
		if cur == nil || cur.meta.ARN != s.ARN {
			return nil
		}
		kept, pruned, _ := pruneVersions(cur.meta.Versions, cur.meta.Labels, e.now(), e.cfg.maxVersions, e.cfg.pruneAge)
		if len(pruned) == 0 {
			return nil
		}
		next := cur.meta.clone()
		next.Versions = kept
		if err := e.commit(ctx, key, cur, next); err != nil {
			return err
		}
		e.deleteBlobs(ctx, pruned)
		return nil
	})
}

// touch records that version v of s was read today, writing only when the
// day changes. It is best effort: a read never fails because its access
// date could not be recorded.
func (e *Engine) touch(ctx context.Context, s *secretMeta, v *versionMeta) {
	now := e.now()
	if sameDay(s.LastAccessed, now) && v.LastAccessed.Equal(s.LastAccessed) {
		return
	}
	today := now.Truncate(24 * time.Hour)
	key := e.recordKey(s.Name)
	_ = e.update(ctx, key, func(cur *cached) error {
		if cur == nil || cur.meta.ARN != s.ARN {
			return nil
		}
		cv, i := findVersion(cur.meta.Versions, v.ID)
		if cv == nil || (cur.meta.LastAccessed.Equal(today) && cv.LastAccessed.Equal(today)) {
			return nil
		}
		next := cur.meta.clone()
		next.LastAccessed = today
		next.Versions = slices.Clone(cur.meta.Versions)
		next.Versions[i] = newVersionMeta(cv.ID, cv.Created, cv.Kind, cv.KeyID, cv.Blob, today, cv.Seq, cv.wrap)
		return e.commit(ctx, key, cur, next)
	})
}

// sameDay reports whether day is the start of the UTC day of t, that is
// whether day equals t.Truncate(24*time.Hour), without its division.
func sameDay(day, t time.Time) bool {
	const secondsPerDay = 24 * 60 * 60
	d, u := day.Unix(), t.Unix()
	return day.Nanosecond() == 0 && d%secondsPerDay == 0 && d <= u && u-d < secondsPerDay
}

// DescribeSecret returns a secret's metadata, never its values (SPEC §2.5).
// It works on secrets scheduled for deletion.
func (e *Engine) DescribeSecret(ctx context.Context, in *DescribeSecretInput) (*DescribeSecretOutput, error) {
	s, err := e.readLatest(ctx, in.SecretId, true)
	if err != nil {
		return nil, annotate(err, "DescribeSecret", in.SecretId)
	}
	le := listEntry(s)
	return &DescribeSecretOutput{
		ARN: le.ARN, Name: le.Name, Description: le.Description, KmsKeyId: le.KmsKeyId,
		RotationEnabled: le.RotationEnabled, RotationConfigured: le.RotationConfigured,
		RotationLambdaARN: le.RotationLambdaARN, RotationRules: le.RotationRules,
		LastRotatedDate: le.LastRotatedDate, NextRotationDate: le.NextRotationDate,
		LastChangedDate: le.LastChangedDate, LastAccessedDate: le.LastAccessedDate,
		DeletedDate: le.DeletedDate, CreatedDate: le.CreatedDate, Tags: le.Tags,
		VersionIdsToStages: le.SecretVersionsToStages,
	}, nil
}

// listEntry describes s as ListSecrets and DescribeSecret do.
func listEntry(s *secretMeta) SecretListEntry {
	le := SecretListEntry{
		ARN: s.ARN, Name: s.Name, Description: s.Description, KmsKeyId: s.KmsKeyID,
		RotationEnabled:    s.Rotation.Enabled,
		RotationConfigured: s.Rotation.Configured,
		RotationLambdaARN:  s.Rotation.LambdaARN,
		LastRotatedDate:    s.Rotation.LastRotated,
		NextRotationDate:   s.Rotation.NextRotated,
		LastChangedDate:    s.LastChanged,
		LastAccessedDate:   s.LastAccessed,
		DeletedDate:        s.DeletionDate,
		CreatedDate:        s.Created,
	}
	if s.Rotation.Configured {
		rules := s.Rotation.Rules
		if rules.AutomaticallyAfterDays != nil {
			rules.AutomaticallyAfterDays = Int64(*rules.AutomaticallyAfterDays)
		}
		le.RotationRules = &rules
	}
	if s.TagsSet {
		le.Tags = append([]Tag{}, s.Tags...)
	}
	le.SecretVersionsToStages = s.versionsToStages()
	return le
}

// UpdateSecretVersionStage moves a staging label between versions (SPEC
// §2.7). Moving AWSCURRENT needs RemoveFromVersionId naming its holder, and
// moves AWSPREVIOUS to that version.
func (e *Engine) UpdateSecretVersionStage(ctx context.Context, in *UpdateSecretVersionStageInput) (*UpdateSecretVersionStageOutput, error) {
	out, err := e.updateSecretVersionStage(ctx, in)
	return out, annotate(err, "UpdateSecretVersionStage", in.SecretId)
}

func (e *Engine) updateSecretVersionStage(ctx context.Context, in *UpdateSecretVersionStageInput) (*UpdateSecretVersionStageOutput, error) {
	if err := validateSecretID("secretId", in.SecretId); err != nil {
		return nil, err
	}
	if len(in.VersionStage) == 0 || len(in.VersionStage) > maxStageLen {
		return nil, errValidation("versionStage", "Member must have length between 1 and 256")
	}
	if err := validateVersionID("removeFromVersionId", in.RemoveFromVersionId); err != nil {
		return nil, err
	}
	if err := validateVersionID("moveToVersionId", in.MoveToVersionId); err != nil {
		return nil, err
	}
	key, ref, err := e.resolveValid(in.SecretId)
	if err != nil {
		return nil, err
	}
	var out *UpdateSecretVersionStageOutput
	err = e.update(ctx, key, func(cur *cached) error {
		s, err := e.active(cur, ref, false)
		if err != nil {
			return err
		}
		for _, id := range []string{in.RemoveFromVersionId, in.MoveToVersionId} {
			if v, _ := findVersion(s.Versions, id); id != "" && v == nil {
				return errInvalidParameter("The version " + id + " doesn't exist for secret " + s.Name + ".")
			}
		}
		labels, err := moveLabel(s.Labels, stageMove{Label: in.VersionStage, Remove: in.RemoveFromVersionId, Move: in.MoveToVersionId})
		if err != nil {
			return err
		}
		out = &UpdateSecretVersionStageOutput{ARN: s.ARN, Name: s.Name}
		if slices.Equal(labels, s.Labels) {
			return nil // the label is already where the caller wants it
		}
		if err := labels.checkQuota(); err != nil {
			return err
		}
		now := e.now()
		next := s.clone()
		next.Labels = labels
		var pruned []*versionMeta
		next.Versions, pruned, _ = pruneVersions(s.Versions, labels, now, e.cfg.maxVersions, e.cfg.pruneAge)
		next.LastChanged = now
		if err := e.commit(ctx, key, cur, next); err != nil {
			return err
		}
		e.deleteBlobs(ctx, pruned)
		out = &UpdateSecretVersionStageOutput{ARN: s.ARN, Name: s.Name}
		return nil
	})
	if err != nil {
		e.purgeIfDueKey(ctx, key)
		return nil, err
	}
	return out, nil
}

// DeleteSecret schedules a secret for deletion after a recovery window of 7
// to 30 days (30 by default), or deletes it at once with
// ForceDeleteWithoutRecovery (SPEC §2.8).
func (e *Engine) DeleteSecret(ctx context.Context, in *DeleteSecretInput) (*DeleteSecretOutput, error) {
	out, err := e.deleteSecret(ctx, in)
	return out, annotate(err, "DeleteSecret", in.SecretId)
}

func (e *Engine) deleteSecret(ctx context.Context, in *DeleteSecretInput) (*DeleteSecretOutput, error) {
	if err := validateSecretID("secretId", in.SecretId); err != nil {
		return nil, err
	}
	days := int64(maxRecoveryDays)
	if w := in.RecoveryWindowInDays; w != nil {
		if *w < minRecoveryDays || *w > maxRecoveryDays {
			return nil, errInvalidParameter(msgRecoveryWindow)
		}
		if in.ForceDeleteWithoutRecovery {
			return nil, errInvalidParameter(msgForceAndWindow)
		}
		days = *w
	}
	ref, ok := resolveSecretID(in.SecretId, e.arnPrefix)
	key := e.recordKey(ref.Name)
	var out *DeleteSecretOutput
	err := e.update(ctx, key, func(cur *cached) error {
		now := e.now()
		if cur != nil && cur.meta.purgeDue(now) {
			if err := e.purge(ctx, key, cur); err != nil {
				return err
			}
			return errRetry
		}
		if !ok || !validName(ref.Name) || cur == nil || !ref.matches(cur.meta) {
			if !in.ForceDeleteWithoutRecovery {
				return errSecretNotFound()
			}
			// AWS answers a forced delete of a secret it does not know as if
			// it had deleted it.
			arn := in.SecretId
			if !strings.HasPrefix(arn, "arn:") {
				var err error
				if arn, err = e.newARN(in.SecretId); err != nil {
					return err
				}
			}
			out = &DeleteSecretOutput{ARN: arn, Name: in.SecretId, DeletionDate: now}
			return nil
		}
		s := cur.meta
		if in.ForceDeleteWithoutRecovery {
			if err := e.purge(ctx, key, cur); err != nil {
				return err
			}
			out = &DeleteSecretOutput{ARN: s.ARN, Name: s.Name, DeletionDate: now}
			return nil
		}
		if s.scheduled() {
			return errMarkedForDeletion()
		}
		next := s.clone()
		next.DeletionDate = now.Add(time.Duration(days) * 24 * time.Hour)
		next.DeleteRequested = now
		next.LastChanged = now
		if err := e.commit(ctx, key, cur, next); err != nil {
			return err
		}
		out = &DeleteSecretOutput{ARN: s.ARN, Name: s.Name, DeletionDate: next.DeletionDate}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RestoreSecret cancels a secret's scheduled deletion (SPEC §2.9). Restoring
// a secret that is not scheduled for deletion succeeds and changes nothing.
func (e *Engine) RestoreSecret(ctx context.Context, in *RestoreSecretInput) (*RestoreSecretOutput, error) {
	out, err := e.mutate(ctx, "RestoreSecret", in.SecretId, true, func(s *secretMeta, now time.Time) (*secretMeta, error) {
		if !s.scheduled() {
			return nil, nil
		}
		next := s.clone()
		next.DeletionDate, next.DeleteRequested = time.Time{}, time.Time{}
		next.LastChanged = now
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	return &RestoreSecretOutput{ARN: out.ARN, Name: out.Name}, nil
}

// TagResource attaches tags to a secret, replacing the values of keys it
// already has (SPEC §2.13).
func (e *Engine) TagResource(ctx context.Context, in *TagResourceInput) (*TagResourceOutput, error) {
	if err := validateTags(in.Tags); err != nil {
		return nil, annotate(err, "TagResource", in.SecretId)
	}
	_, err := e.mutate(ctx, "TagResource", in.SecretId, false, func(s *secretMeta, now time.Time) (*secretMeta, error) {
		tags := slices.Clone(s.Tags)
		for _, t := range in.Tags {
			if i := slices.IndexFunc(tags, func(x Tag) bool { return x.Key == t.Key }); i >= 0 {
				tags[i].Value = t.Value
			} else {
				tags = append(tags, t)
			}
		}
		if len(tags) > maxTags {
			return nil, newError(CodeLimitExceeded, "A secret can't have more than 50 tags.")
		}
		next := s.clone()
		next.Tags, next.TagsSet = tags, true
		next.LastChanged = now
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	return &TagResourceOutput{}, nil
}

// UntagResource removes tags from a secret; keys it does not have are
// ignored (SPEC §2.13).
func (e *Engine) UntagResource(ctx context.Context, in *UntagResourceInput) (*UntagResourceOutput, error) {
	for _, k := range in.TagKeys {
		if len(k) == 0 || len(k) > maxTagKeyLen {
			return nil, annotate(errValidation("tagKeys.member", "Member must have length between 1 and 128"), "UntagResource", in.SecretId)
		}
	}
	_, err := e.mutate(ctx, "UntagResource", in.SecretId, false, func(s *secretMeta, now time.Time) (*secretMeta, error) {
		if !slices.ContainsFunc(s.Tags, func(t Tag) bool { return slices.Contains(in.TagKeys, t.Key) }) {
			return nil, nil // no such tag: nothing changes
		}
		next := s.clone()
		next.Tags = slices.DeleteFunc(slices.Clone(s.Tags), func(t Tag) bool { return slices.Contains(in.TagKeys, t.Key) })
		if next.Tags == nil {
			next.Tags = []Tag{}
		}
		next.TagsSet = true
		next.LastChanged = now
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	return &UntagResourceOutput{}, nil
}

// mutate runs a metadata-only change of the secret id names: fn returns the
// new metadata, or nil for no change.
func (e *Engine) mutate(ctx context.Context, op, id string, allowScheduled bool, fn func(s *secretMeta, now time.Time) (*secretMeta, error)) (*secretMeta, error) {
	key, ref, err := e.resolve(id)
	if err != nil {
		return nil, annotate(err, op, id)
	}
	var out *secretMeta
	err = e.update(ctx, key, func(cur *cached) error {
		s, err := e.active(cur, ref, allowScheduled)
		if err != nil {
			return err
		}
		next, err := fn(s, e.now())
		if err != nil || next == nil {
			out = s
			return err
		}
		if err := e.commit(ctx, key, cur, next); err != nil {
			return err
		}
		out = next
		return nil
	})
	if err != nil {
		e.purgeIfDueKey(ctx, key)
		return nil, annotate(err, op, id)
	}
	return out, nil
}
