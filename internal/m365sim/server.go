package m365sim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Server is a running (or ready to run) Microsoft 365 tenant emulator: one
// listener serving the Entra endpoints (/{tenant}/...), Graph (/v1.0/...) and
// the admin API (/_sim/...).
type Server struct {
	log     *slog.Logger
	now     func() time.Time
	rand    io.Reader
	addr    string
	useTLS  bool
	certOut string
	state   string
	seed    *SeedFile

	store   *Store
	schemas *schemas

	signKey  *rsa.PrivateKey
	signCert *x509.Certificate
	keyID    string

	tls       *TLSMaterial
	graphWrap func(http.Handler) http.Handler
	graph     http.Handler // the Graph handler chain (after graphWrap)
	handler   http.Handler

	tokenCache tokenCache

	// Sign-in (signin*.go), throttling, faults and statistics.
	contexts signInContexts
	samlMu   sync.Mutex
	saml     *samlSigner
	throttle throttler
	faults   faultInjector
	stats    simStats

	mu       sync.Mutex
	listener net.Listener
	srv      *http.Server
	url      string
	done     chan struct{}
	flushing chan struct{}
}

// Option configures a Server.
type Option func(*Server) error

// WithAddr sets the listen address (default 127.0.0.1:8443; use
// 127.0.0.1:0 for a free port).
func WithAddr(addr string) Option { return func(s *Server) error { s.addr = addr; return nil } }

// WithHTTP serves plain HTTP instead of HTTPS.
func WithHTTP() Option { return func(s *Server) error { s.useTLS = false; return nil } }

// WithLogger sets the structured logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Server) error { s.log = l; return nil } }

// WithClock injects the clock, for tests that move time.
func WithClock(now func() time.Time) Option { return func(s *Server) error { s.now = now; return nil } }

// WithRand injects the randomness source for ids and keys.
func WithRand(r io.Reader) Option { return func(s *Server) error { s.rand = r; return nil } }

// WithSeed loads a seed when the server is created.
func WithSeed(f SeedFile) Option { return func(s *Server) error { s.seed = &f; return nil } }

// WithStateFile persists the state to path after changes and loads it at
// start when it exists (it then takes precedence over the seed).
func WithStateFile(path string) Option { return func(s *Server) error { s.state = path; return nil } }

// WithCertOut writes the generated CA and server certificate PEM to path at
// Start, so clients can trust the sim.
func WithCertOut(path string) Option { return func(s *Server) error { s.certOut = path; return nil } }

// WithGraphMiddleware wraps the Graph handler (every /v1.0 request and every
// $batch item) with a middleware of the caller's. The sim's own throttling
// and faults (WithThrottling, WithFaults) run outside it.
func WithGraphMiddleware(mw func(http.Handler) http.Handler) Option {
	return func(s *Server) error { s.graphWrap = mw; return nil }
}

// WithTLSMaterial supplies a pre-generated certificate instead of generating
// one at creation (tests reuse one to save time).
func WithTLSMaterial(m *TLSMaterial) Option { return func(s *Server) error { s.tls = m; return nil } }

// WithSigningKey supplies the RSA key that signs access tokens.
func WithSigningKey(k *rsa.PrivateKey) Option {
	return func(s *Server) error { s.signKey = k; return nil }
}

// New creates a server. It does not listen until Start.
func New(opts ...Option) (*Server, error) {
	s := &Server{
		log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		now:    time.Now,
		rand:   rand.Reader,
		addr:   "127.0.0.1:8443",
		useTLS: true,
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("m365sim: option: %w", err)
		}
	}
	s.store = newStore(s.now)
	s.schemas = newSchemas()
	s.tokenCache.max = 10000
	if s.signKey == nil {
		k, err := rsa.GenerateKey(s.rand, 2048)
		if err != nil {
			return nil, fmt.Errorf("m365sim: generating token signing key: %w", err)
		}
		s.signKey = k
	}
	cert, err := selfSignedFor(s.signKey, "m365sim token signing", s.now(), s.rand)
	if err != nil {
		return nil, fmt.Errorf("m365sim: token signing certificate: %w", err)
	}
	s.signCert = cert
	s.keyID = thumbprintB64(cert.Raw)
	if s.useTLS && s.tls == nil {
		m, err := GenerateTLS(s.now(), s.rand)
		if err != nil {
			return nil, fmt.Errorf("m365sim: generating TLS certificate: %w", err)
		}
		s.tls = m
	}
	if s.state != "" {
		loaded, err := s.loadState(s.state)
		if err != nil {
			return nil, err
		}
		if loaded {
			s.seed = nil
		}
	}
	if s.seed != nil {
		if err := s.Seed(*s.seed); err != nil {
			return nil, err
		}
	}
	// The Graph chain, outermost first: statistics, throttling, faults, the
	// caller's middleware, Graph itself. Each $batch item runs through all
	// of it again.
	var graph http.Handler = http.HandlerFunc(s.serveGraph)
	if s.graphWrap != nil {
		graph = s.graphWrap(graph)
	}
	graph = s.faultGraph(graph)
	graph = s.throttleGraph(graph)
	graph = s.countGraph(graph)
	s.graph = graph
	s.stats.reset(s.now())
	s.handler = s.routes()
	return s, nil
}

// Handler returns the server's HTTP handler (useful with httptest).
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens and serves in the background until ctx is cancelled or Close
// is called.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener != nil {
		return errors.New("m365sim: already started")
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("m365sim: listen on %s: %w", s.addr, err)
	}
	scheme := "http"
	if s.useTLS {
		scheme = "https"
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{s.tls.Certificate}, MinVersion: tls.VersionTLS12})
		if s.certOut != "" {
			if err := writeFileAtomic(s.certOut, s.tls.PEM(), 0o644); err != nil {
				ln.Close()
				return fmt.Errorf("m365sim: writing certificate to %s: %w", s.certOut, err)
			}
		}
	}
	s.listener = ln
	s.url = scheme + "://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	s.done = make(chan struct{})
	s.flushing = make(chan struct{})
	// Serve the local copy: Close sets s.srv to nil under the lock, and a
	// goroutine reading the field would race with it.
	srv := s.srv
	go func() { _ = srv.Serve(ln) }()
	go s.flushLoop()
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.done:
		}
	}()
	s.log.Info("m365sim: listening", "url", s.url)
	return nil
}

// URL is the base URL (scheme://host:port) once started.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// CACertPEM returns the PEM of the CA that issued the server certificate
// (nil with plain HTTP).
func (s *Server) CACertPEM() []byte {
	if s.tls == nil {
		return nil
	}
	return s.tls.CAPEM
}

// Client returns an *http.Client that trusts the sim's certificate.
func (s *Server) Client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.tls != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(s.tls.CAPEM)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// Close shuts the server down gracefully and writes the state file.
func (s *Server) Close() error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	close(done)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(ctx)
	<-s.flushing
	if ferr := s.flush(); ferr != nil && err == nil {
		err = ferr
	}
	return err
}

// routes builds the top-level handler. The paths of the two Microsoft hosts
// overlap as patterns ("/{tenant}/..." and "/v1.0/..."), so dispatch is by
// hand rather than with ServeMux patterns.
func (s *Server) routes() http.Handler {
	return recoverer(s.log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/v1.0" || strings.HasPrefix(p, "/v1.0/"):
			s.graph.ServeHTTP(w, r)
			return
		case p == "/_sim" || p == "/_sim/" || p == "/":
			s.serveView(w, r)
			return
		case strings.HasPrefix(p, "/_sim/"):
			s.serveAdmin(w, r)
			return
		case p == "/common/discovery/instance":
			s.serveInstanceDiscovery(w, r)
			return
		case p == "/common/login":
			s.serveLogin(w, r)
			return
		case strings.HasPrefix(strings.ToLower(p), "/common/userrealm/"):
			s.serveUserRealm(w, r, p[len("/common/userrealm/"):])
			return
		case p == "/login.srf":
			s.serveLoginSRF(w, r)
			return
		}
		segs := strings.Split(strings.Trim(p, "/"), "/")
		if len(segs) == 4 {
			switch strings.Join(segs[1:], "/") {
			case "v2.0/.well-known/openid-configuration":
				s.serveOpenIDConfiguration(w, r, segs[0])
				return
			case "oauth2/v2.0/token":
				s.serveToken(w, r, segs[0])
				return
			case "discovery/v2.0/keys":
				s.serveKeys(w, r)
				return
			}
		}
		http.NotFound(w, r)
	}))
}

// recoverer turns a panic into a 500 so one bad request never stops the sim.
func recoverer(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("m365sim: panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v))
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// serveGraph is the core Graph handler: request ids, authentication, tenant
// lookup, locking and routing.
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	reqID := s.newID()
	cliID := r.Header.Get("client-request-id")
	if cliID == "" {
		cliID = reqID
	}
	w.Header().Set("request-id", reqID)
	w.Header().Set("client-request-id", cliID)
	w.Header().Set("Cache-Control", "no-cache")
	rest := strings.TrimPrefix(r.URL.Path, "/v1.0")
	rest = strings.Trim(rest, "/")
	c := &gctx{s: s, w: w, r: r, reqID: reqID, cliID: cliID, q: r.URL.Query(), header: r.Header,
		base: baseURL(r) + "/v1.0"}
	if rest != "" {
		c.segs = strings.Split(rest, "/")
	}
	tok, e := s.authenticate(r)
	if e != nil {
		c.fail(e)
		return
	}
	c.tok = tok
	if rest == "$batch" {
		s.serveBatch(w, r, c)
		return
	}
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	if write {
		s.store.mu.Lock()
		defer s.store.mu.Unlock()
	} else {
		s.store.mu.RLock()
		defer s.store.mu.RUnlock()
	}
	t := s.store.tenants[strings.ToLower(tok.Tid)]
	if t == nil {
		c.fail(errInvalidToken("Access token validation failure. The tenant of the token does not exist."))
		return
	}
	c.t = t
	c.route()
	s.log.Debug("m365sim: graph request", "method", r.Method, "path", r.URL.Path, "request_id", reqID)
}

// markDirty notes a change for the state file. Callers hold the store lock.
func (s *Server) markDirty() { s.store.dirty = true }

// newID returns a random lower-case UUID.
func (s *Server) newID() string {
	var b [16]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		panic(fmt.Sprintf("m365sim: reading randomness: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b[:])
}

func formatUUID(b []byte) string {
	const hx = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hx[c>>4], hx[c&0xf])
	}
	return string(out)
}

// tokenCache remembers validated access tokens so that each Graph request
// does not pay for an RSA verification.
type tokenCache struct {
	mu  sync.Mutex
	m   map[string]*accessClaims
	max int
}

func (c *tokenCache) get(tok string) (*accessClaims, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[tok]
	return v, ok
}

func (c *tokenCache) put(tok string, v *accessClaims) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = map[string]*accessClaims{}
	}
	c.m[tok] = v
}

// IssueAppToken returns an access token for an app of a tenant, as the
// client credentials grant would, without a client assertion. Tests and
// `portico demo` use it to call Graph directly.
func (s *Server) IssueAppToken(tenantID, clientID string) (string, error) {
	s.store.mu.RLock()
	t := s.store.tenantFor(tenantID)
	var app *App
	if t != nil {
		app = t.Apps[strings.ToLower(clientID)]
	}
	s.store.mu.RUnlock()
	if t == nil || app == nil {
		return "", fmt.Errorf("m365sim: no app %q in tenant %q", clientID, tenantID)
	}
	return s.issueToken(accessClaims{AppID: app.ClientID, AppIDAcr: "2", Idtyp: "app",
		Oid: servicePrincipalID(app), Sub: servicePrincipalID(app), Roles: append([]string(nil), app.ApplicationPermissions...), Tid: t.ID})
}

// TokenURL returns the v2.0 token endpoint of a tenant once started.
func (s *Server) TokenURL(tenant string) string {
	return s.URL() + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/token"
}
