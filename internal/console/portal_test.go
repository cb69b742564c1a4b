package console_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"gatehouse/internal/console"
	"gatehouse/internal/store"
)

// world is a gateway with two tenants and three consumers:
// A (shop/checkout, the portal user), B (shop/warehouse, same tenant) and
// C (payments/ledger-app, another tenant); a published service needing
// approval (ledger), a private one of payments (vault) and shop's own
// private service (catalog).
type world struct {
	*gateway
	a, b, c          string // consumer ids
	keyA, keyB, keyC string // key ids
	secA, secB       string // key secrets
	ledger, vault    string // service ids
	catalog          string
}

func newWorld(t *testing.T, mods ...func(*console.PortalConfig)) *world {
	g := newGateway(t, mods...)
	w := &world{gateway: g}
	shop := g.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "shop"})["id"].(string)
	pay := g.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "payments"})["id"].(string)
	w.a = g.mustAPI("POST", "/admin/v1/consumers", map[string]any{"tenant": shop, "name": "checkout"})["id"].(string)
	w.b = g.mustAPI("POST", "/admin/v1/consumers", map[string]any{"tenant": shop, "name": "warehouse"})["id"].(string)
	w.c = g.mustAPI("POST", "/admin/v1/consumers", map[string]any{"tenant": pay, "name": "ledger-app"})["id"].(string)
	ka := g.mustAPI("POST", "/admin/v1/keys", map[string]any{"consumer": w.a})
	kb := g.mustAPI("POST", "/admin/v1/keys", map[string]any{"consumer": w.b})
	w.keyA, w.secA = ka["id"].(string), ka["key"].(string)
	w.keyB, w.secB = kb["id"].(string), kb["key"].(string)
	w.keyC = g.mustAPI("POST", "/admin/v1/keys", map[string]any{"consumer": w.c})["id"].(string)
	up := g.upstream.URL
	w.ledger = g.mustAPI("POST", "/admin/v1/services", map[string]any{"tenant": pay, "name": "ledger", "targets": []string{up}, "visibility": "published", "approval_required": true})["id"].(string)
	w.vault = g.mustAPI("POST", "/admin/v1/services", map[string]any{"tenant": pay, "name": "vault", "targets": []string{up}})["id"].(string)
	w.catalog = g.mustAPI("POST", "/admin/v1/services", map[string]any{"tenant": shop, "name": "catalog", "targets": []string{up}})["id"].(string)
	g.mustAPI("POST", "/admin/v1/routes", map[string]any{"service": w.ledger, "paths": []string{"/ledger"}})
	g.mustAPI("POST", "/admin/v1/routes", map[string]any{"service": w.vault, "paths": []string{"/vault"}})
	g.mustAPI("POST", "/admin/v1/routes", map[string]any{"service": w.catalog, "paths": []string{"/catalog"}})
	return w
}

func TestPortalLogin(t *testing.T) {
	w := newWorld(t)
	base := console.DefaultPortalBase
	cases := []struct {
		desc   string
		key    string
		status int
		want   string
	}{
		{"a typo is named by the gateway's own check", typo(w.secA), 401, "key.checksum_mismatch"},
		{"garbage", "not-a-key", 401, "The gateway refused this key"},
		{"no key", "", 401, "Paste one of your"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			b := newBrowser(t, w.proxy.URL)
			lp := b.get(base + "/login")
			p := b.post(base+"/login", form("key", c.key, "login_csrf", find(t, loginCSRFRE, lp.body)))
			if p.status != c.status || !strings.Contains(p.body, c.want) {
				t.Fatalf("status %d (want %d), body lacks %q:\n%s", p.status, c.status, c.want, p.body)
			}
			if b.cookie("gh_portal") != "" {
				t.Error("a refused login set a session cookie")
			}
		})
	}
	t.Run("a working key opens its consumer's portal, on a new session id", func(t *testing.T) {
		b := newBrowser(t, w.proxy.URL)
		b.setCookie("gh_portal", "planted-session-id-000000000000000000000000", base+"/")
		b.portalLogin(w.secA)
		if id := b.cookie("gh_portal"); id == "" || strings.HasPrefix(id, "planted") {
			t.Fatalf("session id after login: %q", id)
		}
		home := b.get(base + "/")
		if home.status != 200 || !strings.Contains(home.body, "checkout") || !strings.Contains(home.body, w.keyA) {
			t.Fatalf("home: %d\n%s", home.status, home.body)
		}
		if strings.Contains(home.body, w.secA) {
			t.Error("the portal page shows the session's key")
		}
	})
	t.Run("login form needs its token", func(t *testing.T) {
		b := newBrowser(t, w.proxy.URL)
		if p := b.post(base+"/login", form("key", w.secA)); p.status != http.StatusForbidden {
			t.Fatalf("status %d", p.status)
		}
	})
}

// TestPortalConfinement: whatever a portal user puts in a URL or a form,
// the portal acts only on the logged-in consumer's keys, calls and
// subscriptions, and only on services it may see.
func TestPortalConfinement(t *testing.T) {
	w := newWorld(t)
	base := console.DefaultPortalBase
	// Calls of A and of B, so both have records.
	if st, code := w.call("GET", "/ledger/1", w.secA); st != 403 || code != "subscription.required" {
		t.Fatalf("A's call: %d %s", st, code)
	}
	if st, _ := w.call("GET", "/catalog/1", w.secB); st != 200 {
		t.Fatalf("B's call: %d", st)
	}
	callOf := func(consumer string) string {
		cs, _, err := w.srv.Store().QueryCalls(context.Background(), store.CallFilter{ConsumerID: consumer})
		if err != nil || len(cs) == 0 {
			t.Fatalf("calls of %s: %v %v", consumer, cs, err)
		}
		return cs[0].RequestID
	}
	callA, callB := callOf(w.a), callOf(w.b)

	u := newBrowser(t, w.proxy.URL)
	tok := u.portalLogin(w.secA)
	keyStatus := func(id string) string {
		var st string
		_ = w.srv.Store().View(context.Background(), func(tx store.Tx) error {
			k, err := tx.GetKey(context.Background(), id)
			st = "active"
			if err != nil {
				st = "missing"
			} else if k.RevokedAt != nil {
				st = "revoked"
			} else if k.Successor != "" {
				st = "rotated"
			}
			return nil
		})
		return st
	}
	attempts := []struct {
		desc   string
		method string
		path   string
		form   []string
		status int
		check  func() bool // what must still hold afterwards
	}{
		{"revoke a key of another consumer of the same tenant", "POST", "/keys/" + w.keyB + "/revoke", []string{"reason", "x"}, 404,
			func() bool { return keyStatus(w.keyB) == "active" }},
		{"rotate a key of another tenant's consumer", "POST", "/keys/" + w.keyC + "/rotate", nil, 404,
			func() bool { return keyStatus(w.keyC) == "active" }},
		{"read another consumer's call", "GET", "/calls/" + callB, nil, 404, nil},
		{"subscribe to another tenant's private service", "POST", "/subscriptions", []string{"service", w.vault}, 404,
			func() bool { return w.subscriptions(w.a) == 0 }},
		{"a consumer field in the form is ignored", "POST", "/subscriptions", []string{"service", w.ledger, "consumer", w.b}, 303,
			func() bool { return w.subscriptions(w.b) == 0 && w.subscriptions(w.a) == 1 }},
		{"a consumer field in the key form is ignored", "POST", "/keys", []string{"consumer", w.b, "name", "mine"}, 201,
			func() bool { return w.keys(w.b) == 1 && w.keys(w.a) == 2 }},
		{"a forged form without the token", "POST", "/keys/" + w.keyA + "/revoke", []string{"csrf", "-"}, 403,
			func() bool { return keyStatus(w.keyA) == "active" }},
	}
	for _, a := range attempts {
		t.Run(a.desc, func(t *testing.T) {
			var p page
			if a.method == "GET" {
				p = u.get(base + a.path)
			} else {
				f := form(a.form...)
				if f.Get("csrf") == "" {
					f.Set("csrf", tok)
				} else {
					f.Del("csrf")
				}
				p = u.post(base+a.path, f)
			}
			if p.status != a.status {
				t.Fatalf("%s %s: %d, want %d\n%s", a.method, a.path, p.status, a.status, p.body)
			}
			if a.check != nil && !a.check() {
				t.Errorf("%s %s: state changed outside the consumer", a.method, a.path)
			}
		})
	}
	t.Run("the calls list is the consumer's whatever the URL says", func(t *testing.T) {
		p := u.get(base + "/calls?consumer=" + w.b)
		if p.status != 200 || !strings.Contains(p.body, callA) || strings.Contains(p.body, callB) {
			t.Fatalf("calls page: %d, has A's %v, has B's %v", p.status, strings.Contains(p.body, callA), strings.Contains(p.body, callB))
		}
	})
	t.Run("own call shows the caller-safe trace and the fix", func(t *testing.T) {
		p := u.get(base + "/calls/" + callA)
		if p.status != 200 || !strings.Contains(p.body, "subscription.required") || !strings.Contains(p.body, "/.well-known/gatehouse/errors/subscription.required") {
			t.Fatalf("own call: %d\n%s", p.status, p.body)
		}
		if strings.Contains(p.body, "operator only") {
			t.Error("the portal shows operator-only trace steps")
		}
	})
	t.Run("services: published and own tenant's only", func(t *testing.T) {
		p := u.get(base + "/services")
		if !strings.Contains(p.body, `id="svc-ledger"`) || !strings.Contains(p.body, `id="svc-catalog"`) || strings.Contains(p.body, `id="svc-vault"`) {
			t.Fatalf("services page:\n%s", p.body)
		}
	})
}

func (w *world) subscriptions(consumer string) int {
	subs, _, err := w.srv.Store().ListSubscriptions(context.Background(), store.ListFilter{ConsumerID: consumer})
	if err != nil {
		w.t.Fatal(err)
	}
	return len(subs)
}

func (w *world) keys(consumer string) int {
	ks, _, err := w.srv.Store().ListKeys(context.Background(), store.ListFilter{ConsumerID: consumer})
	if err != nil {
		w.t.Fatal(err)
	}
	return len(ks)
}

// TestPortalRevokedSessionKey: once the key a session logged in with is
// revoked, the session may still read its calls — and see why they fail —
// but every change is refused.
func TestPortalRevokedSessionKey(t *testing.T) {
	w := newWorld(t)
	base := console.DefaultPortalBase
	u := newBrowser(t, w.proxy.URL)
	tok := u.portalLogin(w.secA)
	w.mustAPI("POST", "/admin/v1/keys/"+w.keyA+"/revoke", map[string]any{"reason": "leaked in CI logs"})
	if st, code := w.call("GET", "/catalog/x", w.secA); st != 401 || code != "key.revoked" {
		t.Fatalf("call with the revoked key: %d %s", st, code)
	}
	home := u.get(base + "/")
	if home.status != 200 || !strings.Contains(home.body, "key.revoked") || !strings.Contains(home.body, "/.well-known/gatehouse/errors/key.revoked") {
		t.Fatalf("home after revocation: %d\n%s", home.status, home.body)
	}
	for _, path := range []string{"/keys", "/subscriptions"} {
		p := u.post(base+path, form("csrf", tok, "service", w.ledger))
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "key.revoked") {
			t.Errorf("POST %s with a revoked session key: %d\n%s", path, p.status, p.body)
		}
	}
	if n := w.keys(w.a); n != 1 {
		t.Errorf("a revoked session minted keys: %d", n)
	}
}

var secretRE = regexp.MustCompile(`id="secret" value="(gk_[^"]+)"`)

// TestPortalRotateOwnKey: rotating the session's own key moves the
// session to the successor, which keeps working once the old key's grace
// is over.
func TestPortalRotateOwnKey(t *testing.T) {
	w := newWorld(t)
	base := console.DefaultPortalBase
	u := newBrowser(t, w.proxy.URL)
	tok := u.portalLogin(w.secA)
	p := u.post(base+"/keys/"+w.keyA+"/rotate", form("csrf", tok, "grace", "0s"))
	if p.status != http.StatusCreated {
		t.Fatalf("rotate: %d\n%s", p.status, p.body)
	}
	succ := find(t, secretRE, p.body)
	if st, _ := w.call("GET", "/catalog/1", succ); st != 200 {
		t.Fatalf("successor key: %d", st)
	}
	if st, code := w.call("GET", "/catalog/1", w.secA); st != 401 || code != "key.rotated" {
		t.Fatalf("old key after a 0s grace: %d %s", st, code)
	}
	// The session acts with the successor: a change is still allowed.
	if p := u.post(base+"/keys", form("csrf", tok, "name", "second")); p.status != http.StatusCreated {
		t.Fatalf("create after rotating the session key: %d\n%s", p.status, p.body)
	}
}

// TestPortalDoctor runs the doctor from the portal against the gateway
// itself: the verdict names the missing subscription, then passes.
func TestPortalDoctor(t *testing.T) {
	w := newWorld(t)
	base := console.DefaultPortalBase
	u := newBrowser(t, w.proxy.URL)
	tok := u.portalLogin(w.secA)
	cases := []struct {
		desc, method, path string
		status             int
		want               string
	}{
		{"own tenant's service passes", "GET", "/catalog/items", 200, "verdict: ok"},
		{"published service without a subscription", "GET", "/ledger/entries", 200, "verdict: subscription.required"},
		{"no route", "POST", "/nowhere", 200, "verdict: route.not_found"},
		{"a path that would leave the gateway", "GET", "//evil.example/x", 400, "single"},
		{"not a path", "GET", "http://evil.example/", 400, "must start with"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			p := u.post(base+"/doctor", form("csrf", tok, "method", c.method, "path", c.path))
			if p.status != c.status || !strings.Contains(p.body, c.want) {
				t.Fatalf("status %d (want %d), lacks %q:\n%s", p.status, c.status, c.want, p.body)
			}
			if strings.Contains(p.body, w.secA) {
				t.Error("the doctor report shows the key")
			}
		})
	}
}

// typo changes one character of a key's secret part.
func typo(key string) string {
	i := len(key) - 12
	c := byte('a')
	if key[i] == 'a' {
		c = 'b'
	}
	return key[:i] + string(c) + key[i+1:]
}
