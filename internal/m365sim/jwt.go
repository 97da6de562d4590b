package m365sim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// A minimal JWS compact serialization (RFC 7515) for the two algorithms the
// sim needs: RS256 (RSASSA-PKCS1-v1_5 SHA-256) and PS256 (RSASSA-PSS
// SHA-256), RFC 7518 §3.3 and §3.5.

// jwtParts is a decoded, not yet verified, compact JWS.
type jwtParts struct {
	header    map[string]any
	claims    map[string]any
	signed    string // header.payload, the signing input
	signature []byte
}

func parseJWT(tok string) (*jwtParts, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("JWT is not well formed: it must have three dot-separated parts")
	}
	p := &jwtParts{signed: parts[0] + "." + parts[1]}
	for i, dst := range []*map[string]any{&p.header, &p.claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, fmt.Errorf("JWT part %d is not base64url: %w", i, err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, fmt.Errorf("JWT part %d is not a JSON object: %w", i, err)
		}
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("JWT signature is not base64url: %w", err)
	}
	p.signature = sig
	return p, nil
}

func (p *jwtParts) alg() string {
	s, _ := p.header["alg"].(string)
	return s
}

// verify checks the signature with key for the header's algorithm.
func (p *jwtParts) verify(key *rsa.PublicKey) error {
	sum := sha256.Sum256([]byte(p.signed))
	switch p.alg() {
	case "RS256":
		return rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], p.signature)
	case "PS256":
		return rsa.VerifyPSS(key, crypto.SHA256, sum[:], p.signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	default:
		return fmt.Errorf("unsupported JWT algorithm %q", p.alg())
	}
}

// signRS256 produces a compact RS256 JWS of claims.
func signRS256(key *rsa.PrivateKey, header map[string]any, claims any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("encoding JWT header: %w", err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding JWT claims: %w", err)
	}
	signed := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("signing JWT: %w", err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// decodeThumbprint accepts a thumbprint in base64url (RFC 7515 §4.1.7) or in
// standard base64, which MSAL Go sends.
func decodeThumbprint(s string) []byte {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b
		}
	}
	return nil
}

// numClaim reads a NumericDate claim.
func numClaim(c map[string]any, k string) (int64, bool) {
	switch v := c[k].(type) {
	case float64:
		return int64(v), true
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	}
	return 0, false
}

func strClaim(c map[string]any, k string) string {
	s, _ := c[k].(string)
	return s
}
