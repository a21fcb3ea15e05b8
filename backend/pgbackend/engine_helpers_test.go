package pgbackend_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

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

// pgToken returns a fresh ClientRequestToken: 32 hex digits from r.
func pgToken(r *rand.Rand) string {
	return fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
}

// pgValue returns the value that the writer of version token stores: a
// string or a binary value of varying length, both chosen by the token's
// hash, so that any reader can recompute it from the VersionId alone.
func pgValue(token string) (*string, []byte) {
	h := sha256.Sum256([]byte(token))
	n := 1 + int(h[1])%8
	if h[0]&1 == 0 {
		s := token + ":" + strings.Repeat(hex.EncodeToString(h[:]), n)
		return &s, nil
	}
	return nil, append([]byte(token), bytes.Repeat(h[:], n)...)
}

// pgCheckValue reads version vid of secret by VersionId and checks that it
// holds pgValue(vid). Errors never quote the values.
func pgCheckValue(ctx context.Context, e *secretstore.Engine, secret, vid string) error {
	out, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: secret, VersionId: vid})
	if err != nil {
		return fmt.Errorf("GetSecretValue(%s, VersionId %s): %w%s", secret, vid, err, pgCause(err))
	}
	s, b := pgValue(vid)
	switch {
	case out.VersionId != vid:
		return fmt.Errorf("GetSecretValue(%s, VersionId %s) returned version %s", secret, vid, out.VersionId)
	case s != nil && (out.SecretString != *s || out.SecretBinary != nil):
		return fmt.Errorf("version %s of %s: wrong value (string of %d bytes, binary of %d), want a string of %d bytes",
			vid, secret, len(out.SecretString), len(out.SecretBinary), len(*s))
	case b != nil && (!bytes.Equal(out.SecretBinary, b) || out.SecretString != ""):
		return fmt.Errorf("version %s of %s: wrong value (string of %d bytes, binary of %d), want binary of %d bytes",
			vid, secret, len(out.SecretString), len(out.SecretBinary), len(b))
	}
	return nil
}

// pgState is what pgCheckLabels found out about a secret.
type pgState struct {
	Description string
	// Labels maps each staging label to the version that holds it.
	Labels map[string]string
	// Versions are all the secret's versions, labelled or not.
	Versions []string
}

// pgCheckLabels reads secret with DescribeSecret and ListSecretVersionIds
// (every page, with deprecated versions) and checks the staging label
// invariants: exactly one version holds AWSCURRENT, each label is on one
// version only, AWSPREVIOUS is not on the AWSCURRENT version, no version
// is listed twice, and both calls agree on every version's labels.
func pgCheckLabels(ctx context.Context, e *secretstore.Engine, secret string) (*pgState, error) {
	d, err := e.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: secret})
	if err != nil {
		return nil, fmt.Errorf("DescribeSecret(%s): %s", secret, pgDescribe(err))
	}
	st := &pgState{Description: d.Description, Labels: map[string]string{}}
	var errs []error
	for vid, stages := range d.VersionIdsToStages {
		for _, l := range stages {
			if other, ok := st.Labels[l]; ok {
				errs = append(errs, fmt.Errorf("%s: label %s is on versions %s and %s", secret, l, other, vid))
			}
			st.Labels[l] = vid
		}
	}
	cur, ok := st.Labels[secretstore.LabelCurrent]
	if !ok {
		errs = append(errs, fmt.Errorf("%s: no version holds AWSCURRENT (labels %v)", secret, d.VersionIdsToStages))
	}
	if prev, ok := st.Labels[secretstore.LabelPrevious]; ok && prev == cur {
		errs = append(errs, fmt.Errorf("%s: AWSPREVIOUS and AWSCURRENT are both on version %s", secret, cur))
	}
	seen := map[string]bool{}
	for token := ""; ; {
		out, err := e.ListSecretVersionIds(ctx, &secretstore.ListSecretVersionIdsInput{
			SecretId: secret, IncludeDeprecated: true, NextToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("ListSecretVersionIds(%s): %s", secret, pgDescribe(err))
		}
		for _, v := range out.Versions {
			if seen[v.VersionId] {
				errs = append(errs, fmt.Errorf("%s: ListSecretVersionIds lists version %s twice", secret, v.VersionId))
			}
			seen[v.VersionId] = true
			st.Versions = append(st.Versions, v.VersionId)
			if want := d.VersionIdsToStages[v.VersionId]; !pgSameSet(v.VersionStages, want) {
				errs = append(errs, fmt.Errorf("%s: version %s has labels %v in ListSecretVersionIds, %v in DescribeSecret",
					secret, v.VersionId, v.VersionStages, want))
			}
		}
		if out.NextToken == "" {
			break
		}
		token = out.NextToken
	}
	for vid := range d.VersionIdsToStages {
		if !seen[vid] {
			errs = append(errs, fmt.Errorf("%s: labelled version %s is missing from ListSecretVersionIds", secret, vid))
		}
	}
	return st, errors.Join(errs...)
}

func pgSameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// pgDescribe returns err's text and, for a *secretstore.Error, the text of
// its cause, which Error() leaves out.
func pgDescribe(err error) string { return fmt.Sprint(err) + pgCause(err) }

// pgCause returns " (cause: ...)" with the cause of a *secretstore.Error in
// err, or "".
func pgCause(err error) string {
	var se *secretstore.Error
	if errors.As(err, &se) && se.Err != nil {
		return fmt.Sprintf(" (cause: %v)", se.Err)
	}
	return ""
}

// pgGaveUp reports whether err is the engine giving up on a write after
// losing too many compare-and-swap races to another writer.
func pgGaveUp(err error) bool {
	return errors.Is(err, secretstore.ErrInternalService) && errors.Is(err, backend.ErrConflict)
}

// pgChild is a child process: the test binary run again with -test.run
// selecting one entry point, and the environment telling it what to do.
type pgChild struct {
	cmd *exec.Cmd
	// Stderr collects the child's stderr; read it after Wait.
	Stderr *bytes.Buffer
	// Done is closed once every line of the child's stdout has been handed
	// to the callback.
	Done chan struct{}
}

// pgStartChild runs the test binary as a child that runs only the test
// entry, with env added to its environment and stdin as its standard
// input, and calls onLine, from one goroutine, with each line it prints.
func pgStartChild(t *testing.T, entry string, stdin io.Reader, onLine func(string), env ...string) *pgChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+entry+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	c := &pgChild{cmd: cmd, Stderr: &bytes.Buffer{}, Done: make(chan struct{})}
	cmd.Stderr = c.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		defer close(c.Done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			onLine(sc.Text())
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	return c
}

// Wait waits for the child's last line and its exit, and returns its exit
// error.
func (c *pgChild) Wait() error {
	<-c.Done
	return c.cmd.Wait()
}

// pgEmit writes one protocol line to stdout in a single write.
func pgEmit(fields ...string) {
	if _, err := os.Stdout.WriteString(strings.Join(fields, " ") + "\n"); err != nil {
		os.Exit(4) // the parent is gone
	}
}

// pgChildFail reports a child's unexpected error on stderr and exits.
func pgChildFail(err error) {
	fmt.Fprintf(os.Stderr, "child: %s\n", pgDescribe(err))
	os.Exit(3)
}
