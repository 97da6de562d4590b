// Package xmlsectest makes federation tokens for m365sim's tests: it fills
// the WS-Federation (SAML 1.1 in a WS-Trust RSTR) and SAML 2.0 Response
// templates in testdata and signs them with xmlsec1, the independent
// reference implementation of XML Signature (Debian package xmlsec1; see
// TESTING.md). Only tests import it.
//
// Tests that need xmlsec1 call Require: it skips the test when xmlsec1 is
// absent and the CI environment variable is unset, and fails it in CI.
package xmlsectest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"embed"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"
)

//go:embed testdata/*.tmpl
var templates embed.FS

var tmpl = template.Must(template.ParseFS(templates, "testdata/*.tmpl"))

// Algorithm URIs for the templates.
const (
	RSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	RSASHA1   = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	SHA256    = "http://www.w3.org/2001/04/xmlenc#sha256"
	SHA1      = "http://www.w3.org/2000/09/xmldsig#sha1"
)

// ID attribute declarations for xmlsec1 (without them "#id" is not found).
var (
	SAML11IDs = []string{"AssertionID urn:oasis:names:tc:SAML:1.0:assertion:Assertion"}
	SAML2IDs  = []string{"ID urn:oasis:names:tc:SAML:2.0:protocol:Response", "ID urn:oasis:names:tc:SAML:2.0:assertion:Assertion"}
)

// Require returns the path of xmlsec1, skipping the test when it is absent
// outside CI and failing it in CI.
func Require(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("xmlsec1")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("xmlsec1 is not installed (apt-get install xmlsec1); skipped outside CI")
		}
		t.Fatal("xmlsec1 is required in CI: apt-get install xmlsec1")
	}
	return p
}

// KeyPair is an RSA key with a self-signed certificate, also written as PEM
// files for xmlsec1.
type KeyPair struct {
	Key      *rsa.PrivateKey
	Cert     *x509.Certificate
	KeyFile  string
	CertFile string
}

// B64 is the certificate as base64 DER, the form of signingCertificate.
func (k *KeyPair) B64() string { return base64.StdEncoding.EncodeToString(k.Cert.Raw) }

var (
	keyMu    sync.Mutex
	keyCache = map[string]*KeyPair{}
	keyDir   string
)

// Key returns a key pair named name (cached for the test binary: RSA key
// generation is slow). bits is the modulus size.
func Key(t testing.TB, name string, bits int) *KeyPair {
	t.Helper()
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := keyCache[name]; ok {
		return k
	}
	if keyDir == "" {
		d, err := os.MkdirTemp("", "xmlsectest-keys-")
		if err != nil {
			t.Fatal(err)
		}
		keyDir = d
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(365 * 24 * time.Hour), SubjectKeyId: []byte(name)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	k := &KeyPair{Key: key, Cert: cert, KeyFile: filepath.Join(keyDir, name+".key.pem"), CertFile: filepath.Join(keyDir, name+".cert.pem")}
	kp := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	cp := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(k.KeyFile, kp, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.CertFile, cp, 0o600); err != nil {
		t.Fatal(err)
	}
	keyCache[name] = k
	return k
}

// Time formats an instant as SAML writes it (xs:dateTime, UTC, milliseconds).
func Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// WSFed are the values of the WS-Federation RSTR template.
type WSFed struct {
	ID, Issuer, Audience, AppliesTo, NameID, ImmutableID, UPN string
	Created, NotBefore, NotOnOrAfter                          string
	AuthMethod                                                string
	MFAAttribute, MFAAttributeNS                              string
	SignatureAlgorithm, DigestAlgorithm, ReferenceURI         string
	PrefixList                                                string
	Unsigned, NoKeyInfo                                       bool
	// WholeDocument signs with Reference URI="" instead of "#ID".
	WholeDocument bool
	// Before and After are raw XML placed around the assertion inside
	// RequestedSecurityToken (for wrapping attacks).
	Before, After string
}

// DefaultWSFed returns a valid token's values for a user, issued now.
func DefaultWSFed(issuer, immutableID, upn string, now time.Time) WSFed {
	return WSFed{ID: "_" + randHex(16), Issuer: issuer, Audience: "urn:federation:MicrosoftOnline", AppliesTo: "urn:federation:MicrosoftOnline",
		NameID: immutableID, ImmutableID: immutableID, UPN: upn,
		Created: Time(now), NotBefore: Time(now.Add(-time.Minute)), NotOnOrAfter: Time(now.Add(time.Hour)),
		AuthMethod: "urn:oasis:names:tc:SAML:1.0:am:password", SignatureAlgorithm: RSASHA256, DigestAlgorithm: SHA256}
}

// Render fills the RSTR template.
func (w WSFed) Render(t testing.TB) []byte {
	t.Helper()
	if w.ReferenceURI == "" && !w.WholeDocument {
		w.ReferenceURI = "#" + w.ID
	}
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, "wsfed-rstr.xml.tmpl", w); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// SAML2 are the values of the SAML 2.0 Response template.
type SAML2 struct {
	ResponseID, AssertionID, InResponseTo, Destination, Recipient  string
	Issuer, Audience, NameID, NameIDFormat, IDPEmail, AuthnContext string
	StatusCode                                                     string
	Created, NotBefore, NotOnOrAfter, SubjectNotOnOrAfter          string
	SignatureAlgorithm, DigestAlgorithm, ReferenceURI              string
	Unsigned, NoKeyInfo                                            bool
	Before, After                                                  string
}

// DefaultSAML2 returns a valid Response's values.
func DefaultSAML2(issuer, immutableID, upn, inResponseTo, acs string, now time.Time) SAML2 {
	return SAML2{ResponseID: "_" + randHex(16), AssertionID: "_" + randHex(16), InResponseTo: inResponseTo, Destination: acs, Recipient: acs,
		Issuer: issuer, Audience: "urn:federation:MicrosoftOnline", NameID: immutableID,
		NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent", IDPEmail: upn,
		AuthnContext: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
		StatusCode:   "urn:oasis:names:tc:SAML:2.0:status:Success",
		Created:      Time(now), NotBefore: Time(now.Add(-time.Minute)), NotOnOrAfter: Time(now.Add(time.Hour)),
		SubjectNotOnOrAfter: Time(now.Add(5 * time.Minute)), SignatureAlgorithm: RSASHA256, DigestAlgorithm: SHA256}
}

// Render fills the Response template.
func (s SAML2) Render(t testing.TB) []byte {
	t.Helper()
	if s.ReferenceURI == "" {
		s.ReferenceURI = "#" + s.AssertionID
	}
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, "saml2-response.xml.tmpl", s); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Sign signs the first ds:Signature template of doc with xmlsec1 and the key
// pair; ids declare the id attributes ("AttrName ns:Element").
func Sign(t testing.TB, doc []byte, k *KeyPair, ids []string) []byte {
	t.Helper()
	bin := Require(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "template.xml")
	out := filepath.Join(dir, "signed.xml")
	if err := os.WriteFile(in, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--sign", "--privkey-pem", k.KeyFile + "," + k.CertFile}
	args = append(args, idArgs(ids)...)
	args = append(args, "--output", out, in)
	cmd := exec.Command(bin, args...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xmlsec1 --sign: %v\n%s\n%s", err, msg, doc)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Verify checks doc's first signature with xmlsec1 against certFile only
// (KeyInfo is not trusted).
func Verify(t testing.TB, doc []byte, certFile string, ids []string) error {
	t.Helper()
	bin := Require(t)
	in := filepath.Join(t.TempDir(), "doc.xml")
	if err := os.WriteFile(in, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--verify", "--pubkey-cert-pem", certFile, "--enabled-key-data", "key-name"}
	args = append(args, idArgs(ids)...)
	args = append(args, in)
	msg, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return &VerifyError{Output: string(msg)}
	}
	return nil
}

// VerifyError carries xmlsec1's output.
type VerifyError struct{ Output string }

func (e *VerifyError) Error() string { return "xmlsec1 --verify failed: " + e.Output }

func idArgs(ids []string) []string {
	var out []string
	for _, id := range ids {
		attr, node, _ := strings.Cut(id, " ")
		out = append(out, "--id-attr:"+attr, node)
	}
	return out
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	const hx = "0123456789abcdef"
	out := make([]byte, 0, 2*n)
	for _, c := range b {
		out = append(out, hx[c>>4], hx[c&0xf])
	}
	return string(out)
}
