package secretstore_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend/membackend"
)

// TestModelRandomOps runs random operation sequences against the engine and,
// next to it, against a tiny reference model of the Secrets Manager rules
// (SPEC.md §1.3, §2, §3), in the style of bbolt's simulation_test.go. The
// model predicts whether each call succeeds (and with which error) and what
// the state is afterwards; after every step the engine's state must match.
//
// The seeds are fixed so that CI is reproducible. To replay a failure, or
// to explore further, set SECRETSTORE_MODEL_SEED to a seed (or to "random").
func TestModelRandomOps(t *testing.T) {
	t.Parallel()
	const defaultSeeds, steps = 50, 200
	var seeds []uint64
	switch env := os.Getenv("SECRETSTORE_MODEL_SEED"); env {
	case "":
		for i := range defaultSeeds {
			seeds = append(seeds, uint64(i+1))
		}
	case "random":
		seeds = []uint64{uint64(time.Now().UnixNano())}
	default:
		seed, err := strconv.ParseUint(env, 10, 64)
		if err != nil {
			t.Fatalf("SECRETSTORE_MODEL_SEED=%q: %v", env, err)
		}
		seeds = []uint64{seed}
	}
	stats := &mbStats{counts: map[string]int{}}
	t.Run("seeds", func(t *testing.T) {
		for _, seed := range seeds {
			t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) {
				t.Parallel()
				sim := newMBSim(t, seed)
				defer func() {
					if t.Failed() {
						t.Logf("replay with SECRETSTORE_MODEL_SEED=%d", seed)
					}
				}()
				for sim.step = 1; sim.step <= steps; sim.step++ {
					sim.randomStep()
					sim.checkState()
				}
				sim.checkAllValues()
				sim.stats["(model) versions pruned"] = sim.m.pruned
				sim.stats["(model) secrets purged after the recovery window"] = sim.m.purged
				stats.add(sim.stats)
			})
		}
	})
	t.Logf("seeds %d, steps %d; outcomes:\n%s", len(seeds), len(seeds)*steps, stats)
}

// ---- the reference model ----

const (
	mbMaxVersions = 8
	mbPruneAge    = 24 * time.Hour
	mbMaxLabels   = 20
)

var (
	mbEpoch     = time.Date(2026, time.January, 5, 9, 0, 0, 0, time.UTC)
	mbNameRE    = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]{1,512}$`)
	mbLabelPool = []string{secretstore.LabelCurrent, secretstore.LabelPending, secretstore.LabelPrevious,
		"MBCUSTOM1", "MBCUSTOM2", "MBCUSTOM3"}
)

// mbVal is a secret value: its kind and its bytes.
type mbVal struct {
	binary bool
	data   string
}

func (v mbVal) String() string {
	if v.binary {
		return fmt.Sprintf("bin(%x)", v.data)
	}
	return fmt.Sprintf("str(%q)", v.data)
}

type mbVer struct {
	id      string
	val     mbVal
	created time.Time
}

// mbSec is the model of one secret.
type mbSec struct {
	arn         string
	description string
	versions    []mbVer           // oldest first
	labels      map[string]string // label -> VersionId: one version per label by construction
	deletion    time.Time         // zero while active

	// AWSPREVIOUS must be on lastLeft (the version AWSCURRENT last moved
	// away from; "" for none yet) while prevTracked holds, that is, unless a
	// call placed or moved AWSPREVIOUS explicitly since.
	lastLeft    string
	prevTracked bool
}

func (s *mbSec) clone() *mbSec {
	c := *s
	c.versions = slices.Clone(s.versions)
	c.labels = maps.Clone(s.labels)
	return &c
}

func (s *mbSec) find(id string) (mbVer, bool) {
	for _, v := range s.versions {
		if v.id == id {
			return v, true
		}
	}
	return mbVer{}, false
}

func (s *mbSec) labelled(id string) bool {
	for _, v := range s.labels {
		if v == id {
			return true
		}
	}
	return false
}

// stagesOf returns the sorted labels of version id, nil if none.
func (s *mbSec) stagesOf(id string) []string {
	var out []string
	for l, v := range s.labels {
		if v == id {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// putLabels applies SPEC §2.2 steps 3-6 for a value stored in version v.
func (s *mbSec) putLabels(v string, stages []string) {
	l := stages
	if l == nil {
		l = []string{secretstore.LabelCurrent}
	}
	if len(s.versions) == 0 && !slices.Contains(l, secretstore.LabelCurrent) {
		l = append(slices.Clone(l), secretstore.LabelCurrent)
	}
	w := s.labels[secretstore.LabelCurrent]
	for _, label := range l {
		s.labels[label] = v // attaching takes it off whichever version held it
	}
	if slices.Contains(l, secretstore.LabelCurrent) && w != "" && w != v {
		if s.labels[secretstore.LabelPending] == w {
			delete(s.labels, secretstore.LabelPending)
		}
		if !slices.Contains(l, secretstore.LabelPrevious) {
			s.labels[secretstore.LabelPrevious] = w
			s.lastLeft, s.prevTracked = w, true
		}
	}
	if slices.Contains(l, secretstore.LabelPrevious) {
		s.prevTracked = false
	}
}

// prune applies SPEC §3: while there are more than max versions, delete the
// oldest version without labels that is at least the prune age old. It
// reports whether the secret is still over the limit. Versions are kept in
// creation order, which breaks ties between equal creation times.
func (s *mbSec) prune(now time.Time) (over bool) {
	for len(s.versions) > mbMaxVersions {
		i := slices.IndexFunc(s.versions, func(v mbVer) bool {
			return !s.labelled(v.id) && now.Sub(v.created) >= mbPruneAge
		})
		if i < 0 {
			return true
		}
		s.versions = slices.Delete(s.versions, i, i+1)
	}
	return false
}

type mbModel struct {
	now     time.Time
	secrets map[string]*mbSec // by name

	pruned, purged int // for the coverage statistics
}

func (m *mbModel) advance(d time.Duration) {
	m.now = m.now.Add(d)
	for name, s := range m.secrets {
		if !s.deletion.IsZero() && !m.now.Before(s.deletion) {
			delete(m.secrets, name)
			m.purged++
		}
	}
}

// resolve finds the secret a SecretId names (SPEC §2.0): by name, or by
// exact full ARN. It returns the Validation sentinel for an invalid name.
func (m *mbModel) resolve(id string) (string, *mbSec, error) {
	if !strings.HasPrefix(id, "arn:") {
		if !mbNameRE.MatchString(id) {
			return "", nil, secretstore.ErrValidation
		}
		return id, m.secrets[id], nil
	}
	for name, s := range m.secrets {
		if s.arn == id {
			return name, s, nil
		}
	}
	return "", nil, nil
}

// existing resolves id for an operation that needs the secret to exist,
// and, unless allowScheduled, not to be scheduled for deletion.
func (m *mbModel) existing(id string, allowScheduled bool) (string, *mbSec, error) {
	name, s, err := m.resolve(id)
	switch {
	case err != nil:
		return "", nil, err
	case s == nil:
		return "", nil, secretstore.ErrResourceNotFound
	case !allowScheduled && !s.deletion.IsZero():
		return "", nil, secretstore.ErrInvalidRequest
	}
	return name, s, nil
}

func mbValidToken(tok string) bool { return len(tok) >= 32 && len(tok) <= 64 }

// mbValueIn is the value part of a write request.
type mbValueIn struct {
	val   *mbVal
	both  bool // SecretString and SecretBinary both set
	empty bool // an empty SecretString
}

// checkModel returns the model-validation error of a malformed value (SPEC
// §1.4), which AWS reports before parameter combinations.
func (in mbValueIn) checkModel() error {
	if in.empty {
		return secretstore.ErrValidation
	}
	return nil
}

// checkBoth returns E17 for a request with both value kinds (SPEC §1.5).
func (in mbValueIn) checkBoth() error {
	if in.both {
		return secretstore.ErrInvalidParameter
	}
	return nil
}

func (in mbValueIn) present() bool { return in.val != nil || in.both || in.empty }

func mbCheckStages(stages []string) error {
	if stages == nil {
		return nil
	}
	if len(stages) == 0 || len(stages) > 20 {
		return secretstore.ErrValidation
	}
	for _, l := range stages {
		if len(l) == 0 || len(l) > 256 {
			return secretstore.ErrValidation
		}
	}
	return nil
}

// store is the common core of PutSecretValue and UpdateSecret on a copy of
// the secret: idempotency, label moves, quotas and pruning.
func (m *mbModel) store(s *mbSec, tok string, val mbVal, stages []string) (replay bool, err error) {
	if v, ok := s.find(tok); ok {
		if v.val == val {
			return true, nil
		}
		return false, secretstore.ErrResourceExists
	}
	s.putLabels(tok, stages)
	if len(s.labels) > mbMaxLabels {
		return false, secretstore.ErrLimitExceeded
	}
	s.versions = append(s.versions, mbVer{id: tok, val: val, created: m.now})
	n := len(s.versions)
	if s.prune(m.now) {
		return false, secretstore.ErrLimitExceeded
	}
	m.pruned += n - len(s.versions)
	return false, nil
}

// create models CreateSecret (SPEC §2.1). It returns the secret to insert,
// or nil for an idempotent replay.
func (m *mbModel) create(name, tok, arn string, in mbValueIn) (*mbSec, error) {
	if !mbNameRE.MatchString(name) {
		return nil, secretstore.ErrValidation
	}
	if err := in.checkModel(); err != nil {
		return nil, err
	}
	if tok != "" && !mbValidToken(tok) {
		return nil, secretstore.ErrValidation
	}
	if err := in.checkBoth(); err != nil {
		return nil, err
	}
	if s := m.secrets[name]; s != nil {
		if !s.deletion.IsZero() {
			return nil, secretstore.ErrInvalidRequest
		}
		if v, ok := s.find(tok); ok && in.val != nil {
			if v.val == *in.val {
				return nil, nil
			}
		}
		return nil, secretstore.ErrResourceExists
	}
	s := &mbSec{arn: arn, labels: map[string]string{}, prevTracked: true}
	if in.val != nil {
		s.versions = []mbVer{{id: tok, val: *in.val, created: m.now}}
		s.labels[secretstore.LabelCurrent] = tok
	}
	return s, nil
}

// put models PutSecretValue (SPEC §2.2).
func (m *mbModel) put(id, tok string, in mbValueIn, stages []string) (name string, next *mbSec, replay bool, err error) {
	if _, _, err := m.resolve(id); err != nil {
		return "", nil, false, err
	}
	if err := mbCheckStages(stages); err != nil {
		return "", nil, false, err
	}
	if err := in.checkModel(); err != nil {
		return "", nil, false, err
	}
	if tok != "" && !mbValidToken(tok) {
		return "", nil, false, secretstore.ErrValidation
	}
	if err := in.checkBoth(); err != nil {
		return "", nil, false, err
	}
	if in.val == nil {
		return "", nil, false, secretstore.ErrInvalidRequest
	}
	name, s, err := m.existing(id, false)
	if err != nil {
		return "", nil, false, err
	}
	next = s.clone()
	replay, err = m.store(next, tok, *in.val, stages)
	return name, next, replay, err
}

// update models UpdateSecret (SPEC §2.3).
func (m *mbModel) update(id, tok string, in mbValueIn, desc *string) (name string, next *mbSec, err error) {
	if _, _, err := m.resolve(id); err != nil {
		return "", nil, err
	}
	if err := in.checkModel(); err != nil {
		return "", nil, err
	}
	if tok != "" && !mbValidToken(tok) {
		return "", nil, secretstore.ErrValidation
	}
	if err := in.checkBoth(); err != nil {
		return "", nil, err
	}
	name, s, err := m.existing(id, false)
	if err != nil {
		return "", nil, err
	}
	next = s.clone()
	if desc != nil {
		next.description = *desc
	}
	if in.val != nil {
		if _, err := m.store(next, tok, *in.val, nil); err != nil {
			return "", nil, err
		}
	}
	return name, next, nil
}

// moveStage models UpdateSecretVersionStage (SPEC §2.7).
func (m *mbModel) moveStage(id, label, remove, move string) (name string, next *mbSec, err error) {
	if _, _, err := m.resolve(id); err != nil {
		return "", nil, err
	}
	if len(label) == 0 || len(label) > 256 {
		return "", nil, secretstore.ErrValidation
	}
	for _, v := range []string{remove, move} {
		if v != "" && !mbValidToken(v) {
			return "", nil, secretstore.ErrValidation
		}
	}
	name, s, err := m.existing(id, false)
	if err != nil {
		return "", nil, err
	}
	for _, v := range []string{remove, move} {
		if _, ok := s.find(v); v != "" && !ok {
			return "", nil, secretstore.ErrInvalidParameter
		}
	}
	h := s.labels[label]
	switch {
	case remove != "" && remove != h: // the label is not on RemoveFromVersionId
		return "", nil, secretstore.ErrInvalidParameter
	case move != "" && h != "" && h != move && remove == "": // E9
		return "", nil, secretstore.ErrInvalidParameter
	case move == "" && label == secretstore.LabelCurrent: // E10
		return "", nil, secretstore.ErrInvalidParameter
	case move == "" && remove == "":
		return "", nil, secretstore.ErrInvalidParameter
	case move != "" && move == h: // already there: no-op
		return name, s.clone(), nil
	}
	next = s.clone()
	if remove != "" {
		delete(next.labels, label)
	}
	if move != "" {
		next.labels[label] = move
	}
	if label == secretstore.LabelCurrent && remove != "" {
		next.labels[secretstore.LabelPrevious] = remove
		next.lastLeft, next.prevTracked = remove, true
	} else if label == secretstore.LabelPrevious {
		next.prevTracked = false
	}
	if len(next.labels) > mbMaxLabels {
		return "", nil, secretstore.ErrLimitExceeded
	}
	next.prune(m.now) // label-only: never fails on the version quota
	return name, next, nil
}

// get models GetSecretValue (SPEC §2.4).
func (m *mbModel) get(id, versionID, stage string) (mbVer, []string, error) {
	if _, _, err := m.resolve(id); err != nil {
		return mbVer{}, nil, err
	}
	if versionID != "" && !mbValidToken(versionID) {
		return mbVer{}, nil, secretstore.ErrValidation
	}
	_, s, err := m.existing(id, false)
	if err != nil {
		return mbVer{}, nil, err
	}
	if versionID == "" && stage == "" {
		stage = secretstore.LabelCurrent
	}
	if versionID == "" {
		versionID = s.labels[stage]
		if versionID == "" {
			return mbVer{}, nil, secretstore.ErrResourceNotFound // E2
		}
	}
	v, ok := s.find(versionID)
	if !ok {
		return mbVer{}, nil, secretstore.ErrResourceNotFound // E3
	}
	if stage != "" && s.labels[stage] != versionID {
		return mbVer{}, nil, secretstore.ErrInvalidRequest // E4
	}
	return v, s.stagesOf(v.id), nil
}

// del models DeleteSecret (SPEC §2.8). It returns the DeletionDate.
func (m *mbModel) del(id string, window *int64, force bool) (name string, next *mbSec, deletion time.Time, err error) {
	if _, _, err := m.resolve(id); err != nil {
		return "", nil, time.Time{}, err
	}
	days := int64(30)
	if window != nil {
		if *window < 7 || *window > 30 {
			return "", nil, time.Time{}, secretstore.ErrInvalidParameter // E14
		}
		if force {
			return "", nil, time.Time{}, secretstore.ErrInvalidParameter // E15
		}
		days = *window
	}
	name, s, _ := m.resolve(id)
	switch {
	case s == nil && force:
		return "", nil, m.now, nil
	case s == nil:
		return "", nil, time.Time{}, secretstore.ErrResourceNotFound
	case force:
		return name, nil, m.now, nil
	case !s.deletion.IsZero():
		return "", nil, time.Time{}, secretstore.ErrInvalidRequest
	}
	next = s.clone()
	next.deletion = m.now.Add(time.Duration(days) * 24 * time.Hour)
	return name, next, next.deletion, nil
}

// restore models RestoreSecret (SPEC §2.9).
func (m *mbModel) restore(id string) (name string, next *mbSec, err error) {
	name, s, err := m.existing(id, true)
	if err != nil {
		return "", nil, err
	}
	next = s.clone()
	next.deletion = time.Time{}
	return name, next, nil
}

// ---- the simulation ----

type mbSim struct {
	t     *testing.T
	seed  uint64
	rng   *rand.Rand
	ctx   context.Context
	clock *secretstore.FakeClock
	e     *secretstore.Engine
	m     *mbModel
	names []string

	tokens map[string][]string // every token ever used on a name, any incarnation
	arns   map[string][]string // every ARN a name ever had
	genN   int
	step   int
	noop   bool // set by an operation that succeeded without effect
	hist   []string
	stats  map[string]int
}

func newMBSim(t *testing.T, seed uint64) *mbSim {
	rng := rand.New(rand.NewPCG(seed, 0x5ec12e7))
	clock := secretstore.NewFakeClock(mbEpoch)
	s := &mbSim{
		t: t, seed: seed, rng: rng, ctx: context.Background(), clock: clock,
		m:      &mbModel{now: mbEpoch, secrets: map[string]*mbSec{}},
		tokens: map[string][]string{}, arns: map[string][]string{}, stats: map[string]int{},
	}
	var genMu sync.Mutex
	e, err := secretstore.New(membackend.New(),
		secretstore.WithClock(clock),
		secretstore.WithMaxVersions(mbMaxVersions),
		secretstore.WithPruneAge(mbPruneAge),
		// Tiny chunks (1 to 4 entries) so that versions move between the
		// head and chunks all the time.
		secretstore.WithChunkSize(int(seed%4)+1),
		secretstore.WithIDGenerator(func() string {
			genMu.Lock()
			defer genMu.Unlock()
			s.genN++
			return fmt.Sprintf("mbgen-%08d-%04d-0000-0000-%012d", seed%100000000, s.genN%10000, s.genN)
		}))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.e = e
	all := []string{"mb-alpha", "mb/beta", "mb.gamma@x"}
	s.names = all[:1+rng.IntN(len(all))]
	return s
}

func (s *mbSim) fatalf(format string, args ...any) {
	s.t.Helper()
	start := max(0, len(s.hist)-20)
	s.t.Fatalf("seed %d, step %d (replay with SECRETSTORE_MODEL_SEED=%d): %s\nlast operations:\n  %s",
		s.seed, s.step, s.seed, fmt.Sprintf(format, args...), strings.Join(s.hist[start:], "\n  "))
}

func (s *mbSim) logOp(format string, args ...any) {
	s.hist = append(s.hist, fmt.Sprintf("#%d ", s.step)+fmt.Sprintf(format, args...))
}

// outcome checks err against the model's prediction and records it.
func (s *mbSim) outcome(op string, err, want error) {
	s.t.Helper()
	if want == nil {
		s.stats[op+" ok"]++
		if err != nil {
			s.fatalf("%s: got error %v, want success", op, err)
		}
		return
	}
	s.stats[op+" "+fmt.Sprint(want)]++
	if err == nil {
		s.fatalf("%s: got success, want %v", op, want)
	}
	if !errors.Is(err, want) {
		s.fatalf("%s: got %v, want %v", op, err, want)
	}
	var e *secretstore.Error
	if !errors.As(err, &e) {
		s.fatalf("%s: error %v is not a *secretstore.Error", op, err)
	}
}

// ---- random inputs ----

func (s *mbSim) chance(p float64) bool { return s.rng.Float64() < p }

func (s *mbSim) pick(xs []string) string { return xs[s.rng.IntN(len(xs))] }

func (s *mbSim) freshToken() string {
	r := s.rng
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, r.Uint32()&0xfff, r.Uint64()&0xffffffffffff)
}

func (s *mbSim) randomValue() mbVal {
	if s.chance(0.2) {
		b := make([]byte, 1+s.rng.IntN(8))
		for i := range b {
			b[i] = byte(s.rng.IntN(256))
		}
		return mbVal{binary: true, data: string(b)}
	}
	return mbVal{data: fmt.Sprintf("value-%d", s.rng.IntN(50))}
}

// secretID picks the SecretId to name a secret by: usually its name,
// sometimes its current or an older ARN, rarely an invalid name.
func (s *mbSim) secretID(name string) string {
	switch r := s.rng.Float64(); {
	case r < 0.02:
		return "bad name!"
	case r < 0.12:
		if ms := s.m.secrets[name]; ms != nil {
			return ms.arn
		}
	case r < 0.16:
		if arns := s.arns[name]; len(arns) > 0 {
			return s.pick(arns)
		}
	}
	return name
}

// modelSecret returns the model of the secret id names, or nil.
func (s *mbSim) modelSecret(id string) *mbSec {
	_, ms, _ := s.m.resolve(id)
	return ms
}

// writeToken picks a ClientRequestToken and the value to write with it:
// fresh, generated, reused on the same secret (same or different value),
// reused from anywhere, or invalid.
func (s *mbSim) writeToken(ms *mbSec, name string) (string, mbValueIn) {
	in := mbValueIn{}
	v := s.randomValue()
	in.val = &v
	switch r := s.rng.Float64(); {
	case r < 0.01:
		in = mbValueIn{both: true}
	case r < 0.02:
		in = mbValueIn{empty: true}
	}
	tok := s.freshToken()
	switch r := s.rng.Float64(); {
	case r < 0.55:
	case r < 0.65:
		tok = "" // the engine generates one
	case r < 0.85:
		if ms != nil && len(ms.versions) > 0 {
			ver := ms.versions[s.rng.IntN(len(ms.versions))]
			tok = ver.id
			switch r := s.rng.Float64(); {
			case in.val == nil:
			case r < 0.45: // a retry: same value
				same := ver.val
				in.val = &same
			case r < 0.6: // same bytes, other kind: a different value
				other := mbVal{binary: !ver.val.binary, data: ver.val.data}
				in.val = &other
			}
		}
	case r < 0.96:
		if len(s.tokens[name]) > 0 { // possibly pruned, or of an earlier incarnation
			tok = s.pick(s.tokens[name])
		}
	case r < 0.97:
		tok = strings.Repeat("t", 31)
	case r < 0.98:
		tok = strings.Repeat("t", 65)
	}
	return tok, in
}

func (s *mbSim) randomStages() []string {
	switch r := s.rng.Float64(); {
	case r < 0.45:
		return nil
	case r < 0.95:
		n := 1 + s.rng.IntN(3)
		perm := s.rng.Perm(len(mbLabelPool))
		out := make([]string, n)
		for i := range out {
			out[i] = mbLabelPool[perm[i]]
		}
		return out
	case r < 0.97:
		n := 1 + s.rng.IntN(20)
		perm := s.rng.Perm(24)
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("MBBULK%02d", perm[i])
		}
		return out
	default:
		switch s.rng.IntN(4) {
		case 0:
			return []string{}
		case 1:
			return []string{""}
		case 2:
			out := make([]string, 21)
			for i := range out {
				out[i] = fmt.Sprintf("MBMANY%02d", i)
			}
			return out
		default:
			return []string{strings.Repeat("L", 257)}
		}
	}
}

func (s *mbSim) valueInput(in mbValueIn) (*string, []byte) {
	switch {
	case in.both:
		return secretstore.String("x"), []byte{1}
	case in.empty:
		return secretstore.String(""), nil
	case in.val == nil:
		return nil, nil
	case in.val.binary:
		return nil, []byte(in.val.data)
	}
	return secretstore.String(in.val.data), nil
}

// ---- steps ----

func (s *mbSim) randomStep() {
	name := s.pick(s.names)
	ms := s.m.secrets[name]
	switch {
	case ms == nil && s.chance(0.6):
		s.opCreate(name)
		return
	case ms != nil && !ms.deletion.IsZero() && s.chance(0.12):
		s.opRestore(name)
		return
	}
	switch r := s.rng.IntN(100); {
	case r < 6:
		s.opCreate(name)
	case r < 37:
		s.opPut(name)
	case r < 49:
		s.opUpdate(name)
	case r < 67:
		s.opMoveStage(name)
	case r < 80:
		s.opGet(name)
	case r < 83:
		s.opDelete(name)
	case r < 85:
		s.opRestore(name)
	default:
		s.opAdvance()
	}
}

// mutate runs call, which performs one operation on the engine and checks
// it against the model. A call that fails must change nothing, and so must
// one that succeeds as a no-op (call sets s.noop): an idempotent replay
// (SPEC §2.1 step 3a, §2.2 step 2), restoring a secret that is not
// scheduled for deletion, or force-deleting one that does not exist.
func (s *mbSim) mutate(call func() error) {
	s.t.Helper()
	before := s.snapshot()
	s.noop = false
	err := call()
	if err == nil && !s.noop {
		return
	}
	if after := s.snapshot(); !reflect.DeepEqual(before, after) {
		what := fmt.Sprintf("failed call (%v)", err)
		if err == nil {
			what = "no-op call"
		}
		s.fatalf("%s changed the state:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

func (s *mbSim) recordToken(name, tok string) {
	if tok != "" && !slices.Contains(s.tokens[name], tok) {
		s.tokens[name] = append(s.tokens[name], tok)
	}
}

func (s *mbSim) opCreate(name string) {
	if s.chance(0.02) {
		name = "bad name!"
	}
	ms := s.m.secrets[name]
	tok, in := s.writeToken(ms, name)
	if s.chance(0.1) {
		in = mbValueIn{} // no value: a secret without versions
	}
	str, bin := s.valueInput(in)
	req := &secretstore.CreateSecretInput{Name: name, ClientRequestToken: tok, SecretString: str, SecretBinary: bin}
	s.logOp("CreateSecret(%s, tok=%q, %v)", name, tok, mbValDesc(in))
	s.mutate(func() error {
		out, err := s.e.CreateSecret(s.ctx, req)
		mtok := tok
		if tok == "" && err == nil && out.VersionId != "" {
			mtok = out.VersionId
		}
		arn := ""
		if err == nil {
			arn = out.ARN
		}
		next, want := s.m.create(name, mtok, arn, in)
		s.outcome("CreateSecret", err, want)
		if err != nil {
			return err
		}
		if out.Name != name {
			s.fatalf("CreateSecret: got Name %v, want %v", out.Name, name)
		}
		if next == nil { // idempotent replay
			s.noop = true
			if out.ARN != ms.arn || out.VersionId != tok {
				s.fatalf("CreateSecret replay: got {%v %v}, want {%v %v}", out.ARN, out.VersionId, ms.arn, tok)
			}
			return nil
		}
		wantID := ""
		if in.val != nil {
			wantID = mtok
			if tok == "" && !mbValidToken(out.VersionId) {
				s.fatalf("CreateSecret: generated VersionId %q is not 32-64 characters", out.VersionId)
			}
		}
		if out.VersionId != wantID {
			s.fatalf("CreateSecret: got VersionId %q, want %q", out.VersionId, wantID)
		}
		if !strings.HasPrefix(out.ARN, "arn:aws:secretsmanager:us-east-1:123456789012:secret:"+name+"-") ||
			slices.Contains(s.arns[name], out.ARN) {
			s.fatalf("CreateSecret: got ARN %q, want a new ARN for %s", out.ARN, name)
		}
		s.m.secrets[name] = next
		s.arns[name] = append(s.arns[name], out.ARN)
		s.recordToken(name, wantID)
		return nil
	})
}

func mbValDesc(in mbValueIn) string {
	switch {
	case in.both:
		return "string+binary"
	case in.empty:
		return `str("")`
	case in.val == nil:
		return "no value"
	}
	return in.val.String()
}

func (s *mbSim) opPut(name string) {
	id := s.secretID(name)
	ms := s.modelSecret(id)
	tok, in := s.writeToken(ms, name)
	if s.chance(0.02) {
		in = mbValueIn{}
	}
	stages := s.randomStages()
	str, bin := s.valueInput(in)
	req := &secretstore.PutSecretValueInput{SecretId: id, ClientRequestToken: tok, SecretString: str, SecretBinary: bin, VersionStages: stages}
	s.logOp("PutSecretValue(%s, tok=%q, %v, stages=%q)", id, tok, mbValDesc(in), stages)
	s.mutate(func() error {
		out, err := s.e.PutSecretValue(s.ctx, req)
		mtok := tok
		if tok == "" {
			mtok = "mb-model-fresh-token-0000000000000000000"
			if err == nil {
				mtok = out.VersionId
			}
		}
		mname, next, replay, want := s.m.put(id, mtok, in, stages)
		s.outcome("PutSecretValue", err, want)
		if err != nil {
			return err
		}
		if replay {
			s.stats["PutSecretValue replay"]++
			s.noop = true
		}
		if out.VersionId != mtok {
			s.fatalf("PutSecretValue: got VersionId %q, want %q", out.VersionId, mtok)
		}
		if got, wantStages := mbSortedCopy(out.VersionStages), next.stagesOf(mtok); !slices.Equal(got, wantStages) {
			s.fatalf("PutSecretValue: got VersionStages %v, want %v", got, wantStages)
		}
		s.m.secrets[mname] = next
		s.recordToken(mname, mtok)
		return nil
	})
}

func (s *mbSim) opUpdate(name string) {
	id := s.secretID(name)
	ms := s.modelSecret(id)
	tok, in := s.writeToken(ms, name)
	var desc *string
	switch r := s.rng.Float64(); {
	case r < 0.15:
		in, tok = mbValueIn{}, ""
		desc = secretstore.String(fmt.Sprintf("description %d", s.rng.IntN(10)))
	case r < 0.2:
		in, tok = mbValueIn{}, ""
	case r < 0.3:
		desc = secretstore.String("")
	}
	str, bin := s.valueInput(in)
	req := &secretstore.UpdateSecretInput{SecretId: id, ClientRequestToken: tok, SecretString: str, SecretBinary: bin, Description: desc}
	s.logOp("UpdateSecret(%s, tok=%q, %v, desc=%v)", id, tok, mbValDesc(in), mbPtr(desc))
	s.mutate(func() error {
		out, err := s.e.UpdateSecret(s.ctx, req)
		mtok := tok
		if tok == "" && in.present() {
			mtok = "mb-model-fresh-token-0000000000000000000"
			if err == nil {
				mtok = out.VersionId
			}
		}
		mname, next, want := s.m.update(id, mtok, in, desc)
		s.outcome("UpdateSecret", err, want)
		if err != nil {
			return err
		}
		wantID := ""
		if in.val != nil {
			wantID = mtok
		}
		if out.VersionId != wantID {
			s.fatalf("UpdateSecret: got VersionId %q, want %q", out.VersionId, wantID)
		}
		s.m.secrets[mname] = next
		s.recordToken(mname, wantID)
		return nil
	})
}

func mbPtr(p *string) string {
	if p == nil {
		return "nil"
	}
	return strconv.Quote(*p)
}

func (s *mbSim) opMoveStage(name string) {
	id := s.secretID(name)
	ms := s.modelSecret(id)
	var label string
	switch r := s.rng.Float64(); {
	case r < 0.4:
		label = secretstore.LabelCurrent
	case r < 0.95:
		label = s.pick(mbLabelPool)
	case r < 0.98:
		label = fmt.Sprintf("MBBULK%02d", s.rng.IntN(24))
	default:
		label = ""
	}
	holder := ""
	var ids []string
	if ms != nil {
		holder = ms.labels[label]
		for _, v := range ms.versions {
			ids = append(ids, v.id)
		}
	}
	anyVersion := func() string {
		switch {
		case len(ids) > 0 && s.chance(0.9):
			return s.pick(ids)
		case len(s.tokens[name]) > 0 && s.chance(0.5):
			return s.pick(s.tokens[name]) // may be pruned or from another incarnation
		}
		return s.freshToken()
	}
	var remove, move string
	switch r := s.rng.Float64(); {
	case r < 0.65: // a move
		move = anyVersion()
		switch r := s.rng.Float64(); {
		case r < 0.75:
			remove = holder
		case r < 0.85:
			remove = ""
		default:
			remove = anyVersion()
		}
	case r < 0.9: // a removal
		remove = holder
		if holder == "" || s.chance(0.2) {
			remove = anyVersion()
		}
	case r < 0.95: // neither
	default: // malformed version IDs
		remove, move = strings.Repeat("r", 31), holder
		if s.chance(0.5) {
			remove, move = holder, strings.Repeat("m", 65)
		}
	}
	req := &secretstore.UpdateSecretVersionStageInput{SecretId: id, VersionStage: label, RemoveFromVersionId: remove, MoveToVersionId: move}
	s.logOp("UpdateSecretVersionStage(%s, %q, remove=%q, move=%q)", id, label, remove, move)
	s.mutate(func() error {
		out, err := s.e.UpdateSecretVersionStage(s.ctx, req)
		mname, next, want := s.m.moveStage(id, label, remove, move)
		s.outcome("UpdateSecretVersionStage", err, want)
		if err != nil {
			return err
		}
		if out.Name != mname || out.ARN != next.arn {
			s.fatalf("UpdateSecretVersionStage: got {%v %v}, want {%v %v}", out.ARN, out.Name, next.arn, mname)
		}
		s.m.secrets[mname] = next
		return nil
	})
}

func (s *mbSim) opGet(name string) {
	id := s.secretID(name)
	ms := s.modelSecret(id)
	var versionID, stage string
	randomID := func() string {
		if ms != nil && len(ms.versions) > 0 && s.chance(0.75) {
			return ms.versions[s.rng.IntN(len(ms.versions))].id
		}
		if len(s.tokens[name]) > 0 && s.chance(0.7) {
			return s.pick(s.tokens[name])
		}
		return "00000000-0000-0000-0000-000000000000"
	}
	switch r := s.rng.Float64(); {
	case r < 0.3:
	case r < 0.6:
		stage = s.pick(mbLabelPool)
		if s.chance(0.1) {
			stage = fmt.Sprintf("MBBULK%02d", s.rng.IntN(24))
		}
	case r < 0.88:
		versionID = randomID()
	case r < 0.98:
		versionID, stage = randomID(), s.pick(mbLabelPool)
	default:
		versionID = strings.Repeat("v", 31)
	}
	s.logOp("GetSecretValue(%s, id=%q, stage=%q)", id, versionID, stage)
	s.mutate(func() error {
		out, err := s.e.GetSecretValue(s.ctx, &secretstore.GetSecretValueInput{SecretId: id, VersionId: versionID, VersionStage: stage})
		v, stages, want := s.m.get(id, versionID, stage)
		s.outcome("GetSecretValue", err, want)
		if err != nil {
			return err
		}
		s.checkGot("GetSecretValue", out, v, stages)
		return nil
	})
}

// checkGot compares a GetSecretValue response with the model's version.
func (s *mbSim) checkGot(op string, out *secretstore.GetSecretValueOutput, v mbVer, stages []string) {
	s.t.Helper()
	if out.VersionId != v.id {
		s.fatalf("%s: got VersionId %v, want %v", op, out.VersionId, v.id)
	}
	got := mbVal{data: out.SecretString}
	if out.SecretBinary != nil {
		got = mbVal{binary: true, data: string(out.SecretBinary)}
		if out.SecretString != "" {
			s.fatalf("%s %s: got both SecretString and SecretBinary", op, v.id)
		}
	}
	if got != v.val {
		s.fatalf("%s %s: got value %v, want %v", op, v.id, got, v.val)
	}
	if g := mbSortedCopy(out.VersionStages); !slices.Equal(g, stages) {
		s.fatalf("%s %s: got VersionStages %v, want %v", op, v.id, g, stages)
	}
	if !out.CreatedDate.Equal(v.created) {
		s.fatalf("%s %s: got CreatedDate %v, want %v", op, v.id, out.CreatedDate, v.created)
	}
}

func (s *mbSim) opDelete(name string) {
	id := s.secretID(name)
	var window *int64
	force := false
	switch r := s.rng.Float64(); {
	case r < 0.4:
	case r < 0.75:
		window = secretstore.Int64(int64(7 + s.rng.IntN(24)))
	case r < 0.8:
		window = secretstore.Int64([]int64{0, 6, 31, 100}[s.rng.IntN(4)])
	case r < 0.97:
		force = true
	default:
		force, window = true, secretstore.Int64(7)
	}
	s.logOp("DeleteSecret(%s, window=%v, force=%v)", id, mbIntPtr(window), force)
	s.mutate(func() error {
		out, err := s.e.DeleteSecret(s.ctx, &secretstore.DeleteSecretInput{SecretId: id, RecoveryWindowInDays: window, ForceDeleteWithoutRecovery: force})
		mname, next, deletion, want := s.m.del(id, window, force)
		s.outcome("DeleteSecret", err, want)
		if err != nil {
			return err
		}
		if !out.DeletionDate.Equal(deletion) {
			s.fatalf("DeleteSecret: got DeletionDate %v, want %v", out.DeletionDate, deletion)
		}
		switch {
		case mname == "": // forced delete of a secret that does not exist
			s.noop = true
			if out.Name != id {
				s.fatalf("DeleteSecret of a missing secret: got Name %q, want %q", out.Name, id)
			}
		case next == nil:
			delete(s.m.secrets, mname)
		default:
			s.m.secrets[mname] = next
		}
		return nil
	})
}

func mbIntPtr(p *int64) string {
	if p == nil {
		return "nil"
	}
	return strconv.FormatInt(*p, 10)
}

func (s *mbSim) opRestore(name string) {
	id := s.secretID(name)
	s.logOp("RestoreSecret(%s)", id)
	s.mutate(func() error {
		_, err := s.e.RestoreSecret(s.ctx, &secretstore.RestoreSecretInput{SecretId: id})
		mname, next, want := s.m.restore(id)
		s.outcome("RestoreSecret", err, want)
		if err == nil {
			s.noop = s.m.secrets[mname].deletion.IsZero()
			s.m.secrets[mname] = next
		}
		return err
	})
}

func (s *mbSim) opAdvance() {
	var d time.Duration
	switch r := s.rng.Float64(); {
	case r < 0.6:
		d = time.Duration(1+s.rng.IntN(120)) * time.Minute
	case r < 0.8:
		d = time.Duration(1+s.rng.IntN(12)) * time.Hour
	case r < 0.9:
		d = 24*time.Hour + time.Duration(s.rng.IntN(6*60))*time.Minute
	default:
		d = time.Duration(5+s.rng.IntN(27)) * 24 * time.Hour
	}
	d += time.Duration(1+s.rng.IntN(59)) * time.Second
	s.logOp("advance clock %v", d)
	s.stats["advance"]++
	s.clock.Advance(d)
	s.m.advance(d)
}

// ---- state checks ----

// mbSnap is what the engine shows of one name: DescribeSecret and
// ListSecretVersionIds with IncludeDeprecated, or their error codes.
type mbSnap struct {
	Describe    *secretstore.DescribeSecretOutput
	DescribeErr secretstore.Code
	Versions    *secretstore.ListSecretVersionIdsOutput
	VersionsErr secretstore.Code
}

func (s *mbSim) snapshot() map[string]mbSnap {
	snap := make(map[string]mbSnap, len(s.names))
	for _, name := range s.names {
		var sn mbSnap
		d, err := s.e.DescribeSecret(s.ctx, &secretstore.DescribeSecretInput{SecretId: name})
		sn.Describe, sn.DescribeErr = d, secretstore.ErrorCode(err)
		l, err := s.e.ListSecretVersionIds(s.ctx, &secretstore.ListSecretVersionIdsInput{SecretId: name, IncludeDeprecated: true})
		sn.Versions, sn.VersionsErr = l, secretstore.ErrorCode(err)
		snap[name] = sn
	}
	return snap
}

// checkState compares the engine with the model and checks the invariants
// of SPEC §1.3 on what the engine shows.
func (s *mbSim) checkState() {
	s.t.Helper()
	for _, name := range s.names {
		ms := s.m.secrets[name]
		d, err := s.e.DescribeSecret(s.ctx, &secretstore.DescribeSecretInput{SecretId: name})
		if ms == nil {
			if !errors.Is(err, secretstore.ErrResourceNotFound) {
				s.fatalf("DescribeSecret(%s): got %v, %v; want ResourceNotFoundException (the model has no such secret)", name, d, err)
			}
			continue
		}
		if err != nil {
			s.fatalf("DescribeSecret(%s): %v", name, err)
		}
		if d.ARN != ms.arn || d.Name != name || d.Description != ms.description || !d.DeletedDate.Equal(ms.deletion) {
			s.fatalf("DescribeSecret(%s): got ARN %q, Description %q, DeletedDate %v; want %q, %q, %v",
				name, d.ARN, d.Description, d.DeletedDate, ms.arn, ms.description, ms.deletion)
		}
		// Each label on at most one version; the labels are the model's.
		got := map[string]string{}
		for v, stages := range d.VersionIdsToStages {
			if len(stages) == 0 {
				s.fatalf("DescribeSecret(%s): VersionIdsToStages lists %s with no labels", name, v)
			}
			for _, l := range stages {
				if other, dup := got[l]; dup {
					s.fatalf("DescribeSecret(%s): label %s on two versions, %s and %s", name, l, other, v)
				}
				got[l] = v
			}
		}
		if !maps.Equal(got, ms.labels) {
			s.fatalf("DescribeSecret(%s): got labels %v, want %v", name, got, ms.labels)
		}
		if len(ms.labels) == 0 && d.VersionIdsToStages != nil {
			s.fatalf("DescribeSecret(%s): got VersionIdsToStages %v, want it omitted", name, d.VersionIdsToStages)
		}
		s.checkVersions(name, ms)
	}
	// Read a few versions back by VersionId.
	for range 2 {
		name := s.pick(s.names)
		ms := s.m.secrets[name]
		if ms == nil || !ms.deletion.IsZero() || len(ms.versions) == 0 {
			continue
		}
		s.checkValue(name, ms, ms.versions[s.rng.IntN(len(ms.versions))])
	}
}

// checkVersions compares ListSecretVersionIds with the model: exactly the
// model's versions (so none lost, none left over), their labels and dates,
// exactly one AWSCURRENT once a value exists, and AWSPREVIOUS where the
// last AWSCURRENT move put it.
func (s *mbSim) checkVersions(name string, ms *mbSec) {
	s.t.Helper()
	l, err := s.e.ListSecretVersionIds(s.ctx, &secretstore.ListSecretVersionIdsInput{SecretId: name, IncludeDeprecated: true})
	if err != nil {
		s.fatalf("ListSecretVersionIds(%s): %v", name, err)
	}
	if l.NextToken != "" {
		s.fatalf("ListSecretVersionIds(%s): unexpected NextToken with %d versions", name, len(l.Versions))
	}
	var gotIDs, wantIDs []string
	count := map[string]int{}
	holder := map[string]string{}
	for i, v := range l.Versions {
		gotIDs = append(gotIDs, v.VersionId)
		if i > 0 && v.CreatedDate.Before(l.Versions[i-1].CreatedDate) {
			s.fatalf("ListSecretVersionIds(%s): not in CreatedDate order: %s before %s", name, l.Versions[i-1].VersionId, v.VersionId)
		}
		mv, ok := ms.find(v.VersionId)
		if !ok {
			s.fatalf("ListSecretVersionIds(%s): version %s exists, but the model has pruned or never had it", name, v.VersionId)
		}
		if !v.CreatedDate.Equal(mv.created) {
			s.fatalf("ListSecretVersionIds(%s): %s CreatedDate got %v, want %v", name, v.VersionId, v.CreatedDate, mv.created)
		}
		want := ms.stagesOf(v.VersionId)
		if g := mbSortedCopy(v.VersionStages); !slices.Equal(g, want) {
			s.fatalf("ListSecretVersionIds(%s): %s got stages %v, want %v", name, v.VersionId, g, want)
		}
		if len(want) == 0 && v.VersionStages != nil {
			s.fatalf("ListSecretVersionIds(%s): deprecated %s has VersionStages %v, want it absent", name, v.VersionId, v.VersionStages)
		}
		for _, st := range v.VersionStages {
			count[st]++
			holder[st] = v.VersionId
		}
	}
	for _, v := range ms.versions {
		wantIDs = append(wantIDs, v.id)
	}
	sort.Strings(gotIDs)
	sort.Strings(wantIDs)
	if !slices.Equal(gotIDs, wantIDs) {
		s.fatalf("ListSecretVersionIds(%s): got versions %v, want %v", name, gotIDs, wantIDs)
	}
	for st, n := range count {
		if n != 1 {
			s.fatalf("ListSecretVersionIds(%s): label %s on %d versions", name, st, n)
		}
	}
	if len(l.Versions) > 0 && count[secretstore.LabelCurrent] != 1 {
		s.fatalf("ListSecretVersionIds(%s): %d versions hold AWSCURRENT, want exactly 1", name, count[secretstore.LabelCurrent])
	}
	if ms.prevTracked && holder[secretstore.LabelPrevious] != ms.lastLeft {
		s.fatalf("ListSecretVersionIds(%s): AWSPREVIOUS on %q, want %q (where AWSCURRENT last left)", name, holder[secretstore.LabelPrevious], ms.lastLeft)
	}
	// Without IncludeDeprecated: exactly the labelled versions.
	l2, err := s.e.ListSecretVersionIds(s.ctx, &secretstore.ListSecretVersionIdsInput{SecretId: name})
	if err != nil {
		s.fatalf("ListSecretVersionIds(%s): %v", name, err)
	}
	var gotLabelled, wantLabelled []string
	for _, v := range l2.Versions {
		gotLabelled = append(gotLabelled, v.VersionId)
	}
	for _, v := range ms.versions {
		if ms.labelled(v.id) {
			wantLabelled = append(wantLabelled, v.id)
		}
	}
	sort.Strings(gotLabelled)
	sort.Strings(wantLabelled)
	if !slices.Equal(gotLabelled, wantLabelled) {
		s.fatalf("ListSecretVersionIds(%s) without deprecated: got %v, want %v", name, gotLabelled, wantLabelled)
	}
}

func (s *mbSim) checkValue(name string, ms *mbSec, v mbVer) {
	s.t.Helper()
	out, err := s.e.GetSecretValue(s.ctx, &secretstore.GetSecretValueInput{SecretId: name, VersionId: v.id})
	if err != nil {
		s.fatalf("GetSecretValue(%s, %s): %v (the model still has this version)", name, v.id, err)
	}
	s.checkGot("GetSecretValue(VersionId)", out, v, ms.stagesOf(v.id))
}

// checkAllValues reads every version of every readable secret back.
func (s *mbSim) checkAllValues() {
	s.t.Helper()
	for _, name := range s.names {
		ms := s.m.secrets[name]
		if ms == nil || !ms.deletion.IsZero() {
			continue
		}
		for _, v := range ms.versions {
			s.checkValue(name, ms, v)
		}
	}
}

func mbSortedCopy(xs []string) []string {
	if len(xs) == 0 {
		return nil
	}
	out := slices.Clone(xs)
	sort.Strings(out)
	return out
}

// mbStats counts operation outcomes across seeds, to show what a run
// covered.
type mbStats struct {
	mu     sync.Mutex
	counts map[string]int
}

func (st *mbStats) add(m map[string]int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, v := range m {
		st.counts[k] += v
	}
}

func (st *mbStats) String() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	keys := slices.Sorted(maps.Keys(st.counts))
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-55s %d\n", k, st.counts[k])
	}
	return b.String()
}
