// Package bodylimit bounds HTTP request bodies in size and in time.
//
// A server-wide read timeout lets a client that sends its body one byte
// every few seconds hold a connection (and a handler goroutine) for the
// whole timeout. Here each body gets a read deadline computed from its
// size: a base allowance plus the time the body takes at a minimum rate,
// capped. A route may change the size cap (and with it the deadline) before
// it reads, typically after it has authenticated the caller, so that large
// bodies are only allowed to those entitled to send them.
package bodylimit

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// Defaults of a Policy's zero fields.
const (
	// DefaultBase is the allowance of any body, whatever its size: enough
	// for a round trip or two on a slow mobile link.
	DefaultBase = 5 * time.Second
	// DefaultMinRate is the slowest sending rate a client may use: 64 KiB/s
	// is below any link a person signs in over.
	DefaultMinRate = 64 << 10
	// DefaultMaxWait caps every deadline (the former server read timeout).
	DefaultMaxWait = 2 * time.Minute
	// DefaultMaxBytes is the size cap of a body whose route sets none. The
	// largest unauthenticated body Portico reads is a SAML POST (128 KiB).
	DefaultMaxBytes = 256 << 10
)

// Policy is how long a body may take and how large it may be. Zero fields
// take the defaults above.
type Policy struct {
	// Base is the time any body may take, whatever its size.
	Base time.Duration
	// MinRate is the slowest rate, in bytes per second, a client may send
	// at: a body of n bytes gets Base + n/MinRate.
	MinRate int64
	// MaxWait caps the deadline of any body.
	MaxWait time.Duration
	// MaxBytes is the size cap of a body whose route sets none (Limit).
	MaxBytes int64
}

func (p Policy) withDefaults() Policy {
	if p.Base <= 0 {
		p.Base = DefaultBase
	}
	if p.MinRate <= 0 {
		p.MinRate = DefaultMinRate
	}
	if p.MaxWait <= 0 {
		p.MaxWait = DefaultMaxWait
	}
	if p.MaxBytes <= 0 {
		p.MaxBytes = DefaultMaxBytes
	}
	return p
}

// Wait is the time a body of n bytes may take to arrive.
func (p Policy) Wait(n int64) time.Duration {
	p = p.withDefaults()
	if n < 0 {
		n = 0
	}
	if n/p.MinRate >= int64(p.MaxWait/time.Second) {
		return p.MaxWait // and no overflow for huge n
	}
	d := p.Base + time.Duration(n/p.MinRate)*time.Second + time.Duration(n%p.MinRate)*time.Second/time.Duration(p.MinRate)
	return min(d, p.MaxWait)
}

// TimeoutError is returned by a Body whose read deadline passed.
type TimeoutError struct {
	// Wait is the time the body was allowed.
	Wait time.Duration
	// MinRate is the rate the client was expected to sustain.
	MinRate int64
	err     error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("the request body did not arrive within %s (send it at %d KiB/s or faster)", e.Wait.Round(time.Millisecond), e.MinRate>>10)
}

// Unwrap returns the connection's error (os.ErrDeadlineExceeded).
func (e *TimeoutError) Unwrap() error { return e.err }

// Timeout reports true, as net.Error does for deadlines.
func (e *TimeoutError) Timeout() bool { return true }

// Body is a request body bounded by a Policy. It returns
// *http.MaxBytesError past its size cap (so handlers written for
// http.MaxBytesReader keep working) and *TimeoutError past its deadline.
type Body struct {
	src    io.ReadCloser
	rc     *http.ResponseController
	policy Policy
	start  time.Time
	length int64 // Content-Length, -1 when unknown (chunked)
	limit  int64
	read   int64
	done   bool // the whole body was read
	err    error
}

// Apply bounds r's body by p: it replaces r.Body with a *Body capped at
// p.MaxBytes and sets the connection's read deadline from the body's size
// (its Content-Length, or the cap when the body is chunked). It returns
// nil, and changes nothing, for a request without a body.
func Apply(w http.ResponseWriter, r *http.Request, p Policy) *Body {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	p = p.withDefaults()
	b := &Body{src: r.Body, rc: http.NewResponseController(w), policy: p, start: time.Now(), length: r.ContentLength, limit: p.MaxBytes}
	b.setDeadline()
	r.Body = b
	return b
}

// Limit sets the size cap of r's body to n bytes, raising or lowering the
// default, and moves the read deadline to match. A route calls it before
// reading, and after authenticating the caller where it can. Without Apply
// (a handler served alone, as in unit tests) it falls back to
// http.MaxBytesReader.
func Limit(w http.ResponseWriter, r *http.Request, n int64) {
	b, ok := r.Body.(*Body)
	if !ok {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, n)
		}
		return
	}
	b.limit = max(n, 0)
	if !b.done && b.err == nil {
		b.setDeadline()
	}
}

// expected is the number of bytes the deadline is computed for.
func (b *Body) expected() int64 {
	if b.length >= 0 && b.length <= b.limit {
		return b.length
	}
	return b.limit
}

func (b *Body) setDeadline() {
	// ErrNotSupported (a ResponseRecorder) leaves the body without a
	// deadline, which is all such a writer can do.
	_ = b.rc.SetReadDeadline(b.start.Add(b.policy.Wait(b.expected())))
}

// Read reads the body, enforcing the size cap and the deadline.
func (b *Body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.length > b.limit {
		// Announced too large: refuse before reading a byte of it.
		b.err = &http.MaxBytesError{Limit: b.limit}
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if room := b.limit - b.read + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.src.Read(p)
	b.read += int64(n)
	if b.read > b.limit {
		n -= int(b.read - b.limit)
		b.read = b.limit
		b.err = &http.MaxBytesError{Limit: b.limit}
		return n, b.err
	}
	switch {
	case err == io.EOF:
		b.finish()
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		b.err = &TimeoutError{Wait: b.policy.Wait(b.expected()), MinRate: b.policy.MinRate, err: err}
		return n, b.err
	case err == nil && b.length >= 0 && b.read == b.length:
		b.finish()
	}
	return n, err
}

// finish lifts the deadline once the whole body is in. The server keeps
// reading the connection in the background while the handler works (to
// notice a client that goes away), and a deadline left in place would
// cancel the request's context when it passes.
func (b *Body) finish() {
	if !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
}

// Close closes the underlying body.
func (b *Body) Close() error { return b.src.Close() }

// Unread reports whether the body was not read to its end.
func (b *Body) Unread() bool { return !b.done }

// Abandon gives up on the rest of an unread body by moving the read
// deadline to now. An HTTP/1.1 server otherwise reads the rest (up to 256
// KiB) after the response, at whatever pace the client sends it, to reuse
// the connection; with the deadline passed it closes the connection.
func (b *Body) Abandon() {
	if !b.done {
		_ = b.rc.SetReadDeadline(time.Now())
	}
}
