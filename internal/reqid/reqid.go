// Package reqid mints request IDs: ULIDs (Crockford base32, 26 characters,
// time-ordered), so IDs sort by time in the call log and the console.
//
// Hand-written rather than oklog/ulid because it runs on every request:
// ulid.Make takes a global lock around its monotonic entropy source, while
// this uses the runtime's per-thread ChaCha8 source (math/rand/v2) with no
// lock and no allocation besides the string itself. Uniqueness comes from
// 80 random bits per millisecond, not from monotonic ordering within one.
package reqid

import (
	"math/rand/v2"
	"time"
)

const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// New returns a new request ID for time t.
func New(t time.Time) string {
	var b [26]byte
	ms := uint64(t.UnixMilli())
	// 48-bit timestamp → 10 characters.
	for i := 9; i >= 0; i-- {
		b[i] = alphabet[ms&31]
		ms >>= 5
	}
	// 80 random bits → 16 characters.
	r1, r2 := rand.Uint64(), rand.Uint64()
	for i := 10; i < 22; i++ {
		b[i] = alphabet[r1&31]
		r1 >>= 5
	}
	for i := 22; i < 26; i++ {
		b[i] = alphabet[r2&31]
		r2 >>= 5
	}
	return string(b[:])
}

// Valid reports whether s has the shape of a request ID (26 Crockford
// base32 characters); used to reject junk before a store lookup.
func Valid(s string) bool {
	if len(s) != 26 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U') {
			return false
		}
	}
	return true
}
