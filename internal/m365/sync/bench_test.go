package sync

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/syncrecord"
)

// BenchmarkInitialExport exports N users (PORTICO_SYNC_BENCH_USERS,
// default 2,000), each with the default licence, to m365sim enforcing
// Microsoft's limits at scale 50, then reruns with nothing changed. It
// reports Graph writes per user, the achieved write rate, that rate over
// the app+tenant write limit at scale 50 (3,000 per 2.5 min × 50 = 1,000/s),
// the time the export implies at scale 1 (20 writes/s), plan time, and the
// rerun's writes.
//
//	go test ./internal/m365/sync/ -run '^$' -bench InitialExport -benchtime 1x
func BenchmarkInitialExport(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("PORTICO_SYNC_BENCH_USERS")); err == nil && v > 0 {
		n = v
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b, envOpts{seats: n, sync: apps.Sync{ExportEnabled: true, DefaultLicense: "ENTERPRISEPACK", UsageLocation: "US"}})
		items := make([]admin.ImportItem, n)
		for j := range items {
			items[j] = admin.ImportItem{User: directory.User{OrganizationID: e.org.ID, Username: fmt.Sprintf("user%06d", j),
				DisplayName: fmt.Sprintf("User %d", j), Status: directory.StatusActive}, GroupIDs: []string{e.group.ID}}
		}
		res, err := e.adm.ImportUsers(e.ctx, e.tenant.ID, items)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
		e.sim.ResetStats()
		runtime.GC()
		b.StartTimer()
		start := time.Now()
		r := e.run(RunOptions{})
		el := time.Since(start)
		b.StopTimer()
		st := e.sim.Stats()
		if r.State != syncrecord.RunDone {
			b.Fatalf("export: %s %+v %q", r.State, r.Counts, r.Message)
		}
		failed := e.ops(r.ID, storage.OperationFilter{Result: syncrecord.OpFailed})
		kinds := map[string]int{}
		for _, op := range failed {
			kinds[string(op.Kind)+": "+op.Error[:min(len(op.Error), 60)]]++
		}
		if len(failed) > 0 {
			b.Logf("failed operations of the first run: %v", kinds)
		}
		b.ReportMetric(float64(len(failed)), "failed-ops")
		writes := float64(st.Requests.Writes)
		b.ReportMetric(writes/float64(n), "writes/user")
		b.ReportMetric(writes/el.Seconds(), "writes/s")
		b.ReportMetric(writes/el.Seconds()/1000, "of-limit")
		b.ReportMetric(float64(r.PlanMillis), "plan-ms")
		b.ReportMetric(float64(st.Throttled.Total), "throttled")
		b.ReportMetric(writes/20/60, "min-at-scale-1")
		// A second run finishes what the first could not (operations that
		// stayed throttled); the third has nothing to do.
		e.sim.ResetStats()
		r = e.run(RunOptions{})
		st2 := e.sim.Stats()
		b.ReportMetric((writes+float64(st2.Requests.Writes))/float64(n), "writes/user-2-runs")
		if r.Counts.Failed != 0 || len(e.simUsers()) != n {
			b.Fatalf("second run: %+v, %d users", r.Counts, len(e.simUsers()))
		}
		e.sim.ResetStats()
		r = e.run(RunOptions{})
		st = e.sim.Stats()
		b.ReportMetric(float64(st.Requests.Writes), "rerun-writes")
		b.ReportMetric(float64(st.Requests.Reads), "rerun-reads")
		if r.Counts.Planned != 0 {
			b.Fatalf("rerun planned %d", r.Counts.Planned)
		}
	}
}
