package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/awsapi"
	"github.com/secretstore/secretstore/backend/filebackend"
	"github.com/secretstore/secretstore/backend/membackend"
)

const (
	cliToken1 = "11111111-1111-4111-8111-111111111111"
	cliToken2 = "22222222-2222-4222-8222-222222222222"
	cliToken3 = "33333333-3333-4333-8333-333333333333"
)

// cliStore runs the binary's subcommands on one store directory.
type cliStore struct {
	dir, keyFile string
	env          []string
}

func newCLIStore(t *testing.T) *cliStore {
	base := t.TempDir()
	return &cliStore{
		dir:     filepath.Join(base, "store"),
		keyFile: filepath.Join(base, "keys", "master.key"),
		env:     testEnv(t),
	}
}

// run runs "secretstore args... --dir DIR --master-key-file KEY" with stdin.
func (s *cliStore) run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	args = append(args, "--dir", s.dir, "--master-key-file", s.keyFile)
	return runWith(t, s.env, stdin, args...)
}

// json runs a subcommand that must succeed and print a JSON object.
func (s *cliStore) json(t *testing.T, stdin string, args ...string) map[string]any {
	t.Helper()
	code, stdout, stderr := s.run(t, stdin, args...)
	require.Equal(t, 0, code, "secretstore %s: stderr:\n%s", strings.Join(args, " "), stderr)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &m), "stdout:\n%s", stdout)
	assert.Empty(t, stderr)
	return m
}

// runWith runs the binary with env and stdin, for at most a minute.
func runWith(t *testing.T, env []string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); !ok {
		require.NoError(t, err)
	}
	return cmd.ProcessState.ExitCode(), o.String(), e.String()
}

// openTestStore opens the store s's commands use, as a service sharing the
// directory would.
func (s *cliStore) open(t *testing.T) secretstore.Store {
	t.Helper()
	master, err := secretstore.MasterKeyFromFile(s.keyFile)
	require.NoError(t, err)
	b, err := filebackend.Open(s.dir)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, b.Close()) })
	keyring, err := secretstore.OpenKeyring(t.Context(), b, master)
	require.NoError(t, err)
	t.Cleanup(func() { keyring.Close() })
	st, err := secretstore.New(b, secretstore.WithKeys(keyring))
	require.NoError(t, err)
	return st
}

func writeTestFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

// TestCLIWorkflow takes a secret through its life with the subcommands, as
// a user would, checking what each prints.
func TestCLIWorkflow(t *testing.T) {
	t.Parallel()
	s := newCLIStore(t)
	const name = "app/db"
	v1 := `{"user":"admin","password":"first"}`
	v1File := writeTestFile(t, "v1.json", []byte(v1))
	bin := []byte{0x00, 0xff, 0xfe, 'b', 'i', 'n', '\n'}
	binFile := writeTestFile(t, "v3.bin", bin)

	// create-secret with a value from a file.
	out := s.json(t, "", "create-secret", "--name", name, "--description", "first",
		"--secret-string", "file://"+v1File, "--client-request-token", cliToken1,
		"--tags", "Key=env,Value=dev")
	arn, _ := out["ARN"].(string)
	assert.Regexp(t, `^arn:aws:secretsmanager:us-east-1:\d{12}:secret:app/db-[A-Za-z0-9]{6}$`, arn)
	assert.Equal(t, map[string]any{"ARN": arn, "Name": name, "VersionId": cliToken1}, out)

	s.json(t, "", "create-secret", "--name", "other", "--secret-string", "x")

	// put-secret-value from standard input, as `echo VALUE |` sends it.
	out = s.json(t, "from stdin\n", "put-secret-value", "--secret-id", name,
		"--secret-string", "-", "--client-request-token", cliToken2)
	assert.Equal(t, map[string]any{"ARN": arn, "Name": name, "VersionId": cliToken2,
		"VersionStages": []any{"AWSCURRENT"}}, out)
	out = s.json(t, "", "get-secret-value", "--secret-id", name)
	assert.Equal(t, "from stdin", out["SecretString"], "one trailing newline is dropped")
	assert.Equal(t, cliToken2, out["VersionId"])

	// put-secret-value of a binary file, with two labels.
	out = s.json(t, "", "put-secret-value", "--secret-id", arn, "--secret-binary", "fileb://"+binFile,
		"--client-request-token", cliToken3, "--version-stages", "AWSCURRENT", "BLUE")
	assert.Equal(t, []any{"AWSCURRENT", "BLUE"}, out["VersionStages"])

	out = s.json(t, "", "get-secret-value", "--secret-id", name)
	assert.Equal(t, base64.StdEncoding.EncodeToString(bin), out["SecretBinary"], "blobs print in base64")
	assert.NotContains(t, out, "SecretString")
	assert.Equal(t, []any{"AWSCURRENT", "BLUE"}, out["VersionStages"])
	created, ok := out["CreatedDate"].(float64)
	require.True(t, ok, "CreatedDate = %#v, want epoch seconds", out["CreatedDate"])
	assert.InDelta(t, float64(time.Now().Unix()), created, 120)

	out = s.json(t, "", "get-secret-value", "--secret-id", name, "--version-stage", "AWSPREVIOUS")
	assert.Equal(t, "from stdin", out["SecretString"])
	out = s.json(t, "", "get-secret-value", "--secret-id", name, "--version-id", cliToken1)
	assert.Equal(t, v1, out["SecretString"], "file:// gives the file's text exactly")

	// list-secret-version-ids shows the deprecated first version too.
	out = s.json(t, "", "list-secret-version-ids", "--secret-id", name, "--include-deprecated")
	stages := map[string][]string{}
	for _, v := range out["Versions"].([]any) {
		e := v.(map[string]any)
		var labels []string
		if list, ok := e["VersionStages"].([]any); ok {
			for _, l := range list {
				labels = append(labels, l.(string))
			}
			slices.Sort(labels)
		}
		stages[e["VersionId"].(string)] = labels
	}
	assert.Equal(t, map[string][]string{
		cliToken1: nil,
		cliToken2: {"AWSPREVIOUS"},
		cliToken3: {"AWSCURRENT", "BLUE"},
	}, stages, "the first version has no label left")
	assert.Equal(t, arn, out["ARN"])

	// update-secret-version-stage rolls back to the text version.
	out = s.json(t, "", "update-secret-version-stage", "--secret-id", name, "--version-stage", "AWSCURRENT",
		"--move-to-version-id", cliToken2, "--remove-from-version-id", cliToken3)
	assert.Equal(t, map[string]any{"ARN": arn, "Name": name}, out)
	out = s.json(t, "", "get-secret-value", "--secret-id", name)
	assert.Equal(t, "from stdin", out["SecretString"])

	// tag-resource and untag-resource print nothing, as the aws CLI does.
	code, stdout, stderr := s.run(t, "", "tag-resource", "--secret-id", name, "--tags", "Key=team,Value=core", "Key=tier,Value=1")
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stdout)
	code, stdout, stderr = s.run(t, "", "untag-resource", "--secret-id", name, "--tag-keys", "env", "tier")
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stdout)

	out = s.json(t, "", "update-secret", "--secret-id", name, "--description", "updated")
	assert.Equal(t, map[string]any{"ARN": arn, "Name": name}, out, "no value, no VersionId")

	out = s.json(t, "", "describe-secret", "--secret-id", name)
	assert.Equal(t, "updated", out["Description"])
	assert.Equal(t, []any{map[string]any{"Key": "team", "Value": "core"}}, out["Tags"])
	versions := out["VersionIdsToStages"].(map[string]any)
	assert.Len(t, versions, 2)
	assert.Equal(t, []any{"AWSCURRENT"}, versions[cliToken2])
	assert.ElementsMatch(t, []any{"AWSPREVIOUS", "BLUE"}, versions[cliToken3], "labels in any order")

	// list-secrets with a shorthand filter, and a single page.
	out = s.json(t, "", "list-secrets", "--filters", "Key=name,Values=app/")
	list := out["SecretList"].([]any)
	require.Len(t, list, 1)
	assert.Equal(t, arn, list[0].(map[string]any)["ARN"])
	out = s.json(t, "", "list-secrets", "--max-results", "1")
	assert.Len(t, out["SecretList"], 1)
	assert.NotEmpty(t, out["NextToken"], "with --max-results the page's NextToken is printed")
	out = s.json(t, "", "list-secrets", "--next-token", out["NextToken"].(string))
	assert.Len(t, out["SecretList"], 1)
	assert.Len(t, s.json(t, "", "list-secrets")["SecretList"], 2)

	out = s.json(t, "", "batch-get-secret-value", "--secret-id-list", name, "other")
	assert.Len(t, out["SecretValues"], 2)
	assert.Equal(t, []any{}, out["Errors"])

	// delete-secret with a recovery window, then restore-secret.
	out = s.json(t, "", "delete-secret", "--secret-id", name, "--recovery-window-in-days", "7")
	del, ok := out["DeletionDate"].(float64)
	require.True(t, ok, "DeletionDate = %#v", out["DeletionDate"])
	assert.InDelta(t, float64(time.Now().Add(7*24*time.Hour).Unix()), del, 3600)
	code, stdout, stderr = s.run(t, "", "get-secret-value", "--secret-id", name)
	assert.Equal(t, exitService, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "An error occurred (InvalidRequestException) when calling the GetSecretValue operation: ")
	assert.Equal(t, map[string]any{"ARN": arn, "Name": name}, s.json(t, "", "restore-secret", "--secret-id", name))
	assert.Equal(t, "from stdin", s.json(t, "", "get-secret-value", "--secret-id", name)["SecretString"])

	out = s.json(t, "", "delete-secret", "--secret-id", "other", "--force-delete-without-recovery")
	assert.Equal(t, "other", out["Name"])
	code, _, _ = s.run(t, "", "describe-secret", "--secret-id", "other")
	assert.Equal(t, exitService, code, "a force-deleted secret is gone")
}

// TestCLISharesStoreWithService checks that what the subcommands write, a
// Store opened on the same directory and key file reads, and the reverse:
// the CLI and a service can share a store.
func TestCLISharesStoreWithService(t *testing.T) {
	t.Parallel()
	s := newCLIStore(t)
	s.json(t, "written by the CLI", "create-secret", "--name", "shared", "--secret-string", "-")

	st := s.open(t)
	ctx := t.Context()
	got, err := st.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "shared"})
	require.NoError(t, err)
	assert.Equal(t, "written by the CLI", got.SecretString)

	_, err = st.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "shared", SecretString: secretstore.String("written by the service")})
	require.NoError(t, err)
	assert.Equal(t, "written by the service", s.json(t, "", "get-secret-value", "--secret-id", "shared")["SecretString"])
}

func TestCLIErrors(t *testing.T) {
	t.Parallel()
	s := newCLIStore(t)
	s.json(t, "", "create-secret", "--name", "exists")

	code, stdout, stderr := s.run(t, "", "get-secret-value", "--secret-id", "missing")
	assert.Equal(t, exitService, code)
	assert.Empty(t, stdout)
	assert.Equal(t, "\nAn error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: Secrets Manager can't find the specified secret.\n", stderr)

	const value = "never-printed-hunter2"
	code, _, stderr = s.run(t, "", "put-secret-value", "--secret-id", "missing", "--secret-string", value)
	assert.Equal(t, exitService, code)
	assert.NotContains(t, stderr, value)
	code, _, stderr = s.run(t, "", "create-secret", "--name", "exists", "--secret-string", value)
	assert.Equal(t, exitService, code)
	assert.Contains(t, stderr, "(ResourceExistsException) when calling the CreateSecret operation")
	assert.NotContains(t, stderr, value)

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing required", []string{"get-secret-value"}, "the following arguments are required: --secret-id"},
		{"unknown option", []string{"get-secret-value", "--secret-id", "x", "--version", "1"}, "unknown option --version"},
		{"missing list", []string{"untag-resource", "--secret-id", "x", "--tag-keys"}, "--tag-keys expects at least one value"},
		{"bad tag", []string{"tag-resource", "--secret-id", "x", "--tags", "Key=a,Vaule=b"}, "--tags"},
		{"not UTF-8", []string{"put-secret-value", "--secret-id", "x", "--secret-string", "file://" + writeTestFile(t, "bin", []byte{0xff})}, "--secret-binary"},
		{"empty dir", []string{"list-secrets", "--dir", ""}, "--dir must not be empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runWith(t, s.env, "", tc.args...)
			assert.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.want)
			assert.Contains(t, stderr, "-h\" for its parameters")
		})
	}
}

// TestCLIKeyFile checks when a subcommand creates the master key: with a
// new store, not for a store that exists, whose values a new key could not
// open.
func TestCLIKeyFile(t *testing.T) {
	t.Parallel()
	s := newCLIStore(t)
	s.json(t, "v", "create-secret", "--name", "k", "--secret-string", "-")
	fi, err := os.Stat(s.keyFile)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())

	other := filepath.Join(t.TempDir(), "other.key")
	code, stdout, stderr := runWith(t, s.env, "", "get-secret-value", "--secret-id", "k", "--dir", s.dir, "--master-key-file", other)
	assert.Equal(t, exitOther, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "master key file "+other+" does not exist")
	_, err = os.Stat(other)
	assert.ErrorIs(t, err, fs.ErrNotExist, "no key is made for an existing store")

	code, _, stderr = runWith(t, s.env, "", "list-secrets", "--dir", s.dir, "--master-key-file", filepath.Join(s.dir, "key"))
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "inside the store directory")
}

// TestCLIDefaultStore checks that without --dir the subcommands use the
// directory and key file serve uses by default.
func TestCLIDefaultStore(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	code, _, stderr := runWith(t, env, "", "create-secret", "--name", "d", "--secret-string", "v")
	require.Equal(t, 0, code, stderr)
	code, stdout, stderr := runWith(t, env, "", "get-secret-value", "--secret-id", "d")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"SecretString": "v"`)

	var home string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "HOME="); ok {
			home = v
		}
	}
	_, err := os.Stat(filepath.Join(home, "cache", "secretstore", "store", "FORMAT"))
	assert.NoError(t, err, "the store is in secretstore/store under the user cache directory")
	_, err = os.Stat(filepath.Join(home, "config", "secretstore", "master.key"))
	assert.NoError(t, err, "the key is secretstore/master.key under the user config directory")
}

func TestCLIRandomPassword(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	code, stdout, stderr := runWith(t, env, "", "get-random-password", "--password-length", "20", "--exclude-punctuation")
	require.Equal(t, 0, code, stderr)
	var out struct{ RandomPassword string }
	require.NoError(t, json.Unmarshal([]byte(stdout), &out))
	assert.Regexp(t, `^[A-Za-z0-9]{20}$`, out.RandomPassword)
}

func TestCLIHelp(t *testing.T) {
	t.Parallel()
	code, stdout, _ := runBinary(t, "help")
	assert.Equal(t, 0, code)
	for _, c := range commands {
		assert.Contains(t, stdout, "  "+c.name+" ", "help lists every subcommand")
	}
	assert.Contains(t, stdout, "--secret-string -")

	for _, args := range [][]string{{"put-secret-value", "-h"}, {"put-secret-value", "--help"}, {"help", "put-secret-value"}} {
		code, stdout, _ := runBinary(t, args...)
		assert.Equal(t, 0, code, args)
		assert.Contains(t, stdout, "usage: secretstore put-secret-value --secret-id", args)
		assert.Contains(t, stdout, "--secret-string file://PATH", "the recommended forms are listed")
		assert.Contains(t, stdout, "--version-stages VALUE...")
		assert.Contains(t, stdout, "252 bad parameters")
	}
}

// TestListSecretsFetchesEveryPage checks that list-secrets without
// --max-results gathers every page, as the aws CLI's paginator does.
func TestListSecretsFetchesEveryPage(t *testing.T) {
	t.Parallel()
	h, err := awsapi.NewHandler(membackend.New())
	require.NoError(t, err)
	cl := &client{h: h}
	const n = 103 // more than a page of 100
	for i := range n {
		require.NoError(t, cl.call(t.Context(), "CreateSecret", map[string]any{"Name": fmt.Sprintf("s%03d", i)}, nil))
	}
	var out listSecretsOutput
	require.NoError(t, cl.listAll(t.Context(), map[string]any{}, &out))
	assert.Len(t, out.SecretList, n)
	assert.Empty(t, out.NextToken)

	out = listSecretsOutput{}
	require.NoError(t, cl.listAll(t.Context(), map[string]any{"MaxResults": 10}, &out))
	assert.Len(t, out.SecretList, 10)
	assert.NotEmpty(t, out.NextToken)
}
