package server

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// jwksServer serves one RSA key as a JWKS; it can be switched off.
type jwksServer struct {
	*httptest.Server
	key  *rsa.PrivateKey
	kid  string
	down atomic.Bool
}

func newJWKS(t *testing.T) *jwksServer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	j := &jwksServer{key: k, kid: "k1"}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if j.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		b64 := base64.RawURLEncoding.EncodeToString
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": j.kid, "alg": "RS256", "use": "sig",
			"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes()),
		}}})
	}))
	t.Cleanup(j.Close)
	return j
}

// sign makes an RS256 JWT with the given claims (and kid).
func (j *jwksServer) sign(t *testing.T, kid string, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	in := enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, j.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// JWT bearer tokens from a trusted issuer, mapped to a consumer through a
// jwt_binding, through the real gateway.
func TestJWTRoute(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", []string{"orders:read"}, nil)
	j := newJWKS(t)
	iss := h.mustAdmin("POST", "/admin/v1/issuers", map[string]any{"name": "idp", "issuer": "https://idp.example",
		"jwks_url": j.URL, "audiences": []string{"orders-api"}})["id"].(string)
	h.mustAdmin("POST", "/admin/v1/credentials", map[string]any{"consumer": w.consumer, "type": "jwt_binding",
		"issuer": iss, "subject": "user-1"})
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/jwt"}, "auth": []string{"jwt", "api_key"}})
	now := t0.Unix()
	claims := func(sub string, exp int64) map[string]any {
		return map[string]any{"iss": "https://idp.example", "aud": "orders-api", "sub": sub, "iat": now, "exp": exp, "scope": "orders:read"}
	}
	cases := []struct {
		desc       string
		token      string
		wantStatus int
		wantCode   string
	}{
		{"valid token", j.sign(t, "k1", claims("user-1", now+600)), 200, ""},
		{"no binding for the subject", j.sign(t, "k1", claims("user-2", now+600)), 403, "identity.unmapped"},
		{"expired beyond leeway", j.sign(t, "k1", claims("user-1", now-120)), 401, "jwt.expired"},
		{"signed by an unknown key", j.sign(t, "k9", claims("user-1", now+600)), 401, "jwt.unknown_kid"},
		{"tampered signature", j.sign(t, "k1", claims("user-1", now+600))[:100] + "AAAA" + j.sign(t, "k1", claims("user-1", now+600))[104:], 401, ""},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := h.call("GET", "/jwt/x", bearer(tc.token)...)
			if r.status != tc.wantStatus || (tc.wantCode != "" && r.body["code"] != tc.wantCode) {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if tc.wantStatus == 200 && r.body["consumer"] != "acme-app" {
				t.Fatalf("upstream did not get the identity: %s", r.raw)
			}
			if strings.Contains(r.raw, tc.token) {
				t.Fatal("the token was echoed")
			}
		})
	}
}

// A JWKS endpoint that was never reachable answers 503
// auth.backend_unavailable, not 401: not the caller's fault.
func TestJWTBackendUnavailable(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	j := newJWKS(t)
	j.down.Store(true)
	iss := h.mustAdmin("POST", "/admin/v1/issuers", map[string]any{"name": "idp", "issuer": "https://idp.example", "jwks_url": j.URL})["id"].(string)
	h.mustAdmin("POST", "/admin/v1/credentials", map[string]any{"consumer": w.consumer, "type": "jwt_binding", "issuer": iss, "subject": "u"})
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/jwt"}, "auth": []string{"jwt"}})
	tok := j.sign(t, "k1", map[string]any{"iss": "https://idp.example", "sub": "u", "exp": t0.Unix() + 600})
	r := h.call("GET", "/jwt/x", bearer(tok)...)
	if r.status != 503 || r.body["code"] != "auth.backend_unavailable" {
		t.Fatalf("%d %s", r.status, r.raw)
	}
}

// RFC 9421 signed requests with an hmac credential created through the
// admin API (the generated secret is shown once), through the gateway.
func TestHTTPSignatureRoute(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	cred := h.mustAdmin("POST", "/admin/v1/credentials", map[string]any{"consumer": w.consumer, "type": "hmac", "key_id": "shop-1"})
	secret, err := base64.StdEncoding.DecodeString(cred["secret"].(string))
	if err != nil || len(secret) < 32 {
		t.Fatalf("secret %v %v", cred, err)
	}
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/sig"}, "auth": []string{"http_signature"}})
	host := strings.TrimPrefix(h.proxy, "http://")
	signed := func(created int64, nonce string, key []byte) []string {
		params := fmt.Sprintf(`("@method" "@authority" "@path");created=%d;keyid="shop-1";nonce="%s"`, created, nonce)
		base := "\"@method\": GET\n\"@authority\": " + host + "\n\"@path\": /sig/x\n\"@signature-params\": " + params
		m := hmac.New(sha256.New, key)
		m.Write([]byte(base))
		return []string{"Signature-Input", "sig1=" + params, "Signature", "sig1=:" + base64.StdEncoding.EncodeToString(m.Sum(nil)) + ":"}
	}
	now := t0.Unix()
	cases := []struct {
		desc       string
		hdr        []string
		wantStatus int
		wantCode   string
	}{
		{"valid signature", signed(now, "n1", secret), 200, ""},
		{"the same signature again is a replay", signed(now, "n1", secret), 401, "sig.replayed"},
		{"created ten minutes ago", signed(now-600, "n2", secret), 401, "sig.expired"},
		{"wrong secret", signed(now, "n3", make([]byte, 32)), 401, "sig.invalid"},
		{"no signature at all", nil, 401, "sig.missing"},
		{"a signature and a bearer key", append(signed(now, "n4", secret), "Authorization", "Bearer gk_live_x"), 400, "auth.ambiguous"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := h.call("GET", "/sig/x", tc.hdr...)
			if r.status != tc.wantStatus || (tc.wantCode != "" && r.body["code"] != tc.wantCode) {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if tc.wantStatus == 200 && r.body["consumer"] != "acme-app" {
				t.Fatalf("identity not forwarded: %s", r.raw)
			}
			// Before the signature verified, the caller named the key by
			// its keyid alone: the gateway's credential id is the
			// operator's (§5), and the call record keeps it.
			if tc.wantCode == "sig.invalid" || tc.wantCode == "sig.expired" {
				if strings.Contains(r.raw, cred["id"].(string)) || r.body["credential_id"] != nil {
					t.Errorf("a failed signature's answer names the credential: %s", r.raw)
				}
				if got := h.waitCall(r.header.Get("X-Request-Id"))["credential_id"]; got != cred["id"] {
					t.Errorf("the call record's credential_id is %v, want %v", got, cred["id"])
				}
			}
		})
	}
}

// Opaque tokens checked by RFC 7662 introspection, mapped through a
// jwt_binding; an inactive token is token.inactive; an introspection
// endpoint that fails is auth.backend_unavailable (503), never 401.
func TestIntrospectionRoute(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	down := false
	ep := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if down {
			http.Error(rw, "down", http.StatusBadGateway)
			return
		}
		_ = r.ParseForm()
		rw.Header().Set("Content-Type", "application/json")
		if r.Form.Get("token") == "opaque-good" {
			_ = json.NewEncoder(rw).Encode(map[string]any{"active": true, "sub": "svc-1", "exp": t0.Unix() + 600})
			return
		}
		_ = json.NewEncoder(rw).Encode(map[string]any{"active": false})
	}))
	defer ep.Close()
	iss := h.mustAdmin("POST", "/admin/v1/issuers", map[string]any{"name": "as", "issuer": "https://as.example",
		"introspection_url": ep.URL, "introspection_client_id": "gatehouse", "introspection_client_secret": "s3cret-s3cret-s3cret"})["id"].(string)
	h.mustAdmin("POST", "/admin/v1/credentials", map[string]any{"consumer": w.consumer, "type": "jwt_binding", "issuer": iss, "subject": "svc-1"})
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/opaque"}, "auth": []string{"api_key", "introspection"}})
	cases := []struct {
		desc       string
		token      string
		down       bool
		wantStatus int
		wantCode   string
	}{
		{"active token", "opaque-good", false, 200, ""},
		{"inactive token", "opaque-bad", false, 401, "token.inactive"},
		{"endpoint failing", "opaque-other", true, 503, "auth.backend_unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			down = tc.down
			r := h.call("GET", "/opaque/x", bearer(tc.token)...)
			if r.status != tc.wantStatus || (tc.wantCode != "" && r.body["code"] != tc.wantCode) {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		})
	}
}

// §9: "credential scopes ⊆ consumer's granted scopes" holds for tokens
// too. A token's scope claim is the issuer's word; the jwt_binding that
// maps it to an application bounds it — by the binding's own scopes, else
// the consumer's grants — so a token claiming admin:all gets no further
// than an API key issued with the binding's scopes. A token without a
// scope claim carries the binding's grant. An expired binding binds
// nothing, and says so; the binding's IP allow-list applies as a key's.
func TestJWTScopesAreBoundedByTheBinding(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", []string{"orders:read", "orders:write"}, nil)
	j := newJWKS(t)
	iss := h.mustAdmin("POST", "/admin/v1/issuers", map[string]any{"name": "idp", "issuer": "https://idp.example",
		"jwks_url": j.URL})["id"].(string)
	bind := func(subject string, extra map[string]any) {
		body := map[string]any{"consumer": w.consumer, "type": "jwt_binding", "issuer": iss, "subject": subject}
		for k, v := range extra {
			body[k] = v
		}
		h.mustAdmin("POST", "/admin/v1/credentials", body)
	}
	bind("narrow", map[string]any{"scopes": []string{"orders:read"}})
	bind("wide", nil) // the consumer's grants
	bind("short-lived", map[string]any{"expires_at": t0.Add(time.Hour).Format(time.RFC3339)})
	bind("office", map[string]any{"ip_allow": []string{"10.0.0.0/8"}})
	for path, scopes := range map[string][]string{"/admin": {"admin:all"}, "/write": {"orders:write"}, "/read": {"orders:read"}} {
		h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{path}, "auth": []string{"jwt"}, "scopes": scopes})
	}
	token := func(sub string, scope any) []string {
		c := map[string]any{"iss": "https://idp.example", "sub": sub, "exp": t0.Unix() + 7200}
		if scope != nil {
			c["scope"] = scope
		}
		return bearer(j.sign(t, "k1", c))
	}
	cases := []struct {
		desc, sub string
		scope     any // nil: no scope claim
		path      string
		clock     time.Duration // the gateway's clock past t0
		status    int
		code      string
		upstream  string // X-Gatehouse-Scopes the upstream receives
		detail    string
	}{
		{"a scope the binding does not grant is not granted by the token", "narrow", "orders:write admin:all", "/admin", 0, 403, "scope.insufficient", "", ""},
		{"nor one the consumer has but the binding does not", "narrow", "orders:write", "/write", 0, 403, "scope.insufficient", "", ""},
		{"the granted part of the claim passes, the rest is dropped", "narrow", "orders:read admin:all", "/read", 0, 200, "", "orders:read", ""},
		{"no scope claim: the binding's scopes", "narrow", nil, "/read", 0, 200, "", "orders:read", ""},
		{"no scope claim, a binding without scopes: the consumer's grants", "wide", nil, "/write", 0, 200, "", "orders:read orders:write", ""},
		{"the consumer's grants bound a binding without scopes", "wide", "admin:all", "/admin", 0, 403, "scope.insufficient", "", ""},
		{"an empty scope claim carries nothing", "wide", "", "/read", 0, 403, "scope.insufficient", "", ""},
		{"a binding before its expiry binds", "short-lived", "orders:read", "/read", 0, 200, "", "orders:read", ""},
		{"an expired binding binds nothing, and the detail says why", "short-lived", "orders:read", "/read", 2 * time.Hour, 403, "identity.unmapped", "", "expired at"},
		{"the binding's IP allow-list applies", "office", "orders:read", "/read", 0, 403, "ip.not_allowed", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			h.clock.Set(t0.Add(tc.clock))
			defer h.clock.Set(t0)
			r := h.call("GET", tc.path+"/x", token(tc.sub, tc.scope)...)
			if r.status != tc.status || (tc.code != "" && r.body["code"] != tc.code) {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if tc.status == 200 && r.body["scopes"] != tc.upstream {
				t.Errorf("the upstream got scopes %q, want %q", r.body["scopes"], tc.upstream)
			}
			if tc.detail != "" && !strings.Contains(fmt.Sprint(r.body["detail"]), tc.detail) {
				t.Errorf("detail %q does not say %q", r.body["detail"], tc.detail)
			}
			// A token's scopes come from its issuer: the hint says so, not
			// "create a key".
			if tc.code == "scope.insufficient" && !strings.Contains(fmt.Sprint(r.body["hint"]), "from its issuer") {
				t.Errorf("hint %q", r.body["hint"])
			}
		})
	}
	// A JWT-only route asked without a credential: the hint names what it
	// takes, not an API key.
	if r := h.call("GET", "/read/x"); r.status != 401 || r.body["code"] != "auth.missing" ||
		strings.Contains(fmt.Sprint(r.body["hint"]), "gk_") || !strings.Contains(fmt.Sprint(r.body["hint"]), "JWT") {
		t.Errorf("auth.missing on a JWT route: %d %s", r.status, r.raw)
	}
}
