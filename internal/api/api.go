// Package api is Portico's JSON administration API under /api/v1:
// tenants, organizations, users, groups and memberships, bulk import,
// applications, policies, API tokens and the audit log, with bearer-token
// authentication, roles (package authz), ETag/If-Match on every object,
// cursor paging and RFC 9457 problem responses naming the field at fault.
// The OpenAPI 3.1 description is served at /api/v1/openapi.json.
package api

import (
	_ "embed"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/m365/federation"
	m365sync "github.com/portico-idp/portico/internal/m365/sync"
	"github.com/portico-idp/portico/internal/requestid"
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

// API serves /api/v1. It holds no storage: every read and write goes
// through the services, which check the caller's role themselves, so a
// handler cannot reach data its caller may not see.
type API struct {
	svc    *admin.Service
	signin *signin.Service
	fed    *federation.Service
	sync   *m365sync.Service
	log    *slog.Logger
	// skipEdge turns the route-level permission check off, leaving only
	// the services' own checks (tests prove those suffice).
	skipEdge bool
}

// WithFederation adds the Federation tab's operations.
func (a *API) WithFederation(f *federation.Service) *API { a.fed = f; return a }

// WithSync adds the Synchronization tab's runs.
func (a *API) WithSync(s *m365sync.Service) *API { a.sync = s; return a }

// New returns the API over svc; sign (may be nil in tests of the
// directory alone) serves password and authenticator operations.
func New(svc *admin.Service, sign *signin.Service, log *slog.Logger) *API {
	return &API{svc: svc, signin: sign, log: log}
}

var errNoSignin = errors.New("sign-in service not configured")

// scope says where a route acts, for the permission check at the edge.
type scope int

const (
	// public routes need no token (the OpenAPI document).
	public scope = iota
	// own routes act within the principal's own scope (its tenant, or all
	// tenants): the audit log, the application library.
	own
	// installation routes concern every tenant (the tenant list, tokens
	// for all tenants).
	installation
	// tenant routes act in the tenant of the {tenant} path segment.
	tenant
)

// tenantHandler serves a route under /tenants/{tenant}.
type tenantHandler func(w http.ResponseWriter, r *http.Request, t directory.Tenant)

// Route is one served operation.
type Route struct {
	Method  string
	Pattern string // ServeMux path pattern
	// Permission is what the route needs ("" = any authenticated
	// principal). It is checked before the handler reads anything, and the
	// services check it again.
	Permission authz.Permission
	scope      scope
	handler    http.HandlerFunc
	inTenant   tenantHandler
}

func route(method, pattern string, sc scope, perm authz.Permission, h http.HandlerFunc) Route {
	return Route{Method: method, Pattern: pattern, Permission: perm, scope: sc, handler: h}
}

func inTenant(method, pattern string, perm authz.Permission, h tenantHandler) Route {
	return Route{Method: method, Pattern: pattern, Permission: perm, scope: tenant, inTenant: h}
}

// Routes lists every operation the API serves; the OpenAPI test checks the
// document against it, and the roles test every route against every role.
func (a *API) Routes() []Route {
	const v1 = "/api/v1"
	const t = v1 + "/tenants/{tenant}"
	return append([]Route{
		route("GET", v1+"/openapi.json", public, "", a.openAPI),
		route("GET", v1+"/tenants", installation, authz.ReadDirectory, a.listTenants),
		route("POST", v1+"/tenants", installation, authz.ManageTenants, a.createTenant),
		inTenant("GET", t, authz.ReadDirectory, a.getTenant),
		inTenant("PATCH", t, authz.ManageTenants, a.patchTenant),
		inTenant("DELETE", t, authz.ManageTenants, a.deleteTenant),

		inTenant("GET", t+"/organizations", authz.ReadDirectory, a.listOrganizations),
		inTenant("POST", t+"/organizations", authz.ManageDirectory, a.createOrganization),
		inTenant("GET", t+"/organizations/{id}", authz.ReadDirectory, a.getOrganization),
		inTenant("PATCH", t+"/organizations/{id}", authz.ManageDirectory, a.patchOrganization),
		inTenant("DELETE", t+"/organizations/{id}", authz.ManageDirectory, a.deleteOrganization),

		inTenant("GET", t+"/users", authz.ReadDirectory, a.listUsers),
		inTenant("POST", t+"/users", authz.ManageDirectory, a.createUser),
		inTenant("POST", t+"/users/import", authz.ManageDirectory, a.importUsers),
		inTenant("GET", t+"/users/{id}", authz.ReadDirectory, a.getUser),
		inTenant("PATCH", t+"/users/{id}", authz.ManageDirectory, a.patchUser),
		inTenant("DELETE", t+"/users/{id}", authz.ManageDirectory, a.deleteUser),
		inTenant("GET", t+"/users/{id}/groups", authz.ReadDirectory, a.listUserGroups),

		inTenant("GET", t+"/groups", authz.ReadDirectory, a.listGroups),
		inTenant("POST", t+"/groups", authz.ManageDirectory, a.createGroup),
		inTenant("GET", t+"/groups/{id}", authz.ReadDirectory, a.getGroup),
		inTenant("PATCH", t+"/groups/{id}", authz.ManageDirectory, a.patchGroup),
		inTenant("DELETE", t+"/groups/{id}", authz.ManageDirectory, a.deleteGroup),
		inTenant("GET", t+"/groups/{id}/members", authz.ReadDirectory, a.listMembers),
		inTenant("POST", t+"/groups/{id}/members", authz.ManageDirectory, a.addMember),
		inTenant("DELETE", t+"/groups/{id}/members/{userId}", authz.ManageDirectory, a.removeMember),

		inTenant("PUT", t+"/users/{id}/password", authz.ManageCredentials, a.setPassword),
		inTenant("DELETE", t+"/users/{id}/totp", authz.ManageCredentials, a.resetTOTP),
		inTenant("DELETE", t+"/users/{id}/sessions", authz.ManageCredentials, a.revokeSessions),

		route("GET", v1+"/library", own, "", a.library),
		inTenant("GET", t+"/applications", authz.ReadApplications, a.listApplications),
		inTenant("POST", t+"/applications", authz.ManageApplications, a.createApplication),
		inTenant("GET", t+"/applications/{id}", authz.ReadApplications, a.getApplication),
		inTenant("PATCH", t+"/applications/{id}", authz.ManageApplications, a.patchApplication),
		inTenant("DELETE", t+"/applications/{id}", authz.ManageApplications, a.deleteApplication),
		inTenant("GET", t+"/applications/{id}/certificates", authz.ReadApplications, a.listCertificates),
		inTenant("GET", t+"/applications/{id}/certificates/{certId}/download", authz.ReadApplications, a.downloadCertificate),
		inTenant("POST", t+"/applications/{id}/certificates/next", authz.ManageApplications, a.createNextCertificate),
		inTenant("POST", t+"/applications/{id}/certificates/promote", authz.ManageApplications, a.promoteCertificate),
		inTenant("POST", t+"/applications/{id}/federation/verify", authz.ReadApplications, a.verifyFederation),
		inTenant("POST", t+"/applications/{id}/federation/federate", authz.ManageFederation, a.federate),
		inTenant("POST", t+"/applications/{id}/federation/disconnect", authz.ManageFederation, a.disconnectFederation),
		inTenant("GET", t+"/applications/{id}/federation/manual", authz.ReadApplications, a.manualFederation),
		inTenant("POST", t+"/applications/{id}/federation/rollover", authz.ManageFederation, a.rollover),

		inTenant("GET", t+"/policies", authz.ReadApplications, a.listPolicies),
		inTenant("POST", t+"/policies", authz.ManageApplications, a.createPolicy),
		inTenant("GET", t+"/policies/{id}", authz.ReadApplications, a.getPolicy),
		inTenant("PATCH", t+"/policies/{id}", authz.ManageApplications, a.patchPolicy),
		inTenant("DELETE", t+"/policies/{id}", authz.ManageApplications, a.deletePolicy),

		route("GET", v1+"/tokens", installation, authz.ReadTokens, a.listGlobalTokens),
		route("POST", v1+"/tokens", installation, authz.ManageTokens, a.createGlobalToken),
		route("DELETE", v1+"/tokens/{id}", installation, authz.ManageTokens, a.deleteGlobalToken),
		inTenant("GET", t+"/tokens", authz.ReadTokens, a.listTokens),
		inTenant("POST", t+"/tokens", authz.ManageTokens, a.createToken),
		inTenant("DELETE", t+"/tokens/{id}", authz.ManageTokens, a.deleteToken),

		route("GET", v1+"/audit", own, authz.ReadAudit, a.listAudit),
		route("GET", v1+"/audit/export", own, authz.ReadAudit, a.exportAudit),
	}, a.syncRoutes(t)...)
}

// Register adds the API's routes to mux, plus a catch-all that answers
// unknown /api/ paths with a problem document instead of plain text.
func (a *API) Register(mux *http.ServeMux) {
	for _, rt := range a.Routes() {
		mux.HandleFunc(rt.Method+" "+rt.Pattern, a.guard(rt))
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, a.log, newProblem(http.StatusNotFound, "no-route", "Not found", "no API operation at "+r.Method+" "+r.URL.Path))
	})
}

// guard authenticates a route's caller, puts its principal in the request
// context, resolves {tenant} within the principal's scope, and checks the
// route's permission before the handler runs.
func (a *API) guard(rt Route) http.HandlerFunc {
	if rt.scope == public {
		return rt.handler
	}
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := a.caller(w, r)
		if !ok {
			return
		}
		r = r.WithContext(authz.With(r.Context(), p))
		var t directory.Tenant
		where := ""
		switch rt.scope {
		case own:
			where = p.TenantID
		case tenant:
			var err error
			if t, err = a.svc.TenantBySlug(r.Context(), r.PathValue("tenant")); err != nil {
				if errors.Is(err, storage.ErrNotFound) || errors.Is(err, authz.ErrOutOfScope) {
					// A tenant the caller may not see is reported as absent:
					// its existence is nobody else's business.
					err = newProblem(http.StatusNotFound, "not-found", "Not found", "no tenant "+strconv.Quote(r.PathValue("tenant")))
				}
				writeProblem(w, r, a.log, err)
				return
			}
			where = t.ID
		}
		if rt.Permission != "" && !a.skipEdge {
			if _, err := authz.Require(r.Context(), where, rt.Permission); err != nil {
				writeProblem(w, r, a.log, err)
				return
			}
		}
		if rt.scope == tenant {
			rt.inTenant(w, r, t)
			return
		}
		rt.handler(w, r)
	}
}

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPIDoc)
}

// caller returns the principal of an authenticated request, or writes 401.
func (a *API) caller(w http.ResponseWriter, r *http.Request) (authz.Principal, bool) {
	h := r.Header.Get("Authorization")
	scheme, secret, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="portico"`)
		writeProblem(w, r, a.log, newProblem(http.StatusUnauthorized, "unauthorized", "Unauthorized",
			"send an API token as \"Authorization: Bearer ptc_...\" (create one with \"portico token create\")"))
		return authz.Principal{}, false
	}
	tok, err := a.svc.Authenticate(r.Context(), strings.TrimSpace(secret))
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			writeProblem(w, r, a.log, err)
			return authz.Principal{}, false
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="portico", error="invalid_token"`)
		writeProblem(w, r, a.log, newProblem(http.StatusUnauthorized, "unauthorized", "Unauthorized", "the API token is not valid"))
		return authz.Principal{}, false
	}
	p := tok.Principal()
	p.Address, p.UserAgent, p.RequestID = clientAddr(r), r.UserAgent(), requestid.From(r.Context())
	return p, true
}

// clientAddr is the peer's IP (behind a reverse proxy, the proxy's).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
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
