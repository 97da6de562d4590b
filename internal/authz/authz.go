// Package authz decides who may do what in Portico's administration.
//
// Every administrative call carries a Principal in its context.Context:
// the API token, console administrator, command-line operator or system
// job on whose behalf it runs, with a Role (what it may do) and a tenant
// scope (where). The services call Require at the top of every method
// that reads or writes administrative data, so a handler that forgets a
// check cannot bypass it, and a context without a principal is refused
// (fail closed). Only the command line, the demo and background jobs
// create the all-powerful Operator and System principals, explicitly.
//
// Roles are sets of permissions:
//
//	global       everything, in every tenant, including creating and deleting tenants
//	tenantAdmin  everything inside its tenant
//	helpdesk     read the directory and the audit log; reset passwords and
//	             authenticators, revoke sessions; no applications, no federation
//	readOnly     read everything (directory, applications, policies, tokens, audit), change nothing
//
// A principal scoped to one tenant that names another tenant is told the
// object does not exist (ErrOutOfScope, answered as 404): the existence of
// other tenants is none of its business. A principal in scope whose role
// lacks the permission gets a *DeniedError naming the roles that have it
// (answered as 403).
package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Role is a named set of permissions.
type Role string

// The roles, from the most powerful.
const (
	Global      Role = "global"
	TenantAdmin Role = "tenantAdmin"
	Helpdesk    Role = "helpdesk"
	ReadOnly    Role = "readOnly"
)

// Roles lists every role, most powerful first.
var Roles = []Role{Global, TenantAdmin, Helpdesk, ReadOnly}

// Permission is one kind of operation.
type Permission string

// The permissions the services check.
const (
	// ReadDirectory: see the tenant, its organizations, users, groups and
	// memberships.
	ReadDirectory Permission = "directory.read"
	// ManageDirectory: create, change and delete organizations, users and
	// groups; memberships; imports.
	ManageDirectory Permission = "directory.manage"
	// ManageCredentials: set a user's password, reset the authenticator,
	// revoke the user's sessions (helpdesk work).
	ManageCredentials Permission = "credentials.manage"
	// ReadApplications: see applications, their certificates (public
	// parts), authentication policies, federation settings, and verify a
	// domain's compatibility.
	ReadApplications Permission = "applications.read"
	// ManageApplications: create, change and delete applications and
	// policies; certificate rollover steps.
	ManageApplications Permission = "applications.manage"
	// ManageFederation: federate, disconnect and roll over Microsoft 365
	// domains.
	ManageFederation Permission = "federation.manage"
	// ReadAudit: read and export the audit log.
	ReadAudit Permission = "audit.read"
	// ReadTokens: list API tokens (never their secrets).
	ReadTokens Permission = "tokens.read"
	// ManageTokens: create and delete API tokens, never with more power
	// than the creator has.
	ManageTokens Permission = "tokens.manage"
	// ManageTenants: create, rename and delete tenants.
	ManageTenants Permission = "tenants.manage"
)

var grants = map[Role][]Permission{
	Global: {ReadDirectory, ManageDirectory, ManageCredentials, ReadApplications, ManageApplications, ManageFederation,
		ReadAudit, ReadTokens, ManageTokens, ManageTenants},
	TenantAdmin: {ReadDirectory, ManageDirectory, ManageCredentials, ReadApplications, ManageApplications, ManageFederation,
		ReadAudit, ReadTokens, ManageTokens},
	Helpdesk: {ReadDirectory, ManageCredentials, ReadAudit},
	ReadOnly: {ReadDirectory, ReadApplications, ReadAudit, ReadTokens},
}

// ParseRole reads a role name (case-insensitive; "tenant-admin" and
// "read-only" are accepted too).
func ParseRole(s string) (Role, error) {
	norm := strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(s), "-", ""), "_", ""))
	for _, r := range Roles {
		if strings.ToLower(string(r)) == norm {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q: use one of %s", s, RoleNames())
}

// RoleNames lists the roles for messages ("global, tenantAdmin, ...").
func RoleNames() string {
	names := make([]string, len(Roles))
	for i, r := range Roles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { _, ok := grants[r]; return ok }

// Has reports whether the role grants p.
func (r Role) Has(p Permission) bool { return slices.Contains(grants[r], p) }

// Includes reports whether r grants every permission o grants: a principal
// may only hand out (create tokens with) roles its own role includes.
func (r Role) Includes(o Role) bool {
	if !r.Valid() || !o.Valid() {
		return false
	}
	for _, p := range grants[o] {
		if !r.Has(p) {
			return false
		}
	}
	return true
}

// RolesWith returns the roles that grant p, most powerful first.
func RolesWith(p Permission) []Role {
	var out []Role
	for _, r := range Roles {
		if r.Has(p) {
			out = append(out, r)
		}
	}
	return out
}

// Kind says what sort of principal acts.
type Kind string

// The kinds of principal.
const (
	// KindAPIToken: a request to the admin API with a bearer token.
	KindAPIToken Kind = "apiToken"
	// KindAdministrator: a person signed in to the admin console.
	KindAdministrator Kind = "administrator"
	// KindOperator: the portico command line on the server, run by whoever
	// can read the database and master key (so all-powerful by nature).
	KindOperator Kind = "operator"
	// KindSystem: Portico itself (the demo's seeding, background jobs such
	// as the audit log's retention purge).
	KindSystem Kind = "system"
)

// Principal is who an administrative call runs for, and from where.
type Principal struct {
	Kind Kind
	// ID identifies the principal within its kind (the token or
	// administrator id; the operating-system user for the operator; the
	// job for the system).
	ID string
	// Name is what people recognize it by (the token's name).
	Name string
	Role Role
	// TenantID scopes the principal to one tenant; empty means every
	// tenant.
	TenantID string
	// Address, UserAgent and RequestID say where the call came from, for
	// the audit log.
	Address   string
	UserAgent string
	RequestID string
}

// AllTenants reports whether the principal may act in every tenant.
func (p Principal) AllTenants() bool { return p.TenantID == "" }

// InScope reports whether the principal may act in tenant tenantID ("" =
// an installation-wide operation, such as listing tenants).
func (p Principal) InScope(tenantID string) bool { return p.AllTenants() || p.TenantID == tenantID }

// String describes the principal for logs and messages: "apiToken ci-sync (readOnly)".
func (p Principal) String() string {
	name := p.Name
	if name == "" {
		name = p.ID
	}
	return fmt.Sprintf("%s %s (%s)", p.Kind, name, p.Role)
}

// Operator is the principal of the command line: the person at the
// server's console, who can read the database and master key anyway.
func Operator(name string) Principal {
	if name == "" {
		name = "operator"
	}
	return Principal{Kind: KindOperator, ID: name, Name: name, Role: Global, Address: "local"}
}

// System is the principal of Portico's own work (job names the job:
// "demo", "audit-retention").
func System(job string) Principal {
	return Principal{Kind: KindSystem, ID: job, Name: job, Role: Global}
}

type ctxKey struct{}

// With returns ctx carrying p.
func With(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the principal ctx carries.
func From(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// Errors of a check.
var (
	// ErrNoPrincipal: the call carries no principal; it is refused rather
	// than run with unknown rights. A programming error when it happens.
	ErrNoPrincipal = errors.New("no principal in the call's context: refused (a caller must say on whose behalf it acts)")
	// ErrOutOfScope: the tenant is outside the principal's scope. Callers
	// answer exactly as for an object that does not exist.
	ErrOutOfScope = errors.New("not found")
	// ErrGlobalNeedsAllTenants: a credential with the global role cannot
	// be limited to one tenant (use tenantAdmin).
	ErrGlobalNeedsAllTenants = errors.New("the global role is for all tenants; a credential for one tenant takes tenantAdmin, helpdesk or readOnly")
)

// DeniedError is a refusal of a principal in scope whose role lacks the
// permission.
type DeniedError struct {
	Permission Permission
	// Role is the principal's role.
	Role Role
	// Needed are the roles that grant the permission.
	Needed []Role
	// AllTenants is set when the operation concerns the whole installation
	// and the principal is scoped to one tenant.
	AllTenants bool
	// Detail replaces the generated message when set.
	Detail string
}

func (e *DeniedError) Error() string {
	if e.Detail != "" {
		return e.Detail
	}
	if e.AllTenants {
		return fmt.Sprintf("this operation (%s) concerns every tenant: it needs a principal for all tenants with the %s role; this one is limited to one tenant",
			e.Permission, joinRoles(e.Needed))
	}
	return fmt.Sprintf("this operation (%s) needs the %s role; this principal has %s", e.Permission, joinRoles(e.Needed), e.Role)
}

func joinRoles(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	switch len(s) {
	case 0:
		return "(no)"
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// Require checks that the call's principal may exercise perm in tenant
// tenantID ("" = an installation-wide operation, which needs a principal
// for all tenants) and returns it.
func Require(ctx context.Context, tenantID string, perm Permission) (Principal, error) {
	p, ok := From(ctx)
	if !ok {
		return p, ErrNoPrincipal
	}
	if tenantID == "" && !p.AllTenants() {
		return p, &DeniedError{Permission: perm, Role: p.Role, Needed: RolesWith(perm), AllTenants: true}
	}
	if !p.InScope(tenantID) {
		return p, ErrOutOfScope
	}
	if !p.Role.Has(perm) {
		return p, &DeniedError{Permission: perm, Role: p.Role, Needed: RolesWith(perm)}
	}
	return p, nil
}

// RequireScope checks only that tenantID is in the principal's scope (any
// role may know that its own tenant exists).
func RequireScope(ctx context.Context, tenantID string) (Principal, error) {
	p, ok := From(ctx)
	if !ok {
		return p, ErrNoPrincipal
	}
	if !p.InScope(tenantID) || !p.Role.Valid() {
		return p, ErrOutOfScope
	}
	return p, nil
}

// CanGrant checks that p may hand out (or take away) a credential with
// role in tenant tenantID ("" = all tenants): never more power, and never
// a wider scope, than its own. The global role exists only for all tenants.
func CanGrant(p Principal, role Role, tenantID string) error {
	if !role.Valid() {
		return fmt.Errorf("unknown role %q: use one of %s", role, RoleNames())
	}
	if role == Global && tenantID != "" {
		return ErrGlobalNeedsAllTenants
	}
	if !p.InScope(tenantID) {
		if tenantID == "" {
			return &DeniedError{Permission: ManageTokens, Role: p.Role, Needed: []Role{Global}, AllTenants: true,
				Detail: "a principal limited to one tenant cannot create or delete credentials for all tenants"}
		}
		return ErrOutOfScope
	}
	if !p.Role.Includes(role) {
		return &DeniedError{Permission: ManageTokens, Role: p.Role, Needed: rolesIncluding(role),
			Detail: fmt.Sprintf("a principal with the %s role cannot create or delete credentials with the %s role (no more power than its own)", p.Role, role)}
	}
	return nil
}

func rolesIncluding(o Role) []Role {
	var out []Role
	for _, r := range Roles {
		if r.Includes(o) {
			out = append(out, r)
		}
	}
	return out
}
