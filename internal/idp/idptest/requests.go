package idptest

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/idp/idptest/authnsign"
	"github.com/portico-idp/portico/internal/signing"
)

// AuthnRequest describes a SAML 2.0 AuthnRequest shaped like Microsoft
// Entra's (how-to-connect-fed-saml-idp, the request sample): Issuer
// urn:federation:MicrosoftOnline, a persistent NameIDPolicy, no ACS URL.
type AuthnRequest struct {
	ID           string
	IssueInstant time.Time
	// Destination, when set, names the IdP endpoint.
	Destination string
	// ACS, when set, is AssertionConsumerServiceURL.
	ACS        string
	ForceAuthn bool
	// MFA asks for the multipleauthn authentication context.
	MFA bool
	// Issuer; empty means urn:federation:MicrosoftOnline.
	Issuer string
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return strings.ReplaceAll(b.String(), `"`, "&quot;")
}

// XML returns the request document.
func (a AuthnRequest) XML() []byte {
	var b strings.Builder
	b.WriteString(`<samlp:AuthnRequest ID="` + esc(a.ID) + `" Version="2.0" IssueInstant="` + a.IssueInstant.UTC().Format("2006-01-02T15:04:05.000Z") + `"`)
	if a.Destination != "" {
		b.WriteString(` Destination="` + esc(a.Destination) + `"`)
	}
	if a.ACS != "" {
		b.WriteString(` AssertionConsumerServiceURL="` + esc(a.ACS) + `"`)
	}
	if a.ForceAuthn {
		b.WriteString(` ForceAuthn="true"`)
	}
	issuer := a.Issuer
	if issuer == "" {
		issuer = "urn:federation:MicrosoftOnline"
	}
	b.WriteString(` xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">` + esc(issuer) + `</Issuer>`)
	b.WriteString(`<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/>`)
	if a.MFA {
		b.WriteString(`<samlp:RequestedAuthnContext Comparison="minimum"><AuthnContextClassRef xmlns="urn:oasis:names:tc:SAML:2.0:assertion">http://schemas.microsoft.com/claims/multipleauthn</AuthnContextClassRef></samlp:RequestedAuthnContext>`)
	}
	b.WriteString(`</samlp:AuthnRequest>`)
	return []byte(b.String())
}

// RedirectQuery encodes a request for the HTTP-Redirect binding (SAML
// bindings §3.4.4.1: DEFLATE, base64, URL-encoding), signed with key
// (RSA-SHA256 over "SAMLRequest=…&RelayState=…&SigAlg=…") when key is not
// nil.
func RedirectQuery(tb testing.TB, doc []byte, relayState string, key crypto.Signer) string {
	tb.Helper()
	return RedirectQueryAlg(tb, doc, relayState, key, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
}

// RedirectQueryAlg is RedirectQuery with the signature algorithm sigAlg:
// rsa-sha256 or rsa-sha1 (xmldsig-core §6.4.2, RFC 6931).
func RedirectQueryAlg(tb testing.TB, doc []byte, relayState string, key crypto.Signer, sigAlg string) string {
	tb.Helper()
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.DefaultCompression)
	w.Write(doc)
	w.Close()
	q := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(z.Bytes()))
	if relayState != "" {
		q += "&RelayState=" + url.QueryEscape(relayState)
	}
	if key != nil {
		q += "&SigAlg=" + url.QueryEscape(sigAlg)
		var digest []byte
		hash := crypto.SHA256
		switch sigAlg {
		case "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256":
			h := sha256.Sum256([]byte(q))
			digest = h[:]
		case "http://www.w3.org/2000/09/xmldsig#rsa-sha1":
			h := sha1.Sum([]byte(q)) //nolint:gosec // what the test sends to be refused or allowed
			digest, hash = h[:], crypto.SHA1
		default:
			tb.Fatalf("RedirectQueryAlg: no hash for %s", sigAlg)
		}
		sig, err := key.Sign(rand.Reader, digest, hash)
		if err != nil {
			tb.Fatal(err)
		}
		q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	return q
}

// SignEnveloped signs an AuthnRequest for the HTTP-POST binding (see
// authnsign.SignEnveloped; Entra's way with entraStyle).
func SignEnveloped(tb testing.TB, doc []byte, cert *signing.Certificate, entraStyle bool) []byte {
	tb.Helper()
	return authnsign.SignEnveloped(tb, doc, cert, entraStyle)
}

// NewSPCertificate makes a certificate standing in for Microsoft Entra's
// AuthnRequest signing certificate.
func (e *Env) NewSPCertificate(name string) *signing.Certificate {
	e.TB.Helper()
	c, err := signing.Generate(signing.Options{CommonName: name, Now: func() time.Time { return e.Clock.Now().Add(-time.Hour) }})
	if err != nil {
		e.TB.Fatal(err)
	}
	return c
}

// msalRequestFile is the WS-Trust request MSAL Go sends, captured in the
// assertion package's testdata.
func msalRequestFile(tb testing.TB) []byte {
	tb.Helper()
	_, self, _, _ := runtime.Caller(0)
	data, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "assertion", "testdata", "msal_wstrust_request.xml"))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// WSTrustRequest is the captured MSAL Go usernamemixed request with its
// endpoint, credentials, message id and timestamp replaced.
type WSTrustRequest struct {
	To, Username, Password, MessageID string
	Created                           time.Time
	// AppliesTo; empty keeps urn:federation:MicrosoftOnline.
	AppliesTo string
}

// Body returns the SOAP envelope.
func (r WSTrustRequest) Body(tb testing.TB) []byte {
	tb.Helper()
	s := string(msalRequestFile(tb))
	ts := "2006-01-02T15:04:05.000Z"
	for _, rep := range [][2]string{
		{"https://portico.example/t/contoso/apps/office365/wstrust/13/usernamemixed", esc(r.To)},
		{"2026-03-01T11:59:58.925Z", r.Created.UTC().Format(ts)},
		{"2026-03-01T12:09:58.925Z", r.Created.Add(10 * time.Minute).UTC().Format(ts)},
		{"<wsse:Username>john.smith@contoso.com</wsse:Username>", "<wsse:Username>" + esc(r.Username) + "</wsse:Username>"},
		{"<wsse:Password>correct horse</wsse:Password>", "<wsse:Password>" + esc(r.Password) + "</wsse:Password>"},
		{"urn:uuid:c0f89a62-c40a-447f-b70b-c023ebb291c9", esc(r.MessageID)},
	} {
		if !strings.Contains(s, rep[0]) {
			tb.Fatalf("captured MSAL request lacks %q", rep[0])
		}
		s = strings.Replace(s, rep[0], rep[1], 1)
	}
	if r.AppliesTo != "" {
		s = strings.Replace(s, "<wsa:Address>urn:federation:MicrosoftOnline</wsa:Address>", "<wsa:Address>"+esc(r.AppliesTo)+"</wsa:Address>", 1)
	}
	return []byte(s)
}
