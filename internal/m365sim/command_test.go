package m365sim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a goroutine-safe buffer for the command's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestCommandHTTPS(t *testing.T) {
	dir := t.TempDir()
	certOut := filepath.Join(dir, "ca.pem")
	addr := freeAddr(t)
	// Flags from the environment: PORTICO_M365SIM_<FLAG>.
	t.Setenv("PORTICO_M365SIM_CERT_OUT", certOut)
	t.Setenv("PORTICO_M365SIM_SEED", "testdata/seed-example.json")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- Command(ctx, []string{"--addr", addr}, &stdout, &stderr) }()
	var pemBytes []byte
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(stdout.String(), "listening") {
			pemBytes, _ = os.ReadFile(certOut)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(pemBytes) == 0 {
		cancel()
		t.Fatalf("not started: %s / %s", stdout.String(), stderr.String())
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("cert-out holds no certificate")
	}
	for _, host := range []string{addr, strings.Replace(addr, "127.0.0.1", "localhost", 1)} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		res, err := c.Get("https://" + host + "/8f3a7d52-6c1e-4b9a-9d4e-2f7c1a0b5e31/v2.0/.well-known/openid-configuration")
		if err != nil {
			t.Fatalf("TLS to %s with the written CA: %v", host, err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("openid configuration: %d", res.StatusCode)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Command: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Command did not stop after cancel")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still listening after shutdown")
	}
}

func TestCommandFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if err := Command(context.Background(), []string{"--help"}, &out, &errb); err != nil {
		t.Fatalf("--help: %v", err)
	}
	for _, f := range []string{"--addr", "--http", "--cert-out", "--seed", "--state", "PORTICO_M365SIM_"} {
		if !strings.Contains(errb.String(), f) {
			t.Errorf("usage lacks %s:\n%s", f, errb.String())
		}
	}
	if err := Command(context.Background(), []string{"--nope"}, &out, &errb); err == nil {
		t.Error("unknown flag accepted")
	}
	t.Setenv("PORTICO_M365SIM_HTTP", "maybe")
	if err := Command(context.Background(), nil, &out, &errb); err == nil || !strings.Contains(err.Error(), "PORTICO_M365SIM_HTTP") {
		t.Errorf("bad boolean env: %v", err)
	}
	t.Setenv("PORTICO_M365SIM_HTTP", "true")
	if err := Command(context.Background(), []string{"--seed", "testdata/missing.json"}, &out, &errb); err == nil {
		t.Error("missing seed file accepted")
	}
	// --http serves plain HTTP.
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stdout syncBuffer
	done := make(chan error, 1)
	go func() { done <- Command(ctx, []string{"--addr", addr}, &stdout, &errb) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stdout.String(), "http://") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	res, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("plain HTTP: %v", err)
	}
	res.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
