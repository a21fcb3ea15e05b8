package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCLIMatchesAWSCLI runs each read-only subcommand and the real aws CLI
// (v1, whose default output the subcommands reproduce) against one store,
// the aws CLI through "secretstore serve" on the same directory, and checks
// that both print the same bytes. It skips when no aws CLI v1 is on PATH
// (.ci/run puts one there; aws CLI v2 prints timestamps differently).
func TestCLIMatchesAWSCLI(t *testing.T) {
	t.Parallel()
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		t.Skipf("no aws CLI on PATH: %v", err)
	}
	awsEnv := awsCLIEnv(t)
	version, err := exec.Command(awsBin, "--version").CombinedOutput()
	require.NoError(t, err, "%s", version)
	if !strings.HasPrefix(string(version), "aws-cli/1.") {
		t.Skipf("%s is not aws CLI v1: %s", awsBin, version)
	}

	s := newCLIStore(t)
	srv := startServer(t, "serve", "--addr", "127.0.0.1:0", "--dir", s.dir, "--master-key-file", s.keyFile)
	aws := func(args ...string) (stdout, stderr string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, awsBin, append([]string{"--endpoint-url", srv.url, "--output", "json", "secretsmanager"}, args...)...)
		cmd.Env = awsEnv
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		_ = cmd.Run() // failures are compared below
		return o.String(), e.String()
	}

	// A value with characters whose escaping differs between JSON encoders.
	value := "é \"quoted\" back\\slash\n<&> \u2028 tab\t"
	s.json(t, value, "create-secret", "--name", "cmp/db", "--description", "compared",
		"--secret-string", "-", "--client-request-token", cliToken1, "--tags", "Key=env,Value=dev", "Key=team,Value=core")
	s.json(t, "", "put-secret-value", "--secret-id", "cmp/db", "--secret-binary", "fileb://"+writeTestFile(t, "b", []byte{0, 1, 0xfe, 0xff}),
		"--client-request-token", cliToken2, "--version-stages", "AWSCURRENT", "BLUE")
	s.json(t, "", "create-secret", "--name", "cmp/other")

	for _, args := range [][]string{
		{"get-secret-value", "--secret-id", "cmp/db"},
		{"get-secret-value", "--secret-id", "cmp/db", "--version-stage", "AWSPREVIOUS"},
		{"describe-secret", "--secret-id", "cmp/db"},
		{"list-secret-version-ids", "--secret-id", "cmp/db", "--include-deprecated"},
		{"list-secrets"},
		{"list-secrets", "--filters", "Key=name,Values=cmp/d", "--sort-order", "desc"},
		{"batch-get-secret-value", "--secret-id-list", "cmp/db", "cmp/missing"},
		{"get-secret-value", "--secret-id", "cmp/missing"},
		{"tag-resource", "--secret-id", "cmp/db", "--tags", "Key=env,Value=dev"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			wantOut, wantErr := aws(args...)
			if args[0] != "tag-resource" {
				require.NotEmpty(t, wantOut+wantErr, "aws printed nothing")
			}
			_, gotOut, gotErr := s.run(t, "", args...)
			assert.Equal(t, wantOut, gotOut, "stdout")
			assert.Equal(t, wantErr, gotErr, "stderr")
		})
	}
	assert.Equal(t, 0, srv.stop(t), "serve stderr:\n%s", srv.stderr.String())
}

// awsCLIEnv returns the environment of aws processes: fixed credentials and
// region, and nothing of the user's own AWS configuration.
func awsCLIEnv(t *testing.T) []string {
	dir := t.TempDir()
	config := filepath.Join(dir, "config")
	require.NoError(t, os.WriteFile(config, nil, 0o600))
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"LANG=C.UTF-8",
		"AWS_ACCESS_KEY_ID=AKID",
		"AWS_SECRET_ACCESS_KEY=SECRET",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_PAGER=",
		"AWS_CONFIG_FILE=" + config,
		"AWS_SHARED_CREDENTIALS_FILE=" + config,
		"AWS_MAX_ATTEMPTS=1",
	}
}
