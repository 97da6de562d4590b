package wsfed_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/idp/idptest"
	"github.com/portico-idp/portico/internal/signin"
	"github.com/portico-idp/portico/internal/storage"
)

// lastSignin returns the newest sign-in event of the audit log.
func lastSignin(t *testing.T, e *idptest.Env) audit.Event {
	t.Helper()
	evs, _, err := e.Store.ListAuditEvents(idptest.Ctx, audit.Filter{Action: "signin"}, storage.Page{Limit: 1})
	if err != nil || len(evs) == 0 {
		t.Fatalf("no sign-in in the audit log (%v)", err)
	}
	return evs[0]
}

func factors(e audit.Event) []string {
	var out []string
	list, _ := e.Details["factors"].([]any)
	for _, f := range list {
		out = append(out, f.(string))
	}
	return out
}

// TestSigninsAreAudited: every outcome of the login pages is in the audit
// log — a success with the application and the factors, each failure with
// its reason — and the reason never reaches the person signing in.
func TestSigninsAreAudited(t *testing.T) {
	e := idptest.New(t, idptest.Options{Limits: &signin.Limits{Unfamiliar: 3, Familiar: 3, PerClient: 1000, Window: 15 * time.Minute}})
	u := e.AddUser(idptest.UserSpec{Username: "john.smith"})
	start := func(name string) string { return e.WSFedURL(idptest.SignInQuery(name, "ctx")) }

	b := e.Browser()
	f := b.SignIn(start(u.UPN), u)
	if f.Post == nil {
		t.Fatalf("sign-in did not finish: %s", f.Last)
	}
	ev := lastSignin(t, e)
	if ev.Outcome != audit.Success || ev.Object.ID != u.ID || ev.Object.Name != u.Username || ev.AppID != e.App.ID ||
		ev.TenantID != e.Tenant.ID || ev.Actor.Kind != audit.ActorUser || ev.Address != "127.0.0.1" || ev.UserAgent == "" ||
		ev.RequestID == "" || ev.Details["protocol"] != "wsfed" || ev.Details["application"] != e.App.Name ||
		!slices.Equal(factors(ev), []string{"password", "totp"}) {
		t.Fatalf("success event %+v", ev)
	}
	// Single sign-on from the session is a sign-in too.
	if f := b.SignIn(start(u.UPN), u); f.Post == nil || len(f.Steps) != 0 {
		t.Fatalf("single sign-on: %v %s", f.Steps, f.Last)
	}
	if ev := lastSignin(t, e); ev.Outcome != audit.Success || !slices.Equal(factors(ev), []string{"session", "totp"}) {
		t.Fatalf("single sign-on event %+v", ev)
	}

	notMember := e.AddUser(idptest.UserSpec{Username: "outsider", NotMember: true})
	suspended := e.AddUser(idptest.UserSpec{Username: "gone"})
	e.SetUserStatus(suspended, directory.StatusSuspended)
	pending := e.AddUser(idptest.UserSpec{Username: "newbie"})
	e.SetUserStatus(pending, directory.StatusPending)
	wrongPassword, wrongCode := *u, *u
	wrongPassword.Password = "not the password"
	wrongCode.TOTPSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	unknown := idptest.User{User: directory.User{Username: "nobody", UPN: "Nobody@contoso.com"}, Password: "whatever it is"}
	noPassword := e.AddUser(idptest.UserSpec{Username: "nopass"})
	if _, err := e.Store.UpdateCredentials(idptest.Ctx, e.Tenant.ID, noPassword.ID, func(c authn.Credentials) (authn.Credentials, error) {
		c.PasswordHash = ""
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	// Failures at the password step keep the name typed (the UPN here);
	// at the code step the user is known by username.
	for _, c := range []struct {
		user   *idptest.User
		reason string
		id     string
	}{
		// A failed password check names no user (the name typed is kept).
		{&wrongPassword, signin.ReasonWrongPassword, ""},
		{&unknown, signin.ReasonUnknownUser, ""},
		{noPassword, signin.ReasonNoPassword, ""},
		{&wrongCode, signin.ReasonWrongCode, u.ID},
		{notMember, signin.ReasonNotPermitted, notMember.ID},
		{suspended, signin.ReasonSuspended, suspended.ID},
		{pending, signin.ReasonPending, pending.ID},
	} {
		f := e.Browser().SignIn(start(c.user.UPN), c.user)
		if f.Post != nil {
			t.Fatalf("%s: signed in", c.reason)
		}
		name := strings.ToLower(c.user.UPN)
		if c.reason == signin.ReasonWrongCode {
			name = c.user.Username
		}
		ev := lastSignin(t, e)
		if ev.Outcome != audit.Failure || ev.Reason != c.reason || ev.Object.ID != c.id || ev.Object.Name != name ||
			ev.AppID != e.App.ID || ev.Details["factors"] != nil {
			t.Errorf("%s: event %+v", c.reason, ev)
		}
		page := strings.ToLower(f.Last.Text())
		for _, secret := range []string{c.reason, "unknown user", "wrong password", "no password"} {
			if strings.Contains(page, secret) {
				t.Errorf("%s: the page tells the person %q: %s", c.reason, secret, page)
			}
		}
	}
	// The third failure under one name locks it: the next attempt, even
	// with the right password, is refused as locked.
	for range 3 {
		e.Browser().SignIn(start(u.UPN), &wrongPassword)
	}
	e.Browser().SignIn(start(u.UPN), u)
	if ev := lastSignin(t, e); ev.Reason != signin.ReasonLocked {
		t.Fatalf("locked: %+v", ev)
	}
	// Refusals while locked cost the client nothing: they are recorded once
	// per address in the throttling window, not once per request.
	for range 5 {
		e.Browser().SignIn(start(u.UPN), u)
	}
	locked, _, err := e.Store.ListAuditEvents(idptest.Ctx, audit.Filter{Action: "signin", Outcome: audit.Failure}, storage.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range locked {
		if ev.Reason == signin.ReasonLocked {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d locked events for one address in one window; want 1", n)
	}
	e.Clock.Add(16 * time.Minute)
	for range 4 {
		e.Browser().SignIn(start(u.UPN), &wrongPassword)
	}
	if ev := lastSignin(t, e); ev.Reason != signin.ReasonLocked {
		t.Fatalf("locked again in the next window: %+v", ev)
	}
	// An administrator finds a user's attempts by name, unknown ones too.
	evs, _, err := e.Store.ListAuditEvents(idptest.Ctx, audit.Filter{User: "nobody@contoso.com", Action: "signin"}, storage.Page{})
	if err != nil || len(evs) != 1 || evs[0].Reason != signin.ReasonUnknownUser {
		t.Fatalf("by name: %v %+v", err, evs)
	}
}
