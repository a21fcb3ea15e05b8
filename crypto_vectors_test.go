package secretstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore/backend/membackend"
)

// sealedVector is one fixed test vector of the sealed value format, in
// testdata/sealed-vectors.json. Keyring, when set, is a keyring record (as
// stored in a backend) that the value's data key is wrapped under;
// otherwise the data key is wrapped by LocalKeys over Master.
type sealedVector struct {
	Name      string `json:"name"`
	Format    int    `json:"format"`
	Master    string `json:"master"` // hex
	Keyring   string `json:"keyring,omitempty"`
	ARN       string `json:"arn"`
	VersionID string `json:"versionId"`
	Kind      byte   `json:"kind"`
	KeyID     string `json:"keyId"`
	Version   uint32 `json:"keyVersion"`
	Sealed    string `json:"sealed"`    // hex
	Plaintext string `json:"plaintext"` // hex
}

const vectorsFile = "testdata/sealed-vectors.json"

// TestSealedVectors opens fixed sealed values of both format versions, so
// that a change to the format or to the key derivation cannot go unnoticed:
// values users already stored must keep opening. With
// SECRETSTORE_WRITE_VECTORS=1 it writes the file instead (only ever done
// when a new format version is added; existing vectors never change).
func TestSealedVectors(t *testing.T) {
	if os.Getenv("SECRETSTORE_WRITE_VECTORS") == "1" {
		writeVectors(t)
	}
	data, err := os.ReadFile(vectorsFile)
	require.NoError(t, err)
	var vectors []sealedVector
	require.NoError(t, json.Unmarshal(data, &vectors))
	require.Len(t, vectors, 4, "vectors")
	ctx := t.Context()
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			keys := vectorKeys(t, v)
			sealedValue, err := hex.DecodeString(v.Sealed)
			require.NoError(t, err)
			s, err := parseSealed(sealedValue)
			require.NoError(t, err, "parseSealed")
			assert.Equal(t, byte(v.Format), s.format)
			assert.Equal(t, v.KeyID, s.key.KeyID)
			assert.Equal(t, v.Version, s.key.Version)
			aad := sealAAD(v.ARN, v.VersionID, v.Kind)
			plain, err := open(ctx, keys, aad, bytes.Clone(sealedValue), nil, true)
			require.NoError(t, err, "open")
			assert.Equal(t, v.Plaintext, hex.EncodeToString(plain))

			// Bound to its place: another version ID does not open it.
			_, err = open(ctx, keys, sealAAD(v.ARN, v.VersionID+"x", v.Kind), bytes.Clone(sealedValue), nil, true)
			assert.Error(t, err, "opened under another version ID")

			// A data key wrapped again opens the same sealed value.
			w, err := rewrapKey(ctx, keys, s.key, aad, nil, nil)
			require.NoError(t, err, "rewrapKey")
			plain, err = open(ctx, keys, aad, bytes.Clone(sealedValue), &w, true)
			require.NoError(t, err, "open with the rewrapped key")
			assert.Equal(t, v.Plaintext, hex.EncodeToString(plain))
		})
	}
}

// vectorKeys returns the Keys that v's data key is wrapped by.
func vectorKeys(t *testing.T, v sealedVector) Keys {
	t.Helper()
	master, err := hex.DecodeString(v.Master)
	require.NoError(t, err)
	if v.Keyring == "" {
		k, err := NewLocalKeys(master)
		require.NoError(t, err)
		return k
	}
	rec, err := hex.DecodeString(v.Keyring)
	require.NoError(t, err)
	b := membackend.New()
	t.Cleanup(func() { b.Close() })
	_, err = b.CreateRecord(t.Context(), keyringRecord, rec)
	require.NoError(t, err)
	m, err := MasterKeyFromBytes(master)
	require.NoError(t, err)
	kr, err := OpenKeyring(t.Context(), b, m)
	require.NoError(t, err, "OpenKeyring over the frozen keyring record")
	return kr
}

// writeVectors makes testdata/sealed-vectors.json.
func writeVectors(t *testing.T) {
	ctx := context.Background()
	master := bytes.Repeat([]byte{0x42}, 32)
	local, err := NewLocalKeys(master)
	require.NoError(t, err)
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:vector-AbCdEf"
	mk := func(name string, keys Keys, keyID, versionID string, kind byte, plaintext string) sealedVector {
		aad := sealAAD(arn, versionID, kind)
		out, err := seal(ctx, keys, keyID, aad, []byte(plaintext), nil)
		require.NoError(t, err)
		s, err := parseSealed(out)
		require.NoError(t, err)
		return sealedVector{Name: name, Format: 2, Master: hex.EncodeToString(master), ARN: arn, VersionID: versionID,
			Kind: kind, KeyID: s.key.KeyID, Version: s.key.Version, Sealed: hex.EncodeToString(out), Plaintext: hex.EncodeToString([]byte(plaintext))}
	}
	var vectors []sealedVector

	// Format 1: format 2 without the key version field.
	v1 := mk("format1-localkeys-default", local, "", "EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE", kindString, `{"user":"admin","password":"vector-one"}`)
	raw, _ := hex.DecodeString(v1.Sealed)
	n := 4 + len(v1.KeyID)
	old := append([]byte{sealVersion1, sealAESGCM}, raw[2:n]...)
	old = append(old, raw[n+4:]...)
	v1.Format, v1.Sealed = 1, hex.EncodeToString(old)
	vectors = append(vectors, v1)

	vectors = append(vectors, mk("format2-localkeys-alias", local, "alias/vector", "EXAMPLE2-90ab-cdef-fedc-ba987EXAMPLE", kindBinary, "\x00\x01binary\xff"))

	b := membackend.New()
	defer b.Close()
	m, err := MasterKeyFromBytes(master)
	require.NoError(t, err)
	kr, err := OpenKeyring(ctx, b, m)
	require.NoError(t, err)
	_, err = kr.CreateKey(ctx, "alias/vector", "test vector key")
	require.NoError(t, err)
	kv1 := mk("format2-keyring-version1", kr, "alias/vector", "EXAMPLE3-90ab-cdef-fedc-ba987EXAMPLE", kindString, "under key version 1")
	_, err = kr.RotateKey(ctx, "alias/vector")
	require.NoError(t, err)
	kv2 := mk("format2-keyring-version2", kr, "alias/vector", "EXAMPLE4-90ab-cdef-fedc-ba987EXAMPLE", kindString, "under key version 2")
	rec, err := b.GetRecord(ctx, keyringRecord, 0)
	require.NoError(t, err)
	kv1.Keyring, kv2.Keyring = hex.EncodeToString(rec.Data), hex.EncodeToString(rec.Data)
	vectors = append(vectors, kv1, kv2)

	out, err := json.MarshalIndent(vectors, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(vectorsFile), 0o755))
	require.NoError(t, os.WriteFile(vectorsFile, append(out, '\n'), 0o644))
}

// FuzzParseSealed checks that the sealed-format parser never panics, keeps
// every field within its bound, and that what it accepts in format 2 is
// exactly what the writer would produce for those fields.
func FuzzParseSealed(f *testing.F) {
	if data, err := os.ReadFile(vectorsFile); err == nil {
		var vectors []sealedVector
		if json.Unmarshal(data, &vectors) == nil {
			for _, v := range vectors {
				if b, err := hex.DecodeString(v.Sealed); err == nil {
					f.Add(b)
				}
			}
		}
	}
	f.Add([]byte{2, 1, 0, 0, 0, 0, 0, 1, 0, 0})
	f.Add([]byte{1, 1, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseSealed(b)
		if err != nil {
			return
		}
		if len(s.key.KeyID) > maxKeyIDLen || len(s.key.Ciphertext) > maxWrappedLen ||
			len(s.nonce) != gcmNonceSize || len(s.ciphertext) < gcmTagSize || len(s.ciphertext) > maxSealedValue {
			t.Fatalf("parsed fields out of bounds: key ID %d, wrapped %d, nonce %d, ciphertext %d",
				len(s.key.KeyID), len(s.key.Ciphertext), len(s.nonce), len(s.ciphertext))
		}
		if s.format == sealVersion2 {
			again := append(appendSealHeader(nil, s.key, s.nonce), s.ciphertext...)
			if !bytes.Equal(again, b) {
				t.Fatalf("re-encoding a parsed value differs from the input")
			}
		}
	})
}

// seal encrypts plaintext under a fresh data key wrapped by keys under
// keyID, and appends the sealed value to dst: sealWith with random bytes
// of its own, the engine's write path in one call.
func seal(ctx context.Context, keys Keys, keyID string, aad, plaintext, dst []byte) ([]byte, error) {
	var k keyScratch
	defer clear(k[:])
	rnd := k[:sealRandLen]
	if _, err := rand.Read(rnd); err != nil {
		return nil, err
	}
	return sealWith(ctx, keys, keyID, aad, plaintext, dst, rnd, k[sealRandLen:sealRandLen])
}

// open decrypts a sealed value: openTo without a buffer for the data key.
// If inPlace, the plaintext is written over b's ciphertext; otherwise it is
// a new slice. rewrapped, if not nil, takes the place of the data key in
// b's header.
func open(ctx context.Context, keys Keys, aad, b []byte, rewrapped *WrappedKey, inPlace bool) ([]byte, error) {
	return openTo(ctx, keys, aad, b, rewrapped, inPlace, nil)
}
