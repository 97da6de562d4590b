package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/api"
	"github.com/portico-idp/portico/internal/idp/idphttp"
	"github.com/portico-idp/portico/internal/idp/saml"
	"github.com/portico-idp/portico/internal/idp/wsfed"
	"github.com/portico-idp/portico/internal/idp/wstrust"
	"github.com/portico-idp/portico/internal/m365/cloud"
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
	// lockout sets the sign-in lockout limits (zero: the defaults).
	lockout lockoutFlags
	// m365Allow are HOST[:PORT] endpoints, besides Microsoft's clouds, that
	// applications may name as authorityUrl and graphUrl (an emulator).
	m365Allow stringList
	// insecureHTTPWSTrust accepts WS-Trust passwords although the public
	// URL is http (development only).
	insecureHTTPWSTrust bool
}

// registerM365Allow adds --m365-allow-endpoint, shared by serve and the
// administration commands that change or use an application's Microsoft
// endpoints.
func registerM365Allow(fs *flag.FlagSet, dst *stringList) {
	fs.Var(dst, "m365-allow-endpoint", "HOST[:PORT] (repeatable, or comma-separated) that applications may use as Microsoft Entra or Graph endpoint besides Microsoft's clouds, e.g. an m365sim at 127.0.0.1:8443; the port defaults to 443")
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
		ln.Close()
		st.Close()
		return nil, err
	}
	fed := federation.New(svc, keys, public, federation.WithHTTPClient(m365Client), federation.WithLogger(log),
		federation.WithEndpoints(allow))
	handlers := []web.Registrar{api.New(svc, sign, log).WithFederation(fed), logins}
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
	registerM365Allow(fs, &cfg.m365Allow)
	fs.BoolVar(&cfg.insecureHTTPWSTrust, "insecure-allow-http-wstrust", false, "development only: accept WS-Trust username/password requests although --public-url is http (passwords then cross the network in clear text)")
	fs.StringVar(&cfg.masterKeyFile, "master-key-file", "", "file holding the 32-byte master key that encrypts secrets at rest (default with SQLite: DATA-DIR/master.key, created on first start; required with PostgreSQL, the same file on every node)")
	cfg.lockout.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := cfg.lockout.check(); err != nil {
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
