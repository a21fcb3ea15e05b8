package filebackend

import (
	"hash/maphash"
	"math/bits"
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
// cost a lookup). It is built from a listing of blobs/, started once the
// oldest log in wal/ is known, which then covers the logs older than it: a
// log is removed only once its checkpoint has written every file. The
// checkpoints of this Backend add the names they write, and move covers
// past their log before they remove it. A log that another Backend
// checkpointed is not in the filter: once this Backend's index has dropped
// it, the filter no longer covers the oldest live log, and answers
// "maybe" until it is built again, in the background.
//
// An answer for a log that is still live need not come from the filter:
// the blob is then in the index, which the caller looks up first.
type fileFilter struct {
	mu       sync.Mutex
	words    []uint64 // the bits; len is a power of two
	n        int      // names added
	capacity int      // names the bits are sized for; past twice that, rebuilt
	covers   uint64   // the filter holds the files of every log older than this
	valid    bool
	building bool
	pending  []string // names added while a build lists blobs/
	lastCost time.Duration
	nextAt   time.Time // no build starts before this
	seed     maphash.Seed
	builds   sync.WaitGroup
}

// fileFilterHashes is the number of bits set per name: with 16 bits per
// name, about one false "maybe" in 2,000.
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
	h1, h2 := f.hashes(name)
	mask := uint64(len(f.words)*64 - 1)
	for i := range uint64(fileFilterHashes) {
		b := (h1 + i*h2) & mask
		if f.words[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

// hashes returns the two hashes from which the positions of name's bits
// are derived (h2 odd, so that they differ).
func (f *fileFilter) hashes(name string) (uint64, uint64) {
	h := maphash.String(f.seed, name)
	return h, bits.RotateLeft64(h, 32) | 1
}

// addLocked sets the bits of name. f.mu is held.
func (f *fileFilter) addLocked(name string) {
	if f.words == nil {
		return
	}
	h1, h2 := f.hashes(name)
	mask := uint64(len(f.words)*64 - 1)
	for i := range uint64(fileFilterHashes) {
		b := (h1 + i*h2) & mask
		f.words[b/64] |= 1 << (b % 64)
	}
	f.n++
}

// add records the names of files a checkpoint is writing to blobs/.
func (f *fileFilter) add(names []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, name := range names {
		f.addLocked(name)
	}
	if f.building {
		f.pending = append(f.pending, names...)
	}
}

// checkpointed records that every file the checkpoint of log gen writes is
// in the filter, before the log is removed.
func (f *fileFilter) checkpointed(gen uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.valid && f.covers == gen {
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
	f.building, f.pending = true, nil
	f.builds.Go(func() { f.build(w) })
}

// build lists blobs/ and replaces the filter by one of the names there
// and those added meanwhile, covering the logs older than the oldest in
// wal/ before the listing.
func (f *fileFilter) build(w *wal) {
	start := time.Now()
	// The logs older than the oldest in wal/ are checkpointed: every
	// file they wrote is in blobs/ before the listing starts.
	gens, err := w.listGens()
	if err != nil || len(gens) == 0 {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.building, f.pending, f.nextAt = false, nil, time.Now().Add(time.Second)
		return
	}
	covers := gens[0]
	w.b.cfg.note("readdir", w.b.blobs)
	names, err := readDirNames(w.b.blobs)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.building = false
	f.lastCost = time.Since(start)
	f.nextAt = time.Now().Add(10 * f.lastCost)
	if err != nil {
		f.pending = nil
		return
	}
	capacity := max(2*len(names), 4096)
	size := 1 << bits.Len(uint(capacity*16/64-1)) // words, a power of two
	f.words, f.n, f.capacity = make([]uint64, size), 0, capacity
	f.seed = maphash.MakeSeed()
	for _, name := range names {
		f.addLocked(name)
	}
	for _, name := range f.pending {
		f.addLocked(name)
	}
	f.pending = nil
	f.covers, f.valid = covers, true
}
