package secretstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/crypto/hkdf"
)

// Keys wraps and unwraps data keys under key-encryption keys, the way a KMS
// does. The engine seals every secret version with a fresh random data key
// and stores only the data key as wrapped by Keys, under the key the secret's
// KmsKeyId names ("" names the default key).
//
// aad is associated data that Unwrap must be given unchanged; it binds the
// wrapped key to the secret and version it protects. Implementations must be
// safe for concurrent use and must not keep dek or the returned slice.
type Keys interface {
	// WrapKey encrypts dek under the key named keyID.
	WrapKey(ctx context.Context, keyID string, dek, aad []byte) ([]byte, error)
	// UnwrapKey decrypts what WrapKey returned for the same keyID and aad.
	UnwrapKey(ctx context.Context, keyID string, wrapped, aad []byte) ([]byte, error)
}

// cryptoRand is the source of key material, nonces and blob keys. It is
// always crypto/rand: WithRand never changes it.
var cryptoRand io.Reader = rand.Reader

// DefaultKeyID is what ListSecretVersionIds reports in KmsKeyIds for a
// version sealed under the default key, as AWS does.
const DefaultKeyID = "DefaultEncryptionKey"

// LocalKeys is a Keys that derives one AES-256 key-encryption key per key ID
// from a 32-byte master key with HKDF-SHA256. Any key ID is accepted: it is
// meant for tests, development and stores whose master key is managed by the
// caller. The master key is the only secret; lose it and every value sealed
// under it is lost.
type LocalKeys struct {
	master [32]byte
	aeads  sync.Map // keyID -> cipher.AEAD
}

// NewLocalKeys returns a LocalKeys over master, which must be 32 bytes of
// uniformly random key material. The slice is copied.
func NewLocalKeys(master []byte) (*LocalKeys, error) {
	if len(master) != 32 {
		return nil, fmt.Errorf("secretstore: master key must be 32 bytes, got %d", len(master))
	}
	k := &LocalKeys{}
	copy(k.master[:], master)
	return k, nil
}

// newRandomLocalKeys returns LocalKeys under a random master key that lives
// only in memory: the default when New is given no WithKeys option.
func newRandomLocalKeys(r io.Reader) (*LocalKeys, error) {
	var m [32]byte
	if _, err := io.ReadFull(r, m[:]); err != nil {
		return nil, fmt.Errorf("secretstore: generating master key: %w", err)
	}
	k, err := NewLocalKeys(m[:])
	clear(m[:])
	return k, err
}

// String never shows key material.
func (k *LocalKeys) String() string { return "secretstore.LocalKeys{[redacted]}" }

// GoString never shows key material.
func (k *LocalKeys) GoString() string { return k.String() }

func (k *LocalKeys) aead(keyID string) (cipher.AEAD, error) {
	if a, ok := k.aeads.Load(keyID); ok {
		return a.(cipher.AEAD), nil
	}
	var kek [32]byte
	r := hkdf.New(sha256.New, k.master[:], nil, []byte("secretstore kek v1\x00"+keyID))
	if _, err := io.ReadFull(r, kek[:]); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(kek[:])
	clear(kek[:])
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	got, _ := k.aeads.LoadOrStore(keyID, a)
	return got.(cipher.AEAD), nil
}

// WrapKey implements Keys. The result is a 12-byte random nonce followed by
// the AES-GCM sealed data key.
func (k *LocalKeys) WrapKey(ctx context.Context, keyID string, dek, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, err := k.aead(keyID)
	if err != nil {
		return nil, err
	}
	out := make([]byte, a.NonceSize(), a.NonceSize()+len(dek)+a.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, err
	}
	return a.Seal(out, out, dek, aad), nil
}

// UnwrapKey implements Keys.
func (k *LocalKeys) UnwrapKey(ctx context.Context, keyID string, wrapped, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, err := k.aead(keyID)
	if err != nil {
		return nil, err
	}
	if len(wrapped) < a.NonceSize()+a.Overhead() {
		return nil, errors.New("secretstore: wrapped key too short")
	}
	return a.Open(nil, wrapped[:a.NonceSize()], wrapped[a.NonceSize():], aad)
}

// Sealed value format, version 1. Every version's value is stored as:
//
//	offset  size  field
//	0       1     format version, 1
//	1       1     AEAD: 1 = AES-256-GCM
//	2       2     n = length of the key ID, big endian, at most 2048
//	4       n     key ID the data key is wrapped under ("" = default key)
//	4+n     2     m = length of the wrapped data key, at most 1024
//	6+n     m     wrapped data key (opaque to the engine; see Keys)
//	6+n+m   12    nonce
//	18+n+m  rest  ciphertext and 16-byte tag, at most 65,536+16 bytes
//
// The associated data of both the value and the wrapped key is
// "secretstore/v1" 0x00 ARN 0x00 VersionId 0x00 kind, so a sealed value
// copied onto another secret or version, or relabelled as the other value
// kind, fails to open instead of yielding a value. Each data key seals
// exactly one value.
const (
	sealVersion1   = 1
	sealAESGCM     = 1
	maxKeyIDLen    = 2048
	maxWrappedLen  = 1024
	gcmNonceSize   = 12
	gcmTagSize     = 16
	maxSealedValue = maxValueLen + gcmTagSize
)

// Value kinds, as stored in version metadata and bound into the sealed
// value's associated data.
const (
	kindNone   byte = 0 // rotation placeholder: no value
	kindString byte = 1
	kindBinary byte = 2
)

// sealAAD returns the associated data binding a sealed value to its place.
func sealAAD(arn, versionID string, kind byte) []byte {
	aad := make([]byte, 0, len("secretstore/v1")+len(arn)+len(versionID)+4)
	aad = append(aad, "secretstore/v1\x00"...)
	aad = append(aad, arn...)
	aad = append(aad, 0)
	aad = append(aad, versionID...)
	aad = append(aad, 0, kind)
	return aad
}

// seal encrypts plaintext under a fresh data key wrapped by keys under keyID,
// and returns the sealed value in format version 1.
func seal(ctx context.Context, keys Keys, keyID string, aad, plaintext []byte) ([]byte, error) {
	if len(keyID) > maxKeyIDLen {
		return nil, errors.New("key ID too long")
	}
	var buf [32 + gcmNonceSize]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return nil, err
	}
	dek, nonce := buf[:32], buf[32:]
	defer clear(buf[:])
	wrapped, err := keys.WrapKey(ctx, keyID, dek, aad)
	if err != nil {
		return nil, err
	}
	if len(wrapped) > maxWrappedLen {
		return nil, fmt.Errorf("wrapped key is %d bytes, more than %d", len(wrapped), maxWrappedLen)
	}
	block, err := aes.NewCipher(dek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	n := 6 + len(keyID) + len(wrapped) + gcmNonceSize
	out := make([]byte, n, n+len(plaintext)+gcmTagSize)
	out[0], out[1] = sealVersion1, sealAESGCM
	binary.BigEndian.PutUint16(out[2:], uint16(len(keyID)))
	copy(out[4:], keyID)
	p := 4 + len(keyID)
	binary.BigEndian.PutUint16(out[p:], uint16(len(wrapped)))
	copy(out[p+2:], wrapped)
	copy(out[n-gcmNonceSize:], nonce)
	return gcm.Seal(out, nonce, plaintext, aad), nil
}

// sealed is a parsed sealed value; its slices alias the input.
type sealed struct {
	keyID      string
	wrapped    []byte
	nonce      []byte
	ciphertext []byte
}

var errMalformedSealed = errors.New("malformed sealed value")

// parseSealed parses a sealed value, checking every length against its bound.
func parseSealed(b []byte) (sealed, error) {
	if len(b) < 4 || b[0] != sealVersion1 || b[1] != sealAESGCM {
		return sealed{}, errMalformedSealed
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if n > maxKeyIDLen || len(b) < 6+n {
		return sealed{}, errMalformedSealed
	}
	keyID := string(b[4 : 4+n])
	p := 4 + n
	m := int(binary.BigEndian.Uint16(b[p:]))
	p += 2
	if m > maxWrappedLen || len(b) < p+m+gcmNonceSize+gcmTagSize {
		return sealed{}, errMalformedSealed
	}
	s := sealed{keyID: keyID, wrapped: b[p : p+m]}
	p += m
	s.nonce = b[p : p+gcmNonceSize]
	s.ciphertext = b[p+gcmNonceSize:]
	if len(s.ciphertext) > maxSealedValue {
		return sealed{}, errMalformedSealed
	}
	return s, nil
}

// open decrypts a sealed value. The plaintext is written over the input's
// ciphertext, so b must be a slice the caller owns and no longer needs.
func open(ctx context.Context, keys Keys, aad, b []byte) ([]byte, error) {
	s, err := parseSealed(b)
	if err != nil {
		return nil, err
	}
	dek, err := keys.UnwrapKey(ctx, s.keyID, s.wrapped, aad)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	if len(dek) != 32 {
		return nil, errMalformedSealed
	}
	block, err := aes.NewCipher(dek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return gcm.Open(s.ciphertext[:0], s.nonce, s.ciphertext, aad)
}

// equalValues compares two plaintexts in constant time for equal lengths.
func equalValues(a, b []byte) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare(a, b) == 1
}
