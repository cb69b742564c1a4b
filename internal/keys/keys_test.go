package keys

import (
	"hash/crc32"
	"strings"
	"testing"

	"gatehouse/internal/reason"
)

// fixedKey is a key built by hand (not by Generate): its checksum was
// computed outside Go (Python's zlib.crc32 and a hand-written base62
// encoder): CRC-32 of the first 53 characters is 1448691220 = "1a2YlQ".
const fixedKey = "gk_live_7Hq2xK9pLm3Q_abcdefghijklmnopqrstuvwxyzABCDEF1a2YlQ"

func TestGenerateParseRoundTrip(t *testing.T) {
	for _, env := range []string{EnvLive, EnvTest} {
		g, err := Generate(env)
		if err != nil {
			t.Fatalf("Generate(%q): %v", env, err)
		}
		if len(g.Full) != Length || !strings.HasPrefix(g.Full, Prefix+env+"_") {
			t.Fatalf("Generate(%q) = %q: wrong shape", env, g.Full)
		}
		p, e := Parse(g.Full, env)
		if e != nil {
			t.Fatalf("Parse(generated %s key): %v", env, e)
		}
		if p.ID != g.ID || p.Env != env {
			t.Fatalf("Parse = %+v, want id %q env %q", p, g.ID, env)
		}
	}
}

func TestParseFixedVector(t *testing.T) {
	if got := crc32.ChecksumIEEE([]byte(fixedKey[:checkStart])); got != 1448691220 {
		t.Fatalf("crc32 of the fixed prefix = %d, want 1448691220", got)
	}
	p, e := Parse(fixedKey, EnvLive)
	if e != nil {
		t.Fatalf("Parse(fixedKey): %v", e)
	}
	if p.ID != "7Hq2xK9pLm3Q" || p.Env != EnvLive {
		t.Fatalf("Parse(fixedKey) = %+v", p)
	}
}

func TestParseRejectsBasic(t *testing.T) {
	tests := []struct {
		desc, in, code string
	}{
		{"trailing newline", fixedKey + "\n", reason.KeyMalformed},
		{"one character changed", fixedKey[:30] + "X" + fixedKey[31:], reason.KeyChecksumMismatch},
		{"live key on a test gateway", fixedKey, reason.KeyWrongEnvironment},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, e := Parse(tt.in, EnvTest)
			if e == nil || e.Code != tt.code {
				t.Fatalf("Parse(%q) = %v, want %s", tt.in, e, tt.code)
			}
		})
	}
}
