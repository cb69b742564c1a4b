package server

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// §9's quotas: calls per calendar day or month, per consumer, credential
// or route, and per subscription plan — quota.exceeded (429) once used up,
// with Retry-After until the period ends and the RateLimit fields, and a
// fresh count in the next period; shared through Redis in cluster mode.
func TestQuotas(t *testing.T) {
	inMemoryAndRedis(t, testQuotas)
}

func testQuotas(t *testing.T, h *harness) {
	w := h.newWorld("acme", nil, nil)
	// A unique path per run: Redis keeps counts between runs of the test.
	path := "/q" + strconv.FormatInt(time.Now().UnixNano(), 36)
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{path},
		"quota": map[string]any{"limit": 3, "period": "day"}})
	_, k1 := h.newKey(w.consumer, nil)
	other := h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": w.tenant, "name": "other-app"})["id"].(string)
	_, k2 := h.newKey(other, nil)

	for i := range 3 {
		if r := h.call("GET", path+"/x", bearer(k1)...); r.status != 200 {
			t.Fatalf("call %d: %d %s", i+1, r.status, r.raw)
		}
	}
	r := h.call("GET", path+"/x", bearer(k1)...)
	if r.status != 429 || r.body["code"] != "quota.exceeded" || !strings.Contains(r.body["detail"].(string), "application 'acme-app' is 3 calls per day") {
		t.Fatalf("the fourth call: %d %s", r.status, r.raw)
	}
	// t0 is 10:00 UTC: the day ends in 14 hours.
	if ra := r.header.Get("Retry-After"); ra != strconv.Itoa(14*3600+1) {
		t.Errorf("Retry-After %q", ra)
	}
	if p := r.header.Get("RateLimit-Policy"); p != `"route-quota";q=3;w=86400` {
		t.Errorf("RateLimit-Policy %q", p)
	}
	if r := h.call("GET", path+"/x", bearer(k2)...); r.status != 200 {
		t.Fatalf("another application's quota is its own: %d %s", r.status, r.raw)
	}
	h.clock.Set(t0.Add(14 * time.Hour))
	defer h.clock.Set(t0)
	if r := h.call("GET", path+"/x", bearer(k1)...); r.status != 200 {
		t.Fatalf("the next day: %d %s", r.status, r.raw)
	}
	h.clock.Set(t0)

	// A plan's quota, counted per subscription.
	svc := h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": w.tenant, "name": "gold-svc", "approval_required": true,
		"targets": []string{h.upstream.URL}})["id"].(string)
	gpath := path + "g"
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{gpath}})
	sub := h.mustAdmin("POST", "/admin/v1/subscriptions", map[string]any{"consumer": other, "service": svc,
		"plan": map[string]any{"name": "trial", "quota": map[string]any{"limit": 2, "period": "month"}}})["id"].(string)
	h.mustAdmin("POST", "/admin/v1/subscriptions/"+sub+"/approve", nil)
	for i := range 2 {
		if r := h.call("GET", gpath+"/x", bearer(k2)...); r.status != 200 {
			t.Fatalf("plan call %d: %d %s", i+1, r.status, r.raw)
		}
	}
	r = h.call("GET", gpath+"/x", bearer(k2)...)
	if r.status != 429 || r.body["code"] != "quota.exceeded" || !strings.Contains(r.body["detail"].(string), "subscription "+sub) ||
		!strings.Contains(r.body["detail"].(string), "resets at 2026-12-01T00:00:00Z") {
		t.Fatalf("over the plan's quota: %d %s", r.status, r.raw)
	}

	// A quota behind a rate limit that allowed the call: the RateLimit
	// field describes the quota that refused, beside the rate limit's
	// policy.
	both := path + "b"
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{both},
		"rate_limit": map[string]any{"limit": 100, "period": "1m"}, "quota": map[string]any{"limit": 1, "period": "day"}})
	if r := h.call("GET", both+"/x", bearer(k1)...); r.status != 200 {
		t.Fatalf("first call: %d %s", r.status, r.raw)
	}
	r = h.call("GET", both+"/x", bearer(k1)...)
	if r.status != 429 || r.body["code"] != "quota.exceeded" || !strings.HasPrefix(r.header.Get("RateLimit"), `"route-quota";r=0;t=`) ||
		!strings.Contains(r.header.Get("RateLimit-Policy"), `"route-quota";q=1;w=86400`) || !strings.Contains(r.header.Get("RateLimit-Policy"), `"route";q=100;w=60`) {
		t.Fatalf("quota behind a rate limit: %d %v %s", r.status, r.header, r.raw)
	}

	// Validation names the field.
	code, out := h.adminDo("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{path + "v"},
		"quota": map[string]any{"limit": 3, "period": "week"}})
	if code != 400 || !strings.Contains(out["detail"].(string), "quota.period") {
		t.Errorf("a quota per week: %d %v", code, out)
	}
}
