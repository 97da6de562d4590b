package secrets

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// detRand is a deterministic reader for tests (ChaCha8 seeded by the test).
func detRand(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

func testKey(t *testing.T, fill byte) *MasterKey {
	t.Helper()
	k, err := NewMasterKey(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testRing(t *testing.T, primary *MasterKey, older ...*MasterKey) *Keyring {
	t.Helper()
	kr, err := NewKeyring(detRand(1), primary, older...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

var bind = Binding{Table: "signing_keys", Column: "private_key", RowID: "0190d5a6-0000-7000-8000-000000000001"}

func TestSealOpenRoundTrip(t *testing.T) {
	kr := testRing(t, testKey(t, 1))
	for _, pt := range [][]byte{{}, []byte("x"), bytes.Repeat([]byte("secret"), 1000)} {
		env, err := kr.Seal(pt, bind)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(env, pt) && len(pt) > 0 {
			t.Fatal("plaintext visible in envelope")
		}
		got, err := kr.Open(env, bind)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("round trip: got %d bytes, want %d", len(got), len(pt))
		}
		id, err := KeyID(env)
		if err != nil || id != kr.PrimaryID() {
			t.Fatalf("KeyID = %q, %v; want %q", id, err, kr.PrimaryID())
		}
	}
}

func TestSealIsRandomized(t *testing.T) {
	kr := testRing(t, testKey(t, 1))
	a, _ := kr.Seal([]byte("same"), bind)
	b, _ := kr.Seal([]byte("same"), bind)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical: nonce or data key reused")
	}
}

func TestOpenFailures(t *testing.T) {
	kr := testRing(t, testKey(t, 1))
	env, err := kr.Seal([]byte("private key bytes"), bind)
	if err != nil {
		t.Fatal(err)
	}
	hdr := len(magic) + 2 + len(kr.PrimaryID())

	flip := func(i int) []byte {
		c := bytes.Clone(env)
		c[i] ^= 0x01
		return c
	}
	otherRing := testRing(t, testKey(t, 2))
	cases := []struct {
		name    string
		ring    *Keyring
		env     []byte
		binding Binding
		want    error
	}{
		{"other row", kr, env, Binding{bind.Table, bind.Column, "0190d5a6-0000-7000-8000-000000000002"}, ErrDecrypt},
		{"other column", kr, env, Binding{bind.Table, "totp_secret", bind.RowID}, ErrDecrypt},
		{"other table", kr, env, Binding{"users", bind.Column, bind.RowID}, ErrDecrypt},
		{"shifted binding boundary", kr, env, Binding{"signing_keysp", "rivate_key", bind.RowID}, ErrDecrypt},
		{"wrong master key", otherRing, env, bind, ErrUnknownKey},
		{"tampered wrap nonce", kr, flip(hdr), bind, ErrDecrypt},
		{"tampered wrapped key", kr, flip(hdr + nonceSize + 3), bind, ErrDecrypt},
		{"tampered data nonce", kr, flip(hdr + nonceSize + wrappedSize), bind, ErrDecrypt},
		{"tampered ciphertext", kr, flip(len(env) - tagSize - 1), bind, ErrDecrypt},
		{"tampered tag", kr, flip(len(env) - 1), bind, ErrDecrypt},
		{"tampered key id", kr, flip(len(magic) + 2), bind, ErrUnknownKey},
		{"wrong version", kr, flip(len(magic)), bind, ErrMalformed},
		{"wrong magic", kr, flip(0), bind, ErrMalformed},
		{"truncated to header", kr, env[:hdr], bind, ErrMalformed},
		{"truncated by one", kr, env[:len(env)-1], bind, ErrDecrypt},
		{"truncated below minimum", kr, env[:hdr+nonceSize+wrappedSize+nonceSize+tagSize-1], bind, ErrMalformed},
		{"empty", kr, nil, bind, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := tc.ring.Open(tc.env, tc.binding)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %q, %v; want %v", pt, err, tc.want)
			}
		})
	}
}

// A key with the same id but different bytes cannot exist in practice; this
// checks that the wrap really depends on the master key bytes, not just the id.
func TestWrongKeySameID(t *testing.T) {
	k1 := testKey(t, 1)
	kr := testRing(t, k1)
	env, _ := kr.Seal([]byte("s"), bind)
	forged := &MasterKey{id: k1.id, aead: testKey(t, 3).aead}
	_, err := testRing(t, forged).Open(env, bind)
	if !errors.Is(err, ErrDecrypt) {
		t.Fatalf("got %v, want ErrDecrypt", err)
	}
}

func TestRotation(t *testing.T) {
	oldK, newK := testKey(t, 1), testKey(t, 2)
	oldRing := testRing(t, oldK)
	env, _ := oldRing.Seal([]byte("s3cret"), bind)

	rotated := testRing(t, newK, oldK)
	pt, err := rotated.Open(env, bind)
	if err != nil || string(pt) != "s3cret" {
		t.Fatalf("open old envelope with rotated ring: %q, %v", pt, err)
	}
	re, err := rotated.Reseal(env, bind)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := KeyID(re); id != newK.ID() {
		t.Fatalf("resealed under %s, want %s", id, newK.ID())
	}
	newOnly := testRing(t, newK)
	if _, err := newOnly.Open(re, bind); err != nil {
		t.Fatalf("new-key-only ring cannot open resealed envelope: %v", err)
	}
	if _, err := newOnly.Open(env, bind); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("new-key-only ring opened old envelope: %v", err)
	}
}

func TestBindingRequired(t *testing.T) {
	kr := testRing(t, testKey(t, 1))
	if _, err := kr.Seal([]byte("x"), Binding{Table: "t", Column: "c"}); err == nil {
		t.Fatal("Seal accepted an empty row id")
	}
}

func TestNewMasterKeySize(t *testing.T) {
	if _, err := NewMasterKey(make([]byte, 16)); err == nil {
		t.Fatal("accepted a 16-byte master key")
	}
}

func writeFile(t *testing.T, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask-proof
		t.Fatal(err)
	}
	return p
}

func TestLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	raw := bytes.Repeat([]byte{7}, KeySize)
	want, _ := NewMasterKey(raw)
	b64 := []byte("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n")
	hexText := []byte(strings.Repeat("07", KeySize) + "\n")
	for name, data := range map[string][]byte{"raw": raw, "b64": b64, "hex": hexText} {
		k, err := LoadKeyFile(writeFile(t, dir, name, data, 0o600))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if k.ID() != want.ID() {
			t.Fatalf("%s: id %s, want %s", name, k.ID(), want.ID())
		}
	}
	if _, err := LoadKeyFile(writeFile(t, dir, "short", []byte("c2hvcnQ=\n"), 0o600)); err == nil {
		t.Fatal("accepted a short key")
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644} {
		_, err := LoadKeyFile(writeFile(t, dir, "loose", b64, mode))
		if !errors.Is(err, ErrInsecureKeyFile) {
			t.Fatalf("mode %04o: got %v, want ErrInsecureKeyFile", mode, err)
		}
	}
	if _, err := LoadKeyFile(writeFile(t, dir, "ro", b64, 0o400)); err != nil {
		t.Fatalf("mode 0400 refused: %v", err)
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "absent")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "portico-data")
	noData := func() (bool, error) { return false, nil }
	hasData := func() (bool, error) { return true, nil }

	k1, created, err := LoadOrCreate(dir, detRand(9), noData)
	if err != nil || !created {
		t.Fatalf("first start: created=%v err=%v", created, err)
	}
	st, err := os.Stat(filepath.Join(dir, MasterKeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", st.Mode().Perm())
	}
	// A sealed secret survives a "restart".
	kr1 := testRing(t, k1)
	env, _ := kr1.Seal([]byte("x"), bind)

	k2, created, err := LoadOrCreate(dir, detRand(10), hasData)
	if err != nil || created {
		t.Fatalf("second start: created=%v err=%v", created, err)
	}
	if k2.ID() != k1.ID() {
		t.Fatal("second start loaded a different key")
	}
	if _, err := testRing(t, k2).Open(env, bind); err != nil {
		t.Fatal(err)
	}

	// Key file lost while the database has secrets: refuse.
	if err := os.Remove(filepath.Join(dir, MasterKeyFileName)); err != nil {
		t.Fatal(err)
	}
	_, _, err = LoadOrCreate(dir, detRand(11), hasData)
	if !errors.Is(err, ErrMasterKeyMissing) {
		t.Fatalf("missing key with data: got %v, want ErrMasterKeyMissing", err)
	}
	if !strings.Contains(err.Error(), filepath.Join(dir, MasterKeyFileName)) {
		t.Fatalf("error does not name the file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, MasterKeyFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a key file was created although data exists")
	}

	// The dataExists check failing is reported, not ignored.
	boom := errors.New("db down")
	if _, _, err := LoadOrCreate(dir, nil, func() (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v, want wrapped db error", err)
	}

	// A loose key file is refused at start-up too.
	writeFile(t, dir, MasterKeyFileName, []byte("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"), 0o644)
	if _, _, err := LoadOrCreate(dir, nil, noData); !errors.Is(err, ErrInsecureKeyFile) {
		t.Fatalf("got %v, want ErrInsecureKeyFile", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".master.key.tmp") {
			t.Fatalf("temporary file left behind: %s", e.Name())
		}
	}
}

func FuzzOpen(f *testing.F) {
	kr, _ := NewKeyring(detRand(1), mustKey(1))
	env, _ := kr.Seal([]byte("seed"), bind)
	f.Add(env)
	f.Add([]byte("PSE\x01\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pt, err := kr.Open(data, bind)
		if err == nil && !bytes.Equal(data, env) {
			t.Fatalf("forged envelope opened: %q", pt)
		}
	})
}

func mustKey(fill byte) *MasterKey {
	k, err := NewMasterKey(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		panic(err)
	}
	return k
}
