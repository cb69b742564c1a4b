// Package keys is the Gatehouse API key format (spec §3): generation,
// hashing and the offline parser that tells a caller exactly what is wrong
// with a key before any lookup is made.
//
// A key is
//
//	gk_<env>_<id>_<secret><check>
//
// with env "live" or "test", id 12 base62 characters (public), secret 32
// base62 characters from crypto/rand, and check 6 base62 characters: the
// CRC-32 (IEEE) of everything before it, most significant digit first,
// left-padded with '0'. The base62 alphabet is 0-9A-Za-z (digits, then
// upper case, then lower case) — the order GitHub and npm use for their
// token checksums, and NOT the order of math/big's Int.Text(62), which puts
// lower case first. A key is always Length (59) bytes long.
//
// The checksum is not an authenticity check (anyone can compute a CRC); it
// lets the gateway tell a typo or a truncated copy from an unknown key
// without touching the store, so garbage never costs a lookup.
//
// The package does no I/O and holds no mutable state.
package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf8"
	"unsafe"
)

// Layout of a key. Offsets are byte offsets into the key.
const (
	// Prefix starts every Gatehouse key. It names the issuer so secret
	// scanners and the gateway can recognise a key without a lookup.
	Prefix = "gk_"
	// Length is the length of every Gatehouse key in bytes (all ASCII).
	Length = 59

	// EnvLive and EnvTest are the two environments a key can belong to.
	EnvLive = "live"
	EnvTest = "test"

	// Alphabet is the base62 alphabet of ids, secrets and checksums.
	Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

	// IDLength, SecretLength and CheckLength are the segment lengths.
	IDLength     = 12
	SecretLength = 32
	CheckLength  = 6

	envLen     = 4
	envStart   = len(Prefix)             // 3
	sep1       = envStart + envLen       // 7: '_' after the env
	idStart    = sep1 + 1                // 8
	sep2       = idStart + IDLength      // 20: '_' after the id
	secStart   = sep2 + 1                // 21
	checkStart = secStart + SecretLength // 53
)

// The layout constants must add up to Length; this fails to compile if not.
var _ = [1]struct{}{}[checkStart+CheckLength-Length]

// Generated is a freshly minted key. Full is shown to its owner once and
// never stored; ID and Env are public.
type Generated struct{ Full, ID, Env string }

// Generate mints a new key for env ("live" or "test") from crypto/rand.
func Generate(env string) (Generated, error) {
	if env != EnvLive && env != EnvTest {
		return Generated{}, fmt.Errorf("keys: generate: environment %q is not %q or %q", env, EnvLive, EnvTest)
	}
	var b [Length]byte
	copy(b[:], Prefix)
	copy(b[envStart:], env)
	b[sep1] = '_'
	b[sep2] = '_'
	if err := randBase62(rand.Reader, b[idStart:sep2]); err != nil {
		return Generated{}, fmt.Errorf("keys: generate id: %w", err)
	}
	if err := randBase62(rand.Reader, b[secStart:checkStart]); err != nil {
		return Generated{}, fmt.Errorf("keys: generate secret: %w", err)
	}
	putCheck(b[checkStart:], checksum(unsafe.String(&b[0], checkStart)))
	full := string(b[:])
	return Generated{Full: full, ID: full[idStart:sep2], Env: full[envStart:sep1]}, nil
}

// NewID returns a fresh 12-character base62 id, for keys imported from
// another system (which have no id of their own) and anything else that
// needs an id in the same shape as a key's.
func NewID() (string, error) {
	var b [IDLength]byte
	if err := randBase62(rand.Reader, b[:]); err != nil {
		return "", fmt.Errorf("keys: new id: %w", err)
	}
	return string(b[:]), nil
}

// randBase62 fills dst with uniformly distributed base62 characters from
// src (crypto/rand's Reader; a test passes fixed bytes). A random byte is
// used only if it is below 248 (= 4·62), so b%62 is unbiased; the others
// (3% of bytes) are drawn again (rejection sampling).
func randBase62(src io.Reader, dst []byte) error {
	const limit = byte(256 - 256%len(Alphabet)) // 248
	var buf [64]byte
	n := 0
	for n < len(dst) {
		// Ask for a little more than needed: about 1 byte in 32 is rejected.
		want := min(len(buf), len(dst)-n+len(dst)/8+2)
		if _, err := io.ReadFull(src, buf[:want]); err != nil {
			return fmt.Errorf("read random bytes: %w", err)
		}
		for _, c := range buf[:want] {
			if c >= limit {
				continue
			}
			dst[n] = Alphabet[c%byte(len(Alphabet))]
			n++
			if n == len(dst) {
				break
			}
		}
	}
	return nil
}

// checksum is CRC-32 (IEEE) of s. hash/crc32 reads a zero-copy view of
// the string (it only reads it): converting with []byte(s) would allocate
// on every request, and hash/crc32's slicing and CPU-accelerated code is
// several times faster than a byte-at-a-time table loop.
func checksum(s string) uint32 {
	return crc32.ChecksumIEEE(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// putCheck writes crc as CheckLength base62 digits, most significant first,
// left-padded with '0'. 62^6 > 2^32, so six digits always suffice.
func putCheck(dst []byte, crc uint32) {
	for i := CheckLength - 1; i >= 0; i-- {
		dst[i] = Alphabet[crc%62]
		crc /= 62
	}
}

// checkMatches reports whether the six characters c encode crc. The
// checksum is not secret, so an ordinary comparison is fine.
func checkMatches(c string, crc uint32) bool {
	var want [CheckLength]byte
	putCheck(want[:], crc)
	return c == unsafe.String(&want[0], CheckLength)
}

// Hash returns the lowercase hex SHA-256 of the full key: the only form in
// which a key is stored. A plain (unsalted, fast) hash is right here: the
// key has ≥190 bits of entropy, so there is nothing to brute-force, and the
// hot path hashes on every request.
func Hash(full string) string {
	// A zero-copy view: Sum256 only reads it, and []byte(full) would cost
	// an allocation per request on top of the result's.
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(full), len(full)))
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// Last4 returns the last four characters of a key, for display next to its
// id. For a Gatehouse key these are checksum characters. For a short
// imported key (fewer than 12 characters) it returns "": four characters of
// a short secret would give away too much of it.
func Last4(full string) string {
	if utf8.RuneCountInString(full) < 12 {
		return ""
	}
	i := len(full)
	for range 4 {
		_, size := utf8.DecodeLastRuneInString(full[:i])
		i -= size
	}
	return full[i:]
}

// Equal compares two key hashes in constant time (for equal lengths; the
// length of a hash is public). Hashes are compared, not keys, so the store
// never needs the key itself.
func Equal(hashA, hashB string) bool {
	// The conversions do not escape and are only read, so the compiler
	// does not copy them (TestEqualDoesNotAllocate keeps it so).
	return subtle.ConstantTimeCompare([]byte(hashA), []byte(hashB)) == 1
}
