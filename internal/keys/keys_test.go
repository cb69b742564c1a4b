package keys

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
)

// fixedKey is a key assembled by hand, not by Generate. Its checksum was
// computed outside Go, with Python's zlib.crc32 and a hand-written base62
// encoder over the alphabet 0-9A-Za-z: the CRC-32 of its first 53
// characters is 1993469589, which is "2AuOVJ".
const (
	fixedKey    = "gk_live_7Hq2xK9pLm3Q_x8Kq2LmZ9vT4rB7nW1cY5hJ3dF6gP0sE2AuOVJ"
	fixedID     = "7Hq2xK9pLm3Q"
	fixedCRC    = 1993469589
	fixedCheck  = "2AuOVJ"
	fixedSHA256 = "0bf1d599be02c2933e8a63b1194d30dbf5e4e9957c5b77d3d6ce7311aa7152ed" // Python hashlib
)

func TestLayout(t *testing.T) {
	if got := len(Prefix) + envLen + 1 + IDLength + 1 + SecretLength + CheckLength; got != Length {
		t.Fatalf("segments add up to %d, Length is %d", got, Length)
	}
	if len(fixedKey) != Length {
		t.Fatalf("fixedKey has %d characters", len(fixedKey))
	}
}

// TestChecksumVectors pins the CRC and the alphabet against vectors computed
// independently of the package.
func TestChecksumVectors(t *testing.T) {
	tests := []struct {
		desc  string
		input string
		crc   uint32
		check string
	}{
		{"hand-built Gatehouse key (Python zlib.crc32)", fixedKey[:checkStart], fixedCRC, fixedCheck},
		{"all-zero test key (Python zlib.crc32)", "gk_test_000000000000_00000000000000000000000000000000", 3299390514, "3bHuC2"},
		// GitHub's classic token format uses the same CRC-32 and alphabet:
		// 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 checks only with 0-9A-Za-z.
		{"GitHub sample token entropy (alphabet order 0-9A-Za-z)", "M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq", 937837982, "11T4V4"},
		{"empty input", "", 0, "000000"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := crc32.ChecksumIEEE([]byte(tt.input)); got != tt.crc {
				t.Fatalf("hash/crc32 = %d, vector says %d", got, tt.crc)
			}
			if got := crcBitwise([]byte(tt.input)); got != tt.crc {
				t.Fatalf("bitwise CRC-32 = %d, vector says %d", got, tt.crc)
			}
			if got := checksum(tt.input); got != tt.crc {
				t.Fatalf("checksum = %d, want %d", got, tt.crc)
			}
			var b [CheckLength]byte
			putCheck(b[:], tt.crc)
			if string(b[:]) != tt.check {
				t.Fatalf("putCheck(%d) = %q, want %q", tt.crc, b[:], tt.check)
			}
			if got := independentCheck(tt.crc); got != tt.check {
				t.Fatalf("independent encoding of %d = %q, want %q", tt.crc, got, tt.check)
			}
		})
	}
}

// independentCheck encodes crc with math/big, whose base-62 digits are
// 0-9a-zA-Z (lower case first), then swaps the letter cases to get the
// 0-9A-Za-z order the format uses, and left-pads with '0'.
func independentCheck(crc uint32) string {
	s := new(big.Int).SetUint64(uint64(crc)).Text(62)
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsUpper(r):
			return unicode.ToLower(r)
		case unicode.IsLower(r):
			return unicode.ToUpper(r)
		}
		return r
	}, s)
	return strings.Repeat("0", CheckLength-len(s)) + s
}

// crcBitwise is CRC-32 (IEEE, reflected polynomial 0xEDB88320) computed
// bit by bit from its definition, independent of hash/crc32's tables.
func crcBitwise(b []byte) uint32 {
	crc := ^uint32(0)
	for _, c := range b {
		crc ^= uint32(c)
		for range 8 {
			if crc&1 == 1 {
				crc = crc>>1 ^ 0xEDB88320
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

func TestChecksumMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		b := make([]byte, r.IntN(80))
		for j := range b {
			b[j] = byte(r.UintN(256))
		}
		want := crcBitwise(b)
		if got := checksum(string(b)); got != want {
			t.Fatalf("case %d: checksum(%x) = %d, the bitwise definition says %d", i, b, got, want)
		}
		var enc [CheckLength]byte
		putCheck(enc[:], want)
		if got := independentCheck(want); string(enc[:]) != got {
			t.Fatalf("putCheck(%d) = %q, independent encoding %q", want, enc[:], got)
		}
	}
	// The largest CRC still fits six digits.
	if got := independentCheck(^uint32(0)); len(got) != CheckLength {
		t.Fatalf("max CRC encodes to %q", got)
	}
}

func TestGenerateRoundTrip10000(t *testing.T) {
	const n = 10000
	seen := make(map[string]bool, n)
	var counts [62]int
	for i := range n {
		env := EnvLive
		if i%2 == 1 {
			env = EnvTest
		}
		g, err := Generate(env)
		if err != nil {
			t.Fatalf("Generate(%q): %v", env, err)
		}
		if len(g.Full) != Length || g.Env != env || !strings.HasPrefix(g.Full, "gk_"+env+"_"+g.ID+"_") {
			t.Fatalf("Generate(%q) = %+v: wrong shape", env, g)
		}
		p, e := Parse(g.Full, env)
		if e != nil {
			t.Fatalf("Parse(%q): %v", g.Full, e)
		}
		if p.ID != g.ID || p.Env != env {
			t.Fatalf("Parse(%q) = %+v, generated %+v", g.Full, p, g)
		}
		if seen[g.ID] {
			t.Fatalf("id %q generated twice", g.ID)
		}
		seen[g.ID] = true
		for _, c := range []byte(g.ID + g.Full[secStart:checkStart]) {
			counts[strings.IndexByte(Alphabet, c)]++
		}
	}
	// Chi-square over the 62 characters of ids and secrets. Taking b%62
	// without rejection would make the first 8 characters 25% more likely
	// (χ² in the thousands); a fair source gives about 61 ± 11.
	total := 0
	for _, c := range counts {
		total += c
	}
	exp := float64(total) / 62
	chi := 0.0
	for _, c := range counts {
		d := float64(c) - exp
		chi += d * d / exp
	}
	if chi > 150 {
		t.Fatalf("character frequencies are biased: χ² = %.1f over 61 degrees of freedom (counts %v)", chi, counts)
	}
}

func TestRandBase62RejectsBiasedBytes(t *testing.T) {
	// 248..255 must be skipped (they would favour '0'..'7'); 0..247 map to
	// Alphabet[b%62].
	src := bytes.NewReader([]byte{
		255, 0, 248, 61, 62, 247, 250, 123, 124, 185, 186, 1, 2, 3, 4,
		5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
	})
	dst := make([]byte, 12)
	if err := randBase62(src, dst); err != nil {
		t.Fatal(err)
	}
	want := string([]byte{Alphabet[0], Alphabet[61], Alphabet[0], Alphabet[61], Alphabet[61], Alphabet[0], Alphabet[61], Alphabet[0], Alphabet[1], Alphabet[2], Alphabet[3], Alphabet[4]})
	if string(dst) != want {
		t.Fatalf("randBase62 = %q, want %q", dst, want)
	}
	if err := randBase62(bytes.NewReader(nil), dst); err == nil {
		t.Fatal("randBase62 with an empty source: no error")
	}
}

func TestGenerateRejectsUnknownEnvironment(t *testing.T) {
	for _, env := range []string{"", "prod", "LIVE", "live "} {
		if g, err := Generate(env); err == nil {
			t.Fatalf("Generate(%q) = %+v, want an error", env, g)
		}
	}
}

func TestNewID(t *testing.T) {
	a, err := NewID()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewID()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != IDLength || !allBase62(a) || a == b {
		t.Fatalf("NewID() = %q, %q", a, b)
	}
}

func TestHash(t *testing.T) {
	tests := []struct{ desc, in, want string }{
		{"fixed key (Python hashlib)", fixedKey, fixedSHA256},
		{"empty string (FIPS 180-2 vector)", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc (FIPS 180-2 vector)", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := Hash(tt.in); got != tt.want {
				t.Fatalf("Hash = %s, want %s", got, tt.want)
			}
			sum := sha256.Sum256([]byte(tt.in))
			if hex.EncodeToString(sum[:]) != tt.want {
				t.Fatal("vector disagrees with crypto/sha256")
			}
		})
	}
}

func TestLast4(t *testing.T) {
	tests := []struct{ desc, in, want string }{
		{"Gatehouse key: its last four checksum characters", fixedKey, "uOVJ"},
		{"imported key of 12 characters", "abcdefghijkl", "ijkl"},
		{"short imported key: nothing shown", "abcdefghijk", ""},
		{"empty", "", ""},
		{"multi-byte characters are not split", "ééééééééééééé", "éééé"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := Last4(tt.in); got != tt.want {
				t.Fatalf("Last4(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	h := Hash(fixedKey)
	other := Hash(fixedKey[:58] + "R")
	tests := []struct {
		desc string
		a, b string
		want bool
	}{
		{"same hash", h, strings.Clone(h), true},
		{"different hash", h, other, false},
		{"last character differs", h, h[:63] + flipHex(h[63]), false},
		{"prefix of the other", h, h[:32], false},
		{"empty against hash", "", h, false},
		{"both empty", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := Equal(tt.a, tt.b); got != tt.want {
				t.Fatalf("Equal = %v, want %v", got, tt.want)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() { _ = Equal(h, other) }); n != 0 {
		t.Fatalf("Equal allocates %v times per call", n)
	}
}

func flipHex(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}

func TestHasPrefix(t *testing.T) {
	tests := []struct {
		desc string
		in   string
		want bool
	}{
		{"a key", fixedKey, true},
		{"just the prefix", "gk_", true},
		{"upper case", "GK_LIVE_x", true},
		{"dash instead of underscore", "gk-live-x", true},
		{"whitespace and quotes around", " \"gk_live_x\"\n", true},
		{"typographic quotes", "“gk_live_x”", true},
		{"a JWT", "eyJhbGciOiJIUzI1NiJ9.e30.x", false},
		{"a Stripe key", "sk_live_abc", false},
		{"gk without separator", "gkx", false},
		{"empty", "", false},
		{"scheme in front (authheader reports it)", "Bearer gk_live_x", false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := HasPrefix(tt.in); got != tt.want {
				t.Fatalf("HasPrefix(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
