package saml

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"github.com/portico-idp/portico/internal/idp/idptest/authnsign"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/idp/assertion"
	"github.com/portico-idp/portico/internal/signing"
)

// The HTTP-POST fuzzer's fixture is deterministic (the assertion
// package's test key, a fixed clock, a seeded serial number) so that the
// signed seeds and the committed corpus stay valid from run to run.

var postFuzzNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const postFuzzSSO = "https://portico.example/t/contoso/apps/office365/saml"

// postFuzzCert stands in for Microsoft Entra's request-signing
// certificate.
func postFuzzCert(tb testing.TB) *signing.Certificate {
	tb.Helper()
	data, err := os.ReadFile("../assertion/testdata/signing-key.pem")
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := pem.Decode(data)
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	var seed [32]byte
	c, err := signing.NewCertificate(k.(crypto.Signer), signing.Options{CommonName: "Microsoft Entra request signing (test)",
		Rand: rand.NewChaCha8(seed), Now: func() time.Time { return postFuzzNow.Add(-24 * time.Hour) }})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// postFuzzSign signs an AuthnRequest enveloped after its Issuer. With
// entraStyle it is signed as Entra signs (RSA-SHA1, SHA-1 digest, a
// KeyInfo that names the key instead of carrying the certificate: the
// case parsePOST strips).
func postFuzzSign(tb testing.TB, doc string, cert *signing.Certificate, entraStyle bool) string {
	tb.Helper()
	return base64.StdEncoding.EncodeToString(authnsign.SignEnveloped(tb, []byte(doc), cert, entraStyle))
}

func postFuzzRequest(id, extra, inner string) string {
	return `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="` + id +
		`" IssueInstant="` + postFuzzNow.Add(-10*time.Second).Format(time.RFC3339) + `" Version="2.0" AssertionConsumerServiceIndex="0"` + extra +
		`><saml:Issuer>urn:federation:MicrosoftOnline</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/>` +
		inner + `</samlp:AuthnRequest>`
}

// FuzzParsePOST drives the HTTP-POST binding's entry point (parsePOST:
// Entra's certificate-less KeyInfo stripped, then the assertion package's
// parser) with arbitrary SAMLRequest and RelayState fields under three
// policies: signature required, signature optional with the SP
// certificate configured, and no certificate. Properties:
//   - errors are ErrInvalidRequest, ErrSignature or ErrReplay;
//   - an accepted request has the expected issuer, an ID, an allowed ACS
//     and a fresh IssueInstant;
//   - with a signature required nothing unsigned is accepted, and
//     anything accepted as signed carries exactly the fields of a request
//     the SP key signed (no signature wrapping, no edits after signing).
func FuzzParsePOST(f *testing.F) {
	cert := postFuzzCert(f)
	certs := []*x509.Certificate{cert.Cert}
	now := func() time.Time { return postFuzzNow }
	// AllowSHA1: the Entra-style seeds are signed RSA-SHA1 as Microsoft
	// signs them, which an application accepts only with
	// office365.allowSha1Requests (the refusal by default is tested in
	// TestAuthnRequestSHA1Rule).
	policies := []assertion.AuthnRequestPolicy{
		{Now: now, SSOURL: postFuzzSSO, RequireSigned: true, SPCerts: certs, AllowSHA1: true},
		{Now: now, SSOURL: postFuzzSSO, SPCerts: certs, AllowSHA1: true},
		{Now: now, SSOURL: postFuzzSSO},
	}
	docs := []string{
		postFuzzRequest("_9a0f6c3e-51c7-4b1f-a0c2-1d0b7f0e2f61", "", ""),
		postFuzzRequest("_req2", ` Destination="`+postFuzzSSO+`" ForceAuthn="true"`, ""),
		postFuzzRequest("_req3", ` AssertionConsumerServiceURL="`+assertion.MicrosoftLoginACS+`"`,
			`<samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>`+assertion.MultipleAuthn+`</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>`),
	}
	var signed []*assertion.AuthnRequest
	for i, d := range docs {
		for _, entra := range []bool{false, true} {
			in := postFuzzSign(f, d, cert, entra)
			r, err := parsePOST(in, "", policies[0])
			if err != nil {
				f.Fatalf("signed seed %d (Entra style %v) refused: %v", i, entra, err)
			}
			signed = append(signed, r)
			f.Add(uint8(0), in, "")
			f.Add(uint8(1), in, "https://portal.office.com/")
		}
		f.Add(uint8(2), base64.StdEncoding.EncodeToString([]byte(d)), "rs")
		f.Add(uint8(0), base64.StdEncoding.EncodeToString([]byte(d)), "")
	}
	f.Add(uint8(2), "PD94bWwgdmVyc2lvbj0iMS4wIj8+", "")
	f.Add(uint8(2), base64.StdEncoding.EncodeToString([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`)), "")

	f.Fuzz(func(t *testing.T, which uint8, samlRequest, relayState string) {
		pol := policies[int(which)%len(policies)]
		r, err := parsePOST(samlRequest, relayState, pol)
		if err != nil {
			if !errors.Is(err, assertion.ErrInvalidRequest) && !errors.Is(err, assertion.ErrSignature) && !errors.Is(err, assertion.ErrReplay) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		if r.Issuer != assertion.MicrosoftOnlineRealm || r.ID == "" || (r.ACSURL != "" && r.ACSURL != assertion.MicrosoftLoginACS) ||
			(r.Destination != "" && r.Destination != postFuzzSSO) || r.RelayState != relayState ||
			r.IssueInstant.After(postFuzzNow.Add(2*time.Minute)) || postFuzzNow.Sub(r.IssueInstant) > 7*time.Minute {
			t.Fatalf("accepted %+v", r)
		}
		if pol.RequireSigned && !r.Signed {
			t.Fatalf("accepted an unsigned request though a signature is required: %+v", r)
		}
		if r.Signed && len(pol.SPCerts) == 0 {
			t.Fatalf("signed without a certificate: %+v", r)
		}
		if r.Signed {
			// RelayState is a separate form field: the signature does not cover it.
			got := *r
			got.RelayState = ""
			for _, s := range signed {
				if reflect.DeepEqual(&got, s) {
					return
				}
			}
			t.Fatalf("accepted as signed a request the SP never signed: %+v", r)
		}
	})
}
