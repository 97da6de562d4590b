package idptest

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// xmlsec1 --id-attr arguments (TESTING.md): without them xmlsec1 cannot
// resolve the signature's #id reference.
const (
	IDAttrSAML11   = "AssertionID urn:oasis:names:tc:SAML:1.0:assertion:Assertion"
	IDAttrSAML2    = "ID urn:oasis:names:tc:SAML:2.0:assertion:Assertion"
	IDAttrResponse = "ID urn:oasis:names:tc:SAML:2.0:protocol:Response"
	IDAttrMetadata = "ID urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor"
)

// RequireXMLSec returns the path of xmlsec1. Without it the test is
// skipped locally and fails when CI is set, so CI can never pass without
// the independent check.
func RequireXMLSec(tb testing.TB) string {
	tb.Helper()
	p, err := exec.LookPath("xmlsec1")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("xmlsec1 not on PATH in CI (apt-get install -y xmlsec1): %v", err)
		}
		tb.Skip("xmlsec1 not on PATH (apt-get install -y xmlsec1); CI fails instead of skipping")
	}
	return p
}

// XMLSecVerify runs `xmlsec1 --verify` on doc with cert as the only key it
// may use (--enabled-key-data key-name: the certificate inside KeyInfo is
// ignored, as a relying party must). idAttrs are "attr node" pairs for
// --id-attr. It returns xmlsec1's verdict and output.
func XMLSecVerify(tb testing.TB, doc []byte, cert *x509.Certificate, idAttrs ...string) (bool, string) {
	tb.Helper()
	bin := RequireXMLSec(tb)
	dir := tb.TempDir()
	certPath := filepath.Join(dir, "cert.pem")
	docPath := filepath.Join(dir, "doc.xml")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(docPath, doc, 0o600); err != nil {
		tb.Fatal(err)
	}
	args := []string{"--verify", "--pubkey-cert-pem", certPath, "--enabled-key-data", "key-name"}
	for _, a := range idAttrs {
		name, node, _ := strings.Cut(a, " ")
		args = append(args, "--id-attr:"+name, node)
	}
	args = append(args, docPath)
	out, err := exec.Command(bin, args...).CombinedOutput()
	return err == nil && bytes.Contains(out, []byte("OK")), string(out)
}

// MustXMLSecVerify fails the test unless xmlsec1 verifies doc with cert.
func MustXMLSecVerify(tb testing.TB, doc []byte, cert *x509.Certificate, idAttrs ...string) {
	tb.Helper()
	if ok, out := XMLSecVerify(tb, doc, cert, idAttrs...); !ok {
		tb.Fatalf("xmlsec1 does not verify the document: %s\n%s", out, doc)
	}
}

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// Mask replaces Old with New in golden output.
type Mask struct{ Old, New string }

// Signature values, digests and certificates change with every generated
// key and every id.
var (
	maskSigValue = regexp.MustCompile(`(<ds:SignatureValue>)[^<]*(</ds:SignatureValue>)`)
	maskDigest   = regexp.MustCompile(`(<ds:DigestValue>)[^<]*(</ds:DigestValue>)`)
	maskCert     = regexp.MustCompile(`(<ds:X509Certificate>)[^<]*(</ds:X509Certificate>)`)
)

// Normalize applies masks and blanks signature values, digests and
// certificates.
func Normalize(got []byte, masks ...Mask) []byte {
	for _, m := range masks {
		if m.Old != "" {
			got = bytes.ReplaceAll(got, []byte(m.Old), []byte(m.New))
		}
	}
	got = maskSigValue.ReplaceAll(got, []byte("${1}{signature}${2}"))
	got = maskDigest.ReplaceAll(got, []byte("${1}{digest}${2}"))
	got = maskCert.ReplaceAll(got, []byte("${1}{certificate}${2}"))
	return got
}

// Golden compares got (normalized with masks) with testdata/<name>.golden
// of the test's package, rewriting it when the test runs with -update.
func Golden(tb testing.TB, name string, got []byte, masks ...Mask) {
	tb.Helper()
	got = Normalize(got, masks...)
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		tb.Fatalf("output differs from %s (run go test -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
