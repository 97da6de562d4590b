package admin_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/m365/federation"
	"github.com/portico-idp/portico/internal/secrets"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/storage/sqlite"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
)

var cheapHasher = authn.NewHasher(authn.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})

// fixture is the services over one database, with two tenants.
type fixture struct {
	t     *testing.T
	st    storage.Storage
	adm   *admin.Service
	sign  *signin.Service
	fed   *federation.Service
	sys   context.Context
	t1    directory.Tenant
	t2    directory.Tenant
	user  directory.User
	group directory.Group
	pol   authn.Policy
	app   apps.Application
	n     atomic.Int64
	// orgs are the tenants' default organizations.
	orgs map[string]string
}

func newFixture(t *testing.T, wrap func(storage.Storage) storage.Storage) *fixture {
	t.Helper()
	raw, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	var st storage.Storage = raw
	if wrap != nil {
		st = wrap(raw)
	}
	mk, _ := secrets.NewMasterKey(make([]byte, 32))
	kr, _ := secrets.NewKeyring(nil, mk)
	f := &fixture{t: t, st: st, sys: authz.With(context.Background(), authz.System("test"))}
	f.adm = admin.New(st, admin.WithKeyring(kr))
	f.sign = signin.New(st, kr, signin.WithHasher(cheapHasher))
	f.fed = federation.New(f.adm, kr, "https://idp.example.com", federation.WithGraph(
		func(context.Context, directory.Tenant, apps.Application) (federation.Graph, error) {
			return nil, errors.New("Microsoft Graph is offline in this test")
		}))
	var o1, o2 directory.Organization
	f.t1, o1 = f.must2(f.adm.CreateTenant(f.sys, "one", "One", "@one.example.com"))
	f.t2, o2 = f.must2(f.adm.CreateTenant(f.sys, "two", "Two", "@two.example.com"))
	f.orgs = map[string]string{f.t1.ID: o1.ID, f.t2.ID: o2.ID}
	f.user = f.newUser(f.t1.ID)
	f.group = must(f.adm.CreateGroup(f.sys, f.t1.ID, directory.Group{Name: "Staff", Type: directory.GroupSecurity}))
	f.pol = must(f.adm.CreatePolicy(f.sys, f.t1.ID, authn.Policy{Name: "Strict", SecondFactor: authn.FactorTOTP}))
	f.app = f.newApp()
	return f
}

// must returns v, or stops the test binary on a fixture error (which
// never happens when the services work: it is no assertion).
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("fixture: %v", err))
	}
	return v
}

func (f *fixture) must2(t directory.Tenant, o directory.Organization, err error) (directory.Tenant, directory.Organization) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
	return t, o
}

func (f *fixture) name(prefix string) string { return fmt.Sprintf("%s%d", prefix, f.n.Add(1)) }

func (f *fixture) newUser(tenantID string) directory.User {
	return must(f.adm.CreateUser(f.sys, tenantID, directory.User{Username: f.name("user"), OrganizationID: f.orgs[tenantID]}))
}

func (f *fixture) newApp() apps.Application {
	return must(f.adm.CreateApplication(f.sys, f.t1.ID, apps.Application{Name: "Office 365", Enabled: true,
		Office365: &apps.Office365Settings{Domains: apps.Domains("one.example.com")}}))
}

// op is one service operation and what it needs.
type op struct {
	name string
	perm authz.Permission
	// installation operations concern every tenant.
	installation bool
	// mayFail: allowed callers get another error (Microsoft Graph is
	// offline); only the absence of a refusal is checked.
	mayFail bool
	// tenant gives a fresh tenant for operations that destroy theirs.
	tenant func(f *fixture) string
	run    func(ctx context.Context, f *fixture, tenantID string) error
}

func ops() []op {
	tenantOf := func(f *fixture, id string) directory.Tenant {
		t, err := f.st.GetTenant(f.sys, id)
		if err != nil {
			f.t.Fatal(err)
		}
		return t
	}
	return []op{
		{name: "GetTenant", perm: authz.ReadDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.GetTenant(ctx, tid)
			return err
		}},
		{name: "ListTenants", perm: authz.ReadDirectory, installation: true, run: func(ctx context.Context, f *fixture, _ string) error {
			_, _, err := f.adm.ListTenants(ctx, storage.Page{})
			return err
		}},
		{name: "CreateTenant", perm: authz.ManageTenants, installation: true, run: func(ctx context.Context, f *fixture, _ string) error {
			_, _, err := f.adm.CreateTenant(ctx, f.name("new"), "", "")
			return err
		}},
		{name: "UpdateTenant", perm: authz.ManageTenants, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.UpdateTenant(ctx, tid, 0, func(t *directory.Tenant) error { t.Name = f.name("One "); return nil })
			return err
		}},
		{name: "DeleteTenant", perm: authz.ManageTenants,
			tenant: func(f *fixture) string {
				t, _ := f.must2(f.adm.CreateTenant(f.sys, f.name("doomed"), "", ""))
				return t.ID
			},
			run: func(ctx context.Context, f *fixture, tid string) error { return f.adm.DeleteTenant(ctx, tid, 0) }},
		{name: "ListOrganizations", perm: authz.ReadDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			_, _, err := f.adm.ListOrganizations(ctx, tid, storage.OrganizationFilter{}, storage.Page{})
			return err
		}},
		{name: "CreateOrganization", perm: authz.ManageDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.CreateOrganization(ctx, tid, directory.Organization{Name: f.name("Org ")})
			return err
		}},
		{name: "GetOrganization/UpdateOrganization/DeleteOrganization", perm: authz.ManageDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			o := must(f.adm.CreateOrganization(f.sys, tid, directory.Organization{Name: f.name("Org ")}))
			if _, err := f.adm.UpdateOrganization(ctx, tid, o.ID, 0, func(o *directory.Organization) error { o.Name += "!"; return nil }); err != nil {
				return err
			}
			return f.adm.DeleteOrganization(ctx, tid, o.ID, 0)
		}},
		{name: "GetOrganization", perm: authz.ReadDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.GetOrganization(ctx, tid, f.orgs[tid])
			return err
		}},
		{name: "ListUsers", perm: authz.ReadDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			_, _, err := f.adm.ListUsers(ctx, tid, storage.UserFilter{}, storage.Page{})
			return err
		}},
		{name: "GetUser", perm: authz.ReadDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.GetUser(ctx, tid, f.user.ID)
			return err
		}},
		{name: "UserGroups", perm: authz.ReadDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			_, _, err := f.adm.UserGroups(ctx, tid, f.user.ID, storage.Page{})
			return err
		}},
		{name: "CreateUser", perm: authz.ManageDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.CreateUser(ctx, tid, directory.User{Username: f.name("created"), OrganizationID: f.orgs[tid]})
			return err
		}},
		{name: "ImportUsers", perm: authz.ManageDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			res, err := f.adm.ImportUsers(ctx, tid, []admin.ImportItem{{User: directory.User{Username: f.name("imported"), OrganizationID: f.orgs[tid]}}})
			if err != nil {
				return err
			}
			return res[0].Err
		}},
		{name: "UpdateUser", perm: authz.ManageDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.UpdateUser(ctx, tid, f.user.ID, 0, func(u *directory.User) error { u.JobTitle = f.name("Job "); return nil })
			return err
		}},
		{name: "DeleteUser", perm: authz.ManageDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			return f.adm.DeleteUser(ctx, tid, f.newUser(tid).ID, 0)
		}},
		{name: "ListGroups", perm: authz.ReadDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			_, _, err := f.adm.ListGroups(ctx, tid, storage.GroupFilter{}, storage.Page{})
			return err
		}},
		{name: "GetGroup", perm: authz.ReadDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.GetGroup(ctx, tid, f.group.ID)
			return err
		}},
		{name: "GroupMembers", perm: authz.ReadDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			_, _, err := f.adm.GroupMembers(ctx, tid, f.group.ID, storage.Page{})
			return err
		}},
		{name: "CreateGroup", perm: authz.ManageDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.CreateGroup(ctx, tid, directory.Group{Name: f.name("Group "), Type: directory.GroupSecurity})
			return err
		}},
		{name: "UpdateGroup", perm: authz.ManageDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.UpdateGroup(ctx, tid, f.group.ID, 0, func(g *directory.Group) error { g.Description = f.name("d"); return nil })
			return err
		}},
		{name: "DeleteGroup", perm: authz.ManageDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			g := must(f.adm.CreateGroup(f.sys, tid, directory.Group{Name: f.name("Gone "), Type: directory.GroupSecurity}))
			return f.adm.DeleteGroup(ctx, tid, g.ID, 0)
		}},
		{name: "AddGroupMember", perm: authz.ManageDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			return f.adm.AddGroupMember(ctx, tid, f.group.ID, f.newUser(tid).ID)
		}},
		{name: "RemoveGroupMember", perm: authz.ManageDirectory, run: func(ctx context.Context, f *fixture, tid string) error {
			u := f.newUser(tid)
			if err := f.adm.AddGroupMember(f.sys, tid, f.group.ID, u.ID); err != nil {
				f.t.Fatal(err)
			}
			return f.adm.RemoveGroupMember(ctx, tid, f.group.ID, u.ID)
		}},
		{name: "SetPassword", perm: authz.ManageCredentials, run: func(ctx context.Context, f *fixture, tid string) error {
			return f.sign.SetPassword(ctx, tid, f.user.ID, "a new password")
		}},
		{name: "EnrolTOTP", perm: authz.ManageCredentials, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.sign.EnrolTOTP(ctx, f.user, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
			return err
		}},
		{name: "ResetTOTP", perm: authz.ManageCredentials, run: func(ctx context.Context, f *fixture, tid string) error {
			return f.sign.ResetTOTP(ctx, tid, f.user.ID)
		}},
		{name: "RevokeSessions", perm: authz.ManageCredentials, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.sign.RevokeSessions(ctx, tid, f.user.ID)
			return err
		}},
		{name: "ListPolicies", perm: authz.ReadApplications, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.ListPolicies(ctx, tid)
			return err
		}},
		{name: "GetPolicy", perm: authz.ReadApplications, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.GetPolicy(ctx, tid, f.pol.ID)
			return err
		}},
		{name: "CreatePolicy", perm: authz.ManageApplications, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.CreatePolicy(ctx, tid, authn.Policy{Name: f.name("Policy "), SecondFactor: authn.FactorNone})
			return err
		}},
		{name: "UpdatePolicy", perm: authz.ManageApplications, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.UpdatePolicy(ctx, tid, f.pol.ID, 0, func(p *authn.Policy) error { p.Name = f.name("Strict "); return nil })
			return err
		}},
		{name: "DeletePolicy", perm: authz.ManageApplications, run: func(ctx context.Context, f *fixture, tid string) error {
			p := must(f.adm.CreatePolicy(f.sys, tid, authn.Policy{Name: f.name("Spare "), SecondFactor: authn.FactorNone}))
			return f.adm.DeletePolicy(ctx, tid, p.ID, 0)
		}},
		{name: "EnsurePolicies", perm: authz.ManageApplications, run: func(ctx context.Context, f *fixture, tid string) error {
			_, _, err := f.adm.EnsurePolicies(ctx, tid)
			return err
		}},
		{name: "ListApplications", perm: authz.ReadApplications, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.ListApplications(ctx, tid)
			return err
		}},
		{name: "GetApplication", perm: authz.ReadApplications, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.GetApplication(ctx, tid, f.app.ID)
			return err
		}},
		{name: "Certificates", perm: authz.ReadApplications, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.Certificates(ctx, tid, f.app.ID)
			return err
		}},
		{name: "CreateApplication", perm: authz.ManageApplications, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.CreateApplication(ctx, tid, apps.Application{Name: f.name("App "), Enabled: true})
			return err
		}},
		{name: "UpdateApplication", perm: authz.ManageApplications, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.UpdateApplication(ctx, tid, f.app.ID, 0, func(a *apps.Application) error { a.Name = f.name("Office "); return nil })
			return err
		}},
		{name: "DeleteApplication", perm: authz.ManageApplications, run: func(ctx context.Context, f *fixture, tid string) error {
			return f.adm.DeleteApplication(ctx, tid, f.newApp().ID, 0)
		}},
		{name: "CreateNextKey/PromoteNextKey", perm: authz.ManageApplications, run: func(ctx context.Context, f *fixture, tid string) error {
			if _, err := f.adm.CreateNextKey(ctx, tid, f.app.ID); err != nil {
				return err
			}
			return f.adm.PromoteNextKey(ctx, tid, f.app.ID)
		}},
		{name: "Verify", perm: authz.ReadApplications, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.fed.Verify(ctx, tenantOf(f, tid), f.app, "one.example.com")
			return err
		}},
		{name: "Manual", perm: authz.ReadApplications, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.fed.Manual(ctx, tenantOf(f, tid), f.app, "one.example.com")
			return err
		}},
		{name: "Federate", perm: authz.ManageFederation, mayFail: true, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.fed.Federate(ctx, tenantOf(f, tid), f.app, "one.example.com")
			return err
		}},
		{name: "Disconnect", perm: authz.ManageFederation, mayFail: true, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.fed.Disconnect(ctx, tenantOf(f, tid), f.app, "one.example.com")
			return err
		}},
		{name: "Rollover", perm: authz.ManageFederation, mayFail: true, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.fed.Rollover(ctx, tenantOf(f, tid), f.app)
			return err
		}},
		{name: "ListAPITokens", perm: authz.ReadTokens, run: func(ctx context.Context, f *fixture, tid string) error {
			_, err := f.adm.ListAPITokens(ctx, tid)
			return err
		}},
		{name: "ListAPITokens(all tenants)", perm: authz.ReadTokens, installation: true, run: func(ctx context.Context, f *fixture, _ string) error {
			_, err := f.adm.ListAPITokens(ctx, "")
			return err
		}},
		{name: "CreateAPIToken", perm: authz.ManageTokens, run: func(ctx context.Context, f *fixture, tid string) error {
			_, _, err := f.adm.CreateAPIToken(ctx, tid, "x", authz.ReadOnly)
			return err
		}},
		{name: "DeleteAPIToken", perm: authz.ManageTokens, run: func(ctx context.Context, f *fixture, tid string) error {
			_, tok, err := f.adm.CreateAPIToken(f.sys, tid, "spare", authz.ReadOnly)
			if err != nil {
				f.t.Fatal(err)
			}
			return f.adm.DeleteAPIToken(ctx, tid, tok.ID)
		}},
		{name: "AuditEvents", perm: authz.ReadAudit, run: func(ctx context.Context, f *fixture, tid string) error {
			_, _, err := f.adm.AuditEvents(ctx, audit.Filter{TenantID: tid}, storage.Page{})
			return err
		}},
		{name: "ExportAudit", perm: authz.ReadAudit, run: func(ctx context.Context, f *fixture, tid string) error {
			return f.adm.ExportAudit(ctx, audit.Filter{TenantID: tid}, func(audit.Event) error { return nil })
		}},
		{name: "PurgeAudit", perm: authz.ManageTenants, installation: true, run: func(ctx context.Context, f *fixture, _ string) error {
			_, err := f.adm.PurgeAudit(ctx, 365)
			return err
		}},
	}
}

func isRefusal(err error) bool {
	var denied *authz.DeniedError
	return errors.As(err, &denied) || errors.Is(err, authz.ErrOutOfScope) || errors.Is(err, authz.ErrNoPrincipal)
}

// TestServicesEnforceRoles calls every service operation directly, with
// no HTTP in between, as each role, from another tenant and with no
// principal: a handler that forgot a check could not bypass these.
func TestServicesEnforceRoles(t *testing.T) {
	f := newFixture(t, nil)
	for _, o := range ops() {
		t.Run(o.name, func(t *testing.T) {
			f.t = t
			for _, role := range authz.Roles {
				tid := f.t1.ID
				if o.tenant != nil {
					tid = o.tenant(f)
				}
				p := authz.Principal{Kind: authz.KindAPIToken, ID: "tok-" + string(role), Name: string(role), Role: role, TenantID: tid}
				if role == authz.Global {
					p.TenantID = ""
				}
				err := o.run(authz.With(context.Background(), p), f, tid)
				allowed := role.Has(o.perm) && (!o.installation || p.AllTenants())
				var denied *authz.DeniedError
				switch {
				case allowed && o.mayFail && isRefusal(err):
					t.Errorf("%s: refused: %v", role, err)
				case allowed && !o.mayFail && err != nil:
					t.Errorf("%s: %v", role, err)
				case !allowed && !errors.As(err, &denied):
					t.Errorf("%s: not refused with a DeniedError: %v", role, err)
				}
			}
			tid := f.t1.ID
			if o.tenant != nil {
				tid = o.tenant(f)
			}
			other := authz.With(context.Background(), authz.Principal{Kind: authz.KindAPIToken, Role: authz.TenantAdmin, TenantID: f.t2.ID})
			err := o.run(other, f, tid)
			var denied *authz.DeniedError
			if o.installation && !errors.As(err, &denied) {
				t.Errorf("a tenant's administrator, installation-wide: %v", err)
			}
			if !o.installation && !errors.Is(err, authz.ErrOutOfScope) {
				t.Errorf("another tenant's administrator: %v; want out of scope (not found)", err)
			}
			if err := o.run(context.Background(), f, tid); !errors.Is(err, authz.ErrNoPrincipal) {
				t.Errorf("no principal: %v", err)
			}
		})
	}
}
