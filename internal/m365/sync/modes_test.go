package sync

import (
	"testing"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/m365sim"
	"github.com/portico-idp/portico/internal/syncrecord"
)

// TestMicrosoftOnlineMode: in Microsoft Online mode the export signs in
// with the administrator's password and the report carries Microsoft's
// deprecation; with "Use graph for synchronization" it uses the app
// registration and the warning goes away.
func TestMicrosoftOnlineMode(t *testing.T) {
	e := newEnv(t, envOpts{sync: apps.Sync{ExportEnabled: true}, mutate: func(s *m365sim.SeedTenant) {
		s.Apps = append(s.Apps, m365sim.SeedApp{ClientID: apps.AzureADPowerShellClientID, DisplayName: "Azure Active Directory PowerShell",
			DelegatedPermissions: []string{"User.ReadWrite.All", "Directory.ReadWrite.All", "Domain.ReadWrite.All"}})
		s.Users = append(s.Users, m365sim.SeedObject{"userPrincipalName": "admin@contoso.onmicrosoft.com", "displayName": "Admin",
			"password": "Admin-pass-1", "directoryRoles": []any{"Global Administrator"}})
	}})
	a, err := e.adm.UpdateApplication(e.ctx, e.tenant.ID, e.app.ID, 0, func(a *apps.Application) error {
		a.Office365.Mode = apps.ModeMSOnline
		a.Office365.MSOnlineUsername = "admin@contoso.onmicrosoft.com"
		a.Office365.MSOnlinePasswordInput = "Admin-pass-1"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.app = a
	e.user("ann")
	r := e.run(RunOptions{})
	if r.State != syncrecord.RunDone || r.Counts.Done != 1 || !hasIssue(r, "warning", "office365.mode", "deprecated") {
		t.Fatalf("Microsoft Online run: %s %+v %+v %q", r.State, r.Counts, r.Report, r.Message)
	}
	a, err = e.adm.UpdateApplication(e.ctx, e.tenant.ID, e.app.ID, 0, func(a *apps.Application) error {
		a.Office365.UseGraphForSync = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.app = a
	e.user("ben")
	r = e.run(RunOptions{})
	if r.State != syncrecord.RunDone || r.Counts.Done != 1 || len(r.Report) != 0 {
		t.Fatalf("Microsoft Online with Graph for sync: %s %+v %+v", r.State, r.Counts, r.Report)
	}
	if len(e.simUsers()) != 3 {
		t.Fatalf("users: %v", e.simUsers())
	}
}
