package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
)

type scanner = interface{ Scan(...any) error }

func seconds(d time.Duration) int64  { return int64(d / time.Second) }
func duration(n int64) time.Duration { return time.Duration(n) * time.Second }

// ---- policies ----

func scanPolicy(r scanner) (authn.Policy, error) {
	var p authn.Policy
	var factor string
	var idle, max int64
	err := r.Scan(&p.TenantID, &p.ID, &p.Name, &factor, &idle, &max, timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt}, &p.Version)
	p.SecondFactor, p.SessionIdle, p.SessionMax = authn.SecondFactor(factor), duration(idle), duration(max)
	return p, err
}

// CreatePolicy stores an authentication policy.
func (s *Store) CreatePolicy(ctx context.Context, p authn.Policy) (err error) {
	defer s.track("CreatePolicy", time.Now(), &err)
	_, err = s.exec(ctx, s.q["InsertPolicy"], p.TenantID, p.ID, p.Name, directory.NameKey(p.Name), string(p.SecondFactor),
		seconds(p.SessionIdle), seconds(p.SessionMax), s.t(p.CreatedAt), s.t(p.UpdatedAt), 1)
	if err != nil {
		return fmt.Errorf("create policy %q: %w", p.Name, s.classify(err))
	}
	return nil
}

// GetPolicy reads a policy.
func (s *Store) GetPolicy(ctx context.Context, tenantID, id string) (p authn.Policy, err error) {
	defer s.track("GetPolicy", time.Now(), &err)
	if p, err = scanPolicy(s.queryRow(ctx, s.q["GetPolicy"], tenantID, id)); err != nil {
		return p, fmt.Errorf("get policy %s: %w", id, s.classify(err))
	}
	return p, nil
}

// ListPolicies lists a tenant's policies by name.
func (s *Store) ListPolicies(ctx context.Context, tenantID string) (out []authn.Policy, err error) {
	defer s.track("ListPolicies", time.Now(), &err)
	rows, err := s.queryRows(ctx, s.q["ListPolicies"], tenantID)
	if err != nil {
		return nil, fmt.Errorf("list policies: %w", s.classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("list policies: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// UpdatePolicy changes a policy by compare-and-swap.
func (s *Store) UpdatePolicy(ctx context.Context, tenantID, id string, fn func(authn.Policy) (authn.Policy, error)) (np authn.Policy, err error) {
	defer s.track("UpdatePolicy", time.Now(), &err)
	old, err := s.GetPolicy(ctx, tenantID, id)
	if err != nil {
		return np, err
	}
	if np, err = fn(old); err != nil {
		return np, err
	}
	np.TenantID, np.ID, np.CreatedAt = old.TenantID, old.ID, old.CreatedAt
	res, err := s.exec(ctx, s.q["UpdatePolicy"], np.Name, directory.NameKey(np.Name), string(np.SecondFactor),
		seconds(np.SessionIdle), seconds(np.SessionMax), s.t(np.UpdatedAt), tenantID, id, old.Version)
	if err = s.resolveMiss(s.casResult(res, err), func() error { _, e := s.GetPolicy(ctx, tenantID, id); return e }); err != nil {
		return np, fmt.Errorf("update policy %s: %w", id, err)
	}
	np.Version = old.Version + 1
	return np, nil
}

// DeletePolicy removes a policy no application uses.
func (s *Store) DeletePolicy(ctx context.Context, tenantID, id string) (err error) {
	defer s.track("DeletePolicy", time.Now(), &err)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		used, err := s.exists(ctx, tx, "PolicyInUse", tenantID, id)
		if err != nil {
			return err
		}
		if used {
			return fmt.Errorf("delete policy %s: an application uses it: %w", id, storage.ErrInUse)
		}
		return s.execOne(ctx, tx, "delete policy "+id, "DeletePolicy", tenantID, id)
	})
}

// ---- credentials ----

func scanCredentials(r scanner) (authn.Credentials, error) {
	var c authn.Credentials
	var recovery string
	err := r.Scan(&c.TenantID, &c.UserID, &c.PasswordHash, timeCol{&c.PasswordChangedAt}, &c.TOTPSecret,
		timeCol{&c.TOTPEnrolledAt}, &c.TOTPLastStep, &recovery, timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt}, &c.Version)
	if err == nil && recovery != "" {
		err = json.Unmarshal([]byte(recovery), &c.RecoveryHashes)
	}
	return c, err
}

// GetCredentials reads a user's credentials.
func (s *Store) GetCredentials(ctx context.Context, tenantID, userID string) (c authn.Credentials, err error) {
	defer s.track("GetCredentials", time.Now(), &err)
	if c, err = scanCredentials(s.queryRow(ctx, s.q["GetCredentials"], tenantID, userID)); err != nil {
		return c, fmt.Errorf("get credentials of %s: %w", userID, s.classify(err))
	}
	return c, nil
}

// UpdateCredentials creates or compare-and-swaps a user's credentials.
func (s *Store) UpdateCredentials(ctx context.Context, tenantID, userID string, fn func(authn.Credentials) (authn.Credentials, error)) (nc authn.Credentials, err error) {
	defer s.track("UpdateCredentials", time.Now(), &err)
	old, err := s.GetCredentials(ctx, tenantID, userID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		old = authn.Credentials{TenantID: tenantID, UserID: userID}
	case err != nil:
		return nc, err
	}
	if nc, err = fn(old); err != nil {
		return nc, err
	}
	nc.TenantID, nc.UserID = tenantID, userID
	recovery, _ := json.Marshal(nc.RecoveryHashes)
	if nc.RecoveryHashes == nil {
		recovery = []byte("[]")
	}
	if old.Version == 0 {
		nc.CreatedAt = nc.UpdatedAt
		_, err = s.exec(ctx, s.q["InsertCredentials"], tenantID, userID, nc.PasswordHash, s.tz(nc.PasswordChangedAt),
			nc.TOTPSecret, s.tz(nc.TOTPEnrolledAt), nc.TOTPLastStep, string(recovery), s.t(nc.CreatedAt), s.t(nc.UpdatedAt))
		if err != nil {
			err = s.classify(err)
			switch {
			case errors.Is(err, storage.ErrAlreadyExists):
				err = storage.ErrConflict // created concurrently
			case errors.Is(err, storage.ErrInvalidReference):
				err = storage.ErrNotFound // no such user
			}
			return nc, fmt.Errorf("create credentials of %s: %w", userID, err)
		}
		nc.Version = 1
		return nc, nil
	}
	nc.CreatedAt = old.CreatedAt
	res, err := s.exec(ctx, s.q["UpdateCredentials"], nc.PasswordHash, s.tz(nc.PasswordChangedAt), nc.TOTPSecret,
		s.tz(nc.TOTPEnrolledAt), nc.TOTPLastStep, string(recovery), s.t(nc.UpdatedAt), tenantID, userID, old.Version)
	if err = s.resolveMiss(s.casResult(res, err), func() error { _, e := s.GetCredentials(ctx, tenantID, userID); return e }); err != nil {
		return nc, fmt.Errorf("update credentials of %s: %w", userID, err)
	}
	nc.Version = old.Version + 1
	return nc, nil
}

// ---- sessions ----

func scanSession(r scanner) (authn.Session, error) {
	var x authn.Session
	var idle int64
	err := r.Scan(&x.ID, &x.TenantID, &x.UserID, &x.TokenHash, timeCol{&x.CreatedAt}, timeCol{&x.LastSeenAt},
		timeCol{&x.ExpiresAt}, &idle, timeCol{&x.PasswordAt}, timeCol{&x.MFAAt}, timeCol{&x.RevokedAt}, &x.Version)
	x.IdleTimeout = duration(idle)
	return x, err
}

// CreateSession stores a new browser session.
func (s *Store) CreateSession(ctx context.Context, x authn.Session) (err error) {
	defer s.track("CreateSession", time.Now(), &err)
	_, err = s.exec(ctx, s.q["InsertSession"], x.ID, x.TenantID, x.UserID, x.TokenHash, s.t(x.CreatedAt),
		s.t(x.LastSeenAt), s.t(x.ExpiresAt), seconds(x.IdleTimeout), s.tz(x.PasswordAt), s.tz(x.MFAAt), s.tz(x.RevokedAt))
	if err != nil {
		return fmt.Errorf("create session: %w", s.classify(err))
	}
	return nil
}

// GetSessionByToken finds a session by the hash of its cookie token.
func (s *Store) GetSessionByToken(ctx context.Context, hash []byte) (x authn.Session, err error) {
	defer s.track("GetSessionByToken", time.Now(), &err)
	if x, err = scanSession(s.queryRow(ctx, s.q["GetSessionByToken"], hash)); err != nil {
		return x, fmt.Errorf("get session: %w", s.classify(err))
	}
	return x, nil
}

// UpdateSession changes a session by compare-and-swap.
func (s *Store) UpdateSession(ctx context.Context, id string, fn func(authn.Session) (authn.Session, error)) (nx authn.Session, err error) {
	defer s.track("UpdateSession", time.Now(), &err)
	old, err := scanSession(s.queryRow(ctx, s.q["GetSession"], id))
	if err != nil {
		return nx, fmt.Errorf("get session: %w", s.classify(err))
	}
	if nx, err = fn(old); err != nil {
		return nx, err
	}
	nx.ID, nx.TenantID, nx.UserID, nx.TokenHash, nx.CreatedAt = old.ID, old.TenantID, old.UserID, old.TokenHash, old.CreatedAt
	res, err := s.exec(ctx, s.q["UpdateSession"], s.t(nx.LastSeenAt), s.t(nx.ExpiresAt), seconds(nx.IdleTimeout),
		s.tz(nx.PasswordAt), s.tz(nx.MFAAt), s.tz(nx.RevokedAt), id, old.Version)
	if err = s.resolveMiss(s.casResult(res, err), func() error { return nil }); err != nil {
		return nx, fmt.Errorf("update session: %w", err)
	}
	nx.Version = old.Version + 1
	return nx, nil
}

// RevokeUserSessions ends all of a user's sessions.
func (s *Store) RevokeUserSessions(ctx context.Context, tenantID, userID string, at time.Time) (n int64, err error) {
	defer s.track("RevokeUserSessions", time.Now(), &err)
	res, err := s.exec(ctx, s.q["RevokeUserSessions"], s.t(at), tenantID, userID)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions of %s: %w", userID, s.classify(err))
	}
	return res.RowsAffected()
}

// ---- login flows ----

func scanFlow(r scanner) (authn.LoginFlow, error) {
	var f authn.LoginFlow
	err := r.Scan(&f.ID, &f.TenantID, &f.AppID, &f.Protocol, &f.Request, &f.UsernameHint, &f.ForceFresh, &f.RequireMFA,
		&f.BindingHash, &f.CSRF, &f.Step, &f.Username, &f.UserID, timeCol{&f.PasswordAt}, timeCol{&f.MFAAt}, &f.PendingTOTP,
		timeCol{&f.CreatedAt}, timeCol{&f.ExpiresAt}, &f.Version)
	return f, err
}

// CreateLoginFlow stores a sign-in in progress.
func (s *Store) CreateLoginFlow(ctx context.Context, f authn.LoginFlow) (err error) {
	defer s.track("CreateLoginFlow", time.Now(), &err)
	if f.Request == nil {
		f.Request = []byte{}
	}
	_, err = s.exec(ctx, s.q["InsertLoginFlow"], f.ID, f.TenantID, f.AppID, f.Protocol, f.Request, f.UsernameHint,
		f.ForceFresh, f.RequireMFA, f.BindingHash, f.CSRF, f.Step, f.Username, f.UserID, s.tz(f.PasswordAt), s.tz(f.MFAAt),
		f.PendingTOTP, s.t(f.CreatedAt), s.t(f.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create login flow: %w", s.classify(err))
	}
	return nil
}

// GetLoginFlow reads a sign-in in progress.
func (s *Store) GetLoginFlow(ctx context.Context, id string) (f authn.LoginFlow, err error) {
	defer s.track("GetLoginFlow", time.Now(), &err)
	if f, err = scanFlow(s.queryRow(ctx, s.q["GetLoginFlow"], id)); err != nil {
		return f, fmt.Errorf("get login flow: %w", s.classify(err))
	}
	return f, nil
}

// UpdateLoginFlow advances a sign-in by compare-and-swap (a step submitted
// twice at once advances it once).
func (s *Store) UpdateLoginFlow(ctx context.Context, id string, fn func(authn.LoginFlow) (authn.LoginFlow, error)) (nf authn.LoginFlow, err error) {
	defer s.track("UpdateLoginFlow", time.Now(), &err)
	old, err := s.GetLoginFlow(ctx, id)
	if err != nil {
		return nf, err
	}
	if nf, err = fn(old); err != nil {
		return nf, err
	}
	res, err := s.exec(ctx, s.q["UpdateLoginFlow"], nf.Step, nf.Username, nf.UserID, s.tz(nf.PasswordAt),
		s.tz(nf.MFAAt), nf.PendingTOTP, nf.CSRF, id, old.Version)
	if err = s.resolveMiss(s.casResult(res, err), func() error { _, e := s.GetLoginFlow(ctx, id); return e }); err != nil {
		return nf, fmt.Errorf("update login flow: %w", err)
	}
	nf.Version = old.Version + 1
	return nf, nil
}

// DeleteLoginFlow removes a finished or abandoned sign-in.
func (s *Store) DeleteLoginFlow(ctx context.Context, id string) (err error) {
	defer s.track("DeleteLoginFlow", time.Now(), &err)
	return s.deleteOne(ctx, "delete login flow", "DeleteLoginFlow", id)
}

// ---- throttling and replay ----

// Hit counts an event in a fixed window, atomically (one upsert).
func (s *Store) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (n int64, err error) {
	defer s.track("Hit", time.Now(), &err)
	if err = s.queryRow(ctx, s.q["Hit"], key, s.t(now), s.t(now.Add(-window))).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", key, s.classify(err))
	}
	return n, nil
}

// Hits reads a counter without counting.
func (s *Store) Hits(ctx context.Context, key string, window time.Duration, now time.Time) (n int64, err error) {
	defer s.track("Hits", time.Now(), &err)
	err = s.queryRow(ctx, s.q["Hits"], key, s.t(now.Add(-window))).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read count %s: %w", key, s.classify(err))
	}
	return n, nil
}

// ClearHits resets a counter (after a successful sign-in).
func (s *Store) ClearHits(ctx context.Context, key string) (err error) {
	defer s.track("ClearHits", time.Now(), &err)
	if _, err = s.exec(ctx, s.q["ClearHits"], key); err != nil {
		return fmt.Errorf("clear %s: %w", key, s.classify(err))
	}
	return nil
}

// UseNonce records a one-time value; a replay is ErrAlreadyExists.
func (s *Store) UseNonce(ctx context.Context, key string, expires time.Time) (err error) {
	defer s.track("UseNonce", time.Now(), &err)
	if _, err = s.exec(ctx, s.q["InsertNonce"], key, s.t(expires)); err != nil {
		return fmt.Errorf("use nonce: %w", s.classify(err))
	}
	return nil
}

// DeleteExpired is the housekeeping of sign-in state.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (err error) {
	defer s.track("DeleteExpired", time.Now(), &err)
	for _, q := range []struct {
		name string
		at   time.Time
	}{
		{"DeleteExpiredSessions", now},
		{"DeleteExpiredLoginFlows", now},
		{"DeleteExpiredNonces", now},
		// Counters are kept a day: no window is longer.
		{"DeleteStaleThrottle", now.Add(-24 * time.Hour)},
		{"DeleteExpiredFamiliarAddresses", now},
	} {
		if _, err := s.exec(ctx, s.q[q.name], s.t(q.at)); err != nil {
			return fmt.Errorf("delete expired (%s): %w", q.name, s.classify(err))
		}
	}
	return nil
}

// HasSealedSecrets reports whether any sealed secret is stored.
func (s *Store) HasSealedSecrets(ctx context.Context) (ok bool, err error) {
	defer s.track("HasSealedSecrets", time.Now(), &err)
	return s.exists(ctx, s.conn(ctx), "HasSealedSecrets")
}
