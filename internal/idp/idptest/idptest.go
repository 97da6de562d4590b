// Package idptest is the end-to-end test harness of Portico's identity
// provider endpoints (packages wsfed, saml and wstrust): a TLS test server
// with the login pages and all three protocol handlers on a SQLite
// database, a tenant with an organization suffix, an Office 365
// application with a permission group, users with passwords and TOTP
// authenticators, and a browser (an http.Client with a cookie jar) that
// walks the login pages the way a person does. It also runs xmlsec1, the
// independent signature check, and compares golden files.
//
// It is imported only by tests.
package idptest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/idp/endpoints"
	"github.com/portico-idp/portico/internal/idp/idphttp"
	"github.com/portico-idp/portico/internal/idp/saml"
	"github.com/portico-idp/portico/internal/idp/wsfed"
	"github.com/portico-idp/portico/internal/idp/wstrust"
	"github.com/portico-idp/portico/internal/secrets"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/signing"
	"github.com/portico-idp/portico/internal/storage/sqlite"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
	"github.com/portico-idp/portico/internal/web"
	"github.com/portico-idp/portico/internal/web/login"
)

// Start is the fixed clock's starting time.
var Start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// DefaultPublicURL is the test server's public URL. The browser's
// transport sends every request for it to the test server, so issuers and
// endpoint URLs do not depend on the listener's random port.
const DefaultPublicURL = "https://portico.example"

// CheapHasher makes tests fast; the benchmark uses authn.DefaultArgon2.
var CheapHasher = authn.NewHasher(authn.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})

// Clock is an adjustable clock shared by every component of an Env. A
// real clock (Options.RealClock) follows time.Now and cannot be moved.
type Clock struct {
	mu   sync.Mutex
	t    time.Time
	real bool
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	if c.real {
		return time.Now().UTC()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock forward.
func (c *Clock) Add(d time.Duration) {
	if c.real {
		panic("idptest: a real clock cannot be moved")
	}
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// lockedRand is a deterministic random source safe for concurrent use.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

// Read fills p from the ChaCha8 stream.
func (l *lockedRand) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// DetRand returns a deterministic random source (ChaCha8 seeded with seed),
// safe for concurrent use.
func DetRand(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return &lockedRand{r: rand.NewChaCha8(s)}
}

// Options adjust an Env.
type Options struct {
	// Hasher hashes passwords; nil means CheapHasher.
	Hasher *authn.Hasher
	// Limits are the throttling limits; nil means signin.DefaultLimits.
	Limits *signin.Limits
	// RealClock uses time.Now instead of a fixed, movable clock.
	RealClock bool
	// PublicURL is Portico's public URL; empty means DefaultPublicURL.
	PublicURL string
	// LoginURL is the application's Microsoft login URL; empty means
	// Microsoft's.
	LoginURL string
	// Domains are the application's federated domains; nil means
	// contoso.com and fabrikam.com.
	Domains []string
	// Register adds more routes to the server (stand-ins for Microsoft).
	Register func(mux *http.ServeMux)
	// Observe is called after every storage operation (diagnostics).
	Observe func(op string, d time.Duration, err error)
}

// Env is a running identity provider with its fixture.
type Env struct {
	TB        testing.TB
	Clock     *Clock
	Store     *sqlstore.Store
	Keyring   *secrets.Keyring
	Admin     *admin.Service
	Signin    *signin.Service
	Login     *login.Handler
	Config    idphttp.Config
	Server    *httptest.Server
	PublicURL string
	// Tenant "contoso" whose default organization has the suffix
	// @contoso.com.
	Tenant directory.Tenant
	Org    directory.Organization
	// Group is the application's permission group.
	Group directory.Group
	// PasswordOnly and MFA are the tenant's standard policies.
	PasswordOnly, MFA authn.Policy
	// App is the Office 365 application (policy MFA, permission group
	// Group).
	App apps.Application
	// Logs holds everything the server logged (JSON lines).
	Logs *SyncBuffer

	users int
}

// SyncBuffer is a bytes.Buffer safe for concurrent writes.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Ctx is the context of fixture operations.
var Ctx = authz.With(context.Background(), authz.System("idptest"))

// New builds and starts an Env; everything is closed when the test ends.
func New(tb testing.TB, o Options) *Env {
	tb.Helper()
	st, err := sqlite.Open(Ctx, filepath.Join(tb.TempDir(), "portico.db"), sqlstore.Options{Observe: o.Observe})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	mk, err := secrets.NewMasterKey(make([]byte, 32))
	if err != nil {
		tb.Fatal(err)
	}
	kr, err := secrets.NewKeyring(nil, mk)
	if err != nil {
		tb.Fatal(err)
	}
	e := &Env{TB: tb, Store: st, Keyring: kr, Clock: &Clock{t: Start, real: o.RealClock}, Logs: &SyncBuffer{},
		PublicURL: o.PublicURL}
	if e.PublicURL == "" {
		e.PublicURL = DefaultPublicURL
	}
	log := slog.New(slog.NewJSONHandler(e.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hasher := o.Hasher
	if hasher == nil {
		hasher = CheapHasher
	}
	limits := signin.DefaultLimits
	if o.Limits != nil {
		limits = *o.Limits
	}
	e.Admin = admin.New(st, admin.WithClock(e.Clock.Now), admin.WithRandom(DetRand(1)), admin.WithKeyring(kr), admin.WithLogger(log))
	e.Signin = signin.New(st, kr, signin.WithClock(e.Clock.Now), signin.WithHasher(hasher), signin.WithLimits(limits), signin.WithLogger(log))
	e.Login = login.New(st, e.Signin, log, true)
	e.Login.SetClock(e.Clock.Now)

	if e.Tenant, e.Org, err = e.Admin.CreateTenant(Ctx, "contoso", "Contoso", "@contoso.com"); err != nil {
		tb.Fatal(err)
	}
	if e.PasswordOnly, e.MFA, err = e.Admin.EnsurePolicies(Ctx, e.Tenant.ID); err != nil {
		tb.Fatal(err)
	}
	if e.Group, err = e.Admin.CreateGroup(Ctx, e.Tenant.ID, directory.Group{Name: "Office 365 Users", Type: directory.GroupSecurity}); err != nil {
		tb.Fatal(err)
	}
	domains := o.Domains
	if domains == nil {
		domains = []string{"contoso.com", "fabrikam.com"}
	}
	e.App, err = e.Admin.CreateApplication(Ctx, e.Tenant.ID, apps.Application{Name: "Office 365", Enabled: true,
		GroupIDs: []string{e.Group.ID}, Office365: &apps.Office365Settings{LoginURL: o.LoginURL, Domains: apps.Domains(domains...)}})
	if err != nil {
		tb.Fatal(err)
	}

	e.Config = idphttp.Config{Store: st, Login: e.Login, Signin: e.Signin, Admin: e.Admin, PublicURL: e.PublicURL,
		Log: log, Now: e.Clock.Now, Rand: DetRand(2)}
	if o.RealClock {
		e.Config.Now, e.Config.Rand = nil, nil
	}
	var handlers []web.Registrar
	handlers = append(handlers, e.Login)
	wf, err := wsfed.New(e.Config)
	if err != nil {
		tb.Fatal(err)
	}
	sa, err := saml.New(e.Config)
	if err != nil {
		tb.Fatal(err)
	}
	wt, err := wstrust.New(e.Config)
	if err != nil {
		tb.Fatal(err)
	}
	handlers = append(handlers, wf, sa, wt)
	if o.Register != nil {
		handlers = append(handlers, registrarFunc(o.Register))
	}
	root := web.NewHandler(web.Config{Log: slog.New(slog.DiscardHandler), Metrics: web.NewMetrics(), Ready: st, Handlers: handlers})
	e.Server = httptest.NewUnstartedServer(root)
	e.Server.Config.ErrorLog = nil
	e.Server.StartTLS()
	tb.Cleanup(e.Server.Close)
	return e
}

type registrarFunc func(*http.ServeMux)

// Register calls f.
func (f registrarFunc) Register(mux *http.ServeMux) { f(mux) }

// Transport returns an HTTP transport that sends every request for the
// public URL's host to the test server, over TLS checked against the test
// server's certificate. Requests for any other host fail: nothing leaves
// the machine.
func (e *Env) Transport() *http.Transport { return e.TransportFrom("") }

// TransportFrom is Transport with connections made from the local address
// ip (any address of 127.0.0.0/8 on Linux; "" lets the system choose), so
// that the server sees requests from several client addresses.
func (e *Env) TransportFrom(ip string) *http.Transport {
	pub, _ := url.Parse(e.PublicURL)
	addr := e.Server.Listener.Addr().String()
	pool := x509.NewCertPool()
	pool.AddCert(e.Server.Certificate())
	d := &net.Dialer{Timeout: 5 * time.Second}
	if ip != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip)}
	}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(a)
			if host != pub.Hostname() && a != addr {
				return nil, fmt.Errorf("idptest: no network access to %s in tests", a)
			}
			return d.DialContext(ctx, network, addr)
		},
		// httptest's certificate names example.com.
		TLSClientConfig:     &tls.Config{RootCAs: pool, ServerName: "example.com"},
		ForceAttemptHTTP2:   false,
		MaxIdleConnsPerHost: 16,
	}
}

// URL returns the public URL of path.
func (e *Env) URL(path string) string { return e.PublicURL + path }

// Endpoints of the fixture's application.

// WSFedURL is the application's WS-Federation endpoint with query q.
func (e *Env) WSFedURL(q url.Values) string {
	return endpoints.WSFed(e.PublicURL, e.Tenant.Slug, e.App.ID) + "?" + q.Encode()
}

// SignInQuery is what Entra sends for a wsignin1.0 (M365-CONTRACT.md §4),
// with the username hint u (may be empty) and the given wctx.
func SignInQuery(u, wctx string) url.Values {
	q := url.Values{"wa": {"wsignin1.0"}, "wtrealm": {"urn:federation:MicrosoftOnline"}, "wctx": {wctx},
		"client-request-id": {"00000000-0000-0000-0000-000000000001"}, "mkt": {"en-US"}, "lc": {"1033"}}
	if u != "" {
		q.Set("username", u)
	}
	return q
}

// User is a fixture user with its secrets.
type User struct {
	directory.User
	Password string
	// TOTPSecret is the base32 authenticator secret, empty when none (the
	// browser fills it in when it enrols one).
	TOTPSecret string
}

// UserSpec describes a user to add.
type UserSpec struct {
	// Username; empty means a generated one.
	Username string
	// OrganizationID; empty means the default organization (@contoso.com).
	OrganizationID string
	// Password; empty means "correct horse battery staple".
	Password string
	// NoTOTP leaves the user without an authenticator.
	NoTOTP bool
	// NotMember keeps the user out of the permission group.
	NotMember bool
	// Status; empty means active.
	Status directory.UserStatus
	// PasswordHash, when set, is stored as the hash of Password instead of
	// hashing it again (many users with one costly hash, for benchmarks).
	PasswordHash string
	// TOTPSecret, when set, is the authenticator secret to enrol (base32).
	TOTPSecret string
}

// AddUser creates a user with a password, an authenticator (unless
// NoTOTP) and membership of the permission group (unless NotMember).
func (e *Env) AddUser(s UserSpec) *User {
	e.TB.Helper()
	e.users++
	if s.Username == "" {
		s.Username = fmt.Sprintf("user%d", e.users)
	}
	if s.Password == "" {
		s.Password = "correct horse battery staple"
	}
	u, err := e.Admin.CreateUser(Ctx, e.Tenant.ID, directory.User{Username: s.Username, OrganizationID: s.OrganizationID,
		DisplayName: s.Username, Status: s.Status})
	if err != nil {
		e.TB.Fatalf("create user %s: %v", s.Username, err)
	}
	if s.PasswordHash != "" {
		if _, err := e.Store.UpdateCredentials(Ctx, e.Tenant.ID, u.ID, func(c authn.Credentials) (authn.Credentials, error) {
			c.PasswordHash, c.PasswordChangedAt, c.UpdatedAt = s.PasswordHash, e.Clock.Now(), e.Clock.Now()
			return c, nil
		}); err != nil {
			e.TB.Fatal(err)
		}
	} else if err := e.Signin.SetPassword(Ctx, e.Tenant.ID, u.ID, s.Password); err != nil {
		e.TB.Fatal(err)
	}
	out := &User{User: u, Password: s.Password}
	if !s.NoTOTP {
		secret := s.TOTPSecret
		if secret == "" {
			en, err := authn.NewTOTP("Portico", u.UPN, nil)
			if err != nil {
				e.TB.Fatal(err)
			}
			secret = en.Secret
		}
		if _, err := e.Signin.EnrolTOTP(Ctx, u, secret); err != nil {
			e.TB.Fatal(err)
		}
		out.TOTPSecret = secret
	}
	if !s.NotMember {
		if err := e.Store.AddGroupMember(Ctx, e.Tenant.ID, e.Group.ID, u.ID); err != nil {
			e.TB.Fatal(err)
		}
	}
	return out
}

// AddOrganization adds an organization with a principal-name suffix.
func (e *Env) AddOrganization(name, suffix string) directory.Organization {
	e.TB.Helper()
	o, err := e.Admin.CreateOrganization(Ctx, e.Tenant.ID, directory.Organization{Name: name, PrincipalNameSuffix: suffix})
	if err != nil {
		e.TB.Fatal(err)
	}
	return o
}

// UpdateApp changes the fixture's application and reloads it.
func (e *Env) UpdateApp(change func(*apps.Application)) {
	e.TB.Helper()
	a, err := e.Admin.UpdateApplication(Ctx, e.Tenant.ID, e.App.ID, 0, func(a *apps.Application) error { change(a); return nil })
	if err != nil {
		e.TB.Fatal(err)
	}
	e.App = a
}

// SetUserStatus changes a user's status.
func (e *Env) SetUserStatus(u *User, s directory.UserStatus) {
	e.TB.Helper()
	nu, err := e.Admin.UpdateUser(Ctx, e.Tenant.ID, u.ID, 0, func(x *directory.User) error { x.Status = s; return nil })
	if err != nil {
		e.TB.Fatal(err)
	}
	u.User = nu
}

// SigningCert returns the application's current signing certificate.
func (e *Env) SigningCert() *signing.Certificate {
	e.TB.Helper()
	k, err := e.Admin.SigningKeys(Ctx, e.Tenant.ID, e.App.ID)
	if err != nil {
		e.TB.Fatal(err)
	}
	return k.Current
}

// Issuer is the expected issuer for users of rootDomain.
func (e *Env) Issuer(rootDomain string) string {
	return endpoints.IssuerURI(e.PublicURL, e.Tenant.Slug, e.App.ID, rootDomain)
}

// TOTPCode is the user's current code.
func (e *Env) TOTPCode(u *User) string {
	e.TB.Helper()
	c, err := authn.TOTPCode(u.TOTPSecret, e.Clock.Now())
	if err != nil {
		e.TB.Fatal(err)
	}
	return c
}

// Masks for golden files: what differs from run to run (the signing key is
// generated, application ids embed the real time) is replaced by names.
func (e *Env) Masks() []Mask {
	return []Mask{{e.App.ID, "{app}"}, {e.Tenant.ID, "{tenant}"}}
}
