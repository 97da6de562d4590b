package sync

import (
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/syncrecord"
)

// TestBadInput: each problem is a clear message naming the setting or the
// user in the run report, and the rest of the run goes on.
func TestBadInput(t *testing.T) {
	t.Run("app registration without User.ReadWrite.All", func(t *testing.T) {
		e := newEnv(t, envOpts{clientID: readOnlyApp, sync: apps.Sync{ExportEnabled: true}})
		e.user("ann")
		e.user("ben")
		r := e.run(RunOptions{})
		if !hasIssue(r, "permission", "office365.clientId", "User.ReadWrite.All") {
			t.Fatalf("report: %+v", r.Report)
		}
		failed := e.ops(r.ID, storage.OperationFilter{Result: syncrecord.OpFailed})
		if r.State != syncrecord.RunDone || len(failed) != 2 || !strings.Contains(failed[0].Error, "User.ReadWrite.All") || failed[0].RequestID == "" {
			t.Fatalf("run %s %+v: %+v", r.State, r.Counts, failed)
		}
	})
	t.Run("unknown SKU", func(t *testing.T) {
		e := newEnv(t, envOpts{sync: apps.Sync{ExportEnabled: true, DefaultLicense: "ENTERPRISEPAK", UsageLocation: "US"}})
		e.user("ann")
		r := e.run(RunOptions{})
		if !hasIssue(r, "setting", "office365.sync.defaultLicense", "ENTERPRISEPACK, STANDARDPACK") || r.Counts.Done != 1 || e.simUsers()["ann@contoso.com"] == nil {
			t.Fatalf("run %+v: %+v", r.Counts, r.Report)
		}
	})
	t.Run("usage location that is not a country", func(t *testing.T) {
		e := newEnv(t, envOpts{sync: apps.Sync{ExportEnabled: true, DefaultLicense: "ENTERPRISEPACK"}})
		e.user("ann")
		e.user("ben", func(u *directory.User) { u.UsageLocation = "DE" })
		// Stored before validation existed (the API refuses it now).
		if _, err := e.store.UpdateApplication(e.ctx, e.tenant.ID, e.app.ID, func(a apps.Application) (apps.Application, error) {
			a.Office365.Sync.UsageLocation = "XX"
			return a, nil
		}); err != nil {
			t.Fatal(err)
		}
		r := e.run(RunOptions{})
		if !hasIssue(r, "setting", "office365.sync.usageLocation", `"XX" is not an ISO 3166-1`) || !hasIssue(r, "licence", "ann@contoso.com", "no usage location") ||
			r.Counts.Failed != 0 || r.Counts.Done != 3 {
			t.Fatalf("run %+v: %+v", r.Counts, r.Report)
		}
		users := e.simUsers()
		if users["ann@contoso.com"]["usageLocation"] != nil || !strings.Contains(strings.ToLower(users["ben@contoso.com"]["usageLocation"].(string)), "de") {
			t.Fatalf("users: %v", users)
		}
	})
	t.Run("a 300-character name", func(t *testing.T) {
		e := newEnv(t, envOpts{sync: apps.Sync{ExportEnabled: true}})
		e.user("ann")
		long := e.user("long")
		// Stored directly: the directory's own validation refuses it today.
		if _, err := e.store.UpdateUser(e.ctx, e.tenant.ID, long.ID, func(u directory.User) (directory.User, error) {
			u.DisplayName = strings.Repeat("x", 300)
			return u, nil
		}); err != nil {
			t.Fatal(err)
		}
		r := e.run(RunOptions{})
		if !hasIssue(r, "invalidUser", "long@contoso.com", "displayName has 300 characters") || r.Counts.Done != 1 || len(e.simUsers()) != 1 {
			t.Fatalf("run %+v: %+v", r.Counts, r.Report)
		}
	})
	t.Run("UPN domain not in the tenant", func(t *testing.T) {
		e := newEnv(t, envOpts{sync: apps.Sync{ExportEnabled: true}})
		e.settings(func(*apps.Sync) {})
		a, err := e.adm.UpdateApplication(e.ctx, e.tenant.ID, e.app.ID, 0, func(a *apps.Application) error {
			a.Office365.Domains = append(a.Office365.Domains, apps.Domain{Name: "notintenant.example"})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		e.app = a
		e.user("ann")
		e.user("zed@notintenant.example")
		r := e.run(RunOptions{})
		if !hasIssue(r, "outOfDomain", "zed@notintenant.example", "not a verified domain") || r.Counts.Done != 1 {
			t.Fatalf("run %+v: %+v", r.Counts, r.Report)
		}
	})
}
