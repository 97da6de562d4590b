package authz

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRoleGrants(t *testing.T) {
	all := []Permission{ReadDirectory, ManageDirectory, ManageCredentials, ReadApplications, ManageApplications, ManageFederation,
		ReadAudit, ReadTokens, ManageTokens, ManageTenants}
	want := map[Role][]Permission{
		Global:      all,
		TenantAdmin: all[:len(all)-1],
		Helpdesk:    {ReadDirectory, ManageCredentials, ReadAudit},
		ReadOnly:    {ReadDirectory, ReadApplications, ReadAudit, ReadTokens},
	}
	for role, perms := range want {
		for _, p := range all {
			if got := role.Has(p); got != slices.Contains(perms, p) {
				t.Errorf("%s has %s = %v", role, p, got)
			}
		}
	}
	// Read-only changes nothing; helpdesk touches no application,
	// federation or token.
	for _, p := range []Permission{ManageDirectory, ManageCredentials, ManageApplications, ManageFederation, ManageTokens, ManageTenants} {
		if ReadOnly.Has(p) {
			t.Errorf("readOnly has %s", p)
		}
	}
	for _, p := range []Permission{ReadApplications, ManageApplications, ManageFederation, ReadTokens, ManageTokens} {
		if Helpdesk.Has(p) {
			t.Errorf("helpdesk has %s", p)
		}
	}
	if Role("root").Valid() || Role("root").Has(ReadDirectory) {
		t.Error("an unknown role is valid or grants something")
	}
}

func TestIncludes(t *testing.T) {
	for _, c := range []struct {
		r, o Role
		want bool
	}{
		{Global, TenantAdmin, true}, {Global, Helpdesk, true}, {Global, ReadOnly, true}, {Global, Global, true},
		{TenantAdmin, Global, false}, {TenantAdmin, Helpdesk, true}, {TenantAdmin, ReadOnly, true},
		{Helpdesk, ReadOnly, false}, {ReadOnly, Helpdesk, false}, {Helpdesk, TenantAdmin, false},
		{ReadOnly, ReadOnly, true}, {"root", ReadOnly, false}, {Global, "root", false},
	} {
		if got := c.r.Includes(c.o); got != c.want {
			t.Errorf("%s includes %s = %v; want %v", c.r, c.o, got, c.want)
		}
	}
}

func TestParseRole(t *testing.T) {
	for in, want := range map[string]Role{"global": Global, "tenantAdmin": TenantAdmin, "tenant-admin": TenantAdmin,
		"HELPDESK": Helpdesk, "read-only": ReadOnly, " readonly ": ReadOnly} {
		if got, err := ParseRole(in); err != nil || got != want {
			t.Errorf("ParseRole(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseRole("admin"); err == nil || !strings.Contains(err.Error(), "tenantAdmin") {
		t.Errorf("ParseRole(admin): %v", err)
	}
}

func TestRequire(t *testing.T) {
	ctx := context.Background()
	if _, err := Require(ctx, "t1", ReadDirectory); !errors.Is(err, ErrNoPrincipal) {
		t.Fatalf("no principal: %v", err)
	}
	if _, err := RequireScope(ctx, "t1"); !errors.Is(err, ErrNoPrincipal) {
		t.Fatalf("no principal (scope): %v", err)
	}
	ro := With(ctx, Principal{Kind: KindAPIToken, ID: "x", Role: ReadOnly, TenantID: "t1"})
	if p, err := Require(ro, "t1", ReadDirectory); err != nil || p.ID != "x" {
		t.Fatalf("read in scope: %v", err)
	}
	var denied *DeniedError
	_, err := Require(ro, "t1", ManageDirectory)
	if !errors.As(err, &denied) || denied.Role != ReadOnly || !slices.Equal(denied.Needed, []Role{Global, TenantAdmin}) ||
		!strings.Contains(err.Error(), "global or tenantAdmin") {
		t.Fatalf("write with readOnly: %v", err)
	}
	// Another tenant is not found, even for what the role could do.
	if _, err := Require(ro, "t2", ReadDirectory); !errors.Is(err, ErrOutOfScope) {
		t.Fatalf("other tenant: %v", err)
	}
	if _, err := RequireScope(ro, "t2"); !errors.Is(err, ErrOutOfScope) {
		t.Fatalf("other tenant (scope): %v", err)
	}
	// Installation-wide operations need a principal of all tenants.
	_, err = Require(ro, "", ReadDirectory)
	if !errors.As(err, &denied) || !denied.AllTenants {
		t.Fatalf("installation-wide with a tenant principal: %v", err)
	}
	allRO := With(ctx, Principal{Kind: KindAPIToken, Role: ReadOnly})
	if _, err := Require(allRO, "", ReadDirectory); err != nil {
		t.Fatalf("all-tenant read-only reads the tenant list: %v", err)
	}
	if _, err := Require(allRO, "t9", ManageDirectory); !errors.As(err, &denied) {
		t.Fatalf("all-tenant read-only writes: %v", err)
	}
	if _, err := Require(With(ctx, Operator("root")), "", ManageTenants); err != nil {
		t.Fatalf("operator: %v", err)
	}
	if _, err := Require(With(ctx, System("job")), "t1", ManageFederation); err != nil {
		t.Fatalf("system: %v", err)
	}
	// A principal with a role Portico does not know can do nothing.
	odd := With(ctx, Principal{Kind: KindAPIToken, Role: "root"})
	if _, err := Require(odd, "t1", ReadDirectory); err == nil {
		t.Fatal("unknown role allowed")
	}
	if _, err := RequireScope(odd, "t1"); err == nil {
		t.Fatal("unknown role in scope")
	}
}

func TestCanGrant(t *testing.T) {
	admin := Principal{Role: TenantAdmin, TenantID: "t1"}
	help := Principal{Role: Helpdesk, TenantID: "t1"}
	global := Principal{Role: Global}
	var denied *DeniedError
	for _, c := range []struct {
		p      Principal
		role   Role
		tenant string
		ok     bool
	}{
		{global, Global, "", true}, {global, TenantAdmin, "t1", true}, {global, ReadOnly, "", true},
		{admin, TenantAdmin, "t1", true}, {admin, Helpdesk, "t1", true}, {admin, ReadOnly, "t1", true},
		{admin, Global, "", false}, {admin, TenantAdmin, "", false}, {admin, TenantAdmin, "t2", false},
		{help, Helpdesk, "t1", true}, {help, ReadOnly, "t1", false}, {help, TenantAdmin, "t1", false},
		{global, Global, "t1", false}, {global, "root", "", false},
	} {
		err := CanGrant(c.p, c.role, c.tenant)
		if (err == nil) != c.ok {
			t.Errorf("%s of %q grants %s in %q: %v", c.p.Role, c.p.TenantID, c.role, c.tenant, err)
		}
	}
	if err := CanGrant(admin, Global, ""); !errors.Is(err, ErrGlobalNeedsAllTenants) && !errors.As(err, &denied) {
		t.Errorf("tenant admin grants global: %v", err)
	}
	if err := CanGrant(admin, ReadOnly, "t2"); !errors.Is(err, ErrOutOfScope) {
		t.Errorf("another tenant: %v", err)
	}
}
