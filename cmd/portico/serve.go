package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/spf13/pflag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/api"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/idp/idphttp"
	"github.com/portico-idp/portico/internal/idp/saml"
	"github.com/portico-idp/portico/internal/idp/wsfed"
	"github.com/portico-idp/portico/internal/idp/wstrust"
	"github.com/portico-idp/portico/internal/m365/cloud"
	"github.com/portico-idp/portico/internal/m365/federation"
	m365sync "github.com/portico-idp/portico/internal/m365/sync"
	"github.com/portico-idp/portico/internal/secrets"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
	"github.com/portico-idp/portico/internal/tlscert"
	"github.com/portico-idp/portico/internal/web"
	"github.com/portico-idp/portico/internal/web/bodylimit"
	"github.com/portico-idp/portico/internal/web/login"
)

// serveConfig is what a Portico server is started with.
type serveConfig struct {
	store         storeFlags
	addr          string
	publicURL     string
	logLevel      string
	masterKeyFile string
	// m365CAFile names extra certificate authorities to trust on calls to
	// Microsoft (an m365sim started separately).
	m365CAFile string
	// m365Client, when set, carries calls to Microsoft (the demo's
	// in-process emulator).
	m365Client *http.Client
	// tlsCert and tlsKey name PEM files: when set, the listener speaks
	// HTTPS (reloaded on SIGHUP).
	tlsCert, tlsKey string
	// metricsAddr is where /metrics is served; "" serves it nowhere.
	metricsAddr string
	// limits are the request timeouts; zero fields take the defaults
	// (tests shrink them).
	limits serveLimits
	// lockout sets the sign-in lockout limits (zero: the defaults).
	lockout lockoutFlags
	// m365Allow are HOST[:PORT] endpoints, besides Microsoft's clouds, that
	// applications may name as authorityUrl and graphUrl (an emulator).
	m365Allow stringList
	// insecureHTTPWSTrust accepts WS-Trust passwords although the public
	// URL is http (development only).
	insecureHTTPWSTrust bool
	// auditRetention is how long audit events are kept, in days.
	auditRetention retentionDays
	// homeLinks adds links to the root page (the demo's).
	homeLinks func() []web.Link
}

// defaultAuditRetention keeps a year of audit events, the period most
// audit standards ask for at least.
const defaultAuditRetention = 365

// retentionDays is a flag of whole days: "365", "365d" or "8760h".
type retentionDays int

func (d *retentionDays) String() string { return strconv.Itoa(int(*d)) + "d" }

// Type names the value in the help screen.
func (d *retentionDays) Type() string { return "days" }

func (d *retentionDays) Set(v string) error {
	n, err := strconv.Atoi(strings.TrimSuffix(v, "d"))
	if err != nil {
		dur, derr := time.ParseDuration(v)
		if derr != nil || dur%(24*time.Hour) != 0 {
			return fmt.Errorf("%q is not a number of days (365, 365d or 8760h)", v)
		}
		n = int(dur / (24 * time.Hour))
	}
	if n < 1 {
		return fmt.Errorf("%q: audit events are kept at least one day", v)
	}
	*d = retentionDays(n)
	return nil
}

// days returns the retention, the default when unset.
func (d retentionDays) days() int {
	if d == 0 {
		return defaultAuditRetention
	}
	return int(d)
}

// registerM365Allow adds --m365-allow-endpoint, shared by serve and the
// administration commands that change or use an application's Microsoft
// endpoints.
func registerM365Allow(fs *pflag.FlagSet, dst *stringList) {
	fs.Var(dst, "m365-allow-endpoint", "HOST[:PORT] (repeatable, or comma-separated) that applications may use as Microsoft Entra or Graph endpoint besides Microsoft's clouds, e.g. an m365sim at 127.0.0.1:8443; the port defaults to 443")
}

// defaultMetricsAddr is the metrics listener's default: loopback only, on
// 9464, the port the OpenTelemetry Prometheus exporter uses by default
// (OTEL_EXPORTER_PROMETHEUS_PORT), so that scrape and firewall rules
// written for "the application's metrics port" fit unchanged.
const defaultMetricsAddr = "127.0.0.1:9464"

// serveLimits bound how long a client may take to send a request.
type serveLimits struct {
	// readHeader is the time allowed for the request line and headers.
	readHeader time.Duration
	// bodies bounds each body by its size (bodylimit's defaults: 5 s plus
	// the body at 64 KiB/s, at most 2 minutes; 256 KiB unless the route
	// raises it after authenticating).
	bodies bodylimit.Policy
}

// defaultReadHeaderTimeout: request headers are a few hundred bytes and
// arrive in one packet; ten seconds covers a very slow link.
const defaultReadHeaderTimeout = 10 * time.Second

// server is a running Portico node.
type server struct {
	URL    string
	Store  *sqlstore.Store
	Admin  *admin.Service
	Signin *signin.Service
	Fed    *federation.Service
	// Sync runs the Synchronization tab's exports.
	Sync   *m365sync.Service
	Log    *slog.Logger
	http   *http.Server
	errc   chan error
	listen net.Listener
	stop   context.CancelFunc

	// MetricsURL is where Prometheus scrapes ("" when disabled).
	MetricsURL string
	// metrics serves /metrics on a listener of its own (nil when disabled).
	metrics *http.Server
	// tls is the certificate in service (nil without TLS).
	tls *tlscert.Reloader
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// startServer opens the database, builds the handler and starts listening.
func startServer(ctx context.Context, cfg serveConfig, log *slog.Logger) (*server, error) {
	var certs *tlscert.Reloader
	switch {
	case (cfg.tlsCert == "") != (cfg.tlsKey == ""):
		return nil, errors.New("give both --tls-cert and --tls-key (PORTICO_TLS_CERT, PORTICO_TLS_KEY), or neither")
	case cfg.tlsCert != "":
		var err error
		if certs, err = tlscert.Load(cfg.tlsCert, cfg.tlsKey); err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
	}
	metrics := web.NewMetrics()
	st, err := cfg.store.open(ctx, metrics.StorageObserver(cfg.store.backend()))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	var metricsLn net.Listener
	if cfg.metricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.metricsAddr); err != nil {
			ln.Close()
			st.Close()
			return nil, fmt.Errorf("--metrics-addr: listen on %s: %w", cfg.metricsAddr, err)
		}
	}
	closeAll := func() {
		ln.Close()
		if metricsLn != nil {
			metricsLn.Close()
		}
		st.Close()
	}
	public := cfg.publicURL
	if public == "" {
		public = defaultPublicURL(ln.Addr().String(), certs != nil)
	}
	if _, err := url.Parse(public); err != nil || !strings.HasPrefix(public, "http") {
		closeAll()
		return nil, fmt.Errorf("--public-url %q must be an absolute http(s) URL", public)
	}
	keys, err := loadKeyring(ctx, cfg, st, log)
	if err != nil {
		closeAll()
		return nil, err
	}
	allow, err := cloud.ParseAllowList(cfg.m365Allow...)
	if err != nil {
		ln.Close()
		st.Close()
		return nil, fmt.Errorf("--m365-allow-endpoint: %w", err)
	}
	if len(allow.Entries()) > 0 {
		log.Warn("applications may call Microsoft 365 endpoints other than Microsoft's clouds", "allowed", allow.Entries())
	}
	svc := admin.New(st, admin.WithLogger(log), admin.WithKeyring(keys), admin.WithMicrosoftEndpoints(allow))
	sign := signin.New(st, keys, signin.WithLogger(log), signin.WithLimits(cfg.lockout.limits()))
	public = strings.TrimSuffix(public, "/")
	logins := login.New(st, sign, log, strings.HasPrefix(public, "https://"))
	m365Client, err := cfg.microsoftClient()
	if err != nil {
		closeAll()
		return nil, err
	}
	fed := federation.New(svc, keys, public, federation.WithHTTPClient(m365Client), federation.WithLogger(log),
		federation.WithEndpoints(allow))
	// Synchronization runs in the background of this process (River jobs come later).
	syncSvc := m365sync.New(st, m365sync.FederationConnector(fed), m365sync.WithLogger(log))
	handlers := []web.Registrar{api.New(svc, sign, log).WithFederation(fed).WithSync(syncSvc), logins}
	idpCfg := idphttp.Config{Store: st, Login: logins, Signin: sign, Admin: svc, PublicURL: public, Log: log}
	for _, newHandler := range []func(idphttp.Config) (web.Registrar, error){
		func(c idphttp.Config) (web.Registrar, error) { return wsfed.New(c) },
		func(c idphttp.Config) (web.Registrar, error) { return saml.New(c) },
		func(c idphttp.Config) (web.Registrar, error) {
			return wstrust.New(c, wstrust.WithInsecureHTTP(cfg.insecureHTTPWSTrust))
		},
	} {
		h, err := newHandler(idpCfg)
		if err != nil {
			closeAll()
			return nil, err
		}
		handlers = append(handlers, h)
	}
	handler := web.NewHandler(web.Config{
		Log:      log,
		Metrics:  metrics,
		Ready:    st,
		Handlers: handlers,
		Bodies:   cfg.limits.bodies,
		HSTS:     strings.HasPrefix(public, "https://"),
		Home:     homeSections(public, cfg.homeLinks),
	})
	readHeader := cfg.limits.readHeader
	if readHeader <= 0 {
		readHeader = defaultReadHeaderTimeout
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	go housekeeping(bg, st, log)
	go auditRetention(authz.With(bg, authz.System("audit-retention")), svc, cfg.auditRetention.days(), log)
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	s := &server{
		URL: public, Store: st, Admin: svc, Signin: sign, Fed: fed, Sync: syncSvc, Log: log, listen: ln, errc: make(chan error, 2), stop: stop, tls: certs,
		http: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: readHeader,
			// Each request body gets a deadline of its own from its size
			// (web.Config.Bodies); this is only the outer bound.
			ReadTimeout:  bodylimit.DefaultMaxWait,
			WriteTimeout: 2 * time.Minute,
			IdleTimeout:  2 * time.Minute,
			ErrorLog:     errLog,
		},
	}
	serve := func(srv *http.Server, ln net.Listener, tls bool) {
		var err error
		if tls {
			err = srv.ServeTLS(ln, "", "") // the certificate comes from TLSConfig.GetCertificate
		} else {
			err = srv.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.errc <- err
	}
	if certs != nil {
		s.http.TLSConfig = certs.ServerConfig()
	}
	go serve(s.http, ln, certs != nil)
	if metricsLn != nil {
		s.metrics = &http.Server{
			Handler:           web.MetricsHandler(metrics),
			ReadHeaderTimeout: readHeader,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      time.Minute,
			ErrorLog:          errLog,
		}
		s.MetricsURL = "http://" + metricsLn.Addr().String() + "/metrics"
		go serve(s.metrics, metricsLn, false)
	}
	attrs := []any{"addr", ln.Addr().String(), "public_url", s.URL, "database", cfg.store.backend(), "tls", certs != nil, "metrics_url", s.MetricsURL}
	if certs != nil {
		attrs = append(attrs, "certificate", certs.Leaf().Subject.String(), "certificate_expires", certs.Leaf().NotAfter.UTC())
	}
	log.Info("portico listening", attrs...)
	return s, nil
}

// reloadTLS reads the TLS certificate and key files again (on SIGHUP). A
// failure is logged and the certificate in service stays.
func (s *server) reloadTLS() error {
	if s.tls == nil {
		s.Log.Info("SIGHUP: no TLS certificate to reload (no --tls-cert)")
		return nil
	}
	if err := s.tls.Reload(); err != nil {
		s.Log.Error("TLS certificate not reloaded; the previous one stays in service", "err", err)
		return err
	}
	leaf := s.tls.Leaf()
	s.Log.Info("TLS certificate reloaded", "certificate", leaf.Subject.String(), "certificate_expires", leaf.NotAfter.UTC())
	return nil
}

// defaultPublicURL derives http(s)://host:port from the listen address; an
// unspecified host (":8080", "0.0.0.0") becomes localhost.
func defaultPublicURL(addr string, tls bool) string {
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, port)
}

// close stops serving at once (without waiting for requests in flight).
func (s *server) close() {
	s.http.Close()
	if s.metrics != nil {
		s.metrics.Close()
	}
}

// wait serves until ctx ends, then shuts down gracefully: in-flight
// requests get up to 15 seconds to finish.
func (s *server) wait(ctx context.Context) error {
	running := 1
	if s.metrics != nil {
		running = 2
	}
	var err error
	select {
	case err = <-s.errc:
		// One listener failed (or was closed): stop the other too.
		running--
		s.close()
	case <-ctx.Done():
		s.Log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		err = s.http.Shutdown(sctx)
		if s.metrics != nil {
			s.metrics.Close()
		}
		cancel()
	}
	for ; running > 0; running-- {
		if serr := <-s.errc; err == nil {
			err = serr
		}
	}
	s.stop()
	if cerr := s.Store.Close(); err == nil {
		err = cerr
	}
	return err
}

func serveFlags(fs *pflag.FlagSet) runFunc {
	var cfg serveConfig
	cfg.store.register(fs)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&cfg.publicURL, "public-url", "", "absolute URL Portico advertises in protocol metadata (default: http://ADDR, or https://ADDR with --tls-cert)")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&cfg.m365CAFile, "m365-ca-file", "", "PEM file of extra certificate authorities to trust when calling Microsoft (for example m365sim's --cert-out file)")
	registerM365Allow(fs, &cfg.m365Allow)
	fs.BoolVar(&cfg.insecureHTTPWSTrust, "insecure-allow-http-wstrust", false, "development only: accept WS-Trust username/password requests although --public-url is http (passwords then cross the network in clear text)")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM file of the TLS certificate (chain) to serve HTTPS with (TLS 1.2 or later); read again on SIGHUP")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "PEM file of the TLS certificate's private key; read again on SIGHUP")
	fs.StringVar(&cfg.metricsAddr, "metrics-addr", defaultMetricsAddr, "address of the Prometheus /metrics listener, kept off the public one; empty to disable")
	cfg.auditRetention = defaultAuditRetention
	fs.Var(&cfg.auditRetention, "audit-retention", "how long audit log events are kept, in days (365, 365d or 8760h); older ones are deleted every 6 hours, and the database refuses to delete younger ones")
	fs.StringVar(&cfg.masterKeyFile, "master-key-file", "", "file holding the 32-byte master key that encrypts secrets at rest (default with SQLite: DATA-DIR/master.key, created on first start; required with PostgreSQL, the same file on every node)")
	cfg.lockout.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		if err := cfg.lockout.check(); err != nil {
			return err
		}
		log, err := newLogger(stderr, cfg.logLevel)
		if err != nil {
			return err
		}
		// SIGHUP reloads the TLS certificate (after a renewal) in place. It is
		// caught from before the server starts: its default action ends the
		// process.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		s, err := startServer(ctx, cfg, log)
		if err != nil {
			return err
		}
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case <-hup:
					s.reloadTLS()
				case <-done:
					return
				}
			}
		}()
		return s.wait(ctx)
	}
}

// loadKeyring loads the master key that seals private keys and TOTP
// secrets: from --master-key-file, or (SQLite only) from the data
// directory, where it is created on first start.
func loadKeyring(ctx context.Context, cfg serveConfig, st *sqlstore.Store, log *slog.Logger) (*secrets.Keyring, error) {
	var mk *secrets.MasterKey
	var err error
	switch {
	case cfg.masterKeyFile != "":
		mk, err = secrets.LoadKeyFile(cfg.masterKeyFile)
	case cfg.store.databaseURL != "":
		return nil, errors.New("with PostgreSQL, give every node the same master key with --master-key-file (PORTICO_MASTER_KEY_FILE); create one with: head -c 32 /dev/urandom | base64 > master.key && chmod 600 master.key")
	default:
		var created bool
		mk, created, err = secrets.LoadOrCreate(cfg.store.dataDir, nil, func() (bool, error) { return st.HasSealedSecrets(ctx) })
		if created {
			log.Warn("created a new master key: back it up, secrets cannot be decrypted without it",
				"file", filepath.Join(cfg.store.dataDir, secrets.MasterKeyFileName))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return secrets.NewKeyring(nil, mk)
}

// housekeeping deletes expired sessions, login flows, nonces and counters
// every few minutes. Every node may run it: the deletes are idempotent.
func housekeeping(ctx context.Context, st *sqlstore.Store, log *slog.Logger) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := st.DeleteExpired(ctx, time.Now().UTC()); err != nil && ctx.Err() == nil {
				log.Warn("housekeeping", "err", err)
			}
		}
	}
}

// auditPurgeEvery is how often the audit log's retention is applied.
const auditPurgeEvery = 6 * time.Hour

// auditRetention deletes audit events older than the retention, at start
// and every few hours. Every node may run it: the purge is idempotent.
func auditRetention(ctx context.Context, svc *admin.Service, days int, log *slog.Logger) {
	t := time.NewTicker(auditPurgeEvery)
	defer t.Stop()
	for {
		n, err := svc.PurgeAudit(ctx, days)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("audit retention", "days", days, "err", err)
		case n > 0:
			log.Info("audit events purged", "deleted", n, "retention_days", days)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// microsoftClient is the HTTP client for calls to Microsoft Entra ID and
// Graph: the system's roots, plus --m365-ca-file when given. Whatever the
// roots, its connections never reach link-local, unspecified or cloud
// metadata addresses, and it follows no redirect to another host
// (cloud.GuardClient).
func (c serveConfig) microsoftClient() (*http.Client, error) {
	if c.m365Client != nil {
		return cloud.GuardClient(c.m365Client)
	}
	if c.m365CAFile == "" {
		return cloud.GuardClient(&http.Client{Timeout: 60 * time.Second})
	}
	pem, err := os.ReadFile(c.m365CAFile)
	if err != nil {
		return nil, fmt.Errorf("--m365-ca-file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--m365-ca-file %s: no PEM certificate in it", c.m365CAFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return cloud.GuardClient(&http.Client{Transport: tr, Timeout: 60 * time.Second})
}
