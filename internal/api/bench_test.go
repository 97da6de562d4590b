package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkImport10k posts 10,000 users in one import request per
// iteration and reports users/s and the peak Go heap seen during the run.
func BenchmarkImport10k(b *testing.B) {
	e := newEnv(b)
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
			}
		}
	}()
	bodies := make([][]byte, b.N)
	for n := range b.N {
		items := make([]map[string]string, MaxImport)
		for i := range items {
			items[i] = map[string]string{"username": fmt.Sprintf("b%d.user%05d", n, i), "givenName": "Bulk", "familyName": fmt.Sprint(i),
				"email": fmt.Sprintf("b%d.user%05d@alpha.example.com", n, i), "usageLocation": "US", "jobTitle": "Imported"}
		}
		bodies[n], _ = json.Marshal(items)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	peak.Store(base.HeapAlloc)
	b.ResetTimer()
	for n := range b.N {
		r := e.do("POST", "/api/v1/tenants/alpha/users/import", e.tokA, bodies[n])
		if r.status != 200 || !bytes.Contains(r.body, []byte(`"created":10000`)) {
			b.Fatalf("import: %d %.300s", r.status, r.body)
		}
	}
	b.StopTimer()
	close(stop)
	b.ReportMetric(float64(b.N*MaxImport)/b.Elapsed().Seconds(), "users/s")
	b.ReportMetric(float64(peak.Load()-base.HeapAlloc)/(1<<20), "peak-heap-MB")
}
