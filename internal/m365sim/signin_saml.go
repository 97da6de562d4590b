package m365sim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // subject key identifier, as RFC 5280 §4.2.1.2 method (1)
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/m365sim/xmldsig"
)

// SAML 2.0 federation (preferredAuthenticationProtocol saml, contract §5).
// Source: https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-fed-saml-idp
// ("Microsoft Entra SAML 2.0 protocol requirements" and its sample
// messages): Entra sends an AuthnRequest by HTTP-POST with Issuer
// urn:federation:MicrosoftOnline and a persistent NameIDPolicy, signed when
// isSignedAuthenticationRequestRequired (the documented sample: exclusive
// c14n, rsa-sha1, KeyInfo with X509SKI and KeyName "MicrosoftOnline"); the
// identity provider answers with a Response whose assertion is signed, with
// NameID persistent = ImmutableID (up to 64 characters, "+" possibly
// written ".2B"), the IDPEmail attribute = UPN and Issuer = the domain's
// issuerUri.

const (
	nameIDPersistent = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
	cmBearerSAML2    = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	statusSuccess    = "urn:oasis:names:tc:SAML:2.0:status:Success"
	// samlKeyName is the KeyName in Entra's signed AuthnRequests.
	samlKeyName = "MicrosoftOnline"
)

// samlSigner is the sim's own key for signing AuthnRequests (Entra's "OrgID
// signing key"); generated on first use unless the seed or state file
// carries one, and published in GET /_sim/state and
// GET /_sim/authnrequest-signing.pem.
type samlSigner struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

// AuthnRequestSigningCertificate returns the certificate that verifies the
// sim's signed AuthnRequests (the identity provider must trust it when
// isSignedAuthenticationRequestRequired is true).
func (s *Server) AuthnRequestSigningCertificate() (*x509.Certificate, error) {
	sg, err := s.authnSigner()
	if err != nil {
		return nil, err
	}
	return sg.cert, nil
}

func (s *Server) authnSigner() (*samlSigner, error) {
	s.samlMu.Lock()
	if s.saml != nil {
		defer s.samlMu.Unlock()
		return s.saml, nil
	}
	key, err := rsa.GenerateKey(s.rand, 2048)
	var sg *samlSigner
	if err == nil {
		sg, err = newSAMLSigner(key, s.now(), s.rand)
	}
	if err != nil {
		s.samlMu.Unlock()
		return nil, fmt.Errorf("m365sim: generating the AuthnRequest signing key: %w", err)
	}
	s.saml = sg
	s.samlMu.Unlock()
	// The state file must keep the key (lock order: never samlMu, then the
	// store's lock).
	s.store.mu.Lock()
	s.markDirty()
	s.store.mu.Unlock()
	return sg, nil
}

func newSAMLSigner(key *rsa.PrivateKey, now time.Time, rnd io.Reader) (*samlSigner, error) {
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	ski := sha1.Sum(pub) //nolint:gosec // key identifier
	serial := new(big.Int).SetInt64(now.UnixNano())
	tpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "accounts.accesscontrol.windows.net (m365sim)"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0), SubjectKeyId: ski[:],
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rnd, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("m365sim: AuthnRequest signing certificate: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &samlSigner{key: key, cert: cert}, nil
}

// SeedSigningKey is a key with its certificate in a seed or state file.
type SeedSigningKey struct {
	// Certificate is base64 DER.
	Certificate string `json:"certificate"`
	// PrivateKey is PEM (PKCS#8 or PKCS#1).
	PrivateKey string `json:"privateKey"`
}

func (s *Server) loadSAMLSigner(k *SeedSigningKey) error {
	cert, err := ParseCertificate([]byte(k.Certificate))
	if err != nil {
		return fmt.Errorf("m365sim: authnRequestSigning.certificate: %w", err)
	}
	blk, _ := pem.Decode([]byte(k.PrivateKey))
	if blk == nil {
		return errors.New("m365sim: authnRequestSigning.privateKey is not PEM")
	}
	var key *rsa.PrivateKey
	if pk, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		rk, ok := pk.(*rsa.PrivateKey)
		if !ok {
			return errors.New("m365sim: authnRequestSigning.privateKey is not an RSA key")
		}
		key = rk
	} else if rk, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		key = rk
	} else {
		return fmt.Errorf("m365sim: authnRequestSigning.privateKey: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return errors.New("m365sim: authnRequestSigning: the key does not match the certificate")
	}
	s.samlMu.Lock()
	s.saml = &samlSigner{key: key, cert: cert}
	s.samlMu.Unlock()
	return nil
}

func (s *Server) dumpSAMLSigner() *SeedSigningKey {
	s.samlMu.Lock()
	defer s.samlMu.Unlock()
	if s.saml == nil {
		return nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(s.saml.key)
	if err != nil {
		return nil
	}
	return &SeedSigningKey{Certificate: base64.StdEncoding.EncodeToString(s.saml.cert.Raw),
		PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))}
}

// buildAuthnRequest writes the AuthnRequest of the documented sample:
// Issuer urn:federation:MicrosoftOnline and a persistent NameIDPolicy;
// Destination when signed (as in the signed sample). The sim adds
// ForceAuthn="true" for a fresh sign-in and, when MFA is required and
// federatedIdpMfaBehavior is enforceMfaByFederatedIdp, a
// RequestedAuthnContext asking for http://schemas.microsoft.com/claims/multipleauthn
// (Microsoft documents neither for SAML; these are the SAML 2.0 core
// §3.4.1 ways to ask).
func (s *Server) buildAuthnRequest(ctx *signInContext, f fedSettings) ([]byte, error) {
	var b strings.Builder
	b.WriteString(`<samlp:AuthnRequest ID="` + ctx.requestID + `" Version="2.0" IssueInstant="` + ctx.issuedAt.UTC().Format("2006-01-02T15:04:05.000Z") + `"`)
	if f.signedRequests {
		b.WriteString(` Destination="` + xmlAttrEscape(f.passive) + `"`)
	}
	if ctx.fresh {
		b.WriteString(` ForceAuthn="true"`)
	}
	b.WriteString(` xmlns:samlp="` + nsSAML2P + `"><Issuer xmlns="` + nsSAML2 + `">` + realmMicrosoftOnline + `</Issuer>`)
	b.WriteString(`<samlp:NameIDPolicy Format="` + nameIDPersistent + `"/>`)
	if ctx.mfa && f.mfaBehavior == mfaEnforce {
		b.WriteString(`<samlp:RequestedAuthnContext Comparison="exact"><AuthnContextClassRef xmlns="` + nsSAML2 + `">` + wauthMFA + `</AuthnContextClassRef></samlp:RequestedAuthnContext>`)
	}
	b.WriteString(`</samlp:AuthnRequest>`)
	if !f.signedRequests {
		return []byte(b.String()), nil
	}
	sg, err := s.authnSigner()
	if err != nil {
		return nil, err
	}
	root, err := xmldsig.Parse([]byte(b.String()), xmldsig.Limits{})
	if err != nil {
		return nil, err
	}
	err = xmldsig.SignEnveloped(root, xmldsig.SignOptions{Key: sg.key, Cert: sg.cert, IDAttr: "ID",
		SignatureAlgorithm: xmldsig.AlgRSASHA1, DigestAlgorithm: xmldsig.AlgSHA1, After: 0,
		IncludeSKI: true, KeyName: samlKeyName, Rand: rand.Reader})
	if err != nil {
		return nil, err
	}
	return xmldsig.Serialize(root), nil
}

func xmlAttrEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", `"`, "&quot;", ">", "&gt;").Replace(s)
}

// startSAML sends the browser to the identity provider with an
// AuthnRequest by HTTP-POST (an auto-submitting form).
func (s *Server) startSAML(w http.ResponseWriter, r *http.Request, ctx *signInContext, f fedSettings) {
	ctx.key = s.randomToken(24)
	ctx.requestID = "_" + s.newID()
	req, err := s.buildAuthnRequest(ctx, f)
	if err != nil {
		s.signInFailure(w, r, sierr(50000, "There was an error building the SAML request: %v", err),
			SignIn{Protocol: "saml", UserPrincipalName: ctx.username, TenantID: ctx.tenantID, Domain: ctx.domain})
		return
	}
	ctx.redirected = f.passive
	s.contexts.put(ctx, s.now())
	s.log.Info("m365sim: posting an AuthnRequest to the federated identity provider", "upn", ctx.username, "to", f.passive, "signed", f.signedRequests)
	w.Header().Set("Cache-Control", "no-store")
	s.renderPostForm(w, f.passive, map[string]string{"SAMLRequest": base64.StdEncoding.EncodeToString(req), "RelayState": ctx.key})
}

// completeSAML handles a SAML 2.0 response at /login.srf.
func (s *Server) completeSAML(w http.ResponseWriter, r *http.Request) {
	base := SignIn{Protocol: "saml"}
	relay := r.PostForm.Get("RelayState")
	if relay == "" {
		s.signInFailure(w, r, sierr(900144, "The request body must contain the following parameter: 'RelayState'."), base)
		return
	}
	ctx, e := s.contexts.take(relay, "RelayState", s.now())
	if ctx != nil {
		base = SignIn{Protocol: ctx.protocol, TenantID: ctx.tenantID, UserPrincipalName: ctx.username, Domain: ctx.domain}
	}
	if e == nil && ctx.protocol != "saml" {
		e = sierr(90100, "The parameter 'RelayState' is not valid: this sign-in expects a WS-Federation response.")
	}
	if e != nil {
		s.signInFailure(w, r, e, base)
		return
	}
	f, e := s.currentFederation(ctx)
	if e != nil {
		s.signInFailure(w, r, e, base)
		return
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(r.PostForm.Get("SAMLResponse")), ""))
	if err != nil {
		s.finishFederated(w, r, ctx, f, nil, errSAMLToken("SAMLResponse is not base64: %v", err))
		return
	}
	acs := []string{baseURL(r) + "/login.srf", acsMicrosoft}
	claims, e := validateSAMLResponse(raw, f, ctx.requestID, acs, s.now())
	s.finishFederated(w, r, ctx, f, claims, e)
}

// validateSAMLResponse checks a SAML 2.0 Response (contract §5): a
// protocol Response with status Success in answer to our request, issuer
// the domain's issuerUri, exactly one assertion, signed (RSA-SHA256,
// exclusive c14n; a response signature, when present, must verify too);
// then on the verified assertion: audience, validity with skew, bearer
// confirmation to our ACS in response to our request, persistent NameID,
// IDPEmail, and the MFA claim in AuthnContextClassRef.
func validateSAMLResponse(raw []byte, f fedSettings, requestID string, acs []string, now time.Time) (*tokenClaims, *signInError) {
	root, e := parseToken(raw)
	if e != nil {
		return nil, e
	}
	if !root.Is(nsSAML2P, "Response") {
		return nil, sierr(7500514, "A supported type of SAML response was not found. The supported response types are 'Response' (in XML namespace '%s') or 'Assertion' (in XML namespace '%s').", nsSAML2P, nsSAML2)
	}
	if v, _ := root.AttrValue("", "Version"); v != "2.0" {
		return nil, errSAMLToken("The Response Version must be 2.0.")
	}
	if d, ok := root.AttrValue("", "Destination"); ok && !containsString(acs, d) {
		return nil, errSAMLToken("The Response Destination %q is not %s.", d, acs[0])
	}
	if irt, _ := root.AttrValue("", "InResponseTo"); irt != requestID {
		return nil, errSAMLToken("The Response is not in response to this sign-in's AuthnRequest (InResponseTo %q, expected %q).", irt, requestID)
	}
	if iss := root.FindOne(nsSAML2, "Issuer"); iss != nil && strings.TrimSpace(iss.Text()) != f.issuer {
		return nil, sierr(50107, "The requested federation realm object '%s' does not exist: the Response's issuer must be the issuerUri of the domain's federation (%s).", strings.TrimSpace(iss.Text()), f.issuer)
	}
	status := root.FindOne(nsSAML2P, "Status")
	var code string
	if status != nil {
		if sc := status.FindOne(nsSAML2P, "StatusCode"); sc != nil {
			code, _ = sc.AttrValue("", "Value")
		}
	}
	if code != statusSuccess {
		return nil, errSAMLToken("The identity provider answered with status %q.", code)
	}
	if len(root.Find(nsSAML2, "EncryptedAssertion")) > 0 {
		return nil, errSAMLToken("Encrypted assertions are not supported.")
	}
	assertions := root.Find(nsSAML2, "Assertion")
	if len(assertions) != 1 || countElements(root, nsSAML2, "Assertion") != 1 {
		return nil, errSAMLToken("The Response must hold exactly one assertion.")
	}
	opts := xmldsig.VerifyOptions{Certs: f.certs(), IDAttr: "ID"}
	if len(root.Find(xmldsig.NSDSig, "Signature")) > 0 {
		if _, err := xmldsig.VerifyEnveloped(root, root, opts); err != nil {
			return nil, signatureError(err)
		}
	}
	as := assertions[0]
	iss := as.FindOne(nsSAML2, "Issuer")
	if iss == nil || strings.TrimSpace(iss.Text()) != f.issuer {
		got := ""
		if iss != nil {
			got = strings.TrimSpace(iss.Text())
		}
		return nil, sierr(50107, "The requested federation realm object '%s' does not exist: the assertion's issuer must be the issuerUri of the domain's federation (%s).", got, f.issuer)
	}
	v, err := xmldsig.VerifyEnveloped(root, as, opts)
	if err != nil {
		return nil, signatureError(err)
	}
	as = v.Element
	c := &tokenClaims{issuer: f.issuer, cert: v.Cert}
	if ver, _ := as.AttrValue("", "Version"); ver != "2.0" {
		return nil, errSAMLToken("The assertion Version must be 2.0.")
	}
	cond := as.FindOne(nsSAML2, "Conditions")
	if cond == nil {
		return nil, errSAMLToken("The assertion has no Conditions.")
	}
	if e := checkValidity(cond, now, false); e != nil {
		return nil, e
	}
	aud := false
	for _, ar := range cond.Find(nsSAML2, "AudienceRestriction") {
		for _, a := range ar.Find(nsSAML2, "Audience") {
			if strings.TrimSpace(a.Text()) == realmMicrosoftOnline {
				aud = true
			}
		}
	}
	if !aud {
		return nil, errSAMLToken("The audience must be %s.", realmMicrosoftOnline)
	}
	sub := as.FindOne(nsSAML2, "Subject")
	if sub == nil {
		return nil, sierr(90020, "The SAML assertion is missing the NameID (ImmutableID) of the user.")
	}
	nid := sub.FindOne(nsSAML2, "NameID")
	if nid == nil || strings.TrimSpace(nid.Text()) == "" {
		return nil, sierr(90020, "The SAML assertion is missing the NameID (ImmutableID) of the user.")
	}
	if fm, _ := nid.AttrValue("", "Format"); fm != nameIDPersistent {
		return nil, errSAMLToken("The NameID Format must be %s, not %q.", nameIDPersistent, fm)
	}
	c.nameID = strings.TrimSpace(nid.Text())
	if len(c.nameID) > 64 {
		return nil, errSAMLToken("The NameID is %d characters long; the ImmutableID can be up to 64.", len(c.nameID))
	}
	c.nameIDDecoded = decodeDotEscapes(c.nameID)
	confirmed := false
	for _, sc := range sub.Find(nsSAML2, "SubjectConfirmation") {
		if m, _ := sc.AttrValue("", "Method"); m != cmBearerSAML2 {
			continue
		}
		scd := sc.FindOne(nsSAML2, "SubjectConfirmationData")
		if scd == nil {
			return nil, errSAMLToken("The bearer SubjectConfirmation has no SubjectConfirmationData.")
		}
		if rcp, _ := scd.AttrValue("", "Recipient"); !containsString(acs, rcp) {
			return nil, errSAMLToken("The SubjectConfirmationData Recipient %q is not %s.", rcp, acs[0])
		}
		if irt, _ := scd.AttrValue("", "InResponseTo"); irt != requestID {
			return nil, errSAMLToken("The SubjectConfirmationData InResponseTo %q is not this sign-in's request %q.", irt, requestID)
		}
		na, ok := scd.AttrValue("", "NotOnOrAfter")
		if !ok {
			return nil, errSAMLToken("The SubjectConfirmationData has no NotOnOrAfter.")
		}
		t, err := parseXSDateTime(na)
		if err != nil {
			return nil, errSAMLToken("SubjectConfirmationData NotOnOrAfter %q is not a valid time.", na)
		}
		if !now.Add(-signInClockSkew).Before(t) {
			return nil, sierr(500133, "Assertion isn't within its valid time range: the subject confirmation expired at %s and the current time is %s.", t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		confirmed = true
	}
	if !confirmed {
		return nil, errSAMLToken("The subject must be confirmed by %s.", cmBearerSAML2)
	}
	for _, st := range as.Find(nsSAML2, "AttributeStatement") {
		for _, a := range st.Find(nsSAML2, "Attribute") {
			if n, _ := a.AttrValue("", "Name"); n == "IDPEmail" {
				if av := a.FindOne(nsSAML2, "AttributeValue"); av != nil {
					c.upn = strings.TrimSpace(av.Text())
				}
			}
		}
	}
	if c.upn == "" {
		return nil, errSAMLToken("The assertion has no IDPEmail attribute (the user's UPN).")
	}
	authn := as.Find(nsSAML2, "AuthnStatement")
	if len(authn) == 0 {
		return nil, errSAMLToken("The assertion has no AuthnStatement.")
	}
	for _, st := range authn {
		if ai, ok := st.AttrValue("", "AuthnInstant"); ok {
			if t, err := parseXSDateTime(ai); err == nil {
				c.authnInstant = t
			}
		}
		if ac := st.FindOne(nsSAML2, "AuthnContext"); ac != nil {
			if ref := ac.FindOne(nsSAML2, "AuthnContextClassRef"); ref != nil && strings.TrimSpace(ref.Text()) == wauthMFA {
				c.mfa = true
			}
		}
	}
	return c, nil
}

// decodeDotEscapes undoes the ".2B" escaping the SAML 2.0 page describes
// for NameID ("a '+' character is shown as '.2B'"): ".XX" with two hex
// digits is the byte XX. Anything else is left as is.
func decodeDotEscapes(s string) string {
	if !strings.Contains(s, ".") {
		return ""
	}
	var b strings.Builder
	changed := false
	for i := 0; i < len(s); i++ {
		if s[i] == '.' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				changed = true
				continue
			}
		}
		b.WriteByte(s[i])
	}
	if !changed {
		return ""
	}
	return b.String()
}

func containsString(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
