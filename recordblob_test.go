package secretstore_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend"
)

// pairBackend makes a backend a RecordBlobGetter by calling GetRecord and
// GetBlob in turn, and counts the combined calls.
type pairBackend struct {
	backend.Backend
	pairs atomic.Int64
}

func (p *pairBackend) GetRecordBlob(ctx context.Context, key string, known uint64, blobKey string) (backend.Record, []byte, error) {
	p.pairs.Add(1)
	rec, err := p.GetRecord(ctx, key, known)
	if err != nil || rec.Data != nil || rec.Revision != known {
		return rec, nil, err
	}
	blob, err := p.GetBlob(ctx, blobKey)
	if errors.Is(err, backend.ErrNotFound) {
		return rec, nil, nil
	}
	return rec, blob, err
}

// TestGetSecretValueOneBackendCall checks the read path for backends that
// are RecordBlobGetters: with the secret cached, a Get is one combined call,
// and a change made through another engine (as in another process) is seen
// at once.
func TestGetSecretValueOneBackendCall(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	mem := secMem(t)
	p := &pairBackend{Backend: mem}
	keys := secretstore.WithKeys(secLocalKeys(t, secMaster(1)))
	e := secNew(t, p, nil, keys)
	other := secNew(t, mem, nil, keys)

	_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "s", SecretString: secretstore.String("one")})
	require.NoError(t, err)
	prev := krPut(t, e, "s", "two")
	for range 3 {
		assert.Equal(t, "two", krGet(t, e, "s", ""))
	}
	assert.Equal(t, int64(3), p.pairs.Load(), "cached Gets each made one combined call")

	krPut(t, other, "s", "three")
	assert.Equal(t, "three", krGet(t, e, "s", ""), "a change through another engine")
	assert.Equal(t, "two", krGet(t, e, "s", prev), "AWSPREVIOUS by VersionId")
	out, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "s", VersionStage: "AWSPREVIOUS"})
	require.NoError(t, err)
	assert.Equal(t, "two", out.SecretString)

	_, err = other.DeleteSecret(ctx, &secretstore.DeleteSecretInput{SecretId: "s", ForceDeleteWithoutRecovery: true})
	require.NoError(t, err)
	_, err = e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "s"})
	assert.ErrorIs(t, err, secretstore.ErrResourceNotFound, "a secret deleted through another engine")
}

// TestPutSecretValueStaleCache checks PutSecretValue, which writes from the
// engine's cached copy of a secret without reading it first, when another
// engine over the same backend (as in another process) changed the secret
// since: the answer is always the one a fresh read gives.
func TestPutSecretValueStaleCache(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	mem := secMem(t)
	keys := secretstore.WithKeys(secLocalKeys(t, secMaster(1)))
	e, other := secNew(t, mem, nil, keys), secNew(t, mem, nil, keys)
	put := func(e *secretstore.Engine, token, value string) (*secretstore.PutSecretValueOutput, error) {
		return e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "s", ClientRequestToken: token, SecretString: &value})
	}
	_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "s", SecretString: secretstore.String("v0")})
	require.NoError(t, err)
	krGet(t, e, "s", "") // e caches the secret

	// Another engine writes: e's write conflicts, and is made again on top.
	_, err = put(other, secTok(1), "from other")
	require.NoError(t, err)
	_, err = put(e, secTok(2), "from e")
	require.NoError(t, err)
	assert.Equal(t, "from e", krGet(t, other, "s", ""))
	assert.Equal(t, "from other", krGet(t, other, "s", secTok(1)), "the other engine's version")

	// A retry of the other engine's write, through e: the same version.
	krGet(t, e, "s", "")
	_, err = put(other, secTok(3), "retried")
	require.NoError(t, err)
	out, err := put(e, secTok(3), "retried")
	require.NoError(t, err, "an idempotent retry through a stale cache")
	assert.Equal(t, secTok(3), out.VersionId)
	_, err = put(e, secTok(3), "another value")
	assert.ErrorIs(t, err, secretstore.ErrResourceExists, "the same token with another value")

	// Scheduled for deletion elsewhere: refused; restored elsewhere: accepted.
	_, err = other.DeleteSecret(ctx, &secretstore.DeleteSecretInput{SecretId: "s"})
	require.NoError(t, err)
	_, err = put(e, secTok(4), "while deleted")
	assert.ErrorIs(t, err, secretstore.ErrInvalidRequest, "a secret scheduled for deletion through another engine")
	_, err = other.RestoreSecret(ctx, &secretstore.RestoreSecretInput{SecretId: "s"})
	require.NoError(t, err)
	_, err = put(e, secTok(5), "after restore")
	require.NoError(t, err, "e's cache still says scheduled for deletion")
	assert.Equal(t, "after restore", krGet(t, other, "s", ""))

	// Deleted for good elsewhere: not found.
	_, err = other.DeleteSecret(ctx, &secretstore.DeleteSecretInput{SecretId: "s", ForceDeleteWithoutRecovery: true})
	require.NoError(t, err)
	_, err = put(e, secTok(6), "after delete")
	assert.ErrorIs(t, err, secretstore.ErrResourceNotFound)
}
