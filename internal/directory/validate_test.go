package directory

import (
	"slices"
	"strings"
	"testing"
)

func TestFormUPN(t *testing.T) {
	tests := []struct {
		username, suffix string
		want             string
		field            string // expected field in error, "" for success
	}{
		{"john.smith", "@contoso.com", "john.smith@contoso.com", ""},
		{"john@fabrikam.com", "@contoso.com", "john@fabrikam.com", ""},
		{"jsmith", "", "", "username"},
		{"a@b@contoso.com", "@contoso.com", "", "username"},
		{"john smith", "@contoso.com", "", "username"},
		{".john", "@contoso.com", "", "username"},
		{"john.", "@contoso.com", "", "username"},
		{"jo..hn", "@contoso.com", "", "username"},
		{strings.Repeat("a", 65), "@contoso.com", "", "username"},
		{strings.Repeat("a", 64), "@contoso.com", strings.Repeat("a", 64) + "@contoso.com", ""},
		{"john", "@contoso", "", "principalNameSuffix"},
		{"john@localhost", "", "", "username"},
		{"o'brien#1^~!", "@contoso.com", "o'brien#1^~!@contoso.com", ""},
		{strings.Repeat("a", 60), "@" + strings.Repeat("b", 60) + ".com", "", "username"},
	}
	for _, tt := range tests {
		got, err := FormUPN(tt.username, tt.suffix)
		if tt.field == "" {
			if err != nil || got != tt.want {
				t.Errorf("FormUPN(%q,%q) = %q, %v; want %q", tt.username, tt.suffix, got, err, tt.want)
			}
			continue
		}
		ve, ok := AsValidation(err)
		if !ok || !slices.Contains(ve.Fields(), tt.field) {
			t.Errorf("FormUPN(%q,%q) error %v; want a validation error naming %s", tt.username, tt.suffix, err, tt.field)
		}
	}
}

func TestValidateUser(t *testing.T) {
	org := Organization{Name: "Contoso", PrincipalNameSuffix: "@contoso.com"}
	base := User{Username: "John.Smith ", Email: "John@Contoso.com", GivenName: "John", FamilyName: "Smith",
		Status: StatusActive, ImmutableID: "AAECAwQFBgcICQoLDA0ODw==", UsageLocation: "us"}
	NormalizeUser(&base)
	got, err := ValidateUser(base, org)
	if err != nil {
		t.Fatalf("valid user: %v", err)
	}
	if got.UPN != "john.smith@contoso.com" || got.DisplayName != "John Smith" || got.UsageLocation != "US" || got.Email != "john@contoso.com" {
		t.Fatalf("normalized user = %+v", got)
	}
	bad := []struct {
		mutate func(*User)
		field  string
	}{
		{func(u *User) { u.Username = "" }, "username"},
		{func(u *User) { u.Email = "not-an-email" }, "email"},
		{func(u *User) { u.Email = "John <john@contoso.com>" }, "email"},
		{func(u *User) { u.Status = "deleted" }, "status"},
		{func(u *User) { u.UsageLocation = "XX" }, "usageLocation"},
		{func(u *User) { u.UsageLocation = "USA" }, "usageLocation"},
		{func(u *User) { u.ImmutableID = "" }, "immutableId"},
		{func(u *User) { u.ImmutableID = "has_underscore" }, "immutableId"},
		{func(u *User) { u.GivenName = strings.Repeat("x", 65) }, "givenName"},
		{func(u *User) { u.JobTitle = "line\nbreak" }, "jobTitle"},
		{func(u *User) { u.DisplayName = string([]byte{0xff, 0xfe}) }, "displayName"},
	}
	for i, b := range bad {
		u := base
		b.mutate(&u)
		_, err := ValidateUser(u, org)
		ve, ok := AsValidation(err)
		if !ok || !slices.Contains(ve.Fields(), b.field) {
			t.Errorf("case %d: error %v; want one naming %s", i, err, b.field)
		}
	}
	// No suffix and a plain username: the UPN cannot be formed.
	if _, err := ValidateUser(base, Organization{Name: "NoSuffix"}); err == nil {
		t.Fatal("plain username without a suffix was accepted")
	}
}

func TestValidateGroup(t *testing.T) {
	ok := []Group{
		{Name: "Office 365 Users", Type: GroupSecurity},
		{Name: "Sales", Type: GroupMicrosoft365, Email: "sales@contoso.com"},
		{Name: "All", Type: GroupDistribution, Email: "all@contoso.com", Description: "everyone"},
	}
	for _, g := range ok {
		NormalizeGroup(&g)
		if err := ValidateGroup(g); err != nil {
			t.Errorf("ValidateGroup(%+v) = %v", g, err)
		}
	}
	bad := []struct {
		g     Group
		field string
	}{
		{Group{Name: "", Type: GroupSecurity}, "name"},
		{Group{Name: "x", Type: "unified"}, "type"},
		{Group{Name: "x", Type: GroupMailEnabledSecurity}, "email"},
		{Group{Name: "x", Type: GroupDistribution}, "email"},
		{Group{Name: "x", Type: GroupSecurity, Email: "nope"}, "email"},
	}
	for _, b := range bad {
		ve, ok := AsValidation(ValidateGroup(b.g))
		if !ok || !slices.Contains(ve.Fields(), b.field) {
			t.Errorf("ValidateGroup(%+v): want error naming %s", b.g, b.field)
		}
	}
	g := Group{Name: " Sales "}
	NormalizeGroup(&g)
	if g.Type != GroupSecurity || g.Name != "Sales" {
		t.Errorf("NormalizeGroup = %+v", g)
	}
}

func TestValidDomainAndCountry(t *testing.T) {
	for _, d := range []string{"contoso.com", "mail.contoso.co.uk", "xn--bcher-kva.example", "a1.io"} {
		if !ValidDomain(d) {
			t.Errorf("ValidDomain(%q) = false", d)
		}
	}
	for _, d := range []string{"", "contoso", "-contoso.com", "contoso-.com", "Contoso.com", "contoso..com", "contoso.123", strings.Repeat("a", 64) + ".com"} {
		if ValidDomain(d) {
			t.Errorf("ValidDomain(%q) = true", d)
		}
	}
	for _, c := range []string{"US", "DE", "ZW", "AD"} {
		if !ValidCountry(c) {
			t.Errorf("ValidCountry(%q) = false", c)
		}
	}
	// "SU" spans two codes in the list ("... US UY ..." has no "SU"; "AS U" would) -
	// check codes built from the separators and from neighbouring codes.
	for _, c := range []string{"", "U", "us", "XX", "D ", " D", "DA", "SA "} {
		if ValidCountry(c) {
			t.Errorf("ValidCountry(%q) = true", c)
		}
	}
}

func TestTenantAndOrganization(t *testing.T) {
	if err := ValidateTenant(Tenant{Slug: NormalizeSlug(" Acme "), Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	if ve, ok := AsValidation(ValidateTenant(Tenant{Slug: "a_b", Name: ""})); !ok || len(ve.Errors) != 2 {
		t.Fatalf("want errors on slug and name, got %v", ve)
	}
	if s := NormalizeSuffix(" Contoso.COM"); s != "@contoso.com" {
		t.Fatalf("NormalizeSuffix = %q", s)
	}
	if ve, ok := AsValidation(ValidateOrganization(Organization{Name: "x", PrincipalNameSuffix: "@nodot"})); !ok || ve.Errors[0].Field != "principalNameSuffix" {
		t.Fatalf("bad suffix accepted: %v", ve)
	}
}
