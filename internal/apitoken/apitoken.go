// Package apitoken issues and checks the bearer tokens of the admin API.
//
// A token is 32 random bytes shown once to whoever created it; Portico
// stores only its SHA-256 hash. A fast hash is right here (unlike for
// passwords): the secret has 256 bits of entropy, so there is nothing to
// guess, and every API request looks a token up.
package apitoken

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/authz"
)

// Prefix marks Portico API tokens so that secret scanners and people can
// recognize them.
const Prefix = "ptc_"

// Token is the stored record of an API token.
type Token struct {
	ID string
	// TenantID scopes the token to one tenant; empty means global (all
	// tenants, and the tenant API itself).
	TenantID string
	Name     string
	// Role is what the token may do (authz.Global only for all tenants).
	Role      authz.Role
	Hash      []byte
	CreatedAt time.Time
}

// Global reports whether the token may act on every tenant.
func (t Token) Global() bool { return t.TenantID == "" }

// Principal is the principal a request with this token acts as.
func (t Token) Principal() authz.Principal {
	return authz.Principal{Kind: authz.KindAPIToken, ID: t.ID, Name: t.Name, Role: t.Role, TenantID: t.TenantID}
}

// Generate returns a new secret (to show once) and its hash (to store).
func Generate(random io.Reader) (secret string, hash []byte, err error) {
	if random == nil {
		random = rand.Reader
	}
	b := make([]byte, 32)
	if _, err := io.ReadFull(random, b); err != nil {
		return "", nil, fmt.Errorf("generate api token: %w", err)
	}
	secret = Prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, Hash(secret), nil
}

// Hash returns the lookup hash of a presented secret.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// WellFormed reports whether s looks like a token at all, so that obvious
// garbage is refused without a database lookup.
func WellFormed(s string) bool {
	return strings.HasPrefix(s, Prefix) && len(s) == len(Prefix)+43
}
