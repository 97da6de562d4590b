package login_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/idp/idptest"
	"github.com/portico-idp/portico/internal/signin"
)

// fuzzMarker is a string no page template contains: an input carrying it
// must never come back as markup (only HTML-escaped).
const fuzzMarker = "<fz"

// loginPage is what the fuzzer reads from an answer: the sign-in form's
// action and fields, and the authenticator key of an enrolment page.
type loginPage struct {
	action string
	fields url.Values
	secret string
}

func readPage(body string) loginPage {
	var p loginPage
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		return p
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := map[string]string{}
			for _, a := range n.Attr {
				attr[a.Key] = a.Val
			}
			switch {
			case n.Data == "form" && p.fields == nil:
				p.action, p.fields = attr["action"], url.Values{}
			case n.Data == "input" && p.fields != nil && attr["type"] == "hidden":
				p.fields.Add(attr["name"], attr["value"])
			case n.Data == "span" && attr["class"] == "secret" && n.FirstChild != nil:
				p.secret = strings.ReplaceAll(n.FirstChild.Data, " ", "")
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return p
}

// browser is a cookie jar in front of the handler, called in process.
type browser struct {
	h       http.Handler
	cookies map[string]*http.Cookie
}

func (b *browser) do(method, target, form string) *httptest.ResponseRecorder {
	var req *http.Request
	if method == http.MethodPost {
		req = httptest.NewRequest(method, target, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	req.TLS = &tls.ConnectionState{}
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		b.cookies[c.Name] = c
	}
	return rec
}

// FuzzLoginForm posts arbitrary application/x-www-form-urlencoded bodies
// to each step of the login pages (username, password, TOTP, authenticator
// enrolment), in a fresh sign-in flow each time. In the body, {csrf} stands
// for the flow's CSRF token, {password} for the user's password, {code}
// for the current TOTP code and {recovery} for an unused recovery code, so
// that the fuzzer can get past each check and explore what follows.
// Properties:
//   - never a 5xx;
//   - input never comes back as markup;
//   - a step moves on only with the flow's CSRF token and the step's name;
//     past the password step only with the user's exact password; to
//     "signed in" only with the current code (or a recovery code), and
//     never straight from the password step (the application requires
//     MFA).
func FuzzLoginForm(f *testing.F) {
	e := idptest.New(f, idptest.Options{Limits: &signin.Limits{Unfamiliar: 1 << 40, Familiar: 1 << 40, PerClient: 1 << 40, Window: time.Minute}})
	adele := e.AddUser(idptest.UserSpec{Username: "adele", NoTOTP: true})
	nora := e.AddUser(idptest.UserSpec{Username: "nora", NoTOTP: true})
	ctx := idptest.Ctx
	en, err := authn.NewTOTP("Portico", adele.UPN, nil)
	if err != nil {
		f.Fatal(err)
	}
	recovery, err := e.Signin.EnrolTOTP(ctx, adele.User, en.Secret)
	if err != nil {
		f.Fatal(err)
	}
	adele.TOTPSecret = en.Secret
	start := e.WSFedURL(idptest.SignInQuery("", "ctx"))

	for _, s := range []struct {
		step uint8
		body string
	}{
		{0, "csrf={csrf}&step=username&username=adele"},
		{0, "csrf={csrf}&step=username&username=+adele%40contoso.com+"},
		{0, "csrf={csrf}&step=username&username="},
		{0, "csrf=wrong&step=username&username=adele"},
		{0, "step=username&username=adele"},
		{0, "csrf={csrf}&step=password&username=adele"},
		{0, "csrf={csrf}&csrf=x&step=username&username=" + url.QueryEscape(fuzzMarker+">")},
		{1, "csrf={csrf}&step=password&username=adele&password={password}"},
		{1, "csrf={csrf}&step=password&username=adele&password=correct+horse"},
		{1, "csrf={csrf}&step=password&username=adele&other=1"},
		{1, "csrf={csrf}&step=password&password=%zz"},
		{2, "csrf={csrf}&step=totp&code={code}"},
		{2, "csrf={csrf}&step=totp&code=+{code}+"},
		{2, "csrf={csrf}&step=totp&code=000000"},
		{2, "csrf={csrf}&step=totp&code=&recovery={recovery}"},
		{3, "csrf={csrf}&step=enrol&code={code}"},
		{3, "csrf={csrf}&step=enrol&code=123456"},
	} {
		f.Add(s.step, s.body)
	}

	f.Fuzz(func(t *testing.T, which uint8, raw string) {
		b := &browser{h: e.Server.Config.Handler, cookies: map[string]*http.Cookie{}}
		rec := b.do(http.MethodGet, start, "")
		p := readPage(rec.Body.String())
		if rec.Code != http.StatusOK || p.fields.Get("step") != "username" {
			t.Fatalf("flow did not start: %d %s", rec.Code, rec.Body.String())
		}
		csrf := p.fields.Get("csrf")
		post := func(v url.Values) loginPage {
			v.Set("csrf", csrf)
			rec := b.do(http.MethodPost, p.action, v.Encode())
			return readPage(rec.Body.String())
		}
		user := adele
		switch which % 4 {
		case 1:
			p = post(url.Values{"step": {"username"}, "username": {"adele"}})
		case 2:
			post(url.Values{"step": {"username"}, "username": {"adele"}})
			p = post(url.Values{"step": {"password"}, "password": {adele.Password}})
		case 3:
			user = nora
			post(url.Values{"step": {"username"}, "username": {"nora"}})
			p = post(url.Values{"step": {"password"}, "password": {nora.Password}})
		}
		step := p.fields.Get("step")
		if want := []string{"username", "password", "totp", "enrol"}[which%4]; step != want {
			t.Fatalf("fixture reached step %q, want %q", step, want)
		}
		secret := user.TOTPSecret
		if step == "enrol" {
			secret = p.secret
		}
		code, err := authn.TOTPCode(secret, e.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		// Codes a verifier may accept: one step of clock skew either way.
		var valid []string
		for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
			c, err := authn.TOTPCode(secret, e.Clock.Now().Add(d))
			if err != nil {
				t.Fatal(err)
			}
			valid = append(valid, c)
		}
		body := strings.NewReplacer("{csrf}", url.QueryEscape(csrf), "{password}", url.QueryEscape(user.Password),
			"{code}", code, "{recovery}", recovery[0]).Replace(raw)

		rec = b.do(http.MethodPost, p.action, body)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body.String())
		}
		if strings.Contains(body, fuzzMarker) && strings.Contains(rec.Body.String(), fuzzMarker) {
			t.Fatalf("input came back as markup: %s", rec.Body.String())
		}
		next := readPage(rec.Body.String()).fields.Get("step")
		done := rec.Code == http.StatusSeeOther || strings.Contains(rec.Body.String(), `class="codes"`)
		if done && step == "enrol" {
			// Let the next enrolment input start from scratch.
			if err := e.Signin.ResetTOTP(ctx, e.Tenant.ID, nora.ID); err != nil {
				t.Fatal(err)
			}
		}
		if !done && (next == "" || next == step) {
			return // refused, or an error page
		}
		// The flow moved on: the request must have earned it.
		v, perr := url.ParseQuery(body)
		if perr != nil {
			t.Fatalf("moved on (%q -> %q, done %v) from a form that does not parse: %q", step, next, done, body)
		}
		if v.Get("csrf") != csrf || v.Get("step") != step {
			t.Fatalf("moved on (%q -> %q, done %v) without the CSRF token and step: %q", step, next, done, body)
		}
		switch step {
		case "username":
			if done || next != "password" || strings.TrimSpace(v.Get("username")) == "" {
				t.Fatalf("username step moved to %q (done %v) for %q", next, done, body)
			}
		case "password":
			if done {
				t.Fatalf("signed in with a password alone (the application requires MFA): %q", body)
			}
			if next == "username" && v.Has("other") {
				return
			}
			if v.Get("password") != user.Password {
				t.Fatalf("password step moved to %q with a wrong password: %q", next, body)
			}
		case "totp", "enrol":
			// Spaces are ignored in codes; a recovery code is accepted in
			// either field, in any case, with or without its hyphen.
			c := strings.ReplaceAll(strings.TrimSpace(v.Get("code")), " ", "")
			ok := slices.Contains(valid, c)
			if step == "totp" {
				typed := v.Get("code")
				if strings.TrimSpace(typed) == "" {
					typed = v.Get("recovery")
				}
				ok = ok || slices.Contains(recovery, normRecovery(typed))
			}
			if !done || !ok {
				t.Fatalf("%s step moved to %q (done %v) with code %q (current %s): %q", step, next, done, c, code, body)
			}
		}
	})
}

// normRecovery writes a typed recovery code the way it was issued: lower
// case, no spaces, a hyphen after the fifth character.
func normRecovery(s string) string {
	s = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	if len(s) == 10 {
		s = s[:5] + "-" + s[5:]
	}
	return s
}
