package m365sim

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Contract tests per Graph endpoint. Requests and expected bodies follow the
// examples of the Microsoft Graph v1.0 API pages named in each test.

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	// https://learn.microsoft.com/graph/errors: 401 InvalidAuthenticationToken.
	for _, tc := range []struct{ name, tok, want string }{
		{"no token", "", "Access token is empty."},
		{"garbage", "not-a-jwt", "JWT is not well formed"},
		{"wrong signature", e.all[:len(e.all)-8] + "AAAAAAAA", "Access token validation failure."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", "/v1.0/users", tc.tok, nil)
			expectError(t, r, http.StatusUnauthorized, "InvalidAuthenticationToken", tc.want)
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	// client-request-id is echoed, request-id is set.
	r := e.do("GET", "/v1.0/organization", e.all, nil, "client-request-id", "c0ffee00-0000-4000-8000-000000000000")
	if r.header.Get("client-request-id") != "c0ffee00-0000-4000-8000-000000000000" || r.header.Get("request-id") == "" {
		t.Errorf("headers: %v", r.header)
	}
}

func TestPermissions(t *testing.T) {
	e := newEnv(t)
	none, read := e.token(appNone), e.token(appRead)
	for _, tc := range []struct {
		method, path, tok string
		body              any
		want              int
	}{
		{"GET", "/v1.0/users", none, nil, 403},
		{"GET", "/v1.0/users", read, nil, 200},
		{"POST", "/v1.0/users", read, map[string]any{"displayName": "x"}, 403},
		{"GET", "/v1.0/groups", none, nil, 403},
		{"POST", "/v1.0/groups", read, map[string]any{}, 403},
		{"GET", "/v1.0/domains", read, nil, 200},
		{"GET", "/v1.0/domains", none, nil, 403},
		{"POST", "/v1.0/domains/contoso.com/federationConfiguration", read, map[string]any{}, 403},
		{"GET", "/v1.0/domains/fabrikam.com/federationConfiguration", read, nil, 200},
		{"GET", "/v1.0/organization", none, nil, 403},
		{"GET", "/v1.0/subscribedSkus", none, nil, 403},
		{"GET", "/v1.0/subscribedSkus", read, nil, 200},
		{"POST", "/v1.0/users/Adams@contoso.com/assignLicense", read, map[string]any{"addLicenses": []any{}, "removeLicenses": []any{}}, 403},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.tok, tc.body)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.raw)
			}
			if tc.want == 403 {
				expectError(t, r, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
			}
		})
	}
}

func TestDelegatedPermissions(t *testing.T) {
	e := newEnv(t)
	e.s.store.mu.Lock()
	tn := e.s.store.tenants[tenantID]
	admin := tn.usersIdx().byUPN[adminUPN]
	plain := tn.userByKey("Adams@contoso.com")
	e.s.store.mu.Unlock()
	mk := func(oid string) string {
		tok, err := e.s.issueToken(accessClaims{AppID: appAll, Idtyp: "user", Oid: oid, Sub: oid, Tid: tenantID, Scp: "User.ReadWrite.All Directory.ReadWrite.All Domain.ReadWrite.All"})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	body := map[string]any{"accountEnabled": true, "displayName": "D", "mailNickname": "d", "userPrincipalName": "d@contoso.com",
		"passwordProfile": map[string]any{"password": "xWwvJ]6NMw+bWH-d"}}
	// A signed-in user without an admin role cannot create users, even with the scope.
	expectError(t, e.do("POST", "/v1.0/users", mk(plain.id), body), 403, "Authorization_RequestDenied", "Insufficient privileges")
	if r := e.do("POST", "/v1.0/users", mk(admin.id), body); r.status != 201 {
		t.Fatalf("admin create: %d %s", r.status, r.raw)
	}
}

func TestUsersList(t *testing.T) {
	e := newEnv(t)
	// user-list Example 1: the default property set.
	r := e.do("GET", "/v1.0/users", e.all, nil)
	if r.status != 200 || !strings.HasSuffix(r.body["@odata.context"].(string), "/v1.0/$metadata#users") {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	vals := r.values()
	if len(vals) != 4 {
		t.Fatalf("got %d users (the deleted one must not be listed): %s", len(vals), r.raw)
	}
	wantKeys := []string{"businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName"}
	for _, u := range vals {
		if len(u) != len(wantKeys) {
			t.Fatalf("default properties: %v", u)
		}
		for _, k := range wantKeys {
			if _, ok := u[k]; !ok {
				t.Fatalf("missing %s in %v", k, u)
			}
		}
	}
	// $select; usageLocation and onPremisesImmutableId come only with $select.
	r = e.do("GET", "/v1.0/users?$select=displayName,usageLocation,onPremisesImmutableId&$filter=userPrincipalName%20eq%20'adams@CONTOSO.com'", e.all, nil)
	if r.status != 200 || len(r.values()) != 1 || r.values()[0]["usageLocation"] != "US" || len(r.values()[0]) != 4 {
		t.Fatalf("select/filter: %d %s", r.status, r.raw)
	}
	if !strings.HasSuffix(r.body["@odata.context"].(string), "#users(id,displayName,usageLocation,onPremisesImmutableId)") {
		t.Errorf("context %v", r.body["@odata.context"])
	}
	// startsWith and in.
	r = e.do("GET", "/v1.0/users?$filter="+url.QueryEscape("startswith(displayName,'conf')"), e.all, nil)
	if len(r.values()) != 1 || r.values()[0]["displayName"] != "Conf Room Adams" {
		t.Fatalf("startswith: %s", r.raw)
	}
	r = e.do("GET", "/v1.0/users?$filter="+url.QueryEscape("userPrincipalName in ('alice@fabrikam.com','Adams@contoso.com','nobody@contoso.com')"), e.all, nil)
	if len(r.values()) != 2 {
		t.Fatalf("in: %s", r.raw)
	}
	r = e.do("GET", "/v1.0/users?$filter="+url.QueryEscape("onPremisesImmutableId eq 'QWxpY2UxMjM0NTY3ODkwMTI='"), e.all, nil)
	if len(r.values()) != 1 || r.values()[0]["userPrincipalName"] != "alice@fabrikam.com" {
		t.Fatalf("immutable id: %s", r.raw)
	}
	// Advanced queries need ConsistencyLevel: eventual and $count=true
	// (https://learn.microsoft.com/graph/aad-advanced-queries).
	r = e.do("GET", "/v1.0/users?$filter="+url.QueryEscape("endswith(userPrincipalName,'@contoso.com')"), e.all, nil)
	expectError(t, r, 400, "Request_UnsupportedQuery", "Operator 'endsWith' is not supported")
	r = e.do("GET", "/v1.0/users?$count=true&$filter="+url.QueryEscape("endswith(userPrincipalName,'@contoso.com')"), e.all, nil, "ConsistencyLevel", "eventual")
	if r.status != 200 || r.body["@odata.count"] != float64(1) {
		t.Fatalf("endswith advanced: %s", r.raw)
	}
	// user-list Example 3: $count.
	r = e.do("GET", "/v1.0/users/$count", e.all, nil, "ConsistencyLevel", "eventual")
	if r.status != 200 || string(r.raw) != "4" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("$count: %d %q %s", r.status, r.raw, r.header.Get("Content-Type"))
	}
	expectError(t, e.do("GET", "/v1.0/users/$count", e.all, nil), 400, "Request_BadRequest", "$count is not currently supported.")
	// $orderby (user-list Example 4 with advanced headers).
	r = e.do("GET", "/v1.0/users?$orderby=displayName%20desc&$top=2", e.all, nil)
	if r.status != 200 || r.values()[0]["displayName"] != "MOD Administrator" || r.body["@odata.nextLink"] == nil {
		t.Fatalf("orderby: %s", r.raw)
	}
	r = e.do("GET", r.body["@odata.nextLink"].(string), e.all, nil)
	if len(r.values()) != 2 || r.values()[1]["displayName"] != "Alice" || r.body["@odata.nextLink"] != nil {
		t.Fatalf("orderby page 2: %s", r.raw)
	}
}

func TestUsersPaging(t *testing.T) {
	e := newEnv(t)
	seen := map[string]bool{}
	link := "/v1.0/users?$top=1&$select=id"
	pages := 0
	for link != "" {
		r := e.do("GET", link, e.all, nil)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		for _, u := range r.values() {
			if seen[u["id"].(string)] {
				t.Fatalf("user %v twice", u["id"])
			}
			seen[u["id"].(string)] = true
		}
		link, _ = r.body["@odata.nextLink"].(string)
		if link != "" && (!strings.Contains(link, "$skiptoken=") || !strings.Contains(link, "$top=1")) {
			t.Fatalf("nextLink %q", link)
		}
		pages++
	}
	if len(seen) != 4 || pages != 4 {
		t.Fatalf("pages %d users %d", pages, len(seen))
	}
	for _, tc := range []struct{ q, code, msg string }{
		{"$top=1000", "Request_UnsupportedQuery", "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."},
		{"$top=0", "Request_UnsupportedQuery", "Invalid page size specified: '0'"},
		{"$top=abc", "BadRequest", "Invalid value 'abc' for $top query option"},
		{"$skip=10", "Request_BadRequest", "'$skip' is not supported by the service."},
		{"$skiptoken=bogus", "Request_BadRequest", "page token"},
		{"$format=json", "BadRequest", "The query parameter '$format' is not supported."},
	} {
		expectError(t, e.do("GET", "/v1.0/users?"+tc.q, e.all, nil), 400, tc.code, tc.msg)
	}
}

func TestUsersBadQuery(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ filter, code, msg string }{
		{"displayName eq", "BadRequest", "Invalid filter clause: Syntax error at position 14"},
		{"startswith(displayName,'a'", "BadRequest", "Invalid filter clause"},
		{"foo eq 'x'", "Request_UnsupportedQuery", "Property 'foo' does not exist as a declared property or extension property."},
		{"passwordPolicies eq 'x'", "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property 'passwordPolicies' of resource 'User'."},
		{"accountEnabled eq 'yes'", "BadRequest", "A binary operator with incompatible types was detected. Found operand types 'Edm.Boolean' and 'Edm.String' for operator kind 'Equal'."},
		{"displayName ne 'x'", "Request_UnsupportedQuery", "Operator 'ne' is not supported"},
		{"not(displayName eq 'x')", "Request_UnsupportedQuery", "Operator 'not' is not supported"},
	} {
		t.Run(tc.filter, func(t *testing.T) {
			expectError(t, e.do("GET", "/v1.0/users?$filter="+url.QueryEscape(tc.filter), e.all, nil), 400, tc.code, tc.msg)
		})
	}
	expectError(t, e.do("GET", "/v1.0/users?$select=displayName,nope", e.all, nil), 400, "Request_UnsupportedQuery", "Property 'nope' does not exist")
	expectError(t, e.do("GET", "/v1.0/domains?$select=nope", e.all, nil), 400, "BadRequest", "Could not find a property named 'nope' on type 'microsoft.graph.domain'.")
	expectError(t, e.do("GET", "/v1.0/nothing", e.all, nil), 400, "BadRequest", "Resource not found for the segment 'nothing'.")
	expectError(t, e.do("PUT", "/v1.0/users", e.all, "{}"), 405, "Request_BadRequest", "Specified HTTP method is not allowed")
}

// newUserBody is user-post-users Example 1.
func newUserBody(upn string) map[string]any {
	return map[string]any{
		"accountEnabled": true, "displayName": "Adele Vance", "mailNickname": "AdeleV", "userPrincipalName": upn,
		"passwordProfile": map[string]any{"forceChangePasswordNextSignIn": true, "password": "xWwvJ]6NMw+bWH-d"},
	}
}

func TestUserCreate(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/v1.0/users", e.all, newUserBody("AdeleV@contoso.onmicrosoft.com"))
	if r.status != 201 || r.body["displayName"] != "Adele Vance" || r.body["userPrincipalName"] != "AdeleV@contoso.onmicrosoft.com" ||
		!isGUID(r.body["id"].(string)) || !strings.HasSuffix(r.body["@odata.context"].(string), "$metadata#users/$entity") {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	if _, has := r.body["passwordProfile"]; has {
		t.Error("passwordProfile must not be returned by default")
	}
	// The new user can be read back by id and by UPN.
	id := r.body["id"].(string)
	for _, key := range []string{id, "adelev@contoso.onmicrosoft.com"} {
		if g := e.do("GET", "/v1.0/users/"+key, e.all, nil); g.status != 200 || g.body["id"] != id {
			t.Fatalf("get %s: %d %s", key, g.status, g.raw)
		}
	}
	// Duplicate UPN (contract §7).
	r = e.do("POST", "/v1.0/users", e.all, newUserBody("adelev@CONTOSO.onmicrosoft.com"))
	expectError(t, r, 400, "Request_BadRequest", "Another object with the same value for property userPrincipalName already exists.")
	details, _ := r.body["error"].(map[string]any)["details"].([]any)
	if len(details) != 1 || details[0].(map[string]any)["code"] != "ObjectConflict" || details[0].(map[string]any)["target"] != "userPrincipalName" {
		t.Fatalf("details: %s", r.raw)
	}
	cases := []struct {
		name   string
		mutate func(map[string]any)
		code   string
		msg    string
	}{
		{"unverified domain", func(b map[string]any) { b["userPrincipalName"] = "x@pending.example" }, "Request_BadRequest", "The domain portion of the userPrincipalName property is invalid."},
		{"unknown domain", func(b map[string]any) { b["userPrincipalName"] = "x@nowhere.example" }, "Request_BadRequest", "verified domain names"},
		{"bad upn chars", func(b map[string]any) { b["userPrincipalName"] = "a b@contoso.com" }, "Request_BadRequest", "Invalid value specified for property 'userPrincipalName' of resource 'User'."},
		{"missing mailNickname", func(b map[string]any) { delete(b, "mailNickname") }, "Request_BadRequest", "Property value is required but is empty or missing."},
		{"managed needs password", func(b map[string]any) { delete(b, "passwordProfile") }, "Request_BadRequest", "Property value is required"},
		{"weak password", func(b map[string]any) { b["passwordProfile"] = map[string]any{"password": "short"} }, "Request_BadRequest", "password complexity"},
		{"federated needs immutable id", func(b map[string]any) { b["userPrincipalName"] = "bob@fabrikam.com"; delete(b, "passwordProfile") }, "Request_BadRequest", "onPremisesImmutableId is required"},
		{"federated subdomain needs immutable id", func(b map[string]any) {
			b["userPrincipalName"] = "bob@sales.fabrikam.com"
			delete(b, "passwordProfile")
		}, "Request_BadRequest", "onPremisesImmutableId is required"},
		{"federated refuses password", func(b map[string]any) {
			b["userPrincipalName"] = "bob@fabrikam.com"
			b["onPremisesImmutableId"] = "Ym9iMTIzNDU2Nzg5MDEyMw=="
		}, "Request_BadRequest", "passwordProfile cannot be set"},
		{"immutable id with $", func(b map[string]any) { b["onPremisesImmutableId"] = "a$b" }, "Request_BadRequest", "Invalid value specified for property 'onPremisesImmutableId'"},
		{"duplicate immutable id", func(b map[string]any) {
			b["userPrincipalName"] = "bob@fabrikam.com"
			delete(b, "passwordProfile")
			b["onPremisesImmutableId"] = "QWxpY2UxMjM0NTY3ODkwMTI="
		}, "Request_BadRequest", "Another object with the same value for property onPremisesImmutableId already exists."},
		{"unknown property", func(b map[string]any) { b["favouriteColour"] = "blue" }, "Request_BadRequest", "Invalid property 'favouriteColour'."},
		{"read-only property", func(b map[string]any) { b["createdDateTime"] = "2020-01-01T00:00:00Z" }, "Request_BadRequest", "Property 'createdDateTime' is read-only and cannot be set."},
		{"wrong type bool", func(b map[string]any) { b["accountEnabled"] = "yes" }, "BadRequest", "Cannot convert a primitive value to the expected type 'Edm.Boolean'."},
		{"wrong type string", func(b map[string]any) { b["displayName"] = 42 }, "BadRequest", "Cannot convert a primitive value to the expected type 'Edm.String'."},
		{"object for string", func(b map[string]any) { b["displayName"] = map[string]any{} }, "BadRequest", "An unexpected 'StartObject' node was found when reading from the JSON reader. A 'PrimitiveValue' node was expected."},
		{"string for collection", func(b map[string]any) { b["businessPhones"] = "1234" }, "BadRequest", "A 'StartArray' node was expected."},
		{"unknown passwordProfile field", func(b map[string]any) {
			b["passwordProfile"] = map[string]any{"password": "xWwvJ]6NMw+bWH-d", "pin": 1}
		}, "BadRequest", "The property 'pin' does not exist on type 'microsoft.graph.passwordProfile'."},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newUserBody(fmt.Sprintf("case%d@contoso.com", i))
			tc.mutate(b)
			expectError(t, e.do("POST", "/v1.0/users", e.all, b), 400, tc.code, tc.msg)
		})
	}
	// A federated user with an immutable id and no password is created.
	b := newUserBody("bob@fabrikam.com")
	delete(b, "passwordProfile")
	b["onPremisesImmutableId"] = "Ym9iMTIzNDU2Nzg5MDEyMw=="
	if r := e.do("POST", "/v1.0/users", e.all, b); r.status != 201 {
		t.Fatalf("federated create: %d %s", r.status, r.raw)
	}
}

func TestMalformedBodies(t *testing.T) {
	e := newEnv(t)
	for _, body := range []string{"{", "[]", "null", `{"a":1}{`, "", `"text"`} {
		r := e.do("POST", "/v1.0/users", e.all, body)
		expectError(t, r, 400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
	}
	// Without a JSON content type.
	req, _ := http.NewRequest("POST", e.hs.URL+"/v1.0/groups", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+e.all)
	req.Header.Set("Content-Type", "text/plain")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Fatalf("text/plain body: %d", res.StatusCode)
	}
}

func TestUserUpdateDeleteRestore(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/v1.0/users", e.all, newUserBody("adelev@contoso.com"))
	id := r.body["id"].(string)
	// user-update: 204, then the change is visible.
	if r := e.do("PATCH", "/v1.0/users/"+id, e.all, map[string]any{"jobTitle": "Marketing", "usageLocation": "GB", "accountEnabled": false}); r.status != 204 || len(r.raw) != 0 {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	r = e.do("GET", "/v1.0/users/"+id+"?$select=jobTitle,usageLocation,accountEnabled", e.all, nil)
	if r.body["jobTitle"] != "Marketing" || r.body["usageLocation"] != "GB" || r.body["accountEnabled"] != false {
		t.Fatalf("after patch: %s", r.raw)
	}
	expectError(t, e.do("PATCH", "/v1.0/users/"+id, e.all, map[string]any{"userPrincipalName": "Adams@contoso.com"}), 400, "Request_BadRequest", "Another object with the same value for property userPrincipalName")
	expectError(t, e.do("PATCH", "/v1.0/users/"+id, e.all, map[string]any{"userPrincipalName": "adele@fabrikam.com"}), 400, "Request_BadRequest", "onPremisesImmutableId is required")
	expectError(t, e.do("PATCH", "/v1.0/users/nobody@contoso.com", e.all, map[string]any{"jobTitle": "x"}), 404, "Request_ResourceNotFound", "Resource 'nobody@contoso.com' does not exist")
	// Moving a user to a federated domain with an immutable id works.
	if r := e.do("PATCH", "/v1.0/users/"+id, e.all, map[string]any{"userPrincipalName": "adele@fabrikam.com", "onPremisesImmutableId": "YWRlbGUxMjM0NTY3ODkwMQ=="}); r.status != 204 {
		t.Fatalf("move to federated: %d %s", r.status, r.raw)
	}
	// Delete -> deleted items -> restore -> purge.
	if r := e.do("DELETE", "/v1.0/users/"+id, e.all, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	expectError(t, e.do("GET", "/v1.0/users/"+id, e.all, nil), 404, "Request_ResourceNotFound", id)
	r = e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user", e.all, nil)
	found := false
	for _, v := range r.values() {
		if v["id"] == id && v["deletedDateTime"] != nil && v["@odata.type"] == "#microsoft.graph.user" {
			found = true
		}
	}
	if !found || len(r.values()) != 2 {
		t.Fatalf("deleted items: %s", r.raw)
	}
	if r := e.do("POST", "/v1.0/directory/deletedItems/"+id+"/restore", e.all, nil); r.status != 200 || r.body["id"] != id || r.body["deletedDateTime"] != nil {
		t.Fatalf("restore: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/v1.0/users/adele@fabrikam.com", e.all, nil); r.status != 200 {
		t.Fatalf("restored user: %d", r.status)
	}
	e.do("DELETE", "/v1.0/users/"+id, e.all, nil)
	if r := e.do("DELETE", "/v1.0/directory/deletedItems/"+id, e.all, nil); r.status != 204 {
		t.Fatalf("purge: %d %s", r.status, r.raw)
	}
	expectError(t, e.do("GET", "/v1.0/directory/deletedItems/"+id, e.all, nil), 404, "Request_ResourceNotFound", id)
}

func TestAssignLicense(t *testing.T) {
	e := newEnv(t)
	add := func(sku string) map[string]any {
		return map[string]any{"addLicenses": []any{map[string]any{"skuId": sku, "disabledPlans": []any{}}}, "removeLicenses": []any{}}
	}
	// No usage location.
	expectError(t, e.do("POST", "/v1.0/users/"+adminUPN+"/assignLicense", e.all, add(skuE3)), 400, "Request_BadRequest", "License assignment cannot be done for user with invalid usage location.")
	// Both arrays are required.
	expectError(t, e.do("POST", "/v1.0/users/Adams@contoso.com/assignLicense", e.all, map[string]any{"addLicenses": []any{}}), 400, "BadRequest", "The missing parameters are: removeLicenses.")
	// user-assignlicense example: 200 with the user.
	r := e.do("POST", "/v1.0/users/Adams@contoso.com/assignLicense", e.all, map[string]any{
		"addLicenses": []any{map[string]any{"disabledPlans": []any{planExch}, "skuId": skuE3}}, "removeLicenses": []any{}})
	if r.status != 200 || r.body["id"] != "6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0" {
		t.Fatalf("assign: %d %s", r.status, r.raw)
	}
	r = e.do("GET", "/v1.0/users/Adams@contoso.com?$select=assignedLicenses", e.all, nil)
	lic, _ := r.body["assignedLicenses"].([]any)
	if len(lic) != 1 || lic[0].(map[string]any)["skuId"] != skuE3 {
		t.Fatalf("assignedLicenses: %s", r.raw)
	}
	// subscribedSkus counts the seat.
	r = e.do("GET", "/v1.0/subscribedSkus", e.all, nil)
	if r.values()[0]["consumedUnits"] != float64(1) || r.values()[0]["prepaidUnits"].(map[string]any)["enabled"] != float64(2) {
		t.Fatalf("skus: %s", r.raw)
	}
	// No seats left on E1.
	expectError(t, e.do("POST", "/v1.0/users/Adams@contoso.com/assignLicense", e.all, add(skuE1)), 400, "Request_BadRequest", "does not have any available licenses")
	expectError(t, e.do("POST", "/v1.0/users/Adams@contoso.com/assignLicense", e.all, add("00000000-0000-4000-8000-000000000000")), 400, "Request_BadRequest", "does not correspond to a valid company License")
	// Remove.
	r = e.do("POST", "/v1.0/users/Adams@contoso.com/assignLicense", e.all, map[string]any{"addLicenses": []any{}, "removeLicenses": []any{skuE3}})
	if r.status != 200 {
		t.Fatalf("remove: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/v1.0/subscribedSkus", e.all, nil); r.values()[0]["consumedUnits"] != float64(0) {
		t.Fatalf("after remove: %s", r.raw)
	}
}

// newGroupBody is group-post-groups Example 1 (a Microsoft 365 group).
func newGroupBody(name, nick string) map[string]any {
	return map[string]any{"description": "Self help community for library", "displayName": name,
		"groupTypes": []any{"Unified"}, "mailEnabled": true, "mailNickname": nick, "securityEnabled": false}
}

func TestGroups(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/v1.0/groups", e.all, newGroupBody("Library Assist", "library"))
	if r.status != 201 || r.body["mail"] != "library@contoso.onmicrosoft.com" || r.body["visibility"] != "Public" {
		t.Fatalf("create unified: %d %s", r.status, r.raw)
	}
	gid := r.body["id"].(string)
	// Duplicate display names are allowed (contract §7).
	sec := map[string]any{"displayName": "Library Assist", "mailEnabled": false, "mailNickname": "library-sec", "securityEnabled": true}
	r = e.do("POST", "/v1.0/groups", e.all, sec)
	if r.status != 201 || r.body["mail"] != nil || len(r.body["groupTypes"].([]any)) != 0 {
		t.Fatalf("create security: %d %s", r.status, r.raw)
	}
	sid := r.body["id"].(string)
	for _, tc := range []struct {
		name string
		body map[string]any
		code string
		msg  string
	}{
		{"mail-enabled security", map[string]any{"displayName": "x", "mailEnabled": true, "mailNickname": "x", "securityEnabled": true}, "Request_BadRequest", "Cannot create a mail-enabled security groups and or distribution list."},
		{"distribution", map[string]any{"displayName": "x", "mailEnabled": true, "mailNickname": "x", "securityEnabled": false}, "Request_BadRequest", "Cannot create a mail-enabled security groups and or distribution list."},
		{"missing mailNickname", map[string]any{"displayName": "x", "mailEnabled": false, "securityEnabled": true}, "Request_BadRequest", "Property value is required"},
		{"mail is read-only", map[string]any{"displayName": "x", "mailEnabled": false, "mailNickname": "x", "securityEnabled": true, "mail": "x@contoso.com"}, "Request_BadRequest", "Property 'mail' is read-only and cannot be set."},
		{"bad nickname", map[string]any{"displayName": "x", "mailEnabled": false, "mailNickname": "a b", "securityEnabled": true}, "Request_BadRequest", "Invalid value specified for property 'mailNickname' of resource 'Group'."},
		{"duplicate unified mail", newGroupBody("Other", "library"), "Request_BadRequest", "Another object with the same value for property proxyAddresses already exists."},
		{"too many binds", func() map[string]any {
			b := newGroupBody("Big", "big")
			var refs []any
			for i := 0; i < 21; i++ {
				refs = append(refs, "https://graph.microsoft.com/v1.0/directoryObjects/6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0")
			}
			b["members@odata.bind"] = refs
			return b
		}(), "Request_BadRequest", "limit of 20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, e.do("POST", "/v1.0/groups", e.all, tc.body), 400, tc.code, tc.msg)
		})
	}
	// group-post-members: add by $ref, twice -> 400, list members, remove.
	ref := map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0"}
	if r := e.do("POST", "/v1.0/groups/"+gid+"/members/$ref", e.all, ref); r.status != 204 {
		t.Fatalf("add member: %d %s", r.status, r.raw)
	}
	expectError(t, e.do("POST", "/v1.0/groups/"+gid+"/members/$ref", e.all, ref), 400, "Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'.")
	expectError(t, e.do("POST", "/v1.0/groups/"+gid+"/members/$ref", e.all, map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + sid}), 400, "Request_BadRequest", "Microsoft 365 groups can only have users as members.")
	expectError(t, e.do("POST", "/v1.0/groups/"+gid+"/members/$ref", e.all, map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/99999999-0000-4000-8000-000000000000"}), 404, "Request_ResourceNotFound", "99999999")
	r = e.do("GET", "/v1.0/groups/"+gid+"/members", e.all, nil)
	if r.status != 200 || len(r.values()) != 1 || r.values()[0]["@odata.type"] != "#microsoft.graph.user" || !strings.HasSuffix(r.body["@odata.context"].(string), "#directoryObjects") {
		t.Fatalf("members: %s", r.raw)
	}
	if r := e.do("DELETE", "/v1.0/groups/"+gid+"/members/6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0/$ref", e.all, nil); r.status != 204 {
		t.Fatalf("remove member: %d %s", r.status, r.raw)
	}
	expectError(t, e.do("DELETE", "/v1.0/groups/"+gid+"/members/6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0/$ref", e.all, nil), 404, "Request_ResourceNotFound", "One or more removed object references do not exist")
	// members@odata.bind is all or nothing.
	users := []string{}
	for i := 0; i < 3; i++ {
		r := e.do("POST", "/v1.0/users", e.all, newUserBody(fmt.Sprintf("m%d@contoso.com", i)))
		users = append(users, "https://graph.microsoft.com/v1.0/directoryObjects/"+r.body["id"].(string))
	}
	bad := append(append([]string{}, users...), "https://graph.microsoft.com/v1.0/directoryObjects/99999999-0000-4000-8000-000000000000")
	r = e.do("PATCH", "/v1.0/groups/"+sid, e.all, map[string]any{"members@odata.bind": bad})
	expectError(t, r, 404, "Request_ResourceNotFound", "99999999")
	if r := e.do("GET", "/v1.0/groups/"+sid+"/members", e.all, nil); len(r.values()) != 0 {
		t.Fatalf("partial add happened: %s", r.raw)
	}
	if r := e.do("PATCH", "/v1.0/groups/"+sid, e.all, map[string]any{"members@odata.bind": users, "description": "d"}); r.status != 204 {
		t.Fatalf("bind: %d %s", r.status, r.raw)
	}
	// Member listing pages.
	r = e.do("GET", "/v1.0/groups/"+sid+"/members?$top=2", e.all, nil)
	if len(r.values()) != 2 || r.body["@odata.nextLink"] == nil {
		t.Fatalf("members page 1: %s", r.raw)
	}
	r = e.do("GET", r.body["@odata.nextLink"].(string), e.all, nil)
	if len(r.values()) != 1 || r.body["@odata.nextLink"] != nil {
		t.Fatalf("members page 2: %s", r.raw)
	}
	// group-list with $filter on displayName returns both same-named groups.
	r = e.do("GET", "/v1.0/groups?$filter="+url.QueryEscape("displayName eq 'Library Assist'"), e.all, nil)
	if len(r.values()) != 2 {
		t.Fatalf("filter groups: %s", r.raw)
	}
	// Delete: Microsoft 365 group is soft-deleted, security group is gone.
	e.do("DELETE", "/v1.0/groups/"+gid, e.all, nil)
	e.do("DELETE", "/v1.0/groups/"+sid, e.all, nil)
	if r := e.do("GET", "/v1.0/directory/deletedItems/"+gid, e.all, nil); r.status != 200 || r.body["@odata.type"] != "#microsoft.graph.group" {
		t.Fatalf("deleted unified group: %d %s", r.status, r.raw)
	}
	expectError(t, e.do("GET", "/v1.0/directory/deletedItems/"+sid, e.all, nil), 404, "Request_ResourceNotFound", sid)
}

func TestDomainsAndOrganization(t *testing.T) {
	e := newEnv(t)
	// domain-get.
	r := e.do("GET", "/v1.0/domains/sales.fabrikam.com", e.all, nil)
	if r.status != 200 || r.body["authenticationType"] != "Federated" || r.body["isRoot"] != false || r.body["isVerified"] != true {
		t.Fatalf("subdomain: %s", r.raw)
	}
	expectError(t, e.do("GET", "/v1.0/domains/nowhere.example", e.all, nil), 404, "Request_ResourceNotFound", "nowhere.example")
	// organization-list: a one-element collection.
	r = e.do("GET", "/v1.0/organization", e.all, nil)
	if r.status != 200 || len(r.values()) != 1 || r.values()[0]["id"] != tenantID || r.values()[0]["onPremisesSyncEnabled"] != nil {
		t.Fatalf("organization: %s", r.raw)
	}
	vd := r.values()[0]["verifiedDomains"].([]any)
	if len(vd) != 4 {
		t.Fatalf("verifiedDomains: %v", vd)
	}
	// Changing the default domain.
	if r := e.do("PATCH", "/v1.0/domains/contoso.com", e.all, map[string]any{"isDefault": true}); r.status != 204 {
		t.Fatalf("set default: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/v1.0/domains/contoso.onmicrosoft.com", e.all, nil); r.body["isDefault"] != false {
		t.Fatalf("old default still default: %s", r.raw)
	}
}

// fedBody is domain-post-federationconfiguration's example with a real
// certificate.
func fedBody(issuer string) map[string]any {
	c := fixtures().fed.b64
	return map[string]any{
		"@odata.type": "#microsoft.graph.internalDomainFederation", "displayName": "Contoso", "issuerUri": issuer,
		"metadataExchangeUri": "https://sts.contoso.com/adfs/services/trust/mex", "signingCertificate": c,
		"passiveSignInUri": "https://sts.contoso.com/adfs/ls", "preferredAuthenticationProtocol": "wsFed",
		"activeSignInUri": "https://sts.contoso.com/adfs/services/trust/2005/usernamemixed", "signOutUri": "https://sts.contoso.com/adfs/ls",
		"promptLoginBehavior": "nativeSupport", "isSignedAuthenticationRequestRequired": true, "nextSigningCertificate": c,
		"federatedIdpMfaBehavior": "rejectMfaByFederatedIdp",
	}
}

func TestFederationConfiguration(t *testing.T) {
	e := newEnv(t)
	path := "/v1.0/domains/contoso.com/federationConfiguration"
	expectError(t, e.do("GET", path, e.all, nil), 404, "Request_ResourceNotFound", "contoso.com")
	for _, tc := range []struct {
		name, domain string
		body         map[string]any
		code, msg    string
	}{
		{"unverified", "pending.example", fedBody("http://a/1"), "Request_BadRequest", "not verified"},
		{"initial", "contoso.onmicrosoft.com", fedBody("http://a/2"), "Request_BadRequest", "initial domain"},
		{"already federated", "fabrikam.com", fedBody("http://a/3"), "Request_BadRequest", "already federated"},
		{"subdomain", "sales.fabrikam.com", fedBody("http://a/4"), "Request_BadRequest", "subdomain"},
		{"issuer not unique", "contoso.com", fedBody("https://idp.example/fabrikam"), "Request_BadRequest", "Another object with the same value for property issuerUri already exists."},
		{"no certificate", "contoso.com", func() map[string]any { b := fedBody("http://a/5"); delete(b, "signingCertificate"); return b }(), "Request_BadRequest", "Property value is required"},
		{"PEM certificate", "contoso.com", func() map[string]any {
			b := fedBody("http://a/6")
			b["signingCertificate"] = "-----BEGIN CERTIFICATE-----\n" + fixtures().fed.b64 + "\n-----END CERTIFICATE-----"
			return b
		}(), "Request_BadRequest", "Invalid value specified for property 'signingCertificate'"},
		{"no protocol", "contoso.com", func() map[string]any {
			b := fedBody("http://a/7")
			delete(b, "preferredAuthenticationProtocol")
			return b
		}(), "Request_BadRequest", "Property value is required"},
		{"bad enum", "contoso.com", func() map[string]any { b := fedBody("http://a/8"); b["promptLoginBehavior"] = "sometimes"; return b }(), "BadRequest", "Requested value 'sometimes' was not found."},
		{"unknown property", "contoso.com", func() map[string]any { b := fedBody("http://a/9"); b["colour"] = "red"; return b }(), "BadRequest", "The property 'colour' does not exist on type 'microsoft.graph.internalDomainFederation'."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, e.do("POST", "/v1.0/domains/"+tc.domain+"/federationConfiguration", e.all, tc.body), 400, tc.code, tc.msg)
		})
	}
	// The default domain cannot be federated.
	e.do("PATCH", "/v1.0/domains/contoso.com", e.all, map[string]any{"isDefault": true})
	expectError(t, e.do("POST", path, e.all, fedBody("http://contoso.com/adfs/services/trust")), 400, "Request_BadRequest", "default domain")
	e.do("PATCH", "/v1.0/domains/contoso.onmicrosoft.com", e.all, map[string]any{"isDefault": true})
	// The example request: 201 with the object.
	r := e.do("POST", path, e.all, fedBody("http://contoso.com/adfs/services/trust"))
	if r.status != 201 || r.body["@odata.type"] != "#microsoft.graph.internalDomainFederation" || r.body["issuerUri"] != "http://contoso.com/adfs/services/trust" ||
		r.body["federatedIdpMfaBehavior"] != "rejectMfaByFederatedIdp" || r.body["signingCertificateUpdateStatus"].(map[string]any)["certificateUpdateResult"] != "Success" {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	fid := r.body["id"].(string)
	if r := e.do("GET", "/v1.0/domains/contoso.com", e.all, nil); r.body["authenticationType"] != "Federated" {
		t.Fatalf("domain not federated: %s", r.raw)
	}
	r = e.do("GET", path, e.all, nil)
	if r.status != 200 || len(r.values()) != 1 || r.values()[0]["id"] != fid {
		t.Fatalf("list: %s", r.raw)
	}
	// internaldomainfederation-update: 200 with the object; defaults kept.
	r = e.do("PATCH", path+"/"+fid, e.all, map[string]any{"@odata.type": "#microsoft.graph.internalDomainFederation", "displayName": "Contoso name change", "federatedIdpMfaBehavior": "acceptIfMfaDoneByFederatedIdp"})
	if r.status != 200 || r.body["displayName"] != "Contoso name change" || r.body["issuerUri"] != "http://contoso.com/adfs/services/trust" {
		t.Fatalf("update: %d %s", r.status, r.raw)
	}
	expectError(t, e.do("PATCH", path+"/"+fid, e.all, map[string]any{"issuerUri": "https://idp.example/fabrikam"}), 400, "Request_BadRequest", "issuerUri already exists")
	// DELETE returns the domain to managed.
	if r := e.do("DELETE", path+"/"+fid, e.all, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/v1.0/domains/contoso.com", e.all, nil); r.body["authenticationType"] != "Managed" {
		t.Fatalf("not managed after delete: %s", r.raw)
	}
	// Defederation by PATCH /domains (contract §3).
	if r := e.do("PATCH", "/v1.0/domains/fabrikam.com", e.all, map[string]any{"authenticationType": "Managed"}); r.status != 204 {
		t.Fatalf("defederate: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/v1.0/domains/sales.fabrikam.com", e.all, nil); r.body["authenticationType"] != "Managed" {
		t.Fatalf("subdomain still federated: %s", r.raw)
	}
	// Domain-InternalFederation.ReadWrite.All alone is enough to federate
	// (domain-post-federationconfiguration), but not to list users.
	fedTok := e.token(appFed)
	if r := e.do("POST", path, fedTok, fedBody("http://contoso.com/adfs/services/trust")); r.status != 201 {
		t.Fatalf("federate with Domain-InternalFederation.ReadWrite.All: %d %s", r.status, r.raw)
	}
	expectError(t, e.do("GET", "/v1.0/users", fedTok, nil), 403, "Authorization_RequestDenied", "Insufficient privileges")
}

func TestBatch(t *testing.T) {
	e := newEnv(t)
	// json-batching: ids, dependsOn, 424, per-item status, headers, body.
	body := map[string]any{"requests": []any{
		map[string]any{"id": "1", "method": "POST", "url": "/users", "headers": map[string]any{"Content-Type": "application/json"}, "body": newUserBody("batch1@contoso.com")},
		map[string]any{"id": "2", "dependsOn": []any{"1"}, "method": "GET", "url": "/users/batch1@contoso.com?$select=id,userPrincipalName"},
		map[string]any{"id": "3", "method": "GET", "url": "users/nobody@contoso.com"},
		map[string]any{"id": "4", "dependsOn": []any{"3"}, "method": "GET", "url": "/organization"},
		map[string]any{"id": "5", "method": "GET", "url": "/users/$count", "headers": map[string]any{"ConsistencyLevel": "eventual"}},
	}}
	r := e.do("POST", "/v1.0/$batch", e.all, body)
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.raw)
	}
	got := map[string]map[string]any{}
	for _, v := range r.body["responses"].([]any) {
		m := v.(map[string]any)
		got[m["id"].(string)] = m
	}
	want := map[string]float64{"1": 201, "2": 200, "3": 404, "4": 424, "5": 200}
	for id, st := range want {
		if got[id]["status"] != st {
			t.Errorf("item %s status %v, want %v", id, got[id]["status"], st)
		}
	}
	if b := got["2"]["body"].(map[string]any); b["userPrincipalName"] != "batch1@contoso.com" {
		t.Errorf("item 2 body %v", b)
	}
	if h := got["1"]["headers"].(map[string]any); !strings.HasPrefix(h["Content-Type"].(string), "application/json") {
		t.Errorf("item 1 headers %v", h)
	}
	if b := got["3"]["body"].(map[string]any)["error"].(map[string]any); b["code"] != "Request_ResourceNotFound" {
		t.Errorf("item 3 body %v", b)
	}
	if got["5"]["body"] != "5" {
		t.Errorf("item 5 body %v", got["5"]["body"])
	}
	mk := func(n int) []any {
		var out []any
		for i := 0; i < n; i++ {
			out = append(out, map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": "/organization"})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		body any
		msg  string
	}{
		{"21 requests", map[string]any{"requests": mk(21)}, "exceeds the limit of 20"},
		{"duplicate ids", map[string]any{"requests": []any{map[string]any{"id": "a", "method": "GET", "url": "/organization"}, map[string]any{"id": "A", "method": "GET", "url": "/organization"}}}, "used more than once"},
		{"body without content type", map[string]any{"requests": []any{map[string]any{"id": "1", "method": "POST", "url": "/groups", "body": map[string]any{}}}}, "no Content-Type"},
		{"unknown dependency", map[string]any{"requests": []any{map[string]any{"id": "1", "method": "GET", "url": "/organization", "dependsOn": []any{"9"}}}}, "unknown request"},
		{"cycle", map[string]any{"requests": []any{map[string]any{"id": "1", "method": "GET", "url": "/organization", "dependsOn": []any{"2"}}, map[string]any{"id": "2", "method": "GET", "url": "/organization", "dependsOn": []any{"1"}}}}, "cycle"},
		{"no requests", map[string]any{}, "Invalid batch payload format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, e.do("POST", "/v1.0/$batch", e.all, tc.body), 400, "BadRequest", tc.msg)
		})
	}
	// Exactly 20 is accepted.
	if r := e.do("POST", "/v1.0/$batch", e.all, map[string]any{"requests": mk(20)}); r.status != 200 || len(r.body["responses"].([]any)) != 20 {
		t.Fatalf("20 requests: %d", r.status)
	}
}

func TestBatchItemsGoThroughMiddleware(t *testing.T) {
	var seen []string
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = append(seen, r.Method+" "+r.URL.Path)
			if r.URL.Path == "/v1.0/organization" {
				w.Header().Set("Retry-After", "2")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	e := newEnv(t, WithGraphMiddleware(mw))
	r := e.do("POST", "/v1.0/$batch", e.all, map[string]any{"requests": []any{
		map[string]any{"id": "1", "method": "GET", "url": "/organization"},
		map[string]any{"id": "2", "method": "GET", "url": "/domains"},
	}})
	items := r.body["responses"].([]any)
	if r.status != 200 || items[0].(map[string]any)["status"] != float64(429) || items[0].(map[string]any)["headers"].(map[string]any)["Retry-After"] != "2" || items[1].(map[string]any)["status"] != float64(200) {
		t.Fatalf("batch with throttled item: %s", r.raw)
	}
	if len(seen) != 3 || seen[0] != "POST /v1.0/$batch" {
		t.Fatalf("middleware saw %v", seen)
	}
}

func TestUsersDelta(t *testing.T) {
	e := newEnv(t)
	// Initial round with paging: nextLink until deltaLink.
	link := "/v1.0/users/delta?$select=displayName,userPrincipalName"
	var delta string
	n := 0
	for link != "" {
		r := e.do("GET", link, e.all, nil, "Prefer", "odata.maxpagesize=2")
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		n += len(r.values())
		link, _ = r.body["@odata.nextLink"].(string)
		if d, ok := r.body["@odata.deltaLink"].(string); ok {
			delta = d
		}
	}
	if n != 4 || !strings.Contains(delta, "$deltatoken=") {
		t.Fatalf("initial round: %d users, deltaLink %q", n, delta)
	}
	// No change: empty value.
	if r := e.do("GET", delta, e.all, nil); len(r.values()) != 0 || r.body["@odata.deltaLink"] == nil {
		t.Fatalf("no change: %s", r.raw)
	}
	// Create, update, soft-delete and purge.
	created := e.do("POST", "/v1.0/users", e.all, newUserBody("delta@contoso.com")).body["id"].(string)
	e.do("PATCH", "/v1.0/users/Adams@contoso.com", e.all, map[string]any{"displayName": "Adams Room"})
	e.do("DELETE", "/v1.0/users/alice@fabrikam.com", e.all, nil)
	adminID := e.do("GET", "/v1.0/users/"+adminUPN, e.all, nil).body["id"].(string)
	e.do("DELETE", "/v1.0/users/"+adminID, e.all, nil)
	e.do("DELETE", "/v1.0/directory/deletedItems/"+adminID, e.all, nil)
	r := e.do("GET", delta, e.all, nil)
	byID := map[string]map[string]any{}
	for _, v := range r.values() {
		byID[v["id"].(string)] = v
	}
	if len(byID) != 4 || byID[created]["userPrincipalName"] != "delta@contoso.com" || byID["6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0"]["displayName"] != "Adams Room" ||
		byID[adminID]["@removed"].(map[string]any)["reason"] != "deleted" {
		t.Fatalf("changes: %s", r.raw)
	}
	removedChanged := 0
	for _, v := range byID {
		if rm, ok := v["@removed"].(map[string]any); ok && rm["reason"] == "changed" {
			removedChanged++
		}
	}
	if removedChanged != 1 {
		t.Fatalf("soft delete must be @removed changed: %s", r.raw)
	}
	// $deltatoken=latest starts from now.
	r = e.do("GET", "/v1.0/users/delta?$deltatoken=latest", e.all, nil)
	if len(r.values()) != 0 || r.body["@odata.deltaLink"] == nil {
		t.Fatalf("latest: %s", r.raw)
	}
	latest := r.body["@odata.deltaLink"].(string)
	e.do("PATCH", "/v1.0/users/"+created, e.all, map[string]any{"jobTitle": "x"})
	if r := e.do("GET", latest, e.all, nil); len(r.values()) != 1 {
		t.Fatalf("after latest: %s", r.raw)
	}
	expectError(t, e.do("GET", "/v1.0/users/delta?$deltatoken=garbage", e.all, nil), 410, "syncStateNotFound", "full synchronization")
}

func TestGroupsDelta(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/v1.0/groups/delta", e.all, nil)
	if r.status != 200 || len(r.values()) != 2 {
		t.Fatalf("initial: %s", r.raw)
	}
	var hr map[string]any
	for _, g := range r.values() {
		if g["displayName"] == "HR Taskforce" {
			hr = g
		}
	}
	md, _ := hr["members@delta"].([]any)
	if len(md) != 1 || md[0].(map[string]any)["@odata.type"] != "#microsoft.graph.user" {
		t.Fatalf("members@delta initial: %s", r.raw)
	}
	delta := r.body["@odata.deltaLink"].(string)
	gid := "02bd9fd6-8f93-4758-87c3-1fb73740a315"
	newUser := e.do("POST", "/v1.0/users", e.all, newUserBody("gm@contoso.com")).body["id"].(string)
	e.do("POST", "/v1.0/groups/"+gid+"/members/$ref", e.all, map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + newUser})
	e.do("DELETE", "/v1.0/groups/"+gid+"/members/6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0/$ref", e.all, nil)
	r = e.do("GET", delta, e.all, nil)
	if len(r.values()) != 1 {
		t.Fatalf("changes: %s", r.raw)
	}
	md, _ = r.values()[0]["members@delta"].([]any)
	if len(md) != 2 {
		t.Fatalf("members@delta: %s", r.raw)
	}
	added, removed := md[0].(map[string]any), md[1].(map[string]any)
	if added["id"] != newUser || added["@removed"] != nil || removed["id"] != "6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0" || removed["@removed"].(map[string]any)["reason"] != "deleted" {
		t.Fatalf("members@delta entries: %s", r.raw)
	}
	// Deleting the security group shows it as deleted.
	next := r.body["@odata.deltaLink"].(string)
	sec := e.do("GET", "/v1.0/groups?$filter="+url.QueryEscape("displayName eq 'Office 365 Users'"), e.all, nil).values()[0]["id"].(string)
	e.do("DELETE", "/v1.0/groups/"+sec, e.all, nil)
	r = e.do("GET", next, e.all, nil)
	if len(r.values()) != 1 || r.values()[0]["@removed"].(map[string]any)["reason"] != "deleted" {
		t.Fatalf("group deletion: %s", r.raw)
	}
}

func TestGzipRequestBody(t *testing.T) {
	// Kiota's compression handler gzips request bodies by default.
	e := newEnv(t)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	raw, _ := json.Marshal(newUserBody("gz@contoso.com"))
	zw.Write(raw)
	zw.Close()
	req, _ := http.NewRequest("POST", e.hs.URL+"/v1.0/users", &buf)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Authorization", "Bearer "+e.all)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("gzip body: %d", res.StatusCode)
	}
	req, _ = http.NewRequest("POST", e.hs.URL+"/v1.0/users", strings.NewReader("x"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "br")
	req.Header.Set("Authorization", "Bearer "+e.all)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 415 {
		t.Fatalf("brotli body: %d", res.StatusCode)
	}
}
