package sync

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/m365sim"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/syncrecord"
)

// converge runs until a run is done with no failure (at most n runs) and
// returns the last run.
func (e *env) converge(n int) syncrecord.Run {
	e.t.Helper()
	var r syncrecord.Run
	for i := 0; i < n; i++ {
		r = e.run(RunOptions{})
		if r.State == syncrecord.RunDone && r.Counts.Failed == 0 && r.Counts.Skipped == 0 {
			return r
		}
	}
	e.t.Fatalf("no clean run after %d: %s %+v %q", n, r.State, r.Counts, r.Message)
	return r
}

// checkConverged: every exported user exists once, with its immutable id
// and licence, and every link points at it.
func (e *env) checkConverged(users []directory.User) {
	e.t.Helper()
	sim := e.simUsers()
	if len(sim) != len(users) {
		e.t.Fatalf("%d users in Microsoft 365, want %d", len(sim), len(users))
	}
	for _, u := range users {
		got := sim[u.UPN]
		if got == nil || got["onPremisesImmutableId"] != u.ImmutableID {
			e.t.Fatalf("user %s in Microsoft 365: %v", u.UPN, got)
		}
		l, err := e.store.GetSyncLink(e.ctx, e.tenant.ID, e.app.ID, syncrecord.KindUser, u.ID)
		if err != nil || l.RemoteID != got["id"] || !l.CreatedByPortico {
			e.t.Fatalf("link of %s: %+v %v", u.UPN, l, err)
		}
		if lic := fmt.Sprint(got["assignedLicenses"]); !strings.Contains(lic, skuE3ID) {
			e.t.Fatalf("licence of %s: %s", u.UPN, lic)
		}
	}
}

// TestCancelAtRandomPointsThenResume cancels the export at random points
// (several seeds, both mapping rules that matter: upn links, none never
// does), with creates in flight whose answers are lost, then reruns: the
// tenant converges with every user exactly once and the run after makes
// zero writes.
func TestCancelAtRandomPointsThenResume(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		mapping := apps.MapNone
		if seed%2 == 0 {
			mapping = apps.MapUPN
		}
		t.Run(fmt.Sprintf("seed=%d/%s", seed, mapping), func(t *testing.T) {
			t.Parallel()
			rnd := rand.New(rand.NewPCG(seed, 11))
			e := newEnv(t, envOpts{sync: apps.Sync{ExportEnabled: true, UsernameMapping: mapping, DefaultLicense: "ENTERPRISEPACK", UsageLocation: "US"},
				faults: m365sim.FaultConfig{Seed: int64(seed), Latency: m365sim.Duration(2e6), LatencyJitter: m365sim.Duration(3e6)}})
			var users []directory.User
			for i := 0; i < 90; i++ {
				users = append(users, e.user(fmt.Sprintf("user%03d", i)))
			}
			// Cancel two runs, each at a random number of recorded operations
			// (the plan has 180: 90 creates, 90 licences).
			for round := 0; round < 2; round++ {
				at := 1 + rnd.IntN(150)
				ctx, cancel := context.WithCancel(e.ctx)
				var fired atomic.Bool
				e.progress = func(_ string, done, _ int) {
					if done >= at && fired.CompareAndSwap(false, true) {
						cancel()
					}
				}
				r, err := e.svc.Run(ctx, e.tenant.ID, e.app.ID, RunOptions{})
				cancel()
				e.progress = nil
				if err != nil {
					t.Fatalf("cancelled run: %v", err)
				}
				if r.State != syncrecord.RunCancelled && r.State != syncrecord.RunDone {
					t.Fatalf("cancelled at %d: %s %q", at, r.State, r.Message)
				}
				if r.Counts.Failed != 0 {
					t.Fatalf("cancelled at %d: failures %+v", at, e.ops(r.ID, storage.OperationFilter{Result: syncrecord.OpFailed}))
				}
				t.Logf("cancelled at %d: %s %+v", at, r.State, r.Counts)
				e.simUsers() // no duplicate at any point
			}
			final := e.converge(3)
			t.Logf("converged: %+v", final.Counts)
			e.checkConverged(users)
			e.sim.ResetStats()
			r := e.run(RunOptions{})
			if r.Counts.Planned != 0 || e.sim.Stats().Requests.Writes != 0 {
				t.Fatalf("rerun after convergence: %+v, %d writes", r.Counts, e.sim.Stats().Requests.Writes)
			}
		})
	}
}

// TestWritesThatTookEffectButFailed: with afterWriteRate faults a share of
// writes take effect and still answer 5xx; creates are read back and
// linked, the rest is retried; the tenant converges without duplicates.
func TestWritesThatTookEffectButFailed(t *testing.T) {
	for _, mapping := range []string{apps.MapNone, apps.MapUPN} {
		t.Run(mapping, func(t *testing.T) {
			e := newEnv(t, envOpts{sync: apps.Sync{ExportEnabled: true, UsernameMapping: mapping, DefaultLicense: "ENTERPRISEPACK", UsageLocation: "US"},
				faults: m365sim.FaultConfig{Seed: 7, ErrorRate: 0.25, AfterWriteRate: 1}})
			var users []directory.User
			for i := 0; i < 60; i++ {
				users = append(users, e.user(fmt.Sprintf("user%03d", i)))
			}
			e.converge(4)
			if e.sim.Stats().Faults.Errors == 0 {
				t.Fatal("no fault was injected")
			}
			e.checkConverged(users)
			e.sim.ResetStats()
			if r := e.run(RunOptions{}); r.Counts.Planned != 0 || e.sim.Stats().Requests.Writes != 0 {
				t.Fatalf("rerun: %+v, %d writes", r.Counts, e.sim.Stats().Requests.Writes)
			}
		})
	}
}

// TestCancelRecordedByAnotherNode: a cancel written to storage (by another
// node, or a request this process did not start) stops the run at its next
// progress write; the rerun converges.
func TestCancelRecordedByAnotherNode(t *testing.T) {
	// Progress is written at most once a second: the latency makes the run
	// last longer than that, so that the cancel is seen before it ends.
	e := newEnv(t, envOpts{sync: apps.Sync{ExportEnabled: true, DefaultLicense: "ENTERPRISEPACK", UsageLocation: "US"},
		faults: m365sim.FaultConfig{Latency: m365sim.Duration(400 * time.Millisecond)}})
	var users []directory.User
	for i := 0; i < 100; i++ {
		users = append(users, e.user(fmt.Sprintf("user%03d", i)))
	}
	var once atomic.Bool
	e.progress = func(runID string, _, _ int) {
		if once.CompareAndSwap(false, true) {
			// Progress writes of other batches may race this one: retry.
			for {
				_, err := e.store.UpdateSyncRun(e.ctx, e.tenant.ID, runID, func(r syncrecord.Run) (syncrecord.Run, error) {
					r.CancelRequested = true
					return r, nil
				})
				if !errors.Is(err, storage.ErrConflict) {
					if err != nil {
						t.Error(err)
					}
					break
				}
			}
		}
	}
	r := e.run(RunOptions{})
	e.progress = nil
	if r.State != syncrecord.RunCancelled || r.Counts.Skipped == 0 || !r.CancelRequested {
		t.Fatalf("run: %s %+v", r.State, r.Counts)
	}
	e.converge(2)
	e.checkConverged(users)
}
