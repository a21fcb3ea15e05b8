//go:build unix

package filebackend_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend"
	"github.com/secretstore/secretstore/backend/backendtest"
)

// Environment variables of the multi-process test's children.
const (
	// fxMPChildEnv names the store directory; its presence is what makes
	// TestMultiProcessChild do anything.
	fxMPChildEnv = "SECRETSTORE_MP_CHILD"
	// fxMPIDEnv is the child's number, which seeds its randomness.
	fxMPIDEnv = "SECRETSTORE_MP_ID"
	// fxMPOpsEnv is how many calls the child makes.
	fxMPOpsEnv = "SECRETSTORE_MP_OPS"
)

const (
	fxMPSecret = "mp/one"
	// fxMPFirst is the VersionId of the secret's first version, which the
	// parent creates.
	fxMPFirst = "00000000-mp-first-version-0000000000"
	// fxMPOps is how many calls each child makes.
	fxMPOps = 300
)

// TestMultiProcessChild is not a test but a child process of
// TestTwoProcessesOneSecretConcurrentSafe, which runs the test binary again
// with -test.run=^TestMultiProcessChild$ and SECRETSTORE_MP_CHILD set to a
// store directory. Without the variable (a normal test run) it returns at
// once and passes, by design: it has nothing to check.
func TestMultiProcessChild(t *testing.T) {
	dir := os.Getenv(fxMPChildEnv)
	if dir == "" {
		return // not a child process; see the comment above
	}
	id, err := strconv.ParseUint(os.Getenv(fxMPIDEnv), 10, 64)
	if err != nil {
		backendtest.ChildFail(fmt.Errorf("bad %s: %v", fxMPIDEnv, err))
	}
	ops, err := strconv.Atoi(os.Getenv(fxMPOpsEnv))
	if err != nil {
		backendtest.ChildFail(fmt.Errorf("bad %s: %v", fxMPOpsEnv, err))
	}
	if err := fxMultiProcessChild(dir, id, ops); err != nil {
		backendtest.ChildFail(err)
	}
}

// fxMultiProcessChild opens its own engine and filebackend over dir, prints
// "READY", waits for a line on stdin (so that both children start
// together), and then makes ops calls on fxMPSecret:
//
//   - PutSecretValue, which moves AWSCURRENT to the new version: prints
//     "ACK put versionId" once it returned;
//   - PutSecretValue with VersionStages BLUE, which leaves AWSCURRENT alone:
//     "ACK put versionId" too;
//   - UpdateSecretVersionStage moving AWSCURRENT to one of its versions from
//     the holder that DescribeSecret reported: "ACK move versionId", or
//     "RACE move versionId" if the other process moved it in between and the
//     engine answered InvalidParameterException.
//
// A call that fails because the engine gave up after too many
// compare-and-swap conflicts (InternalServiceError caused by
// backend.ErrConflict) prints "GAVEUP op versionId": the parent checks that
// it changed nothing and reports how often it happened.
func fxMultiProcessChild(dir string, id uint64, ops int) error {
	ctx := context.Background()
	e, b, err := fxOpenEngine(dir)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := backendtest.AwaitGo(); err != nil {
		return err
	}

	r := rand.New(rand.NewPCG(id, uint64(time.Now().UnixNano())))
	mine := []string{fxMPFirst}
	for range ops {
		switch p := r.IntN(100); {
		case p < 70:
			tok := backendtest.Token(r)
			s, bin := backendtest.Value(tok)
			in := &secretstore.PutSecretValueInput{SecretId: fxMPSecret, ClientRequestToken: tok, SecretString: s, SecretBinary: bin}
			if p >= 60 {
				in.VersionStages = []string{"BLUE"}
			}
			_, err := e.PutSecretValue(ctx, in)
			switch {
			case err == nil:
				backendtest.Emit("ACK", "put", tok)
				mine = append(mine, tok)
			case fxGaveUp(err):
				backendtest.Emit("GAVEUP", "put", tok)
			default:
				return err
			}
		default:
			d, err := e.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: fxMPSecret})
			if err != nil {
				return err
			}
			holder := ""
			for vid, stages := range d.VersionIdsToStages {
				for _, l := range stages {
					if l == secretstore.LabelCurrent {
						holder = vid
					}
				}
			}
			target := mine[r.IntN(len(mine))]
			if target == holder {
				continue
			}
			_, err = e.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
				SecretId: fxMPSecret, VersionStage: secretstore.LabelCurrent, RemoveFromVersionId: holder, MoveToVersionId: target,
			})
			switch {
			case err == nil:
				backendtest.Emit("ACK", "move", target)
			case errors.Is(err, secretstore.ErrInvalidParameter):
				backendtest.Emit("RACE", "move", target) // the other process moved AWSCURRENT first
			case fxGaveUp(err):
				backendtest.Emit("GAVEUP", "move", target)
			default:
				return err
			}
		}
	}
	return nil
}

// fxGaveUp reports whether err is the engine giving up on a write after
// losing too many compare-and-swap races to another writer.
func fxGaveUp(err error) bool {
	return errors.Is(err, secretstore.ErrInternalService) && errors.Is(err, backend.ErrConflict)
}

// TestTwoProcessesOneSecretConcurrentSafe runs two child processes, each
// with its own Engine and filebackend handle on one directory, that hammer
// one secret with PutSecretValue and UpdateSecretVersionStage at the same
// time. Afterwards every acknowledged version must exist with its value (no
// lost update), no other version may exist, the label invariants must hold,
// and no blob may be left unreferenced (Sweep finds nothing to delete).
//
// A call on which the engine gave up after losing compare-and-swap races
// fails the test: the engine keeps the value it sealed across retries and
// retries for a wall-time budget, so two processes sharing one secret must
// both make progress.
func TestTwoProcessesOneSecretConcurrentSafe(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	e, b, err := fxOpenEngine(dir)
	require.NoError(t, err)
	s, bin := backendtest.Value(fxMPFirst)
	_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name: fxMPSecret, ClientRequestToken: fxMPFirst, SecretString: s, SecretBinary: bin,
	})
	require.NoError(t, err)
	require.NoError(t, b.Close())

	type report struct {
		puts, gaveUpPuts  []string
		moves, races, bad int
		gaveUpMoves       int
	}
	start := time.Now()
	reports := []*report{{}, {}}
	backendtest.RunTogether(t, len(reports), "TestMultiProcessChild", func(id int) []string {
		return []string{fxMPChildEnv + "=" + dir, fxMPIDEnv + "=" + strconv.Itoa(id), fxMPOpsEnv + "=" + strconv.Itoa(fxMPOps)}
	}, func(id int, l string) {
		rep := reports[id]
		f := strings.Fields(l)
		switch {
		case len(f) == 3 && f[0] == "ACK" && f[1] == "put":
			rep.puts = append(rep.puts, f[2])
		case len(f) == 3 && f[0] == "ACK" && f[1] == "move":
			rep.moves++
		case len(f) == 3 && f[0] == "RACE" && f[1] == "move":
			rep.races++
		case len(f) == 3 && f[0] == "GAVEUP" && f[1] == "put":
			rep.gaveUpPuts = append(rep.gaveUpPuts, f[2])
		case len(f) == 3 && f[0] == "GAVEUP" && f[1] == "move":
			rep.gaveUpMoves++
		case strings.HasPrefix(l, "ACK") || strings.HasPrefix(l, "RACE") || strings.HasPrefix(l, "GAVEUP"):
			rep.bad++
		}
	})

	e, b, err = fxOpenEngine(dir)
	require.NoError(t, err)
	defer func() { assert.NoError(t, b.Close()) }()
	st, err := backendtest.CheckLabels(ctx, e, fxMPSecret)
	require.NoError(t, err)
	want := map[string]bool{fxMPFirst: true}
	failed := map[string]bool{}
	var moves, races, gaveUpMoves int
	for i, rep := range reports {
		assert.Zero(t, rep.bad, "child %d printed malformed lines", i)
		for _, vid := range rep.puts {
			want[vid] = true
		}
		for _, vid := range rep.gaveUpPuts {
			failed[vid] = true
		}
		moves += rep.moves
		races += rep.races
		gaveUpMoves += rep.gaveUpMoves
	}
	got := map[string]bool{}
	for _, vid := range st.Versions {
		got[vid] = true
		assert.True(t, want[vid], "version %s exists but no process acknowledged it (failed call: %v)", vid, failed[vid])
		assert.NoError(t, backendtest.CheckValue(ctx, e, fxMPSecret, vid))
	}
	for vid := range want {
		assert.True(t, got[vid], "acknowledged version %s is lost", vid)
	}
	assert.Len(t, st.Versions, len(want))
	assert.Empty(t, failed, "puts on which the engine gave up after too many conflicts")
	assert.Zero(t, gaveUpMoves, "moves on which the engine gave up after too many conflicts")
	assert.True(t, want[st.Labels[secretstore.LabelCurrent]], "AWSCURRENT is on unknown version %s", st.Labels[secretstore.LabelCurrent])
	n, err := e.Sweep(ctx, 0)
	require.NoError(t, err)
	assert.Zero(t, n, "Sweep deleted blobs that failed or lost writes left behind")
	t.Logf("2 processes, %d calls each, in %v: %d versions written, %d AWSCURRENT moves, %d moves lost a race (InvalidParameterException); the engine gave up after too many conflicts on %d puts and %d moves",
		fxMPOps, time.Since(start).Round(time.Millisecond), len(want)-1, moves, races, len(failed), gaveUpMoves)
}
