package assertion

import (
	"errors"
	"fmt"
	"time"

	"github.com/beevik/etree"
)

// SAML2ResponseParams are the request-specific parts of a SAML 2.0 Response
// (M365-CONTRACT.md §5).
type SAML2ResponseParams struct {
	// InResponseTo is the AuthnRequest ID; empty for IdP-initiated.
	InResponseTo string
	// ACSURL is the assertion consumer service (Destination and Recipient);
	// empty means https://login.microsoftonline.com/login.srf.
	ACSURL string
	// SignResponse also signs the Response element (the assertion is always
	// signed); Entra accepts either (how-to-connect-fed-saml-idp).
	SignResponse bool
	// SubjectConfirmationLifetime is NotOnOrAfter of SubjectConfirmationData
	// minus now; zero means 5 minutes (M365-CONTRACT.md §5).
	SubjectConfirmationLifetime time.Duration
}

// BuildSAML2Response returns a signed SAML 2.0 Response for the HTTP-POST
// binding (SAML core §3.2.2, §2.3.3; profiles §4.1.4.2): Issuer, Status
// Success and one assertion with a persistent NameID = ImmutableID, bearer
// SubjectConfirmationData (InResponseTo, Recipient, NotOnOrAfter), audience
// urn:federation:MicrosoftOnline, one IDPEmail attribute = UPN, and an
// AuthnStatement whose AuthnContextClassRef is PasswordProtectedTransport,
// or multipleauthn when a second factor was used (Entra reads MFA only from
// there, how-to-mfa-expected-inbound-assertions).
func BuildSAML2Response(o Options, s *Signer, c Claims, p SAML2ResponseParams) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if len(c.ImmutableID) > 64 {
		// how-to-connect-fed-saml-idp: the NameID value is at most 64 characters.
		return nil, fmt.Errorf("assertion: immutable id of %d characters, SAML NameID allows 64", len(c.ImmutableID))
	}
	for _, f := range [][2]string{{"InResponseTo", p.InResponseTo}, {"ACS URL", p.ACSURL}} {
		if err := checkXMLText(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	acs := p.ACSURL
	if acs == "" {
		acs = MicrosoftLoginACS
	}
	scLife := p.SubjectConfirmationLifetime
	if scLife == 0 {
		scLife = 5 * time.Minute
	}
	respID, err := o.newID()
	if err != nil {
		return nil, err
	}
	assertionID, err := o.newID()
	if err != nil {
		return nil, err
	}
	now := o.now()
	nowS := xsTime(now)

	a := etree.NewElement("saml:Assertion")
	a.CreateAttr("xmlns:saml", NSSAML2)
	a.CreateAttr("ID", assertionID)
	a.CreateAttr("IssueInstant", nowS)
	a.CreateAttr("Version", "2.0")
	a.CreateElement("saml:Issuer").SetText(c.Issuer)

	subj := a.CreateElement("saml:Subject")
	nid := subj.CreateElement("saml:NameID")
	nid.CreateAttr("Format", NameIDFormatPersistent)
	nid.SetText(c.ImmutableID)
	sc := subj.CreateElement("saml:SubjectConfirmation")
	sc.CreateAttr("Method", ConfirmationBearer)
	scd := sc.CreateElement("saml:SubjectConfirmationData")
	if p.InResponseTo != "" {
		scd.CreateAttr("InResponseTo", p.InResponseTo)
	}
	scd.CreateAttr("NotOnOrAfter", xsTime(now.Add(scLife)))
	scd.CreateAttr("Recipient", acs)

	cond := a.CreateElement("saml:Conditions")
	cond.CreateAttr("NotBefore", nowS)
	cond.CreateAttr("NotOnOrAfter", xsTime(now.Add(c.lifetime())))
	cond.CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText(c.audience())

	attr := a.CreateElement("saml:AttributeStatement").CreateElement("saml:Attribute")
	attr.CreateAttr("Name", "IDPEmail")
	attr.CreateElement("saml:AttributeValue").SetText(c.UPN)

	as := a.CreateElement("saml:AuthnStatement")
	as.CreateAttr("AuthnInstant", xsTime(c.authnInstant(now)))
	as.CreateAttr("SessionIndex", assertionID)
	class := ClassPasswordProtected
	if c.MFA {
		class = MultipleAuthn
	}
	as.CreateElement("saml:AuthnContext").CreateElement("saml:AuthnContextClassRef").SetText(class)

	// SAML core §2.3.3: ds:Signature follows Issuer.
	if err := s.signEnveloped(a, "ID", 1, false); err != nil {
		return nil, err
	}

	r := etree.NewElement("samlp:Response")
	r.CreateAttr("xmlns:samlp", NSSAMLP)
	r.CreateAttr("Destination", acs)
	r.CreateAttr("ID", respID)
	if p.InResponseTo != "" {
		r.CreateAttr("InResponseTo", p.InResponseTo)
	}
	r.CreateAttr("IssueInstant", nowS)
	r.CreateAttr("Version", "2.0")
	iss := r.CreateElement("saml:Issuer")
	iss.CreateAttr("xmlns:saml", NSSAML2)
	iss.SetText(c.Issuer)
	r.CreateElement("samlp:Status").CreateElement("samlp:StatusCode").CreateAttr("Value", StatusSuccess)
	r.AddChild(a)
	if p.SignResponse {
		// SAML core §3.2.2 (StatusResponseType): ds:Signature follows Issuer.
		// Digest a copy so the in-place canonicalisation cannot touch the
		// already-signed assertion.
		if err := s.signEnveloped(r, "ID", 1, true); err != nil {
			return nil, err
		}
	}
	return writeElement(r)
}

// ErrNoCertificates is returned by metadata builders given no certificate.
var ErrNoCertificates = errors.New("assertion: metadata needs at least one signing certificate")
