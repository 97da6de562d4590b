package api

import (
	"context"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"
)

func TestApplicationsAPI(t *testing.T) {
	e := newEnv(t)
	tb := "/api/v1/tenants/alpha"
	r := e.do("GET", "/api/v1/library", e.tokA, nil)
	want(t, r, 200)
	if !strings.Contains(string(r.body), `"kind":"office365"`) || !strings.Contains(string(r.body), `"enforceMfaByFederatedIdp":"When Microsoft 365 needs a second factor`) {
		t.Fatalf("library %s", r.body)
	}
	gid := e.do("POST", tb+"/groups", e.tokA, map[string]string{"name": "Office 365 Users"}).json(t)["id"].(string)
	r = e.do("POST", tb+"/applications", e.tokA, map[string]any{"permissionGroupIds": []string{gid}})
	want(t, r, 201)
	app := r.json(t)
	id := app["id"].(string)
	if app["name"] != "Office 365" || app["enabled"] != true || app["kind"] != "office365" || app["authenticationPolicyId"] == "" {
		t.Fatalf("created %s", r.body)
	}
	// The default policy asks for a second factor (the seed guide's 2FA).
	pol := e.do("GET", tb+"/policies/"+app["authenticationPolicyId"].(string), e.tokA, nil).json(t)
	if pol["secondFactor"] != "totp" {
		t.Fatalf("default policy %v", pol)
	}

	// Certificates: one current, thumbprint as the Azure portal shows it.
	r = e.do("GET", tb+"/applications/"+id+"/certificates", e.tokA, nil)
	want(t, r, 200)
	var certs struct{ Items []certificateJSON }
	if err := jsonUnmarshal(r.body, &certs); err != nil || len(certs.Items) != 1 || certs.Items[0].Role != "current" {
		t.Fatalf("certificates %s", r.body)
	}
	c := certs.Items[0]
	if len(c.ThumbprintSHA1) != 40 || strings.ToUpper(c.ThumbprintSHA1) != c.ThumbprintSHA1 {
		t.Fatalf("thumbprint %q", c.ThumbprintSHA1)
	}
	r = e.do("GET", tb+"/applications/"+id+"/certificates/"+c.ID+"/download", e.tokA, nil)
	want(t, r, 200)
	sum := sha1.Sum(r.body)
	if strings.ToUpper(hex.EncodeToString(sum[:])) != c.ThumbprintSHA1 || r.header.Get("Content-Type") != "application/pkix-cert" {
		t.Fatal("downloaded .cer does not have the listed thumbprint")
	}
	if _, err := x509.ParseCertificate(r.body); err != nil {
		t.Fatal(err)
	}
	r = e.do("GET", tb+"/applications/"+id+"/certificates/"+c.ID+"/download?format=pem", e.tokA, nil)
	if b, _ := pem.Decode(r.body); b == nil || b.Type != "CERTIFICATE" || strings.Contains(string(r.body), "PRIVATE") {
		t.Fatalf("pem download %s", r.body)
	}
	want(t, e.do("GET", tb+"/applications/"+id+"/certificates/"+c.ID+"/download?format=pfx", e.tokA, nil), 400)
	want(t, e.do("GET", "/api/v1/tenants/beta/applications/"+id+"/certificates", e.tokB, nil), 404)

	// Rollover: next, then promote.
	r = e.do("POST", tb+"/applications/"+id+"/certificates/next", e.tokA, nil)
	want(t, r, 200)
	jsonUnmarshal(r.body, &certs)
	if len(certs.Items) != 2 || certs.Items[1].Role != "next" {
		t.Fatalf("after next: %s", r.body)
	}
	r = e.do("POST", tb+"/applications/"+id+"/certificates/promote", e.tokA, nil)
	want(t, r, 200)
	jsonUnmarshal(r.body, &certs)
	if certs.Items[0].Role != "retired" || certs.Items[1].Role != "current" {
		t.Fatalf("after promote: %s", r.body)
	}
	keys, err := e.svc.SigningKeys(context.Background(), e.tenantID(t, "alpha"), id)
	if err != nil || keys.Current.ThumbprintSHA1() != certs.Items[1].ThumbprintSHA1 {
		t.Fatalf("signing key after promote: %v", err)
	}
	want(t, e.do("POST", tb+"/applications/"+id+"/certificates/promote", e.tokA, nil), 409) // nothing to promote

	// Changes, and bad input named.
	r = e.do("PATCH", tb+"/applications/"+id, e.tokA, map[string]any{"enabled": false, "office365": map[string]any{"domains": []string{"contoso.com"}}})
	want(t, r, 200)
	if r.json(t)["enabled"] != false || !strings.Contains(string(r.body), `"domains":[{"name":"contoso.com"`) ||
		!strings.Contains(string(r.body), `"federateAutomatically":true`) {
		t.Fatalf("patched %s", r.body)
	}
	for _, c := range []struct {
		body   any
		status int
		field  string
	}{
		{map[string]any{"permissionGroupIds": []string{"nope"}}, 422, "permissionGroupIds"},
		{map[string]any{"authenticationPolicyId": "nope"}, 422, "authenticationPolicyId"},
		{map[string]any{"kind": "salesforce"}, 422, "kind"},
		{map[string]any{"colour": "red"}, 400, "colour"},
		{map[string]any{"office365": map[string]any{"loginUrl": "http://evil.example.com/login.srf"}}, 422, "office365.loginUrl"},
		{map[string]any{"office365": map[string]any{"domains": []string{"not a domain"}}}, 422, "office365.domains"},
		{map[string]any{"name": ""}, 422, "name"},
		// Blind SSRF: only Microsoft's clouds unless the server allows more.
		{map[string]any{"office365": map[string]any{"authorityUrl": "https://127.0.0.1:8443"}}, 422, "office365.authorityUrl"},
		{map[string]any{"office365": map[string]any{"graphUrl": "https://169.254.169.254/latest"}}, 422, "office365.graphUrl"},
	} {
		r := e.do("PATCH", tb+"/applications/"+id, e.tokA, c.body)
		if r.status != c.status {
			t.Fatalf("%v: %d %s", c.body, r.status, r.body)
		}
		eqFields(t, r.problemFields(t), c.field)
	}
	want(t, e.do("PATCH", tb+"/applications/"+id, e.tokA, map[string]any{"office365": map[string]any{"loginUrl": "https://127.0.0.1:8443/login.srf"}}), 200)
	want(t, e.do("PATCH", tb+"/applications/"+id, e.tokA, map[string]any{"office365": map[string]any{
		"authorityUrl": "https://login.microsoftonline.us", "graphUrl": "https://graph.microsoft.us/v1.0", "allowSha1Requests": true}}), 200)
	want(t, e.do("DELETE", tb+"/applications/"+id, e.tokA, nil), 204)
	want(t, e.do("GET", tb+"/applications/"+id+"/certificates", e.tokA, nil), 404)
}

func TestPoliciesAndCredentialsAPI(t *testing.T) {
	e := newEnv(t)
	tb := "/api/v1/tenants/alpha"
	r := e.do("POST", tb+"/policies", e.tokA, map[string]any{"name": "Kiosk", "secondFactor": "none", "sessionIdleMinutes": 5, "sessionMaxMinutes": 60})
	want(t, r, 201)
	pid := r.json(t)["id"].(string)
	r = e.do("POST", tb+"/policies", e.tokA, map[string]any{"name": "Bad", "secondFactor": "sms"})
	want(t, r, 422)
	eqFields(t, r.problemFields(t), "secondFactor")
	r = e.do("POST", tb+"/policies", e.tokA, map[string]any{"name": "Bad", "sessionIdleMinutes": 600, "sessionMaxMinutes": 60})
	want(t, r, 422)
	eqFields(t, r.problemFields(t), "sessionIdleMinutes")
	r = e.do("POST", tb+"/policies", e.tokA, map[string]any{"name": "kiosk"})
	want(t, r, 409)
	r = e.do("PATCH", tb+"/policies/"+pid, e.tokA, map[string]any{"sessionIdleMinutes": 10})
	want(t, r, 200)
	if r.json(t)["sessionIdleMinutes"] != 10.0 {
		t.Fatalf("patched policy %s", r.body)
	}
	want(t, e.do("POST", tb+"/applications", e.tokA, map[string]any{"authenticationPolicyId": pid}), 201)
	want(t, e.do("DELETE", tb+"/policies/"+pid, e.tokA, nil), 409)

	uid := e.do("POST", tb+"/users", e.tokA, map[string]string{"username": "ann"}).json(t)["id"].(string)
	r = e.do("PUT", tb+"/users/"+uid+"/password", e.tokA, map[string]string{"password": "short"})
	want(t, r, 422)
	eqFields(t, r.problemFields(t), "password")
	r = e.do("PUT", tb+"/users/"+uid+"/password", e.tokA, map[string]string{"pass": "x"})
	want(t, r, 400)
	eqFields(t, r.problemFields(t), "pass")
	want(t, e.do("PUT", tb+"/users/"+uid+"/password", e.tokA, map[string]string{"password": "a long passphrase"}), 204)
	if _, err := e.signin.CheckPassword(context.Background(), e.tenantID(t, "alpha"), "ann", "a long passphrase", "t"); err != nil {
		t.Fatalf("password set through the API does not sign in: %v", err)
	}
	want(t, e.do("PUT", "/api/v1/tenants/beta/users/"+uid+"/password", e.tokB, map[string]string{"password": "a long passphrase"}), 404)
	want(t, e.do("DELETE", tb+"/users/"+uid+"/totp", e.tokA, nil), 204)
	r = e.do("DELETE", tb+"/users/"+uid+"/sessions", e.tokA, nil)
	want(t, r, 200)
	want(t, e.do("DELETE", tb+"/users/nope/sessions", e.tokA, nil), 404)
}
