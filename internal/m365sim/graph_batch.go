package m365sim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// JSON batching. Source: https://learn.microsoft.com/graph/json-batching and
// the contract §2: at most 20 requests with unique ids (case-insensitive),
// each {id, method, url, headers, body}; a body needs a Content-Type header;
// dependsOn orders requests and a dependent of a failed request gets 424;
// the batch answers 200 with {responses:[{id,status,headers,body}]} even
// when items fail, and 400 when the batch itself is malformed. Each item
// runs through the same handler chain as a top-level request, so the
// middleware hook (throttling, faults) applies to every item on its own.

const maxBatch = 20

type batchItem struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// batchMarker flags requests replayed from a batch, which may not nest.
type batchMarker struct{}

func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request, c *gctx) {
	if r.Method != http.MethodPost {
		c.fail(errMethod())
		return
	}
	if r.Context().Value(batchMarker{}) != nil {
		c.fail(errODataBadRequest("A batch request cannot contain another batch request."))
		return
	}
	if !strings.Contains(strings.ToLower(r.Header.Get("Content-Type")), "json") {
		c.fail(errMalformedJSON())
		return
	}
	raw, ge := readRequestBody(r)
	if ge != nil {
		c.fail(ge)
		return
	}
	var req struct {
		Requests []batchItem `json:"requests"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&req); err != nil {
		c.fail(errODataBadRequest("Invalid batch payload format."))
		return
	}
	if e := validateBatch(req.Requests); e != nil {
		c.fail(e)
		return
	}
	byID := map[string]*batchItem{}
	for i := range req.Requests {
		byID[strings.ToLower(req.Requests[i].ID)] = &req.Requests[i]
	}
	results := map[string]*batchResponse{}
	var out []batchResponse
	var run func(it *batchItem) *batchResponse
	run = func(it *batchItem) *batchResponse {
		key := strings.ToLower(it.ID)
		if res, ok := results[key]; ok {
			return res
		}
		var res *batchResponse
		for _, dep := range it.DependsOn {
			d := run(byID[strings.ToLower(dep)])
			if d.Status >= 400 {
				e := gerr(http.StatusFailedDependency, "FailedDependency", "The request depends on request '%s', which failed.", dep)
				res = &batchResponse{ID: it.ID, Status: e.status,
					Headers: map[string]string{"Content-Type": "application/json"},
					Body:    errorBody(e, s.now(), c.reqID, c.cliID)}
				break
			}
		}
		if res == nil {
			res = s.runBatchItem(r, it)
		}
		results[key] = res
		out = append(out, *res)
		return res
	}
	for i := range req.Requests {
		run(&req.Requests[i])
	}
	body, _ := json.Marshal(map[string]any{"responses": out})
	c.write(http.StatusOK, body)
}

func validateBatch(items []batchItem) *graphError {
	if items == nil {
		return errODataBadRequest("Invalid batch payload format.")
	}
	if len(items) == 0 {
		return errODataBadRequest("Invalid batch payload format: the batch contains no requests.")
	}
	if len(items) > maxBatch {
		return errODataBadRequest("Invalid batch payload format: the number of requests exceeds the limit of %d.", maxBatch)
	}
	ids := map[string]bool{}
	for _, it := range items {
		if it.ID == "" || it.Method == "" || it.URL == "" {
			return errODataBadRequest("Invalid batch payload format: each request needs id, method and url.")
		}
		key := strings.ToLower(it.ID)
		if ids[key] {
			return errODataBadRequest("Invalid batch payload format: the request id '%s' is used more than once.", it.ID)
		}
		ids[key] = true
		if len(it.Body) > 0 && string(it.Body) != "null" && headerValue(it.Headers, "Content-Type") == "" {
			return errODataBadRequest("Invalid batch payload format: request '%s' has a body but no Content-Type header.", it.ID)
		}
	}
	for _, it := range items {
		for _, dep := range it.DependsOn {
			if !ids[strings.ToLower(dep)] || strings.EqualFold(dep, it.ID) {
				return errODataBadRequest("Invalid batch payload format: request '%s' depends on unknown request '%s'.", it.ID, dep)
			}
		}
	}
	// Refuse cycles: dependsOn must form a DAG.
	state := map[string]int{}
	byID := map[string]batchItem{}
	for _, it := range items {
		byID[strings.ToLower(it.ID)] = it
	}
	var visit func(id string) bool
	visit = func(id string) bool {
		switch state[id] {
		case 1:
			return false
		case 2:
			return true
		}
		state[id] = 1
		for _, d := range byID[id].DependsOn {
			if !visit(strings.ToLower(d)) {
				return false
			}
		}
		state[id] = 2
		return true
	}
	for id := range byID {
		if !visit(id) {
			return errODataBadRequest("Invalid batch payload format: the dependsOn references form a cycle.")
		}
	}
	return nil
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// runBatchItem replays one item through the Graph handler chain.
func (s *Server) runBatchItem(outer *http.Request, it *batchItem) *batchResponse {
	u := it.URL
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		if i := strings.Index(u, "/v1.0/"); i >= 0 {
			u = u[i+len("/v1.0"):]
		}
	}
	if !strings.HasPrefix(u, "/") {
		u = "/" + u
	}
	var body io.Reader = http.NoBody
	if len(it.Body) > 0 && string(it.Body) != "null" {
		b := []byte(it.Body)
		var str string
		if json.Unmarshal(b, &str) == nil {
			b = []byte(str)
		}
		body = bytes.NewReader(b)
	}
	ctx := context.WithValue(outer.Context(), batchMarker{}, true)
	req, err := http.NewRequestWithContext(ctx, strings.ToUpper(it.Method), "/v1.0"+u, body)
	if err != nil {
		e := errODataBadRequest("Invalid request URL '%s'.", it.URL)
		return &batchResponse{ID: it.ID, Status: e.status, Headers: map[string]string{"Content-Type": "application/json"}, Body: errorBody(e, s.now(), "", "")}
	}
	req.Host = outer.Host
	req.TLS = outer.TLS
	req.RemoteAddr = outer.RemoteAddr
	for k, v := range it.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", outer.Header.Get("Authorization"))
	if cid := outer.Header.Get("client-request-id"); cid != "" && req.Header.Get("client-request-id") == "" {
		req.Header.Set("client-request-id", cid)
	}
	rec := &recorder{header: http.Header{}}
	s.graph.ServeHTTP(rec, req)
	res := &batchResponse{ID: it.ID, Status: rec.status, Headers: map[string]string{}}
	if res.Status == 0 {
		res.Status = http.StatusOK
	}
	for k, v := range rec.header {
		if len(v) > 0 {
			res.Headers[k] = v[0]
		}
	}
	if rec.body.Len() > 0 {
		if strings.Contains(rec.header.Get("Content-Type"), "json") && json.Valid(rec.body.Bytes()) {
			res.Body = json.RawMessage(bytes.Clone(rec.body.Bytes()))
		} else {
			res.Body, _ = json.Marshal(rec.body.String())
		}
	}
	return res
}

// recorder is a minimal in-memory http.ResponseWriter for batch items.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

// Header returns the recorded headers.
func (r *recorder) Header() http.Header { return r.header }

// WriteHeader records the first status.
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

// Write records body bytes.
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
