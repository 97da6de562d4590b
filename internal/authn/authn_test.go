package authn

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestArgon2idPHC(t *testing.T) {
	// OWASP's minimum for argon2id: m=19 MiB, t=2, p=1.
	if DefaultArgon2.MemoryKiB != 19456 || DefaultArgon2.Iterations != 2 || DefaultArgon2.Parallelism != 1 {
		t.Fatalf("default parameters %+v", DefaultArgon2)
	}
	h := NewHasher(Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})
	enc, err := h.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Count(enc, "$") != 5 {
		t.Fatalf("PHC string %q", enc)
	}
	if enc2, _ := h.Hash("correct horse"); enc2 == enc {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if ok, rehash, err := h.Verify("correct horse", enc); !ok || rehash || err != nil {
		t.Fatalf("verify: %v %v %v", ok, rehash, err)
	}
	if ok, _, _ := h.Verify("correct horse.", enc); ok {
		t.Fatal("wrong password accepted")
	}
	stronger := NewHasher(Argon2Params{MemoryKiB: 128, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})
	if ok, rehash, _ := stronger.Verify("correct horse", enc); !ok || !rehash {
		t.Fatal("a hash with old parameters is not flagged for rehash")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=16$m=64,t=1,p=1$c2FsdA$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdA$a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=19$m=64,t=1,p=1$!!$a2V5"} {
		if ok, _, err := h.Verify("x", bad); ok || err == nil {
			t.Errorf("malformed hash %q: ok=%v err=%v", bad, ok, err)
		}
	}
	if _, err := h.Hash(strings.Repeat("x", 1025)); err != ErrPasswordTooLong {
		t.Fatalf("long password: %v", err)
	}
	if h.VerifyNothing("x") {
		t.Fatal("VerifyNothing accepted")
	}
}

// TestTOTPRFC6238 checks the SHA-1 test vectors of RFC 6238 appendix B
// (the last six digits of the 8-digit values).
func TestTOTPRFC6238(t *testing.T) {
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	for unix, want := range map[int64]string{59: "287082", 1111111109: "081804", 1111111111: "050471", 1234567890: "005924", 2000000000: "279037", 20000000000: "353130"} {
		got, err := TOTPCode(secret, time.Unix(unix, 0))
		if err != nil || got != want {
			t.Errorf("T=%d: %q %v; want %q", unix, got, err, want)
		}
	}
	now := time.Unix(1111111111, 0)
	step, ok := CheckTOTP(secret, "050471", now, 0)
	if !ok || step != TOTPStep(now) {
		t.Fatalf("current code: %d %v", step, ok)
	}
	if _, ok := CheckTOTP(secret, "050471", now, step); ok {
		t.Fatal("a used step was accepted again")
	}
	prev, _ := TOTPCode(secret, now.Add(-30*time.Second))
	if s, ok := CheckTOTP(secret, prev, now, 0); !ok || s != step-1 {
		t.Fatal("the previous step is not accepted (drift)")
	}
	old, _ := TOTPCode(secret, now.Add(-60*time.Second))
	if _, ok := CheckTOTP(secret, old, now, 0); ok {
		t.Fatal("a code two steps old was accepted")
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := CheckTOTP(secret, bad, now, 0); ok {
			t.Errorf("code %q accepted", bad)
		}
	}
	if _, ok := CheckTOTP(secret, "050 471", now, 0); !ok {
		t.Fatal("a code typed with a space is refused")
	}
}

func TestEnrolment(t *testing.T) {
	e, err := NewTOTP("Portico", "john@contoso.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Secret) != 32 || !strings.HasPrefix(e.URL, "otpauth://totp/Portico:john@contoso.com?") || !strings.Contains(e.URL, "secret="+e.Secret) ||
		!strings.HasPrefix(e.QRPNG, "data:image/png;base64,") {
		t.Fatalf("enrolment %+v", e)
	}
	again, err := EnrolmentFor("Portico", "john@contoso.com", e.Secret)
	if err != nil || again.Secret != e.Secret || !strings.Contains(again.URL, "secret="+e.Secret) {
		t.Fatalf("enrolment again: %+v %v", again, err)
	}
}

// testMAC stands in for the master key's keyed hash: HMAC-SHA256 under a
// per-user key, with key ids, so tests can tell keys apart.
func testMAC(user string) RecoveryMAC {
	return func(keyID string, msg []byte) (string, []byte, error) {
		if keyID == "" {
			keyID = "k1"
		}
		if keyID != "k1" && keyID != "k0" {
			return "", nil, errors.New("unknown key " + keyID)
		}
		h := hmac.New(sha256.New, []byte(keyID+"/"+user))
		h.Write(msg)
		return keyID, h.Sum(nil), nil
	}
}

func TestRecoveryCodes(t *testing.T) {
	mac := testMAC("user-1")
	codes, hashes, err := NewRecoveryCodes(rand.Reader, mac)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != RecoveryCodeCount || len(hashes) != RecoveryCodeCount {
		t.Fatalf("codes %v", codes)
	}
	for i, c := range codes {
		// xxxx-xxxx-xxxx-xxxx: 16 characters of 5 bits.
		if len(c) != 19 || c[4] != '-' || c[9] != '-' || c[14] != '-' || RecoveryCodeBits < 80 {
			t.Fatalf("code %q", c)
		}
		if !strings.HasPrefix(hashes[i], "rc2$k1$") || strings.Contains(hashes[i], c) {
			t.Fatalf("hash %q of %q", hashes[i], c)
		}
	}
	rest, ok, err := UseRecoveryCode(strings.ToUpper(strings.ReplaceAll(codes[3], "-", " ")), hashes, mac, "user-1")
	if err != nil || !ok || len(rest) != RecoveryCodeCount-1 {
		t.Fatalf("use a code typed with spaces, in capitals: %v %v %d", ok, err, len(rest))
	}
	if _, ok, _ := UseRecoveryCode(codes[3], rest, mac, "user-1"); ok {
		t.Fatal("a recovery code worked twice")
	}
	if _, ok, _ := UseRecoveryCode(codes[0], hashes, testMAC("user-2"), "user-2"); ok {
		t.Fatal("a code of another user (key binding) was accepted")
	}
	// Crockford's forgiving reading: O for 0, I and L for 1.
	var zeroOne string
	for _, c := range codes {
		if strings.ContainsAny(c, "01") {
			zeroOne = c
			break
		}
	}
	if zeroOne != "" {
		typed := strings.NewReplacer("0", "O", "1", "l").Replace(zeroOne)
		if _, ok, _ := UseRecoveryCode(typed, hashes, mac, "user-1"); !ok {
			t.Fatalf("%q typed as %q refused", zeroOne, typed)
		}
	}
	if _, _, err := NewRecoveryCodes(bytes.NewReader(nil), mac); err == nil {
		t.Fatal("short randomness accepted")
	}
	if _, _, err := NewRecoveryCodes(rand.Reader, nil); err == nil {
		t.Fatal("codes issued without a keyed hash")
	}
	// A hash made with an older master key still checks (rotation).
	_, old, _ := testMAC("user-1")("k0", codeMessage(strings.ReplaceAll(codes[5], "-", "")))
	oldHash := "rc2$k0$" + base64.RawURLEncoding.EncodeToString(old)
	if _, ok, err := UseRecoveryCode(codes[5], []string{oldHash}, mac, "user-1"); !ok || err != nil {
		t.Fatalf("hash under the previous master key: %v %v", ok, err)
	}
	if _, _, err := UseRecoveryCode(codes[5], []string{"rc2$gone$AAAA"}, mac, "user-1"); err == nil {
		t.Fatal("a hash under an unknown master key was silently skipped")
	}
}

func TestLegacyRecoveryCodes(t *testing.T) {
	mac := testMAC("user-1")
	legacy := func(code string) string {
		h := sha256.Sum256([]byte("user-1\x00" + code))
		return hex.EncodeToString(h[:])
	}
	hashes := []string{legacy("abcde-fghij"), legacy("kmnop-qrst2")}
	if !HasLegacyRecoveryHashes(hashes) {
		t.Fatal("legacy hashes not recognized")
	}
	rest, ok, err := UseRecoveryCode("ABCDEFGHIJ", hashes, mac, "user-1")
	if err != nil || !ok || len(rest) != 1 {
		t.Fatalf("legacy code: %v %v %v", ok, err, rest)
	}
	if _, ok, _ := UseRecoveryCode("abcde-fghij", hashes, mac, "user-2"); ok {
		t.Fatal("legacy code with another user's salt")
	}
	wrapped, err := ProtectLegacyRecoveryHashes(rest, mac)
	if err != nil || HasLegacyRecoveryHashes(wrapped) || !strings.HasPrefix(wrapped[0], "rc1w$k1$") {
		t.Fatalf("protected: %v %v", wrapped, err)
	}
	if _, ok, err := UseRecoveryCode("kmnop-qrst2", wrapped, mac, "user-1"); !ok || err != nil {
		t.Fatalf("wrapped legacy code: %v %v", ok, err)
	}
	if _, ok, _ := UseRecoveryCode("kmnop-qrst2", wrapped, testMAC("user-2"), "user-1"); ok {
		t.Fatal("wrapped legacy hash checked without the right key")
	}
	// A 16-character code never matches a legacy hash, nor the reverse.
	if _, ok, _ := UseRecoveryCode("kmnop-qrst2-aaaa-a", hashes, mac, "user-1"); ok {
		t.Fatal("nonsense accepted")
	}
}

func TestSessionActive(t *testing.T) {
	now := time.Now()
	s := Session{LastSeenAt: now, ExpiresAt: now.Add(time.Hour), IdleTimeout: 10 * time.Minute}
	if !s.Active(now.Add(9 * time.Minute)) {
		t.Fatal("active session refused")
	}
	if s.Active(now.Add(11 * time.Minute)) {
		t.Fatal("idle session accepted")
	}
	s.RevokedAt = now
	if s.Active(now) {
		t.Fatal("revoked session accepted")
	}
	tok, hash, err := NewToken(nil)
	if err != nil || len(tok) != 43 || !bytes.Equal(HashToken(tok), hash) {
		t.Fatalf("token %q %v", tok, err)
	}
}
