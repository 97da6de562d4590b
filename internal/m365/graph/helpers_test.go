package graph

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/m365sim"
	"github.com/portico-idp/portico/internal/signing"
)

// Fixed identifiers of the test tenant.
const (
	tenantID    = "8f3a7d52-6c1e-4b9a-9d4e-2f7c1a0b5e31"
	appAll      = "3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5b" // what the seed guide grants
	appRead     = "3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5c" // User.Read.All only
	appPublic   = "3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5d" // public client for the password grant
	skuE3       = "6fd2c87f-b296-42f0-b197-1e91e994b900"
	planExch    = "efb87545-963c-4e0d-99df-69c6916d9eb0"
	adminUPN    = "admin@contoso.onmicrosoft.com"
	mfaAdminUPN = "secure.admin@contoso.onmicrosoft.com"
	adminPass   = "Adm1n!Passw0rd"
	userPass    = "xWwvJ]6NMw+bWH-d"
)

// keys are made once per test binary: RSA key generation is slow.
var keys = sync.OnceValue(func() struct {
	app, other *signing.Certificate
	simSign    *rsa.PrivateKey
	tls        *m365sim.TLSMaterial
} {
	gen := func(cn string) *signing.Certificate {
		c, err := signing.Generate(signing.Options{CommonName: cn})
		if err != nil {
			panic(err)
		}
		return c
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	tm, err := m365sim.GenerateTLS(time.Now(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return struct {
		app, other *signing.Certificate
		simSign    *rsa.PrivateKey
		tls        *m365sim.TLSMaterial
	}{gen("Portico signing - test"), gen("Portico signing - not registered"), k, tm}
})

func seed() m365sim.SeedFile {
	return m365sim.SeedFile{Tenants: []m365sim.SeedTenant{{
		ID: tenantID, DisplayName: "Contoso", InitialDomain: "contoso.onmicrosoft.com", CountryLetterCode: "US",
		Domains: []m365sim.SeedDomain{
			{ID: "contoso.com", IsVerified: true},
			{ID: "sales.contoso.com", IsVerified: true},
			{ID: "fabrikam.com", IsVerified: true},
			{ID: "unverified.example", IsVerified: false},
		},
		Apps: []m365sim.SeedApp{
			{ClientID: appAll, DisplayName: "Portico", ApplicationPermissions: []string{
				"User.ReadWrite.All", "Group.ReadWrite.All", "Domain.ReadWrite.All", "Directory.ReadWrite.All", "Organization.Read.All"},
				DirectoryRoles: []string{"Global Administrator"}},
			{ClientID: appRead, DisplayName: "Reader", ApplicationPermissions: []string{"User.Read.All"}},
			{ClientID: appPublic, DisplayName: "Microsoft Online mode", DelegatedPermissions: []string{"Directory.AccessAsUser.All"}},
		},
		SubscribedSkus: []m365sim.SeedSKU{{SkuID: skuE3, SkuPartNumber: "ENTERPRISEPACK", PrepaidUnits: m365sim.SeedUnits{Enabled: 2},
			ServicePlans: []m365sim.ServicePlan{{ServicePlanID: planExch, ServicePlanName: "EXCHANGE_S_ENTERPRISE"}}}},
		Users: []m365sim.SeedObject{
			{"userPrincipalName": adminUPN, "displayName": "MOD Administrator", "password": adminPass, "directoryRoles": []any{"Global Administrator"}},
			{"userPrincipalName": mfaAdminUPN, "displayName": "Admin with MFA", "password": adminPass, "mfaRequired": true, "directoryRoles": []any{"Global Administrator"}},
			{"userPrincipalName": "AdeleV@contoso.com", "displayName": "Adele Vance", "usageLocation": "US", "password": userPass},
		},
		Groups: []m365sim.SeedObject{
			{"displayName": "Office 365 Users", "mailNickname": "office365users", "mailEnabled": false, "securityEnabled": true, "members": []any{"AdeleV@contoso.com"}},
		},
	}}}
}

// fault is a programmable Graph middleware: answer, when set, may answer a
// request itself (return true) instead of the sim.
type fault struct {
	mu     sync.Mutex
	answer func(w http.ResponseWriter, r *http.Request) bool
	seen   []string // "METHOD /path" of every Graph request, batch items included
}

func (f *fault) set(fn func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer, f.seen = fn, nil
}

func (f *fault) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

func (f *fault) count(prefix string) int {
	n := 0
	for _, s := range f.requests() {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

func (f *fault) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, r.Method+" "+r.URL.Path)
		fn := f.answer
		f.mu.Unlock()
		if fn != nil && fn(w, r) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// graphFailure writes a Graph error the way Graph does.
func graphFailure(w http.ResponseWriter, status int, code, msg string, hdr map[string]string) {
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	w.Header().Set("request-id", "injected-"+code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg,
		"innerError": map[string]any{"date": "2026-03-01T10:00:00", "request-id": "injected-" + code}}})
}

// env is a started sim with its fault hook.
type env struct {
	sim   *m365sim.Server
	fault *fault
}

func newEnv(t *testing.T, f ...func(*m365sim.SeedFile)) *env {
	t.Helper()
	k := keys()
	sd := seed()
	for _, fn := range f {
		fn(&sd)
	}
	ft := &fault{}
	sim, err := m365sim.New(m365sim.WithAddr("127.0.0.1:0"), m365sim.WithSeed(sd), m365sim.WithSigningKey(k.simSign),
		m365sim.WithTLSMaterial(k.tls), m365sim.WithGraphMiddleware(ft.middleware))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := sim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	if err := sim.RegisterAppCertificate(tenantID, appAll, k.app.Cert); err != nil {
		t.Fatal(err)
	}
	return &env{sim: sim, fault: ft}
}

// clock is a fake clock whose sleep advances time and records the waits.
type clock struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	c.t = c.t.Add(d)
	return ctx.Err()
}

func (c *clock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// constSource makes jitter deterministic: math/rand/v2's Float64 uses the
// low 53 bits, so this is exactly 0.5.
type constSource struct{}

func (constSource) Uint64() uint64 { return 1 << 52 }

// logBuffer collects slog output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

// client returns a certificate-authenticated client on the sim with a fake
// clock; extra options come last.
func (e *env) client(t *testing.T, opts ...Option) (*Client, *clock, *logBuffer) {
	t.Helper()
	clk := newClock()
	logs := &logBuffer{}
	base := []Option{
		WithCertificate(tenantID, appAll, keys().app),
		WithLoginURL(e.sim.URL()), WithGraphURL(e.sim.URL() + "/v1.0"), WithHTTPClient(e.sim.Client()),
		WithClock(clk.now), WithSleep(clk.sleep), WithRandSource(constSource{}),
		WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}
	c, err := New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c, clk, logs
}

// opaqueSigner hides the *rsa.PrivateKey behind crypto.Signer, as an HSM
// key would be.
type opaqueSigner struct{ k crypto.Signer }

func (o opaqueSigner) Public() crypto.PublicKey { return o.k.Public() }
func (o opaqueSigner) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.k.Sign(r, d, opts)
}

func boolp(b bool) *bool { return &b }

// resetCredential drops the credential of the options before it, so that a
// test can give another.
func resetCredential(s *settings) error {
	s.credKinds, s.cert, s.user, s.pass, s.tokens = 0, nil, "", "", nil
	return nil
}
