package basic

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecode(t *testing.T) {
	cases := []struct {
		desc     string
		token    string
		user, pw string
		detail   string // substring of the basic.malformed detail; "" = valid
	}{
		{desc: "RFC 7617 example", token: "QWxhZGRpbjpvcGVuIHNlc2FtZQ==", user: "Aladdin", pw: "open sesame"},
		{desc: "password keeps later colons", token: enc("u:a:b:"), user: "u", pw: "a:b:"},
		{desc: "empty password", token: enc("u:"), user: "u", pw: ""},
		{desc: "UTF-8 user-id (RFC 7617 charset)", token: enc("tëst:pässwörd"), user: "tëst", pw: "pässwörd"},
		{desc: "empty token", token: "", detail: "are empty"},
		{desc: "plain text instead of base64", token: "user:pass", detail: "plain text"},
		{desc: "URL-safe alphabet", token: base64.URLEncoding.EncodeToString([]byte("u:\xfb\xff\xbe")), detail: "URL-safe"},
		{desc: "missing padding", token: base64.RawStdEncoding.EncodeToString([]byte("user:pas")), detail: "lack their '=' padding"},
		{desc: "stray character", token: "dXNlc*pwYXNz", detail: "unexpected '*' at position 6"},
		{desc: "non-ASCII byte", token: "dXNl\xc3\xa9pwYXNz", detail: "unexpected byte 0xc3 at position 5"},
		{desc: "space inside", token: "dXNl cjpwYXNz", detail: "unexpected space at position 5"},
		{desc: "truncated", token: "dXNlc", detail: "they end early or were cut (5 characters"},
		{desc: "non-canonical: unused bits set", token: "0zp=", detail: "not canonical base64"},
		{desc: "padding in the middle", token: "dQ==dXNl", detail: "'=' at position 3 is padding"},
		{desc: "no colon", token: enc("justakey"), detail: "no ':' between user-id and password"},
		{desc: "empty user-id", token: enc(":pass"), detail: "user-id before ':' is empty"},
		{desc: "control character in user-id", token: enc("us\ter:pass"), detail: "user-id contains the control character tab at position 3"},
		{desc: "trailing line break from echo", token: enc("user:pass\n"), detail: "ends with a line break"},
		{desc: "control character inside the password", token: enc("user:pa\x00ss"), detail: "password contains a control character (byte 0x00)"},
		{desc: "too long", token: strings.Repeat("QUFB", MaxTokenBytes/4+1), detail: "the limit is 4096"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			user, pw, rerr := Decode(tc.token)
			if tc.detail == "" {
				if rerr != nil {
					t.Fatalf("rejected: %v", rerr)
				}
				if user != tc.user || pw != tc.pw {
					t.Fatalf("got %q %q, want %q %q", user, pw, tc.user, tc.pw)
				}
				return
			}
			if rerr == nil {
				t.Fatalf("accepted as %q %q", user, pw)
			}
			if rerr.Code != CodeMalformed || rerr.Entry().Status != 400 {
				t.Fatalf("code %s", rerr.Code)
			}
			if !strings.Contains(rerr.Detail, tc.detail) {
				t.Fatalf("detail %q lacks %q", rerr.Detail, tc.detail)
			}
		})
	}
}

// FuzzDecode: Decode never panics; what it accepts round-trips to the
// same token; its details never quote the password.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"QWxhZGRpbjpvcGVuIHNlc2FtZQ==", enc("u:"), enc(":p"), enc("u:p\n"), enc("a:b:c"),
		"user:pass", "dXNlcjpwYXNz", "dXNlcjpwYXNz=", "====", "", "-_-_", "\x00", enc("\x7f:x"),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		user, pw, rerr := Decode(token)
		if rerr != nil {
			if rerr.Code != CodeMalformed || rerr.Detail == "" || !utf8.ValidString(rerr.Detail) {
				t.Fatalf("bad rejection %+v", rerr)
			}
			if dec, err := base64.StdEncoding.DecodeString(token); err == nil {
				if _, p, ok := strings.Cut(string(dec), ":"); ok && len(p) >= 4 && strings.Contains(rerr.Detail, p) {
					t.Fatalf("detail %q quotes the password", rerr.Detail)
				}
			}
			return
		}
		if user == "" || strings.Contains(user, ":") {
			t.Fatalf("accepted user-id %q", user)
		}
		if got := base64.StdEncoding.EncodeToString([]byte(user + ":" + pw)); got != token {
			t.Fatalf("accepted %q but it re-encodes as %q", token, got)
		}
	})
}
