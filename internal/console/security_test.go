package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/console"
	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// TestSessionFixation: a session id the browser brings is never promoted;
// every login issues a new random id and retires the old one.
func TestSessionFixation(t *testing.T) {
	e := newEnv(t)
	victim := newBrowser(t, e.srv.URL)
	const planted = "attacker-chosen-session-id-0123456789abcdef"
	victim.setCookie("gh_console", planted, "/console/")

	victim.login(e.root)
	first := victim.cookie("gh_console")
	if first == "" || first == planted {
		t.Fatalf("session id after login = %q: the planted id survived login", first)
	}
	if len(first) < 43 {
		t.Errorf("session id %q is shorter than 256 random bits", first)
	}
	attacker := newBrowser(t, e.srv.URL)
	attacker.setCookie("gh_console", planted, "/console/")
	if p := attacker.get("/console/"); p.status != http.StatusSeeOther {
		t.Fatalf("the planted id opens the console: %d", p.status)
	}

	// Logging in again rotates the id and ends the previous session.
	victim.login(e.root)
	second := victim.cookie("gh_console")
	if second == first || second == "" {
		t.Fatalf("second login kept the id %q", second)
	}
	replay := newBrowser(t, e.srv.URL)
	replay.setCookie("gh_console", first, "/console/")
	if p := replay.get("/console/"); p.status != http.StatusSeeOther {
		t.Errorf("the pre-login id still works after re-login: %d", p.status)
	}
	if p := victim.get("/console/"); p.status != http.StatusOK {
		t.Fatalf("the new session does not work: %d", p.status)
	}

	// Logout ends the session server-side, not just in the browser.
	victim.post("/console/logout", form("csrf", victim.csrf("/console/tenants")))
	replay.setCookie("gh_console", second, "/console/")
	if p := replay.get("/console/"); p.status != http.StatusSeeOther {
		t.Errorf("the id still works after logout: %d", p.status)
	}
}

// TestSessionCookieAttributes checks the cookie's flags, plain and behind
// a TLS-terminating proxy (SecureCookies).
func TestSessionCookieAttributes(t *testing.T) {
	for _, c := range []struct {
		desc   string
		secure bool
	}{{"plain HTTP", false}, {"SecureCookies", true}} {
		t.Run(c.desc, func(t *testing.T) {
			e := newEnv(t, func(cfg *console.Config) { cfg.SecureCookies = c.secure })
			b := newBrowser(t, e.srv.URL)
			lp := b.get("/console/login")
			res := b.post("/console/login", form("token", e.root, "login_csrf", find(t, loginCSRFRE, lp.body)))
			var sc *http.Cookie
			for _, ck := range (&http.Response{Header: res.header}).Cookies() {
				if ck.Name == "gh_console" {
					sc = ck
				}
			}
			if sc == nil {
				t.Fatalf("no session cookie: %v", res.header["Set-Cookie"])
			}
			if !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/console/" || sc.Secure != c.secure {
				t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/console/, Secure=%v", sc, c.secure)
			}
		})
	}
}

// TestSessionExpiry: idle and absolute timeouts and the bound on stored
// sessions (the least recently used goes first).
func TestSessionExpiry(t *testing.T) {
	t.Run("idle timeout", func(t *testing.T) {
		e := newEnv(t, func(c *console.Config) { c.IdleTimeout = 10 * time.Minute })
		b := newBrowser(t, e.srv.URL)
		b.login(e.root)
		e.clock.Advance(9 * time.Minute)
		if p := b.get("/console/tenants"); p.status != http.StatusOK {
			t.Fatalf("after 9 idle minutes: %d", p.status)
		}
		e.clock.Advance(10 * time.Minute)
		if p := b.get("/console/tenants"); p.status != http.StatusSeeOther {
			t.Fatalf("after 10 idle minutes: %d", p.status)
		}
	})
	t.Run("absolute timeout", func(t *testing.T) {
		e := newEnv(t, func(c *console.Config) { c.IdleTimeout = time.Hour; c.MaxSessionAge = 2 * time.Hour })
		b := newBrowser(t, e.srv.URL)
		b.login(e.root)
		for range 3 {
			e.clock.Advance(35 * time.Minute)
			if p := b.get("/console/tenants"); p.status != http.StatusOK {
				t.Fatalf("active session expired early: %d", p.status)
			}
		}
		e.clock.Advance(16 * time.Minute)
		if p := b.get("/console/tenants"); p.status != http.StatusSeeOther {
			t.Fatalf("session older than MaxSessionAge still works: %d", p.status)
		}
	})
	t.Run("bounded store", func(t *testing.T) {
		e := newEnv(t, func(c *console.Config) { c.MaxSessions = 2 })
		var bs []*browser
		for range 3 {
			b := newBrowser(t, e.srv.URL)
			b.login(e.root)
			e.clock.Advance(time.Second)
			bs = append(bs, b)
		}
		if p := bs[0].get("/console/tenants"); p.status != http.StatusSeeOther {
			t.Errorf("oldest session survived past MaxSessions: %d", p.status)
		}
		for i, b := range bs[1:] {
			if p := b.get("/console/tenants"); p.status != http.StatusOK {
				t.Errorf("session %d evicted: %d", i+1, p.status)
			}
		}
	})
}

// TestCSRF: every state-changing form needs the session's token, and
// cross-origin submissions are refused before the token is looked at.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t, e.srv.URL)
	tok := b.login(e.root)
	other := newBrowser(t, e.srv.URL)
	otherTok := other.login(e.root)
	if otherTok == tok {
		t.Fatal("two sessions share a CSRF token")
	}
	cases := []struct {
		desc   string
		csrf   string
		hdr    []string
		status int
	}{
		{"no token", "", nil, http.StatusForbidden},
		{"wrong token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil, http.StatusForbidden},
		{"another session's token", otherTok, nil, http.StatusForbidden},
		{"valid token from another site (Sec-Fetch-Site)", tok, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"valid token with a foreign Origin", tok, []string{"Origin", "http://evil.example"}, http.StatusForbidden},
		{"valid token, same origin", tok, []string{"Sec-Fetch-Site", "same-origin"}, http.StatusSeeOther},
	}
	for i, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			slug := "csrf-" + string(rune('a'+i))
			f := form("slug", slug)
			if c.csrf != "" {
				f.Set("csrf", c.csrf)
			}
			p := b.post("/console/tenants", f, c.hdr...)
			if p.status != c.status {
				t.Fatalf("status %d, want %d\n%s", p.status, c.status, p.body)
			}
			created := e.tenantExists(slug)
			if created != (c.status == http.StatusSeeOther) {
				t.Errorf("tenant %s created = %v with status %d", slug, created, p.status)
			}
		})
	}
	t.Run("login form needs its own token", func(t *testing.T) {
		n := newBrowser(t, e.srv.URL)
		if p := n.post("/console/login", form("token", e.root)); p.status != http.StatusForbidden || n.cookie("gh_console") != "" {
			t.Fatalf("login without login_csrf: %d", p.status)
		}
	})
}

func (e *env) tenantExists(slug string) bool {
	var found bool
	_ = e.store.View(context.Background(), func(tx store.Tx) error {
		_, err := tx.GetTenant(context.Background(), slug)
		found = err == nil
		return nil
	})
	return found
}

// TestLoginRateLimit: failed logins from one address are limited (GCRA,
// burst 5); time restores them.
func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t, e.srv.URL)
	lp := b.get("/console/login")
	lc := find(t, loginCSRFRE, lp.body)
	statuses := []int{}
	for range 8 {
		p := b.post("/console/login", form("token", "gha_wrong_token_0000000000000000000000000", "login_csrf", lc))
		statuses = append(statuses, p.status)
		if p.status == http.StatusUnauthorized {
			lc = find(t, loginCSRFRE, p.body)
		}
		if p.status == http.StatusTooManyRequests && p.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	limited := 0
	for i, s := range statuses {
		if s == http.StatusTooManyRequests {
			limited++
			if i < 5 {
				t.Errorf("attempt %d limited before the burst of 5 was spent: %v", i+1, statuses)
			}
		}
	}
	if limited == 0 {
		t.Fatalf("8 failed logins in a row were never limited: %v", statuses)
	}
	// Even the right token is refused while limited…
	if p := b.post("/console/login", form("token", e.root, "login_csrf", lc)); p.status != http.StatusTooManyRequests {
		t.Errorf("right token while limited: %d", p.status)
	}
	// …and accepted once the limit recovers.
	e.clock.Advance(time.Minute)
	lc = find(t, loginCSRFRE, b.get("/console/login").body)
	if p := b.post("/console/login", form("token", e.root, "login_csrf", lc)); p.status != http.StatusSeeOther {
		t.Errorf("right token after a minute: %d", p.status)
	}
}

// xssProbes are stored through every path that accepts free text (and,
// for the consumer's name, which the API refuses, directly in the store,
// as a declared or legacy object could carry it).
const (
	xssName   = `<script>alert(1)</script>`
	xssTenant = `<img src=x onerror=alert(2)>`
	xssReason = `"><script>alert(3)</script>`
	xssPath   = `/x"><script>alert(4)</script>`
)

// seedXSS stores hostile text in every field the console shows.
func (e *env) seedXSS() (consumerID string) {
	e.t.Helper()
	ctx := context.Background()
	ten := e.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "evil", "name": xssTenant})["id"].(string)
	good := e.mustAPI("POST", "/admin/v1/consumers", map[string]any{"tenant": ten, "name": "placeholder"})["id"].(string)
	// Rename it to the hostile name in the store: the API refuses it.
	err := e.store.Update(ctx, func(tx store.Tx) error {
		c, err := tx.GetConsumer(ctx, good)
		if err != nil {
			return err
		}
		c.Name = xssName
		return tx.PutConsumer(ctx, c)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	k := e.mustAPI("POST", "/admin/v1/keys", map[string]any{"consumer": good})["id"].(string)
	e.mustAPI("POST", "/admin/v1/keys/"+k+"/revoke", map[string]any{"reason": xssReason})
	svc := e.mustAPI("POST", "/admin/v1/services", map[string]any{"tenant": ten, "name": "svc", "targets": []string{"http://127.0.0.1:9"}, "approval_required": true})["id"].(string)
	e.mustAPI("POST", "/admin/v1/subscriptions", map[string]any{"consumer": good, "service": svc, "note": xssReason})
	now := e.clock.Now()
	e.insertCalls([]domain.Call{{RequestID: "01JXSS0000000000000000000A", Time: now.Add(-time.Minute), TenantID: ten,
		ConsumerID: good, CredentialID: k, Method: "GET", Path: xssPath, Status: 401, Code: "key.revoked", UserAgent: xssName,
		Trace: []domain.TraceStep{{Stage: "verify", Check: "revoked", Outcome: "fail", Detail: xssReason}}}}, true)
	return good
}

// TestXSSEscapedEverywhere: hostile names, reasons, notes and paths are
// escaped on every page that shows them, and the API's error messages
// that echo a hostile input are escaped too.
func TestXSSEscapedEverywhere(t *testing.T) {
	e := newEnv(t)
	cid := e.seedXSS()
	b := newBrowser(t, e.srv.URL)
	tok := b.login(e.root)
	pages := []struct {
		desc, path string
		shows      string // the escaped form that must be there
	}{
		{"dashboard", "/console/", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"calls", "/console/calls", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"call detail", "/console/calls/01JXSS0000000000000000000A", "&lt;script&gt;alert(3)&lt;/script&gt;"},
		{"consumers", "/console/consumers", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"consumer", "/console/consumers/" + cid, "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"keys", "/console/keys", "&lt;script&gt;alert(3)&lt;/script&gt;"},
		{"tenants", "/console/tenants", "&lt;img src=x onerror=alert(2)&gt;"},
		{"subscriptions", "/console/subscriptions", "&lt;script&gt;alert(3)&lt;/script&gt;"},
		{"audit", "/console/audit", "&lt;img src=x onerror=alert(2)&gt;"},
	}
	for _, p := range pages {
		t.Run(p.desc, func(t *testing.T) {
			r := b.get(p.path)
			if r.status != http.StatusOK {
				t.Fatalf("GET %s: %d", p.path, r.status)
			}
			assertNoRawProbe(t, r.body)
			if !strings.Contains(r.body, p.shows) {
				t.Errorf("GET %s: the escaped probe %q is not shown", p.path, p.shows)
			}
		})
	}
	t.Run("an API refusal echoing the input", func(t *testing.T) {
		r := b.post("/console/consumers", url.Values{"csrf": {tok}, "tenant": {"evil"}, "name": {xssName}})
		if r.status != http.StatusBadRequest {
			t.Fatalf("status %d", r.status)
		}
		assertNoRawProbe(t, r.body)
		if !strings.Contains(r.body, "&lt;script&gt;") {
			t.Errorf("refusal does not show the escaped name:\n%s", r.body)
		}
	})
}

func assertNoRawProbe(t *testing.T, body string) {
	t.Helper()
	for _, raw := range []string{"<script>alert", "<img src=x", `"><script>`} {
		if strings.Contains(body, raw) {
			i := strings.Index(body, raw)
			t.Errorf("raw probe %q in the page: …%s…", raw, body[max(0, i-80):min(len(body), i+80)])
		}
	}
}

// TestRoles: a viewer sees no write forms and its POSTs are refused by the
// admin API (403, audited); a tenant-admin writes in its tenant only.
func TestRoles(t *testing.T) {
	e := newEnv(t)
	s := e.seed()
	viewerTok := e.mustAPI("POST", "/admin/v1/admins", map[string]any{"name": "auditor", "role": "viewer"})["token"].(string)
	taTok := e.mustAPI("POST", "/admin/v1/admins", map[string]any{"name": "shop-admin", "role": "tenant-admin", "tenant": "shop"})["token"].(string)

	viewer := newBrowser(t, e.srv.URL)
	vt := viewer.login(viewerTok)
	ta := newBrowser(t, e.srv.URL)
	tt := ta.login(taTok)

	forms := []struct {
		desc, path, form string // form: an action attribute of a write form on that page
	}{
		{"new tenant", "/console/tenants", `action="/console/tenants"`},
		{"new consumer", "/console/consumers", `action="/console/consumers"`},
		{"key rotate", "/console/keys", `/rotate"`},
		{"key revoke", "/console/keys", `/revoke"`},
		{"new service", "/console/services", `action="/console/services"`},
		{"new route", "/console/routes", `action="/console/routes"`},
		{"approve", "/console/subscriptions", `/approve"`},
		{"new issuer", "/console/issuers", `action="/console/issuers"`},
		{"new admin", "/console/admins", `action="/console/admins"`},
	}
	for _, f := range forms {
		t.Run("viewer sees no form: "+f.desc, func(t *testing.T) {
			p := viewer.get(f.path)
			if p.status != http.StatusOK {
				t.Fatalf("GET %s: %d", f.path, p.status)
			}
			if strings.Contains(p.body, f.form) {
				t.Errorf("viewer's %s page has the write form %s", f.path, f.form)
			}
		})
	}
	taForms := map[string]bool{"new tenant": false, "new consumer": true, "key rotate": true, "new service": true, "new issuer": false, "new admin": false}
	for _, f := range forms {
		want, ok := taForms[f.desc]
		if !ok {
			continue
		}
		t.Run("tenant-admin form: "+f.desc, func(t *testing.T) {
			if got := strings.Contains(ta.get(f.path).body, f.form); got != want {
				t.Errorf("tenant-admin's %s page has %s = %v, want %v", f.path, f.form, got, want)
			}
		})
	}

	posts := []struct {
		desc   string
		b      *browser
		tok    string
		path   string
		form   url.Values
		status int
		detail string
		denied string // audit action that must have been recorded
	}{
		{"viewer creates a tenant", viewer, vt, "/console/tenants", form("slug", "v-made"), 403, "auditor is a viewer", "tenant.create.denied"},
		{"viewer creates a consumer", viewer, vt, "/console/consumers", form("tenant", "shop", "name", "v-made"), 403, "viewer (read-only)", "consumer.create.denied"},
		{"viewer revokes a key", viewer, vt, "/console/keys/" + s.key + "/revoke", form("reason", "x"), 403, "viewer", "key.revoke.denied"},
		{"viewer approves a subscription", viewer, vt, "/console/subscriptions/" + s.sub + "/approve", form(), 403, "viewer", "subscription.approve.denied"},
		{"tenant-admin creates a tenant", ta, tt, "/console/tenants", form("slug", "ta-made"), 403, "needs an admin token", "tenant.create.denied"},
		{"tenant-admin approves another tenant's service", ta, tt, "/console/subscriptions/" + s.sub + "/approve", form(), 403, "", ""},
		{"tenant-admin creates a consumer in its tenant", ta, tt, "/console/consumers", form("tenant", "shop", "name", "ta-made"), 303, "", ""},
	}
	for _, p := range posts {
		t.Run(p.desc, func(t *testing.T) {
			p.form.Set("csrf", p.tok)
			r := p.b.post(p.path, p.form)
			if r.status != p.status {
				t.Fatalf("POST %s: %d, want %d\n%s", p.path, r.status, p.status, r.body)
			}
			if p.detail != "" && !strings.Contains(r.body, p.detail) {
				t.Errorf("refusal lacks %q:\n%s", p.detail, r.body)
			}
			if p.denied != "" {
				es, _, err := e.store.ListAudit(context.Background(), store.ListFilter{Page: store.Page{Limit: 1}})
				if err != nil || len(es) == 0 || es[0].Action != p.denied {
					t.Errorf("last audit entry %v, want %s", es, p.denied)
				}
			}
		})
	}
	if e.tenantExists("v-made") || e.tenantExists("ta-made") {
		t.Error("a refused tenant was created")
	}
	// The subscription is still pending after the refused approvals.
	st, sub := e.apiDo(e.root, "GET", "/admin/v1/subscriptions/"+s.sub, nil)
	if st != 200 || sub["state"] != "pending" {
		t.Errorf("subscription after refused approvals: %d %v", st, sub["state"])
	}
}
