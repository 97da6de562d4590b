package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/m365/federation"
	"github.com/portico-idp/portico/internal/storage"
)

var errNoFederation = errors.New("federation service not configured")

// federationApp loads the Office 365 application of a federation call and
// the domain it names (the body's or query's "domain"; the application's
// first domain when absent).
func (a *API) federationApp(w http.ResponseWriter, r *http.Request, t directory.Tenant, withBody bool) (apps.Application, string, bool) {
	if a.fed == nil {
		writeProblem(w, r, a.log, errNoFederation)
		return apps.Application{}, "", false
	}
	app, err := a.svc.GetApplication(r.Context(), t.ID, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, a.log, err)
		return app, "", false
	}
	if app.Kind != apps.KindOffice365 || app.Office365 == nil {
		writeProblem(w, r, a.log, newProblem(http.StatusConflict, "not-office365", "Not an Office 365 application", "federation applies to Office 365 applications"))
		return app, "", false
	}
	domain := ""
	if withBody {
		b, err := readBody(w, r, maxBody)
		if err != nil {
			writeProblem(w, r, a.log, err)
			return app, "", false
		}
		if len(strings.TrimSpace(string(b))) > 0 {
			var in struct {
				Domain string `json:"domain"`
			}
			if err := decodeStrict(b, &in); err != nil {
				writeProblem(w, r, a.log, err)
				return app, "", false
			}
			domain = in.Domain
		}
	} else {
		q, _, err := query(r, "domain")
		if err != nil {
			writeProblem(w, r, a.log, err)
			return app, "", false
		}
		domain = q["domain"]
	}
	if domain == "" {
		if names := app.Office365.DomainNames(); len(names) > 0 {
			domain = names[0]
		}
	}
	domain = strings.ToLower(strings.TrimSpace(domain))
	if !directory.ValidDomain(domain) {
		writeProblem(w, r, a.log, directory.Invalid("domain", "name a domain, such as contoso.com (or list one in office365.domains)"))
		return app, "", false
	}
	return app, domain, true
}

func (a *API) verifyFederation(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	app, domain, ok := a.federationApp(w, r, t, true)
	if !ok {
		return
	}
	rep, err := a.fed.Verify(r.Context(), t, app, domain)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// federationResult answers a write operation: 200 with the result, or a
// problem that carries the result (what happened, the domain's state, the
// report) when the operation did not go through.
func (a *API) federationResult(w http.ResponseWriter, r *http.Request, res federation.Result, err error) {
	if err == nil {
		writeJSON(w, http.StatusOK, res)
		return
	}
	if isRefusal(err) {
		writeProblem(w, r, a.log, err)
		return
	}
	status, kind := http.StatusConflict, "federation-refused"
	switch {
	case errors.Is(err, federation.ErrNotCompatible):
		status, kind = http.StatusUnprocessableEntity, "not-compatible"
	case errors.Is(err, federation.ErrManualMode), errors.Is(err, federation.ErrAutomaticMode),
		errors.Is(err, federation.ErrElsewhere), errors.Is(err, federation.ErrNotRoot):
	case errors.Is(err, storage.ErrNotFound):
		writeProblem(w, r, a.log, err)
		return
	default:
		status, kind = http.StatusBadGateway, "microsoft-graph"
		a.log.ErrorContext(r.Context(), "federation operation failed", "domain", res.Domain, "err", err)
	}
	detail := err.Error()
	if res.Message != "" {
		detail = res.Message
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	writeBodyJSON(w, struct {
		*Problem
		Result federation.Result `json:"result"`
	}{newProblem(status, kind, firstSentence(err.Error()), detail), res})
}

func firstSentence(s string) string {
	if i := strings.IndexAny(s, ":;"); i > 0 {
		return s[:i]
	}
	return s
}

func (a *API) federate(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	app, domain, ok := a.federationApp(w, r, t, true)
	if !ok {
		return
	}
	res, err := a.fed.Federate(r.Context(), t, app, domain)
	a.federationResult(w, r, res, err)
}

func (a *API) disconnectFederation(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	app, domain, ok := a.federationApp(w, r, t, true)
	if !ok {
		return
	}
	res, err := a.fed.Disconnect(r.Context(), t, app, domain)
	a.federationResult(w, r, res, err)
}

func (a *API) manualFederation(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	app, domain, ok := a.federationApp(w, r, t, false)
	if !ok {
		return
	}
	m, err := a.fed.Manual(r.Context(), t, app, domain)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (a *API) rollover(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	if a.fed == nil {
		writeProblem(w, r, a.log, errNoFederation)
		return
	}
	app, err := a.svc.GetApplication(r.Context(), t.ID, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	steps, err := a.fed.Rollover(r.Context(), t, app)
	if isRefusal(err) {
		writeProblem(w, r, a.log, err)
		return
	}
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, federation.ErrManualMode) {
			status = http.StatusConflict
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		writeBodyJSON(w, struct {
			*Problem
			Steps []federation.RolloverStep `json:"steps"`
		}{newProblem(status, "rollover", "Rollover stopped", err.Error()), steps})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"steps": steps})
}
