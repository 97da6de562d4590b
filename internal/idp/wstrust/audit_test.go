package wstrust_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/idp/idptest"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/storage"
)

// TestSigninsAreAudited: WS-Trust sign-ins are in the audit log like the
// browser's: successes with the password as the only factor, refusals
// with their reason (never sent to the client).
func TestSigninsAreAudited(t *testing.T) {
	e := idptest.New(t, idptest.Options{}) // the default policy asks for a TOTP code
	u := e.AddUser(idptest.UserSpec{Username: "john.smith"})
	ep := usernameMixedURL(e)
	last := func() audit.Event {
		t.Helper()
		evs, _, err := e.Store.ListAuditEvents(idptest.Ctx, audit.Filter{Action: "signin"}, storage.Page{Limit: 1})
		if err != nil || len(evs) == 0 {
			t.Fatalf("no sign-in event (%v)", err)
		}
		return evs[0]
	}
	s, body, _ := call(t, e, ep, idptest.WSTrustRequest{Username: u.UPN, Password: u.Password})
	if s != http.StatusBadRequest || strings.Contains(string(body), signin.ReasonMFARequired) {
		t.Fatalf("status %d: %s", s, body)
	}
	if ev := last(); ev.Outcome != audit.Failure || ev.Reason != signin.ReasonMFARequired || ev.Object.Name != u.UPN ||
		ev.Details["protocol"] != "wstrust" {
		t.Fatalf("second factor required: %+v", ev)
	}
	e.UpdateApp(func(a *apps.Application) { a.AllowPasswordOnlyActive = true })
	if s, _, _ = call(t, e, ep, idptest.WSTrustRequest{Username: u.UPN, Password: u.Password}); s != http.StatusOK {
		t.Fatalf("status %d", s)
	}
	ev := last()
	var fs []string
	for _, f := range ev.Details["factors"].([]any) {
		fs = append(fs, f.(string))
	}
	if ev.Outcome != audit.Success || ev.Object.ID != u.ID || ev.AppID != e.App.ID || !slices.Equal(fs, []string{"password"}) {
		t.Fatalf("success: %+v", ev)
	}
	for _, c := range []struct {
		name, password, reason string
	}{
		{u.UPN, "wrong", signin.ReasonWrongPassword},
		{"nobody@contoso.com", "wrong", signin.ReasonUnknownUser},
	} {
		s, body, _ = call(t, e, ep, idptest.WSTrustRequest{Username: c.name, Password: c.password})
		if s != http.StatusBadRequest {
			t.Fatalf("%s: status %d", c.reason, s)
		}
		if ev := last(); ev.Outcome != audit.Failure || ev.Reason != c.reason || ev.Object.Name != c.name {
			t.Fatalf("%s: %+v", c.reason, ev)
		}
		if strings.Contains(string(body), c.reason) || strings.Contains(string(body), "unknown user") {
			t.Fatalf("%s: the fault tells the client: %s", c.reason, body)
		}
	}
}
