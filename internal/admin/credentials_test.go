package admin

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gatehouse/internal/domain"
	"gatehouse/internal/secrets"
	"gatehouse/internal/store"
)

func pemOf(t *testing.T, typ string, der []byte) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func pkix(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(t, "PUBLIC KEY", der)
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// testKeys are public keys of every kind, in PEM and JWK form.
type testKeys struct {
	edPEM, edPrivPEM, p256JWK, p384PEM, rsaPEM, rsaPKCS1, rsaShortJWK, privJWK string
}

func newTestKeys(t *testing.T) testKeys {
	t.Helper()
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	privDER, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	ecdh256, _ := p256.PublicKey.ECDH()
	raw := ecdh256.Bytes() // 0x04 ‖ x ‖ y
	p256JWK, _ := json.Marshal(map[string]string{"kty": "EC", "crv": "P-256", "x": b64u(raw[1:33]), "y": b64u(raw[33:])})
	short := make([]byte, 128)
	_, _ = rand.Read(short)
	short[0] |= 0x80
	shortJWK, _ := json.Marshal(map[string]string{"kty": "RSA", "n": b64u(short), "e": "AQAB"})
	privJWK, _ := json.Marshal(map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64u(edPub), "d": b64u(edPriv.Seed())})
	return testKeys{
		edPEM: pkix(t, edPub), edPrivPEM: pemOf(t, "PRIVATE KEY", privDER), p256JWK: string(p256JWK), p384PEM: pkix(t, &p384.PublicKey),
		rsaPEM: pkix(t, &rsaKey.PublicKey), rsaPKCS1: pemOf(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)),
		rsaShortJWK: string(shortJWK), privJWK: string(privJWK),
	}
}

// storedCredential reads a credential straight from the store (secrets
// included, as the snapshot will).
func storedCredential(t *testing.T, e *testEnv, id string) domain.Credential {
	t.Helper()
	var c domain.Credential
	err := e.store.View(context.Background(), func(tx store.Tx) (err error) { c, err = tx.GetCredential(context.Background(), id); return err })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCredentialCreate(t *testing.T) {
	e := newEnv(t)
	e.fixture("acme")
	e.must(201, "POST", "/admin/v1/issuers", map[string]any{"name": "okta", "issuer": "https://okta.example.com/", "jwks_url": "https://okta.example.com/keys"})
	k := newTestKeys(t)
	box, _ := secrets.New(testMasterKey)
	base := func(typ string, kv ...any) map[string]any {
		m := map[string]any{"consumer": "acme/app", "type": typ}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		desc   string
		body   map[string]any
		status int
		want   map[string]any // fields of the answer, or "detail" for a problem
		check  func(t *testing.T, r resp)
	}{
		{"hmac without a public key: a generated secret, shown once", base("hmac", "key_id", "shop-2026"), 201,
			map[string]any{"type": "hmac", "key_id": "shop-2026", "algorithm": "hmac-sha256", "has_secret": true, "status": "active"},
			func(t *testing.T, r resp) {
				secret, err := base64.StdEncoding.DecodeString(r.str(t, "secret"))
				if err != nil || len(secret) != 32 {
					t.Fatalf("secret %q: %v", r.str(t, "secret"), err)
				}
				// The snapshot opens the sealed secret with the master key.
				stored := storedCredential(t, e, r.str(t, "id"))
				if !strings.HasPrefix(stored.Secret, "gs1:"+box.KeyID()+":") {
					t.Fatalf("stored secret %q is not sealed", stored.Secret)
				}
				plain, err := box.Open(stored.Secret)
				if err != nil || !bytes.Equal(plain, secret) {
					t.Fatalf("Open(stored) = %x, %v; the answer said %x", plain, err, secret)
				}
				got := e.must(200, "GET", "/admin/v1/credentials/"+r.str(t, "id"), nil)
				if strings.Contains(string(got.Body), r.str(t, "secret")) || strings.Contains(string(got.Body), "gs1:") {
					t.Fatalf("GET shows the secret: %s", got.Body)
				}
			}},
		{"hmac with an Ed25519 PEM key", base("hmac", "key_id", "ed", "public_key", k.edPEM), 201,
			map[string]any{"algorithm": "ed25519", "has_secret": nil, "secret": nil}, nil},
		{"hmac with an EC P-256 JWK", base("hmac", "key_id", "p256", "public_key", k.p256JWK), 201, map[string]any{"algorithm": "ecdsa-p256-sha256"}, nil},
		{"hmac with an EC P-384 PEM", base("hmac", "key_id", "p384", "public_key", k.p384PEM), 201, map[string]any{"algorithm": "ecdsa-p384-sha384"}, nil},
		{"hmac with an RSA key defaults to rsa-pss-sha512", base("hmac", "key_id", "rsa", "public_key", k.rsaPEM), 201, map[string]any{"algorithm": "rsa-pss-sha512"}, nil},
		{"hmac with a PKCS#1 RSA key and rsa-v1_5-sha256", base("hmac", "key_id", "rsa1", "public_key", k.rsaPKCS1, "algorithm", "rsa-v1_5-sha256"), 201,
			map[string]any{"algorithm": "rsa-v1_5-sha256"}, nil},
		{"a 1024-bit RSA key", base("hmac", "key_id", "x", "public_key", k.rsaShortJWK), 400, map[string]any{"detail": "1024-bit RSA key; at least 2048"}, nil},
		{"a private PEM key is refused", base("hmac", "key_id", "x", "public_key", k.edPrivPEM), 400, map[string]any{"detail": "private key"}, nil},
		{"a private JWK is refused", base("hmac", "key_id", "x", "public_key", k.privJWK), 400, map[string]any{"detail": `private member "d"`}, nil},
		{"an algorithm of another key type", base("hmac", "key_id", "x", "public_key", k.edPEM, "algorithm", "ecdsa-p256-sha256"), 400,
			map[string]any{"detail": `algorithm "ecdsa-p256-sha256" needs an EC P-256 key, but public_key is an Ed25519 key`}, nil},
		{"hmac-sha256 with a public key", base("hmac", "key_id", "x", "public_key", k.edPEM, "algorithm", "hmac-sha256"), 400,
			map[string]any{"detail": "signs with a shared secret"}, nil},
		{"a public-key algorithm without a key", base("hmac", "key_id", "x", "algorithm", "ed25519"), 400, map[string]any{"detail": "needs public_key"}, nil},
		{"an unknown algorithm", base("hmac", "key_id", "x", "algorithm", "hmac-md5"), 400, map[string]any{"detail": "not an RFC 9421 algorithm"}, nil},
		{"a key_id with a space", base("hmac", "key_id", "my key"), 400, map[string]any{"detail": "key_id is required: 1-128 printable"}, nil},
		{"not a key at all", base("hmac", "key_id", "x", "public_key", "ssh-ed25519 AAAA"), 400, map[string]any{"detail": "PEM block"}, nil},
		{"basic: the password is only hashed", base("basic", "username", "shop", "password", "s3cret-passw0rd"), 201,
			map[string]any{"username": "shop", "password": nil, "password_hash": nil},
			func(t *testing.T, r resp) {
				h := storedCredential(t, e, r.str(t, "id")).PasswordHash
				if ok, err := secrets.VerifyPassword(h, []byte("s3cret-passw0rd")); !ok || err != nil {
					t.Fatalf("stored hash %q does not verify: %v", h, err)
				}
			}},
		{"a username with a colon", base("basic", "username", "a:b", "password", "s3cret-passw0rd"), 400, map[string]any{"detail": "without ':'"}, nil},
		{"a short password", base("basic", "username", "u2", "password", "short"), 400, map[string]any{"detail": "password has 5 bytes; use 8 to 1024"}, nil},
		{"jwt binding by subject", base("jwt_binding", "issuer", "okta", "subject", "00u1abc"), 201,
			map[string]any{"claim": "sub", "value": "00u1abc"}, func(t *testing.T, r resp) {
				if !strings.HasPrefix(r.str(t, "issuer"), prefixIssuer) {
					t.Fatalf("issuer %q is not the issuer's id", r.str(t, "issuer"))
				}
			}},
		{"jwt binding by a named claim", base("jwt_binding", "issuer", "okta", "claim", "client_id", "value", "shop-backend"), 201,
			map[string]any{"claim": "client_id", "value": "shop-backend"}, nil},
		{"jwt binding with subject and value", base("jwt_binding", "issuer", "okta", "subject", "a", "value", "b"), 400, map[string]any{"detail": "not both"}, nil},
		{"jwt binding without issuer", base("jwt_binding", "subject", "a"), 400, map[string]any{"detail": "issuer is required"}, nil},
		{"jwt binding to an unknown issuer", base("jwt_binding", "issuer", "auth0", "subject", "a"), 404, map[string]any{"detail": `issuer "auth0" not found`}, nil},
		{"mtls fingerprint is normalised", base("mtls", "fingerprint_sha256", strings.ToUpper(strings.Repeat("ab:", 31)+"ab")), 201,
			map[string]any{"fingerprint_sha256": strings.Repeat("ab", 32)}, nil},
		{"mtls by subject", base("mtls", "subject", "CN=shop,O=Acme"), 201, map[string]any{"subject": "CN=shop,O=Acme"}, nil},
		{"mtls with neither", base("mtls"), 400, map[string]any{"detail": "needs fingerprint_sha256"}, nil},
		{"a short fingerprint", base("mtls", "fingerprint_sha256", "abcd"), 400, map[string]any{"detail": "64 hex digits"}, nil},
		{"a field of another type", base("hmac", "key_id", "x", "username", "u"), 400,
			map[string]any{"detail": "username is a field of basic credentials; a hmac credential takes key_id, algorithm, public_key"}, nil},
		{"api keys have their own endpoint", base("api_key"), 400, map[string]any{"detail": `type "api_key" is not one of`}, nil},
		{"no type", base(""), 400, map[string]any{"detail": "type is required"}, nil},
		{"scopes beyond the consumer's grants", base("mtls", "subject", "CN=x", "scopes", []string{"admin:all"}), 400,
			map[string]any{"detail": "admin:all are not granted to consumer app"}, nil},
		{"default scopes are the consumer's; expiry and IP allow-list", base("mtls", "subject", "CN=y", "expires_in", "30d", "ip_allow", []string{"10.0.0.0/8"}), 201,
			map[string]any{"scopes": []any{"orders:read", "orders:write"}, "expires_at": "2026-12-20T10:00:00Z", "ip_allow": []any{"10.0.0.0/8"}}, nil},
		{"an unknown consumer", map[string]any{"consumer": "acme/ghost", "type": "mtls", "subject": "CN=z"}, 404, map[string]any{"detail": `"ghost"`}, nil},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			r := e.do(e.root, "POST", "/admin/v1/credentials", c.body)
			if c.status != 201 {
				code := map[int]string{400: CodeInvalid, 404: CodeNotFound, 409: CodeConflict}[c.status]
				if d := problemOf(t, r, c.status, code); !strings.Contains(d, c.want["detail"].(string)) {
					t.Fatalf("detail %q lacks %q", d, c.want["detail"])
				}
				return
			}
			if r.Status != 201 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			got := r.JSON(t)
			if !strings.HasPrefix(got["id"].(string), prefixCredential) || got["consumer"] == "" || got["status"] != "active" {
				t.Fatalf("answer %s", r.Body)
			}
			for k, want := range c.want {
				if g, _ := json.Marshal(got[k]); string(g) != mustJSON(want) {
					t.Errorf("%s = %s, want %s", k, g, mustJSON(want))
				}
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestCredentialUniqueness(t *testing.T) {
	e := newEnv(t)
	a := e.fixture("acme")
	e.fixture("globex")
	e.must(201, "POST", "/admin/v1/issuers", map[string]any{"name": "okta", "issuer": "https://okta.example.com/", "jwks_url": "https://okta.example.com/keys"})
	_, globOps := e.newAdmin("globex-ops", domain.RoleTenantAdmin, "globex")
	fp := strings.Repeat("cd", 32)
	cases := []struct {
		desc  string
		first map[string]any
		dup   map[string]any
		says  string
	}{
		{"hmac key_id", map[string]any{"type": "hmac", "key_id": "k1"}, map[string]any{"type": "hmac", "key_id": "k1"}, `key_id "k1"`},
		{"basic username", map[string]any{"type": "basic", "username": "bob", "password": "password-1"},
			map[string]any{"type": "basic", "username": "bob", "password": "password-2"}, `username "bob"`},
		{"jwt binding", map[string]any{"type": "jwt_binding", "issuer": "okta", "subject": "u1"},
			map[string]any{"type": "jwt_binding", "issuer": "okta", "claim": "sub", "value": "u1"}, `claim sub = "u1" of this issuer`},
		{"mtls fingerprint", map[string]any{"type": "mtls", "fingerprint_sha256": fp}, map[string]any{"type": "mtls", "fingerprint_sha256": fp},
			"certificate fingerprint " + fp},
		{"mtls subject", map[string]any{"type": "mtls", "subject": "CN=a"}, map[string]any{"type": "mtls", "subject": "CN=a"}, `subject "CN=a"`},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			c.first["consumer"] = "acme/app"
			first := e.must(201, "POST", "/admin/v1/credentials", c.first).str(t, "id")
			c.dup["consumer"] = "acme/app"
			d := problemOf(t, e.do(e.root, "POST", "/admin/v1/credentials", c.dup), 409, CodeConflict)
			if !strings.Contains(d, c.says) || !strings.Contains(d, first) || !strings.Contains(d, "consumer app") {
				t.Fatalf("detail %q: want %q, the holder %s and its consumer", d, c.says, first)
			}
			// Another tenant's admin learns that it is taken, not by whom.
			c.dup["consumer"] = "globex/app"
			d = problemOf(t, e.do(globOps, "POST", "/admin/v1/credentials", c.dup), 409, CodeConflict)
			if strings.Contains(d, first) || strings.Contains(d, a.consumerID) || !strings.Contains(d, "another tenant") {
				t.Fatalf("detail to another tenant %q", d)
			}
			// Revoking the first frees it.
			e.must(200, "POST", "/admin/v1/credentials/"+first+"/revoke", map[string]any{"reason": "replaced"})
			c.dup["consumer"] = "acme/app"
			e.must(201, "POST", "/admin/v1/credentials", c.dup)
		})
	}
}

func TestCredentialReadListRevoke(t *testing.T) {
	e := newEnv(t)
	e.fixture("acme")
	g := e.fixture("globex")
	e.must(201, "POST", "/admin/v1/issuers", map[string]any{"name": "okta", "issuer": "https://okta.example.com/", "jwks_url": "https://okta.example.com/keys"})
	mk := func(body map[string]any) string {
		return e.must(201, "POST", "/admin/v1/credentials", body).str(t, "id")
	}
	h := mk(map[string]any{"consumer": "acme/app", "type": "hmac", "key_id": "k1"})
	j := mk(map[string]any{"consumer": "acme/app", "type": "jwt_binding", "issuer": "okta", "subject": "s1"})
	m := mk(map[string]any{"consumer": "globex/app", "type": "mtls", "subject": "CN=g"})
	lists := []struct {
		query string
		want  []string
	}{
		{"", []string{h, j, m}},
		{"?type=hmac", []string{h}},
		{"?issuer=okta", []string{j}},
		{"?consumer=globex/app", []string{m}},
		{"?tenant=acme", []string{h, j}},
	}
	for _, l := range lists {
		items := e.must(200, "GET", "/admin/v1/credentials"+l.query, nil).items(t)
		var got []string
		for _, it := range items {
			got = append(got, it["id"].(string))
		}
		if strings.Join(sortedStrings(got), ",") != strings.Join(sortedStrings(l.want), ",") {
			t.Errorf("GET /credentials%s = %v, want %v", l.query, got, l.want)
		}
	}
	problemOf(t, e.do(e.root, "GET", "/admin/v1/credentials?type=api_key", nil), 400, CodeInvalid)
	problemOf(t, e.do(e.root, "GET", "/admin/v1/credentials/crd_nope", nil), 404, CodeNotFound)
	if d := problemOf(t, e.do(e.root, "POST", "/admin/v1/credentials/"+h+"/revoke", nil), 400, CodeInvalid); !strings.Contains(d, "reason is required") {
		t.Fatal(d)
	}
	r := e.must(200, "POST", "/admin/v1/credentials/"+h+"/revoke", map[string]any{"reason": "compromised"})
	if r.str(t, "status") != "revoked" || r.str(t, "revoked_reason") != "compromised" || r.str(t, "revoked_at") != "2026-11-20T10:00:00Z" {
		t.Fatalf("%s", r.Body)
	}
	if d := problemOf(t, e.do(e.root, "POST", "/admin/v1/credentials/"+h+"/revoke", map[string]any{"reason": "x"}), 409, CodeConflict); !strings.Contains(d, "already revoked") {
		t.Fatal(d)
	}
	t.Run("a scope a live credential holds cannot be taken from its consumer", func(t *testing.T) {
		e.must(200, "POST", "/admin/v1/keys/"+g.keyID+"/revoke", map[string]any{"reason": "only the credential holds the scope now"})
		mk(map[string]any{"consumer": g.consumerID, "type": "mtls", "subject": "CN=h", "scopes": []string{"orders:write"}})
		d := problemOf(t, e.do(e.root, "PATCH", "/admin/v1/consumers/"+g.consumerID, map[string]any{"scopes": []string{"orders:read"}}), 409, CodeConflict)
		if !strings.Contains(d, "credential(s) crd_") {
			t.Fatal(d)
		}
	})
	t.Run("a deleted consumer gets no credential", func(t *testing.T) {
		c := e.must(201, "POST", "/admin/v1/consumers", map[string]any{"tenant": "acme", "name": "gone"}).str(t, "id")
		e.must(204, "DELETE", "/admin/v1/consumers/"+c, nil)
		problemOf(t, e.do(e.root, "POST", "/admin/v1/credentials", map[string]any{"consumer": c, "type": "mtls", "subject": "CN=q"}), 409, CodeConflict)
	})
	t.Run("Load gives the snapshot every credential and issuer", func(t *testing.T) {
		d, err := e.store.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Credentials) != 4 || len(d.Issuers) != 1 {
			t.Fatalf("%d credentials, %d issuers", len(d.Credentials), len(d.Issuers))
		}
	})
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func TestIssuers(t *testing.T) {
	e := newEnv(t)
	e.fixture("acme")
	_, ta := e.newAdmin("acme-ops", domain.RoleTenantAdmin, "acme")
	secret48 := strings.Repeat("k", 48)
	cases := []struct {
		desc   string
		body   map[string]any
		status int
		want   map[string]any
	}{
		{"JWKS only: defaults", map[string]any{"name": "okta", "issuer": "https://okta.example.com/", "jwks_url": "https://okta.example.com/keys"}, 201,
			map[string]any{"algorithms": []string{"RS256", "PS256", "ES256", "EdDSA"}, "leeway": "1m0s", "audiences": []string{},
				"has_hs256_secret": false, "has_introspection_client_secret": false}},
		{"every field (Appendix A)", map[string]any{"name": "auth0", "issuer": "https://tenant.auth0.com/", "discovery_url": "https://tenant.auth0.com/.well-known/openid-configuration",
			"introspection_url": "https://tenant.auth0.com/introspect", "introspection_client_id": "gatehouse", "introspection_client_secret": "intro-s3cret",
			"audiences": []string{"api://orders", "api://orders"}, "algorithms": []string{"ES256", "EdDSA"}, "leeway": "30s",
			"required_claims": []string{"sub", "client_id"}, "typ": "at+jwt"}, 201,
			map[string]any{"audiences": []string{"api://orders"}, "algorithms": []string{"ES256", "EdDSA"}, "leeway": "30s",
				"required_claims": []string{"sub", "client_id"}, "typ": "at+jwt", "has_introspection_client_secret": true, "introspection_client_secret": nil}},
		{"an HS256 secret alone allows HS256 only (no keys to check the others with)", map[string]any{"name": "legacy", "issuer": "legacy-app", "hs256_secret": secret48}, 201,
			map[string]any{"algorithms": []string{"HS256"}, "has_hs256_secret": true, "hs256_secret": nil}},
		{"with a key source, an HS256 secret adds HS256", map[string]any{"name": "mixed", "issuer": "mixed-app", "jwks_url": "https://x/k", "hs256_secret": secret48}, 201,
			map[string]any{"algorithms": []string{"RS256", "PS256", "ES256", "EdDSA", "HS256"}, "has_hs256_secret": true}},
		{"an asymmetric algorithm without a key source", map[string]any{"name": "x", "issuer": "x", "hs256_secret": secret48, "algorithms": []string{"HS256", "RS256"}}, 400,
			map[string]any{"detail": "algorithms names RS256, which is checked with the issuer's public keys, but neither jwks_url nor discovery_url is set"}},
		{"a 31-byte HS256 secret", map[string]any{"name": "x", "issuer": "x", "hs256_secret": strings.Repeat("k", 31)}, 400,
			map[string]any{"detail": "hs256_secret has 31 bytes; HS256 needs from 32"}},
		{"HS256 without a secret", map[string]any{"name": "x", "issuer": "x", "jwks_url": "https://x/k", "algorithms": []string{"HS256"}}, 400,
			map[string]any{"detail": "HS256 but hs256_secret is not set"}},
		{"a secret without HS256", map[string]any{"name": "x", "issuer": "x", "jwks_url": "https://x/k", "hs256_secret": secret48, "algorithms": []string{"RS256"}}, 400,
			map[string]any{"detail": "does not name HS256"}},
		{"alg none", map[string]any{"name": "x", "issuer": "x", "jwks_url": "https://x/k", "algorithms": []string{"none"}}, 400,
			map[string]any{"detail": `"none" is never allowed`}},
		{"an unknown alg", map[string]any{"name": "x", "issuer": "x", "jwks_url": "https://x/k", "algorithms": []string{"HS512"}}, 400,
			map[string]any{"detail": `"HS512" is not one of`}},
		{"no way to check tokens", map[string]any{"name": "x", "issuer": "x"}, 400, map[string]any{"detail": "no way to check tokens"}},
		{"introspection without client", map[string]any{"name": "x", "issuer": "x", "introspection_url": "https://x/i"}, 400,
			map[string]any{"detail": "needs introspection_client_id and introspection_client_secret"}},
		{"a JWKS URL with credentials", map[string]any{"name": "x", "issuer": "x", "jwks_url": "https://u:p@x/k"}, 400, map[string]any{"detail": "must not carry credentials"}},
		{"a leeway of an hour", map[string]any{"name": "x", "issuer": "x", "jwks_url": "https://x/k", "leeway": "1h"}, 400, map[string]any{"detail": "between 0s and 10m0s"}},
		{"a taken name", map[string]any{"name": "okta", "issuer": "other", "jwks_url": "https://x/k"}, 409, map[string]any{"detail": `issuer name "okta" is already taken`}},
		{"a taken iss value", map[string]any{"name": "okta2", "issuer": "https://okta.example.com/", "jwks_url": "https://x/k"}, 409,
			map[string]any{"detail": `issuer "https://okta.example.com/" (the iss value) is taken by another issuer`}},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			r := e.do(e.root, "POST", "/admin/v1/issuers", c.body)
			if c.status != 201 {
				code := map[int]string{400: CodeInvalid, 409: CodeConflict}[c.status]
				if d := problemOf(t, r, c.status, code); !strings.Contains(d, c.want["detail"].(string)) {
					t.Fatalf("detail %q lacks %q", d, c.want["detail"])
				}
				return
			}
			if r.Status != 201 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			got := r.JSON(t)
			for k, want := range c.want {
				if g, _ := json.Marshal(got[k]); string(g) != mustJSON(want) {
					t.Errorf("%s = %s, want %s", k, g, mustJSON(want))
				}
			}
		})
	}
	t.Run("PATCH keeps secrets it does not name; null removes one", func(t *testing.T) {
		r := e.must(200, "PATCH", "/admin/v1/issuers/legacy", map[string]any{"audiences": []string{"a"}})
		if r.JSON(t)["has_hs256_secret"] != true {
			t.Fatalf("secret lost: %s", r.Body)
		}
		r = e.must(200, "PATCH", "/admin/v1/issuers/legacy", `{"hs256_secret":null,"jwks_url":"https://legacy.example.com/keys"}`)
		got := r.JSON(t)
		if got["has_hs256_secret"] != false || mustJSON(got["algorithms"]) != `["RS256","PS256","ES256","EdDSA"]` {
			t.Fatalf("%s", r.Body)
		}
		d := problemOf(t, e.do(e.root, "PATCH", "/admin/v1/issuers/legacy", `{"jwks_url":""}`), 400, CodeInvalid)
		if !strings.Contains(d, "no way to check tokens") {
			t.Fatal(d)
		}
	})
	t.Run("roles: everyone reads, only admins change", func(t *testing.T) {
		if r := e.do(ta, "GET", "/admin/v1/issuers/okta", nil); r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if n := len(e.do(ta, "GET", "/admin/v1/issuers", nil).items(t)); n != 4 {
			t.Fatalf("a tenant-admin lists %d issuers", n)
		}
		for _, req := range []struct{ method, path string }{{"POST", "/admin/v1/issuers"}, {"PATCH", "/admin/v1/issuers/okta"}, {"DELETE", "/admin/v1/issuers/okta"}} {
			problemOf(t, e.do(ta, req.method, req.path, map[string]any{"name": "x"}), 403, CodeForbidden)
		}
	})
	t.Run("delete: refused while a live binding uses it", func(t *testing.T) {
		b := e.must(201, "POST", "/admin/v1/credentials", map[string]any{"consumer": "acme/app", "type": "jwt_binding", "issuer": "okta", "subject": "x"}).str(t, "id")
		d := problemOf(t, e.do(e.root, "DELETE", "/admin/v1/issuers/okta", nil), 409, CodeConflict)
		if !strings.Contains(d, b) {
			t.Fatal(d)
		}
		e.must(200, "POST", "/admin/v1/credentials/"+b+"/revoke", map[string]any{"reason": "moving"})
		e.must(204, "DELETE", "/admin/v1/issuers/okta", nil)
		problemOf(t, e.do(e.root, "GET", "/admin/v1/issuers/okta", nil), 404, CodeNotFound)
	})
}

// TestSecretsEncryptedAtRest creates every secret the credential API
// takes and greps the database files, the audit log and every answer for
// them; then opens a stored secret with the wrong master key.
func TestSecretsEncryptedAtRest(t *testing.T) {
	e := newEnv(t)
	e.fixture("acme")
	const (
		hs256    = "hs256-shared-secret-0123456789abcdef"
		intro    = "introspection-client-s3cret"
		password = "basic-passw0rd-9876"
	)
	e.must(201, "POST", "/admin/v1/issuers", map[string]any{"name": "legacy", "issuer": "legacy", "hs256_secret": hs256,
		"introspection_url": "https://legacy.example.com/introspect", "introspection_client_id": "gh", "introspection_client_secret": intro})
	e.must(201, "POST", "/admin/v1/credentials", map[string]any{"consumer": "acme/app", "type": "basic", "username": "shop", "password": password})
	h := e.must(201, "POST", "/admin/v1/credentials", map[string]any{"consumer": "acme/app", "type": "hmac", "key_id": "k1"})
	secretB64 := h.str(t, "secret")
	raw, _ := base64.StdEncoding.DecodeString(secretB64)
	plaintexts := map[string][]byte{"hs256": []byte(hs256), "introspection": []byte(intro), "password": []byte(password),
		"hmac base64": []byte(secretB64), "hmac raw": raw, "hmac hex": []byte(hex.EncodeToString(raw))}

	files, _ := filepath.Glob(filepath.Join(filepath.Dir(e.store.Path()), "*"))
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for name, p := range plaintexts {
			if bytes.Contains(b, p) {
				t.Errorf("the %s secret is in %s in the clear", name, filepath.Base(f))
			}
		}
	}
	answers := string(e.must(200, "GET", "/admin/v1/audit?limit=1000", nil).Body) + fmtAny(e.auditAll()) +
		string(e.must(200, "GET", "/admin/v1/credentials", nil).Body) + string(e.must(200, "GET", "/admin/v1/issuers", nil).Body) +
		string(e.must(200, "GET", "/admin/v1/issuers/legacy", nil).Body)
	for name, p := range plaintexts {
		if strings.Contains(answers, string(p)) {
			t.Errorf("the %s secret appears in the audit log or a read answer", name)
		}
	}
	if strings.Contains(answers, "gs1:") || strings.Contains(answers, "$argon2id$") {
		t.Error("a sealed secret or password hash appears in an answer")
	}

	stored := storedCredential(t, e, h.str(t, "id"))
	wrong, _ := secrets.New(bytes.Repeat([]byte{1}, secrets.KeySize))
	_, err := wrong.Open(stored.Secret)
	right, _ := secrets.New(testMasterKey)
	if !errors.Is(err, secrets.ErrWrongKey) || !strings.Contains(err.Error(), right.KeyID()) || !strings.Contains(err.Error(), wrong.KeyID()) {
		t.Fatalf("opening with the wrong master key: %v", err)
	}
	t.Run("without a master key, secrets are refused, not stored in the clear", func(t *testing.T) {
		e2 := newEnvWith(t, func(c *Config) { c.Secrets = nil })
		e2.fixture("acme")
		d := problemOf(t, e2.do(e2.root, "POST", "/admin/v1/credentials", map[string]any{"consumer": "acme/app", "type": "hmac", "key_id": "k1"}),
			500, CodeInternal)
		if !strings.Contains(d, "no master key") {
			t.Fatal(d)
		}
		e2.must(201, "POST", "/admin/v1/credentials", map[string]any{"consumer": "acme/app", "type": "mtls", "subject": "CN=a"})
	})
}
