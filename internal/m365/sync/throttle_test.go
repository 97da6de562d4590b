package sync

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/m365/graph"
	"github.com/portico-idp/portico/internal/syncrecord"
)

// throttledOnce answers the first $batch with 429 for every item, as Graph
// does when the client's own retries did not outlast the throttling.
type throttledOnce struct {
	Graph
	calls atomic.Int32
}

func (g *throttledOnce) Batch(ctx context.Context, reqs []graph.BatchRequest) ([]graph.BatchResponse, error) {
	if g.calls.Add(1) == 1 {
		out := make([]graph.BatchResponse, len(reqs))
		for i, r := range reqs {
			out[i] = graph.BatchResponse{ID: r.ID, Status: 429, Attempts: 8, Err: &graph.Error{Status: 429, Code: "TooManyRequests", Attempts: 8}}
		}
		return out, nil
	}
	return g.Graph.Batch(ctx, reqs)
}

// TestThrottledItemsGoRoundAgain: items still throttled after the client's
// retries are sent again through the pacer instead of failing.
func TestThrottledItemsGoRoundAgain(t *testing.T) {
	var g *throttledOnce
	e := newEnv(t, envOpts{sync: apps.Sync{ExportEnabled: true}, wrap: func(c Graph) Graph {
		if g == nil {
			g = &throttledOnce{Graph: c}
		}
		return g
	}})
	e.user("ann")
	e.user("ben")
	r := e.run(RunOptions{})
	if r.State != syncrecord.RunDone || r.Counts.Failed != 0 || r.Counts.Done != 2 || g.calls.Load() != 2 || len(e.simUsers()) != 2 {
		t.Fatalf("run %s %+v, %d batches, %d users", r.State, r.Counts, g.calls.Load(), len(e.simUsers()))
	}
}

// lostBatch sends the first $batch and then reports it failed, as when the
// answer to a batch that took effect is a 502 or a dropped connection.
type lostBatch struct {
	Graph
	calls atomic.Int32
}

func (g *lostBatch) Batch(ctx context.Context, reqs []graph.BatchRequest) ([]graph.BatchResponse, error) {
	res, err := g.Graph.Batch(ctx, reqs)
	if g.calls.Add(1) == 1 {
		return nil, &graph.Error{Method: "POST", Path: "/$batch", Status: 502, Code: "BadGateway"}
	}
	return res, err
}

// TestLostBatchAnswerIsSentAgain: a $batch whose own answer failed is sent
// again in the same run; its creates, which took effect, answer "already
// exists" and are adopted: every user once, every operation done.
func TestLostBatchAnswerIsSentAgain(t *testing.T) {
	var g *lostBatch
	e := newEnv(t, envOpts{sync: apps.Sync{ExportEnabled: true}, wrap: func(c Graph) Graph {
		if g == nil {
			g = &lostBatch{Graph: c}
		}
		return g
	}})
	ann, ben := e.user("ann"), e.user("ben")
	r := e.run(RunOptions{})
	if r.State != syncrecord.RunDone || r.Counts.Done != 2 || r.Counts.Failed+r.Counts.Skipped != 0 || g.calls.Load() != 2 {
		t.Fatalf("run %s %+v, %d batches", r.State, r.Counts, g.calls.Load())
	}
	users := e.simUsers()
	for _, u := range []string{ann.UPN, ben.UPN} {
		l, err := e.store.GetSyncLink(e.ctx, e.tenant.ID, e.app.ID, syncrecord.KindUser, map[string]string{ann.UPN: ann.ID, ben.UPN: ben.ID}[u])
		if users[u] == nil || err != nil || l.RemoteID != users[u]["id"] || !l.CreatedByPortico {
			t.Fatalf("%s: %v, link %+v %v", u, users[u], l, err)
		}
	}
	if len(users) != 2 {
		t.Fatalf("users: %d", len(users))
	}
}
