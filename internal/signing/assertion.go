package signing

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// JWTAlg selects the client-assertion signature algorithm.
type JWTAlg string

const (
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3); the header
	// names the certificate by its base64url SHA-1 thumbprint in "x5t"
	// (RFC 7515 §4.1.7).
	RS256 JWTAlg = "RS256"
	// PS256 is RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt
	// (RFC 7518 §3.5); the header carries "x5t#S256" (RFC 7515 §4.1.8).
	// MSAL Go sends this form (TESTING.md).
	PS256 JWTAlg = "PS256"
)

// MaxAssertionLifetime is the longest exp-nbf Microsoft Entra accepts for a
// client assertion (certificate-credentials page: "exp ... at most 10 min").
const MaxAssertionLifetime = 10 * time.Minute

// ClientAssertion describes a JWT client assertion for the Microsoft
// identity platform's certificate credentials
// (learn.microsoft.com/entra/identity-platform/certificate-credentials,
// M365-CONTRACT.md §1). Use it only where MSAL Go cannot be used.
type ClientAssertion struct {
	// ClientID is the application (client) id: both iss and sub.
	ClientID string
	// Audience is the token endpoint URL,
	// https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token.
	Audience string
	// Alg is RS256 or PS256; empty means PS256.
	Alg JWTAlg
	// Lifetime is exp-iat; zero means 5 minutes; at most MaxAssertionLifetime.
	Lifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand supplies the jti; nil means crypto/rand.
	Rand io.Reader
}

// Sign builds and signs the assertion with cert's key. It returns the compact
// JWS (RFC 7515 §7.1).
func (a ClientAssertion) Sign(cert *Certificate) (string, error) {
	if a.ClientID == "" || a.Audience == "" {
		return "", errors.New("signing: client assertion needs client id and audience")
	}
	lifetime := a.Lifetime
	if lifetime == 0 {
		lifetime = 5 * time.Minute
	}
	if lifetime < 0 || lifetime > MaxAssertionLifetime {
		return "", fmt.Errorf("signing: client assertion lifetime %v outside (0, %v]", lifetime, MaxAssertionLifetime)
	}
	alg := a.Alg
	if alg == "" {
		alg = PS256
	}
	header := map[string]string{"alg": string(alg), "typ": "JWT"}
	var opts crypto.SignerOpts
	switch alg {
	case RS256:
		s := sha1.Sum(cert.Cert.Raw)
		header["x5t"] = base64.RawURLEncoding.EncodeToString(s[:])
		opts = crypto.SHA256
	case PS256:
		s := sha256.Sum256(cert.Cert.Raw)
		header["x5t#S256"] = base64.RawURLEncoding.EncodeToString(s[:])
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	default:
		return "", fmt.Errorf("signing: unsupported client assertion alg %q", alg)
	}
	now := Options{Now: a.Now}.now()
	random := Options{Rand: a.Rand}.rand()
	var j [16]byte
	if _, err := io.ReadFull(random, j[:]); err != nil {
		return "", fmt.Errorf("signing: jti: %w", err)
	}
	j[6] = j[6]&0x0f | 0x40 // UUID version 4, RFC 9562 §5.4
	j[8] = j[8]&0x3f | 0x80
	jti := hex.EncodeToString(j[:4]) + "-" + hex.EncodeToString(j[4:6]) + "-" + hex.EncodeToString(j[6:8]) + "-" + hex.EncodeToString(j[8:10]) + "-" + hex.EncodeToString(j[10:])
	claims := struct {
		Aud string `json:"aud"`
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Jti string `json:"jti"`
		Nbf int64  `json:"nbf"`
		Iat int64  `json:"iat"`
		Exp int64  `json:"exp"`
	}{a.Audience, a.ClientID, a.ClientID, jti, now.Unix(), now.Unix(), now.Add(lifetime).Unix()}

	hb, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("signing: header: %w", err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("signing: claims: %w", err)
	}
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	digest := sha256.Sum256([]byte(input))
	sig, err := cert.Signer.Sign(random, digest[:], opts)
	if err != nil {
		return "", fmt.Errorf("signing: signing client assertion: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
