package api

import (
	"context"
	"net/http"
	"time"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/signing"
	"github.com/portico-idp/portico/internal/storage"
)

// appReadOnly are the members of an application a client cannot change.
var appReadOnly = []string{"id", "kind", "createdAt", "updatedAt"}

// appJSON is an application as the API shows it: secrets never leave,
// only whether one is set.
type appJSON struct {
	apps.Application
	MSOnlinePasswordSet bool `json:"msOnlinePasswordSet,omitempty"`
}

func showApp(a apps.Application) appJSON {
	out := appJSON{Application: a}
	if a.Office365 != nil {
		o := *a.Office365
		out.MSOnlinePasswordSet = len(o.MSOnlinePassword) > 0
		o.MSOnlinePassword, o.MSOnlinePasswordInput = nil, ""
		out.Office365 = &o
	}
	return out
}

func (a *API) library(w http.ResponseWriter, r *http.Request) {
	writeList(w, apps.Library, "")
}

func (a *API) listApplications(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	items, err := a.svc.ListApplications(r.Context(), t.ID)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	out := make([]appJSON, len(items))
	for i, app := range items {
		out[i] = showApp(app)
	}
	writeList(w, out, "")
}

func (a *API) createApplication(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	m, ok := a.readFields(w, r)
	if !ok {
		return
	}
	in, err := mergePatch(apps.Application{Enabled: true}, m, "id", "createdAt", "updatedAt", "msOnlinePasswordSet")
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	if in.Office365 != nil {
		in.Office365.MSOnlinePassword = nil // only ever sealed by Portico from msOnlinePassword
	}
	app, err := a.svc.CreateApplication(r.Context(), t.ID, in)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tenants/"+t.Slug+"/applications/"+app.ID)
	writeObject(w, http.StatusCreated, showApp(app), app.Version)
}

func (a *API) getApplication(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	app, err := a.svc.GetApplication(r.Context(), t.ID, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeObject(w, http.StatusOK, showApp(app), app.Version)
}

func (a *API) patchApplication(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	pre, err := ifMatch(r)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	m, ok := a.readFields(w, r)
	if !ok {
		return
	}
	version := func(app *apps.Application) int64 { return app.Version }
	app, err := a.svc.UpdateApplication(r.Context(), t.ID, r.PathValue("id"), 0, checked(pre, version, func(cur *apps.Application) error {
		next, err := mergePatch(*cur, m, append(appReadOnly, "msOnlinePasswordSet")...)
		if err != nil {
			return err
		}
		next.ID, next.TenantID, next.Kind, next.CreatedAt, next.Version = cur.ID, cur.TenantID, cur.Kind, cur.CreatedAt, cur.Version
		if cur.Office365 != nil && next.Office365 != nil {
			// The sealed password is kept unless a new one is given; clients
			// never see it, so they cannot send it back.
			next.Office365.MSOnlinePassword = cur.Office365.MSOnlinePassword
		}
		*cur = next
		return nil
	}))
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeObject(w, http.StatusOK, showApp(app), app.Version)
}

func (a *API) deleteApplication(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	a.deleteChecked(w, r, func(ctx context.Context) (int64, error) {
		x, err := a.svc.GetApplication(ctx, t.ID, r.PathValue("id"))
		return x.Version, err
	}, func(ctx context.Context, v int64) error {
		return a.svc.DeleteApplication(ctx, t.ID, r.PathValue("id"), v)
	})
}

// certificateJSON describes a signing certificate the way the Azure portal
// shows an uploaded one, so an administrator can compare thumbprints.
type certificateJSON struct {
	ID               string    `json:"id"`
	Role             string    `json:"role"`
	Subject          string    `json:"subject"`
	ThumbprintSHA1   string    `json:"thumbprint"`
	ThumbprintSHA256 string    `json:"thumbprintSha256"`
	NotBefore        time.Time `json:"notBefore"`
	NotAfter         time.Time `json:"notAfter"`
	Base64           string    `json:"base64"`
}

func describeCert(id string, role apps.SigningKeyRole, c *signing.Certificate) certificateJSON {
	return certificateJSON{ID: id, Role: string(role), Subject: c.Cert.Subject.String(), ThumbprintSHA1: c.ThumbprintSHA1(),
		ThumbprintSHA256: c.ThumbprintSHA256(), NotBefore: c.Cert.NotBefore, NotAfter: c.Cert.NotAfter, Base64: c.Base64()}
}

// certificates lists an application's certificates (public parts only).
func (a *API) certificates(ctx context.Context, t directory.Tenant, appID string) ([]certificateJSON, map[string]*signing.Certificate, error) {
	certs, err := a.svc.Certificates(ctx, t.ID, appID)
	if err != nil {
		return nil, nil, err
	}
	var out []certificateJSON
	byID := map[string]*signing.Certificate{}
	for _, c := range certs {
		out = append(out, describeCert(c.ID, c.Role, c.Cert))
		byID[c.ID] = c.Cert
	}
	return out, byID, nil
}

func (a *API) listCertificates(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	list, _, err := a.certificates(r.Context(), t, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeList(w, list, "")
}

// downloadCertificate serves a certificate as PEM or as DER (.cer, what the
// Azure portal's "Upload certificate" takes).
func (a *API) downloadCertificate(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	q, _, err := query(r, "format")
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	_, byID, err := a.certificates(r.Context(), t, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	c, ok := byID[r.PathValue("certId")]
	if !ok {
		writeProblem(w, r, a.log, storage.ErrNotFound)
		return
	}
	name := "portico-" + t.Slug + "-" + c.ThumbprintSHA1()[:8]
	switch q["format"] {
	case "", "cer", "der":
		w.Header().Set("Content-Type", "application/pkix-cert")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.cer"`)
		w.Write(c.DER())
	case "pem":
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.pem"`)
		w.Write(c.PEM())
	default:
		writeProblem(w, r, a.log, fieldProblem(http.StatusBadRequest, "bad-request", "Bad request", "format", "must be cer or pem"))
	}
}

func (a *API) createNextCertificate(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	if _, err := a.svc.CreateNextKey(r.Context(), t.ID, r.PathValue("id")); err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	a.listCertificates(w, r, t)
}

func (a *API) promoteCertificate(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	if err := a.svc.PromoteNextKey(r.Context(), t.ID, r.PathValue("id")); err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	a.listCertificates(w, r, t)
}

// policyJSON is the wire form of an authentication policy (durations in
// minutes, as an administrator thinks of them).
type policyJSON struct {
	ID                 string             `json:"id"`
	Name               string             `json:"name"`
	SecondFactor       authn.SecondFactor `json:"secondFactor"`
	SessionIdleMinutes int64              `json:"sessionIdleMinutes"`
	SessionMaxMinutes  int64              `json:"sessionMaxMinutes"`
	CreatedAt          time.Time          `json:"createdAt"`
	UpdatedAt          time.Time          `json:"updatedAt"`
}

func toPolicyJSON(p authn.Policy) policyJSON {
	return policyJSON{ID: p.ID, Name: p.Name, SecondFactor: p.SecondFactor, SessionIdleMinutes: int64(p.SessionIdle / time.Minute),
		SessionMaxMinutes: int64(p.SessionMax / time.Minute), CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func (pj policyJSON) apply(p *authn.Policy) {
	p.Name, p.SecondFactor = pj.Name, pj.SecondFactor
	p.SessionIdle, p.SessionMax = time.Duration(pj.SessionIdleMinutes)*time.Minute, time.Duration(pj.SessionMaxMinutes)*time.Minute
}

var policyReadOnly = []string{"id", "createdAt", "updatedAt"}

func (a *API) listPolicies(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	ps, err := a.svc.ListPolicies(r.Context(), t.ID)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	out := make([]policyJSON, len(ps))
	for i, p := range ps {
		out[i] = toPolicyJSON(p)
	}
	writeList(w, out, "")
}

func (a *API) createPolicy(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	m, ok := a.readFields(w, r)
	if !ok {
		return
	}
	in, err := mergePatch(policyJSON{SecondFactor: authn.FactorTOTP, SessionIdleMinutes: 60, SessionMaxMinutes: 720}, m, policyReadOnly...)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	var p authn.Policy
	in.apply(&p)
	if p, err = a.svc.CreatePolicy(r.Context(), t.ID, p); err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tenants/"+t.Slug+"/policies/"+p.ID)
	writeObject(w, http.StatusCreated, toPolicyJSON(p), p.Version)
}

func (a *API) getPolicy(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	p, err := a.svc.GetPolicy(r.Context(), t.ID, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeObject(w, http.StatusOK, toPolicyJSON(p), p.Version)
}

func (a *API) patchPolicy(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	pre, err := ifMatch(r)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	m, ok := a.readFields(w, r)
	if !ok {
		return
	}
	version := func(p *authn.Policy) int64 { return p.Version }
	p, err := a.svc.UpdatePolicy(r.Context(), t.ID, r.PathValue("id"), 0, checked(pre, version, func(p *authn.Policy) error {
		next, err := mergePatch(toPolicyJSON(*p), m, policyReadOnly...)
		if err != nil {
			return err
		}
		next.apply(p)
		return nil
	}))
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeObject(w, http.StatusOK, toPolicyJSON(p), p.Version)
}

func (a *API) deletePolicy(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	a.deleteChecked(w, r, func(ctx context.Context) (int64, error) {
		x, err := a.svc.GetPolicy(ctx, t.ID, r.PathValue("id"))
		return x.Version, err
	}, func(ctx context.Context, v int64) error { return a.svc.DeletePolicy(ctx, t.ID, r.PathValue("id"), v) })
}

// setPassword sets a user's password (an administrator's reset, or the
// first password of an imported user) and ends the user's browser
// sessions. The API has no browser session of its own to keep: it is
// called with an administrator's bearer token.
func (a *API) setPassword(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	b, err := readBody(w, r, maxBody)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	var in struct {
		Password string `json:"password"`
	}
	if err := decodeStrict(b, &in); err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	if a.signin == nil {
		writeProblem(w, r, a.log, errNoSignin)
		return
	}
	if err := a.signin.SetPassword(r.Context(), t.ID, r.PathValue("id"), in.Password); err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// resetTOTP removes a user's authenticator (lost phone): the next sign-in
// that needs a second factor enrols a new one. The user's browser sessions
// end too.
func (a *API) resetTOTP(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	if a.signin == nil {
		writeProblem(w, r, a.log, errNoSignin)
		return
	}
	if err := a.signin.ResetTOTP(r.Context(), t.ID, r.PathValue("id")); err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// revokeSessions signs a user out of every browser.
func (a *API) revokeSessions(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	if a.signin == nil {
		writeProblem(w, r, a.log, errNoSignin)
		return
	}
	n, err := a.signin.RevokeSessions(r.Context(), t.ID, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"revoked": n})
}
