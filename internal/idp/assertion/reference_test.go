package assertion

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// referenceSAML11 builds the same SAML 1.1 assertion as signedSAML11 the
// straightforward way: an etree tree signed by goxmldsig's SigningContext.
// It is the yardstick for the hand-written canonical fast path.
func referenceSAML11(t testing.TB, o Options, s *Signer, c Claims) []byte {
	t.Helper()
	id, err := o.newID()
	if err != nil {
		t.Fatal(err)
	}
	now := o.now()
	a := etree.NewElement("saml:Assertion")
	a.CreateAttr("xmlns:saml", NSSAML11)
	a.CreateAttr("MajorVersion", "1") // deliberately unsorted: c14n must sort
	a.CreateAttr("MinorVersion", "1")
	a.CreateAttr("AssertionID", id)
	a.CreateAttr("Issuer", c.Issuer)
	a.CreateAttr("IssueInstant", xsTime(now))

	cond := a.CreateElement("saml:Conditions")
	cond.CreateAttr("NotBefore", xsTime(now))
	cond.CreateAttr("NotOnOrAfter", xsTime(now.Add(c.lifetime())))
	cond.CreateElement("saml:AudienceRestrictionCondition").CreateElement("saml:Audience").SetText(c.audience())

	subject := func(parent *etree.Element) {
		sub := parent.CreateElement("saml:Subject")
		ni := sub.CreateElement("saml:NameIdentifier")
		ni.CreateAttr("Format", NameIDFormatUnspecified11)
		ni.SetText(c.ImmutableID)
		sub.CreateElement("saml:SubjectConfirmation").CreateElement("saml:ConfirmationMethod").SetText(ConfirmationBearer11)
	}
	attr := func(parent *etree.Element, name, ns, value string) {
		at := parent.CreateElement("saml:Attribute")
		at.CreateAttr("AttributeName", name)
		at.CreateAttr("AttributeNamespace", ns)
		at.CreateElement("saml:AttributeValue").SetText(value)
	}
	as := a.CreateElement("saml:AttributeStatement")
	subject(as)
	attr(as, "UPN", claimsNS, c.UPN)
	attr(as, "ImmutableID", liveIDNS, c.ImmutableID)
	if c.InsideCorporateNetwork != nil {
		attr(as, "insidecorporatenetwork", corpNetClaimsNS, fmt.Sprint(*c.InsideCorporateNetwork))
	}
	method := AuthnMethodPassword11
	if c.MFA {
		attr(as, "authnmethodsreferences", msClaimsNS, MultipleAuthn)
		method = MultipleAuthn
	}
	st := a.CreateElement("saml:AuthenticationStatement")
	st.CreateAttr("AuthenticationMethod", method)
	st.CreateAttr("AuthenticationInstant", xsTime(c.authnInstant(now)))
	subject(st)

	if err := s.signEnveloped(a, "AssertionID", -1, false); err != nil {
		t.Fatal(err)
	}
	out, err := writeElement(a)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func boolp(b bool) *bool { return &b }

// TestFastPathMatchesGoxmldsig holds the canonical fast path to the
// etree+goxmldsig reference, byte for byte, including values that need
// escaping.
func TestFastPathMatchesGoxmldsig(t *testing.T) {
	s, _ := testSigner(t)
	cases := []Claims{
		{Issuer: "https://idp.example/i", ImmutableID: "AAECAwQFBgcICQoLDA0ODw==", UPN: "a@contoso.com"},
		{Issuer: "https://idp.example/i", ImmutableID: "x", UPN: "b@contoso.com", MFA: true, InsideCorporateNetwork: boolp(true)},
		{Issuer: `https://idp.example/i?a=1&b="2"<>'`, ImmutableID: "i&<>\"'\t\n\r", UPN: "ü'\"<&>@contoso.com", MFA: true,
			InsideCorporateNetwork: boolp(false), AuthnInstant: fixedNow.Add(-time.Minute), Lifetime: 30 * time.Minute, Audience: "urn:x:y&z"},
	}
	for i, c := range cases {
		got, err := BuildSAML11Assertion(Options{Now: clock, Rand: detRand(byte(i))}, s, c)
		if err != nil {
			t.Fatal(err)
		}
		want := referenceSAML11(t, Options{Now: clock, Rand: detRand(byte(i))}, s, c)
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d: fast path differs from goxmldsig reference\nfast: %s\nref:  %s", i, got, want)
		}
	}
}
