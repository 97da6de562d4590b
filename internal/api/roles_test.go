package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	m365sync "github.com/portico-idp/portico/internal/m365/sync"
	"github.com/portico-idp/portico/internal/syncrecord"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/m365/federation"
	"github.com/portico-idp/portico/internal/secrets"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/storage/sqlite"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
	"github.com/portico-idp/portico/internal/web"
)

// rule is what a route needs, written here independently of Routes():
// the test compares the two, so a route added without a rule fails.
type rule struct {
	// perm is the permission; "" with any set means any token.
	perm authz.Permission
	any  bool
	// public routes need no token.
	public bool
	// installation routes concern every tenant: tokens of one tenant are
	// refused (403).
	installation bool
	// external: the operation calls Microsoft 365 (offline here), so an
	// allowed caller gets some answer other than 401, 403 or 404.
	external bool
}

var rules = map[string]rule{
	"GET /api/v1/openapi.json":   {public: true},
	"GET /api/v1/tenants":        {perm: authz.ReadDirectory, installation: true},
	"POST /api/v1/tenants":       {perm: authz.ManageTenants, installation: true},
	"GET /api/v1/library":        {any: true},
	"GET /api/v1/tokens":         {perm: authz.ReadTokens, installation: true},
	"POST /api/v1/tokens":        {perm: authz.ManageTokens, installation: true},
	"DELETE /api/v1/tokens/{id}": {perm: authz.ManageTokens, installation: true},
	"GET /api/v1/audit":          {perm: authz.ReadAudit},
	"GET /api/v1/audit/export":   {perm: authz.ReadAudit},

	"GET /api/v1/tenants/{tenant}":    {perm: authz.ReadDirectory},
	"PATCH /api/v1/tenants/{tenant}":  {perm: authz.ManageTenants},
	"DELETE /api/v1/tenants/{tenant}": {perm: authz.ManageTenants},

	"GET /api/v1/tenants/{tenant}/organizations":         {perm: authz.ReadDirectory},
	"POST /api/v1/tenants/{tenant}/organizations":        {perm: authz.ManageDirectory},
	"GET /api/v1/tenants/{tenant}/organizations/{id}":    {perm: authz.ReadDirectory},
	"PATCH /api/v1/tenants/{tenant}/organizations/{id}":  {perm: authz.ManageDirectory},
	"DELETE /api/v1/tenants/{tenant}/organizations/{id}": {perm: authz.ManageDirectory},

	"GET /api/v1/tenants/{tenant}/users":             {perm: authz.ReadDirectory},
	"POST /api/v1/tenants/{tenant}/users":            {perm: authz.ManageDirectory},
	"POST /api/v1/tenants/{tenant}/users/import":     {perm: authz.ManageDirectory},
	"GET /api/v1/tenants/{tenant}/users/{id}":        {perm: authz.ReadDirectory},
	"PATCH /api/v1/tenants/{tenant}/users/{id}":      {perm: authz.ManageDirectory},
	"DELETE /api/v1/tenants/{tenant}/users/{id}":     {perm: authz.ManageDirectory},
	"GET /api/v1/tenants/{tenant}/users/{id}/groups": {perm: authz.ReadDirectory},

	"PUT /api/v1/tenants/{tenant}/users/{id}/password":    {perm: authz.ManageCredentials},
	"DELETE /api/v1/tenants/{tenant}/users/{id}/totp":     {perm: authz.ManageCredentials},
	"DELETE /api/v1/tenants/{tenant}/users/{id}/sessions": {perm: authz.ManageCredentials},

	"GET /api/v1/tenants/{tenant}/groups":                          {perm: authz.ReadDirectory},
	"POST /api/v1/tenants/{tenant}/groups":                         {perm: authz.ManageDirectory},
	"GET /api/v1/tenants/{tenant}/groups/{id}":                     {perm: authz.ReadDirectory},
	"PATCH /api/v1/tenants/{tenant}/groups/{id}":                   {perm: authz.ManageDirectory},
	"DELETE /api/v1/tenants/{tenant}/groups/{id}":                  {perm: authz.ManageDirectory},
	"GET /api/v1/tenants/{tenant}/groups/{id}/members":             {perm: authz.ReadDirectory},
	"POST /api/v1/tenants/{tenant}/groups/{id}/members":            {perm: authz.ManageDirectory},
	"DELETE /api/v1/tenants/{tenant}/groups/{id}/members/{userId}": {perm: authz.ManageDirectory},

	"GET /api/v1/tenants/{tenant}/applications":                                     {perm: authz.ReadApplications},
	"POST /api/v1/tenants/{tenant}/applications":                                    {perm: authz.ManageApplications},
	"GET /api/v1/tenants/{tenant}/applications/{id}":                                {perm: authz.ReadApplications},
	"PATCH /api/v1/tenants/{tenant}/applications/{id}":                              {perm: authz.ManageApplications},
	"DELETE /api/v1/tenants/{tenant}/applications/{id}":                             {perm: authz.ManageApplications},
	"GET /api/v1/tenants/{tenant}/applications/{id}/certificates":                   {perm: authz.ReadApplications},
	"GET /api/v1/tenants/{tenant}/applications/{id}/certificates/{certId}/download": {perm: authz.ReadApplications},
	"POST /api/v1/tenants/{tenant}/applications/{id}/certificates/next":             {perm: authz.ManageApplications},
	"POST /api/v1/tenants/{tenant}/applications/{id}/certificates/promote":          {perm: authz.ManageApplications},
	"POST /api/v1/tenants/{tenant}/applications/{id}/federation/verify":             {perm: authz.ReadApplications},
	"GET /api/v1/tenants/{tenant}/applications/{id}/federation/manual":              {perm: authz.ReadApplications},
	"POST /api/v1/tenants/{tenant}/applications/{id}/federation/federate":           {perm: authz.ManageFederation, external: true},
	"POST /api/v1/tenants/{tenant}/applications/{id}/federation/disconnect":         {perm: authz.ManageFederation, external: true},
	"POST /api/v1/tenants/{tenant}/applications/{id}/federation/rollover":           {perm: authz.ManageFederation, external: true},

	"GET /api/v1/tenants/{tenant}/policies":                                       {perm: authz.ReadApplications},
	"POST /api/v1/tenants/{tenant}/policies":                                      {perm: authz.ManageApplications},
	"GET /api/v1/tenants/{tenant}/applications/{id}/sync/runs":                    {perm: authz.ReadApplications},
	"POST /api/v1/tenants/{tenant}/applications/{id}/sync/runs":                   {perm: authz.ManageApplications, external: true},
	"GET /api/v1/tenants/{tenant}/applications/{id}/sync/runs/{runId}":            {perm: authz.ReadApplications},
	"GET /api/v1/tenants/{tenant}/applications/{id}/sync/runs/{runId}/operations": {perm: authz.ReadApplications},
	// Cancelling a finished run is a 409: allowed, but nothing to cancel.
	"POST /api/v1/tenants/{tenant}/applications/{id}/sync/runs/{runId}/cancel": {perm: authz.ManageApplications, external: true},

	"GET /api/v1/tenants/{tenant}/policies/{id}":    {perm: authz.ReadApplications},
	"PATCH /api/v1/tenants/{tenant}/policies/{id}":  {perm: authz.ManageApplications},
	"DELETE /api/v1/tenants/{tenant}/policies/{id}": {perm: authz.ManageApplications},

	"GET /api/v1/tenants/{tenant}/tokens":         {perm: authz.ReadTokens},
	"POST /api/v1/tenants/{tenant}/tokens":        {perm: authz.ManageTokens},
	"DELETE /api/v1/tenants/{tenant}/tokens/{id}": {perm: authz.ManageTokens},
}

// rolesEnv is an API over tenants alpha and beta, with a token of every
// role in alpha (and a global one).
type rolesEnv struct {
	*env
	sys    context.Context
	api    *API
	ta, tb directory.Tenant
	org    directory.Organization
	user   directory.User
	group  directory.Group
	app    apps.Application
	pol    authn.Policy
	run    syncrecord.Run
	tokens map[authz.Role]string
	n      atomic.Int64
}

func newRolesEnv(t *testing.T, skipEdge bool) *rolesEnv {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "roles.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mk, _ := secrets.NewMasterKey(make([]byte, 32))
	kr, _ := secrets.NewKeyring(nil, mk)
	svc := admin.New(st, admin.WithKeyring(kr))
	sign := signin.New(st, kr, signin.WithHasher(authn.NewHasher(authn.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})))
	fed := federation.New(svc, kr, "https://idp.example.com", federation.WithGraph(
		func(context.Context, directory.Tenant, apps.Application) (federation.Graph, error) {
			return nil, errors.New("Microsoft Graph is offline in this test")
		}))
	syncSvc := m365sync.New(st, m365sync.FederationConnector(fed))
	t.Cleanup(syncSvc.Wait)
	a := New(svc, sign, slog.New(slog.DiscardHandler)).WithFederation(fed).WithSync(syncSvc)
	a.skipEdge = skipEdge
	// The server's own middleware in front: request ids, as in production.
	srv := httptest.NewServer(web.NewHandler(web.Config{Log: slog.New(slog.DiscardHandler), Metrics: web.NewMetrics(), Ready: st,
		Handlers: []web.Registrar{a}}))
	t.Cleanup(srv.Close)
	e := &rolesEnv{env: &env{t: t, srv: srv, svc: svc, signin: sign}, api: a, sys: authz.With(context.Background(), authz.System("test")),
		tokens: map[authz.Role]string{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	e.ta, e.org, err = svc.CreateTenant(e.sys, "alpha", "Alpha", "@alpha.example.com")
	must(err)
	e.tb, _, err = svc.CreateTenant(e.sys, "beta", "Beta", "@beta.example.com")
	must(err)
	e.user, err = svc.CreateUser(e.sys, e.ta.ID, directory.User{Username: "ann", OrganizationID: e.org.ID})
	must(err)
	e.group, err = svc.CreateGroup(e.sys, e.ta.ID, directory.Group{Name: "Staff", Type: directory.GroupSecurity})
	must(err)
	e.pol, err = svc.CreatePolicy(e.sys, e.ta.ID, authn.Policy{Name: "Strict", SecondFactor: authn.FactorTOTP})
	must(err)
	e.app = e.newApp()
	// A finished run to read and (fail to) cancel: Graph is offline, so a
	// dry run ends at once, failed.
	if e.run, err = syncSvc.Run(e.sys, e.ta.ID, e.app.ID, m365sync.RunOptions{DryRun: true}); e.run.ID == "" {
		t.Fatalf("a dry run left no run: %v", err)
	}
	for _, r := range authz.Roles {
		tenantID := e.ta.ID
		if r == authz.Global {
			tenantID = ""
		}
		e.tokens[r], _, err = svc.CreateAPIToken(e.sys, tenantID, string(r), r)
		must(err)
	}
	e.tokB, _, err = svc.CreateAPIToken(e.sys, e.tb.ID, "beta admin", authz.TenantAdmin)
	must(err)
	return e
}

func (e *rolesEnv) name(p string) string { return fmt.Sprintf("%s%d", p, e.n.Add(1)) }

func (e *rolesEnv) newApp() apps.Application {
	e.t.Helper()
	a, err := e.svc.CreateApplication(e.sys, e.ta.ID, apps.Application{Name: "Office 365", Enabled: true,
		Office365: &apps.Office365Settings{Domains: apps.Domains("alpha.example.com")}})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *rolesEnv) newUser() directory.User {
	e.t.Helper()
	u, err := e.svc.CreateUser(e.sys, e.ta.ID, directory.User{Username: e.name("user"), OrganizationID: e.org.ID})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// request makes the concrete request of a route for a caller; fresh says
// the call will succeed, so what it destroys is made for it.
func (e *rolesEnv) request(method, pattern string, fresh bool) (string, any) {
	e.t.Helper()
	ids := map[string]string{}
	var body any
	seg := func(s string) string { return pattern[strings.Index(pattern, "{tenant}")+len("{tenant}"):] }
	rest := ""
	if strings.Contains(pattern, "{tenant}") {
		rest = seg(pattern)
	}
	switch {
	case strings.HasPrefix(rest, "/organizations/"):
		ids["id"] = e.org.ID
		if method == "DELETE" && fresh {
			o, err := e.svc.CreateOrganization(e.sys, e.ta.ID, directory.Organization{Name: e.name("Org ")})
			if err != nil {
				e.t.Fatal(err)
			}
			ids["id"] = o.ID
		}
	case strings.HasPrefix(rest, "/users/"):
		ids["id"] = e.user.ID
		if method == "DELETE" && rest == "/users/{id}" && fresh {
			ids["id"] = e.newUser().ID
		}
	case strings.HasPrefix(rest, "/groups/"):
		ids["id"] = e.group.ID
		if method == "DELETE" && rest == "/groups/{id}" && fresh {
			g, err := e.svc.CreateGroup(e.sys, e.ta.ID, directory.Group{Name: e.name("Gone "), Type: directory.GroupSecurity})
			if err != nil {
				e.t.Fatal(err)
			}
			ids["id"] = g.ID
		}
		u := e.newUser()
		ids["userId"] = u.ID
		if method == "DELETE" && strings.HasSuffix(rest, "{userId}") {
			if err := e.svc.AddGroupMember(e.sys, e.ta.ID, e.group.ID, u.ID); err != nil {
				e.t.Fatal(err)
			}
		}
	case strings.HasPrefix(rest, "/applications/"):
		app := e.app
		if fresh && (method == "DELETE" || strings.HasSuffix(rest, "/promote") || strings.HasSuffix(rest, "/rollover")) {
			app = e.newApp()
		}
		ids["id"] = app.ID
		if strings.HasSuffix(rest, "/promote") && fresh {
			if _, err := e.svc.CreateNextKey(e.sys, e.ta.ID, app.ID); err != nil {
				e.t.Fatal(err)
			}
		}
		if strings.Contains(rest, "{runId}") {
			ids["runId"] = e.run.ID
		}
		if strings.Contains(rest, "{certId}") {
			certs, err := e.svc.Certificates(e.sys, e.ta.ID, app.ID)
			if err != nil {
				e.t.Fatal(err)
			}
			ids["certId"] = certs[0].ID
		}
	case strings.HasPrefix(rest, "/policies/"):
		ids["id"] = e.pol.ID
		if method == "DELETE" && fresh {
			p, err := e.svc.CreatePolicy(e.sys, e.ta.ID, authn.Policy{Name: e.name("Spare "), SecondFactor: authn.FactorNone})
			if err != nil {
				e.t.Fatal(err)
			}
			ids["id"] = p.ID
		}
	case strings.HasPrefix(rest, "/tokens/") || strings.HasPrefix(pattern, "/api/v1/tokens/"):
		tenantID := e.ta.ID
		if !strings.Contains(pattern, "{tenant}") {
			tenantID = ""
		}
		_, tok, err := e.svc.CreateAPIToken(e.sys, tenantID, "spare", authz.ReadOnly)
		if err != nil {
			e.t.Fatal(err)
		}
		ids["id"] = tok.ID
	}
	tenant := "alpha"
	if pattern == "/api/v1/tenants/{tenant}" && method == "DELETE" && fresh {
		t, _, err := e.svc.CreateTenant(e.sys, e.name("doomed"), "", "")
		if err != nil {
			e.t.Fatal(err)
		}
		tenant = t.Slug
	}
	switch method + " " + rest {
	case "POST ":
		if pattern == "/api/v1/tenants" {
			body = map[string]string{"slug": e.name("new")}
		} else if strings.HasSuffix(pattern, "/tokens") {
			body = map[string]string{"name": "new", "role": "readOnly"}
		}
	case "PATCH ":
		body = map[string]string{"name": e.name("Alpha ")}
	case "POST /organizations", "PATCH /organizations/{id}":
		body = map[string]string{"name": e.name("Org ")}
	case "POST /users":
		body = map[string]string{"username": e.name("new"), "organizationId": e.org.ID}
	case "POST /users/import":
		body = []map[string]string{{"username": e.name("imp"), "organizationId": e.org.ID}}
	case "PATCH /users/{id}":
		body = map[string]string{"jobTitle": e.name("Job ")}
	case "PUT /users/{id}/password":
		body = map[string]string{"password": "a long new password"}
	case "POST /groups":
		body = map[string]string{"name": e.name("Group "), "type": "security"}
	case "PATCH /groups/{id}":
		body = map[string]string{"description": e.name("d")}
	case "POST /groups/{id}/members":
		body = map[string]string{"userId": ids["userId"]}
	case "POST /applications":
		body = map[string]any{"name": e.name("App ")}
	case "PATCH /applications/{id}":
		body = map[string]any{"name": e.name("Office ")}
	case "POST /policies":
		body = map[string]any{"name": e.name("Policy "), "secondFactor": "none"}
	case "PATCH /policies/{id}":
		body = map[string]any{"name": e.name("Strict ")}
	case "POST /tokens":
		body = map[string]string{"name": "new", "role": "readOnly"}
	case "POST /applications/{id}/federation/verify", "POST /applications/{id}/federation/federate",
		"POST /applications/{id}/federation/disconnect":
		body = map[string]string{"domain": "alpha.example.com"}
	}
	path := strings.Replace(pattern, "{tenant}", tenant, 1)
	for k, v := range ids {
		path = strings.Replace(path, "{"+k+"}", v, 1)
	}
	return path, body
}

// checkRoutes calls every route as every role and from another tenant.
func checkRoutes(t *testing.T, e *rolesEnv) {
	for _, rt := range e.api.Routes() {
		key := rt.Method + " " + rt.Pattern
		rl, ok := rules[key]
		if !ok {
			t.Errorf("%s has no rule in the roles test: say which roles may call it", key)
			continue
		}
		if !rl.public && !rl.any && rt.Permission != rl.perm {
			t.Errorf("%s checks %q at the edge; the rule says %q", key, rt.Permission, rl.perm)
		}
		t.Run(strings.ReplaceAll(key, "/", "_"), func(t *testing.T) {
			e.t = t
			for _, role := range authz.Roles {
				allowed := rl.public || rl.any || (role.Has(rl.perm) && (!rl.installation || role == authz.Global))
				path, body := e.request(rt.Method, rt.Pattern, allowed)
				r := e.do(rt.Method, path, e.tokens[role], body)
				switch {
				case allowed && rl.external:
					if r.status == 401 || r.status == 403 || r.status == 404 {
						t.Errorf("%s: %d %s", role, r.status, r.body)
					}
				case allowed:
					if r.status < 200 || r.status > 299 {
						t.Errorf("%s: %d; want 2xx: %s", role, r.status, r.body)
					}
				default:
					var p Problem
					json.Unmarshal(r.body, &p)
					if r.status != 403 || r.header.Get("Content-Type") != "application/problem+json" || p.Role != role ||
						!slices.Contains(p.RequiredRoles, authz.Global) || !strings.Contains(p.Detail, "global") {
						t.Errorf("%s: %d %s; want 403 naming the roles needed", role, r.status, r.body)
					}
				}
			}
			if rl.public || !strings.Contains(rt.Pattern, "{tenant}") {
				return
			}
			// A tenant's token is told another tenant's objects do not exist.
			path, body := e.request(rt.Method, rt.Pattern, false)
			if r := e.do(rt.Method, path, e.tokB, body); r.status != 404 {
				t.Errorf("beta's administrator on alpha: %d %s; want 404", r.status, r.body)
			}
			if r := e.do(rt.Method, path, "", body); r.status != 401 {
				t.Errorf("no token: %d", r.status)
			}
		})
	}
	for key := range rules {
		found := false
		for _, rt := range e.api.Routes() {
			found = found || rt.Method+" "+rt.Pattern == key
		}
		if !found {
			t.Errorf("rule for %s, which is not a route", key)
		}
	}
}

// TestRolesOnEveryRoute: every route of the API, called by each role,
// answers 2xx, 403 with the roles needed, or 404 for another tenant's
// token — as the rules above say.
func TestRolesOnEveryRoute(t *testing.T) {
	checkRoutes(t, newRolesEnv(t, false))
}

// TestRolesOnEveryRouteWithoutEdgeChecks: the same answers with the
// route-level checks turned off — the services alone enforce every rule,
// so a handler that forgets a check cannot bypass it.
func TestRolesOnEveryRouteWithoutEdgeChecks(t *testing.T) {
	checkRoutes(t, newRolesEnv(t, true))
}
