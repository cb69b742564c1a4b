package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
	"gatehouse/internal/webhook"
)

// eventLog records what Config.Events received.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(_ context.Context, e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) types() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		out = append(out, e.Type)
	}
	return out
}

func (l *eventLog) last() Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.events[len(l.events)-1]
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// subWorld is tenant acme (consumer app) and tenant globex with services of
// every kind a subscription may target.
type subWorld struct {
	e          *testEnv
	events     *eventLog
	logs       *syncBuffer
	acme, glob fixture
	// Services: acme-svc (acme, private, no approval: the fixture's),
	// acme-gated (acme, approval required), glob-pub (globex, published),
	// glob-svc (globex, private: the fixture's).
}

func newSubWorld(t *testing.T) *subWorld {
	w := &subWorld{events: &eventLog{}, logs: &syncBuffer{}}
	w.e = newEnvWith(t, func(c *Config) {
		c.Events = w.events.add
		c.Logger = slog.New(slog.NewJSONHandler(w.logs, nil))
	})
	w.acme = w.e.fixture("acme")
	w.glob = w.e.fixture("globex")
	w.e.must(201, "POST", "/admin/v1/services", map[string]any{"tenant": "acme", "name": "acme-gated", "targets": []string{"http://127.0.0.1:9"},
		"approval_required": true})
	w.e.must(201, "POST", "/admin/v1/services", map[string]any{"tenant": "globex", "name": "glob-pub", "targets": []string{"http://127.0.0.1:9"},
		"visibility": "published"})
	return w
}

func TestSubscriptionRequest(t *testing.T) {
	w := newSubWorld(t)
	e := w.e
	// Console users decide as tokens of their role do: globex's
	// tenant-admin bob is an approver of globex's services; a disabled
	// user is not.
	e.must(201, "POST", "/admin/v1/users", map[string]any{"username": "bob", "role": "tenant-admin", "tenant": "globex", "password": "correct horse battery"})
	gone := e.must(201, "POST", "/admin/v1/users", map[string]any{"username": "carol", "role": "admin", "password": "correct horse battery"}).JSON(t)["id"].(string)
	e.must(200, "POST", "/admin/v1/users/"+gone+"/disable", nil)
	cases := []struct {
		desc      string
		body      map[string]any
		status    int
		state     string
		detail    []string // problem detail or answer message fragments
		approvers []string
	}{
		{"own tenant, no approval: approved at once, and the answer says so",
			map[string]any{"consumer": "acme/app", "service": "acme-svc", "note": "checkout"}, 201, "approved",
			[]string{"Approved at once", "acme-svc", "own tenant acme", "requires no approval"}, nil},
		{"own tenant, approval required: pending, naming who decides",
			map[string]any{"consumer": "acme/app", "service": "acme-gated"}, 201, "pending",
			[]string{"Pending: service acme-gated requires approval", "gatehouse subscription approve sub_"}, []string{"bootstrap"}},
		{"another tenant's published service: pending with a plan",
			map[string]any{"consumer": "acme/app", "service": "glob-pub", "plan": map[string]any{"name": "gold",
				"rate_limit": map[string]any{"limit": 100, "period": "1m"}}}, 201, "pending",
			[]string{"belongs to another tenant (globex)"}, []string{"bob", "bootstrap"}},
		{"another tenant's private service: a clear 409",
			map[string]any{"consumer": "acme/app", "service": "globex-svc"}, 409, "",
			[]string{"service globex-svc is private to tenant globex: it cannot be subscribed to"}, nil},
		{"a second open request for the same pair names the existing one",
			map[string]any{"consumer": "acme/app", "service": "glob-pub"}, 409, "",
			[]string{"consumer app already has a pending subscription to service glob-pub: sub_"}, nil},
		{"an unknown service", map[string]any{"consumer": "acme/app", "service": "nope"}, 404, "", []string{`service "nope" not found`}, nil},
		{"no service", map[string]any{"consumer": "acme/app"}, 400, "", []string{"service is required"}, nil},
		{"an unknown consumer", map[string]any{"consumer": "acme/ghost", "service": "glob-pub"}, 404, "", []string{`"ghost"`}, nil},
		{"a plan with a zero period", map[string]any{"consumer": "globex/app", "service": "glob-pub",
			"plan": map[string]any{"rate_limit": map[string]any{"limit": 5, "period": "0s"}}}, 400, "", []string{"plan.rate_limit.period", "positive"}, nil},
		{"a plan with an unknown counter", map[string]any{"consumer": "globex/app", "service": "glob-pub",
			"plan": map[string]any{"rate_limit": map[string]any{"limit": 5, "period": "1m", "by": "ip"}}}, 400, "", []string{`plan.rate_limit.by "ip"`}, nil},
		{"a multi-line note", map[string]any{"consumer": "globex/app", "service": "glob-pub", "note": "a\nb"}, 400, "", []string{"note must be"}, nil},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			r := e.do(e.root, "POST", "/admin/v1/subscriptions", c.body)
			if c.status != 201 {
				code := map[int]string{400: CodeInvalid, 404: CodeNotFound, 409: CodeConflict}[c.status]
				d := problemOf(t, r, c.status, code)
				for _, f := range c.detail {
					if !strings.Contains(d, f) {
						t.Errorf("detail %q lacks %q", d, f)
					}
				}
				return
			}
			if r.Status != 201 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			var v subscriptionView
			if err := json.Unmarshal(r.Body, &v); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(v.ID, prefixSubscription) || v.State != c.state || v.ConsumerID != w.acme.consumerID ||
				v.ConsumerTenantID != w.acme.tenantID || !v.RequestedAt.Equal(t0) || !strings.HasPrefix(v.RequestedBy, "bootstrap (") {
				t.Fatalf("answer %s", r.Body)
			}
			for _, f := range c.detail {
				if !strings.Contains(v.Message, f) {
					t.Errorf("message %q lacks %q", v.Message, f)
				}
			}
			if !slices.Equal(v.Approvers, c.approvers) {
				t.Errorf("approvers %v, want %v", v.Approvers, c.approvers)
			}
			if c.state == "approved" && (v.DecidedBy != autoDecider || v.DecidedAt == nil) {
				t.Errorf("an automatic approval does not say who decided: %s", r.Body)
			}
		})
	}
	t.Run("the plan is kept with the rate limit defaulting to per consumer", func(t *testing.T) {
		items := e.must(200, "GET", "/admin/v1/subscriptions?service=glob-pub", nil).items(t)
		if len(items) != 1 {
			t.Fatalf("%v", items)
		}
		plan, _ := json.Marshal(items[0]["plan"])
		if string(plan) != `{"name":"gold","rate_limit":{"by":"consumer","limit":100,"period":"1m0s"}}` {
			t.Fatalf("plan %s", plan)
		}
	})
	t.Run("a deleted consumer gets no subscription", func(t *testing.T) {
		c := e.must(201, "POST", "/admin/v1/consumers", map[string]any{"tenant": "acme", "name": "gone"}).str(t, "id")
		e.must(204, "DELETE", "/admin/v1/consumers/"+c, nil)
		d := problemOf(t, e.do(e.root, "POST", "/admin/v1/subscriptions", map[string]any{"consumer": c, "service": "glob-pub"}), 409, CodeConflict)
		if !strings.Contains(d, "was deleted") {
			t.Fatal(d)
		}
	})
	t.Run("events: one requested per request, plus approved for the automatic approval", func(t *testing.T) {
		want := []string{EventSubscriptionRequested, EventSubscriptionApproved, EventSubscriptionRequested, EventSubscriptionRequested}
		if got := w.events.types(); !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
	})
}

// TestSubscriptionTransitions walks one request through every decision,
// with the refused transitions in between.
func TestSubscriptionTransitions(t *testing.T) {
	w := newSubWorld(t)
	e := w.e
	req := func(service string) string {
		return e.must(201, "POST", "/admin/v1/subscriptions", map[string]any{"consumer": "acme/app", "service": service}).str(t, "id")
	}
	first := req("glob-pub")
	var second, third string
	steps := []struct {
		desc   string
		id     func() string
		verb   string
		body   any
		status int
		want   []string // state and message, or detail fragments
	}{
		{"revoke a pending request: reject it instead", fixed(first), "revoke", nil, 409, []string{"still pending", "reject the request instead"}},
		{"approve with a note and a plan", fixed(first), "approve", map[string]any{"note": "welcome", "plan": map[string]any{"name": "silver"}}, 200,
			[]string{"approved", "Approved: consumer app may call service glob-pub from its next request."}},
		{"approve again", fixed(first), "approve", nil, 409, []string{"already approved (by bootstrap (", "welcome"}},
		{"reject an approved one: revoke it instead", fixed(first), "reject", nil, 409, []string{"revoke it instead"}},
		{"revoke", fixed(first), "revoke", map[string]any{"note": "contract ended"}, 200, []string{"revoked", "answer subscription.revoked"}},
		{"revoke again", fixed(first), "revoke", nil, 409, []string{"already revoked", "contract ended"}},
		{"approve a revoked one: final", fixed(first), "approve", nil, 409, []string{"was revoked", "final", "may request access again"}},
		{"a new request after the revocation", func() string { second = req("glob-pub"); return second }, "reject",
			map[string]any{"note": "no budget"}, 200, []string{"rejected", "answer subscription.rejected"}},
		{"approve a rejected one: final", func() string { return second }, "approve", nil, 409, []string{"was rejected", "no budget"}},
		{"reject takes no plan", func() string { third = req("glob-pub"); return third }, "reject", map[string]any{"plan": map[string]any{}}, 400,
			[]string{`unknown field "plan"`}},
		{"an unknown subscription", fixed("sub_nope"), "approve", nil, 404, []string{`subscription "sub_nope" not found`}},
	}
	for _, s := range steps {
		t.Run(s.desc, func(t *testing.T) {
			id := s.id() // may request a new subscription first
			changes := e.changeCount()
			r := e.do(e.root, "POST", "/admin/v1/subscriptions/"+id+"/"+s.verb, s.body)
			if s.status != 200 {
				code := map[int]string{400: CodeInvalid, 404: CodeNotFound, 409: CodeConflict}[s.status]
				d := problemOf(t, r, s.status, code)
				for _, f := range s.want {
					if !strings.Contains(d, f) {
						t.Errorf("detail %q lacks %q", d, f)
					}
				}
				if e.changeCount() != changes {
					t.Error("a refused transition called OnChange")
				}
				return
			}
			if r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if got := r.str(t, "state"); got != s.want[0] {
				t.Errorf("state %q, want %q", got, s.want[0])
			}
			if m := r.str(t, "message"); !strings.Contains(m, s.want[1]) {
				t.Errorf("message %q lacks %q", m, s.want[1])
			}
			if e.changeCount() != changes+1 {
				t.Error("OnChange not called once")
			}
		})
	}
	got := e.must(200, "GET", "/admin/v1/subscriptions/"+first, nil).JSON(t)
	for k, want := range map[string]any{"state": "revoked", "decision_note": "welcome", "revoke_note": "contract ended",
		"decided_at": "2026-11-20T10:00:00Z", "revoked_at": "2026-11-20T10:00:00Z"} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if p, _ := got["plan"].(map[string]any); p["name"] != "silver" {
		t.Errorf("approve's plan did not replace the request's: %v", got["plan"])
	}
	if _, ok := got["approvers"]; ok {
		t.Error("a closed subscription lists approvers")
	}
	if a := e.must(200, "GET", "/admin/v1/subscriptions/"+third, nil).JSON(t)["approvers"]; a == nil {
		t.Error("a pending subscription does not name its approvers")
	}
	wantEvents := []string{EventSubscriptionRequested, EventSubscriptionApproved, EventSubscriptionRevoked,
		EventSubscriptionRequested, EventSubscriptionRejected, EventSubscriptionRequested}
	if ev := w.events.types(); !slices.Equal(ev, wantEvents) {
		t.Fatalf("events %v, want %v", ev, wantEvents)
	}
	t.Run("the event payload names both sides and the actor", func(t *testing.T) {
		var ev Event
		for _, x := range w.events.events {
			if x.Type == EventSubscriptionRevoked {
				ev = x
			}
		}
		b, _ := json.Marshal(ev)
		var p struct {
			ID, Type string
			Data     struct {
				Subscription      domain.Subscription
				Consumer, Service eventRef
				Actor             string
			}
		}
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.ID, prefixEvent) || p.Data.Subscription.ID != first || p.Data.Subscription.State != "revoked" ||
			p.Data.Consumer.Name != "app" || p.Data.Consumer.TenantSlug != "acme" || p.Data.Service.Name != "glob-pub" ||
			p.Data.Service.TenantSlug != "globex" || !strings.HasPrefix(p.Data.Actor, "bootstrap (") {
			t.Fatalf("payload %s", b)
		}
	})
	t.Run("every event has its log line", func(t *testing.T) {
		if n := strings.Count(w.logs.String(), `"msg":"admin event"`); n != len(wantEvents) {
			t.Fatalf("%d event log lines, want %d", n, len(wantEvents))
		}
	})
	t.Run("the audit entries: one per change, under the service's tenant and the consumer's", func(t *testing.T) {
		var subs []map[string]any
		for _, en := range e.auditAll() {
			if en["resource"] == "subscription" {
				subs = append(subs, en)
			}
		}
		var actions []string
		for _, en := range subs {
			actions = append(actions, en["action"].(string))
			if en["tenant"] != w.glob.tenantID || en["other_tenant"] != w.acme.tenantID {
				t.Errorf("entry filed under %v / %v", en["tenant"], en["other_tenant"])
			}
		}
		want := []string{"subscription.request", "subscription.approve", "subscription.revoke", "subscription.request",
			"subscription.reject", "subscription.request"}
		if !slices.Equal(actions, want) {
			t.Fatalf("actions %v, want %v", actions, want)
		}
	})
}

// TestSubscriptionRoles: the consumer's side requests, the service's side
// decides, either side reads and revokes, nobody else touches it.
func TestSubscriptionRoles(t *testing.T) {
	w := newSubWorld(t)
	e := w.e
	initech := e.fixture("initech")
	acmeID, acmeOps := e.newAdmin("acme-ops", domain.RoleTenantAdmin, "acme")
	_, globOps := e.newAdmin("globex-ops", domain.RoleTenantAdmin, "globex")
	_, initOps := e.newAdmin("initech-ops", domain.RoleTenantAdmin, "initech")
	_, globViewer := e.newAdmin("globex-viewer", domain.RoleViewer, "globex")

	r := e.do(acmeOps, "POST", "/admin/v1/subscriptions", map[string]any{"consumer": "app", "service": "glob-pub", "note": "please"})
	if r.Status != 201 || r.str(t, "state") != "pending" {
		t.Fatalf("the consumer's tenant-admin cannot request: %d %s", r.Status, r.Body)
	}
	sub := r.str(t, "id")
	var v subscriptionView
	_ = json.Unmarshal(r.Body, &v)
	if !slices.Equal(v.Approvers, []string{"globex-ops", "bootstrap"}) {
		t.Errorf("approvers %v, want globex's tenant-admin then the gateway admins", v.Approvers)
	}

	refusals := []struct {
		desc, token, method, path string
		body                      any
		detail                    string
	}{
		{"the consumer's side cannot approve", acmeOps, "POST", "/admin/v1/subscriptions/" + sub + "/approve", nil,
			"decided by tenant globex, which publishes service glob-pub"},
		{"the consumer's side cannot reject", acmeOps, "POST", "/admin/v1/subscriptions/" + sub + "/reject", nil, "not decide them"},
		{"the service's side cannot request for another tenant's consumer", globOps, "POST", "/admin/v1/subscriptions",
			map[string]any{"consumer": w.acme.consumerID, "service": "glob-pub"}, "outside your tenant"},
		{"a third tenant cannot read it", initOps, "GET", "/admin/v1/subscriptions/" + sub, nil, "outside your tenant"},
		{"a third tenant cannot approve it", initOps, "POST", "/admin/v1/subscriptions/" + sub + "/approve", nil, "outside your tenant"},
		{"a third tenant cannot revoke it", initOps, "POST", "/admin/v1/subscriptions/" + sub + "/revoke", nil, "outside your tenant"},
		{"a third tenant cannot list another tenant's", initOps, "GET", "/admin/v1/subscriptions?tenant=globex", nil, "outside your tenant"},
		{"a viewer of the service's tenant cannot approve", globViewer, "POST", "/admin/v1/subscriptions/" + sub + "/approve", nil, "viewer"},
	}
	for _, c := range refusals {
		t.Run(c.desc, func(t *testing.T) {
			since := lastAuditID(e)
			d := problemOf(t, e.do(c.token, c.method, c.path, c.body), 403, CodeForbidden)
			if !strings.Contains(d, c.detail) {
				t.Fatalf("detail %q lacks %q", d, c.detail)
			}
			if strings.Contains(d, w.glob.tenantID) || strings.Contains(d, w.acme.tenantID) {
				t.Fatalf("the refusal tells a tenant id: %q", d)
			}
			got := auditAfter(e, since)
			if len(got) != 1 || !strings.HasSuffix(got[0].Action, ".denied") {
				t.Fatalf("refusal audited as %v", got)
			}
		})
	}
	if s := e.must(200, "GET", "/admin/v1/subscriptions/"+sub, nil).str(t, "state"); s != "pending" {
		t.Fatalf("a refused request changed the state to %s", s)
	}

	t.Run("both sides read it, list it and see its audit entry", func(t *testing.T) {
		for _, tok := range []string{acmeOps, globOps, globViewer} {
			if r := e.do(tok, "GET", "/admin/v1/subscriptions/"+sub, nil); r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			items := e.do(tok, "GET", "/admin/v1/subscriptions", nil).items(t)
			if len(items) != 1 || items[0]["id"] != sub {
				t.Fatalf("list %v", items)
			}
			audit := e.do(tok, "GET", "/admin/v1/audit?action=subscription.request", nil).items(t)
			if len(audit) != 1 || audit[0]["resource_id"] != sub {
				t.Fatalf("audit %v", audit)
			}
		}
		if items := e.do(initOps, "GET", "/admin/v1/subscriptions", nil).items(t); len(items) != 0 {
			t.Fatalf("a third tenant lists %v", items)
		}
		if items := e.do(initOps, "GET", "/admin/v1/audit?action=subscription.request", nil).items(t); len(items) != 0 {
			t.Fatalf("a third tenant reads the audit entries %v", items)
		}
	})
	t.Run("the service's side approves; the consumer's side may revoke its own access", func(t *testing.T) {
		if r := e.do(globOps, "POST", "/admin/v1/subscriptions/"+sub+"/approve", map[string]any{"note": "ok"}); r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		r := e.do(acmeOps, "POST", "/admin/v1/subscriptions/"+sub+"/revoke", map[string]any{"note": "not needed"})
		if r.Status != 200 || r.str(t, "revoked_by") != "acme-ops ("+acmeID+")" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("filters", func(t *testing.T) {
		e.must(201, "POST", "/admin/v1/subscriptions", map[string]any{"consumer": "initech/app", "service": "glob-pub"})
		e.must(201, "POST", "/admin/v1/subscriptions", map[string]any{"consumer": "initech/app", "service": "initech-svc"})
		cases := []struct {
			token, query string
			want         int
		}{
			{e.root, "", 3},
			{e.root, "?state=pending", 1},
			{e.root, "?state=revoked", 1},
			{e.root, "?service=glob-pub", 2},
			{e.root, "?consumer=" + initech.consumerID, 2},
			{e.root, "?tenant=initech", 2},
			{e.root, "?tenant=globex&state=pending", 1},
			{globOps, "?consumer=" + initech.consumerID, 1}, // another tenant's consumer, but only its globex side
			{globOps, "?service=initech-svc", 0},
			{initOps, "?service=glob-pub", 1},
		}
		for _, c := range cases {
			r := e.do(c.token, "GET", "/admin/v1/subscriptions"+c.query, nil)
			if c.token == globOps && strings.Contains(c.query, "consumer=") {
				// A consumer of another tenant is out of reach as a filter.
				problemOf(t, r, 403, CodeForbidden)
				continue
			}
			if n := len(r.items(t)); n != c.want {
				t.Errorf("GET /subscriptions%s: %d items, want %d", c.query, n, c.want)
			}
		}
		problemOf(t, e.do(e.root, "GET", "/admin/v1/subscriptions?state=open", nil), 400, CodeInvalid)
	})
	t.Run("a service with open subscriptions cannot be deleted", func(t *testing.T) {
		d := problemOf(t, e.do(e.root, "DELETE", "/admin/v1/services/glob-pub", nil), 409, CodeConflict)
		if !strings.Contains(d, "open subscription(s) sub_") {
			t.Fatal(d)
		}
	})
}

func TestSubscriptionApproveRechecksVisibility(t *testing.T) {
	w := newSubWorld(t)
	e := w.e
	sub := e.must(201, "POST", "/admin/v1/subscriptions", map[string]any{"consumer": "acme/app", "service": "glob-pub"}).str(t, "id")
	e.must(200, "PATCH", "/admin/v1/services/glob-pub", map[string]any{"visibility": "private"})
	d := problemOf(t, e.do(e.root, "POST", "/admin/v1/subscriptions/"+sub+"/approve", nil), 409, CodeConflict)
	if !strings.Contains(d, "private to tenant globex now") {
		t.Fatal(d)
	}
	e.must(200, "POST", "/admin/v1/subscriptions/"+sub+"/reject", map[string]any{"note": "not published any more"})
}

// TestSubscriptionsInSnapshotData: what Load gives the request path after
// the workflow ran through the API.
func TestSubscriptionsInSnapshotData(t *testing.T) {
	w := newSubWorld(t)
	e := w.e
	e.newAdmin("globex-ops", domain.RoleTenantAdmin, "globex")
	first := e.must(201, "POST", "/admin/v1/subscriptions", map[string]any{"consumer": "acme/app", "service": "glob-pub"}).str(t, "id")
	e.must(200, "POST", "/admin/v1/subscriptions/"+first+"/reject", nil)
	second := e.must(201, "POST", "/admin/v1/subscriptions", map[string]any{"consumer": "acme/app", "service": "glob-pub"}).str(t, "id")
	d, err := e.store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range d.Subscriptions {
		if s.ServiceTenantID == w.glob.tenantID {
			got = append(got, s.ID+":"+s.State)
		}
	}
	if !slices.Equal(got, []string{second + ":pending"}) {
		t.Fatalf("current subscriptions %v, want only the new pending request", got)
	}
	if !slices.Equal(d.Approvers[w.glob.tenantID], []string{"globex-ops"}) || !slices.Equal(d.Approvers[""], []string{"bootstrap"}) {
		t.Fatalf("approvers %v", d.Approvers)
	}
	all, _, err := e.store.ListSubscriptions(context.Background(), store.ListFilter{ServiceID: ""})
	if err != nil || len(all) != 2 {
		t.Fatalf("history: %d subscriptions, %v", len(all), err)
	}
}

func TestRouteRateLimit(t *testing.T) {
	e := newEnv(t)
	f := e.fixture("acme")
	cases := []struct {
		desc   string
		limit  any
		status int
		want   string // the stored limit as JSON, or a detail fragment
	}{
		{"by defaults to consumer", map[string]any{"limit": 100, "period": "1m"}, 201, `{"limit":100,"period":"1m0s","by":"consumer"}`},
		{"per route, in days", map[string]any{"limit": 5000, "period": "1d", "by": "route"}, 201, `{"limit":5000,"period":"24h0m0s","by":"route"}`},
		{"per credential", map[string]any{"limit": 1, "period": "1s", "by": "credential"}, 201, `{"limit":1,"period":"1s","by":"credential"}`},
		{"limit 0", map[string]any{"limit": 0, "period": "1m"}, 400, "rate_limit.limit 0 must be from 1"},
		{"finer than the limiter counts", map[string]any{"limit": 100000000, "period": "1m"}, 400, "more than one per microsecond"},
		{"negative period", map[string]any{"limit": 1, "period": "-1m"}, 400, "rate_limit.period \"-1m\" must be positive"},
		{"no period", map[string]any{"limit": 1}, 400, "rate_limit.period is required"},
		{"unreadable period", map[string]any{"limit": 1, "period": "soon"}, 400, "rate_limit.period"},
		{"unknown by", map[string]any{"limit": 1, "period": "1m", "by": "ip"}, 400, `rate_limit.by "ip" is not one of "consumer", "credential", "route"`},
		{"unknown member", map[string]any{"limit": 1, "period": "1m", "burst": 3}, 400, `unknown field "burst"`},
	}
	for i, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			r := e.do(e.root, "POST", "/admin/v1/routes", map[string]any{"service": f.serviceID, "paths": []string{"/rl" + string(rune('a'+i))},
				"rate_limit": c.limit})
			if c.status != 201 {
				if d := problemOf(t, r, 400, CodeInvalid); !strings.Contains(d, c.want) {
					t.Fatalf("detail %q lacks %q", d, c.want)
				}
				return
			}
			if r.Status != 201 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			var rt struct {
				RateLimit json.RawMessage `json:"rate_limit"`
			}
			_ = json.Unmarshal(r.Body, &rt)
			if string(rt.RateLimit) != c.want {
				t.Fatalf("rate_limit %s, want %s", rt.RateLimit, c.want)
			}
		})
	}
	t.Run("PATCH keeps it unless named; null removes it", func(t *testing.T) {
		id := e.must(201, "POST", "/admin/v1/routes", map[string]any{"service": f.serviceID, "paths": []string{"/p"},
			"rate_limit": map[string]any{"limit": 10, "period": "1h"}}).str(t, "id")
		if rl := e.must(200, "PATCH", "/admin/v1/routes/"+id, map[string]any{"methods": []string{"GET"}}).JSON(t)["rate_limit"]; rl == nil {
			t.Fatal("an unrelated PATCH dropped the rate limit")
		}
		if rl := e.must(200, "PATCH", "/admin/v1/routes/"+id, `{"rate_limit":null}`).JSON(t)["rate_limit"]; rl != nil {
			t.Fatalf("rate_limit %v after null", rl)
		}
	})
}

// TestSubscriptionEventsReachAWebhook wires Config.Events to a real
// webhook sender and a real receiver that checks the signature.
func TestSubscriptionEventsReachAWebhook(t *testing.T) {
	secret := []byte("webhook-signing-secret-0123456789")
	type delivery struct {
		typ  string
		body []byte
		verr error
	}
	got := make(chan delivery, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{typ: r.Header.Get(webhook.EventHeader), body: b,
			verr: webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), b, time.Now(), 5*time.Minute)}
		w.WriteHeader(204)
	}))
	defer recv.Close()
	sender, err := webhook.New(webhook.Options{URLs: []string{recv.URL}, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close(context.Background())
	e := newEnvWith(t, func(c *Config) { c.Events = sender.Publish })
	e.fixture("acme")
	sub := e.must(201, "POST", "/admin/v1/subscriptions", map[string]any{"consumer": "acme/app", "service": "acme-svc"}).str(t, "id")
	for _, want := range []string{EventSubscriptionRequested, EventSubscriptionApproved} {
		select {
		case d := <-got:
			if d.verr != nil || d.typ != want || !strings.Contains(string(d.body), `"id":"`+sub+`"`) {
				t.Fatalf("delivery %s (verify: %v): %s", d.typ, d.verr, d.body)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s delivery", want)
		}
	}
}
