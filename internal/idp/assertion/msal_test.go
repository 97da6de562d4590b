package assertion

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
)

// msalEntraStandIn plays Microsoft Entra for MSAL Go's federated
// username/password flow (apps/internal/oauth/oauth.go UsernamePassword):
// OpenID discovery, user-realm discovery answering "Federated" with our MEX
// URL, and the token endpoint taking the SAML 1.1 bearer grant. It also
// serves Portico's MEX document and usernamemixed endpoint built from this
// package. So MSAL's own code parses our MEX (defs.NewFromDef), builds its
// WS-Trust request (which our parser reads) and parses our response
// (defs.SAMLDefinitions) before handing the assertion on.
type msalEntraStandIn struct {
	t         *testing.T
	srv       *httptest.Server
	signer    *Signer
	verifier  Verifier
	mu        sync.Mutex
	requests  []*WSTrustRequest
	assertion []byte // what MSAL passed to the token endpoint
	grantType string
}

func newMSALStandIn(t *testing.T) *msalEntraStandIn {
	s, cert := testSigner(t)
	m := &msalEntraStandIn{t: t, signer: s, verifier: trusted(cert)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tenant/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		base := "https://" + r.Host + "/tenant"
		json.NewEncoder(w).Encode(map[string]string{
			"issuer":                 base + "/v2.0",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"token_endpoint":         base + "/oauth2/v2.0/token",
		})
	})
	mux.HandleFunc("GET /common/UserRealm/{user}", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"account_type":            "Federated",
			"domain_name":             "contoso.com",
			"cloud_instance_name":     "microsoftonline.com",
			"cloud_audience_urn":      MicrosoftOnlineRealm,
			"federation_protocol":     "WSTrust",
			"federation_metadata_url": "https://" + r.Host + "/portico/mex",
		})
	})
	mux.HandleFunc("GET /portico/mex", func(w http.ResponseWriter, r *http.Request) {
		mex, err := BuildMEX(MEXParams{UsernameMixedURL: "https://" + r.Host + "/portico/usernamemixed"})
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
		w.Write(mex)
	})
	mux.HandleFunc("POST /portico/usernamemixed", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
		req, err := ParseWSTrustRequest(body, WSTrustParseOptions{Now: time.Now, RequireTimestamp: true})
		if err != nil {
			t.Errorf("our parser rejected MSAL's request: %v\n%s", err, body)
			w.WriteHeader(http.StatusInternalServerError)
			w.Write(BuildSOAPFault(err.(*WSTrustFault), ""))
			return
		}
		m.mu.Lock()
		m.requests = append(m.requests, req)
		m.mu.Unlock()
		if req.Username != "john.smith@contoso.com" || req.Password != "correct horse" {
			f := &WSTrustFault{Sender: true, Subcode: "FailedAuthentication", Reason: "ID3242: The security token could not be authenticated or authorized."}
			w.WriteHeader(f.HTTPStatus())
			w.Write(BuildSOAPFault(f, req.MessageID))
			return
		}
		c := baseClaims()
		c.Audience = req.AppliesTo
		out, err := BuildWSTrustResponse(Options{}, m.signer, c, WSTrustResponseParams{RelatesTo: req.MessageID})
		if err != nil {
			t.Error(err)
		}
		w.Write(out)
	})
	mux.HandleFunc("POST /tenant/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		a, err := base64.StdEncoding.DecodeString(r.PostForm.Get("assertion"))
		if err != nil {
			t.Errorf("assertion not base64: %v", err)
		}
		m.mu.Lock()
		m.assertion, m.grantType = a, r.PostForm.Get("grant_type")
		m.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"token_type": "Bearer", "access_token": "opaque-test-token", "expires_in": 3599,
			"scope": "https://graph.microsoft.com/User.Read",
		})
	})
	m.srv = httptest.NewTLSServer(mux)
	t.Cleanup(m.srv.Close)
	return m
}

// TestMSALFederatedUsernamePassword drives MSAL Go's public client through
// the federated ROPC flow against our MEX, parser and response.
func TestMSALFederatedUsernamePassword(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with MSAL over TLS")
	}
	m := newMSALStandIn(t)
	client, err := public.New("11111111-2222-3333-4444-555555555555",
		public.WithAuthority(m.srv.URL+"/tenant"),
		public.WithHTTPClient(m.srv.Client()),
		public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	//lint:ignore SA1019 the federated ROPC flow is exactly what WS-Trust serves
	res, err := client.AcquireTokenByUsernamePassword(ctx, []string{"https://graph.microsoft.com/User.Read"}, "john.smith@contoso.com", "correct horse")
	if err != nil {
		t.Fatalf("MSAL federated username/password flow failed: %v", err)
	}
	if res.AccessToken != "opaque-test-token" {
		t.Fatalf("access token %q", res.AccessToken)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.requests) != 1 {
		t.Fatalf("%d WS-Trust requests", len(m.requests))
	}
	req := m.requests[0]
	if req.AppliesTo != MicrosoftOnlineRealm || !strings.HasPrefix(req.MessageID, "urn:uuid:") ||
		req.To != m.srv.URL+"/portico/usernamemixed" || req.KeyType != KeyTypeBearer13 || req.Expires.IsZero() {
		t.Errorf("parsed MSAL request: %+v", req)
	}
	if m.grantType != "urn:ietf:params:oauth:grant-type:saml1_1-bearer" {
		t.Errorf("MSAL classified our token as %q, want the SAML 1.1 grant", m.grantType)
	}
	// MSAL passed on the assertion's raw bytes: they must stand alone and
	// still verify (namespace declared on the assertion, exclusive c14n).
	if !bytes.HasPrefix(m.assertion, []byte("<saml:Assertion ")) {
		t.Fatalf("assertion handed on by MSAL starts %q (whitespace or wrapper?)", m.assertion[:min(40, len(m.assertion))])
	}
	wrapped := append(append([]byte(`<t:RequestSecurityTokenResponse xmlns:t="`+NSTrust2005+`"><t:RequestedSecurityToken>`), m.assertion...), "</t:RequestedSecurityToken></t:RequestSecurityTokenResponse>"...)
	if _, err := VerifyWSFedResponse(wrapped, Verifier{Certs: m.verifier.Certs}); err != nil {
		t.Fatalf("assertion extracted by MSAL does not verify: %v", err)
	}
}

func TestMSALWrongPasswordGetsFault(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with MSAL over TLS")
	}
	m := newMSALStandIn(t)
	client, err := public.New("11111111-2222-3333-4444-555555555555",
		public.WithAuthority(m.srv.URL+"/tenant"), public.WithHTTPClient(m.srv.Client()), public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	//lint:ignore SA1019 MSAL's deprecated username/password flow is the one that speaks WS-Trust to a federated IdP.
	_, err = client.AcquireTokenByUsernamePassword(ctx, []string{"https://graph.microsoft.com/User.Read"}, "john.smith@contoso.com", "wrong")
	if err == nil {
		t.Fatal("MSAL got a token with a wrong password")
	}
	if !strings.Contains(err.Error(), "FailedAuthentication") {
		t.Errorf("MSAL error does not carry our fault: %v", err)
	}
	if m.assertion != nil {
		t.Error("a token request reached Entra after a failed WS-Trust sign-in")
	}
}
