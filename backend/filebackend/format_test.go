package filebackend

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFileNamesPreserveOrder(t *testing.T) {
	t.Parallel()

	t.Run("Table", func(t *testing.T) {
		long := strings.Repeat("k", 126)
		sum := sha256.Sum256([]byte(long))
		for _, tc := range []struct {
			key, stem string
		}{
			// RFC 4648 base32hex test vectors, in lower case without padding.
			{"f", "co"},
			{"fo", "cpng"},
			{"foo", "cpnmu"},
			{"foob", "cpnmuog"},
			{"fooba", "cpnmuoj1"},
			{"foobar", "cpnmuoj1e8"},
			{"a", "c4"},
			{"a/b", "c4nm4"},
			{"\x00", "00"},
			{"\xff", "vs"},
			{strings.Repeat("k", 125), strings.Repeat("ddlmmqrb", 25)}, // 200 characters: the longest encoded name
			{long, "~" + hex.EncodeToString(sum[:])},                   // 201 and more: hashed
		} {
			got := fileStem(tc.key)
			assert.Equal(t, tc.stem, got, "fileStem(%q)", tc.key)
			key, hashed, ok := decodeStem(got)
			assert.True(t, ok, "decodeStem(%q)", got)
			if strings.HasPrefix(tc.stem, "~") {
				assert.True(t, hashed, "decodeStem(%q) hashed", got)
			} else {
				assert.False(t, hashed, "decodeStem(%q) hashed", got)
				assert.Equal(t, tc.key, key, "decodeStem(%q)", got)
			}
		}
	})

	t.Run("NotNames", func(t *testing.T) {
		for _, stem := range []string{
			"", "c", "c5", "C4", "c4=", "w0", "c4 ", strings.Repeat("0", 208),
			"~", "~00", "~" + strings.Repeat("A", 64), "~" + strings.Repeat("0", 65),
		} {
			_, _, ok := decodeStem(stem)
			assert.False(t, ok, "decodeStem(%q) accepted a name that no key has", stem)
		}
	})

	t.Run("Property", func(t *testing.T) {
		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		r := rand.New(rand.NewPCG(seed, 2))
		// Small alphabets make shared prefixes and equal keys likely.
		alphabets := []string{"ab", "\x00\x01\xfe\xff", "!/0Az~", "abcdefghijklmnopqrstuvwxyz/-_.0123456789"}
		randomKey := func() string {
			a := alphabets[r.IntN(len(alphabets))]
			n := 1 + r.IntN(140)
			if r.IntN(2) == 0 {
				n = 1 + r.IntN(8)
			}
			b := make([]byte, n)
			for i := range b {
				b[i] = a[r.IntN(len(a))]
			}
			return string(b)
		}
		for range 20000 {
			k1, k2 := randomKey(), randomKey()
			s1, s2 := fileStem(k1), fileStem(k2)
			for _, c := range []struct{ k, s string }{{k1, s1}, {k2, s2}} {
				key, hashed, ok := decodeStem(c.s)
				require.True(t, ok, "decodeStem(fileStem(%q))", c.k)
				if len(c.k) > 125 {
					require.True(t, hashed, "key of %d bytes not hashed", len(c.k))
					require.Len(t, c.s, hashedNameLen)
					continue
				}
				require.False(t, hashed)
				require.LessOrEqual(t, len(c.s), maxEncodedName)
				require.Equal(t, c.k, key, "round trip of %q", c.k)
			}
			if len(k1) <= 125 && len(k2) <= 125 {
				require.Equal(t, strings.Compare(k1, k2), strings.Compare(s1, s2),
					"order of %q and %q differs from the order of their names %q and %q", k1, k2, s1, s2)
			}
		}
		// Any string decodeStem accepts as an encoded name is the name of
		// the key it decodes to.
		for range 20000 {
			b := make([]byte, r.IntN(12))
			for i := range b {
				b[i] = "0123456789abcdefghijklmnopqrstuvwxyz~"[r.IntN(37)]
			}
			if key, hashed, ok := decodeStem(string(b)); ok && !hashed {
				require.Equal(t, string(b), fileStem(key))
			}
		}
	})
}

func TestRecordEncoding(t *testing.T) {
	t.Parallel()
	got := encodeRecord("k", 0x0102030405060708, []byte("data"))
	want := []byte("SSR1\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01k\x00\x00\x00\x04data")
	require.Equal(t, want, got[:len(got)-4])
	r, err := decodeRecord(got)
	require.NoError(t, err)
	assert.Equal(t, fileRecord{key: "k", rev: 0x0102030405060708, data: []byte("data")}, r)

	r, err = decodeRecord(encodeRecord("k", 1, nil))
	require.NoError(t, err)
	assert.NotNil(t, r.data, "empty data decodes as nil")

	_, err = decodeRecord(encodeRecord("k", 0, nil))
	assert.ErrorContains(t, err, "revision 0")

	key, data, err := decodeBlob(encodeBlob("k", []byte("blob")))
	require.NoError(t, err)
	assert.Equal(t, "k", key)
	assert.Equal(t, []byte("blob"), data)
	_, _, err = decodeBlob(encodeRecord("k", 1, nil))
	assert.ErrorContains(t, err, "bad magic")
}

// fbFuzzSeeds returns valid and damaged files to seed the fuzz targets.
func fbFuzzSeeds(valid [][]byte) [][]byte {
	seeds := [][]byte{nil, []byte("SSR1"), []byte("SSB1"), bytes.Repeat([]byte{0xff}, 64)}
	for _, v := range valid {
		seeds = append(seeds, v, v[:len(v)/2], v[:len(v)-1], append(bytes.Clone(v), 0))
		flipped := bytes.Clone(v)
		flipped[len(flipped)/2] ^= 1
		seeds = append(seeds, flipped)
	}
	return seeds
}

func FuzzDecodeRecord(f *testing.F) {
	for _, s := range fbFuzzSeeds([][]byte{
		encodeRecord("k", 1, nil),
		encodeRecord("a/b", 1<<63, []byte("data")),
		encodeRecord(strings.Repeat("k", maxKeyLen), 42, bytes.Repeat([]byte{0}, 300)),
	}) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		r, err := decodeRecord(buf)
		if err != nil {
			return
		}
		if r.rev == 0 || len(r.key) < 1 || len(r.key) > maxKeyLen || len(r.data) > maxDataLen || r.data == nil {
			t.Fatalf("decodeRecord accepted out-of-bounds fields: rev %d, key of %d bytes, data of %d bytes (nil %v)",
				r.rev, len(r.key), len(r.data), r.data == nil)
		}
		if again := encodeRecord(r.key, r.rev, r.data); !bytes.Equal(again, buf) {
			t.Fatalf("decodeRecord accepted %x, which re-encodes as %x", buf, again)
		}
	})
}

func FuzzDecodeBlob(f *testing.F) {
	for _, s := range fbFuzzSeeds([][]byte{
		encodeBlob("k", nil),
		encodeBlob("v1/0000-0000", []byte("sealed")),
	}) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		key, data, err := decodeBlob(buf)
		if err != nil {
			return
		}
		if again := encodeBlob(key, data); !bytes.Equal(again, buf) {
			t.Fatalf("decodeBlob accepted %x, which re-encodes as %x", buf, again)
		}
	})
}

func FuzzDecodeEntry(f *testing.F) {
	var seeds [][]byte
	for _, e := range []logEntry{
		{kind: kindRecordPut, rev: 1, key: "k", data: []byte{}},
		{kind: kindRecordPut, rev: 1 << 63, key: "secret/us-east-1/a", data: []byte("record")},
		{kind: kindRecordDelete, key: "k"},
		{kind: kindBlobPut, key: "v1/0000-0000", data: []byte("sealed")},
		{kind: kindBlobDelete, key: strings.Repeat("k", maxKeyLen)},
		{kind: kindSeal},
	} {
		seeds = append(seeds, appendEntry(nil, e))
	}
	for _, s := range fbFuzzSeeds(seeds) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		e, n, err := decodeEntry(buf)
		if err != nil {
			if n != 0 {
				t.Fatalf("decodeEntry failed (%v) and reported a size", err)
			}
			return
		}
		hasData := e.kind == kindRecordPut || e.kind == kindBlobPut
		switch {
		case n < entryHeaderSize+entryFixedSize || n > len(buf):
			t.Fatalf("decodeEntry reported size %d of a %d-byte buffer", n, len(buf))
		case hasData && (len(e.key) < 1 || e.data == nil || len(e.data) > maxDataLen):
			t.Fatalf("decodeEntry accepted an entry of kind %d with a key of %d bytes and data of %d bytes (nil %v)", e.kind, len(e.key), len(e.data), e.data == nil)
		case (e.kind == kindRecordPut) != (e.rev != 0):
			t.Fatalf("decodeEntry accepted revision %d in an entry of kind %d", e.rev, e.kind)
		case e.kind == kindSeal && e.key != "":
			t.Fatalf("decodeEntry accepted a seal with a key")
		}
		if again := appendEntry(nil, e); !bytes.Equal(again, buf[:n]) {
			t.Fatalf("decodeEntry accepted %x, which re-encodes as %x", buf[:n], again)
		}
	})
}
