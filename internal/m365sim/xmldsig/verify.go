package xmldsig

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // rsa-sha1 is verified only when the caller allows it
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Algorithm identifiers (XML Signature Syntax and Processing 1.1 §6,
// RFC 6931 §2.3.2).
const (
	AlgRSASHA256    = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	AlgRSASHA1      = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	AlgSHA256       = "http://www.w3.org/2001/04/xmlenc#sha256"
	AlgSHA1         = "http://www.w3.org/2000/09/xmldsig#sha1"
	AlgExcC14N      = "http://www.w3.org/2001/10/xml-exc-c14n#"
	AlgEnveloped    = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
	defaultMinRSAKB = 2048
)

// Verification errors. Every failure of VerifyEnveloped wraps exactly one of
// them, so callers can map them to protocol errors.
var (
	// ErrNoSignature: the element carries no ds:Signature child.
	ErrNoSignature = errors.New("xmldsig: element is not signed")
	// ErrMalformedSignature: the Signature does not have the required shape
	// (one SignedInfo, one Reference, the expected transforms, base64 values).
	ErrMalformedSignature = errors.New("xmldsig: malformed signature")
	// ErrUnsupportedAlgorithm: a canonicalization, transform, digest or
	// signature algorithm outside the allowed set.
	ErrUnsupportedAlgorithm = errors.New("xmldsig: unsupported algorithm")
	// ErrReference: the Reference does not point at the signed element (or
	// its id is not unique in the document).
	ErrReference = errors.New("xmldsig: reference does not designate the signed element")
	// ErrDigestMismatch: the signed element was changed after signing.
	ErrDigestMismatch = errors.New("xmldsig: digest mismatch")
	// ErrBadSignature: the signature value does not verify with any trusted key.
	ErrBadSignature = errors.New("xmldsig: signature verification failed")
	// ErrUntrustedKey: KeyInfo names a certificate that is not trusted.
	ErrUntrustedKey = errors.New("xmldsig: signing certificate is not trusted")
	// ErrWeakKey: the trusted key is not an RSA key of the minimum size.
	ErrWeakKey = errors.New("xmldsig: signing key too weak")
)

// VerifyOptions say what a valid signature is.
type VerifyOptions struct {
	// Certs are the trusted signing certificates (RSA keys).
	Certs []*x509.Certificate
	// IDAttr names the unqualified attribute holding the signed element's id:
	// "AssertionID" (SAML 1.1) or "ID" (SAML 2.0).
	IDAttr string
	// SignatureAlgorithms and DigestAlgorithms are the allowed algorithm URIs;
	// empty means rsa-sha256 and sha256 only.
	SignatureAlgorithms []string
	DigestAlgorithms    []string
	// MinRSABits is the smallest acceptable modulus; default 2048.
	MinRSABits int
}

// Verified is the result of a successful verification.
type Verified struct {
	// Element is the signed element parsed again from exactly the bytes that
	// were digested (its canonical form without the signature). Callers read
	// the assertion from it, never from the document they were given.
	Element *Element
	// Canonical are those bytes.
	Canonical []byte
	// Cert is the trusted certificate whose key verified the signature.
	Cert *x509.Certificate
	// SignatureAlgorithm and DigestAlgorithm are the algorithms used.
	SignatureAlgorithm, DigestAlgorithm string
}

// VerifyEnveloped verifies the enveloped XML signature of el: the one
// ds:Signature that is a direct child of el, with exactly one Reference whose
// URI is "#" + el's id, transforms enveloped-signature then exclusive c14n,
// exclusive c14n for SignedInfo, and an allowed signature and digest
// algorithm (XML-DSig core validation, §3.2). root is the document element,
// used to check that the id is unique. The signature must verify with the
// key of one of opts.Certs; a certificate in KeyInfo is only used to pick
// among them and must be one of them.
//
// Signature wrapping is defeated by construction: the signature must be a
// child of the element it signs, the reference must name that element, the
// id must be unique, and the caller gets back the element re-parsed from the
// digested bytes.
func VerifyEnveloped(root, el *Element, opts VerifyOptions) (*Verified, error) {
	sigAlgs := opts.SignatureAlgorithms
	if len(sigAlgs) == 0 {
		sigAlgs = []string{AlgRSASHA256}
	}
	digAlgs := opts.DigestAlgorithms
	if len(digAlgs) == 0 {
		digAlgs = []string{AlgSHA256}
	}
	minBits := opts.MinRSABits
	if minBits <= 0 {
		minBits = defaultMinRSAKB
	}
	sigs := el.Find(NSDSig, "Signature")
	switch len(sigs) {
	case 0:
		return nil, ErrNoSignature
	case 1:
	default:
		return nil, fmt.Errorf("%w: more than one Signature on <%s>", ErrMalformedSignature, el.qname())
	}
	sig := sigs[0]
	id, ok := el.AttrValue("", opts.IDAttr)
	if !ok || id == "" {
		return nil, fmt.Errorf("%w: the signed element has no %s attribute", ErrReference, opts.IDAttr)
	}
	if n := countIDs(root, id); n != 1 {
		return nil, fmt.Errorf("%w: id %q occurs %d times in the document", ErrReference, id, n)
	}

	// Structure of the Signature (XML-DSig §4): SignedInfo, SignatureValue,
	// optional KeyInfo, optional Objects — nothing else.
	kids := sig.ChildElements()
	if len(kids) < 2 || !kids[0].Is(NSDSig, "SignedInfo") || !kids[1].Is(NSDSig, "SignatureValue") {
		return nil, fmt.Errorf("%w: Signature must start with SignedInfo and SignatureValue", ErrMalformedSignature)
	}
	var keyInfo *Element
	for _, k := range kids[2:] {
		switch {
		case k.Is(NSDSig, "KeyInfo") && keyInfo == nil:
			keyInfo = k
		case k.Is(NSDSig, "Object"):
		default:
			return nil, fmt.Errorf("%w: unexpected <%s> in Signature", ErrMalformedSignature, k.qname())
		}
	}
	signedInfo := kids[0]
	sigValue, err := decodeB64(kids[1].Text())
	if err != nil {
		return nil, fmt.Errorf("%w: SignatureValue: %v", ErrMalformedSignature, err)
	}

	// Canonicalize SignedInfo first, then read everything from the parsed
	// canonical bytes: what is interpreted is exactly what is signed.
	siPrefixes, siCanonAlg, err := canonicalizationOf(signedInfo)
	if err != nil {
		return nil, err
	}
	if siCanonAlg != AlgExcC14N {
		return nil, fmt.Errorf("%w: SignedInfo canonicalization %q", ErrUnsupportedAlgorithm, siCanonAlg)
	}
	siBytes := Canonicalize(signedInfo, nil, siPrefixes)
	si, err := Parse(siBytes, Limits{MaxBytes: 1 << 20})
	if err != nil {
		return nil, fmt.Errorf("%w: SignedInfo: %v", ErrMalformedSignature, err)
	}
	ref, sigAlg, err := readSignedInfo(si)
	if err != nil {
		return nil, err
	}
	if p2, _, _ := canonicalizationOf(si); strings.Join(p2, " ") != strings.Join(siPrefixes, " ") {
		return nil, fmt.Errorf("%w: SignedInfo changed by canonicalization", ErrMalformedSignature)
	}
	if !contains(sigAlgs, sigAlg) {
		return nil, fmt.Errorf("%w: signature method %q", ErrUnsupportedAlgorithm, sigAlg)
	}
	if !contains(digAlgs, ref.digestAlg) {
		return nil, fmt.Errorf("%w: digest method %q", ErrUnsupportedAlgorithm, ref.digestAlg)
	}
	if ref.uri != "#"+id {
		return nil, fmt.Errorf("%w: Reference URI %q, signed element id %q", ErrReference, ref.uri, id)
	}

	// The reference: enveloped-signature transform, then exclusive c14n.
	signed := Canonicalize(el, sig, ref.prefixes)
	var digest []byte
	switch ref.digestAlg {
	case AlgSHA256:
		d := sha256.Sum256(signed)
		digest = d[:]
	case AlgSHA1:
		d := sha1.Sum(signed) //nolint:gosec // allowed explicitly by the caller
		digest = d[:]
	}
	if subtle.ConstantTimeCompare(digest, ref.digest) != 1 {
		return nil, ErrDigestMismatch
	}

	// Keys: a certificate in KeyInfo must be one of the trusted ones.
	candidates := opts.Certs
	if keyInfo != nil {
		if certs := keyInfoCerts(keyInfo); len(certs) > 0 {
			candidates = nil
			for _, kc := range certs {
				for _, tc := range opts.Certs {
					if subtle.ConstantTimeCompare(kc, tc.Raw) == 1 {
						candidates = append(candidates, tc)
					}
				}
			}
			if len(candidates) == 0 {
				return nil, ErrUntrustedKey
			}
		}
	}
	var hash crypto.Hash
	var hashed []byte
	switch sigAlg {
	case AlgRSASHA256:
		h := sha256.Sum256(siBytes)
		hash, hashed = crypto.SHA256, h[:]
	case AlgRSASHA1:
		h := sha1.Sum(siBytes) //nolint:gosec // allowed explicitly by the caller
		hash, hashed = crypto.SHA1, h[:]
	default:
		return nil, fmt.Errorf("%w: signature method %q", ErrUnsupportedAlgorithm, sigAlg)
	}
	weak := 0
	for _, c := range candidates {
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok || pub.N.BitLen() < minBits {
			weak++
			continue
		}
		if rsa.VerifyPKCS1v15(pub, hash, hashed, sigValue) == nil {
			v, err := Parse(signed, Limits{MaxBytes: len(signed) + 1})
			if err != nil {
				return nil, fmt.Errorf("%w: re-parsing the signed element: %v", ErrMalformedSignature, err)
			}
			return &Verified{Element: v, Canonical: signed, Cert: c, SignatureAlgorithm: sigAlg, DigestAlgorithm: ref.digestAlg}, nil
		}
	}
	if weak > 0 && weak == len(candidates) {
		return nil, ErrWeakKey
	}
	return nil, ErrBadSignature
}

type reference struct {
	uri       string
	prefixes  []string
	digestAlg string
	digest    []byte
}

// readSignedInfo checks SignedInfo's shape (XML-DSig §4.4): a
// CanonicalizationMethod, a SignatureMethod and exactly one Reference with
// the two transforms.
func readSignedInfo(si *Element) (reference, string, error) {
	var ref reference
	if !si.Is(NSDSig, "SignedInfo") {
		return ref, "", fmt.Errorf("%w: SignedInfo", ErrMalformedSignature)
	}
	kids := si.ChildElements()
	if len(kids) != 3 || !kids[0].Is(NSDSig, "CanonicalizationMethod") || !kids[1].Is(NSDSig, "SignatureMethod") || !kids[2].Is(NSDSig, "Reference") {
		return ref, "", fmt.Errorf("%w: SignedInfo must hold CanonicalizationMethod, SignatureMethod and exactly one Reference", ErrMalformedSignature)
	}
	sigAlg, _ := kids[1].AttrValue("", "Algorithm")
	if len(kids[1].ChildElements()) > 0 {
		return ref, "", fmt.Errorf("%w: SignatureMethod parameters", ErrUnsupportedAlgorithm)
	}
	r := kids[2]
	uri, ok := r.AttrValue("", "URI")
	if !ok {
		return ref, "", fmt.Errorf("%w: Reference without URI", ErrReference)
	}
	ref.uri = uri
	rk := r.ChildElements()
	if len(rk) != 3 || !rk[0].Is(NSDSig, "Transforms") || !rk[1].Is(NSDSig, "DigestMethod") || !rk[2].Is(NSDSig, "DigestValue") {
		return ref, "", fmt.Errorf("%w: Reference must hold Transforms, DigestMethod and DigestValue", ErrMalformedSignature)
	}
	tr := rk[0].ChildElements()
	if len(tr) != 2 {
		return ref, "", fmt.Errorf("%w: expected exactly the enveloped-signature and exclusive c14n transforms", ErrUnsupportedAlgorithm)
	}
	for _, t := range tr {
		if !t.Is(NSDSig, "Transform") {
			return ref, "", fmt.Errorf("%w: <%s> in Transforms", ErrMalformedSignature, t.qname())
		}
	}
	if a, _ := tr[0].AttrValue("", "Algorithm"); a != AlgEnveloped || len(tr[0].ChildElements()) != 0 {
		return ref, "", fmt.Errorf("%w: first transform %q, want enveloped-signature", ErrUnsupportedAlgorithm, a)
	}
	prefixes, alg, err := canonicalizationOf(tr[1])
	if err != nil {
		return ref, "", err
	}
	if alg != AlgExcC14N {
		return ref, "", fmt.Errorf("%w: second transform %q, want exclusive c14n", ErrUnsupportedAlgorithm, alg)
	}
	ref.prefixes = prefixes
	ref.digestAlg, _ = rk[1].AttrValue("", "Algorithm")
	d, err := decodeB64(rk[2].Text())
	if err != nil {
		return ref, "", fmt.Errorf("%w: DigestValue: %v", ErrMalformedSignature, err)
	}
	ref.digest = d
	return ref, sigAlg, nil
}

// canonicalizationOf reads the Algorithm of a CanonicalizationMethod or
// Transform and its InclusiveNamespaces PrefixList, if any.
func canonicalizationOf(m *Element) ([]string, string, error) {
	if m.Is(NSDSig, "SignedInfo") {
		cm := m.Find(NSDSig, "CanonicalizationMethod")
		if len(cm) != 1 {
			return nil, "", fmt.Errorf("%w: SignedInfo needs one CanonicalizationMethod", ErrMalformedSignature)
		}
		m = cm[0]
	}
	alg, _ := m.AttrValue("", "Algorithm")
	var prefixes []string
	for _, k := range m.ChildElements() {
		if !k.Is(NSExcC, "InclusiveNamespaces") || prefixes != nil {
			return nil, "", fmt.Errorf("%w: unexpected <%s> in %s", ErrUnsupportedAlgorithm, k.qname(), m.Local)
		}
		pl, _ := k.AttrValue("", "PrefixList")
		prefixes = strings.Fields(pl)
		if len(prefixes) > 64 {
			return nil, "", fmt.Errorf("%w: InclusiveNamespaces PrefixList of %d prefixes", ErrUnsupportedAlgorithm, len(prefixes))
		}
		if prefixes == nil {
			prefixes = []string{}
		}
	}
	return prefixes, alg, nil
}

// keyInfoCerts returns the DER bytes of the X509Certificate elements of a
// KeyInfo (anything else in KeyInfo is ignored: keys are never taken from
// the document).
func keyInfoCerts(ki *Element) [][]byte {
	var out [][]byte
	for _, xd := range ki.Find(NSDSig, "X509Data") {
		for _, c := range xd.Find(NSDSig, "X509Certificate") {
			if der, err := decodeB64(c.Text()); err == nil {
				out = append(out, der)
			} else {
				out = append(out, []byte("invalid"))
			}
		}
	}
	return out
}

// countIDs counts the attributes in the document that could be taken for an
// XML ID with the value id (ID, Id, id, AssertionID, ResponseID, wsu:Id).
func countIDs(root *Element, id string) int {
	n := 0
	root.Walk(func(e *Element) bool {
		for _, a := range e.Attrs {
			switch a.Local {
			case "ID", "Id", "id", "AssertionID", "ResponseID":
				if a.Value == id {
					n++
				}
			}
		}
		return true
	})
	return n
}

// decodeB64 decodes base64 that may be wrapped across lines.
func decodeB64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	if s == "" {
		return nil, errors.New("empty value")
	}
	return base64.StdEncoding.DecodeString(s)
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
