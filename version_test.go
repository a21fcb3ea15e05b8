package secretstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/uuid"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Table tests for the pure version rules of version.go (idempotency, the
// version quota and pruning, SPEC §2.2 step 2 and §3) and for the record
// encoding of record.go.

var mbEpoch = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// mbVersions returns versions named after ids, oldest first, created at the
// given ages before mbEpoch (hours).
func mbVersions(ids []string, ageHours []int) []*versionMeta {
	vs := make([]*versionMeta, len(ids))
	for i, id := range ids {
		vs[i] = newVersionMeta(id, mbEpoch.Add(-time.Duration(ageHours[i])*time.Hour), kindString, "", "blob-"+id, time.Time{}, uint64(i), nil)
	}
	return vs
}

func mbIDs(vs []*versionMeta) []string {
	ids := make([]string, 0, len(vs))
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	return ids
}

func TestPruneVersions(t *testing.T) {
	t.Parallel()
	const day = 24
	tests := []struct {
		name        string
		ids         []string
		ages        []int // hours, oldest first
		ls          labelSet
		max         int
		wantRemoved []string
		wantOver    bool
	}{
		{
			name:        "under the limit: nothing",
			ids:         []string{"a", "b"},
			ages:        []int{100, 90},
			max:         3,
			wantRemoved: nil,
		},
		{
			name:        "at the limit: nothing",
			ids:         []string{"a", "b", "c"},
			ages:        []int{100, 90, 80},
			max:         3,
			wantRemoved: nil,
		},
		{
			name:        "oldest unlabelled old versions go first",
			ids:         []string{"a", "b", "c", "d", "e"},
			ages:        []int{100, 90, 80, 70, 0},
			ls:          mbLabels(LabelCurrent, "e"),
			max:         3,
			wantRemoved: []string{"a", "b"},
		},
		{
			name:        "labelled versions are never pruned",
			ids:         []string{"a", "b", "c", "d"},
			ages:        []int{100, 90, 80, 0},
			ls:          mbLabels("X", "a", LabelPrevious, "b", LabelCurrent, "d"),
			max:         3,
			wantRemoved: []string{"c"},
		},
		{
			name:        "young versions are never pruned",
			ids:         []string{"a", "b", "c", "d"},
			ages:        []int{day - 1, 5, 1, 0},
			ls:          mbLabels(LabelCurrent, "d"),
			max:         3,
			wantRemoved: nil,
			wantOver:    true,
		},
		{
			name:        "exactly prune age old is a candidate",
			ids:         []string{"a", "b", "c", "d"},
			ages:        []int{day, day - 1, 1, 0},
			ls:          mbLabels(LabelCurrent, "d"),
			max:         3,
			wantRemoved: []string{"a"},
		},
		{
			name:        "young unlabelled skipped, older one later in order is not reached",
			ids:         []string{"a", "b", "c", "d"},
			ages:        []int{200, 100, 10, 0},
			ls:          mbLabels(LabelCurrent, "a", LabelPrevious, "d"),
			max:         3,
			wantRemoved: []string{"b"},
		},
		{
			name:        "no candidates: over",
			ids:         []string{"a", "b", "c", "d"},
			ages:        []int{100, 90, 80, 0},
			ls:          mbLabels("X", "a", LabelPrevious, "b", LabelPending, "c", LabelCurrent, "d"),
			max:         3,
			wantRemoved: nil,
			wantOver:    true,
		},
		{
			name:        "too few candidates: prunes what it can and is over",
			ids:         []string{"a", "b", "c", "d", "e"},
			ages:        []int{100, 90, 80, 2, 0},
			ls:          mbLabels("X", "a", LabelPrevious, "c", LabelCurrent, "e"),
			max:         3,
			wantRemoved: []string{"b"},
			wantOver:    true,
		},
		{
			name:        "only as many as needed",
			ids:         []string{"a", "b", "c", "d", "e"},
			ages:        []int{100, 90, 80, 70, 0},
			ls:          mbLabels(LabelCurrent, "e"),
			max:         4,
			wantRemoved: []string{"a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vs := mbVersions(tt.ids, tt.ages)
			before := mbIDs(vs)
			kept, removed, over := pruneVersions(vs, tt.ls, mbEpoch, tt.max, DefaultPruneAge)
			assert.Equal(t, before, mbIDs(vs), "pruneVersions modified its input")
			if got := mbIDs(removed); !reflect.DeepEqual(got, append([]string{}, tt.wantRemoved...)) {
				t.Errorf("removed: got %v, want %v", got, tt.wantRemoved)
			}
			if over != tt.wantOver {
				t.Errorf("over: got %v, want %v", over, tt.wantOver)
			}
			var wantKept []string
			for _, id := range tt.ids {
				if !slices.Contains(tt.wantRemoved, id) {
					wantKept = append(wantKept, id)
				}
			}
			if got := mbIDs(kept); !reflect.DeepEqual(got, wantKept) {
				t.Errorf("kept: got %v, want %v", got, wantKept)
			}
			// pruneWith gives the same answer with any one version as
			// the new one, appended or replacing a placeholder.
			for i := range vs {
				nv := vs[i]
				for _, idx := range []int{i, -1} {
					base := slices.Clone(vs)
					if idx < 0 {
						if i != len(vs)-1 {
							continue
						}
						base = base[:i]
					} else {
						base[i] = &versionMeta{ID: "placeholder"}
					}
					before := mbIDs(base)
					k, r, o := pruneWith(base, idx, nv, tt.ls, mbEpoch, tt.max, DefaultPruneAge)
					assert.Equal(t, before, mbIDs(base), "pruneWith modified its input")
					assert.Equal(t, mbIDs(kept), mbIDs(k), "pruneWith(idx=%d) kept", idx)
					assert.Equal(t, mbIDs(removed), mbIDs(r), "pruneWith(idx=%d) removed", idx)
					assert.Equal(t, over, o, "pruneWith(idx=%d) over", idx)
					if idx < 0 {
						// appendPruned agrees, whether it copies or
						// extends the array in place.
						for _, shared := range []bool{false, true} {
							next := &secretMeta{secretInfo: &secretInfo{}, Versions: base, Labels: tt.ls}
							if shared {
								next = mbSharedVersions(base, tt.ls)
							}
							input := next.Versions
							r, o := appendPruned(next, nv, mbEpoch, tt.max, DefaultPruneAge, nil)
							assert.Equal(t, before, mbIDs(input), "appendPruned(shared=%v) modified its input", shared)
							assert.Equal(t, mbIDs(kept), mbIDs(next.Versions), "appendPruned(shared=%v) kept", shared)
							assert.Equal(t, mbIDs(removed), mbIDs(r), "appendPruned(shared=%v) removed", shared)
							assert.Equal(t, over, o, "appendPruned(shared=%v) over", shared)
						}
					}
				}
			}
		})
	}
}

// mbSharedVersions returns a secret whose versions vs lie in a versionArray
// with room to grow.
func mbSharedVersions(vs []*versionMeta, ls labelSet) *secretMeta {
	arr := make([]*versionMeta, len(vs), len(vs)+4)
	copy(arr, vs)
	a := &versionArray{arr: arr[:cap(arr)]}
	a.used.Store(int64(len(vs)))
	return &secretMeta{secretInfo: &secretInfo{}, Versions: arr[:len(vs):len(vs)], Labels: ls, varr: a, varrEnd: len(vs)}
}

// Two copies of one secret that each append a version: the first extends
// the shared array in place, the second must not overwrite what the first
// added, and neither changes the versions of the secret they copied.
func TestAppendPrunedSharedArray(t *testing.T) {
	t.Parallel()
	vs := mbVersions([]string{"a", "b", "c"}, []int{48, 48, 48})
	ls := labelSet{{LabelCurrent, "c"}, {LabelPrevious, "b"}}
	s := mbSharedVersions(vs, ls)
	nv1, nv2 := &versionMeta{ID: "d", Created: mbEpoch}, &versionMeta{ID: "e", Created: mbEpoch}
	ls2 := labelSet{{LabelCurrent, "d"}, {LabelPrevious, "c"}}

	first := s.clone()
	first.Labels = ls2
	removed, over := appendPruned(first, nv1, mbEpoch, 3, DefaultPruneAge, nil)
	require.False(t, over)
	assert.Equal(t, []string{"a"}, mbIDs(removed))
	assert.Equal(t, []string{"b", "c", "d"}, mbIDs(first.Versions))
	assert.Same(t, s.varr, first.varr, "the first copy extends the array in place")

	second := s.clone()
	second.Labels = labelSet{{LabelCurrent, "e"}, {LabelPrevious, "c"}}
	_, _ = appendPruned(second, nv2, mbEpoch, 3, DefaultPruneAge, nil)
	assert.Equal(t, []string{"b", "c", "e"}, mbIDs(second.Versions))
	assert.NotSame(t, s.varr, second.varr, "the second copy copies")
	assert.Equal(t, []string{"b", "c", "d"}, mbIDs(first.Versions), "the first copy's versions changed")
	assert.Equal(t, []string{"a", "b", "c"}, mbIDs(s.Versions), "the original's versions changed")
	assert.Equal(t, len(first.Versions), cap(first.Versions), "a shared array's slice must be clipped")

	// The first copy's successor extends the array again, up to its end.
	next := first
	for i := range 5 {
		c := next.clone()
		c.Labels = labelSet{{LabelCurrent, fmt.Sprint(i)}, {LabelPrevious, next.Labels.holder(LabelCurrent)}}
		_, over := appendPruned(c, &versionMeta{ID: fmt.Sprint(i), Created: mbEpoch}, mbEpoch, 3, 0, nil)
		require.False(t, over)
		assert.Equal(t, []string{next.Labels.holder(LabelPrevious), next.Labels.holder(LabelCurrent), fmt.Sprint(i)}, mbIDs(c.Versions))
		next = c
	}
}

func TestClassifyReplayTable(t *testing.T) {
	t.Parallel()
	str := &versionMeta{ID: "v", Kind: kindString}
	bin := &versionMeta{ID: "v", Kind: kindBinary}
	placeholder := &versionMeta{ID: "v", Kind: kindNone}
	boom := errors.New("boom")
	tests := []struct {
		name       string
		v          *versionMeta
		kind       byte
		same       bool
		sameErr    error
		want       replay
		wantErr    error
		wantCalled bool
	}{
		{name: "no version: new", v: nil, kind: kindString, want: replayNew},
		{name: "placeholder: fill", v: placeholder, kind: kindString, want: replayPlaceholder},
		{name: "placeholder with binary: fill", v: placeholder, kind: kindBinary, want: replayPlaceholder},
		{name: "string stored, binary given: different", v: str, kind: kindBinary, want: replayDifferent},
		{name: "binary stored, string given: different", v: bin, kind: kindString, want: replayDifferent},
		{name: "same string", v: str, kind: kindString, same: true, want: replaySame, wantCalled: true},
		{name: "different string", v: str, kind: kindString, same: false, want: replayDifferent, wantCalled: true},
		{name: "same binary", v: bin, kind: kindBinary, same: true, want: replaySame, wantCalled: true},
		{name: "comparison fails", v: str, kind: kindString, sameErr: boom, wantErr: boom, wantCalled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			called := false
			got, err := classifyReplay(tt.v, tt.kind, func() (bool, error) {
				called = true
				return tt.same, tt.sameErr
			})
			if called != tt.wantCalled {
				t.Errorf("plaintext compared: got %v, want %v", called, tt.wantCalled)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("got %v, want %v", err, tt.wantErr)
				}
				return
			}
			require.NoError(t, err)
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFindVersionTable(t *testing.T) {
	t.Parallel()
	vs := mbVersions([]string{"a", "b", "c"}, []int{3, 2, 1})
	// A version whose cached hash belongs to another ID must not be found by
	// that ID: the ID itself decides.
	forged := &versionMeta{ID: "forged", hash: idHash("z")}
	tests := []struct {
		name    string
		vs      []*versionMeta
		id      string
		wantIdx int
	}{
		{"first", vs, "a", 0},
		{"middle", vs, "b", 1},
		{"last", vs, "c", 2},
		{"missing", vs, "d", -1},
		{"empty id", vs, "", -1},
		{"no versions", nil, "a", -1},
		{"hash match but id differs", []*versionMeta{forged}, "z", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, idx := findVersion(tt.vs, tt.id)
			if idx != tt.wantIdx {
				t.Errorf("index: got %v, want %v", idx, tt.wantIdx)
			}
			if tt.wantIdx < 0 {
				assert.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			if got.ID != tt.id {
				t.Errorf("got %v, want %v", got.ID, tt.id)
			}
		})
	}
}

func TestHasValueTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vs   []*versionMeta
		want bool
	}{
		{"none", nil, false},
		{"placeholder only", []*versionMeta{{ID: "p", Kind: kindNone}}, false},
		{"string", []*versionMeta{{ID: "p", Kind: kindNone}, {ID: "s", Kind: kindString}}, true},
		{"binary", []*versionMeta{{ID: "b", Kind: kindBinary}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := hasValue(tt.vs); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidTokenTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n    int
		want bool
	}{{0, false}, {1, false}, {31, false}, {32, true}, {36, true}, {64, true}, {65, false}, {200, false}}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d chars", tt.n), func(t *testing.T) {
			t.Parallel()
			if got := validToken(strings.Repeat("t", tt.n)); got != tt.want {
				t.Errorf("validToken(%d chars): got %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}

// mbFullRecord returns a record with every field set.
func mbFullRecord() *secretMeta {
	days := int64(30)
	return &secretMeta{
		secretInfo: &secretInfo{
			Name:            "prod/db-password",
			ARN:             "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-password-AbC123",
			Description:     "the database password ✓",
			KmsKeyID:        "alias/app",
			Created:         mbEpoch.Add(-72 * time.Hour),
			LastAccessed:    mbEpoch.Truncate(24 * time.Hour),
			DeletionDate:    mbEpoch.Add(7 * 24 * time.Hour),
			DeleteRequested: mbEpoch,
			TagsSet:         true,
			Tags:            []Tag{{Key: "env", Value: "prod"}, {Key: "empty", Value: ""}},
			Rotation: rotationMeta{
				Configured:  true,
				Enabled:     true,
				LambdaARN:   "arn:aws:lambda:us-east-1:123456789012:function:rotate",
				Rules:       RotationRules{AutomaticallyAfterDays: &days, Duration: "3h", ScheduleExpression: "rate(30 days)"},
				LastRotated: mbEpoch.Add(-48 * time.Hour),
				NextRotated: mbEpoch.Add(28 * 24 * time.Hour),
			},
		},
		LastChanged: mbEpoch.Add(-time.Hour),
		Labels: mbLabels(LabelCurrent, "v2-0000000000000000000000000000000000",
			LabelPrevious, "v1-0000000000000000000000000000000000",
			LabelPending, "p3-0000000000000000000000000000000000"),
		Versions: []*versionMeta{
			newVersionMeta("v1-0000000000000000000000000000000000", mbEpoch.Add(-72*time.Hour), kindString, "", "v1/blob-1", mbEpoch.Truncate(24*time.Hour), 0, nil),
			newVersionMeta("v2-0000000000000000000000000000000000", mbEpoch.Add(-time.Hour), kindBinary, "alias/app", "v1/blob-2", time.Time{}, 0,
				&WrappedKey{KeyID: "0b1e5e0e-0000-4000-8000-000000000001", Version: 7, Ciphertext: []byte("wrapped data key")}),
			newVersionMeta("p3-0000000000000000000000000000000000", mbEpoch, kindNone, "", "", time.Time{}, 0, nil),
		},
	}
}

// mbRecordSeeds returns records covering the optional parts of the format.
func mbRecordSeeds() map[string]*secretMeta {
	empty := &secretMeta{secretInfo: &secretInfo{Name: "n", ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:n-abcdef", Created: mbEpoch}, LastChanged: mbEpoch}
	untagged := mbFullRecord()
	untagged.Tags = []Tag{}
	untagged.Rotation = rotationMeta{Configured: true, Enabled: false, LambdaARN: "arn:x"}
	return map[string]*secretMeta{
		"full":            mbFullRecord(),
		"no versions":     empty,
		"all tags gone":   untagged,
		"one version":     {secretInfo: &secretInfo{Name: "a", ARN: "arn:a-123456", Created: mbEpoch}, Labels: mbLabels(LabelCurrent, strings.Repeat("x", 64)), Versions: []*versionMeta{newVersionMeta(strings.Repeat("x", 64), mbEpoch, kindString, "", "b", time.Time{}, 0, nil)}},
		"pre-1970 times":  {secretInfo: &secretInfo{Name: "old", Created: time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC)}, LastChanged: time.Unix(0, -1).UTC()},
		"zero everything": {secretInfo: &secretInfo{}},
	}
}

// mbNormalize returns a copy of s that compares with reflect.DeepEqual by
// value: version encodings and hashes (caches) are dropped, and empty
// optional slices are nil, except Tags, whose empty-versus-nil distinction
// the record keeps through TagsSet.
func mbNormalize(s *secretMeta) secretMeta {
	c := *s.clone() // its own secretInfo, without the cached encoding
	if len(c.Labels) == 0 {
		c.Labels = nil
	}
	if len(c.Tags) == 0 && !c.TagsSet {
		c.Tags = nil
	}
	if len(c.Tags) == 0 && c.TagsSet {
		c.Tags = []Tag{}
	}
	c.Versions = nil
	for _, v := range s.Versions {
		vc := v.copyInChunk(new(versionMeta), v.chunk, int(v.slot))
		vc.raw, vc.hash = nil, 0
		vc.aadCache.Store(nil)
		c.Versions = append(c.Versions, vc)
	}
	return c
}

func mbCheckHashes(t *testing.T, s *secretMeta) {
	t.Helper()
	for _, v := range s.Versions {
		if v.hash != idHash(v.ID) {
			t.Errorf("version %q: lookup hash not set after decode", v.ID)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	for name, s := range mbRecordSeeds() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data := encodeRecord(s)
			got, err := decodeRecord(data)
			require.NoError(t, err)
			want := mbNormalize(s)
			gotN := mbNormalize(got)
			assert.Equal(t, want, gotN, "got %v, want %v", gotN, want)
			mbCheckHashes(t, got)
			for _, v := range got.Versions {
				if _, i := findVersion(got.Versions, v.ID); i < 0 {
					t.Errorf("findVersion(%q) after decode: got -1, want found", v.ID)
				}
			}
			// Encoding is deterministic, and encoding the decoded record
			// (which reuses the cached version entries) gives the same bytes.
			assert.Equal(t, data, encodeRecord(s), "second encoding differs")
			assert.Equal(t, data, encodeRecord(got), "re-encoding the decoded record differs")
		})
	}
}

func TestRecordTagsSetDistinction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		tagsSet  bool
		tags     []Tag
		wantNil  bool
		wantTags []Tag
	}{
		{name: "never tagged", wantNil: true},
		{name: "all tags removed", tagsSet: true, tags: []Tag{}, wantTags: []Tag{}},
		{name: "tagged", tagsSet: true, tags: []Tag{{"k", "v"}}, wantTags: []Tag{{"k", "v"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeRecord(encodeRecord(&secretMeta{secretInfo: &secretInfo{Name: "n", TagsSet: tt.tagsSet, Tags: tt.tags}}))
			require.NoError(t, err)
			if tt.wantNil {
				if got.Tags != nil {
					t.Errorf("got %v, want nil", got.Tags)
				}
				return
			}
			require.NotNil(t, got.Tags, "got nil, want %v", tt.wantTags)
			assert.Equal(t, tt.wantTags, got.Tags, "got %v, want %v", got.Tags, tt.wantTags)
		})
	}
}

// mbDecodeNoPanic decodes data, turning a panic into a test failure.
func mbDecodeNoPanic(t *testing.T, data []byte) (s *secretMeta, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("decodeRecord(%x) panicked: %v", data, r)
		}
	}()
	return decodeRecord(data)
}

func TestRecordTruncated(t *testing.T) {
	t.Parallel()
	for name, s := range mbRecordSeeds() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data := encodeRecord(s)
			for n := 0; n < len(data); n++ {
				prefix := append([]byte(nil), data[:n]...)
				got, err := mbDecodeNoPanic(t, prefix)
				if err == nil {
					t.Fatalf("prefix of %d/%d bytes: got %+v, want an error", n, len(data), got)
				}
				if got != nil {
					t.Errorf("prefix of %d bytes: got a record with the error", n)
				}
			}
		})
	}
}

func TestRecordCorrupt(t *testing.T) {
	t.Parallel()
	valid := encodeRecord(mbFullRecord())
	withByte := func(i int, b byte) []byte {
		c := append([]byte(nil), valid...)
		c[i] = b
		return c
	}
	// A record with one version entry whose kind byte is out of range.
	badKind := encodeRecord(&secretMeta{secretInfo: &secretInfo{Name: "n"}, Versions: []*versionMeta{{ID: "id", Kind: kindBinary + 1}}})
	// A record with a version entry that has a trailing byte inside its
	// length-prefixed entry.
	e := encoder{}
	e.str("id")
	e.uint(0) // seq
	e.time(mbEpoch)
	e.b = append(e.b, kindString)
	e.str("")
	e.str("blob")
	e.time(time.Time{})
	e.uint(0)               // no rewrapped key
	e.b = append(e.b, 0x00) // junk inside the entry
	junkEntry := &versionMeta{ID: "id", raw: e.b}
	entryJunk := encodeRecord(&secretMeta{secretInfo: &secretInfo{Name: "n"}, Versions: []*versionMeta{junkEntry}})

	huge := binary.AppendUvarint(nil, 1<<62)
	// The helper that builds the count cases makes a valid record when the
	// counts are right.
	_, err := decodeRecord(mbWithCounts([]byte{0}, []byte{0}))
	require.NoError(t, err, "mbWithCounts builds an invalid record")
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"format 0", withByte(0, 0)},
		{"format 3", withByte(0, 3)},
		{"rewrapped-key count 2", mbWithWrapCount(2)},
		{"rewrapped key on a placeholder", mbPlaceholderWrap()},
		{"format 255", withByte(0, 255)},
		{"only the format byte", []byte{recordFormat1}},
		{"trailing byte", append(append([]byte(nil), valid...), 0)},
		{"name length past the end", append([]byte{recordFormat1}, huge...)},
		{"overlong varint", append([]byte{recordFormat1}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"version kind out of range", badKind},
		{"junk inside a version entry", entryJunk},
		{"huge tag count", mbWithTagCount(huge)},
		{"tag count larger than the rest", mbWithTagCount(binary.AppendUvarint(nil, 1000))},
		{"huge label count", mbWithLabelCount(huge)},
		{"label count larger than the rest", mbWithLabelCount(binary.AppendUvarint(nil, 1000))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := mbDecodeNoPanic(t, tt.data)
			if err == nil {
				t.Fatalf("got %+v, want an error", got)
			}
			if !errors.Is(err, errCorruptRecord) {
				t.Errorf("got %v, want %v", err, errCorruptRecord)
			}
		})
	}

	// Flipping any bit of a valid record never panics; whatever still
	// decodes re-encodes to a record that decodes to the same value.
	t.Run("every bit flipped", func(t *testing.T) {
		t.Parallel()
		for i := range valid {
			for bit := 0; bit < 8; bit++ {
				data := withByte(i, valid[i]^(1<<bit))
				s, err := mbDecodeNoPanic(t, data)
				if err != nil {
					continue
				}
				mbCheckReencode(t, s)
			}
		}
	})
}

// mbWithTagCount returns a record with no tags whose tag count is replaced
// by count.
func mbWithTagCount(count []byte) []byte {
	return mbWithCounts(count, []byte{0})
}

// mbWithLabelCount returns a record with no labels whose label count is
// replaced by count.
func mbWithLabelCount(count []byte) []byte {
	return mbWithCounts([]byte{0}, count)
}

// mbWithWrapCount returns a record whose one version entry has the given
// count of rewrapped keys and no more.
func mbWithWrapCount(n uint64) []byte {
	e := encoder{}
	e.str("id")
	e.uint(0)
	e.time(mbEpoch)
	e.b = append(e.b, kindString)
	e.str("")
	e.str("blob")
	e.time(time.Time{})
	e.uint(n)
	return encodeRecord(&secretMeta{secretInfo: &secretInfo{Name: "n"}, Versions: []*versionMeta{{ID: "id", raw: e.b}}})
}

// mbPlaceholderWrap returns a record whose placeholder version (no value)
// claims a rewrapped data key.
func mbPlaceholderWrap() []byte {
	v := newVersionMeta("id", mbEpoch, kindNone, "", "", time.Time{}, 0, &WrappedKey{KeyID: "k", Version: 1, Ciphertext: []byte("w")})
	return encodeRecord(&secretMeta{secretInfo: &secretInfo{Name: "n"}, Versions: []*versionMeta{v}})
}

// mbWithCounts returns an otherwise empty record with the given encoded
// tag and label counts.
func mbWithCounts(tagCount, labelCount []byte) []byte {
	e := encoder{}
	e.b = append(e.b, recordFormat1)
	e.str("n")
	e.str("")
	e.str("")
	e.str("")
	for range 5 {
		e.time(time.Time{})
	}
	e.b = append(e.b, 0) // flags
	e.b = append(e.b, tagCount...)
	e.str("") // lambda ARN (read as a tag if count > 0)
	e.uint(0) // days
	e.str("") // duration
	e.str("") // schedule
	e.time(time.Time{})
	e.time(time.Time{})
	e.b = append(e.b, labelCount...)
	e.uint(0) // next sequence number
	e.uint(0) // chunks
	e.uint(0) // versions
	return e.b
}

// mbCheckReencode checks that s encodes to a record that decodes to the
// same value, and that this second encoding is a fixed point.
func mbCheckReencode(t *testing.T, s *secretMeta) {
	t.Helper()
	again := encodeRecord(s)
	s2, err := decodeRecord(again)
	if err != nil {
		t.Fatalf("re-encoded record does not decode: %v", err)
	}
	if a, b := mbNormalize(s), mbNormalize(s2); !reflect.DeepEqual(a, b) {
		t.Fatalf("round trip: got %+v, want %+v", b, a)
	}
	mbCheckHashes(t, s2)
	if third := encodeRecord(s2); string(third) != string(again) {
		t.Fatalf("encoding is not a fixed point: got %x, want %x", third, again)
	}
}

// FuzzDecodeRecord checks that decodeRecord never panics on any input and
// that every record it accepts survives an encode/decode round trip.
func FuzzDecodeRecord(f *testing.F) {
	for _, s := range mbRecordSeeds() {
		f.Add(encodeRecord(s))
	}
	f.Add([]byte{})
	f.Add([]byte{recordFormat1})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := append([]byte(nil), data...)
		s, err := mbDecodeNoPanic(t, data)
		if string(in) != string(data) {
			t.Fatalf("decodeRecord modified its input")
		}
		if err != nil {
			if s != nil {
				t.Fatalf("got a record together with error %v", err)
			}
			return
		}
		mbCheckReencode(t, s)
	})
}

func TestSelectVersion(t *testing.T) {
	t.Parallel()
	v1 := newVersionMeta("v1-0000000000000000000000000000000000", mbEpoch, kindString, "", "b1", time.Time{}, 0, nil)
	v2 := newVersionMeta("v2-0000000000000000000000000000000000", mbEpoch, kindString, "", "b2", time.Time{}, 1, nil)
	p := newVersionMeta("p3-0000000000000000000000000000000000", mbEpoch, kindNone, "", "", time.Time{}, 2, nil)
	s := &secretMeta{secretInfo: &secretInfo{}, Versions: []*versionMeta{v1, v2, p},
		Labels: labelSet{{LabelPrevious, v1.ID}, {LabelCurrent, v2.ID}, {LabelPending, p.ID}}}
	for _, tt := range []struct {
		name, id, stage string
		want            *versionMeta
		code            Code
	}{
		{"default is AWSCURRENT", "", "", v2, ""},
		{"by stage", "", LabelPrevious, v1, ""},
		{"by id", v1.ID, "", v1, ""},
		{"id and its stage", v2.ID, LabelCurrent, v2, ""},
		{"id and another stage", v2.ID, LabelPrevious, nil, CodeInvalidRequest},
		{"unknown id", "x0-0000000000000000000000000000000000", "", nil, CodeResourceNotFound},
		{"unheld stage", "", "NOPE", nil, CodeResourceNotFound},
		{"placeholder by stage", "", LabelPending, nil, CodeResourceNotFound},
		{"placeholder by id", p.ID, "", nil, CodeResourceNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := selectVersion(s, tt.id, tt.stage)
			if got != tt.want || ErrorCode(err) != tt.code {
				t.Errorf("got %v, %v; want %v, %q", got, err, tt.want, tt.code)
			}
		})
	}
}

// TestVersionBoxEncoding checks the strings a versionBox keeps over its own
// buffer: a drawn ID written ahead into idRoom and the blob key given to
// encodeNew stay what they were when the entry encoding and the associated
// data are written after them, when they fit in the buffer and when they do
// not, and the encoding decodes to the version.
func TestVersionBoxEncoding(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, arn, keyID string
	}{
		{name: "fits", arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf"},
		{name: "long ARN", arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + strings.Repeat("n", 300) + "-AbCdEf"},
		{name: "long key ID", arn: "arn:a-123456", keyID: strings.Repeat("k", 300)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := new(versionBox)
			id := b.idRoom()
			versionIDTo(id, uuid.UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
			wantID := versionIDFrom(uuid.UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
			v := &b.v
			v.ID, v.Created, v.Kind, v.KeyID, v.Seq = unsafe.String(&id[0], len(id)), mbEpoch, kindString, tt.keyID, 7
			var key [blobKeyLen]byte
			copy(key[:], "v1/0000000000000000-00000000000000000000000000000000")
			wantBlob := string(key[:])
			b.encodeNew(unsafe.String(&key[0], len(key)))
			clear(key[:]) // the caller's key is temporary
			aad := b.sealAAD(tt.arn)
			assert.Equal(t, wantID, v.ID, "ID")
			assert.Equal(t, wantBlob, v.Blob, "Blob")
			assert.Equal(t, sealAAD(tt.arn, wantID, kindString), aad, "associated data")
			assert.Equal(t, aad, v.aad(tt.arn), "cached associated data")
			got, err := decodeVersion(v.raw, recordFormat2)
			require.NoError(t, err)
			assert.Equal(t, wantID, got.ID, "decoded ID")
			assert.Equal(t, wantBlob, got.Blob, "decoded Blob")
			assert.Equal(t, tt.keyID, got.KeyID, "decoded KeyID")
			assert.Equal(t, uint64(7), got.Seq, "decoded Seq")
		})
	}
}

// TestAppendTime checks appendTime against binary.AppendVarint of the Unix
// nanoseconds (0 for the zero time) around every length of the varint.
func TestAppendTime(t *testing.T) {
	t.Parallel()
	times := []time.Time{{}, time.Unix(0, 1), time.Unix(0, -1), mbEpoch, time.Unix(0, math.MaxInt64), time.Unix(0, math.MinInt64)}
	for shift := 0; shift < 63; shift++ {
		for _, d := range []int64{-1, 0, 1} {
			n := int64(1)<<shift + d
			times = append(times, time.Unix(0, n), time.Unix(0, -n))
		}
	}
	for _, tm := range times {
		want := []byte{0xff}
		if tm.IsZero() {
			want = binary.AppendVarint(want, 0)
		} else {
			want = binary.AppendVarint(want, tm.UnixNano())
		}
		if got := appendTime([]byte{0xff}, tm); !bytes.Equal(got, want) {
			t.Errorf("appendTime(%v): got %x, want %x", tm, got, want)
		}
	}
}
