package login

import (
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/signin"
)

//go:embed templates/*.html
var templateFS embed.FS

var templates = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// pageData is what every page template gets.
type pageData struct {
	Title    string
	AppName  string
	Action   string
	CSRF     string
	Step     string
	Username string
	Error    string
	Message  string
	// Enrolment (authenticator set-up).
	QR       template.URL
	Secret   string
	Recovery []string
	Continue string
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// No scripts at all; forms post only to ourselves; never framed.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	if err := templates.ExecuteTemplate(w, "page.html", d); err != nil {
		h.log.ErrorContext(r.Context(), "render login page", "err", err)
	}
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, r, status, pageData{Title: "Sign-in problem", Error: msg})
}

// page shows the current step of a flow.
func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	t, flow, ok := h.load(w, r)
	if !ok {
		return
	}
	h.show(w, r, t, flow, "", http.StatusOK)
}

func (h *Handler) show(w http.ResponseWriter, r *http.Request, t directory.Tenant, flow authn.LoginFlow, errMsg string, status int) {
	h.showApp(w, r, t, flow, nil, errMsg, status)
}

// showApp renders the flow's current step; app saves a lookup when the
// caller has it.
func (h *Handler) showApp(w http.ResponseWriter, r *http.Request, t directory.Tenant, flow authn.LoginFlow, app *apps.Application, errMsg string, status int) {
	d := pageData{Action: flowURL(t, flow), CSRF: flow.CSRF, Step: flow.Step,
		Username: flow.Username, Error: errMsg}
	if app != nil {
		d.AppName = app.Name
	} else if a, err := h.store.GetApplication(r.Context(), t.ID, flow.AppID); err == nil {
		d.AppName = a.Name
	}
	switch flow.Step {
	case authn.StepUsername:
		d.Title = "Sign in"
		if d.Username == "" {
			d.Username = flow.UsernameHint
		}
	case authn.StepPassword:
		d.Title = "Enter your password"
	case authn.StepTOTP:
		d.Title = "Enter your verification code"
	case authn.StepEnrol:
		d.Title = "Set up your authenticator app"
		u, err := h.store.GetUser(r.Context(), t.ID, flow.UserID)
		if err != nil {
			h.fail(w, r, http.StatusInternalServerError, "Something went wrong. Start the sign-in again.")
			return
		}
		e, err := h.signin.PendingEnrolment(flow.ID, u, flow.PendingTOTP)
		if err != nil {
			h.log.ErrorContext(r.Context(), "reopen pending enrolment", "err", err)
			h.fail(w, r, http.StatusInternalServerError, "Something went wrong. Start the sign-in again.")
			return
		}
		d.QR, d.Secret = template.URL(e.QRPNG), groupSecret(e.Secret)
	case authn.StepDone:
		d.Title = "Signed in"
		d.Continue = ContinueURL(t.Slug, flow.AppID, flow.Protocol, flow.ID)
	}
	h.render(w, r, status, d)
}

// groupSecret spaces a base32 secret in fours for typing.
func groupSecret(s string) string {
	var b strings.Builder
	for i, c := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// load resolves the tenant and a flow this browser owns, or answers.
func (h *Handler) load(w http.ResponseWriter, r *http.Request) (directory.Tenant, authn.LoginFlow, bool) {
	t, err := h.tenant(r)
	if err != nil {
		h.fail(w, r, http.StatusNotFound, "This sign-in page does not exist.")
		return t, authn.LoginFlow{}, false
	}
	flow, err := h.flowFor(r, t, r.PathValue("flow"))
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "This sign-in has expired or was started in another browser. Go back to the application and sign in again.")
		return t, flow, false
	}
	return t, flow, true
}

// submit handles the form of the current step.
func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	t, flow, ok := h.load(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(flow.CSRF)) != 1 {
		h.fail(w, r, http.StatusForbidden, "This form has expired. Go back to the application and sign in again.")
		return
	}
	if r.PostForm.Get("step") != flow.Step {
		// A stale tab or a double submit: show where the flow is now.
		h.show(w, r, t, flow, "", http.StatusOK)
		return
	}
	ctx := r.Context()
	app, err := h.store.GetApplication(ctx, t.ID, flow.AppID)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "This application no longer exists.")
		return
	}
	var recovery []string
	next := flow
	switch flow.Step {
	case authn.StepUsername:
		name := strings.TrimSpace(r.PostForm.Get("username"))
		if name == "" || len(name) > 256 {
			h.showApp(w, r, t, flow, &app, "Enter your username.", http.StatusUnprocessableEntity)
			return
		}
		next.Username, next.Step = name, authn.StepPassword
	case authn.StepPassword:
		if r.PostForm.Has("other") {
			next.Username, next.Step = "", authn.StepUsername
			break
		}
		u, err := h.signin.CheckPassword(ctx, t.ID, flow.Username, r.PostForm.Get("password"), clientAddr(r))
		if msg, status := failure(err); msg != "" {
			h.recordSignin(r, t, app, flow, flow.Username, u, err)
			h.showApp(w, r, t, flow, &app, msg, status)
			return
		}
		if err := h.signin.Authorize(ctx, u, app); err != nil {
			h.recordSignin(r, t, app, flow, flow.Username, u, err)
			msg, status := failure(err)
			h.fail(w, r, status, msg)
			return
		}
		next.UserID, next.Username, next.PasswordAt = u.ID, u.Username, h.now().UTC()
		pol, err := h.signin.Policy(ctx, app)
		if err != nil {
			h.internal(w, r, err)
			return
		}
		if flow.RequireMFA || pol.RequiresMFA() {
			if next.Step, err = h.secondFactorStep(ctx, &next, u); err != nil {
				h.internal(w, r, err)
				return
			}
		} else {
			next.Step = authn.StepDone
		}
	case authn.StepTOTP, authn.StepEnrol:
		if flow.PasswordAt.IsZero() {
			// A step-up: the password is vouched for by the browser's
			// session, which must still be active and the same user's.
			sess, _, ok, err := h.CurrentSession(r, t)
			if err != nil {
				h.internal(w, r, err)
				return
			}
			if !ok || sess.UserID != flow.UserID {
				h.backToPassword(w, r, t, app, flow)
				return
			}
		}
		u, err := h.store.GetUser(ctx, t.ID, flow.UserID)
		if err != nil {
			h.internal(w, r, err)
			return
		}
		code := strings.TrimSpace(r.PostForm.Get("code"))
		if code == "" && flow.Step == authn.StepTOTP {
			code = r.PostForm.Get("recovery")
		}
		if flow.Step == authn.StepTOTP {
			err = h.signin.CheckSecondFactor(ctx, u, code, clientAddr(r))
		} else {
			recovery, err = h.signin.ConfirmEnrolment(ctx, flow.ID, u, flow.PendingTOTP, code, clientAddr(r))
			if errors.Is(err, signin.ErrInvalidCode) {
				// The enrolment page has no recovery code field: the
				// codes are only handed out once this step succeeds.
				h.showApp(w, r, t, flow, &app, enrolCodeInvalid, http.StatusUnauthorized)
				return
			}
		}
		if msg, status := failure(err); msg != "" {
			h.recordSignin(r, t, app, flow, u.Username, u, err)
			h.showApp(w, r, t, flow, &app, msg, status)
			return
		}
		next.MFAAt, next.PendingTOTP, next.Step = h.now().UTC(), nil, authn.StepDone
	default:
		h.showApp(w, r, t, flow, &app, "", http.StatusOK)
		return
	}
	notice := ""
	if next.Step == authn.StepDone {
		err := h.establishSession(w, r, t, app, next)
		if errors.Is(err, errSessionEnded) {
			// The session a step-up relied on ended a moment ago, or the
			// password typed was changed since: ask for it again.
			next, notice = passwordAgain(flow), sessionEndedNotice
		} else if err != nil {
			h.internal(w, r, err)
			return
		}
	}
	saved, err := h.store.UpdateLoginFlow(ctx, flow.ID, func(o authn.LoginFlow) (authn.LoginFlow, error) {
		if o.Step != flow.Step {
			return o, errStale
		}
		next.Version = o.Version
		return next, nil
	})
	if err != nil {
		// Another submit of the same step won: show where it left the flow.
		if cur, gerr := h.store.GetLoginFlow(ctx, flow.ID); gerr == nil {
			h.show(w, r, t, cur, "", http.StatusOK)
			return
		}
		h.internal(w, r, err)
		return
	}
	if saved.Step == authn.StepDone {
		h.recordSignin(r, t, app, saved, saved.Username, directory.User{ID: saved.UserID, Username: saved.Username}, nil)
	}
	if len(recovery) > 0 {
		// Shown once, now, and never again (even when the flow must go
		// back to the password: the authenticator is set up).
		next := ContinueURL(t.Slug, saved.AppID, saved.Protocol, saved.ID)
		if saved.Step != authn.StepDone {
			next = flowURL(t, saved)
		}
		h.render(w, r, http.StatusOK, pageData{Title: "Save your recovery codes", AppName: app.Name, Step: "recovery",
			Recovery: recovery, Continue: next})
		return
	}
	if saved.Step == authn.StepDone {
		http.Redirect(w, r, ContinueURL(t.Slug, saved.AppID, saved.Protocol, saved.ID), http.StatusSeeOther)
		return
	}
	// The next step's page is the answer to this step (no redirect: one
	// round trip less per step). Reloading it re-posts the step just done,
	// which the step check above answers with the current page.
	h.showApp(w, r, t, saved, &app, notice, http.StatusOK)
}

// enrolCodeInvalid answers a wrong first code on the enrolment page.
const enrolCodeInvalid = "That code is not valid. Enter the six-digit code your authenticator app shows now for this account (it changes every 30 seconds); if it keeps failing, check that your phone's clock is set automatically."

// sessionEndedNotice tells a person why the password is asked again.
const sessionEndedNotice = "Your session has ended. Enter your password again to continue."

// passwordAgain is flow sent back to the password step, forgetting every
// factor it proved.
func passwordAgain(flow authn.LoginFlow) authn.LoginFlow {
	next := flow
	next.Step, next.UserID, next.PasswordAt, next.MFAAt, next.PendingTOTP = authn.StepPassword, "", time.Time{}, time.Time{}, nil
	return next
}

// backToPassword answers a step-up whose session has ended: the flow goes
// back to the password step, and the person is told why.
func (h *Handler) backToPassword(w http.ResponseWriter, r *http.Request, t directory.Tenant, app apps.Application, flow authn.LoginFlow) {
	next := passwordAgain(flow)
	saved, err := h.store.UpdateLoginFlow(r.Context(), flow.ID, func(o authn.LoginFlow) (authn.LoginFlow, error) {
		if o.Step != flow.Step {
			return o, errStale
		}
		next.Version = o.Version
		return next, nil
	})
	if err != nil {
		if cur, gerr := h.store.GetLoginFlow(r.Context(), flow.ID); gerr == nil {
			h.show(w, r, t, cur, "", http.StatusOK)
			return
		}
		h.internal(w, r, err)
		return
	}
	h.showApp(w, r, t, saved, &app, sessionEndedNotice, http.StatusOK)
}

// flowURL is the address of a flow's current page.
func flowURL(t directory.Tenant, flow authn.LoginFlow) string {
	return "/t/" + url.PathEscape(t.Slug) + "/login/" + flow.ID
}

var errStale = errors.New("the flow moved on")

// failure turns a sign-in error into what the person is told. Unknown
// users and wrong passwords get the same words.
func failure(err error) (string, int) {
	switch {
	case err == nil:
		return "", 0
	case errors.Is(err, signin.ErrInvalidCredentials):
		return "The username or password is incorrect.", http.StatusUnauthorized
	case errors.Is(err, signin.ErrInvalidCode):
		return "That code is not valid. Enter the current code from your authenticator app, or a recovery code.", http.StatusUnauthorized
	case errors.Is(err, signin.ErrThrottled):
		return "Too many attempts. Wait a few minutes and try again.", http.StatusTooManyRequests
	case errors.Is(err, signin.ErrAccountDisabled):
		return "Your account is not active. Contact your administrator.", http.StatusForbidden
	case errors.Is(err, signin.ErrNotPermitted):
		return "You are not allowed to use this application. Ask your administrator to add you to one of its groups.", http.StatusForbidden
	case errors.Is(err, signin.ErrAppDisabled):
		return "This application is disabled. Contact your administrator.", http.StatusForbidden
	}
	return "Something went wrong. Try again.", http.StatusInternalServerError
}

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	h.log.ErrorContext(r.Context(), "login step failed", "err", err)
	h.fail(w, r, http.StatusInternalServerError, "Something went wrong. Start the sign-in again.")
}
