package pgbackend_test

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend"
)

// pgValue1KiB is the 1 KiB string value the benchmarks store.
var pgValue1KiB = strings.Repeat("s", 1024)

// BenchmarkPGFloor measures what the database itself costs, over a pool
// made from the same DSN as the backend's and on the same server, the
// floors under the backend's calls:
//
//   - insert-row-1KiB: one INSERT of a 1 KiB bytea row in its own
//     transaction (a round trip and a commit), the floor under any durable
//     write;
//   - select-row: one SELECT of a 1 KiB bytea row by primary key (a round
//     trip), the floor under any read.
func BenchmarkPGFloor(b *testing.B) {
	ctx := b.Context()
	schema := newSchemaName()
	dropSchemaOnCleanup(b, schema)
	pool, err := pgxpool.New(ctx, testDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	s := pgx.Identifier{schema}.Sanitize()
	for _, q := range []string{
		"CREATE SCHEMA " + s,
		"CREATE TABLE " + s + `.floor (id bigserial PRIMARY KEY, data bytea NOT NULL)`,
		"CREATE TABLE " + s + `.floor_read (key text COLLATE "C" PRIMARY KEY, data bytea NOT NULL)`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	data := bytes.Repeat([]byte("f"), 1024)

	b.Run("insert-row-1KiB", func(b *testing.B) {
		q := "INSERT INTO " + s + ".floor (data) VALUES ($1)"
		var start, end int64
		walPos := "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"
		if err := pool.QueryRow(ctx, walPos).Scan(&start); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := pool.Exec(ctx, q, data); err != nil {
				b.Fatal(err)
			}
		}
		if err := pool.QueryRow(ctx, walPos).Scan(&end); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(end-start)/float64(b.N), "WAL-B/op")
	})
	b.Run("select-row", func(b *testing.B) {
		if _, err := pool.Exec(ctx, "INSERT INTO "+s+".floor_read (key, data) VALUES ('bench/row', $1) ON CONFLICT (key) DO NOTHING", data); err != nil {
			b.Fatal(err)
		}
		q := "SELECT data FROM " + s + ".floor_read WHERE key = $1"
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var got []byte
			if err := pool.QueryRow(ctx, q, "bench/row").Scan(&got); err != nil || len(got) != len(data) {
				b.Fatalf("SELECT: %d bytes, %v", len(got), err)
			}
		}
	})
}

// pgCounting is a backend that counts the calls made to it: every call is
// one round trip to the server, and every write but DeleteBlob waits for a
// flush of the write-ahead log when it commits. Timings on a shared
// machine drift with its disk; these counts do not.
type pgCounting struct {
	backend.Backend
	calls, flushes atomic.Int64
}

func (c *pgCounting) GetRecord(ctx context.Context, key string, known uint64) (backend.Record, error) {
	c.calls.Add(1)
	return c.Backend.GetRecord(ctx, key, known)
}

func (c *pgCounting) ListRecords(ctx context.Context, prefix, after string, limit int) ([]backend.Record, error) {
	c.calls.Add(1)
	return c.Backend.ListRecords(ctx, prefix, after, limit)
}

func (c *pgCounting) CreateRecord(ctx context.Context, key string, data []byte) (uint64, error) {
	c.calls.Add(1)
	c.flushes.Add(1)
	return c.Backend.CreateRecord(ctx, key, data)
}

func (c *pgCounting) UpdateRecord(ctx context.Context, key string, rev uint64, data []byte) (uint64, error) {
	c.calls.Add(1)
	c.flushes.Add(1)
	return c.Backend.UpdateRecord(ctx, key, rev, data)
}

func (c *pgCounting) DeleteRecord(ctx context.Context, key string, rev uint64) error {
	c.calls.Add(1)
	c.flushes.Add(1)
	return c.Backend.DeleteRecord(ctx, key, rev)
}

func (c *pgCounting) PutBlob(ctx context.Context, key string, data []byte) error {
	c.calls.Add(1)
	c.flushes.Add(1)
	return c.Backend.PutBlob(ctx, key, data)
}

func (c *pgCounting) GetBlob(ctx context.Context, key string) ([]byte, error) {
	c.calls.Add(1)
	return c.Backend.GetBlob(ctx, key)
}

// GetRecordBlob keeps the counted backend a backend.RecordBlobGetter, as
// the engine would see the real one.
func (c *pgCounting) GetRecordBlob(ctx context.Context, key string, known uint64, blobKey string) (backend.Record, []byte, error) {
	c.calls.Add(1)
	return c.Backend.(backend.RecordBlobGetter).GetRecordBlob(ctx, key, known, blobKey)
}

// PutRecordBlob keeps the counted backend a backend.RecordBlobPutter. An
// update is one statement; a create is PutBlob then CreateRecord.
func (c *pgCounting) PutRecordBlob(ctx context.Context, key string, rev uint64, data []byte, blobKey string, blob []byte) (uint64, error) {
	n := int64(1)
	if rev == 0 {
		n = 2
	}
	c.calls.Add(n)
	c.flushes.Add(n)
	return c.Backend.(backend.RecordBlobPutter).PutRecordBlob(ctx, key, rev, data, blobKey, blob)
}

func (c *pgCounting) DeleteBlob(ctx context.Context, key string) error {
	c.calls.Add(1)
	return c.Backend.DeleteBlob(ctx, key)
}

func (c *pgCounting) ListBlobs(ctx context.Context, after string, limit int) ([]string, error) {
	c.calls.Add(1)
	return c.Backend.ListBlobs(ctx, after, limit)
}

// report resets the counts, runs the benchmark's loop through run, and
// reports the calls, log flushes and bytes of write-ahead log (of the
// whole server, which nothing else should be using) per operation.
func (c *pgCounting) report(b *testing.B, run func()) {
	admin := adminPool(b)
	walPos := func() int64 {
		var pos int64
		if err := admin.QueryRow(b.Context(), "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").Scan(&pos); err != nil {
			b.Fatal(err)
		}
		return pos
	}
	c.calls.Store(0)
	c.flushes.Store(0)
	start := walPos()
	run()
	b.ReportMetric(float64(walPos()-start)/float64(b.N), "WAL-B/op")
	b.ReportMetric(float64(c.calls.Load())/float64(b.N), "roundtrips/op")
	b.ReportMetric(float64(c.flushes.Load())/float64(b.N), "flushes/op")
}

// pgBenchEngine opens a backend in a new schema and an engine over it
// that keeps the default version quota (DefaultMaxVersions) and prunes
// versions of any age (WithPruneAge(0)), so that a secret written in a
// loop keeps a steady number of versions, as in a long-lived store.
func pgBenchEngine(b *testing.B) (*secretstore.Engine, *pgCounting) {
	b.Helper()
	c := &pgCounting{Backend: openFresh(b)}
	e, err := pgNewEngine(c, secretstore.WithMaxVersions(secretstore.DefaultMaxVersions), secretstore.WithPruneAge(0))
	if err != nil {
		b.Fatal(err)
	}
	return e, c
}

// pgBenchCreate creates a secret with a 1 KiB value.
func pgBenchCreate(b *testing.B, e *secretstore.Engine, name string) {
	b.Helper()
	if _, err := e.CreateSecret(b.Context(), &secretstore.CreateSecretInput{Name: name, SecretString: &pgValue1KiB}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPGPutSecretValue measures one writer storing 1 KiB values in
// one secret: the blob's insert and the record's compare-and-swap in one
// statement (the engine writes from its cached copy); every 16th write a
// chunk of the version index; and past 100 versions the deletion of the
// oldest version's blob.
func BenchmarkPGPutSecretValue(b *testing.B) {
	e, c := pgBenchEngine(b)
	pgBenchCreate(b, e, "bench/put")
	ctx := b.Context()
	in := &secretstore.PutSecretValueInput{SecretId: "bench/put", SecretString: &pgValue1KiB}
	b.ReportAllocs()
	b.SetBytes(int64(len(pgValue1KiB)))
	c.report(b, func() {
		for b.Loop() {
			if _, err := e.PutSecretValue(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPGGetSecretValue measures reading the AWSCURRENT 1 KiB value of
// one secret: a record read that returns no data while the engine's
// cached copy is current, then a blob read and its decryption.
func BenchmarkPGGetSecretValue(b *testing.B) {
	e, c := pgBenchEngine(b)
	pgBenchCreate(b, e, "bench/get")
	ctx := b.Context()
	in := &secretstore.GetSecretValueInput{SecretId: "bench/get"}
	b.ReportAllocs()
	b.SetBytes(int64(len(pgValue1KiB)))
	c.report(b, func() {
		for b.Loop() {
			if _, err := e.GetSecretValue(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
