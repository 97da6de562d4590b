// Package secrets encrypts secrets at rest (private keys of signing
// certificates, TOTP seeds, client secrets) with envelope encryption under a
// master key kept outside the database.
//
// # Scheme
//
// Every call to [Keyring.Seal] draws a fresh 256-bit data key and encrypts the
// plaintext with it (AES-256-GCM, NIST SP 800-38D). The data key is then
// wrapped (encrypted) with the master key, also with AES-256-GCM. Both GCM
// operations authenticate the same additional data: the encoding header
// (format version and master-key id) and the [Binding] of the secret to its
// place in the database (table, column, row id). A ciphertext copied to another
// row, another column or another table therefore fails to open, as does one
// whose header was edited.
//
// Why an envelope rather than one AEAD call under the master key: the master
// key then only ever encrypts 32-byte random data keys, so its use count grows
// slowly and stays far below the 2^32 random-nonce limit of SP 800-38D §8.3;
// rotating the master key (or moving it into a KMS that only wraps keys) means
// re-wrapping 48 bytes per secret, never touching the secret itself; and the
// master key never sees attacker-influenced plaintext.
//
// # Encoding (version 1)
//
//	magic "PSE" | version 0x01 | key-id length (1 byte) | key id
//	| wrap nonce (12) | wrapped data key (32+16)
//	| data nonce (12) | ciphertext+tag (len(plaintext)+16)
//
// The key id is derived from the master key itself (see [MasterKey.ID]), so a
// [Keyring] holding an old and a new master key can open either generation and
// always seals with its primary key.
//
// # Keyed hashes
//
// Some values are never needed back, only recognized (recovery codes).
// [Keyring.MAC] hashes them with HMAC-SHA256 under a key derived from the
// master key (HKDF-SHA256, RFC 5869, one key per purpose) and bound to the
// same table/column/row binding, so a copy of the database alone does not
// let anyone test guesses. The master-key id is stored beside each hash.
//
// # Master key
//
// The master key is 32 random bytes in a file readable by its owner only.
// [LoadKeyFile] reads an operator-provided file (PORTICO_MASTER_KEY_FILE);
// [LoadOrCreate] generates <dataDir>/master.key on the first start and, on later
// starts, refuses to invent a new key when the database already holds
// encrypted data: a new key could never open it.
package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Errors returned by this package. Callers test them with errors.Is.
var (
	// ErrDecrypt means the ciphertext does not authenticate: wrong master key,
	// wrong binding, or tampered bytes. The three are deliberately not told
	// apart (no decryption oracle).
	ErrDecrypt = errors.New("secrets: ciphertext does not authenticate (wrong key, wrong binding or tampered)")
	// ErrMalformed means the input is not a version-1 envelope (truncated,
	// wrong magic, unknown version).
	ErrMalformed = errors.New("secrets: malformed envelope")
	// ErrUnknownKey means the envelope names a master key the keyring lacks.
	ErrUnknownKey = errors.New("secrets: envelope sealed with an unknown master key")
)

const (
	// KeySize is the size of a master key and of a data key: AES-256.
	KeySize = 32

	magic       = "PSE"
	version1    = byte(1)
	nonceSize   = 12 // GCM standard nonce, SP 800-38D §8.2.2
	tagSize     = 16
	wrappedSize = KeySize + tagSize
)

// Binding ties a ciphertext to the database cell that stores it. All three
// fields are part of the authenticated data; RowID is typically the row's
// UUIDv7.
type Binding struct {
	// Table is the table name, e.g. "signing_keys".
	Table string
	// Column is the column holding the envelope, e.g. "private_key".
	Column string
	// RowID is the row's primary key.
	RowID string
}

// appendAAD appends the length-prefixed binding so that no two different
// bindings produce the same bytes ("a|b","c" versus "a","b|c").
func (b Binding) appendAAD(dst []byte) []byte {
	for _, s := range []string{b.Table, b.Column, b.RowID} {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

func (b Binding) validate() error {
	if b.Table == "" || b.Column == "" || b.RowID == "" {
		return fmt.Errorf("secrets: binding needs table, column and row id (got %q/%q/%q)", b.Table, b.Column, b.RowID)
	}
	return nil
}

// MasterKey is an AES-256 key-encryption key. It holds only the initialised
// cipher, not the raw bytes.
type MasterKey struct {
	id   string
	aead cipher.AEAD
	// macPRK is the HKDF pseudorandom key (RFC 5869 §2.2) from which the
	// keys of Keyring.MAC are expanded; the raw key is not kept.
	macPRK []byte
}

// NewMasterKey builds a master key from 32 raw bytes.
func NewMasterKey(raw []byte) (*MasterKey, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("secrets: master key must be %d bytes, got %d", KeySize, len(raw))
	}
	aead, err := newGCM(raw)
	if err != nil {
		return nil, fmt.Errorf("secrets: master key: %w", err)
	}
	// The id is a one-way fingerprint: it names the key in envelopes and
	// logs without revealing anything usable about it.
	sum := sha256.Sum256(append([]byte("portico master key id v1\x00"), raw...))
	prk, err := hkdf.Extract(sha256.New, raw, []byte(macSalt))
	if err != nil {
		return nil, fmt.Errorf("secrets: master key: %w", err)
	}
	return &MasterKey{id: hex.EncodeToString(sum[:8]), aead: aead, macPRK: prk}, nil
}

// ID returns the key's id: 16 hex digits of a SHA-256 fingerprint of the key.
func (k *MasterKey) ID() string { return k.id }

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return aead, nil
}

// Keyring seals with its primary master key and opens envelopes made with any
// of its keys, which is what a master-key rotation needs: add the new key as
// primary, keep the old one until every secret has been re-sealed.
type Keyring struct {
	primary *MasterKey
	keys    map[string]*MasterKey
	rand    io.Reader
}

// NewKeyring returns a keyring that seals with primary and can also open
// envelopes sealed with older keys. random supplies nonces and data keys; nil
// means crypto/rand (tests pass a deterministic reader).
func NewKeyring(random io.Reader, primary *MasterKey, older ...*MasterKey) (*Keyring, error) {
	if primary == nil {
		return nil, errors.New("secrets: keyring needs a primary master key")
	}
	if random == nil {
		random = rand.Reader
	}
	kr := &Keyring{primary: primary, keys: map[string]*MasterKey{primary.id: primary}, rand: random}
	for _, k := range older {
		if k == nil {
			return nil, errors.New("secrets: nil master key in keyring")
		}
		kr.keys[k.id] = k
	}
	return kr, nil
}

// PrimaryID returns the id of the key new envelopes are sealed with.
func (kr *Keyring) PrimaryID() string { return kr.primary.id }

func header(keyID string) []byte {
	h := make([]byte, 0, len(magic)+2+len(keyID))
	h = append(h, magic...)
	h = append(h, version1, byte(len(keyID)))
	return append(h, keyID...)
}

// Seal encrypts plaintext for storage in the cell named by b.
func (kr *Keyring) Seal(plaintext []byte, b Binding) ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	hdr := header(kr.primary.id)
	aad := b.appendAAD(append([]byte(nil), hdr...))

	// One read for data key and both nonces.
	var rnd [KeySize + 2*nonceSize]byte
	if _, err := io.ReadFull(kr.rand, rnd[:]); err != nil {
		return nil, fmt.Errorf("secrets: reading randomness: %w", err)
	}
	dataKey, wrapNonce, dataNonce := rnd[:KeySize], rnd[KeySize:KeySize+nonceSize], rnd[KeySize+nonceSize:]
	defer clear(rnd[:])

	dataAEAD, err := newGCM(dataKey)
	if err != nil {
		return nil, fmt.Errorf("secrets: data key: %w", err)
	}
	out := make([]byte, 0, len(hdr)+nonceSize+wrappedSize+nonceSize+len(plaintext)+tagSize)
	out = append(out, hdr...)
	out = append(out, wrapNonce...)
	out = kr.primary.aead.Seal(out, wrapNonce, dataKey, aad)
	out = append(out, dataNonce...)
	out = dataAEAD.Seal(out, dataNonce, plaintext, aad)
	return out, nil
}

// Open decrypts an envelope made by Seal for the same binding.
func (kr *Keyring) Open(envelope []byte, b Binding) ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	if len(envelope) < len(magic)+2 || !bytes.Equal(envelope[:len(magic)], []byte(magic)) {
		return nil, fmt.Errorf("%w: missing %q prefix", ErrMalformed, magic)
	}
	if v := envelope[len(magic)]; v != version1 {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrMalformed, v)
	}
	idLen := int(envelope[len(magic)+1])
	hdrLen := len(magic) + 2 + idLen
	if len(envelope) < hdrLen+nonceSize+wrappedSize+nonceSize+tagSize {
		return nil, fmt.Errorf("%w: truncated (%d bytes)", ErrMalformed, len(envelope))
	}
	keyID := string(envelope[len(magic)+2 : hdrLen])
	mk, ok := kr.keys[keyID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, keyID)
	}
	aad := b.appendAAD(append([]byte(nil), envelope[:hdrLen]...))
	rest := envelope[hdrLen:]
	wrapNonce, wrapped := rest[:nonceSize], rest[nonceSize:nonceSize+wrappedSize]
	rest = rest[nonceSize+wrappedSize:]
	dataNonce, ct := rest[:nonceSize], rest[nonceSize:]

	dataKey, err := mk.aead.Open(nil, wrapNonce, wrapped, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	defer clear(dataKey)
	dataAEAD, err := newGCM(dataKey)
	if err != nil {
		return nil, fmt.Errorf("secrets: data key: %w", err)
	}
	pt, err := dataAEAD.Open(nil, dataNonce, ct, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// KeyID returns the id of the master key an envelope was sealed with, without
// decrypting it; a rotation job uses it to find envelopes still under an old
// key.
func KeyID(envelope []byte) (string, error) {
	if len(envelope) < len(magic)+2 || !bytes.Equal(envelope[:len(magic)], []byte(magic)) || envelope[len(magic)] != version1 {
		return "", ErrMalformed
	}
	n := int(envelope[len(magic)+1])
	if len(envelope) < len(magic)+2+n {
		return "", ErrMalformed
	}
	return string(envelope[len(magic)+2 : len(magic)+2+n]), nil
}

// Reseal re-encrypts an envelope under the keyring's primary key (master-key
// rotation). The binding must be the one the envelope was sealed for.
func (kr *Keyring) Reseal(envelope []byte, b Binding) ([]byte, error) {
	pt, err := kr.Open(envelope, b)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return kr.Seal(pt, b)
}
