package assertion

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/portico-idp/portico/internal/signing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// fixedNow is the clock of every golden test.
var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return fixedNow }

// detRand is a deterministic random source (ChaCha8 seeded per test).
func detRand(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

func fixedOpts() Options { return Options{Now: clock, Rand: detRand(42)} }

// testCert loads the test-only key in testdata/signing-key.pem (made once
// with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`) and
// makes its certificate deterministically (fixed clock and serial), so
// golden files are stable.
func testCert(t testing.TB) *signing.Certificate {
	t.Helper()
	data, err := os.ReadFile("testdata/signing-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	c, err := signing.NewCertificate(k.(crypto.Signer), signing.Options{
		CommonName: "Portico test signing", Rand: detRand(1),
		Now: func() time.Time { return fixedNow.Add(-24 * time.Hour) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testSigner(t testing.TB) (*Signer, *signing.Certificate) {
	t.Helper()
	c := testCert(t)
	s, err := NewSigner(c.Signer, c.Chain())
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// otherSigner is a freshly generated key and certificate nobody trusts.
func otherSigner(t testing.TB) (*Signer, *signing.Certificate) {
	t.Helper()
	c, err := signing.Generate(signing.Options{CommonName: "Mallory", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(c.Signer, c.Chain())
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// golden compares got with testdata/<name>.golden, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s (run go test -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func parseDoc(t testing.TB, data []byte) *etree.Document {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		t.Fatalf("parse: %v\n%s", err, data)
	}
	return doc
}

// requireXMLSec returns the xmlsec1 path. Without xmlsec1 the test skips
// locally but fails in CI (CI set), so CI can never pass without the
// independent check.
func requireXMLSec(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("xmlsec1")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("xmlsec1 not on PATH in CI (apt-get install -y xmlsec1): %v", err)
		}
		t.Skip("xmlsec1 not on PATH (apt-get install -y xmlsec1); CI fails instead of skipping")
	}
	return p
}

// xmlsecVerify runs xmlsec1 --verify on doc with cert as the only trusted
// key (TESTING.md). idAttrs are the --id-attr arguments. It returns
// xmlsec1's verdict and output.
func xmlsecVerify(t *testing.T, doc []byte, cert *signing.Certificate, idAttrs ...string) (bool, string) {
	t.Helper()
	bin := requireXMLSec(t)
	dir := t.TempDir()
	certPath := filepath.Join(dir, "cert.pem")
	docPath := filepath.Join(dir, "doc.xml")
	if err := os.WriteFile(certPath, cert.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(docPath, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--verify", "--pubkey-cert-pem", certPath, "--enabled-key-data", "key-name"}
	for _, a := range idAttrs {
		name, node, _ := strings.Cut(a, " ")
		args = append(args, "--id-attr:"+name, node)
	}
	args = append(args, docPath)
	out, err := exec.Command(bin, args...).CombinedOutput()
	return err == nil && strings.Contains(string(out), "OK"), string(out)
}

const (
	idAttr11       = "AssertionID urn:oasis:names:tc:SAML:1.0:assertion:Assertion"
	idAttr2        = "ID urn:oasis:names:tc:SAML:2.0:assertion:Assertion"
	idAttr2Resp    = "ID urn:oasis:names:tc:SAML:2.0:protocol:Response"
	idAttrMetadata = "ID urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor"
)
