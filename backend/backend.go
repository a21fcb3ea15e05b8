// Package backend defines the storage contract that secretstore engines run on.
//
// Application code should use package secretstore; this package is for people
// who write a backend (memory, files, a database) or test one. A backend
// stores two kinds of thing and knows nothing about Secrets Manager:
//
//   - Records: small, mutable metadata documents addressed by a string key.
//     Every stored content of a record carries a revision, and every change
//     is a compare-and-swap on that revision, so that several engines (in one
//     process or many) can share a backend without losing updates.
//   - Blobs: immutable byte strings written once under a fresh key chosen by
//     the caller, read by key and deleted by key.
//
// The engine always writes a blob before the record that refers to it, or
// both in one write (RecordBlobPutter), and changes a record before it
// deletes a blob the record no longer refers to. A crash can therefore leave
// an unreferenced blob behind, never a record that points at nothing; the
// engine sweeps such orphans.
//
// Every backend, including one written outside this module, should pass the
// conformance suite in package backendtest from a TestConformance function.
package backend

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors returned by backends. The engine maps them to Secrets
// Manager errors; backends must return them (possibly wrapped) for the
// conditions documented on each method and must not invent others for those
// conditions.
var (
	// ErrNotFound reports that no record or blob exists under the key.
	ErrNotFound = errors.New("backend: not found")
	// ErrExists reports that a record or blob already exists under the key.
	ErrExists = errors.New("backend: already exists")
	// ErrConflict reports that a record's revision is not the expected one:
	// another writer changed it. The caller should reload and retry.
	ErrConflict = errors.New("backend: revision conflict")
	// ErrClosed reports a call on a backend after Close.
	ErrClosed = errors.New("backend: closed")
)

// Record is one stored content of a metadata record.
type Record struct {
	// Key is the record's key.
	Key string
	// Revision identifies this content of the record. It is never zero, and a
	// backend never gives the same revision to two different contents of the
	// same key, not even after the record is deleted and created again, so a
	// caller may cache what it decoded from Data under (Key, Revision).
	Revision uint64
	// Data is the record's content. It is nil when GetRecord found that the
	// caller's known revision is current (see GetRecord).
	Data []byte
}

// Backend is the storage contract. Implementations must be safe for
// concurrent use, must not retain or modify the byte slices passed to them,
// and must return slices the caller may modify freely.
//
// Every method honours ctx: a call whose context is already done when it
// starts returns ctx.Err() (unwrapped, so errors.Is(err, context.Canceled)
// holds) and changes nothing; a context cancelled while a call runs makes it
// either fail without effect or complete. After Close every method returns
// ErrClosed.
//
// Keys are 1 to 1024 bytes of valid UTF-8 without control characters (the
// engine itself only makes printable ASCII keys), so that any backend can
// store them as escaped file names or database text. Record data and blobs
// of up to 1 MiB must be accepted. A record or blob stored
// with empty data is returned with a non-nil, empty Data.
//
// Errors other than the sentinels are transport or storage failures. A
// failed write may or may not have taken effect; the engine only ever
// retries writes that are safe to repeat (a compare-and-swap that lost a
// race, or a blob put under a new key).
type Backend interface {
	// GetRecord returns the record stored under key, or ErrNotFound.
	//
	// If knownRevision is not zero and equals the record's current revision,
	// the backend may return the Record with a nil Data, telling the caller
	// that the content it already holds is current. Backends that cannot
	// tell cheaply may always return Data.
	GetRecord(ctx context.Context, key string, knownRevision uint64) (Record, error)

	// ListRecords returns up to limit records whose keys start with prefix
	// and sort strictly after the key after (all of them when after is
	// empty), in ascending byte order of key. A result shorter than limit
	// means there are no more. limit is at least 1.
	ListRecords(ctx context.Context, prefix, after string, limit int) ([]Record, error)

	// CreateRecord stores data under key if no record exists there and
	// returns the new revision, or ErrExists.
	CreateRecord(ctx context.Context, key string, data []byte) (uint64, error)

	// UpdateRecord replaces the content of the record under key if its
	// current revision is revision, and returns the new revision. It returns
	// ErrNotFound if there is no such record and ErrConflict if the revision
	// differs; in both cases nothing changed and the caller may reload and
	// retry.
	UpdateRecord(ctx context.Context, key string, revision uint64, data []byte) (uint64, error)

	// DeleteRecord deletes the record under key if its current revision is
	// revision. It returns ErrNotFound if there is no such record and
	// ErrConflict if the revision differs.
	DeleteRecord(ctx context.Context, key string, revision uint64) error

	// PutBlob stores data under key, which the caller chose fresh. It returns
	// ErrExists, and changes nothing, if a blob already exists under key:
	// blobs are written once and never overwritten. Once PutBlob returns nil
	// the blob is readable, and it is as durable as a record write at the
	// latest once a CreateRecord or UpdateRecord called later on the same
	// Backend returns nil: a backend may defer a blob's flush to that record
	// write (the engine writes one before anything refers to the blob), so
	// that one flush serves both.
	PutBlob(ctx context.Context, key string, data []byte) error

	// GetBlob returns the blob stored under key, or ErrNotFound.
	GetBlob(ctx context.Context, key string) ([]byte, error)

	// DeleteBlob deletes the blob under key. Deleting a blob that does not
	// exist succeeds, so the call is safe to repeat. Once DeleteBlob
	// returns nil this Backend no longer finds the blob; other Backends
	// over the same storage may still find it until this one's next write
	// (a backend may defer the deletion to it, as it may defer a blob's
	// flush), which is harmless since the engine deletes only blobs that
	// no record refers to.
	DeleteBlob(ctx context.Context, key string) error

	// ListBlobs returns up to limit blob keys that sort strictly after the
	// key after (all when after is empty), in ascending byte order. A result
	// shorter than limit means there are no more. The engine uses it to find
	// blobs that no record refers to.
	ListBlobs(ctx context.Context, after string, limit int) ([]string, error)

	// Close releases the backend's resources. Calls after Close return
	// ErrClosed; Close itself may be called more than once.
	Close() error
}

// BlobViewer is an optional interface of a Backend that keeps blobs in
// memory and never modifies a stored blob, so that it can hand out a blob
// without copying it. The engine uses it, when a backend implements it, to
// read a value without first copying the sealed bytes. A backend that
// implements it must pass the BlobViewer part of the conformance suite.
type BlobViewer interface {
	// ViewBlob is GetBlob, except that the result may be the backend's own
	// storage, which the caller must not modify. The result stays valid
	// and unchanged after DeleteBlob and Close.
	ViewBlob(ctx context.Context, key string) ([]byte, error)
}

// RecordBlobGetter is an optional interface of a Backend that can check a
// record's revision and read a blob in one step — one round trip for a
// database. The engine uses it for a read when its cached copy of the
// secret already names the value's blob. A backend that implements it must
// pass the RecordBlobGetter part of the conformance suite.
type RecordBlobGetter interface {
	// GetRecordBlob is GetRecord(ctx, key, knownRevision) and, when that
	// returns the Record with nil Data (the caller's revision is current),
	// GetBlob(ctx, blobKey) as of the same moment. blob is nil when the
	// record changed, and also when the blob does not exist; the Record is
	// returned either way. A missing record is ErrNotFound.
	GetRecordBlob(ctx context.Context, key string, knownRevision uint64, blobKey string) (rec Record, blob []byte, err error)
}

// RecordBlobPutter is an optional interface of a Backend that can store a
// new blob and write the record that refers to it in one step: one append
// and one flush for a log, one round trip for a database. The engine uses
// it, when a backend implements it, to store a new version's value together
// with the secret's record. A backend that implements it must pass the
// RecordBlobPutter part of the conformance suite.
type RecordBlobPutter interface {
	// PutRecordBlob is PutBlob(ctx, blobKey, blob) and then, as one write
	// with it, CreateRecord(ctx, key, data) when revision is zero, or
	// UpdateRecord(ctx, key, revision, data) otherwise. It returns the
	// record's new revision. When it returns one of the sentinel errors
	// neither the blob nor the record changed: ErrExists if a blob exists
	// under blobKey, or if revision is zero and a record exists under key;
	// ErrNotFound and ErrConflict as UpdateRecord does. When it returns nil
	// both are stored and as durable as a record write.
	PutRecordBlob(ctx context.Context, key string, revision uint64, data []byte, blobKey string, blob []byte) (uint64, error)
}

// PutRecordBlobInTurn is PutRecordBlob for a backend that cannot store a
// blob and write a record in one step: it calls b.PutBlob, then
// b.CreateRecord (revision zero) or b.UpdateRecord, and deletes the blob
// again if the record write fails with ErrExists, ErrNotFound or
// ErrConflict, so that neither changed. If the record write fails
// otherwise, or the deletion fails, the blob stays stored (an orphan, which
// the engine's sweep removes), and the error is not one of the sentinels:
// as for any storage failure, the caller cannot tell what took effect.
func PutRecordBlobInTurn(ctx context.Context, b Backend, key string, revision uint64, data []byte, blobKey string, blob []byte) (uint64, error) {
	if err := b.PutBlob(ctx, blobKey, blob); err != nil {
		return 0, err
	}
	var rev uint64
	var err error
	if revision == 0 {
		rev, err = b.CreateRecord(ctx, key, data)
	} else {
		rev, err = b.UpdateRecord(ctx, key, revision, data)
	}
	switch {
	case err == nil:
		return rev, nil
	case errors.Is(err, ErrExists) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict):
		if derr := b.DeleteBlob(context.WithoutCancel(ctx), blobKey); derr != nil {
			return 0, fmt.Errorf("backend: the record write failed (%v) and the blob stored for it could not be deleted (%v)", err, derr)
		}
		return 0, err
	case errors.Is(err, ErrClosed):
		return 0, fmt.Errorf("backend: the backend was closed after the blob was stored (%v)", err)
	default:
		return 0, err
	}
}
