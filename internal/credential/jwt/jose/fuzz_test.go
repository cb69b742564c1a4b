package jose

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParse checks the compact parser and the strict JSON reader on any
// input: no panic; a parsed token's segments round-trip (strict base64url
// is canonical); the length limit holds; what the strict reader accepts,
// encoding/json accepts too (it is never laxer) and has no duplicate
// top-level names. Seeds: testdata/fuzz/FuzzParse and the RFC vectors.
func FuzzParse(f *testing.F) {
	for _, s := range []string{rfc7515A1, rfc7515A2, rfc7515A3, rfc8037A4, rfc7520_44,
		"eyJhbGciOiJub25lIn0." + rfc7515Payload + ".", "", ".", "..", "a.b.c", "{}"} {
		f.Add(s)
	}
	const max = 4096
	f.Fuzz(func(t *testing.T, tok string) {
		j, err := ParseCompact(tok, max)
		if err != nil {
			if err.Code != CodeMalformed || err.Detail == "" {
				t.Fatalf("error without code or detail: %+v", err)
			}
			if len(tok) > 16 && strings.Contains(err.Detail, tok) {
				t.Fatalf("detail quotes the whole token")
			}
			return
		}
		if len(tok) > max {
			t.Fatalf("token of %d bytes accepted with limit %d", len(tok), max)
		}
		if j.Header.Alg == "" {
			t.Fatal("parsed without alg")
		}
		parts := strings.Split(tok, ".")
		if len(parts) != 3 || j.SigningInput != parts[0]+"."+parts[1] {
			t.Fatalf("segments: %q", parts)
		}
		if base64.RawURLEncoding.EncodeToString(j.Payload) != parts[1] || base64.RawURLEncoding.EncodeToString(j.Signature) != parts[2] {
			t.Fatal("segments do not round-trip")
		}
		c, cerr := ParseClaims(j.Payload)
		if cerr != nil {
			return
		}
		if !json.Valid(j.Payload) {
			t.Fatalf("strict reader accepted invalid JSON %q", j.Payload)
		}
		seen := map[string]bool{}
		for _, n := range c.Names() {
			if seen[n] {
				t.Fatalf("duplicate claim %q accepted", n)
			}
			seen[n] = true
		}
		_, _, _ = c.NumericDate("exp")
		_, _, _ = c.Audience()
		_, _ = c.Scopes()
	})
}

// FuzzJSON feeds the strict reader raw JSON text.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `{"a":"\u0061","b":[1,{"c":null}]}`, "{\"a\":\"\xff\"}", `{"a":"\ud83d"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		obj, err := parseObject(s)
		if err != nil {
			return
		}
		if !json.Valid([]byte(s)) {
			t.Fatalf("accepted invalid JSON %q", s)
		}
		for i, m := range obj {
			for _, o := range obj[:i] {
				if o.name == m.name {
					t.Fatalf("duplicate %q accepted", m.name)
				}
			}
		}
	})
}
