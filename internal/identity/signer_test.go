package identity

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/domain"
	"gatehouse/internal/secrets"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func testBox(t testing.TB, b byte) *secrets.Box {
	t.Helper()
	box, err := secrets.New(bytes.Repeat([]byte{b}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func newKey(t testing.TB, box *secrets.Box, state string) domain.IdentityKey {
	t.Helper()
	k, err := NewKey(box, t0)
	if err != nil {
		t.Fatal(err)
	}
	k.State = state
	return k
}

// verified is a token checked with the standard library alone: split,
// base64url, the JWKS entry named by kid, ed25519.Verify.
type verified struct {
	header map[string]any
	claims map[string]any
}

func verify(t *testing.T, jwks []byte, token string) (verified, error) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return verified{}, fmt.Errorf("%d parts", len(parts))
	}
	var v verified
	for i, dst := range []*map[string]any{&v.header, &v.claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return v, fmt.Errorf("part %d: %w", i, err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return v, fmt.Errorf("part %d: %w", i, err)
		}
	}
	var set struct {
		Keys []JWK `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		return v, err
	}
	for _, k := range set.Keys {
		if k.Kid != v.header["kid"] {
			continue
		}
		pub, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || k.Kty != "OKP" || k.Crv != "Ed25519" || len(pub) != ed25519.PublicKeySize {
			return v, fmt.Errorf("bad JWK %+v", k)
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			return v, err
		}
		if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
			return v, errors.New("signature does not verify")
		}
		return v, nil
	}
	return v, fmt.Errorf("kid %v not in the JWKS", v.header["kid"])
}

// TestThumbprint: RFC 8037 Appendix A.3's thumbprint of its A.2 key.
func TestThumbprint(t *testing.T) {
	cases := []struct {
		desc, x, want string
	}{
		{"RFC 8037 A.3", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			pub, err := base64.RawURLEncoding.DecodeString(c.x)
			if err != nil {
				t.Fatal(err)
			}
			if got := Thumbprint(pub); got != c.want {
				t.Errorf("Thumbprint = %s, want %s", got, c.want)
			}
		})
	}
	t.Run("a generated key's kid is its thumbprint", func(t *testing.T) {
		k := newKey(t, testBox(t, 1), domain.IdentityKeyCurrent)
		pub, _ := base64.RawURLEncoding.DecodeString(k.PublicKey)
		if k.KID != Thumbprint(pub) || strings.Contains(k.PrivateKey, k.PublicKey) || !strings.HasPrefix(k.PrivateKey, "gs1:") {
			t.Errorf("key %+v", k)
		}
	})
}

func subject() *Subject {
	return &Subject{ServiceID: "svc_1", Audience: "orders", TTL: time.Minute, TenantID: "ten_1", Tenant: "acme",
		ConsumerID: "con_1", Consumer: "shop-mobile", CredentialID: "7Hq2xK9pLm3Q", CredentialType: "api_key",
		Scopes: "orders:read orders:write"}
}

// TestTokenClaims: the token verifies against the JWKS with the standard
// library alone, its header is {alg EdDSA, kid, typ JWT}, and its claims
// are the subject's, with the documented defaults and bounds.
func TestTokenClaims(t *testing.T) {
	box := testBox(t, 1)
	cur := newKey(t, box, domain.IdentityKeyCurrent)
	s := New(Options{Box: box, Issuer: "https://gw.example.com"})
	s.Sync([]domain.IdentityKey{cur})
	now := t0.Add(500 * time.Millisecond)
	cases := []struct {
		desc    string
		mod     func(*Subject)
		wantTTL int64
		want    map[string]any // claims besides the time ones and jti
	}{
		{"every claim", nil, 60, map[string]any{"iss": "https://gw.example.com", "sub": "con_1", "aud": "orders",
			"tenant": "acme", "tenant_id": "ten_1", "consumer": "shop-mobile", "credential_id": "7Hq2xK9pLm3Q",
			"credential_type": "api_key", "scope": "orders:read orders:write"}},
		{"no scopes: no scope claim", func(s *Subject) { s.Scopes = "" }, 60, map[string]any{"iss": "https://gw.example.com",
			"sub": "con_1", "aud": "orders", "tenant": "acme", "tenant_id": "ten_1", "consumer": "shop-mobile",
			"credential_id": "7Hq2xK9pLm3Q", "credential_type": "api_key"}},
		{"ttl 90s", func(s *Subject) { s.TTL = 90 * time.Second }, 90, nil},
		{"ttl 0: the default", func(s *Subject) { s.TTL = 0 }, 60, nil},
		{"ttl below the minimum: the default", func(s *Subject) { s.TTL = 5 * time.Second }, 60, nil},
		{"ttl above the maximum: capped", func(s *Subject) { s.TTL = 2 * time.Hour }, 3600, nil},
		{"fractions of a second are dropped", func(s *Subject) { s.TTL = 30*time.Second + 700*time.Millisecond }, 30, nil},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			sub := subject()
			sub.ServiceID = "svc_" + c.desc // a fresh cache entry per case
			if c.mod != nil {
				c.mod(sub)
			}
			tok, err := s.Token(sub, now)
			if err != nil {
				t.Fatal(err)
			}
			v, err := verify(t, s.JWKS(now), tok)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if v.header["alg"] != "EdDSA" || v.header["kid"] != cur.KID || v.header["typ"] != "JWT" || len(v.header) != 3 {
				t.Errorf("header %v", v.header)
			}
			iat := int64(v.claims["iat"].(float64))
			if iat != t0.Unix() || int64(v.claims["nbf"].(float64)) != iat-10 || int64(v.claims["exp"].(float64)) != iat+c.wantTTL {
				t.Errorf("iat %v nbf %v exp %v, want iat %d, nbf iat-10, exp iat+%d", v.claims["iat"], v.claims["nbf"], v.claims["exp"], t0.Unix(), c.wantTTL)
			}
			if jti, _ := v.claims["jti"].(string); len(jti) != 22 {
				t.Errorf("jti %q", jti)
			}
			if _, ok := v.claims["rid"]; ok {
				t.Error("a per-request claim in a reused token")
			}
			for k, want := range c.want {
				if v.claims[k] != want {
					t.Errorf("claim %s = %v, want %v", k, v.claims[k], want)
				}
			}
			if c.want != nil && len(v.claims) != len(c.want)+4 {
				t.Errorf("claims %v: want exactly %d", v.claims, len(c.want)+4)
			}
		})
	}
}

// TestTokenCache: a token is reused while it is less than half its
// lifetime old and its subject and key are unchanged, and signed anew
// otherwise.
func TestTokenCache(t *testing.T) {
	box := testBox(t, 1)
	cur, next := newKey(t, box, domain.IdentityKeyCurrent), newKey(t, box, domain.IdentityKeyNext)
	cases := []struct {
		desc   string
		second func(*Subject) // the second request's subject, from the first's
		after  time.Duration
		rotate bool
		reused bool
	}{
		{"same subject at once: reused", nil, 0, false, true},
		{"just before half the lifetime: reused", nil, 30*time.Second - time.Nanosecond, false, true},
		{"at half the lifetime: signed anew", nil, 30 * time.Second, false, false},
		{"clock before the token's issue: signed anew", nil, -time.Second, false, false},
		{"other scopes", func(s *Subject) { s.Scopes = "orders:read" }, 0, false, false},
		{"other service", func(s *Subject) { s.ServiceID = "svc_2" }, 0, false, false},
		{"other credential", func(s *Subject) { s.CredentialID = "k2" }, 0, false, false},
		{"consumer renamed", func(s *Subject) { s.Consumer = "shop-ios" }, 0, false, false},
		{"tenant renamed", func(s *Subject) { s.Tenant = "acme-corp" }, 0, false, false},
		{"audience changed", func(s *Subject) { s.Audience = "orders-v2" }, 0, false, false},
		{"ttl changed", func(s *Subject) { s.TTL = 2 * time.Minute }, 0, false, false},
		{"key rotated", nil, 0, true, false},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			s := New(Options{Box: box})
			s.Sync([]domain.IdentityKey{cur, next})
			first, err := s.Token(subject(), t0)
			if err != nil {
				t.Fatal(err)
			}
			sub := subject()
			if c.second != nil {
				c.second(sub)
			}
			if c.rotate {
				promoted := next
				promoted.State = domain.IdentityKeyCurrent
				old := cur
				old.State, old.PublishUntil = domain.IdentityKeyPrevious, ptr(t0.Add(time.Hour))
				s.Sync([]domain.IdentityKey{promoted, old})
			}
			second, err := s.Token(sub, t0.Add(c.after))
			if err != nil {
				t.Fatal(err)
			}
			if (first == second) != c.reused {
				t.Errorf("reused %v, want %v", first == second, c.reused)
			}
			v, err := verify(t, s.JWKS(t0), second)
			if err != nil {
				t.Fatal(err)
			}
			wantKid := cur.KID
			if c.rotate {
				wantKid = next.KID
			}
			if v.header["kid"] != wantKid {
				t.Errorf("kid %v, want %s", v.header["kid"], wantKid)
			}
		})
	}
}

func ptr(t time.Time) *time.Time { return &t }

// TestNoUsableKey: without a key, or with a current key that cannot be
// opened or does not match its public half, Token fails with ErrNoKey
// (the pipeline then fails closed); the log names the kid and the cause,
// never the key material.
// TestProblemClearsWithAKey: a signer with a usable current key reports
// no problem (readiness is not degraded).
func TestProblemClearsWithAKey(t *testing.T) {
	box := testBox(t, 1)
	s := New(Options{Box: box})
	if s.Problem() == "" {
		t.Fatal("a signer that never synced reports no problem")
	}
	s.Sync([]domain.IdentityKey{newKey(t, box, domain.IdentityKeyCurrent)})
	if p := s.Problem(); p != "" {
		t.Fatalf("Problem %q with a current key", p)
	}
}

func TestNoUsableKey(t *testing.T) {
	box := testBox(t, 1)
	good := newKey(t, box, domain.IdentityKeyCurrent)
	other := newKey(t, box, domain.IdentityKeyCurrent)
	swapped := good
	swapped.PrivateKey = other.PrivateKey // another key's seed under good's kid
	cases := []struct {
		desc  string
		keys  []domain.IdentityKey
		box   *secrets.Box
		sync  bool
		wants string
	}{
		{"never synced", nil, box, false, "no key loaded yet"},
		{"no current key", []domain.IdentityKey{newKey(t, box, domain.IdentityKeyNext)}, box, true, "no current identity key"},
		{"sealed under another master key", []domain.IdentityKey{good}, testBox(t, 2), true, "sealed with master key"},
		{"no master key", []domain.IdentityKey{good}, nil, true, "no master key is loaded"},
		{"private key of another public key", []domain.IdentityKey{swapped}, box, true, "does not match the stored public key"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			var logs bytes.Buffer
			s := New(Options{Box: c.box, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if c.sync {
				s.Sync(c.keys)
			}
			_, err := s.Token(subject(), t0)
			if !errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), c.wants) {
				t.Fatalf("error %v, want ErrNoKey saying %q", err, c.wants)
			}
			if s.CurrentKID() != "" {
				t.Errorf("CurrentKID %q", s.CurrentKID())
			}
			// Readiness reports the same reason.
			if p := s.Problem(); !strings.Contains(p, c.wants) {
				t.Errorf("Problem %q, want it to say %q", p, c.wants)
			}
			for _, k := range c.keys {
				seed, _ := box.Open(k.PrivateKey)
				for _, secret := range []string{k.PrivateKey, base64.RawURLEncoding.EncodeToString(seed), base64.StdEncoding.EncodeToString(seed), fmt.Sprintf("%x", seed)} {
					if strings.Contains(logs.String(), secret) || strings.Contains(err.Error(), secret) {
						t.Errorf("key material in the log or error: %s / %v", logs.String(), err)
					}
				}
			}
		})
	}
}

// TestJWKSHandler: GET and HEAD answer the key set with its content type
// and Cache-Control; other methods 405 with Allow.
func TestJWKSHandler(t *testing.T) {
	box := testBox(t, 1)
	cur, next := newKey(t, box, domain.IdentityKeyCurrent), newKey(t, box, domain.IdentityKeyNext)
	s := New(Options{Box: box, JWKSMaxAge: 90 * time.Second, Clock: clock.NewFake(t0)})
	s.Sync([]domain.IdentityKey{next, cur})
	srv := httptest.NewServer(s)
	defer srv.Close()
	cases := []struct {
		desc, method string
		status       int
		body         bool
	}{
		{"GET", http.MethodGet, 200, true},
		{"HEAD", http.MethodHead, 200, false},
		{"POST is refused", http.MethodPost, 405, false},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, srv.URL, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&set)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if c.status == 405 {
				if resp.Header.Get("Allow") != "GET, HEAD" {
					t.Errorf("Allow %q", resp.Header.Get("Allow"))
				}
				return
			}
			if resp.Header.Get("Content-Type") != "application/jwk-set+json" || resp.Header.Get("Cache-Control") != "public, max-age=90" {
				t.Errorf("headers %v", resp.Header)
			}
			if !c.body {
				return
			}
			if len(set.Keys) != 2 || set.Keys[0]["kid"] != cur.KID || set.Keys[1]["kid"] != next.KID {
				t.Fatalf("keys %v, want current then next", set.Keys)
			}
			want := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": cur.PublicKey, "kid": cur.KID, "alg": "EdDSA", "use": "sig"}
			if fmt.Sprint(set.Keys[0]) != fmt.Sprint(want) {
				t.Errorf("JWK %v, want %v (public members only)", set.Keys[0], want)
			}
		})
	}
}

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func storedKeys(t *testing.T, st store.Store) []domain.IdentityKey {
	t.Helper()
	d, err := st.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return d.IdentityKeys
}

func states(keys []domain.IdentityKey) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		out[k.KID] = k.State
	}
	return out
}

// TestEnsureAndRotate drives the key lifecycle through a real store: the
// first start creates a current and a next key (audited as the gateway),
// later starts nothing; a rotation promotes the pre-published next key,
// keeps the old one in the JWKS for the grace period and publishes a new
// next key; after the grace the old key leaves the JWKS and the next
// rotation deletes it; a rotation with grace 0 deletes every old key.
func TestEnsureAndRotate(t *testing.T) {
	st := openStore(t)
	box := testBox(t, 1)
	fc := clock.NewFake(t0)
	s := New(Options{Box: box, Clock: fc})
	sync := func() { s.Sync(storedKeys(t, st)) }

	created, err := EnsureKey(t.Context(), st, box, t0)
	if err != nil || len(created) != 2 || created[0].State != domain.IdentityKeyCurrent || created[1].State != domain.IdentityKeyNext {
		t.Fatalf("EnsureKey: %v %+v", err, created)
	}
	again, err := EnsureKey(t.Context(), st, box, t0.Add(time.Hour))
	if err != nil || again != nil {
		t.Fatalf("second EnsureKey: %v %+v, want nothing created", err, again)
	}
	audit, _, err := st.ListAudit(t.Context(), store.ListFilter{})
	if err != nil || len(audit) != 1 || audit[0].Actor != AuditActor || audit[0].Action != ActionCreate || audit[0].ResourceID != created[0].KID {
		t.Fatalf("audit %v %+v", err, audit)
	}
	for _, k := range created {
		if strings.Contains(string(audit[0].After), k.PrivateKey) || !strings.Contains(string(audit[0].After), k.KID) {
			t.Errorf("audit entry %s: want the kids, never the sealed keys", audit[0].After)
		}
	}
	sync()
	cur, next := created[0], created[1]
	if s.CurrentKID() != cur.KID || fmt.Sprint(s.JWKSKids(t0)) != fmt.Sprint([]string{cur.KID, next.KID}) {
		t.Fatalf("after start: signing %s, JWKS %v", s.CurrentKID(), s.JWKSKids(t0))
	}
	oldToken, _ := s.Token(subject(), t0)

	rotate := func(at time.Time, grace time.Duration) Rotation {
		t.Helper()
		var r Rotation
		if err := st.Update(t.Context(), func(tx store.Tx) (err error) { r, err = Rotate(t.Context(), tx, box, at, grace); return err }); err != nil {
			t.Fatal(err)
		}
		sync()
		return r
	}
	r1 := rotate(t0.Add(time.Hour), 24*time.Hour)
	if r1.Current.KID != next.KID || r1.Retired == nil || r1.Retired.KID != cur.KID || r1.Next.KID == "" || len(r1.Deleted) != 0 {
		t.Fatalf("rotation %+v: want the next key promoted and the current one retired", r1)
	}
	if want := t0.Add(25 * time.Hour); !r1.Retired.PublishUntil.Equal(want) {
		t.Errorf("publish until %v, want %v", r1.Retired.PublishUntil, want)
	}
	steps := []struct {
		desc     string
		at       time.Time
		wantKids []string
		oldValid bool
	}{
		{"within grace: current, next, previous", t0.Add(2 * time.Hour), []string{next.KID, r1.Next.KID, cur.KID}, true},
		{"the last instant of grace", t0.Add(25*time.Hour - time.Nanosecond), []string{next.KID, r1.Next.KID, cur.KID}, true},
		{"grace over: the old key is gone", t0.Add(25 * time.Hour), []string{next.KID, r1.Next.KID}, false},
	}
	for _, step := range steps {
		t.Run(step.desc, func(t *testing.T) {
			fc.Set(step.at)
			if got := s.JWKSKids(step.at); fmt.Sprint(got) != fmt.Sprint(step.wantKids) {
				t.Errorf("JWKS kids %v, want %v", got, step.wantKids)
			}
			if _, err := verify(t, s.JWKS(step.at), oldToken); (err == nil) != step.oldValid {
				t.Errorf("token of the retired key: verify error %v, want valid %v", err, step.oldValid)
			}
			tok, err := s.Token(subject(), step.at)
			if err != nil {
				t.Fatal(err)
			}
			if v, err := verify(t, s.JWKS(step.at), tok); err != nil || v.header["kid"] != next.KID {
				t.Errorf("new token: %v, kid %v, want %s", err, v.header["kid"], next.KID)
			}
		})
	}
	r2 := rotate(t0.Add(26*time.Hour), time.Hour)
	if r2.Current.KID != r1.Next.KID || r2.Retired.KID != next.KID || fmt.Sprint(r2.Deleted) != fmt.Sprint([]string{cur.KID}) {
		t.Errorf("second rotation %+v: want the expired key deleted", r2)
	}
	r3 := rotate(t0.Add(27*time.Hour), 0)
	if r3.Retired != nil || len(r3.Deleted) != 3 || r3.Current.KID == r2.Next.KID {
		t.Errorf("rotation with grace 0 %+v: want every old key deleted and fresh keys", r3)
	}
	if got, want := states(storedKeys(t, st)), map[string]string{r3.Current.KID: "current", r3.Next.KID: "next"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored keys %v, want %v", got, want)
	}
	if s.CurrentKID() != r3.Current.KID || len(s.JWKSKids(fc.Now())) != 2 {
		t.Errorf("after grace 0: signing %s, JWKS %v", s.CurrentKID(), s.JWKSKids(fc.Now()))
	}
	if err := st.Update(t.Context(), func(tx store.Tx) error { _, err := Rotate(t.Context(), tx, box, t0, MaxGrace+time.Second); return err }); err == nil {
		t.Error("a grace beyond MaxGrace was accepted")
	}
}

// TestEnsureKeyConcurrent: nodes starting at once create one key set.
func TestEnsureKeyConcurrent(t *testing.T) {
	st := openStore(t)
	box := testBox(t, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := EnsureKey(t.Context(), st, box, t0)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			created += len(c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if n := len(storedKeys(t, st)); created != 2 || n != 2 {
		t.Errorf("created %d keys, stored %d; want 2 and 2", created, n)
	}
}

// TestCacheBounded: the cache never holds more than its size (rounded up
// to one entry per shard), however many subjects come.
func TestCacheBounded(t *testing.T) {
	box := testBox(t, 1)
	cases := []struct {
		desc      string
		size, max int
	}{
		{"one entry per shard", 1, shards},
		{"128 entries", 128, 128},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			s := New(Options{Box: box, CacheSize: c.size})
			s.Sync([]domain.IdentityKey{newKey(t, box, domain.IdentityKeyCurrent)})
			for i := range 2000 {
				sub := subject()
				sub.CredentialID = fmt.Sprintf("cred-%d", i)
				if _, err := s.Token(sub, t0); err != nil {
					t.Fatal(err)
				}
			}
			total := 0
			for i := range s.sh {
				total += len(s.sh[i].m)
			}
			if total > c.max || total < c.max/2 {
				t.Errorf("%d cached tokens, want at most %d (and not far fewer)", total, c.max)
			}
		})
	}
}

// TestConcurrentTokensAndSync: tokens signed while keys rotate always
// verify against the JWKS of the keys they name (run with -race).
func TestConcurrentTokensAndSync(t *testing.T) {
	box := testBox(t, 1)
	a, b := newKey(t, box, domain.IdentityKeyCurrent), newKey(t, box, domain.IdentityKeyCurrent)
	a2, b2 := a, b
	a2.State, b2.State = domain.IdentityKeyNext, domain.IdentityKeyNext
	s := New(Options{Box: box, CacheSize: 256})
	s.Sync([]domain.IdentityKey{a, b2})
	all := New(Options{Box: box})
	all.Sync([]domain.IdentityKey{a, b2})
	jwks := all.JWKS(t0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				s.Sync([]domain.IdentityKey{b, a2})
			} else {
				s.Sync([]domain.IdentityKey{a, b2})
			}
		}
	}()
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				sub := subject()
				sub.CredentialID = fmt.Sprintf("c%d", (g*300+i)%50)
				tok, err := s.Token(sub, t0.Add(time.Duration(i)*time.Second))
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := verify(t, jwks, tok); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
}
