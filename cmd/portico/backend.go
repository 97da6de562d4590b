package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
)

// backend is what the directory administration commands (tenant,
// organization, user, group, token) act through, so that each command is
// written once: directly on the database (--data-dir / --database-url,
// directBackend) or through a running server's API (--server, apiBackend).
// Users and groups are named as an administrator types them: a user by
// username, UPN or id; a group by name or id; a tenant by slug.
type backend interface {
	Close() error

	CreateTenant(ctx context.Context, slug, name, suffix string) (directory.Tenant, directory.Organization, error)
	ListTenants(ctx context.Context) ([]directory.Tenant, error)

	ListOrganizations(ctx context.Context, tenant string) ([]directory.Organization, error)
	// SetOrganizationSuffix changes the suffix of the organization named
	// org (name or id; "" when the tenant has one organization).
	SetOrganizationSuffix(ctx context.Context, tenant, org, suffix string) (directory.Organization, error)

	CreateUser(ctx context.Context, tenant string, u directory.User, password string) (directory.User, error)
	ListUsers(ctx context.Context, tenant string, q userQuery) ([]directory.User, error)
	GetUser(ctx context.Context, tenant, user string) (directory.User, error)
	SetUserStatus(ctx context.Context, tenant, user string, status directory.UserStatus) (directory.User, error)
	SetPassword(ctx context.Context, tenant, user, password string) (directory.User, error)
	ResetMFA(ctx context.Context, tenant, user string) (directory.User, error)
	RevokeSessions(ctx context.Context, tenant, user string) (directory.User, error)

	CreateGroup(ctx context.Context, tenant string, g directory.Group) (directory.Group, error)
	ListGroups(ctx context.Context, tenant string) ([]directory.Group, error)
	AddMember(ctx context.Context, tenant, group, user string) error
	RemoveMember(ctx context.Context, tenant, group, user string) error

	// CreateToken issues a token for a tenant, or for all tenants with
	// Global, with spec's role.
	CreateToken(ctx context.Context, spec tokenSpec) (string, tokenInfo, error)
	// ListTokens lists the tenant's tokens, or with tenant "" the tokens
	// for all tenants.
	ListTokens(ctx context.Context, tenant string) ([]tokenInfo, error)
	// RevokeToken deletes the token id of tenant ("": a token for all
	// tenants; on the database, whichever tenant it belongs to).
	RevokeToken(ctx context.Context, tenant, id string) (tokenInfo, error)

	// AuditEvents returns a page of audit events, newest first, and the
	// cursor of the next page ("" at the end).
	AuditEvents(ctx context.Context, q auditQuery, limit int, cursor string) ([]audit.Event, string, error)
	// ExportAudit writes every matching event to w as NDJSON, oldest first.
	ExportAudit(ctx context.Context, q auditQuery, w io.Writer) error
}

// auditQuery narrows audit list and audit export, as the API's filters.
type auditQuery struct {
	Tenant               string // slug; "" for every tenant in reach
	Since, Until         time.Time
	Actor, Action        string
	ObjectType, ObjectID string
	User                 string
	Outcome              audit.Outcome
}

// userQuery narrows user list.
type userQuery struct {
	Prefix string
	Status directory.UserStatus
	Group  string
	Limit  int
}

// tokenSpec is what token create asks for.
type tokenSpec struct {
	Tenant string // slug; "" with Global
	Global bool
	Name   string
	// Role is what the token may do; "" is the default (global with
	// Global, tenantAdmin for a tenant).
	Role authz.Role
}

// tokenInfo is an API token as listed: never its secret or hash.
type tokenInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Tenant    string    `json:"tenant"` // slug; "" for a global token
	Global    bool      `json:"global"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"createdAt"`
}

// notFound is a named object missing, said in the administrator's words:
// `user "bob" not found in tenant contoso`.
type notFound struct {
	kind, name, tenant string
}

func (e *notFound) Error() string {
	if e.tenant == "" {
		return fmt.Sprintf("%s %q not found", e.kind, e.name)
	}
	return fmt.Sprintf("%s %q not found in tenant %s", e.kind, e.name, e.tenant)
}
