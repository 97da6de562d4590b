package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHomePage: the root URL answers a page of links, not a 404 (issue
// 10, item 8); other unknown paths still answer 404; links are escaped.
func TestHomePage(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := NewHandler(Config{Log: log, Metrics: NewMetrics(), Ready: pinger{}, Home: func(ctx context.Context) []HomeSection {
		return []HomeSection{{Title: "Demo", Links: []Link{
			{Title: "Sign-in test", URL: "https://sim.test/common/login?username=a&mfa=1", Note: "john <smith>"},
			{Title: "/t/TENANT/apps/APP/saml/metadata"},
		}}}
	}})
	get := func(path string) (*http.Response, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Result(), rec.Body.String()
	}
	res, body := get("/")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, want := range []string{`<a href="https://sim.test/common/login?username=a&amp;mfa=1">Sign-in test</a>`, "john &lt;smith&gt;", "<code>/t/TENANT/apps/APP/saml/metadata</code>"} {
		if !strings.Contains(body, want) {
			t.Errorf("home page lacks %s:\n%s", want, body)
		}
	}
	if res, _ := get("/nope"); res.StatusCode != 404 {
		t.Errorf("GET /nope: %d", res.StatusCode)
	}
	bare := NewHandler(Config{Log: log, Metrics: NewMetrics(), Ready: pinger{}})
	rec := httptest.NewRecorder()
	bare.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 404 {
		t.Errorf("without Home, GET /: %d", rec.Code)
	}
}
