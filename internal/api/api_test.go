package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/secrets"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/storage/sqlite"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
)

// env is a served API with two tenants and their tokens.
type env struct {
	t      testing.TB
	srv    *httptest.Server
	svc    *admin.Service
	signin *signin.Service
	global string
	tokA   string // tenant "alpha"
	tokB   string // tenant "beta"
	orgA   directory.Organization
}

func newEnv(t testing.TB) *env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "api.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mk, _ := secrets.NewMasterKey(make([]byte, 32))
	kr, _ := secrets.NewKeyring(nil, mk)
	svc := admin.New(st, admin.WithKeyring(kr))
	sign := signin.New(st, kr, signin.WithHasher(authn.NewHasher(authn.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})))
	mux := http.NewServeMux()
	New(svc, sign, slog.New(slog.DiscardHandler)).Register(mux)
	e := &env{t: t, srv: httptest.NewServer(mux), svc: svc, signin: sign}
	t.Cleanup(e.srv.Close)
	ctx := authz.With(context.Background(), authz.System("test"))
	ta, oa, err := svc.CreateTenant(ctx, "alpha", "Alpha", "@alpha.example.com")
	if err != nil {
		t.Fatal(err)
	}
	e.orgA = oa
	tb, _, err := svc.CreateTenant(ctx, "beta", "Beta", "@beta.example.com")
	if err != nil {
		t.Fatal(err)
	}
	e.global, _, _ = svc.CreateAPIToken(ctx, "", "g", authz.Global)
	e.tokA, _, _ = svc.CreateAPIToken(ctx, ta.ID, "a", authz.TenantAdmin)
	e.tokB, _, _ = svc.CreateAPIToken(ctx, tb.ID, "b", authz.TenantAdmin)
	return e
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// problemFields returns the field names of a problem response.
func (r resp) problemFields(t *testing.T) []string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, body %s", ct, r.body)
	}
	var p Problem
	json.Unmarshal(r.body, &p)
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

func (e *env) do(method, path, token string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func want(t *testing.T, r resp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d; want %d; body %s", r.status, status, r.body)
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/api/v1/tenants/alpha/users", "", nil)
	want(t, r, 401)
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatal("no WWW-Authenticate challenge")
	}
	want(t, e.do("GET", "/api/v1/tenants/alpha/users", "ptc_"+strings.Repeat("x", 43), nil), 401)
	want(t, e.do("GET", "/api/v1/tenants/alpha/users", "garbage", nil), 401)
	want(t, e.do("GET", "/api/v1/tenants", e.tokA, nil), 403)
	want(t, e.do("POST", "/api/v1/tenants", e.tokA, map[string]string{"slug": "x"}), 403)
	// A tenant token sees its tenant and nothing of the other one.
	want(t, e.do("GET", "/api/v1/tenants/alpha", e.tokA, nil), 200)
	r = e.do("GET", "/api/v1/tenants/beta/users", e.tokA, nil)
	want(t, r, 404)
	other, missing := r.json(t), e.do("GET", "/api/v1/tenants/nope/users", e.tokA, nil).json(t)
	if other["type"] != missing["type"] || other["status"] != missing["status"] || other["title"] != missing["title"] {
		t.Fatalf("another tenant (%v) is distinguishable from a missing one (%v)", other, missing)
	}
	want(t, e.do("GET", "/api/v1/tenants/beta/users", e.global, nil), 200)
	want(t, e.do("GET", "/api/v1/tenants", e.global, nil), 200)
	r = e.do("GET", "/api/v1/nothing-here", e.global, nil)
	want(t, r, 404)
	if r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatal("unknown API path not answered with a problem")
	}
}

func TestTenantsAPI(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/api/v1/tenants", e.global, map[string]string{"slug": "Gamma", "name": "Gamma", "principalNameSuffix": "gamma.example.com"})
	want(t, r, 201)
	if r.json(t)["slug"] != "gamma" || r.header.Get("Location") != "/api/v1/tenants/gamma" {
		t.Fatalf("created tenant %s", r.body)
	}
	r = e.do("GET", "/api/v1/tenants/gamma/organizations", e.global, nil)
	want(t, r, 200)
	if !strings.Contains(string(r.body), `"principalNameSuffix":"@gamma.example.com"`) {
		t.Fatalf("default organization %s", r.body)
	}
	r = e.do("POST", "/api/v1/tenants", e.global, map[string]string{"slug": "gamma"})
	want(t, r, 409)
	eqFields(t, r.problemFields(t), "slug")
	r = e.do("POST", "/api/v1/tenants", e.global, map[string]string{"slug": "bad slug!"})
	want(t, r, 422)
	eqFields(t, r.problemFields(t), "slug")
	r = e.do("PATCH", "/api/v1/tenants/gamma", e.global, map[string]string{"name": "Gamma Ltd"}, "If-Match", `"1"`)
	want(t, r, 200)
	if r.header.Get("ETag") != `"2"` {
		t.Fatalf("ETag %q", r.header.Get("ETag"))
	}
	// A tenant token acting on another tenant is told it does not exist;
	// on its own tenant, that renaming needs the global role.
	want(t, e.do("PATCH", "/api/v1/tenants/gamma", e.tokA, map[string]string{"name": "x"}), 404)
	want(t, e.do("PATCH", "/api/v1/tenants/alpha", e.tokA, map[string]string{"name": "x"}), 403)
	want(t, e.do("DELETE", "/api/v1/tenants/gamma", e.global, nil, "If-Match", `"1"`), 412)
	want(t, e.do("DELETE", "/api/v1/tenants/gamma", e.global, nil, "If-Match", `"2"`), 204)
	want(t, e.do("GET", "/api/v1/tenants/gamma", e.global, nil), 404)
}

func eqFields(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("problem fields %v; want %v", got, want)
	}
}

func TestUsersAPI(t *testing.T) {
	e := newEnv(t)
	base := "/api/v1/tenants/alpha/users"
	r := e.do("POST", base, e.tokA, map[string]string{"username": "John.Smith", "givenName": "John", "familyName": "Smith", "usageLocation": "us"})
	want(t, r, 201)
	u := r.json(t)
	id := u["id"].(string)
	if u["userPrincipalName"] != "john.smith@alpha.example.com" || u["displayName"] != "John Smith" || u["status"] != "active" ||
		len(u["immutableId"].(string)) != 24 || r.header.Get("ETag") != `"1"` || u["organizationId"] != e.orgA.ID {
		t.Fatalf("created user %s", r.body)
	}

	// Bad input, each named.
	cases := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"duplicate username", map[string]string{"username": "john.smith"}, 409, "username"},
		{"unknown organization", map[string]string{"username": "x", "organizationId": "0190a0a0-0000-7000-8000-000000000000"}, 422, "organizationId"},
		{"unknown field", map[string]string{"username": "x", "nickname": "y"}, 400, "nickname"},
		{"read-only field", map[string]string{"username": "x", "userPrincipalName": "y@z.com"}, 422, "userPrincipalName"},
		{"wrong type", `{"username": 42}`, 400, "username"},
		{"bad usage location", map[string]string{"username": "x", "usageLocation": "Mars"}, 422, "usageLocation"},
		{"bad status", map[string]string{"username": "x", "status": "gone"}, 422, "status"},
		{"missing username", map[string]string{"givenName": "x"}, 422, "username"},
	}
	for _, c := range cases {
		r := e.do("POST", base, e.tokA, c.body)
		if r.status != c.status {
			t.Fatalf("%s: status %d; want %d (%s)", c.name, r.status, c.status, r.body)
		}
		eqFields(t, r.problemFields(t), c.field)
	}
	r = e.do("POST", base, e.tokA, `{"username": "x",, }`)
	want(t, r, 400)
	if off, ok := r.json(t)["offset"].(float64); !ok || off != 18 {
		t.Fatalf("malformed JSON: %s", r.body)
	}
	want(t, e.do("POST", base, e.tokA, `{"username":"x"} {"username":"y"}`), 400)
	want(t, e.do("POST", base, e.tokA, ""), 400)
	r = e.do("POST", base, e.tokA, `{"username":"`+strings.Repeat("a", 2<<20)+`"}`)
	want(t, r, 413)
	want(t, e.do("POST", base, e.tokA, "username=x", "Content-Type", "application/x-www-form-urlencoded"), 415)

	// Read, patch with If-Match, stale If-Match.
	r = e.do("GET", base+"/"+id, e.tokA, nil)
	want(t, r, 200)
	etag := r.header.Get("ETag")
	r = e.do("PATCH", base+"/"+id, e.tokA, map[string]any{"jobTitle": "CEO", "department": nil}, "If-Match", etag,
		"Content-Type", "application/merge-patch+json")
	want(t, r, 200)
	if r.json(t)["jobTitle"] != "CEO" || r.header.Get("ETag") == etag {
		t.Fatalf("patched %s etag %s", r.body, r.header.Get("ETag"))
	}
	r = e.do("PATCH", base+"/"+id, e.tokA, map[string]any{"jobTitle": "Intern"}, "If-Match", etag)
	want(t, r, 412)
	r = e.do("PATCH", base+"/"+id, e.tokA, map[string]any{"immutableId": "AAAA"})
	want(t, r, 422)
	eqFields(t, r.problemFields(t), "immutableId")
	r = e.do("PATCH", base+"/"+id, e.tokA, map[string]any{"username": "john@other.example.com"})
	want(t, r, 200)
	if r.json(t)["userPrincipalName"] != "john@other.example.com" {
		t.Fatalf("UPN not recomputed: %s", r.body)
	}
	got := e.do("GET", base+"/"+id, e.tokA, nil).json(t)
	if got["jobTitle"] != "CEO" || got["immutableId"] != u["immutableId"] {
		t.Fatalf("after patches %v", got)
	}

	// Another tenant's id is not found, with either token of the other tenant.
	want(t, e.do("GET", "/api/v1/tenants/beta/users/"+id, e.tokB, nil), 404)
	want(t, e.do("PATCH", "/api/v1/tenants/beta/users/"+id, e.tokB, map[string]string{"jobTitle": "pwned"}), 404)
	want(t, e.do("DELETE", "/api/v1/tenants/beta/users/"+id, e.global, nil), 404)
	if e.do("GET", base+"/"+id, e.tokA, nil).json(t)["jobTitle"] != "CEO" {
		t.Fatal("other tenant changed the user")
	}

	want(t, e.do("DELETE", base+"/"+id, e.tokA, nil, "If-Match", `"1"`), 412)
	want(t, e.do("DELETE", base+"/"+id, e.tokA, nil), 204)
	want(t, e.do("GET", base+"/"+id, e.tokA, nil), 404)
}

func TestListAndFilters(t *testing.T) {
	e := newEnv(t)
	base := "/api/v1/tenants/alpha/users"
	for i := range 7 {
		status := "active"
		if i%2 == 1 {
			status = "pending"
		}
		want(t, e.do("POST", base, e.tokA, map[string]string{"username": fmt.Sprintf("u%d", i), "status": status,
			"email": fmt.Sprintf("m%d@mail.example.com", i)}), 201)
	}
	var names []string
	cursor := ""
	for {
		r := e.do("GET", base+"?limit=3&status=pending&cursor="+cursor, e.tokA, nil)
		want(t, r, 200)
		var l struct {
			Items      []directory.User
			NextCursor string
		}
		json.Unmarshal(r.body, &l)
		for _, u := range l.Items {
			names = append(names, u.Username)
		}
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	if fmt.Sprint(names) != "[u1 u3 u5]" {
		t.Fatalf("pending users %v", names)
	}
	r := e.do("GET", base+"?email=M4", e.tokA, nil)
	if !strings.Contains(string(r.body), `"username":"u4"`) || strings.Contains(string(r.body), `"u5"`) {
		t.Fatalf("email filter %s", r.body)
	}
	r = e.do("GET", base+"?nme=u", e.tokA, nil)
	want(t, r, 400)
	eqFields(t, r.problemFields(t), "nme")
	want(t, e.do("GET", base+"?limit=0", e.tokA, nil), 400)
	want(t, e.do("GET", base+"?status=gone", e.tokA, nil), 400)
	r = e.do("GET", base+"?cursor=zzz", e.tokA, nil)
	want(t, r, 400)
	eqFields(t, r.problemFields(t), "cursor")
}

func TestGroupsAndMembersAPI(t *testing.T) {
	e := newEnv(t)
	tb := "/api/v1/tenants/alpha"
	r := e.do("POST", tb+"/groups", e.tokA, map[string]string{"name": "Office 365 Users"})
	want(t, r, 201)
	gid := r.json(t)["id"].(string)
	if r.json(t)["type"] != "security" {
		t.Fatalf("default type: %s", r.body)
	}
	r = e.do("POST", tb+"/groups", e.tokA, map[string]string{"name": "office 365 users"})
	want(t, r, 409)
	eqFields(t, r.problemFields(t), "name")
	r = e.do("POST", tb+"/groups", e.tokA, map[string]string{"name": "Sales", "type": "microsoft365"})
	want(t, r, 422)
	eqFields(t, r.problemFields(t), "email")
	uid := e.do("POST", tb+"/users", e.tokA, map[string]string{"username": "ann"}).json(t)["id"].(string)
	want(t, e.do("POST", tb+"/groups/"+gid+"/members", e.tokA, map[string]string{"userId": uid}), 201)
	r = e.do("POST", tb+"/groups/"+gid+"/members", e.tokA, map[string]string{"userId": uid})
	want(t, r, 409)
	eqFields(t, r.problemFields(t), "userId")
	r = e.do("POST", tb+"/groups/"+gid+"/members", e.tokA, map[string]string{"userId": "nope"})
	want(t, r, 422)
	eqFields(t, r.problemFields(t), "userId")
	r = e.do("GET", tb+"/groups/"+gid+"/members", e.tokA, nil)
	if !strings.Contains(string(r.body), `"username":"ann"`) {
		t.Fatalf("members %s", r.body)
	}
	r = e.do("GET", tb+"/users/"+uid+"/groups", e.tokA, nil)
	if !strings.Contains(string(r.body), `"name":"Office 365 Users"`) {
		t.Fatalf("groups of user %s", r.body)
	}
	r = e.do("GET", tb+"/users?group="+gid, e.tokA, nil)
	if !strings.Contains(string(r.body), `"username":"ann"`) {
		t.Fatalf("users by group %s", r.body)
	}
	// A user of another tenant cannot be added.
	bu := e.do("POST", "/api/v1/tenants/beta/users", e.tokB, map[string]string{"username": "bob"}).json(t)["id"].(string)
	want(t, e.do("POST", tb+"/groups/"+gid+"/members", e.tokA, map[string]string{"userId": bu}), 422)
	want(t, e.do("DELETE", tb+"/groups/"+gid+"/members/"+uid, e.tokA, nil), 204)
	want(t, e.do("DELETE", tb+"/groups/"+gid+"/members/"+uid, e.tokA, nil), 404)
	want(t, e.do("PATCH", tb+"/groups/"+gid, e.tokA, map[string]string{"description": "Licensed"}), 200)
	want(t, e.do("DELETE", tb+"/groups/"+gid, e.tokA, nil), 204)
}

func TestOrganizationsAPI(t *testing.T) {
	e := newEnv(t)
	tb := "/api/v1/tenants/alpha"
	r := e.do("POST", tb+"/organizations", e.tokA, map[string]string{"name": "Fabrikam", "principalNameSuffix": "fabrikam.com"})
	want(t, r, 201)
	oid := r.json(t)["id"].(string)
	// With two organizations, users must name theirs.
	r = e.do("POST", tb+"/users", e.tokA, map[string]string{"username": "x"})
	want(t, r, 422)
	eqFields(t, r.problemFields(t), "organizationId")
	r = e.do("POST", tb+"/users", e.tokA, map[string]string{"username": "jo", "organizationId": oid})
	want(t, r, 201)
	uid := r.json(t)["id"].(string)
	r = e.do("PATCH", tb+"/organizations/"+oid, e.tokA, map[string]string{"principalNameSuffix": "@fabrikam.onmicrosoft.com"})
	want(t, r, 200)
	if e.do("GET", tb+"/users/"+uid, e.tokA, nil).json(t)["userPrincipalName"] != "jo@fabrikam.onmicrosoft.com" {
		t.Fatal("UPN not recomputed after suffix change")
	}
	r = e.do("PATCH", tb+"/organizations/"+oid, e.tokA, map[string]string{"principalNameSuffix": "not a domain"})
	want(t, r, 422)
	eqFields(t, r.problemFields(t), "principalNameSuffix")
	r = e.do("PATCH", tb+"/organizations/"+oid, e.tokA, map[string]any{"principalNameSuffix": nil})
	want(t, r, 422)
	eqFields(t, r.problemFields(t), "principalNameSuffix")
	want(t, e.do("DELETE", tb+"/organizations/"+oid, e.tokA, nil), 409)
	want(t, e.do("DELETE", tb+"/users/"+uid, e.tokA, nil), 204)
	want(t, e.do("DELETE", tb+"/organizations/"+oid, e.tokA, nil), 204)
}

func TestImportAPI(t *testing.T) {
	e := newEnv(t)
	tb := "/api/v1/tenants/alpha"
	gid := e.do("POST", tb+"/groups", e.tokA, map[string]string{"name": "Imported"}).json(t)["id"].(string)
	want(t, e.do("POST", tb+"/users", e.tokA, map[string]string{"username": "taken"}), 201)
	body := []any{
		map[string]any{"username": "i1", "groupIds": []string{gid}},
		map[string]any{"username": "taken"},
		map[string]any{"username": "i2", "usageLocation": "XX"},
		map[string]any{"username": "i3", "groupIds": []string{"missing"}},
		map[string]any{"username": "i4", "bogus": 1},
		"not an object",
		map[string]any{"username": "i5", "status": "pending"},
	}
	r := e.do("POST", tb+"/users/import", e.tokA, body)
	want(t, r, 200)
	var res importResponse
	json.Unmarshal(r.body, &res)
	statuses := []int{}
	for _, it := range res.Results {
		statuses = append(statuses, it.Status)
	}
	if fmt.Sprint(statuses) != "[201 409 422 422 400 400 201]" || res.Created != 2 || res.Failed != 5 {
		t.Fatalf("import results %s", r.body)
	}
	if res.Results[1].Error.Errors[0].Field != "username" || res.Results[3].Error.Errors[0].Field != "groupIds" {
		t.Fatalf("fields not named: %s", r.body)
	}
	r = e.do("GET", tb+"/users?group="+gid, e.tokA, nil)
	if !strings.Contains(string(r.body), `"username":"i1"`) {
		t.Fatalf("membership not created: %s", r.body)
	}
	want(t, e.do("GET", tb+"/users?name=i3", e.tokA, nil), 200)
	if strings.Contains(string(e.do("GET", tb+"/users?name=i3", e.tokA, nil).body), "i3") {
		t.Fatal("failed item left a user behind")
	}

	// NDJSON.
	r = e.do("POST", tb+"/users/import", e.tokA, "{\"username\":\"n1\"}\n{\"username\":\"n2\"}\n", "Content-Type", "application/x-ndjson")
	want(t, r, 200)
	if r.json(t)["created"] != 2.0 {
		t.Fatalf("ndjson %s", r.body)
	}
	// Malformed JSON anywhere: nothing is written.
	want(t, e.do("POST", tb+"/users/import", e.tokA, `[{"username":"m1"}, {"username":`), 400)
	if strings.Contains(string(e.do("GET", tb+"/users?name=m1", e.tokA, nil).body), "m1") {
		t.Fatal("a malformed import wrote a user")
	}
	want(t, e.do("POST", tb+"/users/import", e.tokA, `{"username":"m1"}`), 400)
	// Over the limit: refused whole.
	var big bytes.Buffer
	big.WriteString("[")
	for i := range MaxImport + 1 {
		if i > 0 {
			big.WriteString(",")
		}
		fmt.Fprintf(&big, `{"username":"big%d"}`, i)
	}
	big.WriteString("]")
	r = e.do("POST", tb+"/users/import", e.tokA, big.Bytes())
	want(t, r, 413)
	if strings.Contains(string(e.do("GET", tb+"/users?name=big", e.tokA, nil).body), "big0") {
		t.Fatal("an oversized import wrote users")
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func (e *env) tenantID(t testing.TB, slug string) string {
	tn, err := e.svc.Store().GetTenantBySlug(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID
}
