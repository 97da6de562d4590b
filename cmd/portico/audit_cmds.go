package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/storage"
)

// auditFlags are the filters of "audit list" and "audit export", the same
// as the API's (GET /api/v1/audit and /api/v1/audit/export).
type auditFlags struct {
	backend              backendFlags
	tenant               string
	since, until         string
	actor, action        string
	objectType, objectID string
	user, outcome        string
}

func (a *auditFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&a.tenant, "tenant", "", "only this tenant's events (slug; default: every tenant's, and installation-wide ones)")
	fs.StringVar(&a.since, "since", "", "from this time on: RFC 3339 (2025-01-31T00:00:00Z) or an age (90m, 24h, 7d)")
	fs.StringVar(&a.until, "until", "", "before this time: RFC 3339 or an age")
	fs.StringVar(&a.actor, "actor", "", "token, administrator or operator: id or name")
	fs.StringVar(&a.action, "action", "", "action, exactly (user.update) or as a prefix with * (user.*)")
	fs.StringVar(&a.objectType, "object-type", "", "tenant, organization, user, group, application, policy, apiToken, domain")
	fs.StringVar(&a.objectID, "object-id", "", "the object's id")
	fs.StringVar(&a.user, "user", "", "events about a user: id or username (sign-ins included)")
	fs.StringVar(&a.outcome, "outcome", "", "success or failure")
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

// query checks the filters and returns them as a query.
func (a *auditFlags) query() (auditQuery, error) {
	q := auditQuery{Tenant: a.tenant, Actor: a.actor, Action: a.action, ObjectType: a.objectType, ObjectID: a.objectID, User: a.user}
	now := time.Now().UTC()
	var err error
	if q.Since, err = when("since", a.since, now); err != nil {
		return q, err
	}
	if q.Until, err = when("until", a.until, now); err != nil {
		return q, err
	}
	if q.Outcome = audit.Outcome(a.outcome); q.Outcome != "" && !q.Outcome.Valid() {
		return q, fmt.Errorf("--outcome must be success or failure, not %q", a.outcome)
	}
	return q, nil
}

func auditListFlags(fs *pflag.FlagSet) runFunc {
	var af auditFlags
	var out outputFlag
	af.register(fs)
	limit := fs.Int("limit", 50, fmt.Sprintf("events per page (at most %d)", storage.MaxLimit))
	cursor := fs.String("cursor", "", "continue after the previous page (standard error says how)")
	out.register(fs)
	// --json is the flag of the first release: one JSON object a line.
	asJSON := fs.Bool("json", false, "print each event as a JSON line (NDJSON)")
	fs.MarkHidden("json")
	af.backend.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		if *limit < 1 || *limit > storage.MaxLimit {
			return fmt.Errorf("--limit must be from 1 to %d", storage.MaxLimit)
		}
		q, err := af.query()
		if err != nil {
			return err
		}
		return withBackend(ctx, &af.backend, func(b backend) error {
			evs, next, err := b.AuditEvents(ctx, q, *limit, *cursor)
			if err != nil {
				return err
			}
			switch {
			case *asJSON:
				enc := json.NewEncoder(stdout)
				for _, e := range evs {
					if err := enc.Encode(e); err != nil {
						return err
					}
				}
			case out == "json":
				if err := out.print(stdout, nonNil(evs), nil, nil); err != nil {
					return err
				}
			default:
				if err := printAudit(ctx, stdout, b, evs); err != nil {
					return err
				}
			}
			if next != "" {
				fmt.Fprintf(stderr, "more events: add --cursor %s\n", next)
			}
			return nil
		})
	}
}

func auditExportFlags(fs *pflag.FlagSet) runFunc {
	var af auditFlags
	af.register(fs)
	af.backend.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		q, err := af.query()
		if err != nil {
			return err
		}
		return withBackend(ctx, &af.backend, func(b backend) error {
			return b.ExportAudit(ctx, q, stdout)
		})
	}
}

// printAudit writes events as a table, one line each, with the changed
// fields after the object.
func printAudit(ctx context.Context, w io.Writer, b backend, evs []audit.Event) error {
	slugs := map[string]string{"": "-"}
	if ts, err := b.ListTenants(ctx); err == nil {
		for _, t := range ts {
			slugs[t.ID] = t.Slug
		}
	}
	slug := func(id string) string {
		if s, ok := slugs[id]; ok {
			return s
		}
		return id // a deleted tenant, or one out of the token's reach, keeps its id
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
