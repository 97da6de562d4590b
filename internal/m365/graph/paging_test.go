package graph

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/m365sim"
)

// TestPaging reads 250 generated users in pages of 100 and of 999, with an
// empty page injected in front (pages may be empty: graph/paging).
func TestPaging(t *testing.T) {
	e := newEnv(t, func(s *m365sim.SeedFile) {
		s.Tenants[0].GenerateUsers = &m365sim.SeedGenerate{Count: 250, Domain: "contoso.com", Prefix: "gen", UsageLocation: "US"}
	})
	c, _, _ := e.client(t)
	ctx := context.Background()
	const total = 253 // 250 generated and 3 seeded

	tests := []struct {
		name      string
		q         Query
		emptyHead bool
		pages     int
	}{
		{"default page size", Query{Select: []string{"id"}}, false, 3},
		{"top 100", Query{Top: 100, Select: []string{"id", "userPrincipalName"}}, false, 3},
		{"top 999", Query{Top: 999}, false, 1},
		{"top 7", Query{Top: 7, Select: []string{"id"}}, false, 37},
		{"empty first page", Query{Top: 100, Select: []string{"id"}}, true, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			injected := false
			e.fault.set(func(w http.ResponseWriter, r *http.Request) bool {
				if !tt.emptyHead || injected || r.URL.Path != "/v1.0/users" || r.URL.Query().Get("$skiptoken") != "" {
					return false
				}
				injected = true
				// An empty page whose nextLink is the real first page.
				next := "https://" + r.Host + r.URL.Path + "?" + r.URL.RawQuery
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(map[string]any{"value": []any{}, "@odata.nextLink": next + "&x=1"})
				return true
			})
			ids := map[string]bool{}
			pages, empty := 0, 0
			err := c.ListUsers(ctx, tt.q, func(p []User) error {
				pages++
				if len(p) == 0 {
					empty++
				}
				for _, u := range p {
					if ids[u.ID] {
						t.Errorf("user %s twice", u.ID)
					}
					ids[u.ID] = true
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != total || pages != tt.pages {
				t.Errorf("%d users in %d pages, want %d in %d", len(ids), pages, total, tt.pages)
			}
			if tt.emptyHead != (empty == 1) {
				t.Errorf("%d empty pages", empty)
			}
			// Every request after the first followed a nextLink with $skiptoken.
			for i, r := range e.fault.requests() {
				if i > 0 && !strings.HasPrefix(r, "GET /v1.0/users") {
					t.Errorf("request %d: %s", i, r)
				}
			}
		})
	}
	if err := c.ListUsers(ctx, Query{Top: 1000}, func([]User) error { return nil }); err == nil {
		t.Error("$top 1000 accepted")
	}
}

// TestNextLinkStaysOnGraph refuses a nextLink to another host: it would
// receive the bearer token.
func TestNextLinkStaysOnGraph(t *testing.T) {
	e := newEnv(t)
	c, _, _ := e.client(t)
	e.fault.set(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"value": []any{}, "@odata.nextLink": "https://attacker.example/v1.0/users?$skiptoken=x"})
		return true
	})
	err := c.ListUsers(context.Background(), Query{}, func([]User) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "refusing link") {
		t.Fatalf("foreign nextLink: %v", err)
	}
	// A nextLink that repeats itself would loop for ever.
	e.fault.set(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"value": []any{}, "@odata.nextLink": "https://" + r.Host + "/v1.0/users?$skiptoken=same"})
		return true
	})
	err = c.ListUsers(context.Background(), Query{}, func([]User) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "repeats") {
		t.Fatalf("looping nextLink: %v", err)
	}
}
