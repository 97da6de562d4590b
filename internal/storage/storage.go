// Package storage defines how Portico persists its state: one Storage
// interface that every backend (sqlite, postgres) implements and that the
// conformance suite checks, with sentinel errors callers test with
// errors.Is.
//
// Updates follow the compare-and-swap pattern of Dex: the caller passes a
// function from the current value to the new one; the backend reads the
// row, calls the function, and writes the result only if the row has not
// changed since it was read. A concurrent writer gets ErrConflict instead
// of silently overwriting (lost update), which is also what makes If-Match
// on the API and TOTP replay protection work.
package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portico-idp/portico/internal/apitoken"
	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/directory"
)

// Sentinel errors. Backends wrap them with context; test with errors.Is.
var (
	// ErrNotFound: no such object in this tenant.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a unique value is taken. The error is a
	// *DuplicateError naming the field.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: the object changed between read and write.
	ErrConflict = errors.New("the object was changed by someone else")
	// ErrInUse: the object is still referenced (for example an
	// organization that has users) and cannot be deleted.
	ErrInUse = errors.New("still in use")
	// ErrInvalidReference: a referenced object (organization, group, user)
	// does not exist in the tenant. The error is a *ReferenceError.
	ErrInvalidReference = errors.New("referenced object does not exist")
	// ErrInvalidCursor: a paging cursor that this backend did not issue.
	ErrInvalidCursor = errors.New("invalid cursor")
)

// DuplicateError reports which unique field collided.
type DuplicateError struct {
	// Field is the API name of the field, e.g. "username".
	Field string
}

func (e *DuplicateError) Error() string { return fmt.Sprintf("%s already exists", e.Field) }

// Is makes errors.Is(err, ErrAlreadyExists) true.
func (e *DuplicateError) Is(target error) bool { return target == ErrAlreadyExists }

// ReferenceError reports which reference points nowhere.
type ReferenceError struct {
	// Field is the API name of the referring field, e.g. "organizationId".
	Field string
}

func (e *ReferenceError) Error() string { return fmt.Sprintf("%s refers to nothing", e.Field) }

// Is makes errors.Is(err, ErrInvalidReference) true.
func (e *ReferenceError) Is(target error) bool { return target == ErrInvalidReference }

// Page asks for one page of a list. Cursor is empty for the first page and
// otherwise the value a previous call returned; Limit is clamped to
// [1, MaxLimit] with DefaultLimit for zero.
type Page struct {
	Limit  int
	Cursor string
}

// Paging bounds.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Clamp returns the effective limit.
func (p Page) Clamp() int {
	switch {
	case p.Limit <= 0:
		return DefaultLimit
	case p.Limit > MaxLimit:
		return MaxLimit
	}
	return p.Limit
}

// UserFilter narrows ListUsers. Empty fields do not filter. Prefixes are
// matched case-insensitively (usernames and e-mails are stored lower-case).
type UserFilter struct {
	UsernamePrefix string
	EmailPrefix    string
	Status         directory.UserStatus
	GroupID        string
	OrganizationID string
}

// GroupFilter narrows ListGroups.
type GroupFilter struct {
	NamePrefix  string
	EmailPrefix string
	Type        directory.GroupType
	// MemberID lists the groups this user belongs to.
	MemberID string
}

// OrganizationFilter narrows ListOrganizations.
type OrganizationFilter struct {
	NamePrefix string
}

// NewUser is one item of a bulk create: the user and the groups it joins in
// the same all-or-nothing step.
type NewUser struct {
	User     directory.User
	GroupIDs []string
}

// Storage is Portico's persistence. Every method that takes a tenantID only
// ever sees that tenant's rows: an ID of another tenant is ErrNotFound.
type Storage interface {
	// Ping checks that the database answers (readiness).
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error

	CreateTenant(ctx context.Context, t directory.Tenant) error
	GetTenant(ctx context.Context, id string) (directory.Tenant, error)
	GetTenantBySlug(ctx context.Context, slug string) (directory.Tenant, error)
	ListTenants(ctx context.Context, p Page) ([]directory.Tenant, string, error)
	UpdateTenant(ctx context.Context, id string, fn func(directory.Tenant) (directory.Tenant, error)) (directory.Tenant, error)
	// DeleteTenant removes the tenant and everything in it.
	DeleteTenant(ctx context.Context, id string) error

	CreateOrganization(ctx context.Context, o directory.Organization) error
	GetOrganization(ctx context.Context, tenantID, id string) (directory.Organization, error)
	ListOrganizations(ctx context.Context, tenantID string, f OrganizationFilter, p Page) ([]directory.Organization, string, error)
	// UpdateOrganization also recomputes, in the same transaction, the UPN
	// of the organization's users whose username has no "@"; a UPN
	// collision fails the whole update with a DuplicateError naming
	// "principalNameSuffix".
	UpdateOrganization(ctx context.Context, tenantID, id string, fn func(directory.Organization) (directory.Organization, error)) (directory.Organization, error)
	// DeleteOrganization fails with ErrInUse while users belong to it.
	DeleteOrganization(ctx context.Context, tenantID, id string) error

	// CreateUser stores a user and records its immutable id as issued, so
	// that it is never issued again even after the user is deleted.
	CreateUser(ctx context.Context, u directory.User) error
	// CreateUsers stores many users in one transaction; each item is all or
	// nothing (user and memberships). The result has one error (or nil) per
	// item, in order.
	CreateUsers(ctx context.Context, users []NewUser) []error
	GetUser(ctx context.Context, tenantID, id string) (directory.User, error)
	GetUserByUsername(ctx context.Context, tenantID, username string) (directory.User, error)
	GetUserByUPN(ctx context.Context, tenantID, upn string) (directory.User, error)
	ListUsers(ctx context.Context, tenantID string, f UserFilter, p Page) ([]directory.User, string, error)
	UpdateUser(ctx context.Context, tenantID, id string, fn func(directory.User) (directory.User, error)) (directory.User, error)
	DeleteUser(ctx context.Context, tenantID, id string) error

	CreateGroup(ctx context.Context, g directory.Group) error
	GetGroup(ctx context.Context, tenantID, id string) (directory.Group, error)
	ListGroups(ctx context.Context, tenantID string, f GroupFilter, p Page) ([]directory.Group, string, error)
	UpdateGroup(ctx context.Context, tenantID, id string, fn func(directory.Group) (directory.Group, error)) (directory.Group, error)
	DeleteGroup(ctx context.Context, tenantID, id string) error

	// AddGroupMember fails with ErrAlreadyExists if the user is a member,
	// and with a ReferenceError if the group or user is not in the tenant.
	AddGroupMember(ctx context.Context, tenantID, groupID, userID string) error
	RemoveGroupMember(ctx context.Context, tenantID, groupID, userID string) error
	IsGroupMember(ctx context.Context, tenantID, groupID, userID string) (bool, error)

	CreateAPIToken(ctx context.Context, t apitoken.Token) error
	// GetAPIToken reads a token by id, whatever its tenant.
	GetAPIToken(ctx context.Context, id string) (apitoken.Token, error)
	GetAPITokenByHash(ctx context.Context, hash []byte) (apitoken.Token, error)
	ListAPITokens(ctx context.Context, tenantID string) ([]apitoken.Token, error)
	DeleteAPIToken(ctx context.Context, id string) error

	// Atomically runs fn in one transaction: every storage call fn makes
	// with the context it is given takes part in it, and it commits when
	// fn returns nil (a nested call joins the outer transaction). The
	// services use it to write a change and its audit event together. On
	// PostgreSQL a failed statement spoils the whole transaction, so fn
	// must return on the first storage error; it must not wait on the
	// network either (with SQLite it holds the database's write lock).
	Atomically(ctx context.Context, fn func(ctx context.Context) error) error

	SigninStorage
	ApplicationStorage
	AuditStorage
	SyncStorage
}

// AuditStorage keeps the audit log. There is deliberately no way to
// change an event, and the database refuses to delete one younger than
// the retention period.
type AuditStorage interface {
	audit.Recorder
	// ListAuditEvents pages through the events matching f, newest first
	// (oldest first with f.Oldest).
	ListAuditEvents(ctx context.Context, f audit.Filter, p Page) ([]audit.Event, string, error)
	// PurgeAuditEvents stores the retention (whole days, at least one) that
	// the database enforces and deletes the events older than it, by the
	// database's clock; it returns how many it deleted.
	PurgeAuditEvents(ctx context.Context, retentionDays int) (int64, error)
}

// SigninStorage persists what sign-in needs, shared by every node.
type SigninStorage interface {
	CreatePolicy(ctx context.Context, p authn.Policy) error
	GetPolicy(ctx context.Context, tenantID, id string) (authn.Policy, error)
	ListPolicies(ctx context.Context, tenantID string) ([]authn.Policy, error)
	UpdatePolicy(ctx context.Context, tenantID, id string, fn func(authn.Policy) (authn.Policy, error)) (authn.Policy, error)
	// DeletePolicy fails with ErrInUse while an application uses it.
	DeletePolicy(ctx context.Context, tenantID, id string) error

	// GetCredentials returns ErrNotFound for a user who has none yet.
	GetCredentials(ctx context.Context, tenantID, userID string) (authn.Credentials, error)
	// UpdateCredentials creates the record when there is none (fn then gets
	// a zero Credentials with Version 0), otherwise compare-and-swaps it.
	UpdateCredentials(ctx context.Context, tenantID, userID string, fn func(authn.Credentials) (authn.Credentials, error)) (authn.Credentials, error)

	CreateSession(ctx context.Context, s authn.Session) error
	GetSessionByToken(ctx context.Context, tokenHash []byte) (authn.Session, error)
	UpdateSession(ctx context.Context, id string, fn func(authn.Session) (authn.Session, error)) (authn.Session, error)
	// RevokeUserSessions ends every session of a user and returns how many.
	RevokeUserSessions(ctx context.Context, tenantID, userID string, at time.Time) (int64, error)

	CreateLoginFlow(ctx context.Context, f authn.LoginFlow) error
	GetLoginFlow(ctx context.Context, id string) (authn.LoginFlow, error)
	UpdateLoginFlow(ctx context.Context, id string, fn func(authn.LoginFlow) (authn.LoginFlow, error)) (authn.LoginFlow, error)
	DeleteLoginFlow(ctx context.Context, id string) error

	// Hit counts one event under key in a fixed window that started at most
	// window ago and returns the count so far in that window.
	Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int64, error)
	// Hits returns the count under key in the current window without
	// counting anything.
	Hits(ctx context.Context, key string, window time.Duration, now time.Time) (int64, error)
	ClearHits(ctx context.Context, key string) error
	// ReleaseHit takes back one event counted by Hit (an attempt counted
	// before it was checked, which then succeeded); never below zero.
	ReleaseHit(ctx context.Context, key string) error
	// FamiliarAddress returns when the user last completed a sign-in from
	// an address prefix, or ErrNotFound when never or when that record
	// expired before now (smart lockout).
	FamiliarAddress(ctx context.Context, tenantID, userID, prefix string, now time.Time) (time.Time, error)
	// RememberAddress records that the user completed a sign-in from an
	// address prefix at seen, valid until expires, and keeps only the keep
	// most recently seen prefixes of the user.
	RememberAddress(ctx context.Context, tenantID, userID, prefix string, seen, expires time.Time, keep int) error
	// ForgetAddresses deletes every familiar address of a user.
	ForgetAddresses(ctx context.Context, tenantID, userID string) error
	// UseNonce records key as used until expires; a second use before then
	// fails with ErrAlreadyExists (replay).
	UseNonce(ctx context.Context, key string, expires time.Time) error
	// DeleteExpired removes sessions, flows, nonces, counters and familiar
	// addresses that ended before now.
	DeleteExpired(ctx context.Context, now time.Time) error
	// HasSealedSecrets reports whether anything encrypted under the master
	// key is stored (so that a lost key file is noticed, not replaced).
	HasSealedSecrets(ctx context.Context) (bool, error)
}

// ApplicationStorage persists the application library's instances.
type ApplicationStorage interface {
	// CreateApplication stores an application with its permission groups.
	CreateApplication(ctx context.Context, a apps.Application) error
	GetApplication(ctx context.Context, tenantID, id string) (apps.Application, error)
	ListApplications(ctx context.Context, tenantID string) ([]apps.Application, error)
	// UpdateApplication compare-and-swaps the application and replaces its
	// permission groups in the same transaction.
	UpdateApplication(ctx context.Context, tenantID, id string, fn func(apps.Application) (apps.Application, error)) (apps.Application, error)
	DeleteApplication(ctx context.Context, tenantID, id string) error
	// IsUserPermitted reports whether the user is in one of the
	// application's permission groups.
	IsUserPermitted(ctx context.Context, tenantID, appID, userID string) (bool, error)

	CreateSigningKey(ctx context.Context, k apps.SigningKey) error
	ListSigningKeys(ctx context.Context, tenantID, appID string) ([]apps.SigningKey, error)
	// SetSigningKeyRoles changes the roles of several keys of one
	// application at once (rollover), all or nothing.
	SetSigningKeyRoles(ctx context.Context, tenantID, appID string, roles map[string]apps.SigningKeyRole) error
}
