package secrets

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
)

// macSalt is the HKDF salt (RFC 5869 §3.1) of the keys derived from a
// master key for keyed hashes; it only separates this use from any other
// HKDF use of the same master key.
const macSalt = "portico master key: keyed hashes v1"

// MAC returns a keyed hash of msg that only a holder of the master key can
// compute: HMAC-SHA256 (RFC 2104) under a key derived from the master key
// for purpose with HKDF-SHA256 (RFC 5869; info "mac:" + purpose), over the
// length-prefixed binding and then msg. A hash copied to another row does
// not match there, and a database copy without the master key file does not
// let anyone test guesses offline.
//
// keyID names the master key ("" means the primary); the id of the key
// used is returned with the tag, to be stored beside it, so that a hash made
// before a master-key rotation still checks while the old key stays in the
// keyring.
func (kr *Keyring) MAC(keyID, purpose string, b Binding, msg []byte) (usedKeyID string, tag []byte, err error) {
	if err := b.validate(); err != nil {
		return "", nil, err
	}
	if purpose == "" {
		return "", nil, errors.New("secrets: MAC needs a purpose")
	}
	mk := kr.primary
	if keyID != "" {
		var ok bool
		if mk, ok = kr.keys[keyID]; !ok {
			return "", nil, fmt.Errorf("%w: %q", ErrUnknownKey, keyID)
		}
	}
	key, err := hkdf.Expand(sha256.New, mk.macPRK, "mac:"+purpose, sha256.Size)
	if err != nil {
		return "", nil, fmt.Errorf("secrets: derive MAC key: %w", err)
	}
	defer clear(key)
	h := hmac.New(sha256.New, key)
	h.Write(b.appendAAD(nil))
	h.Write(msg)
	return mk.id, h.Sum(nil), nil
}
