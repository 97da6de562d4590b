package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/directory"
)

// demoInfo is what "portico demo --json" prints once everything is ready.
// Scripts rely on these keys: add keys, never rename or remove them.
type demoInfo struct {
	PorticoURL     string     `json:"portico_url"`
	Tenant         string     `json:"tenant"`
	AppID          string     `json:"app_id"`
	APIToken       string     `json:"api_token"`
	GlobalAPIToken string     `json:"global_api_token"`
	DataDir        string     `json:"data_dir"`
	Domain         string     `json:"domain"`
	Thumbprint     string     `json:"certificate_thumbprint"`
	Users          []demoUser `json:"users"`
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

// demoPassword is every demo user's password (the demo's data is thrown
// away when it stops).
const demoPassword = "Portico-demo-1"

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("demo", "Run Portico on a fresh temporary database with a seeded demo tenant, until interrupted.", stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (a free port is used when it is taken)")
	asJSON := fs.Bool("json", false, "print one JSON object with URLs and credentials on standard output once ready")
	keep := fs.Bool("keep", false, "keep the temporary data directory on exit")
	logLevel := fs.String("log-level", "warn", "server log level (logs go to standard error)")
	if err := parse(fs, args); err != nil {
		return err
	}
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
	cfg := serveConfig{store: storeFlags{dataDir: dir}, addr: *addr}
	s, err := startServer(ctx, cfg, log)
	if err != nil && *addr != "127.0.0.1:0" && strings.Contains(err.Error(), "address already in use") {
		cfg.addr = "127.0.0.1:0"
		s, err = startServer(ctx, cfg, log)
	}
	if err != nil {
		return err
	}
	info, err := seedDemo(ctx, s)
	if err != nil {
		s.http.Close()
		s.wait(ctx)
		return fmt.Errorf("seed demo data: %w", err)
	}
	info.DataDir = dir
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(info); err != nil {
			return err
		}
	} else {
		printDemo(stdout, info)
	}
	return s.wait(ctx)
}

// seedDemo creates the demo tenant: an organization with a principal name
// suffix, users, the "Office 365 Users" group of the seed guide, and tokens.
func seedDemo(ctx context.Context, s *server) (demoInfo, error) {
	info := demoInfo{PorticoURL: s.URL, Tenant: "contoso"}
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
	people := []directory.User{
		{Username: "john.smith", GivenName: "John", FamilyName: "Smith", Email: "john.smith@contoso.com", JobTitle: "Sales Manager", Department: "Sales", UsageLocation: "US"},
		{Username: "ann.lee", GivenName: "Ann", FamilyName: "Lee", Email: "ann.lee@contoso.com", JobTitle: "Engineer", Department: "R&D", UsageLocation: "GB"},
		{Username: "adele.vance@contoso.com", GivenName: "Adele", FamilyName: "Vance", Email: "adele.vance@contoso.com", JobTitle: "Retail Manager", Department: "Retail", UsageLocation: "US"},
		{Username: "megan.bowen", GivenName: "Megan", FamilyName: "Bowen", Email: "megan.bowen@contoso.com", Status: directory.StatusPending, UsageLocation: "US"},
	}
	// Fixed TOTP secrets so that a person can add them to an authenticator
	// app by hand; ann.lee has none and enrols at her first sign-in.
	secrets := []string{"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "", "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU", ""}
	for i, p := range people {
		p.OrganizationID = org.ID
		u, err := svc.CreateUser(ctx, t.ID, p)
		if err != nil {
			return info, fmt.Errorf("user %s: %w", p.Username, err)
		}
		du := demoUser{Username: u.Username, UPN: u.UPN, ImmutableID: u.ImmutableID}
		if i < 3 {
			if err := s.Store.AddGroupMember(ctx, t.ID, group.ID, u.ID); err != nil {
				return info, err
			}
			if err := s.Signin.SetPassword(ctx, t.ID, u.ID, demoPassword); err != nil {
				return info, err
			}
			du.Password = demoPassword
		}
		if secrets[i] != "" {
			if _, err := s.Signin.EnrolTOTP(ctx, u, secrets[i]); err != nil {
				return info, err
			}
			du.TOTPSecret = secrets[i]
		}
		info.Users = append(info.Users, du)
	}
	app, err := svc.CreateApplication(ctx, t.ID, apps.Application{Kind: apps.KindOffice365, Name: "Office 365", Enabled: true,
		GroupIDs: []string{group.ID}, Office365: &apps.Office365Settings{Domains: apps.Domains("contoso.com")}})
	if err != nil {
		return info, fmt.Errorf("office 365 application: %w", err)
	}
	info.AppID, info.Domain = app.ID, "contoso.com"
	keys, err := svc.SigningKeys(ctx, t.ID, app.ID)
	if err != nil {
		return info, err
	}
	info.Thumbprint = keys.Current.ThumbprintSHA1()
	if info.APIToken, _, err = svc.CreateAPIToken(ctx, t.ID, "demo"); err != nil {
		return info, err
	}
	if info.GlobalAPIToken, _, err = svc.CreateAPIToken(ctx, "", "demo-global"); err != nil {
		return info, err
	}
	return info, nil
}

func printDemo(w io.Writer, info demoInfo) {
	fmt.Fprintf(w, `Portico demo is running (press Ctrl-C to stop; data is thrown away).

  Portico         %s
  Health          %s/healthz   readiness %s/readyz   metrics %s/metrics
  Admin API       %s/api/v1   (OpenAPI: %s/api/v1/openapi.json)
  Tenant          %s (organization Contoso, principal name suffix @contoso.com)
  API token       %s   (tenant %s)
  Global token    %s   (all tenants)
  Office 365 app  %s   (permission group "Office 365 Users", policy "Password and authenticator app")
  Certificate     thumbprint %s   (%s/api/v1/tenants/%s/applications/%s/certificates)

Directory users (a plain username gets the organization's suffix as its UPN); password %s:
`, info.PorticoURL, info.PorticoURL, info.PorticoURL, info.PorticoURL, info.PorticoURL, info.PorticoURL,
		info.Tenant, info.APIToken, info.Tenant, info.GlobalAPIToken, info.AppID, info.Thumbprint, info.PorticoURL, info.Tenant, info.AppID, demoPassword)
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
Try:
  curl -s -H 'Authorization: Bearer %s' %s/api/v1/tenants/%s/users
  curl -s -H 'Authorization: Bearer %s' '%s/api/v1/tenants/%s/users?status=pending'
  curl -s -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
       -d '{"username":"new.person","givenName":"New","familyName":"Person"}' %s/api/v1/tenants/%s/users
`, info.APIToken, info.PorticoURL, info.Tenant, info.APIToken, info.PorticoURL, info.Tenant, info.APIToken, info.PorticoURL, info.Tenant)
}
