package awsapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// The fast decoders of the hot requests must decode exactly as
// encoding/json does, and fail exactly when it fails, with the same error.

var decodeBodies = []string{
	``,
	`{}`,
	` {} `,
	`{"SecretId":"a"}`,
	"\t{ \"SecretId\" : \"a\" ,\n\"VersionStage\":\"AWSPREVIOUS\" }\r\n",
	`{"SecretId":"a","VersionId":"v","VersionStage":"s"}`,
	`{"ClientRequestToken":"55d938fd-00bf-4ab2-ae7a-07a03c9a85ad","SecretId":"a","SecretString":"w"}`,
	`{"SecretId":"a","SecretString":""}`,
	`{"SecretId":"a","SecretString":"{\"user\":\"admin\",\"pw\":\"a\\\\b\/c\b\f\n\r\t\"}"}`,
	`{"SecretId":"a","SecretString":"h\u00e9llo \ud83d\ude00 \ud800"}`,
	`{"SecretId":"a","SecretString":"héllo ☃"}`,
	"{\"SecretId\":\"a\",\"SecretString\":\"bad \xff\"}",
	"{\"SecretId\":\"a\",\"SecretString\":\"ctl \x01\"}",
	`{"SecretId":"a","SecretString":"bad \' escape"}`,
	`{"SecretId":"a","SecretString":null}`,
	`{"SecretId":null}`,
	`{"SecretId":1}`,
	`{"SecretId":"a","SecretBinary":"AAEC"}`,
	`{"SecretId":"a","VersionStages":["X"]}`,
	`{"SecretId":"a","Unknown":{"x":[1,2]}}`,
	`{"secretid":"a"}`,
	`{"SecretId":"a","secretId":"b"}`,
	`{"SecretId":"a","SecretId":"b"}`,
	`{"SecretId":"a",}`,
	`{"SecretId":"a"`,
	`{"SecretId":"a"}x`,
	`{"SecretId":"a"}{}`,
	`{"SecretId" "a"}`,
	`{,}`,
	`[]`,
	`null`,
	`"SecretId"`,
	`{"SecretId":"a\`,
	`{"Secret\u0049d":"a"}`,
	`{"SecretId":"` + strings.Repeat("x", 1024) + `"}`,
}

func checkDecode[T any, P interface {
	*T
	decode([]byte) error
}](t *testing.T, body []byte) {
	t.Helper()
	var want T
	wantErr := decode(body, &want)
	var got T
	gotErr := P(&got).decode(body)
	if !reflect.DeepEqual(gotErr, wantErr) {
		t.Fatalf("%T.decode(%q): error %v, want %v", got, body, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%T.decode(%q):\ngot  %#v\nwant %#v", got, body, got, want)
	}
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, body := range decodeBodies {
		checkDecode[getSecretValueRequest](t, []byte(body))
		checkDecode[putSecretValueRequest](t, []byte(body))
	}
}

// TestDecodeStringsTakesSDKBodies checks that the bodies SDKs send take
// the fast path.
func TestDecodeStringsTakesSDKBodies(t *testing.T) {
	t.Parallel()
	names := []string{"SecretId", "ClientRequestToken", "SecretString"}
	for _, body := range []string{
		`{"SecretId":"bench/secret-01"}`,
		`{"ClientRequestToken":"55d938fd-00bf-4ab2-ae7a-07a03c9a85ad","SecretId":"a","SecretString":"{\"k\":\"v\"}"}`,
	} {
		vals := make([]string, len(names))
		if _, ok := decodeStrings([]byte(body), names, vals); !ok {
			t.Errorf("decodeStrings(%s) fell back to encoding/json", body)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, b := range decodeBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecode[getSecretValueRequest](t, body)
		checkDecode[putSecretValueRequest](t, body)
		// The same body as a member value.
		v, _ := json.Marshal(string(body))
		checkDecode[putSecretValueRequest](t, []byte(`{"SecretId":"a","SecretString":`+string(v)+`}`))
	})
}
