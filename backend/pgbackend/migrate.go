package pgbackend

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFiles holds the schema migrations, one file per version, named
// NNNN_description.sql.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one step of the schema: the SQL that takes a schema at
// version-1 to version.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations are the embedded migrations in order of version. Versions
// start at 1 and have no gaps.
var migrations = mustLoadMigrations()

// latestVersion is the version of the schema that this package creates and
// uses. Open upgrades an older schema to it and refuses a newer one.
var latestVersion = migrations[len(migrations)-1].version

func mustLoadMigrations() []migration {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		panic("pgbackend: embedded migrations: " + err.Error())
	}
	return ms
}

// loadMigrations reads the migrations in fsys's migrations directory and
// checks that their versions run from 1 without gaps.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		if !ok || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration file %s: want NNNN_description.sql", e.Name())
		}
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("migration file %s: %w", e.Name(), err)
		}
		sql, err := fs.ReadFile(fsys, "migrations/"+e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(sql)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration file %s: version %d, want %d", m.name, m.version, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, errors.New("no migration files")
	}
	return ms, nil
}

// migrate brings the schema up to the latest version. A schema already at
// it costs one query. Otherwise migrate takes a transaction-scoped advisory
// lock named after the schema, so that of several processes opening a new
// schema at once one creates it and the others wait and then find it done,
// and applies the missing migrations and their rows in schema_version in
// that one transaction: a migration is applied entirely or not at all.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	return migrateWith(ctx, pool, schema, migrations)
}

// migrateWith is migrate with the migrations ms (versions 1 to len(ms)),
// which tests replace.
func migrateWith(ctx context.Context, pool *pgxpool.Pool, schema string, ms []migration) error {
	latest := len(ms)
	s := pgx.Identifier{schema}.Sanitize()
	current, err := schemaVersion(ctx, pool, s)
	switch {
	case err != nil:
		return err
	case current == latest:
		return nil
	case current > latest:
		return fmt.Errorf("schema %s is at version %d, newer than this package's %d: upgrade the package", s, current, latest)
	}

	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockID(schema)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+s); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+s+`.schema_version (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return err
	}
	// Under the lock: another process may have migrated since the check.
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+s+".schema_version").Scan(&current); err != nil {
		return err
	}
	if current > latest {
		return fmt.Errorf("schema %s is at version %d, newer than this package's %d: upgrade the package", s, current, latest)
	}
	if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true)", s); err != nil {
		return err
	}
	for _, m := range ms[current:] {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+s+".schema_version (version) VALUES ($1)", m.version); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return tx.Commit(ctx)
}

// schemaVersion returns the version recorded in the schema s (quoted), or 0
// if the schema or its schema_version table does not exist yet.
func schemaVersion(ctx context.Context, pool *pgxpool.Pool, s string) (int, error) {
	var v int
	err := pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+s+".schema_version").Scan(&v)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000") { // undefined_table, invalid_schema_name
		return 0, nil
	}
	return v, err
}

// migrationLockID is the key of the advisory lock that serializes the
// migrations of one schema.
func migrationLockID(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("secretstore/pgbackend migrate\x00"))
	h.Write([]byte(schema))
	return int64(h.Sum64())
}
