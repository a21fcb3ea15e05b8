package filebackend

import (
	"fmt"
	"os"
	"sync"
)

// maxPendingBlobs bounds the blobs a Backend holds unsynced (and their open
// files): PutBlob flushes them itself when there are this many.
const maxPendingBlobs = 64

// pendingBlob is a blob linked into blobs/ whose file is not known to be
// durable yet.
type pendingBlob struct {
	f    *os.File // nil when only the directory entry needs syncing
	path string   // the blob's path, for the file hook
	done chan struct{}
	err  error // set before done is closed
}

// blobSyncer makes blobs durable for the record writes that follow them.
// PutBlob links a complete, unsynced blob file into blobs/ and hands it
// over with add; a record write calls sync before it renames the record
// into place, so that every blob written before it is durable before any
// record that refers to it can be.
//
// sync claims the blobs no one is syncing yet and syncs them itself, each
// file and the directory at once (the directory's fsyncs are shared among
// concurrent callers, see dirSyncer), and waits for the blobs other callers
// claimed before it. Writers thus never wait for a flush that started after
// theirs, and the data of each blob is flushed once, concurrently with the
// record's own temp file.
//
// A failed flush makes every later sync fail with its error: on Linux a
// failed fsync may drop the dirty pages it could not write, so a later one
// succeeding proves nothing, and a record must never come to refer to a
// blob that may be lost. Reopening the store clears the error.
type blobSyncer struct {
	dir  dirSyncer             // blobs/
	note func(op, path string) // the file hook
	path string                // blobs/, for the file hook

	mu       sync.Mutex
	pending  []*pendingBlob            // handed over, not claimed
	inflight map[*pendingBlob]struct{} // claimed, not done
	err      error                     // the first flush that failed
}

func (s *blobSyncer) init(dir interface{ Sync() error }, path string, note func(op, path string)) {
	s.dir.init(dir)
	s.path, s.note = path, note
	s.inflight = map[*pendingBlob]struct{}{}
}

// add hands over a blob linked into blobs/; f, if not nil, is its open
// file, which the syncer syncs and closes. It reports whether so many blobs
// are pending that the caller should flush them now.
func (s *blobSyncer) add(f *os.File, path string) (flush bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, &pendingBlob{f: f, path: path, done: make(chan struct{})})
	return len(s.pending) >= maxPendingBlobs
}

// needed reports whether blobs handed over are not known to be durable.
func (s *blobSyncer) needed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)+len(s.inflight) > 0 || s.err != nil
}

// sync returns once every blob handed over before the call is durable, or
// with the error of a failed flush. It returns at once when there is
// nothing to flush.
func (s *blobSyncer) sync() error {
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return err
	}
	mine := s.pending
	s.pending = nil
	var others []*pendingBlob
	for p := range s.inflight {
		others = append(others, p)
	}
	for _, p := range mine {
		s.inflight[p] = struct{}{}
	}
	s.mu.Unlock()

	var err error
	if len(mine) > 0 {
		err = s.flush(mine)
		s.mu.Lock()
		for _, p := range mine {
			p.err = err
			close(p.done)
			delete(s.inflight, p)
		}
		if err != nil && s.err == nil {
			s.err = fmt.Errorf("making blobs durable: %w", err)
		}
		s.mu.Unlock()
	}
	for _, p := range others {
		<-p.done
		if p.err != nil && err == nil {
			err = p.err
		}
	}
	if err != nil {
		return fmt.Errorf("making blobs durable: %w", err)
	}
	return nil
}

// flush syncs the files of batch and the blobs directory, all at once, and
// closes the files. Every entry of batch was linked into the directory
// before flush started, so a directory fsync that starts now covers their
// names.
func (s *blobSyncer) flush(batch []*pendingBlob) error {
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
	errs[len(batch)] = s.dir.syncRaw()
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
