package secretstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore/backend/membackend"
)

// TestCacheOtherRegions checks that an engine that loads records of other
// regions (as rewrapping and key counting do) keeps them apart from its own
// secrets of the same name in its cache, whatever the length of the
// region names.
func TestCacheOtherRegions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := membackend.New()
	engines := map[string]*Engine{}
	for _, region := range []string{"us-east-1", "us-west-2", "eu-central-1", "ap-x"} {
		e, err := New(b, WithRegion(region))
		require.NoError(t, err)
		engines[region] = e
		v := "value in " + region
		_, err = e.CreateSecret(ctx, &CreateSecretInput{Name: "foo", SecretString: &v})
		require.NoError(t, err)
	}
	east := engines["us-east-1"]
	_, err := east.GetSecretValue(ctx, &GetSecretValueInput{SecretId: "foo"}) // cache east's foo
	require.NoError(t, err)
	for region := range engines {
		cur, err := east.load(ctx, "secret/"+region+"/foo")
		require.NoError(t, err, "load of %s's foo", region)
		assert.Contains(t, cur.meta.ARN, ":"+region+":", "load of %s's foo", region)
	}
	_, err = east.load(ctx, "secret/x")
	assert.ErrorIs(t, err, errNoSecret, "load of a key shorter than the engine's prefix")
	out, err := east.GetSecretValue(ctx, &GetSecretValueInput{SecretId: "foo"})
	require.NoError(t, err)
	assert.Equal(t, "value in us-east-1", out.SecretString)
}

// TestLayoutHint checks that the layout a write keeps for the next one (see
// layoutHint) is the one layoutOf finds: over many writes that append and
// prune versions, with chunks written and dropped and old versions' entries
// moved to the head by reads on a new day, the cached record's hint names
// exactly the versions whose entries are in the head and the live entries
// of every chunk, and an engine reading the record afresh sees the same
// versions.
func TestLayoutHint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := membackend.New()
	clock := NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	opts := []Option{WithClock(clock), WithMaxVersions(12), WithPruneAge(0), withChunkSize(3)}
	e, err := New(b, opts...)
	require.NoError(t, err)
	v := "value"
	_, err = e.CreateSecret(ctx, &CreateSecretInput{Name: "s", SecretString: &v})
	require.NoError(t, err)
	hinted := 0
	for i := range 200 {
		clock.Advance(time.Hour)
		out, err := e.PutSecretValue(ctx, &PutSecretValueInput{SecretId: "s", SecretString: &v})
		require.NoError(t, err)
		if i%7 == 3 {
			// Read the previous version: on a new day its entry moves to
			// the head, out of the order of creation.
			clock.Advance(24 * time.Hour)
			_, err := e.GetSecretValue(ctx, &GetSecretValueInput{SecretId: "s", VersionStage: LabelPrevious})
			require.NoError(t, err)
		}
		cur := e.cachedRecord(e.recordKey("s"))
		require.NotNil(t, cur)
		m := cur.meta
		chunks, tail := layoutOf(m.Versions, nil)
		if n, ok := m.knownLayout(); ok {
			hinted++
			assert.Equal(t, tail, m.Versions[len(m.Versions)-n:], "step %d: the hint's head entries", i)
			assert.ElementsMatch(t, chunks, m.chunks, "step %d: the hint's chunks", i)
		} else {
			assert.ElementsMatch(t, chunks, m.chunks, "step %d: chunks", i)
		}
		fresh, err := New(b, opts...)
		require.NoError(t, err)
		got, err := fresh.ListSecretVersionIds(ctx, &ListSecretVersionIdsInput{SecretId: "s", IncludeDeprecated: true})
		require.NoError(t, err)
		var ids []string
		for _, v := range got.Versions {
			ids = append(ids, v.VersionId)
		}
		var want []string
		for _, v := range m.Versions {
			want = append(want, v.ID)
		}
		assert.ElementsMatch(t, want, ids, "step %d: versions read afresh", i)
		assert.Contains(t, ids, out.VersionId, "step %d: the version just put, read afresh", i)
	}
	assert.Greater(t, hinted, 100, "writes that used the hint")
}

// TestSecretInfoShared checks the sharing of a secret's rarely changed
// fields between its copies (see secretMeta): a write that stores a value
// keeps the secretInfo of the copy it changed, every other change gives the
// new copy its own and leaves the old copy as it was, and the record each
// change writes, whose head repeats the secretInfo's cached encoding, holds
// the fields of the copy the engine keeps.
func TestSecretInfoShared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := membackend.New()
	clock := NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const lambda = "arn:aws:lambda:us-east-1:123456789012:function:rotate"
	noop := func(context.Context, Store, RotationRequest) error { return nil }
	e, err := New(b, WithClock(clock), WithRotationFunc(lambda, noop))
	require.NoError(t, err)
	v := "value"
	_, err = e.CreateSecret(ctx, &CreateSecretInput{Name: "s", Description: "first", SecretString: &v,
		Tags: []Tag{{Key: "k", Value: "v"}}})
	require.NoError(t, err)
	key := e.recordKey("s")
	desc := "second"
	days := int64(30)
	steps := []struct {
		name   string
		shared bool // the new copy keeps the old one's secretInfo
		op     func() error
	}{
		{"PutSecretValue", true, func() error {
			_, err := e.PutSecretValue(ctx, &PutSecretValueInput{SecretId: "s", SecretString: &v})
			return err
		}},
		{"UpdateSecret with a value", false, func() error {
			_, err := e.UpdateSecret(ctx, &UpdateSecretInput{SecretId: "s", SecretString: &v})
			return err
		}},
		{"UpdateSecret with a description and a value", false, func() error {
			_, err := e.UpdateSecret(ctx, &UpdateSecretInput{SecretId: "s", Description: &desc, SecretString: &v})
			return err
		}},
		{"TagResource", false, func() error {
			_, err := e.TagResource(ctx, &TagResourceInput{SecretId: "s", Tags: []Tag{{Key: "k2", Value: "v2"}}})
			return err
		}},
		{"UntagResource", false, func() error {
			_, err := e.UntagResource(ctx, &UntagResourceInput{SecretId: "s", TagKeys: []string{"k"}})
			return err
		}},
		{"GetSecretValue on a new day", false, func() error {
			clock.Advance(24 * time.Hour)
			_, err := e.GetSecretValue(ctx, &GetSecretValueInput{SecretId: "s"})
			return err
		}},
		{"RotateSecret", false, func() error {
			_, err := e.RotateSecret(ctx, &RotateSecretInput{SecretId: "s", RotationLambdaARN: lambda,
				RotationRules: &RotationRules{AutomaticallyAfterDays: &days}})
			return err
		}},
		{"CancelRotateSecret", false, func() error {
			_, err := e.CancelRotateSecret(ctx, &CancelRotateSecretInput{SecretId: "s"})
			return err
		}},
		{"PutSecretValue after the others", true, func() error {
			_, err := e.PutSecretValue(ctx, &PutSecretValueInput{SecretId: "s", SecretString: &v})
			return err
		}},
		{"DeleteSecret", false, func() error {
			_, err := e.DeleteSecret(ctx, &DeleteSecretInput{SecretId: "s"})
			return err
		}},
		{"RestoreSecret", false, func() error {
			_, err := e.RestoreSecret(ctx, &RestoreSecretInput{SecretId: "s"})
			return err
		}},
	}
	infoOf := func(s *secretMeta) secretInfo {
		c := *s.secretInfo
		c.enc = nil
		return c
	}
	for _, step := range steps {
		before := e.cachedRecord(key)
		require.NotNil(t, before, step.name)
		old := infoOf(before.meta)
		require.NoError(t, step.op(), step.name)
		after := e.cachedRecord(key)
		require.NotNil(t, after, step.name)
		require.NotSame(t, before.meta, after.meta, "%s: a new copy", step.name)
		assert.Equal(t, step.shared, before.meta.secretInfo == after.meta.secretInfo, "%s: secretInfo shared", step.name)
		assert.Equal(t, old, infoOf(before.meta), "%s: the old copy's fields changed", step.name)
		rec, err := b.GetRecord(ctx, key, 0)
		require.NoError(t, err)
		got, err := decodeRecord(rec.Data)
		require.NoError(t, err)
		assert.Equal(t, infoOf(after.meta), infoOf(got), "%s: the record's fields", step.name)
		assert.Equal(t, after.meta.LastChanged, got.LastChanged, "%s: the record's LastChanged", step.name)
	}
}
