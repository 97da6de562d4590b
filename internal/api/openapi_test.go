package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/strictjson"
)

type openAPIDocument struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas   map[string]json.RawMessage `json:"schemas"`
		Responses map[string]json.RawMessage `json:"responses"`
	} `json:"components"`
}

// TestOpenAPIMatchesRoutes checks the document against the routes actually
// registered, in both directions, and that every operation in it is served
// (not the catch-all, not 405).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	// The document is held to the rule it states for request bodies: a
	// member given twice (a merge can do that) silently loses one of them.
	if err := strictjson.Check(openAPIDoc, strictjson.Options{}); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var doc openAPIDocument
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, r := range New(admin.New(nil), nil, slog.New(slog.DiscardHandler)).Routes() {
		served[r.Method+" "+r.Pattern] = true
		// The permission each operation documents is the one it checks.
		if op, ok := doc.Paths[r.Pattern][strings.ToLower(r.Method)]; ok && r.scope != public {
			var x struct {
				Permission *string `json:"x-permission"`
			}
			json.Unmarshal(op, &x)
			if x.Permission == nil || *x.Permission != string(r.Permission) {
				t.Errorf("%s %s: documented x-permission %v; the route checks %q", r.Method, r.Pattern, x.Permission, r.Permission)
			}
		}
	}
	var missing, extra []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("served but not documented: %v\ndocumented but not served: %v", missing, extra)
	}

	// Every documented operation reaches a handler of its own on a live server.
	e := newEnv(t)
	param := regexp.MustCompile(`\{[^}]+\}`)
	for k := range documented {
		method, path, _ := strings.Cut(k, " ")
		path = strings.Replace(path, "{tenant}", "alpha", 1)
		path = param.ReplaceAllString(path, "x")
		r := e.do(method, path, e.global, "{}")
		if r.status == http.StatusMethodNotAllowed || strings.Contains(string(r.body), "no-route") {
			t.Errorf("%s: not served (status %d: %s)", k, r.status, r.body)
		}
	}

	// Every $ref resolves.
	refs := regexp.MustCompile(`"\$ref":\s*"#/components/(schemas|responses)/([^"]+)"`)
	for _, m := range refs.FindAllStringSubmatch(string(openAPIDoc), -1) {
		var ok bool
		if m[1] == "schemas" {
			_, ok = doc.Components.Schemas[m[2]]
		} else {
			_, ok = doc.Components.Responses[m[2]]
		}
		if !ok {
			t.Errorf("dangling $ref %s/%s", m[1], m[2])
		}
	}
}
