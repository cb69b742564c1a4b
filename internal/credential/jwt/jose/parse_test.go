package jose

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"
)

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// tok builds header.payload.sig from JSON texts (sig base64url as is).
func tok(header, payload, sig string) string { return enc(header) + "." + enc(payload) + "." + sig }

func TestParseCompact(t *testing.T) {
	const pl = `{"sub":"a"}`
	cases := []struct {
		desc    string
		tok     string
		max     int
		want    string // detail substring; "" means success
		wantAlg string
	}{
		{desc: "well-formed", tok: tok(`{"alg":"RS256","kid":"k1","typ":"at+jwt"}`, pl, "AAAA"), wantAlg: "RS256"},
		{desc: "empty", tok: "", want: "empty"},
		{desc: "1 MB of dots is refused by length before anything else", tok: strings.Repeat(".", 1<<20), want: "1048576 bytes long; the limit is 8192"},
		{desc: "1 MB of dots under a 2 MB limit: one scan, segment count", tok: strings.Repeat(".", 1<<20), max: 2 << 20, want: "this token has 1048577"},
		{desc: "too long", tok: tok(`{"alg":"RS256"}`, strings.Repeat("x", 9000), ""), want: "the limit is 8192"},
		{desc: "two segments", tok: enc(`{"alg":"RS256"}`) + "." + enc(pl), want: "this token has 2"},
		{desc: "four segments", tok: tok(`{"alg":"RS256"}`, pl, "AAAA") + ".AAAA", want: "this token has 4"},
		{desc: "five segments: a JWE", tok: "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", want: "encrypted JWT"},
		{desc: "JSON serialization", tok: `{"payload":"x","signatures":[]}`, want: "JSON serialization"},
		{desc: "padding in the signature", tok: tok(`{"alg":"HS256"}`, pl, "AAAA="), want: "base64 padding"},
		{desc: "standard base64 in the signature", tok: tok(`{"alg":"HS256"}`, pl, "AA+A"), want: "standard base64"},
		{desc: "space in the payload", tok: enc(`{"alg":"HS256"}`) + ".ab cd.AAAA", want: "whitespace"},
		{desc: "empty header", tok: "." + enc(pl) + ".AAAA", want: "header segment is empty"},
		{desc: "empty payload", tok: enc(`{"alg":"HS256"}`) + "..AAAA", want: "payload segment is empty"},
		{desc: "empty signature parses (rejected at verification)", tok: tok(`{"alg":"HS256"}`, pl, ""), wantAlg: "HS256"},
		{desc: "non-canonical base64url (stray bits)", tok: tok(`{"alg":"HS256"}`, pl, "AB"), want: "signature is not valid base64url"},
		{desc: "header not JSON", tok: enc("hello") + "." + enc(pl) + ".AAAA", want: "header is not a valid JSON object"},
		{desc: "header is an array", tok: tok(`["alg"]`, pl, "AAAA"), want: "not a JSON object"},
		{desc: "no alg", tok: tok(`{}`, pl, "AAAA"), want: "no alg"},
		{desc: "alg null", tok: tok(`{"alg":null}`, pl, "AAAA"), want: "alg is null"},
		{desc: "alg array", tok: tok(`{"alg":["HS256"]}`, pl, "AAAA"), want: "alg is an array"},
		{desc: "alg empty", tok: tok(`{"alg":""}`, pl, "AAAA"), want: "alg is empty"},
		{desc: "kid a number", tok: tok(`{"alg":"RS256","kid":7}`, pl, "AAAA"), want: "kid is a number"},
		{desc: "duplicate alg", tok: tok(`{"alg":"RS256","alg":"none"}`, pl, "AAAA"), want: `duplicate member "alg"`},
		{desc: "duplicate alg through an escape", tok: tok(`{"alg":"RS256","\u0061lg":"none"}`, pl, "AAAA"), want: `duplicate member "alg"`},
		{desc: "nested JWT", tok: tok(`{"alg":"RS256","cty":"JWT"}`, pl, "AAAA"), want: "nested JWT"},
		{desc: "JWE header", tok: tok(`{"alg":"dir","enc":"A128GCM"}`, pl, "AAAA"), want: "encrypted"},
		{desc: "b64 without crit", tok: tok(`{"alg":"RS256","b64":false}`, pl, "AAAA"), want: "RFC 7797"},
		{desc: "crit unknown extension", tok: tok(`{"alg":"RS256","crit":["x-unknown"],"x-unknown":1}`, pl, "AAAA"), want: `extension "x-unknown"`},
		{desc: "crit empty", tok: tok(`{"alg":"RS256","crit":[]}`, pl, "AAAA"), want: "empty list"},
		{desc: "crit lists a registered name", tok: tok(`{"alg":"RS256","crit":["kid"],"kid":"a"}`, pl, "AAAA"), want: "registered header parameter"},
		{desc: "crit lists exp, absent from the header", tok: tok(`{"alg":"RS256","crit":["exp"]}`, pl, "AAAA"), want: "not in the header"},
		{desc: "crit lists exp, present", tok: tok(`{"alg":"RS256","crit":["exp"],"exp":1}`, pl, "AAAA"), want: `extension "exp"`},
		{desc: "crit b64 with b64 false", tok: tok(`{"alg":"RS256","crit":["b64"],"b64":false}`, pl, "AAAA"), want: "b64 extension"},
		{desc: "crit a string", tok: tok(`{"alg":"RS256","crit":"x"}`, pl, "AAAA"), want: "crit is a string"},
		{desc: "crit with a number", tok: tok(`{"alg":"RS256","crit":[1]}`, pl, "AAAA"), want: "as strings"},
		{desc: "crit twice the same", tok: tok(`{"alg":"RS256","crit":["x","x"],"x":1}`, pl, "AAAA"), want: "twice"},
		{desc: "key parameters are recorded", tok: tok(`{"alg":"RS256","jku":"https://evil/jwks","jwk":{"kty":"oct"},"x5c":["AAAA"],"x5u":"https://evil"}`, pl, "AAAA"), wantAlg: "RS256"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			j, err := ParseCompact(c.tok, c.max)
			if c.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if j.Header.Alg != c.wantAlg {
					t.Fatalf("alg %q, want %q", j.Header.Alg, c.wantAlg)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %q", c.want)
			}
			if err.Code != CodeMalformed || !strings.Contains(err.Detail, c.want) {
				t.Fatalf("got %s %q, want %s containing %q", err.Code, err.Detail, CodeMalformed, c.want)
			}
		})
	}
	j, _ := ParseCompact(tok(`{"alg":"RS256","jku":"https://evil/jwks","jwk":{"kty":"oct"},"x5c":["AAAA"],"x5u":"https://evil"}`, pl, "AAAA"), 0)
	if got := strings.Join(j.Header.KeyParams, ","); got != "jku,jwk,x5u,x5c" {
		t.Errorf("key params %q", got)
	}
}

// A kid of 10 kB or with a NUL byte is quoted short and escaped.
func TestDetailsQuoteAttackerInputShort(t *testing.T) {
	long := strings.Repeat("A", 10000)
	if q := quoteShort(long); len(q) > 100 || !strings.Contains(q, "10000 bytes") {
		t.Errorf("10 kB value quoted as %d bytes: %.80s", len(q), q)
	}
	if q := quoteShort("a\x00b"); q != `"a\x00b"` {
		t.Errorf("NUL quoted as %s", q)
	}
}

func TestStrictJSON(t *testing.T) {
	cases := []struct {
		desc, src, want string // want "" means valid
	}{
		{"plain object", `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, ""},
		{"whitespace around (RFC 7515 A.1 uses CRLF)", "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}  \n", ""},
		{"escapes and a surrogate pair", `{"a":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`, ""},
		{"UTF-8", `{"a":"It’s"}`, ""},
		{"numbers", `{"a":-0,"b":1.5e+10,"c":0.25,"d":1E-3}`, ""},
		{"duplicate nested member", `{"cnf":{"x":1,"x":2}}`, `duplicate member "x"`},
		{"duplicate among many members (map path)", `{` + manyMembers(40) + `,"m3":0}`, `duplicate member "m3"`},
		{"duplicate sub", `{"sub":"alice","sub":"admin"}`, `duplicate member "sub"`},
		{"trailing comma", `{"a":1,}`, "expected a member name"},
		{"data after the object", `{"a":1}{"b":2}`, "data after"},
		{"single quotes", `{'a':1}`, "expected a member name"},
		{"leading zero", `{"a":01}`, "expected ',' or '}'"},
		{"bare dot number", `{"a":.5}`, "unexpected character"},
		{"NaN", `{"a":NaN}`, "unexpected character"},
		{"control character", "{\"a\":\"x\x01\"}", "control character"},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", "invalid UTF-8"},
		{"lone high surrogate", `{"a":"\ud83d"}`, "lone surrogate"},
		{"lone low surrogate", `{"a":"\ude00"}`, "lone surrogate"},
		{"bad escape", `{"a":"\x"}`, "invalid escape"},
		{"too deep", `{"a":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}`, "nested deeper"},
		{"deep but allowed", `{"a":` + strings.Repeat("[", 14) + strings.Repeat("]", 14) + `}`, ""},
		{"unterminated", `{"a":"b`, "unterminated string"},
		{"truncated literal", `{"a":tru}`, "invalid literal"},
		{"empty", ``, "empty"},
	}
	for _, c := range cases {
		_, err := parseObject(c.src)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.desc, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want %q", c.desc, err, c.want)
		}
	}
}

func manyMembers(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `"m` + strconv.Itoa(i) + `":0`
	}
	return strings.Join(parts, ",")
}

func TestClaims(t *testing.T) {
	c, err := ParseClaims([]byte(`{"iss":"https://idp","aud":["a","b"],"exp":1300819380.5,"nbf":-5,"iat":1e300,"s":"1300819380","scope":"read  write","scp":["x"],"n":null,"e":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if tm, ok, e := c.NumericDate("exp"); !ok || e != nil || !tm.Equal(time.Unix(1300819380, 5e8)) {
		t.Errorf("fractional exp: %v %v %v", tm, ok, e)
	}
	if tm, ok, e := c.NumericDate("nbf"); !ok || e != nil || tm.Unix() != -5 {
		t.Errorf("negative nbf: %v %v %v", tm, ok, e)
	}
	if _, ok, e := c.NumericDate("iat"); !ok || e == nil || !strings.Contains(e.Detail, "not a date") {
		t.Errorf("1e300: %v %v", ok, e)
	}
	if _, ok, e := c.NumericDate("s"); !ok || e == nil || !strings.Contains(e.Detail, "is a string") {
		t.Errorf("string date: %v %v", ok, e)
	}
	if _, ok, e := c.NumericDate("missing"); ok || e != nil {
		t.Errorf("absent date: %v %v", ok, e)
	}
	if aud, ok, e := c.Audience(); !ok || e != nil || strings.Join(aud, ",") != "a,b" {
		t.Errorf("aud: %v %v %v", aud, ok, e)
	}
	if s, _ := c.Scopes(); strings.Join(s, ",") != "read,write" {
		t.Errorf("scope wins over scp: %v", s)
	}
	for _, src := range []string{`{"aud":[]}`, `{"aud":"x"}`, `{"aud":7}`, `{"aud":["x",1]}`, `{}`} {
		c, _ := ParseClaims([]byte(src))
		aud, present, e := c.Audience()
		switch src {
		case `{"aud":[]}`:
			if !present || e != nil || aud == nil || len(aud) != 0 {
				t.Errorf("%s: %v %v %v", src, aud, present, e)
			}
		case `{"aud":"x"}`:
			if !present || e != nil || len(aud) != 1 {
				t.Errorf("%s: %v %v %v", src, aud, present, e)
			}
		case `{}`:
			if present {
				t.Errorf("%s: present", src)
			}
		default:
			if e == nil {
				t.Errorf("%s: accepted", src)
			}
		}
	}
	c2, _ := ParseClaims([]byte(`{"scp":["a","b"]}`))
	if s, _ := c2.Scopes(); strings.Join(s, ",") != "a,b" {
		t.Errorf("scp array: %v", s)
	}
	c3, _ := ParseClaims([]byte(`{"scp":"a b"}`))
	if s, _ := c3.Scopes(); strings.Join(s, ",") != "a,b" {
		t.Errorf("scp string: %v", s)
	}
	if _, err := ParseClaims([]byte("Example of Ed25519 signing")); err == nil {
		t.Error("a non-JSON payload parsed as claims")
	}
}
