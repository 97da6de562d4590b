package apitoken

import (
	"bytes"
	"testing"
)

func TestGenerate(t *testing.T) {
	s1, h1, err := Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	s2, h2, _ := Generate(nil)
	if s1 == s2 || bytes.Equal(h1, h2) {
		t.Fatal("two tokens are equal")
	}
	if !WellFormed(s1) || WellFormed(s1[:len(s1)-1]) || WellFormed("Bearer x") {
		t.Fatal("WellFormed is wrong")
	}
	if !bytes.Equal(Hash(s1), h1) {
		t.Fatal("Hash does not match the generated hash")
	}
	fixed, _, _ := Generate(bytes.NewReader(make([]byte, 32)))
	if fixed != Prefix+"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" {
		t.Fatalf("deterministic token = %q", fixed)
	}
	if _, _, err := Generate(bytes.NewReader(nil)); err == nil {
		t.Fatal("short randomness accepted")
	}
}
