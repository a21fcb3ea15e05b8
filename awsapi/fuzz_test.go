package awsapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/secretstore/secretstore/awsapi"
	"github.com/secretstore/secretstore/backend/membackend"
)

// FuzzHandler sends arbitrary targets and bodies: the handler must never
// panic, and must always answer a JSON object with a known status; errors
// carry __type.
func FuzzHandler(f *testing.F) {
	seeds := []struct{ op, body string }{
		{"CreateSecret", `{"Name":"a","SecretString":"v","ClientRequestToken":"11111111-1111-4111-8111-111111111111"}`},
		{"CreateSecret", `{"Name":"b","SecretBinary":"AAEC","Tags":[{"Key":"k","Value":"v"}]}`},
		{"PutSecretValue", `{"SecretId":"a","SecretString":"w","VersionStages":["X"]}`},
		{"UpdateSecret", `{"SecretId":"a","Description":"","KmsKeyId":null}`},
		{"GetSecretValue", `{"SecretId":"a","VersionStage":"AWSPREVIOUS"}`},
		{"BatchGetSecretValue", `{"Filters":[{"Key":"name","Values":["a"]}],"MaxResults":1}`},
		{"DescribeSecret", `{"SecretId":"arn:aws:secretsmanager:us-east-1:123456789012:secret:a"}`},
		{"ListSecretVersionIds", `{"SecretId":"a","MaxResults":1e3,"NextToken":"x"}`},
		{"ListSecrets", `{"SortBy":"name","SortOrder":"desc","IncludePlannedDeletion":true}`},
		{"UpdateSecretVersionStage", `{"SecretId":"a","VersionStage":"AWSCURRENT","MoveToVersionId":"x"}`},
		{"DeleteSecret", `{"SecretId":"a","RecoveryWindowInDays":-9223372036854775808}`},
		{"RestoreSecret", `{"SecretId":"a"}`},
		{"TagResource", `{"SecretId":"a","Tags":[{}]}`},
		{"UntagResource", `{"SecretId":"a","TagKeys":[""]}`},
		{"RotateSecret", `{"SecretId":"a","RotationRules":{"AutomaticallyAfterDays":99999999999,"ScheduleExpression":"rate(1 days)"}}`},
		{"CancelRotateSecret", `{"SecretId":"a"}`},
		{"GetRandomPassword", `{"PasswordLength":4096,"ExcludeCharacters":"abc","RequireEachIncludedType":false}`},
		{"Nope", `{}`},
		{"ListSecrets", `{"MaxResults":"1"}`},
		{"ListSecrets", `nul`},
	}
	for _, s := range seeds {
		f.Add("secretsmanager."+s.op, []byte(s.body))
	}
	h, err := awsapi.NewHandler(membackend.New())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, target string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("status %d: body is not a JSON object: %q", rec.Code, rec.Body.String())
		}
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if _, ok := out["__type"].(string); !ok {
				t.Fatalf("error without __type: %q", rec.Body.String())
			}
		default:
			t.Fatalf("status %d: %q", rec.Code, rec.Body.String())
		}
	})
}
