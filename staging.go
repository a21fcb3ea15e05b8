package secretstore

import "slices"

// The staging labels Secrets Manager reserves.
const (
	// LabelCurrent marks the version GetSecretValue returns by default.
	LabelCurrent = "AWSCURRENT"
	// LabelPrevious marks the version that held AWSCURRENT before it last moved.
	LabelPrevious = "AWSPREVIOUS"
	// LabelPending marks the version a rotation is preparing.
	LabelPending = "AWSPENDING"
)

// maxLabels is the number of distinct staging labels a secret may carry
// across all its versions (AWS quota).
const maxLabels = 20

// labelRef attaches one staging label to one version.
type labelRef struct {
	Label     string
	VersionID string
}

// labelSet is the label table of a secret: each label appears at most once,
// which is how the invariant "a label is on at most one version" is kept by
// construction. It is small (at most maxLabels entries), so it is a slice.
// Functions in this file never modify a labelSet in place; they return a new
// one.
type labelSet []labelRef

// holder returns the version holding label, or "".
func (ls labelSet) holder(label string) string {
	for _, r := range ls {
		if r.Label == label {
			return r.VersionID
		}
	}
	return ""
}

// stagesOf returns the labels attached to versionID in table order, or nil.
func (ls labelSet) stagesOf(versionID string) []string { return ls.stagesInto(nil, versionID) }

// stagesInto is stagesOf storing the labels in buf when they fit, so that a
// caller can provide storage it allocates anyway. It returns nil, not an
// empty slice, when versionID has no label.
func (ls labelSet) stagesInto(buf []string, versionID string) []string {
	out := buf[:0]
	for _, r := range ls {
		if r.VersionID == versionID {
			out = append(out, r.Label)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// has reports whether versionID carries label.
func (ls labelSet) has(versionID, label string) bool {
	return ls.holder(label) == versionID && versionID != ""
}

// labelled reports whether versionID carries any label.
func (ls labelSet) labelled(versionID string) bool {
	for _, r := range ls {
		if r.VersionID == versionID {
			return true
		}
	}
	return false
}

// attach returns ls with label on versionID, taken off any other version.
func (ls labelSet) attach(label, versionID string) labelSet {
	out := make(labelSet, 0, len(ls)+1)
	for _, r := range ls {
		if r.Label != label {
			out = append(out, r)
		}
	}
	return append(out, labelRef{label, versionID})
}

// detach returns ls without label.
func (ls labelSet) detach(label string) labelSet {
	out := make(labelSet, 0, len(ls))
	for _, r := range ls {
		if r.Label != label {
			out = append(out, r)
		}
	}
	return out
}

// dropVersion returns ls without any label on versionID.
func (ls labelSet) dropVersion(versionID string) labelSet {
	out := make(labelSet, 0, len(ls))
	for _, r := range ls {
		if r.VersionID != versionID {
			out = append(out, r)
		}
	}
	return out
}

// checkQuota reports LimitExceededException if ls holds more distinct labels
// than a secret may have.
func (ls labelSet) checkQuota() error {
	if len(ls) > maxLabels {
		return newError(CodeLimitExceeded, msgTooManyLabels)
	}
	return nil
}

// putLabels applies the label moves of a PutSecretValue or UpdateSecret that
// stores a value in version v (SPEC §2.2 steps 3-6):
//
//   - stages are the labels requested; nil means the default, AWSCURRENT;
//   - if the secret had no value-bearing version before (firstValue),
//     AWSCURRENT is added;
//   - each requested label is attached to v and taken off the version that
//     held it;
//   - if AWSCURRENT arrives on v from another version W, AWSPREVIOUS moves to
//     W and AWSPENDING is taken off W, unless the call names AWSPREVIOUS or
//     AWSPENDING itself (an explicit label wins over the automatic move).
//     W keeps its custom labels.
//
// Every other label stays where it is.
func putLabels(ls labelSet, v string, stages []string, firstValue bool) labelSet {
	return putLabelsTo(nil, ls, v, stages, firstValue)
}

// putLabelsTo is putLabels building the new table in room's array while it
// has room. The caller must own that array.
func putLabelsTo(room, ls labelSet, v string, stages []string, firstValue bool) labelSet {
	if stages == nil {
		return putCurrentTo(room, ls, v)
	}
	if firstValue && !slices.Contains(stages, LabelCurrent) {
		stages = append(slices.Clip(stages), LabelCurrent)
	}
	oldCurrent := ls.holder(LabelCurrent)
	out := room[:0]
	if need := len(ls) + len(stages) + 1; cap(out) < len(ls) {
		out = make(labelSet, 0, need)
	}
	out = append(out, ls...) // then set appends, moving out of room if it must
	for _, l := range stages {
		out = out.set(l, v)
	}
	if slices.Contains(stages, LabelCurrent) && oldCurrent != "" && oldCurrent != v {
		if !slices.Contains(stages, LabelPending) && out.holder(LabelPending) == oldCurrent {
			out = out.detach(LabelPending)
		}
		if !slices.Contains(stages, LabelPrevious) {
			out = out.set(LabelPrevious, oldCurrent)
		}
	}
	return out
}

// putCurrentTo is putLabelsTo for the default stages (AWSCURRENT alone,
// which also covers a first value) in one pass over ls, without a search
// of the stages: it gives the same table, in the same order.
func putCurrentTo(room, ls labelSet, v string) labelSet {
	oldCurrent := ls.holder(LabelCurrent)
	moved := oldCurrent != "" && oldCurrent != v // AWSCURRENT leaves oldCurrent
	out := room[:0]
	if cap(out) < len(ls) {
		out = make(labelSet, 0, len(ls)+2)
	}
	hasCurrent, hasPrevious := false, false
	for _, r := range ls {
		switch {
		case r.Label == LabelCurrent:
			r.VersionID, hasCurrent = v, true
		case moved && r.Label == LabelPrevious:
			r.VersionID, hasPrevious = oldCurrent, true
		case moved && r.Label == LabelPending && r.VersionID == oldCurrent:
			continue
		}
		out = append(out, r)
	}
	if !hasCurrent {
		out = append(out, labelRef{LabelCurrent, v})
	}
	if moved && !hasPrevious {
		out = append(out, labelRef{LabelPrevious, oldCurrent})
	}
	return out
}

// set attaches label to versionID in place, in a table the caller owns.
func (ls labelSet) set(label, versionID string) labelSet {
	for i := range ls {
		if ls[i].Label == label {
			ls[i].VersionID = versionID
			return ls
		}
	}
	return append(ls, labelRef{label, versionID})
}

// stageMove is an UpdateSecretVersionStage request after its version IDs
// have been checked to exist.
type stageMove struct {
	Label  string
	Remove string // RemoveFromVersionId, or ""
	Move   string // MoveToVersionId, or ""
}

// moveLabel applies UpdateSecretVersionStage to ls (SPEC §2.7 steps 3-6).
// It returns the new table, or an InvalidParameterException that explains
// which rule the request broke.
func moveLabel(ls labelSet, m stageMove) (labelSet, error) {
	h := ls.holder(m.Label)
	if m.Remove != "" && h != m.Remove {
		return nil, errInvalidParameter("The staging label " + m.Label + " isn't attached to version " + m.Remove + ", so it can't be removed from it.")
	}
	switch {
	case m.Move == "" && m.Label == LabelCurrent:
		return nil, errInvalidParameter(msgCurrentCantBeRemove)
	case m.Move == "" && m.Remove == "":
		return nil, errInvalidParameter("You must specify MoveToVersionId, RemoveFromVersionId, or both.")
	case m.Move != "" && h != "" && h != m.Move && m.Remove == "":
		return nil, errInvalidParameter("The parameter RemoveFromVersionId can't be empty. Staging label " + m.Label +
			" is currently attached to version " + h + ", so you must explicitly reference that version in RemoveFromVersionId.")
	case m.Move != "" && m.Move == h:
		// Already attached where the caller wants it: nothing to do.
		return slices.Clone(ls), nil
	}
	out := ls
	if m.Remove != "" {
		out = out.detach(m.Label)
	}
	if m.Move != "" {
		out = out.attach(m.Label, m.Move)
	}
	if m.Label == LabelCurrent && m.Remove != "" {
		out = out.attach(LabelPrevious, m.Remove)
	}
	return out, nil
}

// rotationInProgress reports whether a rotation has started and not
// finished: AWSPENDING is on a version that is not AWSCURRENT (SPEC §2.11
// step 3). AWSPENDING left on the AWSCURRENT version is a finished rotation.
func (ls labelSet) rotationInProgress() bool {
	p := ls.holder(LabelPending)
	return p != "" && p != ls.holder(LabelCurrent)
}
