package secretstore

import (
	"context"
	"testing"

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
