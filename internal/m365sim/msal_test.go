package m365sim

import (
	"context"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// TestMSALConfidentialClient obtains a token with Microsoft's own library:
// a confidential client with a certificate (PS256 assertion with x5t#S256),
// authority https://HOST/{tenant}, instance discovery off, and an HTTP
// client that trusts the sim's CA (TESTING.md, "MSAL Go").
func TestMSALConfidentialClient(t *testing.T) {
	fx := fixtures()
	s, err := New(WithAddr("127.0.0.1:0"), WithSeed(testSeed()), WithSigningKey(fx.sign), WithTLSMaterial(fx.tls))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cred, err := confidential.NewCredFromCert([]*x509.Certificate{fx.app.cert}, fx.app.key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{tenantID, "contoso.onmicrosoft.com"} {
		client, err := confidential.New(s.URL()+"/"+tenant, appAll, cred,
			confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(s.Client()))
		if err != nil {
			t.Fatal(err)
		}
		res, err := client.AcquireTokenByCredential(ctx, []string{"https://graph.microsoft.com/.default"})
		if err != nil {
			t.Fatalf("AcquireTokenByCredential (%s): %v", tenant, err)
		}
		if res.AccessToken == "" || res.ExpiresOn.IsZero() {
			t.Fatalf("result %+v", res)
		}
		// The token is a Graph token that the sim's Graph accepts.
		req, _ := http.NewRequest("GET", s.URL()+"/v1.0/organization", nil)
		req.Header.Set("Authorization", "Bearer "+res.AccessToken)
		r, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Fatalf("Graph with the MSAL token: %d", r.StatusCode)
		}
		jp, err := parseJWT(res.AccessToken)
		if err != nil || jp.claims["appid"] != appAll || jp.claims["tid"] != tenantID {
			t.Fatalf("token claims %v (%v)", jp, err)
		}
	}
	// A certificate that is not registered fails with AADSTS700027.
	other, _ := confidential.NewCredFromCert([]*x509.Certificate{fx.other.cert}, fx.other.key)
	client, err := confidential.New(s.URL()+"/"+tenantID, appAll, other,
		confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(s.Client()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.AcquireTokenByCredential(ctx, []string{"https://graph.microsoft.com/.default"}); err == nil || !strings.Contains(err.Error(), "AADSTS700027") {
		t.Fatalf("unregistered certificate: %v", err)
	}
}
