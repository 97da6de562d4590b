package m365sim

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Interactive sign-in as Microsoft Entra does it for the users of a
// tenant: a start page with home-realm discovery (GET /common/login), a
// cloud password prompt for managed domains, and, for federated domains, a
// redirect to the identity provider (WS-Federation, contract §4) or an
// AuthnRequest by HTTP-POST (SAML 2.0, contract §5); the token comes back to
// POST /login.srf, where it is validated (signin_wsfed.go, signin_saml.go).
// Every attempt is written to the sign-in log (GET /_sim/signins).
//
// Sources: https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-fed-saml-idp,
// https://learn.microsoft.com/entra/identity/authentication/how-to-mfa-expected-inbound-assertions,
// https://learn.microsoft.com/windows-server/identity/ad-fs/operations/ad-fs-prompt-login,
// https://learn.microsoft.com/graph/api/resources/internaldomainfederation,
// https://learn.microsoft.com/entra/identity-platform/reference-error-codes.

// Protocol constants.
const (
	// realmMicrosoftOnline is Entra's WS-Federation realm and SAML entity id.
	realmMicrosoftOnline = "urn:federation:MicrosoftOnline"
	// acsMicrosoft is Entra's assertion consumer service; the sim also
	// accepts its own /login.srf URL in its place.
	acsMicrosoft = "https://login.microsoftonline.com/login.srf"
	// wauthMFA asks the identity provider for multifactor authentication.
	wauthMFA = "http://schemas.microsoft.com/claims/multipleauthn"
	// wauthMFAOrWIA is the other MFA claim Entra honours in WS-Fed tokens.
	wauthMFAOrWIA = "http://schemas.microsoft.com/claims/wiaormultiauthn"
	// wauthPassword is what Entra sends with wfresh=0 when it translates
	// prompt=login (promptLoginBehavior translateToFreshPasswordAuthentication),
	// written as the AD FS prompt=login page writes it.
	wauthPassword = "https://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password"

	// maxTokenBytes bounds wresult and the decoded SAMLResponse.
	maxTokenBytes = 256 << 10
	// signInClockSkew is the tolerance on NotBefore/NotOnOrAfter.
	signInClockSkew = 5 * time.Minute
	// signInContextLifetime is how long a wctx or RelayState stays valid.
	signInContextLifetime = 30 * time.Minute
	maxSignInContexts     = 100000
	maxSignInLog          = 10000
)

// federatedIdpMfaBehavior values (internalDomainFederation).
const (
	mfaAccept  = "acceptIfMfaDoneByFederatedIdp"
	mfaEnforce = "enforceMfaByFederatedIdp"
	mfaReject  = "rejectMfaByFederatedIdp"
)

// signInError is an AADSTS error shown on Entra's error page.
type signInError struct {
	code   int
	msg    string
	status int // HTTP status of the sim's error page (400 unless set)
}

func (e *signInError) Error() string { return fmt.Sprintf("AADSTS%d: %s", e.code, e.msg) }

// Code is the AADSTS number (for the page templates).
func (e *signInError) Code() int { return e.code }

// Msg is the message (for the page templates).
func (e *signInError) Msg() string { return e.msg }

func sierr(code int, format string, args ...any) *signInError {
	return &signInError{code: code, msg: fmt.Sprintf(format, args...)}
}

// signInContext is what the sim remembers between sending the user to the
// identity provider and receiving the token: the opaque wctx (WS-Fed) or
// RelayState (SAML) is its key.
type signInContext struct {
	key        string
	tenantID   string
	domain     string // the root domain whose federation applies
	username   string // the UPN typed on the start page (a hint)
	protocol   string // "wsFed" or "saml"
	requestID  string // SAML AuthnRequest ID
	fresh      bool   // prompt=login was asked for
	mfa        bool   // MFA required (Conditional Access on the start page, or the user's mfaRequired)
	mfaPolicy  string // federatedIdpMfaBehavior when the sign-in started
	issuedAt   time.Time
	expiresAt  time.Time
	used       bool
	redirected string // the URL or form target the browser was sent to
}

// signInContexts holds the pending sign-ins (its own lock: it is not
// directory state).
type signInContexts struct {
	mu sync.Mutex
	m  map[string]*signInContext
}

func (c *signInContexts) put(ctx *signInContext, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*signInContext{}
	}
	if len(c.m) >= maxSignInContexts {
		for k, v := range c.m {
			if now.After(v.expiresAt) || v.used {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxSignInContexts {
			c.m = map[string]*signInContext{}
		}
	}
	c.m[ctx.key] = ctx
}

// take consumes a context: a wctx or RelayState works once.
func (c *signInContexts) take(key, param string, now time.Time) (*signInContext, *signInError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx := c.m[key]
	switch {
	case ctx == nil:
		return nil, sierr(90100, "The parameter '%s' is empty or not valid: it was not issued by this service.", param)
	case ctx.used:
		return ctx, sierr(90100, "The parameter '%s' is not valid: it was already used for a sign-in.", param)
	}
	ctx.used = true
	if now.After(ctx.expiresAt) {
		return ctx, sierr(50089, "Flow token expired: the sign-in started at %s; authentication must be completed within %s.", ctx.issuedAt.UTC().Format(time.RFC3339), signInContextLifetime)
	}
	return ctx, nil
}

// SignIn is one entry of the sim's sign-in log, shaped like Microsoft
// Graph's signIn resource (https://learn.microsoft.com/graph/api/resources/signin)
// with the federation details a tester needs.
type SignIn struct {
	ID                        string        `json:"id"`
	CreatedDateTime           time.Time     `json:"createdDateTime"`
	TenantID                  string        `json:"tenantId,omitempty"`
	UserPrincipalName         string        `json:"userPrincipalName,omitempty"`
	UserDisplayName           string        `json:"userDisplayName,omitempty"`
	UserID                    string        `json:"userId,omitempty"`
	IPAddress                 string        `json:"ipAddress,omitempty"`
	Status                    SignInStatus  `json:"status"`
	AuthenticationRequirement string        `json:"authenticationRequirement"`
	Protocol                  string        `json:"protocol"` // wsFed, saml or password (managed domain)
	Domain                    string        `json:"domain,omitempty"`
	Issuer                    string        `json:"issuer,omitempty"`
	ImmutableID               string        `json:"immutableId,omitempty"`
	MFARequired               bool          `json:"mfaRequired"`
	MFASatisfiedBy            string        `json:"mfaSatisfiedBy,omitempty"` // federatedIdp, entra (simulated)
	FreshRequested            bool          `json:"freshSignInRequested,omitempty"`
	SigningCertificate        string        `json:"signingCertificate,omitempty"` // signingCertificate or nextSigningCertificate
	Warnings                  []string      `json:"warnings,omitempty"`
	Details                   SignInDetails `json:"details"`
}

// SignInStatus is signIn.status: errorCode 0 means success.
type SignInStatus struct {
	ErrorCode     int    `json:"errorCode"`
	FailureReason string `json:"failureReason,omitempty"`
}

// SignInDetails are the request parameters the sim sent to the identity
// provider for this sign-in (empty for managed sign-ins).
type SignInDetails struct {
	Redirect string `json:"redirect,omitempty"`
}

// Succeeded reports whether the sign-in succeeded.
func (si SignIn) Succeeded() bool { return si.Status.ErrorCode == 0 }

// SignIns returns the sign-in log, newest first.
func (s *Server) SignIns() []SignIn {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	out := make([]SignIn, len(s.store.signIns))
	for i, si := range s.store.signIns {
		out[len(out)-1-i] = si
	}
	return out
}

// logSignIn appends an entry; callers hold the store's write lock.
func (s *Server) logSignInLocked(si SignIn) {
	if si.ID == "" {
		si.ID = s.newID()
	}
	if si.CreatedDateTime.IsZero() {
		si.CreatedDateTime = s.now().UTC()
	}
	if si.AuthenticationRequirement == "" {
		si.AuthenticationRequirement = "singleFactorAuthentication"
		if si.MFARequired {
			si.AuthenticationRequirement = "multiFactorAuthentication"
		}
	}
	st := s.store
	if len(st.signIns) >= maxSignInLog {
		st.signIns = append(st.signIns[:0], st.signIns[len(st.signIns)-maxSignInLog/2:]...)
	}
	st.signIns = append(st.signIns, si)
	if si.Succeeded() {
		s.stats.signInOK.Add(1)
	} else {
		s.stats.signInFailed.Add(1)
	}
	s.log.Info("m365sim: sign-in", "upn", si.UserPrincipalName, "protocol", si.Protocol, "error_code", si.Status.ErrorCode, "reason", si.Status.FailureReason)
}

func (s *Server) logSignIn(si SignIn) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.logSignInLocked(si)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// startOptions are the start page's options: a fresh sign-in
// (prompt=login) and MFA required, as a Conditional Access policy would.
type startOptions struct {
	fresh bool
	mfa   bool
}

func readStartOptions(r *http.Request) startOptions {
	v := func(k string) string { return strings.ToLower(strings.TrimSpace(r.Form.Get(k))) }
	return startOptions{
		fresh: v("prompt") == "login" || v("fresh") == "1" || v("fresh") == "true" || v("fresh") == "on",
		mfa:   v("mfa") == "1" || v("mfa") == "true" || v("mfa") == "on",
	}
}

// serveLogin is GET/POST /common/login: the start page and home-realm
// discovery. GET without username shows the form; with username it looks
// at the domain: a managed domain asks for the cloud password (POSTed back
// here), a federated one sends the browser to its identity provider.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		s.signInFailure(w, r, &signInError{code: 900561, status: http.StatusMethodNotAllowed,
			msg: "The endpoint only accepts GET, POST requests. Received a " + r.Method + " request."}, SignIn{Protocol: "password"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.signInFailure(w, r, sierr(90013, "The input from the user isn't valid: %v", err), SignIn{Protocol: "password"})
		return
	}
	username := strings.TrimSpace(r.Form.Get("username"))
	if username == "" {
		username = strings.TrimSpace(r.Form.Get("login_hint"))
	}
	opts := readStartOptions(r)
	if username == "" {
		s.renderStartPage(w, r, "", opts, nil)
		return
	}
	local, dom, ok := strings.Cut(username, "@")
	if !ok || local == "" || dom == "" || strings.ContainsAny(username, " \t\r\n<>\"") {
		s.renderStartPage(w, r, username, opts, sierr(90101, "The supplied data isn't a valid email address: '%s'. The username must be in the format someone@example.com.", username))
		return
	}

	// Home-realm discovery: find the tenant and the domain (the root's
	// federation applies to subdomains).
	s.store.mu.RLock()
	t := s.store.byDomain[strings.ToLower(dom)]
	var d *Domain
	var fed *Federation
	var root string
	var fedCopy map[string]any
	tenantID := ""
	if t != nil {
		tenantID = t.ID
		d = t.domain(dom)
		if d != nil && d.IsVerified {
			root = t.rootOf(d).Name
			if fed = t.effectiveFederation(d); fed != nil {
				fedCopy = make(map[string]any, len(fed.Props))
				for k, v := range fed.Props {
					fedCopy[k] = v
				}
			}
		}
	}
	s.store.mu.RUnlock()
	if t == nil || d == nil || !d.IsVerified {
		s.signInFailure(w, r, sierr(50034, "The user account {EUII Hidden} does not exist in the directory. To sign into this application, the account must be added to the directory."),
			SignIn{Protocol: "password", UserPrincipalName: username, TenantID: tenantID, Domain: dom})
		return
	}
	if fed == nil {
		s.managedSignIn(w, r, t.ID, username, opts)
		return
	}

	// Federated: Entra sends the user to the identity provider.
	f := fedProps(fedCopy)
	mfa := opts.mfa
	s.store.mu.RLock()
	if u := t.usersIdx().byUPN[strings.ToLower(username)]; u != nil && u.MFARequired {
		mfa = true
	}
	s.store.mu.RUnlock()
	if f.passive == "" {
		s.signInFailure(w, r, sierr(90082, "The selected authentication policy for the request isn't currently supported: the federation of %s has no passiveSignInUri.", root),
			SignIn{Protocol: f.protocol, UserPrincipalName: username, TenantID: t.ID, Domain: root, Issuer: f.issuer})
		return
	}
	now := s.now()
	ctx := &signInContext{tenantID: t.ID, domain: root, username: username, protocol: f.protocol, fresh: opts.fresh, mfa: mfa,
		mfaPolicy: f.mfaBehavior, issuedAt: now, expiresAt: now.Add(signInContextLifetime)}
	if f.protocol == "saml" {
		s.startSAML(w, r, ctx, f)
		return
	}
	ctx.key = "LoginOptions=3&estsredirect=2&estsrequest=" + s.randomToken(32)
	target, err := url.Parse(f.passive)
	if err != nil || (target.Scheme != "https" && target.Scheme != "http") {
		s.signInFailure(w, r, sierr(90102, "The value must be a valid absolute URI: passiveSignInUri %q.", f.passive),
			SignIn{Protocol: "wsFed", UserPrincipalName: username, TenantID: t.ID, Domain: root})
		return
	}
	q := target.Query()
	for k, vs := range wsfedSignInParams(f.promptLogin, f.mfaBehavior, ctx.fresh, ctx.mfa) {
		q[k] = vs
	}
	q.Set("wctx", ctx.key)
	q.Set("username", username)
	q.Set("client-request-id", s.newID())
	target.RawQuery = q.Encode()
	ctx.redirected = target.String()
	s.contexts.put(ctx, now)
	s.log.Info("m365sim: redirecting to the federated identity provider", "protocol", "wsFed", "upn", username, "to", target.Host)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, ctx.redirected, http.StatusFound)
}

// wsfedSignInParams are the WS-Federation parameters Entra adds for a
// sign-in (contract §4): wa and wtrealm always; for a fresh sign-in,
// according to promptLoginBehavior (AD FS prompt=login page): wfresh=0 and
// wauth=…/password (translateToFreshPasswordAuthentication, the default),
// prompt=login as is (nativeSupport), or wfresh=0 only (disabled); when MFA
// is required and federatedIdpMfaBehavior is enforceMfaByFederatedIdp,
// wauth=http://schemas.microsoft.com/claims/multipleauthn (it takes the
// place of the password wauth). acceptIfMfaDoneByFederatedIdp and
// rejectMfaByFederatedIdp do not ask the identity provider for MFA.
func wsfedSignInParams(promptLogin, mfaBehavior string, fresh, mfa bool) url.Values {
	q := url.Values{}
	q.Set("wa", "wsignin1.0")
	q.Set("wtrealm", realmMicrosoftOnline)
	if fresh {
		switch promptLogin {
		case "nativeSupport":
			q.Set("prompt", "login")
		case "disabled":
			q.Set("wfresh", "0")
		default: // translateToFreshPasswordAuthentication
			q.Set("wfresh", "0")
			q.Set("wauth", wauthPassword)
		}
	}
	if mfa && mfaBehavior == mfaEnforce {
		q.Set("wauth", wauthMFA)
	}
	return q
}

// fedSettings are the federation properties the sign-in needs.
type fedSettings struct {
	issuer, passive, protocol, promptLogin, mfaBehavior string
	signedRequests                                      bool
	current, next                                       *x509.Certificate
}

func fedProps(p map[string]any) fedSettings {
	str := func(k string) string { v, _ := p[k].(string); return v }
	f := fedSettings{issuer: str("issuerUri"), passive: str("passiveSignInUri"), promptLogin: str("promptLoginBehavior"),
		mfaBehavior: str("federatedIdpMfaBehavior")}
	f.protocol = "wsFed"
	if strings.EqualFold(str("preferredAuthenticationProtocol"), "saml") {
		f.protocol = "saml"
	}
	if f.mfaBehavior == "" {
		f.mfaBehavior = mfaAccept
	}
	f.signedRequests, _ = p["isSignedAuthenticationRequestRequired"].(bool)
	parse := func(k string) *x509.Certificate {
		der, err := base64.StdEncoding.DecodeString(str(k))
		if err != nil || len(der) == 0 {
			return nil
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil
		}
		return c
	}
	f.current, f.next = parse("signingCertificate"), parse("nextSigningCertificate")
	return f
}

// certs are the trusted token-signing certificates: the current one and
// the next (rollover, contract §3).
func (f fedSettings) certs() []*x509.Certificate {
	var out []*x509.Certificate
	if f.current != nil {
		out = append(out, f.current)
	}
	if f.next != nil {
		out = append(out, f.next)
	}
	return out
}

// whichCert names the certificate that verified a token.
func (f fedSettings) whichCert(c *x509.Certificate) string {
	switch {
	case c == nil:
		return ""
	case f.current != nil && c.Equal(f.current):
		return "signingCertificate"
	case f.next != nil && c.Equal(f.next):
		return "nextSigningCertificate"
	}
	return ""
}

// managedSignIn checks a cloud password (managed domain). The first visit
// shows the password prompt; the POST with the password completes it.
func (s *Server) managedSignIn(w http.ResponseWriter, r *http.Request, tenantID, username string, opts startOptions) {
	password := r.PostForm.Get("password")
	if r.Method != http.MethodPost || password == "" {
		s.renderPasswordPage(w, r, username, opts, nil)
		return
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	si := SignIn{Protocol: "password", UserPrincipalName: username, TenantID: tenantID, IPAddress: clientIP(r), FreshRequested: opts.fresh}
	t := s.store.tenants[tenantID]
	var u *User
	if t != nil {
		u = t.usersIdx().byUPN[strings.ToLower(username)]
	}
	var e *signInError
	switch {
	case u == nil:
		e = sierr(50034, "The user account {EUII Hidden} does not exist in the %s directory. To sign into this application, the account must be added to the directory.", tenantID)
	case u.Password == "":
		e = sierr(50056, "Invalid or null password: password does not exist in the directory for this user.")
	case u.Password != password:
		e = sierr(50126, "Error validating credentials due to invalid username or password.")
	case !accountEnabled(u):
		e = sierr(50057, "The user account is disabled.")
	}
	if u != nil {
		si.UserID, si.UserDisplayName, si.UserPrincipalName = u.id, u.str("displayName"), u.str("userPrincipalName")
		si.MFARequired = opts.mfa || u.MFARequired
	}
	if e != nil {
		si.Status = SignInStatus{ErrorCode: e.code, FailureReason: e.msg}
		s.logSignInLocked(si)
		s.writeSignInError(w, r, e, si)
		return
	}
	if si.MFARequired {
		si.MFASatisfiedBy = "entra (simulated)"
	}
	s.logSignInLocked(si)
	s.writeSignedIn(w, r, si, t)
}

func accountEnabled(u *User) bool {
	enabled, ok := u.props["accountEnabled"].(bool)
	return !ok || enabled
}

// signInFailure logs a failed attempt and shows the error page.
func (s *Server) signInFailure(w http.ResponseWriter, r *http.Request, e *signInError, si SignIn) {
	si.Status = SignInStatus{ErrorCode: e.code, FailureReason: e.msg}
	si.IPAddress = clientIP(r)
	s.logSignIn(si)
	s.writeSignInError(w, r, e, si)
}

// serveLoginSRF is POST /login.srf, where identity providers post tokens:
// WS-Federation (wa, wresult, wctx) or SAML 2.0 (SAMLResponse, RelayState).
func (s *Server) serveLoginSRF(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		s.signInFailure(w, r, &signInError{code: 900561, status: http.StatusMethodNotAllowed,
			msg: "The endpoint only accepts POST requests. Received a " + r.Method + " request."}, SignIn{Protocol: "wsFed"})
		return
	}
	// A form with a 256 KiB token, URL-encoded, fits in 1 MiB.
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if ok := asMaxBytes(err, &mbe); ok {
			s.signInFailure(w, r, sierr(50008, "SAML token is invalid: the request is larger than 1 MiB."), SignIn{Protocol: "wsFed"})
			return
		}
		s.signInFailure(w, r, sierr(90081, "An error occurred when the service tried to process a WS-Federation message: the form body cannot be read (%v).", err), SignIn{Protocol: "wsFed"})
		return
	}
	if r.PostForm.Get("SAMLResponse") != "" {
		s.completeSAML(w, r)
		return
	}
	s.completeWSFed(w, r)
}

func asMaxBytes(err error, target **http.MaxBytesError) bool {
	for err != nil {
		if m, ok := err.(*http.MaxBytesError); ok {
			*target = m
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// finishFederated looks the user up by immutable id and applies the account
// and MFA rules, then logs the attempt and answers. claims come from a
// validated token (or are nil with e set).
func (s *Server) finishFederated(w http.ResponseWriter, r *http.Request, ctx *signInContext, f fedSettings, claims *tokenClaims, e *signInError) {
	si := SignIn{Protocol: ctx.protocol, TenantID: ctx.tenantID, UserPrincipalName: ctx.username, Domain: ctx.domain, Issuer: f.issuer,
		MFARequired: ctx.mfa, FreshRequested: ctx.fresh, IPAddress: clientIP(r), Details: SignInDetails{Redirect: ctx.redirected}}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	t := s.store.tenants[ctx.tenantID]
	if e == nil && t == nil {
		e = sierr(90002, "Tenant '%s' not found. The tenant was removed while the sign-in was in progress.", ctx.tenantID)
	}
	var u *User
	if e == nil {
		si.ImmutableID = claims.nameID
		si.SigningCertificate = f.whichCert(claims.cert)
		u = t.usersIdx().byImmutable[claims.nameID]
		if u == nil && claims.nameIDDecoded != "" {
			u = t.usersIdx().byImmutable[claims.nameIDDecoded]
		}
		switch {
		case u == nil:
			// AADSTS51004 is what Entra answers for an ImmutableID that no
			// user has (the message names the ImmutableID).
			e = sierr(51004, "The user account %s does not exist in the %s directory. To sign into this application, the account must be added to the directory.", claims.nameID, ctx.tenantID)
		default:
			si.UserID, si.UserDisplayName, si.UserPrincipalName = u.id, u.str("displayName"), u.str("userPrincipalName")
			_, udom, _ := strings.Cut(u.str("userPrincipalName"), "@")
			if ud := t.domain(udom); ud == nil || !strings.EqualFold(t.rootOf(ud).Name, ctx.domain) {
				e = sierr(51004, "The user account %s does not exist in the federation realm of %s (the user's domain is %s). To sign into this application, the account must be added to the directory.", claims.nameID, ctx.domain, udom)
			} else if !accountEnabled(u) {
				e = sierr(50057, "The user account is disabled.")
			}
		}
	}
	if e == nil {
		if claims.upn == "" {
			si.Warnings = append(si.Warnings, "the token carries no UPN")
		} else if !strings.EqualFold(claims.upn, u.str("userPrincipalName")) {
			si.Warnings = append(si.Warnings, fmt.Sprintf("the token's UPN %q differs from the user's userPrincipalName %q (Entra signs in by ImmutableID)", claims.upn, u.str("userPrincipalName")))
		}
		if ctx.fresh && !claims.authnInstant.IsZero() && claims.authnInstant.Before(ctx.issuedAt.Add(-signInClockSkew)) {
			si.Warnings = append(si.Warnings, fmt.Sprintf("a fresh sign-in was requested, but the token says the user authenticated at %s, before the request", claims.authnInstant.UTC().Format(time.RFC3339)))
		}
		if u.MFARequired {
			si.MFARequired = true
		}
		// federatedIdpMfaBehavior (internalDomainFederation): accept the
		// IdP's MFA or do Entra's own; enforce: the IdP must have done it;
		// reject: Entra always does its own.
		if si.MFARequired {
			switch {
			case ctx.mfaPolicy == mfaReject:
				si.MFASatisfiedBy = "entra (simulated)"
				if claims.mfa {
					si.Warnings = append(si.Warnings, "the identity provider's MFA claim was ignored (rejectMfaByFederatedIdp)")
				}
			case claims.mfa:
				si.MFASatisfiedBy = "federatedIdp"
			case ctx.mfaPolicy == mfaEnforce:
				e = sierr(50079, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication: the federated identity provider must provide the multifactor claim (%s), and the token has none.", wauthMFA)
			default:
				si.MFASatisfiedBy = "entra (simulated)"
			}
		}
	}
	if e != nil {
		si.Status = SignInStatus{ErrorCode: e.code, FailureReason: e.msg}
		s.logSignInLocked(si)
		s.writeSignInError(w, r, e, si)
		return
	}
	s.logSignInLocked(si)
	s.writeSignedIn(w, r, si, t)
}

// randomToken returns n random bytes, base64url.
func (s *Server) randomToken(n int) string {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		panic(fmt.Sprintf("m365sim: reading randomness: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// wantsJSON reports whether the client asked for JSON rather than a page.
func wantsJSON(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

// writeSignInError answers with Entra's error page (or JSON when asked).
// Entra shows its error page with status 200; the sim uses 400 so that
// scripts and tests see the failure without reading the page.
func (s *Server) writeSignInError(w http.ResponseWriter, r *http.Request, e *signInError, si SignIn) {
	status := e.status
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.Header().Set("X-M365sim-Error", fmt.Sprintf("AADSTS%d", e.code))
	w.Header().Set("Cache-Control", "no-store")
	if wantsJSON(r) {
		writeJSON(w, status, map[string]any{"error": fmt.Sprintf("AADSTS%d", e.code), "error_codes": []int{e.code},
			"error_description": e.Error(), "signIn": si})
		return
	}
	s.renderErrorPage(w, status, e, si)
}

// writeSignedIn shows the signed-in page naming the user.
func (s *Server) writeSignedIn(w http.ResponseWriter, r *http.Request, si SignIn, t *Tenant) {
	w.Header().Set("Cache-Control", "no-store")
	tenantName := ""
	if t != nil {
		tenantName = t.DisplayName
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"result": "signedIn", "tenant": tenantName, "signIn": si})
		return
	}
	s.renderSignedInPage(w, si, tenantName)
}

// serveSignIns is GET /_sim/signins (the log, newest first) and DELETE
// /_sim/signins (clear it).
func (s *Server) serveSignIns(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		list := s.SignIns()
		if list == nil {
			list = []SignIn{}
		}
		b, _ := json.Marshal(map[string]any{"value": list})
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(b)
	case http.MethodDelete:
		s.store.mu.Lock()
		s.store.signIns = nil
		s.store.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": map[string]string{"message": "GET or DELETE"}})
	}
}
