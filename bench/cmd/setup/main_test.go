package main

import (
	"hash/crc32"
	"strings"
	"testing"
)

// wellFormed builds a key by the §3 recipe independently of checksum(), so a
// bug in checksum() cannot hide itself.
func wellFormed(env, id, secret string) string {
	prefix := "gk_" + env + "_" + id + "_" + secret
	v := crc32.ChecksumIEEE([]byte(prefix))
	digits := ""
	for range 6 {
		digits = string(base62[v%62]) + digits
		v /= 62
	}
	return prefix + digits
}

func TestChecksumKnownValues(t *testing.T) {
	cases := []struct {
		desc, in, want string
	}{
		// CRC32-IEEE("") = 0 → all zero digits.
		{"empty input pads with zeros", "", "000000"},
		// CRC32-IEEE("123456789") = 0xCBF43926 = 3421780262 = digits 3,45,35,27,22,14 in base 62.
		{"standard check value", "123456789", "3jZRME"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := checksum(tc.in); got != tc.want {
				t.Errorf("checksum(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestUnknownKeyLike(t *testing.T) {
	id := "7Hq2xK9pLm3Q"
	secret := strings.Repeat("aB3", 10) + "zZ"
	good := wellFormed("live", id, secret)
	cases := []struct {
		desc    string
		real    string
		wantErr string
	}{
		{"well-formed live key", good, ""},
		{"well-formed test key", wellFormed("test", id, secret), ""},
		{"checksum differs from the CRC32 reading", good[:len(good)-1] + flip(good[len(good)-1]), "checksum"},
		{"missing secret", "gk_live_" + id, "shape"},
		{"id too short", wellFormed("live", id[:11], secret), "shape"},
		{"wrong prefix", "xk" + good[2:], "shape"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := unknownKeyLike(tc.real)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if len(got) != len(tc.real) {
				t.Errorf("length %d, want %d", len(got), len(tc.real))
			}
			env := strings.SplitN(tc.real, "_", 3)[1]
			parts := strings.SplitN(got, "_", 4)
			if parts[1] != env {
				t.Errorf("environment %q, want %q", parts[1], env)
			}
			if parts[2] == id {
				t.Errorf("unknown key reuses the real id %q", id)
			}
			body := got[:len(got)-6]
			if want := wellFormed(env, parts[2], parts[3][:32]); got != want {
				t.Errorf("checksum of %q is not valid; want %q", body, want)
			}
		})
	}
}

func flip(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}
