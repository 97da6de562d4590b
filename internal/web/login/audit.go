package login

import (
	"net/http"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/signin"
)

// recordSignin notes one outcome of the login pages in the audit log: a
// success with the factors the flow proved, or a failure with its reason
// (recorded for administrators; the page shows the person only failure's
// words). name is what was typed; u the user when known.
func (h *Handler) recordSignin(r *http.Request, t directory.Tenant, app apps.Application, flow authn.LoginFlow, name string, u directory.User, err error) {
	a := signin.Attempt{TenantID: t.ID, App: app, Protocol: flow.Protocol, Name: name, User: u, Err: err,
		Address: clientAddr(r), UserAgent: r.UserAgent()}
	if err == nil {
		if !flow.PasswordAt.IsZero() {
			a.Factors = append(a.Factors, signin.FactorPassword)
		}
		if !flow.MFAAt.IsZero() {
			a.Factors = append(a.Factors, signin.FactorTOTP)
		}
	}
	h.signin.RecordSignin(r.Context(), a)
}

// recordSSO notes a sign-in answered from the browser's session.
func (h *Handler) recordSSO(r *http.Request, t directory.Tenant, app apps.Application, protocol string, u directory.User, sess authn.Session) {
	factors := []string{signin.FactorSession}
	if !sess.MFAAt.IsZero() {
		factors = append(factors, signin.FactorTOTP)
	}
	h.signin.RecordSignin(r.Context(), signin.Attempt{TenantID: t.ID, App: app, Protocol: protocol, User: u, Factors: factors,
		Address: clientAddr(r), UserAgent: r.UserAgent()})
}
