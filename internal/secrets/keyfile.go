package secrets

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// MasterKeyFileName is the name of the generated key file inside the data
// directory.
const MasterKeyFileName = "master.key"

var (
	// ErrMasterKeyMissing means the data directory holds encrypted data but
	// its master key file is gone. Generating a new key would make every
	// stored secret unreadable, so start-up must stop instead.
	ErrMasterKeyMissing = errors.New("secrets: master key file is missing but the database already holds encrypted secrets")
	// ErrInsecureKeyFile means the key file can be read or written by group
	// or others.
	ErrInsecureKeyFile = errors.New("secrets: master key file is accessible by group or others")
)

// LoadKeyFile reads a master key from path (the value of
// PORTICO_MASTER_KEY_FILE). The file holds the 32-byte key as standard base64
// or hex text (a trailing newline is allowed) or as 32 raw bytes. Files with
// any group or other permission bit are refused, as ssh does for private keys.
func LoadKeyFile(path string) (*MasterKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secrets: opening master key file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the checked file is the read one.
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secrets: stat master key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("secrets: master key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, want 0600 or 0400 (chmod 600 %s)", ErrInsecureKeyFile, path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("secrets: reading master key file %s: %w", path, err)
	}
	raw, err := decodeKey(data)
	clear(data)
	if err != nil {
		return nil, fmt.Errorf("secrets: master key file %s: %w", path, err)
	}
	defer clear(raw)
	return NewMasterKey(raw)
}

func decodeKey(data []byte) ([]byte, error) {
	if len(data) == KeySize {
		return bytes.Clone(data), nil
	}
	text := bytes.TrimSpace(data)
	if raw, err := base64.StdEncoding.AppendDecode(nil, text); err == nil && len(raw) == KeySize {
		return raw, nil
	}
	if raw, err := hex.AppendDecode(nil, text); err == nil && len(raw) == KeySize {
		return raw, nil
	}
	return nil, fmt.Errorf("want %d bytes as base64, hex or raw bytes", KeySize)
}

// LoadOrCreate returns the master key kept in <dataDir>/master.key, creating
// it (32 bytes from random, nil meaning crypto/rand, written as base64 with
// mode 0600) when it does not exist yet. dataExists reports whether the
// database already holds encrypted secrets; when it does and the file is
// missing, LoadOrCreate returns ErrMasterKeyMissing instead of creating a key
// that could never open them. created tells the caller to log that a new key
// was made (and that it must be backed up).
func LoadOrCreate(dataDir string, random io.Reader, dataExists func() (bool, error)) (key *MasterKey, created bool, err error) {
	path := filepath.Join(dataDir, MasterKeyFileName)
	key, err = LoadKeyFile(path)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	exists, err := dataExists()
	if err != nil {
		return nil, false, fmt.Errorf("secrets: checking for encrypted data: %w", err)
	}
	if exists {
		return nil, false, fmt.Errorf("%w: %s not found; restore it from backup or set PORTICO_MASTER_KEY_FILE", ErrMasterKeyMissing, path)
	}
	if random == nil {
		random = rand.Reader
	}
	raw := make([]byte, KeySize)
	defer clear(raw)
	if _, err := io.ReadFull(random, raw); err != nil {
		return nil, false, fmt.Errorf("secrets: generating master key: %w", err)
	}
	if err := writeKeyFile(dataDir, path, raw); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process on the same data directory won the race:
			// use its key.
			key, err = LoadKeyFile(path)
			return key, false, err
		}
		return nil, false, err
	}
	key, err = NewMasterKey(raw)
	return key, err == nil, err
}

// writeKeyFile writes the key to a temporary file and hard-links it into
// place, so the key file appears complete or not at all and an existing key
// is never overwritten (link fails with EEXIST).
func writeKeyFile(dir, path string, raw []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("secrets: creating data directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".master.key.tmp-*")
	if err != nil {
		return fmt.Errorf("secrets: creating master key file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	text := base64.StdEncoding.AppendEncode(nil, raw)
	text = append(text, '\n')
	defer clear(text)
	// CreateTemp already uses 0600; Chmod makes it explicit whatever the umask.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("secrets: chmod master key file: %w", err)
	}
	if _, err := tmp.Write(text); err != nil {
		tmp.Close()
		return fmt.Errorf("secrets: writing master key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("secrets: syncing master key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("secrets: closing master key file: %w", err)
	}
	if err := os.Link(tmpName, path); err != nil {
		return fmt.Errorf("secrets: installing master key file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new directory entry durable; best effort
		d.Close()
	}
	return nil
}
