package jwt

import (
	"context"
	"crypto/elliptic"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/authheader"
	"gatehouse/internal/credential/jwt/jose"
	"gatehouse/internal/domain"
	"gatehouse/internal/reason"
)

// RFC 7515 Appendix A tokens (auth-vectors.md §A.3). RFC 8037 A.4 and RFC
// 7520 4.4 sign payloads that are not claim sets; they are verified at the
// JWS level in jose/vectors_test.go.
const (
	rfcPayload = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
	rfcA1      = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." + rfcPayload + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfcA1Key   = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
	rfcA2      = "eyJhbGciOiJSUzI1NiJ9." + rfcPayload + ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
	rfcA2JWK   = `{"kty":"RSA","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"}`
	rfcA3      = "eyJhbGciOiJFUzI1NiJ9." + rfcPayload + ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
	rfcA3JWK   = `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`
)

func jwkKey(t testing.TB, s string) *testKey {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return &testKey{jwk: m}
}

// The RFC 7515 A.1–A.3 tokens, verified end to end: key set from a real
// server, HS256 secret from the RFC, the clock pinned before their 2011
// exp. At today's date they are expired — and a forged one is reported as
// a bad signature, not as expired.
func TestOfficialVectorsThroughVerifier(t *testing.T) {
	e := newEnv(t, Options{CacheSize: -1}, jwkKey(t, rfcA2JWK), jwkKey(t, rfcA3JWK))
	secret, _ := b64.DecodeString(rfcA1Key)
	e.issuer(Issuer{Name: "rfc7515", Issuer: "joe", AnyAudience: true, HS256Secret: secret,
		Algorithms: []string{"HS256", "RS256", "ES256"}, BindingClaims: []string{"iss"}}, true)
	e.b.bind("rfc7515", "iss", "joe")
	before := time.Date(2011, 3, 22, 18, 0, 0, 0, time.UTC) // exp is 2011-03-22T18:43:00Z
	cases := []struct{ desc, tok, alg string }{
		{"RFC 7515 A.1 HS256", rfcA1, "HS256"},
		{"RFC 7515 A.2 RS256", rfcA2, "RS256"},
		{"RFC 7515 A.3 ES256", rfcA3, "ES256"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			e.clk.Set(before)
			id, r, tr := e.verify(c.tok)
			if r != nil {
				t.Fatalf("rejected: %v\n%s", r, steps(tr))
			}
			if id.CredentialID != "rfc7515:joe" || id.ExpiresAt == nil || id.ExpiresAt.Unix() != 1300819380 {
				t.Fatalf("identity %+v", id)
			}
			if !strings.Contains(steps(tr), c.alg+" signature valid") {
				t.Errorf("trace does not say the %s signature was verified:\n%s", c.alg, steps(tr))
			}
			e.clk.Set(t0)
			_, r, _ = e.verify(c.tok)
			if code(r) != jose.CodeExpired || !r.Possession {
				t.Fatalf("at %s: %v, want %s after proof of possession", t0, r, jose.CodeExpired)
			}
			for _, want := range []string{"exp 2011-03-22T18:43:00Z", "gateway clock 2026-03-01T12:00:00Z", "5457 days", "leeway 60 s"} {
				if !strings.Contains(r.Detail, want) {
					t.Errorf("expired detail %q lacks %q", r.Detail, want)
				}
			}
			_, r, _ = e.verify(flip(t, c.tok))
			if code(r) != jose.CodeSignatureInvalid || r.Possession {
				t.Fatalf("forged expired token: %v, want %s (a claim error must not mask it)", r, jose.CodeSignatureInvalid)
			}
		})
	}
}

// Issuer key rotation: the JWKS gains a new key, tokens signed with it
// pass after one refetch; the old key is removed, its tokens get
// jwt.unknown_kid. Concurrent requests during each phase never see a 5xx
// or any other code.
func TestKeyRotation(t *testing.T) {
	ka, kb := newEC(t, "key-a", elliptic.P256()), newEC(t, "key-b", elliptic.P256())
	e := newEnv(t, Options{CacheSize: -1}, ka)
	iss := e.issuer(Issuer{Name: "idp", Issuer: issIdp, Audiences: []string{"api"}}, true)
	e.b.bind("idp", "sub", "alice")
	ks := e.ring.For(iss)
	tokA := mint(t, hdr("ES256", "key-a"), claims(issIdp, nil), "ES256", ka.priv)
	tokB := mint(t, hdr("ES256", "key-b"), claims(issIdp, nil), "ES256", kb.priv)
	if n := e.jwks.hits.Load(); n != 1 {
		t.Fatalf("%d fetches after setup, want 1", n)
	}

	// burst verifies toks from 8 goroutines; allowed maps a token to the
	// codes it may get ("" is success).
	burst := func(phase string, allowed map[string][]string) {
		t.Helper()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var bad []string
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					tok := tokA
					if (w+i)%2 == 1 {
						tok = tokB
					}
					_, r, _ := e.verify(tok)
					if !contains(allowed[tok], code(r)) || r != nil && r.View(false).Status >= 500 {
						mu.Lock()
						bad = append(bad, fmt.Sprintf("%s: %v", phase, r))
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		if len(bad) > 0 {
			t.Fatalf("%d unexpected outcomes, first: %s", len(bad), bad[0])
		}
	}

	burst("before rotation", map[string][]string{tokA: {""}, tokB: {jose.CodeUnknownKid}})
	if n := e.jwks.hits.Load(); n != 1 {
		t.Fatalf("unknown kid refetched %d times within RefetchInterval", n-1)
	}
	// The issuer publishes key B next to A; a token signed with B arrives
	// after the refetch interval: one refetch, shared by all requests.
	e.jwks.set(ka, kb)
	e.clk.Advance(DefaultRefetchInterval)
	burst("new key published", map[string][]string{tokA: {""}, tokB: {""}})
	if n := e.jwks.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want exactly one refetch (2)", n)
	}
	// The issuer removes A. Until the next refresh the cached set still
	// has it; a refresh during the burst may land at any moment.
	e.jwks.set(kb)
	e.clk.Advance(DefaultRefreshInterval)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := ks.Refresh(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	burst("old key being removed", map[string][]string{tokA: {"", jose.CodeUnknownKid}, tokB: {""}})
	wg.Wait()
	burst("old key removed", map[string][]string{tokA: {jose.CodeUnknownKid}, tokB: {""}})
	if st := ks.Status(); st.Generation != 3 || st.Kids != `"key-b"` {
		t.Errorf("status after rotation: %+v", st)
	}
}

// Unknown kids refetch at most once per RefetchInterval, however many
// arrive, and a fetch in flight is shared.
func TestUnknownKidRefetchLimit(t *testing.T) {
	k := newEC(t, "k", elliptic.P256())
	e := newEnv(t, Options{CacheSize: -1}, k)
	e.issuer(Issuer{Name: "idp", Issuer: issIdp, Audiences: []string{"api"}, RefetchInterval: time.Minute}, true)
	flood := func() {
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, r, tr := e.verify(mint(t, hdr("ES256", fmt.Sprintf("random-%d", i)), claims(issIdp, nil), "ES256", k.priv))
				if code(r) != jose.CodeUnknownKid {
					t.Errorf("random kid: %v", r)
				}
				for _, s := range tr.Steps() {
					if s.Private && s.Check == ckKey && !strings.Contains(s.Detail, `known kids: "k"`) {
						t.Errorf("operator step lacks the known kids: %s", s.Detail)
					}
				}
			}()
		}
		wg.Wait()
	}
	flood()
	if n := e.jwks.hits.Load(); n != 1 {
		t.Fatalf("%d fetches within the interval, want 1 (the first)", n)
	}
	e.clk.Advance(59 * time.Second)
	flood()
	if n := e.jwks.hits.Load(); n != 1 {
		t.Fatalf("%d fetches 59 s later, want 1", n)
	}
	e.clk.Advance(time.Second)
	flood()
	if n := e.jwks.hits.Load(); n != 2 {
		t.Fatalf("%d fetches after the interval, want 2", n)
	}
}

// The JWKS endpoint goes down after the first fetch: tokens keep
// verifying with the last good key set; the operator sees it is stale; a
// token of a key not in that set is the gateway's 503, not a bad token.
func TestServeStale(t *testing.T) {
	k := newEC(t, "k", elliptic.P256())
	e := newEnv(t, Options{CacheSize: -1}, k)
	iss := e.issuer(Issuer{Name: "idp", Issuer: issIdp, Audiences: []string{"api"}}, true)
	e.b.bind("idp", "sub", "alice")
	ks := e.ring.For(iss)
	tok := mint(t, hdr("ES256", "k"), claims(issIdp, map[string]any{"exp": t0.Add(48 * time.Hour).Unix()}), "ES256", k.priv)
	rotated := newEC(t, "k-new", elliptic.P256())
	tokNew := mint(t, hdr("ES256", "k-new"), claims(issIdp, map[string]any{"exp": t0.Add(48 * time.Hour).Unix()}), "ES256", rotated.priv)
	for _, down := range []struct {
		desc    string
		breakIt func()
	}{
		{"endpoint answers 503", func() { e.jwks.fail(http.StatusServiceUnavailable) }},
		{"endpoint answers garbage", func() { e.jwks.fail(0); e.jwks.set() }}, // a set with no keys
		{"endpoint gone", func() { e.jwks.srv.Close() }},
	} {
		t.Run(down.desc, func(t *testing.T) {
			down.breakIt()
			e.clk.Advance(DefaultRefreshInterval)
			if err := ks.Refresh(context.Background()); err == nil {
				t.Fatal("refresh succeeded against a broken endpoint")
			}
			_, r, tr := e.verify(tok)
			if r != nil {
				t.Fatalf("stale keys not served: %v\n%s", r, steps(tr))
			}
			if !strings.Contains(steps(tr), "(stale): refreshing it fails since") {
				t.Errorf("operator trace does not say the keys are stale:\n%s", steps(tr))
			}
			if st := ks.Status(); st.LastError == "" || st.Generation != 1 || !st.FetchedAt.Equal(t0) {
				t.Errorf("status %+v", st)
			}
			// A key the issuer rotated in meanwhile cannot be fetched: the
			// gateway's fault (503), not the caller's jwt.unknown_kid —
			// within the refetch interval and after a refetch that fails.
			for _, when := range []string{"within the refetch interval", "after a refetch"} {
				if when == "after a refetch" {
					e.clk.Advance(DefaultRefetchInterval)
				}
				_, r, tr := e.verify(tokNew)
				if code(r) != reason.AuthBackendUnavailable || r.RetryAfter < 1 || r.Err == nil || r.Possession {
					t.Errorf("a new kid %s while the keys cannot be fetched: %v, want %s with Retry-After\n%s", when, r, reason.AuthBackendUnavailable, steps(tr))
				}
				if when == "after a refetch" && !strings.Contains(steps(tr), "refetching the key set failed") {
					t.Errorf("the trace does not say the refetch failed:\n%s", steps(tr))
				}
			}
		})
	}
}

// No key set was ever fetched: auth.backend_unavailable (503, the
// gateway's problem), with Retry-After; once the endpoint recovers and the
// refetch interval has passed, tokens verify.
func TestNeverFetched(t *testing.T) {
	k := newEC(t, "k", elliptic.P256())
	e := newEnv(t, Options{CacheSize: -1}, k)
	e.jwks.fail(http.StatusInternalServerError)
	iss, err := NewIssuer(Issuer{Name: "idp", Issuer: issIdp, Audiences: []string{"api"}, JWKSURL: e.jwks.srv.URL + "/jwks"})
	if err != nil {
		t.Fatal(err)
	}
	e.b.add(iss)
	e.b.bind("idp", "sub", "alice")
	ks := e.ring.For(iss)
	if err := ks.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "status 500") {
		t.Fatalf("first fetch: %v", err)
	}
	hits := e.jwks.hits.Load()
	tok := mint(t, hdr("ES256", "k"), claims(issIdp, nil), "ES256", k.priv)
	for range 3 {
		_, r, tr := e.verify(tok)
		if code(r) != reason.AuthBackendUnavailable || r.Possession {
			t.Fatalf("got %v, want %s\n%s", r, reason.AuthBackendUnavailable, steps(tr))
		}
		if v := r.View(false); v.Status != 503 {
			t.Errorf("status %d", v.Status)
		}
		if r.RetryAfter < 1 || r.RetryAfter > 30 || r.Err == nil || !strings.Contains(r.Debug, "status 500") {
			t.Errorf("retry-after %d, err %v, debug %q", r.RetryAfter, r.Err, r.Debug)
		}
	}
	if n := e.jwks.hits.Load(); n != hits {
		t.Errorf("requests within the refetch interval fetched %d times", n-hits)
	}
	e.jwks.fail(0)
	e.clk.Advance(DefaultRefetchInterval)
	if _, r, tr := e.verify(tok); r != nil {
		t.Fatalf("after recovery: %v\n%s", r, steps(tr))
	}
}

// A first fetch still running when the request's wait ends is also 503.
func TestFirstFetchSlow(t *testing.T) {
	k := newEC(t, "k", elliptic.P256())
	e := newEnv(t, Options{CacheSize: -1, FetchWait: 20 * time.Millisecond}, k)
	release := make(chan struct{})
	e.jwks.mu.Lock()
	e.jwks.block = release
	e.jwks.mu.Unlock()
	iss, _ := NewIssuer(Issuer{Name: "idp", Issuer: issIdp, Audiences: []string{"api"}, JWKSURL: e.jwks.srv.URL + "/jwks"})
	e.b.add(iss)
	e.b.bind("idp", "sub", "alice")
	tok := mint(t, hdr("ES256", "k"), claims(issIdp, nil), "ES256", k.priv)
	_, r, _ := e.verify(tok)
	if code(r) != reason.AuthBackendUnavailable || !strings.Contains(r.Debug, "still running") {
		t.Fatalf("got %v (debug %q)", r, r.Debug)
	}
	close(release)
	if err := e.ring.For(iss).Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, r, _ := e.verify(tok); r != nil {
		t.Fatal(r)
	}
}

// OIDC discovery: jwks_uri from /.well-known/openid-configuration, and the
// document's issuer must be the configured one.
func TestDiscovery(t *testing.T) {
	k := newEd(t, "ed")
	cases := []struct {
		desc, docIssuer, url string
		want                 string
	}{
		{desc: "base URL", docIssuer: issIdp, url: ""},
		{desc: "full well-known URL", docIssuer: issIdp, url: "/.well-known/openid-configuration"},
		{desc: "issuer mismatch (mix-up defence)", docIssuer: "https://other.example", want: reason.AuthBackendUnavailable},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			e := newEnv(t, Options{CacheSize: -1}, k)
			e.jwks.issuer = c.docIssuer
			iss, err := NewIssuer(Issuer{Name: "idp", Issuer: issIdp, Audiences: []string{"api"}, DiscoveryURL: e.jwks.srv.URL + c.url})
			if err != nil {
				t.Fatal(err)
			}
			e.b.add(iss)
			e.b.bind("idp", "sub", "alice")
			ferr := e.ring.For(iss).Refresh(context.Background())
			_, r, _ := e.verify(mint(t, hdr("EdDSA", "ed"), claims(issIdp, nil), "EdDSA", k.priv))
			if code(r) != c.want {
				t.Fatalf("got %v, want %q (fetch: %v)", r, c.want, ferr)
			}
			if c.want != "" && !strings.Contains(r.Debug, "not the configured") {
				t.Errorf("debug %q", r.Debug)
			}
			if e.jwks.disc.Load() == 0 {
				t.Error("discovery document not read")
			}
		})
	}
}

// The background loop fetches without any request, and stops on Close.
func TestKeyringStart(t *testing.T) {
	k := newEC(t, "k", elliptic.P256())
	e := newEnv(t, Options{}, k)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.ring.Start(ctx)
	iss, _ := NewIssuer(Issuer{Name: "idp", Issuer: issIdp, Audiences: []string{"api"}, JWKSURL: e.jwks.srv.URL + "/jwks"})
	ks := e.ring.For(iss)
	select {
	case <-e.jwks.seen:
	case <-time.After(5 * time.Second):
		t.Fatal("background loop did not fetch")
	}
	if err := ks.Refresh(ctx); err != nil || ks.current() == nil {
		t.Fatalf("after the background fetch: %v", err)
	}
	e.ring.Sync(nil)
	if ks2 := e.ring.For(iss); ks2 == ks {
		t.Error("Sync(nil) kept a key set")
	}
}

// The verified-token cache: a repeated token skips the signature; the
// cache never outlives exp, an issuer reconfiguration, a key set change or
// a binding.
func TestTokenCache(t *testing.T) {
	k := newEC(t, "k", elliptic.P256())
	e := newEnv(t, Options{}, k)
	iss := e.issuer(Issuer{Name: "idp", Issuer: issIdp, Audiences: []string{"api"}}, true)
	e.b.bind("idp", "sub", "alice")
	tok := mint(t, hdr("ES256", "k"), claims(issIdp, map[string]any{"scope": "orders:read orders:write"}), "ES256", k.priv)

	check := func(desc, want string, cached bool) {
		t.Helper()
		id, r, tr := e.verify(tok)
		if code(r) != want {
			t.Fatalf("%s: %v, want %q\n%s", desc, r, want, steps(tr))
		}
		s := steps(tr)
		if got := strings.Contains(s, ckCache+" pass"); got != cached {
			t.Fatalf("%s: cache hit %v, want %v\n%s", desc, got, cached, s)
		}
		if want == "" && (strings.Join(id.Scopes, ",") != "orders:read,orders:write" || id.ScopeHeader != "orders:read orders:write" ||
			id.CredentialID != "idp:alice" || id.Type != domain.AuthJWT) {
			t.Fatalf("%s: identity %+v", desc, id)
		}
	}
	check("first", "", false)
	check("repeat", "", true)
	e.b.mu.Lock()
	delete(e.b.bound, [3]string{"idp", "sub", "alice"})
	e.b.mu.Unlock()
	check("binding removed", IdentityUnmapped, true)
	e.b.bind("idp", "sub", "alice")
	// Reconfigured issuer (another audience): verified afresh.
	iss2, _ := NewIssuer(Issuer{Name: "idp", Issuer: issIdp, Audiences: []string{"other"}, JWKSURL: iss.JWKSURL})
	e.b.add(iss2)
	check("issuer reconfigured", jose.CodeAudienceMismatch, false)
	e.b.add(iss)
	check("back", "", false)
	check("back, cached", "", true)
	// A refresh falls due while only cached tokens arrive: a hit starts it.
	select {
	case <-e.jwks.seen:
	default:
	}
	e.clk.Advance(DefaultRefreshInterval)
	check("refresh due, cached", "", true)
	select {
	case <-e.jwks.seen:
	case <-time.After(5 * time.Second):
		t.Fatal("a cache hit with a refresh due did not refresh the key set")
	}
	if err := e.ring.For(iss).Refresh(context.Background()); err != nil { // let it finish
		t.Fatal(err)
	}
	e.clk.Set(t0)
	// Expiry: exp is t0+1h, leeway 60 s.
	e.clk.Set(t0.Add(time.Hour + 59*time.Second))
	check("within leeway", "", true)
	e.clk.Set(t0.Add(time.Hour + 60*time.Second))
	check("past exp + leeway", jose.CodeExpired, false)
	e.clk.Set(t0)
	check("again", "", false)
	// Key removed at the issuer: the next refresh invalidates the entry.
	e.jwks.set(newEC(t, "other", elliptic.P256()))
	// Twice: the first Refresh may join a fetch a cache hit above started
	// in the background before the key set changed (it then returns the
	// old set); the second starts after it, so it sees the new one.
	for range 2 {
		if err := e.ring.For(iss).Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	check("key removed", jose.CodeUnknownKid, false)
}

func TestCacheBounded(t *testing.T) {
	c := newTokenCache(64)
	for i := range 1000 {
		c.put(hashToken(fmt.Sprint(i)), &verified{credID: fmt.Sprint(i)})
		if i%10 == 0 {
			c.get(hashToken("0")) // keep 0 recent
		}
	}
	if n := c.len(); n > 64 {
		t.Fatalf("%d entries, bound 64", n)
	}
	if c.get(hashToken("0")) == nil || c.get(hashToken("999")) == nil {
		t.Error("recent entries evicted")
	}
	if c.get(hashToken("1")) != nil {
		t.Error("least recent entry kept")
	}
	c.remove(hashToken("999"))
	if c.get(hashToken("999")) != nil {
		t.Error("removed entry still there")
	}
}

func TestUnmappedAndScopes(t *testing.T) {
	k := newEC(t, "k", elliptic.P256())
	e := newEnv(t, Options{}, k)
	e.issuer(Issuer{Name: "idp", Issuer: issIdp, Audiences: []string{"api"}}, true)
	e.b.bind("idp", "client_id", "svc-42")
	cases := []struct {
		desc, claims string
		want         string
		detail       string
		scopes       string
		credID       string
	}{
		{desc: "sub unbound, client_id bound", claims: claims(issIdp, map[string]any{"client_id": "svc-42", "scp": []string{"a", "b"}}), scopes: "a,b", credID: "idp:alice"},
		{desc: "azp only", claims: claims(issIdp, map[string]any{"sub": nil, "azp": "svc-42"}), want: IdentityUnmapped, detail: `azp "svc-42"`, credID: "idp:svc-42"},
		{desc: "no binding claim at all", claims: claims(issIdp, map[string]any{"sub": nil}), want: IdentityUnmapped, detail: "none of the claims (sub, client_id, azp)"},
		{desc: "sub unbound", claims: claims(issIdp, nil), want: IdentityUnmapped, detail: `sub "alice"`, credID: "idp:alice"},
		{desc: "scope of the wrong type", claims: claims(issIdp, map[string]any{"scope": []string{"a"}}), want: jose.CodeMalformed, detail: "space-separated", credID: "idp:alice"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			id, r, _ := e.verify(mint(t, hdr("ES256", "k"), c.claims, "ES256", k.priv))
			if code(r) != c.want {
				t.Fatalf("got %v, want %q", r, c.want)
			}
			if r != nil {
				if !strings.Contains(r.Detail, c.detail) || r.CredentialID != c.credID || !r.Possession {
					t.Errorf("%+v", r)
				}
				if c.want == IdentityUnmapped {
					if v := r.View(false); v.Code != IdentityUnmapped || v.Status != 403 {
						t.Errorf("caller sees %s %d", v.Code, v.Status)
					}
				}
				return
			}
			if strings.Join(id.Scopes, ",") != c.scopes || id.CredentialID != c.credID {
				t.Errorf("identity %+v", id)
			}
		})
	}
}

func TestNewIssuer(t *testing.T) {
	secret31 := []byte("0123456789abcdef0123456789abcde")
	secret32 := append(secret31, 'f')
	const u = "https://idp.example/jwks"
	cases := []struct {
		desc string
		cfg  Issuer
		want string // error substring; "" means valid
	}{
		{desc: "HS256 secret of 31 bytes refused at startup", cfg: Issuer{Name: "a", Issuer: "i", AnyAudience: true, HS256Secret: secret31}, want: "31 bytes; RFC 7518 §3.2 requires at least 32"},
		{desc: "HS256 secret of 32 bytes", cfg: Issuer{Name: "a", Issuer: "i", AnyAudience: true, HS256Secret: secret32}},
		{desc: "alg none", cfg: Issuer{Name: "a", Issuer: "i", AnyAudience: true, JWKSURL: u, Algorithms: []string{"RS256", "none"}}, want: "none can never"},
		{desc: "alg NONE", cfg: Issuer{Name: "a", Issuer: "i", AnyAudience: true, JWKSURL: u, Algorithms: []string{"NONE"}}, want: "none can never"},
		{desc: "unsupported alg", cfg: Issuer{Name: "a", Issuer: "i", AnyAudience: true, JWKSURL: u, Algorithms: []string{"HS512"}}, want: "unsupported algorithm"},
		{desc: "HS256 without a secret", cfg: Issuer{Name: "a", Issuer: "i", AnyAudience: true, JWKSURL: u, Algorithms: []string{"HS256"}}, want: "no HS256 secret"},
		{desc: "secret without HS256 in the list", cfg: Issuer{Name: "a", Issuer: "i", AnyAudience: true, JWKSURL: u, HS256Secret: secret32, Algorithms: []string{"RS256"}}, want: "not in Algorithms"},
		{desc: "no key source", cfg: Issuer{Name: "a", Issuer: "i", AnyAudience: true}, want: "neither JWKSURL nor DiscoveryURL"},
		{desc: "both URLs", cfg: Issuer{Name: "a", Issuer: "i", AnyAudience: true, JWKSURL: u, DiscoveryURL: u}, want: "not both"},
		{desc: "credentials in the URL", cfg: Issuer{Name: "a", Issuer: "i", AnyAudience: true, JWKSURL: "https://user:pw@idp/jwks"}, want: "credentials"},
		{desc: "relative URL", cfg: Issuer{Name: "a", Issuer: "i", AnyAudience: true, JWKSURL: "/jwks"}, want: "absolute"},
		{desc: "no audience", cfg: Issuer{Name: "a", Issuer: "i", JWKSURL: u}, want: "no Audiences"},
		{desc: "no name", cfg: Issuer{Issuer: "i", AnyAudience: true, JWKSURL: u}, want: "no name"},
		{desc: "no iss", cfg: Issuer{Name: "a", AnyAudience: true, JWKSURL: u}, want: "no iss"},
	}
	for _, c := range cases {
		iss, err := NewIssuer(c.cfg)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.desc, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want %q", c.desc, err, c.want)
		case err != nil && strings.Contains(err.Error(), string(secret31)):
			t.Errorf("%s: the error quotes the secret", c.desc)
		case c.want == "" && iss == nil:
			t.Errorf("%s: nil issuer", c.desc)
		}
	}
	iss, _ := NewIssuer(Issuer{Name: "a", Issuer: "i", Audiences: []string{"api"}, JWKSURL: u})
	if strings.Join(iss.AllowedAlgorithms(), ",") != "RS256,PS256,ES256,EdDSA,Ed25519" || iss.EffectiveLeeway() != 60*time.Second ||
		iss.RefetchInterval != 30*time.Second || iss.RefreshInterval != 10*time.Minute || iss.MaxTokenBytes != 8192 ||
		strings.Join(iss.BindingClaims, ",") != "sub,client_id,azp" {
		t.Errorf("defaults: %+v", iss)
	}
	hs, _ := NewIssuer(Issuer{Name: "a", Issuer: "i", AnyAudience: true, HS256Secret: secret32})
	if strings.Join(hs.AllowedAlgorithms(), ",") != "HS256" {
		t.Errorf("secret only: %v", hs.AllowedAlgorithms())
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "issuer", hs)
	for _, s := range []string{fmt.Sprintf("%v %+v %s", hs, hs, hs), logged.String()} {
		asBytes := fmt.Sprint(secret32)[1:30] // "48 49 50 …" as %v prints a []byte
		if strings.Contains(s, string(secret32)) || strings.Contains(s, asBytes) || !strings.Contains(s, `"a"`) && !strings.Contains(s, "name=a") {
			t.Errorf("printed issuer: %s", s)
		}
	}
	none, _ := NewIssuer(Issuer{Name: "a", Issuer: "i", AnyAudience: true, JWKSURL: u, Leeway: -1})
	if none.EffectiveLeeway() != 0 {
		t.Errorf("negative leeway: %v", none.EffectiveLeeway())
	}
	// A hand-built Issuer (not from NewIssuer) is refused per request as a
	// gateway error, never trusted.
	e := newEnv(t, Options{})
	e.b.add(&Issuer{Name: "raw", Issuer: "raw", AnyAudience: true, HS256Secret: secret32})
	_, r, _ := e.verify(mint(t, hdr("HS256", ""), claims("raw", nil), "HS256", secret32))
	if code(r) != reason.GatewayInternal {
		t.Errorf("unbuilt issuer: %v", r)
	}
}

func TestRecognizes(t *testing.T) {
	v := New(Options{})
	cases := []struct {
		desc string
		cred authheader.Credential
		want bool
	}{
		{"JWT", authheader.Credential{Kind: authheader.Bearer, Token: "eyJhbGciOiJSUzI1NiJ9.e30.sig"}, true},
		{"header with a line break after {", authheader.Credential{Kind: authheader.Bearer, Token: "ew0KImFsZyI6IlJTMjU2In0.e30.sig"}, true},
		{"four segments still a JWT (rejected as malformed)", authheader.Credential{Kind: authheader.Bearer, Token: "eyJh.e30.a.b"}, true},
		{"Gatehouse key", authheader.Credential{Kind: authheader.Bearer, Token: "gk_live_7Hq2xK9pLm3Q_abc"}, false},
		{"opaque token", authheader.Credential{Kind: authheader.Bearer, Token: "2YotnFZFEjr1zCsicMWpAA"}, false},
		{"eyJ without a dot", authheader.Credential{Kind: authheader.Bearer, Token: "eyJhbGciOiJSUzI1NiJ9"}, false},
		{"1 MB of dots", authheader.Credential{Kind: authheader.Bearer, Token: strings.Repeat(".", 1<<20)}, false},
		{"JWT in X-API-Key", authheader.Credential{Kind: authheader.APIKeyScheme, Token: "eyJhbGciOiJSUzI1NiJ9.e30.sig"}, false},
		{"Basic", authheader.Credential{Kind: authheader.Basic, Token: "eyJhbGciOiJSUzI1NiJ9.e30.sig"}, false},
	}
	for _, c := range cases {
		if got := v.Recognizes(c.cred); got != c.want {
			t.Errorf("%s: %v", c.desc, got)
		}
	}
	if v.Method() != domain.AuthJWT {
		t.Error(v.Method())
	}
}
