package awsapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The hand-written encoders must produce exactly json.Marshal's bytes.

var encodeStrings = []string{
	"",
	"plain",
	"arn:aws:secretsmanager:us-east-1:123456789012:secret:a/b_c+=.@-AbCdEf",
	`{"user":"admin","password":"p\\w"}`,
	"<script>&amp;</script>",
	"tab\there\nnew\rline\b\f",
	"\x00\x01\x1f\x7f",
	"héllo wörld ☃ 😀",
	"line\u2028sep\u2029para",
	"bad \xff utf8 \xc3",
	"\xed\xa0\x80 surrogate",
	strings.Repeat("x", 1024),
}

func encodeValues() []any {
	created := epochTime(time.Date(2026, 11, 22, 7, 3, 35, 123456789, time.UTC))
	var vs []any
	for _, s := range encodeStrings {
		str := s
		vs = append(vs,
			&getSecretValueResponse{ARN: s, Name: s, VersionId: s, SecretString: &str, VersionStages: []string{s, "AWSCURRENT"}, CreatedDate: created},
			&putSecretValueResponse{ARN: s, Name: s, VersionId: s, VersionStages: []string{s}},
			&errorBody{Type: s, Message: s},
		)
	}
	empty := ""
	vs = append(vs,
		&getSecretValueResponse{},
		&getSecretValueResponse{SecretString: &empty, VersionStages: []string{}},
		&getSecretValueResponse{SecretBinary: []byte{0, 1, 2, 0xff}, CreatedDate: epochTime(time.Unix(-1, 5e6))},
		&getSecretValueResponse{SecretBinary: []byte{}},
		&putSecretValueResponse{},
		&putSecretValueResponse{VersionStages: []string{}},
		&errorBody{},
		emptyResponse{},
		map[string]string{"status": "ok"},
	)
	return vs
}

func checkAppendJSON(t *testing.T, v any) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := appendJSON([]byte("prefix"), v)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(got); got != "prefix"+string(want) {
		t.Errorf("appendJSON(%#v):\ngot  %s\nwant prefix%s", v, got, want)
	}
}

func TestAppendJSONMatchesMarshal(t *testing.T) {
	t.Parallel()
	for _, v := range encodeValues() {
		checkAppendJSON(t, v)
	}
}

func FuzzAppendJSON(f *testing.F) {
	for _, s := range encodeStrings {
		f.Add(s, s, []byte(s), int64(1700000000123), true)
	}
	f.Add("", "", []byte(nil), int64(0), false)
	f.Fuzz(func(t *testing.T, a, b string, bin []byte, ms int64, withString bool) {
		var created epochTime
		if ms != 0 {
			created = epochTime(time.UnixMilli(ms))
		}
		get := &getSecretValueResponse{ARN: a, Name: b, VersionId: a + b, SecretBinary: bin, CreatedDate: created}
		if withString {
			get.SecretString, get.SecretBinary = &b, nil
			get.VersionStages = []string{a, b}
		}
		checkAppendJSON(t, get)
		checkAppendJSON(t, &putSecretValueResponse{ARN: a, Name: b, VersionId: b, VersionStages: strings.Fields(a)})
		checkAppendJSON(t, &errorBody{Type: a, Message: b})
	})
}
