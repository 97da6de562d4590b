package graph

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/signing"
)

// TestCertificateToken gets app-only tokens through MSAL with a certificate
// made by signing.Generate and registered in the sim, both with the
// in-memory RSA key (confidential.NewCredFromCert) and with an opaque
// crypto.Signer (the assertion callback), then calls Graph with them.
func TestCertificateToken(t *testing.T) {
	e := newEnv(t)
	app := keys().app
	tests := []struct {
		name string
		cert *signing.Certificate
	}{
		{"rsa key via NewCredFromCert", app},
		{"opaque signer via assertion callback", &signing.Certificate{Cert: app.Cert, Signer: opaqueSigner{app.Signer}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _ := e.client(t, func(s *settings) error { s.cert = tt.cert; return nil })
			ctx := context.Background()
			tok, err := c.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Value == "" || tok.ExpiresOn.Before(time.Now().Add(30*time.Minute)) {
				t.Fatalf("token %+v", tok)
			}
			cl, err := tok.Claims()
			if err != nil || cl.TenantID != tenantID || cl.AppID != appAll || cl.IDType != "app" || !slices.Contains(cl.Roles, "Domain.ReadWrite.All") {
				t.Fatalf("claims %+v (%v)", cl, err)
			}
			// MSAL caches the token: a second call gives the same one.
			if again, _ := c.Token(ctx); again.Value != tok.Value {
				t.Error("token not cached")
			}
			org, err := c.Organization(ctx)
			if err != nil || org.ID != tenantID {
				t.Fatalf("organization %+v (%v)", org, err)
			}
		})
	}
}

// TestTokenErrors checks that token failures carry Entra's AADSTS code and
// description, from the sim's real token endpoint answers.
func TestTokenErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name      string
		opt       Option
		code      int
		errCode   string
		reason    string
		transient bool
	}{
		{"certificate not registered", WithCertificate(tenantID, appAll, keys().other), 700027, "invalid_client", "certificate not registered", false},
		{"unknown client id", WithCertificate(tenantID, "0d5c9f7e-0000-4000-8000-00000000dead", keys().app), 700016, "unauthorized_client", "application (client) id not found", false},
		{"unknown tenant", WithCertificate("0d5c9f7e-0000-4000-8000-00000000beef", appAll, keys().app), 90002, "invalid_tenant", "tenant not found", false},
		{"wrong password", WithPassword(tenantID, appPublic, adminUPN, "wrong"), 50126, "invalid_grant", "wrong username or password", false},
		{"MFA-enforced admin", WithPassword(tenantID, appPublic, mfaAdminUPN, adminPass), 50076, "invalid_grant", "multi-factor authentication", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := e.sim.Client()
			c, _, _ := e.client(t, resetCredential, tt.opt, WithHTTPClient(hc))
			_, err := c.Organization(context.Background())
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("error %T %v, want *TokenError", err, err)
			}
			if te.Code != tt.code || te.ErrorCode != tt.errCode || te.Status < 400 || te.TraceID == "" || te.Description == "" {
				t.Fatalf("token error %+v", te)
			}
			if code, ok := AADSTS(err); !ok || code != tt.code {
				t.Errorf("AADSTS(err) = %d, %v", code, ok)
			}
			if !strings.Contains(te.Reason(), tt.reason) || !strings.Contains(err.Error(), "AADSTS") {
				t.Errorf("reason %q, error %q", te.Reason(), err)
			}
			if strings.Contains(te.Description, "Trace ID") || strings.HasPrefix(te.Description, "AADSTS") {
				t.Errorf("description not cleaned: %q", te.Description)
			}
			if tt.code == 50076 && te.SubError != "basic_action" {
				t.Errorf("suberror %q", te.SubError)
			}
			if transientTokenError(context.Background(), err) != tt.transient {
				t.Errorf("transient = %v", !tt.transient)
			}
			// A token failure is not retried and makes no Graph request.
			if n := len(e.fault.requests()); n != 0 {
				t.Errorf("%d Graph requests despite no token", n)
			}
		})
	}
}

// TestPasswordToken uses the password grant (Microsoft Online mode) for a
// seeded cloud administrator, with the tenant id authority.
func TestPasswordToken(t *testing.T) {
	e := newEnv(t)
	hc := e.sim.Client()
	c, _, _ := e.client(t, resetCredential,
		WithPassword(tenantID, appPublic, adminUPN, adminPass), WithHTTPClient(hc))
	ctx := context.Background()
	tok, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := tok.Claims()
	if err != nil || cl.IDType != "user" || !strings.EqualFold(cl.UPN, adminUPN) || !strings.Contains(cl.Scope, "Directory.AccessAsUser.All") {
		t.Fatalf("claims %+v (%v)", cl, err)
	}
	if again, _ := c.Token(ctx); again.Value != tok.Value {
		t.Error("password token not cached")
	}
	ds, err := c.ListDomains(ctx)
	if err != nil || len(ds) != 5 {
		t.Fatalf("domains %v (%v)", ds, err)
	}
}

// TestAuthConfig refuses authorities the contract forbids.
func TestAuthConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  AuthConfig
	}{
		{"common", AuthConfig{TenantID: "common", ClientID: appAll}},
		{"organizations", AuthConfig{TenantID: "organizations", ClientID: appAll}},
		{"no client", AuthConfig{TenantID: tenantID}},
		{"http login", AuthConfig{TenantID: tenantID, ClientID: appAll, LoginURL: "http://127.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewPasswordSource(tt.cfg, adminUPN, adminPass); err == nil {
				t.Error("accepted")
			}
			if _, err := NewCertificateSource(tt.cfg, keys().app); err == nil {
				t.Error("accepted")
			}
		})
	}
	if _, err := New(WithTokenSource(StaticToken("x")), WithPassword(tenantID, appPublic, adminUPN, adminPass)); err == nil {
		t.Error("two credentials accepted")
	}
	if _, err := New(); err == nil {
		t.Error("no credential accepted")
	}
}

// TestNoRegionalEndpoint: MSAL_FORCE_REGION would send the token request to
// {region}.login.microsoft.com; the client switches it off.
func TestNoRegionalEndpoint(t *testing.T) {
	t.Setenv("MSAL_FORCE_REGION", "westus")
	e := newEnv(t)
	var hosts []string
	hc := e.sim.Client()
	hc.Transport = recordHosts{hc.Transport, &hosts}
	c, _, _ := e.client(t, WithHTTPClient(hc))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if !strings.HasPrefix(h, "127.0.0.1:") {
			t.Errorf("request to %s", h)
		}
	}
}

type recordHosts struct {
	next  http.RoundTripper
	hosts *[]string
}

func (r recordHosts) RoundTrip(req *http.Request) (*http.Response, error) {
	*r.hosts = append(*r.hosts, req.URL.Host)
	return r.next.RoundTrip(req)
}

// TestNationalCloudScope: a Graph URL of a national cloud makes the token
// request name that cloud's Graph (learn.microsoft.com/graph/sdks/national-clouds:
// a scope containing the Graph domain must use the national cloud's). The
// emulator knows only the global scope, so it refuses the request and
// quotes the scope it was sent.
func TestNationalCloudScope(t *testing.T) {
	e := newEnv(t)
	c, _, _ := e.client(t, WithGraphURL("https://graph.microsoft.us/v1.0"), WithMaxAttempts(1))
	_, err := c.Token(context.Background())
	var te *TokenError
	if !errors.As(err, &te) || te.Code != 1002012 || !strings.Contains(te.Description, "https://graph.microsoft.us/.default") {
		t.Fatalf("token for the US Government cloud: %v", err)
	}
	// The emulator's own URL keeps the global scope.
	c, _, _ = e.client(t)
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatalf("token from the emulator: %v", err)
	}
}
