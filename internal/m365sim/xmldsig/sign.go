package xmldsig

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // rsa-sha1 is what Microsoft Entra documents for signed AuthnRequests
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// SignOptions configure SignEnveloped.
type SignOptions struct {
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
	// IDAttr is the unqualified id attribute of the element to sign.
	IDAttr string
	// SignatureAlgorithm and DigestAlgorithm default to rsa-sha256 and sha256.
	SignatureAlgorithm, DigestAlgorithm string
	// After is the index of the child element after which the Signature is
	// inserted (-1: as the first child; a value past the end: as the last).
	After int
	// KeyInfo content: the certificate, its subject key identifier, and a
	// key name (each optional).
	IncludeCertificate bool
	IncludeSKI         bool
	KeyName            string
	// Rand is the randomness for the signature (PKCS#1 v1.5 needs none; kept
	// for crypto.Signer implementations). Default crypto/rand.
	Rand io.Reader
}

// SignEnveloped adds an enveloped signature to el (exclusive c14n, one
// Reference to el's id). The Signature element is written in the default
// namespace, as Microsoft Entra writes it in signed AuthnRequests.
func SignEnveloped(el *Element, opts SignOptions) error {
	if opts.Key == nil {
		return errors.New("xmldsig: no signing key")
	}
	if opts.SignatureAlgorithm == "" {
		opts.SignatureAlgorithm = AlgRSASHA256
	}
	if opts.DigestAlgorithm == "" {
		opts.DigestAlgorithm = AlgSHA256
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	id, ok := el.AttrValue("", opts.IDAttr)
	if !ok || id == "" {
		return fmt.Errorf("xmldsig: element has no %s attribute", opts.IDAttr)
	}
	if len(el.Find(NSDSig, "Signature")) > 0 {
		return errors.New("xmldsig: element is already signed")
	}
	var digest []byte
	switch opts.DigestAlgorithm {
	case AlgSHA256:
		d := sha256.Sum256(Canonicalize(el, nil, nil))
		digest = d[:]
	case AlgSHA1:
		d := sha1.Sum(Canonicalize(el, nil, nil)) //nolint:gosec // documented by Microsoft
		digest = d[:]
	default:
		return fmt.Errorf("%w: digest %q", ErrUnsupportedAlgorithm, opts.DigestAlgorithm)
	}
	var hash crypto.Hash
	switch opts.SignatureAlgorithm {
	case AlgRSASHA256:
		hash = crypto.SHA256
	case AlgRSASHA1:
		hash = crypto.SHA1
	default:
		return fmt.Errorf("%w: signature %q", ErrUnsupportedAlgorithm, opts.SignatureAlgorithm)
	}
	var ki strings.Builder
	if opts.IncludeCertificate || opts.IncludeSKI || opts.KeyName != "" {
		ki.WriteString("<KeyInfo>")
		if opts.Cert != nil && (opts.IncludeCertificate || opts.IncludeSKI) {
			ki.WriteString("<X509Data>")
			if opts.IncludeSKI && len(opts.Cert.SubjectKeyId) > 0 {
				ki.WriteString("<X509SKI>" + base64.StdEncoding.EncodeToString(opts.Cert.SubjectKeyId) + "</X509SKI>")
			}
			if opts.IncludeCertificate {
				ki.WriteString("<X509Certificate>" + base64.StdEncoding.EncodeToString(opts.Cert.Raw) + "</X509Certificate>")
			}
			ki.WriteString("</X509Data>")
		}
		if opts.KeyName != "" {
			ki.WriteString("<KeyName>" + xmlEscape(opts.KeyName) + "</KeyName>")
		}
		ki.WriteString("</KeyInfo>")
	}
	src := `<Signature xmlns="` + NSDSig + `"><SignedInfo>` +
		`<CanonicalizationMethod Algorithm="` + AlgExcC14N + `"/>` +
		`<SignatureMethod Algorithm="` + opts.SignatureAlgorithm + `"/>` +
		`<Reference URI="#` + xmlEscape(id) + `"><Transforms>` +
		`<Transform Algorithm="` + AlgEnveloped + `"/>` +
		`<Transform Algorithm="` + AlgExcC14N + `"/>` +
		`</Transforms><DigestMethod Algorithm="` + opts.DigestAlgorithm + `"/>` +
		`<DigestValue>` + base64.StdEncoding.EncodeToString(digest) + `</DigestValue></Reference></SignedInfo>` +
		`<SignatureValue></SignatureValue>` + ki.String() + `</Signature>`
	sig, err := Parse([]byte(src), Limits{})
	if err != nil {
		return fmt.Errorf("xmldsig: building Signature: %w", err)
	}
	// Insert after the chosen child element.
	pos := 0
	if opts.After >= 0 {
		seen := -1
		pos = len(el.Children)
		for i, c := range el.Children {
			if _, ok := c.(*Element); ok {
				seen++
				if seen == opts.After {
					pos = i + 1
					break
				}
			}
		}
	}
	sig.Parent = el
	el.Children = append(el.Children, nil)
	copy(el.Children[pos+1:], el.Children[pos:])
	el.Children[pos] = sig

	si := sig.ChildElements()[0]
	h := hash.New()
	h.Write(Canonicalize(si, nil, nil))
	value, err := rsa.SignPKCS1v15(opts.Rand, opts.Key, hash, h.Sum(nil))
	if err != nil {
		return fmt.Errorf("xmldsig: signing: %w", err)
	}
	sv := sig.ChildElements()[1]
	sv.Children = []Node{&Text{Data: base64.StdEncoding.EncodeToString(value)}}
	return nil
}

// Serialize writes a document as its exclusive canonical form, which is
// well-formed XML that declares every namespace it uses.
func Serialize(root *Element) []byte { return Canonicalize(root, nil, nil) }

func xmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}
