package awsapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/awsapi"
	"github.com/secretstore/secretstore/backend"
	"github.com/secretstore/secretstore/backend/membackend"
)

const (
	lambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:rotate"
	token1    = "11111111-1111-4111-8111-111111111111"
	token2    = "22222222-2222-4222-8222-222222222222"
	token3    = "33333333-3333-4333-8333-333333333333"
)

// rotator is a standard rotation function: it stores a fresh value in
// createSecret and moves AWSCURRENT in finishSecret.
func rotator(ctx context.Context, s secretstore.Store, req secretstore.RotationRequest) error {
	switch req.Step {
	case secretstore.StepCreateSecret:
		_, err := s.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
			SecretId: req.SecretId, ClientRequestToken: req.ClientRequestToken,
			SecretString: secretstore.String("rotated"), VersionStages: []string{"AWSPENDING"},
		})
		return err
	case secretstore.StepFinishSecret:
		d, err := s.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: req.SecretId})
		if err != nil {
			return err
		}
		cur := ""
		for id, st := range d.VersionIdsToStages {
			if slices.Contains(st, "AWSCURRENT") {
				cur = id
			}
		}
		if _, err := s.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
			SecretId: req.SecretId, VersionStage: "AWSCURRENT", RemoveFromVersionId: cur, MoveToVersionId: req.ClientRequestToken,
		}); err != nil {
			return err
		}
		_, err = s.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
			SecretId: req.SecretId, VersionStage: "AWSPENDING", RemoveFromVersionId: req.ClientRequestToken,
		})
		return err
	}
	return nil
}

type server struct {
	t   *testing.T
	url string
}

func newServer(t *testing.T, b backend.Backend, opts ...awsapi.Option) *server {
	t.Helper()
	if b == nil {
		b = membackend.New()
	}
	opts = append([]awsapi.Option{awsapi.WithEngineOptions(secretstore.WithRotationFunc(lambdaARN, rotator))}, opts...)
	h, err := awsapi.NewHandler(b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &server{t: t, url: srv.URL}
}

type response struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

// do sends a raw request.
func (s *server) do(method, path, target, ctype, auth string, body []byte) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			s.t.Fatalf("response is not a JSON object: %v: %q", err, raw)
		}
	}
	return r
}

func authFor(region string) string {
	if region == "" {
		return ""
	}
	return "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/" + region + "/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcdef"
}

// callIn calls op in region with in marshalled as the body.
func (s *server) callIn(region, op string, in any) response {
	s.t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.do(http.MethodPost, "/", "secretsmanager."+op, "application/x-amz-json-1.1", authFor(region), body)
}

func (s *server) call(op string, in any) response {
	s.t.Helper()
	return s.callIn("", op, in)
}

// ok calls op and fails the test unless it answers 200.
func (s *server) ok(op string, in any) map[string]any {
	s.t.Helper()
	r := s.call(op, in)
	if r.status != http.StatusOK {
		s.t.Fatalf("%s: status %d: %s", op, r.status, r.raw)
	}
	return r.body
}

type obj = map[string]any

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func wantKeys(t *testing.T, what string, m any, want ...string) {
	t.Helper()
	mm, ok := m.(map[string]any)
	if !ok {
		t.Fatalf("%s: not an object: %#v", what, m)
	}
	slices.Sort(want)
	if got := keys(mm); !slices.Equal(got, want) {
		t.Errorf("%s: keys %q, want %q", what, got, want)
	}
}

func wantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d (%s)", r.status, status, r.raw)
	}
	wantKeys(t, "error", r.body, "__type", "message")
	if r.body["__type"] != code {
		t.Errorf("__type %v, want %s", r.body["__type"], code)
	}
	if got := r.header.Get("X-Amzn-ErrorType"); got != code {
		t.Errorf("X-Amzn-ErrorType %q, want %q", got, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type %q", ct)
	}
}

func wantNumber(t *testing.T, what string, v any) {
	t.Helper()
	f, ok := v.(float64)
	if !ok || f < 1e9 {
		t.Errorf("%s = %#v, want epoch seconds as a JSON number", what, v)
	}
}

func TestCreateSecret(t *testing.T) {
	s := newServer(t, nil)
	out := s.ok("CreateSecret", obj{"Name": "a", "SecretString": "v", "ClientRequestToken": token1})
	wantKeys(t, "with value", out, "ARN", "Name", "VersionId")
	if out["VersionId"] != token1 || out["Name"] != "a" || !strings.HasPrefix(out["ARN"].(string), "arn:aws:secretsmanager:us-east-1:123456789012:secret:a-") {
		t.Errorf("output %v", out)
	}
	wantKeys(t, "without value", s.ok("CreateSecret", obj{"Name": "b"}), "ARN", "Name")
	// A present but empty SecretString is not an absent one.
	r := s.call("CreateSecret", obj{"Name": "c", "SecretString": ""})
	if r.status != http.StatusBadRequest {
		t.Errorf("empty SecretString: status %d (%s)", r.status, r.raw)
	}
}

func TestPutSecretValue(t *testing.T) {
	s := newServer(t, nil)
	s.ok("CreateSecret", obj{"Name": "a", "SecretString": "v1"})
	out := s.ok("PutSecretValue", obj{"SecretId": "a", "SecretString": "v2", "ClientRequestToken": token2})
	wantKeys(t, "put", out, "ARN", "Name", "VersionId", "VersionStages")
	if st, _ := out["VersionStages"].([]any); len(st) != 1 || st[0] != "AWSCURRENT" {
		t.Errorf("VersionStages %v", out["VersionStages"])
	}
}

func TestUpdateSecret(t *testing.T) {
	s := newServer(t, nil)
	s.ok("CreateSecret", obj{"Name": "a", "SecretString": "v1", "Description": "d"})
	wantKeys(t, "metadata only", s.ok("UpdateSecret", obj{"SecretId": "a", "KmsKeyId": ""}), "ARN", "Name")
	// Absent Description keeps it.
	if d := s.ok("DescribeSecret", obj{"SecretId": "a"}); d["Description"] != "d" {
		t.Errorf("description after update without one: %v", d["Description"])
	}
	wantKeys(t, "with value", s.ok("UpdateSecret", obj{"SecretId": "a", "SecretString": "v2"}), "ARN", "Name", "VersionId")
	// Present but empty Description clears it.
	s.ok("UpdateSecret", obj{"SecretId": "a", "Description": ""})
	if d := s.ok("DescribeSecret", obj{"SecretId": "a"}); d["Description"] != nil {
		t.Errorf("description after clearing: %v", d["Description"])
	}
}

func TestGetSecretValue(t *testing.T) {
	s := newServer(t, nil)
	s.ok("CreateSecret", obj{"Name": "a", "SecretString": "v1"})
	r := s.call("GetSecretValue", obj{"SecretId": "a"})
	wantKeys(t, "get", r.body, "ARN", "Name", "VersionId", "SecretString", "VersionStages", "CreatedDate")
	if r.body["SecretString"] != "v1" {
		t.Errorf("SecretString %v", r.body["SecretString"])
	}
	wantNumber(t, "CreatedDate", r.body["CreatedDate"])
	// Epoch seconds with a fractional part, not a string.
	if !strings.Contains(r.raw, `"CreatedDate":1`) || !strings.Contains(r.raw[strings.Index(r.raw, `"CreatedDate":`):], ".") {
		t.Errorf("CreatedDate is not a fractional number: %s", r.raw)
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	s := newServer(t, nil)
	bin := []byte{0, 1, 2, 0xfe, 0xff, '"', '\\'}
	s.ok("CreateSecret", obj{"Name": "bin", "SecretBinary": base64.StdEncoding.EncodeToString(bin)})
	r := s.call("GetSecretValue", obj{"SecretId": "bin"})
	wantKeys(t, "get binary", r.body, "ARN", "Name", "VersionId", "SecretBinary", "VersionStages", "CreatedDate")
	if r.body["SecretBinary"] != base64.StdEncoding.EncodeToString(bin) {
		t.Errorf("SecretBinary %v", r.body["SecretBinary"])
	}
	// Bad base64 is a serialization error.
	wantError(t, s.call("PutSecretValue", obj{"SecretId": "bin", "SecretBinary": "!!!"}), 400, "SerializationException")
}

func TestBatchGetSecretValue(t *testing.T) {
	s := newServer(t, nil)
	s.ok("CreateSecret", obj{"Name": "a", "SecretString": "v1"})
	out := s.ok("BatchGetSecretValue", obj{"SecretIdList": []string{"a", "missing"}})
	wantKeys(t, "batch", out, "SecretValues", "Errors")
	vals := out["SecretValues"].([]any)
	errs := out["Errors"].([]any)
	if len(vals) != 1 || len(errs) != 1 {
		t.Fatalf("batch: %v", out)
	}
	wantKeys(t, "batch value", vals[0], "ARN", "Name", "VersionId", "SecretString", "VersionStages", "CreatedDate")
	wantKeys(t, "batch error", errs[0], "SecretId", "ErrorCode", "Message")
}

func TestDescribeSecret(t *testing.T) {
	s := newServer(t, nil)
	s.ok("CreateSecret", obj{"Name": "a", "SecretString": "v1"})
	d := s.ok("DescribeSecret", obj{"SecretId": "a"})
	wantKeys(t, "fresh", d, "ARN", "Name", "LastChangedDate", "CreatedDate", "VersionIdsToStages")
	wantNumber(t, "CreatedDate", d["CreatedDate"])
	wantNumber(t, "LastChangedDate", d["LastChangedDate"])

	s.ok("CreateSecret", obj{"Name": "empty"})
	wantKeys(t, "no versions", s.ok("DescribeSecret", obj{"SecretId": "empty"}), "ARN", "Name", "LastChangedDate", "CreatedDate")

	s.ok("TagResource", obj{"SecretId": "a", "Tags": []obj{{"Key": "k", "Value": "v"}}})
	s.ok("UpdateSecret", obj{"SecretId": "a", "Description": "desc"})
	s.ok("GetSecretValue", obj{"SecretId": "a"})
	d = s.ok("DescribeSecret", obj{"SecretId": "a"})
	wantKeys(t, "tagged", d, "ARN", "Name", "Description", "LastChangedDate", "LastAccessedDate", "CreatedDate", "Tags", "VersionIdsToStages")
	wantKeys(t, "tag", d["Tags"].([]any)[0], "Key", "Value")

	s.ok("UntagResource", obj{"SecretId": "a", "TagKeys": []string{"k"}})
	d = s.ok("DescribeSecret", obj{"SecretId": "a"})
	if tags, ok := d["Tags"].([]any); !ok || len(tags) != 0 {
		t.Errorf("Tags after untagging all = %#v, want []", d["Tags"])
	}

	s.ok("DeleteSecret", obj{"SecretId": "a", "RecoveryWindowInDays": 7})
	d = s.ok("DescribeSecret", obj{"SecretId": "a"})
	if _, ok := d["DeletedDate"]; !ok {
		t.Errorf("no DeletedDate on a deleted secret: %v", keys(d))
	}
	if _, ok := d["RotationEnabled"]; ok {
		t.Errorf("RotationEnabled present on a secret never rotated")
	}
}

func TestListSecretVersionIds(t *testing.T) {
	s := newServer(t, nil)
	s.ok("CreateSecret", obj{"Name": "a", "SecretString": "v1", "ClientRequestToken": token1})
	s.ok("PutSecretValue", obj{"SecretId": "a", "SecretString": "v2", "ClientRequestToken": token2})
	s.ok("PutSecretValue", obj{"SecretId": "a", "SecretString": "v3", "ClientRequestToken": token3})
	out := s.ok("ListSecretVersionIds", obj{"SecretId": "a", "IncludeDeprecated": true})
	wantKeys(t, "list", out, "ARN", "Name", "Versions")
	vs := out["Versions"].([]any)
	if len(vs) != 3 {
		t.Fatalf("versions: %v", vs)
	}
	for _, v := range vs {
		v := v.(map[string]any)
		if v["VersionId"] == token1 {
			wantKeys(t, "deprecated version", v, "VersionId", "CreatedDate", "KmsKeyIds")
		} else {
			wantKeys(t, "labelled version", v, "VersionId", "VersionStages", "CreatedDate", "KmsKeyIds")
		}
		wantNumber(t, "CreatedDate", v["CreatedDate"])
	}
	out = s.ok("ListSecretVersionIds", obj{"SecretId": "a", "MaxResults": 1})
	wantKeys(t, "paged", out, "ARN", "Name", "Versions", "NextToken")
}

func TestListSecrets(t *testing.T) {
	s := newServer(t, nil)
	wantKeys(t, "empty", s.ok("ListSecrets", obj{}), "SecretList")
	if out := s.ok("ListSecrets", obj{}); len(out["SecretList"].([]any)) != 0 {
		t.Errorf("SecretList %v", out["SecretList"])
	}
	s.ok("CreateSecret", obj{"Name": "a", "SecretString": "v1", "Tags": []obj{{"Key": "k", "Value": "v"}}})
	s.ok("CreateSecret", obj{"Name": "b"})
	out := s.ok("ListSecrets", obj{"Filters": []obj{{"Key": "name", "Values": []string{"a"}}}})
	wantKeys(t, "list", out, "SecretList")
	list := out["SecretList"].([]any)
	if len(list) != 1 {
		t.Fatalf("filtered list %v", list)
	}
	wantKeys(t, "entry", list[0], "ARN", "Name", "LastChangedDate", "CreatedDate", "Tags", "SecretVersionsToStages")
	out = s.ok("ListSecrets", obj{"MaxResults": 1})
	wantKeys(t, "paged", out, "SecretList", "NextToken")
	wantError(t, s.call("ListSecrets", obj{"Filters": []obj{{"Key": "bogus", "Values": []string{"x"}}}}), 400, "ValidationException")
}

func TestUpdateSecretVersionStage(t *testing.T) {
	s := newServer(t, nil)
	s.ok("CreateSecret", obj{"Name": "a", "SecretString": "v1", "ClientRequestToken": token1})
	s.ok("PutSecretValue", obj{"SecretId": "a", "SecretString": "v2", "ClientRequestToken": token2})
	out := s.ok("UpdateSecretVersionStage", obj{"SecretId": "a", "VersionStage": "AWSCURRENT", "MoveToVersionId": token1, "RemoveFromVersionId": token2})
	wantKeys(t, "stage", out, "ARN", "Name")
	if g := s.ok("GetSecretValue", obj{"SecretId": "a"}); g["SecretString"] != "v1" {
		t.Errorf("after revert: %v", g["SecretString"])
	}
}

func TestDeleteAndRestoreSecret(t *testing.T) {
	s := newServer(t, nil)
	s.ok("CreateSecret", obj{"Name": "a", "SecretString": "v1"})
	out := s.ok("DeleteSecret", obj{"SecretId": "a"})
	wantKeys(t, "delete", out, "ARN", "Name", "DeletionDate")
	wantNumber(t, "DeletionDate", out["DeletionDate"])
	wantError(t, s.call("GetSecretValue", obj{"SecretId": "a"}), 400, "InvalidRequestException")
	wantKeys(t, "restore", s.ok("RestoreSecret", obj{"SecretId": "a"}), "ARN", "Name")
	s.ok("GetSecretValue", obj{"SecretId": "a"})
	// RecoveryWindowInDays: 0 is present, and out of range.
	wantError(t, s.call("DeleteSecret", obj{"SecretId": "a", "RecoveryWindowInDays": 0}), 400, "InvalidParameterException")
	out = s.ok("DeleteSecret", obj{"SecretId": "a", "ForceDeleteWithoutRecovery": true})
	wantKeys(t, "force delete", out, "ARN", "Name", "DeletionDate")
	wantError(t, s.call("DescribeSecret", obj{"SecretId": "a"}), 400, "ResourceNotFoundException")
}

func TestTagUntagResource(t *testing.T) {
	s := newServer(t, nil)
	s.ok("CreateSecret", obj{"Name": "a"})
	r := s.call("TagResource", obj{"SecretId": "a", "Tags": []obj{{"Key": "k", "Value": "v"}}})
	if r.status != 200 || strings.TrimSpace(r.raw) != "{}" {
		t.Errorf("TagResource: %d %q", r.status, r.raw)
	}
	r = s.call("UntagResource", obj{"SecretId": "a", "TagKeys": []string{"k", "absent"}})
	if r.status != 200 || strings.TrimSpace(r.raw) != "{}" {
		t.Errorf("UntagResource: %d %q", r.status, r.raw)
	}
}

func TestRotateAndCancel(t *testing.T) {
	s := newServer(t, nil)
	s.ok("CreateSecret", obj{"Name": "a", "SecretString": "v1"})
	out := s.ok("RotateSecret", obj{"SecretId": "a", "ClientRequestToken": token2, "RotationLambdaARN": lambdaARN,
		"RotationRules": obj{"AutomaticallyAfterDays": 7}})
	wantKeys(t, "rotate", out, "ARN", "Name", "VersionId")
	if g := s.ok("GetSecretValue", obj{"SecretId": "a"}); g["SecretString"] != "rotated" || g["VersionId"] != token2 {
		t.Errorf("after rotation: %v", g)
	}
	d := s.ok("DescribeSecret", obj{"SecretId": "a"})
	wantKeys(t, "rotated", d, "ARN", "Name", "RotationEnabled", "RotationLambdaARN", "RotationRules", "LastRotatedDate",
		"NextRotationDate", "LastChangedDate", "LastAccessedDate", "CreatedDate", "VersionIdsToStages")
	if d["RotationEnabled"] != true {
		t.Errorf("RotationEnabled %v", d["RotationEnabled"])
	}
	wantKeys(t, "rules", d["RotationRules"], "AutomaticallyAfterDays")
	out = s.ok("CancelRotateSecret", obj{"SecretId": "a"})
	wantKeys(t, "cancel", out, "ARN", "Name")
	d = s.ok("DescribeSecret", obj{"SecretId": "a"})
	if v, ok := d["RotationEnabled"]; !ok || v != false {
		t.Errorf("RotationEnabled after cancel = %v (present %v), want false", v, ok)
	}
	wantError(t, s.call("RotateSecret", obj{"SecretId": "a", "RotationRules": obj{"AutomaticallyAfterDays": 0}}), 400, "InvalidParameterException")
}

func TestGetRandomPassword(t *testing.T) {
	s := newServer(t, nil)
	out := s.ok("GetRandomPassword", obj{})
	wantKeys(t, "password", out, "RandomPassword")
	if len(out["RandomPassword"].(string)) != 32 {
		t.Errorf("default length: %q", out["RandomPassword"])
	}
	out = s.ok("GetRandomPassword", obj{"PasswordLength": 10, "ExcludePunctuation": true})
	if len(out["RandomPassword"].(string)) != 10 {
		t.Errorf("length 10: %q", out["RandomPassword"])
	}
	// PasswordLength 0 is present and invalid, not absent.
	if r := s.call("GetRandomPassword", obj{"PasswordLength": 0}); r.status != 400 {
		t.Errorf("PasswordLength 0: %d %s", r.status, r.raw)
	}
}

func TestErrors(t *testing.T) {
	s := newServer(t, nil)
	r := s.call("GetSecretValue", obj{"SecretId": "missing"})
	wantError(t, r, 400, "ResourceNotFoundException")
	if r.body["message"] != "Secrets Manager can't find the specified secret." {
		t.Errorf("message %q", r.body["message"])
	}
	wantError(t, s.call("CreateSecret", obj{"Name": "bad name"}), 400, "ValidationException")
	s.ok("CreateSecret", obj{"Name": "a", "SecretString": "v"})
	wantError(t, s.call("CreateSecret", obj{"Name": "a", "SecretString": "v"}), 400, "ResourceExistsException")
	wantError(t, s.call("PutSecretValue", obj{"SecretId": "a"}), 400, "InvalidRequestException")
	s.ok("DeleteSecret", obj{"SecretId": "a"})
	wantError(t, s.call("PutSecretValue", obj{"SecretId": "a", "SecretString": "v"}), 400, "InvalidRequestException")
}

func TestRegions(t *testing.T) {
	s := newServer(t, nil)
	west := s.callIn("us-west-2", "CreateSecret", obj{"Name": "same", "SecretString": "west"})
	eu := s.callIn("eu-west-1", "CreateSecret", obj{"Name": "same", "SecretString": "eu"})
	if west.status != 200 || eu.status != 200 {
		t.Fatalf("create: %s / %s", west.raw, eu.raw)
	}
	if !strings.HasPrefix(west.body["ARN"].(string), "arn:aws:secretsmanager:us-west-2:") ||
		!strings.HasPrefix(eu.body["ARN"].(string), "arn:aws:secretsmanager:eu-west-1:") {
		t.Errorf("ARNs %v %v", west.body["ARN"], eu.body["ARN"])
	}
	if g := s.callIn("us-west-2", "GetSecretValue", obj{"SecretId": "same"}); g.body["SecretString"] != "west" {
		t.Errorf("us-west-2: %s", g.raw)
	}
	if g := s.callIn("eu-west-1", "GetSecretValue", obj{"SecretId": "same"}); g.body["SecretString"] != "eu" {
		t.Errorf("eu-west-1: %s", g.raw)
	}
	// No Authorization header: the default region, which has no such secret.
	wantError(t, s.call("GetSecretValue", obj{"SecretId": "same"}), 400, "ResourceNotFoundException")
	// A region's ARN does not resolve in another region.
	wantError(t, s.callIn("eu-west-1", "GetSecretValue", obj{"SecretId": west.body["ARN"]}), 400, "ResourceNotFoundException")

	wantError(t, s.do("POST", "/", "secretsmanager.ListSecrets", "application/x-amz-json-1.1", "AWS4-HMAC-SHA256 Signature=x", []byte("{}")), 400, "IncompleteSignatureException")
	wantError(t, s.callIn("US_WEST", "ListSecrets", obj{}), 400, "IncompleteSignatureException")

	// WithDefaultRegion.
	s2 := newServer(t, nil, awsapi.WithDefaultRegion("ap-south-1"))
	if out := s2.ok("CreateSecret", obj{"Name": "x"}); !strings.Contains(out["ARN"].(string), ":ap-south-1:") {
		t.Errorf("default region ARN %v", out["ARN"])
	}
	if _, err := awsapi.NewHandler(membackend.New(), awsapi.WithDefaultRegion("Bad Region")); err == nil {
		t.Error("NewHandler accepted an invalid default region")
	}
	if _, err := awsapi.NewHandler(nil); err == nil {
		t.Error("NewHandler accepted a nil backend")
	}
}

func TestReset(t *testing.T) {
	off := newServer(t, nil)
	wantError(t, off.do("POST", "/_secretstore/reset", "", "", "", nil), 404, "UnknownOperationException")

	b := membackend.New()
	s := newServer(t, b, awsapi.WithAllowReset(true))
	// A region this handler never served, written by another handler over
	// the same backend.
	other := newServer(t, b)
	if r := other.callIn("sa-east-1", "CreateSecret", obj{"Name": "other", "SecretString": "v"}); r.status != 200 {
		t.Fatal(r.raw)
	}
	s.ok("CreateSecret", obj{"Name": "a", "SecretString": "v"})
	s.ok("CreateSecret", obj{"Name": "gone", "SecretString": "v"})
	s.ok("DeleteSecret", obj{"SecretId": "gone"})
	s.callIn("us-west-2", "CreateSecret", obj{"Name": "a", "SecretString": "v"})

	wantError(t, s.do("GET", "/_secretstore/reset", "", "", "", nil), 405, "UnknownOperationException")
	r := s.do("POST", "/_secretstore/reset", "", "", "", nil)
	if r.status != 200 || strings.TrimSpace(r.raw) != "{}" {
		t.Fatalf("reset: %d %s", r.status, r.raw)
	}
	for _, region := range []string{"us-east-1", "us-west-2", "sa-east-1"} {
		out := s.callIn(region, "ListSecrets", obj{"IncludePlannedDeletion": true})
		if n := len(out.body["SecretList"].([]any)); n != 0 {
			t.Errorf("%s: %d secrets after reset", region, n)
		}
	}
	// Names are free again, including the one scheduled for deletion.
	s.ok("CreateSecret", obj{"Name": "gone", "SecretString": "v"})
	recs, err := b.ListRecords(context.Background(), "secret/sa-east-1/", "", 10)
	if err != nil || len(recs) != 0 {
		t.Errorf("backend records of sa-east-1 after reset: %v %v", recs, err)
	}
}

func TestHealth(t *testing.T) {
	s := newServer(t, nil)
	r := s.do("GET", "/_secretstore/health", "", "", "", nil)
	if r.status != 200 || r.body["status"] != "ok" {
		t.Errorf("health: %d %s", r.status, r.raw)
	}
	wantError(t, s.do("POST", "/_secretstore/health", "", "", "", nil), 405, "UnknownOperationException")
}

func TestProtocolErrors(t *testing.T) {
	s := newServer(t, nil)
	const ct = "application/x-amz-json-1.1"
	wantError(t, s.do("POST", "/", "secretsmanager.Nope", ct, "", []byte("{}")), 400, "UnknownOperationException")
	wantError(t, s.do("POST", "/", "", ct, "", []byte("{}")), 400, "UnknownOperationException")
	wantError(t, s.do("POST", "/", "kms.CreateSecret", ct, "", []byte("{}")), 400, "UnknownOperationException")
	wantError(t, s.do("POST", "/", "secretsmanager.ListSecrets", ct, "", []byte("{not json")), 400, "SerializationException")
	wantError(t, s.do("POST", "/", "secretsmanager.ListSecrets", ct, "", []byte(`{"MaxResults":"ten"}`)), 400, "SerializationException")
	wantError(t, s.do("POST", "/", "secretsmanager.ListSecrets", ct, "", []byte(`[]`)), 400, "SerializationException")
	wantError(t, s.do("POST", "/", "secretsmanager.ListSecrets", "application/json", "", []byte("{}")), 400, "SerializationException")
	wantError(t, s.do("POST", "/", "secretsmanager.ListSecrets", "", "", []byte("{}")), 400, "SerializationException")
	big := append([]byte(`{"Name":"big","SecretString":"`), bytes.Repeat([]byte("x"), awsapi.MaxBodyBytes)...)
	big = append(big, `"}`...)
	wantError(t, s.do("POST", "/", "secretsmanager.CreateSecret", ct, "", big), 413, "SerializationException")
	wantError(t, s.do("GET", "/", "", "", "", nil), 405, "UnknownOperationException")
	wantError(t, s.do("POST", "/elsewhere", "secretsmanager.ListSecrets", ct, "", []byte("{}")), 404, "UnknownOperationException")
	// Content-Type parameters are fine, and an empty body is an empty request.
	if r := s.do("POST", "/", "secretsmanager.ListSecrets", ct+"; charset=utf-8", "", nil); r.status != 200 {
		t.Errorf("charset/empty body: %d %s", r.status, r.raw)
	}
}

// panicky is a backend that panics on records whose key contains "panic".
type panicky struct{ *membackend.Backend }

func (p panicky) GetRecord(ctx context.Context, key string, rev uint64) (backend.Record, error) {
	if strings.Contains(key, "panic") {
		panic("boom")
	}
	return p.Backend.GetRecord(ctx, key, rev)
}

func TestPanicRecovery(t *testing.T) {
	var logs bytes.Buffer
	s := newServer(t, panicky{membackend.New()}, awsapi.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	r := s.call("GetSecretValue", obj{"SecretId": "panic"})
	wantError(t, r, 500, "InternalServiceError")
	if strings.Contains(r.raw, "boom") {
		t.Errorf("panic value leaked to the client: %s", r.raw)
	}
	s.ok("ListSecrets", obj{})
	if !strings.Contains(logs.String(), "boom") {
		t.Errorf("panic not logged: %s", logs.String())
	}
}

func TestAccessLogHasNoValues(t *testing.T) {
	var logs bytes.Buffer
	s := newServer(t, nil, awsapi.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	const value = "s3cr3t-VALUE-do-not-log"
	bin := []byte("b1nary-VALUE-do-not-log")
	s.ok("CreateSecret", obj{"Name": "logged", "SecretString": value, "ClientRequestToken": token1})
	s.ok("PutSecretValue", obj{"SecretId": "logged", "SecretBinary": bin, "ClientRequestToken": token2})
	s.ok("GetSecretValue", obj{"SecretId": "logged", "VersionId": token1})
	// E6 names the token in its message: the log must not.
	wantError(t, s.call("CreateSecret", obj{"Name": "logged", "SecretString": "different", "ClientRequestToken": token1}), 400, "ResourceExistsException")
	pw := s.ok("GetRandomPassword", obj{})["RandomPassword"].(string)

	out := logs.String()
	for _, secret := range []string{value, string(bin), base64.StdEncoding.EncodeToString(bin), token1, token2, "different", pw} {
		if strings.Contains(out, secret) {
			t.Errorf("access log contains %q:\n%s", secret, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d log lines, want 5:\n%s", len(lines), out)
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"method": "POST", "operation": "CreateSecret", "status": float64(200), "secret": "logged", "region": "us-east-1"} {
		if first[k] != want {
			t.Errorf("log %s = %v, want %v", k, first[k], want)
		}
	}
	if _, ok := first["latency"]; !ok {
		t.Errorf("no latency in %v", first)
	}
	var fourth map[string]any
	_ = json.Unmarshal([]byte(lines[3]), &fourth)
	if fourth["error_code"] != "ResourceExistsException" || fourth["status"] != float64(400) {
		t.Errorf("error log line %v", fourth)
	}
}

func TestTimestampFormat(t *testing.T) {
	clock := secretstore.NewFakeClock(time.Unix(1700000000, 0))
	s := newServer(t, nil, awsapi.WithEngineOptions(secretstore.WithClock(clock)))
	s.ok("CreateSecret", obj{"Name": "a", "SecretString": "v"})
	r := s.call("GetSecretValue", obj{"SecretId": "a"})
	if !strings.Contains(r.raw, `"CreatedDate":1700000000.000`) {
		t.Errorf("whole second: %s", r.raw)
	}
	clock.Set(time.Unix(1700000000, 123456789))
	s.ok("CreateSecret", obj{"Name": "b", "SecretString": "v"})
	r = s.call("DescribeSecret", obj{"SecretId": "b"})
	if !strings.Contains(r.raw, `"CreatedDate":1700000000.123`) {
		t.Errorf("milliseconds: %s", r.raw)
	}
	if r.header.Get("X-Amzn-RequestId") == "" {
		t.Error("no X-Amzn-RequestId")
	}
}

func TestConcurrentRegions(t *testing.T) {
	s := newServer(t, nil)
	regions := []string{"us-east-1", "us-west-1", "us-west-2", "eu-central-1"}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			region := regions[i%len(regions)]
			body, _ := json.Marshal(obj{"Name": "s" + strconv.Itoa(i), "SecretString": "v"})
			req, _ := http.NewRequest("POST", s.url+"/", bytes.NewReader(body))
			req.Header.Set("X-Amz-Target", "secretsmanager.CreateSecret")
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			req.Header.Set("Authorization", authFor(region))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- resp.Status
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for _, region := range regions {
		if n := len(s.callIn(region, "ListSecrets", obj{}).body["SecretList"].([]any)); n != 8 {
			t.Errorf("%s: %d secrets, want 8", region, n)
		}
	}
}

func TestRegionLimit(t *testing.T) {
	s := newServer(t, nil, awsapi.WithAllowReset(true))
	var last response
	for i := range 300 {
		last = s.callIn("r"+strings.Repeat("x", i%5)+"-"+string(rune('a'+i/26%26))+string(rune('a'+i%26)), "ListSecrets", obj{})
		if last.status != 200 {
			break
		}
	}
	wantError(t, last, 400, "IncompleteSignatureException")
	// Known regions keep working.
	s.ok("CreateSecret", obj{"Name": "a"})
	if r := s.do("POST", "/_secretstore/reset", "", "", "", nil); r.status != 200 {
		t.Errorf("reset past the region limit: %d %s", r.status, r.raw)
	}
}

// TestAccessLogOffCostsNothing checks that a logger whose level is above
// Info makes the handler allocate no more than no logger at all.
func TestAccessLogOffCostsNothing(t *testing.T) {
	allocs := func(opts ...awsapi.Option) float64 {
		h, err := awsapi.NewHandler(membackend.New(), opts...)
		require.NoError(t, err)
		body := strings.NewReader("")
		req := httptest.NewRequest(http.MethodPost, "/", body)
		req.Header.Set("X-Amz-Target", "secretsmanager.GetRandomPassword")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		return testing.AllocsPerRun(1000, func() {
			body.Reset(`{"PasswordLength":8}`)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		})
	}
	var logs bytes.Buffer
	warn := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	off, quiet := allocs(), allocs(awsapi.WithLogger(warn))
	// Under the race detector the handler's pools drop buffers at random;
	// averaged over 1000 requests that moves the count by less than one.
	// Building a log record costs several allocations, so a tolerance of
	// one still catches it.
	tolerance := 0.0
	if raceDetector {
		tolerance = 1
	}
	assert.InDelta(t, off, quiet, tolerance, "allocations per request with a logger at Warn, want those without a logger")
	assert.Empty(t, logs.String())
}
