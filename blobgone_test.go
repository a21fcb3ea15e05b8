package secretstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend"
	"github.com/secretstore/secretstore/backend/membackend"
)

// gbBackend runs a hook, once, before the next GetBlob: there another
// engine changes the secret and deletes the blob about to be read, as a
// writer in another process can between an engine's record read and its
// blob read.
type gbBackend struct {
	backend.Backend
	mu   sync.Mutex
	hook func()
}

func (b *gbBackend) GetBlob(ctx context.Context, key string) ([]byte, error) {
	b.mu.Lock()
	hook := b.hook
	b.hook = nil
	b.mu.Unlock()
	if hook != nil {
		hook()
	}
	return b.Backend.GetBlob(ctx, key)
}

func (b *gbBackend) beforeNextRead(hook func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hook = hook
}

// TestReadWhileBlobReplaced checks reads and writes whose blob another
// engine deletes between the record read and the blob read (here by moving
// the secret to another key, which seals the labelled versions again and
// deletes their old blobs): the engine reads the record again and answers
// from it, instead of reporting the value as undecryptable.
func TestReadWhileBlobReplaced(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var mem *membackend.Backend
	gb, e, other := rbEngines(t, func(m *membackend.Backend) *gbBackend { mem = m; return &gbBackend{Backend: m} })
	_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "s", SecretString: secretstore.String("value")})
	require.NoError(t, err)
	rekey := func(key string) func() {
		return func() {
			_, err := other.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: "s", KmsKeyId: secretstore.String(key)})
			require.NoError(t, err, "UpdateSecret through the other engine")
		}
	}

	gb.beforeNextRead(rekey("alias/one"))
	out, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "s"})
	require.NoError(t, err, "GetSecretValue whose blob was replaced")
	assert.Equal(t, "value", out.SecretString)

	// UpdateSecret moving the secret to a key reads every labelled value.
	gb.beforeNextRead(rekey("alias/two"))
	_, err = e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: "s", KmsKeyId: secretstore.String("alias/three")})
	require.NoError(t, err, "UpdateSecret whose blob was replaced")
	desc, err := other.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: "s"})
	require.NoError(t, err)
	assert.Equal(t, "alias/three", desc.KmsKeyId)
	assert.Equal(t, "value", krGet(t, other, "s", ""))

	// A blob that is missing while the record does not change is what it
	// was: a value the backend does not have.
	blobs, err := mem.ListBlobs(ctx, "", 100)
	require.NoError(t, err)
	require.Len(t, blobs, 1, "the one value's blob")
	require.NoError(t, mem.DeleteBlob(ctx, blobs[0]))
	_, err = e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "s"})
	assert.ErrorIs(t, err, secretstore.ErrDecryptionFailure, "a blob that is gone for good")
}
