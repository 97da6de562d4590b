package graph

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/m365sim"
)

func newUser(upn string) User {
	local, _, _ := strings.Cut(upn, "@")
	return User{UserPrincipalName: upn, DisplayName: "User " + local, MailNickname: local, AccountEnabled: boolp(true),
		PasswordProfile: &PasswordProfile{Password: userPass}}
}

// TestUsers runs every user call against the sim.
func TestUsers(t *testing.T) {
	e := newEnv(t)
	c, _, _ := e.client(t)
	ctx := context.Background()

	u := newUser("john.smith@contoso.com")
	u.GivenName, u.Surname, u.JobTitle, u.Department, u.UsageLocation = "John", "Smith", "Engineer", "R&D", "FR"
	created, err := c.CreateUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.UserPrincipalName != u.UserPrincipalName {
		t.Fatalf("created %+v", created)
	}
	if _, err := c.CreateUser(ctx, User{UserPrincipalName: "x@contoso.com"}); err == nil {
		t.Error("incomplete user accepted")
	}

	// By id and by UPN; usageLocation only with $select.
	for _, key := range []string{created.ID, u.UserPrincipalName} {
		got, err := c.GetUser(ctx, key, "id", "userPrincipalName", "usageLocation", "jobTitle", "department", "accountEnabled")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != created.ID || got.UsageLocation != "FR" || got.JobTitle != "Engineer" || got.AccountEnabled == nil || !*got.AccountEnabled {
			t.Errorf("get %s: %+v", key, got)
		}
	}

	// PATCH: set one property, clear another, disable the account.
	if err := c.UpdateUser(ctx, created.ID, User{JobTitle: "Architect", AccountEnabled: boolp(false)}, "department"); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetUser(ctx, created.ID, "jobTitle", "department", "accountEnabled")
	if err != nil || got.JobTitle != "Architect" || got.Department != "" || got.AccountEnabled == nil || *got.AccountEnabled {
		t.Fatalf("after update: %+v (%v)", got, err)
	}

	// Licences.
	// The answer is the user with the default properties, which do not
	// include assignedLicenses: read them back with $select.
	lic, err := c.AssignLicense(ctx, created.ID, []AssignedLicense{{SkuID: skuE3}}, nil)
	if err != nil || lic.ID != created.ID {
		t.Fatalf("assign: %+v (%v)", lic, err)
	}
	if got, err := c.GetUser(ctx, created.ID, "assignedLicenses"); err != nil || len(got.AssignedLicenses) != 1 || got.AssignedLicenses[0].SkuID != skuE3 {
		t.Fatalf("assigned licences: %+v (%v)", got, err)
	}
	if skus, _ := c.ListSubscribedSkus(ctx); len(skus) != 1 || skus[0].ConsumedUnits != 1 {
		t.Errorf("consumed after assign: %+v", skus)
	}
	if _, err := c.AssignLicense(ctx, "AdeleV@contoso.com", []AssignedLicense{{SkuID: skuE3, DisabledPlans: []string{planExch}}}, nil); err != nil {
		t.Fatal(err)
	}
	// Both seats are taken now.
	other, err := c.CreateUser(ctx, func() User { u := newUser("no.seat@contoso.com"); u.UsageLocation = "US"; return u }())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AssignLicense(ctx, other.ID, []AssignedLicense{{SkuID: skuE3}}, nil); !IsBadRequest(err) || !strings.Contains(err.Error(), "available licenses") {
		t.Errorf("no seats left: %v", err)
	}
	if _, err := c.AssignLicense(ctx, created.ID, nil, []string{skuE3}); err != nil {
		t.Errorf("remove licence: %v", err)
	}

	// Listing with $filter, $select and $top.
	var found []User
	err = c.ListUsers(ctx, Query{Filter: "startsWith(userPrincipalName,'john')", Select: []string{"id", "userPrincipalName"}, Top: 5},
		func(p []User) error { found = append(found, p...); return nil })
	if err != nil || len(found) != 1 || found[0].ID != created.ID || found[0].DisplayName != "" {
		t.Errorf("filtered list: %+v (%v)", found, err)
	}
	// Advanced query: endsWith needs ConsistencyLevel eventual and $count.
	found = nil
	err = c.ListUsers(ctx, Query{Filter: "endsWith(userPrincipalName,'@contoso.com')", Advanced: true, Select: []string{"userPrincipalName"}},
		func(p []User) error { found = append(found, p...); return nil })
	if err != nil || len(found) != 3 {
		t.Errorf("advanced list: %+v (%v)", found, err)
	}
	if err := c.ListUsers(ctx, Query{Filter: "endsWith(userPrincipalName,'@contoso.com')"}, func([]User) error { return nil }); !IsBadRequest(err) {
		t.Errorf("advanced filter without ConsistencyLevel: %v", err)
	}
	// The callback stops the listing.
	stop := errors.New("stop")
	if err := c.ListUsers(ctx, Query{}, func([]User) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("stop: %v", err)
	}

	// Delete into deleted items, restore, delete for good.
	if err := c.DeleteUser(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(ctx, created.ID); !IsNotFound(err) {
		t.Errorf("deleted user: %v", err)
	}
	obj, err := c.RestoreDeletedItem(ctx, created.ID)
	if err != nil || obj.ID != created.ID || !obj.IsUser() {
		t.Fatalf("restore: %+v (%v)", obj, err)
	}
	if _, err := c.GetUser(ctx, u.UserPrincipalName); err != nil {
		t.Errorf("restored user: %v", err)
	}
}

// TestFederatedUser: a user of a federated domain needs an immutable id and
// no password (contract §7).
func TestFederatedUser(t *testing.T) {
	e := newEnv(t, func(s *m365sim.SeedFile) {
		s.Tenants[0].Domains[2].FederationConfiguration = map[string]any{
			"issuerUri": "https://idp.example/fabrikam", "signingCertificate": keys().other.Base64(),
			"passiveSignInUri": "https://idp.example/wsfed", "preferredAuthenticationProtocol": "wsFed"}
	})
	c, _, _ := e.client(t)
	ctx := context.Background()
	u := newUser("ann@fabrikam.com")
	if _, err := c.CreateUser(ctx, u); !IsBadRequest(err) {
		t.Errorf("password on a federated domain: %v", err)
	}
	u.PasswordProfile, u.OnPremisesImmutableID = nil, "k3pQ0mJc9U2dXnP8yW1vLw=="
	created, err := c.CreateUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetUser(ctx, created.ID, "onPremisesImmutableId")
	if err != nil || got.OnPremisesImmutableID != u.OnPremisesImmutableID {
		t.Errorf("immutable id: %+v (%v)", got, err)
	}
}

// TestUsersDelta runs two delta rounds.
func TestUsersDelta(t *testing.T) {
	e := newEnv(t)
	c, _, _ := e.client(t)
	ctx := context.Background()
	var first []User
	pages := 0
	link, err := c.UsersDelta(ctx, DeltaQuery{Select: []string{"userPrincipalName", "displayName"}, MaxPageSize: 2},
		func(p []User) error { pages++; first = append(first, p...); return nil })
	if err != nil || link == "" || len(first) != 3 || pages < 2 {
		t.Fatalf("first round: %d users in %d pages, link %q (%v)", len(first), pages, link, err)
	}
	created, err := c.CreateUser(ctx, newUser("new.hire@contoso.com"))
	if err != nil {
		t.Fatal(err)
	}
	adele, err := c.GetUser(ctx, "AdeleV@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteUser(ctx, adele.ID); err != nil {
		t.Fatal(err)
	}
	var second []User
	link2, err := c.UsersDelta(ctx, DeltaQuery{Link: link}, func(p []User) error { second = append(second, p...); return nil })
	if err != nil || link2 == "" || link2 == link {
		t.Fatalf("second round: link %q (%v)", link2, err)
	}
	byID := map[string]User{}
	for _, u := range second {
		byID[u.ID] = u
	}
	if u, ok := byID[created.ID]; !ok || u.Removed != nil || u.UserPrincipalName != "new.hire@contoso.com" {
		t.Errorf("created user in delta: %+v", byID)
	}
	if u, ok := byID[adele.ID]; !ok || u.Removed == nil || u.Removed.Reason != "changed" {
		t.Errorf("deleted user in delta: %+v", byID)
	}
	// $deltatoken=latest: no objects, just a link.
	var latest []User
	if l, err := c.UsersDelta(ctx, DeltaQuery{Latest: true}, func(p []User) error { latest = append(latest, p...); return nil }); err != nil || l == "" || len(latest) != 0 {
		t.Errorf("latest: %v %q (%v)", latest, l, err)
	}
	// A token the service does not know: 410, start over.
	bad := strings.Replace(link, "$deltatoken=", "$deltatoken=x", 1)
	if _, err := c.UsersDelta(ctx, DeltaQuery{Link: bad}, func([]User) error { return nil }); !IsSyncStateNotFound(err) {
		t.Errorf("bad delta token: %v", err)
	}
	ids := func(us []User) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.ID)
		}
		return out
	}
	if slices.Contains(ids(first), created.ID) {
		t.Error("first round saw a later user")
	}
}
