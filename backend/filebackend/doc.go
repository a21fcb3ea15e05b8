// Package filebackend provides a [backend.Backend] that keeps a store in a
// directory: durable, crash-safe, and shared safely by several processes.
//
// Application code should use package secretstore; open a directory with
// [Open] and hand the backend to the store:
//
//	b, err := filebackend.Open(dir)
//	if err != nil { ... }
//	defer b.Close()
//	store, err := secretstore.New(b, secretstore.WithKeys(keys))
//
// Each record and each blob is one file. The engine encrypts secret values
// before they reach the backend, so no file holds a plaintext value;
// records hold metadata (names, descriptions, tags) in the clear.
//
// Open needs flock(2), so the package works on unix systems only; on
// others Open returns an error wrapping [errors.ErrUnsupported]. The
// directory must be on a local file system: flock and the durability
// guarantees below are not reliable over NFS.
//
// # Durability
//
// A record write returns only once it is on stable storage, and so does
// every blob written before it. A record is written whole to a temp file,
// which is synced (fsync; F_FULLFSYNC on macOS) and then renamed over the
// record's file, after which the directory is synced: a reader sees either
// the old record or the new one, and a crash at any instant leaves either,
// never a mix.
//
// A blob is written whole to a temp file, which is hard-linked to the
// blob's name (which fails if the name exists, so two writers of one key
// cannot both succeed): a reader sees the whole blob or none. PutBlob
// returns without syncing it. The next record write of the Backend syncs
// it, with the blobs directory, at the same time as that record's temp file
// and before the rename, so that a Put costs one flush for its data and one
// for the record's directory entry, like a single atomic file replacement
// (concurrent writers share the directory fsyncs, and a record write waits
// for, rather than repeats, the flush of a blob another record write has
// started). The engine writes a value's blob, and waits for PutBlob to
// return, before it writes the record that refers to it, so data is durable
// before the metadata that points to it. A power loss can take or tear a
// blob that no record refers to yet, which is harmless: its checksum
// reveals a torn one, and a sweep removes it. Blobs whose keys are over 125
// bytes, which a listing reads from the file, are synced before they are
// linked and flushed before PutBlob returns. Deleting a blob is not synced:
// the engine deletes only blobs no durable record refers to, so a deletion
// that a power loss undoes leaves an orphan, never a dangling reference.
// If syncing blobs fails, that record write and every later one fail,
// until the store is opened again: a failed fsync may have dropped the
// data it could not write.
//
// A Backend keeps a few empty temp files ready, made in the background,
// so that a write does not wait for the file system to allocate a file;
// Close removes them.
//
// A crash at any instant leaves the store consistent: it reopens cleanly,
// with at worst unreferenced blobs, which a sweep removes, and a temp file,
// which a later Open removes once it is ten minutes old.
//
// Reads take no lock and sync nothing, and read one file. Opening a store
// reads neither its records nor its blobs, so it costs the same for ten
// secrets as for ten thousand. Listing reads the names in the directory,
// which encode the keys (one directory read per page, whose cost grows
// with the number of files), and then only the files it returns.
//
// # Sharing a directory between processes
//
// Any number of Backends, in one process or in several, may open one
// directory at the same time. Compare-and-swap holds across all of them:
// a record write takes the record's stripe lock, which is an in-process
// mutex and an exclusive flock on one of 64 lock files, and holds it only
// to read the current revision, compare, rename its (already synced) temp
// file into place and sync the directory. The operating system releases an
// flock when its holder dies, so a crashed writer never blocks others.
// Blobs need no lock: linking a name that exists fails, so of two writers
// of one blob key exactly one wins. Revisions are random 64-bit numbers
// from crypto/rand, so no process hands out a revision another one gave,
// not even to a key deleted and created again.
//
// # Corruption
//
// Every record and blob file carries its key and a CRC-32C checksum. A
// file that is truncated, has a flipped byte, a wrong length, or holds
// another key's content makes the call that reads it fail with an error
// that wraps [ErrCorrupt] and names the file; the backend never returns
// data from it. Decoders check every length against the file size and the
// format's bounds before they allocate.
//
// # Security
//
// The directory and its subdirectories have mode 0700 and every file mode
// 0600, set explicitly whatever the umask. Open sets the mode of the
// directory when it creates the store; it does not change the mode of an
// existing store.
//
// # On-disk format, version 1
//
// A store is a directory laid out as follows.
//
//	FORMAT             the text "secretstore filebackend 1\n"
//	records/NAME.rec   one file per record
//	blobs/NAME.blob    one file per blob
//	locks/NN.lock      empty lock files, NN = 00 to 63, made on first use
//	tmp/HEX.tmp        temp files being written, or empty ones made ahead
//
// NAME is the file name of a key: the key's bytes in lowercase base32hex
// without padding (RFC 4648 alphabet "0123456789abcdefghijklmnopqrstuv",
// which sorts like the bytes it encodes) when that takes at most 200
// characters, that is for keys of at most 125 bytes; for longer keys it is
// "~" followed by the lowercase hex SHA-256 of the key. The name of a key
// never changes. Keys are 1 to 1024 bytes.
//
// A record file holds, with integers in big-endian order:
//
//	magic     4 bytes  "SSR1"
//	revision  uint64   never 0
//	keyLen    uint16   1 to 1024
//	key       keyLen bytes
//	dataLen   uint32   0 to 1048576
//	data      dataLen bytes
//	crc       uint32   CRC-32C (Castagnoli) of every byte before it
//
// A blob file holds the same without the revision, with magic "SSB1":
//
//	magic "SSB1", keyLen uint16, key, dataLen uint32, data, crc uint32
//
// A file's size is exactly the sum of its fields. The key in a file is the
// key its name encodes (or hashes to).
//
// A record write by a process holds the exclusive flock of the lock file
// locks/NN.lock, where NN is the CRC-32C of the key modulo 64 in two
// decimal digits, while it reads the current record and replaces it. A
// record is replaced by rename(2) of a complete, synced file from tmp/; a
// blob is created by link(2) of a complete file from tmp/, synced later
// (see Durability) unless its name is hashed. Files are never modified in
// place.
//
// Open creates a store in a missing or empty directory, writing FORMAT
// last; it fails on a directory that holds other files and no FORMAT, and
// on a FORMAT naming another version.
//
// # Compatibility
//
// This package reads and writes format version 1 as described above.
// Flushing blobs with the next record write instead of in PutBlob changed
// the order of writes but not the format: stores written before and after
// that change are the same version 1, and either version of the package
// reads and writes the other's.
// Later versions of the package will keep reading and writing stores of
// version 1 (a test opens a frozen version 1 store in testdata). Should
// the format ever change, the version in FORMAT will change with it, a
// version of this package will refuse to open a store of a version it
// does not know, and the change will be announced with an upgrade path.
package filebackend
