package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePair writes a self-signed certificate for cn, valid until notAfter,
// and its key to certFile and keyFile.
func writePair(t *testing.T, certFile, keyFile, cn string, notAfter time.Time) {
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
		NotBefore:    notAfter.Add(-48 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// servedCN connects to addr and returns the common name of the
// certificate the server presents.
func servedCN(t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	later := time.Now().Add(24 * time.Hour)
	writePair(t, cert, key, "cert A", later)
	r, err := Load(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", r.ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	client := &tls.Config{InsecureSkipVerify: true}
	if cn := servedCN(t, ln.Addr().String(), client); cn != "cert A" {
		t.Fatalf("served %q, want cert A", cn)
	}

	writePair(t, cert, key, "cert B", later)
	if cn := servedCN(t, ln.Addr().String(), client); cn != "cert A" {
		t.Fatalf("served %q before the reload, want cert A still", cn)
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if cn := servedCN(t, ln.Addr().String(), client); cn != "cert B" {
		t.Fatalf("served %q after the reload, want cert B", cn)
	}

	// A broken file, a key that does not match, an expired certificate:
	// each reload fails, saying why, and cert B stays in service.
	other := filepath.Join(dir, "other")
	writePair(t, other+".crt", other+".key", "cert C", later)
	expired := filepath.Join(dir, "expired")
	writePair(t, expired+".crt", expired+".key", "cert D", time.Now().Add(-time.Hour))
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"garbage", "not a certificate", "", "TLS certificate"},
		{"mismatched key", other + ".crt", key, "private key does not match"},
		{"expired", expired + ".crt", expired + ".key", "expired on"},
	} {
		copyOrWrite(t, tc.cert, cert)
		if tc.key != "" && tc.key != key {
			copyOrWrite(t, tc.key, key)
		}
		err := r.Reload()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: reload error %v, want one containing %q", tc.name, err, tc.want)
		}
		if cn := servedCN(t, ln.Addr().String(), client); cn != "cert B" {
			t.Fatalf("%s: served %q after a failed reload, want cert B", tc.name, cn)
		}
	}
	if r.Leaf().Subject.CommonName != "cert B" {
		t.Fatalf("Leaf %q", r.Leaf().Subject.CommonName)
	}
}

// copyOrWrite copies the file src to dst, or writes src itself when it is
// not a file name.
func copyOrWrite(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		b = []byte(src)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestMinimumVersion(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writePair(t, cert, key, "cert A", time.Now().Add(time.Hour))
	r, err := Load(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", r.ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	old := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if c, err := tls.Dial("tcp", ln.Addr().String(), old); err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 client was accepted")
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, MinVersion: v, MaxVersion: v})
		if err != nil {
			t.Fatalf("TLS %x refused: %v", v, err)
		}
		c.Close()
	}
	if _, err := Load(cert, filepath.Join(dir, "missing.key")); err == nil || !strings.Contains(err.Error(), "missing.key") {
		t.Fatalf("missing key file: %v", err)
	}
}
