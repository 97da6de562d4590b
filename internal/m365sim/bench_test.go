package m365sim

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// benchEnv is a sim with 100,000 users in the test tenant.
func benchEnv(b *testing.B) *testEnv {
	seed := testSeed()
	seed.Tenants[0].GenerateUsers = &SeedGenerate{Count: 100000, Domain: "contoso.com", UsageLocation: "US"}
	e := newEnv(b, WithSeed(seed))
	return e
}

// BenchmarkListUsers measures GET /v1.0/users?$top=100 over loopback HTTP
// with concurrent clients, against 100k users. The goal is ≥ 2,000
// requests/s on 2 cores; the req/s metric reports it.
func BenchmarkListUsers(b *testing.B) {
	e := benchEnv(b)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	get := func(url string) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+e.all)
		res, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || n < 10000 {
			b.Errorf("status %d, %d bytes", res.StatusCode, n)
		}
	}
	// A page deep in the listing costs the same as the first (cursor paging).
	deep := e.do("GET", "/v1.0/users?$top=999", e.all, nil)
	for i := 0; i < 90 && deep.body["@odata.nextLink"] != nil; i++ {
		deep = e.do("GET", deep.body["@odata.nextLink"].(string), e.all, nil)
	}
	for _, tc := range []struct{ name, url string }{
		{"first page", e.hs.URL + "/v1.0/users?$top=100"},
		{"deep page", deepLink(b, e, deep.body["@odata.nextLink"].(string))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetParallelism(4)
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get(tc.url)
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

// BenchmarkListUsersHandler measures the handler alone, without sockets.
func BenchmarkListUsersHandler(b *testing.B) {
	e := benchEnv(b)
	h := e.s.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "http://sim.test/v1.0/users?$top=100", nil)
			req.Header.Set("Authorization", "Bearer "+e.all)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}

// deepLink turns a nextLink far into the listing into a $top=100 request.
func deepLink(b *testing.B, e *testEnv, next string) string {
	u, err := url.Parse(next)
	if err != nil {
		b.Fatal(err)
	}
	return e.hs.URL + "/v1.0/users?$top=100&$skiptoken=" + url.QueryEscape(u.Query().Get("$skiptoken"))
}
