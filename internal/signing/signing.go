// Package signing makes and handles the per-application signing
// certificates of DESIGN.md ("Signing certificate"): an RSA-2048 key and a
// self-signed X.509 certificate (SHA-256 with RSA, three years), used both to
// sign WS-Federation/SAML tokens and to authenticate Portico to Microsoft
// Entra with a JWT client assertion (M365-CONTRACT.md §1).
//
// Keys are handled as crypto.Signer so that an HSM or KMS key can replace the
// in-memory RSA key later; the in-memory key is serialised as PKCS#8 DER
// (RFC 5208) for storage, which the caller encrypts with package secrets.
//
// Exports: PEM (RFC 7468 "CERTIFICATE"), DER (what Windows calls a .cer
// file), base64 of the DER on one line (Graph internalDomainFederation
// signingCertificate / nextSigningCertificate, M365-CONTRACT.md §3), SHA-1
// thumbprint as the Azure portal shows it (upper-case hex, no separators) and
// SHA-256 thumbprint.
package signing

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"
)

const (
	// KeyBits is the RSA modulus size. Microsoft documents RSA signing
	// certificates of at least 2048 bits for federation (M365-CONTRACT.md §4).
	KeyBits = 2048
	// DefaultValidity is three years (DESIGN.md, issue 5 item 2).
	DefaultValidity = 3 * 365 * 24 * time.Hour
	// backdate covers clock skew between Portico and relying parties that
	// check NotBefore.
	backdate = 5 * time.Minute
)

// Options parameterise certificate creation. Zero values take defaults.
type Options struct {
	// CommonName is the subject and issuer CN, e.g. "Portico signing - contoso/office365".
	CommonName string
	// Validity of the certificate; DefaultValidity if zero.
	Validity time.Duration
	// Rand supplies the serial number (and is passed to the crypto library,
	// which since Go 1.26 ignores it for key generation and signing); nil
	// means crypto/rand.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o Options) rand() io.Reader {
	if o.Rand == nil {
		return rand.Reader
	}
	return o.Rand
}

func (o Options) now() time.Time {
	if o.Now == nil {
		return time.Now().UTC()
	}
	return o.Now().UTC()
}

// Certificate is a signing key with its self-signed certificate.
type Certificate struct {
	// Cert is the parsed X.509 certificate.
	Cert *x509.Certificate
	// Signer signs with the certificate's private key.
	Signer crypto.Signer
}

// Generate creates a new RSA-2048 key and a self-signed certificate for it.
func Generate(opts Options) (*Certificate, error) {
	key, err := rsa.GenerateKey(opts.rand(), KeyBits)
	if err != nil {
		return nil, fmt.Errorf("signing: generating RSA key: %w", err)
	}
	return NewCertificate(key, opts)
}

// NewCertificate makes a self-signed certificate for an existing key (for
// example one held in an HSM). The key must be RSA of at least 2048 bits.
func NewCertificate(signer crypto.Signer, opts Options) (*Certificate, error) {
	pub, ok := signer.Public().(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("signing: key type %T is not RSA", signer.Public())
	}
	if pub.N.BitLen() < KeyBits {
		return nil, fmt.Errorf("signing: RSA key of %d bits, need at least %d", pub.N.BitLen(), KeyBits)
	}
	if strings.TrimSpace(opts.CommonName) == "" {
		return nil, errors.New("signing: certificate needs a common name")
	}
	validity := opts.Validity
	if validity <= 0 {
		validity = DefaultValidity
	}
	// RFC 5280 §4.1.2.2: a positive serial of at most 20 octets; 128 random
	// bits as CA/B Forum practice (≥ 64 bits of entropy).
	var sb [16]byte
	if _, err := io.ReadFull(opts.rand(), sb[:]); err != nil {
		return nil, fmt.Errorf("signing: serial number: %w", err)
	}
	sb[0] &= 0x7f
	serial := new(big.Int).SetBytes(sb[:])
	if serial.Sign() == 0 {
		serial.SetInt64(1)
	}
	now := opts.now().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.CommonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(opts.rand(), tmpl, tmpl, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("signing: creating certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("signing: parsing new certificate: %w", err)
	}
	return &Certificate{Cert: cert, Signer: signer}, nil
}

// Load rebuilds a Certificate from stored DER certificate bytes and a PKCS#8
// private key (after the caller has decrypted it), checking they match.
func Load(certDER, pkcs8 []byte) (*Certificate, error) {
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("signing: parsing certificate: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		return nil, fmt.Errorf("signing: parsing PKCS#8 key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing: key type %T cannot sign", k)
	}
	return FromSigner(cert, signer)
}

// FromSigner pairs a parsed certificate with a signer (an HSM/KMS key, say)
// after checking that the signer's public key is the certificate's.
func FromSigner(cert *x509.Certificate, signer crypto.Signer) (*Certificate, error) {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := signer.Public().(equaler)
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("signing: private key does not match certificate")
	}
	return &Certificate{Cert: cert, Signer: signer}, nil
}

// MarshalPKCS8 returns the private key as PKCS#8 DER for storage. It fails
// for signers whose key cannot leave their device (HSM, KMS); those are
// stored by reference instead.
func (c *Certificate) MarshalPKCS8() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(c.Signer)
	if err != nil {
		return nil, fmt.Errorf("signing: key of type %T is not exportable as PKCS#8: %w", c.Signer, err)
	}
	return der, nil
}

// DER returns the certificate's DER bytes (the content of a .cer file).
func (c *Certificate) DER() []byte { return bytes.Clone(c.Cert.Raw) }

// PEM returns the certificate as a PEM "CERTIFICATE" block.
func (c *Certificate) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

// Base64 returns standard base64 of the DER on one line, no PEM armour: the
// form of Graph's signingCertificate and of XML-DSig X509Certificate.
func (c *Certificate) Base64() string { return base64.StdEncoding.EncodeToString(c.Cert.Raw) }

// ThumbprintSHA1 returns the SHA-1 hash of the DER in upper-case hex without
// separators, as the Azure portal and Windows show it.
func (c *Certificate) ThumbprintSHA1() string {
	s := sha1.Sum(c.Cert.Raw)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// ThumbprintSHA256 returns the SHA-256 hash of the DER in upper-case hex.
func (c *Certificate) ThumbprintSHA256() string {
	s := sha256.Sum256(c.Cert.Raw)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// Chain returns the certificate chain as DER blocks (just the self-signed
// certificate), the shape goxmldsig's NewSigningContext takes.
func (c *Certificate) Chain() [][]byte { return [][]byte{c.Cert.Raw} }

// ParsePEM parses the first CERTIFICATE block of PEM data.
func ParsePEM(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("signing: no CERTIFICATE block in PEM data")
		}
		if b.Type == "CERTIFICATE" {
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("signing: parsing PEM certificate: %w", err)
			}
			return cert, nil
		}
	}
}
