package graph

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/m365sim"
)

// TestOrganizationAndDomains reads the organization and the domains.
func TestOrganizationAndDomains(t *testing.T) {
	e := newEnv(t, func(s *m365sim.SeedFile) { s.Tenants[0].OnPremisesSyncEnabled = true })
	c, _, _ := e.client(t)
	ctx := context.Background()

	org, err := c.Organization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if org.ID != tenantID || org.DisplayName != "Contoso" || org.OnPremisesSyncEnabled == nil || !*org.OnPremisesSyncEnabled {
		t.Errorf("organization %+v", org)
	}
	var initial bool
	for _, d := range org.VerifiedDomains {
		if d.Name == "contoso.onmicrosoft.com" && d.IsInitial {
			initial = true
		}
		if d.Name == "unverified.example" {
			t.Error("unverified domain listed as verified")
		}
	}
	if !initial {
		t.Errorf("verified domains %+v", org.VerifiedDomains)
	}

	ds, err := c.ListDomains(ctx)
	if err != nil || len(ds) != 5 {
		t.Fatalf("domains %+v (%v)", ds, err)
	}
	tests := []struct {
		name                          string
		verified, initial, dflt, root bool
		authType                      string
	}{
		{"contoso.onmicrosoft.com", true, true, true, true, "Managed"},
		{"contoso.com", true, false, false, true, "Managed"},
		{"sales.contoso.com", true, false, false, false, "Managed"},
		{"unverified.example", false, false, false, true, "Managed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := c.GetDomain(ctx, tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if d.ID != tt.name || d.IsVerified != tt.verified || d.IsInitial != tt.initial || d.IsDefault != tt.dflt ||
				d.IsRoot != tt.root || d.AuthenticationType != tt.authType || d.Federated() {
				t.Errorf("domain %+v", d)
			}
		})
	}
	if _, err := c.GetDomain(ctx, "nowhere.example"); !IsNotFound(err) {
		t.Errorf("unknown domain: %v", err)
	}
}

// TestFederationConfiguration walks a domain through federate, rollover
// and disconnect (contract §3).
func TestFederationConfiguration(t *testing.T) {
	e := newEnv(t)
	c, _, _ := e.client(t)
	ctx := context.Background()
	cur, next := keys().app, keys().other

	if fs, err := c.ListFederationConfigurations(ctx, "contoso.com"); err != nil || len(fs) != 0 {
		t.Fatalf("managed domain: %v (%v)", fs, err)
	}
	want := InternalDomainFederation{
		DisplayName:                     "Portico",
		IssuerURI:                       "https://portico.example/t/contoso/apps/o365/issuer/contoso.com",
		PassiveSignInURI:                "https://portico.example/t/contoso/apps/o365/wsfed",
		SignOutURI:                      "https://portico.example/t/contoso/apps/o365/wsfed",
		SigningCertificate:              cur.Base64(),
		PreferredAuthenticationProtocol: ProtocolWSFed,
		PromptLoginBehavior:             PromptLoginTranslate,
		FederatedIdpMfaBehavior:         MfaAcceptIfDoneByIdp,
	}
	// The contract's rules are checked before anything is sent.
	bad := []struct {
		name string
		f    func(*InternalDomainFederation)
	}{
		{"no signing certificate", func(f *InternalDomainFederation) { f.SigningCertificate = "" }},
		{"no MFA behaviour", func(f *InternalDomainFederation) { f.FederatedIdpMfaBehavior = "" }},
		{"no protocol", func(f *InternalDomainFederation) { f.PreferredAuthenticationProtocol = "" }},
		{"PEM certificate", func(f *InternalDomainFederation) { f.SigningCertificate = string(cur.PEM()) }},
	}
	for _, b := range bad {
		f := want
		b.f(&f)
		if _, err := c.CreateFederationConfiguration(ctx, "contoso.com", f); err == nil || IsBadRequest(err) {
			t.Errorf("%s: %v", b.name, err)
		}
	}
	if n := e.fault.count("POST /v1.0/domains"); n != 0 {
		t.Fatalf("%d invalid creates were sent", n)
	}

	created, err := c.CreateFederationConfiguration(ctx, "contoso.com", want)
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.IssuerURI != want.IssuerURI || created.SigningCertificate != cur.Base64() ||
		created.IsSignedAuthenticationRequestRequired == nil || created.SigningCertificateUpdateStatus == nil {
		t.Fatalf("created %+v", created)
	}
	d, err := c.GetDomain(ctx, "contoso.com")
	if err != nil || !d.Federated() {
		t.Fatalf("after federation: %+v (%v)", d, err)
	}
	// A subdomain shows its root's configuration.
	if fs, err := c.ListFederationConfigurations(ctx, "sales.contoso.com"); err != nil || len(fs) != 1 || fs[0].ID != created.ID {
		t.Errorf("subdomain: %+v (%v)", fs, err)
	}
	// The issuer must be unique across the tenant's domains.
	dup := want
	if _, err := c.CreateFederationConfiguration(ctx, "fabrikam.com", dup); !IsConflict(err) && !IsBadRequest(err) {
		t.Errorf("duplicate issuer: %v", err)
	}

	// Rollover: publish the next certificate, then promote it and clear next.
	upd, err := c.UpdateFederationConfiguration(ctx, "contoso.com", created.ID, InternalDomainFederation{NextSigningCertificate: next.Base64()})
	if err != nil || upd.NextSigningCertificate != next.Base64() || upd.SigningCertificate != cur.Base64() {
		t.Fatalf("publish next: %+v (%v)", upd, err)
	}
	upd, err = c.UpdateFederationConfiguration(ctx, "contoso.com", created.ID, InternalDomainFederation{SigningCertificate: next.Base64()}, "nextSigningCertificate")
	if err != nil || upd.SigningCertificate != next.Base64() || upd.NextSigningCertificate != "" {
		t.Fatalf("promote: %+v (%v)", upd, err)
	}
	got, err := c.GetFederationConfiguration(ctx, "contoso.com", created.ID)
	if err != nil || got.SigningCertificate != next.Base64() {
		t.Fatalf("get: %+v (%v)", got, err)
	}

	if err := c.DeleteFederationConfiguration(ctx, "contoso.com", created.ID); err != nil {
		t.Fatal(err)
	}
	if d, err := c.GetDomain(ctx, "contoso.com"); err != nil || d.Federated() {
		t.Fatalf("after disconnect: %+v (%v)", d, err)
	}
	if err := c.DeleteFederationConfiguration(ctx, "contoso.com", created.ID); !IsNotFound(err) {
		t.Errorf("second delete: %v", err)
	}

	// Defederation through the domain, and a domain that cannot be federated.
	if _, err := c.CreateFederationConfiguration(ctx, "fabrikam.com", want); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateDomain(ctx, "fabrikam.com", DomainUpdate{AuthenticationType: "Managed"}); err != nil {
		t.Fatal(err)
	}
	if d, _ := c.GetDomain(ctx, "fabrikam.com"); d == nil || d.Federated() {
		t.Errorf("PATCH authenticationType Managed: %+v", d)
	}
	_, err = c.CreateFederationConfiguration(ctx, "contoso.onmicrosoft.com", want)
	if !IsBadRequest(err) || !strings.Contains(err.Error(), "contoso.onmicrosoft.com") {
		t.Errorf("initial domain: %v", err)
	}
}

// TestSubscribedSkus reads the licences.
func TestSubscribedSkus(t *testing.T) {
	e := newEnv(t)
	c, _, _ := e.client(t)
	skus, err := c.ListSubscribedSkus(context.Background())
	if err != nil || len(skus) != 1 {
		t.Fatalf("skus %+v (%v)", skus, err)
	}
	s := skus[0]
	if s.SkuID != skuE3 || s.SkuPartNumber != "ENTERPRISEPACK" || s.PrepaidUnits.Enabled != 2 || s.ConsumedUnits != 0 ||
		s.Available() != 2 || len(s.ServicePlans) != 1 || s.ServicePlans[0].ServicePlanID != planExch {
		t.Errorf("sku %+v", s)
	}
	if e.fault.count(http.MethodGet+" /v1.0/subscribedSkus") != 1 {
		t.Errorf("requests %v", e.fault.requests())
	}
}
