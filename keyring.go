package secretstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/hkdf"

	"github.com/secretstore/secretstore/backend"
)

// Errors of the keyring. They are returned wrapped; test with errors.Is.
var (
	// ErrWrongMasterKey reports a keyring that does not open with the master
	// key or passphrase given to OpenKeyring.
	ErrWrongMasterKey = errors.New("secretstore: the keyring does not open with this master key")
	// ErrKeyNotFound reports a key ID, alias or ARN that names no key of
	// the keyring. Through the Store it surfaces as EncryptionFailure or
	// DecryptionFailure, as AWS reports a KMS key it cannot use.
	ErrKeyNotFound = errors.New("secretstore: no such key in the keyring")
	// ErrAliasExists reports a CreateKey alias that another key has.
	ErrAliasExists = errors.New("secretstore: alias already exists")
	// ErrKeyVersionRetired reports a data key wrapped under a retired key
	// version.
	ErrKeyVersionRetired = errors.New("secretstore: key version is retired")
	// ErrKeyVersionInUse reports a RetireKeyVersion refused because data
	// keys are still wrapped under that version (run Rewrap first), or
	// because it is the key's primary version.
	ErrKeyVersionInUse = errors.New("secretstore: key version is in use")
)

// DefaultKeyAlias is the alias of the keyring's default key, the one that
// secrets without a KmsKeyId use. Like the AWS managed key of Secrets
// Manager, it is created the first time it is needed.
const DefaultKeyAlias = "alias/aws/secretsmanager"

// keyringRecord is the backend record holding the keyring. Secret records
// live under "secret/", so the engine never mistakes it for a secret.
const keyringRecord = "keyring"

// Argon2Params are the argon2id cost parameters that stretch a passphrase
// into a master key. They are stored with the keyring when it is created;
// later opens use the stored ones.
type Argon2Params struct {
	Time      uint32 // passes over memory, at least 1
	MemoryKiB uint32 // memory in KiB, at least 8 per thread
	Threads   uint8  // lanes, at least 1
}

// DefaultArgon2Params are the parameters RFC 9106 recommends when memory
// is limited: 3 passes over 64 MiB with 4 lanes. Deriving the key takes
// tens to hundreds of milliseconds, once per OpenKeyring.
var DefaultArgon2Params = Argon2Params{Time: 3, MemoryKiB: 64 << 10, Threads: 4}

// Bounds on stored argon2id parameters, so that a damaged keyring record
// cannot make OpenKeyring run for hours or exhaust memory.
const (
	maxArgon2Time   = 16
	maxArgon2Memory = 1 << 20 // KiB: 1 GiB
)

func (p Argon2Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxArgon2Time:
		return fmt.Errorf("argon2id time %d is outside 1..%d", p.Time, maxArgon2Time)
	case p.Threads < 1:
		return errors.New("argon2id threads must be at least 1")
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxArgon2Memory:
		return fmt.Errorf("argon2id memory %d KiB is outside %d..%d", p.MemoryKiB, 8*uint32(p.Threads), maxArgon2Memory)
	}
	return nil
}

// MasterKey is the secret a Keyring is sealed under: a 32-byte key (from a
// key file, an environment variable or the caller) or a passphrase. Its
// formatted forms never show the secret. The zero MasterKey is invalid.
type MasterKey struct {
	key    []byte // MasterKeySize bytes, or nil
	pass   []byte // a passphrase, or nil
	params Argon2Params
}

// MasterKeyFromBytes returns a master key holding a copy of key, which must
// be MasterKeySize bytes of uniformly random key material.
func MasterKeyFromBytes(key []byte) (MasterKey, error) {
	if len(key) != MasterKeySize {
		return MasterKey{}, fmt.Errorf("secretstore: master key must be %d bytes, got %d", MasterKeySize, len(key))
	}
	return MasterKey{key: slices.Clone(key)}, nil
}

// MasterKeyFromFile reads a master key file as LoadKeyFile does (without
// creating it): exactly MasterKeySize bytes, not readable by other users.
func MasterKeyFromFile(path string) (MasterKey, error) {
	key, _, err := LoadKeyFile(path, false)
	if err != nil {
		return MasterKey{}, err
	}
	defer clear(key)
	return MasterKeyFromBytes(key)
}

// MasterKeyFromEnv reads a master key from the environment variable name:
// MasterKeySize bytes in standard base64 (`head -c 32 /dev/urandom |
// base64`). Errors name the variable, never its value.
func MasterKeyFromEnv(name string) (MasterKey, error) {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return MasterKey{}, fmt.Errorf("secretstore: environment variable %s is not set", name)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil {
		return MasterKey{}, fmt.Errorf("secretstore: environment variable %s is not valid base64", name)
	}
	defer clear(key)
	if len(key) != MasterKeySize {
		return MasterKey{}, fmt.Errorf("secretstore: environment variable %s holds %d bytes, want %d", name, len(key), MasterKeySize)
	}
	return MasterKeyFromBytes(key)
}

// MasterKeyFromPassphrase returns a master key derived from passphrase with
// argon2id. params apply when OpenKeyring creates the keyring (a zero value
// means DefaultArgon2Params); an existing keyring keeps the salt and
// parameters it was created with. The passphrase is copied.
func MasterKeyFromPassphrase(passphrase []byte, params Argon2Params) (MasterKey, error) {
	if len(passphrase) == 0 {
		return MasterKey{}, errors.New("secretstore: empty passphrase")
	}
	if params == (Argon2Params{}) {
		params = DefaultArgon2Params
	}
	if err := params.validate(); err != nil {
		return MasterKey{}, fmt.Errorf("secretstore: %w", err)
	}
	return MasterKey{pass: slices.Clone(passphrase), params: params}, nil
}

// Clear overwrites the key material m holds. m is unusable afterwards.
func (m MasterKey) Clear() {
	clear(m.key)
	clear(m.pass)
}

// String never shows key material.
func (m MasterKey) String() string { return "secretstore.MasterKey{[redacted]}" }

// GoString never shows key material.
func (m MasterKey) GoString() string { return m.String() }

// Format never shows key material, whatever the verb.
func (m MasterKey) Format(f fmt.State, verb rune) { formatRedacted(f, verb, m.String()) }

// Keyring record format, version 1:
//
//	"SSKR" 0x01
//	kdf      1 byte: 1 = master key (HKDF-SHA256), 2 = passphrase (argon2id)
//	salt     16 bytes
//	params   kdf 2 only: time uint32, memory KiB uint32, threads uint8
//	nonce    12 bytes
//	sealed   AES-256-GCM of the body under the key derived from the master,
//	         with everything before the nonce as associated data
//
// The body, in the encoding of secret records (uvarint lengths and counts,
// times as varint Unix nanoseconds):
//
//	nKeys { keyId description created primary nAliases {alias}
//	        nVersions { version created retired material } }
//
// A retired version's material is empty: retiring destroys it.
const (
	keyringMagic    = "SSKR\x01"
	kdfMasterKey    = 1
	kdfPassphrase   = 2
	keyringSaltSize = 16
)

// Keyring is a Keys holding named keys with numbered versions, stored in the
// backend itself (so that a file or PostgreSQL store is self-contained) and
// sealed under a master key. A key is addressed the way KmsKeyId addresses
// one: by key ID (a UUID), by alias ("alias/name") or by an ARN of either
// ("arn:aws:kms:region:account:key/ID", "...:alias/name"). The default key
// (KmsKeyId "") is the key with alias DefaultKeyAlias, created on first
// use.
//
// Each key has a primary version that wraps new data keys; RotateKey makes
// a new primary, older versions still unwrap what they wrapped.
// Engine.Rewrap moves every data key to the primary versions, after which
// RetireKeyVersion destroys an old version.
//
// Several processes may open one keyring: changes are compare-and-swap
// writes of the keyring record, and every WrapKey first checks (cheaply)
// that it has the current keyring, so a rotation made elsewhere applies to
// the next write. A Keyring is safe for concurrent use.
type Keyring struct {
	b      backend.Backend
	seal   atomic.Pointer[ringSeal]
	legacy atomic.Pointer[LocalKeys] // LocalKeys under the same master key, or nil
	state  atomic.Pointer[ringState]
	mu     sync.Mutex // serializes this process's changes
	closed atomic.Bool
}

// ringSeal is how the keyring record is sealed: its header (up to the
// nonce) and the key derived from the master key with it.
type ringSeal struct {
	header []byte
	kek    cipher.AEAD
}

// ringState is an immutable snapshot of the keyring at one revision.
type ringState struct {
	rev     uint64
	keys    []*ringKey
	byID    map[string]*ringKey
	byAlias map[string]*ringKey
}

type ringKey struct {
	id          string
	description string
	created     time.Time
	primary     uint32
	aliases     []string
	versions    []*ringVersion // ascending by n
}

type ringVersion struct {
	n        uint32
	created  time.Time
	retired  bool
	material []byte      // 32 bytes, nil once retired
	aead     cipher.AEAD // nil once retired
}

func (k *ringKey) version(n uint32) *ringVersion {
	if n >= 1 && int(n) <= len(k.versions) && k.versions[n-1].n == n {
		return k.versions[n-1] // versions are numbered from 1 without gaps
	}
	for _, v := range k.versions {
		if v.n == n {
			return v
		}
	}
	return nil
}

// KeyMetadata describes a key of a Keyring. It holds no key material.
type KeyMetadata struct {
	KeyID          string               // the key's ID, a UUID
	Aliases        []string             // its aliases, "alias/name"
	Description    string               // what CreateKey was told it is for
	CreationDate   time.Time            // when it was created
	PrimaryVersion uint32               // the version that wraps new data keys
	Versions       []KeyVersionMetadata // every version, oldest first
}

// KeyVersionMetadata describes one version of a key.
type KeyVersionMetadata struct {
	Version      uint32    // its number, from 1
	CreationDate time.Time // when RotateKey (or CreateKey) made it
	Retired      bool      // whether RetireKeyVersion destroyed it
}

func (k *ringKey) metadata() KeyMetadata {
	m := KeyMetadata{KeyID: k.id, Aliases: slices.Clone(k.aliases), Description: k.description, CreationDate: k.created, PrimaryVersion: k.primary}
	for _, v := range k.versions {
		m.Versions = append(m.Versions, KeyVersionMetadata{Version: v.n, CreationDate: v.created, Retired: v.retired})
	}
	return m
}

// OpenKeyring opens the keyring stored in b, creating an empty one sealed
// under master if b has none. It fails with an error matching
// ErrWrongMasterKey if the keyring does not open with master; it never
// returns a partly opened keyring. OpenKeyring does not keep master (the
// caller may Clear it) except that a keyring opened with a 32-byte key also
// unwraps data keys that LocalKeys under that same key wrapped, so that a
// store written with LocalKeys moves to a Keyring without losing a value
// (Engine.Rewrap then moves those data keys into the keyring).
func OpenKeyring(ctx context.Context, b backend.Backend, master MasterKey) (*Keyring, error) {
	if master.key == nil && master.pass == nil {
		return nil, errors.New("secretstore: OpenKeyring: no master key")
	}
	rec, err := b.GetRecord(ctx, keyringRecord, 0)
	if errors.Is(err, backend.ErrNotFound) {
		// A store written before it had a keyring holds values sealed with
		// LocalKeys under some master key: only that key may create its
		// keyring, or the right key would be locked out afterwards.
		if err = checkLegacyMaster(ctx, b, master); err == nil {
			rec, err = createKeyring(ctx, b, master)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("secretstore: OpenKeyring: %w", err)
	}
	k := &Keyring{b: b}
	header, kek, err := deriveKEK(rec.Data, master)
	if err != nil {
		return nil, fmt.Errorf("secretstore: OpenKeyring: %w", err)
	}
	k.seal.Store(&ringSeal{header: header, kek: kek})
	st, err := k.decode(rec)
	if err != nil {
		return nil, fmt.Errorf("secretstore: OpenKeyring: %w", err)
	}
	k.state.Store(st)
	if master.key != nil {
		legacy, err := NewLocalKeys(master.key)
		if err != nil {
			return nil, err
		}
		k.legacy.Store(legacy)
	}
	return k, nil
}

// checkLegacyMaster checks that master is the key that the values already in
// b (written with LocalKeys, before the store had a keyring) are sealed
// under, by unwrapping the data key of the first value it finds. A store
// without values passes.
func checkLegacyMaster(ctx context.Context, b backend.Backend, master MasterKey) error {
	recs, err := b.ListRecords(ctx, "secret/", "", 16)
	if err != nil || len(recs) == 0 {
		return err
	}
	if master.key == nil {
		return fmt.Errorf("%w: the store holds values written before it had a keyring, under a 32-byte master key; open it with that key, not a passphrase", ErrWrongMasterKey)
	}
	legacy, err := NewLocalKeys(master.key)
	if err != nil {
		return err
	}
	e, err := New(b, WithKeys(legacy))
	if err != nil {
		return err
	}
	for _, r := range recs {
		cur, err := e.load(ctx, r.Key)
		if err == errNoSecret {
			continue
		}
		if err != nil {
			return err
		}
		for _, v := range cur.meta.Versions {
			if v.Kind == kindNone {
				continue
			}
			w, _, err := e.versionKey(ctx, v)
			if err != nil {
				return err
			}
			dek, err := legacy.UnwrapKey(ctx, w, v.aad(cur.meta.ARN))
			clear(dek)
			if err != nil {
				return fmt.Errorf("%w: it does not open the values the store already holds", ErrWrongMasterKey)
			}
			return nil
		}
	}
	return nil
}

// newKeyringHeader returns the header of a new keyring record sealed under
// master, with a fresh salt.
func newKeyringHeader(master MasterKey) ([]byte, error) {
	h := []byte(keyringMagic)
	var salt [keyringSaltSize]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, err
	}
	if master.key != nil {
		h = append(h, kdfMasterKey)
		h = append(h, salt[:]...)
	} else {
		h = append(h, kdfPassphrase)
		h = append(h, salt[:]...)
		h = binary.BigEndian.AppendUint32(h, master.params.Time)
		h = binary.BigEndian.AppendUint32(h, master.params.MemoryKiB)
		h = append(h, master.params.Threads)
	}
	return h, nil
}

// createKeyring stores an empty keyring sealed under master, or returns the
// one another process stored first.
func createKeyring(ctx context.Context, b backend.Backend, master MasterKey) (backend.Record, error) {
	h, err := newKeyringHeader(master)
	if err != nil {
		return backend.Record{}, err
	}
	header, kek, err := deriveKEK(h, master)
	if err != nil {
		return backend.Record{}, err
	}
	data, err := sealKeyring(kek, header, encodeRing(&ringState{}))
	if err != nil {
		return backend.Record{}, err
	}
	rev, err := b.CreateRecord(ctx, keyringRecord, data)
	if errors.Is(err, backend.ErrExists) {
		return b.GetRecord(ctx, keyringRecord, 0)
	}
	return backend.Record{Key: keyringRecord, Revision: rev, Data: data}, err
}

// deriveKEK parses the header of a keyring record and derives the key that
// seals it from master. It returns the header.
func deriveKEK(data []byte, master MasterKey) ([]byte, cipher.AEAD, error) {
	if len(data) < len(keyringMagic)+1+keyringSaltSize || string(data[:len(keyringMagic)]) != keyringMagic {
		return nil, nil, errors.New("keyring record is damaged or of an unknown format")
	}
	p := len(keyringMagic)
	kdf := data[p]
	salt := data[p+1 : p+1+keyringSaltSize]
	p += 1 + keyringSaltSize
	var key []byte
	switch kdf {
	case kdfMasterKey:
		if master.key == nil {
			return nil, nil, fmt.Errorf("%w: the keyring is sealed under a master key, not a passphrase", ErrWrongMasterKey)
		}
		key = make([]byte, 32)
		if _, err := io.ReadFull(hkdf.New(sha256.New, master.key, salt, []byte("secretstore keyring v1")), key); err != nil {
			return nil, nil, err
		}
	case kdfPassphrase:
		if master.pass == nil {
			return nil, nil, fmt.Errorf("%w: the keyring is sealed under a passphrase, not a master key", ErrWrongMasterKey)
		}
		if len(data) < p+9 {
			return nil, nil, errors.New("keyring record is damaged")
		}
		params := Argon2Params{
			Time:      binary.BigEndian.Uint32(data[p:]),
			MemoryKiB: binary.BigEndian.Uint32(data[p+4:]),
			Threads:   data[p+8],
		}
		p += 9
		if err := params.validate(); err != nil {
			return nil, nil, fmt.Errorf("keyring record is damaged: %w", err)
		}
		key = argon2.IDKey(master.pass, salt, params.Time, params.MemoryKiB, params.Threads, 32)
	default:
		return nil, nil, errors.New("keyring record is damaged or of an unknown format")
	}
	defer clear(key)
	a, err := newGCM(key)
	if err != nil {
		return nil, nil, err
	}
	return slices.Clone(data[:p]), a, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func sealKeyring(kek cipher.AEAD, header, body []byte) ([]byte, error) {
	defer clear(body)
	out := slices.Grow(slices.Clone(header), gcmNonceSize+len(body)+gcmTagSize)
	nonce := make([]byte, gcmNonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return kek.Seal(out, nonce, body, header), nil
}

// decode opens and decodes a keyring record.
func (k *Keyring) decode(rec backend.Record) (*ringState, error) {
	data := rec.Data
	rs := k.seal.Load()
	if len(data) < len(rs.header)+gcmNonceSize+gcmTagSize || string(data[:len(rs.header)]) != string(rs.header) {
		if len(data) >= len(keyringMagic) && string(data[:len(keyringMagic)]) == keyringMagic {
			// The header changed: the keyring was sealed again under
			// another master key (ChangeMasterKey).
			return nil, fmt.Errorf("%w: the keyring was sealed under another master key since it was opened", ErrWrongMasterKey)
		}
		return nil, errors.New("keyring record is damaged")
	}
	nonce := data[len(rs.header) : len(rs.header)+gcmNonceSize]
	body, err := rs.kek.Open(nil, nonce, data[len(rs.header)+gcmNonceSize:], rs.header)
	if err != nil {
		return nil, ErrWrongMasterKey
	}
	defer clear(body)
	st, err := decodeRing(body)
	if err != nil {
		return nil, err
	}
	st.rev = rec.Revision
	return st, nil
}

func encodeRing(st *ringState) []byte {
	e := encoder{}
	e.uint(uint64(len(st.keys)))
	for _, k := range st.keys {
		e.str(k.id)
		e.str(k.description)
		e.time(k.created)
		e.uint(uint64(k.primary))
		e.uint(uint64(len(k.aliases)))
		for _, a := range k.aliases {
			e.str(a)
		}
		e.uint(uint64(len(k.versions)))
		for _, v := range k.versions {
			e.uint(uint64(v.n))
			e.time(v.created)
			if v.retired {
				e.b = append(e.b, 1)
			} else {
				e.b = append(e.b, 0)
			}
			e.uint(uint64(len(v.material)))
			e.b = append(e.b, v.material...)
		}
	}
	return e.b
}

var errDamagedKeyring = errors.New("keyring record is damaged")

func decodeRing(body []byte) (*ringState, error) {
	d := decoder{b: body}
	st := &ringState{}
	n := d.count(3)
	for range n {
		k := &ringKey{id: d.str(), description: d.str(), created: d.time(), primary: uint32(d.uint())}
		na := d.count(1)
		for range na {
			k.aliases = append(k.aliases, d.str())
		}
		nv := d.count(3)
		for range nv {
			v := &ringVersion{n: uint32(d.uint()), created: d.time(), retired: d.byte() == 1}
			m := d.bytes()
			if d.err != nil {
				return nil, errDamagedKeyring
			}
			if !v.retired {
				if len(m) != 32 {
					return nil, errDamagedKeyring
				}
				v.material = slices.Clone(m)
				a, err := newGCM(v.material)
				if err != nil {
					return nil, err
				}
				v.aead = a
			}
			k.versions = append(k.versions, v)
		}
		if d.err != nil {
			return nil, errDamagedKeyring
		}
		if pv := k.version(k.primary); pv == nil || pv.retired {
			return nil, errDamagedKeyring
		}
		st.keys = append(st.keys, k)
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, errDamagedKeyring
	}
	st.index()
	return st, nil
}

func (st *ringState) index() {
	st.byID = make(map[string]*ringKey, len(st.keys))
	st.byAlias = map[string]*ringKey{}
	for _, k := range st.keys {
		st.byID[k.id] = k
		for _, a := range k.aliases {
			st.byAlias[a] = k
		}
	}
}

// lookup finds the key keyID names: "" for the default key, a key ID, an
// alias, or the ARN of a key or alias.
func (st *ringState) lookup(keyID string) *ringKey {
	switch {
	case keyID == "":
		return st.byAlias[DefaultKeyAlias]
	case strings.HasPrefix(keyID, "alias/"):
		return st.byAlias[keyID]
	case strings.HasPrefix(keyID, "arn:"):
		// arn:partition:kms:region:account:key/ID or ...:alias/name
		parts := strings.SplitN(keyID, ":", 6)
		if len(parts) != 6 || parts[2] != "kms" {
			return nil
		}
		if id, ok := strings.CutPrefix(parts[5], "key/"); ok {
			return st.byID[id]
		}
		if strings.HasPrefix(parts[5], "alias/") {
			return st.byAlias[parts[5]]
		}
		return nil
	}
	return st.byID[keyID]
}

// validAlias reports whether alias is "alias/" and 1 to 250 letters,
// digits, '/', '_' or '-', as KMS requires.
func validAlias(alias string) bool {
	name, ok := strings.CutPrefix(alias, "alias/")
	if !ok || name == "" || len(name) > 250 {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (k *Keyring) current() (*ringState, error) {
	if k.closed.Load() {
		return nil, errors.New("secretstore: keyring is closed")
	}
	return k.state.Load(), nil
}

// refresh makes sure the keyring is the backend's current one. It costs a
// conditional read: no data moves when nothing changed.
func (k *Keyring) refresh(ctx context.Context) (*ringState, error) {
	st, err := k.current()
	if err != nil {
		return nil, err
	}
	rec, err := k.b.GetRecord(ctx, keyringRecord, st.rev)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		return nil, &keyringIOError{err}
	}
	if rec.Revision == st.rev {
		return st, nil
	}
	next, err := k.decode(rec)
	if err != nil {
		return nil, fmt.Errorf("secretstore: reading the keyring: %w", err)
	}
	if k.state.CompareAndSwap(st, next) && !k.closed.Load() {
		// next holds fresh copies of every key; st's are no longer needed
		// (their ciphers, which snapshots in use may hold, stay usable).
		st.clearMaterial()
	}
	return next, nil
}

// keyringIOError is a failure of the backend while reading the keyring: not
// a key problem, so the engine reports it as InternalServiceError (which
// callers retry) rather than EncryptionFailure or DecryptionFailure.
type keyringIOError struct{ err error }

func (e *keyringIOError) Error() string { return "secretstore: reading the keyring: " + e.err.Error() }
func (e *keyringIOError) Unwrap() error { return e.err }

// clearMaterial zeroes the key material of st's versions.
func (st *ringState) clearMaterial() {
	for _, key := range st.keys {
		for _, v := range key.versions {
			clear(v.material)
		}
	}
}

// change applies fn to a copy of the current keyring and stores the result
// with a compare-and-swap, retrying from a fresh read when another process
// changed the keyring meanwhile.
func (k *Keyring) change(ctx context.Context, fn func(st *ringState) error) (*ringState, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for attempt := 0; ; attempt++ {
		cur, err := k.refresh(ctx)
		if err != nil {
			return nil, err
		}
		next := cur.clone()
		if err := fn(next); err != nil {
			return nil, err
		}
		next.index()
		rs := k.seal.Load()
		data, err := sealKeyring(rs.kek, rs.header, encodeRing(next))
		if err != nil {
			return nil, err
		}
		rev, err := k.b.UpdateRecord(ctx, keyringRecord, cur.rev, data)
		if errors.Is(err, backend.ErrConflict) && attempt < maxAttempts {
			backoff(ctx, attempt)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("secretstore: writing the keyring: %w", err)
		}
		next.rev = rev
		k.state.Store(next)
		return next, nil
	}
}

// clone copies the key list and each key, sharing the versions, which
// change only by replacement.
func (st *ringState) clone() *ringState {
	next := &ringState{rev: st.rev}
	for _, key := range st.keys {
		c := *key
		c.aliases = slices.Clone(key.aliases)
		c.versions = slices.Clone(key.versions)
		next.keys = append(next.keys, &c)
	}
	next.index()
	return next
}

// newRingVersion makes key version n with fresh material.
func newRingVersion(n uint32) (*ringVersion, error) {
	v := &ringVersion{n: n, created: time.Now().UTC(), material: make([]byte, 32)}
	if _, err := rand.Read(v.material); err != nil {
		return nil, err
	}
	a, err := newGCM(v.material)
	if err != nil {
		return nil, err
	}
	v.aead = a
	return v, nil
}

// addKey adds a new key with one version to st.
func addKey(st *ringState, alias, description string) (*ringKey, error) {
	if alias != "" {
		if st.byAlias[alias] != nil {
			return nil, fmt.Errorf("%w: %s", ErrAliasExists, alias)
		}
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return nil, err
	}
	v, err := newRingVersion(1)
	if err != nil {
		return nil, err
	}
	key := &ringKey{id: id.String(), description: description, created: v.created, primary: 1, versions: []*ringVersion{v}}
	if alias != "" {
		key.aliases = []string{alias}
	}
	st.keys = append(st.keys, key)
	st.index()
	return key, nil
}

// CreateKey adds a key to the keyring and returns its metadata. alias, if
// not empty, is "alias/" and a name of letters, digits, '/', '_' and '-';
// names starting with "aws/" are reserved, as in KMS.
func (k *Keyring) CreateKey(ctx context.Context, alias, description string) (KeyMetadata, error) {
	if alias != "" && (!validAlias(alias) || strings.HasPrefix(alias, "alias/aws/")) {
		return KeyMetadata{}, fmt.Errorf("secretstore: CreateKey: alias %q must be alias/ and 1 to 250 letters, digits, '/', '_' or '-', not starting with aws/", alias)
	}
	if len(description) > 8192 {
		return KeyMetadata{}, errors.New("secretstore: CreateKey: description longer than 8192 bytes")
	}
	var created *ringKey
	_, err := k.change(ctx, func(st *ringState) error {
		var err error
		created, err = addKey(st, alias, description)
		return err
	})
	if err != nil {
		return KeyMetadata{}, fmt.Errorf("secretstore: CreateKey: %w", err)
	}
	return created.metadata(), nil
}

// defaultKey returns the default key, creating it if the keyring has none.
func (k *Keyring) defaultKey(ctx context.Context) (*ringKey, error) {
	if st, err := k.current(); err == nil && st.byAlias[DefaultKeyAlias] != nil {
		return st.byAlias[DefaultKeyAlias], nil
	}
	st, err := k.change(ctx, func(st *ringState) error {
		if st.byAlias[DefaultKeyAlias] != nil {
			return nil
		}
		_, err := addKey(st, DefaultKeyAlias, "Default key for secrets without a KmsKeyId")
		return err
	})
	if err != nil {
		return nil, err
	}
	return st.byAlias[DefaultKeyAlias], nil
}

// resolve returns the key keyID names, creating the default key when keyID
// is "" and there is none yet.
func (k *Keyring) resolve(ctx context.Context, st *ringState, keyID string) (*ringKey, error) {
	if key := st.lookup(keyID); key != nil {
		return key, nil
	}
	if keyID == "" || keyID == DefaultKeyAlias || strings.HasSuffix(keyID, ":"+DefaultKeyAlias) {
		return k.defaultKey(ctx)
	}
	return nil, fmt.Errorf("%w: %q", ErrKeyNotFound, keyID)
}

// DescribeKey returns the metadata of the key keyID names.
func (k *Keyring) DescribeKey(ctx context.Context, keyID string) (KeyMetadata, error) {
	st, err := k.refresh(ctx)
	if err != nil {
		return KeyMetadata{}, err
	}
	key := st.lookup(keyID)
	if key == nil {
		return KeyMetadata{}, fmt.Errorf("secretstore: DescribeKey: %w: %q", ErrKeyNotFound, keyID)
	}
	return key.metadata(), nil
}

// ListKeys returns the metadata of every key, in creation order.
func (k *Keyring) ListKeys(ctx context.Context) ([]KeyMetadata, error) {
	st, err := k.refresh(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]KeyMetadata, 0, len(st.keys))
	for _, key := range st.keys {
		out = append(out, key.metadata())
	}
	return out, nil
}

// RotateKey gives the key keyID names a new version with fresh material and
// makes it the primary version: new data keys are wrapped under it, and
// data keys wrapped under older versions still unwrap. It returns the key's
// new metadata.
func (k *Keyring) RotateKey(ctx context.Context, keyID string) (KeyMetadata, error) {
	if keyID == "" {
		if _, err := k.defaultKey(ctx); err != nil {
			return KeyMetadata{}, fmt.Errorf("secretstore: RotateKey: %w", err)
		}
	}
	var rotated *ringKey
	_, err := k.change(ctx, func(st *ringState) error {
		key := st.lookup(keyID)
		if key == nil {
			return fmt.Errorf("%w: %q", ErrKeyNotFound, keyID)
		}
		v, err := newRingVersion(key.versions[len(key.versions)-1].n + 1)
		if err != nil {
			return err
		}
		key.versions = append(key.versions, v)
		key.primary = v.n
		rotated = key
		return nil
	})
	if err != nil {
		return KeyMetadata{}, fmt.Errorf("secretstore: RotateKey: %w", err)
	}
	return rotated.metadata(), nil
}

// RetireKeyVersion destroys version of the key keyID names, so that the
// material can no longer unwrap anything. A copy of the store made before
// still holds the version, in its copy of the keyring, sealed under the
// master key of that time: to protect such copies too, change the master
// key afterwards (ChangeMasterKey). It refuses, with an error matching ErrKeyVersionInUse, the
// key's primary version and any version that still wraps a data key of a
// secret in the backend (in any region): run Engine.Rewrap first. It reads
// every secret's versions to find out.
//
// Every WrapKey re-reads the keyring first, so a write that starts after the
// rotation never uses the old version, in any process. Only a write that
// wrapped its data key before the rotation and is still unfinished after the
// whole Rewrap, when RetireKeyVersion reads the store, could commit a value
// under the version being retired; retire a version some time after the
// Rewrap, not while writes issued before the rotation may still be pending.
func (k *Keyring) RetireKeyVersion(ctx context.Context, keyID string, version uint32) error {
	st, err := k.refresh(ctx)
	if err != nil {
		return err
	}
	key := st.lookup(keyID)
	if key == nil {
		return fmt.Errorf("secretstore: RetireKeyVersion: %w: %q", ErrKeyNotFound, keyID)
	}
	v := key.version(version)
	switch {
	case v == nil:
		return fmt.Errorf("secretstore: RetireKeyVersion: key %s has no version %d", key.id, version)
	case v.retired:
		return nil
	case version == key.primary:
		return fmt.Errorf("secretstore: RetireKeyVersion: %w: version %d is the primary version of key %s; rotate the key first", ErrKeyVersionInUse, version, key.id)
	}
	e, err := New(k.b, WithKeys(k))
	if err != nil {
		return err
	}
	usage, err := e.KeyUsage(ctx)
	if err != nil {
		return fmt.Errorf("secretstore: RetireKeyVersion: %w", err)
	}
	if n := usage[KeyVersionRef{KeyID: key.id, Version: version}]; n > 0 {
		return fmt.Errorf("secretstore: RetireKeyVersion: %w: version %d of key %s still wraps %d data keys; run Rewrap first", ErrKeyVersionInUse, version, key.id, n)
	}
	var destroyed *ringVersion
	_, err = k.change(ctx, func(st *ringState) error {
		key := st.byID[key.id]
		if key == nil || key.primary == version {
			return fmt.Errorf("%w: the key changed meanwhile", ErrKeyVersionInUse)
		}
		destroyed = nil
		for i, v := range key.versions {
			if v.n == version && !v.retired {
				key.versions[i] = &ringVersion{n: v.n, created: v.created, retired: true}
				destroyed = v
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("secretstore: RetireKeyVersion: %w", err)
	}
	if destroyed != nil {
		clear(destroyed.material) // its cipher, still in older snapshots, stays usable
	}
	return nil
}

// WrapKey implements Keys: it wraps dek under the primary version of the key
// keyID names, after checking that it has the current keyring.
func (k *Keyring) WrapKey(ctx context.Context, keyID string, dek, aad []byte) (WrappedKey, error) {
	var nonce [gcmNonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return WrappedKey{}, err
	}
	return k.wrapKeyTo(ctx, keyID, dek, aad, nonce[:], nil)
}

// wrapKeyTo implements keysTo.
func (k *Keyring) wrapKeyTo(ctx context.Context, keyID string, dek, aad, nonce, dst []byte) (WrappedKey, error) {
	st, err := k.refresh(ctx)
	if err != nil {
		return WrappedKey{}, err
	}
	key, err := k.resolve(ctx, st, keyID)
	if err != nil {
		return WrappedKey{}, err
	}
	v := key.version(key.primary)
	ct, err := gcmWrapNonce(dst, v.aead, nonce, dek, aad)
	if err != nil {
		return WrappedKey{}, err
	}
	return WrappedKey{KeyID: key.id, Version: v.n, Ciphertext: ct}, nil
}

// UnwrapKey implements Keys.
func (k *Keyring) UnwrapKey(ctx context.Context, w WrappedKey, aad []byte) ([]byte, error) {
	return k.unwrapKeyTo(ctx, w, aad, nil)
}

// unwrapKeyTo implements keysTo.
func (k *Keyring) unwrapKeyTo(ctx context.Context, w WrappedKey, aad, dst []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := k.current()
	if err != nil {
		return nil, err
	}
	key := st.byID[w.KeyID]
	if key == nil || key.version(w.Version) == nil {
		// Made by another process since this one last read the keyring,
		// or written before the keyring existed.
		if st, err = k.refresh(ctx); err != nil {
			return nil, err
		}
		key = st.byID[w.KeyID]
	}
	if key == nil {
		if legacy := k.legacy.Load(); legacy != nil && w.Version == 0 {
			return legacy.unwrapKeyTo(ctx, w, aad, dst)
		}
		return nil, fmt.Errorf("%w: %q", ErrKeyNotFound, w.KeyID)
	}
	v := key.version(w.Version)
	switch {
	case v == nil:
		return nil, fmt.Errorf("%w: key %s has no version %d", ErrKeyNotFound, key.id, w.Version)
	case v.retired:
		return nil, fmt.Errorf("%w: version %d of key %s", ErrKeyVersionRetired, w.Version, key.id)
	}
	return gcmUnwrap(dst, v.aead, w.Ciphertext, aad)
}

// rewrap is Rewrap's fast path: it unwraps w and wraps the data key again
// under the primary version of the same key, with one lookup and without
// re-reading the keyring (Rewrap read it when it first met the key). ok is
// false when w is not under a key of this keyring, for the general path to
// handle.
func (k *Keyring) rewrap(w WrappedKey, aad, scratch, dst []byte) (nw WrappedKey, ok bool, err error) {
	st, err := k.current()
	if err != nil {
		return WrappedKey{}, true, err
	}
	key := st.byID[w.KeyID]
	if key == nil {
		return WrappedKey{}, false, nil
	}
	v := key.version(w.Version)
	if v == nil || v.retired {
		return WrappedKey{}, false, nil
	}
	dek, err := gcmUnwrap(scratch, v.aead, w.Ciphertext, aad)
	if err != nil {
		return WrappedKey{}, true, err
	}
	defer clear(dek)
	if len(dek) != 32 {
		return WrappedKey{}, true, errMalformedSealed
	}
	p := key.version(key.primary)
	ct, err := gcmWrapTo(dst, p.aead, dek, aad)
	if err != nil {
		return WrappedKey{}, true, err
	}
	return WrappedKey{KeyID: key.id, Version: p.n, Ciphertext: ct}, true, nil
}

// PrimaryVersion implements VersionedKeys.
func (k *Keyring) PrimaryVersion(ctx context.Context, keyID string) (uint32, error) {
	st, err := k.refresh(ctx)
	if err != nil {
		return 0, err
	}
	key := st.lookup(keyID)
	if key == nil {
		return 0, fmt.Errorf("%w: %q", ErrKeyNotFound, keyID)
	}
	return key.primary, nil
}

// Close zeroes the key material the keyring holds in memory; it does not
// close the backend. The keyring is unusable afterwards.
func (k *Keyring) Close() error {
	if k.closed.Swap(true) {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.state.Load().clearMaterial()
	if legacy := k.legacy.Load(); legacy != nil {
		clear(legacy.master[:])
	}
	return nil
}

// ChangeMasterKey seals the keyring again under newMaster, with a fresh
// salt: from then on only newMaster opens it, and a Keyring that another
// process opened with the old master key fails with ErrWrongMasterKey at
// its next read of the keyring and must be opened again. Together with
// RetireKeyVersion it makes a copy of the store taken before useless to
// whoever later learns the old master key. The values themselves are not
// touched.
//
// It refuses while values written before the store had a keyring remain,
// since their data keys are wrapped under the old master key itself: run
// Engine.Rewrap first.
func (k *Keyring) ChangeMasterKey(ctx context.Context, newMaster MasterKey) error {
	if newMaster.key == nil && newMaster.pass == nil {
		return errors.New("secretstore: ChangeMasterKey: no master key")
	}
	if _, err := k.current(); err != nil {
		return err
	}
	if k.legacy.Load() != nil {
		e, err := New(k.b, WithKeys(k))
		if err != nil {
			return err
		}
		usage, err := e.KeyUsage(ctx)
		if err != nil {
			return fmt.Errorf("secretstore: ChangeMasterKey: %w", err)
		}
		st := k.state.Load()
		for ref, n := range usage {
			if ref.Version == 0 && st.byID[ref.KeyID] == nil {
				return fmt.Errorf("secretstore: ChangeMasterKey: %d values are still sealed under the master key itself, as before the store had a keyring; run Rewrap first", n)
			}
		}
	}
	h, err := newKeyringHeader(newMaster)
	if err != nil {
		return err
	}
	header, kek, err := deriveKEK(h, newMaster)
	if err != nil {
		return fmt.Errorf("secretstore: ChangeMasterKey: %w", err)
	}
	var legacy *LocalKeys
	if newMaster.key != nil {
		if legacy, err = NewLocalKeys(newMaster.key); err != nil {
			return err
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for attempt := 0; ; attempt++ {
		cur, err := k.refresh(ctx)
		if err != nil {
			return err
		}
		data, err := sealKeyring(kek, header, encodeRing(cur))
		if err != nil {
			return err
		}
		rev, err := k.b.UpdateRecord(ctx, keyringRecord, cur.rev, data)
		if errors.Is(err, backend.ErrConflict) && attempt < maxAttempts {
			backoff(ctx, attempt)
			continue
		}
		if err != nil {
			return fmt.Errorf("secretstore: ChangeMasterKey: writing the keyring: %w", err)
		}
		next := cur.clone()
		next.rev = rev
		k.seal.Store(&ringSeal{header: header, kek: kek})
		k.state.Store(next)
		if old := k.legacy.Swap(legacy); old != nil {
			clear(old.master[:])
		}
		return nil
	}
}

// String never shows key material.
func (k *Keyring) String() string { return "secretstore.Keyring{[redacted]}" }

// GoString never shows key material.
func (k *Keyring) GoString() string { return k.String() }

// Format never shows key material, whatever the verb.
func (k *Keyring) Format(f fmt.State, verb rune) { formatRedacted(f, verb, k.String()) }
