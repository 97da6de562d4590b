// Package xmldsig verifies (and, for the sim's own AuthnRequests, creates)
// enveloped XML signatures the way a relying party must: with exclusive
// canonicalization (https://www.w3.org/TR/xml-exc-c14n/), one Reference to
// the signed element, and keys taken only from the configured certificates
// (XML Signature Syntax and Processing, https://www.w3.org/TR/xmldsig-core1/,
// §3.2 core validation).
//
// It is m365sim's own implementation, written for the purpose: a small
// prefix-preserving DOM on encoding/xml's raw tokens (dom.go), an exclusive
// canonicalizer (c14n.go), a verifier (verify.go) and a signer (sign.go). It
// shares nothing with Portico's signer (a hand-written canonical writer with
// russellhaering/goxmldsig on etree), so that a mistake in one is caught by
// the other; its tests check it against xmlsec1.
//
// The parser is hardened for hostile input: a size limit (256 KiB by
// default), no DTD or entity declarations, depth and node limits, one root
// element, declared prefixes, no duplicate attributes. The verifier defeats
// signature wrapping by construction: the signature must be a child of the
// element it signs, its one Reference must name that element's id, the id
// must be unique in the document, and the caller receives the element
// re-parsed from exactly the bytes that were digested.
package xmldsig
