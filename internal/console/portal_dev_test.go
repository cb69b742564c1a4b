package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/admin"
	"gatehouse/internal/clock"
	"gatehouse/internal/console"
	"gatehouse/internal/store"
)

// devWorld is the portal world (consumers A shop/checkout, B
// shop/warehouse, C payments/ledger-app) with a developer account for
// each — dev-a, dev-b, dev-c — and a console tenant-admin of shop, tam.
// The portal runs on a fake clock: every browser here is 127.0.0.1, and
// logins are limited per address, so tests refill the budget between
// logins by advancing it.
type devWorld struct {
	*world
	clock *clock.Fake
}

func newDevWorld(t *testing.T) *devWorld {
	clk := clock.NewFake(time.Now())
	w := newWorld(t, func(c *console.PortalConfig) { c.Clock = clk })
	for _, u := range []struct{ name, consumer string }{{"dev-a", w.a}, {"dev-b", w.b}, {"dev-c", w.c}} {
		w.mustAPI("POST", "/admin/v1/users", map[string]any{"username": u.name, "role": "developer", "consumer": u.consumer, "password": userPassword})
	}
	w.mustAPI("POST", "/admin/v1/users", map[string]any{"username": "tam", "role": "tenant-admin", "tenant": "shop", "password": userPassword})
	return &devWorld{world: w, clock: clk}
}

// refill gives 127.0.0.1 a full login budget again.
func (d *devWorld) refill() { d.clock.Advance(time.Minute) }

// login logs b in as a developer and returns the session's CSRF token.
func (d *devWorld) login(b *browser, username string) string {
	b.t.Helper()
	d.refill()
	return b.devLogin(username, userPassword)
}

// TestPortalDeveloperLogin: a developer logs in to the portal with its
// username and password on a fresh session (a planted id is never
// promoted) in the portal's HttpOnly, SameSite=Strict cookie and gets
// every page a key login gets, for its consumer; every refusal (wrong
// password, unknown or disabled user) says the same; console accounts are
// refused here and developer accounts at the console.
func TestPortalDeveloperLogin(t *testing.T) {
	d := newDevWorld(t)
	base := console.DefaultPortalBase
	d.mustAPI("POST", "/admin/v1/users", map[string]any{"username": "gone", "role": "developer", "consumer": d.a, "password": userPassword})
	d.mustAPI("POST", "/admin/v1/users/gone/disable", nil)

	t.Run("refusals", func(t *testing.T) {
		cases := []struct {
			desc, username, password string
			status                   int
			want                     string
		}{
			{"a wrong password", "dev-a", userPassword + "x", 401, "Unknown username or wrong password."},
			{"an unknown user", "nobody", userPassword, 401, "Unknown username or wrong password."},
			{"a disabled developer with its right password", "gone", userPassword, 401, "Unknown username or wrong password."},
			{"a username with capitals (not a username)", "Dev-A", userPassword, 401, "Unknown username or wrong password."},
			{"a console account with its right password", "tam", userPassword, 403, "This is a console account"},
			{"no password", "dev-a", "", 401, "Enter the password."},
		}
		for _, tc := range cases {
			t.Run(tc.desc, func(t *testing.T) {
				d.refill()
				b := newBrowser(t, d.proxy.URL)
				res := b.portalUserLogin(tc.username, tc.password)
				if res.status != tc.status || !strings.Contains(res.body, tc.want) {
					t.Fatalf("%d (want %d), body lacks %q:\n%s", res.status, tc.status, tc.want, res.body)
				}
				if !strings.Contains(res.body, `value="`+tc.username+`"`) || (tc.password != "" && strings.Contains(res.body, tc.password)) {
					t.Error("the form should keep the username and drop the password")
				}
				if b.cookie("gh_portal") != "" {
					t.Error("a refused login set a session cookie")
				}
			})
		}
	})
	t.Run("the form needs its login token", func(t *testing.T) {
		d.refill()
		b := newBrowser(t, d.proxy.URL)
		if p := b.post(base+"/login", form("username", "dev-a", "password", userPassword)); p.status != http.StatusForbidden || b.cookie("gh_portal") != "" {
			t.Fatalf("%d %s", p.status, p.body)
		}
	})

	d.refill()
	b := newBrowser(t, d.proxy.URL)
	planted := "planted-session-id-000000000000000000000000"
	b.setCookie("gh_portal", planted, base+"/")
	res := b.portalUserLogin("dev-a", userPassword)
	if res.status != http.StatusSeeOther || res.header.Get("Location") != base+"/" {
		t.Fatalf("login: %d %s", res.status, res.body)
	}
	t.Run("a fresh session in the portal's HttpOnly, SameSite=Strict cookie", func(t *testing.T) {
		var set string
		for _, c := range res.header.Values("Set-Cookie") {
			if strings.HasPrefix(c, "gh_portal=") && !strings.HasPrefix(c, "gh_portal=;") {
				set = c
			}
		}
		for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=" + base + "/"} {
			if !strings.Contains(set, want) {
				t.Errorf("session cookie %q lacks %s", set, want)
			}
		}
		if id := b.cookie("gh_portal"); id == "" || id == planted {
			t.Fatalf("session id %q: the planted id was kept", id)
		}
		other := newBrowser(t, d.proxy.URL)
		other.setCookie("gh_portal", planted, base+"/")
		if p := other.get(base + "/"); p.status != http.StatusSeeOther {
			t.Errorf("the planted id opens a session: %d", p.status)
		}
	})
	t.Run("every page of a key login, for its consumer", func(t *testing.T) {
		cases := []struct{ path, want string }{
			{"/", "logged in as dev-a"},
			{"/services", `id="svc-ledger"`},
			{"/keys", d.keyA},
			{"/calls", "Your calls"},
			{"/calls?rejected=1", "Your calls"},
			{"/doctor", "Run the doctor"},
		}
		for _, c := range cases {
			p := b.get(base + c.path)
			if p.status != 200 || !strings.Contains(p.body, c.want) || !strings.Contains(p.body, "checkout") {
				t.Errorf("GET %s: %d, lacks %q or the consumer:\n%s", c.path, p.status, c.want, p.body)
			}
		}
	})
	t.Run("a developer account cannot log in to the console", func(t *testing.T) {
		c := newBrowser(t, d.admin.URL)
		res := c.loginUser("dev-a", userPassword)
		if res.status != http.StatusForbidden || !strings.Contains(res.body, "developer account") {
			t.Fatalf("console login as a developer: %d %s", res.status, res.body)
		}
		if c.cookie("gh_console") != "" {
			t.Error("a developer got a console session")
		}
	})
	t.Run("logout ends the session", func(t *testing.T) {
		csrf := b.csrf(base + "/keys")
		if p := b.post(base+"/logout", form("csrf", csrf)); p.status != http.StatusSeeOther {
			t.Fatalf("logout: %d", p.status)
		}
		if p := b.get(base + "/"); p.status != http.StatusSeeOther {
			t.Errorf("after logout: %d", p.status)
		}
	})
}

// TestPortalDeveloperActs: a developer session does what a key session
// does, for its consumer: requests a subscription and watches its state,
// creates, rotates and revokes its keys, sees its rejected calls with the
// fix, and runs the doctor with one of its keys.
func TestPortalDeveloperActs(t *testing.T) {
	d := newDevWorld(t)
	base := console.DefaultPortalBase
	if st, code := d.call("GET", "/ledger/1", d.secA); st != 403 || code != "subscription.required" {
		t.Fatalf("A's call: %d %s", st, code)
	}
	b := newBrowser(t, d.proxy.URL)
	tok := d.login(b, "dev-a")

	home := b.get(base + "/")
	if !strings.Contains(home.body, "subscription.required") || !strings.Contains(home.body, "/.well-known/gatehouse/errors/subscription.required") {
		t.Fatalf("home lacks the rejected call and its fix:\n%s", home.body)
	}
	if p := b.post(base+"/subscriptions", form("csrf", tok, "service", d.ledger, "note", "checkout needs it")); p.status != http.StatusSeeOther {
		t.Fatalf("subscribe: %d %s", p.status, p.body)
	}
	if p := b.get(base + "/services"); !strings.Contains(p.body, "Access to ledger requested: it is pending") || !strings.Contains(p.body, "pending") {
		t.Fatalf("services after the request:\n%s", p.body)
	}
	if d.subscriptions(d.a) != 1 {
		t.Fatalf("A has %d subscriptions", d.subscriptions(d.a))
	}
	p := b.post(base+"/keys", form("csrf", tok, "name", "laptop"))
	if p.status != http.StatusCreated {
		t.Fatalf("create key: %d %s", p.status, p.body)
	}
	newKey := find(t, secretRE, p.body)
	if st, code := d.call("GET", "/ledger/2", newKey); st != 403 || code != "subscription.pending" {
		t.Fatalf("the new key: %d %s", st, code)
	}
	p = b.post(base+"/doctor", form("csrf", tok, "method", "GET", "path", "/ledger/3", "key", newKey))
	if p.status != 200 || !strings.Contains(p.body, "verdict: subscription.pending") || strings.Contains(p.body, newKey) {
		t.Fatalf("doctor with the new key: %d\n%s", p.status, p.body)
	}
	p = b.post(base+"/doctor", form("csrf", tok, "method", "GET", "path", "/catalog/1"))
	if p.status != 200 || !strings.Contains(p.body, "verdict: auth.missing") {
		t.Fatalf("doctor without a key: %d\n%s", p.status, p.body)
	}
	if p := b.post(base+"/keys/"+d.keyA+"/rotate", form("csrf", tok, "grace", "0s")); p.status != http.StatusCreated {
		t.Fatalf("rotate: %d %s", p.status, p.body)
	}
	if st, code := d.call("GET", "/catalog/1", d.secA); st != 401 || code != "key.rotated" {
		t.Fatalf("rotated key: %d %s", st, code)
	}
	if p := b.post(base+"/keys/"+keyIDOf(t, newKey)+"/revoke", form("csrf", tok, "reason", "lost the laptop")); p.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", p.status, p.body)
	}
	if st, code := d.call("GET", "/catalog/1", newKey); st != 401 || code != "key.revoked" {
		t.Fatalf("revoked key: %d %s", st, code)
	}
	// The session is its account, not a key: it goes on after its
	// consumer's keys stop working.
	if p := b.post(base+"/keys", form("csrf", tok, "name", "next")); p.status != http.StatusCreated {
		t.Fatalf("create after revoking: %d %s", p.status, p.body)
	}
	if p := b.get(base + "/calls?rejected=1"); !strings.Contains(p.body, "key.revoked") || !strings.Contains(p.body, "key.rotated") {
		t.Errorf("rejected calls lack the key lifecycle codes:\n%s", p.body)
	}
}

func keyIDOf(t *testing.T, key string) string {
	t.Helper()
	m := keyIDRE.FindStringSubmatch(key)
	if m == nil {
		t.Fatalf("%q is not a key", key)
	}
	return m[1]
}

// TestPortalDeveloperIsolation: two developers of different consumers
// (of the same tenant, the closest case) logged in at once each see and
// act on their own consumer only, whatever they put in a URL or a form;
// one's CSRF token does not work in the other's session; the doctor does
// not run with another application's working key.
func TestPortalDeveloperIsolation(t *testing.T) {
	d := newDevWorld(t)
	base := console.DefaultPortalBase
	if st, _ := d.call("GET", "/ledger/1", d.secA); st != 403 {
		t.Fatalf("A's call: %d", st)
	}
	if st, _ := d.call("GET", "/catalog/1", d.secB); st != 200 {
		t.Fatalf("B's call: %d", st)
	}
	callOf := func(consumer string) string {
		cs, _, err := d.srv.Store().QueryCalls(context.Background(), store.CallFilter{ConsumerID: consumer})
		if err != nil || len(cs) == 0 {
			t.Fatalf("calls of %s: %v %v", consumer, cs, err)
		}
		return cs[0].RequestID
	}
	callA, callB := callOf(d.a), callOf(d.b)
	ua, ub := newBrowser(t, d.proxy.URL), newBrowser(t, d.proxy.URL)
	tokA, tokB := d.login(ua, "dev-a"), d.login(ub, "dev-b")
	keyActive := func(id string) bool {
		var ok bool
		_ = d.srv.Store().View(context.Background(), func(tx store.Tx) error {
			k, err := tx.GetKey(context.Background(), id)
			ok = err == nil && k.RevokedAt == nil && k.Successor == ""
			return nil
		})
		return ok
	}

	t.Run("each sees its own", func(t *testing.T) {
		cases := []struct {
			desc    string
			b       *browser
			path    string
			has     []string
			hasNot  []string
			consume string
		}{
			{"A's keys", ua, "/keys", []string{d.keyA}, []string{d.keyB, d.keyC}, ""},
			{"B's keys", ub, "/keys", []string{d.keyB}, []string{d.keyA, d.keyC}, ""},
			{"A's calls, whatever the URL says", ua, "/calls?consumer=" + d.b, []string{callA}, []string{callB}, ""},
			{"B's calls, whatever the URL says", ub, "/calls?consumer=" + d.a, []string{callB}, []string{callA}, ""},
			{"A's header", ua, "/", []string{"dev-a · checkout · shop"}, []string{"warehouse"}, ""},
			{"B's header", ub, "/", []string{"dev-b · warehouse · shop"}, []string{"checkout ·"}, ""},
		}
		for _, c := range cases {
			t.Run(c.desc, func(t *testing.T) {
				p := c.b.get(base + c.path)
				if p.status != 200 {
					t.Fatalf("%d", p.status)
				}
				for _, s := range c.has {
					if !strings.Contains(p.body, s) {
						t.Errorf("lacks %q", s)
					}
				}
				for _, s := range c.hasNot {
					if strings.Contains(p.body, s) {
						t.Errorf("shows %q of another consumer", s)
					}
				}
			})
		}
	})

	attempts := []struct {
		desc   string
		b      *browser
		csrf   string
		method string
		path   string
		form   []string
		status int
		check  func() bool
	}{
		{"A revokes B's key", ua, tokA, "POST", "/keys/" + d.keyB + "/revoke", []string{"reason", "x"}, 404, func() bool { return keyActive(d.keyB) }},
		{"B rotates A's key", ub, tokB, "POST", "/keys/" + d.keyA + "/rotate", nil, 404, func() bool { return keyActive(d.keyA) }},
		{"A rotates another tenant's key", ua, tokA, "POST", "/keys/" + d.keyC + "/rotate", nil, 404, func() bool { return keyActive(d.keyC) }},
		{"A reads B's call", ua, tokA, "GET", "/calls/" + callB, nil, 404, nil},
		{"B reads A's call", ub, tokB, "GET", "/calls/" + callA, nil, 404, nil},
		{"A subscribes to another tenant's private service", ua, tokA, "POST", "/subscriptions", []string{"service", d.vault}, 404,
			func() bool { return d.subscriptions(d.a) == 0 }},
		{"A's subscription with B in the form is A's", ua, tokA, "POST", "/subscriptions", []string{"service", d.ledger, "consumer", d.b}, 303,
			func() bool { return d.subscriptions(d.b) == 0 && d.subscriptions(d.a) == 1 }},
		{"B's key with A in the form is B's", ub, tokB, "POST", "/keys", []string{"consumer", d.a, "name", "mine"}, 201,
			func() bool { return d.keys(d.a) == 1 && d.keys(d.b) == 2 }},
		{"B with A's CSRF token", ub, tokA, "POST", "/keys", []string{"name", "forged"}, 403, func() bool { return d.keys(d.b) == 2 }},
		{"A runs the doctor with B's working key", ua, tokA, "POST", "/doctor", []string{"method", "GET", "path", "/catalog/1", "key", d.secB}, 403, nil},
	}
	for _, a := range attempts {
		t.Run(a.desc, func(t *testing.T) {
			var p page
			if a.method == "GET" {
				p = a.b.get(base + a.path)
			} else {
				f := form(a.form...)
				f.Set("csrf", a.csrf)
				p = a.b.post(base+a.path, f)
			}
			if p.status != a.status {
				t.Fatalf("%s %s: %d, want %d\n%s", a.method, a.path, p.status, a.status, p.body)
			}
			if strings.Contains(p.body, d.secB) {
				t.Error("a page shows B's key")
			}
			if a.check != nil && !a.check() {
				t.Errorf("%s %s: state changed outside the consumer", a.method, a.path)
			}
		})
	}
}

// TestPortalSessionEnds: a session ends at its next request once its
// developer account is disabled, its consumer or its tenant suspended (a
// key session too, for its consumer); the next login is refused.
func TestPortalSessionEnds(t *testing.T) {
	d := newDevWorld(t)
	base := console.DefaultPortalBase
	cases := []struct {
		desc    string
		login   func(b *browser) string
		stop    func()
		want    string
		relogin func(b *browser) page
	}{
		{"the developer is disabled", func(b *browser) string { return d.login(b, "dev-a") },
			func() { d.mustAPI("POST", "/admin/v1/users/dev-a/disable", nil) }, "was disabled",
			func(b *browser) page { return b.portalUserLogin("dev-a", userPassword) }},
		{"the developer's consumer is suspended", func(b *browser) string { return d.login(b, "dev-b") },
			func() { d.mustAPI("POST", "/admin/v1/consumers/"+d.b+"/suspend", nil) }, "warehouse is suspended",
			func(b *browser) page { return b.portalUserLogin("dev-b", userPassword) }},
		{"the developer's tenant is suspended", func(b *browser) string { return d.login(b, "dev-c") },
			func() { d.mustAPI("POST", "/admin/v1/tenants/payments/suspend", map[string]any{"reason": "audit"}) }, "tenant payments is suspended",
			func(b *browser) page { return b.portalUserLogin("dev-c", userPassword) }},
		{"a key session's consumer is suspended", func(b *browser) string { return b.portalLogin(d.secA) },
			func() { d.mustAPI("POST", "/admin/v1/consumers/"+d.a+"/suspend", nil) }, "checkout is suspended",
			func(b *browser) page {
				lp := b.get(base + "/login")
				return b.post(base+"/login", form("key", d.secA, "login_csrf", find(t, loginCSRFRE, lp.body)))
			}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			b := newBrowser(t, d.proxy.URL)
			tok := tc.login(b)
			if p := b.get(base + "/keys"); p.status != 200 {
				t.Fatalf("before: %d", p.status)
			}
			tc.stop()
			p := b.get(base + "/keys")
			if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "Logged out") || !strings.Contains(p.body, tc.want) {
				t.Fatalf("after: %d, want 401 saying %q:\n%s", p.status, tc.want, p.body)
			}
			if p := b.get(base + "/"); p.status != http.StatusSeeOther {
				t.Errorf("the session survived: %d", p.status)
			}
			before := d.keys(d.a) + d.keys(d.b) + d.keys(d.c)
			if p := b.post(base+"/keys", form("csrf", tok, "name", "after")); p.status != http.StatusUnauthorized {
				t.Errorf("a change after the end: %d", p.status)
			}
			if after := d.keys(d.a) + d.keys(d.b) + d.keys(d.c); after != before {
				t.Errorf("keys %d → %d after the session ended", before, after)
			}
			d.refill()
			if p := tc.relogin(newBrowser(t, d.proxy.URL)); p.status == http.StatusSeeOther {
				t.Errorf("logged in again: %d", p.status)
			}
		})
	}
}

// TestPortalLoginGuard: the portal's password logins have the console's
// guard, from the same code: a per-username limit over any addresses, a
// per-address limit over any usernames, one budget per username across
// the console and the portal when they share a limiter (as the server
// wires them), and a bound on the password checks running at once.
func TestPortalLoginGuard(t *testing.T) {
	g := newGateway(t)
	shop := g.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "shop"})["id"].(string)
	cid := g.mustAPI("POST", "/admin/v1/consumers", map[string]any{"tenant": shop, "name": "checkout"})["id"].(string)
	for _, u := range []string{"dev", "dev2", "dev3"} {
		g.mustAPI("POST", "/admin/v1/users", map[string]any{"username": u, "role": "developer", "consumer": cid, "password": userPassword})
	}
	token := g.mustAPI("POST", "/admin/v1/admins", map[string]any{"name": "portal-2", "role": "admin"})["token"].(string)
	clk := clock.NewFake(t0)
	shared := console.NewLoginLimiter()
	newPortal := func(verify func(ctx context.Context, username, password string) (store.User, error)) *console.Portal {
		p, err := console.NewPortal(console.PortalConfig{Admin: g.api, Token: token, Proxy: g.srv.Handler(), Store: g.srv.Store(),
			VerifyUser: verify, Clock: clk, Limiter: shared})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	portal := newPortal(nil)
	con, err := console.New(console.Config{Admin: g.api, Store: g.srv.Store(), Clock: clk, Limiter: shared})
	if err != nil {
		t.Fatal(err)
	}
	attempt := func(h http.Handler, base, remote, username, password string) *httptest.ResponseRecorder {
		t.Helper()
		get := httptest.NewRequest(http.MethodGet, base+"/login", nil)
		get.RemoteAddr = remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, get)
		csrf := find(t, loginCSRFRE, rec.Body.String())
		var cookie string
		for _, c := range rec.Result().Cookies() {
			cookie = c.Name + "=" + c.Value
		}
		post := httptest.NewRequest(http.MethodPost, base+"/login",
			strings.NewReader(url.Values{"username": {username}, "password": {password}, "login_csrf": {csrf}}.Encode()))
		post.RemoteAddr = remote
		post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		post.Header.Set("Cookie", cookie)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, post)
		return rec
	}
	pb := console.DefaultPortalBase
	t.Run("per username, from many addresses", func(t *testing.T) {
		var codes []int
		for i := range 7 {
			codes = append(codes, attempt(portal, pb, "10.1.0."+string(rune('1'+i))+":4000", "dev", "wrong password!!").Code)
		}
		if want := []int{401, 401, 401, 401, 401, 429, 429}; !slices.Equal(codes, want) {
			t.Errorf("codes %v, want %v", codes, want)
		}
		rec := attempt(portal, pb, "10.1.0.99:4000", "dev", userPassword)
		if rec.Code != 429 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "for this user") {
			t.Errorf("the right password during the limit: %d %s", rec.Code, rec.Header())
		}
		clk.Advance(time.Minute)
		if rec := attempt(portal, pb, "10.1.0.99:4000", "dev", userPassword); rec.Code != http.StatusSeeOther {
			t.Errorf("after a minute: %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("per address, over many usernames", func(t *testing.T) {
		var codes []int
		for i := range 7 {
			codes = append(codes, attempt(portal, pb, "10.2.0.1:4000", "guess"+string(rune('a'+i)), "wrong password!!").Code)
		}
		if want := []int{401, 401, 401, 401, 401, 429, 429}; !slices.Equal(codes, want) {
			t.Errorf("codes %v, want %v", codes, want)
		}
	})
	t.Run("one budget per username across the console and the portal", func(t *testing.T) {
		clk.Advance(time.Minute)
		var codes []int
		for i := range 3 {
			codes = append(codes, attempt(portal, pb, "10.3.0."+string(rune('1'+i))+":4000", "dev2", "wrong password!!").Code)
		}
		for i := range 3 {
			codes = append(codes, attempt(con, "/console", "10.4.0."+string(rune('1'+i))+":4000", "dev2", "wrong password!!").Code)
		}
		codes = append(codes, attempt(portal, pb, "10.3.0.9:4000", "dev2", userPassword).Code)
		if want := []int{401, 401, 401, 401, 401, 429, 429}; !slices.Equal(codes, want) {
			t.Errorf("codes %v, want %v", codes, want)
		}
	})
	t.Run("at most four password checks at once", func(t *testing.T) {
		clk.Advance(time.Minute)
		entered, release := make(chan struct{}, 8), make(chan struct{})
		st := g.srv.Store()
		slow := newPortal(func(ctx context.Context, username, password string) (store.User, error) {
			entered <- struct{}{}
			<-release
			return admin.VerifyUser(ctx, st, username, password)
		})
		var wg sync.WaitGroup
		codes := make([]int, 4)
		for i := range 4 {
			wg.Go(func() {
				codes[i] = attempt(slow, pb, "10.5.0."+string(rune('1'+i))+":4000", "dev3", userPassword).Code
			})
			<-entered
		}
		rec := attempt(slow, pb, "10.5.0.9:4000", "dev", userPassword)
		close(release)
		wg.Wait()
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
			t.Errorf("a fifth check while four run: %d %v", rec.Code, rec.Header())
		}
		// dev3's budget: a burst of 5, four used.
		if want := []int{303, 303, 303, 303}; !slices.Equal(codes, want) {
			t.Errorf("the four checks: %v, want %v", codes, want)
		}
	})
}

// TestUsersPageDevelopers: a tenant-admin creates and manages its
// tenant's developer accounts on the console's Users page (and no other
// role, no other tenant's consumer: the admin API refuses).
func TestUsersPageDevelopers(t *testing.T) {
	e := newEnv(t)
	shop := e.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "shop"})["id"].(string)
	other := e.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "other"})["id"].(string)
	e.mustAPI("POST", "/admin/v1/consumers", map[string]any{"tenant": shop, "name": "checkout"})
	elsewhere := e.mustAPI("POST", "/admin/v1/consumers", map[string]any{"tenant": other, "name": "app"})["id"].(string)
	tam := e.mustAPI("POST", "/admin/v1/admins", map[string]any{"name": "shop-ops", "role": "tenant-admin", "tenant": "shop"})["token"].(string)
	b := newBrowser(t, e.srv.URL)
	csrf := b.login(tam)
	if p := b.get("/console/users"); !strings.Contains(p.body, "New developer account") || strings.Contains(p.body, "<option>admin</option>") {
		t.Fatalf("a tenant-admin's users page:\n%s", p.body)
	}
	cases := []struct {
		desc   string
		form   url.Values
		status int
		want   string
	}{
		{"a developer for its tenant's consumer", form("csrf", csrf, "username", "dev@shop", "role", "developer", "consumer", "shop/checkout", "password", userPassword),
			http.StatusSeeOther, ""},
		{"a developer for another tenant's consumer", form("csrf", csrf, "username", "dev@other", "role", "developer", "consumer", elsewhere, "password", userPassword),
			http.StatusForbidden, "outside your tenant"},
		{"a console user", form("csrf", csrf, "username", "vee", "role", "viewer", "tenant", "shop", "password", userPassword),
			http.StatusForbidden, "developer accounts"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			res := b.post("/console/users", tc.form)
			if res.status != tc.status || !strings.Contains(res.body, tc.want) {
				t.Fatalf("%d (want %d), lacks %q:\n%s", res.status, tc.status, tc.want, res.body)
			}
		})
	}
	p := b.get("/console/users")
	for _, want := range []string{"<td>dev@shop</td>", "<td>developer</td>", "checkout", "Disable"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("users page lacks %q", want)
		}
	}
	id := e.mustAPI("GET", "/admin/v1/users/dev@shop", nil)["id"].(string)
	if res := b.post("/console/users/"+id+"/disable", form("csrf", csrf)); res.status != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", res.status, res.body)
	}
	if got := e.mustAPI("GET", "/admin/v1/users/"+id, nil)["status"]; got != "disabled" {
		t.Errorf("status %v", got)
	}
}
