package authn

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"time"
)

// Credentials are what a user proves identity with. Secrets are sealed
// (encrypted) by internal/secrets before they reach this struct.
type Credentials struct {
	TenantID string
	UserID   string
	// PasswordHash is an argon2id PHC string, empty when no password is set
	// (an imported user who has not onboarded).
	PasswordHash      string
	PasswordChangedAt time.Time
	// TOTPSecret is the sealed base32 TOTP secret, nil when not enrolled.
	TOTPSecret     []byte
	TOTPEnrolledAt time.Time
	// TOTPLastStep is the last time step accepted: codes of that step or
	// earlier are refused (replay).
	TOTPLastStep int64
	// RecoveryHashes are the unused recovery codes, hashed.
	RecoveryHashes []string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Version        int64
}

// HasTOTP reports whether the user has enrolled a TOTP authenticator.
func (c Credentials) HasTOTP() bool { return len(c.TOTPSecret) > 0 }

// SecondFactor is what a policy requires after the password.
type SecondFactor string

// Second factors.
const (
	FactorNone SecondFactor = "none"
	FactorTOTP SecondFactor = "totp"
)

// Policy is an authentication policy: what a sign-in must prove and how
// long the resulting browser session lasts.
type Policy struct {
	ID           string        `json:"id"`
	TenantID     string        `json:"-"`
	Name         string        `json:"name"`
	SecondFactor SecondFactor  `json:"secondFactor"`
	SessionIdle  time.Duration `json:"-"`
	SessionMax   time.Duration `json:"-"`
	CreatedAt    time.Time     `json:"createdAt"`
	UpdatedAt    time.Time     `json:"updatedAt"`
	Version      int64         `json:"-"`
}

// RequiresMFA reports whether the policy asks for a second factor.
func (p Policy) RequiresMFA() bool { return p.SecondFactor == FactorTOTP }

// Session is a browser single sign-on session. The browser holds a random
// token; the database holds its hash, so a database leak yields no usable
// cookie. Sessions live in the database so that every node honours them.
type Session struct {
	ID          string
	TenantID    string
	UserID      string
	TokenHash   []byte
	CreatedAt   time.Time
	LastSeenAt  time.Time
	ExpiresAt   time.Time // absolute end
	IdleTimeout time.Duration
	PasswordAt  time.Time // when the password was last proven
	MFAAt       time.Time // when a second factor was last proven (zero: never)
	RevokedAt   time.Time
	Version     int64
}

// Active reports whether the session may still be used at now.
func (s Session) Active(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt) && now.Sub(s.LastSeenAt) < s.IdleTimeout
}

// NewToken returns a random session or binding token and its hash.
func NewToken(random io.Reader) (token string, hash []byte, err error) {
	b := make([]byte, 32)
	if random == nil {
		random = rand.Reader
	}
	if _, err := io.ReadFull(random, b); err != nil {
		return "", nil, fmt.Errorf("new token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken is how tokens are looked up.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// LoginFlow is one sign-in in progress: the protocol request that started
// it, the steps done so far and the browser it belongs to. It is stored so
// that any node can serve the next step.
type LoginFlow struct {
	ID       string
	TenantID string
	AppID    string
	// Protocol and Request describe what to do when the sign-in completes
	// (for example "wsfed" and the wctx to echo); opaque to authn.
	Protocol string
	Request  []byte
	// UsernameHint prefills the username (username / login_hint).
	UsernameHint string
	// ForceFresh: the request demanded a fresh sign-in (wfresh=0,
	// prompt=login, ForceAuthn); RequireMFA: it demanded a second factor.
	ForceFresh bool
	RequireMFA bool
	// BindingHash is the hash of a random value in a cookie of the browser
	// that started the flow: a flow id alone (in a link) is useless to
	// another browser.
	BindingHash []byte
	CSRF        string
	Step        string
	Username    string
	UserID      string
	PasswordAt  time.Time
	MFAAt       time.Time
	// PendingTOTP is the sealed secret shown during enrolment, until the
	// user confirms it with a code.
	PendingTOTP []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time
	Version     int64
}

// Login flow steps.
const (
	StepUsername = "username"
	StepPassword = "password"
	StepTOTP     = "totp"
	StepEnrol    = "enrol"
	StepDone     = "done"
)
