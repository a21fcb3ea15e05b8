//go:build unix

package filebackend_test

import (
	"context"
	"encoding/hex"
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
	"github.com/secretstore/secretstore/backend/filebackend"
)

// This file holds TestCrashRecovery and the helpers that the crash and
// multi-process tests share: opening an engine over a directory with a fixed
// master key, values any reader can recompute from a VersionId, the label
// invariants, and re-executing the test binary as a child process.

// Environment variables of the crash test.
const (
	// fxCrashChildEnv, set in a child process, names the store directory;
	// its presence is what makes TestCrashChild do anything.
	fxCrashChildEnv = "SECRETSTORE_CRASH_CHILD"
	// fxCrashSeedEnv, set in a child process, is its random seed.
	fxCrashSeedEnv = "SECRETSTORE_CRASH_SEED"
	// fxCrashSealEnv, set in a child process, is the size at which its
	// Backend seals the log (filebackend.WithSealSize); every other
	// child gets fxCrashSealSize.
	fxCrashSealEnv  = "SECRETSTORE_CRASH_SEAL_SIZE"
	fxCrashSealSize = 16 << 10
	// fxCrashIterationsEnv, set by whoever runs the tests, is how many
	// times TestCrashRecovery kills a child (default fxCrashIterations).
	fxCrashIterationsEnv = "SECRETSTORE_CRASH_ITERATIONS"
)

const (
	// fxCrashIterations is how many children TestCrashRecovery kills by
	// default.
	fxCrashIterations = 20
	// fxCrashChain is how many crashes one store directory goes through
	// before TestCrashRecovery starts a fresh one, so that a long run (a
	// large SECRETSTORE_CRASH_ITERATIONS) does not pile up versions without
	// end. Every other store is of format version 1.
	fxCrashChain = 10
)

// fxMasterKeyHex is the master key of the stores the crash and multi-process
// tests write: every process that opens one of them uses it.
const fxMasterKeyHex = "6f3c1e0a9b2d4c8e7f10325476a8b9cadcfe0123456789abcdef0011223344ff"

// fxCrashSecrets are the secrets a crash child writes.
var fxCrashSecrets = []string{"crash/a", "crash/b", "crash/c"}

// fxOpenEngine opens a filebackend over dir and an engine over it that uses
// fxMasterKeyHex and keeps every version (WithMaxVersions(100000)), so that
// nothing is pruned under the tests' feet. The caller closes the backend.
func fxOpenEngine(dir string, opts ...secretstore.Option) (*secretstore.Engine, *filebackend.Backend, error) {
	master, err := hex.DecodeString(fxMasterKeyHex)
	if err != nil {
		return nil, nil, err
	}
	keys, err := secretstore.NewLocalKeys(master)
	if err != nil {
		return nil, nil, err
	}
	var bopts []filebackend.Option
	if s := os.Getenv(fxCrashSealEnv); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("bad %s: %v", fxCrashSealEnv, err)
		}
		bopts = append(bopts, filebackend.WithSealSize(n))
	}
	b, err := filebackend.Open(dir, bopts...)
	if err != nil {
		return nil, nil, err
	}
	all := append([]secretstore.Option{secretstore.WithKeys(keys), secretstore.WithMaxVersions(100000)}, opts...)
	e, err := secretstore.New(b, all...)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return e, b, nil
}

// TestCrashChild is not a test but the child process of TestCrashRecovery,
// which runs the test binary again with -test.run=^TestCrashChild$ and
// SECRETSTORE_CRASH_CHILD set to a store directory. The child writes to the
// store until it is killed. Without the variable (a normal test run) it
// returns at once and passes, by design: it has nothing to check.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(fxCrashChildEnv)
	if dir == "" {
		return // not a child process; see the comment above
	}
	seed, err := strconv.ParseUint(os.Getenv(fxCrashSeedEnv), 10, 64)
	if err != nil {
		backendtest.ChildFail(fmt.Errorf("bad %s: %v", fxCrashSeedEnv, err))
	}
	backendtest.ChildFail(fxCrashChild(dir, seed)) // fxCrashChild returns only on failure
}

// fxCrashSecretState is what a crash child knows of one of its secrets.
type fxCrashSecretState struct {
	cur      string   // AWSCURRENT holder
	versions []string // every version, to move labels to
}

// fxCrashChild writes to the store in dir for ever: PutSecretValue with and
// without VersionStages, UpdateSecretVersionStage moves of AWSCURRENT and of
// a custom label, UpdateSecret with and without a value. Before each call it
// prints "BEGIN op secret versionId current description", and after the call
// succeeded "ACK" and the same fields: versionId is the version the call
// creates or moves a label to ("-" if none), current the version that holds
// AWSCURRENT once the call has taken effect, description the new description
// ("-" if unchanged). It prints "READY" once it has opened the store and
// made sure its secrets exist.
func fxCrashChild(dir string, seed uint64) error {
	ctx := context.Background()
	e, b, err := fxOpenEngine(dir)
	if err != nil {
		return err
	}
	defer b.Close()
	r := rand.New(rand.NewPCG(seed, 0x5ec2e75))
	state := map[string]*fxCrashSecretState{}
	for _, name := range fxCrashSecrets {
		tok := backendtest.Token(r)
		s, bin := backendtest.Value(tok)
		backendtest.Emit("BEGIN", "create", name, tok, tok, "created")
		_, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{
			Name: name, ClientRequestToken: tok, SecretString: s, SecretBinary: bin, Description: "created",
		})
		switch {
		case err == nil:
			backendtest.Emit("ACK", "create", name, tok, tok, "created")
			state[name] = &fxCrashSecretState{cur: tok, versions: []string{tok}}
			continue
		case !errors.Is(err, secretstore.ErrResourceExists):
			return err
		}
		// An earlier child made it: carry on from what it left.
		st, err := backendtest.CheckLabels(ctx, e, name)
		if err != nil {
			return err
		}
		state[name] = &fxCrashSecretState{cur: st.Labels[secretstore.LabelCurrent], versions: st.Versions}
	}
	backendtest.Emit("READY")

	for i := 0; ; i++ {
		name := fxCrashSecrets[r.IntN(len(fxCrashSecrets))]
		s := state[name]
		tok := backendtest.Token(r)
		str, bin := backendtest.Value(tok)
		desc := fmt.Sprintf("desc-%d-%d", seed, i)
		target := s.versions[r.IntN(len(s.versions))]
		switch p := r.IntN(100); {
		case p < 40: // PutSecretValue: the new version takes AWSCURRENT
			backendtest.Emit("BEGIN", "put", name, tok, tok, "-")
			if _, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
				SecretId: name, ClientRequestToken: tok, SecretString: str, SecretBinary: bin,
			}); err != nil {
				return err
			}
			backendtest.Emit("ACK", "put", name, tok, tok, "-")
			s.cur = tok
			s.versions = append(s.versions, tok)

		case p < 55: // PutSecretValue with labels that leave AWSCURRENT alone
			stages := [][]string{{"BLUE"}, {secretstore.LabelPending}, {"GREEN", secretstore.LabelPending}}[r.IntN(3)]
			backendtest.Emit("BEGIN", "put-staged", name, tok, s.cur, "-")
			if _, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
				SecretId: name, ClientRequestToken: tok, SecretString: str, SecretBinary: bin, VersionStages: stages,
			}); err != nil {
				return err
			}
			backendtest.Emit("ACK", "put-staged", name, tok, s.cur, "-")
			s.versions = append(s.versions, tok)

		case p < 80: // move AWSCURRENT to an older version
			if target == s.cur {
				continue
			}
			backendtest.Emit("BEGIN", "move-current", name, target, target, "-")
			if _, err := e.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
				SecretId: name, VersionStage: secretstore.LabelCurrent, RemoveFromVersionId: s.cur, MoveToVersionId: target,
			}); err != nil {
				return err
			}
			backendtest.Emit("ACK", "move-current", name, target, target, "-")
			s.cur = target

		case p < 88: // move the custom label BLUE, from whichever version has it
			st, err := backendtest.CheckLabels(ctx, e, name)
			if err != nil {
				return err
			}
			backendtest.Emit("BEGIN", "move-blue", name, target, s.cur, "-")
			if _, err := e.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
				SecretId: name, VersionStage: "BLUE", RemoveFromVersionId: st.Labels["BLUE"], MoveToVersionId: target,
			}); err != nil {
				return err
			}
			backendtest.Emit("ACK", "move-blue", name, target, s.cur, "-")

		case p < 96: // UpdateSecret with a value and a description
			backendtest.Emit("BEGIN", "update", name, tok, tok, desc)
			if _, err := e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{
				SecretId: name, ClientRequestToken: tok, SecretString: str, SecretBinary: bin, Description: &desc,
			}); err != nil {
				return err
			}
			backendtest.Emit("ACK", "update", name, tok, tok, desc)
			s.cur = tok
			s.versions = append(s.versions, tok)

		default: // UpdateSecret of the description only
			backendtest.Emit("BEGIN", "update-description", name, "-", s.cur, desc)
			if _, err := e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{SecretId: name, Description: &desc}); err != nil {
				return err
			}
			backendtest.Emit("ACK", "update-description", name, "-", s.cur, desc)
		}
	}
}

// fxCrashLine is one BEGIN or ACK line of a crash child.
type fxCrashLine struct {
	kind, op, secret, vid, cur, desc string
}

func fxParseCrashLine(line string) (fxCrashLine, bool) {
	f := strings.Fields(line)
	if len(f) != 6 || (f[0] != "BEGIN" && f[0] != "ACK") {
		return fxCrashLine{}, false
	}
	return fxCrashLine{f[0], f[1], f[2], f[3], f[4], f[5]}, true
}

// fxCrashModel is what the parent knows must have survived a crash.
type fxCrashModel struct {
	// cur and desc are, per secret, the AWSCURRENT holder and description
	// after the last acknowledged change (or as the parent last saw them).
	cur, desc map[string]string
	// acked maps every version known to exist (acknowledged, or seen by the
	// parent after a crash) to its secret.
	acked map[string]string
	// begun maps every version a child announced to its secret.
	begun map[string]string
}

func newFxCrashModel() *fxCrashModel {
	return &fxCrashModel{cur: map[string]string{}, desc: map[string]string{}, acked: map[string]string{}, begun: map[string]string{}}
}

// fxCrashStats counts what TestCrashRecovery saw, for its log.
type fxCrashStats struct {
	acks, inFlightApplied, inFlightLost, swept, versions int
}

// TestCrashRecovery kills a writing child process with SIGKILL at a random
// moment, again and again over the same store, and after each crash reopens
// the store and checks that every acknowledged write survived whole: each
// acknowledged version holds its exact value, the labels are where the last
// acknowledged change (or the call in flight) put them, the label
// invariants hold, no version appears that no child announced, and a Sweep
// with minAge 0 breaks no value.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	iterations := fxCrashIterations
	if s := os.Getenv(fxCrashIterationsEnv); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "%s", fxCrashIterationsEnv)
		require.Positive(t, n, "%s", fxCrashIterationsEnv)
		iterations = n
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d iterations", seed, iterations)
	r := rand.New(rand.NewPCG(seed, 1))
	start := time.Now()

	var dir string
	var model *fxCrashModel
	var stats fxCrashStats
	for it := 0; it < iterations; it++ {
		if it%fxCrashChain == 0 {
			dir = t.TempDir()
			model = newFxCrashModel()
			if (it/fxCrashChain)%2 == 1 {
				b, err := filebackend.Open(dir, filebackend.WithFormatVersion(1))
				require.NoError(t, err)
				require.NoError(t, b.Close())
			}
		}
		pending := fxCrashRun(t, dir, seed+uint64(it)*7919, time.Duration(10+r.IntN(291))*time.Millisecond, model, &stats)
		if t.Failed() {
			t.Fatalf("iteration %d failed (seed %d)", it, seed)
		}
		fxCrashVerify(t, dir, model, pending, &stats)
		if t.Failed() {
			t.Fatalf("iteration %d failed (seed %d)", it, seed)
		}
	}
	t.Logf("%d crashes in %v: %d acknowledged calls; the call in flight had taken effect %d times, not %d times; Sweep deleted %d orphan blobs; %d versions checked at the end",
		iterations, time.Since(start).Round(time.Millisecond), stats.acks, stats.inFlightApplied, stats.inFlightLost, stats.swept, stats.versions)
}

// fxCrashRun runs one crash child over dir, kills it delay after it is
// ready, and folds its acknowledgements into model. It returns the call that
// was in flight when the child died, if any.
func fxCrashRun(t *testing.T, dir string, seed uint64, delay time.Duration, model *fxCrashModel, stats *fxCrashStats) *fxCrashLine {
	t.Helper()
	var lines []string // read by this goroutine only after c.Done
	ready := make(chan struct{})
	readySeen := false
	onLine := func(l string) {
		if l == "READY" && !readySeen {
			readySeen = true
			close(ready)
		}
		lines = append(lines, l)
	}
	env := []string{fxCrashChildEnv + "=" + dir, fxCrashSeedEnv + "=" + strconv.FormatUint(seed, 10)}
	if seed%2 == 1 {
		// Seal the log every few writes, so that kills land in seals
		// and checkpoints too.
		env = append(env, fxCrashSealEnv+"="+strconv.Itoa(fxCrashSealSize))
	}
	c := backendtest.StartChild(t, "TestCrashChild", nil, onLine, env...)
	select {
	case <-ready:
		time.Sleep(delay)
	case <-c.Done:
	case <-time.After(time.Minute):
		t.Error("the child did not get ready within a minute")
	}
	killErr := c.Cmd.Process.Kill()
	waitErr := c.Wait()
	select {
	case <-ready:
	default:
		t.Errorf("the child died before it was ready (kill: %v, wait: %v); stderr:\n%s", killErr, waitErr, c.Stderr)
		return nil
	}
	if c.Cmd.ProcessState.ExitCode() != -1 { // -1: killed by a signal, as intended
		t.Errorf("the child exited by itself (%v) before it was killed; stderr:\n%s", waitErr, c.Stderr)
		return nil
	}

	var pending *fxCrashLine
	for _, l := range lines {
		op, ok := fxParseCrashLine(l)
		if !ok {
			continue
		}
		switch op.kind {
		case "BEGIN":
			// The child makes one call at a time: a BEGIN means the
			// previous call returned.
			pending = &op
			if op.vid != "-" && op.op != "move-current" && op.op != "move-blue" {
				model.begun[op.vid] = op.secret
			}
		case "ACK":
			if pending == nil || *pending != (fxCrashLine{"BEGIN", op.op, op.secret, op.vid, op.cur, op.desc}) {
				t.Fatalf("ACK %v does not match the BEGIN before it (%v)", op, pending)
			}
			pending = nil
			stats.acks++
			if _, ok := model.begun[op.vid]; ok {
				model.acked[op.vid] = op.secret
			}
			model.cur[op.secret] = op.cur
			if op.desc != "-" {
				model.desc[op.secret] = op.desc
			}
		}
	}
	return pending
}

// fxCrashVerify reopens the store in dir after a crash and checks it
// against model, given the call that was in flight (nil if none). It then
// updates model to what it found, which a later crash must keep.
func fxCrashVerify(t *testing.T, dir string, model *fxCrashModel, pending *fxCrashLine, stats *fxCrashStats) {
	t.Helper()
	ctx := t.Context()
	e, b, err := fxOpenEngine(dir)
	require.NoError(t, err, "reopening the store after a crash")
	defer func() { assert.NoError(t, b.Close()) }()

	secrets := map[string]bool{}
	for name := range model.cur {
		secrets[name] = true
	}
	if pending != nil {
		secrets[pending.secret] = true
	}
	states := map[string]*backendtest.SecretState{}
	for name := range secrets {
		st, err := backendtest.CheckLabels(ctx, e, name)
		if errors.Is(err, secretstore.ErrResourceNotFound) && pending != nil && pending.op == "create" &&
			pending.secret == name && model.cur[name] == "" {
			continue // the create in flight did not happen
		}
		if !assert.NoError(t, err, "after the crash") {
			continue
		}
		states[name] = st
		inFlight := pending != nil && pending.secret == name
		got := st.Labels[secretstore.LabelCurrent]
		if want := model.cur[name]; got != want && !(inFlight && got == pending.cur) {
			t.Errorf("%s: AWSCURRENT is on %s, want %s (last acknowledged) or the call in flight %v", name, got, want, pending)
		}
		if want := model.desc[name]; st.Description != want && !(inFlight && pending.desc != "-" && st.Description == pending.desc) {
			t.Errorf("%s: description is %q, want %q (last acknowledged) or the call in flight %v", name, st.Description, want, pending)
		}
		present := map[string]bool{}
		for _, vid := range st.Versions {
			present[vid] = true
			if model.begun[vid] != name {
				t.Errorf("%s: version %s exists but no child announced it for this secret", name, vid)
			}
			assert.NoError(t, backendtest.CheckValue(ctx, e, name, vid))
		}
		for vid, secret := range model.acked {
			if secret == name && !present[vid] {
				t.Errorf("%s: acknowledged version %s is missing after the crash", name, vid)
			}
		}
		if pending != nil && pending.secret == name {
			applied := got == pending.cur && got != model.cur[name]
			if pending.vid != "-" && model.begun[pending.vid] == name {
				applied = applied || present[pending.vid]
			}
			if applied {
				stats.inFlightApplied++
			} else {
				stats.inFlightLost++
			}
		}
	}
	if t.Failed() {
		return
	}

	// Sweep with minAge 0 deletes every blob no record refers to. With no
	// writer running, that must leave every value readable.
	n, err := e.Sweep(ctx, 0)
	require.NoError(t, err, "Sweep")
	stats.swept += n
	stats.versions = 0
	for name, st := range states {
		again, err := backendtest.CheckLabels(ctx, e, name)
		require.NoError(t, err, "after Sweep")
		assert.Equal(t, st.Labels, again.Labels, "%s: labels changed across Sweep", name)
		assert.Equal(t, st.Versions, again.Versions, "%s: versions changed across Sweep", name)
		for _, vid := range st.Versions {
			assert.NoError(t, backendtest.CheckValue(ctx, e, name, vid), "after Sweep")
		}
		stats.versions += len(st.Versions)

		// What the parent has seen is now durable: a later crash must keep it.
		model.cur[name] = st.Labels[secretstore.LabelCurrent]
		model.desc[name] = st.Description
		for _, vid := range st.Versions {
			model.acked[vid] = name
		}
	}

	// A second handle on the same directory sees the same thing.
	e2, b2, err := fxOpenEngine(dir)
	require.NoError(t, err, "a second handle")
	defer func() { assert.NoError(t, b2.Close()) }()
	for name, st := range states {
		again, err := backendtest.CheckLabels(ctx, e2, name)
		require.NoError(t, err, "second handle")
		assert.Equal(t, st.Labels, again.Labels, "%s: second handle", name)
		assert.Equal(t, st.Versions, again.Versions, "%s: second handle", name)
	}
}
