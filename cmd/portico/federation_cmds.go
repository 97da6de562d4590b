package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/m365/cloud"
	"github.com/portico-idp/portico/internal/m365/federation"
	"github.com/spf13/pflag"
)

// fedFlags are the flags of the Federation tab's commands.
type fedFlags struct {
	adminFlags
	app       string
	publicURL string
	caFile    string
	asJSON    bool
}

func (f *fedFlags) register(fs *pflag.FlagSet) {
	f.adminFlags.register(fs)
	registerM365Allow(fs, &f.m365Allow)
	fs.Lookup("m365-allow-endpoint").Usage += " (without --server only)"
	fs.StringVar(&f.app, "app", "", "application id (required)")
	fs.StringVar(&f.publicURL, "public-url", "http://127.0.0.1:8080", "Portico's public URL, as given to serve (the URLs registered in Microsoft 365 are built from it; without --server only: the server knows its own)")
	fs.StringVar(&f.caFile, "m365-ca-file", "", "PEM file of extra certificate authorities to trust when calling Microsoft (m365sim's --cert-out; without --server only: the server's own --m365-ca-file applies)")
	fs.BoolVar(&f.asJSON, "json", false, "print the result as JSON")
}

// open returns the backend and the application.
func (f *fedFlags) open(ctx context.Context) (appBackend, apps.Application, error) {
	if f.server != "" {
		if f.given("m365-ca-file") {
			return nil, apps.Application{}, errors.New("--m365-ca-file applies only without --server: the server's own --m365-ca-file decides")
		}
		if f.given("public-url") {
			return nil, apps.Application{}, errors.New("--public-url applies only without --server: the server uses its own public URL")
		}
	}
	b, err := f.openApps(ctx, func(s *services) (*federation.Service, error) {
		allow, err := cloud.ParseAllowList(f.m365Allow...)
		if err != nil {
			return nil, fmt.Errorf("--m365-allow-endpoint: %w", err)
		}
		client, err := serveConfig{m365CAFile: f.caFile}.microsoftClient()
		if err != nil {
			return nil, err
		}
		keys, err := loadKeyring(ctx, serveConfig{store: f.store, masterKeyFile: f.masterKeyFile}, s.store, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, err
		}
		return federation.New(s.admin, keys, f.publicURL, federation.WithHTTPClient(client), federation.WithEndpoints(allow)), nil
	})
	if err != nil {
		return nil, apps.Application{}, err
	}
	app, err := b.GetApplication(ctx, f.app)
	if err != nil {
		b.Close()
		return nil, app, err
	}
	return b, app, nil
}

func federationFlags(verb string) func(fs *pflag.FlagSet) runFunc {
	return func(fs *pflag.FlagSet) runFunc {
		var ff fedFlags
		ff.register(fs)
		domain := fs.String("domain", "", "managed domain (default: the application's first domain)")
		return func(ctx context.Context, stdout, stderr io.Writer) error {
			b, app, err := ff.open(ctx)
			if err != nil {
				return err
			}
			defer b.Close()
			if *domain == "" && verb != "rollover" {
				if names := app.Office365.DomainNames(); len(names) > 0 {
					*domain = names[0]
				} else {
					return errors.New("--domain is required: the application lists no domain")
				}
			}
			out, opErr := b.Federation(ctx, app, verb, *domain)
			if ff.asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				enc.Encode(out)
			} else {
				printFederation(stdout, out)
			}
			return opErr
		}
	}
}

func printFederation(w io.Writer, v any) {
	mark := map[federation.Status]string{federation.Pass: "ok  ", federation.Warn: "warn", federation.Fail: "FAIL", federation.Skip: "skip"}
	report := func(r federation.Report) {
		fmt.Fprintf(w, "Domain %s (root %s): %s\n", r.Domain, r.RootDomain, r.State)
		if r.Issuer != "" {
			fmt.Fprintf(w, "Issuer %s\n", r.Issuer)
		}
		for _, c := range r.Checks {
			fmt.Fprintf(w, "  [%s] %-40s %s\n", mark[c.Status], c.Title, c.Detail)
			if c.Status != federation.Pass && c.Fix != "" {
				fmt.Fprintf(w, "         fix: %s\n", c.Fix)
			}
		}
		if r.Compatible {
			fmt.Fprintln(w, "Compatible: yes")
		} else {
			fmt.Fprintln(w, "Compatible: no")
		}
	}
	switch x := v.(type) {
	case federation.Report:
		report(x)
	case federation.Result:
		report(x.Report)
		fmt.Fprintf(w, "\nAction: %s", x.Action)
		if len(x.Changed) > 0 {
			fmt.Fprintf(w, " (%s)", strings.Join(x.Changed, ", "))
		}
		fmt.Fprintf(w, "\nState: %s\n%s\n", x.State, x.Message)
	case federation.Manual:
		fmt.Fprintf(w, "Federation settings for %s (enter them in Microsoft 365):\n\n", x.Domain)
		for _, f := range x.Fields {
			fmt.Fprintf(w, "  %-32s %s\n", f.Name, f.Value)
		}
		fmt.Fprintf(w, "\nCertificate (PEM):\n%s\nMicrosoft Graph request:\n  %s %s\n%s\n\nMicrosoft Graph PowerShell:\n%s", x.CertificatePEM, x.GraphMethod, x.GraphURL, x.GraphBody, x.PowerShell)
	case []federation.RolloverStep:
		for _, s := range x {
			ok := "ok  "
			if !s.OK {
				ok = "FAIL"
			}
			fmt.Fprintf(w, "  [%s] %-34s %-20s %s\n", ok, s.Step, s.Domain, s.Detail)
		}
	}
}

func appConfigureFlags(fs *pflag.FlagSet) runFunc {
	var af adminFlags
	af.register(fs)
	registerM365Allow(fs, &af.m365Allow)
	fs.Lookup("m365-allow-endpoint").Usage += " (without --server only)"
	id := fs.String("app", "", "application id (required)")
	mode := fs.String("mode", "", "federation mode: graph (recommended) or msonline (deprecated)")
	clientID := fs.String("client-id", "", "Application (client) ID of the Azure app registration")
	directoryID := fs.String("directory-id", "", "Directory (tenant) ID")
	var domains stringList
	fs.Var(&domains, "domain", "Microsoft 365 domain (repeatable; replaces the list; the first is the managed domain)")
	several := fs.Bool("one-of-several", false, "the domains are several federated to this organization (each gets its own issuer)")
	auto := fs.Bool("federate-automatically", false, "let Portico write the federation configuration (=false: show manual settings)")
	protocol := fs.String("protocol", "", "wsFed or saml")
	mfa := fs.String("mfa-behavior", "", "federatedIdpMfaBehavior:"+choices(apps.MFABehaviors))
	prompt := fs.String("prompt-login-behavior", "", "promptLoginBehavior:"+choices(apps.PromptLoginBehaviors))
	authority := fs.String("authority-url", "", "Microsoft Entra login host (an m365sim URL offline)")
	graphURL := fs.String("graph-url", "", "Microsoft Graph base URL (an m365sim URL + /v1.0 offline)")
	loginURL := fs.String("login-url", "", "where sign-in responses are posted (an m365sim URL + /login.srf offline)")
	msUser := fs.String("msonline-user", "", "Microsoft Online mode: the @….onmicrosoft.com administrator")
	msPass := fs.Bool("msonline-password-stdin", false, "Microsoft Online mode: read the administrator's password from standard input")
	graphSync := fs.Bool("use-graph-for-sync", false, "Microsoft Online mode: synchronize through Microsoft Graph")
	enabled := fs.Bool("enabled", false, "enable (--enabled) or disable (--enabled=false) the application")
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		set := map[string]bool{}
		fs.Visit(func(f *pflag.Flag) { set[f.Name] = true })
		b, err := af.openApps(ctx, nil)
		if err != nil {
			return err
		}
		defer b.Close()
		var password string
		if *msPass {
			line, err := bufio.NewReader(os.Stdin).ReadString('\n')
			if err != nil && line == "" {
				return errors.New("give the password on standard input")
			}
			password = strings.TrimRight(line, "\r\n")
		}
		app, err := b.UpdateApplication(ctx, *id, func(a *apps.Application) error {
			if a.Office365 == nil {
				a.Office365 = &apps.Office365Settings{}
			}
			o := a.Office365
			str := func(name string, dst *string, v string) {
				if set[name] {
					*dst = v
				}
			}
			str("mode", &o.Mode, *mode)
			str("client-id", &o.ClientID, *clientID)
			str("directory-id", &o.DirectoryID, *directoryID)
			str("protocol", &o.Protocol, *protocol)
			str("mfa-behavior", &o.MFABehavior, *mfa)
			str("prompt-login-behavior", &o.PromptLoginBehavior, *prompt)
			str("authority-url", &o.AuthorityURL, *authority)
			str("graph-url", &o.GraphURL, *graphURL)
			str("login-url", &o.LoginURL, *loginURL)
			str("msonline-user", &o.MSOnlineUsername, *msUser)
			if set["domain"] {
				o.Domains = nil
				for _, d := range domains {
					o.Domains = append(o.Domains, apps.Domain{Name: strings.ToLower(d), OneOfSeveral: *several})
				}
			} else if set["one-of-several"] {
				for i := range o.Domains {
					o.Domains[i].OneOfSeveral = *several
				}
			}
			if set["federate-automatically"] {
				o.FederateAutomatically = auto
			}
			if set["use-graph-for-sync"] {
				o.UseGraphForSync = *graphSync
			}
			if set["enabled"] {
				a.Enabled = *enabled
			}
			if *msPass {
				o.MSOnlinePasswordInput = password
			}
			return nil
		})
		if err != nil {
			return describe(err)
		}
		fmt.Fprintf(stdout, "application %s updated (domains: %s)\n", app.ID, strings.Join(app.Office365.DomainNames(), ", "))
		return nil
	}
}

// choices lists setting values with their sentences, for --help.
func choices(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString("\n          " + k + ": " + m[k])
	}
	return b.String()
}
