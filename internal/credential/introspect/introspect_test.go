package introspect

import (
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/authheader"
	"gatehouse/internal/credential"
	"gatehouse/internal/reason"
	"gatehouse/internal/snapshot"
)

func sum(tok string) [32]byte { return sha256.Sum256([]byte(tok)) }

const (
	tokUser    = "2YotnFZFEjr1zCsicMWpAA"
	tokClient  = "mF_9.B5f-4.1JqM"
	tokNoBind  = "opaque-no-binding"
	tokOther   = "opaque-other-user"
	tokAudOK   = "opaque-aud-ok"
	tokAudBad  = "opaque-aud-bad"
	tokUnknown = "never-issued-token"
)

// world is an authorization server with its tokens and the gateway's
// bindings.
func world(t testing.TB) (*authServer, *binds) {
	t.Helper()
	as := newAuthServer(t)
	exp := t0.Add(time.Hour).Unix()
	as.set(tokUser, map[string]any{"sub": "user-1", "client_id": "app-9", "scope": "read write", "exp": exp, "aud": "https://api.example"})
	as.set(tokClient, map[string]any{"client_id": "svc-42", "scope": "batch", "exp": exp})
	as.set(tokNoBind, map[string]any{"scope": "read", "exp": exp})
	as.set(tokOther, map[string]any{"sub": "user-2", "exp": exp})
	as.set(tokAudOK, map[string]any{"sub": "user-1", "exp": exp, "aud": []string{"other", "https://api.example"}})
	as.set(tokAudBad, map[string]any{"sub": "user-1", "exp": exp, "aud": "https://other.example"})
	b := &binds{byID: map[string]*snapshot.Consumer{
		"idp|sub|user-1":       shop,
		"idp|client_id|svc-42": shop,
	}}
	b.setEndpoints(as.endpoint(t, "idp", nil))
	return as, b
}

func TestVerify(t *testing.T) {
	type want struct {
		code       string // "" = allowed
		status     int
		cred       string
		scopes     string
		possession bool
		detail     string // substring of the caller's detail
		debug      string // substring of the operator's Debug
	}
	cases := []struct {
		desc  string
		token string
		setup func(t *testing.T, as *authServer, b *binds)
		want  want
	}{
		{desc: "active, bound by sub", token: tokUser, want: want{status: 200, cred: "idp:user-1", scopes: "read write"}},
		{desc: "active client-credentials token, bound by client_id", token: tokClient, want: want{status: 200, cred: "idp:svc-42", scopes: "batch"}},
		{desc: "inactive", token: tokUnknown, want: want{code: CodeInactive, status: 401, detail: "not active"}},
		{desc: "active but bound to no application", token: tokOther, want: want{code: CodeUnmapped, status: 403, cred: "idp:user-2", possession: true,
			detail: `no application is bound to issuer 'idp' with sub "user-2"`}},
		{desc: "active without any binding member", token: tokNoBind, want: want{code: CodeUnmapped, status: 403, possession: true,
			detail: "none of the members (sub, client_id)"}},
		{desc: "audience configured and matched in an array (no scope member: the binding's grant)", token: tokAudOK,
			want: want{status: 200, cred: "idp:user-1", scopes: "read write batch a b c"},
			setup: func(t *testing.T, as *authServer, b *binds) {
				b.setEndpoints(as.endpoint(t, "idp", func(e *Endpoint) { e.Audiences = []string{"https://api.example"} }))
			}},
		{desc: "audience mismatch", token: tokAudBad, want: want{code: CodeInactive, status: 401, cred: "idp:user-1", possession: true,
			detail: `issued for aud "https://other.example"; this API accepts "https://api.example"`},
			setup: func(t *testing.T, as *authServer, b *binds) {
				b.setEndpoints(as.endpoint(t, "idp", func(e *Endpoint) { e.Audiences = []string{"https://api.example"} }))
			}},
		{desc: "no endpoint configured", token: tokUser, want: want{code: CodeUnrecognized, status: 401, detail: "neither a Gatehouse key"},
			setup: func(t *testing.T, _ *authServer, b *binds) { b.setEndpoints() }},
		{desc: "token too long to send", token: strings.Repeat("a", DefaultMaxTokenBytes+1), want: want{code: CodeUnrecognized, status: 401, detail: "at most 4096"}},
		{desc: "endpoint answers 500", token: tokUser, want: want{code: reason.AuthBackendUnavailable, status: 503, debug: "HTTP 500"},
			setup: func(t *testing.T, as *authServer, _ *binds) {
				as.answerRaw(func(w http.ResponseWriter) bool { http.Error(w, "boom", 500); return true })
			}},
		{desc: "gateway's client secret refused", token: tokUser, want: want{code: reason.AuthBackendUnavailable, status: 503, debug: "refused the gateway's client credentials"},
			setup: func(t *testing.T, as *authServer, b *binds) {
				b.setEndpoints(as.endpoint(t, "idp", func(e *Endpoint) { e.ClientSecret = []byte("wrong") }))
			}},
		{desc: "redirect is not followed", token: tokUser, want: want{code: reason.AuthBackendUnavailable, status: 503, debug: `redirect to "https://elsewhere.example/introspect"`},
			setup: func(t *testing.T, as *authServer, _ *binds) {
				as.answerRaw(func(w http.ResponseWriter) bool {
					w.Header().Set("Location", "https://elsewhere.example/introspect")
					w.WriteHeader(http.StatusTemporaryRedirect)
					return true
				})
			}},
		{desc: "HTML error page", token: tokUser, want: want{code: reason.AuthBackendUnavailable, status: 503, debug: `Content-Type "text/html; charset=utf-8", not application/json`},
			setup: func(t *testing.T, as *authServer, _ *binds) {
				as.answerRaw(func(w http.ResponseWriter) bool {
					w.Header().Set("Content-Type", "text/html; charset=utf-8")
					_, _ = w.Write([]byte("<html>maintenance</html>"))
					return true
				})
			}},
		{desc: "not JSON", token: tokUser, want: want{code: reason.AuthBackendUnavailable, status: 503, debug: "malformed answer: not JSON"},
			setup: func(t *testing.T, as *authServer, _ *binds) { as.answerRaw(jsonBody(`{"active":tru`)) }},
		{desc: "an array, not an object", token: tokUser, want: want{code: reason.AuthBackendUnavailable, status: 503, debug: "not a JSON object"},
			setup: func(t *testing.T, as *authServer, _ *binds) { as.answerRaw(jsonBody(`[{"active":true}]`)) }},
		{desc: "no active member", token: tokUser, want: want{code: reason.AuthBackendUnavailable, status: 503, debug: `no "active" member`},
			setup: func(t *testing.T, as *authServer, _ *binds) { as.answerRaw(jsonBody(`{"sub":"user-1"}`)) }},
		{desc: "active as a string", token: tokUser, want: want{code: reason.AuthBackendUnavailable, status: 503, debug: `"active" is a string, not a boolean`},
			setup: func(t *testing.T, as *authServer, _ *binds) {
				as.answerRaw(jsonBody(`{"active":"true","sub":"user-1"}`))
			}},
		{desc: "exp as a string", token: tokUser, want: want{code: reason.AuthBackendUnavailable, status: 503, debug: `"exp" is a string, not a NumericDate`},
			setup: func(t *testing.T, as *authServer, _ *binds) {
				as.answerRaw(jsonBody(`{"active":true,"sub":"user-1","exp":"1772370000"}`))
			}},
		{desc: "scope as a number", token: tokUser, want: want{code: reason.AuthBackendUnavailable, status: 503, debug: `"scope" is a number`},
			setup: func(t *testing.T, as *authServer, _ *binds) {
				as.answerRaw(jsonBody(`{"active":true,"sub":"user-1","scope":7}`))
			}},
		{desc: "sub as a number", token: tokUser, want: want{code: reason.AuthBackendUnavailable, status: 503, debug: `"sub" is a number, not a string`},
			setup: func(t *testing.T, as *authServer, _ *binds) { as.answerRaw(jsonBody(`{"active":true,"sub":12}`)) }},
		{desc: "scope as an array is accepted", token: tokUser, want: want{status: 200, cred: "idp:user-1", scopes: "a b c"},
			setup: func(t *testing.T, as *authServer, _ *binds) {
				as.answerRaw(jsonBody(`{"active":true,"sub":"user-1","scope":["a","b c"]}`))
			}},
		{desc: "answer too large", token: tokUser, want: want{code: reason.AuthBackendUnavailable, status: 503, debug: "larger than 65536 bytes"},
			setup: func(t *testing.T, as *authServer, _ *binds) {
				as.answerRaw(jsonBody(`{"active":true,"pad":"` + strings.Repeat("x", 70000) + `"}`))
			}},
		{desc: "endpoint down", token: tokUser, want: want{code: reason.AuthBackendUnavailable, status: 503, debug: "connection refused"},
			setup: func(t *testing.T, as *authServer, _ *binds) { as.srv.Close() }},
		{desc: "endpoint too slow", token: tokUser, want: want{code: reason.AuthBackendUnavailable, status: 503, debug: "no answer within 50ms"},
			setup: func(t *testing.T, as *authServer, b *binds) {
				as.hold(t) // released only when the test ends
				b.setEndpoints(as.endpoint(t, "idp", func(e *Endpoint) { e.Timeout = 50 * time.Millisecond }))
			}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			as, b := world(t)
			if tc.setup != nil {
				tc.setup(t, as, b)
			}
			v := newVerifier(b, Options{})
			in := input(tc.token, t0)
			id, rerr := v.Verify(in)
			w := tc.want
			if w.code == "" {
				if rerr != nil {
					t.Fatalf("rejected: %v", rerr)
				}
				if id.CredentialID != w.cred || id.Consumer != shop || id.ScopeHeader != w.scopes || id.Type != "introspection" {
					t.Fatalf("identity %+v", id)
				}
				return
			}
			if rerr == nil {
				t.Fatalf("accepted, want %s", w.code)
			}
			if rerr.Code != w.code || rerr.Entry().Status != w.status || rerr.Possession != w.possession || rerr.CredentialID != w.cred {
				t.Fatalf("got %s/%d possession=%v cred=%q, want %s/%d possession=%v cred=%q (%v)", rerr.Code, rerr.Entry().Status, rerr.Possession, rerr.CredentialID,
					w.code, w.status, w.possession, w.cred, rerr)
			}
			if _, ok := reason.Lookup(rerr.Code); !ok {
				t.Fatalf("%s not catalogued", rerr.Code)
			}
			if !strings.Contains(rerr.Detail, w.detail) || !strings.Contains(rerr.Debug, w.debug) {
				t.Fatalf("detail %q / debug %q, want %q / %q", rerr.Detail, rerr.Debug, w.detail, w.debug)
			}
			if w.status == 503 && rerr.RetryAfter == 0 {
				t.Fatal("503 without Retry-After")
			}
			noToken(t, tc.token, rerr.Error())
			for _, s := range in.Trace.Steps() {
				noToken(t, tc.token, s.Detail)
			}
		})
	}
}

func jsonBody(s string) func(w http.ResponseWriter) bool {
	return func(w http.ResponseWriter) bool {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(s))
		return true
	}
}

func noToken(t *testing.T, token, text string) {
	t.Helper()
	if len(token) >= 8 && strings.Contains(text, token[:8]) {
		t.Fatalf("the token appears in %q", text)
	}
}

// TestClientSecretBasic: RFC 6749 §2.3.1 form-urlencodes the client id
// and secret before joining and base64-encoding them; a ':' in the id
// or a '/', '+' or 'é' in the secret would otherwise be misread.
func TestClientSecretBasic(t *testing.T) {
	as, b := world(t)
	v := newVerifier(b, Options{})
	if _, rerr := v.Verify(input(tokUser, t0)); rerr != nil {
		t.Fatal(rerr)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("gatehouse+gw%3A1:s3cr%3Aet%2F%2B%C3%A9"))
	if as.lastAuth != want {
		t.Fatalf("Authorization %q, want %q", as.lastAuth, want)
	}
	// Without the encoding, the server's split at the first ':' would
	// take "gatehouse gw" as the id: the server above would refuse it.
	naive := "Basic " + base64.StdEncoding.EncodeToString([]byte(clientID+":"+clientSecret))
	req, _ := http.NewRequest(http.MethodPost, as.srv.URL, strings.NewReader("token=x&token_type_hint=access_token"))
	req.Header.Set("Authorization", naive)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the unencoded form was accepted (%d): the test server does not check the encoding", resp.StatusCode)
	}
}

func TestCache(t *testing.T) {
	cases := []struct {
		desc  string
		token string
		at    time.Duration // second request, after the first at t0
		o     Options
		setup func(t *testing.T, as *authServer, b *binds)
		// between the two requests
		change func(as *authServer, b *binds)
		calls  int32
		code   string
	}{
		{desc: "active answer reused", token: tokUser, at: 4 * time.Minute, calls: 1},
		{desc: "active answer expires after the positive TTL", token: tokUser, at: 5 * time.Minute, calls: 2},
		{desc: "active answer never outlives exp", token: tokUser, at: 90 * time.Second, calls: 2, code: CodeInactive,
			setup: func(t *testing.T, as *authServer, _ *binds) {
				as.set(tokUser, map[string]any{"sub": "user-1", "exp": t0.Add(time.Minute).Unix()})
			},
			change: func(as *authServer, _ *binds) { as.remove(tokUser) }},
		{desc: "revocation is seen after the positive TTL", token: tokUser, at: 5 * time.Minute, calls: 2, code: CodeInactive,
			change: func(as *authServer, _ *binds) { as.remove(tokUser) }},
		{desc: "revocation within the TTL is not seen (the trade-off)", token: tokUser, at: time.Minute, calls: 1,
			change: func(as *authServer, _ *binds) { as.remove(tokUser) }},
		{desc: "custom positive TTL", token: tokUser, at: 30 * time.Second, calls: 2,
			setup: func(t *testing.T, as *authServer, b *binds) {
				b.setEndpoints(as.endpoint(t, "idp", func(e *Endpoint) { e.PositiveTTL = 30 * time.Second }))
			}},
		{desc: "inactive answer reused briefly", token: tokUnknown, at: 9 * time.Second, calls: 1, code: CodeInactive},
		{desc: "inactive answer expires after the negative TTL", token: tokUnknown, at: 10 * time.Second, calls: 2, code: CodeInactive},
		{desc: "a token issued after an inactive answer works after the negative TTL", token: tokUnknown, at: 10 * time.Second, calls: 2,
			change: func(as *authServer, _ *binds) { as.set(tokUnknown, map[string]any{"sub": "user-1"}) }},
		{desc: "failures are not cached", token: tokUser, at: time.Second, calls: 2, code: reason.AuthBackendUnavailable,
			setup: func(t *testing.T, as *authServer, _ *binds) {
				as.answerRaw(func(w http.ResponseWriter) bool { w.WriteHeader(502); return true })
			}},
		{desc: "endpoint reconfigured: asked again", token: tokUser, at: time.Second, calls: 2,
			change: func(as *authServer, b *binds) { b.setEndpoints(as.endpoint(t, "idp", nil)) }},
		{desc: "binding removed: unmapped from the cached answer", token: tokUser, at: time.Second, calls: 1, code: CodeUnmapped,
			change: func(_ *authServer, b *binds) { delete(b.byID, "idp|sub|user-1") }},
		{desc: "cache off", token: tokUser, at: time.Second, calls: 2, o: Options{CacheSize: -1}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			as, b := world(t)
			if tc.setup != nil {
				tc.setup(t, as, b)
			}
			v := newVerifier(b, tc.o)
			_, _ = v.Verify(input(tc.token, t0))
			if tc.change != nil {
				tc.change(as, b)
			}
			in := input(tc.token, t0.Add(tc.at))
			_, rerr := v.Verify(in)
			got := ""
			if rerr != nil {
				got = rerr.Code
			}
			if got != tc.code {
				t.Fatalf("second request: %v, want %q", rerr, tc.code)
			}
			if n := as.calls.Load(); n != tc.calls {
				t.Fatalf("%d introspection calls, want %d", n, tc.calls)
			}
		})
	}
}

func TestCacheBounded(t *testing.T) {
	as, b := world(t)
	v := newVerifier(b, Options{CacheSize: 64})
	for i := range 300 {
		_, _ = v.Verify(input("garbage-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('A'+i/26)), t0))
	}
	if n := v.cache.Len(); n > 64 || n == 0 {
		t.Fatalf("cache holds %d answers, want 1..64", n)
	}
	if as.calls.Load() < 200 {
		t.Fatalf("only %d calls for distinct tokens", as.calls.Load())
	}
}

// TestCoalescing: a burst of requests with the same new token makes one
// introspection call; the others wait for its answer.
func TestCoalescing(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		token string
		code  string
	}{
		{"active token", tokUser, ""},
		{"inactive token", tokUnknown, CodeInactive},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			const n = 16
			as, b := world(t)
			release := as.hold(t)
			v := newVerifier(b, Options{CacheSize: -1}) // no cache: only coalescing can share
			key := sum(tc.token)
			var wg sync.WaitGroup
			codes := make(chan string, n)
			for range n {
				wg.Go(func() {
					_, rerr := v.Verify(input(tc.token, t0))
					if rerr != nil {
						codes <- rerr.Code
					} else {
						codes <- ""
					}
				})
			}
			// Bounded: on a starved machine the held call could time out
			// before every caller joined; then say so instead of hanging.
			deadline := time.Now().Add(20 * time.Second)
			for v.group.Joined(key) < n-1 {
				if time.Now().After(deadline) {
					release()
					t.Fatalf("only %d of %d callers joined the flight within 20s", v.group.Joined(key), n-1)
				}
				runtime.Gosched()
			}
			release()
			wg.Wait()
			close(codes)
			for c := range codes {
				if c != tc.code {
					t.Fatalf("got %q, want %q", c, tc.code)
				}
			}
			if got := as.calls.Load(); got != 1 {
				t.Fatalf("%d introspection calls for a burst of %d, want 1", got, n)
			}
		})
	}
}

// TestSeveralEndpoints: endpoints are asked in order until one says
// active; inactive needs every endpoint's word.
func TestSeveralEndpoints(t *testing.T) {
	cases := []struct {
		desc        string
		firstDown   bool
		firstKnows  bool
		secondKnows bool
		code        string
		cred        string
		calls       [2]int32
	}{
		{desc: "the first knows the token: the second is not asked", firstKnows: true, cred: "first:user-1", calls: [2]int32{1, 0}},
		{desc: "the second knows it", secondKnows: true, cred: "second:user-1", calls: [2]int32{1, 1}},
		{desc: "neither knows it", code: CodeInactive, calls: [2]int32{1, 1}},
		{desc: "the first is down, the second knows it", firstDown: true, secondKnows: true, cred: "second:user-1", calls: [2]int32{0, 1}},
		{desc: "the first is down, the second does not know it: cannot say inactive", firstDown: true, code: reason.AuthBackendUnavailable, calls: [2]int32{0, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			first, second := newAuthServer(t), newAuthServer(t)
			if tc.firstKnows {
				first.set("tok-shared", map[string]any{"sub": "user-1"})
			}
			if tc.secondKnows {
				second.set("tok-shared", map[string]any{"sub": "user-1"})
			}
			b := &binds{byID: map[string]*snapshot.Consumer{"first|sub|user-1": shop, "second|sub|user-1": shop}}
			b.setEndpoints(first.endpoint(t, "first", nil), second.endpoint(t, "second", nil))
			if tc.firstDown {
				first.srv.Close()
			}
			v := newVerifier(b, Options{})
			id, rerr := v.Verify(input("tok-shared", t0))
			switch {
			case tc.code == "" && rerr != nil:
				t.Fatal(rerr)
			case tc.code != "" && (rerr == nil || rerr.Code != tc.code):
				t.Fatalf("%v, want %s", rerr, tc.code)
			case tc.code == "" && id.CredentialID != tc.cred:
				t.Fatalf("credential %q, want %q", id.CredentialID, tc.cred)
			}
			if got := [2]int32{first.calls.Load(), second.calls.Load()}; got != tc.calls {
				t.Fatalf("calls %v, want %v", got, tc.calls)
			}
		})
	}
}

func TestNewEndpoint(t *testing.T) {
	ok := Endpoint{Name: "idp", URL: "https://idp.example/introspect", ClientID: "gw", ClientSecret: []byte("s")}
	cases := []struct {
		desc   string
		adjust func(*Endpoint)
		err    string
	}{
		{desc: "valid", adjust: func(*Endpoint) {}},
		{desc: "no name", adjust: func(e *Endpoint) { e.Name = "" }, err: "no issuer name"},
		{desc: "no URL", adjust: func(e *Endpoint) { e.URL = "" }, err: "no introspection URL"},
		{desc: "relative URL", adjust: func(e *Endpoint) { e.URL = "/introspect" }, err: "not an absolute http(s) URL"},
		{desc: "credentials in the URL", adjust: func(e *Endpoint) { e.URL = "https://gw:s@idp.example/i" }, err: "credentials in the introspection URL"},
		{desc: "no client secret", adjust: func(e *Endpoint) { e.ClientSecret = nil }, err: "client id and a client secret"},
		{desc: "binding on active", adjust: func(e *Endpoint) { e.BindingClaims = []string{"active"} }, err: `binding claim "active"`},
		{desc: "negative TTL", adjust: func(e *Endpoint) { e.NegativeTTL = -1 }, err: "negative"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			cfg := ok
			tc.adjust(&cfg)
			ep, err := NewEndpoint(cfg)
			if tc.err == "" {
				if err != nil || ep.PositiveTTL != DefaultPositiveTTL || ep.NegativeTTL != DefaultNegativeTTL || ep.Timeout != DefaultTimeout ||
					strings.Join(ep.BindingClaims, ",") != "sub,client_id" {
					t.Fatalf("%v %+v", err, ep)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
		})
	}
	ep, _ := NewEndpoint(Endpoint{Name: "idp", URL: "https://idp.example/i", ClientID: "gw", ClientSecret: []byte("topsecret")})
	for _, s := range []string{ep.String(), ep.GoString()} {
		if strings.Contains(s, "topsecret") {
			t.Fatalf("%q shows the secret", s)
		}
	}
}

func TestRecognizes(t *testing.T) {
	v := New(Options{})
	for _, tc := range []struct {
		desc string
		p    authheader.Credential
		want bool
	}{
		{"opaque bearer", authheader.Credential{Kind: authheader.Bearer, Token: tokUser}, true},
		{"Gatehouse key", authheader.Credential{Kind: authheader.Bearer, Token: "gk_live_abc"}, false},
		{"JWT", authheader.Credential{Kind: authheader.Bearer, Token: "eyJhbGciOiJSUzI1NiJ9.e30.sig"}, false},
		{"basic", authheader.Credential{Kind: authheader.Basic, Token: "dTpw"}, false},
		{"X-API-Key", authheader.Credential{Kind: authheader.APIKeyScheme, Token: "opaque"}, false},
	} {
		if got := v.Recognizes(tc.p); got != tc.want {
			t.Errorf("%s: %v", tc.desc, got)
		}
	}
}

// TestFailureLogThrottled: an outage fails every request (failures are
// not cached) but is logged once per endpoint and logEvery, never with
// the token.
func TestFailureLogThrottled(t *testing.T) {
	as, b := world(t)
	as.srv.Close()
	var buf strings.Builder
	v := New(Options{Bindings: func(*credential.Input) Bindings { return b }, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	for range 5 {
		if _, rerr := v.Verify(input(tokUser, t0)); rerr == nil || rerr.Code != reason.AuthBackendUnavailable {
			t.Fatalf("%v", rerr)
		}
	}
	if n := strings.Count(buf.String(), "introspection failed"); n != 1 {
		t.Fatalf("%d log lines, want 1:\n%s", n, buf.String())
	}
	if strings.Contains(buf.String(), tokUser) || strings.Contains(buf.String(), clientSecret) {
		t.Fatalf("log leaks a secret: %s", buf.String())
	}
}
