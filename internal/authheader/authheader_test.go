package authheader

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"gatehouse/internal/keys"
	"gatehouse/internal/reason"
)

// Two well-formed keys (their checksums are pinned in package keys' tests)
// and a JWT (RFC 7515 A.1).
const (
	key   = "gk_live_7Hq2xK9pLm3Q_x8Kq2LmZ9vT4rB7nW1cY5hJ3dF6gP0sE2AuOVJ"
	keyID = "7Hq2xK9pLm3Q"
	jwt   = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

var key2 = mustKey()

func mustKey() string {
	g, err := keys.Generate(keys.EnvLive)
	if err != nil {
		panic(err)
	}
	return g.Full
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		desc   string
		in     string
		kind   Kind
		scheme string
		token  string
	}{
		{"Bearer key", "Bearer " + key, Bearer, "Bearer", key},
		{"lower-case scheme (RFC 9110 §11.1: case-insensitive)", "bearer " + key, Bearer, "bearer", key},
		{"upper-case scheme", "BEARER " + key, Bearer, "BEARER", key},
		{"ApiKey scheme", "ApiKey " + key, APIKeyScheme, "ApiKey", key},
		{"apikey in lower case", "apikey " + key, APIKeyScheme, "apikey", key},
		{"Bearer JWT", "Bearer " + jwt, Bearer, "Bearer", jwt},
		{"b64token characters and padding", "Bearer abc-._~+/XYZ==", Bearer, "Bearer", "abc-._~+/XYZ=="},
		{"Basic credentials (not decoded here)", "Basic dXNlcjpwYXNz", Basic, "Basic", "dXNlcjpwYXNz"},
		{"a token with a character the key parser will explain", "Bearer " + key[:30] + "é" + key[31:], Bearer, "Bearer", key[:30] + "é" + key[31:]},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c, e := Parse(tt.in)
			if e != nil {
				t.Fatalf("Parse(%q): %v", tt.in, e)
			}
			want := Credential{Kind: tt.kind, Scheme: tt.scheme, Token: tt.token, Source: SourceAuthorization}
			if c != want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.in, c, want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		desc   string
		in     string
		code   string
		kind   Kind
		detail []string
		id     string
	}{
		{"empty header", "", reason.AuthMalformedHeader, None, []string{"the Authorization header is empty"}, ""},
		{"whitespace only", "  ", reason.AuthMalformedHeader, None, []string{"only whitespace"}, ""},
		{"leading space", " Bearer " + key, reason.AuthMalformedHeader, None, []string{"leading space before the scheme"}, ""},
		{"scheme alone", "Bearer", reason.AuthMalformedHeader, Bearer, []string{"the scheme 'Bearer' has no token after it", "variable holding the credential empty"}, ""},
		{"scheme and a space, empty token", "Bearer ", reason.AuthMalformedHeader, Bearer, []string{"'Bearer' is followed by a space but no token"}, ""},
		{"two spaces", "Bearer  " + key, reason.AuthMalformedHeader, Bearer, []string{"two spaces after 'Bearer'", "exactly one space"}, keyID},
		{"three spaces", "Bearer   " + key, reason.AuthMalformedHeader, Bearer, []string{"3 spaces after 'Bearer'"}, keyID},
		{"tab", "Bearer\t" + key, reason.AuthMalformedHeader, Bearer, []string{"a tab after 'Bearer'"}, keyID},
		{"space and tab", "ApiKey \t" + key, reason.AuthMalformedHeader, APIKeyScheme, []string{"whitespace (space, tab) after 'ApiKey'"}, keyID},
		{"doubled scheme", "Bearer Bearer " + key, reason.AuthMalformedHeader, Bearer, []string{"the scheme appears twice ('Bearer Bearer …')", "adds 'Bearer ' itself"}, keyID},
		{"doubled scheme, mixed case", "bearer BEARER " + key, reason.AuthMalformedHeader, Bearer, []string{"appears twice"}, keyID},
		{"doubled scheme, nothing after", "Bearer Bearer", reason.AuthMalformedHeader, Bearer, []string{"appears twice"}, ""},
		{"two different schemes", "Bearer ApiKey " + key, reason.AuthMalformedHeader, Bearer, []string{"two schemes ('Bearer ApiKey …')"}, keyID},
		{"trailing space", "Bearer " + key + " ", reason.AuthMalformedHeader, Bearer, []string{"a space after the token"}, keyID},
		{"trailing tab", "Bearer " + key + "\t", reason.AuthMalformedHeader, Bearer, []string{"a tab after the token"}, keyID},
		{"trailing newline", "Bearer " + key + "\n", reason.AuthMalformedHeader, Bearer, []string{"a newline after the token"}, keyID},
		{"comma-separated credentials", "Bearer " + key + ", Bearer " + key2, reason.AuthMalformedHeader, Bearer, []string{"several credentials separated by a comma"}, ""},
		{"comma without space", "Bearer abc,def", reason.AuthMalformedHeader, Bearer, []string{"separated by a comma"}, ""},
		{"double quotes around the token", `Bearer "` + key + `"`, reason.AuthMalformedHeader, Bearer, []string{`the token is in double quotes (")`, "send it without quotes"}, keyID},
		{"single quotes around the token", `Bearer '` + key + `'`, reason.AuthMalformedHeader, Bearer, []string{`the token is in single quotes (')`}, keyID},
		{"typographic quotes", "Bearer “" + key + "”", reason.AuthMalformedHeader, Bearer, []string{"the token is in typographic quotes (“ ”"}, keyID},
		{"opening quote only", `Bearer "` + key, reason.AuthMalformedHeader, Bearer, []string{`a double quote (") before the token`}, keyID},
		{"closing quote only", "Bearer " + key + `"`, reason.AuthMalformedHeader, Bearer, []string{`a double quote (") after the token`}, keyID},
		{"whole value quoted", `"Bearer ` + key + `"`, reason.AuthMalformedHeader, None, []string{`starts with a double quote (")`, "remove the quotes"}, ""},
		{"space inside the token", "Bearer abc def", reason.AuthMalformedHeader, Bearer, []string{"a space at position 4 of the token", "no whitespace"}, ""},
		{"two credentials separated by a space", "Bearer " + key + " Bearer " + key2, reason.AuthMalformedHeader, Bearer, []string{"two credentials in one Authorization header"}, ""},
		{"control character in the token", "Bearer ab\x01cd", reason.AuthMalformedHeader, Bearer, []string{"a control character (U+0001) at position 3 of the token"}, ""},
		{"undefined (unset JavaScript variable)", "Bearer undefined", reason.AuthMalformedHeader, Bearer, []string{"the word 'undefined'", "not set"}, ""},
		{"null", "Bearer null", reason.AuthMalformedHeader, Bearer, []string{"the word 'null'"}, ""},
		{"None (Python)", "Bearer None", reason.AuthMalformedHeader, Bearer, []string{"the word 'none'"}, ""},
		{"[object Object]", "Bearer [object Object]", reason.AuthMalformedHeader, Bearer, []string{"'[object Object]'"}, ""},
		{"unexpanded shell variable", "Bearer $API_KEY", reason.AuthMalformedHeader, Bearer, []string{"starts with '$'"}, ""},
		{"unexpanded template", "Bearer {{api_key}}", reason.AuthMalformedHeader, Bearer, []string{"template placeholder"}, ""},
		{"placeholder in angle brackets", "Bearer <your-key>", reason.AuthMalformedHeader, Bearer, []string{"angle brackets"}, ""},
		{"unexpanded Windows variable", "Bearer %API_KEY%", reason.AuthMalformedHeader, Bearer, []string{"Windows variable"}, ""},
		{"colon after the scheme", "Bearer:" + key, reason.AuthMalformedHeader, Bearer, []string{"':' after the scheme 'Bearer'"}, ""},
		{"equals sign after the scheme", "Bearer=" + key, reason.AuthMalformedHeader, Bearer, []string{"'=' after the scheme 'Bearer'"}, ""},
		{"scheme glued to the key", "Bearer" + key, reason.AuthMalformedHeader, None, []string{"no space between 'Bearer' and the key"}, keyID},
		{"key without a scheme", key, reason.AuthMalformedHeader, None, []string{"a key without a scheme", "Authorization: Bearer gk_"}, keyID},
		{"key followed by more words", key + " x", reason.AuthMalformedHeader, Other, []string{"starts with a key, not a scheme"}, ""},
		{"single opaque word", "abcdef123456", reason.AuthMalformedHeader, None, []string{"not '<scheme> <credentials>'"}, ""},
		{"starts with a non-token character", "@foo bar", reason.AuthMalformedHeader, None, []string{"does not start with a scheme"}, ""},
		{"Token scheme", "Token " + key, reason.AuthSchemeUnsupported, Other, []string{"the Authorization scheme 'Token' is not supported"}, ""},
		{"Digest scheme with parameters", `Digest username="u", realm="r"`, reason.AuthSchemeUnsupported, Other, []string{"'Digest'"}, ""},
		{"very long scheme is not echoed", strings.Repeat("X", 40) + " abc", reason.AuthSchemeUnsupported, Other, []string{"the Authorization scheme (the first word of the header) is not supported"}, ""},
		{"secret-looking first word is not echoed", "ghp_M7H4jxUDDWHP4k x", reason.AuthSchemeUnsupported, Other, []string{"the first word of the header"}, ""},
		{"hyphenated scheme with digits is named", "AWS4-HMAC-SHA256 Credential=x", reason.AuthSchemeUnsupported, Other, []string{"'AWS4-HMAC-SHA256'"}, ""},
		{"camel-case scheme is named", "DPoP abc", reason.AuthSchemeUnsupported, Other, []string{"'DPoP'"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c, e := Parse(tt.in)
			if e == nil {
				t.Fatalf("Parse(%q) = %+v, want %s", tt.in, c, tt.code)
			}
			if e.Code != tt.code {
				t.Errorf("code = %s, want %s (detail %q)", e.Code, tt.code, e.Detail)
			}
			if c.Kind != tt.kind || c.Source != SourceAuthorization {
				t.Errorf("credential = %+v, want kind %v", c, tt.kind)
			}
			if tt.code == reason.AuthMalformedHeader && c.Token != "" {
				t.Errorf("a malformed header still returned token %q", c.Token)
			}
			for _, want := range tt.detail {
				if !strings.Contains(e.Detail, want) {
					t.Errorf("detail %q does not contain %q", e.Detail, want)
				}
			}
			if e.CredentialID != tt.id {
				t.Errorf("CredentialID = %q, want %q", e.CredentialID, tt.id)
			}
			if leak := leakedRun(e.Detail, tt.in); leak != "" && !(e.Code == reason.AuthSchemeUnsupported && strings.Contains(c.Scheme, leak)) {
				t.Errorf("detail %q repeats %q from the input", e.Detail, leak)
			}
		})
	}
}

func TestFromRequest(t *testing.T) {
	tests := []struct {
		desc    string
		h       http.Header
		query   string
		allowed bool
		want    Credential // when code == ""
		code    string
		detail  []string
	}{
		{"nothing", http.Header{}, "", false, Credential{Kind: None}, "", nil},
		{"unrelated headers only", http.Header{"Accept": {"*/*"}}, "a=1", true, Credential{Kind: None}, "", nil},
		{"Authorization Bearer", http.Header{"Authorization": {"Bearer " + key}}, "", false,
			Credential{Kind: Bearer, Scheme: "Bearer", Token: key, Source: SourceAuthorization}, "", nil},
		{"Authorization ApiKey", http.Header{"Authorization": {"ApiKey " + key}}, "", false,
			Credential{Kind: APIKeyScheme, Scheme: "ApiKey", Token: key, Source: SourceAuthorization}, "", nil},
		{"X-API-Key", http.Header{"X-Api-Key": {key}}, "", false,
			Credential{Kind: APIKeyScheme, Token: key, Source: SourceXAPIKey}, "", nil},
		{"query key where allowed", http.Header{}, "api_key=" + key, true,
			Credential{Kind: APIKeyScheme, Token: key, Source: SourceQuery}, "", nil},
		{"query key among other parameters", http.Header{}, "a=1&api_key=" + key + "&b=2", true,
			Credential{Kind: APIKeyScheme, Token: key, Source: SourceQuery}, "", nil},
		{"percent-encoded query key", http.Header{}, "api_key=gk%5Flive%5F" + key[8:], true,
			Credential{Kind: APIKeyScheme, Token: key, Source: SourceQuery}, "", nil},
		{"percent-encoded parameter name", http.Header{}, "api%5Fkey=" + key, true,
			Credential{Kind: APIKeyScheme, Token: key, Source: SourceQuery}, "", nil},
		{"query key where not allowed is ignored", http.Header{}, "api_key=" + key, false, Credential{Kind: None}, "", nil},
		{"a parameter that merely ends in api_key", http.Header{}, "xapi_key=" + key, true, Credential{Kind: None}, "", nil},
		{"same key in Authorization and X-API-Key", http.Header{"Authorization": {"Bearer " + key}, "X-Api-Key": {key}}, "", false,
			Credential{Kind: Bearer, Scheme: "Bearer", Token: key, Source: SourceAuthorization}, "", nil},
		{"same key in all three places", http.Header{"Authorization": {"Bearer " + key}, "X-Api-Key": {key}}, "api_key=" + key, true,
			Credential{Kind: Bearer, Scheme: "Bearer", Token: key, Source: SourceAuthorization}, "", nil},
		{"same key, the clean copy wins", http.Header{"X-Api-Key": {key + " "}}, "api_key=" + key, true,
			Credential{Kind: APIKeyScheme, Token: key, Source: SourceQuery}, "", nil},
		{"same key in the query twice", http.Header{}, "api_key=" + key + "&api_key=" + key, true,
			Credential{Kind: APIKeyScheme, Token: key, Source: SourceQuery}, "", nil},
		{"Basic credentials", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, "", false,
			Credential{Kind: Basic, Scheme: "Basic", Token: "dXNlcjpwYXNz", Source: SourceAuthorization}, "", nil},
		{"X-API-Key gk key with a trailing newline is passed raw to keys.Parse", http.Header{"X-Api-Key": {key + "\n"}}, "", false,
			Credential{Kind: APIKeyScheme, Token: key + "\n", Source: SourceXAPIKey}, "", nil},
		{"X-API-Key gk key in quotes is passed raw to keys.Parse", http.Header{"X-Api-Key": {`"` + key + `"`}}, "", false,
			Credential{Kind: APIKeyScheme, Token: `"` + key + `"`, Source: SourceXAPIKey}, "", nil},
		{"X-API-Key imported opaque key", http.Header{"X-Api-Key": {"legacy-7f3a9c2e1b"}}, "", false,
			Credential{Kind: APIKeyScheme, Token: "legacy-7f3a9c2e1b", Source: SourceXAPIKey}, "", nil},
		{"empty X-API-Key next to a working Authorization is ignored", http.Header{"Authorization": {"Bearer " + key}, "X-Api-Key": {""}}, "", false,
			Credential{Kind: Bearer, Scheme: "Bearer", Token: key, Source: SourceAuthorization}, "", nil},
		{"empty Authorization next to a working X-API-Key is ignored", http.Header{"Authorization": {""}, "X-Api-Key": {key}}, "", false,
			Credential{Kind: APIKeyScheme, Token: key, Source: SourceXAPIKey}, "", nil},
		{"empty query key next to a header key is ignored", http.Header{"X-Api-Key": {key}}, "api_key=", true,
			Credential{Kind: APIKeyScheme, Token: key, Source: SourceXAPIKey}, "", nil},

		{"two Authorization headers", http.Header{"Authorization": {"Bearer " + key, "Bearer " + key}}, "", false,
			Credential{}, reason.AuthMalformedHeader, []string{"2 Authorization headers"}},
		{"two Authorization headers with different credentials", http.Header{"Authorization": {"Bearer " + key, "Bearer gk_live_other"}}, "", false,
			Credential{}, reason.AuthAmbiguous, []string{"2 Authorization headers with different values", "exactly one credential"}},
		{"two X-API-Key headers", http.Header{"X-Api-Key": {key, key2}}, "", false,
			Credential{}, reason.AuthMalformedHeader, []string{"2 X-API-Key headers"}},
		{"malformed Authorization with a valid X-API-Key", http.Header{"Authorization": {"Bearer  " + key}, "X-Api-Key": {key}}, "", false,
			Credential{}, reason.AuthMalformedHeader, []string{"two spaces after 'Bearer'"}},
		{"unsupported scheme", http.Header{"Authorization": {"Token " + key}}, "", false,
			Credential{}, reason.AuthSchemeUnsupported, []string{"'Token'"}},
		{"different keys in Authorization and X-API-Key", http.Header{"Authorization": {"Bearer " + key}, "X-Api-Key": {key2}}, "", false,
			Credential{}, reason.AuthAmbiguous, []string{"one in the Authorization header and one in the X-API-Key header"}},
		{"JWT and API key", http.Header{"Authorization": {"Bearer " + jwt}, "X-Api-Key": {key}}, "", false,
			Credential{}, reason.AuthAmbiguous, []string{"two different credentials"}},
		{"Basic and API key", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}, "X-Api-Key": {key}}, "", false,
			Credential{}, reason.AuthAmbiguous, []string{"two different credentials"}},
		{"header key and a different query key", http.Header{"X-Api-Key": {key}}, "api_key=" + key2, true,
			Credential{}, reason.AuthAmbiguous, []string{"one in the X-API-Key header and one in the api_key query parameter"}},
		{"two different query keys", http.Header{}, "api_key=" + key + "&api_key=" + key2, true,
			Credential{}, reason.AuthAmbiguous, []string{"two different api_key query parameters"}},
		{"empty X-API-Key", http.Header{"X-Api-Key": {""}}, "", false,
			Credential{}, reason.AuthMalformedHeader, []string{"the X-API-Key header is empty"}},
		{"empty Authorization and empty X-API-Key: the first is reported", http.Header{"Authorization": {""}, "X-Api-Key": {" "}}, "", false,
			Credential{}, reason.AuthMalformedHeader, []string{"the Authorization header is empty"}},
		{"empty Authorization, nothing else", http.Header{"Authorization": {"  "}}, "", false,
			Credential{}, reason.AuthMalformedHeader, []string{"only whitespace"}},
		{"scheme inside X-API-Key", http.Header{"X-Api-Key": {"Bearer " + key}}, "", false,
			Credential{}, reason.AuthMalformedHeader, []string{"the X-API-Key header starts with 'Bearer '", "without a scheme"}},
		{"two keys merged into one X-API-Key", http.Header{"X-Api-Key": {key + ", " + key2}}, "", false,
			Credential{}, reason.AuthMalformedHeader, []string{"holds 2 keys separated by commas"}},
		{"X-API-Key placeholder", http.Header{"X-Api-Key": {"undefined"}}, "", false,
			Credential{}, reason.AuthMalformedHeader, []string{"the word 'undefined'"}},
		{"imported key with a trailing space", http.Header{"X-Api-Key": {"legacy-7f3a9c2e1b "}}, "", false,
			Credential{}, reason.AuthMalformedHeader, []string{"the X-API-Key header has trailing space: trim it"}},
		{"imported key with a leading tab and trailing newline", http.Header{"X-Api-Key": {"\tlegacy-7f3a9c2e1b\n"}}, "", false,
			Credential{}, reason.AuthMalformedHeader, []string{"leading tab and trailing newline"}},
		{"imported key in quotes", http.Header{"X-Api-Key": {`"legacy-7f3a9c2e1b"`}}, "", false,
			Credential{}, reason.AuthMalformedHeader, []string{`the X-API-Key header: the value is in double quotes (")`}},
		{"empty query key", http.Header{}, "api_key=", true,
			Credential{}, reason.AuthMalformedHeader, []string{"the api_key query parameter is empty"}},
		{"bad percent-encoding in the query key", http.Header{}, "api_key=gk_live_%zz", true,
			Credential{}, reason.AuthMalformedHeader, []string{"invalid percent-encoding"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c, e := FromRequest(tt.h, tt.query, tt.allowed)
			if tt.code == "" {
				if e != nil {
					t.Fatalf("FromRequest: %v", e)
				}
				if c != tt.want {
					t.Fatalf("FromRequest = %+v, want %+v", c, tt.want)
				}
				return
			}
			if e == nil {
				t.Fatalf("FromRequest = %+v, want %s", c, tt.code)
			}
			if e.Code != tt.code {
				t.Errorf("code = %s, want %s (detail %q)", e.Code, tt.code, e.Detail)
			}
			for _, want := range tt.detail {
				if !strings.Contains(e.Detail, want) {
					t.Errorf("detail %q does not contain %q", e.Detail, want)
				}
			}
			all := tt.query
			for _, vs := range tt.h {
				all += "\x00" + strings.Join(vs, "\x00")
			}
			if leak := leakedRun(e.Detail, all); leak != "" {
				t.Errorf("detail %q repeats %q from the request", e.Detail, leak)
			}
		})
	}
}

// TestQuotesLayering pins the division of labour documented in the package
// comment: quotes and whitespace around a gk_ key in X-API-Key reach
// keys.Parse, which names them; in the Authorization header they are
// authheader's.
func TestQuotesLayering(t *testing.T) {
	tests := []struct {
		desc   string
		h      http.Header
		code   string // from FromRequest, or from keys.Parse when FromRequest accepts
		detail string
	}{
		{"quotes in Authorization: authheader", http.Header{"Authorization": {`Bearer "` + key + `"`}}, reason.AuthMalformedHeader, "the token is in double quotes"},
		{"quotes in X-API-Key: keys.Parse", http.Header{"X-Api-Key": {`"` + key + `"`}}, reason.KeyMalformed, `double quotes (") around the key`},
		{"trailing newline in X-API-Key: keys.Parse", http.Header{"X-Api-Key": {key + "\n"}}, reason.KeyMalformed, "trailing newline: the key was probably read from a file; trim it"},
		{"leading space in X-API-Key: keys.Parse", http.Header{"X-Api-Key": {" " + key}}, reason.KeyMalformed, "leading space"},
		{"quotes around an imported key in X-API-Key: authheader", http.Header{"X-Api-Key": {`'legacy-7f3a9c2e1b'`}}, reason.AuthMalformedHeader, "single quotes"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c, e := FromRequest(tt.h, "", false)
			if e == nil {
				_, e = keys.Parse(c.Token, keys.EnvLive)
			}
			if e == nil {
				t.Fatalf("accepted %+v", c)
			}
			if e.Code != tt.code || !strings.Contains(e.Detail, tt.detail) {
				t.Fatalf("got %s %q, want %s containing %q", e.Code, e.Detail, tt.code, tt.detail)
			}
		})
	}
}

func TestQueryKeyPresent(t *testing.T) {
	tests := []struct {
		desc  string
		query string
		want  bool
	}{
		{"no query", "", false},
		{"other parameters", "a=1&b=2", false},
		{"api_key", "a=1&api_key=" + key, true},
		{"encoded name", "api%5Fkey=x", true},
		{"empty api_key", "api_key=", true},
		{"bad encoding still counts", "api_key=%zz", true},
		{"similar name", "my_api_key=x", false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := QueryKeyPresent(tt.query); got != tt.want {
				t.Fatalf("QueryKeyPresent(%q) = %v, want %v", tt.query, got, tt.want)
			}
		})
	}
}

func TestTcharMatchesRFC(t *testing.T) {
	// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
	// "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
	for c := 0; c < 256; c++ {
		want := strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0 ||
			('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
		if got := isTchar(byte(c)); got != want {
			t.Errorf("isTchar(%q) = %v, want %v", rune(c), got, want)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{None: "none", Bearer: "bearer", APIKeyScheme: "apikey", Basic: "basic", Other: "other", Kind(9): "Kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}

func TestNoAllocationsOnTheCommonPath(t *testing.T) {
	tests := []struct {
		desc  string
		h     http.Header
		query string
	}{
		{"Authorization: Bearer gk_…", http.Header{"Authorization": {"Bearer " + key}, "Accept": {"*/*"}}, "page=2&sort=asc"},
		{"X-API-Key", http.Header{"X-Api-Key": {key}}, ""},
		{"same key in Authorization and X-API-Key", http.Header{"Authorization": {"Bearer " + key}, "X-Api-Key": {key}}, ""},
		{"no credential", http.Header{"Accept": {"*/*"}}, "page=2"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, func() {
				if _, e := FromRequest(tt.h, tt.query, true); e != nil {
					t.Fatal(e)
				}
			}); n != 0 {
				t.Fatalf("FromRequest allocates %v times", n)
			}
		})
	}
	if n := testing.AllocsPerRun(1000, func() { _, _ = Parse("Bearer " + jwt) }); n != 0 {
		t.Fatalf("Parse allocates %v times", n)
	}
}

// TestOverHTTP sends raw requests to a real server on loopback, so the
// headers reach FromRequest exactly as net/http delivers them.
func TestOverHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, e := FromRequest(r.Header, r.URL.RawQuery, true)
		if e != nil {
			fmt.Fprintf(w, "%s|%s", e.Code, e.Detail)
			return
		}
		fmt.Fprintf(w, "ok|%s|%s|%s", c.Kind, c.Source, c.Token)
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	tests := []struct {
		desc    string
		target  string
		headers string // raw header lines, CRLF-terminated
		want    string // prefix of the body
	}{
		{"Bearer key", "/", "Authorization: Bearer " + key + "\r\n", "ok|bearer|authorization|" + key},
		{"lower-case header name and scheme", "/", "authorization: bearer " + key + "\r\n", "ok|bearer|authorization|" + key},
		{"X-API-Key in any case", "/", "x-api-key: " + key + "\r\n", "ok|apikey|x-api-key|" + key},
		{"double space inside the value survives the wire", "/", "Authorization: Bearer  " + key + "\r\n", reason.AuthMalformedHeader + "|two spaces after 'Bearer'"},
		{"net/http trims whitespace around a field value", "/", "Authorization: Bearer " + key + "   \r\n", "ok|bearer|authorization|" + key},
		{"two Authorization lines", "/", "Authorization: Bearer " + key + "\r\nAuthorization: Bearer " + key + "\r\n", reason.AuthMalformedHeader + "|2 Authorization headers"},
		{"key in the query", "/v1/x?api_key=" + key, "", "ok|apikey|query|" + key},
		{"two different credentials", "/v1/x?api_key=" + key2, "X-API-Key: " + key + "\r\n", reason.AuthAmbiguous + "|"},
		{"no credential", "/", "", "ok|none||"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, "GET "+tt.target+" HTTP/1.1\r\nHost: gatehouse.test\r\nConnection: close\r\n"+tt.headers+"\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(body), tt.want) {
				t.Fatalf("body %q, want prefix %q", body, tt.want)
			}
		})
	}
}

// leakedRun returns a run of the input that the detail repeats and that
// could be part of a secret: 5 or more base62 characters mixing digits and
// letters, or with a lower-to-upper change; "" if none.
func leakedRun(detail, input string) string {
	allowed := map[string]bool{"ApiKey": true, "GitHub": true, "GitLab": true, "OpenAI": true, "API_KEY": true}
	isB62 := func(c byte) bool { return c-'0' < 10 || c-'A' < 26 || c-'a' < 26 }
	for i := 0; i < len(detail); {
		if !isB62(detail[i]) {
			i++
			continue
		}
		j := i
		for j < len(detail) && isB62(detail[j]) {
			j++
		}
		run := detail[i:j]
		i = j
		if len(run) < 5 || allowed[run] || !strings.Contains(input, run) {
			continue
		}
		digits, letters, camel := false, false, false
		for k := 0; k < len(run); k++ {
			digits = digits || run[k]-'0' < 10
			letters = letters || run[k] > '9'
			camel = camel || (k > 0 && run[k-1]-'a' < 26 && run[k]-'A' < 26)
		}
		if (digits && letters) || camel {
			return run
		}
	}
	return ""
}

func TestLeakedRunCanFail(t *testing.T) {
	if leakedRun("bad token "+key[21:40], key) == "" {
		t.Fatal("leakedRun misses a run of the key")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"Bearer " + key, "bearer  x", "Bearer Bearer x", `Bearer "x"`, "Token x", "Basic a=", key, "Bearer a, Bearer b", "Bearer undefined"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		c, e := Parse(value)
		if c.Source != SourceAuthorization {
			t.Fatalf("Parse(%q): source %q", value, c.Source)
		}
		if e != nil {
			switch e.Code {
			case reason.AuthMalformedHeader:
				if c.Token != "" {
					t.Fatalf("Parse(%q): malformed but token %q", value, c.Token)
				}
			case reason.AuthSchemeUnsupported:
				if c.Kind != Other {
					t.Fatalf("Parse(%q): unsupported scheme with kind %v", value, c.Kind)
				}
			default:
				t.Fatalf("Parse(%q): code %s", value, e.Code)
			}
			if e.Detail == "" || !utf8.ValidString(e.Detail) {
				t.Fatalf("Parse(%q): detail %q", value, e.Detail)
			}
			// The one thing a detail may repeat is an unsupported scheme's name.
			if leak := leakedRun(e.Detail, value); leak != "" && !(e.Code == reason.AuthSchemeUnsupported && strings.Contains(c.Scheme, leak)) {
				t.Fatalf("Parse(%q): detail %q repeats %q", value, e.Detail, leak)
			}
			return
		}
		if c.Kind != Bearer && c.Kind != APIKeyScheme && c.Kind != Basic {
			t.Fatalf("Parse(%q) accepted kind %v", value, c.Kind)
		}
		if value != c.Scheme+" "+c.Token || schemeKind(c.Scheme) != c.Kind {
			t.Fatalf("Parse(%q) = %+v: not '<scheme> <token>'", value, c)
		}
		if c.Token == "" || strings.ContainsAny(c.Token, " \t,") || strings.IndexFunc(c.Token, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			t.Fatalf("Parse(%q) accepted token %q", value, c.Token)
		}
		if quoteProblem(c.Token, "token") != "" || trailingSpace(c.Token) != "" {
			t.Fatalf("Parse(%q) accepted a quoted or padded token %q", value, c.Token)
		}
	})
}

func FuzzFromRequest(f *testing.F) {
	f.Add("Bearer "+key, key, "api_key="+key, uint8(0b1111))
	f.Add("Bearer "+key, key2, "", uint8(0b0011))
	f.Add("", key+"\n", "api_key=%zz", uint8(0b1110))
	f.Add("Basic a=", "", "a=1&api_key=x&api_key=y", uint8(0b1001))
	f.Fuzz(func(t *testing.T, auth, xkey, query string, flags uint8) {
		h := http.Header{}
		if flags&1 != 0 {
			h["Authorization"] = []string{auth}
			if flags&16 != 0 {
				h["Authorization"] = append(h["Authorization"], auth)
			}
		}
		if flags&2 != 0 {
			h["X-Api-Key"] = []string{xkey}
		}
		allowed := flags&4 != 0
		c, e := FromRequest(h, query, allowed)
		inputs := auth + "\x00" + xkey + "\x00" + query
		if e != nil {
			switch e.Code {
			case reason.AuthMalformedHeader, reason.AuthSchemeUnsupported, reason.AuthAmbiguous:
			default:
				t.Fatalf("code %s", e.Code)
			}
			if e.Detail == "" || !utf8.ValidString(e.Detail) {
				t.Fatalf("detail %q", e.Detail)
			}
			if leak := leakedRun(e.Detail, inputs); leak != "" && !(e.Code == reason.AuthSchemeUnsupported && strings.Contains(c.Scheme, leak)) {
				t.Fatalf("detail %q repeats %q", e.Detail, leak)
			}
			return
		}
		switch c.Source {
		case "":
			if c.Kind != None || c.Token != "" {
				t.Fatalf("no source but %+v", c)
			}
			if flags&3 != 0 {
				t.Fatalf("headers present (flags %b) but no credential and no error", flags)
			}
			if allowed && QueryKeyPresent(query) {
				t.Fatalf("query key %q allowed but not found", query)
			}
		case SourceAuthorization:
			if flags&1 == 0 || flags&16 != 0 || !strings.HasSuffix(auth, c.Token) {
				t.Fatalf("credential %+v not from the single Authorization header", c)
			}
		case SourceXAPIKey:
			if flags&2 == 0 || c.Token != xkey {
				t.Fatalf("credential %+v is not the X-API-Key value", c)
			}
		case SourceQuery:
			if !allowed {
				t.Fatalf("query credential on a route without query keys: %+v", c)
			}
		default:
			t.Fatalf("source %q", c.Source)
		}
		if c.Source != "" && c.Token == "" {
			t.Fatalf("empty token from %s", c.Source)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	v := "Bearer " + key
	b.ReportAllocs()
	for b.Loop() {
		if _, e := Parse(v); e != nil {
			b.Fatal(e)
		}
	}
}

func BenchmarkFromRequest(b *testing.B) {
	cases := []struct {
		name  string
		h     http.Header
		query string
	}{
		{"bearer", http.Header{"Authorization": {"Bearer " + key}, "Accept": {"*/*"}, "User-Agent": {"bench"}}, "page=2"},
		{"x-api-key", http.Header{"X-Api-Key": {key}, "Accept": {"*/*"}}, ""},
		{"query", http.Header{"Accept": {"*/*"}}, "page=2&api_key=" + key},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, e := FromRequest(bc.h, bc.query, true); e != nil {
					b.Fatal(e)
				}
			}
		})
	}
}

// BenchmarkParseJWT is a realistic access token (RFC 9068 claims, RS256,
// 513 bytes like the bench's): the per-byte cost of the offline checks.
func BenchmarkParseJWT(b *testing.B) {
	tok := "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiYXQrand0In0." + strings.Repeat("eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIn0", 8) + "." + strings.Repeat("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", 8)
	v := "Bearer " + tok
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, e := Parse(v); e != nil {
			b.Fatal(e)
		}
	}
}

// TestFirstSuspect: the word-at-a-time scan finds the word of the first
// byte the byte loop would stop at, for every byte value at every offset
// of a clean token (and never stops early on a clean one).
func TestFirstSuspect(t *testing.T) {
	suspect := func(c byte) bool { return c <= ' ' || c == 0x7F }
	clean := strings.Repeat("eyJhbGciOiJSUzI1NiJ9._-~+/=é", 3)
	if got := firstSuspect(clean); got != len(clean)/8*8 {
		t.Fatalf("clean token: firstSuspect = %d, want %d (the tail is left to the byte loop)", got, len(clean)/8*8)
	}
	for pos := 0; pos < len(clean); pos++ {
		for c := 0; c < 256; c++ {
			b := []byte(clean)
			b[pos] = byte(c)
			got := firstSuspect(string(b))
			switch {
			case suspect(byte(c)) && pos < len(b)/8*8 && got != pos/8*8:
				t.Fatalf("byte %#x at %d: firstSuspect = %d, want %d", c, pos, got, pos/8*8)
			case got > pos && suspect(byte(c)) && pos < len(b)/8*8:
				t.Fatalf("byte %#x at %d skipped (firstSuspect = %d)", c, pos, got)
			case !suspect(byte(c)) && got < len(b)/8*8 && !suspect(b[got]) && !anySuspect(b[got:got+8], suspect):
				t.Fatalf("byte %#x at %d: stopped at clean word %d", c, pos, got)
			}
		}
	}
}

func anySuspect(b []byte, f func(byte) bool) bool {
	for _, c := range b {
		if f(c) {
			return true
		}
	}
	return false
}
