package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testParams exercises every kind of parameter.
var testParams = []param{
	{flag: "secret-id", kind: kindString, required: true},
	{flag: "max-results", kind: kindInt},
	{flag: "include-deprecated", kind: kindBool},
	{flag: "version-stages", kind: kindList},
	{flag: "secret-string", kind: kindText},
	{flag: "secret-binary", kind: kindBinary},
	{flag: "tags", kind: kindTags},
	{flag: "filters", kind: kindFilters},
	{flag: "rotation-rules", kind: kindRules},
}

func TestParseArgs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want map[string]any
	}{
		{"required only", []string{"--secret-id", "db"}, map[string]any{"secret-id": "db"}},
		{"equals form", []string{"--secret-id=a=b"}, map[string]any{"secret-id": "a=b"}},
		{"value starting with a dash", []string{"--secret-id", "-x", "--max-results", "-1"}, map[string]any{"secret-id": "-x", "max-results": int64(-1)}},
		{"space-separated list", []string{"--secret-id", "db", "--version-stages", "A", "B", "--max-results", "5"},
			map[string]any{"secret-id": "db", "version-stages": []string{"A", "B"}, "max-results": int64(5)}},
		{"repeated list", []string{"--version-stages", "A", "--secret-id", "db", "--version-stages", "B", "C"},
			map[string]any{"secret-id": "db", "version-stages": []string{"A", "B", "C"}}},
		{"JSON list", []string{"--secret-id", "db", "--version-stages", `["A", "B C"]`},
			map[string]any{"secret-id": "db", "version-stages": []string{"A", "B C"}}},
		{"bool", []string{"--include-deprecated", "--secret-id", "db"}, map[string]any{"secret-id": "db", "include-deprecated": true}},
		{"negated bool", []string{"--secret-id", "db", "--no-include-deprecated"}, map[string]any{"secret-id": "db", "include-deprecated": false}},
		{"plain text value", []string{"--secret-id", "db", "--secret-string", "s3cr3t"}, map[string]any{"secret-id": "db", "secret-string": "s3cr3t"}},
		{"plain binary value is its bytes", []string{"--secret-id", "db", "--secret-binary", "aGk="}, map[string]any{"secret-id": "db", "secret-binary": []byte("aGk=")}},
		{"tags shorthand", []string{"--secret-id", "db", "--tags", "Key=env,Value=prod", "Key=team,Value="},
			map[string]any{"secret-id": "db", "tags": []tag{{"env", "prod"}, {"team", ""}}}},
		{"filters shorthand", []string{"--secret-id", "db", "--filters", "Key=name,Values=app/,db/", "Key=tag-key,Values=[env,team]"},
			map[string]any{"secret-id": "db", "filters": []filter{{"name", []string{"app/", "db/"}}, {"tag-key", []string{"env", "team"}}}}},
		{"rules shorthand", []string{"--secret-id", "db", "--rotation-rules", "AutomaticallyAfterDays=30,Duration=2h"},
			map[string]any{"secret-id": "db", "rotation-rules": &rotationRules{AutomaticallyAfterDays: ptr(int64(30)), Duration: "2h"}}},
		{"rules JSON", []string{"--secret-id", "db", "--rotation-rules", `{"ScheduleExpression": "rate(10 days)"}`},
			map[string]any{"secret-id": "db", "rotation-rules": &rotationRules{ScheduleExpression: "rate(10 days)"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseArgs(tc.args, testParams, strings.NewReader(""))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string // in the message, which names the parameter
	}{
		{"missing required", []string{"--max-results", "5"}, "required: --secret-id"},
		{"unknown option", []string{"--secret-id", "db", "--secret-idd", "x"}, "unknown option --secret-idd"},
		{"negated non-bool", []string{"--secret-id", "db", "--no-max-results"}, "unknown option --no-max-results"},
		{"positional argument", []string{"--secret-id", "db", "extra"}, `unexpected argument "extra"`},
		{"missing value", []string{"--secret-id"}, "--secret-id expects a value"},
		{"option as value", []string{"--secret-id", "--max-results", "5"}, "--secret-id expects a value"},
		{"empty list", []string{"--secret-id", "db", "--version-stages", "--max-results", "1"}, "--version-stages expects at least one value"},
		{"scalar twice", []string{"--secret-id", "a", "--secret-id", "b"}, "--secret-id is given more than once"},
		{"bool twice", []string{"--secret-id", "a", "--include-deprecated", "--no-include-deprecated"}, "--include-deprecated is given more than once"},
		{"bool with value", []string{"--secret-id", "a", "--include-deprecated=true"}, "--include-deprecated takes no value"},
		{"bad integer", []string{"--secret-id", "a", "--max-results", "ten"}, "--max-results"},
		{"bad JSON list", []string{"--secret-id", "a", "--version-stages", `["A"`}, "--version-stages: invalid JSON"},
		{"tag without key", []string{"--secret-id", "a", "--tags", "Value=v"}, "--tags"},
		{"tag with unknown member", []string{"--secret-id", "a", "--tags", "Key=k,Val=v"}, `unknown member "Val"`},
		{"two values from stdin", []string{"--secret-id", "a", "--secret-string", "-", "--secret-binary", "-"}, "cannot both read standard input"},
		{"missing file", []string{"--secret-id", "a", "--secret-string", "file:///no/such/file"}, "--secret-string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseArgs(tc.args, testParams, strings.NewReader(""))
			require.Error(t, err)
			var ue *usageError
			assert.True(t, errors.As(err, &ue), "a usage error, got %T", err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseShorthand(t *testing.T) {
	t.Parallel()
	members := map[string]bool{"Key": false, "Value": false, "Values": true}
	for _, tc := range []struct {
		in   string
		want map[string][]string
	}{
		{"Key=k,Value=v", map[string][]string{"Key": {"k"}, "Value": {"v"}}},
		{" Key = k , Value = v ", map[string][]string{"Key": {"k"}, "Value": {"v"}}},
		{"Key=k,Value=a=b", map[string][]string{"Key": {"k"}, "Value": {"a=b"}}},
		{`Key=k,Value="a,b"`, map[string][]string{"Key": {"k"}, "Value": {"a,b"}}},
		{`Key='x y',Value=`, map[string][]string{"Key": {"x y"}, "Value": {""}}},
		{"Key=name,Values=a,b,c", map[string][]string{"Key": {"name"}, "Values": {"a", "b", "c"}}},
		{"Values=a,b,Key=name", map[string][]string{"Key": {"name"}, "Values": {"a", "b"}}},
		{`Key=name,Values=[a,"b,c"]`, map[string][]string{"Key": {"name"}, "Values": {"a", "b,c"}}},
		{"Key=name,Values=[]", map[string][]string{"Key": {"name"}, "Values": {}}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseShorthand(tc.in, members)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	for _, bad := range []string{"Key", "Key=k,v", "Key=k,Key=l", `Key="k`, "Values=[a,b", "Nope=1"} {
		t.Run("bad "+bad, func(t *testing.T) {
			_, err := parseShorthand(bad, members)
			assert.Error(t, err)
		})
	}
}

func TestParseTagsAndFiltersJSON(t *testing.T) {
	t.Parallel()
	tags, err := parseTags([]string{`[{"Key":"env","Value":"prod"},{"Key":"x","Value":""}]`})
	require.NoError(t, err)
	assert.Equal(t, []tag{{"env", "prod"}, {"x", ""}}, tags)
	_, err = parseTags([]string{`[{"Key":"env","Valeu":"prod"}]`})
	assert.Error(t, err, "a misspelt member is refused, not dropped")

	fs, err := parseFilters([]string{`[{"Key":"name","Values":["app/"]}]`})
	require.NoError(t, err)
	assert.Equal(t, []filter{{"name", []string{"app/"}}}, fs)
}

func TestReadValue(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	text := filepath.Join(dir, "text")
	require.NoError(t, os.WriteFile(text, []byte("line one\nline two\n"), 0o600))
	bin := filepath.Join(dir, "bin")
	binData := []byte{0, 0xff, 'x', '\n'}
	require.NoError(t, os.WriteFile(bin, binData, 0o600))
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, make([]byte, maxValueSize+1), 0o600))

	for _, tc := range []struct {
		name   string
		arg    string
		binary bool
		stdin  string
		want   any
	}{
		{"text argument", "value", false, "", "value"},
		{"file:// keeps the trailing newline", "file://" + text, false, "", "line one\nline two\n"},
		{"fileb:// as text", "fileb://" + text, false, "", "line one\nline two\n"},
		{"stdin text loses one newline", "-", false, "value\n\n", "value\n"},
		{"stdin text without newline", "-", false, "value", "value"},
		{"fileb:// binary", "fileb://" + bin, true, "", binData},
		{"file:// binary", "file://" + bin, true, "", binData},
		{"stdin binary is exact", "-", true, "a\n", []byte("a\n")},
		{"binary argument", "abc", true, "", []byte("abc")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readValue(tc.arg, tc.binary, strings.NewReader(tc.stdin))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	_, err := readValue("file://"+bin, false, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not valid UTF-8")
	assert.NotContains(t, err.Error(), "\xff", "errors never hold the value")

	_, err = readValue("fileb://"+big, true, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "more than")

	_, err = readValue("file://", false, nil)
	assert.Error(t, err)
}

func TestReadValueHomeDirectory(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	require.NoError(t, os.WriteFile(filepath.Join(home, "pw"), []byte("from home"), 0o600))
	got, err := readValue("file://~/pw", false, nil)
	require.NoError(t, err)
	assert.Equal(t, "from home", got)
}

func ptr[T any](v T) *T { return &v }
