package gocloudkeys_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/gcerrors"
	"gocloud.dev/secrets"
	"gocloud.dev/secrets/localsecrets"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/keys/gocloudkeys"
)

var update = flag.Bool("update", false, "rewrite testdata/wrapped-v1.json")

// newKeeper returns a localsecrets keeper under a random key.
func newKeeper(t *testing.T) *secrets.Keeper {
	t.Helper()
	key, err := localsecrets.NewRandomKey()
	require.NoError(t, err, "NewRandomKey")
	k := localsecrets.NewKeeper(key)
	t.Cleanup(func() { _ = k.Close() })
	return k
}

// single returns Keys serving k as the default key.
func single(t *testing.T, k *secrets.Keeper) *gocloudkeys.Keys {
	t.Helper()
	keys, err := gocloudkeys.Single(k)
	require.NoError(t, err, "Single")
	return keys
}

// dek returns a recognisable 32-byte data key.
func dek(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// assertNoSecret checks that err's text holds none of the given secrets,
// raw or in hex.
func assertNoSecret(t *testing.T, err error, secrets ...[]byte) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range secrets {
		assert.NotContains(t, msg, string(s), "error text shows a secret")
		assert.NotContains(t, msg, hex.EncodeToString(s), "error text shows a secret in hex")
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	ka, kb := newKeeper(t), newKeeper(t)
	keys, err := gocloudkeys.New(func(ctx context.Context, keyID string) (*secrets.Keeper, error) {
		if keyID == "alias/b" {
			return kb, nil
		}
		return ka, nil
	})
	require.NoError(t, err, "New")
	for _, tc := range []struct {
		name  string
		keyID string
		aad   []byte
	}{
		{"default key", "", []byte("secretstore/v1\x00arn\x00v1\x00\x01")},
		{"named key", "alias/b", []byte("aad")},
		{"empty aad", "alias/b", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := dek(7)
			w, err := keys.WrapKey(t.Context(), tc.keyID, want, tc.aad)
			require.NoError(t, err, "WrapKey")
			assert.Equal(t, tc.keyID, w.KeyID, "KeyID")
			assert.Zero(t, w.Version, "Version")
			assert.NotContains(t, string(w.Ciphertext), string(want), "ciphertext holds the data key")
			got, err := keys.UnwrapKey(t.Context(), w, tc.aad)
			require.NoError(t, err, "UnwrapKey")
			assert.Equal(t, want, got, "data key")
		})
	}
}

func TestUnwrapFails(t *testing.T) {
	t.Parallel()
	ka, kb := newKeeper(t), newKeeper(t)
	keysA, keysB := single(t, ka), single(t, kb)
	secret, aad := dek(0x5a), []byte("the aad of version 1")
	w, err := keysA.WrapKey(t.Context(), "", secret, aad)
	require.NoError(t, err, "WrapKey")

	// A keeper's ciphertext of something else than dek || digest.
	bare, err := ka.Encrypt(t.Context(), secret)
	require.NoError(t, err, "Encrypt")

	with := func(f func(*secretstore.WrappedKey)) secretstore.WrappedKey {
		c := w
		c.Ciphertext = bytes.Clone(w.Ciphertext)
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		keys *gocloudkeys.Keys
		key  secretstore.WrappedKey
		aad  []byte
	}{
		{"wrong aad", keysA, w, []byte("the aad of version 2")},
		{"no aad", keysA, w, nil},
		{"tampered", keysA, with(func(k *secretstore.WrappedKey) { k.Ciphertext[len(k.Ciphertext)/2] ^= 1 }), aad},
		{"truncated", keysA, with(func(k *secretstore.WrappedKey) { k.Ciphertext = k.Ciphertext[:len(k.Ciphertext)-1] }), aad},
		{"empty", keysA, with(func(k *secretstore.WrappedKey) { k.Ciphertext = nil }), aad},
		{"other keeper", keysB, w, aad},
		{"key version", keysA, with(func(k *secretstore.WrappedKey) { k.Version = 1 }), aad},
		{"no digest", keysA, secretstore.WrappedKey{Ciphertext: bare}, aad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.keys.UnwrapKey(t.Context(), tc.key, tc.aad)
			require.Error(t, err, "UnwrapKey")
			assert.Nil(t, got, "data key")
			assertNoSecret(t, err, secret, aad)
		})
	}
}

func TestWrapRefusesBadDataKey(t *testing.T) {
	t.Parallel()
	keys := single(t, newKeeper(t))
	for _, n := range []int{0, 16, 31, 33, 64} {
		_, err := keys.WrapKey(t.Context(), "", make([]byte, n), nil)
		assert.Error(t, err, "WrapKey of a %d-byte data key", n)
	}
}

// bigKeeper is a driver whose ciphertexts are larger than secretstore
// stores.
type bigKeeper struct{}

func (bigKeeper) Encrypt(context.Context, []byte) ([]byte, error) { return make([]byte, 1025), nil }
func (bigKeeper) Decrypt(context.Context, []byte) ([]byte, error) { return nil, errors.New("no") }
func (bigKeeper) Close() error                                    { return nil }
func (bigKeeper) ErrorAs(error, any) bool                         { return false }
func (bigKeeper) ErrorCode(error) gcerrors.ErrorCode              { return gcerrors.Unknown }

func TestWrapRefusesLongCiphertext(t *testing.T) {
	t.Parallel()
	keys := single(t, secrets.NewKeeper(bigKeeper{}))
	_, err := keys.WrapKey(t.Context(), "", dek(1), nil)
	require.Error(t, err, "WrapKey")
	assert.Contains(t, err.Error(), "1025-byte ciphertext", "error")
}

func TestSingleUnknownKey(t *testing.T) {
	t.Parallel()
	keys := single(t, newKeeper(t))
	_, err := keys.WrapKey(t.Context(), "alias/other", dek(1), nil)
	assert.ErrorIs(t, err, gocloudkeys.ErrUnknownKey, "WrapKey")
	assert.ErrorContains(t, err, `"alias/other"`, "WrapKey error names the key ID")
	_, err = keys.UnwrapKey(t.Context(), secretstore.WrappedKey{KeyID: "alias/other", Ciphertext: []byte{1}}, nil)
	assert.ErrorIs(t, err, gocloudkeys.ErrUnknownKey, "UnwrapKey")
}

func TestConstructorsRefuseNil(t *testing.T) {
	t.Parallel()
	_, err := gocloudkeys.New(nil)
	assert.Error(t, err, "New(nil)")
	_, err = gocloudkeys.Single(nil)
	assert.Error(t, err, "Single(nil)")
}

// TestOpenConcurrentSafe has many goroutines use a few key IDs at once:
// each key ID's keeper is opened exactly once.
func TestOpenConcurrentSafe(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := map[string]int{}
	keepers := map[string]*secrets.Keeper{"": newKeeper(t), "a": newKeeper(t), "b": newKeeper(t)}
	keys, err := gocloudkeys.New(func(ctx context.Context, keyID string) (*secrets.Keeper, error) {
		mu.Lock()
		calls[keyID]++
		mu.Unlock()
		time.Sleep(10 * time.Millisecond) // let the others pile up
		return keepers[keyID], nil
	})
	require.NoError(t, err, "New")
	var wg sync.WaitGroup
	var failures atomic.Int32
	for i := range 30 {
		wg.Go(func() {
			id := []string{"", "a", "b"}[i%3]
			aad := fmt.Appendf(nil, "aad %d", i)
			w, err := keys.WrapKey(t.Context(), id, dek(byte(i)), aad)
			if err != nil {
				failures.Add(1)
				return
			}
			got, err := keys.UnwrapKey(t.Context(), w, aad)
			if err != nil || !bytes.Equal(got, dek(byte(i))) {
				failures.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Zero(t, failures.Load(), "failed round trips")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, map[string]int{"": 1, "a": 1, "b": 1}, calls, "open calls per key ID")
}

func TestOpenErrorNotCached(t *testing.T) {
	t.Parallel()
	k := newKeeper(t)
	var calls atomic.Int32
	boom := errors.New("KMS unreachable")
	keys, err := gocloudkeys.New(func(ctx context.Context, keyID string) (*secrets.Keeper, error) {
		if calls.Add(1) == 1 {
			return nil, boom
		}
		return k, nil
	})
	require.NoError(t, err, "New")
	_, err = keys.WrapKey(t.Context(), "alias/x", dek(1), nil)
	assert.ErrorIs(t, err, boom, "first WrapKey")
	assert.ErrorContains(t, err, `"alias/x"`, "error names the key ID")
	_, err = keys.WrapKey(t.Context(), "alias/x", dek(1), nil)
	assert.NoError(t, err, "second WrapKey")
	_, err = keys.WrapKey(t.Context(), "alias/x", dek(1), nil)
	assert.NoError(t, err, "third WrapKey")
	assert.EqualValues(t, 2, calls.Load(), "open calls")
}

// TestOpenCancelledByOtherCaller: a caller waiting for a keeper that
// another caller's context stopped opening opens it itself.
func TestOpenCancelledByOtherCaller(t *testing.T) {
	t.Parallel()
	k := newKeeper(t)
	started := make(chan struct{})
	var calls atomic.Int32
	keys, err := gocloudkeys.New(func(ctx context.Context, keyID string) (*secrets.Keeper, error) {
		if calls.Add(1) == 1 {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return k, nil
	})
	require.NoError(t, err, "New")
	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() {
		_, err := keys.WrapKey(ctx, "", dek(1), nil)
		first <- err
	}()
	<-started
	second := make(chan error, 1)
	go func() {
		_, err := keys.WrapKey(t.Context(), "", dek(1), nil)
		second <- err
	}()
	time.Sleep(10 * time.Millisecond) // let the second caller wait
	cancel()
	assert.ErrorIs(t, <-first, context.Canceled, "cancelled caller")
	assert.NoError(t, <-second, "other caller")
}

func TestContextErrorsNotWrapped(t *testing.T) {
	t.Parallel()
	keys := single(t, newKeeper(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := keys.WrapKey(ctx, "", dek(1), nil)
	assert.Equal(t, context.Canceled, err, "WrapKey")
	_, err = keys.UnwrapKey(ctx, secretstore.WrappedKey{Ciphertext: []byte{1}}, nil)
	assert.Equal(t, context.Canceled, err, "UnwrapKey")
}

func TestClose(t *testing.T) {
	t.Parallel()
	t.Run("New closes its keepers", func(t *testing.T) {
		t.Parallel()
		k := newKeeper(t)
		keys, err := gocloudkeys.New(func(context.Context, string) (*secrets.Keeper, error) { return k, nil })
		require.NoError(t, err, "New")
		_, err = keys.WrapKey(t.Context(), "", dek(1), nil)
		require.NoError(t, err, "WrapKey")
		require.NoError(t, keys.Close(), "Close")
		_, err = k.Encrypt(t.Context(), []byte("x"))
		assert.Error(t, err, "keeper still open after Close")
		_, err = keys.WrapKey(t.Context(), "", dek(1), nil)
		assert.Error(t, err, "WrapKey after Close")
		assert.NoError(t, keys.Close(), "second Close")
	})
	t.Run("Single leaves the keeper open", func(t *testing.T) {
		t.Parallel()
		k := newKeeper(t)
		keys := single(t, k)
		_, err := keys.WrapKey(t.Context(), "", dek(1), nil)
		require.NoError(t, err, "WrapKey")
		require.NoError(t, keys.Close(), "Close")
		_, err = k.Encrypt(t.Context(), []byte("x"))
		assert.NoError(t, err, "the caller's keeper was closed")
		_, err = keys.UnwrapKey(t.Context(), secretstore.WrappedKey{Ciphertext: []byte{1}}, nil)
		assert.Error(t, err, "UnwrapKey after Close")
	})
}

// TestFormatShowsNothing formats Keys that hold a keeper with every verb:
// nothing of the keeper (its key) shows.
func TestFormatShowsNothing(t *testing.T) {
	t.Parallel()
	var key [32]byte
	for i := range key {
		key[i] = 0xa0 + byte(i%16)
	}
	keys := single(t, localsecrets.NewKeeper(key))
	_, err := keys.WrapKey(t.Context(), "", dek(1), nil)
	require.NoError(t, err, "WrapKey")
	const want = "gocloudkeys.Keys{[redacted]}"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		assert.Equal(t, want, fmt.Sprintf(verb, keys), verb)
	}
	assert.NotContains(t, fmt.Sprintf("%x %d", keys, keys), hex.EncodeToString(key[:4]), "%x, %d")
	assert.Equal(t, "{K:"+want+"}", fmt.Sprintf("%+v", struct{ K secretstore.Keys }{keys}), "nested")
}

// testOpener serves the URL scheme "gocloudkeystest" for TestURLs: it
// reports the URLs it opens and returns its keeper.
var testOpener = &keeperOpener{}

func init() { secrets.DefaultURLMux().RegisterKeeper("gocloudkeystest", testOpener) }

func TestURLs(t *testing.T) {
	t.Parallel()
	open := gocloudkeys.URLs("gocloudkeystest:///{keyID}?region=us-east-1", "alias/secretstore")
	for _, tc := range []struct {
		name, keyID string
		wantPath    string // "" if open must fail
	}{
		{"default", "", "/alias/secretstore"},
		{"alias", "alias/other", "/alias/other"},
		{"key ID", "1234abcd-12ab-34cd-56ef-1234567890ab", "/1234abcd-12ab-34cd-56ef-1234567890ab"},
		{"ARN", "arn:aws:kms:us-east-1:111122223333:key/1234abcd", "/arn:aws:kms:us-east-1:111122223333:key/1234abcd"},
		{"query injection", "alias/x?endpoint=evil.example&region=eu-west-1", "/alias/x?endpoint=evil.example&region=eu-west-1"},
		{"fragment and percent", "alias/x#y%41", "/alias/x#y%41"},
		{"dot dot", "alias/../key/x", ""},
		{"dot", "alias/./x", ""},
		{"empty segment", "alias//x", ""},
		{"leading slash", "/alias/x", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := open(t.Context(), tc.keyID)
			opened, k := testOpener.take()
			if got != nil {
				t.Cleanup(func() { _ = got.Close() })
			}
			if tc.wantPath == "" {
				assert.Error(t, err, "open")
				assert.Empty(t, opened, "opened URLs")
				return
			}
			require.NoError(t, err, "open")
			assert.Same(t, k, got, "keeper")
			require.Len(t, opened, 1, "opened URLs")
			u := opened[0]
			assert.Equal(t, tc.wantPath, u.Path, "key ID as the opener sees it")
			assert.Empty(t, u.Host, "host")
			assert.Equal(t, url.Values{"region": {"us-east-1"}}, u.Query(), "query")
			assert.Empty(t, u.Fragment, "fragment")
		})
	}
}

func TestURLsRefusesBadConfig(t *testing.T) {
	t.Parallel()
	_, err := gocloudkeys.URLs("gocloudkeystest:///alias/fixed", "alias/x")(t.Context(), "alias/y")
	assert.ErrorContains(t, err, "{keyID}", "template without {keyID}")
	_, err = gocloudkeys.URLs("gocloudkeystest:///{keyID}", "")(t.Context(), "")
	assert.ErrorIs(t, err, gocloudkeys.ErrUnknownKey, "no default key ID")
}

// TestCloseWhileOpening closes Keys while a keeper is being opened: the
// keeper is closed when it arrives and the call that opened it fails.
func TestCloseWhileOpening(t *testing.T) {
	t.Parallel()
	k := newKeeper(t)
	started, release := make(chan struct{}), make(chan struct{})
	keys, err := gocloudkeys.New(func(context.Context, string) (*secrets.Keeper, error) {
		close(started)
		<-release
		return k, nil
	})
	require.NoError(t, err, "New")
	done := make(chan error, 1)
	go func() {
		_, err := keys.WrapKey(t.Context(), "", dek(1), nil)
		done <- err
	}()
	<-started
	require.NoError(t, keys.Close(), "Close")
	close(release)
	assert.Error(t, <-done, "WrapKey")
	_, err = k.Encrypt(t.Context(), []byte("x"))
	assert.Error(t, err, "the keeper opened during Close is still open")
}

// keeperOpener is a secrets.KeeperURLOpener that remembers the URLs it
// opens, returning a fresh localsecrets keeper each time.
type keeperOpener struct {
	mu     sync.Mutex
	k      *secrets.Keeper
	opened []*url.URL
}

func (o *keeperOpener) OpenKeeperURL(_ context.Context, u *url.URL) (*secrets.Keeper, error) {
	key, err := localsecrets.NewRandomKey()
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.k = localsecrets.NewKeeper(key)
	o.opened = append(o.opened, u)
	return o.k, nil
}

// take returns and forgets the URLs opened so far and the last keeper.
func (o *keeperOpener) take() ([]*url.URL, *secrets.Keeper) {
	o.mu.Lock()
	defer o.mu.Unlock()
	opened, k := o.opened, o.k
	o.opened, o.k = nil, nil
	return opened, k
}

// vector is a wrapped data key pinned in testdata.
type vector struct {
	Comment    string `json:"comment"`
	KeeperKey  string `json:"keeper_key"` // localsecrets key, hex
	AAD        string `json:"aad"`        // hex
	DEK        string `json:"dek"`        // hex
	Ciphertext string `json:"ciphertext"` // hex
}

// TestVector unwraps a data key that an earlier version wrapped, pinning
// the wrapped plaintext's layout (dek || SHA-256(domain || aad)).
func TestVector(t *testing.T) {
	t.Parallel()
	path := filepath.Join("testdata", "wrapped-v1.json")
	if *update {
		var key [32]byte
		for i := range key {
			key[i] = byte(i)
		}
		aad := []byte("secretstore/v1\x00arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf\x00EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE\x00\x01")
		w, err := single(t, localsecrets.NewKeeper(key)).WrapKey(t.Context(), "", dek(0x42), aad)
		require.NoError(t, err, "WrapKey")
		v := vector{
			Comment:    "gocloudkeys wrapped data key: localsecrets (NaCl secretbox) of dek || SHA-256(\"secretstore/gocloudkeys/v1\\x00\" || aad)",
			KeeperKey:  hex.EncodeToString(key[:]),
			AAD:        hex.EncodeToString(aad),
			DEK:        hex.EncodeToString(dek(0x42)),
			Ciphertext: hex.EncodeToString(w.Ciphertext),
		}
		b, err := json.MarshalIndent(v, "", "\t")
		require.NoError(t, err, "Marshal")
		require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644), "WriteFile")
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err, "ReadFile")
	var v vector
	require.NoError(t, json.Unmarshal(b, &v), "Unmarshal")
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		require.NoError(t, err, "hex")
		return b
	}
	var key [32]byte
	copy(key[:], unhex(v.KeeperKey))
	keys := single(t, localsecrets.NewKeeper(key))
	got, err := keys.UnwrapKey(t.Context(), secretstore.WrappedKey{Ciphertext: unhex(v.Ciphertext)}, unhex(v.AAD))
	require.NoError(t, err, "UnwrapKey")
	assert.Equal(t, unhex(v.DEK), got, "data key")
}
