package assertion

import (
	"crypto"
	"crypto/sha1" //nolint:gosec // the test makes the SHA-1 signatures the rule refuses
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/portico-idp/portico/internal/signing"
)

// sha1Redirect signs an HTTP-Redirect query with RSA-SHA1 for real
// (bindings §3.4.4.1), as an SP still using SHA-1 would.
func sha1Redirect(t *testing.T, xml string, sp *Signer) string {
	t.Helper()
	q := "SAMLRequest=" + url.QueryEscape(deflateB64(t, xml)) + "&SigAlg=" + url.QueryEscape(AlgRSASHA1)
	d := sha1.Sum([]byte(q)) //nolint:gosec // see above
	sig, err := sp.key.Sign(nil, d[:], crypto.SHA1)
	if err != nil {
		t.Fatal(err)
	}
	return q + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
}

// dsigPOST signs an AuthnRequest enveloped with goxmldsig using hash for
// both the signature method and the digest, the certificate in KeyInfo.
func dsigPOST(t *testing.T, xml string, c *signing.Certificate, hash crypto.Hash) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(xml); err != nil {
		t.Fatal(err)
	}
	ctx, err := dsig.NewSigningContext(c.Signer, c.Chain())
	if err != nil {
		t.Fatal(err)
	}
	ctx.IdAttribute, ctx.Prefix, ctx.Hash = "ID", "ds", hash
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	sig, err := ctx.ConstructSignature(doc.Root(), true)
	if err != nil {
		t.Fatal(err)
	}
	doc.Root().InsertChildAt(1, sig)
	b, _ := doc.WriteToBytes()
	return base64.StdEncoding.EncodeToString(b)
}

// TestAuthnRequestSHA1Rule: both bindings follow one rule. A request
// signed with RSA-SHA1 by the trusted certificate is refused (ErrSHA1
// under ErrSignature) unless the policy allows SHA-1, and then accepted
// on both; a SHA-1 digest under an RSA-SHA256 signature method counts as
// SHA-1 too.
func TestAuthnRequestSHA1Rule(t *testing.T) {
	sp, spCert := otherSigner(t) // plays Entra's request-signing key
	fresh := fixedNow.Add(-10 * time.Second)
	pol := func(allowSHA1 bool) AuthnRequestPolicy {
		return AuthnRequestPolicy{Now: clock, SSOURL: ssoURL, RequireSigned: true, SPCerts: []*x509.Certificate{spCert.Cert}, AllowSHA1: allowSHA1}
	}
	n := 0
	req := func() string { n++; return entraRequest("_sha1_"+string(rune('a'+n)), fresh, "") }
	parse := map[string]func(allow bool) (*AuthnRequest, error){
		"redirect rsa-sha1": func(allow bool) (*AuthnRequest, error) {
			return ParseAuthnRequestRedirect(sha1Redirect(t, req(), sp), pol(allow))
		},
		"post rsa-sha1": func(allow bool) (*AuthnRequest, error) {
			return ParseAuthnRequestPOST(dsigPOST(t, req(), spCert, crypto.SHA1), "", pol(allow))
		},
		"post sha1 digest under rsa-sha256": func(allow bool) (*AuthnRequest, error) {
			in := dsigPOST(t, req(), spCert, crypto.SHA256)
			raw, _ := base64.StdEncoding.DecodeString(in)
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(raw); err != nil {
				t.Fatal(err)
			}
			// Changing DigestMethod breaks the signature; what matters is
			// that the algorithm is named as the reason when SHA-1 is off.
			doc.Root().FindElement(".//DigestMethod").CreateAttr("Algorithm", AlgSHA1)
			b, _ := doc.WriteToBytes()
			return ParseAuthnRequestPOST(base64.StdEncoding.EncodeToString(b), "", pol(allow))
		},
	}
	for name, p := range parse {
		t.Run(name, func(t *testing.T) {
			_, err := p(false)
			if !errors.Is(err, ErrSignature) || !errors.Is(err, ErrSHA1) {
				t.Fatalf("SHA-1 not allowed: got %v, want ErrSignature and ErrSHA1", err)
			}
		})
	}
	for _, name := range []string{"redirect rsa-sha1", "post rsa-sha1"} {
		t.Run(name+" allowed", func(t *testing.T) {
			r, err := parse[name](true)
			if err != nil || !r.Signed {
				t.Fatalf("SHA-1 allowed: %+v %v", r, err)
			}
		})
	}
	// SHA-256 needs no permission on either binding.
	if r, err := ParseAuthnRequestPOST(dsigPOST(t, req(), spCert, crypto.SHA256), "", pol(false)); err != nil || !r.Signed {
		t.Fatalf("post rsa-sha256: %+v %v", r, err)
	}
	if r, err := ParseAuthnRequestRedirect(redirectQuery(t, req(), "", sp, AlgRSASHA256), pol(false)); err != nil || !r.Signed {
		t.Fatalf("redirect rsa-sha256: %+v %v", r, err)
	}
}
