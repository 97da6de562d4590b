package assertion

import (
	"bytes"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/portico-idp/portico/internal/signing"
)

const testIssuer = "https://portico.example/t/contoso/apps/office365/issuer/contoso.com"

func baseClaims() Claims {
	return Claims{Issuer: testIssuer, ImmutableID: "AAECAwQFBgcICQoLDA0ODw==", UPN: "john.smith@contoso.com"}
}

func mfaClaims() Claims {
	c := baseClaims()
	c.MFA = true
	c.InsideCorporateNetwork = boolp(false)
	c.AuthnInstant = fixedNow.Add(-30 * time.Second)
	return c
}

func trusted(c *signing.Certificate) Verifier {
	return Verifier{Certs: []*x509.Certificate{c.Cert}, Now: clock}
}

// find returns the one element at path (etree path syntax) or fails.
func find(t *testing.T, el *etree.Element, path string) *etree.Element {
	t.Helper()
	got := el.FindElements(path)
	if len(got) != 1 {
		t.Fatalf("%s: found %d elements, want 1", path, len(got))
	}
	return got[0]
}

func attr(t *testing.T, el *etree.Element, name, want string) {
	t.Helper()
	if got := el.SelectAttrValue(name, "<absent>"); got != want {
		t.Errorf("%s/@%s = %q, want %q", el.Tag, name, got, want)
	}
}

func text(t *testing.T, el *etree.Element, path, want string) {
	t.Helper()
	if got := find(t, el, path).Text(); got != want {
		t.Errorf("%s = %q, want %q", path, got, want)
	}
}

// TestWSFedResponseContract checks the wresult field by field against
// M365-CONTRACT.md §4.
func TestWSFedResponseContract(t *testing.T) {
	s, cert := testSigner(t)
	for _, tc := range []struct {
		name   string
		claims Claims
	}{{"password", baseClaims()}, {"mfa", mfaClaims()}} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := BuildWSFedResponse(fixedOpts(), s, tc.claims)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "wsfed_"+tc.name, out)

			if bytes.Contains(out, []byte("<t:RequestedSecurityToken> ")) || !bytes.Contains(out, []byte("<t:RequestedSecurityToken><saml:Assertion ")) ||
				!bytes.Contains(out, []byte("</saml:Assertion></t:RequestedSecurityToken>")) {
				t.Error("whitespace (or something else) between RequestedSecurityToken and the assertion")
			}
			root := parseDoc(t, out).Root()
			if root.Tag != "RequestSecurityTokenResponse" || root.NamespaceURI() != NSTrust2005 {
				t.Fatalf("root {%s}%s", root.NamespaceURI(), root.Tag)
			}
			text(t, root, "./t:Lifetime/wsu:Created", "2026-03-01T12:00:00.000Z")
			text(t, root, "./t:Lifetime/wsu:Expires", "2026-03-01T13:00:00.000Z")
			text(t, root, "./wsp:AppliesTo/wsa:EndpointReference/wsa:Address", MicrosoftOnlineRealm)
			text(t, root, "./t:TokenType", "urn:oasis:names:tc:SAML:1.0:assertion")
			text(t, root, "./t:RequestType", "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue")
			text(t, root, "./t:KeyType", "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey")

			// Check the verified assertion, not the raw one.
			a, err := VerifyWSFedResponse(out, trusted(cert))
			if err != nil {
				t.Fatalf("own verification: %v", err)
			}
			if a.NamespaceURI() != NSSAML11 {
				t.Fatalf("assertion namespace %q", a.NamespaceURI())
			}
			attr(t, a, "MajorVersion", "1")
			attr(t, a, "MinorVersion", "1")
			attr(t, a, "Issuer", testIssuer)
			attr(t, a, "IssueInstant", "2026-03-01T12:00:00.000Z")
			if id := a.SelectAttrValue("AssertionID", ""); !strings.HasPrefix(id, "_") || len(id) != 33 {
				t.Errorf("AssertionID %q", id)
			}
			cond := find(t, a, "./saml:Conditions")
			attr(t, cond, "NotBefore", "2026-03-01T12:00:00.000Z")
			attr(t, cond, "NotOnOrAfter", "2026-03-01T13:00:00.000Z")
			text(t, cond, "./saml:AudienceRestrictionCondition/saml:Audience", MicrosoftOnlineRealm)

			for _, st := range []string{"./saml:AttributeStatement", "./saml:AuthenticationStatement"} {
				ni := find(t, a, st+"/saml:Subject/saml:NameIdentifier")
				attr(t, ni, "Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")
				if ni.Text() != tc.claims.ImmutableID {
					t.Errorf("%s NameIdentifier %q", st, ni.Text())
				}
				text(t, a, st+"/saml:Subject/saml:SubjectConfirmation/saml:ConfirmationMethod", "urn:oasis:names:tc:SAML:1.0:cm:bearer")
			}
			attrs := map[string]string{}
			for _, at := range a.FindElements("./saml:AttributeStatement/saml:Attribute") {
				attrs[at.SelectAttrValue("AttributeNamespace", "")+"/"+at.SelectAttrValue("AttributeName", "")] = find(t, at, "./saml:AttributeValue").Text()
			}
			if attrs["http://schemas.xmlsoap.org/claims/UPN"] != tc.claims.UPN ||
				attrs["http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID"] != tc.claims.ImmutableID {
				t.Errorf("UPN/ImmutableID attributes: %v", attrs)
			}
			as := find(t, a, "./saml:AuthenticationStatement")
			amr, hasAMR := attrs["http://schemas.microsoft.com/claims/authnmethodsreferences"]
			corp, hasCorp := attrs["http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork"]
			if tc.claims.MFA {
				attr(t, as, "AuthenticationMethod", MultipleAuthn)
				attr(t, as, "AuthenticationInstant", "2026-03-01T11:59:30.000Z")
				if amr != MultipleAuthn || !hasCorp || corp != "false" || len(attrs) != 4 {
					t.Errorf("MFA attributes: %v", attrs)
				}
			} else {
				attr(t, as, "AuthenticationMethod", "urn:oasis:names:tc:SAML:1.0:am:password")
				if hasAMR || hasCorp || len(attrs) != 2 {
					t.Errorf("password-only token claims more: %v", attrs)
				}
				if bytes.Contains(out, []byte("multipleauthn")) {
					t.Error("multipleauthn appears in a password-only token")
				}
			}
			sig := find(t, parseDoc(t, out).Root(), ".//saml:Assertion/ds:Signature")
			if sig.Index() != len(sig.Parent().Child)-1 {
				t.Error("signature is not the last child of the assertion")
			}
			attr(t, find(t, sig, "./ds:SignedInfo/ds:CanonicalizationMethod"), "Algorithm", "http://www.w3.org/2001/10/xml-exc-c14n#")
			attr(t, find(t, sig, "./ds:SignedInfo/ds:SignatureMethod"), "Algorithm", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
			attr(t, find(t, sig, "./ds:SignedInfo/ds:Reference/ds:DigestMethod"), "Algorithm", "http://www.w3.org/2001/04/xmlenc#sha256")
			attr(t, find(t, sig, "./ds:SignedInfo/ds:Reference"), "URI", "#"+a.SelectAttrValue("AssertionID", ""))
			text(t, sig, "./ds:KeyInfo/ds:X509Data/ds:X509Certificate", cert.Base64())

			if ok, msg := xmlsecVerify(t, out, cert, idAttr11); !ok {
				t.Fatalf("xmlsec1 rejects the WS-Fed token:\n%s", msg)
			}
		})
	}
}

func TestClaimsValidation(t *testing.T) {
	s, _ := testSigner(t)
	for name, c := range map[string]Claims{
		"no issuer":       {ImmutableID: "x", UPN: "u@x"},
		"no immutable id": {Issuer: "i", UPN: "u@x"},
		"no upn":          {Issuer: "i", ImmutableID: "x"},
		"control char":    {Issuer: "i", ImmutableID: "x\x00", UPN: "u@x"},
		"bad utf8":        {Issuer: "i", ImmutableID: "x", UPN: "u\xff@x"},
	} {
		if _, err := BuildWSFedResponse(fixedOpts(), s, c); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := BuildSAML2Response(fixedOpts(), s, c, SAML2ResponseParams{}); err == nil {
			t.Errorf("%s: SAML2 accepted", name)
		}
	}
	long := baseClaims()
	long.ImmutableID = strings.Repeat("a", 65)
	if _, err := BuildSAML2Response(fixedOpts(), s, long, SAML2ResponseParams{}); err == nil {
		t.Error("SAML 2.0 NameID over 64 characters accepted")
	}
}

func TestNewSignerChecks(t *testing.T) {
	_, c := testSigner(t)
	_, other := otherSigner(t)
	if _, err := NewSigner(c.Signer, other.Chain()); err == nil {
		t.Error("signer accepted a certificate of another key")
	}
	if _, err := NewSigner(nil, c.Chain()); err == nil {
		t.Error("signer accepted a nil key")
	}
}

// tamper returns out with the first occurrence of old replaced by new.
func tamper(t *testing.T, out []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(out, []byte(old)) {
		t.Fatalf("tamper: %q not in document", old)
	}
	return bytes.Replace(out, []byte(old), []byte(new), 1)
}

// resignedWith builds the same token with another key: a structurally
// perfect token that only the certificate check can refuse.
func resignedWith(t *testing.T, s *Signer) []byte {
	t.Helper()
	out, err := BuildWSFedResponse(fixedOpts(), s, baseClaims())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// wrapped builds a signature-wrapping attack: the genuine signed assertion
// is kept (so a naive "is there a valid signature somewhere" check passes)
// and an attacker assertion with another subject is put where the relying
// party reads the token. Two shapes: the evil assertion beside the genuine
// one, and the genuine one hidden inside the evil one (XSW, Somorovsky et
// al. 2012).
func wrapped(t *testing.T, out []byte, evilInside bool) []byte {
	t.Helper()
	doc := parseDoc(t, out)
	rst := find(t, doc.Root(), "./t:RequestedSecurityToken")
	genuine := find(t, rst, "./saml:Assertion")
	evil := genuine.Copy()
	if sig := evil.FindElement("./ds:Signature"); sig != nil {
		evil.RemoveChild(sig)
	}
	for _, ni := range evil.FindElements(".//saml:NameIdentifier") {
		ni.SetText("EVIL-IMMUTABLE-ID")
	}
	if evilInside {
		rst.RemoveChild(genuine)
		evil.AddChild(genuine)
		rst.AddChild(evil)
	} else {
		rst.InsertChildAt(0, evil)
	}
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWSFedNegative: tampered, re-signed and wrapped tokens fail both our
// goxmldsig verification path and xmlsec1.
func TestWSFedNegative(t *testing.T) {
	s, cert := testSigner(t)
	evilSigner, _ := otherSigner(t)
	out, err := BuildWSFedResponse(fixedOpts(), s, baseClaims())
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"tampered UPN":             tamper(t, out, "john.smith@contoso.com", "admin@contoso.com"),
		"tampered immutable id":    tamper(t, out, ">AAECAwQFBgcICQoLDA0ODw==<", ">AAECAwQFBgcICQoLDA0ODx==<"),
		"tampered NotOnOrAfter":    tamper(t, out, `NotOnOrAfter="2026-03-01T13:00:00.000Z"`, `NotOnOrAfter="2036-03-01T13:00:00.000Z"`),
		"added MFA claim":          tamper(t, out, "urn:oasis:names:tc:SAML:1.0:am:password", MultipleAuthn),
		"tampered signature":       tamper(t, out, "<ds:SignatureValue>", "<ds:SignatureValue>AAAA"),
		"tampered digest":          tamper(t, out, "<ds:DigestValue>", "<ds:DigestValue>A"),
		"re-signed with other key": resignedWith(t, evilSigner),
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := VerifyWSFedResponse(doc, trusted(cert)); err == nil {
				t.Error("goxmldsig path accepted it")
			}
			if ok, msg := xmlsecVerify(t, doc, cert, idAttr11); ok {
				t.Errorf("xmlsec1 accepted it:\n%s", msg)
			}
		})
	}
	for _, inside := range []bool{false, true} {
		doc := wrapped(t, out, inside)
		t.Run("wrapping inside="+map[bool]string{false: "beside", true: "nested"}[inside], func(t *testing.T) {
			if a, err := VerifyWSFedResponse(doc, trusted(cert)); err == nil {
				t.Errorf("goxmldsig path accepted a wrapped token; subject %s", a.FindElement(".//NameIdentifier").Text())
			}
			// Verify the element a relying party would read (the first
			// assertion) with xmlsec1: it must not verify as the signed one.
			ok, msg := xmlsecVerify(t, doc, cert, idAttr11)
			if ok {
				// xmlsec1 verified the genuine signature; the check that
				// matters is that the evil assertion is not what was signed.
				if evilVerifies(t, doc, cert) {
					t.Errorf("xmlsec1 verified the attacker's assertion:\n%s", msg)
				}
			}
		})
	}
	// Sanity: the untouched token passes both.
	if _, err := VerifyWSFedResponse(out, trusted(cert)); err != nil {
		t.Fatalf("untouched token rejected: %v", err)
	}
	if ok, msg := xmlsecVerify(t, out, cert, idAttr11); !ok {
		t.Fatalf("xmlsec1 rejects the untouched token:\n%s", msg)
	}
	// Expired certificate: the verifier's clock matters.
	late := Verifier{Certs: []*x509.Certificate{cert.Cert}, Now: func() time.Time { return fixedNow.Add(4 * 365 * 24 * time.Hour) }}
	if _, err := VerifyWSFedResponse(out, late); err == nil {
		t.Error("token accepted with an expired certificate")
	}
}

// evilVerifies extracts the first assertion (the attacker's, where a
// relying party would read) into its own document and asks xmlsec1 whether
// it carries a valid signature.
func evilVerifies(t *testing.T, doc []byte, cert *signing.Certificate) bool {
	t.Helper()
	d := parseDoc(t, doc)
	first := d.Root().FindElement("./t:RequestedSecurityToken/saml:Assertion")
	nd := etree.NewDocument()
	nd.SetRoot(first.Copy())
	b, _ := nd.WriteToBytes()
	if !bytes.Contains(b, []byte("EVIL-IMMUTABLE-ID")) {
		t.Fatal("wrapping test did not put the evil assertion first")
	}
	// Remove the genuine (nested) assertion so only the evil content remains.
	for _, inner := range nd.Root().FindElements("./saml:Assertion") {
		nd.Root().RemoveChild(inner)
	}
	b, _ = nd.WriteToBytes()
	ok, _ := xmlsecVerify(t, b, cert, idAttr11)
	return ok
}

func TestWSTrustResponse(t *testing.T) {
	s, cert := testSigner(t)
	out, err := BuildWSTrustResponse(fixedOpts(), s, baseClaims(), WSTrustResponseParams{RelatesTo: "urn:uuid:5f1c9a9e-0000-4000-8000-000000000001"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "wstrust_response", out)
	root := parseDoc(t, out).Root()
	text(t, root, "./s:Header/a:Action", ActionIssueFinal13)
	text(t, root, "./s:Header/a:RelatesTo", "urn:uuid:5f1c9a9e-0000-4000-8000-000000000001")
	rstr := find(t, root, "./s:Body/trust:RequestSecurityTokenResponseCollection/trust:RequestSecurityTokenResponse")
	if rstr.NamespaceURI() != NSTrust13 {
		t.Fatalf("RSTR namespace %s", rstr.NamespaceURI())
	}
	text(t, rstr, "./trust:TokenType", TokenTypeSAML11)
	text(t, rstr, "./trust:RequestType", RequestTypeIssue13)
	text(t, rstr, "./trust:KeyType", KeyTypeBearer13)
	text(t, rstr, "./wsp:AppliesTo/wsa:EndpointReference/wsa:Address", MicrosoftOnlineRealm)
	if _, err := VerifyWSFedResponse(out, trusted(cert)); err != nil {
		t.Fatalf("own verification: %v", err)
	}
	bad := tamper(t, out, "john.smith@contoso.com", "eve@contoso.com")
	if _, err := VerifyWSFedResponse(bad, trusted(cert)); err == nil {
		t.Error("tampered WS-Trust token accepted")
	}
	// xmlsec1 checks last: without xmlsec1 (outside CI) they skip.
	if ok, msg := xmlsecVerify(t, out, cert, idAttr11); !ok {
		t.Fatalf("xmlsec1 rejects the WS-Trust response:\n%s", msg)
	}
	if ok, _ := xmlsecVerify(t, bad, cert, idAttr11); ok {
		t.Error("xmlsec1 accepted a tampered WS-Trust token")
	}
}

func TestSOAPFault(t *testing.T) {
	out := BuildSOAPFault(&WSTrustFault{Sender: true, Subcode: "FailedAuthentication", Reason: "ID3242: The security token could not be authenticated or authorized."}, "urn:uuid:1")
	golden(t, "wstrust_fault", out)
	root := parseDoc(t, out).Root()
	text(t, root, "./s:Body/s:Fault/s:Code/s:Value", "s:Sender")
	text(t, root, "./s:Body/s:Fault/s:Code/s:Subcode/s:Value", "t:FailedAuthentication")
	sub := find(t, root, "./s:Body/s:Fault/s:Code/s:Subcode/s:Value")
	if ns := sub.SelectAttrValue("xmlns:t", ""); ns != NSTrust13 {
		t.Errorf("subcode QName prefix bound to %q", ns)
	}
	text(t, root, "./s:Header/a:RelatesTo", "urn:uuid:1")
	recv := BuildSOAPFault(&WSTrustFault{Reason: "bad\x00reason"}, "bad\x01id")
	r := parseDoc(t, recv).Root()
	text(t, r, "./s:Body/s:Fault/s:Code/s:Value", "s:Receiver")
	text(t, r, "./s:Body/s:Fault/s:Code/s:Subcode/s:Value", "t:RequestFailed")
	text(t, r, "./s:Body/s:Fault/s:Reason/s:Text", "The request failed.")
	if r.FindElement("./s:Header/a:RelatesTo") != nil {
		t.Error("invalid RelatesTo echoed")
	}
}

func TestSAML2Response(t *testing.T) {
	s, cert := testSigner(t)
	for _, tc := range []struct {
		name       string
		claims     Claims
		signResp   bool
		wantClass  string
		respSigned bool
	}{
		{"saml2_password", baseClaims(), false, ClassPasswordProtected, false},
		{"saml2_mfa_signed_response", mfaClaims(), true, MultipleAuthn, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := BuildSAML2Response(fixedOpts(), s, tc.claims, SAML2ResponseParams{InResponseTo: "_req1", SignResponse: tc.signResp})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, out)
			a, err := VerifySAML2Response(out, trusted(cert))
			if err != nil {
				t.Fatalf("own verification: %v", err)
			}
			resp := parseDoc(t, out).Root()
			attr(t, resp, "Destination", MicrosoftLoginACS)
			attr(t, resp, "InResponseTo", "_req1")
			attr(t, resp, "Version", "2.0")
			text(t, resp, "./saml:Issuer", testIssuer)
			attr(t, find(t, resp, "./samlp:Status/samlp:StatusCode"), "Value", StatusSuccess)
			if got := resp.FindElement("./ds:Signature") != nil; got != tc.respSigned {
				t.Errorf("response signed = %v", got)
			}
			if tc.respSigned && resp.ChildElements()[1].Tag != "Signature" {
				t.Error("response signature does not follow Issuer")
			}
			raw := find(t, resp, "./saml:Assertion")
			if raw.ChildElements()[1].Tag != "Signature" {
				t.Error("assertion signature does not follow Issuer")
			}
			text(t, a, "./saml:Issuer", testIssuer)
			nid := find(t, a, "./saml:Subject/saml:NameID")
			attr(t, nid, "Format", NameIDFormatPersistent)
			if nid.Text() != tc.claims.ImmutableID {
				t.Errorf("NameID %q", nid.Text())
			}
			attr(t, find(t, a, "./saml:Subject/saml:SubjectConfirmation"), "Method", ConfirmationBearer)
			scd := find(t, a, "./saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData")
			attr(t, scd, "InResponseTo", "_req1")
			attr(t, scd, "Recipient", MicrosoftLoginACS)
			attr(t, scd, "NotOnOrAfter", "2026-03-01T12:05:00.000Z")
			text(t, a, "./saml:Conditions/saml:AudienceRestriction/saml:Audience", MicrosoftOnlineRealm)
			attrs := a.FindElements("./saml:AttributeStatement/saml:Attribute")
			if len(attrs) != 1 || attrs[0].SelectAttrValue("Name", "") != "IDPEmail" || find(t, attrs[0], "./saml:AttributeValue").Text() != tc.claims.UPN {
				t.Errorf("attributes: want exactly IDPEmail=%s", tc.claims.UPN)
			}
			text(t, a, "./saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef", tc.wantClass)

			bad := tamper(t, out, ">"+tc.claims.UPN+"<", ">eve@contoso.com<")
			if _, err := VerifySAML2Response(bad, trusted(cert)); err == nil {
				t.Error("tampered SAML 2.0 response accepted")
			}
			// xmlsec1 checks last: without xmlsec1 (outside CI) they skip.
			// xmlsec1 on the whole response (first signature: the
			// response's when signed, else the assertion's) ...
			if ok, msg := xmlsecVerify(t, out, cert, idAttr2Resp, idAttr2); !ok {
				t.Fatalf("xmlsec1 rejects the response:\n%s", msg)
			}
			// ... and on the assertion alone, as Entra checks it.
			nd := etree.NewDocument()
			nd.SetRoot(raw.Copy())
			ab, _ := nd.WriteToBytes()
			if ok, msg := xmlsecVerify(t, ab, cert, idAttr2); !ok {
				t.Fatalf("xmlsec1 rejects the assertion:\n%s", msg)
			}
			if ok, _ := xmlsecVerify(t, bad, cert, idAttr2Resp, idAttr2); ok {
				t.Error("xmlsec1 accepted a tampered SAML 2.0 response")
			}
		})
	}
	evil, _ := otherSigner(t)
	other, err := BuildSAML2Response(fixedOpts(), evil, baseClaims(), SAML2ResponseParams{InResponseTo: "_req1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifySAML2Response(other, trusted(cert)); err == nil {
		t.Error("SAML 2.0 response signed by another key accepted")
	}
	if ok, _ := xmlsecVerify(t, other, cert, idAttr2Resp, idAttr2); ok {
		t.Error("xmlsec1 accepted a SAML 2.0 response signed by another key")
	}
}

func TestIdPMetadata(t *testing.T) {
	s, cert := testSigner(t)
	certs := []*x509.Certificate{cert.Cert}

	idp, err := BuildIdPMetadata(fixedOpts(), s, IdPMetadataParams{
		EntityID: testIssuer, SSOURL: "https://portico.example/t/contoso/apps/office365/saml/sso",
		SLOURL: "https://portico.example/t/contoso/apps/office365/saml/slo", Certs: certs,
	})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "saml2_idp_metadata", idp)
	root := parseDoc(t, idp).Root()
	attr(t, root, "entityID", testIssuer)
	d := find(t, root, "./md:IDPSSODescriptor")
	attr(t, d, "protocolSupportEnumeration", NSSAMLP)
	attr(t, find(t, d, "./md:KeyDescriptor"), "use", "signing")
	text(t, d, "./md:KeyDescriptor/ds:KeyInfo/ds:X509Data/ds:X509Certificate", cert.Base64())
	bindings := map[string]string{}
	for _, sso := range d.FindElements("./md:SingleSignOnService") {
		bindings[sso.SelectAttrValue("Binding", "")] = sso.SelectAttrValue("Location", "")
	}
	if len(bindings) != 2 || bindings[BindingHTTPPost] == "" || bindings[BindingHTTPRedirect] == "" {
		t.Errorf("SSO bindings %v", bindings)
	}
	if len(d.FindElements("./md:SingleLogoutService")) != 2 {
		t.Error("SingleLogoutService")
	}
	if _, err := (Verifier{Certs: certs, Now: clock}).VerifyEnveloped(root, "ID"); err != nil {
		t.Fatalf("own verification of IdP metadata: %v", err)
	}
	if ok, msg := xmlsecVerify(t, idp, cert, idAttrMetadata); !ok {
		t.Fatalf("xmlsec1 rejects IdP metadata:\n%s", msg)
	}
}

func TestFederationMetadata(t *testing.T) {
	s, cert := testSigner(t)
	certs := []*x509.Certificate{cert.Cert}
	fed, err := BuildFederationMetadata(fixedOpts(), s, FederationMetadataParams{
		EntityID: testIssuer, PassiveURL: "https://portico.example/t/contoso/apps/office365/wsfed",
		ActiveURL: "https://portico.example/t/contoso/apps/office365/wstrust/13/usernamemixed", Certs: certs,
	})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "wsfed_federation_metadata", fed)
	root := parseDoc(t, fed).Root()
	if root.ChildElements()[0].Tag != "Signature" {
		t.Error("federation metadata signature is not the first child")
	}
	rd := find(t, root, "./md:RoleDescriptor")
	attr(t, rd, "xsi:type", "fed:SecurityTokenServiceType")
	// The QName in xsi:type must resolve where it is used.
	if ns := rd.SelectAttrValue("xmlns:fed", ""); ns != NSFed {
		t.Errorf("xmlns:fed on RoleDescriptor = %q (xsi:type QName unresolvable)", ns)
	}
	text(t, rd, "./fed:PassiveRequestorEndpoint/wsa:EndpointReference/wsa:Address", "https://portico.example/t/contoso/apps/office365/wsfed")
	text(t, rd, "./md:KeyDescriptor/ds:KeyInfo/ds:X509Data/ds:X509Certificate", cert.Base64())
	if _, err := (Verifier{Certs: certs, Now: clock}).VerifyEnveloped(root, "ID"); err != nil {
		t.Fatalf("own verification of federation metadata: %v", err)
	}
	evil := parseDoc(t, tamper(t, fed, "/wsfed<", "/evil<")).Root()
	if _, err := (Verifier{Certs: certs, Now: clock}).VerifyEnveloped(evil, "ID"); err == nil {
		t.Error("tampered federation metadata verified")
	}
	if _, err := BuildFederationMetadata(fixedOpts(), s, FederationMetadataParams{EntityID: testIssuer, PassiveURL: "x"}); !errors.Is(err, ErrNoCertificates) {
		t.Errorf("no certs: %v", err)
	}
	if ok, msg := xmlsecVerify(t, fed, cert, idAttrMetadata); !ok {
		t.Fatalf("xmlsec1 rejects federation metadata:\n%s", msg)
	}
	if ok, _ := xmlsecVerify(t, tamper(t, fed, "/wsfed<", "/evil<"), cert, idAttrMetadata); ok {
		t.Error("xmlsec1 accepted tampered federation metadata")
	}
}

func TestGoldenFilesHaveNoStrayFiles(t *testing.T) {
	// Every golden file is produced by some test: catches renamed tests
	// leaving stale files behind.
	want := map[string]bool{}
	for _, n := range []string{"wsfed_password", "wsfed_mfa", "wstrust_response", "wstrust_fault", "wstrust_mex",
		"saml2_password", "saml2_mfa_signed_response", "saml2_idp_metadata", "wsfed_federation_metadata"} {
		want[n+".golden"] = true
	}
	files, _ := filepath.Glob("testdata/*.golden")
	for _, f := range files {
		if !want[filepath.Base(f)] {
			t.Errorf("stale golden file %s", f)
		}
	}
	if *update {
		return
	}
	for n := range want {
		if _, err := os.Stat(filepath.Join("testdata", n)); err != nil {
			t.Errorf("missing golden file %s", n)
		}
	}
}
