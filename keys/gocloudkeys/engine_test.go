package gocloudkeys_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/secrets"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend"
	"github.com/secretstore/secretstore/backend/membackend"
	"github.com/secretstore/secretstore/keys/gocloudkeys"
)

// twoKeys returns Keys serving the default key with one keeper and
// "alias/other" with another; other key IDs are unknown. open counts the
// calls per key ID.
type twoKeys struct {
	def, other *secrets.Keeper
	mu         sync.Mutex
	opens      map[string]int
}

func newTwoKeys(t *testing.T) *twoKeys {
	return &twoKeys{def: newKeeper(t), other: newKeeper(t), opens: map[string]int{}}
}

func (tk *twoKeys) open(_ context.Context, keyID string) (*secrets.Keeper, error) {
	tk.mu.Lock()
	tk.opens[keyID]++
	tk.mu.Unlock()
	switch keyID {
	case "":
		return tk.def, nil
	case "alias/other":
		return tk.other, nil
	}
	return nil, gocloudkeys.ErrUnknownKey
}

// keys returns Keys over open. The keepers belong to the test, which
// closes them, so the Keys is not closed.
func (tk *twoKeys) keys(t *testing.T, open gocloudkeys.OpenFunc) *gocloudkeys.Keys {
	t.Helper()
	keys, err := gocloudkeys.New(open)
	require.NoError(t, err, "New")
	return keys
}

func newEngine(t *testing.T, b backend.Backend, keys secretstore.Keys) *secretstore.Engine {
	t.Helper()
	e, err := secretstore.New(b, secretstore.WithKeys(keys))
	require.NoError(t, err, "secretstore.New")
	return e
}

// getValue reads one version of a secret ("" VersionId: AWSCURRENT).
func getValue(t *testing.T, e *secretstore.Engine, name, versionID string) (string, error) {
	t.Helper()
	out, err := e.GetSecretValue(t.Context(), &secretstore.GetSecretValueInput{SecretId: name, VersionId: versionID})
	if err != nil {
		return "", err
	}
	return out.SecretString, nil
}

// keyIDs returns the KmsKeyIds of every version of a secret by VersionId.
func keyIDs(t *testing.T, e *secretstore.Engine, name string) map[string]string {
	t.Helper()
	out, err := e.ListSecretVersionIds(t.Context(), &secretstore.ListSecretVersionIdsInput{SecretId: name, IncludeDeprecated: true})
	require.NoError(t, err, "ListSecretVersionIds")
	m := map[string]string{}
	for _, v := range out.Versions {
		require.Len(t, v.KmsKeyIds, 1, "KmsKeyIds")
		m[v.VersionId] = v.KmsKeyIds[0]
	}
	return m
}

// TestEngine runs an engine on gocloudkeys over two localsecrets keepers.
func TestEngine(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tk := newTwoKeys(t)
	b := membackend.New()
	e := newEngine(t, b, tk.keys(t, tk.open))

	// Secret "app" under the default key, with three versions: v3 is
	// AWSCURRENT, v2 AWSPREVIOUS, v1 has no label.
	values := map[string]string{"v1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": "one", "v2-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": "two", "v3-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": "three"}
	const v1, v2, v3 = "v1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "v2-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "v3-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "app", ClientRequestToken: v1, SecretString: new(values[v1])})
	require.NoError(t, err, "CreateSecret")
	for _, v := range []string{v2, v3} {
		_, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "app", ClientRequestToken: v, SecretString: new(values[v])})
		require.NoError(t, err, "PutSecretValue %s", v)
	}
	// Secret "db" under alias/other.
	_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "db", SecretString: new("db value"), KmsKeyId: "alias/other"})
	require.NoError(t, err, "CreateSecret db")

	readAll := func(t *testing.T, e *secretstore.Engine) {
		t.Helper()
		for id, want := range values {
			got, err := getValue(t, e, "app", id)
			if assert.NoError(t, err, "GetSecretValue app %s", id) {
				assert.Equal(t, want, got, "app %s", id)
			}
		}
		got, err := getValue(t, e, "app", "")
		if assert.NoError(t, err, "GetSecretValue app AWSCURRENT") {
			assert.Equal(t, "three", got, "app AWSCURRENT")
		}
		got, err = getValue(t, e, "db", "")
		if assert.NoError(t, err, "GetSecretValue db") {
			assert.Equal(t, "db value", got, "db")
		}
	}
	readAll(t, e)
	assert.Equal(t, map[string]string{v1: secretstore.DefaultKeyID, v2: secretstore.DefaultKeyID, v3: secretstore.DefaultKeyID}, keyIDs(t, e, "app"), "app keys before UpdateSecret")

	// UpdateSecret moves the labelled versions to alias/other.
	_, err = e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: "app", KmsKeyId: new("alias/other")})
	require.NoError(t, err, "UpdateSecret KmsKeyId")
	assert.Equal(t, map[string]string{v1: secretstore.DefaultKeyID, v2: "alias/other", v3: "alias/other"}, keyIDs(t, e, "app"), "app keys after UpdateSecret")
	readAll(t, e)

	// Proof that alias/other's keeper wraps them: an engine that cannot use
	// the default key reads v2, v3 and db, but not v1.
	noDefault := newEngine(t, b, tk.keys(t, func(ctx context.Context, keyID string) (*secrets.Keeper, error) {
		if keyID == "" {
			return nil, gocloudkeys.ErrUnknownKey
		}
		return tk.open(ctx, keyID)
	}))
	for _, id := range []string{v2, v3} {
		got, err := getValue(t, noDefault, "app", id)
		if assert.NoError(t, err, "without the default key: %s", id) {
			assert.Equal(t, values[id], got, "without the default key: %s", id)
		}
	}
	_, err = getValue(t, noDefault, "app", v1)
	assert.ErrorIs(t, err, secretstore.ErrDecryptionFailure, "without the default key: v1")

	// Rewrap wraps every data key again, and everything still reads.
	p, err := e.Rewrap(ctx, nil)
	require.NoError(t, err, "Rewrap")
	assert.Equal(t, secretstore.RewrapProgress{Secrets: 2, SecretsDone: 2, Versions: 4, Rewrapped: 4}, p, "Rewrap progress")
	readAll(t, e)
	p, err = e.Rewrap(ctx, nil)
	require.NoError(t, err, "second Rewrap")
	assert.Equal(t, 4, p.Rewrapped, "second Rewrap: non-versioned Keys re-wrap everything")
	readAll(t, e)

	// An unknown key fails as AWS fails with a KMS key it cannot use.
	_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "lost", SecretString: new("x"), KmsKeyId: "alias/missing"})
	assert.ErrorIs(t, err, secretstore.ErrEncryptionFailure, "CreateSecret with an unknown key")
	_, err = e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: "db", KmsKeyId: new("alias/missing")})
	assert.ErrorIs(t, err, secretstore.ErrEncryptionFailure, "UpdateSecret to an unknown key")
	_, err = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "db", SecretString: new("still fine")})
	assert.NoError(t, err, "PutSecretValue after the failed UpdateSecret")

	tk.mu.Lock()
	defer tk.mu.Unlock()
	// Once per Keys: e's, and noDefault's for alias/other.
	assert.Equal(t, 1, tk.opens[""], "opens of the default key")
	assert.Equal(t, 2, tk.opens["alias/other"], "opens of alias/other")
}

// TestEngineSwappedWrappedKeys swaps the wrapped data keys of two versions
// in the stored values: both fail to read with DecryptionFailure.
func TestEngineSwappedWrappedKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tk := newTwoKeys(t)
	b := membackend.New()
	e := newEngine(t, b, tk.keys(t, tk.open))
	out, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "app", SecretString: new("first")})
	require.NoError(t, err, "CreateSecret")
	first := out.VersionId
	_, err = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "app", SecretString: new("second")})
	require.NoError(t, err, "PutSecretValue")

	blobs, err := b.ListBlobs(ctx, "", 10)
	require.NoError(t, err, "ListBlobs")
	require.Len(t, blobs, 2, "blobs")
	data := make([][]byte, 2)
	for i, key := range blobs {
		data[i], err = b.GetBlob(ctx, key)
		require.NoError(t, err, "GetBlob")
	}
	swapped := [][]byte{withWrappedKey(t, data[0], data[1]), withWrappedKey(t, data[1], data[0])}
	for i, key := range blobs {
		require.NoError(t, b.DeleteBlob(ctx, key), "DeleteBlob")
		require.NoError(t, b.PutBlob(ctx, key, swapped[i]), "PutBlob")
	}

	for _, id := range []string{"", first} {
		_, err := getValue(t, e, "app", id)
		assert.ErrorIs(t, err, secretstore.ErrDecryptionFailure, "GetSecretValue %q", id)
	}
}

// withWrappedKey returns the sealed value dst (format 2, see secretstore's
// crypto.go) with the wrapped data key of src in place of its own.
func withWrappedKey(t *testing.T, dst, src []byte) []byte {
	t.Helper()
	split := func(b []byte) (head, wrapped, tail []byte) {
		require.GreaterOrEqual(t, len(b), 4, "sealed value")
		require.Equal(t, byte(2), b[0], "sealed format")
		p := 4 + int(binary.BigEndian.Uint16(b[2:])) + 4
		require.GreaterOrEqual(t, len(b), p+2, "sealed value")
		m := int(binary.BigEndian.Uint16(b[p:]))
		return b[:p], b[p+2 : p+2+m], b[p+2+m:]
	}
	head, own, tail := split(dst)
	_, other, _ := split(src)
	require.False(t, bytes.Equal(own, other), "the two wrapped keys are equal")
	out := append(bytes.Clone(head), 0, 0)
	binary.BigEndian.PutUint16(out[len(head):], uint16(len(other)))
	out = append(out, other...)
	return append(out, tail...)
}
