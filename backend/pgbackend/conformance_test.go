package pgbackend_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore/backend"
	"github.com/secretstore/secretstore/backend/backendtest"
	"github.com/secretstore/secretstore/backend/pgbackend"
)

// TestConformance runs the backend conformance suite, each backend in a
// schema of its own; Reopen opens a second pool over the same schema.
func TestConformance(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	backendtest.Run(t, backendtest.Harness{
		New: func(t *testing.T) backend.Backend {
			schema := newSchemaName()
			dropSchemaOnCleanup(t, schema)
			b, err := pgbackend.Open(context.Background(), dsn, pgbackend.WithSchema(schema))
			require.NoError(t, err)
			return b
		},
		Reopen: func(t *testing.T, b backend.Backend) backend.Backend {
			b2, err := pgbackend.Open(context.Background(), dsn, pgbackend.WithSchema(b.(*pgbackend.Backend).Schema()))
			require.NoError(t, err)
			return b2
		},
	})
}
