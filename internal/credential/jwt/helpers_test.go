package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	_ "crypto/sha512" // RS384/512, ES384/512 in signRaw
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/authheader"
	"gatehouse/internal/clock"
	"gatehouse/internal/credential"
	"gatehouse/internal/domain"
	"gatehouse/internal/reason"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/trace"
)

var b64 = base64.RawURLEncoding

// t0 is the fake clock's start: tokens in tests are minted around it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testKey is a signing key with its public JWK.
type testKey struct {
	kid  string
	priv crypto.Signer
	jwk  map[string]any
}

func newRSA(t testing.TB, kid string) *testKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, priv: k, jwk: map[string]any{"kty": "RSA", "kid": kid,
		"n": b64.EncodeToString(k.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())}}
}

func newEC(t testing.TB, kid string, c elliptic.Curve) *testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	size := (c.Params().BitSize + 7) / 8
	x, y := make([]byte, size), make([]byte, size)
	k.X.FillBytes(x)
	k.Y.FillBytes(y)
	return &testKey{kid: kid, priv: k, jwk: map[string]any{"kty": "EC", "kid": kid, "crv": c.Params().Name,
		"x": b64.EncodeToString(x), "y": b64.EncodeToString(y)}}
}

func newEd(t testing.TB, kid string) *testKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, priv: priv, jwk: map[string]any{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64.EncodeToString(pub)}}
}

// withAlg returns a copy of the key whose JWK is restricted to alg.
func (k *testKey) withAlg(alg string) *testKey {
	j := map[string]any{}
	for n, v := range k.jwk {
		j[n] = v
	}
	j["alg"] = alg
	return &testKey{kid: k.kid, priv: k.priv, jwk: j}
}

// signRaw signs input with alg the way a JWS producer does (raw r‖s for
// ECDSA).
func signRaw(t testing.TB, alg string, key any, input string) []byte {
	t.Helper()
	hashOf := func(h crypto.Hash) []byte {
		w := h.New()
		w.Write([]byte(input))
		return w.Sum(nil)
	}
	switch alg {
	case "HS256":
		m := hmac.New(sha256.New, key.([]byte))
		m.Write([]byte(input))
		return m.Sum(nil)
	case "RS256", "RS384", "RS512":
		h := map[string]crypto.Hash{"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512}[alg]
		s, err := rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), h, hashOf(h))
		if err != nil {
			t.Fatal(err)
		}
		return s
	case "PS256":
		s, err := rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, hashOf(crypto.SHA256), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		if err != nil {
			t.Fatal(err)
		}
		return s
	case "ES256", "ES384", "ES512":
		k := key.(*ecdsa.PrivateKey)
		h := map[string]crypto.Hash{"ES256": crypto.SHA256, "ES384": crypto.SHA384, "ES512": crypto.SHA512}[alg]
		r, s, err := ecdsa.Sign(rand.Reader, k, hashOf(h))
		if err != nil {
			t.Fatal(err)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out
	case "EdDSA", "Ed25519":
		return ed25519.Sign(key.(ed25519.PrivateKey), []byte(input))
	}
	t.Fatalf("signRaw: alg %s", alg)
	return nil
}

// mint builds a token from raw header and payload JSON, signed with alg by
// key (nil key: empty signature).
func mint(t testing.TB, header, payload, alg string, key any) string {
	t.Helper()
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	if key == nil {
		return in + "."
	}
	return in + "." + b64.EncodeToString(signRaw(t, alg, key, in))
}

// claims renders a claim set with defaults (iss, aud, sub, exp in an
// hour, iat now) overridden or removed (nil) by over.
func claims(iss string, over map[string]any) string {
	c := map[string]any{"iss": iss, "aud": "api", "sub": "alice", "exp": t0.Add(time.Hour).Unix(), "iat": t0.Unix()}
	for k, v := range over {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	b, _ := json.Marshal(c)
	return string(b)
}

func hdr(alg, kid string) string {
	if kid == "" {
		return `{"alg":"` + alg + `"}`
	}
	return `{"alg":"` + alg + `","kid":"` + kid + `"}`
}

// jwksServer serves a key set and a discovery document that tests can
// change, break and count.
type jwksServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	keys   []*testKey
	status int    // 0: 200
	issuer string // discovery issuer
	hits   atomic.Int64
	disc   atomic.Int64
	block  chan struct{} // when non-nil, JWKS requests wait on it
	seen   chan struct{} // gets a value (if free) on each JWKS request
}

func newJWKSServer(t testing.TB, keys ...*testKey) *jwksServer {
	s := &jwksServer{keys: keys, seen: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		select {
		case s.seen <- struct{}{}:
		default:
		}
		s.mu.Lock()
		block := s.block
		s.mu.Unlock()
		if block != nil {
			<-block
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != 0 {
			w.WriteHeader(s.status)
			return
		}
		set := map[string]any{"keys": jwkList(s.keys)}
		_ = json.NewEncoder(w).Encode(set)
	})
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		s.disc.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": s.issuer, "jwks_uri": s.srv.URL + "/jwks"})
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func jwkList(keys []*testKey) []any {
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = k.jwk
	}
	return out
}

func (s *jwksServer) set(keys ...*testKey) {
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
}

func (s *jwksServer) fail(status int) {
	s.mu.Lock()
	s.status = status
	s.mu.Unlock()
}

// bindings is the test's stand-in for the server's snapshot-backed
// implementation: a map of issuers and of (issuer, claim, value) bindings.
type bindings struct {
	mu       sync.Mutex
	issuers  map[string]*Issuer
	bound    map[[3]string]*credential.TokenBinding
	consumer *snapshot.Consumer
}

func newBindings() *bindings {
	c := &snapshot.Consumer{Consumer: domain.Consumer{ID: "c1", Name: "shop-mobile", Status: domain.StatusActive}}
	return &bindings{issuers: map[string]*Issuer{}, bound: map[[3]string]*credential.TokenBinding{}, consumer: c}
}

func (b *bindings) Issuer(iss string) (*Issuer, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i, ok := b.issuers[iss]
	return i, ok
}

func (b *bindings) Binding(issuer, claim, value string) *credential.TokenBinding {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bound[[3]string{issuer, claim, value}]
}

// testGrant binds to c with a grant that holds every scope the tests'
// tokens claim (TestBindingGrantBoundsTokenScopes covers grants).
func testGrant(c *snapshot.Consumer) *credential.TokenBinding {
	g := []string{"orders:read", "orders:write", "a", "b"}
	return &credential.TokenBinding{CredentialID: "crd_test", Consumer: c, Scopes: g, ScopeHeader: strings.Join(g, " ")}
}

func (b *bindings) add(iss *Issuer) {
	b.mu.Lock()
	b.issuers[iss.Issuer] = iss
	b.mu.Unlock()
}

func (b *bindings) bind(issuer, claim, value string) {
	b.mu.Lock()
	b.bound[[3]string{issuer, claim, value}] = testGrant(b.consumer)
	b.mu.Unlock()
}

// env is a verifier wired to a real JWKS server on loopback and a fake
// clock.
type env struct {
	t    testing.TB
	clk  *clock.Fake
	jwks *jwksServer
	ring *Keyring
	b    *bindings
	v    *Verifier
}

func newEnv(t testing.TB, o Options, keys ...*testKey) *env {
	t.Helper()
	e := &env{t: t, clk: clock.NewFake(t0), jwks: newJWKSServer(t, keys...), b: newBindings()}
	e.ring = NewKeyring(KeyringOptions{Client: e.jwks.srv.Client(), Clock: e.clk, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(e.ring.Close)
	o.Bindings = func(*credential.Input) Bindings { return e.b }
	o.Keyring = e.ring
	e.v = New(o)
	return e
}

// issuer builds and registers an issuer; jwks true points it at the test
// server's key set and waits for the first fetch.
func (e *env) issuer(cfg Issuer, jwks bool) *Issuer {
	e.t.Helper()
	if jwks && cfg.JWKSURL == "" && cfg.DiscoveryURL == "" {
		cfg.JWKSURL = e.jwks.srv.URL + "/jwks"
	}
	iss, err := NewIssuer(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.b.add(iss)
	if ks := e.ring.For(iss); ks != nil {
		// For started the first fetch: wait for that one. Refresh would
		// start a second if the first had already finished, and tests
		// count fetches.
		ks.mu.Lock()
		c := ks.inflight
		ks.mu.Unlock()
		var err error
		switch {
		case c != nil:
			<-c.done
			err = c.err
		case ks.current() == nil:
			err = ks.Refresh(context.Background())
		}
		if err != nil {
			e.t.Fatalf("first fetch: %v", err)
		}
	}
	return iss
}

func (e *env) verify(tok string) (credential.Identity, *reason.Error, *trace.Trace) {
	tr := &trace.Trace{}
	in := &credential.Input{Presented: authheader.Credential{Kind: authheader.Bearer, Scheme: "Bearer", Token: tok, Source: "header"},
		Now: e.clk.Now(), Trace: tr}
	id, rerr := e.v.Verify(in)
	return id, rerr, tr
}

func code(r *reason.Error) string {
	if r == nil {
		return ""
	}
	return r.Code
}

func steps(tr *trace.Trace) string {
	var b strings.Builder
	for _, s := range tr.Steps() {
		b.WriteString(s.Check + " " + s.Outcome + ": " + s.Detail + "\n")
	}
	return b.String()
}
