package conformance

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
)

// RunBenchmarks runs the storage benchmarks against a backend:
//
//   - CreateUser: one user per call (a transaction each), b.N users;
//     run with -benchtime=100000x for the 100k-user figure.
//   - CreateUsersBatch: the same through CreateUsers in chunks of 500
//     (what a bulk import does).
//   - ListUsersFiltered: one page of 100 among 100k users, filtered by
//     status and username prefix, reporting p50 and p99 latency.
func RunBenchmarks(b *testing.B, newStore func(tb testing.TB) storage.Storage) {
	b.Run("CreateUser", func(b *testing.B) {
		s := newStore(b)
		tn, org := benchTenant(b, s)
		users := make([]directory.User, b.N)
		for i := range users {
			users[i] = userFor(tn.ID, org, fmt.Sprintf("user%07d", i))
		}
		ctx := context.Background()
		b.ResetTimer()
		for i := range b.N {
			if err := s.CreateUser(ctx, users[i]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "users/s")
	})
	b.Run("CreateUsersBatch", func(b *testing.B) {
		s := newStore(b)
		tn, org := benchTenant(b, s)
		users := make([]storage.NewUser, b.N)
		for i := range users {
			users[i] = storage.NewUser{User: userFor(tn.ID, org, fmt.Sprintf("user%07d", i))}
		}
		b.ResetTimer()
		insertAll(b, s, users)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "users/s")
	})
	b.Run("ListUsersFiltered100kUsers", func(b *testing.B) {
		s := newStore(b)
		tn, org := benchTenant(b, s)
		const n = 100_000
		users := make([]storage.NewUser, n)
		for i := range users {
			u := userFor(tn.ID, org, fmt.Sprintf("user%07d", i))
			if i%4 == 0 {
				u.Status = directory.StatusPending
			}
			users[i] = storage.NewUser{User: u}
		}
		insertAll(b, s, users)
		ctx := context.Background()
		durations := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			// Vary the starting point so the same page is not always read.
			prefix := fmt.Sprintf("user00%02d", i%100) // 1,000 users each
			start := time.Now()
			page, _, err := s.ListUsers(ctx, tn.ID, storage.UserFilter{Status: directory.StatusActive, UsernamePrefix: prefix}, storage.Page{Limit: 100})
			durations = append(durations, time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
			if len(page) != 100 {
				b.Fatalf("page of %d", len(page))
			}
		}
		b.StopTimer()
		slices.Sort(durations)
		b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds())/1000, "p99-ms")
	})
}

func benchTenant(tb testing.TB, s storage.Storage) (directory.Tenant, directory.Organization) {
	ctx := context.Background()
	tn := directory.Tenant{ID: newID(), Slug: "bench", Name: "Bench", CreatedAt: now(), UpdatedAt: now()}
	if err := s.CreateTenant(ctx, tn); err != nil {
		tb.Fatal(err)
	}
	o := directory.Organization{ID: newID(), TenantID: tn.ID, Name: "Bench", PrincipalNameSuffix: "@bench.example.com", CreatedAt: now(), UpdatedAt: now()}
	if err := s.CreateOrganization(ctx, o); err != nil {
		tb.Fatal(err)
	}
	return tn, o
}

func insertAll(tb testing.TB, s storage.Storage, users []storage.NewUser) {
	ctx := context.Background()
	for start := 0; start < len(users); start += 500 {
		for _, err := range s.CreateUsers(ctx, users[start:min(start+500, len(users))]) {
			if err != nil {
				tb.Fatal(err)
			}
		}
	}
}
