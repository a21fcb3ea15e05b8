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
		_ = out
	}
	assert.Greater(t, hinted, 100, "writes that used the hint")
}
