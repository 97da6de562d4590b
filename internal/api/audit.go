package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/storage"
)

// auditFilters are the query parameters of the audit log's operations.
var auditFilters = []string{"tenant", "since", "until", "actor", "action", "objectType", "objectId", "user", "outcome"}

// auditFilter reads the filters. A tenant is named by its slug; one
// outside the caller's scope is not found.
func (a *API) auditFilter(r *http.Request, q map[string]string) (audit.Filter, error) {
	f := audit.Filter{Actor: q["actor"], Action: q["action"], ObjectType: q["objectType"], ObjectID: q["objectId"],
		User: q["user"], Outcome: audit.Outcome(q["outcome"])}
	if f.Outcome != "" && !f.Outcome.Valid() {
		return f, fieldProblem(http.StatusBadRequest, "bad-request", "Bad request", "outcome", "must be success or failure")
	}
	for _, tm := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q[tm.name]; v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, fieldProblem(http.StatusBadRequest, "bad-request", "Bad request", tm.name,
					"must be an RFC 3339 time such as 2025-01-31T00:00:00Z")
			}
			*tm.dst = t.UTC()
		}
	}
	if slug := q["tenant"]; slug != "" {
		t, err := a.svc.TenantBySlug(r.Context(), slug)
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) || isOutOfScope(err) {
				return f, newProblem(http.StatusNotFound, "not-found", "Not found", "no tenant "+strconv.Quote(slug))
			}
			return f, err
		}
		f.TenantID = t.ID
	}
	return f, nil
}

// listAudit pages through the audit log, newest first. A principal of one
// tenant sees only that tenant's events.
func (a *API) listAudit(w http.ResponseWriter, r *http.Request) {
	q, p, err := query(r, auditFilters...)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	f, err := a.auditFilter(r, q)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	items, next, err := a.svc.AuditEvents(r.Context(), f, p)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeList(w, items, next)
}

// exportFlushEvery is how many events an export writes between flushes.
const exportFlushEvery = 500

// exportAudit streams every matching event, oldest first, as NDJSON (one
// JSON object a line), for a SIEM or an archive.
func (a *API) exportAudit(w http.ResponseWriter, r *http.Request) {
	q, p, err := query(r, auditFilters...)
	if err == nil && (p.Cursor != "" || p.Limit != 0) {
		err = fieldProblem(http.StatusBadRequest, "bad-request", "Bad request", "limit", "an export has no paging: narrow it with since and until")
	}
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	f, err := a.auditFilter(r, q)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	n := 0
	err = a.svc.ExportAudit(r.Context(), f, func(e audit.Event) error {
		if n == 0 {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Content-Disposition", `attachment; filename="portico-audit.ndjson"`)
			w.WriteHeader(http.StatusOK)
		}
		n++
		if err := enc.Encode(e); err != nil {
			return err
		}
		if n%exportFlushEvery == 0 {
			return rc.Flush()
		}
		return nil
	})
	switch {
	case err != nil && n == 0:
		writeProblem(w, r, a.log, err)
	case err != nil:
		// The status is sent: the stream just ends early. The client sees a
		// truncated export (no final newline guarantee), and the log says why.
		a.log.ErrorContext(r.Context(), "audit export interrupted", "events", n, "err", err)
	case n == 0:
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	}
}
