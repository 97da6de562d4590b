// Package requestid carries the id of the HTTP request being served, so
// that logs, problem responses and outgoing calls can all name it.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"regexp"
)

type key struct{}

// Header is the header that carries the id in both directions.
const Header = "X-Request-Id"

// valid limits ids accepted from clients (or a proxy in front), so that a
// caller cannot inject log lines or huge values.
var valid = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// FromHeader returns the client's id when it is acceptable, else a new one.
func FromHeader(v string) string {
	if valid.MatchString(v) {
		return v
	}
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// With returns a context carrying id.
func With(ctx context.Context, id string) context.Context { return context.WithValue(ctx, key{}, id) }

// From returns the id in ctx, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}
