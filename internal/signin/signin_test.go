package signin

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/secrets"
	"github.com/portico-idp/portico/internal/storage/sqlite"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
)

// systemCtx is the context of the tests' administrative calls (the
// principal the demo and jobs use).
func systemCtx() context.Context { return authz.With(context.Background(), authz.System("test")) }

// cheap argon2 parameters keep tests fast; the production ones are
// checked in authn.
var testHasher = authn.NewHasher(authn.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})

type fixture struct {
	svc    *Service
	admin  *admin.Service
	st     *sqlstore.Store
	tenant directory.Tenant
	user   directory.User
	clock  *clock
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testKeyring(t testing.TB) *secrets.Keyring {
	mk, err := secrets.NewMasterKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secrets.NewKeyring(nil, mk)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := systemCtx()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	f := &fixture{st: st, clock: c, admin: admin.New(st, admin.WithClock(c.now))}
	f.svc = New(st, testKeyring(t), WithClock(c.now), WithHasher(testHasher),
		WithLimits(Limits{Unfamiliar: 3, Familiar: 3, PerClient: 100, Window: 15 * time.Minute}))
	f.tenant, _, err = f.admin.CreateTenant(ctx, "contoso", "Contoso", "@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	f.user, err = f.admin.CreateUser(ctx, f.tenant.ID, directory.User{Username: "john.smith"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetPassword(ctx, f.tenant.ID, f.user.ID, "correct horse"); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCheckPassword(t *testing.T) {
	f := newFixture(t)
	ctx := systemCtx()
	for _, name := range []string{"john.smith", "John.Smith", "john.smith@contoso.com"} {
		u, err := f.svc.CheckPassword(ctx, f.tenant.ID, name, "correct horse", "10.0.0.1")
		if err != nil || u.ID != f.user.ID {
			t.Fatalf("sign in as %q: %v", name, err)
		}
	}
	if _, err := f.svc.CheckPassword(ctx, f.tenant.ID, "john.smith", "wrong", "10.0.0.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := f.svc.CheckPassword(ctx, f.tenant.ID, "nobody", "correct horse", "10.0.0.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("unknown user: %v", err)
	}
	// A user without a password (imported, pending) cannot sign in.
	p, _ := f.admin.CreateUser(ctx, f.tenant.ID, directory.User{Username: "pending", Status: directory.StatusPending})
	if _, err := f.svc.CheckPassword(ctx, f.tenant.ID, p.Username, "", "10.0.0.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("no password: %v", err)
	}
	// Suspended: only someone who knows the password learns that.
	f.admin.UpdateUser(ctx, f.tenant.ID, f.user.ID, 0, func(u *directory.User) error { u.Status = directory.StatusSuspended; return nil })
	if _, err := f.svc.CheckPassword(ctx, f.tenant.ID, "john.smith", "correct horse", "10.0.0.1"); !errors.Is(err, ErrAccountDisabled) {
		t.Fatalf("suspended: %v", err)
	}
	if _, err := f.svc.CheckPassword(ctx, f.tenant.ID, "john.smith", "wrong", "10.0.0.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("suspended, wrong password: %v", err)
	}
}

func TestLockoutIsPerNameAndExpires(t *testing.T) {
	f := newFixture(t)
	ctx := systemCtx()
	for _, name := range []string{"john.smith", "ghost"} {
		for range 3 {
			f.svc.CheckPassword(ctx, f.tenant.ID, name, "wrong", "10.0.0.1")
		}
		// Known and unknown names lock alike: nothing to enumerate.
		if _, err := f.svc.CheckPassword(ctx, f.tenant.ID, name, "correct horse", "10.0.0.1"); !errors.Is(err, ErrThrottled) {
			t.Fatalf("%s after 3 failures: %v", name, err)
		}
	}
	f.clock.add(16 * time.Minute)
	if _, err := f.svc.CheckPassword(ctx, f.tenant.ID, "john.smith", "correct horse", "10.0.0.1"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// A success resets the count.
	f.svc.CheckPassword(ctx, f.tenant.ID, "john.smith", "wrong", "10.0.0.1")
	f.svc.CheckPassword(ctx, f.tenant.ID, "john.smith", "wrong", "10.0.0.1")
	if _, err := f.svc.CheckPassword(ctx, f.tenant.ID, "john.smith", "correct horse", "10.0.0.1"); err != nil {
		t.Fatalf("third attempt: %v", err)
	}
	if _, err := f.svc.CheckPassword(ctx, f.tenant.ID, "john.smith", "wrong", "10.0.0.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("count not reset after success: %v", err)
	}
}

func TestRehashOnParameterChange(t *testing.T) {
	f := newFixture(t)
	ctx := systemCtx()
	before, _ := f.st.GetCredentials(ctx, f.tenant.ID, f.user.ID)
	f.svc.hasher = authn.NewHasher(authn.Argon2Params{MemoryKiB: 128, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})
	if _, err := f.svc.CheckPassword(ctx, f.tenant.ID, "john.smith", "correct horse", "x"); err != nil {
		t.Fatal(err)
	}
	after, _ := f.st.GetCredentials(ctx, f.tenant.ID, f.user.ID)
	if after.PasswordHash == before.PasswordHash || !strings.Contains(after.PasswordHash, "m=128,") {
		t.Fatalf("hash not upgraded: %s", after.PasswordHash)
	}
	if _, err := f.svc.CheckPassword(ctx, f.tenant.ID, "john.smith", "correct horse", "x"); err != nil {
		t.Fatalf("sign in after rehash: %v", err)
	}
}

func TestTOTPEnrolmentAndReplay(t *testing.T) {
	f := newFixture(t)
	f.svc.limits.Unfamiliar, f.svc.limits.Familiar = 20, 20 // this test makes many failed attempts on purpose
	ctx := systemCtx()
	e, sealed, err := f.svc.BeginEnrolment(ctx, "flow1", f.user)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.URL, "otpauth://totp/Portico:john.smith@contoso.com") || !strings.Contains(e.QRPNG, "data:image/png;base64,") {
		t.Fatalf("enrolment %+v", e.URL)
	}
	again, err := f.svc.PendingEnrolment("flow1", f.user, sealed)
	if err != nil || again.Secret != e.Secret {
		t.Fatalf("pending enrolment: %v", err)
	}
	if _, err := f.svc.PendingEnrolment("flow2", f.user, sealed); err == nil {
		t.Fatal("a pending secret opened under another flow")
	}
	if _, err := f.svc.ConfirmEnrolment(ctx, "flow1", f.user, sealed, "000000", "x"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("wrong first code: %v", err)
	}
	code, _ := authn.TOTPCode(e.Secret, f.clock.now())
	recovery, err := f.svc.ConfirmEnrolment(ctx, "flow1", f.user, sealed, code, "x")
	if err != nil || len(recovery) != authn.RecoveryCodeCount {
		t.Fatalf("confirm: %v %v", recovery, err)
	}
	// The enrolment code itself cannot be replayed as a second factor.
	if err := f.svc.CheckSecondFactor(ctx, f.user, code, "x"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("enrolment code replayed: %v", err)
	}
	f.clock.add(30 * time.Second)
	code, _ = authn.TOTPCode(e.Secret, f.clock.now())
	if err := f.svc.CheckSecondFactor(ctx, f.user, code, "x"); err != nil {
		t.Fatalf("fresh code: %v", err)
	}
	if err := f.svc.CheckSecondFactor(ctx, f.user, code, "x"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("replayed code: %v", err)
	}
	// A code from the previous step is accepted (drift) unless used or older.
	f.clock.add(30 * time.Second)
	prev, _ := authn.TOTPCode(e.Secret, f.clock.now().Add(-30*time.Second))
	if err := f.svc.CheckSecondFactor(ctx, f.user, prev, "x"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("previous, already used step accepted: %v", err)
	}
	f.clock.add(2 * time.Minute)
	stale, _ := authn.TOTPCode(e.Secret, f.clock.now().Add(-90*time.Second))
	if err := f.svc.CheckSecondFactor(ctx, f.user, stale, "x"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("stale code accepted: %v", err)
	}
	// Recovery codes work once each.
	if err := f.svc.CheckSecondFactor(ctx, f.user, recovery[0], "x"); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	if err := f.svc.CheckSecondFactor(ctx, f.user, recovery[0], "x"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("recovery code reused: %v", err)
	}
	// The stored secret is sealed, not the base32 text.
	c, _ := f.st.GetCredentials(ctx, f.tenant.ID, f.user.ID)
	if strings.Contains(string(c.TOTPSecret), e.Secret) {
		t.Fatal("TOTP secret stored in clear")
	}
}

func TestConcurrentUseOfOneCode(t *testing.T) {
	f := newFixture(t)
	ctx := systemCtx()
	secret := "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	if _, err := f.svc.EnrolTOTP(ctx, f.user, secret); err != nil {
		t.Fatal(err)
	}
	code, _ := authn.TOTPCode(secret, f.clock.now())
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f.svc.CheckSecondFactor(ctx, f.user, code, "x") }()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("unexpected: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent uses of one code succeeded; want 1", ok)
	}
}

func TestSessionsAndAuthorize(t *testing.T) {
	f := newFixture(t)
	ctx := systemCtx()
	pol := authn.Policy{ID: "p1", TenantID: f.tenant.ID, Name: "MFA", SecondFactor: authn.FactorTOTP, SessionIdle: 10 * time.Minute,
		SessionMax: time.Hour, CreatedAt: f.clock.now(), UpdatedAt: f.clock.now()}
	if err := f.st.CreatePolicy(ctx, pol); err != nil {
		t.Fatal(err)
	}
	token, _, err := f.svc.NewSession(ctx, f.user, pol, f.clock.now(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	x, err := f.svc.Session(ctx, f.tenant.ID, token)
	if err != nil || x.UserID != f.user.ID || !x.MFAAt.IsZero() {
		t.Fatalf("session: %+v %v", x, err)
	}
	if _, err := f.svc.Session(ctx, "other-tenant", token); !errors.Is(err, ErrNoSession) {
		t.Fatalf("session used in another tenant: %v", err)
	}
	token, x, err = f.svc.Establish(ctx, f.user, pol, token, time.Time{}, f.clock.now())
	if err != nil || x.MFAAt.IsZero() {
		t.Fatalf("MFA not recorded: %+v %v", x, err)
	}
	// Idle timeout, kept alive by use.
	for range 5 {
		f.clock.add(9 * time.Minute)
		if _, err := f.svc.Session(ctx, f.tenant.ID, token); err != nil {
			t.Fatalf("active session refused: %v", err)
		}
	}
	// Absolute timeout.
	f.clock.add(9 * time.Minute)
	f.svc.Session(ctx, f.tenant.ID, token)
	f.clock.add(9 * time.Minute)
	if _, err := f.svc.Session(ctx, f.tenant.ID, token); !errors.Is(err, ErrNoSession) {
		t.Fatalf("session past its absolute end: %v", err)
	}
	token2, _, _ := f.svc.NewSession(ctx, f.user, pol, f.clock.now(), time.Time{})
	f.clock.add(11 * time.Minute)
	if _, err := f.svc.Session(ctx, f.tenant.ID, token2); !errors.Is(err, ErrNoSession) {
		t.Fatalf("idle session: %v", err)
	}
	token3, _, _ := f.svc.NewSession(ctx, f.user, pol, f.clock.now(), time.Time{})
	if err := f.svc.EndSession(ctx, token3); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Session(ctx, f.tenant.ID, token3); !errors.Is(err, ErrNoSession) {
		t.Fatalf("ended session: %v", err)
	}

	g, _ := f.admin.CreateGroup(ctx, f.tenant.ID, directory.Group{Name: "Office 365 Users"})
	app := apps.Application{ID: "a1", TenantID: f.tenant.ID, Kind: apps.KindOffice365, Name: "O365", Enabled: true, PolicyID: pol.ID,
		GroupIDs: []string{g.ID}, CreatedAt: f.clock.now(), UpdatedAt: f.clock.now()}
	if err := f.st.CreateApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Authorize(ctx, f.user, app); !errors.Is(err, ErrNotPermitted) {
		t.Fatalf("outside the group: %v", err)
	}
	f.st.AddGroupMember(ctx, f.tenant.ID, g.ID, f.user.ID)
	if err := f.svc.Authorize(ctx, f.user, app); err != nil {
		t.Fatalf("member: %v", err)
	}
	app.Enabled = false
	if err := f.svc.Authorize(ctx, f.user, app); !errors.Is(err, ErrAppDisabled) {
		t.Fatalf("disabled app: %v", err)
	}
}

// TestClientLimitCountsFailuresOnly: many people behind one address sign
// in successfully without tripping the per-address limit, which still stops
// a stream of failures from it.
func TestClientLimitCountsFailuresOnly(t *testing.T) {
	f := newFixture(t)
	f.svc.limits = Limits{Unfamiliar: 3, Familiar: 3, PerClient: 5, Window: 15 * time.Minute}.withDefaults()
	ctx := systemCtx()
	for range 20 {
		if _, err := f.svc.CheckPassword(ctx, f.tenant.ID, "john.smith", "correct horse", "192.0.2.1"); err != nil {
			t.Fatalf("successful sign-ins were throttled: %v", err)
		}
	}
	for i := range 5 {
		f.svc.CheckPassword(ctx, f.tenant.ID, "name"+strconv.Itoa(i), "wrong", "192.0.2.1")
	}
	if _, err := f.svc.CheckPassword(ctx, f.tenant.ID, "john.smith", "correct horse", "192.0.2.1"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("address with 5 failures: %v", err)
	}
	if _, err := f.svc.CheckPassword(ctx, f.tenant.ID, "john.smith", "correct horse", "192.0.2.2"); err != nil {
		t.Fatalf("another address: %v", err)
	}
}
