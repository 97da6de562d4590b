package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/syncrecord"
)

// TestSyncCommandsThroughTheAPI: against the demo, sync run --wait follows
// a run to its end; with nothing changed since the demo's first export it
// writes nothing; sync runs and sync show read it back as JSON; cancelling
// an ended run says so; an unknown run is named.
func TestSyncCommandsThroughTheAPI(t *testing.T) {
	e := startE2E(t)
	t.Setenv("PORTICO_TOKEN", e.info.APIToken)
	ctx := context.Background()
	base := []string{"--tenant", e.info.Tenant, "--app", e.info.AppID, "--server", e.s.URL}
	cli := func(args ...string) (string, string, error) {
		var out, errb strings.Builder
		err := run(ctx, append(args, base...), &out, &errb)
		return out.String(), errb.String(), err
	}

	out, errs, err := cli("sync", "run", "--wait")
	if err != nil {
		t.Fatalf("sync run --wait: %v\n%s%s", err, out, errs)
	}
	if !strings.Contains(out, ": done\n") || !strings.Contains(out, "writes 0,") {
		t.Fatalf("sync run --wait of an unchanged directory did not end done with 0 writes:\n%s", out)
	}
	// "run ID: done"
	id := strings.TrimSuffix(strings.Fields(out)[1], ":")

	out, errs, err = cli("sync", "runs", "-o", "json")
	if err != nil {
		t.Fatalf("sync runs: %v\n%s", err, errs)
	}
	var runs []syncrecord.Run
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		t.Fatalf("sync runs -o json: %v\n%s", err, out)
	}
	if len(runs) < 2 || runs[0].ID != id || runs[1].ID != e.info.SyncRunID {
		t.Fatalf("sync runs is not newest first with the new run %s then the demo's %s: %+v", id, e.info.SyncRunID, runs)
	}
	if runs[0].State != syncrecord.RunDone || runs[0].Counts.Writes != 0 || runs[1].Counts.Writes == 0 {
		t.Fatalf("runs: the rerun should be done with 0 writes, the demo's export should have written: %+v", runs[:2])
	}

	out, errs, err = cli("sync", "show", e.info.SyncRunID, "-o", "json", "--limit", "1")
	if err != nil {
		t.Fatalf("sync show: %v\n%s", err, errs)
	}
	var show syncShow
	if err := json.Unmarshal([]byte(out), &show); err != nil {
		t.Fatalf("sync show -o json: %v\n%s", err, out)
	}
	if show.Run.ID != e.info.SyncRunID || len(show.Operations) != 1 || show.Operations[0].Kind != syncrecord.OpCreate ||
		show.Operations[0].Result != syncrecord.OpDone || show.Operations[0].UPN == "" {
		t.Fatalf("sync show of the demo's export: %+v", show)
	}
	if show.Run.Counts.Planned < 2 || show.NextCursor == "" {
		t.Fatalf("sync show --limit 1 of %d operations gave no cursor", show.Run.Counts.Planned)
	}
	out, _, err = cli("sync", "show", e.info.SyncRunID, "--limit", "1", "--cursor", show.NextCursor, "-o", "json")
	var page2 syncShow
	if err != nil || json.Unmarshal([]byte(out), &page2) != nil || len(page2.Operations) != 1 || page2.Operations[0].Seq == show.Operations[0].Seq {
		t.Fatalf("sync show --cursor: %v\n%s", err, out)
	}
	out, _, err = cli("sync", "show", e.info.SyncRunID)
	if err != nil || !strings.Contains(out, "KIND") || !strings.Contains(out, "createUser") {
		t.Fatalf("sync show (table): %v\n%s", err, out)
	}

	if _, _, err = cli("sync", "cancel", id); err == nil || !strings.Contains(err.Error(), "already ended") {
		t.Fatalf("sync cancel of an ended run: %v", err)
	}
	if _, _, err = cli("sync", "show", "nosuchrun"); err == nil || !strings.Contains(err.Error(), `run "nosuchrun" not found`) {
		t.Fatalf("sync show of an unknown run: %v", err)
	}

	// On the database (no --server): the run runs in this process, through
	// the emulator as the server's runs do, and ends done with 0 writes.
	direct := []string{"--tenant", e.info.Tenant, "--app", e.info.AppID, "--data-dir", e.info.DataDir,
		"--m365-ca-file", filepath.Join(e.info.DataDir, "m365sim-ca.pem"), "--m365-allow-endpoint", strings.TrimPrefix(e.sim.URL(), "https://")}
	var dout, derr strings.Builder
	if err := run(ctx, append([]string{"sync", "run"}, direct...), &dout, &derr); err != nil ||
		!strings.Contains(dout.String(), ": done\n") || !strings.Contains(dout.String(), "writes 0,") {
		t.Fatalf("sync run on the database: %v\n%s%s", err, dout.String(), derr.String())
	}
	dout.Reset()
	if err := run(ctx, append([]string{"sync", "runs", "-o", "json"}, direct[:6]...), &dout, &derr); err != nil ||
		json.Unmarshal([]byte(dout.String()), &runs) != nil || len(runs) != 3 || runs[0].Trigger != syncrecord.TriggerManual {
		t.Fatalf("sync runs on the database: %v\n%s", err, dout.String())
	}
	// Without --wait: the id, and how to follow the run.
	out, errs, err = cli("sync", "run", "--dry-run")
	if err != nil || strings.TrimSpace(out) == "" || !strings.Contains(errs, "portico sync show "+strings.TrimSpace(out)) {
		t.Fatalf("sync run without --wait: %v\n%s%s", err, out, errs)
	}
	e.s.Sync.Wait() // the run ends before the server shuts down
}

// TestSyncFinalState: sync run --wait fails, naming why, when the run ends
// failed, cancelled or stopped by the threshold, and succeeds when done.
func TestSyncFinalState(t *testing.T) {
	for state, want := range map[syncrecord.RunState]string{
		syncrecord.RunDone:               "",
		syncrecord.RunFailed:             "failed: could not connect",
		syncrecord.RunCancelled:          "was cancelled",
		syncrecord.RunStoppedByThreshold: "stopped by the deletion threshold",
	} {
		var out strings.Builder
		err := finalState(&out, syncrecord.Run{ID: "r1", State: state, Message: "could not connect", Counts: syncrecord.Counts{Planned: 3, Done: 2, Writes: 2}})
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: error %v, want %q", state, err, want)
		}
		if !strings.Contains(out.String(), "run r1: "+string(state)) || !strings.Contains(out.String(), "planned 3, done 2") {
			t.Errorf("%s: printed %q", state, out.String())
		}
	}
	line := progressLine(syncrecord.Run{State: syncrecord.RunRunning, StartedAt: time.Unix(100, 0),
		Counts: syncrecord.Counts{Planned: 40, Done: 10, Writes: 20, Throttled: 3}}, time.Unix(110, 0))
	if line != "running 10/40  2.0 writes/s  3 throttled  ETA 30s" {
		t.Errorf("progress line: %q", line)
	}
}
