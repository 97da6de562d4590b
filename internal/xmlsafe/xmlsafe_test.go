package xmlsafe

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

const authnRequest = `<?xml version="1.0" encoding="UTF-8"?>
<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="id1" Version="2.0" IssueInstant="2026-03-01T12:00:00Z"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/><!-- c --></samlp:AuthnRequest>`

func TestParseAccepts(t *testing.T) {
	for name, in := range map[string]string{
		"authn request":   authnRequest,
		"no declaration":  `<a xmlns="urn:x" b="1">t<c/>&amp;&lt;&#65;</a>`,
		"cdata":           `<a><![CDATA[<not-a-tag>]]></a>`,
		"xml:lang":        `<a xml:lang="en">x</a>`,
		"trailing spaces": "<a/>\n\n",
		"lower utf-8":     `<?xml version="1.0" encoding="utf-8"?><a/>`,
	} {
		t.Run(name, func(t *testing.T) {
			doc, err := ParseBytes([]byte(in), Limits{})
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if doc.Root() == nil {
				t.Fatal("no root")
			}
		})
	}
	doc, _ := ParseBytes([]byte(authnRequest), Limits{})
	if doc.Root().Tag != "AuthnRequest" || doc.Root().NamespaceURI() != "urn:oasis:names:tc:SAML:2.0:protocol" {
		t.Fatalf("root %s %s", doc.Root().Tag, doc.Root().NamespaceURI())
	}
}

func TestParseRejects(t *testing.T) {
	deep := strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40)
	cases := []struct {
		name string
		in   string
		lim  Limits
		want error
	}{
		{"doctype", `<!DOCTYPE a><a/>`, Limits{}, ErrDTD},
		{"internal subset entity", `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`, Limits{}, ErrDTD},
		{"billion laughs", `<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>`, Limits{}, ErrDTD},
		{"external entity", `<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>`, Limits{}, ErrDTD},
		{"undeclared entity", `<a>&x;</a>`, Limits{}, ErrMalformed},
		{"stylesheet pi", `<?xml version="1.0"?><?xml-stylesheet href="x"?><a/>`, Limits{}, ErrProcInst},
		{"pi inside", `<a><?php x?></a>`, Limits{}, ErrProcInst},
		{"pi after root", `<a/><?x y?>`, Limits{}, ErrProcInst},
		{"utf-16 declared", `<?xml version="1.0" encoding="UTF-16"?><a/>`, Limits{}, ErrMalformed},
		{"latin1 declared", `<?xml version="1.0" encoding="ISO-8859-1"?><a/>`, Limits{}, ErrMalformed},
		{"invalid utf-8", "<a>\xff</a>", Limits{}, ErrMalformed},
		{"oversized", `<a>` + strings.Repeat("x", 2000) + `</a>`, Limits{MaxBytes: 1024}, ErrTooLarge},
		{"too deep", deep, Limits{}, ErrTooDeep},
		{"two roots", `<a/><b/>`, Limits{}, ErrMalformed},
		{"text after root", `<a/>junk`, Limits{}, ErrMalformed},
		{"empty", ``, Limits{}, ErrMalformed},
		{"unclosed", `<a><b></a>`, Limits{}, ErrMalformed},
		{"undeclared element prefix", `<p:a/>`, Limits{}, ErrRoundTrip},
		{"undeclared attribute prefix", `<a p:b="1"/>`, Limits{}, ErrMalformed},
		{"duplicate attribute", `<a b="1" b="2"/>`, Limits{}, ErrMalformed},
		{"duplicate qualified attribute", `<a xmlns:p="urn:x" xmlns:q="urn:x" p:b="1" q:b="2"/>`, Limits{}, ErrMalformed},
		// CVE-2020-29509 shape: a colon in an attribute's local part.
		{"colon in attribute name", `<a xmlns:x="urn:x" x:b:c="1"/>`, Limits{}, nil},
		// CVE-2020-29511 shape: a colon in an element's local name.
		{"colon in element name", `<a:b:c xmlns:a="urn:x"/>`, Limits{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := ParseBytes([]byte(tc.in), tc.lim)
			if err == nil {
				t.Fatalf("accepted: root %v", doc.Root().Tag)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseReaderLimit(t *testing.T) {
	big := strings.NewReader("<a>" + strings.Repeat("x", 5000) + "</a>")
	if _, err := Parse(big, Limits{MaxBytes: 100}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
	if _, err := Parse(iotest.ErrReader(errors.New("boom")), Limits{}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("reader error not reported: %v", err)
	}
	doc, err := Parse(strings.NewReader(authnRequest), Limits{})
	if err != nil || doc.Root() == nil {
		t.Fatal(err)
	}
}

// FuzzParseBytes checks that whatever ParseBytes accepts has no DTD and no
// foreign processing instruction, stays within its limits, and re-serialises
// to a document ParseBytes accepts again with the same root.
func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{
		authnRequest,
		`<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`,
		`<a xmlns:x="urn:x" x:b="1"><x:c>t</x:c></a>`,
		`<a><![CDATA[x]]><!--c--><?pi x?></a>`,
		`<a:b:c xmlns:a="urn:x"/>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxBytes: 4096, MaxDepth: 8}
		doc, err := ParseBytes(data, lim)
		if err != nil {
			return
		}
		if len(data) > 4096 {
			t.Fatal("accepted oversized input")
		}
		if bytes.Contains(data, []byte("<!DOCTYPE")) || bytes.Contains(data, []byte("<!ENTITY")) {
			// Only acceptable inside CDATA or a comment.
			if !bytes.Contains(data, []byte("<![CDATA[")) && !bytes.Contains(data, []byte("<!--")) {
				t.Fatalf("accepted a DTD: %q", data)
			}
		}
		out, err := doc.WriteToBytes()
		if err != nil {
			t.Fatalf("re-serialise: %v", err)
		}
		doc2, err := ParseBytes(out, Limits{MaxBytes: 1 << 20, MaxDepth: 8})
		if err != nil {
			t.Fatalf("re-serialised document rejected: %v\nin:  %q\nout: %q", err, data, out)
		}
		if doc2.Root().Tag != doc.Root().Tag || doc2.Root().NamespaceURI() != doc.Root().NamespaceURI() {
			t.Fatalf("root changed on round trip: %q -> %q", data, out)
		}
	})
}
