package conformance

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
)

var errBoom = errors.New("boom")

// testAtomically: everything done with the context Atomically gives is one
// transaction — a change and its audit event commit or vanish together.
func testAtomically(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	event := func(tenantID, action string) audit.Event {
		return audit.Event{ID: newID(), Time: now(), TenantID: tenantID, Actor: audit.Actor{Kind: "system", ID: "test"},
			Action: action, Object: audit.Object{Type: "tenant", ID: tenantID}, Outcome: audit.Success}
	}
	// Commit: the change, a read of it inside, and the event.
	var committed directory.Tenant
	ok(t, s.Atomically(ctx, func(ctx context.Context) error {
		committed = directory.Tenant{ID: newID(), Slug: "atomic-ok", Name: "A", CreatedAt: now(), UpdatedAt: now()}
		if err := s.CreateTenant(ctx, committed); err != nil {
			return err
		}
		if _, err := s.GetTenant(ctx, committed.ID); err != nil {
			return err
		}
		org := directory.Organization{ID: newID(), TenantID: committed.ID, Name: "Default", CreatedAt: now(), UpdatedAt: now()}
		if err := s.CreateOrganization(ctx, org); err != nil {
			return err
		}
		u := userFor(committed.ID, org, "ann")
		if err := s.CreateUser(ctx, u); err != nil {
			return err
		}
		if _, err := s.UpdateUser(ctx, committed.ID, u.ID, func(u directory.User) (directory.User, error) {
			u.JobTitle = "Boss"
			return u, nil
		}); err != nil {
			return err
		}
		if errs := s.CreateUsers(ctx, []storage.NewUser{{User: userFor(committed.ID, org, "bob")}}); errs[0] != nil {
			return errs[0]
		}
		return s.AppendAuditEvent(ctx, event(committed.ID, "tenant.create"))
	}))
	_, err := s.GetTenant(ctx, committed.ID)
	ok(t, err)
	users, _, err := s.ListUsers(ctx, committed.ID, storage.UserFilter{}, storage.Page{})
	ok(t, err)
	eqSlice(t, "users created atomically", usernames(users), []string{"ann", "bob"})
	eq(t, "updated inside", users[0].JobTitle, "Boss")
	evs, _, err := s.ListAuditEvents(ctx, audit.Filter{TenantID: committed.ID}, storage.Page{})
	ok(t, err)
	eq(t, "events committed", len(evs), 1)

	// Rollback: an error from fn leaves neither the change nor its event;
	// a nested Atomically joins the outer transaction and goes with it.
	var gone directory.Tenant
	err = s.Atomically(ctx, func(ctx context.Context) error {
		gone = directory.Tenant{ID: newID(), Slug: "atomic-gone", Name: "G", CreatedAt: now(), UpdatedAt: now()}
		if err := s.Atomically(ctx, func(ctx context.Context) error {
			if err := s.CreateTenant(ctx, gone); err != nil {
				return err
			}
			return s.AppendAuditEvent(ctx, event(gone.ID, "tenant.create"))
		}); err != nil {
			return err
		}
		if err := s.DeleteUser(ctx, committed.ID, users[0].ID); err != nil {
			return err
		}
		return errBoom
	})
	wantIs(t, err, errBoom)
	_, err = s.GetTenant(ctx, gone.ID)
	wantIs(t, err, storage.ErrNotFound)
	_, err = s.GetUser(ctx, committed.ID, users[0].ID)
	ok(t, err)
	evs, _, err = s.ListAuditEvents(ctx, audit.Filter{TenantID: gone.ID}, storage.Page{})
	ok(t, err)
	eq(t, "events rolled back", len(evs), 0)

	// A storage error inside (a duplicate slug) fails the whole unit.
	err = s.Atomically(ctx, func(ctx context.Context) error {
		if err := s.AppendAuditEvent(ctx, event(committed.ID, "tenant.create")); err != nil {
			return err
		}
		return s.CreateTenant(ctx, directory.Tenant{ID: newID(), Slug: "atomic-ok", Name: "dup", CreatedAt: now(), UpdatedAt: now()})
	})
	wantDuplicate(t, err, "slug")
	evs, _, err = s.ListAuditEvents(ctx, audit.Filter{TenantID: committed.ID}, storage.Page{})
	ok(t, err)
	eq(t, "events after a failed unit", len(evs), 1)
}

func testAuditEvents(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	base := now().Add(-time.Hour)
	a, b := newID(), newID()
	var all []audit.Event
	add := func(tenantID, action string, outcome audit.Outcome, obj audit.Object, actor string) audit.Event {
		e := audit.Event{ID: newID(), Time: base.Add(time.Duration(len(all)) * time.Minute), TenantID: tenantID,
			Actor:  audit.Actor{Kind: "apiToken", ID: "tok-" + actor, Name: actor, Role: "tenantAdmin"},
			Action: action, Object: obj, Outcome: outcome, Address: "192.0.2.7", UserAgent: "curl/8", RequestID: "req-" + action}
		ok(t, s.AppendAuditEvent(ctx, e))
		all = append(all, e)
		return e
	}
	uid := newID()
	first := add(a, "user.create", audit.Success, audit.Object{Type: "user", ID: uid, Name: "ann"}, "ci")
	first.Changes = nil
	upd := audit.Event{ID: newID(), Time: base.Add(time.Minute), TenantID: a, Actor: audit.Actor{Kind: "operator", ID: "root", Name: "root"},
		Action: "user.update", Object: audit.Object{Type: "user", ID: uid, Name: "ann"}, Outcome: audit.Success,
		Changes: map[string]audit.Change{"jobTitle": {Before: "Engineer", After: "Boss"}, "office365.msOnlinePassword": {Before: nil, After: audit.Redacted}},
		Details: map[string]any{"factors": []any{"password", "totp"}}}
	ok(t, s.AppendAuditEvent(ctx, upd))
	all = append(all, upd)
	add(a, "signin", audit.Failure, audit.Object{Type: "user", Name: "nobody"}, "user")
	add(b, "group.create", audit.Success, audit.Object{Type: "group", ID: newID(), Name: "Sales"}, "other")
	add("", "token.create", audit.Success, audit.Object{Type: "apiToken", ID: newID(), Name: "root"}, "ci")

	ids := func(evs []audit.Event) []string {
		out := make([]string, len(evs))
		for i, e := range evs {
			out[i] = e.Action
		}
		return out
	}
	list := func(f audit.Filter) []string {
		t.Helper()
		evs, _, err := s.ListAuditEvents(ctx, f, storage.Page{})
		ok(t, err)
		return ids(evs)
	}
	eqSlice(t, "all, newest first", list(audit.Filter{}), []string{"token.create", "group.create", "signin", "user.update", "user.create"})
	eqSlice(t, "oldest first", list(audit.Filter{Oldest: true}), []string{"user.create", "user.update", "signin", "group.create", "token.create"})
	eqSlice(t, "tenant a", list(audit.Filter{TenantID: a}), []string{"signin", "user.update", "user.create"})
	eqSlice(t, "since/until", list(audit.Filter{Since: base.Add(time.Minute), Until: base.Add(3 * time.Minute)}), []string{"signin", "user.update"})
	eqSlice(t, "actor by name", list(audit.Filter{Actor: "ci"}), []string{"token.create", "user.create"})
	eqSlice(t, "actor by id", list(audit.Filter{Actor: "tok-other"}), []string{"group.create"})
	eqSlice(t, "action", list(audit.Filter{Action: "user.update"}), []string{"user.update"})
	eqSlice(t, "action prefix", list(audit.Filter{Action: "user.*"}), []string{"user.update", "user.create"})
	eqSlice(t, "object type", list(audit.Filter{ObjectType: "group"}), []string{"group.create"})
	eqSlice(t, "object id", list(audit.Filter{ObjectID: uid}), []string{"user.update", "user.create"})
	eqSlice(t, "user by id", list(audit.Filter{User: uid}), []string{"user.update", "user.create"})
	eqSlice(t, "user by name typed", list(audit.Filter{User: "NoBody"}), []string{"signin"})
	eqSlice(t, "outcome", list(audit.Filter{Outcome: audit.Failure}), []string{"signin"})

	// Everything an event holds comes back.
	evs, _, err := s.ListAuditEvents(ctx, audit.Filter{Action: "user.update"}, storage.Page{})
	ok(t, err)
	got := evs[0]
	eq(t, "id", got.ID, upd.ID)
	eq(t, "time", got.Time.Equal(upd.Time), true)
	eq(t, "tenant", got.TenantID, a)
	eq(t, "actor", got.Actor, upd.Actor)
	eq(t, "object", got.Object, upd.Object)
	eq(t, "change before", got.Changes["jobTitle"].Before, any("Engineer"))
	eq(t, "change after", got.Changes["jobTitle"].After, any("Boss"))
	eq(t, "redacted", got.Changes["office365.msOnlinePassword"].After, any(audit.Redacted))
	eq(t, "unset secret", got.Changes["office365.msOnlinePassword"].Before, nil)
	eq(t, "details", len(got.Details["factors"].([]any)), 2)
	evs, _, err = s.ListAuditEvents(ctx, audit.Filter{Action: "user.create"}, storage.Page{})
	ok(t, err)
	eq(t, "address", evs[0].Address, "192.0.2.7")
	eq(t, "user agent", evs[0].UserAgent, "curl/8")
	eq(t, "request id", evs[0].RequestID, "req-user.create")
	eq(t, "outcome", evs[0].Outcome, audit.Success)
	eq(t, "no changes", len(evs[0].Changes), 0)
	evs, _, err = s.ListAuditEvents(ctx, audit.Filter{Action: "token.create"}, storage.Page{})
	ok(t, err)
	eq(t, "installation-wide", evs[0].TenantID, "")

	// Cursor paging, both directions, visits each event once.
	for _, oldest := range []bool{false, true} {
		var seen []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			evs, next, err := s.ListAuditEvents(ctx, audit.Filter{Oldest: oldest}, storage.Page{Limit: 2, Cursor: cursor})
			ok(t, err)
			seen = append(seen, ids(evs)...)
			if next == "" {
				break
			}
			cursor = next
		}
		eqSlice(t, "paged", seen, list(audit.Filter{Oldest: oldest}))
	}
	_, _, err = s.ListAuditEvents(ctx, audit.Filter{}, storage.Page{Cursor: "garbage!"})
	wantIs(t, err, storage.ErrInvalidCursor)
}

// testAuditAppendOnly: the database refuses to change an event or to
// delete one younger than the retention, whoever asks; the purge deletes
// only older events.
func testAuditAppendOnly(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	raw, isSQL := s.(interface{ DB() *sql.DB })
	if !isSQL {
		t.Skip("not an SQL backend")
	}
	db := raw.DB()
	ev := func(age time.Duration) audit.Event {
		e := audit.Event{ID: newID(), Time: now().Add(-age), Actor: audit.Actor{Kind: "system", ID: "test"}, Action: "test",
			Outcome: audit.Success}
		ok(t, s.AppendAuditEvent(ctx, e))
		return e
	}
	count := func() int {
		t.Helper()
		var n int
		ok(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_events").Scan(&n))
		return n
	}
	recent := ev(time.Hour)
	ev(400 * 24 * time.Hour)
	ev(800 * 24 * time.Hour)

	if _, err := db.ExecContext(ctx, "UPDATE audit_events SET action = 'forged' WHERE id = '"+recent.ID+"'"); err == nil {
		t.Fatal("UPDATE of an audit event succeeded")
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM audit_events WHERE id = '"+recent.ID+"'"); err == nil {
		t.Fatal("DELETE of a recent audit event succeeded")
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM audit_events"); err == nil {
		t.Fatal("DELETE of every audit event succeeded")
	}
	db.ExecContext(ctx, "TRUNCATE TABLE audit_events") // PostgreSQL's trigger refuses; SQLite has no TRUNCATE
	eq(t, "events after the refused statements", count(), 3)
	evs, _, err := s.ListAuditEvents(ctx, audit.Filter{Action: "test"}, storage.Page{})
	ok(t, err)
	eq(t, "unchanged action", evs[0].Action, "test")

	_, err = s.PurgeAuditEvents(ctx, 0)
	if err == nil {
		t.Fatal("a retention of zero days was accepted")
	}
	n, err := s.PurgeAuditEvents(ctx, 365)
	ok(t, err)
	eq(t, "purged with 365 days", n, int64(2))
	eq(t, "left", count(), 1)
	// With the retention now at one day, a two-day-old event goes, and the
	// guard still keeps the recent one.
	ev(48 * time.Hour)
	n, err = s.PurgeAuditEvents(ctx, 1)
	ok(t, err)
	eq(t, "purged with 1 day", n, int64(1))
	evs, _, err = s.ListAuditEvents(ctx, audit.Filter{}, storage.Page{})
	ok(t, err)
	eq(t, "the recent event stays", len(evs) == 1 && evs[0].ID == recent.ID, true)
	if _, err := db.ExecContext(ctx, "DELETE FROM audit_events WHERE id = '"+recent.ID+"'"); err == nil {
		t.Fatal("DELETE of a recent audit event succeeded after a purge")
	}
}
