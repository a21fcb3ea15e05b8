package filebackend

import (
	"os"
	"sync"
)

// tempPoolSize is how many empty temp files a Backend keeps ready.
const tempPoolSize = 8

// tempFile is an empty temp file in tmp/, open for writing.
type tempFile struct {
	path string
	f    *os.File
}

// tempPool keeps a few empty temp files, created ahead of need by a
// background goroutine, so that a write does not allocate an inode on its
// critical path: on a file system under churn that costs more than the
// write itself (on ext4 without a journal, creating a file scans past every
// inode deleted in the last minute). Every file of the pool is new, so no
// reader can hold it open; a crash leaves the pool's empty files in tmp/,
// which a later Open removes like any stale temp file.
type tempPool struct {
	create func() (tempFile, error) // nil until start

	mu      sync.Mutex
	files   []tempFile
	filling bool
	closed  bool
	wg      sync.WaitGroup
}

// start enables the pool, which creates its files with create.
func (p *tempPool) start(create func() (tempFile, error)) { p.create = create }

// get returns an empty temp file from the pool, or false if the pool is
// empty, and has the pool refilled in the background.
func (p *tempPool) get() (tempFile, bool) {
	if p.create == nil {
		return tempFile{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var t tempFile
	ok := false
	if n := len(p.files); n > 0 {
		t, ok = p.files[n-1], true
		p.files = p.files[:n-1]
	}
	if !p.filling && !p.closed {
		p.filling = true
		p.wg.Go(p.fill)
	}
	return t, ok
}

// fill creates temp files until the pool is full or closed, or a creation
// fails (writes then create their files themselves, and report the error).
func (p *tempPool) fill() {
	for {
		p.mu.Lock()
		if p.closed || len(p.files) >= tempPoolSize {
			p.filling = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		t, err := p.create()
		p.mu.Lock()
		if err != nil || p.closed {
			p.filling = false
			p.mu.Unlock()
			if err == nil {
				_ = t.f.Close()
				_ = os.Remove(t.path)
			}
			return
		}
		p.files = append(p.files, t)
		p.mu.Unlock()
	}
}

// close stops the pool and removes its files.
func (p *tempPool) close() {
	p.mu.Lock()
	p.closed = true
	files := p.files
	p.files = nil
	p.mu.Unlock()
	p.wg.Wait()
	for _, t := range files {
		_ = t.f.Close()
		_ = os.Remove(t.path)
	}
}
