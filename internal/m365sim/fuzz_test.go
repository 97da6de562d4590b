package m365sim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// fuzzTargets are the write endpoints whose JSON bodies the fuzzers send.
var fuzzTargets = []struct{ method, path string }{
	{"POST", "/v1.0/users"},
	{"PATCH", "/v1.0/users/Adams@contoso.com"},
	{"POST", "/v1.0/groups"},
	{"PATCH", "/v1.0/groups/02bd9fd6-8f93-4758-87c3-1fb73740a315"},
	{"POST", "/v1.0/groups/02bd9fd6-8f93-4758-87c3-1fb73740a315/members/$ref"},
	{"POST", "/v1.0/domains/contoso.com/federationConfiguration"},
	{"PATCH", "/v1.0/domains/contoso.com"},
	{"POST", "/v1.0/users/Adams@contoso.com/assignLicense"},
	{"POST", "/v1.0/$batch"},
}

// checkGraphAnswer asserts what every Graph answer must be: never a 5xx,
// and every error in Graph's envelope.
func checkGraphAnswer(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	if rec.Code >= 400 {
		var env struct {
			Error struct {
				Code       string         `json:"code"`
				Message    string         `json:"message"`
				InnerError map[string]any `json:"innerError"`
			} `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Error.Code == "" || env.Error.Message == "" || env.Error.InnerError["request-id"] == nil {
			t.Fatalf("status %d without Graph's error envelope: %s", rec.Code, rec.Body.String())
		}
	}
}

func serve(e *testEnv, method, target, body string, headers ...string) *httptest.ResponseRecorder {
	path, query, _ := strings.Cut(target, "?")
	req := httptest.NewRequest(method, "http://sim.test"+path, strings.NewReader(body))
	// The raw query goes in unparsed, so that any bytes reach the handler.
	req.URL.RawQuery = query
	req.Header.Set("Authorization", "Bearer "+e.all)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.s.Handler().ServeHTTP(rec, req)
	return rec
}

// FuzzGraphBody sends arbitrary JSON bodies to the write endpoints: the sim
// answers with Graph's error shape and never fails.
func FuzzGraphBody(f *testing.F) {
	seeds := []string{
		`{"accountEnabled":true,"displayName":"A","mailNickname":"a","userPrincipalName":"a@contoso.com","passwordProfile":{"password":"xWwvJ]6NMw+bWH-d"}}`,
		`{"displayName":"G","mailEnabled":false,"mailNickname":"g","securityEnabled":true,"members@odata.bind":["https://graph.microsoft.com/v1.0/directoryObjects/6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0"]}`,
		`{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0"}`,
		`{"issuerUri":"x","signingCertificate":"MIIB","preferredAuthenticationProtocol":"saml"}`,
		`{"addLicenses":[{"skuId":"6fd2c87f-b296-42f0-b197-1e91e994b900"}],"removeLicenses":[]}`,
		`{"requests":[{"id":"1","method":"GET","url":"/users"},{"id":"2","method":"POST","url":"/groups","body":{},"headers":{"Content-Type":"application/json"},"dependsOn":["1"]}]}`,
		`{"requests":[{"id":"1","method":"POST","url":"/$batch","body":{"requests":[]},"headers":{"Content-Type":"application/json"}}]}`,
		`{"authenticationType":"Managed","isDefault":true}`, `{"accountEnabled":"x"}`, `[]`, `{`, `null`, `{"a":{"b":[1,{"c":null}]}}`,
		`{"businessPhones":[1,{}],"passwordProfile":"x","createdDateTime":"nope","assignedLicenses":{}}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		tg := fuzzTargets[int(which)%len(fuzzTargets)]
		checkGraphAnswer(t, serve(e, tg.method, tg.path, body))
	})
}

// FuzzGraphQuery sends arbitrary query strings ($filter, $select, $top,
// $skiptoken, $deltatoken) to the read endpoints.
func FuzzGraphQuery(f *testing.F) {
	for _, s := range []string{
		"$filter=startswith(displayName,'a')&$select=id,displayName&$top=5",
		"$filter=" + url.QueryEscape("userPrincipalName in ('a','b') and accountEnabled eq true"),
		"$count=true&$filter=" + url.QueryEscape("not(displayName eq null)"), "$orderby=displayName desc", "$skiptoken=RFNwdAIe30",
		"$deltatoken=latest", "$deltatoken=DLT1xyz", "$top=-1", "$filter=((((", "$select=,", "$filter=" + url.QueryEscape("id eq 1e3 or x/y lt 'z'"),
	} {
		f.Add(uint8(0), s)
	}
	paths := []string{"/v1.0/users", "/v1.0/groups", "/v1.0/users/delta", "/v1.0/groups/delta", "/v1.0/domains", "/v1.0/groups/02bd9fd6-8f93-4758-87c3-1fb73740a315/members", "/v1.0/users/Adams@contoso.com", "/v1.0/subscribedSkus", "/v1.0/organization"}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, which uint8, query string) {
		p := paths[int(which)%len(paths)]
		checkGraphAnswer(t, serve(e, http.MethodGet, p+"?"+query, "", "ConsistencyLevel", "eventual"))
	})
}
