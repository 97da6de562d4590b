package api

import (
	"net/http"
	"time"

	"github.com/portico-idp/portico/internal/apitoken"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
)

// tokenJSON is an API token as the API shows it: never its hash, and its
// secret only in the answer that created it.
type tokenJSON struct {
	ID string `json:"id"`
	// TenantID is empty for a token of all tenants.
	TenantID  string     `json:"tenantId,omitempty"`
	Name      string     `json:"name"`
	Role      authz.Role `json:"role"`
	CreatedAt time.Time  `json:"createdAt"`
	Secret    string     `json:"secret,omitempty"`
}

func showToken(t apitoken.Token) tokenJSON {
	return tokenJSON{ID: t.ID, TenantID: t.TenantID, Name: t.Name, Role: t.Role, CreatedAt: t.CreatedAt}
}

func (a *API) writeTokens(w http.ResponseWriter, r *http.Request, tenantID string) {
	if _, _, err := query(r); err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	list, err := a.svc.ListAPITokens(r.Context(), tenantID)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	out := make([]tokenJSON, len(list))
	for i, t := range list {
		out[i] = showToken(t)
	}
	writeList(w, out, "")
}

// newToken creates a token from {"name": ..., "role": ...}.
func (a *API) newToken(w http.ResponseWriter, r *http.Request, tenantID, location string) {
	b, err := readBody(w, r, maxBody)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	var in struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := decodeStrict(b, &in); err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	var role authz.Role
	if in.Role != "" {
		if role, err = authz.ParseRole(in.Role); err != nil {
			writeProblem(w, r, a.log, directory.Invalid("role", "must be one of "+authz.RoleNames()))
			return
		}
	}
	secret, t, err := a.svc.CreateAPIToken(r.Context(), tenantID, in.Name, role)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	out := showToken(t)
	out.Secret = secret
	w.Header().Set("Location", location+"/"+t.ID)
	writeJSON(w, http.StatusCreated, out)
}

func (a *API) listGlobalTokens(w http.ResponseWriter, r *http.Request) { a.writeTokens(w, r, "") }

func (a *API) createGlobalToken(w http.ResponseWriter, r *http.Request) {
	a.newToken(w, r, "", "/api/v1/tokens")
}

func (a *API) deleteGlobalToken(w http.ResponseWriter, r *http.Request) {
	a.deleted(w, r, a.svc.DeleteAPIToken(r.Context(), "", r.PathValue("id")))
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	a.writeTokens(w, r, t.ID)
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	a.newToken(w, r, t.ID, "/api/v1/tenants/"+t.Slug+"/tokens")
}

func (a *API) deleteToken(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	a.deleted(w, r, a.svc.DeleteAPIToken(r.Context(), t.ID, r.PathValue("id")))
}
