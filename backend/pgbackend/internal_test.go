package pgbackend

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPrefixEnd(t *testing.T) {
	cases := []struct {
		prefix, want string
		ok           bool
	}{
		{"", "", false},
		{"a", "b", true},
		{"a/", "a0", true},
		{"a\x7f", "a\u0080", true},
		{"é", "ê", true},
		{"x\uD7FF", "x\uE000", true},
		{"x\U0010FFFF", "y", true},
		{"\U0010FFFF\U0010FFFF", "", false},
	}
	for _, tc := range cases {
		got, ok := prefixEnd(tc.prefix)
		assert.Equal(t, tc.ok, ok, "prefixEnd(%q) ok", tc.prefix)
		assert.Equal(t, tc.want, got, "prefixEnd(%q)", tc.prefix)
		if !ok {
			continue
		}
		// Every string that starts with prefix sorts before the end, and
		// the end itself does not start with prefix.
		for _, suffix := range []string{"", "\x00", "\x7f", "\u07ff", "\uffff", "\U0010FFFF\U0010FFFF"} {
			s := tc.prefix + suffix
			assert.Less(t, s, got, "%q sorts after prefixEnd(%q)", s, tc.prefix)
		}
		assert.False(t, strings.HasPrefix(got, tc.prefix), "prefixEnd(%q) = %q starts with the prefix", tc.prefix, got)
	}
}

func TestLoadMigrations(t *testing.T) {
	ok := fstest.MapFS{
		"migrations/0002_more.sql": {Data: []byte("two")},
		"migrations/0001_init.sql": {Data: []byte("one")},
	}
	ms, err := loadMigrations(ok)
	if assert.NoError(t, err) && assert.Len(t, ms, 2) {
		assert.Equal(t, []int{1, 2}, []int{ms[0].version, ms[1].version})
		assert.Equal(t, "two", ms[1].sql)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":      {"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}},
		"no one":   {"migrations/0002_b.sql": {}},
		"bad name": {"migrations/0001_a.sql": {}, "migrations/two.sql": {}},
		"empty":    {"migrations/README": {}},
	} {
		_, err := loadMigrations(fsys)
		assert.Error(t, err, name)
	}
	assert.Equal(t, len(migrations), latestVersion, "the embedded migrations")
}

// TestListingSeeksTheIndex checks, on tables of 20000 records and 20000
// blobs, that every listing query is a scan of the primary key's index in
// key order that starts at the cursor (keyset pagination): no sort, no
// sequential scan, no OFFSET, so that a page costs the same wherever it
// starts. It checks the plans PostgreSQL makes for the given values and
// the generic plans it may switch to for a prepared statement.
func TestListingSeeksTheIndex(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("SECRETSTORE_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but SECRETSTORE_TEST_POSTGRES is empty: CI must start PostgreSQL and pass its DSN")
		}
		t.Skip("SECRETSTORE_TEST_POSTGRES is empty: set it to the DSN of a PostgreSQL database to run this test")
	}
	ctx := t.Context()
	schema := "sstest_plan_" + strings.ToLower(rand.Text()[:10])
	b, err := Open(ctx, dsn, WithSchema(schema))
	require.NoError(t, err)
	s := pgx.Identifier{schema}.Sanitize()
	t.Cleanup(func() {
		_, err := b.pool.Exec(context.Background(), "DROP SCHEMA "+s+" CASCADE")
		assert.NoError(t, err)
		b.Close()
	})
	for _, q := range []string{
		"INSERT INTO " + s + ".records (key, data) SELECT 'secret/' || lpad(g::text, 6, '0'), '\\x00' FROM generate_series(1, 20000) g",
		"INSERT INTO " + s + ".blobs (key, data) SELECT 'blob/' || lpad(g::text, 6, '0'), '\\x00' FROM generate_series(1, 20000) g",
		"ANALYZE " + s + ".records, " + s + ".blobs",
	} {
		_, err := b.pool.Exec(ctx, q)
		require.NoError(t, err)
	}
	conn, err := b.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()

	upper, _ := prefixEnd("secret/01")
	cases := []struct {
		name, sql, types, args, index string
	}{
		{"records", b.q.listRecords, "text, text, bigint", "'secret/010000', '', 50", "records_pkey"},
		{"records under a prefix", b.q.listRecordsBounded, "text, text, text, bigint", "'', 'secret/01', '" + upper + "', 50", "records_pkey"},
		{"blobs", b.q.listBlobs, "text, bigint", "'blob/010000', 50", "blobs_pkey"},
	}
	for i, tc := range cases {
		_, err := conn.Exec(ctx, fmt.Sprintf("PREPARE list%d (%s) AS %s", i, tc.types, tc.sql))
		require.NoError(t, err)
	}
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		_, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode)
		require.NoError(t, err)
		for i, tc := range cases {
			rows, err := conn.Query(ctx, fmt.Sprintf("EXPLAIN EXECUTE list%d (%s)", i, tc.args), pgx.QueryExecModeSimpleProtocol)
			require.NoError(t, err)
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err)
			plan := strings.Join(lines, "\n")
			assert.Contains(t, plan, "Index", "%s (%s): not an index scan:\n%s", tc.name, mode, plan)
			assert.Contains(t, plan, tc.index, "%s (%s): not a scan of %s:\n%s", tc.name, mode, tc.index, plan)
			assert.Regexp(t, `Index Cond: .*key > `, plan, "%s (%s): the cursor does not bound the scan:\n%s", tc.name, mode, plan)
			for _, bad := range []string{"Sort", "Seq Scan", "Bitmap"} {
				assert.NotContains(t, plan, bad, "%s (%s):\n%s", tc.name, mode, plan)
			}
			t.Logf("%s (%s):\n%s", tc.name, mode, plan)
		}
	}
	_, err = conn.Exec(ctx, "DEALLOCATE ALL")
	require.NoError(t, err)
}

// TestMigrationUpgrade upgrades a store's schema at version 1 with two more
// migrations, from several goroutines at once as instances of a new
// release start together: each migration runs once, in order, and the
// data stays. A migration that fails leaves the schema as it was, its
// earlier statements undone.
func TestMigrationUpgrade(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("SECRETSTORE_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but SECRETSTORE_TEST_POSTGRES is empty: CI must start PostgreSQL and pass its DSN")
		}
		t.Skip("SECRETSTORE_TEST_POSTGRES is empty: set it to the DSN of a PostgreSQL database to run this test")
	}
	ctx := t.Context()
	schema := "sstest_upgrade_" + strings.ToLower(rand.Text()[:10])
	b, err := Open(ctx, dsn, WithSchema(schema))
	require.NoError(t, err)
	s := pgx.Identifier{schema}.Sanitize()
	t.Cleanup(func() {
		_, err := b.pool.Exec(context.Background(), "DROP SCHEMA "+s+" CASCADE")
		assert.NoError(t, err)
		b.Close()
	})
	rev, err := b.CreateRecord(ctx, "k", []byte("v"))
	require.NoError(t, err)

	// Version 2 adds a table (under the schema on search_path, as real
	// migrations are written) and counts how often it ran; version 3
	// uses it.
	v2 := migration{version: 2, name: "0002_test.sql", sql: `
		CREATE TABLE upgrade_log (version integer NOT NULL);
		INSERT INTO upgrade_log VALUES (2);`}
	v3 := migration{version: 3, name: "0003_test.sql", sql: `INSERT INTO upgrade_log VALUES (3);`}
	ms := append(append([]migration{}, migrations...), v2, v3)
	errs := make(chan error, 4)
	for range 4 {
		go func() { errs <- migrateWith(ctx, b.pool, schema, ms) }()
	}
	for range 4 {
		assert.NoError(t, <-errs)
	}
	rows, err := b.pool.Query(ctx, "SELECT version FROM "+s+".upgrade_log ORDER BY version")
	require.NoError(t, err)
	ran, err := pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err)
	assert.Equal(t, []int{2, 3}, ran, "migrations run")
	rows, err = b.pool.Query(ctx, "SELECT version FROM "+s+".schema_version ORDER BY version")
	require.NoError(t, err)
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2, 3}, versions, "schema_version")
	got, err := b.GetRecord(ctx, "k", 0)
	require.NoError(t, err)
	assert.Equal(t, rev, got.Revision, "the record after the upgrade")

	// Version 4 fails half-way: its first statement is undone.
	v4 := migration{version: 4, name: "0004_test.sql", sql: `
		INSERT INTO upgrade_log VALUES (4);
		SELECT no_such_function();`}
	err = migrateWith(ctx, b.pool, schema, append(ms, v4))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "0004_test.sql")
	var n int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM "+s+".upgrade_log WHERE version = 4").Scan(&n))
	assert.Zero(t, n, "rows of the failed migration")
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT max(version) FROM "+s+".schema_version").Scan(&n))
	assert.Equal(t, 3, n, "schema version after the failed migration")

	// The released package, at version 1, refuses the upgraded schema.
	_, err = Open(ctx, dsn, WithSchema(schema))
	assert.ErrorContains(t, err, "version 3")
}
