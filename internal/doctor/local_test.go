package doctor

import (
	"strings"
	"testing"
	"time"

	"gatehouse/internal/keys"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func genKey(t *testing.T, env string) string {
	t.Helper()
	g, err := keys.Generate(env)
	if err != nil {
		t.Fatal(err)
	}
	return g.Full
}

// typo changes one secret character of a key (keeping the alphabet), so
// the checksum no longer matches.
func typo(k string) string {
	i := len(k) - 20
	c := byte('A')
	if k[i] == 'A' {
		c = 'B'
	}
	return k[:i] + string(c) + k[i+1:]
}

// secretChunks are pieces of a key's secret that must never be printed.
func secretChunks(k string) []string {
	sec := k[len("gk_live_")+keys.IDLength+1:]
	var out []string
	for i := 0; i+8 <= len(sec); i += 8 {
		out = append(out, sec[i:i+8])
	}
	return out
}

// assertNoSecret checks that no check detail, note or fix carries a piece
// of a secret.
func assertNoSecret(t *testing.T, checks []Check, fixes []string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, chunk := range secretChunks(s) {
			for _, c := range checks {
				if strings.Contains(c.Detail, chunk) || strings.Contains(strings.Join(c.Notes, "\n"), chunk) {
					t.Errorf("check %q prints part of a secret: %s", c.Name, c.Detail)
				}
			}
			for _, f := range fixes {
				if strings.Contains(f, chunk) {
					t.Errorf("fix prints part of a secret: %s", f)
				}
			}
		}
	}
}

func findCheck(checks []Check, name string) *Check {
	for i := range checks {
		if checks[i].Name == name {
			return &checks[i]
		}
	}
	return nil
}

func TestLocalChecks(t *testing.T) {
	live, test := genKey(t, "live"), genKey(t, "test")
	id := live[8:20]
	jwt := makeJWT(t, map[string]any{"alg": "RS256", "kid": "k1"}, map[string]any{"iss": "https://idp.example", "exp": t0.Add(time.Hour).Unix()})
	cases := []struct {
		desc    string
		url     string
		headers []Header
		// check that must be present, with its level and detail fragments
		check  string
		level  Level
		detail []string
		// the first finding: its code, fix fragment, blocking and hidden
		code     string
		fix      string
		blocking bool
		hidden   bool
		keyEnv   string
	}{
		{desc: "a well-formed live key in Authorization: Bearer",
			headers: []Header{{"Authorization", "Bearer " + live}},
			check:   checkHeader, level: Pass, detail: []string{"the Authorization header (Bearer) carries a Gatehouse key"}, keyEnv: "live"},
		{desc: "the key is shown as gk_live_<id>_…<last 4>",
			headers: []Header{{"Authorization", "Bearer " + live}},
			check:   checkKeyFormat, level: Pass, detail: []string{"gk_live_" + id + "_…" + live[len(live)-4:], "checksum are right"}, keyEnv: "live"},
		{desc: "ApiKey scheme is accepted",
			headers: []Header{{"authorization", "apikey " + live}},
			check:   checkHeader, level: Pass, detail: []string{"(ApiKey) carries a Gatehouse key"}, keyEnv: "live"},
		{desc: "X-API-Key in any case",
			headers: []Header{{"x-api-key", live}},
			check:   checkHeader, level: Pass, detail: []string{"the X-API-Key header carries a Gatehouse key"}, keyEnv: "live"},
		{desc: "a test key is recognised offline as test",
			headers: []Header{{"Authorization", "Bearer " + test}},
			check:   checkKeyEnv, level: Pass, detail: []string{"a test key"}, keyEnv: "test"},
		{desc: "Token instead of Bearer",
			headers: []Header{{"Authorization", "Token " + live}},
			check:   checkHeader, level: Fail, detail: []string{"'Token' is not supported"},
			code: "auth.scheme_unsupported", fix: "Send 'Authorization: Bearer <key>' instead of 'Token <key>'.", blocking: true, keyEnv: "live"},
		{desc: "Token with a JWT says token",
			headers: []Header{{"Authorization", "Token " + jwt}},
			check:   checkHeader, level: Fail,
			code: "auth.scheme_unsupported", fix: "Send 'Authorization: Bearer <token>' instead of 'Token <token>'.", blocking: true},
		{desc: "a scheme that may be a secret is not repeated in the fix",
			headers: []Header{{"Authorization", "s3cr3tValue123456 more"}},
			check:   checkHeader, level: Fail,
			code: "auth.scheme_unsupported", fix: "the first word of the Authorization header must be the scheme Bearer", blocking: true},
		{desc: "Bearer Bearer",
			headers: []Header{{"Authorization", "Bearer Bearer " + live}},
			check:   checkHeader, level: Fail, detail: []string{"the scheme appears twice"},
			code: "auth.malformed_header", fix: "The scheme appears twice", blocking: true, keyEnv: "live"},
		{desc: "quotes around the key",
			headers: []Header{{"Authorization", `Bearer "` + live + `"`}},
			check:   checkHeader, level: Fail, detail: []string{"quote"},
			code: "auth.malformed_header", fix: "without quotes", blocking: true, keyEnv: "live"},
		{desc: "two spaces after the scheme",
			headers: []Header{{"Authorization", "Bearer  " + live}},
			check:   checkHeader, level: Fail, detail: []string{"exactly one space"},
			code: "auth.malformed_header", blocking: true, keyEnv: "live"},
		{desc: "trailing whitespace is hidden from the gateway by the HTTP client",
			headers: []Header{{"Authorization", "Bearer " + live + " "}},
			check:   checkHeader, level: Fail, detail: []string{"after the token"},
			code: "auth.malformed_header", fix: "remove it", blocking: true, hidden: true, keyEnv: "live"},
		{desc: "trailing space in X-API-Key is the key parser's (it names it)",
			headers: []Header{{"X-API-Key", live + " "}},
			check:   checkKeyFormat, level: Fail, detail: []string{"trailing space"},
			code: "key.malformed", fix: "Trailing space", blocking: true, hidden: true, keyEnv: "live"},
		{desc: "the key in an Api-Key header no route reads",
			headers: []Header{{"Api-Key", live}},
			check:   checkHeader, level: Fail, detail: []string{"a Gatehouse key is in the Api-Key header, which no route reads"},
			code: "auth.missing", fix: "Move the key from the Api-Key header to 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.", blocking: true, keyEnv: "live"},
		{desc: "the key with a scheme in X-Auth-Token",
			headers: []Header{{"X-Auth-Token", "Bearer " + live}},
			check:   checkHeader, level: Fail, detail: []string{"the X-Auth-Token header"},
			code: "auth.missing", fix: "Move the key from the X-Auth-Token header", blocking: true, keyEnv: "live"},
		{desc: "an opaque value in a credential-named header is suspicious, not certain",
			headers: []Header{{"X-Auth-Token", "opaque-0123456789"}},
			check:   checkHeader, level: Fail, detail: []string{"a value that looks like a credential is in the X-Auth-Token header"},
			code: "auth.missing", fix: "Move the key from the X-Auth-Token header", blocking: false},
		{desc: "a JWT in a header no route reads",
			headers: []Header{{"Token", jwt}},
			check:   checkHeader, level: Fail, detail: []string{"a JWT is in the Token header"},
			code: "auth.missing", fix: "Move the JWT from the Token header to 'Authorization: Bearer <token>'.", blocking: true},
		{desc: "the key in a URL parameter no route reads",
			url:   "http://gw.example/v1/orders?key=" + live,
			check: checkHeader, level: Fail, detail: []string{"the URL parameter 'key'"},
			code: "auth.missing", fix: "Move the key from the URL parameter 'key'", blocking: true, keyEnv: "live"},
		{desc: "the key in ?api_key= works only where the route allows it",
			url:   "http://gw.example/v1/orders?api_key=" + live,
			check: checkURL, level: Warn, detail: []string{"only routes that enable query keys"},
			code: "auth.missing", fix: "instead of ?api_key=", blocking: false, keyEnv: "live"},
		{desc: "a JWT in X-API-Key",
			headers: []Header{{"X-API-Key", jwt}},
			check:   checkHeader, level: Fail, detail: []string{"a JWT is in the X-API-Key header, which carries API keys only"},
			code: "key.malformed", fix: "Send a JWT as 'Authorization: Bearer <token>', not in the X-API-Key header, and only to a route that accepts JWTs; on a route for API keys, send your gk_ key instead", blocking: true},
		{desc: "a JWT as Bearer is fine and decoded",
			headers: []Header{{"Authorization", "Bearer " + jwt}},
			check:   checkJWTHeader, level: Pass, detail: []string{"alg RS256", "kid k1"}},
		{desc: "a typo is a checksum mismatch",
			headers: []Header{{"Authorization", "Bearer " + typo(live)}},
			check:   checkKeyFormat, level: Fail, detail: []string{"gk_live_" + id + "_… (59 characters)", "checksum mismatch"},
			code: "key.checksum_mismatch", fix: "The key has a typo", blocking: true, keyEnv: "live"},
		{desc: "a truncated key says by how much and shows no secret end",
			headers: []Header{{"Authorization", "Bearer " + live[:50]}},
			check:   checkKeyFormat, level: Fail, detail: []string{"gk_live_" + id + "_… (50 characters)"},
			code: "key.malformed", fix: "9 characters short", blocking: true, keyEnv: "live"},
		{desc: "two different credentials",
			headers: []Header{{"Authorization", "Bearer " + live}, {"X-API-Key", test}},
			check:   checkHeader, level: Fail, detail: []string{"two different credentials"},
			code: "auth.ambiguous", fix: "send only one", blocking: true, keyEnv: "live"},
		{desc: "no credential at all is only a warning (the route may be public)",
			headers: []Header{{"Accept", "application/json"}},
			check:   checkHeader, level: Warn, detail: []string{"no credential"},
			code: "auth.missing", fix: "Send your key as 'Authorization: Bearer <key>'", blocking: false},
		{desc: "an opaque bearer token",
			headers: []Header{{"Authorization", "Bearer abcdefghijklmnop"}},
			check:   checkHeader, level: Pass, detail: []string{"an opaque 16-character token"}},
		{desc: "stray credentials next to a real one are ignored, and said so",
			headers: []Header{{"Authorization", "Bearer " + live}, {"Api-Key", test}},
			check:   checkOther, level: Warn, detail: []string{"a Gatehouse key in the Api-Key header: ignored"}, keyEnv: "live"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			u := tc.url
			if u == "" {
				u = "http://gw.example/v1/orders"
			}
			r, err := newRun(Options{URL: u, Headers: tc.headers, Now: func() time.Time { return t0 }})
			if err != nil {
				t.Fatal(err)
			}
			r.local()
			c := findCheck(r.rep.Checks, tc.check)
			if c == nil {
				t.Fatalf("no %q check in %+v", tc.check, r.rep.Checks)
			}
			if c.Level != tc.level || c.OK != (tc.level == Pass) {
				t.Errorf("%s: level %d ok %v, want %d: %s", tc.check, c.Level, c.OK, tc.level, c.Detail)
			}
			for _, d := range tc.detail {
				if !strings.Contains(c.Detail, d) {
					t.Errorf("%s detail %q lacks %q", tc.check, c.Detail, d)
				}
			}
			var fixes []string
			for _, f := range r.findings {
				fixes = append(fixes, f.fix)
			}
			switch {
			case tc.code == "" && len(r.findings) > 0:
				t.Errorf("unexpected finding %+v", *r.findings[0])
			case tc.code != "" && len(r.findings) == 0:
				t.Errorf("no finding, want %s", tc.code)
			case tc.code != "":
				f := r.findings[0]
				if f.code != tc.code || f.blocking != tc.blocking || f.hidden != tc.hidden {
					t.Errorf("finding %s blocking=%v hidden=%v, want %s blocking=%v hidden=%v", f.code, f.blocking, f.hidden, tc.code, tc.blocking, tc.hidden)
				}
				if !strings.Contains(f.fix, tc.fix) {
					t.Errorf("fix %q lacks %q", f.fix, tc.fix)
				}
			}
			if r.keyEnv != tc.keyEnv {
				t.Errorf("key environment %q, want %q", r.keyEnv, tc.keyEnv)
			}
			assertNoSecret(t, r.rep.Checks, fixes, live, test)
		})
	}
}

func TestParseHeader(t *testing.T) {
	cases := []struct {
		desc, in   string
		name, val  string
		errContain string
	}{
		{desc: "curl style", in: "Authorization: Bearer x", name: "Authorization", val: "Bearer x"},
		{desc: "no space after the colon", in: "X-API-Key:abc", name: "X-API-Key", val: "abc"},
		{desc: "trailing whitespace is kept for diagnosis", in: "X-API-Key: abc \t", name: "X-API-Key", val: "abc \t"},
		{desc: "an empty value", in: "X-API-Key:", name: "X-API-Key", val: ""},
		{desc: "no colon, and the value is not echoed", in: "gk_live_secretstuff", errContain: "no ':' found"},
		{desc: "space in the name", in: "Api Key: x", errContain: "not a valid header name"},
		{desc: "empty name", in: ": x", errContain: "not a valid header name"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			h, err := ParseHeader(tc.in)
			if tc.errContain != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errContain) {
					t.Fatalf("err %v, want %q", err, tc.errContain)
				}
				if strings.Contains(err.Error(), "secretstuff") {
					t.Fatalf("error echoes the value: %v", err)
				}
				return
			}
			if err != nil || h.Name != tc.name || h.Value != tc.val {
				t.Fatalf("got %+v, %v; want %q %q", h, err, tc.name, tc.val)
			}
		})
	}
}

func TestOptionsRefused(t *testing.T) {
	cases := []struct{ desc, url, method, want string }{
		{desc: "no scheme", url: "api.example.com/v1", want: "no scheme"},
		{desc: "ftp", url: "ftp://api.example.com/", want: "use http:// or https://"},
		{desc: "no host", url: "http:///v1", want: "no host"},
		{desc: "user info", url: "http://u:p@api.example.com/", want: "user information"},
		{desc: "bad method", url: "http://api.example.com/", method: "GE T", want: "not an HTTP method"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Run(t.Context(), Options{URL: tc.url, Method: tc.method})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}
