package idphttp

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/portico-idp/portico/internal/requestid"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/web/login"
)

// Field is one hidden field of an auto-submitting form.
type Field struct {
	Name  string
	Value string
}

// The one inline script and the one style sheet Portico's protocol pages
// carry. The Content-Security-Policy allows exactly these by hash (CSP 3
// §8.3 hash-source), so nothing else can run even if markup were injected.
const (
	autoSubmitScript = `document.forms[0].submit();`
	pageStyle        = `body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f3f4f6;color:#111827;margin:0}` +
		`main{max-width:26rem;margin:8vh auto;background:#fff;padding:2rem;border-radius:.5rem;box-shadow:0 1px 3px rgba(0,0,0,.15)}` +
		`h1{font-size:1.35rem;margin:0 0 1rem}.ref{color:#4b5563;font-size:.85rem}` +
		`button{margin-top:1rem;font-size:1rem;padding:.6rem 1.2rem;border:0;border-radius:.35rem;background:#1d4ed8;color:#fff;cursor:pointer}` +
		`button:focus{outline:3px solid #2563eb;outline-offset:2px}`
)

func cspHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}

// Content security policies. The form page has no form-action directive on
// purpose: browsers apply form-action to the redirects that follow a form
// submission (CSP 3 §6.4.1), and Microsoft's login.srf answers with
// redirects to hosts we cannot list; the action itself is fixed by us.
var (
	postFormCSP = "default-src 'none'; script-src " + cspHash(autoSubmitScript) + "; style-src " + cspHash(pageStyle) +
		"; base-uri 'none'; frame-ancestors 'none'"
	pageCSP = "default-src 'none'; style-src " + cspHash(pageStyle) + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

const head = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}} · Portico</title>
<style>` + pageStyle + `</style>
</head>
`

// postFormTemplate is the auto-submitting form (WS-Federation 1.2 §13 and
// SAML bindings §3.5.4: the token travels in hidden fields of a form the
// browser posts). With JavaScript the script submits it at once; without,
// the <noscript> part shows a button.
var postFormTemplate = template.Must(template.New("post").Parse(head + `<body>
<main>
<form method="post" action="{{.Action}}">
{{- range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">{{end}}
<noscript><h1>Almost done</h1><p>Your browser is not running JavaScript. Select Continue to finish signing in.</p><button type="submit">Continue</button></noscript>
</form>
</main>
<script>` + autoSubmitScript + `</script>
</body>
</html>
`))

var messageTemplate = template.Must(template.New("message").Parse(head + `<body>
<main>
<h1>{{.Title}}</h1>
<p{{if .Alert}} role="alert"{{else}} role="status"{{end}}>{{.Message}}</p>
{{- if .RequestID}}
<p class="ref">Reference: {{.RequestID}}</p>
{{- end}}
</main>
</body>
</html>
`))

func pageHeaders(w http.ResponseWriter, csp string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// WritePostForm writes the page whose form posts fields to action. action
// is a URL Portico chose (the application's login URL, or its own path),
// never one taken from a request.
func WritePostForm(w http.ResponseWriter, action string, fields []Field) {
	pageHeaders(w, postFormCSP)
	w.WriteHeader(http.StatusOK)
	// Errors here are the client going away; nothing to do.
	_ = postFormTemplate.Execute(w, struct {
		Title  string
		Action string
		Fields []Field
	}{"Signing in", action, fields})
}

// WriteMessage writes a page with a title and a message. alert marks an
// error (role=alert) rather than a status.
func WriteMessage(w http.ResponseWriter, r *http.Request, status int, title, msg string, alert bool) {
	pageHeaders(w, pageCSP)
	w.WriteHeader(status)
	rid := ""
	if alert {
		rid = requestid.From(r.Context())
	}
	_ = messageTemplate.Execute(w, struct {
		Title, Message, RequestID string
		Alert                     bool
	}{title, msg, rid, alert})
}

// WriteSignedOut writes the page shown after a sign-out that has nowhere
// safe to return to.
func WriteSignedOut(w http.ResponseWriter, r *http.Request) {
	WriteMessage(w, r, http.StatusOK, "Signed out", "You have signed out. You can close this window.", false)
}

// Problem is an error with what the person is told.
type Problem struct {
	Status  int
	Message string
	// Err is the cause, for the log only.
	Err error
}

// Error describes the problem with its cause, for logs.
func (p *Problem) Error() string {
	if p.Err != nil {
		return p.Message + ": " + p.Err.Error()
	}
	return p.Message
}

// Unwrap returns the cause.
func (p *Problem) Unwrap() error { return p.Err }

// Explain maps an error of a sign-in to the status and words a person is
// shown. Unknown errors are internal: the words say nothing about them.
func Explain(err error) (int, string) {
	var p *Problem
	switch {
	case errors.As(err, &p):
		return p.Status, p.Message
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "This sign-in address does not exist. Check the link, or go back to the application and sign in again."
	case errors.Is(err, login.ErrFlow):
		return http.StatusBadRequest, "This sign-in has expired, was already completed, or was started in another browser. Go back to the application and sign in again."
	case errors.Is(err, signin.ErrAppDisabled):
		return http.StatusForbidden, "This application is disabled. Contact your administrator."
	case errors.Is(err, signin.ErrNotPermitted):
		return http.StatusForbidden, "You are not allowed to use this application. Ask your administrator to add you to one of its groups."
	case errors.Is(err, signin.ErrAccountDisabled):
		return http.StatusForbidden, "Your account is not active. Contact your administrator."
	case errors.Is(err, signin.ErrThrottled):
		return http.StatusTooManyRequests, "Too many attempts. Wait a few minutes and try again."
	case errors.Is(err, signin.ErrInvalidCredentials):
		return http.StatusUnauthorized, "The username or password is incorrect."
	case errors.Is(err, ErrDomainNotFederated):
		return http.StatusForbidden, "Your account's domain is not set up for sign-in to this application. Contact your administrator."
	}
	return http.StatusInternalServerError, "Something went wrong. Go back to the application and sign in again."
}

// Fail logs err and writes the error page for it.
func (b *Base) Fail(w http.ResponseWriter, r *http.Request, tg *Target, what string, err error) {
	status, msg := Explain(err)
	lvl := slog.LevelInfo
	if status >= 500 {
		lvl = slog.LevelError
	}
	b.Logger(r, tg).Log(r.Context(), lvl, what+" refused", "status", status, "err", err)
	title := "Sign-in problem"
	if status == http.StatusNotFound {
		title = "Not found"
	}
	WriteMessage(w, r, status, title, msg, true)
}
