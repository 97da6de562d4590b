package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/m365/cloud"
	"github.com/portico-idp/portico/internal/m365/federation"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/signing"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
	"github.com/spf13/pflag"
)

// services is what an administration command works with: the database and
// the services over it, with the master key loaded.
type services struct {
	store  *sqlstore.Store
	admin  *admin.Service
	signin *signin.Service
	tenant directory.Tenant
}

// adminFlags are the flags every administration command shares.
type adminFlags struct {
	store         storeFlags
	masterKeyFile string
	tenant        string
	// m365Allow is --m365-allow-endpoint, on the commands that change or
	// use an application's Microsoft endpoints (registerM365Allow).
	m365Allow stringList
	// server and tokenFile are --server and --token-file: act through a
	// running server's API instead (the app and federation commands).
	server, tokenFile string
	fs                *pflag.FlagSet
}

// given reports whether flag name was given on the command line. A value
// from the environment does not count: variables such as
// $PORTICO_MASTER_KEY_FILE are server settings a shell may well hold, and
// with --server they are simply not used.
func (a *adminFlags) given(name string) bool { return a.fs != nil && a.fs.Changed(name) }

func (a *adminFlags) register(fs *pflag.FlagSet) {
	a.fs = fs
	fs.StringVar(&a.tenant, "tenant", "", "tenant slug (required)")
	a.store.register(fs)
	fs.StringVar(&a.masterKeyFile, "master-key-file", "", "master key file (as for serve; without --server only: the server holds its own)")
	fs.StringVar(&a.server, "server", "", "URL of a running Portico (e.g. https://idp.example.com): act through its API instead of on the database; the API token comes from --token-file or $PORTICO_TOKEN (never the command line)")
	fs.StringVar(&a.tokenFile, "token-file", "", "file holding the API token for --server (default: $PORTICO_TOKEN)")
}

// openApps opens where the app and federation commands act: the API of
// --server, or the database. fed, when not nil, builds the federation
// service of direct mode from the opened services.
func (a *adminFlags) openApps(ctx context.Context, fed func(*services) (*federation.Service, error)) (appBackend, error) {
	if a.server != "" {
		if a.tenant == "" {
			return nil, errors.New("--tenant is required")
		}
		if a.given("master-key-file") {
			return nil, errors.New("--master-key-file applies only without --server: the server uses its own master key")
		}
		if a.given("m365-allow-endpoint") {
			return nil, errors.New("--m365-allow-endpoint applies only without --server: the server's own --m365-allow-endpoint decides")
		}
		b, err := openRemote(a.server, a.tokenFile)
		if err != nil {
			return nil, err
		}
		return &remoteApps{apiBackend: b, tenant: a.tenant}, nil
	}
	s, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	d := &directApps{s: s}
	if fed != nil {
		if d.fed, err = fed(s); err != nil {
			s.store.Close()
			return nil, err
		}
	}
	return d, nil
}

func (a *adminFlags) open(ctx context.Context) (*services, error) {
	if a.tenant == "" {
		return nil, errors.New("--tenant is required")
	}
	st, err := a.store.open(ctx, nil)
	if err != nil {
		return nil, err
	}
	allow, err := cloud.ParseAllowList(a.m365Allow...)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("--m365-allow-endpoint: %w", err)
	}
	log := slog.New(slog.DiscardHandler)
	keys, err := loadKeyring(ctx, serveConfig{store: a.store, masterKeyFile: a.masterKeyFile}, st, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	t, err := st.GetTenantBySlug(ctx, directory.NormalizeSlug(a.tenant))
	if err != nil {
		st.Close()
		if errors.Is(err, storage.ErrNotFound) {
			return nil, &notFound{kind: "tenant", name: a.tenant}
		}
		return nil, err
	}
	return &services{store: st, admin: admin.New(st, admin.WithKeyring(keys), admin.WithMicrosoftEndpoints(allow)), signin: signin.New(st, keys), tenant: t}, nil
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
func (l *stringList) Type() string       { return "strings" }

func appCreateFlags(fs *pflag.FlagSet) runFunc {
	var af adminFlags
	af.register(fs)
	name := fs.String("name", "Office 365", "application name")
	policy := fs.String("policy", "", "authentication policy name or id (default: \""+admin.PolicyPasswordTOTP+"\")")
	var groups stringList
	fs.Var(&groups, "group", "permission group name or id (repeatable): only its members may sign in")
	loginURL := fs.String("login-url", "", "Microsoft login URL responses are posted to (default Microsoft's; an m365sim URL offline)")
	var domains stringList
	fs.Var(&domains, "domain", "federated Microsoft 365 domain (repeatable)")
	disabled := fs.Bool("disabled", false, "create the application disabled")
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		b, err := af.openApps(ctx, nil)
		if err != nil {
			return err
		}
		defer b.Close()
		a := apps.Application{Kind: apps.KindOffice365, Name: *name, Enabled: !*disabled,
			Office365: &apps.Office365Settings{LoginURL: *loginURL, Domains: apps.Domains(domains...)}}
		a, err = b.CreateApplication(ctx, a, *policy, groups)
		if err != nil {
			return describe(err)
		}
		fmt.Fprintln(stdout, a.ID)
		return nil
	}
}

func (s *services) policyID(ctx context.Context, ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	ps, err := s.admin.ListPolicies(ctx, s.tenant.ID)
	if err != nil {
		return "", err
	}
	if len(ps) == 0 {
		if _, _, err := s.admin.EnsurePolicies(ctx, s.tenant.ID); err != nil {
			return "", err
		}
		ps, _ = s.admin.ListPolicies(ctx, s.tenant.ID)
	}
	for _, p := range ps {
		if p.ID == ref || strings.EqualFold(p.Name, ref) {
			return p.ID, nil
		}
	}
	return "", fmt.Errorf("no policy %q in tenant %s", ref, s.tenant.Slug)
}

func (s *services) groupIDs(ctx context.Context, refs []string) ([]string, error) {
	var out []string
	for _, ref := range refs {
		if g, err := s.admin.GetGroup(ctx, s.tenant.ID, ref); err == nil {
			out = append(out, g.ID)
			continue
		}
		gs, _, err := s.admin.ListGroups(ctx, s.tenant.ID, storage.GroupFilter{NamePrefix: ref}, storage.Page{Limit: 50})
		if err != nil {
			return nil, err
		}
		found := false
		for _, g := range gs {
			if strings.EqualFold(g.Name, ref) {
				out, found = append(out, g.ID), true
			}
		}
		if !found {
			return nil, fmt.Errorf("no group %q in tenant %s", ref, s.tenant.Slug)
		}
	}
	return out, nil
}

func appListFlags(fs *pflag.FlagSet) runFunc {
	var af adminFlags
	var out outputFlag
	af.register(fs)
	out.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		b, err := af.openApps(ctx, nil)
		if err != nil {
			return err
		}
		defer b.Close()
		list, err := b.ListApplications(ctx)
		if err != nil {
			return describe(err)
		}
		type row struct {
			ID         string `json:"id"`
			Name       string `json:"name"`
			Kind       string `json:"kind"`
			Enabled    bool   `json:"enabled"`
			Thumbprint string `json:"certificateThumbprint"`
		}
		items := []row{}
		var rows [][]string
		for _, a := range list {
			r := row{ID: a.ID, Name: a.Name, Kind: string(a.Kind), Enabled: a.Enabled}
			if c, err := b.Certificate(ctx, a.ID, apps.RoleCurrent); err == nil {
				r.Thumbprint = c.SHA1
			}
			items = append(items, r)
			rows = append(rows, []string{r.ID, r.Name, r.Kind, fmt.Sprint(r.Enabled), r.Thumbprint})
		}
		return out.print(stdout, items, []string{"ID", "NAME", "KIND", "ENABLED", "CERTIFICATE THUMBPRINT"}, rows)
	}
}

func appSetEnabledFlags(enabled bool) func(fs *pflag.FlagSet) runFunc {
	verb := map[bool]string{true: "enable", false: "disable"}[enabled]
	return func(fs *pflag.FlagSet) runFunc {
		var af adminFlags
		af.register(fs)
		id := fs.String("app", "", "application id (required)")
		return func(ctx context.Context, stdout, stderr io.Writer) error {
			b, err := af.openApps(ctx, nil)
			if err != nil {
				return err
			}
			defer b.Close()
			if _, err := b.UpdateApplication(ctx, *id, func(a *apps.Application) error {
				a.Enabled = enabled
				return nil
			}); err != nil {
				return describe(err)
			}
			fmt.Fprintf(stdout, "application %s %sd\n", *id, verb)
			return nil
		}
	}
}

func appCertificateFlags(fs *pflag.FlagSet) runFunc {
	var af adminFlags
	af.register(fs)
	id := fs.String("app", "", "application id (required)")
	format := fs.String("format", "pem", "pem or cer (DER)")
	next := fs.Bool("next", false, "the next certificate (rollover) instead of the current one")
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		b, err := af.openApps(ctx, nil)
		if err != nil {
			return err
		}
		defer b.Close()
		role := apps.RoleCurrent
		if *next {
			role = apps.RoleNext
		}
		c, err := b.Certificate(ctx, *id, role)
		if err != nil {
			return describe(err)
		}
		fmt.Fprintf(stderr, "thumbprint (SHA-1): %s\nthumbprint (SHA-256): %s\nvalid until: %s\n", c.SHA1, c.SHA256, c.NotAfter.Format("2006-01-02"))
		switch *format {
		case "pem":
			_, err = stdout.Write(c.PEM())
		case "cer", "der":
			_, err = stdout.Write(c.DER)
		default:
			return errors.New("--format must be pem or cer")
		}
		return err
	}
}

// appNotFound says which application was not found, in the tenant's words.
func (s *services) appNotFound(err error, id string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return &notFound{kind: "application", name: id, tenant: s.tenant.Slug}
	}
	return err
}

// currentCertificate returns the public part of an application's
// certificate with role (current or next).
func currentCertificate(ctx context.Context, s *services, appID string, role apps.SigningKeyRole) (*signing.Certificate, error) {
	certs, err := s.admin.Certificates(ctx, s.tenant.ID, appID)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		if c.Role == role {
			return c.Cert, nil
		}
	}
	return nil, fmt.Errorf("the application has no %s certificate", role)
}
