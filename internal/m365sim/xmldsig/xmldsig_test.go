package xmldsig

import (
	"bytes"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/m365sim/internal/xmlsectest"
)

// TestParseRefuses checks the hardened parser on hostile and broken input.
func TestParseRefuses(t *testing.T) {
	deep := strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100)
	tests := []struct {
		name string
		doc  string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"garbage", "not xml at all", ErrMalformed},
		{"truncated", `<a xmlns="urn:x"><b>text</b`, ErrMalformed},
		{"unclosed", `<a><b></b>`, ErrMalformed},
		{"mismatched end tag", `<a><b></c></a>`, ErrMalformed},
		{"doctype", `<!DOCTYPE a><a/>`, ErrDTD},
		{"internal subset with entity", `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "boom">]><a>&x;</a>`, ErrDTD},
		{"external entity", `<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>`, ErrDTD},
		{"undeclared entity", `<a>&x;</a>`, ErrMalformed},
		{"billion laughs", `<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>`, ErrDTD},
		{"too large", "<a>" + strings.Repeat("x", 300<<10) + "</a>", ErrTooLarge},
		{"too deep", deep, ErrTooLarge},
		{"two roots", `<a/><b/>`, ErrMalformed},
		{"text after root", `<a/>junk`, ErrMalformed},
		{"undeclared element prefix", `<p:a/>`, ErrMalformed},
		{"undeclared attribute prefix", `<a p:x="1"/>`, ErrMalformed},
		{"duplicate attribute", `<a x="1" x="2"/>`, ErrMalformed},
		{"duplicate expanded attribute", `<a xmlns:p="urn:x" xmlns:q="urn:x" p:x="1" q:x="2"/>`, ErrMalformed},
		{"two colons", `<a xmlns:p="urn:x"><p:b:c/></a>`, ErrMalformed},
		{"latin-1 declaration", `<?xml version="1.0" encoding="ISO-8859-1"?><a/>`, ErrMalformed},
		{"invalid UTF-8", "<a>\xff</a>", ErrMalformed},
		{"empty prefix binding", `<a xmlns:p=""/>`, ErrMalformed},
		{"xmlns prefix declared", `<a xmlns:xmlns="urn:x"/>`, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), Limits{})
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestCanonicalize checks exclusive c14n on the specification's example and
// on the cases that usually go wrong.
func TestCanonicalize(t *testing.T) {
	tests := []struct {
		name, doc, path, prefixes, want string
	}{
		{
			// Exclusive XML Canonicalization 1.0, §2.2 (the n0/n1/n3 example).
			name: "spec example", path: "elem2",
			doc:  `<n0:local xmlns:n0="foo:bar" xmlns:n3="ftp://example.org"><n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"/></n1:elem2></n0:local>`,
			want: `<n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"></n3:stuff></n1:elem2>`,
		},
		{
			name: "spec example, n2 declared above", path: "elem2",
			doc:  `<n2:pdu xmlns:n1="http://example.com" xmlns:n2="http://foo.example" xml:lang="fr" xml:space="retain"><n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"/></n1:elem2></n2:pdu>`,
			want: `<n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"></n3:stuff></n1:elem2>`,
		},
		{
			name: "inherited prefix rendered on the apex, not repeated below", path: "b",
			doc:  `<r xmlns:p="urn:p" xmlns:q="urn:q"><p:b q:at="1"><p:c/><q:d/></p:b></r>`,
			want: `<p:b xmlns:p="urn:p" xmlns:q="urn:q" q:at="1"><p:c></p:c><q:d></q:d></p:b>`,
		},
		{
			name: "unused declarations dropped", path: "b",
			doc:  `<r><b xmlns:u="urn:unused" xmlns="urn:d"><c/></b></r>`,
			want: `<b xmlns="urn:d"><c></c></b>`,
		},
		{
			name: "default namespace undone", path: "b",
			doc:  `<b xmlns="urn:d"><c xmlns=""><e/></c></b>`,
			want: `<b xmlns="urn:d"><c xmlns=""><e></e></c></b>`,
		},
		{
			name: "empty default at apex not written", path: "c",
			doc:  `<b xmlns="urn:d"><c xmlns=""/></b>`,
			want: `<c></c>`,
		},
		{
			name: "attributes sorted by namespace then name", path: "a",
			doc:  `<a xmlns:z="urn:a" xmlns:y="urn:b" y:k="1" z:k="2" b="3" a="4"/>`,
			want: `<a xmlns:y="urn:b" xmlns:z="urn:a" a="4" b="3" z:k="2" y:k="1"></a>`,
		},
		{
			name: "escaping, CDATA, comments and PIs", path: "a",
			doc:  "<a t=\"&lt;&amp;&quot;&#9;&#10;&#13;>\">x &lt; y &gt; z &amp;<![CDATA[<raw&>]]><!-- gone --><?pi  data ?>&#13;</a>",
			want: "<a t=\"&lt;&amp;&quot;&#x9;&#xA;&#xD;>\">x &lt; y &gt; z &amp;&lt;raw&amp;&gt;<?pi data ?>&#xD;</a>",
		},
		{
			name: "PrefixList renders unused in-scope prefixes", path: "b", prefixes: "xs #default",
			doc:  `<r xmlns="urn:d" xmlns:xs="http://www.w3.org/2001/XMLSchema"><p:b xmlns:p="urn:p" type="xs:string"/></r>`,
			want: `<p:b xmlns="urn:d" xmlns:p="urn:p" xmlns:xs="http://www.w3.org/2001/XMLSchema" type="xs:string"></p:b>`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root, err := Parse([]byte(tc.doc), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			var el *Element
			root.Walk(func(e *Element) bool {
				if e.Local == tc.path {
					el = e
					return false
				}
				return true
			})
			if el == nil {
				t.Fatalf("no element %s", tc.path)
			}
			got := string(Canonicalize(el, nil, strings.Fields(tc.prefixes)))
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestSAML2Xmlsec1 verifies SAML 2.0 Responses signed by xmlsec1: the
// assertion signature, and a response signature over the signed assertion.
func TestSAML2Xmlsec1(t *testing.T) {
	good := xmlsectest.Key(t, "good", 2048)
	now := time.Now()
	p := xmlsectest.DefaultSAML2("https://idp.example/saml", "QWxpY2UxMjM0NTY3ODkwMTI=", "alice@fabrikam.com", "_req1", "https://login.microsoftonline.com/login.srf", now)
	doc := xmlsectest.Sign(t, p.Render(t), good, xmlsectest.SAML2IDs)
	root, err := Parse(doc, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	as := root.FindOne(nsSAML2, "Assertion")
	opts := VerifyOptions{Certs: []*x509.Certificate{good.Cert}, IDAttr: "ID"}
	if _, err := VerifyEnveloped(root, as, opts); err != nil {
		t.Fatalf("assertion: %v", err)
	}
	if _, err := VerifyEnveloped(root, root, opts); !errors.Is(err, ErrNoSignature) {
		t.Fatalf("unsigned response: %v", err)
	}

	// Add a response signature (after the Response's Issuer) and sign it.
	tmpl := `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#` + p.ResponseID + `"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>`
	i := bytes.Index(doc, []byte("</Issuer>")) + len("</Issuer>")
	both := append(append(append([]byte{}, doc[:i]...), tmpl...), doc[i:]...)
	both = xmlsectest.Sign(t, both, good, xmlsectest.SAML2IDs)
	root, err = Parse(both, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyEnveloped(root, root, opts); err != nil {
		t.Fatalf("response: %v", err)
	}
	if _, err := VerifyEnveloped(root, root.FindOne(nsSAML2, "Assertion"), opts); err != nil {
		t.Fatalf("assertion inside a signed response: %v", err)
	}

	// The assertion's signature referencing the Response instead.
	p2 := p
	p2.ReferenceURI = "#" + p.ResponseID
	doc = xmlsectest.Sign(t, p2.Render(t), good, xmlsectest.SAML2IDs)
	root, _ = Parse(doc, Limits{})
	if _, err := VerifyEnveloped(root, root.FindOne(nsSAML2, "Assertion"), opts); !errors.Is(err, ErrReference) {
		t.Fatalf("reference to another element: %v", err)
	}
}

// TestSignerAgainstXmlsec1 signs AuthnRequests with this package's signer
// (as the sim does) and has xmlsec1 verify them: the canonicalizer and the
// signer agree with the reference implementation.
func TestSignerAgainstXmlsec1(t *testing.T) {
	k := xmlsectest.Key(t, "good", 2048)
	for _, alg := range []struct{ sig, dig string }{{AlgRSASHA1, AlgSHA1}, {AlgRSASHA256, AlgSHA256}} {
		req := `<samlp:AuthnRequest ID="_1868c6f2-1fdd-40b9-818f-b4b44efb92c5" Version="2.0" IssueInstant="2024-03-11T16:51:17.120Z" Destination="https://fs.contoso.com/adfs/ls/" xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/></samlp:AuthnRequest>`
		root, err := Parse([]byte(req), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		err = SignEnveloped(root, SignOptions{Key: k.Key, Cert: k.Cert, IDAttr: "ID", SignatureAlgorithm: alg.sig, DigestAlgorithm: alg.dig,
			After: 0, IncludeSKI: true, KeyName: "MicrosoftOnline"})
		if err != nil {
			t.Fatal(err)
		}
		out := Serialize(root)
		if err := xmlsectest.Verify(t, out, k.CertFile, []string{"ID urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest"}); err != nil {
			t.Fatalf("%s: %v\n%s", alg.sig, err, out)
		}
		again, err := Parse(out, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if kids := again.ChildElements(); len(kids) != 3 || kids[1].Local != "Signature" {
			t.Fatalf("Signature is not right after Issuer: %s", out)
		}
		if _, err := VerifyEnveloped(again, again, VerifyOptions{Certs: []*x509.Certificate{k.Cert}, IDAttr: "ID",
			SignatureAlgorithms: []string{alg.sig}, DigestAlgorithms: []string{alg.dig}}); err != nil {
			t.Fatalf("own verifier: %v", err)
		}
	}
}

// TestFixtures verifies tokens that xmlsec1 signed once and that are kept
// in testdata, so that the verifier is exercised on machines without
// xmlsec1 too. Regenerate with PORTICO_UPDATE_FIXTURES=1 (needs xmlsec1).
func TestFixtures(t *testing.T) {
	dir := "testdata"
	if os.Getenv("PORTICO_UPDATE_FIXTURES") != "" {
		k := xmlsectest.Key(t, "fixture", 2048)
		w := xmlsectest.DefaultWSFed("https://idp.example/issuer/fabrikam.com", "QWxpY2UxMjM0NTY3ODkwMTI=", "alice@fabrikam.com",
			time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
		w.ID = "_fixture0123456789"
		doc := xmlsectest.Sign(t, w.Render(t), k, xmlsectest.SAML11IDs)
		cert, _ := os.ReadFile(k.CertFile)
		if err := os.WriteFile(filepath.Join(dir, "wsfed-signed.xml"), doc, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "wsfed-signer.pem"), cert, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := os.ReadFile(filepath.Join(dir, "wsfed-signed.xml"))
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := os.ReadFile(filepath.Join(dir, "wsfed-signer.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parsePEMCert(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	k := &xmlsectest.KeyPair{Cert: cert}
	if v, err := verifyWSFed(t, doc, k); err != nil || nameIDOf(v) != "QWxpY2UxMjM0NTY3ODkwMTI=" {
		t.Fatalf("fixture: %v", err)
	}
	variants := []struct {
		name string
		doc  []byte
		want error
	}{
		{"tampered", bytes.Replace(doc, []byte(">alice@fabrikam.com<"), []byte(">bob@fabrikam.com<"), 1), ErrDigestMismatch},
		{"signature value", flipSignature(t, doc), ErrBadSignature},
		{"wrapped, own id", wrapEvilFirst(t, doc, false), ErrReference},
		{"wrapped, same id", wrapEvilFirst(t, doc, true), ErrReference},
		{"algorithm swapped to rsa-sha1", bytes.Replace(doc, []byte(AlgRSASHA256), []byte(AlgRSASHA1), 1), ErrUnsupportedAlgorithm},
		{"reference emptied", bytes.Replace(doc, []byte(`URI="#_fixture0123456789"`), []byte(`URI=""`), 1), ErrReference},
		{"second reference", bytes.Replace(doc, []byte("</ds:Reference>"), []byte("</ds:Reference><ds:Reference URI=\"#x\"/>"), 1), ErrMalformedSignature},
		{"extra transform", bytes.Replace(doc, []byte("<ds:Transforms>"), []byte(`<ds:Transforms><ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"/>`), 1), ErrUnsupportedAlgorithm},
	}
	for _, v := range variants {
		if _, err := verifyWSFed(t, v.doc, k); !errors.Is(err, v.want) {
			t.Errorf("%s: %v, want %v", v.name, err, v.want)
		}
	}
}

func parsePEMCert(b []byte) (*x509.Certificate, error) {
	i := bytes.Index(b, []byte("-----BEGIN CERTIFICATE-----"))
	if i < 0 {
		return nil, errors.New("no certificate")
	}
	body := b[i+len("-----BEGIN CERTIFICATE-----"):]
	j := bytes.Index(body, []byte("-----END"))
	der, err := decodeB64(string(body[:j]))
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// FuzzParseVerify feeds arbitrary documents to the parser and the verifier:
// they must return errors, never panic.
func FuzzParseVerify(f *testing.F) {
	if doc, err := os.ReadFile("testdata/wsfed-signed.xml"); err == nil {
		f.Add(doc)
	}
	f.Add([]byte(`<a xmlns="urn:x"><b ID="_1"><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/></b></a>`))
	f.Add([]byte(`<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`))
	pemBytes, _ := os.ReadFile("testdata/wsfed-signer.pem")
	cert, _ := parsePEMCert(pemBytes)
	f.Fuzz(func(t *testing.T, doc []byte) {
		root, err := Parse(doc, Limits{})
		if err != nil {
			return
		}
		_ = Canonicalize(root, nil, []string{"#default", "a"})
		root.Walk(func(e *Element) bool {
			if cert != nil {
				_, _ = VerifyEnveloped(root, e, VerifyOptions{Certs: []*x509.Certificate{cert}, IDAttr: "AssertionID"})
			}
			return true
		})
	})
}
