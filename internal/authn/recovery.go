package authn

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// RecoveryCodeCount is how many recovery codes a user gets at a time.
const RecoveryCodeCount = 10

// RecoveryCodeBits is the entropy of one recovery code: 10 random bytes,
// written as 16 characters of 5 bits.
const RecoveryCodeBits = 80

// recoveryEncoding is Crockford's base32 alphabet in lower case: digits
// and letters without i, l, o and u, so that nothing reads as something
// else. Typing I or L for 1 and O for 0 is forgiven (normalizeRecovery).
var recoveryEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// RecoveryMAC is the keyed hash recovery codes are stored under:
// HMAC-SHA256 under a key derived from the master key and bound to the
// user (secrets.Keyring.MAC). keyID names the master key, "" for the
// current one; the id used is returned and stored with the hash.
type RecoveryMAC func(keyID string, msg []byte) (usedKeyID string, tag []byte, err error)

// Prefixes of stored recovery hashes. A code issued before keyed hashes
// was stored as 64 hex digits of SHA-256(salt, 0, code) ("legacy").
const (
	// recoveryKeyed marks "rc2$KEYID$TAG": the keyed hash of a code.
	recoveryKeyed = "rc2$"
	// recoveryWrapped marks "rc1w$KEYID$TAG": the keyed hash of a legacy
	// SHA-256 hash, so that a database copy no longer yields the legacy
	// code either (ProtectLegacyRecoveryHashes).
	recoveryWrapped = "rc1w$"
)

// NewRecoveryCodes returns codes to show once (xxxx-xxxx-xxxx-xxxx, 80
// bits each) and their keyed hashes to store. A keyed hash rather than a
// slow one: without the master key nobody can test a guess against a
// database copy at all, and online guessing is throttled like TOTP codes.
func NewRecoveryCodes(random io.Reader, mac RecoveryMAC) (codes, hashes []string, err error) {
	for range RecoveryCodeCount {
		b := make([]byte, RecoveryCodeBits/8)
		if _, err := io.ReadFull(random, b); err != nil {
			return nil, nil, fmt.Errorf("recovery codes: %w", err)
		}
		s := recoveryEncoding.EncodeToString(b)
		code := s[:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:]
		h, err := keyedRecoveryHash(mac, "", recoveryKeyed, codeMessage(s))
		if err != nil {
			return nil, nil, err
		}
		codes = append(codes, code)
		hashes = append(hashes, h)
	}
	return codes, hashes, nil
}

// codeMessage is what the keyed hash of a (normalized) code covers.
func codeMessage(normalized string) []byte { return []byte("recovery code v2\x00" + normalized) }

// legacyMessage is what the keyed hash wrapping a legacy hash covers.
func legacyMessage(legacyHex string) []byte { return []byte("recovery code v1 sha256\x00" + legacyHex) }

func keyedRecoveryHash(mac RecoveryMAC, keyID, prefix string, msg []byte) (string, error) {
	if mac == nil {
		return "", errors.New("recovery codes: no keyed hash configured")
	}
	id, tag, err := mac(keyID, msg)
	if err != nil {
		return "", fmt.Errorf("recovery codes: keyed hash: %w", err)
	}
	return prefix + id + "$" + base64.RawURLEncoding.EncodeToString(tag), nil
}

// normalizeRecovery reads what a person typed: case, spaces and dashes do
// not matter. It returns the 16-character form of a current code, or the
// "xxxxx-xxxxx" form of a legacy one (legacy true); "" when it is neither.
func normalizeRecovery(code string) (norm string, legacy bool) {
	c := strings.ToLower(strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(code))
	switch len(c) {
	case 16:
		c = strings.NewReplacer("i", "1", "l", "1", "o", "0").Replace(c)
		if _, err := recoveryEncoding.DecodeString(c); err != nil {
			return "", false
		}
		return c, false
	case 10:
		// The legacy alphabet (RFC 4648 base32) is a-z and 2-7.
		for _, r := range c {
			if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
				return "", false
			}
		}
		return c[:5] + "-" + c[5:], true
	}
	return "", false
}

// legacyRecoveryHash is how codes issued before keyed hashes were stored:
// SHA-256 of the user id as salt, a zero byte and the code.
func legacyRecoveryHash(salt, normalized string) string {
	h := sha256.Sum256([]byte(salt + "\x00" + normalized))
	return hex.EncodeToString(h[:])
}

// UseRecoveryCode reports whether code matches one of hashes and returns
// the hashes left (a code works once; the caller stores them with
// compare-and-swap). legacySalt is the salt of codes issued before keyed
// hashes (the user id): they stay usable, once, whether their hash is
// still plain or already wrapped. All stored hashes are compared, in
// constant time each.
func UseRecoveryCode(code string, hashes []string, mac RecoveryMAC, legacySalt string) (rest []string, ok bool, err error) {
	norm, legacy := normalizeRecovery(code)
	if norm == "" {
		return hashes, false, nil
	}
	var legacyHex string
	if legacy {
		legacyHex = legacyRecoveryHash(legacySalt, norm)
	}
	idx := -1
	for i, stored := range hashes {
		var match bool
		switch {
		case strings.HasPrefix(stored, recoveryKeyed) && !legacy:
			match, err = keyedMatch(mac, stored, recoveryKeyed, codeMessage(norm))
		case strings.HasPrefix(stored, recoveryWrapped) && legacy:
			match, err = keyedMatch(mac, stored, recoveryWrapped, legacyMessage(legacyHex))
		case legacy && isLegacyHash(stored):
			match = subtle.ConstantTimeCompare([]byte(stored), []byte(legacyHex)) == 1
		}
		if err != nil {
			return hashes, false, err
		}
		if match {
			idx = i
		}
	}
	if idx < 0 {
		return hashes, false, nil
	}
	rest = append([]string{}, hashes[:idx]...)
	return append(rest, hashes[idx+1:]...), true, nil
}

// keyedMatch recomputes a stored keyed hash with the master key it names.
func keyedMatch(mac RecoveryMAC, stored, prefix string, msg []byte) (bool, error) {
	keyID, tagText, ok := strings.Cut(strings.TrimPrefix(stored, prefix), "$")
	if !ok {
		return false, nil
	}
	tag, err := base64.RawURLEncoding.DecodeString(tagText)
	if err != nil {
		return false, nil
	}
	if mac == nil {
		return false, errors.New("recovery codes: no keyed hash configured")
	}
	_, want, err := mac(keyID, msg)
	if err != nil {
		return false, fmt.Errorf("recovery codes: keyed hash: %w", err)
	}
	return hmac.Equal(tag, want), nil
}

func isLegacyHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// HasLegacyRecoveryHashes reports whether hashes still holds plain SHA-256
// hashes of codes issued before keyed hashes.
func HasLegacyRecoveryHashes(hashes []string) bool {
	for _, h := range hashes {
		if isLegacyHash(h) {
			return true
		}
	}
	return false
}

// ProtectLegacyRecoveryHashes replaces each plain SHA-256 hash of a code
// issued before keyed hashes with a keyed hash of it: the code keeps
// working once, and a database copy no longer lets anyone search its 50
// bits offline. Other hashes are returned as they are.
func ProtectLegacyRecoveryHashes(hashes []string, mac RecoveryMAC) ([]string, error) {
	out := make([]string, len(hashes))
	for i, h := range hashes {
		out[i] = h
		if isLegacyHash(h) {
			w, err := keyedRecoveryHash(mac, "", recoveryWrapped, legacyMessage(h))
			if err != nil {
				return hashes, err
			}
			out[i] = w
		}
	}
	return out, nil
}
