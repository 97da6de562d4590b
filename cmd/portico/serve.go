package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/api"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
	"github.com/portico-idp/portico/internal/web"
)

// serveConfig is what a Portico server is started with.
type serveConfig struct {
	store     storeFlags
	addr      string
	publicURL string
	logLevel  string
}

// server is a running Portico node.
type server struct {
	URL    string
	Store  *sqlstore.Store
	Admin  *admin.Service
	Log    *slog.Logger
	http   *http.Server
	errc   chan error
	listen net.Listener
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
	svc := admin.New(st, admin.WithLogger(log))
	handler := web.NewHandler(web.Config{
		Log:      log,
		Metrics:  metrics,
		Ready:    st,
		Handlers: []web.Registrar{api.New(svc, log)},
	})
	s := &server{
		URL: strings.TrimSuffix(public, "/"), Store: st, Admin: svc, Log: log, listen: ln, errc: make(chan error, 1),
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
