// Package tlscert serves a TLS certificate and key read from PEM files and
// read again on demand (portico serve does so on SIGHUP), so that a renewed
// certificate is used by new connections without a restart. A reload that
// fails leaves the previous certificate in service.
package tlscert

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"time"
)

// Reloader holds the certificate in service.
type Reloader struct {
	certFile, keyFile string
	now               func() time.Time
	cur               atomic.Pointer[tls.Certificate]
}

// Load reads the certificate chain and key (PEM) and returns a Reloader
// serving them.
func Load(certFile, keyFile string) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, now: time.Now}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the files again. On any error the certificate in service
// stays.
func (r *Reloader) Reload() error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s with key %s: %w", r.certFile, r.keyFile, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return fmt.Errorf("TLS certificate %s: %w", r.certFile, err)
		}
	}
	// An expired certificate would fail every connection: keep serving
	// the one that works and say why.
	if now := r.now(); now.After(c.Leaf.NotAfter) {
		return fmt.Errorf("TLS certificate %s expired on %s", r.certFile, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	r.cur.Store(&c)
	return nil
}

// Leaf returns the certificate in service (for logs: subject, expiry).
func (r *Reloader) Leaf() *x509.Certificate { return r.cur.Load().Leaf }

// GetCertificate is tls.Config.GetCertificate: every handshake takes the
// certificate in service at that moment.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// ServerConfig returns a server configuration with TLS 1.2 as the
// minimum (RFC 8996 deprecates 1.0 and 1.1; Microsoft 365 requires 1.2)
// and Go's default cipher suites, which are all forward-secret AEADs or
// CBC suites with ECDHE.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
}
