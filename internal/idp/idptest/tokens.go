package idptest

import (
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/portico-idp/portico/internal/idp/assertion"
)

// only returns the single child of el named {ns}tag, failing the test on
// none or several.
func only(tb testing.TB, el *etree.Element, ns, tag string) *etree.Element {
	tb.Helper()
	var found []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		tb.Fatalf("%d {%s}%s in %s, want 1", len(found), ns, tag, el.Tag)
	}
	return found[0]
}

func all(el *etree.Element, ns, tag string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

func xsTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatalf("time %q: %v", s, err)
	}
	return t
}

// SAML11 is what a verified SAML 1.1 assertion (the WS-Fed and WS-Trust
// token, M365-CONTRACT.md §4) says.
type SAML11 struct {
	AssertionID, Issuer, MajorVersion, MinorVersion string
	IssueInstant, NotBefore, NotOnOrAfter           time.Time
	Audience                                        string
	// NameID, NameIDFormat and Confirmation come from the attribute
	// statement's subject; the authentication statement's must be the same
	// (checked by ReadSAML11).
	NameID, NameIDFormat, Confirmation string
	AuthnInstant                       time.Time
	AuthnMethod                        string
	// Attributes are keyed by "namespace name".
	Attributes map[string][]string
}

// Attribute returns the values of the attribute name in namespace ns.
func (a SAML11) Attribute(ns, name string) []string { return a.Attributes[ns+" "+name] }

func subject11(tb testing.TB, st *etree.Element) (id, format, conf string) {
	tb.Helper()
	s := only(tb, st, assertion.NSSAML11, "Subject")
	n := only(tb, s, assertion.NSSAML11, "NameIdentifier")
	c := only(tb, only(tb, s, assertion.NSSAML11, "SubjectConfirmation"), assertion.NSSAML11, "ConfirmationMethod")
	return n.Text(), n.SelectAttrValue("Format", ""), c.Text()
}

// ReadSAML11 reads a SAML 1.1 assertion element (as the verifier returns
// it).
func ReadSAML11(tb testing.TB, a *etree.Element) SAML11 {
	tb.Helper()
	if a.Tag != "Assertion" || a.NamespaceURI() != assertion.NSSAML11 {
		tb.Fatalf("not a SAML 1.1 assertion: {%s}%s", a.NamespaceURI(), a.Tag)
	}
	out := SAML11{AssertionID: a.SelectAttrValue("AssertionID", ""), Issuer: a.SelectAttrValue("Issuer", ""),
		MajorVersion: a.SelectAttrValue("MajorVersion", ""), MinorVersion: a.SelectAttrValue("MinorVersion", ""),
		IssueInstant: xsTime(tb, a.SelectAttrValue("IssueInstant", "")), Attributes: map[string][]string{}}
	cond := only(tb, a, assertion.NSSAML11, "Conditions")
	out.NotBefore = xsTime(tb, cond.SelectAttrValue("NotBefore", ""))
	out.NotOnOrAfter = xsTime(tb, cond.SelectAttrValue("NotOnOrAfter", ""))
	out.Audience = only(tb, only(tb, cond, assertion.NSSAML11, "AudienceRestrictionCondition"), assertion.NSSAML11, "Audience").Text()
	as := only(tb, a, assertion.NSSAML11, "AttributeStatement")
	out.NameID, out.NameIDFormat, out.Confirmation = subject11(tb, as)
	for _, at := range all(as, assertion.NSSAML11, "Attribute") {
		k := at.SelectAttrValue("AttributeNamespace", "") + " " + at.SelectAttrValue("AttributeName", "")
		for _, v := range all(at, assertion.NSSAML11, "AttributeValue") {
			out.Attributes[k] = append(out.Attributes[k], v.Text())
		}
	}
	st := only(tb, a, assertion.NSSAML11, "AuthenticationStatement")
	out.AuthnInstant = xsTime(tb, st.SelectAttrValue("AuthenticationInstant", ""))
	out.AuthnMethod = st.SelectAttrValue("AuthenticationMethod", "")
	if id, f, c := subject11(tb, st); id != out.NameID || f != out.NameIDFormat || c != out.Confirmation {
		tb.Fatalf("the two statements' subjects differ: %s/%s/%s vs %s/%s/%s", id, f, c, out.NameID, out.NameIDFormat, out.Confirmation)
	}
	return out
}

// SAML2 is what a verified SAML 2.0 assertion (M365-CONTRACT.md §5) says.
type SAML2 struct {
	ID, Issuer                       string
	NameID, NameIDFormat             string
	ConfirmationMethod, InResponseTo string
	Recipient                        string
	ConfirmationNotOnOrAfter         time.Time
	NotBefore, NotOnOrAfter          time.Time
	Audience                         string
	Attributes                       map[string][]string
	AuthnInstant                     time.Time
	ClassRef                         string
}

// ReadSAML2 reads a SAML 2.0 assertion element.
func ReadSAML2(tb testing.TB, a *etree.Element) SAML2 {
	tb.Helper()
	ns := assertion.NSSAML2
	if a.Tag != "Assertion" || a.NamespaceURI() != ns {
		tb.Fatalf("not a SAML 2.0 assertion: {%s}%s", a.NamespaceURI(), a.Tag)
	}
	out := SAML2{ID: a.SelectAttrValue("ID", ""), Issuer: only(tb, a, ns, "Issuer").Text(), Attributes: map[string][]string{}}
	s := only(tb, a, ns, "Subject")
	n := only(tb, s, ns, "NameID")
	out.NameID, out.NameIDFormat = n.Text(), n.SelectAttrValue("Format", "")
	sc := only(tb, s, ns, "SubjectConfirmation")
	out.ConfirmationMethod = sc.SelectAttrValue("Method", "")
	scd := only(tb, sc, ns, "SubjectConfirmationData")
	out.InResponseTo, out.Recipient = scd.SelectAttrValue("InResponseTo", ""), scd.SelectAttrValue("Recipient", "")
	out.ConfirmationNotOnOrAfter = xsTime(tb, scd.SelectAttrValue("NotOnOrAfter", ""))
	cond := only(tb, a, ns, "Conditions")
	out.NotBefore = xsTime(tb, cond.SelectAttrValue("NotBefore", ""))
	out.NotOnOrAfter = xsTime(tb, cond.SelectAttrValue("NotOnOrAfter", ""))
	out.Audience = only(tb, only(tb, cond, ns, "AudienceRestriction"), ns, "Audience").Text()
	for _, at := range all(only(tb, a, ns, "AttributeStatement"), ns, "Attribute") {
		for _, v := range all(at, ns, "AttributeValue") {
			out.Attributes[at.SelectAttrValue("Name", "")] = append(out.Attributes[at.SelectAttrValue("Name", "")], v.Text())
		}
	}
	st := only(tb, a, ns, "AuthnStatement")
	out.AuthnInstant = xsTime(tb, st.SelectAttrValue("AuthnInstant", ""))
	out.ClassRef = only(tb, only(tb, st, ns, "AuthnContext"), ns, "AuthnContextClassRef").Text()
	return out
}
