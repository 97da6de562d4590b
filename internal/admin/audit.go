package admin

import (
	"context"
	"fmt"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
)

// event starts an audit event of the call in ctx.
func (s *Service) event(ctx context.Context, tenantID, action string, obj audit.Object) audit.Event {
	return audit.New(ctx, tenantID, action, obj)
}

// record appends e, with an id and the service's time. Called inside the
// change's Atomically, the event commits with the change or not at all.
func (s *Service) record(ctx context.Context, e audit.Event) error {
	if e.ID == "" {
		e.ID = s.newID()
	}
	if e.Time.IsZero() {
		e.Time = s.stamp()
	}
	if err := s.store.AppendAuditEvent(ctx, e); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// changed records a change of obj from before to after (nil for a
// creation or deletion), secrets redacted.
func (s *Service) changed(ctx context.Context, tenantID, action string, obj audit.Object, before, after any) error {
	e := s.event(ctx, tenantID, action, obj)
	e.Changes = audit.Diff(before, after)
	return s.record(ctx, e)
}

func tenantObject(t directory.Tenant) audit.Object {
	return audit.Object{Type: "tenant", ID: t.ID, Name: t.Slug}
}

func orgObject(o directory.Organization) audit.Object {
	return audit.Object{Type: "organization", ID: o.ID, Name: o.Name}
}

func userObject(u directory.User) audit.Object {
	return audit.Object{Type: "user", ID: u.ID, Name: u.Username}
}

func groupObject(g directory.Group) audit.Object {
	return audit.Object{Type: "group", ID: g.ID, Name: g.Name}
}

func policyObject(p authn.Policy) audit.Object {
	return audit.Object{Type: "policy", ID: p.ID, Name: p.Name}
}

func appObject(a apps.Application) audit.Object {
	return audit.Object{Type: "application", ID: a.ID, Name: a.Name}
}

// auditScope narrows f to what the caller may read: a principal of one
// tenant reads only that tenant's events, whatever it asked for.
func auditScope(ctx context.Context, f *audit.Filter) error {
	p, ok := authz.From(ctx)
	if !ok {
		return authz.ErrNoPrincipal
	}
	if f.TenantID == "" && !p.AllTenants() {
		f.TenantID = p.TenantID
	}
	_, err := authz.Require(ctx, f.TenantID, authz.ReadAudit)
	return err
}

// AuditEvents pages through the audit log, newest first.
func (s *Service) AuditEvents(ctx context.Context, f audit.Filter, p storage.Page) ([]audit.Event, string, error) {
	if err := auditScope(ctx, &f); err != nil {
		return nil, "", err
	}
	return s.store.ListAuditEvents(ctx, f, p)
}

// exportPage is how many events an export reads per query.
const exportPage = 1000

// ExportAudit calls each for every event matching f, oldest first, reading
// the log a page at a time so that an export of millions of events holds
// one page in memory. It stops at the first error of each.
func (s *Service) ExportAudit(ctx context.Context, f audit.Filter, each func(audit.Event) error) error {
	if err := auditScope(ctx, &f); err != nil {
		return err
	}
	f.Oldest = true
	cursor := ""
	for {
		evs, next, err := s.store.ListAuditEvents(ctx, f, storage.Page{Limit: exportPage, Cursor: cursor})
		if err != nil {
			return err
		}
		for _, e := range evs {
			if err := each(e); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

// PurgeAudit applies the retention (whole days): events older than that
// are deleted, and the database refuses to delete any younger one from now
// on. The purge is itself recorded when it deleted something.
func (s *Service) PurgeAudit(ctx context.Context, retentionDays int) (int64, error) {
	if _, err := authz.Require(ctx, "", authz.ManageTenants); err != nil {
		return 0, err
	}
	n, err := s.store.PurgeAuditEvents(ctx, retentionDays)
	if err != nil || n == 0 {
		return n, err
	}
	e := s.event(ctx, "", "audit.purge", audit.Object{Type: "auditLog"})
	e.Details = map[string]any{"deleted": n, "retentionDays": retentionDays}
	return n, s.record(ctx, e)
}

// RecordEvent appends an event of a service built on this one (the
// federation service records what it did in Microsoft 365), with an id and
// the time when they are missing.
func (s *Service) RecordEvent(ctx context.Context, e audit.Event) error {
	return s.record(ctx, e)
}
