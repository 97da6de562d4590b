// Package conformance is the test suite every storage backend must pass.
// A backend's test file calls RunTests with a constructor that returns a
// fresh, empty, migrated store for each test.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
)

// RunTests runs the whole suite. newStore must return an empty store and
// arrange its cleanup with t.Cleanup.
func RunTests(t *testing.T, newStore func(t *testing.T) storage.Storage) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Storage)
	}{
		{"Tenants", testTenants},
		{"Organizations", testOrganizations},
		{"OrganizationSuffixChange", testOrganizationSuffixChange},
		{"Users", testUsers},
		{"UserFiltersAndPaging", testUserFiltersAndPaging},
		{"ImmutableIDNeverReused", testImmutableIDNeverReused},
		{"CreateUsersBulk", testCreateUsersBulk},
		{"GroupsAndMembers", testGroupsAndMembers},
		{"TenantIsolation", testTenantIsolation},
		{"APITokens", testAPITokens},
		{"ConcurrentUpdateConflict", testConcurrentUpdateConflict},
		{"UsernameRace", testUsernameRace},
		{"DeleteTenantCascades", testDeleteTenantCascades},
		{"Policies", testPolicies},
		{"Credentials", testCredentials},
		{"TOTPReplayRace", testTOTPReplayRace},
		{"Sessions", testSessions},
		{"LoginFlows", testLoginFlows},
		{"ThrottleAndNonces", testThrottleAndNonces},
		{"ReleaseHit", testReleaseHit},
		{"FamiliarAddresses", testFamiliarAddresses},
		{"Applications", testApplications},
		{"Atomically", testAtomically},
		{"AuditEvents", testAuditEvents},
		{"AuditAppendOnly", testAuditAppendOnly},
		{"Sync", testSync},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

// now is truncated to microseconds: every backend keeps that precision.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func newImmutableID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func mustTenant(t *testing.T, s storage.Storage, slug string) directory.Tenant {
	t.Helper()
	tn := directory.Tenant{ID: newID(), Slug: slug, Name: "Tenant " + slug, CreatedAt: now(), UpdatedAt: now()}
	if err := s.CreateTenant(context.Background(), tn); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	tn.Version = 1
	return tn
}

func mustOrg(t *testing.T, s storage.Storage, tenantID, name, suffix string) directory.Organization {
	t.Helper()
	o := directory.Organization{ID: newID(), TenantID: tenantID, Name: name, PrincipalNameSuffix: suffix, CreatedAt: now(), UpdatedAt: now()}
	if err := s.CreateOrganization(context.Background(), o); err != nil {
		t.Fatalf("create organization: %v", err)
	}
	o.Version = 1
	return o
}

func userFor(tenantID string, org directory.Organization, username string) directory.User {
	u := directory.User{
		ID: newID(), TenantID: tenantID, OrganizationID: org.ID, Username: username,
		Email: username + "@mail.example.com", GivenName: "Given", FamilyName: "Family", DisplayName: "Given Family",
		Status: directory.StatusActive, ImmutableID: newImmutableID(), JobTitle: "Engineer", Department: "R&D",
		MobilePhone: "+1 555 0100", OfficePhone: "+1 555 0101", UsageLocation: "US", CreatedAt: now(), UpdatedAt: now(),
	}
	if upn, err := directory.FormUPN(username, org.PrincipalNameSuffix); err == nil {
		u.UPN = upn
	} else {
		u.UPN = username + "@invalid.example"
	}
	return u
}

func mustUser(t *testing.T, s storage.Storage, tenantID string, org directory.Organization, username string) directory.User {
	t.Helper()
	u := userFor(tenantID, org, username)
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("create user %s: %v", username, err)
	}
	u.Version = 1
	return u
}

func mustGroup(t *testing.T, s storage.Storage, tenantID, name string) directory.Group {
	t.Helper()
	g := directory.Group{ID: newID(), TenantID: tenantID, Name: name, Type: directory.GroupSecurity, Description: "d", CreatedAt: now(), UpdatedAt: now()}
	if err := s.CreateGroup(context.Background(), g); err != nil {
		t.Fatalf("create group: %v", err)
	}
	g.Version = 1
	return g
}

// wantDuplicate fails unless err is a DuplicateError naming field.
func wantDuplicate(t *testing.T, err error, field string) {
	t.Helper()
	var de *storage.DuplicateError
	if !errors.As(err, &de) || !errors.Is(err, storage.ErrAlreadyExists) || de.Field != field {
		t.Fatalf("error = %v; want a duplicate of %s", err, field)
	}
}

// wantReference fails unless err is a ReferenceError naming field.
func wantReference(t *testing.T, err error, field string) {
	t.Helper()
	var re *storage.ReferenceError
	if !errors.As(err, &re) || !errors.Is(err, storage.ErrInvalidReference) || re.Field != field {
		t.Fatalf("error = %v; want a bad reference in %s", err, field)
	}
}

func wantIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v; want %v", err, target)
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func usernames(us []directory.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Username
	}
	return out
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v; want %v", what, got, want)
	}
}

func eqSlice(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s = %v; want %v", what, got, want)
	}
}
