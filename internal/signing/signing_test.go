package signing

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return fixedNow }

func detRand(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

func newCert(t *testing.T) *Certificate {
	t.Helper()
	c, err := Generate(Options{CommonName: "Portico test signing", Rand: detRand(1), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGenerate(t *testing.T) {
	c := newCert(t)
	cert := c.Cert
	if got := cert.PublicKey.(*rsa.PublicKey).N.BitLen(); got != 2048 {
		t.Errorf("key bits %d", got)
	}
	if cert.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("signature algorithm %v", cert.SignatureAlgorithm)
	}
	if cert.Subject.CommonName != "Portico test signing" || cert.Issuer.CommonName != "Portico test signing" {
		t.Errorf("subject %v issuer %v", cert.Subject, cert.Issuer)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if d := cert.NotAfter.Sub(fixedNow); d != DefaultValidity {
		t.Errorf("validity %v, want 3 years", d)
	}
	if cert.NotBefore.After(fixedNow) {
		t.Errorf("NotBefore %v after now", cert.NotBefore)
	}
	if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() < 64 {
		t.Errorf("serial %v", cert.SerialNumber)
	}
	c2, _ := Generate(Options{CommonName: "x", Rand: detRand(2), Now: clock})
	if c2.Cert.SerialNumber.Cmp(cert.SerialNumber) == 0 {
		t.Error("serials repeat across random sources")
	}
	if _, err := Generate(Options{Now: clock}); err == nil {
		t.Error("accepted empty common name")
	}
}

func TestNewCertificateDeterministic(t *testing.T) {
	// Same key, same clock, same randomness: byte-identical certificate (golden
	// files in idp/assertion rely on this).
	c := newCert(t)
	a, err := NewCertificate(c.Signer, Options{CommonName: "g", Rand: detRand(5), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewCertificate(c.Signer, Options{CommonName: "g", Rand: detRand(5), Now: clock})
	if !bytes.Equal(a.DER(), b.DER()) {
		t.Fatal("certificate not deterministic")
	}
}

func TestRejectWeakKey(t *testing.T) {
	k, err := rsa.GenerateKey(detRand(1), 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewCertificate(k, Options{CommonName: "weak"}); err == nil {
		t.Fatal("accepted a 1024-bit key")
	}
}

func TestPKCS8RoundTrip(t *testing.T) {
	c := newCert(t)
	p8, err := c.MarshalPKCS8()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(c.DER(), p8)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("hello"))
	sig, err := back.Signer.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(c.Cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("reloaded key signs differently: %v", err)
	}
	other := newCertSeed(t, 3)
	p8other, _ := other.MarshalPKCS8()
	if _, err := Load(c.DER(), p8other); err == nil {
		t.Fatal("Load accepted a key that does not match the certificate")
	}
}

func newCertSeed(t *testing.T, seed byte) *Certificate {
	t.Helper()
	c, err := Generate(Options{CommonName: "other", Rand: detRand(seed), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// opaqueSigner hides the concrete key type, as an HSM signer does.
type opaqueSigner struct{ crypto.Signer }

func TestOpaqueSignerNotExportable(t *testing.T) {
	c := newCert(t)
	hsm, err := FromSigner(c.Cert, opaqueSigner{c.Signer})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hsm.MarshalPKCS8(); err == nil {
		t.Fatal("opaque signer exported as PKCS#8")
	}
}

func TestExports(t *testing.T) {
	c := newCert(t)
	sum1 := sha1.Sum(c.Cert.Raw)
	if got, want := c.ThumbprintSHA1(), strings.ToUpper(hex.EncodeToString(sum1[:])); got != want {
		t.Fatalf("sha1 thumbprint %s want %s", got, want)
	}
	if !regexp.MustCompile(`^[0-9A-F]{40}$`).MatchString(c.ThumbprintSHA1()) {
		t.Fatalf("sha1 thumbprint not in portal format: %s", c.ThumbprintSHA1())
	}
	if !regexp.MustCompile(`^[0-9A-F]{64}$`).MatchString(c.ThumbprintSHA256()) {
		t.Fatalf("sha256 thumbprint format: %s", c.ThumbprintSHA256())
	}
	b64 := c.Base64()
	if strings.ContainsAny(b64, "\r\n -") {
		t.Fatal("base64 export not on one line / has armour")
	}
	if raw, _ := base64.StdEncoding.DecodeString(b64); !bytes.Equal(raw, c.DER()) {
		t.Fatal("base64 export is not the DER")
	}
	p, err := ParsePEM(append([]byte("junk\n"), c.PEM()...))
	if err != nil || !p.Equal(c.Cert) {
		t.Fatalf("PEM round trip: %v", err)
	}
	if !bytes.HasPrefix(c.PEM(), []byte("-----BEGIN CERTIFICATE-----\n")) {
		t.Fatal("PEM header")
	}
	if len(c.Chain()) != 1 || !bytes.Equal(c.Chain()[0], c.DER()) {
		t.Fatal("chain")
	}
}

// TestThumbprintMatchesOpenSSL checks our thumbprints and exports against
// OpenSSL, an independent implementation.
func TestThumbprintMatchesOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		// .ci/run does not install openssl (it is on Debian images by
		// default); skip rather than fail CI on a machine without it.
		t.Skip("openssl not on PATH")
	}
	c := newCert(t)
	dir := t.TempDir()
	pemPath, derPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "c.cer")
	os.WriteFile(pemPath, c.PEM(), 0o600)
	os.WriteFile(derPath, c.DER(), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"x509", "-in", pemPath, "-noout", "-fingerprint", "-sha1"}, c.ThumbprintSHA1()},
		{[]string{"x509", "-inform", "DER", "-in", derPath, "-noout", "-fingerprint", "-sha256"}, c.ThumbprintSHA256()},
	} {
		out, err := exec.Command("openssl", tc.args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %v: %v\n%s", tc.args, err, out)
		}
		_, fp, _ := strings.Cut(strings.TrimSpace(string(out)), "=")
		if got := strings.ReplaceAll(fp, ":", ""); got != tc.want {
			t.Fatalf("openssl says %s, we say %s", got, tc.want)
		}
	}
	out, err := exec.Command("openssl", "x509", "-in", pemPath, "-noout", "-text").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sha256WithRSAEncryption", "Public-Key: (2048 bit)", "Portico test signing"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("openssl -text lacks %q", want)
		}
	}
}

func TestSetPromote(t *testing.T) {
	cur, next := newCert(t), newCertSeed(t, 4)
	s := Set{Current: cur, Next: next}
	if got := s.Published(); len(got) != 2 || got[0] != cur || got[1] != next {
		t.Fatal("Published order")
	}
	p, retired, err := s.Promote()
	if err != nil || p.Current != next || p.Next != nil || retired != cur {
		t.Fatalf("Promote: %+v %v %v", p, retired, err)
	}
	if _, _, err := p.Promote(); !errors.Is(err, ErrNoNext) {
		t.Fatalf("promote without next: %v", err)
	}
	if s.ExpiresWithin(fixedNow, 30*24*time.Hour) {
		t.Fatal("fresh cert reported as expiring")
	}
	if !s.ExpiresWithin(fixedNow.Add(DefaultValidity-24*time.Hour), 30*24*time.Hour) {
		t.Fatal("expiring cert not reported")
	}
}

func decodeJWT(t *testing.T, jwt string) (header map[string]string, claims map[string]any, input string, sig []byte) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("jwt has %d parts", len(parts))
	}
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(hb, &header); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(cb, &claims); err != nil {
		t.Fatal(err)
	}
	return header, claims, parts[0] + "." + parts[1], sig
}

func TestClientAssertion(t *testing.T) {
	c := newCert(t)
	pub := c.Cert.PublicKey.(*rsa.PublicKey)
	aud := "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token"
	for _, alg := range []JWTAlg{RS256, PS256} {
		t.Run(string(alg), func(t *testing.T) {
			jwt, err := ClientAssertion{ClientID: "app-id", Audience: aud, Alg: alg, Now: clock, Rand: detRand(7), Lifetime: 10 * time.Minute}.Sign(c)
			if err != nil {
				t.Fatal(err)
			}
			h, cl, input, sig := decodeJWT(t, jwt)
			digest := sha256.Sum256([]byte(input))
			s1 := sha1.Sum(c.Cert.Raw)
			s256 := sha256.Sum256(c.Cert.Raw)
			switch alg {
			case RS256:
				if h["x5t"] != base64.RawURLEncoding.EncodeToString(s1[:]) || h["x5t#S256"] != "" {
					t.Fatalf("header %v", h)
				}
				if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
					t.Fatalf("RS256 signature: %v", err)
				}
			case PS256:
				if h["x5t#S256"] != base64.RawURLEncoding.EncodeToString(s256[:]) || h["x5t"] != "" {
					t.Fatalf("header %v", h)
				}
				if err := rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}); err != nil {
					t.Fatalf("PS256 signature: %v", err)
				}
			}
			if h["alg"] != string(alg) || h["typ"] != "JWT" {
				t.Fatalf("header %v", h)
			}
			if cl["aud"] != aud || cl["iss"] != "app-id" || cl["sub"] != "app-id" {
				t.Fatalf("claims %v", cl)
			}
			if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(cl["jti"].(string)) {
				t.Fatalf("jti %v", cl["jti"])
			}
			now := float64(fixedNow.Unix())
			if cl["nbf"] != now || cl["iat"] != now || cl["exp"] != now+600 {
				t.Fatalf("times %v %v %v", cl["nbf"], cl["iat"], cl["exp"])
			}
		})
	}
	if _, err := (ClientAssertion{ClientID: "a", Audience: aud, Lifetime: 11 * time.Minute}).Sign(c); err == nil {
		t.Fatal("accepted an 11-minute assertion")
	}
	a1, _ := ClientAssertion{ClientID: "a", Audience: aud, Now: clock}.Sign(c)
	a2, _ := ClientAssertion{ClientID: "a", Audience: aud, Now: clock}.Sign(c)
	_, c1, _, _ := decodeJWT(t, a1)
	_, c2, _, _ := decodeJWT(t, a2)
	if c1["jti"] == c2["jti"] {
		t.Fatal("jti repeats")
	}
}
