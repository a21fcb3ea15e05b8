package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// The responses of the subcommands, printed as the aws CLI (v1, --output
// json) prints them. The aws CLI decodes a response into its service
// model's shapes and prints their members in the model's order, leaving out
// those the response lacks; these types list the members the awsapi
// endpoint sends, in that order. Timestamps stay the epoch-second numbers
// the endpoint sends and blobs the base64 text it sends, as aws CLI v1
// prints them. Every member is optional here, so that whatever the endpoint
// leaves out stays out; slices and maps use omitzero so that an empty list
// the endpoint sends (such as "Tags": []) is printed.

type tagOutput struct {
	Key   string
	Value string
}

type rotationRulesOutput struct {
	AutomaticallyAfterDays *int64 `json:",omitempty"`
	Duration               string `json:",omitempty"`
	ScheduleExpression     string `json:",omitempty"`
}

type arnNameOutput struct {
	ARN  string `json:",omitempty"`
	Name string `json:",omitempty"`
}

type arnNameVersionOutput struct {
	ARN       string `json:",omitempty"`
	Name      string `json:",omitempty"`
	VersionId string `json:",omitempty"`
}

type putSecretValueOutput struct {
	ARN           string   `json:",omitempty"`
	Name          string   `json:",omitempty"`
	VersionId     string   `json:",omitempty"`
	VersionStages []string `json:",omitzero"`
}

type getSecretValueOutput struct {
	ARN           string      `json:",omitempty"`
	Name          string      `json:",omitempty"`
	VersionId     string      `json:",omitempty"`
	SecretBinary  string      `json:",omitempty"` // base64
	SecretString  *string     `json:",omitempty"`
	VersionStages []string    `json:",omitzero"`
	CreatedDate   json.Number `json:",omitempty"`
}

type batchGetSecretValueOutput struct {
	SecretValues []getSecretValueOutput `json:",omitzero"` // SecretValueEntry has GetSecretValue's members
	NextToken    string                 `json:",omitempty"`
	Errors       []apiErrorOutput       `json:",omitzero"`
}

type apiErrorOutput struct {
	SecretId  string `json:",omitempty"`
	ErrorCode string `json:",omitempty"`
	Message   string `json:",omitempty"`
}

type describeSecretOutput struct {
	ARN                string               `json:",omitempty"`
	Name               string               `json:",omitempty"`
	Description        string               `json:",omitempty"`
	KmsKeyId           string               `json:",omitempty"`
	RotationEnabled    *bool                `json:",omitempty"`
	RotationLambdaARN  string               `json:",omitempty"`
	RotationRules      *rotationRulesOutput `json:",omitempty"`
	LastRotatedDate    json.Number          `json:",omitempty"`
	LastChangedDate    json.Number          `json:",omitempty"`
	LastAccessedDate   json.Number          `json:",omitempty"`
	DeletedDate        json.Number          `json:",omitempty"`
	NextRotationDate   json.Number          `json:",omitempty"`
	Tags               []tagOutput          `json:",omitzero"`
	VersionIdsToStages map[string][]string  `json:",omitzero"`
	CreatedDate        json.Number          `json:",omitempty"`
}

type secretListEntryOutput struct {
	ARN                    string               `json:",omitempty"`
	Name                   string               `json:",omitempty"`
	Description            string               `json:",omitempty"`
	KmsKeyId               string               `json:",omitempty"`
	RotationEnabled        *bool                `json:",omitempty"`
	RotationLambdaARN      string               `json:",omitempty"`
	RotationRules          *rotationRulesOutput `json:",omitempty"`
	LastRotatedDate        json.Number          `json:",omitempty"`
	LastChangedDate        json.Number          `json:",omitempty"`
	LastAccessedDate       json.Number          `json:",omitempty"`
	DeletedDate            json.Number          `json:",omitempty"`
	NextRotationDate       json.Number          `json:",omitempty"`
	Tags                   []tagOutput          `json:",omitzero"`
	SecretVersionsToStages map[string][]string  `json:",omitzero"`
	CreatedDate            json.Number          `json:",omitempty"`
}

type listSecretsOutput struct {
	SecretList []secretListEntryOutput `json:",omitzero"`
	NextToken  string                  `json:",omitempty"`
}

type versionEntryOutput struct {
	VersionId        string      `json:",omitempty"`
	VersionStages    []string    `json:",omitzero"`
	LastAccessedDate json.Number `json:",omitempty"`
	CreatedDate      json.Number `json:",omitempty"`
	KmsKeyIds        []string    `json:",omitzero"`
}

type listSecretVersionIdsOutput struct {
	Versions  []versionEntryOutput `json:",omitzero"`
	NextToken string               `json:",omitempty"`
	ARN       string               `json:",omitempty"`
	Name      string               `json:",omitempty"`
}

type deleteSecretOutput struct {
	ARN          string      `json:",omitempty"`
	Name         string      `json:",omitempty"`
	DeletionDate json.Number `json:",omitempty"`
}

type getRandomPasswordOutput struct {
	RandomPassword string `json:",omitempty"`
}

// printJSON writes v as the aws CLI writes a response: as Python's
// json.dump(v, indent=4, ensure_ascii=False) does, followed by a newline.
// That differs from encoding/json in the escapes of strings and in numbers:
// a number with a fraction or exponent is a Python float, printed by its
// shortest repr (1700000000.100 becomes 1700000000.1, 5.000 becomes 5.0).
// An empty object prints nothing at all, as the aws CLI prints nothing for
// an empty response.
func printJSON(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if string(data) == "{}" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var buf bytes.Buffer
	if err := writePython(&buf, dec, 0); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

// writePython writes the next JSON value of dec to buf, Python style, at
// the given indentation depth.
func writePython(buf *bytes.Buffer, dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		end := json.Delim('}')
		if t == '[' {
			end = ']'
		}
		buf.WriteByte(byte(t))
		n := 0
		for dec.More() {
			if n > 0 {
				buf.WriteByte(',')
			}
			n++
			buf.WriteByte('\n')
			buf.WriteString(strings.Repeat("    ", depth+1))
			if t == '{' {
				key, err := dec.Token()
				if err != nil {
					return err
				}
				writePythonString(buf, key.(string))
				buf.WriteString(": ")
			}
			if err := writePython(buf, dec, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return err
		}
		if n > 0 {
			buf.WriteByte('\n')
			buf.WriteString(strings.Repeat("    ", depth))
		}
		buf.WriteByte(byte(end))
	case string:
		writePythonString(buf, t)
	case json.Number:
		buf.WriteString(pythonNumber(t))
	case bool:
		buf.WriteString(strconv.FormatBool(t))
	case nil:
		buf.WriteString("null")
	default:
		return fmt.Errorf("unexpected JSON token %T", tok)
	}
	return nil
}

// writePythonString writes s quoted as Python's json module does with
// ensure_ascii=False: only the quote, the backslash and control characters
// are escaped; every other character is written as itself.
func writePythonString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			buf.WriteString(`\"`)
		case '\\':
			buf.WriteString(`\\`)
		case '\n':
			buf.WriteString(`\n`)
		case '\r':
			buf.WriteString(`\r`)
		case '\t':
			buf.WriteString(`\t`)
		case '\b':
			buf.WriteString(`\b`)
		case '\f':
			buf.WriteString(`\f`)
		default:
			if c < 0x20 {
				buf.WriteString(`\u00`)
				buf.WriteByte(hex[c>>4])
				buf.WriteByte(hex[c&0xf])
			} else {
				buf.WriteByte(c)
			}
		}
	}
	buf.WriteByte('"')
}

// pythonNumber formats a JSON number as Python's json module prints the
// value json.loads makes of it: integers as they are, other numbers as the
// repr of a float.
func pythonNumber(n json.Number) string {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return s
	}
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	// repr uses fixed notation for exponents -4 to 15, scientific otherwise.
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(sci[strings.IndexByte(sci, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return sci
	}
	fixed := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(fixed, ".") {
		fixed += ".0"
	}
	return fixed
}
