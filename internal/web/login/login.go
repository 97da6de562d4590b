// Package login serves Portico's sign-in pages — username, password,
// second factor, authenticator enrolment — and is the bridge between the
// sign-in protocols and them: a protocol handler calls Start with the
// request it received; Start either answers at once from the browser's
// single sign-on session or sends the browser through the pages, which end
// at the protocol's continue URL, where Finish hands back who signed in.
//
// The pages are server-rendered HTML that work without JavaScript. Every
// form carries a per-flow CSRF token, and a flow is bound to the browser
// that started it by a cookie, so a sign-in link is useless to anyone else.
package login

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/storage"
)

// Cookies. Each name carries the tenant's id (cookieName): the cookies
// are set with Path=/, so a browser signed in to several tenants holds one
// session cookie per tenant, and signing in to or out of one never
// replaces, reads or ends another's. The id, not the slug, because it never
// changes and is made only of characters a cookie name may contain.
//
// Over https the names have the __Host- prefix (RFC 6265bis §4.1.3.2): the
// browser then accepts the cookie only from a secure origin, with Secure,
// Path=/ and no Domain, so neither a sibling subdomain nor a plain-http
// response can plant or overwrite it — the usual way to fixate a session.
// The prefix is what forces Path=/. The per-tenant paths used before
// (/t/{slug}/) were no security boundary either: within one origin a
// cookie's path does not protect it (RFC 6265 §8.5), so the tenant check
// that matters is signin.Session's, and the name keeps the cookies apart.
const (
	sessionCookie = "portico_session"
	bindingCookie = "portico_flow"
)

// hostPrefix is the cookie-name prefix browsers hold to Secure, Path=/ and
// no Domain.
const hostPrefix = "__Host-"

// flowLifetime bounds how long a person may take to sign in.
const flowLifetime = 15 * time.Minute

// Handler serves the login pages and starts and finishes sign-ins.
type Handler struct {
	store  storage.Storage
	signin *signin.Service
	log    *slog.Logger
	now    func() time.Time
	secure bool
}

// New returns the login handler. secure marks cookies Secure (set it when
// Portico is reached over HTTPS).
func New(store storage.Storage, svc *signin.Service, log *slog.Logger, secure bool) *Handler {
	return &Handler{store: store, signin: svc, log: log, now: time.Now, secure: secure}
}

// SetClock sets the clock (tests).
func (h *Handler) SetClock(now func() time.Time) { h.now = now }

// Register adds the login routes.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /t/{tenant}/login/{flow}", h.page)
	mux.HandleFunc("POST /t/{tenant}/login/{flow}", h.submit)
	mux.HandleFunc("GET /t/{tenant}/logout", h.logout)
}

// Request is what a protocol handler asks for.
type Request struct {
	// Protocol names the protocol ("wsfed", "saml"); the browser comes back
	// to /t/{tenant}/apps/{app}/{protocol}/continue?flow=ID.
	Protocol string
	// Payload is the protocol's own state (what to echo, where to answer),
	// returned unchanged by Finish.
	Payload      []byte
	UsernameHint string
	ForceFresh   bool
	RequireMFA   bool
}

// Result is a completed sign-in.
type Result struct {
	User         directory.User
	App          apps.Application
	AuthnInstant time.Time
	// MFA is true only when a second factor was proven.
	MFA     bool
	Payload []byte
}

// ContinueURL is where a finished flow of protocol sends the browser.
func ContinueURL(tenantSlug, appID, protocol, flowID string) string {
	return "/t/" + url.PathEscape(tenantSlug) + "/apps/" + url.PathEscape(appID) + "/" + protocol + "/continue?flow=" + url.QueryEscape(flowID)
}

// Start begins a sign-in. When the browser's session already satisfies the
// request (same tenant, fresh enough, second factor when needed, user still
// allowed), it returns the result at once. Otherwise it answers with the
// first login page and returns nil: the protocol handler has answered and
// must return.
func (h *Handler) Start(w http.ResponseWriter, r *http.Request, t directory.Tenant, app apps.Application, req Request) (*Result, error) {
	ctx := r.Context()
	pol, err := h.signin.Policy(ctx, app)
	if err != nil {
		return nil, fmt.Errorf("policy of %s: %w", app.ID, err)
	}
	needMFA := req.RequireMFA || pol.RequiresMFA()
	sess, u, hasSession, err := h.CurrentSession(r, t)
	if err != nil {
		return nil, err
	}
	now := h.now().UTC()
	flow := authn.LoginFlow{ID: uuid.Must(uuid.NewV7()).String(), TenantID: t.ID, AppID: app.ID, Protocol: req.Protocol,
		Request: req.Payload, UsernameHint: req.UsernameHint, ForceFresh: req.ForceFresh, RequireMFA: needMFA,
		Step: authn.StepUsername, CreatedAt: now, ExpiresAt: now.Add(flowLifetime)}
	if req.UsernameHint != "" {
		flow.Step, flow.Username = authn.StepPassword, req.UsernameHint
	}
	if hasSession && !req.ForceFresh && hintMatches(req.UsernameHint, u) {
		if err := h.signin.Authorize(ctx, u, app); err != nil {
			h.recordSignin(r, t, app, flow, u.Username, u, err)
			return nil, err
		}
		if !needMFA || !sess.MFAAt.IsZero() {
			h.recordSSO(r, t, app, req.Protocol, u, sess)
			return &Result{User: u, App: app, AuthnInstant: latest(sess.PasswordAt, sess.MFAAt), MFA: !sess.MFAAt.IsZero(),
				Payload: req.Payload}, nil
		}
		// Step up: the session vouches for the password; ask only for the
		// second factor. The flow records no password time of its own, so
		// it completes only while that session is still active
		// (signin.Establish).
		flow.Username, flow.UserID = u.Username, u.ID
		if flow.Step, err = h.secondFactorStep(ctx, &flow, u); err != nil {
			return nil, err
		}
	}
	binder := ""
	if c, err := r.Cookie(h.cookieName(bindingCookie, t)); err == nil && len(c.Value) == 43 {
		binder = c.Value
	} else {
		var err error
		if binder, _, err = authn.NewToken(nil); err != nil {
			return nil, err
		}
		h.setCookie(w, t, bindingCookie, binder, 0)
	}
	flow.BindingHash = authn.HashToken(binder)
	if flow.CSRF, _, err = authn.NewToken(nil); err != nil {
		return nil, err
	}
	if err := h.store.CreateLoginFlow(ctx, flow); err != nil {
		return nil, err
	}
	// The first page is the answer to the protocol request itself (its
	// forms post to the flow's URL): one round trip less than a redirect.
	flow.Version = 1
	h.showApp(w, r, t, flow, &app, "", http.StatusOK)
	return nil, nil
}

// hintMatches: a session of one user does not answer a request made for
// another (Microsoft sends the UPN the person typed).
func hintMatches(hint string, u directory.User) bool {
	return hint == "" || equalFold(hint, u.Username) || equalFold(hint, u.UPN)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// ErrFlow is returned by Finish for a flow that is unknown, expired, not
// done, or belongs to another browser.
var ErrFlow = errors.New("sign-in not found, expired, unfinished or started in another browser")

// Finish returns the result of a completed flow of app (which the caller
// has just read) and deletes the flow, so that a continue URL works exactly
// once.
//
// A completed flow is only as good as the session it established: when
// this browser's session has ended since (sign-out, revocation, a password
// or authenticator reset, a timeout) or is another user's, the flow is
// dropped and its protocol request starts over as Start would start it —
// normally with a fresh login page, in which case Finish returns nil and
// nil: it has answered.
func (h *Handler) Finish(w http.ResponseWriter, r *http.Request, t directory.Tenant, app apps.Application) (*Result, error) {
	ctx := r.Context()
	flow, err := h.flowFor(r, t, r.URL.Query().Get("flow"))
	if err != nil || flow.Step != authn.StepDone || flow.AppID != app.ID {
		return nil, ErrFlow
	}
	sess, u, ok, err := h.CurrentSession(r, t)
	if err != nil {
		return nil, err
	}
	if err := h.store.DeleteLoginFlow(ctx, flow.ID); err != nil {
		// Someone else finished it first: the same flow cannot yield two tokens.
		return nil, ErrFlow
	}
	if !ok || sess.UserID != flow.UserID {
		h.log.InfoContext(ctx, "sign-in restarted: its session has ended", "flow", flow.ID, "user", flow.UserID)
		return h.Start(w, r, t, app, Request{Protocol: flow.Protocol, Payload: flow.Request, UsernameHint: flow.UsernameHint,
			ForceFresh: flow.ForceFresh, RequireMFA: flow.RequireMFA})
	}
	if err := h.signin.Authorize(ctx, u, app); err != nil {
		return nil, err
	}
	return &Result{User: u, App: app, AuthnInstant: latest(flow.PasswordAt, flow.MFAAt), MFA: !flow.MFAAt.IsZero(), Payload: flow.Request}, nil
}

// CurrentSession returns the browser's active session in tenant t and its
// user; ok is false when the browser has none (no cookie, or one whose
// session has ended — signin.Session decides). Anything that signs people
// in from the browser's session (a launchpad, say) must read it here, not
// from the cookie itself.
func (h *Handler) CurrentSession(r *http.Request, t directory.Tenant) (authn.Session, directory.User, bool, error) {
	c, err := r.Cookie(h.cookieName(sessionCookie, t))
	if err != nil {
		return authn.Session{}, directory.User{}, false, nil
	}
	sess, u, err := h.signin.SessionUser(r.Context(), t.ID, c.Value)
	if errors.Is(err, signin.ErrNoSession) {
		return authn.Session{}, directory.User{}, false, nil
	}
	if err != nil {
		return authn.Session{}, directory.User{}, false, err
	}
	return sess, u, true, nil
}

// flowFor loads a flow of tenant t and checks that this browser owns it.
func (h *Handler) flowFor(r *http.Request, t directory.Tenant, id string) (authn.LoginFlow, error) {
	if _, err := uuid.Parse(id); err != nil {
		return authn.LoginFlow{}, ErrFlow
	}
	flow, err := h.store.GetLoginFlow(r.Context(), id)
	if err != nil {
		return flow, ErrFlow
	}
	c, cerr := r.Cookie(h.cookieName(bindingCookie, t))
	if cerr != nil || flow.TenantID != t.ID || !h.now().Before(flow.ExpiresAt) ||
		subtle.ConstantTimeCompare(authn.HashToken(c.Value), flow.BindingHash) != 1 {
		return flow, ErrFlow
	}
	return flow, nil
}

// secondFactorStep is the step after the password when a second factor is
// needed: the code, or enrolment for a user who has no authenticator yet.
func (h *Handler) secondFactorStep(ctx context.Context, flow *authn.LoginFlow, u directory.User) (string, error) {
	has, err := h.signin.HasTOTP(ctx, u.TenantID, u.ID)
	if err != nil {
		return "", err
	}
	if has {
		return authn.StepTOTP, nil
	}
	_, sealed, err := h.signin.BeginEnrolment(ctx, flow.ID, u)
	if err != nil {
		return "", err
	}
	flow.PendingTOTP = sealed
	return authn.StepEnrol, nil
}

// cookieName is the name of cookie base for tenant t (see sessionCookie).
func (h *Handler) cookieName(base string, t directory.Tenant) string {
	name := base + "_" + t.ID
	if h.secure {
		name = hostPrefix + name
	}
	return name
}

func (h *Handler) setCookie(w http.ResponseWriter, t directory.Tenant, base, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: h.cookieName(base, t), Value: value, Path: "/", HttpOnly: true, Secure: h.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: maxAge})
}

func (h *Handler) tenant(r *http.Request) (directory.Tenant, error) {
	return h.store.GetTenantBySlug(r.Context(), directory.NormalizeSlug(r.PathValue("tenant")))
}

// clientAddr is the address failed attempts are counted against.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// EndSession revokes the browser's session in tenant t and clears its
// cookie (sign-out from any protocol).
func (h *Handler) EndSession(w http.ResponseWriter, r *http.Request, t directory.Tenant) error {
	h.setCookie(w, t, sessionCookie, "", -1)
	if c, err := r.Cookie(h.cookieName(sessionCookie, t)); err == nil {
		return h.signin.EndSession(r.Context(), c.Value)
	}
	return nil
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	t, err := h.tenant(r)
	if err != nil {
		h.fail(w, r, http.StatusNotFound, "This sign-in page does not exist.")
		return
	}
	if err := h.EndSession(w, r, t); err != nil {
		h.log.ErrorContext(r.Context(), "sign out", "err", err)
	}
	h.render(w, r, http.StatusOK, pageData{Title: "Signed out", Message: "You have signed out."})
}

// errSessionEnded: a step-up flow's session, or the password a flow
// proved, is no longer valid; the flow goes back to the password.
var errSessionEnded = errors.New("the session this sign-in relied on has ended")

// establishSession records a finished flow in a new session and gives the
// browser its cookie. The browser's previous session ends: a sign-in, or a
// change of the authentication level, always rotates the token
// (signin.Establish).
func (h *Handler) establishSession(w http.ResponseWriter, r *http.Request, t directory.Tenant, app apps.Application, flow authn.LoginFlow) error {
	ctx := r.Context()
	u, err := h.store.GetUser(ctx, t.ID, flow.UserID)
	if err != nil {
		return err
	}
	pol, err := h.signin.Policy(ctx, app)
	if err != nil {
		return err
	}
	prev := ""
	if c, err := r.Cookie(h.cookieName(sessionCookie, t)); err == nil {
		prev = c.Value
	}
	token, x, err := h.signin.Establish(ctx, u, pol, prev, flow.PasswordAt, flow.MFAAt)
	if errors.Is(err, signin.ErrNoSession) {
		h.setCookie(w, t, sessionCookie, "", -1)
		return errSessionEnded
	}
	if err != nil {
		return err
	}
	h.setCookie(w, t, sessionCookie, token, max(1, int(x.ExpiresAt.Sub(h.now()).Seconds())))
	return nil
}
