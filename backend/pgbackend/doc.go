// Package pgbackend provides a [backend.Backend] that keeps a store in a
// PostgreSQL database, so that every instance of a service, on any number
// of hosts, can open a store over the same secrets without losing an
// update.
//
// Application code should use package secretstore; open the database with
// [Open] (or [OpenPool] over a pool of your own) and hand the backend to
// the store:
//
//	b, err := pgbackend.Open(ctx, os.Getenv("DATABASE_URL"))
//	if err != nil { ... }
//	defer b.Close()
//	store, err := secretstore.New(b, secretstore.WithKeys(keys))
//
// It needs PostgreSQL 13 or later and a database whose encoding is UTF8.
// The engine encrypts secret values before they reach the backend, so the
// database holds no plaintext value; records hold metadata (names,
// descriptions, tags) in the clear.
//
// # Schema
//
// A store lives in one PostgreSQL schema, "secretstore" unless
// [WithSchema] names another; several stores may share a database in
// different schemas. The schema holds:
//
//	schema_version  version integer PRIMARY KEY, applied_at timestamptz
//	records         key text COLLATE "C" PRIMARY KEY, revision bigint, data bytea
//	blobs           key text COLLATE "C" PRIMARY KEY, data bytea
//	revisions       a sequence, from which every record revision comes
//
// Records are the secrets' metadata and blobs their encrypted values, in
// their own table, so that reading or listing metadata never reads a
// value. Keys use the "C" collation, which orders them by the bytes of
// their UTF-8 encoding, the order the backend contract promises; listing
// is keyset pagination over the primary key (WHERE key > after ORDER BY
// key LIMIT n), so a page costs the same wherever it starts, and returns
// each record's data in the same query.
//
// # Migrations
//
// The schema is created and upgraded by numbered migrations embedded in
// the package (migrations/NNNN_description.sql). Open applies those the
// schema lacks, each with its row in schema_version, in one transaction,
// so that a migration is applied entirely or not at all. Opening a schema
// that is up to date only reads its version, and takes no lock. Otherwise
// Open takes a transaction-scoped advisory lock named after the schema, so
// that of several instances starting at once against a new or older schema
// one migrates and the others wait, then find nothing left to do. Open
// refuses a schema of a newer version than the package knows.
//
// The role that opens a new schema needs the CREATE privilege on the
// database; once the schema exists, opening it needs only USAGE on it and
// SELECT, INSERT, UPDATE and DELETE on its tables and USAGE on its
// sequence.
//
// # Concurrency
//
// Every call is one statement in its own transaction, at PostgreSQL's
// default READ COMMITTED isolation. A record's compare-and-swap is a
// single UPDATE (or DELETE) whose WHERE clause holds the expected
// revision: PostgreSQL locks the row and re-checks the condition after a
// concurrent writer of the row commits, so of two writers holding one
// revision exactly one succeeds and the other gets [backend.ErrConflict].
// Creating is INSERT ... ON CONFLICT DO NOTHING, so of two creators one
// gets [backend.ErrExists]. Revisions come from a sequence and are never
// reused. Blobs are written once with INSERT ... ON CONFLICT DO NOTHING
// and never updated.
//
// # Durability
//
// A write returns once PostgreSQL committed it, which with its default
// settings (synchronous_commit on) means once it is in the write-ahead log
// on disk. The one exception is DeleteBlob, whose commit does not wait for
// the disk: the engine deletes a blob only once no record refers to it, so
// a deletion that a crash undoes leaves an orphan, which the engine's
// sweep removes, and never a dangling reference. This saves a Put that
// prunes an old version one of its three disk flushes.
//
// # Failures
//
// Every call honours its context. When the context of a call is done
// while its statement runs, the backend asks the server to cancel the
// statement and waits, for up to two seconds, for its answer: a write
// that the server cancelled was rolled back and the call returns the
// context's error; a write that completed first returns its result. Only
// if the server does not answer in time is the connection closed, and
// then, as with any database reached over a network when a connection
// breaks, the write may or may not have been committed; the engine is
// written for that. A read, or a blob deletion, that loses its
// connection (a restart of the server, a failover, pg_terminate_backend)
// is retried once on a fresh connection; a call that sent nothing before
// failing is retried too.
//
// Errors never contain the DSN or the password, and no error value holds
// the connection settings. The package logs nothing.
package pgbackend
