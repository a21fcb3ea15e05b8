package awsapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secretstore/secretstore/awsapi"
	"github.com/secretstore/secretstore/backend/membackend"
)

// TestAWSCLI drives the handler with the real aws CLI (v1 or v2), one process
// per call, and checks the JSON the CLI prints. It needs `aws` on PATH: in CI
// (CI=true) a missing CLI fails the test, elsewhere it skips it. .ci/run
// installs the CLI (Debian's awscli package) when it is missing.
//
// The steps share one secret and run in order; the first failing step stops
// the test.
func TestAWSCLI(t *testing.T) {
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the aws CLI is not on PATH (%v): .ci/run should have installed it (apt-get install awscli)", err)
		}
		t.Skipf("the aws CLI is not on PATH (%v): install it (apt-get install awscli, or pip install awscli) to run this test", err)
	}

	h, err := awsapi.NewHandler(membackend.New())
	if err != nil {
		t.Fatal(err)
	}
	srv := cliServer(t, h)
	c := &cliClient{bin: awsBin, url: srv, env: cliEnv(t)}
	if out, err := c.run(t.Context(), "--version"); err == nil {
		t.Logf("using %s: %s", awsBin, strings.TrimSpace(out.stdout+out.stderr))
	}

	files := t.TempDir()
	const (
		name  = "cli/app/db"
		other = "cli-other"
		v1    = `{"username":"admin","password":"first"}`
		v2    = `{"username":"admin","password":"second"}`
	)
	bin := []byte{0x00, 0xff, 0xfe, 'b', 'i', 'n', 0x80, '\n'}
	v1File := cliWriteFile(t, files, "v1.json", []byte(v1))
	v2File := cliWriteFile(t, files, "v2.json", []byte(v2))
	binFile := cliWriteFile(t, files, "v3.bin", bin)
	var arn string

	steps := []struct {
		name string
		f    func(t *testing.T)
	}{
		{"create-secret", func(t *testing.T) {
			out := c.json(t, "create-secret", "--name", name, "--description", "first",
				"--secret-string", "file://"+v1File, "--client-request-token", token1,
				"--tags", "Key=env,Value=dev")
			arn = cliString(t, out, "ARN")
			if !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:") || !strings.Contains(arn, ":secret:"+name+"-") {
				t.Errorf("ARN = %q, want arn:aws:secretsmanager:us-east-1:<account>:secret:%s-XXXXXX", arn, name)
			}
			cliWant(t, out, "Name", name)
			cliWant(t, out, "VersionId", token1)
		}},
		{"create-secret other", func(t *testing.T) {
			out := c.json(t, "create-secret", "--name", other, "--secret-string", "x")
			cliWant(t, out, "Name", other)
			if v := cliString(t, out, "VersionId"); v == "" {
				t.Error("VersionId is empty: the CLI should have generated a client request token")
			}
		}},
		{"update-secret", func(t *testing.T) {
			out := c.json(t, "update-secret", "--secret-id", name, "--description", "updated")
			cliWant(t, out, "ARN", arn)
			cliWant(t, out, "Name", name)
			if _, ok := out["VersionId"]; ok {
				t.Errorf("VersionId = %v, want none: update-secret without a value creates no version", out["VersionId"])
			}
		}},
		{"put-secret-value string", func(t *testing.T) {
			out := c.json(t, "put-secret-value", "--secret-id", name, "--secret-string", "file://"+v2File,
				"--client-request-token", token2, "--version-stages", "AWSCURRENT")
			cliWant(t, out, "ARN", arn)
			cliWant(t, out, "Name", name)
			cliWant(t, out, "VersionId", token2)
			cliWantStages(t, out["VersionStages"], "AWSCURRENT")
		}},
		{"put-secret-value binary", func(t *testing.T) {
			out := c.json(t, "put-secret-value", "--secret-id", arn, "--secret-binary", "fileb://"+binFile,
				"--client-request-token", token3, "--version-stages", "AWSCURRENT", "BLUE")
			cliWant(t, out, "ARN", arn)
			cliWant(t, out, "VersionId", token3)
			cliWantStages(t, out["VersionStages"], "AWSCURRENT", "BLUE")
		}},
		{"get-secret-value current", func(t *testing.T) {
			out := c.json(t, "get-secret-value", "--secret-id", name)
			cliWant(t, out, "ARN", arn)
			cliWant(t, out, "Name", name)
			cliWant(t, out, "VersionId", token3)
			cliWantStages(t, out["VersionStages"], "AWSCURRENT", "BLUE")
			// The CLI prints blobs base64-encoded.
			cliWant(t, out, "SecretBinary", base64.StdEncoding.EncodeToString(bin))
			if _, ok := out["SecretString"]; ok {
				t.Errorf("SecretString = %v, want none for a binary version", out["SecretString"])
			}
			cliWantRecent(t, out, "CreatedDate")
		}},
		{"get-secret-value AWSPREVIOUS", func(t *testing.T) {
			out := c.json(t, "get-secret-value", "--secret-id", name, "--version-stage", "AWSPREVIOUS")
			cliWant(t, out, "VersionId", token2)
			cliWant(t, out, "SecretString", v2)
			cliWantStages(t, out["VersionStages"], "AWSPREVIOUS")
		}},
		{"describe-secret", func(t *testing.T) {
			out := c.json(t, "describe-secret", "--secret-id", name)
			cliWant(t, out, "ARN", arn)
			cliWant(t, out, "Name", name)
			cliWant(t, out, "Description", "updated")
			cliWantRecent(t, out, "CreatedDate")
			cliWantRecent(t, out, "LastChangedDate")
			// token1 lost its last label when AWSPREVIOUS moved to token2: it
			// is deprecated and not listed.
			cliWantVersions(t, out["VersionIdsToStages"], map[string][]string{
				token2: {"AWSPREVIOUS"},
				token3: {"AWSCURRENT", "BLUE"},
			})
			cliWantTags(t, out["Tags"], map[string]string{"env": "dev"})
		}},
		{"list-secret-version-ids --include-deprecated", func(t *testing.T) {
			out := c.json(t, "list-secret-version-ids", "--secret-id", name, "--include-deprecated")
			cliWant(t, out, "ARN", arn)
			cliWant(t, out, "Name", name)
			versions, ok := out["Versions"].([]any)
			if !ok {
				t.Fatalf("Versions = %#v, want a list", out["Versions"])
			}
			got := map[string][]string{}
			for _, v := range versions {
				m, ok := v.(map[string]any)
				if !ok {
					t.Fatalf("Versions entry = %#v, want an object", v)
				}
				id, _ := m["VersionId"].(string)
				got[id] = cliStrings(t, m["VersionStages"])
				cliWantRecent(t, m, "CreatedDate")
			}
			want := map[string][]string{
				token1: nil,
				token2: {"AWSPREVIOUS"},
				token3: {"AWSCURRENT", "BLUE"},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Versions = %v, want %v (token1 deprecated, with no stages)", got, want)
			}
		}},
		{"update-secret-version-stage revert", func(t *testing.T) {
			out := c.json(t, "update-secret-version-stage", "--secret-id", name, "--version-stage", "AWSCURRENT",
				"--move-to-version-id", token2, "--remove-from-version-id", token3)
			cliWant(t, out, "ARN", arn)
			cliWant(t, out, "Name", name)
			// Moving AWSCURRENT moves AWSPREVIOUS to the version it left.
			d := c.json(t, "describe-secret", "--secret-id", name)
			cliWantVersions(t, d["VersionIdsToStages"], map[string][]string{
				token2: {"AWSCURRENT"},
				token3: {"AWSPREVIOUS", "BLUE"},
			})
			g := c.json(t, "get-secret-value", "--secret-id", name)
			cliWant(t, g, "VersionId", token2)
			cliWant(t, g, "SecretString", v2)
		}},
		{"tag-resource and untag-resource", func(t *testing.T) {
			if out := c.ok(t, "tag-resource", "--secret-id", name, "--tags", "Key=team,Value=core", "Key=tier,Value=1"); strings.TrimSpace(out) != "" {
				t.Errorf("tag-resource printed %q, want nothing", out)
			}
			if out := c.ok(t, "untag-resource", "--secret-id", arn, "--tag-keys", "env", "tier"); strings.TrimSpace(out) != "" {
				t.Errorf("untag-resource printed %q, want nothing", out)
			}
			d := c.json(t, "describe-secret", "--secret-id", name)
			cliWantTags(t, d["Tags"], map[string]string{"team": "core"})
		}},
		{"list-secrets --filters", func(t *testing.T) {
			out := c.json(t, "list-secrets", "--filters", "Key=name,Values=cli/")
			list, ok := out["SecretList"].([]any)
			if !ok || len(list) != 1 {
				t.Fatalf("SecretList = %#v, want exactly %s (%s does not start with cli/)", out["SecretList"], name, other)
			}
			e, ok := list[0].(map[string]any)
			if !ok {
				t.Fatalf("SecretList[0] = %#v, want an object", list[0])
			}
			cliWant(t, e, "ARN", arn)
			cliWant(t, e, "Name", name)
			cliWant(t, e, "Description", "updated")
			cliWantTags(t, e["Tags"], map[string]string{"team": "core"})
			cliWantVersions(t, e["SecretVersionsToStages"], map[string][]string{
				token2: {"AWSCURRENT"},
				token3: {"AWSPREVIOUS", "BLUE"},
			})
		}},
		{"delete-secret with recovery window and restore-secret", func(t *testing.T) {
			out := c.json(t, "delete-secret", "--secret-id", name, "--recovery-window-in-days", "7")
			cliWant(t, out, "ARN", arn)
			cliWant(t, out, "Name", name)
			del := cliTime(t, out, "DeletionDate")
			if want := time.Now().Add(7 * 24 * time.Hour); del.Before(want.Add(-time.Hour)) || del.After(want.Add(time.Hour)) {
				t.Errorf("DeletionDate = %v, want about %v (7 days from now)", del, want)
			}
			// A secret scheduled for deletion cannot be read.
			_, stderr := c.fail(t, "get-secret-value", "--secret-id", name)
			if !strings.Contains(stderr, "InvalidRequestException") {
				t.Errorf("get-secret-value on a deleted secret: stderr = %q, want InvalidRequestException", stderr)
			}
			out = c.json(t, "restore-secret", "--secret-id", name)
			cliWant(t, out, "ARN", arn)
			cliWant(t, out, "Name", name)
			g := c.json(t, "get-secret-value", "--secret-id", name)
			cliWant(t, g, "SecretString", v2)
		}},
		{"delete-secret --force-delete-without-recovery", func(t *testing.T) {
			out := c.json(t, "delete-secret", "--secret-id", other, "--force-delete-without-recovery")
			cliWant(t, out, "Name", other)
			if a := cliString(t, out, "ARN"); !strings.Contains(a, ":secret:"+other+"-") {
				t.Errorf("ARN = %q, want the ARN of %s", a, other)
			}
			cliWantRecent(t, out, "DeletionDate")
		}},
		{"get-secret-value missing secret", func(t *testing.T) {
			stdout, stderr := c.fail(t, "get-secret-value", "--secret-id", "cli/no/such/secret")
			if !strings.Contains(stderr, "ResourceNotFoundException") {
				t.Errorf("stderr = %q, want ResourceNotFoundException", stderr)
			}
			if strings.TrimSpace(stdout) != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.f) {
			t.Fatalf("step %q failed: skipping the steps after it, which depend on it", s.name)
		}
	}
}

// cliServer serves h on a loopback httptest server closed at the end of t.
func cliServer(t *testing.T, h *awsapi.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// cliEnv returns the environment of the aws processes: fixed credentials and
// region, and empty config and credentials files and home directory, so that
// nothing from the user's own AWS configuration leaks in.
func cliEnv(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	config := cliWriteFile(t, dir, "config", nil)
	creds := cliWriteFile(t, dir, "credentials", nil)
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"AWS_ACCESS_KEY_ID=AKID",
		"AWS_SECRET_ACCESS_KEY=SECRET",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_PAGER=",
		"AWS_CONFIG_FILE=" + config,
		"AWS_SHARED_CREDENTIALS_FILE=" + creds,
		"AWS_MAX_ATTEMPTS=1",
	}
}

func cliWriteFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type cliClient struct {
	bin, url string
	env      []string
}

type cliOutput struct {
	stdout, stderr string
}

// run runs `aws args...` with c.env and no stdin, for at most 30 s.
func (c *cliClient) run(ctx context.Context, args ...string) (cliOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = c.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return cliOutput{stdout.String(), stderr.String()}, err
}

// sm runs `aws --endpoint-url URL --output json secretsmanager op args...`.
func (c *cliClient) sm(t *testing.T, op string, args ...string) (cliOutput, error) {
	t.Helper()
	full := append([]string{"--endpoint-url", c.url, "--output", "json", "secretsmanager", op}, args...)
	start := time.Now()
	out, err := c.run(t.Context(), full...)
	t.Logf("aws secretsmanager %s %s (%v): exit %v", op, strings.Join(args, " "), time.Since(start).Round(time.Millisecond), err)
	return out, err
}

// ok runs a secretsmanager command that must succeed and returns its stdout.
func (c *cliClient) ok(t *testing.T, op string, args ...string) string {
	t.Helper()
	out, err := c.sm(t, op, args...)
	if err != nil {
		t.Fatalf("aws secretsmanager %s: %v\nstdout: %s\nstderr: %s", op, err, out.stdout, out.stderr)
	}
	return out.stdout
}

// json runs a secretsmanager command that must succeed and print a JSON
// object, and returns the object.
func (c *cliClient) json(t *testing.T, op string, args ...string) map[string]any {
	t.Helper()
	stdout := c.ok(t, op, args...)
	var m map[string]any
	if err := json.Unmarshal([]byte(stdout), &m); err != nil {
		t.Fatalf("aws secretsmanager %s printed no JSON object: %v\n%s", op, err, stdout)
	}
	return m
}

// fail runs a secretsmanager command that must exit non-zero (but not be
// killed) and returns its stdout and stderr.
func (c *cliClient) fail(t *testing.T, op string, args ...string) (stdout, stderr string) {
	t.Helper()
	out, err := c.sm(t, op, args...)
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() <= 0 {
		t.Fatalf("aws secretsmanager %s: err = %v, want a non-zero exit\nstdout: %s\nstderr: %s", op, err, out.stdout, out.stderr)
	}
	return out.stdout, out.stderr
}

func cliString(t *testing.T, m map[string]any, key string) string {
	t.Helper()
	s, ok := m[key].(string)
	if !ok {
		t.Errorf("%s = %#v, want a string", key, m[key])
	}
	return s
}

func cliWant(t *testing.T, m map[string]any, key, want string) {
	t.Helper()
	if got, ok := m[key].(string); !ok || got != want {
		t.Errorf("%s = %#v, want %q", key, m[key], want)
	}
}

// cliStrings converts a JSON list of strings, sorted; nil (absent) is nil.
func cliStrings(t *testing.T, v any) []string {
	t.Helper()
	if v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		t.Errorf("%#v is not a list", v)
		return nil
	}
	var out []string
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			t.Errorf("%#v is not a list of strings", v)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func cliWantStages(t *testing.T, v any, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := cliStrings(t, v); !slices.Equal(got, want) {
		t.Errorf("VersionStages = %v, want %v", got, want)
	}
}

// cliWantVersions checks a VersionIdsToStages-like map (stages in any order).
func cliWantVersions(t *testing.T, v any, want map[string][]string) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Errorf("versions = %#v, want an object", v)
		return
	}
	got := map[string][]string{}
	for id, st := range m {
		got[id] = cliStrings(t, st)
	}
	for _, st := range want {
		slices.Sort(st)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("versions to stages = %v, want %v", got, want)
	}
}

// cliWantTags checks a Tags list ([{"Key":..., "Value":...}]) in any order.
func cliWantTags(t *testing.T, v any, want map[string]string) {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Errorf("Tags = %#v, want a list", v)
		return
	}
	got := map[string]string{}
	for _, e := range list {
		m, _ := e.(map[string]any)
		k, _ := m["Key"].(string)
		val, _ := m["Value"].(string)
		got[k] = val
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Tags = %v, want %v", got, want)
	}
}

// cliTime reads a timestamp as the CLI prints it: aws v2 prints ISO 8601
// strings, aws v1 (by default) the epoch seconds it received.
func cliTime(t *testing.T, m map[string]any, key string) time.Time {
	t.Helper()
	switch v := m[key].(type) {
	case float64:
		sec := int64(v)
		return time.Unix(sec, int64((v-float64(sec))*1e9))
	case string:
		ts, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			t.Errorf("%s = %q: %v", key, v, err)
		}
		return ts
	default:
		t.Errorf("%s = %#v, want a timestamp", key, m[key])
		return time.Time{}
	}
}

// cliWantRecent checks that the timestamp key is within a minute of now.
func cliWantRecent(t *testing.T, m map[string]any, key string) {
	t.Helper()
	ts := cliTime(t, m, key)
	if d := time.Since(ts); d < -time.Minute || d > time.Minute {
		t.Errorf("%s = %v, want about now", key, ts)
	}
}
