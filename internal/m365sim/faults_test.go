package m365sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// faultRun sends the same sequence of reads and returns which ones failed.
func faultRun(t *testing.T, e *testEnv, n int) (failed []int, statuses map[int]int) {
	t.Helper()
	statuses = map[int]int{}
	for i := 0; i < n; i++ {
		r := e.do("GET", fmt.Sprintf("/v1.0/users?$top=%d", i%50+1), e.all, nil)
		statuses[r.status]++
		if r.status >= 500 {
			failed = append(failed, i)
			if r.errCode() == "" || r.header.Get("request-id") == "" {
				t.Fatalf("injected error without Graph's envelope: %s", r.raw)
			}
		}
	}
	return failed, statuses
}

// TestFaultErrorsDeterministic: with a seed the same requests meet the same
// errors; another seed gives others; the rate is close to the one asked.
func TestFaultErrorsDeterministic(t *testing.T) {
	e := newEnv(t, WithFaults(FaultConfig{Seed: 7, ErrorRate: 0.3}))
	a, st := faultRun(t, e, 400)
	if err := e.s.SetFaults(FaultConfig{Seed: 7, ErrorRate: 0.3}); err != nil {
		t.Fatal(err)
	}
	b, _ := faultRun(t, e, 400)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("same seed, different faults:\n%v\n%v", a, b)
	}
	if rate := float64(len(a)) / 400; rate < 0.22 || rate > 0.38 {
		t.Errorf("error rate %.2f, want about 0.3", rate)
	}
	for code := range st {
		if code != 200 && code != 500 && code != 502 && code != 503 && code != 504 {
			t.Errorf("unexpected status %d", code)
		}
	}
	if err := e.s.SetFaults(FaultConfig{Seed: 8, ErrorRate: 0.3}); err != nil {
		t.Fatal(err)
	}
	c, _ := faultRun(t, e, 400)
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Error("another seed gave the same faults")
	}
	// Repeating a request draws again: a retry can succeed.
	if err := e.s.SetFaults(FaultConfig{Seed: 7, ErrorRate: 0.5}); err != nil {
		t.Fatal(err)
	}
	ok := false
	for i := 0; i < 20 && !ok; i++ {
		ok = e.do("GET", "/v1.0/users", e.all, nil).status == 200
	}
	if !ok {
		t.Error("20 retries of one request all failed at a rate of 0.5")
	}
	if st := e.s.Stats(); st.Faults.Errors == 0 {
		t.Error("errors not counted")
	}
}

// TestFaultDeterministicConcurrent: the decisions do not depend on the
// order in which concurrent requests arrive.
func TestFaultDeterministicConcurrent(t *testing.T) {
	run := func() map[string]int {
		e := newEnv(t, WithFaults(FaultConfig{Seed: 42, ErrorRate: 0.25}))
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					path := fmt.Sprintf("/v1.0/users?$top=%d", w*50+i+1)
					r := e.do("GET", path, e.all, nil)
					mu.Lock()
					got[path] = r.status
					mu.Unlock()
				}
			}(w)
		}
		wg.Wait()
		return got
	}
	a, b := run(), run()
	for k, v := range a {
		if b[k] != v {
			t.Fatalf("%s: %d then %d", k, v, b[k])
		}
	}
}

// TestFaultBatchItems: items fail one by one inside a 200 batch.
func TestFaultBatchItems(t *testing.T) {
	e := newEnv(t, WithFaults(FaultConfig{Seed: 3, ErrorRate: 0.5, ErrorStatuses: []int{503}}))
	var reqs []map[string]any
	for i := 0; i < 20; i++ {
		reqs = append(reqs, map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": fmt.Sprintf("/users?$top=%d", i+1)})
	}
	var failedItems int
	for attempt := 0; attempt < 5; attempt++ {
		r := e.do("POST", "/v1.0/$batch", e.all, map[string]any{"requests": reqs})
		if r.status != 200 {
			continue // the batch itself may fail
		}
		for _, it := range r.body["responses"].([]any) {
			if st := it.(map[string]any)["status"].(float64); st == 503 {
				failedItems++
			} else if st != 200 {
				t.Errorf("item status %v", st)
			}
		}
	}
	if failedItems == 0 {
		t.Error("no batch item failed at a rate of 0.5")
	}
}

// TestFaultLatency: every request takes at least the added latency.
func TestFaultLatency(t *testing.T) {
	e := newEnv(t, WithFaults(FaultConfig{Latency: Duration(60 * time.Millisecond), LatencyJitter: Duration(20 * time.Millisecond)}))
	start := time.Now()
	for i := 0; i < 3; i++ {
		if r := e.do("GET", "/v1.0/users", e.all, nil); r.status != 200 {
			t.Fatal(r.status)
		}
	}
	if el := time.Since(start); el < 180*time.Millisecond {
		t.Errorf("3 requests took %v, want at least 180ms", el)
	}
	if st := e.s.Stats(); st.Faults.Delayed != 3 || st.Faults.AddedLatencyMs < 180 {
		t.Errorf("stats %+v", st.Faults)
	}
}

// TestFaultReadAfterWriteLag: a new user reads as 404 (by id, by UPN, as a
// member reference) until the lag is over.
func TestFaultReadAfterWriteLag(t *testing.T) {
	clock := newClock()
	e := newEnv(t, WithClock(clock.now), WithFaults(FaultConfig{ReadAfterWriteLag: Duration(2 * time.Second)}))
	r := e.do("POST", "/v1.0/users", e.all, map[string]any{"accountEnabled": true, "displayName": "Lag", "mailNickname": "lag",
		"userPrincipalName": "lag@contoso.com", "passwordProfile": map[string]any{"password": "Xy!12345abc"}})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	expectError(t, e.do("GET", "/v1.0/users/"+id, e.all, nil), 404, "Request_ResourceNotFound", id)
	expectError(t, e.do("GET", "/v1.0/users/lag@contoso.com", e.all, nil), 404, "Request_ResourceNotFound", "lag@contoso.com")
	expectError(t, e.do("POST", "/v1.0/groups/02bd9fd6-8f93-4758-87c3-1fb73740a315/members/$ref", e.all,
		map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + id}), 404, "Request_ResourceNotFound", id)
	// Other objects are unaffected.
	if r := e.do("GET", "/v1.0/users/Adams@contoso.com", e.all, nil); r.status != 200 {
		t.Fatalf("old user: %d", r.status)
	}
	clock.add(2 * time.Second)
	if r := e.do("GET", "/v1.0/users/"+id, e.all, nil); r.status != 200 {
		t.Fatalf("after the lag: %d", r.status)
	}
	// Inside a batch: the create and a dependent read of it.
	batch := map[string]any{"requests": []map[string]any{
		{"id": "1", "method": "POST", "url": "/groups", "headers": map[string]string{"Content-Type": "application/json"},
			"body": map[string]any{"displayName": "Lagging", "mailNickname": "lagging", "mailEnabled": false, "securityEnabled": true}},
	}}
	r = e.do("POST", "/v1.0/$batch", e.all, batch)
	gid := r.body["responses"].([]any)[0].(map[string]any)["body"].(map[string]any)["id"].(string)
	expectError(t, e.do("GET", "/v1.0/groups/"+gid, e.all, nil), 404, "Request_ResourceNotFound", gid)
	if st := e.s.Stats(); st.Faults.ReadAfterWriteLag != 4 {
		t.Errorf("lag 404s counted: %d", st.Faults.ReadAfterWriteLag)
	}
}

// TestFaultDropsAndAfterWrite: dropped connections, and errors that happen
// after the write was applied.
func TestFaultDropsAndAfterWrite(t *testing.T) {
	e := newEnv(t, WithFaults(FaultConfig{Seed: 1, DropRate: 1}))
	client := &http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequest("GET", e.hs.URL+"/v1.0/users", nil)
	req.Header.Set("Authorization", "Bearer "+e.all)
	if res, err := client.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("connection not dropped: %d", res.StatusCode)
	}
	if st := e.s.Stats(); st.Faults.Drops == 0 {
		t.Error("drop not counted")
	}

	// Every write fails with a 5xx, after it was applied.
	if err := e.s.SetFaults(FaultConfig{Seed: 1, ErrorRate: 1, AfterWriteRate: 1}); err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/v1.0/users", e.all, map[string]any{"accountEnabled": true, "displayName": "Ghost", "mailNickname": "ghostw",
		"userPrincipalName": "ghostw@contoso.com", "passwordProfile": map[string]any{"password": "Xy!12345abc"}})
	if r.status < 500 {
		t.Fatalf("write not failed: %d", r.status)
	}
	if err := e.s.SetFaults(FaultConfig{}); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/v1.0/users/ghostw@contoso.com", e.all, nil); r.status != 200 {
		t.Fatalf("the write was not applied: %d", r.status)
	}
}

// TestAdminFaults: GET and PUT /_sim/faults.
func TestAdminFaults(t *testing.T) {
	e := newEnv(t)
	r := e.do("PUT", "/_sim/faults", "", `{"seed":5,"errorRate":0.1,"latency":"25ms","readAfterWriteLag":1500,"dropRate":0.01}`)
	if r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.raw)
	}
	c := e.s.Faults()
	if c.Seed != 5 || c.ErrorRate != 0.1 || time.Duration(c.Latency) != 25*time.Millisecond || time.Duration(c.ReadAfterWriteLag) != 1500*time.Millisecond || c.DropRate != 0.01 {
		t.Errorf("config %+v", c)
	}
	r = e.do("GET", "/_sim/faults", "", nil)
	if r.body["latency"] != "25ms" || r.body["readAfterWriteLag"] != "1.5s" {
		t.Errorf("GET: %s", r.raw)
	}
	for _, bad := range []string{`{"errorRate":2}`, `{"errorStatuses":[404]}`, `{"latency":"soon"}`, `{"nope":1}`, `not json`} {
		if r := e.do("PUT", "/_sim/faults", "", bad); r.status != 400 {
			t.Errorf("%s: %d", bad, r.status)
		}
	}
	res, _ := http.Get(e.hs.URL + "/_sim/faults")
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var back FaultConfig
	if err := json.Unmarshal(b, &back); err != nil || back.Seed != 5 {
		t.Errorf("round trip: %v %s", err, b)
	}
	for in, want := range map[string]float64{"0.05": 0.05, "5%": 0.05, "1": 1} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %v %v", in, got, err)
		}
	}
	if _, err := parseRate("150%"); err == nil || !strings.Contains(err.Error(), "between") {
		t.Errorf("150%%: %v", err)
	}
}
