package admin

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/reqid"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
)

// lastAuditID is the id of the newest audit entry.
func lastAuditID(e *testEnv) int64 {
	items, _, err := e.store.ListAudit(context.Background(), store.ListFilter{Page: store.Page{Limit: 1}})
	if err != nil || len(items) == 0 {
		e.t.Fatalf("audit: %v %v", items, err)
	}
	return items[0].ID
}

// auditAfter returns the entries newer than id, oldest first.
func auditAfter(e *testEnv, id int64) []domain.AuditEntry {
	items, _, err := e.store.ListAudit(context.Background(), store.ListFilter{Page: store.Page{Limit: 50}})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []domain.AuditEntry
	for _, it := range items {
		if it.ID > id {
			out = append(out, it)
		}
	}
	slices.Reverse(out)
	return out
}

// refusedOnce checks that exactly one audit entry was written since id: the
// refusal of actorID's request to path.
func refusedOnce(t *testing.T, e *testEnv, since int64, actorID, path string) domain.AuditEntry {
	t.Helper()
	got := auditAfter(e, since)
	if len(got) != 1 {
		t.Fatalf("%d audit entries written, want exactly the refusal: %v", len(got), got)
	}
	en := got[0]
	p, q, _ := strings.Cut(path, "?")
	var after map[string]string
	_ = json.Unmarshal(en.After, &after)
	if !strings.HasSuffix(en.Action, ".denied") || !strings.HasSuffix(en.Actor, "("+actorID+")") || after["path"] != p || after["query"] != q {
		t.Fatalf("refusal entry %+v %v", en, after)
	}
	return en
}

func TestTenantAdminCannotReachAnotherTenant(t *testing.T) {
	e := newEnv(t)
	a := e.fixture("acme")
	b := e.fixture("globex")
	callA, callB := reqid.New(t0), reqid.New(t0.Add(time.Second))
	if err := e.store.InsertCalls(context.Background(), []domain.Call{
		{RequestID: callA, Time: t0, TenantID: a.tenantID, ConsumerID: a.consumerID, Method: "GET", Path: "/acme", Status: 200},
		{RequestID: callB, Time: t0.Add(time.Second), TenantID: b.tenantID, ConsumerID: b.consumerID, Method: "GET", Path: "/globex", Status: 200},
	}); err != nil {
		t.Fatal(err)
	}
	rootID := e.auditAll()[0]["resource_id"].(string) // the bootstrap admin
	taID, ta := e.newAdmin("acme-ops", domain.RoleTenantAdmin, "acme")
	bSub := e.must(201, "POST", "/admin/v1/subscriptions", map[string]any{"consumer": b.consumerID, "service": b.serviceID}).str(t, "id")
	bCred := e.must(201, "POST", "/admin/v1/credentials", map[string]any{"consumer": b.consumerID, "type": "hmac", "key_id": "globex-k"}).str(t, "id")
	e.must(201, "POST", "/admin/v1/credentials", map[string]any{"consumer": a.consumerID, "type": "hmac", "key_id": "acme-k"})
	e.must(201, "POST", "/admin/v1/issuers", map[string]any{"name": "okta", "issuer": "https://okta.example.com/", "jwks_url": "https://okta.example.com/k"})
	e.must(201, "POST", "/admin/v1/subscriptions", map[string]any{"consumer": a.consumerID, "service": a.serviceID})

	cases := []struct {
		desc, method, path string
		body               any
	}{
		{"read tenant B", "GET", "/admin/v1/tenants/globex", nil},
		{"suspend tenant B", "POST", "/admin/v1/tenants/globex/suspend", nil},
		{"suspend own tenant (tenants are the admin's)", "POST", "/admin/v1/tenants/acme/suspend", nil},
		{"create a tenant", "POST", "/admin/v1/tenants", map[string]any{"slug": "initech"}},
		{"list B's consumers", "GET", "/admin/v1/consumers?tenant=globex", nil},
		{"read B's consumer by id", "GET", "/admin/v1/consumers/" + b.consumerID, nil},
		{"read B's consumer by tenant/name", "GET", "/admin/v1/consumers/globex%2Fapp", nil},
		{"create a consumer in B", "POST", "/admin/v1/consumers", map[string]any{"tenant": "globex", "name": "intruder"}},
		{"change B's consumer", "PATCH", "/admin/v1/consumers/" + b.consumerID, map[string]any{"labels": map[string]string{"x": "y"}}},
		{"suspend B's consumer", "POST", "/admin/v1/consumers/" + b.consumerID + "/suspend", nil},
		{"resume B's consumer", "POST", "/admin/v1/consumers/" + b.consumerID + "/resume", nil},
		{"delete B's consumer", "DELETE", "/admin/v1/consumers/" + b.consumerID, nil},
		{"list B's keys", "GET", "/admin/v1/keys?consumer=" + b.consumerID, nil},
		{"read B's key", "GET", "/admin/v1/keys/" + b.keyID, nil},
		{"create a key for B's consumer", "POST", "/admin/v1/keys", map[string]any{"consumer": b.consumerID}},
		{"import a key for B's consumer", "POST", "/admin/v1/keys/import", map[string]any{"consumer": b.consumerID, "key": "opaque-legacy-key-0001"}},
		{"revoke B's key", "POST", "/admin/v1/keys/" + b.keyID + "/revoke", map[string]any{"reason": "x"}},
		{"rotate B's key", "POST", "/admin/v1/keys/" + b.keyID + "/rotate", nil},
		{"list B's services", "GET", "/admin/v1/services?tenant=globex", nil},
		{"read B's service", "GET", "/admin/v1/services/" + b.serviceID, nil},
		{"create a service in B", "POST", "/admin/v1/services", map[string]any{"tenant": "globex", "name": "evil", "targets": []string{"http://x"}}},
		{"change B's service", "PATCH", "/admin/v1/services/" + b.name, map[string]any{"visibility": "published"}},
		{"delete B's service", "DELETE", "/admin/v1/services/" + b.serviceID, nil},
		{"list B's routes", "GET", "/admin/v1/routes?service=" + b.serviceID, nil},
		{"read B's route", "GET", "/admin/v1/routes/" + b.routeID, nil},
		{"create a route on B's service", "POST", "/admin/v1/routes", map[string]any{"service": b.serviceID, "paths": []string{"/steal"}}},
		{"move own route to B's service", "PATCH", "/admin/v1/routes/" + a.routeID, map[string]any{"service": b.serviceID}},
		{"change B's route", "PATCH", "/admin/v1/routes/" + b.routeID, map[string]any{"paths": []string{"/x"}}},
		{"delete B's route", "DELETE", "/admin/v1/routes/" + b.routeID, nil},
		{"list B's subscriptions", "GET", "/admin/v1/subscriptions?tenant=globex", nil},
		{"list subscriptions of B's consumer", "GET", "/admin/v1/subscriptions?consumer=" + b.consumerID, nil},
		{"read B's subscription", "GET", "/admin/v1/subscriptions/" + bSub, nil},
		{"request a subscription for B's consumer", "POST", "/admin/v1/subscriptions", map[string]any{"consumer": b.consumerID, "service": a.serviceID}},
		{"approve B's subscription", "POST", "/admin/v1/subscriptions/" + bSub + "/approve", nil},
		{"reject B's subscription", "POST", "/admin/v1/subscriptions/" + bSub + "/reject", nil},
		{"revoke B's subscription", "POST", "/admin/v1/subscriptions/" + bSub + "/revoke", nil},
		{"list B's credentials", "GET", "/admin/v1/credentials?tenant=globex", nil},
		{"list credentials of B's consumer", "GET", "/admin/v1/credentials?consumer=" + b.consumerID, nil},
		{"read B's credential", "GET", "/admin/v1/credentials/" + bCred, nil},
		{"create a credential for B's consumer", "POST", "/admin/v1/credentials", map[string]any{"consumer": b.consumerID, "type": "mtls", "subject": "CN=x"}},
		{"revoke B's credential", "POST", "/admin/v1/credentials/" + bCred + "/revoke", map[string]any{"reason": "x"}},
		{"create an issuer (gateway-wide)", "POST", "/admin/v1/issuers", map[string]any{"name": "evil", "issuer": "evil", "jwks_url": "https://evil/k"}},
		{"change an issuer", "PATCH", "/admin/v1/issuers/okta", map[string]any{"jwks_url": "https://evil/k"}},
		{"delete an issuer", "DELETE", "/admin/v1/issuers/okta", nil},
		{"read B's call", "GET", "/admin/v1/calls/" + callB, nil},
		{"list B's calls", "GET", "/admin/v1/calls?tenant=globex", nil},
		{"list calls of B's consumer", "GET", "/admin/v1/calls?consumer=" + b.consumerID, nil},
		{"read B's audit log", "GET", "/admin/v1/audit?tenant=globex", nil},
		{"create an admin", "POST", "/admin/v1/admins", map[string]any{"name": "x", "role": "admin"}},
		{"read the root admin", "GET", "/admin/v1/admins/" + rootID, nil},
		{"delete the root admin", "DELETE", "/admin/v1/admins/" + rootID, nil},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			since := lastAuditID(e)
			changes := e.changeCount()
			r := e.do(ta, c.method, c.path, c.body)
			d := problemOf(t, r, 403, CodeForbidden)
			if strings.Contains(d, b.tenantID) {
				t.Fatalf("the refusal tells the other tenant's id: %q", d)
			}
			if strings.Contains(c.path, b.name) && strings.Contains(d, b.serviceID) {
				t.Fatalf("the refusal tells the id behind a name: %q", d)
			}
			if en := refusedOnce(t, e, since, taID, c.path); en.TenantID != a.tenantID {
				t.Fatalf("refusal filed under tenant %q, want the actor's %s", en.TenantID, a.tenantID)
			}
			if e.changeCount() != changes {
				t.Fatal("a refused request called OnChange")
			}
		})
	}

	// Nothing of B changed.
	mustEq(t, e.must(200, "GET", "/admin/v1/consumers/"+b.consumerID, nil).str(t, "status"), "active")
	mustEq(t, e.must(200, "GET", "/admin/v1/keys/"+b.keyID, nil).str(t, "status"), "active")
	mustEq(t, e.must(200, "GET", "/admin/v1/services/"+b.serviceID, nil).str(t, "visibility"), "private")
	mustEq(t, e.must(200, "GET", "/admin/v1/routes/"+b.routeID, nil).str(t, "service"), b.serviceID)
	mustEq(t, e.must(200, "GET", "/admin/v1/tenants/acme", nil).str(t, "status"), "active")
	mustEq(t, e.must(200, "GET", "/admin/v1/subscriptions/"+bSub, nil).str(t, "state"), "approved")
	mustEq(t, e.must(200, "GET", "/admin/v1/credentials/"+bCred, nil).str(t, "status"), "active")
	mustEq(t, e.must(200, "GET", "/admin/v1/issuers/okta", nil).str(t, "jwks_url"), "https://okta.example.com/k")

	t.Run("lists show only the own tenant", func(t *testing.T) {
		lists := []struct {
			path, field, want string
		}{
			{"/admin/v1/tenants", "id", a.tenantID},
			{"/admin/v1/consumers", "tenant", a.tenantID},
			{"/admin/v1/keys", "consumer", a.consumerID},
			{"/admin/v1/services", "tenant", a.tenantID},
			{"/admin/v1/routes", "service", a.serviceID},
			{"/admin/v1/subscriptions", "consumer_tenant", a.tenantID},
			{"/admin/v1/credentials", "consumer", a.consumerID},
			{"/admin/v1/calls", "tenant", a.tenantID},
			{"/admin/v1/audit", "tenant", a.tenantID},
			{"/admin/v1/admins", "tenant", a.tenantID},
		}
		for _, l := range lists {
			r := e.do(ta, "GET", l.path, nil)
			if r.Status != 200 {
				t.Fatalf("GET %s: %d %s", l.path, r.Status, r.Body)
			}
			items := r.items(t)
			if len(items) == 0 {
				t.Fatalf("GET %s: empty", l.path)
			}
			for _, it := range items {
				if it[l.field] != l.want {
					t.Fatalf("GET %s shows %v", l.path, it)
				}
			}
		}
	})
	t.Run("a clash with another tenant's route does not describe that route", func(t *testing.T) {
		r := e.do(ta, "POST", "/admin/v1/routes", map[string]any{"service": a.serviceID, "paths": []string{"/globex"}})
		d := problemOf(t, r, 409, CodeConflict)
		if d != "a route of another tenant already serves these requests: give this route another path, host or method" ||
			strings.Contains(string(r.Body), b.routeID) {
			t.Fatalf("detail %q", d)
		}
	})
	t.Run("names resolve within the own tenant only", func(t *testing.T) {
		// "app" exists in both tenants: unambiguous for acme's admin.
		mustEq(t, e.do(ta, "GET", "/admin/v1/consumers/app", nil).str(t, "id"), a.consumerID)
		e.must(201, "POST", "/admin/v1/consumers", map[string]any{"tenant": "globex", "name": "only-in-b"})
		d := problemOf(t, e.do(ta, "GET", "/admin/v1/consumers/only-in-b", nil), 404, CodeNotFound)
		mustEq(t, d, `consumer "only-in-b" not found in tenant acme; list them with gatehouse consumer list --tenant acme`)
	})
	t.Run("own tenant: full write access", func(t *testing.T) {
		c := e.do(ta, "POST", "/admin/v1/consumers", map[string]any{"tenant": "acme", "name": "new-app", "scopes": []string{"x"}})
		if c.Status != 201 {
			t.Fatalf("%d %s", c.Status, c.Body)
		}
		k := e.do(ta, "POST", "/admin/v1/keys", map[string]any{"consumer": "new-app"})
		if k.Status != 201 {
			t.Fatalf("%d %s", k.Status, k.Body)
		}
		for _, req := range []struct{ method, path string }{
			{"POST", "/admin/v1/keys/" + k.str(t, "id") + "/rotate"},
			{"POST", "/admin/v1/consumers/" + c.str(t, "id") + "/suspend"},
			{"PATCH", "/admin/v1/services/" + a.serviceID},
		} {
			if r := e.do(ta, req.method, req.path, map[string]any{}); r.Status/100 != 2 {
				t.Fatalf("%s %s: %d %s", req.method, req.path, r.Status, r.Body)
			}
		}
		// The audit log names the tenant-admin as the actor.
		var mine int
		for _, en := range e.auditAll() {
			if en["actor"] == "acme-ops ("+taID+")" && !strings.HasSuffix(en["action"].(string), ".denied") {
				mine++
			}
		}
		if mine != 5 {
			t.Fatalf("%d audited changes by the tenant-admin, want 5", mine)
		}
	})
}

func TestViewerIsReadOnly(t *testing.T) {
	e := newEnv(t)
	a := e.fixture("acme")
	b := e.fixture("globex")
	vID, viewer := e.newAdmin("auditor", domain.RoleViewer, "")
	writes := []struct {
		desc, method, path string
		body               any
	}{
		{"create tenant", "POST", "/admin/v1/tenants", map[string]any{"slug": "x"}},
		{"suspend tenant", "POST", "/admin/v1/tenants/acme/suspend", nil},
		{"create consumer", "POST", "/admin/v1/consumers", map[string]any{"tenant": "acme", "name": "x"}},
		{"patch consumer", "PATCH", "/admin/v1/consumers/" + a.consumerID, map[string]any{}},
		{"delete consumer", "DELETE", "/admin/v1/consumers/" + a.consumerID, nil},
		{"create key", "POST", "/admin/v1/keys", map[string]any{"consumer": a.consumerID}},
		{"import key", "POST", "/admin/v1/keys/import", map[string]any{"consumer": a.consumerID, "key": "opaque-legacy-key-0001"}},
		{"revoke key", "POST", "/admin/v1/keys/" + b.keyID + "/revoke", map[string]any{"reason": "x"}},
		{"rotate key", "POST", "/admin/v1/keys/" + b.keyID + "/rotate", nil},
		{"create service", "POST", "/admin/v1/services", map[string]any{"tenant": "acme", "name": "s", "targets": []string{"http://x"}}},
		{"patch service", "PATCH", "/admin/v1/services/" + a.serviceID, map[string]any{}},
		{"delete service", "DELETE", "/admin/v1/services/" + a.serviceID, nil},
		{"create route", "POST", "/admin/v1/routes", map[string]any{"service": a.serviceID, "paths": []string{"/x"}}},
		{"patch route", "PATCH", "/admin/v1/routes/" + a.routeID, map[string]any{}},
		{"delete route", "DELETE", "/admin/v1/routes/" + a.routeID, nil},
		{"create admin", "POST", "/admin/v1/admins", map[string]any{"name": "x", "role": "admin"}},
		{"delete admin", "DELETE", "/admin/v1/admins/" + vID, nil},
		{"create credential", "POST", "/admin/v1/credentials", map[string]any{"consumer": a.consumerID, "type": "hmac", "key_id": "v"}},
		{"create issuer", "POST", "/admin/v1/issuers", map[string]any{"name": "v", "issuer": "v", "jwks_url": "https://v/k"}},
		{"request subscription", "POST", "/admin/v1/subscriptions", map[string]any{"consumer": a.consumerID, "service": a.serviceID}},
	}
	for _, c := range writes {
		t.Run("write refused: "+c.desc, func(t *testing.T) {
			since := lastAuditID(e)
			if d := problemOf(t, e.do(viewer, c.method, c.path, c.body), 403, CodeForbidden); !strings.Contains(d, "viewer") {
				t.Fatalf("detail %q", d)
			}
			refusedOnce(t, e, since, vID, c.path)
		})
	}
	reads := []string{"/admin/v1/tenants", "/admin/v1/tenants/globex", "/admin/v1/consumers/" + b.consumerID, "/admin/v1/keys",
		"/admin/v1/keys/" + b.keyID, "/admin/v1/services", "/admin/v1/routes/" + b.routeID, "/admin/v1/calls", "/admin/v1/audit",
		"/admin/v1/admins", "/admin/v1/status"}
	for _, p := range reads {
		t.Run("read allowed: "+p, func(t *testing.T) {
			if r := e.do(viewer, "GET", p, nil); r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
		})
	}
	if n := len(e.do(viewer, "GET", "/admin/v1/consumers", nil).items(t)); n != 2 {
		t.Fatalf("an unbound viewer sees %d consumers, want both tenants' 2", n)
	}
	t.Run("a viewer bound to a tenant reads only it", func(t *testing.T) {
		_, tv := e.newAdmin("acme-auditor", domain.RoleViewer, "acme")
		problemOf(t, e.do(tv, "GET", "/admin/v1/consumers/"+b.consumerID, nil), 403, CodeForbidden)
		if r := e.do(tv, "GET", "/admin/v1/consumers/"+a.consumerID, nil); r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
}

func TestAdmins(t *testing.T) {
	e := newEnv(t)
	e.must(201, "POST", "/admin/v1/tenants", map[string]any{"slug": "acme"})
	cases := []struct {
		desc   string
		body   map[string]any
		status int
		detail string
	}{
		{"admin", map[string]any{"name": "ops", "role": "admin"}, 201, ""},
		{"tenant-admin", map[string]any{"name": "acme-ops", "role": "tenant-admin", "tenant": "acme"}, 201, ""},
		{"tenant-admin without tenant", map[string]any{"name": "x", "role": "tenant-admin"}, 400, "tenant is required"},
		{"admin with tenant", map[string]any{"name": "x", "role": "admin", "tenant": "acme"}, 400, "takes no tenant"},
		{"unknown role", map[string]any{"name": "x", "role": "root"}, 400, `role "root" is not one of`},
		{"no role", map[string]any{"name": "x"}, 400, "role is required"},
		{"unknown tenant", map[string]any{"name": "x", "role": "viewer", "tenant": "nope"}, 404, `tenant "nope"`},
	}
	tokens := map[string]string{}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			r := e.do(e.root, "POST", "/admin/v1/admins", c.body)
			if c.status != 201 {
				code := CodeInvalid
				if c.status == 404 {
					code = CodeNotFound
				}
				if d := problemOf(t, r, c.status, code); !strings.Contains(d, c.detail) {
					t.Fatalf("detail %q lacks %q", d, c.detail)
				}
				return
			}
			x := r.JSON(t)
			tok := x["token"].(string)
			if !strings.HasPrefix(tok, tokenPrefix) || !strings.HasPrefix(x["id"].(string), prefixAdmin) || x["role"] != c.body["role"] {
				t.Fatalf("created %v", x)
			}
			tokens[x["id"].(string)] = tok
			// The token works, and is never shown again.
			got := e.do(tok, "GET", "/admin/v1/admins/"+x["id"].(string), nil)
			if got.Status != 200 || strings.Contains(string(got.Body), tok) || strings.Contains(string(got.Body), hashToken(tok)) {
				t.Fatalf("%d %s", got.Status, got.Body)
			}
		})
	}
	list := string(e.must(200, "GET", "/admin/v1/admins", nil).Body)
	for _, tok := range tokens {
		if strings.Contains(list, tok) || strings.Contains(list, hashToken(tok)) {
			t.Fatal("admin list shows a token or its hash")
		}
	}
	t.Run("delete: the token stops working; the last admin stays", func(t *testing.T) {
		var opsID string
		for id, tok := range tokens {
			if e.do(tok, "GET", "/admin/v1/admins/"+id, nil).str(t, "name") == "ops" {
				opsID = id
			}
		}
		rootID := e.auditAll()[0]["resource_id"].(string)
		e.must(204, "DELETE", "/admin/v1/admins/"+opsID, nil)
		problemOf(t, e.do(tokens[opsID], "GET", "/admin/v1/tenants", nil), 401, CodeUnauthorized)
		if d := problemOf(t, e.do(e.root, "DELETE", "/admin/v1/admins/"+rootID, nil), 409, CodeConflict); !strings.Contains(d, "last admin") {
			t.Fatal(d)
		}
		problemOf(t, e.do(e.root, "DELETE", "/admin/v1/admins/adm_nope", nil), 404, CodeNotFound)
	})
}

// TestInMemoryStore runs the paths that read the store around a
// transaction on the single-connection in-memory store, where a read
// inside an open transaction would deadlock.
func TestInMemoryStore(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, "sqlite://:memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	root, err := Bootstrap(ctx, st, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Config{Store: st}))
	defer srv.Close()
	e := &testEnv{t: t, store: st, srv: srv, root: root}
	// A deadlock would hang until go test's own timeout; fail fast instead.
	watchdog := time.AfterFunc(30*time.Second, func() { panic("admin: deadlock on the in-memory store") })
	defer watchdog.Stop()
	a := e.fixture("acme")
	e.fixture("globex")
	_, ta := e.newAdmin("acme-ops", domain.RoleTenantAdmin, "acme")
	problemOf(t, e.do(ta, "GET", "/admin/v1/consumers/globex%2Fapp", nil), 403, CodeForbidden)
	problemOf(t, e.do(ta, "POST", "/admin/v1/consumers", map[string]any{"tenant": "globex", "name": "x"}), 403, CodeForbidden)
	e.do(ta, "GET", "/admin/v1/keys", nil).items(t)
	e.do(ta, "GET", "/admin/v1/routes", nil).items(t)
	problemOf(t, e.do(e.root, "GET", "/admin/v1/consumers/app", nil), 409, CodeAmbiguous)
	e.must(201, "POST", "/admin/v1/keys/"+a.keyID+"/rotate", nil)
	e.must(200, "PATCH", "/admin/v1/consumers/"+a.consumerID, map[string]any{"scopes": []string{"orders:read", "orders:write"}})
	sub := e.do(ta, "POST", "/admin/v1/subscriptions", map[string]any{"consumer": "app", "service": a.serviceID})
	if sub.Status != 201 {
		t.Fatalf("%d %s", sub.Status, sub.Body)
	}
	e.do(ta, "GET", "/admin/v1/subscriptions?service="+a.serviceID, nil).items(t)
	e.must(200, "POST", "/admin/v1/subscriptions/"+sub.str(t, "id")+"/revoke", nil)
	e.must(204, "DELETE", "/admin/v1/routes/"+a.routeID, nil)
	e.must(204, "DELETE", "/admin/v1/services/"+a.serviceID, nil)
}
