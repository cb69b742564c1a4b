package server

import (
	"fmt"
	"strings"
	"testing"
)

// TestAccessMatrix is issue 5's black-box matrix: {same tenant (approval
// required), other tenant private, other tenant published} × {no
// subscription, pending, approved, rejected, revoked} × {scope present,
// missing} gives the expected status and code in every cell.
func TestAccessMatrix(t *testing.T) {
	h := newHarness(t)
	callerTenant := h.mustAdmin("POST", "/admin/v1/tenants", map[string]any{"slug": "shop", "name": "Shop"})["id"].(string)
	ownerTenant := h.mustAdmin("POST", "/admin/v1/tenants", map[string]any{"slug": "payments", "name": "Payments"})["id"].(string)
	h.mustAdmin("POST", "/admin/v1/admins", map[string]any{"name": "pat", "role": "tenant-admin", "tenant": ownerTenant})

	services := []struct {
		kind, tenant, visibility string
		approval                 bool
	}{
		{"same-tenant", callerTenant, "private", true},
		{"other-private", ownerTenant, "private", false},
		{"other-published", ownerTenant, "published", false},
	}
	for _, s := range services {
		id := h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": s.tenant, "name": s.kind, "targets": []string{h.upstream.URL},
			"visibility": s.visibility, "approval_required": s.approval})["id"].(string)
		h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": id, "paths": []string{"/" + s.kind}, "scopes": []string{"orders:read"}})
	}
	states := []string{"none", "pending", "approved", "rejected", "revoked"}
	for _, s := range services {
		for _, state := range states {
			for _, scope := range []bool{true, false} {
				name := fmt.Sprintf("%s/%s/scope=%v", s.kind, state, scope)
				t.Run(name, func(t *testing.T) {
					grants := []string{}
					if scope {
						grants = []string{"orders:read"}
					}
					c := h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": callerTenant,
						"name": strings.NewReplacer("/", "-", "=", "-").Replace(name), "scopes": grants})["id"].(string)
					_, key := h.newKey(c, nil)
					subCreated := true
					if state != "none" {
						code, sub := h.adminDo("POST", "/admin/v1/subscriptions", map[string]any{"consumer": c, "service": s.kind, "note": "please"})
						if s.kind == "other-private" {
							if code < 400 {
								t.Fatalf("a subscription to another tenant's private service was accepted: %v", sub)
							}
							subCreated = false
						} else if code != 201 {
							t.Fatalf("subscription request: %d %v", code, sub)
						} else {
							sid := sub["id"].(string)
							switch state {
							case "approved":
								h.mustAdmin("POST", "/admin/v1/subscriptions/"+sid+"/approve", map[string]any{"note": "ok"})
							case "rejected":
								h.mustAdmin("POST", "/admin/v1/subscriptions/"+sid+"/reject", map[string]any{"note": "not this quarter"})
							case "revoked":
								h.mustAdmin("POST", "/admin/v1/subscriptions/"+sid+"/approve", nil)
								h.mustAdmin("POST", "/admin/v1/subscriptions/"+sid+"/revoke", map[string]any{"note": "abuse"})
							}
						}
					}
					want, status := "", 200
					switch {
					case s.kind == "other-private" || !subCreated:
						want, status = "tenant.mismatch", 403
					case state == "none":
						want, status = "subscription.required", 403
					case state != "approved":
						want, status = "subscription."+state, 403
					case !scope:
						want, status = "scope.insufficient", 403
					}
					r := h.call("GET", "/"+s.kind+"/orders", bearer(key)...)
					if r.status != status || (want != "" && r.body["code"] != want) {
						t.Fatalf("got %d %v, want %d %s: %s", r.status, r.body["code"], status, want, r.raw)
					}
					approver := "pat" // tenant-admin of the service's tenant
					if s.tenant == callerTenant {
						approver = "bootstrap" // only the gateway admin
					}
					if want == "subscription.pending" && !strings.Contains(r.body["hint"].(string), approver) {
						t.Errorf("pending hint does not name the approver %s: %s", approver, r.raw)
					}
					// The hint's command names the consumer as tenant-slug/name,
					// which stays unambiguous when another tenant has an
					// application of the same name.
					if want == "subscription.required" && !strings.Contains(r.body["hint"].(string), "--consumer shop/"+strings.NewReplacer("/", "-", "=", "-").Replace(name)+" ") {
						t.Errorf("required hint does not name the consumer by tenant-slug/name: %s", r.raw)
					}
					if want == "subscription.rejected" && !strings.Contains(r.body["detail"].(string), "not this quarter") {
						t.Errorf("rejection note missing: %s", r.raw)
					}
				})
			}
		}
	}
}
