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
	// ErrNoSession: no valid session for the token; or a sign-in relied on
	// a session, or a password, that is no longer valid. Either way the
	// person must sign in afresh.
	ErrNoSession = errors.New("no valid session")
)

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
	s.limits = s.limits.withDefaults()
	return s
}

// Hasher returns the password hasher (for benchmarks comparing rates).
func (s *Service) Hasher() *authn.Hasher { return s.hasher }

func (s *Service) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

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
// the user (smart lockout, see lockout.go) and the client address.
func (s *Service) CheckPassword(ctx context.Context, tenantID, name, password, client string) (directory.User, error) {
	u, err := s.FindUser(ctx, tenantID, name)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return directory.User{}, err
	}
	found := err == nil
	subject, userID, err := s.passwordSubject(ctx, tenantID, name, u, found)
	if err != nil {
		return directory.User{}, err
	}
	a, err := s.begin(ctx, tenantID, subject, userID, stepPassword, client)
	if err != nil {
		if errors.Is(err, ErrThrottled) {
			s.hasher.VerifyNothing(password)
		}
		return directory.User{}, err
	}
	var cred authn.Credentials
	if found {
		cred, err = s.store.GetCredentials(ctx, tenantID, u.ID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return u, err
		}
	}
	if !found || err != nil || cred.PasswordHash == "" {
		s.hasher.VerifyNothing(password)
		s.failed(ctx, a)
		if !found {
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
		s.failed(ctx, a)
		return directory.User{}, errWrongPassword
	}
	// For a user without an authenticator the password is the whole
	// sign-in, and the address becomes familiar; otherwise the code does
	// that (CheckSecondFactor).
	if err := s.succeeded(ctx, a, u.Status == directory.StatusActive && !cred.HasTOTP()); err != nil {
		return u, err
	}
	if rehash {
		// The same password under stronger parameters: not a change anyone
		// made, so no role is needed, nothing is audited, no session ends and
		// the change time stays.
		h, err := s.hasher.Hash(password)
		if err == nil {
			err = s.storeHash(ctx, tenantID, u.ID, h, false)
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

// SetPassword stores a new password for a user (an administrator's set or
// reset, from the API or the CLI; it needs the credentials.manage
// permission and is audited) and ends all of the user's browser sessions:
// whoever knew the old password, or holds a browser signed in with it,
// must sign in again with the new one. A password proven in a login flow
// before the change no longer starts a session either (see Establish).
func (s *Service) SetPassword(ctx context.Context, tenantID, userID, password string) error {
	if _, err := authz.Require(ctx, tenantID, authz.ManageCredentials); err != nil {
		return err
	}
	h, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	return s.store.Atomically(ctx, func(ctx context.Context) error {
		if err := s.storeHash(ctx, tenantID, userID, h, true); err != nil {
			return err
		}
		if err := s.endEarnedTrust(ctx, tenantID, userID); err != nil {
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

// endEarnedTrust ends what sign-ins with a user's old credentials earned:
// the sessions, and the familiar addresses of smart lockout (a place where
// a thief signed in must not keep the larger budget after a reset). Called
// inside the transaction of the reset, so the two happen together.
func (s *Service) endEarnedTrust(ctx context.Context, tenantID, userID string) error {
	if _, err := s.endSessions(ctx, tenantID, userID); err != nil {
		return fmt.Errorf("end the sessions of %s: %w", userID, err)
	}
	if err := s.store.ForgetAddresses(ctx, tenantID, userID); err != nil {
		return fmt.Errorf("forget the familiar addresses of %s: %w", userID, err)
	}
	return nil
}

// storeHash stores a password hash; changed records it as a new password
// (a rehash of the same password is not).
func (s *Service) storeHash(ctx context.Context, tenantID, userID, hash string, changed bool) error {
	_, err := s.store.UpdateCredentials(ctx, tenantID, userID, func(c authn.Credentials) (authn.Credentials, error) {
		c.PasswordHash, c.UpdatedAt = hash, s.stamp()
		if changed || c.PasswordChangedAt.IsZero() {
			c.PasswordChangedAt = s.stamp()
		}
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

// recoveryBinding binds the keyed hashes of a user's recovery codes to the
// user (secrets.Keyring.MAC).
func recoveryBinding(tenantID, userID string) secrets.Binding {
	return secrets.Binding{Table: "credentials", Column: "recovery_hashes", RowID: tenantID + "/" + userID}
}

// recoveryMAC is the keyed hash of a user's recovery codes: HMAC-SHA256
// under a key derived from the master key, bound to tenant and user.
func (s *Service) recoveryMAC(tenantID, userID string) authn.RecoveryMAC {
	return func(keyID string, msg []byte) (string, []byte, error) {
		return s.keys.MAC(keyID, "recovery-codes", recoveryBinding(tenantID, userID), msg)
	}
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
	a, err := s.begin(ctx, u.TenantID, "user:"+u.ID, u.ID, stepCode, client)
	if err != nil {
		return nil, err
	}
	secret, err := s.keys.Open(sealed, flowBinding(flowID))
	if err != nil {
		return nil, fmt.Errorf("open pending totp secret: %w", err)
	}
	step, ok := authn.CheckTOTP(string(secret), code, s.now(), 0)
	if !ok {
		s.failed(ctx, a)
		return nil, ErrInvalidCode
	}
	codes, err := s.storeTOTP(ctx, u, string(secret), step)
	if err != nil {
		return nil, err
	}
	s.recordSelfEnrolment(ctx, u, client)
	return codes, s.succeeded(ctx, a, true)
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
	codes, hashes, err := authn.NewRecoveryCodes(s.random, s.recoveryMAC(u.TenantID, u.ID))
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
// lost phone): the next sign-in that needs one enrols again. It also ends
// all of the user's browser sessions: their second factor was proven with
// the authenticator now written off, and a lost phone often goes with a
// lost laptop whose browser is still signed in.
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
		if err := s.endEarnedTrust(ctx, tenantID, userID); err != nil {
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
	a, err := s.begin(ctx, u.TenantID, "user:"+u.ID, u.ID, stepCode, client)
	if err != nil {
		return err
	}
	now := s.now()
	_, err = s.store.UpdateCredentials(ctx, u.TenantID, u.ID, func(c authn.Credentials) (authn.Credentials, error) {
		if !c.HasTOTP() {
			return c, ErrInvalidCode
		}
		secret, err := s.keys.Open(c.TOTPSecret, totpBinding(u.TenantID, u.ID))
		if err != nil {
			return c, fmt.Errorf("open totp secret: %w", err)
		}
		mac := s.recoveryMAC(u.TenantID, u.ID)
		if step, ok := authn.CheckTOTP(string(secret), code, now, c.TOTPLastStep); ok {
			c.TOTPLastStep = step
		} else if rest, ok, err := authn.UseRecoveryCode(code, c.RecoveryHashes, mac, u.ID); err != nil {
			return c, err
		} else if ok {
			c.RecoveryHashes = rest
		} else {
			return c, ErrInvalidCode
		}
		// Codes issued before keyed hashes keep working once, but their
		// plain SHA-256 hashes are replaced by keyed ones in the same write,
		// so that a later database copy does not yield them.
		if authn.HasLegacyRecoveryHashes(c.RecoveryHashes) {
			if c.RecoveryHashes, err = authn.ProtectLegacyRecoveryHashes(c.RecoveryHashes, mac); err != nil {
				return c, err
			}
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
		s.failed(ctx, a)
	}
	if err != nil {
		return err
	}
	return s.succeeded(ctx, a, true)
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

// Policy returns an application's authentication policy.
func (s *Service) Policy(ctx context.Context, app apps.Application) (authn.Policy, error) {
	return s.store.GetPolicy(ctx, app.TenantID, app.PolicyID)
}
