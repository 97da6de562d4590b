package assertion

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// Signer makes the enveloped XML signatures of this package.
//
// goxmldsig v1.6.1 (the version in go.mod) signs with any crypto.Signer
// through NewSigningContext (its X509KeyStore interface wants an
// *rsa.PrivateKey), so no adapter is needed: an HSM/KMS signer works as is.
// SAML 2.0 responses and metadata are signed through goxmldsig; the SAML 1.1
// assertion, the per-sign-in hot path, is written in canonical form and
// signed directly (canon.go), and held byte for byte to the goxmldsig
// output by TestFastPathMatchesGoxmldsig.
type Signer struct {
	key   crypto.Signer
	chain [][]byte
	cert  *x509.Certificate
}

// NewSigner returns a signer for key whose certificate chain (DER, leaf
// first) goes into KeyInfo/X509Data. The key must be RSA (M365-CONTRACT.md
// §4: RSA-SHA256, 2048 bits or more) and match the leaf certificate.
func NewSigner(key crypto.Signer, chain [][]byte) (*Signer, error) {
	if key == nil || len(chain) == 0 {
		return nil, errors.New("assertion: signer needs a key and a certificate")
	}
	cert, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("assertion: parsing signing certificate: %w", err)
	}
	pub, ok := key.Public().(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("assertion: signing key is %T, want RSA", key.Public())
	}
	if pub.N.BitLen() < 2048 {
		return nil, fmt.Errorf("assertion: RSA key of %d bits, need 2048 or more", pub.N.BitLen())
	}
	if !pub.Equal(cert.PublicKey) {
		return nil, errors.New("assertion: signing key does not match the certificate")
	}
	return &Signer{key: key, chain: chain, cert: cert}, nil
}

// Certificate returns the leaf signing certificate.
func (s *Signer) Certificate() *x509.Certificate { return s.cert }

func (s *Signer) context(idAttr string) (*dsig.SigningContext, error) {
	ctx, err := dsig.NewSigningContext(s.key, s.chain)
	if err != nil {
		return nil, fmt.Errorf("assertion: signing context: %w", err)
	}
	ctx.IdAttribute = idAttr
	ctx.Prefix = "ds"
	ctx.Hash = crypto.SHA256
	// Exclusive c14n (xml-exc-c14n#) for both SignedInfo and the reference
	// transform, as Entra expects (M365-CONTRACT.md §4) and so that the
	// signed element verifies wherever it is moved (MSAL extracts the
	// assertion from the WS-Trust response by its raw bytes).
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	return ctx, nil
}

// signEnveloped signs el (which must carry its id in idAttr) and inserts the
// ds:Signature as el's child number pos (pos < 0: last child). The schemas
// fix the position: last in a SAML 1.1 assertion (SAML 1.1 assertion
// schema), right after Issuer in SAML 2.0 (SAML core §2.3.3, §3.2.1), first
// in metadata (SAML metadata §2.3.1).
//
// goxmldsig canonicalises the element it digests in place, dropping namespace
// declarations that are not visibly used; that would strip the declaration
// behind a QName in attribute content (xsi:type="fed:..." in WS-Fed
// metadata). copyFirst makes it digest a copy; the canonical bytes are the
// same, so the signature verifies on the original.
func (s *Signer) signEnveloped(el *etree.Element, idAttr string, pos int, copyFirst bool) error {
	if el.SelectAttrValue(idAttr, "") == "" {
		return fmt.Errorf("assertion: element %s has no %s to reference", el.Tag, idAttr)
	}
	ctx, err := s.context(idAttr)
	if err != nil {
		return err
	}
	target := el
	if copyFirst {
		target = el.Copy()
	}
	sig, err := ctx.ConstructSignature(target, true)
	if err != nil {
		return fmt.Errorf("assertion: signing %s: %w", el.Tag, err)
	}
	if pos < 0 || pos >= len(el.Child) {
		el.AddChild(sig)
	} else {
		el.InsertChildAt(pos, sig)
	}
	return nil
}

// Verifier checks enveloped signatures against trusted certificates. It is
// the verification path Portico itself uses (signed AuthnRequests) and the
// one the tests hold issued tokens to.
type Verifier struct {
	// Certs are the trusted signing certificates (current and next).
	Certs []*x509.Certificate
	// Now is the clock used for certificate validity; nil means time.Now.
	Now func() time.Time
	// AllowSHA1 accepts RSA-SHA1 signature methods and SHA-1 digests,
	// which are refused otherwise (the rule of signatureAlgorithms).
	AllowSHA1 bool
}

// VerifyEnveloped verifies the enveloped signature of el, whose id is in
// idAttr, and returns the verified element as goxmldsig re-parsed it from
// the signed canonical bytes. Callers must continue with that element only:
// anything else in the input is unauthenticated (signature wrapping).
func (v Verifier) VerifyEnveloped(el *etree.Element, idAttr string) (*etree.Element, error) {
	if len(v.Certs) == 0 {
		return nil, errors.New("assertion: no trusted certificates to verify with")
	}
	if err := checkSignatureAlgorithms(el, v.AllowSHA1); err != nil {
		return nil, fmt.Errorf("assertion: signature of %s: %w", el.Tag, err)
	}
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: v.Certs})
	ctx.IdAttribute = idAttr
	ctx.Clock = dsig.NewFakeClockAt(Options{Now: v.Now}.now())
	out, err := ctx.Validate(el)
	if err != nil {
		return nil, fmt.Errorf("assertion: signature of %s: %w", el.Tag, err)
	}
	return out, nil
}

// checkSignatureAlgorithms applies the algorithm rule to every XML-DSig
// Signature inside el before anything is verified. goxmldsig accepts
// RSA-SHA1 and picks the signature itself, so each one must pass: then
// whichever it verifies does.
func checkSignatureAlgorithms(el *etree.Element, allowSHA1 bool) error {
	var walk func(*etree.Element) error
	walk = func(e *etree.Element) error {
		if e.Tag == "Signature" && e.NamespaceURI() == NSDSig {
			for _, si := range e.ChildElements() {
				if si.Tag != "SignedInfo" || si.NamespaceURI() != NSDSig {
					continue
				}
				for _, c := range si.ChildElements() {
					switch {
					case c.NamespaceURI() != NSDSig:
					case c.Tag == "SignatureMethod":
						if _, err := signatureAlgorithm(c.SelectAttrValue("Algorithm", ""), allowSHA1); err != nil {
							return err
						}
					case c.Tag == "Reference":
						for _, d := range c.ChildElements() {
							if d.Tag == "DigestMethod" && d.NamespaceURI() == NSDSig {
								if err := digestAlgorithm(d.SelectAttrValue("Algorithm", ""), allowSHA1); err != nil {
									return err
								}
							}
						}
					}
				}
			}
		}
		for _, c := range e.ChildElements() {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(el)
}

// writeElement serialises el compactly (no indentation: whitespace next to
// a signed element is not allowed by Entra, M365-CONTRACT.md §4), escaping
// as Canonical XML does.
func writeElement(el *etree.Element) ([]byte, error) {
	doc := etree.NewDocument()
	doc.WriteSettings.CanonicalText = true
	doc.WriteSettings.CanonicalAttrVal = true
	doc.SetRoot(el)
	var b strings.Builder
	if _, err := doc.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("assertion: writing %s: %w", el.Tag, err)
	}
	return []byte(b.String()), nil
}
