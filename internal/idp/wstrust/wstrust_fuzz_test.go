package wstrust_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/idp/assertion"
	"github.com/portico-idp/portico/internal/idp/idptest"
)

// FuzzUsernameMixed posts arbitrary SOAP envelopes to the WS-Trust 1.3
// usernamemixed endpoint of an application that allows password-only
// active sign-in. In the body, {msgid} stands for a fresh message id and
// {password} for the user's password, so that the fuzzer can pass the
// replay check and the password check and explore token issuance.
// Properties:
//   - never a 5xx (a Receiver fault would mean Portico failed);
//   - every refusal is a SOAP fault and never echoes the password;
//   - a token is issued only for AppliesTo urn:federation:MicrosoftOnline,
//     the user's own name and exact password, and never claims MFA.
func FuzzUsernameMixed(f *testing.F) {
	e := idptest.New(f, idptest.Options{})
	e.UpdateApp(func(a *apps.Application) { a.AllowPasswordOnlyActive = true })
	u := e.AddUser(idptest.UserSpec{Username: "john.smith", NoTOTP: true})
	ep := usernameMixedURL(e)
	handler := e.Server.Config.Handler
	now := e.Clock.Now()

	seed := func(r idptest.WSTrustRequest) string {
		r.To, r.Created, r.MessageID = ep, now.Add(-2e9), "{msgid}"
		return string(r.Body(f))
	}
	good := seed(idptest.WSTrustRequest{Username: u.UPN, Password: "{password}"})
	for _, s := range []string{
		good,
		seed(idptest.WSTrustRequest{Username: "John.Smith", Password: "{password}"}),
		seed(idptest.WSTrustRequest{Username: u.UPN, Password: "wrong"}),
		seed(idptest.WSTrustRequest{Username: u.UPN, Password: "{password}", AppliesTo: "urn:federation:Other"}),
		seed(idptest.WSTrustRequest{Username: "nobody@contoso.com", Password: "{password}"}),
		strings.Replace(good, "</s:Body>", "</s:Body><s:Body/>", 1),
		strings.Replace(good, "<wsse:Username>", `<wsse:Username xmlns:x="<fz">`, 1),
		`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`, "", "<",
	} {
		f.Add(s)
	}

	msgs := 0
	f.Fuzz(func(t *testing.T, raw string) {
		msgs++
		body := strings.NewReplacer("{msgid}", fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", msgs), "{password}", u.Password).Replace(raw)
		req := httptest.NewRequest(http.MethodPost, ep, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
		req.TLS = &tls.ConnectionState{}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		out := rec.Body.Bytes()
		if rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, out)
		}
		if rec.Code != http.StatusOK {
			if !bytes.Contains(out, []byte("Fault")) || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/soap+xml") {
				t.Fatalf("status %d without a SOAP fault: %s", rec.Code, out)
			}
			if bytes.Contains(out, []byte(u.Password)) {
				t.Fatalf("fault echoes the password: %s", out)
			}
			return
		}
		r, err := assertion.ParseWSTrustRequest([]byte(body), assertion.WSTrustParseOptions{Now: e.Clock.Now})
		if err != nil {
			t.Fatalf("token issued for a request the parser refuses (%v): %q", err, body)
		}
		if r.AppliesTo != assertion.MicrosoftOnlineRealm || r.Password != u.Password ||
			!(strings.EqualFold(r.Username, u.UPN) || strings.EqualFold(r.Username, u.Username)) {
			t.Fatalf("token issued for %+v", r)
		}
		if bytes.Contains(out, []byte(assertion.MultipleAuthn)) {
			t.Fatalf("password-only token claims MFA: %s", out)
		}
	})
}
