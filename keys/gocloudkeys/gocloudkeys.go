package gocloudkeys

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"gocloud.dev/secrets"

	"github.com/secretstore/secretstore"
)

// ErrUnknownKey reports a key ID that Keys has no keeper for: any key ID
// but the default key "" for Keys made by [Single]. It is returned wrapped,
// with the key ID; test with errors.Is. Through the Store it surfaces as
// EncryptionFailure or DecryptionFailure, as AWS reports a KMS key it
// cannot use.
var ErrUnknownKey = errors.New("gocloudkeys: no keeper for this key ID")

// errClosed reports a use of Keys after Close.
var errClosed = errors.New("gocloudkeys: Keys is closed")

// Sizes of the wrapped plaintext: a data key followed by the digest that
// binds it to its associated data.
const (
	dekSize    = 32
	digestSize = sha256.Size
)

// maxCiphertext is the largest wrapped data key the sealed format of
// package secretstore stores (its maxWrappedLen).
const maxCiphertext = 1024

// aadDomain prefixes the associated data in the digest, so that the digest
// means nothing outside this package and its format version.
const aadDomain = "secretstore/gocloudkeys/v1\x00"

// OpenFunc opens the keeper for keyID, the KmsKeyId of a secret ("" for
// secrets without one). Keys calls it at most once at a time per key ID and
// keeps what it returns until Close; an error is returned to the caller and
// not remembered, so the next use of that key ID tries again. It may be
// called from several goroutines at once for different key IDs.
//
// keyID comes from whoever may call CreateSecret or UpdateSecret: an
// OpenFunc that builds a URL from it must escape it, as [URLs] does.
type OpenFunc func(ctx context.Context, keyID string) (*secrets.Keeper, error)

// Keys adapts gocloud.dev/secrets keepers to [secretstore.Keys]. Make one
// with [New] or [Single]. It is safe for concurrent use.
type Keys struct {
	open  OpenFunc
	owned bool // whether Close closes the keepers

	mu      sync.Mutex
	keepers map[string]*entry
	closed  bool
}

// entry is a keeper being opened (done open) or opened.
type entry struct {
	done chan struct{} // closed when k and err are set
	k    *secrets.Keeper
	err  error
}

var _ secretstore.Keys = (*Keys)(nil)

// New returns Keys that wrap the data keys of a secret with the keeper
// that open returns for the secret's KmsKeyId. Keys owns those keepers:
// Close closes them.
func New(open OpenFunc) (*Keys, error) {
	if open == nil {
		return nil, errors.New("gocloudkeys: New needs an open function")
	}
	return &Keys{open: open, owned: true, keepers: map[string]*entry{}}, nil
}

// Single returns Keys that wrap every data key with k, under the default
// key "": a secret with a KmsKeyId fails with an error matching
// [ErrUnknownKey]. k stays the caller's: Close does not close it.
func Single(k *secrets.Keeper) (*Keys, error) {
	if k == nil {
		return nil, errors.New("gocloudkeys: Single needs a keeper")
	}
	open := func(ctx context.Context, keyID string) (*secrets.Keeper, error) {
		if keyID != "" {
			return nil, ErrUnknownKey
		}
		return k, nil
	}
	return &Keys{open: open, keepers: map[string]*entry{}}, nil
}

// URLs returns an OpenFunc that opens the keeper for a key ID with
// [secrets.OpenKeeper] at template, with "{keyID}" replaced by the key ID,
// or by defaultKeyID for the default key "". For AWS KMS:
//
//	gocloudkeys.URLs("awskms:///{keyID}?region=us-east-1", "alias/secretstore")
//
// opens "awskms:///alias/secretstore?region=us-east-1" for secrets without
// a KmsKeyId and "awskms:///alias/other?region=us-east-1" for KmsKeyId
// "alias/other"; key IDs and ARNs work alike. The key ID's slashes are kept
// and everything else that means something in a URL ("?", "#", "%") is
// escaped, so a KmsKeyId cannot add query parameters such as an endpoint;
// key IDs with empty, "." or ".." path segments are refused. A template
// without "{keyID}" is refused when used, and so is the default key when
// defaultKeyID is "" (with an error matching [ErrUnknownKey]).
//
// The URL's scheme must be registered with secrets.DefaultURLMux, usually
// by a blank import of the driver package (gocloud.dev/secrets/awskms).
func URLs(template, defaultKeyID string) OpenFunc {
	if !strings.Contains(template, "{keyID}") {
		// Every KmsKeyId would silently get the same keeper.
		return func(context.Context, string) (*secrets.Keeper, error) {
			return nil, errors.New("gocloudkeys: the URLs template has no {keyID}")
		}
	}
	return func(ctx context.Context, keyID string) (*secrets.Keeper, error) {
		id := keyID
		if id == "" {
			if defaultKeyID == "" {
				return nil, fmt.Errorf("%w: URLs was given no default key ID", ErrUnknownKey)
			}
			id = defaultKeyID
		}
		esc, err := escapeKeyID(id)
		if err != nil {
			return nil, err
		}
		return secrets.OpenKeeper(ctx, strings.ReplaceAll(template, "{keyID}", esc))
	}
}

// escapeKeyID escapes each slash-separated segment of id for a URL path.
func escapeKeyID(id string) (string, error) {
	segs := strings.Split(id, "/")
	for i, s := range segs {
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("gocloudkeys: key ID %q has an empty, \".\" or \"..\" segment", id)
		}
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/"), nil
}

// keeper returns the keeper for keyID, opening it if needed.
func (k *Keys) keeper(ctx context.Context, keyID string) (*secrets.Keeper, error) {
	for {
		k.mu.Lock()
		if k.closed {
			k.mu.Unlock()
			return nil, errClosed
		}
		e, ok := k.keepers[keyID]
		if !ok {
			e = &entry{done: make(chan struct{})}
			k.keepers[keyID] = e
			k.mu.Unlock()
			k.openEntry(ctx, keyID, e)
			return e.k, e.err
		}
		k.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err != nil && isContextErr(e.err) && ctx.Err() == nil {
			continue // another caller's context ended its open: try ours
		}
		return e.k, e.err
	}
}

// openEntry opens the keeper of e, which it has just added for keyID.
func (k *Keys) openEntry(ctx context.Context, keyID string, e *entry) {
	defer close(e.done)
	kp, err := k.open(ctx, keyID)
	if err == nil && kp == nil {
		err = errors.New("open returned no keeper")
	}
	k.mu.Lock()
	closed := k.closed
	switch {
	case err != nil:
		delete(k.keepers, keyID)
		if isContextErr(err) {
			e.err = err
		} else {
			e.err = fmt.Errorf("gocloudkeys: opening the keeper for %s: %w", keyName(keyID), err)
		}
	case closed:
		delete(k.keepers, keyID)
		e.err = errClosed
	default:
		e.k = kp
	}
	k.mu.Unlock()
	if err == nil && closed && k.owned {
		_ = kp.Close() // Close ran while it was being opened: ours to close
	}
}

// WrapKey implements [secretstore.Keys]. It encrypts dek, which must be
// 32 bytes, followed by a SHA-256 digest of aad with the keeper for keyID.
// The WrappedKey's KeyID is keyID as given, by which UnwrapKey finds the
// keeper again, and its Version is 0: the KMS keeps the versions of its
// keys itself.
func (k *Keys) WrapKey(ctx context.Context, keyID string, dek, aad []byte) (secretstore.WrappedKey, error) {
	if err := ctx.Err(); err != nil {
		return secretstore.WrappedKey{}, err
	}
	if len(dek) != dekSize {
		return secretstore.WrappedKey{}, fmt.Errorf("gocloudkeys: data key must be %d bytes, got %d", dekSize, len(dek))
	}
	kp, err := k.keeper(ctx, keyID)
	if err != nil {
		return secretstore.WrappedKey{}, err
	}
	var buf [dekSize + digestSize]byte
	defer clear(buf[:])
	copy(buf[:dekSize], dek)
	aadDigest(buf[dekSize:], aad)
	ct, err := kp.Encrypt(ctx, buf[:])
	if err != nil {
		if isContextErr(err) {
			return secretstore.WrappedKey{}, err
		}
		return secretstore.WrappedKey{}, fmt.Errorf("gocloudkeys: wrapping a data key under %s: %w", keyName(keyID), err)
	}
	if len(ct) > maxCiphertext {
		return secretstore.WrappedKey{}, fmt.Errorf("gocloudkeys: the keeper for %s returned a %d-byte ciphertext; secretstore stores at most %d bytes", keyName(keyID), len(ct), maxCiphertext)
	}
	return secretstore.WrappedKey{KeyID: keyID, Ciphertext: ct}, nil
}

// UnwrapKey implements [secretstore.Keys]. It decrypts key.Ciphertext with
// the keeper for key.KeyID and returns the data key if the digest that
// follows it matches aad; a key wrapped for another secret or version
// fails.
func (k *Keys) UnwrapKey(ctx context.Context, key secretstore.WrappedKey, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if key.Version != 0 {
		return nil, fmt.Errorf("gocloudkeys: %s has no version %d: wrapped by other Keys?", keyName(key.KeyID), key.Version)
	}
	if len(key.Ciphertext) == 0 {
		return nil, fmt.Errorf("gocloudkeys: empty wrapped data key for %s", keyName(key.KeyID))
	}
	kp, err := k.keeper(ctx, key.KeyID)
	if err != nil {
		return nil, err
	}
	pt, err := kp.Decrypt(ctx, key.Ciphertext)
	if err != nil {
		if isContextErr(err) {
			return nil, err
		}
		return nil, fmt.Errorf("gocloudkeys: unwrapping a data key under %s: %w", keyName(key.KeyID), err)
	}
	var want [digestSize]byte
	aadDigest(want[:], aad)
	if len(pt) != dekSize+digestSize || subtle.ConstantTimeCompare(pt[dekSize:], want[:]) != 1 {
		clear(pt)
		return nil, fmt.Errorf("gocloudkeys: the data key under %s was wrapped for other associated data, or by other Keys", keyName(key.KeyID))
	}
	return pt[:dekSize:dekSize], nil
}

// aadDigest writes SHA-256(aadDomain || aad) to dst.
func aadDigest(dst, aad []byte) {
	h := sha256.New()
	h.Write([]byte(aadDomain))
	h.Write(aad)
	h.Sum(dst[:0])
}

// Close closes the keepers that New's open function returned (not the
// keeper given to Single, which stays the caller's) and makes later calls
// fail. It returns their errors joined; closing again does nothing.
func (k *Keys) Close() error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	var open []*secrets.Keeper
	for id, e := range k.keepers {
		if e.k != nil {
			open = append(open, e.k)
			delete(k.keepers, id)
		}
		// Keepers still being opened are closed by openEntry.
	}
	k.mu.Unlock()
	if !k.owned {
		return nil
	}
	var errs []error
	for _, kp := range open {
		if err := kp.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gocloudkeys: closing keepers: %w", err)
	}
	return nil
}

// String describes k without anything its keepers hold.
func (k *Keys) String() string { return "gocloudkeys.Keys{[redacted]}" }

// GoString describes k without anything its keepers hold.
func (k *Keys) GoString() string { return k.String() }

// Format describes k without anything its keepers hold, whatever the verb.
func (k *Keys) Format(f fmt.State, verb rune) {
	switch verb {
	case 'v', 's', 'q':
		fmt.Fprint(f, k.String())
	default:
		fmt.Fprintf(f, "%%!%c(%s)", verb, k.String())
	}
}

// keyName names a key ID in errors; key IDs are not secret.
func keyName(keyID string) string {
	if keyID == "" {
		return "the default key"
	}
	return fmt.Sprintf("key %q", keyID)
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
