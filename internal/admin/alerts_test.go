package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/alerts"
	"gatehouse/internal/domain"
)

func TestAlertRules(t *testing.T) {
	e := newEnv(t)
	acme, beta := e.fixture("acme"), e.fixture("beta")
	_, acmeAdmin := e.newAdmin("acme-ops", domain.RoleTenantAdmin, "acme")
	_, viewer := e.newAdmin("watcher", domain.RoleViewer, "")
	storm := map[string]any{"name": "jwt storm", "kind": "threshold", "reason": "jwt.expired", "threshold": 10}

	changes := e.changeCount()
	global := e.must(201, "POST", "/admin/v1/alerts/rules", storm).JSON(t)
	if global["by"] != "consumer" || global["window"] != "1m0s" || global["cooldown"] != "10m0s" || global["tenant"] != nil {
		t.Errorf("created rule %v: want defaults by consumer, window 1m, cooldown 10m, no tenant", global)
	}
	if e.changeCount() != changes+1 {
		t.Error("OnChange not called for a rule change (the engine reloads there)")
	}
	globalID := global["id"].(string)

	create := []struct {
		desc   string
		token  string
		body   map[string]any
		status int
		check  func(t *testing.T, r resp)
	}{
		{"a tenant-admin's rule is its tenant's", acmeAdmin, map[string]any{"name": "acme ips", "kind": "new_ip"}, 201,
			func(t *testing.T, r resp) {
				if r.str(t, "tenant") != acme.tenantID {
					t.Errorf("tenant %q, want %s", r.str(t, "tenant"), acme.tenantID)
				}
			}},
		{"a consumer by tenant-slug/name narrows the rule", e.root, map[string]any{"name": "acme app expiry", "kind": "key_expiring",
			"tenant": "acme", "consumer": "acme/app", "within": "72h"}, 201,
			func(t *testing.T, r resp) {
				m := r.JSON(t)
				if m["consumer"] != acme.consumerID || m["within"] != "72h0m0s" || m["cooldown"] != "24h0m0s" {
					t.Errorf("rule %v", m)
				}
			}},
		{"the same name in another tenant is fine", e.root, map[string]any{"name": "jwt storm", "tenant": "beta", "kind": "threshold",
			"reason": "jwt.", "threshold": 3, "by": "route", "route": beta.routeID}, 201, nil},
		{"a taken name in the same tenant", e.root, storm, 409, func(t *testing.T, r resp) { problemOf(t, r, 409, CodeConflict) }},
		{"a tenant-admin cannot write for another tenant", acmeAdmin, map[string]any{"name": "x", "kind": "new_ip", "tenant": "beta"}, 403,
			func(t *testing.T, r resp) { problemOf(t, r, 403, CodeForbidden) }},
		{"nor about another tenant's consumer", acmeAdmin, map[string]any{"name": "x", "kind": "new_ip", "consumer": beta.consumerID}, 403,
			func(t *testing.T, r resp) { problemOf(t, r, 403, CodeForbidden) }},
		{"a consumer outside the rule's tenant", e.root, map[string]any{"name": "x", "kind": "new_ip", "tenant": "acme", "consumer": beta.consumerID}, 400,
			func(t *testing.T, r resp) { problemOf(t, r, 400, CodeInvalid) }},
		{"a viewer cannot write", viewer, map[string]any{"name": "x", "kind": "new_ip"}, 403,
			func(t *testing.T, r resp) { problemOf(t, r, 403, CodeForbidden) }},
		{"an invalid rule names the field", e.root, map[string]any{"name": "x", "kind": "threshold", "reason": "jwt.expird", "threshold": 1}, 400,
			func(t *testing.T, r resp) {
				if d := problemOf(t, r, 400, CodeInvalid); !strings.Contains(d, "jwt.expird") {
					t.Errorf("detail %q does not name the reason", d)
				}
			}},
		{"a bad duration names its field", e.root, map[string]any{"name": "x", "kind": "threshold", "threshold": 3, "window": "abc"}, 400,
			func(t *testing.T, r resp) {
				if d := problemOf(t, r, 400, CodeInvalid); !strings.Contains(d, `field "window"`) || !strings.Contains(d, `"abc"`) {
					t.Errorf("detail %q does not name the field", d)
				}
			}},
		{"a bad cooldown names its field", e.root, map[string]any{"name": "x", "kind": "new_ip", "cooldown": "zz"}, 400,
			func(t *testing.T, r resp) {
				if d := problemOf(t, r, 400, CodeInvalid); !strings.Contains(d, `field "cooldown"`) {
					t.Errorf("detail %q does not name the field", d)
				}
			}},
		{"an unknown field", e.root, map[string]any{"name": "x", "kind": "new_ip", "severity": "high"}, 400,
			func(t *testing.T, r resp) { problemOf(t, r, 400, CodeInvalid) }},
		{"an unknown route", e.root, map[string]any{"name": "x", "kind": "new_ip", "route": "rte_nope"}, 404,
			func(t *testing.T, r resp) { problemOf(t, r, 404, CodeNotFound) }},
	}
	for _, tc := range create {
		t.Run(tc.desc, func(t *testing.T) {
			r := e.do(tc.token, "POST", "/admin/v1/alerts/rules", tc.body)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}

	names := func(token, query string) []string {
		t.Helper()
		var out []string
		for _, it := range e.must2(token, 200, "GET", "/admin/v1/alerts/rules"+query).items(t) {
			out = append(out, it["name"].(string))
		}
		return out
	}
	t.Run("lists: the root admin sees every rule, a tenant-admin its tenant's", func(t *testing.T) {
		if got := names(e.root, ""); len(got) != 4 {
			t.Errorf("root sees %v, want 4 rules", got)
		}
		if got := names(e.root, "?tenant=beta"); len(got) != 1 || got[0] != "jwt storm" {
			t.Errorf("root with tenant=beta sees %v", got)
		}
		if got := names(acmeAdmin, ""); len(got) != 2 {
			t.Errorf("acme's admin sees %v, want its 2 rules", got)
		}
		problemOf(t, e.do(acmeAdmin, "GET", "/admin/v1/alerts/rules?tenant=beta", nil), 403, CodeForbidden)
	})
	t.Run("a tenant-admin cannot read or delete a gateway-wide rule", func(t *testing.T) {
		problemOf(t, e.do(acmeAdmin, "GET", "/admin/v1/alerts/rules/"+globalID, nil), 403, CodeForbidden)
		problemOf(t, e.do(acmeAdmin, "DELETE", "/admin/v1/alerts/rules/"+globalID, nil), 403, CodeForbidden)
		e.must(200, "GET", "/admin/v1/alerts/rules/"+globalID, nil)
	})
	t.Run("delete, then it is gone; deletions are audited", func(t *testing.T) {
		e.must(204, "DELETE", "/admin/v1/alerts/rules/"+globalID, nil)
		problemOf(t, e.do(e.root, "GET", "/admin/v1/alerts/rules/"+globalID, nil), 404, CodeNotFound)
		var created, deleted int
		for _, a := range e.auditAll() {
			switch a["action"] {
			case "alert_rule.create":
				created++
			case "alert_rule.delete":
				deleted++
			}
		}
		if created != 4 || deleted != 1 {
			t.Errorf("audit: %d creations, %d deletions; want 4 and 1", created, deleted)
		}
	})
	t.Run("a rule declared in gatehouse.yaml is read-only", func(t *testing.T) {
		if _, err := alerts.SyncDeclared(context.Background(), e.store,
			[]domain.AlertRule{{Name: "declared", Kind: domain.AlertNewIP}}, t0); err != nil {
			t.Fatal(err)
		}
		id := alerts.DeclaredID("", "declared")
		if r := e.must(200, "GET", "/admin/v1/alerts/rules/"+id, nil).JSON(t); r["declared"] != true {
			t.Errorf("declared rule %v", r)
		}
		problemOf(t, e.do(e.root, "DELETE", "/admin/v1/alerts/rules/"+id, nil), 409, CodeDeclared)
	})
}

func TestFiredAlerts(t *testing.T) {
	e := newEnv(t)
	acme, beta := e.fixture("acme"), e.fixture("beta")
	_, acmeAdmin := e.newAdmin("acme-ops", domain.RoleTenantAdmin, "acme")
	mk := func(id, rule, tenant string, ago time.Duration) domain.Alert {
		return domain.Alert{ID: id, RuleID: rule, RuleName: rule, Kind: domain.AlertThreshold, TenantID: tenant,
			Subject: "consumer x", Reason: "jwt.expired", Count: 11, Threshold: 10, Message: "m", FiredAt: t0.Add(-ago)}
	}
	for _, a := range []domain.Alert{
		mk("evt_1", "alr_a", acme.tenantID, 3*time.Hour),
		mk("evt_2", "alr_a", beta.tenantID, 2*time.Hour),
		mk("evt_3", "alr_b", "", time.Hour),
		mk("evt_4", "alr_b", acme.tenantID, time.Minute),
	} {
		if err := e.store.InsertAlert(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		desc, token, query string
		want               []string
	}{
		{"the root admin sees every alert, newest first", e.root, "", []string{"evt_4", "evt_3", "evt_2", "evt_1"}},
		{"a tenant-admin sees its tenant's, never gateway-wide ones", acmeAdmin, "", []string{"evt_4", "evt_1"}},
		{"by rule", e.root, "?rule=alr_a", []string{"evt_2", "evt_1"}},
		{"by tenant slug", e.root, "?tenant=beta", []string{"evt_2"}},
		{"since", e.root, "?since=90m", []string{"evt_4", "evt_3"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var got []string
			for _, it := range e.must2(tc.token, 200, "GET", "/admin/v1/alerts"+tc.query).items(t) {
				got = append(got, it["id"].(string))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
	t.Run("pages by cursor", func(t *testing.T) {
		r := e.must(200, "GET", "/admin/v1/alerts?limit=3", nil)
		next := r.str(t, "next")
		if len(r.items(t)) != 3 || next == "" {
			t.Fatalf("first page: %s", r.Body)
		}
		r = e.must(200, "GET", "/admin/v1/alerts?limit=3&after="+next, nil)
		if items := r.items(t); len(items) != 1 || items[0]["id"] != "evt_1" {
			t.Errorf("second page: %s", r.Body)
		}
		problemOf(t, e.do(e.root, "GET", "/admin/v1/alerts?after=bogus!", nil), 400, CodeInvalid)
	})
	problemOf(t, e.do(acmeAdmin, "GET", "/admin/v1/alerts?tenant=beta", nil), 403, CodeForbidden)
}

// must2 is must for any token.
func (e *testEnv) must2(token string, want int, method, path string) resp {
	e.t.Helper()
	r := e.do(token, method, path, nil)
	if r.Status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	return r
}
