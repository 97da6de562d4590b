package wsfed_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/portico-idp/portico/internal/idp/assertion"
	"github.com/portico-idp/portico/internal/idp/endpoints"
	"github.com/portico-idp/portico/internal/idp/idphttp"
	"github.com/portico-idp/portico/internal/idp/idptest"
)

// fuzzMarker is a string no page template contains: an input carrying it
// must never come back as markup (only HTML-escaped).
const fuzzMarker = "<fz"

// formOf returns the action and fields of the first form of an HTML page.
func formOf(body string) (action string, fields url.Values, ok bool) {
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		return "", nil, false
	}
	fields = url.Values{}
	var walk func(n *html.Node) bool
	walk = func(n *html.Node) bool {
		if n.Type == html.ElementNode && n.Data == "form" && !ok {
			ok = true
			for _, a := range n.Attr {
				if a.Key == "action" {
					action = a.Val
				}
			}
		}
		if ok && n.Type == html.ElementNode && n.Data == "input" {
			var name, value string
			for _, a := range n.Attr {
				switch a.Key {
				case "name":
					name = a.Val
				case "value":
					value = a.Val
				}
			}
			if name != "" {
				fields.Add(name, value)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
		return ok
	}
	walk(doc)
	return action, fields, ok
}

// checkLocation fails unless a redirect stays on Portico or goes to a
// Microsoft login host or the application's own login host (never to a
// wreply of the requester's choosing).
func checkLocation(t *testing.T, loc, publicURL, loginURL string) {
	t.Helper()
	if loc == "" {
		return
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("redirect to unparsable %q", loc)
	}
	if u.Host == "" && u.Scheme == "" && strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") && !strings.Contains(loc, "\\") {
		return
	}
	host := strings.ToLower(u.Hostname())
	pub, _ := url.Parse(publicURL)
	login, _ := url.Parse(loginURL)
	if u.Scheme == "https" && (host == pub.Hostname() || strings.EqualFold(u.Host, login.Host)) {
		return
	}
	for _, h := range idphttp.MicrosoftLoginHosts {
		if u.Scheme == "https" && host == h {
			return
		}
	}
	t.Fatalf("redirect to %q: an open redirect", loc)
}

// FuzzWSFedRequest sends arbitrary WS-Federation requests to the passive
// endpoint: as a GET query, as a POSTed form, and as a GET from a browser
// that already has a Portico session (so that tokens are issued). The
// fuzzed bytes are the raw query or body, so every parameter (wa, wtrealm,
// wctx, wreply, wfresh, wauth, username, prompt) and every encoding error
// reaches the handler. Properties:
//   - never a 5xx;
//   - a login page or a token only for wa=wsignin1.0 and
//     wtrealm=urn:federation:MicrosoftOnline, each given once;
//   - a token is posted only to the application's login URL, carries wctx
//     unchanged, and verifies with the application's certificate;
//   - redirects never leave Portico or Microsoft's login hosts;
//   - input never comes back as markup.
func FuzzWSFedRequest(f *testing.F) {
	e := idptest.New(f, idptest.Options{})
	u := e.AddUser(idptest.UserSpec{Username: "adele"})
	endpoint := endpoints.WSFed(e.PublicURL, e.Tenant.Slug, e.App.ID)
	ep, _ := url.Parse(endpoint)

	// A browser with a Portico session: sign in once, keep its cookies.
	b := e.Browser()
	if fl := b.SignIn(e.WSFedURL(idptest.SignInQuery(u.UPN, "ctx")), u); fl.Post == nil {
		f.Fatalf("fixture sign-in failed: %s", fl.Last)
	}
	session := b.Client.Jar.Cookies(ep)
	if len(session) == 0 {
		f.Fatal("fixture sign-in left no cookie")
	}
	cert := e.SigningCert().Cert
	handler := e.Server.Config.Handler

	entra := idptest.SignInQuery(u.UPN, entraContext).Encode()
	for _, q := range []string{
		entra,
		idptest.SignInQuery("", "LoginOptions=3&estsredirect=2&estsrequest=rQQIARAAjZE9b").Encode(),
		entra + "&wauth=" + url.QueryEscape(assertion.MultipleAuthn),
		entra + "&wfresh=0", entra + "&wfresh=5", entra + "&prompt=login",
		entra + "&wreply=" + url.QueryEscape("https://evil.example/steal"),
		"wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline&wctx=" + url.QueryEscape(fuzzMarker+` x="y">`) + "&username=" + url.QueryEscape(fuzzMarker+">@contoso.com"),
		"wa=wsignout1.0&wreply=" + url.QueryEscape("https://login.microsoftonline.com/logout.srf"),
		"wa=wsignoutcleanup1.0&wreply=" + url.QueryEscape("https://evil.example/"),
		"wa=wsignin1.0&wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline",
		"wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline&wctx=%zz",
		// A browser would alter these in the token's form: refused.
		"wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline&wctx=a%00b",
		"wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline&wctx=a%0D%0Ab",
		"wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline&wctx=a%FFb",
		"wa=wsignin1.0&wtrealm=urn:federation:Other", "",
	} {
		for mode := range uint8(3) {
			f.Add(mode, q)
		}
	}

	f.Fuzz(func(t *testing.T, mode uint8, raw string) {
		var req *http.Request
		switch mode % 3 {
		case 1:
			req = httptest.NewRequest(http.MethodPost, endpoint, strings.NewReader(raw))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		default:
			req = httptest.NewRequest(http.MethodGet, endpoint, nil)
			req.URL.RawQuery = raw
		}
		req.TLS = &tls.ConnectionState{}
		vals, perr := url.ParseQuery(raw)
		signedIn := false
		if mode%3 == 2 {
			// Never sign the shared session out: later inputs need it.
			signOut := false
			for _, wa := range vals["wa"] {
				signOut = signOut || strings.HasPrefix(wa, "wsignout")
			}
			if !signOut {
				signedIn = true
				for _, c := range session {
					req.AddCookie(c)
				}
			}
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		body := rec.Body.String()
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, raw, body)
		}
		if strings.Contains(raw, fuzzMarker) && strings.Contains(body, fuzzMarker) {
			t.Fatalf("input came back as markup: %s", body)
		}
		checkLocation(t, rec.Header().Get("Location"), e.PublicURL, e.App.LoginURL())
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			return
		}
		action, form, hasForm := formOf(body)
		if !hasForm {
			return
		}
		autoPost := strings.Contains(rec.Header().Get("Content-Security-Policy"), "script-src 'sha256-") && !form.Has("csrf")
		if !autoPost && !form.Has("csrf") {
			return // a page without a sign-in form
		}
		// A login page or a token: the request must have been a valid sign-in.
		if perr != nil || len(vals["wa"]) != 1 || vals.Get("wa") != "wsignin1.0" ||
			len(vals["wtrealm"]) != 1 || vals.Get("wtrealm") != assertion.MicrosoftOnlineRealm || len(vals["wctx"]) > 1 {
			t.Fatalf("accepted an invalid sign-in request %q (parse error %v)", raw, perr)
		}
		if !autoPost {
			return
		}
		if !signedIn {
			t.Fatalf("a token without a session for %q", raw)
		}
		if action != e.App.LoginURL() {
			t.Fatalf("token posted to %q, not the application's login URL %q", action, e.App.LoginURL())
		}
		if got, want := form["wctx"], vals["wctx"]; len(got) != len(want) || (len(want) == 1 && got[0] != want[0]) {
			t.Fatalf("wctx %q came back as %q", want, got)
		}
		// What the HTML parser above keeps, a browser may still change when
		// it decodes the page and submits the form: invalid UTF-8 becomes
		// U+FFFD, line breaks become CRLF.
		if c := vals.Get("wctx"); !utf8.ValidString(c) || strings.ContainsFunc(c, func(r rune) bool { return r < 0x20 && r != '\t' }) {
			t.Fatalf("token echoes a wctx a browser would alter: %q", c)
		}
		if _, err := assertion.VerifyWSFedResponse([]byte(form.Get("wresult")), assertion.Verifier{Certs: []*x509.Certificate{cert}, Now: e.Clock.Now}); err != nil {
			t.Fatalf("issued token does not verify: %v", err)
		}
	})
}
