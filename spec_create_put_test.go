package secretstore_test

// Conformance tests for SPEC.md §5 cases 1-40 (CreateSecret and
// PutSecretValue). Each test builds its own engine over a fresh membackend
// with a FakeClock. Helpers are prefixed "cp" so they do not collide with
// other spec test files of this package.

import (
	"encoding/hex"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend/membackend"
)

// AWS error messages of SPEC §1.5, byte for byte.
const (
	cpMsgE1  = "Secrets Manager can't find the specified secret."
	cpMsgE7  = "You can't create this secret because a secret with this name is already scheduled for deletion."
	cpMsgE8  = "You can't perform this operation on the secret because it was marked for deletion."
	cpMsgE11 = "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!"
	cpMsgE12 = "You must provide a ClientRequestToken value. We recommend a UUID-type value."
	cpMsgE16 = "You must provide either SecretString or SecretBinary."
	// E17 uses the typographic apostrophe (SPEC §1.5 E17, UNVERIFIED, like E10).
	cpMsgE17 = "You can’t specify both a binary secret value and a string secret value in the same secret."
)

// cpMsgE2 is E2: no version holds the staging label.
func cpMsgE2(label string) string {
	return "Secrets Manager can't find the specified secret value for staging label: " + label
}

// cpMsgE3 is E3: no version has the VersionId.
func cpMsgE3(id string) string {
	return "Secrets Manager can't find the specified secret value for VersionId: " + id
}

// cpMsgE5 is E5: the name is taken.
func cpMsgE5(name string) string {
	return "The operation failed because the secret " + name + " already exists."
}

// cpMsgE6 is E6: the token is in use for a version with another value.
func cpMsgE6(token, arn string) string {
	return "You can't use ClientRequestToken " + token + " because that value is already in use for a version of secret " + arn + "."
}

// cpNewStore returns an engine over a fresh membackend whose clock reads
// 2026-01-02T03:04:05Z until advanced.
func cpNewStore(t *testing.T, opts ...secretstore.Option) (*secretstore.Engine, *secretstore.FakeClock) {
	t.Helper()
	clock := secretstore.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	b := membackend.New()
	t.Cleanup(func() { _ = b.Close() })
	s, err := secretstore.New(b, append([]secretstore.Option{secretstore.WithClock(clock)}, opts...)...)
	require.NoError(t, err)
	return s, clock
}

// cpToken returns the n-th test token: 36 characters shaped like a UUID,
// distinct for distinct n.
func cpToken(n int) string {
	tok := "00000000-0000-4000-8000-" + strings.Repeat("0", 12)
	d := []byte(tok)
	for i := len(d) - 1; n > 0 && i >= 24; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return string(d)
}

// cpCreate creates name with a string value under token tok and checks that
// a first version was made.
func cpCreate(t *testing.T, s secretstore.Store, name, tok, value string) *secretstore.CreateSecretOutput {
	t.Helper()
	out, err := s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{
		Name: name, ClientRequestToken: tok, SecretString: secretstore.String(value),
	})
	require.NoError(t, err, "CreateSecret %s", name)
	require.Equal(t, tok, out.VersionId, "CreateSecret %s: VersionId", name)
	return out
}

// cpCreateEmpty creates name without a value.
func cpCreateEmpty(t *testing.T, s secretstore.Store, name string) *secretstore.CreateSecretOutput {
	t.Helper()
	out, err := s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{Name: name})
	require.NoError(t, err, "CreateSecret %s", name)
	require.Empty(t, out.VersionId, "CreateSecret %s without a value: VersionId", name)
	return out
}

// cpPut puts a string value under token tok; no stages means VersionStages
// is nil (the default, AWSCURRENT).
func cpPut(t *testing.T, s secretstore.Store, id, tok, value string, stages ...string) *secretstore.PutSecretValueOutput {
	t.Helper()
	out, err := s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{
		SecretId: id, ClientRequestToken: tok, SecretString: secretstore.String(value), VersionStages: stages,
	})
	require.NoError(t, err, "PutSecretValue %s token %s stages %q", id, tok, stages)
	require.Equal(t, tok, out.VersionId, "PutSecretValue %s: VersionId", id)
	return out
}

// cpGet reads a version; empty versionID and stage mean AWSCURRENT.
func cpGet(t *testing.T, s secretstore.Store, id, versionID, stage string) *secretstore.GetSecretValueOutput {
	t.Helper()
	out, err := s.GetSecretValue(t.Context(), &secretstore.GetSecretValueInput{
		SecretId: id, VersionId: versionID, VersionStage: stage,
	})
	require.NoError(t, err, "GetSecretValue %s VersionId=%q VersionStage=%q", id, versionID, stage)
	return out
}

// cpList returns VersionId -> VersionStages from ListSecretVersionIds, all
// pages. A version listed without labels maps to nil.
func cpList(t *testing.T, s secretstore.Store, id string, includeDeprecated bool) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	next := ""
	for {
		out, err := s.ListSecretVersionIds(t.Context(), &secretstore.ListSecretVersionIdsInput{
			SecretId: id, IncludeDeprecated: includeDeprecated, NextToken: next,
		})
		require.NoError(t, err, "ListSecretVersionIds %s", id)
		for _, v := range out.Versions {
			_, dup := got[v.VersionId]
			require.False(t, dup, "ListSecretVersionIds %s lists %s twice", id, v.VersionId)
			got[v.VersionId] = v.VersionStages
		}
		if out.NextToken == "" {
			return got
		}
		next = out.NextToken
	}
}

// cpLabelsOf returns every version of id (deprecated ones included, mapped
// to nil) with its labels.
func cpLabelsOf(t *testing.T, s secretstore.Store, id string) map[string][]string {
	t.Helper()
	return cpList(t, s, id, true)
}

// cpAssertStages compares two VersionId -> labels maps, the labels as sets.
// A nil or empty want entry means "listed with no labels".
func cpAssertStages(t *testing.T, want, got map[string][]string, what string) {
	t.Helper()
	wantIDs := make([]string, 0, len(want))
	for id := range want {
		wantIDs = append(wantIDs, id)
	}
	gotIDs := make([]string, 0, len(got))
	for id := range got {
		gotIDs = append(gotIDs, id)
	}
	if !assert.ElementsMatch(t, wantIDs, gotIDs, "%s: version IDs: got %v, want %v", what, got, want) {
		return
	}
	for id, w := range want {
		assert.ElementsMatch(t, w, got[id], "%s: labels of %s: got %v, want %v", what, id, got[id], w)
	}
}

// cpAssertLabels checks the labels of every version of id, deprecated ones
// included.
func cpAssertLabels(t *testing.T, s secretstore.Store, id string, want map[string][]string) {
	t.Helper()
	cpAssertStages(t, want, cpLabelsOf(t, s, id), "ListSecretVersionIds(IncludeDeprecated)")
}

// cpAssertErr checks that err matches the sentinel want and, if msg is not
// empty, that its AWS message is exactly msg.
func cpAssertErr(t *testing.T, err error, want error, msg string) {
	t.Helper()
	if !assert.Error(t, err, "want %v", want) {
		return
	}
	assert.ErrorIs(t, err, want, "got %v, want %v", err, want)
	var e *secretstore.Error
	if assert.ErrorAs(t, err, &e, "got %T, want *secretstore.Error", err) && msg != "" {
		assert.Equal(t, msg, e.Message, "error message")
	}
}

// cpAssertNoSecret checks that DescribeSecret does not find id.
func cpAssertNoSecret(t *testing.T, s secretstore.Store, id string) {
	t.Helper()
	_, err := s.DescribeSecret(t.Context(), &secretstore.DescribeSecretInput{SecretId: id})
	cpAssertErr(t, err, secretstore.ErrResourceNotFound, cpMsgE1)
}

// cpVersionState is what a snapshot records about one version.
type cpVersionState struct {
	VersionId   string
	Stages      []string // sorted
	CreatedDate time.Time
	KmsKeyIds   []string
	Value       string // "s:<string>" or "b:<hex>"; "" if not readable (scheduled for deletion)
}

// cpState is the observable state of one secret, minus access dates.
type cpState struct {
	ARN                string
	Name               string
	Description        string
	KmsKeyId           string
	Tags               []secretstore.Tag
	CreatedDate        time.Time
	LastChangedDate    time.Time
	DeletedDate        time.Time
	VersionIdsToStages map[string][]string // labels sorted
	Versions           []cpVersionState
}

// cpSnapshot records the state of id: its metadata, every version (with
// IncludeDeprecated), its labels and, unless it is scheduled for deletion,
// its values. LastAccessedDate is left out because reading values sets it.
func cpSnapshot(t *testing.T, s secretstore.Store, id string) cpState {
	t.Helper()
	d, err := s.DescribeSecret(t.Context(), &secretstore.DescribeSecretInput{SecretId: id})
	require.NoError(t, err, "DescribeSecret %s", id)
	st := cpState{
		ARN: d.ARN, Name: d.Name, Description: d.Description, KmsKeyId: d.KmsKeyId,
		Tags: d.Tags, CreatedDate: d.CreatedDate, LastChangedDate: d.LastChangedDate,
		DeletedDate: d.DeletedDate,
	}
	if d.VersionIdsToStages != nil {
		st.VersionIdsToStages = map[string][]string{}
		for v, l := range d.VersionIdsToStages {
			st.VersionIdsToStages[v] = slices.Sorted(slices.Values(l))
		}
	}
	next := ""
	for {
		out, err := s.ListSecretVersionIds(t.Context(), &secretstore.ListSecretVersionIdsInput{
			SecretId: id, IncludeDeprecated: true, NextToken: next,
		})
		require.NoError(t, err, "ListSecretVersionIds %s", id)
		for _, v := range out.Versions {
			vs := cpVersionState{VersionId: v.VersionId, CreatedDate: v.CreatedDate, KmsKeyIds: v.KmsKeyIds}
			if v.VersionStages != nil {
				vs.Stages = slices.Sorted(slices.Values(v.VersionStages))
			}
			st.Versions = append(st.Versions, vs)
		}
		if out.NextToken == "" {
			break
		}
		next = out.NextToken
	}
	slices.SortFunc(st.Versions, func(a, b cpVersionState) int { return strings.Compare(a.VersionId, b.VersionId) })
	if d.DeletedDate.IsZero() {
		for i, v := range st.Versions {
			g := cpGet(t, s, id, v.VersionId, "")
			if g.SecretBinary != nil {
				st.Versions[i].Value = "b:" + hex.EncodeToString(g.SecretBinary)
			} else {
				st.Versions[i].Value = "s:" + g.SecretString
			}
		}
	}
	return st
}

// cpAssertUnchanged checks that id's state equals before.
func cpAssertUnchanged(t *testing.T, s secretstore.Store, id string, before cpState) {
	t.Helper()
	assert.Equal(t, before, cpSnapshot(t, s, id), "state of %s changed by a call that should change nothing", id)
}

// cpLabelCount returns the number of distinct labels on id's versions.
func cpLabelCount(t *testing.T, s secretstore.Store, id string) int {
	t.Helper()
	seen := map[string]bool{}
	for _, ls := range cpLabelsOf(t, s, id) {
		for _, l := range ls {
			seen[l] = true
		}
	}
	return len(seen)
}

// ---------------------------------------------------------------------------
// CreateSecret

// SPEC §5 case 1 [M:test_secret_arn]
func TestSpec01_SecretARNFormat(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	out := cpCreate(t, s, "test-secret7", cpToken(1), "foosecret")

	re := regexp.MustCompile(`^` + regexp.QuoteMeta("arn:aws:secretsmanager:"+s.Region()+":123456789012:secret:test-secret7-") + `[A-Za-z0-9]{6}$`)
	assert.Regexp(t, re, out.ARN)
	assert.Equal(t, "test-secret7", out.Name)

	d, err := s.DescribeSecret(t.Context(), &secretstore.DescribeSecretInput{SecretId: "test-secret7"})
	require.NoError(t, err)
	assert.Equal(t, out.ARN, d.ARN, "Describe ARN")
	g := cpGet(t, s, "test-secret7", "", "")
	assert.Equal(t, out.ARN, g.ARN, "GetSecretValue ARN")
}

// SPEC §5 case 2 [M:test_create_secret_with_client_request_token]
func TestSpec02_CreateWithClientRequestToken(t *testing.T) {
	t.Parallel()
	s, clock := cpNewStore(t)
	tok := cpToken(2)
	out, err := s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{
		Name: "test-secret", ClientRequestToken: tok, SecretString: secretstore.String("foosecret"),
	})
	require.NoError(t, err)
	assert.Equal(t, tok, out.VersionId)

	g := cpGet(t, s, "test-secret", "", "")
	assert.Equal(t, tok, g.VersionId)
	assert.Equal(t, "foosecret", g.SecretString)
	assert.ElementsMatch(t, []string{secretstore.LabelCurrent}, g.VersionStages)
	assert.True(t, clock.Now().Equal(g.CreatedDate), "CreatedDate: got %v, want %v", g.CreatedDate, clock.Now())
}

// SPEC §5 case 3 [M:test_create_secret_without_value][LS:test_secret_version_not_found]
func TestSpec03_CreateWithoutValue(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	out, err := s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{Name: "empty-secret"})
	require.NoError(t, err)
	// Response keys exactly {ARN, Name}.
	assert.NotEmpty(t, out.ARN)
	assert.Equal(t, "empty-secret", out.Name)
	assert.Empty(t, out.VersionId, "VersionId must be absent")

	d, err := s.DescribeSecret(t.Context(), &secretstore.DescribeSecretInput{SecretId: "empty-secret"})
	require.NoError(t, err)
	assert.Nil(t, d.VersionIdsToStages, "Describe must leave out VersionIdsToStages")
	assert.Empty(t, cpLabelsOf(t, s, "empty-secret"), "no versions")

	_, err = s.GetSecretValue(t.Context(), &secretstore.GetSecretValueInput{SecretId: "empty-secret"})
	cpAssertErr(t, err, secretstore.ErrResourceNotFound, cpMsgE2(secretstore.LabelCurrent))

	_, err = s.GetSecretValue(t.Context(), &secretstore.GetSecretValueInput{SecretId: "empty-secret", VersionStage: secretstore.LabelPending})
	cpAssertErr(t, err, secretstore.ErrResourceNotFound, cpMsgE2(secretstore.LabelPending))

	random := "3b5a4a4e-8c9d-4f0e-9a1b-2c3d4e5f6a7b"
	_, err = s.GetSecretValue(t.Context(), &secretstore.GetSecretValueInput{SecretId: "empty-secret", VersionId: random})
	cpAssertErr(t, err, secretstore.ErrResourceNotFound, cpMsgE3(random))
}

// SPEC §5 case 4 [M*:test_create_duplicate_secret_without_specifying_token]
func TestSpec04_CreateDuplicateNameDifferentToken(t *testing.T) {
	t.Parallel()
	s, clock := cpNewStore(t)
	cpCreate(t, s, "dup-secret", cpToken(1), "foosecret")
	before := cpSnapshot(t, s, "dup-secret")
	clock.Advance(time.Minute)

	_, err := s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{
		Name: "dup-secret", ClientRequestToken: cpToken(2), SecretString: secretstore.String("foosecret"),
	})
	cpAssertErr(t, err, secretstore.ErrResourceExists, cpMsgE5("dup-secret"))
	cpAssertUnchanged(t, s, "dup-secret", before)

	// Without a token (the SDK fills one in) and without a value: also E5.
	_, err = s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{Name: "dup-secret", SecretString: secretstore.String("other")})
	cpAssertErr(t, err, secretstore.ErrResourceExists, cpMsgE5("dup-secret"))
	_, err = s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{Name: "dup-secret"})
	cpAssertErr(t, err, secretstore.ErrResourceExists, cpMsgE5("dup-secret"))
	cpAssertUnchanged(t, s, "dup-secret", before)
}

// SPEC §5 case 5 [M*:test_create_duplicate_secret_with_same_token]
func TestSpec05_CreateDuplicateSameTokenIsIdempotent(t *testing.T) {
	t.Parallel()
	s, clock := cpNewStore(t)
	tok := cpToken(5)
	in := &secretstore.CreateSecretInput{Name: "idem-secret", ClientRequestToken: tok, SecretString: secretstore.String("foosecret")}
	first, err := s.CreateSecret(t.Context(), in)
	require.NoError(t, err)
	before := cpSnapshot(t, s, "idem-secret")
	clock.Advance(time.Minute)

	second, err := s.CreateSecret(t.Context(), in)
	require.NoError(t, err)
	assert.Equal(t, first, second, "the replay returns the original response")
	cpAssertLabels(t, s, "idem-secret", map[string][]string{tok: {secretstore.LabelCurrent}})
	cpAssertUnchanged(t, s, "idem-secret", before)
}

// SPEC §5 case 6 [M*:test_create_different_secret_with_same_token]
func TestSpec06_CreateSameTokenDifferentValue(t *testing.T) {
	t.Parallel()
	s, clock := cpNewStore(t)
	tok := cpToken(6)
	first := cpCreate(t, s, "tok-secret", tok, "foosecret")
	before := cpSnapshot(t, s, "tok-secret")
	clock.Advance(time.Minute)

	_, err := s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{
		Name: "tok-secret", ClientRequestToken: tok, SecretString: secretstore.String("barsecret"),
	})
	cpAssertErr(t, err, secretstore.ErrResourceExists, cpMsgE6(tok, first.ARN))
	cpAssertUnchanged(t, s, "tok-secret", before)

	// Same bytes but the other kind is a different value too (SPEC §1.2).
	_, err = s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{
		Name: "tok-secret", ClientRequestToken: tok, SecretBinary: []byte("foosecret"),
	})
	cpAssertErr(t, err, secretstore.ErrResourceExists, cpMsgE6(tok, first.ARN))
	cpAssertUnchanged(t, s, "tok-secret", before)
}

// SPEC §5 case 7 [LS:test_exp_raised_on_creation_of_secret_scheduled_for_deletion]
func TestSpec07_CreateNameScheduledForDeletion(t *testing.T) {
	t.Parallel()
	s, clock := cpNewStore(t)
	cpCreate(t, s, "doomed", cpToken(1), "foosecret")
	_, err := s.DeleteSecret(t.Context(), &secretstore.DeleteSecretInput{SecretId: "doomed", RecoveryWindowInDays: secretstore.Int64(7)})
	require.NoError(t, err)
	before := cpSnapshot(t, s, "doomed")
	require.False(t, before.DeletedDate.IsZero(), "precondition: scheduled for deletion")
	clock.Advance(time.Minute)

	_, err = s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{
		Name: "doomed", ClientRequestToken: cpToken(2), SecretString: secretstore.String("new"),
	})
	cpAssertErr(t, err, secretstore.ErrInvalidRequest, cpMsgE7)
	// Replaying the original token and value is no escape from E7.
	_, err = s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{
		Name: "doomed", ClientRequestToken: cpToken(1), SecretString: secretstore.String("foosecret"),
	})
	cpAssertErr(t, err, secretstore.ErrInvalidRequest, cpMsgE7)
	_, err = s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{Name: "doomed"})
	cpAssertErr(t, err, secretstore.ErrInvalidRequest, cpMsgE7)
	cpAssertUnchanged(t, s, "doomed", before)
}

// SPEC §5 case 8 [LS:test_can_recreate_delete_secret]
func TestSpec08_RecreateAfterForceDelete(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	first := cpCreate(t, s, "phoenix", cpToken(1), "first")
	_, err := s.DeleteSecret(t.Context(), &secretstore.DeleteSecretInput{SecretId: "phoenix", ForceDeleteWithoutRecovery: true})
	require.NoError(t, err)
	cpAssertNoSecret(t, s, "phoenix")

	second := cpCreate(t, s, "phoenix", cpToken(2), "second")
	assert.Equal(t, "phoenix", second.Name)
	assert.NotEqual(t, first.ARN, second.ARN, "a recreated secret gets a new ARN suffix")
	assert.True(t, strings.HasPrefix(second.ARN, strings.TrimSuffix(first.ARN, first.ARN[len(first.ARN)-6:])),
		"same ARN up to the suffix: %s vs %s", first.ARN, second.ARN)

	_, err = s.GetSecretValue(t.Context(), &secretstore.GetSecretValueInput{SecretId: first.ARN})
	cpAssertErr(t, err, secretstore.ErrResourceNotFound, cpMsgE1)
	cpAssertNoSecret(t, s, first.ARN)

	g := cpGet(t, s, second.ARN, "", "")
	assert.Equal(t, "second", g.SecretString)
	assert.Equal(t, cpToken(2), g.VersionId)
	cpAssertLabels(t, s, "phoenix", map[string][]string{cpToken(2): {secretstore.LabelCurrent}})
}

// SPEC §5 case 9 [LS:test_invalid_secret_name]
func TestSpec09_InvalidSecretName(t *testing.T) {
	t.Parallel()
	ops := []struct {
		name string
		call func(t *testing.T, s secretstore.Store, id string) error
	}{
		{"CreateSecret", func(t *testing.T, s secretstore.Store, id string) error {
			_, err := s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{Name: id, SecretString: secretstore.String("v")})
			return err
		}},
		{"DeleteSecret(force)", func(t *testing.T, s secretstore.Store, id string) error {
			_, err := s.DeleteSecret(t.Context(), &secretstore.DeleteSecretInput{SecretId: id, ForceDeleteWithoutRecovery: true})
			return err
		}},
		{"DescribeSecret", func(t *testing.T, s secretstore.Store, id string) error {
			_, err := s.DescribeSecret(t.Context(), &secretstore.DescribeSecretInput{SecretId: id})
			return err
		}},
		{"GetSecretValue", func(t *testing.T, s secretstore.Store, id string) error {
			_, err := s.GetSecretValue(t.Context(), &secretstore.GetSecretValueInput{SecretId: id})
			return err
		}},
		{"ListSecretVersionIds", func(t *testing.T, s secretstore.Store, id string) error {
			_, err := s.ListSecretVersionIds(t.Context(), &secretstore.ListSecretVersionIdsInput{SecretId: id})
			return err
		}},
		{"PutSecretValue", func(t *testing.T, s secretstore.Store, id string) error {
			_, err := s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{SecretId: id, SecretString: secretstore.String("v")})
			return err
		}},
		{"TagResource", func(t *testing.T, s secretstore.Store, id string) error {
			_, err := s.TagResource(t.Context(), &secretstore.TagResourceInput{SecretId: id, Tags: []secretstore.Tag{{Key: "k", Value: "v"}}})
			return err
		}},
		{"UntagResource", func(t *testing.T, s secretstore.Store, id string) error {
			_, err := s.UntagResource(t.Context(), &secretstore.UntagResourceInput{SecretId: id, TagKeys: []string{"k"}})
			return err
		}},
		{"UpdateSecret", func(t *testing.T, s secretstore.Store, id string) error {
			_, err := s.UpdateSecret(t.Context(), &secretstore.UpdateSecretInput{SecretId: id, SecretString: secretstore.String("v")})
			return err
		}},
	}
	for _, bad := range []string{"Inv Name", " Inv*Name? "} {
		for _, op := range ops {
			t.Run(op.name+"/"+strings.TrimSpace(bad), func(t *testing.T) {
				t.Parallel()
				s, _ := cpNewStore(t)
				err := op.call(t, s, bad)
				cpAssertErr(t, err, secretstore.ErrValidation, cpMsgE11)
				list, lerr := s.ListSecrets(t.Context(), &secretstore.ListSecretsInput{IncludePlannedDeletion: true})
				require.NoError(t, lerr)
				assert.Empty(t, list.SecretList, "no secret may be created")
			})
		}
	}
}

// SPEC §5 case 10 [LS:test_create_and_update_secret]
func TestSpec10_ValidNamesResolveByNameFullAndPartialARN(t *testing.T) {
	t.Parallel()
	for i, name := range []string{"s-c64bdc03", "Valid/_+=.@-Name", "Valid/_+=.@-Name-a1b2", "Valid/_+=.@-Name-a1b2c3-"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, _ := cpNewStore(t)
			tok := cpToken(100 + i)
			out := cpCreate(t, s, name, tok, "value of "+name)
			partial := out.ARN[:len(out.ARN)-7]
			require.Equal(t, "arn:aws:secretsmanager:"+s.Region()+":123456789012:secret:"+name, partial, "precondition: partial ARN")
			for _, id := range []string{name, out.ARN, partial} {
				g, err := s.GetSecretValue(t.Context(), &secretstore.GetSecretValueInput{SecretId: id})
				if assert.NoError(t, err, "GetSecretValue(%s)", id) {
					assert.Equal(t, out.ARN, g.ARN, "GetSecretValue(%s) ARN", id)
					assert.Equal(t, name, g.Name, "GetSecretValue(%s) Name", id)
					assert.Equal(t, "value of "+name, g.SecretString, "GetSecretValue(%s) value", id)
					assert.Equal(t, tok, g.VersionId, "GetSecretValue(%s) VersionId", id)
				}
			}
		})
	}
}

// SPEC §5 case 11 [LS:test_create_and_update_secret[Invalid…-False]]
func TestSpec11_NameEndingInSuffixNotFoundByPartialARN(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	const name = "Invalid/_+=.@-Name-a1b2c3"
	out := cpCreate(t, s, name, cpToken(11), "foosecret")
	partial := out.ARN[:len(out.ARN)-7]
	require.Equal(t, "arn:aws:secretsmanager:"+s.Region()+":123456789012:secret:"+name, partial, "precondition: partial ARN")

	_, err := s.GetSecretValue(t.Context(), &secretstore.GetSecretValueInput{SecretId: partial})
	cpAssertErr(t, err, secretstore.ErrResourceNotFound, cpMsgE1)

	for _, id := range []string{name, out.ARN} {
		g, err := s.GetSecretValue(t.Context(), &secretstore.GetSecretValueInput{SecretId: id})
		if assert.NoError(t, err, "GetSecretValue(%s)", id) {
			assert.Equal(t, "foosecret", g.SecretString, "GetSecretValue(%s)", id)
			assert.Equal(t, out.ARN, g.ARN, "GetSecretValue(%s)", id)
		}
	}
}

// SPEC §5 case 12 [D:CreateSecret]
func TestSpec12_CreateWithBothValuesRejected(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	_, err := s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{
		Name: "both", ClientRequestToken: cpToken(12),
		SecretString: secretstore.String("foosecret"), SecretBinary: []byte("foosecret"),
	})
	cpAssertErr(t, err, secretstore.ErrInvalidParameter, cpMsgE17)
	cpAssertNoSecret(t, s, "both")
	list, err := s.ListSecrets(t.Context(), &secretstore.ListSecretsInput{IncludePlannedDeletion: true})
	require.NoError(t, err)
	assert.Empty(t, list.SecretList, "no secret is created")
}

// SPEC §5 case 13 [M:test_get_secret_value_binary][LS:test_change_secret_value_after_creation]
func TestSpec13_BinaryRoundTrip(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	bin := []byte{0x00, 0x01, 0x02, 0xff}
	out, err := s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{
		Name: "bin-secret", ClientRequestToken: cpToken(1), SecretBinary: slices.Clone(bin),
	})
	require.NoError(t, err)
	require.Equal(t, cpToken(1), out.VersionId)

	for _, in := range []secretstore.GetSecretValueInput{
		{SecretId: "bin-secret"},
		{SecretId: "bin-secret", VersionId: cpToken(1)},
		{SecretId: out.ARN, VersionStage: secretstore.LabelCurrent},
	} {
		g, err := s.GetSecretValue(t.Context(), &in)
		if assert.NoError(t, err, "GetSecretValue %+v", in) {
			assert.Equal(t, bin, g.SecretBinary, "SecretBinary byte for byte")
			assert.Empty(t, g.SecretString, "only SecretBinary is returned")
		}
	}

	// Changing the value after creation keeps each version's kind and bytes.
	bin2 := []byte{0xff, 0xfe, 0x00, 0x80, 0x7f}
	_, err = s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{
		SecretId: "bin-secret", ClientRequestToken: cpToken(2), SecretBinary: slices.Clone(bin2),
	})
	require.NoError(t, err)
	g := cpGet(t, s, "bin-secret", "", "")
	assert.Equal(t, bin2, g.SecretBinary)
	assert.Empty(t, g.SecretString)
	g = cpGet(t, s, "bin-secret", "", secretstore.LabelPrevious)
	assert.Equal(t, bin, g.SecretBinary)
	assert.Empty(t, g.SecretString)
}

// SPEC §5 case 14 [M:test_create_secret_with_tags_and_description]
func TestSpec14_CreateWithTagsAndDescription(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	tags := []secretstore.Tag{{Key: "Foo", Value: "Bar"}, {Key: "Mykey", Value: "Myvalue"}, {Key: "Alpha", Value: ""}}
	_, err := s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{
		Name: "tagged", ClientRequestToken: cpToken(14), SecretString: secretstore.String("foosecret"),
		Description: "desc", Tags: slices.Clone(tags),
	})
	require.NoError(t, err)
	d, err := s.DescribeSecret(t.Context(), &secretstore.DescribeSecretInput{SecretId: "tagged"})
	require.NoError(t, err)
	assert.Equal(t, tags, d.Tags, "tags in the given order")
	assert.Equal(t, "desc", d.Description)
}

// SPEC §5 case 15 [M:test_describe_secret_with_KmsKeyId][M:test_aws_managed_secret]
func TestSpec15_KmsKeyIdShownOnlyWhenNotDefault(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	_, err := s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{
		Name: "custom-key", ClientRequestToken: cpToken(1), SecretString: secretstore.String("foosecret"), KmsKeyId: "dummy_arn",
	})
	require.NoError(t, err)
	cpCreate(t, s, "default-key", cpToken(2), "foosecret")

	d, err := s.DescribeSecret(t.Context(), &secretstore.DescribeSecretInput{SecretId: "custom-key"})
	require.NoError(t, err)
	assert.Equal(t, "dummy_arn", d.KmsKeyId)
	d, err = s.DescribeSecret(t.Context(), &secretstore.DescribeSecretInput{SecretId: "default-key"})
	require.NoError(t, err)
	assert.Empty(t, d.KmsKeyId, "default key is omitted from Describe")

	list, err := s.ListSecrets(t.Context(), &secretstore.ListSecretsInput{})
	require.NoError(t, err)
	got := map[string]string{}
	for _, e := range list.SecretList {
		got[e.Name] = e.KmsKeyId
	}
	assert.Equal(t, map[string]string{"custom-key": "dummy_arn", "default-key": ""}, got, "ListSecrets KmsKeyId by name")

	// The value is still readable under the named key.
	assert.Equal(t, "foosecret", cpGet(t, s, "custom-key", "", "").SecretString)
}

// ---------------------------------------------------------------------------
// PutSecretValue

// SPEC §5 case 16 [LS:test_put_secret_value_with_version_stages]
func TestSpec16_PutWithoutStagesMovesCurrent(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	v0, v1 := cpToken(0), cpToken(1)
	cpCreate(t, s, "put-secret", v0, "value0")

	out := cpPut(t, s, "put-secret", v1, "value1")
	assert.ElementsMatch(t, []string{secretstore.LabelCurrent}, out.VersionStages, "response stages")

	g := cpGet(t, s, "put-secret", "", "")
	assert.Equal(t, "value1", g.SecretString)
	assert.Equal(t, v1, g.VersionId)
	cpAssertLabels(t, s, "put-secret", map[string][]string{
		v0: {secretstore.LabelPrevious},
		v1: {secretstore.LabelCurrent},
	})
	assert.Equal(t, "value0", cpGet(t, s, "put-secret", "", secretstore.LabelPrevious).SecretString)
}

// SPEC §5 case 17 [LS:test_deprecated_secret_version_stage]
func TestSpec17_DeprecatedVersionListing(t *testing.T) {
	t.Parallel()
	s, clock := cpNewStore(t)
	v1, v2, v3, v4 := cpToken(1), cpToken(2), cpToken(3), cpToken(4)
	cpCreate(t, s, "dep-secret", v1, "value1")
	clock.Advance(time.Second)
	cpPut(t, s, "dep-secret", v2, "value2")
	clock.Advance(time.Second)
	cpPut(t, s, "dep-secret", v3, "value3")

	cpAssertStages(t, map[string][]string{
		v2: {secretstore.LabelPrevious},
		v3: {secretstore.LabelCurrent},
	}, cpList(t, s, "dep-secret", false), "default listing")

	all, err := s.ListSecretVersionIds(t.Context(), &secretstore.ListSecretVersionIdsInput{SecretId: "dep-secret", IncludeDeprecated: true})
	require.NoError(t, err)
	var found bool
	for _, v := range all.Versions {
		if v.VersionId == v1 {
			found = true
			assert.Nil(t, v.VersionStages, "a deprecated version is listed without VersionStages")
		}
	}
	assert.True(t, found, "IncludeDeprecated lists v1")
	cpAssertStages(t, map[string][]string{
		v1: nil,
		v2: {secretstore.LabelPrevious},
		v3: {secretstore.LabelCurrent},
	}, cpList(t, s, "dep-secret", true), "IncludeDeprecated listing")

	clock.Advance(time.Second)
	cpPut(t, s, "dep-secret", v4, "value4")
	cpAssertStages(t, map[string][]string{
		v3: {secretstore.LabelPrevious},
		v4: {secretstore.LabelCurrent},
	}, cpList(t, s, "dep-secret", false), "default listing after v4")
	cpAssertStages(t, map[string][]string{
		v1: nil,
		v2: nil,
		v3: {secretstore.LabelPrevious},
		v4: {secretstore.LabelCurrent},
	}, cpList(t, s, "dep-secret", true), "IncludeDeprecated listing after v4")
}

// SPEC §5 case 18 [M:test_after_put_secret_value_version_stages_pending_can_get_current]
func TestSpec18_PutPendingKeepsCurrent(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	v1, v2 := cpToken(1), cpToken(2)
	cpCreate(t, s, "pend-secret", v1, "value1")
	out := cpPut(t, s, "pend-secret", v2, "value2", secretstore.LabelPending)
	assert.ElementsMatch(t, []string{secretstore.LabelPending}, out.VersionStages, "response stages")

	g := cpGet(t, s, "pend-secret", "", "")
	assert.Equal(t, v1, g.VersionId)
	assert.Equal(t, "value1", g.SecretString)
	assert.ElementsMatch(t, []string{secretstore.LabelCurrent}, g.VersionStages)

	g = cpGet(t, s, "pend-secret", "", secretstore.LabelPending)
	assert.Equal(t, v2, g.VersionId)
	assert.Equal(t, "value2", g.SecretString)
	assert.ElementsMatch(t, []string{secretstore.LabelPending}, g.VersionStages)

	cpAssertLabels(t, s, "pend-secret", map[string][]string{
		v1: {secretstore.LabelCurrent},
		v2: {secretstore.LabelPending},
	})
}

// SPEC §5 case 19 [M:test_put_secret_value_version_stages_response]
func TestSpec19_PutCustomStagesResponse(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	v1, t2 := cpToken(1), cpToken(2)
	cpCreate(t, s, "stages-secret", v1, "value1")
	out := cpPut(t, s, "stages-secret", t2, "value2", "SAMPLESTAGE1", "SAMPLESTAGE0")
	assert.Equal(t, t2, out.VersionId)
	assert.ElementsMatch(t, []string{"SAMPLESTAGE1", "SAMPLESTAGE0"}, out.VersionStages)

	g := cpGet(t, s, "stages-secret", "", "")
	assert.Equal(t, v1, g.VersionId, "AWSCURRENT stays on v1")
	cpAssertLabels(t, s, "stages-secret", map[string][]string{
		v1: {secretstore.LabelCurrent},
		t2: {"SAMPLESTAGE1", "SAMPLESTAGE0"},
	})
}

// SPEC §5 case 20 [M:test_after_put_secret_value_version_stages_can_get_current_with_custom_version_stage]
func TestSpec20_PutMovesCustomStage(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	v1, v2, v3 := cpToken(1), cpToken(2), cpToken(3)
	cpCreate(t, s, "custom-secret", v1, "value1")
	cpPut(t, s, "custom-secret", v2, "value2", "S1", "S0")
	out := cpPut(t, s, "custom-secret", v3, "value3", "S1")
	assert.ElementsMatch(t, []string{"S1"}, out.VersionStages)

	cpAssertLabels(t, s, "custom-secret", map[string][]string{
		v1: {secretstore.LabelCurrent},
		v2: {"S0"},
		v3: {"S1"},
	})
	g := cpGet(t, s, "custom-secret", "", "S1")
	assert.Equal(t, v3, g.VersionId)
	assert.Equal(t, "value3", g.SecretString)
	assert.Equal(t, v1, cpGet(t, s, "custom-secret", "", "").VersionId)
}

// SPEC §5 case 21 [LS:test_non_versioning_version_stages_replacement]
func TestSpec21_PutTakesAllCustomStages(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	v1, v2, v3 := cpToken(1), cpToken(2), cpToken(3)
	cpCreate(t, s, "replace-secret", v1, "value1")
	cpPut(t, s, "replace-secret", v2, "value2", "one", "two", "three")
	cpPut(t, s, "replace-secret", v3, "value3", "one", "two", "three", "four")

	cpAssertStages(t, map[string][]string{
		v1: {secretstore.LabelCurrent},
		v3: {"one", "two", "three", "four"},
	}, cpList(t, s, "replace-secret", false), "default listing")
	cpAssertLabels(t, s, "replace-secret", map[string][]string{
		v1: {secretstore.LabelCurrent},
		v2: nil,
		v3: {"one", "two", "three", "four"},
	})
}

// SPEC §5 case 22 [LS:test_non_versioning_version_stages_no_replacement]
func TestSpec22_PutTakesSomeCustomStages(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	v1, v2, v3 := cpToken(1), cpToken(2), cpToken(3)
	cpCreate(t, s, "partial-secret", v1, "value1")
	cpPut(t, s, "partial-secret", v2, "value2", "one", "two", "three")
	cpPut(t, s, "partial-secret", v3, "value3", "one", "two", "four")

	cpAssertLabels(t, s, "partial-secret", map[string][]string{
		v1: {secretstore.LabelCurrent},
		v2: {"three"},
		v3: {"one", "two", "four"},
	})
	assert.Equal(t, "value1", cpGet(t, s, "partial-secret", "", "").SecretString)
}

// SPEC §5 case 23 [M:test_put_secret_value_versions_adds_awscurrent_label_in_first_version]
func TestSpec23_FirstPutGetsCurrent(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	cpCreateEmpty(t, s, "first-secret")
	v := cpToken(1)
	out := cpPut(t, s, "first-secret", v, "value1", secretstore.LabelPending)
	assert.ElementsMatch(t, []string{secretstore.LabelPending, secretstore.LabelCurrent}, out.VersionStages)
	cpAssertLabels(t, s, "first-secret", map[string][]string{v: {secretstore.LabelPending, secretstore.LabelCurrent}})
	g := cpGet(t, s, "first-secret", "", "")
	assert.Equal(t, v, g.VersionId)
	assert.Equal(t, "value1", g.SecretString)
}

// SPEC §5 case 24 [LS:test_create_secret_version_from_empty_secret]
func TestSpec24_PutIntoEmptySecret(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	cpCreateEmpty(t, s, "empty-secret")
	v := cpToken(1)
	out := cpPut(t, s, "empty-secret", v, "value1")
	assert.ElementsMatch(t, []string{secretstore.LabelCurrent}, out.VersionStages)
	g := cpGet(t, s, "empty-secret", "", "")
	assert.Equal(t, v, g.VersionId)
	assert.Equal(t, "value1", g.SecretString)
	assert.ElementsMatch(t, []string{secretstore.LabelCurrent}, g.VersionStages)
	cpAssertLabels(t, s, "empty-secret", map[string][]string{v: {secretstore.LabelCurrent}})
}

// SPEC §5 case 25 [M:test_put_secret_value_versions_differ_if_same_secret_put_twice]
func TestSpec25_SameValueTwiceWithoutTokensMakesTwoVersions(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	v0 := cpToken(0)
	cpCreate(t, s, "twice-secret", v0, "start")
	put := func() string {
		out, err := s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{
			SecretId: "twice-secret", SecretString: secretstore.String("same value"),
		})
		require.NoError(t, err)
		require.NotEmpty(t, out.VersionId)
		assert.GreaterOrEqual(t, len(out.VersionId), 32, "generated VersionId length")
		assert.LessOrEqual(t, len(out.VersionId), 64, "generated VersionId length")
		return out.VersionId
	}
	a, b := put(), put()
	assert.NotEqual(t, a, b, "two Puts without tokens make two versions")
	assert.NotEqual(t, v0, a)
	cpAssertLabels(t, s, "twice-secret", map[string][]string{
		v0: nil,
		a:  {secretstore.LabelPrevious},
		b:  {secretstore.LabelCurrent},
	})
}

// SPEC §5 case 26 [M*:test_put_same_secret_value_with_same_token]
func TestSpec26_PutReplaySameTokenSameValue(t *testing.T) {
	t.Parallel()
	s, clock := cpNewStore(t)
	tok := cpToken(26)
	cpCreate(t, s, "replay-secret", tok, "Hello")
	before := cpSnapshot(t, s, "replay-secret")
	clock.Advance(time.Minute)

	out, err := s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{
		SecretId: "replay-secret", ClientRequestToken: tok, SecretString: secretstore.String("Hello"),
	})
	require.NoError(t, err)
	assert.Equal(t, tok, out.VersionId)
	assert.ElementsMatch(t, []string{secretstore.LabelCurrent}, out.VersionStages)
	assert.Equal(t, before.ARN, out.ARN)
	assert.Equal(t, "replay-secret", out.Name)
	cpAssertLabels(t, s, "replay-secret", map[string][]string{tok: {secretstore.LabelCurrent}})
	cpAssertUnchanged(t, s, "replay-secret", before)
}

// SPEC §5 case 27 [M*:test_put_different_secret_value_with_same_token]
func TestSpec27_PutReplaySameTokenDifferentValue(t *testing.T) {
	t.Parallel()
	s, clock := cpNewStore(t)
	tok := cpToken(27)
	created := cpCreate(t, s, "replay-secret", tok, "Hello")
	before := cpSnapshot(t, s, "replay-secret")
	clock.Advance(time.Minute)

	_, err := s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{
		SecretId: "replay-secret", ClientRequestToken: tok, SecretString: secretstore.String("Hi"),
	})
	cpAssertErr(t, err, secretstore.ErrResourceExists, cpMsgE6(tok, created.ARN))
	assert.Equal(t, "Hello", cpGet(t, s, "replay-secret", "", "").SecretString)
	cpAssertUnchanged(t, s, "replay-secret", before)
}

// SPEC §5 case 28 [D:PutSecretValue "does nothing"]
func TestSpec28_PutReplayOfDemotedVersionChangesNothing(t *testing.T) {
	t.Parallel()
	s, clock := cpNewStore(t)
	v1, t2, t3 := cpToken(1), cpToken(2), cpToken(3)
	cpCreate(t, s, "demoted-secret", v1, "value1")
	cpPut(t, s, "demoted-secret", t2, "value2")
	cpPut(t, s, "demoted-secret", t3, "value3")
	cpAssertLabels(t, s, "demoted-secret", map[string][]string{
		v1: nil,
		t2: {secretstore.LabelPrevious},
		t3: {secretstore.LabelCurrent},
	})
	before := cpSnapshot(t, s, "demoted-secret")
	clock.Advance(time.Minute)

	out, err := s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{
		SecretId: "demoted-secret", ClientRequestToken: t2, SecretString: secretstore.String("value2"),
	})
	require.NoError(t, err)
	assert.Equal(t, t2, out.VersionId)
	assert.ElementsMatch(t, []string{secretstore.LabelPrevious}, out.VersionStages, "labels of V now")
	assert.Equal(t, t3, cpGet(t, s, "demoted-secret", "", "").VersionId, "AWSCURRENT stays on v3")
	cpAssertUnchanged(t, s, "demoted-secret", before)

	// Labels do not change even if VersionStages differs (SPEC §2.2 step 2).
	out, err = s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{
		SecretId: "demoted-secret", ClientRequestToken: t2, SecretString: secretstore.String("value2"),
		VersionStages: []string{secretstore.LabelCurrent, "CUSTOM"},
	})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{secretstore.LabelPrevious}, out.VersionStages)
	cpAssertUnchanged(t, s, "demoted-secret", before)
}

// SPEC §5 case 29 [M:test_put_secret_value_on_non_existing_secret]
func TestSpec29_PutToMissingSecret(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	_, err := s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{
		SecretId: "no-such-secret", ClientRequestToken: cpToken(29), SecretString: secretstore.String("foosecret"),
	})
	cpAssertErr(t, err, secretstore.ErrResourceNotFound, cpMsgE1)
	cpAssertNoSecret(t, s, "no-such-secret")
}

// SPEC §5 case 30 [M:test_put_secret_binary_requires_either_string_or_binary]
func TestSpec30_PutWithoutValue(t *testing.T) {
	t.Parallel()
	s, clock := cpNewStore(t)
	cpCreate(t, s, "novalue-secret", cpToken(1), "value1")
	before := cpSnapshot(t, s, "novalue-secret")
	clock.Advance(time.Minute)

	_, err := s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{
		SecretId: "novalue-secret", ClientRequestToken: cpToken(2),
	})
	cpAssertErr(t, err, secretstore.ErrInvalidRequest, cpMsgE16)
	_, err = s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{SecretId: "novalue-secret"})
	cpAssertErr(t, err, secretstore.ErrInvalidRequest, cpMsgE16)
	cpAssertUnchanged(t, s, "novalue-secret", before)
}

// SPEC §5 case 31 [D:DeleteSecret]
func TestSpec31_PutToSecretScheduledForDeletion(t *testing.T) {
	t.Parallel()
	s, clock := cpNewStore(t)
	cpCreate(t, s, "sched-secret", cpToken(1), "value1")
	_, err := s.DeleteSecret(t.Context(), &secretstore.DeleteSecretInput{SecretId: "sched-secret"})
	require.NoError(t, err)
	before := cpSnapshot(t, s, "sched-secret")
	require.False(t, before.DeletedDate.IsZero(), "precondition: scheduled for deletion")
	clock.Advance(time.Minute)

	_, err = s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{
		SecretId: "sched-secret", ClientRequestToken: cpToken(2), SecretString: secretstore.String("value2"),
	})
	cpAssertErr(t, err, secretstore.ErrInvalidRequest, cpMsgE8)
	// A replay of the existing version is refused too.
	_, err = s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{
		SecretId: "sched-secret", ClientRequestToken: cpToken(1), SecretString: secretstore.String("value1"),
	})
	cpAssertErr(t, err, secretstore.ErrInvalidRequest, cpMsgE8)
	cpAssertUnchanged(t, s, "sched-secret", before)
}

// SPEC §5 case 32 [M:test_rotate_secret_client_request_token_too_short][MODEL]
func TestSpec32_TokenLengthValidated(t *testing.T) {
	t.Parallel()
	s, clock := cpNewStore(t)
	cpCreate(t, s, "tok-secret", cpToken(1), "value1")
	before := cpSnapshot(t, s, "tok-secret")
	clock.Advance(time.Minute)

	for _, n := range []int{31, 65} {
		tok := strings.Repeat("a", n)
		_, err := s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{
			SecretId: "tok-secret", ClientRequestToken: tok, SecretString: secretstore.String("value2"),
		})
		cpAssertErr(t, err, secretstore.ErrValidation, "")
		_, err = s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{
			Name: "tok-new", ClientRequestToken: tok, SecretString: secretstore.String("value2"),
		})
		cpAssertErr(t, err, secretstore.ErrValidation, "")
	}
	cpAssertUnchanged(t, s, "tok-secret", before)
	cpAssertNoSecret(t, s, "tok-new")

	// The bounds themselves are valid (SPEC §1.4: 32..64).
	for _, n := range []int{32, 64} {
		tok := strings.Repeat("b", n)
		out, err := s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{
			SecretId: "tok-secret", ClientRequestToken: tok, SecretString: secretstore.String("value" + tok),
		})
		if assert.NoError(t, err, "token of %d characters", n) {
			assert.Equal(t, tok, out.VersionId)
		}
	}
}

// SPEC §5 case 33 [M:test_put_secret_value_maintains_description_and_tags]
func TestSpec33_PutKeepsDescriptionAndTags(t *testing.T) {
	t.Parallel()
	s, clock := cpNewStore(t)
	vOld, vNew := cpToken(1), cpToken(2)
	tags := []secretstore.Tag{{Key: "Foo", Value: "Bar"}, {Key: "Mykey", Value: "Myvalue"}}
	_, err := s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{
		Name: "keep-secret", ClientRequestToken: vOld, SecretString: secretstore.String("old"),
		Description: "my description", KmsKeyId: "my-key", Tags: slices.Clone(tags),
	})
	require.NoError(t, err)
	created := clock.Now()
	clock.Advance(time.Hour)

	cpPut(t, s, "keep-secret", vNew, "new")
	d, err := s.DescribeSecret(t.Context(), &secretstore.DescribeSecretInput{SecretId: "keep-secret"})
	require.NoError(t, err)
	assert.Equal(t, "my description", d.Description)
	assert.Equal(t, tags, d.Tags)
	assert.Equal(t, "my-key", d.KmsKeyId)
	cpAssertStages(t, map[string][]string{
		vOld: {secretstore.LabelPrevious},
		vNew: {secretstore.LabelCurrent},
	}, d.VersionIdsToStages, "Describe VersionIdsToStages")
	// SPEC §2.2 step 8: LastChangedDate = now; CreatedDate never changes.
	assert.True(t, clock.Now().Equal(d.LastChangedDate), "LastChangedDate: got %v, want %v", d.LastChangedDate, clock.Now())
	assert.True(t, created.Equal(d.CreatedDate), "CreatedDate: got %v, want %v", d.CreatedDate, created)
}

// SPEC §5 case 34 [LS:test_update_secret_version_stages_current_pending]
func TestSpec34_PutDropsPendingFromOldCurrent(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	v0, v1, v2 := cpToken(0), cpToken(1), cpToken(2)
	cpCreate(t, s, "cp-secret", v0, "value0")
	cpPut(t, s, "cp-secret", v1, "value1", secretstore.LabelPending)
	cpAssertLabels(t, s, "cp-secret", map[string][]string{
		v0: {secretstore.LabelCurrent},
		v1: {secretstore.LabelPending},
	})

	_, err := s.UpdateSecretVersionStage(t.Context(), &secretstore.UpdateSecretVersionStageInput{
		SecretId: "cp-secret", VersionStage: secretstore.LabelCurrent, RemoveFromVersionId: v0, MoveToVersionId: v1,
	})
	require.NoError(t, err)
	cpAssertLabels(t, s, "cp-secret", map[string][]string{
		v0: {secretstore.LabelPrevious},
		v1: {secretstore.LabelCurrent, secretstore.LabelPending},
	})

	out := cpPut(t, s, "cp-secret", v2, "value2")
	assert.ElementsMatch(t, []string{secretstore.LabelCurrent}, out.VersionStages)
	cpAssertLabels(t, s, "cp-secret", map[string][]string{
		v0: nil,
		v1: {secretstore.LabelPrevious},
		v2: {secretstore.LabelCurrent},
	})
	cpAssertStages(t, map[string][]string{
		v1: {secretstore.LabelPrevious},
		v2: {secretstore.LabelCurrent},
	}, cpList(t, s, "cp-secret", false), "default listing")
	_, err = s.GetSecretValue(t.Context(), &secretstore.GetSecretValueInput{SecretId: "cp-secret", VersionStage: secretstore.LabelPending})
	cpAssertErr(t, err, secretstore.ErrResourceNotFound, cpMsgE2(secretstore.LabelPending))
}

// SPEC §5 case 35 [LS:test_update_secret_version_stages_current_pending_cycle]
func TestSpec35_PutPendingTakesPendingFromCurrent(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	v0, v1, v2 := cpToken(0), cpToken(1), cpToken(2)
	cpCreate(t, s, "cycle-secret", v0, "value0")
	cpPut(t, s, "cycle-secret", v1, "value1", secretstore.LabelPending)
	_, err := s.UpdateSecretVersionStage(t.Context(), &secretstore.UpdateSecretVersionStageInput{
		SecretId: "cycle-secret", VersionStage: secretstore.LabelCurrent, RemoveFromVersionId: v0, MoveToVersionId: v1,
	})
	require.NoError(t, err)
	cpAssertLabels(t, s, "cycle-secret", map[string][]string{
		v0: {secretstore.LabelPrevious},
		v1: {secretstore.LabelCurrent, secretstore.LabelPending},
	})

	out := cpPut(t, s, "cycle-secret", v2, "value2", secretstore.LabelPending)
	assert.ElementsMatch(t, []string{secretstore.LabelPending}, out.VersionStages)
	cpAssertLabels(t, s, "cycle-secret", map[string][]string{
		v0: {secretstore.LabelPrevious},
		v1: {secretstore.LabelCurrent},
		v2: {secretstore.LabelPending},
	})
	g := cpGet(t, s, "cycle-secret", "", "")
	assert.Equal(t, v1, g.VersionId)
	assert.Equal(t, "value1", g.SecretString)
}

// SPEC §5 case 36 [LS:test_update_secret_version_stages_current_pending_cycle_custom_stages_2]
func TestSpec36_PutCurrentWithCustomStage(t *testing.T) {
	t.Parallel()
	s, _ := cpNewStore(t)
	v1, v2 := cpToken(1), cpToken(2)
	cpCreate(t, s, "custom2-secret", v1, "value1")
	out := cpPut(t, s, "custom2-secret", v2, "value2", secretstore.LabelCurrent, "PUT0")
	assert.ElementsMatch(t, []string{secretstore.LabelCurrent, "PUT0"}, out.VersionStages)
	cpAssertLabels(t, s, "custom2-secret", map[string][]string{
		v1: {secretstore.LabelPrevious},
		v2: {secretstore.LabelCurrent, "PUT0"},
	})
	assert.Equal(t, "value2", cpGet(t, s, "custom2-secret", "", "").SecretString)
}

// SPEC §5 case 37 [LS:test_no_client_request_token]
func TestSpec37_StrictModeRequiresToken(t *testing.T) {
	t.Parallel()
	type call func(t *testing.T, s secretstore.Store, id string) error
	cases := []struct {
		name     string
		call     call
		sentinel error
	}{
		{"CreateSecret", func(t *testing.T, s secretstore.Store, id string) error {
			_, err := s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{Name: id, SecretString: secretstore.String("v")})
			return err
		}, secretstore.ErrInvalidRequest},
		{"PutSecretValue", func(t *testing.T, s secretstore.Store, id string) error {
			_, err := s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{SecretId: id, SecretString: secretstore.String("v")})
			return err
		}, secretstore.ErrInvalidRequest},
		{"UpdateSecret", func(t *testing.T, s secretstore.Store, id string) error {
			_, err := s.UpdateSecret(t.Context(), &secretstore.UpdateSecretInput{SecretId: id, SecretString: secretstore.String("v")})
			return err
		}, secretstore.ErrInvalidRequest},
		{"RotateSecret", func(t *testing.T, s secretstore.Store, id string) error {
			_, err := s.RotateSecret(t.Context(), &secretstore.RotateSecretInput{SecretId: id})
			return err
		}, secretstore.ErrInvalidParameter},
	}
	for _, tc := range cases {
		t.Run(tc.name+"/missing", func(t *testing.T) {
			t.Parallel()
			s, _ := cpNewStore(t, secretstore.WithStrictTokens())
			cpAssertErr(t, tc.call(t, s, "missing-secret"), tc.sentinel, cpMsgE12)
			cpAssertNoSecret(t, s, "missing-secret")
		})
		t.Run(tc.name+"/existing", func(t *testing.T) {
			t.Parallel()
			s, clock := cpNewStore(t, secretstore.WithStrictTokens())
			cpCreate(t, s, "strict-secret", cpToken(1), "value1")
			before := cpSnapshot(t, s, "strict-secret")
			clock.Advance(time.Minute)
			cpAssertErr(t, tc.call(t, s, "strict-secret"), tc.sentinel, cpMsgE12)
			cpAssertUnchanged(t, s, "strict-secret", before)
		})
	}
	t.Run("CreateSecret/without value needs no token", func(t *testing.T) {
		t.Parallel()
		s, _ := cpNewStore(t, secretstore.WithStrictTokens())
		cpCreateEmpty(t, s, "strict-empty")
	})
}

// SPEC §5 case 38 [MODEL][D:AWS Secrets Manager quotas]
func TestSpec38_ValueSizeLimits(t *testing.T) {
	t.Parallel()
	const limit = 65536
	type valueCase struct {
		name   string
		str    *string
		bin    []byte
		wantOK bool
	}
	values := []valueCase{
		{"string 65536", secretstore.String(strings.Repeat("a", limit)), nil, true},
		{"string 65537", secretstore.String(strings.Repeat("a", limit+1)), nil, false},
		{"string empty", secretstore.String(""), nil, false},
		{"binary 65536", nil, []byte(strings.Repeat("\xfe", limit)), true},
		{"binary 65537", nil, []byte(strings.Repeat("\xfe", limit+1)), false},
		{"binary empty", nil, []byte{}, false},
	}
	for i, vc := range values {
		t.Run("Put/"+vc.name, func(t *testing.T) {
			t.Parallel()
			s, clock := cpNewStore(t)
			cpCreate(t, s, "size-secret", cpToken(1), "value1")
			before := cpSnapshot(t, s, "size-secret")
			clock.Advance(time.Minute)
			tok := cpToken(1000 + i)
			out, err := s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{
				SecretId: "size-secret", ClientRequestToken: tok, SecretString: vc.str, SecretBinary: vc.bin,
			})
			if !vc.wantOK {
				cpAssertErr(t, err, secretstore.ErrValidation, "")
				cpAssertUnchanged(t, s, "size-secret", before)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tok, out.VersionId)
			g := cpGet(t, s, "size-secret", "", "")
			assert.Equal(t, tok, g.VersionId)
			if vc.str != nil {
				assert.Equal(t, *vc.str, g.SecretString, "string of %d bytes round trip", len(*vc.str))
				assert.Nil(t, g.SecretBinary)
			} else {
				assert.Equal(t, vc.bin, g.SecretBinary, "binary of %d bytes round trip", len(vc.bin))
				assert.Empty(t, g.SecretString)
			}
		})
		t.Run("Create/"+vc.name, func(t *testing.T) {
			t.Parallel()
			s, _ := cpNewStore(t)
			tok := cpToken(2000 + i)
			out, err := s.CreateSecret(t.Context(), &secretstore.CreateSecretInput{
				Name: "size-new", ClientRequestToken: tok, SecretString: vc.str, SecretBinary: vc.bin,
			})
			if !vc.wantOK {
				cpAssertErr(t, err, secretstore.ErrValidation, "")
				cpAssertNoSecret(t, s, "size-new")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tok, out.VersionId)
			g := cpGet(t, s, "size-new", "", "")
			if vc.str != nil {
				assert.Equal(t, *vc.str, g.SecretString)
			} else {
				assert.Equal(t, vc.bin, g.SecretBinary)
			}
		})
	}
}

// SPEC §5 case 39 [D:AWS Secrets Manager quotas]
func TestSpec39_LabelQuota(t *testing.T) {
	t.Parallel()
	s, clock := cpNewStore(t)
	v1, v2, v3, v4 := cpToken(1), cpToken(2), cpToken(3), cpToken(4)
	cpCreate(t, s, "quota-secret", v1, "value1")
	var custom []string
	for i := 1; i <= 19; i++ {
		custom = append(custom, "L"+string(rune('A'+i-1)))
	}
	cpPut(t, s, "quota-secret", v2, "value2", custom...)
	require.Equal(t, 20, cpLabelCount(t, s, "quota-secret"), "precondition: 20 distinct labels")
	before := cpSnapshot(t, s, "quota-secret")
	clock.Advance(time.Minute)

	_, err := s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{
		SecretId: "quota-secret", ClientRequestToken: v3, SecretString: secretstore.String("value3"),
		VersionStages: []string{"NEW21"},
	})
	cpAssertErr(t, err, secretstore.ErrLimitExceeded, "")
	cpAssertUnchanged(t, s, "quota-secret", before)
	_, err = s.GetSecretValue(t.Context(), &secretstore.GetSecretValueInput{SecretId: "quota-secret", VersionId: v3})
	cpAssertErr(t, err, secretstore.ErrResourceNotFound, cpMsgE3(v3))

	var many []string
	for i := 0; i < 21; i++ {
		many = append(many, "M"+string(rune('A'+i)))
	}
	_, err = s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{
		SecretId: "quota-secret", ClientRequestToken: v3, SecretString: secretstore.String("value3"),
		VersionStages: many,
	})
	cpAssertErr(t, err, secretstore.ErrValidation, "")
	cpAssertUnchanged(t, s, "quota-secret", before)

	// Moving an existing label adds no label: still within the quota.
	out := cpPut(t, s, "quota-secret", v4, "value4", custom[0])
	assert.ElementsMatch(t, []string{custom[0]}, out.VersionStages)
	assert.Equal(t, 20, cpLabelCount(t, s, "quota-secret"))
}

// SPEC §5 case 40 [MODEL]
func TestSpec40_EmptyVersionStagesRejected(t *testing.T) {
	t.Parallel()
	s, clock := cpNewStore(t)
	cpCreate(t, s, "nostage-secret", cpToken(1), "value1")
	before := cpSnapshot(t, s, "nostage-secret")
	clock.Advance(time.Minute)

	_, err := s.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{
		SecretId: "nostage-secret", ClientRequestToken: cpToken(2), SecretString: secretstore.String("value2"),
		VersionStages: []string{},
	})
	cpAssertErr(t, err, secretstore.ErrValidation, "")
	cpAssertUnchanged(t, s, "nostage-secret", before)
	_, err = s.GetSecretValue(t.Context(), &secretstore.GetSecretValueInput{SecretId: "nostage-secret", VersionId: cpToken(2)})
	cpAssertErr(t, err, secretstore.ErrResourceNotFound, cpMsgE3(cpToken(2)))
}
