package awsapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/secretstore/secretstore/backend/membackend"
)

// The test signer below is written from the AWS SigV4 specification,
// independently of sigv4.go.

const (
	testAKID   = "AKIDSIGTEST"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testHMAC(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

func testSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func testSigningKey(secret, date, region, service string) []byte {
	return testHMAC(testHMAC(testHMAC(testHMAC([]byte("AWS4"+secret), date), region), service), "aws4_request")
}

// testCanonical builds a canonical request. query must already be in
// canonical form; headers maps lowercase names to their (single) values.
func testCanonical(method, query string, headers map[string]string, payloadHash string) (string, string) {
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names)
	var ch string
	for _, n := range names {
		ch += n + ":" + strings.Join(strings.Fields(headers[n]), " ") + "\n"
	}
	signed := strings.Join(names, ";")
	return method + "\n/\n" + query + "\n" + ch + "\n" + signed + "\n" + payloadHash, signed
}

func testSignature(secret, amzDate, scopeDate, region, service, canonical string) string {
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scopeDate + "/" + region + "/" + service + "/aws4_request\n" + testSHA([]byte(canonical))
	return hex.EncodeToString(testHMAC(testSigningKey(secret, scopeDate, region, service), sts))
}

// TestSigV4AWSExample checks the test signer, and the handler's canonical
// request and signing key, against the example of the AWS SigV4
// documentation (IAM ListUsers, 2015-08-30).
func TestSigV4AWSExample(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	key := testSigningKey(secret, "20150830", "us-east-1", "iam")
	if got, want := hex.EncodeToString(key), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"; got != want {
		t.Fatalf("test signing key %s, want %s", got, want)
	}
	if got := signingKey(secret, "20150830", "us-east-1", "iam"); !bytes.Equal(got, key) {
		t.Fatalf("signingKey %x, want %x", got, key)
	}
	headers := map[string]string{
		"content-type": "application/x-www-form-urlencoded; charset=utf-8",
		"host":         "iam.amazonaws.com",
		"x-amz-date":   "20150830T123600Z",
	}
	emptyHash := testSHA(nil)
	canonical, signed := testCanonical("GET", "Action=ListUsers&Version=2010-05-08", headers, emptyHash)
	if got, want := testSHA([]byte(canonical)), "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"; got != want {
		t.Fatalf("canonical request hash %s, want %s\n%s", got, want, canonical)
	}
	if got, want := testSignature(secret, "20150830T123600Z", "20150830", "us-east-1", "iam", canonical),
		"5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}

	r := httptest.NewRequest("GET", "https://iam.amazonaws.com/?Version=2010-05-08&Action=ListUsers", nil)
	r.Header.Set("Content-Type", headers["content-type"])
	r.Header.Set("X-Amz-Date", headers["x-amz-date"])
	got, aerr := canonicalRequest(r, &sigAuth{signedHeaders: signed, headers: strings.Split(signed, ";")}, emptyHash)
	if aerr != nil || got != canonical {
		t.Fatalf("canonicalRequest = %q, %v; want %q", got, aerr, canonical)
	}
}

// sigReq describes a request for the signing tests.
type sigReq struct {
	body      string
	query     string // canonical form
	akid      string
	secret    string
	service   string
	region    string
	signTime  time.Time
	scopeDate string // default: the date of signTime
	useDate   bool   // send the time in Date instead of X-Amz-Date
	extra     map[string]string
}

func defaultSigReq() sigReq {
	return sigReq{
		body: `{"MaxResults":5}`, akid: testAKID, secret: testSecret, service: "secretsmanager",
		region: "eu-west-1", signTime: testNow,
	}
}

// sign builds and signs an http.Request for a ListSecrets call.
func (s sigReq) sign() *http.Request {
	url := "http://secrets.test/"
	if s.query != "" {
		url += "?" + s.query
	}
	r := httptest.NewRequest("POST", url, strings.NewReader(s.body))
	headers := map[string]string{
		"host":         "secrets.test",
		"content-type": "application/x-amz-json-1.1",
		"x-amz-target": "secretsmanager.ListSecrets",
	}
	amzDate := s.signTime.UTC().Format("20060102T150405Z")
	if s.useDate {
		headers["date"] = s.signTime.UTC().Format(http.TimeFormat)
	} else {
		headers["x-amz-date"] = amzDate
	}
	for k, v := range s.extra {
		headers[k] = v
	}
	for k, v := range headers {
		if k != "host" {
			r.Header.Set(k, v)
		}
	}
	scopeDate := s.scopeDate
	if scopeDate == "" {
		scopeDate = s.signTime.UTC().Format("20060102")
	}
	canonical, signed := testCanonical("POST", s.query, headers, testSHA([]byte(s.body)))
	sig := testSignature(s.secret, amzDate, scopeDate, s.region, s.service, canonical)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+s.akid+"/"+scopeDate+"/"+s.region+"/"+s.service+
		"/aws4_request, SignedHeaders="+signed+", Signature="+sig)
	return r
}

func newSigHandler(t *testing.T, opts ...Option) *Handler {
	t.Helper()
	opts = append([]Option{
		WithCredentials(map[string]string{testAKID: testSecret, "AKIDOTHER": "other-secret"}),
		withClock(func() time.Time { return testNow }),
	}, opts...)
	h, err := NewHandler(membackend.New(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// wantSigError checks an AWS error response and that it does not echo the
// secret key or the signature.
func wantSigError(t *testing.T, r *http.Request, w *httptest.ResponseRecorder, code string) string {
	t.Helper()
	if w.Code != http.StatusBadRequest {
		t.Fatalf("status %d, want 400; body %s", w.Code, w.Body)
	}
	if got := w.Header().Get("X-Amzn-ErrorType"); got != code {
		t.Errorf("X-Amzn-ErrorType %q, want %q", got, code)
	}
	var body struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if body.Type != code || body.Message == "" {
		t.Errorf("body %+v, want __type %q and a message", body, code)
	}
	raw := w.Body.String()
	if strings.Contains(raw, testSecret) || strings.Contains(raw, "other-secret") {
		t.Errorf("response echoes a secret key: %s", raw)
	}
	if _, sig, ok := strings.Cut(r.Header.Get("Authorization"), "Signature="); ok && sig != "" && strings.Contains(raw, sig) {
		t.Errorf("response echoes the signature: %s", raw)
	}
	return body.Message
}

func TestSigV4Accepts(t *testing.T) {
	h := newSigHandler(t)
	for name, s := range map[string]sigReq{
		"default": defaultSigReq(),
		"other key": func() sigReq {
			s := defaultSigReq()
			s.akid, s.secret = "AKIDOTHER", "other-secret"
			return s
		}(),
		"content sha256 header": func() sigReq {
			s := defaultSigReq()
			s.extra = map[string]string{"x-amz-content-sha256": testSHA([]byte(s.body))}
			return s
		}(),
		"Date header": func() sigReq {
			s := defaultSigReq()
			s.useDate = true
			return s
		}(),
		"query string": func() sigReq {
			s := defaultSigReq()
			s.query = "a=1&a-=2&b=%2F&b=x%20y" // canonical: sorted by name, then value
			return s
		}(),
		"empty body": func() sigReq {
			s := defaultSigReq()
			s.body = ""
			return s
		}(),
		"spaces collapsed": func() sigReq {
			s := defaultSigReq()
			s.extra = map[string]string{"x-custom": "  a   b  c "}
			return s
		}(),
		"14 minutes early": func() sigReq {
			s := defaultSigReq()
			s.signTime = testNow.Add(-14 * time.Minute)
			return s
		}(),
		"14 minutes late": func() sigReq {
			s := defaultSigReq()
			s.signTime = testNow.Add(14 * time.Minute)
			return s
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			w := serve(h, s.sign())
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
		})
	}

	// The region comes from the verified credential scope.
	s := defaultSigReq()
	s.body = `{"Name":"x","SecretString":"v"}`
	w := serve(h, signWithTarget(s, "secretsmanager.CreateSecret"))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "arn:aws:secretsmanager:eu-west-1:") {
		t.Fatalf("CreateSecret: %d %s", w.Code, w.Body)
	}
}

func signWithTarget(s sigReq, target string) *http.Request {
	s.extra = map[string]string{"x-amz-target": target}
	return s.sign()
}

func TestSigV4Rejects(t *testing.T) {
	h := newSigHandler(t)
	tests := []struct {
		name    string
		req     func() *http.Request
		code    string
		message string // substring, if set
	}{
		{"body byte flipped", func() *http.Request {
			r := defaultSigReq().sign()
			r.Body = httpBody(`{"MaxResults":6}`)
			return r
		}, codeInvalidSig, msgBadSignature},
		{"signed header changed", func() *http.Request {
			r := defaultSigReq().sign()
			r.Header.Set("Content-Type", "application/x-amz-json-1.1; charset=utf-8")
			return r
		}, codeInvalidSig, msgBadSignature},
		{"host changed", func() *http.Request {
			r := defaultSigReq().sign()
			r.Host = "other.test"
			return r
		}, codeInvalidSig, msgBadSignature},
		{"query added", func() *http.Request {
			r := defaultSigReq().sign()
			r.URL.RawQuery = "a=1"
			return r
		}, codeInvalidSig, msgBadSignature},
		{"wrong secret key", func() *http.Request {
			s := defaultSigReq()
			s.secret = "not-the-secret"
			return s.sign()
		}, codeInvalidSig, msgBadSignature},
		{"other key's secret", func() *http.Request {
			s := defaultSigReq()
			s.secret = "other-secret"
			return s.sign()
		}, codeInvalidSig, msgBadSignature},
		{"unknown access key", func() *http.Request {
			s := defaultSigReq()
			s.akid = "AKIDUNKNOWN"
			return s.sign()
		}, codeUnknownKey, msgUnknownKey},
		{"wrong service", func() *http.Request {
			s := defaultSigReq()
			s.service = "s3"
			return s.sign()
		}, codeInvalidSig, "Credential should be scoped to correct service"},
		{"expired", func() *http.Request {
			s := defaultSigReq()
			s.signTime = testNow.Add(-16 * time.Minute)
			return s.sign()
		}, codeInvalidSig, "Signature expired: 20260102T024805Z is now earlier than 20260102T024905Z (20260102T030405Z - 15 min.)"},
		{"in the future", func() *http.Request {
			s := defaultSigReq()
			s.signTime = testNow.Add(16 * time.Minute)
			return s.sign()
		}, codeInvalidSig, "Signature not yet current"},
		{"Date header expired", func() *http.Request {
			s := defaultSigReq()
			s.useDate = true
			s.signTime = testNow.Add(-time.Hour)
			return s.sign()
		}, codeInvalidSig, "Signature expired"},
		{"scope date mismatch", func() *http.Request {
			s := defaultSigReq()
			s.scopeDate = "20260101"
			return s.sign()
		}, codeInvalidSig, "Date in Credential scope does not match"},
		{"content sha256 mismatch", func() *http.Request {
			s := defaultSigReq()
			s.extra = map[string]string{"x-amz-content-sha256": testSHA([]byte("other"))}
			return s.sign()
		}, codeInvalidSig, "x-amz-content-sha256"},
		{"unsigned payload", func() *http.Request {
			s := defaultSigReq()
			s.extra = map[string]string{"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
			return s.sign()
		}, codeInvalidSig, "x-amz-content-sha256"},
		{"missing Authorization", func() *http.Request {
			r := defaultSigReq().sign()
			r.Header.Del("Authorization")
			return r
		}, codeMissingAuth, msgMissingAuth},
		{"no date", func() *http.Request {
			r := defaultSigReq().sign()
			r.Header.Del("X-Amz-Date")
			return r
		}, codeIncomplete, "X-Amz-Date"},
		{"malformed X-Amz-Date", func() *http.Request {
			r := defaultSigReq().sign()
			r.Header.Set("X-Amz-Date", "2026-01-02T03:04:05Z")
			return r
		}, codeIncomplete, ""},
		{"presigned", func() *http.Request {
			r := defaultSigReq().sign()
			r.Header.Del("Authorization")
			r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00"
			return r
		}, codeIncomplete, "Presigned"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.req()
			msg := wantSigError(t, r, serve(h, r), tt.code)
			if tt.message != "" && !strings.Contains(msg, tt.message) {
				t.Errorf("message %q, want it to contain %q", msg, tt.message)
			}
		})
	}
}

func httpBody(s string) *readCloser { return &readCloser{strings.NewReader(s)} }

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

func TestSigV4MalformedAuthorization(t *testing.T) {
	h := newSigHandler(t)
	good := defaultSigReq().sign().Header.Get("Authorization")
	_, sig, _ := strings.Cut(good, "Signature=")
	cred := "Credential=" + testAKID + "/20260102/eu-west-1/secretsmanager/aws4_request"
	for name, auth := range map[string]string{
		"other algorithm":      strings.Replace(good, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", 1),
		"no credential":        "AWS4-HMAC-SHA256 SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + sig,
		"no signed headers":    "AWS4-HMAC-SHA256 " + cred + ", Signature=" + sig,
		"no signature":         "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;x-amz-date",
		"short credential":     "AWS4-HMAC-SHA256 Credential=" + testAKID + "/20260102/eu-west-1/secretsmanager, SignedHeaders=host;x-amz-date, Signature=" + sig,
		"bad terminator":       "AWS4-HMAC-SHA256 Credential=" + testAKID + "/20260102/eu-west-1/secretsmanager/aws5_request, SignedHeaders=host;x-amz-date, Signature=" + sig,
		"bad scope date":       "AWS4-HMAC-SHA256 Credential=" + testAKID + "/2026-01-02/eu-west-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig,
		"host not signed":      "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=content-type;x-amz-date;x-amz-target, Signature=" + sig,
		"upper-case header":    "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=Host;x-amz-date, Signature=" + sig,
		"unsorted headers":     "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=x-amz-date;host, Signature=" + sig,
		"short signature":      "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;x-amz-date, Signature=abcdef",
		"non-hex signature":    "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("z", 64),
		"duplicate parameter":  good + ", Signature=" + sig,
		"unknown parameter":    good + ", Foo=bar",
		"empty parameter":      "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=, Signature=" + sig,
		"no space after algo":  "AWS4-HMAC-SHA256" + cred,
		"garbage":              "Bearer abc",
		"trailing comma":       good + ",",
		"empty signed header":  "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;;x-amz-date, Signature=" + sig,
		"duplicate header":     "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;host, Signature=" + sig,
		"credential no akid":   "AWS4-HMAC-SHA256 Credential=/20260102/eu-west-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=" + sig,
		"credential no region": "AWS4-HMAC-SHA256 Credential=" + testAKID + "/20260102//secretsmanager/aws4_request, SignedHeaders=host, Signature=" + sig,
	} {
		t.Run(name, func(t *testing.T) {
			r := defaultSigReq().sign()
			r.Header.Set("Authorization", auth)
			wantSigError(t, r, serve(h, r), codeIncomplete)
		})
	}
}

func TestSigV4WithoutCredentials(t *testing.T) {
	h, err := NewHandler(membackend.New())
	if err != nil {
		t.Fatal(err)
	}
	// A wrong key is not checked; the region still comes from the scope.
	s := defaultSigReq()
	s.secret = "anything"
	s.signTime = testNow.Add(-48 * time.Hour)
	s.body = `{"Name":"x","SecretString":"v"}`
	w := serve(h, signWithTarget(s, "secretsmanager.CreateSecret"))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "arn:aws:secretsmanager:eu-west-1:") {
		t.Fatalf("CreateSecret: %d %s", w.Code, w.Body)
	}
	r := defaultSigReq().sign()
	r.Header.Del("Authorization")
	if w := serve(h, r); w.Code != http.StatusOK {
		t.Fatalf("unsigned: %d %s", w.Code, w.Body)
	}
}

func TestSigV4EmptyCredentialsRejectAll(t *testing.T) {
	h, err := NewHandler(membackend.New(), WithCredentials(map[string]string{}), withClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatal(err)
	}
	r := defaultSigReq().sign()
	wantSigError(t, r, serve(h, r), codeUnknownKey)
}

func TestSigV4BadCredentialsConfig(t *testing.T) {
	for _, creds := range []map[string]string{{"": "s"}, {"AKID": ""}, {"AK/ID": "s"}} {
		if _, err := NewHandler(membackend.New(), WithCredentials(creds)); err == nil {
			t.Errorf("NewHandler(WithCredentials(%v)) succeeded", creds)
		}
	}
	creds := map[string]string{testAKID: testSecret}
	h, err := NewHandler(membackend.New(), WithCredentials(creds), withClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatal(err)
	}
	delete(creds, testAKID) // WithCredentials copies the map
	if w := serve(h, defaultSigReq().sign()); w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

func TestSigV4LogHasNoSecrets(t *testing.T) {
	var buf bytes.Buffer
	h := newSigHandler(t, WithLogger(slog.New(slog.NewJSONHandler(&buf, nil))))
	ok := defaultSigReq().sign()
	serve(h, ok)
	s := defaultSigReq()
	s.secret = "not-the-secret"
	bad := s.sign()
	serve(h, bad)
	log := buf.String()
	if !strings.Contains(log, codeInvalidSig) {
		t.Errorf("log lacks the error code: %s", log)
	}
	for _, r := range []*http.Request{ok, bad} {
		_, sig, _ := strings.Cut(r.Header.Get("Authorization"), "Signature=")
		if strings.Contains(log, sig) {
			t.Errorf("log contains a signature: %s", log)
		}
	}
	if strings.Contains(log, testSecret) || strings.Contains(log, "not-the-secret") {
		t.Errorf("log contains a secret key: %s", log)
	}
}

// TestResetRefusedWithCredentials checks that a server that checks
// signatures cannot also expose the unauthenticated reset endpoint.
func TestResetRefusedWithCredentials(t *testing.T) {
	_, err := NewHandler(membackend.New(), WithCredentials(map[string]string{"AKID": "SECRET"}), WithAllowReset(true))
	if err == nil || !strings.Contains(err.Error(), "WithAllowReset") {
		t.Fatalf("NewHandler with reset and credentials: got %v, want an error naming WithAllowReset", err)
	}
}
