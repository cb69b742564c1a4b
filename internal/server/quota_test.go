package server

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/ai/aitest"
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
	first := h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{path},
		"quota": map[string]any{"limit": 3, "period": "day"}})["id"].(string)
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

	// A refused call is charged to no quota: not to the plan's when the
	// route's quota refuses after it, and not to the quota that refused it
	// (a limit raised later in the period is not eaten by refusals).
	svc2 := h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": w.tenant, "name": "pro-svc", "approval_required": true,
		"targets": []string{h.upstream.URL}})["id"].(string)
	rpath := path + "r"
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": svc2, "paths": []string{rpath},
		"quota": map[string]any{"limit": 1, "period": "day"}})
	sub2 := h.mustAdmin("POST", "/admin/v1/subscriptions", map[string]any{"consumer": other, "service": svc2,
		"plan": map[string]any{"name": "pro", "quota": map[string]any{"limit": 2, "period": "month"}}})["id"].(string)
	h.mustAdmin("POST", "/admin/v1/subscriptions/"+sub2+"/approve", nil)
	if r := h.call("GET", rpath+"/x", bearer(k2)...); r.status != 200 {
		t.Fatalf("first call on the plan and route quotas: %d %s", r.status, r.raw)
	}
	for i := range 3 {
		r := h.call("GET", rpath+"/x", bearer(k2)...)
		if r.status != 429 || !strings.Contains(r.header.Get("RateLimit-Policy"), `"route-quota";q=1`) {
			t.Fatalf("refusal %d is the route's quota's, the plan's (2 a month) untouched by the ones before: %d %s", i+1, r.status, r.raw)
		}
	}
	h.clock.Set(t0.Add(14 * time.Hour))
	if r := h.call("GET", rpath+"/x", bearer(k2)...); r.status != 200 {
		t.Fatalf("the next day, the plan's second call: %d %s", r.status, r.raw)
	}
	if r := h.call("GET", rpath+"/x", bearer(k2)...); r.status != 429 {
		t.Fatalf("the next day, a call over both quotas: %d %s", r.status, r.raw)
	}
	h.clock.Set(t0)
	// The first route's quota stood at its limit, 3, through the refusal
	// of the fourth call; raised to 4, it admits one more call that day.
	h.mustAdmin("PATCH", "/admin/v1/routes/"+first, map[string]any{"quota": map[string]any{"limit": 4, "period": "day"}})
	if r := h.call("GET", path+"/x", bearer(k1)...); r.status != 200 {
		t.Fatalf("a raised limit is not eaten by the calls it refused: %d %s", r.status, r.raw)
	}

	// Validation names the field.
	code, out := h.adminDo("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{path + "v"},
		"quota": map[string]any{"limit": 3, "period": "week"}})
	if code != 400 || !strings.Contains(out["detail"].(string), "quota.period") {
		t.Errorf("a quota per week: %d %v", code, out)
	}
}

// An AI route's own refusals (an unknown model, a budget used up) come
// after the quota has counted the call; like a quota's refusal, they
// count against no quota. A call a provider answered — its failure, or
// its own 400 passed on — was forwarded and counts.
func TestAIRefusalsAreNotChargedToQuotas(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	f := aitest.New(t, aitest.OpenAI)
	f.Script(func(r aitest.Request) aitest.Scenario {
		switch r.JSON()["model"] {
		case "upstream-broken":
			return aitest.Scenario{Status: 500}
		case "upstream-picky":
			return aitest.Scenario{Status: 400}
		}
		return aitest.Scenario{Text: "ok", Usage: aitest.Usage{Input: 10, Output: 2}}
	})
	p := h.mustAdmin("POST", "/admin/v1/providers", map[string]any{"name": "oai", "type": "openai",
		"base_url": f.Provider("oai").BaseURL, "api_keys": []string{aitest.DefaultKey(aitest.OpenAI)}})
	free := map[string]any{"input_per_1m": "0", "output_per_1m": "0"}
	h.mustAdmin("POST", "/admin/v1/models", map[string]any{"name": "chat", "price": free,
		"targets": []map[string]any{{"provider": p["id"], "model": "upstream-model"}}})
	h.mustAdmin("POST", "/admin/v1/models", map[string]any{"name": "broken", "price": free,
		"targets": []map[string]any{{"provider": p["id"], "model": "upstream-broken"}}})
	h.mustAdmin("POST", "/admin/v1/models", map[string]any{"name": "picky", "price": free,
		"targets": []map[string]any{{"provider": p["id"], "model": "upstream-picky"}}})
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/llm"}, "type": "ai",
		"quota": map[string]any{"limit": 3, "period": "day"}})
	_, key := h.newKey(w.consumer, nil)
	ask := func(model string) response {
		return postJSON(h, "/llm/v1/chat/completions",
			fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}]}`, model), bearer(key)...)
	}
	code := func(r response) any {
		e, _ := r.body["error"].(map[string]any)
		return e["code"]
	}
	for i := range 3 {
		if r := ask("no-such-model"); r.status != 404 || code(r) != "ai.model_unknown" {
			t.Fatalf("unknown model, call %d: the gateway's refusal, not the quota's: %d %s", i+1, r.status, r.raw)
		}
	}
	if r := ask("chat"); r.status != 200 {
		t.Fatalf("a served call: %d %s", r.status, r.raw)
	}
	if r := ask("broken"); r.status < 500 {
		t.Fatalf("a provider failure: %d %s", r.status, r.raw)
	}
	if r := ask("picky"); r.status != 400 {
		t.Fatalf("a provider's own refusal, passed on: %d %s", r.status, r.raw)
	}
	if r := ask("chat"); r.status != 429 || code(r) != "quota.exceeded" {
		t.Fatalf("the served call, the provider failure and the provider's refusal used the quota of 3: %d %s", r.status, r.raw)
	}
}
