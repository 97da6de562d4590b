package main

// End-to-end tests of issue 6 ("Office 365 application: Graph connection,
// Verify Compatibility, federate, several domains, disconnect, demo"): the
// in-process demo — m365sim and Portico, seeded and contoso.com federated
// through Microsoft Graph exactly as "portico demo" does it — driven by a
// browser-less browser (net/http with a cookie jar that reads HTML forms):
// the sim's start page, home-realm discovery, Portico's WS-Federation or
// SAML endpoint, Portico's login pages, Portico's auto-submitting form, and
// the sim's /login.srf, which validates the token independently of
// Portico's code.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/idp/endpoints"
	"github.com/portico-idp/portico/internal/idp/idptest"
	"github.com/portico-idp/portico/internal/m365/federation"
	"github.com/portico-idp/portico/internal/m365sim"
	"github.com/portico-idp/portico/internal/signing"
)

// Microsoft's claim for a sign-in with a second factor (M365-CONTRACT.md
// §4, §5) and the wauth Entra sends with a translated prompt=login.
const (
	claimMFA      = "http://schemas.microsoft.com/claims/multipleauthn"
	wauthPassword = "https://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password"
)

// e2e is one in-process demo.
type e2e struct {
	t      *testing.T
	ctx    context.Context
	sim    *m365sim.Server
	s      *server
	info   demoInfo
	tenant directory.Tenant
	group  string
	rt     http.RoundTripper
	logs   *idptest.SyncBuffer
	steps  *totpSteps
}

// totpSteps is the TOTP time step each user (by UPN) last used.
type totpSteps struct {
	mu   sync.Mutex
	last map[string]int64
}

// on is e for the (sub)test t: helpers fail t.
func (e *e2e) on(t *testing.T) *e2e {
	c := *e
	c.t = t
	return &c
}

// startE2E starts the demo as "portico demo" does (random ports, SQLite in
// a temporary directory) and stops it when the test ends.
func startE2E(t *testing.T) *e2e {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	// The test's own administrative calls act as the system, as the demo's
	// seeding does.
	e := &e2e{t: t, ctx: authz.With(ctx, authz.System("e2e")), logs: &idptest.SyncBuffer{}, steps: &totpSteps{last: map[string]int64{}}}
	sim, err := startDemoSim(ctx, "127.0.0.1:0", filepath.Join(dir, "m365sim-ca.pem"))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	log, _ := newLogger(e.logs, "info")
	s, err := startServer(ctx, demoServeConfig(dir, "127.0.0.1:0", sim), log)
	if err != nil {
		cancel()
		sim.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := s.wait(ctx); err != nil {
			t.Errorf("Portico did not shut down cleanly: %v", err)
		}
		sim.Close()
		if t.Failed() {
			t.Logf("Portico's log:\n%s", e.logs)
		}
	})
	e.sim, e.s, e.rt = sim, s, sim.Client().Transport
	if e.info, err = seedDemo(ctx, s, sim); err != nil {
		t.Fatalf("seed the demo: %v", err)
	}
	e.info.DataDir = dir // as the demo prints it
	if e.tenant, err = s.Store.GetTenantBySlug(ctx, e.info.Tenant); err != nil {
		t.Fatal(err)
	}
	app := e.app()
	if len(app.GroupIDs) != 1 {
		t.Fatalf("the demo application's permission groups: %v", app.GroupIDs)
	}
	e.group = app.GroupIDs[0]
	return e
}

// app reads the Office 365 application as stored now.
func (e *e2e) app() apps.Application {
	e.t.Helper()
	a, err := e.s.Store.GetApplication(e.ctx, e.tenant.ID, e.info.AppID)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// configure changes the application's settings as the API would.
func (e *e2e) configure(change func(a *apps.Application)) apps.Application {
	e.t.Helper()
	a, err := e.s.Admin.UpdateApplication(e.ctx, e.tenant.ID, e.info.AppID, 0, func(a *apps.Application) error {
		change(a)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// restoreWhenDone puts the application's settings back (and federates
// them) when the subtest ends, even when it fails, so that the next
// subtest starts from the demo's configuration.
func (e *e2e) restoreWhenDone(change func(a *apps.Application)) {
	e.t.Cleanup(func() {
		e.configure(change)
		if _, err := e.s.Fed.Federate(e.ctx, e.tenant, e.app(), "contoso.com"); err != nil {
			e.t.Errorf("federate the restored settings: %v", err)
		}
	})
}

// federate runs Federate on the stored application and expects action.
func (e *e2e) federate(domain, action string) federation.Result {
	e.t.Helper()
	res, err := e.s.Fed.Federate(e.ctx, e.tenant, e.app(), domain)
	if err != nil || res.Action != action || res.State != federation.StateFederatedHere {
		e.t.Fatalf("federate %s: %v\n%+v\nwant action %s, state %s", domain, err, res, action, federation.StateFederatedHere)
	}
	return res
}

// user is a demo user with the secrets the demo printed.
func (e *e2e) user(username string) *idptest.User {
	e.t.Helper()
	for _, du := range e.info.Users {
		if du.Username != username {
			continue
		}
		u, err := e.s.Store.GetUserByUsername(e.ctx, e.tenant.ID, username)
		if err != nil {
			e.t.Fatal(err)
		}
		if u.UPN != du.UPN || u.ImmutableID != du.ImmutableID {
			e.t.Fatalf("demo JSON says %s is %s (%s); Portico says %s (%s)", username, du.UPN, du.ImmutableID, u.UPN, u.ImmutableID)
		}
		return &idptest.User{User: u, Password: du.Password, TOTPSecret: du.TOTPSecret}
	}
	e.t.Fatalf("no demo user %s", username)
	return nil
}

// addPerson adds a Portico user with a password and an authenticator, in
// the application's permission group when member. Its Microsoft 365 side
// (simUser) is added with changeSimTenant.
func (e *e2e) addPerson(username string, org directory.Organization, member bool) *idptest.User {
	e.t.Helper()
	if org.ID == "" {
		org.ID = e.user("john.smith").OrganizationID // the demo's Contoso
	}
	first, last, _ := strings.Cut(username, ".")
	u, err := e.s.Admin.CreateUser(e.ctx, e.tenant.ID, directory.User{Username: username, OrganizationID: org.ID,
		GivenName: title(first), FamilyName: title(last), DisplayName: title(first) + " " + title(last)})
	if err != nil {
		e.t.Fatalf("create %s: %v", username, err)
	}
	const password = "Test-password-6"
	if err := e.s.Signin.SetPassword(e.ctx, e.tenant.ID, u.ID, password); err != nil {
		e.t.Fatal(err)
	}
	en, err := authn.NewTOTP("Portico", u.UPN, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.Signin.EnrolTOTP(e.ctx, u, en.Secret); err != nil {
		e.t.Fatal(err)
	}
	if member {
		if err := e.s.Store.AddGroupMember(e.ctx, e.tenant.ID, e.group, u.ID); err != nil {
			e.t.Fatal(err)
		}
	}
	return &idptest.User{User: u, Password: password, TOTPSecret: en.Secret}
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// simUser is the Microsoft 365 side of a Portico user: same UPN, and the
// immutable id that federated sign-in matches on.
func simUser(u *idptest.User) m365sim.SeedObject {
	return m365sim.SeedObject{"userPrincipalName": u.UPN, "displayName": u.DisplayName, "onPremisesImmutableId": u.ImmutableID,
		"accountEnabled": true, "usageLocation": "US"}
}

// changeSimTenant changes the demo's Microsoft 365 tenant in place (its
// dump, changed, seeded again: the sim replaces a tenant with the same id).
func (e *e2e) changeSimTenant(change func(st *m365sim.SeedTenant)) {
	e.t.Helper()
	f := e.sim.Dump()
	found := false
	for i := range f.Tenants {
		if f.Tenants[i].ID == demoDirectoryID {
			change(&f.Tenants[i])
			found = true
		}
	}
	if !found {
		e.t.Fatalf("the sim has no tenant %s", demoDirectoryID)
	}
	if err := e.sim.Seed(m365sim.SeedFile{Tenants: f.Tenants}); err != nil {
		e.t.Fatal(err)
	}
}

// simFederations is every domain's federation configuration in the sim,
// by domain name (nil for a managed domain).
func (e *e2e) simFederations() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, t := range e.sim.Dump().Tenants {
		for _, d := range t.Domains {
			out[d.ID] = d.FederationConfiguration
		}
	}
	return out
}

// code is the TOTP code a person types: the current one, or the next one
// when the current one was already used (Portico accepts a time step only
// once, and one step either side of now).
func (e *e2e) code(u *idptest.User) string {
	e.t.Helper()
	e.steps.mu.Lock()
	defer e.steps.mu.Unlock()
	now := time.Now().Unix() / 30
	step := max(now, e.steps.last[u.UPN]+1)
	if step > now+1 {
		e.t.Fatalf("%s already used the current and the next TOTP code: give this sign-in another user", u.UPN)
	}
	e.steps.last[u.UPN] = step
	c, err := authn.TOTPCode(u.TOTPSecret, time.Unix(step*30, 0))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// browser is a new browser (an empty cookie jar) that trusts the sim.
func (e *e2e) browser() *idptest.Browser {
	return idptest.NewBrowser(e.t, e.s.URL, e.rt, e.code)
}

// attempt is one sign-in from the sim's start page.
type attempt struct {
	// Redirect is where the sim sent the browser: Portico's endpoint with
	// Entra's parameters (WS-Fed), or the SAML form's action.
	Redirect *url.URL
	// AuthnRequest is the decoded SAML AuthnRequest (SAML only).
	AuthnRequest string
	// Flow is the walk through Portico's pages.
	Flow *idptest.Flow
	// Token is what Portico's auto-submitting form posted to the sim (nil
	// when Portico stopped the sign-in).
	Token url.Values
	// Page is the last page: the sim's answer, or Portico's when it
	// stopped the sign-in, or the sim's own page for a managed domain.
	Page *idptest.Page
	// Log is the sim's sign-in log entry of this attempt (nil when none).
	Log *m365sim.SignIn
}

// signIn signs u in from the sim's start page (/common/login?username=UPN
// plus opts) as a browser does: the sim's redirect (WS-Fed) or
// auto-submitting form (SAML) to Portico, Portico's login pages, Portico's
// auto-submitting form to the sim's /login.srf.
func (e *e2e) signIn(b *idptest.Browser, u *idptest.User, opts url.Values) attempt {
	e.t.Helper()
	q := url.Values{"username": {u.UPN}}
	for k, v := range opts {
		q[k] = v
	}
	before := len(e.sim.SignIns())
	var a attempt
	// The browser follows redirects to Portico; stop at the sim's own
	// answer to see where it sends the browser.
	follow := b.Client.CheckRedirect
	b.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p := b.Get(e.sim.URL() + "/common/login?" + q.Encode())
	b.Client.CheckRedirect = follow
	forms := p.Forms()
	switch {
	case p.Status == http.StatusFound:
		loc, err := p.URL.Parse(p.Header.Get("Location"))
		if err != nil {
			e.t.Fatal(err)
		}
		a.Redirect = loc
		p = b.Get(loc.String())
	case p.Status == http.StatusOK && len(forms) == 1 && strings.HasPrefix(forms[0].Action, e.s.URL+"/"):
		a.Redirect, _ = url.Parse(forms[0].Action)
		raw, err := base64.StdEncoding.DecodeString(forms[0].Values.Get("SAMLRequest"))
		if err != nil {
			e.t.Fatalf("the sim's SAMLRequest: %v", err)
		}
		a.AuthnRequest = string(raw)
		p = b.Post(forms[0].Action, forms[0].Values)
	default:
		a.Page, a.Log = p, e.newSignIn(before)
		return a
	}
	a.Flow = b.Continue(p, u)
	if a.Flow.Post == nil {
		a.Page, a.Log = a.Flow.Last, e.newSignIn(before)
		return a
	}
	if a.Flow.Post.Action != e.sim.URL()+"/login.srf" {
		e.t.Fatalf("Portico posted the token to %s, not to the application's login URL %s/login.srf", a.Flow.Post.Action, e.sim.URL())
	}
	a.Token = a.Flow.Post.Values
	a.Page = b.Post(a.Flow.Post.Action, a.Token)
	a.Log = e.newSignIn(before)
	return a
}

func (e *e2e) newSignIn(before int) *m365sim.SignIn {
	e.t.Helper()
	list := e.sim.SignIns()
	switch len(list) - before {
	case 0:
		return nil
	case 1:
		return &list[0]
	}
	e.t.Fatalf("%d sign-in log entries for one attempt: %+v", len(list)-before, list[:len(list)-before])
	return nil
}

// steps are the login pages Portico showed (nil when it was not reached).
func (a attempt) steps() []string {
	if a.Flow == nil {
		return nil
	}
	return a.Flow.Steps
}

// query is the query of the sim's redirect (empty when there was none).
func (a attempt) query() url.Values {
	if a.Redirect == nil {
		return url.Values{}
	}
	return a.Redirect.Query()
}

// tokenXML is the token Portico posted, decoded.
func (a attempt) tokenXML() string {
	if s := a.Token.Get("wresult"); s != "" {
		return s
	}
	b, _ := base64.StdEncoding.DecodeString(a.Token.Get("SAMLResponse"))
	return string(b)
}

func (a attempt) String() string {
	var b strings.Builder
	if a.Redirect != nil {
		fmt.Fprintf(&b, "redirect: %s\n", a.Redirect)
	}
	if a.Flow != nil {
		fmt.Fprintf(&b, "Portico's steps: %v\n", a.steps())
	}
	if a.Log != nil {
		j, _ := json.Marshal(a.Log)
		fmt.Fprintf(&b, "sim log: %s\n", j)
	}
	if a.Page != nil {
		fmt.Fprintf(&b, "last page: %s", a.Page)
	}
	return b.String()
}

// accepted checks that the sim signed u in: its page names the user and
// its log entry is a success for u's immutable id with the given issuer,
// protocol and signing certificate. It returns the log entry.
func (e *e2e) accepted(a attempt, u *idptest.User, issuer, protocol, cert string) m365sim.SignIn {
	e.t.Helper()
	if a.Token == nil || a.Page == nil || a.Page.Status != http.StatusOK || a.Log == nil {
		e.t.Fatalf("sign-in of %s not accepted:\n%s", u.UPN, a)
	}
	text := a.Page.Text()
	for _, want := range []string{"You're signed in", u.DisplayName, u.UPN} {
		if !strings.Contains(text, want) {
			e.t.Fatalf("the sim's signed-in page lacks %q:\n%s", want, a)
		}
	}
	l := *a.Log
	if !l.Succeeded() || !strings.EqualFold(l.UserPrincipalName, u.UPN) || l.ImmutableID != u.ImmutableID || l.Issuer != issuer ||
		l.Protocol != protocol || l.SigningCertificate != cert || len(l.Warnings) > 0 {
		e.t.Fatalf("sim log entry for %s: want success, immutable id %s, issuer %s, protocol %s, %s, no warnings:\n%s",
			u.UPN, u.ImmutableID, issuer, protocol, cert, a)
	}
	return l
}

// singleIssuer and domainIssuer are the application's issuers.
func (e *e2e) singleIssuer() string {
	return endpoints.SingleIssuerURI(e.s.URL, e.info.Tenant, e.info.AppID)
}

func (e *e2e) domainIssuer(root string) string {
	return endpoints.IssuerURI(e.s.URL, e.info.Tenant, e.info.AppID, root)
}

func check(t *testing.T, rep federation.Report, id string, want federation.Status) federation.Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.ID == id {
			if c.Status != want {
				t.Fatalf("check %s is %s (%s; fix: %s), want %s", id, c.Status, c.Detail, c.Fix, want)
			}
			return c
		}
	}
	t.Fatalf("no check %s in %+v", id, rep.Checks)
	return federation.Check{}
}

// TestE2EFederatedSignIn: the demo's federation is what Verify expects; a
// full sign-in of a demo user through Portico is accepted by Microsoft 365
// with MFA satisfied by Portico; a user outside the permission group is
// refused by Portico; fresh sign-in (every promptLoginBehavior), MFA
// behaviour (enforce and accept) and SAML as the preferred protocol.
func TestE2EFederatedSignIn(t *testing.T) {
	e := startE2E(t)
	john := e.user("john.smith")

	t.Run("verify and federate again", func(t *testing.T) {
		e := e.on(t)
		rep, err := e.s.Fed.Verify(e.ctx, e.tenant, e.app(), "contoso.com")
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"settings", "token", "permissions", "federate", "hybrid", "domain", "verified", "initial", "default", "root", "state", "issuers"} {
			check(t, rep, id, federation.Pass)
		}
		if !rep.Compatible || rep.State != federation.StateFederatedHere || rep.Issuer != e.singleIssuer() {
			t.Fatalf("report of the demo's domain: %+v", rep)
		}
		// Idempotent: the demo already federated it, so nothing is written.
		fed := e.simFederations()
		e.federate("contoso.com", "unchanged")
		if !reflect.DeepEqual(fed, e.simFederations()) {
			t.Fatal("an unchanged federation was written")
		}
		fc := fed["contoso.com"]
		keys, err := e.s.Admin.SigningKeys(e.ctx, e.tenant.ID, e.info.AppID)
		if err != nil {
			t.Fatal(err)
		}
		if fc["issuerUri"] != e.singleIssuer() || fc["passiveSignInUri"] != endpoints.WSFed(e.s.URL, e.info.Tenant, e.info.AppID) ||
			fc["signingCertificate"] != keys.Current.Base64() || fc["preferredAuthenticationProtocol"] != "wsFed" {
			t.Fatalf("contoso.com's federation in Microsoft 365: %v", fc)
		}
	})

	// john's browser: its cookies (Portico's session) last across subtests.
	jar, _ := cookiejar.New(nil)
	johns := func(e *e2e) *idptest.Browser {
		b := e.browser()
		b.Client.Jar = jar
		return b
	}
	t.Run("full sign-in", func(t *testing.T) {
		e := e.on(t)
		a := e.signIn(johns(e), john, nil)
		// The sim sent the browser to Portico's WS-Federation endpoint with
		// Entra's parameters.
		q := a.query()
		if a.Redirect == nil || a.Redirect.Scheme+"://"+a.Redirect.Host+a.Redirect.Path != endpoints.WSFed(e.s.URL, e.info.Tenant, e.info.AppID) ||
			q.Get("wa") != "wsignin1.0" || q.Get("wtrealm") != "urn:federation:MicrosoftOnline" || q.Get("wctx") == "" ||
			q.Get("username") != john.UPN || q.Has("wfresh") || q.Has("wauth") {
			t.Fatalf("the sim's redirect: %s", a.Redirect)
		}
		if !slices.Equal(a.steps(), []string{"password", "totp"}) {
			t.Fatalf("Portico's pages: %v, want password then totp\n%s", a.steps(), a)
		}
		if a.Token.Get("wa") != "wsignin1.0" || a.Token.Get("wctx") != q.Get("wctx") {
			t.Fatalf("Portico's answer: wa=%q wctx=%q (sent %q)", a.Token.Get("wa"), a.Token.Get("wctx"), q.Get("wctx"))
		}
		if tok := a.tokenXML(); !strings.Contains(tok, `AuthenticationMethod="`+claimMFA+`"`) || !strings.Contains(tok, john.ImmutableID) {
			t.Fatalf("the token does not claim the second factor for %s:\n%s", john.ImmutableID, tok)
		}
		l := e.accepted(a, john, e.singleIssuer(), "wsFed", "signingCertificate")
		if l.MFARequired || l.Domain != "contoso.com" {
			t.Fatalf("sim log: %+v", l)
		}
		// The sim's own log API says the same.
		var got struct{ Value []m365sim.SignIn }
		res, err := e.sim.Client().Get(e.sim.URL() + "/_sim/signins")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if err := json.NewDecoder(res.Body).Decode(&got); err != nil || len(got.Value) == 0 || got.Value[0].ID != l.ID || !got.Value[0].Succeeded() {
			t.Fatalf("GET /_sim/signins: %v %+v", err, got.Value)
		}
	})

	t.Run("MFA required by Microsoft 365 is satisfied by Portico's", func(t *testing.T) {
		e := e.on(t)
		// Conditional Access requires MFA; the behaviour is the default
		// acceptIfMfaDoneByFederatedIdp, so the sim does not ask Portico for
		// it, and accepts the second factor the token claims. Portico answers
		// from its single sign-on session: no page at all.
		a := e.signIn(johns(e), john, url.Values{"mfa": {"1"}})
		if len(a.steps()) != 0 || a.query().Has("wauth") {
			t.Fatalf("with a session Portico asked again, or the sim asked for MFA:\n%s", a)
		}
		l := e.accepted(a, john, e.singleIssuer(), "wsFed", "signingCertificate")
		if !l.MFARequired || l.MFASatisfiedBy != "federatedIdp" || !strings.Contains(a.Page.Text(), "done by federatedIdp") {
			t.Fatalf("MFA not satisfied by Portico:\n%s", a)
		}
	})

	t.Run("fresh sign-in asks for the password again", func(t *testing.T) {
		e := e.on(t)
		// promptLoginBehavior translateToFreshPasswordAuthentication (the
		// default): wfresh=0 and the password wauth.
		a := e.signIn(johns(e), john, url.Values{"prompt": {"login"}})
		if q := a.query(); q.Get("wfresh") != "0" || q.Get("wauth") != wauthPassword {
			t.Fatalf("the sim's redirect for a fresh sign-in: %s", a.Redirect)
		}
		if !slices.Equal(a.steps(), []string{"password", "totp"}) {
			t.Fatalf("despite the session Portico must ask again; it showed %v\n%s", a.steps(), a)
		}
		if l := e.accepted(a, john, e.singleIssuer(), "wsFed", "signingCertificate"); !l.FreshRequested {
			t.Fatalf("sim log: %+v", l)
		}
		// The other behaviours: prompt=login as is, or wfresh=0 alone
		// (Microsoft: "Disabled means that only wfresh=0 is sent").
		e.restoreWhenDone(func(a *apps.Application) { a.Office365.PromptLoginBehavior = "" })
		for i, c := range []struct {
			behaviour string
			want      url.Values
		}{
			{"nativeSupport", url.Values{"prompt": {"login"}}},
			{"disabled", url.Values{"wfresh": {"0"}}},
		} {
			e.configure(func(a *apps.Application) { a.Office365.PromptLoginBehavior = c.behaviour })
			if res := e.federate("contoso.com", "updated"); !slices.Equal(res.Changed, []string{"promptLoginBehavior"}) {
				t.Fatalf("changed %v", res.Changed)
			}
			u := e.addPerson(fmt.Sprintf("fresh.person%d", i), directory.Organization{}, true)
			e.changeSimTenant(func(st *m365sim.SeedTenant) { st.Users = append(st.Users, simUser(u)) })
			b := e.browser()
			e.accepted(e.signIn(b, u, nil), u, e.singleIssuer(), "wsFed", "signingCertificate")
			a := e.signIn(b, u, url.Values{"prompt": {"login"}})
			q := a.query()
			for k := range c.want {
				if q.Get(k) != c.want.Get(k) {
					t.Fatalf("%s: the sim's redirect %s lacks %s=%s", c.behaviour, a.Redirect, k, c.want.Get(k))
				}
			}
			if q.Has("wauth") || (c.behaviour == "nativeSupport" && q.Has("wfresh")) {
				t.Fatalf("%s: the sim's redirect %s", c.behaviour, a.Redirect)
			}
			if !slices.Equal(a.steps(), []string{"password", "totp"}) {
				t.Fatalf("%s: Portico showed %v\n%s", c.behaviour, a.steps(), a)
			}
			e.accepted(a, u, e.singleIssuer(), "wsFed", "signingCertificate")
		}
	})

	t.Run("user outside the permission group", func(t *testing.T) {
		e := e.on(t)
		u := e.addPerson("outside.group", directory.Organization{}, false)
		e.changeSimTenant(func(st *m365sim.SeedTenant) { st.Users = append(st.Users, simUser(u)) })
		a := e.signIn(e.browser(), u, nil)
		if a.Token != nil || a.Log != nil || a.Page.Status != http.StatusForbidden ||
			!strings.Contains(a.Page.Text(), "You are not allowed to use this application") {
			t.Fatalf("Portico let a user outside the group through, or did not say why:\n%s", a)
		}
	})

	t.Run("immutable id that matches no Microsoft 365 user", func(t *testing.T) {
		e := e.on(t)
		// Entra finds the user by immutable id, never by UPN.
		u := e.addPerson("other.anchor", directory.Organization{}, true)
		other := simUser(u)
		other["onPremisesImmutableId"] = "bm90LVBvcnRpY28ncy1pZA=="
		e.changeSimTenant(func(st *m365sim.SeedTenant) { st.Users = append(st.Users, other) })
		a := e.signIn(e.browser(), u, nil)
		if a.Token == nil || a.Log == nil || a.Log.Succeeded() || a.Log.Status.ErrorCode != 51004 || a.Log.ImmutableID != u.ImmutableID ||
			!strings.Contains(a.Page.Text(), "AADSTS51004") {
			t.Fatalf("a token for an immutable id Microsoft 365 does not know:\n%s", a)
		}
	})

	t.Run("MFA behaviour", func(t *testing.T) {
		e := e.on(t)
		// A password-only policy, so that only Microsoft 365's request makes
		// Portico ask for the second factor.
		passwordOnly, mfa, err := e.s.Admin.EnsurePolicies(e.ctx, e.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e.app().PolicyID != mfa.ID {
			t.Fatalf("the demo application's policy is %s, not %q", e.app().PolicyID, mfa.Name)
		}
		e.restoreWhenDone(func(a *apps.Application) { a.PolicyID, a.Office365.MFABehavior = mfa.ID, "" })
		e.configure(func(a *apps.Application) {
			a.PolicyID = passwordOnly.ID
			a.Office365.MFABehavior = "enforceMfaByFederatedIdp"
		})
		if res := e.federate("contoso.com", "updated"); !slices.Equal(res.Changed, []string{"federatedIdpMfaBehavior"}) {
			t.Fatalf("changed %v", res.Changed)
		}
		u := e.addPerson("mfa.enforced", directory.Organization{}, true)
		v := e.addPerson("mfa.accepted", directory.Organization{}, true)
		e.changeSimTenant(func(st *m365sim.SeedTenant) { st.Users = append(st.Users, simUser(u), simUser(v)) })

		b := e.browser()
		a := e.signIn(b, u, nil)
		if !slices.Equal(a.steps(), []string{"password"}) || strings.Contains(a.tokenXML(), claimMFA) {
			t.Fatalf("password-only sign-in:\n%s", a)
		}
		if l := e.accepted(a, u, e.singleIssuer(), "wsFed", "signingCertificate"); l.MFARequired {
			t.Fatalf("sim log: %+v", l)
		}
		// MFA required and enforceMfaByFederatedIdp: Entra asks Portico with
		// wauth=multipleauthn; Portico steps up with the code only.
		a = e.signIn(b, u, url.Values{"mfa": {"1"}})
		if a.query().Get("wauth") != claimMFA {
			t.Fatalf("the sim did not ask Portico for MFA: %s", a.Redirect)
		}
		if !slices.Equal(a.steps(), []string{"totp"}) || !strings.Contains(a.tokenXML(), claimMFA) {
			t.Fatalf("step-up to MFA:\n%s", a)
		}
		if l := e.accepted(a, u, e.singleIssuer(), "wsFed", "signingCertificate"); !l.MFARequired || l.MFASatisfiedBy != "federatedIdp" {
			t.Fatalf("sim log: %+v", l)
		}
		// acceptIfMfaDoneByFederatedIdp: Entra does not ask Portico, and does
		// its own MFA when the token has none.
		e.configure(func(a *apps.Application) { a.Office365.MFABehavior = "" })
		e.federate("contoso.com", "updated")
		a = e.signIn(e.browser(), v, url.Values{"mfa": {"1"}})
		if a.query().Has("wauth") || !slices.Equal(a.steps(), []string{"password"}) || strings.Contains(a.tokenXML(), claimMFA) {
			t.Fatalf("accept behaviour:\n%s", a)
		}
		if l := e.accepted(a, v, e.singleIssuer(), "wsFed", "signingCertificate"); l.MFASatisfiedBy != "entra (simulated)" {
			t.Fatalf("sim log: %+v", l)
		}
	})

	t.Run("SAML preferred", func(t *testing.T) {
		e := e.on(t)
		e.restoreWhenDone(func(a *apps.Application) {
			a.Office365.Protocol, a.Office365.RequireSignedRequests, a.Office365.RequestSigningCertificates = "", false, nil
			a.Office365.AllowSHA1Requests = false
		})
		e.configure(func(a *apps.Application) { a.Office365.Protocol = "saml" })
		res := e.federate("contoso.com", "updated")
		for _, p := range []string{"passiveSignInUri", "signOutUri", "preferredAuthenticationProtocol"} {
			if !slices.Contains(res.Changed, p) {
				t.Fatalf("switching to SAML changed %v", res.Changed)
			}
		}
		u := e.addPerson("saml.user", directory.Organization{}, true)
		signed := e.addPerson("saml.signed", directory.Organization{}, true)
		e.changeSimTenant(func(st *m365sim.SeedTenant) { st.Users = append(st.Users, simUser(u), simUser(signed)) })
		a := e.signIn(e.browser(), u, nil)
		if a.Redirect == nil || a.Redirect.String() != endpoints.SAML(e.s.URL, e.info.Tenant, e.info.AppID) ||
			!strings.Contains(a.AuthnRequest, "AuthnRequest") || !strings.Contains(a.AuthnRequest, "urn:federation:MicrosoftOnline") {
			t.Fatalf("the sim did not post an AuthnRequest to Portico's SAML endpoint:\n%s\n%s", a, a.AuthnRequest)
		}
		if !slices.Equal(a.steps(), []string{"username", "password", "totp"}) || a.Token.Get("RelayState") == "" {
			t.Fatalf("SAML sign-in:\n%s", a)
		}
		l := e.accepted(a, u, e.singleIssuer(), "saml", "signingCertificate")
		if !strings.Contains(a.Page.Text(), "SAML 2.0") || !strings.Contains(a.tokenXML(), claimMFA) {
			t.Fatalf("SAML sign-in: %+v\n%s", l, a)
		}

		// Signed AuthnRequests: Portico trusts the sim's request-signing
		// certificate and requires a signature. Until the domain says so too,
		// Microsoft 365 sends unsigned requests, which Portico refuses.
		simCert, err := e.sim.AuthnRequestSigningCertificate()
		if err != nil {
			t.Fatal(err)
		}
		e.configure(func(a *apps.Application) {
			a.Office365.RequireSignedRequests = true
			a.Office365.RequestSigningCertificates = []string{base64.StdEncoding.EncodeToString(simCert.Raw)}
		})
		a = e.signIn(e.browser(), signed, nil)
		if a.Token != nil || a.Page.Status != http.StatusForbidden || !strings.Contains(a.Page.Text(), "not signed") || strings.Contains(a.AuthnRequest, "SignatureValue") {
			t.Fatalf("an unsigned AuthnRequest when signatures are required:\n%s", a)
		}
		if res := e.federate("contoso.com", "updated"); !slices.Equal(res.Changed, []string{"isSignedAuthenticationRequestRequired"}) {
			t.Fatalf("changed %v", res.Changed)
		}
		// The sim signs as Microsoft Entra documents it: RSA-SHA1, which
		// Portico refuses until the application allows SHA-1 requests.
		a = e.signIn(e.browser(), signed, nil)
		if !strings.Contains(a.AuthnRequest, "SignatureValue") || !strings.Contains(a.AuthnRequest, "rsa-sha1") {
			t.Fatalf("the sim did not sign its AuthnRequest with RSA-SHA1:\n%s", a.AuthnRequest)
		}
		if a.Token != nil || a.Page.Status != http.StatusForbidden || !strings.Contains(a.Page.Text(), "signature") {
			t.Fatalf("an RSA-SHA1 AuthnRequest without allowSha1Requests:\n%s", a)
		}
		e.configure(func(a *apps.Application) { a.Office365.AllowSHA1Requests = true })
		a = e.signIn(e.browser(), signed, nil)
		if !strings.Contains(a.AuthnRequest, "SignatureValue") {
			t.Fatalf("the sim did not sign its AuthnRequest:\n%s", a.AuthnRequest)
		}
		e.accepted(a, signed, e.singleIssuer(), "saml", "signingCertificate")
	})
}

// TestE2ERefusals: Verify Compatibility names the failing check with its
// fix, and Federate changes nothing, for a domain federated elsewhere, the
// initial domain, a hybrid tenant and an app registration short of roles;
// the Microsoft Online mode verifies and federates with the password
// grant, and explains AADSTS50076 for an administrator who must use MFA.
func TestE2ERefusals(t *testing.T) {
	e := startE2E(t)
	keys, err := e.s.Admin.SigningKeys(e.ctx, e.tenant.ID, e.info.AppID)
	if err != nil {
		t.Fatal(err)
	}
	other, err := signing.Generate(signing.Options{CommonName: "Other IdP"})
	if err != nil {
		t.Fatal(err)
	}
	const (
		halfClientID      = "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d"
		hybridDirectoryID = "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6"
	)
	allRoles := []string{"Domain.ReadWrite.All", "User.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}
	e.changeSimTenant(func(st *m365sim.SeedTenant) {
		st.Domains = append(st.Domains,
			m365sim.SeedDomain{ID: "fabrikam.com", IsVerified: true},
			m365sim.SeedDomain{ID: "other.example", IsVerified: true, FederationConfiguration: map[string]any{
				"displayName": "Other IdP", "issuerUri": "https://sts.other.example/adfs/services/trust",
				"passiveSignInUri": "https://sts.other.example/adfs/ls/", "signingCertificate": other.Base64(),
				"preferredAuthenticationProtocol": "wsFed", "federatedIdpMfaBehavior": "acceptIfMfaDoneByFederatedIdp"}})
		st.Apps = append(st.Apps, m365sim.SeedApp{ClientID: halfClientID, DisplayName: "Portico (half configured)",
			ApplicationPermissions: []string{"User.ReadWrite.All", "Directory.ReadWrite.All"}, Certificates: []string{keys.Current.Base64()}})
		st.Users = append(st.Users, m365sim.SeedObject{"userPrincipalName": "mfa.admin@contoso.onmicrosoft.com", "displayName": "MFA Administrator",
			"password": "Mfa-admin-1", "mfaRequired": true, "directoryRoles": []any{"Global Administrator"}})
	})
	err = e.sim.Seed(m365sim.SeedFile{Tenants: []m365sim.SeedTenant{{ID: hybridDirectoryID, DisplayName: "Northwind (hybrid)",
		InitialDomain: "northwind.onmicrosoft.com", OnPremisesSyncEnabled: true,
		Domains: []m365sim.SeedDomain{{ID: "northwind.com", IsVerified: true}},
		Apps: []m365sim.SeedApp{{ClientID: demoClientID, DisplayName: "Portico", DirectoryRoles: []string{"Global Administrator"},
			ApplicationPermissions: allRoles, Certificates: []string{keys.Current.Base64()}}}}}})
	if err != nil {
		t.Fatal(err)
	}

	// refused verifies domain with the application changed by change (not
	// stored), expects the check id to fail with words in its detail and
	// fix, and Federate to change nothing in Microsoft 365 or Portico.
	refused := func(t *testing.T, domain string, change func(o *apps.Office365Settings), id, detail, fix string) {
		t.Helper()
		e := e.on(t)
		app := e.app()
		o := *app.Office365
		change(&o)
		app.Office365 = &o
		rep, err := e.s.Fed.Verify(e.ctx, e.tenant, app, domain)
		if err != nil {
			t.Fatal(err)
		}
		c := check(t, rep, id, federation.Fail)
		if rep.Compatible || !strings.Contains(c.Detail, detail) || !strings.Contains(c.Fix, fix) {
			t.Fatalf("%s: check %s = %+v (want detail with %q, fix with %q); report %+v", domain, id, c, detail, fix, rep)
		}
		before, stored := e.simFederations(), e.app()
		res, err := e.s.Fed.Federate(e.ctx, e.tenant, app, domain)
		if !errors.Is(err, federation.ErrNotCompatible) || res.Action != "none" ||
			!strings.Contains(res.Message, "nothing was changed") || !strings.Contains(res.Message, c.Detail) {
			t.Fatalf("federate %s: %v %+v", domain, err, res)
		}
		if !reflect.DeepEqual(before, e.simFederations()) {
			t.Fatalf("federate %s changed Microsoft 365:\nbefore %v\nafter  %v", domain, before, e.simFederations())
		}
		if after := e.app(); after.Version != stored.Version {
			t.Fatalf("federate %s changed the application: %+v", domain, after.Office365)
		}
	}
	same := func(*apps.Office365Settings) {}

	t.Run("domain federated elsewhere", func(t *testing.T) {
		refused(t, "other.example", same, "state",
			"other.example is federated to Other IdP (https://sts.other.example/adfs/services/trust)", "never takes over")
	})
	t.Run("initial domain", func(t *testing.T) {
		refused(t, "contoso.onmicrosoft.com", same, "initial", "initial .onmicrosoft.com domain", "federate one of your own domains")
	})
	t.Run("hybrid tenant", func(t *testing.T) {
		refused(t, "northwind.com", func(o *apps.Office365Settings) { o.DirectoryID = hybridDirectoryID }, "hybrid",
			"synchronized from on-premises Active Directory", "hybrid Office 365 deployments are not compatible")
	})
	t.Run("missing role", func(t *testing.T) {
		refused(t, "fabrikam.com", func(o *apps.Office365Settings) { o.ClientID = halfClientID }, "permissions",
			"missing application permissions: Domain.ReadWrite.All, Group.ReadWrite.All", "Grant admin consent")
		refused(t, "fabrikam.com", func(o *apps.Office365Settings) { o.ClientID = halfClientID }, "federate",
			"neither the Global Administrator role nor Domain-InternalFederation.ReadWrite.All", "Global Administrator")
	})

	t.Run("Microsoft Online mode", func(t *testing.T) {
		e := e.on(t)
		e.configure(func(a *apps.Application) {
			a.Office365.Mode = apps.ModeMSOnline
			a.Office365.MSOnlineUsername = e.info.Admin.Username
			a.Office365.MSOnlinePasswordInput = e.info.Admin.Password
			// A change to write, so that Federate must reach Graph with the
			// administrator's delegated token.
			a.Office365.PromptLoginBehavior = "nativeSupport"
		})
		if len(e.app().Office365.MSOnlinePassword) == 0 || e.app().Office365.MSOnlinePasswordInput != "" {
			t.Fatal("the administrator's password is not stored sealed")
		}
		rep, err := e.s.Fed.Verify(e.ctx, e.tenant, e.app(), "contoso.com")
		if err != nil {
			t.Fatal(err)
		}
		c := check(t, rep, "token", federation.Pass)
		if !strings.Contains(c.Detail, "Microsoft Online administrator "+e.info.Admin.Username) || !rep.Compatible {
			t.Fatalf("Microsoft Online verify: %+v", rep)
		}
		check(t, rep, "permissions", federation.Pass)
		check(t, rep, "federate", federation.Pass)
		res := e.federate("contoso.com", "updated")
		if !slices.Equal(res.Changed, []string{"promptLoginBehavior"}) || e.simFederations()["contoso.com"]["promptLoginBehavior"] != "nativeSupport" {
			t.Fatalf("Microsoft Online federate: %+v", res)
		}
		// An administrator who must use MFA cannot use the password grant.
		e.configure(func(a *apps.Application) {
			a.Office365.MSOnlineUsername = "mfa.admin@contoso.onmicrosoft.com"
			a.Office365.MSOnlinePasswordInput = "Mfa-admin-1"
			a.Office365.PromptLoginBehavior = ""
		})
		before := e.simFederations()
		rep, _ = e.s.Fed.Verify(e.ctx, e.tenant, e.app(), "contoso.com")
		c = check(t, rep, "token", federation.Fail)
		if !strings.Contains(c.Detail, "AADSTS50076") || !strings.Contains(c.Fix, "multi-factor authentication, which the password grant cannot do") {
			t.Fatalf("MFA administrator: %+v", c)
		}
		if _, err := e.s.Fed.Federate(e.ctx, e.tenant, e.app(), "contoso.com"); !errors.Is(err, federation.ErrNotCompatible) {
			t.Fatalf("federate with an MFA administrator: %v", err)
		}
		if !reflect.DeepEqual(before, e.simFederations()) {
			t.Fatal("a failed Microsoft Online federate changed Microsoft 365")
		}
	})
}

// TestE2ESeveralDomainsRolloverDisconnect: two domains federated to one
// application, each with its own issuer; a certificate rollover, step by
// step and in one command, with a sign-in accepted before and after every
// step; then disconnect, after which Microsoft 365 asks for the cloud
// password.
func TestE2ESeveralDomainsRolloverDisconnect(t *testing.T) {
	e := startE2E(t)
	fabrikam, err := e.s.Admin.CreateOrganization(e.ctx, e.tenant.ID, directory.Organization{Name: "Fabrikam", PrincipalNameSuffix: "@fabrikam.com"})
	if err != nil {
		t.Fatal(err)
	}
	// A person per full sign-in of each domain: Portico accepts each TOTP
	// code once.
	var contosoPeople, fabrikamPeople []*idptest.User
	for i := range 8 {
		contosoPeople = append(contosoPeople, e.addPerson(fmt.Sprintf("pat.contoso%d", i), directory.Organization{}, true))
	}
	for i := range 4 {
		fabrikamPeople = append(fabrikamPeople, e.addPerson(fmt.Sprintf("kim.fabrikam%d", i), fabrikam, true))
	}
	if u := fabrikamPeople[0].UPN; u != "kim.fabrikam0@fabrikam.com" {
		t.Fatalf("UPN %s", u)
	}
	e.changeSimTenant(func(st *m365sim.SeedTenant) {
		st.Domains = append(st.Domains, m365sim.SeedDomain{ID: "fabrikam.com", IsVerified: true})
		for _, u := range append(slices.Clone(contosoPeople), fabrikamPeople...) {
			st.Users = append(st.Users, simUser(u))
		}
	})
	next := func(e *e2e, list *[]*idptest.User) *idptest.User {
		e.t.Helper()
		if len(*list) == 0 {
			e.t.Fatal("out of people for sign-ins")
		}
		u := (*list)[0]
		*list = (*list)[1:]
		return u
	}
	// signIn is a full sign-in (password and code, a new browser) of a new
	// person of the domain, accepted with issuer and cert.
	signIn := func(e *e2e, list *[]*idptest.User, issuer, cert string) {
		e.t.Helper()
		u := next(e, list)
		a := e.signIn(e.browser(), u, nil)
		if !slices.Equal(a.steps(), []string{"password", "totp"}) {
			e.t.Fatalf("not a full sign-in:\n%s", a)
		}
		e.accepted(a, u, issuer, "wsFed", cert)
	}

	t.Run("two domains", func(t *testing.T) {
		e := e.on(t)
		e.configure(func(a *apps.Application) {
			a.Office365.Domains = append(a.Office365.Domains, apps.Domain{Name: "fabrikam.com"})
		})
		// Neither ticked "one of several": both would have the single issuer,
		// which Microsoft 365 refuses; Verify says what to tick.
		rep, err := e.s.Fed.Verify(e.ctx, e.tenant, e.app(), "fabrikam.com")
		if err != nil {
			t.Fatal(err)
		}
		if c := check(t, rep, "issuers", federation.Fail); !strings.Contains(c.Detail, "contoso.com") || !strings.Contains(c.Fix, "one of several") {
			t.Fatalf("shared issuer: %+v", c)
		}
		if _, err := e.s.Fed.Federate(e.ctx, e.tenant, e.app(), "fabrikam.com"); !errors.Is(err, federation.ErrNotCompatible) {
			t.Fatalf("federate a second domain with the same issuer: %v", err)
		}
		if e.simFederations()["fabrikam.com"] != nil {
			t.Fatal("fabrikam.com was federated with a clashing issuer")
		}
		e.configure(func(a *apps.Application) {
			for i := range a.Office365.Domains {
				a.Office365.Domains[i].OneOfSeveral = true
			}
		})
		if res := e.federate("contoso.com", "updated"); !slices.Equal(res.Changed, []string{"issuerUri"}) {
			t.Fatalf("contoso.com: changed %v", res.Changed)
		}
		e.federate("fabrikam.com", "created")
		fed := e.simFederations()
		if fed["contoso.com"]["issuerUri"] != e.domainIssuer("contoso.com") || fed["fabrikam.com"]["issuerUri"] != e.domainIssuer("fabrikam.com") {
			t.Fatalf("issuers in Microsoft 365: %v and %v", fed["contoso.com"]["issuerUri"], fed["fabrikam.com"]["issuerUri"])
		}
		if got := e.app().Office365.FederatedDomains(); !slices.Equal(got, []string{"contoso.com", "fabrikam.com"}) {
			t.Fatalf("federated domains recorded: %v", got)
		}
		// A user of domain B gets B's issuer and the sim accepts it; A's
		// users get A's.
		signIn(e, &fabrikamPeople, e.domainIssuer("fabrikam.com"), "signingCertificate")
		signIn(e, &contosoPeople, e.domainIssuer("contoso.com"), "signingCertificate")
	})

	t.Run("rollover step by step", func(t *testing.T) {
		e := e.on(t)
		old, err := e.s.Admin.SigningKeys(e.ctx, e.tenant.ID, e.info.AppID)
		if err != nil {
			t.Fatal(err)
		}
		// 1. Create the next certificate: Portico still signs with the
		// current one.
		nextCert, err := e.s.Admin.CreateNextKey(e.ctx, e.tenant.ID, e.info.AppID)
		if err != nil {
			t.Fatal(err)
		}
		// The administrator uploads it to the app registration too (Portico
		// authenticates to Graph with its current certificate).
		if err := e.sim.RegisterAppCertificate(demoDirectoryID, demoClientID, nextCert.Cert); err != nil {
			t.Fatal(err)
		}
		signIn(e, &contosoPeople, e.domainIssuer("contoso.com"), "signingCertificate")
		// 2. Publish it as nextSigningCertificate.
		for _, d := range []string{"contoso.com", "fabrikam.com"} {
			if res := e.federate(d, "updated"); !slices.Equal(res.Changed, []string{"nextSigningCertificate"}) {
				t.Fatalf("publish on %s changed %v", d, res.Changed)
			}
			if fc := e.simFederations()[d]; fc["nextSigningCertificate"] != nextCert.Base64() || fc["signingCertificate"] != old.Current.Base64() {
				t.Fatalf("%s after publishing: %v", d, fc)
			}
		}
		signIn(e, &contosoPeople, e.domainIssuer("contoso.com"), "signingCertificate")
		// 3. Sign with it: Microsoft 365 accepts it as the next certificate.
		if err := e.s.Admin.PromoteNextKey(e.ctx, e.tenant.ID, e.info.AppID); err != nil {
			t.Fatal(err)
		}
		signIn(e, &contosoPeople, e.domainIssuer("contoso.com"), "nextSigningCertificate")
		signIn(e, &fabrikamPeople, e.domainIssuer("fabrikam.com"), "nextSigningCertificate")
		// 4. Promote it in Microsoft 365.
		for _, d := range []string{"contoso.com", "fabrikam.com"} {
			res := e.federate(d, "updated")
			if !slices.Equal(res.Changed, []string{"signingCertificate", "nextSigningCertificate"}) {
				t.Fatalf("promote on %s changed %v", d, res.Changed)
			}
			if fc := e.simFederations()[d]; fc["signingCertificate"] != nextCert.Base64() || fc["nextSigningCertificate"] != nil {
				t.Fatalf("%s after promoting: %v", d, fc)
			}
		}
		signIn(e, &contosoPeople, e.domainIssuer("contoso.com"), "signingCertificate")

		// Out of order — signing with a certificate Microsoft 365 was never
		// told about — is refused: the steps matter.
		unpublished, err := e.s.Admin.CreateNextKey(e.ctx, e.tenant.ID, e.info.AppID)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.sim.RegisterAppCertificate(demoDirectoryID, demoClientID, unpublished.Cert); err != nil {
			t.Fatal(err)
		}
		if err := e.s.Admin.PromoteNextKey(e.ctx, e.tenant.ID, e.info.AppID); err != nil {
			t.Fatal(err)
		}
		u := next(e, &contosoPeople)
		a := e.signIn(e.browser(), u, nil)
		if a.Token == nil || a.Log == nil || a.Log.Succeeded() || a.Log.Status.ErrorCode != 50008 || a.Page.Header.Get("X-M365sim-Error") != "AADSTS50008" {
			t.Fatalf("a token signed with an unpublished certificate:\n%s", a)
		}
		e.federate("contoso.com", "updated")
		e.federate("fabrikam.com", "updated")
		signIn(e, &contosoPeople, e.domainIssuer("contoso.com"), "signingCertificate")
	})

	t.Run("rollover in one command", func(t *testing.T) {
		e := e.on(t)
		before, err := e.s.Admin.SigningKeys(e.ctx, e.tenant.ID, e.info.AppID)
		if err != nil {
			t.Fatal(err)
		}
		// As an administrator would: the first run stops and names the next
		// certificate to upload; upload it; run again.
		steps, err := e.s.Fed.Rollover(e.ctx, e.tenant, e.app())
		pending, kerr := e.s.Admin.SigningKeys(e.ctx, e.tenant.ID, e.info.AppID)
		if !errors.Is(err, federation.ErrNextNotRegistered) || kerr != nil || pending.Next == nil {
			t.Fatalf("rollover before uploading the next certificate: %v %+v", err, steps)
		}
		if err := e.sim.RegisterAppCertificate(demoDirectoryID, demoClientID, pending.Next.Cert); err != nil {
			t.Fatal(err)
		}
		steps, err = e.s.Fed.Rollover(e.ctx, e.tenant, e.app())
		if err != nil {
			t.Fatalf("rollover: %v %+v", err, steps)
		}
		want := []string{"create next certificate", "check the next certificate with Microsoft Graph", "publish next certificate", "publish next certificate",
			"sign with the new certificate", "make the new certificate current", "make the new certificate current"}
		var got []string
		for _, s := range steps {
			if !s.OK {
				t.Fatalf("rollover step %+v", s)
			}
			got = append(got, s.Step)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("rollover steps %v, want %v", got, want)
		}
		after, err := e.s.Admin.SigningKeys(e.ctx, e.tenant.ID, e.info.AppID)
		if err != nil {
			t.Fatal(err)
		}
		if after.Current.Base64() == before.Current.Base64() || after.Next != nil {
			t.Fatal("rollover did not replace the signing certificate")
		}
		for _, d := range []string{"contoso.com", "fabrikam.com"} {
			if fc := e.simFederations()[d]; fc["signingCertificate"] != after.Current.Base64() || fc["nextSigningCertificate"] != nil {
				t.Fatalf("%s after rollover: %v", d, fc)
			}
		}
		signIn(e, &contosoPeople, e.domainIssuer("contoso.com"), "signingCertificate")
		signIn(e, &fabrikamPeople, e.domainIssuer("fabrikam.com"), "signingCertificate")
		// Portico still reaches Graph (with the new certificate), and there
		// is nothing left to do: a second Federate writes nothing.
		e.federate("contoso.com", "unchanged")
	})

	t.Run("disconnect", func(t *testing.T) {
		e := e.on(t)
		john := e.user("john.smith")
		if _, err := e.s.Fed.Disconnect(e.ctx, e.tenant, e.app(), "contoso.com"); !errors.Is(err, federation.ErrAutomaticMode) {
			t.Fatalf("disconnect with Federate automatically on: %v", err)
		}
		off := false
		e.configure(func(a *apps.Application) { a.Office365.FederateAutomatically = &off })
		if _, err := e.s.Fed.Federate(e.ctx, e.tenant, e.app(), "contoso.com"); !errors.Is(err, federation.ErrManualMode) {
			t.Fatalf("federate with Federate automatically off: %v", err)
		}
		res, err := e.s.Fed.Disconnect(e.ctx, e.tenant, e.app(), "contoso.com")
		if err != nil || res.Action != "deleted" || res.State != federation.StateManaged || !strings.Contains(res.Message, "cloud passwords") {
			t.Fatalf("disconnect: %v %+v", err, res)
		}
		fed := e.simFederations()
		if fed["contoso.com"] != nil || fed["fabrikam.com"] == nil {
			t.Fatalf("after disconnecting contoso.com: contoso.com %v, fabrikam.com %v", fed["contoso.com"], fed["fabrikam.com"])
		}
		if got := e.app().Office365.FederatedDomains(); !slices.Equal(got, []string{"fabrikam.com"}) {
			t.Fatalf("federated domains recorded: %v", got)
		}
		// Microsoft 365 now asks john for his cloud password; Portico is out
		// of the picture.
		a := e.signIn(e.browser(), john, nil)
		if a.Redirect != nil || a.Page.Status != http.StatusOK || !strings.Contains(a.Page.Text(), "Enter password") ||
			!strings.Contains(a.Page.Text(), john.UPN) || len(a.Page.Forms()) != 1 || !a.Page.Forms()[0].Values.Has("username") {
			t.Fatalf("after disconnect the sim should ask for the cloud password:\n%s", a)
		}
		// fabrikam.com's users still sign in through Portico.
		signIn(e, &fabrikamPeople, e.domainIssuer("fabrikam.com"), "signingCertificate")
		// Disconnecting again is harmless and says so.
		res, err = e.s.Fed.Disconnect(e.ctx, e.tenant, e.app(), "contoso.com")
		if err != nil || res.Action != "none" || !strings.Contains(res.Message, "not federated") {
			t.Fatalf("second disconnect: %v %+v", err, res)
		}
	})
}
