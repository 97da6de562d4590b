package m365sim

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Microsoft Graph v1.0: the request context, the error envelope, permission
// checks and the router. Sources: https://learn.microsoft.com/graph/errors,
// https://learn.microsoft.com/graph/paging, https://learn.microsoft.com/graph/permissions-reference.

const (
	graphResource = "https://graph.microsoft.com"
	// graphAppID is Microsoft Graph's well-known application id, also accepted
	// as the audience of a Graph token.
	graphAppID      = "00000003-0000-0000-c000-000000000000"
	jsonContentType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
	maxBodyBytes    = 4 << 20
)

// graphError is an error answered with Graph's envelope.
type graphError struct {
	status  int
	code    string
	message string
	details []errorDetail
	headers map[string]string
}

type errorDetail struct {
	Code    string `json:"code"`
	Target  string `json:"target,omitempty"`
	Message string `json:"message"`
}

// Error renders the status, code and message.
func (e *graphError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message) }

func gerr(status int, code, format string, args ...any) *graphError {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &graphError{status: status, code: code, message: msg}
}

// Frequently used errors, with the codes and messages Graph returns.
func errNotFound(id string) *graphError {
	return gerr(http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '%s' does not exist or one of its queried reference-property objects are not present.", id)
}

func errBadRequest(format string, args ...any) *graphError {
	return gerr(http.StatusBadRequest, "Request_BadRequest", format, args...)
}

func errODataBadRequest(format string, args ...any) *graphError {
	return gerr(http.StatusBadRequest, "BadRequest", format, args...)
}

func errUnsupportedQuery(format string, args ...any) *graphError {
	return gerr(http.StatusBadRequest, "Request_UnsupportedQuery", format, args...)
}

// errMalformedJSON() is Graph's answer to a body that is not a JSON object.
func errMalformedJSON() *graphError {
	return &graphError{status: http.StatusBadRequest, code: "BadRequest",
		message: "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."}
}

// gctx is one Graph request being served.
type gctx struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	t      *Tenant
	tok    *accessClaims
	base   string // scheme://host/v1.0, used in @odata.context and nextLink
	reqID  string
	cliID  string
	q      url.Values
	segs   []string
	header http.Header
}

// write sends a JSON body with Graph's headers.
func (c *gctx) write(status int, body []byte) {
	h := c.w.Header()
	h.Set("Content-Type", jsonContentType)
	h.Set("OData-Version", "4.0")
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body)
}

func (c *gctx) noContent() { c.w.WriteHeader(http.StatusNoContent) }

// fail sends err in Graph's error envelope
// (https://learn.microsoft.com/graph/errors#error-resource-type).
func (c *gctx) fail(e *graphError) {
	for k, v := range e.headers {
		c.w.Header().Set(k, v)
	}
	c.write(e.status, errorBody(e, c.s.now(), c.reqID, c.cliID))
}

func errorBody(e *graphError, now time.Time, reqID, cliID string) []byte {
	type inner struct {
		Date            string `json:"date"`
		RequestID       string `json:"request-id"`
		ClientRequestID string `json:"client-request-id"`
	}
	type body struct {
		Code       string        `json:"code"`
		Message    string        `json:"message"`
		Details    []errorDetail `json:"details,omitempty"`
		InnerError inner         `json:"innerError"`
	}
	out, _ := json.Marshal(map[string]body{"error": {
		Code: e.code, Message: e.message, Details: e.details,
		InnerError: inner{Date: now.UTC().Format("2006-01-02T15:04:05"), RequestID: reqID, ClientRequestID: cliID},
	}})
	return out
}

// perm lists who may call an endpoint, as each API page's "Permissions"
// table says: any one of the application permissions for app-only tokens,
// any one of the delegated permissions for user tokens, and for delegated
// writes that need an admin, one of the directory roles.
type perm struct {
	app       []string
	delegated []string
	roles     []string
}

// allow checks the caller against p and answers 403
// Authorization_RequestDenied when it falls short.
func (c *gctx) allow(p perm) *graphError {
	ok := false
	if c.tok.isApp() {
		for _, r := range c.tok.Roles {
			if hasFold(p.app, r) {
				ok = true
				break
			}
		}
	} else {
		for _, s := range strings.Fields(c.tok.Scp) {
			if hasFold(p.delegated, s) {
				ok = true
				break
			}
		}
		if ok && len(p.roles) > 0 {
			ok = false
			if u := c.t.userByKey(c.tok.Oid); u != nil {
				for _, r := range u.DirectoryRoles {
					if hasFold(p.roles, r) || strings.EqualFold(r, "Global Administrator") {
						ok = true
					}
				}
			}
		}
	}
	if !ok {
		return gerr(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	}
	return nil
}

// readBody decodes a JSON object body. Graph insists on a JSON content type
// and answers malformed JSON with BadRequest "Unable to read JSON request
// payload...".
func (c *gctx) readBody() (map[string]any, *graphError) {
	ct := c.r.Header.Get("Content-Type")
	if !strings.Contains(strings.ToLower(ct), "json") {
		return nil, errMalformedJSON()
	}
	raw, e := readRequestBody(c.r)
	if e != nil {
		return nil, e
	}
	return decodeObject(raw)
}

// readRequestBody reads a request body, inflating "Content-Encoding: gzip",
// which Microsoft's Graph SDKs send by default (Kiota's compression handler
// retries without compression only after a 415).
func readRequestBody(r *http.Request) ([]byte, *graphError) {
	if r.Body == nil {
		return nil, errMalformedJSON()
	}
	var body io.Reader = r.Body
	switch strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))) {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, errMalformedJSON()
		}
		defer zr.Close()
		body = zr
	default:
		return nil, gerr(http.StatusUnsupportedMediaType, "BadRequest", "Content-Encoding '%s' is not supported.", r.Header.Get("Content-Encoding"))
	}
	raw, err := io.ReadAll(io.LimitReader(body, maxBodyBytes+1))
	if err != nil || len(raw) > maxBodyBytes {
		return nil, errMalformedJSON()
	}
	return raw, nil
}

func decodeObject(raw []byte) (map[string]any, *graphError) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errMalformedJSON()
	}
	if dec.More() {
		return nil, errMalformedJSON()
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errMalformedJSON()
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errMalformedJSON()
	}
	return obj, nil
}

// context returns the @odata.context URL for a path such as "users" or
// "users/$entity".
func (c *gctx) context(frag string) string { return c.base + "/$metadata#" + frag }

// pageToken is the opaque state behind $skiptoken: the cursor of the last
// object returned (seq) or an offset into a sorted result.
type pageToken struct {
	Seq    uint64 `json:"s,omitempty"`
	Offset int    `json:"o,omitempty"`
}

func encodePageToken(p pageToken) string {
	raw, _ := json.Marshal(p)
	return "RFNwdAI" + base64.RawURLEncoding.EncodeToString(raw)
}

func decodePageToken(s string) (pageToken, *graphError) {
	var p pageToken
	rest, ok := strings.CutPrefix(s, "RFNwdAI")
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if !ok || err != nil || json.Unmarshal(raw, &p) != nil || p.Offset < 0 {
		return p, errBadRequest("The specified page token value has expired and can no longer be included in your request.")
	}
	return p, nil
}

// nextLink builds the @odata.nextLink: the same request with a $skiptoken.
func (c *gctx) nextLink(token string) string {
	q := url.Values{}
	for k, v := range c.q {
		if k != "$skiptoken" {
			q[k] = v
		}
	}
	q.Set("$skiptoken", token)
	return c.base + "/" + strings.Join(escapeSegs(c.segs), "/") + "?" + encodeQuery(q)
}

func escapeSegs(segs []string) []string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = strings.ReplaceAll(url.PathEscape(s), "%24", "$")
	}
	return out
}

// encodeQuery is url.Values.Encode with '$' left readable, as Graph's links
// show it.
func encodeQuery(q url.Values) string { return strings.ReplaceAll(q.Encode(), "%24", "$") }

// pageSize reads $top: 1..999, default 100 for users and groups
// (https://learn.microsoft.com/graph/paging).
func (c *gctx) pageSize(def int) (int, *graphError) {
	v := c.q.Get("$top")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errODataBadRequest("Invalid value '%s' for $top query option found. The $top query option requires a non-negative integer value.", v)
	}
	if n < 1 || n > 999 {
		return 0, errUnsupportedQuery("Invalid page size specified: '%d'. Must be between 1 and 999 inclusive.", n)
	}
	return n, nil
}

// eventual reports whether the request opted into advanced queries
// (https://learn.microsoft.com/graph/aad-advanced-queries).
func (c *gctx) eventual() bool {
	return strings.EqualFold(c.header.Get("ConsistencyLevel"), "eventual")
}

// checkQueryOptions refuses system query options the endpoint does not take.
func (c *gctx) checkQueryOptions(allowed ...string) *graphError {
	for k := range c.q {
		if !strings.HasPrefix(k, "$") {
			continue
		}
		if k == "$skip" {
			return errBadRequest("'$skip' is not supported by the service.")
		}
		if !hasFold(allowed, k) {
			return errODataBadRequest("The query parameter '%s' is not supported.", k)
		}
	}
	return nil
}

// selectProps resolves $select against a schema; without $select the
// schema's default set applies.
func (c *gctx) selectProps(s *entitySchema) ([]*propDef, *graphError) {
	sel := c.q.Get("$select")
	if sel == "" {
		return s.defaults, nil
	}
	var out []*propDef
	seen := map[*propDef]bool{}
	for _, name := range strings.Split(sel, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, errODataBadRequest("Syntax error: character ',' is not valid at position %d in '%s'.", strings.Index(sel, ","), sel)
		}
		p := s.lookup(name)
		if p == nil {
			if s.open {
				return nil, errUnsupportedQuery("Property '%s' does not exist as a declared property or extension property.", name)
			}
			return nil, errODataBadRequest("Could not find a property named '%s' on type '%s'.", name, s.typeName)
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	// id is always returned (https://learn.microsoft.com/graph/query-parameters#select).
	if idp := s.lookup("id"); idp != nil && !seen[idp] {
		out = append([]*propDef{idp}, out...)
	}
	return out, nil
}

// contextSelect renders "users(displayName,id)" for a $select'ed context.
func (c *gctx) contextFor(entitySet string, props []*propDef, entity bool) string {
	frag := entitySet
	if c.q.Get("$select") != "" {
		names := make([]string, len(props))
		for i, p := range props {
			names[i] = p.name
		}
		frag += "(" + strings.Join(names, ",") + ")"
	}
	if entity {
		frag += "/$entity"
	}
	return c.context(frag)
}

// route dispatches a Graph request by path segments below /v1.0.
func (c *gctx) route() {
	if e := c.dispatch(); e != nil {
		c.fail(e)
	}
}

func (c *gctx) dispatch() *graphError {
	segs := c.segs
	m := c.r.Method
	if len(segs) == 0 || segs[0] == "" {
		return errODataBadRequest("Resource not found for the segment ''.")
	}
	head := segs[0]
	switch {
	case head == "organization":
		return c.routeOrganization(m, segs[1:])
	case head == "domains":
		return c.routeDomains(m, segs[1:])
	case head == "users":
		return c.routeUsers(m, segs[1:])
	case head == "groups":
		return c.routeGroups(m, segs[1:])
	case head == "subscribedSkus":
		return c.routeSKUs(m, segs[1:])
	case head == "directory" && len(segs) >= 2 && segs[1] == "deletedItems":
		return c.routeDeleted(m, segs[2:])
	}
	return errODataBadRequest("Resource not found for the segment '%s'.", head)
}

func errMethod() *graphError {
	return gerr(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
}

// isDelta reports whether seg is the delta function ("delta" or "delta()").
func isDelta(seg string) bool {
	return seg == "delta" || seg == "delta()" || seg == "microsoft.graph.delta()"
}
