package m365sim

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Throttling with Microsoft's published limits for the identity and access
// service. Source: https://learn.microsoft.com/graph/throttling-limits
// ("Identity and access service limits") and the contract §2:
//
//   - "Throttling is based on a token bucket algorithm, which works by adding
//     individual costs of requests": each limit is a bucket that holds its
//     quota and refills at quota/window;
//   - per application+tenant pair: 3,500 / 5,000 / 8,000 resource units per
//     10 seconds for tenants of under 50 / 50–500 / over 500 users, and
//     3,000 writes per 2 minutes 30 seconds; per tenant (all applications):
//     18,000 writes per 5 minutes; per application (all tenants): 150,000
//     resource units per 20 seconds and 70,000 writes per 5 minutes; and the
//     global 130,000 requests per 10 seconds per application;
//   - request costs from the page's table (GET users 2, GET
//     groups/{id}/members 3, GET subscribedSkus 3, any other GET 1, any
//     write 1 unit and 1 write, ...); $select −1, $expand +1, $top under 20
//     −1; never below 1;
//   - every response carries x-ms-resource-unit; x-ms-throttle-limit-percentage
//     when more than 0.8 of a limit is used; a throttled one is 429 with
//     Retry-After (seconds), x-ms-throttle-scope
//     (<Scope>/<Limit>/<ApplicationId>/<TenantId>) and
//     x-ms-throttle-information;
//   - "Microsoft Graph continues to log resource usage while a client is
//     being throttled" (graph/throttling): a throttled request still uses
//     its cost, so retrying before Retry-After pushes the client further
//     back. Retry-After tells a client how long until its request fits.
//
// $batch items are throttled one by one (the batch itself costs nothing),
// so a throttled item is a 429 inside a 200 batch, with its own Retry-After.
//
// Scale makes the limits' clock run faster: every window is divided by it
// (3,000 writes per 3 s at scale 50), so rates are multiplied while the
// bucket sizes — when throttling starts and how long bursts last relative to
// the window — keep Microsoft's shape; Retry-After (whole seconds at scale
// 1) is divided by the same factor and then has fractions of a second.

// ThrottleConfig switches throttling on and scales its limits.
type ThrottleConfig struct {
	Enabled bool `json:"enabled"`
	// Scale multiplies every limit's rate (its window is Scale times
	// shorter); 1 (or 0) means Microsoft's published limits.
	Scale float64 `json:"scale,omitempty"`
}

func (c ThrottleConfig) scale() float64 {
	if c.Scale <= 0 || math.IsNaN(c.Scale) || math.IsInf(c.Scale, 0) {
		return 1
	}
	return c.Scale
}

// WithThrottling sets the throttling configuration (default: off, so that
// tests are not throttled unless they ask; `portico m365sim` turns it on).
func WithThrottling(c ThrottleConfig) Option {
	return func(s *Server) error {
		if c.Scale < 0 || math.IsNaN(c.Scale) || math.IsInf(c.Scale, 0) {
			return fmt.Errorf("throttle scale %v: must be a positive number", c.Scale)
		}
		s.throttle.cfg = c
		return nil
	}
}

// Throttling returns the current throttling configuration.
func (s *Server) Throttling() ThrottleConfig {
	s.throttle.mu.Lock()
	defer s.throttle.mu.Unlock()
	return s.throttle.cfg
}

// SetThrottling changes the throttling configuration and refills every
// bucket.
func (s *Server) SetThrottling(c ThrottleConfig) error {
	if c.Scale < 0 || math.IsNaN(c.Scale) || math.IsInf(c.Scale, 0) {
		return fmt.Errorf("m365sim: throttle scale %v: must be a positive number", c.Scale)
	}
	s.throttle.mu.Lock()
	defer s.throttle.mu.Unlock()
	s.throttle.cfg = c
	s.throttle.buckets = map[string]*bucket{}
	return nil
}

// limitKind identifies one of the published limits.
type limitKind int

const (
	limitRUAppTenant limitKind = iota
	limitWriteAppTenant
	limitWriteTenant
	limitRUApp
	limitWriteApp
	limitRequestsApp
)

type limitDef struct {
	quota  float64
	window time.Duration
	scope  string // Tenant_Application, Tenant or Application
	limit  string // ReadWrite or Write
	info   string // x-ms-throttle-information
	unit   string // what the quota counts
}

// limitDefs are the published limits (the resource-unit quota of the
// application+tenant pair depends on the tenant's size: see ruQuota).
var limitDefs = map[limitKind]limitDef{
	limitRUAppTenant:    {3500, 10 * time.Second, "Tenant_Application", "ReadWrite", "ResourceUnitLimitExceeded", "resource units"},
	limitWriteAppTenant: {3000, 150 * time.Second, "Tenant_Application", "Write", "WriteLimitExceeded", "writes"},
	limitWriteTenant:    {18000, 5 * time.Minute, "Tenant", "Write", "WriteLimitExceeded", "writes"},
	limitRUApp:          {150000, 20 * time.Second, "Application", "ReadWrite", "ResourceUnitLimitExceeded", "resource units"},
	limitWriteApp:       {70000, 5 * time.Minute, "Application", "Write", "WriteLimitExceeded", "writes"},
	limitRequestsApp:    {130000, 10 * time.Second, "Application", "ReadWrite", "RequestLimitExceeded", "requests"},
}

// ruQuota is the resource-unit quota per 10 s of an application+tenant
// pair: S (under 50 users) 3,500, M (50–500) 5,000, L (over 500) 8,000.
func ruQuota(users int) float64 {
	switch {
	case users < 50:
		return 3500
	case users <= 500:
		return 5000
	default:
		return 8000
	}
}

type bucket struct {
	tokens   float64
	capacity float64
	last     time.Time
}

// refill brings the bucket to time now at rate tokens per second.
func (b *bucket) refill(now time.Time, rate float64) {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(b.capacity, b.tokens+el*rate)
	}
	b.last = now
}

type throttler struct {
	mu      sync.Mutex
	cfg     ThrottleConfig
	buckets map[string]*bucket
}

// charge is one bucket a request draws from.
type charge struct {
	kind  limitKind
	key   string
	cost  float64
	quota float64
}

// verdict is the outcome of admitting a request.
type verdict struct {
	allowed    bool
	retryAfter time.Duration
	def        limitDef
	usage      float64 // highest used share of a limit after this request
}

// admit charges a request to its buckets. When one lacks the tokens the
// request is throttled; its cost is still logged (within one quota of
// debt) and Retry-After is the time until the request would fit.
func (t *throttler) admit(now time.Time, charges []charge) verdict {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.buckets == nil {
		t.buckets = map[string]*bucket{}
	}
	scale := t.cfg.scale()
	v := verdict{allowed: true}
	bs := make([]*bucket, len(charges))
	rates := make([]float64, len(charges))
	for i, c := range charges {
		def := limitDefs[c.kind]
		rates[i] = c.quota / def.window.Seconds() * scale
		b := t.buckets[c.key]
		if b == nil {
			b = &bucket{tokens: c.quota, capacity: c.quota, last: now}
			t.buckets[c.key] = b
		}
		if b.capacity != c.quota { // the tenant changed size class
			b.tokens += c.quota - b.capacity
			b.capacity = c.quota
		}
		b.refill(now, rates[i])
		bs[i] = b
		if b.tokens < c.cost {
			v.allowed = false
		}
	}
	var wait float64
	for i, c := range charges {
		b := bs[i]
		short := b.tokens < c.cost
		b.tokens = math.Max(b.tokens-c.cost, -b.capacity)
		if u := 1 - b.tokens/b.capacity; u > v.usage {
			v.usage = u
		}
		if short {
			// The time until the request fits again, its cost logged.
			if w := (c.cost - b.tokens) / rates[i]; w > wait || v.def.scope == "" {
				wait = math.Max(wait, w)
				v.def = limitDefs[c.kind]
			}
		}
	}
	v.retryAfter = time.Duration(wait * float64(time.Second))
	return v
}

// requestCost is a request's resource units and writes, from the table of
// graph/throttling-limits ("Any requests not listed have a base cost of
// 1"; writes cost 1 unit and 1 write) and the modifiers below it.
func requestCost(method string, segs []string, q map[string][]string) (ru, writes int) {
	path := normalizeCostPath(segs)
	ru, writes = 1, 0
	if isWrite(method) {
		writes = 1
	}
	for _, e := range costTable {
		if e.method == method && e.path == path {
			ru, writes = e.ru, e.writes
			break
		}
	}
	if has(q, "$select") {
		ru--
	}
	if has(q, "$expand") {
		ru++
	}
	if top := first(q, "$top"); top != "" {
		if n, err := strconv.Atoi(top); err == nil && n < 20 {
			ru--
		}
	}
	if ru < 1 {
		ru = 1
	}
	return ru, writes
}

func has(q map[string][]string, k string) bool { return len(q[k]) > 0 }

func first(q map[string][]string, k string) string {
	if v := q[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// costTable is the base cost table of graph/throttling-limits. "{id}" stands
// for any one segment; "users/{id}/..." costs what "me/..." costs.
var costTable = []struct {
	method, path string
	ru, writes   int
}{
	{"GET", "applications", 2, 0},
	{"GET", "applications/{id}/extensionProperties", 2, 0},
	{"GET", "contracts", 3, 0},
	{"POST", "directoryObjects/getByIds", 3, 0},
	{"GET", "domains/{id}/domainNameReferences", 4, 0},
	{"POST", "getObjectsById", 3, 0},
	{"GET", "groups/{id}/members", 3, 0},
	{"GET", "groups/{id}/transitiveMembers", 5, 0},
	{"POST", "isMemberOf", 4, 0},
	{"POST", "me/checkMemberGroups", 4, 0},
	{"POST", "me/checkMemberObjects", 4, 0},
	{"POST", "me/getMemberGroups", 2, 0},
	{"POST", "me/getMemberObjects", 2, 0},
	{"GET", "me/licenseDetails", 2, 0},
	{"GET", "me/memberOf", 2, 0},
	{"GET", "me/ownedObjects", 2, 0},
	{"GET", "me/transitiveMemberOf", 2, 0},
	{"GET", "oauth2PermissionGrants", 2, 0},
	{"GET", "oauth2PermissionGrants/{id}", 2, 0},
	{"GET", "servicePrincipals/{id}/appRoleAssignments", 2, 0},
	{"GET", "subscribedSkus", 3, 0},
	{"GET", "users", 2, 0},
}

// normalizeCostPath turns request segments into the table's form: ids
// become {id}, users/{id}/x becomes me/x, and members/$ref counts as
// members.
func normalizeCostPath(segs []string) string {
	if len(segs) == 0 {
		return ""
	}
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		switch {
		case i == 1 && len(segs) > 1 && (segs[0] == "users" || segs[0] == "groups" || segs[0] == "applications" || segs[0] == "domains" ||
			segs[0] == "servicePrincipals" || segs[0] == "oauth2PermissionGrants"):
			out = append(out, "{id}")
		case s == "$ref" && i == len(segs)-1 && i > 0 && segs[i-1] == "members":
			// GET /groups/{id}/members/$ref lists members too.
		default:
			out = append(out, s)
		}
	}
	if len(out) > 2 && out[0] == "users" && out[1] == "{id}" {
		out = append([]string{"me"}, out[2:]...)
	}
	return strings.Join(out, "/")
}

// throttleGraph is the throttling middleware.
func (s *Server) throttleGraph(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.throttle.mu.Lock()
		cfg := s.throttle.cfg
		s.throttle.mu.Unlock()
		rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/v1.0"), "/")
		item := r.Context().Value(batchMarker{}) != nil
		if !cfg.Enabled || (rest == "$batch" && !item) {
			next.ServeHTTP(w, r)
			return
		}
		tok, ge := s.authenticate(r)
		if ge != nil {
			next.ServeHTTP(w, r) // Graph answers 401
			return
		}
		var segs []string
		if rest != "" {
			segs = strings.Split(rest, "/")
		}
		ru, writes := requestCost(r.Method, segs, r.URL.Query())
		users := 0
		s.store.mu.RLock()
		if t := s.store.tenants[strings.ToLower(tok.Tid)]; t != nil {
			users = len(t.users.items)
		}
		s.store.mu.RUnlock()
		app, tid := strings.ToLower(tok.AppID), strings.ToLower(tok.Tid)
		charges := []charge{
			{limitRUAppTenant, "ru|" + app + "|" + tid, float64(ru), ruQuota(users)},
			{limitRUApp, "ruapp|" + app, float64(ru), limitDefs[limitRUApp].quota},
			{limitRequestsApp, "req|" + app, 1, limitDefs[limitRequestsApp].quota},
		}
		if writes > 0 {
			charges = append(charges,
				charge{limitWriteAppTenant, "w|" + app + "|" + tid, float64(writes), limitDefs[limitWriteAppTenant].quota},
				charge{limitWriteTenant, "wt|" + tid, float64(writes), limitDefs[limitWriteTenant].quota},
				charge{limitWriteApp, "wapp|" + app, float64(writes), limitDefs[limitWriteApp].quota})
		}
		v := s.throttle.admit(s.now(), charges)
		h := w.Header()
		h.Set("x-ms-resource-unit", strconv.Itoa(ru))
		if v.usage > 0.8 {
			h.Set("x-ms-throttle-limit-percentage", strconv.FormatFloat(math.Min(v.usage, 1.8), 'f', 2, 64))
		}
		if v.allowed {
			s.stats.resourceUnits.Add(int64(ru))
			next.ServeHTTP(w, r)
			return
		}
		if isWrite(r.Method) {
			s.stats.throttledW.Add(1)
		} else {
			s.stats.throttledR.Add(1)
		}
		ra := formatRetryAfter(v.retryAfter, cfg.scale())
		reqID := s.newID()
		cliID := r.Header.Get("client-request-id")
		if cliID == "" {
			cliID = reqID
		}
		h.Set("Retry-After", ra)
		h.Set("x-ms-throttle-scope", v.def.scope+"/"+v.def.limit+"/"+tok.AppID+"/"+tok.Tid)
		h.Set("x-ms-throttle-information", v.def.info)
		h.Set("request-id", reqID)
		h.Set("client-request-id", cliID)
		h.Set("Content-Type", jsonContentType)
		w.WriteHeader(http.StatusTooManyRequests)
		e := gerr(http.StatusTooManyRequests, "TooManyRequests", "Too many requests. The %s limit is exceeded; retry after %s seconds.", strings.ToLower(v.def.limit), ra)
		_, _ = w.Write(errorBody(e, s.now(), reqID, cliID))
	})
}

// formatRetryAfter writes Retry-After in seconds: whole seconds, rounded
// up, at least 1, at Microsoft's limits; with a scale, those whole seconds
// divided by it (contract §2: "may be fractional"), so that clients wait
// the same share of a window as they would against Graph.
func formatRetryAfter(d time.Duration, scale float64) string {
	n := math.Ceil(d.Seconds()*scale - 1e-9)
	if n < 1 {
		n = 1
	}
	if scale == 1 {
		return strconv.Itoa(int(n))
	}
	return strconv.FormatFloat(math.Ceil(n/scale*1000)/1000, 'f', -1, 64)
}

// throttleState is the throttling configuration with its buckets, for
// GET /_sim/throttle and the tenant view.
type throttleState struct {
	ThrottleConfig
	Buckets []bucketState `json:"buckets"`
}

type bucketState struct {
	Limit     string  `json:"limit"`
	Unit      string  `json:"unit"`
	Key       string  `json:"key"`
	Available float64 `json:"available"`
	Capacity  float64 `json:"capacity"`
	Window    string  `json:"window"`
}

func (s *Server) throttleSnapshot() throttleState {
	t := &s.throttle
	t.mu.Lock()
	defer t.mu.Unlock()
	st := throttleState{ThrottleConfig: t.cfg, Buckets: []bucketState{}}
	now := s.now()
	scale := t.cfg.scale()
	names := map[string]limitKind{"ru": limitRUAppTenant, "w": limitWriteAppTenant, "wt": limitWriteTenant, "ruapp": limitRUApp, "wapp": limitWriteApp, "req": limitRequestsApp}
	for k, b := range t.buckets {
		kindName, rest, _ := strings.Cut(k, "|")
		kind := names[kindName]
		def := limitDefs[kind]
		b.refill(now, b.capacity/def.window.Seconds()*scale)
		st.Buckets = append(st.Buckets, bucketState{Limit: def.scope + "/" + def.limit, Unit: def.unit, Key: rest, Available: math.Floor(b.tokens),
			Capacity: b.capacity, Window: (time.Duration(float64(def.window) / scale)).String()})
	}
	sort.Slice(st.Buckets, func(i, j int) bool {
		if st.Buckets[i].Limit != st.Buckets[j].Limit {
			return st.Buckets[i].Limit < st.Buckets[j].Limit
		}
		if st.Buckets[i].Unit != st.Buckets[j].Unit {
			return st.Buckets[i].Unit < st.Buckets[j].Unit
		}
		return st.Buckets[i].Key < st.Buckets[j].Key
	})
	return st
}

// serveThrottle is GET and PUT /_sim/throttle.
func (s *Server) serveThrottle(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.throttleSnapshot())
	case http.MethodPut, http.MethodPost:
		var c ThrottleConfig
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]string{"message": "throttle configuration: " + err.Error()}})
			return
		}
		if err := s.SetThrottling(c); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]string{"message": err.Error()}})
			return
		}
		writeJSON(w, http.StatusOK, s.throttleSnapshot())
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": map[string]string{"message": "GET or PUT"}})
	}
}
