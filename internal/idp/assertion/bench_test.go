package assertion

import (
	"crypto"
	"crypto/sha256"
	"io"
	"testing"
	"time"
)

// Run with: go test -run '^$' -bench . -cpu 1 -benchtime 5s ./internal/idp/assertion
//
// BenchmarkWSFedResponse and BenchmarkRSASign use the same key, so the ratio
// of their ns/op (RSASign / WSFedResponse) is the fraction of time a signed
// WS-Fed response spends in RSA; the goal is ≥ 0.9.

var benchClaims = Claims{
	Issuer:      "https://portico.example/t/contoso/apps/office365/issuer/contoso.com",
	ImmutableID: "AAECAwQFBgcICQoLDA0ODw==",
	UPN:         "john.smith@contoso.com",
	MFA:         true,
}

func BenchmarkWSFedResponse(b *testing.B) {
	s, _ := testSigner(b)
	o := Options{Now: clock}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BuildWSFedResponse(o, s, benchClaims); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRSASign(b *testing.B) {
	_, c := testSigner(b)
	digest := sha256.Sum256([]byte("SignedInfo"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Signer.Sign(nil, digest[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWSFedVsRSA interleaves the two measurements in batches so that
// load from other processes on a shared machine hits both alike, and
// reports responses/s, signatures/s and their ratio (goal ≥ 0.9).
func BenchmarkWSFedVsRSA(b *testing.B) {
	s, c := testSigner(b)
	o := Options{Now: clock}
	digest := sha256.Sum256([]byte("SignedInfo"))
	const batch = 20
	var tWS, tRSA time.Duration
	var n int
	for b.Loop() {
		start := time.Now()
		for range batch {
			if _, err := BuildWSFedResponse(o, s, benchClaims); err != nil {
				b.Fatal(err)
			}
		}
		mid := time.Now()
		for range batch {
			if _, err := c.Signer.Sign(nil, digest[:], crypto.SHA256); err != nil {
				b.Fatal(err)
			}
		}
		tWS += mid.Sub(start)
		tRSA += time.Since(mid)
		n += batch
	}
	ws := float64(n) / tWS.Seconds()
	rsa := float64(n) / tRSA.Seconds()
	b.ReportMetric(ws, "wsfed/s")
	b.ReportMetric(rsa, "rsa-sign/s")
	b.ReportMetric(ws/rsa, "ratio")
}

// BenchmarkSAML11Goxmldsig is the straightforward path (etree tree,
// goxmldsig canonicalisation and signing, etree serialisation) kept as the
// reference in reference_test.go; BenchmarkSAML11Fast is the path in use.
// Their difference is the XML overhead the canonical writer saves.
func BenchmarkSAML11Goxmldsig(b *testing.B) {
	s, _ := testSigner(b)
	o := Options{Now: clock}
	b.ReportAllocs()
	for b.Loop() {
		referenceSAML11(b, o, s, benchClaims)
	}
}

func BenchmarkSAML11Fast(b *testing.B) {
	s, _ := testSigner(b)
	o := Options{Now: clock}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BuildSAML11Assertion(o, s, benchClaims); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkXMLOnly measures the XML work of a WS-Fed response without the
// RSA operation (a signer that returns a fixed signature), for both paths.
func BenchmarkXMLOnly(b *testing.B) {
	_, c := testSigner(b)
	s, err := NewSigner(fakeRSA{c.Signer}, c.Chain())
	if err != nil {
		b.Fatal(err)
	}
	o := Options{Now: clock}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := BuildWSFedResponse(o, s, benchClaims); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("goxmldsig", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			referenceSAML11(b, o, s, benchClaims)
		}
	})
}

// fakeRSA returns a constant 256-byte "signature": it isolates XML cost.
type fakeRSA struct{ crypto.Signer }

func (f fakeRSA) Sign(_ io.Reader, _ []byte, _ crypto.SignerOpts) ([]byte, error) {
	return make([]byte, 256), nil
}
