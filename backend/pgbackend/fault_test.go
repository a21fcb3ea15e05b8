package pgbackend_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend/backendtest"
)

// TestConnectionKilledMidOperation terminates the engine's database
// connections with pg_terminate_backend, from a separate admin connection,
// again and again while goroutines write and read two secrets. Every call
// must either succeed or fail with an error (never hang, never return a
// wrong value), and afterwards the stored state must be consistent:
//
//   - the label invariants hold;
//   - every acknowledged version exists with its value;
//   - a version that exists without an acknowledgement comes from a call
//     that failed (its commit may have reached the server before the
//     connection died), and holds its value too;
//   - repeating every failed PutSecretValue with its ClientRequestToken
//     succeeds, as the engine's idempotency promises, after which every
//     version exists, and Sweep leaves every value readable.
func TestConnectionKilledMidOperation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := testDSN(t)
	admin := adminPool(t)
	schema := newSchemaName()
	dropSchemaOnCleanup(t, schema)
	appName := "sstest-fault-" + strings.TrimPrefix(schema, "sstest_")
	e, b, pool, err := pgOpenTaggedEngine(ctx, dsn, schema, appName, 4)
	require.NoError(t, err)
	defer pool.Close()
	defer b.Close()

	secrets := []string{"fault/a", "fault/b"}
	firsts := map[string]string{}
	for i, s := range secrets {
		firsts[s] = fmt.Sprintf("%032x", i+1)
	}
	first := func(s string) string { return firsts[s] }
	for _, s := range secrets {
		sv, bin := backendtest.Value(first(s))
		_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: s, ClientRequestToken: first(s), SecretString: sv, SecretBinary: bin})
		require.NoError(t, err)
	}

	var (
		mu       sync.Mutex
		acked    = map[string]map[string]bool{} // secret → versions
		failed   = map[string]map[string]bool{}
		errCount = map[string]int{}
		okCount  = map[string]int{}
	)
	for _, s := range secrets {
		acked[s] = map[string]bool{first(s): true}
		failed[s] = map[string]bool{}
	}
	note := func(op string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			okCount[op]++
		} else {
			errCount[op]++
		}
	}

	// The killer: every 10 to 50 ms, terminate every connection of
	// the engine's pool, idle or busy.
	stop := make(chan struct{})
	var killed atomic.Int64
	var killerWG sync.WaitGroup
	killerWG.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(10+rand.IntN(40)) * time.Millisecond):
			}
			var n int64
			err := admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
				FROM pg_stat_activity WHERE application_name = $1`, appName).Scan(&n)
			if err != nil && ctx.Err() == nil {
				t.Errorf("pg_terminate_backend: %v", err)
				return
			}
			killed.Add(n)
		}
	})

	const workers, calls = 4, 60
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for range calls {
				s := secrets[r.IntN(len(secrets))]
				callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
				if r.IntN(3) == 0 {
					out, err := e.GetSecretValue(callCtx, &secretstore.GetSecretValueInput{SecretId: s})
					note("get", err)
					if err == nil {
						sv, bin := backendtest.Value(out.VersionId)
						if sv != nil && out.SecretString != *sv || bin != nil && !bytes.Equal(out.SecretBinary, bin) {
							t.Errorf("GetSecretValue(%s) returned a wrong value for version %s", s, out.VersionId)
						}
					}
				} else {
					tok := backendtest.Token(r)
					sv, bin := backendtest.Value(tok)
					_, err := e.PutSecretValue(callCtx, &secretstore.PutSecretValueInput{
						SecretId: s, ClientRequestToken: tok, SecretString: sv, SecretBinary: bin,
					})
					note("put", err)
					mu.Lock()
					if err == nil {
						acked[s][tok] = true
					} else {
						failed[s][tok] = true
					}
					mu.Unlock()
				}
				if callCtx.Err() != nil {
					t.Errorf("a call took 30 s: it hung on a dead connection")
				}
				cancel()
			}
		})
	}
	wg.Wait()
	close(stop)
	killerWG.Wait()
	t.Logf("terminated %d connections; successes %v, errors %v", killed.Load(), okCount, errCount)
	require.Positive(t, killed.Load(), "no connection was terminated: the test tested nothing")
	require.Positive(t, okCount["put"], "no put succeeded")

	// The state, checked through a fresh backend and engine.
	e2, b2, err := pgOpenEngine(ctx, dsn, schema)
	require.NoError(t, err)
	defer b2.Close()
	for _, s := range secrets {
		st, err := backendtest.CheckLabels(ctx, e2, s)
		require.NoError(t, err)
		for _, vid := range st.Versions {
			assert.True(t, acked[s][vid] || failed[s][vid], "%s: version %s exists but no call wrote it", s, vid)
			assert.NoError(t, backendtest.CheckValue(ctx, e2, s, vid))
		}
		for vid := range acked[s] {
			assert.Contains(t, st.Versions, vid, "%s: acknowledged version %s is lost", s, vid)
		}
		// Repeat every failed put: it must succeed, whether the first
		// attempt took effect or not.
		for tok := range failed[s] {
			sv, bin := backendtest.Value(tok)
			_, err := e2.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
				SecretId: s, ClientRequestToken: tok, SecretString: sv, SecretBinary: bin,
			})
			assert.NoError(t, err, "%s: repeating the failed put %s", s, tok)
		}
	}
	_, err = e2.Sweep(ctx, 0)
	require.NoError(t, err)
	for _, s := range secrets {
		st, err := backendtest.CheckLabels(ctx, e2, s)
		require.NoError(t, err)
		assert.Len(t, st.Versions, len(acked[s])+len(failed[s]), "%s: versions after repeating the failed puts", s)
		for _, vid := range st.Versions {
			assert.NoError(t, backendtest.CheckValue(ctx, e2, s, vid), "after Sweep")
		}
	}
}
