package secretstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend"
	"github.com/secretstore/secretstore/backend/membackend"
)

// Regression tests for behaviour users rely on: calls that must change
// nothing (no record write, no LastChangedDate bump), caller-owned pointers
// that must not be aliased, the version quota around rotation, the order of
// checks in strict-token mode, missing blobs, ambiguous backend writes, the
// chunked record layout across engines, and lazy pruning on read.
//
// Every test uses a FakeClock and advances it before the call under test, so
// that a wrongful LastChangedDate bump is visible.

var rgStart = time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)

const rgLambda = "arn:aws:lambda:us-east-1:123456789012:function:rg-rotator"

// errRgAmbiguous is a transport failure after the backend applied the write:
// the engine cannot tell whether the write happened.
var errRgAmbiguous = errors.New("rg: connection reset after the write was sent")

// rgBackend wraps a backend, counting calls, hiding chosen blobs from GetBlob
// and, when armed, reporting a failure for a record update it has applied.
type rgBackend struct {
	backend.Backend

	getRecords    atomic.Int64
	updateRecords atomic.Int64
	getBlobs      atomic.Int64
	putBlobs      atomic.Int64

	mu              sync.Mutex
	putKeys         []string        // every blob key put, in order
	missing         map[string]bool // blobs GetBlob reports as not found
	putsSinceRecord int             // blobs put since the last record write
	// ambiguous, if set, is asked after each successful UpdateRecord (with
	// the number of blobs put since the previous record write) whether to
	// report errRgAmbiguous instead of success. It is disarmed once it fires.
	ambiguous func(putsSinceRecord int) bool
	fired     int
}

func rgNewBackend() *rgBackend {
	return &rgBackend{Backend: membackend.New(), missing: map[string]bool{}}
}

func (b *rgBackend) GetRecord(ctx context.Context, key string, knownRevision uint64) (backend.Record, error) {
	b.getRecords.Add(1)
	return b.Backend.GetRecord(ctx, key, knownRevision)
}

func (b *rgBackend) CreateRecord(ctx context.Context, key string, data []byte) (uint64, error) {
	b.mu.Lock()
	b.putsSinceRecord = 0
	b.mu.Unlock()
	return b.Backend.CreateRecord(ctx, key, data)
}

func (b *rgBackend) UpdateRecord(ctx context.Context, key string, revision uint64, data []byte) (uint64, error) {
	b.updateRecords.Add(1)
	rev, err := b.Backend.UpdateRecord(ctx, key, revision, data)
	b.mu.Lock()
	n := b.putsSinceRecord
	b.putsSinceRecord = 0
	fail := err == nil && b.ambiguous != nil && b.ambiguous(n)
	if fail {
		b.ambiguous = nil
		b.fired++
	}
	b.mu.Unlock()
	if fail {
		return 0, errRgAmbiguous
	}
	return rev, err
}

func (b *rgBackend) PutBlob(ctx context.Context, key string, data []byte) error {
	b.putBlobs.Add(1)
	err := b.Backend.PutBlob(ctx, key, data)
	if err == nil {
		b.mu.Lock()
		b.putKeys = append(b.putKeys, key)
		b.putsSinceRecord++
		b.mu.Unlock()
	}
	return err
}

func (b *rgBackend) GetBlob(ctx context.Context, key string) ([]byte, error) {
	b.getBlobs.Add(1)
	b.mu.Lock()
	gone := b.missing[key]
	b.mu.Unlock()
	if gone {
		return nil, backend.ErrNotFound
	}
	return b.Backend.GetBlob(ctx, key)
}

// putCount returns how many blobs have been put so far.
func (b *rgBackend) putCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.putKeys)
}

// putsSince returns the blob keys put after the first n.
func (b *rgBackend) putsSince(n int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.putKeys[n:])
}

func (b *rgBackend) hide(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.missing[key] = true
}

func (b *rgBackend) arm(fn func(putsSinceRecord int) bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ambiguous = fn
}

func (b *rgBackend) firedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fired
}

// rgMaster is the master key every engine of a test shares, as processes
// sharing a persistent backend would.
var rgMaster = []byte("rg-regression-master-key-32bytes")

// rgKeys returns a fresh LocalKeys over rgMaster: engines given different
// rgKeys values still open each other's values.
func rgKeys(t *testing.T) *secretstore.LocalKeys {
	t.Helper()
	k, err := secretstore.NewLocalKeys(rgMaster)
	require.NoError(t, err)
	return k
}

func rgEngine(t *testing.T, b backend.Backend, clock secretstore.Clock, opts ...secretstore.Option) *secretstore.Engine {
	t.Helper()
	all := append([]secretstore.Option{secretstore.WithClock(clock), secretstore.WithKeys(rgKeys(t))}, opts...)
	e, err := secretstore.New(b, all...)
	require.NoError(t, err)
	return e
}

// rgTok returns a valid ClientRequestToken (at least 32 characters).
func rgTok(tag string, i int) string { return fmt.Sprintf("rgtok-%s-%026d", tag, i) }

// rgValue is the value the tests write under token tok.
func rgValue(tok string) string { return "value-of-" + tok }

func rgDescribe(t *testing.T, e secretstore.Store, id string) *secretstore.DescribeSecretOutput {
	t.Helper()
	out, err := e.DescribeSecret(context.Background(), &secretstore.DescribeSecretInput{SecretId: id})
	require.NoError(t, err)
	return out
}

// rgVersion is a ListSecretVersionIds entry in a form that compares exactly.
type rgVersion struct {
	ID           string
	Stages       []string
	Created      int64
	LastAccessed int64
	KeyIDs       []string
}

func rgUnixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// rgListAll lists every version of a secret (IncludeDeprecated), following
// NextToken with pages of pageSize.
func rgListAll(t *testing.T, e secretstore.Store, id string, pageSize int) []rgVersion {
	t.Helper()
	var out []rgVersion
	next := ""
	for page := 0; ; page++ {
		require.Less(t, page, 1000, "ListSecretVersionIds does not stop paging")
		res, err := e.ListSecretVersionIds(context.Background(), &secretstore.ListSecretVersionIdsInput{
			SecretId: id, MaxResults: pageSize, NextToken: next, IncludeDeprecated: true,
		})
		require.NoError(t, err)
		for _, v := range res.Versions {
			out = append(out, rgVersion{
				ID: v.VersionId, Stages: slices.Sorted(slices.Values(v.VersionStages)),
				Created: rgUnixNano(v.CreatedDate), LastAccessed: rgUnixNano(v.LastAccessedDate), KeyIDs: v.KmsKeyIds,
			})
		}
		if res.NextToken == "" {
			return out
		}
		next = res.NextToken
	}
}

func rgIDs(vs []rgVersion) []string {
	ids := make([]string, len(vs))
	for i, v := range vs {
		ids[i] = v.ID
	}
	return ids
}

// rgBlobCount counts the blobs stored in b.
func rgBlobCount(t *testing.T, b backend.Backend) int {
	t.Helper()
	n := 0
	for after := ""; ; {
		keys, err := b.ListBlobs(context.Background(), after, 100)
		require.NoError(t, err)
		n += len(keys)
		if len(keys) < 100 {
			return n
		}
		after = keys[len(keys)-1]
	}
}

// rgRequireCode requires err to be an *Error with the code of sentinel and,
// if msg is not empty, that message.
func rgRequireCode(t *testing.T, err error, sentinel error, msg string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, sentinel, "got %v", err)
	if msg != "" {
		var ae *secretstore.Error
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, msg, ae.Message)
	}
}

func rgSameTime(t *testing.T, want, got time.Time, what string) {
	t.Helper()
	assert.True(t, want.Equal(got), "%s: got %v, want %v", what, got, want)
}

func rgGet(t *testing.T, e secretstore.Store, id, versionID string) *secretstore.GetSecretValueOutput {
	t.Helper()
	out, err := e.GetSecretValue(context.Background(), &secretstore.GetSecretValueInput{SecretId: id, VersionId: versionID})
	require.NoError(t, err, "GetSecretValue(%s, VersionId=%q)", id, versionID)
	return out
}

func rgPut(t *testing.T, e secretstore.Store, id, tok string, stages ...string) *secretstore.PutSecretValueOutput {
	t.Helper()
	in := &secretstore.PutSecretValueInput{SecretId: id, ClientRequestToken: tok, SecretString: secretstore.String(rgValue(tok))}
	if len(stages) > 0 {
		in.VersionStages = stages
	}
	out, err := e.PutSecretValue(context.Background(), in)
	require.NoError(t, err, "PutSecretValue(%s, %s)", id, tok)
	return out
}

func rgCreate(t *testing.T, e secretstore.Store, name, tok string) *secretstore.CreateSecretOutput {
	t.Helper()
	out, err := e.CreateSecret(context.Background(), &secretstore.CreateSecretInput{
		Name: name, ClientRequestToken: tok, SecretString: secretstore.String(rgValue(tok)),
	})
	require.NoError(t, err)
	return out
}

// rgHolder returns the version that holds label according to Describe.
func rgHolder(ctx context.Context, st secretstore.Store, id, label string) (string, error) {
	d, err := st.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: id})
	if err != nil {
		return "", err
	}
	for v, stages := range d.VersionIdsToStages {
		if slices.Contains(stages, label) {
			return v, nil
		}
	}
	return "", nil
}

// rgRotation is a standard rotation function: createSecret puts
// rgValue(token) with AWSPENDING; finishSecret moves AWSCURRENT to the token
// and then removes AWSPENDING from it. onStep, if not nil, runs first at
// every step.
func rgRotation(onStep func(step string)) secretstore.RotationFunc {
	return func(ctx context.Context, st secretstore.Store, req secretstore.RotationRequest) error {
		if onStep != nil {
			onStep(req.Step)
		}
		switch req.Step {
		case secretstore.StepCreateSecret:
			_, err := st.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
				SecretId: req.SecretId, ClientRequestToken: req.ClientRequestToken,
				SecretString: secretstore.String(rgValue(req.ClientRequestToken)), VersionStages: []string{secretstore.LabelPending},
			})
			return err
		case secretstore.StepFinishSecret:
			cur, err := rgHolder(ctx, st, req.SecretId, secretstore.LabelCurrent)
			if err != nil {
				return err
			}
			if cur != req.ClientRequestToken {
				if _, err := st.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
					SecretId: req.SecretId, VersionStage: secretstore.LabelCurrent,
					MoveToVersionId: req.ClientRequestToken, RemoveFromVersionId: cur,
				}); err != nil {
					return err
				}
			}
			_, err = st.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
				SecretId: req.SecretId, VersionStage: secretstore.LabelPending, RemoveFromVersionId: req.ClientRequestToken,
			})
			return err
		}
		return nil
	}
}

// 1. Repeating an UpdateSecret with the same token and value is a retry of a
// call that succeeded: it returns the same VersionId and changes nothing.
func TestRegressionUpdateSecretReplayChangesNothing(t *testing.T) {
	ctx := context.Background()
	clock := secretstore.NewFakeClock(rgStart)
	b := rgNewBackend()
	e := rgEngine(t, b, clock)
	const name = "rg-update-replay"

	tok0 := rgTok("upd", 0)
	_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name: name, ClientRequestToken: tok0, SecretString: secretstore.String(rgValue(tok0)), Description: "first",
	})
	require.NoError(t, err)
	clock.Advance(time.Minute)

	tok := rgTok("upd", 1)
	first, err := e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: name, ClientRequestToken: tok, SecretString: secretstore.String("V")})
	require.NoError(t, err)
	require.Equal(t, tok, first.VersionId)

	before := rgDescribe(t, e, name)
	versionsBefore := rgListAll(t, e, name, 100)
	require.Equal(t, []string{tok0, tok}, rgIDs(versionsBefore))
	updates, puts, blobs := b.updateRecords.Load(), b.putBlobs.Load(), rgBlobCount(t, b)

	clock.Advance(time.Hour)
	again, err := e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: name, ClientRequestToken: tok, SecretString: secretstore.String("V")})
	require.NoError(t, err)
	assert.Equal(t, first, again, "a replay returns the first call's response")

	after := rgDescribe(t, e, name)
	rgSameTime(t, before.LastChangedDate, after.LastChangedDate, "LastChangedDate after a replay")
	assert.Equal(t, before.VersionIdsToStages, after.VersionIdsToStages)
	assert.Equal(t, "first", after.Description)
	assert.Equal(t, versionsBefore, rgListAll(t, e, name, 100), "a replay keeps the same versions")
	assert.Equal(t, updates, b.updateRecords.Load(), "a replay must not write the record")
	assert.Equal(t, puts, b.putBlobs.Load(), "a replay must not write a blob")
	assert.Equal(t, blobs, rgBlobCount(t, b))

	// A replay that also sets a description changes the description, and
	// only that: the version and its labels stay.
	clock.Advance(time.Hour)
	withDesc, err := e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{
		SecretId: name, ClientRequestToken: tok, SecretString: secretstore.String("V"), Description: secretstore.String("second"),
	})
	require.NoError(t, err)
	assert.Equal(t, tok, withDesc.VersionId)
	d := rgDescribe(t, e, name)
	assert.Equal(t, "second", d.Description)
	rgSameTime(t, clock.Now(), d.LastChangedDate, "LastChangedDate after a description change")
	assert.Equal(t, before.VersionIdsToStages, d.VersionIdsToStages)
	assert.Equal(t, versionsBefore, rgListAll(t, e, name, 100), "a replay with a description keeps the same versions")
	assert.Equal(t, updates+1, b.updateRecords.Load(), "a description change is one record write")
	assert.Equal(t, puts, b.putBlobs.Load(), "a replay with a description must not write a blob")
	assert.Equal(t, blobs, rgBlobCount(t, b))

	got := rgGet(t, e, name, "")
	assert.Equal(t, tok, got.VersionId)
	assert.Equal(t, "V", got.SecretString)
}

// 2. Moving a label onto the version that already holds it succeeds and
// changes nothing.
func TestRegressionNoOpLabelMoveChangesNothing(t *testing.T) {
	ctx := context.Background()
	clock := secretstore.NewFakeClock(rgStart)
	b := rgNewBackend()
	e := rgEngine(t, b, clock)
	const name = "rg-noop-move"

	v1, v2, v3 := rgTok("mv", 1), rgTok("mv", 2), rgTok("mv", 3)
	created := rgCreate(t, e, name, v1)
	clock.Advance(time.Minute)
	rgPut(t, e, name, v2)
	clock.Advance(time.Minute)
	rgPut(t, e, name, v3, "RG-CUSTOM")
	want := map[string][]string{
		v1: {secretstore.LabelPrevious}, v2: {secretstore.LabelCurrent}, v3: {"RG-CUSTOM"},
	}
	require.Equal(t, want, rgDescribe(t, e, name).VersionIdsToStages)

	cases := []struct {
		label, move, remove string
	}{
		{secretstore.LabelCurrent, v2, ""},
		{secretstore.LabelCurrent, v2, v2},
		{secretstore.LabelPrevious, v1, ""},
		{secretstore.LabelPrevious, v1, v1},
		{"RG-CUSTOM", v3, ""},
		{"RG-CUSTOM", v3, v3},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-remove=%t", c.label, c.remove != ""), func(t *testing.T) {
			before := rgDescribe(t, e, name)
			updates := b.updateRecords.Load()
			clock.Advance(time.Hour)
			out, err := e.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
				SecretId: name, VersionStage: c.label, MoveToVersionId: c.move, RemoveFromVersionId: c.remove,
			})
			require.NoError(t, err)
			assert.Equal(t, &secretstore.UpdateSecretVersionStageOutput{ARN: created.ARN, Name: name}, out)
			after := rgDescribe(t, e, name)
			rgSameTime(t, before.LastChangedDate, after.LastChangedDate, "LastChangedDate after a no-op move")
			assert.Equal(t, want, after.VersionIdsToStages)
			assert.Equal(t, updates, b.updateRecords.Load(), "a no-op label move must not write the record")
		})
	}
}

// 3. Untagging a key the secret does not have succeeds and changes nothing.
func TestRegressionUntagAbsentKeyChangesNothing(t *testing.T) {
	ctx := context.Background()
	clock := secretstore.NewFakeClock(rgStart)
	b := rgNewBackend()
	e := rgEngine(t, b, clock)

	// A secret that was never tagged stays untagged: Describe omits Tags.
	const plain = "rg-untag-never-tagged"
	rgCreate(t, e, plain, rgTok("tag", 1))
	before := rgDescribe(t, e, plain)
	require.Nil(t, before.Tags)
	updates := b.updateRecords.Load()
	clock.Advance(time.Hour)
	_, err := e.UntagResource(ctx, &secretstore.UntagResourceInput{SecretId: plain, TagKeys: []string{"absent"}})
	require.NoError(t, err)
	after := rgDescribe(t, e, plain)
	assert.Nil(t, after.Tags, "untagging an absent key must not turn 'never tagged' into an empty tag list")
	rgSameTime(t, before.LastChangedDate, after.LastChangedDate, "LastChangedDate after untagging an absent key")
	assert.Equal(t, updates, b.updateRecords.Load(), "untagging an absent key must not write the record")

	// A tagged secret keeps its tags, in order.
	const tagged = "rg-untag-tagged"
	tags := []secretstore.Tag{{Key: "team", Value: "a"}, {Key: "env", Value: "prod"}}
	_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: tagged, Tags: tags})
	require.NoError(t, err)
	before = rgDescribe(t, e, tagged)
	require.Equal(t, tags, before.Tags)
	updates = b.updateRecords.Load()
	clock.Advance(time.Hour)
	_, err = e.UntagResource(ctx, &secretstore.UntagResourceInput{SecretId: tagged, TagKeys: []string{"absent", "also-absent"}})
	require.NoError(t, err)
	after = rgDescribe(t, e, tagged)
	assert.Equal(t, tags, after.Tags)
	rgSameTime(t, before.LastChangedDate, after.LastChangedDate, "LastChangedDate after untagging absent keys")
	assert.Equal(t, updates, b.updateRecords.Load(), "untagging absent keys must not write the record")

	// Untagging a present key still works and is a change.
	clock.Advance(time.Hour)
	_, err = e.UntagResource(ctx, &secretstore.UntagResourceInput{SecretId: tagged, TagKeys: []string{"absent", "team"}})
	require.NoError(t, err)
	after = rgDescribe(t, e, tagged)
	assert.Equal(t, []secretstore.Tag{{Key: "env", Value: "prod"}}, after.Tags)
	rgSameTime(t, clock.Now(), after.LastChangedDate, "LastChangedDate after removing a tag")
}

// 4. RotateSecret keeps its own copy of RotationRules, and Describe hands out
// a copy too.
func TestRegressionRotationRulesNotAliased(t *testing.T) {
	ctx := context.Background()
	clock := secretstore.NewFakeClock(rgStart)
	b := rgNewBackend()
	d := int64(30)
	// The caller's variable changes while the rotation runs, too.
	onStep := func(step string) {
		if step == secretstore.StepCreateSecret {
			d = 500
		}
	}
	e := rgEngine(t, b, clock, secretstore.WithRotationFunc(rgLambda, rgRotation(onStep)))
	const name = "rg-rotation-rules"

	v1 := rgTok("rot", 1)
	rgCreate(t, e, name, v1)
	clock.Advance(time.Hour)
	rotatedAt := clock.Now()
	tok := rgTok("rot", 2)
	out, err := e.RotateSecret(ctx, &secretstore.RotateSecretInput{
		SecretId: name, ClientRequestToken: tok, RotationLambdaARN: rgLambda,
		RotationRules: &secretstore.RotationRules{AutomaticallyAfterDays: &d},
	})
	require.NoError(t, err)
	assert.Equal(t, tok, out.VersionId)

	desc := rgDescribe(t, e, name)
	assert.True(t, desc.RotationEnabled)
	assert.Equal(t, map[string][]string{v1: {secretstore.LabelPrevious}, tok: {secretstore.LabelCurrent}}, desc.VersionIdsToStages)
	require.NotNil(t, desc.RotationRules)
	require.NotNil(t, desc.RotationRules.AutomaticallyAfterDays)
	assert.Equal(t, int64(30), *desc.RotationRules.AutomaticallyAfterDays)
	rgSameTime(t, rotatedAt.Add(30*24*time.Hour), desc.NextRotationDate, "NextRotationDate")
	assert.Equal(t, rgValue(tok), rgGet(t, e, name, "").SecretString)

	// The caller reuses its variable.
	d = 999
	desc = rgDescribe(t, e, name)
	require.NotNil(t, desc.RotationRules)
	assert.Equal(t, int64(30), *desc.RotationRules.AutomaticallyAfterDays, "Describe follows the caller's pointer")

	// A caller mutating Describe's output must not change the secret.
	*desc.RotationRules.AutomaticallyAfterDays = 777
	desc.RotationRules.Duration = "rg-mutated"
	again := rgDescribe(t, e, name)
	assert.Equal(t, int64(30), *again.RotationRules.AutomaticallyAfterDays, "Describe shares its pointer with the engine")
	assert.Empty(t, again.RotationRules.Duration)
	assert.NotSame(t, desc.RotationRules.AutomaticallyAfterDays, again.RotationRules.AutomaticallyAfterDays)

	list, err := e.ListSecrets(ctx, &secretstore.ListSecretsInput{})
	require.NoError(t, err)
	require.Len(t, list.SecretList, 1)
	require.NotNil(t, list.SecretList[0].RotationRules)
	assert.Equal(t, int64(30), *list.SecretList[0].RotationRules.AutomaticallyAfterDays)

	// What was stored is 30 too, as another engine reads it.
	other := rgDescribe(t, rgEngine(t, b, clock), name)
	require.NotNil(t, other.RotationRules)
	assert.Equal(t, int64(30), *other.RotationRules.AutomaticallyAfterDays)
}

// 5. The rotation placeholder does not count against the version quota (SPEC
// §3 rule 5): a secret at the quota with only young versions can rotate, and
// nothing is pruned.
func TestRegressionRotatePlaceholderOutsideQuota(t *testing.T) {
	ctx := context.Background()
	clock := secretstore.NewFakeClock(rgStart)
	b := rgNewBackend()
	e := rgEngine(t, b, clock, secretstore.WithMaxVersions(3), secretstore.WithRotationFunc(rgLambda, rgRotation(nil)))
	const name = "rg-rotate-quota"

	v := []string{rgTok("quota", 0), rgTok("quota", 1), rgTok("quota", 2)}
	rgCreate(t, e, name, v[0])
	clock.Advance(time.Minute)
	rgPut(t, e, name, v[1])
	clock.Advance(time.Minute)
	rgPut(t, e, name, v[2])
	clock.Advance(time.Minute)

	// The secret is at its quota: another plain write is refused.
	_, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
		SecretId: name, ClientRequestToken: rgTok("quota", 99), SecretString: secretstore.String("too many"),
	})
	rgRequireCode(t, err, secretstore.ErrLimitExceeded, "")
	require.Equal(t, v, rgIDs(rgListAll(t, e, name, 100)))

	clock.Advance(time.Minute)
	tok := rgTok("quota", 3)
	out, err := e.RotateSecret(ctx, &secretstore.RotateSecretInput{SecretId: name, ClientRequestToken: tok, RotationLambdaARN: rgLambda})
	require.NoError(t, err, "a rotation placeholder must not count against the version quota")
	assert.Equal(t, tok, out.VersionId)

	versions := rgListAll(t, e, name, 100)
	assert.Equal(t, append(slices.Clone(v), tok), rgIDs(versions), "no young version may be pruned")
	assert.Equal(t, map[string][]string{v[2]: {secretstore.LabelPrevious}, tok: {secretstore.LabelCurrent}},
		rgDescribe(t, e, name).VersionIdsToStages)
	for _, id := range append(slices.Clone(v), tok) {
		assert.Equal(t, rgValue(id), rgGet(t, e, name, id).SecretString)
	}
	assert.Equal(t, 4, rgBlobCount(t, b), "every version keeps its blob")
}

// 6. Under WithStrictTokens a missing token is a model validation error
// (E12), reported before the both-values combination error (E17); value
// lengths are checked before either.
func TestRegressionStrictTokenBeforeBothValues(t *testing.T) {
	ctx := context.Background()
	clock := secretstore.NewFakeClock(rgStart)
	b := rgNewBackend()
	e := rgEngine(t, b, clock, secretstore.WithStrictTokens())
	const name = "rg-strict"
	const e12 = "You must provide a ClientRequestToken value. We recommend a UUID-type value."
	_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: name})
	require.NoError(t, err)
	const missing = "rg-strict-missing"
	s, bin := secretstore.String("s"), []byte("b")
	long := secretstore.String(strings.Repeat("x", 65537))
	longBin := make([]byte, 65537)

	check := func(t *testing.T, calls map[string]func() error, want error, msg string) {
		t.Helper()
		for op, call := range calls {
			err := call()
			rgRequireCode(t, err, want, msg)
			assert.NotErrorIs(t, err, secretstore.ErrInvalidParameter, "%s: got %v", op, err)
		}
	}

	t.Run("both values, no token", func(t *testing.T) {
		check(t, map[string]func() error{
			"Put existing": func() error {
				_, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: name, SecretString: s, SecretBinary: bin})
				return err
			},
			"Put missing": func() error {
				_, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: missing, SecretString: s, SecretBinary: bin})
				return err
			},
			"Create": func() error {
				_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: missing, SecretString: s, SecretBinary: bin})
				return err
			},
			"Update existing": func() error {
				_, err := e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: name, SecretString: s, SecretBinary: bin})
				return err
			},
			"Update missing": func() error {
				_, err := e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: missing, SecretString: s, SecretBinary: bin})
				return err
			},
		}, secretstore.ErrInvalidRequest, e12)
	})

	t.Run("over-long value, no token", func(t *testing.T) {
		check(t, map[string]func() error{
			"Put string": func() error {
				_, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: name, SecretString: long})
				return err
			},
			"Put both": func() error {
				_, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: name, SecretString: s, SecretBinary: longBin})
				return err
			},
			"Create": func() error {
				_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: missing, SecretString: long})
				return err
			},
			"Create both": func() error {
				_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: missing, SecretString: long, SecretBinary: bin})
				return err
			},
			"Update binary": func() error {
				_, err := e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: name, SecretBinary: longBin})
				return err
			},
			"Update both": func() error {
				_, err := e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: name, SecretString: long, SecretBinary: bin})
				return err
			},
		}, secretstore.ErrValidation, "")
	})

	// Nothing changed: no secret was created, the existing one has no value.
	_, err = e.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: missing})
	rgRequireCode(t, err, secretstore.ErrResourceNotFound, "")
	assert.Nil(t, rgDescribe(t, e, name).VersionIdsToStages)
	assert.Zero(t, rgBlobCount(t, b))
}

// 7. A version whose blob is gone reads as DecryptionFailure, at once, and a
// key change that must re-encrypt it fails the same way and changes nothing.
func TestRegressionMissingBlobIsDecryptionFailure(t *testing.T) {
	ctx := context.Background()
	clock := secretstore.NewFakeClock(rgStart)
	b := rgNewBackend()
	e := rgEngine(t, b, clock)
	const name = "rg-missing-blob"

	v1, v2 := rgTok("miss", 1), rgTok("miss", 2)
	rgCreate(t, e, name, v1)
	clock.Advance(time.Minute)
	n := b.putCount()
	rgPut(t, e, name, v2)
	written := b.putsSince(n)
	require.Len(t, written, 1, "one blob for one new version")
	b.hide(written[0]) // v2, AWSCURRENT

	gets, blobGets := b.getRecords.Load(), b.getBlobs.Load()
	start := time.Now()
	_, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: name})
	rgRequireCode(t, err, secretstore.ErrDecryptionFailure, "")
	assert.Less(t, time.Since(start), 5*time.Second, "a missing blob must fail promptly")
	assert.LessOrEqual(t, b.getRecords.Load()-gets, int64(3), "record reads for one failed GetSecretValue")
	assert.LessOrEqual(t, b.getBlobs.Load()-blobGets, int64(2), "blob reads for one failed GetSecretValue")
	_, err = e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: name, VersionId: v2})
	rgRequireCode(t, err, secretstore.ErrDecryptionFailure, "")
	assert.Equal(t, rgValue(v1), rgGet(t, e, name, v1).SecretString, "the other version still reads")

	// UpdateSecret with a new key re-encrypts AWSPREVIOUS (v1) and then
	// AWSCURRENT (v2), whose blob is gone.
	before := rgDescribe(t, e, name)
	versions := rgListAll(t, e, name, 100)
	updates, blobs := b.updateRecords.Load(), rgBlobCount(t, b)
	gets, blobGets = b.getRecords.Load(), b.getBlobs.Load()
	clock.Advance(time.Hour)
	_, err = e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: name, KmsKeyId: secretstore.String("alias/rg-other")})
	rgRequireCode(t, err, secretstore.ErrDecryptionFailure, "")
	assert.LessOrEqual(t, b.getRecords.Load()-gets, int64(3), "record reads for one failed UpdateSecret")
	assert.LessOrEqual(t, b.getBlobs.Load()-blobGets, int64(3), "blob reads for one failed UpdateSecret")

	after := rgDescribe(t, e, name)
	assert.Empty(t, after.KmsKeyId)
	rgSameTime(t, before.LastChangedDate, after.LastChangedDate, "LastChangedDate after a failed key change")
	assert.Equal(t, before.VersionIdsToStages, after.VersionIdsToStages)
	assert.Equal(t, versions, rgListAll(t, e, name, 100))
	assert.Equal(t, updates, b.updateRecords.Load(), "a failed key change must not write the record")
	assert.Equal(t, blobs, rgBlobCount(t, b), "a failed key change must not leave new blobs behind")
	assert.Equal(t, rgValue(v1), rgGet(t, e, name, v1).SecretString, "the failed key change must not lose v1's blob")
}

// rgCheckAfterAmbiguous checks that the version a failed-but-maybe-applied
// Put wrote is either readable with its value or absent, never undecryptable.
func rgCheckAfterAmbiguous(t *testing.T, e secretstore.Store, name, tok string) (applied bool) {
	t.Helper()
	out, err := e.GetSecretValue(context.Background(), &secretstore.GetSecretValueInput{SecretId: name, VersionId: tok})
	if err != nil {
		require.ErrorIs(t, err, secretstore.ErrResourceNotFound,
			"after an ambiguous write the new version must read or be absent; got %v (its blob was deleted?)", err)
		return false
	}
	assert.Equal(t, rgValue(tok), out.SecretString)
	return true
}

// 8. A record write that fails ambiguously (the backend applied it, then
// reported a transport error) must not delete the blobs the record may refer
// to.
func TestRegressionAmbiguousWriteKeepsBlobs(t *testing.T) {
	ctx := context.Background()

	t.Run("plain", func(t *testing.T) {
		clock := secretstore.NewFakeClock(rgStart)
		b := rgNewBackend()
		e := rgEngine(t, b, clock)
		const name = "rg-ambiguous"
		rgCreate(t, e, name, rgTok("amb", 0))
		clock.Advance(time.Minute)
		rgPut(t, e, name, rgTok("amb", 1))
		clock.Advance(time.Minute)

		tok := rgTok("amb", 2)
		b.arm(func(int) bool { return true })
		_, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
			SecretId: name, ClientRequestToken: tok, SecretString: secretstore.String(rgValue(tok)),
		})
		require.Error(t, err)
		require.Equal(t, 1, b.firedCount())
		assert.ErrorIs(t, err, errRgAmbiguous, "the cause is kept")
		assert.NotErrorIs(t, err, secretstore.ErrDecryptionFailure)

		applied := rgCheckAfterAmbiguous(t, e, name, tok)
		assert.True(t, applied, "the backend applied the write")
		// The caller retries with the same token, as after any ambiguous error.
		out, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
			SecretId: name, ClientRequestToken: tok, SecretString: secretstore.String(rgValue(tok)),
		})
		require.NoError(t, err)
		assert.Equal(t, tok, out.VersionId)
		got := rgGet(t, e, name, "")
		assert.Equal(t, tok, got.VersionId)
		assert.Equal(t, rgValue(tok), got.SecretString)
		// Another engine (no cache) agrees.
		assert.Equal(t, rgValue(tok), rgGet(t, rgEngine(t, b, clock), name, tok).SecretString)
	})

	t.Run("chunked", func(t *testing.T) {
		clock := secretstore.NewFakeClock(rgStart)
		b := rgNewBackend()
		e := rgEngine(t, b, clock, secretstore.WithChunkSize(2))
		const name = "rg-ambiguous-chunked"
		var toks []string
		for i := 0; i < 11; i++ {
			tok := rgTok("ambc", i)
			if i == 0 {
				rgCreate(t, e, name, tok)
			} else {
				rgPut(t, e, name, tok)
			}
			toks = append(toks, tok)
			clock.Advance(time.Minute)
		}

		// Fail the first write that also stores a chunk (two blobs: the
		// value and the chunk).
		b.arm(func(puts int) bool { return puts >= 2 })
		var failed string
		for i := 11; i < 16 && failed == ""; i++ {
			tok := rgTok("ambc", i)
			_, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
				SecretId: name, ClientRequestToken: tok, SecretString: secretstore.String(rgValue(tok)),
			})
			if b.firedCount() > 0 {
				require.Error(t, err)
				assert.NotErrorIs(t, err, secretstore.ErrDecryptionFailure)
				failed = tok
			} else {
				require.NoError(t, err)
			}
			toks = append(toks, tok)
			clock.Advance(time.Minute)
		}
		require.NotEmpty(t, failed, "no Put wrote a chunk: the test did not exercise the chunked layout")

		if !rgCheckAfterAmbiguous(t, e, name, failed) {
			toks = slices.DeleteFunc(toks, func(s string) bool { return s == failed })
		}
		d, err := e.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: name})
		require.NoError(t, err, "Describe after an ambiguous chunk write")
		assert.Contains(t, d.VersionIdsToStages, failed)
		cur, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: name})
		require.NoError(t, err, "Get after an ambiguous chunk write")
		assert.Equal(t, rgValue(cur.VersionId), cur.SecretString)

		check := func(t *testing.T, st secretstore.Store) {
			t.Helper()
			versions := rgListAll(t, st, name, 4)
			assert.Equal(t, toks, rgIDs(versions))
			for _, v := range versions {
				assert.Equal(t, rgValue(v.ID), rgGet(t, st, name, v.ID).SecretString)
			}
		}
		check(t, e)
		check(t, rgEngine(t, b, clock))

		// The engine keeps writing (more chunks), and Sweep keeps the blobs
		// the head refers to.
		for i := 16; i < 21; i++ {
			tok := rgTok("ambc", i)
			rgPut(t, e, name, tok)
			toks = append(toks, tok)
			clock.Advance(time.Minute)
		}
		clock.Advance(2 * time.Hour)
		_, err = e.Sweep(ctx, time.Minute)
		require.NoError(t, err)
		check(t, e)
		check(t, rgEngine(t, b, clock))
	})
}

// 9. The chunked layout survives pruning, label changes, reads that move
// entries out of chunks and re-encryption: a second engine sees exactly the
// same versions, Sweep keeps every referenced blob, and a forced delete
// leaves no blob behind.
func TestRegressionChunkedLayoutRoundTrip(t *testing.T) {
	ctx := context.Background()
	clock := secretstore.NewFakeClock(rgStart)
	b := rgNewBackend()
	opts := []secretstore.Option{secretstore.WithChunkSize(3), secretstore.WithMaxVersions(20), secretstore.WithPruneAge(time.Hour)}
	a := rgEngine(t, b, clock, opts...)
	const name = "rg-chunk-roundtrip"

	customAt := map[int]string{3: "RG-OLD-A", 7: "RG-OLD-B", 12: "RG-OLD-C", 20: "RG-OLD-D"}
	var custom []string // versions with a custom label
	readCustom := func(st secretstore.Store) {
		for _, id := range custom {
			assert.Equal(t, rgValue(id), rgGet(t, st, name, id).SecretString)
		}
	}
	rgCreate(t, a, name, rgTok("chunk", 0))
	for i := 1; i < 60; i++ {
		clock.Advance(37 * time.Minute)
		tok := rgTok("chunk", i)
		if l, ok := customAt[i]; ok {
			rgPut(t, a, name, tok, l)
			custom = append(custom, tok)
		} else {
			rgPut(t, a, name, tok)
		}
		if i%10 == 0 {
			readCustom(a) // on a new day, this moves their entries out of chunks
		}
		switch i {
		case 30:
			_, err := a.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: name, KmsKeyId: secretstore.String("alias/rg-chunk-1")})
			require.NoError(t, err)
		case 40:
			// Move a custom label from an old version to another old one.
			_, err := a.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
				SecretId: name, VersionStage: "RG-OLD-B", RemoveFromVersionId: custom[1], MoveToVersionId: custom[0],
			})
			require.NoError(t, err)
			custom = slices.Delete(custom, 1, 2) // now unlabelled: it may be pruned
		}
	}
	clock.Advance(24 * time.Hour)
	readCustom(a)
	clock.Advance(time.Minute)
	_, err := a.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: name, KmsKeyId: secretstore.String("alias/rg-chunk-2")})
	require.NoError(t, err)
	for i := 60; i < 64; i++ {
		clock.Advance(37 * time.Minute)
		rgPut(t, a, name, rgTok("chunk", i))
	}

	listA := rgListAll(t, a, name, 7)
	require.LessOrEqual(t, len(listA), 20, "the quota holds")
	require.Less(t, len(listA), 64, "pruning happened")
	ids := rgIDs(listA)
	for _, id := range custom {
		assert.Contains(t, ids, id, "a labelled version was pruned")
	}
	assert.Greater(t, rgBlobCount(t, b), len(listA), "some entries live in chunks")

	// A second engine over the same backend, with its own keys object over
	// the same master key, sees exactly the same.
	bEng := rgEngine(t, b, clock, opts...)
	listB := rgListAll(t, bEng, name, 7)
	require.Equal(t, listA, listB)
	descA, descB := rgDescribe(t, a, name), rgDescribe(t, bEng, name)
	assert.Equal(t, descA.VersionIdsToStages, descB.VersionIdsToStages)
	assert.Equal(t, "alias/rg-chunk-2", descB.KmsKeyId)
	readAll := func(t *testing.T, st secretstore.Store, want []string) {
		t.Helper()
		versions := rgListAll(t, st, name, 7)
		require.Equal(t, want, rgIDs(versions))
		for _, v := range versions {
			assert.Equal(t, rgValue(v.ID), rgGet(t, st, name, v.ID).SecretString, "version %s", v.ID)
		}
	}
	readAll(t, bEng, ids)
	readAll(t, a, ids)

	// Sweep deletes nothing that is referenced.
	clock.Advance(2 * time.Hour)
	swept, err := bEng.Sweep(ctx, time.Minute)
	require.NoError(t, err)
	assert.Zero(t, swept, "no blob of a healthy secret is an orphan")
	readAll(t, a, ids)
	readAll(t, rgEngine(t, b, clock, opts...), ids)

	// A forced delete, then Sweep, leaves no blob at all.
	_, err = a.DeleteSecret(ctx, &secretstore.DeleteSecretInput{SecretId: name, ForceDeleteWithoutRecovery: true})
	require.NoError(t, err)
	assert.Zero(t, rgBlobCount(t, b), "a forced delete purges at once (SPEC §2.8 step 6): every value and chunk blob goes")
	clock.Advance(2 * time.Hour)
	_, err = bEng.Sweep(ctx, time.Minute)
	require.NoError(t, err)
	assert.Zero(t, rgBlobCount(t, b), "blobs left after a forced delete and Sweep")
	recs, err := b.ListRecords(ctx, "", "", 10)
	require.NoError(t, err)
	assert.Empty(t, recs)
}

// 10. An engine configured with a lower version quota than the versions were
// written under prunes lazily on read and list, only unlabelled old
// versions, oldest first, without changing LastChangedDate.
func TestRegressionLazyPruneOnRead(t *testing.T) {
	ctx := context.Background()
	clock := secretstore.NewFakeClock(rgStart)
	b := rgNewBackend()
	a := rgEngine(t, b, clock, secretstore.WithMaxVersions(10), secretstore.WithChunkSize(3))
	names := []string{"rg-lazy-get", "rg-lazy-list"}
	toks := map[string][]string{}
	for i := 0; i < 10; i++ {
		for _, name := range names {
			tok := rgTok(name[len(name)-3:], i)
			if i == 0 {
				rgCreate(t, a, name, tok)
			} else {
				rgPut(t, a, name, tok)
			}
			toks[name] = append(toks[name], tok)
		}
		if i < 7 {
			clock.Advance(25 * time.Hour)
		} else {
			clock.Advance(time.Minute)
		}
	}
	for _, name := range names {
		// A custom label protects the old v1.
		_, err := a.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
			SecretId: name, VersionStage: "RG-KEEP", MoveToVersionId: toks[name][1],
		})
		require.NoError(t, err)
		require.Len(t, rgListAll(t, a, name, 100), 10)
	}
	clock.Advance(time.Minute)

	// Unlabelled versions at least 24h old: v0, v2..v6 (v7 is minutes old).
	// Pruning to 5 removes the five oldest of them.
	keep := func(name string) []string {
		v := toks[name]
		return []string{v[1], v[6], v[7], v[8], v[9]}
	}
	pruned := func(name string) []string {
		v := toks[name]
		return []string{v[0], v[2], v[3], v[4], v[5]}
	}

	before := map[string]*secretstore.DescribeSecretOutput{}
	for _, name := range names {
		before[name] = rgDescribe(t, a, name)
	}
	clock.Advance(time.Minute)
	bEng := rgEngine(t, b, clock, secretstore.WithMaxVersions(5))

	get := rgGet(t, bEng, names[0], "")
	assert.Equal(t, toks[names[0]][9], get.VersionId)
	assert.Equal(t, keep(names[0]), rgIDs(rgListAll(t, a, names[0], 100)), "GetSecretValue on the 5-version engine prunes to 5")

	list, err := bEng.ListSecretVersionIds(ctx, &secretstore.ListSecretVersionIdsInput{SecretId: names[1], IncludeDeprecated: true})
	require.NoError(t, err)
	var listed []string
	for _, v := range list.Versions {
		listed = append(listed, v.VersionId)
	}
	assert.Equal(t, keep(names[1]), listed, "ListSecretVersionIds on the 5-version engine prunes to 5 and lists the result")

	for _, name := range names {
		assert.Equal(t, keep(name), rgIDs(rgListAll(t, a, name, 2)))
		assert.Equal(t, keep(name), rgIDs(rgListAll(t, bEng, name, 2)))
		after := rgDescribe(t, bEng, name)
		rgSameTime(t, before[name].LastChangedDate, after.LastChangedDate, "LastChangedDate after lazy pruning of "+name)
		assert.Equal(t, before[name].VersionIdsToStages, after.VersionIdsToStages, "pruning never touches labels")
		for _, id := range keep(name) {
			assert.Equal(t, rgValue(id), rgGet(t, a, name, id).SecretString)
		}
		for _, id := range pruned(name) {
			_, err := bEng.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: name, VersionId: id})
			rgRequireCode(t, err, secretstore.ErrResourceNotFound, "")
		}
	}
	// The pruned versions' blobs are gone: Sweep finds no orphan.
	clock.Advance(2 * time.Hour)
	swept, err := bEng.Sweep(ctx, time.Minute)
	require.NoError(t, err)
	assert.Zero(t, swept, "lazy pruning left orphan blobs")
}

// countingKeys embeds *secretstore.LocalKeys and counts the calls of its
// own WrapKey and UnwrapKey, as a user's metering or auditing wrapper
// would.
type countingKeys struct {
	*secretstore.LocalKeys
	wraps, unwraps atomic.Int64
}

func (k *countingKeys) WrapKey(ctx context.Context, keyID string, dek, aad []byte) (secretstore.WrappedKey, error) {
	k.wraps.Add(1)
	return k.LocalKeys.WrapKey(ctx, keyID, dek, aad)
}

func (k *countingKeys) UnwrapKey(ctx context.Context, w secretstore.WrappedKey, aad []byte) ([]byte, error) {
	k.unwraps.Add(1)
	return k.LocalKeys.UnwrapKey(ctx, w, aad)
}

// A Keys that embeds LocalKeys (or Keyring) has its own WrapKey and
// UnwrapKey called for every value written and read: the engine's fast
// paths for its own Keys types do not bypass a wrapper.
func TestRegressionKeysWrapperCalled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lk, err := secretstore.NewLocalKeys(make([]byte, 32))
	require.NoError(t, err)
	keys := &countingKeys{LocalKeys: lk}
	e, err := secretstore.New(membackend.New(), secretstore.WithKeys(keys))
	require.NoError(t, err)
	v := "value"
	_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "s", SecretString: &v})
	require.NoError(t, err)
	_, err = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "s", SecretString: &v})
	require.NoError(t, err)
	out, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "s"})
	require.NoError(t, err)
	assert.Equal(t, v, out.SecretString)
	assert.Equal(t, int64(2), keys.wraps.Load(), "WrapKey calls")
	assert.Equal(t, int64(1), keys.unwraps.Load(), "UnwrapKey calls")
}
