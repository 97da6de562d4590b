package m365sim

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// fuzzFederation is a trust whose certificate signed the xmldsig fixture.
func fuzzFederation(t testing.TB) fedSettings {
	pemBytes, err := os.ReadFile("xmldsig/testdata/wsfed-signer.pem")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCertificate(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	return fedSettings{issuer: "https://idp.example/issuer/fabrikam.com", current: c, protocol: "wsFed", mfaBehavior: mfaAccept}
}

func fuzzSeeds(f *testing.F) {
	if doc, err := os.ReadFile("xmldsig/testdata/wsfed-signed.xml"); err == nil {
		f.Add(string(doc))
		f.Add(string(doc[:len(doc)/3]))
		f.Add(strings.Replace(string(doc), "<t:RequestedSecurityToken>", `<!DOCTYPE x [<!ENTITY a "b">]><t:RequestedSecurityToken>`, 1))
	}
	f.Add("")
	f.Add("<")
	f.Add(`<t:RequestSecurityTokenResponse xmlns:t="http://schemas.xmlsoap.org/ws/2005/02/trust"><t:RequestedSecurityToken><saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion" AssertionID="_1" Issuer="https://idp.example/issuer/fabrikam.com"/></t:RequestedSecurityToken></t:RequestSecurityTokenResponse>`)
	f.Add(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" Version="2.0" InResponseTo="_r"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a"/></samlp:Response>`)
}

// FuzzWSFedToken feeds arbitrary wresult values to the token validator: it
// must answer an AADSTS error (or, for the fixture, accept it), never panic.
func FuzzWSFedToken(f *testing.F) {
	fuzzSeeds(f)
	fed := fuzzFederation(f)
	now := time.Date(2026, 1, 1, 12, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, wresult string) {
		c, e := validateWSFedToken([]byte(wresult), fed, now)
		if (c == nil) == (e == nil) {
			t.Fatalf("claims %v and error %v", c, e)
		}
		if e != nil && (e.code == 0 || e.msg == "") {
			t.Fatalf("error without code: %+v", e)
		}
		c2, e2 := validateSAMLResponse([]byte(wresult), fed, "_r", []string{acsMicrosoft}, now)
		if (c2 == nil) == (e2 == nil) {
			t.Fatalf("SAML: claims %v and error %v", c2, e2)
		}
	})
}

// FuzzLoginSRF posts arbitrary forms to /login.srf with a valid wctx: the
// answer is always an AADSTS error page (or a sign-in), never a 5xx.
func FuzzLoginSRF(f *testing.F) {
	fuzzSeeds(f)
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, wresult string) {
		key := "LoginOptions=3&estsredirect=2&estsrequest=" + e.s.randomToken(8)
		now := e.s.now()
		e.s.contexts.put(&signInContext{key: key, tenantID: tenantID, domain: "fabrikam.com", username: "alice@fabrikam.com",
			protocol: "wsFed", issuedAt: now, expiresAt: now.Add(time.Minute)}, now)
		for _, form := range []url.Values{
			{"wa": {"wsignin1.0"}, "wresult": {wresult}, "wctx": {key}},
			{"SAMLResponse": {base64.StdEncoding.EncodeToString([]byte(wresult))}, "RelayState": {wresult}},
		} {
			req := httptest.NewRequest(http.MethodPost, "http://sim.test/login.srf", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			e.s.Handler().ServeHTTP(rec, req)
			if rec.Code >= 500 || (rec.Code != 200 && !strings.HasPrefix(rec.Header().Get("X-M365sim-Error"), "AADSTS")) {
				t.Fatalf("status %d %q", rec.Code, rec.Header().Get("X-M365sim-Error"))
			}
		}
	})
}
