package keys

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"gatehouse/internal/reason"
)

// K is the hand-built live key of keys_test.go; T is the same key in the
// test environment (its checksum recomputed by the package, which
// TestChecksumVectors pins).
var (
	K = fixedKey
	T = withCheck("gk_test_" + fixedID + "_" + fixedKey[secStart:checkStart])
)

// withCheck appends the checksum to a 53-character key body.
func withCheck(body string) string {
	var c [CheckLength]byte
	putCheck(c[:], checksum(body))
	return body + string(c[:])
}

func TestParseDetails(t *testing.T) {
	idOnly := K[:secStart] // gk_live_<id>_
	tests := []struct {
		desc   string
		in     string
		env    string
		code   string
		detail []string // substrings the detail must contain
		id     string   // expected CredentialID
	}{
		// Success is covered elsewhere; every case here is a rejection.

		// Surface: whitespace, newlines, quotes.
		{"empty", "", "live", reason.KeyMalformed, []string{"the key is empty"}, ""},
		{"only spaces", "   ", "live", reason.KeyMalformed, []string{"empty apart from 3 spaces"}, ""},
		{"only a newline", "\n", "live", reason.KeyMalformed, []string{"empty apart from newline"}, ""},
		{"empty double quotes", `""`, "live", reason.KeyMalformed, []string{`empty apart from double quotes (")`}, ""},
		{"trailing newline", K + "\n", "live", reason.KeyMalformed, []string{"trailing newline: the key was probably read from a file; trim it"}, fixedID},
		{"trailing CRLF", K + "\r\n", "live", reason.KeyMalformed, []string{`trailing CRLF (\r\n)`, "Windows line endings", "trim it"}, fixedID},
		{"trailing carriage return", K + "\r", "live", reason.KeyMalformed, []string{`trailing carriage return (\r)`, "Windows line endings"}, fixedID},
		{"two trailing newlines", K + "\n\n", "live", reason.KeyMalformed, []string{"trailing 2 newlines", "read from a file"}, fixedID},
		{"leading space", " " + K, "live", reason.KeyMalformed, []string{"leading space: trim it"}, fixedID},
		{"two leading spaces", "  " + K, "live", reason.KeyMalformed, []string{"leading 2 spaces: trim it"}, fixedID},
		{"leading tab", "\t" + K, "live", reason.KeyMalformed, []string{"leading tab: trim it"}, fixedID},
		{"trailing space", K + " ", "live", reason.KeyMalformed, []string{"trailing space: trim it"}, fixedID},
		{"trailing tab", K + "\t", "live", reason.KeyMalformed, []string{"trailing tab: trim it"}, fixedID},
		{"leading space and trailing newline", " " + K + "\n", "live", reason.KeyMalformed, []string{"leading space and trailing newline", "read from a file"}, fixedID},
		{"mixed trailing whitespace", K + " \t", "live", reason.KeyMalformed, []string{"trailing whitespace (space, tab)"}, fixedID},
		{"leading byte-order mark", "\ufeff" + K, "live", reason.KeyMalformed, []string{"leading byte-order mark (U+FEFF)"}, fixedID},
		{"trailing non-breaking space", K + "\u00a0", "live", reason.KeyMalformed, []string{"trailing non-breaking space (U+00A0)"}, fixedID},
		{"leading zero-width space", "\u200b" + K, "live", reason.KeyMalformed, []string{"leading zero-width space (U+200B)"}, fixedID},
		{"double quotes", `"` + K + `"`, "live", reason.KeyMalformed, []string{`double quotes (") around the key`, "remove the quotes"}, fixedID},
		{"single quotes", "'" + K + "'", "live", reason.KeyMalformed, []string{`single quotes (') around the key`}, fixedID},
		{"backticks", "`" + K + "`", "live", reason.KeyMalformed, []string{"backticks (`) around the key"}, fixedID},
		{"typographic quotes", "“" + K + "”", "live", reason.KeyMalformed, []string{"typographic quotes (“ ”) around the key"}, fixedID},
		{"leading double quote only", `"` + K, "live", reason.KeyMalformed, []string{`a leading double quote (")`}, fixedID},
		{"trailing single quote only", K + "'", "live", reason.KeyMalformed, []string{`a trailing single quote (')`}, fixedID},
		{"mismatched quotes", "'" + K + `"`, "live", reason.KeyMalformed, []string{`a leading single quote (') and a trailing double quote (")`}, fixedID},
		{"quotes and a trailing newline (from a JSON file)", `"` + K + "\"\n", "live", reason.KeyMalformed, []string{"trailing newline, and double quotes", "trim it and remove the quotes"}, fixedID},
		{"spaces inside quotes", `" ` + K + ` "`, "live", reason.KeyMalformed, []string{"double quotes", "leading space and trailing space"}, fixedID},

		// Something wrapped around the key.
		{"Bearer scheme inside the key", "Bearer " + K, "live", reason.KeyMalformed, []string{"starts with the scheme 'Bearer '", "not part of the key"}, fixedID},
		{"lower-case bearer", "bearer " + K, "live", reason.KeyMalformed, []string{"'Bearer '"}, fixedID},
		{"ApiKey scheme inside the key", "ApiKey " + K, "live", reason.KeyMalformed, []string{"'ApiKey '"}, fixedID},
		{"header line pasted", "X-API-Key: " + K, "live", reason.KeyMalformed, []string{"'X-API-Key:' header name"}, fixedID},
		{"whole Authorization line pasted", "Authorization: Bearer " + K, "live", reason.KeyMalformed, []string{"'Authorization:' header name"}, fixedID},
		{"query parameter pasted", "api_key=" + K, "live", reason.KeyMalformed, []string{"'api_key='"}, fixedID},

		// Prefix.
		{"a JWT", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "live", reason.KeyMalformed, []string{"this is a JWT", "Bearer"}, ""},
		{"Stripe secret key", "sk_live_" + strings.Repeat("a", 24), "live", reason.KeyMalformed, []string{"starts with 'sk_live_' (a Stripe live secret key)", "start with 'gk_'"}, ""},
		{"other sk_ key", "sk_" + strings.Repeat("a", 30), "live", reason.KeyMalformed, []string{"starts with 'sk_'", "start with 'gk_'"}, ""},
		{"OpenAI-style key", "sk-proj-" + strings.Repeat("a", 40), "live", reason.KeyMalformed, []string{"'sk-' (an OpenAI-style secret key)"}, ""},
		{"GitHub token", "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", "live", reason.KeyMalformed, []string{"'ghp_' (a GitHub personal access token)"}, ""},
		{"unrecognised value", "hello-world-123", "live", reason.KeyMalformed, []string{"wrong prefix", "start with 'gk_'"}, ""},
		{"upper-case prefix", "GK_" + K[3:], "live", reason.KeyMalformed, []string{"starts with 'GK_'", "lower-case 'gk_'"}, ""},
		{"dash after gk", "gk-" + K[3:], "live", reason.KeyMalformed, []string{"'-' at position 3", "'gk' must be followed by '_'"}, ""},
		{"prefix cut off", K[3:], "live", reason.KeyMalformed, []string{"missing its first 3 characters"}, ""},
		{"first letter cut off", K[1:], "live", reason.KeyMalformed, []string{"missing its first 1 characters"}, ""},
		{"only 'gk'", "gk", "live", reason.KeyMalformed, []string{"only 2 characters long"}, ""},

		// Environment segment.
		{"unknown environment", "gk_prod_" + K[8:], "live", reason.KeyMalformed, []string{"unknown environment 'prod'", "'live' or 'test'"}, ""},
		{"upper-case environment", "gk_LIVE_" + K[8:], "live", reason.KeyMalformed, []string{"written 'LIVE'", "lower-case 'live'"}, ""},
		{"environment missing", "gk_" + K[8:], "live", reason.KeyMalformed, []string{"environment segment is missing"}, ""},
		{"dash after environment", "gk_live-" + K[8:], "live", reason.KeyMalformed, []string{"'-' at position 8", "expected '_' after 'gk_live'"}, ""},
		{"ends after environment", "gk_live", "live", reason.KeyMalformed, []string{"ends after 'gk_live'", "truncated"}, ""},
		{"unreadable environment", "gk_l1ve_" + K[8:], "live", reason.KeyMalformed, []string{"unknown or missing environment segment"}, ""},

		// Characters outside the alphabet.
		{"dash in the secret", K[:30] + "-" + K[31:], "live", reason.KeyMalformed, []string{"'-' at position 31 is not in the key alphabet (0-9, A-Z, a-z)"}, fixedID},
		{"space in the secret", K[:30] + " " + K[31:], "live", reason.KeyMalformed, []string{"a space at position 31", "split or wrapped"}, fixedID},
		{"newline in the secret (wrapped)", K[:40] + "\n" + K[40:], "live", reason.KeyMalformed, []string{"a newline (U+000A) at position 41", "wrapped"}, fixedID},
		{"tab in the id", K[:10] + "\t" + K[11:], "live", reason.KeyMalformed, []string{"a tab (U+0009) at position 11"}, ""},
		{"accented letter in the secret", K[:30] + "é" + K[31:], "live", reason.KeyMalformed, []string{"'é' (U+00E9) at position 31", "look-alike"}, fixedID},
		{"Cyrillic look-alike in the id", K[:9] + "Н" + K[10:], "live", reason.KeyMalformed, []string{"'Н' (U+041D) at position 10"}, ""},
		{"zero-width space inside", K[:25] + "\u200b" + K[25:], "live", reason.KeyMalformed, []string{"a zero-width space (U+200B) at position 26"}, fixedID},
		{"invalid UTF-8 byte", K[:30] + "\xff" + K[31:], "live", reason.KeyMalformed, []string{"an invalid UTF-8 byte (0xFF) at position 31"}, fixedID},
		{"control character", K[:30] + "\x01" + K[31:], "live", reason.KeyMalformed, []string{"a control character (U+0001) at position 31"}, fixedID},
		{"quote inside", K[:30] + `"` + K[31:], "live", reason.KeyMalformed, []string{`a double quote (") at position 31`, "remove it"}, fixedID},
		{"dot in the checksum", K[:55] + "." + K[56:], "live", reason.KeyMalformed, []string{"'.' at position 56"}, fixedID},
		{"extra underscore in the secret", K[:30] + "_" + K[31:], "live", reason.KeyMalformed, []string{"'_' at position 31 is not in the key alphabet", "only positions 8 and 21"}, fixedID},

		// Length and separators.
		{"2 characters short", K[:57], "live", reason.KeyMalformed, []string{"2 characters short", "secret and checksum have 36 of 38", "was it truncated when copied?"}, fixedID},
		{"1 character short", K[:58], "live", reason.KeyMalformed, []string{"1 character short", "truncated"}, fixedID},
		{"half a key", K[:30], "live", reason.KeyMalformed, []string{"29 characters short"}, fixedID},
		{"only the public part", idOnly, "live", reason.KeyMalformed, []string{"38 characters short"}, fixedID},
		{"only prefix and environment", "gk_live_", "live", reason.KeyMalformed, []string{"51 characters short"}, ""},
		{"1 character too long", K + "x", "live", reason.KeyMalformed, []string{"1 character too long", "appended"}, fixedID},
		{"id 1 character short", K[:19] + K[20:], "live", reason.KeyMalformed, []string{"1 character short", "the id has 11 of 12 characters"}, ""},
		{"missing '_' between id and secret", K[:20] + K[21:], "live", reason.KeyMalformed, []string{"1 character short", "'_' between the id and the secret (position 21) is missing"}, ""},
		{"separator moved into the secret", K[:20] + K[21:22] + "_" + K[22:], "live", reason.KeyMalformed, []string{"'_' after the id is at position 22, expected at 21", "13 characters"}, ""},
		{"separator replaced, length right", K[:20] + "x" + K[21:], "live", reason.KeyMalformed, []string{"'_' after the id is missing (expected at position 21"}, ""},
		{"two keys pasted together", K + T, "live", reason.KeyMalformed, []string{"a key starts 2 times", "two keys were pasted together"}, fixedID},
		// An id that ends in "gk" puts a second "gk_" in every key: a
		// truncated one is short, not two keys (a doctor test met one).
		{"truncated key whose id ends in gk", (K[:18] + "gk_" + K[21:])[:50], "live", reason.KeyMalformed, []string{"9 characters short"}, "7Hq2xK9pLmgk"},

		// Checksum and environment.
		{"one character of the secret changed", K[:30] + "X" + K[31:], "live", reason.KeyChecksumMismatch, []string{"checksum mismatch", "a character was changed", "typo"}, fixedID},
		{"one character of the id changed", K[:8] + "8" + K[9:], "live", reason.KeyChecksumMismatch, []string{"checksum mismatch"}, "8" + fixedID[1:]},
		{"checksum character changed", K[:58] + "R", "live", reason.KeyChecksumMismatch, []string{"checksum mismatch"}, fixedID},
		{"two adjacent characters swapped", K[:30] + K[31:32] + K[30:31] + K[32:], "live", reason.KeyChecksumMismatch, []string{"checksum mismatch"}, fixedID},
		{"live key on the test gateway", K, "test", reason.KeyWrongEnvironment, []string{"this is a live key", "this gateway serves test keys", "use a test key"}, fixedID},
		{"test key on the live gateway", T, "live", reason.KeyWrongEnvironment, []string{"this is a test key", "this gateway serves live keys"}, fixedID},
		{"typo beats wrong environment", T[:30] + "X" + T[31:], "live", reason.KeyChecksumMismatch, []string{"checksum mismatch"}, fixedID},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			p, e := Parse(tt.in, tt.env)
			if e == nil {
				t.Fatalf("Parse(%q) = %+v, want %s", tt.in, p, tt.code)
			}
			if p != (Parsed{}) {
				t.Errorf("rejected key still returned %+v", p)
			}
			if e.Code != tt.code {
				t.Errorf("code = %s, want %s (detail %q)", e.Code, tt.code, e.Detail)
			}
			for _, want := range tt.detail {
				if !strings.Contains(e.Detail, want) {
					t.Errorf("detail %q does not contain %q", e.Detail, want)
				}
			}
			if e.CredentialID != tt.id {
				t.Errorf("CredentialID = %q, want %q", e.CredentialID, tt.id)
			}
			if _, ok := reason.Lookup(e.Code); !ok {
				t.Errorf("code %s is not catalogued", e.Code)
			}
			if e.Detail == fallbackDetail {
				t.Errorf("no specific diagnosis for %q", tt.in)
			}
			if leak := leakedRun(e.Detail, tt.in); leak != "" {
				t.Errorf("detail %q repeats %q from the input", e.Detail, leak)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		desc, in, env string
		want          Parsed
	}{
		{"live key, live gateway", K, "live", Parsed{Env: "live", ID: fixedID}},
		{"test key, test gateway", T, "test", Parsed{Env: "test", ID: fixedID}},
		{"live key, gateway serving both", K, "", Parsed{Env: "live", ID: fixedID}},
		{"test key, gateway serving both", T, "", Parsed{Env: "test", ID: fixedID}},
		{"all-zero key", "gk_test_000000000000_000000000000000000000000000000003bHuC2", "test", Parsed{Env: "test", ID: "000000000000"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			p, e := Parse(tt.in, tt.env)
			if e != nil {
				t.Fatalf("Parse(%q, %q): %v", tt.in, tt.env, e)
			}
			if p != tt.want {
				t.Fatalf("Parse = %+v, want %+v", p, tt.want)
			}
		})
	}
}

// TestSingleSubstitutionsDetected changes every position of a key to every
// other character of a large set and checks each change is caught: by the
// checksum (a base62 character for another; CRC-32 detects every
// single-byte error) or by the alphabet, prefix, environment or separator
// checks, which then name the position.
func TestSingleSubstitutionsDetected(t *testing.T) {
	g, err := Generate(EnvTest)
	if err != nil {
		t.Fatal(err)
	}
	replacements := []string{"_", "-", ".", "+", "/", "=", " ", "\t", "\n", `"`, "'", "é", "\x00", "\u200b"}
	for i := 0; i < len(Alphabet); i++ {
		replacements = append(replacements, Alphabet[i:i+1])
	}
	for _, key := range []string{K, T, g.Full} {
		for i := 0; i < Length; i++ {
			for _, r := range replacements {
				if r == key[i:i+1] {
					continue
				}
				in := key[:i] + r + key[i+1:]
				_, e := Parse(in, "")
				if e == nil {
					t.Fatalf("substituting %q at position %d of %s went undetected", r, i+1, key)
				}
				inPayload := (i >= idStart && i < sep2) || i >= secStart
				switch {
				case inPayload && len(r) == 1 && isBase62(r[0]):
					if e.Code != reason.KeyChecksumMismatch {
						t.Fatalf("%q at position %d: %s %q, want a checksum mismatch", r, i+1, e.Code, e.Detail)
					}
				case inPayload && (i == 0 || i == Length-1) && (strings.TrimSpace(r) == "" || r == "\u200b" || r == `"` || r == "'"):
					// At either end whitespace and quotes read as surrounding ones.
				case inPayload:
					pos := fmt.Sprintf("position %d", i+1)
					if e.Code != reason.KeyMalformed || !strings.Contains(e.Detail, pos) {
						t.Fatalf("%q at position %d: %s %q, want key.malformed naming %s", r, i+1, e.Code, e.Detail, pos)
					}
				default:
					if e.Code != reason.KeyMalformed {
						t.Fatalf("%q at position %d (prefix/environment/separator): %s %q, want key.malformed", r, i+1, e.Code, e.Detail)
					}
				}
				if e.Detail == fallbackDetail {
					t.Fatalf("%q at position %d: no specific diagnosis", r, i+1)
				}
			}
		}
	}
}

func TestTranspositionsDetected(t *testing.T) {
	for _, key := range []string{K, T} {
		for i := 0; i+1 < Length; i++ {
			if key[i] == key[i+1] {
				continue
			}
			in := key[:i] + key[i+1:i+2] + key[i:i+1] + key[i+2:]
			if _, e := Parse(in, ""); e == nil {
				t.Fatalf("swapping positions %d and %d of %s went undetected", i+1, i+2, key)
			}
		}
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	tests := []struct{ desc, in, env string }{
		{"live key, live gateway", K, "live"},
		{"test key, any gateway", T, ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, func() {
				if _, e := Parse(tt.in, tt.env); e != nil {
					t.Fatal(e)
				}
			}); n != 0 {
				t.Fatalf("Parse allocates %v times on success", n)
			}
		})
	}
	if n := testing.AllocsPerRun(1000, func() { _ = HasPrefix(" \"" + K[:10]) }); n != 0 {
		t.Fatalf("HasPrefix allocates %v times", n)
	}
}

// leakedRun returns a run of the input that the detail repeats and that
// could be part of a secret: 5 or more base62 characters mixing digits with
// letters or with a lower-to-upper change (random secrets do; prose and the
// fixed names in details do not), or "".
func leakedRun(detail, input string) string {
	allowed := map[string]bool{"ApiKey": true, "GitHub": true, "GitLab": true, "OpenAI": true}
	for i := 0; i < len(detail); {
		if !isBase62(detail[i]) {
			i++
			continue
		}
		j := i
		for j < len(detail) && isBase62(detail[j]) {
			j++
		}
		run := detail[i:j]
		i = j
		if len(run) < 5 || allowed[run] || !strings.Contains(input, run) {
			continue
		}
		digits, camel := false, false
		for k := 0; k < len(run); k++ {
			digits = digits || run[k]-'0' < 10
			camel = camel || (k > 0 && run[k-1]-'a' < 26 && run[k]-'A' < 26)
		}
		letters := strings.IndexFunc(run, func(r rune) bool { return r > '9' }) >= 0
		if (digits && letters) || camel {
			return run
		}
	}
	return ""
}

func TestLeakedRunDetectsSecrets(t *testing.T) {
	// The leak check itself must be able to fail.
	if leakedRun("bad "+K[21:40], K) == "" {
		t.Fatal("leakedRun misses a run of the secret")
	}
	if leakedRun("checksum mismatch: the key has the right shape", K) != "" {
		t.Fatal("leakedRun flags prose")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(K)
	f.Add(T)
	f.Add(K + "\n")
	f.Add(`"` + K + `"`)
	f.Add("Bearer " + K)
	f.Add(K[:57])
	f.Add(K[:30] + "é" + K[31:])
	f.Fuzz(func(t *testing.T, s string) {
		for _, env := range []string{"", EnvLive, EnvTest} {
			p, e := Parse(s, env)
			if e == nil {
				if len(s) != Length || !wellFormed(s) {
					t.Fatalf("Parse accepted %q", s)
				}
				if p.ID != s[idStart:sep2] || p.Env != s[envStart:sep1] || (env != "" && p.Env != env) {
					t.Fatalf("Parse(%q, %q) = %+v", s, env, p)
				}
				if withCheck(s[:checkStart]) != s {
					t.Fatalf("accepted %q does not re-encode to itself", s)
				}
				continue
			}
			switch e.Code {
			case reason.KeyMalformed, reason.KeyChecksumMismatch, reason.KeyWrongEnvironment:
			default:
				t.Fatalf("Parse(%q) code %s", s, e.Code)
			}
			if e.Code == reason.KeyWrongEnvironment && (env == "" || !wellFormed(s)) {
				t.Fatalf("wrong environment for %q on gateway %q", s, env)
			}
			if e.Code == reason.KeyChecksumMismatch && (len(s) != Length || wellFormed(s)) {
				t.Fatalf("checksum mismatch for %q", s)
			}
			if e.Detail == "" || e.Detail == fallbackDetail {
				t.Fatalf("Parse(%q): no specific diagnosis (%q)", s, e.Detail)
			}
			if !utf8.ValidString(e.Detail) {
				t.Fatalf("Parse(%q): detail is not valid UTF-8: %q", s, e.Detail)
			}
			if leak := leakedRun(e.Detail, s); leak != "" {
				t.Fatalf("Parse(%q): detail %q repeats %q", s, e.Detail, leak)
			}
			if id := e.CredentialID; id != "" && (len(id) != IDLength || !allBase62(id) || !strings.Contains(s, id)) {
				t.Fatalf("Parse(%q): CredentialID %q is not an id of the input", s, id)
			}
		}
		_ = HasPrefix(s)
	})
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, e := Parse(K, EnvLive); e != nil {
			b.Fatal(e)
		}
	}
}

// BenchmarkParseTypo is the cost of a typo'd key: rejected offline, before
// any lookup (a flood of these must stay cheap).
func BenchmarkParseTypo(b *testing.B) {
	in := K[:30] + "X" + K[31:]
	b.ReportAllocs()
	for b.Loop() {
		if _, e := Parse(in, EnvLive); e == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkParseGarbage(b *testing.B) {
	in := "Bearer xyz"
	b.ReportAllocs()
	for b.Loop() {
		if _, e := Parse(in, EnvLive); e == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Generate(EnvLive); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Hash(K)
	}
}

func BenchmarkEqual(b *testing.B) {
	x, y := Hash(K), Hash(T)
	b.ReportAllocs()
	for b.Loop() {
		_ = Equal(x, y)
	}
}
