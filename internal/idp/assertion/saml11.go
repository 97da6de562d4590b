package assertion

import (
	"errors"
	"time"
)

// Claims is what a token says about the signed-in user.
type Claims struct {
	// Issuer is the federated domain's issuerUri, exactly (else Entra
	// answers AADSTS50107; M365-CONTRACT.md §3, §4).
	Issuer string
	// ImmutableID is the user's immutable id (Entra onPremisesImmutableId).
	ImmutableID string
	// UPN is the user principal name with the organisation's suffix.
	UPN string
	// MFA is true only when a second factor was verified in this sign-in.
	// Never set it otherwise: Entra then skips its own MFA
	// (federatedIdpMfaBehavior acceptIfMfaDoneByFederatedIdp).
	MFA bool
	// InsideCorporateNetwork, when not nil, adds the
	// insidecorporatenetwork claim (M365-CONTRACT.md §4).
	InsideCorporateNetwork *bool
	// AuthnInstant is when the user authenticated; zero means now.
	AuthnInstant time.Time
	// Lifetime is Conditions NotOnOrAfter - NotBefore; zero means one hour
	// (M365-CONTRACT.md §4).
	Lifetime time.Duration
	// Audience defaults to urn:federation:MicrosoftOnline.
	Audience string
}

func (c Claims) validate() error {
	switch {
	case c.Issuer == "":
		return errors.New("assertion: claims need an issuer")
	case c.ImmutableID == "":
		return errors.New("assertion: claims need an immutable id")
	case c.UPN == "":
		return errors.New("assertion: claims need a UPN")
	case c.Lifetime < 0:
		return errors.New("assertion: negative lifetime")
	}
	for _, f := range [][2]string{{"issuer", c.Issuer}, {"immutable id", c.ImmutableID}, {"UPN", c.UPN}, {"audience", c.Audience}} {
		if err := checkXMLText(f[0], f[1]); err != nil {
			return err
		}
	}
	return nil
}

func (c Claims) audience() string {
	if c.Audience == "" {
		return MicrosoftOnlineRealm
	}
	return c.Audience
}

func (c Claims) lifetime() time.Duration {
	if c.Lifetime == 0 {
		return time.Hour
	}
	return c.Lifetime
}

func (c Claims) authnInstant(now time.Time) time.Time {
	if c.AuthnInstant.IsZero() {
		return now
	}
	return c.AuthnInstant.UTC()
}

// Claim namespaces of the SAML 1.1 attributes Entra reads
// (M365-CONTRACT.md §4; AD FS "Microsoft Office 365 Identity Platform"
// relying-party rules).
const (
	claimsNS        = "http://schemas.xmlsoap.org/claims"
	liveIDNS        = "http://schemas.microsoft.com/LiveID/Federation/2008/05"
	msClaimsNS      = "http://schemas.microsoft.com/claims"
	corpNetClaimsNS = "http://schemas.microsoft.com/ws/2012/01"
)

// BuildSAML11Assertion returns a signed SAML 1.1 assertion as XML bytes
// (no XML declaration).
func BuildSAML11Assertion(o Options, s *Signer, c Claims) ([]byte, error) {
	a, err := signedSAML11(o, s, c)
	if err != nil {
		return nil, err
	}
	return a.xml, nil
}

// BuildWSFedResponse returns the wresult of a WS-Federation sign-in response
// (MS-WSFED §3.1.5.1.2.2; M365-CONTRACT.md §4): a WS-Trust 2005
// RequestSecurityTokenResponse whose RequestedSecurityToken holds the signed
// SAML 1.1 assertion with no whitespace around it.
func BuildWSFedResponse(o Options, s *Signer, c Claims) ([]byte, error) {
	a, err := signedSAML11(o, s, c)
	if err != nil {
		return nil, err
	}
	w := xmlWriter{b: make([]byte, 0, len(a.xml)+1024)}
	w.start("t:RequestSecurityTokenResponse", "xmlns:t", NSTrust2005)
	writeRSTRBody(&w, "t", a, c.audience(), TokenTypeSAML11, RequestTypeIssue2005, KeyTypeNoProof2005)
	w.end("t:RequestSecurityTokenResponse")
	return w.b, nil
}

// writeRSTRBody writes the children of a RequestSecurityTokenResponse
// (WS-Trust 1.3 §4.4; the 2005 draft has the same ones): Lifetime,
// AppliesTo, RequestedSecurityToken, TokenType, RequestType, KeyType — the
// order AD FS uses and MSAL reads.
func writeRSTRBody(w *xmlWriter, p string, a *signedAssertion, audience, tokenType, requestType, keyType string) {
	w.start(p + ":Lifetime")
	w.leaf("wsu:Created", xsTime(a.notBefore), "xmlns:wsu", NSWSU)
	w.leaf("wsu:Expires", xsTime(a.notAfter), "xmlns:wsu", NSWSU)
	w.end(p + ":Lifetime")
	w.start("wsp:AppliesTo", "xmlns:wsp", NSPolicy)
	w.start("wsa:EndpointReference", "xmlns:wsa", NSAddr)
	w.leaf("wsa:Address", audience)
	w.end("wsa:EndpointReference")
	w.end("wsp:AppliesTo")
	w.start(p + ":RequestedSecurityToken")
	w.raw(a.xml)
	w.end(p + ":RequestedSecurityToken")
	w.leaf(p+":TokenType", tokenType)
	w.leaf(p+":RequestType", requestType)
	w.leaf(p+":KeyType", keyType)
}
