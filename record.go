package secretstore

import (
	"encoding/binary"
	"errors"
	"time"
)

// Record format, version 1: how a secretMeta is stored as a backend record.
//
// A record is a format byte (1) followed by fields in a fixed order. Strings
// and byte strings are a uvarint length and the bytes; times are a varint of
// Unix nanoseconds, 0 for "not set"; counts are uvarints. The versions come
// last, each as a uvarint length and an entry, so that the engine can append
// a version by copying the encoded entries it already has instead of
// encoding them again:
//
//	format=1
//	name arn description kmsKeyId
//	created lastChanged lastAccessed deletionDate deleteRequested
//	flags (bit 0 tags set, bit 1 rotation configured, bit 2 rotation enabled)
//	nTags {key value}
//	lambdaARN autoDays(uvarint, 0 = none) duration schedule lastRotated nextRotation
//	nLabels {label versionId}
//	nVersions {len entry}
//	entry = versionId created kind keyId blob lastAccessed
//
// Compatibility: readers reject unknown format bytes; a new field means a new
// format byte and a decoder for the old one kept forever.
const recordFormat1 = 1

var errCorruptRecord = errors.New("secretstore: corrupt secret record")

type encoder struct{ b []byte }

func (e *encoder) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) uint(n uint64) { e.b = binary.AppendUvarint(e.b, n) }

func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.b = binary.AppendVarint(e.b, 0)
		return
	}
	e.b = binary.AppendVarint(e.b, t.UnixNano())
}

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
	e := encoder{b: make([]byte, 0, 24+len(v.ID)+len(v.KeyID)+len(v.Blob))}
	e.str(v.ID)
	e.time(v.Created)
	e.b = append(e.b, v.Kind)
	e.str(v.KeyID)
	e.str(v.Blob)
	e.time(v.LastAccessed)
	v.raw = e.b
	return v.raw
}

// encodeRecord returns the record encoding of s.
func encodeRecord(s *secretMeta) []byte {
	size := 128 + len(s.Name) + len(s.ARN) + len(s.Description) + len(s.KmsKeyID) + len(s.Rotation.LambdaARN)
	for _, t := range s.Tags {
		size += 4 + len(t.Key) + len(t.Value)
	}
	for _, r := range s.Labels {
		size += 4 + len(r.Label) + len(r.VersionID)
	}
	for _, v := range s.Versions {
		size += 3 + len(encodeVersion(v))
	}
	e := encoder{b: make([]byte, 0, size)}
	e.b = append(e.b, recordFormat1)
	e.str(s.Name)
	e.str(s.ARN)
	e.str(s.Description)
	e.str(s.KmsKeyID)
	e.time(s.Created)
	e.time(s.LastChanged)
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
	e.uint(uint64(len(s.Labels)))
	for _, r := range s.Labels {
		e.str(r.Label)
		e.str(r.VersionID)
	}
	e.uint(uint64(len(s.Versions)))
	for _, v := range s.Versions {
		e.uint(uint64(len(v.raw)))
		e.b = append(e.b, v.raw...)
	}
	return e.b
}

// decodeRecord parses a record. The result keeps slices of data (the cached
// version encodings), so the caller must not modify data afterwards.
func decodeRecord(data []byte) (*secretMeta, error) {
	if len(data) == 0 || data[0] != recordFormat1 {
		return nil, errCorruptRecord
	}
	d := decoder{b: data[1:]}
	s := &secretMeta{}
	s.Name = d.str()
	s.ARN = d.str()
	s.Description = d.str()
	s.KmsKeyID = d.str()
	s.Created = d.time()
	s.LastChanged = d.time()
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
	if n := d.count(2); n > 0 {
		s.Labels = make(labelSet, n)
		for i := range s.Labels {
			s.Labels[i] = labelRef{Label: d.str(), VersionID: d.str()}
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
		v, err := decodeVersion(raw)
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

func decodeVersion(raw []byte) (*versionMeta, error) {
	d := decoder{b: raw}
	v := &versionMeta{}
	v.ID = d.str()
	v.Created = d.time()
	v.Kind = d.byte()
	v.KeyID = d.str()
	v.Blob = d.str()
	v.LastAccessed = d.time()
	if d.err != nil || len(d.b) != 0 || v.Kind > kindBinary {
		return nil, errCorruptRecord
	}
	v.hash = idHash(v.ID)
	v.raw = raw
	return v, nil
}
