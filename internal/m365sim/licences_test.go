package m365sim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestLicenceCountsFollowUsers checks that consumedUnits, kept up to date
// one user at a time, always equals a full recount of the live users'
// licences: after an assignment, a delete, a restore and a removal.
func TestLicenceCountsFollowUsers(t *testing.T) {
	e := newEnv(t)
	consumed := func() float64 {
		t.Helper()
		r := e.do("GET", "/v1.0/subscribedSkus", e.all, nil)
		for _, v := range r.values() {
			if v["skuId"] == skuE3 {
				return v["consumedUnits"].(float64)
			}
		}
		t.Fatalf("no E3 in %s", r.raw)
		return 0
	}
	recount := func() int {
		t.Helper()
		e.s.store.mu.Lock()
		defer e.s.store.mu.Unlock()
		tn := e.s.store.tenants[tenantID]
		saved := map[*SKU]int{}
		for _, s := range tn.SKUs {
			saved[s] = s.consumed
		}
		tn.recountSKUs()
		n := tn.sku(skuE3).consumed
		for s, c := range saved {
			s.consumed = c
		}
		return n
	}
	add := map[string]any{"addLicenses": []any{map[string]any{"skuId": skuE3, "disabledPlans": []any{}}}, "removeLicenses": []any{}}
	if r := e.do("POST", "/v1.0/users/Adams@contoso.com/assignLicense", e.all, add); r.status != 200 {
		t.Fatalf("assign: %d %s", r.status, r.raw)
	}
	if got, want := consumed(), 1.0; got != want || recount() != 1 {
		t.Fatalf("after assign: consumed %v, want %v (recount %d)", got, want, recount())
	}
	if r := e.do("DELETE", "/v1.0/users/Adams@contoso.com", e.all, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if got := consumed(); got != 0 || recount() != 0 {
		t.Fatalf("after delete: consumed %v (recount %d), want 0", got, recount())
	}
	if r := e.do("POST", "/v1.0/directory/deletedItems/6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0/restore", e.all, nil); r.status != 200 {
		t.Fatalf("restore: %d %s", r.status, r.raw)
	}
	if got := consumed(); got != 1 || recount() != 1 {
		t.Fatalf("after restore: consumed %v (recount %d), want 1", got, recount())
	}
	// Assigning the same licence again does not count it twice.
	if r := e.do("POST", "/v1.0/users/Adams@contoso.com/assignLicense", e.all, add); r.status != 200 {
		t.Fatalf("assign again: %d %s", r.status, r.raw)
	}
	if got := consumed(); got != 1 || recount() != 1 {
		t.Fatalf("after second assign: consumed %v (recount %d), want 1", got, recount())
	}
}

// BenchmarkBatchCreateUsers measures one POST /$batch of 20 user creates
// against tenants of 1k, 10k and 100k users, straight on the handler (no
// network), so ns/op is the emulator's own cost. With licence counts kept
// incrementally the cost is flat; before, every create recounted the
// licences of all users and the cost grew with the tenant.
//
//	go test ./internal/m365sim/ -run '^$' -bench BatchCreateUsers -benchtime 200x
func BenchmarkBatchCreateUsers(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			seed := testSeed()
			seed.Tenants[0].GenerateUsers = &SeedGenerate{Count: n, Domain: "contoso.com", UsageLocation: "US"}
			e := newEnv(b, WithSeed(seed))
			h := e.s.Handler()
			seq := 0
			body := func() string {
				var sb strings.Builder
				sb.WriteString(`{"requests":[`)
				for i := 0; i < 20; i++ {
					if i > 0 {
						sb.WriteByte(',')
					}
					seq++
					fmt.Fprintf(&sb, `{"id":"%d","method":"POST","url":"/users","headers":{"Content-Type":"application/json"},"body":{"accountEnabled":true,"displayName":"Bench %d","mailNickname":"bench%d","userPrincipalName":"bench%d@contoso.com","passwordProfile":{"password":"Xy1!abcdefgh"}}}`, i+1, seq, seq, seq)
				}
				sb.WriteString(`]}`)
				return sb.String()
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				req := httptest.NewRequest("POST", "/v1.0/$batch", strings.NewReader(body()))
				req.Header.Set("Authorization", "Bearer "+e.all)
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				b.StartTimer()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK || strings.Count(w.Body.String(), `"status":201`) != 20 {
					b.Fatalf("batch: %d %.300s", w.Code, w.Body.String())
				}
			}
		})
	}
}
