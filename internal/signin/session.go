package signin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
)

// Browser single sign-on sessions.
//
// Every way a browser session is used goes through Session (or
// SessionUser): the login pages' Start and Finish, hence WS-Federation,
// SAML and their continue endpoints, and anything added later. It is the
// one place that decides whether a session may still sign someone in, and
// it hands out nothing — not even the ended session's record — when the
// answer is no. Every sign-in that completes goes through Establish, which
// always issues a new token (session ids rotate).

// touchEvery limits session writes: last-seen is refreshed at most once a
// minute, not on every request. Because last-seen may lag real use by up to
// a minute, a session idles out up to a minute early, never late.
const touchEvery = time.Minute

// endAttempts bounds the compare-and-swap retries of ending a session
// (another request may touch it at the same moment).
const endAttempts = 5

// Session returns the active session of a cookie token in a tenant and
// refreshes its idle timer. It is ErrNoSession, with a zero Session, when
// the token is unknown or belongs to another tenant, and when the session
// was revoked (sign-out, administrator, password or authenticator reset),
// has been idle for its idle timeout, is past its absolute end (even while
// its row awaits housekeeping), or belongs to a user who is no longer
// active.
func (s *Service) Session(ctx context.Context, tenantID, token string) (authn.Session, error) {
	x, _, err := s.SessionUser(ctx, tenantID, token)
	return x, err
}

// SessionUser is Session that also returns the session's user, whom it
// reads anyway to check that the user is still active.
func (s *Service) SessionUser(ctx context.Context, tenantID, token string) (authn.Session, directory.User, error) {
	x, err := s.activeSession(ctx, tenantID, token)
	if err != nil {
		return authn.Session{}, directory.User{}, err
	}
	u, err := s.store.GetUser(ctx, tenantID, x.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		// Deleting a user deletes the sessions too; this is the race.
		return authn.Session{}, directory.User{}, ErrNoSession
	}
	if err != nil {
		return authn.Session{}, directory.User{}, fmt.Errorf("user of session %s: %w", x.ID, err)
	}
	if u.Status != directory.StatusActive {
		// Suspending a user revokes the sessions (admin.UpdateUser); one
		// that slipped through is ended now, so that reactivating the user
		// does not revive it.
		if err := s.end(ctx, x.ID); err != nil && !errors.Is(err, ErrNoSession) {
			s.log.WarnContext(ctx, "end session of inactive user", "session", x.ID, "err", err)
		}
		return authn.Session{}, directory.User{}, ErrNoSession
	}
	return x, u, nil
}

// activeSession reads and checks a session and refreshes its idle timer.
func (s *Service) activeSession(ctx context.Context, tenantID, token string) (authn.Session, error) {
	if token == "" || len(token) > 256 {
		return authn.Session{}, ErrNoSession
	}
	x, err := s.store.GetSessionByToken(ctx, authn.HashToken(token))
	if errors.Is(err, storage.ErrNotFound) {
		return authn.Session{}, ErrNoSession
	}
	if err != nil {
		return authn.Session{}, fmt.Errorf("read session: %w", err)
	}
	now := s.stamp()
	if x.TenantID != tenantID || !x.Active(now) {
		return authn.Session{}, ErrNoSession
	}
	if now.Sub(x.LastSeenAt) < touchEvery {
		return x, nil
	}
	nx, err := s.store.UpdateSession(ctx, x.ID, func(o authn.Session) (authn.Session, error) {
		// Checked again on the row being written: it may have been
		// revoked since it was read, and a touch must never revive it.
		if !o.Active(now) {
			return o, ErrNoSession
		}
		o.LastSeenAt = now
		return o, nil
	})
	switch {
	case err == nil:
		return nx, nil
	case errors.Is(err, ErrNoSession), errors.Is(err, storage.ErrNotFound):
		return authn.Session{}, ErrNoSession
	case errors.Is(err, storage.ErrConflict):
		// Someone changed it meanwhile: another request touched it (fine)
		// or revoked it (not fine). Look again.
		cur, gerr := s.store.GetSessionByToken(ctx, authn.HashToken(token))
		if gerr != nil || !cur.Active(now) {
			return authn.Session{}, ErrNoSession
		}
		return cur, nil
	default:
		// The session is valid; only its idle timer was not refreshed.
		s.log.WarnContext(ctx, "refresh session", "session", x.ID, "err", err)
		return x, nil
	}
}

// Establish records a completed sign-in of u — passwordAt and mfaAt are
// when this sign-in proved the password and the second factor, zero for
// what it did not prove — in a new session, and returns the new session's
// cookie token.
//
// The token always changes (session fixation, OWASP ASVS 3.2.1): the
// browser's previous session, prevToken, is revoked before the new one is
// created, whoever it belonged to. A token someone planted in the browser,
// or read from it, before the sign-in is worthless after it.
//
// When prevToken is an active session of the same user, the new session
// inherits the factors it proved. A step-up that proved only a second
// factor (passwordAt zero) relies on that session for the password: if it
// has ended meanwhile, Establish is ErrNoSession and the person must sign
// in afresh. A step-up does not extend the absolute end either; a new
// password does. A password proven before the user's password was last
// changed is ErrNoSession too.
func (s *Service) Establish(ctx context.Context, u directory.User, p authn.Policy, prevToken string, passwordAt, mfaAt time.Time) (string, authn.Session, error) {
	var prev authn.Session
	if prevToken != "" {
		px, err := s.activeSession(ctx, u.TenantID, prevToken)
		switch {
		case err == nil:
			if err := s.end(ctx, px.ID); err == nil && px.UserID == u.ID {
				prev = px
			} else if err != nil && !errors.Is(err, ErrNoSession) {
				return "", authn.Session{}, err
			}
		case !errors.Is(err, ErrNoSession):
			return "", authn.Session{}, err
		}
	}
	if passwordAt.IsZero() && prev.ID == "" {
		return "", authn.Session{}, ErrNoSession
	}
	if !passwordAt.IsZero() {
		c, err := s.store.GetCredentials(ctx, u.TenantID, u.ID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return "", authn.Session{}, fmt.Errorf("credentials of %s: %w", u.ID, err)
		}
		if passwordAt.Before(c.PasswordChangedAt) {
			return "", authn.Session{}, ErrNoSession
		}
	}
	now := s.stamp()
	x := authn.Session{ID: uuid.Must(uuid.NewV7()).String(), TenantID: u.TenantID, UserID: u.ID, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(p.SessionMax), IdleTimeout: p.SessionIdle, PasswordAt: latest(prev.PasswordAt, passwordAt),
		MFAAt: latest(prev.MFAAt, mfaAt)}
	if passwordAt.IsZero() && prev.ExpiresAt.Before(x.ExpiresAt) {
		x.ExpiresAt = prev.ExpiresAt
	}
	token, hash, err := authn.NewToken(s.random)
	if err != nil {
		return "", authn.Session{}, err
	}
	x.TokenHash = hash
	if err := s.store.CreateSession(ctx, x); err != nil {
		return "", authn.Session{}, fmt.Errorf("create session: %w", err)
	}
	x.Version = 1
	return token, x, nil
}

// NewSession starts a session for a sign-in that proved the password at
// passwordAt (and a second factor at mfaAt, if not zero) in a browser that
// had no session: Establish without a previous token.
func (s *Service) NewSession(ctx context.Context, u directory.User, p authn.Policy, passwordAt, mfaAt time.Time) (string, authn.Session, error) {
	return s.Establish(ctx, u, p, "", passwordAt, mfaAt)
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// end revokes one session; ErrNoSession when it had already ended or is
// gone.
func (s *Service) end(ctx context.Context, id string) error {
	var err error
	for range endAttempts {
		_, err = s.store.UpdateSession(ctx, id, func(o authn.Session) (authn.Session, error) {
			if !o.RevokedAt.IsZero() {
				return o, ErrNoSession
			}
			o.RevokedAt = s.stamp()
			return o, nil
		})
		if errors.Is(err, storage.ErrNotFound) {
			return ErrNoSession
		}
		if !errors.Is(err, storage.ErrConflict) {
			break
		}
	}
	if err != nil && !errors.Is(err, ErrNoSession) {
		return fmt.Errorf("end session %s: %w", id, err)
	}
	return err
}

// EndSession revokes the session of a cookie token (sign-out). A token
// that names no session, or an ended one, is not an error.
func (s *Service) EndSession(ctx context.Context, token string) error {
	x, err := s.store.GetSessionByToken(ctx, authn.HashToken(token))
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read session: %w", err)
	}
	if err := s.end(ctx, x.ID); err != nil && !errors.Is(err, ErrNoSession) {
		return err
	}
	return nil
}

// endSessions ends every session of a user (password and authenticator
// resets) and returns how many were still open. It checks no role: its
// callers have; an administrator's "sign out everywhere" is RevokeSessions.
func (s *Service) endSessions(ctx context.Context, tenantID, userID string) (int64, error) {
	n, err := s.store.RevokeUserSessions(ctx, tenantID, userID, s.stamp())
	if err != nil {
		return 0, err
	}
	s.log.InfoContext(ctx, "sessions revoked", "tenant", tenantID, "user", userID, "count", n)
	return n, nil
}
