package awsapi

import (
	"encoding/base64"
	"encoding/json"
	"unicode/utf8"
)

// Response encoding. The responses of the hot operations (GetSecretValue,
// PutSecretValue) and errors are appended by hand to a reused buffer; the
// rest go through encoding/json. The hand-written encoders produce exactly
// the bytes json.Marshal produces for the same wire types (field order,
// omission, string escaping), which encode_test.go checks, fuzzing
// included.

// errorBody is the body of every error response.
type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// appendJSON appends the JSON encoding of v, as json.Marshal encodes it, to
// b.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case *getSecretValueResponse:
		return v.appendJSON(b), nil
	case *putSecretValueResponse:
		return v.appendJSON(b), nil
	case *errorBody:
		b = append(b, `{"__type":`...)
		b = appendString(b, v.Type)
		b = append(b, `,"message":`...)
		b = appendString(b, v.Message)
		return append(b, '}'), nil
	}
	j, err := json.Marshal(v)
	return append(b, j...), err
}

func (r *getSecretValueResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"ARN":`...)
	b = appendString(b, r.ARN)
	b = append(b, `,"Name":`...)
	b = appendString(b, r.Name)
	b = append(b, `,"VersionId":`...)
	b = appendString(b, r.VersionId)
	if r.SecretString != nil {
		b = append(b, `,"SecretString":`...)
		b = appendString(b, *r.SecretString)
	}
	if len(r.SecretBinary) > 0 {
		b = append(b, `,"SecretBinary":"`...)
		b = base64.StdEncoding.AppendEncode(b, r.SecretBinary)
		b = append(b, '"')
	}
	if r.VersionStages != nil {
		b = append(b, `,"VersionStages":`...)
		b = appendStrings(b, r.VersionStages)
	}
	if !r.CreatedDate.IsZero() {
		b = append(b, `,"CreatedDate":`...)
		b = r.CreatedDate.appendJSON(b)
	}
	return append(b, '}')
}

func (r *putSecretValueResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"ARN":`...)
	b = appendString(b, r.ARN)
	b = append(b, `,"Name":`...)
	b = appendString(b, r.Name)
	b = append(b, `,"VersionId":`...)
	b = appendString(b, r.VersionId)
	if r.VersionStages != nil {
		b = append(b, `,"VersionStages":`...)
		b = appendStrings(b, r.VersionStages)
	}
	return append(b, '}')
}

// appendStrings appends a JSON array of strings.
func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// htmlSafe tells the ASCII characters that appendString copies as they
// are: all but control characters, '"', '\\' and the HTML-sensitive '<',
// '>' and '&' (encoding/json's htmlSafeSet).
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString appends s as a JSON string, escaped as json.Marshal escapes
// it: HTML-sensitive characters (<, >, &) and U+2028/U+2029 as \u escapes,
// invalid UTF-8 as U+FFFD. It follows encoding/json's appendString.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if htmlSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
