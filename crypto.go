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
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/hkdf"
)

// Keys wraps and unwraps data keys under key-encryption keys, the way a KMS
// does. The engine seals every secret version with a fresh random data key
// and stores only the data key as wrapped by Keys, under the key the secret's
// KmsKeyId names ("" names the default key).
//
// aad is associated data that UnwrapKey must be given unchanged; it binds the
// wrapped key to the secret and version it protects. Implementations must be
// safe for concurrent use and must not keep dek, aad, the returned slice or
// the wrapped key's Ciphertext.
//
// [LocalKeys] and [Keyring] implement Keys in this package; the nested module
// keys/gocloudkeys adapts any gocloud.dev/secrets keeper (AWS KMS, Google
// Cloud KMS, Azure Key Vault, HashiCorp Vault).
type Keys interface {
	// WrapKey encrypts dek under the key that keyID names: a key ID, an
	// alias or an ARN, or "" for the default key.
	WrapKey(ctx context.Context, keyID string, dek, aad []byte) (WrappedKey, error)
	// UnwrapKey decrypts a key that WrapKey returned, given the same aad.
	UnwrapKey(ctx context.Context, key WrappedKey, aad []byte) ([]byte, error)
}

// WrappedKey is a data key encrypted under a key-encryption key, with what
// is needed to decrypt it again. It is stored, in the clear, next to the
// value the data key encrypts.
type WrappedKey struct {
	// KeyID is the ID of the key that wrapped the data key, in whatever form
	// UnwrapKey needs: Keyring reports the key's canonical ID even when
	// WrapKey was given an alias, so that moving the alias later does not
	// orphan the data key.
	KeyID string
	// Version is the version of that key, for Keys whose keys have numbered
	// versions ([Keyring]), or 0.
	Version uint32
	// Ciphertext is the wrapped data key, opaque to the engine.
	Ciphertext []byte
}

// VersionedKeys is implemented by Keys whose keys have numbered versions and
// a primary version that new data keys are wrapped under, such as Keyring.
// [Engine.Rewrap] uses it to leave alone data keys already wrapped under the
// primary version, which makes an interrupted Rewrap cheap to resume.
type VersionedKeys interface {
	Keys
	// PrimaryVersion returns the version WrapKey currently uses for the key
	// with the given ID (as WrappedKey.KeyID reports it).
	PrimaryVersion(ctx context.Context, keyID string) (uint32, error)
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
	def    cipher.AEAD // the default key's ("" key ID), derived by NewLocalKeys
	aeads  sync.Map    // keyID -> cipher.AEAD, for the other key IDs
}

// NewLocalKeys returns a LocalKeys over master, which must be 32 bytes of
// uniformly random key material. The slice is copied.
func NewLocalKeys(master []byte) (*LocalKeys, error) {
	if len(master) != 32 {
		return nil, fmt.Errorf("secretstore: master key must be 32 bytes, got %d", len(master))
	}
	k := &LocalKeys{}
	copy(k.master[:], master)
	def, err := k.derive("")
	if err != nil {
		return nil, err
	}
	k.def = def
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

// Format never shows key material, whatever the verb.
func (k *LocalKeys) Format(f fmt.State, verb rune) { formatRedacted(f, verb, k.String()) }

func (k *LocalKeys) aead(keyID string) (cipher.AEAD, error) {
	if keyID == "" && k.def != nil {
		return k.def, nil // every secret without a KmsKeyId: no lookup
	}
	if a, ok := k.aeads.Load(keyID); ok {
		return a.(cipher.AEAD), nil
	}
	a, err := k.derive(keyID)
	if err != nil {
		return nil, err
	}
	got, _ := k.aeads.LoadOrStore(keyID, a)
	return got.(cipher.AEAD), nil
}

// derive returns the AEAD of the key-encryption key of keyID, derived from
// the master key.
func (k *LocalKeys) derive(keyID string) (cipher.AEAD, error) {
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
	return cipher.NewGCM(block)
}

// WrapKey implements Keys. The ciphertext is a 12-byte random nonce
// followed by the AES-GCM sealed data key; the key ID is keyID as given and
// the version 0.
func (k *LocalKeys) WrapKey(ctx context.Context, keyID string, dek, aad []byte) (WrappedKey, error) {
	var nonce [gcmNonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return WrappedKey{}, err
	}
	return k.wrapKeyTo(ctx, keyID, dek, aad, nonce[:], nil)
}

// wrapKeyTo implements keysTo.
func (k *LocalKeys) wrapKeyTo(ctx context.Context, keyID string, dek, aad, nonce, dst []byte) (WrappedKey, error) {
	if err := ctx.Err(); err != nil {
		return WrappedKey{}, err
	}
	a, err := k.aead(keyID)
	if err != nil {
		return WrappedKey{}, err
	}
	ct, err := gcmWrapNonce(dst, a, nonce, dek, aad)
	if err != nil {
		return WrappedKey{}, err
	}
	return WrappedKey{KeyID: keyID, Ciphertext: ct}, nil
}

// UnwrapKey implements Keys.
func (k *LocalKeys) UnwrapKey(ctx context.Context, key WrappedKey, aad []byte) ([]byte, error) {
	return k.unwrapKeyTo(ctx, key, aad, nil)
}

// unwrapKeyTo implements keysTo.
func (k *LocalKeys) unwrapKeyTo(ctx context.Context, key WrappedKey, aad, dst []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if key.Version != 0 {
		return nil, fmt.Errorf("secretstore: LocalKeys has no key version %d", key.Version)
	}
	a, err := k.aead(key.KeyID)
	if err != nil {
		return nil, err
	}
	return gcmUnwrap(dst, a, key.Ciphertext, aad)
}

// keysTo is implemented by the Keys of this package ([LocalKeys],
// [Keyring]). Their methods are those of Keys, except that the caller
// provides the nonce of a wrap (random bytes it drew, perhaps together with
// others) and the arrays the results go into when they have room (dst), so
// that the engine's reads and writes allocate neither.
type keysTo interface {
	wrapKeyTo(ctx context.Context, keyID string, dek, aad, nonce, dst []byte) (WrappedKey, error)
	unwrapKeyTo(ctx context.Context, key WrappedKey, aad, dst []byte) ([]byte, error)
}

var (
	_ keysTo = (*LocalKeys)(nil)
	_ keysTo = (*Keyring)(nil)
)

// fastKeys returns keys as a keysTo if it is a *LocalKeys or a *Keyring,
// and otherwise nil. It checks the concrete type, not the interface: a
// type of another package that embeds one of them (to log or meter its
// calls, say) has the unexported methods too, and its own WrapKey and
// UnwrapKey must still be the ones called.
func fastKeys(keys Keys) keysTo {
	switch k := keys.(type) {
	case *LocalKeys:
		return k
	case *Keyring:
		return k
	}
	return nil
}

// gcmWrapTo seals dek under a with a random nonce, which it puts first,
// writing into dst's array if it has room.
func gcmWrapTo(dst []byte, a cipher.AEAD, dek, aad []byte) ([]byte, error) {
	var nonce [gcmNonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	return gcmWrapNonce(dst, a, nonce[:], dek, aad)
}

// gcmWrapNonce is gcmWrapTo with the nonce given: random bytes the caller
// drew for this wrap alone.
func gcmWrapNonce(dst []byte, a cipher.AEAD, nonce, dek, aad []byte) ([]byte, error) {
	if len(nonce) != a.NonceSize() {
		return nil, errors.New("secretstore: wrong nonce size")
	}
	out := append(slices.Grow(dst[:0], len(nonce)+len(dek)+a.Overhead()), nonce...)
	return a.Seal(out, out, dek, aad), nil
}

// gcmUnwrap opens what gcmWrap sealed, into dst's array if it has room.
func gcmUnwrap(dst []byte, a cipher.AEAD, wrapped, aad []byte) ([]byte, error) {
	ns := a.NonceSize()
	if len(wrapped) < ns+a.Overhead() {
		return nil, errors.New("secretstore: wrapped key too short")
	}
	return a.Open(dst[:0], wrapped[:ns], wrapped[ns:], aad)
}

// Sealed value format. Every version's value is stored as one blob:
//
//	offset  size  field
//	0       1     format version, 2
//	1       1     AEAD: 1 = AES-256-GCM
//	2       2     n = length of the key ID, big endian, at most 2048
//	4       n     ID of the key the data key is wrapped under (WrappedKey.KeyID)
//	4+n     4     version of that key, big endian (WrappedKey.Version)
//	8+n     2     m = length of the wrapped data key, at most 1024
//	10+n    m     wrapped data key (WrappedKey.Ciphertext, opaque to the engine)
//	10+n+m  12    nonce
//	22+n+m  rest  ciphertext and 16-byte tag, at most 65,536+16 bytes
//
// Format version 1, which stores written before key versions existed hold,
// is the same without the key version field (read as version 0). Both are
// read; only version 2 is written. The fixed vectors in
// testdata/sealed-vectors.json pin both.
//
// The associated data of both the value and the wrapped key is
// "secretstore/v1" 0x00 ARN 0x00 VersionId 0x00 kind, so a sealed value
// copied onto another secret or version, or relabelled as the other value
// kind, fails to open instead of yielding a value. Each data key seals
// exactly one value. Rewrap does not rewrite sealed values: it stores the
// data key wrapped again in the version's metadata (see record.go), where it
// takes the place of the header's key ID, key version and wrapped key.
const (
	sealVersion1   = 1
	sealVersion2   = 2
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

// sealAADPrefix starts the associated data of every sealed value.
const sealAADPrefix = "secretstore/v1\x00"

// sealAAD returns the associated data binding a sealed value to its place.
func sealAAD(arn, versionID string, kind byte) []byte {
	return appendAAD(make([]byte, 0, len(sealAADPrefix)+len(arn)+len(versionID)+3), arn, versionID, kind)
}

// appendAAD appends sealAAD's result to aad.
func appendAAD(aad []byte, arn, versionID string, kind byte) []byte {
	aad = append(aad, sealAADPrefix...)
	aad = append(aad, arn...)
	aad = append(aad, 0)
	aad = append(aad, versionID...)
	aad = append(aad, 0, kind)
	return aad
}

// wrap wraps dek with keys under keyID and checks the result's bounds.
func wrap(ctx context.Context, keys Keys, keyID string, dek, aad []byte) (WrappedKey, error) {
	if len(keyID) > maxKeyIDLen {
		return WrappedKey{}, errors.New("key ID too long")
	}
	w, err := keys.WrapKey(ctx, keyID, dek, aad)
	if err != nil {
		return WrappedKey{}, err
	}
	return w, checkWrapped(w)
}

// checkWrapped checks the bounds of a wrapped key that the sealed format
// can store.
func checkWrapped(w WrappedKey) error {
	if len(w.KeyID) > maxKeyIDLen {
		return fmt.Errorf("wrapping key ID is %d bytes, more than %d", len(w.KeyID), maxKeyIDLen)
	}
	if len(w.Ciphertext) > maxWrappedLen {
		return fmt.Errorf("wrapped key is %d bytes, more than %d", len(w.Ciphertext), maxWrappedLen)
	}
	return nil
}

// appendSealHeader appends the sealed format's header up to and including
// the nonce.
func appendSealHeader(out []byte, w WrappedKey, nonce []byte) []byte {
	out = append(out, sealVersion2, sealAESGCM)
	out = binary.BigEndian.AppendUint16(out, uint16(len(w.KeyID)))
	out = append(out, w.KeyID...)
	out = binary.BigEndian.AppendUint32(out, w.Version)
	out = binary.BigEndian.AppendUint16(out, uint16(len(w.Ciphertext)))
	out = append(out, w.Ciphertext...)
	return append(out, nonce...)
}

// sealHeaderLen is the length of appendSealHeader's output.
func sealHeaderLen(w WrappedKey) int { return 10 + len(w.KeyID) + len(w.Ciphertext) + gcmNonceSize }

// sealRandLen is the number of random bytes a seal uses: the data key, the
// value's nonce and the nonce of the data key's wrap.
const sealRandLen = 32 + gcmNonceSize + gcmNonceSize

// keyScratch is room for short-lived key material and wrapped keys, which
// go through interface calls (Keys, cipher.AEAD) and so could not stay on
// the stack; its users clear it before they pool it again.
type keyScratch [256]byte

// sealWith encrypts plaintext under a fresh data key wrapped by keys under
// keyID, and appends the sealed value to dst. rnd holds the sealRandLen
// random bytes drawn for this seal alone (the data key and both nonces),
// which the caller clears. The wrapped data key
// goes into wrapBuf's array if it has room (the sealed value's header is a
// copy of it).
func sealWith(ctx context.Context, keys Keys, keyID string, aad, plaintext, dst, rnd, wrapBuf []byte) ([]byte, error) {
	dek, nonce, wrapNonce := rnd[:32], rnd[32:32+gcmNonceSize], rnd[32+gcmNonceSize:sealRandLen]
	var w WrappedKey
	var err error
	if kt := fastKeys(keys); kt != nil {
		if len(keyID) > maxKeyIDLen {
			return nil, errors.New("key ID too long")
		}
		w, err = kt.wrapKeyTo(ctx, keyID, dek, aad, wrapNonce, wrapBuf)
		if err == nil {
			err = checkWrapped(w)
		}
	} else {
		w, err = wrap(ctx, keys, keyID, dek, aad)
	}
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(dek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	out := appendSealHeader(slices.Grow(dst, sealHeaderLen(w)+len(plaintext)+gcmTagSize), w, nonce)
	return gcm.Seal(out, nonce, plaintext, aad), nil
}

// keyIDs interns the key IDs that sealed values name, so that reading a
// value does not allocate its key ID: a store uses few keys. It holds at
// most maxInterned IDs (key IDs are not secret); past that, IDs are
// allocated as usual.
var keyIDs atomic.Pointer[map[string]string]

const maxInterned = 1024

// internKeyID returns b as a string, shared with earlier calls for the same
// bytes when it can.
func internKeyID(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	m := keyIDs.Load()
	if m != nil {
		if id, ok := (*m)[string(b)]; ok {
			return id
		}
	}
	id := string(b)
	if m == nil || len(*m) < maxInterned {
		next := make(map[string]string, 1+lenOf(m))
		if m != nil {
			for k, v := range *m {
				next[k] = v
			}
		}
		next[id] = id
		keyIDs.CompareAndSwap(m, &next) // on a lost race the next miss adds it
	}
	return id
}

func lenOf(m *map[string]string) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// sealed is a parsed sealed value; its slices alias the input.
type sealed struct {
	format     byte
	key        WrappedKey
	nonce      []byte
	ciphertext []byte
}

var errMalformedSealed = errors.New("malformed sealed value")

// parseSealed parses a sealed value of either format, checking every length
// against its bound.
func parseSealed(b []byte) (sealed, error) {
	var s sealed
	if err := parseSealedTo(&s, b); err != nil {
		return sealed{}, err
	}
	return s, nil
}

// parseSealedTo is parseSealed into *s, a zero sealed that the read path
// keeps on its stack instead of copying a returned struct. On an error *s
// is left partly set.
func parseSealedTo(s *sealed, b []byte) error {
	if len(b) < 4 || (b[0] != sealVersion1 && b[0] != sealVersion2) || b[1] != sealAESGCM {
		return errMalformedSealed
	}
	s.format = b[0]
	n := int(binary.BigEndian.Uint16(b[2:]))
	if n > maxKeyIDLen || len(b) < 6+n {
		return errMalformedSealed
	}
	s.key.KeyID = internKeyID(b[4 : 4+n])
	p := 4 + n
	if s.format == sealVersion2 {
		if len(b) < p+6 {
			return errMalformedSealed
		}
		s.key.Version = binary.BigEndian.Uint32(b[p:])
		p += 4
	}
	m := int(binary.BigEndian.Uint16(b[p:]))
	p += 2
	if m > maxWrappedLen || len(b) < p+m+gcmNonceSize+gcmTagSize {
		return errMalformedSealed
	}
	s.key.Ciphertext = b[p : p+m]
	p += m
	s.nonce = b[p : p+gcmNonceSize]
	s.ciphertext = b[p+gcmNonceSize:]
	if len(s.ciphertext) > maxSealedValue {
		return errMalformedSealed
	}
	return nil
}

// openTo decrypts a sealed value. If inPlace, the plaintext is written over
// the input's ciphertext, so b must be a slice the caller owns and no longer
// needs; otherwise b is only read and the plaintext is a new slice.
// rewrapped, if not nil, is the data key as Rewrap wrapped it again, which
// takes the place of the one in b's header. The data key is unwrapped into
// dekBuf's array (at least 32 bytes, or nil), which openTo clears, when
// keys can (keysTo).
func openTo(ctx context.Context, keys Keys, aad, b []byte, rewrapped *WrappedKey, inPlace bool, dekBuf []byte) ([]byte, error) {
	var s sealed
	if err := parseSealedTo(&s, b); err != nil {
		return nil, err
	}
	if rewrapped != nil {
		s.key = *rewrapped
	}
	var dek []byte
	var err error
	if kt := fastKeys(keys); kt != nil {
		dek, err = kt.unwrapKeyTo(ctx, s.key, aad, dekBuf[:0])
	} else {
		dek, err = keys.UnwrapKey(ctx, s.key, aad)
	}
	if err != nil {
		return nil, err
	}
	if len(dek) != 32 {
		clear(dek)
		return nil, errMalformedSealed
	}
	// The cipher keeps its own key schedule: the data key is wiped as soon
	// as it is made, with no defer on the path of every read.
	block, err := aes.NewCipher(dek)
	clear(dek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	dst := s.ciphertext[:0]
	if !inPlace {
		dst = make([]byte, 0, len(s.ciphertext)-gcmTagSize)
	}
	return gcm.Open(dst, s.nonce, s.ciphertext, aad)
}

// rewrapKey unwraps a data key and wraps it again under the primary version
// of the same key. The value it protects is never decrypted; since the
// wrapped key is bound to aad, a key moved from another secret or version
// does not unwrap and is refused. scratch (at least 32 bytes, or nil) holds
// the data key and dst's array, if it has room, the new wrapped key: with a
// Keyring it then allocates nothing.
func rewrapKey(ctx context.Context, keys Keys, w WrappedKey, aad, scratch, dst []byte) (WrappedKey, error) {
	if kr, ok := keys.(*Keyring); ok {
		if nw, ok, err := kr.rewrap(w, aad, scratch, dst); ok {
			return nw, err
		}
	}
	dek, err := keys.UnwrapKey(ctx, w, aad)
	if err != nil {
		return WrappedKey{}, err
	}
	defer clear(dek)
	if len(dek) != 32 {
		return WrappedKey{}, errMalformedSealed
	}
	return wrap(ctx, keys, w.KeyID, dek, aad)
}

// equalValues compares two plaintexts in constant time for equal lengths.
func equalValues(a, b []byte) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare(a, b) == 1
}
