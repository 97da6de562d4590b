package assertion

import (
	"fmt"

	"github.com/beevik/etree"
	"github.com/portico-idp/portico/internal/xmlsafe"
)

// VerifyWSFedResponse parses a wresult (RequestSecurityTokenResponse) or a
// WS-Trust 1.3 SOAP response, takes the one SAML 1.1 assertion at its
// expected place (anything else — two assertions, an assertion elsewhere —
// is refused), verifies its signature against v and returns the verified
// assertion as re-parsed from the signed bytes. It is Portico's own check of
// what it issues (tests, diagnostics), and shows how a relying party must
// read these tokens.
func VerifyWSFedResponse(data []byte, v Verifier) (*etree.Element, error) {
	doc, err := xmlsafe.ParseBytes(data, xmlsafe.Limits{MaxBytes: 1 << 20})
	if err != nil {
		return nil, fmt.Errorf("assertion: %w", err)
	}
	rstr := doc.Root()
	switch {
	case rstr.Tag == "RequestSecurityTokenResponse" && rstr.NamespaceURI() == NSTrust2005:
	case rstr.Tag == "Envelope" && rstr.NamespaceURI() == NSSOAP12:
		body, err := child(rstr, NSSOAP12, "Body")
		if err != nil {
			return nil, fmt.Errorf("assertion: %w", err)
		}
		coll, err := child(body, NSTrust13, "RequestSecurityTokenResponseCollection")
		if err != nil {
			return nil, fmt.Errorf("assertion: %w", err)
		}
		if rstr, err = child(coll, NSTrust13, "RequestSecurityTokenResponse"); err != nil {
			return nil, fmt.Errorf("assertion: %w", err)
		}
	default:
		return nil, fmt.Errorf("assertion: unexpected root {%s}%s", rstr.NamespaceURI(), rstr.Tag)
	}
	rst, err := child(rstr, rstr.NamespaceURI(), "RequestedSecurityToken")
	if err != nil {
		return nil, fmt.Errorf("assertion: %w", err)
	}
	kids := rst.ChildElements()
	if len(kids) != 1 || kids[0].Tag != "Assertion" || kids[0].NamespaceURI() != NSSAML11 {
		return nil, fmt.Errorf("assertion: RequestedSecurityToken must hold exactly one SAML 1.1 assertion")
	}
	return v.VerifyEnveloped(kids[0], "AssertionID")
}

// VerifySAML2Response verifies a SAML 2.0 Response: its own signature if it
// has one, and always the signature of its single assertion. It returns the
// verified assertion.
func VerifySAML2Response(data []byte, v Verifier) (*etree.Element, error) {
	doc, err := xmlsafe.ParseBytes(data, xmlsafe.Limits{MaxBytes: 1 << 20})
	if err != nil {
		return nil, fmt.Errorf("assertion: %w", err)
	}
	resp := doc.Root()
	if resp.Tag != "Response" || resp.NamespaceURI() != NSSAMLP {
		return nil, fmt.Errorf("assertion: unexpected root {%s}%s", resp.NamespaceURI(), resp.Tag)
	}
	if sig, _ := optChild(resp, NSDSig, "Signature"); sig != nil {
		if resp, err = v.VerifyEnveloped(resp, "ID"); err != nil {
			return nil, err
		}
	}
	a, err := child(resp, NSSAML2, "Assertion")
	if err != nil {
		return nil, fmt.Errorf("assertion: %w", err)
	}
	return v.VerifyEnveloped(a, "ID")
}
