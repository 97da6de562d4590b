package assertion

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"
	"unicode/utf8"
)

// The SAML 1.1 assertion is Portico's hot path: one per WS-Fed or WS-Trust
// sign-in. Building it as an etree tree and letting goxmldsig canonicalise
// it cost about 12% of a response on top of the RSA signature (profile in
// bench_test.go). Instead it is written here directly in its exclusive-c14n
// form (W3C xml-exc-c14n §3, Canonical XML 1.0 §2.3): namespace declarations
// first, attributes sorted, no self-closing tags, c14n escaping. So the bytes
// written are already the canonical bytes: they are hashed once for the
// Reference digest, and the SignedInfo is likewise written in canonical form
// and signed. reference_test.go builds the same assertion with etree and
// goxmldsig and checks the two are byte-identical; xmlsec1 verifies both.

// xmlWriter appends XML to b. Callers pass attributes as name/value pairs in
// canonical order (namespace declarations first, then attributes sorted by
// namespace URI and local name).
type xmlWriter struct{ b []byte }

func (w *xmlWriter) start(name string, attrs ...string) {
	w.b = append(w.b, '<')
	w.b = append(w.b, name...)
	for i := 0; i+1 < len(attrs); i += 2 {
		w.b = append(w.b, ' ')
		w.b = append(w.b, attrs[i]...)
		w.b = append(w.b, '=', '"')
		w.b = appendAttrEscaped(w.b, attrs[i+1])
		w.b = append(w.b, '"')
	}
	w.b = append(w.b, '>')
}

func (w *xmlWriter) end(name string) {
	w.b = append(w.b, '<', '/')
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

func (w *xmlWriter) text(s string) { w.b = appendTextEscaped(w.b, s) }

func (w *xmlWriter) raw(b []byte) { w.b = append(w.b, b...) }

// leaf writes <name attrs>text</name>.
func (w *xmlWriter) leaf(name, text string, attrs ...string) {
	w.start(name, attrs...)
	w.text(text)
	w.end(name)
}

// empty writes <name attrs/> (not canonical; used only outside signed
// content, in the ds:Signature element as goxmldsig/etree write it).
func (w *xmlWriter) empty(name string, attrs ...string) {
	w.start(name, attrs...)
	w.b[len(w.b)-1] = '/'
	w.b = append(w.b, '>')
}

// appendTextEscaped escapes text as Canonical XML 1.0 §2.3 does.
func appendTextEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '\r':
			b = append(b, "&#xD;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendAttrEscaped escapes an attribute value as Canonical XML 1.0 §2.3 does.
func appendAttrEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '"':
			b = append(b, "&quot;"...)
		case '\t':
			b = append(b, "&#x9;"...)
		case '\n':
			b = append(b, "&#xA;"...)
		case '\r':
			b = append(b, "&#xD;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// checkXMLText rejects strings that cannot appear in XML 1.0 (XML §2.2
// Char): invalid UTF-8, control characters other than tab, LF and CR,
// surrogates and U+FFFE/U+FFFF.
func checkXMLText(field, s string) error {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return fmt.Errorf("assertion: %s is not valid UTF-8", field)
			}
		}
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0xD800 && r <= 0xDFFF) || r == 0xFFFE || r == 0xFFFF {
			return fmt.Errorf("assertion: %s contains a character XML cannot carry (%U)", field, r)
		}
	}
	return nil
}

// Algorithm identifiers of XML-DSig (xmldsig-core §6) and RFC 6931; the
// signature and digest ones are with the verification rule
// (authnrequest.go).
const (
	algExcC14N   = "http://www.w3.org/2001/10/xml-exc-c14n#"
	algEnveloped = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
)

// writeSignedInfo writes ds:SignedInfo. With declareNS it carries its own
// xmlns:ds, which makes the bytes its exclusive canonical form (what is
// signed); without, it is the form placed inside ds:Signature, which
// declares the prefix. Empty elements are written in canonical
// <a></a> form when canonical, self-closing otherwise (as etree writes them).
func writeSignedInfo(w *xmlWriter, id string, digest []byte, canonical bool) {
	leafEmpty := func(name, alg string) {
		if canonical {
			w.start(name, "Algorithm", alg)
			w.end(name)
		} else {
			w.empty(name, "Algorithm", alg)
		}
	}
	if canonical {
		w.start("ds:SignedInfo", "xmlns:ds", NSDSig)
	} else {
		w.start("ds:SignedInfo")
	}
	leafEmpty("ds:CanonicalizationMethod", algExcC14N)
	leafEmpty("ds:SignatureMethod", AlgRSASHA256)
	w.start("ds:Reference", "URI", "#"+id)
	w.start("ds:Transforms")
	leafEmpty("ds:Transform", algEnveloped)
	leafEmpty("ds:Transform", algExcC14N)
	w.end("ds:Transforms")
	leafEmpty("ds:DigestMethod", AlgSHA256)
	w.leaf("ds:DigestValue", base64.StdEncoding.EncodeToString(digest))
	w.end("ds:Reference")
	w.end("ds:SignedInfo")
}

// signCanonical signs canonical element bytes c (the element without its
// signature) whose id is id, and returns the ds:Signature element.
func (s *Signer) signCanonical(c []byte, id string) ([]byte, error) {
	digest := sha256.Sum256(c)
	si := xmlWriter{b: make([]byte, 0, 1024)}
	writeSignedInfo(&si, id, digest[:], true)
	siDigest := sha256.Sum256(si.b)
	sig, err := s.key.Sign(Options{}.rand(), siDigest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("assertion: RSA signature: %w", err)
	}
	w := xmlWriter{b: make([]byte, 0, 2048+len(s.chain[0])*4/3)}
	w.start("ds:Signature", "xmlns:ds", NSDSig)
	writeSignedInfo(&w, id, digest[:], false)
	w.leaf("ds:SignatureValue", base64.StdEncoding.EncodeToString(sig))
	w.start("ds:KeyInfo")
	w.start("ds:X509Data")
	for _, der := range s.chain {
		w.leaf("ds:X509Certificate", base64.StdEncoding.EncodeToString(der))
	}
	w.end("ds:X509Data")
	w.end("ds:KeyInfo")
	w.end("ds:Signature")
	return w.b, nil
}

// signedAssertion is a signed SAML 1.1 assertion and its validity window.
type signedAssertion struct {
	xml                 []byte
	id                  string
	notBefore, notAfter time.Time
}

// signedSAML11 writes the SAML 1.1 assertion of M365-CONTRACT.md §4 (SAML
// 1.1 core §2.3.2) in canonical form and signs it, the signature as the
// last child (SAML 1.1 assertion schema). The assertion declares the saml
// prefix itself: MSAL hands the assertion's raw bytes on (innerxml), so it
// must stand alone, and MSAL tells the SAML version by its xmlns:saml
// attribute (apps/internal/oauth/ops/wstrust/wstrust.go samlAssertion).
func signedSAML11(o Options, s *Signer, c Claims) (*signedAssertion, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	id, err := o.newID()
	if err != nil {
		return nil, err
	}
	now := o.now()
	notAfter := now.Add(c.lifetime())
	nowS := xsTime(now)

	w := xmlWriter{b: make([]byte, 0, 4096+len(s.chain[0])*4/3)}
	// Attributes in canonical order: xmlns first, then by local name.
	w.start("saml:Assertion", "xmlns:saml", NSSAML11, "AssertionID", id, "IssueInstant", nowS,
		"Issuer", c.Issuer, "MajorVersion", "1", "MinorVersion", "1")

	w.start("saml:Conditions", "NotBefore", nowS, "NotOnOrAfter", xsTime(notAfter))
	w.start("saml:AudienceRestrictionCondition")
	w.leaf("saml:Audience", c.audience())
	w.end("saml:AudienceRestrictionCondition")
	w.end("saml:Conditions")

	w.start("saml:AttributeStatement")
	writeSubject11(&w, c.ImmutableID)
	writeAttr11(&w, "UPN", claimsNS, c.UPN)
	writeAttr11(&w, "ImmutableID", liveIDNS, c.ImmutableID)
	if c.InsideCorporateNetwork != nil {
		writeAttr11(&w, "insidecorporatenetwork", corpNetClaimsNS, fmt.Sprint(*c.InsideCorporateNetwork))
	}
	method := AuthnMethodPassword11
	if c.MFA {
		// Said twice, as AD FS does and how-to-mfa-expected-inbound-assertions
		// allows: as an attribute and as the AuthenticationMethod.
		writeAttr11(&w, "authnmethodsreferences", msClaimsNS, MultipleAuthn)
		method = MultipleAuthn
	}
	w.end("saml:AttributeStatement")

	w.start("saml:AuthenticationStatement", "AuthenticationInstant", xsTime(c.authnInstant(now)), "AuthenticationMethod", method)
	writeSubject11(&w, c.ImmutableID)
	w.end("saml:AuthenticationStatement")
	w.end("saml:Assertion")

	// Everything written so far is the canonical form of the assertion minus
	// its enveloped signature: digest it, then splice the signature in
	// before the closing tag.
	sig, err := s.signCanonical(w.b, id)
	if err != nil {
		return nil, err
	}
	closeTag := len(w.b) - len("</saml:Assertion>")
	out := make([]byte, 0, len(w.b)+len(sig))
	out = append(out, w.b[:closeTag]...)
	out = append(out, sig...)
	out = append(out, w.b[closeTag:]...)
	return &signedAssertion{xml: out, id: id, notBefore: now, notAfter: notAfter}, nil
}

func writeSubject11(w *xmlWriter, immutableID string) {
	w.start("saml:Subject")
	w.leaf("saml:NameIdentifier", immutableID, "Format", NameIDFormatUnspecified11)
	w.start("saml:SubjectConfirmation")
	w.leaf("saml:ConfirmationMethod", ConfirmationBearer11)
	w.end("saml:SubjectConfirmation")
	w.end("saml:Subject")
}

func writeAttr11(w *xmlWriter, name, ns, value string) {
	w.start("saml:Attribute", "AttributeName", name, "AttributeNamespace", ns)
	w.leaf("saml:AttributeValue", value)
	w.end("saml:Attribute")
}
