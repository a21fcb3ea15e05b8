package secretstore

import (
	"errors"
	"slices"
	"sort"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Table tests for the pure staging-label rules of staging.go (SPEC §1.3,
// §2.2 steps 3-6, §2.7). Label tables are compared as maps label → version,
// since the order of a labelSet carries no meaning.

// mbLabels builds a labelSet from label/version pairs.
func mbLabels(pairs ...string) labelSet {
	if len(pairs)%2 != 0 {
		panic("mbLabels: odd number of arguments")
	}
	var ls labelSet
	for i := 0; i < len(pairs); i += 2 {
		ls = append(ls, labelRef{Label: pairs[i], VersionID: pairs[i+1]})
	}
	return ls
}

// mbLabelMap returns ls as label → version. It fails the test if a label
// appears twice, which would break SPEC §1.3 invariant 1.
func mbLabelMap(t *testing.T, ls labelSet) map[string]string {
	t.Helper()
	m := make(map[string]string, len(ls))
	for _, r := range ls {
		if prev, dup := m[r.Label]; dup {
			t.Errorf("label %s is on two versions: %s and %s", r.Label, prev, r.VersionID)
		}
		m[r.Label] = r.VersionID
	}
	return m
}

// mbMap builds the expected label → version map from pairs.
func mbMap(pairs ...string) map[string]string {
	m := make(map[string]string, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return m
}

func mbSorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func TestPutLabels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		ls         labelSet
		v          string
		stages     []string
		firstValue bool
		want       map[string]string
	}{
		{
			name:       "first value without stages gets AWSCURRENT",
			v:          "v1",
			firstValue: true,
			want:       mbMap(LabelCurrent, "v1"),
		},
		{
			name:       "first value with AWSPENDING also gets AWSCURRENT",
			v:          "v1",
			stages:     []string{LabelPending},
			firstValue: true,
			want:       mbMap(LabelCurrent, "v1", LabelPending, "v1"),
		},
		{
			name:       "first value naming AWSCURRENT gets it once",
			v:          "v1",
			stages:     []string{LabelCurrent, "X"},
			firstValue: true,
			want:       mbMap(LabelCurrent, "v1", "X", "v1"),
		},
		{
			name: "no stages moves AWSCURRENT and AWSPREVIOUS follows",
			ls:   mbLabels(LabelCurrent, "v2", LabelPrevious, "v1"),
			v:    "v3",
			want: mbMap(LabelCurrent, "v3", LabelPrevious, "v2"),
		},
		{
			name: "old current loses AWSPENDING and keeps custom labels",
			ls:   mbLabels(LabelCurrent, "v1", LabelPending, "v1", "PUT1", "v1"),
			v:    "v2",
			want: mbMap(LabelCurrent, "v2", LabelPrevious, "v1", "PUT1", "v1"),
		},
		{
			name: "AWSPENDING on another version is not touched by an AWSCURRENT move",
			ls:   mbLabels(LabelCurrent, "v1", LabelPending, "v0"),
			v:    "v2",
			want: mbMap(LabelCurrent, "v2", LabelPrevious, "v1", LabelPending, "v0"),
		},
		{
			name:   "AWSPENDING only leaves AWSCURRENT where it is",
			ls:     mbLabels(LabelCurrent, "v1", LabelPending, "v0", LabelPrevious, "v0"),
			v:      "v2",
			stages: []string{LabelPending},
			want:   mbMap(LabelCurrent, "v1", LabelPending, "v2", LabelPrevious, "v0"),
		},
		{
			name:   "AWSPENDING taken off a version that is also current",
			ls:     mbLabels(LabelCurrent, "v1", LabelPending, "v1"),
			v:      "v2",
			stages: []string{LabelPending},
			want:   mbMap(LabelCurrent, "v1", LabelPending, "v2"),
		},
		{
			name:   "custom label moves, others stay",
			ls:     mbLabels(LabelCurrent, "v1", "S1", "v2", "S0", "v2"),
			v:      "v3",
			stages: []string{"S1"},
			want:   mbMap(LabelCurrent, "v1", "S0", "v2", "S1", "v3"),
		},
		{
			name:   "explicit AWSPREVIOUS wins over the automatic move",
			ls:     mbLabels(LabelCurrent, "v1", LabelPrevious, "v0"),
			v:      "v2",
			stages: []string{LabelCurrent, LabelPrevious},
			want:   mbMap(LabelCurrent, "v2", LabelPrevious, "v2"),
		},
		{
			name:   "explicit AWSPENDING with AWSCURRENT",
			ls:     mbLabels(LabelCurrent, "v1", LabelPending, "v1"),
			v:      "v2",
			stages: []string{LabelCurrent, LabelPending},
			want:   mbMap(LabelCurrent, "v2", LabelPending, "v2", LabelPrevious, "v1"),
		},
		{
			name:   "AWSCURRENT with a custom label",
			ls:     mbLabels(LabelCurrent, "v1"),
			v:      "v2",
			stages: []string{LabelCurrent, "PUT0"},
			want:   mbMap(LabelCurrent, "v2", "PUT0", "v2", LabelPrevious, "v1"),
		},
		{
			name:   "explicit AWSPREVIOUS alone moves only AWSPREVIOUS",
			ls:     mbLabels(LabelCurrent, "v1", LabelPrevious, "v0"),
			v:      "v2",
			stages: []string{LabelPrevious},
			want:   mbMap(LabelCurrent, "v1", LabelPrevious, "v2"),
		},
		{
			name:   "version that already holds AWSCURRENT keeps everything",
			ls:     mbLabels(LabelCurrent, "v2", LabelPending, "v2", LabelPrevious, "v1"),
			v:      "v2",
			stages: []string{LabelCurrent},
			want:   mbMap(LabelCurrent, "v2", LabelPending, "v2", LabelPrevious, "v1"),
		},
		{
			name:   "all labels of a version replaced leave it unlabelled",
			ls:     mbLabels(LabelCurrent, "v1", "one", "v2", "two", "v2"),
			v:      "v3",
			stages: []string{"one", "two", "three"},
			want:   mbMap(LabelCurrent, "v1", "one", "v3", "two", "v3", "three", "v3"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := slices.Clone(tt.ls)
			var stagesBefore []string
			if tt.stages != nil {
				stagesBefore = slices.Clone(tt.stages)
			}
			got := putLabels(tt.ls, tt.v, tt.stages, tt.firstValue)
			gotMap := mbLabelMap(t, got)
			assert.Equal(t, tt.want, gotMap, "got %v, want %v", gotMap, tt.want)
			assert.Equal(t, before, tt.ls, "putLabels modified its input table")
			assert.Equal(t, stagesBefore, tt.stages, "putLabels modified the requested stages")
		})
	}
}

// TestPutLabelsDoesNotWriteCallerBackingArray checks that adding AWSCURRENT
// for a first value does not write into spare capacity of the caller's
// VersionStages slice.
func TestPutLabelsDoesNotWriteCallerBackingArray(t *testing.T) {
	t.Parallel()
	backing := make([]string, 1, 4)
	backing[0] = "X"
	got := putLabels(nil, "v1", backing, true)
	assert.Equal(t, mbMap("X", "v1", LabelCurrent, "v1"), mbLabelMap(t, got))
	if spare := backing[:2][1]; spare != "" {
		t.Errorf("got spare capacity %q, want it untouched", spare)
	}
}

func TestMoveLabel(t *testing.T) {
	t.Parallel()
	const e9For = "The parameter RemoveFromVersionId can't be empty. Staging label AWSCURRENT is currently attached to version v1, so you must explicitly reference that version in RemoveFromVersionId."
	tests := []struct {
		name    string
		ls      labelSet
		m       stageMove
		want    map[string]string // nil when an error is expected
		wantMsg string            // exact message, when the SPEC fixes it
	}{
		{
			name:    "E9: AWSCURRENT held elsewhere and no RemoveFromVersionId",
			ls:      mbLabels(LabelCurrent, "v1", LabelPending, "v2"),
			m:       stageMove{Label: LabelCurrent, Move: "v2"},
			wantMsg: e9For,
		},
		{
			name: "E9: custom label held elsewhere and no RemoveFromVersionId",
			ls:   mbLabels(LabelCurrent, "v1", "X", "v1"),
			m:    stageMove{Label: "X", Move: "v2"},
		},
		{
			name:    "E10: AWSCURRENT removed without a destination",
			ls:      mbLabels(LabelCurrent, "v1"),
			m:       stageMove{Label: LabelCurrent, Remove: "v1"},
			wantMsg: "You can only move staging label AWSCURRENT to a different secret version. It can’t be completely removed.",
		},
		{
			name: "neither Move nor Remove",
			ls:   mbLabels(LabelCurrent, "v1", "X", "v1"),
			m:    stageMove{Label: "X"},
		},
		{
			name: "neither Move nor Remove for a label nobody holds",
			ls:   mbLabels(LabelCurrent, "v1"),
			m:    stageMove{Label: "X"},
		},
		{
			name: "Remove does not hold the label",
			ls:   mbLabels(LabelCurrent, "v1", "X", "v2"),
			m:    stageMove{Label: "X", Remove: "v1", Move: "v3"},
		},
		{
			name: "Remove names a version but nobody holds the label",
			ls:   mbLabels(LabelCurrent, "v1"),
			m:    stageMove{Label: "X", Remove: "v1", Move: "v2"},
		},
		{
			name: "Remove does not hold AWSCURRENT",
			ls:   mbLabels(LabelCurrent, "v1", LabelPrevious, "v0"),
			m:    stageMove{Label: LabelCurrent, Remove: "v0", Move: "v2"},
		},
		{
			name: "Move is the holder: no-op",
			ls:   mbLabels(LabelCurrent, "v1", "X", "v2"),
			m:    stageMove{Label: "X", Move: "v2"},
			want: mbMap(LabelCurrent, "v1", "X", "v2"),
		},
		{
			name: "AWSCURRENT Move and Remove both the holder: no-op, AWSPREVIOUS kept",
			ls:   mbLabels(LabelCurrent, "v1", LabelPrevious, "v0"),
			m:    stageMove{Label: LabelCurrent, Remove: "v1", Move: "v1"},
			want: mbMap(LabelCurrent, "v1", LabelPrevious, "v0"),
		},
		{
			name: "AWSCURRENT moves and AWSPREVIOUS follows",
			ls:   mbLabels(LabelCurrent, "v2", LabelPrevious, "v1", LabelPending, "v3"),
			m:    stageMove{Label: LabelCurrent, Remove: "v2", Move: "v3"},
			want: mbMap(LabelCurrent, "v3", LabelPending, "v3", LabelPrevious, "v2"),
		},
		{
			name: "AWSCURRENT moves back onto AWSPREVIOUS",
			ls:   mbLabels(LabelCurrent, "v2", LabelPrevious, "v1"),
			m:    stageMove{Label: LabelCurrent, Remove: "v2", Move: "v1"},
			want: mbMap(LabelCurrent, "v1", LabelPrevious, "v2"),
		},
		{
			name: "custom labels stay on both sides",
			ls: mbLabels(LabelPrevious, "v2", "PUT0", "v2", LabelCurrent, "v3", "PUT1", "v3",
				LabelPending, "v4", "PUT2", "v4"),
			m: stageMove{Label: LabelCurrent, Remove: "v3", Move: "v4"},
			want: mbMap("PUT0", "v2", LabelPrevious, "v3", "PUT1", "v3",
				LabelCurrent, "v4", LabelPending, "v4", "PUT2", "v4"),
		},
		{
			name: "custom label removed only",
			ls:   mbLabels(LabelCurrent, "v2", "PENDING", "v2", LabelPrevious, "v1"),
			m:    stageMove{Label: "PENDING", Remove: "v2"},
			want: mbMap(LabelCurrent, "v2", LabelPrevious, "v1"),
		},
		{
			name: "custom label moved",
			ls:   mbLabels(LabelCurrent, "v1", "CUSTOM", "v2"),
			m:    stageMove{Label: "CUSTOM", Remove: "v2", Move: "v1"},
			want: mbMap(LabelCurrent, "v1", "CUSTOM", "v1"),
		},
		{
			name: "AWSPENDING removed does not move AWSPREVIOUS",
			ls:   mbLabels(LabelCurrent, "v2", LabelPending, "v2", LabelPrevious, "v1"),
			m:    stageMove{Label: LabelPending, Remove: "v2"},
			want: mbMap(LabelCurrent, "v2", LabelPrevious, "v1"),
		},
		{
			name: "AWSPREVIOUS moved by hand",
			ls:   mbLabels(LabelCurrent, "v2", LabelPrevious, "v1"),
			m:    stageMove{Label: LabelPrevious, Remove: "v1", Move: "v0"},
			want: mbMap(LabelCurrent, "v2", LabelPrevious, "v0"),
		},
		{
			name: "custom label nobody holds is attached",
			ls:   mbLabels(LabelCurrent, "v1"),
			m:    stageMove{Label: "X", Move: "v2"},
			want: mbMap(LabelCurrent, "v1", "X", "v2"),
		},
		{
			name: "AWSCURRENT nobody holds is attached without AWSPREVIOUS",
			ls:   mbLabels(LabelPending, "p"),
			m:    stageMove{Label: LabelCurrent, Move: "p"},
			want: mbMap(LabelCurrent, "p", LabelPending, "p"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := slices.Clone(tt.ls)
			got, err := moveLabel(tt.ls, tt.m)
			assert.Equal(t, before, tt.ls, "moveLabel modified its input table")
			if tt.want == nil {
				require.Error(t, err, "got table %v, want InvalidParameterException", got)
				assert.Nil(t, got)
				if !errors.Is(err, ErrInvalidParameter) {
					t.Errorf("got %v, want %v", err, ErrInvalidParameter)
				}
				if tt.wantMsg != "" {
					var e *Error
					require.ErrorAs(t, err, &e)
					assert.Equal(t, tt.wantMsg, e.Message, "got %v, want %v", e.Message, tt.wantMsg)
				}
				return
			}
			require.NoError(t, err)
			gotMap := mbLabelMap(t, got)
			assert.Equal(t, tt.want, gotMap, "got %v, want %v", gotMap, tt.want)
		})
	}
}

func TestLabelSetTable(t *testing.T) {
	t.Parallel()
	ls := mbLabels(LabelCurrent, "v2", LabelPrevious, "v1", "X", "v2")

	t.Run("holder", func(t *testing.T) {
		for _, tc := range []struct{ label, want string }{
			{LabelCurrent, "v2"}, {LabelPrevious, "v1"}, {"X", "v2"}, {LabelPending, ""},
		} {
			if got := ls.holder(tc.label); got != tc.want {
				t.Errorf("holder(%s): got %v, want %v", tc.label, got, tc.want)
			}
		}
	})
	t.Run("stagesOf", func(t *testing.T) {
		for _, tc := range []struct {
			v    string
			want []string
		}{
			{"v2", []string{LabelCurrent, "X"}}, {"v1", []string{LabelPrevious}}, {"v9", nil},
		} {
			got := ls.stagesOf(tc.v)
			if tc.want == nil {
				assert.Nil(t, got, "stagesOf(%s): got %v, want nil", tc.v, got)
				continue
			}
			assert.Equal(t, mbSorted(tc.want), mbSorted(got), "stagesOf(%s): got %v, want %v", tc.v, got, tc.want)
		}
	})
	t.Run("has", func(t *testing.T) {
		for _, tc := range []struct {
			v, label string
			want     bool
		}{
			{"v2", LabelCurrent, true},
			{"v1", LabelCurrent, false},
			{"v1", LabelPrevious, true},
			{"v2", LabelPending, false},
			{"", LabelPending, false}, // nobody holds it: "" must not match
		} {
			if got := ls.has(tc.v, tc.label); got != tc.want {
				t.Errorf("has(%q, %s): got %v, want %v", tc.v, tc.label, got, tc.want)
			}
		}
	})
	t.Run("labelled", func(t *testing.T) {
		for _, tc := range []struct {
			v    string
			want bool
		}{{"v1", true}, {"v2", true}, {"v0", false}, {"", false}} {
			if got := ls.labelled(tc.v); got != tc.want {
				t.Errorf("labelled(%q): got %v, want %v", tc.v, got, tc.want)
			}
		}
	})
	t.Run("attach moves the label", func(t *testing.T) {
		before := slices.Clone(ls)
		got := mbLabelMap(t, ls.attach("X", "v1"))
		want := mbMap(LabelCurrent, "v2", LabelPrevious, "v1", "X", "v1")
		assert.Equal(t, want, got, "got %v, want %v", got, want)
		assert.Equal(t, before, ls, "attach modified its receiver")
	})
	t.Run("attach a new label", func(t *testing.T) {
		got := mbLabelMap(t, ls.attach(LabelPending, "v3"))
		want := mbMap(LabelCurrent, "v2", LabelPrevious, "v1", "X", "v2", LabelPending, "v3")
		assert.Equal(t, want, got, "got %v, want %v", got, want)
	})
	t.Run("detach", func(t *testing.T) {
		before := slices.Clone(ls)
		got := mbLabelMap(t, ls.detach("X"))
		want := mbMap(LabelCurrent, "v2", LabelPrevious, "v1")
		assert.Equal(t, want, got, "got %v, want %v", got, want)
		got = mbLabelMap(t, ls.detach("nobody"))
		assert.Equal(t, mbLabelMap(t, ls), got, "detaching a missing label: got %v, want %v", got, ls)
		assert.Equal(t, before, ls, "detach modified its receiver")
	})
	t.Run("dropVersion", func(t *testing.T) {
		before := slices.Clone(ls)
		got := mbLabelMap(t, ls.dropVersion("v2"))
		want := mbMap(LabelPrevious, "v1")
		assert.Equal(t, want, got, "got %v, want %v", got, want)
		assert.Equal(t, before, ls, "dropVersion modified its receiver")
	})
}

func TestCheckQuotaTable(t *testing.T) {
	t.Parallel()
	mk := func(n int) labelSet {
		ls := make(labelSet, n)
		for i := range ls {
			ls[i] = labelRef{Label: "L" + strconv.Itoa(i), VersionID: "v" + strconv.Itoa(i%3)}
		}
		return ls
	}
	tests := []struct {
		name    string
		n       int
		wantErr bool
	}{
		{"empty", 0, false},
		{"one", 1, false},
		{"20 labels ok", 20, false},
		{"21 labels LimitExceeded", 21, true},
		{"40 labels LimitExceeded", 40, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := mk(tt.n).checkQuota()
			if !tt.wantErr {
				assert.NoError(t, err)
				return
			}
			if !errors.Is(err, ErrLimitExceeded) {
				t.Errorf("got %v, want %v", err, ErrLimitExceeded)
			}
		})
	}
}

func TestRotationInProgress(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		ls   labelSet
		want bool
	}{
		{"no pending", labelSet{{LabelCurrent, "v1"}}, false},
		{"pending on current (finished)", labelSet{{LabelCurrent, "v1"}, {LabelPending, "v1"}}, false},
		{"pending elsewhere", labelSet{{LabelCurrent, "v1"}, {LabelPending, "v2"}}, true},
		{"pending on an empty secret", labelSet{{LabelPending, "p"}}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ls.rotationInProgress(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPutCurrentSameAsGeneral checks putLabelsTo's one-pass path for the
// default stages (nil) against its general path given AWSCURRENT
// explicitly: the same table in the same order (which Describe's and
// PutSecretValue's stage lists and the record encoding follow), for every
// table of up to four labels over three versions, with and without a first
// value, into room or not.
func TestPutCurrentSameAsGeneral(t *testing.T) {
	t.Parallel()
	labels := []string{LabelCurrent, LabelPrevious, LabelPending, "X"}
	versions := []string{"", "a", "b", "v"} // "" leaves the label out
	var tables []labelSet
	var gen func(i int, ls labelSet)
	gen = func(i int, ls labelSet) {
		if i == len(labels) {
			tables = append(tables, slices.Clone(ls))
			// The same labels in reverse order too.
			r := slices.Clone(ls)
			slices.Reverse(r)
			tables = append(tables, r)
			return
		}
		for _, v := range versions {
			if v == "" {
				gen(i+1, ls)
			} else {
				gen(i+1, append(ls, labelRef{labels[i], v}))
			}
		}
	}
	gen(0, nil)
	for _, ls := range tables {
		for _, first := range []bool{false, true} {
			before := slices.Clone(ls)
			want := putLabelsTo(nil, ls, "v", []string{LabelCurrent}, first)
			got := putLabelsTo(nil, ls, "v", nil, first)
			var room [3]labelRef
			gotRoom := putLabelsTo(room[:0], ls, "v", nil, first)
			assert.Equal(t, want, got, "table %v, first value %v", ls, first)
			assert.Equal(t, want, gotRoom, "table %v into room, first value %v", ls, first)
			assert.Equal(t, before, ls, "table %v modified", ls)
		}
	}
}
