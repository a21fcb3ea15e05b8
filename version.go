package secretstore

import (
	"hash/maphash"
	"time"
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
	slot  int       // the entry's index in chunk
}

var idSeed = maphash.MakeSeed()

// idHash hashes a version ID for findVersion.
func idHash(id string) uint64 { return maphash.String(idSeed, id) }

// findVersion returns the version with the given ID and its index, or nil
// and -1.
func findVersion(vs []*versionMeta, id string) (*versionMeta, int) {
	h := idHash(id)
	for i, v := range vs {
		if v.hash == h && v.ID == id {
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
	excess := len(vs) - max
	kept = make([]*versionMeta, 0, len(vs))
	for _, v := range vs { // vs is oldest first
		if excess > 0 && !ls.labelled(v.ID) && now.Sub(v.Created) >= age {
			removed = append(removed, v)
			excess--
			continue
		}
		kept = append(kept, v)
	}
	return kept, removed, excess > 0
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
