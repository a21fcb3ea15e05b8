package filebackend

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// The constants of on-disk format versions 1 and 2, described in the
// package doc. Changing any of them changes the format.
const (
	formatName    = "FORMAT"
	formatText1   = "secretstore filebackend 1\n"
	formatText2   = "secretstore filebackend 2\n"
	formatPrefix  = "secretstore filebackend "
	maxFormatSize = 4096

	recordsName = "records"
	blobsName   = "blobs"
	locksName   = "locks"
	tmpName     = "tmp"
	walName     = "wal" // format 2 only

	recordMagic = "SSR1"
	blobMagic   = "SSB1"

	recordSuffix = ".rec"
	blobSuffix   = ".blob"
	lockSuffix   = ".lock"
	tmpSuffix    = ".tmp"

	// maxKeyLen and maxDataLen bound what a file may hold, and so what a
	// decoder allocates.
	maxKeyLen  = 1024
	maxDataLen = 1 << 20

	recordKeyOffset = 4 + 8 + 2 // magic, revision, key length
	blobKeyOffset   = 4 + 2     // magic, key length
	crcLen          = 4

	maxRecordFileSize = recordKeyOffset + maxKeyLen + 4 + maxDataLen + crcLen
	maxBlobFileSize   = blobKeyOffset + maxKeyLen + 4 + maxDataLen + crcLen

	// maxEncodedName is the longest file name stem that encodes a key;
	// longer keys are named by hash.
	maxEncodedName   = 200
	hashedNamePrefix = "~"
	hashedNameLen    = len(hashedNamePrefix) + 2*sha256.Size

	// stripeCount is the number of record lock stripes (lock files).
	stripeCount = 64
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)

	// nameEncoding is lowercase base32hex without padding. Its alphabet is in
	// ASCII order, so encoded names sort like the keys they encode.
	nameEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)
)

// fileStem returns the file name, without suffix, of the record or blob
// under key: the key in lowercase base32hex when that takes at most
// maxEncodedName characters, else "~" and the hex SHA-256 of the key.
func fileStem(key string) string {
	if nameEncoding.EncodedLen(len(key)) <= maxEncodedName {
		return nameEncoding.EncodeToString([]byte(key))
	}
	sum := sha256.Sum256([]byte(key))
	return hashedNamePrefix + hex.EncodeToString(sum[:])
}

// decodeStem returns the key that the file name stem encodes. For a hashed
// stem it returns hashed true and no key: the key is in the file's header.
// ok is false if stem is neither a canonical encoded name nor a hashed name.
func decodeStem(stem string) (key string, hashed, ok bool) {
	if strings.HasPrefix(stem, hashedNamePrefix) {
		if len(stem) != hashedNameLen {
			return "", false, false
		}
		for _, c := range []byte(stem[len(hashedNamePrefix):]) {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return "", false, false
			}
		}
		return "", true, true
	}
	if stem == "" || len(stem) > maxEncodedName {
		return "", false, false
	}
	b, err := nameEncoding.DecodeString(stem)
	// The decoder ignores the unused low bits of the last character: only
	// the canonical encoding of a key names it.
	if err != nil || len(b) == 0 || nameEncoding.EncodeToString(b) != stem {
		return "", false, false
	}
	return string(b), false, true
}

// stripeOf returns the lock stripe of a record key. It is part of the
// format: every process sharing a directory must agree on it.
func stripeOf(key string) int {
	return int(crc32.Checksum([]byte(key), castagnoli) % stripeCount)
}

// lockFileName returns the name of the lock file of stripe i.
func lockFileName(i int) string {
	return fmt.Sprintf("%02d%s", i, lockSuffix)
}

// fileRecord is the content of a record file.
type fileRecord struct {
	key  string
	rev  uint64
	data []byte // never nil
}

// encodeRecord returns the record file content for key, rev and data. The
// caller has checked the bounds of key and data.
func encodeRecord(key string, rev uint64, data []byte) []byte {
	buf := make([]byte, 0, recordKeyOffset+len(key)+4+len(data)+crcLen)
	buf = append(buf, recordMagic...)
	buf = binary.BigEndian.AppendUint64(buf, rev)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(key)))
	buf = append(buf, key...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(data)))
	buf = append(buf, data...)
	return binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
}

// encodeBlob returns the blob file content for key and data. The caller has
// checked the bounds of key and data.
func encodeBlob(key string, data []byte) []byte {
	buf := make([]byte, 0, blobKeyOffset+len(key)+4+len(data)+crcLen)
	buf = append(buf, blobMagic...)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(key)))
	buf = append(buf, key...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(data)))
	buf = append(buf, data...)
	return binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
}

// decodeRecord decodes a record file. The returned data aliases buf. Errors
// describe the damage; the caller adds the file name.
func decodeRecord(buf []byte) (fileRecord, error) {
	key, data, err := decodeFile(buf, recordMagic, recordKeyOffset)
	if err != nil {
		return fileRecord{}, err
	}
	rev := binary.BigEndian.Uint64(buf[4:12])
	if rev == 0 {
		return fileRecord{}, errors.New("revision 0")
	}
	return fileRecord{key: key, rev: rev, data: data}, nil
}

// decodeBlob decodes a blob file. The returned data aliases buf.
func decodeBlob(buf []byte) (key string, data []byte, err error) {
	return decodeFile(buf, blobMagic, blobKeyOffset)
}

// decodeFile checks the framing shared by record and blob files: magic,
// key length and key at keyOffset, data length and data, CRC-32C of all
// that. Every length is checked against len(buf) and the format's bounds.
func decodeFile(buf []byte, magic string, keyOffset int) (key string, data []byte, err error) {
	if len(buf) < keyOffset+1+4+crcLen {
		return "", nil, fmt.Errorf("truncated: %d bytes", len(buf))
	}
	if string(buf[:4]) != magic {
		return "", nil, fmt.Errorf("bad magic %q, want %q", buf[:4], magic)
	}
	klen := int(binary.BigEndian.Uint16(buf[keyOffset-2 : keyOffset]))
	if klen < 1 || klen > maxKeyLen {
		return "", nil, fmt.Errorf("key length %d out of range", klen)
	}
	off := keyOffset + klen
	if off+4+crcLen > len(buf) {
		return "", nil, fmt.Errorf("truncated: %d bytes, key length %d", len(buf), klen)
	}
	dlen := binary.BigEndian.Uint32(buf[off : off+4])
	if dlen > maxDataLen {
		return "", nil, fmt.Errorf("data length %d out of range", dlen)
	}
	end := off + 4 + int(dlen)
	if end+crcLen != len(buf) {
		return "", nil, fmt.Errorf("size mismatch: header says %d bytes, file has %d", end+crcLen, len(buf))
	}
	if got, want := crc32.Checksum(buf[:end], castagnoli), binary.BigEndian.Uint32(buf[end:]); got != want {
		return "", nil, fmt.Errorf("checksum mismatch: computed %08x, stored %08x", got, want)
	}
	return string(buf[keyOffset:off]), buf[off+4 : end : end], nil
}

// headerKey returns the key in the header of a record or blob file from its
// first bytes (at least the header up to the key), without checking the
// checksum: the caller checks the key against the file name instead.
func headerKey(head []byte, magic string, keyOffset int) (string, error) {
	if len(head) < keyOffset+1 {
		return "", fmt.Errorf("truncated: %d bytes", len(head))
	}
	if string(head[:4]) != magic {
		return "", fmt.Errorf("bad magic %q, want %q", head[:4], magic)
	}
	klen := int(binary.BigEndian.Uint16(head[keyOffset-2 : keyOffset]))
	if klen < 1 || klen > maxKeyLen {
		return "", fmt.Errorf("key length %d out of range", klen)
	}
	if keyOffset+klen > len(head) {
		return "", fmt.Errorf("truncated: %d bytes, key length %d", len(head), klen)
	}
	return string(head[keyOffset : keyOffset+klen]), nil
}

// checkFormat checks the content of the FORMAT file at path and returns the
// store's format version, 1 or 2.
func checkFormat(path string, data []byte) (int, error) {
	switch s := string(data); s {
	case formatText1:
		return 1, nil
	case formatText2:
		return 2, nil
	default:
		if v, ok := strings.CutPrefix(s, formatPrefix); ok {
			if v, ok := strings.CutSuffix(v, "\n"); ok {
				if n, err := strconv.ParseUint(v, 10, 32); err == nil && strconv.FormatUint(n, 10) == v {
					return 0, fmt.Errorf("filebackend: %s: on-disk format version %d is not supported: this version of the package reads versions 1 and 2 only", path, n)
				}
			}
		}
	}
	return 0, &corruptError{path: path, reason: fmt.Sprintf("unrecognized content, want %q", formatText2)}
}

// The write-ahead log of format version 2, described in the package doc.
const (
	logMagic      = "SSL2"
	logSuffix     = ".log"
	logHeaderSize = 4 + 8 + crcLen // magic, generation, CRC-32C

	// entryHeaderSize is the length and the CRC-32C before an entry's body.
	entryHeaderSize = 4 + crcLen
	// entryFixedSize is the body of an entry up to its key: kind,
	// revision, flushed offset, key length.
	entryFixedSize = 1 + 8 + 8 + 2
	maxEntryBody   = entryFixedSize + maxKeyLen + maxDataLen
)

// entryKind is the kind of a log entry.
type entryKind byte

// The kinds of log entry. A seal is the last entry of a log that has a
// successor.
const (
	kindRecordPut    entryKind = 1
	kindRecordDelete entryKind = 2
	kindBlobPut      entryKind = 3
	kindBlobDelete   entryKind = 4
	kindSeal         entryKind = 5
)

// logEntry is a decoded log entry. data aliases the buffer it was decoded
// from.
type logEntry struct {
	kind entryKind
	rev  uint64 // the record's new revision for kindRecordPut, else 0
	// flushed is an offset of the log up to which it was durable when
	// the entry was appended, as far as its writer knew: damage before
	// it is corruption, damage after it may be a crash's torn append.
	flushed uint64
	key     string // empty for kindSeal
	data    []byte // for kindRecordPut and kindBlobPut, never nil; else nil
}

// logName returns the file name of the log of generation gen.
func logName(gen uint64) string {
	return fmt.Sprintf("%016x%s", gen, logSuffix)
}

// parseLogName returns the generation of the log file name, or ok false if
// name is not the name of a log.
func parseLogName(name string) (gen uint64, ok bool) {
	stem, ok := strings.CutSuffix(name, logSuffix)
	if !ok || len(stem) != 16 {
		return 0, false
	}
	gen, err := strconv.ParseUint(stem, 16, 64)
	if err != nil || gen == 0 || logName(gen) != name {
		return 0, false
	}
	return gen, true
}

// encodeLogHeader returns the header of the log of generation gen.
func encodeLogHeader(gen uint64) []byte {
	buf := make([]byte, 0, logHeaderSize)
	buf = append(buf, logMagic...)
	buf = binary.BigEndian.AppendUint64(buf, gen)
	return binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
}

// checkLogHeader checks that buf starts with the header of the log of
// generation gen.
func checkLogHeader(buf []byte, gen uint64) error {
	if len(buf) < logHeaderSize {
		return fmt.Errorf("truncated header: %d bytes", len(buf))
	}
	if string(buf[:4]) != logMagic {
		return fmt.Errorf("bad magic %q, want %q", buf[:4], logMagic)
	}
	if got, want := crc32.Checksum(buf[:12], castagnoli), binary.BigEndian.Uint32(buf[12:16]); got != want {
		return fmt.Errorf("header checksum mismatch: computed %08x, stored %08x", got, want)
	}
	if g := binary.BigEndian.Uint64(buf[4:12]); g != gen {
		return fmt.Errorf("header names generation %d, the file name %d", g, gen)
	}
	return nil
}

// appendEntry appends the encoding of e to buf. The caller has checked the
// bounds of key and data.
func appendEntry(buf []byte, e logEntry) []byte {
	start := len(buf)
	body := entryFixedSize + len(e.key) + len(e.data)
	buf = binary.BigEndian.AppendUint32(buf, uint32(body))
	buf = append(buf, 0, 0, 0, 0) // CRC, below
	buf = append(buf, byte(e.kind))
	buf = binary.BigEndian.AppendUint64(buf, e.rev)
	buf = binary.BigEndian.AppendUint64(buf, e.flushed)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(e.key)))
	buf = append(buf, e.key...)
	buf = append(buf, e.data...)
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+entryHeaderSize:], castagnoli))
	return buf
}

// errShortEntry reports that a buffer ends inside an entry: the rest of it
// has not been written yet, or was cut short by a crash.
var errShortEntry = errors.New("entry cut short")

// decodeEntry decodes the entry at the start of buf and returns it with its
// encoded size. It returns errShortEntry if buf ends before the entry's
// length says it does, and another error, describing the damage, if the
// entry is malformed.
func decodeEntry(buf []byte) (logEntry, int, error) {
	if len(buf) < entryHeaderSize {
		return logEntry{}, 0, errShortEntry
	}
	body := binary.BigEndian.Uint32(buf)
	if body < entryFixedSize || body > maxEntryBody {
		return logEntry{}, 0, fmt.Errorf("entry length %d out of range", body)
	}
	size := entryHeaderSize + int(body)
	if len(buf) < size {
		return logEntry{}, 0, errShortEntry
	}
	b := buf[entryHeaderSize:size:size]
	if got, want := crc32.Checksum(b, castagnoli), binary.BigEndian.Uint32(buf[4:]); got != want {
		return logEntry{}, 0, fmt.Errorf("entry checksum mismatch: computed %08x, stored %08x", got, want)
	}
	e := logEntry{kind: entryKind(b[0]), rev: binary.BigEndian.Uint64(b[1:9]), flushed: binary.BigEndian.Uint64(b[9:17])}
	klen := int(binary.BigEndian.Uint16(b[17:19]))
	if entryFixedSize+klen > len(b) {
		return logEntry{}, 0, fmt.Errorf("key length %d exceeds the entry", klen)
	}
	e.key = string(b[entryFixedSize : entryFixedSize+klen])
	rest := b[entryFixedSize+klen:]
	switch e.kind {
	case kindRecordPut, kindBlobPut:
		if klen < 1 || klen > maxKeyLen {
			return logEntry{}, 0, fmt.Errorf("key length %d out of range", klen)
		}
		if len(rest) > maxDataLen {
			return logEntry{}, 0, fmt.Errorf("data length %d out of range", len(rest))
		}
		if (e.kind == kindRecordPut) != (e.rev != 0) {
			return logEntry{}, 0, fmt.Errorf("revision %d in an entry of kind %d", e.rev, e.kind)
		}
		e.data = rest
	case kindRecordDelete, kindBlobDelete, kindSeal:
		if (e.kind == kindSeal) != (klen == 0) || klen > maxKeyLen {
			return logEntry{}, 0, fmt.Errorf("key length %d in an entry of kind %d", klen, e.kind)
		}
		if e.rev != 0 || len(rest) != 0 {
			return logEntry{}, 0, fmt.Errorf("revision or data in an entry of kind %d", e.kind)
		}
	default:
		return logEntry{}, 0, fmt.Errorf("unknown entry kind %d", e.kind)
	}
	return e, size, nil
}
