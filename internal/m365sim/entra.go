package m365sim

import (
	"crypto/sha1" //nolint:gosec // x5t is a SHA-1 thumbprint by definition
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// The Microsoft Entra side: OpenID configuration, instance discovery, keys
// and the v2.0 token endpoint. Sources:
// https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow,
// .../certificate-credentials, .../v2-oauth-ropc, .../reference-error-codes,
// and the contract §1.

const (
	assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	tokenLifetime = 3599 * time.Second
	clockSkew     = 5 * time.Minute
)

// entraError is an OAuth error in Entra's shape
// (reference-error-codes: "Handling error codes in your application").
type entraError struct {
	status int
	err    string // OAuth error code: invalid_client, invalid_grant, ...
	code   int    // AADSTS number
	msg    string
	extra  map[string]any
}

func aadsts(status int, oauthErr string, code int, format string, args ...any) *entraError {
	return &entraError{status: status, err: oauthErr, code: code, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) writeEntraError(w http.ResponseWriter, r *http.Request, e *entraError) {
	now := s.now().UTC()
	trace, corr := s.newID(), r.Header.Get("client-request-id")
	if corr == "" {
		corr = s.newID()
	}
	ts := now.Format("2006-01-02 15:04:05Z")
	body := map[string]any{
		"error":             e.err,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", e.code, e.msg, trace, corr, ts),
		"error_codes":       []int{e.code},
		"timestamp":         ts,
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         fmt.Sprintf("%s/error?code=%d", baseURL(r), e.code),
	}
	for k, v := range e.extra {
		body[k] = v
	}
	s.log.Info("m365sim: token request refused", "aadsts", e.code, "error", e.err, "path", r.URL.Path)
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// baseURL is scheme://host of the request, the address clients used.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func errTenantNotFound(t string) *entraError {
	return aadsts(http.StatusBadRequest, "invalid_tenant", 90002,
		"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", t)
}

// tenantFor resolves a tenant segment: an id or any of its domain names.
func (s *Store) tenantFor(seg string) *Tenant {
	key := strings.ToLower(seg)
	if t, ok := s.tenants[key]; ok {
		return t
	}
	return s.byDomain[key]
}

// serveOpenIDConfiguration answers /{tenant}/v2.0/.well-known/openid-configuration
// with the fields MSAL needs (issuer, authorization_endpoint,
// token_endpoint); the issuer's host is the request's, as MSAL checks.
func (s *Server) serveOpenIDConfiguration(w http.ResponseWriter, r *http.Request, seg string) {
	s.store.mu.RLock()
	t := s.store.tenantFor(seg)
	var id string
	if t != nil {
		id = t.ID
	}
	s.store.mu.RUnlock()
	if t == nil && !isMultiTenantSegment(seg) {
		s.writeEntraError(w, r, errTenantNotFound(seg))
		return
	}
	if t == nil {
		id = "{tenantid}"
	}
	base := baseURL(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/" + pathTenant(seg, id) + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/" + pathTenant(seg, id) + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/" + id + "/v2.0",
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     base + "/oidc/userinfo",
		"authorization_endpoint":                base + "/" + pathTenant(seg, id) + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/" + pathTenant(seg, id) + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  base + "/" + pathTenant(seg, id) + "/oauth2/v2.0/logout",
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "roles", "scp", "appid"},
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
		"cloud_graph_host_name":                 "graph.windows.net",
		"msgraph_host":                          "graph.microsoft.com",
	})
}

func isMultiTenantSegment(seg string) bool {
	switch strings.ToLower(seg) {
	case "common", "organizations":
		return true
	}
	return false
}

// pathTenant keeps "common" in endpoint paths and uses the tenant id
// otherwise, as Entra's discovery documents do.
func pathTenant(seg, id string) string {
	if isMultiTenantSegment(seg) {
		return strings.ToLower(seg)
	}
	return id
}

// serveInstanceDiscovery answers /common/discovery/instance: the sim is its
// own only alias (https://learn.microsoft.com/entra/identity-platform/msal-national-cloud).
func (s *Server) serveInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	auth := r.URL.Query().Get("authorization_endpoint")
	tenant := "common"
	if i := strings.Index(auth, host+"/"); i >= 0 {
		rest := auth[i+len(host)+1:]
		if j := strings.Index(rest, "/"); j > 0 {
			tenant = rest[:j]
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": baseURL(r) + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": host,
			"preferred_cache":   host,
			"aliases":           []string{host},
		}},
	})
}

// serveKeys publishes the sim's token-signing key as a JWK set.
func (s *Server) serveKeys(w http.ResponseWriter, _ *http.Request) {
	pub := &s.signKey.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "kid": s.keyID, "x5t": s.keyID,
		"n":   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		"x5c": []string{base64.StdEncoding.EncodeToString(s.signCert.Raw)},
	}}})
}

// accessClaims are the claims of a sim access token for Graph.
type accessClaims struct {
	Aud      string   `json:"aud"`
	Iss      string   `json:"iss"`
	Iat      int64    `json:"iat"`
	Nbf      int64    `json:"nbf"`
	Exp      int64    `json:"exp"`
	AppID    string   `json:"appid"`
	AppIDAcr string   `json:"appidacr"`
	Idtyp    string   `json:"idtyp"`
	Oid      string   `json:"oid"`
	Roles    []string `json:"roles,omitempty"`
	Scp      string   `json:"scp,omitempty"`
	Sub      string   `json:"sub"`
	Tid      string   `json:"tid"`
	UPN      string   `json:"upn,omitempty"`
	Name     string   `json:"name,omitempty"`
	Wids     []string `json:"wids,omitempty"`
	Uti      string   `json:"uti"`
	Ver      string   `json:"ver"`
}

func (a *accessClaims) isApp() bool { return a.Idtyp == "app" }

// roleTemplateID maps a Microsoft Entra built-in role name to its template
// id, which tokens carry in wids
// (https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference).
func roleTemplateID(name string) (string, bool) {
	switch strings.ToLower(name) {
	case "global administrator":
		return "62e90394-69f5-4237-9190-012177145e10", true
	case "user administrator":
		return "fe930be7-5e62-47db-91af-98c3a49a38b1", true
	case "domain name administrator":
		return "8329153b-31d0-4727-b945-745eb3bc5f31", true
	case "hybrid identity administrator":
		return "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2", true
	case "external identity provider administrator":
		return "be2f45a1-457d-42af-a067-6ec1fa63bc45", true
	case "security administrator":
		return "194ae4cb-b126-40b2-bd5b-6091b380977d", true
	case "groups administrator":
		return "fdd7a751-b60b-444a-984c-02652fe8fa1c", true
	case "license administrator":
		return "4d6ac14f-3453-41d0-bef9-a3e0c569773a", true
	}
	return "", false
}

// issueToken signs an access token for Graph.
func (s *Server) issueToken(c accessClaims) (string, error) {
	now := s.now().UTC()
	c.Aud = graphResource
	c.Iss = "https://sts.windows.net/" + c.Tid + "/"
	c.Iat, c.Nbf, c.Exp = now.Unix(), now.Unix(), now.Add(tokenLifetime).Unix()
	c.Uti = strings.ReplaceAll(s.newID(), "-", "")[:22]
	c.Ver = "1.0"
	return signRS256(s.signKey, map[string]any{"typ": "JWT", "alg": "RS256", "x5t": s.keyID, "kid": s.keyID}, c)
}

// serveToken is POST /{tenant}/oauth2/v2.0/token.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, seg string) {
	if r.Method != http.MethodPost {
		s.writeEntraError(w, r, aadsts(http.StatusBadRequest, "invalid_request", 900561, "The endpoint only accepts POST, OPTIONS requests. Received a %s request.", r.Method))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		s.writeEntraError(w, r, aadsts(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'."))
		return
	}
	f := r.PostForm
	grant := f.Get("grant_type")
	if grant == "" {
		s.writeEntraError(w, r, aadsts(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'."))
		return
	}
	// Token issuance mutates state (replay cache), so take the write lock.
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	t := s.store.tenantFor(seg)
	if t == nil && isMultiTenantSegment(seg) && grant == "password" {
		if _, dom, ok := strings.Cut(f.Get("username"), "@"); ok {
			t = s.store.byDomain[strings.ToLower(dom)]
		}
	}
	if t == nil {
		if isMultiTenantSegment(seg) {
			s.writeEntraError(w, r, aadsts(http.StatusBadRequest, "invalid_request", 9001023, "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint."))
			return
		}
		s.writeEntraError(w, r, errTenantNotFound(seg))
		return
	}
	var body map[string]any
	var e *entraError
	switch grant {
	case "client_credentials":
		body, e = s.clientCredentials(r, t, f.Get)
	case "password":
		body, e = s.passwordGrant(r, t, f.Get)
	default:
		e = aadsts(http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'.", grant)
	}
	if e != nil {
		s.writeEntraError(w, r, e)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func missingParam(name string) *entraError {
	return aadsts(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: '%s'.", name)
}

// graphScope checks that scope names Microsoft Graph with /.default, as the
// client credentials flow requires (v2-oauth2-client-creds-grant-flow).
func graphScope(scope string) *entraError {
	if scope == "" {
		return missingParam("scope")
	}
	for _, sc := range strings.Fields(scope) {
		switch strings.ToLower(sc) {
		case "https://graph.microsoft.com/.default", "https://graph.microsoft.com//.default", graphAppID + "/.default":
			return nil
		}
	}
	return aadsts(http.StatusBadRequest, "invalid_scope", 1002012,
		"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope)
}

func (s *Server) findApp(t *Tenant, clientID string) (*App, *entraError) {
	if clientID == "" {
		return nil, missingParam("client_id")
	}
	app := t.Apps[strings.ToLower(clientID)]
	if app == nil {
		return nil, aadsts(http.StatusBadRequest, "unauthorized_client", 700016,
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, t.DisplayName)
	}
	return app, nil
}

// clientCredentials validates a certificate client assertion
// (https://learn.microsoft.com/entra/identity-platform/certificate-credentials):
// RS256 with x5t or PS256 with x5t#S256, signed by a certificate uploaded to
// the app, aud = the token endpoint, iss = sub = client id, a current
// exp/nbf and a jti not seen before.
func (s *Server) clientCredentials(r *http.Request, t *Tenant, get func(string) string) (map[string]any, *entraError) {
	app, e := s.findApp(t, get("client_id"))
	if e != nil {
		return nil, e
	}
	if e := graphScope(get("scope")); e != nil {
		return nil, e
	}
	assertion := get("client_assertion")
	if assertion == "" {
		if get("client_secret") != "" {
			return nil, aadsts(http.StatusUnauthorized, "invalid_client", 7000215,
				"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", app.ClientID)
		}
		return nil, aadsts(http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	if get("client_assertion_type") != assertionType {
		return nil, missingParam("client_assertion_type")
	}
	jp, err := parseJWT(assertion)
	if err != nil {
		return nil, aadsts(http.StatusUnauthorized, "invalid_client", 50027, "JWT token is invalid or malformed.")
	}
	var sha1Print, sha256Print []byte
	var shown string
	switch jp.alg() {
	case "RS256":
		x5t := strClaim(jp.header, "x5t")
		sha1Print, shown = decodeThumbprint(x5t), x5t
		if p := strClaim(jp.header, "x5t#S256"); p != "" && sha1Print == nil {
			sha256Print, shown = decodeThumbprint(p), p
		}
	case "PS256":
		p := strClaim(jp.header, "x5t#S256")
		sha256Print, shown = decodeThumbprint(p), p
		if sha256Print == nil {
			sha1Print, shown = decodeThumbprint(strClaim(jp.header, "x5t")), strClaim(jp.header, "x5t")
		}
	default:
		return nil, aadsts(http.StatusUnauthorized, "invalid_client", 5002738, "Invalid JWT token. '%s' is not a supported signature algorithm. Supported signing algorithms are: 'RS256, PS256'.", jp.alg())
	}
	if sha1Print == nil && sha256Print == nil {
		return nil, aadsts(http.StatusUnauthorized, "invalid_client", 700027, "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '', Found key 'Start=..., End=...']")
	}
	cert := app.certByThumbprint(sha1Print, sha256Print)
	if cert == nil {
		printHex := strings.ToUpper(hex.EncodeToString(append(sha1Print, sha256Print...)))
		return nil, aadsts(http.StatusUnauthorized, "invalid_client", 700027,
			"Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.] (x5t '%s')", printHex, app.ClientID, shown)
	}
	pub, ok := rsaPublicKey(cert)
	if !ok || jp.verify(pub) != nil {
		return nil, aadsts(http.StatusUnauthorized, "invalid_client", 700027,
			"Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '%s']", strings.ToUpper(hex.EncodeToString(sha1Of(cert.Raw))))
	}
	c := jp.claims
	if strClaim(c, "iss") != app.ClientID && !strings.EqualFold(strClaim(c, "iss"), app.ClientID) {
		return nil, aadsts(http.StatusUnauthorized, "invalid_client", 700021, "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .")
	}
	if !strings.EqualFold(strClaim(c, "sub"), strClaim(c, "iss")) {
		return nil, aadsts(http.StatusUnauthorized, "invalid_client", 50048, "Subject mismatches Issuer claim in the client assertion.")
	}
	if !s.audienceOK(r, t, strClaim(c, "aud")) {
		return nil, aadsts(http.StatusUnauthorized, "invalid_client", 700023, "Client assertion audience claim does not match Realm issuer. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .")
	}
	now := s.now()
	exp, hasExp := numClaim(c, "exp")
	nbf, hasNbf := numClaim(c, "nbf")
	if !hasExp || time.Unix(exp, 0).Before(now.Add(-clockSkew)) || (hasNbf && time.Unix(nbf, 0).After(now.Add(clockSkew))) {
		return nil, aadsts(http.StatusUnauthorized, "invalid_client", 700024, "Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s.",
			now.UTC().Format(time.RFC3339), time.Unix(nbf, 0).UTC().Format(time.RFC3339), time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	jti := strClaim(c, "jti")
	if jti == "" {
		return nil, aadsts(http.StatusUnauthorized, "invalid_client", 50027, "Invalid JWT token. The token does not contain a 'jti' claim.")
	}
	s.store.forgetExpiredJTI(now)
	key := app.ClientID + "|" + jti
	if _, seen := s.store.usedJTI[key]; seen {
		return nil, aadsts(http.StatusUnauthorized, "invalid_client", 50013, "Assertion failed signature validation. [Reason - The client assertion with jti '%s' was already used.]", jti)
	}
	s.store.usedJTI[key] = time.Unix(exp, 0).Add(clockSkew)
	tok, err := s.issueToken(accessClaims{
		AppID: app.ClientID, AppIDAcr: "2", Idtyp: "app", Oid: servicePrincipalID(app), Sub: servicePrincipalID(app),
		Roles: append([]string(nil), app.ApplicationPermissions...), Tid: t.ID, Wids: appWids(app),
	})
	if err != nil {
		return nil, aadsts(http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token: %v", err)
	}
	s.log.Info("m365sim: token issued", "grant", "client_credentials", "tenant", t.ID, "client_id", app.ClientID, "alg", jp.alg())
	return map[string]any{"token_type": "Bearer", "expires_in": int(tokenLifetime.Seconds()), "ext_expires_in": int(tokenLifetime.Seconds()), "access_token": tok}, nil
}

func sha1Of(b []byte) []byte { d := sha1.Sum(b); return d[:] } //nolint:gosec // thumbprint

// defaultServicePrincipalRole is the role template every service
// principal's app-only token lists in wids, beside the directory roles
// assigned to it (observed in real app-only tokens; the template is
// "Directory Readers"-like default permissions of service principals).
const defaultServicePrincipalRole = "0997a1d0-0d1d-4acb-b408-d5ca73121e90"

// appWids lists the directory role templates of an app's service
// principal, as Entra puts them in app-only tokens' wids claim.
func appWids(app *App) []string {
	wids := []string{}
	for _, r := range app.DirectoryRoles {
		if id, ok := roleTemplateID(r); ok {
			wids = append(wids, id)
		}
	}
	return append(wids, defaultServicePrincipalRole)
}

// servicePrincipalID derives a stable object id for an app's service
// principal from its client id.
func servicePrincipalID(app *App) string {
	d := sha256.Sum256([]byte("sp:" + strings.ToLower(app.ClientID)))
	return formatUUID(d[:16])
}

// audienceOK accepts the token endpoint URLs of this tenant (by id or any
// domain name, v2.0 or v1), on the host the client used or the sim's
// configured public URL.
func (s *Server) audienceOK(r *http.Request, t *Tenant, aud string) bool {
	aud = strings.TrimSuffix(strings.ToLower(aud), "/")
	names := []string{strings.ToLower(t.ID)}
	for _, d := range t.Domains {
		names = append(names, strings.ToLower(d.Name))
	}
	hosts := []string{strings.ToLower(baseURL(r))}
	if s.url != "" {
		hosts = append(hosts, strings.ToLower(s.url))
	}
	for _, h := range hosts {
		for _, n := range names {
			for _, p := range []string{"/oauth2/v2.0/token", "/oauth2/token"} {
				if aud == h+"/"+n+p {
					return true
				}
			}
		}
	}
	return false
}

func (st *Store) forgetExpiredJTI(now time.Time) {
	if len(st.usedJTI) < 1024 {
		return
	}
	for k, exp := range st.usedJTI {
		if exp.Before(now) {
			delete(st.usedJTI, k)
		}
	}
}

// passwordGrant implements the resource owner password credentials grant
// (https://learn.microsoft.com/entra/identity-platform/v2-oauth-ropc) for
// cloud accounts: wrong passwords give AADSTS50126 and accounts that must
// use MFA AADSTS50076.
func (s *Server) passwordGrant(r *http.Request, t *Tenant, get func(string) string) (map[string]any, *entraError) {
	app, e := s.findApp(t, get("client_id"))
	if e != nil {
		return nil, e
	}
	username, password := get("username"), get("password")
	if username == "" {
		return nil, missingParam("username")
	}
	if password == "" {
		return nil, missingParam("password")
	}
	if get("scope") == "" {
		return nil, missingParam("scope")
	}
	u := t.usersIdx().byUPN[strings.ToLower(username)]
	if u == nil {
		return nil, aadsts(http.StatusBadRequest, "invalid_grant", 50034,
			"The user account {EUII Hidden} does not exist in the %s directory. To sign into this application, the account must be added to the directory.", t.ID)
	}
	_, dom, _ := strings.Cut(u.str("userPrincipalName"), "@")
	if d := t.domain(dom); d != nil && t.effectiveFederation(d) != nil {
		// A federated account authenticates at its identity provider; the
		// sim has no WS-Trust path, so the credentials cannot be checked.
		return nil, aadsts(http.StatusBadRequest, "invalid_grant", 50126, "Error validating credentials due to invalid username or password.")
	}
	if u.Password == "" || u.Password != password {
		return nil, aadsts(http.StatusBadRequest, "invalid_grant", 50126, "Error validating credentials due to invalid username or password.")
	}
	if enabled, ok := u.props["accountEnabled"].(bool); ok && !enabled {
		return nil, aadsts(http.StatusBadRequest, "invalid_grant", 50057, "The user account is disabled.")
	}
	if u.MFARequired {
		e := aadsts(http.StatusBadRequest, "invalid_grant", 50076,
			"Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '%s'.", graphAppID)
		e.extra = map[string]any{"suberror": "basic_action", "claims": `{"access_token":{"capolids":{"essential":true,"values":["00000000-0000-0000-0000-000000000000"]}}}`}
		return nil, e
	}
	var wids []string
	for _, role := range u.DirectoryRoles {
		if id, ok := roleTemplateID(role); ok {
			wids = append(wids, id)
		}
	}
	scp := strings.Join(app.DelegatedPermissions, " ")
	granted := scp
	if strings.Contains(get("scope"), graphResource+"/.default") {
		// A .default request is answered with the granted permissions and
		// the .default scope itself; MSAL checks that every requested scope
		// is in the answer.
		granted = strings.TrimSpace(granted + " " + graphResource + "/.default")
	}
	tok, err := s.issueToken(accessClaims{
		AppID: app.ClientID, AppIDAcr: "0", Idtyp: "user", Oid: u.id, Sub: u.id, Scp: scp, Tid: t.ID,
		UPN: u.str("userPrincipalName"), Name: u.str("displayName"), Wids: wids,
	})
	if err != nil {
		return nil, aadsts(http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token: %v", err)
	}
	s.log.Info("m365sim: token issued", "grant", "password", "tenant", t.ID, "client_id", app.ClientID)
	return map[string]any{"token_type": "Bearer", "scope": granted, "expires_in": int(tokenLifetime.Seconds()), "ext_expires_in": int(tokenLifetime.Seconds()), "access_token": tok}, nil
}

// serveUserRealm answers home-realm discovery for a user, which MSAL calls
// before the password grant (GET /common/UserRealm/{upn}?api-version=1.0):
// Managed for cloud accounts; Federated, with the WS-Trust endpoint, for a
// federated domain.
func (s *Server) serveUserRealm(w http.ResponseWriter, r *http.Request, user string) {
	_, dom, _ := strings.Cut(strings.ToLower(user), "@")
	body := map[string]any{"ver": "1.0", "account_type": "Unknown", "domain_name": dom,
		"cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline"}
	s.store.mu.RLock()
	if t := s.store.byDomain[dom]; t != nil {
		if d := t.domain(dom); d != nil {
			body["account_type"] = "Managed"
			if fed := t.effectiveFederation(d); fed != nil {
				body["account_type"] = "Federated"
				body["federation_protocol"] = "WSTrust"
				body["federation_metadata_url"], _ = fed.Props["metadataExchangeUri"].(string)
				body["federation_active_auth_url"], _ = fed.Props["activeSignInUri"].(string)
			}
		}
	}
	s.store.mu.RUnlock()
	writeJSON(w, http.StatusOK, body)
}

// authenticate validates a Graph bearer token: signature by the sim key,
// audience Microsoft Graph, lifetime, and a known tenant. Failures are 401
// InvalidAuthenticationToken (https://learn.microsoft.com/graph/errors).
func (s *Server) authenticate(r *http.Request) (*accessClaims, *graphError) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil, errInvalidToken("Access token is empty.")
	}
	tok = strings.TrimSpace(tok)
	now := s.now()
	if c, ok := s.tokenCache.get(tok); ok {
		if time.Unix(c.Exp, 0).Add(clockSkew).Before(now) {
			return nil, errInvalidToken("Lifetime validation failed, the token is expired.")
		}
		return c, nil
	}
	jp, err := parseJWT(tok)
	if err != nil {
		return nil, errInvalidToken("IDX14100: JWT is not well formed, there are no dots (.).")
	}
	if jp.alg() != "RS256" || strClaim(jp.header, "kid") != s.keyID || jp.verify(&s.signKey.PublicKey) != nil {
		return nil, errInvalidToken("Access token validation failure.")
	}
	raw, _ := json.Marshal(jp.claims)
	var c accessClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, errInvalidToken("Access token validation failure.")
	}
	switch strings.TrimSuffix(c.Aud, "/") {
	case graphResource, graphAppID:
	default:
		return nil, errInvalidToken("Access token validation failure. Invalid audience.")
	}
	if time.Unix(c.Exp, 0).Add(clockSkew).Before(now) {
		return nil, errInvalidToken("Lifetime validation failed, the token is expired.")
	}
	if time.Unix(c.Nbf, 0).After(now.Add(clockSkew)) {
		return nil, errInvalidToken("Lifetime validation failed, the token is not yet valid.")
	}
	s.tokenCache.put(tok, &c)
	return &c, nil
}

func errInvalidToken(msg string) *graphError {
	e := &graphError{status: http.StatusUnauthorized, code: "InvalidAuthenticationToken", message: msg}
	e.headers = map[string]string{"WWW-Authenticate": `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="` + graphAppID + `"`}
	return e
}
