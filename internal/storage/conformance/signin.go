package conformance

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/storage"
)

func mustPolicy(t *testing.T, s storage.Storage, tenantID, name string, f authn.SecondFactor) authn.Policy {
	t.Helper()
	p := authn.Policy{ID: newID(), TenantID: tenantID, Name: name, SecondFactor: f, SessionIdle: time.Hour, SessionMax: 12 * time.Hour,
		CreatedAt: now(), UpdatedAt: now()}
	ok(t, s.CreatePolicy(context.Background(), p))
	p.Version = 1
	return p
}

func testPolicies(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "policies")
	p := mustPolicy(t, s, tn.ID, "Password + TOTP", authn.FactorTOTP)
	got, err := s.GetPolicy(ctx, tn.ID, p.ID)
	ok(t, err)
	if got != p {
		t.Fatalf("GetPolicy = %+v; want %+v", got, p)
	}
	dup := p
	dup.ID = newID()
	dup.Name = "password + totp"
	wantDuplicate(t, s.CreatePolicy(ctx, dup), "name")
	mustPolicy(t, s, tn.ID, "Password only", authn.FactorNone)
	list, err := s.ListPolicies(ctx, tn.ID)
	ok(t, err)
	eq(t, "policies", len(list), 2)
	eq(t, "first by name", list[0].Name, "Password + TOTP")
	upd, err := s.UpdatePolicy(ctx, tn.ID, p.ID, func(o authn.Policy) (authn.Policy, error) {
		o.SessionIdle = 30 * time.Minute
		return o, nil
	})
	ok(t, err)
	eq(t, "policy version", upd.Version, int64(2))
	got, _ = s.GetPolicy(ctx, tn.ID, p.ID)
	eq(t, "idle", got.SessionIdle, 30*time.Minute)

	app := newApp(tn.ID, p.ID)
	ok(t, s.CreateApplication(ctx, app))
	wantIs(t, s.DeletePolicy(ctx, tn.ID, p.ID), storage.ErrInUse)
	ok(t, s.DeleteApplication(ctx, tn.ID, app.ID))
	ok(t, s.DeletePolicy(ctx, tn.ID, p.ID))
	_, err = s.GetPolicy(ctx, tn.ID, p.ID)
	wantIs(t, err, storage.ErrNotFound)
}

func testCredentials(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "creds")
	o := mustOrg(t, s, tn.ID, "Contoso", "@contoso.com")
	u := mustUser(t, s, tn.ID, o, "john")
	_, err := s.GetCredentials(ctx, tn.ID, u.ID)
	wantIs(t, err, storage.ErrNotFound)

	c, err := s.UpdateCredentials(ctx, tn.ID, u.ID, func(c authn.Credentials) (authn.Credentials, error) {
		eq(t, "version of a new record", c.Version, int64(0))
		c.PasswordHash = "$argon2id$test"
		c.PasswordChangedAt = now()
		c.UpdatedAt = now()
		return c, nil
	})
	ok(t, err)
	eq(t, "created version", c.Version, int64(1))
	_, err = s.UpdateCredentials(ctx, tn.ID, u.ID, func(c authn.Credentials) (authn.Credentials, error) {
		c.TOTPSecret = []byte{1, 2, 3}
		c.TOTPEnrolledAt = now()
		c.TOTPLastStep = 100
		c.RecoveryHashes = []string{"a", "b"}
		c.UpdatedAt = now()
		return c, nil
	})
	ok(t, err)
	got, err := s.GetCredentials(ctx, tn.ID, u.ID)
	ok(t, err)
	if got.PasswordHash != "$argon2id$test" || !got.HasTOTP() || got.TOTPLastStep != 100 || len(got.RecoveryHashes) != 2 ||
		got.Version != 2 || got.TOTPEnrolledAt.IsZero() {
		t.Fatalf("credentials = %+v", got)
	}
	// A user without password: zero times come back zero.
	u2 := mustUser(t, s, tn.ID, o, "pending")
	_, err = s.UpdateCredentials(ctx, tn.ID, u2.ID, func(c authn.Credentials) (authn.Credentials, error) {
		c.UpdatedAt = now()
		return c, nil
	})
	ok(t, err)
	got, _ = s.GetCredentials(ctx, tn.ID, u2.ID)
	if !got.PasswordChangedAt.IsZero() || got.HasTOTP() || got.PasswordHash != "" {
		t.Fatalf("empty credentials = %+v", got)
	}
	// No such user.
	_, err = s.UpdateCredentials(ctx, tn.ID, newID(), func(c authn.Credentials) (authn.Credentials, error) { return c, nil })
	wantIs(t, err, storage.ErrNotFound)
	// Deleting the user deletes the credentials.
	ok(t, s.DeleteUser(ctx, tn.ID, u.ID))
	_, err = s.GetCredentials(ctx, tn.ID, u.ID)
	wantIs(t, err, storage.ErrNotFound)
}

// testTOTPReplayRace: two sign-ins present the same TOTP code at once;
// compare-and-swap on the last used step lets exactly one through.
func testTOTPReplayRace(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "totp-race")
	o := mustOrg(t, s, tn.ID, "Contoso", "@contoso.com")
	u := mustUser(t, s, tn.ID, o, "john")
	_, err := s.UpdateCredentials(ctx, tn.ID, u.ID, func(c authn.Credentials) (authn.Credentials, error) {
		c.TOTPSecret, c.TOTPLastStep, c.UpdatedAt = []byte("x"), 10, now()
		return c, nil
	})
	ok(t, err)
	var read sync.WaitGroup
	read.Add(2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.UpdateCredentials(ctx, tn.ID, u.ID, func(c authn.Credentials) (authn.Credentials, error) {
				read.Done()
				read.Wait()
				if c.TOTPLastStep >= 11 {
					return c, errors.New("replayed")
				}
				c.TOTPLastStep = 11
				return c, nil
			})
		}()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("both or neither use of one code succeeded: %v / %v", errs[0], errs[1])
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("loser: %v", err)
		}
	}
}

func testSessions(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "sessions")
	o := mustOrg(t, s, tn.ID, "Contoso", "@contoso.com")
	u := mustUser(t, s, tn.ID, o, "john")
	_, hash, err := authn.NewToken(nil)
	ok(t, err)
	x := authn.Session{ID: newID(), TenantID: tn.ID, UserID: u.ID, TokenHash: hash, CreatedAt: now(), LastSeenAt: now(),
		ExpiresAt: now().Add(8 * time.Hour), IdleTimeout: time.Hour, PasswordAt: now()}
	ok(t, s.CreateSession(ctx, x))
	got, err := s.GetSessionByToken(ctx, hash)
	ok(t, err)
	if got.ID != x.ID || !got.MFAAt.IsZero() || !got.RevokedAt.IsZero() || got.IdleTimeout != time.Hour || !got.Active(now()) {
		t.Fatalf("session = %+v", got)
	}
	got, err = s.UpdateSession(ctx, x.ID, func(o authn.Session) (authn.Session, error) {
		o.MFAAt = now()
		o.LastSeenAt = now()
		return o, nil
	})
	ok(t, err)
	eq(t, "session version", got.Version, int64(2))
	got, _ = s.GetSessionByToken(ctx, hash)
	if got.MFAAt.IsZero() {
		t.Fatal("MFA time not stored")
	}
	n, err := s.RevokeUserSessions(ctx, tn.ID, u.ID, now())
	ok(t, err)
	eq(t, "revoked", n, int64(1))
	got, _ = s.GetSessionByToken(ctx, hash)
	if got.Active(now()) {
		t.Fatal("revoked session still active")
	}
	_, err = s.GetSessionByToken(ctx, []byte("nope"))
	wantIs(t, err, storage.ErrNotFound)
	// Expiry housekeeping.
	_, h2, _ := authn.NewToken(nil)
	old := authn.Session{ID: newID(), TenantID: tn.ID, UserID: u.ID, TokenHash: h2, CreatedAt: now().Add(-48 * time.Hour),
		LastSeenAt: now().Add(-48 * time.Hour), ExpiresAt: now().Add(-time.Hour), IdleTimeout: time.Hour}
	ok(t, s.CreateSession(ctx, old))
	ok(t, s.DeleteExpired(ctx, now()))
	_, err = s.GetSessionByToken(ctx, h2)
	wantIs(t, err, storage.ErrNotFound)
	_, err = s.GetSessionByToken(ctx, hash)
	ok(t, err)
}

func testLoginFlows(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "flows")
	f := authn.LoginFlow{ID: newID(), TenantID: tn.ID, AppID: "app", Protocol: "wsfed", Request: []byte(`{"wctx":"x"}`),
		UsernameHint: "john@contoso.com", ForceFresh: true, RequireMFA: true, BindingHash: []byte{9}, CSRF: "c",
		Step: authn.StepUsername, CreatedAt: now(), ExpiresAt: now().Add(15 * time.Minute)}
	ok(t, s.CreateLoginFlow(ctx, f))
	got, err := s.GetLoginFlow(ctx, f.ID)
	ok(t, err)
	if got.Protocol != "wsfed" || string(got.Request) != `{"wctx":"x"}` || !got.ForceFresh || !got.RequireMFA || got.Step != authn.StepUsername ||
		got.UsernameHint != "john@contoso.com" || !got.PasswordAt.IsZero() || got.PendingTOTP != nil {
		t.Fatalf("flow = %+v", got)
	}
	got, err = s.UpdateLoginFlow(ctx, f.ID, func(o authn.LoginFlow) (authn.LoginFlow, error) {
		o.Step, o.Username, o.UserID, o.PasswordAt, o.PendingTOTP = authn.StepEnrol, "john", "u1", now(), []byte{1}
		return o, nil
	})
	ok(t, err)
	got, _ = s.GetLoginFlow(ctx, f.ID)
	if got.Step != authn.StepEnrol || got.UserID != "u1" || got.PasswordAt.IsZero() || len(got.PendingTOTP) != 1 || got.Version != 2 {
		t.Fatalf("updated flow = %+v", got)
	}
	ok(t, s.DeleteLoginFlow(ctx, f.ID))
	_, err = s.GetLoginFlow(ctx, f.ID)
	wantIs(t, err, storage.ErrNotFound)
	expired := f
	expired.ID, expired.ExpiresAt = newID(), now().Add(-time.Minute)
	ok(t, s.CreateLoginFlow(ctx, expired))
	ok(t, s.DeleteExpired(ctx, now()))
	_, err = s.GetLoginFlow(ctx, expired.ID)
	wantIs(t, err, storage.ErrNotFound)
}

func testThrottleAndNonces(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	t0 := now()
	for i := 1; i <= 3; i++ {
		n, err := s.Hit(ctx, "user:a", time.Minute, t0.Add(time.Duration(i)*time.Second))
		ok(t, err)
		eq(t, "hits", n, int64(i))
	}
	n, err := s.Hit(ctx, "user:b", time.Minute, t0)
	ok(t, err)
	eq(t, "other key", n, int64(1))
	// A new window starts once the old one is over.
	n, err = s.Hit(ctx, "user:a", time.Minute, t0.Add(2*time.Minute))
	ok(t, err)
	eq(t, "hits in a new window", n, int64(1))
	n, err = s.Hits(ctx, "user:a", time.Minute, t0.Add(2*time.Minute))
	ok(t, err)
	eq(t, "peeked hits", n, int64(1))
	n, _ = s.Hits(ctx, "user:a", time.Minute, t0.Add(4*time.Minute))
	eq(t, "peeked hits after the window", n, int64(0))
	n, _ = s.Hits(ctx, "never", time.Minute, t0)
	eq(t, "peeked hits of an unknown key", n, int64(0))
	ok(t, s.ClearHits(ctx, "user:a"))
	n, _ = s.Hit(ctx, "user:a", time.Minute, t0.Add(2*time.Minute))
	eq(t, "hits after clear", n, int64(1))

	// Concurrent hits are all counted.
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); s.Hit(ctx, "ip:1", time.Minute, t0) }()
	}
	wg.Wait()
	n, _ = s.Hit(ctx, "ip:1", time.Minute, t0)
	eq(t, "concurrent hits", n, int64(11))

	ok(t, s.UseNonce(ctx, "saml:id-1", t0.Add(time.Hour)))
	wantIs(t, s.UseNonce(ctx, "saml:id-1", t0.Add(time.Hour)), storage.ErrAlreadyExists)
	ok(t, s.UseNonce(ctx, "saml:old", t0.Add(-time.Hour)))
	ok(t, s.DeleteExpired(ctx, t0))
	ok(t, s.UseNonce(ctx, "saml:old", t0.Add(time.Hour)))
	wantIs(t, s.UseNonce(ctx, "saml:id-1", t0.Add(time.Hour)), storage.ErrAlreadyExists)
}

func newApp(tenantID, policyID string, groups ...string) apps.Application {
	return apps.Application{ID: newID(), TenantID: tenantID, Kind: apps.KindOffice365, Name: "Office 365", Enabled: true,
		PolicyID: policyID, GroupIDs: groups, Office365: &apps.Office365Settings{LoginURL: "https://login.example.com/login.srf",
			Domains: apps.Domains("contoso.com")}, CreatedAt: now(), UpdatedAt: now()}
}

func testApplications(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "apps")
	o := mustOrg(t, s, tn.ID, "Contoso", "@contoso.com")
	p := mustPolicy(t, s, tn.ID, "MFA", authn.FactorTOTP)
	g1 := mustGroup(t, s, tn.ID, "Office 365 Users")
	g2 := mustGroup(t, s, tn.ID, "Admins")
	in := mustUser(t, s, tn.ID, o, "in")
	out := mustUser(t, s, tn.ID, o, "out")
	ok(t, s.AddGroupMember(ctx, tn.ID, g1.ID, in.ID))

	has, err := s.HasSealedSecrets(ctx)
	ok(t, err)
	eq(t, "sealed secrets before any key", has, false)
	a := newApp(tn.ID, p.ID, g1.ID)
	ok(t, s.CreateApplication(ctx, a))
	got, err := s.GetApplication(ctx, tn.ID, a.ID)
	ok(t, err)
	if got.Name != "Office 365" || !got.Enabled || got.PolicyID != p.ID || len(got.GroupIDs) != 1 || got.Office365 == nil ||
		got.Office365.LoginURL != "https://login.example.com/login.srf" || got.Office365.Domains[0].Name != "contoso.com" {
		t.Fatalf("application = %+v", got)
	}
	yes, err := s.IsUserPermitted(ctx, tn.ID, a.ID, in.ID)
	ok(t, err)
	no, err := s.IsUserPermitted(ctx, tn.ID, a.ID, out.ID)
	ok(t, err)
	if !yes || no {
		t.Fatalf("permitted: in=%v out=%v", yes, no)
	}

	bad := newApp(tn.ID, newID())
	wantReference(t, s.CreateApplication(ctx, bad), "authenticationPolicyId")
	bad = newApp(tn.ID, p.ID, newID())
	wantReference(t, s.CreateApplication(ctx, bad), "permissionGroupIds")

	upd, err := s.UpdateApplication(ctx, tn.ID, a.ID, func(o apps.Application) (apps.Application, error) {
		o.GroupIDs = []string{g2.ID}
		o.Enabled = false
		return o, nil
	})
	ok(t, err)
	eq(t, "app version", upd.Version, int64(2))
	got, _ = s.GetApplication(ctx, tn.ID, a.ID)
	if got.Enabled || len(got.GroupIDs) != 1 || got.GroupIDs[0] != g2.ID {
		t.Fatalf("updated application = %+v", got)
	}
	yes, _ = s.IsUserPermitted(ctx, tn.ID, a.ID, in.ID)
	eq(t, "permitted after group change", yes, false)
	_, err = s.UpdateApplication(ctx, tn.ID, a.ID, func(o apps.Application) (apps.Application, error) {
		o.GroupIDs = []string{newID()}
		return o, nil
	})
	wantReference(t, err, "permissionGroupIds")
	got, _ = s.GetApplication(ctx, tn.ID, a.ID)
	eq(t, "groups after failed update", got.GroupIDs[0], g2.ID)

	list, err := s.ListApplications(ctx, tn.ID)
	ok(t, err)
	eq(t, "applications", len(list), 1)
	eq(t, "listed groups", len(list[0].GroupIDs), 1)

	// Signing keys and rollover roles.
	k1 := apps.SigningKey{ID: newID(), TenantID: tn.ID, AppID: a.ID, Role: apps.RoleCurrent, CertDER: []byte{1}, KeySealed: []byte{2},
		CreatedAt: now(), NotAfter: now().Add(time.Hour)}
	k2 := k1
	k2.ID, k2.Role, k2.CreatedAt = newID(), apps.RoleNext, now().Add(time.Second)
	ok(t, s.CreateSigningKey(ctx, k1))
	ok(t, s.CreateSigningKey(ctx, k2))
	has, err = s.HasSealedSecrets(ctx)
	ok(t, err)
	eq(t, "sealed secrets after a key", has, true)
	ok(t, s.SetSigningKeyRoles(ctx, tn.ID, a.ID, map[string]apps.SigningKeyRole{k1.ID: apps.RoleRetired, k2.ID: apps.RoleCurrent}))
	keys, err := s.ListSigningKeys(ctx, tn.ID, a.ID)
	ok(t, err)
	if len(keys) != 2 || keys[0].Role != apps.RoleRetired || keys[1].Role != apps.RoleCurrent || string(keys[1].KeySealed) != "\x02" {
		t.Fatalf("keys = %+v", keys)
	}
	err = s.SetSigningKeyRoles(ctx, tn.ID, a.ID, map[string]apps.SigningKeyRole{k1.ID: apps.RoleCurrent, newID(): apps.RoleRetired})
	wantIs(t, err, storage.ErrNotFound)
	keys, _ = s.ListSigningKeys(ctx, tn.ID, a.ID)
	eq(t, "roles unchanged after a failed rollover", keys[0].Role, apps.RoleRetired)

	ok(t, s.DeleteApplication(ctx, tn.ID, a.ID))
	keys, _ = s.ListSigningKeys(ctx, tn.ID, a.ID)
	eq(t, "keys after deletion", len(keys), 0)
}
