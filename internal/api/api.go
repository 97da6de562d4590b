// Package api is Portico's JSON administration API under /api/v1:
// tenants, organizations, users, groups and memberships, bulk import, with
// bearer-token authentication, ETag/If-Match on every object, cursor paging
// and RFC 9457 problem responses naming the field at fault. The OpenAPI
// 3.1 description is served at /api/v1/openapi.json.
package api

import (
	_ "embed"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/apitoken"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/m365/federation"
	m365sync "github.com/portico-idp/portico/internal/m365/sync"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/storage"
)

// Body limits. Imports carry up to MaxImport users of about a kilobyte.
const (
	maxBody       = 1 << 20
	maxImportBody = 64 << 20
	// MaxImport is the most users one import request may carry.
	MaxImport = 10000
)

//go:embed openapi.json
var openAPIDoc []byte

// API serves /api/v1.
type API struct {
	svc    *admin.Service
	signin *signin.Service
	fed    *federation.Service
	sync   *m365sync.Service
	store  storage.Storage
	log    *slog.Logger
}

// WithFederation adds the Federation tab's operations.
func (a *API) WithFederation(f *federation.Service) *API { a.fed = f; return a }

// WithSync adds the Synchronization tab's runs.
func (a *API) WithSync(s *m365sync.Service) *API { a.sync = s; return a }

// New returns the API over svc; sign (may be nil in tests of the
// directory alone) serves password and authenticator operations.
func New(svc *admin.Service, sign *signin.Service, log *slog.Logger) *API {
	return &API{svc: svc, signin: sign, store: svc.Store(), log: log}
}

var errNoSignin = errors.New("sign-in service not configured")

// Route is one served operation.
type Route struct {
	Method  string
	Pattern string // ServeMux path pattern
	handler http.HandlerFunc
}

// Routes lists every operation the API serves; the OpenAPI test checks the
// document against it.
func (a *API) Routes() []Route {
	const v1 = "/api/v1"
	const t = v1 + "/tenants/{tenant}"
	return append([]Route{
		{"GET", v1 + "/openapi.json", a.openAPI},
		{"GET", v1 + "/tenants", a.global(a.listTenants)},
		{"POST", v1 + "/tenants", a.global(a.createTenant)},
		{"GET", t, a.inTenant(a.getTenant)},
		{"PATCH", t, a.global(a.patchTenant)},
		{"DELETE", t, a.global(a.deleteTenant)},

		{"GET", t + "/organizations", a.inTenant(a.listOrganizations)},
		{"POST", t + "/organizations", a.inTenant(a.createOrganization)},
		{"GET", t + "/organizations/{id}", a.inTenant(a.getOrganization)},
		{"PATCH", t + "/organizations/{id}", a.inTenant(a.patchOrganization)},
		{"DELETE", t + "/organizations/{id}", a.inTenant(a.deleteOrganization)},

		{"GET", t + "/users", a.inTenant(a.listUsers)},
		{"POST", t + "/users", a.inTenant(a.createUser)},
		{"POST", t + "/users/import", a.inTenant(a.importUsers)},
		{"GET", t + "/users/{id}", a.inTenant(a.getUser)},
		{"PATCH", t + "/users/{id}", a.inTenant(a.patchUser)},
		{"DELETE", t + "/users/{id}", a.inTenant(a.deleteUser)},
		{"GET", t + "/users/{id}/groups", a.inTenant(a.listUserGroups)},

		{"GET", t + "/groups", a.inTenant(a.listGroups)},
		{"POST", t + "/groups", a.inTenant(a.createGroup)},
		{"GET", t + "/groups/{id}", a.inTenant(a.getGroup)},
		{"PATCH", t + "/groups/{id}", a.inTenant(a.patchGroup)},
		{"DELETE", t + "/groups/{id}", a.inTenant(a.deleteGroup)},
		{"GET", t + "/groups/{id}/members", a.inTenant(a.listMembers)},
		{"POST", t + "/groups/{id}/members", a.inTenant(a.addMember)},
		{"DELETE", t + "/groups/{id}/members/{userId}", a.inTenant(a.removeMember)},

		{"PUT", t + "/users/{id}/password", a.inTenant(a.setPassword)},
		{"DELETE", t + "/users/{id}/totp", a.inTenant(a.resetTOTP)},
		{"DELETE", t + "/users/{id}/sessions", a.inTenant(a.revokeSessions)},

		{"GET", v1 + "/library", a.library},
		{"GET", t + "/applications", a.inTenant(a.listApplications)},
		{"POST", t + "/applications", a.inTenant(a.createApplication)},
		{"GET", t + "/applications/{id}", a.inTenant(a.getApplication)},
		{"PATCH", t + "/applications/{id}", a.inTenant(a.patchApplication)},
		{"DELETE", t + "/applications/{id}", a.inTenant(a.deleteApplication)},
		{"GET", t + "/applications/{id}/certificates", a.inTenant(a.listCertificates)},
		{"GET", t + "/applications/{id}/certificates/{certId}/download", a.inTenant(a.downloadCertificate)},
		{"POST", t + "/applications/{id}/certificates/next", a.inTenant(a.createNextCertificate)},
		{"POST", t + "/applications/{id}/certificates/promote", a.inTenant(a.promoteCertificate)},
		{"POST", t + "/applications/{id}/federation/verify", a.inTenant(a.verifyFederation)},
		{"POST", t + "/applications/{id}/federation/federate", a.inTenant(a.federate)},
		{"POST", t + "/applications/{id}/federation/disconnect", a.inTenant(a.disconnectFederation)},
		{"GET", t + "/applications/{id}/federation/manual", a.inTenant(a.manualFederation)},
		{"POST", t + "/applications/{id}/federation/rollover", a.inTenant(a.rollover)},

		{"GET", t + "/policies", a.inTenant(a.listPolicies)},
		{"POST", t + "/policies", a.inTenant(a.createPolicy)},
		{"GET", t + "/policies/{id}", a.inTenant(a.getPolicy)},
		{"PATCH", t + "/policies/{id}", a.inTenant(a.patchPolicy)},
		{"DELETE", t + "/policies/{id}", a.inTenant(a.deletePolicy)},
	}, a.syncRoutes(t)...)
}

// Register adds the API's routes to mux, plus a catch-all that answers
// unknown /api/ paths with a problem document instead of plain text.
func (a *API) Register(mux *http.ServeMux) {
	for _, rt := range a.Routes() {
		mux.HandleFunc(rt.Method+" "+rt.Pattern, rt.handler)
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, a.log, newProblem(http.StatusNotFound, "no-route", "Not found", "no API operation at "+r.Method+" "+r.URL.Path))
	})
}

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPIDoc)
}

// caller returns the token of an authenticated request, or writes 401.
func (a *API) caller(w http.ResponseWriter, r *http.Request) (apitoken.Token, bool) {
	h := r.Header.Get("Authorization")
	scheme, secret, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="portico"`)
		writeProblem(w, r, a.log, newProblem(http.StatusUnauthorized, "unauthorized", "Unauthorized",
			"send an API token as \"Authorization: Bearer ptc_...\" (create one with \"portico token create\")"))
		return apitoken.Token{}, false
	}
	tok, err := a.svc.Authenticate(r.Context(), strings.TrimSpace(secret))
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			writeProblem(w, r, a.log, err)
			return tok, false
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="portico", error="invalid_token"`)
		writeProblem(w, r, a.log, newProblem(http.StatusUnauthorized, "unauthorized", "Unauthorized", "the API token is not valid"))
		return tok, false
	}
	return tok, true
}

// global wraps operations reserved to global tokens.
func (a *API) global(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := a.caller(w, r)
		if !ok {
			return
		}
		if !tok.Global() {
			writeProblem(w, r, a.log, newProblem(http.StatusForbidden, "forbidden", "Forbidden", "this operation needs a global API token"))
			return
		}
		h(w, r)
	}
}

// inTenant resolves {tenant} (a slug) for a caller allowed to see it. A
// tenant the token may not see is reported as absent: its existence is
// nobody else's business.
func (a *API) inTenant(h func(w http.ResponseWriter, r *http.Request, t directory.Tenant)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := a.caller(w, r)
		if !ok {
			return
		}
		t, err := a.store.GetTenantBySlug(r.Context(), directory.NormalizeSlug(r.PathValue("tenant")))
		if err == nil && !tok.Global() && tok.TenantID != t.ID {
			err = storage.ErrNotFound
		}
		if errors.Is(err, storage.ErrNotFound) {
			writeProblem(w, r, a.log, newProblem(http.StatusNotFound, "not-found", "Not found", "no tenant "+strconv.Quote(r.PathValue("tenant"))))
			return
		}
		if err != nil {
			writeProblem(w, r, a.log, err)
			return
		}
		h(w, r, t)
	}
}

// writeJSON writes v with status; objects with a version get an ETag.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	writeBodyJSON(w, v)
}

func writeBodyJSON(w http.ResponseWriter, v any) { json.NewEncoder(w).Encode(v) }

// writeObject writes one versioned object with its ETag.
func writeObject(w http.ResponseWriter, status int, v any, version int64) {
	w.Header().Set("ETag", etag(version))
	writeJSON(w, status, v)
}

func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// list is the JSON shape of every collection.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

func writeList[T any](w http.ResponseWriter, items []T, next string) {
	if items == nil {
		items = []T{}
	}
	writeJSON(w, http.StatusOK, list[T]{Items: items, NextCursor: next})
}

// query reads the allowed query parameters, refusing unknown ones so that a
// misspelt filter is not silently ignored.
func query(r *http.Request, allowed ...string) (map[string]string, storage.Page, error) {
	out := map[string]string{}
	var p storage.Page
	for k, vs := range r.URL.Query() {
		v := vs[len(vs)-1]
		switch {
		case k == "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > storage.MaxLimit {
				return nil, p, fieldProblem(http.StatusBadRequest, "bad-request", "Bad request", "limit", "must be a number from 1 to 1000")
			}
			p.Limit = n
		case k == "cursor":
			p.Cursor = v
		case slices.Contains(allowed, k):
			out[k] = v
		default:
			return nil, p, fieldProblem(http.StatusBadRequest, "bad-request", "Bad request", k,
				"is not a query parameter of this operation (allowed: limit, cursor"+prefixAll(", ", allowed)+")")
		}
	}
	return out, p, nil
}

func prefixAll(sep string, list []string) string {
	var b strings.Builder
	for _, v := range list {
		b.WriteString(sep + v)
	}
	return b.String()
}
