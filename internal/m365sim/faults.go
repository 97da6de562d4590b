package m365sim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault injection: the failures a Microsoft Graph client meets in
// production, switchable and deterministic.
//
//   - errors: a share of Graph requests (top-level and $batch items)
//     answered 500/502/503/504 with Graph's error envelope
//     (https://learn.microsoft.com/graph/errors: generalException,
//     serviceNotAvailable, timeout);
//   - latency: a fixed delay plus jitter added to every top-level request;
//   - read-after-write lag: an object created by POST /users or POST /groups
//     reads as 404 Request_ResourceNotFound for a while, through its id or
//     UPN in the path or a reference to it in a body, as directory replicas
//     catch up (contract §2, "Eventual consistency");
//   - dropped connections: a share of top-level requests whose connection
//     is closed without an answer.
//
// AfterWriteRate makes a share of the errors and drops that hit writes
// happen after the write was applied: the client cannot tell whether it
// took effect, which is what idempotent retries must survive.
//
// Decisions are deterministic: each is a hash of the seed, the request
// (method, URL, body) and how many times that same request was seen, so a
// run with the same seed and the same requests meets the same faults even
// when requests run concurrently.

// Duration is a time.Duration that reads and writes JSON as "250ms"
// (a number is taken as milliseconds).
type Duration time.Duration

// String writes the duration as Go does ("1.5s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "1.5s", "250ms" or a number of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("a duration is a string such as \"250ms\" or a number of milliseconds")
	}
	*d = Duration(ms * float64(time.Millisecond))
	return nil
}

// FaultConfig says which faults to inject. The zero value injects none.
type FaultConfig struct {
	// Seed makes the decisions reproducible.
	Seed int64 `json:"seed"`
	// ErrorRate is the probability (0–1) that a Graph request or batch item
	// is answered with a 5xx.
	ErrorRate float64 `json:"errorRate,omitempty"`
	// ErrorStatuses are the statuses to choose from (default 500, 502, 503, 504).
	ErrorStatuses []int `json:"errorStatuses,omitempty"`
	// Latency is added to every top-level Graph request, plus a uniformly
	// distributed 0–LatencyJitter.
	Latency       Duration `json:"latency,omitempty"`
	LatencyJitter Duration `json:"latencyJitter,omitempty"`
	// ReadAfterWriteLag is how long a new user or group reads as 404.
	ReadAfterWriteLag Duration `json:"readAfterWriteLag,omitempty"`
	// DropRate is the probability that a top-level request's connection is
	// closed without an answer.
	DropRate float64 `json:"dropRate,omitempty"`
	// AfterWriteRate is the share of the errors and drops on writes that
	// happen after the write was applied.
	AfterWriteRate float64 `json:"afterWriteRate,omitempty"`
}

func (c FaultConfig) validate() error {
	for name, v := range map[string]float64{"errorRate": c.ErrorRate, "dropRate": c.DropRate, "afterWriteRate": c.AfterWriteRate} {
		if v < 0 || v > 1 || math.IsNaN(v) {
			return fmt.Errorf("%s %v: must be between 0 and 1", name, v)
		}
	}
	for _, st := range c.ErrorStatuses {
		if st < 500 || st > 599 {
			return fmt.Errorf("errorStatuses: %d is not a 5xx status", st)
		}
	}
	if c.Latency < 0 || c.LatencyJitter < 0 || c.ReadAfterWriteLag < 0 {
		return fmt.Errorf("durations must not be negative")
	}
	return nil
}

func (c FaultConfig) active() bool {
	return c.ErrorRate > 0 || c.DropRate > 0 || c.Latency > 0 || c.LatencyJitter > 0 || c.ReadAfterWriteLag > 0
}

// WithFaults sets the fault injection configuration (default: none).
func WithFaults(c FaultConfig) Option {
	return func(s *Server) error {
		if err := c.validate(); err != nil {
			return fmt.Errorf("faults: %w", err)
		}
		s.faults.cfg = c
		return nil
	}
}

// Faults returns the current fault configuration.
func (s *Server) Faults() FaultConfig {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.cfg
}

// SetFaults changes the fault configuration at run time; the decision
// sequence starts again from the seed.
func (s *Server) SetFaults(c FaultConfig) error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("m365sim: faults: %w", err)
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.cfg = c
	s.faults.seen = map[uint64]uint32{}
	s.faults.lagging = map[string]time.Time{}
	return nil
}

type faultInjector struct {
	mu      sync.Mutex
	cfg     FaultConfig
	seen    map[uint64]uint32    // request fingerprint -> times seen
	lagging map[string]time.Time // lower-case id or UPN -> readable again at
}

// decider draws the decisions for one request.
type decider struct{ h uint64 }

// draw returns a number in [0,1) for a named decision.
func (d decider) draw(name string) float64 {
	x := d.h
	for i := 0; i < len(name); i++ {
		x = (x ^ uint64(name[i])) * 0x100000001b3
	}
	// splitmix64 finalizer
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}

// decide fingerprints a request and counts it.
func (f *faultInjector) decide(seed int64, kind, method, target string, body []byte) decider {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write([]byte(target))
	h.Write([]byte{0})
	h.Write(body)
	fp := h.Sum64()
	f.mu.Lock()
	if f.seen == nil || len(f.seen) > 4<<20 {
		f.seen = map[uint64]uint32{}
	}
	n := f.seen[fp]
	f.seen[fp] = n + 1
	f.mu.Unlock()
	binary.LittleEndian.PutUint64(b[:], fp^(uint64(n)+1)*0x9e3779b97f4a7c15)
	h2 := fnv.New64a()
	h2.Write(b[:])
	return decider{h: h2.Sum64()}
}

// lagHit reports the lagging object a request touches, if any.
func (f *faultInjector) lagHit(now time.Time, segs []string, body []byte) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.lagging) == 0 {
		return ""
	}
	for k, until := range f.lagging {
		if !now.Before(until) {
			delete(f.lagging, k)
		}
	}
	for i, s := range segs {
		if i == 0 {
			continue
		}
		if _, ok := f.lagging[strings.ToLower(s)]; ok {
			return s
		}
	}
	if len(body) > 0 {
		lb := strings.ToLower(string(body))
		for k := range f.lagging {
			if isGUID(k) && strings.Contains(lb, k) {
				return k
			}
		}
	}
	return ""
}

func (f *faultInjector) addLag(until time.Time, keys ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lagging == nil {
		f.lagging = map[string]time.Time{}
	}
	for _, k := range keys {
		if k != "" {
			f.lagging[strings.ToLower(k)] = until
		}
	}
}

// faultGraph is the fault-injection middleware.
func (s *Server) faultGraph(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.faults.mu.Lock()
		cfg := s.faults.cfg
		s.faults.mu.Unlock()
		if !cfg.active() {
			next.ServeHTTP(w, r)
			return
		}
		item := r.Context().Value(batchMarker{}) != nil
		rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/v1.0"), "/")
		outer := !item && rest == "$batch"
		var segs []string
		if rest != "" {
			segs = strings.Split(rest, "/")
		}
		var body []byte
		if r.Body != nil && r.Body != http.NoBody {
			b, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
			if err == nil {
				body = b
				r.Body = io.NopCloser(bytes.NewReader(b))
			}
		}
		kind := "request"
		if item {
			kind = "item"
		}
		d := s.faults.decide(cfg.Seed, kind, r.Method, r.URL.RequestURI(), body)
		write := isWrite(r.Method)

		// Latency: once per HTTP request.
		if !item && (cfg.Latency > 0 || cfg.LatencyJitter > 0) {
			delay := time.Duration(cfg.Latency) + time.Duration(d.draw("jitter")*float64(cfg.LatencyJitter))
			if delay > 0 {
				s.stats.faultDelayed.Add(1)
				s.stats.delayNanos.Add(int64(delay))
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return
				}
			}
		}
		// Read-after-write lag.
		if cfg.ReadAfterWriteLag > 0 && !outer {
			if id := s.faults.lagHit(s.now(), segs, body); id != "" {
				s.stats.faultLag.Add(1)
				s.writeFault(w, r, errNotFound(id))
				return
			}
		}
		drop := !item && cfg.DropRate > 0 && d.draw("drop") < cfg.DropRate
		fail := !drop && cfg.ErrorRate > 0 && d.draw("error") < cfg.ErrorRate
		after := write && !outer && (drop || fail) && d.draw("after") < cfg.AfterWriteRate
		if (drop || fail) && !after {
			s.injectFault(w, r, cfg, d, drop)
			return
		}
		if after {
			// Apply the write, throw the answer away, then fail.
			rec := &recorder{header: http.Header{}}
			next.ServeHTTP(rec, r)
			s.noteCreated(cfg, r, segs, rec.status, rec.body.Bytes())
			s.injectFault(w, r, cfg, d, drop)
			return
		}
		if cfg.ReadAfterWriteLag > 0 && r.Method == http.MethodPost && len(segs) == 1 && (segs[0] == "users" || segs[0] == "groups") {
			rec := &recorder{header: http.Header{}}
			next.ServeHTTP(rec, r)
			s.noteCreated(cfg, r, segs, rec.status, rec.body.Bytes())
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			w.WriteHeader(rec.status)
			_, _ = w.Write(rec.body.Bytes())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// noteCreated starts the read-after-write lag of a new user or group.
func (s *Server) noteCreated(cfg FaultConfig, r *http.Request, segs []string, status int, body []byte) {
	if cfg.ReadAfterWriteLag <= 0 || status != http.StatusCreated || r.Method != http.MethodPost || len(segs) != 1 || (segs[0] != "users" && segs[0] != "groups") {
		return
	}
	var v struct {
		ID  string `json:"id"`
		UPN string `json:"userPrincipalName"`
	}
	if json.Unmarshal(body, &v) != nil || v.ID == "" {
		return
	}
	s.faults.addLag(s.now().Add(time.Duration(cfg.ReadAfterWriteLag)), v.ID, v.UPN)
}

// injectFault answers with a 5xx or drops the connection.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request, cfg FaultConfig, d decider, drop bool) {
	if drop {
		s.stats.faultDrops.Add(1)
		s.log.Debug("m365sim: fault: dropping the connection", "path", r.URL.Path)
		// The server closes the connection without an answer.
		panic(http.ErrAbortHandler)
	}
	s.stats.faultErrors.Add(1)
	statuses := cfg.ErrorStatuses
	if len(statuses) == 0 {
		statuses = []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}
	}
	st := statuses[int(d.draw("status")*float64(len(statuses)))%len(statuses)]
	var e *graphError
	switch st {
	case http.StatusServiceUnavailable:
		e = gerr(st, "serviceNotAvailable", "The service is temporarily unavailable for maintenance or is overloaded. You may repeat the request after a delay, which can be specified in a Retry-After header.")
	case http.StatusGatewayTimeout:
		e = gerr(st, "timeout", "The operation timed out before it could be completed.")
	case http.StatusBadGateway:
		e = gerr(st, "BadGateway", "The server, while acting as a gateway, received an invalid response from the upstream server.")
	default:
		e = gerr(st, "generalException", "An unspecified error has occurred.")
	}
	s.writeFault(w, r, e)
}

// writeFault writes a Graph error outside the Graph handler.
func (s *Server) writeFault(w http.ResponseWriter, r *http.Request, e *graphError) {
	reqID := s.newID()
	cliID := r.Header.Get("client-request-id")
	if cliID == "" {
		cliID = reqID
	}
	h := w.Header()
	h.Set("request-id", reqID)
	h.Set("client-request-id", cliID)
	h.Set("Content-Type", jsonContentType)
	w.WriteHeader(e.status)
	_, _ = w.Write(errorBody(e, s.now(), reqID, cliID))
}

// serveFaults is GET and PUT /_sim/faults.
func (s *Server) serveFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.Faults())
	case http.MethodPut, http.MethodPost:
		var c FaultConfig
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]string{"message": "fault configuration: " + err.Error()}})
			return
		}
		if err := s.SetFaults(c); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]string{"message": err.Error()}})
			return
		}
		writeJSON(w, http.StatusOK, s.Faults())
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": map[string]string{"message": "GET or PUT"}})
	}
}

// parseRate reads a probability flag value: "0.05" or "5%".
func parseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, err
	}
	if pct {
		v /= 100
	}
	if v < 0 || v > 1 {
		return 0, fmt.Errorf("%v is not between 0 and 1", v)
	}
	return v, nil
}
