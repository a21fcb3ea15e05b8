package pgbackend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secretstore/secretstore/backend"
)

var (
	_ backend.Backend          = (*Backend)(nil)
	_ backend.RecordBlobGetter = (*Backend)(nil)
	_ backend.RecordBlobPutter = (*Backend)(nil)
)

// DefaultSchema is the PostgreSQL schema that holds the store's tables
// unless [WithSchema] names another.
const DefaultSchema = "secretstore"

// An Option configures [Open] and [OpenPool].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	schema string
}

// WithSchema sets the PostgreSQL schema that holds the store's tables
// (default [DefaultSchema]). Open creates it if it does not exist. Stores
// in different schemas of one database are independent of each other.
// The name is an identifier of 1 to 63 bytes, used as written (quoted):
// "Secrets" and "secrets" are two schemas.
func WithSchema(name string) Option {
	return optionFunc(func(c *config) { c.schema = name })
}

// Backend is a [backend.Backend] over a PostgreSQL database. It is safe for
// concurrent use, and any number of Backends, in one process or on many
// hosts, may share one schema. The zero value is not usable; call [Open]
// or [OpenPool].
type Backend struct {
	pool    *pgxpool.Pool
	ownPool bool   // whether Close closes pool
	secret  string // the connection password, which errors must not contain
	schema  string
	q       queries

	mu     sync.RWMutex // held for reading by every call, for writing by Close
	closed bool
}

// queries are the backend's SQL statements, with the schema name in them.
// pgx prepares each on first use on every connection and then reuses it.
type queries struct {
	getRecord, listRecords, listRecordsBounded string
	createRecord, updateRecord, deleteRecord   string
	putBlob, getBlob, deleteBlob, listBlobs    string
	getRecordBlob, updateRecordBlob            string
}

func newQueries(schema string) queries {
	s := pgx.Identifier{schema}.Sanitize()
	return queries{
		// The data is left out when the caller already holds the current
		// revision: data is never NULL, so NULL means "yours is current".
		getRecord: `SELECT revision, CASE WHEN revision = $2 THEN NULL ELSE data END
			FROM ` + s + `.records WHERE key = $1`,
		listRecords: `SELECT key, revision, data FROM ` + s + `.records
			WHERE key > $1 AND key >= $2 ORDER BY key LIMIT $3`,
		listRecordsBounded: `SELECT key, revision, data FROM ` + s + `.records
			WHERE key > $1 AND key >= $2 AND key < $3 ORDER BY key LIMIT $4`,
		createRecord: `INSERT INTO ` + s + `.records (key, data) VALUES ($1, $2)
			ON CONFLICT (key) DO NOTHING RETURNING revision`,
		// The compare-and-swap: the UPDATE changes the row only if its
		// revision is the expected one, re-checked after waiting for a
		// concurrent writer of the row. "old" reads the row as it was
		// when the statement started, which tells a stale revision from a
		// missing record in the same round trip.
		updateRecord: `WITH old AS (SELECT revision FROM ` + s + `.records WHERE key = $1),
			upd AS (UPDATE ` + s + `.records SET revision = DEFAULT, data = $3
				WHERE key = $1 AND revision = $2 RETURNING revision)
			SELECT (SELECT revision FROM upd), (SELECT revision FROM old)`,
		// UpdateRecord and PutBlob in one statement: the blob is inserted
		// only if the record, locked first, has the expected revision,
		// and the record updated only if the blob was inserted, so that
		// either both change or neither does.
		updateRecordBlob: `WITH cur AS (SELECT revision FROM ` + s + `.records WHERE key = $1 FOR UPDATE),
			ins AS (INSERT INTO ` + s + `.blobs (key, data)
				SELECT $4, $5 WHERE EXISTS (SELECT FROM cur WHERE revision = $2)
				ON CONFLICT (key) DO NOTHING RETURNING 1),
			upd AS (UPDATE ` + s + `.records SET revision = DEFAULT, data = $3
				WHERE key = $1 AND revision = $2 AND EXISTS (SELECT FROM ins) RETURNING revision)
			SELECT (SELECT revision FROM upd), (SELECT revision FROM cur)`,
		deleteRecord: `WITH old AS (SELECT revision FROM ` + s + `.records WHERE key = $1),
			del AS (DELETE FROM ` + s + `.records WHERE key = $1 AND revision = $2 RETURNING revision)
			SELECT (SELECT revision FROM del), (SELECT revision FROM old)`,
		putBlob: `INSERT INTO ` + s + `.blobs (key, data) VALUES ($1, $2)
			ON CONFLICT (key) DO NOTHING`,
		getBlob: `SELECT data FROM ` + s + `.blobs WHERE key = $1`,
		// GetRecord and, when the caller's revision is current, the blob,
		// in one statement (one snapshot, one round trip).
		getRecordBlob: `SELECT r.revision, CASE WHEN r.revision = $2 THEN NULL ELSE r.data END,
			CASE WHEN r.revision = $2 THEN (SELECT b.data FROM ` + s + `.blobs b WHERE b.key = $3) END
			FROM ` + s + `.records r WHERE r.key = $1`,
		// A blob is deleted only once no record refers to it, so its
		// deletion need not be durable: should a crash undo it, the blob
		// is an orphan, which the engine's sweep deletes again. The commit
		// therefore does not wait for the write-ahead log to reach the
		// disk (synchronous_commit off, for this transaction only); it is
		// visible to every other connection at once all the same.
		deleteBlob: `WITH async AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true))
			DELETE FROM ` + s + `.blobs WHERE key = $1 AND EXISTS (SELECT FROM async)`,
		listBlobs: `SELECT key FROM ` + s + `.blobs WHERE key > $1 ORDER BY key LIMIT $2`,
	}
}

// Open connects to the PostgreSQL database that dsn names, with a pool of
// connections that the Backend owns and Close closes, and creates or
// upgrades the store's schema (see the package documentation). dsn is a
// libpq connection string, as a URL ("postgres://user:password@host:5432/db")
// or as keyword=value pairs, and may carry pgxpool's settings such as
// pool_max_conns; the PG* environment variables fill in what it leaves out.
//
// Errors from Open and from the Backend never contain dsn or its password.
func Open(ctx context.Context, dsn string, opts ...Option) (*Backend, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		var pce *pgconn.ParseConfigError
		if errors.As(err, &pce) {
			// Its text quotes the DSN, with the password removed only on
			// a best effort basis, and its ConnString field holds it all.
			return nil, errors.New("pgbackend: cannot parse the DSN (left out of this message, as it may hold a password)")
		}
		return nil, scrub(fmt.Errorf("pgbackend: parse the DSN: %w", err), "")
	}
	pc.ConnConfig.BuildContextWatcherHandler = cancelOnServer
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, scrub(fmt.Errorf("pgbackend: %w", unwrapConnect(err)), pc.ConnConfig.Password)
	}
	b, err := open(ctx, pool, true, pc.ConnConfig.Password, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return b, nil
}

// cancelGrace is how long a call whose context is done waits for the
// server to confirm that it cancelled the statement (or to report that
// the statement completed first) before it closes the connection.
const cancelGrace = 2 * time.Second

// cancelOnServer is the context watcher of the connections that Open
// makes. When a call's context is done, it asks the server to cancel the
// statement and keeps reading until the server answers, for up to
// cancelGrace: the answer says whether a write was cancelled (and so
// rolled back) or completed, so that the call can report which. pgx's
// default instead closes the connection at once, leaving the server to
// finish, and maybe commit, a write whose caller was told it failed.
func cancelOnServer(c *pgconn.PgConn) ctxwatch.Handler {
	return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelGrace}
}

// OpenPool returns a Backend over a pool that the caller made and keeps:
// Close leaves it open. Like Open, it creates or upgrades the store's
// schema.
//
// Open configures its pool so that a call whose context is cancelled
// while a write runs on the server cancels the write there and reports
// exactly whether it took effect. With pgx's default configuration, a
// cancelled call closes its connection instead, and the server may still
// commit the write afterwards. To get Open's behaviour over a pool of your
// own, make the pool's connections cancel on the server, for instance:
//
//	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
//		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 2 * time.Second}
//	}
func OpenPool(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Backend, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if pool == nil {
		return nil, errors.New("pgbackend: OpenPool with a nil pool")
	}
	return open(ctx, pool, false, pool.Config().ConnConfig.Password, opts)
}

func open(ctx context.Context, pool *pgxpool.Pool, own bool, password string, opts []Option) (*Backend, error) {
	cfg := config{schema: DefaultSchema}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.schema == "" || len(cfg.schema) > 63 || !utf8.ValidString(cfg.schema) || strings.ContainsRune(cfg.schema, 0) {
		return nil, fmt.Errorf("pgbackend: invalid schema name %q: want 1 to 63 bytes of UTF-8 without NUL", cfg.schema)
	}
	b := &Backend{pool: pool, ownPool: own, secret: password, schema: cfg.schema, q: newQueries(cfg.schema)}
	if err := b.checkEncoding(ctx); err != nil {
		return nil, err
	}
	if err := migrate(ctx, pool, cfg.schema); err != nil {
		return nil, b.fail(ctx, "migrate the schema", err)
	}
	return b, nil
}

// checkEncoding refuses a database whose encoding is not UTF-8: keys are
// UTF-8 text, and another encoding would change or reject them.
func (b *Backend) checkEncoding(ctx context.Context) error {
	var enc string
	if err := b.pool.QueryRow(ctx, "SHOW server_encoding").Scan(&enc); err != nil {
		return b.fail(ctx, "open", err)
	}
	if enc != "UTF8" {
		return fmt.Errorf("pgbackend: the database's encoding is %s; the store needs UTF8", enc)
	}
	return nil
}

// Schema returns the name of the PostgreSQL schema that holds the store.
func (b *Backend) Schema() string { return b.schema }

// Close releases the backend: it waits for calls in progress and then
// closes the pool if Open made it. Calls after Close return
// [backend.ErrClosed]; Close itself may be called more than once.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.ownPool {
		b.pool.Close()
	}
	return nil
}

// maxAttempts is how many times call runs a call that may be repeated.
const maxAttempts = 3

// call runs fn for the method op, after checking ctx and that the backend
// is open, and returns its error made fit for the caller (see fail). A
// call that completed returns its result even if ctx is done by then. A
// call that could not reach the server, having sent nothing, is run again,
// up to maxAttempts times in all, as is a read that lost its connection:
// the pool drops a connection that the server terminated (a restart, a
// failover, pg_terminate_backend) and the next attempt gets another one.
// A write whose connection broke after it was sent is not repeated, since
// it may have taken effect.
func (b *Backend) call(ctx context.Context, op string, read bool, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return backend.ErrClosed
	}
	err := fn()
	for attempt := 1; attempt < maxAttempts && err != nil && !isSentinel(err) && ctx.Err() == nil &&
		(pgconn.SafeToRetry(err) || read && connectionLost(err)); attempt++ {
		err = fn()
	}
	if err == nil || isSentinel(err) {
		return err
	}
	return b.fail(ctx, op, err)
}

// isSentinel reports whether err is one of the backend sentinels, which
// the methods return as they are.
func isSentinel(err error) bool {
	return err == backend.ErrNotFound || err == backend.ErrExists || err == backend.ErrConflict
}

// connectionLost reports whether err, which is not a sentinel, means that
// the connection broke or that the server ended it, rather than that the
// server refused the statement.
func connectionLost(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 is connection exceptions; 57P01-57P03 are the server
		// shutting down, crashing, or not accepting connections yet.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	// Any other error comes from the client side: the network, a
	// connection closed under the call, or the pool failing to connect.
	return true
}

// fail returns the error of a failed call: ctx's own error, unwrapped, if
// ctx is done, and otherwise err prefixed with the package and op, without
// the connection settings pgx's connect errors carry, and without the
// password should the server or a driver have quoted it.
func (b *Backend) fail(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return scrub(fmt.Errorf("pgbackend: %s: %w", op, unwrapConnect(err)), b.secret)
}

// unwrapConnect replaces a *pgconn.ConnectError in err, whose Config field
// holds the password, by its cause: the text of the result names no host,
// user or database, and no errors.As can reach the password.
func unwrapConnect(err error) error {
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) {
		return err
	}
	cause := ce.Unwrap()
	if cause == nil {
		return errors.New("cannot connect to the database")
	}
	return fmt.Errorf("cannot connect to the database: %w", cause)
}

// scrub returns err, or, if its text contains password (when not empty), an
// error with the password replaced that does not wrap err.
func scrub(err error, password string) error {
	if password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "[password]"))
}

// GetRecord returns the record under key, with its data left out when
// knownRevision is its revision. It implements [backend.Backend].
func (b *Backend) GetRecord(ctx context.Context, key string, knownRevision uint64) (backend.Record, error) {
	var rev int64
	var data []byte
	err := b.call(ctx, "GetRecord", true, func() error {
		err := b.pool.QueryRow(ctx, b.q.getRecord, key, int64(knownRevision)).Scan(&rev, &data)
		if errors.Is(err, pgx.ErrNoRows) {
			return backend.ErrNotFound
		}
		return err
	})
	if err != nil {
		return backend.Record{}, err
	}
	return backend.Record{Key: key, Revision: uint64(rev), Data: data}, nil
}

// GetRecordBlob implements [backend.RecordBlobGetter]: the record's revision
// check and, if the caller's revision is current, the blob, in one query.
func (b *Backend) GetRecordBlob(ctx context.Context, key string, knownRevision uint64, blobKey string) (backend.Record, []byte, error) {
	var rev int64
	var data, blob []byte
	err := b.call(ctx, "GetRecordBlob", true, func() error {
		err := b.pool.QueryRow(ctx, b.q.getRecordBlob, key, int64(knownRevision), blobKey).Scan(&rev, &data, &blob)
		if errors.Is(err, pgx.ErrNoRows) {
			return backend.ErrNotFound
		}
		return err
	})
	if err != nil {
		return backend.Record{}, nil, err
	}
	return backend.Record{Key: key, Revision: uint64(rev), Data: data}, blob, nil
}

// ListRecords returns up to limit records after the key after whose keys
// start with prefix, in one query that seeks in the primary key's index
// (keyset pagination). It implements [backend.Backend].
func (b *Backend) ListRecords(ctx context.Context, prefix, after string, limit int) ([]backend.Record, error) {
	var recs []backend.Record
	err := b.call(ctx, "ListRecords", true, func() error {
		recs = recs[:0]
		var rows pgx.Rows
		var err error
		if upper, ok := prefixEnd(prefix); ok {
			rows, err = b.pool.Query(ctx, b.q.listRecordsBounded, after, prefix, upper, limit)
		} else {
			rows, err = b.pool.Query(ctx, b.q.listRecords, after, prefix, limit)
		}
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r backend.Record
			var rev int64
			if err := rows.Scan(&r.Key, &rev, &r.Data); err != nil {
				return err
			}
			r.Revision = uint64(rev)
			recs = append(recs, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// prefixEnd returns the least string greater than every string that starts
// with prefix, and false if there is none (prefix is empty or all
// U+10FFFF). In UTF-8, byte order is code point order, so that string is
// prefix with its last code point incremented (skipping the surrogates,
// which UTF-8 cannot encode) after dropping trailing U+10FFFFs.
func prefixEnd(prefix string) (string, bool) {
	rs := []rune(prefix)
	for len(rs) > 0 {
		last := rs[len(rs)-1]
		if last == utf8.MaxRune {
			rs = rs[:len(rs)-1]
			continue
		}
		last++
		if last == 0xD800 {
			last = 0xE000
		}
		rs[len(rs)-1] = last
		return string(rs), true
	}
	return "", false
}

// CreateRecord stores data under key if no record is there. It implements
// [backend.Backend].
func (b *Backend) CreateRecord(ctx context.Context, key string, data []byte) (uint64, error) {
	var rev int64
	err := b.call(ctx, "CreateRecord", false, func() error {
		err := b.pool.QueryRow(ctx, b.q.createRecord, key, nonNil(data)).Scan(&rev)
		if errors.Is(err, pgx.ErrNoRows) {
			return backend.ErrExists
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	return uint64(rev), nil
}

// UpdateRecord replaces the record under key if its revision is revision,
// in one UPDATE that checks the revision in its WHERE clause. It
// implements [backend.Backend].
func (b *Backend) UpdateRecord(ctx context.Context, key string, revision uint64, data []byte) (uint64, error) {
	var rev int64
	err := b.call(ctx, "UpdateRecord", false, func() error {
		var newRev, oldRev *int64
		if err := b.pool.QueryRow(ctx, b.q.updateRecord, key, int64(revision), nonNil(data)).Scan(&newRev, &oldRev); err != nil {
			return err
		}
		switch {
		case newRev != nil:
			rev = *newRev
			return nil
		case oldRev == nil:
			return backend.ErrNotFound
		default:
			return backend.ErrConflict
		}
	})
	if err != nil {
		return 0, err
	}
	return uint64(rev), nil
}

// PutRecordBlob stores blob under blobKey and writes the record under key,
// as one write. An update (revision not zero) is one statement, one round
// trip: the record's row is locked, the blob inserted if the revision is
// the expected one, and the row updated if the blob was inserted. A create
// is PutBlob then CreateRecord ([backend.PutRecordBlobInTurn]). It
// implements [backend.RecordBlobPutter].
func (b *Backend) PutRecordBlob(ctx context.Context, key string, revision uint64, data []byte, blobKey string, blob []byte) (uint64, error) {
	if revision == 0 {
		return backend.PutRecordBlobInTurn(ctx, b, key, 0, data, blobKey, blob)
	}
	var rev int64
	err := b.call(ctx, "PutRecordBlob", false, func() error {
		var newRev, curRev *int64
		if err := b.pool.QueryRow(ctx, b.q.updateRecordBlob, key, int64(revision), nonNil(data), blobKey, nonNil(blob)).Scan(&newRev, &curRev); err != nil {
			return err
		}
		switch {
		case newRev != nil:
			rev = *newRev
			return nil
		case curRev == nil:
			return backend.ErrNotFound
		case uint64(*curRev) != revision:
			return backend.ErrConflict
		default:
			return backend.ErrExists // the blob
		}
	})
	if err != nil {
		return 0, err
	}
	return uint64(rev), nil
}

// DeleteRecord deletes the record under key if its revision is revision.
// It implements [backend.Backend].
func (b *Backend) DeleteRecord(ctx context.Context, key string, revision uint64) error {
	return b.call(ctx, "DeleteRecord", false, func() error {
		var deleted, oldRev *int64
		if err := b.pool.QueryRow(ctx, b.q.deleteRecord, key, int64(revision)).Scan(&deleted, &oldRev); err != nil {
			return err
		}
		switch {
		case deleted != nil:
			return nil
		case oldRev == nil:
			return backend.ErrNotFound
		default:
			return backend.ErrConflict
		}
	})
}

// PutBlob stores data under key unless a blob is there. It returns once
// the insert is committed, which with PostgreSQL's default settings means
// flushed to its write-ahead log. It implements [backend.Backend].
func (b *Backend) PutBlob(ctx context.Context, key string, data []byte) error {
	return b.call(ctx, "PutBlob", false, func() error {
		tag, err := b.pool.Exec(ctx, b.q.putBlob, key, nonNil(data))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return backend.ErrExists
		}
		return nil
	})
}

// GetBlob returns the blob under key. It implements [backend.Backend].
func (b *Backend) GetBlob(ctx context.Context, key string) ([]byte, error) {
	var data []byte
	err := b.call(ctx, "GetBlob", true, func() error {
		err := b.pool.QueryRow(ctx, b.q.getBlob, key).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			return backend.ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// DeleteBlob deletes the blob under key, if there is one. The deletion is
// visible to every Backend on the database when DeleteBlob returns, but
// its commit does not wait for the disk: a crash of the server in the
// following fraction of a second may bring the blob back, as an orphan
// that the engine sweeps (the engine deletes a blob only after the record
// that referred to it changed). It implements [backend.Backend].
func (b *Backend) DeleteBlob(ctx context.Context, key string) error {
	// Deleting is idempotent, so it is safe to repeat after a lost
	// connection, like a read.
	return b.call(ctx, "DeleteBlob", true, func() error {
		_, err := b.pool.Exec(ctx, b.q.deleteBlob, key)
		return err
	})
}

// ListBlobs returns up to limit blob keys after the key after, by keyset
// pagination. It implements [backend.Backend].
func (b *Backend) ListBlobs(ctx context.Context, after string, limit int) ([]string, error) {
	var keys []string
	err := b.call(ctx, "ListBlobs", true, func() error {
		rows, err := b.pool.Query(ctx, b.q.listBlobs, after, limit)
		if err != nil {
			return err
		}
		keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// nonNil returns data, or an empty slice if data is nil: pgx sends a nil
// slice as NULL, and an empty record or blob is not NULL.
func nonNil(data []byte) []byte {
	if data == nil {
		return []byte{}
	}
	return data
}
