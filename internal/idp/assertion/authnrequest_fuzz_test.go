package assertion

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/url"
	"reflect"
	"testing"
	"time"
)

// The Redirect-binding fuzzer's fixture is deterministic (the test key in
// testdata, the fixed clock), so that the signed seeds and the committed
// corpus stay valid from run to run.

const (
	sigAlgSHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	sigAlgSHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	sigAlgSHA1   = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
)

// fuzzRedirectQuery encodes doc for the HTTP-Redirect binding (bindings
// §3.4.4.1) and, with sp, signs "SAMLRequest=…[&RelayState=…]&SigAlg=…".
func fuzzRedirectQuery(tb testing.TB, doc, relay string, sp *Signer, sigAlg string) string {
	tb.Helper()
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	w.Write([]byte(doc))
	w.Close()
	q := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(z.Bytes()))
	if relay != "" {
		q += "&RelayState=" + url.QueryEscape(relay)
	}
	if sp == nil {
		return q
	}
	q += "&SigAlg=" + url.QueryEscape(sigAlg)
	var sig []byte
	var err error
	if sigAlg == sigAlgSHA512 {
		d := sha512.Sum512([]byte(q))
		sig, err = sp.key.Sign(nil, d[:], crypto.SHA512)
	} else {
		d := sha256.Sum256([]byte(q))
		sig, err = sp.key.Sign(nil, d[:], crypto.SHA256)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return q + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
}

// FuzzParseAuthnRequestRedirect drives the HTTP-Redirect binding parser
// with raw query strings (the handler passes r.URL.RawQuery unchanged)
// under three policies: signature required, signature optional with the
// SP certificate configured, and no certificate. Properties:
//   - errors are ErrInvalidRequest, ErrSignature or ErrReplay;
//   - an accepted request has the expected issuer, an ID, an allowed ACS,
//     a Destination that is this endpoint and a fresh IssueInstant;
//   - with a certificate, anything accepted as signed is exactly one of
//     the requests the SP key signed (same fields and RelayState): the
//     fuzzer cannot make the parser believe in a signature it did not
//     see; with a signature required, nothing unsigned gets through.
func FuzzParseAuthnRequestRedirect(f *testing.F) {
	sp, _ := testSigner(f) // plays Microsoft Entra's request-signing key
	certs := []*x509.Certificate{sp.Certificate()}
	policies := []AuthnRequestPolicy{
		{Now: clock, SSOURL: ssoURL, RequireSigned: true, SPCerts: certs},
		{Now: clock, SSOURL: ssoURL, SPCerts: certs},
		{Now: clock, SSOURL: ssoURL},
	}
	fresh := fixedNow.Add(-10 * time.Second)
	docs := []string{
		entraRequest("_9a0f6c3e-51c7-4b1f-a0c2-1d0b7f0e2f61", fresh, ""),
		entraRequest("_req2", fresh, ` Destination="`+ssoURL+`" ForceAuthn="true"`),
		entraRequest("_req3", fresh, ` AssertionConsumerServiceURL="`+MicrosoftLoginACS+`" IsPassive="1"`),
		`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_mfa" IssueInstant="` +
			fresh.Format(time.RFC3339) + `" Version="2.0"><saml:Issuer>urn:federation:MicrosoftOnline</saml:Issuer><samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>` +
			MultipleAuthn + `</saml:AuthnContextClassRef></samlp:RequestedAuthnContext></samlp:AuthnRequest>`,
	}
	// What the SP key signed: the only requests a signature may vouch for.
	var signed []*AuthnRequest
	for i, d := range docs {
		relay := ""
		if i%2 == 1 {
			relay = "https://portal.office.com/?x=1&y=é"
		}
		for _, alg := range []string{sigAlgSHA256, sigAlgSHA512} {
			q := fuzzRedirectQuery(f, d, relay, sp, alg)
			r, err := ParseAuthnRequestRedirect(q, policies[0])
			if err != nil {
				f.Fatalf("signed seed %d refused: %v", i, err)
			}
			signed = append(signed, r)
			f.Add(uint8(0), q)
			f.Add(uint8(1), q)
		}
		f.Add(uint8(2), fuzzRedirectQuery(f, d, relay, nil, ""))
		f.Add(uint8(1), fuzzRedirectQuery(f, d, relay, nil, ""))
	}
	f.Add(uint8(0), fuzzRedirectQuery(f, docs[0], "", sp, sigAlgSHA1))
	f.Add(uint8(2), fuzzRedirectQuery(f, docs[0], "", nil, "")+"&SAMLEncoding=urn%3Aoasis%3Anames%3Atc%3ASAML%3A2.0%3Abindings%3AURL-Encoding%3ADEFLATE")
	f.Add(uint8(2), "SAMLRequest=%zz")
	f.Add(uint8(2), "SAMLRequest=AAAA&SAMLRequest=AAAA")
	f.Add(uint8(2), fuzzRedirectQuery(f, `<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`, "", nil, ""))

	f.Fuzz(func(t *testing.T, which uint8, rawQuery string) {
		pol := policies[int(which)%len(policies)]
		r, err := ParseAuthnRequestRedirect(rawQuery, pol)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) && !errors.Is(err, ErrSignature) && !errors.Is(err, ErrReplay) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		if r.Issuer != MicrosoftOnlineRealm || r.ID == "" || (r.ACSURL != "" && r.ACSURL != MicrosoftLoginACS) ||
			(r.Destination != "" && r.Destination != ssoURL) ||
			r.IssueInstant.After(fixedNow.Add(2*time.Minute)) || fixedNow.Sub(r.IssueInstant) > 7*time.Minute {
			t.Fatalf("accepted %+v", r)
		}
		if pol.RequireSigned && !r.Signed {
			t.Fatalf("accepted an unsigned request though a signature is required: %+v", r)
		}
		if r.Signed && len(pol.SPCerts) == 0 {
			t.Fatalf("signed without a certificate: %+v", r)
		}
		if r.Signed {
			for _, s := range signed {
				if reflect.DeepEqual(r, s) {
					return
				}
			}
			t.Fatalf("accepted as signed a request the SP never signed: %+v", r)
		}
	})
}
