package idptest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/portico-idp/portico/internal/authn"
)

// Browser is a person's browser: a cookie jar and an HTTP client that
// follows redirects within Portico (never to another host: a redirect to
// Microsoft is returned as the page).
type Browser struct {
	tb     testing.TB
	public *url.URL
	code   func(*User) string
	Client *http.Client
	// Header is added to every request (Sec-Fetch-Site, say).
	Header http.Header
}

// Browser returns a new browser with an empty cookie jar.
func (e *Env) Browser() *Browser {
	return NewBrowser(e.TB, e.PublicURL, e.Transport(), e.TOTPCode)
}

// NewBrowser returns a browser with an empty cookie jar for a Portico
// reached at publicURL through rt (nil: http.DefaultTransport), not tied
// to an Env: an end-to-end test of a running server uses it. code gives
// the TOTP code a user types; nil means the current code by the real
// clock.
func NewBrowser(tb testing.TB, publicURL string, rt http.RoundTripper, code func(*User) string) *Browser {
	tb.Helper()
	pub, err := url.Parse(publicURL)
	if err != nil || pub.Host == "" {
		tb.Fatalf("idptest: public URL %q: %v", publicURL, err)
	}
	if code == nil {
		code = func(u *User) string {
			tb.Helper()
			c, err := authn.TOTPCode(u.TOTPSecret, time.Now())
			if err != nil {
				tb.Fatal(err)
			}
			return c
		}
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: rt, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != pub.Host || len(via) > 10 {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return &Browser{tb: tb, public: pub, code: code, Client: c, Header: http.Header{}}
}

// Page is a response as the browser sees it.
type Page struct {
	Status int
	URL    *url.URL
	Header http.Header
	Body   []byte
	doc    *html.Node
}

func (b *Browser) do(req *http.Request) *Page {
	b.tb.Helper()
	for k, v := range b.Header {
		req.Header[k] = v
	}
	resp, err := b.Client.Do(req)
	if err != nil {
		b.tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.tb.Fatal(err)
	}
	p := &Page{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header, Body: body}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		if p.doc, err = html.Parse(strings.NewReader(string(body))); err != nil {
			b.tb.Fatalf("parse page %s: %v", p.URL, err)
		}
	}
	return p
}

// Get loads u.
func (b *Browser) Get(u string) *Page {
	b.tb.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.tb.Fatal(err)
	}
	return b.do(req)
}

// Post submits form values to u.
func (b *Browser) Post(u string, v url.Values) *Page {
	b.tb.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
	if err != nil {
		b.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// String describes the page for failure messages.
func (p *Page) String() string {
	return fmt.Sprintf("%d %s\n%s", p.Status, p.URL, p.Text())
}

// Form is an HTML form of a page.
type Form struct {
	// Action is the absolute URL the form posts to.
	Action string
	Method string
	// Values are the named inputs with their values (buttons excluded).
	Values url.Values
	// Buttons are the names of the submit buttons, "" for unnamed ones.
	Buttons []string
	// InNoscript lists the buttons inside <noscript>.
	NoscriptButtons int
}

func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

func walk(n *html.Node, f func(*html.Node) bool) {
	if !f(n) {
		return
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

// Forms returns the page's forms.
func (p *Page) Forms() []Form {
	if p.doc == nil {
		return nil
	}
	var out []Form
	walk(p.doc, func(n *html.Node) bool {
		if n.Type != html.ElementNode || n.DataAtom != atom.Form {
			return true
		}
		action, _ := attr(n, "action")
		method, _ := attr(n, "method")
		abs := action
		if u, err := p.URL.Parse(action); err == nil {
			abs = u.String()
		}
		f := Form{Action: abs, Method: strings.ToUpper(method), Values: url.Values{}}
		inNoscript := func(x *html.Node) bool {
			for ; x != nil && x != n; x = x.Parent {
				if x.DataAtom == atom.Noscript {
					return true
				}
			}
			return false
		}
		walk(n, func(c *html.Node) bool {
			if c.Type != html.ElementNode {
				return true
			}
			name, named := attr(c, "name")
			switch c.DataAtom {
			case atom.Input:
				if named {
					v, _ := attr(c, "value")
					f.Values.Add(name, v)
				}
			case atom.Button:
				f.Buttons = append(f.Buttons, name)
				if inNoscript(c) {
					f.NoscriptButtons++
				}
			}
			return true
		})
		// html.Parse treats <noscript> content as raw text when scripting is
		// on (the default); parse that text too.
		walk(n, func(c *html.Node) bool {
			if c.Type == html.ElementNode && c.DataAtom == atom.Noscript && c.FirstChild != nil && c.FirstChild.Type == html.TextNode {
				if strings.Contains(c.FirstChild.Data, "<button") {
					f.Buttons = append(f.Buttons, "")
					f.NoscriptButtons++
				}
			}
			return true
		})
		out = append(out, f)
		return false
	})
	return out
}

// Text is the page's visible text, for assertions and failure messages.
func (p *Page) Text() string {
	if p.doc == nil {
		return string(p.Body)
	}
	var b strings.Builder
	walk(p.doc, func(n *html.Node) bool {
		if n.Type == html.ElementNode && (n.DataAtom == atom.Script || n.DataAtom == atom.Style || n.DataAtom == atom.Head) {
			return false
		}
		if n.Type == html.TextNode {
			if t := strings.TrimSpace(n.Data); t != "" {
				b.WriteString(t)
				b.WriteByte(' ')
			}
		}
		return true
	})
	return strings.TrimSpace(b.String())
}

// find returns the first element with the atom and, if class is not
// empty, that class.
func (p *Page) find(a atom.Atom, class string) *html.Node {
	var found *html.Node
	if p.doc == nil {
		return nil
	}
	walk(p.doc, func(n *html.Node) bool {
		if found != nil {
			return false
		}
		if n.Type == html.ElementNode && n.DataAtom == a {
			if c, _ := attr(n, "class"); class == "" || strings.Contains(" "+c+" ", " "+class+" ") {
				found = n
				return false
			}
		}
		return true
	})
	return found
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(x *html.Node) bool {
		if x.Type == html.TextNode {
			b.WriteString(x.Data)
		}
		return true
	})
	return b.String()
}

// Step is the login step the page shows: the value of its "step" field,
// "recovery" for the recovery-codes page, "" for anything else.
func (p *Page) Step() string {
	for _, f := range p.Forms() {
		if s := f.Values.Get("step"); s != "" {
			return s
		}
	}
	if p.find(atom.Ol, "codes") != nil {
		return "recovery"
	}
	return ""
}

// EnrolmentSecret is the authenticator key shown on the enrolment page,
// without its spaces (what a person types into the app).
func (p *Page) EnrolmentSecret() string {
	if n := p.find(atom.Span, "secret"); n != nil {
		return strings.ReplaceAll(text(n), " ", "")
	}
	return ""
}

// RecoveryCodes are the codes on the recovery page.
func (p *Page) RecoveryCodes() []string {
	var out []string
	if ol := p.find(atom.Ol, "codes"); ol != nil {
		for li := ol.FirstChild; li != nil; li = li.NextSibling {
			if li.Type == html.ElementNode {
				out = append(out, text(li))
			}
		}
	}
	return out
}

// ContinueLink is the href of the page's "button" link.
func (p *Page) ContinueLink() string {
	if a := p.find(atom.A, "button"); a != nil {
		href, _ := attr(a, "href")
		if u, err := p.URL.Parse(href); err == nil {
			return u.String()
		}
	}
	return ""
}

// AutoPost is an auto-submitting form (a protocol response on its way to
// the relying party).
type AutoPost struct {
	Form
	Page *Page
}

// AutoPost returns the page's auto-submitting form: a page whose CSP lets
// one script run and whose only form has no CSRF field. nil otherwise.
func (p *Page) AutoPost() *AutoPost {
	if p.Status != http.StatusOK || !strings.Contains(p.Header.Get("Content-Security-Policy"), "script-src 'sha256-") {
		return nil
	}
	fs := p.Forms()
	if len(fs) != 1 || fs[0].Values.Has("csrf") || fs[0].Method != http.MethodPost {
		return nil
	}
	return &AutoPost{Form: fs[0], Page: p}
}

// Flow is the record of a sign-in through the login pages.
type Flow struct {
	// Steps are the login steps shown, in order (username, password,
	// totp, enrol, recovery).
	Steps []string
	// Post is the protocol response the browser was sent off with; nil
	// when the flow ended on a Portico page (an error).
	Post *AutoPost
	// Last is the last page.
	Last *Page
	// Recovery codes shown after an enrolment.
	Recovery []string
}

// Asked reports whether the flow showed step.
func (f *Flow) Asked(step string) bool {
	for _, s := range f.Steps {
		if s == step {
			return true
		}
	}
	return false
}

// SignIn opens start and answers the login pages as u would: username,
// password, the current TOTP code, or — on the enrolment page — reads the
// key, stores it in u.TOTPSecret and answers with its code. It stops at the
// first auto-submitting form to another host (the response), or at any
// page it does not recognise (an error page).
func (b *Browser) SignIn(start string, u *User) *Flow {
	b.tb.Helper()
	return b.Continue(b.Get(start), u)
}

// Continue goes on from page p as SignIn does.
func (b *Browser) Continue(p *Page, u *User) *Flow {
	b.tb.Helper()
	pub := b.public
	f := &Flow{}
	for range 12 {
		f.Last = p
		if ap := p.AutoPost(); ap != nil {
			target, err := url.Parse(ap.Action)
			if err != nil || target.Host != pub.Host {
				f.Post = ap
				return f
			}
			// Portico's own bounce of a cross-site POST: what the script
			// would do.
			p = b.Post(ap.Action, ap.Values)
			continue
		}
		step := p.Step()
		if step == "" {
			return f
		}
		f.Steps = append(f.Steps, step)
		if step == "recovery" {
			f.Recovery = p.RecoveryCodes()
			p = b.Get(p.ContinueLink())
			continue
		}
		form := p.Forms()[0]
		v := form.Values
		switch step {
		case "username":
			v.Set("username", u.Username)
		case "password":
			v.Set("password", u.Password)
		case "totp":
			v.Set("code", b.code(u))
		case "enrol":
			u.TOTPSecret = p.EnrolmentSecret()
			v.Set("code", b.code(u))
		}
		p = b.Post(form.Action, v)
		if p.Step() == step {
			// The same step again: the answer was refused.
			f.Last = p
			return f
		}
	}
	return f
}
