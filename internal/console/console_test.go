package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// seed creates, through the admin API, a tenant with a consumer, a key, a
// published service needing approval, a route and a pending subscription,
// and writes a few call records. It returns the ids.
type seeded struct {
	tenant, consumer, key, keySecret, service, route, sub string
	calls                                                 []domain.Call
}

func (e *env) seed() seeded {
	e.t.Helper()
	var s seeded
	s.tenant = e.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "shop", "name": "Shop"})["id"].(string)
	owner := e.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "payments"})["id"].(string)
	s.consumer = e.mustAPI("POST", "/admin/v1/consumers", map[string]any{"tenant": s.tenant, "name": "checkout", "scopes": []string{"ledger:read"}})["id"].(string)
	k := e.mustAPI("POST", "/admin/v1/keys", map[string]any{"consumer": s.consumer})
	s.key, s.keySecret = k["id"].(string), k["key"].(string)
	s.service = e.mustAPI("POST", "/admin/v1/services", map[string]any{"tenant": owner, "name": "ledger", "targets": []string{"http://127.0.0.1:9"},
		"visibility": "published", "approval_required": true})["id"].(string)
	s.route = e.mustAPI("POST", "/admin/v1/routes", map[string]any{"service": s.service, "paths": []string{"/ledger"}})["id"].(string)
	s.sub = e.mustAPI("POST", "/admin/v1/subscriptions", map[string]any{"consumer": s.consumer, "service": s.service, "note": "checkout needs it"})["id"].(string)
	now := e.clock.Now()
	s.calls = []domain.Call{
		{RequestID: "01JCALLOK0000000000000000A", Time: now.Add(-3 * time.Minute), RouteID: s.route, ServiceID: s.service, TenantID: owner,
			ConsumerID: s.consumer, CredentialID: s.key, CredentialType: "api_key", Method: "GET", Path: "/ledger/1", Status: 200, LatencyMicros: 1800},
		{RequestID: "01JCALLREJ000000000000000B", Time: now.Add(-2 * time.Minute), RouteID: s.route, ServiceID: s.service, TenantID: owner,
			ConsumerID: s.consumer, CredentialID: s.key, CredentialType: "api_key", Method: "GET", Path: "/ledger/2", Status: 403,
			Code: "subscription.pending", LatencyMicros: 90, Trace: []domain.TraceStep{
				{Stage: "route", Check: "match", Outcome: "pass", Detail: "/ledger"},
				{Stage: "verify", Check: "key", Outcome: "pass", Detail: "secret matches"},
				{Stage: "authorize", Check: "subscription", Outcome: "fail", Detail: "subscription is pending approval"},
				{Stage: "authorize", Check: "approvers", Outcome: "skip", Detail: "payments admins decide", Private: true},
			}},
	}
	e.insertCalls(s.calls, true)
	return s
}

// TestPagesRender logs in as the bootstrap admin and reads every console
// page: each answers 200 and shows the seeded objects by name.
func TestPagesRender(t *testing.T) {
	e := newEnv(t)
	s := e.seed()
	b := newBrowser(t, e.srv.URL)
	b.login(e.root)
	cases := []struct {
		desc, path string
		want       []string
	}{
		{"dashboard counts the seeded calls from the rollups", "/console/", []string{`id="stat-total">2<`, "subscription.pending", "checkout", `id="chart-data"`, "From call statistics"}},
		{"dashboard with another window", "/console/dashboard?window=24h", []string{`id="stat-rejected">1<`, `hx-get="/console/dashboard/trends?window=24h"`}},
		{"dashboard trends fragment", "/console/dashboard/trends?window=1h", []string{"Top failing consumers over time", `id="chart-failing"`, `&#34;label&#34;:&#34;checkout&#34;`, `&#34;label&#34;:&#34;subscription.pending&#34;`}},
		{"calls list", "/console/calls", []string{"01JCALLREJ000000000000000B", "/ledger/2", "subscription.pending"}},
		{"calls filtered by reason", "/console/calls?reason=subscription.pending", []string{"01JCALLREJ000000000000000B"}},
		{"calls live tail has the htmx poll", "/console/calls?live=1", []string{`hx-trigger="every 2s"`, `hx-get="/console/calls/rows?`}},
		{"calls rows fragment", "/console/calls/rows", []string{"01JCALLOK0000000000000000A"}},
		{"call detail renders the trace as a checklist", "/console/calls/01JCALLREJ000000000000000B",
			[]string{"✗", "✓", "subscription is pending approval", "operator only", "Rejected", "/console/errors/subscription.pending"}},
		{"tenants", "/console/tenants", []string{"shop", "payments", "New tenant"}},
		{"consumers", "/console/consumers", []string{"checkout", "New consumer"}},
		{"consumer detail", "/console/consumers/" + s.consumer, []string{"checkout", s.key, "01JCALLREJ000000000000000B"}},
		{"keys", "/console/keys", []string{s.key, "Rotate", "Revoke"}},
		{"credentials", "/console/credentials", []string{"New credential"}},
		{"services", "/console/services", []string{"ledger", "http://127.0.0.1:9"}},
		{"routes", "/console/routes", []string{"/ledger", s.route}},
		{"subscriptions inbox", "/console/subscriptions", []string{"Approval inbox", "1 pending", "checkout needs it", "Approve", "Reject"}},
		{"issuers", "/console/issuers", []string{"Trust an issuer"}},
		{"admins", "/console/admins", []string{"bootstrap", "you"}},
		{"alerts", "/console/alerts", []string{"Alerts"}},
		{"audit", "/console/audit", []string{"subscription.request", "key.create"}},
		{"error doc", "/console/errors/key.revoked", []string{"key.revoked"}},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			p := b.get(c.path)
			if p.status != http.StatusOK {
				t.Fatalf("GET %s: %d\n%s", c.path, p.status, p.body)
			}
			for _, w := range c.want {
				if !strings.Contains(p.body, w) {
					t.Errorf("GET %s: missing %q", c.path, w)
				}
			}
			if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") && !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("GET %s: CSP %q", c.path, csp)
			}
		})
	}
}

// TestActionsGoThroughTheAPI drives every kind of console form and checks
// the result in the store and the audit log: the console's actions are
// the admin API's, audited under the logged-in admin.
func TestActionsGoThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	s := e.seed()
	b := newBrowser(t, e.srv.URL)
	tok := b.login(e.root)
	ctx := context.Background()

	steps := []struct {
		desc   string
		path   string
		form   url.Values
		status int
		want   string // in the answer (the secret page) or in the flash after the redirect
		action string // the audit entry it must have written
	}{
		{"create a tenant", "/console/tenants", form("slug", "logistics", "name", "Logistics"), 303, "Tenant logistics created", "tenant.create"},
		{"create a consumer", "/console/consumers", form("tenant", "logistics", "name", "tracker", "scopes", "a:read, b:read"), 303, "Consumer tracker created", "consumer.create"},
		{"create a key shows it once", "/console/keys", form("consumer", "logistics/tracker", "expires_in", "30d"), 201, "gk_live_", "key.create"},
		{"rotate a key shows the successor", "/console/keys/" + s.key + "/rotate", form("grace", "1h"), 201, "keeps working until its grace period ends", "key.rotate"},
		{"revoke a key with a reason", "/console/keys/" + s.key + "/revoke", form("reason", "leaked in a log"), 303, "revoked", "key.revoke"},
		{"create a service", "/console/services", form("tenant", "logistics", "name", "parcels", "targets", "http://10.1.1.1:80", "visibility", "published"), 303, "Service parcels created", "service.create"},
		{"create a route", "/console/routes", form("service", "parcels", "paths", "/parcels", "methods", "get,post", "auth", "api_key", "auth", "jwt"), 303, "created for /parcels", "route.create"},
		{"approve in the inbox", "/console/subscriptions/" + s.sub + "/approve", form("note", "ok for Q4"), 303, "approved", "subscription.approve"},
		{"create an admin shows the token once", "/console/admins", form("name", "ops-viewer", "role", "viewer"), 201, "gha_", "admin.create"},
		{"create a basic credential", "/console/credentials", form("consumer", "logistics/tracker", "type", "basic", "username", "tracker", "password", "correct horse battery staple"), 303, "(basic) created", "credential.create"},
		{"trust an issuer", "/console/issuers", form("name", "corp", "issuer", "https://idp.example/", "jwks_url", "https://idp.example/jwks"), 303, "Issuer corp trusted", "issuer.create"},
		{"suspend a tenant", "/console/tenants/logistics/suspend", form(), 303, "now suspended", "tenant.suspend"},
		{"a refused change shows the API's reason and status", "/console/services", form("tenant", "shop", "name", "parcels", "targets", "http://10.1.1.1:80"), 409, "already taken", ""},
	}
	for _, st := range steps {
		t.Run(st.desc, func(t *testing.T) {
			st.form.Set("csrf", tok)
			p := b.post(st.path, st.form)
			if p.status != st.status {
				t.Fatalf("POST %s: %d, want %d\n%s", st.path, p.status, st.status, p.body)
			}
			body := p.body
			if p.status == http.StatusSeeOther {
				body = b.get(p.header.Get("Location")).body
			}
			if !strings.Contains(body, st.want) {
				t.Errorf("POST %s: answer lacks %q:\n%s", st.path, st.want, body)
			}
			if st.action == "" {
				return
			}
			entries, _, err := e.store.ListAudit(ctx, store.ListFilter{Page: store.Page{Limit: 1}})
			if err != nil || len(entries) != 1 {
				t.Fatalf("audit: %v %v", entries, err)
			}
			if entries[0].Action != st.action || !strings.HasPrefix(entries[0].Actor, "bootstrap (") {
				t.Errorf("last audit entry: %s by %s, want %s by bootstrap", entries[0].Action, entries[0].Actor, st.action)
			}
		})
	}
	// The key page showed the secret once; the store has only its hash.
	k, _, err := e.store.ListKeys(ctx, store.ListFilter{ConsumerID: s.consumer})
	if err != nil || len(k) != 2 || k[0].Hash == "" {
		t.Fatalf("keys after rotate: %v %v", k, err)
	}
	if got := b.get("/console/keys"); strings.Contains(got.body, s.keySecret) {
		t.Error("the keys page shows a key's secret after creation")
	}
}

// TestErrorsAreAPIProblems: a console action the API refuses shows the
// API's status and words, never a different verdict.
func TestSearchErrorsShowTheAPIsWords(t *testing.T) {
	e := newEnv(t)
	e.seed()
	b := newBrowser(t, e.srv.URL)
	b.login(e.root)
	cases := []struct {
		desc, path string
		status     int
		want       string
	}{
		{"unknown reason code", "/console/calls?reason=key.nope", 400, "not a reason code"},
		{"unknown consumer", "/console/calls?consumer=nobody", 404, "nobody"},
		{"request id goes to the call", "/console/calls?request_id=01JCALLOK0000000000000000A", 303, ""},
		{"unknown call", "/console/calls/01JNOPE", 404, "no call with request id"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			p := b.get(c.path)
			if p.status != c.status || !strings.Contains(p.body, c.want) {
				t.Fatalf("GET %s: %d (want %d), body lacks %q:\n%s", c.path, p.status, c.status, c.want, p.body)
			}
		})
	}
}

func TestLoginRequired(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t, e.srv.URL)
	for _, path := range []string{"/console/", "/console/calls", "/console/keys", "/console/audit"} {
		p := b.get(path)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/console/login?next=") {
			t.Errorf("GET %s without a session: %d %s", path, p.status, p.header.Get("Location"))
		}
	}
	p := b.post("/console/tenants", form("slug", "x", "csrf", "x"))
	if p.status != http.StatusUnauthorized {
		t.Errorf("POST without a session: %d", p.status)
	}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/console/calls/rows", nil)
	req.Header.Set("HX-Request", "true")
	if r := b.do(req); r.status != http.StatusUnauthorized || r.header.Get("HX-Redirect") != "/console/login" {
		t.Errorf("htmx poll without a session: %d %q", r.status, r.header.Get("HX-Redirect"))
	}
	bad := b.get("/console/login")
	res := b.post("/console/login", form("token", "gha_not_a_real_token_000000000000000000000", "login_csrf", find(t, loginCSRFRE, bad.body)))
	if res.status != http.StatusUnauthorized || !strings.Contains(res.body, "not recognised") {
		t.Errorf("bad token: %d", res.status)
	}
	if n := fmt.Sprint(b.cookie("gh_console")); n != "" {
		t.Errorf("a failed login set a session cookie: %q", n)
	}
}

// TestDashboardSources: the dashboard reads the rollups (GET /stats) and
// falls back to the call log, saying so, when the gateway writes none;
// both give the same figures for the same calls.
func TestDashboardSources(t *testing.T) {
	for _, c := range []struct {
		desc    string
		rollups bool
		source  string
	}{
		{"rollups", true, "From call statistics (per-minute rollups)."},
		{"no rollups: the call log", false, "the gateway writes no rollups"},
	} {
		t.Run(c.desc, func(t *testing.T) {
			e := newEnv(t)
			now := e.clock.Now()
			var calls []domain.Call
			for i := range 30 {
				cl := domain.Call{RequestID: fmt.Sprintf("01JDASH%019d", i), Time: now.Add(-time.Duration(i+1) * time.Minute), Method: "GET",
					Path: "/x", Status: 200, ConsumerID: "con_dashdashdashdash", TenantID: "ten_dashdashdashdash", LatencyMicros: 1000}
				if i%3 == 0 {
					cl.Status, cl.Code = 403, "scope.insufficient"
				}
				calls = append(calls, cl)
			}
			e.insertCalls(calls, c.rollups)
			b := newBrowser(t, e.srv.URL)
			b.login(e.root)
			p := b.get("/console/dashboard?window=1h")
			if p.status != 200 {
				t.Fatalf("%d %s", p.status, p.body)
			}
			for _, want := range []string{c.source, `id="stat-total">30<`, `id="stat-rejected">10<`, "33.3 %", "scope.insufficient"} {
				if !strings.Contains(p.body, want) {
					t.Errorf("dashboard lacks %q", want)
				}
			}
		})
	}
}
