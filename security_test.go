package secretstore_test

// Security tests (STYLE.md §5, §7): no plaintext value reaches the backend,
// a sealed value opens only in its own place, nothing that formats or logs a
// request, response or error shows a value, keys other than the ones that
// sealed a value cannot open it, and Sweep removes orphaned blobs and
// nothing else. Helpers are prefixed "sec" so they do not collide with other
// test files of this package.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend"
	"github.com/secretstore/secretstore/backend/membackend"
)

// secEpoch is where the FakeClock of every test here starts.
var secEpoch = time.Date(2026, time.March, 4, 5, 6, 7, 0, time.UTC)

// secTok returns the i-th ClientRequestToken of a test: 32 characters.
func secTok(i int) string { return fmt.Sprintf("sec-test-token-%017d", i) }

// secBytes returns n distinctive pseudo-random bytes for seed.
func secBytes(seed byte, n int) []byte {
	r := rand.NewChaCha8([32]byte{0x5e, 0xc0, seed})
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

// secText returns n distinctive printable characters for seed.
func secText(seed byte, n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := secBytes(seed, n)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

// secMaster returns a 32-byte master key for seed.
func secMaster(seed byte) []byte { return secBytes(seed^0xa5, 32) }

// secLocalKeys returns LocalKeys over master.
func secLocalKeys(t *testing.T, master []byte) *secretstore.LocalKeys {
	t.Helper()
	k, err := secretstore.NewLocalKeys(master)
	require.NoError(t, err, "NewLocalKeys")
	return k
}

// secNew returns an engine over b whose clock is clock (a fresh FakeClock at
// secEpoch if nil).
func secNew(t *testing.T, b backend.Backend, clock *secretstore.FakeClock, opts ...secretstore.Option) *secretstore.Engine {
	t.Helper()
	if clock == nil {
		clock = secretstore.NewFakeClock(secEpoch)
	}
	e, err := secretstore.New(b, append([]secretstore.Option{secretstore.WithClock(clock)}, opts...)...)
	require.NoError(t, err, "New")
	return e
}

// secMem returns a fresh membackend, closed when t ends.
func secMem(t *testing.T) *membackend.Backend {
	t.Helper()
	b := membackend.New()
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// secEncodings returns the forms in which a value could leak: raw, and
// as base64 and hex, the encodings a careless record format would use.
func secEncodings(v []byte) map[string][]byte {
	return map[string][]byte{
		"raw":    v,
		"base64": []byte(base64.StdEncoding.EncodeToString(v)),
		"hex":    []byte(hex.EncodeToString(v)),
	}
}

// secGet reads a version (CURRENT when versionID is "") and checks its
// value: want is a string value unless bin.
func secGet(t *testing.T, s secretstore.Store, id, versionID string, want []byte, bin bool) {
	t.Helper()
	out, err := s.GetSecretValue(t.Context(), &secretstore.GetSecretValueInput{SecretId: id, VersionId: versionID})
	if !assert.NoError(t, err, "GetSecretValue(%s, %q)", id, versionID) {
		return
	}
	if bin {
		assert.Equal(t, want, out.SecretBinary, "GetSecretValue(%s, %q).SecretBinary", id, versionID)
		assert.Empty(t, out.SecretString, "GetSecretValue(%s, %q).SecretString", id, versionID)
	} else {
		assert.Equal(t, string(want), out.SecretString, "GetSecretValue(%s, %q).SecretString", id, versionID)
		assert.Nil(t, out.SecretBinary, "GetSecretValue(%s, %q).SecretBinary", id, versionID)
	}
}

// secBlobs returns every blob key of b.
func secBlobs(t *testing.T, b backend.Backend) []string {
	t.Helper()
	var keys []string
	for after := ""; ; {
		page, err := b.ListBlobs(t.Context(), after, 100)
		require.NoError(t, err, "ListBlobs")
		keys = append(keys, page...)
		if len(page) < 100 {
			return keys
		}
		after = page[len(page)-1]
	}
}

// secRecords returns every record of b.
func secRecords(t *testing.T, b backend.Backend) []backend.Record {
	t.Helper()
	var recs []backend.Record
	for after := ""; ; {
		page, err := b.ListRecords(t.Context(), "", after, 100)
		require.NoError(t, err, "ListRecords")
		recs = append(recs, page...)
		if len(page) < 100 {
			return recs
		}
		after = page[len(page)-1].Key
	}
}

// secRecorder is a backend that passes every call to another and keeps a
// copy of every byte slice written through it.
type secRecorder struct {
	backend.Backend
	mu     sync.Mutex
	writes []secWrite
}

// secWrite is one write a secRecorder saw.
type secWrite struct {
	op, key string
	data    []byte
}

func (r *secRecorder) note(op, key string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, secWrite{op: op, key: key, data: bytes.Clone(data)})
}

func (r *secRecorder) CreateRecord(ctx context.Context, key string, data []byte) (uint64, error) {
	r.note("CreateRecord", key, data)
	return r.Backend.CreateRecord(ctx, key, data)
}

func (r *secRecorder) UpdateRecord(ctx context.Context, key string, revision uint64, data []byte) (uint64, error) {
	r.note("UpdateRecord", key, data)
	return r.Backend.UpdateRecord(ctx, key, revision, data)
}

func (r *secRecorder) PutBlob(ctx context.Context, key string, data []byte) error {
	r.note("PutBlob", key, data)
	return r.Backend.PutBlob(ctx, key, data)
}

func (r *secRecorder) seen() []secWrite {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.writes)
}

func TestNoPlaintextReachesBackend(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rec := &secRecorder{Backend: secMem(t)}
	e := secNew(t, rec, nil)

	type written struct {
		id, versionID string
		value         []byte
		bin           bool
	}
	var values []written
	str := func(id, tok string, seed byte, n int) *string {
		s := "plaintext-" + secText(seed, n)
		values = append(values, written{id, tok, []byte(s), false})
		return &s
	}
	bin := func(id, tok string, seed byte, n int) []byte {
		b := secBytes(seed, n)
		values = append(values, written{id, tok, b, true})
		return b
	}
	const (
		strID = "plain/string"
		binID = "plain/binary"
		bigID = "plain/large"
	)

	// Every way a value gets written: create, put (with and without
	// labels), an idempotent retry, update, and a KmsKeyId rotation that
	// seals the labelled versions again, alone and together with a value.
	_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: strID, ClientRequestToken: secTok(1), SecretString: str(strID, secTok(1), 1, 40)})
	require.NoError(t, err, "CreateSecret string")
	_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: binID, ClientRequestToken: secTok(2), SecretBinary: bin(binID, secTok(2), 2, 48), KmsKeyId: "alias/first"})
	require.NoError(t, err, "CreateSecret binary")
	_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: bigID, ClientRequestToken: secTok(3), SecretString: str(bigID, secTok(3), 3, 65536-len("plaintext-"))})
	require.NoError(t, err, "CreateSecret 64 KiB string")
	putIn := &secretstore.PutSecretValueInput{SecretId: strID, ClientRequestToken: secTok(4), SecretString: str(strID, secTok(4), 4, 33)}
	_, err = e.PutSecretValue(ctx, putIn)
	require.NoError(t, err, "PutSecretValue string")
	_, err = e.PutSecretValue(ctx, putIn)
	require.NoError(t, err, "PutSecretValue retry")
	_, err = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: strID, ClientRequestToken: secTok(5), SecretString: str(strID, secTok(5), 5, 35), VersionStages: []string{secretstore.LabelPending}})
	require.NoError(t, err, "PutSecretValue AWSPENDING")
	_, err = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: binID, ClientRequestToken: secTok(6), SecretBinary: bin(binID, secTok(6), 6, 1)})
	require.NoError(t, err, "PutSecretValue one-byte binary")
	_, err = e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: strID, ClientRequestToken: secTok(7), SecretString: str(strID, secTok(7), 7, 50)})
	require.NoError(t, err, "UpdateSecret value")
	_, err = e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: strID, KmsKeyId: secretstore.String("alias/rotated")})
	require.NoError(t, err, "UpdateSecret KmsKeyId")
	_, err = e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: binID, ClientRequestToken: secTok(8), SecretBinary: bin(binID, secTok(8), 8, 64), KmsKeyId: secretstore.String("alias/second")})
	require.NoError(t, err, "UpdateSecret KmsKeyId and value")

	// The one-byte binary value is too short to search for; leave it out.
	values = slices.DeleteFunc(values, func(w written) bool { return len(w.value) < 8 })

	// Every value still reads, and the rotation did seal the labelled
	// versions again under the new key.
	for _, w := range values {
		secGet(t, e, w.id, w.versionID, w.value, w.bin)
	}
	list, err := e.ListSecretVersionIds(ctx, &secretstore.ListSecretVersionIdsInput{SecretId: strID, IncludeDeprecated: true})
	require.NoError(t, err, "ListSecretVersionIds")
	keyOf := map[string][]string{}
	for _, v := range list.Versions {
		keyOf[v.VersionId] = v.KmsKeyIds
	}
	for _, tok := range []string{secTok(4), secTok(5), secTok(7)} { // AWSPREVIOUS, AWSPENDING, AWSCURRENT
		assert.Equal(t, []string{"alias/rotated"}, keyOf[tok], "KmsKeyIds of labelled version %s after rotation", tok)
	}
	assert.Equal(t, []string{secretstore.DefaultKeyID}, keyOf[secTok(1)], "KmsKeyIds of deprecated version %s", secTok(1))

	writes := rec.seen()
	var blobPuts int
	sawName := false
	for _, w := range writes {
		if w.op == "PutBlob" {
			blobPuts++
		} else if bytes.Contains(w.data, []byte(strID)) {
			sawName = true
		}
		for _, v := range values {
			for enc, needle := range secEncodings(v.value) {
				assert.False(t, bytes.Contains(w.data, needle),
					"%s(%q) wrote the %s plaintext of version %s of %s", w.op, w.key, enc, v.versionID, v.id)
			}
		}
	}
	// 8 values, plus 5 labelled versions sealed again by the rotations.
	assert.GreaterOrEqual(t, blobPuts, 13, "blobs written")
	// The scan reads what the engine stores: the name is in a record.
	assert.True(t, sawName, "no record write contains the secret name %q: the recorder saw nothing", strID)

	// What the backend holds at the end.
	var stored [][]byte
	for _, r := range secRecords(t, rec) {
		stored = append(stored, r.Data)
	}
	for _, k := range secBlobs(t, rec) {
		data, err := rec.GetBlob(ctx, k)
		require.NoError(t, err, "GetBlob(%q)", k)
		stored = append(stored, data)
	}
	require.NotEmpty(t, stored)
	for i, data := range stored {
		for _, v := range values {
			for enc, needle := range secEncodings(v.value) {
				assert.False(t, bytes.Contains(data, needle),
					"stored item %d holds the %s plaintext of version %s of %s", i, enc, v.versionID, v.id)
			}
		}
	}
}

// secSwapper is a backend that passes every call to another, remembers the
// keys of the blobs written through it, and makes GetBlob return other
// bytes (or ErrNotFound) for the keys it is told to.
type secSwapper struct {
	backend.Backend
	mu      sync.Mutex
	puts    []string
	swapped map[string][]byte // key -> what GetBlob returns; nil: not found
}

func (s *secSwapper) PutBlob(ctx context.Context, key string, data []byte) error {
	err := s.Backend.PutBlob(ctx, key, data)
	if err == nil {
		s.mu.Lock()
		s.puts = append(s.puts, key)
		s.mu.Unlock()
	}
	return err
}

func (s *secSwapper) GetBlob(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	data, ok := s.swapped[key]
	s.mu.Unlock()
	if !ok {
		return s.Backend.GetBlob(ctx, key)
	}
	if data == nil {
		return nil, backend.ErrNotFound
	}
	return bytes.Clone(data), nil
}

// lastPut returns the key of the last blob written.
func (s *secSwapper) lastPut(t *testing.T) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NotEmpty(t, s.puts, "no blob written")
	return s.puts[len(s.puts)-1]
}

// swap makes GetBlob(key) return data (ErrNotFound if nil) until reset.
func (s *secSwapper) swap(key string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.swapped = map[string][]byte{key: data}
}

func (s *secSwapper) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.swapped = nil
}

// TestSealedValueBoundToVersion tampers with sealed values, under LocalKeys
// and under a Keyring: every tampered read fails with DecryptionFailure and
// none yields another value.
func TestSealedValueBoundToVersion(t *testing.T) {
	t.Parallel()
	for _, keyring := range []bool{false, true} {
		name := "LocalKeys"
		if keyring {
			name = "Keyring"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			secSealedValueBound(t, keyring)
		})
	}
}

func secSealedValueBound(t *testing.T, keyring bool) {
	ctx := t.Context()
	sw := &secSwapper{Backend: secMem(t)}
	var opts []secretstore.Option
	if keyring {
		master, err := secretstore.MasterKeyFromBytes(secMaster(7))
		require.NoError(t, err)
		kr, err := secretstore.OpenKeyring(ctx, sw, master)
		require.NoError(t, err, "OpenKeyring")
		opts = append(opts, secretstore.WithKeys(kr))
	}
	e := secNew(t, sw, nil, opts...)

	const (
		one = "bound/one"
		two = "bound/two"
	)
	tokA, tokB, tokD := secTok(1), secTok(2), secTok(4)
	valA, valB, valC := "value-A-"+secText(1, 24), "value-B-"+secText(2, 24), "value-C-"+secText(3, 24)
	valD := []byte("value-D-" + secText(4, 24))

	// bound/one: A (AWSPREVIOUS), B (AWSCURRENT) and D (binary, label BIN).
	// bound/two: C, under the same VersionId as A.
	_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: one, ClientRequestToken: tokA, SecretString: &valA})
	require.NoError(t, err)
	blobA := sw.lastPut(t)
	_, err = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: one, ClientRequestToken: tokB, SecretString: &valB})
	require.NoError(t, err)
	blobB := sw.lastPut(t)
	_, err = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: one, ClientRequestToken: tokD, SecretBinary: valD, VersionStages: []string{"BIN"}})
	require.NoError(t, err)
	blobD := sw.lastPut(t)
	_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: two, ClientRequestToken: tokA, SecretString: &valC})
	require.NoError(t, err)
	blobC := sw.lastPut(t)
	require.Len(t, slices.Compact(slices.Sorted(slices.Values([]string{blobA, blobB, blobC, blobD}))), 4, "blob keys")

	sealed := map[string][]byte{}
	for _, k := range []string{blobA, blobB, blobC, blobD} {
		sealed[k], err = sw.Backend.GetBlob(ctx, k)
		require.NoError(t, err, "GetBlob(%q)", k)
	}
	values := []string{valA, valB, valC, string(valD)}
	current := map[string]string{one: valB, two: valC}

	// check reads version versionID of id with GetSecretValue, and both
	// secrets with BatchGetSecretValue, while a blob is tampered with: the
	// tampered read must fail with DecryptionFailure and show no value,
	// and no read may return a value that is not the one it asked for.
	check := func(t *testing.T, id, versionID string) {
		t.Helper()
		out, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: id, VersionId: versionID})
		if assert.ErrorIs(t, err, secretstore.ErrDecryptionFailure, "GetSecretValue(%s, %s)", id, versionID) {
			for _, v := range values {
				assert.NotContains(t, fmt.Sprintf("%+v", err), v, "error text")
			}
		}
		assert.Nil(t, out, "GetSecretValue(%s, %s) returned a value from a tampered blob", id, versionID)

		batch, err := e.BatchGetSecretValue(ctx, &secretstore.BatchGetSecretValueInput{SecretIdList: []string{one, two}})
		require.NoError(t, err, "BatchGetSecretValue")
		for _, v := range batch.SecretValues {
			assert.Equal(t, current[v.Name], v.SecretString, "BatchGetSecretValue value of %s", v.Name)
		}
		assert.Len(t, batch.SecretValues, 2-len(batch.Errors), "BatchGetSecretValue entries")
		for _, be := range batch.Errors {
			assert.Equal(t, string(secretstore.CodeDecryptionFailure), be.ErrorCode, "BatchGetSecretValue error for %s", be.SecretId)
		}
	}

	type tamper struct {
		name      string
		blob      string // whose GetBlob is tampered with
		data      []byte // what it returns instead; nil: not found
		id, verID string // the read that must fail
	}
	cases := []tamper{
		{"OtherVersionOfSameSecret", blobA, sealed[blobB], one, tokA},
		{"OtherVersionOfSameSecretReversed", blobB, sealed[blobA], one, tokB},
		{"SameVersionIdOfOtherSecret", blobA, sealed[blobC], one, tokA},
		{"SameVersionIdOfOtherSecretReversed", blobC, sealed[blobA], two, tokA},
		{"BinaryVersionAsString", blobA, sealed[blobD], one, tokA},
		{"StringVersionAsBinary", blobD, sealed[blobB], one, tokD},
		{"Empty", blobB, []byte{}, one, tokB},
		{"Missing", blobB, nil, one, tokB},
		{"TrailingByte", blobB, append(bytes.Clone(sealed[blobB]), 0), one, tokB},
	}
	for _, n := range []int{1, 2, 4, 6, len(sealed[blobB]) / 2, len(sealed[blobB]) - 16, len(sealed[blobB]) - 1} {
		cases = append(cases, tamper{fmt.Sprintf("TruncatedTo%d", n), blobB, bytes.Clone(sealed[blobB][:n]), one, tokB})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sw.swap(tc.blob, tc.data)
			defer sw.reset()
			check(t, tc.id, tc.verID)
		})
	}

	t.Run("FlippedByte", func(t *testing.T) {
		defer sw.reset()
		for i := range sealed[blobB] {
			flipped := bytes.Clone(sealed[blobB])
			flipped[i] ^= 0x01
			sw.swap(blobB, flipped)
			out, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: one})
			assert.ErrorIs(t, err, secretstore.ErrDecryptionFailure, "byte %d of %d flipped", i, len(flipped))
			assert.Nil(t, out, "byte %d of %d flipped: got a value", i, len(flipped))
		}
	})

	// An idempotent retry compares the stored value with the request's: a
	// blob swapped for another version's must not pass for that version's
	// value.
	t.Run("RetryAgainstSwappedBlob", func(t *testing.T) {
		sw.swap(blobA, sealed[blobB])
		defer sw.reset()
		_, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: one, ClientRequestToken: tokA, SecretString: &valB})
		assert.ErrorIs(t, err, secretstore.ErrDecryptionFailure, "PutSecretValue retry with token %s and the value of %s", tokA, tokB)
	})

	// Untampered, everything reads.
	secGet(t, e, one, tokA, []byte(valA), false)
	secGet(t, e, one, tokB, []byte(valB), false)
	secGet(t, e, one, tokD, valD, true)
	secGet(t, e, two, tokA, []byte(valC), false)
}

// secSensitive holds the values TestRedaction must never see printed.
type secSensitive struct {
	str    string
	bin    []byte
	random string
}

// needles returns every form in which a value would show if printed:
// itself, quoted, and for the binary value also as fmt prints a []byte
// with %v (decimal), base64 (JSON) and hex.
func (s secSensitive) needles() map[string]string {
	dec := strings.Trim(fmt.Sprint(s.bin), "[]")
	return map[string]string{
		"string":             s.str,
		"binary":             string(s.bin),
		"binary as %v":       dec,
		"binary as base64":   base64.StdEncoding.EncodeToString(s.bin),
		"binary as hex":      hex.EncodeToString(s.bin),
		"binary as %x upper": strings.ToUpper(hex.EncodeToString(s.bin)),
		"random password":    s.random,
	}
}

// assertHidden checks that text shows none of the values.
func (s secSensitive) assertHidden(t *testing.T, text, what string) {
	t.Helper()
	for name, needle := range s.needles() {
		if i := strings.Index(text, needle); needle != "" && i >= 0 {
			t.Errorf("%s shows the %s at byte %d: ...%s...", what, name, i, text[max(0, i-60):min(len(text), i+len(needle)+20)])
		}
	}
}

// secRendered returns v as each fmt verb and each slog handler renders it.
func secRendered(v any) map[string]string {
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out["fmt "+verb] = fmt.Sprintf(verb, v)
	}
	for name, mk := range map[string]func(*bytes.Buffer) slog.Handler{
		"TextHandler": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"JSONHandler": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var buf bytes.Buffer
		slog.New(mk(&buf)).Info("msg", slog.Any("x", v))
		out["slog "+name] = buf.String()
	}
	return out
}

func TestRedaction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	mem := secMem(t)
	e := secNew(t, mem, nil)
	sens := secSensitive{
		str: "redact-me-string-" + secText(11, 20),
		bin: []byte("redact-me-binary-" + secText(12, 20)),
	}
	str := sens.str

	// Real responses, as well as requests built by hand.
	_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "redact/string", ClientRequestToken: secTok(1), SecretString: &str})
	require.NoError(t, err)
	_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "redact/binary", ClientRequestToken: secTok(2), SecretBinary: sens.bin})
	require.NoError(t, err)
	getStr, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "redact/string"})
	require.NoError(t, err)
	require.Equal(t, str, getStr.SecretString)
	getBin, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "redact/binary"})
	require.NoError(t, err)
	require.Equal(t, sens.bin, getBin.SecretBinary)
	batch, err := e.BatchGetSecretValue(ctx, &secretstore.BatchGetSecretValueInput{SecretIdList: []string{"redact/string", "redact/binary"}})
	require.NoError(t, err)
	require.Len(t, batch.SecretValues, 2)
	pw, err := e.GetRandomPassword(ctx, &secretstore.GetRandomPasswordInput{})
	require.NoError(t, err)
	require.Len(t, pw.RandomPassword, 32)
	sens.random = pw.RandomPassword

	entryStr := batch.SecretValues[slices.IndexFunc(batch.SecretValues, func(v secretstore.SecretValueEntry) bool { return v.SecretString != "" })]
	entryBin := batch.SecretValues[slices.IndexFunc(batch.SecretValues, func(v secretstore.SecretValueEntry) bool { return v.SecretBinary != nil })]
	cases := []struct {
		name string
		v    any
	}{
		{"CreateSecretInput/string", secretstore.CreateSecretInput{Name: "n", SecretString: &str}},
		{"CreateSecretInput/binary", secretstore.CreateSecretInput{Name: "n", SecretBinary: sens.bin}},
		{"PutSecretValueInput/string", secretstore.PutSecretValueInput{SecretId: "n", SecretString: &str}},
		{"PutSecretValueInput/binary", secretstore.PutSecretValueInput{SecretId: "n", SecretBinary: sens.bin}},
		{"UpdateSecretInput/string", secretstore.UpdateSecretInput{SecretId: "n", SecretString: &str}},
		{"UpdateSecretInput/binary", secretstore.UpdateSecretInput{SecretId: "n", SecretBinary: sens.bin}},
		{"GetSecretValueOutput/string", *getStr},
		{"GetSecretValueOutput/binary", *getBin},
		{"SecretValueEntry/string", entryStr},
		{"SecretValueEntry/binary", entryBin},
		{"BatchGetSecretValueOutput", *batch},
		{"GetRandomPasswordOutput", *pw},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, form := range []struct {
				name string
				v    any
			}{{"value", tc.v}, {"pointer", secPointerTo(tc.v)}} {
				for how, text := range secRendered(form.v) {
					what := form.name + " via " + how
					sens.assertHidden(t, text, what)
					if !strings.Contains(text, "[redacted]") {
						t.Errorf("%s does not say [redacted]", what)
					}
				}
			}
		})
	}

	// Errors that a request with a value can cause never show the value.
	t.Run("Errors", func(t *testing.T) {
		long := strings.Repeat(sens.str, 65536/len(sens.str)+1)
		longBin := bytes.Repeat(sens.bin, 65536/len(sens.bin)+1)
		other := "other-" + sens.str
		errs := map[string]error{}
		// E6: the token of an existing version with another value.
		_, errs["CreateSecret E6"] = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "redact/string", ClientRequestToken: secTok(1), SecretString: &other})
		_, errs["PutSecretValue E6"] = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "redact/string", ClientRequestToken: secTok(1), SecretString: &other})
		_, errs["PutSecretValue E6 binary"] = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "redact/binary", ClientRequestToken: secTok(2), SecretBinary: append(bytes.Clone(sens.bin), '!')})
		_, errs["UpdateSecret E6"] = e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: "redact/string", ClientRequestToken: secTok(1), SecretString: &other})
		for op, err := range errs {
			require.ErrorIs(t, err, secretstore.ErrResourceExists, op)
		}
		// Validation: values over 64 KiB, and both kinds at once.
		_, errs["CreateSecret too long"] = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "redact/long", SecretString: &long})
		_, errs["PutSecretValue too long"] = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "redact/string", SecretString: &long})
		_, errs["PutSecretValue binary too long"] = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "redact/binary", SecretBinary: longBin})
		_, errs["UpdateSecret too long"] = e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: "redact/string", SecretString: &long})
		_, errs["PutSecretValue both"] = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "redact/string", SecretString: &str, SecretBinary: sens.bin})
		for _, op := range []string{"CreateSecret too long", "PutSecretValue too long", "PutSecretValue binary too long", "UpdateSecret too long"} {
			require.ErrorIs(t, errs[op], secretstore.ErrValidation, op)
		}
		require.ErrorIs(t, errs["PutSecretValue both"], secretstore.ErrInvalidParameter)
		// DecryptionFailure: an engine with other keys reads the values.
		stranger := secNew(t, mem, nil)
		_, errs["GetSecretValue other keys"] = stranger.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "redact/string"})
		_, errs["GetSecretValue other keys binary"] = stranger.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "redact/binary"})
		_, errs["PutSecretValue retry other keys"] = stranger.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "redact/string", ClientRequestToken: secTok(1), SecretString: &str})
		for _, op := range []string{"GetSecretValue other keys", "GetSecretValue other keys binary", "PutSecretValue retry other keys"} {
			require.ErrorIs(t, errs[op], secretstore.ErrDecryptionFailure, op)
		}

		for op, err := range errs {
			texts := map[string]string{"Error()": err.Error(), "%+v": fmt.Sprintf("%+v", err), "%#v": fmt.Sprintf("%#v", err)}
			for how, text := range secRendered(err) {
				texts[how] = text
			}
			// Every cause in the chain too.
			for i, cause := range secCauses(err) {
				texts[fmt.Sprintf("cause %d Error()", i)] = cause.Error()
			}
			for how, text := range texts {
				sens.assertHidden(t, text, op+" error "+how)
			}
		}
	})
}

// secPointerTo returns a pointer to a copy of v.
func secPointerTo(v any) any {
	switch x := v.(type) {
	case secretstore.CreateSecretInput:
		return &x
	case secretstore.PutSecretValueInput:
		return &x
	case secretstore.UpdateSecretInput:
		return &x
	case secretstore.GetSecretValueOutput:
		return &x
	case secretstore.SecretValueEntry:
		return &x
	case secretstore.BatchGetSecretValueOutput:
		return &x
	case secretstore.GetRandomPasswordOutput:
		return &x
	}
	panic(fmt.Sprintf("secPointerTo: unexpected %T", v))
}

// secCauses returns every error in err's tree, err first.
func secCauses(err error) []error {
	var out []error
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		out = append(out, err)
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

func TestWrongKeysCannotRead(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	shared := secMem(t)
	master := secMaster(1)
	saved := bytes.Clone(master)
	owner := secNew(t, shared, nil, secretstore.WithKeys(secLocalKeys(t, master)))
	// NewLocalKeys copies the master key: the caller may wipe its slice.
	clear(master)

	defaultVal := "keys-default-" + secText(21, 30)
	customVal := []byte("keys-custom-" + secText(22, 30))
	customVal2 := []byte("keys-custom2-" + secText(23, 30))
	_, err := owner.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "keys/default", ClientRequestToken: secTok(1), SecretString: &defaultVal})
	require.NoError(t, err)
	_, err = owner.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "keys/custom", ClientRequestToken: secTok(2), SecretBinary: customVal, KmsKeyId: "alias/custom"})
	require.NoError(t, err)
	_, err = owner.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "keys/custom", ClientRequestToken: secTok(3), SecretBinary: customVal2})
	require.NoError(t, err)
	reads := []struct {
		id, versionID string
		want          []byte
		bin           bool
	}{
		{"keys/default", secTok(1), []byte(defaultVal), false},
		{"keys/custom", secTok(2), customVal, true},
		{"keys/custom", secTok(3), customVal2, true},
	}

	strangers := map[string]*secretstore.Engine{
		"other master":      secNew(t, shared, nil, secretstore.WithKeys(secLocalKeys(t, secMaster(2)))),
		"random master":     secNew(t, shared, nil),
		"master off by bit": secNew(t, shared, nil, secretstore.WithKeys(secLocalKeys(t, func() []byte { m := bytes.Clone(saved); m[31] ^= 1; return m }()))),
	}
	for name, e := range strangers {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			for _, r := range reads {
				out, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: r.id, VersionId: r.versionID})
				assert.ErrorIs(t, err, secretstore.ErrDecryptionFailure, "GetSecretValue(%s, %s)", r.id, r.versionID)
				assert.Nil(t, out, "GetSecretValue(%s, %s)", r.id, r.versionID)
			}
			// Metadata is not encrypted: DescribeSecret works.
			_, err := e.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: "keys/custom"})
			assert.NoError(t, err, "DescribeSecret")
			// A retry must compare against the stored value, which these
			// keys cannot open.
			_, err = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "keys/default", ClientRequestToken: secTok(1), SecretString: &defaultVal})
			assert.ErrorIs(t, err, secretstore.ErrDecryptionFailure, "PutSecretValue retry")
			// Changing the key seals the values again, which needs them.
			_, err = e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: "keys/custom", KmsKeyId: secretstore.String("alias/stolen")})
			assert.ErrorIs(t, err, secretstore.ErrDecryptionFailure, "UpdateSecret KmsKeyId")
			d, err := owner.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: "keys/custom"})
			require.NoError(t, err)
			assert.Equal(t, "alias/custom", d.KmsKeyId, "KmsKeyId after a failed UpdateSecret")
		})
	}

	// The same master, given again as a store reopening would, reads all.
	reopened := secNew(t, shared, nil, secretstore.WithKeys(secLocalKeys(t, saved)))
	for _, r := range reads {
		secGet(t, owner, r.id, r.versionID, r.want, r.bin)
		secGet(t, reopened, r.id, r.versionID, r.want, r.bin)
	}
}

// secFaulty is a backend that passes every call to another, except that it
// fails the next failUpdates calls of UpdateRecord, and every DeleteBlob
// while failDeletes is set, remembering the keys it failed to delete.
type secFaulty struct {
	backend.Backend
	failUpdates atomic.Int32
	failDeletes atomic.Bool

	mu            sync.Mutex
	failedDeletes []string
}

var errSecInjected = errors.New("injected backend failure")

func (f *secFaulty) UpdateRecord(ctx context.Context, key string, revision uint64, data []byte) (uint64, error) {
	if f.failUpdates.Add(-1) >= 0 {
		return 0, errSecInjected
	}
	f.failUpdates.Store(0)
	return f.Backend.UpdateRecord(ctx, key, revision, data)
}

func (f *secFaulty) DeleteBlob(ctx context.Context, key string) error {
	if f.failDeletes.Load() {
		f.mu.Lock()
		f.failedDeletes = append(f.failedDeletes, key)
		f.mu.Unlock()
		return errSecInjected
	}
	return f.Backend.DeleteBlob(ctx, key)
}

// orphans returns the keys that DeleteBlob failed to delete, sorted, and
// forgets them.
func (f *secFaulty) orphans() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Compact(slices.Sorted(slices.Values(f.failedDeletes)))
	f.failedDeletes = nil
	return out
}

func TestSweepRemovesOrphans(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := secretstore.NewFakeClock(secEpoch)
	fb := &secFaulty{Backend: secMem(t)}
	e := secNew(t, fb, clock)
	// An engine of another region over the same backend: Sweep must see
	// its records too.
	eu := secNew(t, fb, clock, secretstore.WithRegion("eu-west-1"))

	val := func(s string) *string { return &s }
	a1, a2, a3 := "sweep-a1-"+secText(31, 20), "sweep-a2-"+secText(32, 20), "sweep-a3-"+secText(33, 20)
	b1, euVal, sched := "sweep-b1-"+secText(34, 20), "sweep-eu-"+secText(35, 20), "sweep-sched-"+secText(36, 20)
	_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "sweep/a", ClientRequestToken: secTok(1), SecretString: val(a1)})
	require.NoError(t, err)
	_, err = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "sweep/a", ClientRequestToken: secTok(2), SecretString: val(a2)})
	require.NoError(t, err)
	_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "sweep/b", ClientRequestToken: secTok(3), SecretString: val(b1)})
	require.NoError(t, err)
	_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "sweep/scheduled", ClientRequestToken: secTok(4), SecretString: val(sched)})
	require.NoError(t, err)
	_, err = e.DeleteSecret(ctx, &secretstore.DeleteSecretInput{SecretId: "sweep/scheduled", RecoveryWindowInDays: secretstore.Int64(7)})
	require.NoError(t, err)
	_, err = eu.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "sweep/a", ClientRequestToken: secTok(5), SecretString: val(euVal)})
	require.NoError(t, err)
	// Blobs the engine did not make, one of them under the engine's prefix.
	foreign := []string{"foreign/x", "v1/foreign", "v1/0000000000000000"}
	for _, k := range foreign {
		require.NoError(t, fb.PutBlob(ctx, k, []byte(k)))
	}

	// A PutSecretValue whose commit fails and whose clean-up fails too
	// leaves its blob behind, and changes nothing.
	before, err := e.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: "sweep/a"})
	require.NoError(t, err)
	blobsBefore := secBlobs(t, fb)
	fb.failUpdates.Store(1)
	fb.failDeletes.Store(true)
	out, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "sweep/a", ClientRequestToken: secTok(6), SecretString: val(a3)})
	fb.failDeletes.Store(false)
	require.Error(t, err, "PutSecretValue with a failing UpdateRecord")
	assert.Nil(t, out)
	assert.ErrorIs(t, err, secretstore.ErrInternalService)
	assert.ErrorIs(t, err, errSecInjected)
	assert.Zero(t, fb.failUpdates.Load(), "UpdateRecord was not called")
	after, err := e.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: "sweep/a"})
	require.NoError(t, err)
	assert.Equal(t, before, after, "DescribeSecret after the failed PutSecretValue")
	// The injected failure is not a backend sentinel, so the record write
	// may have happened (backend.Backend): the engine must keep the blob
	// it wrote rather than risk a record that points at nothing.
	assert.Empty(t, fb.orphans(), "the engine deleted a blob after an ambiguous write failure")
	newBlobs := slices.DeleteFunc(secBlobs(t, fb), func(k string) bool { return slices.Contains(blobsBefore, k) })
	require.Len(t, newBlobs, 1, "blobs left by the failed PutSecretValue")
	putOrphans := newBlobs
	_, err = e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "sweep/a", VersionId: secTok(6)})
	assert.ErrorIs(t, err, secretstore.ErrResourceNotFound, "the failed version")

	// Writes that succeed but cannot delete the blobs they made obsolete:
	// a KmsKeyId change (two labelled versions sealed again) and a forced
	// delete.
	fb.failDeletes.Store(true)
	_, err = e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: "sweep/a", KmsKeyId: val("alias/new")})
	require.NoError(t, err, "UpdateSecret KmsKeyId")
	_, err = e.DeleteSecret(ctx, &secretstore.DeleteSecretInput{SecretId: "sweep/b", ForceDeleteWithoutRecovery: true})
	require.NoError(t, err, "DeleteSecret force")
	fb.failDeletes.Store(false)
	orphans := slices.Sorted(slices.Values(slices.Concat(putOrphans, fb.orphans())))
	require.Len(t, orphans, 4, "orphaned blobs: 1 failed put, 2 sealed again, 1 deleted secret")

	all := secBlobs(t, fb)
	for _, k := range orphans {
		require.Contains(t, all, k, "orphan")
	}

	// Right away every orphan is too young to be swept.
	n, err := e.Sweep(ctx, time.Minute)
	require.NoError(t, err, "Sweep")
	assert.Zero(t, n, "Sweep deleted blobs younger than minAge")
	assert.Equal(t, all, secBlobs(t, fb), "blobs after a Sweep that deleted nothing")

	clock.Advance(2 * time.Minute)

	// A blob orphaned now is younger than the others.
	fb.failUpdates.Store(1)
	fb.failDeletes.Store(true)
	beforeYoung := secBlobs(t, fb)
	_, err = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "sweep/a", ClientRequestToken: secTok(7), SecretString: val(a3)})
	require.ErrorIs(t, err, errSecInjected)
	all = secBlobs(t, fb)
	young := slices.DeleteFunc(slices.Clone(all), func(k string) bool { return slices.Contains(beforeYoung, k) })
	require.Len(t, young, 1)

	// A Sweep whose deletes fail reports it.
	_, err = e.Sweep(ctx, time.Minute)
	assert.ErrorIs(t, err, errSecInjected, "Sweep with failing DeleteBlob")
	fb.orphans()
	fb.failDeletes.Store(false)

	n, err = e.Sweep(ctx, time.Minute)
	require.NoError(t, err, "Sweep")
	assert.Equal(t, len(orphans), n, "Sweep deleted")
	want := slices.DeleteFunc(slices.Clone(all), func(k string) bool { return slices.Contains(orphans, k) })
	assert.Equal(t, want, secBlobs(t, fb), "blobs after Sweep: all but the old orphans")
	for _, k := range foreign {
		data, err := fb.GetBlob(ctx, k)
		if assert.NoError(t, err, "foreign blob %q", k) {
			assert.Equal(t, []byte(k), data, "foreign blob %q", k)
		}
	}

	n, err = e.Sweep(ctx, time.Minute)
	require.NoError(t, err)
	assert.Zero(t, n, "second Sweep")
	clock.Advance(2 * time.Minute)
	n, err = e.Sweep(ctx, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, len(young), n, "Sweep once the last orphan is old")
	assert.NotContains(t, secBlobs(t, fb), young[0])

	// Every value still reads.
	secGet(t, e, "sweep/a", secTok(1), []byte(a1), false)
	secGet(t, e, "sweep/a", secTok(2), []byte(a2), false)
	secGet(t, e, "sweep/a", "", []byte(a2), false)
	secGet(t, eu, "sweep/a", "", []byte(euVal), false)
	_, err = e.RestoreSecret(ctx, &secretstore.RestoreSecretInput{SecretId: "sweep/scheduled"})
	require.NoError(t, err)
	secGet(t, e, "sweep/scheduled", "", []byte(sched), false)
	for _, k := range foreign {
		assert.Contains(t, secBlobs(t, fb), k, "foreign blob")
	}
}
