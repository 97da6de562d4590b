package m365sim

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Request statistics for a run: what benchmarks need to compute writes per
// synced user and the achieved write rate, and what the tenant view shows.
// GET /_sim/stats reads them; POST /_sim/stats/reset (or DELETE /_sim/stats)
// starts a new run.

type simStats struct {
	mu       sync.Mutex
	since    time.Time
	byStatus map[int]int64

	httpRequests  atomic.Int64 // top-level Graph HTTP requests ($batch included)
	batches       atomic.Int64
	batchItems    atomic.Int64
	reads         atomic.Int64 // Graph operations: top-level requests and batch items, $batch itself excluded
	writes        atomic.Int64
	writesOK      atomic.Int64
	resourceUnits atomic.Int64
	throttledR    atomic.Int64
	throttledW    atomic.Int64
	faultErrors   atomic.Int64
	faultDrops    atomic.Int64
	faultLag      atomic.Int64
	faultDelayed  atomic.Int64
	delayNanos    atomic.Int64
	signInOK      atomic.Int64
	signInFailed  atomic.Int64
}

func (st *simStats) reset(now time.Time) {
	st.mu.Lock()
	st.since = now
	st.byStatus = map[int]int64{}
	st.mu.Unlock()
	for _, c := range []*atomic.Int64{&st.httpRequests, &st.batches, &st.batchItems, &st.reads, &st.writes, &st.writesOK,
		&st.resourceUnits, &st.throttledR, &st.throttledW, &st.faultErrors, &st.faultDrops, &st.faultLag, &st.faultDelayed,
		&st.delayNanos, &st.signInOK, &st.signInFailed} {
		c.Store(0)
	}
}

func (st *simStats) status(code int) {
	st.mu.Lock()
	if st.byStatus == nil {
		st.byStatus = map[int]int64{}
	}
	st.byStatus[code]++
	st.mu.Unlock()
}

// Stats is a snapshot of the request statistics since the last reset.
type Stats struct {
	Since          time.Time `json:"since"`
	ElapsedSeconds float64   `json:"elapsedSeconds"`
	Requests       struct {
		// HTTP counts the top-level HTTP requests to /v1.0 ($batch included).
		HTTP int64 `json:"http"`
		// Batches and BatchItems count $batch requests and the requests in them.
		Batches    int64 `json:"batches"`
		BatchItems int64 `json:"batchItems"`
		// Reads and Writes count Graph operations: top-level requests other
		// than $batch, and batch items. WritesSucceeded are those answered 2xx.
		Reads           int64 `json:"reads"`
		Writes          int64 `json:"writes"`
		WritesSucceeded int64 `json:"writesSucceeded"`
		// ResourceUnits is the identity service cost of the operations that
		// were not throttled (graph/throttling-limits).
		ResourceUnits int64 `json:"resourceUnits"`
	} `json:"requests"`
	Throttled struct {
		Total  int64 `json:"total"`
		Reads  int64 `json:"reads"`
		Writes int64 `json:"writes"`
	} `json:"throttled"`
	Faults struct {
		Errors            int64   `json:"errors"`
		Drops             int64   `json:"drops"`
		ReadAfterWriteLag int64   `json:"readAfterWriteLag"`
		Delayed           int64   `json:"delayed"`
		AddedLatencyMs    float64 `json:"addedLatencyMs"`
	} `json:"faults"`
	SignIns struct {
		Succeeded int64 `json:"succeeded"`
		Failed    int64 `json:"failed"`
	} `json:"signIns"`
	Rates struct {
		// WritesPerSecond is WritesSucceeded over the elapsed time.
		WritesPerSecond float64 `json:"writesPerSecond"`
		// OperationsPerSecond is Reads+Writes over the elapsed time.
		OperationsPerSecond float64 `json:"operationsPerSecond"`
	} `json:"rates"`
	// ByStatus counts Graph operations by HTTP status.
	ByStatus map[string]int64 `json:"byStatus"`
}

// Stats returns the request statistics since the start or the last reset.
func (s *Server) Stats() Stats {
	st := &s.stats
	var out Stats
	st.mu.Lock()
	out.Since = st.since
	out.ByStatus = make(map[string]int64, len(st.byStatus))
	for k, v := range st.byStatus {
		out.ByStatus[strconv.Itoa(k)] = v
	}
	st.mu.Unlock()
	el := s.now().Sub(out.Since).Seconds()
	if el < 0 {
		el = 0
	}
	out.ElapsedSeconds = el
	out.Requests.HTTP = st.httpRequests.Load()
	out.Requests.Batches = st.batches.Load()
	out.Requests.BatchItems = st.batchItems.Load()
	out.Requests.Reads = st.reads.Load()
	out.Requests.Writes = st.writes.Load()
	out.Requests.WritesSucceeded = st.writesOK.Load()
	out.Requests.ResourceUnits = st.resourceUnits.Load()
	out.Throttled.Reads = st.throttledR.Load()
	out.Throttled.Writes = st.throttledW.Load()
	out.Throttled.Total = out.Throttled.Reads + out.Throttled.Writes
	out.Faults.Errors = st.faultErrors.Load()
	out.Faults.Drops = st.faultDrops.Load()
	out.Faults.ReadAfterWriteLag = st.faultLag.Load()
	out.Faults.Delayed = st.faultDelayed.Load()
	out.Faults.AddedLatencyMs = float64(st.delayNanos.Load()) / 1e6
	out.SignIns.Succeeded = st.signInOK.Load()
	out.SignIns.Failed = st.signInFailed.Load()
	if el > 0 {
		out.Rates.WritesPerSecond = float64(out.Requests.WritesSucceeded) / el
		out.Rates.OperationsPerSecond = float64(out.Requests.Reads+out.Requests.Writes) / el
	}
	return out
}

// ResetStats starts a new run of statistics.
func (s *Server) ResetStats() { s.stats.reset(s.now()) }

// isWrite reports whether a Graph method changes data.
func isWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes flushes through.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// countGraph is the outermost Graph middleware: it counts every request
// and batch item and its outcome.
func (s *Server) countGraph(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &s.stats
		item := r.Context().Value(batchMarker{}) != nil
		outer := !item && strings.Trim(strings.TrimPrefix(r.URL.Path, "/v1.0"), "/") == "$batch"
		if item {
			st.batchItems.Add(1)
		} else {
			st.httpRequests.Add(1)
		}
		if outer {
			st.batches.Add(1)
			next.ServeHTTP(w, r)
			return
		}
		write := isWrite(r.Method)
		if write {
			st.writes.Add(1)
		} else {
			st.reads.Add(1)
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		st.status(sw.status)
		if write && sw.status < 300 {
			st.writesOK.Add(1)
		}
	})
}

// serveStats is GET /_sim/stats, POST /_sim/stats/reset and DELETE /_sim/stats.
func (s *Server) serveStats(w http.ResponseWriter, r *http.Request, reset bool) {
	switch {
	case reset && r.Method == http.MethodPost, !reset && r.Method == http.MethodDelete:
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	case !reset && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Stats())
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": map[string]string{"message": "GET /_sim/stats, POST /_sim/stats/reset or DELETE /_sim/stats"}})
	}
}
