// Package web assembles Portico's HTTP surface: the router, the middleware
// every request goes through (request id, panic recovery, access log,
// metrics, security headers, request body bounds), health and readiness
// probes, and the Prometheus endpoint served on a listener of its own.
// Protocol and API handlers register themselves on the router it builds.
package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portico-idp/portico/internal/requestid"
	"github.com/portico-idp/portico/internal/web/bodylimit"
)

// Pinger is what readiness needs of storage.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Registrar adds routes to the router (the API, protocol endpoints).
type Registrar interface {
	Register(mux *http.ServeMux)
}

// Config is what the handler is built from.
type Config struct {
	Log      *slog.Logger
	Metrics  *Metrics
	Ready    Pinger
	Handlers []Registrar
	// Bodies bounds every request body in size and time (zero fields:
	// bodylimit's defaults). Routes that take larger bodies raise the cap
	// with bodylimit.Limit once they have authenticated the caller.
	Bodies bodylimit.Policy
	// HSTS adds Strict-Transport-Security to every response; set it when
	// the public URL is https.
	HSTS bool
	// Home lists the root page's links (nil: the root answers 404).
	Home func(ctx context.Context) []HomeSection
}

// hstsValue asks browsers to use https only for two years, subdomains
// included (the preload list's minimum is one year).
const hstsValue = "max-age=63072000; includeSubDomains"

// NewHandler returns the root handler.
func NewHandler(cfg Config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := cfg.Ready.Ping(ctx); err != nil {
			cfg.Log.WarnContext(ctx, "not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "database unreachable")
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if cfg.Home != nil {
		mux.HandleFunc("GET /{$}", homeHandler(cfg.Home))
	}
	for _, h := range cfg.Handlers {
		h.Register(mux)
	}
	return middleware(cfg, mux)
}

// MetricsHandler serves the Prometheus metrics at /metrics, for a listener
// of its own: metrics reveal traffic and route names, so they are kept off
// the public listener.
func MetricsHandler(m *Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	return mux
}

// statusWriter records what a handler wrote, for the log and metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	// body is the request's bounded body (nil without one); http1 says
	// whether the connection is HTTP/1.x.
	body  *bodylimit.Body
	http1 bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		if w.http1 && w.body != nil && w.body.Unread() && code >= 200 {
			// Answering before the body is in (a 401 before reading, a
			// 413): the HTTP/1.1 server would read up to 256 KiB of the
			// rest, at the client's pace, to keep the connection. Close it
			// instead. (HTTP/2 resets the stream alone.)
			w.Header().Set("Connection", "close")
			w.body.Abandon()
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func middleware(cfg Config, next *http.ServeMux) http.Handler {
	log, m := cfg.Log, cfg.Metrics
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestid.FromHeader(r.Header.Get(requestid.Header))
		r = r.WithContext(requestid.With(r.Context(), id))
		h := w.Header()
		h.Set(requestid.Header, id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if cfg.HSTS {
			h.Set("Strict-Transport-Security", hstsValue)
		}
		sw := &statusWriter{ResponseWriter: w, http1: r.ProtoMajor == 1}
		sw.body = bodylimit.Apply(sw, r, cfg.Bodies)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(r.Context(), "panic", "request_id", id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.status == 0 {
					http.Error(sw, "internal error", http.StatusInternalServerError)
				}
			}
			// The router sets r.Pattern on a match; unmatched paths share one
			// label so that scanners cannot blow up metric cardinality.
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			d := time.Since(start)
			m.observeHTTP(r.Method, route, sw.status, d)
			log.InfoContext(r.Context(), "http", "request_id", id, "method", r.Method, "path", r.URL.Path,
				"route", route, "status", sw.status, "bytes", sw.bytes, "duration_ms", float64(d.Microseconds())/1000,
				"remote", r.RemoteAddr)
		}()
		next.ServeHTTP(sw, r)
	})
}

// Metrics holds Portico's Prometheus collectors in a registry of its own
// (no global state, so tests and several servers in one process coexist).
type Metrics struct {
	registry *prometheus.Registry
	httpReqs *prometheus.HistogramVec
	storage  *prometheus.HistogramVec
}

// NewMetrics creates the collectors, with Go runtime and process metrics.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		registry: reg,
		httpReqs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portico_http_request_duration_seconds",
			Help:    "HTTP request latency by route, method and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route", "code"}),
		storage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portico_storage_operation_duration_seconds",
			Help:    "Storage operation latency by backend, operation and outcome.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"backend", "op", "outcome"}),
	}
	reg.MustRegister(m.httpReqs, m.storage,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry (to add collectors of other packages).
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

func (m *Metrics) observeHTTP(method, route string, status int, d time.Duration) {
	if status == 0 {
		status = http.StatusOK
	}
	m.httpReqs.WithLabelValues(method, route, fmt.Sprint(status)).Observe(d.Seconds())
}

// StorageObserver returns the hook a storage backend calls after each
// operation.
func (m *Metrics) StorageObserver(backend string) func(op string, d time.Duration, err error) {
	return func(op string, d time.Duration, err error) {
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		m.storage.WithLabelValues(backend, op, outcome).Observe(d.Seconds())
	}
}
