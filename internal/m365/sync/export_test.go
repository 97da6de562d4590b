package sync

import (
	"fmt"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/m365sim"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/syncrecord"
)

// TestExportCreatesAndRerunMakesNoWrite: users of both kinds of domain are
// created (federated: immutable id and no password; managed: a password),
// licensed after their usage location; the rerun with nothing changed
// makes zero writes (/_sim/stats).
func TestExportCreatesAndRerunMakesNoWrite(t *testing.T) {
	e := newEnv(t, envOpts{sync: apps.Sync{ExportEnabled: true, DefaultLicense: "ENTERPRISEPACK", UsageLocation: "US"}})
	alice := e.user("alice")
	fab := e.user("frank@fabrikam.com", func(u *directory.User) { u.UsageLocation = "DE" })
	e.user("out@elsewhere.example")
	r := e.run(RunOptions{})
	if r.State != syncrecord.RunDone || r.Counts.Failed != 0 || r.Counts.Done != 4 || r.Counts.ByKind["createUser"] != 2 {
		t.Fatalf("first run: %s %+v %q", r.State, r.Counts, r.Message)
	}
	if !hasIssue(r, "outOfDomain", "out@elsewhere.example", "office365.domains") {
		t.Fatalf("report: %+v", r.Report)
	}
	users := e.simUsers()
	a, f := users["alice@contoso.com"], users["frank@fabrikam.com"]
	if a["onPremisesImmutableId"] != alice.ImmutableID || f["onPremisesImmutableId"] != fab.ImmutableID || a["usageLocation"] != "US" || f["usageLocation"] != "DE" {
		t.Fatalf("exported: %v / %v", a, f)
	}
	if _, ok := users["out@elsewhere.example"]; ok {
		t.Fatal("a user outside the application's domains was exported")
	}
	for _, u := range []m365sim.SeedObject{a, f} {
		if lic := fmt.Sprint(u["assignedLicenses"]); strings.Count(lic, skuE3ID) != 1 {
			t.Fatalf("licences of %v: %#v", u["userPrincipalName"], u)
		}
	}
	e.sim.ResetStats()
	r = e.run(RunOptions{})
	st := e.sim.Stats()
	if r.State != syncrecord.RunDone || r.Counts.Planned != 0 || st.Requests.Writes != 0 {
		t.Fatalf("rerun: %s planned %d, %d writes", r.State, r.Counts.Planned, st.Requests.Writes)
	}
	// A rename reaches Microsoft 365 as that one attribute.
	if _, err := e.adm.UpdateUser(e.ctx, e.tenant.ID, alice.ID, 0, func(u *directory.User) error { u.DisplayName = "Alice Liddell"; return nil }); err != nil {
		t.Fatal(err)
	}
	e.sim.ResetStats()
	r = e.run(RunOptions{})
	ops := e.ops(r.ID, storage.OperationFilter{})
	if len(ops) != 1 || ops[0].Kind != syncrecord.OpUpdate || strings.Join(ops[0].Changes, ",") != "displayName" || e.sim.Stats().Requests.Writes != 1 {
		t.Fatalf("rename: %+v, %d writes", ops, e.sim.Stats().Requests.Writes)
	}
	if e.simUsers()["alice@contoso.com"]["displayName"] != "Alice Liddell" {
		t.Fatal("rename not exported")
	}
}

// TestSoftMatch links existing Microsoft 365 users by each mapping rule and
// sets their immutable id when empty; with "none" an existing UPN is a
// conflict, never a second user.
func TestSoftMatch(t *testing.T) {
	for _, tc := range []struct {
		rule   string
		remote m365sim.SeedObject
		upn    string // the Microsoft 365 user's UPN after the run
		linked bool
	}{
		{apps.MapUPN, m365sim.SeedObject{"userPrincipalName": "alice@contoso.com", "displayName": "Alice (cloud)", "password": "Xy1!abcdefgh"}, "alice@contoso.com", true},
		{apps.MapEmail, m365sim.SeedObject{"userPrincipalName": "a.liddell@contoso.com", "displayName": "Alice (cloud)", "password": "Xy1!abcdefgh", "mail": "alice@contoso.com"}, "alice@contoso.com", true},
		{apps.MapImmutableID, m365sim.SeedObject{"userPrincipalName": "old.alice@contoso.com", "displayName": "Alice (cloud)", "password": "Xy1!abcdefgh", "onPremisesImmutableId": "SET-BELOW"}, "alice@contoso.com", true},
		{apps.MapNone, m365sim.SeedObject{"userPrincipalName": "alice@contoso.com", "displayName": "Alice (cloud)", "password": "Xy1!abcdefgh"}, "alice@contoso.com", false},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			const imm = "QWxpY2UtaW1tdXRhYmxlLWlk"
			if tc.remote["onPremisesImmutableId"] != nil {
				tc.remote["onPremisesImmutableId"] = imm
			}
			e := newEnv(t, envOpts{sync: apps.Sync{ExportEnabled: true, UsernameMapping: tc.rule}, mutate: func(s *m365sim.SeedTenant) {
				s.Users = append(s.Users, tc.remote)
			}})
			e.user("alice", func(u *directory.User) { u.ImmutableID = imm })
			r := e.run(RunOptions{})
			users := e.simUsers()
			if len(users) != 1 {
				t.Fatalf("users in Microsoft 365: %d", len(users))
			}
			u, ok := users[tc.upn]
			if !ok {
				t.Fatalf("no %s: %v", tc.upn, users)
			}
			if !tc.linked {
				if !hasIssue(r, "conflict", "alice@contoso.com", "usernameMapping") || u["onPremisesImmutableId"] != nil {
					t.Fatalf("none: %+v, %v", r.Report, u)
				}
				return
			}
			ops := e.ops(r.ID, storage.OperationFilter{})
			if r.Counts.Failed != 0 || len(ops) != 1 || ops[0].Kind != syncrecord.OpLink || !strings.Contains(ops[0].Reason, "by "+tc.rule) {
				t.Fatalf("%s: %+v %+v", tc.rule, r.Counts, ops)
			}
			if u["onPremisesImmutableId"] != imm || u["displayName"] != "Given Alice" {
				t.Fatalf("linked user: %v", u)
			}
			l, err := e.store.GetSyncLink(e.ctx, e.tenant.ID, e.app.ID, syncrecord.KindUser, ops[0].LocalID)
			if err != nil || l.CreatedByPortico || l.RemoteID != ops[0].RemoteID {
				t.Fatalf("link %+v %v", l, err)
			}
		})
	}
}

// TestConflictingImmutableID: a Microsoft 365 user matched by UPN that
// carries another immutable id is reported and never overwritten; the rest
// of the run goes on.
func TestConflictingImmutableID(t *testing.T) {
	e := newEnv(t, envOpts{sync: apps.Sync{ExportEnabled: true}, mutate: func(s *m365sim.SeedTenant) {
		s.Users = append(s.Users, m365sim.SeedObject{"userPrincipalName": "alice@contoso.com", "displayName": "Alice", "password": "Xy1!abcdefgh", "onPremisesImmutableId": "T3RoZXJJZFAtaWQ="})
	}})
	e.user("alice")
	e.user("bob")
	r := e.run(RunOptions{})
	if !hasIssue(r, "conflict", "alice@contoso.com", "never overwritten") || r.Counts.Done != 1 {
		t.Fatalf("run: %+v %+v", r.Counts, r.Report)
	}
	users := e.simUsers()
	if users["alice@contoso.com"]["onPremisesImmutableId"] != "T3RoZXJJZFAtaWQ=" || users["bob@contoso.com"] == nil {
		t.Fatalf("users: %v", users)
	}
}

// TestLicenceWithoutSeats: when seats run out, those users' licence
// operations fail with a clear message and every other operation is done.
func TestLicenceWithoutSeats(t *testing.T) {
	e := newEnv(t, envOpts{seats: 2, sync: apps.Sync{ExportEnabled: true, DefaultLicense: "ENTERPRISEPACK", UsageLocation: "US"}})
	for _, n := range []string{"ann", "ben", "cat", "dan"} {
		e.user(n)
	}
	r := e.run(RunOptions{})
	failed := e.ops(r.ID, storage.OperationFilter{Result: syncrecord.OpFailed})
	if r.State != syncrecord.RunDone || r.Counts.Done != 6 || len(failed) != 2 {
		t.Fatalf("run %s %+v, failed %+v", r.State, r.Counts, failed)
	}
	for _, op := range failed {
		if op.Kind != syncrecord.OpAssignLicense || !strings.Contains(op.Error, "no licence") || !strings.Contains(op.Error, op.UPN) || op.RequestID == "" {
			t.Fatalf("failed operation: %+v", op)
		}
	}
	if len(e.simUsers()) != 4 {
		t.Fatal("users were not all created")
	}
}

// TestDeprovisioning: leaving the groups disables, coming back enables
// again; with "delete", only users Portico created are deleted, linked
// ones are disabled; suspension counts as leaving.
func TestDeprovisioning(t *testing.T) {
	e := newEnv(t, envOpts{sync: apps.Sync{ExportEnabled: true}, mutate: func(s *m365sim.SeedTenant) {
		s.Users = append(s.Users, m365sim.SeedObject{"userPrincipalName": "linked@contoso.com", "displayName": "Linked", "password": "Xy1!abcdefgh"})
	}})
	ann := e.user("ann")
	linked := e.user("linked")
	sue := e.user("sue")
	e.run(RunOptions{})
	enabled := func(upn string) any { return e.simUsers()[upn]["accountEnabled"] }

	if err := e.store.RemoveGroupMember(e.ctx, e.tenant.ID, e.group.ID, ann.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.adm.UpdateUser(e.ctx, e.tenant.ID, sue.ID, 0, func(u *directory.User) error { u.Status = directory.StatusSuspended; return nil }); err != nil {
		t.Fatal(err)
	}
	r := e.run(RunOptions{})
	if r.Counts.ByKind["disableUser"] != 2 || enabled("ann@contoso.com") != false || enabled("sue@contoso.com") != false || enabled("linked@contoso.com") != true {
		t.Fatalf("disable: %+v", r.Counts)
	}
	if err := e.store.AddGroupMember(e.ctx, e.tenant.ID, e.group.ID, ann.ID); err != nil {
		t.Fatal(err)
	}
	r = e.run(RunOptions{})
	if r.Counts.ByKind["enableUser"] != 1 || enabled("ann@contoso.com") != true {
		t.Fatalf("enable: %+v", r.Counts)
	}
	e.settings(func(s *apps.Sync) { s.DeprovisionAction = apps.DeprovisionDelete })
	for _, u := range []directory.User{ann, linked} {
		if err := e.store.RemoveGroupMember(e.ctx, e.tenant.ID, e.group.ID, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	r = e.run(RunOptions{})
	users := e.simUsers()
	if r.Counts.ByKind["deleteUser"] != 1 || users["ann@contoso.com"] != nil || users["linked@contoso.com"]["accountEnabled"] != false {
		t.Fatalf("delete: %+v %v", r.Counts, users)
	}
	if _, err := e.store.GetSyncLink(e.ctx, e.tenant.ID, e.app.ID, syncrecord.KindUser, ann.ID); err == nil {
		t.Fatal("the deleted user's link was kept")
	}
}

// TestDriftPutBack: an attribute Portico owns, changed in Microsoft 365, is
// put back on the next run and the operation says so.
func TestDriftPutBack(t *testing.T) {
	e := newEnv(t, envOpts{sync: apps.Sync{ExportEnabled: true}})
	e.user("ann")
	e.run(RunOptions{})
	id := e.simUsers()["ann@contoso.com"]["id"].(string)
	e.graphDo("PATCH", "/users/"+id, map[string]any{"displayName": "Changed in the portal", "jobTitle": "Boss"})
	r := e.run(RunOptions{})
	ops := e.ops(r.ID, storage.OperationFilter{})
	if len(ops) != 1 || !strings.Contains(ops[0].Reason, "drift") || strings.Join(ops[0].Changes, ",") != "displayName,jobTitle" {
		t.Fatalf("drift: %+v", ops)
	}
	u := e.simUsers()["ann@contoso.com"]
	if u["displayName"] != "Given Ann" || u["jobTitle"] != nil {
		t.Fatalf("not put back: %v", u)
	}
}

// TestDryRunAndStaging touch nothing in Microsoft 365 and record the plan.
func TestDryRunAndStaging(t *testing.T) {
	e := newEnv(t, envOpts{sync: apps.Sync{ExportEnabled: false}})
	e.user("ann")
	e.user("ben")
	e.sim.ResetStats()
	r := e.run(RunOptions{DryRun: true})
	if r.State != syncrecord.RunDone || r.Counts.Planned != 2 || e.sim.Stats().Requests.Writes != 0 || len(e.simUsers()) != 0 {
		t.Fatalf("dry run: %+v, %d writes", r.Counts, e.sim.Stats().Requests.Writes)
	}
	if _, err := e.svc.Run(e.ctx, e.tenant.ID, e.app.ID, RunOptions{}); err != ErrExportDisabled {
		t.Fatalf("a real run with the export off: %v", err)
	}
	e.settings(func(s *apps.Sync) { s.ExportEnabled, s.Staging = true, true })
	r = e.run(RunOptions{})
	ops := e.ops(r.ID, storage.OperationFilter{Result: syncrecord.OpSkipped})
	if !r.DryRun || len(ops) != 2 || !strings.Contains(r.Message, "staging") || e.sim.Stats().Requests.Writes != 0 {
		t.Fatalf("staging: %+v %q", r, r.Message)
	}
}

// TestDeleteThreshold stops a run before any disable, says how many and
// how to go on; allowDeletes N lets it through.
func TestDeleteThreshold(t *testing.T) {
	three := 2
	e := newEnv(t, envOpts{sync: apps.Sync{ExportEnabled: true, DeleteThreshold: &three}})
	var users []directory.User
	for _, n := range []string{"ann", "ben", "cat", "dan"} {
		users = append(users, e.user(n))
	}
	e.run(RunOptions{})
	for _, u := range users[:3] {
		if err := e.store.RemoveGroupMember(e.ctx, e.tenant.ID, e.group.ID, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	e.user("eve")
	e.sim.ResetStats()
	r := e.run(RunOptions{})
	if r.State != syncrecord.RunStoppedByThreshold || !strings.Contains(r.Message, "disable or delete 3 users") || !strings.Contains(r.Message, "allowDeletes 3") ||
		e.sim.Stats().Requests.Writes != 0 {
		t.Fatalf("threshold: %s %q, %d writes", r.State, r.Message, e.sim.Stats().Requests.Writes)
	}
	r = e.run(RunOptions{AllowDeletes: 3})
	if r.State != syncrecord.RunDone || r.Counts.ByKind["disableUser"] != 3 || r.Counts.Failed != 0 {
		t.Fatalf("allowed: %s %+v", r.State, r.Counts)
	}
}
