package secretstore_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend"
	"github.com/secretstore/secretstore/backend/membackend"
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

// rbEngines returns two engines with the same keys over one membackend:
// e through the wrapper b (made from the membackend), other directly, as an
// engine of another process would be.
func rbEngines[B backend.Backend](t *testing.T, wrap func(*membackend.Backend) B) (b B, e, other *secretstore.Engine) {
	t.Helper()
	mem := secMem(t)
	b = wrap(mem)
	keys := secretstore.WithKeys(secLocalKeys(t, secMaster(1)))
	return b, secNew(t, b, nil, keys), secNew(t, mem, nil, keys)
}

// TestGetSecretValueOneBackendCall checks the read path for backends that
// are RecordBlobGetters: with the secret cached, a Get is one combined call,
// and a change made through another engine (as in another process) is seen
// at once.
func TestGetSecretValueOneBackendCall(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p, e, other := rbEngines(t, func(mem *membackend.Backend) *pairBackend { return &pairBackend{Backend: mem} })

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

// putterBackend makes a backend a RecordBlobPutter with
// backend.PutRecordBlobInTurn. It counts the engine's PutBlob calls and remembers
// the blob key of each combined write; before a combined write it runs the
// hook set with beforeNext, once.
type putterBackend struct {
	backend.Backend
	blobPuts atomic.Int64

	mu       sync.Mutex
	tried    []string // blob keys of the combined writes, in order
	hook     func()
	failNext error // returned by the next combined write, which stores nothing
}

func (p *putterBackend) PutBlob(ctx context.Context, key string, data []byte) error {
	p.blobPuts.Add(1)
	return p.Backend.PutBlob(ctx, key, data)
}

func (p *putterBackend) PutRecordBlob(ctx context.Context, key string, revision uint64, data []byte, blobKey string, blob []byte) (uint64, error) {
	p.mu.Lock()
	p.tried = append(p.tried, blobKey)
	hook := p.hook
	p.hook = nil
	p.mu.Unlock()
	if hook != nil {
		hook()
	}
	p.mu.Lock()
	fail := p.failNext
	p.failNext = nil
	p.mu.Unlock()
	if fail != nil {
		return 0, fail
	}
	// The embedded backend's PutBlob, which blobPuts does not count.
	return backend.PutRecordBlobInTurn(ctx, p.Backend, key, revision, data, blobKey, blob)
}

func (p *putterBackend) beforeNext(hook func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hook = hook
}

func (p *putterBackend) combined() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.tried)
}

// TestValueWriteOneBackendCall checks the write path for backends that are
// RecordBlobPutters: a new value is stored with the record in one call,
// never with PutBlob, and leaves no blob behind that no record refers to.
func TestValueWriteOneBackendCall(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p, e, other := rbEngines(t, func(mem *membackend.Backend) *putterBackend { return &putterBackend{Backend: mem} })

	_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "s", SecretString: secretstore.String("one")})
	require.NoError(t, err)
	two := krPut(t, e, "s", "two")
	_, err = e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: "s", SecretString: secretstore.String("three")})
	require.NoError(t, err)
	krPut(t, e, "s", "pending", "AWSPENDING")

	assert.Zero(t, p.blobPuts.Load(), "values stored with PutBlob")
	assert.Len(t, p.combined(), 4, "combined writes: one per value written")
	assert.Equal(t, "three", krGet(t, other, "s", ""), "AWSCURRENT through another engine")
	assert.Equal(t, "two", krGet(t, other, "s", two))
	out, err := other.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "s", VersionStage: "AWSPENDING"})
	require.NoError(t, err)
	assert.Equal(t, "pending", out.SecretString)
	n, err := other.Sweep(ctx, 0)
	require.NoError(t, err)
	assert.Zero(t, n, "blobs no record refers to")
}

// TestValueWriteOneBackendCallLostRace checks a combined write that loses
// its compare-and-swap to another engine: nothing of it is stored, the
// retry stores the same sealed blob under the same key, and a retry that
// finds its own token already written (the other engine made the same
// call) stores no blob at all.
func TestValueWriteOneBackendCallLostRace(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p, e, other := rbEngines(t, func(mem *membackend.Backend) *putterBackend { return &putterBackend{Backend: mem} })
	_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "s", SecretString: secretstore.String("v0")})
	require.NoError(t, err)
	sweep := func(msg string) {
		t.Helper()
		n, err := other.Sweep(ctx, 0)
		require.NoError(t, err)
		assert.Zero(t, n, "blobs no record refers to, %s", msg)
	}

	// PutSecretValue from a cached copy that another engine made stale.
	p.beforeNext(func() { krPut(t, other, "s", "from other") })
	before := len(p.combined())
	out, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "s", ClientRequestToken: secTok(1), SecretString: secretstore.String("from e")})
	require.NoError(t, err)
	tried := p.combined()[before:]
	require.Len(t, tried, 2, "combined writes: the one that lost and its retry")
	assert.Equal(t, tried[0], tried[1], "the retry stores the blob sealed for the first attempt")
	assert.Equal(t, "from e", krGet(t, other, "s", ""))
	prev, err := other.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "s", VersionStage: "AWSPREVIOUS"})
	require.NoError(t, err)
	assert.Equal(t, "from other", prev.SecretString, "AWSPREVIOUS")
	assert.Equal(t, secTok(1), out.VersionId)
	sweep("after a retried Put")

	// UpdateSecret whose token the other engine wrote meanwhile, with the
	// same value: the retry is a replay, and changes the description only.
	p.beforeNext(func() {
		_, err := other.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "s", ClientRequestToken: secTok(2), SecretString: secretstore.String("same")})
		require.NoError(t, err)
	})
	before = len(p.combined())
	_, err = e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: "s", ClientRequestToken: secTok(2), SecretString: secretstore.String("same"), Description: secretstore.String("described")})
	require.NoError(t, err)
	assert.Len(t, p.combined()[before:], 1, "combined writes: the first attempt only")
	assert.Equal(t, "same", krGet(t, other, "s", secTok(2)))
	desc, err := other.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: "s"})
	require.NoError(t, err)
	assert.Equal(t, "described", desc.Description)
	sweep("after a retry that found its token written")
}

// TestValueWriteOneBackendCallBlobKeyTaken checks a combined write that
// fails with ErrExists on an update, which can only mean that its blob key
// is taken: the retry seals the value under a new key instead of sending the
// same one until the engine gives up.
func TestValueWriteOneBackendCallBlobKeyTaken(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p, e, other := rbEngines(t, func(mem *membackend.Backend) *putterBackend { return &putterBackend{Backend: mem} })
	_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "s", SecretString: secretstore.String("v0")})
	require.NoError(t, err)

	p.mu.Lock()
	p.failNext = backend.ErrExists
	p.mu.Unlock()
	before := len(p.combined())
	krPut(t, e, "s", "v1")
	tried := p.combined()[before:]
	require.Len(t, tried, 2, "combined writes: the one refused and its retry")
	assert.NotEqual(t, tried[0], tried[1], "the retry's blob key")
	assert.Equal(t, "v1", krGet(t, other, "s", ""))
	n, err := other.Sweep(ctx, 0)
	require.NoError(t, err)
	assert.Zero(t, n, "blobs no record refers to")
}
