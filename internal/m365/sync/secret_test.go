package sync

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/m365sim"
	"github.com/portico-idp/portico/internal/storage"
)

// TestManagedPasswordNeverStoredOrLogged: a user created in a managed
// domain gets a random password that appears nowhere in Portico — not in
// the logs (debug level, with faults so that failures are logged), not in
// the database files, not in the recorded plan.
func TestManagedPasswordNeverStoredOrLogged(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, envOpts{log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		faults: m365sim.FaultConfig{Seed: 3, ErrorRate: 0.3, AfterWriteRate: 0.5}, sync: apps.Sync{ExportEnabled: true}})
	// Fault decisions hash the request bodies, which hold random
	// passwords: with 20 creates at an error rate of 0.3, a run without any
	// logged failure has a chance under 1 in 1,000.
	for i := 0; i < 20; i++ {
		e.user(fmt.Sprintf("user%02d", i))
	}
	r := e.converge(6)
	if logs.Len() == 0 {
		t.Fatal("nothing was logged: the check would prove nothing")
	}
	var passwords []string
	for upn, u := range e.simUsers() {
		p, _ := u["password"].(string)
		if len(p) != 24 {
			t.Fatalf("%s has no generated password in Microsoft 365: %q", upn, p)
		}
		passwords = append(passwords, p)
	}
	var db []byte
	files, _ := filepath.Glob(e.dbPath() + "*") // the database, its WAL and shared memory
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		db = append(db, b...)
	}
	var plan strings.Builder
	runs, _, err := e.svc.ListRuns(e.ctx, e.tenant.ID, e.app.ID, storage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range append(runs, r) {
		for _, op := range e.ops(run.ID, storage.OperationFilter{}) {
			plan.WriteString(strings.Join(op.Changes, ",") + op.Error + op.Reason)
		}
	}
	for _, p := range passwords {
		if strings.Contains(logs.String(), p) || bytes.Contains(db, []byte(p)) || strings.Contains(plan.String(), p) {
			t.Fatal("a generated password was logged or stored")
		}
	}
	if !strings.Contains(plan.String(), "passwordProfile") {
		t.Fatal("the plan does not say that a password is set")
	}
}
