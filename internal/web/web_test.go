package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type pinger struct{ err error }

func (p pinger) Ping(context.Context) error { return p.err }

type routes struct{}

func (routes) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.PathValue("id")) })
}

func get(t *testing.T, h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandler(t *testing.T) {
	var logs strings.Builder
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	m := NewMetrics()
	h := NewHandler(Config{Log: log, Metrics: m, Ready: pinger{}, Handlers: []Registrar{routes{}}})

	if rec := get(t, h, "/healthz"); rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Fatalf("healthz %d %q", rec.Code, rec.Body)
	}
	if rec := get(t, h, "/readyz"); rec.Code != 200 {
		t.Fatalf("readyz %d", rec.Code)
	}
	down := NewHandler(Config{Log: log, Metrics: NewMetrics(), Ready: pinger{errors.New("db down")}})
	if rec := get(t, down, "/readyz"); rec.Code != 503 {
		t.Fatalf("readyz with the database down: %d", rec.Code)
	}

	rec := get(t, h, "/items/42", "X-Request-Id", "abc-123")
	if rec.Header().Get("X-Request-Id") != "abc-123" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("headers %v", rec.Header())
	}
	if rec := get(t, h, "/items/1", "X-Request-Id", "bad id\nwith newline"); strings.ContainsAny(rec.Header().Get("X-Request-Id"), " \n") || rec.Header().Get("X-Request-Id") == "" {
		t.Fatalf("unsafe request id accepted: %q", rec.Header().Get("X-Request-Id"))
	}
	if rec := get(t, h, "/boom"); rec.Code != 500 {
		t.Fatalf("panic gave %d", rec.Code)
	}
	if !strings.Contains(logs.String(), `"msg":"panic"`) || !strings.Contains(logs.String(), `"request_id":"abc-123"`) {
		t.Fatalf("logs: %s", logs.String())
	}

	m.StorageObserver("sqlite")("GetUser", 3*time.Millisecond, nil)
	if rec := get(t, h, "/metrics"); rec.Code != http.StatusNotFound {
		t.Fatalf("/metrics on the main handler: %d, want 404 (metrics have a listener of their own)", rec.Code)
	}
	mh := MetricsHandler(m)
	body := get(t, mh, "/metrics").Body.String()
	for _, want := range []string{
		`portico_http_request_duration_seconds_count{code="200",method="GET",route="GET /items/{id}"} 2`,
		`portico_http_request_duration_seconds_count{code="500",method="GET",route="GET /boom"} 1`,
		`portico_storage_operation_duration_seconds_count{backend="sqlite",op="GetUser",outcome="ok"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	get(t, h, "/no/such/path/1")
	get(t, h, "/no/such/path/2")
	if strings.Contains(get(t, mh, "/metrics").Body.String(), "/no/such/path") {
		t.Error("unmatched paths leak into metric labels")
	}
}
