//go:build unix

package filebackend

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend"
	"github.com/secretstore/secretstore/backend/backendtest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, backendtest.Harness{
		New: func(t *testing.T) backend.Backend {
			b, err := Open(t.TempDir())
			require.NoError(t, err)
			return b
		},
		Reopen: func(t *testing.T, b backend.Backend) backend.Backend {
			b2, err := Open(b.(*Backend).Dir())
			require.NoError(t, err)
			return b2
		},
	})
}

// TestConformanceV1 runs the conformance suite on a store of format
// version 1, which Open still reads and writes as version 1.
func TestConformanceV1(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, backendtest.Harness{
		New: func(t *testing.T) backend.Backend {
			b, err := Open(t.TempDir(), withFormatVersion(1))
			require.NoError(t, err)
			return b
		},
		Reopen: func(t *testing.T, b backend.Backend) backend.Backend {
			b2, err := Open(b.(*Backend).Dir())
			require.NoError(t, err)
			require.Nil(t, b2.wal, "a store of version 1 reopened as version 2")
			return b2
		},
	})
}

// fbOpen opens a store in dir and closes it when t ends.
func fbOpen(t *testing.T, dir string, opts ...Option) *Backend {
	t.Helper()
	b, err := Open(dir, opts...)
	require.NoError(t, err, "Open(%s)", dir)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// fbLongKey returns a key of n bytes that starts with prefix, long enough
// (n > 125) to get a hashed file name.
func fbLongKey(prefix string, n int) string {
	return prefix + strings.Repeat("x", n-len(prefix))
}

// fbFill writes records and blobs of every kind: short and hashed names,
// empty and non-empty data.
func fbFill(t *testing.T, b *Backend) {
	t.Helper()
	ctx := t.Context()
	for _, k := range []string{"a", "a/b", "empty", fbLongKey("long/", 300)} {
		data := []byte("data of " + k)
		if k == "empty" {
			data = nil
		}
		rev, err := b.CreateRecord(ctx, k, data)
		require.NoError(t, err)
		_, err = b.UpdateRecord(ctx, k, rev, append(data, '!'))
		require.NoError(t, err)
		require.NoError(t, b.PutBlob(ctx, k, data))
	}
	rev, err := b.CreateRecord(ctx, "deleted", []byte("x"))
	require.NoError(t, err)
	require.NoError(t, b.DeleteRecord(ctx, "deleted", rev))
	require.NoError(t, b.PutBlob(ctx, "deleted", []byte("x")))
	require.NoError(t, b.DeleteBlob(ctx, "deleted"))
}

// TestPermissions checks the modes of the store's directories (0700) and
// files (0600) whatever the umask. It is not parallel: the umask belongs to
// the process.
func TestPermissions(t *testing.T) {
	for _, umask := range []int{0, 0o022, 0o077, 0o277} {
		t.Run(fmt.Sprintf("umask=%04o", umask), func(t *testing.T) {
			parent := t.TempDir() // before the umask changes, so cleanup can remove it
			dir := filepath.Join(parent, "store")
			old := syscall.Umask(umask)
			b, err := Open(dir)
			if err == nil {
				fbFill(t, b)
				err = b.Close()
			}
			syscall.Umask(old)
			require.NoError(t, err)

			files := 0
			err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				fi, err := d.Info()
				if err != nil {
					return err
				}
				want := fs.FileMode(0o600)
				if d.IsDir() {
					want = fs.ModeDir | 0o700
				} else {
					files++
				}
				assert.Equal(t, want, fi.Mode(), "mode of %s: got %v, want %v", path, fi.Mode(), want)
				return nil
			})
			require.NoError(t, err)
			// FORMAT, 4 records, 4 blobs, at least one lock file.
			assert.GreaterOrEqual(t, files, 10, "files in the store")
		})
	}
}

// fbFlipPositions returns the byte positions of a file of size n to flip:
// all of them for a small file, else the first 32, the last 16 and 16 in
// between.
func fbFlipPositions(n int, r *rand.Rand) []int {
	if n <= 512 {
		pos := make([]int, n)
		for i := range pos {
			pos[i] = i
		}
		return pos
	}
	var pos []int
	for i := range 32 {
		pos = append(pos, i)
	}
	for i := n - 16; i < n; i++ {
		pos = append(pos, i)
	}
	for range 16 {
		pos = append(pos, 32+r.IntN(n-48))
	}
	return pos
}

// fbTruncations returns lengths to truncate a file of size n to.
func fbTruncations(n int) []int {
	return []int{0, 1, 3, 4, 5, 12, 13, 14, 15, 20, n / 2, n - 5, n - 4, n - 1}
}

// fbCheckCorrupt checks that err reports the corrupt file at path.
func fbCheckCorrupt(t *testing.T, err error, path, what string) {
	t.Helper()
	if assert.Error(t, err, "%s: a corrupt file was served", what) {
		assert.ErrorIs(t, err, ErrCorrupt, "%s", what)
		assert.Contains(t, err.Error(), path, "%s: error does not name the file", what)
	}
}

// fbDamage calls check after each damage done to the file at path: every
// byte flipped in turn (or a sample), truncations and appended bytes. It
// restores the file after each.
func fbDamage(t *testing.T, path string, check func(what string)) {
	t.Helper()
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	write := func(data []byte) {
		t.Helper()
		require.NoError(t, os.WriteFile(path, data, 0o600))
	}
	defer write(orig)
	seed := uint64(time.Now().UnixNano())
	t.Logf("%s: %d bytes, seed %d", filepath.Base(path), len(orig), seed)
	r := rand.New(rand.NewPCG(seed, 1))
	for _, i := range fbFlipPositions(len(orig), r) {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			damaged := bytes.Clone(orig)
			damaged[i] ^= mask
			write(damaged)
			check(fmt.Sprintf("byte %d ^ %#02x", i, mask))
		}
	}
	for _, n := range fbTruncations(len(orig)) {
		if n >= 0 && n < len(orig) {
			write(orig[:n])
			check(fmt.Sprintf("truncated to %d bytes", n))
		}
	}
	write(append(bytes.Clone(orig), 0))
	check("one byte appended")
}

func TestCorruption(t *testing.T) {
	t.Parallel()
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprintf("Version%d", v), func(t *testing.T) {
			t.Parallel()
			fbCorruptFiles(t, v)
		})
	}
	fbCorruptFormat(t)
}

// fbCheckpoint moves what the log of a store of format version 2 holds into
// record and blob files.
func fbCheckpoint(t *testing.T, b *Backend) {
	t.Helper()
	if b.wal != nil {
		require.NoError(t, b.wal.checkpointAll())
	}
}

// fbCorruptFiles damages record and blob files of a store of format
// version v and checks that every read of them reports the damage.
func fbCorruptFiles(t *testing.T, v int) {
	ctx := t.Context()
	dir := t.TempDir()
	b := fbOpen(t, dir, withFormatVersion(v))
	longKey := fbLongKey("long/", 200)
	recData := []byte(strings.Repeat("record data ", 20))
	blobData := bytes.Repeat([]byte("blob data "), 500)
	for _, k := range []string{"rec", longKey} {
		_, err := b.CreateRecord(ctx, k, recData)
		require.NoError(t, err)
	}
	require.NoError(t, b.PutBlob(ctx, "blob", blobData))
	// In a store of version 2, the records and blob are in files once the
	// log is checkpointed, and read from them by a Backend whose index
	// does not have them.
	fbCheckpoint(t, b)
	b = fbOpen(t, dir)

	for name, key := range map[string]string{"Short": "rec", "Hashed": longKey} {
		t.Run("Record/"+name, func(t *testing.T) {
			path := b.recordPath(key)
			rec, err := b.GetRecord(ctx, key, 0)
			require.NoError(t, err)
			n := 0
			fbDamage(t, path, func(what string) {
				_, err := b.GetRecord(ctx, key, 0)
				fbCheckCorrupt(t, err, path, "GetRecord, "+what)
				_, err = b.GetRecord(ctx, key, rec.Revision)
				fbCheckCorrupt(t, err, path, "GetRecord with known revision, "+what)
				_, err = b.ListRecords(ctx, "", "", 10)
				fbCheckCorrupt(t, err, path, "ListRecords, "+what)
				if n++; n%16 != 1 {
					return // writes sync a temp file: check a sample
				}
				_, err = b.UpdateRecord(ctx, key, rec.Revision, []byte("lost"))
				fbCheckCorrupt(t, err, path, "UpdateRecord, "+what)
				err = b.DeleteRecord(ctx, key, rec.Revision)
				fbCheckCorrupt(t, err, path, "DeleteRecord, "+what)
				_, err = b.CreateRecord(ctx, key, []byte("lost"))
				fbCheckCorrupt(t, err, path, "CreateRecord, "+what)
			})
			got, err := b.GetRecord(ctx, key, 0)
			require.NoError(t, err, "GetRecord after the file is restored")
			assert.Equal(t, rec, got)
		})
	}

	t.Run("Blob", func(t *testing.T) {
		path := b.blobPath("blob")
		fbDamage(t, path, func(what string) {
			_, err := b.GetBlob(ctx, "blob")
			fbCheckCorrupt(t, err, path, "GetBlob, "+what)
		})
		got, err := b.GetBlob(ctx, "blob")
		require.NoError(t, err, "GetBlob after the file is restored")
		assert.Equal(t, blobData, got)
	})

	t.Run("HashedNameHeader", func(t *testing.T) {
		// Listing reads the key of a hashed name from the file header. A
		// fresh handle has no cached key, so it must read and check it.
		key := fbLongKey("hashed/", 500)
		_, err := b.CreateRecord(ctx, key, []byte("x"))
		require.NoError(t, err)
		require.NoError(t, b.PutBlob(ctx, key, []byte("x")))
		fbCheckpoint(t, b)
		for _, tc := range []struct {
			name string
			path string
			list func(b *Backend) error
		}{
			{"Record", b.recordPath(key), func(b *Backend) error {
				_, err := b.ListRecords(ctx, "", "", 100)
				return err
			}},
			{"Blob", b.blobPath(key), func(b *Backend) error {
				_, err := b.ListBlobs(ctx, "", 100)
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				orig, err := os.ReadFile(tc.path)
				require.NoError(t, err)
				defer func() { require.NoError(t, os.WriteFile(tc.path, orig, 0o600)) }()
				keyAt := bytes.Index(orig, []byte(key))
				require.Positive(t, keyAt)
				for _, i := range []int{0, 3, keyAt - 2, keyAt - 1, keyAt, keyAt + 100} {
					damaged := bytes.Clone(orig)
					damaged[i] ^= 0x01
					require.NoError(t, os.WriteFile(tc.path, damaged, 0o600))
					fbCheckCorrupt(t, tc.list(fbOpen(t, dir)), tc.path, fmt.Sprintf("byte %d flipped", i))
				}
				for _, n := range []int{0, 5, keyAt + 10} {
					require.NoError(t, os.WriteFile(tc.path, orig[:n], 0o600))
					fbCheckCorrupt(t, tc.list(fbOpen(t, dir)), tc.path, fmt.Sprintf("truncated to %d", n))
				}
			})
		}
	})

	t.Run("SwappedFiles", func(t *testing.T) {
		// A file copied onto another key's name is never served as that
		// key's content.
		for _, tc := range []struct {
			name     string
			from, to string
			check    func() error
		}{
			{"Record", b.recordPath("rec"), b.recordPath("other"), func() error {
				_, err := b.GetRecord(ctx, "other", 0)
				return err
			}},
			{"Blob", b.blobPath("blob"), b.blobPath("other"), func() error {
				_, err := b.GetBlob(ctx, "other")
				return err
			}},
			{"RecordAsBlob", b.recordPath("rec"), b.blobPath("rec"), func() error {
				_, err := b.GetBlob(ctx, "rec")
				return err
			}},
			{"BlobAsRecord", b.blobPath("blob"), b.recordPath("blob"), func() error {
				_, err := b.GetRecord(ctx, "blob", 0)
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				data, err := os.ReadFile(tc.from)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(tc.to, data, 0o600))
				defer os.Remove(tc.to)
				fbCheckCorrupt(t, tc.check(), tc.to, tc.name)
			})
		}
	})

	t.Run("BadFileName", func(t *testing.T) {
		path := filepath.Join(b.records, "C4"+recordSuffix) // upper case: not an encoding
		require.NoError(t, os.WriteFile(path, nil, 0o600))
		defer os.Remove(path)
		_, err := b.ListRecords(ctx, "", "", 10)
		fbCheckCorrupt(t, err, path, "ListRecords")
	})

}

// fbCorruptFormat damages the FORMAT file.
func fbCorruptFormat(t *testing.T) {
	ctx := t.Context()
	t.Run("Format", func(t *testing.T) {
		dir := t.TempDir()
		b, err := Open(dir)
		require.NoError(t, err)
		_, err = b.CreateRecord(ctx, "k", []byte("v"))
		require.NoError(t, err)
		require.NoError(t, b.Close())
		path := filepath.Join(dir, formatName)
		fbDamage(t, path, func(what string) {
			b, err := Open(dir)
			if !assert.Error(t, err, "Open with FORMAT %s", what) {
				_ = b.Close()
				return
			}
			assert.Contains(t, err.Error(), path, "Open with FORMAT %s: error does not name the file", what)
		})
		require.NoError(t, os.WriteFile(path, []byte("secretstore filebackend 3\n"), 0o600))
		_, err = Open(dir)
		if assert.Error(t, err) {
			assert.NotErrorIs(t, err, ErrCorrupt)
			assert.Contains(t, err.Error(), "version 3 is not supported")
		}
		require.NoError(t, os.Remove(path))
		_, err = Open(dir)
		if assert.Error(t, err, "Open of a store without FORMAT") {
			assert.Contains(t, err.Error(), "no FORMAT")
		}
		require.NoError(t, os.WriteFile(path, []byte(formatText2), 0o600))
		b = fbOpen(t, dir)
		_, err = b.GetRecord(ctx, "k", 0)
		assert.NoError(t, err, "GetRecord after FORMAT is restored")
	})
}

func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	t.Run("CreatesMissingDirectory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "b")
		b := fbOpen(t, dir)
		assert.Equal(t, dir, b.Dir())
		data, err := os.ReadFile(filepath.Join(dir, formatName))
		require.NoError(t, err)
		assert.Equal(t, "secretstore filebackend 2\n", string(data))
		for _, sub := range []string{recordsName, blobsName, locksName, tmpName, walName} {
			assert.DirExists(t, filepath.Join(dir, sub))
		}
	})

	t.Run("RelativeDirectory", func(t *testing.T) {
		dir := t.TempDir()
		wd, err := os.Getwd()
		require.NoError(t, err)
		rel, err := filepath.Rel(wd, dir)
		require.NoError(t, err)
		b := fbOpen(t, rel)
		assert.Equal(t, dir, b.Dir())
	})

	t.Run("NotAStore", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600))
		_, err := Open(dir)
		if assert.Error(t, err) {
			assert.Contains(t, err.Error(), "not a store")
		}
		assert.NoFileExists(t, filepath.Join(dir, formatName))

		file := filepath.Join(dir, "notes.txt")
		_, err = Open(file)
		assert.Error(t, err, "Open of a file")
	})

	t.Run("UnfinishedStore", func(t *testing.T) {
		// A creator that crashed before writing FORMAT left subdirectories.
		dir := t.TempDir()
		for _, sub := range []string{tmpName, locksName, recordsName} {
			require.NoError(t, os.Mkdir(filepath.Join(dir, sub), 0o700))
		}
		b := fbOpen(t, dir)
		_, err := b.CreateRecord(ctx, "k", []byte("v"))
		require.NoError(t, err)
	})

	t.Run("ConcurrentCreation", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "store")
		var wg sync.WaitGroup
		bs := make([]*Backend, 8)
		errs := make([]error, len(bs))
		for i := range bs {
			wg.Go(func() { bs[i], errs[i] = Open(dir) })
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "Open #%d", i)
			t.Cleanup(func() { _ = bs[i].Close() })
		}
		rev, err := bs[0].CreateRecord(ctx, "k", []byte("v"))
		require.NoError(t, err)
		got, err := bs[7].GetRecord(ctx, "k", 0)
		require.NoError(t, err)
		assert.Equal(t, rev, got.Revision)
	})

	t.Run("RemovesStaleTempFiles", func(t *testing.T) {
		dir := t.TempDir()
		b := fbOpen(t, dir)
		stale := filepath.Join(b.tmp, "stale"+tmpSuffix)
		young := filepath.Join(b.tmp, "young"+tmpSuffix)
		require.NoError(t, os.WriteFile(stale, []byte("x"), 0o600))
		require.NoError(t, os.WriteFile(young, []byte("x"), 0o600))
		old := time.Now().Add(-staleTmpAge - time.Minute)
		require.NoError(t, os.Chtimes(stale, old, old))
		almost := time.Now().Add(-staleTmpAge + time.Minute)
		require.NoError(t, os.Chtimes(young, almost, almost))
		fbOpen(t, dir)
		assert.NoFileExists(t, stale)
		assert.FileExists(t, young)
	})

	t.Run("NoTempFilesLeft", func(t *testing.T) {
		dir := t.TempDir()
		b := fbOpen(t, dir)
		fbFill(t, b)
		rev, err := b.CreateRecord(ctx, "k", []byte("v"))
		require.NoError(t, err)
		_, err = b.CreateRecord(ctx, "k", []byte("exists"))
		require.ErrorIs(t, err, backend.ErrExists)
		_, err = b.UpdateRecord(ctx, "k", rev+1, []byte("conflict"))
		require.ErrorIs(t, err, backend.ErrConflict)
		require.ErrorIs(t, b.PutBlob(ctx, "a", []byte("exists")), backend.ErrExists)
		// The Backend keeps a few empty temp files ready while it is open
		// (tempPool); Close removes them.
		require.NoError(t, b.Close())
		entries, err := os.ReadDir(b.tmp)
		require.NoError(t, err)
		assert.Empty(t, entries, "temp files left after writes that failed and succeeded, and Close")
	})
}

func TestKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	b := fbOpen(t, dir)

	// Short and hashed names mixed: listing must sort by key, not name.
	keys := []string{
		"a", fbLongKey("a", 126), fbLongKey("a", 1024), "b", "b/c", fbLongKey("b/", 125),
		fbLongKey("b/", 126), "z", fbLongKey("z", 700),
	}
	for i, k := range keys {
		_, err := b.CreateRecord(ctx, k, []byte{byte(i)})
		require.NoError(t, err, "CreateRecord(%d bytes)", len(k))
		require.NoError(t, b.PutBlob(ctx, k, []byte{byte(i)}), "PutBlob(%d bytes)", len(k))
	}
	for _, h := range []*Backend{b, fbOpen(t, dir)} { // cached and uncached hashed names
		for _, prefix := range []string{"", "a", "b/", "z"} {
			var want []string
			for _, k := range keys {
				if strings.HasPrefix(k, prefix) {
					want = append(want, k)
				}
			}
			for _, limit := range []int{1, 2, 100} {
				var got []string
				after := ""
				for {
					page, err := h.ListRecords(ctx, prefix, after, limit)
					require.NoError(t, err)
					for _, r := range page {
						got = append(got, r.Key)
						assert.Equal(t, []byte{byte(slices.Index(keys, r.Key))}, r.Data)
					}
					if len(page) < limit {
						break
					}
					after = page[len(page)-1].Key
				}
				assert.Equal(t, want, got, "ListRecords(prefix %q) in pages of %d", prefix, limit)
			}
		}
		got, err := h.ListBlobs(ctx, "", 100)
		require.NoError(t, err)
		assert.Equal(t, keys, got, "ListBlobs")
		got, err = h.ListBlobs(ctx, "b", 100)
		require.NoError(t, err)
		assert.Equal(t, keys[4:], got, "ListBlobs after \"b\"")
	}

	for _, key := range []string{"", strings.Repeat("k", 1025)} {
		_, err := b.CreateRecord(ctx, key, nil)
		assert.Error(t, err, "CreateRecord with a key of %d bytes", len(key))
		assert.Error(t, b.PutBlob(ctx, key, nil), "PutBlob with a key of %d bytes", len(key))
		_, err = b.GetRecord(ctx, key, 0)
		assert.Error(t, err, "GetRecord with a key of %d bytes", len(key))
	}
	_, err := b.CreateRecord(ctx, "big", make([]byte, maxDataLen+1))
	assert.Error(t, err, "CreateRecord with more than 1 MiB")
	assert.Error(t, b.PutBlob(ctx, "big", make([]byte, maxDataLen+1)), "PutBlob with more than 1 MiB")
}

func TestNoPlaintextOnDisk(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	b := fbOpen(t, dir)
	master := make([]byte, 32)
	for i := range master {
		master[i] = byte(i + 1)
	}
	keys, err := secretstore.NewLocalKeys(master)
	require.NoError(t, err)
	e, err := secretstore.New(b, secretstore.WithKeys(keys))
	require.NoError(t, err)

	var values [][]byte
	str := func(i int) *string {
		s := fmt.Sprintf("plaintext-canary-%d-%x", i, rand.Uint64())
		values = append(values, []byte(s))
		return &s
	}
	bin := bytes.Repeat([]byte("binary-canary\x00\xff"), 8)
	values = append(values, bin)
	_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "app/one", SecretString: str(1)})
	require.NoError(t, err)
	_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "app/bin", SecretBinary: bin})
	require.NoError(t, err)
	for i := 2; i < 20; i++ {
		_, err = e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "app/one", SecretString: str(i)})
		require.NoError(t, err)
	}
	out, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "app/one"})
	require.NoError(t, err)
	require.Equal(t, string(values[len(values)-1]), out.SecretString)

	// Every file of the store, while it is open (the values are in the
	// log) and once it is closed (checkpointed into record and blob
	// files), holds no value in the clear or in base64.
	check := func(when string) (logs, blobs int) {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			switch filepath.Ext(path) {
			case logSuffix:
				logs++
			case blobSuffix:
				blobs++
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, v := range values {
				for _, enc := range [][]byte{v, []byte(base64.StdEncoding.EncodeToString(v))} {
					assert.False(t, bytes.Contains(data, enc), "%s: %s contains the value %q", when, path, enc)
				}
			}
			return nil
		})
		require.NoError(t, err)
		return logs, blobs
	}
	logs, _ := check("open")
	assert.Positive(t, logs, "no log in a store of version 2")
	require.NoError(t, b.Close())
	_, blobs := check("closed")
	assert.GreaterOrEqual(t, blobs, len(values), "values checkpointed into blob files")
}

// TestOpenIsLazy checks that Open reads no record or blob, and that a read
// opens one file and lists no directory.
func TestOpenIsLazy(t *testing.T) {
	t.Parallel()
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprintf("Version%d", v), func(t *testing.T) {
			t.Parallel()
			fbCheckOpenIsLazy(t, v)
		})
	}
}

// fbCheckOpenIsLazy checks that opening a store of format version v with
// many records reads none of them, and that a read opens one file.
func fbCheckOpenIsLazy(t *testing.T, v int) {
	ctx := t.Context()
	dir := t.TempDir()
	b := fbOpen(t, dir, withFormatVersion(v))
	const n = 1000
	key := func(i int) string {
		if i%100 == 0 {
			return fbLongKey(fmt.Sprintf("secret/%04d/", i), 200) // hashed name
		}
		return fmt.Sprintf("secret/%04d", i)
	}
	for i := range n {
		_, err := b.CreateRecord(ctx, key(i), []byte("data"))
		require.NoError(t, err)
		if i%10 == 0 {
			require.NoError(t, b.PutBlob(ctx, key(i), []byte("data")))
		}
	}

	var (
		mu  sync.Mutex
		ops []string
	)
	hook := withFileHook(func(op, path string) {
		if op != "open" && op != "readdir" && op != "opendir" {
			return // only reads matter here; writes and syncs are TestWriteOrder's
		}
		mu.Lock()
		defer mu.Unlock()
		ops = append(ops, op+" "+path)
	})
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		o := ops
		ops = nil
		return o
	}
	inside := func(o []string, dir string) []string {
		var out []string
		for _, op := range o {
			if strings.Contains(op, dir+string(filepath.Separator)) || strings.HasPrefix(op, "readdir "+dir) {
				out = append(out, op)
			}
		}
		return out
	}

	// Closing a store of version 2 checkpoints its log: the next Open
	// reads an empty log, and the records are in their files.
	require.NoError(t, b.Close())
	b2 := fbOpen(t, dir, hook)
	opened := take()
	assert.Empty(t, inside(opened, b2.records), "Open touched records")
	assert.Empty(t, inside(opened, b2.blobs), "Open touched blobs")
	assert.LessOrEqual(t, len(opened), 12, "Open's file operations: %q", opened)
	if v == 2 {
		require.Len(t, b2.wal.gens, 1)
		assert.Equal(t, int64(logHeaderSize), b2.wal.gens[0].end, "the log after Close")
	}

	for _, i := range []int{7, 100, 500} { // short and hashed names
		k := key(i)
		rec, err := b2.GetRecord(ctx, k, 0)
		require.NoError(t, err)
		_, err = b2.GetRecord(ctx, k, rec.Revision)
		require.NoError(t, err)
		assert.Equal(t, []string{"open " + b2.recordPath(k), "open " + b2.recordPath(k)}, take(), "GetRecord twice")
		bk := key(i / 10 * 10)
		_, err = b2.GetBlob(ctx, bk)
		require.NoError(t, err)
		assert.Equal(t, []string{"open " + b2.blobPath(bk)}, take(), "GetBlob")
	}

	recs, err := b2.ListRecords(ctx, "secret/", "", 10)
	require.NoError(t, err)
	require.Len(t, recs, 10)
	// One directory read, the headers of the n/100 hashed names, and the
	// 10 records returned.
	assert.Len(t, take(), 1+n/100+10, "ListRecords' file operations")
	_, err = b2.ListRecords(ctx, "secret/", recs[9].Key, 10)
	require.NoError(t, err)
	assert.Len(t, take(), 1+10, "ListRecords' file operations with hashed names cached")
}

func TestCloseReleasesLocks(t *testing.T) {
	t.Parallel()
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprintf("Version%d", v), func(t *testing.T) {
			t.Parallel()
			fbCheckCloseReleasesLocks(t, v)
		})
	}
}

// fbCheckCloseReleasesLocks checks, in a store of format version v, that a
// writer waits for the lock another Backend holds, until its context ends,
// and gets it once the holder's lock file is closed (as when it dies).
func fbCheckCloseReleasesLocks(t *testing.T, v int) {
	ctx := t.Context()
	dir := t.TempDir()
	b1, err := Open(dir, withFormatVersion(v))
	require.NoError(t, err)
	rev, err := b1.CreateRecord(ctx, "k", []byte("v"))
	require.NoError(t, err)
	// Hold the lock that a write of "k" takes in b1 (the stripe of "k" in
	// version 1, the log's in version 2), as a writer that stopped would.
	var held *os.File
	if b1.wal != nil {
		_, err = lockDir(ctx, &b1.wal.appendLock)
		held = b1.wal.appendLock.f
	} else {
		_, err = b1.lockRecord(ctx, "k")
		held = b1.stripes[stripeOf("k")].f
	}
	require.NoError(t, err)

	b2 := fbOpen(t, dir)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = b2.UpdateRecord(short, "k", rev, []byte("blocked"))
	assert.ErrorIs(t, err, context.DeadlineExceeded, "UpdateRecord while another handle holds the lock")
	got, err := b2.GetRecord(ctx, "k", 0)
	require.NoError(t, err, "GetRecord takes no lock")
	assert.Equal(t, rev, got.Revision, "a cancelled update changed the record")

	// Closing the file description releases the flock, as the death of
	// the process would.
	// (b1 then stands for a dead process: it is not closed.)
	require.NoError(t, held.Close())
	rev2, err := b2.UpdateRecord(ctx, "k", rev, []byte("after"))
	require.NoError(t, err)
	assert.NotEqual(t, rev, rev2)
}

// TestStaleRevisionZero checks that an update with revision 0, which no
// record has, is a conflict for a record that exists.
func TestStaleRevisionZero(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := fbOpen(t, t.TempDir())
	_, err := b.UpdateRecord(ctx, "k", 0, []byte("x"))
	assert.ErrorIs(t, err, backend.ErrNotFound)
	_, err = b.CreateRecord(ctx, "k", []byte("v"))
	require.NoError(t, err)
	_, err = b.UpdateRecord(ctx, "k", 0, []byte("x"))
	assert.ErrorIs(t, err, backend.ErrConflict)
	assert.ErrorIs(t, b.DeleteRecord(ctx, "k", 0), backend.ErrConflict)
}
