package graph

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// step is one injected answer: a status with headers, or a dropped
// connection (drop), or 0 to let the sim answer.
type step struct {
	status int
	code   string
	hdr    map[string]string
	drop   bool
}

// script answers the requests matching method and path with steps, one per
// request, then lets the sim answer.
func script(method, path string, steps ...step) func(http.ResponseWriter, *http.Request) bool {
	var mu sync.Mutex
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != method || !strings.HasPrefix(r.URL.Path, path) {
			return false
		}
		mu.Lock()
		if len(steps) == 0 {
			mu.Unlock()
			return false
		}
		s := steps[0]
		steps = steps[1:]
		mu.Unlock()
		switch {
		case s.drop:
			// net/http closes the connection without an answer.
			panic(http.ErrAbortHandler)
		case s.status == 0:
			return false
		}
		graphFailure(w, s.status, s.code, "injected "+s.code, s.hdr)
		return true
	}
}

// TestRetries checks which failures are retried, how long the client
// waits (Retry-After, or backoff 500ms·2^n with the jitter fixed at its
// midpoint: 375ms, 750ms, 1.5s …), and when it gives up.
func TestRetries(t *testing.T) {
	ra := func(v string) map[string]string { return map[string]string{"Retry-After": v} }
	tests := []struct {
		name     string
		method   string // GET /users/{adele} or POST /groups
		steps    []step
		opts     []Option
		wantErr  func(error) bool
		waits    []time.Duration
		requests int
		// noKeepAlive: net/http itself repeats an idempotent request once
		// when a reused connection drops; fresh connections keep the count
		// of attempts exact.
		noKeepAlive bool
	}{
		{name: "429 with Retry-After, fractional too", method: "GET",
			steps: []step{{status: 429, code: "TooManyRequests", hdr: ra("2")}, {status: 429, code: "TooManyRequests", hdr: ra("0.25")}},
			waits: []time.Duration{2 * time.Second, 250 * time.Millisecond}, requests: 3},
		{name: "429 with an HTTP date", method: "GET",
			steps: []step{{status: 429, code: "TooManyRequests", hdr: ra("DATE+3s")}},
			waits: []time.Duration{3 * time.Second}, requests: 2},
		{name: "429 without Retry-After backs off", method: "GET",
			steps: []step{{status: 429, code: "TooManyRequests"}, {status: 429, code: "TooManyRequests"}},
			waits: []time.Duration{375 * time.Millisecond, 750 * time.Millisecond}, requests: 3},
		{name: "503 twice then success", method: "GET",
			steps: []step{{status: 503, code: "serviceNotAvailable"}, {status: 503, code: "serviceNotAvailable", hdr: ra("1")}},
			waits: []time.Duration{375 * time.Millisecond, time.Second}, requests: 3},
		{name: "500 502 504 on a read", method: "GET",
			steps: []step{{status: 500, code: "generalException"}, {status: 502, code: "BadGateway"}, {status: 504, code: "GatewayTimeout"}},
			waits: []time.Duration{375 * time.Millisecond, 750 * time.Millisecond, 1500 * time.Millisecond}, requests: 4},
		{name: "dropped connection on a read", method: "GET", noKeepAlive: true,
			steps: []step{{drop: true}, {drop: true}},
			waits: []time.Duration{375 * time.Millisecond, 750 * time.Millisecond}, requests: 3},
		{name: "409 concurrency violation", method: "GET",
			steps: []step{{status: 409, code: "Directory_ConcurrencyViolation"}},
			waits: []time.Duration{375 * time.Millisecond}, requests: 2},
		{name: "500 on a create is not repeated", method: "POST",
			steps:   []step{{status: 500, code: "generalException"}},
			wantErr: func(err error) bool { e, ok := AsError(err); return ok && e.Status == 500 && e.Attempts == 1 },
			waits:   nil, requests: 1},
		{name: "dropped connection on a create is not repeated", method: "POST", noKeepAlive: true,
			steps:   []step{{drop: true}},
			wantErr: func(err error) bool { _, ok := AsError(err); return !ok && err != nil },
			waits:   nil, requests: 1},
		{name: "429 on a create is repeated", method: "POST",
			steps: []step{{status: 429, code: "TooManyRequests", hdr: ra("1.5")}},
			waits: []time.Duration{1500 * time.Millisecond}, requests: 2},
		{name: "503 on a create is repeated", method: "POST",
			steps: []step{{status: 503, code: "serviceNotAvailable", hdr: ra("1")}},
			waits: []time.Duration{time.Second}, requests: 2},
		{name: "400 is final", method: "GET",
			steps:   []step{{status: 400, code: "Request_BadRequest"}},
			wantErr: IsBadRequest, waits: nil, requests: 1},
		{name: "Retry-After beyond the budget gives up at once", method: "GET",
			steps: []step{{status: 429, code: "TooManyRequests", hdr: ra("120")}},
			opts:  []Option{WithRetryBudget(time.Minute)},
			wantErr: func(err error) bool {
				e, ok := AsError(err)
				return IsThrottled(err) && ok && e.RetryAfter == 2*time.Minute
			},
			waits: nil, requests: 1},
		{name: "budget spent", method: "GET",
			steps:   []step{{status: 503, code: "a", hdr: ra("4")}, {status: 503, code: "b", hdr: ra("4")}, {status: 503, code: "c", hdr: ra("4")}},
			opts:    []Option{WithRetryBudget(6 * time.Second)},
			wantErr: func(err error) bool { e, ok := AsError(err); return ok && e.Code == "b" && e.Attempts == 2 },
			waits:   []time.Duration{4 * time.Second}, requests: 2},
		{name: "max attempts", method: "GET",
			steps:   []step{{status: 429, code: "a"}, {status: 429, code: "b"}, {status: 429, code: "c"}},
			opts:    []Option{WithMaxAttempts(2)},
			wantErr: func(err error) bool { e, ok := AsError(err); return ok && e.Code == "b" && e.Attempts == 2 },
			waits:   []time.Duration{375 * time.Millisecond}, requests: 2},
		{name: "backoff cap", method: "GET",
			steps: []step{{status: 503}, {status: 503}, {status: 503}},
			opts:  []Option{WithBackoff(time.Second, 2*time.Second)},
			waits: []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 1500 * time.Millisecond}, requests: 4},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var retries []Retry
			opts := append([]Option{WithRetryObserver(func(r Retry) { retries = append(retries, r) })}, tt.opts...)
			if tt.noKeepAlive {
				hc := e.sim.Client()
				hc.Transport.(*http.Transport).DisableKeepAlives = true
				opts = append(opts, WithHTTPClient(hc))
			}
			c, clk, _ := e.client(t, opts...)
			ctx := context.Background()
			steps := slices.Clone(tt.steps)
			for i, s := range steps {
				if v := s.hdr["Retry-After"]; strings.HasPrefix(v, "DATE+") {
					d, _ := time.ParseDuration(strings.TrimPrefix(v, "DATE+"))
					// HTTP dates have whole seconds: start from a whole second.
					clk.t = clk.t.Truncate(time.Second)
					steps[i].hdr = ra(clk.t.Add(d).UTC().Format(http.TimeFormat))
				}
			}
			path := "/v1.0/users/AdeleV@contoso.com"
			if tt.method == "POST" {
				path = "/v1.0/groups"
			}
			e.fault.set(script(tt.method, path, steps...))
			var err error
			if tt.method == "GET" {
				_, err = c.GetUser(ctx, "AdeleV@contoso.com")
			} else {
				_, err = c.CreateGroup(ctx, Group{DisplayName: "Retried", MailNickname: "retried", MailEnabled: boolp(false), SecurityEnabled: boolp(true)})
			}
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr != nil && !tt.wantErr(err):
				t.Fatalf("error %#v", err)
			}
			if got := clk.recorded(); !slices.Equal(got, tt.waits) {
				t.Errorf("waits %v, want %v", got, tt.waits)
			}
			if n := e.fault.count(tt.method + " " + path); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
			if len(retries) != len(tt.waits) {
				t.Errorf("%d retries observed, want %d", len(retries), len(tt.waits))
			}
			for i, r := range retries {
				if r.Attempt != i+1 || r.Wait != tt.waits[i] || r.Method != tt.method || (tt.steps[i].drop && r.Status != 0) {
					t.Errorf("retry %d: %+v", i, r)
				}
			}
		})
	}
}

// TestRetryUntilContextEnds: a cancelled context stops the wait.
func TestRetryUntilContextEnds(t *testing.T) {
	e := newEnv(t)
	c, _, _ := e.client(t, WithSleep(sleepCtx))
	e.fault.set(script("GET", "/v1.0/users", step{status: 503, hdr: map[string]string{"Retry-After": "30"}}))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetUser(ctx, "AdeleV@contoso.com")
	// The deadline is shorter than Retry-After: no wait at all.
	if e, ok := AsError(err); !ok || e.Status != 503 || time.Since(start) > 5*time.Second {
		t.Fatalf("error %v after %v", err, time.Since(start))
	}
	e.fault.set(script("GET", "/v1.0/users", step{status: 503, hdr: map[string]string{"Retry-After": "0.2"}}))
	ctx2, cancel2 := context.WithCancel(context.Background())
	c2, _, _ := e.client(t, WithSleep(func(ctx context.Context, d time.Duration) error { cancel2(); return sleepCtx(ctx, d) }))
	_, err = c2.GetUser(ctx2, "AdeleV@contoso.com")
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("cancelled while waiting: %v", err)
	}
}

// TestDeleteRepeatedAfterLostAnswer: when a DELETE's answer is lost and the
// repeat finds nothing, the delete succeeded.
func TestDeleteRepeatedAfterLostAnswer(t *testing.T) {
	e := newEnv(t)
	c, _, _ := e.client(t)
	ctx := context.Background()
	u, err := c.CreateUser(ctx, newUser("leaver@contoso.com"))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	e.fault.set(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodDelete {
			return false
		}
		handled := false
		once.Do(func() {
			// Carry the delete out, then lose the answer.
			rec := &discard{h: http.Header{}}
			e.fault.mu.Lock()
			e.fault.answer = nil
			e.fault.mu.Unlock()
			e.sim.Handler().ServeHTTP(rec, r)
			graphFailure(w, 504, "GatewayTimeout", "lost", nil)
			handled = true
		})
		return handled
	})
	if err := c.DeleteUser(ctx, u.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.GetUser(ctx, u.ID); !IsNotFound(err) {
		t.Errorf("user still there: %v", err)
	}
}

type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// TestReadAfterWrite retries a 404 on an object this client just created
// (replication lag, contract §2), and only then.
func TestReadAfterWrite(t *testing.T) {
	e := newEnv(t)
	c, clk, _ := e.client(t)
	ctx := context.Background()
	u, err := c.CreateUser(ctx, newUser("fresh@contoso.com"))
	if err != nil {
		t.Fatal(err)
	}
	lag := step{status: 404, code: "Request_ResourceNotFound"}
	e.fault.set(script("GET", "/v1.0/users/"+u.ID, lag, lag, lag))
	if _, err := c.GetUser(ctx, u.ID); err != nil {
		t.Fatalf("read after write: %v", err)
	}
	if n := len(clk.recorded()); n != 3 {
		t.Errorf("%d waits, want 3", n)
	}
	// By UPN too, and for a reference in a body (adding the new user).
	e.fault.set(script("GET", "/v1.0/users/fresh@contoso.com", lag))
	if _, err := c.GetUser(ctx, "fresh@contoso.com"); err != nil {
		t.Fatalf("read by UPN after write: %v", err)
	}
	g := seededGroupID(t, c)
	e.fault.set(script("POST", "/v1.0/groups/"+g+"/members", lag))
	if err := c.AddGroupMember(ctx, g, u.ID); err != nil {
		t.Fatalf("add new user as member: %v", err)
	}
	// An object this client did not write: a 404 is final.
	before := len(clk.recorded())
	e.fault.set(script("GET", "/v1.0/users/AdeleV", lag))
	if _, err := c.GetUser(ctx, "AdeleV@contoso.com"); !IsNotFound(err) || len(clk.recorded()) != before {
		t.Errorf("foreign 404: %v, %d waits", err, len(clk.recorded())-before)
	}
	// … unless the caller says it was written elsewhere.
	c.MarkWritten("AdeleV@contoso.com")
	e.fault.set(script("GET", "/v1.0/users/AdeleV", lag))
	if _, err := c.GetUser(ctx, "AdeleV@contoso.com"); err != nil {
		t.Errorf("marked written: %v", err)
	}
	// After the window, a 404 is final again.
	clk.mu.Lock()
	clk.t = clk.t.Add(DefaultConsistencyWindow)
	clk.mu.Unlock()
	e.fault.set(script("GET", "/v1.0/users/"+u.ID, lag))
	if _, err := c.GetUser(ctx, u.ID); !IsNotFound(err) {
		t.Errorf("after the window: %v", err)
	}
}

// seededGroupID returns the id of the seeded group "Office 365 Users".
func seededGroupID(t *testing.T, c *Client) string {
	t.Helper()
	var id string
	err := c.ListGroups(context.Background(), Query{Filter: "displayName eq 'Office 365 Users'"}, func(p []Group) error {
		for _, g := range p {
			id = g.ID
		}
		return nil
	})
	if err != nil || id == "" {
		t.Fatalf("seeded group: %q (%v)", id, err)
	}
	return id
}

// TestParseRetryAfter covers the header's two forms.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"0.5", 500 * time.Millisecond},
		{" 1.25 ", 1250 * time.Millisecond},
		{"0", 0},
		{"-2", 0},
		{"NaN", 0},
		{"soon", 0},
		{"Sun, 01 Mar 2026 10:00:07 GMT", 7 * time.Second},
		{"Sun, 01 Mar 2026 09:59:00 GMT", 0},
		{"1e9", 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestBackoffJitter keeps the jittered delay within the upper half.
func TestBackoffJitter(t *testing.T) {
	c, err := New(WithTokenSource(StaticToken("t")))
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 10; attempt++ {
		full := min(DefaultBackoff<<(attempt-1), DefaultMaxBackoff)
		for range 50 {
			if d := c.backoffFor(attempt); d < full/2 || d > full {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, full/2, full)
			}
		}
	}
}

// TestTransientNetError sorts transport failures.
func TestTransientNetError(t *testing.T) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	urlErr := func(err error) error { return &url.Error{Op: "Get", URL: "https://graph.example", Err: err} }
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"reset", ctx, urlErr(syscall.ECONNRESET), true},
		{"refused", ctx, urlErr(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), true},
		{"eof", ctx, urlErr(io.EOF), true},
		{"timeout", ctx, urlErr(&net.DNSError{Err: "i/o timeout", IsTimeout: true}), true},
		{"unknown host", ctx, urlErr(&net.DNSError{Err: "no such host", Name: "graph.example", IsNotFound: true}), false},
		{"untrusted certificate", ctx, urlErr(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), false},
		{"bad scheme", ctx, urlErr(errors.New(`unsupported protocol scheme "ftp"`)), false},
		{"caller cancelled", cancelled, urlErr(context.Canceled), false},
		{"not a transport error", ctx, errors.New("boom"), false},
		{"nil", ctx, nil, false},
	}
	for _, tt := range tests {
		if got := transientNetError(tt.ctx, tt.err); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestTransportFailures: an untrusted certificate fails at once; a refused
// connection is retried within the budget.
func TestTransportFailures(t *testing.T) {
	e := newEnv(t)
	c, clk, _ := e.client(t, resetCredential, WithTokenSource(StaticToken("t")), WithHTTPClient(&http.Client{}))
	_, err := c.GetUser(context.Background(), "AdeleV@contoso.com")
	var cv *tls.CertificateVerificationError
	if !errors.As(err, &cv) || len(clk.recorded()) != 0 {
		t.Errorf("untrusted certificate: %v, waits %v", err, clk.recorded())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, clk, _ = e.client(t, resetCredential, WithTokenSource(StaticToken("t")), WithGraphURL("https://"+addr+"/v1.0"), WithMaxAttempts(3))
	_, err = c.GetUser(context.Background(), "AdeleV@contoso.com")
	if !errors.Is(err, syscall.ECONNREFUSED) || len(clk.recorded()) != 2 {
		t.Errorf("refused: %v, waits %v", err, clk.recorded())
	}
}

// TestTokenRetry: Entra answering 503 once is retried; the second token
// request succeeds.
func TestTokenRetry(t *testing.T) {
	e := newEnv(t)
	hc := e.sim.Client()
	var once sync.Once
	hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		failed := false
		if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
			once.Do(func() { failed = true })
		}
		if failed {
			body := `{"error":"temporarily_unavailable","error_description":"AADSTS90006: The server is busy.","error_codes":[90006]}`
			return &http.Response{StatusCode: 503, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		}
		return e.sim.Client().Transport.RoundTrip(r)
	})
	c, clk, _ := e.client(t, WithHTTPClient(hc))
	if _, err := c.Organization(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w := clk.recorded(); len(w) != 1 || w[0] != 375*time.Millisecond {
		t.Errorf("waits %v", w)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
