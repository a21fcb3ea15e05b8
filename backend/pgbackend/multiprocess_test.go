package pgbackend_test

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
	"github.com/secretstore/secretstore/backend/backendtest"
)

// Environment of the multi-process test's children. The DSN reaches them
// in SECRETSTORE_TEST_POSTGRES, which they inherit.
const (
	// pgMPSchemaEnv names the schema; its presence is what makes
	// TestMultiProcessChild do anything.
	pgMPSchemaEnv = "SECRETSTORE_PG_MP_SCHEMA"
	// pgMPIDEnv is the child's number, which seeds its randomness.
	pgMPIDEnv = "SECRETSTORE_PG_MP_ID"
)

// pgMPOps is how many calls each child makes.
const pgMPOps = 300

// pgMPSecrets are the secrets both children write, and pgMPFirst the
// VersionId of each one's first version, which the parent creates.
var pgMPSecrets = []string{"mp/a", "mp/b"}

func pgMPFirst(secret string) string {
	return "first-version-of-" + strings.ReplaceAll(secret, "/", "-") + "-0000000000000000"
}

// TestMultiProcessChild is not a test but a child process of
// TestTwoProcessesConcurrentSafe, which runs the test binary again with
// -test.run=^TestMultiProcessChild$ and SECRETSTORE_PG_MP_SCHEMA set.
// Without the variable (a normal test run) it returns at once and passes,
// by design: it has nothing to check.
func TestMultiProcessChild(t *testing.T) {
	schema := os.Getenv(pgMPSchemaEnv)
	if schema == "" {
		return // not a child process; see the comment above
	}
	id, err := strconv.ParseUint(os.Getenv(pgMPIDEnv), 10, 64)
	if err != nil {
		backendtest.ChildFail(fmt.Errorf("bad %s: %v", pgMPIDEnv, err))
	}
	if err := pgMultiProcessChild(os.Getenv(dsnEnv), schema, id); err != nil {
		backendtest.ChildFail(err)
	}
}

// pgMultiProcessChild opens its own pool, backend and engine on schema,
// prints "READY", waits for a line on stdin so that both children start
// together, and makes pgMPOps calls on random secrets of pgMPSecrets:
//
//   - PutSecretValue, moving AWSCURRENT, or with VersionStages BLUE,
//     leaving it: prints "ACK put secret versionId";
//   - UpdateSecret with a new description, and half of the time a value
//     (a new version that takes AWSCURRENT): "ACK update secret versionId"
//     (versionId "-" without a value) and "ACK desc secret description";
//   - UpdateSecretVersionStage moving AWSCURRENT to one of its versions
//     from the holder DescribeSecret reported: "ACK move secret versionId",
//     or "RACE move secret versionId" if the other process moved it in
//     between and the engine answered InvalidParameterException.
//
// A write on which the engine gave up after too many compare-and-swap
// conflicts prints "GAVEUP op secret versionId". Any other error ends the
// child with exit status 3.
func pgMultiProcessChild(dsn, schema string, id uint64) error {
	ctx := context.Background()
	e, b, err := pgOpenEngine(ctx, dsn, schema)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := backendtest.AwaitGo(); err != nil {
		return err
	}

	r := rand.New(rand.NewPCG(id, uint64(time.Now().UnixNano())))
	mine := map[string][]string{}
	for _, s := range pgMPSecrets {
		mine[s] = []string{pgMPFirst(s)}
	}
	for n := range pgMPOps {
		secret := pgMPSecrets[r.IntN(len(pgMPSecrets))]
		switch p := r.IntN(100); {
		case p < 55:
			tok := backendtest.Token(r)
			s, bin := backendtest.Value(tok)
			in := &secretstore.PutSecretValueInput{SecretId: secret, ClientRequestToken: tok, SecretString: s, SecretBinary: bin}
			if p >= 45 {
				in.VersionStages = []string{"BLUE"}
			}
			_, err := e.PutSecretValue(ctx, in)
			switch {
			case err == nil:
				backendtest.Emit("ACK", "put", secret, tok)
				mine[secret] = append(mine[secret], tok)
			case pgGaveUp(err):
				backendtest.Emit("GAVEUP", "put", secret, tok)
			default:
				return fmt.Errorf("PutSecretValue(%s, %s): %w", secret, tok, err)
			}
		case p < 70:
			desc := fmt.Sprintf("child-%d-call-%d", id, n)
			in := &secretstore.UpdateSecretInput{SecretId: secret, Description: &desc}
			tok := "-"
			if r.IntN(2) == 0 {
				tok = backendtest.Token(r)
				in.ClientRequestToken = tok
				in.SecretString, in.SecretBinary = backendtest.Value(tok)
			}
			_, err := e.UpdateSecret(ctx, in)
			switch {
			case err == nil:
				backendtest.Emit("ACK", "update", secret, tok)
				backendtest.Emit("ACK", "desc", secret, desc)
				if tok != "-" {
					mine[secret] = append(mine[secret], tok)
				}
			case pgGaveUp(err):
				backendtest.Emit("GAVEUP", "update", secret, tok)
			default:
				return fmt.Errorf("UpdateSecret(%s, %s): %w", secret, tok, err)
			}
		default:
			d, err := e.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: secret})
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
			target := mine[secret][r.IntN(len(mine[secret]))]
			if target == holder {
				continue
			}
			_, err = e.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
				SecretId: secret, VersionStage: secretstore.LabelCurrent, RemoveFromVersionId: holder, MoveToVersionId: target,
			})
			switch {
			case err == nil:
				backendtest.Emit("ACK", "move", secret, target)
			case errors.Is(err, secretstore.ErrInvalidParameter):
				backendtest.Emit("RACE", "move", secret, target)
			case pgGaveUp(err):
				backendtest.Emit("GAVEUP", "move", secret, target)
			default:
				return fmt.Errorf("UpdateSecretVersionStage(%s, %s): %w", secret, target, err)
			}
		}
	}
	return nil
}

// TestTwoProcessesConcurrentSafe runs two child processes, each with its
// own pool, backend and engine on one schema, that hammer the same two
// secrets with PutSecretValue, UpdateSecret and UpdateSecretVersionStage at
// the same time. Afterwards, for each secret, every acknowledged version
// must exist with its value (no lost update), no other version may exist,
// the label invariants must hold, the description must be one a process
// set, and no blob may be left unreferenced (Sweep finds nothing). A call
// on which the engine gave up after losing compare-and-swap races fails the
// test: both processes must make progress.
func TestTwoProcessesConcurrentSafe(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := testDSN(t)
	schema := newSchemaName()
	dropSchemaOnCleanup(t, schema)
	e, b, err := pgOpenEngine(ctx, dsn, schema)
	require.NoError(t, err)
	defer b.Close()
	for _, s := range pgMPSecrets {
		sv, bin := backendtest.Value(pgMPFirst(s))
		_, err = e.CreateSecret(ctx, &secretstore.CreateSecretInput{
			Name: s, ClientRequestToken: pgMPFirst(s), SecretString: sv, SecretBinary: bin, Description: "initial",
		})
		require.NoError(t, err)
	}

	type report struct {
		acked  map[string][]string // secret → acknowledged new versions
		descs  map[string][]string // secret → acknowledged descriptions
		gaveUp []string
		counts map[string]int
		bad    []string
	}
	start := time.Now()
	var reports []*report
	for range 2 {
		reports = append(reports, &report{acked: map[string][]string{}, descs: map[string][]string{}, counts: map[string]int{}})
	}
	backendtest.RunTogether(t, len(reports), "TestMultiProcessChild", func(id int) []string {
		return []string{pgMPSchemaEnv + "=" + schema, pgMPIDEnv + "=" + strconv.Itoa(id)}
	}, func(id int, l string) {
		rep := reports[id]
		f := strings.Fields(l)
		switch {
		case len(f) == 0 || f[0] != "ACK" && f[0] != "RACE" && f[0] != "GAVEUP":
			// Not a protocol line: the test framework's own output.
		case len(f) != 4:
			rep.bad = append(rep.bad, l)
		case f[0] == "ACK" && (f[1] == "put" || f[1] == "update"):
			rep.counts[f[1]]++
			if f[3] != "-" {
				rep.acked[f[2]] = append(rep.acked[f[2]], f[3])
			}
		case f[0] == "ACK" && f[1] == "desc":
			rep.descs[f[2]] = append(rep.descs[f[2]], f[3])
		case f[0] == "ACK" && f[1] == "move", f[0] == "RACE" && f[1] == "move":
			rep.counts[f[0]+" "+f[1]]++
		case f[0] == "GAVEUP":
			rep.gaveUp = append(rep.gaveUp, l)
		default:
			rep.bad = append(rep.bad, l)
		}
	})

	counts := map[string]int{}
	for i, rep := range reports {
		assert.Empty(t, rep.bad, "child %d printed malformed lines", i)
		assert.Empty(t, rep.gaveUp, "child %d: calls on which the engine gave up after too many conflicts", i)
		for k, n := range rep.counts {
			counts[k] += n
		}
	}
	for _, s := range pgMPSecrets {
		want := map[string]bool{pgMPFirst(s): true}
		descs := map[string]bool{"initial": true}
		for _, rep := range reports {
			for _, vid := range rep.acked[s] {
				want[vid] = true
			}
			for _, d := range rep.descs[s] {
				descs[d] = true
			}
		}
		st, err := backendtest.CheckLabels(ctx, e, s)
		require.NoError(t, err)
		got := map[string]bool{}
		for _, vid := range st.Versions {
			got[vid] = true
			assert.True(t, want[vid], "%s: version %s exists but no process acknowledged it", s, vid)
			assert.NoError(t, backendtest.CheckValue(ctx, e, s, vid))
		}
		for vid := range want {
			assert.True(t, got[vid], "%s: acknowledged version %s is lost", s, vid)
		}
		assert.True(t, descs[st.Description], "%s: description %q was never set", s, st.Description)
	}
	n, err := e.Sweep(ctx, 0)
	require.NoError(t, err)
	assert.Zero(t, n, "Sweep deleted blobs that lost writes left behind")
	t.Logf("2 processes, %d calls each, in %v: %v", pgMPOps, time.Since(start).Round(time.Millisecond), counts)
}
