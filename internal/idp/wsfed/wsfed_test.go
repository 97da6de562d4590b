package wsfed_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/idp/assertion"
	"github.com/portico-idp/portico/internal/idp/endpoints"
	"github.com/portico-idp/portico/internal/idp/idptest"
)

// entraContext is a wctx as Entra sends it, with characters that must
// survive HTML and form encoding unchanged.
const entraContext = `LoginOptions=3&estsredirect=2&estsrequest=rQQIARAAjZE9b+JAEIb/i+tsrP1ewx8f3/` + "\u00e9" + `<x>"q"'&amp;`

// token checks the response a sign-in ended with — posted to the
// application's login URL with wa and wctx, wresult verified by Portico's
// verifier and by xmlsec1, the RSTR in the contract's shape — and returns
// what the assertion says.
func token(t *testing.T, e *idptest.Env, f *idptest.Flow, wantCtx string) idptest.SAML11 {
	t.Helper()
	if f.Post == nil {
		t.Fatalf("no response; last page: %s", f.Last)
	}
	p := f.Post
	if p.Action != e.App.LoginURL() {
		t.Fatalf("response posted to %q, want the application's login URL %q", p.Action, e.App.LoginURL())
	}
	if got := p.Values.Get("wa"); got != "wsignin1.0" {
		t.Errorf("wa = %q", got)
	}
	if got, ok := p.Values["wctx"]; !ok || len(got) != 1 || got[0] != wantCtx {
		t.Errorf("wctx = %q, want %q unchanged", got, wantCtx)
	}
	if p.NoscriptButtons != 1 {
		t.Errorf("%d submit buttons in <noscript>, want 1 (the page must work without JavaScript)", p.NoscriptButtons)
	}
	wresult := []byte(p.Values.Get("wresult"))
	cert := e.SigningCert().Cert
	a, err := assertion.VerifyWSFedResponse(wresult, assertion.Verifier{Certs: []*x509.Certificate{cert}, Now: e.Clock.Now})
	if err != nil {
		t.Fatalf("wresult does not verify: %v\n%s", err, wresult)
	}
	idptest.MustXMLSecVerify(t, wresult, cert, idptest.IDAttrSAML11)
	for _, want := range []string{
		// M365-CONTRACT.md §4: no whitespace between RequestedSecurityToken and the assertion.
		`<t:RequestedSecurityToken><saml:Assertion `, `</saml:Assertion></t:RequestedSecurityToken>`,
		`<wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><wsa:EndpointReference xmlns:wsa="http://www.w3.org/2005/08/addressing"><wsa:Address>urn:federation:MicrosoftOnline</wsa:Address>`,
		`<t:TokenType>urn:oasis:names:tc:SAML:1.0:assertion</t:TokenType>`,
		`<t:RequestType>http://schemas.xmlsoap.org/ws/2005/02/trust/Issue</t:RequestType>`,
		`<t:KeyType>http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey</t:KeyType>`,
	} {
		if !bytes.Contains(wresult, []byte(want)) {
			t.Errorf("wresult lacks %s", want)
		}
	}
	return idptest.ReadSAML11(t, a)
}

// checkClaims holds a token to the contract (M365-CONTRACT.md §4) for user
// u of rootDomain.
func checkClaims(t *testing.T, e *idptest.Env, tok idptest.SAML11, u *idptest.User, rootDomain string, mfa bool) {
	t.Helper()
	const claimsNS, liveNS, msNS = "http://schemas.xmlsoap.org/claims", "http://schemas.microsoft.com/LiveID/Federation/2008/05", "http://schemas.microsoft.com/claims"
	now := e.Clock.Now()
	checks := []struct {
		what      string
		got, want any
	}{
		{"issuer", tok.Issuer, e.Issuer(rootDomain)},
		{"version", tok.MajorVersion + "." + tok.MinorVersion, "1.1"},
		{"assertion id starts with _", strings.HasPrefix(tok.AssertionID, "_"), true},
		{"issue instant", tok.IssueInstant, now},
		{"not before", tok.NotBefore, now},
		{"lifetime", tok.NotOnOrAfter.Sub(tok.NotBefore), time.Hour},
		{"audience", tok.Audience, "urn:federation:MicrosoftOnline"},
		{"name identifier", tok.NameID, u.ImmutableID},
		{"name identifier format", tok.NameIDFormat, "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"},
		{"confirmation", tok.Confirmation, "urn:oasis:names:tc:SAML:1.0:cm:bearer"},
		{"UPN", strings.Join(tok.Attribute(claimsNS, "UPN"), ","), u.UPN},
		{"ImmutableID attribute", strings.Join(tok.Attribute(liveNS, "ImmutableID"), ","), u.ImmutableID},
		{"authentication instant not in the future", !tok.AuthnInstant.After(now), true},
	}
	if mfa {
		checks = append(checks,
			struct {
				what      string
				got, want any
			}{"authentication method", tok.AuthnMethod, assertion.MultipleAuthn},
			struct {
				what      string
				got, want any
			}{"authnmethodsreferences", strings.Join(tok.Attribute(msNS, "authnmethodsreferences"), ","), assertion.MultipleAuthn})
	} else {
		checks = append(checks,
			struct {
				what      string
				got, want any
			}{"authentication method", tok.AuthnMethod, assertion.AuthnMethodPassword11},
			struct {
				what      string
				got, want any
			}{"authnmethodsreferences (must be absent)", len(tok.Attribute(msNS, "authnmethodsreferences")), 0})
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestSignInPasswordAndTOTP(t *testing.T) {
	e := idptest.New(t, idptest.Options{})
	u := e.AddUser(idptest.UserSpec{Username: "john.smith"})
	b := e.Browser()
	f := b.SignIn(e.WSFedURL(idptest.SignInQuery(u.UPN, entraContext)), u)
	// The username came as a hint: the first page asks for the password.
	if strings.Join(f.Steps, ",") != "password,totp" {
		t.Fatalf("steps %v, want password,totp; last page %s", f.Steps, f.Last)
	}
	tok := token(t, e, f, entraContext)
	checkClaims(t, e, tok, u, "contoso.com", true)
	if u.UPN != "john.smith@contoso.com" {
		t.Fatalf("UPN %q: the organization suffix was not applied", u.UPN)
	}

	// The page: CSP allows exactly the one inline script, by hash.
	page := f.Post.Page
	csp := page.Header.Get("Content-Security-Policy")
	script := "document.forms[0].submit();"
	sum := sha256.Sum256([]byte(script))
	if !strings.Contains(csp, "script-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") ||
		!strings.Contains(string(page.Body), "<script>"+script+"</script>") || strings.Contains(csp, "unsafe-inline") ||
		!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q does not allow exactly the page's script", csp)
	}
	if cc := page.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	// Golden file of the page with the response in it (the signature, the
	// certificate and the application id change from run to run).
	body := regexp.MustCompile(`name="wresult" value="[^"]*"`).ReplaceAll(page.Body, []byte(`name="wresult" value="{wresult}"`))
	idptest.Golden(t, "signin_mfa_page", body, e.Masks()...)
	idptest.Golden(t, "signin_mfa_wresult", []byte(f.Post.Values.Get("wresult")), append(e.Masks(), idptest.Mask{Old: u.ImmutableID, New: "{immutableID}"})...)
	// No password, no TOTP secret in the logs.
	if logs := e.Logs.String(); strings.Contains(logs, u.Password) || strings.Contains(logs, u.TOTPSecret) {
		t.Error("a secret was logged")
	}
}

func TestIssuerPerRootDomain(t *testing.T) {
	e := idptest.New(t, idptest.Options{})
	sales := e.AddOrganization("Sales", "@sales.contoso.com")
	fab := e.AddOrganization("Fabrikam", "@fabrikam.com")
	for _, c := range []struct {
		org, root, upn string
	}{
		{sales.ID, "contoso.com", "ann@sales.contoso.com"}, // a subdomain uses its root's issuer
		{fab.ID, "fabrikam.com", "bob@fabrikam.com"},
	} {
		u := e.AddUser(idptest.UserSpec{Username: strings.Split(c.upn, "@")[0], OrganizationID: c.org})
		if u.UPN != c.upn {
			t.Fatalf("UPN %q, want %q", u.UPN, c.upn)
		}
		f := e.Browser().SignIn(e.WSFedURL(idptest.SignInQuery(u.UPN, "ctx")), u)
		checkClaims(t, e, token(t, e, f, "ctx"), u, c.root, true)
	}
	// A UPN outside every federated domain gets no token.
	other := e.AddOrganization("Other", "@example.org")
	u := e.AddUser(idptest.UserSpec{Username: "carol", OrganizationID: other.ID})
	f := e.Browser().SignIn(e.WSFedURL(idptest.SignInQuery(u.UPN, "ctx")), u)
	if f.Post != nil || f.Last.Status != http.StatusForbidden || !strings.Contains(f.Last.Text(), "domain is not set up") {
		t.Fatalf("user of an unfederated domain: %s", f.Last)
	}
}

func TestSingleSignOnAndFreshness(t *testing.T) {
	e := idptest.New(t, idptest.Options{})
	u := e.AddUser(idptest.UserSpec{Username: "john.smith"})
	b := e.Browser()
	start := e.WSFedURL(idptest.SignInQuery(u.UPN, "one"))
	if f := b.SignIn(start, u); len(f.Steps) != 2 {
		t.Fatalf("first sign-in: %v %s", f.Steps, f.Last)
	}
	// Later, the session answers at once: no page, the MFA of the session
	// still counts.
	e.Clock.Add(10 * time.Minute)
	f := b.SignIn(e.WSFedURL(idptest.SignInQuery(u.UPN, "two")), u)
	if len(f.Steps) != 0 {
		t.Fatalf("SSO sign-in asked %v", f.Steps)
	}
	tok := token(t, e, f, "two")
	checkClaims(t, e, tok, u, "contoso.com", true)
	if !tok.AuthnInstant.Equal(idptest.Start) {
		t.Errorf("SSO authentication instant %v, want the original sign-in's %v", tok.AuthnInstant, idptest.Start)
	}
	// Without a username hint the session answers too.
	if f := b.SignIn(e.WSFedURL(idptest.SignInQuery("", "three")), u); len(f.Steps) != 0 || f.Post == nil {
		t.Fatalf("SSO without hint: %v %s", f.Steps, f.Last)
	}
	// A hint naming someone else does not get this user's session.
	other := e.AddUser(idptest.UserSpec{Username: "jane"})
	e.Clock.Add(31 * time.Second)
	f = b.SignIn(e.WSFedURL(idptest.SignInQuery(other.UPN, "four")), other)
	if strings.Join(f.Steps, ",") != "password,totp" {
		t.Fatalf("other user's hint: %v", f.Steps)
	}
	checkClaims(t, e, token(t, e, f, "four"), other, "contoso.com", true)

	// wfresh=0 and prompt=login force the password (and the policy's
	// second factor) again.
	for _, fresh := range []url.Values{{"wfresh": {"0"}}, {"prompt": {"login"}}} {
		e.Clock.Add(31 * time.Second)
		q := idptest.SignInQuery(u.UPN, "fresh")
		for k, v := range fresh {
			q[k] = v
		}
		f := b.SignIn(e.WSFedURL(q), u)
		if strings.Join(f.Steps, ",") != "password,totp" {
			t.Fatalf("%v: steps %v", fresh, f.Steps)
		}
		tok := token(t, e, f, "fresh")
		if !tok.AuthnInstant.Equal(e.Clock.Now()) {
			t.Errorf("%v: authentication instant %v, want now", fresh, tok.AuthnInstant)
		}
	}
	// wfresh=N: a session authenticated more than N minutes ago is not
	// enough (WS-Federation 1.2 §13).
	e.Clock.Add(3 * time.Minute)
	q := idptest.SignInQuery(u.UPN, "age")
	q.Set("wfresh", "60")
	if f := b.SignIn(e.WSFedURL(q), u); len(f.Steps) != 0 {
		t.Fatalf("wfresh=60 with a 3-minute-old authentication asked %v", f.Steps)
	}
	q.Set("wfresh", "2")
	if f := b.SignIn(e.WSFedURL(q), u); strings.Join(f.Steps, ",") != "password,totp" {
		t.Fatalf("wfresh=2 with a 3-minute-old authentication: %v", f.Steps)
	}
}

func TestMultipleAuthnStepUp(t *testing.T) {
	e := idptest.New(t, idptest.Options{})
	e.UpdateApp(func(a *apps.Application) { a.PolicyID = e.PasswordOnly.ID })
	u := e.AddUser(idptest.UserSpec{Username: "john.smith"})
	b := e.Browser()
	f := b.SignIn(e.WSFedURL(idptest.SignInQuery(u.UPN, "c1")), u)
	if strings.Join(f.Steps, ",") != "password" {
		t.Fatalf("password-only policy: %v", f.Steps)
	}
	checkClaims(t, e, token(t, e, f, "c1"), u, "contoso.com", false)

	// Entra asks for MFA: the session proves the password, only the second
	// factor is asked.
	q := idptest.SignInQuery(u.UPN, "c2")
	q.Set("wauth", "http://schemas.microsoft.com/claims/multipleauthn")
	f = b.SignIn(e.WSFedURL(q), u)
	if strings.Join(f.Steps, ",") != "totp" {
		t.Fatalf("step-up: %v %s", f.Steps, f.Last)
	}
	checkClaims(t, e, token(t, e, f, "c2"), u, "contoso.com", true)

	// In a fresh browser both are asked.
	e.Clock.Add(31 * time.Second)
	f = e.Browser().SignIn(e.WSFedURL(q), u)
	if strings.Join(f.Steps, ",") != "password,totp" {
		t.Fatalf("multipleauthn in a new browser: %v", f.Steps)
	}
	checkClaims(t, e, token(t, e, f, "c2"), u, "contoso.com", true)
}

func TestEnrolmentOfAuthenticator(t *testing.T) {
	e := idptest.New(t, idptest.Options{})
	u := e.AddUser(idptest.UserSpec{Username: "new.hire", NoTOTP: true})
	b := e.Browser()
	// Without a hint: the username page first.
	f := b.SignIn(e.WSFedURL(idptest.SignInQuery("", "ctx")), u)
	if strings.Join(f.Steps, ",") != "username,password,enrol,recovery" {
		t.Fatalf("steps %v; last %s", f.Steps, f.Last)
	}
	if u.TOTPSecret == "" || len(f.Recovery) != 10 {
		t.Fatalf("secret %q, %d recovery codes", u.TOTPSecret, len(f.Recovery))
	}
	recovery := f.Recovery
	checkClaims(t, e, token(t, e, f, "ctx"), u, "contoso.com", true)
	// The enrolled authenticator works in another browser.
	e.Clock.Add(31 * time.Second)
	f = e.Browser().SignIn(e.WSFedURL(idptest.SignInQuery(u.UPN, "ctx")), u)
	if strings.Join(f.Steps, ",") != "password,totp" {
		t.Fatalf("after enrolment: %v", f.Steps)
	}
	checkClaims(t, e, token(t, e, f, "ctx"), u, "contoso.com", true)

	// Lost phone: a recovery code, in the page's recovery field, works once.
	for i, want := range []string{"", "totp"} {
		b := e.Browser()
		p := b.Get(e.WSFedURL(idptest.SignInQuery(u.UPN, "ctx")))
		form := p.Forms()[0]
		form.Values.Set("password", u.Password)
		p = b.Post(form.Action, form.Values)
		if p.Step() != "totp" {
			t.Fatalf("round %d: after the password: %s", i, p)
		}
		form = p.Forms()[0]
		form.Values.Set("recovery", recovery[0]) // the second use must fail
		form.Values.Set("code", "")
		p = b.Post(form.Action, form.Values)
		if p.Step() != want {
			t.Fatalf("round %d: recovery code: step %q, want %q: %s", i, p.Step(), want, p)
		}
	}
}

func TestRefusals(t *testing.T) {
	e := idptest.New(t, idptest.Options{})
	u := e.AddUser(idptest.UserSpec{Username: "john.smith"})
	refused := func(t *testing.T, p *idptest.Page, status int, words string) {
		t.Helper()
		if p.Status != status || !strings.Contains(p.Text(), words) || p.AutoPost() != nil {
			t.Fatalf("want %d %q, got %s", status, words, p)
		}
		if p.Step() != "" {
			t.Fatalf("the login pages were shown: %s", p)
		}
	}
	t.Run("wrong realm", func(t *testing.T) {
		for _, realm := range []string{"urn:federation:Other", "https://evil.example/", ""} {
			q := idptest.SignInQuery(u.UPN, "ctx")
			q.Set("wtrealm", realm)
			refused(t, e.Browser().Get(e.WSFedURL(q)), http.StatusBadRequest, "only Microsoft 365")
		}
	})
	t.Run("unknown action", func(t *testing.T) {
		q := idptest.SignInQuery(u.UPN, "ctx")
		q.Set("wa", "wattr1.0")
		refused(t, e.Browser().Get(e.WSFedURL(q)), http.StatusBadRequest, "sign-in and sign-out requests only")
	})
	t.Run("repeated parameter", func(t *testing.T) {
		q := idptest.SignInQuery(u.UPN, "ctx")
		q.Add("wctx", "second")
		refused(t, e.Browser().Get(e.WSFedURL(q)), http.StatusBadRequest, "repeated")
	})
	t.Run("oversized context", func(t *testing.T) {
		refused(t, e.Browser().Get(e.WSFedURL(idptest.SignInQuery(u.UPN, strings.Repeat("x", 17<<10)))), http.StatusBadRequest, "too large")
	})
	t.Run("oversized body", func(t *testing.T) {
		v := idptest.SignInQuery(u.UPN, "ctx")
		v.Set("filler", strings.Repeat("x", 70<<10))
		p := e.Browser().Post(endpoints.WSFed(e.PublicURL, e.Tenant.Slug, e.App.ID), v)
		refused(t, p, http.StatusRequestEntityTooLarge, "could not be read")
	})
	t.Run("unknown tenant and application", func(t *testing.T) {
		for _, path := range []string{
			endpoints.WSFed(e.PublicURL, "nobody", e.App.ID),
			endpoints.WSFed(e.PublicURL, e.Tenant.Slug, "00000000-0000-0000-0000-000000000000"),
		} {
			refused(t, e.Browser().Get(path+"?"+idptest.SignInQuery(u.UPN, "ctx").Encode()), http.StatusNotFound, "does not exist")
		}
	})
	t.Run("application of another tenant", func(t *testing.T) {
		other, _, err := e.Admin.CreateTenant(idptest.Ctx, "fabrikam", "Fabrikam", "@fabrikam.net")
		if err != nil {
			t.Fatal(err)
		}
		oa, err := e.Admin.CreateApplication(idptest.Ctx, other.ID, apps.Application{Name: "Office 365", Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		// The other tenant's application, addressed under this tenant.
		refused(t, e.Browser().Get(endpoints.WSFed(e.PublicURL, e.Tenant.Slug, oa.ID)+"?"+idptest.SignInQuery(u.UPN, "ctx").Encode()),
			http.StatusNotFound, "does not exist")
		// This tenant's application, addressed under the other tenant.
		refused(t, e.Browser().Get(endpoints.WSFed(e.PublicURL, other.Slug, e.App.ID)+"?"+idptest.SignInQuery(u.UPN, "ctx").Encode()),
			http.StatusNotFound, "does not exist")
		refused(t, e.Browser().Get(endpoints.FederationMetadata(e.PublicURL, other.Slug, e.App.ID)), http.StatusNotFound, "does not exist")
	})
	t.Run("user outside the permission group", func(t *testing.T) {
		out := e.AddUser(idptest.UserSpec{Username: "outsider", NotMember: true})
		f := e.Browser().SignIn(e.WSFedURL(idptest.SignInQuery(out.UPN, "ctx")), out)
		if f.Post != nil || f.Last.Status != http.StatusForbidden || !strings.Contains(f.Last.Text(), "not allowed to use this application") {
			t.Fatalf("outsider: %s", f.Last)
		}
	})
	t.Run("suspended user", func(t *testing.T) {
		s := e.AddUser(idptest.UserSpec{Username: "suspended"})
		b := e.Browser()
		if f := b.SignIn(e.WSFedURL(idptest.SignInQuery(s.UPN, "ctx")), s); f.Post == nil {
			t.Fatalf("before suspension: %s", f.Last)
		}
		e.SetUserStatus(s, directory.StatusSuspended)
		e.Clock.Add(31 * time.Second)
		// Neither the session nor a new sign-in gets a token: suspension
		// ended the session, and the password is then refused.
		p := b.Get(e.WSFedURL(idptest.SignInQuery(s.UPN, "ctx")))
		if p.AutoPost() != nil || p.Step() != "password" {
			t.Fatalf("suspended user's session: want the login page, got %s", p)
		}
		if f := b.Continue(p, s); f.Post != nil || f.Last.Status != http.StatusForbidden || !strings.Contains(f.Last.Text(), "not active") {
			t.Fatalf("suspended user, same browser: %s", f.Last)
		}
		f := e.Browser().SignIn(e.WSFedURL(idptest.SignInQuery(s.UPN, "ctx")), s)
		if f.Post != nil || !strings.Contains(f.Last.Text(), "not active") {
			t.Fatalf("suspended user, new browser: %s", f.Last)
		}
	})
	t.Run("replayed TOTP code", func(t *testing.T) {
		r := e.AddUser(idptest.UserSpec{Username: "replay"})
		e.Clock.Add(31 * time.Second)
		if f := e.Browser().SignIn(e.WSFedURL(idptest.SignInQuery(r.UPN, "ctx")), r); f.Post == nil {
			t.Fatalf("first use: %s", f.Last)
		}
		// Someone who saw the code tries it in another browser within the
		// same 30 seconds.
		f := e.Browser().SignIn(e.WSFedURL(idptest.SignInQuery(r.UPN, "ctx")), r)
		if f.Post != nil || f.Last.Step() != "totp" || f.Last.Status != http.StatusUnauthorized || !strings.Contains(f.Last.Text(), "code is not valid") {
			t.Fatalf("replayed code: %v %s", f.Steps, f.Last)
		}
	})
	t.Run("disabled application", func(t *testing.T) {
		b := e.Browser()
		e.Clock.Add(31 * time.Second)
		if f := b.SignIn(e.WSFedURL(idptest.SignInQuery(u.UPN, "ctx")), u); f.Post == nil {
			t.Fatalf("enabled: %s", f.Last)
		}
		e.UpdateApp(func(a *apps.Application) { a.Enabled = false })
		defer e.UpdateApp(func(a *apps.Application) { a.Enabled = true })
		refused(t, b.Get(e.WSFedURL(idptest.SignInQuery(u.UPN, "ctx"))), http.StatusForbidden, "application is disabled")
		refused(t, e.Browser().Get(e.WSFedURL(idptest.SignInQuery(u.UPN, "ctx"))), http.StatusForbidden, "application is disabled")
		refused(t, b.Get(endpoints.FederationMetadata(e.PublicURL, e.Tenant.Slug, e.App.ID)), http.StatusForbidden, "application is disabled")
	})
	t.Run("wreply is never a reply address", func(t *testing.T) {
		q := idptest.SignInQuery(u.UPN, "ctx")
		q.Set("wreply", "https://evil.example/steal")
		e.Clock.Add(31 * time.Second)
		f := e.Browser().SignIn(e.WSFedURL(q), u)
		if f.Post == nil || f.Post.Action != apps.DefaultMicrosoftLoginURL || strings.Contains(string(f.Post.Page.Body), "evil.example") {
			t.Fatalf("response with wreply: %+v %s", f.Post, f.Last)
		}
	})
	if logs := e.Logs.String(); strings.Contains(logs, u.Password) {
		t.Error("a password was logged")
	}
}

func TestContinueURLWorksOnceAndOnlyInItsBrowser(t *testing.T) {
	e := idptest.New(t, idptest.Options{})
	e.UpdateApp(func(a *apps.Application) { a.PolicyID = e.PasswordOnly.ID })
	u := e.AddUser(idptest.UserSpec{Username: "john.smith"})
	b := e.Browser()
	// Walk to the password page and submit by hand, without following
	// the redirect to the continue URL.
	p := b.Get(e.WSFedURL(idptest.SignInQuery(u.UPN, "ctx")))
	form := p.Forms()[0]
	form.Values.Set("password", u.Password)
	b.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp := b.Post(form.Action, form.Values)
	cont := resp.Header.Get("Location")
	if resp.Status != http.StatusSeeOther || !strings.Contains(cont, "/wsfed/continue?flow=") {
		t.Fatalf("after the password: %s, Location %q", resp, cont)
	}
	contURL := e.URL(cont)
	// Another browser cannot use the link.
	if p := e.Browser().Get(contURL); p.Status != http.StatusBadRequest || p.AutoPost() != nil {
		t.Fatalf("continue URL in another browser: %s", p)
	}
	// A SAML continue endpoint does not take a WS-Fed flow.
	if p := b.Get(strings.Replace(contURL, "/wsfed/continue", "/saml/continue", 1)); p.AutoPost() != nil {
		t.Fatalf("WS-Fed flow finished at the SAML endpoint: %s", p)
	}
	// That attempt consumed the flow: one flow, one token at most.
	if p := b.Get(contURL); p.Status != http.StatusBadRequest || p.AutoPost() != nil {
		t.Fatalf("continue after the flow was consumed: %s", p)
	}

	// A fresh flow: the continue URL works once.
	p = b.Get(e.WSFedURL(idptest.SignInQuery(u.UPN, "ctx2")))
	if p.AutoPost() == nil {
		// The session from the first password answers at once.
		t.Fatalf("SSO expected: %s", p)
	}
}

func TestSignOut(t *testing.T) {
	e := idptest.New(t, idptest.Options{LoginURL: "https://127.0.0.1:8443/login.srf"})
	u := e.AddUser(idptest.UserSpec{Username: "john.smith"})
	signedIn := func(b *idptest.Browser) bool {
		p := b.Get(e.WSFedURL(idptest.SignInQuery(u.UPN, "ctx")))
		return p.AutoPost() != nil
	}
	for _, c := range []struct {
		wa, wreply, redirect string
	}{
		{"wsignout1.0", "https://login.microsoftonline.com/common/wsfederation?wa=wsignoutcleanup1.0", "https://login.microsoftonline.com/common/wsfederation?wa=wsignoutcleanup1.0"},
		{"wsignout1.0", "https://login.microsoft.com/x", "https://login.microsoft.com/x"},
		{"wsignoutcleanup1.0", "https://login.windows.net/", "https://login.windows.net/"},
		{"wsignout1.0", "https://127.0.0.1:8443/signout", "https://127.0.0.1:8443/signout"}, // the configured login host
		{"wsignout1.0", "https://evil.example/", ""},
		{"wsignout1.0", "https://login.microsoftonline.com.evil.example/", ""},
		{"wsignout1.0", "https://login.microsoftonline.com@evil.example/", ""},
		{"wsignout1.0", "http://login.microsoftonline.com/", ""},
		{"wsignout1.0", "//evil.example/", ""},
		{"wsignout1.0", "/t/contoso/login/x", ""},
		{"wsignout1.0", "https://127.0.0.1:9999/", ""},
		{"wsignout1.0", "javascript:alert(1)", ""},
		{"wsignout1.0", "", ""},
	} {
		b := e.Browser()
		e.Clock.Add(31 * time.Second)
		if f := b.SignIn(e.WSFedURL(idptest.SignInQuery(u.UPN, "ctx")), u); f.Post == nil {
			t.Fatalf("sign-in: %s", f.Last)
		}
		if !signedIn(b) {
			t.Fatal("no session after sign-in")
		}
		q := url.Values{"wa": {c.wa}}
		if c.wreply != "" {
			q.Set("wreply", c.wreply)
		}
		p := b.Get(e.WSFedURL(q))
		if c.redirect != "" {
			if p.Status != http.StatusSeeOther || p.Header.Get("Location") != c.redirect {
				t.Errorf("%s wreply=%q: %d Location %q, want a redirect to %q", c.wa, c.wreply, p.Status, p.Header.Get("Location"), c.redirect)
			}
		} else if p.Status != http.StatusOK || p.Header.Get("Location") != "" || !strings.Contains(p.Text(), "You have signed out") {
			t.Errorf("%s wreply=%q: want the signed-out page, got %s (Location %q)", c.wa, c.wreply, p, p.Header.Get("Location"))
		}
		if signedIn(b) {
			t.Errorf("%s wreply=%q: the session survived", c.wa, c.wreply)
		}
	}
}

func TestCrossSitePOSTIsBouncedToKeepSSO(t *testing.T) {
	e := idptest.New(t, idptest.Options{})
	u := e.AddUser(idptest.UserSpec{Username: "john.smith"})
	b := e.Browser()
	if f := b.SignIn(e.WSFedURL(idptest.SignInQuery(u.UPN, "ctx")), u); f.Post == nil {
		t.Fatal(f.Last)
	}
	// A cross-site POST (its Lax cookies withheld by a real browser) gets a
	// page that posts the same fields to the same place from Portico's own
	// origin.
	b.Header.Set("Sec-Fetch-Site", "cross-site")
	p := b.Post(endpoints.WSFed(e.PublicURL, e.Tenant.Slug, e.App.ID), idptest.SignInQuery(u.UPN, "posted"))
	ap := p.AutoPost()
	if ap == nil || !strings.HasSuffix(ap.Action, "/wsfed") || ap.Values.Get("wctx") != "posted" || ap.Values.Get("portico_resubmit") != "1" {
		t.Fatalf("bounce page: %s", p)
	}
	b.Header.Set("Sec-Fetch-Site", "same-origin")
	f := b.Continue(b.Post(ap.Action, ap.Values), u)
	if len(f.Steps) != 0 {
		t.Fatalf("after the bounce the session should answer, got %v", f.Steps)
	}
	checkClaims(t, e, token(t, e, f, "posted"), u, "contoso.com", true)
}

func TestFederationMetadata(t *testing.T) {
	e := idptest.New(t, idptest.Options{})
	b := e.Browser()
	cur := e.SigningCert()
	next, err := e.Admin.CreateNextKey(idptest.Ctx, e.Tenant.ID, e.App.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ query, root string }{{"", "contoso.com"}, {"?domain=fabrikam.com", "fabrikam.com"}, {"?domain=eu.fabrikam.com", "fabrikam.com"}} {
		p := b.Get(endpoints.FederationMetadata(e.PublicURL, e.Tenant.Slug, e.App.ID) + c.query)
		if p.Status != http.StatusOK || p.Header.Get("Content-Type") != "application/samlmetadata+xml" {
			t.Fatalf("metadata%s: %s", c.query, p)
		}
		idptest.MustXMLSecVerify(t, p.Body, cur.Cert, idptest.IDAttrMetadata)
		if ok, _ := idptest.XMLSecVerify(t, p.Body, next.Cert, idptest.IDAttrMetadata); ok {
			t.Fatal("metadata verifies with the next key: it must be signed with the current one")
		}
		body := string(p.Body)
		for _, want := range []string{
			`entityID="` + e.Issuer(c.root) + `"`,
			`<wsa:Address>` + endpoints.WSFed(e.PublicURL, e.Tenant.Slug, e.App.ID) + `</wsa:Address>`,
			`<wsa:Address>` + endpoints.WSTrustUsernameMixed(e.PublicURL, e.Tenant.Slug, e.App.ID) + `</wsa:Address>`,
			cur.Base64(), next.Base64(),
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metadata%s lacks %s", c.query, want)
			}
		}
		if c.query == "" {
			idptest.Golden(t, "federation_metadata", p.Body, e.Masks()...)
		}
	}
	if p := b.Get(endpoints.FederationMetadata(e.PublicURL, e.Tenant.Slug, e.App.ID) + "?domain=not_a_domain"); p.Status != http.StatusNotFound {
		t.Fatalf("bad domain: %s", p)
	}
}

func TestKeyRollover(t *testing.T) {
	e := idptest.New(t, idptest.Options{})
	u := e.AddUser(idptest.UserSpec{Username: "john.smith"})
	old := e.SigningCert()
	if _, err := e.Admin.CreateNextKey(idptest.Ctx, e.Tenant.ID, e.App.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.Admin.PromoteNextKey(idptest.Ctx, e.Tenant.ID, e.App.ID); err != nil {
		t.Fatal(err)
	}
	f := e.Browser().SignIn(e.WSFedURL(idptest.SignInQuery(u.UPN, "ctx")), u)
	checkClaims(t, e, token(t, e, f, "ctx"), u, "contoso.com", true) // verified with the new current key
	if ok, _ := idptest.XMLSecVerify(t, []byte(f.Post.Values.Get("wresult")), old.Cert, idptest.IDAttrSAML11); ok {
		t.Fatal("after promotion the token is still signed with the old key")
	}
}
