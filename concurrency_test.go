package secretstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend"
	"github.com/secretstore/secretstore/backend/membackend"
)

// Concurrency tests (STYLE.md §8): many goroutines on one secret under
// -race, through one engine and through two engines sharing a backend as two
// processes would. Every acknowledged write must survive with its value and
// the staging-label invariants of SPEC §1.3 must hold afterwards.

const (
	mbConcSecret     = "mb-concurrent"
	mbConcGoroutines = 16
	mbConcOps        = 200
	mbConcInitial    = "mbc-initial-000000000000000000000000000000"
)

// mbConcValue is the value written with token tok: derived from the token,
// so that any reader can check any version it sees without shared state.
// Tokens containing "-bin-" carry a binary value.
func mbConcValue(tok string) (str *string, bin []byte) {
	v := "value-of:" + tok
	if strings.Contains(tok, "-bin-") {
		return nil, []byte(v)
	}
	return &v, nil
}

// mbConcCheckValue checks that out holds the value mbConcValue gives for
// its VersionId.
func mbConcCheckValue(out *secretstore.GetSecretValueOutput) error {
	str, bin := mbConcValue(out.VersionId)
	if bin != nil {
		if string(out.SecretBinary) != string(bin) || out.SecretString != "" {
			return fmt.Errorf("version %s: got binary %q string %q, want binary %q", out.VersionId, out.SecretBinary, out.SecretString, bin)
		}
		return nil
	}
	if out.SecretString != *str || out.SecretBinary != nil {
		return fmt.Errorf("version %s: got string %q binary %q, want string %q", out.VersionId, out.SecretString, out.SecretBinary, *str)
	}
	return nil
}

func mbConcEngine(t *testing.T, b backend.Backend, opts ...secretstore.Option) *secretstore.Engine {
	t.Helper()
	clock := secretstore.NewFakeClock(time.Date(2026, time.February, 1, 0, 0, 0, 0, time.UTC))
	opts = append([]secretstore.Option{secretstore.WithClock(clock), secretstore.WithMaxVersions(10000),
		secretstore.WithChunkSize(5)}, opts...)
	e, err := secretstore.New(b, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func TestStoreConcurrentSafe(t *testing.T) {
	t.Parallel()
	e := mbConcEngine(t, membackend.New())
	mbHammer(t, []*secretstore.Engine{e})
}

// TestStoreTwoEnginesOneBackendConcurrentSafe runs two engines over one
// backend, like two processes sharing storage: their in-process locks do
// not exclude each other, so only the backend's compare-and-swap (and the
// engine's retry on conflict) keeps updates from being lost.
func TestStoreTwoEnginesOneBackendConcurrentSafe(t *testing.T) {
	t.Parallel()
	master := make([]byte, 32)
	for i := range master {
		master[i] = byte(i)
	}
	keys, err := secretstore.NewLocalKeys(master)
	if err != nil {
		t.Fatalf("NewLocalKeys: %v", err)
	}
	shared := membackend.New()
	b1, b2 := &mbConflictCounter{Backend: shared}, &mbConflictCounter{Backend: shared}
	e1 := mbConcEngine(t, b1, secretstore.WithKeys(keys))
	e2 := mbConcEngine(t, b2, secretstore.WithKeys(keys))
	mbHammer(t, []*secretstore.Engine{e1, e2})
	c1, c2 := b1.conflicts.Load(), b2.conflicts.Load()
	t.Logf("compare-and-swap conflicts: engine 0 %d, engine 1 %d", c1, c2)
	if c1+c2 == 0 {
		t.Errorf("got no compare-and-swap conflict, want some: the retry path was not exercised")
	}
}

// mbConflictCounter passes calls through to a shared backend and counts the
// compare-and-swap conflicts it reports to its engine. It yields the
// processor after each record read, so that the other engine's writes land
// between an engine's read and its compare-and-swap even with GOMAXPROCS=1.
type mbConflictCounter struct {
	backend.Backend
	conflicts atomic.Int64
}

func (b *mbConflictCounter) GetRecord(ctx context.Context, key string, knownRevision uint64) (backend.Record, error) {
	rec, err := b.Backend.GetRecord(ctx, key, knownRevision)
	runtime.Gosched()
	return rec, err
}

func (b *mbConflictCounter) UpdateRecord(ctx context.Context, key string, revision uint64, data []byte) (uint64, error) {
	rev, err := b.Backend.UpdateRecord(ctx, key, revision, data)
	if errors.Is(err, backend.ErrConflict) {
		b.conflicts.Add(1)
	}
	return rev, err
}

// mbConcStats counts what the goroutines did.
type mbConcStats struct {
	puts, stagedPuts, updates, replays     int
	moves, movesRaced, gets, getsByVersion int
}

func (st *mbConcStats) add(o mbConcStats) {
	st.puts += o.puts
	st.stagedPuts += o.stagedPuts
	st.updates += o.updates
	st.replays += o.replays
	st.moves += o.moves
	st.movesRaced += o.movesRaced
	st.gets += o.gets
	st.getsByVersion += o.getsByVersion
}

// mbHammer runs mbConcGoroutines goroutines, each using engines[i%len],
// doing mbConcOps mixed operations on one secret, then checks the result.
func mbHammer(t *testing.T, engines []*secretstore.Engine) {
	t.Helper()
	ctx := context.Background()
	str, bin := mbConcValue(mbConcInitial)
	if _, err := engines[0].CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name: mbConcSecret, ClientRequestToken: mbConcInitial, SecretString: str, SecretBinary: bin,
	}); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}

	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		acked  = []string{mbConcInitial}
		totals mbConcStats
	)
	for g := range mbConcGoroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := engines[g%len(engines)]
			mine, st, err := mbWorker(ctx, e, g)
			mu.Lock()
			acked = append(acked, mine...)
			totals.add(st)
			mu.Unlock()
			if err != nil {
				t.Errorf("goroutine %d (engine %d): %v", g, g%len(engines), err)
			}
		}()
	}
	wg.Wait()
	t.Logf("puts %d (with stages %d), updates %d, replays %d, AWSCURRENT moves %d (%d attempts lost a race), gets %d (by VersionId %d), acknowledged versions %d",
		totals.puts, totals.stagedPuts, totals.updates, totals.replays, totals.moves, totals.movesRaced,
		totals.gets, totals.getsByVersion, len(acked))
	if t.Failed() {
		return
	}
	for i, e := range engines {
		mbConcCheck(t, e, i, acked)
	}
}

// mbWorker is one goroutine's work. It returns the versions whose creation
// was acknowledged, and the first unexpected result as an error.
func mbWorker(ctx context.Context, e *secretstore.Engine, g int) (mine []string, st mbConcStats, _ error) {
	rng := rand.New(rand.NewPCG(uint64(g), 0xc0ffee))
	extra := []string{secretstore.LabelPending, "MBC1", "MBC2", secretstore.LabelCurrent}
	for i := range mbConcOps {
		kind := "str"
		if rng.IntN(4) == 0 {
			kind = "bin"
		}
		tok := fmt.Sprintf("mbc-g%02d-%s-op%04d-00000000000000000000", g, kind, i)
		str, bin := mbConcValue(tok)
		switch r := rng.IntN(100); {
		case r < 22: // PutSecretValue without stages: AWSCURRENT moves to it
			out, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: mbConcSecret, ClientRequestToken: tok, SecretString: str, SecretBinary: bin})
			if err != nil {
				return mine, st, fmt.Errorf("PutSecretValue %s: %w", tok, err)
			}
			if out.VersionId != tok || !slices.Contains(out.VersionStages, secretstore.LabelCurrent) {
				return mine, st, fmt.Errorf("PutSecretValue %s: got VersionId %s stages %v, want %s with AWSCURRENT", tok, out.VersionId, out.VersionStages, tok)
			}
			mine = append(mine, tok)
			st.puts++
		case r < 35: // PutSecretValue with stages
			stages := []string{extra[rng.IntN(len(extra))]}
			if rng.IntN(2) == 0 {
				if l := extra[rng.IntN(len(extra))]; l != stages[0] {
					stages = append(stages, l)
				}
			}
			out, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: mbConcSecret, ClientRequestToken: tok, SecretString: str, SecretBinary: bin, VersionStages: stages})
			if err != nil {
				return mine, st, fmt.Errorf("PutSecretValue %s %v: %w", tok, stages, err)
			}
			// The response shows the labels as the call left them, so it
			// holds every label the call attached.
			for _, l := range stages {
				if !slices.Contains(out.VersionStages, l) {
					return mine, st, fmt.Errorf("PutSecretValue %s %v: got stages %v", tok, stages, out.VersionStages)
				}
			}
			mine = append(mine, tok)
			st.puts++
			st.stagedPuts++
		case r < 45: // UpdateSecret with a value
			out, err := e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: mbConcSecret, ClientRequestToken: tok, SecretString: str, SecretBinary: bin})
			if err != nil {
				return mine, st, fmt.Errorf("UpdateSecret %s: %w", tok, err)
			}
			if out.VersionId != tok {
				return mine, st, fmt.Errorf("UpdateSecret %s: got VersionId %s", tok, out.VersionId)
			}
			mine = append(mine, tok)
			st.updates++
		case r < 50: // a retry of an earlier write of this goroutine: no-op
			if len(mine) == 0 {
				continue
			}
			old := mine[rng.IntN(len(mine))]
			ostr, obin := mbConcValue(old)
			out, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: mbConcSecret, ClientRequestToken: old, SecretString: ostr, SecretBinary: obin})
			if err != nil {
				return mine, st, fmt.Errorf("PutSecretValue replay %s: %w", old, err)
			}
			if out.VersionId != old {
				return mine, st, fmt.Errorf("PutSecretValue replay %s: got VersionId %s", old, out.VersionId)
			}
			st.replays++
		case r < 72: // move AWSCURRENT, naming the holder Describe reports
			moved, raced, err := mbConcMove(ctx, e, rng, mine)
			if err != nil {
				return mine, st, err
			}
			st.movesRaced += raced
			if moved {
				st.moves++
			}
		case r < 90: // GetSecretValue of AWSCURRENT
			out, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: mbConcSecret})
			if err != nil {
				return mine, st, fmt.Errorf("GetSecretValue: %w", err)
			}
			if !slices.Contains(out.VersionStages, secretstore.LabelCurrent) {
				return mine, st, fmt.Errorf("GetSecretValue: version %s has stages %v, want AWSCURRENT among them", out.VersionId, out.VersionStages)
			}
			if err := mbConcCheckValue(out); err != nil {
				return mine, st, fmt.Errorf("GetSecretValue: %w", err)
			}
			st.gets++
		default: // GetSecretValue of a version this goroutine wrote
			if len(mine) == 0 {
				continue
			}
			id := mine[rng.IntN(len(mine))]
			out, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: mbConcSecret, VersionId: id})
			if err != nil {
				return mine, st, fmt.Errorf("GetSecretValue(%s): %w", id, err)
			}
			if err := mbConcCheckValue(out); err != nil {
				return mine, st, fmt.Errorf("GetSecretValue(%s): %w", id, err)
			}
			st.getsByVersion++
		}
	}
	return mine, st, nil
}

// mbConcMove moves AWSCURRENT to a random version, naming in
// RemoveFromVersionId the holder that DescribeSecret reports. Another writer
// may move AWSCURRENT in between, and then the call fails with
// InvalidParameterException and changes nothing; mbConcMove tries up to
// three times and reports how many attempts lost such a race.
func mbConcMove(ctx context.Context, e *secretstore.Engine, rng *rand.Rand, mine []string) (moved bool, raced int, _ error) {
	for range 3 {
		d, err := e.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: mbConcSecret})
		if err != nil {
			return false, raced, fmt.Errorf("DescribeSecret: %w", err)
		}
		holder := ""
		var ids []string
		for id, stages := range d.VersionIdsToStages {
			ids = append(ids, id)
			if slices.Contains(stages, secretstore.LabelCurrent) {
				if holder != "" {
					return false, raced, fmt.Errorf("DescribeSecret: AWSCURRENT on %s and %s", holder, id)
				}
				holder = id
			}
		}
		if holder == "" {
			return false, raced, fmt.Errorf("DescribeSecret: no AWSCURRENT in %v", d.VersionIdsToStages)
		}
		slices.Sort(ids)
		target := ids[rng.IntN(len(ids))]
		if len(mine) > 0 && rng.IntN(2) == 0 {
			target = mine[rng.IntN(len(mine))] // possibly deprecated by now
		}
		_, err = e.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
			SecretId: mbConcSecret, VersionStage: secretstore.LabelCurrent, RemoveFromVersionId: holder, MoveToVersionId: target,
		})
		switch {
		case err == nil:
			return true, raced, nil
		case errors.Is(err, secretstore.ErrInvalidParameter):
			raced++ // AWSCURRENT moved between DescribeSecret and this call
		default:
			return false, raced, fmt.Errorf("UpdateSecretVersionStage(AWSCURRENT %s -> %s): %w", holder, target, err)
		}
	}
	return false, raced, nil
}

// mbConcCheck checks, through engine e, that the secret holds exactly the
// acknowledged versions with their values, and the label invariants.
func mbConcCheck(t *testing.T, e *secretstore.Engine, engine int, acked []string) {
	t.Helper()
	ctx := context.Background()
	var listed []secretstore.SecretVersionsListEntry
	for next := ""; ; {
		out, err := e.ListSecretVersionIds(ctx, &secretstore.ListSecretVersionIdsInput{
			SecretId: mbConcSecret, IncludeDeprecated: true, MaxResults: 100, NextToken: next,
		})
		if err != nil {
			t.Fatalf("engine %d: ListSecretVersionIds: %v", engine, err)
		}
		listed = append(listed, out.Versions...)
		if out.NextToken == "" {
			break
		}
		next = out.NextToken
	}
	var got []string
	holders := map[string][]string{}
	for _, v := range listed {
		got = append(got, v.VersionId)
		for _, l := range v.VersionStages {
			holders[l] = append(holders[l], v.VersionId)
		}
	}
	want := slices.Clone(acked)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		var lost, extra []string
		for _, id := range want {
			if _, ok := slices.BinarySearch(got, id); !ok {
				lost = append(lost, id)
			}
		}
		for _, id := range got {
			if _, ok := slices.BinarySearch(want, id); !ok {
				extra = append(extra, id)
			}
		}
		t.Fatalf("engine %d: got %d versions, want the %d acknowledged ones; lost %v; unexpected %v", engine, len(got), len(want), lost, extra)
	}
	for l, hs := range holders {
		if len(hs) != 1 {
			t.Errorf("engine %d: label %s on %d versions %v, want 1", engine, l, len(hs), hs)
		}
	}
	if n := len(holders[secretstore.LabelCurrent]); n != 1 {
		t.Fatalf("engine %d: %d versions hold AWSCURRENT, want 1", engine, n)
	}
	if p := holders[secretstore.LabelPrevious]; len(p) != 1 || p[0] == holders[secretstore.LabelCurrent][0] {
		t.Errorf("engine %d: AWSPREVIOUS on %v (AWSCURRENT on %v), want one other version", engine, p, holders[secretstore.LabelCurrent])
	}
	// DescribeSecret agrees with the listing.
	d, err := e.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: mbConcSecret})
	if err != nil {
		t.Fatalf("engine %d: DescribeSecret: %v", engine, err)
	}
	for l, hs := range holders {
		if !slices.Contains(d.VersionIdsToStages[hs[0]], l) {
			t.Errorf("engine %d: DescribeSecret shows %s with %v, want %s among them", engine, hs[0], d.VersionIdsToStages[hs[0]], l)
		}
	}
	// Every acknowledged version still holds its value.
	for _, id := range acked {
		out, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: mbConcSecret, VersionId: id})
		if err != nil {
			t.Errorf("engine %d: GetSecretValue(%s): %v", engine, id, err)
			continue
		}
		if err := mbConcCheckValue(out); err != nil {
			t.Errorf("engine %d: %v", engine, err)
		}
	}
}
