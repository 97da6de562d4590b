package main

import (
	"context"
	"encoding/json"
	"fmt"
	m365sync "github.com/portico-idp/portico/internal/m365/sync"
	"github.com/portico-idp/portico/internal/syncrecord"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/spf13/pflag"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/idp/endpoints"
	"github.com/portico-idp/portico/internal/m365sim"
	"github.com/portico-idp/portico/internal/web"
)

// demoInfo is what "portico demo --json" prints once everything is ready.
// Scripts rely on these keys: add keys, never rename or remove them.
type demoInfo struct {
	PorticoURL     string `json:"portico_url"`
	MetricsURL     string `json:"metrics_url"`
	Tenant         string `json:"tenant"`
	AppID          string `json:"app_id"`
	APIToken       string `json:"api_token"`
	GlobalAPIToken string `json:"global_api_token"`
	// HelpdeskAPIToken has the helpdesk role in the demo tenant: users'
	// passwords, authenticators and sessions, nothing else.
	HelpdeskAPIToken string     `json:"helpdesk_api_token"`
	DataDir          string     `json:"data_dir"`
	Domain           string     `json:"domain"`
	Thumbprint       string     `json:"certificate_thumbprint"`
	M365SimURL       string     `json:"m365sim_url"`
	M365SimCAPEM     string     `json:"m365sim_ca_pem"`
	M365SimView      string     `json:"m365sim_view_url"`
	SigninURL        string     `json:"signin_url"`
	Admin            demoAdmin  `json:"admin"`
	Users            []demoUser `json:"users"`
	// SyncRunID is the first export run, which created the Office 365
	// Users group's members in Microsoft 365 with a licence each.
	SyncRunID string `json:"sync_run_id"`
	// SyncCounts are that run's counts (users in scope, writes, ...).
	SyncCounts syncrecord.Counts `json:"sync_counts"`
}

// demoAdmin is the Microsoft 365 tenant's global administrator (an
// @….onmicrosoft.com cloud account, as the Microsoft Online mode uses).
type demoAdmin struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type demoUser struct {
	Username    string `json:"username"`
	UPN         string `json:"upn"`
	ImmutableID string `json:"immutable_id"`
	Password    string `json:"password,omitempty"`
	// TOTPSecret is empty for a user who will enrol an authenticator at
	// the first sign-in.
	TOTPSecret string `json:"totp_secret,omitempty"`
}

// The demo's fixed identifiers and secrets (its data is thrown away when it
// stops).
const (
	demoPassword    = "Portico-demo-1"
	demoDirectoryID = "c0a1b2c3-d4e5-4f60-8a7b-9c0d1e2f3a4b"
	demoClientID    = "5e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
	demoAdminUser   = "admin@contoso.onmicrosoft.com"
	demoAdminPass   = "Admin-demo-1"
)

func demoFlags(fs *pflag.FlagSet) runFunc {
	addr := fs.String("addr", "127.0.0.1:8080", "Portico's address (a free port is used when it is taken)")
	simAddr := fs.String("m365sim-addr", "127.0.0.1:8443", "the emulator's address (a free port is used when it is taken)")
	asJSON := fs.Bool("json", false, "print one JSON object with URLs and credentials on standard output once ready")
	keep := fs.Bool("keep", false, "keep the temporary data directory on exit")
	logLevel := fs.String("log-level", "warn", "server log level (logs go to standard error)")
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		dir, err := os.MkdirTemp("", "portico-demo-")
		if err != nil {
			return err
		}
		if !*keep {
			defer os.RemoveAll(dir)
		}
		log, err := newLogger(stderr, *logLevel)
		if err != nil {
			return err
		}

		sim, err := startDemoSim(ctx, *simAddr, filepath.Join(dir, "m365sim-ca.pem"))
		if err != nil {
			return err
		}
		defer sim.Close()

		cfg := demoServeConfig(dir, *addr, sim)
		// The root page links the demo's pages once they are seeded.
		var links atomic.Pointer[[]web.Link]
		cfg.homeLinks = func() []web.Link {
			if l := links.Load(); l != nil {
				return *l
			}
			return nil
		}
		s, err := startServer(ctx, cfg, log)
		if err != nil && strings.Contains(err.Error(), "address already in use") {
			cfg.addr = "127.0.0.1:0"
			s, err = startServer(ctx, cfg, log)
		}
		if err != nil {
			return err
		}
		info, err := seedDemo(ctx, s, sim)
		if err != nil {
			s.close()
			s.wait(ctx)
			return fmt.Errorf("seed demo data: %w", err)
		}
		info.DataDir = dir
		info.MetricsURL = s.MetricsURL
		info.M365SimCAPEM = filepath.Join(dir, "m365sim-ca.pem")
		l := demoLinks(info)
		links.Store(&l)
		if *asJSON {
			if err := json.NewEncoder(stdout).Encode(info); err != nil {
				return err
			}
		} else {
			printDemo(stdout, info)
		}
		return s.wait(ctx)
	}
}

// demoServeConfig is how the demo (and the end-to-end tests) start
// Portico next to the emulator: calls to Microsoft go to the emulator,
// which --m365-allow-endpoint allows, and WS-Trust answers on the plain
// http public URL (--insecure-allow-http-wstrust), as a development
// machine has no certificate for Portico.
func demoServeConfig(dataDir, addr string, sim *m365sim.Server) serveConfig {
	return serveConfig{store: storeFlags{dataDir: dataDir}, addr: addr, m365Client: sim.Client(),
		m365Allow: stringList{strings.TrimPrefix(sim.URL(), "https://")}, insecureHTTPWSTrust: true,
		// Metrics on a free loopback port: the demo must not collide with
		// a Portico (or another exporter) already on 9464.
		metricsAddr: "127.0.0.1:0"}
}

// startDemoSim starts the emulator (HTTPS: MSAL accepts nothing else) with
// Microsoft's throttling limits, writing its CA where browsers and curl
// can be told to trust it.
func startDemoSim(ctx context.Context, addr, caOut string) (*m365sim.Server, error) {
	start := func(addr string) (*m365sim.Server, error) {
		sim, err := m365sim.New(m365sim.WithAddr(addr), m365sim.WithCertOut(caOut),
			m365sim.WithThrottling(m365sim.ThrottleConfig{Enabled: true}))
		if err != nil {
			return nil, err
		}
		if err := sim.Start(ctx); err != nil {
			return nil, err
		}
		return sim, nil
	}
	sim, err := start(addr)
	if err != nil && strings.Contains(err.Error(), "address already in use") {
		sim, err = start("127.0.0.1:0")
	}
	if err != nil {
		return nil, fmt.Errorf("start m365sim: %w", err)
	}
	return sim, nil
}

// demoPeople are the directory's users. The first three are in the
// "Office 365 Users" group and have passwords; ann.lee has no
// authenticator yet and enrols one at her first sign-in; megan.bowen was
// "imported" and has not onboarded.
var demoPeople = []struct {
	user   directory.User
	secret string
}{
	{directory.User{Username: "john.smith", GivenName: "John", FamilyName: "Smith", Email: "john.smith@contoso.com", JobTitle: "Sales Manager", Department: "Sales", UsageLocation: "US"}, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"},
	{directory.User{Username: "ann.lee", GivenName: "Ann", FamilyName: "Lee", Email: "ann.lee@contoso.com", JobTitle: "Engineer", Department: "R&D", UsageLocation: "GB"}, ""},
	{directory.User{Username: "adele.vance@contoso.com", GivenName: "Adele", FamilyName: "Vance", Email: "adele.vance@contoso.com", JobTitle: "Retail Manager", Department: "Retail", UsageLocation: "US"}, "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"},
	{directory.User{Username: "megan.bowen", GivenName: "Megan", FamilyName: "Bowen", Email: "megan.bowen@contoso.com", Status: directory.StatusPending, UsageLocation: "US"}, ""},
}

// seedDemo builds both sides of the seed guide: the Portico tenant
// (organization with suffix, users with passwords and TOTP, the "Office 365
// Users" group, the Office 365 application) and the Microsoft 365 tenant
// (initial domain, the verified custom domain, an app registration with the
// guide's permissions, the Global Administrator role and Portico's
// certificate, users with their immutable ids, two licences), then
// federates the domain through Microsoft Graph, as the Federation tab does.
func seedDemo(ctx context.Context, s *server, sim *m365sim.Server) (demoInfo, error) {
	info := demoInfo{PorticoURL: s.URL, Tenant: "contoso", Domain: "contoso.com", M365SimURL: sim.URL(),
		M365SimView: sim.URL() + "/_sim/", Admin: demoAdmin{Username: demoAdminUser, Password: demoAdminPass}}
	// The seeding is Portico's own work, audited as the system's.
	ctx = authz.With(ctx, authz.System("demo"))
	svc := s.Admin
	t, org, err := svc.CreateTenant(ctx, "contoso", "Contoso", "@contoso.com")
	if err != nil {
		return info, err
	}
	group, err := svc.CreateGroup(ctx, t.ID, directory.Group{Name: "Office 365 Users", Type: directory.GroupSecurity,
		Description: "Users who may sign in to Office 365 through Portico"})
	if err != nil {
		return info, err
	}
	simUsers := []m365sim.SeedObject{{"userPrincipalName": demoAdminUser, "displayName": "MOD Administrator",
		"password": demoAdminPass, "directoryRoles": []any{"Global Administrator"}, "usageLocation": "US"}}
	for i, p := range demoPeople {
		p.user.OrganizationID = org.ID
		u, err := svc.CreateUser(ctx, t.ID, p.user)
		if err != nil {
			return info, fmt.Errorf("user %s: %w", p.user.Username, err)
		}
		du := demoUser{Username: u.Username, UPN: u.UPN, ImmutableID: u.ImmutableID}
		if i < 3 {
			if err := svc.AddGroupMember(ctx, t.ID, group.ID, u.ID); err != nil {
				return info, err
			}
			if err := s.Signin.SetPassword(ctx, t.ID, u.ID, demoPassword); err != nil {
				return info, err
			}
			du.Password = demoPassword
			// Their Microsoft 365 side is made by the first export below.
		}
		if p.secret != "" {
			if _, err := s.Signin.EnrolTOTP(ctx, u, p.secret); err != nil {
				return info, err
			}
			du.TOTPSecret = p.secret
		}
		info.Users = append(info.Users, du)
	}
	err = sim.Seed(m365sim.SeedFile{Tenants: []m365sim.SeedTenant{{
		ID: demoDirectoryID, DisplayName: "Contoso", InitialDomain: "contoso.onmicrosoft.com", CountryLetterCode: "US",
		Domains: []m365sim.SeedDomain{{ID: "contoso.com", IsVerified: true}},
		Apps: []m365sim.SeedApp{
			{ClientID: demoClientID, DisplayName: "Portico", DirectoryRoles: []string{"Global Administrator"},
				ApplicationPermissions: []string{"Domain.ReadWrite.All", "User.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}},
			{ClientID: apps.AzureADPowerShellClientID, DisplayName: "Azure Active Directory PowerShell",
				DelegatedPermissions: []string{"Directory.AccessAsUser.All", "Domain.ReadWrite.All", "User.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}},
		},
		SubscribedSkus: []m365sim.SeedSKU{
			{SkuID: "6fd2c87f-b296-42f0-b197-1e91e994b900", SkuPartNumber: "ENTERPRISEPACK", PrepaidUnits: m365sim.SeedUnits{Enabled: 25}},
			{SkuID: "f245ecc8-75af-4f8e-b61f-27d8114de5f3", SkuPartNumber: "O365_BUSINESS_PREMIUM", PrepaidUnits: m365sim.SeedUnits{Enabled: 10}},
		},
		Users: simUsers,
	}}})
	if err != nil {
		return info, fmt.Errorf("seed m365sim: %w", err)
	}

	app, err := svc.CreateApplication(ctx, t.ID, apps.Application{Kind: apps.KindOffice365, Name: "Office 365", Enabled: true,
		GroupIDs: []string{group.ID}, Office365: &apps.Office365Settings{
			LoginURL: sim.URL() + "/login.srf", Domains: apps.Domains("contoso.com"),
			// Synchronization tab: export the group's members, one
			// ENTERPRISEPACK licence each, usage location US.
			Sync: apps.Sync{ExportEnabled: true, DefaultLicense: "ENTERPRISEPACK", UsageLocation: "US"},
			Federation: apps.Federation{Mode: apps.ModeGraph, ClientID: demoClientID, DirectoryID: demoDirectoryID,
				AuthorityURL: sim.URL(), GraphURL: sim.URL() + "/v1.0"}}})
	if err != nil {
		return info, fmt.Errorf("office 365 application: %w", err)
	}
	info.AppID = app.ID
	keys, err := svc.SigningKeys(ctx, t.ID, app.ID)
	if err != nil {
		return info, err
	}
	info.Thumbprint = keys.Current.ThumbprintSHA1()
	// Step 2 of the guide: upload Portico's certificate to the app
	// registration.
	if err := sim.RegisterAppCertificate(demoDirectoryID, demoClientID, keys.Current.Cert); err != nil {
		return info, err
	}
	res, err := s.Fed.Federate(ctx, t, app, "contoso.com")
	if err != nil {
		return info, fmt.Errorf("federate contoso.com: %w (%s)", err, res.Message)
	}
	// The first export: the group's members appear in Microsoft 365 with
	// their immutable ids (so that federated sign-in finds them) and a
	// licence each.
	run, err := s.Sync.Run(ctx, t.ID, app.ID, m365sync.RunOptions{})
	if err != nil {
		return info, fmt.Errorf("first export to Microsoft 365: %w", err)
	}
	if run.State != syncrecord.RunDone || run.Counts.Failed > 0 {
		return info, fmt.Errorf("first export to Microsoft 365 ended %s with %d failed operations: %s", run.State, run.Counts.Failed, run.Message)
	}
	info.SyncRunID, info.SyncCounts = run.ID, run.Counts
	if info.APIToken, _, err = svc.CreateAPIToken(ctx, t.ID, "demo", authz.TenantAdmin); err != nil {
		return info, err
	}
	if info.GlobalAPIToken, _, err = svc.CreateAPIToken(ctx, "", "demo-global", authz.Global); err != nil {
		return info, err
	}
	if info.HelpdeskAPIToken, _, err = svc.CreateAPIToken(ctx, t.ID, "demo-helpdesk", authz.Helpdesk); err != nil {
		return info, err
	}
	// mfa=1 asks for MFA as a Conditional Access policy would (the
	// emulator's "Require MFA" box), so that the emulator shows Portico's
	// second factor satisfying it, as the printed steps say.
	info.SigninURL = sim.URL() + "/common/login?" + url.Values{"username": {"john.smith@contoso.com"}, "mfa": {"1"}}.Encode()
	return info, nil
}

// demoLinks are the root page's links to the demo's pages.
func demoLinks(info demoInfo) []web.Link {
	return []web.Link{
		{Title: "Sign-in test", URL: info.SigninURL, Note: "Office 365 sign-in as john.smith through Portico, password " + demoPassword + ", MFA required"},
		{Title: "Microsoft 365 emulator", URL: info.M365SimView, Note: "tenant view and sign-in log (self-signed certificate)"},
		{Title: "WS-Federation metadata of the Office 365 application", URL: endpoints.FederationMetadata(info.PorticoURL, info.Tenant, info.AppID)},
		{Title: "SAML 2.0 metadata of the Office 365 application", URL: endpoints.SAMLMetadata(info.PorticoURL, info.Tenant, info.AppID)},
	}
}

func printDemo(w io.Writer, info demoInfo) {
	fmt.Fprintf(w, `Portico demo is running (press Ctrl-C to stop; all data is thrown away).

Sign in to "Office 365" through Portico in a browser:
  1. Open %s
     (the emulated Microsoft 365 sign-in page; its certificate is self-signed: accept it once,
      or trust %s)
  2. Microsoft 365 sees that contoso.com is federated and sends you to Portico.
  3. Sign in as john.smith, password %s, then the code of TOTP secret %s
     (add it to an authenticator app, or in another terminal: portico totp code --secret %s
      — from the source checkout, go run ./cmd/portico totp code ...).
  4. Portico posts the signed token back; Microsoft 365 shows who signed in, and
     "MFA: done by federatedIdp" (the link asks for MFA, as a Conditional Access policy would).
  ann.lee (same password) has no authenticator yet: Portico shows a QR code to enrol one.

  Portico         %s      (start page with these links; health /healthz)
  Metrics         %s   (Prometheus; loopback only)
  Admin API       %s/api/v1   (OpenAPI: /api/v1/openapi.json)
  Tenant          %s   (organization Contoso, principal name suffix @contoso.com)
  API tokens      %s (tenant administrator of contoso)
                  %s (global: every tenant)
                  %s (helpdesk of contoso: passwords, authenticators, sessions)
  Office 365 app  %s   (group "Office 365 Users", policy "Password and authenticator app")
  Certificate     thumbprint %s, uploaded to the app registration
  Microsoft 365   %s   (tenant view: %s)
                  domain %s federated to Portico; administrator %s / %s

Directory users (a plain username gets the organization's suffix as its UPN):
`, info.SigninURL, info.M365SimCAPEM, demoPassword, info.Users[0].TOTPSecret, info.Users[0].TOTPSecret,
		info.PorticoURL, info.MetricsURL, info.PorticoURL, info.Tenant, info.APIToken, info.GlobalAPIToken, info.HelpdeskAPIToken, info.AppID, info.Thumbprint,
		info.M365SimURL, info.M365SimView, info.Domain, info.Admin.Username, info.Admin.Password)
	for _, u := range info.Users {
		totp := "enrols an authenticator at first sign-in"
		switch {
		case u.TOTPSecret != "":
			totp = "TOTP secret " + u.TOTPSecret
		case u.Password == "":
			totp = "pending: no password, not in the Office 365 group"
		}
		fmt.Fprintf(w, "  %-26s UPN %-28s %s\n", u.Username, u.UPN, totp)
	}
	fmt.Fprintf(w, `
Federation tab from the command line (against this demo):
  curl -s -X POST -H 'Authorization: Bearer %s' %s/api/v1/tenants/%s/applications/%s/federation/verify
  curl -s -H 'Authorization: Bearer %s' '%s/api/v1/tenants/%s/applications/%s/federation/manual'

Roles and the audit log (every change and every sign-in is recorded):
  curl -s -H 'Authorization: Bearer %s' '%s/api/v1/audit?limit=20'             # newest first
  curl -s -X DELETE -H 'Authorization: Bearer %s' %s/api/v1/tenants/%s/applications/%s   # helpdesk: 403
  PORTICO_TOKEN=%s portico audit list --server %s --since 1h           # the same, from the CLI
  PORTICO_TOKEN=%s portico token list --server %s --tenant %s          # tokens and their roles
`, info.APIToken, info.PorticoURL, info.Tenant, info.AppID, info.APIToken, info.PorticoURL, info.Tenant, info.AppID,
		info.APIToken, info.PorticoURL, info.HelpdeskAPIToken, info.PorticoURL, info.Tenant, info.AppID,
		info.APIToken, info.PorticoURL, info.APIToken, info.PorticoURL, info.Tenant)
	c := info.SyncCounts
	fmt.Fprintf(w, `
Synchronization (the Office 365 application's Synchronization tab; the engine's first phase):
  The first export made the "Office 365 Users" members in Microsoft 365 with a licence each:
  %d users in scope, %d operations done (%s), %d Graph writes, %d failed.
  runs:        curl -s -H 'Authorization: Bearer %s' %s/api/v1/tenants/%s/applications/%s/sync/runs
  plan:        curl -s -H 'Authorization: Bearer %s' %s/api/v1/tenants/%s/applications/%s/sync/runs/%s/operations
  run again:   curl -s -X POST -H 'Authorization: Bearer %s' %s/api/v1/tenants/%s/applications/%s/sync/runs   # nothing changed: 0 writes
  dry run:     curl -s -X POST -H 'Authorization: Bearer %s' -d '{"dryRun":true}' %s/api/v1/tenants/%s/applications/%s/sync/runs
  from the CLI: PORTICO_TOKEN=%s portico sync run --server %s --tenant %s --app %s --wait
                PORTICO_TOKEN=%s portico sync show %s --server %s --tenant %s --app %s
`, c.Desired, c.Done, byKind(c.ByKind), c.Writes, c.Failed,
		info.APIToken, info.PorticoURL, info.Tenant, info.AppID,
		info.APIToken, info.PorticoURL, info.Tenant, info.AppID, info.SyncRunID,
		info.APIToken, info.PorticoURL, info.Tenant, info.AppID,
		info.APIToken, info.PorticoURL, info.Tenant, info.AppID,
		info.APIToken, info.PorticoURL, info.Tenant, info.AppID,
		info.APIToken, info.SyncRunID, info.PorticoURL, info.Tenant, info.AppID)
}

// byKind lists a run's operations by kind ("create 3, licence 3"), in a
// stable order.
func byKind(m map[string]int) string {
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
