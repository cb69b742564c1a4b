package reason

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// Every code constant used from Go must be catalogued, and every entry must
// be complete enough to render a useful page.
func TestCatalogueComplete(t *testing.T) {
	consts := []string{RouteNotFound, MethodNotAllowed, AuthMissing, AuthSchemeUnsupported, AuthMalformedHeader,
		AuthAmbiguous, AuthMethodNotAllowed, AuthBackendUnavailable, KeyMalformed, KeyChecksumMismatch,
		KeyWrongEnvironment, KeyUnknown, KeyExpired, KeyRevoked, KeyRotated, ConsumerSuspended, ConsumerDeleted,
		TenantSuspended, TenantMismatch, ScopeInsufficient, IPNotAllowed, RateExceeded, UpstreamUnavailable,
		UpstreamTimeout, RequestTooLarge, RequestMalformed, CORSOriginNotAllowed, CORSMethodNotAllowed, CORSHeaderNotAllowed, ServiceRetired, GatewayInternal}
	for _, c := range consts {
		if _, ok := Lookup(c); !ok {
			t.Errorf("code constant %q is not in the catalogue", c)
		}
	}
	seen := map[string]bool{}
	for _, e := range catalogue {
		if seen[e.Code] {
			t.Errorf("duplicate code %q", e.Code)
		}
		seen[e.Code] = true
		if e.Status < 400 || e.Status > 599 || e.Title == "" || e.Meaning == "" || e.Hint == "" {
			t.Errorf("incomplete entry %+v", e)
		}
		if !strings.Contains(e.Code, ".") {
			t.Errorf("code %q has no family", e.Code)
		}
		switch e.Bearer {
		case "-", BearerNone, BearerInvalidRequest, BearerInvalidToken, BearerInsufficientScope:
		default:
			t.Errorf("code %q: bad bearer attribute %q", e.Code, e.Bearer)
		}
		if e.Bearer == BearerInvalidRequest && e.Status != 400 || e.Bearer == BearerInsufficientScope && e.Status != 403 {
			t.Errorf("code %q: RFC 6750 says %s goes with another status than %d", e.Code, e.Bearer, e.Status)
		}
		if _, ok := Page(e.Code); !ok {
			t.Errorf("no page for %q", e.Code)
		}
	}
}

// docs/errors.md is generated from the catalogue and must be current.
func TestDocsCurrent(t *testing.T) {
	got, err := os.ReadFile("../../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, Markdown()) {
		t.Fatal("docs/errors.md is stale: run go generate ./internal/reason")
	}
}

func TestWrite(t *testing.T) {
	cases := []struct {
		desc       string
		err        *Error
		render     Render
		wantStatus int
		wantCode   string
		wantWWW    string // "" means header absent
		wantDetail string
		noDetail   bool
	}{
		{desc: "no credential: bearer without error attribute (RFC 6750 §3.1)",
			err: New(AuthMissing, "No credential was sent."), wantStatus: 401, wantCode: AuthMissing,
			wantWWW: `Bearer realm="gatehouse"`, wantDetail: "No credential was sent."},
		{desc: "revoked key after proof: full detail",
			err:        &Error{Code: KeyRevoked, Detail: "revoked at X: compromised.", Possession: true, CredentialID: "abc"},
			wantStatus: 401, wantCode: KeyRevoked, wantDetail: "revoked at X: compromised.",
			wantWWW: `Bearer realm="gatehouse", error="invalid_token", error_description="key.revoked"`},
		{desc: "lifecycle code without proof is downgraded to key.unknown",
			err:        &Error{Code: KeyRevoked, Detail: "revoked at X: compromised."},
			wantStatus: 401, wantCode: KeyUnknown, noDetail: true,
			wantWWW: `Bearer realm="gatehouse", error="invalid_token", error_description="key.unknown"`},
		{desc: "malformed header is invalid_request 400",
			err: New(AuthMalformedHeader, "doubled scheme"), wantStatus: 400, wantCode: AuthMalformedHeader,
			wantWWW: `Bearer realm="gatehouse", error="invalid_request", error_description="auth.malformed_header"`, wantDetail: "doubled scheme"},
		{desc: "insufficient scope carries scope attribute",
			err:        &Error{Code: ScopeInsufficient, Detail: "lacks orders:write", Possession: true, Scope: "orders:write"},
			wantStatus: 403, wantCode: ScopeInsufficient, wantDetail: "lacks orders:write",
			wantWWW: `Bearer realm="gatehouse", error="insufficient_scope", error_description="scope.insufficient", scope="orders:write"`},
		{desc: "minimal disclosure gives the family only",
			err:    &Error{Code: KeyRevoked, Detail: "revoked at X: compromised.", Possession: true},
			render: Render{Minimal: true}, wantStatus: 401, wantCode: "key", noDetail: true,
			wantWWW: `Bearer realm="gatehouse", error="invalid_token", error_description="key"`},
		{desc: "wrong Basic credentials challenge with Basic (RFC 7617 §2)",
			err: New("basic.invalid_credentials", "Unknown user or wrong password."), wantStatus: 401, wantCode: "basic.invalid_credentials",
			wantWWW: `Basic realm="gatehouse", charset="UTF-8"`, wantDetail: "Unknown user or wrong password."},
		{desc: "no credential on a Basic-only route: the route's scheme",
			err: New(AuthMissing, "No credential was sent."), render: Render{Scheme: "Basic"}, wantStatus: 401, wantCode: AuthMissing,
			wantWWW: `Basic realm="gatehouse", charset="UTF-8"`, wantDetail: "No credential was sent."},
		{desc: "upstream errors carry no WWW-Authenticate",
			err: New(UpstreamUnavailable, ""), wantStatus: 502, wantCode: UpstreamUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tc.render.RequestID = "01JD3VTESTTESTTESTTESTTEST"
			tc.render.Instance = "/v1/x"
			tc.err.Write(rec, tc.render)
			if rec.Code != tc.wantStatus {
				t.Errorf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tc.wantWWW {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.wantWWW)
			}
			if rec.Header().Get("X-Request-Id") != tc.render.RequestID {
				t.Errorf("X-Request-Id missing")
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type %q", ct)
			}
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body not JSON: %v: %s", err, rec.Body)
			}
			if body["code"] != tc.wantCode || int(body["status"].(float64)) != tc.wantStatus {
				t.Errorf("body %v", body)
			}
			if body["request_id"] != tc.render.RequestID || body["instance"] != "/v1/x" {
				t.Errorf("body lacks request_id/instance: %v", body)
			}
			if !strings.HasSuffix(body["type"].(string), ErrorsPath+tc.wantCode) {
				t.Errorf("type %v", body["type"])
			}
			if tc.noDetail && body["detail"] != nil {
				t.Errorf("detail leaked: %v", body["detail"])
			}
			if tc.wantDetail != "" && body["detail"] != tc.wantDetail {
				t.Errorf("detail %v, want %q", body["detail"], tc.wantDetail)
			}
		})
	}
}

func TestOpenAIShape(t *testing.T) {
	rec := httptest.NewRecorder()
	(&Error{Code: KeyRevoked, Detail: "Key gk_live_x was revoked.", Possession: true}).Write(rec, Render{RequestID: "RID", OpenAI: true})
	var body struct {
		Error struct {
			Message, Type, Code, RequestID string
			Param                          any
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Error.Code != KeyRevoked || body.Error.Type != "authentication_error" ||
		!strings.Contains(body.Error.Message, "key.revoked") || !strings.Contains(body.Error.Message, "RID") {
		t.Fatalf("openai body %s", rec.Body)
	}
}

func TestAppendStringEscapes(t *testing.T) {
	for _, s := range []string{"plain", "quote\"back\\slash", "ctl\x00\x1f\n\t", "<script>&", "utf8 ✓ \u2028", "bad \xff byte"} {
		b := appendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q → %s: %v", s, b, err)
		}
		if strings.ToValidUTF8(s, "\ufffd") != back {
			t.Errorf("%q round-tripped to %q", s, back)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	e := &Error{Code: KeyChecksumMismatch, Detail: "a character was changed: a typo", CredentialID: "7Hq2xK9pLm3Q"}
	rd := Render{RequestID: "01JD3VTESTTESTTESTTESTTEST", Instance: "/v1/x", BaseURL: "http://gw"}
	rec := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		rec.Body.Reset()
		clear(rec.Header())
		e.Write(rec, rd)
	}
}

// RFC 9110 §11.6.1: a 401 "MUST send a WWW-Authenticate header field
// containing at least one challenge applicable to the target resource" —
// every 401 of the catalogue does, except mTLS's: a client certificate is
// asked for by the TLS handshake, and HTTP has no challenge for it.
func TestEvery401Challenges(t *testing.T) {
	for _, e := range All() {
		if e.Status != 401 || strings.HasPrefix(e.Code, "mtls.") {
			continue
		}
		err := &Error{Code: e.Code, Detail: "d", Possession: true}
		if wa := err.WWWAuthenticate(Render{}); wa == "" {
			t.Errorf("%s answers 401 with no WWW-Authenticate", e.Code)
		}
		if wa := err.WWWAuthenticate(Render{Minimal: true}); wa == "" {
			t.Errorf("%s answers 401 with no WWW-Authenticate under minimal disclosure", e.Code)
		}
		rec := httptest.NewRecorder()
		err.Write(rec, Render{RequestID: "r"})
		if rec.Code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: Write sent a 401 with no WWW-Authenticate", e.Code)
		}
	}
	if wa := (&Error{Code: "sig.invalid", Possession: true}).WWWAuthenticate(Render{}); wa != `Signature realm="gatehouse"` {
		t.Errorf("sig.invalid challenges %q", wa)
	}
}

// Minimal disclosure hides the reason but not RFC 6750's error for the
// status: a 403 for scope stays insufficient_scope.
func TestMinimalKeepsTheStatusError(t *testing.T) {
	e := &Error{Code: ScopeInsufficient, Detail: "d", Scope: "orders:write", Possession: true}
	wa := e.WWWAuthenticate(Render{Minimal: true})
	if !strings.Contains(wa, `error="insufficient_scope"`) {
		t.Errorf("minimal scope.insufficient challenges %q", wa)
	}
	if wa := (&Error{Code: KeyRevoked, Detail: "d", Possession: true}).WWWAuthenticate(Render{Minimal: true}); !strings.Contains(wa, `error="invalid_token"`) {
		t.Errorf("minimal key.revoked challenges %q", wa)
	}
}
