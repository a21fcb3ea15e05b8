package awsapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// SigV4 verification (AWS Signature Version 4, header form only).

const (
	sigAlgorithm    = "AWS4-HMAC-SHA256"
	sigService      = "secretsmanager"
	sigTerminator   = "aws4_request"
	sigTimeFormat   = "20060102T150405Z"
	sigDateFormat   = "20060102"
	sigMaxSkew      = 15 * time.Minute
	codeMissingAuth = "MissingAuthenticationTokenException"
	codeUnknownKey  = "UnrecognizedClientException"
	codeInvalidSig  = "InvalidSignatureException"
	msgMissingAuth  = "Missing Authentication Token"
	msgUnknownKey   = "The security token included in the request is invalid."
	msgBadSignature = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

// WithCredentials makes the handler verify the AWS Signature Version 4 of
// every API request against creds, a map from access key ID to secret access
// key. Requests that are unsigned, signed with an unknown access key ID or a
// wrong key, signed for another service, or dated more than 15 minutes away
// from the server clock are rejected with the error AWS sends.
//
// Calling WithCredentials enables verification even if creds is empty (then
// every API request is rejected). Without WithCredentials signatures are not
// checked. The map is copied. Presigned (query-string) requests are not
// supported. The health and reset paths are not authenticated.
func WithCredentials(creds map[string]string) Option {
	cp := make(map[string]string, len(creds))
	for k, v := range creds {
		cp[k] = v
	}
	return optionFunc(func(c *config) { c.credentials = cp })
}

// withClock sets the clock used to check the request time (default
// time.Now). For tests.
func withClock(now func() time.Time) Option {
	return optionFunc(func(c *config) { c.now = now })
}

// checkCredentials validates the configured credentials.
func checkCredentials(creds map[string]string) error {
	for id, secret := range creds {
		if id == "" || strings.ContainsAny(id, "/, =") {
			return errors.New("invalid access key ID in WithCredentials")
		}
		if secret == "" {
			return errors.New("empty secret access key in WithCredentials for access key ID " + id)
		}
	}
	return nil
}

func sigError(code, msg string) *apiError {
	return &apiError{http.StatusBadRequest, code, msg}
}

func incomplete(msg string) *apiError { return sigError(codeIncomplete, msg) }

// sigAuth is a parsed Authorization header.
type sigAuth struct {
	accessKey, date, region, service string
	signedHeaders                    string
	headers                          []string
	signature                        string
}

// parseAuthorization parses an AWS4-HMAC-SHA256 Authorization header. Its
// errors never repeat the signature.
func parseAuthorization(h string) (*sigAuth, *apiError) {
	rest, ok := strings.CutPrefix(h, sigAlgorithm+" ")
	if !ok {
		return nil, incomplete("Authorization header must use the " + sigAlgorithm + " algorithm.")
	}
	params := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || v == "" {
			return nil, incomplete("Authorization header parameters must be of the form Name=Value.")
		}
		switch k {
		case "Credential", "SignedHeaders", "Signature":
		default:
			return nil, incomplete("Authorization header has an unknown parameter; only Credential, SignedHeaders and Signature are allowed.")
		}
		if _, dup := params[k]; dup {
			return nil, incomplete("Authorization header repeats the " + k + " parameter.")
		}
		params[k] = v
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if params[k] == "" {
			return nil, incomplete("Authorization header requires a '" + k + "' parameter.")
		}
	}
	a := &sigAuth{signedHeaders: params["SignedHeaders"], signature: params["Signature"]}
	parts := strings.Split(params["Credential"], "/")
	if len(parts) != 5 || parts[0] == "" || parts[2] == "" || parts[3] == "" || parts[4] != sigTerminator {
		return nil, incomplete("Authorization header requires a Credential parameter of the form AKID/date/region/service/aws4_request.")
	}
	if _, err := time.Parse(sigDateFormat, parts[1]); err != nil || len(parts[1]) != len(sigDateFormat) {
		return nil, incomplete("The date in the Credential scope must be of the form YYYYMMDD.")
	}
	a.accessKey, a.date, a.region, a.service = parts[0], parts[1], parts[2], parts[3]
	if len(a.signature) != 2*sha256.Size {
		return nil, incomplete("The Signature parameter must be 64 hexadecimal digits.")
	}
	if _, err := hex.DecodeString(a.signature); err != nil {
		return nil, incomplete("The Signature parameter must be 64 hexadecimal digits.")
	}
	a.headers = strings.Split(a.signedHeaders, ";")
	hasHost := false
	for i, name := range a.headers {
		if name == "" || name != strings.ToLower(name) || (i > 0 && a.headers[i-1] >= name) {
			return nil, incomplete("SignedHeaders must be a sorted, semicolon-separated list of distinct lowercase header names.")
		}
		if name == "host" {
			hasHost = true
		}
	}
	if !hasHost {
		return nil, incomplete("The host header must be signed.")
	}
	return a, nil
}

// verify checks the SigV4 signature of r, whose body is body, and returns
// the region of its credential scope.
func (h *Handler) verify(r *http.Request, body []byte) (string, *apiError) {
	q := r.URL.Query()
	if q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential") {
		return "", incomplete("Presigned (query-string) authentication is not supported; sign the Authorization header.")
	}
	authz := r.Header.Values("Authorization")
	if len(authz) == 0 || authz[0] == "" {
		return "", sigError(codeMissingAuth, msgMissingAuth)
	}
	if len(authz) > 1 {
		return "", incomplete("The request has more than one Authorization header.")
	}
	a, aerr := parseAuthorization(authz[0])
	if aerr != nil {
		return "", aerr
	}

	// The request time.
	var reqTime time.Time
	var amzDate string
	if v := r.Header.Get("X-Amz-Date"); v != "" {
		t, err := time.Parse(sigTimeFormat, v)
		if err != nil {
			return "", incomplete("X-Amz-Date must be of the form YYYYMMDD'T'HHMMSS'Z'.")
		}
		reqTime, amzDate = t, v
	} else if v := r.Header.Get("Date"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			return "", incomplete("The Date header is not a valid HTTP date.")
		}
		reqTime, amzDate = t.UTC(), t.UTC().Format(sigTimeFormat)
	} else {
		return "", incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}

	if a.service != sigService {
		return "", sigError(codeInvalidSig, "Credential should be scoped to correct service: '"+sigService+"'.")
	}
	secret, ok := h.cfg.credentials[a.accessKey]
	if !ok {
		return "", sigError(codeUnknownKey, msgUnknownKey)
	}

	now := time.Now
	if h.cfg.now != nil {
		now = h.cfg.now
	}
	n := now().UTC()
	if reqTime.Before(n.Add(-sigMaxSkew)) {
		return "", sigError(codeInvalidSig, "Signature expired: "+amzDate+" is now earlier than "+
			n.Add(-sigMaxSkew).Format(sigTimeFormat)+" ("+n.Format(sigTimeFormat)+" - 15 min.)")
	}
	if reqTime.After(n.Add(sigMaxSkew)) {
		return "", sigError(codeInvalidSig, "Signature not yet current: "+amzDate+" is still later than "+
			n.Add(sigMaxSkew).Format(sigTimeFormat)+" ("+n.Format(sigTimeFormat)+" + 15 min.)")
	}
	if reqTime.Format(sigDateFormat) != a.date {
		return "", sigError(codeInvalidSig, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '"+
			a.date+"' != '"+reqTime.Format(sigDateFormat)+"', from '"+amzDate+"'.")
	}

	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if v := r.Header.Values("X-Amz-Content-Sha256"); len(v) > 0 {
		if len(v) > 1 || v[0] != payloadHash {
			return "", sigError(codeInvalidSig, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	}

	canonical, aerr := canonicalRequest(r, a, payloadHash)
	if aerr != nil {
		return "", aerr
	}
	scope := a.date + "/" + a.region + "/" + a.service + "/" + sigTerminator
	crHash := sha256.Sum256([]byte(canonical))
	stringToSign := sigAlgorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(crHash[:])
	key := signingKey(secret, a.date, a.region, a.service)
	want := hex.EncodeToString(hmacSHA256(key, []byte(stringToSign)))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(a.signature))) {
		return "", sigError(codeInvalidSig, msgBadSignature)
	}
	return a.region, nil
}

// canonicalRequest builds the SigV4 canonical request of r.
func canonicalRequest(r *http.Request, a *sigAuth, payloadHash string) (string, *apiError) {
	query, err := canonicalQuery(r.URL.RawQuery)
	if err != nil {
		return "", incomplete("The query string is malformed.")
	}
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteString("\n/\n") // serveAPI only handles the path "/"
	b.WriteString(query)
	b.WriteByte('\n')
	for _, name := range a.headers {
		var values []string
		if name == "host" {
			values = []string{r.Host}
		} else {
			values = append([]string(nil), r.Header.Values(name)...)
		}
		for i, v := range values {
			values[i] = strings.Join(strings.Fields(v), " ")
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(strings.Join(values, ","))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(a.signedHeaders)
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), nil
}

// canonicalQuery returns the SigV4 canonical query string of raw.
func canonicalQuery(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return "", err
	}
	var pairs [][2]string
	for k, vs := range vals {
		for _, v := range vs {
			pairs = append(pairs, [2]string{sigEncode(k), sigEncode(v)})
		}
	}
	// Sorted by encoded name, then by encoded value.
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i][0] != pairs[j][0] {
			return pairs[i][0] < pairs[j][0]
		}
		return pairs[i][1] < pairs[j][1]
	})
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p[0] + "=" + p[1]
	}
	return strings.Join(out, "&"), nil
}

// sigEncode percent-encodes s as SigV4 requires: everything but the
// unreserved characters A-Z a-z 0-9 - _ . ~, with upper-case hex digits.
func sigEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte(sigTerminator))
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}
