package idphttp

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
	"github.com/portico-idp/portico/internal/web/login"
)

func TestSignOutReply(t *testing.T) {
	const sim = "http://127.0.0.1:8443/login.srf"
	for _, c := range []struct {
		reply, loginURL string
		ok              bool
	}{
		{"https://login.microsoftonline.com/common/wsfederation?wa=wsignoutcleanup1.0", apps.DefaultMicrosoftLoginURL, true},
		{"https://LOGIN.MICROSOFTONLINE.COM/x", apps.DefaultMicrosoftLoginURL, true},
		{"https://login.microsoftonline.com:443/x", apps.DefaultMicrosoftLoginURL, true},
		{"https://login.microsoft.com/", apps.DefaultMicrosoftLoginURL, true},
		{"https://login.windows.net/", apps.DefaultMicrosoftLoginURL, true},
		{"http://127.0.0.1:8443/after", sim, true},
		{"https://127.0.0.1:8443/after", sim, false}, // scheme differs from the configured one
		{"http://127.0.0.1:8444/after", sim, false},
		{"http://login.microsoftonline.com/", apps.DefaultMicrosoftLoginURL, false},
		{"https://login.microsoftonline.com:8443/", apps.DefaultMicrosoftLoginURL, false},
		{"https://login.microsoftonline.com.evil.example/", apps.DefaultMicrosoftLoginURL, false},
		{"https://evil.example/login.microsoftonline.com", apps.DefaultMicrosoftLoginURL, false},
		{"https://login.microsoftonline.com@evil.example/", apps.DefaultMicrosoftLoginURL, false},
		{"https://user:pw@login.microsoftonline.com/", apps.DefaultMicrosoftLoginURL, false},
		{"https:\\\\evil.example", apps.DefaultMicrosoftLoginURL, false},
		{"https://login.microsoftonline.com\\@evil.example", apps.DefaultMicrosoftLoginURL, false},
		{"https://login.microsoftonline.com/\r\nSet-Cookie: x=y", apps.DefaultMicrosoftLoginURL, false},
		{"//login.microsoftonline.com/", apps.DefaultMicrosoftLoginURL, false},
		{"/local", apps.DefaultMicrosoftLoginURL, false},
		{"javascript:alert(1)", apps.DefaultMicrosoftLoginURL, false},
		{"https:login.microsoftonline.com", apps.DefaultMicrosoftLoginURL, false},
		{"", apps.DefaultMicrosoftLoginURL, false},
	} {
		got, ok := SignOutReply(c.reply, c.loginURL)
		if ok != c.ok {
			t.Errorf("SignOutReply(%q, %q) = %q, %v; want ok=%v", c.reply, c.loginURL, got, ok, c.ok)
		}
	}
}

func TestPostForm(t *testing.T) {
	rec := httptest.NewRecorder()
	fields := []Field{{"wa", "wsignin1.0"}, {"wresult", `<t:x a="1">&amp;</t:x>`}, {"wctx", `a&b<"'>é`}}
	WritePostForm(rec, "https://login.microsoftonline.com/login.srf", fields)
	body := rec.Body.String()
	sum := sha256.Sum256([]byte(autoSubmitScript))
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") ||
		!strings.Contains(body, "<script>"+autoSubmitScript+"</script>") || strings.Count(body, "<script") != 1 {
		t.Fatalf("the script and its CSP hash do not match:\n%s\n%s", csp, body)
	}
	ssum := sha256.Sum256([]byte(pageStyle))
	if !strings.Contains(csp, "style-src 'sha256-"+base64.StdEncoding.EncodeToString(ssum[:])+"'") || !strings.Contains(body, "<style>"+pageStyle+"</style>") {
		t.Fatal("the style and its CSP hash do not match")
	}
	// What a browser would submit is the values, unchanged.
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	got := url.Values{}
	var action string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attrs := map[string]string{}
			for _, a := range n.Attr {
				attrs[a.Key] = a.Val
			}
			switch n.Data {
			case "form":
				action = attrs["action"]
			case "input":
				got.Add(attrs["name"], attrs["value"])
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if action != "https://login.microsoftonline.com/login.srf" {
		t.Errorf("action %q", action)
	}
	for _, f := range fields {
		if got.Get(f.Name) != f.Value {
			t.Errorf("%s = %q, want %q", f.Name, got.Get(f.Name), f.Value)
		}
	}
	if !strings.Contains(body, "<noscript>") || !strings.Contains(body, `<button type="submit">Continue</button>`) {
		t.Error("no visible submit button for browsers without JavaScript")
	}
}

func TestMessagePage(t *testing.T) {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	WriteMessage(rec, r, http.StatusForbidden, "Sign-in problem", `<script>alert(1)</script>`, true)
	if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), "<script>alert") || !strings.Contains(rec.Body.String(), `role="alert"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); strings.Contains(csp, "script-src") || !strings.Contains(csp, "form-action 'none'") {
		t.Errorf("CSP %q", csp)
	}
}

func TestExplain(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
	}{
		{ErrNotFound, 404},
		{fmt.Errorf("x: %w", login.ErrFlow), 400},
		{signin.ErrAppDisabled, 403},
		{signin.ErrNotPermitted, 403},
		{signin.ErrAccountDisabled, 403},
		{signin.ErrThrottled, 429},
		{ErrDomainNotFederated, 403},
		{&Problem{Status: 418, Message: "teapot"}, 418},
		{errors.New("database on fire"), 500},
	} {
		status, msg := Explain(c.err)
		if status != c.status || msg == "" || strings.Contains(msg, "fire") {
			t.Errorf("Explain(%v) = %d %q, want %d", c.err, status, msg, c.status)
		}
	}
}

func TestBounceCrossSitePOST(t *testing.T) {
	post := func(site string, form url.Values) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/t/contoso/apps/a1/saml?x=1", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
		}
		r.ParseForm()
		rec := httptest.NewRecorder()
		if !BounceCrossSitePOST(rec, r) {
			return nil
		}
		return rec
	}
	form := url.Values{"SAMLRequest": {"PHg+"}, "RelayState": {"a&b"}}
	rec := post("cross-site", form)
	if rec == nil || !strings.Contains(rec.Body.String(), `action="/t/contoso/apps/a1/saml?x=1"`) ||
		!strings.Contains(rec.Body.String(), `name="portico_resubmit" value="1"`) || !strings.Contains(rec.Body.String(), `name="RelayState" value="a&amp;b"`) {
		t.Fatalf("bounce: %v", rec)
	}
	for _, site := range []string{"", "same-origin", "same-site", "none"} {
		if post(site, form) != nil {
			t.Errorf("Sec-Fetch-Site %q bounced", site)
		}
	}
	form.Set("portico_resubmit", "1")
	if post("cross-site", form) != nil {
		t.Error("a bounced form bounced again")
	}
}

func TestNewBaseAndIssuer(t *testing.T) {
	if _, err := NewBase(Config{PublicURL: "https://id.example"}, false); err == nil {
		t.Fatal("a config without storage accepted")
	}
	ok := Config{Store: (*sqlstore.Store)(nil), Signin: &signin.Service{}, Admin: &admin.Service{}, PublicURL: "https://id.example/"}
	if _, err := NewBase(ok, true); err == nil {
		t.Fatal("a browser handler without Login accepted")
	}
	if nb, err := NewBase(ok, false); err != nil || nb.PublicURL != "https://id.example" {
		t.Fatalf("NewBase: %v", err)
	}
	for _, u := range []string{"", "portico.example", "ftp://x", "https://", "https://x/?q", "https://u@x", "https://x/#f"} {
		c := ok
		c.PublicURL = u
		if _, err := NewBase(c, false); err == nil {
			t.Errorf("public URL %q accepted", u)
		}
	}
	b := &Base{Config: Config{PublicURL: "https://id.example"}}
	tg := Target{Tenant: directory.Tenant{Slug: "contoso"}, App: apps.Application{ID: "a1",
		Office365: &apps.Office365Settings{Domains: []apps.Domain{{Name: "Contoso.com", OneOfSeveral: true}, {Name: "fabrikam.com", OneOfSeveral: true}}}}}
	for upn, want := range map[string]string{
		"a@contoso.com":       "https://id.example/t/contoso/apps/a1/issuer/contoso.com",
		"a@Sales.Contoso.com": "https://id.example/t/contoso/apps/a1/issuer/contoso.com",
		"a@fabrikam.com":      "https://id.example/t/contoso/apps/a1/issuer/fabrikam.com",
		"a@notcontoso.com":    "",
		"a@example.org":       "",
		"nodomain":            "",
		"a@":                  "",
	} {
		got, err := b.Issuer(tg, upn)
		if got != want || (want == "") != errors.Is(err, ErrDomainNotFederated) {
			t.Errorf("Issuer(%q) = %q, %v; want %q", upn, got, err, want)
		}
	}
	// Without configured domains the UPN's own domain is its root.
	tg.App.Office365.Domains = nil
	if got, _ := b.Issuer(tg, "a@example.org"); got != "https://id.example/t/contoso/apps/a1/issuer/example.org" {
		t.Errorf("unconfigured: %q", got)
	}
}
