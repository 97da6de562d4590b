package assertion

import (
	"bytes"
	"compress/flate"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/portico-idp/portico/internal/xmlsafe"
)

// Errors of the AuthnRequest parsers; test with errors.Is. All of them mean
// "do not sign the user in for this request".
var (
	// ErrInvalidRequest: malformed, unsafe XML, wrong issuer, destination,
	// ACS, version or age.
	ErrInvalidRequest = errors.New("assertion: invalid AuthnRequest")
	// ErrSignature: a signature is required and missing, or does not verify.
	ErrSignature = errors.New("assertion: AuthnRequest signature missing or invalid")
	// ErrReplay: the request id was seen before (from the Replay hook).
	ErrReplay = errors.New("assertion: AuthnRequest replayed")
)

// AuthnRequest is a checked SAML 2.0 AuthnRequest (SAML core §3.4.1).
type AuthnRequest struct {
	// ID is echoed as InResponseTo and is the replay-cache key.
	ID string
	// IssueInstant is when the SP made the request.
	IssueInstant time.Time
	// Issuer is the SP entity id (urn:federation:MicrosoftOnline).
	Issuer string
	// Destination is the URL the SP addressed, empty if omitted.
	Destination string
	// ACSURL is AssertionConsumerServiceURL, empty if omitted (Entra sends
	// AssertionConsumerServiceIndex="0" instead): then the response goes to
	// https://login.microsoftonline.com/login.srf.
	ACSURL string
	// ForceAuthn asks for a fresh authentication (Entra sends it for
	// prompt=login with promptLoginBehavior nativeSupport).
	ForceAuthn bool
	// IsPassive forbids interaction: answer NoPassive if no session exists.
	IsPassive bool
	// NameIDFormat is NameIDPolicy/@Format, empty if absent.
	NameIDFormat string
	// RequestedAuthnContext lists AuthnContextClassRef values; multipleauthn
	// among them means MFA is required.
	RequestedAuthnContext []string
	// RelayState is echoed back with the response (bindings §3.4.3, §3.5.3).
	RelayState string
	// Signed is true when a signature was present and verified.
	Signed bool
}

// RequiresMFA reports whether the request asks for multi-factor
// authentication.
func (r *AuthnRequest) RequiresMFA() bool {
	return slices.Contains(r.RequestedAuthnContext, MultipleAuthn)
}

// AuthnRequestPolicy says what an acceptable AuthnRequest looks like.
type AuthnRequestPolicy struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxAge bounds now - IssueInstant; zero means 5 minutes.
	MaxAge time.Duration
	// MaxSkew tolerates IssueInstant in the future; zero means 2 minutes.
	MaxSkew time.Duration
	// Issuer is the expected SP entity id; empty means
	// urn:federation:MicrosoftOnline.
	Issuer string
	// SSOURL is this endpoint's URL; a present Destination must equal it
	// (SAML bindings §3.4.5.2, §3.5.5.2). Empty skips the check.
	SSOURL string
	// AllowedACS lists acceptable AssertionConsumerServiceURL values; empty
	// means only https://login.microsoftonline.com/login.srf. A request
	// naming another ACS is refused: no response goes anywhere else.
	AllowedACS []string
	// RequireSigned refuses unsigned requests
	// (isSignedAuthenticationRequestRequired).
	RequireSigned bool
	// SPCerts verify signed requests (Entra's signing certificates).
	SPCerts []*x509.Certificate
	// AllowSHA1 accepts RSA-SHA1 signatures (and SHA-1 digests) on either
	// binding; they are refused otherwise (office365.allowSha1Requests).
	AllowSHA1 bool
	// Replay, when set, is called with the request id and the time after
	// which the id can be forgotten; it returns an error (wrap ErrReplay)
	// when the id was already used. Storage implements it.
	Replay func(id string, forgetAfter time.Time) error
	// Limits bound the decoded XML; zero fields take xmlsafe defaults.
	Limits xmlsafe.Limits
}

func (p AuthnRequestPolicy) limits() xmlsafe.Limits {
	l := p.Limits
	if l.MaxBytes == 0 {
		l.MaxBytes = 64 << 10
	}
	return l
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}

// XML-DSig and SAML algorithm identifiers of SHA-1 and of the SHA-2
// family (xmldsig-core §6, RFC 6931).
const (
	AlgRSASHA1   = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	AlgRSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	AlgRSASHA384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
	AlgRSASHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	AlgSHA1      = "http://www.w3.org/2000/09/xmldsig#sha1"
	AlgSHA256    = "http://www.w3.org/2001/04/xmlenc#sha256"
	AlgSHA384    = "http://www.w3.org/2001/04/xmldsig-more#sha384"
	AlgSHA512    = "http://www.w3.org/2001/04/xmlenc#sha512"
)

// signatureAlgorithms are the signature methods Portico verifies, on both
// bindings of signed AuthnRequests (the Redirect binding's SigAlg, bindings
// §3.4.4.1; the POST binding's SignatureMethod, xmldsig-core §4.4.2) and on
// every enveloped signature Verifier checks. One table, one rule: SHA-1
// only when the caller allows it (AuthnRequestPolicy.AllowSHA1,
// Verifier.AllowSHA1), which an application does only because Microsoft
// Entra still signs its AuthnRequests with RSA-SHA1 (docs/office365.md).
var signatureAlgorithms = map[string]struct {
	alg  x509.SignatureAlgorithm
	sha1 bool
}{
	AlgRSASHA256: {x509.SHA256WithRSA, false},
	AlgRSASHA384: {x509.SHA384WithRSA, false},
	AlgRSASHA512: {x509.SHA512WithRSA, false},
	AlgRSASHA1:   {x509.SHA1WithRSA, true},
}

// digestAlgorithms are the reference digests Verifier accepts; true marks
// SHA-1.
var digestAlgorithms = map[string]bool{AlgSHA256: false, AlgSHA384: false, AlgSHA512: false, AlgSHA1: true}

// ErrSHA1 is wrapped (with ErrSignature) when a signature uses SHA-1 and
// the caller does not allow it.
var ErrSHA1 = errors.New("SHA-1 signatures are refused")

// signatureAlgorithm maps a signature method to its x509 algorithm under
// the rule above.
func signatureAlgorithm(uri string, allowSHA1 bool) (x509.SignatureAlgorithm, error) {
	a, ok := signatureAlgorithms[uri]
	switch {
	case !ok:
		return 0, fmt.Errorf("signature algorithm %q is not accepted (RSA with SHA-256, SHA-384 or SHA-512)", uri)
	case a.sha1 && !allowSHA1:
		return 0, fmt.Errorf("%w: signature algorithm %s (allow it per application with office365.allowSha1Requests only for Microsoft Entra's signed requests)", ErrSHA1, uri)
	}
	return a.alg, nil
}

// digestAlgorithm checks a reference's digest method under the same rule.
func digestAlgorithm(uri string, allowSHA1 bool) error {
	sha1, ok := digestAlgorithms[uri]
	switch {
	case !ok:
		return fmt.Errorf("digest algorithm %q is not accepted (SHA-256, SHA-384 or SHA-512)", uri)
	case sha1 && !allowSHA1:
		return fmt.Errorf("%w: digest algorithm %s", ErrSHA1, uri)
	}
	return nil
}

// ParseAuthnRequestRedirect parses an HTTP-Redirect binding request (SAML
// bindings §3.4): rawQuery is the URL's query exactly as received
// (r.URL.RawQuery), because the signature covers the URL-encoded octets
// "SAMLRequest=...&RelayState=...&SigAlg=..." as sent (§3.4.4.1).
func ParseAuthnRequestRedirect(rawQuery string, p AuthnRequestPolicy) (*AuthnRequest, error) {
	raw := map[string]string{}
	for _, kv := range strings.Split(rawQuery, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "SAMLRequest", "RelayState", "SigAlg", "Signature", "SAMLEncoding":
			if _, dup := raw[k]; dup {
				return nil, invalid("parameter %s given twice", k)
			}
			raw[k] = v
		}
	}
	dec := func(k string) (string, error) {
		v, err := url.QueryUnescape(raw[k])
		if err != nil {
			return "", invalid("parameter %s: %v", k, err)
		}
		return v, nil
	}
	if raw["SAMLRequest"] == "" {
		return nil, invalid("no SAMLRequest")
	}
	if _, ok := raw["SAMLEncoding"]; ok {
		// Bindings §3.4.4: DEFLATE is the only encoding defined (and the default).
		if enc, err := dec("SAMLEncoding"); err != nil || enc != "urn:oasis:names:tc:SAML:2.0:bindings:URL-Encoding:DEFLATE" {
			return nil, invalid("unsupported SAMLEncoding %q", raw["SAMLEncoding"])
		}
	}
	samlRequest, err := dec("SAMLRequest")
	if err != nil {
		return nil, err
	}
	relayState, err := dec("RelayState")
	if err != nil {
		return nil, err
	}

	signed := false
	_, hasSig := raw["Signature"]
	if p.RequireSigned && !hasSig {
		return nil, fmt.Errorf("%w: unsigned request, a signature is required", ErrSignature)
	}
	// A signature we have no certificate for, on a request that need not be
	// signed, is treated as absent (it proves nothing either way); with a
	// certificate, a bad signature is refused.
	if hasSig && (p.RequireSigned || len(p.SPCerts) > 0) {
		sigAlg, err := dec("SigAlg")
		if err != nil {
			return nil, err
		}
		alg, err := signatureAlgorithm(sigAlg, p.AllowSHA1)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSignature, err)
		}
		sigText, err := dec("Signature")
		if err != nil {
			return nil, err
		}
		sig, err := base64.StdEncoding.DecodeString(sigText)
		if err != nil {
			return nil, fmt.Errorf("%w: signature is not base64: %v", ErrSignature, err)
		}
		// §3.4.4.1: the signed octets, from the parameters as received.
		signedOctets := "SAMLRequest=" + raw["SAMLRequest"]
		if _, ok := raw["RelayState"]; ok {
			signedOctets += "&RelayState=" + raw["RelayState"]
		}
		signedOctets += "&SigAlg=" + raw["SigAlg"]
		if err := verifyDetached(p.SPCerts, alg, []byte(signedOctets), sig, p.Now); err != nil {
			return nil, err
		}
		signed = true
	}

	deflated, err := base64.StdEncoding.DecodeString(samlRequest)
	if err != nil {
		return nil, invalid("SAMLRequest is not base64: %v", err)
	}
	lim := p.limits()
	// DEFLATE (RFC 1951) without zlib header, bindings §3.4.4.1. Read one
	// byte past the limit to detect decompression bombs.
	xmlBytes, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(deflated)), lim.MaxBytes+1))
	if err != nil {
		return nil, invalid("SAMLRequest does not inflate: %v", err)
	}
	if int64(len(xmlBytes)) > lim.MaxBytes {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, xmlsafe.ErrTooLarge)
	}
	doc, err := xmlsafe.ParseBytes(xmlBytes, lim)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	req, err := checkAuthnRequest(doc.Root(), p)
	if err != nil {
		return nil, err
	}
	req.RelayState = relayState
	req.Signed = signed
	return req, nil
}

func verifyDetached(certs []*x509.Certificate, alg x509.SignatureAlgorithm, signed, sig []byte, now func() time.Time) error {
	if len(certs) == 0 {
		return fmt.Errorf("%w: no service-provider certificate configured", ErrSignature)
	}
	t := Options{Now: now}.now()
	for _, c := range certs {
		if t.Before(c.NotBefore) || t.After(c.NotAfter) {
			continue
		}
		if c.CheckSignature(alg, signed, sig) == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: signature does not verify with any trusted certificate", ErrSignature)
}

// ParseAuthnRequestPOST parses an HTTP-POST binding request (SAML bindings
// §3.5): samlRequest is the base64 form field. A present enveloped
// signature is verified (and required when RequireSigned); after
// verification only the element the verifier returns is used.
func ParseAuthnRequestPOST(samlRequest, relayState string, p AuthnRequestPolicy) (*AuthnRequest, error) {
	lim := p.limits()
	if int64(len(samlRequest)) > lim.MaxBytes*4/3+4 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, xmlsafe.ErrTooLarge)
	}
	xmlBytes, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(samlRequest), ""))
	if err != nil {
		return nil, invalid("SAMLRequest is not base64: %v", err)
	}
	doc, err := xmlsafe.ParseBytes(xmlBytes, lim)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	root := doc.Root()
	hasSig := false
	for _, c := range root.ChildElements() {
		if c.Tag == "Signature" && c.NamespaceURI() == NSDSig {
			hasSig = true
		}
	}
	signed := false
	if p.RequireSigned && !hasSig {
		return nil, fmt.Errorf("%w: unsigned request, a signature is required", ErrSignature)
	}
	if hasSig && (p.RequireSigned || len(p.SPCerts) > 0) {
		if len(p.SPCerts) == 0 {
			return nil, fmt.Errorf("%w: no service-provider certificate configured", ErrSignature)
		}
		verified, err := Verifier{Certs: p.SPCerts, Now: p.Now, AllowSHA1: p.AllowSHA1}.VerifyEnveloped(root, "ID")
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSignature, err)
		}
		root = verified // from here on, only what was signed
		signed = true
	}
	req, err := checkAuthnRequest(root, p)
	if err != nil {
		return nil, err
	}
	req.RelayState = relayState
	req.Signed = signed
	return req, nil
}

// checkAuthnRequest reads and checks the AuthnRequest element (SAML core
// §3.2.1, §3.4.1; profiles §4.1.4.1).
func checkAuthnRequest(el *etree.Element, p AuthnRequestPolicy) (*AuthnRequest, error) {
	if el.Tag != "AuthnRequest" || el.NamespaceURI() != NSSAMLP {
		return nil, invalid("root is {%s}%s, want samlp:AuthnRequest", el.NamespaceURI(), el.Tag)
	}
	if v := el.SelectAttrValue("Version", ""); v != "2.0" {
		return nil, invalid("version %q", v)
	}
	r := &AuthnRequest{
		ID:          el.SelectAttrValue("ID", ""),
		Destination: el.SelectAttrValue("Destination", ""),
		ACSURL:      el.SelectAttrValue("AssertionConsumerServiceURL", ""),
		ForceAuthn:  el.SelectAttrValue("ForceAuthn", "") == "true" || el.SelectAttrValue("ForceAuthn", "") == "1",
		IsPassive:   el.SelectAttrValue("IsPassive", "") == "true" || el.SelectAttrValue("IsPassive", "") == "1",
	}
	if r.ID == "" || len(r.ID) > 256 {
		return nil, invalid("missing or oversized ID")
	}
	if err := checkXMLText("ID", r.ID); err != nil {
		return nil, invalid("%v", err)
	}
	ii, err := time.Parse(time.RFC3339Nano, el.SelectAttrValue("IssueInstant", ""))
	if err != nil {
		return nil, invalid("IssueInstant: %v", err)
	}
	r.IssueInstant = ii.UTC()
	now := Options{Now: p.Now}.now()
	maxAge, skew := p.MaxAge, p.MaxSkew
	if maxAge == 0 {
		maxAge = 5 * time.Minute
	}
	if skew == 0 {
		skew = 2 * time.Minute
	}
	if r.IssueInstant.After(now.Add(skew)) {
		return nil, invalid("IssueInstant %s is in the future", xsTime(r.IssueInstant))
	}
	if now.Sub(r.IssueInstant) > maxAge+skew {
		return nil, invalid("IssueInstant %s is too old", xsTime(r.IssueInstant))
	}

	iss, err := child(el, NSSAML2, "Issuer")
	if err != nil {
		return nil, invalid("issuer: %v", err)
	}
	r.Issuer = strings.TrimSpace(iss.Text())
	wantIssuer := p.Issuer
	if wantIssuer == "" {
		wantIssuer = MicrosoftOnlineRealm
	}
	if r.Issuer != wantIssuer {
		return nil, invalid("issuer %q, want %q", r.Issuer, wantIssuer)
	}
	if r.Destination != "" && p.SSOURL != "" && r.Destination != p.SSOURL {
		return nil, invalid("destination %q is not this endpoint", r.Destination)
	}
	allowed := p.AllowedACS
	if len(allowed) == 0 {
		allowed = []string{MicrosoftLoginACS}
	}
	if r.ACSURL != "" && !slices.Contains(allowed, r.ACSURL) {
		return nil, invalid("assertion consumer service %q is not allowed", r.ACSURL)
	}
	if pb := el.SelectAttrValue("ProtocolBinding", ""); pb != "" && pb != BindingHTTPPost {
		return nil, invalid("protocol binding %q, only HTTP-POST responses are sent", pb)
	}
	if nip, err := optChild(el, NSSAMLP, "NameIDPolicy"); err != nil {
		return nil, invalid("%v", err)
	} else if nip != nil {
		r.NameIDFormat = nip.SelectAttrValue("Format", "")
	}
	if rac, err := optChild(el, NSSAMLP, "RequestedAuthnContext"); err != nil {
		return nil, invalid("%v", err)
	} else if rac != nil {
		for _, c := range rac.ChildElements() {
			if c.Tag == "AuthnContextClassRef" && c.NamespaceURI() == NSSAML2 {
				r.RequestedAuthnContext = append(r.RequestedAuthnContext, strings.TrimSpace(c.Text()))
			}
		}
	}
	if p.Replay != nil {
		if err := p.Replay(r.ID, r.IssueInstant.Add(maxAge+skew)); err != nil {
			if errors.Is(err, ErrReplay) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: replay check: %w", ErrReplay, err)
		}
	}
	return r, nil
}
