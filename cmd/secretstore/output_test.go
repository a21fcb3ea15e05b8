package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPythonNumber(t *testing.T) {
	t.Parallel()
	// Each want is Python's json.dumps(json.loads(in)).
	for in, want := range map[string]string{
		"1700000000.123":    "1700000000.123",
		"1700000000.100":    "1700000000.1",
		"1700000000.000":    "1700000000.0",
		"30":                "30",
		"-0.0":              "-0.0",
		"0.0001":            "0.0001",
		"0.00001":           "1e-05",
		"1e16":              "1e+16",
		"123456789012345.5": "123456789012345.5",
		"1.5E3":             "1500.0",
	} {
		assert.Equal(t, want, pythonNumber(json.Number(in)), "pythonNumber(%s)", in)
	}
}

func TestPrintJSON(t *testing.T) {
	t.Parallel()
	s := "tab\t \"quoted\" back\\slash é \u2028 <&> \x01\x7f"
	out := getSecretValueOutput{
		ARN:           "arn:x",
		Name:          "n",
		SecretString:  &s,
		VersionStages: []string{"AWSCURRENT", "BLUE"},
		CreatedDate:   "1700000000.500",
	}
	var buf bytes.Buffer
	require.NoError(t, printJSON(&buf, out))
	// As aws CLI v1 prints it: Python's json.dump(indent=4,
	// ensure_ascii=False); members in the service model's order.
	want := `{
    "ARN": "arn:x",
    "Name": "n",
    "SecretString": "tab\t \"quoted\" back\\slash é ` + "\u2028" + ` <&> \u0001` + "\x7f" + `",
    "VersionStages": [
        "AWSCURRENT",
        "BLUE"
    ],
    "CreatedDate": 1700000000.5
}
`
	assert.Equal(t, want, buf.String())

	buf.Reset()
	require.NoError(t, printJSON(&buf, listSecretsOutput{SecretList: []secretListEntryOutput{}}))
	assert.Equal(t, "{\n    \"SecretList\": []\n}\n", buf.String(), "an empty list is printed")

	buf.Reset()
	require.NoError(t, printJSON(&buf, struct{}{}))
	assert.Empty(t, buf.String(), "an empty response prints nothing, as with aws")
}
