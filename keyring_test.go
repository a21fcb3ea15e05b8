package secretstore_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend"
	"github.com/secretstore/secretstore/backend/membackend"
)

// cheapArgon2 keeps passphrase tests fast; real stores use the defaults.
var cheapArgon2 = secretstore.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

func krMaster(t *testing.T, seed byte) secretstore.MasterKey {
	t.Helper()
	m, err := secretstore.MasterKeyFromBytes(secMaster(seed))
	require.NoError(t, err, "MasterKeyFromBytes")
	return m
}

func krOpen(t *testing.T, b backend.Backend, m secretstore.MasterKey) *secretstore.Keyring {
	t.Helper()
	kr, err := secretstore.OpenKeyring(t.Context(), b, m)
	require.NoError(t, err, "OpenKeyring")
	t.Cleanup(func() { kr.Close() })
	return kr
}

func krEngine(t *testing.T, b backend.Backend, kr *secretstore.Keyring, opts ...secretstore.Option) *secretstore.Engine {
	t.Helper()
	return secNew(t, b, nil, append([]secretstore.Option{secretstore.WithKeys(kr)}, opts...)...)
}

func krPut(t *testing.T, e *secretstore.Engine, id, value string, stages ...string) string {
	t.Helper()
	out, err := e.PutSecretValue(t.Context(), &secretstore.PutSecretValueInput{SecretId: id, SecretString: &value, VersionStages: stages})
	require.NoError(t, err, "PutSecretValue(%s)", id)
	return out.VersionId
}

func krGet(t *testing.T, e *secretstore.Engine, id, versionID string) string {
	t.Helper()
	out, err := e.GetSecretValue(t.Context(), &secretstore.GetSecretValueInput{SecretId: id, VersionId: versionID})
	require.NoError(t, err, "GetSecretValue(%s, %s)", id, versionID)
	return out.SecretString
}

func krUsage(t *testing.T, e *secretstore.Engine) map[secretstore.KeyVersionRef]int {
	t.Helper()
	u, err := e.KeyUsage(t.Context())
	require.NoError(t, err, "KeyUsage")
	return u
}

func TestKeyringMasterKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	t.Run("ReopenWithSameKey", func(t *testing.T) {
		b := secMem(t)
		e := krEngine(t, b, krOpen(t, b, krMaster(t, 1)))
		_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "app", SecretString: secretstore.String("v1")})
		require.NoError(t, err)
		again := krEngine(t, b, krOpen(t, b, krMaster(t, 1)))
		assert.Equal(t, "v1", krGet(t, again, "app", ""))
	})

	t.Run("WrongKey", func(t *testing.T) {
		b := secMem(t)
		krOpen(t, b, krMaster(t, 1))
		kr, err := secretstore.OpenKeyring(ctx, b, krMaster(t, 2))
		assert.ErrorIs(t, err, secretstore.ErrWrongMasterKey)
		assert.Nil(t, kr, "a keyring that did not open")
	})

	t.Run("Passphrase", func(t *testing.T) {
		b := secMem(t)
		right, err := secretstore.MasterKeyFromPassphrase([]byte("correct horse battery staple"), cheapArgon2)
		require.NoError(t, err)
		e := krEngine(t, b, krOpen(t, b, right))
		_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "app", SecretString: secretstore.String("v1")})
		require.NoError(t, err)

		// The stored salt and parameters apply, whatever the opener asks.
		again, err := secretstore.MasterKeyFromPassphrase([]byte("correct horse battery staple"), secretstore.Argon2Params{Time: 2, MemoryKiB: 128, Threads: 2})
		require.NoError(t, err)
		assert.Equal(t, "v1", krGet(t, krEngine(t, b, krOpen(t, b, again)), "app", ""))

		wrong, err := secretstore.MasterKeyFromPassphrase([]byte("correct horse battery stapler"), cheapArgon2)
		require.NoError(t, err)
		_, err = secretstore.OpenKeyring(ctx, b, wrong)
		assert.ErrorIs(t, err, secretstore.ErrWrongMasterKey)

		_, err = secretstore.OpenKeyring(ctx, b, krMaster(t, 1))
		assert.ErrorContains(t, err, "sealed under a passphrase", "a key for a passphrase keyring")
	})

	t.Run("KeyForPassphraseKeyring", func(t *testing.T) {
		b := secMem(t)
		krOpen(t, b, krMaster(t, 1))
		p, err := secretstore.MasterKeyFromPassphrase([]byte("pass"), cheapArgon2)
		require.NoError(t, err)
		_, err = secretstore.OpenKeyring(ctx, b, p)
		assert.ErrorContains(t, err, "sealed under a master key")
	})

	t.Run("NoMasterKey", func(t *testing.T) {
		_, err := secretstore.OpenKeyring(ctx, secMem(t), secretstore.MasterKey{})
		assert.ErrorContains(t, err, "no master key")
	})

	t.Run("Damaged", func(t *testing.T) {
		b := secMem(t)
		kr := krOpen(t, b, krMaster(t, 1))
		_, err := kr.CreateKey(ctx, "alias/app", "")
		require.NoError(t, err)
		rec, err := b.GetRecord(ctx, "keyring", 0)
		require.NoError(t, err)
		for _, i := range []int{0, 5, 10, 22, 40, len(rec.Data) - 1} {
			data := append([]byte(nil), rec.Data...)
			data[i] ^= 1
			cur, err := b.GetRecord(ctx, "keyring", 0)
			require.NoError(t, err)
			_, err = b.UpdateRecord(ctx, "keyring", cur.Revision, data)
			require.NoError(t, err)
			got, err := secretstore.OpenKeyring(ctx, b, krMaster(t, 1))
			assert.Error(t, err, "byte %d flipped", i)
			assert.Nil(t, got, "byte %d flipped", i)
		}
	})

	t.Run("FromBytes", func(t *testing.T) {
		_, err := secretstore.MasterKeyFromBytes(make([]byte, 31))
		assert.ErrorContains(t, err, "must be 32 bytes, got 31")
	})

	t.Run("FromFile", func(t *testing.T) {
		dir := t.TempDir()
		_, err := secretstore.MasterKeyFromFile(filepath.Join(dir, "missing.key"))
		assert.ErrorIs(t, err, os.ErrNotExist, "missing file")

		short := filepath.Join(dir, "short.key")
		require.NoError(t, os.WriteFile(short, make([]byte, 16), 0o600))
		_, err = secretstore.MasterKeyFromFile(short)
		assert.ErrorContains(t, err, "16", "short file")

		path := filepath.Join(dir, "master.key")
		key, created, err := secretstore.LoadKeyFile(path, true)
		require.NoError(t, err)
		require.True(t, created)
		m, err := secretstore.MasterKeyFromFile(path)
		require.NoError(t, err)
		b := secMem(t)
		krOpen(t, b, m)
		same, err := secretstore.MasterKeyFromBytes(key)
		require.NoError(t, err)
		krOpen(t, b, same)
	})

	t.Run("Redacted", func(t *testing.T) {
		raw := secMaster(3)
		m, err := secretstore.MasterKeyFromBytes(raw)
		require.NoError(t, err)
		p, err := secretstore.MasterKeyFromPassphrase([]byte("hunter2-passphrase"), cheapArgon2)
		require.NoError(t, err)
		kr := krOpen(t, secMem(t), m)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d", "%q"} {
			for _, v := range []any{m, p, kr, &m, secLocalKeys(t, raw)} {
				out := fmt.Sprintf(verb, v)
				assert.NotContains(t, out, "hunter2", "%s of %T", verb, v)
				assert.NotContains(t, out, fmt.Sprintf("%x", raw[:8]), "%s of %T", verb, v)
				assert.NotContains(t, out, fmt.Sprint(raw[:8]), "%s of %T", verb, v)
			}
		}
	})
}

// TestMasterKeyFromEnv cannot run in parallel: it sets the environment.
func TestMasterKeyFromEnv(t *testing.T) {
	const name = "SECRETSTORE_TEST_MASTER_KEY"
	t.Setenv(name, "")
	_, err := secretstore.MasterKeyFromEnv(name)
	assert.ErrorContains(t, err, name+" is not set")

	t.Setenv(name, "not base64 at all!")
	_, err = secretstore.MasterKeyFromEnv(name)
	assert.ErrorContains(t, err, "not valid base64")
	assert.NotContains(t, err.Error(), "at all", "the value in the error")

	t.Setenv(name, base64.StdEncoding.EncodeToString(make([]byte, 16)))
	_, err = secretstore.MasterKeyFromEnv(name)
	assert.ErrorContains(t, err, "holds 16 bytes, want 32")

	t.Setenv(name, base64.StdEncoding.EncodeToString(secMaster(1))+"\n")
	m, err := secretstore.MasterKeyFromEnv(name)
	require.NoError(t, err)
	b := secMem(t)
	krOpen(t, b, m)
	krOpen(t, b, krMaster(t, 1)) // the same key
}

func TestKeyringKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := secMem(t)
	kr := krOpen(t, b, krMaster(t, 1))
	e := krEngine(t, b, kr)

	keys, err := kr.ListKeys(ctx)
	require.NoError(t, err)
	assert.Empty(t, keys, "keys before first use")

	// The default key is made on first use.
	_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "plain", SecretString: secretstore.String("p")})
	require.NoError(t, err)
	def, err := kr.DescribeKey(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, []string{secretstore.DefaultKeyAlias}, def.Aliases)
	assert.Equal(t, uint32(1), def.PrimaryVersion)

	app, err := kr.CreateKey(ctx, "alias/app", "the app's key")
	require.NoError(t, err)
	_, err = kr.CreateKey(ctx, "alias/app", "")
	assert.ErrorIs(t, err, secretstore.ErrAliasExists)
	for _, bad := range []string{"app", "alias/", "alias/aws/mine", "alias/sp ace", "alias/" + strings.Repeat("a", 251)} {
		_, err = kr.CreateKey(ctx, bad, "")
		assert.ErrorContains(t, err, "alias", "CreateKey(%q)", bad)
	}

	// A key is addressed by ID, alias or ARN of either.
	forms := []string{
		app.KeyID,
		"alias/app",
		"arn:aws:kms:us-east-1:123456789012:key/" + app.KeyID,
		"arn:aws:kms:eu-west-1:123456789012:alias/app",
	}
	for i, form := range forms {
		name := fmt.Sprintf("form-%d", i)
		_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: name, KmsKeyId: form, SecretString: secretstore.String("v-" + name)})
		require.NoError(t, err, "CreateSecret with KmsKeyId %q", form)
		assert.Equal(t, "v-"+name, krGet(t, e, name, ""))
		d, err := e.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: name})
		require.NoError(t, err)
		assert.Equal(t, form, d.KmsKeyId, "Describe shows KmsKeyId as given")
		lv, err := e.ListSecretVersionIds(ctx, &secretstore.ListSecretVersionIdsInput{SecretId: name})
		require.NoError(t, err)
		require.Len(t, lv.Versions, 1)
		assert.Equal(t, []string{form}, lv.Versions[0].KmsKeyIds)
	}
	lv, err := e.ListSecretVersionIds(ctx, &secretstore.ListSecretVersionIdsInput{SecretId: "plain"})
	require.NoError(t, err)
	assert.Equal(t, []string{secretstore.DefaultKeyID}, lv.Versions[0].KmsKeyIds)

	u := krUsage(t, e)
	assert.Equal(t, len(forms), u[secretstore.KeyVersionRef{KeyID: app.KeyID, Version: 1}], "values under alias/app")
	assert.Equal(t, 1, u[secretstore.KeyVersionRef{KeyID: def.KeyID, Version: 1}], "values under the default key")

	// An unknown key: EncryptionFailure, and nothing is created.
	for _, unknown := range []string{"alias/nope", "0b1e5e0e-0000-4000-8000-000000000000", "arn:aws:kms:us-east-1:123456789012:key/nope", "arn:aws:s3:::bucket"} {
		_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "unknown", KmsKeyId: unknown, SecretString: secretstore.String("x")})
		assert.ErrorIs(t, err, secretstore.ErrEncryptionFailure, "CreateSecret with KmsKeyId %q", unknown)
		assert.ErrorIs(t, err, secretstore.ErrKeyNotFound, "CreateSecret with KmsKeyId %q", unknown)
		_, err = e.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: "unknown"})
		assert.ErrorIs(t, err, secretstore.ErrResourceNotFound, "a secret created despite the unknown key")
		_, err = e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: "plain", KmsKeyId: &unknown})
		assert.ErrorIs(t, err, secretstore.ErrEncryptionFailure, "UpdateSecret to KmsKeyId %q", unknown)
		lv, err := e.ListSecretVersionIds(ctx, &secretstore.ListSecretVersionIdsInput{SecretId: "plain"})
		require.NoError(t, err)
		assert.Equal(t, []string{secretstore.DefaultKeyID}, lv.Versions[0].KmsKeyIds, "the failed UpdateSecret changed the key")
	}
}

// TestKeyringUpdateSecretKmsKeyId checks SPEC §2.3 step 4 under a keyring:
// a key change moves the AWSCURRENT, AWSPREVIOUS and AWSPENDING versions to
// the new key and leaves the others where they were; all still decrypt.
func TestKeyringUpdateSecretKmsKeyId(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := secMem(t)
	kr := krOpen(t, b, krMaster(t, 1))
	e := krEngine(t, b, kr)
	other, err := kr.CreateKey(ctx, "alias/other", "")
	require.NoError(t, err)

	_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "s", SecretString: secretstore.String("v0")})
	require.NoError(t, err)
	ids := map[string]string{}
	for i := 1; i <= 4; i++ {
		ids[fmt.Sprintf("v%d", i)] = krPut(t, e, "s", fmt.Sprintf("v%d", i))
	}
	ids["pending"] = krPut(t, e, "s", "pending", "AWSPENDING")
	ids["custom"] = krPut(t, e, "s", "custom", "CUSTOM")
	// v4 AWSCURRENT, v3 AWSPREVIOUS; v0..v2 unlabelled.

	_, err = e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: "s", KmsKeyId: secretstore.String("alias/other")})
	require.NoError(t, err)

	lv, err := e.ListSecretVersionIds(ctx, &secretstore.ListSecretVersionIdsInput{SecretId: "s", IncludeDeprecated: true})
	require.NoError(t, err)
	byID := map[string][]string{}
	for _, v := range lv.Versions {
		byID[v.VersionId] = v.KmsKeyIds
	}
	for name, want := range map[string]string{"v4": "alias/other", "v3": "alias/other", "pending": "alias/other", "custom": secretstore.DefaultKeyID, "v2": secretstore.DefaultKeyID, "v1": secretstore.DefaultKeyID} {
		assert.Equal(t, []string{want}, byID[ids[name]], "KmsKeyIds of %s", name)
	}
	u := krUsage(t, e)
	assert.Equal(t, 3, u[secretstore.KeyVersionRef{KeyID: other.KeyID, Version: 1}], "values under alias/other")
	for name, id := range ids {
		assert.Equal(t, name, krGet(t, e, "s", id), "value of %s after the key change", name)
	}
}

// krFill makes n secrets in the engine's region with versions values each,
// some unlabelled, and returns the expected values by secret and version.
func krFill(t *testing.T, e *secretstore.Engine, prefix string, n, versions int, kmsKeyID string) map[string]map[string]string {
	t.Helper()
	want := map[string]map[string]string{}
	for i := range n {
		name := fmt.Sprintf("%s-%03d", prefix, i)
		value := name + "/0"
		out, err := e.CreateSecret(t.Context(), &secretstore.CreateSecretInput{Name: name, KmsKeyId: kmsKeyID, SecretString: &value})
		require.NoError(t, err)
		want[name] = map[string]string{out.VersionId: value}
		for j := 1; j < versions; j++ {
			value := fmt.Sprintf("%s/%d", name, j)
			want[name][krPut(t, e, name, value)] = value
		}
	}
	return want
}

func krCheck(t *testing.T, e *secretstore.Engine, want map[string]map[string]string) {
	t.Helper()
	for name, versions := range want {
		for id, value := range versions {
			assert.Equal(t, value, krGet(t, e, name, id), "%s version %s", name, id)
		}
	}
}

func TestKeyringRotateRewrapRetire(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := secMem(t)
	kr := krOpen(t, b, krMaster(t, 1))
	clock := secretstore.NewFakeClock(secEpoch)
	e := secNew(t, b, clock, secretstore.WithKeys(kr), secretstore.WithRegion("us-east-1"))
	west := secNew(t, b, clock, secretstore.WithKeys(kr), secretstore.WithRegion("eu-west-1"))
	app, err := kr.CreateKey(ctx, "alias/app", "")
	require.NoError(t, err)

	want := krFill(t, e, "east", 12, 7, "")
	wantWest := krFill(t, west, "west", 5, 4, "alias/app")
	_, err = e.DeleteSecret(ctx, &secretstore.DeleteSecretInput{SecretId: "east-003"})
	require.NoError(t, err, "DeleteSecret: a secret in its recovery window is rewrapped too")
	deleted := want["east-003"]
	delete(want, "east-003")
	def, err := kr.DescribeKey(ctx, "")
	require.NoError(t, err)
	total := 12*7 + 5*4

	rotDef, err := kr.RotateKey(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, uint32(2), rotDef.PrimaryVersion)
	rotApp, err := kr.RotateKey(ctx, "alias/app")
	require.NoError(t, err)
	assert.Equal(t, uint32(2), rotApp.PrimaryVersion)

	// New writes use the new versions; old ones still read.
	fresh := krPut(t, e, "east-000", "after rotation")
	want["east-000"][fresh] = "after rotation"
	total++
	u := krUsage(t, e)
	assert.Equal(t, 1, u[secretstore.KeyVersionRef{KeyID: def.KeyID, Version: 2}], "values under the new default version")
	krCheck(t, e, want)
	krCheck(t, west, wantWest)

	// Retiring is refused while a version wraps data keys, and always for
	// the primary version.
	err = kr.RetireKeyVersion(ctx, "", 1)
	assert.ErrorIs(t, err, secretstore.ErrKeyVersionInUse, "retire default v1 before Rewrap")
	assert.ErrorContains(t, err, "Rewrap")
	err = kr.RetireKeyVersion(ctx, "alias/app", 2)
	assert.ErrorIs(t, err, secretstore.ErrKeyVersionInUse, "retire the primary version")

	// An interrupted Rewrap (the context cancelled after 5 secrets) ...
	cctx, cancel := context.WithCancel(ctx)
	var seen []secretstore.RewrapProgress
	p, err := e.Rewrap(cctx, &secretstore.RewrapOptions{Progress: func(p secretstore.RewrapProgress) {
		seen = append(seen, p)
		if p.SecretsDone == 5 {
			cancel()
		}
	}})
	cancel()
	require.ErrorIs(t, err, context.Canceled, "interrupted Rewrap")
	assert.Equal(t, 17, p.Secrets)
	assert.Equal(t, 5, p.SecretsDone)
	firstPass := p.Rewrapped
	assert.Positive(t, firstPass)
	require.Len(t, seen, 5)
	for i, s := range seen {
		assert.Equal(t, i+1, s.SecretsDone, "progress %d", i)
	}
	krCheck(t, e, want)
	krCheck(t, west, wantWest)

	// ... resumes: only what is left is rewrapped.
	p, err = e.Rewrap(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, secretstore.RewrapProgress{Secrets: 17, SecretsDone: 17, Versions: total, Rewrapped: total - 1 - firstPass}, p)
	u = krUsage(t, e)
	assert.Equal(t, map[secretstore.KeyVersionRef]int{
		{KeyID: def.KeyID, Version: 2}: 12*7 + 1,
		{KeyID: app.KeyID, Version: 2}: 5 * 4,
	}, u, "key usage after Rewrap")
	krCheck(t, e, want)
	krCheck(t, west, wantWest)

	again, err := e.Rewrap(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, 0, again.Rewrapped, "a second Rewrap has nothing to do")

	require.NoError(t, kr.RetireKeyVersion(ctx, "", 1))
	require.NoError(t, kr.RetireKeyVersion(ctx, "alias/app", 1))
	md, err := kr.DescribeKey(ctx, app.KeyID)
	require.NoError(t, err)
	assert.True(t, md.Versions[0].Retired, "version 1 retired")
	krCheck(t, e, want)
	krCheck(t, west, wantWest)
	_, err = e.RestoreSecret(ctx, &secretstore.RestoreSecretInput{SecretId: "east-003"})
	require.NoError(t, err)
	want["east-003"] = deleted
	krCheck(t, e, want)

	// Two days later every read records its access date, rewriting the
	// version entries: the rewrapped data keys must stay with them.
	clock.Advance(48 * time.Hour)
	krCheck(t, e, want)
	krCheck(t, west, wantWest)
	krCheck(t, e, want)
	krCheck(t, west, wantWest)

	// The retirement is stored: a keyring opened afterwards has it too.
	reopened := krOpen(t, b, krMaster(t, 1))
	md, err = reopened.DescribeKey(ctx, "alias/app")
	require.NoError(t, err)
	assert.True(t, md.Versions[0].Retired)
	krCheck(t, krEngine(t, b, reopened), want)
}

// TestKeyringSharedByTwoOpeners checks that a rotation made through one
// Keyring applies to the next write through another over the same backend
// (as in another process), and that each reads what the other wrote.
func TestKeyringSharedByTwoOpeners(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := secMem(t)
	kr1 := krOpen(t, b, krMaster(t, 1))
	kr2 := krOpen(t, b, krMaster(t, 1))
	e1, e2 := krEngine(t, b, kr1), krEngine(t, b, kr2)

	_, err := e1.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "s", SecretString: secretstore.String("one")})
	require.NoError(t, err)
	assert.Equal(t, "one", krGet(t, e2, "s", ""), "e2 reads under the default key e1 made")

	app, err := kr2.CreateKey(ctx, "alias/app", "")
	require.NoError(t, err)
	_, err = e1.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "t", KmsKeyId: "alias/app", SecretString: secretstore.String("two")})
	require.NoError(t, err, "e1 uses a key kr2 created")

	_, err = kr2.RotateKey(ctx, "alias/app")
	require.NoError(t, err)
	krPut(t, e1, "t", "three")
	u := krUsage(t, e1)
	assert.Equal(t, 1, u[secretstore.KeyVersionRef{KeyID: app.KeyID, Version: 2}], "e1 wraps under the version kr2 made primary")
	assert.Equal(t, "three", krGet(t, e2, "t", ""))
}

// TestKeyringReadsLocalKeysStore checks the move from LocalKeys to a
// Keyring under the same master key: values written with LocalKeys still
// read, and Rewrap moves their data keys into the keyring.
func TestKeyringReadsLocalKeysStore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := secMem(t)
	old := secNew(t, b, nil, secretstore.WithKeys(secLocalKeys(t, secMaster(1))))
	want := krFill(t, old, "legacy", 3, 3, "")

	kr := krOpen(t, b, krMaster(t, 1))
	e := krEngine(t, b, kr)
	krCheck(t, e, want)
	p, err := e.Rewrap(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, 9, p.Rewrapped)
	def, err := kr.DescribeKey(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, map[secretstore.KeyVersionRef]int{{KeyID: def.KeyID, Version: 1}: 9}, krUsage(t, e))
	krCheck(t, e, want)

	// Another master key reads none of it.
	_, err = secretstore.OpenKeyring(ctx, b, krMaster(t, 2))
	assert.ErrorIs(t, err, secretstore.ErrWrongMasterKey)
}

// TestRewrapConcurrentWriters runs Rewrap while other goroutines write to
// the same secrets: nothing written is lost, and everything reads.
func TestRewrapConcurrentWriters(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := membackend.New()
	t.Cleanup(func() { b.Close() })
	kr := krOpen(t, b, krMaster(t, 1))
	e := krEngine(t, b, kr)
	want := krFill(t, e, "c", 8, 3, "")
	_, err := kr.RotateKey(ctx, "")
	require.NoError(t, err)

	type write struct{ name, id, value string }
	done := make(chan []write)
	go func() {
		var ws []write
		for i := range 40 {
			name := fmt.Sprintf("c-%03d", i%8)
			value := fmt.Sprintf("concurrent-%d", i)
			out, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: name, SecretString: &value})
			if err != nil {
				t.Errorf("PutSecretValue: %v", err)
				break
			}
			ws = append(ws, write{name, out.VersionId, value})
		}
		done <- ws
	}()
	_, err = e.Rewrap(ctx, nil)
	require.NoError(t, err)
	for _, w := range <-done {
		want[w.name][w.id] = w.value
	}
	_, err = e.Rewrap(ctx, nil)
	require.NoError(t, err)
	def, err := kr.DescribeKey(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, map[secretstore.KeyVersionRef]int{{KeyID: def.KeyID, Version: 2}: 8*3 + 40}, krUsage(t, e))
	krCheck(t, e, want)
	require.NoError(t, kr.RetireKeyVersion(ctx, "", 1))
	krCheck(t, e, want)
}

// TestKeyringRefusesWrongKeyForExistingValues checks that a store written
// before it had a keyring gets its keyring only from the master key its
// values are sealed under: a wrong key, or a passphrase, fails at open and
// leaves no keyring behind to lock the right key out.
func TestKeyringRefusesWrongKeyForExistingValues(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := secMem(t)
	old := secNew(t, b, nil, secretstore.WithKeys(secLocalKeys(t, secMaster(1))))
	want := krFill(t, old, "legacy", 2, 2, "")

	_, err := secretstore.OpenKeyring(ctx, b, krMaster(t, 2))
	assert.ErrorIs(t, err, secretstore.ErrWrongMasterKey, "another key")
	p, err := secretstore.MasterKeyFromPassphrase([]byte("pass"), cheapArgon2)
	require.NoError(t, err)
	_, err = secretstore.OpenKeyring(ctx, b, p)
	assert.ErrorIs(t, err, secretstore.ErrWrongMasterKey, "a passphrase")
	_, err = b.GetRecord(ctx, "keyring", 0)
	assert.ErrorIs(t, err, backend.ErrNotFound, "a refused open left a keyring")

	krCheck(t, krEngine(t, b, krOpen(t, b, krMaster(t, 1))), want)
}

// TestKeyringChangeMasterKey seals the keyring under a new master key: the
// old key no longer opens it, the new one reads everything, and an opener
// that still holds the old key finds out at its next write.
func TestKeyringChangeMasterKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := secMem(t)

	// Values from before the keyring block the change until Rewrap.
	old := secNew(t, b, nil, secretstore.WithKeys(secLocalKeys(t, secMaster(1))))
	want := krFill(t, old, "s", 2, 2, "")
	kr := krOpen(t, b, krMaster(t, 1))
	other := krOpen(t, b, krMaster(t, 1))
	e := krEngine(t, b, kr)
	err := kr.ChangeMasterKey(ctx, krMaster(t, 2))
	assert.ErrorContains(t, err, "run Rewrap first")
	_, err = e.Rewrap(ctx, nil)
	require.NoError(t, err)

	newMaster, err := secretstore.MasterKeyFromPassphrase([]byte("new passphrase"), cheapArgon2)
	require.NoError(t, err)
	require.NoError(t, kr.ChangeMasterKey(ctx, newMaster))
	want["s-000"][krPut(t, e, "s-000", "after the change")] = "after the change"
	krCheck(t, e, want)

	_, err = secretstore.OpenKeyring(ctx, b, krMaster(t, 1))
	assert.ErrorIs(t, err, secretstore.ErrWrongMasterKey, "the old master key")
	krCheck(t, krEngine(t, b, krOpen(t, b, newMaster)), want)

	_, err = krEngine(t, b, other).PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "s-001", SecretString: secretstore.String("x")})
	assert.ErrorIs(t, err, secretstore.ErrWrongMasterKey, "a keyring opened with the old key, writing")
}

// failingKeyringReads is a backend whose reads of the keyring record fail
// while fail is set.
type failingKeyringReads struct {
	backend.Backend
	fail bool
}

func (f *failingKeyringReads) GetRecord(ctx context.Context, key string, known uint64) (backend.Record, error) {
	if f.fail && key == "keyring" {
		return backend.Record{}, errors.New("connection reset")
	}
	return f.Backend.GetRecord(ctx, key, known)
}

// TestKeyringBackendFailureIsInternal checks that a backend failure while
// the keyring is read is reported as InternalServiceError, which callers
// retry, not as a key problem.
func TestKeyringBackendFailureIsInternal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	fb := &failingKeyringReads{Backend: secMem(t)}
	kr := krOpen(t, fb, krMaster(t, 1))
	e := krEngine(t, fb, kr)
	_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "s", SecretString: secretstore.String("v")})
	require.NoError(t, err)
	fb.fail = true
	_, err = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "s", SecretString: secretstore.String("w")})
	assert.ErrorIs(t, err, secretstore.ErrInternalService)
	assert.NotErrorIs(t, err, secretstore.ErrEncryptionFailure)
	fb.fail = false
	krPut(t, e, "s", "w")
}

// TestRewrapNamesUnusableKey checks that Rewrap over a value whose key the
// keyring lacks stops with an error naming the key.
func TestRewrapNamesUnusableKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := secMem(t)
	old := secNew(t, b, nil, secretstore.WithKeys(secLocalKeys(t, secMaster(1))))
	krFill(t, old, "k", 1, 1, "my-key")
	e := krEngine(t, b, krOpen(t, b, krMaster(t, 1)))
	_, err := e.Rewrap(ctx, nil)
	assert.ErrorIs(t, err, secretstore.ErrKeyNotFound)
	assert.ErrorContains(t, err, `"my-key"`)
}

// failingBlobReads is a backend whose blob reads fail with a storage error.
type failingBlobReads struct{ backend.Backend }

func (failingBlobReads) GetBlob(context.Context, string) ([]byte, error) {
	return nil, errors.New("connection reset")
}

// TestValueReadFailureIsInternal checks that a storage failure reading a
// value is InternalServiceError, which callers retry, while a value the
// backend does not have at all is DecryptionFailure.
func TestValueReadFailureIsInternal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := secMem(t)
	e := secNew(t, b, nil)
	_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "s", SecretString: secretstore.String("v")})
	require.NoError(t, err)
	_, err = secNew(t, failingBlobReads{b}, nil).GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "s"})
	assert.ErrorIs(t, err, secretstore.ErrInternalService)
}
