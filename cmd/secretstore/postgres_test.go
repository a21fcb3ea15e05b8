package main

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testPostgres returns the DSN of the test database in
// SECRETSTORE_TEST_POSTGRES. Without it the test skips, except in CI
// (CI=true), where .ci/run starts a server and a missing DSN is a failure.
func testPostgres(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("SECRETSTORE_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SECRETSTORE_TEST_POSTGRES is not set, and CI=true: .ci/run must start PostgreSQL")
		}
		t.Skip("SECRETSTORE_TEST_POSTGRES is not set: no PostgreSQL to test against (.ci/run starts one)")
	}
	return dsn
}

// TestCLIPostgres runs the subcommands and serve on a PostgreSQL store: what
// one writes the other reads, under the same master key, and the password in
// the DSN shows in no output.
func TestCLIPostgres(t *testing.T) {
	t.Parallel()
	dsn := testPostgres(t)
	var r [6]byte
	_, _ = rand.Read(r[:])
	schema := "cli_" + hex.EncodeToString(r[:])
	keyFile := filepath.Join(t.TempDir(), "master.key")
	env := testEnv(t)
	store := []string{"--postgres", dsn, "--postgres-schema", schema, "--master-key-file", keyFile}
	cli := func(stdin string, args ...string) (int, string, string) {
		return runWith(t, env, stdin, append(args, store...)...)
	}

	code, stdout, stderr := cli("from the cli", "create-secret", "--name", "pg/db", "--secret-string", "-")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"Name": "pg/db"`)
	code, stdout, stderr = cli("", "get-secret-value", "--secret-id", "pg/db")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"SecretString": "from the cli"`)

	srv := startServer(t, append([]string{"serve", "--addr", "127.0.0.1:0"}, store...)...)
	assert.Contains(t, srv.line, "PostgreSQL store, schema "+schema)
	status, out := srv.call(t, "GetSecretValue", map[string]any{"SecretId": "pg/db"})
	require.Equal(t, 200, status, "%v", out)
	assert.Equal(t, "from the cli", out["SecretString"])
	status, out = srv.call(t, "PutSecretValue", map[string]any{"SecretId": "pg/db", "SecretString": "from the server"})
	require.Equal(t, 200, status, "%v", out)
	assert.Equal(t, 0, srv.stop(t))

	code, stdout, stderr = cli("", "get-secret-value", "--secret-id", "pg/db")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"SecretString": "from the server"`)

	// Another master key does not open the store; the DSN's password shows
	// nowhere.
	other := filepath.Join(t.TempDir(), "other.key")
	require.NoError(t, os.WriteFile(other, []byte(strings.Repeat("x", 32)), 0o600))
	code, stdout, stderr = runWith(t, env, "", "get-secret-value", "--secret-id", "pg/db",
		"--postgres", dsn, "--postgres-schema", schema, "--master-key-file", other)
	assert.Equal(t, exitOther, code)
	assert.Contains(t, stderr, "does not open with this master key")
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			assert.NotContains(t, stdout+stderr+srv.stderr.String(), pw, "the DSN's password in the output")
		}
	}

	code, _, stderr = runWith(t, env, "", "get-secret-value", "--secret-id", "pg/db", "--postgres", dsn, "--dir", t.TempDir())
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "--postgres and --dir cannot be used together")
}
