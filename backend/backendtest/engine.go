package backendtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/secretstore/secretstore"
)

// The helpers below serve the crash, multi-process and fault tests of
// backends: writers derive every value from its VersionId, so that a
// checker (in another process, after a crash) can recompute it, and
// CheckLabels checks a secret's staging-label invariants.

// Token returns a fresh ClientRequestToken: 32 hex digits from r.
func Token(r *rand.Rand) string {
	return fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
}

// Value returns the value that the writer of version token stores: a string
// or a binary value of varying length, both chosen by the token's hash.
// Exactly one of the results is not nil.
func Value(token string) (*string, []byte) {
	h := sha256.Sum256([]byte(token))
	n := 1 + int(h[1])%8
	if h[0]&1 == 0 {
		s := token + ":" + strings.Repeat(hex.EncodeToString(h[:]), n)
		return &s, nil
	}
	return nil, append([]byte(token), bytes.Repeat(h[:], n)...)
}

// CheckValue reads version vid of secret by VersionId and checks that it
// holds Value(vid). Errors name the secret, the version and the lengths,
// never the values.
func CheckValue(ctx context.Context, e *secretstore.Engine, secret, vid string) error {
	out, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: secret, VersionId: vid})
	if err != nil {
		return fmt.Errorf("GetSecretValue(%s, VersionId %s): %w%s", secret, vid, err, Cause(err))
	}
	s, b := Value(vid)
	switch {
	case out.VersionId != vid:
		return fmt.Errorf("GetSecretValue(%s, VersionId %s) returned version %s", secret, vid, out.VersionId)
	case s != nil && (out.SecretString != *s || out.SecretBinary != nil):
		return fmt.Errorf("version %s of %s: got a wrong value (string of %d bytes, binary of %d), want a string of %d bytes",
			vid, secret, len(out.SecretString), len(out.SecretBinary), len(*s))
	case b != nil && (!bytes.Equal(out.SecretBinary, b) || out.SecretString != ""):
		return fmt.Errorf("version %s of %s: got a wrong value (string of %d bytes, binary of %d), want binary of %d bytes",
			vid, secret, len(out.SecretString), len(out.SecretBinary), len(b))
	}
	return nil
}

// SecretState is what CheckLabels found out about a secret.
type SecretState struct {
	// Description is the secret's description.
	Description string
	// Labels maps each staging label to the version that holds it.
	Labels map[string]string
	// Versions are all the secret's versions, labelled or not, in the order
	// ListSecretVersionIds returns them.
	Versions []string
}

// CheckLabels reads secret with DescribeSecret and ListSecretVersionIds (all
// pages, with and without deprecated versions) and checks the staging-label
// invariants: exactly one version holds AWSCURRENT, each label is on one
// version only, AWSPREVIOUS is not on the AWSCURRENT version, no version is
// listed twice, and every call reports the same labels on the same
// versions. It returns what it read even when an invariant fails.
func CheckLabels(ctx context.Context, e *secretstore.Engine, secret string) (*SecretState, error) {
	d, err := e.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: secret})
	if err != nil {
		return nil, fmt.Errorf("DescribeSecret(%s): %w%s", secret, err, Cause(err))
	}
	st := &SecretState{Description: d.Description, Labels: map[string]string{}}
	var errs []error
	for vid, stages := range d.VersionIdsToStages {
		if len(stages) == 0 {
			errs = append(errs, fmt.Errorf("%s: DescribeSecret lists version %s with no label", secret, vid))
		}
		for _, l := range stages {
			if other, ok := st.Labels[l]; ok {
				errs = append(errs, fmt.Errorf("%s: label %s is on versions %s and %s", secret, l, other, vid))
			}
			st.Labels[l] = vid
		}
	}
	cur, ok := st.Labels[secretstore.LabelCurrent]
	if !ok {
		errs = append(errs, fmt.Errorf("%s: no version holds AWSCURRENT (labels %v)", secret, d.VersionIdsToStages))
	}
	if prev, ok := st.Labels[secretstore.LabelPrevious]; ok && prev == cur {
		errs = append(errs, fmt.Errorf("%s: AWSPREVIOUS and AWSCURRENT are both on version %s", secret, cur))
	}

	labelled, err := ListVersions(ctx, e, secret, false)
	if err != nil {
		return nil, err
	}
	fromList := map[string][]string{}
	for _, v := range labelled {
		fromList[v.VersionId] = v.VersionStages
	}
	if len(fromList) != len(d.VersionIdsToStages) {
		errs = append(errs, fmt.Errorf("%s: DescribeSecret shows %d labelled versions, ListSecretVersionIds %d",
			secret, len(d.VersionIdsToStages), len(fromList)))
	}
	for vid, stages := range d.VersionIdsToStages {
		if got := fromList[vid]; !sameSet(got, stages) {
			errs = append(errs, fmt.Errorf("%s: version %s has labels %v in DescribeSecret but %v in ListSecretVersionIds",
				secret, vid, stages, got))
		}
	}

	all, err := ListVersions(ctx, e, secret, true)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, v := range all {
		if seen[v.VersionId] {
			errs = append(errs, fmt.Errorf("%s: ListSecretVersionIds lists version %s twice", secret, v.VersionId))
		}
		seen[v.VersionId] = true
		st.Versions = append(st.Versions, v.VersionId)
		if want := d.VersionIdsToStages[v.VersionId]; !sameSet(v.VersionStages, want) {
			errs = append(errs, fmt.Errorf("%s: version %s has labels %v with IncludeDeprecated, %v in DescribeSecret",
				secret, v.VersionId, v.VersionStages, want))
		}
	}
	for vid := range d.VersionIdsToStages {
		if !seen[vid] {
			errs = append(errs, fmt.Errorf("%s: labelled version %s is missing from ListSecretVersionIds", secret, vid))
		}
	}
	return st, errors.Join(errs...)
}

// ListVersions returns every page of ListSecretVersionIds for secret.
func ListVersions(ctx context.Context, e *secretstore.Engine, secret string, deprecated bool) ([]secretstore.SecretVersionsListEntry, error) {
	var all []secretstore.SecretVersionsListEntry
	for token := ""; ; {
		out, err := e.ListSecretVersionIds(ctx, &secretstore.ListSecretVersionIdsInput{
			SecretId: secret, IncludeDeprecated: deprecated, NextToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("ListSecretVersionIds(%s, IncludeDeprecated %v): %w%s", secret, deprecated, err, Cause(err))
		}
		all = append(all, out.Versions...)
		if out.NextToken == "" {
			return all, nil
		}
		token = out.NextToken
	}
}

// Cause returns " (cause: ...)" with the cause of a *secretstore.Error in
// err, which its Error method leaves out, or "".
func Cause(err error) string {
	var se *secretstore.Error
	if errors.As(err, &se) && se.Err != nil {
		return fmt.Sprintf(" (cause: %v)", se.Err)
	}
	return ""
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
