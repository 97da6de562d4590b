package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/authz"
)

func TestTokensAPI(t *testing.T) {
	e := newRolesEnv(t, false)
	admin, help := e.tokens[authz.TenantAdmin], e.tokens[authz.Helpdesk]
	r := e.do("POST", "/api/v1/tenants/alpha/tokens", admin, map[string]string{"name": "helpdesk bot", "role": "helpdesk"})
	want(t, r, 201)
	created := r.json(t)
	secret, _ := created["secret"].(string)
	if created["role"] != "helpdesk" || created["tenantId"] != e.ta.ID || !strings.HasPrefix(secret, "ptc_") ||
		r.header.Get("Location") != "/api/v1/tenants/alpha/tokens/"+created["id"].(string) {
		t.Fatalf("created %s", r.body)
	}
	// The new token works with its role: it reads users, and cannot create
	// a user.
	want(t, e.do("GET", "/api/v1/tenants/alpha/users", secret, nil), 200)
	want(t, e.do("POST", "/api/v1/tenants/alpha/users", secret, map[string]string{"username": "x"}), 403)

	r = e.do("GET", "/api/v1/tenants/alpha/tokens", e.tokens[authz.ReadOnly], nil)
	want(t, r, 200)
	if strings.Contains(string(r.body), "secret") || strings.Contains(string(r.body), "hash") ||
		!strings.Contains(string(r.body), `"name":"helpdesk bot","role":"helpdesk"`) {
		t.Fatalf("list %s", r.body)
	}
	// No escalation: a tenant admin cannot make a global token, the role
	// is checked, and unknown fields are refused.
	r = e.do("POST", "/api/v1/tokens", admin, map[string]string{"name": "root", "role": "global"})
	want(t, r, 403)
	r = e.do("POST", "/api/v1/tenants/alpha/tokens", admin, map[string]string{"role": "global"})
	want(t, r, 422)
	eqFields(t, r.problemFields(t), "role")
	r = e.do("POST", "/api/v1/tenants/alpha/tokens", admin, map[string]string{"role": "root"})
	want(t, r, 422)
	eqFields(t, r.problemFields(t), "role")
	r = e.do("POST", "/api/v1/tenants/alpha/tokens", admin, map[string]string{"role": "readOnly", "tenantId": "x"})
	want(t, r, 400)
	want(t, e.do("POST", "/api/v1/tenants/alpha/tokens", help, map[string]string{"role": "helpdesk"}), 403)
	want(t, e.do("POST", "/api/v1/tenants/beta/tokens", admin, map[string]string{"role": "readOnly"}), 404)
	// A global token of the readOnly role for a managed-service provider's
	// auditor: it reads every tenant and changes none.
	r = e.do("POST", "/api/v1/tokens", e.tokens[authz.Global], map[string]string{"name": "auditor", "role": "readOnly"})
	want(t, r, 201)
	auditor := r.json(t)["secret"].(string)
	want(t, e.do("GET", "/api/v1/tenants", auditor, nil), 200)
	want(t, e.do("GET", "/api/v1/tenants/beta/users", auditor, nil), 200)
	want(t, e.do("PATCH", "/api/v1/tenants/beta", auditor, map[string]string{"name": "x"}), 403)

	want(t, e.do("DELETE", "/api/v1/tenants/alpha/tokens/"+created["id"].(string), admin, nil), 204)
	want(t, e.do("GET", "/api/v1/tenants/alpha/users", secret, nil), 401)
	want(t, e.do("DELETE", "/api/v1/tenants/alpha/tokens/"+created["id"].(string), admin, nil), 404)
}

func auditList(t *testing.T, e *rolesEnv, token, query string) ([]audit.Event, string) {
	t.Helper()
	r := e.do("GET", "/api/v1/audit"+query, token, nil)
	want(t, r, 200)
	var l struct {
		Items      []audit.Event `json:"items"`
		NextCursor string        `json:"nextCursor"`
	}
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatal(err)
	}
	return l.Items, l.NextCursor
}

func TestAuditAPI(t *testing.T) {
	e := newRolesEnv(t, false)
	admin := e.tokens[authz.TenantAdmin]
	start := time.Now().UTC().Truncate(time.Microsecond)
	r := e.do("PATCH", "/api/v1/tenants/alpha/users/"+e.user.ID, admin, map[string]string{"jobTitle": "Boss"}, "X-Request-Id", "req-patch-1")
	want(t, r, 200)
	want(t, e.do("PUT", "/api/v1/tenants/alpha/users/"+e.user.ID+"/password", e.tokens[authz.Helpdesk], map[string]string{"password": "a long password"}), 204)
	want(t, e.do("POST", "/api/v1/tenants/beta/groups", e.tokB, map[string]string{"name": "Beta staff", "type": "security"}), 201)

	// The change, as the log shows it to the tenant's administrator.
	evs, _ := auditList(t, e, admin, "?action=user.update")
	if len(evs) != 1 {
		t.Fatalf("events %+v", evs)
	}
	ev := evs[0]
	if ev.Actor.Kind != "apiToken" || ev.Actor.Name != "tenantAdmin" || ev.Actor.Role != "tenantAdmin" || ev.RequestID != "req-patch-1" ||
		ev.Address != "127.0.0.1" || !strings.HasPrefix(ev.UserAgent, "Go-http-client") || ev.Object.ID != e.user.ID ||
		ev.Changes["jobTitle"].After != "Boss" || ev.Time.Before(start) {
		t.Fatalf("event %+v", ev)
	}
	// Filters.
	for q, wantActions := range map[string]string{
		"?user=" + e.user.ID:      "user.password.set user.update user.create",
		"?user=ann&action=user.*": "user.password.set user.update user.create",
		"?actor=helpdesk":         "user.password.set",
		"?objectType=user&objectId=" + e.user.ID + "&since=" + url.QueryEscape(start.Format(time.RFC3339Nano)): "user.password.set user.update",
		"?outcome=failure": "",
		"?until=" + url.QueryEscape(start.Format(time.RFC3339Nano)) + "&action=user.update": "",
	} {
		evs, _ := auditList(t, e, e.tokens[authz.Global], q)
		var got []string
		for _, ev := range evs {
			got = append(got, ev.Action)
		}
		if strings.Join(got, " ") != wantActions {
			t.Errorf("%s: %v; want %s", q, got, wantActions)
		}
	}
	// A tenant's token sees its tenant only; naming another is not found.
	evs, _ = auditList(t, e, e.tokens[authz.ReadOnly], "?limit=1000")
	for _, ev := range evs {
		if ev.TenantID != e.ta.ID {
			t.Fatalf("alpha's token sees %s of %q", ev.Action, ev.TenantID)
		}
	}
	want(t, e.do("GET", "/api/v1/audit?tenant=beta", admin, nil), 404)
	if evs, _ := auditList(t, e, e.tokens[authz.Global], "?tenant=beta"); len(evs) == 0 || evs[0].Action != "group.create" {
		t.Fatalf("global reads beta: %+v", evs)
	}
	// Cursor paging visits every event once, newest first.
	all, _ := auditList(t, e, e.tokens[authz.Global], "?limit=1000")
	var paged []audit.Event
	cursor := ""
	for range 100 {
		q := "?limit=3"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		evs, next := auditList(t, e, e.tokens[authz.Global], q)
		paged = append(paged, evs...)
		if cursor = next; cursor == "" {
			break
		}
	}
	if len(paged) != len(all) || len(all) < 10 || paged[0].ID != all[0].ID || paged[len(paged)-1].ID != all[len(all)-1].ID {
		t.Fatalf("paged %d events, listed %d", len(paged), len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			t.Fatalf("not newest first at %d", i)
		}
	}
	for _, q := range []string{"?since=yesterday", "?outcome=maybe", "?who=me", "?cursor=%25%25"} {
		want(t, e.do("GET", "/api/v1/audit"+q, admin, nil), 400)
	}

	// Export: NDJSON, oldest first, the tenant's events only.
	r = e.do("GET", "/api/v1/audit/export?action=user.*", admin, nil)
	want(t, r, 200)
	if ct := r.header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Fatalf("content type %q", ct)
	}
	var lines []audit.Event
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		var ev audit.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, ev)
	}
	if len(lines) < 3 || lines[0].Action != "user.create" || lines[len(lines)-1].Action != "user.password.set" {
		t.Fatalf("export %s", r.body)
	}
	for _, ev := range lines {
		if ev.TenantID != e.ta.ID {
			t.Fatalf("export has %q's event", ev.TenantID)
		}
	}
	want(t, e.do("GET", "/api/v1/audit/export?limit=5", admin, nil), 400)
	r = e.do("GET", "/api/v1/audit/export?action=nothing.here", admin, nil)
	if r.status != 200 || len(r.body) != 0 || r.header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("empty export: %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
	}
}
