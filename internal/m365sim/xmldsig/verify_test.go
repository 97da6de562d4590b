package xmldsig

import (
	"bytes"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/m365sim/internal/xmlsectest"
)

const (
	nsSAML1 = "urn:oasis:names:tc:SAML:1.0:assertion"
	nsSAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsTrust = "http://schemas.xmlsoap.org/ws/2005/02/trust"
)

// assertionOf returns the SAML 1.1 assertion of an RSTR.
func assertionOf(t *testing.T, root *Element) *Element {
	t.Helper()
	rst := root.FindOne(nsTrust, "RequestedSecurityToken")
	if rst == nil {
		t.Fatal("no RequestedSecurityToken")
	}
	as := rst.Find(nsSAML1, "Assertion")
	if len(as) == 0 {
		t.Fatal("no assertion")
	}
	return as[0]
}

func verifyWSFed(t *testing.T, doc []byte, keys ...*xmlsectest.KeyPair) (*Verified, error) {
	t.Helper()
	root, err := Parse(doc, Limits{})
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for _, k := range keys {
		certs = append(certs, k.Cert)
	}
	return VerifyEnveloped(root, assertionOf(t, root), VerifyOptions{Certs: certs, IDAttr: "AssertionID"})
}

// nameIDOf reads the first NameIdentifier of a verified SAML 1.1 assertion.
func nameIDOf(v *Verified) string {
	var out string
	v.Element.Walk(func(e *Element) bool {
		if e.Is(nsSAML1, "NameIdentifier") {
			out = e.Text()
			return false
		}
		return true
	})
	return out
}

// flipSignature changes one character of the SignatureValue.
func flipSignature(t *testing.T, doc []byte) []byte {
	t.Helper()
	s := string(doc)
	i := strings.Index(s, "<ds:SignatureValue>")
	if i < 0 {
		t.Fatal("no SignatureValue")
	}
	i += len("<ds:SignatureValue>") + 10
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return []byte(s[:i] + string(c) + s[i+1:])
}

// wrapEvilFirst builds signature-wrapping variants of a signed RSTR: an
// evil copy of the assertion (another user) is put first in
// RequestedSecurityToken. With sameID the evil copy keeps the assertion id
// and the original moves into a ds:Object of the evil copy's signature
// (XSW "Object" variant); without, the evil copy has its own id and carries
// the original's signature.
func wrapEvilFirst(t *testing.T, signed []byte, sameID bool) []byte {
	t.Helper()
	s := string(signed)
	start := strings.Index(s, "<saml:Assertion")
	end := strings.Index(s, "</saml:Assertion>") + len("</saml:Assertion>")
	if start < 0 || end < start {
		t.Fatal("no assertion in the signed token")
	}
	orig := s[start:end]
	evil := strings.ReplaceAll(orig, "QWxpY2UxMjM0NTY3ODkwMTI=", "RXZpbEV2aWxFdmlsRXZpbA==")
	if !sameID {
		i := strings.Index(evil, `AssertionID="`) + len(`AssertionID="`)
		evil = evil[:i] + "_evil" + evil[i:]
		return []byte(s[:start] + evil + orig + s[end:])
	}
	// Keep the original (declaring its namespace) inside a ds:Object.
	obj := "<ds:Object>" + orig + "</ds:Object>"
	j := strings.LastIndex(evil, "</ds:Signature>")
	evil = evil[:j] + obj + evil[j:]
	return []byte(s[:start] + evil + s[end:])
}

// TestXmlsec1SignedTokens checks the verifier against tokens signed by
// xmlsec1: the good ones verify, every broken one fails with its error.
func TestXmlsec1SignedTokens(t *testing.T) {
	good := xmlsectest.Key(t, "good", 2048)
	other := xmlsectest.Key(t, "other", 2048)
	weak := xmlsectest.Key(t, "weak", 1024)
	now := time.Now()
	base := func() xmlsectest.WSFed {
		return xmlsectest.DefaultWSFed("https://idp.example/issuer/fabrikam.com", "QWxpY2UxMjM0NTY3ODkwMTI=", "alice@fabrikam.com", now)
	}
	sign := func(w xmlsectest.WSFed, k *xmlsectest.KeyPair) []byte {
		return xmlsectest.Sign(t, w.Render(t), k, xmlsectest.SAML11IDs)
	}
	signed := sign(base(), good)

	tests := []struct {
		name string
		doc  func() []byte
		keys []*xmlsectest.KeyPair
		want error // nil: verifies
	}{
		{"good", func() []byte { return signed }, []*xmlsectest.KeyPair{good}, nil},
		{"good, next certificate", func() []byte { return signed }, []*xmlsectest.KeyPair{other, good}, nil},
		{"good, no KeyInfo", func() []byte {
			w := base()
			w.NoKeyInfo = true
			return sign(w, good)
		}, []*xmlsectest.KeyPair{other, good}, nil},
		{"InclusiveNamespaces PrefixList", func() []byte {
			w := base()
			w.PrefixList = "saml t #default"
			return sign(w, good)
		}, []*xmlsectest.KeyPair{good}, nil},
		{"comment inside NameIdentifier", func() []byte {
			w := base()
			w.NameID = "QWxpY2Ux<!-- x -->MjM0NTY3ODkwMTI="
			return sign(w, good)
		}, []*xmlsectest.KeyPair{good}, nil},
		{"tampered NameIdentifier", func() []byte {
			return bytes.Replace(signed, []byte(">QWxpY2UxMjM0NTY3ODkwMTI=<"), []byte(">Qm9iMTIzNDU2Nzg5MDEyMzQ=<"), 1)
		}, []*xmlsectest.KeyPair{good}, ErrDigestMismatch},
		{"tampered issuer", func() []byte {
			return bytes.Replace(signed, []byte(`Issuer="https://idp.example/issuer/fabrikam.com"`), []byte(`Issuer="https://evil.example/"`), 1)
		}, []*xmlsectest.KeyPair{good}, ErrDigestMismatch},
		{"tampered signature value", func() []byte { return flipSignature(t, signed) }, []*xmlsectest.KeyPair{good}, ErrBadSignature},
		{"re-signed by another key, its certificate in KeyInfo", func() []byte { return sign(base(), other) }, []*xmlsectest.KeyPair{good}, ErrUntrustedKey},
		{"re-signed by another key, no KeyInfo", func() []byte {
			w := base()
			w.NoKeyInfo = true
			return sign(w, other)
		}, []*xmlsectest.KeyPair{good}, ErrBadSignature},
		{"rsa-sha1", func() []byte {
			w := base()
			w.SignatureAlgorithm, w.DigestAlgorithm = xmlsectest.RSASHA1, xmlsectest.SHA1
			return sign(w, good)
		}, []*xmlsectest.KeyPair{good}, ErrUnsupportedAlgorithm},
		{"sha1 digest", func() []byte {
			w := base()
			w.DigestAlgorithm = xmlsectest.SHA1
			return sign(w, good)
		}, []*xmlsectest.KeyPair{good}, ErrUnsupportedAlgorithm},
		{"reference to the whole document", func() []byte {
			w := base()
			w.WholeDocument = true
			return sign(w, good)
		}, []*xmlsectest.KeyPair{good}, ErrReference},
		{"1024-bit key", func() []byte { return sign(base(), weak) }, []*xmlsectest.KeyPair{weak}, ErrWeakKey},
		{"unsigned", func() []byte {
			w := base()
			w.Unsigned = true
			return w.Render(t)
		}, []*xmlsectest.KeyPair{good}, ErrNoSignature},
		{"wrapping: evil assertion first, carrying the good signature", func() []byte {
			return wrapEvilFirst(t, signed, false)
		}, []*xmlsectest.KeyPair{good}, ErrReference},
		{"wrapping: evil assertion with the same id, original in ds:Object", func() []byte {
			return wrapEvilFirst(t, signed, true)
		}, []*xmlsectest.KeyPair{good}, ErrReference},
		{"wrapping: evil assertion with the same id, original removed", func() []byte {
			return bytes.Replace(signed, []byte(">QWxpY2UxMjM0NTY3ODkwMTI=<"), []byte(">RXZpbEV2aWxFdmlsRXZpbA==<"), -1)
		}, []*xmlsectest.KeyPair{good}, ErrDigestMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.doc()
			v, err := verifyWSFed(t, doc, tc.keys...)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("verification failed: %v\n%s", err, doc)
				}
				if got := nameIDOf(v); got != "QWxpY2UxMjM0NTY3ODkwMTI=" {
					t.Errorf("NameIdentifier of the verified element = %q", got)
				}
				// xmlsec1 agrees.
				if err := xmlsectest.Verify(t, doc, good.CertFile, xmlsectest.SAML11IDs); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
