package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/cluster"
	"gatehouse/internal/config"
	"gatehouse/internal/store/postgres/pgtest"
	"gatehouse/internal/testenv"
)

func testRedisURL(t *testing.T) string {
	t.Helper()
	u := "redis://127.0.0.1:6379/0"
	c, _ := cluster.OpenRedis(u)
	defer c.Close()
	testenv.Require(t, "Redis on 127.0.0.1:6379", cluster.Ping(context.Background(), c, time.Second))
	return u
}

// With GATEHOUSE_REDIS_URL, route limits are counted in Redis; with Redis
// unreachable they fall back to per-node counters, visibly.
func TestRedisLimits(t *testing.T) {
	u := testRedisURL(t)
	t.Run("counted in Redis", func(t *testing.T) {
		h := newHarness(t, func(c *config.Config) { c.RedisURL = u })
		w := h.newWorld("acme", nil, nil)
		rt := h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/limited"},
			"rate_limit": map[string]any{"limit": 3, "period": "1m"}})["id"].(string)
		_, k := h.newKey(w.consumer, nil)
		var codes []int
		for i := 0; i < 5; i++ {
			codes = append(codes, h.call("GET", "/limited/x", bearer(k)...).status)
		}
		if codes[2] != 200 || codes[3] != 429 {
			t.Fatalf("statuses %v", codes)
		}
		c, _ := cluster.OpenRedis(u)
		defer c.Close()
		keys, _ := c.Keys(context.Background(), "gatehouse:rl:*"+rt+"*").Result()
		if len(keys) == 0 {
			t.Fatal("no rate-limit key in Redis")
		}
		c.Del(context.Background(), keys...)
	})
	t.Run("Redis down: per-node fallback, visible in readyz", func(t *testing.T) {
		h := newHarness(t, func(c *config.Config) { c.RedisURL = "redis://127.0.0.1:1/0" })
		w := h.newWorld("acme", nil, nil)
		h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/limited"},
			"rate_limit": map[string]any{"limit": 3, "period": "1m"}})
		_, k := h.newKey(w.consumer, nil)
		var codes []int
		for i := 0; i < 5; i++ {
			codes = append(codes, h.call("GET", "/limited/x", bearer(k)...).status)
		}
		if codes[2] != 200 || codes[3] != 429 {
			t.Fatalf("statuses %v", codes)
		}
		r := h.call("GET", "/.well-known/gatehouse/readyz")
		if !strings.Contains(r.raw, "degraded") || !strings.Contains(r.raw, "per node") {
			t.Fatalf("readyz %s", r.raw)
		}
	})
	t.Run("Redis down, fail closed: refused, and said", func(t *testing.T) {
		h := newHarness(t, func(c *config.Config) { c.RedisURL = "redis://127.0.0.1:1/0"; c.RateLimits.FailClosed = true })
		w := h.newWorld("acme", nil, nil)
		h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/limited"},
			"rate_limit": map[string]any{"limit": 3, "period": "1m"}})
		keyID, k := h.newKey(w.consumer, nil)
		r := h.call("GET", "/limited/x", bearer(k)...)
		if r.status != 503 || r.body["code"] != "auth.backend_unavailable" || r.body["credential_id"] != keyID || r.header.Get("Retry-After") == "" {
			t.Errorf("a limited route with Redis down and fail_closed: %d %s; want 503 naming the caller's own credential", r.status, r.raw)
		}
		if r := h.call("GET", "/.well-known/gatehouse/readyz"); !strings.Contains(r.raw, "rate-limited requests are refused (rate_limits.fail_closed)") {
			t.Errorf("readyz %s", r.raw)
		}
	})
	// §10: with Redis down each of N nodes admits its share — rate limits
	// and AI budgets alike, so the nodes together stay near the configured
	// amount — and a refusal says it was the share, in its detail and in
	// RateLimit-Policy; health names the per-node budgets.
	t.Run("Redis down, two nodes: each its share, said", func(t *testing.T) {
		h := newHarness(t, func(c *config.Config) { c.RedisURL = "redis://127.0.0.1:1/0"; c.RateLimits.Nodes = 2 })
		w := h.newWorld("acme", nil, nil)
		h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/limited"},
			"rate_limit": map[string]any{"limit": 4, "period": "1m"}})
		_, k := h.newKey(w.consumer, nil)
		var codes []int
		var last response
		for range 3 {
			last = h.call("GET", "/limited/x", bearer(k)...)
			codes = append(codes, last.status)
		}
		if codes[1] != 200 || codes[2] != 429 {
			t.Fatalf("statuses %v: want 2 of the 4 a minute admitted on this node", codes)
		}
		if d, _ := last.body["detail"].(string); !strings.Contains(d, "this node admits its share of it: 2 per 1m0s") ||
			!strings.Contains(last.header.Get("RateLimit-Policy"), "q=2;") {
			t.Errorf("the refusal does not say it was this node's share: %s %v", last.raw, last.header)
		}

		h.chatModel(t)
		h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/llm"}, "type": "ai"})
		// 270 micros a call: 0.002 is 7 calls for the cluster, 3 for this
		// node's half (each call counted as two).
		h.mustAdmin("POST", "/admin/v1/budgets", map[string]any{"scope": "consumer", "scope_id": w.consumer, "amount": "0.002", "period": "day"})
		served := 0
		for range 8 {
			r := postJSON(h, "/llm/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`, bearer(k)...)
			if r.status == 200 {
				served++
			} else {
				t.Logf("%d %s", r.status, r.raw)
			}
		}
		if served != 4 {
			t.Errorf("%d AI calls served on one of two nodes with Redis down, want 4 (half the budget, each call counted twice)", served)
		}
		r := h.call("GET", "/.well-known/gatehouse/readyz")
		if !strings.Contains(r.raw, "AI budgets and quotas counted per node, each node a 1/2 share") {
			t.Errorf("readyz does not name the per-node budgets: %s", r.raw)
		}
	})
}

// TestRedisHealthWithoutTraffic: whether Redis answers is watched in the
// background, so an idle node's /readyz and gatehouse_dependency_up say
// it is down when it goes away and up when it is back — not as of the last
// request that needed it (an idle node reported an outage long over).
func TestRedisHealthWithoutTraffic(t *testing.T) {
	testRedisURL(t)
	relay := pgtest.NewRelay(t, "127.0.0.1:6379")
	h := newHarness(t, func(c *config.Config) { c.RedisURL = "redis://" + relay.Addr() + "/0"; c.RateLimits.Nodes = 3 })
	state := func() (ready string, up float64) {
		r := h.call("GET", "/.well-known/gatehouse/readyz")
		return r.raw, sum(h.scrape(t), "gatehouse_dependency_up", `dependency="redis"`)
	}
	until := func(desc string, ok func(ready string, up float64) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			ready, up := state()
			if ok(ready, up) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10 s (readyz %s, dependency_up %v)", desc, ready, up)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	until("Redis up", func(ready string, up float64) bool { return up == 1 && !strings.Contains(ready, "redis") })
	relay.Cut()
	until("Redis down, noticed without traffic", func(ready string, up float64) bool {
		return up == 0 && strings.Contains(ready, "rate limits, AI budgets and quotas counted per node, each node a 1/3 share")
	})
	relay.Restore()
	until("Redis back, noticed without traffic", func(ready string, up float64) bool { return up == 1 && !strings.Contains(ready, "redis") })
}
