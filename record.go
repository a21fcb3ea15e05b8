package secretstore

import (
	"encoding/binary"
	"errors"
	"slices"
	"time"
)

// Record format, version 2: how a secretMeta is stored in the backend.
//
// A secret is one record (the head) and, once it has many versions, a few
// chunk blobs. The head holds the secret's fields, its labels, the entries
// of its newest versions (the tail) and references to chunks; a chunk is an
// immutable blob holding the entries of chunkSize older versions. A write
// therefore rewrites the head, whose size does not grow with the number of
// versions, and only every chunkSize-th version creation writes a chunk.
// A version pruned from a chunk is marked dead in the head's reference; a
// chunk with no live entry is dropped and its blob deleted. A version whose
// entry changes (its last-access day, its key) moves to the tail. Entries
// carry a sequence number that orders versions by creation wherever their
// entries are stored.
//
// Strings and byte strings are a uvarint length and the bytes; times are a
// varint of Unix nanoseconds, 0 for "not set"; counts are uvarints:
//
//	head   = format=2
//	         name arn description kmsKeyId
//	         created lastChanged lastAccessed deletionDate deleteRequested
//	         flags (bit 0 tags set, bit 1 rotation configured, bit 2 rotation enabled)
//	         nTags {key value}
//	         lambdaARN autoDays(0 = none) duration schedule lastRotated nextRotation
//	         nLabels {label versionId}
//	         nextSeq
//	         nChunks {blobKey count deadMask}
//	         nTail {len entry}
//	chunk  = format=2 'K' count {len entry}
//	entry  = versionId seq created kind keyId blob lastAccessed
//	         nWrap(0 or 1) {wrapKeyId wrapKeyVersion wrappedKey}
//
// wrap, when present, replaces the wrapped data key in the header of the
// version's sealed value (see crypto.go): Rewrap re-wraps a data key by
// writing it here, in the record, instead of writing the value again.
//
// Format 1 is format 2 without the entry's wrap field; it is still read, and
// written over in format 2 by the next change. Compatibility: readers reject
// unknown format bytes; a new field means a new format byte and a decoder
// for the old one kept forever.
const (
	recordFormat1 = 1
	recordFormat2 = 2
)

var errCorruptRecord = errors.New("secretstore: corrupt secret record")

type encoder struct{ b []byte }

func (e *encoder) str(s string) { e.b = appendStr(e.b, s) }

// bytes encodes p as str encodes a string.
func (e *encoder) bytes(p []byte) {
	e.b = binary.AppendUvarint(e.b, uint64(len(p)))
	e.b = append(e.b, p...)
}

func (e *encoder) uint(n uint64) { e.b = binary.AppendUvarint(e.b, n) }

func (e *encoder) time(t time.Time) { e.b = appendTime(e.b, t) }

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.err = errCorruptRecord
		return 0
	}
	d.b = d.b[k:]
	return n
}

func (d *decoder) bytes() []byte {
	n := d.uint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorruptRecord
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) time() time.Time {
	if d.err != nil {
		return time.Time{}
	}
	n, k := binary.Varint(d.b)
	if k <= 0 {
		d.err = errCorruptRecord
		return time.Time{}
	}
	d.b = d.b[k:]
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = errCorruptRecord
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// count reads a count and checks that it is plausible for the bytes left
// (each item takes at least min bytes), so corrupt input cannot make the
// decoder allocate without bound.
func (d *decoder) count(min int) int {
	n := d.uint()
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.err = errCorruptRecord
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

// encodeVersion returns the entry encoding of v, cached in v.raw.
func encodeVersion(v *versionMeta) []byte {
	if v.raw != nil {
		return v.raw
	}
	size := 25 + len(v.ID) + len(v.KeyID) + len(v.Blob)
	if v.wrap != nil {
		size += 10 + len(v.wrap.KeyID) + len(v.wrap.Ciphertext)
	}
	return encodeVersionTo(make([]byte, 0, size), v)
}

// encodeVersionTo is encodeVersion for a v not yet encoded, storing the
// encoding in dst's array if it has room.
func encodeVersionTo(dst []byte, v *versionMeta) []byte {
	v.raw, _ = appendEntry(dst[:0], v, v.Blob)
	return v.raw
}

// appendEntry appends to dst the entry encoding of v with blob as its blob
// key, and returns it with the offset of the blob key's bytes in it.
func appendEntry(dst []byte, v *versionMeta, blob string) (entry []byte, blobAt int) {
	e := encoder{b: dst}
	e.str(v.ID)
	e.uint(v.Seq)
	e.time(v.Created)
	e.b = append(e.b, v.Kind)
	e.str(v.KeyID)
	e.uint(uint64(len(blob)))
	blobAt = len(e.b) - len(dst)
	e.b = append(e.b, blob...)
	e.time(v.LastAccessed)
	if v.wrap == nil {
		e.uint(0)
	} else {
		e.uint(1)
		e.str(v.wrap.KeyID)
		e.uint(uint64(v.wrap.Version))
		e.bytes(v.wrap.Ciphertext)
	}
	return e.b[len(dst):], blobAt
}

// encodeRecord returns the record encoding of s.
func encodeRecord(s *secretMeta) []byte {
	chunks, tail := layoutOf(s.Versions, nil)
	return encodeHead(nil, s, chunks, tail)
}

// encodeHead appends to dst the encoding of s whose versions live in chunks
// and tail (as layoutOf returns them for s.Versions).
func encodeHead(dst []byte, s *secretMeta, chunks []chunkState, tail []*versionMeta) []byte {
	enc := s.infoEncoding()
	size := 32 + len(enc.pre) + len(enc.post)
	for _, r := range s.Labels {
		size += 4 + len(r.Label) + len(r.VersionID)
	}
	for _, c := range chunks {
		size += 24 + len(c.ref.Key)
	}
	for _, v := range tail {
		raw := v.raw
		if raw == nil {
			raw = encodeVersion(v)
		}
		size += 3 + len(raw)
	}
	b := slices.Grow(dst, size)
	b = append(b, recordFormat2)
	b = append(b, enc.pre...)
	b = appendTime(b, s.LastChanged)
	b = append(b, enc.post...)
	b = binary.AppendUvarint(b, uint64(len(s.Labels)))
	for _, r := range s.Labels {
		b = appendStr(b, r.Label)
		b = appendStr(b, r.VersionID)
	}
	b = binary.AppendUvarint(b, s.NextSeq)
	b = binary.AppendUvarint(b, uint64(len(chunks)))
	for _, c := range chunks {
		b = appendStr(b, c.ref.Key)
		b = binary.AppendUvarint(b, uint64(c.ref.Count))
		b = binary.AppendUvarint(b, c.dead())
	}
	b = binary.AppendUvarint(b, uint64(len(tail)))
	for _, v := range tail {
		b = binary.AppendUvarint(b, uint64(len(v.raw)))
		b = append(b, v.raw...)
	}
	return b
}

// infoEncoding returns the encoding of s's secretInfo in a head, building
// it and keeping it in the secretInfo if it has none yet. The secretInfo
// must not be published before that (see secretInfo.enc).
func (s *secretMeta) infoEncoding() *infoEncoding {
	if s.enc == nil {
		s.enc = encodeInfo(s.secretInfo)
	}
	return s.enc
}

// encodeInfo returns the encoding of the fields of s in a head: those
// before lastChanged and those after it, up to the labels.
func encodeInfo(s *secretInfo) *infoEncoding {
	size := 96 + len(s.Name) + len(s.ARN) + len(s.Description) + len(s.KmsKeyID) + len(s.Rotation.LambdaARN) +
		len(s.Rotation.Rules.Duration) + len(s.Rotation.Rules.ScheduleExpression)
	for _, t := range s.Tags {
		size += 4 + len(t.Key) + len(t.Value)
	}
	e := encoder{b: make([]byte, 0, size)}
	e.str(s.Name)
	e.str(s.ARN)
	e.str(s.Description)
	e.str(s.KmsKeyID)
	e.time(s.Created)
	split := len(e.b)
	e.time(s.LastAccessed)
	e.time(s.DeletionDate)
	e.time(s.DeleteRequested)
	var flags byte
	if s.TagsSet {
		flags |= 1
	}
	if s.Rotation.Configured {
		flags |= 2
	}
	if s.Rotation.Enabled {
		flags |= 4
	}
	e.b = append(e.b, flags)
	e.uint(uint64(len(s.Tags)))
	for _, t := range s.Tags {
		e.str(t.Key)
		e.str(t.Value)
	}
	e.str(s.Rotation.LambdaARN)
	var days uint64
	if s.Rotation.Rules.AutomaticallyAfterDays != nil {
		days = uint64(*s.Rotation.Rules.AutomaticallyAfterDays)
	}
	e.uint(days)
	e.str(s.Rotation.Rules.Duration)
	e.str(s.Rotation.Rules.ScheduleExpression)
	e.time(s.Rotation.LastRotated)
	e.time(s.Rotation.NextRotated)
	return &infoEncoding{pre: e.b[:split:split], post: e.b[split:]}
}

// appendStr appends s, its length as a uvarint and then its bytes.
func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTime appends the encoding of t: a 0 byte for the zero time, else
// t.UnixNano() as a varint.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	// binary.AppendVarint, written in place after one check of the room.
	n := t.UnixNano()
	x := uint64(n) << 1
	if n < 0 {
		x = ^x
	}
	b = slices.Grow(b, binary.MaxVarintLen64)
	i := len(b)
	b = b[:i+binary.MaxVarintLen64]
	for x >= 0x80 {
		b[i] = byte(x) | 0x80
		x >>= 7
		i++
	}
	b[i] = byte(x)
	return b[:i+1]
}

// chunkRef names a chunk blob. Versions stored in a chunk point to one
// shared chunkRef, so that identity tells which versions share a chunk.
type chunkRef struct {
	Key   string
	Count int
}

// chunkState is a chunk as a head refers to it: which of its entries are
// still versions of the secret.
type chunkState struct {
	ref  *chunkRef
	live uint64 // bit i set: entry i is a live version
}

func (c chunkState) dead() uint64 {
	return (uint64(1)<<c.ref.Count - 1) &^ c.live
}

// chunkStates returns the chunks that versions live in, in order of first
// appearance, with the entries still live.
func chunkStates(vs []*versionMeta) []chunkState {
	chunks, _ := layoutOf(vs, nil)
	return chunks
}

// layoutOf returns where the entries of vs are stored, found in one pass:
// the chunks, in order of first appearance, and the versions whose entries
// are in the head (the tail), in order. The tail is appended to tailBuf,
// which a caller may provide to avoid an allocation.
func layoutOf(vs []*versionMeta, tailBuf []*versionMeta) (chunks []chunkState, tail []*versionMeta) {
	tail = tailBuf[:0]
	// Versions of one chunk are usually adjacent: gather the live bits of
	// a run in locals and add them to chunks when the run ends.
	var run *chunkRef
	var live uint64
	for _, v := range vs {
		c := v.chunk
		if c == nil {
			tail = append(tail, v)
			continue
		}
		if c != run {
			chunks = addLive(chunks, run, live)
			run, live = c, 0
		}
		live |= 1 << (v.slot & 63)
	}
	return addLive(chunks, run, live), tail
}

// addLive adds the live bits of entries of the chunk ref (if not nil) to
// chunks.
func addLive(chunks []chunkState, ref *chunkRef, live uint64) []chunkState {
	if ref == nil {
		return chunks
	}
	for i := range chunks {
		if chunks[i].ref == ref {
			chunks[i].live |= live
			return chunks
		}
	}
	if chunks == nil {
		chunks = make([]chunkState, 0, 8)
	}
	return append(chunks, chunkState{ref: ref, live: live})
}

// encodeChunk appends to dst the chunk blob holding vs, in order.
func encodeChunk(dst []byte, vs []*versionMeta) []byte {
	size := 8
	for _, v := range vs {
		size += 3 + len(encodeVersion(v))
	}
	e := encoder{b: slices.Grow(dst, size)}
	e.b = append(e.b, recordFormat2, 'K')
	e.uint(uint64(len(vs)))
	for _, v := range vs {
		e.uint(uint64(len(v.raw)))
		e.b = append(e.b, v.raw...)
	}
	return e.b
}

// decodeChunk parses a chunk blob written for ref.
func decodeChunk(data []byte, ref *chunkRef) ([]*versionMeta, error) {
	if len(data) < 2 || (data[0] != recordFormat1 && data[0] != recordFormat2) || data[1] != 'K' {
		return nil, errCorruptRecord
	}
	format := data[0]
	d := decoder{b: data[2:]}
	n := d.count(2)
	if d.err != nil || n != ref.Count {
		return nil, errCorruptRecord
	}
	vs := make([]*versionMeta, n)
	for i := range vs {
		raw := d.bytes()
		if d.err != nil {
			return nil, d.err
		}
		v, err := decodeVersion(raw, format)
		if err != nil {
			return nil, err
		}
		v.chunk, v.slot = ref, int32(i)
		vs[i] = v
	}
	if len(d.b) != 0 {
		return nil, errCorruptRecord
	}
	return vs, nil
}

// decodeRecord parses a head. The result's Versions are the tail only; the
// chunks it refers to are listed in chunks, for the engine to read and
// resolve (see Engine.resolveChunks). The result keeps slices of data (the
// cached version encodings), so the caller must not modify data afterwards.
func decodeRecord(data []byte) (*secretMeta, error) {
	if len(data) == 0 || (data[0] != recordFormat1 && data[0] != recordFormat2) {
		return nil, errCorruptRecord
	}
	format := data[0]
	d := decoder{b: data[1:]}
	s := newSecretMeta()
	start := d.b
	s.Name = d.str()
	s.ARN = d.str()
	s.Description = d.str()
	s.KmsKeyID = d.str()
	s.Created = d.time()
	pre := start[:len(start)-len(d.b)]
	s.LastChanged = d.time()
	start = d.b
	s.LastAccessed = d.time()
	s.DeletionDate = d.time()
	s.DeleteRequested = d.time()
	flags := d.byte()
	s.TagsSet = flags&1 != 0
	s.Rotation.Configured = flags&2 != 0
	s.Rotation.Enabled = flags&4 != 0
	if n := d.count(2); n > 0 {
		s.Tags = make([]Tag, n)
		for i := range s.Tags {
			s.Tags[i] = Tag{Key: d.str(), Value: d.str()}
		}
	} else if s.TagsSet {
		s.Tags = []Tag{}
	}
	s.Rotation.LambdaARN = d.str()
	if days := d.uint(); days > 0 {
		n := int64(days)
		s.Rotation.Rules.AutomaticallyAfterDays = &n
	}
	s.Rotation.Rules.Duration = d.str()
	s.Rotation.Rules.ScheduleExpression = d.str()
	s.Rotation.LastRotated = d.time()
	s.Rotation.NextRotated = d.time()
	if d.err == nil {
		// A copy: the copies of the secret that share its secretInfo
		// keep the encoding, and should not keep all of data alive.
		post := start[:len(start)-len(d.b)]
		enc := append(append(make([]byte, 0, len(pre)+len(post)), pre...), post...)
		s.enc = &infoEncoding{pre: enc[:len(pre):len(pre)], post: enc[len(pre):]}
	}
	if n := d.count(2); n > 0 {
		s.Labels = make(labelSet, n)
		for i := range s.Labels {
			s.Labels[i] = labelRef{Label: d.str(), VersionID: d.str()}
		}
	}
	s.NextSeq = d.uint()
	if n := d.count(3); n > 0 {
		s.chunks = make([]chunkState, n)
		for i := range s.chunks {
			ref := &chunkRef{Key: d.str(), Count: int(d.uint())}
			dead := d.uint()
			if ref.Count < 1 || ref.Count > 64 {
				return nil, errCorruptRecord
			}
			s.chunks[i] = chunkState{ref: ref}
			s.chunks[i].live = (uint64(1)<<ref.Count - 1) &^ dead
		}
	}
	n := d.count(2)
	if d.err != nil {
		return nil, d.err
	}
	s.Versions = make([]*versionMeta, n)
	for i := range s.Versions {
		raw := d.bytes()
		if d.err != nil {
			return nil, d.err
		}
		v, err := decodeVersion(raw, format)
		if err != nil {
			return nil, err
		}
		s.Versions[i] = v
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, errCorruptRecord
	}
	return s, nil
}

func decodeVersion(raw []byte, format byte) (*versionMeta, error) {
	d := decoder{b: raw}
	v := &versionMeta{}
	v.ID = d.str()
	v.Seq = d.uint()
	v.Created = d.time()
	v.Kind = d.byte()
	v.KeyID = d.str()
	v.Blob = d.str()
	v.LastAccessed = d.time()
	if format >= recordFormat2 {
		switch d.uint() {
		case 0:
		case 1:
			w := &WrappedKey{KeyID: d.str(), Version: uint32(d.uint())}
			w.Ciphertext = d.bytes()
			if len(w.KeyID) > maxKeyIDLen || len(w.Ciphertext) > maxWrappedLen || v.Kind == kindNone {
				return nil, errCorruptRecord
			}
			v.wrap = w
		default:
			return nil, errCorruptRecord
		}
	}
	if d.err != nil || len(d.b) != 0 || v.Kind > kindBinary {
		return nil, errCorruptRecord
	}
	v.hash = idHash(v.ID)
	if format == recordFormat2 {
		v.raw = raw // else encodeVersion makes the format 2 entry when needed
	}
	return v, nil
}
