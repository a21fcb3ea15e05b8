package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
)

// binary is the secretstore binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "secretstore-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "secretstore")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is a running "secretstore serve".
type server struct {
	cmd    *exec.Cmd
	url    string
	line   string // the start line
	stderr *syncBuffer
	done   chan error
}

var startLine = regexp.MustCompile(`^secretstore: serving Secrets Manager on (http://\S+) \((store .+|PostgreSQL store, schema .+|in memory)\)$`)

// testEnv returns an environment whose user cache and config directories
// are in a temporary directory, so that no test touches the real ones.
func testEnv(t *testing.T) []string {
	home := t.TempDir()
	return append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
}

// startServer runs the binary with args and waits for its start line.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = testEnv(t)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	s := &server{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-s.done
		}
	})
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- strings.TrimSuffix(line, "\n")
		_, _ = io.Copy(io.Discard, r)
		s.done <- cmd.Wait()
	}()
	select {
	case line := <-lines:
		m := startLine.FindStringSubmatch(line)
		require.NotNil(t, m, "start line %q; stderr:\n%s", line, s.stderr.String())
		s.line, s.url = line, m[1]
	case <-time.After(30 * time.Second):
		t.Fatalf("no start line; stderr:\n%s", s.stderr.String())
	}
	return s
}

// stop sends SIGTERM and returns the exit code.
func (s *server) stop(t *testing.T) int {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatal("server did not exit after SIGTERM")
	}
	return s.cmd.ProcessState.ExitCode()
}

// call makes a Secrets Manager call and returns the status and decoded body.
func (s *server) call(t *testing.T, op string, in any) (int, map[string]any) {
	t.Helper()
	body, err := json.Marshal(in)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.url+"/", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-Amz-Target", "secretsmanager."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// runBinary runs the binary to completion and returns its exit code and
// output.
func runBinary(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = testEnv(t)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); !ok {
		require.NoError(t, err)
	}
	return cmd.ProcessState.ExitCode(), o.String(), e.String()
}

func TestServeMemory(t *testing.T) {
	s := startServer(t, "serve", "--memory", "--addr", "127.0.0.1:0")
	assert.Contains(t, s.line, "(in memory)")
	assert.NotContains(t, s.url, ":0", "the start line names the bound port")

	resp, err := http.Get(s.url + "/_secretstore/health")
	require.NoError(t, err)
	health, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"status":"ok"}`, string(health))

	status, out := s.call(t, "CreateSecret", map[string]any{"Name": "app/db", "SecretString": "hunter2"})
	require.Equal(t, http.StatusOK, status, out)
	assert.Equal(t, "app/db", out["Name"])
	status, out = s.call(t, "GetSecretValue", map[string]any{"SecretId": "app/db"})
	require.Equal(t, http.StatusOK, status, out)
	assert.Equal(t, "hunter2", out["SecretString"])

	assert.Equal(t, 0, s.stop(t), "stderr:\n%s", s.stderr.String())
	// The access log is JSON, one record a line, and never holds a value.
	logs := s.stderr.String()
	assert.NotContains(t, logs, "hunter2")
	var sawCreate bool
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "log line %q", line)
		if strings.Contains(line, "CreateSecret") {
			sawCreate = true
		}
	}
	assert.True(t, sawCreate, "access log:\n%s", logs)
}

func TestServeDirKeepsSecretsAcrossRestarts(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "store")
	keyFile := filepath.Join(base, "keys", "sub", "master.key")
	args := []string{"serve", "--addr", "127.0.0.1:0", "--dir", dir, "--master-key-file", keyFile}

	s := startServer(t, args...)
	assert.Contains(t, s.line, "(store "+dir+")")
	status, out := s.call(t, "CreateSecret", map[string]any{"Name": "kept", "SecretString": "v1"})
	require.Equal(t, http.StatusOK, status, out)
	require.Equal(t, 0, s.stop(t), "stderr:\n%s", s.stderr.String())

	key, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	assert.Len(t, key, secretstore.MasterKeySize)
	assert.NotContains(t, s.line, string(key))

	s = startServer(t, args...)
	status, out = s.call(t, "GetSecretValue", map[string]any{"SecretId": "kept"})
	require.Equal(t, http.StatusOK, status, out)
	assert.Equal(t, "v1", out["SecretString"])
	require.Equal(t, 0, s.stop(t), "stderr:\n%s", s.stderr.String())

	after, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	assert.Equal(t, key, after, "the key file is reused, not replaced")

	fi, err := os.Stat(keyFile)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm(), "key file mode")
	for _, d := range []string{filepath.Dir(keyFile), filepath.Dir(filepath.Dir(keyFile))} {
		fi, err := os.Stat(d)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o700), fi.Mode().Perm(), "mode of %s", d)
	}
	var files int
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files++
		assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm(), "mode of %s", path)
		return nil
	}))
	assert.Positive(t, files)
}

func TestServeCredentialsRejectUnsigned(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "creds")
	require.NoError(t, os.WriteFile(creds, []byte("# test keys\n\nAKIDEXAMPLE wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n"), 0o600))
	s := startServer(t, "serve", "--memory", "--addr", "127.0.0.1:0", "--credentials", creds)
	status, out := s.call(t, "ListSecrets", map[string]any{})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "MissingAuthenticationTokenException", out["__type"])
	assert.Equal(t, 0, s.stop(t), "stderr:\n%s", s.stderr.String())
	assert.NotContains(t, s.stderr.String(), "wJalrXUtnFEMI")
}

func TestServeUsageErrors(t *testing.T) {
	base := t.TempDir()
	badCreds := filepath.Join(base, "bad-creds")
	require.NoError(t, os.WriteFile(badCreds, []byte("onlyone\n"), 0o600))
	emptyCreds := filepath.Join(base, "empty-creds")
	require.NoError(t, os.WriteFile(emptyCreds, []byte("# nothing\n"), 0o600))
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"non-loopback without credentials", []string{"serve", "--memory", "--addr", "0.0.0.0:0"}, 2, "--insecure"},
		{"all interfaces without credentials", []string{"serve", "--memory", "--addr", ":0"}, 2, "--insecure"},
		{"memory and dir", []string{"serve", "--memory", "--dir", filepath.Join(base, "d")}, 2, "--memory cannot be used with --dir"},
		{"memory and key file", []string{"serve", "--memory", "--master-key-file", filepath.Join(base, "k")}, 2, "--master-key-file"},
		{"key inside store", []string{"serve", "--addr", "127.0.0.1:0", "--dir", filepath.Join(base, "s"), "--master-key-file", filepath.Join(base, "s", "k")}, 2, "inside the store directory"},
		{"reset with credentials", []string{"serve", "--memory", "--allow-reset", "--credentials", emptyCreds}, 2, "--allow-reset"},
		{"bad flag", []string{"serve", "--nope"}, 2, "-nope"},
		{"extra argument", []string{"serve", "--memory", "extra"}, 2, "extra"},
		{"bad addr", []string{"serve", "--memory", "--addr", "nocolon"}, 2, "--addr"},
		{"malformed credentials", []string{"serve", "--memory", "--addr", "127.0.0.1:0", "--credentials", badCreds}, 1, "line 1"},
		{"empty credentials", []string{"serve", "--memory", "--addr", "127.0.0.1:0", "--credentials", emptyCreds}, 1, "no credentials"},
		{"no command", nil, 2, "serve"},
		{"unknown command", []string{"frobnicate"}, 2, "serve"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runBinary(t, tc.args...)
			assert.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Contains(t, stderr, tc.want)
			assert.Empty(t, stdout)
		})
	}
	_, err := os.Stat(filepath.Join(base, "s"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "a refused configuration creates no store")
}

func TestInsecureAllowsNonLoopback(t *testing.T) {
	s := startServer(t, "serve", "--memory", "--addr", "0.0.0.0:0", "--insecure")
	assert.Equal(t, 0, s.stop(t), "stderr:\n%s", s.stderr.String())
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runBinary(t, "version")
	assert.Equal(t, 0, code)
	assert.Regexp(t, `^secretstore \S+\n$`, stdout)
}

func TestRunInProcess(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 2, run(context.Background(), nil, nil, &out, &errOut))
	assert.Contains(t, errOut.String(), "serve")
	out.Reset()
	assert.Equal(t, 0, run(context.Background(), []string{"help"}, nil, &out, &errOut))
	assert.Contains(t, out.String(), "serve")

	// A server stops cleanly when its context is done.
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--memory", "--addr", "127.0.0.1:0"}, nil, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	assert.Regexp(t, startLine, strings.TrimSpace(line))
	cancel()
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	assert.Equal(t, 0, <-done)
}
