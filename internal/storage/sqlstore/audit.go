package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/storage"
)

const auditCols = `id, at, tenant_id, actor_kind, actor_id, actor_name, actor_role, action, object_type, object_id,
	object_name, app_id, changes, details, address, user_agent, request_id, outcome, reason`

// AppendAuditEvent adds an event to the log; inside Atomically it commits
// (or not) with the change it describes.
func (s *Store) AppendAuditEvent(ctx context.Context, e audit.Event) (err error) {
	defer s.track("AppendAuditEvent", time.Now(), &err)
	changes, err := json.Marshal(e.Changes)
	if err != nil || e.Changes == nil {
		changes = []byte("{}")
	}
	details, err := json.Marshal(e.Details)
	if err != nil || e.Details == nil {
		details = []byte("{}")
	}
	var tenant any
	if e.TenantID != "" {
		tenant = e.TenantID
	}
	_, err = s.exec(ctx, s.q["InsertAuditEvent"], e.ID, s.t(e.Time), tenant, e.Actor.Kind, e.Actor.ID, e.Actor.Name, e.Actor.Role,
		e.Action, e.Object.Type, e.Object.ID, e.Object.Name, e.AppID, string(changes), string(details), e.Address, e.UserAgent,
		e.RequestID, string(e.Outcome), e.Reason)
	if err != nil {
		return fmt.Errorf("append audit event %s: %w", e.Action, s.classify(err))
	}
	return nil
}

func scanAuditEvent(r interface{ Scan(...any) error }) (audit.Event, error) {
	var e audit.Event
	var tenant sql.NullString
	var changes, details []byte
	var outcome string
	err := r.Scan(&e.ID, timeCol{&e.Time}, &tenant, &e.Actor.Kind, &e.Actor.ID, &e.Actor.Name, &e.Actor.Role, &e.Action,
		&e.Object.Type, &e.Object.ID, &e.Object.Name, &e.AppID, &changes, &details, &e.Address, &e.UserAgent, &e.RequestID,
		&outcome, &e.Reason)
	if err != nil {
		return e, err
	}
	e.TenantID, e.Outcome = tenant.String, audit.Outcome(outcome)
	if len(changes) > 2 {
		if err := json.Unmarshal(changes, &e.Changes); err != nil {
			return e, fmt.Errorf("audit event %s: changes: %w", e.ID, err)
		}
	}
	if len(details) > 2 {
		if err := json.Unmarshal(details, &e.Details); err != nil {
			return e, fmt.Errorf("audit event %s: details: %w", e.ID, err)
		}
	}
	return e, nil
}

// ListAuditEvents pages through the log by id (UUIDv7, so by time).
func (s *Store) ListAuditEvents(ctx context.Context, f audit.Filter, p storage.Page) (out []audit.Event, next string, err error) {
	defer s.track("ListAuditEvents", time.Now(), &err)
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	b := &builder{place: s.d.Placeholder}
	b.w("SELECT " + auditCols + " FROM audit_events WHERE 1 = 1")
	if f.TenantID != "" {
		b.w(" AND tenant_id = ").p(f.TenantID)
	}
	if !f.Since.IsZero() {
		b.w(" AND at >= ").p(s.t(f.Since))
	}
	if !f.Until.IsZero() {
		b.w(" AND at < ").p(s.t(f.Until))
	}
	if f.Actor != "" {
		b.w(" AND (actor_id = ").p(f.Actor).w(" OR actor_name = ").p(f.Actor).w(")")
	}
	if prefix, ok := strings.CutSuffix(f.Action, "*"); ok {
		b.prefix("action", prefix)
	} else if f.Action != "" {
		b.w(" AND action = ").p(f.Action)
	}
	if f.ObjectType != "" {
		b.w(" AND object_type = ").p(f.ObjectType)
	}
	if f.ObjectID != "" {
		b.w(" AND object_id = ").p(f.ObjectID)
	}
	if f.User != "" {
		b.w(" AND object_type = 'user' AND (object_id = ").p(f.User).w(" OR object_name = ").p(strings.ToLower(f.User)).w(")")
	}
	if f.Outcome != "" {
		b.w(" AND outcome = ").p(string(f.Outcome))
	}
	order := " ORDER BY id DESC"
	if f.Oldest {
		order = " ORDER BY id"
		if after != "" {
			b.w(" AND id > ").p(after)
		}
	} else if after != "" {
		b.w(" AND id < ").p(after)
	}
	b.w(order)
	b.limit(p.Clamp())
	out, err = collect(ctx, s, b, scanAuditEvent)
	if err != nil {
		return nil, "", fmt.Errorf("list audit events: %w", err)
	}
	out, next = page(out, p.Clamp(), func(e audit.Event) string { return e.ID })
	return out, next, nil
}

// PurgeAuditEvents records the retention and deletes older events, in one
// transaction.
func (s *Store) PurgeAuditEvents(ctx context.Context, retentionDays int) (n int64, err error) {
	defer s.track("PurgeAuditEvents", time.Now(), &err)
	if retentionDays < 1 {
		return 0, fmt.Errorf("purge audit events: the retention must be at least one day, not %d", retentionDays)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q["SetAuditRetention"], retentionDays); err != nil {
			return s.classify(err)
		}
		res, err := tx.ExecContext(ctx, s.q["PurgeAuditEvents"])
		if err != nil {
			return s.classify(err)
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge audit events: %w", err)
	}
	return n, nil
}
