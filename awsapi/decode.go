package awsapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Request decoding. Every request body goes through encoding/json, except
// that the hot operations (GetSecretValue, PutSecretValue) first try
// decodeStrings, a decoder without reflection for the bodies SDKs send:
// flat objects of string members. It accepts only a subset of JSON on
// which it decodes exactly as encoding/json does, and reports anything
// else (other members or value types, duplicate or differently cased
// member names, \u escapes, invalid UTF-8, syntax errors) as not handled,
// so that encoding/json decodes it and reports the errors it always has.
// decode_test.go checks the two against each other, fuzzing included.

// decode unmarshals a request body, rejecting malformed JSON.
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return &apiError{http.StatusBadRequest, codeSerializ, "Unexpected type for member " + te.Field + "."}
		}
		return &apiError{http.StatusBadRequest, codeSerializ, "The request body is not valid JSON."}
	}
	return nil
}

func (in *getSecretValueRequest) decode(body []byte) error {
	names := [...]string{"SecretId", "VersionId", "VersionStage"}
	var vals [len(names)]string
	if _, ok := decodeStrings(body, names[:], vals[:]); ok {
		in.SecretId, in.VersionId, in.VersionStage = vals[0], vals[1], vals[2]
		return nil
	}
	var slow getSecretValueRequest // declared here so that only this path allocates it
	err := decode(body, &slow)
	*in = slow
	return err
}

func (in *putSecretValueRequest) decode(body []byte) error {
	names := [...]string{"SecretId", "ClientRequestToken", "SecretString"}
	var vals [len(names)]string
	if seen, ok := decodeStrings(body, names[:], vals[:]); ok {
		in.SecretId, in.ClientRequestToken = vals[0], vals[1]
		if seen&(1<<2) != 0 {
			in.SecretString = &vals[2]
		}
		return nil
	}
	var slow putSecretValueRequest
	err := decode(body, &slow)
	*in = slow
	return err
}

// decodeStrings decodes body if it is a JSON object (surrounded by optional
// whitespace) whose members all have string values and names among names,
// spelled exactly so, each at most once, and whose strings hold valid UTF-8
// and no \u escapes. It stores the value of names[i] in vals[i], sets bit i
// of seen for each member present, and reports whether it decoded body;
// when it did not, it may have stored some values.
func decodeStrings(body []byte, names, vals []string) (seen uint64, ok bool) {
	i := skipSpace(body, 0)
	if i == len(body) || body[i] != '{' {
		return 0, false
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return 0, skipSpace(body, i+1) == len(body)
	}
	for {
		// Member name: only plain names can match one of names exactly.
		if i == len(body) || body[i] != '"' {
			return 0, false
		}
		end := plainStringEnd(body, i+1)
		if end < 0 {
			return 0, false
		}
		k := -1
		for j, n := range names {
			if string(body[i+1:end]) == n {
				k = j
				break
			}
		}
		if k < 0 || seen&(1<<k) != 0 {
			return 0, false
		}
		seen |= 1 << k
		i = skipSpace(body, end+1)
		if i == len(body) || body[i] != ':' {
			return 0, false
		}
		i = skipSpace(body, i+1)
		if i == len(body) || body[i] != '"' {
			return 0, false
		}
		v, next, ok := readString(body, i+1)
		if !ok {
			return 0, false
		}
		vals[k] = v
		i = skipSpace(body, next)
		if i == len(body) {
			return 0, false
		}
		switch body[i] {
		case ',':
			i = skipSpace(body, i+1)
		case '}':
			return seen, skipSpace(body, i+1) == len(body)
		default:
			return 0, false
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainStringEnd returns the index of the quote that closes the string
// whose contents start at b[i], or -1 if the string has an escape, a
// control character or a byte outside ASCII before it (or does not end).
func plainStringEnd(b []byte, i int) int {
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return -1
		}
	}
	return -1
}

// readString decodes the JSON string whose contents start at b[i] and
// returns it with the index after its closing quote. It fails on what
// decodeStrings leaves to encoding/json: control characters, \u escapes,
// invalid escapes and invalid UTF-8.
func readString(b []byte, i int) (s string, next int, ok bool) {
	start := i
	escapes := false
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			raw := b[start:i]
			if !utf8.Valid(raw) {
				return "", 0, false
			}
			if !escapes {
				return string(raw), i + 1, true
			}
			return unescape(raw), i + 1, true
		case c == '\\':
			if i+1 == len(b) {
				return "", 0, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			default: // \u and invalid escapes
				return "", 0, false
			}
			escapes = true
			i++
		case c < 0x20:
			return "", 0, false
		}
	}
	return "", 0, false
}

// unescape decodes the simple escapes (all but \u) that readString has
// checked raw to hold.
func unescape(raw []byte) string {
	var out strings.Builder
	out.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out.WriteByte(c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		default: // '"', '\\', '/'
			c = raw[i]
		}
		out.WriteByte(c)
	}
	return out.String()
}
