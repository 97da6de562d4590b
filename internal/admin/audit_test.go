package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/requestid"
	"github.com/portico-idp/portico/internal/storage"
)

// tokenCtx is a call by an API token of role in tenantID, from an address.
func tokenCtx(role authz.Role, tenantID string) context.Context {
	return requestid.With(authz.With(context.Background(), authz.Principal{Kind: authz.KindAPIToken, ID: "tok-1", Name: "ci",
		Role: role, TenantID: tenantID, Address: "192.0.2.10", UserAgent: "portico-test/1"}), "req-42")
}

func events(t *testing.T, f *fixture, flt audit.Filter) []audit.Event {
	t.Helper()
	evs, _, err := f.st.ListAuditEvents(context.Background(), flt, storage.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestChangesAreAudited: a change records who (token, role), from where
// (address, user agent, request id), what object, and the before and after
// of the fields that changed — secrets only as "[redacted]".
func TestChangesAreAudited(t *testing.T) {
	f := newFixture(t, nil)
	ctx := tokenCtx(authz.TenantAdmin, f.t1.ID)
	u, err := f.adm.CreateUser(ctx, f.t1.ID, directory.User{Username: "ann", OrganizationID: f.orgs[f.t1.ID], JobTitle: "Engineer"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.adm.UpdateUser(ctx, f.t1.ID, u.ID, 0, func(u *directory.User) error { u.JobTitle = "Manager"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := f.sign.SetPassword(ctx, f.t1.ID, u.ID, "a secret password"); err != nil {
		t.Fatal(err)
	}
	if err := f.adm.DeleteUser(ctx, f.t1.ID, u.ID, 0); err != nil {
		t.Fatal(err)
	}
	evs := events(t, f, audit.Filter{ObjectID: u.ID, Oldest: true})
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
		if e.Actor != (audit.Actor{Kind: "apiToken", ID: "tok-1", Name: "ci", Role: "tenantAdmin"}) || e.Address != "192.0.2.10" ||
			e.UserAgent != "portico-test/1" || e.RequestID != "req-42" || e.TenantID != f.t1.ID || e.Object.Name != "ann" ||
			e.Outcome != audit.Success {
			t.Errorf("%s: %+v", e.Action, e)
		}
	}
	if strings.Join(actions, " ") != "user.create user.update user.password.set user.delete" {
		t.Fatalf("actions %v", actions)
	}
	if c := evs[0].Changes["jobTitle"]; c.Before != nil || c.After != "Engineer" {
		t.Errorf("create: %v", evs[0].Changes)
	}
	if len(evs[1].Changes) != 1 || evs[1].Changes["jobTitle"] != (audit.Change{Before: "Engineer", After: "Manager"}) {
		t.Errorf("update: %v", evs[1].Changes)
	}
	if evs[2].Changes["password"].After != audit.Redacted {
		t.Errorf("password: %v", evs[2].Changes)
	}
	if c := evs[3].Changes["username"]; c.Before != "ann" || c.After != nil {
		t.Errorf("delete: %v", evs[3].Changes)
	}

	// The Microsoft Online password given to an application never enters
	// the log; that it changed does.
	if _, err := f.adm.UpdateApplication(ctx, f.t1.ID, f.app.ID, 0, func(a *apps.Application) error {
		a.Office365.MSOnlineUsername = "admin@one.onmicrosoft.com"
		a.Office365.MSOnlinePasswordInput = "Pa55word-in-clear"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, tok, err := f.adm.CreateAPIToken(ctx, f.t1.ID, "sync", authz.ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	app := events(t, f, audit.Filter{Action: "application.update"})
	raw, _ := json.Marshal(events(t, f, audit.Filter{}))
	for _, secret := range []string{"Pa55word-in-clear", "a secret password", string(tok.Hash)} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("the audit log holds a secret (%q): %s", secret, raw)
		}
	}
	if c := app[0].Changes["office365.msOnlinePasswordSealed"]; c.Before != nil || c.After != audit.Redacted {
		t.Errorf("sealed password change: %v", app[0].Changes)
	}
	if c := app[0].Changes["office365.msOnlineUsername"]; c.After != "admin@one.onmicrosoft.com" || app[0].AppID != f.app.ID {
		t.Errorf("application change: %+v", app[0])
	}
	if ev := events(t, f, audit.Filter{Action: "token.create"}); len(ev) != 1 || ev[0].Changes["role"].After != "readOnly" {
		t.Errorf("token creation: %+v", ev)
	}
}

// failingAudit is a store whose audit log refuses writes when fail is set.
type failingAudit struct {
	storage.Storage
	fail *atomic.Bool
}

var errAuditDown = errors.New("the audit log is unavailable")

func (s failingAudit) AppendAuditEvent(ctx context.Context, e audit.Event) error {
	if s.fail.Load() {
		return errAuditDown
	}
	return s.Storage.AppendAuditEvent(ctx, e)
}

// TestNoChangeWithoutItsAuditEvent: a change and its event are one
// transaction; when the event cannot be written the change does not
// happen either.
func TestNoChangeWithoutItsAuditEvent(t *testing.T) {
	var fail atomic.Bool
	f := newFixture(t, func(s storage.Storage) storage.Storage { return failingAudit{s, &fail} })
	ctx := tokenCtx(authz.TenantAdmin, f.t1.ID)
	fail.Store(true)
	if _, err := f.adm.CreateUser(ctx, f.t1.ID, directory.User{Username: "ghost", OrganizationID: f.orgs[f.t1.ID]}); !errors.Is(err, errAuditDown) {
		t.Fatalf("create: %v", err)
	}
	if _, err := f.st.GetUserByUsername(context.Background(), f.t1.ID, "ghost"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the user exists without its audit event: %v", err)
	}
	if _, err := f.adm.UpdateUser(ctx, f.t1.ID, f.user.ID, 0, func(u *directory.User) error { u.JobTitle = "Ghost"; return nil }); !errors.Is(err, errAuditDown) {
		t.Fatalf("update: %v", err)
	}
	if err := f.adm.DeleteUser(ctx, f.t1.ID, f.user.ID, 0); !errors.Is(err, errAuditDown) {
		t.Fatalf("delete: %v", err)
	}
	if u, err := f.st.GetUser(context.Background(), f.t1.ID, f.user.ID); err != nil || u.JobTitle == "Ghost" {
		t.Fatalf("the user changed without its audit event: %+v %v", u, err)
	}
	if err := f.sign.SetPassword(ctx, f.t1.ID, f.user.ID, "unaudited password"); !errors.Is(err, errAuditDown) {
		t.Fatalf("set password: %v", err)
	}
	if _, err := f.st.GetCredentials(context.Background(), f.t1.ID, f.user.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the password was set without its audit event: %v", err)
	}
	if _, _, err := f.adm.CreateAPIToken(ctx, f.t1.ID, "ghost", authz.ReadOnly); !errors.Is(err, errAuditDown) {
		t.Fatalf("token: %v", err)
	}
	if list, _ := f.st.ListAPITokens(context.Background(), f.t1.ID); len(list) != 0 {
		t.Fatalf("a token exists without its audit event: %+v", list)
	}
	res, err := f.adm.ImportUsers(ctx, f.t1.ID, []admin.ImportItem{{User: directory.User{Username: "imp", OrganizationID: f.orgs[f.t1.ID]}}})
	if err != nil || !errors.Is(res[0].Err, errAuditDown) {
		t.Fatalf("import: %v", res[0].Err)
	}
	if _, err := f.st.GetUserByUsername(context.Background(), f.t1.ID, "imp"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("an imported user exists without its audit event: %v", err)
	}
	fail.Store(false)
	if _, err := f.adm.CreateUser(ctx, f.t1.ID, directory.User{Username: "ghost", OrganizationID: f.orgs[f.t1.ID]}); err != nil {
		t.Fatal(err)
	}
}

// TestTokensCannotEscalate: a token never creates or deletes a token with
// more power or a wider scope than its own.
func TestTokensCannotEscalate(t *testing.T) {
	f := newFixture(t, nil)
	admin1, help1, ro1 := tokenCtx(authz.TenantAdmin, f.t1.ID), tokenCtx(authz.Helpdesk, f.t1.ID), tokenCtx(authz.ReadOnly, f.t1.ID)
	var denied *authz.DeniedError
	for _, role := range authz.Roles {
		for _, c := range []context.Context{help1, ro1} {
			if _, _, err := f.adm.CreateAPIToken(c, f.t1.ID, "x", role); !errors.As(err, &denied) {
				t.Errorf("helpdesk/read-only creates a %s token: %v", role, err)
			}
		}
	}
	if _, _, err := f.adm.CreateAPIToken(admin1, "", "x", authz.Global); !errors.As(err, &denied) {
		t.Errorf("tenant admin creates a global token: %v", err)
	}
	if _, _, err := f.adm.CreateAPIToken(admin1, f.t1.ID, "x", authz.Global); err == nil {
		t.Error("a global token limited to one tenant")
	}
	if _, _, err := f.adm.CreateAPIToken(admin1, f.t2.ID, "x", authz.ReadOnly); !errors.Is(err, authz.ErrOutOfScope) {
		t.Errorf("tenant admin creates a token in another tenant: %v", err)
	}
	for _, role := range []authz.Role{authz.TenantAdmin, authz.Helpdesk, authz.ReadOnly} {
		if _, tok, err := f.adm.CreateAPIToken(admin1, f.t1.ID, "ok", role); err != nil || tok.Role != role || tok.TenantID != f.t1.ID {
			t.Errorf("tenant admin creates a %s token: %v %+v", role, err, tok)
		}
	}
	// Deleting: never a token for all tenants, never another tenant's.
	_, global, _ := f.adm.CreateAPIToken(f.sys, "", "root", authz.Global)
	_, other, _ := f.adm.CreateAPIToken(f.sys, f.t2.ID, "other", authz.TenantAdmin)
	if err := f.adm.DeleteAPIToken(admin1, "", global.ID); !errors.As(err, &denied) {
		t.Errorf("tenant admin deletes the global token: %v", err)
	}
	if err := f.adm.DeleteAPIToken(admin1, f.t1.ID, global.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the global token reached through a tenant: %v", err)
	}
	if err := f.adm.DeleteAPIToken(admin1, f.t1.ID, other.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("another tenant's token: %v", err)
	}
	if list, _ := f.adm.ListAPITokens(ro1, f.t1.ID); len(list) != 3 {
		t.Errorf("read-only lists %d tokens", len(list))
	}
	if _, err := f.adm.ListAPITokens(help1, f.t1.ID); !errors.As(err, &denied) {
		t.Errorf("helpdesk lists tokens: %v", err)
	}
	if err := f.adm.DeleteAPIToken(tokenCtx(authz.Global, ""), "", global.ID); err != nil {
		t.Errorf("global deletes a global token: %v", err)
	}
}

// TestAuditScope: a tenant's principal reads only its tenant's events.
func TestAuditScope(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.adm.CreateGroup(f.sys, f.t2.ID, directory.Group{Name: "Other", Type: directory.GroupSecurity}); err != nil {
		t.Fatal(err)
	}
	help := tokenCtx(authz.Helpdesk, f.t1.ID)
	evs, _, err := f.adm.AuditEvents(help, audit.Filter{}, storage.Page{Limit: 1000})
	if err != nil || len(evs) == 0 {
		t.Fatalf("helpdesk reads its tenant's log: %v", err)
	}
	for _, e := range evs {
		if e.TenantID != f.t1.ID {
			t.Fatalf("a tenant's helpdesk sees %s of tenant %q", e.Action, e.TenantID)
		}
	}
	if _, _, err := f.adm.AuditEvents(help, audit.Filter{TenantID: f.t2.ID}, storage.Page{}); !errors.Is(err, authz.ErrOutOfScope) {
		t.Fatalf("another tenant's log: %v", err)
	}
	all, _, err := f.adm.AuditEvents(tokenCtx(authz.Global, ""), audit.Filter{}, storage.Page{Limit: 1000})
	if err != nil || len(all) <= len(evs) {
		t.Fatalf("global reads every tenant's log: %d events, %v", len(all), err)
	}
	n := 0
	err = f.adm.ExportAudit(help, audit.Filter{}, func(e audit.Event) error {
		if e.TenantID != f.t1.ID {
			t.Fatalf("export: event of tenant %q", e.TenantID)
		}
		n++
		return nil
	})
	if err != nil || n != len(evs) {
		t.Fatalf("export: %d events (list: %d), %v", n, len(evs), err)
	}
	var denied *authz.DeniedError
	if _, err := f.adm.PurgeAudit(tokenCtx(authz.TenantAdmin, f.t1.ID), 1); !errors.As(err, &denied) {
		t.Fatalf("a tenant admin purges the log: %v", err)
	}
}
