package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/storage"
)

// testReleaseHit: a counted attempt can be taken back, never below zero.
func testReleaseHit(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	t0 := now()
	for range 3 {
		_, err := s.Hit(ctx, "lock:a", time.Minute, t0)
		ok(t, err)
	}
	ok(t, s.ReleaseHit(ctx, "lock:a"))
	n, err := s.Hits(ctx, "lock:a", time.Minute, t0)
	ok(t, err)
	eq(t, "hits after one release", n, int64(2))
	for range 4 {
		ok(t, s.ReleaseHit(ctx, "lock:a"))
	}
	n, _ = s.Hits(ctx, "lock:a", time.Minute, t0)
	eq(t, "hits after more releases than hits", n, int64(0))
	n, _ = s.Hit(ctx, "lock:a", time.Minute, t0)
	eq(t, "hit after releases", n, int64(1))
	ok(t, s.ReleaseHit(ctx, "never counted"))
	n, _ = s.Hits(ctx, "never counted", time.Minute, t0)
	eq(t, "release of an unknown key", n, int64(0))
}

// testFamiliarAddresses: remembered per user and tenant, expiring, bounded
// per user, deleted with the user and by housekeeping.
func testFamiliarAddresses(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "familiar")
	o := mustOrg(t, s, tn.ID, "Contoso", "@contoso.com")
	ann := mustUser(t, s, tn.ID, o, "ann")
	bob := mustUser(t, s, tn.ID, o, "bob")
	other := mustTenant(t, s, "familiar-other")
	t0 := now()
	month := 30 * 24 * time.Hour

	_, err := s.FamiliarAddress(ctx, tn.ID, ann.ID, "192.0.2.1/32", t0)
	wantIs(t, err, storage.ErrNotFound)
	ok(t, s.RememberAddress(ctx, tn.ID, ann.ID, "192.0.2.1/32", t0, t0.Add(month), 3))
	seen, err := s.FamiliarAddress(ctx, tn.ID, ann.ID, "192.0.2.1/32", t0.Add(time.Hour))
	ok(t, err)
	eq(t, "last seen", seen.Equal(t0), true)
	// Per user and per tenant.
	_, err = s.FamiliarAddress(ctx, tn.ID, bob.ID, "192.0.2.1/32", t0)
	wantIs(t, err, storage.ErrNotFound)
	_, err = s.FamiliarAddress(ctx, other.ID, ann.ID, "192.0.2.1/32", t0)
	wantIs(t, err, storage.ErrNotFound)
	// Expired records are not familiar.
	_, err = s.FamiliarAddress(ctx, tn.ID, ann.ID, "192.0.2.1/32", t0.Add(month+time.Second))
	wantIs(t, err, storage.ErrNotFound)
	// A later sign-in refreshes; an older one (a slow node) never moves
	// the record back.
	t1 := t0.Add(48 * time.Hour)
	ok(t, s.RememberAddress(ctx, tn.ID, ann.ID, "192.0.2.1/32", t1, t1.Add(month), 3))
	ok(t, s.RememberAddress(ctx, tn.ID, ann.ID, "192.0.2.1/32", t0, t0.Add(month), 3))
	seen, err = s.FamiliarAddress(ctx, tn.ID, ann.ID, "192.0.2.1/32", t0.Add(month+time.Second))
	ok(t, err)
	eq(t, "refreshed last seen", seen.Equal(t1), true)

	// Only the keep most recent prefixes of a user stay.
	for i, p := range []string{"2001:db8:1::/64", "2001:db8:2::/64", "2001:db8:3::/64"} {
		at := t1.Add(time.Duration(i+1) * time.Minute)
		ok(t, s.RememberAddress(ctx, tn.ID, ann.ID, p, at, at.Add(month), 3))
	}
	_, err = s.FamiliarAddress(ctx, tn.ID, ann.ID, "192.0.2.1/32", t1)
	wantIs(t, err, storage.ErrNotFound)
	for _, p := range []string{"2001:db8:1::/64", "2001:db8:2::/64", "2001:db8:3::/64"} {
		_, err = s.FamiliarAddress(ctx, tn.ID, ann.ID, p, t1)
		ok(t, err)
	}
	ok(t, s.RememberAddress(ctx, tn.ID, bob.ID, "198.51.100.1/32", t0, t0.Add(time.Hour), 3))

	// Housekeeping deletes expired records: asked about an earlier moment,
	// the store no longer has bob's.
	ok(t, s.DeleteExpired(ctx, t0.Add(2*time.Hour)))
	_, err = s.FamiliarAddress(ctx, tn.ID, bob.ID, "198.51.100.1/32", t0)
	wantIs(t, err, storage.ErrNotFound)
	_, err = s.FamiliarAddress(ctx, tn.ID, ann.ID, "2001:db8:3::/64", t1)
	ok(t, err)

	// Forgetting is per user and tenant.
	ok(t, s.RememberAddress(ctx, tn.ID, bob.ID, "198.51.100.2/32", t1, t1.Add(month), 3))
	ok(t, s.ForgetAddresses(ctx, tn.ID, bob.ID))
	_, err = s.FamiliarAddress(ctx, tn.ID, bob.ID, "198.51.100.2/32", t1)
	wantIs(t, err, storage.ErrNotFound)
	ok(t, s.ForgetAddresses(ctx, other.ID, ann.ID))
	_, err = s.FamiliarAddress(ctx, tn.ID, ann.ID, "2001:db8:3::/64", t1)
	ok(t, err)

	// Deleting the user deletes its addresses, and no address is
	// remembered for a user who does not exist.
	ok(t, s.DeleteUser(ctx, tn.ID, ann.ID))
	_, err = s.FamiliarAddress(ctx, tn.ID, ann.ID, "2001:db8:3::/64", t1)
	wantIs(t, err, storage.ErrNotFound)
	if err := s.RememberAddress(ctx, tn.ID, "no-such-user", "192.0.2.9/32", t0, t0.Add(month), 3); err == nil {
		t.Fatal("remembered an address of a user that does not exist")
	}
}
