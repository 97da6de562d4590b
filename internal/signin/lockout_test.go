package signin

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/directory"
)

// Addresses of the lockout tests (documentation ranges, RFC 5737 and
// RFC 3849).
const (
	office   = "203.0.113.10"
	attacker = "198.51.100.7"
)

// newLockoutFixture is newFixture with distinct familiar and unfamiliar
// thresholds (3 and 5 failures in 15 minutes).
func newLockoutFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.svc.limits = Limits{Unfamiliar: 3, Familiar: 5, PerClient: 100, Window: 15 * time.Minute}.withDefaults()
	return f
}

func (f *fixture) password(name, password, client string) error {
	_, err := f.svc.CheckPassword(systemCtx(), f.tenant.ID, name, password, client)
	return err
}

// outcome names what an attempt ended with, for readable failures.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrThrottled):
		return "throttled"
	case errors.Is(err, ErrInvalidCredentials), errors.Is(err, ErrInvalidCode):
		return "wrong"
	}
	return err.Error()
}

// TestUsernameAndUPNShareOneBudget: failures under any form of a user's
// name — username, UPN, any capitalization — count against one budget.
// On the original code (counters keyed by the name as typed) the UPN got a
// budget of its own.
func TestUsernameAndUPNShareOneBudget(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fails []string // 3 failures (the unfamiliar threshold) under these forms
		then  string   // the right password under this form is refused
	}{
		{"username then UPN", []string{"john.smith", "john.smith", "john.smith"}, "john.smith@contoso.com"},
		{"UPN then username", []string{"john.smith@contoso.com", "John.Smith@Contoso.com", "john.smith@contoso.com"}, "john.smith"},
		{"mixed forms", []string{"JOHN.Smith", "john.smith@contoso.com", " john.smith "}, "John.Smith"},
		{"another suffix of the tenant", []string{"john.smith@fabrikam.com", "john.smith", "john.smith@contoso.com"}, "JOHN.SMITH@CONTOSO.COM"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newLockoutFixture(t)
			f.addOrg(t, "Fabrikam", "@fabrikam.com")
			for i, n := range tt.fails {
				if got := outcome(f.password(n, "wrong", attacker)); got != "wrong" {
					t.Fatalf("failure %d as %q: %s", i+1, n, got)
				}
			}
			if got := outcome(f.password(tt.then, "correct horse", attacker)); got != "throttled" {
				t.Fatalf("after %d failures (the limit) as %v, the right password as %q: %s; want throttled", len(tt.fails), tt.fails, tt.then, got)
			}
		})
	}
}

func (f *fixture) addOrg(t *testing.T, name, suffix string) directory.Organization {
	t.Helper()
	o, err := f.admin.CreateOrganization(systemCtx(), f.tenant.ID, directory.Organization{Name: name, PrincipalNameSuffix: suffix})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestUnknownNamesThrottledLikeKnownOnes: from an address where the user
// has never signed in, no sequence of wrong passwords tells a known name
// from an unknown one. For each pair of forms (i, j) of a name, the test
// fails the limit under form i and records whether form j is then
// refused; the known user's matrix must equal the unknown name's, and
// the window must end alike.
func TestUnknownNamesThrottledLikeKnownOnes(t *testing.T) {
	for _, tt := range []struct {
		name           string
		username       string // the known user (organization Contoso)
		known, unknown []string
	}{
		{"plain username", "jane.doe",
			[]string{"jane.doe", "JANE.Doe", "jane.doe@contoso.com", "jane.doe@fabrikam.com", "jane.doe@example.net"},
			[]string{"ghost", "GHOST", "ghost@contoso.com", "ghost@fabrikam.com", "ghost@example.net"}},
		{"e-mail-shaped username", "ann@contoso.com",
			[]string{"ann", "ann@contoso.com", "ANN@fabrikam.com", "ann@example.net"},
			[]string{"nobody", "nobody@contoso.com", "NOBODY@fabrikam.com", "nobody@example.net"}},
		{"username with a foreign domain", "bob@example.net",
			[]string{"bob@example.net", "BOB@example.net", "bob", "bob@contoso.com"},
			[]string{"nemo@example.net", "NEMO@example.net", "nemo", "nemo@contoso.com"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			matrix := func(forms []string, user bool) string {
				f := newLockoutFixture(t)
				if user {
					u, err := f.admin.CreateUser(systemCtx(), f.tenant.ID, directory.User{Username: tt.username})
					if err != nil {
						t.Fatal(err)
					}
					if err := f.svc.SetPassword(systemCtx(), f.tenant.ID, u.ID, "correct horse"); err != nil {
						t.Fatal(err)
					}
				}
				f.addOrg(t, "Fabrikam", "@fabrikam.com")
				out := ""
				for i := range forms {
					for j := range forms {
						seq := ""
						for range 3 {
							seq += outcome(f.password(forms[i], "wrong", attacker)) + ","
						}
						seq += outcome(f.password(forms[j], "wrong", attacker))
						f.clock.add(15 * time.Minute)
						seq += "|" + outcome(f.password(forms[j], "wrong", attacker))
						f.clock.add(15 * time.Minute) // every count ends before the next pair
						out += fmt.Sprintf("%d→%d %s\n", i, j, seq)
					}
				}
				return out
			}
			k, u := matrix(tt.known, true), matrix(tt.unknown, false)
			if k != u {
				t.Fatalf("a known name is throttled differently from an unknown one:\nknown %v:\n%s\nunknown %v:\n%s", tt.known, k, tt.unknown, u)
			}
		})
	}
}

// TestAttackerCannotLockOutTheOffice: failures from unfamiliar addresses
// fill only the unfamiliar bucket; the user still signs in from an address
// where they have signed in before (the same IPv4 address, or the same
// IPv6 /64). On the original code the user was locked out everywhere.
func TestAttackerCannotLockOutTheOffice(t *testing.T) {
	f := newLockoutFixture(t)
	home6 := "2001:db8:1:2::10"
	for _, addr := range []string{office, home6} {
		if err := f.password("john.smith", "correct horse", addr); err != nil {
			t.Fatalf("first sign-in from %s: %v", addr, err)
		}
	}
	// A spray from many unfamiliar addresses, under both names.
	for i := range 8 {
		name := []string{"john.smith", "john.smith@contoso.com"}[i%2]
		f.password(name, "wrong", fmt.Sprintf("198.51.100.%d", i+1))
	}
	for _, tt := range []struct {
		client, want string
	}{
		{attacker, "throttled"},
		{"203.0.113.11", "throttled"},       // the office's neighbour is not the office (IPv4 /32)
		{"2001:db8:1:3::10", "throttled"},   // another /64
		{office, "ok"},                      // the office
		{"::ffff:203.0.113.10", "ok"},       // the office, IPv4-mapped
		{"2001:db8:1:2::abcd", "ok"},        // home, a new temporary address in the same /64
		{"2001:db8:1:2:aaaa::1%eth0", "ok"}, // a zone does not matter
	} {
		if got := outcome(f.password("john.smith@contoso.com", "correct horse", tt.client)); got != tt.want {
			t.Errorf("right password from %s after the spray: %s; want %s", tt.client, got, tt.want)
		}
	}
	// The unfamiliar bucket stays locked until its window ends.
	f.clock.add(14 * time.Minute)
	if got := outcome(f.password("john.smith", "correct horse", attacker)); got != "throttled" {
		t.Fatalf("14 minutes later from an unfamiliar address: %s", got)
	}
	f.clock.add(time.Minute)
	if got := outcome(f.password("john.smith", "correct horse", attacker)); got != "ok" {
		t.Fatalf("15 minutes later: %s", got)
	}
}

// TestFamiliarFailuresLockTheFamiliarBucket: failures from familiar
// addresses have their own, higher threshold, and lock only familiar
// addresses.
func TestFamiliarFailuresLockTheFamiliarBucket(t *testing.T) {
	f := newLockoutFixture(t)
	if err := f.password("john.smith", "correct horse", office); err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // the familiar threshold, above the unfamiliar one
		if got := outcome(f.password("john.smith", "wrong", office)); got != "wrong" {
			t.Fatalf("familiar failure %d: %s", i+1, got)
		}
	}
	if got := outcome(f.password("john.smith", "correct horse", office)); got != "throttled" {
		t.Fatalf("from the office after 5 failures there: %s", got)
	}
	if got := outcome(f.password("john.smith", "correct horse", attacker)); got != "ok" {
		t.Fatalf("from elsewhere after 5 failures at the office: %s", got)
	}
}

// TestSuccessResets: what a success clears, and what it must not.
func TestSuccessResets(t *testing.T) {
	t.Run("a success at a familiar address starts its count again", func(t *testing.T) {
		f := newLockoutFixture(t)
		f.password("john.smith", "correct horse", office)
		for round := range 3 {
			for range 4 {
				f.password("john.smith", "wrong", office)
			}
			if got := outcome(f.password("john.smith", "correct horse", office)); got != "ok" {
				t.Fatalf("round %d: %s", round, got)
			}
		}
	})
	t.Run("the user's success does not shorten an attacker's count", func(t *testing.T) {
		f := newLockoutFixture(t)
		f.password("john.smith", "wrong", attacker)
		f.password("john.smith", "wrong", attacker)
		// The user, at a new address: counted, then taken back.
		if got := outcome(f.password("john.smith", "correct horse", "198.51.100.200")); got != "ok" {
			t.Fatalf("user at a new address: %s", got)
		}
		if got := outcome(f.password("john.smith", "wrong", attacker)); got != "wrong" {
			t.Fatalf("the attacker's third failure: %s", got)
		}
		if got := outcome(f.password("john.smith", "correct horse", attacker)); got != "throttled" {
			t.Fatalf("after 3 unfamiliar failures with a user's success among them: %s", got)
		}
		// The new address became familiar with that success.
		if got := outcome(f.password("john.smith", "correct horse", "198.51.100.200")); got != "ok" {
			t.Fatalf("the user's new address: %s", got)
		}
	})
	t.Run("successes from an unfamiliar address never add up", func(t *testing.T) {
		// A user with an authenticator whose password-only client (WS-Trust)
		// never completes a sign-in there, so the address stays unfamiliar.
		f := newLockoutFixture(t)
		if _, err := f.svc.EnrolTOTP(systemCtx(), f.user, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"); err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			if got := outcome(f.password("john.smith", "correct horse", attacker)); got != "ok" {
				t.Fatalf("success %d: %s", i+1, got)
			}
		}
		if _, err := f.st.FamiliarAddress(systemCtx(), f.tenant.ID, f.user.ID, attacker+"/32", f.clock.now()); err == nil {
			t.Fatal("a password alone made the address familiar for a user with an authenticator")
		}
	})
}

// TestCodeFailuresCount: wrong TOTP and recovery codes count, apart from
// passwords (a correct password does not refill the budget for codes),
// split by familiar and unfamiliar address like passwords.
func TestCodeFailuresCount(t *testing.T) {
	f := newLockoutFixture(t)
	ctx := systemCtx()
	secret := "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	if _, err := f.svc.EnrolTOTP(ctx, f.user, secret); err != nil {
		t.Fatal(err)
	}
	code := func() string {
		f.clock.add(30 * time.Second) // a fresh step each time: no replay
		c, _ := authn.TOTPCode(secret, f.clock.now())
		return c
	}
	second := func(c, client string) string { return outcome(f.svc.CheckSecondFactor(ctx, f.user, c, client)) }

	// The office becomes familiar with a complete sign-in.
	if err := f.password("john.smith", "correct horse", office); err != nil {
		t.Fatal(err)
	}
	if got := second(code(), office); got != "ok" {
		t.Fatalf("code at the office: %s", got)
	}
	// Someone with the password, elsewhere, guesses codes.
	if err := f.password("john.smith", "correct horse", attacker); err != nil {
		t.Fatal(err)
	}
	for i, c := range []string{"000000", "ABCD-EFGH-JKLM", "123456"} {
		if got := second(c, attacker); got != "wrong" {
			t.Fatalf("wrong code %d: %s", i+1, got)
		}
	}
	if got := second(code(), attacker); got != "throttled" {
		t.Fatalf("right code after 3 wrong ones: %s", got)
	}
	// Proving the password again does not reset the codes' count.
	if err := f.password("john.smith", "correct horse", attacker); err != nil {
		t.Fatalf("password: %v", err)
	}
	if got := second(code(), attacker); got != "throttled" {
		t.Fatalf("right code after the password was proven again: %s", got)
	}
	// The user at the office is not affected.
	if got := second(code(), office); got != "ok" {
		t.Fatalf("code at the office: %s", got)
	}
	// Enrolment codes count the same way.
	_, sealed, err := f.svc.BeginEnrolment(ctx, "flow", f.user)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ConfirmEnrolment(ctx, "flow", f.user, sealed, "000000", attacker); !errors.Is(err, ErrThrottled) {
		t.Fatalf("enrolment code from the locked address: %v", err)
	}
	// Familiar code failures lock the familiar bucket (threshold 5), and
	// a success there starts its count again.
	for range 4 {
		second("000000", office)
	}
	if got := second(code(), office); got != "ok" {
		t.Fatalf("code at the office after 4 wrong ones: %s", got)
	}
	for range 5 {
		second("000000", office)
	}
	if got := second(code(), office); got != "throttled" {
		t.Fatalf("code at the office after 5 wrong ones: %s", got)
	}
}

func TestAddressPrefix(t *testing.T) {
	l := DefaultLimits
	wide := DefaultLimits
	wide.IPv4Prefix, wide.IPv6Prefix = 24, 48
	for _, tt := range []struct {
		client string
		l      Limits
		want   string
	}{
		{"192.0.2.1", l, "192.0.2.1/32"},
		{" 192.0.2.1 ", l, "192.0.2.1/32"},
		{"::ffff:192.0.2.1", l, "192.0.2.1/32"},
		{"2001:db8::1", l, "2001:db8::/64"},
		{"2001:DB8:0:0:abcd:ef01:2345:6789", l, "2001:db8::/64"},
		{"fe80::1%eth0", l, "fe80::/64"},
		{"192.0.2.77", wide, "192.0.2.0/24"},
		{"2001:db8:1:2::1", wide, "2001:db8:1::/48"},
		{"not-an-address", l, "not-an-address"},
	} {
		if got := addressPrefix(tt.client, tt.l); got != tt.want {
			t.Errorf("addressPrefix(%q) = %q; want %q", tt.client, got, tt.want)
		}
	}
}

func TestLimitsDefaults(t *testing.T) {
	if got := (Limits{}).withDefaults(); got != DefaultLimits {
		t.Fatalf("zero limits = %+v; want the defaults %+v", got, DefaultLimits)
	}
	got := Limits{Unfamiliar: 4, IPv4Prefix: 33, IPv6Prefix: -1, Window: 48 * time.Hour}.withDefaults()
	if got.Unfamiliar != 4 || got.Familiar != DefaultLimits.Familiar || got.IPv4Prefix != 32 || got.IPv6Prefix != 64 || got.Window != 24*time.Hour {
		t.Fatalf("partial limits = %+v", got)
	}
	s := New(nil, nil, WithLimits(Limits{Familiar: 7}))
	if s.limits.Familiar != 7 || s.limits.Unfamiliar != DefaultLimits.Unfamiliar || s.limits.Window != DefaultLimits.Window {
		t.Fatalf("service limits = %+v", s.limits)
	}
}

// TestClientLimitSparesTheUsersBudget: attempts refused because their
// address is over its own limit test nothing, and do not use up the budget
// of the user they name.
func TestClientLimitSparesTheUsersBudget(t *testing.T) {
	f := newLockoutFixture(t)
	f.svc.limits.PerClient = 4
	for i := range 4 {
		f.password(fmt.Sprintf("name%d", i), "wrong", attacker)
	}
	for range 5 {
		if got := outcome(f.password("john.smith", "correct horse", attacker)); got != "throttled" {
			t.Fatalf("from an address over its limit: %s", got)
		}
	}
	for i := range 2 {
		if got := outcome(f.password("john.smith", "wrong", "198.51.100.8")); got != "wrong" {
			t.Fatalf("failure %d from another address: %s", i+1, got)
		}
	}
	if got := outcome(f.password("john.smith", "correct horse", "198.51.100.8")); got != "ok" {
		t.Fatalf("third attempt from another address: %s", got)
	}
}

// TestLockoutIsLoggedOnce: the first refusal of a window is logged, with
// the user and the bucket but not the name typed.
func TestLockoutIsLoggedOnce(t *testing.T) {
	f := newLockoutFixture(t)
	var buf bytes.Buffer
	f.svc.log = slog.New(slog.NewJSONHandler(&buf, nil))
	for range 6 {
		f.password("John.Smith@Contoso.com", "wrong", attacker)
	}
	logs := buf.String()
	if n := strings.Count(logs, "too many failures"); n != 1 {
		t.Fatalf("%d lockout log lines; want 1:\n%s", n, logs)
	}
	for _, want := range []string{`"user":"` + f.user.ID + `"`, `"bucket":"unfamiliar"`, `"step":"pw"`, `"client":"` + attacker + `"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(strings.ToLower(logs), "john.smith") {
		t.Errorf("the name typed was logged:\n%s", logs)
	}
}
