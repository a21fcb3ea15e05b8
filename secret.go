package secretstore

import (
	"strings"
	"time"
)

// Limits on secret metadata (SPEC §1.4).
const (
	maxNameLen        = 512
	maxSecretIDLen    = 2048
	maxDescriptionLen = 2048
	maxTagKeyLen      = 128
	maxTagValueLen    = 256
	maxTags           = 50
	maxStageLen       = 256
	minRecoveryDays   = 7
	maxRecoveryDays   = 30
	arnSuffixLen      = 6
)

// secretMeta is the engine's record of one secret: everything but the
// values. Published values are immutable; writers copy and change.
//
// The fields that most writes leave alone (name, ARN, description, key,
// dates other than LastChanged, tags, rotation) live in a secretInfo that
// the copies of a secret share: a write that stores a value copies only
// what it changes, a few words with few pointers (see cloneForWrite). A
// change to any secretInfo field starts from clone, which gives the copy
// its own secretInfo; nothing else writes to one that a published
// secretMeta may share.
type secretMeta struct {
	*secretInfo

	LastChanged time.Time

	Labels   labelSet
	Versions []*versionMeta // in creation order (Seq), oldest first
	NextSeq  uint64         // Seq of the next version created

	// chunks are the chunks Versions live in: set by decodeRecord (with
	// chunk references not yet resolved) and kept in step with Versions by
	// the engine when it publishes a secretMeta.
	chunks []chunkState

	// hint, when it describes Versions, tells where their entries are
	// stored without looking at every version (see knownLayout).
	hint layoutHint

	// varr, if not nil, is the array Versions may lie in, ending at index
	// varrEnd; a write that appends a version extends it in place when
	// that is so and nobody has extended it yet (see appendPruned).
	varr    *versionArray
	varrEnd int

	// box, if not nil, is the allocation this copy lies in, with its cache
	// entry, for commit to use once, and room for a new label table and
	// chunk table (see cloneForWrite).
	box *metaBox
}

// layoutHint records, for the Versions slice that starts at first and has
// n elements, that the entries of its last tailN versions are in the head
// and those of every other version in the chunks of the secretMeta's
// chunks field. A write that appends a version and prunes the oldest ones
// keeps it up to date, so that commit need not visit every version to find
// the head's entries; any other change of Versions makes a new slice, which
// the hint no longer describes.
type layoutHint struct {
	first **versionMeta
	n     int
	tailN int
}

// knownLayout returns the number of versions, the last ones, whose entries
// are in the head, if the hint describes s.Versions.
func (s *secretMeta) knownLayout() (tailN int, ok bool) {
	h := s.hint
	if len(s.Versions) == 0 || h.n != len(s.Versions) || h.first != &s.Versions[0] {
		return 0, false
	}
	return h.tailN, true
}

// rotationMeta is a secret's rotation configuration. Configured stays true
// once rotation has ever been set up, so that Describe reports
// RotationEnabled from then on.
type rotationMeta struct {
	Configured  bool
	Enabled     bool
	LambdaARN   string
	Rules       RotationRules
	LastRotated time.Time
	NextRotated time.Time
}

// secretInfo holds the rarely changed fields of a secret (see secretMeta).
type secretInfo struct {
	Name        string
	ARN         string
	Description string
	KmsKeyID    string // "" = the default key

	Created      time.Time
	LastAccessed time.Time // day precision, zero until the first read

	// DeletionDate is when a secret scheduled for deletion is purged; zero
	// while the secret is active. DeleteRequested is when DeleteSecret
	// scheduled it.
	DeletionDate    time.Time
	DeleteRequested time.Time

	// TagsSet distinguishes "never tagged" (Describe omits Tags) from "all
	// tags removed" (Describe returns an empty list).
	TagsSet bool
	Tags    []Tag

	Rotation rotationMeta

	// enc, once set, is the encoding of these fields in the record head
	// (see encodeHead), which every write of the secret repeats. It is set
	// when the secretInfo is decoded or first encoded, before any
	// secretMeta holding it is published, and never changed afterwards;
	// clone leaves it unset in the copy, whose fields the caller changes.
	enc *infoEncoding
}

// infoEncoding is the encoding of a secretInfo in a record head: pre comes
// before the secret's LastChanged and post after it.
type infoEncoding struct {
	pre, post []byte
}

// scheduled reports whether the secret is scheduled for deletion.
func (s *secretMeta) scheduled() bool { return !s.DeletionDate.IsZero() }

// purgeDue reports whether the secret's recovery window has passed, so that
// it no longer exists.
func (s *secretMeta) purgeDue(now time.Time) bool {
	return s.scheduled() && !now.Before(s.DeletionDate)
}

// newSecretMeta returns a secretMeta with its own, empty secretInfo.
func newSecretMeta() *secretMeta { return &secretMeta{secretInfo: &secretInfo{}} }

// clone returns a shallow copy whose slices the caller may replace (not
// modify in place), with its own copy of the secretInfo, whose fields the
// caller may change.
func (s *secretMeta) clone() *secretMeta {
	c := *s
	info := *s.secretInfo
	info.enc = nil
	c.secretInfo = &info
	c.box = nil
	return &c
}

// metaBox is a copy of a secretMeta allocated together with its cache
// entry and room for a small label table and, in a metaBoxChunks, chunk
// table: a write that stores a value makes one, and these would otherwise
// be three or four allocations.
type metaBox struct {
	meta      secretMeta
	entry     cached
	labels    [3]labelRef
	chunkRoom []chunkState // room for a chunk table, or nil
}

// metaBoxChunks is a metaBox with room for the chunk table of a secret
// whose versions live in a few chunks, as those of a secret that keeps
// 100 versions (the default quota) do.
type metaBoxChunks struct {
	metaBox
	chunks [8]chunkState
}

// cloneForWrite is clone for a change that commit will write and that
// leaves the secretInfo alone, which the copy shares with s: the copy comes
// in a metaBox, with its cache entry, room for a label table of up to three
// labels and, if s has chunks, room for a chunk table as large.
func (s *secretMeta) cloneForWrite() *secretMeta {
	var b *metaBox
	if n := len(s.chunks); n > 0 && n <= len(metaBoxChunks{}.chunks) {
		bc := &metaBoxChunks{}
		bc.chunkRoom = bc.chunks[:0]
		b = &bc.metaBox
	} else {
		b = &metaBox{}
	}
	b.meta = *s
	b.meta.box = b
	return &b.meta
}

// versionStages returns the labels of version id (nil when it has none).
func (s *secretMeta) versionStages(id string) []string { return s.Labels.stagesOf(id) }

// versionsToStages returns the labelled versions and their labels, or nil if
// no version has a label (Describe then omits the field).
func (s *secretMeta) versionsToStages() map[string][]string {
	if len(s.Labels) == 0 {
		return nil
	}
	m := make(map[string][]string, len(s.Labels))
	for _, r := range s.Labels {
		m[r.VersionID] = append(m[r.VersionID], r.Label)
	}
	return m
}

// validName reports whether name is a valid secret name: 1 to 512 characters
// from A-Z a-z 0-9 / _ + = . @ -.
func validName(name string) bool {
	if len(name) == 0 || len(name) > maxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !nameChars[name[i]] {
			return false
		}
	}
	return true
}

// nameChars holds the bytes a secret name may contain: ASCII letters and
// digits and /_+=.@- (validName looks each byte up, on every call).
var nameChars = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("/_+=.@-", byte(c)) >= 0
	}
	return t
}()

// arnPrefix returns "arn:aws:secretsmanager:<region>:<account>:secret:".
func arnPrefix(region, account string) string {
	return "arn:" + partitionOf(region) + ":secretsmanager:" + region + ":" + account + ":secret:"
}

// partitionOf returns the AWS partition a region belongs to.
func partitionOf(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// secretRef is a SecretId resolved to the name to look up and, for a full
// ARN, the exact ARN the secret must have.
type secretRef struct {
	Name    string
	FullARN string // "" unless the SecretId was a complete ARN
}

// resolveSecretID interprets a SecretId the way Secrets Manager does (SPEC
// §2.0): a name; a full ARN, which must match the secret's ARN exactly; or a
// partial ARN (a full ARN without the "-" and 6-character suffix), which
// matches by name. An ARN that ends in "-" and 6 characters is always taken
// as a full ARN. ARNs of another region, account or service name no secret
// here. ok is false when the SecretId cannot name a secret in this engine.
func resolveSecretID(id, prefix string) (ref secretRef, ok bool) {
	if !strings.HasPrefix(id, "arn:") {
		return secretRef{Name: id}, true
	}
	resource, found := strings.CutPrefix(id, prefix)
	if !found || resource == "" {
		return secretRef{}, false
	}
	if n := len(resource); n > arnSuffixLen+1 && resource[n-arnSuffixLen-1] == '-' {
		return secretRef{Name: resource[:n-arnSuffixLen-1], FullARN: id}, true
	}
	return secretRef{Name: resource}, true
}

// matches reports whether the secret found by name is the one ref names.
func (r secretRef) matches(s *secretMeta) bool {
	return r.FullARN == "" || r.FullARN == s.ARN
}
