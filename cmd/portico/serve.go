package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/api"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/idp/idphttp"
	"github.com/portico-idp/portico/internal/idp/saml"
	"github.com/portico-idp/portico/internal/idp/wsfed"
	"github.com/portico-idp/portico/internal/idp/wstrust"
	"github.com/portico-idp/portico/internal/m365/federation"
	"github.com/portico-idp/portico/internal/secrets"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
	"github.com/portico-idp/portico/internal/web"
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
	// auditRetention is how long audit events are kept, in days.
	auditRetention retentionDays
}

// defaultAuditRetention keeps a year of audit events, the period most
// audit standards ask for at least.
const defaultAuditRetention = 365

// retentionDays is a flag of whole days: "365", "365d" or "8760h".
type retentionDays int

func (d *retentionDays) String() string { return strconv.Itoa(int(*d)) + "d" }

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

// server is a running Portico node.
type server struct {
	URL    string
	Store  *sqlstore.Store
	Admin  *admin.Service
	Signin *signin.Service
	Fed    *federation.Service
	Log    *slog.Logger
	http   *http.Server
	errc   chan error
	listen net.Listener
	stop   context.CancelFunc
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
	public := cfg.publicURL
	if public == "" {
		public = defaultPublicURL(ln.Addr().String())
	}
	if _, err := url.Parse(public); err != nil || !strings.HasPrefix(public, "http") {
		ln.Close()
		st.Close()
		return nil, fmt.Errorf("--public-url %q must be an absolute http(s) URL", public)
	}
	keys, err := loadKeyring(ctx, cfg, st, log)
	if err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	svc := admin.New(st, admin.WithLogger(log), admin.WithKeyring(keys))
	sign := signin.New(st, keys, signin.WithLogger(log))
	public = strings.TrimSuffix(public, "/")
	logins := login.New(st, sign, log, strings.HasPrefix(public, "https://"))
	m365Client, err := cfg.microsoftClient()
	if err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	fed := federation.New(svc, keys, public, federation.WithHTTPClient(m365Client), federation.WithLogger(log))
	handlers := []web.Registrar{api.New(svc, sign, log).WithFederation(fed), logins}
	idpCfg := idphttp.Config{Store: st, Login: logins, Signin: sign, Admin: svc, PublicURL: public, Log: log}
	for _, newHandler := range []func(idphttp.Config) (web.Registrar, error){
		func(c idphttp.Config) (web.Registrar, error) { return wsfed.New(c) },
		func(c idphttp.Config) (web.Registrar, error) { return saml.New(c) },
		func(c idphttp.Config) (web.Registrar, error) { return wstrust.New(c) },
	} {
		h, err := newHandler(idpCfg)
		if err != nil {
			ln.Close()
			st.Close()
			return nil, err
		}
		handlers = append(handlers, h)
	}
	handler := web.NewHandler(web.Config{
		Log:      log,
		Metrics:  metrics,
		Ready:    st,
		Handlers: handlers,
	})
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	go housekeeping(bg, st, log)
	go auditRetention(authz.With(bg, authz.System("audit-retention")), svc, cfg.auditRetention.days(), log)
	s := &server{
		URL: public, Store: st, Admin: svc, Signin: sign, Fed: fed, Log: log, listen: ln, errc: make(chan error, 1), stop: stop,
		http: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       2 * time.Minute,
			WriteTimeout:      2 * time.Minute,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
	}
	go func() {
		err := s.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.errc <- err
	}()
	log.Info("portico listening", "addr", ln.Addr().String(), "public_url", s.URL, "database", cfg.store.backend())
	return s, nil
}

// defaultPublicURL derives http://host:port from the listen address; an
// unspecified host (":8080", "0.0.0.0") becomes localhost.
func defaultPublicURL(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// wait serves until ctx ends, then shuts down gracefully: in-flight
// requests get up to 15 seconds to finish.
func (s *server) wait(ctx context.Context) error {
	var err error
	select {
	case err = <-s.errc:
	case <-ctx.Done():
		s.Log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		err = s.http.Shutdown(sctx)
		cancel()
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

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("serve", "Run the Portico server.", stderr)
	var cfg serveConfig
	cfg.store.register(fs)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&cfg.publicURL, "public-url", "", "absolute URL Portico advertises in protocol metadata (default: http://ADDR)")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&cfg.m365CAFile, "m365-ca-file", "", "PEM file of extra certificate authorities to trust when calling Microsoft (for example m365sim's --cert-out file)")
	cfg.auditRetention = defaultAuditRetention
	fs.Var(&cfg.auditRetention, "audit-retention", "how long audit log events are kept, in days (365, 365d or 8760h); older ones are deleted every 6 hours, and the database refuses to delete younger ones")
	fs.StringVar(&cfg.masterKeyFile, "master-key-file", "", "file holding the 32-byte master key that encrypts secrets at rest (default with SQLite: DATA-DIR/master.key, created on first start; required with PostgreSQL, the same file on every node)")
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.logLevel)
	if err != nil {
		return err
	}
	s, err := startServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	return s.wait(ctx)
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
// Graph: the system's roots, plus --m365-ca-file when given.
func (c serveConfig) microsoftClient() (*http.Client, error) {
	if c.m365Client != nil {
		return c.m365Client, nil
	}
	if c.m365CAFile == "" {
		return &http.Client{Timeout: 60 * time.Second}, nil
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
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}
