package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestIfMatch(t *testing.T) {
	e := newEnv(t)
	base := "/api/v1/tenants/alpha/groups"
	for _, tc := range []struct {
		name   string
		lines  []string // If-Match field lines; nil: no header
		status int      // of a PATCH on a group at version 1
	}{
		{"absent", nil, 200},
		{"star", []string{`*`}, 200},
		{"current", []string{`"1"`}, 200},
		{"stale", []string{`"2"`}, 412},
		{"list with the current tag last", []string{`"3", "2", "1"`}, 200},
		{"list without it", []string{`"3","2"`}, 412},
		{"current in a second field line", []string{`"2"`, `"1"`}, 200},
		{"weak tag never matches", []string{`W/"1"`}, 412},
		{"weak and strong", []string{`W/"1", "1"`}, 200},
		{"strong comparison is exact", []string{`"01"`}, 412},
		{"a tag this server never issues", []string{`"abc"`}, 412},
		{"empty list elements", []string{`, "1" ,`}, 200},
		{"unquoted", []string{`1`}, 400},
		{"no comma", []string{`"1" "2"`}, 400},
		{"star in a list", []string{`*, "1"`}, 400},
		{"unterminated", []string{`"1`}, 400},
		{"space inside a tag", []string{`"1 2"`}, 400},
		{"lower-case weak prefix", []string{`w/"1"`}, 400},
		{"empty", []string{``}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := e.do("POST", base, e.tokA, map[string]string{"name": "g " + tc.name}).json(t)["id"].(string)
			req, _ := http.NewRequest("PATCH", e.srv.URL+base+"/"+id, strings.NewReader(`{"description":"changed"}`))
			req.Header.Set("Authorization", "Bearer "+e.tokA)
			req.Header.Set("Content-Type", "application/merge-patch+json")
			for _, l := range tc.lines {
				req.Header.Add("If-Match", l)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Fatalf("If-Match %q: %d %s, want %d", tc.lines, res.StatusCode, b, tc.status)
			}
			r := resp{res.StatusCode, res.Header, b}
			if tc.status == 400 {
				eqFields(t, r.problemFields(t), "If-Match")
			}
			changed := strings.Contains(string(e.do("GET", base+"/"+id, e.tokA, nil).body), `"changed"`)
			if changed != (tc.status == 200) {
				t.Fatalf("status %d but changed=%v", tc.status, changed)
			}
		})
	}
	// DELETE follows the same rules.
	id := e.do("POST", base, e.tokA, map[string]string{"name": "to delete"}).json(t)["id"].(string)
	want(t, e.do("DELETE", base+"/"+id, e.tokA, nil, "If-Match", `W/"1"`), 412)
	want(t, e.do("DELETE", base+"/"+id, e.tokA, nil, "If-Match", `1`), 400)
	want(t, e.do("DELETE", base+"/"+id, e.tokA, nil, "If-Match", `"7", "1"`), 204)
}

func TestStrictJSONBodies(t *testing.T) {
	e := newEnv(t)
	tb := "/api/v1/tenants/alpha"
	uid := e.do("POST", tb+"/users", e.tokA, map[string]string{"username": "ann"}).json(t)["id"].(string)
	gid := e.do("POST", tb+"/groups", e.tokA, map[string]string{"name": "G"}).json(t)["id"].(string)
	aid := e.do("POST", tb+"/applications", e.tokA, map[string]any{"permissionGroupIds": []string{gid}}).json(t)["id"].(string)
	for _, tc := range []struct {
		name, method, path, body, contentType string
		kind, field                           string
	}{
		{"duplicate on create", "POST", tb + "/users", `{"username":"bob","displayName":"Bob","displayName":"Mallory"}`, "", "duplicate-field", "displayName"},
		{"case variant", "PUT", tb + "/users/" + uid + "/password", `{"password":"Correct-Horse-1","Password":"other-pass-2"}`, "", "duplicate-field", "Password"},
		{"duplicate in a patch", "PATCH", tb + "/users/" + uid, `{"jobTitle":"a","jobTitle":"b"}`, "", "duplicate-field", "jobTitle"},
		{"nested duplicate", "PATCH", tb + "/applications/" + aid, `{"office365":{"protocol":"wsfed","protocol":"saml"}}`, "", "duplicate-field", "office365.protocol"},
		{"duplicate in an import item", "POST", tb + "/users/import", `[{"username":"i0"},{"username":"i1"},{"username":"i2"},{"username":"i3","email":"a@x.com","email":"b@x.com"}]`, "", "duplicate-field", "[3].email"},
		{"invalid UTF-8", "PATCH", tb + "/users/" + uid, "{\"displayName\":\"Ann\xff\"}", "", "invalid-text", "displayName"},
		{"invalid UTF-8 in an array", "PATCH", tb + "/applications/" + aid, "{\"permissionGroupIds\":[\"" + gid + "\",\"\xc3\"]}", "", "invalid-text", "permissionGroupIds[1]"},
		{"lone surrogate", "POST", tb + "/groups", `{"name":"G\ud800"}`, "", "invalid-text", "name"},
		{"invalid UTF-8 in NDJSON", "POST", tb + "/users/import", "{\"username\":\"n0\"}\n{\"username\":\"n1\",\"displayName\":\"\xe2\x82\"}\n", "application/x-ndjson", "invalid-text", "[1].displayName"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := []string{}
			if tc.contentType != "" {
				hdr = append(hdr, "Content-Type", tc.contentType)
			}
			r := e.do(tc.method, tc.path, e.tokA, tc.body, hdr...)
			want(t, r, 400)
			eqFields(t, r.problemFields(t), tc.field)
			if p := r.json(t); p["type"] != problemBase+tc.kind {
				t.Fatalf("problem type %v, want %s", p["type"], tc.kind)
			}
		})
	}
	// Nothing was written by the refused requests.
	for _, name := range []string{"bob", "i0", "n0"} {
		if strings.Contains(string(e.do("GET", tb+"/users?name="+name, e.tokA, nil).body), `"username":"`+name+`"`) {
			t.Errorf("a refused request created %s", name)
		}
	}
	if u := e.do("GET", tb+"/users/"+uid, e.tokA, nil).json(t); u["jobTitle"] != nil && u["jobTitle"] != "" {
		t.Errorf("a refused patch changed the user: %v", u)
	}
	// Valid text with U+FFFD itself, escaped or not, is still accepted.
	want(t, e.do("PATCH", tb+"/users/"+uid, e.tokA, `{"displayName":"Ann \ufffd �"}`), 200)
}

// readSpy is a request body that records whether it was read.
type readSpy struct{ read bool }

func (s *readSpy) Read(p []byte) (int, error) { s.read = true; return copy(p, "{}"), io.EOF }
func (s *readSpy) Close() error               { return nil }

// TestAuthenticatedBeforeBodyRead checks every operation that takes a
// body: without a token, or with a token of another tenant, it answers
// without reading a byte of the body.
func TestAuthenticatedBeforeBodyRead(t *testing.T) {
	e := newEnv(t)
	api := New(e.svc, e.signin, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	api.Register(mux)
	param := regexp.MustCompile(`\{[^}]+\}`)
	n := 0
	for _, rt := range api.Routes() {
		if rt.Method == "GET" {
			continue
		}
		for _, who := range []struct {
			token  string
			status int
		}{{"", 401}, {e.tokB, 404}} {
			path := strings.ReplaceAll(param.ReplaceAllString(rt.Pattern, "x"), "/tenants/x", "/tenants/alpha")
			if who.token != "" && (rt.Pattern == "/api/v1/tenants" || strings.HasPrefix(rt.Pattern, "/api/v1/tokens")) {
				who.status = 403 // operations for every tenant: a tenant token is refused outright
			}
			spy := &readSpy{}
			req := httptest.NewRequest(rt.Method, path, spy)
			req.ContentLength = 2
			req.Header.Set("Content-Type", "application/json")
			if who.token != "" {
				req.Header.Set("Authorization", "Bearer "+who.token)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != who.status || spy.read {
				t.Errorf("%s %s (with a token: %v): %d, body read %v; want %d without reading", rt.Method, rt.Pattern, who.token != "", rec.Code, spy.read, who.status)
			}
			n++
		}
	}
	if n < 40 {
		t.Fatalf("only %d operations checked", n)
	}
}
