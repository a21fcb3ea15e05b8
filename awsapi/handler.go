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
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
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

	mu      sync.Mutex
	engines map[string]*secretstore.Engine
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
	h := &Handler{b: b, cfg: cfg, engines: map[string]*secretstore.Engine{}}
	if _, err := h.engine(cfg.defaultRegion); err != nil {
		return nil, fmt.Errorf("awsapi: NewHandler: %w", err)
	}
	return h, nil
}

// engine returns the engine of region, creating it on first use.
func (h *Handler) engine(region string) (*secretstore.Engine, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.engines[region]; ok {
		return e, nil
	}
	if len(h.engines) >= maxRegions {
		return nil, fmt.Errorf("too many regions (at most %d)", maxRegions)
	}
	e, err := h.newEngine(region)
	if err != nil {
		return nil, err
	}
	h.engines[region] = e
	return e, nil
}

func (h *Handler) newEngine(region string) (*secretstore.Engine, error) {
	opts := append(append([]secretstore.Option{}, h.cfg.engineOpts...), secretstore.WithRegion(region))
	return secretstore.New(h.b, opts...)
}

func (h *Handler) knownRegions() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.engines))
	for r := range h.engines {
		out = append(out, r)
	}
	return out
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

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rl := &reqLog{}
	reqID := newRequestID()
	w.Header().Set("X-Amzn-RequestId", reqID)
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
				panic(p)
			}
			if h.cfg.logger != nil {
				h.cfg.logger.Error("awsapi: panic serving request",
					slog.String("operation", rl.op), slog.Any("panic", p),
					slog.String("stack", string(debug.Stack())))
			}
			h.writeError(w, rl, &apiError{http.StatusInternalServerError, codeInternal, internalMessage})
		}
		if h.cfg.logger != nil {
			attrs := []slog.Attr{
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("operation", rl.op),
				slog.String("request_id", reqID),
				slog.Int("status", rl.status),
				slog.Duration("latency", time.Since(start)),
			}
			if rl.region != "" {
				attrs = append(attrs, slog.String("region", rl.region))
			}
			if rl.secret != "" {
				attrs = append(attrs, slog.String("secret", rl.secret))
			}
			if rl.code != "" {
				attrs = append(attrs, slog.String("error_code", rl.code))
			}
			h.cfg.logger.LogAttrs(r.Context(), slog.LevelInfo, "awsapi request", attrs...)
		}
	}()

	switch r.URL.Path {
	case "/":
		h.serveAPI(w, r, rl)
	case healthPath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			h.writeError(w, rl, &apiError{http.StatusMethodNotAllowed, codeUnknownOp, "Method " + r.Method + " is not allowed on " + healthPath + "."})
			return
		}
		h.writeJSON(w, rl, http.StatusOK, map[string]string{"status": "ok"})
	case resetPath:
		if !h.cfg.allowReset {
			h.writeError(w, rl, &apiError{http.StatusNotFound, codeUnknownOp, "Not found."})
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			h.writeError(w, rl, &apiError{http.StatusMethodNotAllowed, codeUnknownOp, "Method " + r.Method + " is not allowed on " + resetPath + "."})
			return
		}
		rl.op = "Reset"
		if err := h.reset(r.Context()); err != nil {
			h.writeError(w, rl, toAPIError(err))
			return
		}
		h.writeJSON(w, rl, http.StatusOK, emptyResponse{})
	default:
		h.writeError(w, rl, &apiError{http.StatusNotFound, codeUnknownOp, "Not found."})
	}
}

func (h *Handler) serveAPI(w http.ResponseWriter, r *http.Request, rl *reqLog) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		h.writeError(w, rl, &apiError{http.StatusMethodNotAllowed, codeUnknownOp, "Method " + r.Method + " is not allowed; use POST."})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	if !ok || operations[op] == nil {
		h.writeError(w, rl, &apiError{http.StatusBadRequest, codeUnknownOp, "Unknown operation: X-Amz-Target must be secretsmanager.<Operation>."})
		return
	}
	rl.op = op
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != contentType {
		h.writeError(w, rl, &apiError{http.StatusBadRequest, codeSerializ, "Content-Type must be " + contentType + "."})
		return
	}
	var region string
	var body []byte
	var aerr *apiError
	if h.cfg.credentials == nil {
		if region, aerr = h.region(r); aerr == nil {
			rl.region = region
			body, aerr = readBody(w, r)
		}
	} else {
		// The signature covers the body, so read it first.
		if body, aerr = readBody(w, r); aerr == nil {
			region, aerr = h.verify(r, body)
			rl.region = region
		}
	}
	if aerr != nil {
		h.writeError(w, rl, aerr)
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}") // AWS accepts an empty body as an empty request
	}
	e, err := h.engine(region)
	if err != nil {
		h.writeError(w, rl, &apiError{http.StatusBadRequest, codeIncomplete, "Invalid region in the credential scope: " + err.Error()})
		return
	}
	out, err := operations[op](r.Context(), e, body, rl)
	if err != nil {
		h.writeError(w, rl, toAPIError(err))
		return
	}
	h.writeJSON(w, rl, http.StatusOK, out)
}

// readBody reads the request body, up to MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &apiError{http.StatusRequestEntityTooLarge, codeSerializ, fmt.Sprintf("The request body is larger than %d bytes.", MaxBodyBytes)}
		}
		return nil, &apiError{http.StatusBadRequest, codeSerializ, "The request body could not be read."}
	}
	return body, nil
}

// region returns the region of the request's SigV4 credential scope
// (Credential=AKID/date/region/service/aws4_request), or the default region
// if the request has no Authorization header.
func (h *Handler) region(r *http.Request) (string, *apiError) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return h.cfg.defaultRegion, nil
	}
	bad := &apiError{http.StatusBadRequest, codeIncomplete, "Authorization header requires a Credential parameter of the form AKID/date/region/service/aws4_request."}
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return "", bad
	}
	if i := strings.IndexAny(rest, ", "); i >= 0 {
		rest = rest[:i]
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 5 || parts[2] == "" {
		return "", bad
	}
	return parts[2], nil
}

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

func (h *Handler) writeError(w http.ResponseWriter, rl *reqLog, e *apiError) {
	rl.code = e.code
	w.Header().Set("X-Amzn-ErrorType", e.code)
	h.writeJSON(w, rl, e.status, struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.code, e.message})
}

func (h *Handler) writeJSON(w http.ResponseWriter, rl *reqLog, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		rl.code = codeInternal
		w.Header().Set("X-Amzn-ErrorType", codeInternal)
		body = []byte(`{"__type":"` + codeInternal + `","message":"` + internalMessage + `"}`)
	}
	rl.status = status
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
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

// newRequestID returns a random UUID-formatted request ID, sent as
// X-Amzn-RequestId like AWS does.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
