package doctor

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// makeJWT builds a compact JWS with a dummy signature: the doctor never
// verifies signatures, it only decodes.
func makeJWT(t *testing.T, header, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(claims) + ".c2lnbmF0dXJl"
}

func TestJWTChecks(t *testing.T) {
	rs := map[string]any{"alg": "RS256", "kid": "2024-k1", "typ": "JWT"}
	at := func(d time.Duration) int64 { return t0.Add(d).Unix() }
	raw := func(h, c string) string {
		return base64.RawURLEncoding.EncodeToString([]byte(h)) + "." + base64.RawURLEncoding.EncodeToString([]byte(c)) + ".c2ln"
	}
	cases := []struct {
		desc     string
		token    string
		check    string
		level    Level
		detail   []string
		code     string // first finding's code, "" for none
		blocking bool
		fix      string
	}{
		{desc: "a valid token: lifetime by the local clock",
			token: makeJWT(t, rs, map[string]any{"iss": "https://idp.example", "aud": "orders", "exp": at(59 * time.Minute), "iat": at(-time.Minute)}),
			check: checkJWTTime, level: Pass, detail: []string{"valid for another 59 min", "issued 1 min ago"}},
		{desc: "the header shows alg, kid and typ",
			token: makeJWT(t, rs, map[string]any{"iss": "https://idp.example", "exp": at(time.Hour)}),
			check: checkJWTHeader, level: Pass, detail: []string{"alg RS256, kid 2024-k1, typ JWT", "without verification"}},
		{desc: "claims: iss, aud as an array, sub",
			token: makeJWT(t, rs, map[string]any{"iss": "https://idp.example", "aud": []string{"a", "b"}, "sub": "user-42", "exp": at(time.Hour)}),
			check: checkJWTClaims, level: Pass, detail: []string{"iss https://idp.example", "aud a b", "sub user-42"}},
		{desc: "no iss is a warning",
			token: makeJWT(t, rs, map[string]any{"exp": at(time.Hour)}),
			check: checkJWTClaims, level: Warn, detail: []string{"without iss"}},
		{desc: "expired by how much",
			token: makeJWT(t, rs, map[string]any{"iss": "https://idp.example", "exp": at(-5*time.Minute - 3*time.Second)}),
			check: checkJWTTime, level: Fail, detail: []string{"expired 5 min 3 s ago", "exp 2026-11-20T09:54:57Z"},
			code: "jwt.expired", blocking: true, fix: "get a fresh token from https://idp.example"},
		{desc: "expired within the usual leeway: wrong, but not certain to be refused",
			token: makeJWT(t, rs, map[string]any{"iss": "i", "exp": at(-20 * time.Second)}),
			check: checkJWTTime, level: Fail, detail: []string{"expired 20 s ago", "leeway"},
			code: "jwt.expired", blocking: false},
		{desc: "not yet valid",
			token: makeJWT(t, rs, map[string]any{"iss": "i", "nbf": at(10 * time.Minute), "exp": at(time.Hour)}),
			check: checkJWTTime, level: Fail, detail: []string{"not valid for another 10 min"},
			code: "jwt.not_yet_valid", blocking: true, fix: "Clock skew: the issuer's clock is about 10 min ahead (the token's nbf is 10 min in the future"},
		{desc: "issuer clock 2 minutes ahead (nbf and iat in the future, the token a few seconds old)",
			token: makeJWT(t, rs, map[string]any{"iss": "i", "iat": at(117 * time.Second), "nbf": at(117 * time.Second), "exp": at(time.Hour)}),
			check: checkJWTTime, level: Fail, detail: []string{"not valid for another 1 min 57 s"},
			code: "jwt.not_yet_valid", blocking: true, fix: "Clock skew: the issuer's clock is about 2 min ahead (the token's nbf is 1 min 57 s in the future"},
		{desc: "issuer clock 2 minutes ahead (iat in the future)",
			token: makeJWT(t, rs, map[string]any{"iss": "i", "iat": at(2 * time.Minute), "exp": at(time.Hour)}),
			check: checkJWTTime, level: Fail, detail: []string{"issued 2 min in the future", "jwt.not_yet_valid"},
			code: "jwt.not_yet_valid", blocking: true, fix: "Clock skew: the issuer's clock is about 2 min ahead (the token's iat is 2 min in the future"},
		{desc: "iat slightly ahead is a warning",
			token: makeJWT(t, rs, map[string]any{"iss": "i", "iat": at(20 * time.Second), "exp": at(time.Hour)}),
			check: checkJWTTime, level: Warn, detail: []string{"issued 20 s in the future"},
			code: "jwt.not_yet_valid", blocking: false, fix: "Clock skew: the issuer's clock is 20 s ahead"},
		{desc: "no exp",
			token: makeJWT(t, rs, map[string]any{"iss": "i"}),
			check: checkJWTTime, level: Warn, detail: []string{"no exp claim"},
			code: "jwt.claim_missing", blocking: false},
		{desc: "fractional NumericDate",
			token: raw(`{"alg":"ES256"}`, fmt.Sprintf(`{"iss":"i","exp":%d.5}`, at(time.Hour))),
			check: checkJWTTime, level: Pass, detail: []string{"valid for another"}},
		{desc: "alg none",
			token: makeJWT(t, map[string]any{"alg": "none"}, map[string]any{"iss": "i", "exp": at(time.Hour)}),
			check: checkJWTHeader, level: Fail, detail: []string{"unsigned"},
			code: "jwt.alg_not_allowed", blocking: true, fix: "get a signed token"},
		{desc: "an empty signature",
			token: strings.TrimSuffix(makeJWT(t, rs, map[string]any{"iss": "i", "exp": at(time.Hour)}), "c2lnbmF0dXJl"),
			check: checkJWTHeader, level: Fail, detail: []string{"signature (third segment) is empty"},
			code: "jwt.malformed", blocking: true},
		{desc: "the claims are not base64url",
			token: "eyJhbGciOiJSUzI1NiJ9.!!!.c2ln",
			check: checkJWT, level: Fail, detail: []string{"the claims (second segment) are not base64url"},
			code: "jwt.malformed", blocking: true, fix: "send it exactly as the identity provider issued it"},
		{desc: "the header is not JSON",
			token: raw(`not json`, `{}`),
			check: checkJWT, level: Fail, detail: []string{"the header (first segment) is not a JSON object"},
			code: "jwt.malformed", blocking: true},
		{desc: "exp as a string",
			token: raw(`{"alg":"RS256"}`, `{"exp":"tomorrow"}`),
			check: checkJWT, level: Fail, detail: []string{"NumericDate"},
			code: "jwt.malformed", blocking: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r, err := newRun(Options{URL: "https://gw.example/", Now: func() time.Time { return t0 }})
			if err != nil {
				t.Fatal(err)
			}
			r.jwtChecks(tc.token)
			c := findCheck(r.rep.Checks, tc.check)
			if c == nil {
				t.Fatalf("no %q check in %+v", tc.check, r.rep.Checks)
			}
			if c.Level != tc.level {
				t.Errorf("level %d, want %d: %s", c.Level, tc.level, c.Detail)
			}
			for _, d := range tc.detail {
				if !strings.Contains(c.Detail, d) {
					t.Errorf("detail %q lacks %q", c.Detail, d)
				}
			}
			if tc.code == "" {
				if len(r.findings) > 0 {
					t.Errorf("unexpected finding %+v", *r.findings[0])
				}
				return
			}
			if len(r.findings) == 0 {
				t.Fatalf("no finding, want %s", tc.code)
			}
			f := r.findings[0]
			if f.code != tc.code || f.blocking != tc.blocking || !strings.Contains(f.fix, tc.fix) {
				t.Errorf("finding %s blocking=%v fix %q; want %s blocking=%v fix containing %q", f.code, f.blocking, f.fix, tc.code, tc.blocking, tc.fix)
			}
		})
	}
}
