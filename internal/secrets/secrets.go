// Package secrets encrypts the secrets Gatehouse must be able to read back
// (HMAC credential secrets, issuers' HS256 and introspection client
// secrets, later AI provider keys) under a master key, with AES-256-GCM.
// Secrets that only need checking (API keys, admin tokens, passwords) are
// hashed elsewhere and never come here.
//
// Master key (§1): GATEHOUSE_MASTER_KEY, the base64 of 32 random bytes
// (`openssl rand -base64 32`). When it is unset and the store is the
// embedded SQLite file, a key file "master.key" is generated beside the
// database with mode 0600 on first start and read on every later one; a
// key file others can read is refused. Any other store requires the
// variable. Back the key up with the database: without it the sealed
// secrets cannot be opened.
//
// Sealed form: "gs1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>". The key
// id (8 hex characters derived from the key, not secret) lets a box hold
// several keys so the master key can rotate: values sealed under an old key
// still open while new ones use the current key, and a value sealed under a
// key the box does not have fails with an error naming both ids. The
// prefix and key id are authenticated as GCM additional data.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EnvMasterKey names the master key's environment variable.
const EnvMasterKey = "GATEHOUSE_MASTER_KEY"

// KeyFileName is the generated key file beside the embedded database.
const KeyFileName = "master.key"

// KeySize is the master key's length in bytes (AES-256).
const KeySize = 32

// version prefixes every sealed value.
const version = "gs1"

// Errors of Open, wrapped with details that never include key material.
var (
	// ErrMalformed: the string is not a sealed value at all.
	ErrMalformed = errors.New("secrets: not a sealed value")
	// ErrWrongKey: sealed under a master key this box does not hold.
	ErrWrongKey = errors.New("secrets: sealed under another master key")
	// ErrCorrupt: the key matches but the value does not authenticate.
	ErrCorrupt = errors.New("secrets: sealed value altered or truncated")
)

// Box seals and opens secrets. It is safe for concurrent use.
type Box struct {
	current string
	aeads   map[string]cipher.AEAD
}

// New returns a box that seals with key and opens values sealed with key
// or any of old (previous master keys, for rotation).
func New(key []byte, old ...[]byte) (*Box, error) {
	b := &Box{aeads: map[string]cipher.AEAD{}}
	for i, k := range append([][]byte{key}, old...) {
		if len(k) != KeySize {
			return nil, fmt.Errorf("secrets: master key %d has %d bytes; it must have %d", i+1, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
		id := keyID(k)
		if i == 0 {
			b.current = id
		}
		if _, dup := b.aeads[id]; !dup {
			b.aeads[id] = aead
		}
	}
	return b, nil
}

// keyID derives a short public identifier from a key: a hash prefix with
// a domain separator, so it reveals nothing usable about the key.
func keyID(k []byte) string {
	h := sha256.New()
	h.Write([]byte("gatehouse master key id\x00"))
	h.Write(k)
	return hex.EncodeToString(h.Sum(nil)[:4])
}

// KeyID is the id of the key new values are sealed with.
func (b *Box) KeyID() string { return b.current }

// Seal encrypts plaintext under the current key with a random nonce.
func (b *Box) Seal(plaintext []byte) (string, error) {
	aead := b.aeads[b.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("secrets: nonce: %w", err)
	}
	prefix := version + ":" + b.current + ":"
	sealed := aead.Seal(nonce, nonce, plaintext, []byte(prefix))
	return prefix + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open decrypts a value Seal returned, under whichever of the box's keys
// sealed it.
func (b *Box) Open(sealed string) ([]byte, error) {
	v, rest, ok := strings.Cut(sealed, ":")
	id, data, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || v != version || len(id) != 8 {
		return nil, fmt.Errorf("%w (want %s:<key id>:<data>)", ErrMalformed, version)
	}
	aead, ok := b.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w: the value was sealed with master key %s, but this gateway's master key is %s: "+
			"%s (or the %s file beside the database) is not the one the secret was stored with", ErrWrongKey, id, b.current, EnvMasterKey, KeyFileName)
	}
	raw, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: the data is not base64url or too short", ErrCorrupt)
	}
	n := aead.NonceSize()
	out, err := aead.Open(nil, raw[:n], raw[n:], []byte(version+":"+id+":"))
	if err != nil {
		return nil, fmt.Errorf("%w: it does not authenticate under master key %s", ErrCorrupt, id)
	}
	return out, nil
}

// Load returns the gateway's box: from GATEHOUSE_MASTER_KEY when set (read
// through getenv); else, for the embedded store at dbPath, from the key
// file beside it, generated on first use. dbPath ":memory:" (tests) gets a
// random key that lives as long as the process, like the database. An
// empty dbPath means a store without a local file (PostgreSQL), where the
// variable is required.
func Load(getenv func(string) string, dbPath string) (*Box, error) {
	if v := strings.TrimSpace(getenv(EnvMasterKey)); v != "" {
		key, err := decodeKey(v)
		if err != nil {
			return nil, fmt.Errorf("secrets: %s %w", EnvMasterKey, err)
		}
		return New(key)
	}
	switch dbPath {
	case "":
		return nil, fmt.Errorf("secrets: %s is not set; it is required when the store is not the embedded one "+
			"(every node must share it): set it to the base64 of 32 random bytes, e.g. openssl rand -base64 32", EnvMasterKey)
	case ":memory:":
		key := make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
		return New(key)
	}
	key, err := keyFile(filepath.Join(filepath.Dir(dbPath), KeyFileName))
	if err != nil {
		return nil, err
	}
	return New(key)
}

// decodeKey reads base64 (standard or URL alphabet, padded or not) of
// exactly KeySize bytes. Errors never quote the value.
func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("decodes to %d bytes; it must be the base64 of exactly %d random bytes (openssl rand -base64 32)", len(k), KeySize)
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("is not base64; it must be the base64 of %d random bytes (openssl rand -base64 32)", KeySize)
}

// keyFile reads the key file at path, creating it first if it does not
// exist. Creation is atomic (a complete temporary file is hard-linked into
// place), so two processes starting at once end up with the same key.
func keyFile(path string) ([]byte, error) {
	key, err := readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secrets: create directory for %s: %w", path, err)
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".master.key-*")
	if err != nil {
		return nil, fmt.Errorf("secrets: create %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp already uses 0600; Chmod states it whatever the umask.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("secrets: create %s: %w", path, err)
	}
	_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("secrets: write %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKeyFile(path) // another process created it first
		}
		return nil, fmt.Errorf("secrets: create %s: %w", path, err)
	}
	return key, nil
}

func readKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("secrets: master key file: %w", err)
	}
	if p := fi.Mode().Perm(); p&0o077 != 0 {
		return nil, fmt.Errorf("secrets: master key file %s has mode %04o: other users may read it; make it private with chmod 600 %s", path, p, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets: master key file: %w", err)
	}
	key, err := decodeKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("secrets: master key file %s %w", path, err)
	}
	return key, nil
}
