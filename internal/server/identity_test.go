package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/domain"
	"gatehouse/internal/identity"
	"gatehouse/internal/npmtest"
	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres/pgtest"
)

// recordingUpstream keeps the headers of every request it answers.
type recordingUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func newRecordingUpstream(t testing.TB) *recordingUpstream {
	t.Helper()
	u := &recordingUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		u.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *recordingUpstream) last(t *testing.T) http.Header {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("the upstream received nothing")
	}
	return u.seen[len(u.seen)-1]
}

// identityWorld is a tenant, consumer and key, and a service with
// identity_jwt on a recording upstream, routed at /<slug>.
type identityWorld struct {
	world
	keyID, key string
	up         *recordingUpstream
}

func (h *harness) newIdentityWorld(slug string, ij map[string]any) identityWorld {
	h.t.Helper()
	w := identityWorld{world: h.newWorld(slug, []string{"orders:read", "orders:write"}, nil), up: newRecordingUpstream(h.t)}
	w.keyID, w.key = h.newKey(w.consumer, map[string]any{"scopes": []string{"orders:read"}})
	body := map[string]any{"targets": []string{w.up.URL}}
	if ij != nil {
		body["identity_jwt"] = ij
	}
	h.mustAdmin("PATCH", "/admin/v1/services/"+w.service, body)
	return w
}

// fetchJWKS reads a JWKS over HTTP, as an upstream would.
func fetchJWKS(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

// goVerify is an upstream's verifier written with the standard library
// alone (no JOSE code of the gateway's): split, base64url, the JWK named
// by kid in jwks, crypto/ed25519, then the registered claims at now.
func goVerify(jwks []byte, token, iss, aud string, now time.Time) (kid string, claims map[string]any, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", nil, fmt.Errorf("%d parts", len(parts))
	}
	var hdr map[string]any
	for i, dst := range []*map[string]any{&hdr, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return "", nil, err
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return "", nil, err
		}
	}
	kid, _ = hdr["kid"].(string)
	if hdr["alg"] != "EdDSA" {
		return kid, nil, fmt.Errorf("alg %v", hdr["alg"])
	}
	var set struct {
		Keys []struct{ Kty, Crv, X, Kid, Alg string }
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		return kid, nil, err
	}
	i := slices.IndexFunc(set.Keys, func(k struct{ Kty, Crv, X, Kid, Alg string }) bool { return k.Kid == kid })
	if i < 0 {
		return kid, nil, errors.New("no key with the token's kid in the JWKS")
	}
	pub, err := base64.RawURLEncoding.DecodeString(set.Keys[i].X)
	if err != nil || set.Keys[i].Kty != "OKP" || set.Keys[i].Crv != "Ed25519" || len(pub) != ed25519.PublicKeySize {
		return kid, nil, fmt.Errorf("unusable JWK %+v", set.Keys[i])
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
		return kid, nil, errors.New("signature does not verify")
	}
	num := func(k string) int64 { f, _ := claims[k].(float64); return int64(f) }
	switch {
	case claims["iss"] != iss:
		return kid, claims, fmt.Errorf("iss %v", claims["iss"])
	case claims["aud"] != aud:
		return kid, claims, fmt.Errorf("aud %v", claims["aud"])
	case now.Unix() < num("nbf"):
		return kid, claims, errors.New("not yet valid")
	case now.Unix() >= num("exp"):
		return kid, claims, errors.New("expired")
	}
	return kid, claims, nil
}

type npmIdentityCase struct {
	Name     string `json:"name"`
	Token    string `json:"token"`
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"`
	Now      int64  `json:"now"`
}

type npmIdentityResult struct {
	Name    string         `json:"name"`
	OK      bool           `json:"ok"`
	Kid     string         `json:"kid"`
	Alg     string         `json:"alg"`
	Payload map[string]any `json:"payload"`
	Code    string         `json:"code"`
	Message string         `json:"message"`
}

// npmVerify runs testdata/npm/identity.cjs: npm jose's createRemoteJWKSet
// on jwksURL and jwtVerify of each case. Without node the calling subtest
// is skipped — except under CI, where that fails.
func npmVerify(t *testing.T, jwksURL string, cases []npmIdentityCase) map[string]npmIdentityResult {
	t.Helper()
	node := npmtest.Node(t, "npm jose identity-token test")
	modules := npmtest.Install(t, "server", "jose")
	in, _ := json.Marshal(cases)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "npm", "identity.cjs"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "JWKS_URL="+jwksURL, "CASES="+string(in))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node identity.cjs: %v\n%s\n%s", err, out, stderr.String())
	}
	var res []npmIdentityResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("identity.cjs output %s: %v", out, err)
	}
	byName := map[string]npmIdentityResult{}
	for _, r := range res {
		byName[r.Name] = r
	}
	return byName
}

const testPublicURL = "https://gw.example.com"

// TestIdentityTokenEndToEnd: through the real server, a service with
// identity_jwt receives X-Gatehouse-Identity, which an independent
// verifier (crypto/ed25519 on the JWKS fetched from the proxy listener,
// and npm jose with createRemoteJWKSet) accepts, whose claims match the
// plain identity headers, and which is reused while X-Request-Id changes.
// A forged X-Gatehouse-Identity, and a Connection header naming it, never
// replace or strip the gateway's; a service without identity_jwt gets no
// token at all, forged or not. The admin listener serves the same JWKS.
func TestIdentityTokenEndToEnd(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.PublicURL = testPublicURL })
	w := h.newIdentityWorld("acme", map[string]any{"audience": "orders-api", "ttl": "90s"})
	plain := h.newIdentityWorld("plain", nil)
	jwksURL := h.proxy + identity.JWKSPath

	r := h.call("GET", "/acme/orders", "X-API-Key", w.key, "X-Gatehouse-Identity", "forged.identity.token",
		"Connection", "keep-alive, X-Gatehouse-Identity")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	seen := w.up.last(t)
	toks := seen.Values("X-Gatehouse-Identity")
	if len(toks) != 1 || strings.Contains(toks[0], "forged") {
		t.Fatalf("upstream X-Gatehouse-Identity %q: want exactly the gateway's", toks)
	}
	tok := toks[0]
	jwks := fetchJWKS(t, jwksURL)
	if admin := fetchJWKS(t, h.admin+identity.JWKSPath); !bytes.Equal(admin, jwks) {
		t.Errorf("the admin listener's JWKS %s differs from the proxy's %s", admin, jwks)
	}
	now := h.clock.Now()
	kid, claims, err := goVerify(jwks, tok, testPublicURL, "orders-api", now)
	if err != nil {
		t.Fatalf("Go verifier: %v (claims %v)", err, claims)
	}
	if kid != h.srv.identity.CurrentKID() {
		t.Errorf("kid %s, want the signing key %s", kid, h.srv.identity.CurrentKID())
	}
	want := map[string]any{
		"sub": w.consumer, "tenant": seen.Get("X-Gatehouse-Tenant"), "tenant_id": w.tenant, "consumer": seen.Get("X-Gatehouse-Consumer"),
		"credential_id": seen.Get("X-Gatehouse-Credential"), "credential_type": "api_key", "scope": seen.Get("X-Gatehouse-Scopes"),
	}
	if want["tenant"] != "acme" || want["consumer"] != "acme-app" || want["credential_id"] != w.keyID || want["scope"] != "orders:read" {
		t.Fatalf("plain identity headers %v", seen)
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v (as the plain header)", k, claims[k], v)
		}
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); int64(exp-iat) != 90 || int64(iat) != now.Unix() {
		t.Errorf("iat %v exp %v: want a 90 s token issued now", iat, exp)
	}
	if _, ok := claims["rid"]; ok || strings.Contains(tok, seen.Get("X-Request-Id")) {
		t.Error("the reused token carries the request id")
	}

	firstRID := seen.Get("X-Request-Id")
	h.clock.Advance(44 * time.Second) // under half of 90 s: the same token
	h.call("GET", "/acme/orders", "X-API-Key", w.key)
	again := w.up.last(t)
	if again.Get("X-Gatehouse-Identity") != tok || again.Get("X-Request-Id") == firstRID {
		t.Errorf("second request: token reused %v, request ids %s and %s", again.Get("X-Gatehouse-Identity") == tok, firstRID, again.Get("X-Request-Id"))
	}
	h.clock.Advance(time.Second) // half the lifetime: a fresh token
	h.call("GET", "/acme/orders", "X-API-Key", w.key)
	fresh := w.up.last(t).Get("X-Gatehouse-Identity")
	if fresh == tok {
		t.Error("the token was reused past half its lifetime")
	}
	if _, _, err := goVerify(jwks, fresh, testPublicURL, "orders-api", h.clock.Now()); err != nil {
		t.Errorf("the renewed token: %v", err)
	}

	t.Run("a service without identity_jwt gets no token, forged or not", func(t *testing.T) {
		r := h.call("GET", "/plain/x", "X-API-Key", plain.key, "X-Gatehouse-Identity", "forged.identity.token")
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if v, ok := plain.up.last(t)["X-Gatehouse-Identity"]; ok {
			t.Errorf("upstream got X-Gatehouse-Identity %q", v)
		}
	})

	t.Run("npm jose", func(t *testing.T) {
		tampered := tok[:strings.LastIndexByte(tok, '.')+1] + base64.RawURLEncoding.EncodeToString(make([]byte, 64))
		res := npmVerify(t, jwksURL, []npmIdentityCase{
			{Name: "valid", Token: tok, Issuer: testPublicURL, Audience: "orders-api", Now: now.Unix()},
			{Name: "other audience", Token: tok, Issuer: testPublicURL, Audience: "billing", Now: now.Unix()},
			{Name: "other issuer", Token: tok, Issuer: "https://evil.example", Audience: "orders-api", Now: now.Unix()},
			{Name: "expired", Token: tok, Issuer: testPublicURL, Audience: "orders-api", Now: now.Unix() + 90},
			{Name: "tampered signature", Token: tampered, Issuer: testPublicURL, Audience: "orders-api", Now: now.Unix()},
		})
		v := res["valid"]
		if !v.OK || v.Alg != "EdDSA" || v.Kid != kid || v.Payload["sub"] != w.consumer || v.Payload["scope"] != "orders:read" ||
			v.Payload["credential_id"] != w.keyID || v.Payload["tenant"] != "acme" {
			t.Errorf("jose rejected or misread the token: %+v", v)
		}
		for name, code := range map[string]string{"other audience": "ERR_JWT_CLAIM_VALIDATION_FAILED", "other issuer": "ERR_JWT_CLAIM_VALIDATION_FAILED",
			"expired": "ERR_JWT_EXPIRED", "tampered signature": "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"} {
			if r := res[name]; r.OK || r.Code != code {
				t.Errorf("%s: %+v, want %s", name, r, code)
			}
		}
	})
}

// TestIdentityKeyRotationEndToEnd: after `identity-key rotate` through the
// admin API, new tokens carry the new kid (the key published ahead of the
// rotation), tokens of the old key still verify against the served JWKS
// during the grace period, and after it the old key is gone from the
// JWKS. No private key material appears in the log, an admin answer or
// the audit log at any point.
func TestIdentityKeyRotationEndToEnd(t *testing.T) {
	h := newHarness(t, func(c *config.Config) {
		c.PublicURL = testPublicURL
		c.Identity.KeyGrace = domain.Duration(2 * time.Hour)
	})
	w := h.newIdentityWorld("acme", map[string]any{"audience": "orders-api"})
	jwksURL := h.proxy + identity.JWKSPath
	var answers []string // every admin answer, for the leak check
	material := map[string]bool{}
	collect := func() {
		err := h.srv.store.View(context.Background(), func(tx store.Tx) error {
			keys, err := tx.(store.IdentityKeyTx).ListIdentityKeys(context.Background())
			for _, k := range keys {
				seed, err := h.srv.creds.box.Open(k.PrivateKey)
				if err != nil {
					return err
				}
				for _, s := range []string{k.PrivateKey, base64.RawURLEncoding.EncodeToString(seed), base64.StdEncoding.EncodeToString(seed),
					base64.RawStdEncoding.EncodeToString(seed), fmt.Sprintf("%x", seed),
					base64.RawURLEncoding.EncodeToString(ed25519.NewKeyFromSeed(seed))} {
					material[s] = true
				}
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	adminRaw := func(method, path string, body any) (int, string) {
		t.Helper()
		code, out := h.adminDo(method, path, body)
		b, _ := json.Marshal(out)
		answers = append(answers, string(b))
		return code, string(b)
	}
	kids := func(raw []byte) []string {
		var set struct{ Keys []struct{ Kid string } }
		_ = json.Unmarshal(raw, &set)
		var out []string
		for _, k := range set.Keys {
			out = append(out, k.Kid)
		}
		return out
	}
	call := func() string {
		t.Helper()
		if r := h.call("GET", "/acme/x", "X-API-Key", w.key); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		return w.up.last(t).Get("X-Gatehouse-Identity")
	}

	collect()
	_, listed := adminRaw("GET", "/admin/v1/identity-keys", nil)
	oldTok := call()
	t0now := h.clock.Now()
	oldKid, _, err := goVerify(fetchJWKS(t, jwksURL), oldTok, testPublicURL, "orders-api", t0now)
	if err != nil {
		t.Fatal(err)
	}
	var before struct{ Items []identity.KeyView }
	_ = json.Unmarshal([]byte(listed), &before)
	if len(before.Items) != 2 || before.Items[0].KID != oldKid || before.Items[1].State != "next" {
		t.Fatalf("keys before the rotation: %s", listed)
	}
	preKid := before.Items[1].KID
	if got := kids(fetchJWKS(t, jwksURL)); !slices.Equal(got, []string{oldKid, preKid}) {
		t.Fatalf("JWKS %v before the rotation: want the signing key and the pre-published next one", got)
	}

	code, rotated := adminRaw("POST", "/admin/v1/identity-keys/rotate", nil)
	if code != 201 {
		t.Fatalf("rotate: %d %s", code, rotated)
	}
	collect()
	var rot identityRotationView
	_ = json.Unmarshal([]byte(rotated), &rot)
	if rot.Current.KID != preKid || rot.Retired == nil || rot.Retired.KID != oldKid || !rot.Retired.PublishUntil.Equal(t0now.Add(2*time.Hour)) {
		t.Fatalf("rotation answer %s: want the pre-published key current, the old one retired for the configured 2h", rotated)
	}
	newTok := call()
	if newTok == oldTok {
		t.Fatal("the cached token of the old key was reused after the rotation")
	}
	steps := []struct {
		desc      string
		advance   time.Duration
		wantKids  []string
		oldTokOK  bool
		newTokKid string
	}{
		{"at once: new tokens carry the new kid, old tokens verify", 0, []string{preKid, rot.Next.KID, oldKid}, true, preKid},
		{"within the grace period", 2*time.Hour - time.Second, []string{preKid, rot.Next.KID, oldKid}, true, preKid},
		{"after the grace period: the old key is gone", 2 * time.Second, []string{preKid, rot.Next.KID}, false, preKid},
	}
	for _, s := range steps {
		t.Run(s.desc, func(t *testing.T) {
			h.clock.Advance(s.advance)
			jwks := fetchJWKS(t, jwksURL)
			if got := kids(jwks); !slices.Equal(got, s.wantKids) {
				t.Errorf("JWKS kids %v, want %v", got, s.wantKids)
			}
			// The old token is judged at its own time (it lives 60 s): what
			// is tested is whether the JWKS still holds its key.
			_, _, err := goVerify(jwks, oldTok, testPublicURL, "orders-api", t0now)
			if (err == nil) != s.oldTokOK {
				t.Errorf("old token: %v, want valid %v", err, s.oldTokOK)
			}
			tok := call()
			kid, _, err := goVerify(jwks, tok, testPublicURL, "orders-api", h.clock.Now())
			if err != nil || kid != s.newTokKid {
				t.Errorf("new token: kid %s, %v; want %s", kid, err, s.newTokKid)
			}
			t.Run("npm jose", func(t *testing.T) {
				res := npmVerify(t, jwksURL, []npmIdentityCase{
					{Name: "old", Token: oldTok, Issuer: testPublicURL, Audience: "orders-api", Now: t0now.Unix()},
					{Name: "new", Token: tok, Issuer: testPublicURL, Audience: "orders-api", Now: h.clock.Now().Unix()},
				})
				if r := res["new"]; !r.OK || r.Kid != s.newTokKid {
					t.Errorf("new token: %+v", r)
				}
				if r := res["old"]; r.OK != s.oldTokOK || (!s.oldTokOK && r.Code != "ERR_JWKS_NO_MATCHING_KEY") {
					t.Errorf("old token: %+v, want valid %v", r, s.oldTokOK)
				}
			})
		})
	}

	t.Run("grace 0: every old key leaves the JWKS at once", func(t *testing.T) {
		code, body := adminRaw("POST", "/admin/v1/identity-keys/rotate", map[string]any{"grace": "0s"})
		if code != 201 {
			t.Fatalf("%d %s", code, body)
		}
		collect()
		tok := call()
		jwks := fetchJWKS(t, jwksURL)
		if got := kids(jwks); len(got) != 2 || slices.Contains(got, preKid) || slices.Contains(got, oldKid) {
			t.Errorf("JWKS kids %v: want two fresh keys", got)
		}
		if kid, _, err := goVerify(jwks, tok, testPublicURL, "orders-api", h.clock.Now()); err != nil || kid == preKid {
			t.Errorf("token after an emergency rotation: kid %s, %v", kid, err)
		}
	})

	adminRaw("GET", "/admin/v1/identity-keys", nil)
	adminRaw("GET", "/admin/v1/status", nil)
	adminRaw("GET", "/admin/v1/audit?resource=identity_key", nil)
	_, auditAll := adminRaw("GET", "/admin/v1/audit", nil)
	if !strings.Contains(auditAll, identity.ActionRotate) || !strings.Contains(auditAll, identity.ActionCreate) {
		t.Errorf("the audit log lacks the key creation or rotation: %s", auditAll)
	}
	if len(material) < 6*4 {
		t.Fatalf("collected %d encodings of key material: the leak check would prove nothing", len(material))
	}
	logs := h.logs.String()
	for s := range material {
		if strings.Contains(logs, s) {
			t.Fatalf("private key material in the log")
		}
		for _, a := range answers {
			if strings.Contains(a, s) {
				t.Fatalf("private key material in an admin answer: %s", a)
			}
		}
	}
}

// identityRotationView decodes the rotate answer.
type identityRotationView struct {
	Current identity.KeyView  `json:"current"`
	Next    identity.KeyView  `json:"next"`
	Retired *identity.KeyView `json:"retired"`
}

// TestIdentityCluster: two nodes on one PostgreSQL schema sign with the
// same key and serve the same JWKS; a rotation through one node reaches
// the other with the change feed, after which both sign with the new key.
func TestIdentityCluster(t *testing.T) {
	url := pgtest.Schema(t)
	getenv := func(k string) string {
		if k == "GATEHOUSE_MASTER_KEY" {
			return "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
		}
		return ""
	}
	node := func() *harness {
		return newHarnessWith(t, Options{Getenv: getenv}, func(c *config.Config) { c.Database = url; c.PublicURL = testPublicURL })
	}
	a := node()
	b := node()
	if a.srv.identity.CurrentKID() == "" || a.srv.identity.CurrentKID() != b.srv.identity.CurrentKID() {
		t.Fatalf("signing kids %q and %q: want one shared key", a.srv.identity.CurrentKID(), b.srv.identity.CurrentKID())
	}
	if ja, jb := fetchJWKS(t, a.proxy+identity.JWKSPath), fetchJWKS(t, b.proxy+identity.JWKSPath); !bytes.Equal(ja, jb) {
		t.Fatalf("JWKS differ: %s / %s", ja, jb)
	}
	w := a.newIdentityWorld("acme", map[string]any{"audience": "orders-api"})
	callVia := func(h *harness) string {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			r := h.call("GET", "/acme/x", "X-API-Key", w.key)
			if r.status == 200 {
				return w.up.last(t).Get("X-Gatehouse-Identity")
			}
			if time.Now().After(deadline) {
				t.Fatalf("node never admitted the call: %d %s", r.status, r.raw)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	check := func(desc string, wantKid string) {
		t.Helper()
		for _, n := range []struct {
			name string
			h    *harness
		}{{"a", a}, {"b", b}} {
			tok := callVia(n.h)
			// Each node's token verifies against the other node's JWKS.
			other := a
			if n.h == a {
				other = b
			}
			kid, _, err := goVerify(fetchJWKS(t, other.proxy+identity.JWKSPath), tok, testPublicURL, "orders-api", n.h.clock.Now())
			if err != nil || kid != wantKid {
				t.Errorf("%s: node %s signed with %s (%v), want %s", desc, n.name, kid, err, wantKid)
			}
		}
	}
	check("before the rotation", a.srv.identity.CurrentKID())

	rot := a.mustAdmin("POST", "/admin/v1/identity-keys/rotate", nil)
	newKid := rot["current"].(map[string]any)["kid"].(string)
	deadline := time.Now().Add(5 * time.Second)
	for b.srv.identity.CurrentKID() != newKid {
		if time.Now().After(deadline) {
			t.Fatalf("node b still signs with %s, want %s after the rotation on a", b.srv.identity.CurrentKID(), newKid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	check("after the rotation on node a", newKid)
	_, status := b.adminDo("GET", "/admin/v1/status", nil)
	if id, _ := status["identity"].(map[string]any); id["signing_kid"] != newKid || id["issuer"] != testPublicURL {
		t.Errorf("node b status identity %v", status["identity"])
	}
}
