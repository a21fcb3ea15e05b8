// Package awsapi serves a secretstore over the AWS Secrets Manager wire
// protocol (JSON 1.1), so that AWS SDKs, the AWS CLI and other Secrets
// Manager clients can talk to it unchanged.
//
// Every request is `POST /` with the header
// `X-Amz-Target: secretsmanager.<Operation>` and
// `Content-Type: application/x-amz-json-1.1`. Errors are sent as AWS sends
// them: a JSON body {"__type": "<Code>", "message": "..."}, the header
// X-Amzn-ErrorType, and HTTP 400 (500 for InternalServiceError).
//
// The region of a request is read from the SigV4 credential scope of its
// Authorization header; requests without one use the default region. Each
// region is its own namespace over the shared backend, as AWS regions are.
//
// SECURITY: SigV4 signatures are verified only with WithCredentials. Without
// it any client that can reach the handler can read and change every secret:
// serve it only on a loopback interface or behind something that
// authenticates callers.
//
// Besides the AWS operations the handler answers
//
//   - GET /_secretstore/health: 200 {"status":"ok"}
//   - POST /_secretstore/reset: deletes every secret of every region at once
//     (no recovery window) and answers 200 {}; only with WithAllowReset(true),
//     otherwise 404.
package awsapi

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"mime"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend"
)

// MaxBodyBytes is the largest request body the handler reads (1 MiB).
const MaxBodyBytes = 1 << 20

// maxRegions bounds the number of region engines a handler creates, so that
// requests naming ever new regions cannot grow memory without limit.
const maxRegions = 256

const (
	targetPrefix    = "secretsmanager."
	contentType     = "application/x-amz-json-1.1"
	healthPath      = "/_secretstore/health"
	resetPath       = "/_secretstore/reset"
	codeUnknownOp   = "UnknownOperationException"
	codeSerializ    = "SerializationException"
	codeIncomplete  = "IncompleteSignatureException"
	codeInternal    = string(secretstore.CodeInternalService)
	internalMessage = "An error occurred on the server side."
)

// An Option configures a Handler. Options are made by the With functions of
// this package.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	defaultRegion string
	engineOpts    []secretstore.Option
	allowReset    bool
	logger        *slog.Logger
	credentials   map[string]string // nil: signatures are not checked
	now           func() time.Time  // nil: time.Now
}

// WithDefaultRegion sets the region of requests that carry no SigV4
// credential scope (default "us-east-1").
func WithDefaultRegion(region string) Option {
	return optionFunc(func(c *config) { c.defaultRegion = region })
}

// WithEngineOptions adds options to every region's engine, such as
// secretstore.WithKeys for a persistent backend (without it each region's
// engine uses a random key that lives only as long as the process) or
// secretstore.WithClock. The handler sets secretstore.WithRegion itself,
// after these options.
func WithEngineOptions(opts ...secretstore.Option) Option {
	return optionFunc(func(c *config) { c.engineOpts = append(c.engineOpts, opts...) })
}

// WithAllowReset enables POST /_secretstore/reset, which deletes every secret
// (default false: the path answers 404). Meant for test fixtures; the
// endpoint is not authenticated, so NewHandler refuses it together with
// WithCredentials.
func WithAllowReset(allow bool) Option {
	return optionFunc(func(c *config) { c.allowReset = allow })
}

// WithLogger makes the handler write one access-log record per request to l:
// method, operation, region, secret name (the SecretId or Name of the
// request), status, error code and latency. Values, tokens and error messages
// are never logged. Nil (the default) disables the log.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// Handler is an http.Handler that serves the Secrets Manager API over a
// backend. It is safe for concurrent use.
type Handler struct {
	b   backend.Backend
	cfg config

	// engines maps regions to their engines. Requests read it without a
	// lock; mu serializes the writers, which replace the whole map.
	engines atomic.Pointer[map[string]*secretstore.Engine]
	mu      sync.Mutex
}

var _ http.Handler = (*Handler)(nil)

// NewHandler returns a Handler that serves the secrets of b. It checks the
// configuration by creating the default region's engine.
func NewHandler(b backend.Backend, opts ...Option) (*Handler, error) {
	if b == nil {
		return nil, errors.New("awsapi: NewHandler: nil backend")
	}
	cfg := config{defaultRegion: "us-east-1"}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := checkCredentials(cfg.credentials); err != nil {
		return nil, fmt.Errorf("awsapi: NewHandler: %w", err)
	}
	if cfg.allowReset && cfg.credentials != nil {
		// The reset endpoint is not signed: with it, anyone who reaches
		// a server that otherwise checks signatures could wipe it.
		return nil, errors.New("awsapi: NewHandler: WithAllowReset cannot be combined with WithCredentials: the reset endpoint is unauthenticated")
	}
	h := &Handler{b: b, cfg: cfg}
	h.engines.Store(&map[string]*secretstore.Engine{})
	if _, err := h.engine(cfg.defaultRegion); err != nil {
		return nil, fmt.Errorf("awsapi: NewHandler: %w", err)
	}
	return h, nil
}

// engine returns the engine of region, creating it on first use.
func (h *Handler) engine(region string) (*secretstore.Engine, error) {
	if e, ok := (*h.engines.Load())[region]; ok {
		return e, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	engines := *h.engines.Load()
	if e, ok := engines[region]; ok {
		return e, nil
	}
	if len(engines) >= maxRegions {
		return nil, fmt.Errorf("too many regions (at most %d)", maxRegions)
	}
	e, err := h.newEngine(region)
	if err != nil {
		return nil, err
	}
	next := make(map[string]*secretstore.Engine, len(engines)+1)
	maps.Copy(next, engines)
	next[region] = e
	h.engines.Store(&next)
	return e, nil
}

func (h *Handler) newEngine(region string) (*secretstore.Engine, error) {
	opts := append(append([]secretstore.Option{}, h.cfg.engineOpts...), secretstore.WithRegion(region))
	return secretstore.New(h.b, opts...)
}

func (h *Handler) knownRegions() []string {
	return slices.Collect(maps.Keys(*h.engines.Load()))
}

// apiError is an error sent to the client.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// reqLog collects what the access log records about a request.
type reqLog struct {
	op, region, secret, code string
	status                   int
}

// request is the state of one ServeHTTP call: what the access log records,
// and buffers and responses that are reused across requests through
// requestPool, so that the hot operations allocate little.
type request struct {
	reqLog
	id   string // X-Amzn-RequestId
	body []byte // the request body
	out  []byte // the response body

	// The responses of the hot operations live here, so that returning
	// one as an any does not allocate.
	get getSecretValueResponse
	put putSecretValueResponse
}

var requestPool = sync.Pool{New: func() any { return new(request) }}

// maxPooledBuffer is the largest buffer capacity a pooled request keeps;
// larger ones, grown by rare large bodies, are left to the garbage
// collector.
const maxPooledBuffer = 64 << 10

// release clears rq, wiping its buffers so that no secret value lingers in
// the pool, and puts it back in requestPool.
func (rq *request) release() {
	body, out := reuse(rq.body), reuse(rq.out)
	*rq = request{body: body, out: out}
	requestPool.Put(rq)
}

func reuse(b []byte) []byte {
	if cap(b) > maxPooledBuffer {
		return nil
	}
	clear(b)
	return b[:0]
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rq := requestPool.Get().(*request)
	rq.id = newRequestID()
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
				panic(p)
			}
			if h.cfg.logger != nil {
				h.cfg.logger.Error("awsapi: panic serving request",
					slog.String("operation", rq.op), slog.Any("panic", p),
					slog.String("stack", string(debug.Stack())))
			}
			h.writeError(w, rq, &apiError{http.StatusInternalServerError, codeInternal, internalMessage})
		}
		if h.cfg.logger != nil && h.cfg.logger.Enabled(r.Context(), slog.LevelInfo) {
			attrs := make([]slog.Attr, 0, 9)
			attrs = append(attrs,
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("operation", rq.op),
				slog.String("request_id", rq.id),
				slog.Int("status", rq.status),
				slog.Duration("latency", time.Since(start)),
			)
			if rq.region != "" {
				attrs = append(attrs, slog.String("region", rq.region))
			}
			if rq.secret != "" {
				attrs = append(attrs, slog.String("secret", rq.secret))
			}
			if rq.code != "" {
				attrs = append(attrs, slog.String("error_code", rq.code))
			}
			h.cfg.logger.LogAttrs(r.Context(), slog.LevelInfo, "awsapi request", attrs...)
		}
		rq.release()
	}()

	switch r.URL.Path {
	case "/":
		h.serveAPI(w, r, rq)
	case healthPath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			h.writeError(w, rq, &apiError{http.StatusMethodNotAllowed, codeUnknownOp, "Method " + r.Method + " is not allowed on " + healthPath + "."})
			return
		}
		h.writeJSON(w, rq, http.StatusOK, map[string]string{"status": "ok"})
	case resetPath:
		if !h.cfg.allowReset {
			h.writeError(w, rq, &apiError{http.StatusNotFound, codeUnknownOp, "Not found."})
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			h.writeError(w, rq, &apiError{http.StatusMethodNotAllowed, codeUnknownOp, "Method " + r.Method + " is not allowed on " + resetPath + "."})
			return
		}
		rq.op = "Reset"
		if err := h.reset(r.Context()); err != nil {
			h.writeError(w, rq, toAPIError(err))
			return
		}
		h.writeJSON(w, rq, http.StatusOK, emptyResponse{})
	default:
		h.writeError(w, rq, &apiError{http.StatusNotFound, codeUnknownOp, "Not found."})
	}
}

func (h *Handler) serveAPI(w http.ResponseWriter, r *http.Request, rq *request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		h.writeError(w, rq, &apiError{http.StatusMethodNotAllowed, codeUnknownOp, "Method " + r.Method + " is not allowed; use POST."})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	if !ok || operations[op] == nil {
		h.writeError(w, rq, &apiError{http.StatusBadRequest, codeUnknownOp, "Unknown operation: X-Amz-Target must be secretsmanager.<Operation>."})
		return
	}
	rq.op = op
	if ct := r.Header.Get("Content-Type"); ct != contentType {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != contentType {
			h.writeError(w, rq, &apiError{http.StatusBadRequest, codeSerializ, "Content-Type must be " + contentType + "."})
			return
		}
	}
	var region string
	var body []byte
	var aerr *apiError
	if h.cfg.credentials == nil {
		if region, aerr = h.region(r); aerr == nil {
			rq.region = region
			body, aerr = readBody(w, r, rq.body)
		}
	} else {
		// The signature covers the body, so read it first.
		if body, aerr = readBody(w, r, rq.body); aerr == nil {
			region, aerr = h.verify(r, body)
			rq.region = region
		}
	}
	if body != nil {
		rq.body = body // keep the buffer, grown or not, for the next request
	}
	if aerr != nil {
		h.writeError(w, rq, aerr)
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}") // AWS accepts an empty body as an empty request
	}
	e, err := h.engine(region)
	if err != nil {
		h.writeError(w, rq, &apiError{http.StatusBadRequest, codeIncomplete, "Invalid region in the credential scope: " + err.Error()})
		return
	}
	out, err := operations[op](r.Context(), e, body, rq)
	if err != nil {
		h.writeError(w, rq, toAPIError(err))
		return
	}
	h.writeJSON(w, rq, http.StatusOK, out)
}

// readBody reads the request body, up to MaxBodyBytes, into buf (reusing
// its capacity) and returns it.
func readBody(w http.ResponseWriter, r *http.Request, buf []byte) ([]byte, *apiError) {
	// One byte more than the declared length lets the read that sees EOF
	// happen without growing the buffer. Larger bodies grow it as their
	// bytes arrive, so that a declared length alone allocates little.
	if n := r.ContentLength; n >= 0 && n < maxPooledBuffer {
		buf = slices.Grow(buf[:0], int(n)+1)
	}
	body, err := readAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes), buf[:0])
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &apiError{http.StatusRequestEntityTooLarge, codeSerializ, fmt.Sprintf("The request body is larger than %d bytes.", MaxBodyBytes)}
		}
		return nil, &apiError{http.StatusBadRequest, codeSerializ, "The request body could not be read."}
	}
	return body, nil
}

// readAll is io.ReadAll appending to b.
func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
	}
}

// region returns the region of the request's SigV4 credential scope
// (Credential=AKID/date/region/service/aws4_request), or the default region
// if the request has no Authorization header.
func (h *Handler) region(r *http.Request) (string, *apiError) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return h.cfg.defaultRegion, nil
	}
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return "", badScope()
	}
	if i := strings.IndexAny(rest, ", "); i >= 0 {
		rest = rest[:i]
	}
	// Five parts: skip the access key ID and the date.
	if strings.Count(rest, "/") != 4 {
		return "", badScope()
	}
	_, rest, _ = strings.Cut(rest, "/")
	_, rest, _ = strings.Cut(rest, "/")
	region, _, _ := strings.Cut(rest, "/")
	if region == "" {
		return "", badScope()
	}
	return region, nil
}

func badScope() *apiError {
	return &apiError{http.StatusBadRequest, codeIncomplete, "Authorization header requires a Credential parameter of the form AKID/date/region/service/aws4_request."}
}

// toAPIError maps an operation's error to what the client sees. Errors that
// are not *secretstore.Error (context errors, bugs) become a generic
// InternalServiceError, so that nothing internal leaks.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var se *secretstore.Error
	if errors.As(err, &se) {
		msg := se.Message
		if se.Code == secretstore.CodeInternalService {
			msg = internalMessage
		}
		return &apiError{se.HTTPStatus(), string(se.Code), msg}
	}
	return &apiError{http.StatusInternalServerError, codeInternal, internalMessage}
}

func (h *Handler) writeError(w http.ResponseWriter, rq *request, e *apiError) {
	rq.code = e.code
	w.Header().Set("X-Amzn-ErrorType", e.code)
	h.writeJSON(w, rq, e.status, &errorBody{e.code, e.message})
}

// writeJSON sends v as the response body, encoded into rq.out.
func (h *Handler) writeJSON(w http.ResponseWriter, rq *request, status int, v any) {
	body, err := appendJSON(rq.out[:0], v)
	if err != nil {
		status = http.StatusInternalServerError
		rq.code = codeInternal
		w.Header().Set("X-Amzn-ErrorType", codeInternal)
		body = append(body[:0], `{"__type":"`+codeInternal+`","message":"`+internalMessage+`"}`...)
	}
	rq.out = body
	rq.status = status
	// The header values share one allocation; the keys are canonical, as
	// Header.Set would make them.
	vals := []string{rq.id, contentType, strconv.Itoa(len(body))}
	hdr := w.Header()
	hdr["X-Amzn-Requestid"] = vals[0:1:1]
	hdr["Content-Type"] = vals[1:2:2]
	hdr["Content-Length"] = vals[2:3:3]
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// reset force-deletes every secret of every region: those of the engines
// created so far and those of regions found among the backend's record keys
// ("secret/<region>/<name>").
func (h *Handler) reset(ctx context.Context) error {
	regions := map[string]bool{}
	for _, r := range h.knownRegions() {
		regions[r] = true
	}
	const prefix = "secret/"
	after := ""
	for {
		recs, err := h.b.ListRecords(ctx, prefix, after, 1)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			break
		}
		region, _, ok := strings.Cut(strings.TrimPrefix(recs[0].Key, prefix), "/")
		if !ok || region == "" {
			after = recs[0].Key
			continue
		}
		regions[region] = true
		// '0' sorts right after '/', so this skips every key of the region.
		after = prefix + region + "0"
	}
	for region := range regions {
		e, err := h.engine(region)
		if err != nil {
			// Past maxRegions: use an engine that is not cached.
			if e, err = h.newEngine(region); err != nil {
				continue // not a region an engine can serve, so not a secret of ours
			}
		}
		if err := resetRegion(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func resetRegion(ctx context.Context, e *secretstore.Engine) error {
	var arns []string
	token := ""
	for {
		out, err := e.ListSecrets(ctx, &secretstore.ListSecretsInput{IncludePlannedDeletion: true, NextToken: token})
		if err != nil {
			return err
		}
		for _, s := range out.SecretList {
			arns = append(arns, s.ARN)
		}
		if out.NextToken == "" {
			break
		}
		token = out.NextToken
	}
	for _, arn := range arns {
		if _, err := e.DeleteSecret(ctx, &secretstore.DeleteSecretInput{SecretId: arn, ForceDeleteWithoutRecovery: true}); err != nil {
			return err
		}
	}
	return nil
}

// newRequestID returns a random (version 4) UUID as the request ID, sent as
// X-Amzn-RequestId like AWS does. Request IDs need to be unique, not
// secret, so they come from math/rand/v2's generator, which is seeded
// from the operating system and costs no system call.
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}
