package federation

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/m365/cloud"
	"github.com/portico-idp/portico/internal/m365sim"
	"github.com/portico-idp/portico/internal/secrets"
	"github.com/portico-idp/portico/internal/storage/sqlite"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
)

const (
	directoryID = "6d4c3b2a-1f0e-4d9c-8b7a-665544332211"
	clientID    = "11111111-2222-4333-8444-555555555555"
	readOnlyApp = "22222222-3333-4444-8555-666666666666"
	publicURL   = "https://portico.example"
)

// fixture: Portico (SQLite) with an Office 365 application, and an
// emulated Microsoft 365 tenant whose app registration holds Portico's
// certificate.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	sim    *m365sim.Server
	admin  *admin.Service
	fed    *Service
	tenant directory.Tenant
	app    apps.Application
	kr     *secrets.Keyring
}

func simSeed(mut func(*m365sim.SeedTenant)) m365sim.SeedFile {
	t := m365sim.SeedTenant{ID: directoryID, DisplayName: "Contoso", InitialDomain: "contoso.onmicrosoft.com",
		Domains: []m365sim.SeedDomain{
			{ID: "contoso.com", IsVerified: true},
			{ID: "sales.contoso.com", IsVerified: true},
			{ID: "fabrikam.com", IsVerified: true},
			{ID: "unverified.example", IsVerified: false},
			{ID: "default.example", IsVerified: true, IsDefault: true},
			{ID: "other.example", IsVerified: true, FederationConfiguration: map[string]any{
				"displayName": "Other IdP", "issuerUri": "https://other-idp.example/adfs/services/trust",
				"passiveSignInUri": "https://other-idp.example/adfs/ls", "signingCertificate": otherCertB64,
				"preferredAuthenticationProtocol": "wsFed", "federatedIdpMfaBehavior": "acceptIfMfaDoneByFederatedIdp"}},
		},
		Apps: []m365sim.SeedApp{
			{ClientID: clientID, DisplayName: "Portico", DirectoryRoles: []string{"Global Administrator"},
				ApplicationPermissions: []string{"Domain.ReadWrite.All", "User.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}},
			{ClientID: readOnlyApp, DisplayName: "Half configured", ApplicationPermissions: []string{"User.ReadWrite.All", "Directory.ReadWrite.All"}},
		},
	}
	if mut != nil {
		mut(&t)
	}
	return m365sim.SeedFile{Tenants: []m365sim.SeedTenant{t}}
}

func newFixture(t *testing.T, mut func(*m365sim.SeedTenant)) *fixture {
	t.Helper()
	ctx := authz.With(context.Background(), authz.System("test"))
	sim, err := m365sim.New(m365sim.WithAddr("127.0.0.1:0"), m365sim.WithSeed(simSeed(mut)))
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mk, _ := secrets.NewMasterKey(make([]byte, 32))
	kr, _ := secrets.NewKeyring(nil, mk)
	// The emulator is allowed as the server's --m365-allow-endpoint does.
	allow, err := cloud.ParseAllowList(strings.TrimPrefix(sim.URL(), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	adm := admin.New(st, admin.WithKeyring(kr), admin.WithMicrosoftEndpoints(allow))
	f := &fixture{t: t, ctx: ctx, sim: sim, admin: adm, kr: kr,
		fed: New(adm, kr, publicURL, WithHTTPClient(sim.Client()), WithEndpoints(allow))}
	if f.tenant, _, err = adm.CreateTenant(ctx, "contoso", "Contoso", "@contoso.com"); err != nil {
		t.Fatal(err)
	}
	f.app, err = adm.CreateApplication(ctx, f.tenant.ID, apps.Application{Name: "Office 365", Enabled: true,
		Office365: &apps.Office365Settings{Domains: apps.Domains("contoso.com"), Federation: apps.Federation{
			ClientID: clientID, DirectoryID: directoryID, AuthorityURL: sim.URL(), GraphURL: sim.URL() + "/v1.0"}}})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := adm.SigningKeys(ctx, f.tenant.ID, f.app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.RegisterAppCertificate(directoryID, clientID, keys.Current.Cert); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) update(change func(a *apps.Application)) {
	f.t.Helper()
	a, err := f.admin.UpdateApplication(f.ctx, f.tenant.ID, f.app.ID, 0, func(a *apps.Application) error { change(a); return nil })
	if err != nil {
		f.t.Fatal(err)
	}
	f.app = a
}

// simDomain returns the sim's view of a domain and its federation.
func (f *fixture) simDomain(name string) m365sim.SeedDomain {
	f.t.Helper()
	for _, d := range f.sim.Dump().Tenants[0].Domains {
		if d.ID == name {
			return d
		}
	}
	f.t.Fatalf("sim has no domain %s", name)
	return m365sim.SeedDomain{}
}

func check(t *testing.T, rep Report, id string, want Status) Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.ID == id {
			if c.Status != want {
				t.Fatalf("check %s = %s (%s; fix: %s); want %s", id, c.Status, c.Detail, c.Fix, want)
			}
			return c
		}
	}
	t.Fatalf("no check %s in %+v", id, rep.Checks)
	return Check{}
}

func TestVerifyAndFederate(t *testing.T) {
	f := newFixture(t, nil)
	rep, err := f.fed.Verify(f.ctx, f.tenant, f.app, "contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"settings", "token", "permissions", "federate", "hybrid", "domain", "verified", "initial", "default", "root", "state", "issuers"} {
		check(t, rep, id, Pass)
	}
	if !rep.Compatible || rep.State != StateManaged || rep.Issuer != publicURL+"/t/contoso/apps/"+f.app.ID+"/issuer" {
		t.Fatalf("report %+v", rep)
	}

	res, err := f.fed.Federate(f.ctx, f.tenant, f.app, "contoso.com")
	if err != nil || res.Action != "created" || res.State != StateFederatedHere {
		t.Fatalf("federate: %+v %v", res, err)
	}
	d := f.simDomain("contoso.com")
	keys, _ := f.admin.SigningKeys(f.ctx, f.tenant.ID, f.app.ID)
	fc := d.FederationConfiguration
	if fc["issuerUri"] != rep.Issuer || fc["signingCertificate"] != keys.Current.Base64() ||
		fc["passiveSignInUri"] != publicURL+"/t/contoso/apps/"+f.app.ID+"/wsfed" ||
		fc["activeSignInUri"] != publicURL+"/t/contoso/apps/"+f.app.ID+"/wstrust/13/usernamemixed" ||
		fc["metadataExchangeUri"] != publicURL+"/t/contoso/apps/"+f.app.ID+"/wstrust/mex" ||
		fc["preferredAuthenticationProtocol"] != "wsFed" || fc["federatedIdpMfaBehavior"] != "acceptIfMfaDoneByFederatedIdp" ||
		fc["promptLoginBehavior"] != "translateToFreshPasswordAuthentication" {
		t.Fatalf("federation configuration in Microsoft 365: %v", fc)
	}
	app, _ := f.admin.Store().GetApplication(f.ctx, f.tenant.ID, f.app.ID)
	if got := app.Office365.FederatedDomains(); len(got) != 1 || got[0] != "contoso.com" {
		t.Fatalf("recorded federated domains %v", got)
	}

	// Idempotent: a second run writes nothing.
	res, err = f.fed.Federate(f.ctx, f.tenant, app, "contoso.com")
	if err != nil || res.Action != "unchanged" {
		t.Fatalf("second federate: %+v %v", res, err)
	}
	// A changed behaviour is an update of exactly that property.
	f.app = app
	f.update(func(a *apps.Application) { a.Office365.MFABehavior = "enforceMfaByFederatedIdp" })
	res, err = f.fed.Federate(f.ctx, f.tenant, f.app, "contoso.com")
	if err != nil || res.Action != "updated" || strings.Join(res.Changed, ",") != "federatedIdpMfaBehavior" {
		t.Fatalf("update: %+v %v", res, err)
	}
	if f.simDomain("contoso.com").FederationConfiguration["federatedIdpMfaBehavior"] != "enforceMfaByFederatedIdp" {
		t.Fatal("behaviour not updated in Microsoft 365")
	}
	// Verifying a federated domain says it is ours.
	rep, _ = f.fed.Verify(f.ctx, f.tenant, f.app, "contoso.com")
	if rep.State != StateFederatedHere || !rep.Compatible {
		t.Fatalf("after federation: %+v", rep)
	}
	// A subdomain follows its root.
	rep, _ = f.fed.Verify(f.ctx, f.tenant, f.app, "sales.contoso.com")
	check(t, rep, "root", Warn)
	if rep.RootDomain != "contoso.com" {
		t.Fatalf("root of sales.contoso.com = %s", rep.RootDomain)
	}
	if _, err := f.fed.Federate(f.ctx, f.tenant, f.app, "sales.contoso.com"); !errors.Is(err, ErrNotRoot) {
		t.Fatalf("federate a subdomain: %v", err)
	}
}

func TestVerifyRefusals(t *testing.T) {
	f := newFixture(t, nil)
	for _, c := range []struct {
		domain, check string
	}{
		{"contoso.onmicrosoft.com", "initial"},
		{"default.example", "default"},
		{"unverified.example", "verified"},
		{"nowhere.example", "domain"},
		{"other.example", "state"},
	} {
		rep, err := f.fed.Verify(f.ctx, f.tenant, f.app, c.domain)
		if err != nil {
			t.Fatal(err)
		}
		cc := check(t, rep, c.check, Fail)
		if rep.Compatible || cc.Fix == "" {
			t.Fatalf("%s: %+v", c.domain, rep)
		}
	}
	// Never taken over: federating the other IdP's domain changes nothing.
	before := f.simDomain("other.example").FederationConfiguration["issuerUri"]
	if _, err := f.fed.Federate(f.ctx, f.tenant, f.app, "other.example"); !errors.Is(err, ErrNotCompatible) {
		t.Fatalf("federate a domain federated elsewhere: %v", err)
	}
	if f.simDomain("other.example").FederationConfiguration["issuerUri"] != before {
		t.Fatal("the other identity provider's federation was changed")
	}
	if _, err := f.fed.Federate(f.ctx, f.tenant, f.app, "contoso.onmicrosoft.com"); !errors.Is(err, ErrNotCompatible) {
		t.Fatalf("federate the initial domain: %v", err)
	}
}

func TestVerifyHybridTenant(t *testing.T) {
	f := newFixture(t, func(st *m365sim.SeedTenant) { st.OnPremisesSyncEnabled = true })
	rep, _ := f.fed.Verify(f.ctx, f.tenant, f.app, "contoso.com")
	check(t, rep, "hybrid", Fail)
}

func TestVerifyCredentialsAndPermissions(t *testing.T) {
	f := newFixture(t, nil)
	keys, _ := f.admin.SigningKeys(f.ctx, f.tenant.ID, f.app.ID)

	f.update(func(a *apps.Application) { a.Office365.ClientID = "99999999-9999-4999-8999-999999999999" })
	rep, _ := f.fed.Verify(f.ctx, f.tenant, f.app, "contoso.com")
	c := check(t, rep, "token", Fail)
	if !strings.Contains(c.Detail, "700016") || !strings.Contains(c.Fix, "Application (client) ID") {
		t.Fatalf("wrong client id: %+v", c)
	}
	f.update(func(a *apps.Application) {
		a.Office365.ClientID, a.Office365.DirectoryID = clientID, "99999999-9999-4999-8999-999999999999"
	})
	rep, _ = f.fed.Verify(f.ctx, f.tenant, f.app, "contoso.com")
	if c := check(t, rep, "token", Fail); !strings.Contains(c.Detail, "90002") {
		t.Fatalf("wrong tenant id: %+v", c)
	}
	// The certificate of another application is not registered.
	f.update(func(a *apps.Application) { a.Office365.DirectoryID, a.Office365.ClientID = directoryID, readOnlyApp })
	rep, _ = f.fed.Verify(f.ctx, f.tenant, f.app, "contoso.com")
	c = check(t, rep, "token", Fail)
	if !strings.Contains(c.Detail, "700027") && !strings.Contains(c.Detail, "7000218") || !strings.Contains(c.Fix, keys.Current.ThumbprintSHA1()) {
		t.Fatalf("certificate not uploaded: %+v", c)
	}
	// Registered, but short of roles and of the Global Administrator role.
	if err := f.sim.RegisterAppCertificate(directoryID, readOnlyApp, keys.Current.Cert); err != nil {
		t.Fatal(err)
	}
	rep, _ = f.fed.Verify(f.ctx, f.tenant, f.app, "contoso.com")
	c = check(t, rep, "permissions", Fail)
	if !strings.Contains(c.Detail, "Domain.ReadWrite.All") || !strings.Contains(c.Detail, "Group.ReadWrite.All") || strings.Contains(c.Detail, "User.ReadWrite.All") {
		t.Fatalf("missing roles: %+v", c)
	}
	c = check(t, rep, "federate", Fail)
	if !strings.Contains(c.Fix, "Global Administrator") {
		t.Fatalf("federate permission: %+v", c)
	}
	// Incomplete settings are named before anything is called.
	f.update(func(a *apps.Application) { a.Office365.ClientID = "" })
	rep, _ = f.fed.Verify(f.ctx, f.tenant, f.app, "contoso.com")
	if c := check(t, rep, "settings", Fail); !strings.Contains(c.Detail, "Application (client) ID") {
		t.Fatalf("settings: %+v", c)
	}
}

func TestSeveralDomains(t *testing.T) {
	f := newFixture(t, nil)
	// Two domains, neither "one of several": they would share the single
	// issuer, which Entra refuses; Verify says what to tick.
	f.update(func(a *apps.Application) {
		a.Office365.Domains = []apps.Domain{{Name: "contoso.com"}, {Name: "fabrikam.com"}}
	})
	if _, err := f.fed.Federate(f.ctx, f.tenant, f.app, "contoso.com"); err != nil {
		t.Fatal(err)
	}
	f.app, _ = f.admin.Store().GetApplication(f.ctx, f.tenant.ID, f.app.ID)
	rep, _ := f.fed.Verify(f.ctx, f.tenant, f.app, "fabrikam.com")
	if c := check(t, rep, "issuers", Fail); !strings.Contains(c.Fix, "one of several") {
		t.Fatalf("shared issuer: %+v", c)
	}
	// Ticked for both: each gets its own issuer; contoso.com's is updated.
	f.update(func(a *apps.Application) {
		for i := range a.Office365.Domains {
			a.Office365.Domains[i].OneOfSeveral = true
		}
	})
	for _, d := range []string{"contoso.com", "fabrikam.com"} {
		if res, err := f.fed.Federate(f.ctx, f.tenant, f.app, d); err != nil || res.State != StateFederatedHere {
			t.Fatalf("federate %s: %+v %v", d, res, err)
		}
		f.app, _ = f.admin.Store().GetApplication(f.ctx, f.tenant.ID, f.app.ID)
	}
	a, b := f.simDomain("contoso.com").FederationConfiguration["issuerUri"], f.simDomain("fabrikam.com").FederationConfiguration["issuerUri"]
	base := publicURL + "/t/contoso/apps/" + f.app.ID + "/issuer/"
	if a != base+"contoso.com" || b != base+"fabrikam.com" {
		t.Fatalf("issuers %v and %v", a, b)
	}
}

func TestManualAndDisconnect(t *testing.T) {
	f := newFixture(t, nil)
	m, err := f.fed.Manual(f.ctx, f.tenant, f.app, "contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := f.admin.SigningKeys(f.ctx, f.tenant.ID, f.app.ID)
	var body map[string]any
	if err := json.Unmarshal([]byte(m.GraphBody), &body); err != nil {
		t.Fatal(err)
	}
	if body["@odata.type"] != "#microsoft.graph.internalDomainFederation" || body["signingCertificate"] != keys.Current.Base64() ||
		m.GraphURL != "https://graph.microsoft.com/v1.0/domains/contoso.com/federationConfiguration" ||
		!strings.Contains(m.PowerShell, `New-MgDomainFederationConfiguration -DomainId "contoso.com" -BodyParameter $params`) ||
		!strings.Contains(m.PowerShell, `issuerUri = "`+publicURL) || !strings.HasPrefix(m.CertificatePEM, "-----BEGIN CERTIFICATE-----") ||
		m.CertificateBase64 != keys.Current.Base64() || strings.Contains(m.CertificateBase64, "\n") {
		t.Fatalf("manual settings: %+v", m)
	}

	if _, err := f.fed.Federate(f.ctx, f.tenant, f.app, "contoso.com"); err != nil {
		t.Fatal(err)
	}
	f.app, _ = f.admin.Store().GetApplication(f.ctx, f.tenant.ID, f.app.ID)
	if _, err := f.fed.Disconnect(f.ctx, f.tenant, f.app, "contoso.com"); !errors.Is(err, ErrAutomaticMode) {
		t.Fatalf("disconnect with Federate automatically on: %v", err)
	}
	off := false
	f.update(func(a *apps.Application) { a.Office365.FederateAutomatically = &off })
	if _, err := f.fed.Federate(f.ctx, f.tenant, f.app, "contoso.com"); !errors.Is(err, ErrManualMode) {
		t.Fatalf("federate in manual mode: %v", err)
	}
	res, err := f.fed.Disconnect(f.ctx, f.tenant, f.app, "contoso.com")
	if err != nil || res.Action != "deleted" || res.State != StateManaged || !strings.Contains(res.Message, "cloud passwords") {
		t.Fatalf("disconnect: %+v %v", res, err)
	}
	if d := f.simDomain("contoso.com"); d.FederationConfiguration != nil {
		t.Fatalf("still federated in Microsoft 365: %v", d.FederationConfiguration)
	}
	// Another identity provider's domain is never touched.
	if _, err := f.fed.Disconnect(f.ctx, f.tenant, f.app, "other.example"); !errors.Is(err, ErrElsewhere) {
		t.Fatalf("disconnect another IdP's domain: %v", err)
	}
	if f.simDomain("other.example").FederationConfiguration == nil {
		t.Fatal("another identity provider's federation was removed")
	}
}

func TestRollover(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.fed.Federate(f.ctx, f.tenant, f.app, "contoso.com"); err != nil {
		t.Fatal(err)
	}
	f.app, _ = f.admin.Store().GetApplication(f.ctx, f.tenant.ID, f.app.ID)
	old, _ := f.admin.SigningKeys(f.ctx, f.tenant.ID, f.app.ID)
	// The next certificate is not on the app registration yet: the rollover
	// stops before Portico would lock itself out of Graph, and says what to
	// upload.
	steps, err := f.fed.Rollover(f.ctx, f.tenant, f.app)
	pending, _ := f.admin.SigningKeys(f.ctx, f.tenant.ID, f.app.ID)
	if !errors.Is(err, ErrNextNotRegistered) || pending.Next == nil || len(steps) != 2 ||
		!strings.Contains(steps[1].Detail, pending.Next.ThumbprintSHA1()) || pending.Current.Base64() != old.Current.Base64() {
		t.Fatalf("rollover without the next certificate registered: %v %+v", err, steps)
	}
	if fc := f.simDomain("contoso.com").FederationConfiguration; fc["nextSigningCertificate"] != nil {
		t.Fatalf("a stopped rollover published the next certificate: %v", fc)
	}
	if err := f.sim.RegisterAppCertificate(directoryID, clientID, pending.Next.Cert); err != nil {
		t.Fatal(err)
	}
	steps, err = f.fed.Rollover(f.ctx, f.tenant, f.app)
	if err != nil {
		t.Fatalf("rollover: %v %+v", err, steps)
	}
	now, _ := f.admin.SigningKeys(f.ctx, f.tenant.ID, f.app.ID)
	fc := f.simDomain("contoso.com").FederationConfiguration
	if now.Current.Base64() == old.Current.Base64() || fc["signingCertificate"] != now.Current.Base64() || fc["nextSigningCertificate"] != nil {
		t.Fatalf("after rollover: %v", fc)
	}
	if len(steps) != 5 {
		t.Fatalf("steps %+v", steps)
	}
	// Portico still reaches Graph with the new certificate.
	if rep, _ := f.fed.Verify(f.ctx, f.tenant, f.app, "contoso.com"); !rep.Compatible || rep.State != StateFederatedHere {
		t.Fatalf("after rollover: %+v", rep)
	}
}

// otherCertB64 is another identity provider's signing certificate.
var otherCertB64 = func() string {
	c, err := signingCert()
	if err != nil {
		panic(err)
	}
	return c
}()
