package authn

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// RecoveryCodeCount is how many recovery codes a user gets at a time.
const RecoveryCodeCount = 10

// recoveryEncoding avoids padding and lower-case ambiguity.
var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewRecoveryCodes returns codes to show once (xxxxx-xxxxx, 50 bits each)
// and their hashes to store. A fast salted hash is enough: 50 random bits
// cannot be brute-forced offline in useful time per user, and online
// guessing is throttled like passwords.
func NewRecoveryCodes(random io.Reader, salt string) (codes, hashes []string, err error) {
	for range RecoveryCodeCount {
		b := make([]byte, 7)
		if _, err := io.ReadFull(random, b); err != nil {
			return nil, nil, fmt.Errorf("recovery codes: %w", err)
		}
		s := strings.ToLower(recoveryEncoding.EncodeToString(b))[:10]
		code := s[:5] + "-" + s[5:]
		codes = append(codes, code)
		hashes = append(hashes, hashRecovery(salt, code))
	}
	return codes, hashes, nil
}

func normalizeRecovery(code string) string {
	code = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(code), " ", ""))
	if len(code) == 10 {
		code = code[:5] + "-" + code[5:]
	}
	return code
}

func hashRecovery(salt, code string) string {
	h := sha256.Sum256([]byte(salt + "\x00" + normalizeRecovery(code)))
	return hex.EncodeToString(h[:])
}

// UseRecoveryCode reports whether code is one of hashes and returns the
// hashes left (a code works once).
func UseRecoveryCode(code, salt string, hashes []string) ([]string, bool) {
	h := hashRecovery(salt, code)
	idx := -1
	for i, s := range hashes {
		if subtle.ConstantTimeCompare([]byte(s), []byte(h)) == 1 {
			idx = i
		}
	}
	if idx < 0 {
		return hashes, false
	}
	rest := append([]string{}, hashes[:idx]...)
	return append(rest, hashes[idx+1:]...), true
}
