package web

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/web/bodylimit"
)

// bodyRoutes are handlers that read (or refuse) bodies the way Portico's
// handlers do.
type bodyRoutes struct{}

func (bodyRoutes) Register(mux *http.ServeMux) {
	read := func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		var te *bodylimit.TimeoutError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &te):
			http.Error(w, err.Error(), http.StatusRequestTimeout)
		case errors.As(err, &mbe):
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
		default:
			fmt.Fprintf(w, "%d", len(b))
		}
	}
	mux.HandleFunc("POST /read", read)
	mux.HandleFunc("POST /big", func(w http.ResponseWriter, r *http.Request) {
		bodylimit.Limit(w, r, 1<<20)
		read(w, r)
	})
	// refuse answers without reading, as the API does for a missing token.
	mux.HandleFunc("POST /refuse", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no token", http.StatusUnauthorized)
	})
	// work reads the body, then works longer than the body's deadline.
	mux.HandleFunc("POST /work", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-r.Context().Done():
			http.Error(w, "context canceled while working", http.StatusInternalServerError)
		case <-time.After(time.Second):
			io.WriteString(w, "done")
		}
	})
}

func bodyServer(t *testing.T, p bodylimit.Policy) *httptest.Server {
	t.Helper()
	h := NewHandler(Config{Log: slog.New(slog.DiscardHandler), Metrics: NewMetrics(), Ready: pinger{}, Handlers: []Registrar{bodyRoutes{}}, Bodies: p})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// patience bounds how long a test client waits for the server. It is far
// below the two minutes the server used to allow a body, and far above
// the bounds the tests configure, so the outcome does not hang on timing.
const patience = 20 * time.Second

// trickle opens a connection, sends a POST whose headers announce length
// bytes (or chunked when length < 0), then sends its body one byte every
// 50 ms until the server answers or closes. It returns the response read
// and whether the server closed the connection after it.
func trickle(t *testing.T, srv *httptest.Server, path string, length int) (*http.Response, string, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hdr := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n", path)
	if length >= 0 {
		hdr += fmt.Sprintf("Content-Length: %d\r\n\r\n", length)
	} else {
		hdr += "Transfer-Encoding: chunked\r\n\r\n"
	}
	if _, err := io.WriteString(conn, hdr); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; length < 0 || i < length-1; i++ {
			b := "a"
			if length < 0 {
				b = "1\r\na\r\n"
			}
			if _, err := io.WriteString(conn, b); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(patience))
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer from the server within %s: %v", patience, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	// After the answer the server must close: a further read ends (EOF)
	// rather than waiting for our patience to run out.
	_, err = br.ReadByte()
	var ne net.Error
	closed := err != nil && !(errors.As(err, &ne) && ne.Timeout())
	return res, string(body), closed
}

func TestSlowBodyIsCutAtItsDeadline(t *testing.T) {
	srv := bodyServer(t, bodylimit.Policy{Base: 200 * time.Millisecond, MaxWait: time.Second})
	for _, tc := range []struct {
		name   string
		length int
	}{
		{"content-length", 100},
		{"chunked", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body, closed := trickle(t, srv, "/read", tc.length)
			if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, "did not arrive within") {
				t.Fatalf("slow body: %d %q, want 408", res.StatusCode, body)
			}
			if !closed {
				t.Fatal("the connection stayed open after the slow body was refused")
			}
		})
	}
}

func TestAnswerBeforeBodyClosesConnection(t *testing.T) {
	// A deadline far beyond the client's patience: only closing the
	// connection (instead of draining the body) lets the answer out.
	srv := bodyServer(t, bodylimit.Policy{Base: 10 * time.Minute, MaxWait: 10 * time.Minute})
	res, _, closed := trickle(t, srv, "/refuse", 100)
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", res.StatusCode)
	}
	if !closed || !res.Close {
		t.Fatalf("connection not closed after answering before the body (Connection: close sent: %v)", res.Close)
	}
}

func TestBodySizeCap(t *testing.T) {
	srv := bodyServer(t, bodylimit.Policy{MaxBytes: 1000})
	post := func(path string, n int, chunked bool) (int, string) {
		t.Helper()
		var rd io.Reader = strings.NewReader(strings.Repeat("a", n))
		if chunked {
			rd = io.MultiReader(rd) // hides the length: sent chunked
		}
		res, err := http.Post(srv.URL+path, "text/plain", rd)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, tc := range []struct {
		path    string
		n       int
		chunked bool
		status  int
	}{
		{"/read", 1000, false, 200},
		{"/read", 1000, true, 200},
		{"/read", 1001, false, 413},
		{"/read", 1001, true, 413},
		{"/big", 5000, false, 200}, // the route raised the cap
		{"/big", 5000, true, 200},
		{"/big", 1<<20 + 1, false, 413},
	} {
		if status, body := post(tc.path, tc.n, tc.chunked); status != tc.status {
			t.Errorf("%s with %d bytes (chunked %v): %d %q, want %d", tc.path, tc.n, tc.chunked, status, body, tc.status)
		}
	}
}

func TestBodyDeadlineLiftedOnceRead(t *testing.T) {
	// The handler works for a second after reading a body whose deadline
	// was 100 ms: its context must not be canceled by that deadline.
	srv := bodyServer(t, bodylimit.Policy{Base: 100 * time.Millisecond, MaxWait: 100 * time.Millisecond})
	for range 2 { // the second request reuses the connection
		res, err := http.Post(srv.URL+"/work", "text/plain", strings.NewReader("hello"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != "done" {
			t.Fatalf("%d %q", res.StatusCode, b)
		}
	}
}

func TestHSTS(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	on := NewHandler(Config{Log: log, Metrics: NewMetrics(), Ready: pinger{}, HSTS: true})
	if got := get(t, on, "/healthz").Header().Get("Strict-Transport-Security"); got != "max-age=63072000; includeSubDomains" {
		t.Fatalf("HSTS header %q", got)
	}
	off := NewHandler(Config{Log: log, Metrics: NewMetrics(), Ready: pinger{}})
	if got := get(t, off, "/healthz").Header().Get("Strict-Transport-Security"); got != "" {
		t.Fatalf("HSTS sent over plain http: %q", got)
	}
}
