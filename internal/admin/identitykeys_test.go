package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/identity"
	"gatehouse/internal/secrets"
	"gatehouse/internal/store"
)

// TestServiceIdentityJWT: the service field identity_jwt on POST, with its
// defaults stored and every validation error naming the field.
func TestServiceIdentityJWT(t *testing.T) {
	e := newEnv(t)
	e.fixture("acme")
	cases := []struct {
		desc   string
		ij     any
		status int
		want   string // the stored identity_jwt as JSON, or a detail fragment
	}{
		{"defaults: enabled, the service's name, 60s", map[string]any{}, 201, `{"enabled":true,"audience":"svc-0","ttl":"1m0s"}`},
		{"every field", map[string]any{"enabled": true, "audience": "https://orders.internal", "ttl": "90s"}, 201,
			`{"enabled":true,"audience":"https://orders.internal","ttl":"1m30s"}`},
		{"disabled keeps its settings", map[string]any{"enabled": false, "ttl": "10s"}, 201, `{"enabled":false,"audience":"svc-2","ttl":"10s"}`},
		{"ttl at the maximum", map[string]any{"ttl": "1h"}, 201, `{"enabled":true,"audience":"svc-3","ttl":"1h0m0s"}`},
		{"none", nil, 201, `null`},
		{"ttl too short", map[string]any{"ttl": "5s"}, 400, `identity_jwt.ttl "5s" must be from 10s to 1h`},
		{"ttl too long", map[string]any{"ttl": "2h"}, 400, `identity_jwt.ttl "2h" must be from 10s to 1h`},
		{"ttl in fractions of a second", map[string]any{"ttl": "30.5s"}, 400, `identity_jwt.ttl "30.5s" must be whole seconds`},
		{"ttl not a duration", map[string]any{"ttl": "soon"}, 400, `identity_jwt.ttl "soon": use Go syntax`},
		{"ttl as a number", map[string]any{"ttl": 60}, 400, `"identity_jwt.ttl" must be a string`},
		{"audience with a space", map[string]any{"audience": "orders api"}, 400, `identity_jwt.audience "orders api" contains whitespace`},
		{"audience too long", map[string]any{"audience": strings.Repeat("a", 257)}, 400, "identity_jwt.audience is 257 characters long; at most 256"},
		{"unknown member", map[string]any{"aud": "x"}, 400, `unknown field "aud"`},
		{"not an object", true, 400, "identity_jwt"},
	}
	for i, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			body := map[string]any{"tenant": "acme", "name": fmt.Sprintf("svc-%d", i), "targets": []string{"http://127.0.0.1:9"}}
			if c.ij != nil {
				body["identity_jwt"] = c.ij
			}
			r := e.do(e.root, "POST", "/admin/v1/services", body)
			if c.status != 201 {
				if d := problemOf(t, r, 400, CodeInvalid); !strings.Contains(d, c.want) {
					t.Fatalf("detail %q lacks %q", d, c.want)
				}
				return
			}
			if r.Status != 201 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			var got struct {
				ID          string          `json:"id"`
				IdentityJWT json.RawMessage `json:"identity_jwt"`
			}
			if err := json.Unmarshal(r.Body, &got); err != nil {
				t.Fatal(err)
			}
			if string(got.IdentityJWT) != c.want && !(c.want == "null" && got.IdentityJWT == nil) {
				t.Errorf("identity_jwt %s, want %s", got.IdentityJWT, c.want)
			}
			stored := e.must(200, "GET", "/admin/v1/services/"+got.ID, nil)
			if !strings.Contains(string(stored.Body), string(got.IdentityJWT)) {
				t.Errorf("GET %s lacks %s", stored.Body, got.IdentityJWT)
			}
		})
	}
}

// TestServiceIdentityJWTPatch: PATCH merges into identity_jwt, null
// removes it, and a rename keeps the stored audience.
func TestServiceIdentityJWTPatch(t *testing.T) {
	e := newEnv(t)
	f := e.fixture("acme")
	path := "/admin/v1/services/" + f.serviceID
	steps := []struct {
		desc string
		body string
		want string
	}{
		{"enable with defaults", `{"identity_jwt":{}}`, `{"enabled":true,"audience":"acme-svc","ttl":"1m0s"}`},
		{"change the ttl only", `{"identity_jwt":{"ttl":"2m"}}`, `{"enabled":true,"audience":"acme-svc","ttl":"2m0s"}`},
		{"disable: the settings stay", `{"identity_jwt":{"enabled":false}}`, `{"enabled":false,"audience":"acme-svc","ttl":"2m0s"}`},
		{"a rename keeps the audience", `{"name":"orders","identity_jwt":{"enabled":true}}`, `{"enabled":true,"audience":"acme-svc","ttl":"2m0s"}`},
		{"an unrelated change keeps it", `{"version":"v2"}`, `{"enabled":true,"audience":"acme-svc","ttl":"2m0s"}`},
		{"null removes it", `{"identity_jwt":null}`, ``},
	}
	for _, s := range steps {
		t.Run(s.desc, func(t *testing.T) {
			r := e.must(200, "PATCH", path, s.body)
			var got struct {
				IdentityJWT json.RawMessage `json:"identity_jwt"`
			}
			if err := json.Unmarshal(r.Body, &got); err != nil {
				t.Fatal(err)
			}
			if string(got.IdentityJWT) != s.want {
				t.Errorf("identity_jwt %s, want %s", got.IdentityJWT, s.want)
			}
		})
	}
	d := problemOf(t, e.do(e.root, "PATCH", path, `{"identity_jwt":{"ttl":"1s"}}`), 400, CodeInvalid)
	if !strings.Contains(d, "identity_jwt.ttl") {
		t.Errorf("detail %q", d)
	}
}

// identityEnv is the admin API over a store whose keys exist, as a
// server's first start leaves them.
func identityEnv(t *testing.T, grace time.Duration) (*testEnv, *secrets.Box) {
	t.Helper()
	e := newEnvWith(t, func(c *Config) { c.IdentityKeyGrace = grace })
	box, err := secrets.New(testMasterKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := identity.EnsureKey(context.Background(), e.store, box, t0); err != nil {
		t.Fatal(err)
	}
	return e, box
}

// secretsOf lists every encoding of the stored keys' private material a
// leak could take.
func secretsOf(t *testing.T, e *testEnv, box *secrets.Box) []string {
	t.Helper()
	var out []string
	err := e.store.View(context.Background(), func(tx store.Tx) error {
		keys, err := tx.(store.IdentityKeyTx).ListIdentityKeys(context.Background())
		for _, k := range keys {
			seed, err := box.Open(k.PrivateKey)
			if err != nil {
				return err
			}
			out = append(out, k.PrivateKey, base64.RawURLEncoding.EncodeToString(seed), base64.StdEncoding.EncodeToString(seed),
				fmt.Sprintf("%x", seed))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIdentityKeyRotation: list and rotate through the API — who may,
// what each answers, the grace default and override, the audit entries,
// and no private material in any answer or audit entry.
func TestIdentityKeyRotation(t *testing.T) {
	e, box := identityEnv(t, 6*time.Hour)
	f := e.fixture("acme")
	_, viewer := e.newAdmin("v", domain.RoleViewer, "")
	_, tadmin := e.newAdmin("ta", domain.RoleTenantAdmin, f.tenantID)
	secretsBefore := secretsOf(t, e, box)
	var answers []string

	lst := e.must(200, "GET", "/admin/v1/identity-keys", nil)
	answers = append(answers, string(lst.Body))
	items := lst.items(t)
	if len(items) != 2 || items[0]["state"] != "current" || items[1]["state"] != "next" || items[0]["published"] != true {
		t.Fatalf("keys %s: want current then next, published", lst.Body)
	}
	cur, next := items[0]["kid"], items[1]["kid"]
	if jwk, _ := items[0]["jwk"].(map[string]any); jwk["kid"] != cur || jwk["kty"] != "OKP" || len(jwk) != 6 {
		t.Errorf("jwk %v", items[0]["jwk"])
	}

	roles := []struct {
		desc, token string
		list, rot   int
	}{
		{"viewer reads, cannot rotate", viewer, 200, 403},
		{"tenant-admin reads, cannot rotate (the key is gateway-wide)", tadmin, 200, 403},
	}
	for _, c := range roles {
		t.Run(c.desc, func(t *testing.T) {
			if r := e.do(c.token, "GET", "/admin/v1/identity-keys", nil); r.Status != c.list {
				t.Errorf("list %d %s", r.Status, r.Body)
			}
			if r := e.do(c.token, "POST", "/admin/v1/identity-keys/rotate", nil); r.Status != c.rot {
				t.Errorf("rotate %d %s", r.Status, r.Body)
			}
		})
	}

	bad := []struct{ desc, body, want string }{
		{"negative grace", `{"grace":"-1h"}`, `grace "-1h" must be from 0s`},
		{"grace beyond 30 days", `{"grace":"31d"}`, `grace "31d" must be from 0s`},
		{"grace shorter than a token can live", `{"grace":"5s"}`, `grace "5s" is shorter than the longest token lifetime (1h)`},
		{"not a duration", `{"grace":"later"}`, `grace "later": use Go syntax`},
		{"unknown member", `{"graze":"1h"}`, `unknown field "graze"`},
	}
	for _, c := range bad {
		t.Run(c.desc, func(t *testing.T) {
			if d := problemOf(t, e.do(e.root, "POST", "/admin/v1/identity-keys/rotate", c.body), 400, CodeInvalid); !strings.Contains(d, c.want) {
				t.Errorf("detail %q lacks %q", d, c.want)
			}
		})
	}

	e.clock.Set(t0.Add(time.Hour))
	rot := e.must(201, "POST", "/admin/v1/identity-keys/rotate", nil)
	answers = append(answers, string(rot.Body))
	var r identityRotation
	if err := json.Unmarshal(rot.Body, &r); err != nil {
		t.Fatal(err)
	}
	if r.Current.KID != next || r.Current.State != "current" || r.Retired == nil || r.Retired.KID != cur || r.Next.State != "next" {
		t.Fatalf("rotation %s: want the next key current and the current one retired", rot.Body)
	}
	if want := t0.Add(7 * time.Hour); !r.Retired.PublishUntil.Equal(want) || !r.Retired.Published {
		t.Errorf("retired until %v (published %v), want the configured 6h grace: %v", r.Retired.PublishUntil, r.Retired.Published, want)
	}
	e.clock.Set(t0.Add(8 * time.Hour))
	lst = e.must(200, "GET", "/admin/v1/identity-keys", nil)
	answers = append(answers, string(lst.Body))
	if items := lst.items(t); len(items) != 3 || items[2]["kid"] != cur || items[2]["state"] != "expired" || items[2]["published"] != false {
		t.Errorf("after the grace: %s", lst.Body)
	}
	rot = e.must(201, "POST", "/admin/v1/identity-keys/rotate", `{"grace":"0s"}`)
	answers = append(answers, string(rot.Body))
	r = identityRotation{}
	if err := json.Unmarshal(rot.Body, &r); err != nil {
		t.Fatal(err)
	}
	if r.Retired != nil || len(r.Deleted) != 3 {
		t.Errorf("rotation with grace 0: %s, want every old key deleted", rot.Body)
	}

	audit := e.auditAll()
	var rotations int
	for _, a := range audit {
		b, _ := json.Marshal(a)
		answers = append(answers, string(b))
		if a["action"] == identity.ActionRotate && a["resource"] == identity.Resource {
			rotations++
		}
	}
	if rotations != 2 {
		t.Errorf("%d rotation audit entries, want 2 (refusals are audited as denials, not rotations)", rotations)
	}
	for _, secret := range append(secretsBefore, secretsOf(t, e, box)...) {
		for _, a := range answers {
			if strings.Contains(a, secret) {
				t.Fatalf("private key material in an answer or audit entry: %s", a)
			}
		}
	}
}
