package pgbackend_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore/backend/pgbackend"
)

// dsnEnv names the environment variable that holds the DSN of the
// PostgreSQL database the tests use. CI sets it (see .ci/run).
const dsnEnv = "SECRETSTORE_TEST_POSTGRES"

// testDSN returns the DSN of the test database. Without one the test is
// skipped, except under CI=true, where it fails: CI must run these tests.
func testDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true but %s is empty: CI must start PostgreSQL and pass its DSN", dsnEnv)
		}
		tb.Skipf("%s is empty: set it to the DSN of a PostgreSQL database to run this test", dsnEnv)
	}
	return dsn
}

// newSchemaName returns a schema name that no other test uses.
func newSchemaName() string {
	return "sstest_" + hex.EncodeToString([]byte(rand.Text())[:8])
}

// adminPool returns a pool on the test database for the test's own
// queries, closed when tb ends.
func adminPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), testDSN(tb))
	require.NoError(tb, err)
	tb.Cleanup(pool.Close)
	return pool
}

// dropSchemaOnCleanup drops schema when tb ends.
func dropSchemaOnCleanup(tb testing.TB, schema string) {
	tb.Helper()
	dsn := testDSN(tb)
	tb.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
}

// openFresh opens a backend in a new schema, which is dropped when tb ends,
// and closes the backend when tb ends (before the drop).
func openFresh(tb testing.TB, opts ...pgbackend.Option) *pgbackend.Backend {
	tb.Helper()
	dsn := testDSN(tb)
	schema := newSchemaName()
	dropSchemaOnCleanup(tb, schema)
	b, err := pgbackend.Open(context.Background(), dsn, append([]pgbackend.Option{pgbackend.WithSchema(schema)}, opts...)...)
	require.NoError(tb, err, "Open(schema %s)", schema)
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

// openSchema opens another backend on schema, closed when tb ends.
func openSchema(tb testing.TB, schema string) *pgbackend.Backend {
	tb.Helper()
	b, err := pgbackend.Open(context.Background(), testDSN(tb), pgbackend.WithSchema(schema))
	require.NoError(tb, err, "Open(schema %s)", schema)
	tb.Cleanup(func() { _ = b.Close() })
	return b
}
