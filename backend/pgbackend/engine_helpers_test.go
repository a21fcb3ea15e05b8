package pgbackend_test

import (
	"context"
	"encoding/hex"
	"errors"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend"
	"github.com/secretstore/secretstore/backend/pgbackend"
)

// This file holds what the multi-process, fault and benchmark tests share,
// after the crash and multi-process tests of filebackend: an engine with a
// fixed master key, values any reader can recompute from a VersionId, the
// staging label invariants, and running the test binary as a child.

// pgMasterKeyHex is the master key of every engine the tests open, in any
// process.
const pgMasterKeyHex = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0"

// pgNewEngine returns an engine over b that uses pgMasterKeyHex and keeps
// every version (WithMaxVersions(100000)), so that nothing is pruned under
// the tests' feet; opts come after and may change that.
func pgNewEngine(b backend.Backend, opts ...secretstore.Option) (*secretstore.Engine, error) {
	master, err := hex.DecodeString(pgMasterKeyHex)
	if err != nil {
		return nil, err
	}
	keys, err := secretstore.NewLocalKeys(master)
	if err != nil {
		return nil, err
	}
	all := append([]secretstore.Option{secretstore.WithKeys(keys), secretstore.WithMaxVersions(100000)}, opts...)
	return secretstore.New(b, all...)
}

// pgOpenEngine opens a backend with its own pool on schema and an engine
// over it (see pgNewEngine). The caller closes the backend.
func pgOpenEngine(ctx context.Context, dsn, schema string, opts ...secretstore.Option) (*secretstore.Engine, *pgbackend.Backend, error) {
	b, err := pgbackend.Open(ctx, dsn, pgbackend.WithSchema(schema))
	if err != nil {
		return nil, nil, err
	}
	e, err := pgNewEngine(b, opts...)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return e, b, nil
}

// pgOpenTaggedEngine is pgOpenEngine over a pool whose connections carry
// application_name appName, so that a test can find them in
// pg_stat_activity, and have at most maxConns connections.
func pgOpenTaggedEngine(ctx context.Context, dsn, schema, appName string, maxConns int32) (*secretstore.Engine, *pgbackend.Backend, *pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = appName
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	b, err := pgbackend.OpenPool(ctx, pool, pgbackend.WithSchema(schema))
	if err != nil {
		pool.Close()
		return nil, nil, nil, err
	}
	e, err := pgNewEngine(b)
	if err != nil {
		b.Close()
		pool.Close()
		return nil, nil, nil, err
	}
	return e, b, pool, nil
}

// pgGaveUp reports whether err is the engine giving up on a write after
// losing too many compare-and-swap races to another writer.
func pgGaveUp(err error) bool {
	return errors.Is(err, secretstore.ErrInternalService) && errors.Is(err, backend.ErrConflict)
}
