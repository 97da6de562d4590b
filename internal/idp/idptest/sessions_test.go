package idptest_test

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"github.com/portico-idp/portico/internal/authz"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/api"
	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/idp/assertion"
	"github.com/portico-idp/portico/internal/idp/endpoints"
	"github.com/portico-idp/portico/internal/idp/idptest"
)

// Session lifetimes of the fixture's policy: short, so that a login flow
// (15 minutes) outlives its session and the continue endpoint can be
// tried after the session's end.
const (
	idle    = 5 * time.Minute
	maxLife = 12 * time.Minute
)

// fixture is an Env whose application asks for a TOTP code under a policy
// with short sessions, with the administration API mounted.
type fixture struct {
	*idptest.Env
	apiToken string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	apiMux := http.NewServeMux()
	e := idptest.New(t, idptest.Options{Register: func(mux *http.ServeMux) { mux.Handle("/api/", apiMux) }})
	api.New(e.Admin, e.Signin, slog.New(slog.DiscardHandler)).Register(apiMux)
	secret, _, err := e.Admin.CreateAPIToken(idptest.Ctx, e.Tenant.ID, "tests", authz.TenantAdmin)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := e.Admin.CreatePolicy(idptest.Ctx, e.Tenant.ID, authn.Policy{Name: "Short", SecondFactor: authn.FactorTOTP,
		SessionIdle: idle, SessionMax: maxLife})
	if err != nil {
		t.Fatal(err)
	}
	e.UpdateApp(func(a *apps.Application) { a.PolicyID = pol.ID })
	return &fixture{Env: e, apiToken: secret}
}

// call sends an administration API request and returns the status and body.
func (f *fixture) call(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.URL("/api/v1/tenants/"+f.Tenant.Slug+path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.apiToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Transport: f.Transport()}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var samlIDs int

// authnRequest is an Entra-shaped SAML AuthnRequest with a fresh id.
func (f *fixture) authnRequest() []byte {
	samlIDs++
	return idptest.AuthnRequest{ID: fmt.Sprintf("_sessions-%d", samlIDs), IssueInstant: f.Clock.Now(),
		Destination: endpoints.SAML(f.PublicURL, f.Tenant.Slug, f.App.ID)}.XML()
}

// A signInPath is a way a protocol request reaches Portico.
type signInPath struct {
	name  string
	proto string // "wsfed" or "saml": how to read the token
	// open sends a new sign-in request of u from b and returns Portico's
	// answer.
	open func(t *testing.T, f *fixture, b *idptest.Browser, u *idptest.User) *idptest.Page
	// viaContinue: the browser finishes the login pages but stops before
	// the continue URL; the session ends; then the continue URL is loaded.
	viaContinue bool
}

func openWSFed(t *testing.T, f *fixture, b *idptest.Browser, u *idptest.User) *idptest.Page {
	return b.Get(f.WSFedURL(idptest.SignInQuery(u.UPN, "ctx")))
}

func openSAMLRedirect(t *testing.T, f *fixture, b *idptest.Browser, u *idptest.User) *idptest.Page {
	return b.Get(endpoints.SAML(f.PublicURL, f.Tenant.Slug, f.App.ID) + "?" + idptest.RedirectQuery(t, f.authnRequest(), "rs", nil))
}

func openSAMLPOST(t *testing.T, f *fixture, b *idptest.Browser, u *idptest.User) *idptest.Page {
	return b.Post(endpoints.SAML(f.PublicURL, f.Tenant.Slug, f.App.ID),
		url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(f.authnRequest())}, "RelayState": {"rs"}})
}

var signInPaths = []signInPath{
	{name: "WS-Fed wsignin1.0", proto: "wsfed", open: openWSFed},
	{name: "SAML Redirect", proto: "saml", open: openSAMLRedirect},
	{name: "SAML POST", proto: "saml", open: openSAMLPOST},
	{name: "WS-Fed continue", proto: "wsfed", open: openWSFed, viaContinue: true},
	{name: "SAML continue", proto: "saml", open: openSAMLRedirect, viaContinue: true},
}

// An ending is a way a session ends.
type ending struct {
	name string
	end  func(t *testing.T, f *fixture, b *idptest.Browser, u *idptest.User)
}

func signedOutPage(t *testing.T, p *idptest.Page) {
	t.Helper()
	if p.Status != http.StatusOK || !strings.Contains(p.Text(), "signed out") {
		t.Fatalf("sign-out: %s", p)
	}
}

var endings = []ending{
	{"API revoke", func(t *testing.T, f *fixture, b *idptest.Browser, u *idptest.User) {
		status, body := f.call(t, http.MethodDelete, "/users/"+u.ID+"/sessions", "")
		if status != http.StatusOK || !strings.Contains(body, `"revoked":1`) {
			t.Fatalf("DELETE sessions: %d %s", status, body)
		}
	}},
	{"/t/{t}/logout", func(t *testing.T, f *fixture, b *idptest.Browser, u *idptest.User) {
		signedOutPage(t, b.Get(f.URL("/t/"+f.Tenant.Slug+"/logout")))
	}},
	{"wsignout1.0", func(t *testing.T, f *fixture, b *idptest.Browser, u *idptest.User) {
		signedOutPage(t, b.Get(f.WSFedURL(url.Values{"wa": {"wsignout1.0"}})))
	}},
	{"SAML LogoutRequest", func(t *testing.T, f *fixture, b *idptest.Browser, u *idptest.User) {
		signedOutPage(t, b.Get(endpoints.SAMLSignOut(f.PublicURL, f.Tenant.Slug, f.App.ID)+"?SAMLRequest=x"))
	}},
	{"idle timeout", func(t *testing.T, f *fixture, b *idptest.Browser, u *idptest.User) {
		f.Clock.Add(idle)
	}},
	{"absolute timeout", func(t *testing.T, f *fixture, b *idptest.Browser, u *idptest.User) {
		// Used every 4 minutes the session never idles out; it still ends
		// 12 minutes after it began.
		for range 2 {
			f.Clock.Add(4 * time.Minute)
			if p := openWSFed(t, f, b, u); p.AutoPost() == nil {
				t.Fatalf("the session does not answer while alive: %s", p)
			}
		}
		f.Clock.Add(maxLife - 8*time.Minute)
	}},
	{"expired, not purged", func(t *testing.T, f *fixture, b *idptest.Browser, u *idptest.User) {
		x, err := f.Store.GetSessionByToken(idptest.Ctx, authn.HashToken(sessionCookie(t, f, b).Value))
		if err != nil {
			t.Fatal(err)
		}
		// Its absolute end has passed and housekeeping has not deleted it
		// yet (it runs every few minutes); idle it is not.
		if _, err := f.Store.UpdateSession(idptest.Ctx, x.ID, func(o authn.Session) (authn.Session, error) {
			o.ExpiresAt = f.Clock.Now().Add(-time.Second)
			return o, nil
		}); err != nil {
			t.Fatal(err)
		}
	}},
	{"password reset (API)", func(t *testing.T, f *fixture, b *idptest.Browser, u *idptest.User) {
		u.Password = "a brand new passphrase"
		if status, body := f.call(t, http.MethodPut, "/users/"+u.ID+"/password", `{"password":"`+u.Password+`"}`); status != http.StatusNoContent {
			t.Fatalf("PUT password: %d %s", status, body)
		}
	}},
	{"authenticator reset (API)", func(t *testing.T, f *fixture, b *idptest.Browser, u *idptest.User) {
		if status, body := f.call(t, http.MethodDelete, "/users/"+u.ID+"/totp", ""); status != http.StatusNoContent {
			t.Fatalf("DELETE totp: %d %s", status, body)
		}
	}},
}

// sessionCookie is the browser's single sign-on cookie for the fixture's
// tenant.
func sessionCookie(t *testing.T, f *fixture, b *idptest.Browser) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(f.URL("/t/" + f.Tenant.Slug + "/"))
	for _, c := range b.Client.Jar.Cookies(u) {
		if strings.Contains(c.Name, "session") {
			return c
		}
	}
	t.Fatal("the browser has no session cookie")
	return nil
}

// putCookie puts c back into the browser, as a browser that kept it (or
// someone who copied it) would send it.
func putCookie(f *fixture, b *idptest.Browser, c *http.Cookie) {
	u, _ := url.Parse(f.URL("/"))
	b.Client.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/", Secure: true, HttpOnly: true}})
}

// token checks that a flow ended with a token posted to the application
// and returns its authentication instant and whether it claims MFA.
func token(t *testing.T, f *fixture, proto string, fl *idptest.Flow) (time.Time, bool) {
	t.Helper()
	if fl.Post == nil || fl.Post.Action != f.App.LoginURL() {
		t.Fatalf("no token issued; steps %v, last page %s", fl.Steps, fl.Last)
	}
	v := assertion.Verifier{Certs: []*x509.Certificate{f.SigningCert().Cert}, Now: f.Clock.Now}
	if proto == "wsfed" {
		a, err := assertion.VerifyWSFedResponse([]byte(fl.Post.Values.Get("wresult")), v)
		if err != nil {
			t.Fatal(err)
		}
		tok := idptest.ReadSAML11(t, a)
		return tok.AuthnInstant, tok.AuthnMethod == assertion.MultipleAuthn
	}
	raw, err := base64.StdEncoding.DecodeString(fl.Post.Values.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := assertion.VerifySAML2Response(raw, v)
	if err != nil {
		t.Fatal(err)
	}
	tok := idptest.ReadSAML2(t, a)
	return tok.AuthnInstant, tok.ClassRef == assertion.MultipleAuthn
}

// stopBeforeContinue makes b stop at the redirect to a continue URL
// instead of following it; the returned function undoes that.
func stopBeforeContinue(b *idptest.Browser) func() {
	orig := b.Client.CheckRedirect
	b.Client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasSuffix(req.URL.Path, "/continue") {
			return http.ErrUseLastResponse
		}
		return orig(req, via)
	}
	return func() { b.Client.CheckRedirect = orig }
}

// TestEndedSessionsDoNotSignIn: after a session ends — however it ends —
// its cookie obtains no token on any path; the browser lands on a fresh
// login page, and signing in there works (issue 9, item 1; item 3 for the
// password and authenticator resets).
func TestEndedSessionsDoNotSignIn(t *testing.T) {
	f := newFixture(t)
	control := ending{"none (control: the kept cookie signs in)", func(*testing.T, *fixture, *idptest.Browser, *idptest.User) {}}
	for _, path := range signInPaths {
		for _, end := range append([]ending{control}, endings...) {
			t.Run(path.name+"/"+end.name, func(t *testing.T) {
				u := f.AddUser(idptest.UserSpec{})
				b := f.Browser()
				f.Clock.Add(31 * time.Second)
				var cont string
				if path.viaContinue {
					undo := stopBeforeContinue(b)
					fl := b.Continue(path.open(t, f, b, u), u)
					undo()
					loc, err := fl.Last.URL.Parse(fl.Last.Header.Get("Location"))
					if fl.Last.Status != http.StatusSeeOther || err != nil || !strings.HasSuffix(loc.Path, "/continue") {
						t.Fatalf("login pages did not end at a continue URL: %v %s", fl.Steps, fl.Last)
					}
					cont = loc.String()
				} else if _, mfa := token(t, f, path.proto, b.Continue(path.open(t, f, b, u), u)); !mfa {
					t.Fatal("first sign-in: no MFA claim")
				}
				kept := sessionCookie(t, f, b)

				end.end(t, f, b, u)
				putCookie(f, b, kept)
				f.Clock.Add(31 * time.Second) // a new TOTP code for the sign-in below

				var p *idptest.Page
				if path.viaContinue {
					p = b.Get(cont)
				} else {
					p = path.open(t, f, b, u)
				}
				if end.name == control.name {
					if _, mfa := token(t, f, path.proto, b.Continue(p, u)); !mfa {
						t.Fatal("no MFA claim")
					}
					return
				}
				if ap := p.AutoPost(); ap != nil && ap.Action == f.App.LoginURL() {
					t.Fatalf("the ended session obtained a token: %s", p)
				}
				if s := p.Step(); s != "username" && s != "password" {
					t.Fatalf("want a fresh login page, got %s", p)
				}
				fl := b.Continue(p, u)
				at, mfa := token(t, f, path.proto, fl)
				if !fl.Asked("password") || !mfa || !at.Equal(f.Clock.Now()) {
					t.Fatalf("fresh sign-in: steps %v, MFA %v, authenticated at %v (now %v)", fl.Steps, mfa, at, f.Clock.Now())
				}
			})
		}
	}
}

// replay loads a WS-Fed sign-in of u in a new browser that carries only
// the session cookie c.
func replay(f *fixture, c *http.Cookie, q url.Values) *idptest.Page {
	b := f.Browser()
	putCookie(f, b, c)
	return b.Get(f.WSFedURL(q))
}

func mfaQuery(u *idptest.User) url.Values {
	q := idptest.SignInQuery(u.UPN, "ctx")
	q.Set("wauth", assertion.MultipleAuthn)
	return q
}

// TestSessionTokenRotates: a session's token changes whenever its
// authentication level changes (password only → MFA) and whenever the user
// signs in again; the token before no longer signs anyone in (issue 9,
// item 2: session fixation).
func TestSessionTokenRotates(t *testing.T) {
	f := newFixture(t)
	f.UpdateApp(func(a *apps.Application) { a.PolicyID = f.PasswordOnly.ID })
	u := f.AddUser(idptest.UserSpec{})
	b := f.Browser()
	fl := b.SignIn(f.WSFedURL(idptest.SignInQuery(u.UPN, "ctx")), u)
	if _, mfa := token(t, f, "wsfed", fl); mfa || strings.Join(fl.Steps, ",") != "password" {
		t.Fatalf("password-only sign-in: %v, MFA %v", fl.Steps, mfa)
	}
	pwOnly := sessionCookie(t, f, b)

	// Step-up: Microsoft asks for MFA; the session vouches for the password.
	f.Clock.Add(time.Minute)
	fl = b.SignIn(f.WSFedURL(mfaQuery(u)), u)
	if _, mfa := token(t, f, "wsfed", fl); !mfa || strings.Join(fl.Steps, ",") != "totp" {
		t.Fatalf("step-up: %v, MFA %v", fl.Steps, mfa)
	}
	stepped := sessionCookie(t, f, b)
	if stepped.Value == pwOnly.Value {
		t.Fatal("the step-up kept the session token")
	}
	for _, q := range []url.Values{idptest.SignInQuery(u.UPN, "ctx"), mfaQuery(u)} {
		if p := replay(f, pwOnly, q); p.AutoPost() != nil || p.Step() != "password" {
			t.Fatalf("the token before the step-up still signs in (%s): %s", q.Get("wauth"), p)
		}
	}
	if p := replay(f, stepped, mfaQuery(u)); p.AutoPost() == nil {
		t.Fatalf("the stepped-up token does not sign in: %s", p)
	}

	// Signing in again (wfresh=0 asks for the password).
	f.Clock.Add(time.Minute)
	q := idptest.SignInQuery(u.UPN, "ctx")
	q.Set("wfresh", "0")
	if fl = b.SignIn(f.WSFedURL(q), u); fl.Post == nil || !fl.Asked("password") {
		t.Fatalf("sign-in again: %v %s", fl.Steps, fl.Last)
	}
	again := sessionCookie(t, f, b)
	if again.Value == stepped.Value {
		t.Fatal("signing in again kept the session token")
	}
	if p := replay(f, stepped, idptest.SignInQuery(u.UPN, "ctx")); p.AutoPost() != nil {
		t.Fatalf("the token before the new sign-in still signs in: %s", p)
	}
	if p := replay(f, again, mfaQuery(u)); p.AutoPost() == nil {
		t.Fatalf("the new token lost the session's MFA: %s", p)
	}
}

// TestPlantedSessionCookieGainsNothing: someone signs in as themselves and
// plants their session cookie in another person's browser; that person
// signs in (as themselves). The planted token ends and never yields the
// other person's token.
func TestPlantedSessionCookieGainsNothing(t *testing.T) {
	f := newFixture(t)
	mallory, victim := f.AddUser(idptest.UserSpec{Username: "mallory"}), f.AddUser(idptest.UserSpec{Username: "victim"})
	mb := f.Browser()
	if fl := mb.SignIn(f.WSFedURL(idptest.SignInQuery(mallory.UPN, "ctx")), mallory); fl.Post == nil {
		t.Fatal(fl.Last)
	}
	planted := sessionCookie(t, f, mb)
	vb := f.Browser()
	putCookie(f, vb, planted)
	f.Clock.Add(31 * time.Second)
	fl := vb.SignIn(f.WSFedURL(idptest.SignInQuery(victim.UPN, "ctx")), victim)
	if fl.Post == nil || !fl.Asked("password") {
		t.Fatalf("victim's sign-in: %v %s", fl.Steps, fl.Last)
	}
	if sessionCookie(t, f, vb).Value == planted.Value {
		t.Fatal("the victim's browser kept the planted token")
	}
	for _, u := range []*idptest.User{victim, mallory} {
		if p := replay(f, planted, idptest.SignInQuery(u.UPN, "ctx")); p.AutoPost() != nil {
			t.Fatalf("the planted token signs in as %s: %s", u.Username, p)
		}
	}
}

// TestSessionCookieAttributes: over https the cookies have the __Host-
// prefix, Secure, Path=/, no Domain, HttpOnly and SameSite=Lax, and a name
// per tenant.
func TestSessionCookieAttributes(t *testing.T) {
	f := newFixture(t)
	u := f.AddUser(idptest.UserSpec{})
	b := f.Browser()
	first := b.Get(f.WSFedURL(idptest.SignInQuery(u.UPN, "ctx")))
	undo := stopBeforeContinue(b)
	fl := b.Continue(first, u)
	undo()
	for _, c := range []struct {
		p    *idptest.Page
		name string
	}{
		{first, "__Host-portico_flow_" + f.Tenant.ID},
		{fl.Last, "__Host-portico_session_" + f.Tenant.ID},
	} {
		var found *http.Cookie
		for _, line := range c.p.Header.Values("Set-Cookie") {
			if sc, err := http.ParseSetCookie(line); err == nil && sc.Name == c.name {
				found = sc
			}
		}
		if found == nil {
			t.Fatalf("no %s cookie set; Set-Cookie: %q", c.name, c.p.Header.Values("Set-Cookie"))
		}
		if !found.Secure || found.Path != "/" || found.Domain != "" || !found.HttpOnly || found.SameSite != http.SameSiteLaxMode {
			t.Errorf("%s: Secure %v, Path %q, Domain %q, HttpOnly %v, SameSite %v", c.name, found.Secure, found.Path, found.Domain, found.HttpOnly, found.SameSite)
		}
	}
}

// TestTenantsKeepTheirOwnSessions: with every cookie at Path=/, one
// browser signed in to two tenants keeps both sessions, and signing out of
// one leaves the other.
func TestTenantsKeepTheirOwnSessions(t *testing.T) {
	f := newFixture(t)
	f.UpdateApp(func(a *apps.Application) { a.PolicyID = f.PasswordOnly.ID })
	u := f.AddUser(idptest.UserSpec{})
	ctx := idptest.Ctx
	t2, _, err := f.Admin.CreateTenant(ctx, "fabrikam", "Fabrikam", "@fabrikam.com")
	if err != nil {
		t.Fatal(err)
	}
	pw2, _, err := f.Admin.EnsurePolicies(ctx, t2.ID)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := f.Admin.CreateGroup(ctx, t2.ID, directory.Group{Name: "Office 365 Users", Type: directory.GroupSecurity})
	if err != nil {
		t.Fatal(err)
	}
	app2, err := f.Admin.CreateApplication(ctx, t2.ID, apps.Application{Name: "Office 365", Enabled: true, PolicyID: pw2.ID,
		GroupIDs: []string{g2.ID}, Office365: &apps.Office365Settings{Domains: apps.Domains("fabrikam.com")}})
	if err != nil {
		t.Fatal(err)
	}
	du, err := f.Admin.CreateUser(ctx, t2.ID, directory.User{Username: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	u2 := &idptest.User{User: du, Password: "fabrikam passphrase"}
	if err := f.Signin.SetPassword(ctx, t2.ID, du.ID, u2.Password); err != nil {
		t.Fatal(err)
	}
	if err := f.Store.AddGroupMember(ctx, t2.ID, g2.ID, du.ID); err != nil {
		t.Fatal(err)
	}
	start1 := f.WSFedURL(idptest.SignInQuery(u.UPN, "ctx"))
	start2 := endpoints.WSFed(f.PublicURL, t2.Slug, app2.ID) + "?" + idptest.SignInQuery(u2.UPN, "ctx").Encode()

	b := f.Browser()
	for _, c := range []struct {
		start string
		u     *idptest.User
	}{{start1, u}, {start2, u2}} {
		if fl := b.SignIn(c.start, c.u); fl.Post == nil || !fl.Asked("password") {
			t.Fatalf("sign-in to %s: %v %s", c.start, fl.Steps, fl.Last)
		}
	}
	for _, start := range []string{start1, start2} {
		if p := b.Get(start); p.AutoPost() == nil {
			t.Fatalf("a sign-in to one tenant ended the other's session: %s", p)
		}
	}
	signedOutPage(t, b.Get(f.URL("/t/"+t2.Slug+"/logout")))
	if p := b.Get(start2); p.AutoPost() != nil {
		t.Fatalf("signed out of fabrikam, still signed in there: %s", p)
	}
	if p := b.Get(start1); p.AutoPost() == nil {
		t.Fatalf("signing out of fabrikam signed out of contoso: %s", p)
	}
}

// TestInactiveUsersSessionDoesNotSignIn: a suspended user's session signs
// no one in, and reactivating the user does not revive it; a deleted
// user's neither.
func TestInactiveUsersSessionDoesNotSignIn(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name string
		end  func(t *testing.T, u *idptest.User)
	}{
		{"suspended, then reactivated (API)", func(t *testing.T, u *idptest.User) {
			for _, st := range []string{"suspended", "active"} {
				if s, body := f.call(t, http.MethodPatch, "/users/"+u.ID, `{"status":"`+st+`"}`); s != http.StatusOK {
					t.Fatalf("PATCH status %s: %d %s", st, s, body)
				}
			}
		}},
		{"deleted (API)", func(t *testing.T, u *idptest.User) {
			if s, body := f.call(t, http.MethodDelete, "/users/"+u.ID, ""); s != http.StatusNoContent {
				t.Fatalf("DELETE user: %d %s", s, body)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := f.AddUser(idptest.UserSpec{})
			b := f.Browser()
			f.Clock.Add(31 * time.Second)
			if fl := b.SignIn(f.WSFedURL(idptest.SignInQuery(u.UPN, "ctx")), u); fl.Post == nil {
				t.Fatal(fl.Last)
			}
			kept := sessionCookie(t, f, b)
			c.end(t, u)
			if p := replay(f, kept, idptest.SignInQuery(u.UPN, "ctx")); p.AutoPost() != nil || p.Step() != "password" {
				t.Fatalf("want a fresh login page, got %s", p)
			}
		})
	}
}

// TestStepUpAfterSessionEnded: a step-up asks only for the code because
// the session vouches for the password; when the session ends while the
// code page is open, the code alone signs no one in — the password is
// asked again.
func TestStepUpAfterSessionEnded(t *testing.T) {
	f := newFixture(t)
	f.UpdateApp(func(a *apps.Application) { a.PolicyID = f.PasswordOnly.ID })
	u := f.AddUser(idptest.UserSpec{})
	b := f.Browser()
	if fl := b.SignIn(f.WSFedURL(idptest.SignInQuery(u.UPN, "ctx")), u); fl.Post == nil {
		t.Fatal(fl.Last)
	}
	f.Clock.Add(time.Minute)
	p := b.Get(f.WSFedURL(mfaQuery(u)))
	if p.Step() != "totp" {
		t.Fatalf("step-up: want the code page, got %s", p)
	}
	if status, body := f.call(t, http.MethodDelete, "/users/"+u.ID+"/sessions", ""); status != http.StatusOK {
		t.Fatalf("DELETE sessions: %d %s", status, body)
	}
	form := p.Forms()[0]
	form.Values.Set("code", f.TOTPCode(u))
	p = b.Post(form.Action, form.Values)
	if p.AutoPost() != nil || p.Step() != "password" || !strings.Contains(p.Text(), "session has ended") {
		t.Fatalf("code after the session ended: want the password page saying why, got %s", p)
	}
	f.Clock.Add(31 * time.Second)
	fl := b.Continue(p, u)
	if _, mfa := token(t, f, "wsfed", fl); !mfa || strings.Join(fl.Steps, ",") != "password,totp" {
		t.Fatalf("sign-in after: %v, MFA %v", fl.Steps, mfa)
	}
}
