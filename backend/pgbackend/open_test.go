package pgbackend_test

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore/backend"
	"github.com/secretstore/secretstore/backend/pgbackend"
)

// closedPort returns a loopback address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// TestOpenErrorsHideThePassword needs no server: it opens DSNs that carry a
// distinctive password and cannot work, and checks that neither the error
// text nor any error in its chain gives the password or the DSN away. The
// pool connects lazily, so the connect errors come from Open's first
// query, through the path every method's errors take.
func TestOpenErrorsHideThePassword(t *testing.T) {
	t.Parallel()
	const password = "Pa55-word-NEVER-in-errors"
	addr := closedPort(t)
	host, port, _ := strings.Cut(addr, ":")
	cases := []struct{ name, dsn string }{
		{"URL to a closed port", "postgres://alice:" + password + "@" + addr + "/db?connect_timeout=5"},
		{"keywords to a closed port", "host=" + host + " port=" + port + " user=alice password=" + password + " dbname=db connect_timeout=5"},
		{"URL that does not parse", "postgres://alice:" + password + "@" + addr + "/db?sslmode=bogus"},
		{"keywords that do not parse", "host=" + host + " password='" + password + " dbname=db"},
		{"URL with a bad port", "postgres://alice:" + password + "@" + host + ":notaport/db"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := pgbackend.Open(t.Context(), tc.dsn)
			if b != nil {
				b.Close()
			}
			require.Error(t, err)
			for e := range errorChain(err) {
				assert.NotContains(t, e.Error(), password, "error text (%T)", e)
				assert.NotContains(t, e.Error(), tc.dsn, "error text (%T)", e)
				var ce *pgconn.ConnectError
				assert.False(t, errors.As(e, &ce), "the error chain holds a *pgconn.ConnectError, whose Config has the password")
				var pe *pgconn.ParseConfigError
				assert.False(t, errors.As(e, &pe), "the error chain holds a *pgconn.ParseConfigError, whose ConnString has the password")
			}
			t.Logf("error: %v", err)
		})
	}
}

// errorChain yields err and every error it wraps, depth first.
func errorChain(err error) func(func(error) bool) {
	return func(yield func(error) bool) {
		var walk func(error) bool
		walk = func(e error) bool {
			if e == nil {
				return true
			}
			if !yield(e) {
				return false
			}
			switch u := e.(type) {
			case interface{ Unwrap() error }:
				return walk(u.Unwrap())
			case interface{ Unwrap() []error }:
				for _, c := range u.Unwrap() {
					if !walk(c) {
						return false
					}
				}
			}
			return true
		}
		walk(err)
	}
}

// TestOpenMigrations checks what users rely on when they deploy: opening a
// schema creates it at the current version, opening it again changes
// nothing, stores in different schemas are independent, and a schema of a
// newer version is refused.
func TestOpenMigrations(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	admin := adminPool(t)
	b := openFresh(t)
	s := pgx.Identifier{b.Schema()}.Sanitize()

	versions := func() []int {
		t.Helper()
		rows, err := admin.Query(ctx, "SELECT version FROM "+s+".schema_version ORDER BY version")
		require.NoError(t, err)
		v, err := pgx.CollectRows(rows, pgx.RowTo[int])
		require.NoError(t, err)
		return v
	}
	require.Equal(t, []int{1}, versions())
	rev, err := b.CreateRecord(ctx, "k", []byte("v"))
	require.NoError(t, err)

	// Opening again is a no-op: same version rows, data intact.
	b2 := openSchema(t, b.Schema())
	assert.Equal(t, []int{1}, versions())
	got, err := b2.GetRecord(ctx, "k", 0)
	require.NoError(t, err)
	assert.Equal(t, backend.Record{Key: "k", Revision: rev, Data: []byte("v")}, got)

	// Another schema is another store.
	other := openFresh(t)
	_, err = other.GetRecord(ctx, "k", 0)
	assert.ErrorIs(t, err, backend.ErrNotFound)

	// A schema migrated by a newer version of the package is refused.
	_, err = admin.Exec(ctx, "INSERT INTO "+s+".schema_version (version) VALUES (999)")
	require.NoError(t, err)
	_, err = pgbackend.Open(ctx, testDSN(t), pgbackend.WithSchema(b.Schema()))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "version 999")
}

// TestOpenConcurrentSafe opens one new schema from many goroutines, each
// with its own pool, at once, as instances of a service starting together
// do: all must succeed, and the migration must have run once.
func TestOpenConcurrentSafe(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := testDSN(t)
	schema := newSchemaName()
	dropSchemaOnCleanup(t, schema)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			b, err := pgbackend.Open(ctx, dsn, pgbackend.WithSchema(schema))
			if err == nil {
				_, err = b.ListRecords(ctx, "", "", 1)
				b.Close()
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "Open #%d", i)
	}
	var rows int
	require.NoError(t, adminPool(t).QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema}.Sanitize()+".schema_version").Scan(&rows))
	assert.Equal(t, 1, rows, "rows in schema_version")
}

// TestOpenPoolLeavesPoolOpen checks that Close of a backend made by
// OpenPool does not close the caller's pool, and that a schema name that
// needs quoting works.
func TestOpenPoolLeavesPoolOpen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := adminPool(t)
	schema := "Mixed Case-" + newSchemaName()
	dropSchemaOnCleanup(t, schema)
	b, err := pgbackend.OpenPool(ctx, pool, pgbackend.WithSchema(schema))
	require.NoError(t, err)
	assert.Equal(t, schema, b.Schema())
	_, err = b.CreateRecord(ctx, "k", []byte("v"))
	require.NoError(t, err)
	require.NoError(t, b.Close())
	_, err = b.GetRecord(ctx, "k", 0)
	assert.ErrorIs(t, err, backend.ErrClosed)
	assert.NoError(t, pool.Ping(ctx), "the caller's pool after Close")
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema}.Sanitize()+".records").Scan(&n))
	assert.Equal(t, 1, n)
}

func TestOpenRejectsBadSchemaNames(t *testing.T) {
	t.Parallel()
	pool := adminPool(t)
	for _, name := range []string{"", strings.Repeat("s", 64), "a\x00b", "\xff"} {
		_, err := pgbackend.OpenPool(t.Context(), pool, pgbackend.WithSchema(name))
		assert.Error(t, err, "WithSchema(%q)", name)
	}
}
