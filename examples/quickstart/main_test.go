package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	require.NoError(t, run(context.Background(), &buf))
	out := buf.String()

	for _, want := range []string{
		"every value shown is a demo value",
		`GetSecretValue (default AWSCURRENT) -> "demo-password-1"`,
		`GetSecretValue VersionStage=AWSPENDING -> "demo-password-2"`,
		`GetSecretValue (default AWSCURRENT) -> "demo-password-2"`,
		`GetSecretValue VersionStage=AWSPREVIOUS -> "demo-password-1"`,
		"2 versions before, 3 after both calls",
		"same token with a different value: ResourceExistsException",
		"errors.Is(err, secretstore.ErrResourceNotFound) = true",
		"secretstore.ErrorCode(err) = ResourceNotFoundException",
		"Done.",
	} {
		assert.Contains(t, out, want)
	}

	// The pending value is staged without moving AWSCURRENT, then promoted.
	pending := regexp.MustCompile(`staged version (\w{8})`).FindStringSubmatch(out)
	require.Len(t, pending, 2, "no staged version in output:\n%s", out)
	assert.Contains(t, out, "version "+pending[1]+": AWSCURRENT, AWSPENDING")
	assert.Contains(t, out, "version "+pending[1]+": AWSCURRENT\n")

	// The retry returned the version of the first call.
	retry := regexp.MustCompile(`first call: version (\w{8}), retry: version (\w{8})`).FindStringSubmatch(out)
	require.Len(t, retry, 3, "no retry line in output:\n%s", out)
	assert.Equal(t, retry[1], retry[2])
}
