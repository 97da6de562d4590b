// Package saml is Portico's SAML 2.0 identity provider endpoint for
// Microsoft 365 (SAML core, bindings, profiles; M365-CONTRACT.md §5):
// Microsoft Entra ID sends an AuthnRequest (by HTTP-POST, or HTTP-Redirect),
// Portico signs the person in through the login pages or their single
// sign-on session and posts back a Response with a signed assertion to
// Microsoft's login URL (Web Browser SSO profile, SAML profiles §4.1).
//
// Routes, per application (package endpoints builds the URLs):
//
//	GET      /t/{tenant}/apps/{app}/saml           AuthnRequest, HTTP-Redirect binding (bindings §3.4)
//	POST     /t/{tenant}/apps/{app}/saml           AuthnRequest, HTTP-POST binding (bindings §3.5)
//	GET      /t/{tenant}/apps/{app}/saml/continue  end of a sign-in through the login pages
//	GET|POST /t/{tenant}/apps/{app}/saml/logout    sign-out (the domain's signOutUri)
//	GET      /t/{tenant}/apps/{app}/saml/metadata  IdP metadata (SAML metadata §2.4.3)
package saml

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/portico-idp/portico/internal/idp/assertion"
	"github.com/portico-idp/portico/internal/idp/endpoints"
	"github.com/portico-idp/portico/internal/idp/idphttp"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/web/login"
	"github.com/portico-idp/portico/internal/xmlsafe"
)

// Protocol is the login package's name for SAML flows.
const Protocol = "saml"

// Limits on what a request may carry.
const (
	// maxXML bounds the decoded AuthnRequest; Entra's are under 2 KiB.
	maxXML = 64 << 10
	// maxBody bounds a POST: the base64 of maxXML plus RelayState.
	maxBody = 128 << 10
	// maxRelayState: SAML bindings §3.4.3 and §3.5.3 let the SP send at
	// most 80 bytes; we are lenient but bounded (it is stored with the flow).
	maxRelayState = 4 << 10
	maxHint       = 256
)

// Config is the shared configuration of the protocol handlers.
type Config = idphttp.Config

// Handler serves the SAML 2.0 endpoints.
type Handler struct {
	*idphttp.Base
}

// New returns the SAML handler. cfg needs Store, Login, Signin, Admin and
// PublicURL.
func New(cfg Config) (*Handler, error) {
	b, err := idphttp.NewBase(cfg, true)
	if err != nil {
		return nil, err
	}
	return &Handler{Base: b}, nil
}

// Register adds the routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+endpoints.RouteSAML, h.redirectBinding)
	mux.HandleFunc("POST "+endpoints.RouteSAML, h.postBinding)
	mux.HandleFunc("GET "+endpoints.RouteSAMLContinue, h.continueSignIn)
	mux.HandleFunc("GET "+endpoints.RouteSAMLLogout, h.logout)
	mux.HandleFunc("POST "+endpoints.RouteSAMLLogout, h.logout)
	mux.HandleFunc("GET "+endpoints.RouteSAMLMetadata, h.metadata)
}

// payload is what a sign-in through the login pages carries to the
// continue endpoint.
type payload struct {
	Proto string `json:"p"`
	// ID is the AuthnRequest ID, answered as InResponseTo.
	ID            string `json:"i"`
	RelayState    string `json:"r,omitempty"`
	HasRelayState bool   `json:"h,omitempty"`
	RequireMFA    bool   `json:"m,omitempty"`
}

// policy is what an acceptable AuthnRequest to this application looks like
// (M365-CONTRACT.md §5): issuer urn:federation:MicrosoftOnline, a
// Destination (if any) naming this endpoint, no assertion consumer service
// but the application's login URL, a signature when the application
// requires one, and an ID never seen before.
func (h *Handler) policy(ctx context.Context, tg idphttp.Target) (assertion.AuthnRequestPolicy, error) {
	o := tg.App.Office365
	certs, err := o.RequestSigningCerts()
	if err != nil {
		return assertion.AuthnRequestPolicy{}, err
	}
	return assertion.AuthnRequestPolicy{
		Now:           h.Now,
		SSOURL:        endpoints.SAML(h.PublicURL, tg.Tenant.Slug, tg.App.ID),
		AllowedACS:    []string{tg.App.LoginURL()},
		RequireSigned: o != nil && o.RequireSignedRequests,
		SPCerts:       certs,
		// One rule for both bindings (assertion.signatureAlgorithms):
		// SHA-1 only where the application allows it.
		AllowSHA1: o != nil && o.AllowSHA1Requests,
		Limits:    xmlsafe.Limits{MaxBytes: maxXML},
		// SAML profiles §4.1.4.5 asks the IdP to refuse a request it has
		// already answered; the id is remembered until the request would be
		// too old anyway. Storage makes it hold across nodes.
		Replay: func(id string, forgetAfter time.Time) error {
			err := h.Store.UseNonce(ctx, "saml-authnrequest:"+tg.Tenant.ID+":"+tg.App.ID+":"+id, forgetAfter)
			if errors.Is(err, storage.ErrAlreadyExists) {
				return fmt.Errorf("%w: id %s", assertion.ErrReplay, id)
			}
			return err
		},
	}, nil
}

func (h *Handler) redirectBinding(w http.ResponseWriter, r *http.Request) {
	tg, err := h.Resolve(r)
	if err != nil {
		h.Fail(w, r, nil, "saml request", err)
		return
	}
	if !tg.App.Enabled {
		h.Fail(w, r, &tg, "saml request", signin.ErrAppDisabled)
		return
	}
	pol, err := h.policy(r.Context(), tg)
	if err != nil {
		h.Fail(w, r, &tg, "saml request", err)
		return
	}
	req, err := assertion.ParseAuthnRequestRedirect(r.URL.RawQuery, pol)
	if err != nil {
		h.Fail(w, r, &tg, "saml request", requestProblem(err))
		return
	}
	h.signIn(w, r, tg, req, r.URL.Query())
}

func (h *Handler) postBinding(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		h.Fail(w, r, nil, "saml request", &idphttp.Problem{Status: status, Message: "The sign-in request could not be read.", Err: err})
		return
	}
	if idphttp.BounceCrossSitePOST(w, r) {
		return
	}
	tg, err := h.Resolve(r)
	if err != nil {
		h.Fail(w, r, nil, "saml request", err)
		return
	}
	if !tg.App.Enabled {
		h.Fail(w, r, &tg, "saml request", signin.ErrAppDisabled)
		return
	}
	if len(r.PostForm["SAMLRequest"]) != 1 || len(r.PostForm["RelayState"]) > 1 {
		h.Fail(w, r, &tg, "saml request", requestProblem(fmt.Errorf("%w: one SAMLRequest and at most one RelayState", assertion.ErrInvalidRequest)))
		return
	}
	pol, err := h.policy(r.Context(), tg)
	if err != nil {
		h.Fail(w, r, &tg, "saml request", err)
		return
	}
	req, err := parsePOST(r.PostForm.Get("SAMLRequest"), r.PostForm.Get("RelayState"), pol)
	if err != nil {
		h.Fail(w, r, &tg, "saml request", requestProblem(err))
		return
	}
	h.signIn(w, r, tg, req, r.URL.Query())
}

// parsePOST parses an HTTP-POST binding request. Microsoft Entra signs
// AuthnRequests with a KeyInfo that only names its key (KeyName, X509SKI:
// how-to-connect-fed-saml-idp, the signed request sample) while the
// verifier wants a certificate there or no KeyInfo at all. KeyInfo is not
// covered by the signature (xmldsig-core §4.4: it is outside SignedInfo),
// so it is dropped and the request verified against each configured
// certificate alone; KeyInfo could not have chosen a certificate we do not
// trust anyway.
func parsePOST(samlRequest, relayState string, pol assertion.AuthnRequestPolicy) (*assertion.AuthnRequest, error) {
	if len(pol.SPCerts) > 0 {
		if stripped, ok := stripCertlessKeyInfo(samlRequest); ok {
			var err error
			for _, c := range pol.SPCerts {
				p := pol
				p.SPCerts = []*x509.Certificate{c}
				var req *assertion.AuthnRequest
				if req, err = assertion.ParseAuthnRequestPOST(stripped, relayState, p); err == nil || !errors.Is(err, assertion.ErrSignature) {
					return req, err
				}
			}
			return nil, err
		}
	}
	return assertion.ParseAuthnRequestPOST(samlRequest, relayState, pol)
}

// stripCertlessKeyInfo returns the request without the KeyInfo of its
// signature when that KeyInfo holds no X509Certificate; ok is false when
// there is nothing to strip (or the request does not parse: the real
// parser then says why).
func stripCertlessKeyInfo(samlRequest string) (string, bool) {
	if len(samlRequest) > maxBody {
		return "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(samlRequest), ""))
	if err != nil {
		return "", false
	}
	doc, err := xmlsafe.ParseBytes(raw, xmlsafe.Limits{MaxBytes: maxXML})
	if err != nil {
		return "", false
	}
	var ki *etree.Element
	for _, sig := range doc.Root().ChildElements() {
		if sig.Tag != "Signature" || sig.NamespaceURI() != assertion.NSDSig {
			continue
		}
		for _, c := range sig.ChildElements() {
			if c.Tag == "KeyInfo" && c.NamespaceURI() == assertion.NSDSig {
				ki = c
			}
		}
	}
	if ki == nil || ki.FindElement(".//X509Certificate") != nil {
		return "", false
	}
	ki.Parent().RemoveChild(ki)
	var b bytes.Buffer
	if _, err := doc.WriteTo(&b); err != nil {
		return "", false
	}
	return base64.StdEncoding.EncodeToString(b.Bytes()), true
}

// requestProblem says what was wrong with a request in words for people.
func requestProblem(err error) error {
	switch {
	case errors.Is(err, assertion.ErrSignature):
		return &idphttp.Problem{Status: http.StatusForbidden, Err: err,
			Message: "The sign-in request is not signed as this application requires, or its signature is not valid. Go back to the application and sign in again."}
	case errors.Is(err, assertion.ErrReplay):
		return &idphttp.Problem{Status: http.StatusBadRequest, Err: err,
			Message: "This sign-in request was already used. Go back to the application and sign in again."}
	case errors.Is(err, assertion.ErrInvalidRequest):
		return &idphttp.Problem{Status: http.StatusBadRequest, Err: err,
			Message: "The sign-in request is not valid. Go back to the application and sign in again."}
	}
	return err
}

// signIn starts the sign-in a checked request asks for: ForceAuthn asks for
// a fresh authentication (SAML core §3.4.1), a requested multipleauthn
// context for a second factor (M365-CONTRACT.md §5). IsPassive is not
// honoured: the request is served as an interactive one.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request, tg idphttp.Target, req *assertion.AuthnRequest, query map[string][]string) {
	if len(req.RelayState) > maxRelayState {
		h.Fail(w, r, &tg, "saml request", requestProblem(fmt.Errorf("%w: RelayState of %d bytes", assertion.ErrInvalidRequest, len(req.RelayState))))
		return
	}
	if !idphttp.FormSafe(req.RelayState) {
		// It is echoed in a form field, which would alter it.
		h.Fail(w, r, &tg, "saml request", requestProblem(fmt.Errorf("%w: RelayState is not valid UTF-8 or holds control characters", assertion.ErrInvalidRequest)))
		return
	}
	p := payload{Proto: Protocol, ID: req.ID, RelayState: req.RelayState, HasRelayState: req.RelayState != "", RequireMFA: req.RequiresMFA()}
	hint := ""
	for _, k := range []string{"login_hint", "username"} {
		if v := query[k]; len(v) == 1 && v[0] != "" && len(v[0]) <= maxHint {
			hint = v[0]
			break
		}
	}
	enc, _ := json.Marshal(p)
	res, err := h.Login.Start(w, r, tg.Tenant, tg.App, login.Request{Protocol: Protocol, Payload: enc, UsernameHint: hint,
		ForceFresh: req.ForceAuthn, RequireMFA: p.RequireMFA})
	if err != nil {
		h.Fail(w, r, &tg, "saml sign-in", err)
		return
	}
	if res == nil {
		return
	}
	h.respond(w, r, tg, res, p)
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

// respond issues the Response (SAML core §3.2.2, profiles §4.1.4.2;
// M365-CONTRACT.md §5) and posts it to the application's login URL by the
// HTTP-POST binding (bindings §3.5.4), with RelayState echoed.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, tg idphttp.Target, res *login.Result, p payload) {
	if p.RequireMFA && !res.MFA {
		h.Fail(w, r, &tg, "saml sign-in", errors.New("second factor required but not proven"))
		return
	}
	issuer, err := h.Issuer(tg, res.User.UPN)
	if err != nil {
		h.Fail(w, r, &tg, "saml sign-in", err)
		return
	}
	signer, err := h.Signer(r.Context(), tg)
	if err != nil {
		h.Fail(w, r, &tg, "saml sign-in", err)
		return
	}
	acs := tg.App.LoginURL()
	resp, err := assertion.BuildSAML2Response(h.Options(), signer, assertion.Claims{
		Issuer: issuer, ImmutableID: res.User.ImmutableID, UPN: res.User.UPN, MFA: res.MFA, AuthnInstant: res.AuthnInstant},
		assertion.SAML2ResponseParams{InResponseTo: p.ID, ACSURL: acs})
	if err != nil {
		h.Fail(w, r, &tg, "saml sign-in", err)
		return
	}
	fields := []idphttp.Field{{Name: "SAMLResponse", Value: base64.StdEncoding.EncodeToString(resp)}}
	if p.HasRelayState {
		fields = append(fields, idphttp.Field{Name: "RelayState", Value: p.RelayState})
	}
	h.Logger(r, &tg).InfoContext(r.Context(), "saml response issued", "user", res.User.ID, "upn", res.User.UPN,
		"issuer", issuer, "mfa", res.MFA, "in_response_to", p.ID, "to", acs)
	idphttp.WritePostForm(w, acs, fields)
}

// logout ends the browser's Portico session. Entra sends its sign-out by
// the HTTP-Redirect binding (how-to-connect-fed-saml-idp, "Supported
// bindings"); the LogoutRequest is not answered with a LogoutResponse: the
// person sees a signed-out page and nothing is redirected anywhere.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := r.ParseForm(); err == nil && idphttp.BounceCrossSitePOST(w, r) {
			return
		}
	}
	tg, err := h.Resolve(r)
	if err != nil {
		h.Fail(w, r, nil, "saml sign-out", err)
		return
	}
	if err := h.Login.EndSession(w, r, tg.Tenant); err != nil {
		h.Logger(r, &tg).ErrorContext(r.Context(), "saml sign-out: end session", "err", err)
	}
	h.Logger(r, &tg).InfoContext(r.Context(), "saml sign-out")
	idphttp.WriteSignedOut(w, r)
}

// metadata serves the IdP metadata (SAML metadata §2.3.2, §2.4.3) of one
// issuer: ?domain= picks the root domain, else the first configured one.
// Entra does not read it (how-to-connect-fed-saml-idp); administrators and
// tools do.
func (h *Handler) metadata(w http.ResponseWriter, r *http.Request) {
	tg, err := h.Resolve(r)
	if err != nil {
		h.Fail(w, r, nil, "saml metadata", err)
		return
	}
	if !tg.App.Enabled {
		h.Fail(w, r, &tg, "saml metadata", signin.ErrAppDisabled)
		return
	}
	issuer, ok := h.MetadataIssuer(r, tg)
	if !ok {
		h.Fail(w, r, &tg, "saml metadata", &idphttp.Problem{Status: http.StatusNotFound,
			Message: "Name a domain (?domain=contoso.com): this application has no federated domain configured yet."})
		return
	}
	signer, certs, err := h.Keys(r.Context(), tg)
	if err != nil {
		h.Fail(w, r, &tg, "saml metadata", err)
		return
	}
	o := tg.App.Office365
	doc, err := assertion.BuildIdPMetadata(h.Options(), signer, assertion.IdPMetadataParams{
		EntityID: issuer, Certs: certs, ValidFor: 24 * time.Hour,
		SSOURL:                  endpoints.SAML(h.PublicURL, tg.Tenant.Slug, tg.App.ID),
		SLOURL:                  endpoints.SAMLSignOut(h.PublicURL, tg.Tenant.Slug, tg.App.ID),
		WantAuthnRequestsSigned: o != nil && o.RequireSignedRequests,
	})
	if err != nil {
		h.Fail(w, r, &tg, "saml metadata", err)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(doc)
}
