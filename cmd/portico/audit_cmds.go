package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
)

// auditFlags are the filters of "audit list" and "audit export", the same
// as the API's.
type auditFlags struct {
	store                storeFlags
	tenant               string
	since, until         string
	actor, action        string
	objectType, objectID string
	user, outcome        string
	asJSON               bool
	limit                int
	cursor               string
	withPaging           bool
}

func (a *auditFlags) register(fs *flag.FlagSet) {
	a.store.register(fs)
	fs.StringVar(&a.tenant, "tenant", "", "only this tenant's events (slug; default: every tenant's, and installation-wide ones)")
	fs.StringVar(&a.since, "since", "", "from this time on: RFC 3339 (2025-01-31T00:00:00Z) or an age (90m, 24h, 7d)")
	fs.StringVar(&a.until, "until", "", "before this time: RFC 3339 or an age")
	fs.StringVar(&a.actor, "actor", "", "token, administrator or operator: id or name")
	fs.StringVar(&a.action, "action", "", "action, exactly (user.update) or as a prefix with * (user.*)")
	fs.StringVar(&a.objectType, "object-type", "", "tenant, organization, user, group, application, policy, apiToken, domain")
	fs.StringVar(&a.objectID, "object-id", "", "the object's id")
	fs.StringVar(&a.user, "user", "", "events about a user: id or username (sign-ins included)")
	fs.StringVar(&a.outcome, "outcome", "", "success or failure")
	if a.withPaging {
		fs.IntVar(&a.limit, "limit", 50, "events per page (at most 1000)")
		fs.StringVar(&a.cursor, "cursor", "", "continue after the previous page (its last line says how)")
		fs.BoolVar(&a.asJSON, "json", false, "print each event as a JSON line instead of a table")
	}
}

// when reads an RFC 3339 time or an age ("7d", "24h") before now.
func when(flagName, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if d, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: give an RFC 3339 time (2025-01-31T00:00:00Z) or an age (90m, 24h, 7d)", flagName, v)
}

// open returns the store, the service and the filter.
func (a *auditFlags) open(ctx context.Context) (*sqlstore.Store, *admin.Service, audit.Filter, error) {
	var f audit.Filter
	now := time.Now().UTC()
	var err error
	if f.Since, err = when("since", a.since, now); err != nil {
		return nil, nil, f, err
	}
	if f.Until, err = when("until", a.until, now); err != nil {
		return nil, nil, f, err
	}
	f.Actor, f.Action, f.ObjectType, f.ObjectID, f.User = a.actor, a.action, a.objectType, a.objectID, a.user
	if f.Outcome = audit.Outcome(a.outcome); f.Outcome != "" && !f.Outcome.Valid() {
		return nil, nil, f, fmt.Errorf("--outcome must be success or failure, not %q", a.outcome)
	}
	st, err := a.store.open(ctx, nil)
	if err != nil {
		return nil, nil, f, err
	}
	if f.TenantID, err = tenantIDFor(ctx, st, a.tenant); err != nil {
		st.Close()
		return nil, nil, f, err
	}
	return st, admin.New(st), f, nil
}

func runAuditList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("audit list", "List audit log events, newest first: changes by tokens, administrators, operators and jobs, and sign-ins with the reason of each failure.", stderr)
	af := auditFlags{withPaging: true}
	af.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if af.limit < 1 || af.limit > storage.MaxLimit {
		return fmt.Errorf("--limit must be from 1 to %d", storage.MaxLimit)
	}
	st, svc, f, err := af.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	evs, next, err := svc.AuditEvents(ctx, f, storage.Page{Limit: af.limit, Cursor: af.cursor})
	if err != nil {
		return describe(err)
	}
	if af.asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range evs {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
	} else if err := printAudit(ctx, stdout, st, evs); err != nil {
		return err
	}
	if next != "" {
		fmt.Fprintf(stderr, "more events: add --cursor %s\n", next)
	}
	return nil
}

func runAuditExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("audit export", "Write every matching audit log event to standard output as NDJSON (one JSON object a line), oldest first: for a SIEM or an archive before the retention purge.", stderr)
	var af auditFlags
	af.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	st, svc, f, err := af.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	enc := json.NewEncoder(stdout)
	return svc.ExportAudit(ctx, f, func(e audit.Event) error { return enc.Encode(e) })
}

// printAudit writes events as a table, one line each, with the changed
// fields after the object.
func printAudit(ctx context.Context, w io.Writer, st storage.Storage, evs []audit.Event) error {
	slugs := map[string]string{"": "-"}
	slug := func(id string) string {
		if s, ok := slugs[id]; ok {
			return s
		}
		s := id // a deleted tenant keeps its id
		if t, err := st.GetTenant(ctx, id); err == nil {
			s = t.Slug
		}
		slugs[id] = s
		return s
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tTENANT\tACTOR\tACTION\tOBJECT\tOUTCOME\tADDRESS\tDETAILS")
	for _, e := range evs {
		actor := e.Actor.Kind + ":" + orDash(e.Actor.Name)
		obj := e.Object.Type
		if e.Object.Name != "" || e.Object.ID != "" {
			obj += ":" + orDash(e.Object.Name)
		}
		outcome := string(e.Outcome)
		if e.Reason != "" {
			outcome += " (" + e.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(time.RFC3339), slug(e.TenantID), actor, e.Action, obj,
			outcome, orDash(e.Address), summary(e))
	}
	return tw.Flush()
}

// summary lists an event's changed fields and notable details.
func summary(e audit.Event) string {
	var parts []string
	keys := make([]string, 0, len(e.Changes))
	for k := range e.Changes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c := e.Changes[k]
		parts = append(parts, fmt.Sprintf("%s: %s → %s", k, short(c.Before), short(c.After)))
	}
	if f, ok := e.Details["factors"]; ok {
		parts = append(parts, fmt.Sprintf("factors: %v", f))
	}
	if a, ok := e.Details["application"]; ok && e.Action == "signin" {
		parts = append(parts, fmt.Sprintf("application: %v", a))
	}
	return strings.Join(parts, "; ")
}

func short(v any) string {
	if v == nil {
		return "∅"
	}
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 40 {
		s = s[:39] + "…"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
