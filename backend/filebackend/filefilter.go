package filebackend

import (
	"errors"
	"hash/maphash"
	"io"
	"math/bits"
	"os"
	"sync"
	"time"
)

// fileFilter tells, without a system call, that a blob has no file in
// blobs/, for nearly every key that has none: a Bloom filter of the names
// of the files there. It spares PutBlob and PutRecordBlob a lookup of the
// new blob's file name, which for a new key is a miss that the file system
// cannot answer from its cache (and leaves a negative dentry behind).
//
// The filter holds the name of every file that the checkpoint of a log
// older than covers wrote (and names of files since removed, which only
// cost a lookup). It is built from a listing of blobs/ that starts once the
// oldest log in wal/ is known, and then covers the logs older than that
// one: a log is removed only once its checkpoint has written every file.
// A checkpoint of this Backend adds the names it wrote and moves covers
// past its log, in one step, before it removes the log. A log that another
// Backend checkpointed is not in the filter: once this Backend's index has
// dropped it, the filter no longer covers the oldest live log, and answers
// "maybe" until it is built again, in the background.
//
// An answer for a log that is still live need not come from the filter:
// the blob is then in the index, which the caller looks up first.
type fileFilter struct {
	mu       sync.Mutex
	words    []uint64 // the bits; len is a power of two
	seed     maphash.Seed
	n        int    // names added
	capacity int    // names the bits are sized for; past twice that, rebuilt
	covers   uint64 // the filter holds the files of every log older than this
	valid    bool
	building bool
	nextAt   time.Time // no build starts before this
	builds   sync.WaitGroup
}

// fileFilterHashes is the number of bits set per name: with 16 bits per
// name, about one false "maybe" in 2,000, and one in 40 at twice the names
// the filter was sized for.
const fileFilterHashes = 8

// maybe reports whether blobs/name may exist, given oldest, the oldest
// log in the caller's index. If the filter cannot tell, it says true, and
// starts a build if none runs and the last one is long enough ago.
func (f *fileFilter) maybe(w *wal, name string, oldest uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.valid || f.covers < oldest {
		f.startBuildLocked(w)
		return true
	}
	if f.n > 2*f.capacity {
		f.startBuildLocked(w) // answers stay right, but more of them "maybe"
	}
	return testBits(f.words, f.seed, name)
}

// bit returns the word and mask of the i-th of the fileFilterHashes bits
// of the name whose hash is h, in a filter of n words (a power of two).
func bit(h, i uint64, n int) (int, uint64) {
	h2 := bits.RotateLeft64(h, 32) | 1 // odd, so that the bits differ
	b := (h + i*h2) & uint64(n*64-1)
	return int(b / 64), 1 << (b % 64)
}

func testBits(words []uint64, seed maphash.Seed, name string) bool {
	h := maphash.String(seed, name)
	for i := range uint64(fileFilterHashes) {
		if w, m := bit(h, i, len(words)); words[w]&m == 0 {
			return false
		}
	}
	return true
}

func setBits(words []uint64, h uint64) {
	for i := range uint64(fileFilterHashes) {
		w, m := bit(h, i, len(words))
		words[w] |= m
	}
}

// checkpointed records that the checkpoint of log gen wrote the files
// names in blobs/, before it removes the log: the filter holds them, and,
// if it held the files of every log older than gen, now covers gen too.
func (f *fileFilter) checkpointed(gen uint64, names []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.valid {
		return // a build lists them, if it started after they were written
	}
	for _, name := range names {
		setBits(f.words, maphash.String(f.seed, name))
	}
	f.n += len(names)
	if f.covers == gen {
		f.covers = gen + 1
	}
}

// startBuildLocked builds the filter again in the background, unless a
// build runs or the last one ended too recently: a build lists blobs/,
// which for a large store costs far more than the lookups it saves while
// another process checkpoints often, so builds take at most a tenth of
// the time. f.mu is held.
func (f *fileFilter) startBuildLocked(w *wal) {
	if f.building || time.Now().Before(f.nextAt) {
		return
	}
	f.building = true
	f.builds.Go(func() { f.build(w) })
}

// build lists blobs/ and replaces the filter by one of the names there,
// covering the logs older than the oldest in wal/ before the listing. A
// checkpoint that ends meanwhile adds its names to the filter being
// replaced; those that the listing missed belong to a log the new filter
// does not cover.
func (f *fileFilter) build(w *wal) {
	start := time.Now()
	words, seed, n, covers, err := f.list(w)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.building = false
	wait := 10 * time.Since(start)
	if err != nil {
		f.nextAt = time.Now().Add(max(time.Second, wait))
		return
	}
	f.nextAt = time.Now().Add(wait)
	f.words, f.seed, f.n, f.capacity = words, seed, n, len(words)*64/16
	f.covers, f.valid = covers, true
}

// list returns a filter of the names in blobs/ and the log it covers.
func (f *fileFilter) list(w *wal) (words []uint64, seed maphash.Seed, n int, covers uint64, err error) {
	// The logs older than the oldest in wal/ are checkpointed: every
	// file they wrote is in blobs/ before the listing starts.
	gens, err := w.listGens()
	if err != nil {
		return nil, seed, 0, 0, err
	}
	if len(gens) == 0 {
		return nil, seed, 0, 0, errors.New("filebackend: no log")
	}
	w.b.cfg.note("readdir", w.b.blobs)
	d, err := os.Open(w.b.blobs)
	if err != nil {
		return nil, seed, 0, 0, err
	}
	defer d.Close()
	// The names are read in batches and kept as hashes only (8 bytes a
	// name), until their number sizes the filter: 16 bits a name, and
	// room for 1,024 more, rounded up to a power of two.
	seed = maphash.MakeSeed()
	var hashes []uint64
	for {
		batch, err := d.Readdirnames(4096)
		for _, name := range batch {
			hashes = append(hashes, maphash.String(seed, name))
		}
		if errors.Is(err, io.EOF) || err == nil && len(batch) == 0 {
			break
		}
		if err != nil {
			return nil, seed, 0, 0, err
		}
	}
	need := (len(hashes) + 1024) * 16 / 64
	words = make([]uint64, 1<<bits.Len(uint(need-1)))
	for _, h := range hashes {
		setBits(words, h)
	}
	return words, seed, len(hashes), gens[0], nil
}
