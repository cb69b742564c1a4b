package jwt

import (
	"crypto/elliptic"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/authheader"
	"gatehouse/internal/credential"
	"gatehouse/internal/credential/apikey"
	"gatehouse/internal/domain"
	"gatehouse/internal/keys"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/store"
	"gatehouse/internal/trace"
)

// staticBindings is a read-only map, as the server's snapshot-backed
// implementation is (no lock on the hot path).
type staticBindings struct {
	issuers map[string]*Issuer
	bound   map[[3]string]*credential.TokenBinding
}

func (s *staticBindings) Issuer(iss string) (*Issuer, bool) { i, ok := s.issuers[iss]; return i, ok }
func (s *staticBindings) Binding(issuer, claim, value string) *credential.TokenBinding {
	return s.bound[[3]string{issuer, claim, value}]
}

// benchVerifier returns a verifier with a fetched key set and a realistic
// access token (RFC 9068 claims) signed with alg.
func benchVerifier(b *testing.B, alg string, cacheSize int) (*Verifier, string, *env) {
	var k *testKey
	switch alg {
	case "RS256":
		k = newRSA(b, "k")
	case "ES256":
		k = newEC(b, "k", elliptic.P256())
	case "EdDSA":
		k = newEd(b, "k")
	}
	e := newEnv(b, Options{}, k)
	iss := e.issuer(Issuer{Name: "idp", Issuer: issIdp, Audiences: []string{"api"}, Typ: "at+jwt"}, true)
	sb := &staticBindings{issuers: map[string]*Issuer{issIdp: iss},
		bound: map[[3]string]*credential.TokenBinding{{"idp", "sub", "alice"}: testGrant(e.b.consumer)}}
	v := New(Options{Bindings: func(*credential.Input) Bindings { return sb }, Keyring: e.ring, CacheSize: cacheSize})
	tok := mint(b, `{"alg":"`+alg+`","kid":"k","typ":"at+jwt"}`, claims(issIdp, map[string]any{
		"client_id": "shop-mobile", "jti": "01JD3V7Q8Z4X2M", "scope": "orders:read orders:write", "exp": t0.Add(24 * time.Hour).Unix()}), alg, k.priv)
	return v, tok, e
}

func runVerify(b *testing.B, v credential.Verifier, in *credential.Input) {
	tr := in.Trace
	if _, r := v.Verify(in); r != nil {
		b.Fatal(r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tr.Reset()
		if _, r := v.Verify(in); r != nil {
			b.Fatal(r)
		}
	}
}

// BenchmarkVerify measures a repeated token (served from the verified-token
// cache: hash + LRU + exp + binding) against a first-seen token (the cache
// disabled, so every iteration parses, selects the key, verifies the
// signature and checks the claims).
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		for _, mode := range []struct {
			name  string
			cache int
		}{{"repeated", 0}, {"first-seen", -1}} {
			b.Run(alg+"/"+mode.name, func(b *testing.B) {
				v, tok, e := benchVerifier(b, alg, mode.cache)
				in := &credential.Input{Presented: authheader.Credential{Kind: authheader.Bearer, Scheme: "Bearer", Token: tok},
					Now: e.clk.Now(), Trace: &trace.Trace{}}
				b.SetBytes(int64(len(tok)))
				runVerify(b, v, in)
			})
		}
	}
}

// BenchmarkAPIKeyBaseline is the API-key verifier on a one-key snapshot:
// the cost a repeated JWT should approach (issue 4: ≥ 0.95×).
func BenchmarkAPIKeyBaseline(b *testing.B) {
	g, err := keys.Generate(keys.EnvLive)
	if err != nil {
		b.Fatal(err)
	}
	sum := hashToken(g.Full)
	snap, err := snapshot.Build(&store.Data{
		Tenants:   []domain.Tenant{{ID: "t1", Slug: "acme", Status: domain.StatusActive}},
		Consumers: []domain.Consumer{{ID: "c1", TenantID: "t1", Name: "shop-mobile", Status: domain.StatusActive}},
		Keys: []domain.APIKey{{ID: g.ID, ConsumerID: "c1", Environment: keys.EnvLive, Hash: hex.EncodeToString(sum[:]),
			Scopes: []string{"orders:read", "orders:write"}}},
	}, snapshot.Options{Now: t0})
	if err != nil {
		b.Fatal(err)
	}
	in := &credential.Input{Snap: snap, Env: keys.EnvLive, Now: t0, Trace: &trace.Trace{},
		Presented: authheader.Credential{Kind: authheader.Bearer, Scheme: "Bearer", Token: g.Full}}
	runVerify(b, apikey.Verifier{}, in)
}

// BenchmarkRejectDots is the 1 MB-of-dots token: refused by length.
func BenchmarkRejectDots(b *testing.B) {
	v := New(Options{Bindings: func(*credential.Input) Bindings { return &staticBindings{} }})
	tok := strings.Repeat(".", 1<<20)
	in := &credential.Input{Presented: authheader.Credential{Kind: authheader.Bearer, Token: tok}, Trace: &trace.Trace{}}
	b.ReportAllocs()
	for b.Loop() {
		in.Trace.Reset()
		if _, r := v.Verify(in); r == nil {
			b.Fatal("accepted")
		}
	}
}
