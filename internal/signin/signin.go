// Package signin runs sign-ins against the directory: it checks passwords
// and second factors against stored credentials, throttles failures,
// enrols authenticators, and keeps browser single sign-on sessions. It is
// protocol-neutral: the login pages, WS-Federation, SAML and WS-Trust all
// use it, so a rule (lockout, replay, suspended users) holds everywhere.
package signin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/secrets"
	"github.com/portico-idp/portico/internal/storage"
)

// Errors a sign-in step can end with. Messages shown to people are chosen
// by the caller; these never say whether a username exists.
var (
	// ErrInvalidCredentials: unknown user, wrong password, or no password
	// set — deliberately one error.
	ErrInvalidCredentials = errors.New("invalid username or password")
	// ErrInvalidCode: wrong, expired or already used second-factor code.
	ErrInvalidCode = errors.New("invalid code")
	// ErrThrottled: too many attempts; try later.
	ErrThrottled = errors.New("too many attempts")
	// ErrAccountDisabled: the password was right but the user is not active.
	ErrAccountDisabled = errors.New("account is not active")
	// ErrNotPermitted: the user is not in the application's permission groups.
	ErrNotPermitted = errors.New("not permitted to use this application")
	// ErrAppDisabled: the application is switched off.
	ErrAppDisabled = errors.New("application is disabled")
	// ErrNoSession: no valid session for the token.
	ErrNoSession = errors.New("no valid session")
)

// Limits bound failed attempts. Counters live in the database, so they
// hold across nodes.
type Limits struct {
	// PerUser attempts in Window before further ones are refused without
	// checking; a success resets the count. Keyed by the name typed, so an
	// unknown name is throttled exactly like a known one.
	PerUser int64
	// PerClient attempts from one client address in Window.
	PerClient int64
	Window    time.Duration
}

// DefaultLimits follow common IdP practice (NIST SP 800-63B §5.2.2 asks
// for at most 100 consecutive failures; we stop far earlier per user).
var DefaultLimits = Limits{PerUser: 10, PerClient: 200, Window: 15 * time.Minute}

// Service performs sign-in steps.
type Service struct {
	store  storage.Storage
	hasher *authn.Hasher
	keys   *secrets.Keyring
	limits Limits
	now    func() time.Time
	random io.Reader
	log    *slog.Logger
	issuer string
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithRandom sets the randomness source (tests).
func WithRandom(r io.Reader) Option { return func(s *Service) { s.random = r } }

// WithLimits sets the throttling limits.
func WithLimits(l Limits) Option { return func(s *Service) { s.limits = l } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithHasher sets the password hasher (tests use cheaper parameters).
func WithHasher(h *authn.Hasher) Option { return func(s *Service) { s.hasher = h } }

// WithTOTPIssuer sets the issuer name authenticator apps show.
func WithTOTPIssuer(name string) Option { return func(s *Service) { s.issuer = name } }

// New returns a sign-in service over store; keys seal TOTP secrets.
func New(store storage.Storage, keys *secrets.Keyring, opts ...Option) *Service {
	s := &Service{store: store, keys: keys, limits: DefaultLimits, now: time.Now, random: rand.Reader,
		log: slog.New(slog.DiscardHandler), issuer: "Portico"}
	for _, o := range opts {
		o(s)
	}
	if s.hasher == nil {
		s.hasher = authn.NewHasher(authn.DefaultArgon2)
	}
	return s
}

// Hasher returns the password hasher (for benchmarks comparing rates).
func (s *Service) Hasher() *authn.Hasher { return s.hasher }

func (s *Service) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// throttle refuses an attempt over the limits. Attempts under the name
// typed are counted before checking (so concurrent guesses cannot exceed
// the limit) and cleared by a success; the client address's count is only
// read here and grows with failures alone (see failed), so that many people
// behind one address are not locked out by signing in.
func (s *Service) throttle(ctx context.Context, nameKey, client string) error {
	n, err := s.store.Hit(ctx, nameKey, s.limits.Window, s.stamp())
	if err != nil {
		return err
	}
	c, err := s.store.Hits(ctx, client, s.limits.Window, s.stamp())
	if err != nil {
		return err
	}
	if n > s.limits.PerUser || c >= s.limits.PerClient {
		return ErrThrottled
	}
	return nil
}

// failed counts a failed attempt against the client address.
func (s *Service) failed(ctx context.Context, client string) {
	if _, err := s.store.Hit(ctx, client, s.limits.Window, s.stamp()); err != nil {
		s.log.WarnContext(ctx, "count failed attempt", "err", err)
	}
}

func userKey(tenantID, kind, name string) string {
	return kind + ":" + tenantID + ":" + strings.ToLower(strings.TrimSpace(name))
}

// FindUser resolves what a person typed: a username, or a UPN (Microsoft
// 365 sends the UPN as the username hint, which for a plain username is
// not the username itself).
func (s *Service) FindUser(ctx context.Context, tenantID, name string) (directory.User, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	u, err := s.store.GetUserByUsername(ctx, tenantID, name)
	if errors.Is(err, storage.ErrNotFound) && strings.Contains(name, "@") {
		u, err = s.store.GetUserByUPN(ctx, tenantID, name)
	}
	return u, err
}

// CheckPassword verifies a username (or UPN) and password. It takes the
// same time whether or not the user exists, and counts the attempt against
// the name and the client address.
func (s *Service) CheckPassword(ctx context.Context, tenantID, name, password, client string) (directory.User, error) {
	clientKey := userKey(tenantID, "client", client)
	if err := s.throttle(ctx, userKey(tenantID, "pw", name), clientKey); err != nil {
		s.hasher.VerifyNothing(password)
		return directory.User{}, err
	}
	u, err := s.FindUser(ctx, tenantID, name)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return u, err
	}
	var cred authn.Credentials
	known := err == nil
	if known {
		cred, err = s.store.GetCredentials(ctx, tenantID, u.ID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return u, err
		}
	}
	if err != nil || cred.PasswordHash == "" {
		s.hasher.VerifyNothing(password)
		s.failed(ctx, clientKey)
		if !known {
			return directory.User{}, errUnknownUser
		}
		return directory.User{}, errNoPassword
	}
	ok, rehash, err := s.hasher.Verify(password, cred.PasswordHash)
	if err != nil {
		s.log.ErrorContext(ctx, "stored password hash unreadable", "user", u.ID, "err", err)
		return directory.User{}, ErrInvalidCredentials
	}
	if !ok {
		s.failed(ctx, clientKey)
		return directory.User{}, errWrongPassword
	}
	if err := s.store.ClearHits(ctx, userKey(tenantID, "pw", name)); err != nil {
		return u, err
	}
	if rehash {
		// The same password under stronger parameters: not a change anyone
		// made, so no role is needed and nothing is audited.
		h, err := s.hashPassword(password)
		if err == nil {
			err = s.storePasswordHash(ctx, tenantID, u.ID, h)
		}
		if err != nil {
			s.log.WarnContext(ctx, "rehash password", "user", u.ID, "err", err)
		}
	}
	if u.Status != directory.StatusActive {
		return u, ErrAccountDisabled
	}
	return u, nil
}

// SetPassword stores a new password for a user: an administrator's reset
// (it needs the credentials.manage permission), audited.
func (s *Service) SetPassword(ctx context.Context, tenantID, userID, password string) error {
	if _, err := authz.Require(ctx, tenantID, authz.ManageCredentials); err != nil {
		return err
	}
	h, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	return s.store.Atomically(ctx, func(ctx context.Context) error {
		if err := s.storePasswordHash(ctx, tenantID, userID, h); err != nil {
			return err
		}
		return s.recordCredentials(ctx, tenantID, userID, "user.password.set", audit.Set("password", nil, audit.Redacted))
	})
}

// hashPassword checks a new password and hashes it.
func (s *Service) hashPassword(password string) (string, error) {
	if len(password) < 8 {
		return "", directory.Invalid("password", "must be at least 8 characters")
	}
	h, err := s.hasher.Hash(password)
	if err != nil {
		return "", directory.Invalid("password", err.Error())
	}
	return h, nil
}

// storePasswordHash stores a password hash for a user.
func (s *Service) storePasswordHash(ctx context.Context, tenantID, userID, h string) error {
	_, err := s.store.UpdateCredentials(ctx, tenantID, userID, func(c authn.Credentials) (authn.Credentials, error) {
		c.PasswordHash, c.PasswordChangedAt, c.UpdatedAt = h, s.stamp(), s.stamp()
		return c, nil
	})
	if err != nil {
		return fmt.Errorf("set password of %s: %w", userID, err)
	}
	return nil
}

func totpBinding(tenantID, userID string) secrets.Binding {
	return secrets.Binding{Table: "credentials", Column: "totp_secret", RowID: tenantID + "/" + userID}
}

func flowBinding(flowID string) secrets.Binding {
	return secrets.Binding{Table: "login_flows", Column: "pending_totp", RowID: flowID}
}

// BeginEnrolment makes a new TOTP secret for a user, sealed to the login
// flow that will show it, until the user confirms it with a code.
func (s *Service) BeginEnrolment(ctx context.Context, flowID string, u directory.User) (authn.Enrolment, []byte, error) {
	e, err := authn.NewTOTP(s.issuer, u.UPN, s.random)
	if err != nil {
		return e, nil, err
	}
	sealed, err := s.keys.Seal([]byte(e.Secret), flowBinding(flowID))
	return e, sealed, err
}

// PendingEnrolment reopens the secret of an enrolment in progress, to show
// the same QR code again.
func (s *Service) PendingEnrolment(flowID string, u directory.User, sealed []byte) (authn.Enrolment, error) {
	secret, err := s.keys.Open(sealed, flowBinding(flowID))
	if err != nil {
		return authn.Enrolment{}, err
	}
	return authn.EnrolmentFor(s.issuer, u.UPN, string(secret))
}

// ConfirmEnrolment checks a first code against the pending secret and, if
// it is right, stores the secret and returns fresh recovery codes (shown
// once).
func (s *Service) ConfirmEnrolment(ctx context.Context, flowID string, u directory.User, sealed []byte, code, client string) ([]string, error) {
	clientKey := userKey(u.TenantID, "client", client)
	if err := s.throttle(ctx, userKey(u.TenantID, "totp", u.ID), clientKey); err != nil {
		return nil, err
	}
	secret, err := s.keys.Open(sealed, flowBinding(flowID))
	if err != nil {
		return nil, fmt.Errorf("open pending totp secret: %w", err)
	}
	step, ok := authn.CheckTOTP(string(secret), code, s.now(), 0)
	if !ok {
		s.failed(ctx, clientKey)
		return nil, ErrInvalidCode
	}
	codes, err := s.storeTOTP(ctx, u, string(secret), step)
	if err != nil {
		return nil, err
	}
	s.recordSelfEnrolment(ctx, u, client)
	return codes, s.store.ClearHits(ctx, userKey(u.TenantID, "totp", u.ID))
}

// EnrolTOTP stores a TOTP secret directly (administrator or demo seeding)
// and returns recovery codes.
func (s *Service) EnrolTOTP(ctx context.Context, u directory.User, secret string) ([]string, error) {
	if _, err := authz.Require(ctx, u.TenantID, authz.ManageCredentials); err != nil {
		return nil, err
	}
	var codes []string
	err := s.store.Atomically(ctx, func(ctx context.Context) error {
		var err error
		if codes, err = s.storeTOTP(ctx, u, secret, 0); err != nil {
			return err
		}
		return s.recordCredentials(ctx, u.TenantID, u.ID, "user.totp.enrol", audit.Set("totpSecret", nil, audit.Redacted))
	})
	return codes, err
}

func (s *Service) storeTOTP(ctx context.Context, u directory.User, secret string, step int64) ([]string, error) {
	sealed, err := s.keys.Seal([]byte(secret), totpBinding(u.TenantID, u.ID))
	if err != nil {
		return nil, err
	}
	codes, hashes, err := authn.NewRecoveryCodes(s.random, u.ID)
	if err != nil {
		return nil, err
	}
	_, err = s.store.UpdateCredentials(ctx, u.TenantID, u.ID, func(c authn.Credentials) (authn.Credentials, error) {
		c.TOTPSecret, c.TOTPEnrolledAt, c.TOTPLastStep, c.RecoveryHashes, c.UpdatedAt = sealed, s.stamp(), step, hashes, s.stamp()
		return c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("store totp of %s: %w", u.ID, err)
	}
	return codes, nil
}

// ResetTOTP removes a user's authenticator (administrator action, for a
// lost phone): the next sign-in that needs one enrols again.
func (s *Service) ResetTOTP(ctx context.Context, tenantID, userID string) error {
	if _, err := authz.Require(ctx, tenantID, authz.ManageCredentials); err != nil {
		return err
	}
	return s.store.Atomically(ctx, func(ctx context.Context) error {
		var had bool
		_, err := s.store.UpdateCredentials(ctx, tenantID, userID, func(c authn.Credentials) (authn.Credentials, error) {
			had = c.HasTOTP()
			c.TOTPSecret, c.TOTPEnrolledAt, c.TOTPLastStep, c.RecoveryHashes, c.UpdatedAt = nil, time.Time{}, 0, nil, s.stamp()
			return c, nil
		})
		if err != nil {
			return err
		}
		var before any
		if had {
			before = audit.Redacted
		}
		return s.recordCredentials(ctx, tenantID, userID, "user.totp.reset", audit.Set("totpSecret", before, nil))
	})
}

// HasTOTP reports whether a user has an authenticator.
func (s *Service) HasTOTP(ctx context.Context, tenantID, userID string) (bool, error) {
	c, err := s.store.GetCredentials(ctx, tenantID, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return c.HasTOTP(), err
}

// CheckSecondFactor verifies a TOTP code, or a recovery code, for a user.
// A TOTP code is accepted once: the step it belongs to is recorded with
// compare-and-swap, so a replay — even a concurrent one — fails.
func (s *Service) CheckSecondFactor(ctx context.Context, u directory.User, code, client string) error {
	clientKey := userKey(u.TenantID, "client", client)
	if err := s.throttle(ctx, userKey(u.TenantID, "totp", u.ID), clientKey); err != nil {
		return err
	}
	now := s.now()
	_, err := s.store.UpdateCredentials(ctx, u.TenantID, u.ID, func(c authn.Credentials) (authn.Credentials, error) {
		if !c.HasTOTP() {
			return c, ErrInvalidCode
		}
		secret, err := s.keys.Open(c.TOTPSecret, totpBinding(u.TenantID, u.ID))
		if err != nil {
			return c, fmt.Errorf("open totp secret: %w", err)
		}
		if step, ok := authn.CheckTOTP(string(secret), code, now, c.TOTPLastStep); ok {
			c.TOTPLastStep = step
		} else if rest, ok := authn.UseRecoveryCode(code, u.ID, c.RecoveryHashes); ok {
			c.RecoveryHashes = rest
		} else {
			return c, ErrInvalidCode
		}
		c.UpdatedAt = s.stamp()
		return c, nil
	})
	if errors.Is(err, storage.ErrConflict) {
		// Someone else used a code at the same moment: if it was this code,
		// this use is a replay; if not, the user may simply try again.
		err = ErrInvalidCode
	}
	if errors.Is(err, ErrInvalidCode) {
		s.failed(ctx, clientKey)
	}
	if err != nil {
		return err
	}
	return s.store.ClearHits(ctx, userKey(u.TenantID, "totp", u.ID))
}

// Authorize checks that an authenticated user may use an application.
func (s *Service) Authorize(ctx context.Context, u directory.User, app apps.Application) error {
	if !app.Enabled {
		return ErrAppDisabled
	}
	if u.Status != directory.StatusActive {
		return ErrAccountDisabled
	}
	ok, err := s.store.IsUserPermitted(ctx, u.TenantID, app.ID, u.ID)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotPermitted
	}
	return nil
}

// NewSession starts a browser session after a completed sign-in and
// returns the cookie token.
func (s *Service) NewSession(ctx context.Context, u directory.User, p authn.Policy, passwordAt, mfaAt time.Time) (string, authn.Session, error) {
	token, hash, err := authn.NewToken(s.random)
	if err != nil {
		return "", authn.Session{}, err
	}
	now := s.stamp()
	x := authn.Session{ID: uuid.Must(uuid.NewV7()).String(), TenantID: u.TenantID, UserID: u.ID, TokenHash: hash, CreatedAt: now,
		LastSeenAt: now, ExpiresAt: now.Add(p.SessionMax), IdleTimeout: p.SessionIdle, PasswordAt: passwordAt, MFAAt: mfaAt}
	if err := s.store.CreateSession(ctx, x); err != nil {
		return "", x, err
	}
	x.Version = 1
	return token, x, nil
}

// touchEvery limits session writes: last-seen is refreshed at most once a
// minute, not on every request.
const touchEvery = time.Minute

// Session returns the active session of a cookie token in a tenant, and
// refreshes its idle timer.
func (s *Service) Session(ctx context.Context, tenantID, token string) (authn.Session, error) {
	if token == "" {
		return authn.Session{}, ErrNoSession
	}
	x, err := s.store.GetSessionByToken(ctx, authn.HashToken(token))
	if errors.Is(err, storage.ErrNotFound) {
		return x, ErrNoSession
	}
	if err != nil {
		return x, err
	}
	now := s.stamp()
	if x.TenantID != tenantID || !x.Active(now) {
		return x, ErrNoSession
	}
	if now.Sub(x.LastSeenAt) >= touchEvery {
		if nx, err := s.store.UpdateSession(ctx, x.ID, func(o authn.Session) (authn.Session, error) {
			o.LastSeenAt = now
			return o, nil
		}); err == nil {
			x = nx
		}
	}
	return x, nil
}

// RecordFactors notes in a session that the password and/or a second
// factor were proven again now.
func (s *Service) RecordFactors(ctx context.Context, id string, passwordAt, mfaAt time.Time) (authn.Session, error) {
	return s.store.UpdateSession(ctx, id, func(o authn.Session) (authn.Session, error) {
		if !passwordAt.IsZero() {
			o.PasswordAt = passwordAt
		}
		if !mfaAt.IsZero() {
			o.MFAAt = mfaAt
		}
		o.LastSeenAt = s.stamp()
		return o, nil
	})
}

// EndSession revokes the session of a cookie token (sign-out).
func (s *Service) EndSession(ctx context.Context, token string) error {
	x, err := s.store.GetSessionByToken(ctx, authn.HashToken(token))
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = s.store.UpdateSession(ctx, x.ID, func(o authn.Session) (authn.Session, error) {
		o.RevokedAt = s.stamp()
		return o, nil
	})
	return err
}

// Policy returns an application's authentication policy.
func (s *Service) Policy(ctx context.Context, app apps.Application) (authn.Policy, error) {
	return s.store.GetPolicy(ctx, app.TenantID, app.PolicyID)
}
