package graph

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBatch sends a batch with a failing item, a dependent of it, a
// dependent of a successful item, and an item throttled on its own.
func TestBatch(t *testing.T) {
	e := newEnv(t)
	c, clk, logs := e.client(t)
	ctx := context.Background()

	// The first POST /users for throttled@ answers 429 with its own
	// Retry-After; the items run through the middleware one by one.
	var mu sync.Mutex
	throttled := 0
	e.fault.set(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost || r.URL.Path != "/v1.0/users" {
			return false
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if !strings.Contains(string(body), "throttled@") {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		throttled++
		if throttled > 1 {
			return false
		}
		graphFailure(w, http.StatusTooManyRequests, "TooManyRequests", "Too many requests", map[string]string{"Retry-After": "1.5"})
		return true
	})

	dup := newUser("AdeleV@contoso.com")
	reqs := []BatchRequest{
		{ID: "new", Method: "POST", URL: "/users", Body: newUser("batch.one@contoso.com")},
		{ID: "dup", Method: "POST", URL: "/users", Body: dup},
		{ID: "dup-license", Method: "POST", URL: "/users/AdeleV@contoso.com/assignLicense", DependsOn: []string{"dup"},
			Body: map[string]any{"addLicenses": []AssignedLicense{{SkuID: skuE3}}, "removeLicenses": []string{}}},
		{ID: "new-get", Method: "GET", URL: "/users/batch.one@contoso.com?$select=id,userPrincipalName", DependsOn: []string{"new"}},
		{ID: "thr", Method: "POST", URL: "/users", Body: newUser("throttled@contoso.com")},
		{ID: "thr-update", Method: "PATCH", URL: "/users/throttled@contoso.com", DependsOn: []string{"thr"},
			Body: User{JobTitle: "Throttled once"}},
		{ID: "org", Method: "GET", URL: "/organization"},
	}
	res, err := c.Batch(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(reqs) {
		t.Fatalf("%d answers", len(res))
	}
	want := []struct {
		status   int
		attempts int
		check    func(BatchResponse) bool
	}{
		{201, 1, func(r BatchResponse) bool { var u User; return r.Decode(&u) == nil && u.ID != "" }},
		{400, 1, func(r BatchResponse) bool {
			return IsObjectConflict(r.Err) && r.Err.BatchID == "dup" && r.Err.RequestID != ""
		}},
		{424, 1, func(r BatchResponse) bool { return r.Err != nil && r.Err.Status == 424 }},
		{200, 1, func(r BatchResponse) bool {
			var u User
			return r.Decode(&u) == nil && u.UserPrincipalName == "batch.one@contoso.com"
		}},
		{201, 2, nil},
		{204, 2, nil},
		{200, 1, nil},
	}
	for i, w := range want {
		r := res[i]
		if r.ID != reqs[i].ID || r.Status != w.status || r.Attempts != w.attempts || (w.check != nil && !w.check(r)) {
			t.Errorf("answer %s: status %d attempts %d err %v, want %d/%d", r.ID, r.Status, r.Attempts, r.Err, w.status, w.attempts)
		}
	}
	// One wait: the throttled item's own Retry-After.
	if w := clk.recorded(); len(w) != 1 || w[0] != 1500*time.Millisecond {
		t.Errorf("waits %v", w)
	}
	if n := e.fault.count("POST /v1.0/$batch"); n != 2 {
		t.Errorf("%d batches sent", n)
	}
	// The second batch carried only the throttled item and its dependent.
	if n := e.fault.count("POST /v1.0/users"); n != 4 {
		t.Errorf("%d user creates", n)
	}
	if u, err := c.GetUser(ctx, "throttled@contoso.com", "jobTitle"); err != nil || u.JobTitle != "Throttled once" {
		t.Errorf("dependent of the throttled item: %+v (%v)", u, err)
	}
	if !strings.Contains(logs.String(), "batch_id=dup") || !strings.Contains(logs.String(), "request_id=") {
		t.Errorf("failure not logged:\n%s", logs)
	}
}

// TestBatchValidation refuses what Graph would refuse, before sending.
func TestBatchValidation(t *testing.T) {
	c, err := New(WithTokenSource(StaticToken("t")), WithGraphURL("https://127.0.0.1:1/v1.0"))
	if err != nil {
		t.Fatal(err)
	}
	many := make([]BatchRequest, 21)
	for i := range many {
		many[i] = BatchRequest{ID: fmt.Sprint(i), Method: "GET", URL: "/users"}
	}
	tests := []struct {
		name string
		reqs []BatchRequest
	}{
		{"empty", nil},
		{"21 requests", many},
		{"no id", []BatchRequest{{Method: "GET", URL: "/users"}}},
		{"ids equal but for case", []BatchRequest{{ID: "a", Method: "GET", URL: "/users"}, {ID: "A", Method: "GET", URL: "/groups"}}},
		{"absolute url", []BatchRequest{{ID: "a", Method: "GET", URL: "https://graph.microsoft.com/v1.0/users"}}},
		{"unknown dependency", []BatchRequest{{ID: "a", Method: "GET", URL: "/users", DependsOn: []string{"b"}}}},
		{"depends on itself", []BatchRequest{{ID: "a", Method: "GET", URL: "/users", DependsOn: []string{"a"}}}},
		{"no method", []BatchRequest{{ID: "a", URL: "/users"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Batch(context.Background(), tt.reqs); err == nil || !strings.Contains(err.Error(), "graph:") {
				t.Errorf("accepted: %v", err)
			}
		})
	}
	items, err := c.batchItems([]BatchRequest{{ID: "a", Method: "patch", URL: "/users/x", Body: User{JobTitle: "x"}}})
	if err != nil || items[0].Method != "PATCH" || items[0].Headers["Content-Type"] != "application/json" {
		t.Errorf("items %+v (%v)", items, err)
	}
}

// TestBatchThrottledToTheEnd gives up on an item that stays throttled and
// reports its 429 and its dependent's 424.
func TestBatchThrottledToTheEnd(t *testing.T) {
	e := newEnv(t)
	c, clk, _ := e.client(t, WithMaxAttempts(3))
	e.fault.set(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && r.URL.Path == "/v1.0/organization" {
			graphFailure(w, http.StatusTooManyRequests, "TooManyRequests", "slow down", map[string]string{"Retry-After": "2"})
			return true
		}
		return false
	})
	res, err := c.Batch(context.Background(), []BatchRequest{
		{ID: "1", Method: "GET", URL: "/organization"},
		{ID: "2", Method: "GET", URL: "/domains", DependsOn: []string{"1"}},
		{ID: "3", Method: "GET", URL: "/subscribedSkus"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !IsThrottled(res[0].Err) || res[0].Err.RetryAfter != 2*time.Second || res[0].Attempts != 3 ||
		res[1].Status != 424 || res[1].Attempts != 3 || res[2].Status != 200 || res[2].Attempts != 1 {
		t.Errorf("answers %+v", res)
	}
	if w := clk.recorded(); len(w) != 2 || w[0] != 2*time.Second || w[1] != 2*time.Second {
		t.Errorf("waits %v", w)
	}
}

// TestBatchOuterRetry retries the $batch request itself.
func TestBatchOuterRetry(t *testing.T) {
	e := newEnv(t)
	c, clk, _ := e.client(t)
	e.fault.set(script("POST", "/v1.0/$batch", step{status: 503, code: "serviceNotAvailable", hdr: map[string]string{"Retry-After": "1"}}))
	res, err := c.Batch(context.Background(), []BatchRequest{{ID: "1", Method: "GET", URL: "/domains"}})
	if err != nil || res[0].Status != 200 {
		t.Fatalf("%+v (%v)", res, err)
	}
	if w := clk.recorded(); len(w) != 1 || w[0] != time.Second {
		t.Errorf("waits %v", w)
	}
}
