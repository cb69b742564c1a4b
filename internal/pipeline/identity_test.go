package pipeline

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/credential"
	"gatehouse/internal/credential/apikey"
	"gatehouse/internal/domain"
	"gatehouse/internal/identity"
	"gatehouse/internal/keys"
	"gatehouse/internal/proxy"
	"gatehouse/internal/secrets"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/store"
)

// identityGateway is a real pipeline on a loopback listener in front of a
// real upstream through the real forwarding engines, with one route per
// kind of identity_jwt setting.
type identityGateway struct {
	url    string
	key    string
	signer *identity.Signer
	mu     sync.Mutex
	seen   []http.Header // what the upstream received
}

func (g *identityGateway) last() http.Header {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.seen) == 0 {
		return nil
	}
	return g.seen[len(g.seen)-1]
}

func (g *identityGateway) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.seen)
}

// newIdentityGateway builds it; withSigner false leaves the pipeline
// without a signer, keyed false gives it a signer without keys.
func newIdentityGateway(t *testing.T, withSigner, keyed bool) *identityGateway {
	t.Helper()
	g := &identityGateway{}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.seen = append(g.seen, r.Header.Clone())
		g.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	k, err := keys.Generate("live")
	if err != nil {
		t.Fatal(err)
	}
	g.key = k.Full
	targets := []domain.Target{{URL: up.URL, Weight: 1}}
	svc := func(id, name string, ij *domain.IdentityJWT) domain.Service {
		return domain.Service{ID: id, TenantID: "t1", Name: name, Targets: targets, IdentityJWT: ij}
	}
	d := &store.Data{
		Tenants:   []domain.Tenant{{ID: "t1", Slug: "acme", Status: domain.StatusActive}},
		Consumers: []domain.Consumer{{ID: "c1", TenantID: "t1", Name: "shop", Status: domain.StatusActive, Scopes: []string{"a", "b"}}},
		Keys:      []domain.APIKey{{ID: k.ID, ConsumerID: "c1", Environment: "live", Hash: keys.Hash(k.Full), Scopes: []string{"a"}}},
		Services: []domain.Service{
			svc("s_on", "orders", &domain.IdentityJWT{Enabled: true, Audience: "https://orders.internal", TTL: domain.Duration(2 * time.Minute)}),
			svc("s_noaud", "billing", &domain.IdentityJWT{Enabled: true}),
			svc("s_off", "catalog", &domain.IdentityJWT{Audience: "catalog"}),
			svc("s_none", "legacy", nil),
		},
		Routes: []domain.Route{
			{ID: "r_on", ServiceID: "s_on", Paths: []string{"/on"}},
			{ID: "r_noaud", ServiceID: "s_noaud", Paths: []string{"/noaud"}},
			{ID: "r_off", ServiceID: "s_off", Paths: []string{"/off"}},
			{ID: "r_none", ServiceID: "s_none", Paths: []string{"/none"}},
		},
	}
	ups := proxy.NewUpstreams(proxy.UpstreamOptions{})
	snap, err := snapshot.Build(d, snapshot.Options{Now: now, Upstreams: ups})
	if err != nil {
		t.Fatal(err)
	}
	var h snapshot.Holder
	h.Store(snap)
	o := Options{Snapshots: &h, Verifiers: []credential.Verifier{apikey.Verifier{}}, Forwarder: proxy.New(proxy.Options{}),
		Calls: &callLog{}, Environment: "live", Clock: clock.NewFake(now), Logger: slog.New(slog.DiscardHandler)}
	if withSigner {
		box, err := secrets.New(bytes.Repeat([]byte{7}, secrets.KeySize))
		if err != nil {
			t.Fatal(err)
		}
		g.signer = identity.New(identity.Options{Box: box, Issuer: "https://gw.example.com", Clock: clock.NewFake(now)})
		if keyed {
			cur, err := identity.NewKey(box, now)
			if err != nil {
				t.Fatal(err)
			}
			g.signer.Sync([]domain.IdentityKey{cur})
		}
		o.Identity = g.signer
	}
	srv := httptest.NewServer(New(o))
	t.Cleanup(srv.Close)
	g.url = srv.URL
	return g
}

func (g *identityGateway) get(t *testing.T, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", g.url+path, nil)
	req.Header.Set("X-API-Key", g.key)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// claimsOf verifies tok against the gateway's JWKS with crypto/ed25519
// alone and returns its claims.
func claimsOf(t *testing.T, jwks []byte, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	var hdr, claims map[string]any
	for i, dst := range []*map[string]any{&hdr, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(raw, dst) != nil {
			t.Fatalf("part %d of %q", i, tok)
		}
	}
	var set struct {
		Keys []struct{ Kid, X string }
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if k.Kid == hdr["kid"] {
			pub, _ := base64.RawURLEncoding.DecodeString(k.X)
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
				t.Fatal("the identity token does not verify")
			}
			return claims
		}
	}
	t.Fatalf("kid %v not in the JWKS %s", hdr["kid"], jwks)
	return nil
}

// TestIdentityHeader: services with identity_jwt enabled get a verifiable
// X-Gatehouse-Identity with the caller's claims and the service's
// audience (its name when none is set); others get none; a client's own
// X-Gatehouse-Identity never reaches any upstream.
func TestIdentityHeader(t *testing.T) {
	g := newIdentityGateway(t, true, true)
	cases := []struct {
		desc      string
		path      string
		wantToken bool
		aud       string
		ttl       int64
	}{
		{"enabled with an audience", "/on", true, "https://orders.internal", 120},
		{"enabled without an audience: the service name", "/noaud", true, "billing", 60},
		{"disabled: no token", "/off", false, "", 0},
		{"not configured: no token", "/none", false, "", 0},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			resp, body := g.get(t, c.path, "X-Gatehouse-Identity", "forged.client.token")
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			got := g.last().Values("X-Gatehouse-Identity")
			if !c.wantToken {
				if len(got) != 0 {
					t.Fatalf("upstream got X-Gatehouse-Identity %q", got)
				}
				return
			}
			if len(got) != 1 || strings.Contains(got[0], "forged") {
				t.Fatalf("upstream got %q, want exactly the gateway's token", got)
			}
			cl := claimsOf(t, g.signer.JWKS(now), got[0])
			want := map[string]any{"iss": "https://gw.example.com", "sub": "c1", "aud": c.aud, "tenant": "acme", "tenant_id": "t1",
				"consumer": "shop", "credential_type": "api_key", "scope": "a"}
			for k, v := range want {
				if cl[k] != v {
					t.Errorf("claim %s = %v, want %v", k, cl[k], v)
				}
			}
			if cl["credential_id"] != g.last().Get("X-Gatehouse-Credential") || cl["credential_id"] == "" {
				t.Errorf("credential_id %v, X-Gatehouse-Credential %q", cl["credential_id"], g.last().Get("X-Gatehouse-Credential"))
			}
			if exp, iat := cl["exp"].(float64), cl["iat"].(float64); int64(exp-iat) != c.ttl || int64(iat) != now.Unix() {
				t.Errorf("iat %v exp %v, want a %d s lifetime from %d", iat, exp, c.ttl, now.Unix())
			}
			// The same caller again: the same token (cached), while the
			// request id changes.
			first := g.last()
			g.get(t, c.path)
			if g.last().Get("X-Gatehouse-Identity") != got[0] || g.last().Get("X-Request-Id") == first.Get("X-Request-Id") {
				t.Errorf("second request: token reused %v, request ids %q %q", g.last().Get("X-Gatehouse-Identity") == got[0],
					first.Get("X-Request-Id"), g.last().Get("X-Request-Id"))
			}
		})
	}
}

// TestIdentityFailsClosed: a service that asks for the token is never
// forwarded without one — no signer, or no usable key, is a 500
// gateway.internal and the upstream is not called.
func TestIdentityFailsClosed(t *testing.T) {
	cases := []struct {
		desc               string
		withSigner, keyed  bool
		path               string
		status, upstreamed int
	}{
		{"no signer", false, false, "/on", 500, 0},
		{"a signer without keys", true, false, "/on", 500, 0},
		{"no signer, a service without identity_jwt: forwarded", false, false, "/none", 200, 1},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			g := newIdentityGateway(t, c.withSigner, c.keyed)
			resp, body := g.get(t, c.path)
			if resp.StatusCode != c.status || g.count() != c.upstreamed {
				t.Fatalf("%d %s, upstream called %d times; want %d and %d", resp.StatusCode, body, g.count(), c.status, c.upstreamed)
			}
			if c.status == 500 && !strings.Contains(body, "gateway.internal") {
				t.Errorf("body %s, want gateway.internal", body)
			}
		})
	}
}

// TestJWKSPath: the proxy listener serves the JWKS under the well-known
// prefix, before any route or credential; without a signer the path is
// not found.
func TestJWKSPath(t *testing.T) {
	cases := []struct {
		desc       string
		withSigner bool
		method     string
		status     int
	}{
		{"GET", true, "GET", 200},
		{"POST is refused", true, "POST", 405},
		{"no signer: not found", false, "GET", 404},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			g := newIdentityGateway(t, c.withSigner, true)
			req, _ := http.NewRequest(c.method, g.url+identity.JWKSPath, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status || resp.Header.Get("X-Request-Id") == "" {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if c.status == 200 && (!bytes.Equal(b, g.signer.JWKS(now)) || resp.Header.Get("Cache-Control") == "") {
				t.Errorf("body %s headers %v", b, resp.Header)
			}
		})
	}
}

// TestIdentityTokenAllocs: a cached token costs the request no allocation.
func TestIdentityTokenAllocs(t *testing.T) {
	g := newIdentityGateway(t, true, true)
	snap, _ := fixture(t)
	c := snap.Consumer("c1")
	svc := &snapshot.Service{Service: domain.Service{ID: "s1", Name: "svc", IdentityJWT: &domain.IdentityJWT{Enabled: true}}}
	p := New(Options{Identity: g.signer})
	st := &state{}
	id := &credential.Identity{CredentialID: "k1", Consumer: c, ScopeHeader: "a"}
	call := &domain.Call{Time: now, CredentialType: "api_key"}
	if _, rerr := p.identityToken(st, svc, id, call); rerr != nil {
		t.Fatal(rerr)
	}
	allocs := testing.AllocsPerRun(200, func() {
		st.trace.Reset()
		if _, rerr := p.identityToken(st, svc, id, call); rerr != nil {
			t.Fatal(rerr)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per cached token, want 0", allocs)
	}
}

// BenchmarkServeIdentity is BenchmarkServeAllowed on a service with
// identity_jwt enabled: the difference is the cached token's lookup.
func BenchmarkServeIdentity(b *testing.B) {
	k, err := keys.Generate("live")
	if err != nil {
		b.Fatal(err)
	}
	d := &store.Data{
		Tenants:   []domain.Tenant{{ID: "t1", Slug: "acme", Status: domain.StatusActive}},
		Consumers: []domain.Consumer{{ID: "c1", TenantID: "t1", Name: "app", Status: domain.StatusActive, Scopes: []string{"a", "b"}}},
		Keys:      []domain.APIKey{{ID: k.ID, ConsumerID: "c1", Environment: "live", Hash: keys.Hash(k.Full)}},
		Services:  []domain.Service{{ID: "s1", TenantID: "t1", Name: "svc", IdentityJWT: &domain.IdentityJWT{Enabled: true}}},
		Routes:    []domain.Route{{ID: "r1", ServiceID: "s1", Paths: []string{"/api"}, Scopes: []string{"a"}}},
	}
	snap, err := snapshot.Build(d, snapshot.Options{Now: now})
	if err != nil {
		b.Fatal(err)
	}
	var h snapshot.Holder
	h.Store(snap)
	box, err := secrets.New(bytes.Repeat([]byte{7}, secrets.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	signer := identity.New(identity.Options{Box: box})
	cur, err := identity.NewKey(box, now)
	if err != nil {
		b.Fatal(err)
	}
	signer.Sync([]domain.IdentityKey{cur})
	p := New(Options{Snapshots: &h, Verifiers: []credential.Verifier{apikey.Verifier{}}, Forwarder: okForwarder{},
		Calls: nopRecorder{}, Environment: "live", Logger: slog.New(slog.DiscardHandler), Clock: clock.NewFake(now), Identity: signer})
	req := httptest.NewRequest("GET", "/api/x", nil)
	req.Header.Set("Authorization", "Bearer "+k.Full)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			p.ServeHTTP(w, req)
		}
	})
}
