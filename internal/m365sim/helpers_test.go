package m365sim

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fixed identifiers of the test tenant.
const (
	tenantID    = "11111111-2222-4333-8444-555555555555"
	appAll      = "aaaaaaaa-0000-4000-8000-000000000001" // every permission the sync needs
	appRead     = "aaaaaaaa-0000-4000-8000-000000000002" // read-only permissions
	appNone     = "aaaaaaaa-0000-4000-8000-000000000003" // no permission at all
	appFed      = "aaaaaaaa-0000-4000-8000-000000000004" // Domain-InternalFederation.ReadWrite.All only
	skuE3       = "6fd2c87f-b296-42f0-b197-1e91e994b900"
	skuE1       = "18181a46-0d4e-45cd-891e-60aabd171b4e"
	planExch    = "efb87545-963c-4e0d-99df-69c6916d9eb0"
	adminUPN    = "admin@contoso.onmicrosoft.com"
	adminPass   = "Adm1n!Passw0rd"
	mfaAdminUPN = "mfa.admin@contoso.onmicrosoft.com"
)

// testKeyCert is one RSA key and certificate for app registrations, made once
// per test binary (RSA key generation is slow).
type testKeyCert struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
	b64  string
}

var fixtures = sync.OnceValue(func() struct {
	app, other, fed testKeyCert
	sign            *rsa.PrivateKey
	tls             *TLSMaterial
} {
	mk := func(cn string) testKeyCert {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			panic(err)
		}
		c, _ := x509.ParseCertificate(der)
		return testKeyCert{key: k, cert: c, b64: base64.StdEncoding.EncodeToString(der)}
	}
	tlsm, err := GenerateTLS(time.Now(), rand.Reader)
	if err != nil {
		panic(err)
	}
	sign, _ := rsa.GenerateKey(rand.Reader, 2048)
	return struct {
		app, other, fed testKeyCert
		sign            *rsa.PrivateKey
		tls             *TLSMaterial
	}{mk("portico app"), mk("unregistered"), mk("federation signing"), sign, tlsm}
})

// testSeed is the tenant most tests run against.
func testSeed() SeedFile {
	fx := fixtures()
	all := []string{"User.ReadWrite.All", "Group.ReadWrite.All", "Domain.ReadWrite.All", "Directory.ReadWrite.All", "Organization.Read.All"}
	return SeedFile{Tenants: []SeedTenant{{
		ID: tenantID, DisplayName: "Contoso", InitialDomain: "contoso.onmicrosoft.com", CountryLetterCode: "US",
		Domains: []SeedDomain{
			{ID: "contoso.com", IsVerified: true},
			{ID: "fabrikam.com", IsVerified: true, FederationConfiguration: map[string]any{
				"displayName": "Fabrikam IdP", "issuerUri": "https://idp.example/fabrikam", "signingCertificate": fx.fed.b64,
				"passiveSignInUri": "https://idp.example/wsfed", "preferredAuthenticationProtocol": "wsFed",
			}},
			{ID: "sales.fabrikam.com", IsVerified: true},
			{ID: "pending.example", IsVerified: false},
		},
		Apps: []SeedApp{
			{ClientID: appAll, DisplayName: "Portico", Certificates: []string{fx.app.b64}, ApplicationPermissions: all,
				DelegatedPermissions: []string{"User.ReadWrite.All", "Directory.ReadWrite.All", "Domain.ReadWrite.All"}, DirectoryRoles: []string{"Global Administrator"}},
			{ClientID: appRead, DisplayName: "Reader", Certificates: []string{fx.app.b64}, ApplicationPermissions: []string{"User.Read.All", "Group.Read.All", "Domain.Read.All", "Organization.Read.All"}},
			{ClientID: appNone, DisplayName: "Nothing", Certificates: []string{fx.app.b64}},
			{ClientID: appFed, DisplayName: "Federation only", ApplicationPermissions: []string{"Domain-InternalFederation.ReadWrite.All"}},
		},
		SubscribedSkus: []SeedSKU{
			{SkuID: skuE3, SkuPartNumber: "ENTERPRISEPACK", PrepaidUnits: SeedUnits{Enabled: 2}, ServicePlans: []ServicePlan{{ServicePlanID: planExch, ServicePlanName: "EXCHANGE_S_ENTERPRISE"}}},
			{SkuID: skuE1, SkuPartNumber: "STANDARDPACK", PrepaidUnits: SeedUnits{Enabled: 0}},
		},
		Users: []SeedObject{
			{"userPrincipalName": adminUPN, "displayName": "MOD Administrator", "password": adminPass, "directoryRoles": []any{"Global Administrator"}},
			{"userPrincipalName": mfaAdminUPN, "displayName": "MFA Admin", "password": adminPass, "mfaRequired": true, "directoryRoles": []any{"Global Administrator"}},
			{"id": "6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0", "userPrincipalName": "Adams@contoso.com", "displayName": "Conf Room Adams", "mail": "Adams@contoso.com", "usageLocation": "US"},
			{"userPrincipalName": "alice@fabrikam.com", "displayName": "Alice", "onPremisesImmutableId": "QWxpY2UxMjM0NTY3ODkwMTI="},
			{"userPrincipalName": "gone@contoso.com", "displayName": "Gone", "deletedDateTime": "2024-01-02T03:04:05Z"},
		},
		Groups: []SeedObject{
			{"id": "02bd9fd6-8f93-4758-87c3-1fb73740a315", "displayName": "HR Taskforce", "mailNickname": "HRTaskforce", "mailEnabled": true, "securityEnabled": false, "groupTypes": []any{"Unified"}, "members": []any{"Adams@contoso.com"}},
			{"displayName": "Office 365 Users", "mailNickname": "o365users", "mailEnabled": false, "securityEnabled": true},
		},
	}}}
}

type testEnv struct {
	t   testing.TB
	s   *Server
	hs  *httptest.Server
	all string // token of appAll
}

func newEnv(t testing.TB, opts ...Option) *testEnv {
	t.Helper()
	fx := fixtures()
	opts = append([]Option{WithHTTP(), WithSeed(testSeed()), WithSigningKey(fx.sign)}, opts...)
	s, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	e := &testEnv{t: t, s: s, hs: hs}
	e.all = e.token(appAll)
	return e
}

func (e *testEnv) token(clientID string) string {
	e.t.Helper()
	tok, err := e.s.IssueAppToken(tenantID, clientID)
	if err != nil {
		e.t.Fatalf("IssueAppToken: %v", err)
	}
	return tok
}

type resp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r resp) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (r resp) errMessage() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func (r resp) values() []map[string]any {
	arr, _ := r.body["value"].([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, v := range arr {
		m, _ := v.(map[string]any)
		out = append(out, m)
	}
	return out
}

// do sends a Graph request with token tok; body, when a string, is sent as is.
func (e *testEnv) do(method, path, tok string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	url := path
	if !strings.HasPrefix(path, "http") {
		url = e.hs.URL + path
	}
	req, _ := http.NewRequest(method, url, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 && strings.Contains(res.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			e.t.Fatalf("%s %s: response is not JSON: %v\n%s", method, path, err, raw)
		}
	}
	return r
}

// expectError checks a Graph error response: status, code, a message
// containing want, and the innerError and request-id header Graph sends.
func expectError(t *testing.T, r resp, status int, code, want string) {
	t.Helper()
	if r.status != status || r.errCode() != code || !strings.Contains(r.errMessage(), want) {
		t.Fatalf("got %d %s %q, want %d %s containing %q\n%s", r.status, r.errCode(), r.errMessage(), status, code, want, r.raw)
	}
	inner, _ := r.body["error"].(map[string]any)["innerError"].(map[string]any)
	if inner == nil || inner["request-id"] == "" || inner["date"] == "" || inner["request-id"] != r.header.Get("request-id") {
		t.Fatalf("innerError/request-id missing or inconsistent: %v / %q", inner, r.header.Get("request-id"))
	}
}

func httptestServer(t *testing.T, s *Server) *httptest.Server {
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return hs
}
