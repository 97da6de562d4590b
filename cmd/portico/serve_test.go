package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/portico-idp/portico/internal/authz"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/web/bodylimit"
)

// patience bounds how long a test client waits for the server: far less
// than the two minutes a client used to be allowed for a body, far more
// than the bounds the tests configure.
const patience = 20 * time.Second

func startTestServer(t *testing.T, cfg serveConfig) (*server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	log, _ := newLogger(logs, "info")
	if cfg.store.dataDir == "" {
		cfg.store.dataDir = t.TempDir()
	}
	if cfg.addr == "" {
		cfg.addr = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := startServer(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := s.wait(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s, logs
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// slowRequest sends a request's headers, announcing a body of length
// bytes, then the body one byte every 50 ms, never finishing it. It
// returns the server's answer and whether the server closed the
// connection after it.
func slowRequest(t *testing.T, addr, method, path string, length int, headers ...string) (*http.Response, []byte, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", method, path, addr, length)
	for i := 0; i+1 < len(headers); i += 2 {
		req += headers[i] + ": " + headers[i+1] + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for range length - 1 {
			if _, err := conn.Write([]byte{'a'}); err != nil {
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
		t.Fatalf("%s %s: no answer within %s: %v", method, path, patience, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	_, err = br.ReadByte()
	var ne net.Error
	return res, body, err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestServeAnswersUnauthenticatedBodyAtOnce: an API request without a
// token is refused before its body is read, and the refusal does not wait
// for the body the client is trickling.
func TestServeAnswersUnauthenticatedBodyAtOnce(t *testing.T) {
	s, _ := startTestServer(t, serveConfig{})
	addr := strings.TrimPrefix(s.URL, "http://")
	res, body, closed := slowRequest(t, addr, "POST", "/api/v1/tenants/contoso/users", 1000, "Content-Type", "application/json")
	if res.StatusCode != http.StatusUnauthorized || !closed {
		t.Fatalf("%d %s (connection closed: %v), want 401 and a closed connection", res.StatusCode, body, closed)
	}
}

func TestServeCutsSlowBodies(t *testing.T) {
	s, logs := startTestServer(t, serveConfig{limits: serveLimits{
		readHeader: 200 * time.Millisecond,
		bodies:     bodylimit.Policy{Base: 200 * time.Millisecond, MaxWait: time.Second},
	}})
	addr := strings.TrimPrefix(s.URL, "http://")
	tok, _, err := s.Admin.CreateAPIToken(authz.With(context.Background(), authz.System("test")), "", "test", authz.Global)
	if err != nil {
		t.Fatal(err)
	}

	// An authenticated API body that does not arrive in time: 408.
	res, body, closed := slowRequest(t, addr, "POST", "/api/v1/tenants", 100, "Content-Type", "application/json", "Authorization", "Bearer "+tok)
	if res.StatusCode != http.StatusRequestTimeout || !closed || !strings.Contains(string(body), "did not arrive within") {
		t.Fatalf("slow API body: %d %s (closed %v), want 408 and a closed connection", res.StatusCode, body, closed)
	}
	// An unauthenticated protocol endpoint that reads its body first (the
	// SAML POST binding): cut at the deadline too.
	res, body, closed = slowRequest(t, addr, "POST", "/t/contoso/apps/office365/saml", 100, "Content-Type", "application/x-www-form-urlencoded")
	if res.StatusCode != http.StatusBadRequest || !closed {
		t.Fatalf("slow SAML POST: %d %s (closed %v), want 400 and a closed connection", res.StatusCode, body, closed)
	}

	// Headers sent one byte at a time: the connection is closed.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() {
		for _, c := range []byte("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") {
			if _, err := conn.Write([]byte{c}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	conn.SetReadDeadline(time.Now().Add(patience))
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("slow headers: connection still open after %s", patience)
	}
	if strings.Contains(string(b), "200 OK") {
		t.Fatalf("slow headers answered: %q", b)
	}

	// A body sent at a normal pace goes through.
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/tenants", strings.NewReader(`{"slug":"fast"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("normal body: %d (logs: %s)", res.StatusCode, logs)
	}
}

// writeCert writes a self-signed certificate for cn (127.0.0.1,
// localhost) and its key.
func writeCert(t *testing.T, certFile, keyFile, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
}

// servedCN returns the common name of the certificate served at addr.
func servedCN(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeCert(t, cert, key, "cert A")
	s, logs := startTestServer(t, serveConfig{tlsCert: cert, tlsKey: key})
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") {
		t.Fatalf("public URL %q: with TLS and no --public-url it defaults to https", s.URL)
	}
	addr := strings.TrimPrefix(s.URL, "https://")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
	res, err := client.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Strict-Transport-Security") != "max-age=63072000; includeSubDomains" {
		t.Fatalf("healthz over TLS: %d, HSTS %q", res.StatusCode, res.Header.Get("Strict-Transport-Security"))
	}
	if res.ProtoMajor != 2 {
		t.Errorf("served over %s, want HTTP/2 over TLS", res.Proto)
	}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		if c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: v, MaxVersion: v}); err == nil {
			c.Close()
			t.Fatalf("TLS version %x accepted", v)
		}
	}
	if cn := servedCN(t, addr); cn != "cert A" {
		t.Fatalf("served %q", cn)
	}

	writeCert(t, cert, key, "cert B")
	if err := s.reloadTLS(); err != nil {
		t.Fatal(err)
	}
	if cn := servedCN(t, addr); cn != "cert B" {
		t.Fatalf("after reload served %q, want cert B", cn)
	}
	os.WriteFile(cert, []byte("-----BEGIN CERTIFICATE-----\nbroken\n"), 0o600)
	if err := s.reloadTLS(); err == nil {
		t.Fatal("a broken certificate file reloaded")
	}
	if cn := servedCN(t, addr); cn != "cert B" {
		t.Fatalf("after a failed reload served %q, want cert B still", cn)
	}
	if !strings.Contains(logs.String(), "TLS certificate not reloaded; the previous one stays in service") {
		t.Fatalf("failed reload not logged: %s", logs)
	}

	// The certificate and key go together.
	if _, err := startServer(context.Background(), serveConfig{store: storeFlags{dataDir: t.TempDir()}, addr: "127.0.0.1:0", tlsCert: cert}, nil); err == nil || !strings.Contains(err.Error(), "--tls-key") {
		t.Fatalf("--tls-cert without --tls-key: %v", err)
	}
}

// TestServeReloadsTLSOnSIGHUP runs "portico serve" and sends the process
// SIGHUP after replacing the certificate files.
func TestServeReloadsTLSOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeCert(t, cert, key, "cert A")
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
			"--tls-cert", cert, "--tls-key", key, "--metrics-addr", ""}, io.Discard, logs)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	addrRE := regexp.MustCompile(`"msg":"portico listening","addr":"([^"]+)"`)
	var addr string
	for deadline := time.Now().Add(patience); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("serve did not start: %s", logs)
	}
	if cn := servedCN(t, addr); cn != "cert A" {
		t.Fatalf("served %q", cn)
	}
	writeCert(t, cert, key, "cert B")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(patience); !strings.Contains(logs.String(), "TLS certificate reloaded") && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
	}
	if cn := servedCN(t, addr); cn != "cert B" {
		t.Fatalf("after SIGHUP served %q, want cert B (logs: %s)", cn, logs)
	}
}

func TestServeMetricsListener(t *testing.T) {
	s, _ := startTestServer(t, serveConfig{metricsAddr: "127.0.0.1:0"})
	get := func(u string) (int, string) {
		t.Helper()
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, _ := get(s.URL + "/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, _ := get(s.URL + "/metrics"); code != http.StatusNotFound {
		t.Fatalf("/metrics on the public listener: %d, want 404", code)
	}
	u, err := url.Parse(s.MetricsURL)
	if err != nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("metrics URL %q", s.MetricsURL)
	}
	code, body := get(s.MetricsURL)
	if code != 200 || !strings.Contains(body, `portico_http_request_duration_seconds_count{code="200",method="GET",route="GET /healthz"}`) {
		t.Fatalf("metrics listener: %d %.300s", code, body)
	}
	if res, err := http.Get(s.URL + "/healthz"); err == nil {
		if res.Header.Get("Strict-Transport-Security") != "" {
			t.Error("HSTS sent with an http public URL")
		}
		res.Body.Close()
	}

	// Disabled with an empty address.
	off, _ := startTestServer(t, serveConfig{})
	if off.MetricsURL != "" || off.metrics != nil {
		t.Fatalf("metrics served with --metrics-addr \"\": %q", off.MetricsURL)
	}
	// The flag's default is loopback.
	var help strings.Builder
	run(context.Background(), []string{"serve", "--help"}, &help, io.Discard)
	if !strings.Contains(help.String(), `[$PORTICO_METRICS_ADDR] (default "127.0.0.1:9464")`) ||
		!strings.Contains(help.String(), "$PORTICO_TLS_CERT") || !strings.Contains(help.String(), "$PORTICO_TLS_KEY") {
		t.Fatalf("serve --help: %s", help.String())
	}
}

// TestDemoPrintsMetricsURL checks the demo's metrics link works.
func TestServeDemoMetricsURL(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--json", "--addr", "127.0.0.1:0", "--m365sim-addr", "127.0.0.1:0"}, pw, io.Discard)
		pw.Close()
	}()
	defer func() { cancel(); <-done }()
	line, err := bufio.NewReader(pr).ReadBytes('\n')
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	var info demoInfo
	if err := json.Unmarshal(line, &info); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(info.MetricsURL)
	if err != nil {
		t.Fatalf("demo metrics URL %q: %v", info.MetricsURL, err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(info.MetricsURL, "http://127.0.0.1:") {
		t.Fatalf("demo metrics %q: %d", info.MetricsURL, res.StatusCode)
	}
}
