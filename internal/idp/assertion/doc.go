// Package assertion builds and signs the security tokens Portico issues to
// Microsoft Entra ID and parses the requests that ask for them. It is pure:
// no storage, no HTTP; the wsfed, saml and wstrust handler packages call it.
//
// Wire formats (M365-CONTRACT.md §4–6):
//
//   - WS-Federation passive sign-in (MS-WSFED, WS-Trust 2005): the wresult
//     RequestSecurityTokenResponse holding a signed SAML 1.1 assertion —
//     [BuildWSFedResponse].
//   - WS-Trust 1.3 usernamemixed (active clients): the SOAP 1.2 request
//     parser [ParseWSTrustRequest], the RequestSecurityTokenResponseCollection
//     [BuildWSTrustResponse], the SOAP fault [BuildSOAPFault] and the MEX
//     document [BuildMEX] in the shape MSAL parses.
//   - SAML 2.0 Web SSO (SAML core §2, bindings §3.4–3.5, profiles §4.1): the
//     Response with a signed assertion [BuildSAML2Response], the AuthnRequest
//     parsers for HTTP-Redirect [ParseAuthnRequestRedirect] and HTTP-POST
//     [ParseAuthnRequestPOST], and IdP metadata [BuildIdPMetadata].
//   - WS-Federation metadata [BuildFederationMetadata], signed as AD FS does.
//
// Signatures are XML-DSig enveloped signatures made with
// github.com/russellhaering/goxmldsig: exclusive c14n 1.0, RSA-SHA256,
// SHA-256 digest, the signing certificate in KeyInfo/X509Data. The key is a
// crypto.Signer, so an HSM or KMS key can sign. The SAML 1.1 assertion is
// written directly in canonical form (canon.go) because it is signed once per
// sign-in; everything else goes through etree and goxmldsig.
//
// Every builder takes [Options] with an injected clock and random source, so
// tests produce byte-identical output (golden files in testdata/).
package assertion

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"time"
)

// Microsoft Entra's fixed relying-party identifiers.
const (
	// MicrosoftOnlineRealm is Entra's wtrealm, SAML SP entity id and token
	// audience (M365-CONTRACT.md §4, §5).
	MicrosoftOnlineRealm = "urn:federation:MicrosoftOnline"
	// MicrosoftLoginACS is Entra's only assertion consumer service and
	// WS-Fed reply address (M365-CONTRACT.md §4, §5).
	MicrosoftLoginACS = "https://login.microsoftonline.com/login.srf"
)

// XML namespaces used on the wire.
const (
	// NSSAML11 is the SAML 1.1 assertion namespace (SAML 1.1 core §1.2).
	NSSAML11 = "urn:oasis:names:tc:SAML:1.0:assertion"
	// NSSAML2 is the SAML 2.0 assertion namespace (SAML core §1.2).
	NSSAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
	// NSSAMLP is the SAML 2.0 protocol namespace (SAML core §1.2).
	NSSAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
	// NSMD is the SAML 2.0 metadata namespace (SAML metadata §1.3).
	NSMD = "urn:oasis:names:tc:SAML:2.0:metadata"
	// NSDSig is the XML-Signature namespace (xmldsig-core §3).
	NSDSig = "http://www.w3.org/2000/09/xmldsig#"
	// NSTrust2005 is the WS-Trust February 2005 namespace WS-Fed's wresult uses.
	NSTrust2005 = "http://schemas.xmlsoap.org/ws/2005/02/trust"
	// NSTrust13 is the WS-Trust 1.3 namespace.
	NSTrust13 = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
	// NSPolicy is WS-Policy 1.2 (AppliesTo, MEX policies).
	NSPolicy = "http://schemas.xmlsoap.org/ws/2004/09/policy"
	// NSAddr is WS-Addressing 1.0.
	NSAddr = "http://www.w3.org/2005/08/addressing"
	// NSWSU is the WS-Security utility namespace (Timestamp, Created, Expires).
	NSWSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	// NSWSSE is the WS-Security 1.0 extension namespace (Security, UsernameToken).
	NSWSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	// NSSOAP12 is the SOAP 1.2 envelope namespace.
	NSSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
	// NSFed is the WS-Federation 1.2 namespace (metadata).
	NSFed = "http://docs.oasis-open.org/wsfed/federation/200706"
	// NSXSI is XML Schema instance (xsi:type).
	NSXSI = "http://www.w3.org/2001/XMLSchema-instance"
)

// SAML 1.1 identifiers (SAML 1.1 core §7).
const (
	// NameIDFormatUnspecified11 is the NameIdentifier format Entra expects
	// for the ImmutableID in WS-Fed tokens (M365-CONTRACT.md §4).
	NameIDFormatUnspecified11 = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
	// ConfirmationBearer11 is the bearer confirmation method.
	ConfirmationBearer11 = "urn:oasis:names:tc:SAML:1.0:cm:bearer"
	// AuthnMethodPassword11 is the password authentication method.
	AuthnMethodPassword11 = "urn:oasis:names:tc:SAML:1.0:am:password"
)

// SAML 2.0 identifiers (SAML core §8, authn-context §3.4, bindings §3).
const (
	// NameIDFormatPersistent is the NameID format Entra requests (§5).
	NameIDFormatPersistent = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
	// ConfirmationBearer is the bearer subject-confirmation method.
	ConfirmationBearer = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	// ClassPasswordProtected is the password-over-TLS authn context class.
	ClassPasswordProtected = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
	// StatusSuccess is the top-level success status code.
	StatusSuccess = "urn:oasis:names:tc:SAML:2.0:status:Success"
	// BindingHTTPPost is the HTTP-POST binding.
	BindingHTTPPost = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
	// BindingHTTPRedirect is the HTTP-Redirect binding.
	BindingHTTPRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
)

// MultipleAuthn is Microsoft's "MFA was done" authentication method and
// authn context class (how-to-mfa-expected-inbound-assertions).
const MultipleAuthn = "http://schemas.microsoft.com/claims/multipleauthn"

// WS-Trust token, request and key types and actions.
const (
	// TokenTypeSAML11 is the SAML 1.1 token type (WSS SAML token profile).
	TokenTypeSAML11 = "urn:oasis:names:tc:SAML:1.0:assertion"
	// RequestTypeIssue2005 is the WS-Trust 2005 Issue request type.
	RequestTypeIssue2005 = "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue"
	// KeyTypeNoProof2005 is the bearer key type of WS-Trust 2005 (identity
	// namespace), as WS-Fed responses say it.
	KeyTypeNoProof2005 = "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey"
	// RequestTypeIssue13 is the WS-Trust 1.3 Issue request type (§4.1).
	RequestTypeIssue13 = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue"
	// KeyTypeBearer13 is the WS-Trust 1.3 bearer key type (no proof key).
	KeyTypeBearer13 = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer"
	// ActionIssue13 is the WS-Addressing action of an Issue request.
	ActionIssue13 = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue"
	// ActionIssueFinal13 is the action of the final Issue response (§4.3).
	ActionIssueFinal13 = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RSTRC/IssueFinal"
)

// timeFormat is xsd:dateTime in UTC with milliseconds, as AD FS writes it
// (SAML core 2.0 §1.3.3: UTC, no time-zone offset).
const timeFormat = "2006-01-02T15:04:05.000Z"

func xsTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// Options carry the injected clock and randomness every builder uses.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand supplies identifiers (AssertionID, Response ID); nil means
	// crypto/rand. Signatures are RSASSA-PKCS1-v1_5 and need no randomness.
	Rand io.Reader
}

func (o Options) now() time.Time {
	if o.Now == nil {
		return time.Now().UTC()
	}
	return o.Now().UTC()
}

func (o Options) rand() io.Reader {
	if o.Rand == nil {
		return rand.Reader
	}
	return o.Rand
}

// newID returns "_" + 32 hex digits: an xsd:ID (NCName; SAML core §1.3.4
// wants 128 bits of randomness or more) that starts with "_" as Entra
// expects of AssertionID (M365-CONTRACT.md §4).
func (o Options) newID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(o.rand(), b[:]); err != nil {
		return "", fmt.Errorf("assertion: reading randomness for an id: %w", err)
	}
	return "_" + hex.EncodeToString(b[:]), nil
}
