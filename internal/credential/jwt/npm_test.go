package jwt

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/credential/jwt/jose"
	"gatehouse/internal/npmtest"
)

// joseVersion is the npm "jose" release the interop test mints with.
const joseVersion = "6.2.18"

type npmKey struct {
	Alg   string         `json:"alg"`
	Gen   int            `json:"gen"`
	Kid   string         `json:"kid"`
	JWK   map[string]any `json:"jwk"`
	Token string         `json:"token"`
}

// npmMint runs testdata/npm/mint.mjs with node, installing jose into the
// git-ignored <repo>/.npm-tests/jwt-jose on first use. Without node the
// test is skipped — except in CI (CI set), where that is a failure.
func npmMint(t *testing.T, req map[string]any) (version string, keys []npmKey) {
	t.Helper()
	node := npmtest.Node(t, "npm jose interop test")
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found at %s: %v", root, err)
	}
	dir := filepath.Join(root, ".npm-tests", "jwt-jose")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "jose", "package.json")); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "jose@"+joseVersion)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm install jose@%s: %v\n%s", joseVersion, err, out)
		}
	}
	// The script runs from dir so that `import 'jose'` resolves there.
	script, err := os.ReadFile("testdata/npm/mint.mjs")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mint.mjs"), script, 0o644); err != nil {
		t.Fatal(err)
	}
	arg, _ := json.Marshal(req)
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "mint.mjs"), string(arg))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node mint.mjs: %v", err)
	}
	var res struct {
		Jose string   `json:"jose"`
		Keys []npmKey `json:"keys"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("mint.mjs output: %v\n%s", err, out)
	}
	return res.Jose, res.Keys
}

// Tokens minted by npm jose (RS256, ES256, EdDSA and RFC 9864's Ed25519)
// verify, with a JWKS built from the JWKs jose exported and served by a
// real server that rotates from generation 0 to generation 1 mid-test.
func TestNpmJoseInterop(t *testing.T) {
	version, keys := npmMint(t, map[string]any{"iss": issIdp, "aud": "api", "sub": "alice", "typ": "at+jwt",
		"iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(), "algs": []string{"RS256", "ES256", "EdDSA", "Ed25519"}, "generations": 2})
	if version != joseVersion || len(keys) != 8 {
		t.Fatalf("jose %s minted %d tokens", version, len(keys))
	}
	gen := func(g int) (ks []*testKey, toks map[string]string) {
		toks = map[string]string{}
		for _, k := range keys {
			if k.Gen == g {
				ks = append(ks, &testKey{kid: k.Kid, jwk: k.JWK})
				toks[k.Alg] = k.Token
			}
		}
		return ks, toks
	}
	old, oldToks := gen(0)
	cur, newToks := gen(1)
	e := newEnv(t, Options{CacheSize: -1}, old...)
	iss := e.issuer(Issuer{Name: "npm", Issuer: issIdp, Audiences: []string{"api"}, Typ: "at+jwt",
		RequiredClaims: []string{"jti", "client_id"}}, true)
	e.b.bind("npm", "sub", "alice")

	check := func(phase string, toks map[string]string, want string) {
		t.Helper()
		var wg sync.WaitGroup
		for alg, tok := range toks {
			for i := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id, r, tr := e.verify(tok)
					if code(r) != want {
						t.Errorf("%s: %s token #%d: %v, want %q\n%s", phase, alg, i, r, want, steps(tr))
						return
					}
					if want == "" && (id.CredentialID != "npm:alice" || id.ScopeHeader != "orders:read") {
						t.Errorf("%s: %s identity %+v", phase, alg, id)
					}
				}()
			}
		}
		wg.Wait()
	}
	check("generation 0", oldToks, "")
	check("generation 1 not yet published, within the refetch interval", newToks, jose.CodeUnknownKid)
	for alg, tok := range oldToks {
		if _, r, _ := e.verify(flip(t, tok)); code(r) != jose.CodeSignatureInvalid {
			t.Errorf("%s token with a flipped bit: %v", alg, r)
		}
	}

	// Rotation: both generations published, then the old one removed.
	e.jwks.set(append(append([]*testKey{}, old...), cur...)...)
	e.clk.Advance(iss.RefetchInterval)
	hits := e.jwks.hits.Load()
	check("generation 1 published", newToks, "")
	if n := e.jwks.hits.Load() - hits; n != 1 {
		t.Errorf("%d refetches for the new kids, want 1", n)
	}
	check("generation 0 still published", oldToks, "")
	e.jwks.set(cur...)
	e.clk.Advance(iss.RefreshInterval)
	if err := e.ring.For(iss).Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("generation 0 removed", oldToks, jose.CodeUnknownKid)
	check("generation 1 after rotation", newToks, "")
	t.Logf("verified tokens of npm jose %s: %s", version, strconv.Itoa(len(keys)))
}
