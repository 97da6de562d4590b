// Package wsfed is Portico's WS-Federation passive requestor endpoint for
// Microsoft 365 (WS-Federation 1.2 §13 as MS-MWBF profiles it;
// M365-CONTRACT.md §4): Microsoft Entra ID sends a federated domain's
// users to it with wa=wsignin1.0, Portico signs them in
// through the login pages (or their single sign-on session) and answers
// with a signed SAML 1.1 token in an auto-submitting form posted to
// Microsoft's login URL; wa=wsignout1.0 signs out; the federation metadata
// document describes the endpoint and its signing certificates.
//
// Routes, per application (package endpoints builds the URLs):
//
//	GET|POST /t/{tenant}/apps/{app}/wsfed          wsignin1.0, wsignout1.0, wsignoutcleanup1.0
//	GET      /t/{tenant}/apps/{app}/wsfed/continue  end of a sign-in through the login pages
//	GET      /t/{tenant}/apps/{app}/FederationMetadata/2007-06/FederationMetadata.xml
package wsfed

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/idp/assertion"
	"github.com/portico-idp/portico/internal/idp/endpoints"
	"github.com/portico-idp/portico/internal/idp/idphttp"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/web/login"
)

// Protocol is the login package's name for WS-Federation flows.
const Protocol = "wsfed"

// WS-Federation parameter values (WS-Federation 1.2 §13, as MS-MWBF profiles it).
const (
	ActionSignIn         = "wsignin1.0"
	ActionSignOut        = "wsignout1.0"
	ActionSignOutCleanup = "wsignoutcleanup1.0"
)

// Limits on what a request may carry.
const (
	maxBody = 64 << 10
	// maxContext bounds wctx: Entra's is a few hundred bytes to a few KiB
	// (it carries its own request state); it is stored with the flow.
	maxContext = 16 << 10
	maxHint    = 256
)

// Config is the shared configuration of the protocol handlers.
type Config = idphttp.Config

// Handler serves the WS-Federation endpoints.
type Handler struct {
	*idphttp.Base
}

// New returns the WS-Federation handler. cfg needs Store, Login, Signin,
// Admin and PublicURL.
func New(cfg Config) (*Handler, error) {
	b, err := idphttp.NewBase(cfg, true)
	if err != nil {
		return nil, err
	}
	return &Handler{Base: b}, nil
}

// Register adds the routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+endpoints.RouteWSFed, h.passive)
	// Some clients post the sign-in request (WS-Federation 1.2 §13:
	// the parameters travel in the query string or in a POSTed form).
	mux.HandleFunc("POST "+endpoints.RouteWSFed, h.passive)
	mux.HandleFunc("GET "+endpoints.RouteWSFedContinue, h.continueSignIn)
	mux.HandleFunc("GET "+endpoints.RouteFederationMetadata, h.metadata)
}

// payload is what a sign-in through the login pages carries to the
// continue endpoint (login.Request.Payload).
type payload struct {
	Proto string `json:"p"`
	// Context is wctx, echoed unchanged (WS-Federation 1.2 §13: the relying
	// party's context comes back unchanged); HasContext tells an empty one from none.
	Context    string `json:"c,omitempty"`
	HasContext bool   `json:"h,omitempty"`
	RequireMFA bool   `json:"m,omitempty"`
}

// request is a parsed wsignin1.0.
type request struct {
	payload
	hint       string
	forceFresh bool
	// maxAge is wfresh in minutes when positive (WS-Federation 1.2
	// §13: the maximum age of the authentication; 0 means authenticate now).
	maxAge time.Duration
}

func (h *Handler) passive(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		h.Fail(w, r, nil, "wsfed request", &idphttp.Problem{Status: status, Message: "The sign-in request could not be read.", Err: err})
		return
	}
	if idphttp.BounceCrossSitePOST(w, r) {
		return
	}
	tg, err := h.Resolve(r)
	if err != nil {
		h.Fail(w, r, nil, "wsfed request", err)
		return
	}
	for _, k := range []string{"wa", "wtrealm", "wctx", "wreply", "wfresh", "wauth"} {
		if len(r.Form[k]) > 1 {
			h.Fail(w, r, &tg, "wsfed request", &idphttp.Problem{Status: http.StatusBadRequest,
				Message: "The sign-in request is not valid (a parameter is repeated).", Err: fmt.Errorf("%s given %d times", k, len(r.Form[k]))})
			return
		}
	}
	switch wa := r.Form.Get("wa"); wa {
	case ActionSignIn:
		h.signIn(w, r, tg)
	case ActionSignOut, ActionSignOutCleanup:
		h.signOut(w, r, tg)
	default:
		h.Fail(w, r, &tg, "wsfed request", &idphttp.Problem{Status: http.StatusBadRequest,
			Message: "This address takes WS-Federation sign-in and sign-out requests only.", Err: fmt.Errorf("wa=%q", wa)})
	}
}

// parseSignIn reads a wsignin1.0 request (WS-Federation 1.2 §13,
// MS-MWBF; M365-CONTRACT.md §4). wreply is never read: the reply goes only to the
// application's login URL.
func parseSignIn(r *http.Request) (request, error) {
	f := r.Form
	var q request
	q.Proto = Protocol
	if realm := f.Get("wtrealm"); realm != assertion.MicrosoftOnlineRealm {
		return q, &idphttp.Problem{Status: http.StatusBadRequest,
			Message: "This sign-in request is for an application Portico does not serve here (only Microsoft 365, urn:federation:MicrosoftOnline).",
			Err:     fmt.Errorf("wtrealm %q", realm)}
	}
	if _, ok := f["wctx"]; ok {
		q.Context, q.HasContext = f.Get("wctx"), true
		if len(q.Context) > maxContext {
			return q, &idphttp.Problem{Status: http.StatusBadRequest, Message: "The sign-in request is too large.",
				Err: fmt.Errorf("wctx of %d bytes", len(q.Context))}
		}
		if !idphttp.FormSafe(q.Context) {
			return q, &idphttp.Problem{Status: http.StatusBadRequest,
				Message: "The sign-in request is not valid (its context holds characters a browser cannot return unchanged).",
				Err:     errors.New("wctx is not valid UTF-8 or holds control characters")}
		}
	}
	// wfresh=0 and Entra's prompt=login ask for a fresh authentication
	// (M365-CONTRACT.md §4, promptLoginBehavior translateToFreshPasswordAuthentication).
	if v := f.Get("wfresh"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n == 0 {
			q.forceFresh = true
		} else if err == nil && n > 0 && n < 1<<20 {
			q.maxAge = time.Duration(n) * time.Minute
		}
	}
	if f.Get("prompt") == "login" {
		q.forceFresh = true
	}
	// wauth names the authentication method required (WS-Federation 1.2 §13);
	// Microsoft's multipleauthn asks for a second factor. Other values
	// (password) are met by every sign-in.
	if f.Get("wauth") == assertion.MultipleAuthn {
		q.RequireMFA = true
	}
	for _, k := range []string{"username", "login_hint"} {
		if v := f.Get(k); v != "" && len(v) <= maxHint {
			q.hint = v
			break
		}
	}
	return q, nil
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request, tg idphttp.Target) {
	q, err := parseSignIn(r)
	if err != nil {
		h.Fail(w, r, &tg, "wsfed sign-in", err)
		return
	}
	if !tg.App.Enabled {
		h.Fail(w, r, &tg, "wsfed sign-in", signin.ErrAppDisabled)
		return
	}
	p, _ := json.Marshal(q.payload)
	lr := login.Request{Protocol: Protocol, Payload: p, UsernameHint: q.hint, ForceFresh: q.forceFresh, RequireMFA: q.RequireMFA}
	res, err := h.Login.Start(w, r, tg.Tenant, tg.App, lr)
	if err == nil && res != nil && q.maxAge > 0 && h.Clock().Sub(res.AuthnInstant) > q.maxAge {
		// The session's authentication is older than wfresh allows.
		lr.ForceFresh = true
		res, err = h.Login.Start(w, r, tg.Tenant, tg.App, lr)
	}
	if err != nil {
		h.Fail(w, r, &tg, "wsfed sign-in", err)
		return
	}
	if res == nil {
		// The browser is on its way to the login pages.
		return
	}
	h.respond(w, r, tg, res, q.payload)
}

// continueSignIn ends a sign-in that went through the login pages.
func (h *Handler) continueSignIn(w http.ResponseWriter, r *http.Request) {
	var p payload
	if tg, res, ok := h.Finish(w, r, Protocol, &p); ok {
		h.respond(w, r, tg, res, p)
	}
}

// ProtocolName names the protocol of the payload (idphttp.Payload).
func (p *payload) ProtocolName() string { return p.Proto }

// respond issues the token and writes the form that posts it to Microsoft
// (WS-Federation 1.2 §13; M365-CONTRACT.md §4): wa, wresult and wctx,
// POSTed to the application's login URL, the only reply address there is.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, tg idphttp.Target, res *login.Result, p payload) {
	if p.RequireMFA && !res.MFA {
		// The login package enforces this; never claim what was not done.
		h.Fail(w, r, &tg, "wsfed sign-in", errors.New("second factor required but not proven"))
		return
	}
	issuer, err := h.Issuer(tg, res.User.UPN)
	if err != nil {
		h.Fail(w, r, &tg, "wsfed sign-in", err)
		return
	}
	signer, err := h.Signer(r.Context(), tg)
	if err != nil {
		h.Fail(w, r, &tg, "wsfed sign-in", err)
		return
	}
	wresult, err := assertion.BuildWSFedResponse(h.Options(), signer, assertion.Claims{
		Issuer: issuer, ImmutableID: res.User.ImmutableID, UPN: res.User.UPN, MFA: res.MFA, AuthnInstant: res.AuthnInstant})
	if err != nil {
		h.Fail(w, r, &tg, "wsfed sign-in", err)
		return
	}
	fields := []idphttp.Field{{Name: "wa", Value: ActionSignIn}, {Name: "wresult", Value: string(wresult)}}
	if p.HasContext {
		fields = append(fields, idphttp.Field{Name: "wctx", Value: p.Context})
	}
	h.Logger(r, &tg).InfoContext(r.Context(), "wsfed token issued", "user", res.User.ID, "upn", res.User.UPN,
		"issuer", issuer, "mfa", res.MFA, "to", tg.App.LoginURL())
	idphttp.WritePostForm(w, tg.App.LoginURL(), fields)
}

// signOut ends the browser's Portico session (WS-Federation 1.2 §13
// wsignout1.0 and wsignoutcleanup1.0; M365 contract §4) and returns to wreply only when it is a Microsoft login
// host or the application's own login host; otherwise it shows a
// signed-out page. Signing out works even for a disabled application.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request, tg idphttp.Target) {
	log := h.Logger(r, &tg)
	if err := h.Login.EndSession(w, r, tg.Tenant); err != nil {
		log.ErrorContext(r.Context(), "wsfed sign-out: end session", "err", err)
	}
	reply := r.Form.Get("wreply")
	if to, ok := idphttp.SignOutReply(reply, tg.App.LoginURL()); ok {
		log.InfoContext(r.Context(), "wsfed sign-out", "reply", to)
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	if reply != "" {
		log.WarnContext(r.Context(), "wsfed sign-out: reply address refused", "wreply", truncate(reply, 200))
	} else {
		log.InfoContext(r.Context(), "wsfed sign-out")
	}
	idphttp.WriteSignedOut(w, r)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// metadata serves the WS-Federation metadata (WS-Federation 1.2 §3.1) of
// one issuer: ?domain= picks the root domain, else the first configured
// one. It lists the current and the next signing certificate and is signed
// with the current key.
func (h *Handler) metadata(w http.ResponseWriter, r *http.Request) {
	tg, err := h.Resolve(r)
	if err != nil {
		h.Fail(w, r, nil, "federation metadata", err)
		return
	}
	if !tg.App.Enabled {
		h.Fail(w, r, &tg, "federation metadata", signin.ErrAppDisabled)
		return
	}
	issuer, ok := h.MetadataIssuer(r, tg)
	if !ok {
		h.Fail(w, r, &tg, "federation metadata", &idphttp.Problem{Status: http.StatusNotFound,
			Message: "Name a domain (?domain=contoso.com): this application has no federated domain configured yet."})
		return
	}
	signer, certs, err := h.Keys(r.Context(), tg)
	if err != nil {
		h.Fail(w, r, &tg, "federation metadata", err)
		return
	}
	fp := assertion.FederationMetadataParams{EntityID: issuer, Certs: certs, ValidFor: 24 * time.Hour,
		PassiveURL: endpoints.WSFed(h.PublicURL, tg.Tenant.Slug, tg.App.ID)}
	if strings.HasPrefix(h.PublicURL, "https://") {
		// The usernamemixed endpoint exists only over https (package wstrust).
		fp.ActiveURL = endpoints.WSTrustUsernameMixed(h.PublicURL, tg.Tenant.Slug, tg.App.ID)
	}
	doc, err := assertion.BuildFederationMetadata(h.Options(), signer, fp)
	if err != nil {
		h.Fail(w, r, &tg, "federation metadata", err)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(doc)
}
