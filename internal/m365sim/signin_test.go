package m365sim

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/m365sim/internal/xmlsectest"
	"github.com/portico-idp/portico/internal/m365sim/xmldsig"
)

// The sign-in tests: a tenant with managed and federated domains (each
// federation behaviour), tokens signed by xmlsec1, and one test per way a
// token can be wrong.

const (
	fabrikamIssuer = "https://idp.example/t/contoso/apps/o365/issuer/fabrikam.com"
	enforceIssuer  = "https://idp.example/t/contoso/apps/o365/issuer/enforce.example"
	rejectIssuer   = "https://idp.example/t/contoso/apps/o365/issuer/reject.example"
	samlIssuer     = "https://idp.example/t/contoso/apps/o365/issuer/samlcorp.com"
	aliceID        = "QWxpY2UxMjM0NTY3ODkwMTI="
	samID          = "c2Ft+c2FtMTIzNDU2Nzg5MA=="
)

// simClock is a clock tests move by hand.
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *simClock { return &simClock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *simClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *simClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func signInSeed(t testing.TB) SeedFile {
	fed := xmlsectest.Key(t, "fed", 2048)
	next := xmlsectest.Key(t, "fednext", 2048)
	fedCfg := func(issuer, proto, prompt, mfa string, signed bool) map[string]any {
		m := map[string]any{"displayName": "Portico", "issuerUri": issuer, "signingCertificate": fed.B64(), "nextSigningCertificate": next.B64(),
			"passiveSignInUri": "https://idp.example/t/contoso/wsfed?x=1", "preferredAuthenticationProtocol": proto, "federatedIdpMfaBehavior": mfa}
		if prompt != "" {
			m["promptLoginBehavior"] = prompt
		}
		if signed {
			m["isSignedAuthenticationRequestRequired"] = true
		}
		return m
	}
	return SeedFile{Tenants: []SeedTenant{{
		ID: tenantID, DisplayName: "Contoso", InitialDomain: "contoso.onmicrosoft.com",
		Domains: []SeedDomain{
			{ID: "contoso.com", IsVerified: true},
			{ID: "fabrikam.com", IsVerified: true, FederationConfiguration: fedCfg(fabrikamIssuer, "wsFed", "", mfaAccept, false)},
			{ID: "sales.fabrikam.com", IsVerified: true},
			{ID: "enforce.example", IsVerified: true, FederationConfiguration: fedCfg(enforceIssuer, "wsFed", "nativeSupport", mfaEnforce, false)},
			{ID: "reject.example", IsVerified: true, FederationConfiguration: fedCfg(rejectIssuer, "wsFed", "disabled", mfaReject, false)},
			{ID: "samlcorp.com", IsVerified: true, FederationConfiguration: fedCfg(samlIssuer, "saml", "", mfaEnforce, true)},
			{ID: "unverified.example", IsVerified: false},
		},
		Apps: []SeedApp{{ClientID: appAll, DisplayName: "Portico", Certificates: []string{fixtures().app.b64},
			ApplicationPermissions: []string{"User.ReadWrite.All", "Group.ReadWrite.All", "Domain.ReadWrite.All", "Organization.Read.All"}}},
		SubscribedSkus: []SeedSKU{{SkuID: skuE3, SkuPartNumber: "ENTERPRISEPACK", PrepaidUnits: SeedUnits{Enabled: 5}}},
		Groups: []SeedObject{{"displayName": "Sales", "mailNickname": "sales", "mailEnabled": true, "securityEnabled": false,
			"groupTypes": []any{"Unified"}, "members": []any{"alice@fabrikam.com", "bob@sales.fabrikam.com"}}},
		Users: []SeedObject{
			{"userPrincipalName": "adams@contoso.com", "displayName": "Adams", "password": "Passw0rd!", "usageLocation": "US",
				"assignedLicenses": []any{map[string]any{"skuId": skuE3, "disabledPlans": []any{}}}},
			{"userPrincipalName": "nopass@contoso.com", "displayName": "No Password"},
			{"userPrincipalName": "off@contoso.com", "displayName": "Off", "password": "Passw0rd!", "accountEnabled": false},
			{"userPrincipalName": "mallory@contoso.com", "displayName": "Mallory", "password": "Passw0rd!", "onPremisesImmutableId": "TWFsbG9yeQ=="},
			{"userPrincipalName": "alice@fabrikam.com", "displayName": "Alice", "onPremisesImmutableId": aliceID},
			{"userPrincipalName": "bob@sales.fabrikam.com", "displayName": "Bob", "onPremisesImmutableId": "Qm9iMTIzNDU2Nzg5MDEyMzQ="},
			{"userPrincipalName": "carol@fabrikam.com", "displayName": "Carol", "onPremisesImmutableId": "Q2Fyb2wxMjM0NTY3ODkwMTI=", "accountEnabled": false},
			{"userPrincipalName": "mfa@fabrikam.com", "displayName": "Per-user MFA", "onPremisesImmutableId": "TWZhMTIzNDU2Nzg5MDEyMzQ=", "mfaRequired": true},
			{"userPrincipalName": "dave@enforce.example", "displayName": "Dave", "onPremisesImmutableId": "RGF2ZTEyMzQ1Njc4OTAxMjM="},
			{"userPrincipalName": "erin@reject.example", "displayName": "Erin", "onPremisesImmutableId": "RXJpbjEyMzQ1Njc4OTAxMjM="},
			{"userPrincipalName": "sam@samlcorp.com", "displayName": "Sam", "onPremisesImmutableId": samID},
			{"userPrincipalName": "gone@fabrikam.com", "displayName": "Gone", "onPremisesImmutableId": "R29uZTEyMzQ1Njc4OTAxMjM=", "deletedDateTime": "2026-01-02T03:04:05Z"},
		},
	}}}
}

type signInEnv struct {
	*testEnv
	clock  *simClock
	client *http.Client
}

func newSignInEnv(t *testing.T, opts ...Option) *signInEnv {
	t.Helper()
	clock := newClock()
	fx := fixtures()
	opts = append([]Option{WithHTTP(), WithSeed(signInSeed(t)), WithSigningKey(fx.sign), WithClock(clock.now)}, opts...)
	s, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := httptestServer(t, s)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}
	return &signInEnv{testEnv: &testEnv{t: t, s: s, hs: hs}, clock: clock, client: client}
}

// start begins a sign-in and returns where the sim sent the browser: the
// redirect URL (WS-Fed) or the posted form fields (SAML, with the action in
// "_action").
func (e *signInEnv) start(t *testing.T, username string, extra ...string) (*url.URL, map[string]string) {
	t.Helper()
	q := url.Values{"username": {username}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	res, err := e.client.Get(e.hs.URL + "/common/login?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	switch res.StatusCode {
	case http.StatusFound:
		u, err := url.Parse(res.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		return u, nil
	case http.StatusOK:
		fields := map[string]string{}
		for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(string(body), -1) {
			fields[m[1]] = html.UnescapeString(m[2])
		}
		if m := regexp.MustCompile(`<form class="login" method="post" action="([^"]+)">`).FindStringSubmatch(string(body)); m != nil {
			fields["_action"] = html.UnescapeString(m[1])
		}
		return nil, fields
	}
	t.Fatalf("start %s: status %d\n%s", username, res.StatusCode, body)
	return nil, nil
}

// signInResult is the JSON answer of /login.srf.
type signInResult struct {
	status int
	Error  string `json:"error"`
	Desc   string `json:"error_description"`
	Result string `json:"result"`
	SignIn SignIn `json:"signIn"`
}

func (r signInResult) code() string {
	if r.status == http.StatusOK && r.Result == "signedIn" {
		return "ok"
	}
	return r.Error
}

func (e *signInEnv) post(t *testing.T, form url.Values) signInResult {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.hs.URL+"/login.srf", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out signInResult
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("login.srf answered %d, not JSON: %s", res.StatusCode, raw)
	}
	out.status = res.StatusCode
	return out
}

// wrapAssertion builds signature-wrapping variants of a signed RSTR (see
// xmldsig's tests): an evil copy of the assertion for another user goes
// first; with inObject the evil copy keeps the assertion id and carries the
// original in a ds:Object of its signature.
func wrapAssertion(t *testing.T, signed []byte, inObject bool) []byte {
	t.Helper()
	s := string(signed)
	start := strings.Index(s, "<saml:Assertion")
	end := strings.Index(s, "</saml:Assertion>") + len("</saml:Assertion>")
	orig := s[start:end]
	evil := strings.ReplaceAll(orig, aliceID, "Qm9iMTIzNDU2Nzg5MDEyMzQ=")
	if !inObject {
		i := strings.Index(evil, `AssertionID="`) + len(`AssertionID="`)
		return []byte(s[:start] + evil[:i] + "_evil" + evil[i:] + orig + s[end:])
	}
	j := strings.LastIndex(evil, "</ds:Signature>")
	return []byte(s[:start] + evil[:j] + "<ds:Object>" + orig + "</ds:Object>" + evil[j:] + s[end:])
}

// wsfedPost is wsfed with a change to the signed token.
func (e *signInEnv) wsfedPost(t *testing.T, username string, key *xmlsectest.KeyPair, mod func(*xmlsectest.WSFed), post func([]byte) []byte, startArgs ...string) signInResult {
	t.Helper()
	u, _ := e.start(t, username, startArgs...)
	if u == nil {
		t.Fatalf("no redirect for %s", username)
	}
	issuer := map[string]string{"fabrikam.com": fabrikamIssuer, "sales.fabrikam.com": fabrikamIssuer, "enforce.example": enforceIssuer, "reject.example": rejectIssuer}
	_, dom, _ := strings.Cut(username, "@")
	ids := map[string]string{"alice@fabrikam.com": aliceID, "bob@sales.fabrikam.com": "Qm9iMTIzNDU2Nzg5MDEyMzQ=", "carol@fabrikam.com": "Q2Fyb2wxMjM0NTY3ODkwMTI=",
		"mfa@fabrikam.com": "TWZhMTIzNDU2Nzg5MDEyMzQ=", "dave@enforce.example": "RGF2ZTEyMzQ1Njc4OTAxMjM=", "erin@reject.example": "RXJpbjEyMzQ1Njc4OTAxMjM="}
	w := xmlsectest.DefaultWSFed(issuer[dom], ids[username], username, e.clock.now())
	if mod != nil {
		mod(&w)
	}
	doc := w.Render(t)
	if !w.Unsigned {
		doc = xmlsectest.Sign(t, doc, key, xmlsectest.SAML11IDs)
	}
	if post != nil {
		doc = post(doc)
	}
	return e.post(t, url.Values{"wa": {"wsignin1.0"}, "wresult": {string(doc)}, "wctx": {u.Query().Get("wctx")}})
}

// TestWSFedRedirect checks the parameters Entra sends to the identity
// provider for each promptLoginBehavior and federatedIdpMfaBehavior.
func TestWSFedRedirect(t *testing.T) {
	e := newSignInEnv(t)
	tests := []struct {
		user                  string
		args                  []string
		wfresh, wauth, prompt string
	}{
		{"alice@fabrikam.com", nil, "", "", ""},
		{"alice@fabrikam.com", []string{"prompt", "login"}, "0", wauthPassword, ""},
		{"alice@fabrikam.com", []string{"mfa", "1"}, "", "", ""}, // accept: Entra asks nothing of the IdP
		{"bob@sales.fabrikam.com", []string{"prompt", "login"}, "0", wauthPassword, ""},
		{"dave@enforce.example", []string{"prompt", "login"}, "", "", "login"},
		{"dave@enforce.example", []string{"mfa", "1"}, "", wauthMFA, ""},
		{"dave@enforce.example", []string{"mfa", "1", "prompt", "login"}, "", wauthMFA, "login"},
		{"erin@reject.example", []string{"prompt", "login"}, "0", "", ""},
		{"erin@reject.example", []string{"mfa", "1"}, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.user+strings.Join(tc.args, "_"), func(t *testing.T) {
			u, _ := e.start(t, tc.user, tc.args...)
			q := u.Query()
			if u.Host != "idp.example" || u.Path != "/t/contoso/wsfed" || q.Get("x") != "1" {
				t.Errorf("redirect to %s, want the passiveSignInUri with its own query kept", u)
			}
			if q.Get("wa") != "wsignin1.0" || q.Get("wtrealm") != realmMicrosoftOnline || q.Get("username") != tc.user || q.Get("client-request-id") == "" {
				t.Errorf("missing WS-Fed parameters: %v", q)
			}
			if !strings.HasPrefix(q.Get("wctx"), "LoginOptions=3&estsredirect=2&estsrequest=") {
				t.Errorf("wctx %q", q.Get("wctx"))
			}
			if q.Get("wfresh") != tc.wfresh || q.Get("wauth") != tc.wauth || q.Get("prompt") != tc.prompt {
				t.Errorf("wfresh=%q wauth=%q prompt=%q, want %q %q %q", q.Get("wfresh"), q.Get("wauth"), q.Get("prompt"), tc.wfresh, tc.wauth, tc.prompt)
			}
		})
	}
}

// TestWSFedSignIn: a token signed by xmlsec1 for a seeded user signs in;
// every broken variant gets its AADSTS error.
func TestWSFedSignIn(t *testing.T) {
	xmlsectest.Require(t)
	e := newSignInEnv(t)
	fed := xmlsectest.Key(t, "fed", 2048)
	next := xmlsectest.Key(t, "fednext", 2048)
	other := xmlsectest.Key(t, "other", 2048)
	now := e.clock.now()
	tests := []struct {
		name  string
		user  string
		key   *xmlsectest.KeyPair
		mod   func(*xmlsectest.WSFed)
		args  []string
		post  func([]byte) []byte // changes the signed token
		want  string
		check func(*testing.T, SignIn)
	}{
		{name: "good", user: "alice@fabrikam.com", key: fed, want: "ok", check: func(t *testing.T, si SignIn) {
			if si.UserPrincipalName != "alice@fabrikam.com" || si.UserDisplayName != "Alice" || si.SigningCertificate != "signingCertificate" || si.ImmutableID != aliceID {
				t.Errorf("sign-in %+v", si)
			}
		}},
		{name: "next certificate", user: "alice@fabrikam.com", key: next, want: "ok", check: func(t *testing.T, si SignIn) {
			if si.SigningCertificate != "nextSigningCertificate" {
				t.Errorf("certificate %q", si.SigningCertificate)
			}
		}},
		{name: "subdomain user, root's issuer", user: "bob@sales.fabrikam.com", key: fed, want: "ok"},
		{name: "within clock skew", user: "alice@fabrikam.com", key: fed, want: "ok", mod: func(w *xmlsectest.WSFed) {
			w.NotBefore = xmlsectest.Time(now.Add(4 * time.Minute))
			w.NotOnOrAfter = xmlsectest.Time(now.Add(-4 * time.Minute))
		}},
		{name: "UPN differs: signed in by ImmutableID, with a warning", user: "alice@fabrikam.com", key: fed, want: "ok",
			mod: func(w *xmlsectest.WSFed) { w.UPN = "alice.old@fabrikam.com" }, check: func(t *testing.T, si SignIn) {
				if len(si.Warnings) != 1 || !strings.Contains(si.Warnings[0], "alice.old@fabrikam.com") {
					t.Errorf("warnings %v", si.Warnings)
				}
			}},
		{name: "wrong issuer", user: "alice@fabrikam.com", key: fed, want: "AADSTS50107", mod: func(w *xmlsectest.WSFed) { w.Issuer = enforceIssuer }},
		{name: "subdomain's own issuer", user: "bob@sales.fabrikam.com", key: fed, want: "AADSTS50107",
			mod: func(w *xmlsectest.WSFed) {
				w.Issuer = "https://idp.example/t/contoso/apps/o365/issuer/sales.fabrikam.com"
			}},
		{name: "another key, its certificate in KeyInfo", user: "alice@fabrikam.com", key: other, want: "AADSTS50008"},
		{name: "another key, no KeyInfo", user: "alice@fabrikam.com", key: other, want: "AADSTS50006", mod: func(w *xmlsectest.WSFed) { w.NoKeyInfo = true }},
		{name: "rsa-sha1", user: "alice@fabrikam.com", key: fed, want: "AADSTS50006", mod: func(w *xmlsectest.WSFed) {
			w.SignatureAlgorithm, w.DigestAlgorithm = xmlsectest.RSASHA1, xmlsectest.SHA1
		}},
		{name: "reference to the document", user: "alice@fabrikam.com", key: fed, want: "AADSTS50006", mod: func(w *xmlsectest.WSFed) { w.WholeDocument = true }},
		{name: "unsigned", user: "alice@fabrikam.com", want: "AADSTS50006", mod: func(w *xmlsectest.WSFed) { w.Unsigned = true }},
		{name: "wrong audience", user: "alice@fabrikam.com", key: fed, want: "AADSTS50008", mod: func(w *xmlsectest.WSFed) { w.Audience = "urn:federation:other" }},
		{name: "wrong AppliesTo", user: "alice@fabrikam.com", key: fed, want: "AADSTS50008", mod: func(w *xmlsectest.WSFed) { w.AppliesTo = "urn:other" }},
		{name: "expired", user: "alice@fabrikam.com", key: fed, want: "AADSTS500133", mod: func(w *xmlsectest.WSFed) {
			w.NotOnOrAfter = xmlsectest.Time(now.Add(-6 * time.Minute))
		}},
		{name: "not yet valid", user: "alice@fabrikam.com", key: fed, want: "AADSTS500133", mod: func(w *xmlsectest.WSFed) {
			w.NotBefore = xmlsectest.Time(now.Add(6 * time.Minute))
		}},
		{name: "unknown immutable id", user: "alice@fabrikam.com", key: fed, want: "AADSTS51004", mod: func(w *xmlsectest.WSFed) {
			w.NameID, w.ImmutableID = "VW5rbm93bjEyMzQ1Njc4OTA=", "VW5rbm93bjEyMzQ1Njc4OTA="
		}},
		{name: "immutable id of a managed user", user: "alice@fabrikam.com", key: fed, want: "AADSTS51004", mod: func(w *xmlsectest.WSFed) {
			w.NameID, w.ImmutableID = "TWFsbG9yeQ==", "TWFsbG9yeQ=="
		}},
		{name: "immutable id of a deleted user", user: "alice@fabrikam.com", key: fed, want: "AADSTS51004", mod: func(w *xmlsectest.WSFed) {
			w.NameID, w.ImmutableID = "R29uZTEyMzQ1Njc4OTAxMjM=", "R29uZTEyMzQ1Njc4OTAxMjM="
		}},
		{name: "no immutable id", user: "alice@fabrikam.com", key: fed, want: "AADSTS90020", mod: func(w *xmlsectest.WSFed) { w.NameID = "" }},
		{name: "ImmutableID attribute differs", user: "alice@fabrikam.com", key: fed, want: "AADSTS50008", mod: func(w *xmlsectest.WSFed) { w.ImmutableID = "b3RoZXI=" }},
		{name: "no UPN claim", user: "alice@fabrikam.com", key: fed, want: "AADSTS50008", mod: func(w *xmlsectest.WSFed) { w.UPN = "" }},
		{name: "disabled account", user: "carol@fabrikam.com", key: fed, want: "AADSTS50057"},
		{name: "wrapping: two assertions", user: "alice@fabrikam.com", key: fed, want: "AADSTS50008", mod: func(w *xmlsectest.WSFed) {
			w.After = `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion" MajorVersion="1" MinorVersion="1" AssertionID="_evil" Issuer="` + fabrikamIssuer + `" IssueInstant="x"/>`
		}},
		{name: "wrapping: evil assertion first", user: "alice@fabrikam.com", key: fed, want: "AADSTS50008", post: func(doc []byte) []byte { return wrapAssertion(t, doc, false) }},
		{name: "wrapping: evil assertion, original in its ds:Object", user: "alice@fabrikam.com", key: fed, want: "AADSTS50008", post: func(doc []byte) []byte { return wrapAssertion(t, doc, true) }},
		{name: "wrapping: subject swapped in place", user: "alice@fabrikam.com", key: fed, want: "AADSTS50006", post: func(doc []byte) []byte {
			return []byte(strings.ReplaceAll(string(doc), ">"+aliceID+"<", ">Qm9iMTIzNDU2Nzg5MDEyMzQ=<"))
		}},
		// MFA.
		{name: "MFA required, accept: Entra does its own", user: "alice@fabrikam.com", key: fed, args: []string{"mfa", "1"}, want: "ok", check: func(t *testing.T, si SignIn) {
			if !si.MFARequired || si.MFASatisfiedBy != "entra (simulated)" {
				t.Errorf("mfa %v %q", si.MFARequired, si.MFASatisfiedBy)
			}
		}},
		{name: "MFA required, accept, IdP did MFA", user: "alice@fabrikam.com", key: fed, args: []string{"mfa", "1"}, want: "ok",
			mod: func(w *xmlsectest.WSFed) { w.AuthMethod = wauthMFA }, check: func(t *testing.T, si SignIn) {
				if si.MFASatisfiedBy != "federatedIdp" {
					t.Errorf("mfa by %q", si.MFASatisfiedBy)
				}
			}},
		{name: "per-user MFA, IdP did MFA (authnmethodsreferences)", user: "mfa@fabrikam.com", key: fed, want: "ok",
			mod: func(w *xmlsectest.WSFed) { w.MFAAttribute, w.MFAAttributeNS = "authnmethodsreferences", nsMSClaims }, check: func(t *testing.T, si SignIn) {
				if !si.MFARequired || si.MFASatisfiedBy != "federatedIdp" {
					t.Errorf("mfa %v %q", si.MFARequired, si.MFASatisfiedBy)
				}
			}},
		{name: "MFA required, enforce, no claim", user: "dave@enforce.example", key: fed, args: []string{"mfa", "1"}, want: "AADSTS50079"},
		{name: "MFA required, enforce, AuthenticationMethod", user: "dave@enforce.example", key: fed, args: []string{"mfa", "1"}, want: "ok",
			mod: func(w *xmlsectest.WSFed) { w.AuthMethod = wauthMFA }},
		{name: "MFA required, enforce, authenticationmethod attribute", user: "dave@enforce.example", key: fed, args: []string{"mfa", "1"}, want: "ok",
			mod: func(w *xmlsectest.WSFed) { w.MFAAttribute, w.MFAAttributeNS = "authenticationmethod", nsIdentityClaims }},
		{name: "MFA required, enforce, wiaormultiauthn", user: "dave@enforce.example", key: fed, args: []string{"mfa", "1"}, want: "ok",
			mod: func(w *xmlsectest.WSFed) { w.AuthMethod = wauthMFAOrWIA }},
		{name: "MFA claim in an attribute of the wrong namespace", user: "dave@enforce.example", key: fed, args: []string{"mfa", "1"}, want: "AADSTS50079",
			mod: func(w *xmlsectest.WSFed) { w.MFAAttribute, w.MFAAttributeNS = "authnmethodsreferences", "urn:other" }},
		{name: "MFA required, reject: IdP's MFA ignored", user: "erin@reject.example", key: fed, args: []string{"mfa", "1"}, want: "ok",
			mod: func(w *xmlsectest.WSFed) { w.AuthMethod = wauthMFA }, check: func(t *testing.T, si SignIn) {
				if si.MFASatisfiedBy != "entra (simulated)" || len(si.Warnings) == 0 {
					t.Errorf("mfa by %q, warnings %v", si.MFASatisfiedBy, si.Warnings)
				}
			}},
		{name: "fresh sign-in asked, old authentication", user: "alice@fabrikam.com", key: fed, args: []string{"prompt", "login"}, want: "ok",
			mod: func(w *xmlsectest.WSFed) { w.Created = xmlsectest.Time(now.Add(-time.Hour)) }, check: func(t *testing.T, si SignIn) {
				if !si.FreshRequested || len(si.Warnings) == 0 {
					t.Errorf("fresh %v warnings %v", si.FreshRequested, si.Warnings)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := e.wsfedPost(t, tc.user, tc.key, tc.mod, tc.post, tc.args...)
			t.Logf("%s: %s", res.code(), res.Desc)
			if res.code() != tc.want {
				t.Fatalf("got %s (%d) %s, want %s", res.code(), res.status, res.Desc, tc.want)
			}
			if tc.want != "ok" && (res.status != http.StatusBadRequest || !strings.HasPrefix(res.Desc, tc.want+":") || res.SignIn.Status.ErrorCode == 0) {
				t.Errorf("error answer: %d %q %+v", res.status, res.Desc, res.SignIn.Status)
			}
			if tc.check != nil {
				tc.check(t, res.SignIn)
			}
		})
	}
	// Every attempt is in the log, newest first.
	log := e.s.SignIns()
	if len(log) != len(tests) {
		t.Fatalf("sign-in log has %d entries, want %d", len(log), len(tests))
	}
	if log[len(log)-1].Status.ErrorCode != 0 || log[len(log)-1].UserPrincipalName != "alice@fabrikam.com" {
		t.Errorf("oldest entry %+v", log[len(log)-1])
	}
	r := e.do("GET", "/_sim/signins", "", nil)
	if r.status != 200 || len(r.values()) != len(tests) {
		t.Fatalf("/_sim/signins: %d %s", r.status, r.raw)
	}
}

// TestWSFedContext checks the wctx rules: issued by the sim, used once,
// within its lifetime, and the WS-Fed message fields.
func TestWSFedContext(t *testing.T) {
	xmlsectest.Require(t)
	e := newSignInEnv(t)
	fed := xmlsectest.Key(t, "fed", 2048)
	u, _ := e.start(t, "alice@fabrikam.com")
	wctx := u.Query().Get("wctx")
	token := func() string {
		return string(xmlsectest.Sign(t, xmlsectest.DefaultWSFed(fabrikamIssuer, aliceID, "alice@fabrikam.com", e.clock.now()).Render(t), fed, xmlsectest.SAML11IDs))
	}
	tok := token()
	form := func(wa, wresult, wctx string) url.Values {
		v := url.Values{"wa": {wa}, "wresult": {wresult}}
		if wctx != "" {
			v.Set("wctx", wctx)
		}
		return v
	}
	if r := e.post(t, form("wsignin1.0", tok, "LoginOptions=3&estsredirect=2&estsrequest=forged")); r.code() != "AADSTS90100" {
		t.Errorf("forged wctx: %s", r.code())
	}
	if r := e.post(t, form("wsignin1.0", tok, "")); r.code() != "AADSTS900144" {
		t.Errorf("no wctx: %s", r.code())
	}
	if r := e.post(t, form("wsignout1.0", tok, wctx)); r.code() != "AADSTS90081" {
		t.Errorf("wa: %s", r.code())
	}
	if r := e.post(t, form("wsignin1.0", "", wctx)); r.code() != "AADSTS900144" {
		t.Errorf("no wresult: %s", r.code())
	}
	if r := e.post(t, form("wsignin1.0", tok, wctx)); r.code() != "ok" {
		t.Fatalf("first use: %s %s", r.code(), r.Desc)
	}
	if r := e.post(t, form("wsignin1.0", tok, wctx)); r.code() != "AADSTS90100" {
		t.Errorf("replayed wctx: %s", r.code())
	}
	u, _ = e.start(t, "alice@fabrikam.com")
	e.clock.add(31 * time.Minute)
	if r := e.post(t, form("wsignin1.0", token(), u.Query().Get("wctx"))); r.code() != "AADSTS50089" {
		t.Errorf("expired wctx: %s", r.code())
	}
	// GET is refused.
	res, err := e.client.Get(e.hs.URL + "/login.srf")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("X-M365sim-Error") != "AADSTS900561" {
		t.Errorf("GET /login.srf: %d %s", res.StatusCode, res.Header.Get("X-M365sim-Error"))
	}
}

// TestBadWresult: garbage, truncated, huge or DTD-bearing tokens are
// answered with AADSTS50008, never a crash.
func TestBadWresult(t *testing.T) {
	e := newSignInEnv(t)
	valid := xmlsectest.DefaultWSFed(fabrikamIssuer, aliceID, "alice@fabrikam.com", e.clock.now()).Render(t)
	tests := map[string]string{
		"garbage":   "this is not XML",
		"binary":    "\x00\x01\x02\xff\xfe",
		"truncated": string(valid[:len(valid)/2]),
		"huge":      "<a>" + strings.Repeat("A", 300<<10) + "</a>",
		"dtd":       `<!DOCTYPE t:RequestSecurityTokenResponse [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + string(valid),
		"laughs":    `<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><l>&b;</l>`,
		"deep":      strings.Repeat("<a>", 5000) + strings.Repeat("</a>", 5000),
		"other xml": `<html><body>hello</body></html>`,
		"no token":  `<t:RequestSecurityTokenResponse xmlns:t="http://schemas.xmlsoap.org/ws/2005/02/trust"/>`,
	}
	for name, wresult := range tests {
		t.Run(name, func(t *testing.T) {
			u, _ := e.start(t, "alice@fabrikam.com")
			r := e.post(t, url.Values{"wa": {"wsignin1.0"}, "wresult": {wresult}, "wctx": {u.Query().Get("wctx")}})
			if r.code() != "AADSTS50008" {
				t.Fatalf("got %s %s", r.code(), r.Desc)
			}
		})
	}
	// A body over 1 MiB.
	u, _ := e.start(t, "alice@fabrikam.com")
	r := e.post(t, url.Values{"wa": {"wsignin1.0"}, "wresult": {strings.Repeat("<", 1<<20)}, "wctx": {u.Query().Get("wctx")}})
	if r.code() != "AADSTS50008" {
		t.Fatalf("1 MiB body: %s", r.code())
	}
}

// samlStart begins a SAML sign-in and returns the decoded AuthnRequest and
// the RelayState.
func (e *signInEnv) samlStart(t *testing.T, user string, args ...string) (*xmldsig.Element, []byte, string) {
	t.Helper()
	_, fields := e.start(t, user, args...)
	if fields == nil || fields["_action"] != "https://idp.example/t/contoso/wsfed?x=1" || fields["RelayState"] == "" {
		t.Fatalf("SAML start: %v", fields)
	}
	raw, err := base64.StdEncoding.DecodeString(fields["SAMLRequest"])
	if err != nil {
		t.Fatal(err)
	}
	root, err := xmldsig.Parse(raw, xmldsig.Limits{})
	if err != nil {
		t.Fatalf("AuthnRequest: %v\n%s", err, raw)
	}
	return root, raw, fields["RelayState"]
}

// TestSAMLSignIn covers the SAML 2.0 path: a signed AuthnRequest (checked
// by xmlsec1 against the sim's published certificate) and Responses signed
// by xmlsec1.
func TestSAMLSignIn(t *testing.T) {
	xmlsectest.Require(t)
	e := newSignInEnv(t)
	fed := xmlsectest.Key(t, "fed", 2048)
	other := xmlsectest.Key(t, "other", 2048)

	// The AuthnRequest.
	req, raw, _ := e.samlStart(t, "sam@samlcorp.com", "mfa", "1", "prompt", "login")
	if !req.Is(nsSAML2P, "AuthnRequest") || req.FindOne(nsSAML2, "Issuer").Text() != realmMicrosoftOnline {
		t.Fatalf("AuthnRequest: %s", raw)
	}
	if d, _ := req.AttrValue("", "Destination"); d != "https://idp.example/t/contoso/wsfed?x=1" {
		t.Errorf("Destination %q", d)
	}
	if f, _ := req.AttrValue("", "ForceAuthn"); f != "true" {
		t.Errorf("ForceAuthn %q", f)
	}
	if p := req.FindOne(nsSAML2P, "NameIDPolicy"); p == nil {
		t.Error("no NameIDPolicy")
	} else if f, _ := p.AttrValue("", "Format"); f != nameIDPersistent {
		t.Errorf("NameIDPolicy %q", f)
	}
	if rac := req.FindOne(nsSAML2P, "RequestedAuthnContext"); rac == nil || rac.FindOne(nsSAML2, "AuthnContextClassRef").Text() != wauthMFA {
		t.Error("MFA not requested")
	}
	cert, err := e.s.AuthnRequestSigningCertificate()
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(t.TempDir(), "sim.pem")
	res, err := http.Get(e.hs.URL + "/_sim/authnrequest-signing.pem")
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if err := os.WriteFile(certFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := xmlsectest.Verify(t, raw, certFile, []string{"ID urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest"}); err != nil {
		t.Fatalf("xmlsec1 rejects the sim's AuthnRequest: %v\n%s", err, raw)
	}
	if c, _ := ParseCertificate(pemBytes); c == nil || !c.Equal(cert) {
		t.Error("published certificate differs")
	}
	if dump := e.s.Dump(); dump.AuthnRequestSigning == nil {
		t.Error("the signing key is not in the state")
	}

	acs := e.hs.URL + "/login.srf"
	run := func(t *testing.T, mod func(*xmlsectest.SAML2), key *xmlsectest.KeyPair, args ...string) signInResult {
		t.Helper()
		req, _, relay := e.samlStart(t, "sam@samlcorp.com", args...)
		id, _ := req.AttrValue("", "ID")
		p := xmlsectest.DefaultSAML2(samlIssuer, samID, "sam@samlcorp.com", id, acs, e.clock.now())
		if mod != nil {
			mod(&p)
		}
		doc := p.Render(t)
		if !p.Unsigned {
			doc = xmlsectest.Sign(t, doc, key, xmlsectest.SAML2IDs)
		}
		return e.post(t, url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(doc)}, "RelayState": {relay}})
	}
	tests := []struct {
		name string
		mod  func(*xmlsectest.SAML2)
		key  *xmlsectest.KeyPair
		args []string
		want string
	}{
		{"good", nil, fed, nil, "ok"},
		{"Microsoft's ACS as recipient", func(p *xmlsectest.SAML2) { p.Recipient, p.Destination = acsMicrosoft, acsMicrosoft }, fed, nil, "ok"},
		{"NameID with .2B for +", func(p *xmlsectest.SAML2) { p.NameID = strings.ReplaceAll(samID, "+", ".2B") }, fed, nil, "ok"},
		{"MFA in AuthnContextClassRef", func(p *xmlsectest.SAML2) { p.AuthnContext = wauthMFA }, fed, []string{"mfa", "1"}, "ok"},
		{"MFA required, none done (enforce)", nil, fed, []string{"mfa", "1"}, "AADSTS50079"},
		{"wrong issuer", func(p *xmlsectest.SAML2) { p.Issuer = fabrikamIssuer }, fed, nil, "AADSTS50107"},
		{"another key", nil, other, nil, "AADSTS50008"},
		{"unsigned", func(p *xmlsectest.SAML2) { p.Unsigned = true }, fed, nil, "AADSTS50006"},
		{"reference to the Response", func(p *xmlsectest.SAML2) { p.ReferenceURI = "#" + p.ResponseID }, fed, nil, "AADSTS50006"},
		{"InResponseTo another request", func(p *xmlsectest.SAML2) { p.InResponseTo = "_other" }, fed, nil, "AADSTS50008"},
		{"wrong recipient", func(p *xmlsectest.SAML2) { p.Recipient = "https://evil.example/acs" }, fed, nil, "AADSTS50008"},
		{"wrong audience", func(p *xmlsectest.SAML2) { p.Audience = "urn:other" }, fed, nil, "AADSTS50008"},
		{"transient NameID", func(p *xmlsectest.SAML2) { p.NameIDFormat = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient" }, fed, nil, "AADSTS50008"},
		{"NameID over 64 characters", func(p *xmlsectest.SAML2) { p.NameID = strings.Repeat("A", 65) }, fed, nil, "AADSTS50008"},
		{"no IDPEmail", func(p *xmlsectest.SAML2) { p.IDPEmail = "" }, fed, nil, "AADSTS50008"},
		{"failed status", func(p *xmlsectest.SAML2) { p.StatusCode = "urn:oasis:names:tc:SAML:2.0:status:Responder" }, fed, nil, "AADSTS50008"},
		{"expired", func(p *xmlsectest.SAML2) { p.NotOnOrAfter = xmlsectest.Time(time.Now().Add(-time.Hour)) }, fed, nil, "AADSTS500133"},
		{"subject confirmation expired", func(p *xmlsectest.SAML2) { p.SubjectNotOnOrAfter = xmlsectest.Time(time.Now().Add(-10 * time.Minute)) }, fed, nil, "AADSTS500133"},
		{"unknown NameID", func(p *xmlsectest.SAML2) { p.NameID = "bm9ib2R5" }, fed, nil, "AADSTS51004"},
		{"two assertions", func(p *xmlsectest.SAML2) {
			p.After = `<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="_evil" Version="2.0" IssueInstant="x"/>`
		}, fed, nil, "AADSTS50008"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.mod, tc.key, tc.args...)
			t.Logf("%s: %s", r.code(), r.Desc)
			if r.code() != tc.want {
				t.Fatalf("got %s (%d) %s, want %s", r.code(), r.status, r.Desc, tc.want)
			}
			if tc.want == "ok" && (r.SignIn.UserPrincipalName != "sam@samlcorp.com" || r.SignIn.Protocol != "saml") {
				t.Errorf("sign-in %+v", r.SignIn)
			}
		})
	}
	// A bare assertion is not a supported response; RelayState is needed.
	_, _, relay := e.samlStart(t, "sam@samlcorp.com")
	bare := `<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"/>`
	if r := e.post(t, url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString([]byte(bare))}, "RelayState": {relay}}); r.code() != "AADSTS7500514" {
		t.Errorf("bare assertion: %s", r.code())
	}
	if r := e.post(t, url.Values{"SAMLResponse": {"PHg+"}}); r.code() != "AADSTS900144" {
		t.Errorf("no RelayState: %s", r.code())
	}
}

// TestManagedSignIn covers home-realm discovery for managed domains and
// the cloud password check.
func TestManagedSignIn(t *testing.T) {
	e := newSignInEnv(t)
	post := func(user, pass string, extra ...string) (int, string) {
		form := url.Values{"username": {user}, "password": {pass}}
		for i := 0; i+1 < len(extra); i += 2 {
			form.Set(extra[i], extra[i+1])
		}
		req, _ := http.NewRequest(http.MethodPost, e.hs.URL+"/common/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode == 200 && strings.Contains(string(b), "You're signed in") {
			return 200, "ok"
		}
		return res.StatusCode, res.Header.Get("X-M365sim-Error") + string(b[:0])
	}
	tests := []struct{ user, pass, want string }{
		{"adams@contoso.com", "Passw0rd!", "ok"},
		{"ADAMS@contoso.com", "Passw0rd!", "ok"},
		{"adams@contoso.com", "wrong", "AADSTS50126"},
		{"nopass@contoso.com", "x", "AADSTS50056"},
		{"off@contoso.com", "Passw0rd!", "AADSTS50057"},
		{"ghost@contoso.com", "x", "AADSTS50034"},
		{"x@nowhere.example", "x", "AADSTS50034"},
		{"x@unverified.example", "x", "AADSTS50034"},
	}
	for _, tc := range tests {
		if _, got := post(tc.user, tc.pass); got != tc.want {
			t.Errorf("%s/%s: %s, want %s", tc.user, tc.pass, got, tc.want)
		}
	}
	// The start page, the password prompt and a bad username.
	for path, want := range map[string]string{
		"/common/login": `name="username"`,
		"/common/login?username=adams@contoso.com":  `type="password"`,
		"/common/login?username=not-an-address":     "AADSTS90101",
		"/common/login?username=adams@contoso.com&": "Enter password",
	} {
		res, err := e.client.Get(e.hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q", path, want)
		}
	}
	log := e.s.SignIns()
	if len(log) != len(tests) || log[0].Protocol != "password" {
		t.Errorf("log: %d entries", len(log))
	}
}

// TestTenantView renders the HTML view with sign-ins and statistics.
func TestTenantView(t *testing.T) {
	e := newSignInEnv(t)
	e.s.logSignIn(SignIn{UserPrincipalName: "alice@fabrikam.com", TenantID: tenantID, Protocol: "wsFed", Status: SignInStatus{ErrorCode: 50107, FailureReason: "bad <issuer>"}})
	for _, path := range []string{"/", "/_sim/", "/_sim/?refresh=5", "/_sim/?tenant=" + tenantID + "&users=0"} {
		res, err := http.Get(e.hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		page := string(b)
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d", path, res.StatusCode)
		}
		for _, want := range []string{"Contoso", "fabrikam.com", fabrikamIssuer, "enforceMfaByFederatedIdp", "alice@fabrikam.com", aliceID, "AADSTS50107", "bad &lt;issuer&gt;", "Writes (succeeded)"} {
			if !strings.Contains(page, want) {
				t.Errorf("%s lacks %q", path, want)
			}
		}
	}
	// Empty sim.
	e.s.Reset()
	res, _ := http.Get(e.hs.URL + "/_sim/")
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), "No tenant") {
		t.Error("empty view")
	}
}

func TestDecodeDotEscapes(t *testing.T) {
	for in, want := range map[string]string{"a.2Bb": "a+b", "abc": "", "a.2": "", "a.zz": "", ".2F.3D": "/="} {
		if got := decodeDotEscapes(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// TestAuthnRequestKeyInState: the AuthnRequest signing key survives a dump
// and a reload, so an identity provider configured with its certificate
// keeps working across restarts with a state file.
func TestAuthnRequestKeyInState(t *testing.T) {
	e := newSignInEnv(t)
	if e.s.Dump().AuthnRequestSigning != nil {
		t.Fatal("key generated before it was needed")
	}
	c1, err := e.s.AuthnRequestSigningCertificate()
	if err != nil {
		t.Fatal(err)
	}
	dump := e.s.Dump()
	raw, _ := json.Marshal(dump)
	f, err := ParseSeed(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := New(WithHTTP(), WithSeed(f), WithSigningKey(fixtures().sign))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := s2.AuthnRequestSigningCertificate()
	if err != nil || !c1.Equal(c2) {
		t.Fatalf("certificate changed across a reload: %v", err)
	}
	bad := *dump.AuthnRequestSigning
	bad.PrivateKey = "not pem"
	if _, err := New(WithHTTP(), WithSeed(SeedFile{AuthnRequestSigning: &bad})); err == nil {
		t.Error("a broken key was accepted")
	}
}
