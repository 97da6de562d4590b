package m365sim

import (
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/m365sim/xmldsig"
)

// The WS-Federation token: a WS-Trust 2005 RequestSecurityTokenResponse
// holding a signed SAML 1.1 assertion, validated as the contract (§4)
// describes Entra's checks. Sources:
// https://learn.microsoft.com/entra/identity/authentication/how-to-mfa-expected-inbound-assertions
// (the MFA claims), https://learn.microsoft.com/entra/identity-platform/reference-error-codes
// (the AADSTS codes).

const (
	nsTrust2005  = "http://schemas.xmlsoap.org/ws/2005/02/trust"
	nsPolicy     = "http://schemas.xmlsoap.org/ws/2004/09/policy"
	nsAddressing = "http://www.w3.org/2005/08/addressing"
	nsSAML1      = "urn:oasis:names:tc:SAML:1.0:assertion"
	nsSAML2      = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsSAML2P     = "urn:oasis:names:tc:SAML:2.0:protocol"

	nsClaimsUPN       = "http://schemas.xmlsoap.org/claims"
	nsLiveID          = "http://schemas.microsoft.com/LiveID/Federation/2008/05"
	nsMSClaims        = "http://schemas.microsoft.com/claims"
	nsIdentityClaims  = "http://schemas.microsoft.com/ws/2008/06/identity/claims"
	cmBearerSAML1     = "urn:oasis:names:tc:SAML:1.0:cm:bearer"
	tokenTypeSAML11   = "urn:oasis:names:tc:SAML:1.0:assertion"
	tokenTypeSAML11v2 = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1"
)

// tokenClaims is what a validated token says.
type tokenClaims struct {
	issuer        string
	nameID        string
	nameIDDecoded string // SAML 2.0 NameID with ".2B"-style escapes decoded
	upn           string
	mfa           bool
	authnInstant  time.Time
	cert          *x509.Certificate
}

// errSAMLToken is AADSTS50008, Entra's answer to a token it cannot use.
func errSAMLToken(format string, args ...any) *signInError {
	e := sierr(50008, format, args...)
	e.msg = "SAML token is invalid. " + e.msg
	return e
}

// parseToken reads a token document with the hardened parser.
func parseToken(raw []byte) (*xmldsig.Element, *signInError) {
	if len(raw) > maxTokenBytes {
		return nil, errSAMLToken("The token is %d bytes long; at most %d are accepted.", len(raw), maxTokenBytes)
	}
	root, err := xmldsig.Parse(raw, xmldsig.Limits{MaxBytes: maxTokenBytes})
	switch {
	case errors.Is(err, xmldsig.ErrDTD):
		return nil, errSAMLToken("The token contains a DTD, which is not allowed.")
	case errors.Is(err, xmldsig.ErrTooLarge):
		return nil, errSAMLToken("The token is too large or too deeply nested.")
	case err != nil:
		return nil, errSAMLToken("The token is not well-formed XML: %v", trimErr(err))
	}
	return root, nil
}

func trimErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "xmldsig: malformed XML: ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// signatureError maps a verification failure to Entra's codes: a
// certificate in KeyInfo that is not registered is AADSTS50008 "Unable to
// verify token signature. The signing key identifier does not match any
// valid registered keys." (the message Entra gives); any other failure of
// the signature is AADSTS50006 InvalidSignature.
func signatureError(err error) *signInError {
	switch {
	case errors.Is(err, xmldsig.ErrUntrustedKey):
		return sierr(50008, "Unable to verify token signature. The signing key identifier does not match any valid registered keys.")
	case errors.Is(err, xmldsig.ErrNoSignature):
		return sierr(50006, "Signature verification failed because of an invalid signature: the assertion is not signed.")
	default:
		return sierr(50006, "Signature verification failed because of an invalid signature (%s).", strings.TrimPrefix(err.Error(), "xmldsig: "))
	}
}

// validateWSFedToken checks a wresult against the trust of the domain the
// sign-in started with (contract §4), in the order Entra needs the
// information: shape, issuer (the trust), signature (RSA-SHA256, exclusive
// c14n, reference to the assertion, signingCertificate or
// nextSigningCertificate), then, on the verified assertion only, audience,
// validity with 5 minutes of skew, subject and claims.
func validateWSFedToken(raw []byte, f fedSettings, now time.Time) (*tokenClaims, *signInError) {
	root, e := parseToken(raw)
	if e != nil {
		return nil, e
	}
	if !root.Is(nsTrust2005, "RequestSecurityTokenResponse") {
		return nil, errSAMLToken("wresult must be a WS-Trust 2005 RequestSecurityTokenResponse, not <%s xmlns=%q>.", root.Local, root.Space())
	}
	if a := root.FindOne(nsPolicy, "AppliesTo"); a != nil {
		if epr := a.FindOne(nsAddressing, "EndpointReference"); epr != nil {
			if addr := epr.FindOne(nsAddressing, "Address"); addr != nil && strings.TrimSpace(addr.Text()) != realmMicrosoftOnline {
				return nil, errSAMLToken("AppliesTo is %q, not %s.", strings.TrimSpace(addr.Text()), realmMicrosoftOnline)
			}
		}
	}
	if tt := root.FindOne(nsTrust2005, "TokenType"); tt != nil {
		if v := strings.TrimSpace(tt.Text()); v != tokenTypeSAML11 && v != tokenTypeSAML11v2 {
			return nil, errSAMLToken("TokenType %q is not a SAML 1.1 assertion.", v)
		}
	}
	rsts := root.Find(nsTrust2005, "RequestedSecurityToken")
	if len(rsts) != 1 {
		return nil, errSAMLToken("The response must hold exactly one RequestedSecurityToken.")
	}
	kids := rsts[0].ChildElements()
	if len(kids) != 1 || !kids[0].Is(nsSAML1, "Assertion") {
		return nil, errSAMLToken("RequestedSecurityToken must hold exactly one SAML 1.1 assertion.")
	}
	if n := countElements(root, nsSAML1, "Assertion"); n != 1 {
		return nil, errSAMLToken("The response holds %d SAML assertions; exactly one is allowed.", n)
	}
	as := kids[0]
	issuer, _ := as.AttrValue("", "Issuer")
	if issuer != f.issuer {
		return nil, sierr(50107, "The requested federation realm object '%s' does not exist: the token's issuer must be the issuerUri of the domain's federation (%s).", issuer, f.issuer)
	}
	v, err := xmldsig.VerifyEnveloped(root, as, xmldsig.VerifyOptions{Certs: f.certs(), IDAttr: "AssertionID"})
	if err != nil {
		return nil, signatureError(err)
	}
	// From here on, only the verified assertion is read.
	as = v.Element
	c := &tokenClaims{issuer: issuer, cert: v.Cert}
	if mj, _ := as.AttrValue("", "MajorVersion"); mj != "1" {
		return nil, errSAMLToken("MajorVersion must be 1.")
	}
	if mn, _ := as.AttrValue("", "MinorVersion"); mn != "1" {
		return nil, errSAMLToken("MinorVersion must be 1.")
	}
	if _, ok := as.AttrValue("", "IssueInstant"); !ok {
		return nil, errSAMLToken("The assertion has no IssueInstant.")
	}
	cond := as.FindOne(nsSAML1, "Conditions")
	if cond == nil {
		return nil, errSAMLToken("The assertion has no Conditions.")
	}
	if e := checkValidity(cond, now, true); e != nil {
		return nil, e
	}
	aud := false
	for _, arc := range cond.Find(nsSAML1, "AudienceRestrictionCondition") {
		for _, a := range arc.Find(nsSAML1, "Audience") {
			if strings.TrimSpace(a.Text()) == realmMicrosoftOnline {
				aud = true
			}
		}
	}
	if !aud {
		return nil, errSAMLToken("The audience must be %s.", realmMicrosoftOnline)
	}

	// Subjects: every statement's NameIdentifier must be the same
	// ImmutableID, confirmed by bearer.
	var ids []string
	var attrs, authns []*xmldsig.Element
	for _, st := range as.ChildElements() {
		switch {
		case st.Is(nsSAML1, "AttributeStatement"):
			attrs = append(attrs, st)
		case st.Is(nsSAML1, "AuthenticationStatement"):
			authns = append(authns, st)
		default:
			continue
		}
		sub := st.FindOne(nsSAML1, "Subject")
		if sub == nil {
			return nil, errSAMLToken("A statement has no Subject.")
		}
		if ni := sub.FindOne(nsSAML1, "NameIdentifier"); ni != nil {
			ids = append(ids, strings.TrimSpace(ni.Text()))
		}
		if sc := sub.FindOne(nsSAML1, "SubjectConfirmation"); sc != nil {
			ok := false
			for _, cm := range sc.Find(nsSAML1, "ConfirmationMethod") {
				if strings.TrimSpace(cm.Text()) == cmBearerSAML1 {
					ok = true
				}
			}
			if !ok {
				return nil, errSAMLToken("The subject must be confirmed by %s.", cmBearerSAML1)
			}
		}
	}
	if len(attrs) == 0 {
		return nil, errSAMLToken("The assertion has no AttributeStatement.")
	}
	if len(authns) == 0 {
		return nil, errSAMLToken("The assertion has no AuthenticationStatement.")
	}
	if len(ids) == 0 || ids[0] == "" {
		return nil, sierr(90020, "The SAML 1.1 Assertion is missing ImmutableID of the user.")
	}
	for _, id := range ids[1:] {
		if id != ids[0] {
			return nil, errSAMLToken("The statements name different subjects (%q and %q).", ids[0], id)
		}
	}
	c.nameID = ids[0]
	for _, st := range attrs {
		for _, a := range st.Find(nsSAML1, "Attribute") {
			name, _ := a.AttrValue("", "AttributeName")
			ns, _ := a.AttrValue("", "AttributeNamespace")
			var vals []string
			for _, av := range a.Find(nsSAML1, "AttributeValue") {
				vals = append(vals, strings.TrimSpace(av.Text()))
			}
			switch {
			case name == "UPN" && ns == nsClaimsUPN && len(vals) > 0:
				c.upn = vals[0]
			case name == "ImmutableID" && ns == nsLiveID && len(vals) > 0:
				if vals[0] != c.nameID {
					return nil, errSAMLToken("The ImmutableID attribute %q differs from the NameIdentifier %q.", vals[0], c.nameID)
				}
			case (name == "authnmethodsreferences" && ns == nsMSClaims) || (name == "authenticationmethod" && ns == nsIdentityClaims):
				for _, v := range vals {
					if v == wauthMFA || v == wauthMFAOrWIA {
						c.mfa = true
					}
				}
			}
		}
	}
	if c.upn == "" {
		return nil, errSAMLToken("The assertion has no UPN attribute (namespace %s).", nsClaimsUPN)
	}
	for _, st := range authns {
		m, _ := st.AttrValue("", "AuthenticationMethod")
		if m == wauthMFA || m == wauthMFAOrWIA {
			c.mfa = true
		}
		if at, ok := st.AttrValue("", "AuthenticationInstant"); ok {
			if tm, err := parseXSDateTime(at); err == nil {
				c.authnInstant = tm
			}
		}
	}
	return c, nil
}

// checkValidity applies NotBefore and NotOnOrAfter of a Conditions element
// with 5 minutes of skew. Both are required in WS-Fed tokens (contract §4).
func checkValidity(cond *xmldsig.Element, now time.Time, required bool) *signInError {
	nb, hasNB := cond.AttrValue("", "NotBefore")
	na, hasNA := cond.AttrValue("", "NotOnOrAfter")
	if required && (!hasNB || !hasNA) {
		return errSAMLToken("Conditions must carry NotBefore and NotOnOrAfter.")
	}
	if hasNB {
		t, err := parseXSDateTime(nb)
		if err != nil {
			return errSAMLToken("NotBefore %q is not a valid time.", nb)
		}
		if now.Add(signInClockSkew).Before(t) {
			return sierr(500133, "Assertion isn't within its valid time range: it is valid from %s and the current time is %s (5 minutes of clock skew allowed).", t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
	}
	if hasNA {
		t, err := parseXSDateTime(na)
		if err != nil {
			return errSAMLToken("NotOnOrAfter %q is not a valid time.", na)
		}
		if !now.Add(-signInClockSkew).Before(t) {
			return sierr(500133, "Assertion isn't within its valid time range: it expired at %s and the current time is %s (5 minutes of clock skew allowed).", t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// parseXSDateTime reads an xs:dateTime as SAML writes it (UTC "Z" or an
// offset; fractional seconds optional).
func parseXSDateTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02T15:04:05.999999999", s)
}

func countElements(root *xmldsig.Element, space, local string) int {
	n := 0
	root.Walk(func(e *xmldsig.Element) bool {
		if e.Is(space, local) {
			n++
		}
		return true
	})
	return n
}

// completeWSFed handles a WS-Federation sign-in response at /login.srf.
func (s *Server) completeWSFed(w http.ResponseWriter, r *http.Request) {
	form := r.PostForm
	base := SignIn{Protocol: "wsFed"}
	if wa := form.Get("wa"); wa != "wsignin1.0" {
		s.signInFailure(w, r, sierr(90081, "An error occurred when the service tried to process a WS-Federation message: wa is %q, not wsignin1.0.", wa), base)
		return
	}
	wresult := form.Get("wresult")
	if wresult == "" {
		s.signInFailure(w, r, sierr(900144, "The request body must contain the following parameter: 'wresult'."), base)
		return
	}
	wctx := form.Get("wctx")
	if wctx == "" {
		s.signInFailure(w, r, sierr(900144, "The request body must contain the following parameter: 'wctx'."), base)
		return
	}
	ctx, e := s.contexts.take(wctx, "wctx", s.now())
	if ctx != nil {
		base = SignIn{Protocol: ctx.protocol, TenantID: ctx.tenantID, UserPrincipalName: ctx.username, Domain: ctx.domain}
	}
	if e == nil && ctx.protocol != "wsFed" {
		e = sierr(90100, "The parameter 'wctx' is not valid: this sign-in expects a SAML 2.0 response.")
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
	claims, e := validateWSFedToken([]byte(wresult), f, s.now())
	s.finishFederated(w, r, ctx, f, claims, e)
}

// currentFederation reads the federation of the context's domain as it is
// now (it may have changed, for example a certificate rollover).
func (s *Server) currentFederation(ctx *signInContext) (fedSettings, *signInError) {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	t := s.store.tenants[ctx.tenantID]
	if t == nil {
		return fedSettings{}, sierr(90002, "Tenant '%s' not found.", ctx.tenantID)
	}
	d := t.domain(ctx.domain)
	if d == nil || d.Federation == nil {
		return fedSettings{}, sierr(50107, "The requested federation realm object doesn't exist: %s is no longer federated.", ctx.domain)
	}
	return fedProps(d.Federation.Props), nil
}
