package conformance

import (
	"context"
	"fmt"
	"testing"

	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/syncrecord"
)

// testSync covers sync links and runs: upsert and paging of links, the
// run's compare-and-swap, operations paged and filtered, outcomes recorded
// together with their links, tenant isolation and the cascade from the
// application.
func testSync(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "sync")
	other := mustTenant(t, s, "sync-other")
	p := mustPolicy(t, s, tn.ID, "MFA", authn.FactorTOTP)
	a := newApp(tn.ID, p.ID)
	ok(t, s.CreateApplication(ctx, a))

	// Links: insert, replace, page in local id order.
	for i := 5; i >= 1; i-- {
		ok(t, s.PutSyncLink(ctx, syncrecord.Link{TenantID: tn.ID, AppID: a.ID, Kind: syncrecord.KindUser,
			LocalID: fmt.Sprintf("local-%d", i), RemoteID: fmt.Sprintf("remote-%d", i), CreatedByPortico: i%2 == 0,
			Fingerprint: "f1", LastResult: "created", LastRunID: "r0", UpdatedAt: now()}))
	}
	ok(t, s.PutSyncLink(ctx, syncrecord.Link{TenantID: tn.ID, AppID: a.ID, Kind: syncrecord.KindUser, LocalID: "local-2",
		RemoteID: "remote-2", CreatedByPortico: true, Fingerprint: "f2", LicenseSkuID: "sku", DisabledByPortico: true,
		LastResult: "updated", LastRunID: "r1", UpdatedAt: now()}))
	l, err := s.GetSyncLink(ctx, tn.ID, a.ID, syncrecord.KindUser, "local-2")
	ok(t, err)
	if l.Fingerprint != "f2" || !l.CreatedByPortico || l.LicenseSkuID != "sku" || !l.DisabledByPortico || l.LastRunID != "r1" || l.RemoteID != "remote-2" {
		t.Fatalf("replaced link = %+v", l)
	}
	_, err = s.GetSyncLink(ctx, other.ID, a.ID, syncrecord.KindUser, "local-2")
	wantIs(t, err, storage.ErrNotFound)
	var seen []string
	cursor := ""
	for {
		page, next, err := s.ListSyncLinks(ctx, tn.ID, a.ID, syncrecord.KindUser, storage.Page{Limit: 2, Cursor: cursor})
		ok(t, err)
		for _, l := range page {
			seen = append(seen, l.LocalID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	eqSlice(t, "links in order", seen, []string{"local-1", "local-2", "local-3", "local-4", "local-5"})
	_, _, err = s.ListSyncLinks(ctx, tn.ID, a.ID, syncrecord.KindUser, storage.Page{Cursor: "garbage!"})
	wantIs(t, err, storage.ErrInvalidCursor)

	// Runs: create, CAS update, newest first.
	var runIDs []string
	for i := 0; i < 3; i++ {
		r := syncrecord.Run{ID: newID(), TenantID: tn.ID, AppID: a.ID, Trigger: syncrecord.TriggerManual, DryRun: i == 1,
			State: syncrecord.RunPlanned, CreatedAt: now()}
		ok(t, s.CreateSyncRun(ctx, r))
		runIDs = append(runIDs, r.ID)
	}
	wantReference(t, s.CreateSyncRun(ctx, syncrecord.Run{ID: newID(), TenantID: tn.ID, AppID: newID(), State: syncrecord.RunPlanned, CreatedAt: now()}), "applicationId")
	got, err := s.GetSyncRun(ctx, tn.ID, runIDs[1])
	ok(t, err)
	if !got.DryRun || got.State != syncrecord.RunPlanned || got.Version != 1 || !got.StartedAt.IsZero() {
		t.Fatalf("run = %+v", got)
	}
	started := now()
	upd, err := s.UpdateSyncRun(ctx, tn.ID, runIDs[0], func(r syncrecord.Run) (syncrecord.Run, error) {
		r.State, r.StartedAt, r.AllowDeletes = syncrecord.RunRunning, started, 7
		r.Counts = syncrecord.Counts{Planned: 3, ByKind: map[string]int{"createUser": 3}, Done: 1}
		r.AddIssue(syncrecord.Issue{Subject: "office365.sync.defaultLicense", Code: "setting", Message: "unknown"})
		r.Message = "running"
		return r, nil
	})
	ok(t, err)
	eq(t, "version", upd.Version, int64(2))
	got, err = s.GetSyncRun(ctx, tn.ID, runIDs[0])
	ok(t, err)
	if got.State != syncrecord.RunRunning || !got.StartedAt.Equal(started) || got.AllowDeletes != 7 || got.Counts.ByKind["createUser"] != 3 ||
		got.Counts.Reported != 1 || len(got.Report) != 1 || got.Report[0].Subject != "office365.sync.defaultLicense" || got.Message != "running" {
		t.Fatalf("updated run = %+v", got)
	}
	// A stale writer loses.
	_, err = s.UpdateSyncRun(ctx, tn.ID, runIDs[0], func(r syncrecord.Run) (syncrecord.Run, error) {
		_, err := s.UpdateSyncRun(ctx, tn.ID, runIDs[0], func(r syncrecord.Run) (syncrecord.Run, error) {
			r.CancelRequested = true
			return r, nil
		})
		ok(t, err)
		r.State = syncrecord.RunDone
		return r, nil
	})
	wantIs(t, err, storage.ErrConflict)
	_, err = s.UpdateSyncRun(ctx, other.ID, runIDs[0], func(r syncrecord.Run) (syncrecord.Run, error) { return r, nil })
	wantIs(t, err, storage.ErrNotFound)
	runs, next, err := s.ListSyncRuns(ctx, tn.ID, a.ID, storage.Page{Limit: 2})
	ok(t, err)
	if len(runs) != 2 || runs[0].ID != runIDs[2] || runs[1].ID != runIDs[1] || next == "" {
		t.Fatalf("first page of runs: %d, next %q", len(runs), next)
	}
	runs, next, err = s.ListSyncRuns(ctx, tn.ID, a.ID, storage.Page{Limit: 2, Cursor: next})
	ok(t, err)
	if len(runs) != 1 || runs[0].ID != runIDs[0] || next != "" || !runs[0].CancelRequested {
		t.Fatalf("second page of runs: %+v, next %q", runs, next)
	}

	// Operations: add, page, filter.
	run := runIDs[0]
	var ops []syncrecord.Operation
	for i := 1; i <= 5; i++ {
		kind := syncrecord.OpCreate
		if i > 3 {
			kind = syncrecord.OpDisable
		}
		ops = append(ops, syncrecord.Operation{Seq: i, Kind: kind, LocalID: fmt.Sprintf("local-%d", i), UPN: fmt.Sprintf("u%d@contoso.com", i),
			Reason: "new in scope", Changes: []string{"displayName", "accountEnabled"}, UpdatedAt: now()})
	}
	ok(t, s.AddSyncOperations(ctx, tn.ID, run, ops))
	var seqs []string
	cursor = ""
	for {
		page, next, err := s.ListSyncOperations(ctx, tn.ID, run, storage.OperationFilter{}, storage.Page{Limit: 2, Cursor: cursor})
		ok(t, err)
		for _, op := range page {
			seqs = append(seqs, fmt.Sprint(op.Seq))
			if op.Result != syncrecord.OpPending || len(op.Changes) != 2 || op.Reason != "new in scope" {
				t.Fatalf("operation = %+v", op)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	eqSlice(t, "operations", seqs, []string{"1", "2", "3", "4", "5"})
	page, _, err := s.ListSyncOperations(ctx, tn.ID, run, storage.OperationFilter{Kind: syncrecord.OpDisable}, storage.Page{})
	ok(t, err)
	eq(t, "disable operations", len(page), 2)
	page, _, err = s.ListSyncOperations(ctx, other.ID, run, storage.OperationFilter{}, storage.Page{})
	ok(t, err)
	eq(t, "operations seen from another tenant", len(page), 0)

	// Outcomes with their links, all or nothing.
	ok(t, s.RecordSyncOutcomes(ctx, tn.ID, a.ID, run, []syncrecord.OpOutcome{
		{Seq: 1, Result: syncrecord.OpDone, RemoteID: "new-remote-1", UpdatedAt: now(),
			Link: &syncrecord.Link{Kind: syncrecord.KindUser, LocalID: "local-9", RemoteID: "new-remote-1", CreatedByPortico: true, LastResult: "created", UpdatedAt: now()}},
		{Seq: 2, Result: syncrecord.OpFailed, Error: "no seats", RequestID: "req-2", UpdatedAt: now()},
		{Seq: 4, Result: syncrecord.OpDone, DropLink: true, Kind: syncrecord.KindUser, LocalID: "local-1", UpdatedAt: now()},
	}))
	l, err = s.GetSyncLink(ctx, tn.ID, a.ID, syncrecord.KindUser, "local-9")
	ok(t, err)
	eq(t, "recorded link", l.RemoteID, "new-remote-1")
	_, err = s.GetSyncLink(ctx, tn.ID, a.ID, syncrecord.KindUser, "local-1")
	wantIs(t, err, storage.ErrNotFound)
	page, _, err = s.ListSyncOperations(ctx, tn.ID, run, storage.OperationFilter{Result: syncrecord.OpFailed}, storage.Page{})
	ok(t, err)
	if len(page) != 1 || page[0].Seq != 2 || page[0].Error != "no seats" || page[0].RequestID != "req-2" {
		t.Fatalf("failed operations = %+v", page)
	}
	page, _, err = s.ListSyncOperations(ctx, tn.ID, run, storage.OperationFilter{Result: syncrecord.OpDone}, storage.Page{})
	ok(t, err)
	if len(page) != 2 || page[0].RemoteID != "new-remote-1" {
		t.Fatalf("done operations = %+v", page)
	}
	// An outcome for an operation that does not exist rolls back the whole
	// record, link included.
	err = s.RecordSyncOutcomes(ctx, tn.ID, a.ID, run, []syncrecord.OpOutcome{
		{Seq: 3, Result: syncrecord.OpDone, UpdatedAt: now(), Link: &syncrecord.Link{Kind: syncrecord.KindUser, LocalID: "local-10", RemoteID: "x", UpdatedAt: now()}},
		{Seq: 99, Result: syncrecord.OpDone, UpdatedAt: now()},
	})
	wantIs(t, err, storage.ErrNotFound)
	_, err = s.GetSyncLink(ctx, tn.ID, a.ID, syncrecord.KindUser, "local-10")
	wantIs(t, err, storage.ErrNotFound)

	// Deleting the application deletes its links and runs.
	ok(t, s.DeleteApplication(ctx, tn.ID, a.ID))
	_, err = s.GetSyncRun(ctx, tn.ID, run)
	wantIs(t, err, storage.ErrNotFound)
	links, _, err := s.ListSyncLinks(ctx, tn.ID, a.ID, syncrecord.KindUser, storage.Page{})
	ok(t, err)
	eq(t, "links after the application is deleted", len(links), 0)
}
