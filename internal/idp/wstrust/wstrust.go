// Package wstrust is Portico's WS-Trust 1.3 endpoint for active clients
// (M365-CONTRACT.md §6): legacy and device-join clients that cannot show a
// browser post a SOAP 1.2 RequestSecurityToken with a username and password
// (usernamemixed: the password in a wsse:UsernameToken, protected by TLS)
// and get back the same signed SAML 1.1 token as WS-Federation. The
// WS-MetadataExchange document tells clients (MSAL's wstrust package) where
// that endpoint is.
//
// Active clients cannot answer a second-factor prompt, so an application
// whose policy requires one refuses them with a SOAP fault — unless the
// application allows password-only active sign-in
// (apps.Application.AllowPasswordOnlyActive).
//
// The password's only protection is TLS, so when Portico's public URL is
// http the MEX is not served and username/password requests get a SOAP
// fault before their password is read — unless the server runs with the
// development switch --insecure-allow-http-wstrust (WithInsecureHTTP).
//
// Routes, per application (package endpoints builds the URLs):
//
//	POST /t/{tenant}/apps/{app}/wstrust/13/usernamemixed
//	GET  /t/{tenant}/apps/{app}/wstrust/mex
package wstrust

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/idp/assertion"
	"github.com/portico-idp/portico/internal/idp/endpoints"
	"github.com/portico-idp/portico/internal/idp/idphttp"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/xmlsafe"
)

// maxBody bounds a request; MSAL's is about 2 KiB.
const maxBody = 64 << 10

// soapContentType is SOAP 1.2's media type (SOAP 1.2 part 2 §7.1.4).
const soapContentType = "application/soap+xml; charset=utf-8"

// Config is the shared configuration of the protocol handlers.
type Config = idphttp.Config

// Handler serves the WS-Trust endpoints.
type Handler struct {
	*idphttp.Base
	// insecureHTTP accepts passwords although the public URL is http.
	insecureHTTP bool
}

// Option configures a Handler.
type Option func(*Handler)

// WithInsecureHTTP, when on, accepts username/password requests although
// Portico's public URL is http (the server's --insecure-allow-http-wstrust,
// for development). Off, such requests get a SOAP fault: the usernamemixed
// binding's only protection of the password is TLS.
func WithInsecureHTTP(on bool) Option { return func(h *Handler) { h.insecureHTTP = on } }

// New returns the WS-Trust handler. cfg needs Store, Signin, Admin and
// PublicURL (Login is not used).
func New(cfg Config, opts ...Option) (*Handler, error) {
	b, err := idphttp.NewBase(cfg, false)
	if err != nil {
		return nil, err
	}
	h := &Handler{Base: b}
	for _, o := range opts {
		o(h)
	}
	return h, nil
}

// Register adds the routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+endpoints.RouteWSTrustUsernameMix, h.usernameMixed)
	mux.HandleFunc("GET "+endpoints.RouteWSTrustMEX, h.mex)
}

// Faults a sign-in can end with (WS-Trust 1.3 §11 codes). The reasons are
// what the client (and its user) read.
var (
	faultAuthentication = &assertion.WSTrustFault{Sender: true, Subcode: "FailedAuthentication",
		Reason: "ID3242: The security token could not be authenticated or authorized."}
	faultScope = &assertion.WSTrustFault{Sender: true, Subcode: "InvalidScope",
		Reason: "Tokens are issued only for Microsoft 365 (AppliesTo urn:federation:MicrosoftOnline)."}
	faultSecondFactor = &assertion.WSTrustFault{Sender: true, Subcode: "RequestFailed",
		Reason: "This application requires a second factor (an authenticator app code) at every sign-in, which clients " +
			"using WS-Trust username/password sign-in cannot provide. Use an application that signs in through the browser " +
			"(modern authentication), or ask your administrator to allow password-only sign-in for such clients."}
	faultReplay = &assertion.WSTrustFault{Sender: true, Subcode: "InvalidRequest", Reason: "This request was already answered."}
	// faultPlainHTTP: usernamemixed is transport security
	// (sp:TransportBinding, M365-CONTRACT.md §6); over plain http the
	// password would cross the network in clear text.
	faultPlainHTTP = &assertion.WSTrustFault{Sender: true, Subcode: "RequestFailed",
		Reason: "Username and password sign-in is offered only over https. Ask your administrator to give Portico an https public URL."}
)

// fault maps an error of the sign-in to the fault the client gets.
func fault(err error) *assertion.WSTrustFault {
	var f *assertion.WSTrustFault
	switch {
	case errors.As(err, &f):
		return f
	case errors.Is(err, idphttp.ErrNotFound):
		return &assertion.WSTrustFault{Sender: true, Subcode: "InvalidRequest", Reason: "No such tenant or application.", Err: err}
	case errors.Is(err, signin.ErrInvalidCredentials):
		return withCause(faultAuthentication, err)
	case errors.Is(err, signin.ErrThrottled):
		return &assertion.WSTrustFault{Sender: true, Subcode: "FailedAuthentication", Reason: "Too many attempts. Wait a few minutes and try again.", Err: err}
	case errors.Is(err, signin.ErrAccountDisabled):
		return &assertion.WSTrustFault{Sender: true, Subcode: "FailedAuthentication", Reason: "The account is not active.", Err: err}
	case errors.Is(err, signin.ErrNotPermitted):
		return &assertion.WSTrustFault{Sender: true, Subcode: "RequestFailed", Reason: "The user is not allowed to use this application.", Err: err}
	case errors.Is(err, signin.ErrAppDisabled):
		return &assertion.WSTrustFault{Sender: true, Subcode: "RequestFailed", Reason: "This application is disabled.", Err: err}
	case errors.Is(err, idphttp.ErrDomainNotFederated):
		return &assertion.WSTrustFault{Sender: true, Subcode: "RequestFailed", Reason: "The user's domain is not set up for sign-in to this application.", Err: err}
	}
	return &assertion.WSTrustFault{Sender: false, Subcode: "RequestFailed", Reason: "The request failed.", Err: err}
}

func withCause(f *assertion.WSTrustFault, err error) *assertion.WSTrustFault {
	c := *f
	c.Err = err
	return &c
}

// usernameMixed answers a WS-Trust 1.3 Issue request (WS-Trust 1.3 §4.1,
// §4.3; M365-CONTRACT.md §6).
func (h *Handler) usernameMixed(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tg, err := h.Resolve(r)
	if err != nil {
		h.writeFault(w, r, nil, "", err)
		return
	}
	// Refused before the body (and the password in it) is even read: the
	// client learns to stop, and no password is checked over clear text.
	if !strings.HasPrefix(h.PublicURL, "https://") && !h.insecureHTTP {
		h.writeFault(w, r, &tg, "", withCause(faultPlainHTTP, errors.New("public URL is http; start the server with an https --public-url (or --insecure-allow-http-wstrust for development)")))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = &assertion.WSTrustFault{Sender: true, Subcode: "InvalidRequest", Reason: "The request is too large.", Err: err}
		}
		h.writeFault(w, r, &tg, "", err)
		return
	}
	req, err := assertion.ParseWSTrustRequest(body, assertion.WSTrustParseOptions{Now: h.Now, Limits: xmlsafe.Limits{MaxBytes: maxBody}})
	if err != nil {
		h.writeFault(w, r, &tg, "", err)
		return
	}
	log := h.Logger(r, &tg).With("username", truncate(req.Username, 256), "message_id", truncate(req.MessageID, 256))
	if !tg.App.Enabled {
		h.recordSignin(r, tg, req.Username, directory.User{}, signin.ErrAppDisabled, "")
		h.writeFault(w, r, &tg, req.MessageID, signin.ErrAppDisabled)
		return
	}
	if req.AppliesTo != assertion.MicrosoftOnlineRealm {
		h.writeFault(w, r, &tg, req.MessageID, withCause(faultScope, fmt.Errorf("AppliesTo %q", req.AppliesTo)))
		return
	}
	// The policy is the application's, the same for every user: refusing
	// before the password is checked keeps this endpoint from being a
	// password oracle that bypasses the second factor (password spraying
	// through legacy authentication).
	pol, err := h.Signin.Policy(ctx, tg.App)
	if err != nil {
		h.writeFault(w, r, &tg, req.MessageID, err)
		return
	}
	if pol.RequiresMFA() && !tg.App.AllowPasswordOnlyActive {
		h.recordSignin(r, tg, req.Username, directory.User{}, nil, signin.ReasonMFARequired)
		h.writeFault(w, r, &tg, req.MessageID, withCause(faultSecondFactor, errors.New("policy requires a second factor")))
		return
	}
	// A message is answered once: a captured request replayed within its
	// timestamp's validity gets no second token (WSS SOAP Message Security
	// 1.1 §10 leaves replay detection to the receiver).
	if req.MessageID != "" && !req.Expires.IsZero() {
		err := h.Store.UseNonce(ctx, "wstrust-message:"+tg.Tenant.ID+":"+tg.App.ID+":"+req.MessageID, req.Expires.Add(5*time.Minute))
		if errors.Is(err, storage.ErrAlreadyExists) {
			h.recordSignin(r, tg, req.Username, directory.User{}, nil, signin.ReasonReplay)
			h.writeFault(w, r, &tg, req.MessageID, withCause(faultReplay, err))
			return
		}
		if err != nil {
			h.writeFault(w, r, &tg, req.MessageID, err)
			return
		}
	}
	u, err := h.Signin.CheckPassword(ctx, tg.Tenant.ID, req.Username, req.Password, idphttp.ClientAddr(r))
	if err != nil {
		h.recordSignin(r, tg, req.Username, u, err, "")
		h.writeFault(w, r, &tg, req.MessageID, err)
		return
	}
	if err := h.Signin.Authorize(ctx, u, tg.App); err != nil {
		h.recordSignin(r, tg, req.Username, u, err, "")
		h.writeFault(w, r, &tg, req.MessageID, err)
		return
	}
	issuer, err := h.Issuer(tg, u.UPN)
	if err != nil {
		h.writeFault(w, r, &tg, req.MessageID, err)
		return
	}
	signer, err := h.Signer(ctx, tg)
	if err != nil {
		h.writeFault(w, r, &tg, req.MessageID, err)
		return
	}
	// No second factor was proven: the token never claims MFA.
	out, err := assertion.BuildWSTrustResponse(h.Options(), signer, assertion.Claims{
		Issuer: issuer, ImmutableID: u.ImmutableID, UPN: u.UPN, AuthnInstant: h.Clock()},
		assertion.WSTrustResponseParams{RelatesTo: req.MessageID})
	if err != nil {
		h.writeFault(w, r, &tg, req.MessageID, err)
		return
	}
	log.InfoContext(ctx, "wstrust token issued", "user", u.ID, "upn", u.UPN, "issuer", issuer)
	h.recordSignin(r, tg, req.Username, u, nil, "")
	w.Header().Set("Content-Type", soapContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(out)
}

// recordSignin notes a sign-in outcome in the audit log: a success (the
// password is the only factor an active client proves), or a failure with
// the reason of err or the reason given.
func (h *Handler) recordSignin(r *http.Request, tg idphttp.Target, name string, u directory.User, err error, reason string) {
	a := signin.Attempt{TenantID: tg.Tenant.ID, App: tg.App, Protocol: "wstrust", Name: name, User: u, Err: err, Reason: reason,
		Address: idphttp.ClientAddr(r), UserAgent: r.UserAgent()}
	if err == nil && reason == "" {
		a.Factors = []string{signin.FactorPassword}
	}
	h.Signin.RecordSignin(r.Context(), a)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// writeFault logs err and answers with its SOAP fault (SOAP 1.2 part 1
// §5.4), with the status SOAP 1.2 part 2 §7.5.1.2 gives it.
func (h *Handler) writeFault(w http.ResponseWriter, r *http.Request, tg *idphttp.Target, relatesTo string, err error) {
	f := fault(err)
	status := f.HTTPStatus()
	if errors.Is(err, idphttp.ErrNotFound) {
		status = http.StatusNotFound
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		status = http.StatusRequestEntityTooLarge
	}
	log := h.Logger(r, tg)
	if status >= 500 {
		log.ErrorContext(r.Context(), "wstrust request failed", "status", status, "err", f)
	} else {
		log.InfoContext(r.Context(), "wstrust request refused", "status", status, "err", f)
	}
	w.Header().Set("Content-Type", soapContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(assertion.BuildSOAPFault(f, relatesTo))
}

// mex serves the WS-MetadataExchange document (WS-MetadataExchange 1.1;
// the WSDL shape MSAL's wstrust package parses) advertising this
// application's usernamemixed endpoint. The usernamemixed policy is
// transport security, so it is served only when Portico's public URL is
// https.
func (h *Handler) mex(w http.ResponseWriter, r *http.Request) {
	tg, err := h.Resolve(r)
	if err != nil {
		h.Fail(w, r, nil, "wstrust mex", err)
		return
	}
	if !tg.App.Enabled {
		h.Fail(w, r, &tg, "wstrust mex", signin.ErrAppDisabled)
		return
	}
	doc, err := assertion.BuildMEX(assertion.MEXParams{UsernameMixedURL: endpoints.WSTrustUsernameMixed(h.PublicURL, tg.Tenant.Slug, tg.App.ID)})
	if err != nil {
		h.Fail(w, r, &tg, "wstrust mex", &idphttp.Problem{Status: http.StatusNotFound,
			Message: "WS-Trust is offered only when Portico is reached over https.", Err: err})
		return
	}
	w.Header().Set("Content-Type", soapContentType)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(doc)
}
