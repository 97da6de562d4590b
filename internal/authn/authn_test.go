package authn

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
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

func TestRecoveryCodes(t *testing.T) {
	codes, hashes, err := NewRecoveryCodes(rand.Reader, "user-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != RecoveryCodeCount || len(hashes) != RecoveryCodeCount || len(codes[0]) != 11 || codes[0][5] != '-' {
		t.Fatalf("codes %v", codes)
	}
	if strings.Contains(strings.Join(hashes, ","), codes[0]) {
		t.Fatal("codes stored in clear")
	}
	rest, ok := UseRecoveryCode(strings.ToUpper(strings.ReplaceAll(codes[3], "-", "")), "user-1", hashes)
	if !ok || len(rest) != RecoveryCodeCount-1 {
		t.Fatalf("use a code typed without its dash, in capitals: %v %d", ok, len(rest))
	}
	if _, ok := UseRecoveryCode(codes[3], "user-1", rest); ok {
		t.Fatal("a recovery code worked twice")
	}
	if _, ok := UseRecoveryCode(codes[0], "user-2", hashes); ok {
		t.Fatal("a code of another user (salt) was accepted")
	}
	if _, _, err := NewRecoveryCodes(bytes.NewReader(nil), "u"); err == nil {
		t.Fatal("short randomness accepted")
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
