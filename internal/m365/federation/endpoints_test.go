package federation

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/directory"
)

// countingTransport counts the requests that leave Portico.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// TestMicrosoftEndpointsRule: authorityUrl and graphUrl accept Microsoft's
// clouds and the endpoints the server allows, nothing else — not the
// emulator unless allowed, not loopback, not a metadata address — and the
// error names the field.
func TestMicrosoftEndpointsRule(t *testing.T) {
	f := newFixture(t, nil)
	strict := admin.New(f.admin.Store(), admin.WithKeyring(f.kr)) // no --m365-allow-endpoint
	create := func(adm *admin.Service, authority, graphURL string) error {
		_, err := adm.CreateApplication(f.ctx, f.tenant.ID, apps.Application{Name: "Office 365 " + authority, Enabled: true,
			Office365: &apps.Office365Settings{Federation: apps.Federation{AuthorityURL: authority, GraphURL: graphURL}}})
		return err
	}
	fields := func(err error) string {
		ve, ok := directory.AsValidation(err)
		if !ok {
			return ""
		}
		return strings.Join(ve.Fields(), ",")
	}
	refused := []struct{ name, authority, graph, fields string }{
		{"the emulator without the flag", f.sim.URL(), f.sim.URL() + "/v1.0", "office365.authorityUrl,office365.graphUrl"},
		{"loopback", "https://127.0.0.1:8443", "", "office365.authorityUrl"},
		{"localhost", "", "https://localhost/v1.0", "office365.graphUrl"},
		{"instance metadata", "https://169.254.169.254/", "https://169.254.169.254/latest", "office365.authorityUrl,office365.graphUrl"},
		{"IPv6 metadata", "https://[fd00:ec2::254]/", "", "office365.authorityUrl"},
		{"a look-alike host", "https://login.microsoftonline.com.evil.example", "", "office365.authorityUrl"},
		{"Microsoft's host on another port", "https://login.microsoftonline.com:8443", "", "office365.authorityUrl"},
		{"a Graph host as authority", "https://graph.microsoft.com", "", "office365.authorityUrl"},
		{"user info", "https://x@login.microsoftonline.com", "", "office365.authorityUrl"},
		{"plain http", "http://login.microsoftonline.com", "", "office365.authorityUrl"},
	}
	for _, c := range refused {
		t.Run("refused: "+c.name, func(t *testing.T) {
			err := create(strict, c.authority, c.graph)
			if got := fields(err); got != c.fields {
				t.Fatalf("fields in error = %q (%v), want %q", got, err, c.fields)
			}
		})
	}
	// Even with the emulator allowed, a metadata address is not.
	if err := create(f.admin, "https://169.254.169.254", ""); fields(err) != "office365.authorityUrl" {
		t.Fatalf("metadata address with an allow-list: %v", err)
	}
	accepted := []struct{ name, authority, graph string }{
		{"defaults", "", ""},
		{"global", "https://login.microsoftonline.com", "https://graph.microsoft.com/v1.0"},
		{"US Government", "https://login.microsoftonline.us", "https://graph.microsoft.us/v1.0"},
		{"US Government DOD", "https://login.microsoftonline.us/", "https://dod-graph.microsoft.us/beta"},
		{"China", "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn/v1.0"},
		{"China (partner host)", "https://LOGIN.partner.microsoftonline.cn:443", "https://microsoftgraph.chinacloudapi.cn/v1.0"},
	}
	for _, c := range accepted {
		t.Run("accepted: "+c.name, func(t *testing.T) {
			if err := create(strict, c.authority, c.graph); err != nil {
				t.Fatal(err)
			}
		})
	}
	if err := create(f.admin, f.sim.URL(), f.sim.URL()+"/v1.0"); err != nil {
		t.Fatalf("the allowed emulator: %v", err)
	}
}

// TestStoredEndpointRefusedAtUse: an application stored with an endpoint
// the server no longer allows (saved before the rule, or the flag was
// dropped) is reported by Verify Compatibility with the field and the fix,
// and Federate refuses; no request reaches the endpoint. Unrelated changes
// to the application still save.
func TestStoredEndpointRefusedAtUse(t *testing.T) {
	f := newFixture(t, nil) // the application points at the emulator, allowed
	ct := &countingTransport{next: f.sim.Client().Transport}
	strictAdmin := admin.New(f.admin.Store(), admin.WithKeyring(f.kr))
	strict := New(strictAdmin, f.kr, publicURL, WithHTTPClient(&http.Client{Transport: ct}))

	rep, err := strict.Verify(f.ctx, f.tenant, f.app, "contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	c := check(t, rep, "endpoints", Fail)
	if !strings.Contains(c.Detail, "office365.authorityUrl") || !strings.Contains(c.Detail, "office365.graphUrl") ||
		!strings.Contains(c.Fix, "--m365-allow-endpoint") || rep.Compatible {
		t.Fatalf("endpoints check: %+v", c)
	}
	if res, err := strict.Federate(f.ctx, f.tenant, f.app, "contoso.com"); !errors.Is(err, ErrNotCompatible) || !strings.Contains(res.Message, "Microsoft endpoints") {
		t.Fatalf("federate with a refused endpoint: %v %q", err, res.Message)
	}
	// Every operation that calls Microsoft (Disconnect, rollover) connects
	// through the same check.
	if _, err := strict.connect(f.ctx, f.tenant, f.app); err == nil || !strings.Contains(err.Error(), "office365.authorityUrl") {
		t.Fatalf("connect with a refused endpoint: %v", err)
	}
	if n := ct.n.Load(); n != 0 {
		t.Fatalf("%d requests were sent to a refused endpoint", n)
	}

	// Renaming or disabling the application is not blocked by the stored
	// URL; setting another refused URL is.
	if _, err := strictAdmin.UpdateApplication(f.ctx, f.tenant.ID, f.app.ID, 0, func(a *apps.Application) error {
		a.Name, a.Enabled = "Office 365 (old emulator)", false
		return nil
	}); err != nil {
		t.Fatalf("unrelated change: %v", err)
	}
	_, err = strictAdmin.UpdateApplication(f.ctx, f.tenant.ID, f.app.ID, 0, func(a *apps.Application) error {
		a.Office365.GraphURL = "https://127.0.0.2/v1.0"
		return nil
	})
	if ve, ok := directory.AsValidation(err); !ok || strings.Join(ve.Fields(), ",") != "office365.graphUrl" {
		t.Fatalf("changing to another refused URL: %v", err)
	}
}

// TestVerifyWarnsAboutSHA1Requests: requiring signed SAML requests without
// allowing SHA-1 would refuse Microsoft Entra's RSA-SHA1 signatures; Verify
// says so before anyone federates.
func TestVerifyWarnsAboutSHA1Requests(t *testing.T) {
	f := newFixture(t, nil)
	f.update(func(a *apps.Application) {
		a.Office365.Protocol = "saml"
		a.Office365.RequireSignedRequests = true
		a.Office365.RequestSigningCertificates = []string{otherCertB64}
	})
	rep, err := f.fed.Verify(f.ctx, f.tenant, f.app, "contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	if c := check(t, rep, "sha1", Warn); !strings.Contains(c.Fix, "allowSha1Requests") {
		t.Fatalf("sha1 check: %+v", c)
	}
	f.update(func(a *apps.Application) { a.Office365.AllowSHA1Requests = true })
	rep, _ = f.fed.Verify(f.ctx, f.tenant, f.app, "contoso.com")
	for _, c := range rep.Checks {
		if c.ID == "sha1" {
			t.Fatalf("sha1 warning with allowSha1Requests on: %+v", c)
		}
	}
}
