package apps

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func testCertDER(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Entra (test)"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestRequestSigningCertificates(t *testing.T) {
	der := testCertDER(t)
	b64 := base64.StdEncoding.EncodeToString(der)
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	s := &Office365Settings{RequestSigningCertificates: []string{b64, pemText, b64[:40] + "\n" + b64[40:]}}
	certs, err := s.RequestSigningCerts()
	if err != nil || len(certs) != 3 || !certs[0].Equal(certs[1]) || !certs[0].Equal(certs[2]) {
		t.Fatalf("parse: %v %d", err, len(certs))
	}
	if c, err := (*Office365Settings)(nil).RequestSigningCerts(); c != nil || err != nil {
		t.Fatal("nil settings")
	}

	app := Application{Name: "Office 365", Kind: KindOffice365, Office365: &Office365Settings{RequireSignedRequests: true}}
	if err := app.Validate(); err == nil || !strings.Contains(err.Error(), "requestSigningCertificates") {
		t.Fatalf("signing required without certificates: %v", err)
	}
	app.Office365.RequestSigningCertificates = []string{"not a certificate"}
	if err := app.Validate(); err == nil {
		t.Fatal("garbage certificate accepted")
	}
	app.Office365.RequestSigningCertificates = []string{pemText}
	if err := app.Validate(); err != nil {
		t.Fatal(err)
	}
}
