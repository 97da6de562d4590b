package wstrust_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/idp/assertion"
	"github.com/portico-idp/portico/internal/idp/endpoints"
	"github.com/portico-idp/portico/internal/idp/idptest"
	"github.com/portico-idp/portico/internal/idp/wstrust"
)

func usernameMixedURL(e *idptest.Env) string {
	return endpoints.WSTrustUsernameMixed(e.PublicURL, e.Tenant.Slug, e.App.ID)
}

var msgs int

// call posts a WS-Trust request shaped like MSAL Go's to url.
func call(t *testing.T, e *idptest.Env, url string, r idptest.WSTrustRequest) (int, []byte, string) {
	t.Helper()
	if r.MessageID == "" {
		msgs++
		r.MessageID = fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", msgs)
	}
	if r.To == "" {
		r.To = url
	}
	if r.Created.IsZero() {
		r.Created = e.Clock.Now().Add(-2 * time.Second)
	}
	st := post(t, e, url, r.Body(t))
	return st, lastBody, r.MessageID
}

var lastBody []byte

func post(t *testing.T, e *idptest.Env, url string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
	resp, err := (&http.Client{Transport: e.Transport()}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lastBody, _ = io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/soap+xml; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	return resp.StatusCode
}

// fault checks that the last answer was a SOAP fault with subcode and
// reason words, and returns the fault document.
func fault(t *testing.T, status, wantStatus int, subcode, words string) []byte {
	t.Helper()
	b := string(lastBody)
	if status != wantStatus || !strings.Contains(b, "<s:Fault>") || !strings.Contains(b, ">t:"+subcode+"<") || !strings.Contains(b, words) {
		t.Fatalf("want a %d %s fault saying %q, got %d:\n%s", wantStatus, subcode, words, status, b)
	}
	if strings.Contains(b, "Assertion") {
		t.Fatal("a fault carries an assertion")
	}
	return lastBody
}

func TestUsernameMixed(t *testing.T) {
	e := idptest.New(t, idptest.Options{})
	e.UpdateApp(func(a *apps.Application) { a.PolicyID = e.PasswordOnly.ID })
	u := e.AddUser(idptest.UserSpec{Username: "john.smith"})
	status, _, msgID := call(t, e, usernameMixedURL(e), idptest.WSTrustRequest{Username: u.UPN, Password: u.Password})
	if status != http.StatusOK {
		t.Fatalf("%d %s", status, lastBody)
	}
	body := lastBody
	cert := e.SigningCert().Cert
	a, err := assertion.VerifyWSFedResponse(body, assertion.Verifier{Certs: []*x509.Certificate{cert}, Now: e.Clock.Now})
	if err != nil {
		t.Fatalf("response does not verify: %v\n%s", err, body)
	}
	idptest.MustXMLSecVerify(t, body, cert, idptest.IDAttrSAML11)
	tok := idptest.ReadSAML11(t, a)
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"issuer", tok.Issuer, e.Issuer("contoso.com")},
		{"name identifier", tok.NameID, u.ImmutableID},
		{"UPN", strings.Join(tok.Attribute("http://schemas.xmlsoap.org/claims", "UPN"), ","), u.UPN},
		{"audience", tok.Audience, "urn:federation:MicrosoftOnline"},
		{"method", tok.AuthnMethod, assertion.AuthnMethodPassword11},
		{"no MFA claim", len(tok.Attribute("http://schemas.microsoft.com/claims", "authnmethodsreferences")), 0},
		{"lifetime", tok.NotOnOrAfter.Sub(tok.NotBefore), time.Hour},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	for _, want := range []string{"<a:RelatesTo>" + msgID + "</a:RelatesTo>", ">http://docs.oasis-open.org/ws-sx/ws-trust/200512/RSTRC/IssueFinal<",
		"<trust:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer</trust:KeyType>"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("response lacks %s", want)
		}
	}
	idptest.Golden(t, "response", body, append(e.Masks(), idptest.Mask{Old: u.ImmutableID, New: "{immutableID}"}, idptest.Mask{Old: msgID, New: "{message}"})...)
	// The plain username works as well as the UPN.
	if status, _, _ := call(t, e, usernameMixedURL(e), idptest.WSTrustRequest{Username: "John.Smith", Password: u.Password}); status != http.StatusOK {
		t.Fatalf("username: %d %s", status, lastBody)
	}
	if strings.Contains(e.Logs.String(), u.Password) {
		t.Error("the password was logged")
	}
}

func TestUsernameMixedRefusals(t *testing.T) {
	e := idptest.New(t, idptest.Options{})
	e.UpdateApp(func(a *apps.Application) { a.PolicyID = e.PasswordOnly.ID })
	u := e.AddUser(idptest.UserSpec{Username: "john.smith"})
	ep := usernameMixedURL(e)

	t.Run("wrong password and unknown user look alike", func(t *testing.T) {
		s1, _, _ := call(t, e, ep, idptest.WSTrustRequest{Username: u.UPN, Password: "wrong", MessageID: "urn:uuid:x"})
		f1 := fault(t, s1, http.StatusBadRequest, "FailedAuthentication", "ID3242")
		s2, _, _ := call(t, e, ep, idptest.WSTrustRequest{Username: "nobody@contoso.com", Password: "wrong", MessageID: "urn:uuid:y"})
		f2 := fault(t, s2, http.StatusBadRequest, "FailedAuthentication", "ID3242")
		if !bytes.Equal(f1, bytes.Replace(f2, []byte("urn:uuid:y"), []byte("urn:uuid:x"), 1)) {
			t.Errorf("faults differ:\n%s\n%s", f1, f2)
		}
		idptest.Golden(t, "fault_authentication", f1)
	})
	t.Run("AppliesTo other than Microsoft 365", func(t *testing.T) {
		s, _, _ := call(t, e, ep, idptest.WSTrustRequest{Username: u.UPN, Password: u.Password, AppliesTo: "urn:evil"})
		fault(t, s, http.StatusBadRequest, "InvalidScope", "urn:federation:MicrosoftOnline")
	})
	t.Run("replayed message", func(t *testing.T) {
		r := idptest.WSTrustRequest{Username: u.UPN, Password: u.Password, MessageID: "urn:uuid:replay-me"}
		if s, _, _ := call(t, e, ep, r); s != http.StatusOK {
			t.Fatalf("first: %d %s", s, lastBody)
		}
		s, _, _ := call(t, e, ep, r)
		fault(t, s, http.StatusBadRequest, "InvalidRequest", "already answered")
	})
	t.Run("expired request", func(t *testing.T) {
		s, _, _ := call(t, e, ep, idptest.WSTrustRequest{Username: u.UPN, Password: u.Password, Created: e.Clock.Now().Add(-time.Hour)})
		fault(t, s, http.StatusBadRequest, "ExpiredData", "expired")
	})
	t.Run("not SOAP", func(t *testing.T) {
		fault(t, post(t, e, ep, []byte("<x/>")), http.StatusBadRequest, "InvalidRequest", "SOAP 1.2")
		fault(t, post(t, e, ep, []byte(`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`)), http.StatusBadRequest, "InvalidRequest", "not acceptable XML")
		fault(t, post(t, e, ep, bytes.Repeat([]byte("x"), 70<<10)), http.StatusRequestEntityTooLarge, "InvalidRequest", "too large")
	})
	t.Run("user outside the permission group", func(t *testing.T) {
		o := e.AddUser(idptest.UserSpec{Username: "outsider", NotMember: true})
		s, _, _ := call(t, e, ep, idptest.WSTrustRequest{Username: o.UPN, Password: o.Password})
		fault(t, s, http.StatusBadRequest, "RequestFailed", "not allowed")
	})
	t.Run("suspended user", func(t *testing.T) {
		s := e.AddUser(idptest.UserSpec{Username: "suspended"})
		e.SetUserStatus(s, directory.StatusSuspended)
		st, _, _ := call(t, e, ep, idptest.WSTrustRequest{Username: s.UPN, Password: s.Password})
		fault(t, st, http.StatusBadRequest, "FailedAuthentication", "not active")
	})
	t.Run("disabled application", func(t *testing.T) {
		e.UpdateApp(func(a *apps.Application) { a.Enabled = false })
		defer e.UpdateApp(func(a *apps.Application) { a.Enabled = true })
		s, _, _ := call(t, e, ep, idptest.WSTrustRequest{Username: u.UPN, Password: u.Password})
		fault(t, s, http.StatusBadRequest, "RequestFailed", "disabled")
	})
	t.Run("other tenant", func(t *testing.T) {
		other, _, err := e.Admin.CreateTenant(idptest.Ctx, "fabrikam", "Fabrikam", "")
		if err != nil {
			t.Fatal(err)
		}
		s, _, _ := call(t, e, endpoints.WSTrustUsernameMixed(e.PublicURL, other.Slug, e.App.ID), idptest.WSTrustRequest{Username: u.UPN, Password: u.Password})
		fault(t, s, http.StatusNotFound, "InvalidRequest", "No such tenant or application")
	})
	t.Run("GET", func(t *testing.T) {
		resp, err := (&http.Client{Transport: e.Transport()}).Get(ep)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET usernamemixed: %d", resp.StatusCode)
		}
	})
}

func TestSecondFactorPolicy(t *testing.T) {
	e := idptest.New(t, idptest.Options{}) // the default policy asks for a TOTP code
	u := e.AddUser(idptest.UserSpec{Username: "john.smith"})
	ep := usernameMixedURL(e)
	s, _, _ := call(t, e, ep, idptest.WSTrustRequest{Username: u.UPN, Password: u.Password, MessageID: "urn:uuid:a"})
	right := fault(t, s, http.StatusBadRequest, "RequestFailed", "requires a second factor")
	// A wrong password gets the very same answer: the endpoint is no
	// password oracle that bypasses the second factor.
	s, _, _ = call(t, e, ep, idptest.WSTrustRequest{Username: u.UPN, Password: "wrong", MessageID: "urn:uuid:a2"})
	wrong := fault(t, s, http.StatusBadRequest, "RequestFailed", "requires a second factor")
	if !bytes.Equal(right, bytes.Replace(wrong, []byte("urn:uuid:a2"), []byte("urn:uuid:a"), 1)) {
		t.Errorf("right and wrong password answered differently:\n%s\n%s", right, wrong)
	}
	idptest.Golden(t, "fault_second_factor", right)

	// The application may allow password-only active sign-in; the token
	// then does not claim MFA.
	e.UpdateApp(func(a *apps.Application) { a.AllowPasswordOnlyActive = true })
	if s, _, _ = call(t, e, ep, idptest.WSTrustRequest{Username: u.UPN, Password: u.Password}); s != http.StatusOK {
		t.Fatalf("allowed: %d %s", s, lastBody)
	}
	a, err := assertion.VerifyWSFedResponse(lastBody, assertion.Verifier{Certs: []*x509.Certificate{e.SigningCert().Cert}, Now: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if tok := idptest.ReadSAML11(t, a); tok.AuthnMethod != assertion.AuthnMethodPassword11 ||
		len(tok.Attribute("http://schemas.microsoft.com/claims", "authnmethodsreferences")) != 0 {
		t.Fatalf("password-only active token claims %s", tok.AuthnMethod)
	}
	s, _, _ = call(t, e, ep, idptest.WSTrustRequest{Username: u.UPN, Password: "wrong"})
	fault(t, s, http.StatusBadRequest, "FailedAuthentication", "ID3242")
}

func TestMEX(t *testing.T) {
	e := idptest.New(t, idptest.Options{})
	resp, err := (&http.Client{Transport: e.Transport()}).Get(endpoints.WSTrustMEX(e.PublicURL, e.Tenant.Slug, e.App.ID))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`<wsa10:Address>`+usernameMixedURL(e)+`</wsa10:Address>`)) {
		t.Fatalf("MEX: %d %s", resp.StatusCode, body)
	}
	idptest.Golden(t, "mex", body, e.Masks()...)

	// Over plain http there is no usernamemixed endpoint to advertise.
	cfg := e.Config
	cfg.PublicURL = "http://portico.example"
	h, err := wstrust.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/t/contoso/apps/"+e.App.ID+"/wstrust/mex", nil))
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "only when Portico is reached over https") {
		t.Fatalf("MEX over http: %d %s", rec.Code, rec.Body)
	}
}

// entraStandIn plays Microsoft Entra for MSAL Go's federated
// username/password flow: OpenID discovery, user-realm discovery pointing
// at Portico's MEX, and a token endpoint that verifies the SAML 1.1 bearer
// assertion MSAL hands on. MSAL's own code parses Portico's MEX, sends its
// WS-Trust request to Portico's usernamemixed endpoint and reads the
// response.
type entraStandIn struct {
	mu        sync.Mutex
	assertion []byte
	grantType string
	mexURL    string
}

func (s *entraStandIn) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /entra/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		base := "https://" + r.Host + "/entra"
		json.NewEncoder(w).Encode(map[string]string{"issuer": base + "/v2.0", "authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"token_endpoint": base + "/oauth2/v2.0/token"})
	})
	mux.HandleFunc("GET /common/UserRealm/{user}", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"account_type": "Federated", "domain_name": "contoso.com",
			"cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline",
			"federation_protocol": "WSTrust", "federation_metadata_url": s.mexURL})
	})
	mux.HandleFunc("POST /entra/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		a, _ := base64.StdEncoding.DecodeString(r.PostForm.Get("assertion"))
		s.mu.Lock()
		s.assertion, s.grantType = a, r.PostForm.Get("grant_type")
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "access_token": "opaque", "expires_in": 3599,
			"scope": "https://graph.microsoft.com/User.Read"})
	})
}

func TestMSALFederatedUsernamePassword(t *testing.T) {
	if testing.Short() {
		t.Skip("MSAL end to end")
	}
	sim := &entraStandIn{}
	e := idptest.New(t, idptest.Options{RealClock: true, Register: sim.register})
	sim.mexURL = endpoints.WSTrustMEX(e.PublicURL, e.Tenant.Slug, e.App.ID)
	u := e.AddUser(idptest.UserSpec{Username: "john.smith"})
	client, err := public.New("11111111-2222-3333-4444-555555555555", public.WithAuthority(e.PublicURL+"/entra"),
		public.WithHTTPClient(&http.Client{Transport: e.Transport()}), public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	scopes := []string{"https://graph.microsoft.com/User.Read"}

	// The default policy wants a TOTP code: MSAL gets our fault.
	//lint:ignore SA1019 the federated ROPC flow is exactly what WS-Trust serves
	_, err = client.AcquireTokenByUsernamePassword(ctx, scopes, u.UPN, u.Password)
	if err == nil || !strings.Contains(err.Error(), "RequestFailed") {
		t.Fatalf("MSAL with a second-factor policy: %v", err)
	}
	if sim.assertion != nil {
		t.Fatal("a token reached Entra")
	}

	e.UpdateApp(func(a *apps.Application) { a.AllowPasswordOnlyActive = true })
	//lint:ignore SA1019 as above
	res, err := client.AcquireTokenByUsernamePassword(ctx, scopes, u.UPN, u.Password)
	if err != nil {
		t.Fatalf("MSAL federated username/password: %v", err)
	}
	if res.AccessToken != "opaque" || sim.grantType != "urn:ietf:params:oauth:grant-type:saml1_1-bearer" {
		t.Fatalf("token %q, grant %q", res.AccessToken, sim.grantType)
	}
	// What MSAL handed on is our assertion, standing alone and verifying.
	wrapped := append(append([]byte(`<t:RequestSecurityTokenResponse xmlns:t="`+assertion.NSTrust2005+`"><t:RequestedSecurityToken>`), sim.assertion...),
		"</t:RequestedSecurityToken></t:RequestSecurityTokenResponse>"...)
	a, err := assertion.VerifyWSFedResponse(wrapped, assertion.Verifier{Certs: []*x509.Certificate{e.SigningCert().Cert}})
	if err != nil {
		t.Fatalf("assertion from MSAL: %v", err)
	}
	idptest.MustXMLSecVerify(t, wrapped, e.SigningCert().Cert, idptest.IDAttrSAML11)
	if tok := idptest.ReadSAML11(t, a); tok.NameID != u.ImmutableID || tok.Issuer != e.Issuer("contoso.com") {
		t.Fatalf("token %+v", tok)
	}

	//lint:ignore SA1019 as above
	if _, err := client.AcquireTokenByUsernamePassword(ctx, scopes, u.UPN, "wrong"); err == nil || !strings.Contains(err.Error(), "FailedAuthentication") {
		t.Fatalf("wrong password through MSAL: %v", err)
	}
}

// TestBrowserSessionsDoNotApply: WS-Trust authenticates every request by
// the username and password it carries; a browser's single sign-on
// session never stands in for them. What applies is the password: after
// an administrator sets a new one, the old one gets no token.
func TestBrowserSessionsDoNotApply(t *testing.T) {
	e := idptest.New(t, idptest.Options{})
	e.UpdateApp(func(a *apps.Application) { a.PolicyID = e.PasswordOnly.ID })
	u := e.AddUser(idptest.UserSpec{Username: "john.smith"})
	b := e.Browser()
	if f := b.SignIn(e.WSFedURL(idptest.SignInQuery(u.UPN, "ctx")), u); f.Post == nil {
		t.Fatalf("browser sign-in: %s", f.Last)
	}
	ep := usernameMixedURL(e)
	withCookies := func(r idptest.WSTrustRequest) int {
		t.Helper()
		msgs++
		r.MessageID, r.To, r.Created = fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", msgs), ep, e.Clock.Now().Add(-2*time.Second)
		req, _ := http.NewRequest(http.MethodPost, ep, bytes.NewReader(r.Body(t)))
		req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
		for _, c := range b.Client.Jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
		if len(req.Cookies()) == 0 {
			t.Fatal("the browser has no cookies to send")
		}
		resp, err := (&http.Client{Transport: e.Transport()}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		lastBody, _ = io.ReadAll(resp.Body)
		return resp.StatusCode
	}
	fault(t, withCookies(idptest.WSTrustRequest{Username: u.UPN, Password: "wrong"}), http.StatusBadRequest, "FailedAuthentication", "ID3242")
	if s := withCookies(idptest.WSTrustRequest{Username: u.UPN, Password: u.Password}); s != http.StatusOK {
		t.Fatalf("right password: %d %s", s, lastBody)
	}
	old := u.Password
	u.Password = "a brand new passphrase"
	if err := e.Signin.SetPassword(idptest.Ctx, e.Tenant.ID, u.ID, u.Password); err != nil {
		t.Fatal(err)
	}
	fault(t, withCookies(idptest.WSTrustRequest{Username: u.UPN, Password: old}), http.StatusBadRequest, "FailedAuthentication", "ID3242")
	if s := withCookies(idptest.WSTrustRequest{Username: u.UPN, Password: u.Password}); s != http.StatusOK {
		t.Fatalf("new password: %d %s", s, lastBody)
	}
}

// TestUsernameMixedRefusedOverHTTP: usernamemixed's only protection of the
// password is TLS, so with an http public URL a request is answered with a
// fault before its password is checked — unless the development switch is
// on (--insecure-allow-http-wstrust).
func TestUsernameMixedRefusedOverHTTP(t *testing.T) {
	e := idptest.New(t, idptest.Options{})
	e.UpdateApp(func(a *apps.Application) { a.PolicyID = e.PasswordOnly.ID })
	u := e.AddUser(idptest.UserSpec{Username: "john.smith"})
	cfg := e.Config
	cfg.PublicURL = "http://portico.example"
	ep := endpoints.WSTrustUsernameMixed(cfg.PublicURL, e.Tenant.Slug, e.App.ID)
	send := func(opts ...wstrust.Option) *httptest.ResponseRecorder {
		t.Helper()
		h, err := wstrust.New(cfg, opts...)
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		h.Register(mux)
		msgs++
		body := idptest.WSTrustRequest{To: ep, Username: u.UPN, Password: u.Password, Created: e.Clock.Now().Add(-2 * time.Second),
			MessageID: fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", msgs)}.Body(t)
		req := httptest.NewRequest(http.MethodPost, "/t/contoso/apps/"+e.App.ID+"/wstrust/13/usernamemixed", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}

	rec := send()
	lastBody = rec.Body.Bytes()
	fault(t, rec.Code, http.StatusBadRequest, "RequestFailed", "only over https")
	if strings.Contains(e.Logs.String(), `"msg":"wstrust token issued"`) {
		t.Fatal("a token was issued over plain http")
	}
	// Off by default means off even with the option given as false.
	rec = send(wstrust.WithInsecureHTTP(false))
	lastBody = rec.Body.Bytes()
	fault(t, rec.Code, http.StatusBadRequest, "RequestFailed", "only over https")

	// The development switch lets the same request through.
	rec = send(wstrust.WithInsecureHTTP(true))
	if rec.Code != http.StatusOK {
		t.Fatalf("with --insecure-allow-http-wstrust: %d %s", rec.Code, rec.Body)
	}
	if _, err := assertion.VerifyWSFedResponse(rec.Body.Bytes(), assertion.Verifier{Certs: []*x509.Certificate{e.SigningCert().Cert}, Now: e.Clock.Now}); err != nil {
		t.Fatalf("token over http with the development switch: %v", err)
	}
}
