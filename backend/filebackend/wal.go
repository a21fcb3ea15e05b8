package filebackend

import (
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

	"github.com/secretstore/secretstore/backend"
)

// defaultSealSize is the size past which a log is sealed and a new one
// started, so that the log an Open reads stays small; the sealed log is
// then checkpointed into record and blob files in the background.
const defaultSealSize = 4 << 20

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

	appendLock stripe // locks/wal.lock: held to append, seal or create a log
	ckptLock   stripe // locks/checkpoint.lock: held to checkpoint a log

	// mu guards gens and their indexes: readers hold it for reading,
	// appends and index updates for writing.
	mu   sync.RWMutex
	gens []*logGen // the live logs this Backend knows, oldest first; the last is current

	syncMu  sync.Mutex // guards the fields below and every logGen.synced
	syncC   sync.Cond
	syncing bool
	syncErr error // a failed fdatasync: every later write fails

	wrote atomic.Bool    // this Backend appended something
	bg    sync.WaitGroup // background checkpoints
}

// logGen is one log file and the index of what it holds.
type logGen struct {
	gen  uint64
	path string
	f    *os.File

	end     int64 // the valid entries parsed (or written) end here
	sealed  bool  // a seal entry was parsed (or it is known to have a successor)
	records map[string]logRef
	blobs   map[string]logRef

	written atomic.Int64 // end, readable without mu: what an fdatasync started now covers
	synced  int64        // guarded by wal.syncMu: known durable up to here
	syncing bool         // guarded by wal.syncMu: an fdatasync of f runs
	dropped bool         // guarded by wal.syncMu: checkpointed and out of the index
}

// logRef locates the newest entry of a key in a log.
type logRef struct {
	off     int64
	size    int32
	rev     uint64 // a record's revision
	deleted bool
}

func newLogGen(gen uint64, path string, f *os.File) *logGen {
	return &logGen{gen: gen, path: path, f: f, end: logHeaderSize, synced: logHeaderSize,
		records: map[string]logRef{}, blobs: map[string]logRef{}}
}

// openWAL opens the log of the store of b, creating the first log of a new
// store, and reads the live logs into the index.
func openWAL(b *Backend) (*wal, error) {
	w := &wal{b: b, dir: filepath.Join(b.dir, walName), sealSize: cmp.Or(b.cfg.sealSize, defaultSealSize)}
	w.syncC.L = &w.syncMu
	w.appendLock.sem = make(chan struct{}, 1)
	w.ckptLock.sem = make(chan struct{}, 1)
	b.cfg.note("opendir", w.dir)
	var err error
	if w.dirF, err = os.Open(w.dir); err != nil {
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	w.mu.Lock()
	err = w.loadLocked(context.Background())
	w.mu.Unlock()
	if err != nil {
		w.closeFiles()
		return nil, err
	}
	if len(w.gens) > 1 {
		// A crash or a Backend still at work left a sealed log:
		// checkpoint it, or wait for whoever is doing so.
		w.bg.Go(func() { _ = w.checkpointOlder() })
	}
	return w, nil
}

// loadLocked replaces the index by one of the logs now in wal/, creating
// the first log if there is none. w.mu is held.
func (w *wal) loadLocked(ctx context.Context) error {
	for _, g := range w.gens {
		w.drop(g)
	}
	w.gens = nil
	for {
		gens, err := w.listGens()
		if err != nil {
			return err
		}
		if len(gens) == 0 {
			if err := w.createFirst(ctx); err != nil {
				return err
			}
			continue
		}
		var opened []*logGen
		for _, gen := range gens {
			g, err := w.openGen(gen)
			if errors.Is(err, fs.ErrNotExist) {
				// Checkpointed since the listing: list again.
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
			if err := w.parse(g, false); err != nil {
				for _, g := range opened {
					_ = g.f.Close()
				}
				return err
			}
			if i < len(opened)-1 {
				g.sealed = true // it has a successor
			}
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
	return newLogGen(gen, path, f), nil
}

// createFirst creates the log of generation 1 unless a log exists.
func (w *wal) createFirst(ctx context.Context) error {
	unlock, err := w.b.lockStripe(ctx, &w.appendLock, appendLockName)
	if err != nil {
		return err
	}
	defer unlock()
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
	path := filepath.Join(w.dir, logName(gen))
	w.b.cfg.note("link", path)
	err = os.Link(tmp, path)
	_ = os.Remove(tmp)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("filebackend: %w", err)
	}
	w.b.cfg.note("dirsync", w.dir)
	if err := w.dirF.Sync(); err != nil {
		return fmt.Errorf("filebackend: %w", err)
	}
	return nil
}

// parse reads the entries of g past g.end into its index, stopping at the
// end of the file, at a seal, or at an entry cut short (being written by
// another process, or torn by a crash). Damage anywhere but in the last
// entry is corruption, reported with the file's name: a log is only ever
// appended to, so only its last entry can be incomplete. If truncate, the
// caller holds the append lock, so that nothing is being written, and an
// incomplete last entry is cut off the file.
func (w *wal) parse(g *logGen, truncate bool) error {
	fi, err := g.f.Stat()
	if err != nil {
		return fmt.Errorf("filebackend: %w", err)
	}
	size := fi.Size()
	if size < g.end {
		return &corruptError{path: g.path, reason: fmt.Sprintf("log shrank to %d bytes, %d were read", size, g.end)}
	}
	if size == g.end || g.sealed {
		return nil
	}
	buf := make([]byte, size-g.end)
	n, err := g.f.ReadAt(buf, g.end)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("filebackend: %w", err)
	}
	buf = buf[:n]
	off := 0
	for off < len(buf) {
		e, n, err := decodeEntry(buf[off:])
		if err != nil {
			if !errors.Is(err, errShortEntry) && !tornTail(buf[off:]) {
				return corrupt(g.path, fmt.Errorf("at offset %d: %w", g.end+int64(off), err))
			}
			if truncate {
				w.b.cfg.note("truncate", g.path)
				if err := g.f.Truncate(g.end + int64(off)); err != nil {
					return fmt.Errorf("filebackend: %w", err)
				}
			}
			break
		}
		g.apply(e, g.end+int64(off), n)
		off += n
		if e.kind == kindSeal {
			break
		}
	}
	g.end += int64(off)
	g.written.Store(g.end)
	return nil
}

// tornTail reports whether buf, the bytes of a log from an entry that does
// not decode to the end of the file, can be an append cut short: zeros (a
// file extended whose data never reached the disk), or one entry whose
// length reaches the end of the file.
func tornTail(buf []byte) bool {
	if !slices.ContainsFunc(buf, func(c byte) bool { return c != 0 }) {
		return true
	}
	if len(buf) < entryHeaderSize {
		return true
	}
	body := int64(buf[0])<<24 | int64(buf[1])<<16 | int64(buf[2])<<8 | int64(buf[3])
	return body >= entryFixedSize && body <= maxEntryBody && entryHeaderSize+body >= int64(len(buf))
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
	case kindBlobPut:
		g.blobs[e.key] = ref
	case kindBlobDelete:
		ref.deleted = true
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
func (w *wal) refreshLocked(truncate bool) error {
	for {
		cur := w.current()
		if err := w.parse(cur, truncate); err != nil {
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
			// The successor is checkpointed already, and so is all
			// this Backend knows: start again from the logs there are.
			if err := w.loadLocked(context.Background()); err != nil {
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
// checkpointed (so durable): at once, or when the fdatasync of it that
// runs, if any, ends. w.mu is held for writing, so no reader uses g.
func (w *wal) drop(g *logGen) {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	g.dropped = true
	if !g.syncing {
		_ = g.f.Close()
	}
}

// current returns the current log. w.mu is held.
func (w *wal) current() *logGen { return w.gens[len(w.gens)-1] }

// view runs fn with the index up to date and w.mu held for reading.
func (w *wal) view(fn func() error) error {
	w.mu.RLock()
	cur := w.current()
	if !cur.sealed {
		if fi, err := cur.f.Stat(); err == nil && fi.Size() == cur.end {
			defer w.mu.RUnlock()
			return fn()
		}
	}
	w.mu.RUnlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.refreshLocked(false); err != nil {
		return err
	}
	return fn()
}

// lookup returns the newest entry for key in the index (records or blobs).
// w.mu is held.
func (w *wal) lookup(key string, blobs bool) (*logGen, logRef, bool) {
	for i := len(w.gens) - 1; i >= 0; i-- {
		g := w.gens[i]
		idx := g.records
		if blobs {
			idx = g.blobs
		}
		if ref, ok := idx[key]; ok {
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

// blobExists reports whether a blob is stored under key. w.mu is held.
func (w *wal) blobExists(key string) (bool, error) {
	if _, ref, ok := w.lookup(key, true); ok {
		return !ref.deleted, nil
	}
	w.b.cfg.note("open", w.b.blobPath(key))
	_, err := os.Lstat(w.b.blobPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("filebackend: %w", err)
	}
	return true, nil
}

// append appends the entry that build returns to the current log, holding
// the append lock and with the index up to date, and returns the log and
// the offset its entry ends at. build returns an error to append nothing.
// The entry is readable when append returns, and not yet durable: see
// syncTo.
func (w *wal) append(ctx context.Context, build func() (logEntry, error)) (*logGen, int64, error) {
	unlock, err := w.b.lockStripe(ctx, &w.appendLock, appendLockName)
	if err != nil {
		return nil, 0, err
	}
	w.mu.Lock()
	g, end, seal, err := w.appendLocked(build)
	w.mu.Unlock()
	unlock()
	if err != nil {
		return nil, 0, err
	}
	if seal {
		// The entry is written; a log that cannot be sealed now is
		// sealed by a later append.
		_ = w.seal()
	}
	return g, end, nil
}

// appendLocked is append once the locks are held. It reports whether the
// current log is due to be sealed.
func (w *wal) appendLocked(build func() (logEntry, error)) (g *logGen, end int64, seal bool, err error) {
	if err := w.failed(); err != nil {
		return nil, 0, false, err
	}
	if err := w.refreshLocked(true); err != nil {
		return nil, 0, false, err
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
	e, err := build()
	if err != nil {
		return nil, 0, false, err
	}
	g = w.current()
	if err := w.write(g, e); err != nil {
		return nil, 0, false, err
	}
	w.wrote.Store(true)
	return g, g.end, g.end >= w.sealSize, nil
}

// write appends e to g, which is current, and indexes it. On failure it
// cuts the file back to where it was.
func (w *wal) write(g *logGen, e logEntry) error {
	buf := appendEntry(nil, e)
	w.b.cfg.note("append", g.path)
	if _, err := g.f.WriteAt(buf, g.end); err != nil {
		if terr := g.f.Truncate(g.end); terr != nil {
			// Garbage may follow the last entry: refuse to write
			// more until reopened, which cuts it off.
			w.fail(terr)
		}
		return fmt.Errorf("filebackend: %w", err)
	}
	g.apply(e, g.end, len(buf))
	g.end += int64(len(buf))
	g.written.Store(g.end)
	return nil
}

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
func (w *wal) syncTo(g *logGen, end int64) error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	for g.synced < end && !g.dropped {
		if w.syncErr != nil {
			return w.syncErr
		}
		if w.syncing {
			w.syncC.Wait()
			continue
		}
		w.syncing, g.syncing = true, true
		target := g.written.Load()
		w.syncMu.Unlock()
		w.b.cfg.note("sync", g.path)
		err := datasync(g.f)
		w.syncMu.Lock()
		w.syncing, g.syncing = false, false
		if g.dropped {
			_ = g.f.Close()
		}
		if err != nil {
			if w.syncErr == nil {
				w.syncErr = fmt.Errorf("filebackend: syncing the log failed, reopen the store: %w", err)
			}
		} else {
			g.synced = max(g.synced, target)
		}
		w.syncC.Broadcast()
	}
	return nil
}

// seal seals the current log and starts its successor, if the current log
// is due (or, with force, holds any entry), then checkpoints the sealed
// log in the background. The log before it must be checkpointed first: so
// at most two logs exist, and a Backend that learns of a log's successor's
// successor knows the log is checkpointed.
func (w *wal) seal() error {
	return w.sealIf(func(g *logGen) bool { return g.end >= w.sealSize }, true)
}

// sealIf is seal with the condition due and the choice to checkpoint the
// sealed log in the background (else the caller does).
func (w *wal) sealIf(due func(*logGen) bool, background bool) error {
	// The previous log must be gone before this one is sealed.
	if err := w.checkpointOlder(); err != nil {
		return err
	}
	unlock, err := w.b.lockStripe(context.Background(), &w.appendLock, appendLockName)
	if err != nil {
		return err
	}
	defer unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.refreshLocked(true); err != nil {
		return err
	}
	cur := w.current()
	if cur.sealed || !due(cur) {
		return nil
	}
	if len(w.gens) > 1 {
		// Another Backend sealed and we lost the race to checkpoint;
		// a later append retries.
		if _, err := os.Stat(w.gens[0].path); err == nil {
			return nil
		}
	}
	// Everything in the log becomes durable before anything appended to
	// the next one, which may refer to it, can be.
	if err := w.syncTo(cur, cur.end); err != nil {
		return err
	}
	if err := w.write(cur, logEntry{kind: kindSeal}); err != nil {
		return err
	}
	if err := w.createGen(cur.gen + 1); err != nil {
		return err
	}
	if err := w.refreshLocked(true); err != nil {
		return err
	}
	if background {
		w.bg.Go(func() { _ = w.checkpointOlder() })
	}
	return nil
}

// checkpointOlder checkpoints every log older than the newest in wal/, and
// returns once none is left, holding the checkpoint lock meanwhile: so it
// waits for a checkpoint another Backend is doing.
func (w *wal) checkpointOlder() error {
	unlock, err := w.b.lockStripe(context.Background(), &w.ckptLock, checkpointLockName)
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
	path := filepath.Join(w.dir, logName(gen))
	buf, err := w.b.readFile(path, 1<<40)
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := checkLogHeader(buf, gen); err != nil {
		return corrupt(path, err)
	}
	// The last entry of each key wins; order is kept for determinism.
	type change struct {
		e    logEntry
		blob bool
	}
	last := map[string]int{} // "r"+key or "b"+key → index in changes
	var changes []change
	for off := logHeaderSize; off < len(buf); {
		e, n, err := decodeEntry(buf[off:])
		if err != nil {
			if !errors.Is(err, errShortEntry) && !tornTail(buf[off:]) {
				return corrupt(path, fmt.Errorf("at offset %d: %w", off, err))
			}
			break
		}
		off += n
		if e.kind == kindSeal {
			break
		}
		blob := e.kind == kindBlobPut || e.kind == kindBlobDelete
		id := "r" + e.key
		if blob {
			id = "b" + e.key
		}
		if i, ok := last[id]; ok {
			changes[i].e.kind = 0 // superseded
		}
		last[id] = len(changes)
		changes = append(changes, change{e: e, blob: blob})
	}

	// Write and sync the new files, in parallel so that their flushes
	// share the file system's journal commits.
	type newFile struct {
		tmp, dst string
		f        *os.File
	}
	var files []newFile
	defer func() {
		for _, nf := range files {
			if nf.f != nil {
				_ = nf.f.Close()
			}
			if nf.tmp != "" {
				_ = os.Remove(nf.tmp)
			}
		}
	}()
	for _, c := range changes {
		var content []byte
		var dst string
		switch c.e.kind {
		case kindRecordPut:
			content, dst = encodeRecord(c.e.key, c.e.rev, c.e.data), w.b.recordPath(c.e.key)
		case kindBlobPut:
			content, dst = encodeBlob(c.e.key, c.e.data), w.b.blobPath(c.e.key)
		default:
			continue
		}
		tmp, f, err := w.b.createTemp(content)
		if err != nil {
			return err
		}
		files = append(files, newFile{tmp: tmp, dst: dst, f: f})
	}
	if err := syncAll(w.b, files, func(nf newFile) (string, *os.File) { return nf.tmp, nf.f }); err != nil {
		return err
	}
	for i := range files {
		files[i].f = nil // closed by syncAll
	}
	next := 0
	for _, c := range changes {
		var err error
		switch c.e.kind {
		case kindRecordPut, kindBlobPut:
			nf := &files[next]
			next++
			w.b.cfg.note("rename", nf.dst)
			if err = os.Rename(nf.tmp, nf.dst); err == nil {
				nf.tmp = ""
			}
		case kindRecordDelete:
			w.b.cfg.note("remove", w.b.recordPath(c.e.key))
			err = os.Remove(w.b.recordPath(c.e.key))
		case kindBlobDelete:
			w.b.cfg.note("remove", w.b.blobPath(c.e.key))
			err = os.Remove(w.b.blobPath(c.e.key))
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("filebackend: %w", err)
		}
	}
	for _, d := range []*os.File{w.b.recordsDir, w.b.blobsDir} {
		w.b.cfg.note("dirsync", d.Name())
		if err := d.Sync(); err != nil {
			return fmt.Errorf("filebackend: %w", err)
		}
	}
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

// syncParallelism bounds the fsyncs a checkpoint runs at once.
const syncParallelism = 16

// syncAll syncs and closes the file of every item, several at a time.
func syncAll[T any](b *Backend, items []T, file func(T) (string, *os.File)) error {
	sem := make(chan struct{}, syncParallelism)
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		path, f := file(it)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = b.syncClose(path, f)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// close waits for background checkpoints and, if this Backend wrote to the
// log, seals and checkpoints the current log, so that the next Open reads
// an empty log. Then it closes the files.
func (w *wal) close() error {
	w.bg.Wait()
	var err error
	if w.wrote.Load() {
		err = w.checkpointAll()
	}
	return errors.Join(err, w.closeFiles())
}

// checkpointAll seals the current log if it holds any entry, and
// checkpoints every sealed log.
func (w *wal) checkpointAll() error {
	if err := w.sealIf(func(g *logGen) bool { return g.end > logHeaderSize }, false); err != nil {
		return err
	}
	return w.checkpointOlder()
}

func (w *wal) closeFiles() error {
	errs := []error{w.dirF.Close()}
	for _, g := range w.gens {
		errs = append(errs, g.f.Close())
	}
	for _, s := range []*stripe{&w.appendLock, &w.ckptLock} {
		if s.f != nil {
			errs = append(errs, s.f.Close())
			s.f = nil
		}
	}
	return errors.Join(errs...)
}

// getRecord is GetRecord of a format 2 store.
func (w *wal) getRecord(key string, knownRevision uint64) (rec backend.Record, err error) {
	err = w.view(func() error {
		g, ref, ok := w.lookup(key, false)
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
	return rec, err
}

// putRecord is CreateRecord (update false) and UpdateRecord of a format 2
// store: an entry appended once the current state is the expected one, and
// durable before it returns.
func (w *wal) putRecord(ctx context.Context, key string, update bool, revision uint64, data []byte) (uint64, error) {
	var rev uint64
	g, end, err := w.append(ctx, func() (logEntry, error) {
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
		rev = newRevision(cur)
		return logEntry{kind: kindRecordPut, rev: rev, key: key, data: data}, nil
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
	g, end, err := w.append(ctx, func() (logEntry, error) {
		cur, err := w.recordRevision(key)
		if err != nil {
			return logEntry{}, err
		}
		if cur != revision {
			return logEntry{}, backend.ErrConflict
		}
		return logEntry{kind: kindRecordDelete, key: key}, nil
	})
	if err != nil {
		return err
	}
	return w.syncTo(g, end)
}

// putBlob is PutBlob of a format 2 store: an entry appended, not synced;
// the next record write's fdatasync of the log covers it (a seal syncs a
// log before anything is appended to the next one).
func (w *wal) putBlob(ctx context.Context, key string, data []byte) error {
	_, _, err := w.append(ctx, func() (logEntry, error) {
		ok, err := w.blobExists(key)
		if err != nil {
			return logEntry{}, err
		}
		if ok {
			return logEntry{}, backend.ErrExists
		}
		return logEntry{kind: kindBlobPut, key: key, data: data}, nil
	})
	return err
}

// getBlob is GetBlob of a format 2 store.
func (w *wal) getBlob(key string) (data []byte, err error) {
	err = w.view(func() error {
		g, ref, ok := w.lookup(key, true)
		if !ok {
			data, err = w.b.readBlob(key)
			return err
		}
		if ref.deleted {
			return backend.ErrNotFound
		}
		data, err = w.readData(g, ref)
		return err
	})
	return data, err
}

// deleteBlob is DeleteBlob of a format 2 store. A blob in a live log gets
// a deletion entry, which the checkpoint applies; one only in blobs/ loses
// its file at once. Neither is synced: the engine deletes only blobs that
// no durable record refers to, so a deletion a crash undoes leaves an
// orphan, never a dangling reference.
func (w *wal) deleteBlob(ctx context.Context, key string) error {
	errDone := errors.New("done")
	_, _, err := w.append(ctx, func() (logEntry, error) {
		if _, ref, ok := w.lookup(key, true); ok {
			if ref.deleted {
				return logEntry{}, errDone
			}
			return logEntry{kind: kindBlobDelete, key: key}, nil
		}
		w.b.cfg.note("remove", w.b.blobPath(key))
		err := os.Remove(w.b.blobPath(key))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return logEntry{}, fmt.Errorf("filebackend: %w", err)
		}
		return logEntry{}, errDone
	})
	if err == errDone {
		return nil
	}
	return err
}

// listRecords is ListRecords of a format 2 store: the names in records/
// merged with the index, then the newest content of each key returned. It
// syncs the current log before it returns, so that a caller never acts on
// a change another process appended and a crash could still undo.
func (w *wal) listRecords(prefix, after string, limit int) ([]backend.Record, error) {
	keep := func(k string) bool { return strings.HasPrefix(k, prefix) && k > after }
	var out []backend.Record
	var g *logGen
	var end int64
	err := w.view(func() error {
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
func (w *wal) listBlobs(after string, limit int) ([]string, error) {
	var keys []string
	err := w.view(func() error {
		var err error
		keys, err = w.mergedKeys(true, func(k string) bool { return k > after })
		return err
	})
	if err != nil {
		return nil, err
	}
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
		idx := g.records
		if blobs {
			idx = g.blobs
		}
		for k, ref := range idx {
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
