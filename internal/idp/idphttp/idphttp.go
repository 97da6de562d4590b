// Package idphttp is what Portico's sign-in protocol handlers (packages
// wsfed, saml and wstrust) share over HTTP: their configuration, resolving
// the tenant and application a request addresses, the application's token
// signer and issuer, the auto-submitting form that carries a token to
// Microsoft, the error and signed-out pages, the sign-out reply check and
// the cross-site POST bounce.
package idphttp

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/idp/assertion"
	"github.com/portico-idp/portico/internal/requestid"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/web/login"
)

// Config is what the protocol handlers are built from.
type Config struct {
	// Store is Portico's storage (tenants, applications, replay nonces).
	Store storage.Storage
	// Login runs the browser sign-in (WS-Federation and SAML; unused by
	// WS-Trust).
	Login *login.Handler
	// Signin checks passwords, permissions and policies.
	Signin *signin.Service
	// Admin opens the applications' signing keys; it needs a keyring
	// (admin.WithKeyring).
	Admin *admin.Service
	// PublicURL is Portico's external base URL, e.g. https://id.example.com.
	// Issuers and endpoint URLs are built from it.
	PublicURL string
	// Log receives the handlers' logs; nil discards them.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand supplies token identifiers; nil means crypto/rand. It must be
	// safe for concurrent use.
	Rand io.Reader
}

// Base is the shared part of a protocol handler.
type Base struct {
	Config
	// signers caches one assertion.Signer per signing key (tenant/key id):
	// a key never changes, only its role.
	signers sync.Map
}

// NewBase checks cfg and returns the shared part of a handler. needLogin
// says whether the handler runs browser sign-ins.
func NewBase(cfg Config, needLogin bool) (*Base, error) {
	switch {
	case cfg.Store == nil || cfg.Signin == nil || cfg.Admin == nil:
		return nil, errors.New("idp: Store, Signin and Admin are required")
	case needLogin && cfg.Login == nil:
		return nil, errors.New("idp: Login is required")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("idp: public URL %q must be an absolute http(s) URL without query or fragment", cfg.PublicURL)
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Base{Config: cfg}, nil
}

// Clock returns the current time.
func (b *Base) Clock() time.Time {
	if b.Now == nil {
		return time.Now().UTC()
	}
	return b.Now().UTC()
}

// Options are the assertion builders' clock and randomness.
func (b *Base) Options() assertion.Options {
	return assertion.Options{Now: b.Now, Rand: b.Rand}
}

// Target is the tenant and application a request addresses.
type Target struct {
	Tenant directory.Tenant
	App    apps.Application
}

// ErrNotFound: no such tenant, or no such Office 365 application in it.
var ErrNotFound = errors.New("no such tenant or application")

// Resolve loads the tenant named by the {tenant} path value (its slug) and
// the application {app} within it. An application of another tenant, or of
// another kind than Office 365, is ErrNotFound: storage scopes every lookup
// by tenant, so a request can never reach another tenant's application.
func (b *Base) Resolve(r *http.Request) (Target, error) {
	ctx := r.Context()
	var tg Target
	slug := directory.NormalizeSlug(r.PathValue("tenant"))
	appID := r.PathValue("app")
	if slug == "" || appID == "" || len(slug) > 128 || len(appID) > 128 {
		return tg, ErrNotFound
	}
	t, err := b.Store.GetTenantBySlug(ctx, slug)
	if errors.Is(err, storage.ErrNotFound) {
		return tg, ErrNotFound
	}
	if err != nil {
		return tg, err
	}
	app, err := b.Store.GetApplication(ctx, t.ID, appID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && app.Kind != apps.KindOffice365) {
		return tg, ErrNotFound
	}
	if err != nil {
		return tg, err
	}
	return Target{Tenant: t, App: app}, nil
}

// Logger returns the logger with the request's id and, when known, its
// tenant and application.
func (b *Base) Logger(r *http.Request, tg *Target) *slog.Logger {
	l := b.Log.With("request_id", requestid.From(r.Context()))
	if tg != nil && tg.Tenant.ID != "" {
		l = l.With("tenant", tg.Tenant.Slug, "app", tg.App.ID)
	}
	return l
}

// Keys returns the signer of the application's current key and the
// certificates to publish (current, then next during a rollover).
func (b *Base) Keys(ctx context.Context, tg Target) (*assertion.Signer, []*x509.Certificate, error) {
	keys, err := b.Admin.SigningKeys(ctx, tg.Tenant.ID, tg.App.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("signing keys of %s: %w", tg.App.ID, err)
	}
	cacheKey := tg.Tenant.ID + "/" + keys.CurrentID
	var s *assertion.Signer
	if v, ok := b.signers.Load(cacheKey); ok {
		s = v.(*assertion.Signer)
	} else {
		if s, err = assertion.NewSigner(keys.Current.Signer, keys.Current.Chain()); err != nil {
			return nil, nil, err
		}
		b.signers.Store(cacheKey, s)
	}
	certs := []*x509.Certificate{keys.Current.Cert}
	if keys.Next != nil {
		certs = append(certs, keys.Next.Cert)
	}
	return s, certs, nil
}

// Signer returns the signer of the application's current key.
func (b *Base) Signer(ctx context.Context, tg Target) (*assertion.Signer, error) {
	s, _, err := b.Keys(ctx, tg)
	return s, err
}

// ErrDomainNotFederated: the user's UPN is in none of the application's
// federated domains, so no issuer Entra knows can vouch for it.
var ErrDomainNotFederated = errors.New("the user's domain is not federated with this application")

// Issuer returns the issuer for a token about the user with upn: the
// issuer of the root domain of the UPN's domain (M365-CONTRACT.md §3: a
// subdomain uses its root's issuer). When the application lists its
// domains, a UPN outside all of them is ErrDomainNotFederated: Entra would
// refuse the token anyway (AADSTS50107), and the person deserves to be told
// here. An application that lists none issues for the UPN's own domain.
func (b *Base) Issuer(tg Target, upn string) (string, error) {
	at := strings.LastIndexByte(upn, '@')
	if at < 0 || at == len(upn)-1 {
		return "", fmt.Errorf("%w: UPN %q has no domain", ErrDomainNotFederated, upn)
	}
	domain := strings.ToLower(upn[at+1:])
	if o := tg.App.Office365; o != nil && len(o.Domains) > 0 && !underAny(domain, o.DomainNames()) {
		return "", fmt.Errorf("%w: %s", ErrDomainNotFederated, domain)
	}
	return tg.App.Issuer(b.PublicURL, tg.Tenant.Slug, tg.App.RootDomain(domain)), nil
}

func underAny(domain string, list []string) bool {
	for _, d := range list {
		d = strings.ToLower(d)
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return true
		}
	}
	return false
}

// MetadataIssuer picks the entity id of a metadata document: the issuer of
// the root domain named by ?domain=, else of the application's first
// configured domain. ok is false when neither names a domain.
func (b *Base) MetadataIssuer(r *http.Request, tg Target) (issuer string, ok bool) {
	d := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("domain")))
	if names := tg.App.Office365.DomainNames(); d == "" && len(names) > 0 {
		d = names[0]
	}
	if !directory.ValidDomain(d) {
		return "", false
	}
	return tg.App.Issuer(b.PublicURL, tg.Tenant.Slug, tg.App.RootDomain(d)), true
}

// ClientAddr is the address failed attempts are counted against: the
// peer's IP. (Behind a reverse proxy that is the proxy; trusting a
// forwarded-for header is a deployment decision this package does not
// make.)
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// MicrosoftLoginHosts are the hosts a WS-Federation sign-out may return the
// browser to (M365-CONTRACT.md §4, "Sign-out").
var MicrosoftLoginHosts = []string{"login.microsoftonline.com", "login.microsoft.com", "login.windows.net"}

// SignOutReply checks a sign-out's reply address (WS-Federation 1.2 §13 wreply)
// and returns the URL to redirect to. It must be an https URL on a
// Microsoft login host, or on the scheme and host of the application's
// configured login URL (an emulator stands in for Microsoft there); no
// user info, nothing that parses ambiguously. Anything else is refused:
// sign-out never becomes an open redirect.
func SignOutReply(reply, loginURL string) (string, bool) {
	if reply == "" || len(reply) > 4096 || strings.ContainsAny(reply, "\\\x00\r\n\t ") {
		return "", false
	}
	u, err := url.Parse(reply)
	if err != nil || u.User != nil || u.Opaque != "" || u.Host == "" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	if u.Scheme == "https" && (u.Port() == "" || u.Port() == "443") {
		for _, h := range MicrosoftLoginHosts {
			if host == h {
				return u.String(), true
			}
		}
	}
	if l, err := url.Parse(loginURL); err == nil && l.Host != "" &&
		strings.EqualFold(u.Scheme, l.Scheme) && strings.EqualFold(u.Host, l.Host) {
		return u.String(), true
	}
	return "", false
}

// bounceField marks a form that this package re-posted to itself.
const bounceField = "portico_resubmit"

// BounceCrossSitePOST answers a cross-site POST (an AuthnRequest that Entra
// posts, SAML bindings §3.5) with a page that posts the same form fields to
// the same URL again, and returns true. The browser does not send
// SameSite=Lax cookies with a cross-site POST, so without the bounce the
// person's single sign-on session would be invisible and they would be asked
// for their password every time; the second POST comes from Portico's own
// page and carries the cookies. Fetch Metadata (Sec-Fetch-Site) tells a
// cross-site request; browsers that do not send it are not bounced (they
// still sign in, without SSO). The bounce gives a cross-site POST no power
// a cross-site link lacks: a top-level GET carries Lax cookies anyway, and
// every endpoint that bounces takes the same request by GET (WS-Fed query,
// SAML Redirect binding); the answer still goes only to the application's
// login URL. Call it after r.ParseForm.
func BounceCrossSitePOST(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost || r.Header.Get("Sec-Fetch-Site") != "cross-site" || r.PostForm.Has(bounceField) {
		return false
	}
	fields := make([]Field, 0, len(r.PostForm)+1)
	for _, name := range slices.Sorted(maps.Keys(r.PostForm)) {
		for _, v := range r.PostForm[name] {
			fields = append(fields, Field{Name: name, Value: v})
		}
	}
	fields = append(fields, Field{Name: bounceField, Value: "1"})
	// A relative action: the same path and query on this origin.
	WritePostForm(w, r.URL.EscapedPath()+queryOf(r.URL), fields)
	return true
}

func queryOf(u *url.URL) string {
	if u.RawQuery == "" {
		return ""
	}
	return "?" + u.RawQuery
}

// Payload is a protocol's state carried through the login pages; it names
// its protocol so that a flow one protocol started cannot be finished by
// another.
type Payload interface{ ProtocolName() string }

// Finish serves the common part of a continue endpoint: it resolves the
// target, finishes the login flow (once) and decodes the protocol's payload
// into p. When it returns false it has answered — with an error, or with a
// fresh login page when the session the flow established has ended since.
func (b *Base) Finish(w http.ResponseWriter, r *http.Request, protocol string, p Payload) (Target, *login.Result, bool) {
	what := protocol + " continue"
	tg, err := b.Resolve(r)
	if err != nil {
		b.Fail(w, r, nil, what, err)
		return tg, nil, false
	}
	res, err := b.Login.Finish(w, r, tg.Tenant, tg.App)
	if err != nil {
		b.Fail(w, r, &tg, what, err)
		return tg, nil, false
	}
	if res == nil {
		return tg, nil, false
	}
	if err := json.Unmarshal(res.Payload, p); err != nil || p.ProtocolName() != protocol {
		// A flow another protocol started (its continue URL names it).
		b.Fail(w, r, &tg, what, fmt.Errorf("flow payload is not a %s request: %w", protocol, login.ErrFlow))
		return tg, nil, false
	}
	return tg, res, true
}
