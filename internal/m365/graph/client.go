package graph

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/portico-idp/portico/internal/m365/cloud"
	"github.com/portico-idp/portico/internal/signing"
)

// Defaults of the retry policy; each has an option.
const (
	// DefaultRetryBudget bounds the time spent retrying one call when the
	// context has no earlier deadline.
	DefaultRetryBudget = 60 * time.Second
	// DefaultMaxAttempts bounds how many times one request is sent.
	DefaultMaxAttempts = 8
	// DefaultBackoff is the first backoff delay; it doubles up to
	// DefaultMaxBackoff.
	DefaultBackoff    = 500 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
	// DefaultConsistencyWindow is how long after this client wrote an object
	// a 404 on it is taken for replication lag and retried (contract §2).
	DefaultConsistencyWindow = 10 * time.Second
	// maxResponseBytes caps a response body read into memory.
	maxResponseBytes = 64 << 20
)

// Client calls Microsoft Graph. It is safe for concurrent use.
type Client struct {
	tokens      TokenSource
	base        string // https://graph.microsoft.com/v1.0, no trailing slash
	origin      string // scheme://host of base: nextLinks must stay on it
	basePath    string // path of base ("/v1.0"), trimmed from nextLinks in logs
	http        *http.Client
	log         *slog.Logger
	budget      time.Duration
	maxAttempts int
	backoff     time.Duration
	maxBackoff  time.Duration
	window      time.Duration
	now         func() time.Time
	sleep       func(context.Context, time.Duration) error
	newID       func() string
	onRetry     func(Retry)

	randMu sync.Mutex
	rnd    *mrand.Rand

	recent recentWrites
}

// Retry describes one retry, for metrics and tests (WithRetryObserver).
type Retry struct {
	// Method and Path name the request; BatchID the $batch item, if any.
	Method, Path, BatchID string
	// Attempt is the attempt that failed (1 for the first).
	Attempt int
	// Status is the failed attempt's HTTP status (0 for a network error).
	Status int
	// Code is Graph's error code, if any.
	Code string
	// RequestID is the failed attempt's request-id, if any.
	RequestID string
	// Wait is the delay before the next attempt.
	Wait time.Duration
	// Err is the failure.
	Err error
}

type settings struct {
	tokens     TokenSource
	auth       AuthConfig
	cert       *signing.Certificate
	user, pass string
	credKinds  int
	graphURL   string
	c          *Client
	randSource mrand.Source
}

// Option configures New.
type Option func(*settings) error

// WithCertificate authenticates as the application with the client
// credentials grant and cert (M365-CONTRACT.md §1), through MSAL.
func WithCertificate(tenantID, clientID string, cert *signing.Certificate) Option {
	return func(s *settings) error {
		s.auth.TenantID, s.auth.ClientID, s.cert = tenantID, clientID, cert
		s.credKinds++
		return nil
	}
}

// WithPassword authenticates as a cloud administrator with the password
// grant (the legacy "Microsoft Online" mode), through MSAL; clientID is a
// public client application that allows the flow.
func WithPassword(tenantID, clientID, username, password string) Option {
	return func(s *settings) error {
		s.auth.TenantID, s.auth.ClientID, s.user, s.pass = tenantID, clientID, username, password
		s.credKinds++
		return nil
	}
}

// WithTokenSource uses ts for tokens instead of a credential.
func WithTokenSource(ts TokenSource) Option {
	return func(s *settings) error { s.tokens = ts; s.credKinds++; return nil }
}

// WithLoginURL sets the Entra login host (default DefaultLoginURL).
func WithLoginURL(u string) Option {
	return func(s *settings) error { s.auth.LoginURL = u; return nil }
}

// WithGraphURL sets the Graph base URL including the version (default
// DefaultGraphURL), e.g. m365sim's URL()+"/v1.0".
func WithGraphURL(u string) Option {
	return func(s *settings) error { s.graphURL = u; return nil }
}

// WithHTTPClient sets the HTTP client for both Graph and MSAL (to trust
// m365sim's CA, say).
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error { s.c.http = hc; s.auth.HTTPClient = hc; return nil }
}

// WithLogger sets the logger of failures (default: slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error { s.c.log = l; return nil }
}

// WithRetryBudget bounds the time one call may spend retrying; the
// context's deadline, when earlier, wins.
func WithRetryBudget(d time.Duration) Option {
	return func(s *settings) error {
		if d < 0 {
			return errors.New("graph: negative retry budget")
		}
		s.c.budget = d
		return nil
	}
}

// WithMaxAttempts bounds how many times one request is sent (1 disables
// retries).
func WithMaxAttempts(n int) Option {
	return func(s *settings) error {
		if n < 1 {
			return errors.New("graph: max attempts must be at least 1")
		}
		s.c.maxAttempts = n
		return nil
	}
}

// WithBackoff sets the first exponential backoff delay and its cap.
func WithBackoff(first, max time.Duration) Option {
	return func(s *settings) error {
		if first <= 0 || max < first {
			return errors.New("graph: backoff needs 0 < first <= max")
		}
		s.c.backoff, s.c.maxBackoff = first, max
		return nil
	}
}

// WithConsistencyWindow sets how long after this client created an object a
// 404 that names it is retried as replication lag (0 disables).
func WithConsistencyWindow(d time.Duration) Option {
	return func(s *settings) error { s.c.window = d; return nil }
}

// WithClock sets the clock used for budgets, Retry-After dates and the
// consistency window.
func WithClock(now func() time.Time) Option {
	return func(s *settings) error { s.c.now = now; s.auth.Now = now; return nil }
}

// WithSleep replaces the wait between attempts (tests record and skip it).
// It must return ctx.Err() when ctx ends first.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(s *settings) error { s.c.sleep = sleep; return nil }
}

// WithRandSource sets the randomness of backoff jitter.
func WithRandSource(src mrand.Source) Option {
	return func(s *settings) error { s.randSource = src; return nil }
}

// WithRequestIDs replaces the generator of client-request-id values
// (default: random UUIDs).
func WithRequestIDs(newID func() string) Option {
	return func(s *settings) error { s.c.newID = newID; return nil }
}

// WithRetryObserver calls fn before every retry wait.
func WithRetryObserver(fn func(Retry)) Option {
	return func(s *settings) error { s.c.onRetry = fn; return nil }
}

// New returns a Client. Exactly one of WithCertificate, WithPassword and
// WithTokenSource is required.
func New(opts ...Option) (*Client, error) {
	c := &Client{
		http:        http.DefaultClient,
		budget:      DefaultRetryBudget,
		maxAttempts: DefaultMaxAttempts,
		backoff:     DefaultBackoff,
		maxBackoff:  DefaultMaxBackoff,
		window:      DefaultConsistencyWindow,
		now:         time.Now,
		sleep:       sleepCtx,
		newID:       newUUID,
	}
	s := &settings{c: c, graphURL: DefaultGraphURL}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.http == nil {
		c.http = http.DefaultClient
	}
	if s.randSource == nil {
		var seed [32]byte
		_, _ = rand.Read(seed[:])
		s.randSource = mrand.NewChaCha8(seed)
	}
	c.rnd = mrand.New(s.randSource)
	u, err := url.Parse(strings.TrimSuffix(s.graphURL, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("graph: Graph URL %q must be an absolute http(s) URL", s.graphURL)
	}
	c.base = u.String()
	c.origin = u.Scheme + "://" + u.Host
	if s.auth.Scope == "" {
		s.auth.Scope = cloud.GraphScope(c.base)
	}
	c.basePath = u.EscapedPath()
	if s.credKinds != 1 {
		return nil, errors.New("graph: give exactly one of WithCertificate, WithPassword, WithTokenSource")
	}
	switch {
	case s.tokens != nil:
		c.tokens = s.tokens
	case s.cert != nil:
		c.tokens, err = NewCertificateSource(s.auth, s.cert)
	default:
		c.tokens, err = NewPasswordSource(s.auth, s.user, s.pass)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Token returns the access token the client uses (Verify Compatibility's
// "token obtained" check; read its Claims for the granted roles).
func (c *Client) Token(ctx context.Context) (AccessToken, error) {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return AccessToken{}, fmt.Errorf("graph: get token: %w", err)
	}
	return tok, nil
}

// MarkWritten tells the client that objects with these ids (or UPNs) were
// just written elsewhere (another Portico node, say), so that 404s on them
// are retried within the consistency window.
func (c *Client) MarkWritten(ids ...string) {
	for _, id := range ids {
		c.recent.add(id, c.now(), c.window)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// newUUID returns a random (version 4) UUID, the form Graph expects in
// client-request-id (best-practices-concept: "a unique GUID").
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// request is one Graph call.
type request struct {
	method string
	// path is below the base ("/users/x"), its segments already escaped;
	// rawURL (a nextLink) replaces path and query when set.
	path   string
	query  query
	rawURL string
	header http.Header
	body   any
	out    any
	// unsafe marks a POST that must not be repeated after an error that
	// may have come after the server acted (5xx other than 503, network).
	// Every POST is unsafe unless safe is set.
	safe bool
	// retryNotFound retries 404s within the consistency window even when
	// the object was not written by this client.
	retryNotFound bool
	// done recognises the answer to a repeat of a request that an earlier
	// attempt already carried out (404 to a DELETE, "already exists" to an
	// added reference): it then counts as success.
	done func(error) bool
}

func (r *request) alreadyDone(e *Error) bool {
	if r.done != nil {
		return r.done(e)
	}
	return r.method == http.MethodDelete && IsNotFound(e)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// query is an ordered set of Graph query options, encoded with '$' kept
// and spaces as %20 (OData URL conventions; '+' is not a space to every
// OData parser).
type query [][2]string

func (q query) encode() string {
	var b strings.Builder
	for i, kv := range q {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(escapeQuery(kv[0]))
		b.WriteByte('=')
		b.WriteString(escapeQuery(kv[1]))
	}
	return b.String()
}

func escapeQuery(s string) string {
	s = strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
	return strings.ReplaceAll(s, "%24", "$")
}

// seg escapes one path segment (an id or a UPN).
func seg(s string) string { return url.PathEscape(s) }

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// target returns the absolute URL and the path for logs.
func (c *Client) target(r *request) (string, string, error) {
	if r.rawURL != "" {
		// A nextLink carries our bearer token: it must point at the Graph
		// host we were configured with.
		u, err := url.Parse(r.rawURL)
		if err != nil || u.Scheme+"://"+u.Host != c.origin {
			return "", "", fmt.Errorf("graph: refusing link %q outside %s", r.rawURL, c.origin)
		}
		return r.rawURL, strings.TrimPrefix(u.EscapedPath(), c.basePath), nil
	}
	full := c.base + r.path
	if len(r.query) > 0 {
		full += "?" + r.query.encode()
	}
	return full, r.path, nil
}

// do sends r with retries and decodes a 2xx body into r.out.
func (c *Client) do(ctx context.Context, r *request) (*response, error) {
	return c.doUntil(ctx, r, c.deadline(ctx))
}

// doUntil is do with the retry deadline given.
func (c *Client) doUntil(ctx context.Context, r *request, deadline time.Time) (*response, error) {
	full, logPath, err := c.target(r)
	if err != nil {
		return nil, err
	}
	var body []byte
	if r.body != nil {
		if raw, ok := r.body.(json.RawMessage); ok {
			body = raw
		} else if body, err = json.Marshal(r.body); err != nil {
			return nil, fmt.Errorf("graph: encoding %s %s: %w", r.method, logPath, err)
		}
	}
	cid := c.newID()
	safe := r.safe || idempotent(r.method)
	maybeApplied := false // an earlier attempt may have reached the service
	for attempt := 1; ; attempt++ {
		res, failure, netErr := c.send(ctx, r.method, full, r.header, body, cid)
		if failure == nil && netErr == nil {
			if r.out != nil && len(res.body) > 0 {
				if err := json.Unmarshal(res.body, r.out); err != nil {
					return res, fmt.Errorf("graph: decoding %s %s: %w", r.method, logPath, err)
				}
			}
			return res, nil
		}
		var wait time.Duration
		retry := false
		var final error
		status, code, reqID := 0, "", ""
		if netErr != nil {
			final = fmt.Errorf("graph: %s %s: %w", r.method, logPath, netErr)
			if ctx.Err() != nil {
				return nil, final
			}
			if errors.Is(netErr, errTokenFailure) {
				retry = transientTokenError(ctx, netErr)
			} else {
				retry = safe && transientNetError(ctx, netErr)
				maybeApplied = true
			}
			wait = c.backoffFor(attempt)
		} else {
			failure.Method, failure.Path, failure.Attempts = r.method, logPath, attempt
			final = failure
			status, code, reqID = failure.Status, failure.Code, failure.RequestID
			if maybeApplied && r.alreadyDone(failure) {
				// An earlier attempt did it; the goal is reached.
				return res, nil
			}
			retry, wait = c.shouldRetry(r, failure, safe, logPath, body, attempt)
			if status >= 500 && status != http.StatusServiceUnavailable {
				maybeApplied = true
			}
		}
		if retry && attempt >= c.maxAttempts {
			retry = false
		}
		if retry && c.now().Add(wait).After(deadline) {
			retry = false
			c.log.LogAttrs(ctx, slog.LevelWarn, "graph: retry budget exhausted",
				slog.String("method", r.method), slog.String("path", logPath), slog.Duration("wait", wait),
				slog.Int("attempt", attempt), slog.String("client_request_id", cid))
		}
		c.logFailure(ctx, r.method, logPath, "", cid, attempt, failure, netErr, retry, wait)
		if !retry {
			return res, final
		}
		if status == http.StatusServiceUnavailable {
			// "Always make new retry requests over a new HTTP connection"
			// after a 503 (best-practices-concept, handling expected errors).
			c.http.CloseIdleConnections()
		}
		if c.onRetry != nil {
			c.onRetry(Retry{Method: r.method, Path: logPath, Attempt: attempt, Status: status, Code: code, RequestID: reqID, Wait: wait, Err: final})
		}
		if err := c.sleep(ctx, wait); err != nil {
			return res, fmt.Errorf("%w; %w", final, err)
		}
	}
}

// errTokenFailure marks a failure to get a token inside send.
var errTokenFailure = errors.New("get token")

// send makes one attempt. It returns the response, or a Graph failure (a
// non-2xx status), or a network or token error.
func (c *Client) send(ctx context.Context, method, full string, hdr http.Header, body []byte, cid string) (*response, *Error, error) {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errTokenFailure, err)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, full, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("graph: building request: %w", err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+tok.Value)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("client-request-id", cid)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, nil, fmt.Errorf("reading response: %w", err)
	}
	res := &response{status: resp.StatusCode, header: resp.Header, body: data}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return res, nil, nil
	}
	e := parseError(resp.StatusCode, resp.Header, data)
	if e.ClientRequestID == "" {
		e.ClientRequestID = cid
	}
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	return res, e, nil
}

// deadline is the earlier of the context's deadline and now+budget.
func (c *Client) deadline(ctx context.Context) time.Time {
	d := c.now().Add(c.budget)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// shouldRetry decides on a Graph failure. Sources: graph/throttling (429
// with Retry-After), graph/errors (503 "repeat the request after a delay,
// the length of which may be specified in a Retry-After header"; 409
// Directory_ConcurrencyViolation may be repeated after a short delay),
// contract §2 (a 404 right after a write).
func (c *Client) shouldRetry(r *request, e *Error, safe bool, path string, body []byte, attempt int) (bool, time.Duration) {
	wait := c.backoffFor(attempt)
	if e.RetryAfter > 0 {
		wait = e.RetryAfter
	}
	switch {
	case e.Status == http.StatusTooManyRequests, e.Status == http.StatusServiceUnavailable:
		return true, wait
	case e.Status == http.StatusConflict && strings.EqualFold(e.Code, "Directory_ConcurrencyViolation"):
		return true, wait
	case e.Status >= 500:
		return safe, wait
	case e.Status == http.StatusNotFound:
		if c.window <= 0 {
			return false, 0
		}
		if r.retryNotFound || c.recent.matches(path, body, c.now()) {
			return true, c.backoffFor(attempt)
		}
	}
	return false, 0
}

// backoffFor returns the jittered exponential delay after a failed attempt:
// backoff·2^(attempt-1), capped, then a uniform draw from its upper half.
func (c *Client) backoffFor(attempt int) time.Duration {
	d := c.backoff
	for i := 1; i < attempt && d < c.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.maxBackoff)
	c.randMu.Lock()
	f := c.rnd.Float64()
	c.randMu.Unlock()
	return d/2 + time.Duration(f*float64(d/2))
}

// logFailure logs one failed attempt with its request-id
// (best-practices-concept: log request-id, timestamp and client-request-id).
func (c *Client) logFailure(ctx context.Context, method, path, batchID, cid string, attempt int, e *Error, netErr error, retry bool, wait time.Duration) {
	level := slog.LevelInfo
	attrs := []slog.Attr{slog.String("method", method), slog.String("path", path), slog.Int("attempt", attempt)}
	if batchID != "" {
		attrs = append(attrs, slog.String("batch_id", batchID))
	}
	if e != nil {
		attrs = append(attrs, slog.Int("status", e.Status), slog.String("code", e.Code),
			slog.String("request_id", e.RequestID), slog.String("client_request_id", e.ClientRequestID),
			slog.Time("date", e.Date), slog.String("message", e.Message))
		for _, kv := range [][2]string{{"ags_diagnostic", e.Diagnostic}, {"throttle_scope", e.ThrottleScope}, {"throttle_information", e.ThrottleInformation}} {
			if kv[1] != "" {
				attrs = append(attrs, slog.String(kv[0], kv[1]))
			}
		}
		if e.Status == http.StatusTooManyRequests || e.Status >= 500 {
			level = slog.LevelWarn
		}
	} else {
		attrs = append(attrs, slog.String("client_request_id", cid), slog.String("error", netErr.Error()))
		level = slog.LevelWarn
	}
	msg := "graph: request failed"
	if retry {
		msg = "graph: request failed, retrying"
		attrs = append(attrs, slog.Duration("retry_in", wait))
	}
	c.log.LogAttrs(ctx, level, msg, attrs...)
}

// recentWrites remembers ids and UPNs written by this client, for the
// consistency retry of 404s.
type recentWrites struct {
	mu sync.Mutex
	m  map[string]time.Time // lower-case key -> end of its window
}

func (w *recentWrites) add(key string, now time.Time, window time.Duration) {
	if key == "" || window <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]time.Time{}
	}
	if len(w.m) >= 256 {
		for k, until := range w.m {
			if !until.After(now) {
				delete(w.m, k)
			}
		}
	}
	w.m[strings.ToLower(key)] = now.Add(window)
}

// matches reports whether the path or body names a key still in its window.
func (w *recentWrites) matches(path string, body []byte, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.m) == 0 {
		return false
	}
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	text := strings.ToLower(path + " " + string(body))
	for k, until := range w.m {
		if until.After(now) && strings.Contains(text, k) {
			return true
		}
	}
	return false
}
