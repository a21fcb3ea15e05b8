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
// A change is appended to a write-ahead log; logs are checkpointed into one
// file per record and per blob. The engine encrypts secret values before
// they reach the backend, so no file holds a plaintext value; records hold
// metadata (names, descriptions, tags) in the clear.
//
// Open needs flock(2), so the package works on unix systems only; on
// others Open returns an error wrapping [errors.ErrUnsupported]. The
// directory must be on a local file system: flock and the durability
// guarantees below are not reliable over NFS.
//
// Open creates stores of on-disk format version 2, described below, and
// keeps reading and writing stores of version 1, which have no log, as
// version 1 (see Compatibility).
//
// # Durability
//
// A record write (CreateRecord, UpdateRecord, DeleteRecord) returns only
// once it is on stable storage: its entry is appended to the current log,
// which is then flushed with fdatasync(2) (fsync, F_FULLFSYNC, on macOS).
// Writers that append while a flush runs share the next one (group
// commit), so concurrent writers cost about one flush per group rather
// than one each. A log is filled with zeros ahead of its end, so that an
// append changes neither the file's size nor its block map and the flush
// writes data only, not the file's metadata (nor, on a journaled file
// system, a journal commit).
//
// PutRecordBlob (backend.RecordBlobPutter), which the engine uses to store
// a new version's value with the secret's record, appends the blob's entry
// and the record's in one write, followed by one flush: a Put is one append
// and one fdatasync. PutBlob, which the engine still uses for other blobs,
// appends the blob to the log and returns without flushing it: the flush
// of the next record write covers it, since an fdatasync makes everything
// written to the log before it durable (and a log is flushed before
// anything is appended to the next one). The engine writes such a blob,
// and waits for PutBlob to return, before it writes the record that refers
// to it, so data is durable before the metadata that points to it.
// DeleteBlob appends nothing itself: the Backend holds the deletion, no
// longer finds the blob, and appends the deletion with its next append, in
// the same write (the engine's next record write, or Close; a Backend
// holding 64 appends them at once), so that a Put that prunes a version is
// still one append. Other Backends find the blob until then. Deletions are
// not flushed either: the engine deletes only blobs no durable record
// refers to, so a deletion that a crash or power loss undoes leaves an
// orphan, which a sweep removes, never a dangling reference.
//
// If flushing the log fails, that write and every later one fail, until
// the store is opened again: a failed fsync may have dropped the data it
// could not write.
//
// A log that outgrows its seal size (16 MiB) is sealed and a new one
// started; the sealed log is then checkpointed, in the background: the
// newest content of each record and blob it holds is written to that key's
// file, deletions are applied, every file is flushed (with one syncfs(2)
// when there are 32 or more, on Linux 5.8 or later, which writes the file
// system's metadata once for all of them; else with an fsync of each file
// and directory), and only then is the log removed. A crash at any instant leaves the log to be checkpointed
// again. At most two logs exist: a log is sealed only once the log before
// it is checkpointed; writers go on without waiting for a checkpoint unless
// the current log reaches four times the seal size. Close seals and
// checkpoints the log if the Backend wrote to it, so that the next Open
// reads an empty log.
//
// A checkpoint gives a key that needs a new file the file of a key that
// the log deletes, renamed and overwritten, since creating a file costs
// some file systems far more (ext4 without a journal: about 20 times a
// rename). The files of deleted blobs it has no use for it keeps in tmp/,
// up to 512, for the next checkpoints; they still hold the encrypted
// value they held, as the disk blocks of a removed file would, until they
// are reused or removed.
//
// A crash at any instant leaves the store consistent: Open reads the live
// logs and clears the appends a crash tore (never one that was
// acknowledged, see Corruption), and at worst unreferenced blobs remain,
// which a sweep removes, and temp files, which a later Open removes once
// they are ten minutes old (spare files too, by the time of their last
// write).
//
// Each Backend keeps an index of the live logs (key to offset), brought up
// to date by reading what was appended since it last looked (one 8-byte
// read tells that nothing was); a key it holds is read from the log, any
// other from its file. Reads take no lock across processes, except for a
// second look: a read that finds a file damaged, or what may be damage in
// a log, looks again holding the append lock with its index up to date
// (a checkpoint in another process may have been rewriting that file, or
// another process appending), and only damage it finds then is reported.
// A read whose answer is an entry not yet known to be flushed (another
// writer's, whose flush has not returned) waits for a flush of the log,
// shared with the writers, so that no read answers with what a crash could
// still undo; a read of what is known flushed (by a flush of this Backend,
// or by the flushed offset of a later entry) syncs nothing.
//
// Opening a store reads its live logs, which Close leaves empty and
// sealing keeps small, and no record or blob file: the cost of Open does
// not grow with the number of secrets. Listing reads the names in the
// records or blobs directory, which encode the keys (one directory read
// per page, whose cost grows with the number of files), merges the index,
// and then reads only what it returns.
//
// A write of a new blob must fail if a file of that blob exists (PutBlob's
// ErrExists). Rather than look the name up in blobs/ on every write (a miss
// the file system cannot answer from its cache), a Backend keeps a Bloom
// filter of the names there, 2 to 4 bytes a file, built by reading the
// directory once, in the background, at its first write of a blob, and
// kept up to date by its own checkpoints; after another Backend's
// checkpoint it looks names up again until it has read the directory again
// (which it does at most a tenth of the time).
//
// # Sharing a directory between processes
//
// Any number of Backends, in one process or in several, may open one
// directory at the same time. Compare-and-swap holds across all of them:
// an append takes the append lock, an in-process mutex and an exclusive
// flock on the directory wal/, and holds it only to bring its index up to
// date, compare the revision, and write the entry; the flush comes after.
// Concurrent appends of one Backend are done by one of them for the others
// (up to 64) under one take of the lock, each compared and written in
// turn, so the lock changes hands once per group.
// A checkpoint holds a second lock, an flock on the store's directory. The
// operating system releases an flock when its holder dies, so a crashed
// writer never blocks others. Revisions are random 64-bit numbers from
// crypto/rand, so no process hands out a revision another one gave, not
// even to a key deleted and created again.
//
// # Corruption
//
// Every log entry, record file and blob file carries a CRC-32C checksum,
// and files carry their key. A file that is truncated, has a flipped byte,
// a wrong length, or holds another key's content makes the call that reads
// it fail with an error that wraps [ErrCorrupt] and names the file; the
// backend never returns data from it. Decoders check every length against
// the file size and the format's bounds before they allocate.
//
// In a log, a crash can tear only what no fdatasync had covered yet, and
// the device may have kept some of those pages and lost others. So where
// parsing stops at bytes that are not an entry that checks, or at zeros
// followed by data, the entries that check further on tell which it is:
// if one of them was appended when the log was durable beyond that point
// (its flushed offset), the damage is corruption; else the rest of the
// log is a torn tail of appends that were never acknowledged, and is
// ignored, then cleared with zeros by Open or the next writer. As with any
// write-ahead log, damage to what was appended after the last flush that
// a later entry records (in particular to the last entry of the newest
// log) is therefore indistinguishable from a crash, and dropped.
//
// # Security
//
// The directory and its subdirectories have mode 0700 and every file mode
// 0600, set explicitly whatever the umask. Open sets the mode of the
// directory when it creates the store; it does not change the mode of an
// existing store.
//
// # On-disk format, version 2
//
// A store is a directory laid out as follows.
//
//	FORMAT             the text "secretstore filebackend 2\n"
//	wal/GEN.log        the live logs, GEN = generation, 16 lowercase hex digits
//	records/NAME.rec   one file per record checkpointed
//	blobs/NAME.blob    one file per blob checkpointed
//	locks/             unused in version 2
//	tmp/HEX.tmp        temp files being written, or empty ones made ahead
//	tmp/spare-HEX      files of deleted blobs kept for reuse by checkpoints
//
// A key's current state is that of its last entry in the newest live log
// that has one; a key in no live log is as its file says (absent if there
// is none).
//
// A log starts with a 16-byte header, magic "SSL2", the generation as a
// uint64 and the CRC-32C of those 12 bytes, followed by entries, followed
// by zeros to the end of the file. Integers are big-endian. An entry is
//
//	length    uint32   of the body, 19 to 19+1024+1048576; 0 ends the log
//	crc       uint32   CRC-32C (Castagnoli) of the body
//	body:
//	  kind    uint8    1 record put, 2 record delete, 3 blob put,
//	                   4 blob delete, 5 seal
//	  rev     uint64   the record's new revision for kind 1 (never 0), else 0
//	  flushed uint64   an offset up to which the log was durable when the
//	                   entry was appended, as far as its writer knew
//	  keyLen  uint16   1 to 1024; 0 for kind 5
//	  key     keyLen bytes
//	  data    the rest of the body: the record or blob for kinds 1 and 3,
//	          empty for the others
//
// A seal is the last entry of a log whose successor, generation GEN+1, is
// started; every log but the newest is sealed. A crash may lose the seal
// entry of a log whose successor exists, which then counts as sealed, or
// leave a sealed log without a successor, which the next append creates.
// Logs are only ever appended to, under the append lock.
//
// Record and blob files, NAME, the lock-free reading of files and the
// creation of a store are as in version 1, below. A checkpoint writes a
// file in place (hashed names: a synced temp file renamed), which is safe
// because no reader reads the file of a key a live log holds.
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
// In version 1 each change replaces files. A record write by a process
// holds the exclusive flock of the lock file locks/NN.lock, where NN is
// the CRC-32C of the key modulo 64 in two decimal digits, while it reads
// the current record and replaces it, by rename(2) of a complete, synced
// file from tmp/, and syncs records/. A blob is created by link(2) of a
// complete file from tmp/ (which fails if the name exists, so that of two
// writers of one key exactly one wins), and synced, with blobs/, by the
// next record write of the Backend, at the same time as that record's temp
// file and before its rename; blobs whose names are hashed are synced
// before they are linked. A blob is deleted by removing its file, not
// synced. Files are never modified in place.
//
// Open creates a store in a missing or empty directory, writing FORMAT
// last; it fails on a directory that holds other files and no FORMAT, and
// on a FORMAT naming another version.
//
// # Compatibility
//
// This package reads and writes stores of format versions 1 and 2 as
// described above; it creates stores of version 2. A store of version 1
// stays version 1, so that versions of the package that know only version
// 1 can go on sharing it. Versions of the package before this one refuse
// to open a store of version 2, which they would not read correctly.
// Later versions of the package will keep reading and writing stores of
// both versions (tests open frozen samples of each in testdata). Should
// the format ever change again, the version in FORMAT will change with it,
// a version of this package will refuse to open a store of a version it
// does not know, and the change will be announced with an upgrade path.
package filebackend
