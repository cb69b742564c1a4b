package secrets

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Passwords of basic credentials are hashed, not sealed: they only need
// checking. The hash is argon2id in the PHC string format
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>
//
// (salt and hash unpadded standard base64), so parameters can grow later
// while old hashes keep verifying.

// Argon2id parameters of new hashes: OWASP's baseline (19 MiB, 2 passes,
// 1 lane), a few tens of milliseconds per check, which the verifier pays
// on each Basic request it does not cache.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonSaltLen   = 16
	argonKeyLen    = 32
)

// Bounds on parameters read from a stored hash, so a corrupted or hostile
// row cannot make one check take gigabytes or minutes.
const (
	maxArgonMemoryKiB = 1 << 20 // 1 GiB
	maxArgonTime      = 16
	maxArgonThreads   = 16
)

// ErrBadHash says a stored password hash is not an argon2id PHC string this
// package can check.
var ErrBadHash = errors.New("secrets: not an argon2id password hash")

// HashPassword returns the argon2id PHC string of password with a random
// salt.
func HashPassword(password []byte) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("secrets: salt: %w", err)
	}
	key := argon2.IDKey(password, salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// phc is a parsed hash.
type phc struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func parsePHC(s string) (phc, error) {
	var h phc
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, ErrBadHash
	}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || n == 0 {
			return h, fmt.Errorf("%w: parameter %q", ErrBadHash, kv)
		}
		switch k {
		case "m":
			h.memory = uint32(n)
		case "t":
			h.time = uint32(n)
		case "p":
			if n > maxArgonThreads {
				return h, fmt.Errorf("%w: p=%d exceeds %d", ErrBadHash, n, maxArgonThreads)
			}
			h.threads = uint8(n)
		default:
			return h, fmt.Errorf("%w: unknown parameter %q", ErrBadHash, k)
		}
	}
	if h.memory == 0 || h.time == 0 || h.threads == 0 || h.memory > maxArgonMemoryKiB || h.time > maxArgonTime {
		return h, fmt.Errorf("%w: parameters m, t and p must be set and bounded", ErrBadHash)
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return h, fmt.Errorf("%w: salt", ErrBadHash)
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < 16 {
		return h, fmt.Errorf("%w: hash", ErrBadHash)
	}
	return h, nil
}

// VerifyPassword reports whether password matches the PHC string, comparing
// in constant time. An error means the stored hash itself is unusable.
func VerifyPassword(hash string, password []byte) (bool, error) {
	h, err := parsePHC(hash)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey(password, h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// VerifyDummy spends the same work as VerifyPassword on a hash made by
// HashPassword, and always fails: a verifier runs it for unknown usernames
// so their answer takes as long as a wrong password's.
func VerifyDummy(password []byte) {
	var salt [argonSaltLen]byte
	_ = argon2.IDKey(password, salt[:], argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
}
