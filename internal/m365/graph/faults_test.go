package graph

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/m365sim"
)

// TestSimFaults runs a small sync-like workload against the sim's own fault
// injection (m365sim.WithFaults: 5xx answers, dropped connections, some of
// them after the write was applied, and read-after-write lag), with real
// waits: every step must end in the intended state.
func TestSimFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("real waits")
	}
	k := keys()
	sim, err := m365sim.New(m365sim.WithAddr("127.0.0.1:0"), m365sim.WithSeed(seed()), m365sim.WithSigningKey(k.simSign),
		m365sim.WithTLSMaterial(k.tls), m365sim.WithFaults(m365sim.FaultConfig{
			Seed: 7, ErrorRate: 0.2, DropRate: 0.1, AfterWriteRate: 0.5,
			ReadAfterWriteLag: m365sim.Duration(150 * time.Millisecond),
		}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := sim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if err := sim.RegisterAppCertificate(tenantID, appAll, k.app.Cert); err != nil {
		t.Fatal(err)
	}
	retries := 0
	c, err := New(WithCertificate(tenantID, appAll, k.app), WithLoginURL(sim.URL()), WithGraphURL(sim.URL()+"/v1.0"),
		WithHTTPClient(sim.Client()), WithBackoff(20*time.Millisecond, 200*time.Millisecond), WithMaxAttempts(20),
		WithRetryObserver(func(Retry) { retries++ }), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	conflicts := 0
	for i := range 10 {
		upn := fmt.Sprintf("faulty%d@contoso.com", i)
		u, err := c.CreateUser(ctx, newUser(upn))
		if IsObjectConflict(err) {
			// An earlier attempt created it and its answer was lost: read
			// and link, as the sync does.
			conflicts++
			u, err = c.GetUser(ctx, upn)
		}
		if err != nil {
			t.Fatalf("create %s: %v", upn, err)
		}
		// Read right after the write: the sim answers 404 for a while.
		if _, err := c.GetUser(ctx, u.ID, "id", "userPrincipalName"); err != nil {
			t.Fatalf("read %s after write: %v", upn, err)
		}
		if err := c.UpdateUser(ctx, u.ID, User{JobTitle: "Tester"}); err != nil {
			t.Fatalf("update %s: %v", upn, err)
		}
	}
	n := 0
	if err := c.ListUsers(ctx, Query{Top: 4, Select: []string{"id"}}, func(p []User) error { n += len(p); return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 13 {
		t.Errorf("%d users listed, want 13", n)
	}
	if retries == 0 {
		t.Error("no fault was met: the test proves nothing")
	}
	t.Logf("%d retries, %d lost answers resolved by reading", retries, conflicts)
}
