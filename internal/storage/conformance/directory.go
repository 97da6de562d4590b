package conformance

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
)

func testTenants(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	a := mustTenant(t, s, "alpha")
	got, err := s.GetTenant(ctx, a.ID)
	ok(t, err)
	if got != a {
		t.Fatalf("GetTenant = %+v; want %+v", got, a)
	}
	got, err = s.GetTenantBySlug(ctx, "alpha")
	ok(t, err)
	eq(t, "tenant by slug", got.ID, a.ID)
	_, err = s.GetTenant(ctx, newID())
	wantIs(t, err, storage.ErrNotFound)

	dup := directory.Tenant{ID: newID(), Slug: "alpha", Name: "again", CreatedAt: now(), UpdatedAt: now()}
	wantDuplicate(t, s.CreateTenant(ctx, dup), "slug")

	for _, slug := range []string{"delta", "bravo", "charlie", "echo"} {
		mustTenant(t, s, slug)
	}
	var all []string
	cursor := ""
	for pages := 0; ; pages++ {
		list, next, err := s.ListTenants(ctx, storage.Page{Limit: 2, Cursor: cursor})
		ok(t, err)
		for _, tn := range list {
			all = append(all, tn.Slug)
		}
		if next == "" {
			eq(t, "pages", pages, 2)
			break
		}
		cursor = next
	}
	eqSlice(t, "tenants", all, []string{"alpha", "bravo", "charlie", "delta", "echo"})

	upd, err := s.UpdateTenant(ctx, a.ID, func(old directory.Tenant) (directory.Tenant, error) {
		old.Name = "Alpha Inc."
		return old, nil
	})
	ok(t, err)
	eq(t, "version after update", upd.Version, int64(2))
	got, _ = s.GetTenant(ctx, a.ID)
	eq(t, "name after update", got.Name, "Alpha Inc.")
	eq(t, "stored version", got.Version, int64(2))

	_, _, err = s.ListTenants(ctx, storage.Page{Cursor: "not a cursor"})
	wantIs(t, err, storage.ErrInvalidCursor)

	ok(t, s.DeleteTenant(ctx, a.ID))
	wantIs(t, s.DeleteTenant(ctx, a.ID), storage.ErrNotFound)
	_, err = s.UpdateTenant(ctx, a.ID, func(o directory.Tenant) (directory.Tenant, error) { return o, nil })
	wantIs(t, err, storage.ErrNotFound)
}

func testOrganizations(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "orgs")
	o := mustOrg(t, s, tn.ID, "Contoso", "@contoso.com")
	got, err := s.GetOrganization(ctx, tn.ID, o.ID)
	ok(t, err)
	if got != o {
		t.Fatalf("GetOrganization = %+v; want %+v", got, o)
	}
	dup := directory.Organization{ID: newID(), TenantID: tn.ID, Name: "CONTOSO", CreatedAt: now(), UpdatedAt: now()}
	wantDuplicate(t, s.CreateOrganization(ctx, dup), "name")

	mustOrg(t, s, tn.ID, "Fabrikam", "@fabrikam.com")
	mustOrg(t, s, tn.ID, "Contoso Labs", "")
	list, _, err := s.ListOrganizations(ctx, tn.ID, storage.OrganizationFilter{NamePrefix: "cont"}, storage.Page{})
	ok(t, err)
	eq(t, "organizations with prefix cont", len(list), 2)

	mustUser(t, s, tn.ID, o, "john")
	wantIs(t, s.DeleteOrganization(ctx, tn.ID, o.ID), storage.ErrInUse)
	empty := mustOrg(t, s, tn.ID, "Empty", "")
	ok(t, s.DeleteOrganization(ctx, tn.ID, empty.ID))
	wantIs(t, s.DeleteOrganization(ctx, tn.ID, empty.ID), storage.ErrNotFound)
}

func testOrganizationSuffixChange(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "suffix")
	o := mustOrg(t, s, tn.ID, "Contoso", "@contoso.com")
	plain := mustUser(t, s, tn.ID, o, "john.smith")
	mailish := mustUser(t, s, tn.ID, o, "ann@fabrikam.com")

	upd, err := s.UpdateOrganization(ctx, tn.ID, o.ID, func(old directory.Organization) (directory.Organization, error) {
		old.PrincipalNameSuffix = "@contoso.onmicrosoft.com"
		return old, nil
	})
	ok(t, err)
	eq(t, "organization version", upd.Version, int64(2))
	u, err := s.GetUser(ctx, tn.ID, plain.ID)
	ok(t, err)
	eq(t, "recomputed UPN", u.UPN, "john.smith@contoso.onmicrosoft.com")
	eq(t, "user version after UPN change", u.Version, int64(2))
	u, _ = s.GetUser(ctx, tn.ID, mailish.ID)
	eq(t, "e-mail-shaped UPN", u.UPN, "ann@fabrikam.com")
	_, err = s.GetUserByUPN(ctx, tn.ID, "JOHN.SMITH@contoso.onmicrosoft.com")
	ok(t, err)

	// Removing the suffix would leave john.smith without a UPN.
	_, err = s.UpdateOrganization(ctx, tn.ID, o.ID, func(old directory.Organization) (directory.Organization, error) {
		old.PrincipalNameSuffix = ""
		return old, nil
	})
	if ve, isVE := directory.AsValidation(err); !isVE || ve.Errors[0].Field != "principalNameSuffix" {
		t.Fatalf("removing a needed suffix: %v", err)
	}
	got, _ := s.GetOrganization(ctx, tn.ID, o.ID)
	eq(t, "suffix kept after failed update", got.PrincipalNameSuffix, "@contoso.onmicrosoft.com")

	// A suffix that would give john.smith the UPN another user already has.
	other := mustOrg(t, s, tn.ID, "Other", "@other.com")
	mustUser(t, s, tn.ID, other, "john.smith@contoso.com")
	_, err = s.UpdateOrganization(ctx, tn.ID, o.ID, func(old directory.Organization) (directory.Organization, error) {
		old.PrincipalNameSuffix = "@contoso.com"
		return old, nil
	})
	wantDuplicate(t, err, "principalNameSuffix")
	u, _ = s.GetUser(ctx, tn.ID, plain.ID)
	eq(t, "UPN untouched after failed update", u.UPN, "john.smith@contoso.onmicrosoft.com")
	got, _ = s.GetOrganization(ctx, tn.ID, o.ID)
	eq(t, "organization untouched after failed update", got.Version, int64(2))
}

func testUsers(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "users")
	o := mustOrg(t, s, tn.ID, "Contoso", "@contoso.com")
	u := mustUser(t, s, tn.ID, o, "john.smith")
	for _, get := range []func() (directory.User, error){
		func() (directory.User, error) { return s.GetUser(ctx, tn.ID, u.ID) },
		func() (directory.User, error) { return s.GetUserByUsername(ctx, tn.ID, "John.Smith") },
		func() (directory.User, error) { return s.GetUserByUPN(ctx, tn.ID, "john.smith@contoso.com") },
	} {
		got, err := get()
		ok(t, err)
		if got != u {
			t.Fatalf("read user = %+v\nwant %+v", got, u)
		}
	}

	d := userFor(tn.ID, o, "john.smith")
	wantDuplicate(t, s.CreateUser(ctx, d), "username")
	d = userFor(tn.ID, o, "john.smith@contoso.com") // same UPN as john.smith
	wantDuplicate(t, s.CreateUser(ctx, d), "userPrincipalName")
	d = userFor(tn.ID, o, "jane")
	d.ImmutableID = u.ImmutableID
	wantDuplicate(t, s.CreateUser(ctx, d), "immutableId")
	d = userFor(tn.ID, o, "nobody")
	d.OrganizationID = newID()
	wantReference(t, s.CreateUser(ctx, d), "organizationId")
	// None of the failures left a row behind.
	list, _, err := s.ListUsers(ctx, tn.ID, storage.UserFilter{}, storage.Page{})
	ok(t, err)
	eqSlice(t, "users after failed creates", usernames(list), []string{"john.smith"})

	upd, err := s.UpdateUser(ctx, tn.ID, u.ID, func(old directory.User) (directory.User, error) {
		old.JobTitle = "Director"
		old.Status = directory.StatusSuspended
		old.ImmutableID = "changed" // must be ignored
		old.UpdatedAt = now()
		return old, nil
	})
	ok(t, err)
	eq(t, "version", upd.Version, int64(2))
	got, _ := s.GetUser(ctx, tn.ID, u.ID)
	eq(t, "job title", got.JobTitle, "Director")
	eq(t, "status", got.Status, directory.StatusSuspended)
	eq(t, "immutable id is immutable", got.ImmutableID, u.ImmutableID)
	if !got.UpdatedAt.Equal(upd.UpdatedAt) || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Fatalf("times = %v/%v", got.CreatedAt, got.UpdatedAt)
	}

	// An updater error is returned unchanged and nothing is written.
	sentinel := errors.New("refused")
	_, err = s.UpdateUser(ctx, tn.ID, u.ID, func(old directory.User) (directory.User, error) { return old, sentinel })
	wantIs(t, err, sentinel)
	// Moving to an organization that does not exist.
	_, err = s.UpdateUser(ctx, tn.ID, u.ID, func(old directory.User) (directory.User, error) {
		old.OrganizationID = newID()
		return old, nil
	})
	wantReference(t, err, "organizationId")
	// Renaming onto a taken username.
	mustUser(t, s, tn.ID, o, "taken")
	_, err = s.UpdateUser(ctx, tn.ID, u.ID, func(old directory.User) (directory.User, error) {
		old.Username, old.UPN = "taken", "taken@contoso.com"
		return old, nil
	})
	wantDuplicate(t, err, "username")
	got, _ = s.GetUser(ctx, tn.ID, u.ID)
	eq(t, "version after failed updates", got.Version, int64(2))

	ok(t, s.DeleteUser(ctx, tn.ID, u.ID))
	_, err = s.GetUser(ctx, tn.ID, u.ID)
	wantIs(t, err, storage.ErrNotFound)
	wantIs(t, s.DeleteUser(ctx, tn.ID, u.ID), storage.ErrNotFound)
	_, err = s.UpdateUser(ctx, tn.ID, u.ID, func(o directory.User) (directory.User, error) { return o, nil })
	wantIs(t, err, storage.ErrNotFound)
}

func testUserFiltersAndPaging(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "filters")
	o := mustOrg(t, s, tn.ID, "Contoso", "@contoso.com")
	o2 := mustOrg(t, s, tn.ID, "Fabrikam", "@fabrikam.com")
	g := mustGroup(t, s, tn.ID, "Office 365 Users")
	for i := range 25 {
		name := fmt.Sprintf("user%02d", i)
		org := o
		if i%5 == 0 {
			org = o2
		}
		u := userFor(tn.ID, org, name)
		if i%2 == 1 {
			u.Status = directory.StatusPending
			u.Email = fmt.Sprintf("pending%02d@mail.example.com", i)
		}
		ok(t, s.CreateUser(ctx, u))
		if i%3 == 0 {
			ok(t, s.AddGroupMember(ctx, tn.ID, g.ID, u.ID))
		}
	}
	// A name that sorts between prefixes and one with a multi-byte rune.
	mustUser(t, s, tn.ID, o, "user1")
	mustUser(t, s, tn.ID, o, "usé")

	list := func(f storage.UserFilter, limit int) []string {
		var names []string
		cursor := ""
		for {
			page, next, err := s.ListUsers(ctx, tn.ID, f, storage.Page{Limit: limit, Cursor: cursor})
			ok(t, err)
			if len(page) > limit {
				t.Fatalf("page of %d > limit %d", len(page), limit)
			}
			names = append(names, usernames(page)...)
			if next == "" {
				return names
			}
			cursor = next
		}
	}
	eqSlice(t, "prefix user0", list(storage.UserFilter{UsernamePrefix: "USER0"}, 4),
		[]string{"user00", "user01", "user02", "user03", "user04", "user05", "user06", "user07", "user08", "user09"})
	eqSlice(t, "prefix user1", list(storage.UserFilter{UsernamePrefix: "user1"}, 100),
		[]string{"user1", "user10", "user11", "user12", "user13", "user14", "user15", "user16", "user17", "user18", "user19"})
	eqSlice(t, "prefix us\u00e9", list(storage.UserFilter{UsernamePrefix: "us\u00e9"}, 100), []string{"us\u00e9"})
	eqSlice(t, "status pending", list(storage.UserFilter{Status: directory.StatusPending, UsernamePrefix: "user0"}, 2),
		[]string{"user01", "user03", "user05", "user07", "user09"})
	eqSlice(t, "e-mail prefix", list(storage.UserFilter{EmailPrefix: "pending1"}, 3),
		[]string{"user11", "user13", "user15", "user17", "user19"})
	eqSlice(t, "group", list(storage.UserFilter{GroupID: g.ID}, 3),
		[]string{"user00", "user03", "user06", "user09", "user12", "user15", "user18", "user21", "user24"})
	eqSlice(t, "group and status", list(storage.UserFilter{GroupID: g.ID, Status: directory.StatusActive}, 100),
		[]string{"user00", "user06", "user12", "user18", "user24"})
	eqSlice(t, "organization", list(storage.UserFilter{OrganizationID: o2.ID}, 2),
		[]string{"user00", "user05", "user10", "user15", "user20"})
	if n := len(list(storage.UserFilter{}, 7)); n != 27 {
		t.Fatalf("all users = %d; want 27", n)
	}
	if n := len(list(storage.UserFilter{UsernamePrefix: "zzz"}, 7)); n != 0 {
		t.Fatalf("no match = %d", n)
	}
	_, _, err := s.ListUsers(ctx, tn.ID, storage.UserFilter{}, storage.Page{Cursor: "bm90IG91cnM"})
	wantIs(t, err, storage.ErrInvalidCursor)
}

func testImmutableIDNeverReused(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "immutable")
	o := mustOrg(t, s, tn.ID, "Contoso", "@contoso.com")
	u := mustUser(t, s, tn.ID, o, "leaver")
	ok(t, s.DeleteUser(ctx, tn.ID, u.ID))
	again := userFor(tn.ID, o, "newcomer")
	again.ImmutableID = u.ImmutableID
	wantDuplicate(t, s.CreateUser(ctx, again), "immutableId")
	// Not even in another tenant.
	tn2 := mustTenant(t, s, "immutable2")
	o2 := mustOrg(t, s, tn2.ID, "Contoso", "@contoso.com")
	again = userFor(tn2.ID, o2, "newcomer")
	again.ImmutableID = u.ImmutableID
	wantDuplicate(t, s.CreateUser(ctx, again), "immutableId")
}

func testCreateUsersBulk(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "bulk")
	o := mustOrg(t, s, tn.ID, "Contoso", "@contoso.com")
	g := mustGroup(t, s, tn.ID, "Imported")
	existing := mustUser(t, s, tn.ID, o, "existing")

	failedImmutable := newImmutableID()
	items := []storage.NewUser{
		{User: userFor(tn.ID, o, "a1"), GroupIDs: []string{g.ID}},
		{User: userFor(tn.ID, o, "existing")},                              // duplicate username
		{User: userFor(tn.ID, o, "a2"), GroupIDs: []string{g.ID, newID()}}, // second group unknown
		{User: userFor(tn.ID, o, "a3")},
		{User: userFor(tn.ID, o, "a3")}, // duplicate inside the batch
	}
	items[2].User.ImmutableID = failedImmutable
	items[4].User.ImmutableID = newImmutableID()
	errs := s.CreateUsers(ctx, items)
	eq(t, "results", len(errs), len(items))
	ok(t, errs[0])
	wantDuplicate(t, errs[1], "username")
	wantReference(t, errs[2], "groupIds")
	ok(t, errs[3])
	wantDuplicate(t, errs[4], "username")

	list, _, err := s.ListUsers(ctx, tn.ID, storage.UserFilter{}, storage.Page{})
	ok(t, err)
	eqSlice(t, "users after bulk", usernames(list), []string{"a1", "a3", "existing"})
	members, _, err := s.ListUsers(ctx, tn.ID, storage.UserFilter{GroupID: g.ID}, storage.Page{})
	ok(t, err)
	eqSlice(t, "members after bulk", usernames(members), []string{"a1"})
	// The failed item left nothing: not even its immutable id is taken.
	u := userFor(tn.ID, o, "a2")
	u.ImmutableID = failedImmutable
	ok(t, s.CreateUser(ctx, u))
	got, _ := s.GetUser(ctx, tn.ID, existing.ID)
	eq(t, "existing user untouched", got.Version, int64(1))
}

func testGroupsAndMembers(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "groups")
	o := mustOrg(t, s, tn.ID, "Contoso", "@contoso.com")
	g := mustGroup(t, s, tn.ID, "Sales")
	got, err := s.GetGroup(ctx, tn.ID, g.ID)
	ok(t, err)
	if got != g {
		t.Fatalf("GetGroup = %+v; want %+v", got, g)
	}
	dup := directory.Group{ID: newID(), TenantID: tn.ID, Name: "sales", Type: directory.GroupSecurity, CreatedAt: now(), UpdatedAt: now()}
	wantDuplicate(t, s.CreateGroup(ctx, dup), "name")
	m365 := directory.Group{ID: newID(), TenantID: tn.ID, Name: "Marketing", Type: directory.GroupMicrosoft365,
		Email: "marketing@contoso.com", CreatedAt: now(), UpdatedAt: now()}
	ok(t, s.CreateGroup(ctx, m365))

	u1 := mustUser(t, s, tn.ID, o, "u1")
	u2 := mustUser(t, s, tn.ID, o, "u2")
	ok(t, s.AddGroupMember(ctx, tn.ID, g.ID, u1.ID))
	ok(t, s.AddGroupMember(ctx, tn.ID, m365.ID, u1.ID))
	ok(t, s.AddGroupMember(ctx, tn.ID, g.ID, u2.ID))
	wantDuplicate(t, s.AddGroupMember(ctx, tn.ID, g.ID, u1.ID), "userId")
	wantReference(t, s.AddGroupMember(ctx, tn.ID, newID(), u1.ID), "groupId")
	wantReference(t, s.AddGroupMember(ctx, tn.ID, g.ID, newID()), "userId")
	isM, err := s.IsGroupMember(ctx, tn.ID, g.ID, u1.ID)
	ok(t, err)
	eq(t, "u1 member of sales", isM, true)

	groups, _, err := s.ListGroups(ctx, tn.ID, storage.GroupFilter{MemberID: u1.ID}, storage.Page{})
	ok(t, err)
	eq(t, "groups of u1", len(groups), 2)
	groups, _, err = s.ListGroups(ctx, tn.ID, storage.GroupFilter{Type: directory.GroupMicrosoft365}, storage.Page{})
	ok(t, err)
	eq(t, "microsoft365 groups", len(groups), 1)
	groups, _, err = s.ListGroups(ctx, tn.ID, storage.GroupFilter{EmailPrefix: "MARKET"}, storage.Page{})
	ok(t, err)
	eq(t, "groups by e-mail", len(groups), 1)
	groups, next, err := s.ListGroups(ctx, tn.ID, storage.GroupFilter{}, storage.Page{Limit: 1})
	ok(t, err)
	eq(t, "first group", groups[0].Name, "Marketing")
	groups, next, err = s.ListGroups(ctx, tn.ID, storage.GroupFilter{}, storage.Page{Limit: 1, Cursor: next})
	ok(t, err)
	eq(t, "second group", groups[0].Name, "Sales")
	eq(t, "no third page", next, "")

	ok(t, s.RemoveGroupMember(ctx, tn.ID, g.ID, u2.ID))
	wantIs(t, s.RemoveGroupMember(ctx, tn.ID, g.ID, u2.ID), storage.ErrNotFound)
	upd, err := s.UpdateGroup(ctx, tn.ID, g.ID, func(old directory.Group) (directory.Group, error) {
		old.Description = "All sales people"
		return old, nil
	})
	ok(t, err)
	eq(t, "group version", upd.Version, int64(2))
	_, err = s.UpdateGroup(ctx, tn.ID, g.ID, func(old directory.Group) (directory.Group, error) {
		old.Name = "MARKETING"
		return old, nil
	})
	wantDuplicate(t, err, "name")

	// Deleting a user or a group removes its memberships.
	ok(t, s.DeleteUser(ctx, tn.ID, u1.ID))
	members, _, err := s.ListUsers(ctx, tn.ID, storage.UserFilter{GroupID: m365.ID}, storage.Page{})
	ok(t, err)
	eq(t, "members after user deletion", len(members), 0)
	ok(t, s.AddGroupMember(ctx, tn.ID, g.ID, u2.ID))
	ok(t, s.DeleteGroup(ctx, tn.ID, g.ID))
	groups, _, err = s.ListGroups(ctx, tn.ID, storage.GroupFilter{MemberID: u2.ID}, storage.Page{})
	ok(t, err)
	eq(t, "groups after group deletion", len(groups), 0)
	wantIs(t, s.DeleteGroup(ctx, tn.ID, g.ID), storage.ErrNotFound)
}

func testTenantIsolation(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	a := mustTenant(t, s, "tenant-a")
	b := mustTenant(t, s, "tenant-b")
	oa := mustOrg(t, s, a.ID, "Contoso", "@contoso.com")
	ob := mustOrg(t, s, b.ID, "Contoso", "@contoso.com") // same name in another tenant is fine
	ua := mustUser(t, s, a.ID, oa, "john")
	mustUser(t, s, b.ID, ob, "john") // same username and UPN in another tenant
	ga := mustGroup(t, s, a.ID, "Sales")
	gb := mustGroup(t, s, b.ID, "Sales")

	_, err := s.GetUser(ctx, b.ID, ua.ID)
	wantIs(t, err, storage.ErrNotFound)
	_, err = s.GetOrganization(ctx, b.ID, oa.ID)
	wantIs(t, err, storage.ErrNotFound)
	_, err = s.GetGroup(ctx, b.ID, ga.ID)
	wantIs(t, err, storage.ErrNotFound)
	_, err = s.UpdateUser(ctx, b.ID, ua.ID, func(u directory.User) (directory.User, error) { return u, nil })
	wantIs(t, err, storage.ErrNotFound)
	wantIs(t, s.DeleteUser(ctx, b.ID, ua.ID), storage.ErrNotFound)
	wantIs(t, s.DeleteGroup(ctx, b.ID, ga.ID), storage.ErrNotFound)
	// Cross-tenant references are refused.
	wantReference(t, s.AddGroupMember(ctx, b.ID, gb.ID, ua.ID), "userId")
	wantReference(t, s.AddGroupMember(ctx, a.ID, gb.ID, ua.ID), "groupId")
	u := userFor(b.ID, oa, "mallory")
	wantReference(t, s.CreateUser(ctx, u), "organizationId")
	_, err = s.UpdateUser(ctx, a.ID, ua.ID, func(u directory.User) (directory.User, error) {
		u.OrganizationID = ob.ID
		return u, nil
	})
	wantReference(t, err, "organizationId")

	list, _, err := s.ListUsers(ctx, b.ID, storage.UserFilter{}, storage.Page{})
	ok(t, err)
	eq(t, "users of b", len(list), 1)
	if list[0].TenantID != b.ID {
		t.Fatal("list returned another tenant's user")
	}
	_, _, err = s.ListUsers(ctx, b.ID, storage.UserFilter{GroupID: ga.ID}, storage.Page{})
	ok(t, err)
	orgs, _, err := s.ListOrganizations(ctx, a.ID, storage.OrganizationFilter{}, storage.Page{})
	ok(t, err)
	eq(t, "organizations of a", len(orgs), 1)
}

func testDeleteTenantCascades(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	a := mustTenant(t, s, "doomed")
	o := mustOrg(t, s, a.ID, "Contoso", "@contoso.com")
	u := mustUser(t, s, a.ID, o, "john")
	g := mustGroup(t, s, a.ID, "Sales")
	ok(t, s.AddGroupMember(ctx, a.ID, g.ID, u.ID))
	keep := mustTenant(t, s, "kept")
	ko := mustOrg(t, s, keep.ID, "Contoso", "@contoso.com")
	ku := mustUser(t, s, keep.ID, ko, "john")

	ok(t, s.DeleteTenant(ctx, a.ID))
	_, err := s.GetUser(ctx, a.ID, u.ID)
	wantIs(t, err, storage.ErrNotFound)
	_, err = s.GetGroup(ctx, a.ID, g.ID)
	wantIs(t, err, storage.ErrNotFound)
	_, err = s.GetUser(ctx, keep.ID, ku.ID)
	ok(t, err)
}
