package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
)

// directBackend acts on the database itself, through the same services
// the server uses. Passwords and authenticator resets need no master key
// (hashes, not sealed secrets), so none is loaded.
type directBackend struct {
	store  *sqlstore.Store
	admin  *admin.Service
	signin *signin.Service
}

func openDirect(ctx context.Context, sf storeFlags) (*directBackend, error) {
	st, err := sf.open(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &directBackend{store: st, admin: admin.New(st), signin: signin.New(st, nil)}, nil
}

func (d *directBackend) Close() error { return d.store.Close() }

func (d *directBackend) tenant(ctx context.Context, slug string) (directory.Tenant, error) {
	if slug == "" {
		return directory.Tenant{}, errors.New("--tenant is required")
	}
	t, err := d.admin.TenantBySlug(ctx, directory.NormalizeSlug(slug))
	if errors.Is(err, storage.ErrNotFound) {
		return t, &notFound{kind: "tenant", name: slug}
	}
	if err != nil {
		return t, fmt.Errorf("look up tenant %s: %w", slug, err)
	}
	return t, nil
}

func (d *directBackend) user(ctx context.Context, t directory.Tenant, ref string) (directory.User, error) {
	if ref == "" {
		return directory.User{}, errors.New("--user is required")
	}
	u, err := d.signin.FindUser(ctx, t.ID, ref)
	if errors.Is(err, storage.ErrNotFound) {
		u, err = d.admin.GetUser(ctx, t.ID, ref)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return u, &notFound{kind: "user", name: ref, tenant: t.Slug}
	}
	if err != nil {
		return u, fmt.Errorf("look up user %s in tenant %s: %w", ref, t.Slug, err)
	}
	return u, nil
}

func (d *directBackend) group(ctx context.Context, t directory.Tenant, ref string) (directory.Group, error) {
	if ref == "" {
		return directory.Group{}, errors.New("--group is required")
	}
	if g, err := d.admin.GetGroup(ctx, t.ID, ref); err == nil {
		return g, nil
	}
	gs, _, err := d.admin.ListGroups(ctx, t.ID, storage.GroupFilter{NamePrefix: ref}, storage.Page{Limit: storage.MaxLimit})
	if err != nil {
		return directory.Group{}, fmt.Errorf("look up group %s in tenant %s: %w", ref, t.Slug, err)
	}
	for _, g := range gs {
		if strings.EqualFold(g.Name, ref) {
			return g, nil
		}
	}
	return directory.Group{}, &notFound{kind: "group", name: ref, tenant: t.Slug}
}

func (d *directBackend) CreateTenant(ctx context.Context, slug, name, suffix string) (directory.Tenant, directory.Organization, error) {
	return d.admin.CreateTenant(ctx, slug, name, suffix)
}

func (d *directBackend) ListTenants(ctx context.Context) ([]directory.Tenant, error) {
	var all []directory.Tenant
	p := storage.Page{Limit: storage.MaxLimit}
	for {
		ts, next, err := d.admin.ListTenants(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
		all = append(all, ts...)
		if next == "" {
			return all, nil
		}
		p.Cursor = next
	}
}

func (d *directBackend) ListOrganizations(ctx context.Context, tenant string) ([]directory.Organization, error) {
	t, err := d.tenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	os, _, err := d.admin.ListOrganizations(ctx, t.ID, storage.OrganizationFilter{}, storage.Page{Limit: storage.MaxLimit})
	if err != nil {
		return nil, fmt.Errorf("list organizations of tenant %s: %w", t.Slug, err)
	}
	return os, nil
}

func (d *directBackend) SetOrganizationSuffix(ctx context.Context, tenant, org, suffix string) (directory.Organization, error) {
	os, err := d.ListOrganizations(ctx, tenant)
	if err != nil {
		return directory.Organization{}, err
	}
	o, err := pickOrganization(os, org, tenant)
	if err != nil {
		return o, err
	}
	t, _ := d.tenant(ctx, tenant)
	return d.admin.UpdateOrganization(ctx, t.ID, o.ID, 0, func(o *directory.Organization) error {
		o.PrincipalNameSuffix = suffix
		return nil
	})
}

// pickOrganization finds org (name or id) among os; "" is the only one.
func pickOrganization(os []directory.Organization, org, tenant string) (directory.Organization, error) {
	if org == "" {
		if len(os) == 1 {
			return os[0], nil
		}
		return directory.Organization{}, fmt.Errorf("tenant %s has %d organizations: name one with --organization", tenant, len(os))
	}
	for _, o := range os {
		if o.ID == org || strings.EqualFold(o.Name, org) {
			return o, nil
		}
	}
	return directory.Organization{}, &notFound{kind: "organization", name: org, tenant: tenant}
}

func (d *directBackend) CreateUser(ctx context.Context, tenant string, u directory.User, password string) (directory.User, error) {
	t, err := d.tenant(ctx, tenant)
	if err != nil {
		return u, err
	}
	u, err = d.admin.CreateUser(ctx, t.ID, u)
	if err != nil || password == "" {
		return u, err
	}
	if err := d.signin.SetPassword(ctx, t.ID, u.ID, password); err != nil {
		return u, fmt.Errorf("user %s created, but the password was not set: %w", u.UPN, describe(err))
	}
	return u, nil
}

func (d *directBackend) ListUsers(ctx context.Context, tenant string, q userQuery) ([]directory.User, error) {
	t, err := d.tenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	f := storage.UserFilter{UsernamePrefix: q.Prefix, Status: q.Status}
	if q.Group != "" {
		g, err := d.group(ctx, t, q.Group)
		if err != nil {
			return nil, err
		}
		f.GroupID = g.ID
	}
	us, _, err := d.admin.ListUsers(ctx, t.ID, f, storage.Page{Limit: q.Limit})
	if err != nil {
		return nil, fmt.Errorf("list users of tenant %s: %w", t.Slug, err)
	}
	return us, nil
}

func (d *directBackend) GetUser(ctx context.Context, tenant, user string) (directory.User, error) {
	t, err := d.tenant(ctx, tenant)
	if err != nil {
		return directory.User{}, err
	}
	return d.user(ctx, t, user)
}

// userAction finds the user, then applies fn.
func (d *directBackend) userAction(ctx context.Context, tenant, user string, fn func(t directory.Tenant, u directory.User) error) (directory.User, error) {
	t, err := d.tenant(ctx, tenant)
	if err != nil {
		return directory.User{}, err
	}
	u, err := d.user(ctx, t, user)
	if err != nil {
		return u, err
	}
	return u, fn(t, u)
}

func (d *directBackend) SetUserStatus(ctx context.Context, tenant, user string, status directory.UserStatus) (directory.User, error) {
	var out directory.User
	_, err := d.userAction(ctx, tenant, user, func(t directory.Tenant, u directory.User) error {
		var err error
		out, err = d.admin.UpdateUser(ctx, t.ID, u.ID, 0, func(u *directory.User) error {
			u.Status = status
			return nil
		})
		return err
	})
	return out, err
}

func (d *directBackend) SetPassword(ctx context.Context, tenant, user, password string) (directory.User, error) {
	return d.userAction(ctx, tenant, user, func(t directory.Tenant, u directory.User) error {
		return d.signin.SetPassword(ctx, t.ID, u.ID, password)
	})
}

func (d *directBackend) ResetMFA(ctx context.Context, tenant, user string) (directory.User, error) {
	return d.userAction(ctx, tenant, user, func(t directory.Tenant, u directory.User) error {
		return d.signin.ResetTOTP(ctx, t.ID, u.ID)
	})
}

func (d *directBackend) RevokeSessions(ctx context.Context, tenant, user string) (directory.User, error) {
	return d.userAction(ctx, tenant, user, func(t directory.Tenant, u directory.User) error {
		_, err := d.signin.RevokeSessions(ctx, t.ID, u.ID)
		return err
	})
}

func (d *directBackend) CreateGroup(ctx context.Context, tenant string, g directory.Group) (directory.Group, error) {
	t, err := d.tenant(ctx, tenant)
	if err != nil {
		return g, err
	}
	return d.admin.CreateGroup(ctx, t.ID, g)
}

func (d *directBackend) ListGroups(ctx context.Context, tenant string) ([]directory.Group, error) {
	t, err := d.tenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	gs, _, err := d.admin.ListGroups(ctx, t.ID, storage.GroupFilter{}, storage.Page{Limit: storage.MaxLimit})
	if err != nil {
		return nil, fmt.Errorf("list groups of tenant %s: %w", t.Slug, err)
	}
	return gs, nil
}

func (d *directBackend) member(ctx context.Context, tenant, group, user string, add bool) error {
	t, err := d.tenant(ctx, tenant)
	if err != nil {
		return err
	}
	g, err := d.group(ctx, t, group)
	if err != nil {
		return err
	}
	u, err := d.user(ctx, t, user)
	if err != nil {
		return err
	}
	if add {
		err = d.admin.AddGroupMember(ctx, t.ID, g.ID, u.ID)
		if errors.Is(err, storage.ErrAlreadyExists) {
			return fmt.Errorf("user %q is already a member of group %q", user, g.Name)
		}
		return err
	}
	err = d.admin.RemoveGroupMember(ctx, t.ID, g.ID, u.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("user %q is not a member of group %q", user, g.Name)
	}
	return err
}

func (d *directBackend) AddMember(ctx context.Context, tenant, group, user string) error {
	return d.member(ctx, tenant, group, user, true)
}

func (d *directBackend) RemoveMember(ctx context.Context, tenant, group, user string) error {
	return d.member(ctx, tenant, group, user, false)
}

func (d *directBackend) CreateToken(ctx context.Context, spec tokenSpec) (string, tokenInfo, error) {
	tenantID := ""
	if !spec.Global {
		t, err := d.tenant(ctx, spec.Tenant)
		if err != nil {
			return "", tokenInfo{}, err
		}
		tenantID = t.ID
	}
	secret, tok, err := d.admin.CreateAPIToken(ctx, tenantID, spec.Name, spec.Role)
	if err != nil {
		return "", tokenInfo{}, fmt.Errorf("create token: %w", describe(err))
	}
	return secret, tokenInfo{ID: tok.ID, Name: tok.Name, Tenant: spec.Tenant, Global: spec.Global, Role: string(tok.Role), CreatedAt: tok.CreatedAt}, nil
}

// ListTokens lists the tenant's tokens, or with tenant "" the tokens for
// all tenants.
func (d *directBackend) ListTokens(ctx context.Context, tenant string) ([]tokenInfo, error) {
	tenantID := ""
	if tenant != "" {
		t, err := d.tenant(ctx, tenant)
		if err != nil {
			return nil, err
		}
		tenantID = t.ID
	}
	ts, err := d.admin.ListAPITokens(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out := make([]tokenInfo, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenInfo{ID: t.ID, Name: t.Name, Tenant: tenant, Global: t.Global(), Role: string(t.Role), CreatedAt: t.CreatedAt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// RevokeToken revokes the token id. Without a tenant the token is found by
// its id alone, as "token delete --id" did: the operator may revoke any.
func (d *directBackend) RevokeToken(ctx context.Context, tenant, id string) (tokenInfo, error) {
	missing := &notFound{kind: "token", name: id, tenant: tenant}
	tok, err := d.store.GetAPIToken(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return tokenInfo{}, missing
	}
	if err != nil {
		return tokenInfo{}, fmt.Errorf("look up token %s: %w", id, err)
	}
	tenantID := tok.TenantID
	if tenant != "" {
		t, err := d.tenant(ctx, tenant)
		if err != nil {
			return tokenInfo{}, err
		}
		if tenantID = t.ID; tok.TenantID != t.ID {
			return tokenInfo{}, missing
		}
	}
	if err := d.admin.DeleteAPIToken(ctx, tenantID, id); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return tokenInfo{}, missing
		}
		return tokenInfo{}, fmt.Errorf("revoke token %s: %w", id, err)
	}
	return tokenInfo{ID: tok.ID, Name: tok.Name, Tenant: tenant, Global: tok.Global(), Role: string(tok.Role), CreatedAt: tok.CreatedAt}, nil
}

// auditFilter turns q into the service's filter, the tenant by id.
func (d *directBackend) auditFilter(ctx context.Context, q auditQuery) (audit.Filter, error) {
	f := audit.Filter{Since: q.Since, Until: q.Until, Actor: q.Actor, Action: q.Action,
		ObjectType: q.ObjectType, ObjectID: q.ObjectID, User: q.User, Outcome: q.Outcome}
	if q.Tenant != "" {
		t, err := d.tenant(ctx, q.Tenant)
		if err != nil {
			return f, err
		}
		f.TenantID = t.ID
	}
	return f, nil
}

func (d *directBackend) AuditEvents(ctx context.Context, q auditQuery, limit int, cursor string) ([]audit.Event, string, error) {
	f, err := d.auditFilter(ctx, q)
	if err != nil {
		return nil, "", err
	}
	evs, next, err := d.admin.AuditEvents(ctx, f, storage.Page{Limit: limit, Cursor: cursor})
	if err != nil {
		return nil, "", fmt.Errorf("read the audit log: %w", describe(err))
	}
	return evs, next, nil
}

func (d *directBackend) ExportAudit(ctx context.Context, q auditQuery, w io.Writer) error {
	f, err := d.auditFilter(ctx, q)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	if err := d.admin.ExportAudit(ctx, f, func(e audit.Event) error { return enc.Encode(e) }); err != nil {
		return fmt.Errorf("export the audit log: %w", describe(err))
	}
	return nil
}
