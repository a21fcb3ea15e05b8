package secretstore

import (
	"crypto/rand"
	"io"
	"sync"
	"time"
)

// Clock tells the engine the time. Tests use a FakeClock to make recovery
// windows, version pruning and LastAccessedDate deterministic.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// FakeClock is a Clock that moves only when told to. It is safe for
// concurrent use.
type FakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewFakeClock returns a FakeClock reading t.
func NewFakeClock(t time.Time) *FakeClock { return &FakeClock{t: t} }

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// An Option configures an Engine. Options are made by the With functions.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	clock       Clock
	rand        io.Reader
	idGen       func() string
	keys        Keys
	region      string
	account     string
	maxVersions int
	pruneAge    time.Duration
	strict      bool
	rotators    map[string]RotationFunc
	chunkSize   int // version entries per chunk; see record.go
}

func defaultConfig() config {
	return config{
		clock:       systemClock{},
		rand:        rand.Reader,
		region:      "us-east-1",
		account:     "123456789012",
		maxVersions: DefaultMaxVersions,
		pruneAge:    DefaultPruneAge,
		rotators:    map[string]RotationFunc{},
		chunkSize:   16,
	}
}

// WithClock makes the engine read the time from c instead of the system
// clock. Use a FakeClock in tests.
func WithClock(c Clock) Option { return optionFunc(func(cfg *config) { cfg.clock = c }) }

// WithRand makes the engine draw generated VersionIds, ARN suffixes and
// random passwords from r instead of crypto/rand. A deterministic reader
// makes those outputs reproducible in tests. Encryption keys never come from
// r.
func WithRand(r io.Reader) Option { return optionFunc(func(cfg *config) { cfg.rand = r }) }

// WithIDGenerator makes the engine call gen for the VersionId of a write
// that has no ClientRequestToken, instead of generating a UUIDv4. gen must
// return 32 to 64 characters and never repeat itself.
func WithIDGenerator(gen func() string) Option {
	return optionFunc(func(cfg *config) { cfg.idGen = gen })
}

// WithKeys makes the engine wrap data keys with k. Without it the engine
// uses LocalKeys under a random master key that lives only as long as the
// process, which suits tests and in-memory stores; a persistent store needs
// persistent keys.
func WithKeys(k Keys) Option { return optionFunc(func(cfg *config) { cfg.keys = k }) }

// WithRegion sets the region that ARNs name (default "us-east-1"). Engines
// with different regions over one backend see different secrets, as AWS
// regions do.
func WithRegion(region string) Option { return optionFunc(func(cfg *config) { cfg.region = region }) }

// WithAccountID sets the account ID that ARNs name (default "123456789012").
func WithAccountID(id string) Option { return optionFunc(func(cfg *config) { cfg.account = id }) }

// WithMaxVersions sets how many versions a secret may keep (default 100).
func WithMaxVersions(n int) Option { return optionFunc(func(cfg *config) { cfg.maxVersions = n }) }

// WithPruneAge sets how old a version without labels must be before it may
// be pruned to make room (default 24h).
func WithPruneAge(d time.Duration) Option { return optionFunc(func(cfg *config) { cfg.pruneAge = d }) }

// WithStrictTokens makes a write that stores a value without a
// ClientRequestToken fail with InvalidRequestException, as the raw AWS API
// does, instead of generating one as the AWS SDKs do.
func WithStrictTokens() Option { return optionFunc(func(cfg *config) { cfg.strict = true }) }

// WithRotationFunc registers fn as the rotation function that
// RotateSecret invokes for lambdaARN, standing in for an AWS Lambda function.
func WithRotationFunc(lambdaARN string, fn RotationFunc) Option {
	return optionFunc(func(cfg *config) { cfg.rotators[lambdaARN] = fn })
}

// withChunkSize sets how many version entries a chunk holds (1 to 64). It is
// unexported: the layout is an implementation detail, and tests use small
// chunks to exercise it.
func withChunkSize(n int) Option { return optionFunc(func(cfg *config) { cfg.chunkSize = n }) }
