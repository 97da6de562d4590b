package api

import (
	"context"
	"encoding/json"
	"github.com/portico-idp/portico/internal/authz"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/secrets"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/storage/sqlite"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
)

// fuzzAPI is the admin API on its own store, with one resource of each
// kind to PATCH. The handler is called in process (no TCP) so that the
// fuzzer spends its time in the decoders.
type fuzzAPI struct {
	h      http.Handler
	st     *sqlstore.Store
	tenant directory.Tenant
	token  string
	userID string
	paths  []struct{ method, path string }
}

func newFuzzAPI(tb testing.TB) *fuzzAPI {
	tb.Helper()
	ctx := authz.With(context.Background(), authz.System("fuzz"))
	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "api.db"), sqlstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	mk, _ := secrets.NewMasterKey(make([]byte, 32))
	kr, _ := secrets.NewKeyring(nil, mk)
	svc := admin.New(st, admin.WithKeyring(kr))
	sign := signin.New(st, kr, signin.WithHasher(authn.NewHasher(authn.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})))
	mux := http.NewServeMux()
	New(svc, sign, slog.New(slog.DiscardHandler)).Register(mux)
	f := &fuzzAPI{h: mux, st: st}
	var org directory.Organization
	if f.tenant, org, err = svc.CreateTenant(ctx, "alpha", "Alpha", "@alpha.example.com"); err != nil {
		tb.Fatal(err)
	}
	if f.token, _, err = svc.CreateAPIToken(ctx, "", "fuzz", authz.Global); err != nil {
		tb.Fatal(err)
	}
	u, err := svc.CreateUser(ctx, f.tenant.ID, directory.User{Username: "adele", DisplayName: "Adele Vance"})
	if err != nil {
		tb.Fatal(err)
	}
	g, err := svc.CreateGroup(ctx, f.tenant.ID, directory.Group{Name: "Sales", Type: directory.GroupSecurity})
	if err != nil {
		tb.Fatal(err)
	}
	_, mfa, err := svc.EnsurePolicies(ctx, f.tenant.ID)
	if err != nil {
		tb.Fatal(err)
	}
	app, err := svc.CreateApplication(ctx, f.tenant.ID, apps.Application{Name: "Office 365", Enabled: true, PolicyID: mfa.ID,
		Office365: &apps.Office365Settings{Domains: apps.Domains("contoso.com")}})
	if err != nil {
		tb.Fatal(err)
	}
	f.userID = u.ID
	t := "/api/v1/tenants/alpha"
	f.paths = []struct{ method, path string }{
		{"POST", "/api/v1/tenants"},
		{"PATCH", t},
		{"POST", t + "/organizations"},
		{"PATCH", t + "/organizations/" + org.ID},
		{"POST", t + "/users"},
		{"PATCH", t + "/users/" + u.ID},
		{"POST", t + "/users/import"},
		{"PUT", t + "/users/" + u.ID + "/password"},
		{"POST", t + "/groups"},
		{"PATCH", t + "/groups/" + g.ID},
		{"POST", t + "/groups/" + g.ID + "/members"},
		{"POST", t + "/applications"},
		{"PATCH", t + "/applications/" + app.ID},
		{"POST", t + "/policies"},
		{"PATCH", t + "/policies/" + mfa.ID},
	}
	return f
}

// FuzzAPIBody sends arbitrary bodies to every write operation of the admin
// API (create, merge-patch, import, password, membership). Properties: no
// 5xx; every error is an RFC 9457 problem document whose status matches
// the response and whose field errors name a field; and a user, group or
// organization the API accepted passes the directory's own validation
// when read back from storage (the decoders never let through what the
// validators refuse).
func FuzzAPIBody(f *testing.F) {
	for i, s := range []string{
		`{"slug":"gamma","name":"Gamma","principalNameSuffix":"@gamma.example.com"}`,
		`{"name":"Alpha Corp."}`,
		`{"name":"Research","principalNameSuffix":"@research.alpha.example.com"}`,
		`{"name":null}`,
		`{"username":"megan","displayName":"Megan Bowen","email":"megan@alpha.example.com","givenName":"Megan","familyName":"Bowen","usageLocation":"US","immutableId":"bWVnYW4="}`,
		`{"displayName":"Adele V.","status":"suspended","jobTitle":null}`,
		`[{"username":"u1","displayName":"U One"},{"username":"u2","email":"not-an-email"}]`,
		`{"password":"correct horse battery staple"}`,
		`{"name":"Marketing","type":"security","description":"Marketing team"}`,
		`{"description":null,"email":"sales@alpha.example.com"}`,
		`{"userId":"does-not-exist"}`,
		`{"kind":"office365","name":"Office 365 (2)","enabled":true,"office365":{"loginUrl":"https://login.microsoftonline.com/login.srf","domains":[{"name":"fabrikam.com"}],"requireSignedRequests":false}}`,
		`{"enabled":false,"allowPasswordOnlyActive":true,"permissionGroupIds":[]}`,
		`{"name":"Strict","secondFactor":"totp","sessionIdleMinutes":60,"sessionMaxMinutes":480}`,
		`{"sessionIdleMinutes":-1}`,
	} {
		f.Add(uint8(i), s)
	}
	for _, s := range []string{`{"username":"a"} {}`, `{"username":1}`, `{"id":"x"}`, `{"createdAt":"2026-01-01T00:00:00Z"}`,
		`{"username":"\ud800"}`, `{"a":{"b":[1,{"c":null}]}}`, `null`, `[]`, `{`, `"x"`, `{"username":"` + strings.Repeat("a", 300) + `"}`,
		"{\"username\":\"tab\\tname\",\"usageLocation\":\"XX\"}", `{"status":"deleted"}`} {
		f.Add(uint8(4), s)
		f.Add(uint8(5), s)
	}
	e := newFuzzAPI(f)
	f.Add(uint8(10), `{"userId":"`+e.userID+`"}`)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		p := e.paths[int(which)%len(e.paths)]
		ct := "application/json"
		if p.method == "PATCH" {
			ct = "application/merge-patch+json"
		}
		req := httptest.NewRequest(p.method, "http://portico.test"+p.path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.token)
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: status %d: %s", p.method, p.path, rec.Code, rec.Body.String())
		}
		if rec.Code >= 400 {
			if got := rec.Header().Get("Content-Type"); got != "application/problem+json" {
				t.Fatalf("%s %s: status %d with content type %q", p.method, p.path, rec.Code, got)
			}
			var pr Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &pr); err != nil {
				t.Fatalf("problem document does not parse: %v: %s", err, rec.Body.String())
			}
			if pr.Status != rec.Code || !strings.HasPrefix(pr.Type, problemBase) || pr.Title == "" {
				t.Fatalf("malformed problem for status %d: %s", rec.Code, rec.Body.String())
			}
			for _, fe := range pr.Errors {
				if fe.Field == "" || fe.Message == "" {
					t.Fatalf("field error without a field or message: %s", rec.Body.String())
				}
			}
			return
		}
		if !json.Valid(rec.Body.Bytes()) && rec.Body.Len() > 0 {
			t.Fatalf("status %d with a body that is not JSON: %q", rec.Code, rec.Body.String())
		}
		// Read back what was accepted and validate it independently.
		var created struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &created)
		switch {
		case strings.Contains(p.path, "/users") && !strings.HasSuffix(p.path, "/import") && !strings.HasSuffix(p.path, "/password") && created.ID != "":
			u, err := e.st.GetUser(ctx, e.tenant.ID, created.ID)
			if err != nil {
				t.Fatalf("accepted user %s not stored: %v", created.ID, err)
			}
			org, err := e.st.GetOrganization(ctx, e.tenant.ID, u.OrganizationID)
			if err != nil {
				t.Fatalf("user %s in missing organization: %v", u.ID, err)
			}
			norm := u
			directory.NormalizeUser(&norm)
			if _, err := directory.ValidateUser(norm, org); err != nil {
				t.Fatalf("API stored a user its validator refuses: %v (%+v)", err, u)
			}
		case strings.Contains(p.path, "/groups") && !strings.HasSuffix(p.path, "/members") && created.ID != "":
			g, err := e.st.GetGroup(ctx, e.tenant.ID, created.ID)
			if err != nil {
				t.Fatalf("accepted group %s not stored: %v", created.ID, err)
			}
			if err := directory.ValidateGroup(g); err != nil {
				t.Fatalf("API stored a group its validator refuses: %v (%+v)", err, g)
			}
		case strings.Contains(p.path, "/applications") && created.ID != "":
			a, err := e.st.GetApplication(ctx, e.tenant.ID, created.ID)
			if err != nil {
				t.Fatalf("accepted application %s not stored: %v", created.ID, err)
			}
			if err := a.Validate(); err != nil {
				t.Fatalf("API stored an application its validator refuses: %v (%+v)", err, a)
			}
		case strings.Contains(p.path, "/organizations") && created.ID != "":
			o, err := e.st.GetOrganization(ctx, e.tenant.ID, created.ID)
			if err != nil {
				t.Fatalf("accepted organization %s not stored: %v", created.ID, err)
			}
			if err := directory.ValidateOrganization(o); err != nil {
				t.Fatalf("API stored an organization its validator refuses: %v (%+v)", err, o)
			}
		}
	})
}
