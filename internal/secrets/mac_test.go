package secrets

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

var macBind = Binding{Table: "credentials", Column: "recovery_hashes", RowID: "tenant/user"}

func TestMAC(t *testing.T) {
	old, cur := testKey(t, 1), testKey(t, 2)
	kr := testRing(t, cur, old)
	id, tag, err := kr.MAC("", "recovery-codes", macBind, []byte("code"))
	if err != nil || id != cur.ID() || len(tag) != 32 {
		t.Fatalf("MAC = %q %x %v", id, tag, err)
	}
	// Known answer: the derivation (HKDF-SHA256 of the master key, then
	// HMAC-SHA256 over the binding and the message) must never change,
	// or every stored hash stops matching.
	if got := hex.EncodeToString(tag); got != macKnownAnswer {
		t.Fatalf("MAC of the fixed key = %s, want %s", got, macKnownAnswer)
	}
	again, tag2, _ := kr.MAC(id, "recovery-codes", macBind, []byte("code"))
	if again != id || !bytes.Equal(tag, tag2) {
		t.Fatal("MAC is not deterministic for one key id")
	}
	differs := map[string]func() ([]byte, error){
		"message": func() ([]byte, error) {
			_, t, err := kr.MAC("", "recovery-codes", macBind, []byte("cod3"))
			return t, err
		},
		"purpose": func() ([]byte, error) { _, t, err := kr.MAC("", "other", macBind, []byte("code")); return t, err },
		"row": func() ([]byte, error) {
			b := macBind
			b.RowID = "tenant/other-user"
			_, t, err := kr.MAC("", "recovery-codes", b, []byte("code"))
			return t, err
		},
		"older master key": func() ([]byte, error) {
			_, t, err := kr.MAC(old.ID(), "recovery-codes", macBind, []byte("code"))
			return t, err
		},
	}
	for name, f := range differs {
		other, err := f()
		if err != nil || bytes.Equal(other, tag) {
			t.Errorf("changing the %s does not change the MAC (%v)", name, err)
		}
	}
	// After a rotation the old key's hashes are still computable.
	rotated := testRing(t, testKey(t, 3), cur)
	if _, tag3, err := rotated.MAC(cur.ID(), "recovery-codes", macBind, []byte("code")); err != nil || !bytes.Equal(tag3, tag) {
		t.Fatalf("MAC under the previous key after rotation: %v", err)
	}
	if _, _, err := rotated.MAC("0000000000000000", "recovery-codes", macBind, []byte("code")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown key id: %v", err)
	}
	if _, _, err := kr.MAC("", "recovery-codes", Binding{}, []byte("code")); err == nil {
		t.Fatal("MAC without a binding")
	}
	if _, _, err := kr.MAC("", "", macBind, []byte("code")); err == nil {
		t.Fatal("MAC without a purpose")
	}
}

// macKnownAnswer was computed independently (Python hmac and hashlib:
// HKDF-Extract with the salt, HKDF-Expand with info "mac:recovery-codes",
// then HMAC-SHA256 over the length-prefixed binding and "code").
const macKnownAnswer = "d0fa8414907ff7ca2d571afb84d1d66e04eb2e8a9e2bd56b5cf610c51beb5c61"
