package m365sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRequestCost checks the cost table of graph/throttling-limits.
func TestRequestCost(t *testing.T) {
	tests := []struct {
		method, path string
		ru, writes   int
	}{
		{"GET", "users", 2, 0},
		{"GET", "users?$select=id,userPrincipalName", 1, 0},
		{"GET", "users?$top=999", 2, 0},
		{"GET", "users?$top=10", 1, 0},
		{"GET", "users?$top=10&$select=id", 1, 0}, // never below 1
		{"GET", "users?$expand=manager", 3, 0},
		{"GET", "users/abc", 1, 0},
		{"GET", "users/delta", 1, 0},
		{"GET", "groups", 1, 0},
		{"GET", "groups/g1/members", 3, 0},
		{"GET", "groups/g1/members?$select=id", 2, 0},
		{"GET", "groups/g1/members/$ref", 3, 0},
		{"GET", "groups/g1/transitiveMembers", 5, 0},
		{"GET", "subscribedSkus", 3, 0},
		{"GET", "subscribedSkus/s1", 1, 0},
		{"GET", "users/u1/memberOf", 2, 0},
		{"GET", "domains/contoso.com/domainNameReferences", 4, 0},
		{"GET", "domains", 1, 0},
		{"POST", "users", 1, 1},
		{"PATCH", "users/u1", 1, 1},
		{"DELETE", "users/u1", 1, 1},
		{"POST", "groups/g1/members/$ref", 1, 1},
		{"POST", "users/u1/assignLicense", 1, 1},
		{"POST", "directoryObjects/getByIds", 3, 0},
		{"POST", "users/u1/getMemberGroups", 2, 0},
	}
	for _, tc := range tests {
		p, rawq, _ := strings.Cut(tc.path, "?")
		q, _ := url.ParseQuery(rawq)
		ru, w := requestCost(tc.method, strings.Split(p, "/"), q)
		if ru != tc.ru || w != tc.writes {
			t.Errorf("%s %s: %d RU %d writes, want %d %d", tc.method, tc.path, ru, w, tc.ru, tc.writes)
		}
	}
	for users, want := range map[int]float64{0: 3500, 49: 3500, 50: 5000, 500: 5000, 501: 8000, 100000: 8000} {
		if got := ruQuota(users); got != want {
			t.Errorf("ruQuota(%d) = %v, want %v", users, got, want)
		}
	}
}

// TestThrottlingLimits checks each limit with a clock the test moves: the
// bucket's size passes, the next request is throttled with Microsoft's
// headers, and Retry-After is how long until it fits.
func TestThrottlingLimits(t *testing.T) {
	clock := newClock()
	e := newEnv(t, WithClock(clock.now), WithThrottling(ThrottleConfig{Enabled: true}))
	const adams = "/v1.0/users/6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0"

	// Writes: 3,000 per 150 s per app and tenant.
	for i := 0; i < 3000; i++ {
		r := e.do("PATCH", adams, e.all, map[string]any{"jobTitle": strconv.Itoa(i)})
		if r.status != 204 {
			t.Fatalf("write %d: %d %s", i, r.status, r.raw)
		}
		if i == 0 && r.header.Get("x-ms-resource-unit") != "1" {
			t.Errorf("x-ms-resource-unit %q", r.header.Get("x-ms-resource-unit"))
		}
		if i == 2500 && r.header.Get("x-ms-throttle-limit-percentage") == "" {
			t.Error("no x-ms-throttle-limit-percentage above 80%")
		}
	}
	r := e.do("PATCH", adams, e.all, map[string]any{"jobTitle": "x"})
	expectError(t, r, 429, "TooManyRequests", "write limit")
	if got := r.header.Get("x-ms-throttle-scope"); got != "Tenant_Application/Write/"+appAll+"/"+tenantID {
		t.Errorf("x-ms-throttle-scope %q", got)
	}
	if got := r.header.Get("x-ms-throttle-information"); got != "WriteLimitExceeded" {
		t.Errorf("x-ms-throttle-information %q", got)
	}
	// 20 writes per second refill; this request's cost is logged, so it
	// fits after 2/20 s: Retry-After rounds up to whole seconds.
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
	// Reads are a separate budget and still pass.
	if r := e.do("GET", "/v1.0/users", e.all, nil); r.status != 200 {
		t.Fatalf("read while writes are throttled: %d", r.status)
	}
	clock.add(time.Second)
	if r := e.do("PATCH", adams, e.all, map[string]any{"jobTitle": "y"}); r.status != 204 {
		t.Fatalf("after Retry-After: %d", r.status)
	}

	// Reads: 3,500 resource units per 10 s for a tenant of under 50 users;
	// GET /users costs 2.
	if err := e.s.SetThrottling(ThrottleConfig{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1750; i++ {
		if r := e.do("GET", "/v1.0/users", e.all, nil); r.status != 200 {
			t.Fatalf("read %d: %d", i, r.status)
		} else if i == 0 && r.header.Get("x-ms-resource-unit") != "2" {
			t.Errorf("GET /users x-ms-resource-unit %q", r.header.Get("x-ms-resource-unit"))
		}
	}
	r = e.do("GET", "/v1.0/users", e.all, nil)
	expectError(t, r, 429, "TooManyRequests", "readwrite limit")
	if r.header.Get("x-ms-throttle-scope") != "Tenant_Application/ReadWrite/"+appAll+"/"+tenantID || r.header.Get("x-ms-throttle-information") != "ResourceUnitLimitExceeded" {
		t.Errorf("read throttle headers: %v", r.header)
	}
	// 350 units per second refill; 2 units logged plus 2 needed: 4/350 s.
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// A different application of the tenant is not throttled.
	if r := e.do("GET", "/v1.0/users", e.token(appRead), nil); r.status != 200 {
		t.Errorf("other app: %d", r.status)
	}
}

// TestThrottlingTenantSize: the read quota grows with the tenant.
func TestThrottlingTenantSize(t *testing.T) {
	clock := newClock()
	seed := testSeed()
	seed.Tenants[0].GenerateUsers = &SeedGenerate{Count: 600, Domain: "contoso.com", Prefix: "gen"}
	e := newEnv(t, WithClock(clock.now), WithThrottling(ThrottleConfig{Enabled: true}), WithSeed(seed))
	n := 0
	for ; n < 10000; n++ {
		if r := e.do("GET", "/v1.0/users?$select=id&$top=1", e.all, nil); r.status == 429 {
			break
		}
	}
	if n != 8000 {
		t.Fatalf("%d reads of 1 unit passed, want 8,000 (tenant of over 500 users)", n)
	}
}

// TestThrottlingScale: at scale 50 the windows are 50 times shorter and
// Retry-After is fractional.
func TestThrottlingScale(t *testing.T) {
	clock := newClock()
	e := newEnv(t, WithClock(clock.now), WithThrottling(ThrottleConfig{Enabled: true, Scale: 50}))
	const adams = "/v1.0/users/6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0"
	for i := 0; i < 3000; i++ {
		if r := e.do("PATCH", adams, e.all, map[string]any{"jobTitle": "a"}); r.status != 204 {
			t.Fatalf("write %d: %d", i, r.status)
		}
	}
	r := e.do("PATCH", adams, e.all, map[string]any{"jobTitle": "a"})
	if r.status != 429 || r.header.Get("Retry-After") != "0.02" {
		t.Fatalf("status %d Retry-After %q, want 429 0.02 (1 s at Microsoft's limits, divided by 50)", r.status, r.header.Get("Retry-After"))
	}
	// After Retry-After 20 writes were refilled; the throttled request's
	// cost was logged, so 19 pass.
	clock.add(20 * time.Millisecond)
	passed := 0
	for ; passed < 100; passed++ {
		if r := e.do("PATCH", adams, e.all, map[string]any{"jobTitle": "b"}); r.status != 204 {
			break
		}
	}
	if passed != 19 {
		t.Errorf("%d writes passed after Retry-After, want 19", passed)
	}
	// Retrying without waiting digs the hole deeper.
	for i := 0; i < 30; i++ {
		e.do("PATCH", adams, e.all, map[string]any{"jobTitle": "c"})
	}
	r = e.do("PATCH", adams, e.all, map[string]any{"jobTitle": "c"})
	if ra, _ := strconv.ParseFloat(r.header.Get("Retry-After"), 64); r.status != 429 || ra < 0.04 {
		t.Errorf("after 30 early retries: %d Retry-After %v", r.status, ra)
	}
	snap := e.s.throttleSnapshot()
	if len(snap.Buckets) == 0 || snap.Scale != 50 {
		t.Errorf("snapshot %+v", snap)
	}
}

// TestThrottlingBatch: each $batch item is throttled on its own; the batch
// answers 200 with 429 items carrying their own Retry-After.
func TestThrottlingBatch(t *testing.T) {
	clock := newClock()
	e := newEnv(t, WithClock(clock.now), WithThrottling(ThrottleConfig{Enabled: true}))
	const adams = "/v1.0/users/6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0"
	for i := 0; i < 2990; i++ {
		if r := e.do("PATCH", adams, e.all, map[string]any{"jobTitle": "a"}); r.status != 204 {
			t.Fatalf("write %d: %d", i, r.status)
		}
	}
	var reqs []map[string]any
	for i := 0; i < 20; i++ {
		reqs = append(reqs, map[string]any{"id": strconv.Itoa(i), "method": "PATCH", "url": "/users/6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0",
			"headers": map[string]string{"Content-Type": "application/json"}, "body": map[string]any{"jobTitle": "b"}})
	}
	r := e.do("POST", "/v1.0/$batch", e.all, map[string]any{"requests": reqs})
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.raw)
	}
	var ok, throttled int
	for _, it := range r.body["responses"].([]any) {
		m := it.(map[string]any)
		switch m["status"].(float64) {
		case 204:
			ok++
		case 429:
			throttled++
			h := http.Header{}
			for k, v := range m["headers"].(map[string]any) {
				h.Set(k, fmt.Sprint(v))
			}
			if h.Get("Retry-After") == "" || h.Get("x-ms-throttle-scope") == "" {
				t.Errorf("throttled item without headers: %v", h)
			}
		}
	}
	if ok != 10 || throttled != 10 {
		t.Errorf("%d items passed and %d were throttled, want 10 and 10", ok, throttled)
	}
	st := e.s.Stats()
	if st.Throttled.Writes != 10 || st.Requests.Batches != 1 || st.Requests.BatchItems != 20 || st.Requests.WritesSucceeded != 3000 {
		t.Errorf("stats %+v", st)
	}
}

// TestThrottlingUnderLoad drives concurrent writers against 127.0.0.1 with
// the real clock at scale 100 (2,000 writes per second after a burst of
// 3,000), honouring Retry-After, and checks the achieved rate.
func TestThrottlingUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	e := newEnv(t, WithThrottling(ThrottleConfig{Enabled: true, Scale: 100}))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 10 * time.Second}
	const dur = 3 * time.Second
	var ok, throttled atomic.Int64
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest("PATCH", e.hs.URL+"/v1.0/users/6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0", strings.NewReader(`{"jobTitle":"x"}`))
				req.Header.Set("Authorization", "Bearer "+e.all)
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				switch res.StatusCode {
				case 204:
					ok.Add(1)
				case 429:
					throttled.Add(1)
					ra, _ := strconv.ParseFloat(res.Header.Get("Retry-After"), 64)
					time.Sleep(time.Duration(ra * float64(time.Second)))
				default:
					t.Errorf("status %d", res.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	// At most the burst plus the refill; when the sim is fast enough to
	// exhaust the bucket, close to it.
	max := 3000 + 2000*el
	t.Logf("%d writes in %.2f s (%.0f/s), %d throttled; ceiling %.0f", ok.Load(), el, float64(ok.Load())/el, throttled.Load(), max)
	if float64(ok.Load()) > max*1.01 {
		t.Errorf("%d writes passed, more than the limits allow (%.0f)", ok.Load(), max)
	}
	if throttled.Load() > 0 && float64(ok.Load()) < 0.6*max {
		t.Errorf("throttled, yet only %d of %.0f writes passed", ok.Load(), max)
	}
	st := e.s.Stats()
	if st.Requests.WritesSucceeded != ok.Load() || st.Throttled.Writes != throttled.Load() {
		t.Errorf("stats %+v disagree with the client: %d ok %d throttled", st.Requests, ok.Load(), throttled.Load())
	}
}

// TestAdminThrottleAndStats: the admin endpoints change throttling and read
// and reset the statistics.
func TestAdminThrottleAndStats(t *testing.T) {
	e := newEnv(t)
	r := e.do("PUT", "/_sim/throttle", "", `{"enabled":true,"scale":10}`)
	if r.status != 200 || r.body["enabled"] != true || r.body["scale"].(float64) != 10 {
		t.Fatalf("PUT /_sim/throttle: %d %s", r.status, r.raw)
	}
	if c := e.s.Throttling(); !c.Enabled || c.Scale != 10 {
		t.Errorf("config %+v", c)
	}
	if r := e.do("PUT", "/_sim/throttle", "", `{"enabled":true,"scale":-1}`); r.status != 400 {
		t.Errorf("negative scale: %d", r.status)
	}
	if r := e.do("PUT", "/_sim/throttle", "", `{"enabled":true,"bogus":1}`); r.status != 400 {
		t.Errorf("unknown field: %d", r.status)
	}
	e.do("GET", "/v1.0/users", e.all, nil)
	r = e.do("GET", "/_sim/throttle", "", nil)
	if len(r.body["buckets"].([]any)) == 0 {
		t.Errorf("no buckets: %s", r.raw)
	}
	e.do("PATCH", "/v1.0/users/6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0", e.all, map[string]any{"jobTitle": "z"})
	r = e.do("GET", "/_sim/stats", "", nil)
	var st Stats
	if err := json.Unmarshal(r.raw, &st); err != nil {
		t.Fatal(err)
	}
	if st.Requests.Reads != 1 || st.Requests.Writes != 1 || st.Requests.WritesSucceeded != 1 || st.Requests.ResourceUnits != 3 || st.ByStatus["204"] != 1 {
		t.Errorf("stats %s", r.raw)
	}
	if r := e.do("POST", "/_sim/stats/reset", "", nil); r.status != 204 {
		t.Errorf("reset: %d", r.status)
	}
	if st := e.s.Stats(); st.Requests.Reads != 0 || st.Requests.HTTP != 0 {
		t.Errorf("after reset %+v", st.Requests)
	}
	if r := e.do("DELETE", "/_sim/stats", "", nil); r.status != 204 {
		t.Errorf("DELETE: %d", r.status)
	}
}
