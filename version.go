package secretstore

import (
	"hash/maphash"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"
)

// Version quota defaults (SPEC §3), changeable with WithMaxVersions and
// WithPruneAge.
const (
	DefaultMaxVersions = 100
	DefaultPruneAge    = 24 * time.Hour
)

// Limits on values and version IDs (SPEC §1.4).
const (
	maxValueLen = 65536
	minTokenLen = 32
	maxTokenLen = 64
)

// versionMeta is what the engine records about one version. It never holds
// the value: that lives, sealed, in the blob named by Blob. Values of this
// type are immutable once they are part of a published secretMeta; a change
// makes a new one.
type versionMeta struct {
	ID           string
	Created      time.Time
	Kind         byte   // kindString, kindBinary, or kindNone for a placeholder
	slot         int32  // the entry's index in chunk (beside Kind: no padding)
	KeyID        string // key the value is sealed under ("" = default key)
	Blob         string // blob key, "" for a placeholder
	LastAccessed time.Time

	// wrap, if not nil, is the value's data key as Rewrap last wrapped it,
	// which replaces the wrapped key in the sealed value's header.
	wrap *WrappedKey

	// Seq orders versions by creation, wherever their entries are stored.
	Seq uint64

	hash  uint64    // idHash(ID), for quick lookups
	raw   []byte    // cached entry encoding, nil until encoded
	chunk *chunkRef // the chunk holding the entry, nil if it is in the head

	// aadCache holds the associated data of the sealed value (see aad),
	// built by the first read; reads run concurrently, hence the atomic.
	aadCache atomic.Pointer[[]byte]
}

// aad returns the associated data that binds v's sealed value to v as a
// version of the secret arn (sealAAD). Every read needs it, so it is built
// once per version and kept; it holds no secret.
func (v *versionMeta) aad(arn string) []byte {
	if p := v.aadCache.Load(); p != nil && aadNames(*p, arn) {
		return *p
	}
	b := sealAAD(arn, v.ID, v.Kind)
	v.aadCache.Store(&b)
	return b
}

// aadNames reports whether the associated data aad was built for the ARN
// arn. A version belongs to one secret, whose ARN never changes, so this
// only guards against misuse.
func aadNames(aad []byte, arn string) bool {
	// The cache only holds what appendAAD built, which starts with
	// sealAADPrefix: only the ARN after it needs comparing.
	const p = len(sealAADPrefix)
	return len(aad) > p+len(arn) && string(aad[p:p+len(arn)]) == arn && aad[p+len(arn)] == 0
}

// versionBox is a new version allocated together with room for its entry
// encoding, the associated data of its value, its blob key and its ID: a
// write makes one, and these five would otherwise be five allocations.
type versionBox struct {
	v   versionMeta
	aad []byte
	// buf holds the version's entry encoding (v.raw), then the associated
	// data of its value (aad), when they fit. The entry starts with the
	// ID's length and the ID, and holds the blob key: v.ID, when the engine
	// drew it (see idRoom), and v.Blob of a value the write sealed (see
	// encodeNew) are strings over those bytes, which never change once
	// written.
	buf [256]byte
}

// idRoom returns the bytes of buf that the entry encoding of an ID of
// versionIDLen bytes will occupy, for the caller to write a drawn ID into
// before the box is used: encode then writes the same bytes there again.
func (b *versionBox) idRoom() *[versionIDLen]byte {
	return (*[versionIDLen]byte)(b.buf[1 : 1+versionIDLen])
}

// encode sets the version's entry encoding, at the start of buf.
func (b *versionBox) encode() {
	raw, _ := appendEntry(b.buf[:0], &b.v, b.v.Blob)
	b.v.raw = raw[:len(raw):len(raw)]
}

// encodeNew is encode for a version whose value the write sealed and
// stores under the blob key key: the version's Blob is set to the key's
// bytes in the encoding, so that key may be temporary.
func (b *versionBox) encodeNew(key string) {
	raw, at := appendEntry(b.buf[:0], &b.v, key)
	b.v.raw = raw[:len(raw):len(raw)]
	b.v.Blob = unsafe.String(&raw[at], len(key))
}

// sealAAD returns the associated data of the box's version as a version of
// the secret arn, and keeps it as the version's (see versionMeta.aad). Call
// it after encode, in whose room it goes.
func (b *versionBox) sealAAD(arn string) []byte {
	// After the entry if it is in buf, and in any case after the room of a
	// drawn ID, which v.ID may refer to.
	rest := b.buf[1+versionIDLen:]
	if n := len(b.v.raw); n > 0 && &b.v.raw[0] == &b.buf[0] {
		rest = b.buf[n:]
	}
	b.aad = appendAAD(rest[:0], arn, b.v.ID, b.v.Kind)
	b.v.aadCache.Store(&b.aad)
	return b.aad
}

// copyInChunk makes c, a zero versionMeta, a copy of v whose entry is
// stored at slot of chunk, and returns it.
func (v *versionMeta) copyInChunk(c *versionMeta, chunk *chunkRef, slot int) *versionMeta {
	c.ID, c.Created, c.Kind, c.KeyID, c.Blob = v.ID, v.Created, v.Kind, v.KeyID, v.Blob
	c.LastAccessed, c.Seq, c.hash, c.raw, c.wrap = v.LastAccessed, v.Seq, v.hash, v.raw, v.wrap
	c.chunk, c.slot = chunk, int32(slot)
	if p := v.aadCache.Load(); p != nil {
		c.aadCache.Store(p)
	}
	return c
}

var idSeed = maphash.MakeSeed()

// idHash hashes a version ID for findVersion.
func idHash(id string) uint64 { return maphash.String(idSeed, id) }

// findVersion returns the version with the given ID and its index, or nil
// and -1. It looks from the newest version back: the versions a call names
// are usually recent (AWSCURRENT, AWSPREVIOUS, a retried write), and each
// version looked at is a memory access of its own.
func findVersion(vs []*versionMeta, id string) (*versionMeta, int) {
	// The newest two (AWSCURRENT and AWSPREVIOUS after a rotation) are
	// compared directly, which costs less than hashing id; the others by
	// hash first, which looks at no more than each version's own memory.
	n := len(vs)
	for i := n - 1; i >= max(n-2, 0); i-- {
		if vs[i].ID == id {
			return vs[i], i
		}
	}
	h := idHash(id)
	for i := n - 3; i >= 0; i-- {
		if v := vs[i]; v.hash == h && v.ID == id {
			return v, i
		}
	}
	return nil, -1
}

// hasValue reports whether any version holds a value.
func hasValue(vs []*versionMeta) bool {
	for _, v := range vs {
		if v.Kind != kindNone {
			return true
		}
	}
	return false
}

// replay is the outcome of looking up a ClientRequestToken among a secret's
// versions.
type replay int

const (
	replayNew         replay = iota // no version has this ID: create one
	replaySame                      // same value: succeed and change nothing
	replayDifferent                 // another value: ResourceExistsException
	replayPlaceholder               // a rotation placeholder: fill it
)

// classifyReplay decides what a write with token does, given the version
// with that ID (or nil), the kind of the value being written, and whether
// its plaintext equals the stored one (only consulted when the kinds match).
func classifyReplay(v *versionMeta, kind byte, samePlaintext func() (bool, error)) (replay, error) {
	switch {
	case v == nil:
		return replayNew, nil
	case v.Kind == kindNone:
		return replayPlaceholder, nil
	case v.Kind != kind:
		return replayDifferent, nil
	}
	same, err := samePlaintext()
	if err != nil {
		return 0, err
	}
	if same {
		return replaySame, nil
	}
	return replayDifferent, nil
}

// pruneVersions applies the version quota after a write (SPEC §3). vs holds
// every version including any the write adds, ls the labels after the
// write. While there are more than max versions, it removes the oldest
// version that has no label and is at least age old. It returns the kept
// and the removed versions; if more than max remain, over is true and the
// caller rejects a write that added a version.
func pruneVersions(vs []*versionMeta, ls labelSet, now time.Time, max int, age time.Duration) (kept, removed []*versionMeta, over bool) {
	if len(vs) <= max {
		return vs, nil, false
	}
	return pruneOwned(slices.Clone(vs), ls, now, max, age)
}

// prunable reports whether pruning may remove v (SPEC §3): it has no
// staging label in ls and is at least age old at now.
func prunable(v *versionMeta, ls labelSet, now time.Time, age time.Duration) bool {
	return !ls.labelled(v.ID) && now.Sub(v.Created) >= age
}

// pruneWith is pruneVersions applied to vs with the new version nv in it,
// at index idx (replacing the version there) or, if idx < 0, appended. It
// builds kept in one new slice and never modifies vs, and it stops looking
// at versions once enough are removed, so that a write to a secret at the
// quota does not visit every version.
func pruneWith(vs []*versionMeta, idx int, nv *versionMeta, ls labelSet, now time.Time, max int, age time.Duration) (kept, removed []*versionMeta, over bool) {
	n := len(vs)
	if idx < 0 {
		n++
	}
	at := func(i int) *versionMeta {
		if i == idx || i == len(vs) {
			return nv
		}
		return vs[i]
	}
	var dropBuf [4]int
	drop := dropBuf[:0] // indices of the removed versions, ascending
	excess := n - max
	for i := 0; i < n && excess > 0; i++ { // oldest first
		if v := at(i); prunable(v, ls, now, age) {
			removed = append(removed, v)
			drop = append(drop, i)
			excess--
		}
	}
	kept = make([]*versionMeta, 0, n-len(drop))
	from := 0
	for _, d := range drop {
		if d < len(vs) {
			kept = append(kept, vs[from:d]...)
			from = d + 1
		}
	}
	kept = append(kept, vs[from:]...)
	switch {
	case idx >= 0 && !slices.Contains(drop, idx):
		below := 0
		for _, d := range drop {
			if d < idx {
				below++
			}
		}
		kept[idx-below] = nv
	case idx < 0 && !slices.Contains(drop, len(vs)):
		kept = append(kept, nv)
	}
	return kept, removed, excess > 0
}

// versionArray is an array that the Versions of successive copies of a
// secret lie in, so that a write appending a version need not copy the
// others: each copy's Versions is a slice of arr, and used counts the
// entries that some copy covers. Entries below used are never written
// again; the copy whose Versions ends at used may claim the next entry.
type versionArray struct {
	arr  []*versionMeta // its full length
	used atomic.Int64
}

// appendPruned adds the new version nv to next, a copy of a secret that
// next.Labels already gives nv's labels, and applies the version quota as
// pruneWith does (with idx < 0), setting next.Versions. It returns the
// removed versions, appended to removedBuf. When the versions it removes are
// the oldest ones, as they are in the steady state of rotation, it extends
// next's version array in place (see versionArray) instead of copying
// every version; when the array is full or was extended by another copy, it
// copies into a new one with room to grow.
func appendPruned(next *secretMeta, nv *versionMeta, now time.Time, maxVersions int, age time.Duration, removedBuf []*versionMeta) (removed []*versionMeta, over bool) {
	vs := next.Versions
	oldTail, known := next.knownLayout()
	n := len(vs) + 1
	excess := n - maxVersions
	removed = removedBuf[:0]
	for i := 0; i < n && excess > 0; i++ { // oldest first
		v := nv
		if i < len(vs) {
			v = vs[i]
		}
		if prunable(v, next.Labels, now, age) {
			if len(removed) != i || i == len(vs) {
				// Not the oldest ones, or nv itself: the general case.
				kept, removed, over := pruneWith(vs, -1, nv, next.Labels, now, maxVersions, age)
				next.Versions, next.varr, next.varrEnd = kept, nil, 0
				next.hint = layoutHint{}
				return removed, over
			}
			removed = append(removed, v)
			excess--
		}
	}
	k := len(removed) // vs[:k] go
	if a, end := next.varr, next.varrEnd; a != nil && len(vs) > 0 && end < len(a.arr) &&
		&a.arr[end-1] == &vs[len(vs)-1] && a.used.CompareAndSwap(int64(end), int64(end+1)) {
		a.arr[end] = nv
		next.Versions = a.arr[end-len(vs)+k : end+1 : end+1]
		next.varrEnd = end + 1
		next.pruneLayout(removed, oldTail, known)
		return removed, excess > 0
	}
	live := len(vs) - k + 1
	arr := make([]*versionMeta, live, live+max(4, live/4))
	copy(arr, vs[k:])
	arr[live-1] = nv
	a := &versionArray{arr: arr[:cap(arr)]}
	a.used.Store(int64(live))
	next.Versions, next.varr, next.varrEnd = arr[:live:live], a, live
	next.pruneLayout(removed, oldTail, known)
	return removed, excess > 0
}

// pruneLayout sets the layout hint of next, whose Versions are now the old
// ones with removed, the oldest ones, taken off and a new version appended
// (see appendPruned): the removed versions leave their chunks or the head,
// and the new one is in the head. oldTail and known are what knownLayout
// said of the old Versions; without that, next gets no hint.
func (next *secretMeta) pruneLayout(removed []*versionMeta, oldTail int, known bool) {
	if !known {
		next.hint = layoutHint{}
		return
	}
	tailN := oldTail + 1
	chunks, copied := next.chunks, false
	for _, v := range removed {
		if v.chunk == nil {
			tailN--
			continue
		}
		i := slices.IndexFunc(chunks, func(c chunkState) bool { return c.ref == v.chunk })
		if i < 0 {
			next.hint = layoutHint{}
			return // not as the hint says: commit finds the layout
		}
		if !copied {
			if b := next.box; b != nil && cap(b.chunkRoom) >= len(chunks) {
				chunks = append(b.chunkRoom[:0], chunks...)
				b.chunkRoom = nil // used once
			} else {
				chunks = slices.Clone(chunks)
			}
			copied = true
		}
		if chunks[i].live &^= 1 << (v.slot & 63); chunks[i].live == 0 {
			chunks = slices.Delete(chunks, i, i+1)
		}
	}
	if tailN < 1 || tailN > len(next.Versions) {
		next.hint = layoutHint{}
		return
	}
	if copied {
		next.chunks = chunks
	}
	next.hint = layoutHint{first: &next.Versions[0], n: len(next.Versions), tailN: tailN}
}

// pruneOwned is pruneVersions for a slice the caller owns: kept reuses its
// array. It stops looking at versions once enough are removed, so that a
// write to a secret at the quota does not visit every version.
func pruneOwned(vs []*versionMeta, ls labelSet, now time.Time, max int, age time.Duration) (kept, removed []*versionMeta, over bool) {
	excess := len(vs) - max
	if excess <= 0 {
		return vs, nil, false
	}
	w, i := 0, 0
	for ; i < len(vs) && excess > 0; i++ { // vs is oldest first
		v := vs[i]
		if prunable(v, ls, now, age) {
			removed = append(removed, v)
			excess--
			continue
		}
		vs[w] = v
		w++
	}
	w += copy(vs[w:], vs[i:])
	clear(vs[w:])
	return vs[:w], removed, excess > 0
}

// validToken reports whether a ClientRequestToken or VersionId has the
// length the service model requires.
func validToken(s string) bool { return len(s) >= minTokenLen && len(s) <= maxTokenLen }

// selectVersion picks the version a GetSecretValue names (SPEC §2.4): the
// AWSCURRENT version by default, the version id names (which must carry
// stage if both are given), or the holder of stage. A placeholder without a
// value is not found.
func selectVersion(s *secretMeta, id, stage string) (*versionMeta, error) {
	if id == "" && stage == "" {
		stage = LabelCurrent
	}
	var v *versionMeta
	if id != "" {
		v, _ = findVersion(s.Versions, id)
		if v == nil {
			return nil, errVersionNotFound(id)
		}
		if stage != "" && !s.Labels.has(id, stage) {
			return nil, errInvalidRequest(msgStageNotOnVersion)
		}
	} else {
		h := s.Labels.holder(stage)
		if h == "" {
			return nil, errStageNotFound(stage)
		}
		v, _ = findVersion(s.Versions, h)
	}
	if v == nil || v.Kind == kindNone {
		if id != "" {
			return nil, errVersionNotFound(id)
		}
		return nil, errStageNotFound(stage)
	}
	return v, nil
}
