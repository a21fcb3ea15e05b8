package filebackend

import (
	"fmt"
	"os"
	"sync"
)

// maxPendingBlobs bounds the blobs a Backend holds unsynced (and their open
// files): PutBlob flushes them itself when there are this many.
const maxPendingBlobs = 64

// pendingBlob is a blob linked into blobs/ whose file is not synced yet.
type pendingBlob struct {
	f    *os.File // nil when only the directory entry is pending
	path string   // the blob's path, for the file hook
}

// blobSyncer makes blobs durable in groups (group commit). PutBlob links a
// complete, unsynced blob file into blobs/ and hands it over with add; a
// record write calls sync before it renames the record into place, so that
// every blob written before it is durable before any record that refers to
// it can be. A round of flushing syncs every pending blob file and the
// blobs directory at once, so one round costs one flush of the file system
// however many blobs it holds; callers that arrive while a round runs share
// the next one.
//
// A failed round makes every later sync fail with its error: on Linux a
// failed fsync may drop the dirty pages it could not write, so a later one
// succeeding proves nothing about the blobs of the failed round, and a
// record must never come to refer to them. Reopening the store clears the
// error.
type blobSyncer struct {
	dir  interface{ Sync() error } // blobs/ (a fake in tests)
	note func(op, path string)     // the file hook
	path string                    // blobs/, for the file hook

	mu      sync.Mutex
	cond    sync.Cond
	pending []pendingBlob
	added   uint64 // blobs handed over so far
	durable uint64 // the first durable blobs handed over
	running bool
	err     error // the error of the first round that failed
}

func (s *blobSyncer) init(dir interface{ Sync() error }, path string, note func(op, path string)) {
	s.dir, s.path, s.note = dir, path, note
	s.cond.L = &s.mu
}

// add hands over a blob linked into blobs/; f, if not nil, is its open
// file, which the syncer syncs and closes. It reports whether so many blobs
// are pending that the caller should flush them now.
func (s *blobSyncer) add(f *os.File, path string) (flush bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, pendingBlob{f: f, path: path})
	s.added++
	return len(s.pending) >= maxPendingBlobs
}

// needed reports whether blobs handed over are not known to be durable.
func (s *blobSyncer) needed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.durable < s.added
}

// sync returns once every blob handed over before the call is durable, or
// with the error of a failed round if any of those blobs is not known to
// be durable. It returns at once when there is nothing to flush.
func (s *blobSyncer) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	target := s.added
	for s.durable < target {
		if s.err != nil {
			return s.err
		}
		if s.running {
			s.cond.Wait()
			continue
		}
		// Take every pending blob: those handed over up to now.
		batch, upto := s.pending, s.added
		s.pending = nil
		s.running = true
		s.mu.Unlock()
		err := s.flush(batch)
		s.mu.Lock()
		s.running = false
		if err != nil {
			s.err = fmt.Errorf("making blobs durable: %w", err)
		} else {
			s.durable = upto
		}
		s.cond.Broadcast()
	}
	return nil
}

// flush syncs the files of batch and the blobs directory, all at once, and
// closes the files. Every entry of batch was linked into the directory
// before flush started, so the directory fsync covers their names.
func (s *blobSyncer) flush(batch []pendingBlob) error {
	errs := make([]error, len(batch)+1)
	var wg sync.WaitGroup
	for i, p := range batch {
		if p.f == nil {
			continue
		}
		wg.Go(func() {
			s.note("sync", p.path)
			errs[i] = p.f.Sync()
			if err := p.f.Close(); errs[i] == nil {
				errs[i] = err
			}
		})
	}
	s.note("dirsync", s.path)
	errs[len(batch)] = s.dir.Sync()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// close closes the files of the blobs still pending, without syncing them.
func (s *blobSyncer) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for _, p := range s.pending {
		if p.f != nil {
			if err := p.f.Close(); first == nil {
				first = err
			}
		}
	}
	s.pending = nil
	return first
}
