package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MaxBatchSize is the most requests one $batch may hold
// (https://learn.microsoft.com/graph/json-batching#batch-size-limitations).
const MaxBatchSize = 20

// BatchRequest is one request of a $batch
// (https://learn.microsoft.com/graph/json-batching).
type BatchRequest struct {
	// ID correlates the answer; unique in the batch, case-insensitively.
	ID string
	// Method is the HTTP method.
	Method string
	// URL is relative to the version root, e.g. "/users" or
	// "/groups/{id}/members/$ref".
	URL string
	// Headers are the request's headers; Content-Type is added when Body
	// is set.
	Headers map[string]string
	// Body is marshalled to JSON (a json.RawMessage is sent as is).
	Body any
	// DependsOn names requests that must succeed first; a dependent of a
	// failed request gets 424 Failed Dependency.
	DependsOn []string
}

// BatchResponse is the answer to one BatchRequest.
type BatchResponse struct {
	ID      string
	Status  int
	Headers map[string]string
	Body    json.RawMessage
	// Attempts is how many batches carried the request.
	Attempts int
	// Err is set when Status is not 2xx.
	Err *Error
}

// Decode unmarshals the body into v.
func (r BatchResponse) Decode(v any) error {
	if r.Err != nil {
		return r.Err
	}
	if len(r.Body) == 0 {
		return fmt.Errorf("graph: batch item %s has no body", r.ID)
	}
	return json.Unmarshal(r.Body, v)
}

type batchItem struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      json.RawMessage   `json:"body,omitempty"`
	DependsOn []string          `json:"dependsOn,omitempty"`
}

type batchAnswer struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// Batch sends up to 20 requests in one POST /$batch and returns their
// answers in the order of reqs. The batch's own status is 200 even when
// items fail, so each answer carries its status and, on failure, an *Error.
//
// Requests in a batch are throttled one by one (json-batching, batch size
// limitations): an item answered 429 — or 503, or another 5xx when its
// method is safe to repeat, or a 404 right after this client wrote the
// object — is sent again in a new batch after its own Retry-After (the
// longest of the items retried) or a jittered backoff, together with the
// items that failed 424 only because they depend on it. Items that
// succeeded are never sent again. Retries stop at the retry budget.
//
// Microsoft advises that a batch "should be either fully sequential or
// fully parallel" (json-batching, dependsOn); known issues list mixed
// batches as unsupported. Batch does not refuse them (m365sim runs them),
// but callers should not build them for the real service.
func (c *Client) Batch(ctx context.Context, reqs []BatchRequest) ([]BatchResponse, error) {
	items, err := c.batchItems(reqs)
	if err != nil {
		return nil, err
	}
	deadline := c.deadline(ctx)
	results := make(map[string]*BatchResponse, len(items))
	attempts := map[string]int{}
	pending := items
	for attempt := 1; ; attempt++ {
		answers, err := c.sendBatch(ctx, pending, deadline)
		if err != nil {
			return nil, fmt.Errorf("batch of %d requests: %w", len(pending), err)
		}
		byID := map[string]*batchItem{}
		for i := range pending {
			byID[strings.ToLower(pending[i].ID)] = &pending[i]
			attempts[strings.ToLower(pending[i].ID)]++
		}
		retry := map[string]bool{}
		failed := map[string]*Error{}
		var wait time.Duration
		for _, it := range pending {
			key := strings.ToLower(it.ID)
			a, ok := answers[key]
			if !ok {
				a = batchAnswer{ID: it.ID, Status: 0, Body: json.RawMessage(`{"error":{"code":"MissingResponse","message":"the batch answer has no response for this request"}}`)}
			}
			res := &BatchResponse{ID: it.ID, Status: a.Status, Headers: a.Headers, Body: a.Body, Attempts: attempts[key]}
			results[key] = res
			if a.Status >= 200 && a.Status < 300 {
				if a.Status == http.StatusCreated {
					var obj struct {
						ID string `json:"id"`
					}
					if json.Unmarshal(a.Body, &obj) == nil {
						c.MarkWritten(obj.ID)
					}
				}
				continue
			}
			e := itemError(a, it, c.now())
			e.Attempts = attempts[key]
			res.Err = e
			failed[key] = e
			if a.Status == http.StatusFailedDependency {
				continue // decided below, from its dependencies
			}
			r := &request{method: it.Method, path: it.URL}
			if ok, w := c.shouldRetry(r, e, idempotent(it.Method), it.URL, it.Body, attempt); ok {
				retry[key] = true
				wait = max(wait, w)
			}
		}
		// A 424 is retried when something it depends on is retried.
		for changed := true; changed; {
			changed = false
			for key, e := range failed {
				if retry[key] || e.Status != http.StatusFailedDependency {
					continue
				}
				for _, d := range byID[key].DependsOn {
					if retry[strings.ToLower(d)] {
						retry[key], changed = true, true
						break
					}
				}
			}
		}
		stop := len(retry) == 0 || attempt >= c.maxAttempts || c.now().Add(wait).After(deadline)
		if len(retry) > 0 && stop {
			c.log.LogAttrs(ctx, slog.LevelWarn, "graph: batch retries exhausted",
				slog.Int("items", len(retry)), slog.Int("attempt", attempt), slog.Duration("wait", wait))
		}
		for key, e := range failed {
			again := retry[key] && !stop
			c.logFailure(ctx, byID[key].Method, byID[key].URL, byID[key].ID, e.ClientRequestID, attempt, e, nil, again, wait)
			if again && c.onRetry != nil {
				c.onRetry(Retry{Method: e.Method, Path: e.Path, BatchID: e.BatchID, Attempt: attempt, Status: e.Status, Code: e.Code, RequestID: e.RequestID, Wait: wait, Err: e})
			}
		}
		if stop {
			break
		}
		var next []batchItem
		for _, it := range pending {
			if !retry[strings.ToLower(it.ID)] {
				continue
			}
			// Keep only dependencies that are sent again; the others
			// succeeded already.
			var deps []string
			for _, d := range it.DependsOn {
				if retry[strings.ToLower(d)] {
					deps = append(deps, d)
				}
			}
			it.DependsOn = deps
			next = append(next, it)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("batch: waiting to retry %d requests: %w", len(next), err)
		}
		pending = next
	}
	out := make([]BatchResponse, len(items))
	for i, it := range items {
		out[i] = *results[strings.ToLower(it.ID)]
	}
	return out, nil
}

// batchItems checks reqs against the $batch rules and encodes them.
func (c *Client) batchItems(reqs []BatchRequest) ([]batchItem, error) {
	if len(reqs) == 0 {
		return nil, errors.New("graph: empty batch")
	}
	if len(reqs) > MaxBatchSize {
		return nil, fmt.Errorf("graph: batch of %d requests, at most %d", len(reqs), MaxBatchSize)
	}
	ids := map[string]bool{}
	items := make([]batchItem, len(reqs))
	for i, r := range reqs {
		key := strings.ToLower(r.ID)
		switch {
		case r.ID == "":
			return nil, fmt.Errorf("graph: batch request %d has no id", i)
		case ids[key]:
			return nil, fmt.Errorf("graph: batch request id %q used twice (ids are case-insensitive)", r.ID)
		case r.Method == "":
			return nil, fmt.Errorf("graph: batch request %s has no method", r.ID)
		case !strings.HasPrefix(r.URL, "/"):
			return nil, fmt.Errorf("graph: batch request %s: url %q must be relative to the version root, starting with /", r.ID, r.URL)
		}
		ids[key] = true
		it := batchItem{ID: r.ID, Method: strings.ToUpper(r.Method), URL: r.URL, DependsOn: r.DependsOn}
		if len(r.Headers) > 0 {
			it.Headers = map[string]string{}
			for k, v := range r.Headers {
				it.Headers[k] = v
			}
		}
		if r.Body != nil {
			raw, ok := r.Body.(json.RawMessage)
			if !ok {
				var err error
				if raw, err = json.Marshal(r.Body); err != nil {
					return nil, fmt.Errorf("graph: batch request %s: encoding body: %w", r.ID, err)
				}
			}
			it.Body = raw
			if headerValue(it.Headers, "Content-Type") == "" {
				if it.Headers == nil {
					it.Headers = map[string]string{}
				}
				// A body needs a Content-Type (json-batching, request format).
				it.Headers["Content-Type"] = "application/json"
			}
		}
		items[i] = it
	}
	for _, it := range items {
		for _, d := range it.DependsOn {
			if !ids[strings.ToLower(d)] || strings.EqualFold(d, it.ID) {
				return nil, fmt.Errorf("graph: batch request %s depends on unknown request %q", it.ID, d)
			}
		}
	}
	return items, nil
}

// sendBatch posts one $batch (retrying the batch itself like any request)
// and indexes the answers by lower-case id.
func (c *Client) sendBatch(ctx context.Context, items []batchItem, deadline time.Time) (map[string]batchAnswer, error) {
	safe := true
	for _, it := range items {
		safe = safe && idempotent(it.Method)
	}
	var out struct {
		Responses []batchAnswer `json:"responses"`
	}
	body := struct {
		Requests []batchItem `json:"requests"`
	}{items}
	if _, err := c.doUntil(ctx, &request{method: http.MethodPost, path: "/$batch", body: body, out: &out, safe: safe}, deadline); err != nil {
		return nil, err
	}
	m := make(map[string]batchAnswer, len(out.Responses))
	for _, a := range out.Responses {
		m[strings.ToLower(a.ID)] = a
	}
	return m, nil
}

// itemError builds the *Error of a failed item from its status, headers and
// body (Graph's envelope, possibly a JSON string for non-JSON bodies).
func itemError(a batchAnswer, it batchItem, now time.Time) *Error {
	h := http.Header{}
	for k, v := range a.Headers {
		h.Set(k, v)
	}
	body := []byte(a.Body)
	var s string
	if json.Unmarshal(body, &s) == nil {
		body = []byte(s)
	}
	e := parseError(a.Status, h, body)
	path := it.URL
	if u, err := url.Parse(it.URL); err == nil {
		path = u.EscapedPath()
	}
	e.Method, e.Path, e.BatchID = it.Method, path, it.ID
	e.RetryAfter = parseRetryAfter(h.Get("Retry-After"), now)
	return e
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
