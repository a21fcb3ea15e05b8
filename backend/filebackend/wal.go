package filebackend

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretstore/secretstore/backend"
)

// defaultSealSize is the size past which a log is sealed and a new one
// started, so that the log an Open reads after a crash stays small; the
// sealed log is then checkpointed into record and blob files in the
// background. A checkpoint writes a file for each key whose last entry in
// the log is a put, so the larger the log, the more of what it holds is
// deleted or replaced before its checkpoint and costs no file: with 8
// secrets rotated in a loop, each keeping 100 versions, 16 MiB rather
// than 4 MiB took 8 writers from about 95 to 70 µs per Put.
const defaultSealSize = 16 << 20

// wal is the write-ahead log of a store of format version 2 (see the
// package doc). Every change is appended to the current log, under an flock
// that serializes appends across processes; a record write then waits for
// an fdatasync of the log that started after its append, which it shares
// with the writes appended meanwhile (group commit). Reads look the key up
// in an index of the live logs, which each Backend keeps and brings up to
// date from the log files, and fall back to the record and blob files,
// which hold everything that was in the logs already checkpointed.
type wal struct {
	b        *Backend
	dir      string   // wal/
	dirF     *os.File // wal/, open to fsync it
	sealSize int64    // defaultSealSize but in tests

	appendLock stripe // on wal/: held to append, seal or create a log (lockDir)
	ckptLock   stripe // on the store's directory: held to checkpoint a log

	// mu guards gens and their indexes: readers hold it for reading,
	// appends and index updates for writing.
	mu   sync.RWMutex
	gens []*logGen // the live logs this Backend knows, oldest first; the last is current

	syncMu   sync.Mutex    // guards the fields below and every logGen.synced
	waiters  []*syncWaiter // goroutines waiting for a flush, oldest first
	flushing bool          // a goroutine flushes for the waiters (flushLocked)
	syncErr  error         // a failed fdatasync: every later write fails
	flushers sync.WaitGroup
	closers  sync.WaitGroup // close the files of dropped logs (closeDropped)
	stopped  bool           // close waits for the closers: files are closed at once

	files fileFilter // which blobs have no file

	// heldMu guards held: the keys of the blobs this Backend deleted
	// whose deletion entries are not appended yet, oldest first. The next
	// append, whatever its own entry, writes them before it in the same
	// write: a record write that follows the deletion of blobs it no
	// longer refers to then costs one append, not one more per blob.
	heldMu sync.Mutex
	held   []string

	// queueMu guards leading and queue: whether a goroutine leads the
	// appends of this Backend, and the appends waiting for it (see
	// append).
	queueMu sync.Mutex
	leading bool
	queue   []*appendReq

	// writeBuf is where write encodes entries, kept from one write to the
	// next (a Put's are about 3 KiB) unless a large blob made it larger
	// than maxWriteBuf. w.mu guards it.
	writeBuf []byte

	wrote       atomic.Bool    // this Backend appended something
	sealing     atomic.Bool    // a goroutine of this Backend is sealing the log
	ckptRunning atomic.Bool    // a background checkpoint of this Backend runs
	bg          sync.WaitGroup // background checkpoints
}

// logGen is one log file and the index of what it holds.
type logGen struct {
	gen  uint64
	path string
	f    *os.File

	end     int64 // the valid entries parsed (or written) end here
	alloc   int64 // the file's size as last known: zeros from end to here
	sealed  bool  // a seal entry was parsed (or it is known to have a successor)
	records map[string]logRef
	blobs   map[string]logRef

	written atomic.Int64 // end, readable without mu: what an fdatasync started now covers
	synced  int64        // guarded by wal.syncMu: known durable up to here
	syncing bool         // guarded by wal.syncMu: an fdatasync of f runs
	dropped bool         // guarded by wal.syncMu: checkpointed and out of the index
}

// index returns the index of g's records, or of its blobs.
func (g *logGen) index(blobs bool) map[string]logRef {
	if blobs {
		return g.blobs
	}
	return g.records
}

// logRef locates the newest entry of a key in a log.
type logRef struct {
	off     int64
	size    int32
	rev     uint64 // a record's revision
	deleted bool
	// noFile says that a blob has no file, so that its deletion leaves
	// none to remove: its first entry in the log is a put (a blob is
	// never put over one that exists, and the checkpoint of the log
	// before, which removes the file of a blob it deletes, is over before
	// this log's starts), not a deletion.
	noFile bool
}

// maxHeldDeletions bounds the blob deletions a Backend holds for its next
// append: a DeleteBlob that reaches it appends them itself (a sweep
// deleting many blobs, a DeleteSecret with many versions).
const maxHeldDeletions = 64

func newLogGen(gen uint64, path string, f *os.File) *logGen {
	return &logGen{gen: gen, path: path, f: f, end: logHeaderSize, synced: logHeaderSize,
		records: map[string]logRef{}, blobs: map[string]logRef{}}
}

// openDirLock opens the directory dir for s to lock: a stripe whose
// file is a directory of the store, which no one removes while it is in
// use, so that unlike lockStripe's lock files it needs no check that the
// file is still the one at its path.
func openDirLock(s *stripe, dir string) error {
	s.sem = make(chan struct{}, 1)
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("filebackend: %w", err)
	}
	s.f = f
	return nil
}

// lockDir takes s, opened by openDirLock, waiting until ctx is done, and
// returns the function that releases it. The operating system releases
// the flock of a process that dies, so a crashed holder never blocks
// others.
func lockDir(ctx context.Context, s *stripe) (unlock func(), err error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	if err := s.flock(ctx); err != nil {
		s.release()
		return nil, err
	}
	return s.unlock, nil
}

// openLockWait is how long Open waits for the append lock.
const openLockWait = 100 * time.Millisecond

// openWAL opens the log of the store of b, creating the first log of a new
// store, and reads the live logs into the index.
func openWAL(b *Backend) (*wal, error) {
	w := &wal{b: b, dir: filepath.Join(b.dir, walName), sealSize: cmp.Or(b.cfg.sealSize, defaultSealSize)}
	b.cfg.note("opendir", w.dir)
	var err error
	if w.dirF, err = os.Open(w.dir); err != nil {
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	// Each lock is an flock on a file description of this Backend's own
	// (flock excludes other descriptions, in this process too), on a
	// directory of the store, which no one removes while it is in use.
	if err := openDirLock(&w.appendLock, w.dir); err != nil {
		_ = w.closeFiles()
		return nil, err
	}
	if err := openDirLock(&w.ckptLock, b.dir); err != nil {
		_ = w.closeFiles()
		return nil, err
	}
	// Read the logs holding the append lock, so that nothing is being
	// written: what does not check is then damage, or an append a crash
	// cut short, and not one in progress. If another Backend holds the
	// lock for long (a writer stopped in a debugger), read as a reader
	// does, and leave those checks to the next writer.
	mode := parseOpen
	lctx, cancel := context.WithTimeout(context.Background(), openLockWait)
	unlock, err := lockDir(lctx, &w.appendLock)
	cancel()
	switch {
	case err == nil:
		defer unlock()
	case errors.Is(err, context.DeadlineExceeded):
		mode = parseReader
	default:
		_ = w.closeFiles()
		return nil, err
	}
	w.mu.Lock()
	err = w.loadLocked(context.Background(), mode)
	w.mu.Unlock()
	if errors.Is(err, errRecheck) {
		// Read as a reader, it found an append in progress: read
		// again holding the lock, however long that takes.
		if unlock, err = lockDir(context.Background(), &w.appendLock); err == nil {
			defer unlock()
			w.mu.Lock()
			err = w.loadLocked(context.Background(), parseOpen)
			w.mu.Unlock()
		}
	}
	if err != nil {
		_ = w.closeFiles()
		return nil, err
	}
	if len(w.gens) > 1 {
		// A crash or a Backend still at work left a sealed log:
		// checkpoint it, or wait for whoever is doing so.
		w.startCheckpoint()
	}
	return w, nil
}

// loadLocked replaces the index by one of the logs now in wal/, creating
// the first log if there is none; on failure the index is left as it was.
// w.mu is held.
func (w *wal) loadLocked(ctx context.Context, mode parseMode) error {
	var missing uint64 // a log the last listing showed that did not open
	for {
		gens, err := w.listGens()
		if err != nil {
			return err
		}
		if len(gens) == 0 {
			if err := w.createFirst(ctx, mode); err != nil {
				return err
			}
			continue
		}
		var opened []*logGen
		for _, gen := range gens {
			g, err := w.openGen(gen)
			if errors.Is(err, fs.ErrNotExist) && gen == missing {
				// Listed twice and never there: logs are removed
				// once, so this name is no log (a dangling link).
				err = &corruptError{path: filepath.Join(w.dir, logName(gen)), reason: "listed in wal/ but does not open"}
			}
			if errors.Is(err, fs.ErrNotExist) {
				// Checkpointed since the listing: list again.
				missing = gen
				break
			}
			if err != nil {
				for _, g := range opened {
					_ = g.f.Close()
				}
				return err
			}
			opened = append(opened, g)
		}
		if len(opened) < len(gens) {
			for _, g := range opened {
				_ = g.f.Close()
			}
			continue
		}
		for i, g := range opened {
			if err := w.parse(g, mode); err != nil {
				for _, g := range opened {
					_ = g.f.Close()
				}
				return err
			}
			if i < len(opened)-1 {
				g.sealed = true // it has a successor
			}
		}
		// Only now, with the new index complete, is the old one dropped:
		// a failure above leaves it as it was.
		for _, g := range w.gens {
			w.drop(g)
		}
		w.gens = opened
		return nil
	}
}

// listGens returns the generations of the logs in wal/, ascending.
func (w *wal) listGens() ([]uint64, error) {
	w.b.cfg.note("readdir", w.dir)
	names, err := readDirNames(w.dir)
	if err != nil {
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	var gens []uint64
	for _, name := range names {
		if gen, ok := parseLogName(name); ok {
			gens = append(gens, gen)
		}
	}
	slices.Sort(gens)
	return gens, nil
}

// openGen opens the log of generation gen and checks its header. A missing
// log is an error wrapping fs.ErrNotExist.
func (w *wal) openGen(gen uint64) (*logGen, error) {
	path := filepath.Join(w.dir, logName(gen))
	w.b.cfg.note("open", path)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	var head [logHeaderSize]byte
	if _, err := f.ReadAt(head[:], 0); err != nil && !errors.Is(err, io.EOF) {
		_ = f.Close()
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	if err := checkLogHeader(head[:], gen); err != nil {
		_ = f.Close()
		return nil, corrupt(path, err)
	}
	g := newLogGen(gen, path, f)
	if fi, err := f.Stat(); err == nil {
		g.alloc = fi.Size()
	}
	return g, nil
}

// createFirst creates the log of generation 1 unless a log exists. The
// caller holds the append lock if mode is not parseReader.
func (w *wal) createFirst(ctx context.Context, mode parseMode) error {
	if mode == parseReader {
		unlock, err := lockDir(ctx, &w.appendLock)
		if err != nil {
			return err
		}
		defer unlock()
	}
	gens, err := w.listGens()
	if err != nil || len(gens) > 0 {
		return err
	}
	return w.createGen(1)
}

// createGen creates the empty log of generation gen, durably: a synced temp
// file holding the header, linked into wal/, and wal/ synced. The caller
// holds the append lock; a log left by a crash under that name is kept.
func (w *wal) createGen(gen uint64) error {
	tmp, err := w.b.writeTemp(encodeLogHeader(gen))
	if err != nil {
		return err
	}
	return w.linkGen(tmp, gen)
}

// linkGen links tmp, a synced temp file that holds the header of the log
// of generation gen, into wal/ as that log, unless it exists, removes tmp,
// and syncs wal/.
func (w *wal) linkGen(tmp string, gen uint64) error {
	err := w.b.link(tmp, filepath.Join(w.dir, logName(gen)))
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	w.b.cfg.note("dirsync", w.dir)
	if err := w.dirF.Sync(); err != nil {
		// The log's name may not be durable: appends to it must not be
		// acknowledged.
		w.fail(err)
		return fmt.Errorf("filebackend: %w", err)
	}
	return nil
}

// parseWindow is how much of a log parse reads at a time.
const parseWindow = 64 << 10

// zeroChunk is how far ahead of its end a log is filled with zeros.
// Appending over zeros written earlier changes neither the file's size
// nor its block map, so the fdatasync that makes the append durable
// flushes data only, not the file's metadata: it costs about half as much
// as one after a plain append.
const zeroChunk = 1 << 20

// zeros is a chunk of zeros to write.
var zeros = make([]byte, 64<<10)

// parse reads the entries of g past g.end into its index. It stops at the
// end of the log, which is the first entry whose length is zero (the log
// is filled with zeros ahead of its end), at a seal, or at an entry that
// does not check, which is the last one being written by another process
// or cut short by a crash if nothing but zeros follows it, and corruption,
// reported with the file's name, if anything else does: a log is only
// ever appended to. With mode parseWriter, the caller holds the append
// lock, so that nothing is being written, and an entry cut short is
// overwritten with zeros; with parseOpen, parse also checks that nothing
// but zeros follows the end.
func (w *wal) parse(g *logGen, mode parseMode) error {
	if g.sealed {
		return nil
	}
	// The entries read say how far their writers knew the log durable:
	// what a read then finds below that needs no flush (syncRead).
	var flushed int64
	defer func() {
		g.written.Store(g.end)
		w.syncMu.Lock()
		g.synced = max(g.synced, flushed)
		w.syncMu.Unlock()
	}()
	// Most often nothing was appended: zeros follow the end.
	var head [entryHeaderSize]byte
	if _, err := g.f.ReadAt(head[:], g.end); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("filebackend: %w", err)
	}
	if head == [entryHeaderSize]byte{} {
		if mode == parseOpen {
			return w.stopAt(g, g.end, head[:], mode)
		}
		return nil
	}
	window := make([]byte, parseWindow)
	for {
		buf := window
		n, err := g.f.ReadAt(buf, g.end)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("filebackend: %w", err)
		}
		buf, eof := buf[:n], n < len(window)
		off := 0
		for off < len(buf) {
			e, size, err := decodeEntry(buf[off:])
			if errors.Is(err, errShortEntry) && !eof {
				if off > 0 {
					break // read on from this entry
				}
				// An entry longer than the window: read it whole.
				buf = make([]byte, entryHeaderSize+maxEntryBody)
				m, rerr := g.f.ReadAt(buf, g.end)
				if rerr != nil && !errors.Is(rerr, io.EOF) {
					return fmt.Errorf("filebackend: %w", rerr)
				}
				buf, eof = buf[:m], m < len(buf)
				e, size, err = decodeEntry(buf)
			}
			if err != nil {
				g.end += int64(off)
				return w.stopAt(g, g.end, buf[off:], mode)
			}
			g.apply(e, g.end+int64(off), size)
			flushed = max(flushed, int64(e.flushed))
			off += size
			if e.kind == kindSeal {
				g.end += int64(off)
				return nil
			}
		}
		g.end += int64(off)
		if eof && off == len(buf) {
			return w.stopAt(g, g.end, nil, mode)
		}
	}
}

// parseMode says who calls parse, and what it may conclude.
type parseMode int

const (
	// parseReader: a reader, while another process may be appending.
	// What looks like damage may be an append in progress that the
	// reader saw in part: parse returns errRecheck, and the caller
	// parses again holding the append lock.
	parseReader parseMode = iota
	// parseWriter: a writer holding the append lock.
	parseWriter
	// parseOpen: Open, holding the append lock.
	parseOpen
	// parseSealed: a checkpoint, of a sealed log, which no one writes.
	parseSealed
)

// errRecheck reports that a reader found what may be damage in a log, or
// an append in progress: see parseReader.
var errRecheck = errors.New("filebackend: log changing while read")

// stopAt handles what is at off in g, where parse found no entry that
// checks: rest is what parse read from there (it reads more if it needs
// to). Zeros to the end of the file are the end of the log. Anything else
// is damage, or an append in progress that a reader saw in part (then
// errRecheck, see parseReader), or the tail of appends that a crash tore.
// A torn tail is told from corruption by the flushed offsets of the
// entries that check after off: the appends a crash can tear are those no
// fdatasync had covered yet, so if an entry after off was appended once
// the log was durable beyond off, what is at off is corruption. A torn
// tail is ignored, and cleared by a writer (or Open), so that what it
// appends is followed by zeros.
func (w *wal) stopAt(g *logGen, off int64, rest []byte, mode parseMode) error {
	head := make([]byte, entryHeaderSize)
	copy(head, rest)
	if len(rest) < entryHeaderSize {
		if _, err := g.f.ReadAt(head, off); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("filebackend: %w", err)
		}
	}
	zeroHead := !slices.ContainsFunc(head, func(c byte) bool { return c != 0 })
	if zeroHead && mode != parseOpen {
		// The end of the log. (Only Open looks further: the first
		// Open after a crash clears a torn tail, before any append.)
		return nil
	}
	if !zeroHead && mode == parseReader {
		return errRecheck
	}
	tail, err := readTail(g.f, off)
	if err != nil {
		return err
	}
	if len(tail) == 0 {
		return nil // zeros to the end: the end of the log
	}
	if mode == parseReader {
		return errRecheck
	}
	var claim uint64 // the highest flushed offset claimed after off
	for i := 0; i < len(tail); i++ {
		if e, n, err := decodeEntry(tail[i:]); err == nil {
			claim = max(claim, e.flushed)
			i += n - 1
		}
	}
	if claim > uint64(off) {
		return corrupt(g.path, fmt.Errorf("at offset %d: damaged, and the log was durable up to %d", off, claim))
	}
	if mode == parseSealed {
		return nil
	}
	w.b.cfg.note("truncate", g.path)
	if err := writeZeros(g.f, off, off+int64(len(tail))); err != nil {
		return fmt.Errorf("filebackend: %w", err)
	}
	return nil
}

// readTail returns the bytes of f from off up to its last byte that is
// not zero (none if there is none).
func readTail(f *os.File, off int64) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	if fi.Size() <= off {
		return nil, nil
	}
	buf := make([]byte, fi.Size()-off)
	n, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	end := len(bytes.TrimRight(buf[:n], "\x00"))
	return buf[:end], nil
}

// writeZeros writes zeros to f from off to end.
func writeZeros(f *os.File, off, end int64) error {
	for off < end {
		n := min(end-off, int64(len(zeros)))
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// apply records in g's index the entry e, found at off with encoded size n.
func (g *logGen) apply(e logEntry, off int64, n int) {
	ref := logRef{off: off, size: int32(n), rev: e.rev}
	switch e.kind {
	case kindRecordPut:
		g.records[e.key] = ref
	case kindRecordDelete:
		ref.deleted = true
		g.records[e.key] = ref
	case kindBlobPut, kindBlobDelete:
		ref.deleted = e.kind == kindBlobDelete
		ref.noFile = !ref.deleted
		if old, ok := g.blobs[e.key]; ok {
			ref.noFile = old.noFile
		}
		g.blobs[e.key] = ref
	case kindSeal:
		g.sealed = true
	}
}

// refreshLocked brings the index up to date with the logs: it reads what
// was appended to the current log, and moves on to the next log when the
// current one is sealed. It keeps the sealed log before the current one,
// which may still be being checkpointed, and drops older ones, which are
// checkpointed: a log is sealed only once the log before it is gone. w.mu
// is held for writing; truncate is as for parse.
func (w *wal) refreshLocked(writer bool) error {
	mode := parseReader
	if writer {
		mode = parseWriter
	}
	var reopened uint64 // the successor opened again after a listing showed it
	for {
		cur := w.current()
		if err := w.parse(cur, mode); err != nil {
			return err
		}
		if !cur.sealed {
			return nil
		}
		next, err := w.openGen(cur.gen + 1)
		if errors.Is(err, fs.ErrNotExist) {
			gens, err := w.listGens()
			if err != nil {
				return err
			}
			if len(gens) == 0 || gens[len(gens)-1] <= cur.gen {
				return nil // the successor is not created yet
			}
			if slices.Contains(gens, cur.gen+1) && reopened != cur.gen+1 {
				// Created since openGen looked: open it (once: a
				// name that lists but does not open is no log).
				reopened = cur.gen + 1
				continue
			}
			// The successor is checkpointed already, and so is all
			// this Backend knows: start again from the logs there are.
			if err := w.loadLocked(context.Background(), mode); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		for _, g := range w.gens[:len(w.gens)-1] {
			w.drop(g)
		}
		w.gens = []*logGen{cur, next}
	}
}

// drop closes the file of g, a log out of the index because it is
// checkpointed (so durable), in the background (closeDropped): at once,
// or when the fdatasync of it that runs, if any, ends. w.mu is held for
// writing, so no reader uses g.
func (w *wal) drop(g *logGen) {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	g.dropped = true
	if !g.syncing {
		w.closeDropped(g)
	}
	w.wakeLocked()
}

// closeDropped closes the file of g, a dropped log, in the background.
// The checkpoint removed the log, so closing the last descriptor of it
// frees its blocks, which takes milliseconds (4–6 ms for a 16 MiB log on
// the ext4 the README measures on), and the caller holds syncMu and most
// often w.mu, which every read and every write of the Backend waits for.
// syncMu is held.
func (w *wal) closeDropped(g *logGen) {
	closeLog := func() {
		w.b.cfg.note("close", g.path)
		_ = g.f.Close()
	}
	if w.stopped {
		closeLog()
		return
	}
	w.closers.Go(closeLog)
}

// current returns the current log. w.mu is held.
func (w *wal) current() *logGen { return w.gens[len(w.gens)-1] }

// view runs fn with the index up to date and w.mu held (for reading, or
// for writing when the index had to be brought up to date).
//
// A file fn reads may be being rewritten by a checkpoint in another
// Backend if this Backend's index was behind: the key is then in a log the
// index had not caught up with. So when fn finds a file corrupt, view runs
// it again holding the append lock, with the index up to date: no log can
// then gain an entry, every key whose file a checkpoint may be writing is
// in the index, and fn reads no such file. Corruption found then is real.
func (w *wal) view(ctx context.Context, fn func() error) error {
	err := w.viewOnce(ctx, fn)
	if !errors.Is(err, ErrCorrupt) {
		return err
	}
	release, err := w.lockFresh(ctx)
	if err != nil {
		return err
	}
	defer release()
	return fn()
}

// lockFresh takes the append lock and w.mu, in that order (as writers do),
// and brings the index up to date; nothing can then be appended until the
// returned function releases both.
func (w *wal) lockFresh(ctx context.Context) (release func(), err error) {
	unlock, err := lockDir(ctx, &w.appendLock)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	if err := w.refreshLocked(true); err != nil {
		w.mu.Unlock()
		unlock()
		return nil, err
	}
	return func() { w.mu.Unlock(); unlock() }, nil
}

// viewOnce is view without the second look.
func (w *wal) viewOnce(ctx context.Context, fn func() error) error {
	w.mu.RLock()
	cur := w.current()
	if !cur.sealed {
		// Nothing was appended if zeros (or the end of the file) follow
		// the last entry read.
		var head [entryHeaderSize]byte
		if _, err := cur.f.ReadAt(head[:], cur.end); (err == nil || errors.Is(err, io.EOF)) && head == [entryHeaderSize]byte{} {
			defer w.mu.RUnlock()
			return fn()
		}
	}
	w.mu.RUnlock()
	w.mu.Lock()
	err := w.refreshLocked(false)
	if !errors.Is(err, errRecheck) {
		defer w.mu.Unlock()
		if err != nil {
			return err
		}
		return fn()
	}
	// Look again while nothing is being appended.
	w.mu.Unlock()
	release, err := w.lockFresh(ctx)
	if err != nil {
		return err
	}
	defer release()
	return fn()
}

// lookup returns the newest entry for key in the index (records or blobs).
// w.mu is held.
func (w *wal) lookup(key string, blobs bool) (*logGen, logRef, bool) {
	for i := len(w.gens) - 1; i >= 0; i-- {
		g := w.gens[i]
		if ref, ok := g.index(blobs)[key]; ok {
			return g, ref, true
		}
	}
	return nil, logRef{}, false
}

// readData returns the data of the entry ref in g, checked again.
func (w *wal) readData(g *logGen, ref logRef) ([]byte, error) {
	buf := make([]byte, ref.size)
	if _, err := g.f.ReadAt(buf, ref.off); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &corruptError{path: g.path, reason: fmt.Sprintf("log shrank below offset %d", ref.off+int64(ref.size))}
		}
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	e, _, err := decodeEntry(buf)
	if err != nil {
		return nil, corrupt(g.path, fmt.Errorf("at offset %d: %w", ref.off, err))
	}
	return e.data, nil
}

// recordRevision returns the current revision of the record under key, or
// backend.ErrNotFound. w.mu is held.
func (w *wal) recordRevision(key string) (uint64, error) {
	if _, ref, ok := w.lookup(key, false); ok {
		if ref.deleted {
			return 0, backend.ErrNotFound
		}
		return ref.rev, nil
	}
	r, err := w.b.readRecord(key)
	if err != nil {
		return 0, err
	}
	return r.rev, nil
}

// blobStat is what statBlob found out about a blob's file before an
// append, for blobExists to decide under the append lock.
type blobStat struct {
	inFile bool   // the blob's file existed
	oldest uint64 // the oldest log in the index then
}

// statBlob looks for the file of the blob under key, before the append
// lock is taken, so that no other append waits for the file system.
func (w *wal) statBlob(key string) (blobStat, error) {
	w.mu.RLock()
	oldest := w.gens[0].gen
	w.mu.RUnlock()
	inFile, err := w.blobFile(key, oldest)
	return blobStat{inFile: inFile, oldest: oldest}, err
}

// blobFile reports whether the file of the blob under key exists, given
// oldest, the oldest log in the index the caller looks up: when the
// filter of blob files says it does not (see fileFilter), without a
// lookup.
func (w *wal) blobFile(key string, oldest uint64) (bool, error) {
	name := fileStem(key) + blobSuffix
	if !w.files.maybe(w, name, oldest) {
		return false, nil
	}
	if w.b.cfg.fileHook != nil {
		w.b.cfg.note("open", w.b.blobPath(key))
	}
	ok, err := existsIn(w.b.blobsDir, w.b.blobs, name)
	if err != nil {
		return false, fmt.Errorf("filebackend: %w", err)
	}
	return ok, nil
}

// blobExists reports whether a blob is stored under key, holding the
// append lock and w.mu with the index up to date: the index decides if it
// holds the key, else the file as st found it, unless the index dropped a
// log since, whose checkpoint may have written the blob's file or removed
// it: then it looks at the file again.
func (w *wal) blobExists(key string, st blobStat) (bool, error) {
	if _, ref, ok := w.lookup(key, true); ok {
		return !ref.deleted, nil
	}
	if w.gens[0].gen == st.oldest {
		return st.inFile, nil
	}
	return w.blobFile(key, w.gens[0].gen)
}

// append appends the entries that build adds to the slice it is given
// (one or two) to the current log, after the blob deletions this Backend
// holds, in one write, holding the append lock and with the index up to
// date, and returns the log and the offset the write ends at. build
// returns an error to append nothing; a nil build
// appends only the deletions held (g is nil if there were none). What is
// appended is readable when append returns, and not yet durable: see
// syncTo.
//
// Concurrent appends of a Backend are done by one of them, the leader,
// which takes the append lock once for all that queue up while it holds
// it, and wakes each when its entry is written: the lock then passes
// between goroutines, and the flock between processes, once per group
// rather than once per append, and the index is brought up to date once.
// An append that is durable (its caller syncs the log next, with syncTo)
// is woken only once the entry is durable too: the leader hands it to the
// flusher (waitDurable), and its syncTo then returns at once.
func (w *wal) append(ctx context.Context, durable bool, build func([]logEntry) ([]logEntry, error)) (*logGen, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if err := w.holdBack(ctx); err != nil {
		return nil, 0, err
	}
	r := &appendReq{build: build, durable: durable}
	w.queueMu.Lock()
	if w.leading {
		r.done = make(chan struct{})
		w.queue = append(w.queue, r)
		w.queueMu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			if r.state.CompareAndSwap(reqQueued, reqCancelled) {
				return nil, 0, ctx.Err()
			}
			<-r.done
		}
	} else {
		w.leading = true
		w.queueMu.Unlock()
		r.lead = true
	}
	if r.lead {
		w.lead(ctx, r)
	}
	if r.err != nil {
		return nil, 0, r.err
	}
	if r.seal {
		// The entry is written; a log that cannot be sealed now is
		// sealed by a later append.
		w.maybeSeal()
	}
	return r.g, r.end, nil
}

// appendReq is an append, done by its own goroutine or by the leader.
type appendReq struct {
	build   func([]logEntry) ([]logEntry, error)
	durable bool          // the caller syncs the log next: wake it once that is done
	state   atomic.Int32  // reqQueued, then reqTaken or reqCancelled
	done    chan struct{} // closed when a leader has done the append, or handed over (lead)
	lead    bool          // the request's goroutine is to lead

	g    *logGen
	end  int64
	seal bool
	err  error
}

const (
	reqQueued = iota
	reqTaken
	reqCancelled
)

// maxLead bounds the appends a leader does before it hands the lead over,
// so that others who need the append lock (a seal, a reader's second
// look, other processes) get it between groups.
const maxLead = 64

// lead does the append r as the leader, then those queued meanwhile,
// holding the append lock throughout, until none is queued or it did
// maxLead.
func (w *wal) lead(ctx context.Context, r *appendReq) {
	unlock, err := lockDir(ctx, &w.appendLock)
	if err != nil {
		r.err = err
		w.handOver()
		return
	}
	w.fillAhead()
	w.mu.Lock()
	fresh := false // the index is up to date, and no one else can append
	n := 0
	batch := []*appendReq{r}
	for len(batch) > 0 {
		for _, q := range batch {
			q.g, q.end, q.seal, q.err = w.appendLocked(q.build, fresh)
			fresh = q.err == nil
			switch {
			case q == r:
			case q.durable && q.err == nil && q.g != nil:
				// Its syncTo will find the entry durable.
				w.waitDurable(q.g, q.end, q.done)
			default:
				close(q.done)
			}
		}
		if n += len(batch); n >= maxLead {
			w.mu.Unlock()
			unlock()
			w.handOver()
			return
		}
		batch = w.takeQueue()
	}
	w.mu.Unlock()
	unlock()
}

// takeQueue takes the appends queued and not cancelled, and ends the lead
// if there are none: the caller then releases the lock. A new append
// leads, waiting for the lock.
func (w *wal) takeQueue() []*appendReq {
	w.queueMu.Lock()
	defer w.queueMu.Unlock()
	var batch []*appendReq
	for _, q := range w.queue {
		if q.state.CompareAndSwap(reqQueued, reqTaken) {
			batch = append(batch, q)
		}
	}
	clear(w.queue)
	w.queue = w.queue[:0]
	if len(batch) == 0 {
		w.leading = false
	}
	return batch
}

// handOver passes the lead to the first append queued, or ends it if none
// is: when the leader could not take the append lock (its context is
// done), or did maxLead appends.
func (w *wal) handOver() {
	w.queueMu.Lock()
	defer w.queueMu.Unlock()
	for i, q := range w.queue {
		if q.state.CompareAndSwap(reqQueued, reqTaken) {
			w.queue = slices.Delete(w.queue, 0, i+1)
			q.lead = true
			close(q.done)
			return
		}
	}
	clear(w.queue)
	w.queue = w.queue[:0]
	w.leading = false
}

// appendLocked is one append once the locks are held; fresh says the
// index is up to date already (the leader appended since it took the
// locks). It reports whether the current log is due to be sealed.
func (w *wal) appendLocked(build func([]logEntry) ([]logEntry, error), fresh bool) (g *logGen, end int64, seal bool, err error) {
	if err := w.failed(); err != nil {
		return nil, 0, false, err
	}
	if !fresh {
		if err := w.refreshLocked(true); err != nil {
			return nil, 0, false, err
		}
	}
	if w.current().sealed {
		// Its sealer died before it created the successor.
		if err := w.createGen(w.current().gen + 1); err != nil {
			return nil, 0, false, err
		}
		if err := w.refreshLocked(true); err != nil {
			return nil, 0, false, err
		}
	}
	var own []logEntry
	if build != nil {
		var ownBuf [2]logEntry
		if own, err = build(ownBuf[:0]); err != nil {
			return nil, 0, false, err
		}
	}
	held := w.takeHeld()
	entries := make([]logEntry, 0, len(held)+len(own))
	for _, k := range held {
		entries = append(entries, logEntry{kind: kindBlobDelete, key: k})
	}
	entries = append(entries, own...)
	if len(entries) == 0 {
		return nil, 0, false, nil
	}
	g = w.current()
	n := 0
	for _, e := range entries {
		n += encodedSize(e)
	}
	err = w.prepare(g, n)
	if err == nil {
		err = w.write(g, n, entries...)
	}
	if err != nil {
		w.restoreHeld(held)
		return nil, 0, false, err
	}
	w.wrote.Store(true)
	return g, g.end, g.end >= w.sealSize, nil
}

// takeHeld takes the blob deletions this Backend holds, for an append.
func (w *wal) takeHeld() []string {
	w.heldMu.Lock()
	defer w.heldMu.Unlock()
	held := w.held
	w.held = nil
	return held
}

// restoreHeld puts back the blob deletions that an append took and could
// not write, before those held since.
func (w *wal) restoreHeld(held []string) {
	if len(held) == 0 {
		return
	}
	w.heldMu.Lock()
	defer w.heldMu.Unlock()
	w.held = append(held, w.held...)
}

// deletionHeld reports whether this Backend holds a deletion of the blob
// under key.
func (w *wal) deletionHeld(key string) bool {
	w.heldMu.Lock()
	defer w.heldMu.Unlock()
	return slices.Contains(w.held, key)
}

// flushHeld appends the blob deletions held, if any, without flushing the
// log.
func (w *wal) flushHeld(ctx context.Context) error {
	w.heldMu.Lock()
	n := len(w.held)
	w.heldMu.Unlock()
	if n == 0 {
		return nil
	}
	_, _, err := w.append(ctx, false, nil)
	return err
}

// prepare makes sure that zeros follow the end of g, which is current, for
// at least n bytes, writing zeroChunk more if not. The caller holds the
// append lock.
func (w *wal) prepare(g *logGen, n int) error {
	return w.fill(g, g.end+int64(n))
}

// fill makes sure that g, which is or was current, is filled with zeros up
// to need, writing up to the next multiple of zeroChunk if not. It writes
// only past the size of g's file, and every entry lies below that (it is
// filled before it is appended to), so it never covers an entry, even one
// the index has not read yet. The caller holds the append lock, so that no
// one, in any process, appends or fills meanwhile; g.alloc is only
// changed under it.
func (w *wal) fill(g *logGen, need int64) error {
	if need <= g.alloc {
		return nil
	}
	// Another process may have written zeros since.
	fi, err := g.f.Stat()
	if err != nil {
		return fmt.Errorf("filebackend: %w", err)
	}
	g.alloc = max(g.alloc, fi.Size())
	if need <= g.alloc {
		return nil
	}
	end := (need + zeroChunk - 1) / zeroChunk * zeroChunk
	w.b.cfg.note("zero", g.path)
	if err := writeZeros(g.f, g.alloc, end); err != nil {
		return fmt.Errorf("filebackend: %w", err)
	}
	g.alloc = end
	return nil
}

// fillRoom is the room past the end of the current log below which a
// leader fills the next chunk of zeros before it takes w.mu (fillAhead):
// more than a group of appends takes, so that prepare rarely has to. A
// fill still writes up to the next multiple of zeroChunk.
const fillRoom = zeroChunk / 2

// fillAhead fills the next chunk of the current log with zeros when less
// than fillRoom is left past its end, before the leader takes w.mu: a
// chunk takes 0.3–0.8 ms to write on the disk the README measures on,
// which every read of the Backend would otherwise wait for, as prepare
// fills under w.mu. A failure is left for prepare to meet. It goes by the
// index, which may not have read what other processes appended since: then
// prepare, after the refresh, may still fill under w.mu. The caller holds
// the append lock.
func (w *wal) fillAhead() {
	if w.failed() != nil {
		return
	}
	w.mu.RLock()
	g := w.current()
	end, sealed := g.end, g.sealed
	w.mu.RUnlock()
	if !sealed && g.alloc-end < fillRoom {
		_ = w.fill(g, end+fillRoom)
	}
}

// encodedSize returns the size of the encoding of e.
func encodedSize(e logEntry) int {
	return entryHeaderSize + entryFixedSize + len(e.key) + len(e.data)
}

// write appends entries, of size bytes encoded, to g, which is current
// and has room for them (prepare), in one write, and indexes them. On
// failure it writes zeros back over them. w.mu is held.
func (w *wal) write(g *logGen, size int, entries ...logEntry) error {
	w.syncMu.Lock()
	flushed := uint64(g.synced)
	w.syncMu.Unlock()
	buf := slices.Grow(w.writeBuf[:0], size)
	for _, e := range entries {
		e.flushed = flushed
		buf = appendEntry(buf, e)
	}
	if cap(buf) <= maxWriteBuf {
		w.writeBuf = buf
	}
	w.b.cfg.note("append", g.path)
	if _, err := g.f.WriteAt(buf, g.end); err != nil {
		if zerr := writeZeros(g.f, g.end, g.end+int64(len(buf))); zerr != nil {
			// Garbage may follow the last entry: refuse to write
			// more until reopened, which clears it.
			w.fail(zerr)
		}
		return fmt.Errorf("filebackend: %w", err)
	}
	for _, e := range entries {
		n := encodedSize(e)
		g.apply(e, g.end, n)
		g.end += int64(n)
	}
	g.written.Store(g.end)
	return nil
}

// maxWriteBuf is the largest wal.writeBuf kept.
const maxWriteBuf = 64 << 10

// failed returns the error that makes every write fail, if any.
func (w *wal) failed() error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	return w.syncErr
}

func (w *wal) fail(err error) {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if w.syncErr == nil {
		w.syncErr = fmt.Errorf("filebackend: a write to the log failed, reopen the store: %w", err)
	}
}

// syncTo returns once g is durable up to end: after an fdatasync of g that
// started once end was written. Callers that arrive while an fdatasync
// runs share the next one (group commit). A failed fdatasync fails this
// call and every later write of the Backend: it may have dropped the data
// it could not write, so a later one succeeding would prove nothing.
//
// One goroutine at a time flushes for all that wait, the flusher: a caller
// that finds none becomes it, and flushes until its own end is durable;
// if others still wait then, a new goroutine goes on for them. So the log
// is flushed again as soon as a flush ends while anyone waits, whether or
// not the goroutines it woke have run yet, and each waiter is woken once,
// when what it waits for is durable.
func (w *wal) syncTo(g *logGen, end int64) error {
	sw := &syncWaiter{g: g, end: end}
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if sw.satisfied() {
		return nil
	}
	if w.syncErr != nil {
		return w.syncErr
	}
	w.waiters = append(w.waiters, sw)
	if w.flushing {
		sw.done = make(chan struct{})
		w.syncMu.Unlock()
		<-sw.done
		w.syncMu.Lock()
		return sw.result(w)
	}
	w.flushing = true
	w.flushLocked(sw)
	if len(w.waiters) > 0 {
		w.startFlusher()
	} else {
		w.flushing = false
	}
	return sw.result(w)
}

// startFlusher starts a goroutine that flushes for the waiters until none
// is left (flushLocked). flushing is set, and syncMu held.
func (w *wal) startFlusher() {
	w.flushers.Go(func() {
		w.syncMu.Lock()
		defer w.syncMu.Unlock()
		w.flushLocked(nil)
	})
}

// waitDurable is syncTo for an append that a leader did on behalf of its
// goroutine (see append), which waits on done: the leader registers it,
// without waking it, and it is woken once its entry is durable. syncMu is
// not held.
func (w *wal) waitDurable(g *logGen, end int64, done chan struct{}) {
	sw := &syncWaiter{g: g, end: end, done: done}
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if sw.satisfied() || w.syncErr != nil {
		close(done)
		return
	}
	w.waiters = append(w.waiters, sw)
	if !w.flushing {
		w.flushing = true
		w.startFlusher()
	}
}

// flushLocked flushes the logs of the waiters, one fdatasync at a time,
// waking each waiter whose end is then durable, until own (if not nil) is
// woken or, if own is nil, none waits; then it ends the flusher's turn,
// unless own is not nil, whose caller decides. syncMu is held, and
// released while an fdatasync runs.
func (w *wal) flushLocked(own *syncWaiter) {
	for len(w.waiters) > 0 && (own == nil || !own.woken) {
		g := w.waiters[0].g
		if w.syncErr == nil && !g.dropped {
			g.syncing = true
			target := g.written.Load()
			w.syncMu.Unlock()
			w.b.cfg.note("sync", g.path)
			sync := datasync
			if w.b.cfg.logSync != nil {
				sync = w.b.cfg.logSync
			}
			err := sync(g.f)
			w.syncMu.Lock()
			g.syncing = false
			if g.dropped {
				w.closeDropped(g)
			}
			if err != nil {
				if w.syncErr == nil {
					w.syncErr = fmt.Errorf("filebackend: syncing the log failed, reopen the store: %w", err)
				}
			} else {
				g.synced = max(g.synced, target)
			}
		}
		w.wakeLocked()
	}
	if own == nil {
		w.flushing = false
	}
}

// wakeLocked wakes the waiters whose end is durable, or whose log was
// dropped (checkpointed), or all if flushing failed. syncMu is held.
func (w *wal) wakeLocked() {
	w.waiters = slices.DeleteFunc(w.waiters, func(sw *syncWaiter) bool {
		if !sw.satisfied() && w.syncErr == nil {
			return false
		}
		sw.woken = true
		if sw.done != nil {
			close(sw.done)
		}
		return true
	})
}

// syncWaiter is a goroutine waiting in syncTo or waitDurable. Its fields
// but g and end are guarded by wal.syncMu.
type syncWaiter struct {
	g     *logGen
	end   int64
	done  chan struct{} // closed when woken, for a waiter that is not the flusher
	woken bool
}

// satisfied reports whether what sw waits for is durable. syncMu is held.
func (sw *syncWaiter) satisfied() bool { return sw.g.synced >= sw.end || sw.g.dropped }

// result is what the wait of sw, woken, returns. syncMu is held.
func (sw *syncWaiter) result(w *wal) error {
	if sw.satisfied() {
		return nil
	}
	return w.syncErr
}

// maxLogFactor bounds the growth of a log past the seal size while the log
// before it is being checkpointed: at maxLogFactor times the seal size,
// writers wait for the checkpoint instead of going on.
const maxLogFactor = 4

// maybeSeal seals the current log, which is due, and starts its successor,
// then checkpoints the sealed log in the background. The log before it
// must be checkpointed first: so at most two logs exist, and a Backend
// that learns of a log's successor's successor knows the log is
// checkpointed. While that checkpoint runs, writers go on appending to the
// current log without waiting, up to maxLogFactor times the seal size. One
// goroutine of a Backend seals at a time; the others go on.
func (w *wal) maybeSeal() {
	if !w.sealing.CompareAndSwap(false, true) {
		return
	}
	defer w.sealing.Store(false)
	w.mu.RLock()
	end := w.current().end
	w.mu.RUnlock()
	if end < maxLogFactor*w.sealSize {
		if w.ckptRunning.Load() {
			return // the log before is being checkpointed: seal later
		}
		gens, err := w.listGens()
		if err != nil {
			return
		}
		if len(gens) > 1 {
			w.startCheckpoint()
			return
		}
	}
	// sealIf checkpoints the log before first, or waits for that.
	_ = w.sealIf(context.Background(), func(g *logGen) bool { return g.end >= w.sealSize }, true)
}

// holdBack makes a writer wait, before it appends, while the current log
// has reached maxLogFactor times the seal size because the log before it
// is still being checkpointed (by this Backend or another): it waits for
// that checkpoint, or does it, then seals the current log. If that fails
// (a damaged sealed log, a full disk), the write fails rather than let
// the log grow without bound.
func (w *wal) holdBack(ctx context.Context) error {
	w.mu.RLock()
	end := w.current().end
	w.mu.RUnlock()
	if end < maxLogFactor*w.sealSize {
		return nil
	}
	// sealIf checkpoints the log before first, or waits for that.
	return w.sealIf(ctx, func(g *logGen) bool { return g.end >= w.sealSize }, true)
}

// startCheckpoint checkpoints the sealed logs in the background, unless
// this Backend does so already.
func (w *wal) startCheckpoint() {
	if w.ckptRunning.CompareAndSwap(false, true) {
		w.bg.Go(func() {
			defer w.ckptRunning.Store(false)
			_ = w.checkpointOlder(context.Background())
		})
	}
}

// sealIf is seal with the condition due and the choice to checkpoint the
// sealed log in the background (else the caller does).
//
// It holds the append lock throughout, so that nothing is appended to the
// log, by this Backend or another, while it is sealed; but it holds w.mu
// only while it brings the index up to date, appends the seal and brings
// the index up to date again, not while it waits for the log's flush or
// writes the next log, so that reads go on meanwhile. It may use cur, the
// log it seals, without w.mu in between: while the append lock is held,
// cur cannot gain entries, so no refresh changes it, and it stays in the
// index (a log is dropped only once its successor exists, which is linked
// last).
func (w *wal) sealIf(ctx context.Context, due func(*logGen) bool, background bool) error {
	// The previous log must be gone before this one is sealed.
	if err := w.checkpointOlder(ctx); err != nil {
		return err
	}
	unlock, err := lockDir(ctx, &w.appendLock)
	if err != nil {
		return err
	}
	defer unlock()
	w.mu.Lock()
	cur, err := w.sealDue(due)
	w.mu.Unlock()
	if cur == nil || err != nil {
		return err
	}
	// Everything in the log becomes durable before anything appended to
	// the next one, which may refer to it, can be.
	if err := w.syncTo(cur, cur.end); err != nil {
		return err
	}
	seal := logEntry{kind: kindSeal}
	if err := w.prepare(cur, encodedSize(seal)); err != nil {
		return err
	}
	// The next log is written and flushed before the seal and linked into
	// wal/ after it: from the seal on, reads find the log sealed and look
	// for its successor (holding w.mu), and they do so only for the time
	// of a link. A crash between leaves a temp file, which an Open
	// removes once it is stale.
	tmp, err := w.b.writeTemp(encodeLogHeader(cur.gen + 1))
	if err != nil {
		return err
	}
	w.mu.Lock()
	err = w.write(cur, encodedSize(seal), seal)
	w.mu.Unlock()
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := w.linkGen(tmp, cur.gen+1); err != nil {
		return err
	}
	w.mu.Lock()
	err = w.refreshLocked(true)
	w.mu.Unlock()
	if err != nil {
		return err
	}
	if background {
		w.startCheckpoint()
	}
	return nil
}

// sealDue brings the index up to date and returns the current log if it is
// to be sealed: not sealed, due, and the log before it (if the index still
// holds one) checkpointed. The caller holds the append lock and w.mu.
func (w *wal) sealDue(due func(*logGen) bool) (*logGen, error) {
	if err := w.refreshLocked(true); err != nil {
		return nil, err
	}
	cur := w.current()
	if cur.sealed || !due(cur) {
		return nil, nil
	}
	if len(w.gens) > 1 {
		// Another Backend sealed and we lost the race to checkpoint;
		// a later append retries.
		if _, err := os.Stat(w.gens[0].path); err == nil {
			return nil, nil
		}
	}
	return cur, nil
}

// checkpointOlder checkpoints every log older than the newest in wal/, and
// returns once none is left, holding the checkpoint lock meanwhile: so it
// waits for a checkpoint another Backend is doing.
func (w *wal) checkpointOlder(ctx context.Context) error {
	if gens, err := w.listGens(); err != nil || len(gens) < 2 {
		return err
	}
	unlock, err := lockDir(ctx, &w.ckptLock)
	if err != nil {
		return err
	}
	defer unlock()
	gens, err := w.listGens()
	if err != nil {
		return err
	}
	for i := 0; i < len(gens)-1; i++ {
		if err := w.checkpoint(gens[i]); err != nil {
			return err
		}
	}
	return nil
}

// checkpoint writes what the sealed log of generation gen holds into
// record and blob files and removes the log. The caller holds the
// checkpoint lock. The files are written to synced temp files and renamed
// into place, and the directories synced, before the log is removed, so a
// crash at any instant leaves the log to be checkpointed again; until the
// log is removed, readers find its keys in their index, never in the files
// being written.
func (w *wal) checkpoint(gen uint64) error {
	g, err := w.openGen(gen)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // checkpointed already
	}
	if err != nil {
		return err
	}
	defer g.f.Close()
	path := g.path
	if err := w.parse(g, parseSealed); err != nil {
		return err
	}
	// The newest entry of each key, in the order of the log.
	type change struct {
		key  string
		ref  logRef
		blob bool
	}
	var changes []change
	for _, blob := range []bool{false, true} {
		for k, ref := range g.index(blob) {
			changes = append(changes, change{k, ref, blob})
		}
	}
	slices.SortFunc(changes, func(a, b change) int { return cmp.Compare(a.ref.off, b.ref.off) })
	entries := entryReader{f: g.f, end: g.end}

	// Write every file in place: while the log exists, readers find its
	// keys in their index and never read these files, and a crash leaves
	// the log to be checkpointed again. Files with hashed names, whose
	// keys a listing reads from them, are written aside and renamed, so
	// that a listing never finds one half written.
	//
	// The files of deleted keys are spares: a key that needs a new file
	// takes one, renamed, and overwrites it, which costs the file system
	// far less than removing one file and creating another (no inode or
	// block to free and allocate). Spares left over are removed.
	var files []*os.File
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	// Many files are flushed with one syncfs; a few (a Close after a
	// handful of writes), with an fsync each, so that a small checkpoint
	// does not wait for whatever else the file system has to write.
	puts := 0
	for _, c := range changes {
		if !c.ref.deleted {
			puts++
		}
	}
	keepFiles := !canSyncfs || puts < syncfsMinFiles
	// Spares are taken from the end: the files of the keys this log
	// deletes first (they may not exist: a failed rename is cheap), then
	// those kept from earlier checkpoints.
	dirs, err := w.b.openDirs()
	if err != nil {
		return err
	}
	defer dirs.close()
	spares, err := dirs.spares()
	if err != nil {
		return err
	}
	pooled := len(spares)
	var blobNames []string
	for _, c := range changes {
		if c.ref.deleted && !c.ref.noFile {
			spares = append(spares, w.b.keyPath(c.key, c.blob))
		}
	}
	for _, c := range changes {
		if c.ref.deleted {
			continue
		}
		dst := w.b.keyPath(c.key, c.blob)
		raw, err := entries.at(c.ref.off, int(c.ref.size))
		if err != nil {
			return err
		}
		e, _, err := decodeEntry(raw)
		if err != nil {
			return corrupt(path, fmt.Errorf("at offset %d: %w", c.ref.off, err))
		}
		data := e.data
		content := encodeBlob(c.key, data)
		if !c.blob {
			content = encodeRecord(c.key, c.ref.rev, data)
		}
		f, err := w.writeFile(dirs, dst, content, c.blob, keepFiles, &spares)
		if err != nil {
			return err
		}
		if f != nil {
			files = append(files, f)
		}
		if c.blob {
			blobNames = append(blobNames, filepath.Base(dst))
		}
	}
	// The files exist now: the filter of blob files holds them from here
	// on, before the log is removed (see fileFilter).
	w.files.checkpointed(gen, blobNames)
	// Of the spares left, the files of deleted blobs are kept for later
	// checkpoints, moved to tmp/, up to maxSpares in all; the others are
	// removed. Both changes are flushed below, before the log is removed,
	// with the files written.
	nPooled := min(pooled, len(spares))
	moved := false
	for _, sp := range spares[nPooled:] {
		if nPooled < maxSpares && filepath.Dir(sp) == w.b.blobs {
			err := w.b.keepSpare(dirs, sp)
			if err == nil {
				nPooled++
				moved = true
			}
			if err == nil || errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return err
		}
		w.b.cfg.note("remove", sp)
		if err := os.Remove(sp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("filebackend: %w", err)
		}
	}
	var flushErr error
	if keepFiles {
		for _, f := range append(files, w.b.recordsDir, w.b.blobsDir) {
			flushErr = errors.Join(flushErr, f.Sync())
		}
		if moved {
			flushErr = errors.Join(flushErr, dirs.tmp().Sync())
		}
	} else {
		flushErr = syncfs(w.dirF)
	}
	if flushErr != nil {
		return fmt.Errorf("filebackend: %w", flushErr)
	}
	w.b.cfg.note("flush", w.dir+"/")
	w.b.cfg.note("remove", path)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("filebackend: %w", err)
	}
	w.b.cfg.note("dirsync", w.dir)
	if err := w.dirF.Sync(); err != nil {
		return fmt.Errorf("filebackend: %w", err)
	}
	return nil
}

// entryReader reads the entries of a log in the order of their offsets
// through one window, for a checkpoint: one read per window rather than
// one per entry, and no buffer the size of the log (16 MiB of fresh
// memory cost a checkpoint 11–14 ms on the VM the README measures on,
// most of it page faults, more than the parse of the whole log).
type entryReader struct {
	f        *os.File
	end      int64 // the entries end here: no need to read further
	buf      []byte
	from, to int64 // the part of the file buf holds
}

// entryWindow is how much of a log an entryReader reads at a time.
const entryWindow = 256 << 10

// at returns the size bytes of the log at off, valid until the next call.
func (r *entryReader) at(off int64, size int) ([]byte, error) {
	if off < r.from || off+int64(size) > r.to {
		n := max(size, int(min(entryWindow, r.end-off)))
		if cap(r.buf) < n {
			r.buf = make([]byte, n)
		}
		r.from, r.to = 0, 0 // until the read succeeds
		m, err := r.f.ReadAt(r.buf[:n], off)
		if m < size {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("filebackend: %w", err)
		}
		r.buf, r.from, r.to = r.buf[:m], off, off+int64(m)
	}
	return r.buf[off-r.from : off-r.from+int64(size)], nil
}

// syncfsMinFiles is the number of files from which a checkpoint flushes
// them with one syncfs rather than an fsync each.
const syncfsMinFiles = 32

// writeFile writes content to the file at dst, mode 0600, and starts its
// write-back. A new file is made by renaming a spare file (popped from
// spares) to dst, or created if no spare is left; since blob keys are new,
// a blob takes a spare without first looking for its own file (a spare
// renamed over a file left by an earlier, interrupted checkpoint replaces
// it). A file with a hashed name, whose key a listing reads from it, is
// written to a temp file, synced, and renamed to dst instead, so that not
// even a crash leaves one torn under its name. writeFile returns the file,
// still open, if keep, for the caller to sync, else nil.
func (w *wal) writeFile(dirs *openDirs, dst string, content []byte, blob, keep bool, spares *[]string) (*os.File, error) {
	if strings.HasPrefix(filepath.Base(dst), hashedNamePrefix) {
		tmp, err := w.b.writeTemp(content)
		if err != nil {
			return nil, err
		}
		w.b.cfg.note("rename", dst)
		if err := os.Rename(tmp, dst); err != nil {
			_ = os.Remove(tmp)
			return nil, fmt.Errorf("filebackend: %w", err)
		}
		return nil, nil
	}
	w.b.cfg.note("write", dst)
	var f *os.File
	err := fs.ErrNotExist
	if !blob {
		f, err = openAt(dirs, dst, os.O_WRONLY, 0)
	}
	for errors.Is(err, fs.ErrNotExist) && len(*spares) > 0 {
		sp := (*spares)[len(*spares)-1]
		*spares = (*spares)[:len(*spares)-1]
		w.b.cfg.note("rename", dst)
		if rerr := renameAt(dirs, sp, dst); rerr != nil {
			if errors.Is(rerr, fs.ErrNotExist) {
				continue // the spare's file was never written
			}
			return nil, fmt.Errorf("filebackend: %w", rerr)
		}
		f, err = openAt(dirs, dst, os.O_WRONLY, 0)
	}
	if errors.Is(err, fs.ErrNotExist) {
		f, err = openAt(dirs, dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fileMode)
		if err == nil {
			if err = f.Chmod(fileMode); err != nil {
				_ = f.Close()
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	// Overwrite, then cut to size: truncating to zero first would make
	// ext4 flush the file on close (auto_da_alloc).
	_, err = f.WriteAt(content, 0)
	if err == nil {
		err = f.Truncate(int64(len(content)))
	}
	if keep {
		if err == nil {
			// Each file is flushed by an fsync of its own: start
			// writing it now, so that the flushes overlap.
			startWriteback(f)
			return f, nil
		}
		_ = f.Close()
	} else if err == nil {
		// One syncfs flushes every file, together.
		err = f.Close()
	} else {
		_ = f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	return nil, nil
}

// close waits for background checkpoints and, if this Backend wrote to the
// log, seals and checkpoints the current log, so that the next Open reads
// an empty log. Then it closes the files.
func (w *wal) close() error {
	err := w.flushHeld(context.Background())
	w.bg.Wait()
	w.flushers.Wait()
	w.files.builds.Wait()
	if err == nil && w.wrote.Load() {
		err = w.checkpointAll()
	}
	err = errors.Join(err, w.closeFiles())
	w.syncMu.Lock()
	w.stopped = true
	w.syncMu.Unlock()
	w.closers.Wait()
	return err
}

// checkpointAll appends the blob deletions held, seals the current log if
// it holds any entry, and checkpoints every sealed log.
func (w *wal) checkpointAll() error {
	if err := w.flushHeld(context.Background()); err != nil {
		return err
	}
	if err := w.sealIf(context.Background(), func(g *logGen) bool { return g.end > logHeaderSize }, false); err != nil {
		return err
	}
	return w.checkpointOlder(context.Background())
}

func (w *wal) closeFiles() error {
	errs := []error{w.dirF.Close()}
	for _, g := range w.gens {
		errs = append(errs, g.f.Close())
	}
	for _, l := range []*stripe{&w.appendLock, &w.ckptLock} {
		if l.f != nil {
			errs = append(errs, l.f.Close())
		}
	}
	return errors.Join(errs...)
}

// getRecord is GetRecord of a format 2 store.
func (w *wal) getRecord(ctx context.Context, key string, knownRevision uint64) (rec backend.Record, err error) {
	var from *logGen
	var upTo int64
	err = w.view(ctx, func() error {
		from = nil
		g, ref, ok := w.lookup(key, false)
		if ok {
			from, upTo = g, ref.off+int64(ref.size)
		}
		if !ok {
			r, err := w.b.readRecord(key)
			if err != nil {
				return err
			}
			rec = backend.Record{Key: key, Revision: r.rev, Data: r.data}
			if knownRevision != 0 && knownRevision == r.rev {
				rec.Data = nil
			}
			return nil
		}
		if ref.deleted {
			return backend.ErrNotFound
		}
		rec = backend.Record{Key: key, Revision: ref.rev}
		if knownRevision != 0 && knownRevision == ref.rev {
			return nil
		}
		rec.Data, err = w.readData(g, ref)
		return err
	})
	if err := w.syncRead(from, upTo, err); err != nil {
		return backend.Record{}, err
	}
	return rec, nil
}

// syncRead makes durable, for a read that found its answer (readErr nil
// or backend.ErrNotFound) in the log from, the log up to upTo, unless it
// is known to be already: so a read never answers with an entry another
// writer appended and a crash could still undo. The fdatasync is shared
// with writers (syncTo). It returns the error the read returns.
func (w *wal) syncRead(from *logGen, upTo int64, readErr error) error {
	if from == nil || (readErr != nil && !errors.Is(readErr, backend.ErrNotFound)) {
		return readErr
	}
	if err := w.syncTo(from, upTo); err != nil {
		return err
	}
	return readErr
}

// putRecord is CreateRecord (update false) and UpdateRecord of a format 2
// store: an entry appended once the current state is the expected one, and
// durable before it returns.
func (w *wal) putRecord(ctx context.Context, key string, update bool, revision uint64, data []byte) (uint64, error) {
	var rev uint64
	g, end, err := w.append(ctx, true, func(dst []logEntry) ([]logEntry, error) {
		e, err := w.recordEntry(key, update, revision, data)
		if err != nil {
			return nil, err
		}
		rev = e.rev
		return append(dst, e), nil
	})
	if err != nil {
		return 0, err
	}
	if err := w.syncTo(g, end); err != nil {
		return 0, err
	}
	return rev, nil
}

// recordEntry returns the entry that writes data under key if the
// record's current state is the expected one: absent if !update, else at
// revision. The append lock is held and the index up to date.
func (w *wal) recordEntry(key string, update bool, revision uint64, data []byte) (logEntry, error) {
	cur, err := w.recordRevision(key)
	switch {
	case err == nil && !update:
		return logEntry{}, backend.ErrExists
	case err == nil && cur != revision:
		return logEntry{}, backend.ErrConflict
	case errors.Is(err, backend.ErrNotFound) && !update:
	case err != nil:
		return logEntry{}, err
	}
	return logEntry{kind: kindRecordPut, rev: newRevision(cur), key: key, data: data}, nil
}

// putRecordBlob is PutRecordBlob of a format 2 store: the blob's entry and
// the record's, appended together once the blob does not exist and the
// record's state is the expected one, and durable before it returns.
func (w *wal) putRecordBlob(ctx context.Context, key string, update bool, revision uint64, data []byte, blobKey string, blob []byte) (uint64, error) {
	st, err := w.prepareBlob(ctx, blobKey)
	if err != nil {
		return 0, err
	}
	var rev uint64
	g, end, err := w.append(ctx, true, func(dst []logEntry) ([]logEntry, error) {
		be, err := w.blobEntry(blobKey, blob, st)
		if err != nil {
			return nil, err
		}
		re, err := w.recordEntry(key, update, revision, data)
		if err != nil {
			return nil, err
		}
		rev = re.rev
		return append(dst, be, re), nil
	})
	if err != nil {
		return 0, err
	}
	if err := w.syncTo(g, end); err != nil {
		return 0, err
	}
	return rev, nil
}

// deleteRecord is DeleteRecord of a format 2 store.
func (w *wal) deleteRecord(ctx context.Context, key string, revision uint64) error {
	g, end, err := w.append(ctx, true, func(dst []logEntry) ([]logEntry, error) {
		cur, err := w.recordRevision(key)
		if err != nil {
			return nil, err
		}
		if cur != revision {
			return nil, backend.ErrConflict
		}
		return append(dst, logEntry{kind: kindRecordDelete, key: key}), nil
	})
	if err != nil {
		return err
	}
	return w.syncTo(g, end)
}

// putBlob is PutBlob of a format 2 store: an entry appended (with the blob
// deletions held), not synced; the next record write's fdatasync of the
// log covers it (a seal syncs a log before anything is appended to the
// next one). The blob's file is looked for before the append lock is taken
// (statBlob, blobExists).
func (w *wal) putBlob(ctx context.Context, key string, data []byte) error {
	st, err := w.prepareBlob(ctx, key)
	if err != nil {
		return err
	}
	_, _, err = w.append(ctx, false, func(dst []logEntry) ([]logEntry, error) {
		e, err := w.blobEntry(key, data, st)
		if err != nil {
			return nil, err
		}
		return append(dst, e), nil
	})
	return err
}

// prepareBlob is the part of a blob's write before the append lock: a
// deletion of the key held is appended first (the blob is put again), and
// the blob's file looked for (statBlob).
func (w *wal) prepareBlob(ctx context.Context, key string) (blobStat, error) {
	if w.deletionHeld(key) {
		if err := w.flushHeld(ctx); err != nil {
			return blobStat{}, err
		}
	}
	return w.statBlob(key)
}

// blobEntry returns the entry that puts data under key, or ErrExists if a
// blob is there (blobExists, with st from prepareBlob). The append lock is
// held and the index up to date.
func (w *wal) blobEntry(key string, data []byte, st blobStat) (logEntry, error) {
	ok, err := w.blobExists(key, st)
	if err != nil {
		return logEntry{}, err
	}
	if ok {
		return logEntry{}, backend.ErrExists
	}
	return logEntry{kind: kindBlobPut, key: key, data: data}, nil
}

// getBlob is GetBlob of a format 2 store.
func (w *wal) getBlob(ctx context.Context, key string) (data []byte, err error) {
	if w.deletionHeld(key) {
		return nil, backend.ErrNotFound
	}
	var from *logGen
	var upTo int64
	err = w.view(ctx, func() error {
		from = nil
		g, ref, ok := w.lookup(key, true)
		if !ok {
			data, err = w.b.readBlob(key)
			return err
		}
		from, upTo = g, ref.off+int64(ref.size)
		if ref.deleted {
			return backend.ErrNotFound
		}
		data, err = w.readData(g, ref)
		return err
	})
	if err := w.syncRead(from, upTo, err); err != nil {
		return nil, err
	}
	return data, nil
}

// deleteBlob is DeleteBlob of a format 2 store: the deletion is held, and
// appended by the Backend's next append (its next record write,
// or Close), without looking whether the blob exists: the entry of a
// deletion of a blob that does not exist changes nothing. Until then this
// Backend no longer finds the blob, and other Backends still do. It is
// not synced either: the engine deletes only blobs that no durable record
// refers to, so a deletion that a crash loses leaves an orphan, which a
// sweep removes, never a dangling reference. The checkpoint removes the
// blob's file.
func (w *wal) deleteBlob(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.heldMu.Lock()
	if !slices.Contains(w.held, key) {
		w.held = append(w.held, key)
	}
	full := len(w.held) >= maxHeldDeletions
	w.heldMu.Unlock()
	if full {
		return w.flushHeld(ctx)
	}
	return nil
}

// listRecords is ListRecords of a format 2 store: the names in records/
// merged with the index, then the newest content of each key returned. It
// syncs the current log before it returns, so that a caller never acts on
// a change another process appended and a crash could still undo.
func (w *wal) listRecords(ctx context.Context, prefix, after string, limit int) ([]backend.Record, error) {
	keep := func(k string) bool { return strings.HasPrefix(k, prefix) && k > after }
	var out []backend.Record
	var g *logGen
	var end int64
	err := w.view(ctx, func() error {
		keys, err := w.mergedKeys(false, keep)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if len(out) >= limit {
				break
			}
			lg, ref, ok := w.lookup(k, false)
			if !ok {
				r, err := w.b.readRecord(k)
				if errors.Is(err, backend.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				out = append(out, backend.Record{Key: k, Revision: r.rev, Data: r.data})
				continue
			}
			data, err := w.readData(lg, ref)
			if err != nil {
				return err
			}
			out = append(out, backend.Record{Key: k, Revision: ref.rev, Data: data})
		}
		g = w.current()
		end = g.end
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := w.syncTo(g, end); err != nil {
		return nil, err
	}
	return out, nil
}

// listBlobs is ListBlobs of a format 2 store.
func (w *wal) listBlobs(ctx context.Context, after string, limit int) ([]string, error) {
	// The deletions held are newer than anything in the logs. Those taken
	// first: one that an append writes meanwhile is then in the index.
	w.heldMu.Lock()
	held := slices.Clone(w.held)
	w.heldMu.Unlock()
	var keys []string
	err := w.view(ctx, func() error {
		var err error
		keys, err = w.mergedKeys(true, func(k string) bool { return k > after })
		return err
	})
	if err != nil {
		return nil, err
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return slices.Contains(held, k) })
	return keys[:min(limit, len(keys))], nil
}

// mergedKeys returns, sorted, the keys of the records (or blobs) that keep
// accepts: those with a file that the index does not say are deleted, and
// those the index has. w.mu is held.
func (w *wal) mergedKeys(blobs bool, keep func(string) bool) ([]string, error) {
	dir, suffix, magic, keyOffset := w.b.records, recordSuffix, recordMagic, recordKeyOffset
	if blobs {
		dir, suffix, magic, keyOffset = w.b.blobs, blobSuffix, blobMagic, blobKeyOffset
	}
	entries, err := w.b.listDir(dir, suffix, magic, keyOffset, keep)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{} // key → exists, for keys in the index
	for _, g := range w.gens {
		for k, ref := range g.index(blobs) {
			if keep(k) {
				seen[k] = !ref.deleted
			}
		}
	}
	var keys []string
	for _, e := range entries {
		if _, ok := seen[e.key]; !ok {
			keys = append(keys, e.key)
		}
	}
	for k, ok := range seen {
		if ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}
