package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
)

// TestCLIKeyRotation rotates a key the way an operator would: create a key,
// store values under it, rotate, rewrap, retire the old version, and every
// value still reads.
func TestCLIKeyRotation(t *testing.T) {
	t.Parallel()
	s := newCLIStore(t)

	key := s.json(t, "", "create-key", "--alias", "alias/app", "--description", "the app's key")
	keyID, _ := key["KeyId"].(string)
	require.NotEmpty(t, keyID)
	assert.Equal(t, []any{"alias/app"}, key["Aliases"])
	assert.EqualValues(t, 1, key["PrimaryVersion"])

	s.json(t, "v1", "create-secret", "--name", "app/db", "--kms-key-id", "alias/app", "--secret-string", "-")
	s.json(t, "v2", "put-secret-value", "--secret-id", "app/db", "--secret-string", "-")
	s.json(t, "plain", "create-secret", "--name", "plain", "--secret-string", "-")

	code, _, stderr := s.run(t, "", "create-secret", "--name", "nokey", "--kms-key-id", "alias/missing", "--secret-string", "x")
	assert.Equal(t, exitService, code)
	assert.Contains(t, stderr, "(EncryptionFailure)")

	rotated := s.json(t, "", "rotate-key", "--key-id", "alias/app")
	assert.EqualValues(t, 2, rotated["PrimaryVersion"])

	code, _, stderr = s.run(t, "", "retire-key-version", "--key-id", "alias/app", "--key-version", "1")
	assert.Equal(t, exitOther, code, "retire before rewrap")
	assert.Contains(t, stderr, "run Rewrap first")

	out := s.json(t, "", "rewrap")
	assert.Equal(t, map[string]any{"Secrets": 2.0, "Versions": 3.0, "Rewrapped": 2.0}, out,
		"the two values under alias/app moved to version 2; the default key's did not need to")
	assert.Equal(t, map[string]any{"Secrets": 2.0, "Versions": 3.0, "Rewrapped": 0.0}, s.json(t, "", "rewrap"), "a second rewrap")

	retired := s.json(t, "", "retire-key-version", "--key-id", keyID, "--key-version", "1")
	versions, _ := retired["Versions"].([]any)
	require.Len(t, versions, 2)
	assert.Equal(t, true, versions[0].(map[string]any)["Retired"])
	assert.Equal(t, false, versions[1].(map[string]any)["Retired"])

	assert.Equal(t, "v2", s.json(t, "", "get-secret-value", "--secret-id", "app/db")["SecretString"])
	assert.Equal(t, "v1", s.json(t, "", "get-secret-value", "--secret-id", "app/db", "--version-stage", "AWSPREVIOUS")["SecretString"])
	assert.Equal(t, "plain", s.json(t, "", "get-secret-value", "--secret-id", "plain")["SecretString"])

	list := s.json(t, "", "list-keys")
	keys, _ := list["Keys"].([]any)
	assert.Len(t, keys, 2, "alias/app and the default key")
	def := s.json(t, "", "describe-key")
	assert.Equal(t, []any{secretstore.DefaultKeyAlias}, def["Aliases"])
}

// TestCLIMasterKeySources opens stores under a passphrase and under a key
// from the environment, and checks the errors of wrong or conflicting
// sources.
func TestCLIMasterKeySources(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dir := filepath.Join(base, "store")
	pass := filepath.Join(base, "pass.txt")
	require.NoError(t, os.WriteFile(pass, []byte("a long passphrase\n"), 0o600))
	wrong := filepath.Join(base, "wrong.txt")
	require.NoError(t, os.WriteFile(wrong, []byte("another passphrase\n"), 0o600))
	env := testEnv(t)

	code, _, stderr := runWith(t, env, "s3cret", "create-secret", "--name", "p", "--secret-string", "-", "--dir", dir, "--passphrase-file", pass)
	require.Equal(t, 0, code, stderr)
	code, stdout, stderr := runWith(t, env, "", "get-secret-value", "--secret-id", "p", "--dir", dir, "--passphrase-file", pass)
	require.Equal(t, 0, code, stderr)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	assert.Equal(t, "s3cret", got["SecretString"])

	code, stdout, stderr = runWith(t, env, "", "get-secret-value", "--secret-id", "p", "--dir", dir, "--passphrase-file", wrong)
	assert.Equal(t, exitOther, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "does not open with this master key (--passphrase-file)")

	envDir := filepath.Join(base, "envstore")
	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	withKey := append(env[:len(env):len(env)], "TEST_MASTER_KEY="+key)
	code, _, stderr = runWith(t, withKey, "from env", "create-secret", "--name", "e", "--secret-string", "-", "--dir", envDir, "--master-key-env", "TEST_MASTER_KEY")
	require.Equal(t, 0, code, stderr)
	code, _, stderr = runWith(t, env, "", "get-secret-value", "--secret-id", "e", "--dir", envDir, "--master-key-env", "TEST_MASTER_KEY")
	assert.Equal(t, exitOther, code)
	assert.Contains(t, stderr, "TEST_MASTER_KEY is not set")

	code, _, stderr = runWith(t, withKey, "", "get-secret-value", "--secret-id", "e", "--dir", envDir, "--master-key-env", "TEST_MASTER_KEY", "--passphrase-file", pass)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "cannot be used together")
	assert.NotContains(t, stderr, key, "the key in an error")
}

func TestRenderBar(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "rewrap [###############...............] 5/10 secrets, 42 data keys re-wrapped",
		renderBar(secretstore.RewrapProgress{Secrets: 10, SecretsDone: 5, Rewrapped: 42}))
	assert.Equal(t, "rewrap [##############################] 0/0 secrets, 0 data keys re-wrapped",
		renderBar(secretstore.RewrapProgress{}))
}

// TestCLIBadRegionCreatesNothing checks that a bad --region is refused
// before the store is opened, so that it creates no store and no key.
func TestCLIBadRegionCreatesNothing(t *testing.T) {
	t.Parallel()
	s := newCLIStore(t)
	code, _, stderr := s.run(t, "", "list-secrets", "--region", "not a region")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "region")
	for _, p := range []string{s.dir, s.keyFile} {
		_, err := os.Stat(p)
		assert.ErrorIs(t, err, os.ErrNotExist, "%s created despite the bad region", p)
	}
}
