// Package authnsign signs SAML AuthnRequests as a service provider does,
// for tests. It stands apart from idptest, which imports the protocol
// packages, so that their own internal tests can use it too.
package authnsign

import (
	"crypto"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/portico-idp/portico/internal/signing"
)

// SignEnveloped signs an AuthnRequest for the HTTP-POST binding with an
// enveloped XML signature after its Issuer (SAML core §3.4.1, §5.4). With
// entraStyle the signature is made the way Microsoft Entra makes it
// (how-to-connect-fed-saml-idp, the signed request sample): RSA-SHA1 and
// SHA-1 digest, and a KeyInfo naming the key (X509SKI, KeyName
// MicrosoftOnline) without the certificate.
func SignEnveloped(tb testing.TB, doc []byte, cert *signing.Certificate, entraStyle bool) []byte {
	tb.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		tb.Fatal(err)
	}
	ctx, err := dsig.NewSigningContext(cert.Signer, cert.Chain())
	if err != nil {
		tb.Fatal(err)
	}
	ctx.IdAttribute = "ID"
	ctx.Prefix = "ds"
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	ctx.Hash = crypto.SHA256
	if entraStyle {
		ctx.Hash = crypto.SHA1
	}
	sig, err := ctx.ConstructSignature(d.Root(), true)
	if err != nil {
		tb.Fatal(err)
	}
	if entraStyle {
		ki := sig.FindElement("./KeyInfo")
		for _, c := range ki.ChildElements() {
			ki.RemoveChild(c)
		}
		x := ki.CreateElement("ds:X509Data")
		x.CreateAttr("xmlns:ds", dsig.Namespace)
		x.CreateElement("ds:X509SKI").SetText("bwzmkdKETWhixlS99FL36FH37EI=")
		kn := ki.CreateElement("ds:KeyName")
		kn.CreateAttr("xmlns:ds", dsig.Namespace)
		kn.SetText("MicrosoftOnline")
	}
	d.Root().InsertChildAt(1, sig)
	out, err := d.WriteToBytes()
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
