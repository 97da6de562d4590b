package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/requestid"
)

type settings struct {
	ClientID         string   `json:"clientId,omitempty"`
	MSOnlineUsername string   `json:"msOnlineUsername,omitempty"`
	MSOnlinePassword []byte   `json:"msOnlinePasswordSealed,omitempty"`
	Domains          []string `json:"domains"`
}

type app struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Enabled   bool      `json:"enabled"`
	Office365 *settings `json:"office365,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func TestDiff(t *testing.T) {
	before := app{ID: "a1", Name: "Office", Enabled: true, UpdatedAt: time.Unix(1, 0),
		Office365: &settings{ClientID: "c1", MSOnlineUsername: "admin@x.onmicrosoft.com", Domains: []string{"a.com"}}}
	after := before
	o := *before.Office365
	after.Office365 = &o
	after.Name, after.Enabled, after.UpdatedAt = "Office 365", false, time.Unix(2, 0)
	o.MSOnlinePassword, o.Domains = []byte("sealed-bytes"), []string{"a.com", "b.com"}

	got := Diff(before, after)
	want := map[string]Change{
		"name":                             {"Office", "Office 365"},
		"enabled":                          {true, false},
		"office365.domains":                {[]any{"a.com"}, []any{"a.com", "b.com"}},
		"office365.msOnlinePasswordSealed": {nil, Redacted},
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Fatalf("Diff =\n%s\nwant\n%s", gj, wj)
	}

	// A creation lists every field, secrets redacted, never their values.
	created := Diff(nil, after)
	if created["name"].After != "Office 365" || created["office365.clientId"].After != "c1" {
		t.Fatalf("creation: %v", created)
	}
	if created["office365.msOnlinePasswordSealed"].After != Redacted || created["office365.msOnlineUsername"].After != "admin@x.onmicrosoft.com" {
		t.Fatalf("creation secrets: %v", created)
	}
	if _, ok := created["updatedAt"]; ok {
		t.Fatal("noise field recorded")
	}
	b, _ := json.Marshal(created)
	if strings.Contains(string(b), "sealed-bytes") || strings.Contains(string(b), base64.StdEncoding.EncodeToString([]byte("sealed-bytes"))) {
		t.Fatalf("secret value in the log: %s", b)
	}
	// A deletion keeps the last values; a nil pointer is nothing.
	if d := Diff(before, (*app)(nil)); d["name"].Before != "Office" || d["name"].After != nil {
		t.Fatalf("deletion: %v", d)
	}
	if Diff(before, before) != nil {
		t.Fatal("no change reported as a change")
	}
	// Absent and empty are the same to a reader.
	if d := Diff(map[string]any{"a": ""}, map[string]any{}); d != nil {
		t.Fatalf("empty vs absent: %v", d)
	}
}

func TestIsSecret(t *testing.T) {
	for field, want := range map[string]bool{
		"password": true, "passwordHash": true, "office365.msOnlinePassword": true, "office365.msOnlinePasswordSealed": true,
		"totpSecret": true, "recoveryHashes": true, "keySealed": true, "privateKey": true, "hash": true, "tokenHash": true,
		"office365.msOnlineUsername": false, "passwordChangedAt": false, "name": false, "office365.clientId": false,
		"userPrincipalName": false, "email": false,
	} {
		if IsSecret(field) != want {
			t.Errorf("IsSecret(%q) = %v", field, !want)
		}
	}
	if c := Set("password", "old", "new"); c["password"].Before != Redacted || c["password"].After != Redacted {
		t.Fatalf("Set password: %v", c)
	}
	if c := Set("totpSecret", nil, ""); c["totpSecret"].Before != nil || c["totpSecret"].After != nil {
		t.Fatalf("Set unset secret: %v", c)
	}
	if c := Set("members", nil, "u1"); c["members"].After != "u1" {
		t.Fatalf("Set: %v", c)
	}
}

func TestNewTakesActorFromContext(t *testing.T) {
	ctx := authz.With(requestid.With(context.Background(), "req-1"), authz.Principal{Kind: authz.KindAPIToken, ID: "tok",
		Name: "ci", Role: authz.Helpdesk, TenantID: "t1", Address: "192.0.2.1", UserAgent: "curl/8"})
	e := New(ctx, "t1", "user.password.set", Object{Type: "user", ID: "u1", Name: "ann"})
	if e.Actor != (Actor{Kind: "apiToken", ID: "tok", Name: "ci", Role: "helpdesk"}) || e.Address != "192.0.2.1" ||
		e.UserAgent != "curl/8" || e.RequestID != "req-1" || e.Outcome != Success || e.TenantID != "t1" {
		t.Fatalf("event %+v", e)
	}
}
