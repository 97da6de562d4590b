package authn

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters.
type Argon2Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
	SaltLen     int
	KeyLen      uint32
}

// DefaultArgon2 is OWASP's recommended minimum for argon2id (Password
// Storage Cheat Sheet): 19 MiB of memory, two iterations, one lane.
var DefaultArgon2 = Argon2Params{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// Hasher hashes and verifies passwords.
type Hasher struct {
	Params Argon2Params
	Random io.Reader
	// dummy is a hash of a random password, verified when the user does not
	// exist so that the answer takes as long as for a real user.
	dummy string
}

// NewHasher returns a hasher with params (DefaultArgon2 when zero).
func NewHasher(params Argon2Params) *Hasher {
	if params == (Argon2Params{}) {
		params = DefaultArgon2
	}
	h := &Hasher{Params: params, Random: rand.Reader}
	b := make([]byte, 16)
	rand.Read(b)
	h.dummy, _ = h.Hash(string(b))
	return h
}

// Maximum password length: argon2 accepts any length, but hashing a
// megabyte of input on every attempt is a denial-of-service lever.
const maxPasswordBytes = 1024

// ErrPasswordTooLong is returned for passwords over 1024 bytes.
var ErrPasswordTooLong = errors.New("password longer than 1024 bytes")

// Hash returns the PHC string of password:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (base64 without padding).
func (h *Hasher) Hash(password string) (string, error) {
	if len(password) > maxPasswordBytes {
		return "", ErrPasswordTooLong
	}
	p := h.Params
	salt := make([]byte, p.SaltLen)
	if _, err := io.ReadFull(h.Random, salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify checks password against encoded. needsRehash is true when the
// hash was made with other parameters than the hasher's: the caller stores
// a fresh hash while it has the plain password at hand.
func (h *Hasher) Verify(password, encoded string) (ok, needsRehash bool, err error) {
	if len(password) > maxPasswordBytes {
		return false, false, nil
	}
	p, salt, key, err := decodePHC(encoded)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(key)))
	ok = subtle.ConstantTimeCompare(got, key) == 1
	cur := h.Params
	needsRehash = p.MemoryKiB != cur.MemoryKiB || p.Iterations != cur.Iterations || p.Parallelism != cur.Parallelism ||
		uint32(len(key)) != cur.KeyLen || len(salt) != cur.SaltLen
	return ok, needsRehash, nil
}

// VerifyNothing spends the time of one verification and returns false: used
// when the user does not exist or has no password, so that response time
// does not reveal which usernames exist.
func (h *Hasher) VerifyNothing(password string) bool {
	h.Verify(password, h.dummy)
	return false
}

func decodePHC(s string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil {
		return p, nil, nil, fmt.Errorf("argon2 parameters %q: %w", parts[3], err)
	}
	if p.MemoryKiB > 4<<20 || p.Iterations > 100 || p.Parallelism == 0 {
		return p, nil, nil, errors.New("argon2 parameters out of range")
	}
	if salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return p, nil, nil, fmt.Errorf("argon2 salt: %w", err)
	}
	if key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(key) < 16 {
		return p, nil, nil, errors.New("argon2 hash: bad key")
	}
	p.SaltLen = len(salt)
	p.KeyLen = uint32(len(key))
	return p, salt, key, nil
}
