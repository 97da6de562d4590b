package signin

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/secrets"
)

// legacyHash is how recovery codes were stored before keyed hashes: one
// SHA-256 of the user id, a zero byte and the code.
func legacyHash(userID, code string) string {
	h := sha256.Sum256([]byte(userID + "\x00" + code))
	return hex.EncodeToString(h[:])
}

// TestRecoveryCodesStrongAndKeyed: new recovery codes carry at least 80
// bits each, and what is stored is a keyed hash — neither the code, nor
// the SHA-256 the codes used to be stored as, nor anything a copy of the
// database lets one check a guess against without the master key.
func TestRecoveryCodesStrongAndKeyed(t *testing.T) {
	f := newFixture(t)
	ctx := systemCtx()
	codes, err := f.svc.EnrolTOTP(ctx, f.user, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		raw := strings.ReplaceAll(c, "-", "")
		// Crockford base32: 5 bits a character.
		b, err := base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding).DecodeString(raw)
		if err != nil || len(raw)*5 < 80 || len(b)*8 < 80 {
			t.Fatalf("code %q: %d characters (%v); want at least 80 bits", c, len(raw), err)
		}
		if seen[c] {
			t.Fatalf("code %q issued twice", c)
		}
		seen[c] = true
	}
	cred, err := f.st.GetCredentials(ctx, f.tenant.ID, f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored := strings.Join(cred.RecoveryHashes, "\n")
	for _, c := range codes {
		if strings.Contains(stored, c) || strings.Contains(stored, strings.ReplaceAll(c, "-", "")) ||
			strings.Contains(stored, legacyHash(f.user.ID, c)) || strings.Contains(stored, legacyHash(f.user.ID, strings.ReplaceAll(c, "-", ""))) {
			t.Fatalf("code %s is stored in clear or under a plain SHA-256", c)
		}
	}
	// Someone holding the database but another master key (or none)
	// cannot confirm even the right code.
	other, _ := secrets.NewMasterKey(bytes.Repeat([]byte{7}, 32))
	otherRing, _ := secrets.NewKeyring(nil, other)
	guess := func(keyID string, msg []byte) (string, []byte, error) {
		_, tag, err := otherRing.MAC("", "recovery-codes", recoveryBinding(f.tenant.ID, f.user.ID), msg)
		return keyID, tag, err
	}
	if _, ok, _ := authn.UseRecoveryCode(codes[0], cred.RecoveryHashes, guess, f.user.ID); ok {
		t.Fatal("the stored hashes can be checked without Portico's master key")
	}
	// With the master key, each code works once.
	if err := f.svc.CheckSecondFactor(ctx, f.user, strings.ToUpper(codes[1]), "x"); err != nil {
		t.Fatalf("recovery code in capitals: %v", err)
	}
	if err := f.svc.CheckSecondFactor(ctx, f.user, codes[1], "x"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("recovery code reused: %v", err)
	}
}

// TestRecoveryHashesBoundToUser: hashes copied onto another user's
// credentials (a database edit) do not let that user in with the first
// user's codes.
func TestRecoveryHashesBoundToUser(t *testing.T) {
	f := newFixture(t)
	ctx := systemCtx()
	codes, err := f.svc.EnrolTOTP(ctx, f.user, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
	if err != nil {
		t.Fatal(err)
	}
	mallory, err := f.admin.CreateUser(ctx, f.tenant.ID, directory.User{Username: "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.EnrolTOTP(ctx, mallory, "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"); err != nil {
		t.Fatal(err)
	}
	johns, _ := f.st.GetCredentials(ctx, f.tenant.ID, f.user.ID)
	if _, err := f.st.UpdateCredentials(ctx, f.tenant.ID, mallory.ID, func(c authn.Credentials) (authn.Credentials, error) {
		c.RecoveryHashes = johns.RecoveryHashes
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CheckSecondFactor(ctx, mallory, codes[0], "x"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("another user's code worked with copied hashes: %v", err)
	}
}

// TestLegacyRecoveryCodes: codes issued before keyed hashes (10
// characters, stored as SHA-256) keep working, once each; the first
// successful second factor replaces every remaining plain SHA-256 hash by
// a keyed one, and the codes still work once after that.
func TestLegacyRecoveryCodes(t *testing.T) {
	f := newFixture(t)
	ctx := systemCtx()
	secret := "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	if _, err := f.svc.EnrolTOTP(ctx, f.user, secret); err != nil {
		t.Fatal(err)
	}
	legacy := []string{"abcde-fghij", "kmnop-qrst2", "uvwxy-z3456", "77777-aaaaa"}
	if _, err := f.st.UpdateCredentials(ctx, f.tenant.ID, f.user.ID, func(c authn.Credentials) (authn.Credentials, error) {
		c.RecoveryHashes = nil
		for _, code := range legacy {
			c.RecoveryHashes = append(c.RecoveryHashes, legacyHash(f.user.ID, code))
		}
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	// Typed without the dash, in capitals, as before.
	if err := f.svc.CheckSecondFactor(ctx, f.user, "ABCDEFGHIJ", "x"); err != nil {
		t.Fatalf("legacy code: %v", err)
	}
	if err := f.svc.CheckSecondFactor(ctx, f.user, legacy[0], "x"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("legacy code reused: %v", err)
	}
	c, _ := f.st.GetCredentials(ctx, f.tenant.ID, f.user.ID)
	if len(c.RecoveryHashes) != len(legacy)-1 {
		t.Fatalf("%d hashes left, want %d", len(c.RecoveryHashes), len(legacy)-1)
	}
	for i, h := range c.RecoveryHashes {
		if h == legacyHash(f.user.ID, legacy[i+1]) || authn.HasLegacyRecoveryHashes([]string{h}) {
			t.Fatalf("plain SHA-256 hash %s still stored after a sign-in", h)
		}
	}
	// Re-protected codes still work, once.
	if err := f.svc.CheckSecondFactor(ctx, f.user, legacy[2], "x"); err != nil {
		t.Fatalf("re-protected legacy code: %v", err)
	}
	if err := f.svc.CheckSecondFactor(ctx, f.user, legacy[2], "x"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("re-protected legacy code reused: %v", err)
	}
	// A TOTP sign-in also re-protects what is left (here: nothing plain).
	code, _ := authn.TOTPCode(secret, f.clock.now())
	if err := f.svc.CheckSecondFactor(ctx, f.user, code, "x"); err != nil {
		t.Fatalf("totp: %v", err)
	}
	if err := f.svc.CheckSecondFactor(ctx, f.user, legacy[3], "x"); err != nil {
		t.Fatalf("last legacy code: %v", err)
	}
}

// TestLegacyHashesProtectedByTOTPSignIn: a user who signs in with the
// authenticator app, not a recovery code, gets the plain hashes replaced
// too.
func TestLegacyHashesProtectedByTOTPSignIn(t *testing.T) {
	f := newFixture(t)
	ctx := systemCtx()
	secret := "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	if _, err := f.svc.EnrolTOTP(ctx, f.user, secret); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.UpdateCredentials(ctx, f.tenant.ID, f.user.ID, func(c authn.Credentials) (authn.Credentials, error) {
		c.RecoveryHashes = []string{legacyHash(f.user.ID, "abcde-fghij")}
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	code, _ := authn.TOTPCode(secret, f.clock.now())
	if err := f.svc.CheckSecondFactor(ctx, f.user, code, "x"); err != nil {
		t.Fatal(err)
	}
	c, _ := f.st.GetCredentials(ctx, f.tenant.ID, f.user.ID)
	if authn.HasLegacyRecoveryHashes(c.RecoveryHashes) || len(c.RecoveryHashes) != 1 {
		t.Fatalf("after a TOTP sign-in: %v", c.RecoveryHashes)
	}
	if err := f.svc.CheckSecondFactor(ctx, f.user, "abcde-fghij", "x"); err != nil {
		t.Fatalf("legacy code after re-protection: %v", err)
	}
}

// TestConcurrentUseOfOneRecoveryCode: a recovery code is spent with
// compare-and-swap; of simultaneous uses exactly one succeeds.
func TestConcurrentUseOfOneRecoveryCode(t *testing.T) {
	f := newFixture(t)
	ctx := systemCtx()
	codes, err := f.svc.EnrolTOTP(ctx, f.user, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f.svc.CheckSecondFactor(ctx, f.user, codes[0], "x") }()
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
		t.Fatalf("%d concurrent uses of one recovery code succeeded; want 1", ok)
	}
}
