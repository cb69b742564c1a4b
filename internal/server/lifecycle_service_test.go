package server

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
)

// §2's service lifecycle through the admin API and the gateway: a
// deprecated service answers normally with Deprecation (RFC 9745) and
// Sunset (RFC 8594); a retired one answers service.retired (410) naming
// its successor to those who may see it; a draft answers only its own
// tenant's test keys.
func TestServiceLifecycle(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Environment = "both" })
	w := h.newWorld("acme", nil, nil)
	_, live := h.newKey(w.consumer, nil)
	_, test := h.newKey(w.consumer, map[string]any{"environment": "test"})
	other := h.newWorld("beta", nil, nil)
	_, foreign := h.newKey(other.consumer, nil)
	h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": w.tenant, "name": "acme-svc-v2", "version": "2",
		"targets": []string{h.upstream.URL}})

	patch := func(body map[string]any) (int, map[string]any) {
		return h.adminDo("PATCH", "/admin/v1/services/"+w.service, body)
	}
	call := func(key string) response { return h.call("GET", "/acme/x", bearer(key)...) }

	if code, out := patch(map[string]any{"lifecycle": "deprecated"}); code != 400 || !strings.Contains(out["detail"].(string), "sunset is required") {
		t.Fatalf("deprecated without a sunset: %d %v", code, out)
	}
	if code, out := patch(map[string]any{"lifecycle": "sunsetting"}); code != 400 || !strings.Contains(out["detail"].(string), "lifecycle") {
		t.Fatalf("an unknown state: %d %v", code, out)
	}
	if code, out := patch(map[string]any{"lifecycle": "deprecated", "sunset": "2027-06-30T00:00:00Z", "successor": "acme-svc-v2"}); code != 200 ||
		out["lifecycle"] != "deprecated" || out["deprecated_at"] != t0.Format(time.RFC3339) || !strings.HasPrefix(out["successor"].(string), "svc_") {
		t.Fatalf("deprecate: %d %v", code, out)
	}

	t.Run("deprecated: answered, with Deprecation and Sunset", func(t *testing.T) {
		r := call(live)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if got := r.header.Get("Deprecation"); got != "@"+strconv.FormatInt(t0.Unix(), 10) {
			t.Errorf("Deprecation %q", got)
		}
		if got := r.header.Get("Sunset"); got != "Wed, 30 Jun 2027 00:00:00 GMT" {
			t.Errorf("Sunset %q", got)
		}
		if _, err := http.ParseTime(r.header.Get("Sunset")); err != nil {
			t.Errorf("Sunset is not an HTTP-date: %v", err)
		}
		// Before possession a caller learns nothing of the service (§5).
		if r := h.call("GET", "/acme/x"); r.status != 401 || r.header.Get("Deprecation") != "" || r.header.Get("Sunset") != "" {
			t.Errorf("a caller without a credential: %d, Deprecation %q, Sunset %q", r.status, r.header.Get("Deprecation"), r.header.Get("Sunset"))
		}
	})

	if code, out := patch(map[string]any{"lifecycle": "retired"}); code != 200 || out["deprecated_at"] != t0.Format(time.RFC3339) {
		t.Fatalf("retire: %d %v", code, out)
	}
	t.Run("retired: 410 naming the successor", func(t *testing.T) {
		r := call(live)
		if r.status != 410 || r.body["code"] != "service.retired" ||
			!strings.Contains(r.body["detail"].(string), "Its successor is service 'acme-svc-v2' (version 2).") {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if r.header.Get("Deprecation") != "" {
			t.Error("a retired service still announces a deprecation")
		}
	})
	t.Run("retired and private: another tenant's caller is not told the successor", func(t *testing.T) {
		r := call(foreign)
		if r.status != 410 || strings.Contains(r.raw, "acme-svc-v2") {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	t.Run("retired: another tenant's caller is told a published successor", func(t *testing.T) {
		h.mustAdmin("PATCH", "/admin/v1/services/acme-svc-v2", map[string]any{"visibility": "published"})
		defer h.mustAdmin("PATCH", "/admin/v1/services/acme-svc-v2", map[string]any{"visibility": "private"})
		if r := call(foreign); r.status != 410 || !strings.Contains(r.raw, "Its successor is service 'acme-svc-v2'") {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	t.Run("no rejection before possession says more", func(t *testing.T) {
		if r := h.call("GET", "/acme/x"); r.status != 401 || strings.Contains(r.raw, "retired") {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})

	if code, out := patch(map[string]any{"lifecycle": "draft"}); code != 200 || out["sunset"] != nil || out["deprecated_at"] != nil {
		t.Fatalf("draft: %d %v", code, out)
	}
	t.Run("draft: its own tenant's test keys only", func(t *testing.T) {
		if r := call(test); r.status != 200 {
			t.Fatalf("test key: %d %s", r.status, r.raw)
		}
		r := call(live)
		if r.status != 404 || r.body["code"] != "route.not_found" || !strings.Contains(r.body["detail"].(string), "is a draft") {
			t.Fatalf("live key: %d %s", r.status, r.raw)
		}
		r = call(foreign)
		if r.status != 404 || strings.Contains(r.raw, "draft") || strings.Contains(r.raw, "acme-svc") {
			t.Fatalf("another tenant's key: %d %s", r.status, r.raw)
		}
		// whoami's dry run tells another tenant's caller no more.
		r = h.call("GET", "/.well-known/gatehouse/whoami?method=GET&path=/acme/x", bearer(foreign)...)
		v, _ := r.body["verdict"].(map[string]any)
		if v == nil || v["code"] != "route.not_found" || v["detail"] != "No route matches GET /acme/x on this gateway." ||
			strings.Contains(r.raw, "draft") || strings.Contains(r.raw, "a route serves") {
			t.Fatalf("whoami for another tenant's draft: %d %s", r.status, r.raw)
		}
	})

	if code, out := patch(map[string]any{"lifecycle": "active"}); code != 200 {
		t.Fatalf("activate: %d %v", code, out)
	}
	if r := call(live); r.status != 200 || r.header.Get("Deprecation") != "" || r.header.Get("Sunset") != "" {
		t.Fatalf("active again: %d %v %s", r.status, r.header, r.raw)
	}
}

// §2: "a deprecated one … raises an alert for consumers still calling
// it" — a deprecated_service_used rule fires once per consumer and service
// within its cooldown, naming the sunset and the successor.
func TestDeprecatedServiceUseAlerts(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	_, key := h.newKey(w.consumer, nil)
	succ := h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": w.tenant, "name": "acme-svc-v2", "targets": []string{h.upstream.URL}})["id"].(string)
	h.mustAdmin("POST", "/admin/v1/alerts/rules", map[string]any{"name": "still on v1", "kind": "deprecated_service_used"})
	if r := h.call("GET", "/acme/x", bearer(key)...); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	h.mustAdmin("PATCH", "/admin/v1/services/"+w.service, map[string]any{"lifecycle": "deprecated", "sunset": "2027-06-30T00:00:00Z", "successor": succ})
	for range 3 {
		if r := h.call("GET", "/acme/x", bearer(key)...); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	}
	var alerts []any
	deadline := time.Now().Add(5 * time.Second)
	for len(alerts) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		_, out := h.adminDo("GET", "/admin/v1/alerts", nil)
		alerts, _ = out["items"].([]any)
	}
	time.Sleep(300 * time.Millisecond) // a second alert, if one were coming
	_, out := h.adminDo("GET", "/admin/v1/alerts", nil)
	alerts, _ = out["items"].([]any)
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1 (once per consumer and service per cooldown): %v", len(alerts), out)
	}
	a := alerts[0].(map[string]any)
	if a["kind"] != "deprecated_service_used" || a["consumer"] != w.consumer || a["service"] != w.service || a["successor"] != succ ||
		!strings.Contains(a["message"].(string), "its sunset is 2027-06-30T00:00:00Z") {
		t.Fatalf("alert %v", a)
	}
}

// A PATCH of other fields does not re-check a successor set earlier: one
// deleted since must not lock the service's other fields.
func TestServicePatchKeepsADeletedSuccessor(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	succ := h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": w.tenant, "name": "next", "targets": []string{h.upstream.URL}})["id"].(string)
	h.mustAdmin("PATCH", "/admin/v1/services/"+w.service, map[string]any{"lifecycle": "deprecated", "sunset": "2027-01-01T00:00:00Z", "successor": "next"})
	h.mustAdmin("DELETE", "/admin/v1/services/"+succ, nil)
	if code, out := h.adminDo("PATCH", "/admin/v1/services/"+w.service, map[string]any{"version": "1.1"}); code != 200 {
		t.Fatalf("a PATCH of the version: %d %v", code, out)
	}
	if code, out := h.adminDo("PATCH", "/admin/v1/services/"+w.service, map[string]any{"successor": "nope"}); code != 400 ||
		!strings.Contains(out["detail"].(string), `successor "nope": no such service`) {
		t.Fatalf("a new unknown successor: %d %v", code, out)
	}
}
