package signin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/requestid"
)

// The three ways a password check fails. They are all
// ErrInvalidCredentials to callers (the person signing in is told the same
// thing, and the check takes the same time); only the audit log tells them
// apart, for administrators.
var (
	errUnknownUser   = fmt.Errorf("%w: unknown user", ErrInvalidCredentials)
	errNoPassword    = fmt.Errorf("%w: the user has no password yet", ErrInvalidCredentials)
	errWrongPassword = fmt.Errorf("%w: wrong password", ErrInvalidCredentials)
)

// Failure reasons in the audit log (for administrators only; never shown
// to the person signing in).
const (
	ReasonUnknownUser   = "unknown-user"
	ReasonNoPassword    = "no-password"
	ReasonWrongPassword = "wrong-password"
	ReasonWrongCode     = "wrong-code"
	ReasonLocked        = "locked"
	ReasonSuspended     = "suspended"
	ReasonPending       = "pending"
	ReasonNotPermitted  = "not-permitted"
	ReasonAppDisabled   = "application-disabled"
	ReasonMFARequired   = "second-factor-required"
	ReasonReplay        = "replay"
	ReasonError         = "error"
)

// FailureReason names why a sign-in step failed. u is the user when known
// (it tells suspended from pending).
func FailureReason(err error, u directory.User) string {
	switch {
	case errors.Is(err, errUnknownUser):
		return ReasonUnknownUser
	case errors.Is(err, errNoPassword):
		return ReasonNoPassword
	case errors.Is(err, ErrInvalidCredentials):
		return ReasonWrongPassword
	case errors.Is(err, ErrInvalidCode):
		return ReasonWrongCode
	case errors.Is(err, ErrThrottled):
		return ReasonLocked
	case errors.Is(err, ErrAccountDisabled):
		if u.Status == directory.StatusPending {
			return ReasonPending
		}
		return ReasonSuspended
	case errors.Is(err, ErrNotPermitted):
		return ReasonNotPermitted
	case errors.Is(err, ErrAppDisabled):
		return ReasonAppDisabled
	}
	return ReasonError
}

// Factors a sign-in proved, as the audit log names them.
const (
	FactorPassword = "password"
	FactorTOTP     = "totp"
	// FactorSession: single sign-on from an existing browser session.
	FactorSession = "session"
)

// Attempt is one sign-in attempt, for the audit log.
type Attempt struct {
	TenantID string
	App      apps.Application
	// Protocol is "wsfed", "saml" or "wstrust".
	Protocol string
	// Name is what the person typed (kept for unknown users).
	Name string
	// User is the user, when known.
	User directory.User
	// Factors are those proven (success only).
	Factors []string
	// Err is nil for a success; otherwise its reason is recorded. A
	// Reason given explicitly wins (refusals that are no signin error).
	Err    error
	Reason string
	// Address and UserAgent of the client.
	Address   string
	UserAgent string
}

// cheapRefusals are refused before any password is checked, so a client
// can repeat them at no cost: they are recorded once per client address
// and reason in each throttling window, so that a flood of them cannot
// fill the audit log.
var cheapRefusals = map[string]bool{ReasonLocked: true, ReasonMFARequired: true, ReasonReplay: true, ReasonAppDisabled: true}

// RecordSignin appends a sign-in attempt to the audit log. A failure to
// record is logged, not returned: the sign-in itself is already decided.
func (s *Service) RecordSignin(ctx context.Context, a Attempt) {
	name := strings.ToLower(strings.TrimSpace(a.Name))
	if name == "" {
		name = a.User.Username
	}
	if len(name) > 256 {
		name = name[:256]
	}
	e := audit.Event{ID: uuid.Must(uuid.NewV7()).String(), Time: s.stamp(), TenantID: a.TenantID,
		Actor:  audit.Actor{Kind: audit.ActorUser, ID: a.User.ID, Name: name},
		Action: "signin", Object: audit.Object{Type: "user", ID: a.User.ID, Name: name}, AppID: a.App.ID,
		Address: a.Address, UserAgent: truncate(a.UserAgent, 512), RequestID: requestid.From(ctx), Outcome: audit.Success}
	e.Details = map[string]any{"application": a.App.Name}
	if a.Protocol != "" {
		e.Details["protocol"] = a.Protocol
	}
	if a.Err != nil || a.Reason != "" {
		e.Outcome, e.Reason = audit.Failure, a.Reason
		if e.Reason == "" {
			e.Reason = FailureReason(a.Err, a.User)
		}
	} else {
		e.Details["factors"] = a.Factors
	}
	ctx = context.WithoutCancel(ctx)
	if cheapRefusals[e.Reason] {
		key := "audit:" + e.Reason + ":" + a.TenantID + ":" + a.Address
		if n, err := s.store.Hit(ctx, key, s.limits.Window, s.stamp()); err == nil && n > 1 {
			return
		}
	}
	if err := s.store.AppendAuditEvent(ctx, e); err != nil {
		s.log.ErrorContext(ctx, "record sign-in in the audit log", "outcome", e.Outcome, "reason", e.Reason, "err", err)
	}
}

// recordCredentials records an administrator's change of a user's
// credentials (password, authenticator, sessions), inside its transaction.
func (s *Service) recordCredentials(ctx context.Context, tenantID, userID, action string, changes map[string]audit.Change) error {
	u, err := s.store.GetUser(ctx, tenantID, userID)
	if err != nil {
		return err
	}
	e := audit.New(ctx, tenantID, action, audit.Object{Type: "user", ID: u.ID, Name: u.Username})
	e.ID, e.Time, e.Changes = uuid.Must(uuid.NewV7()).String(), s.stamp(), changes
	return s.store.AppendAuditEvent(ctx, e)
}

// recordSelfEnrolment records that a user set up an authenticator while
// signing in.
func (s *Service) recordSelfEnrolment(ctx context.Context, u directory.User, client string) {
	e := audit.Event{ID: uuid.Must(uuid.NewV7()).String(), Time: s.stamp(), TenantID: u.TenantID,
		Actor:  audit.Actor{Kind: audit.ActorUser, ID: u.ID, Name: u.Username},
		Action: "user.totp.enrol", Object: audit.Object{Type: "user", ID: u.ID, Name: u.Username},
		Changes: audit.Set("totpSecret", nil, audit.Redacted), Address: client, RequestID: requestid.From(ctx), Outcome: audit.Success}
	if err := s.store.AppendAuditEvent(context.WithoutCancel(ctx), e); err != nil {
		s.log.ErrorContext(ctx, "record enrolment in the audit log", "user", u.ID, "err", err)
	}
}

// RevokeSessions ends every browser session of a user (an administrator's
// action) and returns how many were active.
func (s *Service) RevokeSessions(ctx context.Context, tenantID, userID string) (int64, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ManageCredentials); err != nil {
		return 0, err
	}
	var n int64
	err := s.store.Atomically(ctx, func(ctx context.Context) error {
		if _, err := s.store.GetUser(ctx, tenantID, userID); err != nil {
			return err
		}
		var err error
		if n, err = s.store.RevokeUserSessions(ctx, tenantID, userID, s.stamp()); err != nil {
			return err
		}
		return s.recordCredentials(ctx, tenantID, userID, "user.sessions.revoke", audit.Set("activeSessions", n, int64(0)))
	})
	return n, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
