package graph

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// parseRetryAfter reads Retry-After: delay-seconds, which Graph may send
// with a fraction ("2.5", contract §2), or an HTTP-date (RFC 9110 §10.2.3).
// It returns 0 when absent or unusable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f <= 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0
		}
		// One day is far beyond any budget; it only guards the conversion.
		return time.Duration(min(f, 86400) * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// transientNetError reports a transport failure that may heal: timeouts,
// resets, refused or dropped connections. Configuration errors (unknown
// host, untrusted certificate, bad URL) and the caller's own cancellation
// are not retried.
func transientNetError(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var (
		dnsErr    *net.DNSError
		verifyErr *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound,
		errors.As(err, &verifyErr), errors.As(err, &unknownCA),
		errors.As(err, &hostErr), errors.As(err, &invalid):
		return false
	case errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return true
	}
	// *url.Error is itself a net.Error: look at what it wraps.
	inner := err
	var ue *url.Error
	if errors.As(err, &ue) {
		inner = ue.Err
	}
	if strings.Contains(inner.Error(), "unsupported protocol scheme") {
		return false
	}
	var ne net.Error
	if errors.As(inner, &ne) {
		return true
	}
	// Other failures of the transport (a connection closed while idle, a
	// malformed answer) are worth one more try.
	return ue != nil
}
