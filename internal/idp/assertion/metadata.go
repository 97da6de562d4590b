package assertion

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"time"

	"github.com/beevik/etree"
)

// IdPMetadataParams describe the SAML 2.0 IdP metadata of one issuer.
type IdPMetadataParams struct {
	// EntityID is the issuer (issuerUri).
	EntityID string
	// SSOURL serves both the HTTP-Redirect and HTTP-POST bindings.
	SSOURL string
	// SLOURL is the single-logout endpoint (both bindings); empty omits it.
	SLOURL string
	// Certs are the published signing certificates, current first, then
	// next (so relying parties trust the next key before rollover).
	Certs []*x509.Certificate
	// WantAuthnRequestsSigned mirrors isSignedAuthenticationRequestRequired.
	WantAuthnRequestsSigned bool
	// ValidFor sets validUntil = now + ValidFor; zero omits it.
	ValidFor time.Duration
}

// BuildIdPMetadata returns SAML 2.0 metadata (SAML metadata §2.3.2,
// §2.4.3) with an IDPSSODescriptor: signing KeyDescriptors, the persistent
// NameID format, SingleLogoutService and SingleSignOnService for both
// bindings. With a non-nil signer the EntityDescriptor is signed (the
// signature first, metadata §3.1).
func BuildIdPMetadata(o Options, s *Signer, p IdPMetadataParams) ([]byte, error) {
	if len(p.Certs) == 0 {
		return nil, ErrNoCertificates
	}
	if p.EntityID == "" || p.SSOURL == "" {
		return nil, errors.New("assertion: IdP metadata needs an entity id and an SSO URL")
	}
	ed, err := entityDescriptor(o, p.EntityID, p.ValidFor)
	if err != nil {
		return nil, err
	}
	idp := ed.CreateElement("md:IDPSSODescriptor")
	idp.CreateAttr("WantAuthnRequestsSigned", boolString(p.WantAuthnRequestsSigned))
	idp.CreateAttr("protocolSupportEnumeration", NSSAMLP)
	for _, c := range p.Certs {
		addKeyDescriptor(idp, "md:", c)
	}
	// Schema order of SSODescriptorType then IDPSSODescriptorType.
	if p.SLOURL != "" {
		for _, b := range []string{BindingHTTPRedirect, BindingHTTPPost} {
			slo := idp.CreateElement("md:SingleLogoutService")
			slo.CreateAttr("Binding", b)
			slo.CreateAttr("Location", p.SLOURL)
		}
	}
	idp.CreateElement("md:NameIDFormat").SetText(NameIDFormatPersistent)
	for _, b := range []string{BindingHTTPRedirect, BindingHTTPPost} {
		sso := idp.CreateElement("md:SingleSignOnService")
		sso.CreateAttr("Binding", b)
		sso.CreateAttr("Location", p.SSOURL)
	}
	if s != nil {
		if err := s.signEnveloped(ed, "ID", 0, true); err != nil {
			return nil, err
		}
	}
	return writeElement(ed)
}

// FederationMetadataParams describe the WS-Federation metadata of one
// issuer (FederationMetadata/2007-06/FederationMetadata.xml).
type FederationMetadataParams struct {
	// EntityID is the issuer (issuerUri).
	EntityID string
	// PassiveURL is the WS-Fed passive requestor endpoint (passiveSignInUri).
	PassiveURL string
	// ActiveURL, if set, is advertised as SecurityTokenServiceEndpoint.
	ActiveURL string
	// Certs are the published signing certificates, current first.
	Certs []*x509.Certificate
	// ValidFor sets validUntil = now + ValidFor; zero omits it.
	ValidFor time.Duration
}

// BuildFederationMetadata returns WS-Federation 1.2 metadata (WS-Federation
// 1.2 §3.1, §3.2.3 SecurityTokenServiceType): an EntityDescriptor with a
// RoleDescriptor xsi:type="fed:SecurityTokenServiceType" holding the signing
// keys, the offered token type and the PassiveRequestorEndpoint, signed with
// an enveloped signature as the first child, as AD FS publishes it.
func BuildFederationMetadata(o Options, s *Signer, p FederationMetadataParams) ([]byte, error) {
	if len(p.Certs) == 0 {
		return nil, ErrNoCertificates
	}
	if s == nil || p.EntityID == "" || p.PassiveURL == "" {
		return nil, errors.New("assertion: federation metadata needs a signer, an entity id and a passive endpoint")
	}
	ed, err := entityDescriptor(o, p.EntityID, p.ValidFor)
	if err != nil {
		return nil, err
	}
	rd := ed.CreateElement("md:RoleDescriptor")
	rd.CreateAttr("xmlns:fed", NSFed)
	rd.CreateAttr("xmlns:xsi", NSXSI)
	rd.CreateAttr("protocolSupportEnumeration", NSFed)
	rd.CreateAttr("xsi:type", "fed:SecurityTokenServiceType")
	for _, c := range p.Certs {
		addKeyDescriptor(rd, "md:", c)
	}
	tt := rd.CreateElement("fed:TokenTypesOffered").CreateElement("fed:TokenType")
	tt.CreateAttr("Uri", TokenTypeSAML11)
	if p.ActiveURL != "" {
		addEPR(rd.CreateElement("fed:SecurityTokenServiceEndpoint"), p.ActiveURL)
	}
	addEPR(rd.CreateElement("fed:PassiveRequestorEndpoint"), p.PassiveURL)
	// Digest a copy: goxmldsig's in-place exclusive c14n would drop
	// xmlns:fed from RoleDescriptor (only visibly used prefixes survive), and
	// the xsi:type QName needs it.
	if err := s.signEnveloped(ed, "ID", 0, true); err != nil {
		return nil, err
	}
	return writeElement(ed)
}

func entityDescriptor(o Options, entityID string, validFor time.Duration) (*etree.Element, error) {
	if err := checkXMLText("entity id", entityID); err != nil {
		return nil, err
	}
	id, err := o.newID()
	if err != nil {
		return nil, err
	}
	ed := etree.NewElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", NSMD)
	ed.CreateAttr("ID", id)
	ed.CreateAttr("entityID", entityID)
	if validFor > 0 {
		ed.CreateAttr("validUntil", xsTime(o.now().Add(validFor)))
	}
	return ed, nil
}

func addKeyDescriptor(parent *etree.Element, p string, c *x509.Certificate) {
	kd := parent.CreateElement(p + "KeyDescriptor")
	kd.CreateAttr("use", "signing")
	ki := kd.CreateElement("ds:KeyInfo")
	ki.CreateAttr("xmlns:ds", NSDSig)
	ki.CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").SetText(base64.StdEncoding.EncodeToString(c.Raw))
}

func addEPR(parent *etree.Element, address string) {
	epr := parent.CreateElement("wsa:EndpointReference")
	epr.CreateAttr("xmlns:wsa", NSAddr)
	epr.CreateElement("wsa:Address").SetText(address)
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
