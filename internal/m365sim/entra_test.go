package m365sim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// assertion builds a client assertion JWT as certificate-credentials
// describes. header and claims override the defaults.
func assertion(t *testing.T, alg string, kc testKeyCert, aud string, header, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": alg, "typ": "JWT"}
	if alg == "RS256" {
		d := sha1.Sum(kc.cert.Raw) //nolint:gosec
		h["x5t"] = base64.RawURLEncoding.EncodeToString(d[:])
	} else {
		d := sha256.Sum256(kc.cert.Raw)
		h["x5t#S256"] = base64.RawURLEncoding.EncodeToString(d[:])
	}
	now := time.Now()
	c := map[string]any{"aud": aud, "iss": appAll, "sub": appAll, "jti": randomID(), "nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	for k, v := range header {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(c)
	signed := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	sum := sha256.Sum256([]byte(signed))
	var sig []byte
	var err error
	if alg == "RS256" {
		sig, err = rsa.SignPKCS1v15(rand.Reader, kc.key, crypto.SHA256, sum[:])
	} else {
		sig, err = rsa.SignPSS(rand.Reader, kc.key, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	}
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = io.ReadFull(rand.Reader, b)
	return formatUUID(b)
}

type tokenResp struct {
	status int
	body   map[string]any
}

func postToken(t *testing.T, e *testEnv, tenant string, form url.Values) tokenResp {
	t.Helper()
	res, err := http.PostForm(e.hs.URL+"/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("token response is not JSON: %v", err)
	}
	return tokenResp{res.StatusCode, body}
}

func ccForm(clientID, assertion string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "scope": {"https://graph.microsoft.com/.default"},
		"client_assertion_type": {assertionType}, "client_assertion": {assertion}}
}

// expectAADSTS checks Entra's error body (reference-error-codes).
func expectAADSTS(t *testing.T, r tokenResp, status int, oauthErr string, code int) {
	t.Helper()
	desc, _ := r.body["error_description"].(string)
	codes, _ := r.body["error_codes"].([]any)
	if r.status != status || r.body["error"] != oauthErr || len(codes) != 1 || codes[0] != float64(code) ||
		!strings.HasPrefix(desc, "AADSTS"+itoa(code)+": ") || !strings.Contains(desc, "\r\nTrace ID: ") ||
		r.body["trace_id"] == nil || r.body["correlation_id"] == nil || r.body["timestamp"] == nil {
		t.Fatalf("got %d %v, want %d %s AADSTS%d", r.status, r.body, status, oauthErr, code)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestTokenClientCredentials(t *testing.T) {
	e := newEnv(t)
	fx := fixtures()
	aud := e.hs.URL + "/" + tenantID + "/oauth2/v2.0/token"
	for _, alg := range []string{"RS256", "PS256"} {
		t.Run(alg, func(t *testing.T) {
			r := postToken(t, e, tenantID, ccForm(appAll, assertion(t, alg, fx.app, aud, nil, nil)))
			if r.status != 200 || r.body["token_type"] != "Bearer" || r.body["expires_in"] != float64(3599) {
				t.Fatalf("%d %v", r.status, r.body)
			}
			if _, has := r.body["refresh_token"]; has {
				t.Error("client credentials must not return a refresh token")
			}
			jp, err := parseJWT(r.body["access_token"].(string))
			if err != nil {
				t.Fatal(err)
			}
			c := jp.claims
			if c["aud"] != "https://graph.microsoft.com" || c["tid"] != tenantID || c["appid"] != appAll || c["idtyp"] != "app" || c["exp"] == nil {
				t.Fatalf("claims %v", c)
			}
			roles, _ := c["roles"].([]any)
			if len(roles) != 5 || c["scp"] != nil {
				t.Fatalf("roles %v scp %v", c["roles"], c["scp"])
			}
			// The token works on Graph.
			if g := e.do("GET", "/v1.0/organization", r.body["access_token"].(string), nil); g.status != 200 {
				t.Fatalf("graph with issued token: %d %s", g.status, g.raw)
			}
		})
	}
	// The tenant may be named by a domain, and MSAL's standard-base64 x5t#S256 is accepted.
	d := sha256.Sum256(fx.app.cert.Raw)
	std := assertion(t, "PS256", fx.app, e.hs.URL+"/contoso.onmicrosoft.com/oauth2/v2.0/token", map[string]any{"x5t#S256": base64.StdEncoding.EncodeToString(d[:])}, nil)
	if r := postToken(t, e, "contoso.onmicrosoft.com", ccForm(appAll, std)); r.status != 200 {
		t.Fatalf("std base64 thumbprint / domain tenant: %d %v", r.status, r.body)
	}

	// Errors (contract §1, reference-error-codes).
	good := func() string { return assertion(t, "PS256", fx.app, aud, nil, nil) }
	expectAADSTS(t, postToken(t, e, "22222222-2222-4222-8222-222222222222", ccForm(appAll, good())), 400, "invalid_tenant", 90002)
	expectAADSTS(t, postToken(t, e, tenantID, ccForm("bbbbbbbb-0000-4000-8000-000000000000", good())), 400, "unauthorized_client", 700016)
	f := ccForm(appAll, "")
	f.Del("client_assertion")
	f.Del("client_assertion_type")
	expectAADSTS(t, postToken(t, e, tenantID, f), 401, "invalid_client", 7000218)
	expectAADSTS(t, postToken(t, e, tenantID, ccForm(appAll, assertion(t, "PS256", fx.other, aud, nil, nil))), 401, "invalid_client", 700027)
	expectAADSTS(t, postToken(t, e, tenantID, ccForm(appAll, assertion(t, "RS256", fx.other, aud, nil, nil))), 401, "invalid_client", 700027)
	// Right thumbprint, wrong key: the signature does not verify.
	forged := assertion(t, "RS256", testKeyCert{key: fx.other.key, cert: fx.app.cert}, aud, nil, nil)
	expectAADSTS(t, postToken(t, e, tenantID, ccForm(appAll, forged)), 401, "invalid_client", 700027)
	expectAADSTS(t, postToken(t, e, tenantID, ccForm(appAll, assertion(t, "PS256", fx.app, "https://elsewhere/token", nil, nil))), 401, "invalid_client", 700023)
	expectAADSTS(t, postToken(t, e, tenantID, ccForm(appAll, assertion(t, "PS256", fx.app, aud, nil, map[string]any{"iss": appRead, "sub": appRead}))), 401, "invalid_client", 700021)
	expectAADSTS(t, postToken(t, e, tenantID, ccForm(appAll, assertion(t, "PS256", fx.app, aud, nil, map[string]any{"sub": appRead}))), 401, "invalid_client", 50048)
	expired := map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "nbf": time.Now().Add(-2 * time.Hour).Unix()}
	expectAADSTS(t, postToken(t, e, tenantID, ccForm(appAll, assertion(t, "PS256", fx.app, aud, nil, expired))), 401, "invalid_client", 700024)
	future := map[string]any{"nbf": time.Now().Add(time.Hour).Unix(), "exp": time.Now().Add(2 * time.Hour).Unix()}
	expectAADSTS(t, postToken(t, e, tenantID, ccForm(appAll, assertion(t, "PS256", fx.app, aud, nil, future))), 401, "invalid_client", 700024)
	expectAADSTS(t, postToken(t, e, tenantID, ccForm(appAll, assertion(t, "PS256", fx.app, aud, nil, map[string]any{"jti": nil}))), 401, "invalid_client", 50027)
	// A replayed jti is refused.
	once := good()
	if r := postToken(t, e, tenantID, ccForm(appAll, once)); r.status != 200 {
		t.Fatalf("first use: %v", r.body)
	}
	expectAADSTS(t, postToken(t, e, tenantID, ccForm(appAll, once)), 401, "invalid_client", 50013)
	bad := ccForm(appAll, good())
	bad.Set("scope", "User.Read")
	expectAADSTS(t, postToken(t, e, tenantID, bad), 400, "invalid_scope", 1002012)
	bad = ccForm(appAll, good())
	bad.Set("grant_type", "authorization_code")
	expectAADSTS(t, postToken(t, e, tenantID, bad), 400, "unsupported_grant_type", 70003)
	expectAADSTS(t, postToken(t, e, tenantID, ccForm(appAll, "not.a.jwt")), 401, "invalid_client", 50027)
}

func TestTokenForAppWithoutRoles(t *testing.T) {
	// A token without the needed role works at the token endpoint; Graph then
	// answers 403 (contract §1).
	e := newEnv(t)
	aud := e.hs.URL + "/" + tenantID + "/oauth2/v2.0/token"
	a := assertion(t, "PS256", fixtures().app, aud, nil, map[string]any{"iss": appNone, "sub": appNone})
	r := postToken(t, e, tenantID, ccForm(appNone, a))
	if r.status != 200 {
		t.Fatalf("%d %v", r.status, r.body)
	}
	expectError(t, e.do("GET", "/v1.0/users", r.body["access_token"].(string), nil), 403, "Authorization_RequestDenied", "Insufficient privileges")
}

func TestTokenPassword(t *testing.T) {
	e := newEnv(t)
	form := func(user, pass string) url.Values {
		return url.Values{"grant_type": {"password"}, "client_id": {appAll}, "scope": {"https://graph.microsoft.com/.default"}, "username": {user}, "password": {pass}}
	}
	r := postToken(t, e, tenantID, form(adminUPN, adminPass))
	if r.status != 200 || r.body["token_type"] != "Bearer" {
		t.Fatalf("%d %v", r.status, r.body)
	}
	jp, _ := parseJWT(r.body["access_token"].(string))
	if jp.claims["scp"] != "User.ReadWrite.All Directory.ReadWrite.All Domain.ReadWrite.All" || jp.claims["roles"] != nil || jp.claims["upn"] != adminUPN || jp.claims["idtyp"] != "user" {
		t.Fatalf("claims %v", jp.claims)
	}
	wids, _ := jp.claims["wids"].([]any)
	if len(wids) != 1 || wids[0] != "62e90394-69f5-4237-9190-012177145e10" {
		t.Fatalf("wids %v", jp.claims["wids"])
	}
	// The delegated token can federate a domain: the admin holds Global Administrator.
	if g := e.do("POST", "/v1.0/domains/contoso.com/federationConfiguration", r.body["access_token"].(string), fedBody("http://contoso.com/adfs/services/trust")); g.status != 201 {
		t.Fatalf("delegated federate: %d %s", g.status, g.raw)
	}
	expectAADSTS(t, postToken(t, e, tenantID, form(adminUPN, "wrong")), 400, "invalid_grant", 50126)
	expectAADSTS(t, postToken(t, e, tenantID, form("nobody@contoso.onmicrosoft.com", "x")), 400, "invalid_grant", 50034)
	mfa := postToken(t, e, tenantID, form(mfaAdminUPN, adminPass))
	expectAADSTS(t, mfa, 400, "invalid_grant", 50076)
	if mfa.body["suberror"] != "basic_action" {
		t.Errorf("suberror %v", mfa.body["suberror"])
	}
	expectAADSTS(t, postToken(t, e, tenantID, form("alice@fabrikam.com", "x")), 400, "invalid_grant", 50126)
	f := form(adminUPN, adminPass)
	f.Del("username")
	expectAADSTS(t, postToken(t, e, tenantID, f), 400, "invalid_request", 900144)
}

func TestDiscoveryEndpoints(t *testing.T) {
	e := newEnv(t)
	get := func(path string) (int, map[string]any) {
		res, err := http.Get(e.hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	st, m := get("/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration")
	if st != 200 || m["issuer"] != e.hs.URL+"/"+tenantID+"/v2.0" || m["token_endpoint"] != e.hs.URL+"/"+tenantID+"/oauth2/v2.0/token" || m["authorization_endpoint"] == nil {
		t.Fatalf("openid configuration: %d %v", st, m)
	}
	st, m = get("/nowhere.example/v2.0/.well-known/openid-configuration")
	if st != 400 || m["error"] != "invalid_tenant" {
		t.Fatalf("unknown tenant: %d %v", st, m)
	}
	st, m = get("/common/discovery/instance?api-version=1.1&authorization_endpoint=" + url.QueryEscape(e.hs.URL+"/"+tenantID+"/oauth2/v2.0/authorize"))
	if st != 200 || !strings.HasSuffix(m["tenant_discovery_endpoint"].(string), "/"+tenantID+"/v2.0/.well-known/openid-configuration") {
		t.Fatalf("instance discovery: %d %v", st, m)
	}
	st, m = get("/" + tenantID + "/discovery/v2.0/keys")
	if st != 200 || len(m["keys"].([]any)) != 1 {
		t.Fatalf("keys: %d %v", st, m)
	}
}
