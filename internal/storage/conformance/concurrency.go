package conformance

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
)

// testConcurrentUpdateConflict: two writers read the same version of a
// user; both try to write; exactly one wins and the other gets ErrConflict
// (no lost update).
func testConcurrentUpdateConflict(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "race")
	o := mustOrg(t, s, tn.ID, "Contoso", "@contoso.com")
	u := mustUser(t, s, tn.ID, o, "contended")

	var read sync.WaitGroup
	read.Add(2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, title := range []string{"first", "second"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.UpdateUser(ctx, tn.ID, u.ID, func(old directory.User) (directory.User, error) {
				// Both updaters hold the same old version before either writes.
				read.Done()
				read.Wait()
				old.JobTitle = title
				return old, nil
			})
		}()
	}
	wg.Wait()
	var wins, conflicts int
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, storage.ErrConflict):
			conflicts++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if wins != 1 || conflicts != 1 {
		t.Fatalf("wins=%d conflicts=%d; want 1 and 1", wins, conflicts)
	}
	got, err := s.GetUser(ctx, tn.ID, u.ID)
	ok(t, err)
	eq(t, "version", got.Version, int64(2))
	winner := "first"
	if errs[0] != nil {
		winner = "second"
	}
	eq(t, "job title of the winner", got.JobTitle, winner)
}

// testUsernameRace: many creators of one username at once; exactly one
// succeeds, every other gets a duplicate naming "username".
func testUsernameRace(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "username-race")
	o := mustOrg(t, s, tn.ID, "Contoso", "@contoso.com")
	const n = 8
	errs := make([]error, n)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := userFor(tn.ID, o, "same.name")
			start.Wait()
			errs[i] = s.CreateUser(ctx, u)
		}()
	}
	start.Done()
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		var de *storage.DuplicateError
		if !errors.As(err, &de) || de.Field != "username" {
			t.Fatalf("loser error = %v; want duplicate username", err)
		}
	}
	eq(t, "winners", wins, 1)
	list, _, err := s.ListUsers(ctx, tn.ID, storage.UserFilter{}, storage.Page{})
	ok(t, err)
	eq(t, "users", len(list), 1)
}
