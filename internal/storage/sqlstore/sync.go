package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/syncrecord"
)

// The named queries of synchronization, kept in each dialect's
// queries/sync.sql and checked at start-up like the others.
func init() {
	queryNames = append(queryNames, "ListSyncLinks", "GetSyncLink", "PutSyncLink", "DeleteSyncLink",
		"InsertSyncRun", "GetSyncRun", "ListSyncRuns", "UpdateSyncRun",
		"InsertSyncOperation", "ListSyncOperations", "SetSyncOperationResult")
}

func scanLink(r scanner) (syncrecord.Link, error) {
	var l syncrecord.Link
	var kind string
	err := r.Scan(&l.TenantID, &l.AppID, &kind, &l.LocalID, &l.RemoteID, &l.CreatedByPortico, &l.Fingerprint,
		&l.LicenseSkuID, &l.DisabledByPortico, &l.LastResult, &l.LastRunID, timeCol{&l.UpdatedAt})
	l.Kind = syncrecord.Kind(kind)
	return l, err
}

// ListSyncLinks lists an application's links of one kind in local id order.
func (s *Store) ListSyncLinks(ctx context.Context, tenantID, appID string, kind syncrecord.Kind, p storage.Page) (out []syncrecord.Link, next string, err error) {
	defer s.track("ListSyncLinks", time.Now(), &err)
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := p.Clamp()
	rows, err := s.queryRows(ctx, s.q["ListSyncLinks"], tenantID, appID, string(kind), after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list sync links: %w", s.classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list sync links: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list sync links: %w", err)
	}
	out, next = page(out, limit, func(l syncrecord.Link) string { return l.LocalID })
	return out, next, nil
}

// GetSyncLink reads one link.
func (s *Store) GetSyncLink(ctx context.Context, tenantID, appID string, kind syncrecord.Kind, localID string) (l syncrecord.Link, err error) {
	defer s.track("GetSyncLink", time.Now(), &err)
	if l, err = scanLink(s.queryRow(ctx, s.q["GetSyncLink"], tenantID, appID, string(kind), localID)); err != nil {
		return l, fmt.Errorf("get sync link of %s %s: %w", kind, localID, s.classify(err))
	}
	return l, nil
}

func (s *Store) putLink(ctx context.Context, q queryer, l syncrecord.Link) error {
	_, err := s.execIn(ctx, q, s.q["PutSyncLink"], l.TenantID, l.AppID, string(l.Kind), l.LocalID, l.RemoteID,
		l.CreatedByPortico, l.Fingerprint, l.LicenseSkuID, l.DisabledByPortico, l.LastResult, l.LastRunID, s.t(l.UpdatedAt))
	if err != nil {
		err = s.classify(err)
		return fmt.Errorf("store sync link of %s %s: %w", l.Kind, l.LocalID, err)
	}
	return nil
}

// PutSyncLink inserts or replaces a link.
func (s *Store) PutSyncLink(ctx context.Context, l syncrecord.Link) (err error) {
	defer s.track("PutSyncLink", time.Now(), &err)
	return s.putLink(ctx, s.conn(ctx), l)
}

func scanRun(r scanner) (syncrecord.Run, error) {
	var run syncrecord.Run
	var state, counts, report string
	err := r.Scan(&run.TenantID, &run.ID, &run.AppID, &run.Trigger, &run.DryRun, &state, &run.AllowDeletes,
		&run.CancelRequested, &counts, &run.Message, &report, &run.PlanMillis, timeCol{&run.CreatedAt},
		timeCol{&run.StartedAt}, timeCol{&run.FinishedAt}, &run.Version)
	if err != nil {
		return run, err
	}
	run.State = syncrecord.RunState(state)
	if err := json.Unmarshal([]byte(counts), &run.Counts); err != nil {
		return run, fmt.Errorf("run %s counts: %w", run.ID, err)
	}
	if err := json.Unmarshal([]byte(report), &run.Report); err != nil {
		return run, fmt.Errorf("run %s report: %w", run.ID, err)
	}
	return run, nil
}

func runJSON(r syncrecord.Run) (counts, report string, err error) {
	c, err := json.Marshal(r.Counts)
	if err != nil {
		return "", "", err
	}
	rep := r.Report
	if rep == nil {
		rep = []syncrecord.Issue{}
	}
	b, err := json.Marshal(rep)
	return string(c), string(b), err
}

// CreateSyncRun stores a new run.
func (s *Store) CreateSyncRun(ctx context.Context, r syncrecord.Run) (err error) {
	defer s.track("CreateSyncRun", time.Now(), &err)
	counts, report, err := runJSON(r)
	if err != nil {
		return fmt.Errorf("create sync run: %w", err)
	}
	_, err = s.exec(ctx, s.q["InsertSyncRun"], r.TenantID, r.ID, r.AppID, r.Trigger, r.DryRun, string(r.State), r.AllowDeletes,
		r.CancelRequested, counts, r.Message, report, r.PlanMillis, s.t(r.CreatedAt), s.tz(r.StartedAt), s.tz(r.FinishedAt))
	if err != nil {
		err = s.classify(err)
		if ref := (*storage.ReferenceError)(nil); errors.As(err, &ref) && ref.Field == "" {
			err = &storage.ReferenceError{Field: "applicationId"}
		}
		return fmt.Errorf("create sync run: %w", err)
	}
	return nil
}

// GetSyncRun reads a run.
func (s *Store) GetSyncRun(ctx context.Context, tenantID, id string) (r syncrecord.Run, err error) {
	defer s.track("GetSyncRun", time.Now(), &err)
	if r, err = scanRun(s.queryRow(ctx, s.q["GetSyncRun"], tenantID, id)); err != nil {
		return r, fmt.Errorf("get sync run %s: %w", id, s.classify(err))
	}
	return r, nil
}

// ListSyncRuns lists an application's runs, newest first (ids are UUIDv7,
// so id order is creation order).
func (s *Store) ListSyncRuns(ctx context.Context, tenantID, appID string, p storage.Page) (out []syncrecord.Run, next string, err error) {
	defer s.track("ListSyncRuns", time.Now(), &err)
	before, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := p.Clamp()
	rows, err := s.queryRows(ctx, s.q["ListSyncRuns"], tenantID, appID, before, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list sync runs: %w", s.classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list sync runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list sync runs: %w", err)
	}
	out, next = page(out, limit, func(r syncrecord.Run) string { return r.ID })
	return out, next, nil
}

// UpdateSyncRun compare-and-swaps a run.
func (s *Store) UpdateSyncRun(ctx context.Context, tenantID, id string, fn func(syncrecord.Run) (syncrecord.Run, error)) (nr syncrecord.Run, err error) {
	defer s.track("UpdateSyncRun", time.Now(), &err)
	old, err := s.GetSyncRun(ctx, tenantID, id)
	if err != nil {
		return nr, err
	}
	if nr, err = fn(old); err != nil {
		return nr, err
	}
	nr.TenantID, nr.ID, nr.AppID, nr.Trigger, nr.DryRun, nr.CreatedAt = old.TenantID, old.ID, old.AppID, old.Trigger, old.DryRun, old.CreatedAt
	counts, report, err := runJSON(nr)
	if err != nil {
		return nr, fmt.Errorf("update sync run %s: %w", id, err)
	}
	res, err := s.exec(ctx, s.q["UpdateSyncRun"], string(nr.State), nr.AllowDeletes, nr.CancelRequested, counts, nr.Message,
		report, nr.PlanMillis, s.tz(nr.StartedAt), s.tz(nr.FinishedAt), tenantID, id, old.Version)
	if err = s.resolveMiss(s.casResult(res, err), func() error { _, e := s.GetSyncRun(ctx, tenantID, id); return e }); err != nil {
		return nr, fmt.Errorf("update sync run %s: %w", id, err)
	}
	nr.Version = old.Version + 1
	return nr, nil
}

// AddSyncOperations appends operations to a run in one transaction.
func (s *Store) AddSyncOperations(ctx context.Context, tenantID, runID string, ops []syncrecord.Operation) (err error) {
	defer s.track("AddSyncOperations", time.Now(), &err)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		for _, op := range ops {
			changes, err := json.Marshal(nonNil(op.Changes))
			if err != nil {
				return err
			}
			result := op.Result
			if result == "" {
				result = syncrecord.OpPending
			}
			if _, err := s.execIn(ctx, tx, s.q["InsertSyncOperation"], tenantID, runID, op.Seq, string(op.Kind), op.LocalID,
				op.RemoteID, op.UPN, op.Reason, string(changes), string(result), op.Error, op.RequestID, s.t(op.UpdatedAt)); err != nil {
				return s.classify(err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add %d operations to sync run %s: %w", len(ops), runID, err)
	}
	return nil
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// ListSyncOperations lists a run's operations in plan order.
func (s *Store) ListSyncOperations(ctx context.Context, tenantID, runID string, f storage.OperationFilter, p storage.Page) (out []syncrecord.Operation, next string, err error) {
	defer s.track("ListSyncOperations", time.Now(), &err)
	c, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	after := 0
	if c != "" {
		if after, err = strconv.Atoi(c); err != nil {
			return nil, "", storage.ErrInvalidCursor
		}
	}
	limit := p.Clamp()
	rows, err := s.queryRows(ctx, s.q["ListSyncOperations"], tenantID, runID, string(f.Result), string(f.Kind), after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list sync operations: %w", s.classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		var op syncrecord.Operation
		var kind, changes, result string
		if err := rows.Scan(&op.RunID, &op.Seq, &kind, &op.LocalID, &op.RemoteID, &op.UPN, &op.Reason, &changes, &result,
			&op.Error, &op.RequestID, timeCol{&op.UpdatedAt}); err != nil {
			return nil, "", fmt.Errorf("list sync operations: %w", err)
		}
		op.Kind, op.Result = syncrecord.OpKind(kind), syncrecord.OpResult(result)
		if err := json.Unmarshal([]byte(changes), &op.Changes); err != nil {
			return nil, "", fmt.Errorf("list sync operations: changes of %d: %w", op.Seq, err)
		}
		if len(op.Changes) == 0 {
			op.Changes = nil
		}
		out = append(out, op)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list sync operations: %w", err)
	}
	out, next = page(out, limit, func(op syncrecord.Operation) string { return strconv.Itoa(op.Seq) })
	return out, next, nil
}

// RecordSyncOutcomes stores operation results and their links together.
func (s *Store) RecordSyncOutcomes(ctx context.Context, tenantID, appID, runID string, outs []syncrecord.OpOutcome) (err error) {
	defer s.track("RecordSyncOutcomes", time.Now(), &err)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		for _, o := range outs {
			if o.Link != nil {
				l := *o.Link
				l.TenantID, l.AppID = tenantID, appID
				if err := s.putLink(ctx, tx, l); err != nil {
					return err
				}
			}
			if o.DropLink {
				if _, err := s.execIn(ctx, tx, s.q["DeleteSyncLink"], tenantID, appID, string(o.Kind), o.LocalID); err != nil {
					return s.classify(err)
				}
			}
			if o.Seq > 0 {
				if err := s.execOne(ctx, tx, fmt.Sprintf("record operation %d of sync run %s", o.Seq, runID), "SetSyncOperationResult",
					string(o.Result), o.RemoteID, o.Error, o.RequestID, s.t(o.UpdatedAt), tenantID, runID, o.Seq); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record %d sync outcomes: %w", len(outs), err)
	}
	return nil
}
