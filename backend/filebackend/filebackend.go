package filebackend

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/secretstore/secretstore/backend"
)

var (
	_ backend.Backend          = (*Backend)(nil)
	_ backend.RecordBlobPutter = (*Backend)(nil)
)

// ErrCorrupt reports a file of the store whose content is damaged: a bad
// checksum, a bad length, a truncation, or a header naming another key. The
// error that wraps it names the file. The backend never returns data from a
// corrupt file.
var ErrCorrupt = errors.New("filebackend: corrupt file")

// corruptError is a corrupt file at path. It wraps ErrCorrupt.
type corruptError struct {
	path   string
	reason string
}

func (e *corruptError) Error() string {
	return "filebackend: corrupt file " + e.path + ": " + e.reason
}

func (e *corruptError) Unwrap() error { return ErrCorrupt }

func corrupt(path string, err error) error {
	return &corruptError{path: path, reason: err.Error()}
}

const (
	dirMode  fs.FileMode = 0o700
	fileMode fs.FileMode = 0o600

	// staleTmpAge is the age after which Open removes a temp file: older
	// than any write in progress, which takes milliseconds.
	staleTmpAge = 10 * time.Minute
)

// An Option configures Open. There are no options yet; the type exists so
// that options can be added without changing Open's signature.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	// fileHook, if not nil, is called before every file system access
	// that the backend makes by path, with the operation ("open",
	// "readdir", "opendir", "create", "sync", "rename", "link", "remove",
	// "dirsync"; in a log: "append", "zero", "truncate"; in a checkpoint:
	// "write", and "flush" once its files are flushed) and the path. Tests
	// use it.
	fileHook func(op, path string)

	// version is the format version of a store Open creates; 0 means the
	// newest. Tests create stores of version 1 with it.
	version int

	// sealSize, if not 0, replaces defaultSealSize. Tests make it small,
	// so that logs are sealed and checkpointed often.
	sealSize int64

	// logSync, if not nil, flushes a log instead of datasync. Tests make
	// it fail.
	logSync func(*os.File) error
}

// withLogSync sets config.logSync.
func withLogSync(fn func(*os.File) error) Option {
	return optionFunc(func(c *config) { c.logSync = fn })
}

// withFormatVersion sets config.version.
func withFormatVersion(v int) Option {
	return optionFunc(func(c *config) { c.version = v })
}

// newVersion returns the format version of a store Open creates.
func (c *config) newVersion() int {
	if c.version != 0 {
		return c.version
	}
	return 2
}

// withFileHook sets config.fileHook.
func withFileHook(h func(op, path string)) Option {
	return optionFunc(func(c *config) { c.fileHook = h })
}

func (c *config) note(op, path string) {
	if c.fileHook != nil {
		c.fileHook(op, path)
	}
}

// Backend is a [backend.Backend] over a directory. It is safe for
// concurrent use, and several Backends, in one process or in several, may
// share one directory. The zero value is not usable; call [Open].
type Backend struct {
	dir, records, blobs, locks, tmp string // absolute paths
	cfg                             config

	// wal is the write-ahead log of a store of format version 2; nil for
	// a store of version 1, whose writes replace files.
	wal *wal

	mu     sync.RWMutex // held for reading by every call, for writing by Close
	closed bool

	// recordsDir and blobsDir are kept open to fsync the directories;
	// recordsSync shares the fsyncs of records/ among concurrent writers,
	// and blobSync flushes the blobs written since the last record write,
	// with blobs/, in shared rounds.
	recordsDir, blobsDir *os.File
	recordsSync          dirSyncer
	blobSync             blobSyncer
	temps                tempPool
	stripes              [stripeCount]stripe

	// hashedKeys caches the key of each hashed file name ("~...") read
	// during listing. The name of a key never changes, so entries never go
	// stale.
	hashedKeys sync.Map // string → string
}

// stripe is a record lock stripe. A writer holds sem, which serializes the
// goroutines of this Backend, and then an flock on f, which serializes
// Backends and processes.
type stripe struct {
	sem chan struct{}
	f   *os.File // opened on first use, while holding sem; closed by Close
}

// Open opens the store in the directory dir, creating the directory (mode
// 0700) and an empty store in it if it does not exist or is empty. It fails
// if dir holds a store of another format version, or is not empty and holds
// no store. Open reads no record or blob: its cost does not grow with the
// number of secrets.
//
// Open removes temp files left in dir/tmp more than 10 minutes ago by a
// crashed writer. Recent temp files may belong to a writer in another
// process and are left alone.
func Open(dir string, opts ...Option) (*Backend, error) {
	if !lockSupported {
		return nil, fmt.Errorf("filebackend: %w on %s: needs flock, available on unix systems", errors.ErrUnsupported, runtime.GOOS)
	}
	var cfg config
	for _, o := range opts {
		o.apply(&cfg)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	b := &Backend{
		dir:     abs,
		records: filepath.Join(abs, recordsName),
		blobs:   filepath.Join(abs, blobsName),
		locks:   filepath.Join(abs, locksName),
		tmp:     filepath.Join(abs, tmpName),
		cfg:     cfg,
	}
	for i := range b.stripes {
		b.stripes[i].sem = make(chan struct{}, 1)
	}
	version, err := b.init()
	if err != nil {
		return nil, err
	}
	b.cfg.note("opendir", b.records)
	if b.recordsDir, err = os.Open(b.records); err != nil {
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	b.cfg.note("opendir", b.blobs)
	if b.blobsDir, err = os.Open(b.blobs); err != nil {
		_ = b.recordsDir.Close()
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	b.recordsSync.init(b.recordsDir)
	b.blobSync.init(b.blobsDir, b.blobs, b.cfg.note)
	if version == 1 {
		// Every record write of version 1 takes a temp file; version 2
		// takes one per seal.
		b.temps.start(b.newTemp)
	}
	b.removeStaleTemps()
	if version == 2 {
		if b.wal, err = openWAL(b); err != nil {
			b.temps.close()
			_ = b.recordsDir.Close()
			_ = b.blobsDir.Close()
			return nil, err
		}
	}
	return b, nil
}

// dirSyncer fsyncs a directory for many goroutines at once (group commit).
// A caller returns only after an fsync that started after it called, so
// whatever it renamed or linked into the directory before calling is
// durable; callers that arrive while an fsync runs share the next one,
// which is what lets concurrent writers scale beyond one fsync each.
type dirSyncer struct {
	d        interface{ Sync() error } // the open directory (a fake in tests)
	mu       sync.Mutex
	cond     sync.Cond
	running  bool
	started  uint64           // fsyncs started so far; they run one at a time
	finished uint64           // fsyncs finished so far
	failed   map[uint64]error // the error of each fsync that failed
}

func (s *dirSyncer) init(d interface{ Sync() error }) {
	s.d = d
	s.cond.L = &s.mu
}

// sync returns once an fsync of the directory that started after the call
// has finished, with that fsync's error.
func (s *dirSyncer) sync() error {
	if err := s.syncRaw(); err != nil {
		return fmt.Errorf("filebackend: %w", err)
	}
	return nil
}

// syncRaw is sync with the error of the fsync unwrapped.
func (s *dirSyncer) syncRaw() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The fsync running now, if any, may have started before the caller's
	// change: wait for the next one.
	target := s.started + 1
	for s.finished < target {
		if s.running {
			s.cond.Wait()
			continue
		}
		s.running = true
		s.started++
		n := s.started
		s.mu.Unlock()
		err := s.d.Sync()
		s.mu.Lock()
		s.running = false
		s.finished = n
		if err != nil {
			if s.failed == nil {
				s.failed = map[uint64]error{}
			}
			s.failed[n] = err
		}
		s.cond.Broadcast()
	}
	return s.failed[target]
}

// init checks the store's FORMAT file, or creates a store of the newest
// format version if the directory is missing, empty, or holds only an
// unfinished store (one whose creator crashed before it wrote FORMAT). It
// returns the store's format version.
func (b *Backend) init() (int, error) {
	formatPath := filepath.Join(b.dir, formatName)
	for {
		data, err := b.readFormat(formatPath)
		if err == nil {
			version, err := checkFormat(formatPath, data)
			if err != nil {
				return 0, err
			}
			// A complete store has records/ and blobs/ (and wal/ from
			// version 2): one that lost any is damaged and must not be
			// served as empty (a Sweep would then delete every blob).
			// tmp/ and locks/ hold nothing durable and are recreated.
			durable := []string{b.records, b.blobs}
			if version == 2 {
				durable = append(durable, filepath.Join(b.dir, walName))
			}
			for _, d := range durable {
				if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
					return 0, &corruptError{path: d, reason: "missing directory of a complete store"}
				}
			}
			if err := b.makeSubdirs(version); err != nil {
				return 0, err
			}
			// The process that created the store may have died between
			// writing FORMAT and syncing the directory: sync it before
			// acknowledging anything written into this store.
			return version, syncDir(b.dir)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return 0, err
		}
		fi, err := os.Stat(b.dir)
		if errors.Is(err, fs.ErrNotExist) {
			// Sync the parent too, so that a power loss cannot take the
			// new directory and the writes that go into it.
			err = mkdirAllSync(b.dir)
		}
		if err != nil {
			return 0, fmt.Errorf("filebackend: %w", err)
		}
		if fi != nil && !fi.IsDir() {
			return 0, fmt.Errorf("filebackend: %s is not a directory", b.dir)
		}
		if fi != nil {
			err := b.checkUnfinished()
			if errors.Is(err, errFormatAppeared) {
				continue // another process just finished creating the store
			}
			if err != nil {
				return 0, err
			}
		}
		break
	}
	version := b.cfg.newVersion()
	if err := os.Chmod(b.dir, dirMode); err != nil {
		return 0, fmt.Errorf("filebackend: %w", err)
	}
	if err := b.makeSubdirs(version); err != nil {
		return 0, err
	}
	// FORMAT comes last and atomically (link of a complete temp file), so
	// that its presence means the store is complete. Another process may
	// be creating the store at the same time: if its FORMAT won the link,
	// check it.
	text := formatText2
	if version == 1 {
		text = formatText1
	}
	err := b.linkTemp([]byte(text), formatPath)
	if errors.Is(err, fs.ErrExist) {
		data, err := b.readFormat(formatPath)
		if err != nil {
			return 0, err
		}
		version, err := checkFormat(formatPath, data)
		if err != nil {
			return 0, err
		}
		return version, b.makeSubdirs(version)
	}
	if err != nil {
		return 0, err
	}
	return version, syncDir(b.dir)
}

// mkdirAllSync creates dir and any missing ancestors (mode 0700), syncing
// the parent of each directory it creates, so that a power loss cannot take
// a new directory and what is later written into it.
func mkdirAllSync(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAllSync(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

// readFormat reads the FORMAT file at path, at most maxFormatSize bytes.
func (b *Backend) readFormat(path string) ([]byte, error) {
	b.cfg.note("open", path)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFormatSize+1))
	if err != nil {
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	if len(data) > maxFormatSize {
		return nil, &corruptError{path: path, reason: "file too large"}
	}
	return data, nil
}

// errFormatAppeared reports that FORMAT was created while Open looked.
var errFormatAppeared = errors.New("filebackend: FORMAT appeared")

// checkUnfinished checks that the existing directory b.dir, which has no
// FORMAT file, holds nothing but an empty, unfinished store: the
// subdirectories of the layout, with no record and no blob.
func (b *Backend) checkUnfinished() error {
	b.cfg.note("readdir", b.dir)
	names, err := readDirNames(b.dir)
	if err != nil {
		return fmt.Errorf("filebackend: %w", err)
	}
	if slices.Contains(names, formatName) {
		return errFormatAppeared
	}
	for _, name := range names {
		switch name {
		case locksName, tmpName:
			continue
		case recordsName, blobsName, walName:
			sub := filepath.Join(b.dir, name)
			b.cfg.note("readdir", sub)
			entries, err := readDirNames(sub)
			if errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0) {
				continue
			}
			if err == nil {
				// A store being created by another process may have
				// written a record meanwhile: look for FORMAT again.
				if _, serr := os.Stat(filepath.Join(b.dir, formatName)); serr == nil {
					return errFormatAppeared
				}
			}
		}
		return fmt.Errorf("filebackend: %s is not a store: it is not empty and has no %s file", b.dir, formatName)
	}
	return nil
}

// makeSubdirs creates the subdirectories of the layout of format version
// that do not exist.
func (b *Backend) makeSubdirs(version int) error {
	made := false
	dirs := []string{b.tmp, b.locks, b.records, b.blobs}
	if version == 2 {
		dirs = append(dirs, filepath.Join(b.dir, walName))
	}
	for _, d := range dirs {
		err := os.Mkdir(d, dirMode)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err == nil {
			made = true
			err = os.Chmod(d, dirMode)
		}
		if err != nil {
			return fmt.Errorf("filebackend: %w", err)
		}
	}
	if made {
		return syncDir(b.dir)
	}
	return nil
}

// removeStaleTemps removes the temp files older than staleTmpAge. It is
// best effort: another process may remove them at the same time.
func (b *Backend) removeStaleTemps() {
	b.cfg.note("readdir", b.tmp)
	names, err := readDirNames(b.tmp)
	if err != nil {
		return
	}
	cutoff := time.Now().Add(-staleTmpAge)
	for _, name := range names {
		p := filepath.Join(b.tmp, name)
		if fi, err := os.Lstat(p); err == nil && fi.ModTime().Before(cutoff) {
			_ = os.Remove(p)
		}
	}
}

// spareFilePrefix starts the names of the spare files in tmp/: files of
// deleted blobs that a checkpoint kept for a later one to take over (see
// wal.checkpoint), rather than removing them and later creating others.
const spareFilePrefix = "spare-"

// maxSpares bounds the spare files kept in tmp/.
const maxSpares = 512

// keepSpare moves the file at path, of a deleted blob, to tmp/ as a spare
// file. A missing file is fs.ErrNotExist.
func (b *Backend) keepSpare(dirs *openDirs, path string) error {
	var r [8]byte
	_, _ = rand.Read(r[:])
	dst := filepath.Join(b.tmp, spareFilePrefix+hex.EncodeToString(r[:]))
	b.cfg.note("rename", dst)
	if err := renameAt(dirs, path, dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return fmt.Errorf("filebackend: %w", err)
	}
	return nil
}

// openDirs are directories of a store, open, for renameAt and openAt.
type openDirs struct {
	paths []string
	files []*os.File
}

// openDirs opens records/, blobs/ and tmp/ for a checkpoint: the first two
// are open already, tmp/ is opened, and closed by close.
func (b *Backend) openDirs() (*openDirs, error) {
	tmp, err := os.Open(b.tmp)
	if err != nil {
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	return &openDirs{
		paths: []string{b.records, b.blobs, b.tmp},
		files: []*os.File{b.recordsDir, b.blobsDir, tmp},
	}, nil
}

// at returns the open directory that holds the file at path and its name
// in it, or nil if path is in none of d's directories.
func (d *openDirs) at(path string) (*os.File, string) {
	dir, name := filepath.Split(path)
	dir = strings.TrimSuffix(dir, string(filepath.Separator))
	for i, p := range d.paths {
		if p == dir {
			return d.files[i], name
		}
	}
	return nil, ""
}

// tmp returns tmp/, open.
func (d *openDirs) tmp() *os.File { return d.files[2] }

// close closes the directories openDirs opened.
func (d *openDirs) close() { _ = d.tmp().Close() }

// spares returns the paths of the spare files in tmp/.
func (d *openDirs) spares() ([]string, error) {
	names, err := d.tmp().Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	var paths []string
	for _, name := range names {
		if strings.HasPrefix(name, spareFilePrefix) {
			paths = append(paths, filepath.Join(d.paths[2], name))
		}
	}
	return paths, nil
}

// Dir returns the absolute path of the store's directory.
func (b *Backend) Dir() string { return b.dir }

// begin starts a call: it returns ErrClosed after Close, else holds off
// Close until the returned function is called.
func (b *Backend) begin() (end func(), err error) {
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return nil, backend.ErrClosed
	}
	return b.mu.RUnlock, nil
}

// Close implements [backend.Backend.Close]. It waits for calls in progress,
// then closes the lock files, releasing any lock. Calling it again returns
// nil.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	if b.wal != nil {
		errs = append(errs, b.wal.close())
	}
	// Blobs still pending are ones no record refers to yet; flush them
	// anyway, as PutBlob promises they will be.
	errs = append(errs, b.blobSync.sync(), b.blobSync.close())
	b.temps.close()
	for i := range b.stripes {
		if f := b.stripes[i].f; f != nil {
			errs = append(errs, f.Close())
			b.stripes[i].f = nil
		}
	}
	errs = append(errs, b.recordsDir.Close(), b.blobsDir.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("filebackend: %w", err)
	}
	return nil
}

// checkWrite checks the bounds of a key and the data to store under it.
// Keys are not otherwise restricted: any bytes can be encoded in a name.
func checkWrite(key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(data) > maxDataLen {
		return fmt.Errorf("filebackend: data of %d bytes exceeds the limit of %d", len(data), maxDataLen)
	}
	return nil
}

func checkKey(key string) error {
	if len(key) < 1 || len(key) > maxKeyLen {
		return fmt.Errorf("filebackend: key of %d bytes, want 1 to %d", len(key), maxKeyLen)
	}
	return nil
}

func (b *Backend) recordPath(key string) string {
	return filepath.Join(b.records, fileStem(key)+recordSuffix)
}

func (b *Backend) blobPath(key string) string {
	return filepath.Join(b.blobs, fileStem(key)+blobSuffix)
}

// keyPath returns the path of the file of the blob (if blob) or record
// under key.
func (b *Backend) keyPath(key string, blob bool) string {
	if blob {
		return b.blobPath(key)
	}
	return b.recordPath(key)
}

// readFile reads the whole regular file at path, of at most maxSize bytes.
// A missing file is backend.ErrNotFound.
func (b *Backend) readFile(path string, maxSize int64) ([]byte, error) {
	b.cfg.note("open", path)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, backend.ErrNotFound
		}
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, &corruptError{path: path, reason: "not a regular file"}
	}
	if fi.Size() > maxSize {
		return nil, &corruptError{path: path, reason: fmt.Sprintf("file of %d bytes exceeds the limit of %d", fi.Size(), maxSize)}
	}
	buf := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &corruptError{path: path, reason: "file shrank while read"}
		}
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	return buf, nil
}

// readRecord reads and checks the record file of key.
func (b *Backend) readRecord(key string) (fileRecord, error) {
	path := b.recordPath(key)
	buf, err := b.readFile(path, maxRecordFileSize)
	if err != nil {
		return fileRecord{}, err
	}
	r, err := decodeRecord(buf)
	if err != nil {
		return fileRecord{}, corrupt(path, err)
	}
	if r.key != key {
		return fileRecord{}, &corruptError{path: path, reason: "header names another key"}
	}
	return r, nil
}

// linkTemp writes content to a synced temp file and links it to path (see
// link).
func (b *Backend) linkTemp(content []byte, path string) error {
	tmp, err := b.writeTemp(content)
	if err != nil {
		return err
	}
	return b.link(tmp, path)
}

// link links the temp file tmp to path, which must not exist: link(2)
// fails if it does (an error that wraps fs.ErrExist), in this process or
// another, so that of two writers of one path exactly one succeeds. tmp is
// removed either way.
func (b *Backend) link(tmp, path string) error {
	b.cfg.note("link", path)
	err := os.Link(tmp, path)
	_ = os.Remove(tmp)
	if err != nil {
		return fmt.Errorf("filebackend: %w", err)
	}
	return nil
}

// writeTemp writes data to a new file in the tmp directory, with mode 0600
// whatever the umask, and syncs it. It returns the file's path.
func (b *Backend) writeTemp(data []byte) (path string, err error) {
	path, f, err := b.createTemp(data)
	if err != nil {
		return "", err
	}
	if err := b.syncClose(path, f); err != nil {
		_ = os.Remove(path)
		return "", err
	}
	return path, nil
}

// syncClose syncs and closes f, the file at path.
func (b *Backend) syncClose(path string, f *os.File) error {
	b.cfg.note("sync", path)
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("filebackend: %w", err)
	}
	return nil
}

// createTemp writes data to a new file in the tmp directory, with mode 0600
// whatever the umask, without syncing it. It returns the file's path and
// the file, still open.
func (b *Backend) createTemp(data []byte) (path string, f *os.File, err error) {
	t, ok := b.temps.get()
	if !ok {
		if t, err = b.newTemp(); err != nil {
			return "", nil, err
		}
	}
	if _, err := t.f.Write(data); err != nil {
		_ = t.f.Close()
		_ = os.Remove(t.path)
		return "", nil, fmt.Errorf("filebackend: %w", err)
	}
	return t.path, t.f, nil
}

// newTemp creates an empty file in the tmp directory, with mode 0600
// whatever the umask.
func (b *Backend) newTemp() (tempFile, error) {
	var path string
	var f *os.File
	var err error
	for range 10 {
		var r [12]byte
		_, _ = rand.Read(r[:])
		path = filepath.Join(b.tmp, hex.EncodeToString(r[:])+tmpSuffix)
		b.cfg.note("create", path)
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return tempFile{}, fmt.Errorf("filebackend: %w", err)
	}
	if err := f.Chmod(fileMode); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return tempFile{}, fmt.Errorf("filebackend: %w", err)
	}
	return tempFile{path: path, f: f}, nil
}

// syncDir fsyncs the directory at path.
func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("filebackend: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("filebackend: %w", err)
	}
	return nil
}

// newRevision returns a random revision that is neither 0 nor not. Random
// 64-bit revisions are unique for every practical purpose without shared
// state, across processes and across deletion and recreation of a key.
func newRevision(not uint64) uint64 {
	var r [8]byte
	for {
		_, _ = rand.Read(r[:]) // never fails
		if rev := binary.BigEndian.Uint64(r[:]); rev != 0 && rev != not {
			return rev
		}
	}
}

// lockRecord takes the stripe lock of key, in this process and across
// processes, and returns the function that releases it. While another
// holder has the lock it waits, until ctx is done, in which case it returns
// ctx.Err() and holds nothing.
func (b *Backend) lockRecord(ctx context.Context, key string) (unlock func(), err error) {
	return b.lockStripe(ctx, &b.stripes[stripeOf(key)], lockFileName(stripeOf(key)))
}

// lockStripe takes the lock s, whose lock file is locks/name: s.sem in this
// Backend, then an exclusive flock on the file across Backends and
// processes. It returns the function that releases both. While another
// holder has the lock it waits, until ctx is done, in which case it returns
// ctx.Err() and holds nothing.
func (b *Backend) lockStripe(ctx context.Context, s *stripe, name string) (unlock func(), err error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	path := filepath.Join(b.locks, name)
	for {
		if s.f == nil {
			b.cfg.note("open", path)
			f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, fileMode)
			if err == nil {
				if err = f.Chmod(fileMode); err != nil {
					_ = f.Close()
				}
			}
			if err != nil {
				s.release()
				return nil, fmt.Errorf("filebackend: %w", err)
			}
			s.f = f
		}
		if err := s.flock(ctx); err != nil {
			s.release()
			return nil, err
		}
		// A lock on a file that is no longer at its path (locks/ cleaned
		// by hand) would not exclude processes that open the path now:
		// take the lock on the file that is there.
		held, herr := s.f.Stat()
		now, nerr := os.Stat(path)
		if herr == nil && nerr == nil && os.SameFile(held, now) {
			break
		}
		if err := cmp.Or(herr, nerr); !errors.Is(err, fs.ErrNotExist) {
			s.unlock()
			return nil, fmt.Errorf("filebackend: %w", err)
		}
		_ = unlockFile(s.f)
		_ = s.f.Close()
		s.f = nil
		if errors.Is(nerr, fs.ErrNotExist) {
			if err := os.MkdirAll(b.locks, dirMode); err != nil {
				s.release()
				return nil, fmt.Errorf("filebackend: %w", err)
			}
		}
	}
	return s.unlock, nil
}

// acquire takes s.sem, the part of s that serializes the goroutines of a
// Backend, waiting until ctx is done.
func (s *stripe) acquire(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release releases s.sem.
func (s *stripe) release() { <-s.sem }

// flock takes the exclusive flock of s.f, whose s.sem the caller holds,
// waiting until ctx is done; it returns ctx.Err() unwrapped if ctx ended
// the wait.
func (s *stripe) flock(ctx context.Context) error {
	err := lockFile(ctx, s.f)
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		return err
	}
	return fmt.Errorf("filebackend: %w", err)
}

// unlock releases the flock of s.f and then s.sem. An unlock that fails
// leaves the flock held until Close; the next lock of this Backend takes
// it again regardless, since flock on an already locked description
// succeeds.
func (s *stripe) unlock() {
	_ = unlockFile(s.f)
	s.release()
}

// GetRecord implements [backend.Backend.GetRecord]. It takes no lock and
// syncs nothing: it reads the record's file, which writers replace
// atomically, and checks its checksum. When knownRevision is current the
// Record has a nil Data.
func (b *Backend) GetRecord(ctx context.Context, key string, knownRevision uint64) (backend.Record, error) {
	if err := ctx.Err(); err != nil {
		return backend.Record{}, err
	}
	end, err := b.begin()
	if err != nil {
		return backend.Record{}, err
	}
	defer end()
	if err := checkKey(key); err != nil {
		return backend.Record{}, err
	}
	if b.wal != nil {
		return b.wal.getRecord(ctx, key, knownRevision)
	}
	r, err := b.readRecord(key)
	if err != nil {
		return backend.Record{}, err
	}
	if knownRevision != 0 && knownRevision == r.rev {
		return backend.Record{Key: key, Revision: r.rev}, nil
	}
	return backend.Record{Key: key, Revision: r.rev, Data: r.data}, nil
}

// CreateRecord implements [backend.Backend.CreateRecord].
func (b *Backend) CreateRecord(ctx context.Context, key string, data []byte) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return b.putRecord(ctx, key, false, 0, data)
}

// UpdateRecord implements [backend.Backend.UpdateRecord].
func (b *Backend) UpdateRecord(ctx context.Context, key string, revision uint64, data []byte) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return b.putRecord(ctx, key, true, revision, data)
}

// putRecord writes data under key if the record's current state is the
// expected one: absent if !update, else at revision. The new content is
// written to a temp file first, outside the lock, and synced together with
// the blobs written before the call (blobSync), in one flush; the critical
// section is to read the current revision, compare, rename the temp file
// into place and sync the directory. Nothing is renamed before those blobs
// are durable, so a record never outlives a blob it refers to.
func (b *Backend) putRecord(ctx context.Context, key string, update bool, revision uint64, data []byte) (uint64, error) {
	end, err := b.begin()
	if err != nil {
		return 0, err
	}
	defer end()
	if err := checkWrite(key, data); err != nil {
		return 0, err
	}
	if b.wal != nil {
		return b.wal.putRecord(ctx, key, update, revision, data)
	}
	rev := newRevision(0)
	tmp, err := b.writeTempWithBlobs(encodeRecord(key, rev, data))
	if err != nil {
		return 0, err
	}
	defer func() {
		if tmp != "" { // not renamed into place
			_ = os.Remove(tmp)
		}
	}()

	unlock, err := b.lockRecord(ctx, key)
	if err != nil {
		return 0, err
	}
	defer unlock()
	cur, err := b.readRecord(key)
	switch {
	case err == nil && !update:
		return 0, backend.ErrExists
	case err == nil && cur.rev != revision:
		return 0, backend.ErrConflict
	case errors.Is(err, backend.ErrNotFound) && !update:
	case err != nil:
		return 0, err
	}
	if rev == cur.rev {
		// A new revision must differ from the one it replaces (a 2^-64
		// chance): write the temp file again under another.
		_ = os.Remove(tmp)
		rev = newRevision(cur.rev)
		if tmp, err = b.writeTemp(encodeRecord(key, rev, data)); err != nil {
			return 0, err
		}
	}
	b.cfg.note("rename", b.recordPath(key))
	if err := os.Rename(tmp, b.recordPath(key)); err != nil {
		return 0, fmt.Errorf("filebackend: %w", err)
	}
	tmp = ""
	b.cfg.note("dirsync", b.records)
	if err := b.recordsSync.sync(); err != nil {
		return 0, err
	}
	return rev, nil
}

// writeTempWithBlobs is writeTemp that also makes durable every blob handed
// to blobSync before the call, syncing the temp file and the blobs at once
// so that they share one flush of the file system.
func (b *Backend) writeTempWithBlobs(data []byte) (string, error) {
	if !b.blobSync.needed() {
		return b.writeTemp(data)
	}
	path, f, err := b.createTemp(data)
	if err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- b.syncBlobs() }()
	err = b.syncClose(path, f)
	if berr := <-done; err == nil {
		err = berr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", err
	}
	return path, nil
}

// syncBlobs makes durable every blob written before the call.
func (b *Backend) syncBlobs() error {
	if err := b.blobSync.sync(); err != nil {
		return fmt.Errorf("filebackend: %w", err)
	}
	return nil
}

// PutRecordBlob implements [backend.RecordBlobPutter]: in a store of
// format 2 the blob's entry and the record's are appended to the log in one
// write and made durable by one fdatasync. In a store of format 1 it is
// PutBlob then the record write ([backend.PutRecordBlobInTurn]).
func (b *Backend) PutRecordBlob(ctx context.Context, key string, revision uint64, data []byte, blobKey string, blob []byte) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if b.wal != nil {
		end, err := b.begin()
		if err != nil {
			return 0, err
		}
		defer end()
		if err := checkWrite(key, data); err != nil {
			return 0, err
		}
		if err := checkWrite(blobKey, blob); err != nil {
			return 0, err
		}
		return b.wal.putRecordBlob(ctx, key, revision != 0, revision, data, blobKey, blob)
	}
	if err := checkWrite(key, data); err != nil {
		return 0, err
	}
	return backend.PutRecordBlobInTurn(ctx, b, key, revision, data, blobKey, blob)
}

// DeleteRecord implements [backend.Backend.DeleteRecord].
func (b *Backend) DeleteRecord(ctx context.Context, key string, revision uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	end, err := b.begin()
	if err != nil {
		return err
	}
	defer end()
	if err := checkKey(key); err != nil {
		return err
	}
	if b.wal != nil {
		return b.wal.deleteRecord(ctx, key, revision)
	}
	unlock, err := b.lockRecord(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := b.readRecord(key)
	if err != nil {
		return err
	}
	if cur.rev != revision {
		return backend.ErrConflict
	}
	b.cfg.note("remove", b.recordPath(key))
	if err := os.Remove(b.recordPath(key)); err != nil {
		return fmt.Errorf("filebackend: %w", err)
	}
	b.cfg.note("dirsync", b.records)
	return b.recordsSync.sync()
}

// PutBlob implements [backend.Backend.PutBlob]. It writes a temp file and
// links it under the blob's name, which fails if that name exists, in this
// process or another, so that the blob appears whole or not at all. It
// leaves the flush to the next record write of the Backend, which syncs
// the blob's file and the directory before it writes the record, in the
// same flush as the record's own file (see blobSyncer): until then nothing
// refers to the blob, and a crash that loses it leaves nothing dangling.
// Blobs with hashed names (keys over 125 bytes), whose keys a listing reads
// from the file, are synced before they are linked and flushed before
// PutBlob returns, so that no power loss can leave one torn under its name.
func (b *Backend) PutBlob(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	end, err := b.begin()
	if err != nil {
		return err
	}
	defer end()
	if err := checkWrite(key, data); err != nil {
		return err
	}
	if b.wal != nil {
		return b.wal.putBlob(ctx, key, data)
	}
	path := b.blobPath(key)
	if strings.HasPrefix(fileStem(key), hashedNamePrefix) {
		return b.putHashedBlob(path, encodeBlob(key, data))
	}
	tmp, f, err := b.createTemp(encodeBlob(key, data))
	if err != nil {
		return err
	}
	// Of two writers of one key, exactly one links.
	if err := b.link(tmp, path); err != nil {
		_ = f.Close()
		if errors.Is(err, fs.ErrExist) {
			return backend.ErrExists
		}
		return err
	}
	if b.blobSync.add(f, path) {
		return b.syncBlobs()
	}
	return nil
}

// putHashedBlob writes the blob file at path, whose name is a hash: a
// synced temp file linked into place, then the directory synced, before it
// returns. A listing reads such a blob's key from the file, so a power loss
// must never leave one torn under its name.
func (b *Backend) putHashedBlob(path string, content []byte) error {
	err := b.linkTemp(content, path)
	if errors.Is(err, fs.ErrExist) {
		return backend.ErrExists
	}
	if err != nil {
		return err
	}
	b.blobSync.add(nil, path)
	return b.syncBlobs()
}

// GetBlob implements [backend.Backend.GetBlob]. It reads the blob's file
// and checks its checksum.
func (b *Backend) GetBlob(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	end, err := b.begin()
	if err != nil {
		return nil, err
	}
	defer end()
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if b.wal != nil {
		return b.wal.getBlob(ctx, key)
	}
	return b.readBlob(key)
}

// readBlob reads and checks the blob file of key.
func (b *Backend) readBlob(key string) ([]byte, error) {
	path := b.blobPath(key)
	buf, err := b.readFile(path, maxBlobFileSize)
	if err != nil {
		return nil, err
	}
	got, data, err := decodeBlob(buf)
	if err != nil {
		return nil, corrupt(path, err)
	}
	if got != key {
		return nil, &corruptError{path: path, reason: "header names another key"}
	}
	return data, nil
}

// DeleteBlob implements [backend.Backend.DeleteBlob]. It removes the blob's
// file and does not sync the directory: the engine deletes a blob only once
// no durable record refers to it, so a deletion that a power loss undoes
// leaves an orphan, which a sweep removes, never a dangling reference.
func (b *Backend) DeleteBlob(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	end, err := b.begin()
	if err != nil {
		return err
	}
	defer end()
	if err := checkKey(key); err != nil {
		return err
	}
	if b.wal != nil {
		return b.wal.deleteBlob(ctx, key)
	}
	b.cfg.note("remove", b.blobPath(key))
	err = os.Remove(b.blobPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("filebackend: %w", err)
	}
	return nil
}

// listEntry is a file found by listing, with the key it holds.
type listEntry struct {
	key  string
	name string
}

// listDir returns the entries of dir whose names end in suffix and whose
// keys satisfy keep, sorted by key. Keys come from the file names, except
// for hashed names, whose keys come from the file headers (read once per
// Backend and cached). A file removed while listing is skipped.
func (b *Backend) listDir(dir, suffix, magic string, keyOffset int, keep func(string) bool) ([]listEntry, error) {
	b.cfg.note("readdir", dir)
	names, err := readDirNames(dir)
	if err != nil {
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	var out []listEntry
	for _, name := range names {
		stem, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue // not ours: a temp file of an editor, say
		}
		key, hashed, ok := decodeStem(stem)
		if !ok {
			return nil, &corruptError{path: filepath.Join(dir, name), reason: "file name encodes no key"}
		}
		if hashed {
			key, err = b.hashedKey(filepath.Join(dir, name), stem, magic, keyOffset)
			if errors.Is(err, backend.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
		}
		if keep(key) {
			out = append(out, listEntry{key: key, name: name})
		}
	}
	slices.SortFunc(out, func(x, y listEntry) int { return strings.Compare(x.key, y.key) })
	return out, nil
}

// hashedKey returns the key of the file at path, whose name stem is a
// hash, from its header, and checks that the key hashes to the stem.
func (b *Backend) hashedKey(path, stem, magic string, keyOffset int) (string, error) {
	if k, ok := b.hashedKeys.Load(stem); ok {
		return k.(string), nil
	}
	b.cfg.note("open", path)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", backend.ErrNotFound
		}
		return "", fmt.Errorf("filebackend: %w", err)
	}
	head := make([]byte, keyOffset+maxKeyLen)
	n, err := io.ReadFull(f, head)
	_ = f.Close()
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("filebackend: %w", err)
	}
	key, err := headerKey(head[:n], magic, keyOffset)
	if err != nil {
		return "", corrupt(path, err)
	}
	if fileStem(key) != stem {
		return "", &corruptError{path: path, reason: "header names a key that does not hash to the file name"}
	}
	b.hashedKeys.Store(stem, key)
	return key, nil
}

// ListRecords implements [backend.Backend.ListRecords]. It reads the
// directory's names, which encode the keys and sort like them, then reads
// only the files of the records it returns. A record deleted while listing
// is skipped. The listing is not a snapshot: a record changed while it runs
// may be listed with its old or its new content.
func (b *Backend) ListRecords(ctx context.Context, prefix, after string, limit int) ([]backend.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	end, err := b.begin()
	if err != nil {
		return nil, err
	}
	defer end()
	if b.wal != nil {
		return b.wal.listRecords(ctx, prefix, after, limit)
	}
	entries, err := b.listDir(b.records, recordSuffix, recordMagic, recordKeyOffset, func(k string) bool {
		return strings.HasPrefix(k, prefix) && k > after
	})
	if err != nil {
		return nil, err
	}
	var out []backend.Record
	for _, e := range entries {
		if len(out) >= limit {
			break
		}
		r, err := b.readRecord(e.key)
		if errors.Is(err, backend.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, backend.Record{Key: r.key, Revision: r.rev, Data: r.data})
	}
	// Another process may have renamed a record into place and not yet
	// synced the directory. A caller that acts on what it listed (Sweep
	// deleting the blobs an old content referred to) must not act on a
	// change a power loss could undo: make every listed change durable.
	b.cfg.note("dirsync", b.records)
	if err := b.recordsSync.sync(); err != nil {
		return nil, err
	}
	return out, nil
}

// ListBlobs implements [backend.Backend.ListBlobs]. It reads the names in
// the blobs directory, and no blob.
func (b *Backend) ListBlobs(ctx context.Context, after string, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	end, err := b.begin()
	if err != nil {
		return nil, err
	}
	defer end()
	if b.wal != nil {
		return b.wal.listBlobs(ctx, after, limit)
	}
	entries, err := b.listDir(b.blobs, blobSuffix, blobMagic, blobKeyOffset, func(k string) bool { return k > after })
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, e := range entries {
		if len(keys) >= limit {
			break
		}
		keys = append(keys, e.key)
	}
	return keys, nil
}

// readDirNames returns the names in the directory at path, unsorted.
func readDirNames(path string) ([]string, error) {
	d, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}
